package segment

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	"spool/index"
	"spool/linux"
)

// Opening an existing segment takes one of two roads.
//
// Trusted (the partition shut down cleanly, or the segment lies below the
// recovery point): the file was cut to its valid size when it was sealed.
// Open checks that cheaply: the offset index must cover its file exactly and
// its last entry must point at a batch with the offset it claims; the batches
// after that entry are validated (CRC included) up to the end of the file. A
// failed check falls back to the full scan, because an index is derived data
// and never trusted over the log.
//
// Recovering (after an unclean stop): the whole file is scanned batch by
// batch from position 0, each batch validated (length, magic, CRC-32C,
// counts, offsets contiguous, or ascending with gaps where Config.GapsBelow
// allows them: compaction leaves gaps), the indexes rebuilt as the scan goes, and the
// file cut after the last valid batch. Whatever stopped the scan is then
// classified:
//   - a clean end: the scan reached the end of the file, or zeros;
//   - a torn tail: unreadable bytes, but no valid batch anywhere after them
//     (a write cut short by the crash, garbage past the end): cut quietly;
//   - corruption: a valid batch follows the bad one. The log is still cut at
//     the bad batch (nothing after a gap can be served), but the report says
//     Corrupt with the file and both positions, and the engine logs it loudly
//     and counts it.

// lookaheadCRCBytesMax bounds the CRC work spent looking for a valid batch
// after the scan stops, so garbage full of fake headers cannot stall an open.
const lookaheadCRCBytesMax = 256 << 20

// zeroProbeBytes is the block size in which the lookahead recognises zeros
// and asks the filesystem to skip holes.
const zeroProbeBytes = 4096

// Recovery is what opening a segment found.
type Recovery struct {
	Path          string
	Scanned       bool  // the full scan ran (unclean stop, or a failed check)
	Batches       int   // valid batches scanned
	ValidBytes    int64 // bytes of whole valid batches
	FileBytes     int64 // file size before any cut
	StopPosition  int64 // where the scan stopped (== ValidBytes)
	StopReason    error // nil: the scan reached the end of the data
	Corrupt       bool  // a valid batch follows the stop: loud
	ValidAfter    int64 // position of that valid batch, when Corrupt
	IndexRebuilt  bool
	TrustedFailed error // why a trusted open fell back to the scan
}

// String formats the report for logs.
func (r *Recovery) String() string {
	switch {
	case r.Corrupt:
		return fmt.Sprintf("CORRUPTION in %s: bad batch at position %d (%v) followed by a valid batch at position %d; log cut to %d bytes, %d batches kept", r.Path, r.StopPosition, r.StopReason, r.ValidAfter, r.ValidBytes, r.Batches)
	case r.StopReason != nil:
		return fmt.Sprintf("%s: torn tail at position %d (%v) cut; %d batches, %d bytes kept", r.Path, r.StopPosition, r.StopReason, r.Batches, r.ValidBytes)
	default:
		return fmt.Sprintf("%s: %d batches, %d bytes", r.Path, r.Batches, r.ValidBytes)
	}
}

// Open opens the existing segment with base offset base in dir. With trusted
// it takes the cheap road and falls back to the scan when a check fails;
// without, it scans. The segment comes back sealed; the engine activates the
// last one. Opening never fails on bad contents, only on I/O errors.
func Open(dir string, base Offset, cfg Config, trusted bool) (*Segment, *Recovery, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, FileName(base, LogSuffix)), os.O_RDWR, 0)
	if err != nil {
		return nil, nil, err
	}
	s, err := open(dir, base, cfg, f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	info, err := f.Stat()
	if err != nil {
		s.closeFiles()
		return nil, nil, err
	}
	report := &Recovery{Path: f.Name(), FileBytes: info.Size()}
	if trusted {
		if err := s.loadTrusted(info.Size()); err == nil {
			s.sealed = true
			report.Batches = -1 // not counted on the cheap road
			report.ValidBytes = s.size.Load()
			report.StopPosition = report.ValidBytes
			return s, report, nil
		} else {
			report.TrustedFailed = err
		}
	}
	if err := s.recover(info.Size(), report); err != nil {
		s.closeFiles()
		return nil, nil, err
	}
	s.sealed = true
	return s, report, nil
}

