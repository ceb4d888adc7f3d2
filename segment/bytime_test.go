package segment

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"spool/internal/batchtest"
)

// Offset-by-time inside batches (FindTimestamp, MaxTimestamp): the exact
// record also inside a compressed batch, as Kafka answers, and the
// fallback when a batch's records cannot be read.

var (
	codecs           = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}
	compressedCodecs = codecs[1:]
)

// withRecords returns a copy of batch b's header followed by records, with
// the codec bits set to codec, count records (lastOffsetDelta count-1), the
// length fitted and the CRC recomputed.
func withRecords(b, records []byte, codec Codec, count int32) []byte {
	out := append(append([]byte(nil), b[:BatchHeaderBytes]...), records...)
	attributes := binary.BigEndian.Uint16(out[batchOffsetAttributes:])&^attributeCodecMask | uint16(codec)
	binary.BigEndian.PutUint32(out[batchOffsetLength:], uint32(len(out)-batchLengthPrefixBytes))
	binary.BigEndian.PutUint16(out[batchOffsetAttributes:], attributes)
	binary.BigEndian.PutUint32(out[batchOffsetLastOffsetDelta:], uint32(count-1))
	binary.BigEndian.PutUint32(out[batchOffsetRecordCount:], uint32(count))
	batchtest.Reseal(out)
	return out
}

// compressBatch returns the uncompressed batch b with its records
// compressed with codec.
func compressBatch(t testing.TB, b []byte, codec Codec) []byte {
	t.Helper()
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	body, err := Compress(nil, b[BatchHeaderBytes:], codec)
	if err != nil {
		t.Fatal(err)
	}
	return withRecords(b, body, codec, h.RecordCount)
}

// timedBatch builds a batch of records with these timestamps, in offset
// order, their values long enough for every codec to shrink them (and for a
// few records to need more than zstd's smallest window, 1 KiB).
func timedBatch(timestamps ...int64) []byte {
	records := make([]batchtest.Record, len(timestamps))
	for i, ts := range timestamps {
		records[i] = batchtest.Record{Key: fmt.Appendf(nil, "k%d", i), Value: bytes.Repeat([]byte{'v', byte(i)}, 200), Timestamp: ts}
	}
	return batchtest.Build(records)
}

// appendBatch appends b at the segment's next offset and returns its
// header as stored.
func appendBatch(t testing.TB, s *Segment, b []byte) Header {
	t.Helper()
	h, err := ValidateBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(b, &h, s.NextOffset(), 1, 1); err != nil {
		t.Fatal(err)
	}
	return h
}

// timedRecord is a record's offset and timestamp, for working out what
// Kafka answers.
type timedRecord struct {
	offset Offset
	ts     int64
}

// kafkaFirstAtOrAfter is what Kafka answers a by-time lookup: the first
// record, in offset order, whose timestamp is ≥ target.
func kafkaFirstAtOrAfter(records []timedRecord, target int64) (timedRecord, bool) {
	return kafkaFirstFrom(records, target, 0)
}

// timedSegment appends batches of given record timestamps to a new segment
// and remembers every record's offset and timestamp, in offset order.
type timedSegment struct {
	t       *testing.T
	s       *Segment
	records []timedRecord
}

func newTimedSegment(t *testing.T, mode WriteMode) *timedSegment {
	s, err := Create(t.TempDir(), 0, testConfig(mode))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &timedSegment{t: t, s: s}
}

// add appends one batch, compressed with codec, and returns its base offset.
func (ts *timedSegment) add(codec Codec, timestamps ...int64) Offset {
	b := timedBatch(timestamps...)
	if codec != CodecNone {
		b = compressBatch(ts.t, b, codec)
	}
	h := appendBatch(ts.t, ts.s, b)
	for i, timestamp := range timestamps {
		ts.records = append(ts.records, timedRecord{h.BaseOffset + Offset(i), timestamp})
	}
	return h.BaseOffset
}

