package engine

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"spool/segment"
)

// The producer-state snapshot, `<20-digit offset>.snapshot` in the
// partition directory, as Kafka names it: the idempotent producers' state
// after every batch below offset (the log end offset when it was taken).
// All integers are big-endian.
//
//	 0       4         6        10               18        22
//	+-------+---------+--------+----------------+---------+-------------------+
//	| magic | version | crc32c | covered offset | count N | N producer entries |
//	+-------+---------+--------+----------------+---------+-------------------+
//
//	field           bytes  encoding  meaning
//	magic           4      "SPPS"    spool producer snapshot
//	version         2      uint16    snapshotVersion (1)
//	crc32c          4      uint32    CRC-32C (Castagnoli) of every byte after it
//	covered offset  8      int64     the state includes every batch below it
//	count N         4      uint32    producer entries, 0..producersPerLogMax
//
//	a producer entry, 27 + 24·B bytes; entries in ascending producer id:
//
//	field            bytes  encoding  meaning
//	producer id      8      int64     ≥ 0, strictly ascending across entries
//	epoch            2      int16     the producer's current epoch
//	last used        8      uint64    > 0: the LRU clock of its last batch
//	                                  (ordering only, never a time)
//	last write       8      int64     wall-clock milliseconds when its last
//	                                  batch was appended (or, for batches
//	                                  replayed at open, the segment file's
//	                                  modification time): expiry is judged
//	                                  on it when the snapshot is loaded
//	batches B        1      uint8     1..producerBatchesKept
//	B batches, oldest first, 24 bytes each:
//	  first sequence 4      int32     ≥ 0
//	  last sequence  4      int32     ≥ 0
//	  base offset    8      int64     0 ≤ base ≤ last
//	  last offset    8      int64     last < covered offset
//
// A file is trusted only if its length is exactly what the header and the
// entries declare, the CRC matches, and every field is in its range; a file
// that fails any check is corrupt (snapshots are written with
// segment.WriteFileAtomic, so a crash never leaves a torn one under its
// final name) and is never used. The format never changes without a new
// version.
const (
	snapshotSuffix             = ".snapshot"
	snapshotMagic              = "SPPS"
	snapshotVersion            = 1
	snapshotHeaderBytes        = 22
	snapshotCRCStart           = 10 // the CRC covers [snapshotCRCStart, end)
	snapshotEntryFixedBytes    = 27
	snapshotBatchBytes         = 24
	snapshotEntryMinBytes      = snapshotEntryFixedBytes + snapshotBatchBytes
	snapshotFileNameDigitCount = 20
	// snapshotsKept is how many snapshots a partition keeps: the newest,
	// and one older to fall back on (with a longer replay) should the
	// newest turn out corrupt.
	snapshotsKept = 2
	// snapshotBytesMax bounds what is read from disk: the largest file
	// producersPerLogMax producers with full windows can make.
	snapshotBytesMax = snapshotHeaderBytes + producersPerLogMax*(snapshotEntryFixedBytes+producerBatchesKept*snapshotBatchBytes)
)

var (
	snapshotCRCTable = crc32.MakeTable(crc32.Castagnoli)
	errSnapshot      = errors.New("engine: corrupt producer snapshot")
)

// encodeProducerSnapshot appends the snapshot of p covering every batch
// below covered to dst. It sorts and allocates: it runs at a roll or a
// close, never per batch.
// snapshotEntry is one producer as encodeProducerSnapshot orders them.
type snapshotEntry struct {
	id int64
	e  *producerEntry
}