// loadTrusted checks a cut file against its offset index, validates the
// batches after the last index entry, and publishes size and next offset.
func (s *Segment) loadTrusted(fileBytes int64) error {
	if fileBytes > int64(len(s.mapping)) {
		return fmt.Errorf("file larger than its mapping")
	}
	if !s.offsets.Consistent() || !s.times.Consistent() {
		return fmt.Errorf("index does not cover its file exactly")
	}
	position := int64(0)
	if n := s.offsets.Entries(); n > 0 {
		relative, indexed := s.offsets.Entry(n - 1)
		h, err := ParseHeader(s.mapping[min(int64(indexed), fileBytes):fileBytes])
		if err != nil || h.BaseOffset != s.base+Offset(relative) {
			return fmt.Errorf("last offset index entry (%d, %d) does not point at its batch", relative, indexed)
		}
		position = int64(indexed)
	}
	next := s.base
	maxTimestamp, holder := int64(timestampNone), Offset(-1)
	if ts, _, ok := s.times.Last(); ok {
		maxTimestamp = ts
	}
	sinceIndex, lastBatchBytes := int64(0), int64(0)
	for position < fileBytes {
		h, err := ParseHeader(s.mapping[position:fileBytes])
		if err != nil {
			return err
		}
		if position+h.TotalBytes() > fileBytes {
			return ErrBatchLength
		}
		if err := checkBody(&h, s.mapping[position:position+h.TotalBytes()], true); err != nil {
			return fmt.Errorf("batch at %d: %w", position, err)
		}
		if h.MaxTimestamp > maxTimestamp {
			maxTimestamp, holder = h.MaxTimestamp, h.BaseOffset
		}
		next = h.NextOffset()
		sinceIndex += h.TotalBytes()
		lastBatchBytes = h.TotalBytes()
		position += h.TotalBytes()
	}
	// Append adds an entry once more than index.interval.bytes follow the
	// last one, so only the final batch may push the tail past the
	// interval. More means entries are missing (a lost or emptied index
	// file): rebuild rather than scan from far back on every read.
	if sinceIndex-lastBatchBytes > s.cfg.IndexIntervalBytes {
		return fmt.Errorf("offset index is missing entries: %d bytes follow its last entry", sinceIndex)
	}
	if s.offsets.Entries() > 0 && s.times.Entries() == 0 && maxTimestamp > 0 {
		// Every offset entry comes with a time entry once a timestamp
		// exists; an empty time index beside a non-empty offset index was
		// most likely lost (rebuilding a legitimately empty one is cheap).
		return fmt.Errorf("time index is empty beside %d offset index entries", s.offsets.Entries())
	}
	if ts, relative, ok := s.times.Last(); ok && s.base+Offset(relative) >= next && next != s.base {
		return fmt.Errorf("time index entry (%d, %d) past the log end %d", ts, relative, next)
	}
	s.maxTime.store(maxTimestamp, holder)
	s.bytesSinceIndex = sinceIndex
	s.nextOffset.Store(int64(next))
	s.size.Store(fileBytes)
	s.checkPublished("trusted open")
	s.syncedSize = fileBytes
	return nil
}

