package engine

import (
	"fmt"
	"testing"

	"spool/internal/batchtest"
	"spool/linux"
	"spool/segment"
)

// skipWithoutPageCache skips where the page cache is the only copy of a
// file's data (tmpfs keeps its pages whatever the advice).
func skipWithoutPageCache(t *testing.T, dir string) {
	t.Helper()
	if only, err := linux.PageCacheOnly(dir); err != nil || only {
		t.Skipf("no page cache to drop under %s (%v)", dir, err)
	}
}

// cachedBytes is how many bytes of s's valid data are in the page cache.
func cachedBytes(t *testing.T, s *segment.Segment) int64 {
	t.Helper()
	resident, _, err := linux.ResidentPages(s.Bytes(0))
	if err != nil {
		t.Error(err) // called on the shard goroutine: no Fatal
	}
	return int64(resident) * 4096
}

// window is the page-cache window of the tests below, under one of
// smallConfig's 64 KiB segments.
const window = 48 << 10

// windowLog opens a log with that window in a fresh directory, and a shard
// to drive it; the caller stops the shard.
func windowLog(t *testing.T) (string, LogConfig, *Log, *Shard) {
	t.Helper()
	dir := t.TempDir()
	skipWithoutPageCache(t, dir)
	cfg := smallConfig()
	cfg.Segment.CacheWindowBytes = window
	l, err := OpenLog(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dir, cfg, l, NewShard(ShardConfig{CPU: -1})
}

// TestSyncJobsKeepOnlyTheWindowCached: durable appends through a shard leave
// only the newest window of the log in the page cache, a catch-up read of
// older data gets every batch and drops what it read, and nothing is lost
// across a restart.
func TestSyncJobsKeepOnlyTheWindowCached(t *testing.T) {
	dir, cfg, l, shard := windowLog(t)
	defer shard.Stop()
	const appends = 400
	for i := 0; i < appends; i++ {
		if _, err := shard.Append(l, batchtest.Values(2, 700, int64(1000+i)), 0, true); err != nil {
			t.Fatal(err)
		}
	}
	// problem measures the cache on the shard (no sync job or writer in
	// flight) and says what is wrong, or "".
	problem := func() string {
		var msg string
		shard.Do(func() {
			list := l.segments.Load().segments
			if len(list) < 8 {
				msg = fmt.Sprintf("only %d segments", len(list))
				return
			}
			total := int64(0)
			for _, s := range list {
				total += s.Size()
			}
			var cached, coldCached int64
			for _, s := range list {
				c := cachedBytes(t, s)
				cached += c
				if s.ColdEnd() >= s.Size() {
					coldCached += c
				}
			}
			// The window, plus a page at each segment edge the drop
			// rounds inward, plus the page a read left at the boundary.
			switch {
			case cached > int64(window+4*4096):
				msg = fmt.Sprintf("%d bytes of the log's %d cached, window %d", cached, total, window)
			case coldCached > 2*4096:
				msg = fmt.Sprintf("%d bytes of wholly dropped segments cached again", coldCached)
			case cachedBytes(t, l.active) == 0 && l.active.Size() > 4096:
				msg = "nothing of the active segment cached"
			}
		})
		return msg
	}
	// The sync job drops before it hands back, so an answered durable
	// append has its drop done.
	check := func(when string) {
		t.Helper()
		if msg := problem(); msg != "" {
			t.Errorf("%s: %s", when, msg)
		}
	}
	check("after the appends")
	// A catch-up reader reads everything (readAll checks every batch),
	// and its reads of cold extents are dropped as they are released.
	if got := readAll(t, l, 0); got != appends {
		t.Fatalf("read %d batches, want %d", got, appends)
	}
	check("after a read from the start")

	shard.Do(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	l, err := OpenLog(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := readAll(t, l, 0); got != appends {
		t.Fatalf("read %d batches after reopening, want %d", got, appends)
	}
}

// TestWindowAfterTruncation: a truncation (a standby cutting a diverged
// tail) must not stop the sync jobs from dropping what falls out of the
// window afterwards. The drop cursor remembered a segment past the cut;
// segments rebuilt below that base were never dropped again.
func TestWindowAfterTruncation(t *testing.T) {
	_, _, l, shard := windowLog(t)
	defer shard.Stop()
	defer shard.Do(func() { l.Close() })
	appendDurable := func(n int, seed int64) {
		for i := 0; i < n; i++ {
			if _, err := shard.Append(l, batchtest.Values(2, 700, seed+int64(i)), 0, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendDurable(400, 1000)
	var truncateErr error
	shard.Do(func() { _, truncateErr = l.TruncateTo(100) })
	if truncateErr != nil {
		t.Fatal(truncateErr)
	}
	appendDurable(400, 5000)
	shard.Do(func() {
		var cached, total int64
		for _, s := range l.segments.Load().segments {
			cached += cachedBytes(t, s)
			total += s.Size()
		}
		if limit := int64(window + 4*4096); cached > limit {
			t.Errorf("%d bytes of the log's %d cached after a truncation, window %d", cached, total, window)
		}
	})
}

// TestOpenDropsBeyondTheWindow: a log written without a window (all of it
// cached) and reopened with one keeps only the window cached, and its old
// extents read as cold, before any append or sync.
func TestOpenDropsBeyondTheWindow(t *testing.T) {
	dir := t.TempDir()
	skipWithoutPageCache(t, dir)
	cfg := smallConfig() // 64 KiB segments
	l, err := OpenLog(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 300, 2, 700, clock)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.Segment.CacheWindowBytes = window
	l, err = OpenLog(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	list := l.segments.Load().segments
	if len(list) < 6 {
		t.Fatalf("only %d segments", len(list))
	}
	var cached int64
	for _, s := range list {
		cached += cachedBytes(t, s)
	}
	if limit := int64(window + 4*4096); cached > limit {
		t.Fatalf("%d bytes cached after the open, window %d", cached, window)
	}
	var r ReadResult
	if err := l.Read(0, 4096, true, ReadUncommitted, &r); err != nil || len(r.Extents) == 0 {
		t.Fatalf("read at 0: %v", err)
	}
	defer r.Release()
	if !r.Extents[0].Cold {
		t.Fatalf("the first batch is not cold after the open: %+v", r.Extents[0])
	}
}
