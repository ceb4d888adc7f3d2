package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Recompressing a producer's batch for a topic whose compression.type names
// a codec (Kafka's LogValidator does the same when the batch's codec is not
// the topic's): the records are decompressed, each is parsed (so that a
// batch whose records do not parse is refused rather than given a fresh,
// valid CRC), and they are compressed again with the topic's codec and
// level. The header keeps every field but three: batchLength (the new
// size), attributes (the codec bits; the timestamp type, transactional and
// control bits stay), and the CRC, computed afresh. baseOffset,
// lastOffsetDelta, the timestamps, producer id, epoch, base sequence and the
// record count are the producer's, so an idempotent producer's sequences and
// the offsets its records take are what they would have been.
//
// The caller runs it off the shard (the request goroutine): compressing a
// 1 MiB batch takes milliseconds, which on a shard goroutine would stall
// every partition of the shard.

// Compression levels, as Kafka's KIP-390 defines them for its topic and
// producer configs compression.<codec>.level. Never change them: they are
// Kafka's ranges.
const (
	GzipLevelMin     = 1
	GzipLevelMax     = 9
	GzipLevelDefault = -1 // Deflater.DEFAULT_COMPRESSION: zlib's 6
	LZ4LevelMin      = 1
	LZ4LevelMax      = 17
	LZ4LevelDefault  = 9
	ZstdLevelMin     = -131072 // zstd's ZSTD_minCLevel()
	ZstdLevelMax     = 22
	ZstdLevelDefault = 3
)

// ErrRecompressRecords says a batch's records, once decompressed, are not
// what its header claims (a record does not parse, the count is wrong, or
// bytes follow the last record).
var ErrRecompressRecords = errors.New("segment: records of the batch do not parse")

// RecompressBatch appends to dst the whole, validated batch b with its
// records compressed with codec at level (a Kafka level of that codec; 0
// takes the codec's default). The records are decompressed into *scratch
// (grown as needed and kept for the next call), at most maxBytes: a batch
// whose records decompress past it fails with ErrDecompress, and no buffer
// is ever sized from a length the batch declares. visit, when not nil, is
// called with each record (its offset relative to the batch's baseOffset
// as the producer sent it) before anything is compressed.
func RecompressBatch(dst, b []byte, codec Codec, level int, scratch *[]byte, maxBytes int64, visit func(RecordPosition)) ([]byte, error) {
	h, records, decompressed, err := batchRecords(b, (*scratch)[:0], maxBytes)
	*scratch = decompressed
	if err != nil {
		return dst, err
	}
	if err := walkWholeRecords(&h, records, visit); err != nil {
		return dst, err
	}
	start := len(dst)
	dst = append(dst, b[:BatchHeaderBytes]...)
	if dst, err = CompressLevel(dst, records, codec, level); err != nil {
		return dst[:start], err
	}
	batch := dst[start:]
	attributes := uint16(h.Attributes)&^attributeCodecMask | uint16(codec)
	binary.BigEndian.PutUint32(batch[batchOffsetLength:], uint32(len(batch)-batchLengthPrefixBytes))
	binary.BigEndian.PutUint16(batch[batchOffsetAttributes:], attributes)
	binary.BigEndian.PutUint32(batch[batchOffsetCRC:], crc32.Checksum(batch[batchOffsetAttributes:], castagnoli))
	return dst, nil
}

// WalkBatchRecords calls visit with every record of the whole, validated
// batch b, decompressing into *scratch (at most maxBytes) when it is
// compressed, and checks that the records fill the batch exactly.
func WalkBatchRecords(b []byte, scratch *[]byte, maxBytes int64, visit func(RecordPosition)) error {
	h, records, decompressed, err := batchRecords(b, (*scratch)[:0], maxBytes)
	*scratch = decompressed
	if err != nil {
		return err
	}
	return walkWholeRecords(&h, records, visit)
}

// walkWholeRecords walks h.RecordCount records and refuses bytes after
// them, as Kafka refuses a batch whose records leave bytes over.
func walkWholeRecords(h *Header, records []byte, visit func(RecordPosition)) error {
	used, count := 0, int32(0)
	err := walkRecordBytes(h, records, func(r RecordPosition, raw []byte) bool {
		used += len(raw)
		count++
		if visit != nil {
			visit(r)
		}
		return true
	})
	switch {
	case err != nil:
		return fmt.Errorf("%w: %w", ErrRecompressRecords, err)
	case count != h.RecordCount:
		return fmt.Errorf("%w: %d records of %d", ErrRecompressRecords, count, h.RecordCount)
	case used != len(records):
		return fmt.Errorf("%w: %d bytes after the last record", ErrRecompressRecords, len(records)-used)
	}
	return nil
}

