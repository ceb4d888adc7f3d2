package index

import (
	"fmt"

	"spool/internal/invariants"
)

// The offset index (.index) maps a relative offset to the position of a batch
// in the segment's .log. Its layout is Kafka's (OffsetIndex.java): no header,
// no trailer, entries back to back from byte 0.
//
//	entry i, at byte 8·i:
//
//	 0        1        2        3        4        5        6        7
//	+--------+--------+--------+--------+--------+--------+--------+--------+
//	|         relative offset           |           file position           |
//	+--------+--------+--------+--------+--------+--------+--------+--------+
//
//	field            bytes  encoding            meaning
//	relative offset  4      uint32 big-endian   a batch's base offset − the segment's base offset
//	file position    4      uint32 big-endian   byte position of that batch's first byte in the .log
//
// Entries are strictly increasing in both fields. The segment never indexes
// its first batch (position 0), so an entry of eight zero bytes never occurs:
// the entries end at the first all-zero slot, the first slot that does not
// increase both fields, or the end of the file. A sealed file ends exactly
// after its last entry; an active one is preallocated with zeros.
//
// The index is sparse: an entry every index.interval.bytes of log. A lookup
// finds the last entry at or below the target, and the caller scans the .log
// forward from its position.

// Offset index format. Never changes: it is Kafka's, and files on disk have it.
const (
	offsetEntryBytes = OffsetEntryBytes
	offsetRelativeAt = 0 // byte of the relative offset within an entry
	offsetPositionAt = 4 // byte of the file position within an entry
)

// offsetWarmEntries is the size of the warm section in entries (1024).
const offsetWarmEntries = warmSectionBytes / offsetEntryBytes

// OffsetIndex is a segment's .index file. See the package comment for who may
// call what: the writer owns every method but Lookup and Entries, which any
// goroutine may call while it works.
type OffsetIndex struct {
	t *table
}

// OpenOffsetIndex opens or creates the offset index at path, maps it, and
// counts its entries by walking from the start. It fails only on the file
// system, never on the contents: an index that does not cover its file
// exactly (Consistent false) is for the caller to rebuild. Append needs Grow
// first.
func OpenOffsetIndex(path string) (*OffsetIndex, error) {
	x := &OffsetIndex{}
	t, err := openTable(path, offsetEntryBytes, x.follows)
	if err != nil {
		return nil, err
	}
	x.t = t
	t.count.Store(int64(t.walk()))
	return x, nil
}

// follows reports that slot i extends entries 0..i−1.
func (x *OffsetIndex) follows(i int) bool {
	relative, position := x.entry(i)
	if i == 0 {
		return relative != 0 || position != 0
	}
	lastRelative, lastPosition := x.entry(i - 1)
	return relative > lastRelative && position > lastPosition
}

// entry reads slot i, whatever it holds.
func (x *OffsetIndex) entry(i int) (RelOffset, Position) {
	at := i * offsetEntryBytes
	return RelOffset(x.t.word(at + offsetRelativeAt)), Position(x.t.word(at + offsetPositionAt))
}

// Path is the file's path.
func (x *OffsetIndex) Path() string { return x.t.path }

// Entries is the number of entries. Any goroutine.
func (x *OffsetIndex) Entries() int { return x.t.entries() }

// Entry returns entry i, for i in [0, Entries()). The writer, or any
// goroutine while no TruncateTo or Reset can run.
func (x *OffsetIndex) Entry(i int) (RelOffset, Position) {
	if n := x.t.entries(); i < 0 || i >= n {
		invariants.Failf("offset index %s: entry %d of %d", x.t.path, i, n)
	}
	return x.entry(i)
}

// Consistent reports that the entries cover the file exactly, as after Seal.
// A sealed index that is not consistent must be rebuilt. Writer only.
func (x *OffsetIndex) Consistent() bool { return x.t.consistent() }

// Full reports that Append would return ErrFull. Writer only.
func (x *OffsetIndex) Full() bool { return x.t.full() }

// Grow preallocates the file to capacityBytes (rounded down to whole entries,
// never shrinking it) and maps all of it. Writer only, before readers can see
// the index: it may replace the mapping.
func (x *OffsetIndex) Grow(capacityBytes int64) error { return x.t.grow(capacityBytes) }

// Append adds the entry (relative, position), which must increase both
// fields over the last entry. It writes the entry into the mapping, then
// publishes the count. Writer only.
func (x *OffsetIndex) Append(relative RelOffset, position Position) error {
	n := x.t.entries()
	if n >= x.t.capacity {
		return ErrFull
	}
	if n > 0 {
		if lastRelative, lastPosition := x.entry(n - 1); relative <= lastRelative || position <= lastPosition {
			return fmt.Errorf("%w: offset index %s: (%d, %d) after (%d, %d)", ErrOutOfOrder, x.t.path, relative, position, lastRelative, lastPosition)
		}
	} else if relative == 0 && position == 0 {
		return fmt.Errorf("%w: offset index %s: (0, 0) reads as the end of the entries", ErrOutOfOrder, x.t.path)
	}
	at := n * offsetEntryBytes
	x.t.putWord(at+offsetRelativeAt, uint32(relative))
	x.t.putWord(at+offsetPositionAt, uint32(position))
	x.t.publish(n + 1)
	return nil
}

