package engine

import (
	"fmt"
	"path/filepath"

	"spool/segment"
)

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
	l.checkWriter("Log.TruncateTo")
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
	l.checkWriter("Log.ResetTo")
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
