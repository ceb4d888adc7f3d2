package segment

import (
	"bytes"
	"testing"

	"spool/linux"
)

// skipWithoutPageCache skips where the page cache is the only copy of a
// file's data (tmpfs keeps its pages whatever the advice).
func skipWithoutPageCache(t *testing.T, dir string) {
	t.Helper()
	if only, err := linux.PageCacheOnly(dir); err != nil || only {
		t.Skipf("no page cache to drop under %s (%v)", dir, err)
	}
}

func residentPages(t *testing.T, s *Segment, from, to int64) (resident, total int) {
	t.Helper()
	resident, total, err := linux.ResidentPages(s.mapping[from:to])
	if err != nil {
		t.Fatal(err)
	}
	return resident, total
}

func TestDropCacheDropsDurablePagesOnly(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode WriteMode) {
		dir := t.TempDir()
		skipWithoutPageCache(t, dir)
		s, err := Create(dir, 0, testConfig(mode))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		batches := appendBatches(t, s, 1500, ascending)
		if err := s.Sync(); err != nil {
			t.Fatal(err)
		}
		size := s.Size()
		half := size / 2
		// A reader faults a page in through the mapping, as Plan does.
		_ = s.Bytes(0)[100]
		if r, _ := residentPages(t, s, 0, half&^4095); r == 0 {
			t.Fatal("nothing of the bytes just written is cached before the drop")
		}
		s.DropCache(0, half)
		if r, n := residentPages(t, s, 0, half&^4095); r != 0 {
			t.Fatalf("%d of %d pages below the drop point still cached", r, n)
		}
		if r, n := residentPages(t, s, half+4096, size); r != n {
			t.Fatalf("only %d of %d pages above the drop point cached", r, n)
		}
		if s.ColdEnd() != half {
			t.Fatalf("cold end %d, dropped up to %d", s.ColdEnd(), half)
		}
		// Extents wholly below the cold end are cold, the others not.
		first, _, err := s.Plan(batches[0].base, s.NextOffset(), 1, true)
		if err != nil || !first.Cold {
			t.Fatalf("first batch extent %+v (%v) not cold", first, err)
		}
		last := batches[len(batches)-1]
		tail, _, err := s.Plan(last.base, s.NextOffset(), 1<<20, true)
		if err != nil || tail.Cold || tail.Length == 0 {
			t.Fatalf("last batch extent %+v (%v) cold", tail, err)
		}

		// Unsynced bytes survive a drop: the dirty pages are not dropped.
		more := appendBatches(t, s, 200, func(i int) int64 { return 2_000_000 + int64(i) })
		s.DropCache(0, s.Size())
		checkPlans(t, s, append(batches, more...))
		for _, b := range more {
			got := make([]byte, len(b.bytes))
			if _, err := s.log.ReadAt(got, b.position); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, b.bytes) {
				t.Fatalf("batch at %d changed after dropping unsynced pages", b.position)
			}
		}
	})
}

// TestTruncateLowersColdEnd: a truncation below the cold end must lower it.
// Otherwise batches appended after the cut, at positions the old cold end
// still covers, are planned Cold while they are the newest of the log (and
// not yet synced), and every read of them drops them from the page cache.
func TestTruncateLowersColdEnd(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode WriteMode) {
		s, err := Create(t.TempDir(), 0, testConfig(mode))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		batches := appendBatches(t, s, 400, ascending)
		if err := s.Sync(); err != nil {
			t.Fatal(err)
		}
		s.DropCache(0, s.Size())
		cut := batches[100]
		if _, err := s.TruncateTo(cut.base); err != nil {
			t.Fatal(err)
		}
		if s.ColdEnd() > s.Size() {
			t.Errorf("cold end %d past the truncated size %d", s.ColdEnd(), s.Size())
		}
		more := appendBatches(t, s, 10, func(i int) int64 { return 2_000_000 + int64(i) })
		extent, _, err := s.Plan(more[0].base, s.NextOffset(), 1, true)
		if err != nil {
			t.Fatal(err)
		}
		if extent.Cold {
			t.Errorf("a batch appended after the truncation, never synced nor dropped, is planned cold: %+v (cold end %d)", extent, s.ColdEnd())
		}
	})
}
