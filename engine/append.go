package engine

import (
	"errors"
	"fmt"
	"path/filepath"
	"syscall"

	"spool/segment"
)

// AppendInfo describes an appended batch.
type AppendInfo struct {
	BaseOffset     Offset
	LastOffset     Offset
	LogStartOffset Offset
	RecordCount    int32
	Header         segment.Header
	// LogAppendTime is the append time stamped on the batch, or -1 when
	// the topic keeps the producer's CreateTime.
	LogAppendTime int64
	// Duplicate: the batch repeats one of its idempotent producer's last
	// five; nothing was appended and the offsets are the original ones.
	Duplicate bool
}

// Append validates one RecordBatch v2 as a producer sent it, stamps its base
// offset and leader epoch in place, and appends it, rolling to a new
// segment when the active one is full or older than segment.ms. Under
// FlushEveryBatch it also syncs. Writer only.
func (l *Log) Append(b []byte, leaderEpoch int32) (AppendInfo, error) {
	l.checkWriter("Log.Append")
	if err := l.Err(); err != nil {
		return AppendInfo{}, err
	}
	if l.closed {
		return AppendInfo{}, ErrClosed
	}
	if int64(len(b)) > l.cfg.MaxMessageBytes {
		return AppendInfo{}, fmt.Errorf("%w: %d bytes, max.message.bytes is %d", ErrBatchTooLarge, len(b), l.cfg.MaxMessageBytes)
	}
	h, err := segment.ValidateBatch(b)
	if err != nil {
		return AppendInfo{}, fmt.Errorf("%w: %w", ErrCorruptBatch, err)
	}
	if err := checkClientBatch(&h); err != nil {
		return AppendInfo{}, err
	}
	if l.cfg.Cleanup.Compact() {
		if err := l.checkKeys(b); err != nil {
			return AppendInfo{}, err
		}
	}
	duplicate, err := l.producers.check(&h)
	if err != nil {
		return AppendInfo{}, err
	}
	if duplicate != nil {
		return AppendInfo{BaseOffset: duplicate.baseOffset, LastOffset: duplicate.lastOffset, LogStartOffset: l.LogStartOffset(), RecordCount: h.RecordCount, Header: h, Duplicate: true, LogAppendTime: -1}, nil
	}
	now := l.cfg.Now()
	info, err := l.appendValid(b, &h, l.LogEndOffset(), leaderEpoch, now)
	if err == nil {
		l.producers.record(&h, now)
	}
	return info, err
}

// checkKeys refuses a batch with a record without a key, which a compacted
// topic cannot hold (Kafka answers INVALID_RECORD). Writer only.
func (l *Log) checkKeys(b []byte) error {
	l.checkWriter("Log.checkKeys")
	missing := false
	var err error
	l.keyScratch, err = segment.WalkAnyRecords(b, l.keyScratch, recordsDecompressedBytesMax, func(r segment.RecordPosition) bool {
		missing = r.Key == nil
		return !missing
	})
	if len(l.keyScratch) > 1<<20 {
		l.keyScratch = nil // do not keep a large buffer per partition
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorruptBatch, err)
	}
	if missing {
		return fmt.Errorf("%w: a compacted topic cannot accept a record without a key", ErrInvalidRecord)
	}
	return nil
}

// appendValid appends a validated batch at offset base, at now
// (milliseconds).
func (l *Log) appendValid(b []byte, h *segment.Header, base Offset, leaderEpoch int32, now int64) (AppendInfo, error) {
	appendTime := int64(-1)
	if l.cfg.LogAppendTime && !h.LogAppendTime() {
		segment.StampLogAppendTime(b, h, now)
		appendTime = now
	}
	if l.active.Sealed() || l.shouldRoll(now) {
		if err := l.Roll(); err != nil {
			return AppendInfo{}, err
		}
	}
	appendTo := func(s *segment.Segment) error {
		if base > l.LogEndOffset() {
			// Only a standby copying a compacted leader skips offsets;
			// its batch is stamped already (base and epoch are its own).
			return s.AppendStored(b, h, now)
		}
		return s.Append(b, h, base, leaderEpoch, now)
	}
	err := appendTo(l.active)
	if errors.Is(err, segment.ErrFull) && l.active.Size() > 0 {
		if err := l.Roll(); err != nil {
			return AppendInfo{}, err
		}
		err = appendTo(l.active)
	}
	if errors.Is(err, segment.ErrFull) {
		return AppendInfo{}, fmt.Errorf("%w: %d bytes do not fit a segment of %d", ErrBatchTooLarge, len(b), l.active.Capacity())
	}
	if err != nil {
		if diskFull(err) {
			// Without preallocation the pwrite meets a full disk: nothing
			// was published (the segment's size did not move, and a short
			// write's bytes past it are overwritten by the next append),
			// so the partition stays writable for when space comes back.
			return AppendInfo{}, fmt.Errorf("%w: %w", ErrDiskFull, err)
		}
		return AppendInfo{}, l.fail(err)
	}
	if _, err := l.epochs.assign(leaderEpoch, base); err != nil {
		return AppendInfo{}, l.fail(err)
	}
	next := h.NextOffset()
	l.logEndOffset.Store(int64(next))
	l.leo.wake()
	l.publishHighWatermark()
	if l.cfg.FlushPolicy == FlushEveryBatch {
		if err := l.Flush(); err != nil {
			return AppendInfo{}, err
		}
	}
	return AppendInfo{BaseOffset: base, LastOffset: h.LastOffset(), LogStartOffset: l.LogStartOffset(), RecordCount: h.RecordCount, Header: *h, LogAppendTime: appendTime}, nil
}

