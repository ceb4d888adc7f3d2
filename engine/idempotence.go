package engine

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"spool/segment"
)

// Idempotent producers (KIP-98): per producer id, the log remembers the
// producer epoch and its last five batches' sequence ranges and offsets.
// A batch from a known producer and epoch must continue the sequence; a
// batch equal to one of the last five is a retry of a batch already
// appended and is answered with the original offsets instead of being
// appended again. Writer-owned, like the rest of the write path.
//
// The state survives a restart as Kafka's does, by snapshot and replay
// (producersnapshot.go holds the format): at each roll and at a clean close
// the writer saves the state covering every batch below the log end
// offset; at open the newest sound snapshot at or below the recovered log
// end offset is loaded and the batch headers after it are replayed. With no
// usable snapshot (a directory from before snapshots, or a corrupt one) the
// state is rebuilt by walking the headers of the segments written to within
// LogConfig.ProducerIDExpirationMillis, judged by the file's modification
// time.
//
// Each producer carries the wall-clock time of its last append (the
// broker's clock, not record timestamps, which the producer chooses); one
// idle for longer than LogConfig.ProducerIDExpirationMillis (Kafka's
// producer.id.expiration.ms) is dropped at load and at each retention pass,
// as Kafka forgets it, and its next batch is accepted at any sequence (an
// unknown producer is never refused: KIP-360's leniency).

// Limits of the producer state.
const (
	// producerBatchesKept is Kafka's window of deduplicated batches.
	producerBatchesKept = 5
	// producersPerLogMax bounds the producers remembered per partition;
	// beyond it the least recently used is forgotten.
	producersPerLogMax = 100_000
)

// Errors of the idempotence check, mapped to Kafka's codes by wire.
var (
	ErrOutOfOrderSequence   = errors.New("engine: out of order sequence number")
	ErrInvalidProducerEpoch = errors.New("engine: producer epoch is older than the current one")
)

type producerBatch struct {
	firstSequence, lastSequence int32
	baseOffset, lastOffset      Offset
}

type producerEntry struct {
	epoch    int16
	batches  [producerBatchesKept]producerBatch
	count    int    // batches held, up to producerBatchesKept
	newest   int    // index of the newest batch in batches
	lastUsed uint64 // p.clock at its last batch: the LRU order
	// lastWriteMillis is the broker's clock at its last append (for a
	// replayed batch, its segment file's modification time).
	lastWriteMillis int64
}

type producerState struct {
	byID  map[int64]*producerEntry
	clock uint64
}

func newProducerState() *producerState {
	return &producerState{byID: map[int64]*producerEntry{}}
}

// lastSequenceOf is the sequence of a batch's last record, wrapping past
// math.MaxInt32 to 0 as Kafka's sequences do.
func lastSequenceOf(h *segment.Header) int32 {
	last := int64(h.BaseSequence) + int64(h.LastOffsetDelta)
	if last > math.MaxInt32 {
		last -= math.MaxInt32 + 1
	}
	return int32(last)
}

func nextSequence(s int32) int32 {
	if s == math.MaxInt32 {
		return 0
	}
	return s + 1
}

