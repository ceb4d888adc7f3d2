package segment

import (
	"encoding/binary"
	"errors"
)

// A record inside an uncompressed batch (Kafka's Record, magic 2). Integers
// are zig-zag varints:
//
//	length          varint   bytes after this field
//	attributes      int8     unused, 0
//	timestampDelta  varlong  from the batch's baseTimestamp
//	offsetDelta     varint   from the batch's baseOffset
//	key, value, headers      not read here
//
// spool reads records to answer offset-by-time questions inside a batch and
// to replay its own internal topics (__consumer_offsets); everything else
// works on whole batches.

// ErrCompressed says the records of a batch cannot be walked without
// decompressing it.
var ErrCompressed = errors.New("segment: batch is compressed")

// ErrRecordMalformed says a record does not parse.
var ErrRecordMalformed = errors.New("segment: malformed record")

// RecordPosition is a record's offset, timestamp, key and value. Key and
// Value are sub-slices of the batch, nil when null (a null value is a
// tombstone in a compacted topic).
type RecordPosition struct {
	Offset    Offset
	Timestamp int64
	Key       []byte
	Value     []byte
}

// WalkRecords calls visit with the offset and timestamp of each record of an
// uncompressed batch b (a whole, validated batch) until visit returns false.
// It allocates nothing. Batches with LogAppendTime report the batch's
// maxTimestamp for every record, as Kafka does.
func WalkRecords(b []byte, visit func(RecordPosition) bool) error {
	h, err := ParseHeader(b)
	if err != nil {
		return err
	}
	if h.Codec() != CodecNone {
		return ErrCompressed
	}
	if h.TotalBytes() > int64(len(b)) {
		return ErrBatchLength
	}
	return walkRecordBytes(&h, b[BatchHeaderBytes:h.TotalBytes()], func(r RecordPosition, _ []byte) bool { return visit(r) })
}

// WalkAnyRecords is WalkRecords for a batch that may be compressed: its
// records are decompressed into scratch (grown as needed, at most maxBytes)
// first. It returns scratch for reuse; the records visit sees are
// sub-slices of b or of scratch.
func WalkAnyRecords(b []byte, scratch []byte, maxBytes int64, visit func(RecordPosition) bool) ([]byte, error) {
	h, records, scratch, err := batchRecords(b, scratch, maxBytes)
	if err != nil {
		return scratch, err
	}
	return scratch, walkRecordBytes(&h, records, func(r RecordPosition, _ []byte) bool { return visit(r) })
}

// batchRecords returns a whole batch's header and its records' bytes,
// decompressed into scratch when the batch is compressed.
func batchRecords(b []byte, scratch []byte, maxBytes int64) (Header, []byte, []byte, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, nil, scratch, err
	}
	if h.TotalBytes() > int64(len(b)) {
		return h, nil, scratch, ErrBatchLength
	}
	records := b[BatchHeaderBytes:h.TotalBytes()]
	if h.Codec() == CodecNone {
		return h, records, scratch, nil
	}
	if scratch, err = Decompress(scratch[:0], records, h.Codec(), maxBytes); err != nil {
		return h, nil, scratch, err
	}
	return h, scratch, scratch, nil
}

// walkRecordBytes calls visit with each of the h.RecordCount records in
// records (uncompressed record bytes) and the record's whole encoding,
// length prefix included, until visit returns false.
func walkRecordBytes(h *Header, records []byte, visit func(r RecordPosition, raw []byte) bool) error {
	rest := records
	for i := int32(0); i < h.RecordCount; i++ {
		length, n := binary.Varint(rest)
		if n <= 0 || length < 0 || length > int64(len(rest)-n) {
			return ErrRecordMalformed
		}
		raw := rest[:n+int(length)]
		record := rest[n : n+int(length)]
		rest = rest[n+int(length):]
		if len(record) < 1 {
			return ErrRecordMalformed
		}
		cursor := record[1:] // attributes
		timestampDelta, n := binary.Varint(cursor)
		if n <= 0 {
			return ErrRecordMalformed
		}
		cursor = cursor[n:]
		offsetDelta, n := binary.Varint(cursor)
		if n <= 0 {
			return ErrRecordMalformed
		}
		cursor = cursor[n:]
		key, cursor, ok := nullableBytes(cursor)
		if !ok {
			return ErrRecordMalformed
		}
		value, _, ok := nullableBytes(cursor)
		if !ok {
			return ErrRecordMalformed
		}
		position := RecordPosition{Offset: h.BaseOffset + Offset(offsetDelta), Timestamp: h.BaseTimestamp + timestampDelta, Key: key, Value: value}
		if h.LogAppendTime() {
			position.Timestamp = h.MaxTimestamp
		}
		if !visit(position, raw) {
			return nil
		}
	}
	return nil
}

// nullableBytes reads a varint length and that many bytes (-1: null).
func nullableBytes(b []byte) (field, rest []byte, ok bool) {
	length, n := binary.Varint(b)
	if n <= 0 || length < -1 || length > int64(len(b)-n) {
		return nil, nil, false
	}
	if length < 0 {
		return nil, b[n:], true
	}
	return b[n : n+int(length)], b[n+int(length):], true
}
