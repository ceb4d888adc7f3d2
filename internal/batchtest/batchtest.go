// Package batchtest builds Kafka RecordBatch v2 bytes for tests, benchmarks
// and the crash-test child: uncompressed records with keys, values and
// timestamps, and a correct CRC-32C. It imports nothing of ours, so every
// package's tests may use it.
package batchtest

import (
	"encoding/binary"
	"hash/crc32"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Record is one record to encode.
type Record struct {
	Key       []byte // nil: null key
	Value     []byte
	Timestamp int64 // absolute, ms
	Tombstone bool  // a null value (Value is ignored)
}

// Options are the batch-level fields a test may set.
type Options struct {
	ProducerID    int64 // -1 when not idempotent (Build's default)
	ProducerEpoch int16
	BaseSequence  int32
	Attributes    int16 // codec bits are set as given; records are not compressed
}

// Build encodes records (at least one) as an uncompressed batch with base
// offset 0, as a producer sends it.
func Build(records []Record) []byte {
	return BuildWith(records, Options{ProducerID: -1, BaseSequence: -1})
}

// BuildWith is Build with batch-level options.
func BuildWith(records []Record, opts Options) []byte {
	const headerBytes = 61
	b := make([]byte, headerBytes, headerBytes+len(records)*32)
	baseTimestamp, maxTimestamp := records[0].Timestamp, records[0].Timestamp
	for _, r := range records {
		baseTimestamp = min(baseTimestamp, r.Timestamp)
		maxTimestamp = max(maxTimestamp, r.Timestamp)
	}
	var body []byte
	for i, r := range records {
		var rec []byte
		rec = append(rec, 0) // attributes
		rec = binary.AppendVarint(rec, r.Timestamp-baseTimestamp)
		rec = binary.AppendVarint(rec, int64(i))
		if r.Key == nil {
			rec = binary.AppendVarint(rec, -1)
		} else {
			rec = binary.AppendVarint(rec, int64(len(r.Key)))
			rec = append(rec, r.Key...)
		}
		if r.Tombstone {
			rec = binary.AppendVarint(rec, -1)
		} else {
			rec = binary.AppendVarint(rec, int64(len(r.Value)))
			rec = append(rec, r.Value...)
		}
		rec = binary.AppendVarint(rec, 0) // headers
		body = binary.AppendVarint(body, int64(len(rec)))
		body = append(body, rec...)
	}
	b = append(b, body...)
	binary.BigEndian.PutUint64(b[0:], 0)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[12:], 0xffffffff) // partitionLeaderEpoch -1
	b[16] = 2
	binary.BigEndian.PutUint16(b[21:], uint16(opts.Attributes))
	binary.BigEndian.PutUint32(b[23:], uint32(len(records)-1))
	binary.BigEndian.PutUint64(b[27:], uint64(baseTimestamp))
	binary.BigEndian.PutUint64(b[35:], uint64(maxTimestamp))
	binary.BigEndian.PutUint64(b[43:], uint64(opts.ProducerID))
	binary.BigEndian.PutUint16(b[51:], uint16(opts.ProducerEpoch))
	binary.BigEndian.PutUint32(b[53:], uint32(opts.BaseSequence))
	binary.BigEndian.PutUint32(b[57:], uint32(len(records)))
	Reseal(b)
	return b
}

// Reseal recomputes the CRC of a batch after a test edited its covered
// bytes.
func Reseal(b []byte) {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
}

// Values builds a batch of n records whose values are valueBytes long, the
// first byte of each value being its index, timestamps from ts on.
func Values(n, valueBytes int, ts int64) []byte {
	records := make([]Record, n)
	for i := range records {
		value := make([]byte, valueBytes)
		if valueBytes > 0 {
			value[0] = byte(i)
		}
		records[i] = Record{Value: value, Timestamp: ts + int64(i)}
	}
	return Build(records)
}

// Sized builds one batch of about totalBytes (at least the header plus one
// record), for throughput benchmarks: records of 1 KiB values, or one record
// when smaller.
func Sized(totalBytes int, ts int64) []byte {
	const recordValueBytes = 1024
	n := totalBytes / (recordValueBytes + 16)
	if n < 1 {
		return Values(1, max(totalBytes-80, 0), ts)
	}
	return Values(n, recordValueBytes, ts)
}