func encodeProducerSnapshot(dst []byte, p *producerState, covered Offset) []byte {
	// The entries with their ids, sorted by id: one pass over the map and
	// no lookup per id (with 100 000 producers the lookups' cache misses
	// were a fifth of the encoding).
	entries := make([]snapshotEntry, 0, len(p.byID))
	size := snapshotHeaderBytes
	for id, e := range p.byID {
		entries = append(entries, snapshotEntry{id: id, e: e})
		size += snapshotEntryFixedBytes + e.count*snapshotBatchBytes
	}
	slices.SortFunc(entries, func(a, b snapshotEntry) int { return cmp.Compare(a.id, b.id) })
	dst = slices.Grow(dst, size)
	start := len(dst)
	dst = append(dst, snapshotMagic...)
	dst = binary.BigEndian.AppendUint16(dst, snapshotVersion)
	dst = binary.BigEndian.AppendUint32(dst, 0) // the CRC, filled in below
	dst = binary.BigEndian.AppendUint64(dst, uint64(covered))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(entries)))
	for _, entry := range entries {
		id, e := entry.id, entry.e
		dst = binary.BigEndian.AppendUint64(dst, uint64(id))
		dst = binary.BigEndian.AppendUint16(dst, uint16(e.epoch))
		dst = binary.BigEndian.AppendUint64(dst, e.lastUsed)
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.lastWriteMillis))
		dst = append(dst, byte(e.count))
		// Oldest first: the slot after the newest, wrapping, is the
		// oldest once the window is full; before that it is slot 0.
		oldest := 0
		if e.count == producerBatchesKept {
			oldest = (e.newest + 1) % producerBatchesKept
		}
		for i := 0; i < e.count; i++ {
			b := &e.batches[(oldest+i)%producerBatchesKept]
			dst = binary.BigEndian.AppendUint32(dst, uint32(b.firstSequence))
			dst = binary.BigEndian.AppendUint32(dst, uint32(b.lastSequence))
			dst = binary.BigEndian.AppendUint64(dst, uint64(b.baseOffset))
			dst = binary.BigEndian.AppendUint64(dst, uint64(b.lastOffset))
		}
	}
	crc := crc32.Checksum(dst[start+snapshotCRCStart:], snapshotCRCTable)
	binary.BigEndian.PutUint32(dst[start+6:], crc)
	return dst
}

