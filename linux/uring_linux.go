//go:build linux

package linux

import (
	"fmt"
	"os"

	"github.com/pawelgaczynski/giouring"
)

// IOUringProbe is the outcome of the start-up io_uring probe.
type IOUringProbe struct {
	Available bool
	// Reason says why io_uring is unavailable, and what to do about it.
	Reason string
}

// ProbeIOUring creates and tears down a small ring (io_uring_setup, Linux 5.1;
// the zero-copy paths need 5.19+ and are probed separately where used). A
// kernel with io_uring disabled by sysctl, a seccomp filter (many container
// runtimes) or an old kernel makes this fail; the broker then serves fetches by
// sendfile on the Go netpoller.
func ProbeIOUring() IOUringProbe {
	if disabled, err := os.ReadFile("/proc/sys/kernel/io_uring_disabled"); err == nil && len(disabled) > 0 && disabled[0] == '2' {
		return IOUringProbe{Reason: "io_uring is disabled by kernel.io_uring_disabled=2; set it to 0 to enable the io_uring path"}
	}
	ring, err := giouring.CreateRing(4)
	if err != nil {
		return IOUringProbe{Reason: fmt.Sprintf("io_uring_setup failed (%v): the kernel is older than 5.1, or a seccomp profile blocks io_uring; the sendfile path is used instead", err)}
	}
	ring.QueueExit()
	return IOUringProbe{Available: true}
}
