package engine

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"spool/internal/metrics"
	"spool/segment"
)

// Log compaction (cleanup.policy=compact), Kafka's log cleaner in spirit.
//
// Offsets never change. A cleaning pass rewrites sealed segments keeping,
// for each key, only the record with the highest offset; every surviving
// record stays at its offset, removed offsets become gaps that readers step
// over (a fetch in a gap gets the next batch). The active segment is never
// cleaned, nor anything at or above the high watermark, nor a segment whose
// newest record is younger than min.compaction.lag.ms. The log start offset
// does not move.
//
// Dirty and clean. The cleaner checkpoint (the file cleaner-offset-checkpoint)
// is the offset below which the log has been cleaned: [log start,
// checkpoint) is clean (each key at most once), [checkpoint, cleanable end)
// dirty. A pass runs when dirty bytes / cleanable bytes reaches
// min.cleanable.dirty.ratio. It maps every key of the dirty part to its
// newest offset (a SHA-256 prefix of the key, as Kafka keys its map by a
// digest), then rewrites clean and dirty segments alike: a keyed record
// survives if no newer record of its key lies in the dirty part; a record
// without a key (possible only from before the topic was compacted) goes.
//
// Tombstones (null value) survive the pass that first sees them and are
// removed by a later pass once they lie in the clean part and their
// segment's newest timestamp is older than delete.retention.ms: consumers
// that read the clean log within delete.retention.ms see every deletion.
// (This is Kafka's rule before KIP-534, which records a delete horizon in
// the batch instead.)
//
// Batches keep their header (see segment/compact.go): offset range,
// producer id, epoch and base sequence. An emptied batch is kept, as an
// empty batch, when it is an idempotent producer's last batch in the log
// (Kafka's rule, so the producer's sequence state survives a reload) or the
// last batch of its segment (spool's rule: the segment then still ends
// where the next one begins, which the open-time contiguity check relies
// on). Other emptied batches go. Control batches do not exist yet in spool
// (no transactions); when they do, the cleaner must keep markers of
// transactions whose data survives.
//
// Where the work runs. One cleaner goroutine for the broker (meta's
// cleaner loop) calls Clean: planning and the swap run on the partition's
// shard (short: a list of segments, then renames and opens), reading and
// writing the segments runs on the cleaner goroutine, so the write path
// never waits on a pass.
//
// Crash safety, in order:
//  1. write each rewritten segment (log and both indexes, built as Append
//     builds them) under <partition>/cleaning/, seal (sync) it, and give its
//     .log the original's modification time (retention reads it);
//  2. sync the cleaning directory;
//  3. on the shard: check the originals are still the published ones
//     (retention, truncation or a reset may have taken them meanwhile:
//     then drop the pass), rename cleaning/ to cleaned/ and sync the
//     partition directory: the pass is committed;
//  4. rename each file of cleaned/ over the original's name, sync the
//     partition directory, remove cleaned/;
//  5. open the new segments, publish the new list, retire the originals
//     (readers holding them keep their mappings and descriptors, which
//     still reach the old files' data: the rename unlinked only the names);
//  6. persist the new checkpoint.
//
// At open, a cleaning/ directory (a pass that did not commit) is removed and
// a cleaned/ directory (a committed pass) has its files moved in, finishing
// step 4, before any segment is opened. Since step 3 runs on the shard, no
// truncation or deletion can slip between the check and the commit.

// Files and directories of the cleaner inside a partition directory.
const (
	cleaningDirName           = "cleaning"
	cleanedDirName            = "cleaned"
	cleanerCheckpointFileName = "cleaner-offset-checkpoint"
)

// Limits of one pass.
const (
	// recordsDecompressedBytesMax bounds one batch's records once
	// decompressed (the cleaner's and the produce-time key check's).
	recordsDecompressedBytesMax = 256 << 20
)

// cleanerKeysMax bounds the offset map of one pass (about 60 bytes an
// entry with Go's map overhead: ~120 MiB, near Kafka's 128 MiB
// log.cleaner.dedupe.buffer.size). Batches are added to the map whole; the
// pass stops before a batch whose records could take the map past this
// many keys (even in the middle of a segment: the checkpoint may lie
// inside one) and the next pass continues, as Kafka does. The first dirty
// batch is always taken, so a pass always makes progress. A variable so
// tests can lower it.
var cleanerKeysMax = 2 << 20

// keyDigest is a key's entry in the offset map.
type keyDigest [16]byte

