package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// codecBenchRecords is n bytes of record-like text: words from a small
// vocabulary with numbers, compressing about 3:1 as real JSON-ish values do.
func codecBenchRecords(n int) []byte {
	words := []string{"spool", "offset", "partition", "topic", "\"key\":", "\"value\":", "{", "}", "true", "false", "null", "timestamp"}
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		fmt.Fprintf(&b, " %d ", r.IntN(100_000))
	}
	return b.Bytes()[:n]
}

// zstdWindowFrame compresses src as one zstd frame that declares a window
// of 1<<(10+exponent) bytes and no content size. The encoder shrinks the
// window to a small input, so its frame header is rewritten: the blocks do
// not depend on the declared window as long as it is at least the one they
// were written with.
func zstdWindowFrame(tb testing.TB, src []byte, exponent byte) []byte {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(true))
	if err != nil {
		tb.Fatal(err)
	}
	defer e.Close()
	frame := e.EncodeAll(src, nil)
	fhd := frame[4]
	headerBytes := 5 + []int{0, 2, 4, 8}[fhd>>6] + []int{0, 1, 2, 4}[fhd&3]
	if fhd&0x20 == 0 || fhd>>6 == 0 {
		headerBytes++ // a window descriptor, or a single segment's 1-byte content size
	}
	// No content size, not single segment, the same checksum and
	// dictionary flags; window descriptor: the exponent, mantissa 0.
	return append([]byte{0x28, 0xb5, 0x2f, 0xfd, fhd & 0x07, exponent << 3}, frame[headerBytes:]...)
}

// zstdJavaFrame is src in a frame as the Java client (zstd-jni's stream at
// its default level 3) writes a batch of any size: a 2 MiB window, no
// content size.
func zstdJavaFrame(tb testing.TB, src []byte) []byte {
	out := zstdWindowFrame(tb, src, 11)
	if got, err := Decompress(nil, out, CodecZstd, timeLookupRecordsBytesMax); err != nil || !bytes.Equal(got, src) {
		tb.Fatalf("the rewritten frame does not decompress: %v", err)
	}
	return out
}

// BenchmarkDecompress measures one Decompress call per codec on a batch's
// worth of records, with the limits spool's callers pass (the time lookup's
// 64 MiB). zstd/window-2MiB is a frame as the Java client writes it: a
// 2 MiB window, no content size.
func BenchmarkDecompress(b *testing.B) {
	type input struct {
		name  string
		codec Codec
		src   []byte
		plain []byte
	}
	var inputs []input
	for _, size := range []int{1 << 10, 64 << 10} {
		plain := codecBenchRecords(size)
		for _, codec := range []Codec{CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
			compressed, err := Compress(nil, plain, codec)
			if err != nil {
				b.Fatal(err)
			}
			inputs = append(inputs, input{fmt.Sprintf("%s/%dKiB", codec, size>>10), codec, compressed, plain})
		}
		inputs = append(inputs, input{fmt.Sprintf("zstd/window-2MiB/%dKiB", size>>10), CodecZstd, zstdJavaFrame(b, plain), plain})
	}
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			dst := make([]byte, 0, 2*len(in.plain))
			b.ReportAllocs()
			b.SetBytes(int64(len(in.plain)))
			for b.Loop() {
				got, err := Decompress(dst[:0], in.src, in.codec, timeLookupRecordsBytesMax)
				if err != nil || len(got) != len(in.plain) {
					b.Fatalf("%d bytes: %v", len(got), err)
				}
			}
		})
	}
}

