package inspect

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"spool/engine"
	"spool/internal/batchtest"
	"spool/segment"
)

// makePartition writes a partition with several segments; closed cleanly
// unless unclean.
func makePartition(t *testing.T, dir string, unclean bool) {
	t.Helper()
	l, err := engine.OpenLog(dir, engine.LogConfig{
		Segment:         segment.Config{SegmentBytes: 32 << 10, IndexBytes: 8 << 10, IndexIntervalBytes: 512},
		RetentionMillis: -1, RetentionBytes: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		if _, err := l.Append(batchtest.Values(3, 100, int64(1000+i)), 2); err != nil {
			t.Fatal(err)
		}
	}
	if !unclean {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	} else {
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
		// Left open for the test (unclean); closed before the temporary
		// directory is removed, so no write still in flight (a roll's
		// producer-state snapshot) races the removal.
		t.Cleanup(func() { l.Close() })
	}
}

// treeHash hashes every file's name, size and bytes under dir.
func treeHash(t *testing.T, dir string) string {
	t.Helper()
	var names []string
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			names = append(names, path)
		}
		return nil
	})
	sort.Strings(names)
	h := sha256.New()
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(name))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestVerifyAndDumpChangeNothing(t *testing.T) {
	data := t.TempDir()
	partition := filepath.Join(data, "events-0")
	makePartition(t, partition, false)
	before := treeHash(t, data)

	var out bytes.Buffer
	ok, err := Verify([]string{data}, &out)
	if err != nil || !ok {
		t.Fatalf("verify of a clean directory: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "600") || !strings.Contains(out.String(), "1 partitions checked: ok") {
		t.Fatalf("verify output:\n%s", out.String())
	}
	out.Reset()
	if err := Dump([]string{partition}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"segment 00000000000000000000.log", "batch offsets [0, 2] position 0", "codec none records 3", "offset index:", "time index:", "clean-shutdown:"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("dump lacks %q:\n%s", want, out.String()[:min(out.Len(), 3000)])
		}
	}
	if after := treeHash(t, data); after != before {
		t.Fatal("verify or dump changed the data directory")
	}
}

func TestVerifyFindsCorruption(t *testing.T) {
	partition := filepath.Join(t.TempDir(), "events-0")
	makePartition(t, partition, false)
	// Flip a byte inside a record of the first (sealed) segment.
	path := filepath.Join(partition, segment.FileName(0, segment.LogSuffix))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	one := []byte{0}
	f.ReadAt(one, 500)
	one[0] ^= 0x40
	f.WriteAt(one, 500)
	f.Close()
	var out bytes.Buffer
	ok, err := Verify([]string{partition}, &out)
	if err != nil || ok {
		t.Fatalf("verify passed a corrupt segment (%v):\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "PROBLEM: 00000000000000000000.log: invalid batch") {
		t.Fatalf("verify output:\n%s", out.String())
	}
}

func TestVerifyUncleanIsNotAProblem(t *testing.T) {
	partition := filepath.Join(t.TempDir(), "events-0")
	makePartition(t, partition, true)
	var out bytes.Buffer
	ok, err := Verify([]string{partition}, &out)
	if err != nil || !ok {
		t.Fatalf("verify of an unclean but intact directory: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "clean shutdown false") {
		t.Fatalf("verify output:\n%s", out.String())
	}
}
