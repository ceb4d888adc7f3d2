package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"spool/internal/batchtest"
	"spool/segment"
)

func smallConfig() LogConfig {
	return LogConfig{
		Segment:         segment.Config{SegmentBytes: 64 << 10, IndexBytes: 16 << 10, IndexIntervalBytes: 512},
		RetentionMillis: -1,
		RetentionBytes:  -1,
	}
}

// appendN appends n batches of records records each and returns their base
// offsets.
func appendN(t testing.TB, l *Log, n, records, valueBytes int, ts func(i int) int64) []Offset {
	t.Helper()
	var bases []Offset
	for i := 0; i < n; i++ {
		info, err := l.Append(batchtest.Values(records, valueBytes, ts(i)), 3)
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		bases = append(bases, info.BaseOffset)
	}
	return bases
}

func clock(i int) int64 { return 1_000_000 + int64(i)*100 }

// readAll reads from offset to the high watermark, checking that batches
// arrive in order, contiguous, and each with a valid CRC.
func readAll(t testing.TB, l *Log, from Offset) int {
	t.Helper()
	count := 0
	next := from
	for next < l.HighWatermark() {
		var r ReadResult
		if err := l.Read(next, 16<<10, true, ReadUncommitted, &r); err != nil {
			t.Fatalf("read %d: %v", next, err)
		}
		if len(r.Extents) == 0 {
			t.Fatalf("read %d: nothing below the high watermark %d", next, l.HighWatermark())
		}
		for _, e := range r.Extents {
			buf := make([]byte, e.Length)
			if _, err := e.File.ReadAt(buf, e.Position); err != nil {
				t.Fatal(err)
			}
			for len(buf) > 0 {
				h, err := segment.ParseHeader(buf)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := segment.ValidateBatch(buf[:h.TotalBytes()]); err != nil {
					t.Fatalf("batch at offset %d: %v", h.BaseOffset, err)
				}
				if h.BaseOffset > next || h.LastOffset() < next {
					t.Fatalf("batch [%d, %d] does not hold %d", h.BaseOffset, h.LastOffset(), next)
				}
				next = h.NextOffset()
				count++
				buf = buf[h.TotalBytes():]
			}
		}
		if r.NextOffset != next {
			t.Fatalf("result says next %d, batches say %d", r.NextOffset, next)
		}
		r.Release()
	}
	return count
}

func TestLogAppendRollReadReopen(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLog(dir, smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	bases := appendN(t, l, 300, 3, 200, clock)
	if bases[0] != 0 || bases[299] != 897 || l.LogEndOffset() != 900 || l.HighWatermark() != 900 {
		t.Fatalf("offsets: first %d last %d end %d", bases[0], bases[299], l.LogEndOffset())
	}
	if n := len(l.segments.Load().segments); n < 3 {
		t.Fatalf("expected rolls, have %d segments", n)
	}
	if got := readAll(t, l, 0); got != 300 {
		t.Fatalf("read %d batches", got)
	}
	if got := readAll(t, l, 451); got != 150 {
		t.Fatalf("read from the middle of a batch: %d batches", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFileName)); err != nil {
		t.Fatal("no clean-shutdown marker after Close")
	}

	l, err = OpenLog(dir, smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the marker survived the open: a crash now would skip recovery")
	}
	if l.LogEndOffset() != 900 {
		t.Fatalf("end after reopen %d", l.LogEndOffset())
	}
	appendN(t, l, 10, 1, 10, clock)
	if got := readAll(t, l, 0); got != 310 {
		t.Fatalf("after reopen: %d batches", got)
	}
	l.Close()
}

func TestLogReadBounds(t *testing.T) {
	l, err := OpenLog(t.TempDir(), smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendN(t, l, 5, 2, 10, clock)
	var r ReadResult
	if err := l.Read(10, 1<<20, true, ReadUncommitted, &r); err != nil || len(r.Extents) != 0 || r.HighWatermark != 10 {
		t.Fatalf("read at the high watermark: %v %+v", err, r)
	}
	if err := l.Read(11, 1<<20, true, ReadUncommitted, &r); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read past the high watermark: %v", err)
	}
	if err := l.Read(-1, 1<<20, true, ReadUncommitted, &r); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the start: %v", err)
	}
	if _, err := l.Append([]byte("not a batch"), 0); !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("garbage append: %v", err)
	}
	big := batchtest.Values(1, 2<<20, 1)
	if _, err := l.Append(big, 0); !errors.Is(err, ErrBatchTooLarge) {
		t.Fatalf("oversized append: %v", err)
	}
	if l.Err() != nil {
		t.Fatalf("bad input failed the log: %v", l.Err())
	}
}

