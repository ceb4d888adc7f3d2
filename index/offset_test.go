package index

import (
	"bytes"
	"errors"
	"math"
	"os"
	"slices"
	"testing"
)

// checkOffsetLookups compares Lookup with the model at, around and between
// every entry, below the first, past the last, and at random targets.
func checkOffsetLookups(t *testing.T, x *OffsetIndex, entries []offsetEntry, seed uint64) {
	t.Helper()
	targets := []RelOffset{0, 1, math.MaxUint32, math.MaxUint32 - 1}
	for _, e := range entries {
		targets = append(targets, e.relative, e.relative-1, e.relative+1)
	}
	if n := len(entries); n > 0 {
		// Either side of the first warm entry, where the search picks its half.
		warm := entries[max(0, n-offsetWarmEntries)].relative
		targets = append(targets, warm-1, warm, warm+1)
	}
	for _, target := range targets {
		want := modelOffsetLookup(entries, target)
		relative, position := x.Lookup(target)
		if relative != want.relative || position != want.position {
			t.Fatalf("seed %d: %d entries: Lookup(%d) = (%d, %d), want (%d, %d)",
				seed, len(entries), target, relative, position, want.relative, want.position)
		}
	}
}

func TestOffsetIndexAgreesWithModel(t *testing.T) {
	rng, seed := newRand(t)
	// Sizes below, at and well past the warm section (1024 entries).
	for _, n := range []int{0, 1, 2, 3, 100, offsetWarmEntries - 1, offsetWarmEntries, offsetWarmEntries + 1, 3000, 1 + rng.IntN(6000)} {
		entries := randomOffsetEntries(rng, n)
		x := grownOffsets(t, n+rng.IntN(10))
		appendOffsets(t, x, entries)
		if got := offsetEntriesOf(x); !slices.Equal(got, entries) {
			t.Fatalf("seed %d: %d entries read back differently", seed, n)
		}
		checkOffsetLookups(t, x, entries, seed)
	}
}

func TestOffsetIndexWarmAndCold(t *testing.T) {
	// Entry i is (10·(i+1), 100·(i+1)): the answer for any target is known.
	const n = 5000
	x := grownOffsets(t, n)
	entries := make([]offsetEntry, n)
	for i := range entries {
		entries[i] = offsetEntry{RelOffset(10 * (i + 1)), Position(100 * (i + 1))}
	}
	appendOffsets(t, x, entries)
	firstWarm := n - offsetWarmEntries
	cases := []struct {
		name   string
		target RelOffset
		want   int // entry index, −1 for none
	}{
		{"below the first entry", 9, -1},
		{"at the first entry", 10, 0},
		{"between cold entries", 15, 0},
		{"cold, middle", 10*2500 + 3, 2499},
		{"just below the warm section", RelOffset(10*(firstWarm+1) - 1), firstWarm - 1},
		{"at the first warm entry", RelOffset(10 * (firstWarm + 1)), firstWarm},
		{"between warm entries", RelOffset(10*(firstWarm+2) + 5), firstWarm + 1},
		{"at the last entry", 10 * n, n - 1},
		{"past the last entry", math.MaxUint32, n - 1},
	}
	for _, c := range cases {
		relative, position := x.Lookup(c.target)
		want := offsetEntry{}
		if c.want >= 0 {
			want = entries[c.want]
		}
		if relative != want.relative || position != want.position {
			t.Errorf("%s: Lookup(%d) = (%d, %d), want (%d, %d)", c.name, c.target, relative, position, want.relative, want.position)
		}
	}
}

func TestOffsetIndexTruncateTo(t *testing.T) {
	rng, seed := newRand(t)
	for range 20 {
		n := rng.IntN(3000)
		entries := randomOffsetEntries(rng, n)
		path := indexPath(t, "truncate.index")
		x := openOffsets(t, path)
		if err := x.Grow(int64(n+100) * offsetEntryBytes); err != nil {
			t.Fatal(err)
		}
		appendOffsets(t, x, entries)

		// Truncate at an entry, between entries, below the first or past
		// the last.
		var to RelOffset
		switch {
		case n == 0 || rng.IntN(8) == 0:
			to = RelOffset(rng.IntN(3))
		case rng.IntN(8) == 0:
			to = entries[n-1].relative + 1 + RelOffset(rng.IntN(3))
		default:
			to = entries[rng.IntN(n)].relative + RelOffset(rng.IntN(2))
		}
		kept := entries[:0:0]
		for _, e := range entries {
			if e.relative < to {
				kept = append(kept, e)
			}
		}
		x.TruncateTo(to)
		if got := offsetEntriesOf(x); !slices.Equal(got, kept) {
			t.Fatalf("seed %d: TruncateTo(%d) of %d entries kept %d, want %d", seed, to, n, len(got), len(kept))
		}
		checkOffsetLookups(t, x, kept, seed)

		// Appends continue from the cut, and a reopen without a seal (a
		// crash) walks exactly to the new end: the dropped bytes are zeros.
		more := randomOffsetEntries(rng, rng.IntN(50))
		base := offsetEntry{}
		if len(kept) > 0 {
			base = kept[len(kept)-1]
		}
		for i := range more {
			more[i].relative += base.relative + 1
			more[i].position += base.position
		}
		appendOffsets(t, x, more)
		all := append(kept, more...)
		if err := x.Sync(); err != nil {
			t.Fatal(err)
		}
		x.Close()
		reopened := openOffsets(t, path)
		if got := offsetEntriesOf(reopened); !slices.Equal(got, all) {
			t.Fatalf("seed %d: after truncation, appends and a reopen the walk found %d entries, want %d", seed, len(got), len(all))
		}
		checkOffsetLookups(t, reopened, all, seed)
	}
}

