package linux

import (
	"os"
	"unsafe"
)

// zeroChunkBytes bounds the buffer allocateByWriting writes from.
const zeroChunkBytes = 1 << 20

var zeroChunk [zeroChunkBytes]byte

// allocateByWriting reserves blocks by writing zeros, for filesystems (and
// systems) without fallocate.
func allocateByWriting(f *os.File, offset, length int64) error {
	for length > 0 {
		n := int64(zeroChunkBytes)
		if length < n {
			n = length
		}
		written, err := f.WriteAt(zeroChunk[:n], offset)
		if err != nil {
			return err
		}
		offset += int64(written)
		length -= int64(written)
	}
	return nil
}

// pageSpan widens b to start on a page boundary, keeping its end, and
// returns the address and length the kernel's mapping calls want. b must be
// memory the kernel mapped (a file mapping), never Go heap memory, since the
// address leaves Go's sight as a plain integer.
func pageSpan(b []byte) (addr, length uintptr) {
	pageBytes := uintptr(os.Getpagesize())
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	addr = start &^ (pageBytes - 1)
	return addr, uintptr(len(b)) + (start - addr)
}