// CompressLevel appends src compressed with codec at a Kafka level of that
// codec (0: the codec's default) to dst. Encoders are pooled per level.
//
// How Kafka's levels map onto the Go codecs:
//
//	gzip  1..9 and -1 are deflate's levels, as in Kafka.
//	lz4   Kafka's default, 9, compresses with LZ4's fast compressor (as
//	      Kafka's writer does for its default level, so that KIP-390 kept
//	      the old speed); other levels are LZ4 HC levels, and pierrec/lz4
//	      has HC levels 1..9, so 10..17 compress as HC 9. Blocks of 64
//	      KiB, as Kafka's own writer uses.
//	zstd  klauspost/compress has four encoders; zstd levels map onto them
//	      as zstd.EncoderLevelFromZstd maps them (below 3 fastest, 3..5
//	      default, 6..9 better, 10 and up best). Frames are standard, so
//	      any consumer decodes them.
//	snappy has no level: xerial framing, as Compress writes.
func CompressLevel(dst, src []byte, codec Codec, level int) ([]byte, error) {
	switch codec {
	case CodecGzip:
		return compressGzip(dst, src, level)
	case CodecLZ4:
		return compressLZ4(dst, src, level)
	case CodecZstd:
		return compressZstd(dst, src, level)
	}
	return Compress(dst, src, codec)
}

// gzipWriters pools gzip writers per level: index level+1, so -1 is 0.
var gzipWriters [GzipLevelMax + 2]sync.Pool

func compressGzip(dst, src []byte, level int) ([]byte, error) {
	if level == 0 {
		level = GzipLevelDefault
	}
	if level != GzipLevelDefault && (level < GzipLevelMin || level > GzipLevelMax) {
		return dst, fmt.Errorf("gzip level %d outside [%d, %d] and not -1", level, GzipLevelMin, GzipLevelMax)
	}
	return compressPooled(dst, src, &gzipWriters[level+1], func(w io.Writer) (*gzip.Writer, error) {
		return gzip.NewWriterLevel(w, level)
	})
}

// pooledWriter is a compressing writer a pool keeps between calls.
type pooledWriter interface {
	io.WriteCloser
	Reset(io.Writer)
}

// compressPooled appends src compressed onto dst with a writer from pool
// (made by newWriter when the pool is empty), and returns the writer to
// the pool, reset to hold no buffer.
func compressPooled[W pooledWriter](dst, src []byte, pool *sync.Pool, newWriter func(io.Writer) (W, error)) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	w, ok := pool.Get().(W)
	if ok {
		w.Reset(buf)
	} else {
		var err error
		if w, err = newWriter(buf); err != nil {
			return dst, err
		}
	}
	_, err := w.Write(src)
	if err == nil {
		err = w.Close()
	}
	w.Reset(nil)
	pool.Put(w)
	if err != nil {
		return dst, err
	}
	return buf.Bytes(), nil
}

// lz4Writers pools lz4 writers: 0 the fast compressor, 1..9 HC levels.
var lz4Writers [10]sync.Pool

func compressLZ4(dst, src []byte, level int) ([]byte, error) {
	if level == 0 {
		level = LZ4LevelDefault
	}
	if level < LZ4LevelMin || level > LZ4LevelMax {
		return dst, fmt.Errorf("lz4 level %d outside [%d, %d]", level, LZ4LevelMin, LZ4LevelMax)
	}
	// Kafka's default level uses LZ4's fast compressor, as Kafka's own
	// writer does for it; the others are HC levels, 10 to 17 as 9.
	pierrecLevel := lz4.Fast
	if level != LZ4LevelDefault {
		level = min(level, 9)
		pierrecLevel = lz4.CompressionLevel(1 << (8 + level)) // Level1 is 1<<9
	} else {
		level = 0
	}
	return compressPooled(dst, src, &lz4Writers[level], func(out io.Writer) (*lz4.Writer, error) {
		w := lz4.NewWriter(out)
		return w, w.Apply(lz4.CompressionLevelOption(pierrecLevel), lz4.BlockSizeOption(lz4.Block64Kb))
	})
}

// zstdEncoders pools zstd encoders per klauspost level (1..4).
var zstdEncoders [zstd.SpeedBestCompression + 1]sync.Pool

func compressZstd(dst, src []byte, level int) ([]byte, error) {
	if level == 0 {
		level = ZstdLevelDefault
	}
	if level < ZstdLevelMin || level > ZstdLevelMax {
		return dst, fmt.Errorf("zstd level %d outside [%d, %d]", level, ZstdLevelMin, ZstdLevelMax)
	}
	encoderLevel := zstd.EncoderLevelFromZstd(level)
	pool := &zstdEncoders[encoderLevel]
	e, _ := pool.Get().(*zstd.Encoder)
	if e == nil {
		var err error
		if e, err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(encoderLevel)); err != nil {
			return dst, err
		}
	}
	dst = e.EncodeAll(src, dst)
	pool.Put(e)
	return dst, nil
}
