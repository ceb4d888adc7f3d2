// Package netio owns listeners and connections: size-checked framing,
// pipelined requests with in-order responses, per-connection limits and
// timeouts, and the writev + sendfile (or io_uring) path for fetch responses.
//
// It arrives with the broker issue; this file keeps the layout of
// docs/ARCHITECTURE.md visible in the tree until then.
package netio
