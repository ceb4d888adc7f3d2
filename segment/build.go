package segment

import (
	"encoding/binary"
	"hash/crc32"
)

// KeyValue is one record spool writes itself (into an internal topic such
// as __consumer_offsets). A nil Value is a tombstone.
type KeyValue struct {
	Key, Value []byte
}

// AppendBatch appends to dst an uncompressed RecordBatch v2 holding records
// (at least one), all stamped with timestamp (ms), base offset 0 and no
// producer id, as a producer would send it; Append stamps the offsets.
func AppendBatch(dst []byte, timestamp int64, records []KeyValue) []byte {
	return AppendBatchTimestamps(dst, timestamp, nil, records)
}

// AppendBatchTimestamps is AppendBatch with record i stamped timestamp +
// deltas[i] (deltas nil: all at timestamp).
func AppendBatchTimestamps(dst []byte, timestamp int64, deltas []int64, records []KeyValue) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, BatchHeaderBytes)...)
	maxTimestamp := timestamp
	for i, r := range records {
		var delta int64
		if deltas != nil {
			delta = deltas[i]
		}
		maxTimestamp = max(maxTimestamp, timestamp+delta)
		size := 1 + varintBytes(delta) + varintBytes(int64(i)) + nullableBytesSize(r.Key) + nullableBytesSize(r.Value) + varintBytes(0)
		dst = binary.AppendVarint(dst, int64(size))
		dst = append(dst, 0) // attributes
		dst = binary.AppendVarint(dst, delta)
		dst = binary.AppendVarint(dst, int64(i))
		dst = appendNullableBytes(dst, r.Key)
		dst = appendNullableBytes(dst, r.Value)
		dst = binary.AppendVarint(dst, 0) // no headers
	}
	b := dst[start:]
	binary.BigEndian.PutUint64(b[0:], 0)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-batchLengthPrefixBytes))
	binary.BigEndian.PutUint32(b[12:], 0xffffffff) // partitionLeaderEpoch: stamped by Append
	b[16] = 2                                      // magic
	binary.BigEndian.PutUint16(b[21:], 0)          // attributes: no codec, CreateTime
	binary.BigEndian.PutUint32(b[23:], uint32(len(records)-1))
	binary.BigEndian.PutUint64(b[27:], uint64(timestamp))
	binary.BigEndian.PutUint64(b[35:], uint64(maxTimestamp))
	binary.BigEndian.PutUint64(b[43:], 0xffffffffffffffff) // producerId -1
	binary.BigEndian.PutUint16(b[51:], 0xffff)             // producerEpoch -1
	binary.BigEndian.PutUint32(b[53:], 0xffffffff)         // baseSequence -1
	binary.BigEndian.PutUint32(b[57:], uint32(len(records)))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[batchOffsetAttributes:], castagnoli))
	return dst
}

func varintBytes(v int64) int {
	var scratch [binary.MaxVarintLen64]byte
	return binary.PutVarint(scratch[:], v)
}

func nullableBytesSize(b []byte) int {
	if b == nil {
		return varintBytes(-1)
	}
	return varintBytes(int64(len(b))) + len(b)
}

func appendNullableBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}