// decodeProducerSnapshot checks and decodes a snapshot. It returns state
// only when every check of the format passes; it never allocates more than
// the input's length justifies.
func decodeProducerSnapshot(b []byte) (*producerState, Offset, error) {
	if len(b) < snapshotHeaderBytes {
		return nil, 0, fmt.Errorf("%w: %d bytes, shorter than the header", errSnapshot, len(b))
	}
	if len(b) > snapshotBytesMax {
		return nil, 0, fmt.Errorf("%w: %d bytes, more than %d producers can fill", errSnapshot, len(b), producersPerLogMax)
	}
	if string(b[:4]) != snapshotMagic {
		return nil, 0, fmt.Errorf("%w: bad magic %q", errSnapshot, b[:4])
	}
	if version := binary.BigEndian.Uint16(b[4:]); version != snapshotVersion {
		return nil, 0, fmt.Errorf("%w: version %d, want %d", errSnapshot, version, snapshotVersion)
	}
	if stored, computed := binary.BigEndian.Uint32(b[6:]), crc32.Checksum(b[snapshotCRCStart:], snapshotCRCTable); stored != computed {
		return nil, 0, fmt.Errorf("%w: CRC %08x, computed %08x", errSnapshot, stored, computed)
	}
	covered := Offset(binary.BigEndian.Uint64(b[10:]))
	count := binary.BigEndian.Uint32(b[18:])
	if covered < 0 {
		return nil, 0, fmt.Errorf("%w: covered offset %d", errSnapshot, covered)
	}
	rest := b[snapshotHeaderBytes:]
	if count > producersPerLogMax || uint64(count)*snapshotEntryMinBytes > uint64(len(rest)) {
		return nil, 0, fmt.Errorf("%w: %d producers in %d bytes", errSnapshot, count, len(rest))
	}
	p := &producerState{byID: make(map[int64]*producerEntry, count)}
	entries := make([]producerEntry, count) // one allocation for all entries
	previousID := int64(-1)
	for i := range entries {
		if len(rest) < snapshotEntryFixedBytes {
			return nil, 0, fmt.Errorf("%w: entry %d cut short", errSnapshot, i)
		}
		id := int64(binary.BigEndian.Uint64(rest))
		e := &entries[i]
		e.epoch = int16(binary.BigEndian.Uint16(rest[8:]))
		e.lastUsed = binary.BigEndian.Uint64(rest[10:])
		e.lastWriteMillis = int64(binary.BigEndian.Uint64(rest[18:]))
		e.count = int(rest[26])
		rest = rest[snapshotEntryFixedBytes:]
		switch {
		case id <= previousID:
			return nil, 0, fmt.Errorf("%w: entry %d: producer id %d after %d", errSnapshot, i, id, previousID)
		case e.lastUsed == 0:
			return nil, 0, fmt.Errorf("%w: producer %d: last used 0", errSnapshot, id)
		case e.count < 1 || e.count > producerBatchesKept:
			return nil, 0, fmt.Errorf("%w: producer %d: %d batches", errSnapshot, id, e.count)
		case len(rest) < e.count*snapshotBatchBytes:
			return nil, 0, fmt.Errorf("%w: producer %d: batches cut short", errSnapshot, id)
		}
		previousID = id
		for j := 0; j < e.count; j++ {
			batch := producerBatch{
				firstSequence: int32(binary.BigEndian.Uint32(rest)),
				lastSequence:  int32(binary.BigEndian.Uint32(rest[4:])),
				baseOffset:    Offset(binary.BigEndian.Uint64(rest[8:])),
				lastOffset:    Offset(binary.BigEndian.Uint64(rest[16:])),
			}
			rest = rest[snapshotBatchBytes:]
			if batch.firstSequence < 0 || batch.lastSequence < 0 || batch.baseOffset < 0 || batch.baseOffset > batch.lastOffset || batch.lastOffset >= covered {
				return nil, 0, fmt.Errorf("%w: producer %d: batch %+v out of range", errSnapshot, id, batch)
			}
			e.batches[j] = batch
		}
		e.newest = e.count - 1
		p.byID[id] = e
		p.clock = max(p.clock, e.lastUsed)
	}
	if len(rest) != 0 {
		return nil, 0, fmt.Errorf("%w: %d bytes after the last entry", errSnapshot, len(rest))
	}
	return p, covered, nil
}

func snapshotFileName(offset Offset) string {
	return segment.FileName(offset, snapshotSuffix)
}

// parseSnapshotFileName returns the offset of a snapshot file name.
func parseSnapshotFileName(name string) (Offset, bool) {
	digits, found := strings.CutSuffix(name, snapshotSuffix)
	if !found || len(digits) != snapshotFileNameDigitCount || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, false
	}
	value, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, false
	}
	return Offset(value), true
}

// listProducerSnapshots returns the offsets of the snapshots in dir,
// ascending.
func listProducerSnapshots(dir string) ([]Offset, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var offsets []Offset
	for _, e := range entries {
		if offset, ok := parseSnapshotFileName(e.Name()); ok {
			offsets = append(offsets, offset)
		}
	}
	slices.Sort(offsets)
	return offsets, nil
}