// check decides an idempotent batch before it is written: a duplicate
// (returned), an error, or nil, nil to append it.
func (p *producerState) check(h *segment.Header) (*producerBatch, error) {
	if h.ProducerID < 0 || h.BaseSequence < 0 {
		return nil, nil
	}
	e, known := p.byID[h.ProducerID]
	if !known {
		return nil, nil
	}
	switch {
	case h.ProducerEpoch < e.epoch:
		return nil, fmt.Errorf("%w: producer %d epoch %d, current %d", ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.epoch)
	case h.ProducerEpoch > e.epoch:
		if h.BaseSequence != 0 {
			return nil, fmt.Errorf("%w: producer %d starts epoch %d at sequence %d, not 0", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
		return nil, nil
	}
	last := lastSequenceOf(h)
	for i := 0; i < e.count; i++ {
		if b := &e.batches[i]; b.firstSequence == h.BaseSequence && b.lastSequence == last {
			return b, nil
		}
	}
	if e.count > 0 && h.BaseSequence != nextSequence(e.batches[e.newest].lastSequence) {
		return nil, fmt.Errorf("%w: producer %d epoch %d sent sequence %d after %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence, e.batches[e.newest].lastSequence)
	}
	return nil, nil
}

// record remembers an appended (or replayed) idempotent batch, written at
// nowMillis.
func (p *producerState) record(h *segment.Header, nowMillis int64) {
	if h.ProducerID < 0 || h.BaseSequence < 0 {
		return
	}
	p.clock++
	e, known := p.byID[h.ProducerID]
	if !known {
		if len(p.byID) >= producersPerLogMax {
			p.evictOldest()
		}
		e = &producerEntry{epoch: h.ProducerEpoch}
		p.byID[h.ProducerID] = e
	}
	if h.ProducerEpoch != e.epoch {
		*e = producerEntry{epoch: h.ProducerEpoch}
	}
	e.lastUsed = p.clock
	e.lastWriteMillis = nowMillis
	if e.count > 0 {
		e.newest = (e.newest + 1) % producerBatchesKept
	}
	e.batches[e.newest] = producerBatch{firstSequence: h.BaseSequence, lastSequence: lastSequenceOf(h), baseOffset: h.BaseOffset, lastOffset: h.LastOffset()}
	e.count = min(e.count+1, producerBatchesKept)
}

func (p *producerState) evictOldest() {
	var oldestID int64
	oldest := uint64(math.MaxUint64)
	for id, e := range p.byID {
		if e.lastUsed < oldest {
			oldestID, oldest = id, e.lastUsed
		}
	}
	delete(p.byID, oldestID)
}

// expire forgets the producers whose last append is more than
// expiryMillis (producer.id.expiration.ms) before nowMillis.
func (p *producerState) expire(nowMillis, expiryMillis int64) {
	for id, e := range p.byID {
		if nowMillis-e.lastWriteMillis > expiryMillis {
			delete(p.byID, id)
		}
	}
}

// loadProducers sets the idempotent producers' state for the log as it is
// now (at open, after recovery, and after a truncation), in this order:
//  1. delete the snapshots above the log end offset, durably: they describe
//     batches the log no longer holds;
//  2. load the newest snapshot that decodes (a corrupt one is reported
//     loudly, counted in CorruptSnapshots and deleted, an unreadable one
//     reported; either way the next older one is tried);
//  3. replay the batch headers from its offset to the log end offset, or,
//     without a usable snapshot, walk the segments written within
//     producer.id.expiration.ms (LogConfig.ProducerIDExpirationMillis);
//  4. drop the producers idle for longer than producer.id.expiration.ms.
//
// It sets l.producersReplayed to the number of batch headers read. Writer
// only.
func (l *Log) loadProducers() error {
	l.checkWriter("Log.loadProducers")
	started := time.Now()
	now := l.cfg.Now()
	expiry := l.cfg.ProducerIDExpirationMillis
	end := l.LogEndOffset()
	// 1.
	if err := l.removeProducerSnapshotsAbove(end); err != nil {
		return err
	}
	// 2.
	var state *producerState
	from := Offset(-1)
	for i := len(l.snapshots) - 1; i >= 0 && state == nil; i-- {
		offset := l.snapshots[i]
		path := filepath.Join(l.dir, snapshotFileName(offset))
		data, err := readProducerSnapshot(path)
		if err == nil {
			var covered Offset
			state, covered, err = decodeProducerSnapshot(data)
			if err == nil && covered != offset {
				state, err = nil, fmt.Errorf("%w: covers offset %d but is named for %d", errSnapshot, covered, offset)
			}
		}
		switch {
		case err == nil:
			from = offset
		case errors.Is(err, errSnapshot):
			l.corruptSnapshots.Add(1)
			l.logger.Error("PRODUCER SNAPSHOT CORRUPTION: ignoring and deleting it; the state is rebuilt from the log", "snapshot", path, "error", err)
			l.removeProducerSnapshot(offset)
			l.snapshots = slices.Delete(l.snapshots, i, i+1)
		default:
			// Unreadable rather than corrupt (an I/O error): not used,
			// but kept in the list, so that a truncation below it still
			// deletes it, and on disk for an operator to look at.
			l.logger.Warn("could not read a producer snapshot; ignoring it", "snapshot", path, "error", err)
		}
	}
	// 3.
	replayed := int64(0)
	if state != nil {
		l.producers = state
		replayed = l.replayProducers(from, func(*segment.Segment) bool { return true })
	} else {
		l.producers = newProducerState()
		replayed = l.replayProducers(0, func(s *segment.Segment) bool {
			info, err := os.Stat(s.Path())
			return err != nil || now-info.ModTime().UnixMilli() <= expiry
		})
	}
	l.producersReplayed = replayed
	// 4.
	l.producers.expire(now, expiry)
	l.logger.Debug("producer state loaded", "snapshot", from, "batches_replayed", replayed, "producers", len(l.producers.byID), "elapsed", time.Since(started))
	return nil
}

// readProducerSnapshot reads a snapshot file, refusing one larger than any
// valid snapshot before allocating for it.
func readProducerSnapshot(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if info.Size() > snapshotBytesMax {
		return nil, fmt.Errorf("%w: %d bytes, more than %d producers can fill", errSnapshot, info.Size(), producersPerLogMax)
	}
	data := make([]byte, info.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, err
	}
	return data, nil
}

// replayProducers records the idempotent batches from offset from to the
// log end offset, in the segments walk accepts, and returns how many batch
// headers it read. A replayed batch counts as written at its segment
// file's modification time: the latest it can have been appended. Writer
// only.
func (l *Log) replayProducers(from Offset, walk func(*segment.Segment) bool) int64 {
	l.checkWriter("Log.replayProducers")
	list := l.segments.Load()
	replayed := int64(0)
	for _, s := range list.segments[list.find(from):] {
		if s.NextOffset() <= from || s.Size() == 0 || !walk(s) {
			continue
		}
		written := l.cfg.Now()
		if info, err := os.Stat(s.Path()); err == nil {
			written = info.ModTime().UnixMilli()
		}
		position := int64(0)
		if from > s.BaseOffset() {
			extent, _, err := s.Plan(from, s.NextOffset(), 0, true)
			if err != nil {
				l.logger.Warn("could not find where to replay producer state from; walking the whole segment", "segment", s.Path(), "offset", from, "error", err)
			} else {
				position = extent.Position
			}
		}
		for position < s.Size() {
			h, _, err := s.HeaderAt(position)
			if err != nil {
				break
			}
			replayed++
			if h.BaseOffset >= from {
				l.producers.record(&h, written)
			}
			position += h.TotalBytes()
		}
	}
	return replayed
}
