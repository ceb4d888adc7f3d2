package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

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

// epochCache is the partition's leader-epoch history. Owned by the shard
// (writer); readers ask through the Log, which hands out copies.
type epochCache struct {
	path    string
	entries []EpochEntry
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
		if n := len(c.entries); n > 0 && (entry.Epoch <= c.entries[n-1].Epoch || entry.StartOffset < c.entries[n-1].StartOffset) {
			return nil, fmt.Errorf("%s: %w: not ascending at %q", path, errEpochFile, line)
		}
		c.entries = append(c.entries, entry)
	}
	return c, nil
}

func (c *epochCache) persist() error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", epochFileVersion, len(c.entries))
	for _, e := range c.entries {
		fmt.Fprintf(&b, "%d %d\n", e.Epoch, e.StartOffset)
	}
	return segment.WriteFileAtomic(c.path, b.Bytes())
}

// latest is the newest epoch, or -1.
func (c *epochCache) latest() int32 {
	if len(c.entries) == 0 {
		return -1
	}
	return c.entries[len(c.entries)-1].Epoch
}

// assign records that epoch starts at offset, if it is newer than the
// latest. Batches from an older epoch (a standby copying history) do not
// move the cache.
func (c *epochCache) assign(epoch int32, offset segment.Offset) (bool, error) {
	if epoch < 0 || epoch <= c.latest() {
		return false, nil
	}
	c.entries = append(c.entries, EpochEntry{Epoch: epoch, StartOffset: offset})
	return true, c.persist()
}

// truncateFromEnd forgets epochs that started at or after offset (the log
// was cut there).
func (c *epochCache) truncateFromEnd(offset segment.Offset) error {
	i := sort.Search(len(c.entries), func(i int) bool { return c.entries[i].StartOffset >= offset })
	if i == len(c.entries) {
		return nil
	}
	c.entries = c.entries[:i]
	return c.persist()
}

// truncateFromStart moves the history's start to offset (the log start
// moved): entries wholly before it go, and the one spanning it starts there.
func (c *epochCache) truncateFromStart(offset segment.Offset) error {
	keep := 0
	for keep+1 < len(c.entries) && c.entries[keep+1].StartOffset <= offset {
		keep++
	}
	if keep == 0 && (len(c.entries) == 0 || c.entries[0].StartOffset >= offset) {
		return nil
	}
	c.entries = append(c.entries[:0], c.entries[keep:]...)
	if c.entries[0].StartOffset < offset {
		c.entries[0].StartOffset = offset
	}
	return c.persist()
}

// endOffsetFor answers OffsetForLeaderEpoch: the largest epoch ≤ the one
// asked, and the offset where it ended (the next epoch's start, or the log
// end offset for the latest). (-1, -1) when the history has nothing that old.
func (c *epochCache) endOffsetFor(epoch int32, logEndOffset segment.Offset) (int32, segment.Offset) {
	i := sort.Search(len(c.entries), func(i int) bool { return c.entries[i].Epoch > epoch })
	if i == 0 {
		return -1, -1
	}
	if i == len(c.entries) {
		return c.entries[i-1].Epoch, logEndOffset
	}
	return c.entries[i-1].Epoch, c.entries[i].StartOffset
}

func (c *epochCache) snapshot() []EpochEntry {
	return append([]EpochEntry(nil), c.entries...)
}
