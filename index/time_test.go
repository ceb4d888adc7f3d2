package index

import (
	"bytes"
	"errors"
	"math"
	"os"
	"slices"
	"testing"
)

// checkTimeLookups compares Lookup with the model at, around and between
// every entry, below the first, past the last, and either side of the warm
// section's first entry.
func checkTimeLookups(t *testing.T, x *TimeIndex, entries []timeEntry, seed uint64) {
	t.Helper()
	targets := []int64{math.MinInt64, -1, 0, 1, math.MaxInt64}
	for _, e := range entries {
		targets = append(targets, e.timestamp, e.timestamp-1, e.timestamp+1)
	}
	if n := len(entries); n > 0 {
		warm := entries[max(0, n-timeWarmEntries)].timestamp
		targets = append(targets, warm-1, warm, warm+1)
	}
	for _, target := range targets {
		want, wantOK := modelTimeLookup(entries, target)
		timestamp, relative, ok := x.Lookup(target)
		if timestamp != want.timestamp || relative != want.relative || ok != wantOK {
			t.Fatalf("seed %d: %d entries: Lookup(%d) = (%d, %d, %v), want (%d, %d, %v)",
				seed, len(entries), target, timestamp, relative, ok, want.timestamp, want.relative, wantOK)
		}
	}
	timestamp, relative, ok := x.Last()
	if n := len(entries); ok != (n > 0) || (ok && (timestamp != entries[n-1].timestamp || relative != entries[n-1].relative)) {
		t.Fatalf("seed %d: Last() = (%d, %d, %v) with %d entries", seed, timestamp, relative, ok, n)
	}
}

func TestTimeIndexAgreesWithModel(t *testing.T) {
	rng, seed := newRand(t)
	for _, n := range []int{0, 1, 2, 100, timeWarmEntries - 1, timeWarmEntries, timeWarmEntries + 1, 3000, 1 + rng.IntN(6000)} {
		entries := randomTimeEntries(rng, n)
		x := grownTimes(t, n+rng.IntN(10))
		appendTimes(t, x, entries)
		if got := timeEntriesOf(x); !slices.Equal(got, entries) {
			t.Fatalf("seed %d: %d entries read back differently", seed, n)
		}
		checkTimeLookups(t, x, entries, seed)
	}
}

func TestTimeIndexLookupIsStrictlyBelow(t *testing.T) {
	x := grownTimes(t, 8)
	appendTimes(t, x, []timeEntry{{100, 1}, {200, 5}, {300, 9}})
	cases := []struct {
		target int64
		want   timeEntry
		ok     bool
	}{
		{99, timeEntry{}, false},
		{100, timeEntry{}, false}, // a record before offset 1 may have timestamp 100
		{101, timeEntry{100, 1}, true},
		{200, timeEntry{100, 1}, true},
		{250, timeEntry{200, 5}, true},
		{301, timeEntry{300, 9}, true},
	}
	for _, c := range cases {
		timestamp, relative, ok := x.Lookup(c.target)
		if timestamp != c.want.timestamp || relative != c.want.relative || ok != c.ok {
			t.Errorf("Lookup(%d) = (%d, %d, %v), want (%d, %d, %v)", c.target, timestamp, relative, ok, c.want.timestamp, c.want.relative, c.ok)
		}
	}
}

func TestTimeIndexAppend(t *testing.T) {
	x := openTimes(t, indexPath(t, "append.timeindex"))
	if err := x.Append(10, 1); !errors.Is(err, ErrFull) {
		t.Fatalf("Append before Grow: %v, want ErrFull", err)
	}
	if err := x.Grow(3 * timeEntryBytes); err != nil {
		t.Fatal(err)
	}
	// (0, 0) would read as the end of the entries: skipped, not an error.
	if err := x.Append(0, 0); err != nil || x.Entries() != 0 {
		t.Fatalf("Append(0, 0): %v, %d entries", err, x.Entries())
	}
	appendTimes(t, x, []timeEntry{{-5, 0}, {10, 1}})
	// A timestamp that did not grow is ignored, whatever its offset.
	for _, e := range []timeEntry{{10, 2}, {9, 0}, {-100, 7}} {
		if err := x.Append(e.timestamp, e.relative); err != nil {
			t.Errorf("Append(%d, %d): %v, want nil", e.timestamp, e.relative, err)
		}
	}
	if x.Entries() != 2 {
		t.Fatalf("%d entries, want 2", x.Entries())
	}
	if err := x.Append(20, 0); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("Append with a smaller offset: %v, want ErrOutOfOrder", err)
	}
	// An equal offset is fine: the max timestamp can grow within a batch.
	if err := x.Append(20, 1); err != nil {
		t.Fatal(err)
	}
	if !x.Full() {
		t.Fatal("not full with 3 entries in 36 bytes")
	}
	if err := x.Append(30, 2); !errors.Is(err, ErrFull) {
		t.Fatalf("Append when full: %v, want ErrFull", err)
	}
	if err := x.Append(20, 2); err != nil {
		t.Fatalf("Append of an old timestamp when full: %v, want nil", err)
	}
}