// writeProducerSnapshot writes the snapshot of the current state, which
// covers every batch below the log end offset, then prunes old ones, in
// this order:
//  1. settle the previous background write, if any (at most one is in
//     flight, so two never race for the temporary file);
//  2. encode the state, on the writer: the state belongs to the shard;
//  3. write it with segment.WriteFileAtomic (temporary file, fsync, rename,
//     directory fsync), which a crash leaves as no file or a whole one: on
//     a goroutine of its own when background (a roll, so the shard goes on
//     appending while the disk flushes), else at once;
//  4. when the write is settled, remember it, and delete snapshots beyond
//     the newest snapshotsKept (no directory fsync: an old snapshot that
//     comes back after a crash is still true, only older).
//
// The snapshot is derived data: a failure to write it is logged and the
// log carries on (the next open replays further, or walks), rather than
// failing the partition. The batches it describes were synced before
// (by the seal of a roll or a close). Writer only; never on the append
// path except at a roll.
func (l *Log) writeProducerSnapshot(background bool) {
	l.checkWriter("Log.writeProducerSnapshot")
	// 1.
	l.settleProducerSnapshot()
	end := l.LogEndOffset()
	if n := len(l.snapshots); n > 0 && l.snapshots[n-1] == end {
		// Nothing was appended since: the state is the one on disk.
		return
	}
	// 2.
	buf := snapshotBuffers.Get().(*[]byte)
	data := encodeProducerSnapshot((*buf)[:0], l.producers, end)
	// 3.
	path := filepath.Join(l.dir, snapshotFileName(end))
	w := &pendingSnapshot{offset: end, done: make(chan error, 1)}
	l.snapshotWrite = w
	write := func() {
		err := segment.WriteFileAtomic(path, data)
		*buf = data
		snapshotBuffers.Put(buf)
		w.done <- err
	}
	if background {
		go write()
		return
	}
	write()
	// 4.
	l.settleProducerSnapshot()
}

// snapshotBuffers keeps encoding buffers between snapshots: a partition
// with many producers encodes megabytes at each roll, and fresh memory for
// each (zeroed, faulted in) was a third of the encoding's time.
var snapshotBuffers = sync.Pool{New: func() any { return new([]byte) }}

// pendingSnapshot is a producer snapshot whose file is being written.
type pendingSnapshot struct {
	offset Offset
	done   chan error
}

// settleProducerSnapshot waits for the snapshot write in flight, if any,
// and records its outcome: step 4 of writeProducerSnapshot. Everything
// that lists, deletes or loads snapshots calls it first, so a write begun
// before a truncation cannot land after it. Writer only.
func (l *Log) settleProducerSnapshot() {
	l.checkWriter("Log.settleProducerSnapshot")
	w := l.snapshotWrite
	if w == nil {
		return
	}
	l.snapshotWrite = nil
	if err := <-w.done; err != nil {
		l.logger.Warn("could not write the producer-state snapshot; the next open replays from an older one", "offset", w.offset, "error", err)
		return
	}
	l.snapshots = append(l.snapshots, w.offset)
	l.pruneProducerSnapshots()
}

// pruneProducerSnapshots deletes snapshots beyond the newest snapshotsKept,
// and older ones that lie below the log start offset. Writer only.
func (l *Log) pruneProducerSnapshots() {
	l.checkWriter("Log.pruneProducerSnapshots")
	start := l.LogStartOffset()
	kept := l.snapshots[:0]
	for i, offset := range l.snapshots {
		newest := i == len(l.snapshots)-1
		if len(l.snapshots)-i > snapshotsKept || (!newest && offset < start) {
			l.removeProducerSnapshot(offset)
			continue
		}
		kept = append(kept, offset)
	}
	l.snapshots = kept
}

func (l *Log) removeProducerSnapshot(offset Offset) {
	if err := os.Remove(filepath.Join(l.dir, snapshotFileName(offset))); err != nil && !errors.Is(err, os.ErrNotExist) {
		l.logger.Warn("could not remove a producer-state snapshot", "offset", offset, "error", err)
	}
}

// removeProducerSnapshotsAbove deletes every snapshot covering batches at or
// after offset, durably (directory fsync), before the log is cut there: a
// snapshot that outlived a truncation would describe batches the log no
// longer holds. Writer only.
func (l *Log) removeProducerSnapshotsAbove(offset Offset) error {
	l.checkWriter("Log.removeProducerSnapshotsAbove")
	l.settleProducerSnapshot()
	removed := false
	for len(l.snapshots) > 0 && l.snapshots[len(l.snapshots)-1] > offset {
		n := len(l.snapshots) - 1
		if err := os.Remove(filepath.Join(l.dir, snapshotFileName(l.snapshots[n]))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		l.snapshots = l.snapshots[:n]
		removed = true
	}
	if removed {
		return segment.SyncDir(l.dir)
	}
	return nil
}
