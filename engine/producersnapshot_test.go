package engine

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"spool/segment"
)

// testProducer sends idempotent batches of two records and remembers them,
// so a test can retry any of them after a restart.
type testProducer struct {
	id    int64
	epoch int16
	next  int32
	sent  []AppendInfo // by batch number
}

func (p *testProducer) send(t *testing.T, l *Log) AppendInfo {
	t.Helper()
	info, err := l.Append(idempotentBatch(p.id, p.epoch, p.next, 2), 0)
	if err != nil || info.Duplicate {
		t.Fatalf("producer %d sequence %d: %+v %v", p.id, p.next, info, err)
	}
	p.next += 2
	p.sent = append(p.sent, info)
	return info
}

// expectRetryDeduplicated retries batch i of p and checks that the log
// answers it with the original offsets and appends nothing.
func (p *testProducer) expectRetryDeduplicated(t *testing.T, l *Log, i int) {
	t.Helper()
	end := l.LogEndOffset()
	info, err := l.Append(idempotentBatch(p.id, p.epoch, int32(i)*2, 2), 0)
	if err != nil || !info.Duplicate || info.BaseOffset != p.sent[i].BaseOffset || info.LastOffset != p.sent[i].LastOffset {
		t.Fatalf("retry of producer %d batch %d (offset %d): %+v %v", p.id, i, p.sent[i].BaseOffset, info, err)
	}
	if l.LogEndOffset() != end {
		t.Fatalf("retry of producer %d batch %d was appended", p.id, i)
	}
}

// stopUncleanly closes a log's files without Log.Close, as a crash would
// leave them: no seal, no snapshot, no clean-shutdown marker. A roll's
// background snapshot write is let finish first (a crash before it is the
// case of no snapshot, which other tests cover), so no goroutine writes
// into the directory after the test.
func stopUncleanly(l *Log) {
	l.settleProducerSnapshot()
	for _, s := range l.segments.Load().segments {
		s.Close()
	}
}

func snapshotsOnDisk(t *testing.T, dir string) []Offset {
	t.Helper()
	offsets, err := listProducerSnapshots(dir)
	if err != nil {
		t.Fatal(err)
	}
	return offsets
}