func TestTimeIndexTruncateTo(t *testing.T) {
	rng, seed := newRand(t)
	for range 20 {
		n := rng.IntN(2000)
		entries := randomTimeEntries(rng, n)
		path := indexPath(t, "truncate.timeindex")
		x := openTimes(t, path)
		if err := x.Grow(int64(n+100) * timeEntryBytes); err != nil {
			t.Fatal(err)
		}
		appendTimes(t, x, entries)
		to := RelOffset(rng.IntN(3))
		if n > 0 && rng.IntN(8) != 0 {
			to = entries[rng.IntN(n)].relative + RelOffset(rng.IntN(2))
		}
		kept := entries[:0:0]
		for _, e := range entries {
			if e.relative < to {
				kept = append(kept, e)
			}
		}
		x.TruncateTo(to)
		if got := timeEntriesOf(x); !slices.Equal(got, kept) {
			t.Fatalf("seed %d: TruncateTo(%d) of %d entries kept %d, want %d", seed, to, n, len(got), len(kept))
		}
		checkTimeLookups(t, x, kept, seed)
		if err := x.Sync(); err != nil {
			t.Fatal(err)
		}
		x.Close()
		reopened := openTimes(t, path)
		if got := timeEntriesOf(reopened); !slices.Equal(got, kept) {
			t.Fatalf("seed %d: after truncation and a reopen the walk found %d entries, want %d", seed, len(got), len(kept))
		}
	}
}

func TestTimeIndexResetSealReopen(t *testing.T) {
	rng, seed := newRand(t)
	path := indexPath(t, "seal.timeindex")
	x := openTimes(t, path)
	if err := x.Grow(1 << 15); err != nil {
		t.Fatal(err)
	}
	appendTimes(t, x, randomTimeEntries(rng, 500))
	x.Reset()
	if _, _, ok := x.Last(); ok || x.Entries() != 0 {
		t.Fatalf("seed %d: %d entries after Reset", seed, x.Entries())
	}
	entries := randomTimeEntries(rng, 1500)
	appendTimes(t, x, entries)
	if x.Consistent() {
		t.Fatal("a preallocated index reports Consistent")
	}
	if err := x.Sync(); err != nil {
		t.Fatal(err)
	}
	// Reopened unsealed (a crash): the walk finds the entries.
	x.Close()
	x = openTimes(t, path)
	if got := timeEntriesOf(x); !slices.Equal(got, entries) {
		t.Fatalf("seed %d: the walk found %d entries, want %d", seed, len(got), len(entries))
	}
	if err := x.Seal(); err != nil {
		t.Fatal(err)
	}
	if !x.Consistent() || !x.Full() {
		t.Fatalf("after Seal: Consistent %v, Full %v", x.Consistent(), x.Full())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, encodeTimes(entries)) {
		t.Fatalf("seed %d: the sealed file is not the documented layout of its entries", seed)
	}
	checkTimeLookups(t, x, entries, seed)
	x.Close()
	reopened := openTimes(t, path)
	if !reopened.Consistent() {
		t.Fatal("a sealed index reopens inconsistent")
	}
	checkTimeLookups(t, reopened, entries, seed)
}

func TestTimeIndexBadContents(t *testing.T) {
	valid := []timeEntry{{-10, 0}, {100, 1}, {200, 1}, {300, 4}}
	cases := []struct {
		name       string
		contents   []byte
		entries    int
		consistent bool
	}{
		{"valid", encodeTimes(valid), 4, true},
		{"garbage after", append(encodeTimes(valid), 1, 2, 3, 4, 5, 6, 7), 4, false},
		{"equal timestamp stops the walk", encodeTimes(append(slices.Clone(valid), timeEntry{300, 5}, timeEntry{400, 6})), 4, false},
		{"smaller offset stops the walk", encodeTimes(append(slices.Clone(valid), timeEntry{400, 3})), 4, false},
		{"(0, 0) ends the entries", encodeTimes([]timeEntry{{-10, 0}, {0, 0}, {5, 1}}), 1, false},
		{"zero first entry", encodeTimes([]timeEntry{{0, 0}, {5, 1}}), 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := indexPath(t, "bad.timeindex")
			writeFile(t, path, c.contents)
			x := openTimes(t, path)
			if x.Entries() != c.entries || x.Consistent() != c.consistent {
				t.Fatalf("walked %d entries, Consistent %v; want %d, %v", x.Entries(), x.Consistent(), c.entries, c.consistent)
			}
			if got := timeEntriesOf(x); !slices.Equal(got, valid[:min(len(got), len(valid))]) && c.name != "(0, 0) ends the entries" {
				t.Fatalf("walked entries %v", got)
			}
		})
	}
}

func TestTimeIndexAllocs(t *testing.T) {
	x := grownTimes(t, 5000)
	for i := range 4000 {
		if err := x.Append(int64(10*i+10), RelOffset(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	next := 4000
	if allocs := testing.AllocsPerRun(500, func() {
		x.Append(int64(10*next+10), RelOffset(next+1))
		next++
	}); allocs != 0 {
		t.Errorf("Append: %v allocs, want 0", allocs)
	}
	target := int64(0)
	if allocs := testing.AllocsPerRun(1000, func() {
		x.Lookup(target)
		target += 37
	}); allocs != 0 {
		t.Errorf("Lookup: %v allocs, want 0", allocs)
	}
}
