package segment

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"

	"spool/internal/batchtest"
)

func TestCodecRoundTrip(t *testing.T) {
	src := bytes.Repeat([]byte("spool compaction round trip "), 5000) // > one xerial block
	for _, codec := range codecs {
		compressed, err := Compress([]byte("prefix"), src, codec)
		if err != nil {
			t.Fatalf("%s: %v", codec, err)
		}
		got, err := Decompress([]byte("x"), compressed[len("prefix"):], codec, int64(len(src)))
		if err != nil || !bytes.Equal(got[1:], src) || got[0] != 'x' {
			t.Fatalf("%s: round trip: %v", codec, err)
		}
		if codec != CodecNone {
			if _, err := Decompress(nil, compressed[len("prefix"):], codec, int64(len(src))-1); err == nil {
				t.Fatalf("%s: decompressed past the limit", codec)
			}
		}
	}
	// A raw snappy block (no xerial framing) reads too.
	raw, err := Compress(nil, src, CodecSnappy)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decompress(nil, raw[:3], CodecSnappy, 1<<20); err == nil {
		t.Fatal("a cut xerial header decompressed")
	}
}

// TestSnappyDecompressBounds checks that snappy input cannot make
// Decompress allocate far more than its limit or than its bytes can hold:
// xerial blocks share one budget, and a block whose header claims more than
// snappy can encode in its bytes is refused before its output is allocated.
func TestSnappyDecompressBounds(t *testing.T) {
	allocated := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	// The densest real snappy still decodes: 4 MiB of zeros.
	zeros := make([]byte, 4<<20)
	compressed, err := Compress(nil, zeros, CodecSnappy)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Decompress(nil, compressed, CodecSnappy, int64(len(zeros))); err != nil || !bytes.Equal(got, zeros) {
		t.Fatalf("zeros: %v", err)
	}
	// A 6-byte raw block claiming 200 MiB.
	forged := binary.AppendUvarint(nil, 200<<20)
	forged = append(forged, 0, 0)
	var derr error
	if n := allocated(func() { _, derr = Decompress(nil, forged, CodecSnappy, 256<<20) }); derr == nil || n > 1<<20 {
		t.Fatalf("forged block: %v, %d bytes allocated", derr, n)
	}
	// 40 xerial blocks of 1 MiB of zeros each under a 1 MiB limit: refused
	// after about the limit, not after all 40.
	block, err := Compress(nil, make([]byte, 1<<20), CodecSnappy)
	if err != nil {
		t.Fatal(err)
	}
	block = block[xerialHeaderBytes:] // one chunk of 32 KiB, length-prefixed, repeated below
	chunk := block[:4+binary.BigEndian.Uint32(block)]
	xerial := append([]byte(nil), compressed[:xerialHeaderBytes]...)
	for range 40 * (1 << 20) / xerialBlockBytes {
		xerial = append(xerial, chunk...)
	}
	if n := allocated(func() { _, derr = Decompress(nil, xerial, CodecSnappy, 1<<20) }); derr == nil || n > 8<<20 {
		t.Fatalf("xerial past its limit: %v, %d bytes allocated", derr, n)
	}
}

