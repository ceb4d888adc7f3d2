package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Kafka RecordBatch v2, the unit spool stores byte for byte as the producer
// sent it. All integers are big-endian.
//
//	offset size field                 covered by CRC  written by
//	     0    8 baseOffset            no              broker (stamped on append)
//	     8    4 batchLength           no              producer: bytes after this field
//	    12    4 partitionLeaderEpoch  no              broker (stamped on append)
//	    16    1 magic                 no              producer: always 2
//	    17    4 crc                   no              producer: CRC-32C of bytes 21..end
//	    21    2 attributes            yes             bits 0-2 codec, 3 timestamp type,
//	                                                  4 transactional, 5 control,
//	                                                  6 delete horizon set
//	    23    4 lastOffsetDelta       yes             recordCount-1 for a producer's batch
//	    27    8 baseTimestamp         yes             ms since the epoch, or -1
//	    35    8 maxTimestamp          yes             ms since the epoch, or -1
//	    43    8 producerId            yes             -1 when not idempotent
//	    51    2 producerEpoch         yes
//	    53    4 baseSequence          yes
//	    57    4 recordCount           yes
//	    61    … records               yes             possibly compressed
//
// Because baseOffset and partitionLeaderEpoch lie outside the CRC, the broker
// can stamp them without recomputing it; that is what lets a fetch send the
// stored bytes without touching them.
//
// These constants describe a format fixed by Kafka: never change them.
const (
	batchOffsetBaseOffset      = 0
	batchOffsetLength          = 8
	batchOffsetLeaderEpoch     = 12
	batchOffsetMagic           = 16
	batchOffsetCRC             = 17
	batchOffsetAttributes      = 21
	batchOffsetLastOffsetDelta = 23
	batchOffsetBaseTimestamp   = 27
	batchOffsetMaxTimestamp    = 35
	batchOffsetProducerID      = 43
	batchOffsetProducerEpoch   = 51
	batchOffsetBaseSequence    = 53
	batchOffsetRecordCount     = 57

	// BatchHeaderBytes is the size of the fixed header before the records.
	BatchHeaderBytes = 61
	// batchLengthPrefixBytes is what batchLength does not count.
	batchLengthPrefixBytes = 12
	// batchMagic is the only record format spool stores.
	batchMagic = 2

	attributeCodecMask     = 0x07
	attributeLogAppendTime = 0x08
	attributeTransactional = 0x10
	attributeControl       = 0x20

	// recordBytesMin is the smallest encoded record: length, attributes,
	// timestamp delta, offset delta, key length, value length and header
	// count, one byte each. It bounds recordCount by the bytes present.
	recordBytesMin = 7
)

// timestampNone is Kafka's NO_TIMESTAMP.
const timestampNone = -1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Codec is the compression codec in a batch's attributes.
type Codec uint8

// The codecs Kafka defines.
const (
	CodecNone Codec = iota
	CodecGzip
	CodecSnappy
	CodecLZ4
	CodecZstd
)

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", uint8(c))
}

// Header is a parsed view of a batch's fixed header.
type Header struct {
	BaseOffset      Offset
	Length          int32 // batchLength: bytes after the length field
	LeaderEpoch     int32
	Magic           int8
	CRC             uint32
	Attributes      int16
	LastOffsetDelta int32
	BaseTimestamp   int64
	MaxTimestamp    int64
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
	RecordCount     int32
}

// TotalBytes is the whole batch's size on disk.
func (h *Header) TotalBytes() int64 { return int64(h.Length) + batchLengthPrefixBytes }

// LastOffset is the offset of the batch's last record.
func (h *Header) LastOffset() Offset { return h.BaseOffset + Offset(h.LastOffsetDelta) }

// NextOffset is the offset after the batch.
func (h *Header) NextOffset() Offset { return h.LastOffset() + 1 }

// Codec is the batch's compression codec.
func (h *Header) Codec() Codec { return Codec(h.Attributes & attributeCodecMask) }

// LogAppendTime reports whether the timestamps are the broker's append time.
func (h *Header) LogAppendTime() bool { return h.Attributes&attributeLogAppendTime != 0 }

// Transactional reports whether the batch belongs to a transaction.
func (h *Header) Transactional() bool { return h.Attributes&attributeTransactional != 0 }

// Control reports whether the batch is a transaction marker.
func (h *Header) Control() bool { return h.Attributes&attributeControl != 0 }

// Errors of batch validation. Callers map them to Kafka's CORRUPT_MESSAGE
// (or INVALID_RECORD); recovery treats them as the end of the valid log.
var (
	ErrBatchShort       = errors.New("segment: batch shorter than its header")
	ErrBatchLength      = errors.New("segment: batch length disagrees with the bytes given")
	ErrBatchMagic       = errors.New("segment: batch magic is not 2")
	ErrBatchCRC         = errors.New("segment: batch CRC-32C mismatch")
	ErrBatchRecordCount = errors.New("segment: batch record count disagrees with lastOffsetDelta")
	ErrBatchTimestamp   = errors.New("segment: batch timestamps are not sane")
)