func (l *Log) shouldRoll(now int64) bool {
	first := l.active.FirstAppendMillis()
	return l.cfg.SegmentMillis > 0 && first != 0 && now-first >= l.cfg.SegmentMillis
}

// Flush makes every appended batch durable and publishes the durable
// offset. A failed sync fails the partition. Writer only.
func (l *Log) Flush() error {
	l.checkWriter("Log.Flush")
	if err := l.Err(); err != nil {
		return err
	}
	if err := l.sealPending(); err != nil {
		return err
	}
	end := l.LogEndOffset()
	if Offset(l.durableOffset.Load()) == end {
		return nil
	}
	if err := l.active.Sync(); err != nil {
		return l.fail(err)
	}
	l.durableOffset.Store(int64(end))
	l.dropColdCache(l.active, l.active.SyncedSize())
	return nil
}

// Roll seals the active segment and starts a new one at the log end offset,
// in this order:
//  1. seal the active segment: sync, cut the file and its indexes to their
//     valid sizes (a failure here fails the partition). On a shard
//     (deferSeals) the seal, and step 4 after it, are left to the next sync
//     job, which runs them off the shard goroutine before it syncs the new
//     segment: the fdatasyncs of a seal stalled every partition of the
//     shard for milliseconds;
//  2. create the new segment: preallocated, indexes preallocated, the
//     directory synced (ENOSPC here is ErrDiskFull: nothing was written,
//     and the next append tries again);
//  3. publish the new segment list;
//  4. move the recovery point to the new segment's base and write it
//     durably: every segment below it is now sealed and synced;
//  5. snapshot the idempotent producers' state at the new segment's base:
//     encoded here, written and fsync'd in the background (a failure is
//     logged, not fatal: see writeProducerSnapshot).
//
// Writer only.
func (l *Log) Roll() error {
	l.checkWriter("Log.Roll")
	// 1.
	deferred := false
	if !l.active.Sealed() {
		if l.deferSeals && l.active.Size() > 0 {
			deferred = true
		} else {
			if err := l.active.Seal(); err != nil {
				return l.fail(err)
			}
			if len(l.pendingSeal) == 0 {
				l.durableOffset.Store(int64(l.active.NextOffset()))
			}
		}
	}
	// 2.
	end := l.LogEndOffset()
	list := l.segments.Load()
	if l.active.Size() == 0 && l.active.BaseOffset() == end {
		// An empty sealed segment is reactivated rather than replaced by
		// a segment of the same name.
		if err := l.active.Activate(); err != nil {
			return l.storageOrFull(err)
		}
		return nil
	}
	next, err := segment.Create(l.dir, end, l.cfg.Segment)
	if err != nil {
		return l.storageOrFull(err)
	}
	// 3.
	segments := make([]*segment.Segment, 0, len(list.segments)+1)
	segments = append(append(segments, list.segments...), next)
	l.segments.Store(&segmentList{segments: segments})
	if deferred {
		l.pendingSeal = append(l.pendingSeal, l.active)
	}
	l.active = next
	l.checkInvariants()
	// 4.
	if len(l.pendingSeal) == 0 {
		l.recoveryPoint = next.BaseOffset()
		if err := writeOffsetFile(filepath.Join(l.dir, recoveryPointFileName), l.recoveryPoint); err != nil {
			return l.fail(err)
		}
	}
	// 5.
	l.writeProducerSnapshot(true)
	return nil
}

// storageOrFull turns a failed segment creation into ErrDiskFull when the
// disk is full, and into a sticky failure otherwise.
func (l *Log) storageOrFull(err error) error {
	if diskFull(err) {
		return fmt.Errorf("%w: %w", ErrDiskFull, err)
	}
	return l.fail(err)
}

