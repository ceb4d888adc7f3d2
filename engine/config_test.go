package engine

import (
	"sync"
	"testing"
)

// Config answers any goroutine (the standby's replication reads the flush
// policy outside the shard) while SetConfig changes the configuration on
// the shard. Run with -race: when Config returned the writer's own field,
// the race detector reported the read against SetConfig's write.
func TestConfigReadsRaceSetConfig(t *testing.T) {
	shard, l := newShardLog(t, t.TempDir(), smallConfig())
	t.Cleanup(func() { shard.Do(func() { l.Close() }) })
	const rounds = 200
	var reader sync.WaitGroup
	reader.Add(1)
	go func() {
		defer reader.Done()
		for range rounds * 10 {
			if policy := l.Config().FlushPolicy; policy != FlushGroupCommit && policy != FlushInterval {
				t.Errorf("flush policy %v, never set", policy)
				return
			}
		}
	}()
	for i := range rounds {
		cfg := smallConfig()
		if i%2 == 1 {
			cfg.FlushPolicy = FlushInterval
		}
		var err error
		shard.Do(func() { err = l.SetConfig(cfg) })
		if err != nil {
			t.Fatal(err)
		}
	}
	reader.Wait()
}