// ParseHeader reads the fixed header of the batch at the start of b. It checks
// only what it must to read safely: that the header is present, that
// batchLength is at least the header's own remainder, and the magic byte. It
// does not check the CRC or that the whole batch is present.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < BatchHeaderBytes {
		return h, ErrBatchShort
	}
	h.BaseOffset = Offset(binary.BigEndian.Uint64(b[batchOffsetBaseOffset:]))
	h.Length = int32(binary.BigEndian.Uint32(b[batchOffsetLength:]))
	h.LeaderEpoch = int32(binary.BigEndian.Uint32(b[batchOffsetLeaderEpoch:]))
	h.Magic = int8(b[batchOffsetMagic])
	h.CRC = binary.BigEndian.Uint32(b[batchOffsetCRC:])
	h.Attributes = int16(binary.BigEndian.Uint16(b[batchOffsetAttributes:]))
	h.LastOffsetDelta = int32(binary.BigEndian.Uint32(b[batchOffsetLastOffsetDelta:]))
	h.BaseTimestamp = int64(binary.BigEndian.Uint64(b[batchOffsetBaseTimestamp:]))
	h.MaxTimestamp = int64(binary.BigEndian.Uint64(b[batchOffsetMaxTimestamp:]))
	h.ProducerID = int64(binary.BigEndian.Uint64(b[batchOffsetProducerID:]))
	h.ProducerEpoch = int16(binary.BigEndian.Uint16(b[batchOffsetProducerEpoch:]))
	h.BaseSequence = int32(binary.BigEndian.Uint32(b[batchOffsetBaseSequence:]))
	h.RecordCount = int32(binary.BigEndian.Uint32(b[batchOffsetRecordCount:]))
	if h.Length < BatchHeaderBytes-batchLengthPrefixBytes {
		return h, ErrBatchLength
	}
	if h.Magic != batchMagic {
		return h, ErrBatchMagic
	}
	return h, nil
}

// ValidateBatch checks that b is exactly one well-formed RecordBatch v2:
// the length agrees with len(b), magic is 2, the CRC-32C over
// attributes..end matches, the record count agrees with lastOffsetDelta and
// is possible for the bytes present, and the timestamps are sane (each is -1
// or non-negative, and the max is not below the base). The records themselves
// are not decoded: a batch may be compressed, and the CRC already covers them.
func ValidateBatch(b []byte) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	if h.TotalBytes() != int64(len(b)) {
		return h, ErrBatchLength
	}
	return h, checkBody(&h, b, false)
}

// ValidateStoredBatch checks a batch as it may lie in a log: like
// ValidateBatch, except that compaction may have removed records, so the
// record count may be anything from 0 to lastOffsetDelta+1 (the batch keeps
// its offset range). A standby appends its leader's batches with it.
func ValidateStoredBatch(b []byte) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	if h.TotalBytes() != int64(len(b)) {
		return h, ErrBatchLength
	}
	return h, checkBody(&h, b, true)
}

// checkBody runs the checks past the header on a batch whose length is
// already known to match b. stored relaxes the record count for batches a
// compaction rewrote (see ValidateStoredBatch); a producer's batch always
// holds exactly lastOffsetDelta+1 records.
func checkBody(h *Header, b []byte, stored bool) error {
	if crc32.Checksum(b[batchOffsetAttributes:], castagnoli) != h.CRC {
		return ErrBatchCRC
	}
	if stored {
		if h.RecordCount < 0 || h.LastOffsetDelta < 0 || h.RecordCount > h.LastOffsetDelta+1 {
			return ErrBatchRecordCount
		}
	} else if h.RecordCount < 1 || h.LastOffsetDelta != h.RecordCount-1 {
		return ErrBatchRecordCount
	}
	if h.Codec() == CodecNone && int64(h.RecordCount)*recordBytesMin > int64(len(b)-BatchHeaderBytes) {
		return ErrBatchRecordCount
	}
	if h.BaseTimestamp < timestampNone || h.MaxTimestamp < timestampNone {
		return ErrBatchTimestamp
	}
	if h.BaseTimestamp != timestampNone && h.MaxTimestamp != timestampNone && h.MaxTimestamp < h.BaseTimestamp {
		return ErrBatchTimestamp
	}
	return nil
}

// stampBatch writes the broker-owned fields, both outside the CRC.
func stampBatch(b []byte, baseOffset Offset, leaderEpoch int32) {
	binary.BigEndian.PutUint64(b[batchOffsetBaseOffset:], uint64(baseOffset))
	binary.BigEndian.PutUint32(b[batchOffsetLeaderEpoch:], uint32(leaderEpoch))
}

// StampLogAppendTime turns a validated batch into a LogAppendTime batch, as
// a topic with message.timestamp.type=LogAppendTime requires: it sets the
// timestamp-type attribute and writes now as maxTimestamp (which consumers
// then read as every record's timestamp), and recomputes the CRC, since
// both fields lie inside it. It updates h to match.
func StampLogAppendTime(b []byte, h *Header, now int64) {
	h.Attributes |= attributeLogAppendTime
	h.MaxTimestamp = now
	binary.BigEndian.PutUint16(b[batchOffsetAttributes:], uint16(h.Attributes))
	binary.BigEndian.PutUint64(b[batchOffsetMaxTimestamp:], uint64(now))
	h.CRC = crc32.Checksum(b[batchOffsetAttributes:], castagnoli)
	binary.BigEndian.PutUint32(b[batchOffsetCRC:], h.CRC)
}
