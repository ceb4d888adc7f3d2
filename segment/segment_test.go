package segment

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"spool/index"
	"spool/internal/batchtest"
)

func testConfig(mode WriteMode) Config {
	return Config{SegmentBytes: 1 << 20, IndexBytes: 64 << 10, IndexIntervalBytes: 256, WriteMode: mode}
}

// appended is what a test remembers of each batch it appended.
type appended struct {
	base, last Offset
	position   int64
	bytes      []byte
}

func appendBatches(t testing.TB, s *Segment, n int, nextTimestamp func(i int) int64) []appended {
	t.Helper()
	var out []appended
	for i := 0; i < n; i++ {
		count := 1 + i%4
		b := batchtest.Values(count, 20+(i*37)%300, nextTimestamp(i))
		h, err := ValidateBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		position := s.Size()
		base := s.NextOffset()
		if err := s.Append(b, &h, base, 1, 1); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		out = append(out, appended{base: base, last: h.LastOffset(), position: position, bytes: append([]byte(nil), b...)})
	}
	return out
}

func ascending(i int) int64 { return 1_000_000 + int64(i)*10 }

func forEachMode(t *testing.T, test func(t *testing.T, mode WriteMode)) {
	for _, mode := range []WriteMode{WritePwrite, WriteMmap} {
		t.Run(mode.String(), func(t *testing.T) { test(t, mode) })
	}
}

func TestAppendPlanReopen(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode WriteMode) {
		dir := t.TempDir()
		s, err := Create(dir, 100, testConfig(mode))
		if err != nil {
			t.Fatal(err)
		}
		batches := appendBatches(t, s, 200, ascending)
		checkPlans(t, s, batches)
		if err := s.Seal(); err != nil {
			t.Fatal(err)
		}
		if info, _ := os.Stat(s.Path()); info.Size() != s.Size() {
			t.Fatalf("sealed file is %d bytes, valid %d", info.Size(), s.Size())
		}
		s.Close()

		reopened, report, err := Open(dir, 100, testConfig(mode), true)
		if err != nil {
			t.Fatal(err)
		}
		defer reopened.Close()
		if report.Scanned || report.TrustedFailed != nil {
			t.Fatalf("trusted open of a sealed segment scanned: %+v", report)
		}
		if reopened.NextOffset() != batches[len(batches)-1].last+1 {
			t.Fatalf("next offset %d", reopened.NextOffset())
		}
		checkPlans(t, reopened, batches)
	})
}

// checkPlans asserts that a plan from every offset starts at the batch that
// holds it, returns the stored bytes with the stamped offsets, and that the
// index agrees with the batches.
func checkPlans(t *testing.T, s *Segment, batches []appended) {
	t.Helper()
	for i, b := range batches {
		for _, from := range []Offset{b.base, b.last} {
			extent, next, err := s.Plan(from, 1<<62, 1, true)
			if err != nil {
				t.Fatalf("plan %d: %v", from, err)
			}
			if extent.Position != b.position || extent.Length != int64(len(b.bytes)) || next != b.last+1 {
				t.Fatalf("plan from %d: extent %+v next %d, want batch %d at %d (%d bytes)", from, extent, next, i, b.position, len(b.bytes))
			}
		}
		h, raw, err := s.HeaderAt(b.position)
		if err != nil || h.BaseOffset != b.base {
			t.Fatalf("batch %d at %d: %+v %v", i, b.position, h, err)
		}
		if string(raw[61:]) != string(b.bytes[61:]) {
			t.Fatalf("batch %d: stored records differ", i)
		}
	}
	// maxBytes bounds the extent, which holds whole batches only.
	extent, next, err := s.Plan(batches[0].base, 1<<62, 1000, false)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	for _, b := range batches {
		if total+int64(len(b.bytes)) > 1000 {
			if next != b.base {
				t.Fatalf("next %d want %d", next, b.base)
			}
			break
		}
		total += int64(len(b.bytes))
	}
	if extent.Length != total {
		t.Fatalf("extent %d bytes, want %d", extent.Length, total)
	}
	// The limit stops before a batch whose base reaches it.
	if len(batches) > 3 {
		limit := batches[3].base
		extent, next, _ = s.Plan(batches[0].base, limit, 1<<30, false)
		if next != limit || extent.Length != batches[3].position-batches[0].position {
			t.Fatalf("limited plan: %+v next %d", extent, next)
		}
	}
	// Past the end: empty.
	extent, _, _ = s.Plan(s.NextOffset(), 1<<62, 1<<20, true)
	if extent.Length != 0 {
		t.Fatalf("plan past the end: %+v", extent)
	}
}

