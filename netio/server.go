package netio

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"spool/internal/metrics"
	"spool/linux"
	"spool/segment"
	"spool/wire"
)

// Limits and defaults.
const (
	// RequestBytesMaxDefault is socket.request.max.bytes.
	RequestBytesMaxDefault = 100 << 20
	// IdleTimeoutDefault is connections.max.idle.ms.
	IdleTimeoutDefault = 10 * time.Minute
	// RequestTimeoutDefault bounds reading the rest of a started frame and
	// writing one response: a peer that stalls mid-frame is cut off.
	RequestTimeoutDefault = 30 * time.Second
	// ConnectionsMaxDefault bounds open connections.
	ConnectionsMaxDefault = 10_000
	// inFlightMax bounds responses queued per connection: requests read
	// and not yet answered, deferred ones included.
	inFlightMax = 16
	// inFlightBytesMax bounds the request frames a connection's deferred
	// responses keep (their records are still being appended); the reader
	// waits for answers beyond it, except for a lone request.
	inFlightBytesMax = 64 << 20
	// frameGrowBytes is how much a frame buffer grows per read while a
	// large frame arrives, so memory follows the bytes received rather
	// than the size the peer announced.
	frameGrowBytes = 1 << 20
	// frameKeepBytes: a connection's frame buffer larger than this is
	// dropped after its request, so one huge request does not pin memory;
	// below it the buffer is reused, which matters: producers send frames
	// of a little over 1 MiB, and a fresh buffer per request (zeroed by the
	// allocator) cost a quarter of the broker's CPU in the produce profile.
	frameKeepBytes = 16 << 20
	// copyChunkBytes is the copy path's read size.
	copyChunkBytes = 256 << 10
)

// FetchPath chooses how record extents reach the socket.
type FetchPath int

const (
	// FetchSendfile sends extents with sendfile(2), inside the kernel.
	FetchSendfile FetchPath = iota
	// FetchCopy reads extents with pread into a pooled buffer and writes it.
	FetchCopy
)

// Config configures a Server.
type Config struct {
	RequestBytesMax int64
	IdleTimeout     time.Duration
	RequestTimeout  time.Duration
	ConnectionsMax  int
	FetchPath       FetchPath
	Logger          *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.RequestBytesMax <= 0 {
		c.RequestBytesMax = RequestBytesMaxDefault
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = IdleTimeoutDefault
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = RequestTimeoutDefault
	}
	if c.ConnectionsMax <= 0 {
		c.ConnectionsMax = ConnectionsMaxDefault
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Server serves the Kafka protocol on a listener.
type Server struct {
	cfg     Config
	handler *wire.Server

	mu       sync.Mutex
	listener net.Listener
	conns    map[net.Conn]struct{}
	closed   bool
	wg       sync.WaitGroup

	// ctx is the parent of every connection's context; Close cancels it
	// so that parked requests (fetch long polls, JoinGroup) end at once.
	ctx       context.Context
	cancelAll context.CancelFunc
}

// NewServer makes a server that answers with handler.
func NewServer(cfg Config, handler *wire.Server) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg.withDefaults(), handler: handler, conns: map[net.Conn]struct{}{}, ctx: ctx, cancelAll: cancel}
}

