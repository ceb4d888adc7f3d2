package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Compression of a batch's records, for the places spool must look inside a
// compressed batch: compaction (which filters records and writes the batch
// again with the same codec), the null-key check on produce to a compacted
// topic, and ListOffsets by time (the exact record inside a batch). The
// formats are Kafka's:
//
//	gzip    RFC 1952 gzip stream
//	snappy  xerial framing (what Kafka's Java clients and broker write):
//	          8 bytes  magic 0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0x00
//	          4 bytes  version (1), 4 bytes minimum compatible version (1)
//	          then blocks: 4-byte big-endian length + a raw snappy block
//	        or one raw snappy block (what some clients write); both are read,
//	        xerial is written.
//	lz4     LZ4 frame format
//	zstd    one or more zstd frames
//
// These describe formats fixed by Kafka: never change them.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const (
	xerialHeaderBytes = 16
	// xerialBlockBytes is the uncompressed size of one written block (the
	// xerial library's default).
	xerialBlockBytes = 32 << 10
)

// zstdWindowMax bounds the window a zstd frame may declare, which the
// decoder allocates up front. Producers' frames use far less (the Java
// client's default level has a 2 MiB window; single-segment frames from
// franz-go or librdkafka declare their batch's size, 1 MiB by default); a
// frame declaring more is refused rather than trusted.
const zstdWindowMax = 32 << 20

// zstdPooledWindowMax bounds the window a pooled zstd decoder accepts. A
// decoder keeps the buffer it allocated for a frame's window (the window
// plus two blocks) for the frames after it, so this is also what each
// decoder left in the pool can hold on to. 8 MiB covers the windows of
// zstd's levels up to 19 on a stream of unknown size, as the Java client
// writes (level 3, its default: 2 MiB; 17 to 19: 8 MiB), and the
// single-segment frames of batches up to 8 MiB. A frame declaring more, up
// to zstdWindowMax, is decoded again by a decoder made for it and dropped
// afterwards, as every call did before decoders were pooled.
const zstdPooledWindowMax = 8 << 20

// ErrDecompress says a batch's records do not decompress.
var ErrDecompress = errors.New("segment: records do not decompress")

// Decompress appends to dst the records of a batch compressed with codec,
// refusing to produce more than maxBytes.
func Decompress(dst, src []byte, codec Codec, maxBytes int64) ([]byte, error) {
	start := len(dst)
	var err error
	switch codec {
	case CodecNone:
		return append(dst, src...), nil
	case CodecGzip:
		dst, err = decompressGzip(dst, src, maxBytes)
	case CodecLZ4:
		dst, err = readAllLimited(dst, lz4.NewReader(bytes.NewReader(src)), maxBytes)
	case CodecZstd:
		dst, err = decompressZstd(dst, src, maxBytes)
	case CodecSnappy:
		dst, err = decompressSnappy(dst, src, maxBytes)
	default:
		err = fmt.Errorf("unknown codec %d", codec)
	}
	if err == nil && int64(len(dst)-start) > maxBytes {
		err = fmt.Errorf("more than %d bytes", maxBytes)
	}
	if err != nil {
		return dst[:start], fmt.Errorf("%w: %s: %w", ErrDecompress, codec, err)
	}
	return dst, nil
}

// gzipReader is a gzip reader kept for reuse with the reader of its input:
// a gzip.Reader allocates about 40 KB (its inflater's window and Huffman
// tables), which Reset keeps.
type gzipReader struct {
	src bytes.Reader
	gz  gzip.Reader
}

var gzipReaders = sync.Pool{New: func() any { return new(gzipReader) }}

func decompressGzip(dst, src []byte, maxBytes int64) ([]byte, error) {
	r := gzipReaders.Get().(*gzipReader)
	r.src.Reset(src)
	// Reset starts the reader afresh (header, checksum, inflater state)
	// whatever the last input did to it, an error included.
	err := r.gz.Reset(&r.src)
	if err == nil {
		dst, err = readAllLimited(dst, &r.gz, maxBytes)
	}
	// The reader keeps no reference to src for the pool.
	r.src.Reset(nil)
	gzipReaders.Put(r)
	return dst, err
}

