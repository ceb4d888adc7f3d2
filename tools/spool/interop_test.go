package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edsrzf/mmap-go"

	"spool/segment"
)

// kcat runs kcat (librdkafka 2.0.2 on Debian 12) with a deadline.
func kcat(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("kcat", args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	done := make(chan struct{})
	var out []byte
	var err error
	go func() {
		out, err = cmd.Output()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("kcat %v: timed out\n%s%s", args, out, stderr.String())
	}
	if err != nil {
		t.Fatalf("kcat %v: %v\n%s%s", args, err, out, stderr.String())
	}
	return string(out)
}

// TestKcatInterop drives a real broker with kcat: metadata, produce with
// keys (lz4), consume from the beginning, offsets by time, and proof the
// lz4 batch is stored compressed. `make interop` installs kcat and sets
// SPOOL_INTEROP=1, which turns a missing kcat into a failure.
func TestKcatInterop(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		if os.Getenv("SPOOL_INTEROP") != "" {
			t.Fatal("kcat not found (make interop installs it)")
		}
		t.Skip("kcat not installed; run make interop")
	}
	dir := t.TempDir()
	b := testBroker(t, dir)
	defer b.close()
	addr := b.addr()

	// Values long and repetitive enough that librdkafka keeps the lz4
	// result (it sends uncompressed when compression does not pay).
	long := strings.Repeat("v", 2000)
	kcat(t, "k1:"+long+"\nk2:"+long+"\nk3:"+long+"\n", "-b", addr, "-t", "interop", "-P", "-K:", "-z", "lz4")
	metadata := kcat(t, "", "-b", addr, "-L")
	if !strings.Contains(metadata, "1 brokers:") || !strings.Contains(metadata, `topic "interop" with 1 partitions`) {
		t.Fatalf("kcat -L:\n%s", metadata)
	}
	consumed := kcat(t, "", "-b", addr, "-t", "interop", "-C", "-o", "beginning", "-e", "-f", "%k=%s\n")
	if consumed != "k1="+long+"\nk2="+long+"\nk3="+long+"\n" {
		t.Fatalf("kcat -C read:\n%q", consumed)
	}
	offsets := kcat(t, "", "-b", addr, "-Q", "-t", "interop:0:-1")
	if !strings.Contains(offsets, "interop [0] offset 3") {
		t.Fatalf("kcat -Q latest:\n%s", offsets)
	}
	offsets = kcat(t, "", "-b", addr, "-Q", "-t", "interop:0:-2")
	if !strings.Contains(offsets, "interop [0] offset 0") {
		t.Fatalf("kcat -Q earliest:\n%s", offsets)
	}

	// The batch kcat sent with -z lz4 is stored as sent: compressed.
	path := filepath.Join(dir, "interop-0", segment.FileName(0, segment.LogSuffix))
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, err := mmap.Map(f, mmap.RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer data.Unmap()
	codecs := map[segment.Codec]int{}
	segment.Scan(data, func(batch segment.ScannedBatch) bool {
		codecs[batch.Header.Codec()]++
		return batch.Err == nil
	})
	if codecs[segment.CodecLZ4] == 0 {
		t.Fatalf("no lz4 batch stored: %v (librdkafka did not compress)", codecs)
	}
}
