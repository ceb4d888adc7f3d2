package index

import (
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("index.seed", 0, "seed for the randomized index tests (0: from the clock)")

// newRand returns a seeded generator and logs the seed, which every failure
// message repeats: go test -run NAME -index.seed=SEED reproduces it.
func newRand(t testing.TB) (*rand.Rand, uint64) {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -index.seed=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), seed
}

type offsetEntry struct {
	relative RelOffset
	position Position
}

type timeEntry struct {
	timestamp int64
	relative  RelOffset
}

// randomOffsetEntries makes n entries strictly increasing in both fields,
// with gaps small and large so lookups land at, between and around them.
func randomOffsetEntries(rng *rand.Rand, n int) []offsetEntry {
	entries := make([]offsetEntry, n)
	relative, position := RelOffset(rng.IntN(3)), Position(1+rng.IntN(100))
	for i := range entries {
		entries[i] = offsetEntry{relative, position}
		relative += RelOffset(1 + rng.IntN(40))
		position += Position(1 + rng.IntN(5000))
	}
	return entries
}

// randomTimeEntries makes n entries with strictly increasing timestamps
// (some negative) and relative offsets that never decrease.
func randomTimeEntries(rng *rand.Rand, n int) []timeEntry {
	entries := make([]timeEntry, n)
	timestamp, relative := int64(rng.IntN(2000))-1000, RelOffset(1+rng.IntN(3))
	for i := range entries {
		entries[i] = timeEntry{timestamp, relative}
		timestamp += int64(1 + rng.IntN(30))
		relative += RelOffset(rng.IntN(3))
	}
	return entries
}

// modelOffsetLookup is the brute-force answer: the last entry at or below
// target, or (0, 0).
func modelOffsetLookup(entries []offsetEntry, target RelOffset) offsetEntry {
	answer := offsetEntry{}
	for _, e := range entries {
		if e.relative <= target {
			answer = e
		}
	}
	return answer
}

// modelTimeLookup is the brute-force answer: the last entry strictly below
// target.
func modelTimeLookup(entries []timeEntry, target int64) (timeEntry, bool) {
	answer, ok := timeEntry{}, false
	for _, e := range entries {
		if e.timestamp < target {
			answer, ok = e, true
		}
	}
	return answer, ok
}

func indexPath(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(t.TempDir(), name)
}

// openOffsets opens an offset index at path and closes it when the test ends.
func openOffsets(t testing.TB, path string) *OffsetIndex {
	t.Helper()
	x, err := OpenOffsetIndex(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

func openTimes(t testing.TB, path string) *TimeIndex {
	t.Helper()
	x, err := OpenTimeIndex(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

// grownOffsets is a new offset index with room for capacity entries.
func grownOffsets(t testing.TB, capacity int) *OffsetIndex {
	t.Helper()
	x := openOffsets(t, indexPath(t, "00000000000000000000.index"))
	if err := x.Grow(int64(capacity) * offsetEntryBytes); err != nil {
		t.Fatal(err)
	}
	return x
}

func grownTimes(t testing.TB, capacity int) *TimeIndex {
	t.Helper()
	x := openTimes(t, indexPath(t, "00000000000000000000.timeindex"))
	if err := x.Grow(int64(capacity) * timeEntryBytes); err != nil {
		t.Fatal(err)
	}
	return x
}

func appendOffsets(t testing.TB, x *OffsetIndex, entries []offsetEntry) {
	t.Helper()
	for i, e := range entries {
		if err := x.Append(e.relative, e.position); err != nil {
			t.Fatalf("append %d (%d, %d): %v", i, e.relative, e.position, err)
		}
	}
}

func appendTimes(t testing.TB, x *TimeIndex, entries []timeEntry) {
	t.Helper()
	for i, e := range entries {
		if err := x.Append(e.timestamp, e.relative); err != nil {
			t.Fatalf("append %d (%d, %d): %v", i, e.timestamp, e.relative, err)
		}
	}
}

// offsetEntriesOf reads every entry back.
func offsetEntriesOf(x *OffsetIndex) []offsetEntry {
	entries := make([]offsetEntry, x.Entries())
	for i := range entries {
		entries[i].relative, entries[i].position = x.Entry(i)
	}
	return entries
}

func timeEntriesOf(x *TimeIndex) []timeEntry {
	entries := make([]timeEntry, x.Entries())
	for i := range entries {
		entries[i].timestamp, entries[i].relative = x.Entry(i)
	}
	return entries
}

func fileBytes(t testing.TB, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// encodeOffsets lays entries out as an .index file holds them.
func encodeOffsets(entries []offsetEntry) []byte {
	b := make([]byte, 0, len(entries)*offsetEntryBytes)
	for _, e := range entries {
		b = append(b, byte(e.relative>>24), byte(e.relative>>16), byte(e.relative>>8), byte(e.relative))
		b = append(b, byte(e.position>>24), byte(e.position>>16), byte(e.position>>8), byte(e.position))
	}
	return b
}

func encodeTimes(entries []timeEntry) []byte {
	b := make([]byte, 0, len(entries)*timeEntryBytes)
	for _, e := range entries {
		ts := uint64(e.timestamp)
		b = append(b, byte(ts>>56), byte(ts>>48), byte(ts>>40), byte(ts>>32), byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts))
		b = append(b, byte(e.relative>>24), byte(e.relative>>16), byte(e.relative>>8), byte(e.relative))
	}
	return b
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