func digestKey(key []byte) keyDigest {
	sum := sha256.Sum256(key)
	return keyDigest(sum[:16])
}

// CleanStats is what one pass did.
type CleanStats struct {
	Segments       int   // segments rewritten
	BytesRead      int64 // bytes of the segments read
	BytesWritten   int64 // bytes of the rewritten segments
	RecordsRemoved int64
	Duration       time.Duration
	DirtyRatio     float64
}

// cleanPlan is what the writer hands the cleaner goroutine.
type cleanPlan struct {
	segments      []*segment.Segment // acquired; oldest first
	firstDirty    Offset             // the checkpoint when planned
	cleanableEnd  Offset             // offsets below are cleanable
	dirtyRatio    float64
	cfg           LogConfig
	producerLast  map[int64]Offset // producer id → base offset of its newest batch
	now           int64
	segmentConfig segment.Config
}

func (p *cleanPlan) release() {
	for _, s := range p.segments {
		s.Release()
	}
	p.segments = nil
}

// ErrCleanAborted says the log changed under a pass (retention,
// truncation, a reset or a close): nothing was changed; the next pass
// starts afresh.
var ErrCleanAborted = errors.New("engine: cleaning pass aborted: the log changed")

// Clean runs one cleaning pass over l, whose writer is shard, if its
// cleanup.policy has compact and its dirty ratio reaches
// min.cleanable.dirty.ratio (any ratio above zero with force). It reports
// whether a pass ran. A pass gives up (ErrCleanAborted) soon after stop is
// closed or the log closes. Call it from one goroutine per log at a time
// (the cleaner's); never from the shard's goroutine.
func Clean(l *Log, shard *Shard, force bool, stop <-chan struct{}) (CleanStats, bool, error) {
	started := time.Now()
	var plan *cleanPlan
	if err := shard.Do(func() { plan = l.planClean(force) }); err != nil {
		return CleanStats{}, false, err
	}
	if plan == nil {
		return CleanStats{}, false, nil
	}
	defer plan.release()
	stats := CleanStats{DirtyRatio: plan.dirtyRatio}
	cleaned, dirtyEnd, err := l.writeCleaned(plan, &stats, stop)
	if err != nil {
		os.RemoveAll(filepath.Join(l.dir, cleaningDirName))
		return stats, true, err
	}
	var swapErr error
	if err := shard.Do(func() { swapErr = l.swapCleaned(plan, cleaned, dirtyEnd) }); err != nil {
		swapErr = err
	}
	if swapErr != nil {
		os.RemoveAll(filepath.Join(l.dir, cleaningDirName))
		return stats, true, swapErr
	}
	stats.Duration = time.Since(started)
	metrics.CleanerRuns.Add(1)
	metrics.CleanerBytesRead.Add(stats.BytesRead)
	metrics.CleanerBytesWritten.Add(stats.BytesWritten)
	metrics.CleanerRecordsRemoved.Add(stats.RecordsRemoved)
	metrics.CleanerLastDurationMicros.Store(stats.Duration.Microseconds())
	return stats, true, nil
}

// planClean picks the segments a pass may rewrite and acquires them, or
// returns nil when there is nothing to do. Writer only.
func (l *Log) planClean(force bool) *cleanPlan {
	l.checkWriter("Log.planClean")
	if l.closed || l.Err() != nil || !l.cfg.Cleanup.Compact() {
		return nil
	}
	now := l.cfg.Now()
	list := l.segments.Load()
	highWatermark := l.HighWatermark()
	// Cleanable: sealed segments, wholly below the high watermark (never
	// clean what consumers may not read yet: a standby may still lack
	// it), old enough for min.compaction.lag.ms.
	var candidates []*segment.Segment
	for _, s := range list.segments {
		if s == l.active || s.NextOffset() > highWatermark {
			break
		}
		if lag := l.cfg.MinCompactionLagMillis; lag > 0 {
			newest := s.LargestTimestamp()
			if newest < 0 {
				newest = fileModifiedMillis(s.Path(), now)
			}
			if now-newest < lag {
				break
			}
		}
		candidates = append(candidates, s)
	}
	if len(candidates) == 0 {
		return nil
	}
	firstDirty := max(l.cleanerCheckpoint, l.LogStartOffset())
	cleanableEnd := candidates[len(candidates)-1].NextOffset()
	var cleanBytes, dirtyBytes int64
	for _, s := range candidates {
		if s.NextOffset() <= firstDirty {
			cleanBytes += s.Size()
		} else {
			dirtyBytes += s.Size()
		}
	}
	if dirtyBytes == 0 {
		return nil
	}
	ratio := float64(dirtyBytes) / float64(cleanBytes+dirtyBytes)
	if !force && ratio < max(l.cfg.MinCleanableDirtyRatio, 0) {
		return nil
	}
	plan := &cleanPlan{firstDirty: firstDirty, cleanableEnd: cleanableEnd, dirtyRatio: ratio, cfg: l.cfg, now: now, segmentConfig: l.cfg.Segment}
	for _, s := range candidates {
		if !s.Acquire() {
			plan.release()
			return nil
		}
		plan.segments = append(plan.segments, s)
	}
	plan.producerLast = make(map[int64]Offset, len(l.producers.byID))
	for id, e := range l.producers.byID {
		if e.count > 0 {
			plan.producerLast[id] = e.batches[e.newest].baseOffset
		}
	}
	return plan
}

