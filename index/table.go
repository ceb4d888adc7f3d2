// Package index implements a segment's two sparse indexes, Kafka's .index
// (relative offset → file position, offset.go) and .timeindex (timestamp →
// relative offset, time.go): files of fixed-size big-endian entries,
// preallocated and mapped. Each of those files opens with its format. This
// file holds what they share: the mapping, growth, sealing, and the protocol
// that lets readers look up while the writer appends and truncates.
//
// An index is derived data. Opening one never fails on its contents: the
// open-time walk counts the entries that are well formed and stops at the
// first that is not, and the caller rebuilds an index that does not cover its
// file exactly (Consistent) from the .log.
//
// # Ownership
//
// An index has one writer, the shard that owns its segment. Grow, Append,
// TruncateTo, Reset, Sync, Seal, Close, Full, Consistent and Entry are the
// writer's and take no locks. Any goroutine may call Lookup, Entries and (time
// index) Last while the writer works, and Entry on an index nobody truncates.
//
// # Readers and the writer
//
// Append writes an entry's bytes into the mapping, then publishes the new
// count with an atomic store. A reader loads the count and reads only entries
// below it, so every byte it reads was written before the store it observed
// (Go's memory model: the store happens before the load that sees it).
//
// Truncation is the one change to bytes a reader may be reading: a Lookup
// that loaded the count just before TruncateTo may probe entries as they are
// zeroed, or as later appends overwrite them, and a torn entry could send it
// to a position past its target. TruncateTo and Reset therefore bracket their
// work with a generation counter, a sequence lock: odd while entries are
// dropped, even again after. A Lookup that sees the generation differ after
// its search discards the answer and searches again; after lookupAttemptsMax
// tries it answers "no entry", which is always correct (the caller scans the
// segment from its start), only slower. Readers load entry words with 32-bit
// atomic loads so that those loads cannot be reordered after the closing load
// of the generation (x86 never reorders loads; arm64 would).
//
// # Mapping and file size
//
// Open maps the file's size. Grow preallocates the file (fallocate, so a full
// disk is an error from Grow and never a SIGBUS on a store) and maps it again,
// larger; it replaces the mapping only before any reader can see the index.
// Seal cuts the file to its entries and keeps the mapping: readers may hold
// it, and every access stays below the published count, which lies inside the
// cut file, so the shorter file never faults a reader.
package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/edsrzf/mmap-go"

	"spool/internal/invariants"
	"spool/linux"
)

// RelOffset is an offset relative to its segment's base offset: absolute
// offset − base offset. Kafka stores it in 4 bytes, which bounds a segment to
// 2³² offsets.
type RelOffset uint32

// Position is a byte position in a segment's .log file. Segments are below
// 4 GiB, so it fits the 4-byte field Kafka gives it.
type Position uint32

// Limits.
const (
	// IndexBytesMax bounds an index file's capacity, as Kafka's
	// segment.index.bytes (a Java int) does. It is also how much of a
	// larger, corrupt file Open maps.
	IndexBytesMax = 1<<31 - 1

	// warmSectionBytes is the tail of the entries that Lookup searches first
	// (Kafka's AbstractIndex warm section). Appends keep those pages in the
	// page cache, and almost every lookup (followers replicating, consumers
	// caught up) lands in the tail, so a lookup that stays inside them never
	// faults in a cold page. A plain binary search over the whole index would
	// start its probes at the middle, a quarter and so on: pages no one else
	// touches, which the kernel evicts, so a tail lookup would read the disk
	// on a shard thread. 8 KiB spans at most three 4 KiB pages and, with the
	// default index.interval.bytes of 4 KiB, covers the last ~4 MiB of the
	// log (1024 offset entries).
	warmSectionBytes = 8192

	// lookupAttemptsMax bounds the searches one Lookup makes while
	// TruncateTo keeps changing the entries under it; then it answers "no
	// entry", the always-correct slow answer.
	lookupAttemptsMax = 4
)

// Entry sizes, for callers that size an index's capacity.
const (
	OffsetEntryBytes = 8  // relative offset, position
	TimeEntryBytes   = 12 // timestamp, relative offset
)

// Errors an index returns.
var (
	// ErrFull says the entry does not fit: the index is at its capacity,
	// sealed, or not yet grown. The segment rolls.
	ErrFull = errors.New("index: full")
	// ErrOutOfOrder says an entry does not extend the entries before it. It
	// comes from a corrupt .log during a rebuild, or from a caller's bug.
	ErrOutOfOrder = errors.New("index: entry out of order")
)

