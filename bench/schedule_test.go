package bench

import (
	"context"
	"testing"
	"time"
)

func TestScheduleIsExactAndDoesNotDrift(t *testing.T) {
	s := Schedule{Start: 7 * time.Millisecond, Rate: 3000, Count: 10}
	if s.At(0) != 7*time.Millisecond {
		t.Fatalf("At(0) = %v", s.At(0))
	}
	// 3000/s does not divide a second into whole nanoseconds; computed from
	// seq, the millionth record is still exactly on its second.
	if got, want := s.At(3_000_000), 7*time.Millisecond+1000*time.Second; got != want {
		t.Fatalf("At(3e6) = %v, want %v", got, want)
	}
	for seq := int64(1); seq < 10_000; seq++ {
		if s.At(seq) <= s.At(seq-1) {
			t.Fatalf("At(%d) = %v not after At(%d) = %v", seq, s.At(seq), seq-1, s.At(seq-1))
		}
	}
}

func TestNewScheduleCount(t *testing.T) {
	for _, tc := range []struct {
		rate     float64
		duration time.Duration
		limit    int64
		want     int64
	}{
		{1000, 2500 * time.Millisecond, 0, 2500},
		{1000, 2500 * time.Millisecond, 100, 100},
		{0.5, 3 * time.Second, 0, 2}, // records at 0 s and 2 s
		{10_000, time.Second, 20_000, 10_000},
	} {
		if got := NewSchedule(0, tc.rate, tc.duration, tc.limit).Count; got != tc.want {
			t.Errorf("NewSchedule(rate %v, %v, limit %d).Count = %d, want %d", tc.rate, tc.duration, tc.limit, got, tc.want)
		}
	}
}

// fakeClock is time that moves only when the test (or a simulated stall)
// moves it, or when someone sleeps.
type fakeClock struct{ now time.Duration }

func (c *fakeClock) Now() time.Duration { return c.now }

func (c *fakeClock) SleepUntil(ctx context.Context, t time.Duration) {
	if ctx.Err() == nil && t > c.now {
		c.now = t
	}
}

func TestPaceSendsEveryRecordOnceNeverEarly(t *testing.T) {
	s := Schedule{Start: time.Millisecond, Rate: 1000, Count: 1000}
	const producers = 3
	seen := make([]int, s.Count)
	clk := &fakeClock{}
	total := int64(0)
	for p := int64(0); p < producers; p++ {
		clk.now = 0
		total += pace(context.Background(), clk, s, p, producers, func(seq int64, intended time.Duration) {
			if intended != s.At(seq) {
				t.Fatalf("seq %d handed intended %v, schedule says %v", seq, intended, s.At(seq))
			}
			if clk.Now() < intended {
				t.Fatalf("seq %d sent at %v, before its time %v", seq, clk.Now(), intended)
			}
			if seq%producers != p {
				t.Fatalf("producer %d got seq %d", p, seq)
			}
			seen[seq]++
		})
	}
	if total != s.Count {
		t.Fatalf("sent %d of %d", total, s.Count)
	}
	for seq, n := range seen {
		if n != 1 {
			t.Fatalf("seq %d sent %d times", seq, n)
		}
	}
}

// TestStallBecomesLatency is the coordinated-omission test. A simulated
// broker answers every record at once except one, which it holds for
// 200 ms. Measured from intended send time, as the harness does, all the
// records scheduled during the stall carry it: about a fifth of the 1000
// records are slow, and the percentiles say so. Measured from actual send
// time (the closed-loop way, shown for contrast), the stall is one slow
// sample among a thousand and p99 sees nothing.
func TestStallBecomesLatency(t *testing.T) {
	s := Schedule{Rate: 1000, Count: 1000} // one record per ms for 1 s
	const stallSeq, stall = 100, 200 * time.Millisecond
	clk := &fakeClock{}
	fromIntended, fromSend := NewLatency(), NewLatency()
	slow := 0
	sent := pace(context.Background(), clk, s, 0, 1, func(seq int64, intended time.Duration) {
		sentAt := clk.Now()
		if seq == stallSeq {
			clk.now += stall // the broker holds this one; the sender blocks
		}
		answered := clk.Now() + 50*time.Microsecond
		fromIntended.Record(answered - intended)
		fromSend.Record(answered - sentAt)
		if answered-intended >= 100*time.Millisecond {
			slow++
		}
	})
	if sent != s.Count || fromIntended.Count() != s.Count {
		t.Fatalf("sent %d, recorded %d, want %d: a stall must not lose samples", sent, fromIntended.Count(), s.Count)
	}
	// Records 100..200 were due during the first 100 ms of the stall
	// (answered at 300.05 ms, intended at 100..200 ms).
	if slow != 101 {
		t.Fatalf("%d records at >= 100 ms, want 101", slow)
	}
	p := fromIntended.Summary()
	if p.P90 < 95_000 || p.P99 < 190_000 || p.Max < 200_000 || p.Max > 200_300 {
		t.Fatalf("from intended time: %+v; the stall must show at p90 (~100 ms), p99 and max (~200 ms)", p)
	}
	if p.P50 > 100 {
		t.Fatalf("from intended time: p50 %d µs; records after the stall were on time", p.P50)
	}
	naive := fromSend.Summary()
	if naive.P99 > 100 || naive.Max < 200_000 {
		t.Fatalf("from send time: %+v; expected the stall hidden below p99 but present at max", naive)
	}
}

func TestPaceStopsAtDeadline(t *testing.T) {
	s := Schedule{Rate: 1000, Count: 1000}
	clk := &fakeClock{}
	ctx, cancel := context.WithCancel(context.Background())
	sent := pace(ctx, clk, s, 0, 1, func(seq int64, intended time.Duration) {
		if seq == 10 {
			cancel() // the run's deadline passes while this record is sent
		}
	})
	if sent != 11 {
		t.Fatalf("sent %d after cancelling at the 11th, want 11", sent)
	}
}
