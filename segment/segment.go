// Package segment owns one segment of a partition's log: the .log file of
// Kafka RecordBatches (preallocated and mapped), its two sparse indexes, batch
// validation and stamping, read planning, sealing, truncation and the
// crash-recovery scan.
//
// # Ownership
//
// A segment has one writer, the shard that owns its partition: Append, Sync,
// Seal, Activate, TruncateTo and Recover are the writer's alone and take no
// locks. Any goroutine may call Plan, FindTimestamp, Size, NextOffset,
// MaxTimestamp and the header readers while the writer works: the writer
// copies bytes below the published size first and publishes the new size and
// next offset with atomic stores after, so a reader that loads them sees the
// bytes (Go's memory model: the store happens before the load that observes
// it). Readers never look at bytes at or past the size they loaded.
//
// # Mapping and file size
//
// The .log is mapped once, at open, over max(file size, segment.bytes), and
// never remapped. The file's size changes under the mapping (fallocate on
// activation, ftruncate on seal and truncation), which is safe because no
// access reaches past the published size, and every byte below it lies inside
// the file. This trades virtual address space (segment.bytes per segment) for
// never having to unmap while a reader may hold the mapping.
package segment

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/edsrzf/mmap-go"

	"spool/index"
	"spool/internal/invariants"
	"spool/internal/metrics"
	"spool/linux"
)

// Offset is an absolute offset in a partition's log.
type Offset int64

// Position is a byte position in a segment's .log file.
type Position = index.Position

// File name suffixes and the width of the base offset in names (Kafka's).
const (
	LogSuffix       = ".log"
	IndexSuffix     = ".index"
	TimeIndexSuffix = ".timeindex"
	baseOffsetWidth = 20
)

// Limits and defaults of the segment format.
const (
	// SegmentBytesMax keeps every position in the 4-byte field of the offset
	// index (Kafka caps segment.bytes at 2 GiB - 1 for the same reason).
	SegmentBytesMax = 1<<31 - 1
	// SegmentBytesMin leaves room for a batch header and a record.
	SegmentBytesMin           = 1 << 12
	SegmentBytesDefault       = 1 << 30
	IndexBytesDefault         = 10 << 20
	IndexIntervalBytesDefault = 4096
)

// WriteMode chooses how appended batches reach the .log file.
type WriteMode int

const (
	// WritePwrite copies each batch with pwrite into the preallocated file
	// (the page cache; the mapping sees the same pages). The default, by
	// measurement: see docs/PERFORMANCE.md.
	WritePwrite WriteMode = iota
	// WriteMmap copies each batch into the shared mapping.
	WriteMmap
)

func (m WriteMode) String() string {
	if m == WriteMmap {
		return "mmap"
	}
	return "pwrite"
}

// Config holds what a segment needs to know about its partition's settings.
type Config struct {
	SegmentBytes       int64 // capacity of a .log (segment.bytes)
	IndexBytes         int64 // capacity of each index (segment.index.bytes)
	IndexIntervalBytes int64 // bytes between offset index entries (index.interval.bytes)
	WriteMode          WriteMode
	// Preallocate fallocates each new .log to SegmentBytes when it becomes
	// active (Kafka's preallocate, default false). The mmap write mode
	// always preallocates: a store into a page the file does not cover
	// would be SIGBUS instead of an error. Without it the pwrite mode
	// allocates allocateAheadBytes past its writes as it goes, so a new
	// partition costs its indexes' blocks and a few MiB rather than
	// segment.bytes of disk, and a full disk is an ENOSPC from the write.
	Preallocate bool
	// CacheWindowBytes bounds what a partition keeps in the page cache:
	// the newest this many bytes of its log. Once durable, older bytes are
	// dropped from the cache (the engine's sync job calls DropCache), and a
	// read of bytes below that point drops what it read. 0 leaves the page
	// cache to the kernel. See DropCache for why.
	CacheWindowBytes int64
	// GapsBelow: a recovery scan accepts a batch that starts past the end
	// of the one before only when it starts below this offset. Compaction
	// removes batches, so cleaned ranges have gaps; anywhere else a gap is
	// damage (a batch's base offset lies outside its CRC, so a torn or
	// flipped base offset shows only as a jump). The engine sets it to
	// the cleaner's checkpoint, or past every offset for compacted topics
	// (a standby copies its leader's gaps); zero allows none.
	GapsBelow Offset
	Faults    Faults // nil in production
}

