package bench

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// The Go runtime rounds a sleep shorter than a millisecond up to one when
// the process is otherwise idle (its netpoller waits in whole
// milliseconds): measured on the development VM, time.Sleep(100µs) took
// 1.1 ms at the median. A pacer that slept that way would add a millisecond
// of its own to every latency at moderate rates. nanosleep(2) on a thread
// of its own with a 1 ns timer slack overshot by 24–33 µs at the median
// instead, so each pacer takes an OS thread for the length of its run.

// pinPacerThread locks the calling goroutine to its OS thread and sets the
// thread's timer slack to 1 ns. The thread is never unlocked: it ends with
// the goroutine, and no other goroutine inherits its timer slack.
func pinPacerThread() {
	runtime.LockOSThread()
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
}

// preciseSleep sleeps for d with nanosleep(2), which blocks only this
// thread; the runtime hands the processor to other goroutines meanwhile.
func preciseSleep(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	for unix.Nanosleep(&ts, &ts) == unix.EINTR {
	}
}