func fileModifiedMillis(path string, fallback int64) int64 {
	if info, err := os.Stat(path); err == nil {
		return info.ModTime().UnixMilli()
	}
	return fallback
}

// writeCleaned builds the offset map over the dirty segments and writes
// the rewritten segments under cleaning/ (steps 1 and 2). It returns the
// bases of the segments it rewrote (those with something removed) and the
// end of the dirty part it mapped, which becomes the checkpoint. In order:
//   - map each dirty key to its newest offset (mapDirtyKeys);
//   - leave the segments past the mapped part to the next pass
//     (mappedSegments);
//   - make an empty cleaning/ directory;
//   - rewrite each segment that loses a record there (rewriteSegment);
//   - sync the directory.
func (l *Log) writeCleaned(plan *cleanPlan, stats *CleanStats, stop <-chan struct{}) ([]Offset, Offset, error) {
	latest, dirtyEnd, err := l.mapDirtyKeys(plan, stop)
	if err != nil {
		return nil, 0, err
	}
	segments := mappedSegments(plan.segments, dirtyEnd)
	dir := filepath.Join(l.dir, cleaningDirName)
	if err := os.RemoveAll(dir); err != nil {
		return nil, 0, err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, 0, err
	}
	w := &segmentRewriter{
		dir:           dir,
		plan:          plan,
		latest:        latest,
		deleteHorizon: plan.now - max(plan.cfg.DeleteRetentionMillis, 0),
	}
	var cleaned []Offset
	for _, s := range segments {
		if l.cleanStopped(stop) {
			return nil, 0, ErrCleanAborted
		}
		rewritten, err := w.rewriteSegment(s, stats)
		if err != nil {
			return nil, 0, err
		}
		if rewritten {
			cleaned = append(cleaned, s.BaseOffset())
		}
	}
	if err := segment.SyncDir(dir); err != nil {
		return nil, 0, err
	}
	return cleaned, dirtyEnd, nil
}

// cleanStopped reports whether a pass should give up: stop is closed or
// the log is closing.
func (l *Log) cleanStopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return l.closing.Load()
	}
}

// mapDirtyKeys maps each key of the dirty part of plan's segments to the
// offset of its newest record, and returns the map and the end of the part
// it mapped: at most cleanerKeysMax keys, whole batches, the first dirty
// batch always.
func (l *Log) mapDirtyKeys(plan *cleanPlan, stop <-chan struct{}) (map[keyDigest]Offset, Offset, error) {
	latest := map[keyDigest]Offset{}
	var scratch []byte
	dirtyEnd := plan.firstDirty
	for _, s := range plan.segments {
		if s.NextOffset() <= plan.firstDirty {
			continue
		}
		if l.cleanStopped(stop) {
			return nil, 0, ErrCleanAborted
		}
		b := s.Bytes(0)
		for position := int64(0); position < int64(len(b)); {
			h, batch, err := wholeBatchAt(b, position)
			if err != nil {
				return nil, 0, fmt.Errorf("%s at %d: %w", s.Path(), position, err)
			}
			position += h.TotalBytes()
			if h.NextOffset() <= plan.firstDirty {
				continue
			}
			// The map grows by at most the batch's record count: stop
			// before a batch that could take it past its bound (the
			// records of a segment are not bounded by anything else).
			if dirtyEnd > plan.firstDirty && len(latest)+int(max(h.RecordCount, 0)) > cleanerKeysMax {
				return latest, dirtyEnd, nil
			}
			scratch, err = segment.WalkAnyRecords(batch, scratch, recordsDecompressedBytesMax, func(r segment.RecordPosition) bool {
				if r.Key != nil && r.Offset >= plan.firstDirty {
					latest[digestKey(r.Key)] = r.Offset
				}
				return true
			})
			if err != nil {
				return nil, 0, fmt.Errorf("%s: batch at %d: %w", s.Path(), h.BaseOffset, err)
			}
			dirtyEnd = h.NextOffset()
		}
	}
	return latest, dirtyEnd, nil
}

