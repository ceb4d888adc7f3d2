package segment

import (
	"encoding/binary"
	"fmt"
	"sync"

	"spool/index"
)

// Read planning: turn (offset, max bytes) into one extent of whole batches.
// The offset index lands at or before the first batch; a second lookup, by
// position, lands near the end of the byte budget (or of the readable
// range); short forward scans of batch headers from those entries finish
// the job. A plan therefore reads a few headers near each end of the extent
// and never walks the batches in between, however many there are. Only the
// 12-byte prefix and lastOffsetDelta of a header are read.

// batchPrefixBytes is what the forward scan reads of each batch: baseOffset,
// batchLength, leaderEpoch, magic, crc, attributes and lastOffsetDelta.
const batchPrefixBytes = batchOffsetLastOffsetDelta + 4

// Plan returns the extent of whole batches that starts with the batch holding
// from, holds at most maxBytes (but at least one batch when atLeastOne, as
// Kafka's KIP-74 requires for the first partition of a response), and stops
// before any batch whose base offset is ≥ limit (the high watermark or last
// stable offset the caller may serve). next is the offset after the extent's
// last batch. An empty extent means nothing below limit at or after from.
// Any goroutine, while the segment is acquired.
func (s *Segment) Plan(from, limit Offset, maxBytes int64, atLeastOne bool) (extent Extent, next Offset, err error) {
	size := s.size.Load()
	empty := Extent{File: s.log, Position: size}
	if from >= limit {
		return empty, from, nil
	}
	start, err := s.seek(from, size)
	if err != nil || start >= size {
		return empty, from, err
	}
	// readable ends where batches reach limit; batches below size all end
	// before NextOffset (loaded after size), so only a limit below it needs
	// a search.
	readable := size
	if limit < s.NextOffset() {
		if readable, err = s.seekBase(limit, start, size); err != nil {
			return empty, from, err
		}
		if readable <= start {
			return empty, from, nil
		}
	}
	end := readable
	if budget := start + max(maxBytes, 0); budget < readable {
		if end, err = s.lastBoundary(start, budget, readable); err != nil {
			return empty, from, err
		}
		if end == start {
			if !atLeastOne {
				return empty, from, nil
			}
			_, total, _, err := s.batchAt(start, readable)
			if err != nil {
				return empty, from, err
			}
			end = start + total
		}
	}
	if next, err = s.offsetAfter(start, end); err != nil {
		return empty, from, err
	}
	return Extent{File: s.log, Position: start, Length: end - start, Cold: end <= s.coldEnd.Load()}, next, nil
}

// seekBase returns the position of the first batch at or after from whose
// base offset is ≥ limit, or size.
func (s *Segment) seekBase(limit Offset, from, size int64) (int64, error) {
	position := from
	if limit > s.base {
		relative := min(int64(limit-s.base), int64(^uint32(0)))
		if _, indexed := s.offsets.Lookup(index.RelOffset(relative)); int64(indexed) > position {
			position = int64(indexed)
		}
	}
	for position < size {
		baseOffset, total, _, err := s.batchAt(position, size)
		if err != nil {
			return 0, err
		}
		if baseOffset >= limit {
			return position, nil
		}
		position += total
	}
	return size, nil
}

// lastBoundary returns the end of the last whole batch in [start, budget],
// or start when the first batch alone exceeds budget. Batch boundaries
// below readable are scanned from the offset index's last entry at or
// below budget.
func (s *Segment) lastBoundary(start, budget, readable int64) (int64, error) {
	position := start
	if _, indexed := s.offsets.LookupPosition(index.Position(min(budget, int64(^uint32(0))))); int64(indexed) > position {
		position = int64(indexed)
	}
	for position < readable {
		_, total, _, err := s.batchAt(position, readable)
		if err != nil {
			return 0, err
		}
		if position+total > budget {
			break
		}
		position += total
	}
	return position, nil
}

// offsetAfter returns the offset after the last batch of [start, end), a
// non-empty run of whole batches, scanning from the index entry nearest end.
func (s *Segment) offsetAfter(start, end int64) (Offset, error) {
	position := start
	if _, indexed := s.offsets.LookupPosition(index.Position(min(end-1, int64(^uint32(0))))); int64(indexed) > position {
		position = int64(indexed)
	}
	next := Offset(-1)
	for position < end {
		_, total, lastOffset, err := s.batchAt(position, end)
		if err != nil {
			return 0, err
		}
		next = lastOffset + 1
		position += total
	}
	return next, nil
}

// seek returns the position of the batch holding from (or of the first batch
// after from), scanning forward from the offset index's entry.
func (s *Segment) seek(from Offset, size int64) (int64, error) {
	position := int64(0)
	if from > s.base {
		relative := int64(from - s.base)
		if relative > int64(^uint32(0)) {
			relative = int64(^uint32(0))
		}
		_, indexed := s.offsets.Lookup(index.RelOffset(relative))
		position = int64(indexed)
	}
	for position < size {
		_, total, lastOffset, err := s.batchAt(position, size)
		if err != nil {
			return 0, err
		}
		if lastOffset >= from {
			return position, nil
		}
		position += total
	}
	return size, nil
}

