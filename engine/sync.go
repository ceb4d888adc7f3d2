package engine

import (
	"path/filepath"

	"spool/segment"
)

// syncJob is a background sync of a log's active segment: the bytes
// [from, to) that hold every batch below end. A log has at most one in
// flight, so the job lives in the Log and costs no allocation.
type syncJob struct {
	segment  *segment.Segment
	from, to int64
	end      Offset
	// seals are rolled segments to seal first; then the recovery point
	// moves to recoveryPoint (the active segment's base at prepare time).
	seals         []*segment.Segment
	recoveryPoint Offset
	err           error
}

// prepareSync readies l.job to cover everything appended so far, or answers
// false when nothing needs syncing. Writer only.
func (l *Log) prepareSync() bool {
	l.checkWriter("Log.prepareSync")
	if l.Err() != nil {
		return false
	}
	end := l.LogEndOffset()
	seals := len(l.pendingSeal) > 0
	if !seals && l.DurableOffset() >= end {
		return false
	}
	from, to := l.active.SyncedSize(), l.active.Size()
	if !seals && from >= to {
		// Everything is synced already (a roll sealed it).
		l.durableOffset.Store(int64(end))
		return false
	}
	l.job = syncJob{segment: l.active, from: from, to: to, end: end}
	if seals {
		l.job.seals, l.job.recoveryPoint = l.pendingSeal, l.active.BaseOffset()
		l.pendingSeal = nil
	}
	return true
}

// unsyncedBytes is how much of the active segment no sync covers yet.
// Writer only.
func (l *Log) unsyncedBytes() int64 {
	l.checkWriter("Log.unsyncedBytes")
	return l.active.Size() - l.active.SyncedSize()
}

// runSync performs l.job; any goroutine, while the writer keeps appending.
func (l *Log) runSync() {
	// The rolled segments are the writer's no longer: nothing appends to
	// them, and writer operations (Shard.Do) wait for the job.
	for _, s := range l.job.seals {
		if err := s.Seal(); err != nil {
			l.job.err = err
			return
		}
	}
	if len(l.job.seals) > 0 {
		if err := writeOffsetFile(filepath.Join(l.dir, recoveryPointFileName), l.job.recoveryPoint); err != nil {
			l.job.err = err
			return
		}
	}
	l.job.err = l.job.segment.SyncRange(l.job.from, l.job.to)
	if l.job.err == nil {
		l.dropColdCache(l.job.segment, l.job.to)
	}
}

// finishSync publishes what l.job made durable, or fails the log. Writer
// only.
func (l *Log) finishSync() {
	l.checkWriter("Log.finishSync")
	if l.job.err != nil {
		l.fail(l.job.err)
	} else {
		l.job.segment.MarkSynced(l.job.to)
		if len(l.job.seals) > 0 && l.job.recoveryPoint > l.recoveryPoint {
			l.recoveryPoint = l.job.recoveryPoint
		}
		// Everything below job.end was in the sealed segments, the job's
		// seals, or the range it synced, even if a roll since made that
		// segment a pending seal.
		if l.job.end > l.DurableOffset() {
			l.durableOffset.Store(int64(l.job.end))
		}
	}
	l.job = syncJob{}
}

// sealPending seals the rolled segments no sync job has sealed yet and
// moves the recovery point past them, at once, on the writer: before any
// writer operation that may touch them (Shard.Do settles it after the
// sync jobs are back), and before a flush or close. Writer only, with no
// sync job in flight.
func (l *Log) sealPending() error {
	l.checkWriter("Log.sealPending")
	if len(l.pendingSeal) == 0 {
		return nil
	}
	if err := l.Err(); err != nil {
		return err
	}
	for len(l.pendingSeal) > 0 {
		if err := l.pendingSeal[0].Seal(); err != nil {
			return l.fail(err)
		}
		l.pendingSeal = l.pendingSeal[1:]
	}
	l.pendingSeal = nil
	l.recoveryPoint = l.active.BaseOffset()
	if err := writeOffsetFile(filepath.Join(l.dir, recoveryPointFileName), l.recoveryPoint); err != nil {
		return l.fail(err)
	}
	return nil
}