// WithDefaults fills zero fields with Kafka's defaults.
func (c Config) WithDefaults() Config {
	if c.SegmentBytes == 0 {
		c.SegmentBytes = SegmentBytesDefault
	}
	if c.IndexBytes == 0 {
		c.IndexBytes = IndexBytesDefault
	}
	if c.IndexIntervalBytes == 0 {
		c.IndexIntervalBytes = IndexIntervalBytesDefault
	}
	return c
}

// Validate reports a setting outside its limits.
func (c Config) Validate() error {
	if c.SegmentBytes < SegmentBytesMin || c.SegmentBytes > SegmentBytesMax {
		return fmt.Errorf("segment.bytes %d outside [%d, %d]", c.SegmentBytes, SegmentBytesMin, SegmentBytesMax)
	}
	if c.IndexBytes < 4096 {
		return fmt.Errorf("segment.index.bytes %d below 4096", c.IndexBytes)
	}
	if c.IndexIntervalBytes < 1 {
		return fmt.Errorf("index.interval.bytes %d below 1", c.IndexIntervalBytes)
	}
	return nil
}

// Errors a segment returns.
var (
	// ErrFull says the batch does not fit: the caller rolls a new segment.
	ErrFull = errors.New("segment: full")
	// ErrSealed says the segment no longer takes appends.
	ErrSealed = errors.New("segment: sealed")
	// ErrOffsetOutOfOrder says a batch's offset is not the segment's next.
	ErrOffsetOutOfOrder = errors.New("segment: batch offset is not the next offset")
	// ErrClosed says the segment has been retired and closed.
	ErrClosed = errors.New("segment: closed")
)

// Extent is a byte range of a segment file that holds whole batches. The file
// stays open while the segment is acquired (see Acquire).
type Extent struct {
	File     *os.File
	Position int64
	Length   int64
	// Cold: the extent lies below its segment's cold end (DropCache), so
	// whoever sends it should drop the pages it read once they are sent.
	Cold bool
}

// Segment is one .log file and its indexes. See the package comment for who
// may call what.
type Segment struct {
	// Set at open, never changed.
	base    Offset
	dir     string
	cfg     Config
	log     *os.File
	mapping mmap.MMap // len = max(file size at open, cfg.SegmentBytes)
	offsets *index.OffsetIndex
	times   *index.TimeIndex

	// Published by the writer with atomic stores; read by anyone.
	size       atomic.Int64 // bytes of whole, valid batches
	coldEnd    atomic.Int64 // bytes below were dropped from the page cache (DropCache)
	nextOffset atomic.Int64 // offset after the last batch
	maxTime    maxTimestamp

	// Lifecycle: bit 62 set once retired, low bits count acquirers.
	state atomic.Int64

	// Writer only.
	sealed            bool
	syncedSize        int64 // bytes known durable
	bytesSinceIndex   int64
	firstAppendMillis int64 // wall time of the first append since activation, for segment.ms
	populatedEnd      int64 // mmap mode: pages below are faulted in writable
	allocatedEnd      int64 // pwrite mode: the file's blocks are allocated below this
}

// populateAheadBytes is how far ahead of the write position the mmap path
// faults pages in with one madvise(MADV_POPULATE_WRITE), rather than taking
// a page fault per 4 KiB page on first store.
const populateAheadBytes = 4 << 20

// populateAhead faults in the pages from the populated end to past end.
// Failure (an old kernel) is harmless: the stores fault the pages in.
func (s *Segment) populateAhead(end int64) {
	from := max(s.populatedEnd, s.size.Load())
	to := min(end+populateAheadBytes, int64(len(s.mapping)))
	if to > from {
		linux.Madvise(s.mapping[from:to], linux.AdvicePopulateWrite)
	}
	s.populatedEnd = to
}

const retiredBit = int64(1) << 62

// FileName is the name of a segment file: the base offset in 20 digits and
// a suffix, as Kafka names them.
func FileName(base Offset, suffix string) string {
	return fmt.Sprintf("%0*d%s", baseOffsetWidth, int64(base), suffix)
}