// mappedSegments drops from segments those that start at or past
// dirtyEnd: they wait for the next pass. One mapped in part is rewritten
// (its records at or past dirtyEnd have no newer record in the map, so
// they stay; its tombstones stay, as it is not wholly clean).
func mappedSegments(segments []*segment.Segment, dirtyEnd Offset) []*segment.Segment {
	for len(segments) > 0 && segments[len(segments)-1].BaseOffset() >= dirtyEnd {
		segments = segments[:len(segments)-1]
	}
	return segments
}

// segmentRewriter writes the rewritten segments of one pass. Its buffers
// hold one batch, reused from batch to batch: the cleaner's memory is a
// batch's, never a segment's.
type segmentRewriter struct {
	dir           string // cleaning/
	plan          *cleanPlan
	latest        map[keyDigest]Offset // key → offset of its newest record
	deleteHorizon int64                // tombstones in clean segments older than this go
	filter        segment.FilterScratch
	// out holds one filtered batch; copied one batch before the first
	// that loses a record, copied unchanged.
	out, copied []byte
}

// rewriteSegment filters s's batches against the offset map and, if any
// record goes, writes the segment anew under cleaning/ and seals it. It
// reports whether it did.
func (w *segmentRewriter) rewriteSegment(s *segment.Segment, stats *CleanStats) (bool, error) {
	b := s.Bytes(0)
	stats.BytesRead += int64(len(b))
	newest := s.LargestTimestamp()
	if newest < 0 {
		newest = fileModifiedMillis(s.Path(), w.plan.now)
	}
	dropTombstones := s.NextOffset() <= w.plan.firstDirty && newest < w.deleteHorizon
	removedHere := int64(0)
	// writing is the rewritten segment being written, closed on an error.
	var writing *segment.Segment
	defer func() {
		if writing != nil {
			writing.Close()
		}
	}()
	for position := int64(0); position < int64(len(b)); {
		batchStart := position
		h, batch, err := wholeBatchAt(b, position)
		if err != nil {
			return false, fmt.Errorf("%s at %d: %w", s.Path(), position, err)
		}
		position += h.TotalBytes()
		lastOfSegment := position >= int64(len(b))
		keepEmpty := lastOfSegment || (h.ProducerID >= 0 && w.plan.producerLast[h.ProducerID] == h.BaseOffset)
		var removed int
		w.out, _, removed, err = segment.FilterBatch(w.out[:0], batch, &w.filter, recordsDecompressedBytesMax, keepEmpty, func(r segment.RecordPosition) bool {
			if r.Key == nil {
				return false
			}
			if newer, ok := w.latest[digestKey(r.Key)]; ok && newer > r.Offset {
				return false
			}
			return r.Value != nil || !dropTombstones
		})
		if err != nil {
			return false, fmt.Errorf("%s: batch at %d: %w", s.Path(), h.BaseOffset, err)
		}
		removedHere += int64(removed)
		if removed > 0 && writing == nil {
			// The segment's first lost record: it is written anew, from
			// the batches before this one, unchanged.
			if writing, err = w.startRewrite(s, b[:batchStart]); err != nil {
				return false, err
			}
		}
		if writing != nil && len(w.out) > 0 {
			if err := appendCleaned(writing, w.out, w.plan.now); err != nil {
				return false, err
			}
		}
	}
	if writing == nil {
		return false, nil // nothing to remove: the segment stays as it is
	}
	written := writing.Size()
	err := sealCleanedSegment(w.dir, s, writing)
	writing = nil
	if err != nil {
		return false, err
	}
	stats.Segments++
	stats.BytesWritten += written
	stats.RecordsRemoved += removedHere
	return true, nil
}

