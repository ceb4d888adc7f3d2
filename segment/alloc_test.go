//go:build !race

package segment

import "testing"

// The race detector allocates on its own (and empties sync.Pools at
// random), so this file builds without it.

// TestTimeLookupAllocs: offset-by-time lookups allocate nothing of their
// own, however many records a batch holds: the walk allocates nothing and
// the decompression buffer is pooled. Shown with the codecs whose decoding
// allocates nothing either (none, snappy); gzip, lz4 and zstd readers
// allocate their own state per call (gzip's per deflate block), which
// grows with a batch's bytes, not with its records.
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