func TestFindTimestampInsideCompressedBatches(t *testing.T) {
	for _, codec := range codecs {
		t.Run(codec.String(), func(t *testing.T) {
			forEachMode(t, func(t *testing.T, mode WriteMode) {
				seg := newTimedSegment(t, mode)
				s, add := seg.s, seg.add
				// Uncompressed batches first, so the time index has entries
				// to start from; then batches of codec, timestamps out of
				// order inside them; the max, twice, inside a middle one.
				for i := range 10 {
					add(CodecNone, 1000+int64(i)*10, 1001+int64(i)*10)
				}
				b := add(codec, 2050, 2010, 2100, 2005, 2060, 2200)
				c := add(codec, 3000, 3001, 9000, 2999, 9000, 3003)
				add(codec, 4000, 4001)
				for _, want := range []struct {
					target int64
					offset Offset
				}{
					{1200, b},     // before the batch's first record: its first
					{2001, b},     // inside, at its first record
					{2051, b + 2}, // 2100 comes before 2060 in offset order
					{2101, b + 5}, // its last record
					{2201, c},     // after its last record: the next batch
					{3002, c + 2}, // the max, before a smaller 2999
					{9000, c + 2}, // the first of two records with the max
					{4000, c + 2}, // an earlier batch's record reaches it first
				} {
					got, ts, ok, err := s.FindTimestamp(want.target, 0)
					if err != nil || !ok || got != want.offset {
						t.Fatalf("FindTimestamp(%d) = %d %v %v, want %d", want.target, got, ok, err, want.offset)
					}
					if r := seg.records[got]; ts != r.ts {
						t.Fatalf("FindTimestamp(%d) = %d at %d, the record's timestamp is %d", want.target, got, ts, r.ts)
					}
				}
				// Every timestamp and its neighbours, against Kafka's rule.
				targets := []int64{0, 9001}
				for _, r := range seg.records {
					targets = append(targets, r.ts-1, r.ts, r.ts+1)
				}
				for _, target := range targets {
					want, wantOK := kafkaFirstAtOrAfter(seg.records, target)
					got, ts, ok, err := s.FindTimestamp(target, 0)
					if err != nil || ok != wantOK || (ok && (got != want.offset || ts != want.ts)) {
						t.Fatalf("FindTimestamp(%d) = %d at %d, %v %v; want %d at %d, %v", target, got, ts, ok, err, want.offset, want.ts, wantOK)
					}
				}
				if ts, offset := s.MaxTimestamp(); ts != 9000 || offset != c+2 {
					t.Fatalf("MaxTimestamp = %d at %d, want 9000 at %d", ts, offset, c+2)
				}
			})
		})
	}
}

// kafkaFirstFrom is what Kafka answers a by-time lookup whose starting
// offset (the log start offset) is from: the first record, in offset order,
// whose offset is ≥ from and whose timestamp is ≥ target.
func kafkaFirstFrom(records []timedRecord, target int64, from Offset) (timedRecord, bool) {
	for _, r := range records {
		if r.offset >= from && r.ts >= target {
			return r, true
		}
	}
	return timedRecord{}, false
}