func mustOpen(t *testing.T, dir string, cfg LogConfig) *Log {
	t.Helper()
	l, err := OpenLog(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// segmentHeader is the header of an idempotent batch of records records at
// base.
func segmentHeader(producerID int64, epoch int16, sequence int32, records int32, base Offset) segment.Header {
	return segment.Header{BaseOffset: base, ProducerID: producerID, ProducerEpoch: epoch, BaseSequence: sequence, LastOffsetDelta: records - 1, RecordCount: records}
}

// sampleProducerState holds a producer whose window has wrapped, one with
// two batches, one fenced to a new epoch, and one with a negative epoch.
func sampleProducerState() *producerState {
	p := newProducerState()
	offset := Offset(0)
	add := func(id int64, epoch int16, sequence int32, millis int64) {
		h := segmentHeader(id, epoch, sequence, 3, offset)
		p.record(&h, millis)
		offset += 3
	}
	for i := int32(0); i < 9; i++ {
		add(7, 2, i*3, 1_000+int64(i))
	}
	add(1<<40, 0, 100, 5_000)
	add(1<<40, 0, 103, 5_001)
	add(3, 0, 0, 6_000)
	add(3, 1, 0, 6_001)
	add(0, -1, 0, 7_000)
	return p
}

func TestProducerSnapshotRoundTrip(t *testing.T) {
	p := sampleProducerState()
	const covered = Offset(1000)
	data := encodeProducerSnapshot(nil, p, covered)
	decoded, gotCovered, err := decodeProducerSnapshot(data)
	if err != nil || gotCovered != covered {
		t.Fatalf("decode: covered %d, %v", gotCovered, err)
	}
	if len(decoded.byID) != len(p.byID) || decoded.clock != p.clock {
		t.Fatalf("decoded %d producers, clock %d; want %d, %d", len(decoded.byID), decoded.clock, len(p.byID), p.clock)
	}
	for id, want := range p.byID {
		got := decoded.byID[id]
		if got == nil || got.epoch != want.epoch || got.count != want.count || got.lastUsed != want.lastUsed || got.lastWriteMillis != want.lastWriteMillis {
			t.Fatalf("producer %d: got %+v, want %+v", id, got, want)
		}
		if !slices.Equal(windowOf(got), windowOf(want)) {
			t.Fatalf("producer %d: window %+v, want %+v", id, windowOf(got), windowOf(want))
		}
	}
	// The decoded state answers like the original: retries of the window
	// are duplicates, the next sequence continues, an older epoch is fenced.
	for _, sequence := range []int32{12, 24} {
		h := segmentHeader(7, 2, sequence, 3, 0)
		if b, err := decoded.check(&h); err != nil || b == nil {
			t.Fatalf("retry at sequence %d: %v %v", sequence, b, err)
		}
	}
	for _, tc := range []struct {
		epoch    int16
		sequence int32
		fails    bool
	}{{2, 27, false}, {2, 9, true}, {1, 27, true}} {
		h := segmentHeader(7, tc.epoch, tc.sequence, 3, 0)
		b, err := decoded.check(&h)
		if b != nil || (err != nil) != tc.fails {
			t.Fatalf("epoch %d sequence %d: %v %v", tc.epoch, tc.sequence, b, err)
		}
	}
	if again := encodeProducerSnapshot(nil, decoded, covered); !bytes.Equal(again, data) {
		t.Fatal("encoding the decoded state changed the bytes")
	}
	// Every flipped byte and every shorter or longer file is refused.
	for i := range data {
		corrupt := bytes.Clone(data)
		corrupt[i] ^= 0x20
		if _, _, err := decodeProducerSnapshot(corrupt); err == nil {
			t.Fatalf("byte %d flipped: accepted", i)
		}
	}
	for n := 0; n < len(data); n++ {
		if _, _, err := decodeProducerSnapshot(data[:n]); err == nil {
			t.Fatalf("cut to %d bytes: accepted", n)
		}
	}
	if _, _, err := decodeProducerSnapshot(append(bytes.Clone(data), 0)); err == nil {
		t.Fatal("a trailing byte: accepted")
	}
	// An empty state is a valid snapshot too.
	if empty, _, err := decodeProducerSnapshot(encodeProducerSnapshot(nil, newProducerState(), 0)); err != nil || len(empty.byID) != 0 {
		t.Fatalf("empty state: %v", err)
	}
}

// windowOf lists a producer's remembered batches, oldest first.
func windowOf(e *producerEntry) []producerBatch {
	var window []producerBatch
	for i := e.count - 1; i >= 0; i-- {
		window = append(window, e.batches[(e.newest-i+producerBatchesKept)%producerBatchesKept])
	}
	return window
}

func TestProducerSnapshotCleanCloseReplaysNothing(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, smallConfig())
	producers := []*testProducer{{id: 1}, {id: 2}, {id: 3, epoch: 4}}
	for round := 0; round < 4; round++ {
		for i := 0; i < 6; i++ {
			for _, p := range producers {
				p.send(t, l)
			}
		}
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
	}
	producers[0].send(t, l)
	end := l.LogEndOffset()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// The newest two are kept: the last roll's and the close's.
	if got := snapshotsOnDisk(t, dir); len(got) != snapshotsKept || got[len(got)-1] != end {
		t.Fatalf("snapshots %v, want %d ending at %d", got, snapshotsKept, end)
	}
	l = mustOpen(t, dir, smallConfig())
	defer l.Close()
	if l.producersReplayed != 0 || l.CorruptSnapshots() != 0 {
		t.Fatalf("open after a clean close replayed %d batches, %d corrupt snapshots", l.producersReplayed, l.CorruptSnapshots())
	}
	for _, p := range producers {
		for i := len(p.sent) - producerBatchesKept; i < len(p.sent); i++ {
			p.expectRetryDeduplicated(t, l, i)
		}
		p.send(t, l)
	}
}

func TestProducerSnapshotReplayAfterCrash(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, smallConfig())
	before, straddling := &testProducer{id: 10}, &testProducer{id: 11}
	for i := 0; i < 7; i++ {
		before.send(t, l)
		straddling.send(t, l)
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	rolledAt := l.LogEndOffset()
	for i := 0; i < 3; i++ {
		straddling.send(t, l)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	// Crash between the roll and a close, after the roll's background
	// snapshot write finished (a crash before it is the no-snapshot case).
	l.settleProducerSnapshot()
	stopUncleanly(l)
	if got := snapshotsOnDisk(t, dir); !slices.Equal(got, []Offset{rolledAt}) {
		t.Fatalf("snapshots %v, want the roll's at %d", got, rolledAt)
	}
	l = mustOpen(t, dir, smallConfig())
	if l.producersReplayed != 3 {
		t.Fatalf("replayed %d batches after the roll's snapshot, want 3", l.producersReplayed)
	}
	// Retries of batches from before the snapshot and after it.
	for i := 2; i < 7; i++ {
		before.expectRetryDeduplicated(t, l, i)
	}
	for i := 5; i < 10; i++ {
		straddling.expectRetryDeduplicated(t, l, i)
	}
	// A clean close snapshots in the middle of the active segment; a crash
	// after more appends replays only those, found through the index.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, smallConfig())
	for i := 0; i < 4; i++ {
		before.send(t, l)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	stopUncleanly(l)
	l = mustOpen(t, dir, smallConfig())
	defer l.Close()
	if l.producersReplayed != 4 {
		t.Fatalf("replayed %d batches after the close's snapshot, want 4", l.producersReplayed)
	}
	for i := 6; i < 11; i++ {
		before.expectRetryDeduplicated(t, l, i)
	}
	for i := 5; i < 10; i++ {
		straddling.expectRetryDeduplicated(t, l, i)
	}
}

func flipByte(t *testing.T, path string, at int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[at%len(data)] ^= 0x01
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestProducerSnapshotCorruptFallsBack(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, smallConfig())
	p := &testProducer{id: 5}
	for i := 0; i < 6; i++ {
		p.send(t, l)
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		p.send(t, l)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	snapshots := snapshotsOnDisk(t, dir)
	if len(snapshots) != 2 {
		t.Fatalf("snapshots %v", snapshots)
	}

	// The newest is corrupt: it is reported, deleted, and the older one is
	// used, replaying the batches after it.
	flipByte(t, filepath.Join(dir, snapshotFileName(snapshots[1])), 40)
	l = mustOpen(t, dir, smallConfig())
	if l.CorruptSnapshots() != 1 || l.producersReplayed != 4 {
		t.Fatalf("corrupt newest: %d corrupt, %d replayed; want 1, 4", l.CorruptSnapshots(), l.producersReplayed)
	}
	if got := snapshotsOnDisk(t, dir); !slices.Equal(got, snapshots[:1]) {
		t.Fatalf("snapshots after the open %v, want %v", got, snapshots[:1])
	}
	for i := 5; i < 10; i++ {
		p.expectRetryDeduplicated(t, l, i)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// Every snapshot is corrupt: the open walks the whole log.
	for _, offset := range snapshotsOnDisk(t, dir) {
		flipByte(t, filepath.Join(dir, snapshotFileName(offset)), 7)
	}
	l = mustOpen(t, dir, smallConfig())
	defer l.Close()
	if l.CorruptSnapshots() != 2 || l.producersReplayed != 10 {
		t.Fatalf("all corrupt: %d corrupt, %d replayed; want 2, 10", l.CorruptSnapshots(), l.producersReplayed)
	}
	if got := snapshotsOnDisk(t, dir); len(got) != 0 {
		t.Fatalf("corrupt snapshots left: %v", got)
	}
	for i := 5; i < 10; i++ {
		p.expectRetryDeduplicated(t, l, i)
	}
	p.send(t, l)
}

func TestProducerSnapshotTruncation(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, smallConfig())
	p := &testProducer{id: 8}
	for i := 0; i < 3; i++ {
		p.send(t, l)
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	first := l.LogEndOffset()
	for i := 0; i < 3; i++ {
		p.send(t, l)
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	second := l.LogEndOffset()
	for i := 0; i < 3; i++ {
		p.send(t, l)
	}
	l.settleProducerSnapshot() // the roll writes its snapshot in the background
	if got := snapshotsOnDisk(t, dir); !slices.Equal(got, []Offset{first, second}) {
		t.Fatalf("snapshots %v, want %d and %d", got, first, second)
	}
	// Cut inside the second segment (batch 4 on): the second snapshot
	// describes batches that are gone.
	cut := p.sent[4].BaseOffset
	if end, err := l.TruncateTo(cut); err != nil || end != cut {
		t.Fatalf("truncate to %d: %d %v", cut, end, err)
	}
	if got := snapshotsOnDisk(t, dir); !slices.Equal(got, []Offset{first}) {
		t.Fatalf("snapshots after the cut at %d: %v, want only %d", cut, got, first)
	}
	if l.producersReplayed != 1 {
		t.Fatalf("reload after the cut replayed %d batches, want 1", l.producersReplayed)
	}
	// What the cut removed may be sent again; what it kept is a duplicate.
	p.expectRetryDeduplicated(t, l, 3)
	info, err := l.Append(idempotentBatch(p.id, p.epoch, 8, 2), 0)
	if err != nil || info.Duplicate || info.BaseOffset != cut {
		t.Fatalf("re-send of a cut batch: %+v %v", info, err)
	}
	// A cut below every snapshot removes them all.
	if _, err := l.TruncateTo(p.sent[1].BaseOffset); err != nil {
		t.Fatal(err)
	}
	if got := snapshotsOnDisk(t, dir); len(got) != 0 {
		t.Fatalf("snapshots after a cut below them: %v", got)
	}
	p.expectRetryDeduplicated(t, l, 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, smallConfig())
	defer l.Close()
	if l.producersReplayed != 0 {
		t.Fatalf("open after the close replayed %d", l.producersReplayed)
	}
	p.expectRetryDeduplicated(t, l, 0)
}

func TestProducerSnapshotExpiry(t *testing.T) {
	dir := t.TempDir()
	now := int64(1_700_000_000_000)
	cfg := smallConfig()
	cfg.Now = func() int64 { return now }
	l := mustOpen(t, dir, cfg)
	idle, busy := &testProducer{id: 1}, &testProducer{id: 2}
	idle.send(t, l)
	busy.send(t, l)
	now += ProducerIDExpirationMillisDefault
	busy.send(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// One millisecond past the expiry of the idle producer: it is
	// forgotten, so its retry is accepted as a new batch; the busy one is
	// still known.
	now++
	l = mustOpen(t, dir, cfg)
	defer l.Close()
	if _, known := l.producers.byID[idle.id]; known || len(l.producers.byID) != 1 {
		t.Fatalf("after the expiry: %d producers, idle one known: %v", len(l.producers.byID), known)
	}
	busy.expectRetryDeduplicated(t, l, 1)
	info, err := l.Append(idempotentBatch(idle.id, 0, 0, 2), 0)
	if err != nil || info.Duplicate {
		t.Fatalf("retry of an expired producer's batch: %+v %v", info, err)
	}
}

// FuzzProducerSnapshot: arbitrary bytes never panic the decoder, and it
// yields state only when the CRC matches and the bytes are exactly the
// encoding of what it yields.
func FuzzProducerSnapshot(f *testing.F) {
	f.Add(encodeProducerSnapshot(nil, sampleProducerState(), 1000))
	f.Add(encodeProducerSnapshot(nil, newProducerState(), 0))
	f.Add([]byte(snapshotMagic))
	f.Add([]byte{})
	table := crc32.MakeTable(crc32.Castagnoli)
	check := func(t *testing.T, data []byte) {
		p, covered, err := decodeProducerSnapshot(data)
		if err != nil {
			if p != nil {
				t.Fatal("state returned with an error")
			}
			return
		}
		if crc32.Checksum(data[snapshotCRCStart:], table) != binary.BigEndian.Uint32(data[6:]) {
			t.Fatal("accepted with a CRC that does not match")
		}
		if again := encodeProducerSnapshot(nil, p, covered); !bytes.Equal(again, data) {
			t.Fatalf("accepted bytes are not the encoding of the state they yield:\n%x\n%x", data, again)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check(t, data)
		// The same bytes with a matching CRC, so the fuzzer also reaches
		// the checks behind it.
		if len(data) >= snapshotHeaderBytes {
			sealed := bytes.Clone(data)
			binary.BigEndian.PutUint32(sealed[6:], crc32.Checksum(sealed[snapshotCRCStart:], table))
			check(t, sealed)
		}
	})
}

// An unreadable snapshot (here a directory under a snapshot's name) is not
// corruption: it is skipped, not counted, and kept in the list, so a
// truncation below it still removes it.
func TestProducerSnapshotUnreadable(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, smallConfig())
	p := &testProducer{id: 4}
	for i := 0; i < 3; i++ {
		p.send(t, l)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	good := l.LogEndOffset()
	l = mustOpen(t, dir, smallConfig())
	for i := 0; i < 3; i++ {
		p.send(t, l)
	}
	unreadable := l.LogEndOffset()
	stopUncleanly(l)
	if err := os.Mkdir(filepath.Join(dir, snapshotFileName(unreadable)), 0o755); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, smallConfig())
	defer l.Close()
	if l.CorruptSnapshots() != 0 || l.producersReplayed != 3 || !slices.Equal(l.snapshots, []Offset{good, unreadable}) {
		t.Fatalf("%d corrupt, %d replayed, snapshots %v; want 0, 3, [%d %d]", l.CorruptSnapshots(), l.producersReplayed, l.snapshots, good, unreadable)
	}
	p.expectRetryDeduplicated(t, l, 5)
	if _, err := l.TruncateTo(p.sent[4].BaseOffset); err != nil {
		t.Fatal(err)
	}
	if got := snapshotsOnDisk(t, dir); !slices.Equal(got, []Offset{good}) {
		t.Fatalf("snapshots after the cut: %v, want [%d]", got, good)
	}
}

// A roll's snapshot is written in the background; a truncation right after
// the roll, while that write may still be in flight, must still leave no
// snapshot above the cut on disk (it settles the write before deleting).
func TestProducerSnapshotTruncationRacesRollWrite(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, smallConfig())
	defer l.Close()
	p := &testProducer{id: 9}
	for i := 0; i < 3; i++ {
		p.send(t, l)
	}
	cut := p.sent[1].BaseOffset
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.TruncateTo(cut); err != nil {
		t.Fatal(err)
	}
	if l.snapshotWrite != nil {
		t.Fatal("a snapshot write is still in flight after the truncation")
	}
	if got := snapshotsOnDisk(t, dir); len(got) != 0 {
		t.Fatalf("snapshots after a cut below the roll's: %v", got)
	}
	p.expectRetryDeduplicated(t, l, 0) // batch 0 is kept: still a duplicate
}

// TestProducersExpireWhileRunning: the periodic retention pass forgets a
// producer idle for longer than producer.id.expiration.ms without a
// reopen, and keeps one that appended within it (on a compacted topic
// too, where retention deletes nothing).
func TestProducersExpireWhileRunning(t *testing.T) {
	for _, cleanup := range []CleanupPolicy{CleanupDelete, CleanupCompact} {
		now := int64(1_700_000_000_000)
		cfg := smallConfig()
		cfg.Now = func() int64 { return now }
		l := mustOpen(t, t.TempDir(), cfg)
		idle, busy := &testProducer{id: 1}, &testProducer{id: 2}
		idle.send(t, l)
		busy.send(t, l)
		now += ProducerIDExpirationMillisDefault
		busy.send(t, l)
		// The batches have no keys: switch the policy after them.
		cfg.Cleanup = cleanup
		l.SetConfig(cfg)
		if _, err := l.ApplyRetention(); err != nil {
			t.Fatal(err)
		}
		if len(l.producers.byID) != 2 {
			t.Fatalf("%v: at the expiry, %d producers, want both", cleanup, len(l.producers.byID))
		}
		now++
		if _, err := l.ApplyRetention(); err != nil {
			t.Fatal(err)
		}
		if _, known := l.producers.byID[idle.id]; known || len(l.producers.byID) != 1 {
			t.Fatalf("%v: past the idle one's expiry: %d producers, idle one known: %v", cleanup, len(l.producers.byID), known)
		}
		if _, known := l.producers.byID[busy.id]; !known {
			t.Fatalf("%v: the busy producer was forgotten", cleanup)
		}
		if cleanup == CleanupDelete {
			busy.expectRetryDeduplicated(t, l, 1)
		}
		l.Close()
	}
}

// TestProducerIDExpirationNegativeRefused: a negative
// ProducerIDExpirationMillis, which would forget every idempotent producer
// at each retention pass and at load, is refused: by Validate, by OpenLog
// before it creates anything, and by SetConfig, which keeps the log's
// configuration. Zero still takes the default.
func TestProducerIDExpirationNegativeRefused(t *testing.T) {
	for _, expiration := range []int64{-1, -ProducerIDExpirationMillisDefault, math.MinInt64} {
		cfg := smallConfig()
		cfg.ProducerIDExpirationMillis = expiration
		if err := cfg.WithDefaults().Validate(); err == nil || !strings.Contains(err.Error(), "producer.id.expiration.ms") {
			t.Errorf("Validate(%d): %v", expiration, err)
		}
		dir := filepath.Join(t.TempDir(), "p-0")
		if l, err := OpenLog(dir, cfg); err == nil {
			l.Close()
			t.Errorf("OpenLog with expiration %d opened", expiration)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("OpenLog with expiration %d left %s: %v", expiration, dir, err)
		}
	}

	const expiration = 60_000
	cfg := smallConfig()
	cfg.ProducerIDExpirationMillis = expiration
	l := mustOpen(t, t.TempDir(), cfg)
	defer l.Close()
	bad := cfg
	bad.ProducerIDExpirationMillis = -1
	if err := l.SetConfig(bad); err == nil {
		t.Fatal("SetConfig took expiration -1")
	}
	if got := l.Config().ProducerIDExpirationMillis; got != expiration {
		t.Fatalf("expiration %d after a refused SetConfig, want %d", got, expiration)
	}
	cfg.ProducerIDExpirationMillis = 0
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if got := l.Config().ProducerIDExpirationMillis; got != ProducerIDExpirationMillisDefault {
		t.Fatalf("expiration 0 gave %d, want the default %d", got, ProducerIDExpirationMillisDefault)
	}
}

// TestProducerIDExpirationConfigured: LogConfig.ProducerIDExpirationMillis
// (producer.id.expiration.ms) replaces the 1-day default, both at a
// retention pass and at load. An idle producer is remembered up to the
// configured expiration (its retry is a duplicate) and forgotten one
// millisecond past it: its retry is then Kafka's answer for an unknown
// producer, accepted and appended at a new offset, at any sequence.
func TestProducerIDExpirationConfigured(t *testing.T) {
	const expiration = 60_000
	now := int64(1_700_000_000_000)
	cfg := smallConfig()
	cfg.Now = func() int64 { return now }
	cfg.ProducerIDExpirationMillis = expiration
	dir := t.TempDir()
	l := mustOpen(t, dir, cfg)
	if got := l.Config().ProducerIDExpirationMillis; got != expiration {
		t.Fatalf("configured expiration %d, want %d", got, expiration)
	}
	idle, busy := &testProducer{id: 1}, &testProducer{id: 2}
	idle.send(t, l)
	idle.send(t, l)
	busy.send(t, l)

	// While running: the retention pass at the expiry keeps the idle
	// producer, the one just past it forgets it.
	now += expiration
	busy.send(t, l)
	if _, err := l.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	idle.expectRetryDeduplicated(t, l, 1)
	now++
	if _, err := l.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	if _, known := l.producers.byID[idle.id]; known || len(l.producers.byID) != 1 {
		t.Fatalf("past the configured expiry: %d producers, idle one known: %v", len(l.producers.byID), known)
	}
	busy.expectRetryDeduplicated(t, l, 1)
	end := l.LogEndOffset()
	info, err := l.Append(idempotentBatch(idle.id, idle.epoch, 2, 2), 0)
	if err != nil || info.Duplicate || info.BaseOffset != end {
		t.Fatalf("retry of the expired producer's batch 1 (first at offset %d): %+v %v; want appended at %d", idle.sent[1].BaseOffset, info, err, end)
	}

	// At load: the busy producer, idle since its last batch, is forgotten
	// by the open once the configured expiration has passed, though a
	// snapshot holds it.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	now += expiration + 1
	l = mustOpen(t, dir, cfg)
	defer l.Close()
	if _, known := l.producers.byID[busy.id]; known {
		t.Fatal("the open kept a producer idle for longer than the configured expiration")
	}
	end = l.LogEndOffset()
	info, err = l.Append(idempotentBatch(busy.id, busy.epoch, 2, 2), 0)
	if err != nil || info.Duplicate || info.BaseOffset != end {
		t.Fatalf("retry of the expired busy producer's batch 1: %+v %v; want appended at %d", info, err, end)
	}
}