func TestAppendFullAndOrder(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(WritePwrite)
	cfg.SegmentBytes = SegmentBytesMin
	s, err := Create(dir, 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := batchtest.Values(1, 1000, 1)
	h, _ := ValidateBatch(b)
	if err := s.Append(b, &h, 5, 0, 1); err != nil {
		t.Fatal(err)
	}
	b2 := batchtest.Values(1, 1000, 1)
	h2, _ := ValidateBatch(b2)
	if err := s.Append(b2, &h2, 7, 0, 1); !errors.Is(err, ErrOffsetOutOfOrder) {
		t.Fatalf("gap: %v", err)
	}
	var full error
	for i := 0; i < 10 && full == nil; i++ {
		b := batchtest.Values(1, 1000, 1)
		h, _ := ValidateBatch(b)
		full = s.Append(b, &h, s.NextOffset(), 0, 1)
	}
	if !errors.Is(full, ErrFull) {
		t.Fatalf("never full: %v", full)
	}
	if s.Size() > SegmentBytesMin {
		t.Fatalf("size %d beyond capacity", s.Size())
	}
}

func TestFindTimestampAndMax(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode WriteMode) {
		dir := t.TempDir()
		s, err := Create(dir, 0, testConfig(mode))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		// Timestamps rise with a dip, so the max is not the last batch.
		timestamps := func(i int) int64 {
			if i == 150 {
				return 10_000_000
			}
			return 1_000_000 + int64(i)*10
		}
		batches := appendBatches(t, s, 300, timestamps)
		type rec struct {
			offset Offset
			ts     int64
		}
		var all []rec
		for _, b := range batches {
			WalkRecords(b.bytes, func(r RecordPosition) bool {
				all = append(all, rec{r.Offset, r.Timestamp})
				return true
			})
		}
		for _, target := range []int64{0, 1_000_000, 1_000_005, 1_001_234, 1_002_999, 5_000_000, 10_000_000, 10_000_001} {
			want, ok := Offset(-1), false
			for _, r := range all {
				if r.ts >= target {
					want, ok = r.offset, true
					break
				}
			}
			got, _, found, err := s.FindTimestamp(target, 0)
			if err != nil || found != ok || (ok && got != want) {
				t.Fatalf("FindTimestamp(%d) = %d %v %v, want %d %v", target, got, found, err, want, ok)
			}
		}
		ts, offset := s.MaxTimestamp()
		if ts != 10_000_000+int64(150%4) || offset < batches[150].base || offset > batches[150].last {
			t.Fatalf("max timestamp %d at %d", ts, offset)
		}
	})
}

func TestTruncateTo(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode WriteMode) {
		dir := t.TempDir()
		s, err := Create(dir, 0, testConfig(mode))
		if err != nil {
			t.Fatal(err)
		}
		batches := appendBatches(t, s, 100, ascending)
		cut := batches[60]
		// An offset inside a batch removes the whole batch.
		next, err := s.TruncateTo(cut.last)
		if err != nil {
			t.Fatal(err)
		}
		if next != cut.base || s.Size() != cut.position {
			t.Fatalf("truncate: next %d size %d, want %d %d", next, s.Size(), cut.base, cut.position)
		}
		checkPlans(t, s, batches[:60])
		// Appends continue at the cut, and the old bytes never come back.
		more := appendBatches(t, s, 3, ascending)
		if more[0].base != cut.base {
			t.Fatalf("append after truncate at %d", more[0].base)
		}
		s.Close() // no seal: an unclean stop
		reopened, report, err := Open(dir, 0, testConfig(mode), false)
		if err != nil {
			t.Fatal(err)
		}
		defer reopened.Close()
		if report.Corrupt || reopened.NextOffset() != more[2].last+1 {
			t.Fatalf("after truncate+append+crash: %s next %d", report, reopened.NextOffset())
		}
	})
}