// zstdReader is a zstd decoder kept for reuse with the reader of its input.
// zstd.NewReader allocates its block decoder, frame decoder and tables
// (tens of KB at concurrency 1), and a frame's first block allocates the
// window's buffer (2 MiB and more for a frame as the Java client writes
// it); a decoder reset for the next input keeps all of them.
type zstdReader struct {
	src bytes.Reader
	dec *zstd.Decoder
}

var zstdReaders = sync.Pool{New: func() any { return new(zstdReader) }}

// newZstdDecoder makes a stream decoder that refuses a frame declaring a
// window (for a single-segment frame, a content size) over window bytes
// before allocating it. Its options are fixed; only its input changes.
func newZstdDecoder(window uint64) (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(window), zstd.WithDecoderMaxMemory(window))
}

// decompressZstd streams src's zstd frames into dst, at most maxBytes.
//
// The frame header's window (for a single-segment frame, its declared
// content size) is a length the producer chose, and the decoder allocates
// it before decoding anything: a 17-byte frame declaring 200 MiB allocated
// 200 MiB. So the window is capped, and the output, streamed through
// readAllLimited, grows only with what actually decodes, never past
// maxBytes.
//
// The cap does not follow maxBytes: a decoder's options are fixed when it
// is made, and pooled decoders serve calls with any maxBytes. Nor need it:
// the window is working memory, not output (a frame may declare a window
// larger than its content, as the Java client's 2 MiB does for a batch of
// a few KB), and the output is bounded by maxBytes whatever the window. A
// call thus holds at most the window plus maxBytes. Pooled decoders accept
// windows up to zstdPooledWindowMax; a frame declaring more, which no
// producer's default writes, is decoded from the start by a decoder made
// for this call alone that accepts up to min(maxBytes, zstdWindowMax), the
// bound every call had before decoders were pooled, and is dropped
// afterwards so that no pooled decoder keeps a window over
// zstdPooledWindowMax. (A malformed block can fail with the same errors;
// its second attempt fails again, at the cost every call had before.)
func decompressZstd(dst, src []byte, maxBytes int64) ([]byte, error) {
	out, err := decompressZstdPooled(dst, src, maxBytes)
	if !errors.Is(err, zstd.ErrWindowSizeExceeded) && !errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return out, err
	}
	window := min(maxBytes, zstdWindowMax)
	if window <= zstdPooledWindowMax {
		return dst, err
	}
	dec, err := newZstdDecoder(uint64(window))
	if err != nil {
		return dst, err
	}
	defer dec.Close()
	if err := dec.Reset(bytes.NewReader(src)); err != nil {
		return dst, err
	}
	return readAllLimited(dst, dec, maxBytes)
}

// decompressZstdPooled is decompressZstd with a pooled decoder, which
// refuses a window over zstdPooledWindowMax.
func decompressZstdPooled(dst, src []byte, maxBytes int64) ([]byte, error) {
	r := zstdReaders.Get().(*zstdReader)
	if r.dec == nil {
		var err error
		if r.dec, err = newZstdDecoder(zstdPooledWindowMax); err != nil {
			return dst, err
		}
	}
	r.src.Reset(src)
	// Reset starts a new stream whatever the last one did: a decoder is
	// documented reusable after a failed stream, and one stopped part way
	// (past maxBytes) is drained first. Reset fails only on a closed
	// decoder; such a one is not put back.
	if err := r.dec.Reset(&r.src); err != nil {
		return dst, err
	}
	dst, err := readAllLimited(dst, r.dec, maxBytes)
	// Reset(nil) ends the stream (drops the decoder's reference to the
	// input's reader, returns its block decoder to its free list); with
	// r.src emptied too, nothing in the pool refers to src.
	r.dec.Reset(nil)
	r.src.Reset(nil)
	zstdReaders.Put(r)
	return dst, err
}