// table is a file of fixed-size entries, mapped, with a published count of
// valid entries. The two indexes wrap it and give the entries meaning.
type table struct {
	// Set at open, never changed.
	path       string
	entryBytes int
	// follows reports that slot i holds an entry that extends entries
	// 0..i−1: not all zeros, and in order. The open-time walk and the
	// invariant checks use it.
	follows func(i int) bool

	// The writer's. Readers use mapping only below the count they loaded,
	// and Grow, which replaces it, runs before readers can see the index.
	file      *os.File
	mapping   mmap.MMap
	fileBytes int64 // the file's size, as the writer found or last set it
	capacity  int   // entries Append may write: inside the mapping and the preallocated file; 0 until Grow
	failed    error // a failed msync or fdatasync, answered again by every later Sync and Seal

	// Published by the writer with atomic stores, loaded by anyone.
	count      atomic.Int64  // valid entries, from the start of the file
	generation atomic.Uint64 // odd while TruncateTo or Reset drop entries
}

// openTable opens or creates the file and maps its current size (a file past
// IndexBytesMax only up to it). It does not count entries: the caller walks.
func openTable(path string, entryBytes int, follows func(i int) bool) (*table, error) {
	file, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	info, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, err
	}
	t := &table{
		path:       path,
		entryBytes: entryBytes,
		follows:    follows,
		file:       file,
		fileBytes:  info.Size(),
	}
	if mapBytes := min(info.Size(), IndexBytesMax); mapBytes > 0 {
		if t.mapping, err = mmap.MapRegion(file, int(mapBytes), mmap.RDWR, 0, 0); err != nil {
			file.Close()
			return nil, fmt.Errorf("index %s: map: %w", path, err)
		}
		linux.Madvise(t.mapping, linux.AdviceRandom)
	}
	return t, nil
}

// walk counts the entries from the start of the file that are well formed,
// stopping at the first slot that is all zeros or out of order, or at the end
// of the file or of the mapping.
func (t *table) walk() int {
	n, limit := 0, t.mappedEntries()
	for n < limit && t.follows(n) {
		n++
	}
	return n
}

// checkWalk is the expensive check that a walk from the start stops exactly
// at the count: what a reopen after a crash would find.
func (t *table) checkWalk(operation string) {
	if n, walked := t.entries(), t.walk(); walked != n {
		invariants.Failf("index %s: after %s a walk finds %d entries, the count is %d", t.path, operation, walked, n)
	}
}

// mappedEntries is how many entry slots lie inside both the mapping and the
// file: the slots the open-time walk may read.
func (t *table) mappedEntries() int {
	return int(min(int64(len(t.mapping)), t.fileBytes) / int64(t.entryBytes))
}

// grow preallocates the file to capacityBytes (rounded down to whole entries;
// never smaller than it is) and maps all of it, in this order:
//  1. fallocate every byte Append may store into, holes in an existing file
//     included, so a full disk is this error and never a SIGBUS later;
//  2. map the new size, then unmap the old mapping (only if it is too short:
//     a mapping kept by Seal already covers what it used to);
//  3. advise random access: lookups are binary searches.
func (t *table) grow(capacityBytes int64) error {
	if capacityBytes < 0 || capacityBytes > IndexBytesMax {
		return fmt.Errorf("index %s: capacity %d bytes outside [0, %d]", t.path, capacityBytes, IndexBytesMax)
	}
	writableBytes := max(capacityBytes-capacityBytes%int64(t.entryBytes), min(t.fileBytes, IndexBytesMax))
	if err := linux.Allocate(t.file, 0, writableBytes); err != nil {
		return fmt.Errorf("index %s: %w", t.path, err)
	}
	t.fileBytes = max(t.fileBytes, writableBytes)
	if int64(len(t.mapping)) < writableBytes {
		mapping, err := mmap.MapRegion(t.file, int(writableBytes), mmap.RDWR, 0, 0)
		if err != nil {
			return fmt.Errorf("index %s: map: %w", t.path, err)
		}
		if t.mapping != nil {
			if err := t.mapping.Unmap(); err != nil {
				mapping.Unmap()
				return fmt.Errorf("index %s: unmap: %w", t.path, err)
			}
		}
		t.mapping = mapping
	}
	linux.Madvise(t.mapping, linux.AdviceRandom)
	t.capacity = t.mappedEntries()
	return nil
}

// entries is the published count.
func (t *table) entries() int { return int(t.count.Load()) }

// full reports that Append has no slot left. Writer only.
func (t *table) full() bool { return t.entries() >= t.capacity }

// consistent reports that the entries cover the file exactly. Writer only.
func (t *table) consistent() bool {
	return t.fileBytes == int64(t.entries())*int64(t.entryBytes)
}

// word loads the big-endian 4-byte field at byte off of the mapping. The
// load is atomic for the sequence lock (see the package comment); the
// mapping is page-aligned and every field starts at a multiple of 4.
func (t *table) word(off int) uint32 {
	_ = t.mapping[off+3]
	return bigEndianWord(atomic.LoadUint32((*uint32)(unsafe.Pointer(&t.mapping[off]))))
}

