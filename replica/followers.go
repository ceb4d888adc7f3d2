package replica

import (
	"log/slog"
	"sort"
	"time"

	"spool/engine"
)

// The leader's view of its standby, per partition: how far the standby
// has acked, whether it is in the in-sync set, and the marks that tell
// when it was last caught up. It decides the high watermark's input
// (Log.SetFollower) and nothing else, holds no lock of its own and reads
// no clock: the Leader calls it under its mutex and passes the time in,
// so tests drive it with a fake log and a made-up clock.
//
// The rules, as Kafka's ISR keeps them for one follower:
//   - A Data frame that reached the log end offset when it was read is a
//     catch-up mark (sent). Once the standby acks past a mark, it was
//     caught up at the mark's time; an ack at or past the log end offset
//     means caught up now.
//   - The standby joins the in-sync set at an ack when it was caught up
//     within lagMax (replica.lag.time.max.ms), and leaves it when it has
//     not been for longer than lagMax (checkLag, every 100 ms). A
//     partition created while a standby is connected starts with it in
//     the set (created), as Kafka's does with all its assigned replicas.
//   - Every ack hands the log the standby's offset and whether it is in
//     sync; while it is, the high watermark is the smaller of the two
//     ends.

// followerLog is what the bookkeeping needs of a partition's log:
// *engine.Log in the broker (both methods are safe on any goroutine).
type followerLog interface {
	LogEndOffset() engine.Offset
	SetFollower(inSync bool, acked engine.Offset)
}

// marksMax bounds the catch-up marks kept per partition: a standby that
// never acks cannot grow them.
const marksMax = 1024

// followers is the state of every partition's replica on the standby.
type followers struct {
	lagMax      time.Duration
	logger      *slog.Logger
	byPartition map[partitionKey]*followerState // outlives sessions
}

// followerState is the standby's replica of one partition.
type followerState struct {
	log          followerLog
	acked        engine.Offset // the standby's durable log end offset; -1 before its first
	inSync       bool
	lastCaughtUp time.Time // zero: never
	// marks are frames that reached the log end offset when sent: once
	// the standby acks one, it was caught up as of that moment.
	marks []catchUpMark
}

type catchUpMark struct {
	next engine.Offset
	at   time.Time
}

func newFollowers(lagMax time.Duration, logger *slog.Logger) *followers {
	return &followers{lagMax: lagMax, logger: logger, byPartition: map[partitionKey]*followerState{}}
}

// state finds or makes a partition's state. A partition whose log is not
// the one tracked (deleted and created again) starts afresh.
func (f *followers) state(key partitionKey, log followerLog) *followerState {
	st := f.byPartition[key]
	if st == nil || st.log != log {
		st = &followerState{log: log, acked: -1}
		f.byPartition[key] = st
	}
	return st
}

// created starts a new partition, at time now, with the standby in its
// in-sync set and acked at 0 (its copy is as empty as the new log), as
// Kafka's in-sync set for a new partition is all its assigned replicas:
// the high watermark then waits for the standby's acks, and the usual
// rules drop the standby if they do not come within lagMax.
func (f *followers) created(key partitionKey, log followerLog, now time.Time) {
	st := &followerState{log: log, acked: 0, inSync: true, lastCaughtUp: now}
	f.byPartition[key] = st
	log.SetFollower(true, 0)
}

// sent records a Data frame that ended at next, the log end offset it was
// read at, at time at.
func (f *followers) sent(key partitionKey, log followerLog, next engine.Offset, at time.Time) {
	st := f.state(key, log)
	st.marks = append(st.marks, catchUpMark{next: next, at: at})
	if len(st.marks) > marksMax {
		st.marks = st.marks[len(st.marks)-marksMax:]
	}
}

// acked takes the standby's durable log end offset for a partition at time
// now: it may make the standby in sync, and moves the high watermark.
func (f *followers) acked(key partitionKey, log followerLog, offset engine.Offset, now time.Time) {
	st := f.state(key, log)
	st.acked = offset
	kept := st.marks[:0]
	for _, m := range st.marks {
		if m.next <= offset {
			if m.at.After(st.lastCaughtUp) {
				st.lastCaughtUp = m.at
			}
			continue
		}
		kept = append(kept, m)
	}
	st.marks = kept
	if offset >= log.LogEndOffset() {
		st.lastCaughtUp = now
	}
	if !st.inSync && now.Sub(st.lastCaughtUp) < f.lagMax {
		st.inSync = true
		f.logger.Info("standby joined the in-sync set", "topic", key.topic, "partition", key.partition, "offset", offset)
	}
	log.SetFollower(st.inSync, offset)
}

// checkLag drops from the in-sync set, at time now, every replica that has
// not caught up for longer than lagMax.
func (f *followers) checkLag(now time.Time) {
	for key, st := range f.byPartition {
		if st.acked >= st.log.LogEndOffset() {
			st.lastCaughtUp = now
		}
		if st.inSync && now.Sub(st.lastCaughtUp) > f.lagMax {
			st.inSync = false
			st.log.SetFollower(false, st.acked)
			f.logger.Warn("standby left the in-sync set", "topic", key.topic, "partition", key.partition, "acked", st.acked, "log_end_offset", st.log.LogEndOffset(), "behind_for", now.Sub(st.lastCaughtUp))
		}
	}
}

// status lists every partition's state at time now, sorted.
func (f *followers) status(now time.Time) []StandbyStatus {
	out := make([]StandbyStatus, 0, len(f.byPartition))
	for key, st := range f.byPartition {
		ago := time.Duration(-1) // never
		if !st.lastCaughtUp.IsZero() {
			ago = now.Sub(st.lastCaughtUp)
		}
		out = append(out, StandbyStatus{Topic: key.topic, Partition: key.partition, Acked: int64(st.acked), LeaderEnd: int64(st.log.LogEndOffset()), InSync: st.inSync, CaughtUpAgo: ago})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}