// Serve accepts connections until Close. It returns nil after Close.
func (s *Server) Serve(listener net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.listener = listener
	s.mu.Unlock()
	for {
		conn, err := listener.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var temporary interface{ Temporary() bool }
			if errors.As(err, &temporary) && temporary.Temporary() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		s.mu.Lock()
		if s.closed || len(s.conns) >= s.cfg.ConnectionsMax {
			s.mu.Unlock()
			conn.Close()
			continue
		}
		s.conns[conn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(conn)
	}
}

// Close stops accepting, closes every connection and waits for their
// goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.cancelAll()
	if s.listener != nil {
		s.listener.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// connection is one client connection's state.
type connection struct {
	server    *Server
	conn      net.Conn
	frame     []byte
	responses chan *wire.Response
	free      chan *wire.Response
	buffers   net.Buffers
	pending   [][]byte
	copyBuf   []byte

	// Frames held by deferred responses, and spare frames they returned.
	heldBytes atomic.Int64
	released  chan struct{} // a held frame came back
	spares    chan []byte
}

func (s *Server) serveConn(conn net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
		conn.Close()
	}()
	if tcp, ok := conn.(*net.TCPConn); ok {
		tcp.SetNoDelay(true)
	}
	c := &connection{
		server:    s,
		conn:      conn,
		responses: make(chan *wire.Response, inFlightMax),
		free:      make(chan *wire.Response, inFlightMax+1),
		released:  make(chan struct{}, 1),
		spares:    make(chan []byte, inFlightMax),
	}
	for i := 0; i < inFlightMax+1; i++ {
		c.free <- &wire.Response{}
	}
	ctx, cancel := context.WithCancel(s.ctx)
	if host, _, err := net.SplitHostPort(c.conn.RemoteAddr().String()); err == nil {
		ctx = wire.WithClientHost(ctx, "/"+host)
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop(cancel)
	}()
	c.readLoop(ctx)
	close(c.responses)
	<-writerDone
	cancel()
}

// readLoop reads and handles requests until the peer closes, a limit is
// broken or the writer fails.
func (c *connection) readLoop(ctx context.Context) {
	for {
		size, ok := c.readSize()
		if !ok {
			return
		}
		for held := c.heldBytes.Load(); held > 0 && held+size > inFlightBytesMax; held = c.heldBytes.Load() {
			select {
			case <-c.released:
			case <-ctx.Done():
				return
			}
		}
		c.conn.SetReadDeadline(time.Now().Add(c.server.cfg.RequestTimeout))
		// A large Produce frame's partitions are submitted as their
		// records arrive (wire/produce_early.go).
		var early *wire.EarlyProduce
		var progress func([]byte)
		var copyFrame func(dst, src []byte)
		if size >= wire.EarlyProduceMinBytes {
			looked := false
			progress = func(read []byte) {
				defer func() {
					if recovered := recover(); recovered != nil {
						// A bug, never input we expect: stop starting
						// early; the handler does the rest as usual.
						c.server.cfg.Logger.Error("early produce panicked", "remote", c.conn.RemoteAddr().String(), "panic", recovered, "stack", string(debug.Stack()))
						early.Stop()
					}
				}()
				if !looked && len(read) >= 8 {
					looked = true
					early = c.handler().EarlyProduce(read, int(size))
				}
				if early != nil {
					early.Advance(read)
				}
			}
			copyFrame = func(dst, src []byte) { early.CopyFrame(dst, src) }
		}
		frame, err := c.readFrame(int(size), progress, copyFrame)
		if err != nil {
			early.Abandon()
			return
		}
		metrics.BytesIn.Add(4 + size)
		var resp *wire.Response
		select {
		case resp = <-c.free:
		case <-ctx.Done():
			early.Abandon()
			return
		}
		resp.SetEarly(early)
		err = c.handle(ctx, frame, resp)
		resp.SetEarly(nil)
		early.Abandon() // nothing when the handler took the appends
		if err != nil {
			c.server.cfg.Logger.Debug("closing connection", "remote", c.conn.RemoteAddr().String(), "reason", err)
			resp.Release()
			return
		}
		if resp.Deferred() {
			// The shards still read this frame: the response keeps it
			// and the next request gets a spare.
			resp.AdoptFrame(c.frame)
			c.heldBytes.Add(int64(cap(c.frame)))
			select {
			case c.frame = <-c.spares:
			default:
				c.frame = nil
			}
		} else if cap(c.frame) > frameKeepBytes {
			c.frame = nil
		}
		if resp.NoReply() {
			resp.Release()
			c.free <- resp
			continue
		}
		select {
		case c.responses <- resp:
		case <-ctx.Done():
			c.complete(resp) // the shards may still read its frame
			resp.Release()
			return
		}
	}
}

// readSize reads the next frame's size and checks it; false closes the
// connection. The connection may be idle until the frame's first byte;
// from it the frame has socket.request.timeout.ms, its size prefix
// included, so a peer dribbling the four size bytes holds the connection
// no longer.
func (c *connection) readSize() (int64, bool) {
	var sizeBuf [4]byte
	c.conn.SetReadDeadline(time.Now().Add(c.server.cfg.IdleTimeout))
	if _, err := io.ReadFull(c.conn, sizeBuf[:1]); err != nil {
		return 0, false
	}
	c.conn.SetReadDeadline(time.Now().Add(c.server.cfg.RequestTimeout))
	if _, err := io.ReadFull(c.conn, sizeBuf[1:]); err != nil {
		return 0, false
	}
	size := int64(int32(binary.BigEndian.Uint32(sizeBuf[:])))
	if size < 8 || size > c.server.cfg.RequestBytesMax {
		// Too small to hold a request header, negative, or over
		// socket.request.max.bytes: Kafka closes the connection.
		c.server.cfg.Logger.Debug("closing connection: frame size out of bounds", "remote", c.conn.RemoteAddr().String(), "size", size)
		return 0, false
	}
	return size, true
}

// handler is the protocol layer.
func (c *connection) handler() *wire.Server { return c.server.handler }

// handle runs the handler, turning a panic (a bug, never input we expect)
// into a closed connection and a logged stack, so one bad request cannot
// take the broker down.
func (c *connection) handle(ctx context.Context, frame []byte, resp *wire.Response) (err error) {
	defer func() {
		if recovered := recover(); recovered != nil {
			c.server.cfg.Logger.Error("request handler panicked; closing the connection", "remote", c.conn.RemoteAddr().String(), "panic", recovered, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panic: %v", recovered)
		}
	}()
	return c.server.handler.Handle(ctx, frame, resp)
}

// complete runs a deferred response's second half, turning a panic into
// a closed connection as handle does.
func (c *connection) complete(resp *wire.Response) (err error) {
	defer func() {
		if recovered := recover(); recovered != nil {
			c.server.cfg.Logger.Error("deferred response panicked; closing the connection", "remote", c.conn.RemoteAddr().String(), "panic", recovered, "stack", string(debug.Stack()))
			err = fmt.Errorf("deferred response panic: %v", recovered)
		}
	}()
	resp.Complete()
	return nil
}

// readFrame reads size bytes into the connection's frame buffer, growing it
// as bytes arrive. With progress, it reads what the socket has and calls
// progress with all the frame read so far after each read. With copyFrame,
// a grown buffer is filled by it instead of copy (early produce leaves out
// the records it submitted: their shard may still be writing them).
func (c *connection) readFrame(size int, progress func(read []byte), copyFrame func(dst, src []byte)) ([]byte, error) {
	// Grow as bytes arrive: at most frameGrowBytes (or doubling) ahead
	// of what the peer has actually sent.
	have := 0
	buf := c.frame[:cap(c.frame)]
	for have < size {
		if have == len(buf) {
			grown := make([]byte, min(size, max(len(buf)*2, have+frameGrowBytes)))
			if copyFrame != nil {
				copyFrame(grown, buf[:have])
			} else {
				copy(grown, buf[:have])
			}
			buf = grown
		}
		var n int
		var err error
		if progress == nil {
			n, err = io.ReadFull(c.conn, buf[have:min(size, len(buf))])
		} else {
			n, err = c.conn.Read(buf[have:min(size, len(buf))])
		}
		have += n
		if err != nil {
			return nil, err
		}
		if progress != nil && n > 0 {
			progress(buf[:have])
		}
	}
	c.frame = buf[:size]
	return c.frame, nil
}

// writeLoop writes queued responses in order; on an error it cancels the
// connection.
func (c *connection) writeLoop(cancel context.CancelFunc) {
	failed := false
	for resp := range c.responses {
		// Always complete, even after a failed write: the deferred part
		// waits until the shards are done with the frame.
		if err := c.complete(resp); err != nil && !failed {
			failed = true
			cancel()
			c.conn.Close()
		}
		if frame := resp.TakeFrame(); frame != nil {
			c.heldBytes.Add(-int64(cap(frame)))
			if cap(frame) <= frameKeepBytes {
				select {
				case c.spares <- frame[:0]:
				default:
				}
			}
			select {
			case c.released <- struct{}{}:
			default:
			}
		}
		if !failed {
			c.conn.SetWriteDeadline(time.Now().Add(c.server.cfg.RequestTimeout))
			if err := c.write(resp); err != nil {
				failed = true
				cancel()
				c.conn.Close()
			}
		}
		resp.Release()
		c.free <- resp
	}
}

// write sends one response: runs of bytes with writev, extents with
// sendfile or the copy path.
func (c *connection) write(resp *wire.Response) error {
	c.pending = c.pending[:0]
	err := resp.Each(func(b []byte, extent segment.Extent) error {
		if b != nil {
			c.pending = append(c.pending, b)
			metrics.BytesOut.Add(int64(len(b)))
			return nil
		}
		metrics.BytesOut.Add(extent.Length)
		if err := c.flushPending(); err != nil {
			return err
		}
		return c.sendExtent(extent)
	})
	if err != nil {
		return err
	}
	return c.flushPending()
}

func (c *connection) flushPending() error {
	if len(c.pending) == 0 {
		return nil
	}
	c.buffers = append(c.buffers[:0], c.pending...)
	_, err := c.buffers.WriteTo(c.conn)
	c.pending = c.pending[:0]
	return err
}

func (c *connection) sendExtent(e segment.Extent) error {
	var err error
	c.copyBuf, err = WriteExtent(c.conn, e, c.server.cfg.FetchPath, c.copyBuf)
	return err
}

// WriteExtent writes one segment extent to conn: by sendfile when path is
// FetchSendfile and conn is TCP, else read into buf (returned, allocated
// on first use) and written. Consumer fetches and replication share it.
func WriteExtent(conn net.Conn, e segment.Extent, path FetchPath, buf []byte) ([]byte, error) {
	if path == FetchSendfile {
		if tcp, ok := conn.(*net.TCPConn); ok {
			n, err := linux.Sendfile(tcp, e.File, e.Position, e.Length)
			if err == nil && n != e.Length {
				err = io.ErrShortWrite
			}
			return buf, err
		}
	}
	if cap(buf) < copyChunkBytes {
		buf = make([]byte, copyChunkBytes)
	}
	buf = buf[:cap(buf)]
	for position, length := e.Position, e.Length; length > 0; {
		chunk := buf[:min(length, int64(len(buf)))]
		n, err := e.File.ReadAt(chunk, position)
		if n < len(chunk) && err == nil {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return buf, err
		}
		if _, err := conn.Write(chunk); err != nil {
			return buf, err
		}
		position += int64(n)
		length -= int64(n)
	}
	return buf, nil
}
