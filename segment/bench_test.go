package segment

import (
	"os"
	"testing"

	"spool/internal/batchtest"
)

// BenchmarkRecoveryScan measures the unclean-open scan: validate every batch
// (header, CRC-32C over the records), rebuild both indexes, cut the file.
// A 256 MiB segment of 16 KiB batches, warm in the page cache.
func BenchmarkRecoveryScan(b *testing.B) {
	dir := b.TempDir()
	cfg := Config{SegmentBytes: 256 << 20}
	s, err := Create(dir, 0, cfg)
	if err != nil {
		b.Fatal(err)
	}
	batch := batchtest.Sized(16<<10, 1)
	for {
		h, _ := ValidateBatch(batch)
		if err := s.Append(batch, &h, s.NextOffset(), 0, 1); err != nil {
			break
		}
	}
	size := s.Size()
	s.Sync()
	s.Close() // unclean: no seal
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		opened, report, err := Open(dir, 0, cfg, false)
		if err != nil || report.ValidBytes != size {
			b.Fatalf("%v %+v", err, report)
		}
		b.StopTimer()
		// Put the segment back in its unclean, preallocated state.
		if err := opened.Activate(); err != nil {
			b.Fatal(err)
		}
		opened.Close()
		os.Remove(opened.offsets.Path())
		b.StartTimer()
	}
}

// BenchmarkPlan measures read planning in one segment: index lookup and the
// forward header scan, for offsets spread over 64 MiB of 1 KiB batches.
func BenchmarkPlan(b *testing.B) {
	s, err := Create(b.TempDir(), 0, Config{SegmentBytes: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	batch := batchtest.Values(4, 200, 1)
	for {
		h, _ := ValidateBatch(batch)
		if err := s.Append(batch, &h, s.NextOffset(), 0, 1); err != nil {
			break
		}
	}
	end := int64(s.NextOffset())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		from := Offset((int64(i) * 7919) % end)
		if _, _, err := s.Plan(from, Offset(end), 1<<20, true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSegmentFill measures the append path into fresh page-cache
// pages, the common case of a broker's active segment: one op fills a new
// 64 MiB segment with batches (validate, stamp, copy, index). Between ops,
// with the timer stopped, the segment is removed and sync(2) writes back
// every dirty page, so no op pays for the previous one's writeback.
func BenchmarkSegmentFill(b *testing.B) {
	const segmentBytes = 64 << 20
	for _, size := range []struct {
		name  string
		bytes int
	}{{"64KiB", 64 << 10}, {"1MiB", 1 << 20}} {
		for _, mode := range []WriteMode{WritePwrite, WriteMmap} {
			b.Run(size.name+"/"+mode.String(), func(b *testing.B) {
				b.StopTimer()
				batch := batchtest.Sized(size.bytes, 1)
				dir := b.TempDir()
				cfg := Config{SegmentBytes: segmentBytes, WriteMode: mode}
				b.SetBytes(segmentBytes / int64(len(batch)) * int64(len(batch)))
				b.ReportAllocs()
				b.StopTimer()
				for i := 0; i < b.N; i++ {
					s, err := Create(dir, 0, cfg)
					if err != nil {
						b.Fatal(err)
					}
					syncAll()
					b.StartTimer()
					for {
						h, err := ValidateBatch(batch)
						if err != nil {
							b.Fatal(err)
						}
						if err := s.Append(batch, &h, s.NextOffset(), 0, 1); err != nil {
							break
						}
					}
					b.StopTimer()
					s.Retire(true)
				}
			})
		}
	}
}
