// Package engine holds topics' partitions: the partition log (segments, log
// start offset, log end offset, high watermark, leader epochs), its recovery
// at open, retention, DeleteRecords and truncation, and the shards whose
// goroutines run each partition's write path and group commit.
//
// The engine speaks plain Go values: a read returns file extents, never
// bytes, and errors are engine errors (see errors.go), which the wire package
// maps to Kafka's codes.
package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"spool/internal/invariants"
	"spool/segment"
)

// Offset is an absolute offset in a partition's log.
type Offset = segment.Offset

// The small files beside a partition's segments. Each is rewritten whole
// with segment.WriteFileAtomic.
const (
	// cleanShutdownFileName exists only between a clean close and the next
	// open: its presence lets the open trust every segment's file size.
	cleanShutdownFileName = "clean-shutdown"
	// recoveryPointFileName holds the offset below which every segment is
	// sealed and synced: an unclean open scans only from there.
	recoveryPointFileName = "recovery-point"
	// logStartOffsetFileName holds the log start offset, which DeleteRecords
	// and retention move and which must not move back after a crash.
	logStartOffsetFileName = "log-start-offset"
)

// segmentList is an immutable snapshot of a log's segments, oldest first.
// The writer publishes a new one for every roll, deletion or truncation;
// readers load it atomically and acquire the segments they read.
type segmentList struct {
	segments []*segment.Segment
}

// find returns the index of the segment that would hold offset: the last one
// whose base offset is ≤ offset (0 when offset precedes them all).
func (l *segmentList) find(offset Offset) int {
	i := sort.Search(len(l.segments), func(i int) bool { return l.segments[i].BaseOffset() > offset })
	if i > 0 {
		i--
	}
	return i
}

// Log is one partition's log.
//
// Ownership: one writer, the shard that owns the partition, calls Append,
// Flush, Roll, TruncateTo, DeleteRecords, ApplyRetention, AssignEpoch,
// SetConfig and Close (every method documented "Writer only"), without
// locks; until a shard adopts the log, whoever opened it is the writer.
// In invariants builds each of them asserts that it runs on the writer's
// goroutine (checkWriter). Any goroutine calls Read, ListOffset, the offset
// getters, Config, EndOffsetForEpoch and EpochHistory: what they read is
// published with atomics or as immutable snapshots.
type Log struct {
	dir    string
	cfg    LogConfig // writer only; readers load config
	logger *slog.Logger
	// config is a copy of cfg for any goroutine (Config), replaced whole
	// by SetConfig.
	config atomic.Pointer[LogConfig]

	// Published by the writer, read by anyone.
	segments       atomic.Pointer[segmentList]
	logStartOffset atomic.Int64
	logEndOffset   atomic.Int64
	highWatermark  atomic.Int64
	durableOffset  atomic.Int64 // everything below is synced
	failure        atomic.Pointer[error]
	corruptions    atomic.Int64 // corrupt segments found at open (loud)
	// corruptSnapshots counts producer snapshots found corrupt (loud).
	corruptSnapshots atomic.Int64
	hwm              notifier // woken when the high watermark moves
	leo              notifier // woken when the log end offset moves

	// The standby's replica of this partition, set by the leader's
	// replication: while it is in sync, the high watermark is the smaller
	// of the two log end offsets (replica.go).
	followerInSync atomic.Bool
	followerEnd    atomic.Int64

	// closing is set by Close (the writer) and read by a cleaning pass on
	// the cleaner's goroutine, which then stops early.
	closing atomic.Bool
	// epochs is the leader-epoch history: set at open; the writer changes
	// it, and it publishes each version as an immutable snapshot that any
	// goroutine reads (epochs.go).
	epochs *epochCache

	// Writer only.
	//
	// owner is the writer's goroutine, which checkWriter asserts in
	// invariants builds (an empty struct otherwise).
	owner         invariants.Owner
	active        *segment.Segment
	recoveryPoint Offset
	closed        bool
	syncing       bool // a background sync (job) is in flight
	// deferSeals: a shard drives this log's appends and syncs, so a roll
	// leaves the old segment's seal and the recovery point to the next
	// sync job (set by the shard at the first append it handles).
	deferSeals bool
	// pendingSeal are rolled segments not yet sealed, oldest first; the
	// next sync job (or sealPending) seals them and then moves the
	// recovery point. Writer only.
	pendingSeal []*segment.Segment
	job         syncJob // owned by the sync worker while syncing
	// cacheDropped is the syncs' progress in dropping old bytes from the
	// page cache (cache.go), guarded by cacheMu.
	cacheMu      sync.Mutex
	cacheDropped cacheCursor
	producers    *producerState
	// snapshots are the offsets of the producer-state snapshots on disk,
	// ascending, all ≤ the log end offset.
	snapshots []Offset
	// snapshotWrite is the producer snapshot being written in the
	// background (nil when none): Roll encodes on the shard and leaves the
	// file write and its fsyncs to a goroutine; whatever next touches the
	// snapshots settles it first (settleProducerSnapshot).
	snapshotWrite *pendingSnapshot
	// cleanerCheckpoint is the offset below which the cleaner has
	// compacted the log (clean.go); persisted in cleaner-offset-checkpoint.
	cleanerCheckpoint Offset
	// keyScratch holds decompressed records for the key check of a
	// compacted topic's appends.
	keyScratch []byte
	// producersReplayed is how many batch headers the last load of the
	// producer state read (0 after a clean close); tests read it.
	producersReplayed int64
}

