package segment

import (
	"os"
	"path/filepath"
	"testing"

	"spool/internal/batchtest"
)

// FuzzOpenSegment writes arbitrary bytes as a .log (and, from the same
// input, its offset index), opens it trusted and untrusted, and checks the
// recovery invariant: opening never panics, and what it keeps is a run of
// valid batches from position 0, offsets ascending (compaction leaves gaps
// between batches), that plans agree with.
func FuzzOpenSegment(f *testing.F) {
	var seed []byte
	for i := 0; i < 5; i++ {
		b := batchtest.Values(1+i, 40, int64(1000+i))
		stampBatch(b, Offset(len(seed)), 0)
		seed = append(seed, b...)
	}
	f.Add(seed, []byte{}, true)
	f.Add(seed[:len(seed)-7], []byte{0, 0, 0, 1, 0, 0, 0, 70}, false)
	f.Add([]byte{}, []byte{}, true)
	f.Fuzz(func(t *testing.T, log, offsetIndex []byte, trusted bool) {
		if len(log) > 64<<10 || len(offsetIndex) > 64<<10 {
			return
		}
		dir := fuzzDir(t)
		if err := os.WriteFile(filepath.Join(dir, FileName(0, LogSuffix)), log, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, FileName(0, IndexSuffix)), offsetIndex, 0o644); err != nil {
			t.Fatal(err)
		}
		s, _, err := Open(dir, 0, Config{SegmentBytes: SegmentBytesMin, IndexBytes: 4096, IndexIntervalBytes: 64}, trusted)
		if err != nil {
			return // larger than the format allows, or an I/O error
		}
		defer s.Close()
		next := Offset(0)
		end := Scan(s.Bytes(0), func(b ScannedBatch) bool {
			if b.Err != nil {
				t.Fatalf("kept an invalid batch at %d: %v", b.Position, b.Err)
			}
			if b.Position > 0 && b.Header.BaseOffset < next {
				t.Fatalf("kept a batch at offset %d after %d", b.Header.BaseOffset, next)
			}
			extent, _, err := s.Plan(b.Header.BaseOffset, 1<<62, 1, true)
			if err != nil || extent.Position != b.Position {
				t.Fatalf("plan of %d: %+v %v, batch at %d", b.Header.BaseOffset, extent, err, b.Position)
			}
			next = b.Header.NextOffset()
			return true
		})
		if end != s.Size() {
			t.Fatalf("kept %d bytes but batches end at %d", s.Size(), end)
		}
		if s.Size() > 0 && s.NextOffset() != next {
			t.Fatalf("next offset %d, batches end at %d", s.NextOffset(), next)
		}
	})
}

// fuzzDir is a fresh directory on /dev/shm when it exists: opening a
// segment syncs files and directories, and on a real disk those syncs,
// not the code under test, set the pace of fuzzing.
func fuzzDir(t *testing.T) string {
	if info, err := os.Stat("/dev/shm"); err == nil && info.IsDir() {
		dir, err := os.MkdirTemp("/dev/shm", "spool-fuzz-")
		if err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}
