package engine

import (
	"fmt"
	"os"
	"path/filepath"

	"spool/segment"
)

// DeleteRecords moves the log start offset to offset (-1: the high
// watermark), hiding everything before it, and deletes the segments wholly
// below it. It never moves the log start offset back. Writer only.
//
// Order: persist the new log start offset, then publish it, then delete
// segments (see deleteOldest). A crash after the first step leaves segments
// that the next open deletes.
func (l *Log) DeleteRecords(offset Offset) (Offset, error) {
	l.checkWriter("Log.DeleteRecords")
	if err := l.Err(); err != nil {
		return l.LogStartOffset(), err
	}
	if offset == -1 {
		offset = l.HighWatermark()
	}
	if offset < 0 || offset > l.HighWatermark() {
		return l.LogStartOffset(), fmt.Errorf("%w: %d not in [0, %d]", ErrOffsetOutOfRange, offset, l.HighWatermark())
	}
	if offset <= l.LogStartOffset() {
		return l.LogStartOffset(), nil
	}
	if err := l.moveLogStart(offset); err != nil {
		return l.LogStartOffset(), err
	}
	count := 0
	list := l.segments.Load()
	for count < len(list.segments)-1 && list.segments[count].NextOffset() <= offset {
		count++
	}
	return l.LogStartOffset(), l.deleteOldest(count)
}

func (l *Log) moveLogStart(offset Offset) error {
	if err := writeOffsetFile(filepath.Join(l.dir, logStartOffsetFileName), offset); err != nil {
		return l.fail(err)
	}
	l.logStartOffset.Store(int64(offset))
	if err := l.epochs.truncateFromStart(offset); err != nil {
		return l.fail(err)
	}
	return nil
}

// deleteOldest removes the count oldest segments (never the active one), in
// this order:
//  1. move the log start offset to the first kept segment (if it lies
//     below) and persist it;
//  2. publish the shorter segment list, so no new reader finds them;
//  3. retire each: unlink its files (.log first), and unmap and close it
//     once the last reader still holding it releases.
func (l *Log) deleteOldest(count int) error {
	list := l.segments.Load()
	count = min(count, len(list.segments)-1)
	if count <= 0 {
		return nil
	}
	kept := list.segments[count:]
	// 1.
	if start := kept[0].BaseOffset(); start > l.LogStartOffset() {
		if err := l.moveLogStart(start); err != nil {
			return err
		}
	}
	// 2.
	l.segments.Store(&segmentList{segments: append([]*segment.Segment(nil), kept...)})
	l.checkInvariants()
	// 3.
	var first error
	for _, s := range list.segments[:count] {
		if err := s.Retire(true); err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		l.logger.Warn("could not remove a deleted segment's files; the next open removes them", "error", first)
	}
	l.pruneProducerSnapshots()
	return nil
}

// ApplyRetention deletes the oldest sealed segments that retention.ms or
// retention.bytes let go: a segment expires when its largest timestamp (or,
// without timestamps, its file's modification time) is older than
// retention.ms; and while the log is larger than retention.bytes, the oldest
// segment goes if the rest still reaches the limit. The active segment is
// never deleted; it rolls on segment.ms. A topic whose cleanup.policy lacks
// delete keeps everything (the cleaner compacts it). It also forgets the
// idempotent producers idle for longer than producer.id.expiration.ms.
// Writer only. It returns how many segments it deleted.
func (l *Log) ApplyRetention() (int, error) {
	l.checkWriter("Log.ApplyRetention")
	if err := l.Err(); err != nil {
		return 0, err
	}
	// Idle idempotent producers expire here too, as Kafka's periodic
	// check does (producer.id.expiration.ms, 1 day by default): without
	// it a running broker forgot them only at the next load, and the
	// state (and every roll's snapshot) grew to the LRU bound with
	// producers long gone.
	l.producers.expire(l.cfg.Now(), l.cfg.ProducerIDExpirationMillis)
	if !l.cfg.Cleanup.Delete() {
		// cleanup.policy=compact alone: the cleaner, not retention,
		// bounds the log.
		return 0, nil
	}
	now := l.cfg.Now()
	list := l.segments.Load()
	total := int64(0)
	for _, s := range list.segments {
		total += s.Size()
	}
	count := 0
	for count < len(list.segments)-1 {
		s := list.segments[count]
		expired := false
		if l.cfg.RetentionMillis >= 0 {
			newest := s.LargestTimestamp()
			if newest < 0 {
				if info, err := os.Stat(s.Path()); err == nil {
					newest = info.ModTime().UnixMilli()
				}
			}
			expired = newest >= 0 && now-newest > l.cfg.RetentionMillis
		}
		oversize := l.cfg.RetentionBytes >= 0 && total-s.Size() >= l.cfg.RetentionBytes
		if !expired && !oversize {
			break
		}
		total -= s.Size()
		count++
	}
	return count, l.deleteOldest(count)
}
