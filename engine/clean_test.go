package engine

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"spool/internal/batchtest"
	"spool/segment"
)

// compactConfig is a compacted log with small segments and a clock the
// test moves.
func compactConfig(now *atomic.Int64) LogConfig {
	cfg := smallConfig()
	cfg.Segment.SegmentBytes = 4096
	cfg.Segment.IndexIntervalBytes = 256
	cfg.Cleanup = CleanupCompact
	cfg.Now = now.Load
	return cfg
}

type keyedRecord struct {
	offset    Offset
	key       string
	value     string
	tombstone bool
}

// keyedBatch is one batch of records (key, value) at timestamp ts; a value
// of "" is a tombstone.
func keyedBatch(ts int64, kv ...string) []byte {
	var records []batchtest.Record
	for i := 0; i+1 < len(kv); i += 2 {
		records = append(records, batchtest.Record{Key: []byte(kv[i]), Value: []byte(kv[i+1]), Timestamp: ts, Tombstone: kv[i+1] == ""})
	}
	return batchtest.Build(records)
}

// compress rewrites an uncompressed batch's records with codec.
func compress(t testing.TB, b []byte, codec segment.Codec) []byte {
	t.Helper()
	body, err := segment.Compress(nil, b[segment.BatchHeaderBytes:], codec)
	if err != nil {
		t.Fatal(err)
	}
	out := append(append([]byte(nil), b[:segment.BatchHeaderBytes]...), body...)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	binary.BigEndian.PutUint16(out[21:], binary.BigEndian.Uint16(out[21:])|uint16(codec))
	batchtest.Reseal(out)
	return out
}

