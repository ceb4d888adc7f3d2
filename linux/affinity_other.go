//go:build !linux

package linux

import (
	"errors"
	"runtime"
)

// ErrUnsupported is returned by wrappers that have no equivalent here.
var ErrUnsupported = errors.New("linux: not supported on " + runtime.GOOS)

// PinThreadToCPU locks the goroutine to its thread but cannot pin it.
func PinThreadToCPU(cpu int) error {
	runtime.LockOSThread()
	return ErrUnsupported
}

// AllowedCPUs lists 0..GOMAXPROCS-1: without an affinity call that is the
// best available guess.
func AllowedCPUs() ([]int, error) {
	cpus := make([]int, runtime.NumCPU())
	for i := range cpus {
		cpus[i] = i
	}
	return cpus, nil
}
