package engine

import (
	"fmt"
	"math/rand"
	"runtime"
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