func TestFilterBatchKeepsHeaderAndOffsets(t *testing.T) {
	var records []batchtest.Record
	for i := 0; i < 10; i++ {
		records = append(records, batchtest.Record{Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint("v", i)), Timestamp: 1000 + int64(i)})
	}
	plain := batchtest.BuildWith(records, batchtest.Options{ProducerID: 42, ProducerEpoch: 3, BaseSequence: 100})
	stampBatch(plain, 500, 7)
	for _, codec := range codecs {
		b := plain
		if codec != CodecNone {
			b = compressBatch(t, plain, codec)
		}
		var scratch FilterScratch
		out, kept, removed, err := FilterBatch(nil, b, &scratch, 1<<20, false, func(r RecordPosition) bool { return (r.Offset-500)%3 == 0 })
		if err != nil || kept != 4 || removed != 6 {
			t.Fatalf("%s: kept %d removed %d: %v", codec, kept, removed, err)
		}
		h, err := ValidateStoredBatch(out)
		if err != nil {
			t.Fatalf("%s: %v", codec, err)
		}
		if h.BaseOffset != 500 || h.LeaderEpoch != 7 || h.LastOffsetDelta != 9 || h.RecordCount != 4 || h.ProducerID != 42 || h.ProducerEpoch != 3 || h.BaseSequence != 100 || h.Codec() != codec {
			t.Fatalf("%s: header %+v", codec, h)
		}
		var offsets []Offset
		if _, err := WalkAnyRecords(out, nil, 1<<20, func(r RecordPosition) bool {
			offsets = append(offsets, r.Offset)
			if string(r.Value) != fmt.Sprint("v", r.Offset-500) || r.Timestamp != 1000+int64(r.Offset-500) {
				t.Errorf("%s: record at %d: %s at %d", codec, r.Offset, r.Value, r.Timestamp)
			}
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(offsets) != "[500 503 506 509]" {
			t.Fatalf("%s: offsets %v", codec, offsets)
		}
		// Nothing kept: gone, or an empty batch when it must stay.
		if out, _, _, _ := FilterBatch(nil, b, &scratch, 1<<20, false, func(RecordPosition) bool { return false }); len(out) != 0 {
			t.Fatalf("%s: an emptied batch stayed", codec)
		}
		out, _, _, _ = FilterBatch(nil, b, &scratch, 1<<20, true, func(RecordPosition) bool { return false })
		if h, err := ValidateStoredBatch(out); err != nil || h.RecordCount != 0 || h.TotalBytes() != BatchHeaderBytes || h.LastOffsetDelta != 9 || h.Codec() != CodecNone {
			t.Fatalf("%s: empty batch %+v: %v", codec, h, err)
		}
		// Nothing removed: the very bytes.
		if out, _, _, _ := FilterBatch(nil, b, &scratch, 1<<20, false, func(RecordPosition) bool { return true }); !bytes.Equal(out, b) {
			t.Fatalf("%s: an untouched batch changed", codec)
		}
	}
	// A producer's batch must still be whole.
	if _, err := ValidateBatch(mustFilter(t, plain)); err == nil {
		t.Fatal("ValidateBatch took a compacted batch")
	}
}

func mustFilter(t *testing.T, b []byte) []byte {
	var scratch FilterScratch
	out, _, _, err := FilterBatch(nil, b, &scratch, 1<<20, false, func(r RecordPosition) bool { return r.Offset%2 == 0 })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzFilterBatch feeds arbitrary record bytes (and codec bits) to the
// cleaner's batch rewrite. Invariant: it never panics, and whatever it
// returns without error is a valid stored batch with the input's offset
// range and at most its records.
func FuzzFilterBatch(f *testing.F) {
	seed := batchtest.Build([]batchtest.Record{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b"), Tombstone: true}})
	f.Add(seed[BatchHeaderBytes:], uint8(0), int32(2))
	gz, _ := Compress(nil, seed[BatchHeaderBytes:], CodecGzip)
	f.Add(gz, uint8(CodecGzip), int32(2))
	f.Fuzz(func(t *testing.T, records []byte, codec uint8, count int32) {
		if len(records) > 1<<16 || count < 1 || count > 1<<12 {
			return
		}
		b := withRecords(seed, records, Codec(codec&attributeCodecMask), count)
		var scratch FilterScratch
		out, kept, _, err := FilterBatch(nil, b, &scratch, 1<<20, true, func(r RecordPosition) bool { return len(r.Key)%2 == 0 })
		if err != nil {
			return
		}
		h, err := ValidateStoredBatch(out)
		if err != nil {
			t.Fatalf("output does not validate: %v", err)
		}
		if h.LastOffsetDelta != count-1 || int(h.RecordCount) != kept || kept > int(count) {
			t.Fatalf("output %+v, kept %d of %d", h, kept, count)
		}
	})
}

// TestZstdDecompressTrustsNoDeclaredSize: a zstd frame header declaring
// 200 MiB of content before 5 real bytes must not make Decompress
// allocate the declared size (an untrusted length from a producer).
func TestZstdDecompressTrustsNoDeclaredSize(t *testing.T) {
	frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0xa0} // magic; 4-byte content size, single segment
	frame = binary.LittleEndian.AppendUint32(frame, 200<<20)
	frame = append(frame, 0x29, 0, 0) // last block, raw, 5 bytes
	frame = append(frame, "hello"...)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Decompress(nil, frame, CodecZstd, 256<<20)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("a frame shorter than its declared size decompressed")
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
		t.Fatalf("%d bytes allocated for a 17-byte frame", n)
	}
	// Real zstd still round-trips.
	data := bytes.Repeat([]byte("spool "), 100_000)
	compressed, err := Compress(nil, data, CodecZstd)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Decompress(nil, compressed, CodecZstd, int64(len(data))); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := Decompress(nil, compressed, CodecZstd, int64(len(data))-1); err == nil {
		t.Fatal("over the limit accepted")
	}
}
