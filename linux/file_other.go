//go:build !linux

package linux

import "os"

// Allocate extends f by writing zeros: without fallocate there is no cheaper
// portable way to reserve the blocks before they are mapped.
func Allocate(f *os.File, offset, length int64) error {
	if length <= 0 {
		return nil
	}
	return allocateByWriting(f, offset, length)
}

// Fdatasync falls back to a full fsync.
func Fdatasync(f *os.File) error { return f.Sync() }

// Msync is a no-op here: callers follow it with Fdatasync on the file, which
// is what the engine relies on for durability off Linux.
func Msync(b []byte) error { return nil }

// Advice is a madvise hint; ignored off Linux.
type Advice int

const (
	AdviceNormal Advice = iota
	AdviceSequential
	AdviceRandom
	AdviceWillNeed
	AdviceDontNeed
	AdvicePopulateWrite
)

// Madvise is a no-op off Linux.
func Madvise(b []byte, advice Advice) error { return nil }

// ResidentPages claims every page is resident: without mincore the caller
// cannot tell, and treating data as warm is the behaviour of older brokers.
func ResidentPages(b []byte) (resident, total int, err error) {
	pageBytes := os.Getpagesize()
	total = (len(b) + pageBytes - 1) / pageBytes
	return total, total, nil
}

// SeekData cannot skip holes here: it answers offset itself.
func SeekData(f *os.File, offset int64) (int64, error) { return offset, nil }

// DropCache is a no-op off Linux.
func DropCache(f *os.File, offset, length int64) error { return nil }

// StartWriteback is a no-op off Linux.
func StartWriteback(f *os.File, offset, length int64) error { return nil }

// PageCacheOnly answers false off Linux.
func PageCacheOnly(path string) (bool, error) { return false, nil }
