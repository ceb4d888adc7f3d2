package engine

import (
	"errors"
	"fmt"
	"math"
	"os"
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
// The state is rebuilt at open by walking the batch headers of the
// segments that may hold live producers: those written to within
// producerExpiryMillis (Kafka's producer.id.expiration.ms default), judged
// by the file's modification time, not by record timestamps, which the
// producer chooses. A producer idle for longer is forgotten, as Kafka
// forgets it, and its next batch is accepted at any sequence (an unknown
// producer is never refused: KIP-360's leniency).

// Limits of the producer state.
const (
	// producerBatchesKept is Kafka's window of deduplicated batches.
	producerBatchesKept = 5
	// producersPerLogMax bounds the producers remembered per partition;
	// beyond it the least recently used is forgotten.
	producersPerLogMax = 100_000
	// producerExpiryMillis is how long an idle producer is remembered
	// across restarts (Kafka's producer.id.expiration.ms default, 1 day).
	producerExpiryMillis = 24 * 3600 * 1000
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
	count    int // batches held, up to producerBatchesKept
	newest   int // index of the newest batch in batches
	lastUsed uint64
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

// record remembers an appended (or replayed) idempotent batch.
func (p *producerState) record(h *segment.Header) {
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

// rebuildProducers walks the batch headers of the segments that may hold
// live producers and rebuilds the state. Writer only.
func (l *Log) rebuildProducers() {
	l.producers = newProducerState()
	now := time.Now()
	for _, s := range l.segments.Load().segments {
		if info, err := os.Stat(s.Path()); err == nil && now.Sub(info.ModTime()) > producerExpiryMillis*time.Millisecond {
			continue
		}
		for position := int64(0); position < s.Size(); {
			h, _, err := s.HeaderAt(position)
			if err != nil {
				break
			}
			l.producers.record(&h)
			position += h.TotalBytes()
		}
	}
}
