package engine

import (
	"errors"
	"math"
	"testing"

	"spool/internal/batchtest"
)

func idempotentBatch(producerID int64, epoch int16, sequence int32, records int) []byte {
	recs := make([]batchtest.Record, records)
	for i := range recs {
		recs[i] = batchtest.Record{Value: []byte{byte(sequence), byte(i)}, Timestamp: 1_000_000}
	}
	return batchtest.BuildWith(recs, batchtest.Options{ProducerID: producerID, ProducerEpoch: epoch, BaseSequence: sequence})
}

func TestIdempotentProducer(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLog(dir, smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	var infos []AppendInfo
	for i := int32(0); i < 8; i++ {
		info, err := l.Append(idempotentBatch(7, 0, i*2, 2), 0)
		if err != nil || info.Duplicate {
			t.Fatalf("batch %d: %+v %v", i, info, err)
		}
		infos = append(infos, info)
	}
	end := l.LogEndOffset()
	// A retry of each of the last five is answered with its offsets.
	for i := 3; i < 8; i++ {
		info, err := l.Append(idempotentBatch(7, 0, int32(i)*2, 2), 0)
		if err != nil || !info.Duplicate || info.BaseOffset != infos[i].BaseOffset || info.LastOffset != infos[i].LastOffset {
			t.Fatalf("retry of batch %d: %+v %v", i, info, err)
		}
	}
	if l.LogEndOffset() != end {
		t.Fatalf("a duplicate was appended: end %d → %d", end, l.LogEndOffset())
	}
	// Older than the window, a gap, and a rewind are out of order.
	for _, sequence := range []int32{0, 18, 12} {
		if _, err := l.Append(idempotentBatch(7, 0, sequence, 1), 0); !errors.Is(err, ErrOutOfOrderSequence) {
			t.Fatalf("sequence %d: %v", sequence, err)
		}
	}
	// A new epoch starts at 0; the old epoch is fenced.
	if _, err := l.Append(idempotentBatch(7, 1, 5, 1), 0); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("new epoch not at 0: %v", err)
	}
	if _, err := l.Append(idempotentBatch(7, 1, 0, 1), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(idempotentBatch(7, 0, 16, 1), 0); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("old epoch: %v", err)
	}
	// An unknown producer is accepted at any sequence; sequences wrap.
	if _, err := l.Append(idempotentBatch(9, 0, math.MaxInt32-1, 2), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(idempotentBatch(9, 0, 0, 1), 0); err != nil {
		t.Fatalf("after the wrap: %v", err)
	}
	last := idempotentBatch(9, 0, 1, 3)
	lastInfo, err := l.Append(last, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	// Unclean stop: the state is rebuilt from the log, and a retry of the
	// last batch is still recognised.
	for _, s := range l.segments.Load().segments {
		s.Close()
	}
	l, err = OpenLog(dir, smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	info, err := l.Append(idempotentBatch(9, 0, 1, 3), 0)
	if err != nil || !info.Duplicate || info.BaseOffset != lastInfo.BaseOffset {
		t.Fatalf("retry after an unclean restart: %+v %v", info, err)
	}
	if _, err := l.Append(idempotentBatch(9, 0, 4, 1), 0); err != nil {
		t.Fatalf("continuing after restart: %v", err)
	}
	// Clean restart too.
	l.Close()
	l, err = OpenLog(dir, smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if info, err := l.Append(idempotentBatch(9, 0, 4, 1), 0); err != nil || !info.Duplicate {
		t.Fatalf("retry after a clean restart: %+v %v", info, err)
	}
	// Truncation forgets what it cut: the producer may send again from there.
	cut := l.LogEndOffset() - 1
	if _, err := l.TruncateTo(cut); err != nil {
		t.Fatal(err)
	}
	if info, err := l.Append(idempotentBatch(9, 0, 4, 1), 0); err != nil || info.Duplicate || info.BaseOffset != cut {
		t.Fatalf("re-send after truncation: %+v %v", info, err)
	}
}
