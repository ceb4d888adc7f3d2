package bench

import (
	"context"
	"math"
	"time"
)

// Schedule is an open-loop send schedule: record seq is meant to be sent at
// At(seq) = Start + seq/Rate, whatever happened to the records before it.
// Times are durations since the run's base instant (a monotonic clock
// reading), so producers and consumers in one process compare them
// directly.
type Schedule struct {
	Start time.Duration
	Rate  float64 // records per second, > 0
	Count int64   // records in the schedule: seq runs over [0, Count)
}

// NewSchedule is the schedule of rate records per second for duration,
// starting at start, with at most limit records (0: no limit beyond the
// duration).
func NewSchedule(start time.Duration, rate float64, duration time.Duration, limit int64) Schedule {
	count := int64(math.Ceil(rate * duration.Seconds()))
	if limit > 0 && count > limit {
		count = limit
	}
	return Schedule{Start: start, Rate: rate, Count: count}
}

// At is the intended send time of record seq. It is computed from seq
// rather than accumulated, so rounding never drifts the schedule.
func (s Schedule) At(seq int64) time.Duration {
	return s.Start + time.Duration(float64(seq)*1e9/s.Rate)
}

// End is the intended send time of the record after the last one.
func (s Schedule) End() time.Duration { return s.At(s.Count) }

// clock is the harness's time source: the monotonic time since the run's
// base instant, and a sleep that can be cut short. Tests substitute a
// fake one to simulate stalls deterministically.
type clock interface {
	Now() time.Duration
	// SleepUntil returns at or after t, or early when ctx is done.
	SleepUntil(ctx context.Context, t time.Duration)
}

// realClock reads the monotonic clock relative to base.
type realClock struct{ base time.Time }

func (c realClock) Now() time.Duration { return time.Since(c.base) }

// sleepSliceMax bounds one uninterruptible sleep, so a cancelled run
// stops within it.
const sleepSliceMax = 10 * time.Millisecond

func (c realClock) SleepUntil(ctx context.Context, t time.Duration) {
	for ctx.Err() == nil {
		wait := t - c.Now()
		if wait <= 0 {
			return
		}
		preciseSleep(min(wait, sleepSliceMax))
	}
}

// pace sends the records seq = first, first+step, ... of the schedule, each
// no earlier than its intended time, handing send the intended time. When
// the sender falls behind (send blocked, the process descheduled, a sleep
// overshot), the records already due go out back to back, each still
// stamped with its own intended time: the delay becomes latency instead of
// disappearing from the samples. pace stops early only when ctx is done,
// and returns how many records it handed to send.
//
// Sleeping once per record would cap the rate at the timer's resolution
// (tens of µs or worse), so pace sleeps only when the next record is not yet
// due and then sends everything that has become due.
func pace(ctx context.Context, clk clock, s Schedule, first, step int64, send func(seq int64, intended time.Duration)) (sent int64) {
	for seq := first; seq < s.Count; seq += step {
		intended := s.At(seq)
		if clk.Now() < intended {
			clk.SleepUntil(ctx, intended)
		}
		// Checked per record, not per sleep, so a run that has fallen far
		// behind still stops promptly at its deadline.
		if ctx.Err() != nil {
			return sent
		}
		send(seq, intended)
		sent++
	}
	return sent
}