// Lookup returns the last entry whose relative offset is at or below target,
// or (0, 0) when there is none: position 0, where a scan for target starts
// when the index cannot help. Any goroutine, while the writer appends or
// truncates.
//
// It searches the warm section (the last warmSectionBytes of entries) when
// target is at or past its first entry, else only the entries before it:
// tail lookups, nearly all of them, then touch only pages appends keep warm
// (see warmSectionBytes).
func (x *OffsetIndex) Lookup(target RelOffset) (RelOffset, Position) {
	for range lookupAttemptsMax {
		generation, n, ready := x.t.beginRead()
		if !ready {
			continue
		}
		i := x.search(n, target)
		relative, position := RelOffset(0), Position(0)
		if i >= 0 {
			relative, position = x.entry(i)
		}
		answered := !invariants.Enabled || x.answers(n, i, target)
		if x.t.endRead(generation) {
			if !answered {
				invariants.Failf("offset index %s: lookup of %d among %d entries answered entry %d", x.t.path, target, n, i)
			}
			return relative, position
		}
	}
	return 0, 0
}

// search returns the last of the first n entries with a relative offset at
// or below target, or −1.
func (x *OffsetIndex) search(n int, target RelOffset) int {
	if n == 0 {
		return -1
	}
	// Entries in [low, high) are unknown; every entry below low is at or
	// below target, every entry from high on is above it.
	low, high := 0, n
	if warm := max(0, n-offsetWarmEntries); x.relative(warm) <= target {
		low = warm + 1
	} else {
		high = warm
	}
	for low < high {
		middle := int(uint(low+high) >> 1)
		if x.relative(middle) <= target {
			low = middle + 1
		} else {
			high = middle
		}
	}
	return low - 1
}

func (x *OffsetIndex) relative(i int) RelOffset {
	return RelOffset(x.t.word(i*offsetEntryBytes + offsetRelativeAt))
}

// answers checks an answer against its neighbours: with entries sorted, which
// Append and the walk ensure, that proves it is the last at or below target.
func (x *OffsetIndex) answers(n, i int, target RelOffset) bool {
	return (i == -1 || x.relative(i) <= target) && (i+1 == n || x.relative(i+1) > target)
}

// TruncateTo drops every entry whose relative offset is at or past relative,
// zeroing their bytes so that a walk after a crash stops at the new end.
// Writer only; Lookups running across it search again.
func (x *OffsetIndex) TruncateTo(relative RelOffset) {
	n := x.t.entries()
	low, high := 0, n
	for low < high {
		middle := int(uint(low+high) >> 1)
		if x.relative(middle) < relative {
			low = middle + 1
		} else {
			high = middle
		}
	}
	x.t.drop(low)
}

// Reset drops every entry, zeroing their bytes, for a rebuild. Writer only.
func (x *OffsetIndex) Reset() { x.t.drop(0) }

// Sync writes the entries back to the file (msync). A failure sticks: every
// later Sync and Seal returns it. Writer only.
func (x *OffsetIndex) Sync() error { return x.t.sync() }

// Seal syncs the entries and cuts the file after them (see table.seal for the
// steps, and why the mapping stays). Afterwards the index is Consistent and
// Full. Writer only.
func (x *OffsetIndex) Seal() error {
	if invariants.Enabled {
		x.t.checkWalk("seal")
	}
	return x.t.seal()
}

// Close unmaps and closes the file. No reader may use the index after.
func (x *OffsetIndex) Close() error { return x.t.close() }

// LookupPosition returns the last entry whose file position is at or below
// position, or (0, 0) when there is none. Read planning uses it to find the
// last whole batch that fits a byte budget without walking every header in
// between. Any goroutine, while the writer appends or truncates; like
// Lookup, it searches again across a truncation and falls back to (0, 0),
// which is always a correct place to scan from.
func (x *OffsetIndex) LookupPosition(position Position) (RelOffset, Position) {
	for range lookupAttemptsMax {
		generation, n, ready := x.t.beginRead()
		if !ready {
			continue
		}
		low, high := 0, n
		for low < high {
			middle := int(uint(low+high) >> 1)
			if Position(x.t.word(middle*offsetEntryBytes+offsetPositionAt)) <= position {
				low = middle + 1
			} else {
				high = middle
			}
		}
		relative, found := RelOffset(0), Position(0)
		if low > 0 {
			relative, found = x.entry(low - 1)
		}
		if x.t.endRead(generation) {
			return relative, found
		}
	}
	return 0, 0
}
