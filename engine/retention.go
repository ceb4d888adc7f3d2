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

// TruncateTo removes every batch whose last offset is ≥ offset (a standby
// cutting a diverged history), so the log end offset becomes the base of
// the first batch removed. Writer only.
//
// Order:
//  0. delete the producer snapshots above the cut, durably: one that
//     survived a crash after the cut would describe batches that are gone;
//  1. retire and unlink the segments that start at or after the cut, newest
//     first, publishing the shorter list before unlinking;
//  2. if the cut falls in a sealed segment, that segment object is retired
//     (readers may hold its mapping) and the files reopened as a new object
//     that becomes the active segment;
//  3. cut the segment's batches (zeroing the removed bytes, durably);
//  4. publish the new log end offset, high watermark and durable offset;
//     cut the epoch history there; reload the producers' state (snapshot
//     at or below the new end, plus replay).
func (l *Log) TruncateTo(offset Offset) (Offset, error) {
	if err := l.Err(); err != nil {
		return l.LogEndOffset(), err
	}
	if offset >= l.LogEndOffset() {
		return l.LogEndOffset(), nil
	}
	if offset < l.LogStartOffset() {
		offset = l.LogStartOffset()
	}
	// 0.
	if err := l.removeProducerSnapshotsAbove(offset); err != nil {
		return l.LogEndOffset(), l.fail(err)
	}
	list := l.segments.Load()
	// 1.
	keep := list.find(offset)
	if keep > 0 && list.segments[keep].BaseOffset() == offset {
		// The cut is exactly at a segment boundary: keep the one before
		// whole and let it take appends again.
		keep--
	}
	removed := list.segments[keep+1:]
	segments := append([]*segment.Segment(nil), list.segments[:keep+1]...)
	target := segments[keep]
	// 2.
	if target != l.active || target.Sealed() {
		reopened, _, err := segment.Open(l.dir, target.BaseOffset(), l.segmentConfig(), true)
		if err != nil {
			return l.LogEndOffset(), l.fail(err)
		}
		segments[keep] = reopened
		l.segments.Store(&segmentList{segments: segments})
		target.Retire(false)
		target = reopened
		if _, err := target.TruncateTo(offset); err != nil {
			return l.LogEndOffset(), l.fail(err)
		}
		if err := target.Activate(); err != nil {
			return l.LogEndOffset(), l.storageOrFull(err)
		}
	} else {
		l.segments.Store(&segmentList{segments: segments})
		// 3.
		if _, err := target.TruncateTo(offset); err != nil {
			return l.LogEndOffset(), l.fail(err)
		}
	}
	for i := len(removed) - 1; i >= 0; i-- {
		removed[i].Retire(true)
	}
	l.active = target
	// The page-cache drop cursor starts over (cache.go): left past the
	// cut, it would never drop the segments rebuilt below its base, and
	// the producer replay below reads older segments back into the cache.
	l.cacheMu.Lock()
	l.cacheDropped = cacheCursor{}
	l.cacheMu.Unlock()
	// 4.
	end := target.NextOffset()
	l.logEndOffset.Store(int64(end))
	l.highWatermark.Store(int64(end))
	l.durableOffset.Store(int64(end))
	l.hwm.wake()
	l.leo.wake()
	l.checkInvariants()
	if err := l.epochs.truncateFromEnd(end); err != nil {
		return end, l.fail(err)
	}
	if err := l.loadProducers(); err != nil {
		return end, l.fail(err)
	}
	l.lowerCleanerCheckpoint(end)
	if l.recoveryPoint > target.BaseOffset() {
		l.recoveryPoint = target.BaseOffset()
		if err := writeOffsetFile(filepath.Join(l.dir, recoveryPointFileName), l.recoveryPoint); err != nil {
			return end, l.fail(err)
		}
	}
	return end, nil
}

// ResetTo empties the log and restarts it at offset, above its end: a
// standby whose leader no longer holds the records after the standby's end
// (retention deleted them) continues from the leader's log start offset.
// In this order:
//  1. persist the log start offset (offset), so an open that finds no
//     segment starts there;
//  2. seal the active segment and create an empty one at offset;
//  3. publish it alone, with every offset at the new start;
//  4. persist the recovery point, retire the old segments, and start the
//     producer state afresh (old snapshots removed, an empty one written).
//
// A crash between 2 and 4 leaves the old segments and the new one with a
// gap between them: the next open keeps the old prefix (reporting the gap
// as corruption) and the standby is reset again. Writer only.
func (l *Log) ResetTo(offset Offset) error {
	if err := l.Err(); err != nil {
		return err
	}
	if offset <= l.LogEndOffset() {
		return fmt.Errorf("%w: reset to %d, at or below the log end offset %d", ErrOffsetOutOfRange, offset, l.LogEndOffset())
	}
	// 1.
	if err := l.moveLogStart(offset); err != nil {
		return err
	}
	// 2.
	if !l.active.Sealed() {
		if err := l.active.Seal(); err != nil {
			return l.fail(err)
		}
	}
	next, err := segment.Create(l.dir, offset, l.cfg.Segment)
	if err != nil {
		return l.storageOrFull(err)
	}
	// 3.
	old := l.segments.Load().segments
	l.segments.Store(&segmentList{segments: []*segment.Segment{next}})
	l.active = next
	l.logEndOffset.Store(int64(offset))
	l.highWatermark.Store(int64(offset))
	l.durableOffset.Store(int64(offset))
	l.checkInvariants()
	// 4.
	l.recoveryPoint = offset
	if err := writeOffsetFile(filepath.Join(l.dir, recoveryPointFileName), offset); err != nil {
		return l.fail(err)
	}
	for _, s := range old {
		if err := s.Retire(true); err != nil {
			l.logger.Warn("could not remove a reset segment's files; the next open removes them", "error", err)
		}
	}
	l.settleProducerSnapshot()
	l.lowerCleanerCheckpoint(offset)
	for _, snapshot := range l.snapshots {
		l.removeProducerSnapshot(snapshot)
	}
	l.snapshots = nil
	l.producers = newProducerState()
	l.writeProducerSnapshot(false)
	l.hwm.wake()
	l.leo.wake()
	return nil
}