// TestFindTimestampFromOffset: a starting offset (the log start offset)
// inside a batch, uncompressed or compressed, skips the records below it
// while the record is chosen, as Kafka does, rather than clamping the
// answer up to it: the record at the start may be below the target while a
// later one reaches it, and when only records below the start reach it the
// answer comes from a later batch, or there is none.
func TestFindTimestampFromOffset(t *testing.T) {
	for _, codec := range codecs {
		t.Run(codec.String(), func(t *testing.T) {
			forEachMode(t, func(t *testing.T, mode WriteMode) {
				seg := newTimedSegment(t, mode)
				s, add := seg.s, seg.add
				// Uncompressed batches first, so the time index has
				// entries to start from; then batches of codec, their
				// timestamps out of order.
				for i := range 10 {
					add(CodecNone, 100+int64(i)*10, 101+int64(i)*10)
				}
				a := add(codec, 1000, 1300, 1100, 1200, 1050)
				b := add(codec, 1400, 1600)
				c := add(codec, 1700, 1050)
				for _, want := range []struct {
					target int64
					from   Offset
					offset Offset
					ts     int64
					ok     bool
				}{
					// The record at the start is below the target, a
					// later one in the batch reaches it (a clamp answers
					// a+2, at 1100).
					{1150, a + 2, a + 3, 1200, true},
					// The start's own record reaches it.
					{1100, a + 2, a + 2, 1100, true},
					// Only a record below the start (a+1, 1300) reaches
					// the target in its batch: the next batch answers.
					{1250, a + 2, b, 1400, true},
					{1300, a + 2, b, 1400, true},
					// The same inside the next batch.
					{1400, b + 1, b + 1, 1600, true},
					{1650, c + 1, 0, 0, false},
					// A start below the batch: the batch's own answer.
					{1250, a, a + 1, 1300, true},
				} {
					got, ts, ok, err := s.FindTimestamp(want.target, want.from)
					if err != nil || ok != want.ok || (ok && (got != want.offset || ts != want.ts)) {
						t.Fatalf("FindTimestamp(%d, from %d) = %d at %d, %v %v; want %d at %d, %v", want.target, want.from, got, ts, ok, err, want.offset, want.ts, want.ok)
					}
				}
				// Every start inside the batches of codec, and their
				// every timestamp and the one after, against Kafka's
				// rule; in one write mode only (both map the same
				// bytes), as lz4 is slow under -race.
				if mode != WritePwrite {
					return
				}
				targets := []int64{0}
				for _, r := range seg.records[a:] {
					targets = append(targets, r.ts, r.ts+1)
				}
				for from := a; from < s.NextOffset(); from++ {
					for _, target := range targets {
						want, wantOK := kafkaFirstFrom(seg.records, target, from)
						got, ts, ok, err := s.FindTimestamp(target, from)
						if err != nil || ok != wantOK || (ok && (got != want.offset || ts != want.ts)) {
							t.Fatalf("FindTimestamp(%d, from %d) = %d at %d, %v %v; want %d at %d, %v", target, from, got, ts, ok, err, want.offset, want.ts, wantOK)
						}
					}
				}
			})
		})
	}
}

// TestTimeLookupLogAppendTime: every record of a LogAppendTime batch
// carries the batch's time, so both lookups answer its first offset, and a
// compressed one is not decompressed for it (its records here do not
// decompress at all).
func TestTimeLookupLogAppendTime(t *testing.T) {
	for _, codec := range codecs {
		s, err := Create(t.TempDir(), 0, testConfig(WritePwrite))
		if err != nil {
			t.Fatal(err)
		}
		appendBatch(t, s, timedBatch(100, 200))
		b := timedBatch(1000, 3000, 2000)
		if codec != CodecNone {
			b = withRecords(b, bytes.Repeat([]byte{0xa5}, 300), codec, 3)
		}
		h, err := ValidateBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		StampLogAppendTime(b, &h, 5000)
		if err := s.Append(b, &h, s.NextOffset(), 1, 1); err != nil {
			t.Fatal(err)
		}
		appendBatch(t, s, timedBatch(4000))
		for _, target := range []int64{300, 2500, 5000} {
			if got, ts, ok, err := s.FindTimestamp(target, 0); err != nil || !ok || got != 2 || ts != 5000 {
				t.Fatalf("%s: FindTimestamp(%d) = %d at %d, %v %v; want 2 at 5000", codec, target, got, ts, ok, err)
			}
			// A start inside the batch: its record there carries
			// the batch's time too.
			for _, from := range []Offset{3, 4} {
				if got, ts, ok, err := s.FindTimestamp(target, from); err != nil || !ok || got != from || ts != 5000 {
					t.Fatalf("%s: FindTimestamp(%d, from %d) = %d at %d, %v %v; want %d at 5000", codec, target, from, got, ts, ok, err, from)
				}
			}
		}
		// A start past the batch: its time no longer answers, the
		// later record (4000) only when it reaches the target.
		if got, ts, ok, err := s.FindTimestamp(3000, 5); err != nil || !ok || got != 5 || ts != 4000 {
			t.Fatalf("%s: FindTimestamp(3000, from 5) = %d at %d, %v %v; want 5 at 4000", codec, got, ts, ok, err)
		}
		if got, ts, ok, err := s.FindTimestamp(4500, 5); err != nil || ok {
			t.Fatalf("%s: FindTimestamp(4500, from 5) = %d at %d, %v %v; want none", codec, got, ts, ok, err)
		}
		if ts, offset := s.MaxTimestamp(); ts != 5000 || offset != 2 {
			t.Fatalf("%s: MaxTimestamp = %d at %d, want 5000 at 2", codec, ts, offset)
		}
		s.Close()
	}
}

