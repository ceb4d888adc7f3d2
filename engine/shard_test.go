package engine

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"spool/internal/batchtest"
	"spool/segment"
)

// countingFaults counts syncs and fails the operations a test arms.
type countingFaults struct {
	syncs      atomic.Int64
	writebacks atomic.Int64
	failSync   atomic.Bool
	failAlloc  atomic.Bool
}

func (f *countingFaults) Inject(op segment.Op, path string) error {
	switch op {
	case segment.OpSync:
		f.syncs.Add(1)
		if f.failSync.Load() {
			return syscall.EIO
		}
	case segment.OpWriteback:
		f.writebacks.Add(1)
	case segment.OpAllocate:
		if f.failAlloc.Load() {
			return syscall.ENOSPC
		}
	}
	return nil
}

func TestShardGroupCommit(t *testing.T) {
	faults := &countingFaults{}
	cfg := smallConfig()
	cfg.Segment.SegmentBytes = 8 << 20
	cfg.Segment.Faults = faults
	l, err := OpenLog(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	shard := NewShard(ShardConfig{CPU: -1})
	defer shard.Stop()
	const producers, perProducer = 8, 200
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perProducer; i++ {
				info, err := shard.Append(l, batchtest.Values(1, 100, 1), 0, true)
				if err != nil {
					t.Error(err)
					return
				}
				if l.DurableOffset() <= info.LastOffset {
					t.Errorf("acked %d before durable (%d)", info.LastOffset, l.DurableOffset())
					return
				}
			}
		}()
	}
	wg.Wait()
	if l.LogEndOffset() != producers*perProducer {
		t.Fatalf("end %d", l.LogEndOffset())
	}
	syncs := faults.syncs.Load()
	t.Logf("%d durable appends, %d syncs", producers*perProducer, syncs)
	if syncs >= producers*perProducer {
		t.Fatalf("no group commit: %d syncs for %d appends", syncs, producers*perProducer)
	}
	shard.Do(func() { l.Close() })
}