// recover scans the file from position 0, rebuilding the indexes, and cuts
// it after the last valid batch, in this order:
//  1. grow and reset both indexes (derived data: rebuilt, never trusted);
//  2. scan and validate batch by batch, adding index entries as Append does;
//  3. classify what stopped the scan (clean end, torn tail, corruption);
//  4. publish size and next offset;
//  5. cut the file to the valid bytes and fdatasync it, so stale bytes past
//     the cut can never be read as batches after later appends.
func (s *Segment) recover(fileBytes int64, report *Recovery) error {
	report.Scanned = true
	report.IndexRebuilt = true
	limit := min(fileBytes, int64(len(s.mapping)))
	if err := s.offsets.Grow(s.indexCapacity(index.OffsetEntryBytes)); err != nil {
		return err
	}
	if err := s.times.Grow(s.indexCapacity(index.TimeEntryBytes)); err != nil {
		return err
	}
	s.offsets.Reset()
	s.times.Reset()
	linux.Madvise(s.mapping[:limit], linux.AdviceSequential)
	defer linux.Madvise(s.mapping[:limit], linux.AdviceNormal)

	s.bytesSinceIndex = 0
	s.maxTime.store(timestampNone, s.base)
	position := int64(0)
	next := s.base
	var stop error
	for position < limit {
		h, err := ParseHeader(s.mapping[position:limit])
		if err == nil && position+h.TotalBytes() > limit {
			err = ErrBatchLength
		}
		if err == nil {
			err = checkBody(&h, s.mapping[position:position+h.TotalBytes()], true)
		}
		gap := report.Batches > 0 && h.BaseOffset > next
		if err == nil && ((report.Batches == 0 && h.BaseOffset < s.base) || (report.Batches > 0 && h.BaseOffset < next) || (gap && h.BaseOffset >= s.cfg.GapsBelow)) {
			err = ErrOffsetOutOfOrder
		}
		if err == nil && h.LastOffset()-s.base > Offset(^uint32(0)) {
			err = ErrOffsetOutOfOrder
		}
		if err != nil {
			if !allZero(s.mapping[position:min(position+BatchHeaderBytes, limit)]) {
				stop = err
			}
			break
		}
		if err := s.indexBatch(&h, position); err != nil && !errors.Is(err, index.ErrFull) {
			return err
		}
		next = h.NextOffset()
		position += h.TotalBytes()
		report.Batches++
	}
	report.ValidBytes = position
	report.StopPosition = position
	report.StopReason = stop
	if position < limit {
		if after, found := s.findValidBatch(position, limit); found {
			report.Corrupt = true
			report.ValidAfter = after
			if report.StopReason == nil {
				report.StopReason = errors.New("zeroed bytes")
			}
		}
	}
	s.nextOffset.Store(int64(next))
	s.size.Store(position)
	s.checkPublished("recovery scan")
	s.syncedSize = position
	if fileBytes != position {
		if err := s.cutFile(position); err != nil {
			return err
		}
	}
	return nil
}

// findValidBatch looks for any valid batch starting after position: first
// where the bad batch's own length says the next one starts, then at every
// byte, skipping zero blocks and filesystem holes. Its CRC work is bounded by
// lookaheadCRCBytesMax.
func (s *Segment) findValidBatch(position, limit int64) (int64, bool) {
	budget := int64(lookaheadCRCBytesMax)
	if h, err := ParseHeader(s.mapping[position:limit]); err == nil {
		if next := position + h.TotalBytes(); next > position && next < limit && s.validAt(next, limit, &budget) {
			return next, true
		}
	}
	for q := position + 1; q+BatchHeaderBytes <= limit && budget > 0; q++ {
		if q%zeroProbeBytes == 0 && q+zeroProbeBytes <= limit && allZero(s.mapping[q:q+zeroProbeBytes]) {
			// Skip zeros a block at a time, and unwritten preallocated
			// ranges without faulting them in.
			skipTo := q + zeroProbeBytes
			if data, err := linux.SeekData(s.log, skipTo); err == nil && data > skipTo {
				skipTo = data &^ (zeroProbeBytes - 1)
			}
			q = skipTo - 1
			continue
		}
		if s.mapping[q+batchOffsetMagic] == batchMagic && s.validAt(q, limit, &budget) {
			return q, true
		}
	}
	return 0, false
}