// OpenLog opens (or creates) the partition log in dir, recovering it if the
// last stop was unclean.
//
// The open, in order (one helper a step):
//  1. finish a committed cleaning pass or forget an uncommitted one (see
//     clean.go); remove temporary files and index files without a .log;
//     list the segments and the producer snapshots (clearLeftovers);
//  2. read the clean-shutdown marker, the recovery point, the log start
//     offset, the cleaner checkpoint and the leader-epoch checkpoint (a
//     damaged log start offset or cleaner checkpoint fails the open: see
//     readCheckpoints);
//  3. open every segment: trusted when the stop was clean or the segment lies
//     below the recovery point, scanned otherwise (openSegments);
//  4. at the first segment that is corrupt, torn while not last, or not
//     contiguous with the one before, keep what is valid and delete every
//     later segment (nothing after a gap can be served), loudly
//     (deleteAfterCorruption);
//  5. delete segments wholly below the log start offset
//     (deleteBelowLogStart);
//  6. activate the last segment (or create one) and publish the offsets
//     (activateAndPublish);
//  7. cut the epoch history at the log end offset; load the idempotent
//     producers' state: the newest sound snapshot at or below the log end
//     offset plus the batch headers after it, or without one the recent
//     segments' batch headers (cutEpochsAndLoadProducers, loadProducers);
//  8. write the recovery point and remove the clean-shutdown marker, both
//     durably, before the first append can happen (markOpen);
//  9. drop what lies beyond the page-cache window (what the recovery scan
//     and the producer replay read, or an earlier run left cached) and set
//     the segments' cold ends, so a catch-up read of an idle partition
//     drops what it reads even before its first sync (dropColdCache).
func OpenLog(dir string, cfg LogConfig) (*Log, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	l := &Log{dir: dir, cfg: cfg, logger: cfg.Logger.With("partition", filepath.Base(dir))}
	l.owner.Bind() // the opener is the writer until a shard adopts the log
	l.config.Store(&cfg)
	l.hwm.init()
	l.leo.init()

	// 1.
	bases, err := l.clearLeftovers()
	if err != nil {
		return nil, err
	}
	// 2.
	clean, recoveryPoint, logStart, err := l.readCheckpoints()
	if err != nil {
		return nil, err
	}
	// 3.
	segments, problem, err := l.openSegments(bases, clean, recoveryPoint)
	if err != nil {
		return nil, err
	}
	closeAll := func() {
		for _, s := range segments {
			s.Close()
		}
	}
	// 4.
	if problem != nil {
		l.deleteAfterCorruption(*problem)
	}
	// 5.
	segments = deleteBelowLogStart(segments, logStart)
	// 6.
	if segments, err = l.activateAndPublish(segments, logStart); err != nil {
		closeAll()
		return nil, err
	}
	// 7.
	if err := l.cutEpochsAndLoadProducers(); err != nil {
		closeAll()
		return nil, err
	}
	// 8.
	if err := l.markOpen(clean); err != nil {
		closeAll()
		return nil, err
	}
	// 9.
	l.dropColdCache(l.active, l.active.Size())
	return l, nil
}

// clearLeftovers is step 1 of OpenLog: it resolves an interrupted cleaning
// pass, removes leftovers (listSegments) and lists the producer snapshots
// into l.snapshots. It returns the segments' base offsets, ascending.
func (l *Log) clearLeftovers() ([]Offset, error) {
	if err := resolveCleaner(l.dir); err != nil {
		return nil, err
	}
	bases, err := l.listSegments()
	if err != nil {
		return nil, err
	}
	if l.snapshots, err = listProducerSnapshots(l.dir); err != nil {
		return nil, err
	}
	return bases, nil
}