func TestFlushPolicies(t *testing.T) {
	for _, policy := range []FlushPolicy{FlushEveryBatch, FlushGroupCommit, FlushInterval} {
		t.Run(policy.String(), func(t *testing.T) {
			faults := &countingFaults{}
			cfg := smallConfig()
			cfg.Segment.Faults = faults
			cfg.FlushPolicy = policy
			l, err := OpenLog(t.TempDir(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			shard := NewShard(ShardConfig{CPU: -1, FlushInterval: 5e6})
			defer shard.Stop()
			for i := 0; i < 20; i++ {
				if _, err := shard.Append(l, batchtest.Values(1, 10, 1), 0, false); err != nil {
					t.Fatal(err)
				}
			}
			afterAcks1 := faults.syncs.Load()
			info, err := shard.Append(l, batchtest.Values(1, 10, 1), 0, true)
			if err != nil {
				t.Fatal(err)
			}
			if l.DurableOffset() <= info.LastOffset {
				t.Fatal("durable append answered before a sync covered it")
			}
			switch policy {
			case FlushEveryBatch:
				if afterAcks1 < 20 {
					t.Fatalf("per-batch policy synced %d times for 20 appends", afterAcks1)
				}
			case FlushGroupCommit:
				if afterAcks1 > 2 {
					t.Fatalf("group commit synced %d times with nobody waiting", afterAcks1)
				}
			}
			shard.Do(func() { l.Close() })
		})
	}
}

func TestSyncFailureSticks(t *testing.T) {
	faults := &countingFaults{}
	cfg := smallConfig()
	cfg.Segment.Faults = faults
	dir := t.TempDir()
	l, err := OpenLog(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	shard := NewShard(ShardConfig{CPU: -1})
	defer shard.Stop()
	ok, err := shard.Append(l, batchtest.Values(2, 10, 1), 0, true)
	if err != nil {
		t.Fatal(err)
	}
	faults.failSync.Store(true)
	if _, err := shard.Append(l, batchtest.Values(1, 10, 1), 0, true); !errors.Is(err, ErrStorage) {
		t.Fatalf("append over a failing sync: %v", err)
	}
	faults.failSync.Store(false)
	// The error sticks: the disk "recovered", the partition stays failed.
	if _, err := shard.Append(l, batchtest.Values(1, 10, 1), 0, false); !errors.Is(err, ErrStorage) {
		t.Fatalf("append after a failed sync: %v", err)
	}
	shard.Do(func() { l.Close() })
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a failed log wrote the clean-shutdown marker")
	}
	// Nothing acknowledged is lost: the durable batch is there after reopen.
	l, err = OpenLog(dir, smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.LogEndOffset() <= ok.LastOffset {
		t.Fatalf("acknowledged batch lost: end %d", l.LogEndOffset())
	}
}

func TestDiskFullThroughSeam(t *testing.T) {
	faults := &countingFaults{}
	cfg := smallConfig()
	cfg.Segment.Faults = faults
	l, err := OpenLog(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	faults.failAlloc.Store(true)
	var appendErr error
	acked := Offset(0)
	for i := 0; i < 1000 && appendErr == nil; i++ {
		var info AppendInfo
		info, appendErr = l.Append(batchtest.Values(1, 1000, 1), 0)
		if appendErr == nil {
			acked = info.LastOffset + 1
		}
	}
	if !errors.Is(appendErr, ErrDiskFull) {
		t.Fatalf("roll on a full disk: %v", appendErr)
	}
	if l.Err() != nil {
		t.Fatalf("a full disk failed the log for good: %v", l.Err())
	}
	faults.failAlloc.Store(false)
	if _, err := l.Append(batchtest.Values(1, 1000, 1), 0); err != nil {
		t.Fatalf("append once space is back: %v", err)
	}
	if got := readAll(t, l, 0); Offset(got) != acked+1 {
		t.Fatalf("read %d batches, want %d", got, acked+1)
	}
}

// TestDiskFullOnTmpfs fills a real 2 MiB tmpfs: the append that finds the
// disk full gets ErrDiskFull, never a SIGBUS, what was appended before stays
// readable, the log is not failed, and once space comes back appends go on
// and survive a reopen. In the mmap mode (preallocated segments) the full
// disk shows at a roll; in the pwrite mode without preallocation, at the
// pwrite of a batch. It needs root (mount); elsewhere it skips.
func TestDiskFullOnTmpfs(t *testing.T) {
	for _, mode := range []segment.WriteMode{segment.WriteMmap, segment.WritePwrite} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) { diskFullOnTmpfs(t, mode) })
	}
}

func diskFullOnTmpfs(t *testing.T, mode segment.WriteMode) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	mountPoint := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mountPoint).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	defer exec.Command("umount", "-l", mountPoint).Run()
	// Space to give back once the disk is full.
	filler := filepath.Join(mountPoint, "filler")
	if err := os.WriteFile(filler, make([]byte, 768<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := smallConfig()
	cfg.Segment.SegmentBytes = 512 << 10
	cfg.Segment.WriteMode = mode
	dir := filepath.Join(mountPoint, "t-0")
	l, err := OpenLog(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var appendErr error
	appended := 0
	for i := 0; i < 100_000 && appendErr == nil; i++ {
		_, appendErr = l.Append(batchtest.Values(4, 1000, 1), 0)
		if appendErr == nil {
			appended++
		}
	}
	if !errors.Is(appendErr, ErrDiskFull) {
		t.Fatalf("after %d appends: %v", appended, appendErr)
	}
	if l.Err() != nil {
		t.Fatalf("a full disk failed the log for good: %v", l.Err())
	}
	if got := readAll(t, l, 0); got != appended {
		t.Fatalf("read %d of %d appended batches", got, appended)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := l.Append(batchtest.Values(4, 1000, 1), 0); err != nil {
			t.Fatalf("append %d once space is back: %v", i, err)
		}
		appended++
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = OpenLog(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := readAll(t, l, 0); got != appended {
		t.Fatalf("after reopen read %d of %d appended batches", got, appended)
	}
}

// TestRollSealsInTheSyncJob: on a shard, a roll leaves the old segment's
// seal and the recovery point to the next sync job. Every acknowledged
// durable append is durable and survives a crash; the rolled segments end
// up sealed and below the recovery point; a writer operation right after a
// roll (Shard.Do) finds every rolled segment sealed.
func TestRollSealsInTheSyncJob(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig() // 64 KiB segments
	l, err := OpenLog(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	shard := NewShard(ShardConfig{CPU: -1})
	defer shard.Stop()
	var acked Offset
	for i := 0; i < 300; i++ {
		info, err := shard.Append(l, batchtest.Values(2, 500, int64(1000+i)), 0, i%3 == 0)
		if err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if l.DurableOffset() <= info.LastOffset {
				t.Fatalf("durable append %d answered before a sync covered it", i)
			}
			acked = info.LastOffset + 1
		}
	}
	rolled := 0
	shard.Do(func() {
		if len(l.pendingSeal) != 0 {
			t.Errorf("%d rolled segments unsealed inside Shard.Do", len(l.pendingSeal))
		}
		list := l.segments.Load().segments
		rolled = len(list) - 1
		for _, s := range list[:len(list)-1] {
			if !s.Sealed() {
				t.Errorf("rolled segment %s not sealed", s.Path())
			}
		}
		if l.recoveryPoint != l.active.BaseOffset() {
			t.Errorf("recovery point %d, active segment at %d", l.recoveryPoint, l.active.BaseOffset())
		}
	})
	if rolled < 3 {
		t.Fatalf("only %d rolls", rolled)
	}
	// More appends and rolls, then a crash (no close).
	for i := 0; i < 200; i++ {
		info, err := shard.Append(l, batchtest.Values(2, 500, int64(2000+i)), 0, true)
		if err != nil {
			t.Fatal(err)
		}
		acked = info.LastOffset + 1
	}
	shard.Do(func() { l.settleProducerSnapshot(); stopUncleanly(l) })
	l, err = OpenLog(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.LogEndOffset() < acked {
		t.Fatalf("after the crash the log ends at %d, %d were acknowledged durable", l.LogEndOffset(), acked)
	}
	if got := readAll(t, l, 0); got != 500 {
		t.Fatalf("read %d batches after the crash, want 500", got)
	}
}

// TestCrashWithRolledSegmentsUnsealed: a crash after rolls whose seals no
// sync job ran yet (the old segments not cut, their indexes not sealed,
// the recovery point not moved) loses nothing that was appended and
// synced: the open scans from the old recovery point.
func TestCrashWithRolledSegmentsUnsealed(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	l, err := OpenLog(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	l.deferSeals = true // as on a shard, without one to run the jobs
	n := 0
	for len(l.pendingSeal) < 3 {
		if _, err := l.Append(batchtest.Values(2, 500, int64(1000+n)), 0); err != nil {
			t.Fatal(err)
		}
		n++
	}
	for _, s := range l.pendingSeal {
		if s.Sealed() {
			t.Fatal("a pending segment is sealed")
		}
		if err := s.Sync(); err != nil { // the data itself reached the disk
			t.Fatal(err)
		}
	}
	if err := l.active.Sync(); err != nil {
		t.Fatal(err)
	}
	end := l.LogEndOffset()
	stopUncleanly(l)
	l, err = OpenLog(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.LogEndOffset() != end {
		t.Fatalf("after the crash the log ends at %d, want %d", l.LogEndOffset(), end)
	}
	if got := readAll(t, l, 0); got != n {
		t.Fatalf("read %d batches after the crash, want %d", got, n)
	}
}

// TestShardStartsWritebackEarly: a large durable append to a log that is
// not syncing has its writeback started by the shard as soon as it is
// appended; a small one waits for its sync (alone in its round, no
// writeback is started for it at all).
func TestShardStartsWritebackEarly(t *testing.T) {
	for _, c := range []struct {
		name       string
		valueBytes int
		logs       int
		want       int64
	}{
		{"large", 512 << 10, 1, 1},
		{"small", 16 << 10, 1, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			faults := &countingFaults{}
			cfg := smallConfig()
			cfg.Segment.SegmentBytes = 8 << 20
			cfg.Segment.Faults = faults
			l, err := OpenLog(t.TempDir(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			shard := NewShard(ShardConfig{CPU: -1})
			defer shard.Stop()
			for i := range 3 {
				before := faults.writebacks.Load()
				info, err := shard.Append(l, batchtest.Values(1, c.valueBytes, 1), 0, true)
				if err != nil {
					t.Fatal(err)
				}
				if l.DurableOffset() <= info.LastOffset {
					t.Fatalf("append %d answered before durable", i)
				}
				if got := faults.writebacks.Load() - before; got != c.want {
					t.Fatalf("append %d of %d bytes: %d writebacks started, want %d", i, c.valueBytes, got, c.want)
				}
			}
			shard.Do(func() { l.Close() })
		})
	}
}
