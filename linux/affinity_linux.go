//go:build linux

package linux

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// PinThreadToCPU locks the calling goroutine to its OS thread and pins that
// thread to one CPU (sched_setaffinity, Linux 2.5.8). The goroutine must stay
// locked for the pin to mean anything; the Go runtime's own threads are not
// affected. It returns an error for a CPU outside the process's allowed set.
func PinThreadToCPU(cpu int) error {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	return nil
}

// AllowedCPUs lists the CPUs this process may run on, in order.
func AllowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, err
	}
	var cpus []int
	for cpu := 0; cpu < len(set)*64 && len(cpus) < set.Count(); cpu++ {
		if set.IsSet(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	return cpus, nil
}