func TestFileNames(t *testing.T) {
	name := FileName(42, LogSuffix)
	if name != "00000000000000000042.log" {
		t.Fatal(name)
	}
	if base, ok := ParseFileName(name); !ok || base != 42 {
		t.Fatal(base, ok)
	}
	for _, bad := range []string{"42.log", "0000000000000000004x.log", "00000000000000000042.index", filepath.Join("a", name)} {
		if _, ok := ParseFileName(bad); ok {
			t.Fatalf("accepted %q", bad)
		}
	}
}

func TestLostIndexIsRebuilt(t *testing.T) {
	dir := t.TempDir()
	s, err := Create(dir, 0, testConfig(WritePwrite))
	if err != nil {
		t.Fatal(err)
	}
	batches := appendBatches(t, s, 200, ascending)
	if err := s.Seal(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, suffix := range []string{IndexSuffix, TimeIndexSuffix} {
		if err := os.Remove(filepath.Join(dir, FileName(0, suffix))); err != nil {
			t.Fatal(err)
		}
	}
	reopened, report, err := Open(dir, 0, testConfig(WritePwrite), true)
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	if report.TrustedFailed == nil || !report.IndexRebuilt {
		t.Fatalf("a lost index was trusted: %+v", report)
	}
	if reopened.offsets.Entries() == 0 || reopened.times.Entries() == 0 {
		t.Fatal("indexes not rebuilt")
	}
	checkPlans(t, reopened, batches)
}

// TestIndexCapacityNeverFillsFirst: indexes reserve only what the .log can
// need (indexCapacity), so the .log must always fill before either index,
// whatever the index interval, with the smallest batches and ascending
// timestamps (a time entry beside every offset entry). And for 1 GiB
// segments at Kafka's defaults the reservation is 2 MiB and 3 MiB, not
// segment.index.bytes (10 MiB) each.
func TestIndexCapacityNeverFillsFirst(t *testing.T) {
	for _, interval := range []int64{1, 60, 61, 62, 100, 4096} {
		t.Run(fmt.Sprint("interval=", interval), func(t *testing.T) {
			cfg := testConfig(WritePwrite)
			cfg.SegmentBytes, cfg.IndexBytes, cfg.IndexIntervalBytes = 256<<10, 10<<20, interval
			s, err := Create(t.TempDir(), 0, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var full error
			biggest := int64(0)
			for i := 0; full == nil; i++ {
				b := batchtest.Values(1, i%3, int64(1_000_000+i))
				h, _ := ValidateBatch(b)
				biggest = max(biggest, int64(len(b)))
				full = s.Append(b, &h, s.NextOffset(), 0, 1)
			}
			if !errors.Is(full, ErrFull) {
				t.Fatalf("append: %v", full)
			}
			if s.Size()+biggest <= cfg.SegmentBytes {
				t.Fatalf("full at %d of %d bytes: an index filled before the .log (%d offset, %d time entries)",
					s.Size(), cfg.SegmentBytes, s.offsets.Entries(), s.times.Entries())
			}
		})
	}
	defaults := Config{}.WithDefaults()
	if got := indexCapacity(1<<30, defaults, index.OffsetEntryBytes); got < 2<<20-1<<10 || got > 2<<20 {
		t.Fatalf("offset index for 1 GiB: %d bytes", got)
	}
	if got := indexCapacity(1<<30, defaults, index.TimeEntryBytes); got < 3<<20-1<<10 || got > 3<<20 {
		t.Fatalf("time index for 1 GiB: %d bytes", got)
	}
	if got := indexCapacity(1<<30, Config{IndexBytes: 1 << 20, IndexIntervalBytes: 4096}, index.TimeEntryBytes); got != 1<<20 {
		t.Fatalf("segment.index.bytes does not cap: %d", got)
	}
}
