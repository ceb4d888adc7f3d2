package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sys/unix"

	"spool/linux"
)

// cachedLogBytes is how many bytes of the .log files in dir are in the page
// cache (mincore over a read-only mapping, which reads nothing in), and
// their total size.
func cachedLogBytes(t *testing.T, dir string) (cached, total int64) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no .log files in %s (%v)", dir, err)
	}
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		st, err := f.Stat()
		if err != nil || st.Size() == 0 {
			f.Close()
			continue
		}
		m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		resident, _, err := linux.ResidentPages(m)
		unix.Munmap(m)
		if err != nil {
			t.Fatal(err)
		}
		cached += int64(resident) * 4096
		total += st.Size()
	}
	return cached, total
}

// TestPageCacheWindow: with log.cache.window.bytes a partition keeps only
// its newest bytes in the page cache while franz-go produces with acks=all,
// and a consumer reading from the start still gets every record, in order,
// without filling the cache again. With 0 (Kafka's behaviour) the kernel
// keeps everything, which shows the measurement can see cached pages.
func TestPageCacheWindow(t *testing.T) {
	var st unix.Statfs_t
	if err := unix.Statfs(t.TempDir(), &st); err != nil || st.Type == unix.TMPFS_MAGIC {
		t.Skip("the page cache is the storage on tmpfs")
	}
	const window = 256 << 10
	const n = 6000
	value := func(i int) []byte {
		v := fmt.Appendf(nil, "%06d-", i)
		r := rand.New(rand.NewPCG(uint64(i), 7))
		for len(v) < 1000 {
			v = append(v, byte(r.Uint32())) // incompressible
		}
		return v
	}
	for _, tc := range []struct {
		window int64
		check  func(cached, total int64) error
	}{
		{window, func(cached, total int64) error {
			// The window, and at most one fetch (franz-go asks up to 1 MiB
			// a partition) straddling its edge.
			if limit := int64(window + 1<<20 + 64<<10); cached > limit {
				return fmt.Errorf("%d of %d bytes cached, window %d", cached, total, window)
			}
			return nil
		}},
		{0, func(cached, total int64) error {
			if cached < total*9/10 {
				return fmt.Errorf("only %d of %d bytes cached without a window", cached, total)
			}
			return nil
		}},
	} {
		t.Run(fmt.Sprint("window=", tc.window), func(t *testing.T) {
			dir := t.TempDir()
			b := testBroker(t, dir, "--log.segment.bytes=1048576", fmt.Sprint("--log.cache.window.bytes=", tc.window))
			defer b.close()
			createTopic(t, b, "cold", 1)
			c := client(t, b, kgo.DefaultProduceTopic("cold"), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchCompression(kgo.NoCompression()))
			ctx := ctxTimeout(t, 60*time.Second)
			for from := 0; from < n; from += 500 {
				records := make([]*kgo.Record, 500)
				for i := range records {
					records[i] = &kgo.Record{Value: value(from + i)}
				}
				if err := c.ProduceSync(ctx, records...).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			partition := filepath.Join(dir, "cold-0")
			cached, total := cachedLogBytes(t, partition)
			if total < n*1000 {
				t.Fatalf("only %d bytes of logs for %d records", total, n)
			}
			if err := tc.check(cached, total); err != nil {
				t.Fatalf("after producing: %v", err)
			}
			records := consumeAll(t, b, "cold", n)
			for i, r := range records {
				if r.Offset != int64(i) || !bytes.Equal(r.Value, value(i)) {
					t.Fatalf("record %d: offset %d, value %.10q", i, r.Offset, r.Value)
				}
			}
			cached, total = cachedLogBytes(t, partition)
			if err := tc.check(cached, total); err != nil {
				t.Fatalf("after consuming from the start: %v", err)
			}
		})
	}
}