// TestZstdDecompressWindows: the window a frame declares is bounded
// whatever the decoder pool holds. Up to zstdPooledWindowMax a pooled
// decoder takes it; above, up to min(maxBytes, zstdWindowMax), a decoder
// made for the call does; anything more is refused. The output is bounded
// by maxBytes in every case.
func TestZstdDecompressWindows(t *testing.T) {
	plain := codecBenchRecords(20 << 10)
	for _, c := range []struct {
		exponent byte // window 1<<(10+exponent)
		maxBytes int64
		ok       bool
	}{
		{11, int64(len(plain)), true},      // 2 MiB window, a limit below it: the window is not output
		{11, int64(len(plain)) - 1, false}, // past the limit
		{13, 1 << 10, false},               // 8 MiB: pooled, past the limit
		{13, int64(len(plain)), true},      // 8 MiB: pooled
		{14, 64 << 20, true},               // 16 MiB: a decoder of its own
		{14, int64(len(plain)), false},     // 16 MiB with a limit under zstdPooledWindowMax
		{14, 12 << 20, false},              // 16 MiB over min(maxBytes, zstdWindowMax)
		{15, 256 << 20, true},              // 32 MiB: zstdWindowMax
		{16, 256 << 20, false},             // 64 MiB
		{20, 256 << 20, false},             // 1 GiB
	} {
		frame := zstdWindowFrame(t, plain, c.exponent)
		got, err := Decompress([]byte("x"), frame, CodecZstd, c.maxBytes)
		if c.ok && (err != nil || string(got[:1]) != "x" || !bytes.Equal(got[1:], plain)) {
			t.Errorf("window %d MiB, limit %d: %d bytes, %v", 1<<c.exponent>>10, c.maxBytes, len(got), err)
		}
		if !c.ok && (!errors.Is(err, ErrDecompress) || string(got) != "x") {
			t.Errorf("window %d MiB, limit %d: %q..., %v; want ErrDecompress", 1<<c.exponent>>10, c.maxBytes, got[:min(len(got), 8)], err)
		}
	}
}

// codecCase is one input for the decoder reuse tests and what Decompress
// must answer: want, or an error when bad.
type codecCase struct {
	name     string
	codec    Codec
	src      []byte
	maxBytes int64
	want     []byte
	bad      bool
}

// zstdCases are well-formed zstd frames of several shapes and limits and
// malformed ones, each of which leaves a decoder in a different state
// (failed at the header, mid-block, at the checksum, stopped at the
// limit).
func zstdCases(t *testing.T) []codecCase {
	var cases []codecCase
	add := func(name string, src []byte, maxBytes int64, want []byte) {
		cases = append(cases, codecCase{"zstd/" + name, CodecZstd, src, maxBytes, want, want == nil})
	}
	for i, size := range []int{100, 4 << 10, 64 << 10, 300 << 10} {
		plain := codecBenchRecords(size + i)[i:] // different contents per size
		one, err := Compress(nil, plain, CodecZstd)
		if err != nil {
			t.Fatal(err)
		}
		java := zstdJavaFrame(t, plain)
		two := append(bytes.Clone(one), java...) // two frames: the contents twice
		twice := append(bytes.Clone(plain), plain...)
		corrupt := bytes.Clone(java)
		corrupt[len(corrupt)/2] ^= 0x55
		crc := bytes.Clone(one)
		crc[len(crc)-1] ^= 1
		n := int64(len(plain))
		add(fmt.Sprintf("%d/exact", size), one, n, plain)
		add(fmt.Sprintf("%d/java", size), java, 64<<20, plain)
		add(fmt.Sprintf("%d/two-frames", size), two, 2*n, twice)
		add(fmt.Sprintf("%d/over-limit", size), java, n-1, nil)
		add(fmt.Sprintf("%d/two-frames-over-limit", size), two, 2*n-1, nil)
		add(fmt.Sprintf("%d/truncated", size), java[:len(java)*2/3], 64<<20, nil)
		add(fmt.Sprintf("%d/corrupt", size), corrupt, 64<<20, nil)
		add(fmt.Sprintf("%d/checksum", size), crc, 64<<20, nil)
		add(fmt.Sprintf("%d/window-64MiB", size), zstdWindowFrame(t, plain, 16), 256<<20, nil)
		if size == 4<<10 {
			// Decoded by a decoder of its own, which allocates the
			// 16 MiB: once is enough.
			add(fmt.Sprintf("%d/window-16MiB", size), zstdWindowFrame(t, plain, 14), 64<<20, plain)
		}
	}
	declared := []byte{0x28, 0xb5, 0x2f, 0xfd, 0xa0} // single segment, 4-byte content size
	declared = binary.LittleEndian.AppendUint32(declared, 200<<20)
	declared = append(declared, 0x29, 0, 0) // last block, raw, 5 bytes
	declared = append(declared, "hello"...)
	add("declares-200MiB", declared, 256<<20, nil)
	add("not-zstd", []byte("definitely not a zstd frame"), 1<<20, nil)
	add("magic-only", []byte{0x28, 0xb5, 0x2f, 0xfd}, 1<<20, nil)
	add("empty", nil, 1<<20, []byte{})
	return cases
}

