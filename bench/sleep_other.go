//go:build !linux

package bench

import "time"

// Elsewhere the pacer sleeps as Go does, with the runtime timer's
// resolution (see sleep_linux.go).
func pinPacerThread() {}

func preciseSleep(d time.Duration) { time.Sleep(d) }