// startRewrite creates the rewritten segment of original and copies into
// it, unchanged, the batches of before (the original's bytes ahead of its
// first batch that loses a record). On an error nothing stays open.
func (w *segmentRewriter) startRewrite(original *segment.Segment, before []byte) (*segment.Segment, error) {
	writing, err := createCleanedSegment(w.dir, original, w.plan.segmentConfig)
	if err != nil {
		return nil, err
	}
	for p := int64(0); p < int64(len(before)); {
		ph, err := segment.ParseHeader(before[p:])
		if err != nil {
			writing.Close()
			return nil, fmt.Errorf("%s at %d: %w", original.Path(), p, err)
		}
		w.copied = append(w.copied[:0], before[p:p+ph.TotalBytes()]...)
		p += ph.TotalBytes()
		if err := appendCleaned(writing, w.copied, w.plan.now); err != nil {
			writing.Close()
			return nil, err
		}
	}
	return writing, nil
}

// createCleanedSegment creates the rewritten segment of original in dir.
// Its size is not known until it is written (a recompressed batch may even
// outgrow the original's): it is written with pwrite, without
// preallocation, into a file that grows as it is written, under the
// format's largest size, and Seal cuts it to what it holds.
func createCleanedSegment(dir string, original *segment.Segment, cfg segment.Config) (*segment.Segment, error) {
	cfg.SegmentBytes = segment.SegmentBytesMax
	cfg.WriteMode = segment.WritePwrite
	cfg.Preallocate = false
	cfg.Faults = nil
	return segment.Create(dir, original.BaseOffset(), cfg)
}

// wholeBatchAt parses the batch at position of a segment's bytes and
// returns it whole, or why it is not.
func wholeBatchAt(b []byte, position int64) (segment.Header, []byte, error) {
	h, err := segment.ParseHeader(b[position:])
	if err == nil && h.TotalBytes() > int64(len(b))-position {
		err = segment.ErrBatchLength
	}
	if err != nil {
		return h, nil, err
	}
	return h, b[position : position+h.TotalBytes()], nil
}

// appendCleaned appends one whole, stamped batch (which it may stamp again
// in place, with the same values) to a rewritten segment: indexes built as
// appends build them.
func appendCleaned(s *segment.Segment, batch []byte, now int64) error {
	h, err := segment.ParseHeader(batch)
	if err != nil {
		return err
	}
	if err := s.AppendStored(batch[:h.TotalBytes()], &h, now); err != nil {
		return fmt.Errorf("cleaned segment %s: batch at %d: %w", s.Path(), h.BaseOffset, err)
	}
	return nil
}

// sealCleanedSegment seals (syncs and cuts) and closes a rewritten segment,
// and gives its .log the original's modification time.
func sealCleanedSegment(dir string, original, s *segment.Segment) error {
	err := s.Seal()
	s.Close()
	if err != nil {
		return err
	}
	if info, err := os.Stat(original.Path()); err == nil {
		os.Chtimes(filepath.Join(dir, segment.FileName(original.BaseOffset(), segment.LogSuffix)), info.ModTime(), info.ModTime())
	}
	return nil
}

// cleanerSwapHook, when set by a test, is called at each step of the swap
// and stops it (simulating a crash there) when it returns false.
var cleanerSwapHook func(step int) bool

func swapStep(step int) bool { return cleanerSwapHook == nil || cleanerSwapHook(step) }

// errSwapStopped is how a test's hook stops finishCleanedSwap.
var errSwapStopped = errors.New("engine: swap stopped by a test hook")

