package engine

import (
	"fmt"

	"spool/internal/invariants"
	"spool/segment"
)

// ReadResult is what a fetch of one partition gets: file extents of whole
// batches (never copied bytes) and the offsets a Fetch response reports.
// The segments behind the extents stay open until Release.
type ReadResult struct {
	Extents          []segment.Extent
	NextOffset       Offset // offset after the last batch in Extents
	HighWatermark    Offset
	LastStableOffset Offset
	LogStartOffset   Offset
	Bytes            int64

	held    *segment.Segment
	extents [1]segment.Extent
}

// AppendBytes appends the bytes of the result's extents to buf (a copy,
// for readers that need the batches in memory: replication, replay).
func (r *ReadResult) AppendBytes(buf []byte) ([]byte, error) {
	for _, e := range r.Extents {
		start := len(buf)
		buf = append(buf, make([]byte, e.Length)...)
		if _, err := e.File.ReadAt(buf[start:], e.Position); err != nil {
			return buf[:start], err
		}
	}
	return buf, nil
}

// Release lets the segments behind the extents go. Safe to call twice. An
// extent older than its partition's page-cache window (Extent.Cold) has its
// pages dropped first: a catch-up reader streams old data from disk through
// pages the next read reuses, rather than filling the cache with it.
func (r *ReadResult) Release() {
	if r.held != nil {
		if e := r.extents[0]; e.Cold && e.Length > 0 {
			r.held.DropCache(e.Position, e.Position+e.Length)
		}
		r.held.Release()
		r.held = nil
	}
}

// Isolation is a fetch's isolation level.
type Isolation int8

const (
	ReadUncommitted Isolation = 0
	ReadCommitted   Isolation = 1
	// ReadReplica reads up to the log end offset, past the high
	// watermark: what the leader sends its standby (the high watermark
	// waits for the standby to have it).
	ReadReplica Isolation = 2
)

// Read plans a fetch from offset: whole batches from the one holding offset,
// at most maxBytes (at least one batch when atLeastOne), none at or past the
// high watermark (or last stable offset for read_committed). It reads from
// one segment; the caller fetches again for more. Any goroutine; the result
// must be released.
//
// Reading at the high watermark answers an empty result; reading below the
// log start offset or past the high watermark answers ErrOffsetOutOfRange.
func (l *Log) Read(offset Offset, maxBytes int64, atLeastOne bool, isolation Isolation, result *ReadResult) error {
	*result = ReadResult{}
	for attempt := 0; ; attempt++ {
		list := l.segments.Load()
		limit := l.HighWatermark()
		result.HighWatermark = limit
		result.LastStableOffset = l.LastStableOffset()
		if isolation == ReadCommitted {
			limit = result.LastStableOffset
		}
		result.LogStartOffset = l.LogStartOffset()
		upper := result.HighWatermark
		if isolation == ReadReplica {
			limit = l.LogEndOffset()
			upper = limit
		}
		if offset < result.LogStartOffset || offset > upper {
			return fmt.Errorf("%w: %d not in [%d, %d]", ErrOffsetOutOfRange, offset, result.LogStartOffset, upper)
		}
		result.NextOffset = offset
		if offset >= limit {
			return nil
		}
		retired := false
		for i := list.find(offset); i < len(list.segments); i++ {
			s := list.segments[i]
			if !s.Acquire() {
				retired = true
				break
			}
			// Plan at least one batch even when the caller does not want
			// one, so an empty plan means only "offset lies past this
			// segment's batches" (or past the limit). A batch over the
			// budget ends the read here: moving on to the next segment
			// would answer batches past offset, skipping the rest of
			// this one.
			extent, next, err := s.Plan(offset, limit, maxBytes, true)
			if err != nil {
				s.Release()
				return fmt.Errorf("%w: %w", ErrStorage, err)
			}
			if extent.Length == 0 {
				// offset lies past this segment's batches: try the next.
				s.Release()
				continue
			}
			if !atLeastOne && extent.Length > maxBytes {
				s.Release()
				return nil
			}
			result.extents[0] = extent
			result.Extents = result.extents[:1]
			result.NextOffset = next
			result.Bytes = extent.Length
			result.held = s
			return nil
		}
		if !retired || attempt > 100 {
			return nil
		}
		// A segment was retired between loading the list and acquiring
		// it: load the newer list.
	}
}