func readAllLimited(dst []byte, r io.Reader, maxBytes int64) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	n, err := buf.ReadFrom(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return dst, err
	}
	if n > maxBytes {
		return dst, fmt.Errorf("more than %d bytes", maxBytes)
	}
	return buf.Bytes(), nil
}

func decompressSnappy(dst, src []byte, maxBytes int64) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialMagic) {
		return snappyBlock(dst, src, maxBytes)
	}
	start := len(dst)
	if len(src) < xerialHeaderBytes {
		return dst, errors.New("short xerial header")
	}
	rest := src[xerialHeaderBytes:]
	for len(rest) > 0 {
		if len(rest) < 4 {
			return dst, errors.New("short xerial block length")
		}
		n := int64(binary.BigEndian.Uint32(rest))
		rest = rest[4:]
		if n > int64(len(rest)) {
			return dst, errors.New("xerial block past the end")
		}
		var err error
		// The blocks share the budget: each may use only what the ones
		// before it left.
		if dst, err = snappyBlock(dst, rest[:n], maxBytes-int64(len(dst)-start)); err != nil {
			return dst, err
		}
		rest = rest[n:]
	}
	return dst, nil
}

// snappyMaxExpansion bounds what one byte of a snappy block can decode to:
// the densest element, a 2-byte-offset copy, spends 3 bytes on 64 (a
// literal spends at least one byte per byte). A block whose header claims
// more is not snappy; refusing it before the output is allocated keeps a
// few forged bytes from costing maxBytes of memory.
const snappyMaxExpansion = 22

// snappyBlock appends one raw snappy block's contents to dst.
func snappyBlock(dst, block []byte, maxBytes int64) ([]byte, error) {
	n, err := s2.DecodedLen(block)
	if err != nil {
		return dst, err
	}
	if int64(n) > maxBytes {
		return dst, fmt.Errorf("more than %d bytes", maxBytes)
	}
	if int64(n) > snappyMaxExpansion*int64(len(block)) {
		return dst, fmt.Errorf("a %d-byte snappy block cannot hold %d bytes", len(block), n)
	}
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	if _, err := s2.Decode(dst[start:], block); err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// Compress appends src compressed with codec to dst.
func Compress(dst, src []byte, codec Codec) ([]byte, error) {
	switch codec {
	case CodecNone:
		return append(dst, src...), nil
	case CodecGzip:
		buf := bytes.NewBuffer(dst)
		w := gzip.NewWriter(buf)
		if _, err := w.Write(src); err != nil {
			return dst, err
		}
		if err := w.Close(); err != nil {
			return dst, err
		}
		return buf.Bytes(), nil
	case CodecLZ4:
		buf := bytes.NewBuffer(dst)
		w := lz4.NewWriter(buf)
		if _, err := w.Write(src); err != nil {
			return dst, err
		}
		if err := w.Close(); err != nil {
			return dst, err
		}
		return buf.Bytes(), nil
	case CodecZstd:
		e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return dst, err
		}
		defer e.Close()
		return e.EncodeAll(src, dst), nil
	case CodecSnappy:
		dst = append(dst, xerialMagic...)
		dst = binary.BigEndian.AppendUint32(dst, 1)
		dst = binary.BigEndian.AppendUint32(dst, 1)
		for len(src) > 0 {
			chunk := src[:min(len(src), xerialBlockBytes)]
			src = src[len(chunk):]
			encoded := s2.EncodeSnappy(nil, chunk)
			dst = binary.BigEndian.AppendUint32(dst, uint32(len(encoded)))
			dst = append(dst, encoded...)
		}
		return dst, nil
	}
	return dst, fmt.Errorf("unknown codec %d", codec)
}