// TestTimeLookupFallsBack: a batch whose records do not decompress (garbage
// or a cut stream, the CRC recomputed so the batch is stored) answers its
// first offset by time and its last for the max, from its header alone,
// without an error.
func TestTimeLookupFallsBack(t *testing.T) {
	random := rand.New(rand.NewPCG(1, 2))
	for _, codec := range compressedCodecs {
		plain := timedBatch(1000, 1300, 1100, 1200)
		compressed := compressBatch(t, plain, codec)
		body := compressed[BatchHeaderBytes:]
		garbage := make([]byte, len(body))
		for i := range garbage {
			garbage[i] = byte(random.Uint32())
		}
		for name, records := range map[string][]byte{
			"garbage": garbage,
			"cut":     body[:len(body)/2],
			"empty":   nil,
		} {
			s, err := Create(t.TempDir(), 0, testConfig(WritePwrite))
			if err != nil {
				t.Fatal(err)
			}
			appendBatch(t, s, timedBatch(500))
			h := appendBatch(t, s, withRecords(plain, records, codec, 4))
			if got, ts, ok, err := s.FindTimestamp(1250, 0); err != nil || !ok || got != h.BaseOffset || ts != 1300 {
				t.Fatalf("%s %s: FindTimestamp = %d at %d, %v %v; want %d at 1300", codec, name, got, ts, ok, err, h.BaseOffset)
			}
			// A start inside the batch: the fallback is the start.
			if got, ts, ok, err := s.FindTimestamp(1250, h.BaseOffset+2); err != nil || !ok || got != h.BaseOffset+2 || ts != 1300 {
				t.Fatalf("%s %s: FindTimestamp from %d = %d at %d, %v %v; want %d at 1300", codec, name, h.BaseOffset+2, got, ts, ok, err, h.BaseOffset+2)
			}
			if ts, offset := s.MaxTimestamp(); ts != 1300 || offset != h.LastOffset() {
				t.Fatalf("%s %s: MaxTimestamp = %d at %d, want 1300 at %d", codec, name, ts, offset, h.LastOffset())
			}
			s.Close()
		}
	}
}

// TestTimeLookupDecompressLimit: records that decompress past the limit are
// not walked (the fallback answers); at the limit they are.
func TestTimeLookupDecompressLimit(t *testing.T) {
	plain := timedBatch(1000, 1300, 1100, 1200)
	stampBatch(plain, 40, 0)
	recordsBytes := int64(len(plain) - BatchHeaderBytes)
	for _, codec := range compressedCodecs {
		b := compressBatch(t, plain, codec)
		h, err := ValidateStoredBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		if got, ts, _ := firstAtOrAfter(&h, b, 1150, 0, recordsBytes); got != 41 || ts != 1300 {
			t.Fatalf("%s: at the limit: %d at %d, want 41 at 1300", codec, got, ts)
		}
		if got := offsetOfTimestamp(&h, b, 1300, recordsBytes); got != 41 {
			t.Fatalf("%s: max at the limit: %d, want 41", codec, got)
		}
		if got, ts, _ := firstAtOrAfter(&h, b, 1150, 0, recordsBytes-1); got != 40 || ts != 1300 {
			t.Fatalf("%s: past the limit: %d at %d, want 40 at 1300", codec, got, ts)
		}
		if got := offsetOfTimestamp(&h, b, 1300, recordsBytes-1); got != 43 {
			t.Fatalf("%s: max past the limit: %d, want 43", codec, got)
		}
	}
}