// batchAt reads the prefix of the batch at position, below size.
func (s *Segment) batchAt(position, size int64) (baseOffset Offset, total int64, lastOffset Offset, err error) {
	if position < 0 || position+batchPrefixBytes > size {
		return 0, 0, 0, fmt.Errorf("segment %s: position %d: %w", s.log.Name(), position, ErrBatchShort)
	}
	b := s.mapping[position : position+batchPrefixBytes]
	baseOffset = Offset(binary.BigEndian.Uint64(b[batchOffsetBaseOffset:]))
	total = int64(int32(binary.BigEndian.Uint32(b[batchOffsetLength:]))) + batchLengthPrefixBytes
	lastOffset = baseOffset + Offset(int32(binary.BigEndian.Uint32(b[batchOffsetLastOffsetDelta:])))
	if total < BatchHeaderBytes || position+total > size {
		return 0, 0, 0, fmt.Errorf("segment %s: position %d: %w", s.log.Name(), position, ErrBatchLength)
	}
	return baseOffset, total, lastOffset, nil
}

// HeaderAt parses the header of the batch at position and returns the batch
// bytes. Any goroutine, while acquired; the bytes are valid until Release.
func (s *Segment) HeaderAt(position int64) (Header, []byte, error) {
	size := s.size.Load()
	if position < 0 || position >= size {
		return Header{}, nil, ErrBatchShort
	}
	h, err := ParseHeader(s.mapping[position:size])
	if err != nil {
		return h, nil, err
	}
	if position+h.TotalBytes() > size {
		return h, nil, ErrBatchLength
	}
	return h, s.mapping[position : position+h.TotalBytes() : position+h.TotalBytes()], nil
}

// MaxTimestamp is the largest batch maxTimestamp in the segment (-1 when it
// has no timestamps) and the offset of the first record carrying it, as
// Kafka answers since KAFKA-16310 (RecordBatch.offsetOfMaxTimestamp): the
// first batch whose maxTimestamp is the max, then its first record with
// that timestamp, a compressed batch's records decompressed to find it
// (within a bound, else its last offset: see timeLookupRecordsBytesMax).
// Any goroutine, while acquired.
func (s *Segment) MaxTimestamp() (int64, Offset) {
	ts, batchBase := s.maxTime.load()
	if ts == timestampNone {
		return ts, batchBase
	}
	size := s.size.Load()
	var position int64
	if batchBase >= s.base {
		var err error
		if position, err = s.seek(batchBase, size); err != nil {
			return ts, s.base
		}
	} else {
		// The holder is unknown (a segment opened without a scan): find
		// the first batch that carries the max.
		for position < size {
			h, _, err := s.HeaderAt(position)
			if err != nil || h.MaxTimestamp == ts {
				break
			}
			position += h.TotalBytes()
		}
	}
	h, b, err := s.HeaderAt(position)
	if err != nil {
		return ts, s.base
	}
	return ts, offsetOfTimestamp(&h, b, ts, timeLookupRecordsBytesMax)
}

// LargestTimestamp is the largest batch maxTimestamp in the segment, or -1.
// Any goroutine.
func (s *Segment) LargestTimestamp() int64 {
	ts, _ := s.maxTime.load()
	return ts
}

// FindTimestamp returns the first offset ≥ from, in offset order, whose
// record timestamp is ≥ target, and that record's timestamp, as Kafka's
// LogSegment.findOffsetByTimestamp(target, startingOffset) does: batches are
// searched from the batch holding from, or from the time index's entry below
// target when that lies later, for one whose maxTimestamp reaches target,
// then its records are walked, a compressed batch's decompressed first
// (within a bound, else max(its first offset, from): see
// timeLookupRecordsBytesMax). Records below from (below the log start
// offset) are skipped while choosing, not clamped afterwards: a batch whose
// only records reaching target lie below from does not answer, the search
// goes on to the next. ok is false when no record at or after from in the
// segment reaches target. Any goroutine, while acquired.
func (s *Segment) FindTimestamp(target int64, from Offset) (Offset, int64, bool, error) {
	size := s.size.Load()
	start := from
	if _, relative, ok := s.times.Lookup(target); ok {
		start = max(start, s.base+Offset(relative))
	}
	position := int64(0)
	if start > s.base {
		var err error
		if position, err = s.seek(start, size); err != nil {
			return 0, 0, false, err
		}
	}
	for position < size {
		h, b, err := s.HeaderAt(position)
		if err != nil {
			return 0, 0, false, err
		}
		if h.MaxTimestamp >= target && h.LastOffset() >= from {
			if found, foundTimestamp, ok := firstAtOrAfter(&h, b, target, from, timeLookupRecordsBytesMax); ok {
				return found, foundTimestamp, true, nil
			}
		}
		position += h.TotalBytes()
	}
	return 0, 0, false, nil
}

