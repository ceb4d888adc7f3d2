package meta

// The background loops of the metadata's partitions: retention (every
// log.retention.check.interval.ms) and the log cleaner (compacted topics,
// log.cleaner.backoff.ms when idle). Open starts both on goroutines of
// their own; Close stops them (c.stop) and waits (c.done, c.cleanerDone).
// Each applies its work to a partition on the partition's shard
// (Shard.Do), or, for the cleaner's long reading and writing, on its own
// goroutine between shard steps (engine.Clean).

import (
	"errors"
	"time"

	"spool/engine"
)

// retentionLoop applies retention to every partition on its shard.
func (c *Cluster) retentionLoop() {
	defer close(c.done)
	ticker := time.NewTicker(c.cfg.RetentionCheckInterval)
	defer ticker.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-ticker.C:
			for _, t := range c.Topics() {
				for _, p := range t.Partitions {
					var deleted int
					var err error
					p.Shard.Do(func() { deleted, err = p.Log.ApplyRetention() })
					if err != nil {
						c.logger.Warn("retention", "topic", t.Name, "partition", p.Index, "error", err)
					} else if deleted > 0 {
						c.logger.Info("retention deleted segments", "topic", t.Name, "partition", p.Index, "segments", deleted)
					}
				}
			}
		}
	}
}

// cleanerLoop is the log cleaner: one goroutine that compacts the
// partitions of every topic whose cleanup.policy has compact (not
// __consumer_offsets, which its coordinator compacts by rewriting), each
// when its dirty ratio reaches min.cleanable.dirty.ratio (engine.Clean).
// After a round that cleaned nothing it sleeps log.cleaner.backoff.ms.
func (c *Cluster) cleanerLoop() {
	defer close(c.cleanerDone)
	timer := time.NewTimer(c.cfg.CleanerBackoff)
	defer timer.Stop()
	for {
		var answer chan struct{}
		select {
		case <-c.stop:
			return
		case answer = <-c.cleanNow:
		case <-timer.C:
		}
		cleaned := false
		if !c.cfg.CleanerDisabled || answer != nil {
			cleaned = c.cleanRound(answer != nil)
		}
		if answer != nil {
			close(answer)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if cleaned {
			timer.Reset(0)
		} else {
			timer.Reset(c.cfg.CleanerBackoff)
		}
	}
}

// cleanRound runs a pass over each compacted partition that needs one (any
// with dirty data when force) and reports whether one ran.
func (c *Cluster) cleanRound(force bool) bool {
	cleaned := false
	for _, t := range c.Topics() {
		if t.Internal || !c.LogConfigFor(t).Cleanup.Compact() {
			continue
		}
		for _, p := range t.Partitions {
			select {
			case <-c.stop:
				return false
			default:
			}
			c.cleaning.Lock()
			stats, ran, err := engine.Clean(p.Log, p.Shard, force, c.stop)
			c.cleaning.Unlock()
			switch {
			case errors.Is(err, engine.ErrCleanAborted):
				c.logger.Info("cleaning pass aborted: the log changed under it", "topic", t.Name, "partition", p.Index)
			case err != nil:
				c.logger.Warn("log cleaner", "topic", t.Name, "partition", p.Index, "error", err)
			case ran:
				cleaned = !force
				c.logger.Info("log cleaned", "topic", t.Name, "partition", p.Index, "segments", stats.Segments, "bytes_read", stats.BytesRead, "bytes_written", stats.BytesWritten, "records_removed", stats.RecordsRemoved, "dirty_ratio", stats.DirtyRatio, "took", stats.Duration)
			}
		}
	}
	return cleaned
}

// CleanNow runs one cleaner round at once, cleaning every compacted
// partition with anything dirty whatever its ratio (even with the cleaner
// disabled), and returns when it is done. Tests and operators use it.
func (c *Cluster) CleanNow() {
	answer := make(chan struct{})
	select {
	case c.cleanNow <- answer:
		<-answer
	case <-c.stop:
	}
}
