//go:build !race

package segment

import (
	"runtime"
	"testing"
)

// The race detector allocates on its own (and empties sync.Pools at
// random), so this file builds without it.

// TestTimeLookupAllocs: offset-by-time lookups allocate nothing of their
// own, however many records a batch holds: the walk allocates nothing and
// the decompression buffer is pooled. Shown with the codecs whose decoding
// allocates nothing either (none, snappy); gzip and zstd decoders are
// pooled but readAllLimited still allocates a little per call (see
// TestDecompressAllocs), and lz4 readers are made per call.
func TestTimeLookupAllocs(t *testing.T) {
	for _, codec := range []Codec{CodecNone, CodecSnappy} {
		for _, n := range []int{3, 300} {
			s, err := Create(t.TempDir(), 0, testConfig(WritePwrite))
			if err != nil {
				t.Fatal(err)
			}
			timestamps := make([]int64, n)
			for j := range timestamps {
				timestamps[j] = 1000 + int64(j)
			}
			b := timedBatch(timestamps...)
			if codec != CodecNone {
				b = compressBatch(t, b, codec)
			}
			appendBatch(t, s, b)
			last := timestamps[n-1]
			allocs := testing.AllocsPerRun(20, func() {
				if got, _, _, _ := s.FindTimestamp(last, 0); got != Offset(n-1) {
					t.Fatalf("%s: FindTimestamp(%d) = %d", codec, last, got)
				}
				if _, offset := s.MaxTimestamp(); offset != Offset(n-1) {
					t.Fatalf("%s: MaxTimestamp at %d", codec, offset)
				}
			})
			s.Close()
			if allocs != 0 {
				t.Fatalf("%s, %d records: %v allocations a lookup pair", codec, n, allocs)
			}
		}
	}
}

// TestDecompressAllocs: zstd and gzip decompression reuse pooled decoders,
// so a call allocates a few small objects (readAllLimited's), not a
// decoder. Before the pools a zstd call made 17 to 23 allocations: 12 KB
// for a 1 KiB batch, 317 KB for 64 KiB, and 2.5 MB for a 64 KiB batch in
// a frame as the Java client writes it (a 2 MiB window, allocated afresh
// each call); a gzip call made 11 allocations, 39 KB. A GC may empty a
// pool during the runs, which costs one decoder again: hence bounds on
// the average rather than zero.
func TestDecompressAllocs(t *testing.T) {
	plain := codecBenchRecords(64 << 10)
	zstdFrame, err := Compress(nil, plain, CodecZstd)
	if err != nil {
		t.Fatal(err)
	}
	gzipped, err := Compress(nil, plain, CodecGzip)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		codec Codec
		src   []byte
	}{
		{"zstd", CodecZstd, zstdFrame},
		{"zstd/window-2MiB", CodecZstd, zstdJavaFrame(t, plain)},
		{"gzip", CodecGzip, gzipped},
	} {
		// The output buffer is reused, as the callers' scratch is.
		var dst []byte
		decompress := func() {
			got, err := Decompress(dst[:0], c.src, c.codec, timeLookupRecordsBytesMax)
			if err != nil || len(got) != len(plain) {
				t.Fatalf("%s: %d bytes, %v", c.name, len(got), err)
			}
			dst = got
		}
		const runs = 100
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		allocs := testing.AllocsPerRun(runs, decompress)
		runtime.ReadMemStats(&after)
		perCall := (after.TotalAlloc - before.TotalAlloc) / (runs + 1) // AllocsPerRun warms up once
		t.Logf("%s: %v allocations, %d bytes a call", c.name, allocs, perCall)
		if allocs > 3 || perCall > 32<<10 {
			t.Errorf("%s: %v allocations, %d bytes a call", c.name, allocs, perCall)
		}
	}
}