// readCheckpoints is step 2 of OpenLog: it reports whether the last stop
// was clean (the clean-shutdown marker), reads the recovery point and the
// log start offset, and loads the cleaner checkpoint (into
// l.cleanerCheckpoint) and the leader-epoch checkpoint (into l.epochs).
// Each offset's fallback when its file is missing or damaged is chosen by
// which way is safe for it:
//
//   - recovery point: lower is always safe (it only says what the open may
//     trust without a scan), so a missing file is 0, a full scan, and so is
//     a damaged one, loudly: the scan rebuilds what it stood for.
//   - log start offset: lower is never safe, since it would expose records
//     DeleteRecords or retention removed, and nothing else on disk records
//     it (the segments prove only a floor: the first one's base). A missing
//     file is a log whose start never moved (0, raised to the first
//     segment's base by the open); a damaged one fails the open, as Kafka
//     fails a log directory whose log-start-offset checkpoint is corrupt.
//   - cleaner checkpoint: a missing file is a log never cleaned, 0, which
//     is also safe for one cleaned before (the next pass recleans, and
//     tombstones outlive their delete.retention.ms, never the reverse; a
//     compacted topic accepts gaps anywhere, see segmentConfig). A damaged
//     one fails the open: no value is safe both ways, since the cleaner
//     wants it low (tombstones are dropped only below it) and a topic
//     compacted once and now delete-only wants it high (a scan accepts the
//     cleaned gaps only below it, and would call any above it corruption
//     and delete every later segment).
//
// A malformed leader-epoch checkpoint fails the open too (loadEpochCache).
func (l *Log) readCheckpoints() (clean bool, recoveryPoint, logStart Offset, err error) {
	_, markerErr := os.Stat(filepath.Join(l.dir, cleanShutdownFileName))
	clean = markerErr == nil
	recoveryPoint, err = readOffsetFile(filepath.Join(l.dir, recoveryPointFileName))
	if errors.Is(err, errCheckpointFile) {
		l.logger.Error("recovery point unreadable; scanning every segment", "error", err)
		recoveryPoint, err = 0, nil
	}
	if err != nil {
		return false, 0, 0, err
	}
	if logStart, err = readOffsetFile(filepath.Join(l.dir, logStartOffsetFileName)); err != nil {
		return false, 0, 0, err
	}
	if l.cleanerCheckpoint, err = readOffsetFile(filepath.Join(l.dir, cleanerCheckpointFileName)); err != nil {
		return false, 0, 0, err
	}
	if l.epochs, err = loadEpochCache(filepath.Join(l.dir, epochFileName)); err != nil {
		return false, 0, 0, err
	}
	return clean, recoveryPoint, logStart, nil
}

// segmentProblem is the first segment OpenLog cannot keep whole: what is
// wrong with it, and the bases of the segments after it.
type segmentProblem struct {
	detail string
	later  []Offset
}

// openSegments is step 3 of OpenLog: it opens the segments in bases,
// trusting those the stop or the recovery point vouches for and scanning
// the rest, and stops at the first one that is corrupt, torn while not
// last, or not contiguous with the one before (keeping its valid prefix
// unless it is not contiguous). It returns the segments kept and, if it
// stopped early, the problem for step 4. On an error nothing stays open.
func (l *Log) openSegments(bases []Offset, clean bool, recoveryPoint Offset) ([]*segment.Segment, *segmentProblem, error) {
	var segments []*segment.Segment
	for i, base := range bases {
		trusted := clean || (i+1 < len(bases) && bases[i+1] <= recoveryPoint)
		s, report, err := segment.Open(l.dir, base, l.segmentConfig(), trusted)
		if err != nil {
			for _, s := range segments {
				s.Close()
			}
			return nil, nil, err
		}
		last := i == len(bases)-1
		problem := ""
		switch {
		case report.Corrupt:
			problem = report.String()
		case report.StopReason != nil && !last:
			problem = "torn tail in a segment that is not the last: " + report.String()
		case len(segments) > 0 && s.BaseOffset() != segments[len(segments)-1].NextOffset():
			problem = fmt.Sprintf("segment %s starts at %d but the one before ends at %d", s.Path(), s.BaseOffset(), segments[len(segments)-1].NextOffset())
			s.Close()
			s = nil
		}
		if report.TrustedFailed != nil {
			l.logger.Warn("segment failed its open-time check and was rescanned", "segment", report.Path, "reason", report.TrustedFailed)
		} else if report.Scanned && report.StopReason != nil && problem == "" {
			l.logger.Info("recovery cut a torn tail", "detail", report.String())
		}
		if s != nil {
			segments = append(segments, s)
		}
		if problem != "" {
			return segments, &segmentProblem{detail: problem, later: bases[i+1:]}, nil
		}
	}
	return segments, nil, nil
}

