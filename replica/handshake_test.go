package replica

import (
	"errors"
	"strings"
	"testing"
	"time"

	"spool/engine"
)

// TestEpochFencing: the hellos' rules. A leader hearing of a newer epoch
// is fenced; a follower serves no standby; a standby never follows a
// leader of an older epoch and adopts a newer one; versions must match.
func TestEpochFencing(t *testing.T) {
	leaderCases := []struct {
		name     string
		own      int32
		follower bool
		hello    Hello
		fenced   bool
		refused  bool
	}{
		{name: "same epoch", own: 3, hello: Hello{Version: Version, Epoch: 3}},
		{name: "an older standby catches up", own: 3, hello: Hello{Version: Version, Epoch: 1}},
		{name: "a newer epoch fences the leader", own: 3, hello: Hello{Version: Version, Epoch: 4}, fenced: true, refused: true},
		{name: "a fenced node serves no standby", own: 3, follower: true, hello: Hello{Version: Version, Epoch: 3}, refused: true},
		{name: "another version", own: 3, hello: Hello{Version: Version + 1, Epoch: 3}, refused: true},
		{name: "a v1 standby (no broker configs)", own: 3, hello: Hello{Version: 1, Epoch: 3}},
		{name: "below v1", own: 3, hello: Hello{Version: 0, Epoch: 3}, refused: true},
	}
	for _, c := range leaderCases {
		err := leaderAccepts(c.own, c.follower, c.hello)
		if (err != nil) != c.refused || errors.Is(err, errFenced) != c.fenced {
			t.Errorf("leader, %s: %v", c.name, err)
		}
	}
	standbyCases := []struct {
		name    string
		own     int32
		hello   Hello
		adopt   bool
		refused bool
	}{
		{name: "same epoch", own: 2, hello: Hello{Version: Version, Epoch: 2}},
		{name: "a newer leader is adopted", own: 2, hello: Hello{Version: Version, Epoch: 5}, adopt: true},
		{name: "a superseded leader is refused", own: 2, hello: Hello{Version: Version, Epoch: 1}, refused: true},
		{name: "another version", own: 2, hello: Hello{Version: Version + 1, Epoch: 2}, refused: true},
	}
	for _, c := range standbyCases {
		adopt, err := standbyAccepts(c.own, c.hello)
		if adopt != c.adopt || (err != nil) != c.refused {
			t.Errorf("standby, %s: adopt %v, %v", c.name, adopt, err)
		}
	}
}

// epochHistory answers EndOffsetForEpoch as engine.Log does: the end of
// the newest epoch at or below the one asked, or -1 before the first.
type epochHistory struct {
	starts []engine.EpochEntry // ascending
	end    engine.Offset       // the log end offset
}

func (h epochHistory) EndOffsetForEpoch(epoch int32) (int32, engine.Offset) {
	for i := len(h.starts) - 1; i >= 0; i-- {
		if h.starts[i].Epoch <= epoch {
			if i == len(h.starts)-1 {
				return h.starts[i].Epoch, h.end
			}
			return h.starts[i].Epoch, h.starts[i+1].StartOffset
		}
	}
	return -1, -1
}

// TestAgreedEnd: where a rejoining standby's log stops agreeing with the
// leader's (KIP-101): a standby whose last epoch ended earlier on the
// leader is cut to that end; one in the leader's current epoch, or with
// no epochs, keeps its end.
func TestAgreedEnd(t *testing.T) {
	leader := epochHistory{starts: []engine.EpochEntry{{Epoch: 0, StartOffset: 0}, {Epoch: 2, StartOffset: 100}, {Epoch: 3, StartOffset: 250}}, end: 400}
	cases := []struct {
		name      string
		end       engine.Offset
		lastEpoch int32
		want      engine.Offset
	}{
		{"an old leader returns with a diverged tail in epoch 2", 300, 2, 250},
		{"a standby that stopped inside epoch 2", 200, 2, 200},
		{"a standby in the current epoch", 390, 3, 390},
		{"epoch 1 was never the leader's: the newest below it ends at 100", 150, 1, 100},
		{"an empty standby", 0, -1, 0},
		{"no epoch recorded", 120, -1, 120},
	}
	for _, c := range cases {
		if got := agreedEnd(leader, c.end, c.lastEpoch); got != c.want {
			t.Errorf("%s: agreed end %d, want %d", c.name, got, c.want)
		}
	}
}

// TestPromotionRisk: a standby may be promoted cleanly only when every
// partition was caught up within lagMax; the report says what it may
// lack.
func TestPromotionRisk(t *testing.T) {
	lagMax := 30 * time.Second
	minISR := func(topic string) int {
		if topic == "safe" {
			return 2
		}
		return 1
	}
	progress := []PartitionLag{
		{Topic: "fresh", Partition: 0, End: 10, LeaderEnd: 10, CaughtUpAgo: time.Second},
		{Topic: "safe", Partition: 1, End: 5, LeaderEnd: 8, CaughtUpAgo: time.Minute},
		{Topic: "never", Partition: 0, End: 0, LeaderEnd: -1, CaughtUpAgo: -1},
	}
	mayLose, stale := promotionRisk(progress[:1], lagMax, minISR)
	if stale != "" || len(mayLose) != 0 {
		t.Fatalf("caught up: stale %q, may lose %v", stale, mayLose)
	}
	mayLose, stale = promotionRisk(progress, lagMax, minISR)
	if !strings.HasPrefix(stale, "safe-1 was last caught up 1m0s ago") || !strings.Contains(stale, "min.insync.replicas 2") {
		t.Fatalf("stale %q", stale)
	}
	if len(mayLose) != 1 || mayLose["safe-1"] != 3 {
		t.Fatalf("may lose %v", mayLose)
	}
	if _, stale = promotionRisk(progress[2:], lagMax, minISR); !strings.Contains(stale, "never-0 was last caught up never") || !strings.Contains(stale, "min.insync.replicas 1") {
		t.Fatalf("never caught up: %q", stale)
	}
}
