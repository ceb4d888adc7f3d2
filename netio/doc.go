// Package netio owns the Kafka listener and its connections, and nothing
// else: size-checked framing, pipelined requests answered in order,
// per-connection limits and timeouts, and the write path of responses:
// header bytes by writev, record extents by pread into a reused buffer
// and write (fetch.path=copy, the default by measurement) or by sendfile
// (fetch.path=sendfile). WriteExtent is that extent writer; the hot
// standby (package replica, which imports this one; never the other way)
// sends its batches with it too.
//
// Each connection has two goroutines. The reader reads a frame (a large
// Produce frame is handed to wire's early scanner as it arrives), hands
// it to the wire server, and queues the response; a handler may return
// before its work is done (Produce waits for its appends in the
// response's deferred half), so the reader goes on to the next request
// while the shards work. The writer completes and sends responses strictly
// in the order they were queued. At most inFlightMax responses and
// inFlightBytesMax of held request frames wait per connection; beyond
// that the reader stops reading, which is the connection's back-pressure.
//
// The io_uring path (linux.ProbeIOUring at start-up) is not built yet: the
// Go netpoller serves every connection.
package netio