// deleteAfterCorruption is step 4 of OpenLog: it counts and reports the
// problem loudly and deletes every segment after it, since nothing after
// a gap can be served.
func (l *Log) deleteAfterCorruption(problem segmentProblem) {
	l.corruptions.Add(1)
	l.logger.Error("LOG CORRUPTION: keeping the valid prefix and deleting every later segment", "detail", problem.detail, "later_segments", len(problem.later))
	for _, later := range problem.later {
		removeSegmentFiles(l.dir, later)
	}
}

// deleteBelowLogStart is step 5 of OpenLog: it retires the segments wholly
// below the log start offset, keeping at least one.
func deleteBelowLogStart(segments []*segment.Segment, logStart Offset) []*segment.Segment {
	for len(segments) > 1 && segments[0].NextOffset() <= logStart {
		segments[0].Retire(true)
		segments = segments[1:]
	}
	return segments
}

// activateAndPublish is step 6 of OpenLog: it activates the last segment,
// or creates one at the log start offset when there is none, and publishes
// the segment list and the offsets. The log start offset is kept within
// what the segments hold: never below the first segment's base, never past
// the log end offset. It returns the segments, the created one included.
func (l *Log) activateAndPublish(segments []*segment.Segment, logStart Offset) ([]*segment.Segment, error) {
	if len(segments) == 0 {
		s, err := segment.Create(l.dir, max(logStart, 0), l.cfg.Segment)
		if err != nil {
			return nil, err
		}
		segments = append(segments, s)
	} else if err := segments[len(segments)-1].Activate(); err != nil {
		return segments, err
	}
	l.active = segments[len(segments)-1]
	end := l.active.NextOffset()
	logStart = max(logStart, segments[0].BaseOffset())
	logStart = min(logStart, end)
	l.logStartOffset.Store(int64(logStart))
	l.logEndOffset.Store(int64(end))
	l.highWatermark.Store(int64(end))
	l.durableOffset.Store(int64(end))
	l.segments.Store(&segmentList{segments: segments})
	l.checkInvariants()
	l.cleanerCheckpoint = min(l.cleanerCheckpoint, l.active.BaseOffset())
	return segments, nil
}

// cutEpochsAndLoadProducers is step 7 of OpenLog: it forgets the epochs
// that start at or past the log end offset and loads the idempotent
// producers' state (loadProducers).
func (l *Log) cutEpochsAndLoadProducers() error {
	if err := l.epochs.truncateFromEnd(l.LogEndOffset()); err != nil {
		return err
	}
	return l.loadProducers()
}

// markOpen is step 8 of OpenLog: it writes the recovery point (the active
// segment's base) and, after a clean stop, removes the clean-shutdown
// marker, durably, so that a crash from now on makes the next open scan
// the active segment.
func (l *Log) markOpen(clean bool) error {
	l.recoveryPoint = l.active.BaseOffset()
	if err := writeOffsetFile(filepath.Join(l.dir, recoveryPointFileName), l.recoveryPoint); err != nil {
		return err
	}
	if !clean {
		return nil
	}
	if err := os.Remove(filepath.Join(l.dir, cleanShutdownFileName)); err != nil {
		return err
	}
	return segment.SyncDir(l.dir)
}

// listSegments returns the base offsets of the .log files in dir, ascending,
// after removing leftovers: temporary files and indexes without a log.
func (l *Log) listSegments() ([]Offset, error) {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, err
	}
	logs := map[string]bool{}
	var bases []Offset
	for _, e := range entries {
		if base, ok := segment.ParseFileName(e.Name()); ok {
			bases = append(bases, base)
			logs[strings.TrimSuffix(e.Name(), segment.LogSuffix)] = true
		}
	}
	for _, e := range entries {
		name := e.Name()
		stem := strings.TrimSuffix(strings.TrimSuffix(name, segment.IndexSuffix), segment.TimeIndexSuffix)
		switch {
		case strings.HasSuffix(name, ".tmp"):
			os.Remove(filepath.Join(l.dir, name))
		case (strings.HasSuffix(name, segment.IndexSuffix) || strings.HasSuffix(name, segment.TimeIndexSuffix)) && !logs[stem]:
			os.Remove(filepath.Join(l.dir, name))
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

func removeSegmentFiles(dir string, base Offset) {
	for _, suffix := range []string{segment.LogSuffix, segment.IndexSuffix, segment.TimeIndexSuffix} {
		os.Remove(filepath.Join(dir, segment.FileName(base, suffix)))
	}
}

// errCheckpointFile says a checkpoint file beside the segments holds
// something writeOffsetFile never writes.
var errCheckpointFile = errors.New("engine: malformed checkpoint file")

// readOffsetFile reads a checkpoint that writeOffsetFile wrote: the offset in
// decimal digits and a newline, nothing else; 0 when the file does not
// exist. A file that exists and holds anything else (empty, cut
// before its newline, garbage, a sign) is errCheckpointFile: the files are
// replaced whole by segment.WriteFileAtomic, so a crash cannot leave one
// like that, and what it held cannot be known. What a missing or damaged
// file means is the caller's to decide (see readCheckpoints): no single
// fallback is safe for all of them.
func readOffsetFile(path string) (Offset, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	digits, ok := strings.CutSuffix(string(data), "\n")
	if !ok || digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, fmt.Errorf("%s: %w: %q", path, errCheckpointFile, data)
	}
	value, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w: %q", path, errCheckpointFile, data)
	}
	return Offset(value), nil
}

