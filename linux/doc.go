// Package linux is the one door to the syscalls spool uses below the engine:
// space reservation (fallocate), durability (fdatasync, msync), page-cache
// hints and residency (madvise, mincore), CPU affinity, and the start-up probe
// for io_uring.
//
// Each wrapper is small and names the kernel version it needs. Every file with
// a _linux suffix has an _other twin so the project still builds (and the
// storage engine still works, more slowly or less safely, as each stub says)
// on other systems. This package imports nothing of ours and starts no
// goroutines.
package linux