// bigEndianWord converts a word as the CPU loaded it into the big-endian
// value its bytes hold: one byte swap on little-endian CPUs, nothing on
// big-endian ones.
func bigEndianWord(w uint32) uint32 {
	if hostBigEndian {
		return w
	}
	return bits.ReverseBytes32(w)
}

// hostBigEndian is whether the CPU orders a word's bytes as the index files
// do.
var hostBigEndian = binary.NativeEndian.Uint16([]byte{0, 1}) == 1

// putWord stores the big-endian 4-byte field at byte off. Writer only, and
// only at or past the published count: plain stores suffice, since readers
// see them through the count's store, or discard them through the
// generation.
func (t *table) putWord(off int, v uint32) {
	binary.BigEndian.PutUint32(t.mapping[off:off+4], v)
}

// slot is the bytes of entry i.
func (t *table) slot(i int) []byte {
	return t.mapping[i*t.entryBytes : (i+1)*t.entryBytes]
}

// publish makes entry n−1, already written, visible to readers. Before it
// does, it zeroes slot n if that holds stale bytes (a corrupt tail the walk
// stopped at, or entries a truncation left behind): so the next walk, after a
// crash, stops exactly at the count. Writer only.
func (t *table) publish(n int) {
	if n < t.capacity {
		if s := t.slot(n); !allZero(s) {
			clear(s)
		}
	}
	t.count.Store(int64(n))
	if invariants.Enabled && n < t.mappedEntries() && t.follows(n) {
		invariants.Failf("index %s: slot %d past the count extends the entries", t.path, n)
	}
}

// drop cuts the entries to the first n, zeroing the slots dropped so the next
// walk stops at n. The generation is odd throughout, so a Lookup running
// across it retries. Writer only.
func (t *table) drop(n int) {
	old := t.entries()
	if n >= old {
		return
	}
	t.generation.Add(1)
	t.count.Store(int64(n))
	clear(t.mapping[n*t.entryBytes : old*t.entryBytes])
	t.generation.Add(1)
	if invariants.Enabled {
		t.checkWalk("a truncation")
	}
}

// beginRead starts one attempt of a reader: the generation to check at the
// end, and the count to search below. ok is false while a truncation runs.
func (t *table) beginRead() (generation uint64, n int, ready bool) {
	generation = t.generation.Load()
	if generation&1 != 0 {
		runtime.Gosched()
		return generation, 0, false
	}
	return generation, t.entries(), true
}

// endRead reports that no truncation ran since beginRead returned
// generation, so everything read in between is valid.
func (t *table) endRead(generation uint64) bool {
	return t.generation.Load() == generation
}

// sync writes the entries' pages back (msync). A failure sticks.
func (t *table) sync() error {
	if t.failed != nil {
		return t.failed
	}
	if err := linux.Msync(t.mapping[:t.entries()*t.entryBytes]); err != nil {
		t.failed = fmt.Errorf("index %s: msync: %w", t.path, err)
	}
	return t.failed
}

// seal ends appends and cuts the file after the entries, in this order:
//  1. msync the entries;
//  2. ftruncate the file to entries × entry bytes;
//  3. fdatasync, so the cut size survives a crash (without it a crash could
//     bring back the preallocated size, and the next open would find the
//     index inconsistent and rebuild it: safe, but a needless scan).
//
// The mapping stays, deliberately. Readers may be searching it, and
// unmapping would turn their next load into a fault; every access stays below
// the published count, which lies inside the cut file, so the shorter file
// never faults anyone (SIGBUS comes only from pages past the end of a file).
// The cost is address space, not memory: pages past the cut are dropped.
func (t *table) seal() error {
	if err := t.sync(); err != nil {
		return err
	}
	cutBytes := int64(t.entries()) * int64(t.entryBytes)
	if err := t.file.Truncate(cutBytes); err != nil {
		t.failed = fmt.Errorf("index %s: %w", t.path, err)
		return t.failed
	}
	t.fileBytes = cutBytes
	t.capacity = t.entries()
	if err := linux.Fdatasync(t.file); err != nil {
		t.failed = fmt.Errorf("index %s: %w", t.path, err)
		return t.failed
	}
	return nil
}

// close unmaps and closes the file. A second call does nothing.
func (t *table) close() error {
	var err error
	if t.mapping != nil {
		err = t.mapping.Unmap()
		t.mapping = nil
	}
	if t.file != nil {
		if closeErr := t.file.Close(); err == nil {
			err = closeErr
		}
		t.file = nil
	}
	t.capacity = 0
	return err
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
