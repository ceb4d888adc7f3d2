package index

import "testing"

func TestLookupPositionAgainstModel(t *testing.T) {
	rng, seed := newRand(t)
	entries := randomOffsetEntries(rng, 3000)
	x := grownOffsets(t, len(entries))
	appendOffsets(t, x, entries)
	model := func(position Position) offsetEntry {
		found := offsetEntry{}
		for _, e := range entries {
			if e.position <= position {
				found = e
			}
		}
		return found
	}
	targets := []Position{0, 1, entries[0].position, entries[0].position - 1, entries[len(entries)-1].position, entries[len(entries)-1].position + 1, ^Position(0)}
	for range 2000 {
		e := entries[rng.IntN(len(entries))]
		targets = append(targets, e.position, e.position-1, e.position+1)
	}
	for _, target := range targets {
		want := model(target)
		relative, position := x.LookupPosition(target)
		if relative != want.relative || position != want.position {
			t.Fatalf("seed %d: LookupPosition(%d) = (%d, %d), want (%d, %d)", seed, target, relative, position, want.relative, want.position)
		}
	}
	empty := grownOffsets(t, 4)
	if relative, position := empty.LookupPosition(1 << 20); relative != 0 || position != 0 {
		t.Fatalf("empty index answered (%d, %d)", relative, position)
	}
}
