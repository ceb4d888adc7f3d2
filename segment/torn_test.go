package segment

import (
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"testing"
	"time"
)

// iterations reads SPOOL_CRASH_ITERATIONS (set by `make crash` and `make
// fuzz`), defaulting to a few dozen for `make test`.
func iterations(t testing.TB, fallback int) int {
	if v := os.Getenv("SPOOL_CRASH_ITERATIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("SPOOL_CRASH_ITERATIONS=%q", v)
		}
		return n
	}
	if testing.Short() {
		return fallback / 4
	}
	return fallback
}

func seed(t testing.TB) int64 {
	if v := os.Getenv("SPOOL_SEED"); v != "" {
		s, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return time.Now().UnixNano()
}

// tornDamage is one way a crash (or a bad disk) leaves the end of an active
// segment.
type tornDamage int

const (
	damageTruncate   tornDamage = iota // the file cut at a random byte
	damageZeroPages                    // the last pages zeroed from a random byte on
	damageFlipLast                     // a bit flipped in the last batch
	damageGarbage                      // random bytes after the last batch
	damageZeroTail                     // zeros written over the preallocated tail
	damageFlipMiddle                   // a bit flipped in an earlier batch: corruption
	damageCount
)

func (d tornDamage) String() string {
	return [...]string{"truncate", "zero-pages", "flip-last", "garbage", "zero-tail", "flip-middle"}[d]
}

// TestTornTail appends batches to a segment, stops without sealing, damages
// the file's end in a random way, and checks that recovery ends on exactly
// the valid prefix (batch boundary included), classifies corruption only
// when valid batches follow the damage, and leaves indexes that agree with a
// scan. SPOOL_SEED replays a run; the seed is printed on failure.
func TestTornTail(t *testing.T) {
	runSeed := seed(t)
	rng := rand.New(rand.NewSource(runSeed))
	n := iterations(t, 40)
	for i := 0; i < n; i++ {
		damage := tornDamage(rng.Intn(int(damageCount)))
		mode := WriteMode(rng.Intn(2))
		iterationSeed := rng.Int63()
		if !tornTailOnce(t, damage, mode, iterationSeed) {
			t.Fatalf("failed: iteration %d of SPOOL_SEED=%d (damage %s, mode %s, iteration seed %d)", i, runSeed, damage, mode, iterationSeed)
		}
	}
	t.Logf("%d iterations, SPOOL_SEED=%d", n, runSeed)
}

func tornTailOnce(t *testing.T, damage tornDamage, mode WriteMode, iterationSeed int64) bool {
	t.Helper()
	rng := rand.New(rand.NewSource(iterationSeed))
	dir := t.TempDir()
	cfg := testConfig(mode)
	s, err := Create(dir, 1000, cfg)
	if err != nil {
		t.Fatal(err)
	}
	batches := appendBatches(t, s, 5+rng.Intn(120), ascending)
	end := s.Size()
	path := s.Path()
	if mode == WriteMmap {
		s.Sync() // msync, so the pwrite/truncate below sees the mapping's bytes
	}
	s.Close() // an unclean stop: no seal, the file stays preallocated

	// boundary is the largest batch boundary ≤ p: the valid prefix left
	// when the bytes from p on are damaged.
	boundary := func(p int64) int {
		kept := 0
		for kept < len(batches) && batches[kept].position+int64(len(batches[kept].bytes)) <= p {
			kept++
		}
		return kept
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantKept, wantCorrupt := len(batches), false
	switch damage {
	case damageTruncate:
		p := rng.Int63n(end + 1)
		f.Truncate(p)
		wantKept = boundary(p)
	case damageZeroPages:
		p := rng.Int63n(end + 1)
		// Zeroing bytes that were zero changes nothing (record values
		// here are mostly zeros): the damage starts at the first byte
		// that really changes.
		original := make([]byte, end-p)
		f.ReadAt(original, p)
		changed := end
		for i, c := range original {
			if c != 0 {
				changed = p + int64(i)
				break
			}
		}
		f.WriteAt(make([]byte, end-p), p)
		wantKept = boundary(changed)
	case damageFlipLast, damageFlipMiddle:
		victim := len(batches) - 1
		if damage == damageFlipMiddle && len(batches) > 1 {
			victim = rng.Intn(len(batches) - 1)
			wantCorrupt = true
		}
		b := batches[victim]
		// Any byte but the leader epoch (12..15): it lies outside the CRC
		// by Kafka's design, so a flip there cannot be detected.
		at := rng.Intn(len(b.bytes) - 4)
		if at >= 12 {
			at += 4
		}
		one := []byte{0}
		f.ReadAt(one, b.position+int64(at))
		one[0] ^= 1 << rng.Intn(8)
		f.WriteAt(one, b.position+int64(at))
		wantKept = victim
	case damageGarbage:
		garbage := make([]byte, 1+rng.Intn(5000))
		rng.Read(garbage)
		f.WriteAt(garbage, end)
	case damageZeroTail:
		f.WriteAt(make([]byte, 1+rng.Intn(100_000)), end)
	}
	f.Close()

	reopened, report, err := Open(dir, 1000, cfg, false)
	if err != nil {
		t.Errorf("open: %v", err)
		return false
	}
	defer reopened.Close()
	wantNext, wantBytes := Offset(1000), int64(0)
	if wantKept > 0 {
		wantNext = batches[wantKept-1].last + 1
		wantBytes = batches[wantKept-1].position + int64(len(batches[wantKept-1].bytes))
	}
	ok := true
	if reopened.NextOffset() != wantNext || reopened.Size() != wantBytes || report.Batches != wantKept {
		t.Errorf("recovered %d batches, %d bytes, next %d; want %d, %d, %d (%s)", report.Batches, reopened.Size(), reopened.NextOffset(), wantKept, wantBytes, wantNext, report)
		ok = false
	}
	if report.Corrupt != wantCorrupt {
		t.Errorf("corrupt = %v, want %v (%s)", report.Corrupt, wantCorrupt, report)
		ok = false
	}
	if info, err := os.Stat(path); err != nil || info.Size() != wantBytes {
		t.Errorf("file not cut to the valid prefix: %v %v", info.Size(), err)
		ok = false
	}
	if wantKept > 0 {
		checkPlans(t, reopened, batches[:wantKept])
	}
	// The recovered segment takes appends again after the valid prefix.
	if err := reopened.Activate(); err != nil {
		t.Error(err)
		return false
	}
	more := appendBatches(t, reopened, 2, ascending)
	if more[0].base != wantNext {
		t.Errorf("append after recovery at %d, want %d", more[0].base, wantNext)
		ok = false
	}
	return ok && !t.Failed()
}

// TestRecoveryAcceptsGapsOnlyBelowGapsBelow: a batch's base offset lies
// outside its CRC, so a torn or flipped base offset shows only as a jump
// past the batch before. A scan takes such a gap only where compaction can
// have left one (Config.GapsBelow): a flipped high bit in the last batch's
// base offset is a torn tail, while the same segment opened as a
// compacted one keeps it.
func TestRecoveryAcceptsGapsOnlyBelowGapsBelow(t *testing.T) {
	for _, gapsBelow := range []Offset{0, 1 << 62} {
		t.Run(fmt.Sprint("gapsBelow=", gapsBelow), func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(WritePwrite)
			s, err := Create(dir, 0, cfg)
			if err != nil {
				t.Fatal(err)
			}
			batches := appendBatches(t, s, 3, ascending)
			path := s.Path()
			s.Close() // unclean: no seal
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			// Bit 16 of the last batch's base offset (byte 5 of 8).
			last := batches[2]
			var b [1]byte
			f.ReadAt(b[:], last.position+5)
			b[0] ^= 0x01
			f.WriteAt(b[:], last.position+5)
			f.Close()
			cfg.GapsBelow = gapsBelow
			reopened, report, err := Open(dir, 0, cfg, false)
			if err != nil {
				t.Fatal(err)
			}
			defer reopened.Close()
			want, wantNext := 2, batches[1].last+1
			if gapsBelow > 0 {
				want, wantNext = 3, last.last+1+1<<16
			}
			if report.Batches != want || reopened.NextOffset() != wantNext {
				t.Fatalf("recovered %d batches, next %d; want %d, %d (%s)", report.Batches, reopened.NextOffset(), want, wantNext, report)
			}
		})
	}
}
