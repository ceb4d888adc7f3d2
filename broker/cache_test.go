package broker

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
	if only, err := linux.PageCacheOnly(t.TempDir()); err != nil || only {
		t.Skipf("no page cache to drop (%v)", err)
	}
	const window = 256 << 10
	const n = 6000
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
			defer b.Close()
			createTopic(t, b, "cold", 1)
			produceIncompressible(t, b, "cold", n)
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
				if r.Offset != int64(i) || !bytes.Equal(r.Value, incompressible(i)) {
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

// incompressible is record i's value: its number, then 993 random bytes.
func incompressible(i int) []byte {
	v := fmt.Appendf(nil, "%06d-", i)
	r := rand.New(rand.NewPCG(uint64(i), 7))
	for len(v) < 1000 {
		v = append(v, byte(r.Uint32()))
	}
	return v
}

// produceIncompressible produces records 0..n-1 to partition 0 of topic,
// uncompressed, acks=all, in requests of 500.
func produceIncompressible(t *testing.T, b *Broker, topic string, n int) {
	t.Helper()
	c := client(t, b, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx := ctxTimeout(t, 60*time.Second)
	for from := 0; from < n; from += 500 {
		records := make([]*kgo.Record, min(500, n-from))
		for i := range records {
			records[i] = &kgo.Record{Value: incompressible(from + i)}
		}
		if err := c.ProduceSync(ctx, records...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPageCacheWindowOnStandby: a standby appends what its leader sends
// through Log.Flush rather than a shard's sync jobs; its partitions keep
// only the window cached as well, and hold the leader's bytes exactly.
func TestPageCacheWindowOnStandby(t *testing.T) {
	if only, err := linux.PageCacheOnly(t.TempDir()); err != nil || only {
		t.Skipf("no page cache to drop (%v)", err)
	}
	const window = 256 << 10
	settings := []string{"--log.segment.bytes=1048576", fmt.Sprint("--log.cache.window.bytes=", window)}
	leader := groupBroker(t, t.TempDir(), append(settings, "--replication.listener=127.0.0.1:0")...)
	defer leader.Close()
	standbyDir := t.TempDir()
	standby := testBroker(t, standbyDir, append(settings, "--standby.of="+leader.ReplicationAddr(), "--node.id=1")...)
	defer standby.Close()
	createTopic(t, leader, "cold", 1)
	waitInSync(t, leader, "cold", 1)
	produceIncompressible(t, leader, "cold", 6000)
	waitIdentical(t, leader, standby)
	cached, total := cachedLogBytes(t, filepath.Join(standbyDir, "cold-0"))
	if total < 6000*1000 {
		t.Fatalf("the standby holds only %d bytes of logs", total)
	}
	// The window, the last read of waitIdentical's comparison (1 MiB),
	// and a large folio at the window's edge.
	if limit := int64(window + 1<<20 + 2<<20); cached > limit {
		t.Fatalf("the standby keeps %d of %d bytes cached, window %d", cached, total, window)
	}
}
