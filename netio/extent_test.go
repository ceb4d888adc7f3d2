package netio

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"spool/segment"
)

// TestWriteExtent: both fetch paths send exactly the extent's bytes (a
// range in the middle of a file, larger than the copy path's chunk) over
// a loopback TCP connection, the copy path over a connection that is not
// TCP too; an extent past the file's end is an error, not short data.
func TestWriteExtent(t *testing.T) {
	content := make([]byte, 3*copyChunkBytes+123)
	rand.New(rand.NewSource(1)).Read(content)
	path := filepath.Join(t.TempDir(), "segment.log")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	extent := segment.Extent{File: file, Position: 1000, Length: int64(len(content)) - 2000}
	want := content[1000 : len(content)-1000]

	for name, path := range map[string]FetchPath{"sendfile": FetchSendfile, "copy": FetchCopy} {
		got, err := sendOverLoopback(t, func(conn net.Conn) error {
			_, err := WriteExtent(conn, extent, path, nil)
			return err
		})
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, %v; want the %d bytes of the extent", name, len(got), err, len(want))
		}
	}
	// Not TCP (a pipe): sendfile falls back to the copy path.
	server, client := net.Pipe()
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(client); done <- b }()
	if _, err := WriteExtent(server, extent, FetchSendfile, nil); err != nil {
		t.Fatal(err)
	}
	server.Close()
	if got := <-done; !bytes.Equal(got, want) {
		t.Errorf("over a pipe: %d bytes, want %d", len(got), len(want))
	}

	past := segment.Extent{File: file, Position: int64(len(content)) - 10, Length: 100}
	_, err = sendOverLoopback(t, func(conn net.Conn) error {
		_, err := WriteExtent(conn, past, FetchCopy, nil)
		return err
	})
	if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		t.Errorf("copy path, an extent past the end of the file: %v, want an EOF error", err)
	}
	_, err = sendOverLoopback(t, func(conn net.Conn) error {
		_, err := WriteExtent(conn, past, FetchSendfile, nil)
		return err
	})
	if !errors.Is(err, io.ErrShortWrite) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("sendfile path, an extent past the end of the file: %v, want a short write or an unexpected EOF", err)
	}
}

// sendOverLoopback runs send on one end of a loopback TCP connection and
// returns what the other end read until send closed it.
func sendOverLoopback(t *testing.T, send func(net.Conn) error) ([]byte, error) {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	received := make(chan []byte, 1)
	go func() {
		conn, err := listener.Accept()
		if err != nil {
			received <- nil
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(conn)
		received <- b
	}()
	conn, err := net.Dial("tcp", listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sendErr := send(conn)
	conn.Close()
	return <-received, sendErr
}
