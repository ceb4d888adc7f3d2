//go:build !linux

package linux

import (
	"io"
	"os"
	"syscall"
)

// Sendfile copies through user space off Linux.
func Sendfile(dst syscall.Conn, src *os.File, offset, count int64) (int64, error) {
	w, ok := dst.(io.Writer)
	if !ok {
		return 0, ErrUnsupported
	}
	return io.Copy(w, io.NewSectionReader(src, offset, count))
}