// ListOffset answers Kafka's ListOffsets for one timestamp:
//
//	-2 (earliest)   the log start offset
//	-1 (latest)     the high watermark (last stable offset for read_committed)
//	-3 (max)        the offset of the record with the largest timestamp
//	t ≥ 0           the first offset at or after the log start offset whose
//	                record timestamp is ≥ t, also inside a batch (records
//	                below the log start are skipped, not clamped to it, as
//	                Kafka does); found is false when none is
//
// It returns the offset and the timestamp Kafka reports with it (-1 where
// Kafka reports -1). found is false when no record reaches a timestamp.
// Any goroutine.
func (l *Log) ListOffset(timestamp int64, isolation Isolation) (offset Offset, recordTimestamp int64, found bool, err error) {
	limit := l.HighWatermark()
	if isolation == ReadCommitted {
		limit = l.LastStableOffset()
	}
	switch timestamp {
	case ListEarliest:
		return l.LogStartOffset(), -1, true, nil
	case ListLatest:
		return limit, -1, true, nil
	}
	for attempt := 0; attempt < 100; attempt++ {
		list := l.segments.Load()
		start := l.LogStartOffset()
		offset, recordTimestamp, found, retired := l.searchTime(list, timestamp, start, limit)
		if !retired {
			if invariants.Enabled && found && offset < start {
				// The search skips records below start while choosing,
				// as Kafka does, rather than clamp its answer up to it.
				invariants.Failf("offset for time %d: %d below the log start offset %d", timestamp, offset, start)
			}
			if found && offset >= limit {
				return -1, -1, false, nil
			}
			return offset, recordTimestamp, found, nil
		}
	}
	return -1, -1, false, nil
}

// The special timestamps of ListOffsets.
const (
	ListLatest       = -1
	ListEarliest     = -2
	ListMaxTimestamp = -3
)

// searchTime answers a ListOffsets timestamp over the segments of list: -3
// from the segments' max timestamps; t ≥ 0 from the first segment, at or
// after start (the log start offset), with a record at or after start whose
// timestamp reaches t. Records below start are skipped while choosing, as
// Kafka's UnifiedLog.fetchOffsetByTimestamp does by passing the log start
// offset to LogSegment.findOffsetByTimestamp; a segment that holds only
// such records does not answer, and the search goes on to the next one. The
// last result is true when a segment was retired under the search (load
// the newer list and search again).
func (l *Log) searchTime(list *segmentList, timestamp int64, start, limit Offset) (Offset, int64, bool, bool) {
	if timestamp == ListMaxTimestamp {
		best, bestOffset := int64(-1), Offset(-1)
		for _, s := range list.segments {
			if !s.Acquire() {
				return 0, 0, false, true
			}
			ts, offset := s.MaxTimestamp()
			s.Release()
			if ts > best && offset < limit {
				best, bestOffset = ts, offset
			}
		}
		return bestOffset, best, bestOffset >= 0, false
	}
	for _, s := range list.segments {
		if !s.Acquire() {
			return 0, 0, false, true
		}
		if s.LargestTimestamp() < timestamp || s.NextOffset() <= start {
			s.Release()
			continue
		}
		offset, recordTimestamp, ok, err := s.FindTimestamp(timestamp, start)
		s.Release()
		if err != nil || !ok {
			continue
		}
		return offset, recordTimestamp, true, false
	}
	return -1, -1, false, false
}

// Size is the bytes of all the log's segments. Any goroutine.
func (l *Log) Size() int64 {
	total := int64(0)
	for _, s := range l.segments.Load().segments {
		total += s.Size()
	}
	return total
}
