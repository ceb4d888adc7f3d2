package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

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
		var r *gzip.Reader
		if r, err = gzip.NewReader(bytes.NewReader(src)); err == nil {
			dst, err = readAllLimited(dst, r, maxBytes)
		}
	case CodecLZ4:
		dst, err = readAllLimited(dst, lz4.NewReader(bytes.NewReader(src)), maxBytes)
	case CodecZstd:
		// The frame header's window (for a single-segment frame, its
		// declared content size) is a length the producer chose, and the
		// decoder allocates it before decoding anything: a 17-byte frame
		// declaring 200 MiB allocated 200 MiB. So the window is capped at
		// zstdWindowMax, and the output, streamed, grows only with what
		// actually decodes.
		var d *zstd.Decoder
		if d, err = zstd.NewReader(bytes.NewReader(src), zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(uint64(min(maxBytes, zstdWindowMax))), zstd.WithDecoderMaxMemory(uint64(maxBytes))); err == nil {
			dst, err = readAllLimited(dst, d, maxBytes)
			d.Close()
		}
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
