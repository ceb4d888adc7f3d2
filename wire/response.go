package wire

import (
	"encoding/binary"

	"spool/engine"
	"spool/segment"
)

// Response is one encoded response: a 4-byte size, the header and body
// bytes, and, for Fetch, file extents of record batches between them that
// netio sends without copying. A connection reuses one Response for every
// request, so steady-state encoding allocates nothing.
type Response struct {
	buf     []byte
	parts   []part
	reads   []engine.ReadResult // segments held until the response is sent
	noReply bool

	// deferred, when set, completes the response later: the handler has
	// handed its work off (Produce: batches submitted to their shards) and
	// deferred waits for it and encodes. netio's writer calls Complete, in
	// order, while its reader goes on to the next request.
	deferred func(*Response)
	// frame is the request frame a deferred response keeps until it is
	// complete: the shards read the records straight from it.
	frame []byte
	// early holds a Produce frame's appends submitted while it arrived
	// (SetEarly); handleProduce takes them.
	early *EarlyProduce
}

// SetEarly gives the next Handle the appends e submitted while the frame
// arrived. The caller calls e.Abandon after Handle, which does nothing
// once handleProduce has taken them.
func (r *Response) SetEarly(e *EarlyProduce) { r.early = e }

// takeEarly hands handleProduce the early submissions (nil if none).
func (r *Response) takeEarly() []earlySubmission {
	e := r.early
	r.early = nil
	return e.take()
}

// Deferred reports that the response must be completed (Complete) before
// it is written.
func (r *Response) Deferred() bool { return r.deferred != nil }

// Complete runs the deferred part of the handler (waiting for the work it
// handed off) and encodes the response. It may block. Writer only.
func (r *Response) Complete() {
	deferred := r.deferred
	r.deferred = nil
	if deferred != nil {
		deferred(r)
	}
}

// AdoptFrame gives the response the request frame its deferred part still
// reads; TakeFrame returns it once the response is complete.
func (r *Response) AdoptFrame(frame []byte) { r.frame = frame }

// TakeFrame hands back the adopted frame (nil if none).
func (r *Response) TakeFrame() []byte {
	frame := r.frame
	r.frame = nil
	return frame
}

// deferTo makes finish complete the response later (see Deferred).
func (r *Response) deferTo(finish func(*Response)) {
	r.reset()
	r.deferred = finish
}

// part is a byte range of buf or a file extent.
type part struct {
	start, end int
	extent     segment.Extent
}

func (r *Response) reset() {
	r.buf = r.buf[:0]
	r.parts = r.parts[:0]
	r.noReply = false
}

// begin reserves the size prefix and writes the response header.
func (r *Response) begin(correlationID int32, flexibleHeader bool) {
	r.reset()
	r.buf = append(r.buf, 0, 0, 0, 0)
	r.buf = appendResponseHeader(r.buf, correlationID, flexibleHeader)
}

// mark is where the bytes not yet given to a part begin.
func (r *Response) mark() int {
	if n := len(r.parts); n > 0 {
		return r.parts[n-1].end
	}
	return 0
}

// addExtent closes the bytes written so far into a part and adds an extent.
func (r *Response) addExtent(e segment.Extent) {
	r.parts = append(r.parts, part{start: r.mark(), end: len(r.buf)})
	r.parts = append(r.parts, part{start: len(r.buf), end: len(r.buf), extent: e})
}

// finish closes the last bytes into a part and patches the size prefix.
func (r *Response) finish() {
	r.parts = append(r.parts, part{start: r.mark(), end: len(r.buf)})
	size := int64(0)
	for _, p := range r.parts {
		size += int64(p.end-p.start) + p.extent.Length
	}
	binary.BigEndian.PutUint32(r.buf[0:], uint32(size-4))
}

// NoReply reports that the request gets no response (Produce with acks=0).
func (r *Response) NoReply() bool { return r.noReply }

// Each calls fn for each part in order: a byte slice, or an extent (with
// bytes nil). The bytes are valid until the next request.
func (r *Response) Each(fn func(bytes []byte, extent segment.Extent) error) error {
	for _, p := range r.parts {
		if p.extent.File != nil {
			if p.extent.Length == 0 {
				continue
			}
			if err := fn(nil, p.extent); err != nil {
				return err
			}
			continue
		}
		if p.end > p.start {
			if err := fn(r.buf[p.start:p.end], segment.Extent{}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Release lets the segments behind the extents go; netio calls it once the
// response is written (or abandoned).
func (r *Response) Release() {
	for i := range r.reads {
		r.reads[i].Release()
	}
	clear(r.reads)
	r.reads = r.reads[:0]
}
