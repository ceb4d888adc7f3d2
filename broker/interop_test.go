package broker

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
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
	defer b.Close()
	addr := b.Addr()

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

// TestKcatGroupInterop: kcat's balanced consumer (-G, librdkafka's
// classic group protocol) reads a topic, commits, and a second run
// resumes after the commit.
func TestKcatGroupInterop(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		if os.Getenv("SPOOL_INTEROP") != "" {
			t.Fatal("kcat not found (make interop installs it)")
		}
		t.Skip("kcat not installed; run make interop")
	}
	b := groupBroker(t, t.TempDir())
	defer b.Close()
	addr := b.Addr()
	createTopic(t, b, "kcat-group", 2)
	var lines strings.Builder
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&lines, "k%d:v%d\n", i, i)
	}
	kcat(t, lines.String(), "-b", addr, "-t", "kcat-group", "-P", "-K:")
	consume := func(count int) []string {
		out := kcat(t, "", "-b", addr, "-G", "kcat-readers", "kcat-group", "-c", fmt.Sprint(count), "-f", "%s\n",
			"-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=6000")
		values := strings.Fields(out)
		sort.Strings(values)
		return values
	}
	first := consume(40)
	if len(first) != 40 {
		t.Fatalf("first kcat -G read %d values", len(first))
	}
	if sum := committedSum(t, b, "kcat-readers", "kcat-group"); sum != 40 {
		t.Fatalf("kcat committed offsets summing to %d, want 40", sum)
	}
	kcat(t, "k40:v40\nk41:v41\n", "-b", addr, "-t", "kcat-group", "-P", "-K:")
	second := consume(2)
	if strings.Join(second, ",") != "v40,v41" {
		t.Fatalf("second kcat -G read %v, want only the two new records", second)
	}
}