func TestListOffset(t *testing.T) {
	l, err := OpenLog(t.TempDir(), smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Three records per batch, timestamps t, t+1, t+2 with t = 1_000_000 + 100 i.
	appendN(t, l, 400, 3, 100, clock)
	cases := []struct {
		ts     int64
		offset Offset
		found  bool
	}{
		{ListEarliest, 0, true},
		{ListLatest, 1200, true},
		{0, 0, true},
		{1_000_000, 0, true},
		{1_000_001, 1, true}, // inside the first batch
		{1_000_003, 3, true}, // between batches: the next batch's first
		{1_000_000 + 250*100 + 2, 752, true},
		{1_000_000 + 399*100 + 2, 1199, true},
		{1_000_000 + 399*100 + 3, -1, false},
	}
	for _, c := range cases {
		offset, _, found, err := l.ListOffset(c.ts, ReadUncommitted)
		if err != nil || found != c.found || (found && offset != c.offset) {
			t.Errorf("ListOffset(%d) = %d %v %v, want %d %v", c.ts, offset, found, err, c.offset, c.found)
		}
	}
	offset, ts, found, _ := l.ListOffset(ListMaxTimestamp, ReadUncommitted)
	if !found || offset != 1199 || ts != 1_000_000+399*100+2 {
		t.Errorf("max timestamp: %d at %d (%v)", ts, offset, found)
	}
}

// TestListOffsetFromLogStart: the log start offset inside a batch (after
// DeleteRecords) does not clamp a by-time answer up to it: as in Kafka the
// records below it are skipped while the record is chosen, so the answer is
// the first record at or after it whose timestamp reaches the target, in a
// later batch or segment when only records below it reach the target in
// its own, and none when no record at or after it does.
func TestListOffsetFromLogStart(t *testing.T) {
	l, err := OpenLog(t.TempDir(), smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Records of 10 KiB, so the second batch does not fit the first
	// segment (64 KiB).
	add := func(timestamps ...int64) {
		records := make([]batchtest.Record, len(timestamps))
		for i, ts := range timestamps {
			records[i] = batchtest.Record{Value: make([]byte, 10<<10), Timestamp: ts}
		}
		if _, err := l.Append(batchtest.Build(records), 3); err != nil {
			t.Fatal(err)
		}
	}
	add(1000, 1300, 1100, 1200, 1050) // offsets 0-4
	add(1400, 1600)                   // 5-6, the second segment
	add(1700, 1050)                   // 7-8
	if segments := l.segments.Load().segments; len(segments) < 2 || segments[1].BaseOffset() != 5 {
		t.Fatalf("the second batch does not start the second segment")
	}
	check := func(target int64, offset Offset, ts int64, found bool) {
		t.Helper()
		gotOffset, gotTs, gotFound, err := l.ListOffset(target, ReadUncommitted)
		if err != nil || gotFound != found || (found && (gotOffset != offset || gotTs != ts)) {
			t.Errorf("log start %d: ListOffset(%d) = %d at %d, %v %v; want %d at %d, %v", l.LogStartOffset(), target, gotOffset, gotTs, gotFound, err, offset, ts, found)
		}
	}
	if _, err := l.DeleteRecords(2); err != nil {
		t.Fatal(err)
	}
	check(1150, 3, 1200, true) // the record at the start (1100) is below it
	check(1100, 2, 1100, true)
	check(1000, 2, 1100, true)
	// Only 1 (1300) reaches 1250 in the first segment: the next segment
	// answers (Kafka searches only the first segment whose largest
	// timestamp reaches the target and would answer none here; see
	// docs/ARCHITECTURE.md).
	check(1250, 5, 1400, true)
	check(1701, -1, -1, false)
	if _, err := l.DeleteRecords(8); err != nil {
		t.Fatal(err)
	}
	check(1000, 8, 1050, true)
	check(1051, -1, -1, false) // only 7 (1700) reaches it, below the start
	if _, err := l.DeleteRecords(-1); err != nil {
		t.Fatal(err)
	}
	check(0, -1, -1, false)
}

func TestDeleteRecordsAndRetention(t *testing.T) {
	dir := t.TempDir()
	now := int64(10_000_000)
	cfg := smallConfig()
	cfg.Now = func() int64 { return now }
	l, err := OpenLog(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 300, 2, 200, clock)
	segmentsBefore := len(l.segments.Load().segments)
	start, err := l.DeleteRecords(333)
	if err != nil || start != 333 || l.LogStartOffset() != 333 {
		t.Fatalf("DeleteRecords: %d %v", start, err)
	}
	if after := len(l.segments.Load().segments); after >= segmentsBefore {
		t.Fatalf("no segment deleted: %d → %d", segmentsBefore, after)
	}
	var r ReadResult
	if err := l.Read(332, 1<<20, true, ReadUncommitted, &r); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the new start: %v", err)
	}
	if got := readAll(t, l, 333); got == 0 {
		t.Fatal("nothing readable after DeleteRecords")
	}
	if _, err := l.DeleteRecords(100); err != nil || l.LogStartOffset() != 333 {
		t.Fatalf("the start moved back: %d %v", l.LogStartOffset(), err)
	}
	if _, err := l.DeleteRecords(601); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("past the high watermark: %v", err)
	}
	l.Close()

	// The log start offset survives a restart.
	l, err = OpenLog(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 333 {
		t.Fatalf("log start after reopen %d", l.LogStartOffset())
	}
	// retention.bytes: keep at least 10 KiB, dropping whole oldest segments.
	l.cfg.RetentionBytes = 10 << 10
	deleted, err := l.ApplyRetention()
	if err != nil || deleted == 0 {
		for _, s := range l.segments.Load().segments {
			t.Logf("segment %d: %d bytes", s.BaseOffset(), s.Size())
		}
		t.Fatalf("retention.bytes deleted %d (%v)", deleted, err)
	}
	total := int64(0)
	for _, s := range l.segments.Load().segments {
		total += s.Size()
	}
	if total < 10<<10 {
		t.Fatalf("retention.bytes kept %d bytes, below the limit", total)
	}
	// retention.ms: everything but the active segment is older than a day.
	l.cfg.RetentionBytes = -1
	l.cfg.RetentionMillis = 1000
	now = clock(300) + 1_000_000
	if _, err := l.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	if n := len(l.segments.Load().segments); n != 1 {
		t.Fatalf("retention.ms left %d segments", n)
	}
	if l.LogStartOffset() != l.segments.Load().segments[0].BaseOffset() {
		t.Fatalf("log start %d not at the first kept segment", l.LogStartOffset())
	}
	l.Close()
}

func TestTruncateAndEpochs(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLog(dir, smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	for epoch := int32(1); epoch <= 3; epoch++ {
		for i := 0; i < 100; i++ {
			if _, err := l.Append(batchtest.Values(2, 200, clock(i)), epoch); err != nil {
				t.Fatal(err)
			}
		}
	}
	history := l.EpochHistory()
	if len(history) != 3 || history[1] != (EpochEntry{2, 200}) || history[2] != (EpochEntry{3, 400}) {
		t.Fatalf("history %v", history)
	}
	if epoch, end := l.EndOffsetForEpoch(2); epoch != 2 || end != 400 {
		t.Fatalf("end of epoch 2: %d %d", epoch, end)
	}
	if epoch, end := l.EndOffsetForEpoch(3); epoch != 3 || end != 600 {
		t.Fatalf("end of epoch 3: %d %d", epoch, end)
	}
	// Cut inside a sealed segment, in epoch 2's history.
	end, err := l.TruncateTo(301)
	if err != nil || end != 300 {
		t.Fatalf("truncate: %d %v", end, err)
	}
	if history := l.EpochHistory(); len(history) != 2 {
		t.Fatalf("history after truncate %v", history)
	}
	if got := readAll(t, l, 0); got != 150 {
		t.Fatalf("read %d batches after truncate", got)
	}
	appendN(t, l, 20, 1, 50, clock)
	if l.LogEndOffset() != 320 {
		t.Fatalf("end %d", l.LogEndOffset())
	}
	l.Close()
	l, err = OpenLog(dir, smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// appendN writes in epoch 3, which now starts at 300.
	if history := l.EpochHistory(); l.LogEndOffset() != 320 || len(history) != 3 || history[2] != (EpochEntry{3, 300}) {
		t.Fatalf("after reopen: end %d history %v", l.LogEndOffset(), l.EpochHistory())
	}
	if got := readAll(t, l, 0); got != 170 {
		t.Fatalf("read %d batches after reopen", got)
	}
}

func TestSegmentMillisRoll(t *testing.T) {
	now := int64(1_000_000)
	cfg := smallConfig()
	cfg.SegmentMillis = 1000
	cfg.Now = func() int64 { return now }
	l, err := OpenLog(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendN(t, l, 3, 1, 10, clock)
	now += 1000
	appendN(t, l, 1, 1, 10, clock)
	if n := len(l.segments.Load().segments); n != 2 {
		t.Fatalf("segment.ms did not roll: %d segments", n)
	}
}

func TestHighWatermarkNotifier(t *testing.T) {
	l, err := OpenLog(t.TempDir(), smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	changed := l.HighWatermarkChanged()
	select {
	case <-changed:
		t.Fatal("woken before any append")
	default:
	}
	appendN(t, l, 1, 1, 10, clock)
	select {
	case <-changed:
	default:
		t.Fatal("not woken by an append")
	}
	// Nobody waiting: appends do not replace the channel.
	appendN(t, l, 3, 1, 10, clock)
	again := l.HighWatermarkChanged()
	appendN(t, l, 1, 1, 10, clock)
	<-again
}

// TestResetTo: a log restarted above its end takes appends from there, and
// reopens there.
func TestResetTo(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLog(dir, smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 30, 10, 100, clock) // several segments
	if err := l.ResetTo(100); err == nil {
		t.Fatal("reset below the log end offset accepted")
	}
	if err := l.ResetTo(1000); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 1000 || l.LogEndOffset() != 1000 || l.HighWatermark() != 1000 {
		t.Fatalf("after reset: start %d end %d hw %d", l.LogStartOffset(), l.LogEndOffset(), l.HighWatermark())
	}
	bases := appendN(t, l, 3, 10, 100, clock)
	if bases[0] != 1000 {
		t.Fatalf("first append after the reset at %d", bases[0])
	}
	if n := readAll(t, l, 1000); n != 3 {
		t.Fatalf("read %d batches after the reset", n)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = OpenLog(dir, smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.LogStartOffset() != 1000 || l.LogEndOffset() != 1030 || l.Corruptions() != 0 {
		t.Fatalf("reopened: start %d end %d corruptions %d", l.LogStartOffset(), l.LogEndOffset(), l.Corruptions())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".log") && e.Name() != segment.FileName(1000, segment.LogSuffix) {
			t.Fatalf("segment %s left behind", e.Name())
		}
	}
}

// TestLogReadBudgetStopsAtItsSegment: a read whose budget is below the
// batch holding its offset answers nothing; it must not move on to the next
// segment and answer that one's (smaller) batches, skipping the rest of
// this one. Fetch reads every partition after the first with the response
// budget left over, so a lagging consumer hit this and lost records.
func TestLogReadBudgetStopsAtItsSegment(t *testing.T) {
	l, err := OpenLog(t.TempDir(), smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendN(t, l, 3, 1, 5000, clock) // offsets 0-2, ~5 KB batches
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 3, 1, 10, clock) // offsets 3-5, small batches
	for _, budget := range []int64{0, 1000} {
		var r ReadResult
		if err := l.Read(2, budget, false, ReadUncommitted, &r); err != nil {
			t.Fatal(err)
		}
		if r.Bytes != 0 || len(r.Extents) != 0 || r.NextOffset != 2 || r.HighWatermark != 6 {
			t.Fatalf("budget %d at offset 2: %d bytes, next %d, high watermark %d; want nothing, next 2", budget, r.Bytes, r.NextOffset, r.HighWatermark)
		}
		r.Release()
	}
	// With at least one batch wanted, the batch at 2 comes whole.
	var r ReadResult
	if err := l.Read(2, 1000, true, ReadUncommitted, &r); err != nil {
		t.Fatal(err)
	}
	if r.Bytes < 5000 || r.NextOffset != 3 {
		t.Fatalf("at least one: %d bytes, next %d", r.Bytes, r.NextOffset)
	}
	r.Release()
	// A budget that holds the batch at 2 still reads only this segment.
	if err := l.Read(2, 1<<20, false, ReadUncommitted, &r); err != nil {
		t.Fatal(err)
	}
	if r.NextOffset != 3 {
		t.Fatalf("full budget: next %d", r.NextOffset)
	}
	r.Release()
}