// swapCleaned commits a pass (steps 3 to 6 of the list at the top). Writer
// only.
func (l *Log) swapCleaned(plan *cleanPlan, cleaned []Offset, dirtyEnd Offset) error {
	l.checkWriter("Log.swapCleaned")
	if l.closed || l.Err() != nil {
		return ErrCleanAborted
	}
	// 3.
	list := l.segments.Load()
	published := make(map[*segment.Segment]int, len(list.segments))
	for i, s := range list.segments {
		published[s] = i
	}
	for _, s := range plan.segments {
		if _, ok := published[s]; !ok || s == l.active {
			return ErrCleanAborted
		}
	}
	if !swapStep(3) {
		return nil
	}
	cleaningDir, cleanedDir := filepath.Join(l.dir, cleaningDirName), filepath.Join(l.dir, cleanedDirName)
	if err := os.Rename(cleaningDir, cleanedDir); err != nil {
		return l.fail(err)
	}
	if err := segment.SyncDir(l.dir); err != nil {
		return l.fail(err)
	}
	if !swapStep(4) {
		return nil
	}
	// 4.
	if err := finishCleanedSwap(l.dir, func(step int) bool { return swapStep(40 + step) }); errors.Is(err, errSwapStopped) {
		return nil
	} else if err != nil {
		return l.fail(err)
	}
	if !swapStep(5) {
		return nil
	}
	// 5.
	segments := append([]*segment.Segment(nil), list.segments...)
	var retired []*segment.Segment
	for _, base := range cleaned {
		i := list.find(base)
		old := segments[i]
		if old.BaseOffset() != base {
			return l.fail(fmt.Errorf("cleaned segment %d has no original", base))
		}
		fresh, report, err := segment.Open(l.dir, base, l.segmentConfig(), true)
		if err != nil {
			return l.fail(err)
		}
		if report.Corrupt || fresh.NextOffset() != old.NextOffset() {
			fresh.Close()
			return l.fail(fmt.Errorf("cleaned segment %s does not reopen whole (%s; next offset %d, the original's %d)", fresh.Path(), report, fresh.NextOffset(), old.NextOffset()))
		}
		segments[i] = fresh
		retired = append(retired, old)
	}
	l.segments.Store(&segmentList{segments: segments})
	l.checkInvariants()
	for _, s := range retired {
		s.Retire(false)
	}
	// 6.
	if dirtyEnd > l.cleanerCheckpoint {
		l.cleanerCheckpoint = dirtyEnd
		if err := writeOffsetFile(filepath.Join(l.dir, cleanerCheckpointFileName), dirtyEnd); err != nil {
			l.logger.Warn("could not write the cleaner checkpoint; the next pass cleans again from the old one", "error", err)
		}
	}
	return nil
}

// finishCleanedSwap moves the files of a committed pass (cleaned/) over the
// originals, syncs the directory and removes cleaned/: step 4, run again at
// open when a crash interrupted it. Renaming a file that was moved already
// is skipped, so it can run any number of times. step, when not nil, may
// stop it after n files (tests simulate a crash there).
func finishCleanedSwap(dir string, step func(int) bool) error {
	cleanedDir := filepath.Join(dir, cleanedDirName)
	entries, err := os.ReadDir(cleanedDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	// Indexes first, each .log last: a .log is what makes a segment.
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), segment.LogSuffix) {
			names = append(names, e.Name())
		}
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), segment.LogSuffix) {
			names = append(names, e.Name())
		}
	}
	for i, name := range names {
		if step != nil && !step(i) {
			return errSwapStopped
		}
		if err := os.Rename(filepath.Join(cleanedDir, name), filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	if err := segment.SyncDir(dir); err != nil {
		return err
	}
	if err := os.RemoveAll(cleanedDir); err != nil {
		return err
	}
	return segment.SyncDir(dir)
}

// resolveCleaner finishes or forgets an interrupted pass before a log
// opens: a cleaning/ directory never committed and is removed; a cleaned/
// directory committed and is moved in.
func resolveCleaner(dir string) error {
	if err := os.RemoveAll(filepath.Join(dir, cleaningDirName)); err != nil {
		return err
	}
	return finishCleanedSwap(dir, nil)
}

// CleanerCheckpoint is the offset below which the log is clean. Writer only.
func (l *Log) CleanerCheckpoint() Offset {
	l.checkWriter("Log.CleanerCheckpoint")
	return l.cleanerCheckpoint
}

// segmentConfig is the config to open this log's existing segments with:
// gaps between batches are accepted below the cleaner's checkpoint (what
// a pass cleaned), and anywhere in a compacted topic (its standby copies
// the leader's cleaned ranges, and a pass's swap lands before its
// checkpoint); elsewhere a gap is damage. Writer only.
func (l *Log) segmentConfig() segment.Config {
	l.checkWriter("Log.segmentConfig")
	c := l.cfg.Segment
	c.GapsBelow = l.cleanerCheckpoint
	if l.cfg.Cleanup&CleanupCompact != 0 {
		c.GapsBelow = math.MaxInt64
	}
	return c
}

// lowerCleanerCheckpoint moves the checkpoint down to end after a
// truncation, so batches appended again above end count as dirty. Writer
// only.
func (l *Log) lowerCleanerCheckpoint(end Offset) {
	l.checkWriter("Log.lowerCleanerCheckpoint")
	if l.cleanerCheckpoint <= end {
		return
	}
	l.cleanerCheckpoint = end
	if err := writeOffsetFile(filepath.Join(l.dir, cleanerCheckpointFileName), end); err != nil {
		l.logger.Warn("could not lower the cleaner checkpoint", "error", err)
	}
}