func writeOffsetFile(path string, offset Offset) error {
	return segment.WriteFileAtomic(path, []byte(strconv.FormatInt(int64(offset), 10)+"\n"))
}

// Dir is the partition's directory.
func (l *Log) Dir() string { return l.dir }

// LogStartOffset is the first offset a consumer may read. Any goroutine.
func (l *Log) LogStartOffset() Offset { return Offset(l.logStartOffset.Load()) }

// LogEndOffset is the offset the next batch gets. Any goroutine.
func (l *Log) LogEndOffset() Offset { return Offset(l.logEndOffset.Load()) }

// HighWatermark is the end of what consumers may read: the log end offset,
// or while a standby is in sync the smaller of its end and ours (see
// replica.go). Any goroutine.
func (l *Log) HighWatermark() Offset { return Offset(l.highWatermark.Load()) }

// LastStableOffset is the end of what read_committed consumers may read;
// it equals the high watermark until transactions exist. Any goroutine.
func (l *Log) LastStableOffset() Offset { return l.HighWatermark() }

// DurableOffset is the end of what is synced to disk. Any goroutine.
func (l *Log) DurableOffset() Offset { return Offset(l.durableOffset.Load()) }

// Corruptions counts corrupt segments found when the log was opened.
func (l *Log) Corruptions() int64 { return l.corruptions.Load() }

// CorruptSnapshots counts producer-state snapshots found corrupt (and
// ignored) since the log was opened.
func (l *Log) CorruptSnapshots() int64 { return l.corruptSnapshots.Load() }

// Err is the sticky error of a failed write or sync, or nil.
func (l *Log) Err() error {
	if p := l.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// fail records err as the log's sticky error: from now on every write
// answers it. A failed write or sync is never retried as if nothing had
// happened, since the kernel may have dropped the dirty pages.
func (l *Log) fail(err error) error {
	wrapped := fmt.Errorf("%w: %w", ErrStorage, err)
	if l.failure.CompareAndSwap(nil, &wrapped) {
		l.logger.Error("partition failed; it refuses writes until restarted", "error", err)
		l.hwm.wake()
		l.leo.wake()
	}
	return l.Err()
}

// checkWriter asserts, in invariants builds, that the calling goroutine is
// the log's writer: the goroutine of the shard that runs it, or, before a
// shard adopts the log, the one that opened it (the first call from a
// shard's goroutine adopts it; a stopped shard's logs pass to whoever
// calls next: see invariants.Owner). what names the method. It costs
// nothing in other builds.
func (l *Log) checkWriter(what string) { l.owner.Check(what) }

// checkInvariants verifies, in invariants builds, that the published segment
// list is sorted, contiguous and agrees with the published offsets.
func (l *Log) checkInvariants() {
	if !invariants.Enabled {
		return
	}
	list := l.segments.Load()
	for i := 1; i < len(list.segments); i++ {
		if prev, s := list.segments[i-1], list.segments[i]; s.BaseOffset() != prev.NextOffset() {
			invariants.Failf("segments not contiguous: %s ends at %d, %s starts at %d", prev.Path(), prev.NextOffset(), s.Path(), s.BaseOffset())
		}
	}
	if last := list.segments[len(list.segments)-1]; last.NextOffset() != l.LogEndOffset() {
		invariants.Failf("log end offset %d but last segment ends at %d", l.LogEndOffset(), last.NextOffset())
	}
	if l.LogStartOffset() < list.segments[0].BaseOffset() || l.LogStartOffset() > l.LogEndOffset() {
		invariants.Failf("log start offset %d outside [%d, %d]", l.LogStartOffset(), list.segments[0].BaseOffset(), l.LogEndOffset())
	}
}