func TestOffsetIndexReset(t *testing.T) {
	rng, seed := newRand(t)
	path := indexPath(t, "reset.index")
	x := openOffsets(t, path)
	if err := x.Grow(4096); err != nil {
		t.Fatal(err)
	}
	appendOffsets(t, x, randomOffsetEntries(rng, 300))
	x.Reset()
	if x.Entries() != 0 {
		t.Fatalf("seed %d: %d entries after Reset", seed, x.Entries())
	}
	if relative, position := x.Lookup(math.MaxUint32); relative != 0 || position != 0 {
		t.Fatalf("Lookup after Reset = (%d, %d)", relative, position)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !allZero(b) {
		t.Fatal("Reset left non-zero bytes in the file")
	}
	rebuilt := randomOffsetEntries(rng, 100)
	appendOffsets(t, x, rebuilt)
	checkOffsetLookups(t, x, rebuilt, seed)
}

func TestOffsetIndexFull(t *testing.T) {
	x := openOffsets(t, indexPath(t, "full.index"))
	if !x.Full() {
		t.Fatal("an index never grown is not full")
	}
	if err := x.Append(1, 1); !errors.Is(err, ErrFull) {
		t.Fatalf("Append before Grow: %v, want ErrFull", err)
	}
	// 85 bytes hold 10 whole entries.
	if err := x.Grow(85); err != nil {
		t.Fatal(err)
	}
	if got := fileBytes(t, x.Path()); got != 80 {
		t.Fatalf("Grow(85) made a file of %d bytes, want 80", got)
	}
	for i := 1; i <= 10; i++ {
		if x.Full() {
			t.Fatalf("full after %d entries", i-1)
		}
		if err := x.Append(RelOffset(i), Position(i)); err != nil {
			t.Fatal(err)
		}
	}
	if !x.Full() {
		t.Fatal("not full after 10 entries in 80 bytes")
	}
	if err := x.Append(11, 11); !errors.Is(err, ErrFull) {
		t.Fatalf("Append when full: %v, want ErrFull", err)
	}
	// Grow never shrinks; it does grow.
	if err := x.Grow(16); err != nil {
		t.Fatal(err)
	}
	if got := fileBytes(t, x.Path()); got != 80 || !x.Full() {
		t.Fatalf("Grow(16) left a file of %d bytes, full %v", got, x.Full())
	}
	if err := x.Grow(800); err != nil {
		t.Fatal(err)
	}
	if err := x.Append(11, 11); err != nil {
		t.Fatalf("Append after growing: %v", err)
	}
	if x.Entries() != 11 {
		t.Fatalf("%d entries, want 11", x.Entries())
	}
	if err := x.Grow(IndexBytesMax + 1); err == nil {
		t.Fatal("Grow past IndexBytesMax succeeded")
	}
}

func TestOffsetIndexAppendOutOfOrder(t *testing.T) {
	x := grownOffsets(t, 16)
	if err := x.Append(0, 0); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("Append(0, 0) first: %v, want ErrOutOfOrder", err)
	}
	if err := x.Append(0, 100); err != nil {
		t.Fatalf("Append(0, 100) first: %v", err)
	}
	for _, e := range []offsetEntry{{0, 200}, {5, 100}, {5, 50}} {
		if err := x.Append(e.relative, e.position); !errors.Is(err, ErrOutOfOrder) {
			t.Errorf("Append(%d, %d) after (0, 100): %v, want ErrOutOfOrder", e.relative, e.position, err)
		}
	}
	if x.Entries() != 1 {
		t.Fatalf("%d entries after rejected appends, want 1", x.Entries())
	}
}

