package index

import (
	"fmt"

	"spool/internal/invariants"
)

// The time index (.timeindex) maps a timestamp to the relative offset of a
// batch, for ListOffsets by time. Its layout is Kafka's (TimeIndex.java): no
// header, no trailer, entries back to back from byte 0.
//
//	entry i, at byte 12·i:
//
//	 0    1    2    3    4    5    6    7    8    9    10   11
//	+----+----+----+----+----+----+----+----+----+----+----+----+
//	|               timestamp               |  relative offset  |
//	+----+----+----+----+----+----+----+----+----+----+----+----+
//
//	field            bytes  encoding            meaning
//	timestamp        8      int64 big-endian    the segment's max timestamp (ms since the epoch) when the entry was added
//	relative offset  4      uint32 big-endian   base offset of the batch added then − the segment's base offset
//
// An entry (ts, rel) promises that no record before rel has a timestamp
// above ts. Timestamps are strictly increasing (the writer adds an entry only
// when the max timestamp grew); relative offsets never decrease. An entry of
// twelve zero bytes is never written: the entries end at the first all-zero
// slot, the first slot out of order, or the end of the file. A sealed file
// ends exactly after its last entry; an active one is preallocated with zeros.

// Time index format. Never changes: it is Kafka's, and files on disk have it.
const (
	timeEntryBytes      = TimeEntryBytes
	timeTimestampHighAt = 0 // byte of the timestamp's high 32 bits within an entry
	timeTimestampLowAt  = 4 // byte of its low 32 bits
	timeRelativeAt      = 8 // byte of the relative offset
)

// timeWarmEntries is the size of the warm section in entries (682).
const timeWarmEntries = warmSectionBytes / timeEntryBytes

// TimeIndex is a segment's .timeindex file. See the package comment for who
// may call what: the writer owns every method but Lookup, Last and Entries,
// which any goroutine may call while it works.
type TimeIndex struct {
	t *table
}

// OpenTimeIndex opens or creates the time index at path, maps it, and counts
// its entries by walking from the start. Like OpenOffsetIndex it fails only
// on the file system, never on the contents. Append needs Grow first.
func OpenTimeIndex(path string) (*TimeIndex, error) {
	x := &TimeIndex{}
	t, err := openTable(path, timeEntryBytes, x.follows)
	if err != nil {
		return nil, err
	}
	x.t = t
	t.count.Store(int64(t.walk()))
	return x, nil
}

// follows reports that slot i extends entries 0..i−1.
func (x *TimeIndex) follows(i int) bool {
	timestamp, relative := x.entry(i)
	if timestamp == 0 && relative == 0 {
		return false
	}
	if i == 0 {
		return true
	}
	lastTimestamp, lastRelative := x.entry(i - 1)
	return timestamp > lastTimestamp && relative >= lastRelative
}

// entry reads slot i, whatever it holds.
func (x *TimeIndex) entry(i int) (int64, RelOffset) {
	return x.timestamp(i), RelOffset(x.t.word(i*timeEntryBytes + timeRelativeAt))
}

func (x *TimeIndex) timestamp(i int) int64 {
	at := i * timeEntryBytes
	return int64(uint64(x.t.word(at+timeTimestampHighAt))<<32 | uint64(x.t.word(at+timeTimestampLowAt)))
}

// Path is the file's path.
func (x *TimeIndex) Path() string { return x.t.path }

// Entries is the number of entries. Any goroutine.
func (x *TimeIndex) Entries() int { return x.t.entries() }

// Entry returns entry i, for i in [0, Entries()). The writer, or any
// goroutine while no TruncateTo or Reset can run.
func (x *TimeIndex) Entry(i int) (int64, RelOffset) {
	if n := x.t.entries(); i < 0 || i >= n {
		invariants.Failf("time index %s: entry %d of %d", x.t.path, i, n)
	}
	return x.entry(i)
}

// Consistent reports that the entries cover the file exactly, as after Seal.
// A sealed index that is not consistent must be rebuilt. Writer only.
func (x *TimeIndex) Consistent() bool { return x.t.consistent() }

// Full reports that an Append with a new max timestamp would return ErrFull.
// Writer only.
func (x *TimeIndex) Full() bool { return x.t.full() }

// Grow preallocates the file to capacityBytes (rounded down to whole entries,
// never shrinking it) and maps all of it. Writer only, before readers can see
// the index: it may replace the mapping.
func (x *TimeIndex) Grow(capacityBytes int64) error { return x.t.grow(capacityBytes) }