func (s *Segment) validAt(q, limit int64, budget *int64) bool {
	h, err := ParseHeader(s.mapping[q:limit])
	if err != nil || q+h.TotalBytes() > limit || h.RecordCount < 1 {
		return false
	}
	*budget -= h.TotalBytes()
	b := s.mapping[q : q+h.TotalBytes()]
	return crc32.Checksum(b[batchOffsetAttributes:], castagnoli) == h.CRC && checkBody(&h, b, true) == nil
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	return bytes.Count(b, []byte{0}) == len(b)
}

// TruncateTo removes every batch whose last offset is ≥ offset, so the next
// offset becomes the base offset of the first batch removed (a batch is
// never split), in this order:
//  1. publish the smaller size and next offset, so new readers stop there;
//  2. drop index entries at or past the new next offset;
//  3. overwrite the removed bytes with zeros and fdatasync, so they can never
//     be recovered as batches. The file keeps its size: cutting it could
//     fault a reader still reading the old tail through the mapping.
//
// Writer only. It returns the new next offset.
func (s *Segment) TruncateTo(offset Offset) (Offset, error) {
	oldSize := s.size.Load()
	position, err := s.seek(offset, oldSize)
	if err != nil {
		return s.NextOffset(), err
	}
	if position >= oldSize {
		return s.NextOffset(), nil
	}
	newNext := s.base
	if position < oldSize {
		h, _, err := s.HeaderAt(position)
		if err != nil {
			return s.NextOffset(), err
		}
		newNext = h.BaseOffset
	}
	s.size.Store(position)
	s.nextOffset.Store(int64(newNext))
	s.checkPublished("truncation")
	if s.coldEnd.Load() > position {
		// Batches appended after the cut are new, not dropped ones.
		s.coldEnd.Store(position)
	}
	s.offsets.TruncateTo(index.RelOffset(newNext - s.base))
	s.times.TruncateTo(index.RelOffset(newNext - s.base))
	if err := s.zero(position, oldSize); err != nil {
		return newNext, err
	}
	s.syncedSize = min(s.syncedSize, position)
	if s.sealed {
		if err := s.offsets.Seal(); err != nil {
			return newNext, err
		}
		if err := s.times.Seal(); err != nil {
			return newNext, err
		}
	}
	s.recomputeAfterTruncate(position)
	return newNext, nil
}

func (s *Segment) zero(from, to int64) error {
	if err := s.cfg.inject(OpWrite, s.log.Name()); err != nil {
		return err
	}
	for position := from; position < to; {
		n := min(to-position, int64(len(zeroBlock)))
		if _, err := s.log.WriteAt(zeroBlock[:n], position); err != nil {
			return err
		}
		position += n
	}
	if err := s.cfg.inject(OpSync, s.log.Name()); err != nil {
		return err
	}
	return linux.Fdatasync(s.log)
}

var zeroBlock [64 << 10]byte

// recomputeAfterTruncate rederives the writer's max timestamp and the bytes
// since the last index entry from the batches that remain.
func (s *Segment) recomputeAfterTruncate(size int64) {
	maxTimestamp, holder := int64(timestampNone), s.base
	lastIndexed := int64(0)
	if n := s.offsets.Entries(); n > 0 {
		_, indexed := s.offsets.Entry(n - 1)
		lastIndexed = int64(indexed)
	}
	s.bytesSinceIndex = 0
	for position := int64(0); position < size; {
		h, _, err := s.HeaderAt(position)
		if err != nil {
			break
		}
		if h.MaxTimestamp > maxTimestamp {
			maxTimestamp, holder = h.MaxTimestamp, h.BaseOffset
		}
		if position >= lastIndexed {
			s.bytesSinceIndex += h.TotalBytes()
		}
		position += h.TotalBytes()
	}
	s.maxTime.store(maxTimestamp, holder)
}
