//go:build !race

package engine

import (
	"testing"

	"spool/internal/batchtest"
)

// The hot paths allocate nothing per batch: proven here, measured in the
// benchmarks (b.ReportAllocs). The race detector allocates on its own, so
// this file builds without it.
func TestHotPathsDoNotAllocate(t *testing.T) {
	cfg := smallConfig()
	cfg.Segment.SegmentBytes = 64 << 20
	l, err := OpenLog(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	batch := batchtest.Values(8, 100, 1)
	if allocs := testing.AllocsPerRun(1000, func() {
		if _, err := l.Append(batch, 1); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("Log.Append: %.1f allocs per batch", allocs)
	}
	idempotent := make([][]byte, 1002)
	for i := range idempotent {
		idempotent[i] = batchtest.BuildWith([]batchtest.Record{{Value: []byte("v"), Timestamp: 1}}, batchtest.Options{ProducerID: 42, BaseSequence: int32(i)})
	}
	next := 0
	if allocs := testing.AllocsPerRun(1000, func() {
		if _, err := l.Append(idempotent[next], 1); err != nil {
			t.Fatal(err)
		}
		next++
	}); allocs != 0 {
		t.Errorf("Log.Append of an idempotent batch: %.1f allocs per batch", allocs)
	}
	var r ReadResult
	offset := Offset(0)
	if allocs := testing.AllocsPerRun(1000, func() {
		if err := l.Read(offset, 64<<10, true, ReadUncommitted, &r); err != nil {
			t.Fatal(err)
		}
		r.Release()
		offset = (offset + 37) % l.HighWatermark()
	}); allocs != 0 {
		t.Errorf("Log.Read: %.1f allocs per read", allocs)
	}
	shard := NewShard(ShardConfig{CPU: -1})
	defer shard.Stop()
	if allocs := testing.AllocsPerRun(1000, func() {
		if _, err := shard.Append(l, batch, 1, true); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("Shard.Append (durable): %.1f allocs per batch", allocs)
	}
}
