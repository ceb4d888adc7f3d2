//go:build !linux

package linux

// IOUringProbe is the outcome of the start-up io_uring probe.
type IOUringProbe struct {
	Available bool
	Reason    string
}

// ProbeIOUring reports io_uring as unavailable off Linux.
func ProbeIOUring() IOUringProbe {
	return IOUringProbe{Reason: "io_uring exists only on Linux"}
}
