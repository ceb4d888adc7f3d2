//go:build linux

package linux

import (
	"errors"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Allocate reserves disk blocks for [offset, offset+length) of f and extends
// its size to cover them (fallocate mode 0, Linux 2.6.23; tmpfs since 3.5).
//
// This is what makes writing through a shared mapping safe: a store into a
// page with no block behind it raises SIGBUS on a full disk, while a failed
// reservation here is an ordinary ENOSPC error for the caller. Filesystems
// without fallocate (EOPNOTSUPP) fall back to writing zeros, which reserves the
// same blocks the slow way.
func Allocate(f *os.File, offset, length int64) error {
	if length <= 0 {
		return nil
	}
	err := ignoringEINTR(func() error { return unix.Fallocate(int(f.Fd()), 0, offset, length) })
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return allocateByWriting(f, offset, length)
	}
	if err != nil {
		return &os.PathError{Op: "fallocate", Path: f.Name(), Err: err}
	}
	return nil
}

// Fdatasync flushes f's data and the metadata needed to read it back
// (Linux 2.6.0). On the preallocated files of the storage engine the size never
// changes on append, so this is the cheapest full durability point.
func Fdatasync(f *os.File) error {
	err := ignoringEINTR(func() error { return unix.Fdatasync(int(f.Fd())) })
	if err != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
	}
	return nil
}

// Msync writes back the pages of a shared mapping that b lies in and waits for
// them (MS_SYNC). b may start anywhere: it is widened to page boundaries, as
// the kernel requires a page-aligned address.
func Msync(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	addr, length := pageSpan(b)
	if _, _, errno := unix.Syscall(unix.SYS_MSYNC, addr, length, unix.MS_SYNC); errno != 0 {
		return errno
	}
	return nil
}

// Advice is a madvise hint.
type Advice int

const (
	// AdviceNormal undoes earlier hints.
	AdviceNormal Advice = unix.MADV_NORMAL
	// AdviceSequential asks for aggressive read-ahead (recovery scans).
	AdviceSequential Advice = unix.MADV_SEQUENTIAL
	// AdviceRandom turns read-ahead off (index files).
	AdviceRandom Advice = unix.MADV_RANDOM
	// AdviceWillNeed starts reading the pages in now.
	AdviceWillNeed Advice = unix.MADV_WILLNEED
	// AdviceDontNeed drops the pages from this mapping (not from the page cache).
	AdviceDontNeed Advice = unix.MADV_DONTNEED
	// AdvicePopulateWrite faults the pages in writable now, in one call
	// (Linux 5.14), instead of one page fault per page on first store.
	AdvicePopulateWrite Advice = unix.MADV_POPULATE_WRITE
)

// Madvise gives the kernel a hint about how b will be used. b is widened to
// page boundaries.
func Madvise(b []byte, advice Advice) error {
	if len(b) == 0 {
		return nil
	}
	addr, length := pageSpan(b)
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, addr, length, uintptr(advice)); errno != 0 {
		return errno
	}
	return nil
}

// ResidentPages reports how many of the pages spanned by b are in the page
// cache (mincore, Linux 2.4), and how many pages b spans. Readers use it to
// tell a warm tail from a cold segment before touching a mapping.
func ResidentPages(b []byte) (resident, total int, err error) {
	if len(b) == 0 {
		return 0, 0, nil
	}
	addr, length := pageSpan(b)
	pageBytes := uintptr(os.Getpagesize())
	total = int((length + pageBytes - 1) / pageBytes)
	vec := make([]byte, total)
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, addr, length, uintptr(unsafe.Pointer(unsafe.SliceData(vec))))
	if errno != 0 {
		return 0, total, errno
	}
	for _, v := range vec {
		resident += int(v & 1)
	}
	return resident, total, nil
}

func ignoringEINTR(call func() error) error {
	for {
		err := call()
		if err != unix.EINTR {
			return err
		}
	}
}

// SeekData returns the first position at or after offset that holds data
// (lseek SEEK_DATA, Linux 3.1). Preallocated but never-written ranges count
// as holes on ext4, xfs and tmpfs, which lets a recovery scan skip the
// unwritten tail of a segment without faulting it in. It returns the file
// size when only holes follow, and offset itself where the filesystem cannot
// tell.
func SeekData(f *os.File, offset int64) (int64, error) {
	position, err := unix.Seek(int(f.Fd()), offset, unix.SEEK_DATA)
	if err == unix.ENXIO {
		info, statErr := f.Stat()
		if statErr != nil {
			return offset, statErr
		}
		return info.Size(), nil
	}
	if err == unix.EINVAL || err == unix.EOPNOTSUPP {
		return offset, nil
	}
	if err != nil {
		return offset, err
	}
	return position, nil
}

// DropCache asks the kernel to drop the clean page-cache pages of
// [offset, offset+length) of f (posix_fadvise POSIX_FADV_DONTNEED, Linux
// 2.6). Dirty pages are only queued for writeback, and pages mapped by a
// process or still referenced (a socket sending them) stay: the call is
// advice, never a loss of data.
func DropCache(f *os.File, offset, length int64) error {
	if length <= 0 {
		return nil
	}
	if err := unix.Fadvise(int(f.Fd()), offset, length, unix.FADV_DONTNEED); err != nil {
		return &os.PathError{Op: "fadvise", Path: f.Name(), Err: err}
	}
	return nil
}

// StartWriteback starts writing the dirty pages of [offset, offset+length)
// of f to the device and returns without waiting for them
// (sync_file_range SYNC_FILE_RANGE_WRITE, Linux 2.6.17). It makes nothing
// durable on its own: an fdatasync must follow. Its use is to put the
// writes of several files in flight together before their fdatasyncs.
func StartWriteback(f *os.File, offset, length int64) error {
	if length <= 0 {
		return nil
	}
	err := ignoringEINTR(func() error { return unix.SyncFileRange(int(f.Fd()), offset, length, unix.SYNC_FILE_RANGE_WRITE) })
	if err != nil {
		return &os.PathError{Op: "sync_file_range", Path: f.Name(), Err: err}
	}
	return nil
}

// PageCacheOnly reports whether the file system holding path keeps file data
// only in the page cache (tmpfs, ramfs), where DropCache can drop nothing.
func PageCacheOnly(path string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false, &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	return st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC, nil
}