// timeLookupRecordsBytesMax bounds the records FindTimestamp and
// MaxTimestamp decompress from one batch. Kafka walks the records of the
// batch a lookup lands on, decompressing a compressed one, and so does
// spool, with this bound: Decompress stops at it (and allocates only as
// output actually decodes, never from a declared length), into a pooled
// buffer. A batch that decompresses past it, does not decompress, or whose
// records do not parse gets an answer from its header alone, not an error:
// its first offset for a by-time lookup (at or before the exact record, so
// a consumer replaying from there misses nothing; it only reads that
// batch's earlier records too) and its last offset for the max timestamp
// (an offset inside the batch that holds it).
//
// Why 64 MiB: the produce path caps a batch at max.message.bytes (1 MiB by
// default) compressed, so this covers such a batch at a 64:1 ratio, beyond
// what real record data reaches; a topic whose batches decompress past it
// only gets the fallback. It is lower than the cleaner's 256 MiB because
// the cleaner must see every record of a batch while a lookup can fall
// back, and because lookups run on request goroutines, any number at once,
// each holding one such buffer while it walks.
const timeLookupRecordsBytesMax = 64 << 20

// timeLookupScratchKeepBytes is the largest buffer a lookup returns to
// timeLookupScratch: a rare huge batch's buffer is left to the garbage
// collector rather than kept.
const timeLookupScratchKeepBytes = 4 << 20

// timeLookupScratch holds decompression buffers (*[]byte) for lookups on
// request goroutines; sync.Pool makes sharing them safe.
var timeLookupScratch = sync.Pool{New: func() any { return new([]byte) }}

// firstAtOrAfter returns the offset and timestamp of the first record, in
// offset order, of the whole batch b (header h, maxTimestamp ≥ target,
// lastOffset ≥ from) whose offset is ≥ from and whose timestamp is ≥
// target, as Kafka's FileRecords.searchForTimestamp chooses. A
// LogAppendTime batch's records all carry its maxTimestamp, so
// max(its first offset, from) answers without a walk. ok is false when the
// walk read every record and the only ones reaching target lie below from:
// the batch does not answer, and the search goes on to the next batch, as
// in Kafka. Otherwise, when no record is found (the batch's records do not
// decompress within maxBytes, or a record before the answer does not parse
// or lies outside the batch's offsets, or its maxTimestamp lies) it answers
// max(its first offset, from) and its maxTimestamp: at or before the exact
// record, wherever that is.
func firstAtOrAfter(h *Header, b []byte, target int64, from Offset, maxBytes int64) (Offset, int64, bool) {
	first := max(h.BaseOffset, from)
	if h.LogAppendTime() {
		return first, h.MaxTimestamp, true
	}
	found, foundTimestamp := Offset(-1), int64(-1)
	reachedBelow, outside := false, false
	err := walkTimeRecords(b, maxBytes, func(r RecordPosition) bool {
		if !h.holds(r.Offset) {
			outside = true
			return false
		}
		if r.Timestamp >= target {
			if r.Offset >= from {
				found, foundTimestamp = r.Offset, r.Timestamp
				return false
			}
			reachedBelow = true
		}
		return true
	})
	switch {
	case found >= 0:
		return found, foundTimestamp, true
	case err == nil && !outside && reachedBelow:
		return 0, 0, false
	}
	return first, h.MaxTimestamp, true
}

// offsetOfTimestamp returns the offset of the first record of the whole
// batch b (header h) whose timestamp is ts, the batch's maxTimestamp. A
// compressed LogAppendTime batch answers its first offset without being
// decompressed: all its records carry ts, so the first holds it (Kafka's
// answer too; only a batch the cleaner rid of its first record differs, and
// the offset still lies in the batch). When no record is found (see
// firstAtOrAfter) it answers the batch's last offset.
func offsetOfTimestamp(h *Header, b []byte, ts, maxBytes int64) Offset {
	if h.LogAppendTime() && h.Codec() != CodecNone {
		return h.BaseOffset
	}
	found := h.LastOffset() // unless a record answers
	_ = walkTimeRecords(b, maxBytes, func(r RecordPosition) bool {
		if !h.holds(r.Offset) {
			return false
		}
		if r.Timestamp == ts {
			found = r.Offset
			return false
		}
		return true
	})
	return found
}

// holds says whether offset lies in the batch's range. spool does not
// check a batch's records on produce (Kafka does), so a record's offset
// delta may point outside its batch: a walk stops there, and the lookup
// falls back, rather than answer an offset of another batch.
func (h *Header) holds(offset Offset) bool {
	return offset >= h.BaseOffset && offset <= h.LastOffset()
}

// walkTimeRecords is WalkAnyRecords with a pooled buffer. Its error (the
// records do not decompress within maxBytes, or stop parsing) is only a
// signal: the walk has visited what it could, and the callers fall back on
// what it did not find rather than fail. visit must not keep the records'
// keys or values: the buffer goes back to the pool.
func walkTimeRecords(b []byte, maxBytes int64, visit func(RecordPosition) bool) error {
	scratch := timeLookupScratch.Get().(*[]byte)
	var err error
	*scratch, err = WalkAnyRecords(b, (*scratch)[:0], maxBytes, visit)
	if cap(*scratch) > timeLookupScratchKeepBytes {
		*scratch = nil
	}
	timeLookupScratch.Put(scratch)
	return err
}
