package engine

import "spool/segment"

// cacheCursor is how far a log's syncs have dropped the page cache of bytes
// older than the partition's window (segment.Config.CacheWindowBytes):
// everything before position in the segment based at base. Guarded by
// Log.cacheMu.
type cacheCursor struct {
	base     Offset
	position int64
}

// dropColdCache drops from the page cache the bytes of the log that lie more
// than the window behind synced, the position in active that a sync just
// made durable: everything older is durable too (sealed segments, or a sync
// job's own seals). The sync jobs run it off the shard, so the writer does
// not pay for it; Flush (a standby's appends, the batch flush policy) runs
// it on the writer. Segments are acquired while their pages are dropped.
// A drop already running (another goroutine's) makes this one a no-op: the
// next sync catches up.
func (l *Log) dropColdCache(active *segment.Segment, synced int64) {
	window := l.cfg.Segment.CacheWindowBytes
	if window <= 0 || !l.cacheMu.TryLock() {
		return
	}
	defer l.cacheMu.Unlock()
	segments := l.segments.Load().segments
	i := len(segments) - 1
	for i >= 0 && segments[i] != active {
		i-- // a roll since the job began made active a rolled segment
	}
	if i < 0 {
		return
	}
	// The boundary lies window bytes back from (active, synced).
	j, boundary := i, synced-window
	for boundary < 0 && j > 0 {
		j--
		boundary += segments[j].Size()
	}
	if boundary <= 0 {
		return // the whole log fits the window
	}
	for k := l.findSegment(segments, l.cacheDropped.base); k <= j; k++ {
		s := segments[k]
		from := int64(0)
		if s.BaseOffset() == l.cacheDropped.base {
			from = l.cacheDropped.position
		}
		to := s.Size()
		if k == j {
			to = boundary
		}
		if to > from && s.Acquire() {
			s.DropCache(from, to)
			s.Release()
		}
		l.cacheDropped = cacheCursor{base: s.BaseOffset(), position: max(from, to)}
	}
}

// findSegment is the index of the first segment whose base is at least
// base (0 when base precedes them all).
func (l *Log) findSegment(segments []*segment.Segment, base Offset) int {
	lo, hi := 0, len(segments)
	for lo < hi {
		mid := (lo + hi) / 2
		if segments[mid].BaseOffset() < base {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}
