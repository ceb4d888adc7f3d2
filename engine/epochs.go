package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"spool/internal/invariants"
	"spool/segment"
)

// The leader-epoch checkpoint, Kafka's leader-epoch-checkpoint layout, in
// text:
//
//	0                   format version, always 0
//	N                   number of entries
//	<epoch> <offset>    N lines, ascending in both: the first offset
//	                    written in each leader epoch
//
// It is rewritten whole (temp file, fsync, rename, directory fsync) whenever
// an epoch starts or entries are cut, which happens once per leadership
// change or truncation, never per batch.
const (
	epochFileName    = "leader-epoch-checkpoint"
	epochFileVersion = 0
	// epochEntriesMax bounds what is read from disk.
	epochEntriesMax = 1 << 16
)

// EpochEntry says that leader epoch Epoch wrote its first batch at
// StartOffset.
type EpochEntry struct {
	Epoch       int32
	StartOffset segment.Offset
}

// epochCache is the partition's leader-epoch history. The shard (writer)
// changes it; any goroutine reads it. Every change publishes a new slice
// that nobody writes to afterwards (the writer copies, or publishes a
// shorter view of the same entries, never writing in place), so a reader
// holds a consistent history without a lock: the replication goroutines
// answer OffsetForLeaderEpoch while the shard moves the log start or
// truncates.
type epochCache struct {
	path    string
	entries atomic.Pointer[[]EpochEntry] // immutable once published
}

var errEpochFile = errors.New("engine: malformed leader-epoch checkpoint")

func loadEpochCache(path string) (*epochCache, error) {
	c := &epochCache{path: path}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) < 2 || strings.TrimSpace(lines[0]) != strconv.Itoa(epochFileVersion) {
		return nil, fmt.Errorf("%s: %w", path, errEpochFile)
	}
	count, err := strconv.Atoi(strings.TrimSpace(lines[1]))
	if err != nil || count < 0 || count > epochEntriesMax || count != len(lines)-2 {
		return nil, fmt.Errorf("%s: %w: entry count", path, errEpochFile)
	}
	entries := make([]EpochEntry, 0, count)
	for _, line := range lines[2:] {
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s: %w: %q", path, errEpochFile, line)
		}
		epoch, err1 := strconv.ParseInt(fields[0], 10, 32)
		offset, err2 := strconv.ParseInt(fields[1], 10, 64)
		if err1 != nil || err2 != nil || epoch < 0 || offset < 0 {
			return nil, fmt.Errorf("%s: %w: %q", path, errEpochFile, line)
		}
		entry := EpochEntry{Epoch: int32(epoch), StartOffset: segment.Offset(offset)}
		if n := len(entries); n > 0 && (entry.Epoch <= entries[n-1].Epoch || entry.StartOffset < entries[n-1].StartOffset) {
			return nil, fmt.Errorf("%s: %w: not ascending at %q", path, errEpochFile, line)
		}
		entries = append(entries, entry)
	}
	c.publish(entries)
	return c, nil
}

// load is the published history. Any goroutine; never write to it.
func (c *epochCache) load() []EpochEntry {
	if p := c.entries.Load(); p != nil {
		return *p
	}
	return nil
}

// publish makes entries the history. Writer only; entries must not be
// written to afterwards, nor share an array with anything that will be.
func (c *epochCache) publish(entries []EpochEntry) {
	if invariants.Enabled {
		for i := 1; i < len(entries); i++ {
			if entries[i].Epoch <= entries[i-1].Epoch || entries[i].StartOffset < entries[i-1].StartOffset {
				invariants.Failf("epoch history not ascending at %d: %v", i, entries)
			}
		}
	}
	c.entries.Store(&entries)
}

// persist writes entries to the checkpoint.
func (c *epochCache) persist(entries []EpochEntry) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", epochFileVersion, len(entries))
	for _, e := range entries {
		fmt.Fprintf(&b, "%d %d\n", e.Epoch, e.StartOffset)
	}
	return segment.WriteFileAtomic(c.path, b.Bytes())
}

// latest is the newest epoch, or -1.
func (c *epochCache) latest() int32 {
	entries := c.load()
	if len(entries) == 0 {
		return -1
	}
	return entries[len(entries)-1].Epoch
}

// assign records that epoch starts at offset, if it is newer than the
// latest. Batches from an older epoch (a standby copying history) do not
// move the cache. Writer only.
func (c *epochCache) assign(epoch int32, offset segment.Offset) (bool, error) {
	if epoch < 0 || epoch <= c.latest() {
		return false, nil
	}
	entries := c.load()
	// The full slice expression makes append copy: the published array
	// is never written.
	entries = append(entries[:len(entries):len(entries)], EpochEntry{Epoch: epoch, StartOffset: offset})
	c.publish(entries)
	return true, c.persist(entries)
}

// truncateFromEnd forgets epochs that started at or after offset (the log
// was cut there). Writer only.
func (c *epochCache) truncateFromEnd(offset segment.Offset) error {
	entries := c.load()
	i := sort.Search(len(entries), func(i int) bool { return entries[i].StartOffset >= offset })
	if i == len(entries) {
		return nil
	}
	entries = entries[:i] // a shorter view: assign copies before it appends
	c.publish(entries)
	return c.persist(entries)
}

// truncateFromStart moves the history's start to offset (the log start
// moved): entries wholly before it go, and the one spanning it starts
// there. Writer only.
func (c *epochCache) truncateFromStart(offset segment.Offset) error {
	entries := c.load()
	keep := 0
	for keep+1 < len(entries) && entries[keep+1].StartOffset <= offset {
		keep++
	}
	if keep == 0 && (len(entries) == 0 || entries[0].StartOffset >= offset) {
		return nil
	}
	// A copy: readers may hold the published entries, whose first one
	// this changes.
	entries = append([]EpochEntry(nil), entries[keep:]...)
	if entries[0].StartOffset < offset {
		entries[0].StartOffset = offset
	}
	c.publish(entries)
	return c.persist(entries)
}

// endOffsetFor answers OffsetForLeaderEpoch from a history and the log end
// offset read after it: the largest epoch ≤ the one asked, and the offset
// where it ended (the next epoch's start, or the log end offset for the
// latest). (-1, -1) when the history has nothing that old. The end is
// never past logEndOffset: a history published before a truncation, read
// with the log end offset published after it (the writer cuts the log
// before the history), still answers no more than the log holds.
func endOffsetFor(entries []EpochEntry, epoch int32, logEndOffset segment.Offset) (int32, segment.Offset) {
	i := sort.Search(len(entries), func(i int) bool { return entries[i].Epoch > epoch })
	if i == 0 {
		return -1, -1
	}
	if i == len(entries) {
		return entries[i-1].Epoch, logEndOffset
	}
	return entries[i-1].Epoch, min(entries[i].StartOffset, logEndOffset)
}
