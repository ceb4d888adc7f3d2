package engine

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"spool/internal/batchtest"
	"spool/segment"
)

// benchLog opens a log with production-sized segments (1 GiB, preallocated)
// in a fresh directory.
func benchLog(b *testing.B, mode segment.WriteMode, policy FlushPolicy) *Log {
	b.Helper()
	l, err := OpenLog(b.TempDir(), LogConfig{
		Segment:         segment.Config{WriteMode: mode},
		RetentionMillis: -1,
		RetentionBytes:  -1,
		MaxMessageBytes: 2 << 20,
		FlushPolicy:     policy,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

var batchSizes = []struct {
	name  string
	bytes int
}{{"64KiB", 64 << 10}, {"1MiB", 1 << 20}}

var writeModes = []segment.WriteMode{segment.WritePwrite, segment.WriteMmap}

// BenchmarkLogAppend measures the append path (validate with CRC-32C, stamp,
// copy into the page cache, index) with no flush: the page-cache ceiling.
func BenchmarkLogAppend(b *testing.B) {
	for _, size := range batchSizes {
		for _, mode := range writeModes {
			b.Run(fmt.Sprintf("%s/%s/flush=none", size.name, mode), func(b *testing.B) {
				l := benchLog(b, mode, FlushGroupCommit)
				batch := batchtest.Sized(size.bytes, 1)
				b.SetBytes(int64(len(batch)))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := l.Append(batch, 1); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkLogAppendFsync measures appends made durable one at a time
// (FlushEveryBatch: an fdatasync or msync per batch).
func BenchmarkLogAppendFsync(b *testing.B) {
	for _, size := range batchSizes {
		for _, mode := range writeModes {
			b.Run(fmt.Sprintf("%s/%s/flush=batch", size.name, mode), func(b *testing.B) {
				l := benchLog(b, mode, FlushEveryBatch)
				batch := batchtest.Sized(size.bytes, 1)
				b.SetBytes(int64(len(batch)))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := l.Append(batch, 1); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkShardGroupCommit measures durable (acks=all) appends from
// concurrent producers (GOMAXPROCS × parallelism goroutines, each waiting
// for its ack before sending again) through one shard: group commit lets one
// sync cover every batch that arrived while the previous sync ran. More
// producers means more bytes in flight per sync, as with a client that
// pipelines requests.
func BenchmarkShardGroupCommit(b *testing.B) {
	for _, size := range batchSizes {
		for _, mode := range writeModes {
			for _, parallelism := range []int{8, 32} {
				b.Run(fmt.Sprintf("%s/%s/flush=group/producers=%d", size.name, mode, parallelism*runtime.GOMAXPROCS(0)), func(b *testing.B) {
					l := benchLog(b, mode, FlushGroupCommit)
					shard := NewShard(ShardConfig{CPU: -1})
					b.Cleanup(shard.Stop)
					b.SetBytes(int64(len(batchtest.Sized(size.bytes, 1))))
					b.SetParallelism(parallelism)
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						batch := batchtest.Sized(size.bytes, 1)
						for pb.Next() {
							if _, err := shard.Append(l, batch, 1, true); err != nil {
								b.Error(err)
								return
							}
						}
					})
					b.StopTimer()
					shard.Do(func() {})
				})
			}
		}
	}
}

// BenchmarkLogRead measures read planning through the log: snapshot load,
// segment acquire, index lookup, header scan, release, for a random offset
// in a log of 64 MiB of 1 KiB batches.
func BenchmarkLogRead(b *testing.B) {
	l := benchLog(b, segment.WritePwrite, FlushGroupCommit)
	batch := batchtest.Values(4, 200, 1)
	for int64(l.LogEndOffset()) < 4*(64<<20)/int64(len(batch)) {
		if _, err := l.Append(batch, 1); err != nil {
			b.Fatal(err)
		}
	}
	end := int64(l.LogEndOffset())
	rng := rand.New(rand.NewSource(1))
	offsets := make([]Offset, 1024)
	for i := range offsets {
		offsets[i] = Offset(rng.Int63n(end))
	}
	b.ReportAllocs()
	b.ResetTimer()
	var r ReadResult
	for i := 0; i < b.N; i++ {
		if err := l.Read(offsets[i%len(offsets)], 1<<20, true, ReadUncommitted, &r); err != nil {
			b.Fatal(err)
		}
		r.Release()
	}
}

// BenchmarkOpenProducerState measures OpenLog of a cleanly closed partition
// holding SPOOL_BENCH_OPEN_BYTES (default 1 GiB) of recent small idempotent
// batches (one 200-byte record each, 1000 producers) in 9 segments,
// three ways: with the close's snapshot at the log end (nothing replayed),
// with only the last roll's snapshot (the active segment replayed, as after
// a crash), and with no snapshot (the walk of every recent segment, as on
// the first start after upgrading). Segments are 2/17 of the total (120
// MiB for 1 GiB), so the active one is about half full. The page cache holds the files: this is
// the CPU and page-fault cost of the walk, not the cost of reading it from
// disk. Reproduce with:
//
//	go test -ldflags=-checklinkname=0 -run='^$' -bench=OpenProducerState -benchtime=3x -count=3 ./engine/
func BenchmarkOpenProducerState(b *testing.B) {
	total := int64(1 << 30)
	if v := os.Getenv("SPOOL_BENCH_OPEN_BYTES"); v != "" {
		total, _ = strconv.ParseInt(v, 10, 64)
	}
	cfg := LogConfig{
		Segment:         segment.Config{SegmentBytes: max(total*2/17, 1<<20)},
		RetentionMillis: -1,
		RetentionBytes:  -1,
	}
	dir := b.TempDir()
	l, err := OpenLog(dir, cfg)
	if err != nil {
		b.Fatal(err)
	}
	const producers = 1000
	templates := make([][]byte, producers)
	for i := range templates {
		templates[i] = batchtest.BuildWith([]batchtest.Record{{Value: make([]byte, 200), Timestamp: 1}}, batchtest.Options{ProducerID: int64(i), BaseSequence: 0})
	}
	written := int64(0)
	for sequence := int32(0); written < total; sequence++ {
		for _, batch := range templates {
			binary.BigEndian.PutUint32(batch[53:], uint32(sequence)) // baseSequence
			batchtest.Reseal(batch)
			if _, err := l.Append(batch, 0); err != nil {
				b.Fatal(err)
			}
			written += int64(len(batch))
		}
	}
	batches := l.LogEndOffset()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	snapshots, err := listProducerSnapshots(dir)
	if err != nil || len(snapshots) != snapshotsKept {
		b.Fatalf("snapshots %v %v", snapshots, err)
	}
	open := func(b *testing.B, prepare func()) {
		b.ReportMetric(float64(total)/(1<<20), "MiB")
		var replayed int64
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			prepare()
			b.StartTimer()
			l, err := OpenLog(dir, cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			replayed = l.producersReplayed
			if len(l.producers.byID) != producers {
				b.Fatalf("%d producers loaded, want %d", len(l.producers.byID), producers)
			}
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(replayed), "batches-replayed")
	}
	b.Logf("%d batches, snapshots at %v", batches, snapshots)
	b.Run("snapshot-at-end", func(b *testing.B) { open(b, func() {}) })
	b.Run("snapshot-at-roll", func(b *testing.B) {
		open(b, func() { os.Remove(filepath.Join(dir, snapshotFileName(batches))) })
	})
	b.Run("walk", func(b *testing.B) {
		open(b, func() {
			for _, offset := range snapshots {
				os.Remove(filepath.Join(dir, snapshotFileName(offset)))
			}
		})
	})
}

// BenchmarkProducerSnapshotWrite measures what a roll adds: encoding and
// durably writing the snapshot of a partition with producersPerLogMax
// producers, each with a full window. "durable" is the whole write (as at
// a close); "shard" is what the shard goroutine spends at a roll, where
// the file write and its fsyncs run in the background (settled outside
// the timer).
func BenchmarkProducerSnapshotWrite(b *testing.B) {
	for _, background := range []bool{false, true} {
		name := "durable"
		if background {
			name = "shard"
		}
		b.Run(name, func(b *testing.B) {
			l, err := OpenLog(b.TempDir(), LogConfig{RetentionMillis: -1, RetentionBytes: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			offset := Offset(0)
			for id := int64(0); id < producersPerLogMax; id++ {
				for sequence := int32(0); sequence < producerBatchesKept; sequence++ {
					h := segment.Header{BaseOffset: offset, ProducerID: id, BaseSequence: sequence, RecordCount: 1}
					l.producers.record(&h, 1)
					offset++
				}
			}
			b.SetBytes(int64(len(encodeProducerSnapshot(nil, l.producers, offset))))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// Each write covers a new offset, as each roll does.
				l.logEndOffset.Store(int64(offset) + int64(i) + 1)
				l.writeProducerSnapshot(background)
				b.StopTimer()
				l.settleProducerSnapshot()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkRollSeal times what a roll costs the shard goroutine when the
// active segment holds unsynced bytes (acks=1 traffic between interval
// flushes): the seal's fdatasync, ftruncate and index seals, the new
// segment's files and the recovery point.
func BenchmarkRollSeal(b *testing.B) {
	for _, unsynced := range []int64{4 << 20, 16 << 20, 64 << 20, 256 << 20} {
		for _, deferred := range []bool{false, true} {
			name := fmt.Sprintf("unsynced=%dMiB", unsynced>>20)
			if deferred {
				// What a shard spends: the seal and the recovery point go
				// to the next sync job (settled here outside the timer).
				name += "/seal=in-sync-job"
			}
			b.Run(name, func(b *testing.B) { benchmarkRollSeal(b, unsynced, deferred) })
		}
	}
}

func benchmarkRollSeal(b *testing.B, unsynced int64, deferred bool) {
	l, err := OpenLog(b.TempDir(), LogConfig{RetentionMillis: -1, RetentionBytes: -1,
		Segment: segment.Config{SegmentBytes: 512 << 20}})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	l.deferSeals = deferred
	batch := batchtest.Values(64, 1000, 1)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for written := int64(0); written < unsynced; written += int64(len(batch)) {
			if _, err := l.Append(batch, 0); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if err := l.Roll(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := l.sealPending(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