// readRecords reads every record below the high watermark from the log
// start, checking each batch (stored form: compaction may have emptied
// it) and that offsets ascend.
func readRecords(t testing.TB, l *Log) []keyedRecord {
	t.Helper()
	var out []keyedRecord
	next := l.LogStartOffset()
	var scratch []byte
	for next < l.HighWatermark() {
		var r ReadResult
		if err := l.Read(next, 64<<10, true, ReadUncommitted, &r); err != nil {
			t.Fatalf("read %d: %v", next, err)
		}
		if len(r.Extents) == 0 {
			r.Release()
			break
		}
		buf, err := r.AppendBytes(nil)
		r.Release()
		if err != nil {
			t.Fatal(err)
		}
		for len(buf) > 0 {
			first := mustHeader(t, buf)
			h, err := segment.ValidateStoredBatch(buf[:min(len(buf), int(first.TotalBytes()))])
			if err != nil {
				t.Fatalf("batch at %d: %v", h.BaseOffset, err)
			}
			if h.LastOffset() < next {
				t.Fatalf("batch [%d, %d] before offset %d", h.BaseOffset, h.LastOffset(), next)
			}
			scratch, err = segment.WalkAnyRecords(buf[:h.TotalBytes()], scratch, 1<<20, func(rec segment.RecordPosition) bool {
				if len(out) > 0 && rec.Offset <= out[len(out)-1].offset {
					t.Errorf("offset %d after %d", rec.Offset, out[len(out)-1].offset)
				}
				out = append(out, keyedRecord{offset: rec.Offset, key: string(rec.Key), value: string(rec.Value), tombstone: rec.Value == nil})
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
			next = h.NextOffset()
			buf = buf[h.TotalBytes():]
		}
	}
	return out
}

func mustHeader(t testing.TB, b []byte) segment.Header {
	h, err := segment.ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// latestPerKey is what a compacted log must hold: each key's newest
// record, at its offset.
func latestPerKey(records []keyedRecord) map[string]keyedRecord {
	latest := map[string]keyedRecord{}
	for _, r := range records {
		latest[r.key] = r
	}
	return latest
}

func newShardLog(t testing.TB, dir string, cfg LogConfig) (*Shard, *Log) {
	t.Helper()
	shard := NewShard(ShardConfig{CPU: -1})
	t.Cleanup(shard.Stop)
	var l *Log
	var err error
	shard.Do(func() { l, err = OpenLog(dir, cfg) })
	if err != nil {
		t.Fatal(err)
	}
	// A roll writes its producer snapshot in the background: settle it
	// before the test's directory is removed (tests here leave the log
	// open).
	t.Cleanup(func() { shard.Do(l.settleProducerSnapshot) })
	return shard, l
}

// cleanerCheckpoint reads l's cleaner checkpoint on its writer, the shard.
func cleanerCheckpoint(shard *Shard, l *Log) (checkpoint Offset) {
	shard.Do(func() { checkpoint = l.CleanerCheckpoint() })
	return checkpoint
}

func appendOn(t testing.TB, shard *Shard, l *Log, b []byte) AppendInfo {
	t.Helper()
	var info AppendInfo
	var err error
	shard.Do(func() { info, err = l.Append(b, 1) })
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func rollOn(t testing.TB, shard *Shard, l *Log) {
	t.Helper()
	var err error
	shard.Do(func() { err = l.Roll() })
	if err != nil {
		t.Fatal(err)
	}
}

// writeUpdates appends rounds of updates to keys key-0..key-(keys-1), one
// record per batch, and returns every record written.
func writeUpdates(t testing.TB, shard *Shard, l *Log, keys, rounds int, ts int64) []keyedRecord {
	var written []keyedRecord
	for round := 0; round < rounds; round++ {
		for k := 0; k < keys; k++ {
			key, value := fmt.Sprintf("key-%d", k), fmt.Sprintf("value-%d-%d", k, round)
			info := appendOn(t, shard, l, keyedBatch(ts, key, value))
			written = append(written, keyedRecord{offset: info.BaseOffset, key: key, value: value})
		}
	}
	return written
}

// checkCompacted checks that the log holds every key's newest record at its
// offset, and below the cleaner checkpoint nothing else.
func checkCompacted(t testing.TB, l *Log, written []keyedRecord, checkpoint Offset) {
	t.Helper()
	got := readRecords(t, l)
	latest := latestPerKey(written)
	latestClean := map[string]keyedRecord{}
	for _, r := range written {
		if r.offset < checkpoint {
			latestClean[r.key] = r
		}
	}
	seen := map[string]bool{}
	for _, r := range got {
		if r.offset < checkpoint {
			if seen[r.key] {
				t.Fatalf("key %s twice below the checkpoint %d", r.key, checkpoint)
			}
			if latestClean[r.key].offset != r.offset {
				t.Fatalf("key %s at %d below the checkpoint %d, its newest there is at %d", r.key, r.offset, checkpoint, latestClean[r.key].offset)
			}
			seen[r.key] = true
		}
	}
	byOffset := map[Offset]keyedRecord{}
	for _, r := range got {
		byOffset[r.offset] = r
	}
	for key, want := range latest {
		if got, ok := byOffset[want.offset]; !ok || got.key != key || got.value != want.value {
			t.Fatalf("newest record of %s (%d %q) missing: got %+v", key, want.offset, want.value, got)
		}
	}
}

func TestCleanKeepsNewestPerKeyAtItsOffset(t *testing.T) {
	var now atomic.Int64
	now.Store(10_000_000)
	dir := t.TempDir()
	shard, l := newShardLog(t, dir, compactConfig(&now))
	written := writeUpdates(t, shard, l, 10, 60, now.Load())
	before := l.Size()
	end, start := l.LogEndOffset(), l.LogStartOffset()
	stats, ran, err := Clean(l, shard, false, nil)
	if err != nil || !ran {
		t.Fatalf("clean: ran %v, %v", ran, err)
	}
	t.Logf("%+v; %d -> %d bytes", stats, before, l.Size())
	if stats.RecordsRemoved == 0 || l.Size() >= before {
		t.Fatalf("nothing removed: %+v", stats)
	}
	if l.LogEndOffset() != end || l.LogStartOffset() != start {
		t.Fatalf("offsets moved: start %d->%d end %d->%d", start, l.LogStartOffset(), end, l.LogEndOffset())
	}
	checkpoint := cleanerCheckpoint(shard, l)
	if checkpoint == 0 {
		t.Fatal("checkpoint did not move")
	}
	checkCompacted(t, l, written, checkpoint)
	if got := readRecords(t, l); len(got) >= len(written) {
		t.Fatalf("%d records after cleaning, %d written", len(got), len(written))
	}

	// A fetch inside a removed range gets the next surviving record.
	var r ReadResult
	if err := l.Read(start+1, 1<<20, true, ReadUncommitted, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Extents) == 0 {
		t.Fatal("read in a gap answered nothing")
	}
	r.Release()

	// A second pass with nothing new dirty does not run.
	if _, ran, _ := Clean(l, shard, false, nil); ran {
		t.Fatal("a pass ran with no dirty segment")
	}
	// More updates; the second pass leaves one record per key below the
	// new checkpoint.
	written = append(written, writeUpdates(t, shard, l, 10, 40, now.Load())...)
	if _, _, err := Clean(l, shard, true, nil); err != nil {
		t.Fatal(err)
	}
	checkCompacted(t, l, written, cleanerCheckpoint(shard, l))

	// Reopen cleanly and uncleanly: the cleaned log opens whole.
	shard.Do(func() { err = l.Close() })
	if err != nil {
		t.Fatal(err)
	}
	shard.Do(func() { l, err = OpenLog(dir, compactConfig(&now)) })
	if err != nil {
		t.Fatal(err)
	}
	if l.Corruptions() != 0 {
		t.Fatal("corruption after reopen")
	}
	checkCompacted(t, l, written, cleanerCheckpoint(shard, l))
	shard.Do(func() { stopUncleanly(l) })
	shard.Do(func() { l, err = OpenLog(dir, compactConfig(&now)) })
	if err != nil || l.Corruptions() != 0 {
		t.Fatalf("unclean reopen: %v, %d corruptions", err, l.Corruptions())
	}
	checkCompacted(t, l, written, cleanerCheckpoint(shard, l))
	shard.Do(func() { l.Close() })
}

func TestCleanTombstonesAfterDeleteRetention(t *testing.T) {
	var now atomic.Int64
	now.Store(10_000_000)
	cfg := compactConfig(&now)
	cfg.DeleteRetentionMillis = 1000
	shard, l := newShardLog(t, t.TempDir(), cfg)
	writeUpdates(t, shard, l, 5, 20, now.Load())
	// A tombstone followed by a new value: the value wins, the tombstone
	// goes in the first pass.
	appendOn(t, shard, l, keyedBatch(now.Load(), "key-0", ""))
	writeUpdates(t, shard, l, 1, 1, now.Load())
	rollOn(t, shard, l)
	if _, _, err := Clean(l, shard, true, nil); err != nil {
		t.Fatal(err)
	}
	// key-0 was rewritten after its tombstone; tombstone a key for good.
	appendOn(t, shard, l, keyedBatch(now.Load(), "key-1", ""))
	rollOn(t, shard, l)
	if _, _, err := Clean(l, shard, true, nil); err != nil {
		t.Fatal(err)
	}
	hasTombstone := func() bool {
		for _, r := range readRecords(t, l) {
			if r.key == "key-1" {
				return r.tombstone
			}
		}
		return false
	}
	if !hasTombstone() {
		t.Fatal("the tombstone did not survive its first pass")
	}
	// A later pass within delete.retention.ms keeps it.
	appendOn(t, shard, l, keyedBatch(now.Load(), "key-2", "x"))
	rollOn(t, shard, l)
	if _, _, err := Clean(l, shard, true, nil); err != nil {
		t.Fatal(err)
	}
	if !hasTombstone() {
		t.Fatal("the tombstone went before delete.retention.ms")
	}
	// Past delete.retention.ms a pass removes it, and key-1 is gone.
	now.Add(5000)
	appendOn(t, shard, l, keyedBatch(now.Load(), "key-3", "y"))
	rollOn(t, shard, l)
	if _, _, err := Clean(l, shard, true, nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range readRecords(t, l) {
		if r.key == "key-1" {
			t.Fatalf("key-1 still present after its tombstone expired: %+v", r)
		}
	}
}

func TestCleanCompressedBatches(t *testing.T) {
	for _, codec := range []segment.Codec{segment.CodecGzip, segment.CodecSnappy, segment.CodecLZ4, segment.CodecZstd} {
		t.Run(codec.String(), func(t *testing.T) {
			var now atomic.Int64
			now.Store(10_000_000)
			shard, l := newShardLog(t, t.TempDir(), compactConfig(&now))
			var written []keyedRecord
			for round := 0; round < 30; round++ {
				var kv []string
				for k := 0; k < 4; k++ {
					kv = append(kv, fmt.Sprintf("key-%d", (round+k)%6), fmt.Sprintf("value-%d-%d", round, k))
				}
				info := appendOn(t, shard, l, compress(t, keyedBatch(now.Load(), kv...), codec))
				for i := 0; i < len(kv); i += 2 {
					written = append(written, keyedRecord{offset: info.BaseOffset + Offset(i/2), key: kv[i], value: kv[i+1]})
				}
			}
			rollOn(t, shard, l)
			stats, _, err := Clean(l, shard, true, nil)
			if err != nil {
				t.Fatal(err)
			}
			if stats.RecordsRemoved == 0 {
				t.Fatal("nothing removed")
			}
			checkCompacted(t, l, written, cleanerCheckpoint(shard, l))
			// Rewritten batches keep their codec.
			list := l.segments.Load()
			for _, s := range list.segments {
				for position := int64(0); position < s.Size(); {
					h, _, err := s.HeaderAt(position)
					if err != nil {
						t.Fatal(err)
					}
					if h.RecordCount > 0 && h.Codec() != codec {
						t.Fatalf("batch at %d has codec %s", h.BaseOffset, h.Codec())
					}
					position += h.TotalBytes()
				}
			}
		})
	}
}

func TestCleanKeepsIdempotentProducerState(t *testing.T) {
	var now atomic.Int64
	now.Store(10_000_000)
	dir := t.TempDir()
	cfg := compactConfig(&now)
	shard, l := newShardLog(t, dir, cfg)
	const producer = 7
	var last []byte
	var lastInfo AppendInfo
	for seq := int32(0); seq < 40; seq++ {
		last = batchtest.BuildWith([]batchtest.Record{{Key: []byte("k"), Value: []byte(fmt.Sprint(seq)), Timestamp: now.Load()}}, batchtest.Options{ProducerID: producer, BaseSequence: seq})
		lastInfo = appendOn(t, shard, l, append([]byte(nil), last...))
	}
	// A plain producer overwrites the key, so the idempotent producer's
	// last batch is emptied by the pass; it must stay as an empty batch.
	writeUpdates(t, shard, l, 1, 1, now.Load())
	appendOn(t, shard, l, keyedBatch(now.Load(), "k", "final"))
	rollOn(t, shard, l)
	if _, _, err := Clean(l, shard, true, nil); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range l.segments.Load().segments {
		for position := int64(0); position < s.Size(); {
			h, _, _ := s.HeaderAt(position)
			if h.BaseOffset == lastInfo.BaseOffset {
				found = true
				if h.RecordCount != 0 || h.ProducerID != producer || h.BaseSequence != 39 {
					t.Fatalf("producer's last batch is %+v", h)
				}
			}
			position += h.TotalBytes()
		}
	}
	if !found {
		t.Fatal("the producer's last batch was dropped")
	}
	// Reload the producer state from the batches alone (no snapshot): a
	// retry of the last batch is still a duplicate.
	var err error
	shard.Do(func() { stopUncleanly(l) })
	for _, snapshot := range snapshotsOnDisk(t, dir) {
		os.Remove(filepath.Join(dir, fmt.Sprintf("%020d.snapshot", snapshot)))
	}
	shard.Do(func() { l, err = OpenLog(dir, cfg) })
	if err != nil {
		t.Fatal(err)
	}
	info := appendOn(t, shard, l, append([]byte(nil), last...))
	if !info.Duplicate || info.BaseOffset != lastInfo.BaseOffset {
		t.Fatalf("retry after cleaning and reload: %+v, want a duplicate at %d", info, lastInfo.BaseOffset)
	}
	shard.Do(func() { l.Close() })
}

func TestCleanRefusesNullKeysAndPolicies(t *testing.T) {
	var now atomic.Int64
	now.Store(10_000_000)
	cfg := compactConfig(&now)
	shard, l := newShardLog(t, t.TempDir(), cfg)
	var err error
	shard.Do(func() { _, err = l.Append(batchtest.Values(1, 10, now.Load()), 1) })
	if !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("null key on a compacted topic: %v", err)
	}
	shard.Do(func() { _, err = l.Append(compress(t, batchtest.Values(3, 10, now.Load()), segment.CodecZstd), 1) })
	if !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("null key in a compressed batch: %v", err)
	}
	// compact alone: retention deletes nothing; compact,delete: it does.
	writeUpdates(t, shard, l, 3, 200, now.Load())
	cfg.RetentionBytes = 4096
	shard.Do(func() { l.SetConfig(cfg) })
	var deleted int
	shard.Do(func() { deleted, err = l.ApplyRetention() })
	if err != nil || deleted != 0 {
		t.Fatalf("retention on compact: deleted %d, %v", deleted, err)
	}
	cfg.Cleanup = CleanupCompact | CleanupDelete
	shard.Do(func() { l.SetConfig(cfg) })
	shard.Do(func() { deleted, err = l.ApplyRetention() })
	if err != nil || deleted == 0 {
		t.Fatalf("retention on compact,delete: deleted %d, %v", deleted, err)
	}
	if _, _, err := Clean(l, shard, true, nil); err != nil {
		t.Fatal(err)
	}
	// A plain delete topic is never cleaned.
	cfg.Cleanup = CleanupDelete
	shard.Do(func() { l.SetConfig(cfg) })
	writeUpdates(t, shard, l, 3, 50, now.Load())
	if _, ran, _ := Clean(l, shard, true, nil); ran {
		t.Fatal("a delete topic was cleaned")
	}
}

// TestCleanCrashDuringSwap stops the swap at each step, as a crash would,
// and checks that the reopened log holds every key's newest record, whole.
func TestCleanCrashDuringSwap(t *testing.T) {
	for _, stop := range []int{3, 4, 40, 41, 42, 5} {
		t.Run(fmt.Sprint("step", stop), func(t *testing.T) {
			var now atomic.Int64
			now.Store(10_000_000)
			dir := t.TempDir()
			cfg := compactConfig(&now)
			shard, l := newShardLog(t, dir, cfg)
			written := writeUpdates(t, shard, l, 8, 40, now.Load())
			cleanerSwapHook = func(step int) bool { return step != stop }
			_, _, err := Clean(l, shard, true, nil)
			cleanerSwapHook = nil
			if err != nil {
				t.Fatal(err)
			}
			shard.Do(func() { stopUncleanly(l) })
			shard.Do(func() { l, err = OpenLog(dir, cfg) })
			if err != nil {
				t.Fatal(err)
			}
			if l.Corruptions() != 0 {
				t.Fatalf("%d corruptions after a crash at step %d", l.Corruptions(), stop)
			}
			for _, leftover := range []string{cleaningDirName, cleanedDirName} {
				if _, err := os.Stat(filepath.Join(dir, leftover)); err == nil {
					t.Fatalf("%s left after open", leftover)
				}
			}
			checkCompacted(t, l, written, 0)
			// The next pass completes the job.
			if _, _, err := Clean(l, shard, true, nil); err != nil {
				t.Fatal(err)
			}
			checkCompacted(t, l, written, cleanerCheckpoint(shard, l))
			shard.Do(func() { l.Close() })
		})
	}
}

// TestCleanWhileReading reads the log over and over on other goroutines
// while passes swap segments under them (run it with -race).
func TestCleanWhileReading(t *testing.T) {
	var now atomic.Int64
	now.Store(10_000_000)
	shard, l := newShardLog(t, t.TempDir(), compactConfig(&now))
	written := writeUpdates(t, shard, l, 10, 30, now.Load())
	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads atomic.Int64
	for reader := 0; reader < 2; reader++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				next := l.LogStartOffset()
				for next < l.HighWatermark() {
					var r ReadResult
					if err := l.Read(next, 8<<10, true, ReadUncommitted, &r); err != nil {
						t.Errorf("read %d: %v", next, err)
						return
					}
					buf, err := r.AppendBytes(nil)
					r.Release()
					if err != nil {
						t.Errorf("read bytes at %d: %v", next, err)
						return
					}
					if len(buf) == 0 {
						break
					}
					for len(buf) > 0 {
						h, err := segment.ParseHeader(buf)
						if err == nil {
							_, err = segment.ValidateStoredBatch(buf[:h.TotalBytes()])
						}
						if err != nil {
							t.Errorf("batch near %d: %v", next, err)
							return
						}
						next = h.NextOffset()
						buf = buf[h.TotalBytes():]
					}
					reads.Add(1)
				}
			}
		}()
	}
	for pass := 0; pass < 5; pass++ {
		written = append(written, writeUpdates(t, shard, l, 10, 10, now.Load())...)
		if _, _, err := Clean(l, shard, true, nil); err != nil {
			t.Error(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	checkCompacted(t, l, written, cleanerCheckpoint(shard, l))
	t.Logf("%d reads", reads.Load())
	shard.Do(func() { l.Close() })
}

// TestStandbyCopiesCompactedLog streams a compacted log, gaps and emptied
// batches included, into an empty log as the leader's replication does.
func TestStandbyCopiesCompactedLog(t *testing.T) {
	var now atomic.Int64
	now.Store(10_000_000)
	shard, leader := newShardLog(t, t.TempDir(), compactConfig(&now))
	writeUpdates(t, shard, leader, 6, 50, now.Load())
	if _, _, err := Clean(leader, shard, true, nil); err != nil {
		t.Fatal(err)
	}
	want := readRecords(t, leader)
	followerShard, follower := newShardLog(t, t.TempDir(), compactConfig(&now))
	for follower.LogEndOffset() < leader.LogEndOffset() {
		var r ReadResult
		if err := leader.Read(follower.LogEndOffset(), 4<<10, true, ReadReplica, &r); err != nil {
			t.Fatal(err)
		}
		buf, err := r.AppendBytes(nil)
		r.Release()
		if err != nil || len(buf) == 0 {
			t.Fatalf("replica read at %d: %d bytes, %v", follower.LogEndOffset(), len(buf), err)
		}
		var appendErr error
		followerShard.Do(func() { _, appendErr = follower.AppendReplica(buf) })
		if appendErr != nil {
			t.Fatal(appendErr)
		}
	}
	got := readRecords(t, follower)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("standby holds\n%v\nleader holds\n%v", got, want)
	}
}

// TestCleanBoundsOffsetMap lowers the offset map's bound below the keys of
// one segment: a pass must stop at a batch inside the segment (the map
// never holds more than the bound), leave the checkpoint there, and the
// passes after it finish the job with every key's newest record kept.
func TestCleanBoundsOffsetMap(t *testing.T) {
	defer func(saved int) { cleanerKeysMax = saved }(cleanerKeysMax)
	cleanerKeysMax = 8
	var now atomic.Int64
	now.Store(10_000_000)
	shard, l := newShardLog(t, t.TempDir(), compactConfig(&now))
	// 40 distinct keys, one record per batch, then updates of them all.
	written := writeUpdates(t, shard, l, 40, 3, now.Load())
	rollOn(t, shard, l)
	first := l.segments.Load().segments[0]
	if first.NextOffset()-first.BaseOffset() <= Offset(cleanerKeysMax) {
		t.Fatalf("the first segment holds only %d offsets", first.NextOffset()-first.BaseOffset())
	}
	if _, _, err := Clean(l, shard, true, nil); err != nil {
		t.Fatal(err)
	}
	// Each batch holds one key: the pass maps exactly cleanerKeysMax.
	if got, want := cleanerCheckpoint(shard, l), first.BaseOffset()+Offset(cleanerKeysMax); got != want {
		t.Fatalf("checkpoint %d after a pass bounded to %d keys, want %d (inside the first segment, which ends at %d)", got, cleanerKeysMax, want, first.NextOffset())
	}
	checkCompacted(t, l, written, cleanerCheckpoint(shard, l))
	for pass := 0; cleanerCheckpoint(shard, l) < l.segments.Load().segments[len(l.segments.Load().segments)-1].BaseOffset(); pass++ {
		if pass > 100 {
			t.Fatalf("no end to the passes: checkpoint %d", cleanerCheckpoint(shard, l))
		}
		before := cleanerCheckpoint(shard, l)
		if _, ran, err := Clean(l, shard, true, nil); err != nil || !ran {
			t.Fatalf("pass %d: ran %v, %v", pass, ran, err)
		}
		if after := cleanerCheckpoint(shard, l); after <= before || after-before > Offset(cleanerKeysMax) {
			t.Fatalf("pass %d moved the checkpoint %d -> %d", pass, before, after)
		}
		checkCompacted(t, l, written, cleanerCheckpoint(shard, l))
	}
	if got := readRecords(t, l); len(got) != 40 {
		t.Fatalf("%d records after every pass, want one for each of 40 keys", len(got))
	}
}

// TestCleanMemoryIsABatchNotASegment cleans a 4 MiB segment of 64 KiB
// records: the pass must not hold the rewritten segment in memory (with
// segment.bytes at its 1 GiB default that would be a gigabyte or two per
// pass), only a batch or so.
func TestCleanMemoryIsABatchNotASegment(t *testing.T) {
	var now atomic.Int64
	now.Store(10_000_000)
	cfg := compactConfig(&now)
	cfg.Segment.SegmentBytes = 8 << 20
	cfg.Segment.IndexIntervalBytes = 4096
	cfg.MaxMessageBytes = 1 << 20
	shard, l := newShardLog(t, t.TempDir(), cfg)
	value := strings.Repeat("v", 64<<10)
	var written []keyedRecord
	for i := 0; i < 64; i++ {
		key := fmt.Sprintf("key-%d", i%60)
		info := appendOn(t, shard, l, keyedBatch(now.Load(), key, value+fmt.Sprint(i)))
		written = append(written, keyedRecord{offset: info.BaseOffset, key: key, value: value + fmt.Sprint(i)})
	}
	rollOn(t, shard, l)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	stats, _, err := Clean(l, shard, true, nil)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Segments != 1 || stats.BytesRead < 4<<20 {
		t.Fatalf("%+v: want one segment of 4 MiB rewritten", stats)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%+v: %d bytes allocated", stats, allocated)
	if allocated > 1<<20 {
		t.Fatalf("a pass over %d bytes allocated %d bytes", stats.BytesRead, allocated)
	}
	checkCompacted(t, l, written, cleanerCheckpoint(shard, l))
}

func TestCleanWaitsForMinCompactionLag(t *testing.T) {
	var now atomic.Int64
	now.Store(10_000_000)
	cfg := compactConfig(&now)
	cfg.MinCompactionLagMillis = 60_000
	shard, l := newShardLog(t, t.TempDir(), cfg)
	written := writeUpdates(t, shard, l, 5, 60, now.Load())
	if _, ran, _ := Clean(l, shard, true, nil); ran {
		t.Fatal("cleaned records younger than min.compaction.lag.ms")
	}
	now.Add(61_000)
	if _, ran, err := Clean(l, shard, true, nil); !ran || err != nil {
		t.Fatalf("no pass once the lag passed: %v", err)
	}
	checkCompacted(t, l, written, cleanerCheckpoint(shard, l))
}

// The cleaner's crash test: a child process appends durable updates to 40
// keys while cleaning passes run back to back, printing "ack <offset>
// <key> <seq>" for each durable update; the parent SIGKILLs it at a random
// moment, reopens the log and checks that no acknowledged update is lost
// unless a newer record of its key survives, that no segment is corrupt,
// and that no leftover of a pass remains. The next child continues on the
// same directory.

const cleanCrashChildEnv = "SPOOL_CLEAN_CRASH_CHILD_DIR"

func cleanCrashConfig() LogConfig {
	return LogConfig{
		Segment:         segment.Config{SegmentBytes: 8 << 10, IndexBytes: 16 << 10, IndexIntervalBytes: 512},
		RetentionMillis: -1,
		RetentionBytes:  -1,
		Cleanup:         CleanupCompact,
		FlushPolicy:     FlushGroupCommit,
	}
}

func TestCleanCrashChild(t *testing.T) {
	dir := os.Getenv(cleanCrashChildEnv)
	if dir == "" {
		t.Skip("only runs as the cleaner crash test's child")
	}
	l, err := OpenLog(dir, cleanCrashConfig())
	if err != nil {
		fmt.Println("open-failed", err)
		os.Exit(3)
	}
	shard := NewShard(ShardConfig{CPU: -1})
	go func() {
		for {
			stats, ran, err := Clean(l, shard, true, nil)
			if err != nil && !errors.Is(err, ErrCleanAborted) {
				fmt.Fprintln(os.Stderr, "clean:", err)
				os.Exit(5)
			}
			if ran && err == nil && stats.Segments > 0 {
				fmt.Printf("cleaned %d\n", stats.Segments)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	seq := time.Now().UnixNano()
	for i := 0; ; i++ {
		seq++
		key := fmt.Sprintf("key-%d", i%40)
		info, err := shard.Append(l, keyedBatch(time.Now().UnixMilli(), key, fmt.Sprint(seq)), 1, true)
		if err != nil {
			fmt.Fprintln(os.Stderr, "append:", err)
			os.Exit(4)
		}
		fmt.Printf("ack %d %s %d\n", info.BaseOffset, key, seq)
	}
}

func TestCleanCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	runSeed, iterations := crashRun(t, 6)
	rng := rand.New(rand.NewSource(runSeed))
	dir := t.TempDir()
	newest := map[string]keyedRecord{} // per key, the newest acknowledged update
	passes := 0
	for i := 0; i < iterations; i++ {
		delay := time.Duration(50+rng.Intn(400)) * time.Millisecond
		context := fmt.Sprintf("iteration %d (killed after %v) of SPOOL_SEED=%d", i, delay, runSeed)
		cmd := exec.Command(os.Args[0], "-test.run=^TestCleanCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), cleanCrashChildEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killed := make(chan struct{})
		time.AfterFunc(delay, func() { cmd.Process.Signal(syscall.SIGKILL); close(killed) })
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			var offset int64
			var key, value string
			if n, _ := fmt.Sscanf(scanner.Text(), "ack %d %s %s", &offset, &key, &value); n == 3 {
				newest[key] = keyedRecord{offset: Offset(offset), key: key, value: value}
			} else if strings.HasPrefix(scanner.Text(), "cleaned ") {
				passes++
			} else if strings.HasPrefix(scanner.Text(), "open-failed") {
				t.Fatalf("%s: %s", context, scanner.Text())
			}
		}
		cmd.Wait()
		<-killed

		l, err := OpenLog(dir, cleanCrashConfig())
		if err != nil {
			t.Fatalf("%s: reopen: %v", context, err)
		}
		if l.Corruptions() != 0 {
			t.Fatalf("%s: recovery reported corruption", context)
		}
		for _, leftover := range []string{cleaningDirName, cleanedDirName} {
			if _, err := os.Stat(filepath.Join(dir, leftover)); err == nil {
				t.Fatalf("%s: %s left after open", context, leftover)
			}
		}
		got := map[string]keyedRecord{}
		for _, r := range readRecords(t, l) {
			got[r.key] = r
		}
		for key, want := range newest {
			have, ok := got[key]
			if !ok || have.offset < want.offset || (have.offset == want.offset && have.value != want.value) {
				t.Fatalf("%s: key %s: acknowledged %+v, log holds %+v", context, key, want, have)
			}
		}
		l.Close()
	}
	if passes == 0 {
		t.Fatalf("no cleaning pass completed in %d runs (SPOOL_SEED=%d)", iterations, runSeed)
	}
	t.Logf("%d kills, %d cleaning passes, %d keys verified, SPOOL_SEED=%d", iterations, passes, len(newest), runSeed)
}