// ParseFileName returns the base offset of a .log file name.
func ParseFileName(name string) (Offset, bool) {
	if len(name) != baseOffsetWidth+len(LogSuffix) || filepath.Ext(name) != LogSuffix {
		return 0, false
	}
	var base int64
	for _, c := range name[:baseOffsetWidth] {
		if c < '0' || c > '9' {
			return 0, false
		}
		base = base*10 + int64(c-'0')
		if base < 0 {
			return 0, false
		}
	}
	return Offset(base), true
}

// Create makes a new, empty, active segment at base: the .log preallocated to
// segment.bytes, both indexes preallocated, and the directory synced so the
// names survive a crash. Files left at these names by an earlier failed
// attempt are replaced.
func Create(dir string, base Offset, cfg Config) (*Segment, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, FileName(base, LogSuffix))
	if err := cfg.inject(OpCreate, path); err != nil {
		return nil, err
	}
	for _, suffix := range []string{IndexSuffix, TimeIndexSuffix} {
		if err := os.Remove(filepath.Join(dir, FileName(base, suffix))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	s, err := open(dir, base, cfg, f)
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	if err := s.Activate(); err != nil {
		s.closeFiles()
		s.removeFiles()
		return nil, err
	}
	if err := SyncDir(dir); err != nil {
		s.closeFiles()
		return nil, err
	}
	return s, nil
}

// open maps f and opens the indexes; the sizes are not known yet.
func open(dir string, base Offset, cfg Config, f *os.File) (*Segment, error) {
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	mapBytes := cfg.SegmentBytes
	if info.Size() > mapBytes {
		mapBytes = info.Size()
	}
	if mapBytes > SegmentBytesMax {
		return nil, fmt.Errorf("segment %s: %d bytes exceeds the format's %d", f.Name(), mapBytes, int64(SegmentBytesMax))
	}
	mapping, err := mmap.MapRegion(f, int(mapBytes), mmap.RDWR, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("segment %s: map: %w", f.Name(), err)
	}
	s := &Segment{base: base, dir: dir, cfg: cfg, log: f, mapping: mapping}
	s.nextOffset.Store(int64(base))
	s.maxTime.store(timestampNone, base)
	if s.offsets, err = index.OpenOffsetIndex(filepath.Join(dir, FileName(base, IndexSuffix))); err != nil {
		s.closeFiles()
		return nil, err
	}
	if s.times, err = index.OpenTimeIndex(filepath.Join(dir, FileName(base, TimeIndexSuffix))); err != nil {
		s.closeFiles()
		return nil, err
	}
	return s, nil
}

// Activate makes the segment take appends: the .log is preallocated to
// segment.bytes when Config.Preallocate or the mmap write mode asks (an
// ENOSPC here is the caller's error, never a SIGBUS later), and the indexes
// to their capacity. Only the writer calls it, before the segment is the
// active one readers see.
func (s *Segment) Activate() error {
	path := s.log.Name()
	if err := s.cfg.inject(OpAllocate, path); err != nil {
		return err
	}
	if s.cfg.Preallocate || s.cfg.WriteMode == WriteMmap {
		capacity := int64(len(s.mapping))
		if err := linux.Allocate(s.log, 0, capacity); err != nil {
			return err
		}
		s.allocatedEnd = capacity
	} else {
		info, err := s.log.Stat()
		if err != nil {
			return err
		}
		s.allocatedEnd = info.Size()
	}
	if err := s.offsets.Grow(s.indexCapacity(index.OffsetEntryBytes)); err != nil {
		return err
	}
	if err := s.times.Grow(s.indexCapacity(index.TimeEntryBytes)); err != nil {
		return err
	}
	s.sealed = false
	s.syncedSize = s.size.Load()
	s.firstAppendMillis = 0
	return nil
}

// indexCapacity is the bytes an index of entryBytes entries reserves for
// this segment (fallocate'd by Grow). indexBatch adds an entry only after
// more than index.interval.bytes, and at least one batch, since the last
// one, so a .log of len(mapping) bytes never needs more than
// len(mapping)/max(interval+1, batch header)+1 entries (the time index
// adds one only beside an offset entry). segment.index.bytes, Kafka's
// capacity, caps it; for 1 GiB segments at Kafka's 4 KiB interval that
// is 2 MiB and 3 MiB instead of 10 MiB each, for small segments far less.
// An index that fills anyway rolls the segment, as at the cap.
func (s *Segment) indexCapacity(entryBytes int64) int64 {
	return indexCapacity(int64(len(s.mapping)), s.cfg, entryBytes)
}

func indexCapacity(logBytes int64, cfg Config, entryBytes int64) int64 {
	spacing := max(cfg.IndexIntervalBytes+1, BatchHeaderBytes)
	entries := logBytes/spacing + 2
	return max(min(cfg.IndexBytes, entries*entryBytes), entryBytes)
}

// BaseOffset is the offset of the segment's first batch.
func (s *Segment) BaseOffset() Offset { return s.base }

// Size is the number of bytes of whole batches. Any goroutine.
func (s *Segment) Size() int64 { return s.size.Load() }

// NextOffset is the offset after the segment's last batch. Any goroutine.
func (s *Segment) NextOffset() Offset { return Offset(s.nextOffset.Load()) }

// Capacity is the most bytes the segment can hold.
func (s *Segment) Capacity() int64 { return int64(len(s.mapping)) }

// Sealed reports whether the segment takes appends. Writer only.
func (s *Segment) Sealed() bool { return s.sealed }

// Path is the path of the .log file.
func (s *Segment) Path() string { return s.log.Name() }

// FirstAppendMillis is the wall-clock time of the first append since the
// segment became active, or 0. Writer only; the engine rolls on segment.ms.
func (s *Segment) FirstAppendMillis() int64 { return s.firstAppendMillis }

// Bytes returns the valid bytes [from, Size()) of the mapping, for readers
// that copy (dump, verify, the copy fetch path). Any goroutine, while acquired.
func (s *Segment) Bytes(from int64) []byte {
	size := s.size.Load()
	if from < 0 || from > size {
		return nil
	}
	return s.mapping[from:size:size]
}

// DropCache drops the page-cache pages that hold the bytes [from, to) of the
// .log: first from the segment's own mapping (a page a reader faulted in
// through it stays cached while it is mapped), then from the page cache. It
// records to as the cold end, so readers of bytes below it drop what they
// read as well (Extent.Cold). Dropping never loses data: a dirty page is not
// dropped, only queued for writeback; the bytes should be durable, or the
// call does nothing for them. Any goroutine, while the segment is acquired.
//
// The page cache may hold a file in large folios (up to 2 MiB), and the
// kernel drops a folio only when the range covers all of it, so the range
// is widened down to a dropAlignBytes boundary (dropping a dropped range
// again walks an empty tree), and a range that reaches the segment's size
// runs to the end of the file.
//
// Why drop at all: the kernel keeps every written page cached until memory
// runs short, so a broker writing into a machine with free memory takes a
// fresh page for every 4 KiB it stores. On a VM whose free memory is
// handed back to the host (virtio free page reporting, as on this
// project's machine) a fresh page costs a host fault, ~9 µs: writing into
// new page cache ran at 440 MB/s with sys time equal to wall time, while
// pages freed a moment earlier are reused at 5 GB/s. Dropping what lies
// beyond a partition's window frees pages that the next writes and reads
// reuse at once (docs/PERFORMANCE.md).
func (s *Segment) DropCache(from, to int64) {
	size := s.size.Load()
	to = min(to, size)
	if to > s.coldEnd.Load() {
		s.coldEnd.Store(to)
	}
	from = max(from, 0) &^ (dropAlignBytes - 1)
	if to <= from {
		return
	}
	length := to - from
	if to == size {
		length = math.MaxInt64 - from // through the end of the file
	}
	linux.Madvise(s.mapping[from:min(from+length, int64(len(s.mapping)))], linux.AdviceDontNeed)
	linux.DropCache(s.log, from, length)
}

// dropAlignBytes is the largest folio the page cache builds for a file on
// x86-64 (a PMD, 2 MiB); see DropCache.
const dropAlignBytes = 2 << 20

// ColdEnd is the end of the bytes DropCache dropped. Any goroutine.
func (s *Segment) ColdEnd() int64 { return s.coldEnd.Load() }

// Append writes one validated batch (h is its parsed header) at offset base,
// which must be the segment's next offset, stamping baseOffset and the leader
// epoch into b in place (both outside the CRC). Writer only.
//
// It returns ErrFull when the batch does not fit (the caller rolls and
// retries on a new segment), and the error of a failed write, which leaves
// the segment unchanged as far as readers can tell.
func (s *Segment) Append(b []byte, h *Header, base Offset, leaderEpoch int32, nowMillis int64) error {
	return s.append(b, h, base, leaderEpoch, nowMillis, false)
}

// AppendStored writes a batch that already lies in a log, stamped, at its
// own base offset, which may lie past the segment's next offset: compaction
// removes batches, so a cleaned segment, and a standby copying a compacted
// leader, have gaps between batches. Never before the next offset. Writer
// only; errors as Append's.
func (s *Segment) AppendStored(b []byte, h *Header, nowMillis int64) error {
	return s.append(b, h, h.BaseOffset, h.LeaderEpoch, nowMillis, true)
}

func (s *Segment) append(b []byte, h *Header, base Offset, leaderEpoch int32, nowMillis int64, gaps bool) error {
	if s.sealed {
		return ErrSealed
	}
	if s.size.Load() != 0 && (base < s.NextOffset() || (base != s.NextOffset() && !gaps)) {
		return ErrOffsetOutOfOrder
	}
	if s.size.Load() == 0 && base < s.base {
		return ErrOffsetOutOfOrder
	}
	position := s.size.Load()
	end := position + int64(len(b))
	if end > int64(len(s.mapping)) {
		return ErrFull
	}
	relative := int64(base - s.base)
	if relative < 0 || relative+int64(h.LastOffsetDelta) > int64(^uint32(0)) {
		// The relative offset must fit the 4-byte index field.
		return ErrFull
	}
	if s.offsets.Full() || s.times.Full() {
		return ErrFull
	}
	stampBatch(b, base, leaderEpoch)
	h.BaseOffset = base
	h.LeaderEpoch = leaderEpoch
	if err := s.write(b, position); err != nil {
		return err
	}
	if err := s.indexBatch(h, position); err != nil {
		return err
	}
	if s.firstAppendMillis == 0 {
		s.firstAppendMillis = nowMillis
	}
	if invariants.Enabled {
		// Offsets ascend across appends: the cheap checks above refuse a
		// batch before the next offset, and validation a negative
		// lastOffsetDelta; this is the value published.
		if next := s.NextOffset(); (position > 0 && base < next) || h.NextOffset() <= base {
			invariants.Failf("segment %s: append of offsets [%d, %d) at position %d after next offset %d", s.Path(), base, h.NextOffset(), position, next)
		}
	}
	s.nextOffset.Store(int64(h.NextOffset()))
	s.size.Store(end)
	s.checkPublished("append")
	return nil
}

// checkPublished asserts, in invariants builds, what the writer has just
// published (after what, named): a size within the mapping, since every
// reader's access stays below the published size and the mapping is never
// remapped, and a next offset not before the base.
func (s *Segment) checkPublished(what string) {
	if !invariants.Enabled {
		return
	}
	size, next := s.size.Load(), s.NextOffset()
	if size < 0 || size > int64(len(s.mapping)) {
		invariants.Failf("segment %s: %s published size %d outside the mapping's %d bytes", s.Path(), what, size, len(s.mapping))
	}
	if next < s.base {
		invariants.Failf("segment %s: %s published next offset %d below the base %d", s.Path(), what, next, s.base)
	}
}

func (s *Segment) write(b []byte, position int64) error {
	if err := s.cfg.inject(OpWrite, s.log.Name()); err != nil {
		return err
	}
	if s.cfg.WriteMode == WriteMmap {
		if end := position + int64(len(b)); end > s.populatedEnd {
			s.populateAhead(end)
		}
		copy(s.mapping[position:], b)
		return nil
	}
	if end := position + int64(len(b)); end > s.allocatedEnd {
		if err := s.allocateAhead(end); err != nil {
			return err
		}
	}
	_, err := s.log.WriteAt(b, position)
	return err
}

// allocateAheadBytes is how far past the write position the pwrite mode
// fallocates when a write crosses the allocated end. An fdatasync after
// an append that grew the file also commits the new size and blocks to
// the journal: 136-174 µs at p50 for 1 KiB appends on this VM, against
// 99-103 µs inside fallocated blocks (docs/PERFORMANCE.md). Allocating a
// few MiB ahead keeps acks=all syncs on the cheap side while a partition
// reserves at most this much beyond its data, not segment.bytes.
const allocateAheadBytes = 4 << 20

// allocateAhead fallocates from the allocated end to past end (at most to
// the segment's capacity). A full disk is the caller's error from the
// write that needed the space, with nothing published.
func (s *Segment) allocateAhead(end int64) error {
	if err := s.cfg.inject(OpAllocate, s.log.Name()); err != nil {
		return err
	}
	to := min(end+allocateAheadBytes, int64(len(s.mapping)))
	err := linux.Allocate(s.log, s.allocatedEnd, to-s.allocatedEnd)
	if err != nil && to > end {
		// A nearly full disk may still hold this write without the
		// headroom: reserve only what it needs.
		to = end
		err = linux.Allocate(s.log, s.allocatedEnd, to-s.allocatedEnd)
	}
	if err != nil {
		return err
	}
	s.allocatedEnd = to
	return nil
}

// indexBatch adds the index entries for a batch just written at position,
// following Kafka's cadence: an offset index entry for a batch when more than
// index.interval.bytes were appended since the last entry, and with it a time
// index entry when the max timestamp grew. Entries key on the batch's base
// offset, so a lookup lands on the batch holding the target or before it.
//
// The time index entry (maxTimestampSoFar, base of this batch) promises that
// no record before this batch has a timestamp above maxTimestampSoFar, which
// is what lets FindTimestamp start its scan there.
func (s *Segment) indexBatch(h *Header, position int64) error {
	if h.MaxTimestamp > s.maxTime.timestamp() {
		s.maxTime.store(h.MaxTimestamp, h.BaseOffset)
	}
	if s.bytesSinceIndex > s.cfg.IndexIntervalBytes {
		relative := index.RelOffset(h.BaseOffset - s.base)
		if err := s.offsets.Append(relative, Position(position)); err != nil {
			return err
		}
		if maxSoFar := s.maxTime.timestamp(); maxSoFar != timestampNone {
			if err := s.times.Append(maxSoFar, relative); err != nil {
				return err
			}
		}
		s.bytesSinceIndex = 0
	}
	s.bytesSinceIndex += h.TotalBytes()
	return nil
}

// Sync makes every appended byte durable: msync of the newly written range in
// mmap mode, fdatasync in pwrite mode. The indexes are not synced here: they
// are rebuilt from the log after an unclean stop, and synced on seal. Writer
// only.
func (s *Segment) Sync() error {
	size := s.size.Load()
	if size == s.syncedSize {
		return nil
	}
	if err := s.SyncRange(s.syncedSize, size); err != nil {
		return err
	}
	s.syncedSize = size
	return nil
}

// SyncRange makes the bytes [from, to) durable without touching the
// writer's state, so a background goroutine can run it while the writer
// appends further (the shard's pipelined group commit). The writer records
// the result with MarkSynced, and must not retire the segment while a
// SyncRange runs.
func (s *Segment) SyncRange(from, to int64) error {
	if to <= from {
		return nil
	}
	if err := s.cfg.inject(OpSync, s.log.Name()); err != nil {
		return err
	}
	var err error
	started := time.Now()
	if s.cfg.WriteMode == WriteMmap {
		err = linux.Msync(s.mapping[from:to])
	} else {
		err = linux.Fdatasync(s.log)
	}
	metrics.SyncLatency.Observe(time.Since(started))
	if err != nil {
		return fmt.Errorf("segment %s: sync: %w", s.log.Name(), err)
	}
	return nil
}

// StartWriteback puts the pwrite mode's dirty pages of [from, to) in flight
// to the device without waiting, as the first half of a SyncRange that the
// caller issues next (it makes nothing durable itself). A no-op in mmap
// mode. Errors are left to the SyncRange that follows. Any goroutine.
func (s *Segment) StartWriteback(from, to int64) {
	if s.cfg.WriteMode == WritePwrite && to > from && s.cfg.inject(OpWriteback, s.log.Name()) == nil {
		linux.StartWriteback(s.log, from, to-from)
	}
}

// SyncedSize is the number of bytes known durable. Writer only.
func (s *Segment) SyncedSize() int64 { return s.syncedSize }

// MarkSynced records that a SyncRange made the bytes below to durable.
// Writer only.
func (s *Segment) MarkSynced(to int64) {
	if to > s.syncedSize && to <= s.size.Load() {
		s.syncedSize = to
	}
}

// Seal ends appends to the segment, in this order:
//  1. sync the appended bytes,
//  2. cut the .log file to its valid size and fdatasync it (the size is
//     metadata the next open trusts),
//  3. seal both indexes (sync, then cut to their entries).
//
// A crash between steps leaves an untrimmed file whose tail is zeros (or
// stale bytes past a truncation), which the recovery scan cuts. Writer only.
func (s *Segment) Seal() error {
	if err := s.Sync(); err != nil {
		return err
	}
	if err := s.cutFile(s.size.Load()); err != nil {
		return err
	}
	if err := s.offsets.Seal(); err != nil {
		return err
	}
	if err := s.times.Seal(); err != nil {
		return err
	}
	s.sealed = true
	return nil
}

// cutFile truncates the .log to size and makes the new size durable.
func (s *Segment) cutFile(size int64) error {
	if err := s.cfg.inject(OpTruncate, s.log.Name()); err != nil {
		return err
	}
	if err := s.log.Truncate(size); err != nil {
		return err
	}
	if err := s.cfg.inject(OpSync, s.log.Name()); err != nil {
		return err
	}
	return linux.Fdatasync(s.log)
}

// Acquire registers a reader of the segment's mapping and file; it fails
// once the segment is retired. Every successful Acquire is paired with a
// Release. Any goroutine.
func (s *Segment) Acquire() bool {
	for {
		state := s.state.Load()
		if state&retiredBit != 0 {
			return false
		}
		if s.state.CompareAndSwap(state, state+1) {
			return true
		}
	}
}

// Release ends a reader's use; the last release of a retired segment closes
// it.
func (s *Segment) Release() {
	if s.state.Add(-1) == retiredBit {
		s.closeFiles()
	}
}

// Retire takes the segment out of use: new Acquires fail, and the mapping
// and files are closed once the last reader releases (at once if none). With
// remove, the files are unlinked first: open descriptors keep the data
// readable until then. Writer only, after the segment left the published
// segment list.
func (s *Segment) Retire(remove bool) error {
	var err error
	if remove {
		err = s.removeFiles()
	}
	if s.state.Or(retiredBit) == 0 {
		s.closeFiles()
	}
	return err
}

// removeFiles unlinks the .log first, so a crash in between leaves orphan
// index files (removed at the next open) rather than a log without indexes.
func (s *Segment) removeFiles() error {
	var first error
	for _, suffix := range []string{LogSuffix, IndexSuffix, TimeIndexSuffix} {
		if err := os.Remove(filepath.Join(s.dir, FileName(s.base, suffix))); err != nil && !errors.Is(err, os.ErrNotExist) && first == nil {
			first = err
		}
	}
	return first
}

func (s *Segment) closeFiles() {
	if s.mapping != nil {
		s.mapping.Unmap()
		s.mapping = nil
	}
	if s.offsets != nil {
		s.offsets.Close()
	}
	if s.times != nil {
		s.times.Close()
	}
	if s.log != nil {
		s.log.Close()
	}
}

// Close closes a segment no reader uses any more (engine shutdown). Use
// Retire while readers may still hold it.
func (s *Segment) Close() error { return s.Retire(false) }

// nowMillis is the wall clock in Kafka's unit.
func nowMillis() int64 { return time.Now().UnixMilli() }

// maxTimestamp is the segment's largest batch maxTimestamp and the base
// offset of the batch that carries it, published as a pair by a sequence
// lock: the writer bumps seq to odd, stores, bumps it to even; a reader
// retries until it sees the same even seq before and after.
type maxTimestamp struct {
	seq       atomic.Uint64
	ts        atomic.Int64
	batchBase atomic.Int64
}

func (m *maxTimestamp) store(ts int64, batchBase Offset) {
	m.seq.Add(1)
	m.ts.Store(ts)
	m.batchBase.Store(int64(batchBase))
	m.seq.Add(1)
}

// timestamp is the writer's own read (no tearing: only it stores).
func (m *maxTimestamp) timestamp() int64 { return m.ts.Load() }

func (m *maxTimestamp) load() (int64, Offset) {
	for {
		before := m.seq.Load()
		ts, base := m.ts.Load(), m.batchBase.Load()
		if before&1 == 0 && m.seq.Load() == before {
			return ts, Offset(base)
		}
	}
}
