//go:build linux

package linux

import (
	"errors"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// sendfileChunkBytes bounds one sendfile call, so a large extent does not
// hold the socket's write side in one syscall for long.
const sendfileChunkBytes = 4 << 20

// Sendfile copies count bytes of src, from position offset, to the socket
// dst inside the kernel (sendfile, Linux 2.6.33 for any file to a socket).
// It uses an explicit offset, so src's file position is untouched and many
// goroutines may send from one file at once. It waits on the Go netpoller
// when the socket is full, and returns the bytes written.
func Sendfile(dst syscall.Conn, src *os.File, offset, count int64) (int64, error) {
	socket, err := dst.SyscallConn()
	if err != nil {
		return 0, err
	}
	file, err := src.SyscallConn()
	if err != nil {
		return 0, err
	}
	var written int64
	var sendErr error
	readErr := file.Read(func(inFD uintptr) bool {
		writeErr := socket.Write(func(outFD uintptr) bool {
			for written < count {
				position := offset + written
				n, err := unix.Sendfile(int(outFD), int(inFD), &position, int(min(count-written, sendfileChunkBytes)))
				if n > 0 {
					written += int64(n)
				}
				switch {
				case err == unix.EAGAIN:
					return false // wait until the socket is writable
				case err == unix.EINTR:
					continue
				case err != nil:
					sendErr = err
					return true
				case n == 0:
					sendErr = io.ErrUnexpectedEOF // the file is shorter than the extent
					return true
				}
			}
			return true
		})
		if sendErr == nil {
			sendErr = writeErr
		}
		return true
	})
	if sendErr == nil {
		sendErr = readErr
	}
	if errors.Is(sendErr, unix.EPIPE) || errors.Is(sendErr, unix.ECONNRESET) {
		sendErr = io.ErrClosedPipe
	}
	return written, sendErr
}
