package segment

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

var recompressCodecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}

// recordsOf returns every record of a whole batch, decompressed.
func recordsOf(t testing.TB, b []byte) []RecordPosition {
	t.Helper()
	var out []RecordPosition
	var scratch []byte
	err := WalkBatchRecords(b, &scratch, 64<<20, func(r RecordPosition) {
		r.Key, r.Value = bytes.Clone(r.Key), bytes.Clone(r.Value)
		out = append(out, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRecompressRoundTrip recompresses a batch from every codec to every
// codec at several levels: the result validates, carries the new codec and
// the old header fields, and holds every record identical.
func TestRecompressRoundTrip(t *testing.T) {
	plain := timedBatch(1000, 1001, 999, 1500, 1002)
	levels := map[Codec][]int{CodecGzip: {0, -1, 1, 9}, CodecLZ4: {0, 1, 9, 17}, CodecZstd: {0, -5, 1, 3, 9, 22}}
	want := recordsOf(t, plain)
	for _, from := range recompressCodecs {
		src := plain
		if from != CodecNone {
			src = compressBatch(t, plain, from)
		}
		for _, to := range recompressCodecs {
			for _, level := range append([]int{0}, levels[to]...) {
				t.Run(fmt.Sprintf("%s-%s-%d", from, to, level), func(t *testing.T) {
					var scratch []byte
					out, err := RecompressBatch([]byte("prefix"), src, to, level, &scratch, 1<<20, nil)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.HasPrefix(out, []byte("prefix")) {
						t.Fatal("dst prefix lost")
					}
					out = out[len("prefix"):]
					h, err := ValidateBatch(out)
					if err != nil {
						t.Fatalf("recompressed batch does not validate: %v", err)
					}
					old, _ := ParseHeader(src)
					if h.Codec() != to || h.RecordCount != old.RecordCount || h.LastOffsetDelta != old.LastOffsetDelta ||
						h.BaseTimestamp != old.BaseTimestamp || h.MaxTimestamp != old.MaxTimestamp || h.ProducerID != old.ProducerID ||
						h.BaseSequence != old.BaseSequence || h.Attributes&^attributeCodecMask != old.Attributes&^attributeCodecMask {
						t.Fatalf("header changed: %+v from %+v", h, old)
					}
					got := recordsOf(t, out)
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("records differ:\n%v\n%v", got, want)
					}
				})
			}
		}
	}
}

// TestRecompressBounded: a batch whose records decompress past maxBytes is
// refused with ErrDecompress, whatever its codec (a bomb: 8 MiB of zeros
// compresses to a few KB), and the scratch does not grow past the bound.
func TestRecompressBounded(t *testing.T) {
	plain := AppendBatch(nil, 1000, []KeyValue{{Key: []byte("k"), Value: make([]byte, 8<<20)}})
	for _, from := range recompressCodecs[1:] {
		bomb := compressBatch(t, plain, from)
		var scratch []byte
		_, err := RecompressBatch(nil, bomb, CodecZstd, 0, &scratch, 1<<20, nil)
		if !errors.Is(err, ErrDecompress) {
			t.Fatalf("%s bomb of %d bytes: %v, want ErrDecompress", from, len(bomb), err)
		}
		if cap(scratch) > 4<<20 {
			t.Fatalf("%s bomb: scratch grew to %d bytes for a 1 MiB bound", from, cap(scratch))
		}
	}
}

// TestRecompressMalformed: records that do not fill the batch exactly are
// refused rather than given a fresh CRC.
func TestRecompressMalformed(t *testing.T) {
	plain := timedBatch(1, 2, 3)
	h, _ := ParseHeader(plain)
	body := append(bytes.Clone(plain[BatchHeaderBytes:]), 0, 0, 0)
	trailing := withRecords(plain, body, CodecNone, h.RecordCount)
	short := withRecords(plain, plain[BatchHeaderBytes:], CodecNone, h.RecordCount+1)
	for name, b := range map[string][]byte{"trailing": trailing, "short": short} {
		var scratch []byte
		if _, err := RecompressBatch(nil, b, CodecGzip, 0, &scratch, 1<<20, nil); !errors.Is(err, ErrRecompressRecords) {
			t.Fatalf("%s: %v, want ErrRecompressRecords", name, err)
		}
	}
}

// FuzzRecompress: whatever bytes arrive as a batch, recompression either
// fails or yields a valid batch whose records equal the input's.
func FuzzRecompress(f *testing.F) {
	plain := timedBatch(5, 6, 7)
	f.Add(plain, uint8(CodecZstd))
	for _, c := range recompressCodecs[1:] {
		f.Add(compressBatch(f, plain, c), uint8(CodecGzip))
	}
	f.Fuzz(func(t *testing.T, b []byte, to uint8) {
		codec := recompressCodecs[int(to)%len(recompressCodecs)]
		if _, err := ValidateBatch(b); err != nil {
			return
		}
		var scratch []byte
		var before []string
		out, err := RecompressBatch(nil, b, codec, 0, &scratch, 1<<20, func(r RecordPosition) { before = append(before, fmt.Sprint(r)) })
		if err != nil {
			return
		}
		if _, err := ValidateBatch(out); err != nil {
			t.Fatalf("recompressed batch does not validate: %v", err)
		}
		var after []string
		if err := WalkBatchRecords(out, &scratch, 1<<20, func(r RecordPosition) { after = append(after, fmt.Sprint(r)) }); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(before) != fmt.Sprint(after) {
			t.Fatalf("records differ")
		}
	})
}

// BenchmarkRecompress measures recompressing a 1 MiB uncompressed batch
// (16 KiB values of JSON-ish text) into each codec at its Kafka default
// level: the cost a compression.type topic adds per produced byte. The
// bytes counted are the batch's uncompressed size.
func BenchmarkRecompress(b *testing.B) {
	var records []KeyValue
	text := codecBenchRecords(1 << 20)
	for i := 0; i+16<<10 <= len(text); i += 16 << 10 {
		records = append(records, KeyValue{Key: fmt.Appendf(nil, "key-%d", i), Value: text[i : i+16<<10]})
	}
	plain := AppendBatch(nil, 1000, records)
	for _, to := range recompressCodecs {
		b.Run(to.String(), func(b *testing.B) {
			var scratch, out []byte
			b.SetBytes(int64(len(plain)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if out, err = RecompressBatch(out[:0], plain, to, 0, &scratch, 64<<20, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(out))/float64(len(plain)), "ratio")
		})
	}
	zstdPlain := compressBatch(b, plain, CodecZstd)
	b.Run("zstd-to-lz4", func(b *testing.B) {
		var scratch, out []byte
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			var err error
			if out, err = RecompressBatch(out[:0], zstdPlain, CodecLZ4, 0, &scratch, 64<<20, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