// TestTimeLookupRecordOutsideBatch: a record whose offset delta points
// outside its batch ends the walk; the lookup falls back rather than answer
// another batch's offset.
func TestTimeLookupRecordOutsideBatch(t *testing.T) {
	plain := timedBatch(1000, 1300)
	stampBatch(plain, 40, 0)
	for _, codec := range codecs {
		b := compressBatch(t, plain, codec)
		// Two records, but offsets for one: the second (41) lies past
		// the batch.
		binary.BigEndian.PutUint32(b[batchOffsetLastOffsetDelta:], 0)
		batchtest.Reseal(b)
		h, err := ParseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		if got, ts, _ := firstAtOrAfter(&h, b, 1200, 0, timeLookupRecordsBytesMax); got != 40 || ts != 1300 {
			t.Fatalf("%s: %d at %d, want the fallback 40 at 1300", codec, got, ts)
		}
		if got := offsetOfTimestamp(&h, b, 1300, timeLookupRecordsBytesMax); got != 40 {
			t.Fatalf("%s: max at %d, want the fallback 40", codec, got)
		}
	}
}

// TestTimeLookupConcurrent: lookups from many goroutines share the pooled
// buffers (run it with -race).
func TestTimeLookupConcurrent(t *testing.T) {
	s, err := Create(t.TempDir(), 0, testConfig(WritePwrite))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var records []timedRecord
	maxRecord := timedRecord{ts: -1}
	for i, codec := range compressedCodecs {
		base := int64(1000 * (i + 1))
		timestamps := []int64{base + 50, base + 10, base + 90, base + 30}
		h := appendBatch(t, s, compressBatch(t, timedBatch(timestamps...), codec))
		for j, ts := range timestamps {
			records = append(records, timedRecord{h.BaseOffset + Offset(j), ts})
			if ts > maxRecord.ts {
				maxRecord = records[len(records)-1]
			}
		}
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 200 {
				target := records[(g+i)%len(records)].ts
				want, _ := kafkaFirstAtOrAfter(records, target)
				if got, _, ok, err := s.FindTimestamp(target, 0); err != nil || !ok || got != want.offset {
					errs <- fmt.Errorf("FindTimestamp(%d) = %d %v %v, want %d", target, got, ok, err, want.offset)
					return
				}
				if ts, offset := s.MaxTimestamp(); ts != maxRecord.ts || offset != maxRecord.offset {
					errs <- fmt.Errorf("MaxTimestamp = %d at %d", ts, offset)
					return
				}
			}
			errs <- nil
		}()
	}
	// Every goroutine ends before the segment closes.
	var first error
	for range 8 {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		t.Fatal(first)
	}
}

// FuzzTimeLookupInBatch feeds arbitrary (compressed) record bytes to the
// lookups inside a batch, from an offset inside it. Invariant: they never
// panic, and answer an offset inside the batch, at or after from: a
// record's, with a timestamp that reaches the target, or the fallback.
func FuzzTimeLookupInBatch(f *testing.F) {
	plain := timedBatch(1000, 1300, 1100)
	for _, codec := range codecs {
		body, _ := Compress(nil, plain[BatchHeaderBytes:], codec)
		f.Add(body, uint8(codec), int32(3), int64(1150), uint16(0))
		f.Add(body, uint8(codec), int32(3), int64(1150), uint16(2))
	}
	f.Fuzz(func(t *testing.T, records []byte, codec uint8, count int32, target int64, skip uint16) {
		if len(records) > 1<<16 || count < 1 || count > 1<<12 {
			return
		}
		b := withRecords(plain, records, Codec(codec&attributeCodecMask), count)
		stampBatch(b, 100, 0)
		h, err := ParseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		from := h.BaseOffset + Offset(int32(skip)%count)
		const maxBytes = 1 << 20
		got, ts, ok := firstAtOrAfter(&h, b, target, from, maxBytes)
		if ok && (!h.holds(got) || got < from || (ts < target && !(got == from && ts == h.MaxTimestamp))) {
			t.Fatalf("firstAtOrAfter(%d, from %d) = %d at %d in batch %d-%d", target, from, got, ts, h.BaseOffset, h.LastOffset())
		}
		if got := offsetOfTimestamp(&h, b, h.MaxTimestamp, maxBytes); !h.holds(got) {
			t.Fatalf("offsetOfTimestamp = %d in batch %d-%d", got, h.BaseOffset, h.LastOffset())
		}
	})
}
