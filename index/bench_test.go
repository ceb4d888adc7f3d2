package index

import (
	"math/rand/v2"
	"testing"
)

// benchmarkEntries fills a default-sized index (segment.index.bytes, 10 MiB):
// 1,310,720 entries, the worst case for a cold search. At one entry per
// benchmarkPositionStep bytes they index 1.25 GiB of log, within the 4-byte
// position field.
const (
	benchmarkEntries      = (10 << 20) / offsetEntryBytes
	benchmarkPositionStep = 1024
)

func fullOffsetIndex(b *testing.B) *OffsetIndex {
	b.Helper()
	x := grownOffsets(b, benchmarkEntries)
	for i := range benchmarkEntries {
		if err := x.Append(RelOffset(4*(i+1)), Position(benchmarkPositionStep*(i+1))); err != nil {
			b.Fatal(err)
		}
	}
	return x
}

// BenchmarkOffsetIndexLookup measures a lookup in a full default-sized index:
// at the tail (inside the warm section, as followers and caught-up consumers
// look up) and anywhere (a consumer starting from an old offset).
func BenchmarkOffsetIndexLookup(b *testing.B) {
	x := fullOffsetIndex(b)
	const targetsCount = 1 << 12 // a power of two, for the mask below
	rng := rand.New(rand.NewPCG(1, 2))
	warm := make([]RelOffset, targetsCount)
	cold := make([]RelOffset, targetsCount)
	for i := range warm {
		warm[i] = RelOffset(4 * (benchmarkEntries - rng.IntN(offsetWarmEntries)))
		cold[i] = RelOffset(rng.IntN(4 * benchmarkEntries))
	}
	for _, c := range []struct {
		name    string
		targets []RelOffset
	}{{"warm", warm}, {"cold", cold}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var sink Position
			i := 0
			for b.Loop() {
				_, position := x.Lookup(c.targets[i&(targetsCount-1)])
				sink += position
				i++
			}
			_ = sink
		})
	}
}

// BenchmarkOffsetIndexAppend measures Append into a preallocated index,
// resetting it (off the clock) when it fills.
func BenchmarkOffsetIndexAppend(b *testing.B) {
	x := grownOffsets(b, benchmarkEntries)
	b.ReportAllocs()
	b.SetBytes(offsetEntryBytes)
	i := 0
	for b.Loop() {
		if i == benchmarkEntries {
			b.StopTimer()
			x.Reset()
			i = 0
			b.StartTimer()
		}
		if err := x.Append(RelOffset(4*(i+1)), Position(benchmarkPositionStep*(i+1))); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkTimeIndexLookup is the time index's warm-tail lookup.
func BenchmarkTimeIndexLookup(b *testing.B) {
	const entries = (10 << 20) / timeEntryBytes
	x := grownTimes(b, entries)
	for i := range entries {
		if err := x.Append(int64(1000*(i+1)), RelOffset(4*(i+1))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		x.Lookup(int64(1000 * (entries - i%timeWarmEntries)))
		i++
	}
}