// diskFull reports an error of a full disk or an exhausted quota.
func diskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// AssignEpoch starts a leader epoch at the log end offset (a promotion),
// before any batch of that epoch arrives. Writer only.
func (l *Log) AssignEpoch(epoch int32) error {
	l.checkWriter("Log.AssignEpoch")
	_, err := l.epochs.assign(epoch, l.LogEndOffset())
	return err
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch: the largest epoch ≤
// epoch and the offset where it ended, or (-1, -1). Any goroutine: it
// reads the epoch history the writer published (an immutable snapshot)
// and then the log end offset, so it answers as of a moment of the
// writer's, never past the log end offset.
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, Offset) {
	entries := l.epochs.load()
	return endOffsetFor(entries, epoch, l.LogEndOffset())
}

// EpochHistory is a copy of the leader-epoch history, oldest first. Any
// goroutine.
func (l *Log) EpochHistory() []EpochEntry {
	return append([]EpochEntry(nil), l.epochs.load()...)
}

// Close shuts the log down cleanly, in this order:
//  1. sync the active segment and seal it (file and indexes cut to size);
//  2. snapshot the idempotent producers' state at the log end offset, so
//     the next open replays nothing (a failure is logged, not fatal);
//  3. write the recovery point (the log end offset);
//  4. write the clean-shutdown marker, durably, last: its presence promises
//     that every file is cut to its valid size;
//  5. close the segments.
//
// A failed log skips the marker, so the next open scans. Writer only, after
// readers are gone.
func (l *Log) Close() error {
	l.checkWriter("Log.Close")
	if l.closed {
		return nil
	}
	l.closed = true
	l.closing.Store(true) // a cleaning pass in flight gives up
	defer l.hwm.wake()
	defer l.leo.wake()
	var err error
	if l.Err() == nil {
		// 1.
		err = l.sealPending()
		if err == nil && !l.active.Sealed() {
			err = l.active.Seal()
		}
		// 2.
		if err == nil {
			l.writeProducerSnapshot(false)
		}
		// 3.
		if err == nil {
			err = writeOffsetFile(filepath.Join(l.dir, recoveryPointFileName), l.LogEndOffset())
		}
		// 4.
		if err == nil {
			err = segment.WriteFileAtomic(filepath.Join(l.dir, cleanShutdownFileName), []byte("clean\n"))
		}
	} else {
		l.settleProducerSnapshot() // no write may outlive the close
		err = l.Err()
	}
	// 5.
	for _, s := range l.segments.Load().segments {
		s.Close()
	}
	return err
}

// ErrReplicaGap says a replicated batch does not start at the log end
// offset: the standby and the leader disagree about where it stands.
var ErrReplicaGap = errors.New("engine: replicated batch does not continue the log")

// AppendReplica appends batches a leader sent (RecordBatch v2 exactly as
// the leader stored them: base offsets and leader epochs already stamped),
// verbatim and at the same offsets. Every batch's CRC and counts are
// checked first; a batch wholly below the log end offset (a resend after a
// reconnect) is skipped; one that starts elsewhere than the log end offset
// is ErrReplicaGap and nothing after it is appended. Idempotent producer
// state is recorded as on the leader, so a promoted standby deduplicates
// retries. The caller syncs per its flush policy. Writer only.
func (l *Log) AppendReplica(batches []byte) (appended int, err error) {
	l.checkWriter("Log.AppendReplica")
	if err := l.Err(); err != nil {
		return 0, err
	}
	if l.closed {
		return 0, ErrClosed
	}
	for rest := batches; len(rest) > 0; {
		h, err := segment.ParseHeader(rest)
		if err != nil || h.TotalBytes() > int64(len(rest)) {
			return appended, fmt.Errorf("%w: replicated bytes do not split into whole batches", ErrCorruptBatch)
		}
		b := rest[:h.TotalBytes()]
		rest = rest[h.TotalBytes():]
		if h, err = segment.ValidateStoredBatch(b); err != nil {
			return appended, fmt.Errorf("%w: replicated batch at %d: %w", ErrCorruptBatch, h.BaseOffset, err)
		}
		end := l.LogEndOffset()
		if h.NextOffset() <= end {
			continue
		}
		if h.BaseOffset < end {
			return appended, fmt.Errorf("%w: batch at %d, log end offset %d", ErrReplicaGap, h.BaseOffset, end)
		}
		// A batch past the log end offset is a compacted leader's: its
		// cleaner removed the batches in between (and a cleaned batch may
		// hold fewer records than its offset range).
		now := l.cfg.Now()
		if _, err := l.appendValid(b, &h, h.BaseOffset, h.LeaderEpoch, now); err != nil {
			return appended, err
		}
		if h.ProducerID >= 0 {
			l.producers.record(&h, now)
		}
		appended++
	}
	return appended, nil
}
