package engine

import "sync/atomic"

// Long-poll fetches park on a per-log notifier that the writer wakes when
// the high watermark moves. The notifier is a channel closed on wake and
// replaced by a fresh one; the writer replaces it only when some reader took
// it since the last wake, so appends with nobody waiting allocate nothing.
type notifier struct {
	current atomic.Pointer[chan struct{}]
	taken   atomic.Bool
}

func (n *notifier) init() {
	ch := make(chan struct{})
	n.current.Store(&ch)
}

// wait returns a channel that is closed at the next wake. Any goroutine.
func (n *notifier) wait() <-chan struct{} {
	ch := *n.current.Load()
	n.taken.Store(true)
	return ch
}

// wake closes the current channel if a reader took it. Any goroutine:
// concurrent wakes each close the channel they swapped out.
func (n *notifier) wake() {
	if !n.taken.Load() {
		return
	}
	n.taken.Store(false)
	fresh := make(chan struct{})
	old := n.current.Swap(&fresh)
	close(*old)
}

// HighWatermarkChanged returns a channel closed the next time the high
// watermark (or last stable offset) moves, or the log fails or closes. A
// long-poll fetch takes it, re-checks the offsets (a move may have happened
// just before), and then waits on it. Any goroutine.
func (l *Log) HighWatermarkChanged() <-chan struct{} { return l.hwm.wait() }

// SetConfig changes the log's configuration: retention, segment.ms,
// max.message.bytes and the flush policy at once; segment.bytes and index
// settings for the next segment rolled. Writer only.
func (l *Log) SetConfig(cfg LogConfig) error {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg.Logger = l.cfg.Logger
	cfg.Segment.Faults = l.cfg.Segment.Faults
	l.cfg = cfg
	return nil
}

// Config is the log's configuration. Writer only.
func (l *Log) Config() LogConfig { return l.cfg }
