package engine

// The leader's view of its standby's replica of a partition. While the
// standby is in sync, a record is committed (below the high watermark,
// visible to consumers, acknowledged to acks=all producers) only once the
// standby has it durably; when the standby falls out of sync the high
// watermark is the leader's log end offset again. The replication session
// reports the standby's acknowledged log end offset and whether it is in
// sync; anyone may call these.

// SetFollower records the standby's durable log end offset and whether it
// is in the in-sync set, and advances the high watermark accordingly.
func (l *Log) SetFollower(inSync bool, end Offset) {
	l.followerEnd.Store(int64(end))
	l.followerInSync.Store(inSync)
	l.publishHighWatermark()
}

// InSyncReplicas counts this partition's in-sync replicas: the leader, and
// the standby while it is in sync.
func (l *Log) InSyncReplicas() int {
	if l.followerInSync.Load() {
		return 2
	}
	return 1
}

// FollowerEnd is the standby's last acknowledged log end offset (-1 before
// any).
func (l *Log) FollowerEnd() Offset {
	if !l.followerInSync.Load() && l.followerEnd.Load() == 0 {
		return -1
	}
	return Offset(l.followerEnd.Load())
}

// publishHighWatermark moves the high watermark up to the log end offset,
// or to the standby's end while it is in sync, never down (truncation sets
// it directly). Any goroutine.
func (l *Log) publishHighWatermark() {
	for {
		hw := l.logEndOffset.Load()
		if l.followerInSync.Load() {
			hw = min(hw, l.followerEnd.Load())
		}
		current := l.highWatermark.Load()
		if hw <= current {
			return
		}
		if l.highWatermark.CompareAndSwap(current, hw) {
			l.hwm.wake()
			return
		}
	}
}

// LogEndOffsetChanged returns a channel closed the next time the log end
// offset moves (what the leader's replication waits on: with a standby in
// sync, an append does not move the high watermark). Any goroutine.
func (l *Log) LogEndOffsetChanged() <-chan struct{} { return l.leo.wait() }
