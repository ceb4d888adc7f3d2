package bench

import (
	"encoding/binary"
	"testing"
)

// testBatch is a RecordBatch v2 frame as far as the sink reads one: the
// length, magic and last offset delta, records bytes of filler.
func testBatch(records int, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint32(b[batchLengthAt:], uint32(size-batchLengthFieldBytes))
	b[batchMagicAt] = 2
	binary.BigEndian.PutUint32(b[batchLastOffsetDelta:], uint32(records-1))
	return b
}

func TestSinkPartitionOffsetsAndRetention(t *testing.T) {
	p := &sinkPartition{}
	const batchBytes, retain = 1000, 10_000
	request := append(testBatch(3, batchBytes), testBatch(2, batchBytes)...)
	base, start, code := p.append(request, retain)
	if base != 0 || start != 0 || code != 0 || p.logEndOffset != 5 {
		t.Fatalf("first append: base %d start %d code %d end %d", base, start, code, p.logEndOffset)
	}
	if _, _, code := p.append(request[:batchBytes-1], retain); code != errCorruptMessage {
		t.Fatalf("torn batch accepted: code %d", code)
	}
	bad := testBatch(1, batchBytes)
	bad[batchMagicAt] = 1
	if _, _, code := p.append(bad, retain); code != errCorruptMessage || p.logEndOffset != 5 {
		t.Fatalf("magic 1 accepted: code %d, end %d", code, p.logEndOffset)
	}
	// Fetch from the middle of the first batch: the whole batch, with its
	// base offset stamped, then as many as fit.
	data, _, end, code := p.read(1, 1500)
	if code != 0 || end != 5 || len(data) != batchBytes || binary.BigEndian.Uint64(data) != 0 {
		t.Fatalf("read(1): %d bytes, end %d, code %d", len(data), end, code)
	}
	if data, _, _, _ := p.read(3, 1<<20); len(data) != batchBytes || binary.BigEndian.Uint64(data) != 3 {
		t.Fatalf("read(3): %d bytes, base %d", len(data), binary.BigEndian.Uint64(data))
	}
	if data, _, _, code := p.read(5, 1<<20); len(data) != 0 || code != 0 {
		t.Fatalf("read at the end: %d bytes, code %d", len(data), code)
	}
	if _, _, _, code := p.read(6, 1<<20); code != errOffsetOutOfRange {
		t.Fatalf("read past the end: code %d", code)
	}
	// Fill past retention: the oldest batches go, offsets keep counting,
	// and what is kept stays readable and within the bound.
	for i := 0; i < 30; i++ {
		p.append(testBatch(1, batchBytes), retain)
	}
	if p.logEndOffset != 35 || len(p.log) > retain || p.logStartOffset == 0 {
		t.Fatalf("after retention: start %d end %d, %d bytes kept", p.logStartOffset, p.logEndOffset, len(p.log))
	}
	if _, _, _, code := p.read(0, 1<<20); code != errOffsetOutOfRange {
		t.Fatalf("read below the log start: code %d", code)
	}
	data, _, _, code = p.read(p.logStartOffset, 1<<20)
	if code != 0 || int64(len(data)) != (p.logEndOffset-p.logStartOffset)*batchBytes || int64(binary.BigEndian.Uint64(data)) != p.logStartOffset {
		t.Fatalf("read from the log start %d: %d bytes, code %d", p.logStartOffset, len(data), code)
	}
}
