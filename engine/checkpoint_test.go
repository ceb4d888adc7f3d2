package engine

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"spool/segment"
)

// damagedCheckpoints are what a checkpoint file may hold after the disk or
// an operator damaged it; writeOffsetFile never writes any of them.
var damagedCheckpoints = []struct {
	name string
	data func(valid string) string
}{
	// Cut before its newline: the digits left are a number, but not the
	// one written (333 read as 33 would expose offsets 33 to 332).
	{"truncated", func(valid string) string { return valid[:len(valid)-2] }},
	{"empty", func(string) string { return "" }},
	{"garbage", func(string) string { return "\x00\x17 not an offset\n" }},
	{"negative", func(string) string { return "-5\n" }},
	{"signed", func(valid string) string { return "+" + valid }},
	{"overflow", func(string) string { return "99999999999999999999\n" }},
}

// deletedLog leaves in dir a closed log of 600 offsets in several segments
// whose start DeleteRecords moved to 333, inside a segment.
func deletedLog(t *testing.T, dir string) {
	t.Helper()
	l := mustOpen(t, dir, smallConfig())
	appendN(t, l, 300, 2, 200, clock)
	if _, err := l.DeleteRecords(333); err != nil {
		t.Fatal(err)
	}
	if base := l.segments.Load().segments[0].BaseOffset(); base >= 333 || base == 0 {
		t.Fatalf("first kept segment at %d: the test needs a start inside a segment", base)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// A damaged log-start-offset file fails the open: reading it as 0 (as the
// open once did) would expose the records DeleteRecords removed, back to
// the first segment's base.
func TestDamagedLogStartOffsetFailsTheOpen(t *testing.T) {
	for _, damage := range damagedCheckpoints {
		t.Run(damage.name, func(t *testing.T) {
			dir := t.TempDir()
			deletedLog(t, dir)
			path := filepath.Join(dir, logStartOffsetFileName)
			valid, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(damage.data(string(valid))), 0o644); err != nil {
				t.Fatal(err)
			}
			l, err := OpenLog(dir, smallConfig())
			if err == nil {
				start := l.LogStartOffset()
				l.Close()
				t.Fatalf("opened with log start offset %d from %q; want an error (DeleteRecords moved it to 333)", start, damage.data(string(valid)))
			}
			if !errors.Is(err, errCheckpointFile) {
				t.Fatalf("open: %v, want errCheckpointFile", err)
			}
		})
	}
}

// A missing log-start-offset file is a start that never moved: the open
// starts at what the segments prove, the first one's base.
func TestMissingLogStartOffsetIsTheFirstSegment(t *testing.T) {
	dir := t.TempDir()
	deletedLog(t, dir)
	if err := os.Remove(filepath.Join(dir, logStartOffsetFileName)); err != nil {
		t.Fatal(err)
	}
	l := mustOpen(t, dir, smallConfig())
	defer l.Close()
	if first := l.segments.Load().segments[0].BaseOffset(); l.LogStartOffset() != first {
		t.Fatalf("log start offset %d, first segment at %d", l.LogStartOffset(), first)
	}
}

// A damaged cleaner checkpoint fails the open: no value stands in safely
// for both of its uses (readCheckpoints).
func TestDamagedCleanerCheckpointFailsTheOpen(t *testing.T) {
	for _, damage := range damagedCheckpoints {
		t.Run(damage.name, func(t *testing.T) {
			dir := t.TempDir()
			l := mustOpen(t, dir, smallConfig())
			appendN(t, l, 10, 2, 200, clock)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			valid := "1234\n"
			if err := os.WriteFile(filepath.Join(dir, cleanerCheckpointFileName), []byte(damage.data(valid)), 0o644); err != nil {
				t.Fatal(err)
			}
			l, err := OpenLog(dir, smallConfig())
			if err == nil {
				l.Close()
				t.Fatalf("opened with cleaner checkpoint %q", damage.data(valid))
			}
			if !errors.Is(err, errCheckpointFile) {
				t.Fatalf("open: %v, want errCheckpointFile", err)
			}
		})
	}
}

// A damaged recovery point stands for 0: the open scans every segment, so
// it finds damage in a segment it would have trusted. The control case
// (the recovery point intact) shows the damage goes unseen by a trusted
// open, so the scan is what found it.
func TestDamagedRecoveryPointScansEverything(t *testing.T) {
	for _, damaged := range []bool{false, true} {
		dir := t.TempDir()
		l := mustOpen(t, dir, smallConfig())
		appendN(t, l, 300, 2, 200, clock)
		first := l.segments.Load().segments[0]
		if len(l.segments.Load().segments) < 3 || l.recoveryPoint <= first.NextOffset() {
			t.Fatalf("recovery point %d: the test needs sealed segments below it", l.recoveryPoint)
		}
		stopUncleanly(l)
		// A record byte in the first batch: below the offset index's last
		// entry, which only a scan reads.
		flipByte(t, filepath.Join(dir, segment.FileName(0, segment.LogSuffix)), 100)
		if damaged {
			if err := os.WriteFile(filepath.Join(dir, recoveryPointFileName), []byte("garbage\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		l = mustOpen(t, dir, smallConfig())
		if got, want := l.Corruptions(), map[bool]int64{false: 0, true: 1}[damaged]; got != want {
			t.Errorf("recovery point damaged %v: %d corruptions found, want %d", damaged, got, want)
		}
		l.Close()
	}
}
