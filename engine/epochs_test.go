package engine

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"spool/internal/batchtest"
)

// EndOffsetForEpoch and EpochHistory answer the replication goroutines
// while the shard rewrites the epoch history (DeleteRecords and retention
// move its start, truncation cuts its end, appends in new epochs extend
// it). Run with -race: when the history was written in place, the race
// detector reported the readers' loads against the writer's stores.
// Bounded: a fixed number of rounds (and a deadline no machine should
// reach), and readers that stop with the writer or after a fixed count.
func TestEpochReadsRaceTheWriter(t *testing.T) {
	cfg := smallConfig()
	shard, l := newShardLog(t, t.TempDir(), cfg)
	t.Cleanup(func() { shard.Do(func() { l.Close() }) })
	var latest atomic.Int32 // the newest epoch written
	appendEpochs := func(epochs, batches int) {
		for range epochs {
			epoch := latest.Load() + 1
			for i := range batches {
				if _, err := shard.Append(l, batchtest.Values(2, 200, clock(i)), epoch, false); err != nil {
					t.Fatal(err)
				}
			}
			latest.Store(epoch)
		}
	}
	appendEpochs(20, 10) // ~200 batches: several 64 KiB segments

	done := make(chan struct{})
	var readers sync.WaitGroup
	var reads atomic.Int64
	const readsPerReaderMax = 200_000
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := 0; i < readsPerReaderMax; i++ {
				select {
				case <-done:
					return
				default:
				}
				asked := int32(i)%(latest.Load()+2) - 1
				if epoch, end := l.EndOffsetForEpoch(asked); epoch > asked || (epoch < 0) != (end < 0) {
					t.Errorf("EndOffsetForEpoch(%d) = (%d, %d)", asked, epoch, end)
					return
				}
				history := l.EpochHistory()
				for k := 1; k < len(history); k++ {
					if history[k].Epoch <= history[k-1].Epoch || history[k].StartOffset < history[k-1].StartOffset {
						t.Errorf("history not ascending: %v", history)
						return
					}
				}
				reads.Add(1)
			}
		}()
	}

	deadline := time.Now().Add(20 * time.Second)
	for round := 0; round < 30 && time.Now().Before(deadline); round++ {
		appendEpochs(3, 8)
		var err error
		shard.Do(func() { _, err = l.DeleteRecords(l.LogStartOffset() + 25) })
		if err != nil {
			t.Fatal(err)
		}
		if round%3 == 0 {
			retention := cfg
			retention.RetentionBytes = 128 << 10
			shard.Do(func() {
				if err = l.SetConfig(retention); err == nil {
					_, err = l.ApplyRetention()
				}
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		shard.Do(func() { _, err = l.TruncateTo(l.LogEndOffset() - 9) })
		if err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	readers.Wait()
	t.Logf("%d epoch reads raced the writer, which left %d epochs", reads.Load(), len(l.EpochHistory()))
}
