package segment

import (
	"encoding/binary"
	"hash/crc32"
)

// Rewriting a batch for compaction, as Kafka's log cleaner does: the batch
// keeps its header fields (baseOffset, lastOffsetDelta, partitionLeaderEpoch,
// timestamps, producer id, epoch and base sequence, attributes), so its
// offset range and an idempotent producer's sequences stay what they were;
// only the records the cleaner keeps remain, each byte for byte (their
// offset and timestamp deltas are relative to the unchanged base), the
// record count and length shrink, a compressed batch is compressed again
// with its own codec, and the CRC is computed afresh. A batch left with no
// record either goes or, when the caller must keep it (an idempotent
// producer's last batch; a segment's last batch, which carries the
// segment's next offset), stays as an empty batch: header only, no codec.

// FilterScratch holds buffers FilterBatch reuses between calls.
type FilterScratch struct {
	decompressed []byte
	kept         []byte
}

// FilterBatch appends to dst the whole, validated batch b with only the
// records keep accepts. With nothing removed the batch is appended
// unchanged; with nothing kept it is appended as an empty batch when
// keepEmpty, else not at all. maxBytes bounds a compressed batch's records
// once decompressed. It returns the grown dst and how many records were kept
// and removed.
func FilterBatch(dst, b []byte, scratch *FilterScratch, maxBytes int64, keepEmpty bool, keep func(RecordPosition) bool) (out []byte, kept, removed int, err error) {
	h, records, decompressed, err := batchRecords(b, scratch.decompressed, maxBytes)
	scratch.decompressed = decompressed
	if err != nil {
		return dst, 0, 0, err
	}
	scratch.kept = scratch.kept[:0]
	err = walkRecordBytes(&h, records, func(r RecordPosition, raw []byte) bool {
		if keep(r) {
			kept++
			scratch.kept = append(scratch.kept, raw...)
		} else {
			removed++
		}
		return true
	})
	if err != nil {
		return dst, 0, 0, err
	}
	if removed == 0 {
		return append(dst, b[:h.TotalBytes()]...), kept, 0, nil
	}
	if kept == 0 && !keepEmpty {
		return dst, 0, removed, nil
	}
	start := len(dst)
	dst = append(dst, b[:BatchHeaderBytes]...)
	attributes := uint16(h.Attributes)
	switch {
	case kept == 0:
		attributes &^= attributeCodecMask
	case h.Codec() == CodecNone:
		dst = append(dst, scratch.kept...)
	default:
		if dst, err = Compress(dst, scratch.kept, h.Codec()); err != nil {
			return dst[:start], 0, 0, err
		}
	}
	batch := dst[start:]
	binary.BigEndian.PutUint32(batch[batchOffsetLength:], uint32(len(batch)-batchLengthPrefixBytes))
	binary.BigEndian.PutUint16(batch[batchOffsetAttributes:], attributes)
	binary.BigEndian.PutUint32(batch[batchOffsetRecordCount:], uint32(kept))
	binary.BigEndian.PutUint32(batch[batchOffsetCRC:], crc32.Checksum(batch[batchOffsetAttributes:], castagnoli))
	return dst, kept, removed, nil
}
