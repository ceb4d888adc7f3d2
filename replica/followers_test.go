package replica

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"spool/engine"
)

// fakeLog is a partition's log as the follower state sees it: a log end
// offset the test moves, and what the state last told the high watermark.
type fakeLog struct {
	end    engine.Offset
	inSync bool
	acked  engine.Offset
	calls  int
}

func (f *fakeLog) LogEndOffset() engine.Offset { return f.end }
func (f *fakeLog) SetFollower(inSync bool, acked engine.Offset) {
	f.inSync, f.acked = inSync, acked
	f.calls++
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestFollowersInSyncSet walks one partition through the in-sync rules
// with a made-up clock: out until caught up, in at an ack that reaches the
// log end or a catch-up mark, out after lagMax behind, back in when caught
// up again.
func TestFollowersInSyncSet(t *testing.T) {
	const lagMax = 10 * time.Second
	start := time.Unix(1_000_000, 0)
	key := partitionKey{"events", 0}
	log := &fakeLog{end: 100}
	f := newFollowers(lagMax, discard())

	type step struct {
		name   string
		at     time.Duration // since start
		do     func(now time.Time)
		inSync bool   // the state's, and what the log was told
		acked  int64  // what the log was told
		status string // "" or the caught-up-ago the status reports
	}
	steps := []step{
		{name: "an ack behind the log end, never caught up: out", at: 0,
			do: func(now time.Time) { f.acked(key, log, 40, now) }, inSync: false, acked: 40},
		{name: "a frame that reached the log end (100) is a mark", at: time.Second,
			do: func(now time.Time) { f.sent(key, log, 100, now) }, inSync: false, acked: 40},
		{name: "the log grows; the ack of the mark: caught up at the mark's time, in", at: 3 * time.Second,
			do: func(now time.Time) { log.end = 150; f.acked(key, log, 100, now) }, inSync: true, acked: 100},
		{name: "behind for less than lagMax: still in", at: 10 * time.Second,
			do: func(now time.Time) { f.checkLag(now) }, inSync: true, acked: 100},
		{name: "behind for longer than lagMax since the mark: out", at: 11*time.Second + time.Millisecond,
			do: func(now time.Time) { f.checkLag(now) }, inSync: false, acked: 100},
		{name: "an ack at the log end: caught up now, in again", at: 12 * time.Second,
			do: func(now time.Time) { f.acked(key, log, 150, now) }, inSync: true, acked: 150},
		{name: "idle at the log end: the lag check keeps it caught up", at: 60 * time.Second,
			do: func(now time.Time) { f.checkLag(now) }, inSync: true, acked: 150},
	}
	for _, s := range steps {
		s.do(start.Add(s.at))
		st := f.byPartition[key]
		if st.inSync != s.inSync || log.inSync != s.inSync || int64(log.acked) != s.acked {
			t.Fatalf("%s: state in sync %v, log told (%v, %d), want (%v, %d)", s.name, st.inSync, log.inSync, log.acked, s.inSync, s.acked)
		}
	}
	status := f.status(start.Add(61 * time.Second))
	if len(status) != 1 || !status[0].InSync || status[0].Acked != 150 || status[0].LeaderEnd != 150 || status[0].CaughtUpAgo != time.Second {
		t.Fatalf("status %+v", status)
	}
}

// TestFollowersNewLogStartsAfresh: a partition deleted and created again
// (a new log under the same name) is not in sync on the old one's credit.
func TestFollowersNewLogStartsAfresh(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	key := partitionKey{"events", 0}
	f := newFollowers(time.Second, discard())
	old := &fakeLog{end: 10}
	f.acked(key, old, 10, now)
	if !old.inSync {
		t.Fatal("caught up but not in sync")
	}
	fresh := &fakeLog{end: 5}
	f.acked(key, fresh, 0, now)
	if st := f.byPartition[key]; st.log != fresh || st.inSync || fresh.inSync {
		t.Fatalf("the new log inherited the old one's state: %+v", st)
	}
	if got := f.status(now); len(got) != 1 || got[0].CaughtUpAgo != -1 {
		t.Fatalf("status of a replica never caught up: %+v", got)
	}
}

// TestFollowersMarksBounded: a standby that never acks cannot grow the
// marks past marksMax.
func TestFollowersMarksBounded(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	key := partitionKey{"events", 0}
	log := &fakeLog{end: 1}
	f := newFollowers(time.Second, discard())
	for i := range 3 * marksMax {
		f.sent(key, log, engine.Offset(i), now)
	}
	if n := len(f.byPartition[key].marks); n != marksMax {
		t.Fatalf("%d marks kept, want %d", n, marksMax)
	}
	if log.calls != 0 {
		t.Fatal("a sent frame moved the high watermark")
	}
}
