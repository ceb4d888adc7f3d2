package index

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

// The fuzz targets write arbitrary bytes as an index file and open it. The
// invariant: Open never panics and never fails on contents; the entries it
// walks are well formed (not all zeros, strictly increasing) and lie inside
// the file; Consistent is exactly "the entries cover the file"; Lookup agrees
// with a linear scan of the entries; and after Grow, an Append and a reopen,
// the walk finds exactly one entry more (the slot after the append is
// cleared, whatever the file held there).

// fuzzFileBytesMax keeps fuzz files small enough to be quick; the walk and
// the lookups do not care about size.
const fuzzFileBytesMax = 1 << 16

func fuzzPath(t *testing.T, contents []byte) string {
	path := filepath.Join(t.TempDir(), "fuzz")
	if err := os.WriteFile(path, contents, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func FuzzOpenOffsetIndex(f *testing.F) {
	f.Add([]byte{})
	f.Add(encodeOffsets([]offsetEntry{{1, 10}, {2, 20}, {7, 70}}))
	f.Add(append(encodeOffsets([]offsetEntry{{1, 10}, {2, 20}}), 0, 0, 0, 3, 0, 0, 0, 5, 9))
	f.Add(append(encodeOffsets([]offsetEntry{{1, 10}, {2, 20}}), make([]byte, 24)...))
	f.Add(encodeOffsets([]offsetEntry{{0, 10}, {2, 5}, {math.MaxUint32, math.MaxUint32}}))
	f.Fuzz(func(t *testing.T, contents []byte) {
		if len(contents) > fuzzFileBytesMax {
			return
		}
		path := fuzzPath(t, contents)
		x, err := OpenOffsetIndex(path)
		if err != nil {
			t.Fatalf("open failed on contents: %v", err)
		}
		defer x.Close()
		n := x.Entries()
		if int64(n)*offsetEntryBytes > int64(len(contents)) {
			t.Fatalf("%d entries in a file of %d bytes", n, len(contents))
		}
		if x.Consistent() != (n*offsetEntryBytes == len(contents)) {
			t.Fatalf("Consistent %v with %d entries in %d bytes", x.Consistent(), n, len(contents))
		}
		entries := offsetEntriesOf(x)
		for i, e := range entries {
			if i == 0 && e == (offsetEntry{}) {
				t.Fatal("an all-zero first entry was counted")
			}
			if i > 0 && (e.relative <= entries[i-1].relative || e.position <= entries[i-1].position) {
				t.Fatalf("entry %d %v does not increase over %v", i, e, entries[i-1])
			}
		}
		targets := []RelOffset{0, 1, math.MaxUint32}
		for _, e := range entries[:min(len(entries), 16)] {
			targets = append(targets, e.relative-1, e.relative, e.relative+1)
		}
		if len(entries) > 0 {
			last := entries[len(entries)-1].relative
			targets = append(targets, last-1, last, last+1)
		}
		for _, target := range targets {
			want := modelOffsetLookup(entries, target)
			if relative, position := x.Lookup(target); relative != want.relative || position != want.position {
				t.Fatalf("Lookup(%d) = (%d, %d), a scan says (%d, %d)", target, relative, position, want.relative, want.position)
			}
		}

		next := offsetEntry{1, 1}
		if n > 0 {
			last := entries[n-1]
			if last.relative == math.MaxUint32 || last.position == math.MaxUint32 {
				return
			}
			next = offsetEntry{last.relative + 1, last.position + 1}
		}
		if err := x.Grow(int64(len(contents)) + 2*offsetEntryBytes); err != nil {
			t.Fatal(err)
		}
		if err := x.Append(next.relative, next.position); err != nil {
			t.Fatal(err)
		}
		x.Close()
		reopened, err := OpenOffsetIndex(path)
		if err != nil {
			t.Fatal(err)
		}
		defer reopened.Close()
		if reopened.Entries() != n+1 {
			t.Fatalf("after an append to %d entries a reopen walks %d", n, reopened.Entries())
		}
	})
}

func FuzzOpenTimeIndex(f *testing.F) {
	f.Add([]byte{})
	f.Add(encodeTimes([]timeEntry{{-10, 0}, {20, 1}, {30, 1}}))
	f.Add(append(encodeTimes([]timeEntry{{5, 1}, {6, 2}}), 1, 2, 3))
	f.Add(encodeTimes([]timeEntry{{-10, 0}, {0, 0}, {30, 1}}))
	f.Add(encodeTimes([]timeEntry{{math.MinInt64, 0}, {math.MaxInt64, math.MaxUint32}}))
	f.Fuzz(func(t *testing.T, contents []byte) {
		if len(contents) > fuzzFileBytesMax {
			return
		}
		path := fuzzPath(t, contents)
		x, err := OpenTimeIndex(path)
		if err != nil {
			t.Fatalf("open failed on contents: %v", err)
		}
		defer x.Close()
		n := x.Entries()
		if int64(n)*timeEntryBytes > int64(len(contents)) {
			t.Fatalf("%d entries in a file of %d bytes", n, len(contents))
		}
		if x.Consistent() != (n*timeEntryBytes == len(contents)) {
			t.Fatalf("Consistent %v with %d entries in %d bytes", x.Consistent(), n, len(contents))
		}
		entries := timeEntriesOf(x)
		for i, e := range entries {
			if e == (timeEntry{}) {
				t.Fatalf("an all-zero entry %d was counted", i)
			}
			if i > 0 && (e.timestamp <= entries[i-1].timestamp || e.relative < entries[i-1].relative) {
				t.Fatalf("entry %d %v is out of order after %v", i, e, entries[i-1])
			}
		}
		targets := []int64{math.MinInt64, -1, 0, 1, math.MaxInt64}
		for _, e := range entries[:min(len(entries), 16)] {
			targets = append(targets, e.timestamp-1, e.timestamp, e.timestamp+1)
		}
		if len(entries) > 0 {
			last := entries[len(entries)-1].timestamp
			targets = append(targets, last-1, last, last+1)
		}
		for _, target := range targets {
			want, wantOK := modelTimeLookup(entries, target)
			if timestamp, relative, ok := x.Lookup(target); timestamp != want.timestamp || relative != want.relative || ok != wantOK {
				t.Fatalf("Lookup(%d) = (%d, %d, %v), a scan says (%d, %d, %v)", target, timestamp, relative, ok, want.timestamp, want.relative, wantOK)
			}
		}

		next := timeEntry{1, 1}
		if n > 0 {
			last := entries[n-1]
			if last.timestamp == math.MaxInt64 {
				return
			}
			next = timeEntry{last.timestamp + 1, last.relative}
			if next == (timeEntry{}) {
				next.timestamp++
			}
		}
		if err := x.Grow(int64(len(contents)) + 2*timeEntryBytes); err != nil {
			t.Fatal(err)
		}
		if err := x.Append(next.timestamp, next.relative); err != nil {
			t.Fatal(err)
		}
		x.Close()
		reopened, err := OpenTimeIndex(path)
		if err != nil {
			t.Fatal(err)
		}
		defer reopened.Close()
		if reopened.Entries() != n+1 {
			t.Fatalf("after an append to %d entries a reopen walks %d", n, reopened.Entries())
		}
	})
}