// Append adds the entry (timestamp, relative). It does nothing when
// timestamp does not exceed the last entry's (the caller adds entries only
// when the max timestamp grew, but a repeat is harmless), nor for (0, 0),
// which would read as the end of the entries (a lookup that would have found
// it starts at the segment's first batch anyway). A relative offset below the
// last entry's is ErrOutOfOrder. Writer only.
func (x *TimeIndex) Append(timestamp int64, relative RelOffset) error {
	n := x.t.entries()
	if n > 0 {
		lastTimestamp, lastRelative := x.entry(n - 1)
		if timestamp <= lastTimestamp {
			return nil
		}
		if relative < lastRelative {
			return fmt.Errorf("%w: time index %s: (%d, %d) after (%d, %d)", ErrOutOfOrder, x.t.path, timestamp, relative, lastTimestamp, lastRelative)
		}
	}
	if timestamp == 0 && relative == 0 {
		return nil
	}
	if n >= x.t.capacity {
		return ErrFull
	}
	at := n * timeEntryBytes
	x.t.putWord(at+timeTimestampHighAt, uint32(uint64(timestamp)>>32))
	x.t.putWord(at+timeTimestampLowAt, uint32(timestamp))
	x.t.putWord(at+timeRelativeAt, uint32(relative))
	x.t.publish(n + 1)
	return nil
}

// Lookup returns the last entry whose timestamp is strictly below target; ok
// is false when there is none, and the caller scans from the segment's first
// batch. Strictly: an entry (ts, rel) says records before rel have
// timestamps at most ts, so starting at rel skips no record at or past
// target only when ts < target; with ts == target a record before rel could
// be the answer. Any goroutine, while the writer appends or truncates.
//
// Like OffsetIndex.Lookup it searches the warm section first (see
// warmSectionBytes).
func (x *TimeIndex) Lookup(target int64) (timestamp int64, relative RelOffset, ok bool) {
	for range lookupAttemptsMax {
		generation, n, ready := x.t.beginRead()
		if !ready {
			continue
		}
		i := x.search(n, target)
		timestamp, relative = 0, 0
		if i >= 0 {
			timestamp, relative = x.entry(i)
		}
		answered := !invariants.Enabled || x.answers(n, i, target)
		if x.t.endRead(generation) {
			if !answered {
				invariants.Failf("time index %s: lookup of %d among %d entries answered entry %d", x.t.path, target, n, i)
			}
			return timestamp, relative, i >= 0
		}
	}
	return 0, 0, false
}

// search returns the last of the first n entries with a timestamp strictly
// below target, or −1.
func (x *TimeIndex) search(n int, target int64) int {
	if n == 0 {
		return -1
	}
	// Entries in [low, high) are unknown; every entry below low is below
	// target, every entry from high on is at or past it.
	low, high := 0, n
	if warm := max(0, n-timeWarmEntries); x.timestamp(warm) < target {
		low = warm + 1
	} else {
		high = warm
	}
	for low < high {
		middle := int(uint(low+high) >> 1)
		if x.timestamp(middle) < target {
			low = middle + 1
		} else {
			high = middle
		}
	}
	return low - 1
}

// answers checks an answer against its neighbours, as OffsetIndex.answers.
func (x *TimeIndex) answers(n, i int, target int64) bool {
	return (i == -1 || x.timestamp(i) < target) && (i+1 == n || x.timestamp(i+1) >= target)
}

// Last returns the last entry; ok is false when there is none. Any
// goroutine. Unlike Lookup it has no safe answer to fall back on, so it tries
// until no truncation interrupts it: one entry's read is short, and the
// writer truncates rarely.
func (x *TimeIndex) Last() (timestamp int64, relative RelOffset, ok bool) {
	for {
		generation, n, ready := x.t.beginRead()
		if !ready {
			continue
		}
		timestamp, relative = 0, 0
		if n > 0 {
			timestamp, relative = x.entry(n - 1)
		}
		if x.t.endRead(generation) {
			return timestamp, relative, n > 0
		}
	}
}

// TruncateTo drops every entry whose relative offset is at or past relative,
// zeroing their bytes so that a walk after a crash stops at the new end.
// Writer only; Lookups running across it search again.
func (x *TimeIndex) TruncateTo(relative RelOffset) {
	n := x.t.entries()
	low, high := 0, n
	for low < high {
		middle := int(uint(low+high) >> 1)
		if _, r := x.entry(middle); r < relative {
			low = middle + 1
		} else {
			high = middle
		}
	}
	x.t.drop(low)
}

// Reset drops every entry, zeroing their bytes, for a rebuild. Writer only.
func (x *TimeIndex) Reset() { x.t.drop(0) }

// Sync writes the entries back to the file (msync). A failure sticks: every
// later Sync and Seal returns it. Writer only.
func (x *TimeIndex) Sync() error { return x.t.sync() }

// Seal syncs the entries and cuts the file after them (see table.seal for the
// steps, and why the mapping stays). Afterwards the index is Consistent and
// Full. Writer only.
func (x *TimeIndex) Seal() error {
	if invariants.Enabled {
		x.t.checkWalk("seal")
	}
	return x.t.seal()
}

// Close unmaps and closes the file. No reader may use the index after.
func (x *TimeIndex) Close() error { return x.t.close() }
