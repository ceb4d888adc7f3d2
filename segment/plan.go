package segment

import (
	"encoding/binary"
	"fmt"

	"spool/index"
)

// Read planning: turn (offset, max bytes) into one extent of whole batches,
// using the offset index to land at or before the target batch and a short
// forward scan of batch headers from there. Only the 12-byte prefix and the
// lastOffsetDelta of each batch are read, so a plan touches one index page
// and a few header cache lines, never record bytes.

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
	position, err := s.seek(from, size)
	if err != nil {
		return Extent{}, from, err
	}
	start, end := position, position
	next = from
	for end < size {
		baseOffset, total, lastOffset, err := s.batchAt(end, size)
		if err != nil {
			return Extent{}, from, err
		}
		if baseOffset >= limit {
			break
		}
		if end+total-start > maxBytes && !(atLeastOne && end == start) {
			break
		}
		end += total
		next = lastOffset + 1
	}
	return Extent{File: s.log, Position: start, Length: end - start}, next, nil
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
// has no timestamps) and the offset of the record carrying it: exact for an
// uncompressed batch, the batch's last offset for a compressed one (as Kafka
// before KAFKA-16310). Any goroutine, while acquired.
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
	found := h.LastOffset()
	WalkRecords(b, func(r RecordPosition) bool {
		if r.Timestamp == ts {
			found = r.Offset
			return false
		}
		return true
	})
	return ts, found
}

// LargestTimestamp is the largest batch maxTimestamp in the segment, or -1.
// Any goroutine.
func (s *Segment) LargestTimestamp() int64 {
	ts, _ := s.maxTime.load()
	return ts
}

// FindTimestamp returns the first offset whose record timestamp is ≥ target,
// searching batches from the time index's entry below target: first the
// batch whose maxTimestamp reaches target, then, for an uncompressed batch,
// its records. For a compressed batch it answers the batch's base offset
// (records are not decompressed yet: a known gap, named in the docs). ok is
// false when no record in the segment reaches target. Any goroutine, while
// acquired.
func (s *Segment) FindTimestamp(target int64) (Offset, int64, bool, error) {
	size := s.size.Load()
	position := int64(0)
	if _, relative, ok := s.times.Lookup(target); ok {
		var err error
		if position, err = s.seek(s.base+Offset(relative), size); err != nil {
			return 0, 0, false, err
		}
	}
	for position < size {
		h, b, err := s.HeaderAt(position)
		if err != nil {
			return 0, 0, false, err
		}
		if h.MaxTimestamp >= target {
			found, foundTimestamp := h.BaseOffset, h.MaxTimestamp
			if h.Codec() == CodecNone && !h.LogAppendTime() {
				found = h.NextOffset()
				WalkRecords(b, func(r RecordPosition) bool {
					if r.Timestamp >= target {
						found, foundTimestamp = r.Offset, r.Timestamp
						return false
					}
					return true
				})
				if found == h.NextOffset() {
					// maxTimestamp promised a record ≥ target and none was
					// found: the batch lies; answer its first offset.
					found, foundTimestamp = h.BaseOffset, h.MaxTimestamp
				}
			}
			return found, foundTimestamp, true, nil
		}
		position += h.TotalBytes()
	}
	return 0, 0, false, nil
}
