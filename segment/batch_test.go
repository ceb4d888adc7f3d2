package segment

import (
	"encoding/binary"
	"errors"
	"testing"

	"spool/internal/batchtest"
)

func TestValidateBatchAcceptsProducerBatch(t *testing.T) {
	b := batchtest.Values(5, 100, 1_700_000_000_000)
	h, err := ValidateBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.RecordCount != 5 || h.LastOffsetDelta != 4 || h.TotalBytes() != int64(len(b)) || h.Codec() != CodecNone {
		t.Fatalf("header %+v", h)
	}
	if h.BaseTimestamp != 1_700_000_000_000 || h.MaxTimestamp != 1_700_000_000_004 {
		t.Fatalf("timestamps %d %d", h.BaseTimestamp, h.MaxTimestamp)
	}
}

func TestValidateBatchRejects(t *testing.T) {
	good := func() []byte { return batchtest.Values(3, 10, 1000) }
	cases := []struct {
		name string
		edit func([]byte) []byte
		want error
	}{
		{"short", func(b []byte) []byte { return b[:40] }, ErrBatchShort},
		{"length larger than bytes", func(b []byte) []byte { return b[:len(b)-1] }, ErrBatchLength},
		{"trailing bytes", func(b []byte) []byte { return append(b, 0) }, ErrBatchLength},
		{"negative length", func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 0xfffffff0); return b }, ErrBatchLength},
		{"magic 1", func(b []byte) []byte { b[16] = 1; return b }, ErrBatchMagic},
		{"flipped record bit", func(b []byte) []byte { b[len(b)-3] ^= 0x10; return b }, ErrBatchCRC},
		{"flipped attribute bit", func(b []byte) []byte { b[22] ^= 0x01; return b }, ErrBatchCRC},
		{"count disagrees", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[57:], 4)
			batchtest.Reseal(b)
			return b
		}, ErrBatchRecordCount},
		{"zero records", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[57:], 0)
			binary.BigEndian.PutUint32(b[23:], 0xffffffff)
			batchtest.Reseal(b)
			return b
		}, ErrBatchRecordCount},
		{"count beyond bytes", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[57:], 1_000_000)
			binary.BigEndian.PutUint32(b[23:], 999_999)
			batchtest.Reseal(b)
			return b
		}, ErrBatchRecordCount},
		{"timestamp below -1", func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[27:], uint64(0xfffffffffffffff0))
			batchtest.Reseal(b)
			return b
		}, ErrBatchTimestamp},
		{"max below base", func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[35:], 10)
			batchtest.Reseal(b)
			return b
		}, ErrBatchTimestamp},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ValidateBatch(c.edit(good()))
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestStampOutsideCRC(t *testing.T) {
	b := batchtest.Values(2, 10, 1000)
	stampBatch(b, 1<<40, 7)
	h, err := ValidateBatch(b)
	if err != nil {
		t.Fatalf("stamping broke the batch: %v", err)
	}
	if h.BaseOffset != 1<<40 || h.LeaderEpoch != 7 || h.LastOffset() != 1<<40+1 {
		t.Fatalf("header %+v", h)
	}
}

func TestWalkRecords(t *testing.T) {
	b := batchtest.Build([]batchtest.Record{
		{Value: []byte("a"), Timestamp: 100},
		{Key: []byte("k"), Value: []byte("bb"), Timestamp: 300},
		{Value: nil, Timestamp: 200},
	})
	stampBatch(b, 50, 0)
	var got []RecordPosition
	if err := WalkRecords(b, func(r RecordPosition) bool { got = append(got, r); return true }); err != nil {
		t.Fatal(err)
	}
	want := []RecordPosition{{Offset: 50, Timestamp: 100}, {Offset: 51, Timestamp: 300, Key: []byte("k")}, {Offset: 52, Timestamp: 200}}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].Offset != want[i].Offset || got[i].Timestamp != want[i].Timestamp || string(got[i].Key) != string(want[i].Key) {
			t.Fatalf("record %d: got %v want %v", i, got[i], want[i])
		}
	}
	compressed := batchtest.BuildWith([]batchtest.Record{{Value: []byte("x"), Timestamp: 1}}, batchtest.Options{ProducerID: -1, Attributes: int16(CodecZstd)})
	if err := WalkRecords(compressed, func(RecordPosition) bool { return true }); !errors.Is(err, ErrCompressed) {
		t.Fatalf("compressed: %v", err)
	}
}

// FuzzBatchHeader: ValidateBatch and WalkRecords never panic on any input;
// a batch ValidateBatch accepts has a length equal to the input and a record
// count agreeing with lastOffsetDelta, and still validates after stamping.
func FuzzBatchHeader(f *testing.F) {
	f.Add(batchtest.Values(3, 10, 1000))
	f.Add(batchtest.Values(1, 0, -1))
	f.Add([]byte{})
	f.Add(make([]byte, BatchHeaderBytes))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ValidateBatch(b)
		WalkRecords(b, func(RecordPosition) bool { return true })
		ParseHeader(b)
		if err != nil {
			return
		}
		if h.TotalBytes() != int64(len(b)) || h.LastOffsetDelta != h.RecordCount-1 || h.Magic != 2 {
			t.Fatalf("accepted an inconsistent batch: %+v len %d", h, len(b))
		}
		stampBatch(b, 12345, 3)
		if _, err := ValidateBatch(b); err != nil {
			t.Fatalf("stamping broke an accepted batch: %v", err)
		}
	})
}
