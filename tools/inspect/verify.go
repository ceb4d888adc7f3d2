// Package inspect reads a data directory offline and changes nothing:
// Dump prints a partition's segments, batches and index entries (spool
// dump), Verify checks CRCs, offsets and indexes against a scan (spool
// verify). It opens files read-only and never runs beside a broker's
// writes to the same directory.
package inspect

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"

	"spool/index"
	"spool/segment"
)

// Verify checks a data directory (every partition directory in it) or one
// partition directory, changing nothing. A problem is something a clean
// broker would never leave; a note is what an unclean stop leaves and the
// next open repairs (a torn tail in the last segment, indexes of the active
// segment past the cut). It returns false when it found a problem.
func Verify(args []string, w io.Writer) (bool, error) {
	if len(args) != 1 {
		return false, fmt.Errorf("usage: spool verify DIR")
	}
	dir := args[0]
	bases, err := listSegmentBases(dir)
	if err != nil {
		return false, err
	}
	if len(bases) > 0 {
		return VerifyPartition(dir, w)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	ok, partitions := true, 0
	for _, e := range entries {
		if !e.IsDir() || !partitionDirPattern.MatchString(e.Name()) {
			continue
		}
		partitions++
		partitionOK, err := VerifyPartition(filepath.Join(dir, e.Name()), w)
		if err != nil {
			return false, err
		}
		ok = ok && partitionOK
	}
	fmt.Fprintf(w, "%d partitions checked: %s\n", partitions, map[bool]string{true: "ok", false: "PROBLEMS FOUND"}[ok])
	return ok, nil
}

// VerifyPartition checks one partition directory, as Verify does, writing
// what it finds to w; false when it found a problem.
func VerifyPartition(dir string, w io.Writer) (bool, error) {
	bases, err := listSegmentBases(dir)
	if err != nil {
		return false, err
	}
	_, markerErr := os.Stat(filepath.Join(dir, "clean-shutdown"))
	clean := markerErr == nil
	problems, notes := 0, 0
	problem := func(format string, args ...any) {
		problems++
		fmt.Fprintf(w, "%s: PROBLEM: %s\n", dir, fmt.Sprintf(format, args...))
	}
	note := func(format string, args ...any) {
		notes++
		fmt.Fprintf(w, "%s: note: %s\n", dir, fmt.Sprintf(format, args...))
	}
	batches := 0
	var previousEnd segment.Offset = -1
	for i, base := range bases {
		s, err := inspectSegment(dir, base)
		if err != nil {
			return false, err
		}
		last := i == len(bases)-1
		// An unclean stop may leave the last segment's tail torn and its
		// index ahead of the cut: the next open repairs both.
		repairable := last && !clean
		report := problem
		if repairable {
			report = note
		}
		name := filepath.Base(s.path)
		batches += len(s.batches)
		if previousEnd >= 0 && base != previousEnd {
			problem("%s starts at offset %d but the previous segment ends at %d", name, base, previousEnd)
		}
		previousEnd = s.nextOffset()
		// Offsets ascend; gaps between batches are compaction's.
		expected := base
		for _, b := range s.batches {
			if b.Header.BaseOffset < expected {
				problem("%s: batch at position %d has offset %d, expected at least %d", name, b.Position, b.Header.BaseOffset, expected)
			}
			expected = b.Header.NextOffset()
		}
		if s.bad != nil {
			report("%s: invalid batch at position %d: %v", name, s.bad.Position, s.bad.Err)
		}
		if s.tailBytes > 0 {
			report("%s: %d non-zero bytes after the valid end %d", name, s.tailBytes, s.validEnd)
		}
		if !last && s.fileBytes != s.validEnd {
			problem("%s: sealed segment file is %d bytes, valid %d", name, s.fileBytes, s.validEnd)
		}
		if s.indexErr != nil {
			report("%s: index files: %v", name, s.indexErr)
			continue
		}
		checkOffsetIndex(s, report, name)
		checkTimeIndex(s, report, name)
	}
	status := "ok"
	if problems > 0 {
		status = fmt.Sprintf("%d PROBLEMS", problems)
	}
	fmt.Fprintf(w, "%s: %d segments, %d batches, offsets end at %d, clean shutdown %v: %s (%d notes)\n", dir, len(bases), batches, previousEnd, clean, status, notes)
	return problems == 0, nil
}

// checkOffsetIndex: entries strictly increasing up to the first zero slot,
// nothing but zeros after, and every entry naming the position of a batch
// whose base offset it claims.
func checkOffsetIndex(s *inspectedSegment, report func(string, ...any), name string) {
	byPosition := map[int64]segment.Offset{}
	for _, b := range s.batches {
		byPosition[b.Position] = b.Header.BaseOffset
	}
	valid := 0
	for valid < len(s.offsets) && s.offsets[valid] != (index.OffsetEntry{}) {
		e := s.offsets[valid]
		if valid > 0 && (e.Relative <= s.offsets[valid-1].Relative || e.Position <= s.offsets[valid-1].Position) {
			report("%s: offset index entry %d (%d, %d) is not increasing", name, valid, e.Relative, e.Position)
			return
		}
		if offset, ok := byPosition[int64(e.Position)]; !ok || offset != s.base+segment.Offset(e.Relative) {
			report("%s: offset index entry %d says offset %d is at position %d, the log disagrees", name, valid, s.base+segment.Offset(e.Relative), e.Position)
			return
		}
		valid++
	}
	for _, e := range s.offsets[valid:] {
		if e != (index.OffsetEntry{}) {
			report("%s: offset index has entries after a zero slot", name)
			return
		}
	}
	if s.offsetsRemainder != 0 {
		report("%s: offset index has %d trailing bytes", name, s.offsetsRemainder)
	}
}

// checkTimeIndex: timestamps strictly increasing, each entry naming a batch
// base offset, and its timestamp the largest seen up to that batch.
func checkTimeIndex(s *inspectedSegment, report func(string, ...any), name string) {
	maxSoFar := map[segment.Offset]int64{}
	largest := int64(-1)
	for _, b := range s.batches {
		largest = max(largest, b.Header.MaxTimestamp)
		maxSoFar[b.Header.BaseOffset] = largest
	}
	valid := 0
	for valid < len(s.times) && s.times[valid] != (index.TimeEntry{}) {
		e := s.times[valid]
		if valid > 0 && e.Timestamp <= s.times[valid-1].Timestamp {
			report("%s: time index entry %d is not increasing", name, valid)
			return
		}
		if want, ok := maxSoFar[s.base+segment.Offset(e.Relative)]; !ok || want != e.Timestamp {
			report("%s: time index entry %d (%d → offset %d) disagrees with the log (max timestamp there %d)", name, valid, e.Timestamp, s.base+segment.Offset(e.Relative), want)
			return
		}
		valid++
	}
	for _, e := range s.times[valid:] {
		if e != (index.TimeEntry{}) {
			report("%s: time index has entries after a zero slot", name)
			return
		}
	}
	if s.timesRemainder != 0 {
		report("%s: time index has %d trailing bytes", name, s.timesRemainder)
	}
}

// partitionDirPattern matches Kafka's partition directory names,
// <topic>-<partition>.
var partitionDirPattern = regexp.MustCompile(`^(.+)-([0-9]+)$`)
