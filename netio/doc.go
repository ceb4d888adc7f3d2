// Package netio owns the Kafka listener and its connections: size-checked
// framing, pipelined requests answered in order, per-connection limits and
// timeouts, and the write path of responses: header bytes by writev, record
// extents by sendfile (or, on the copy path, pread into a pooled buffer and
// write).
//
// Each connection has two goroutines. The reader reads a frame, hands it to
// the wire server, and queues the response; the writer sends responses in
// the order they were queued. Requests on one connection are therefore
// handled one at a time and answered in order (as Kafka does), while
// reading the next request overlaps writing the previous response. At most
// inFlightMax responses wait to be written; beyond that the reader stops
// reading, which is the connection's back-pressure.
//
// The io_uring path (linux.ProbeIOUring at start-up) is not built yet: the
// Go netpoller with sendfile serves every connection.
package netio
