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