func TestOffsetIndexSealReopen(t *testing.T) {
	rng, seed := newRand(t)
	path := indexPath(t, "seal.index")
	x := openOffsets(t, path)
	if err := x.Grow(1 << 16); err != nil {
		t.Fatal(err)
	}
	entries := randomOffsetEntries(rng, 2000)
	appendOffsets(t, x, entries)
	if x.Consistent() {
		t.Fatal("a preallocated index reports Consistent")
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
	if !bytes.Equal(b, encodeOffsets(entries)) {
		t.Fatalf("seed %d: the sealed file is not the documented layout of its entries", seed)
	}
	// The mapping outlives the cut: lookups still answer.
	checkOffsetLookups(t, x, entries, seed)
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}

	reopened := openOffsets(t, path)
	if !reopened.Consistent() {
		t.Fatal("a sealed index reopens inconsistent")
	}
	if got := offsetEntriesOf(reopened); !slices.Equal(got, entries) {
		t.Fatalf("seed %d: reopened %d entries, want %d", seed, len(got), len(entries))
	}
	checkOffsetLookups(t, reopened, entries, seed)

	// Activated again (after a truncation of the last segment, say), it
	// takes appends after its entries.
	reopened.TruncateTo(entries[1500].relative)
	if err := reopened.Grow(1 << 16); err != nil {
		t.Fatal(err)
	}
	last := entries[1499]
	if err := reopened.Append(last.relative+1, last.position+1); err != nil {
		t.Fatal(err)
	}
	if err := reopened.Seal(); err != nil {
		t.Fatal(err)
	}
	if got := fileBytes(t, path); got != 1501*offsetEntryBytes {
		t.Fatalf("resealed file has %d bytes, want %d", got, 1501*offsetEntryBytes)
	}
}

func TestOffsetIndexReopenPreallocated(t *testing.T) {
	rng, seed := newRand(t)
	path := indexPath(t, "prealloc.index")
	x := openOffsets(t, path)
	if err := x.Grow(1 << 14); err != nil {
		t.Fatal(err)
	}
	entries := randomOffsetEntries(rng, 700)
	appendOffsets(t, x, entries)
	if err := x.Sync(); err != nil {
		t.Fatal(err)
	}
	x.Close()

	reopened := openOffsets(t, path)
	if reopened.Consistent() {
		t.Fatal("an unsealed, preallocated index reopens Consistent")
	}
	if got := offsetEntriesOf(reopened); !slices.Equal(got, entries) {
		t.Fatalf("seed %d: the walk found %d entries, want %d", seed, len(got), len(entries))
	}
	if !reopened.Full() {
		t.Fatal("a reopened index takes appends before Grow")
	}
}

func TestOffsetIndexBadContents(t *testing.T) {
	valid := []offsetEntry{{1, 100}, {2, 200}, {3, 300}, {4, 400}}
	cases := []struct {
		name        string
		contents    []byte
		entries     int
		consistent  bool
		appendAfter offsetEntry // appended after Grow; a reopen then walks to it
	}{
		{"empty", nil, 0, true, offsetEntry{1, 1}},
		{"valid", encodeOffsets(valid), 4, true, offsetEntry{5, 500}},
		{"partial entry after", append(encodeOffsets(valid), 0, 0, 1), 4, false, offsetEntry{5, 500}},
		{"garbage after", append(encodeOffsets(valid), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 9, 9), 4, false, offsetEntry{5, 500}},
		{"zeros after", append(encodeOffsets(valid), make([]byte, 64)...), 4, false, offsetEntry{5, 500}},
		{"equal position stops the walk", encodeOffsets(append(slices.Clone(valid), offsetEntry{5, 400}, offsetEntry{6, 600})), 4, false, offsetEntry{5, 450}},
		{"smaller offset stops the walk", encodeOffsets(append(slices.Clone(valid), offsetEntry{2, 500}, offsetEntry{7, 700})), 4, false, offsetEntry{5, 450}},
		{"zero first entry", append(make([]byte, 8), encodeOffsets(valid)...), 0, false, offsetEntry{1, 1}},
		{"shorter than an entry", []byte{0, 0, 1}, 0, false, offsetEntry{1, 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := indexPath(t, "bad.index")
			writeFile(t, path, c.contents)
			x := openOffsets(t, path)
			if x.Entries() != c.entries || x.Consistent() != c.consistent {
				t.Fatalf("walked %d entries, Consistent %v; want %d, %v", x.Entries(), x.Consistent(), c.entries, c.consistent)
			}
			// Appending over a bad tail zeroes the slot after, so a walk
			// after a crash stops at the new end.
			if err := x.Grow(int64(len(c.contents)) + 2*offsetEntryBytes); err != nil {
				t.Fatal(err)
			}
			if err := x.Append(c.appendAfter.relative, c.appendAfter.position); err != nil {
				t.Fatal(err)
			}
			if err := x.Sync(); err != nil {
				t.Fatal(err)
			}
			x.Close()
			if n := openOffsets(t, path).Entries(); n != c.entries+1 {
				t.Fatalf("after an append and a reopen the walk found %d entries, want %d", n, c.entries+1)
			}
		})
	}
}

func TestOffsetIndexAllocs(t *testing.T) {
	x := grownOffsets(t, 5000)
	for i := range 4000 {
		if err := x.Append(RelOffset(2*i+1), Position(3*i+1)); err != nil {
			t.Fatal(err)
		}
	}
	next := 4000
	if allocs := testing.AllocsPerRun(500, func() {
		x.Append(RelOffset(2*next+1), Position(3*next+1))
		next++
	}); allocs != 0 {
		t.Errorf("Append: %v allocs, want 0", allocs)
	}
	target := RelOffset(0)
	if allocs := testing.AllocsPerRun(1000, func() {
		x.Lookup(target)
		target += 7
	}); allocs != 0 {
		t.Errorf("Lookup: %v allocs, want 0", allocs)
	}
}