// gzipCases are the same for gzip's pooled readers.
func gzipCases(t *testing.T) []codecCase {
	var cases []codecCase
	add := func(name string, src []byte, maxBytes int64, want []byte) {
		cases = append(cases, codecCase{"gzip/" + name, CodecGzip, src, maxBytes, want, want == nil})
	}
	for i, size := range []int{100, 64 << 10} {
		plain := codecBenchRecords(size + i)[i:]
		one, err := Compress(nil, plain, CodecGzip)
		if err != nil {
			t.Fatal(err)
		}
		two := append(bytes.Clone(one), one...) // two members
		corrupt := bytes.Clone(one)
		corrupt[len(corrupt)/2] ^= 0x55
		crc := bytes.Clone(one)
		crc[len(crc)-8] ^= 1 // the trailer's CRC-32
		n := int64(len(plain))
		add(fmt.Sprintf("%d/exact", size), one, n, plain)
		add(fmt.Sprintf("%d/two-members", size), two, 2*n, append(bytes.Clone(plain), plain...))
		add(fmt.Sprintf("%d/over-limit", size), one, n-1, nil)
		add(fmt.Sprintf("%d/truncated", size), one[:len(one)*2/3], 64<<20, nil)
		add(fmt.Sprintf("%d/corrupt", size), corrupt, 64<<20, nil)
		add(fmt.Sprintf("%d/checksum", size), crc, 64<<20, nil)
	}
	add("not-gzip", []byte("definitely not a gzip stream"), 1<<20, nil)
	add("header-only", []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, 1<<20, nil)
	return cases
}

// check runs c through Decompress into dst after a prefix and reports a
// wrong answer; it returns the output for reuse.
func (c codecCase) check(dst, prefix []byte) ([]byte, error) {
	got, err := Decompress(append(dst[:0], prefix...), c.src, c.codec, c.maxBytes)
	switch {
	case len(got) < len(prefix) || !bytes.Equal(got[:len(prefix)], prefix):
		return got, fmt.Errorf("%s: the prefix changed", c.name)
	case c.bad && !errors.Is(err, ErrDecompress):
		return got, fmt.Errorf("%s: %d bytes, %v; want ErrDecompress", c.name, len(got)-len(prefix), err)
	case c.bad && len(got) != len(prefix):
		return got, fmt.Errorf("%s: %d bytes after an error", c.name, len(got)-len(prefix))
	case !c.bad && (err != nil || !bytes.Equal(got[len(prefix):], c.want)):
		return got, fmt.Errorf("%s: %d bytes, %v; want %d bytes", c.name, len(got)-len(prefix), err, len(c.want))
	}
	return got, nil
}

// TestDecompressReuseAfterErrors: on one goroutine (so mostly one pooled
// decoder per codec), every malformed input is followed by every
// well-formed one, and each still decodes exactly.
func TestDecompressReuseAfterErrors(t *testing.T) {
	for _, cases := range [][]codecCase{zstdCases(t), gzipCases(t)} {
		var dst []byte
		for _, bad := range cases {
			if !bad.bad {
				continue
			}
			for _, good := range cases {
				if good.bad {
					continue
				}
				for _, c := range []codecCase{bad, good} {
					var err error
					if dst, err = c.check(dst, []byte("prefix")); err != nil {
						t.Fatalf("after %s: %v", bad.name, err)
					}
				}
			}
		}
	}
}

// TestDecompressConcurrent: goroutines decompress zstd (and gzip) batches,
// well-formed and malformed, with different limits, in different orders
// at once, each into its own reused buffer, and check every answer (run
// it with -race too).
func TestDecompressConcurrent(t *testing.T) {
	cases := append(zstdCases(t), gzipCases(t)...)
	const goroutines, rounds = 8, 6
	errs := make(chan error, goroutines)
	for g := range goroutines {
		go func() {
			r := rand.New(rand.NewPCG(uint64(g), 7))
			var dst []byte
			for range rounds {
				for _, i := range r.Perm(len(cases)) {
					var err error
					if dst, err = cases[i].check(dst, []byte{byte(g), byte(i)}); err != nil {
						errs <- fmt.Errorf("goroutine %d: %w", g, err)
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range goroutines {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
