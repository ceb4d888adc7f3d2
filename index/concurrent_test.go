package index

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// In these tests entry i of the offset index is (2·(i+1), 3·(i+1)+d), with
// d in [0, 3) fixed per round of appends, and entry i of the time index is
// (10·(i+1), i+1): from any answer a reader can tell which entry it is and
// whether it was torn.

const (
	concurrentReaders = 3
	concurrentEntries = 20000
)

// runReaders runs read on concurrentReaders goroutines until stop is closed,
// and reports the first error any of them returns.
func runReaders(t *testing.T, seed uint64, stop <-chan struct{}, read func(rng *rand.Rand) error) *sync.WaitGroup {
	t.Helper()
	var wg sync.WaitGroup
	for r := range concurrentReaders {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(r)))
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := read(rng); err != nil {
					t.Errorf("seed %d: reader %d: %v", seed, r, err)
					return
				}
			}
		})
	}
	return &wg
}

// expectedOffsetEntry is the index of the last of the first n entries at or
// below target, or −1.
func expectedOffsetEntry(n int, target RelOffset) int {
	return min(n, int(target/2)) - 1
}

func TestOffsetIndexConcurrentAppendLookup(t *testing.T) {
	_, seed := newRand(t)
	x := grownOffsets(t, concurrentEntries)
	stop := make(chan struct{})
	wg := runReaders(t, seed, stop, func(rng *rand.Rand) error {
		target := RelOffset(rng.IntN(2*concurrentEntries + 10))
		before := x.Entries()
		relative, position := x.Lookup(target)
		after := x.Entries()
		lowest, highest := expectedOffsetEntry(before, target), expectedOffsetEntry(after, target)
		i := int(relative/2) - 1
		if relative%2 != 0 || (i >= 0 && position != Position(3*(i+1))) || (i < 0 && position != 0) {
			return fmt.Errorf("Lookup(%d) = (%d, %d), which was never appended", target, relative, position)
		}
		if i < lowest || i > highest {
			return fmt.Errorf("Lookup(%d) = entry %d, want one in [%d, %d] (%d then %d entries)", target, i, lowest, highest, before, after)
		}
		return nil
	})
	for i := range concurrentEntries {
		if err := x.Append(RelOffset(2*(i+1)), Position(3*(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

// TestOffsetIndexConcurrentTruncate drives the one change readers can race
// with: entries dropped and appended again, with other positions, while
// readers look up. A reader must get the right entry or, when truncations
// kept interrupting it, the safe (0, 0); never a torn or dropped entry for a
// target below the truncation point.
func TestOffsetIndexConcurrentTruncate(t *testing.T) {
	rng, seed := newRand(t)
	const stable = 2000 // entries never truncated
	x := grownOffsets(t, stable+2000)
	for i := range stable {
		if err := x.Append(RelOffset(2*(i+1)), Position(3*(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	var fallbacks, lookups atomic.Int64
	stop := make(chan struct{})
	wg := runReaders(t, seed, stop, func(rng *rand.Rand) error {
		target := RelOffset(rng.IntN(2*(stable+2000) + 10))
		relative, position := x.Lookup(target)
		lookups.Add(1)
		if relative == 0 && position == 0 {
			fallbacks.Add(1)
			if target >= 2 {
				return nil // the always-correct answer after too many retries
			}
		}
		i := int(relative/2) - 1
		d := int(position) - 3*(i+1)
		switch {
		case relative > target:
			return fmt.Errorf("Lookup(%d) = (%d, %d), past the target", target, relative, position)
		case relative%2 != 0 || d < 0 || d > 2 || (i < stable && d != 0):
			return fmt.Errorf("Lookup(%d) = (%d, %d), a torn entry", target, relative, position)
		case target < 2*(stable+1) && i != expectedOffsetEntry(stable, target):
			return fmt.Errorf("Lookup(%d) = entry %d in the stable entries, want %d", target, i, expectedOffsetEntry(stable, target))
		case target >= 2*(stable+1) && i < stable-1:
			return fmt.Errorf("Lookup(%d) = entry %d, below the last stable entry", target, i)
		}
		return nil
	})
	for round := range 300 {
		d := round % 3
		for i := stable; i < stable+1+rng.IntN(1999); i++ {
			if err := x.Append(RelOffset(2*(i+1)), Position(3*(i+1)+d)); err != nil {
				t.Fatal(err)
			}
		}
		x.TruncateTo(RelOffset(2 * (stable + 1)))
	}
	close(stop)
	wg.Wait()
	t.Logf("%d lookups, %d answered (0, 0) after retries", lookups.Load(), fallbacks.Load())
}

func TestTimeIndexConcurrentTruncate(t *testing.T) {
	rng, seed := newRand(t)
	const stable = 1000
	x := grownTimes(t, stable+2000)
	for i := range stable {
		if err := x.Append(int64(10*(i+1)), RelOffset(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	wg := runReaders(t, seed, stop, func(rng *rand.Rand) error {
		target := int64(rng.IntN(10*(stable+2000) + 20))
		timestamp, relative, ok := x.Lookup(target)
		if !ok {
			if timestamp != 0 || relative != 0 {
				return fmt.Errorf("Lookup(%d) = (%d, %d, false)", target, timestamp, relative)
			}
			return nil // none, or the safe answer after retries
		}
		i := int(relative) - 1
		switch {
		case timestamp >= target:
			return fmt.Errorf("Lookup(%d) = (%d, %d), not below the target", target, timestamp, relative)
		case timestamp != int64(10*(i+1)):
			return fmt.Errorf("Lookup(%d) = (%d, %d), a torn entry", target, timestamp, relative)
		case target <= int64(10*(stable+1)) && i != int((target-1)/10)-1:
			return fmt.Errorf("Lookup(%d) = entry %d in the stable entries, want %d", target, i, (target-1)/10-1)
		}
		if timestamp, relative, ok := x.Last(); !ok || timestamp != int64(10*relative) || relative < stable {
			return fmt.Errorf("Last() = (%d, %d, %v)", timestamp, relative, ok)
		}
		return nil
	})
	for range 300 {
		for i := stable; i < stable+1+rng.IntN(1999); i++ {
			if err := x.Append(int64(10*(i+1)), RelOffset(i+1)); err != nil {
				t.Fatal(err)
			}
		}
		x.TruncateTo(stable + 1)
	}
	close(stop)
	wg.Wait()
}
