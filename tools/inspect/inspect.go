package inspect

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/edsrzf/mmap-go"

	"spool/index"
	"spool/segment"
)

// The offline tools read a partition directory without changing it: files
// are opened read-only and mapped read-only, and nothing is created, cut or
// removed. They share this inspection.

// inspectedBatch is a batch met by the scan.
type inspectedBatch struct {
	segment.ScannedBatch
}

// inspectedSegment is what a read-only look at one segment found.
type inspectedSegment struct {
	base             segment.Offset
	path             string
	fileBytes        int64
	validEnd         int64 // end of the valid batches
	batches          []segment.ScannedBatch
	bad              *segment.ScannedBatch // the batch that stopped the scan, if any
	tailBytes        int64                 // non-zero bytes after validEnd
	offsets          []index.OffsetEntry
	offsetsRemainder int
	times            []index.TimeEntry
	timesRemainder   int
	indexErr         error
}

func listSegmentBases(dir string) ([]segment.Offset, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var bases []segment.Offset
	for _, e := range entries {
		if base, ok := segment.ParseFileName(e.Name()); ok {
			bases = append(bases, base)
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

func inspectSegment(dir string, base segment.Offset) (*inspectedSegment, error) {
	path := filepath.Join(dir, segment.FileName(base, segment.LogSuffix))
	s := &inspectedSegment{base: base, path: path}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	s.fileBytes = info.Size()
	if s.fileBytes > 0 {
		data, err := mmap.Map(f, mmap.RDONLY, 0)
		if err != nil {
			return nil, err
		}
		defer data.Unmap()
		s.validEnd = segment.Scan(data, func(b segment.ScannedBatch) bool {
			if b.Err != nil {
				bad := b
				s.bad = &bad
				return false
			}
			s.batches = append(s.batches, b)
			return true
		})
		for _, c := range data[s.validEnd:] {
			if c != 0 {
				s.tailBytes++
			}
		}
	}
	var indexErrs []error
	s.offsets, s.offsetsRemainder, err = index.ReadOffsetFile(filepath.Join(dir, segment.FileName(base, segment.IndexSuffix)))
	if err != nil {
		indexErrs = append(indexErrs, err)
	}
	s.times, s.timesRemainder, err = index.ReadTimeFile(filepath.Join(dir, segment.FileName(base, segment.TimeIndexSuffix)))
	if err != nil {
		indexErrs = append(indexErrs, err)
	}
	s.indexErr = errors.Join(indexErrs...)
	return s, nil
}

func (s *inspectedSegment) nextOffset() segment.Offset {
	if len(s.batches) == 0 {
		return s.base
	}
	return s.batches[len(s.batches)-1].Header.NextOffset()
}

func readSmallFile(dir, name string) string {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return "(absent)"
	}
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return strings.ReplaceAll(strings.TrimSpace(string(data)), "\n", " | ")
}

// Dump prints everything a partition directory holds.
func Dump(args []string, w io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: spool dump PARTITION_DIR")
	}
	dir := args[0]
	bases, err := listSegmentBases(dir)
	if err != nil {
		return err
	}
	if len(bases) == 0 {
		return fmt.Errorf("%s holds no segments (a data directory? dump one of its partition directories)", dir)
	}
	fmt.Fprintf(w, "partition %s\n", dir)
	for _, name := range []string{"clean-shutdown", "recovery-point", "log-start-offset", "leader-epoch-checkpoint"} {
		fmt.Fprintf(w, "  %-24s %s\n", name+":", readSmallFile(dir, name))
	}
	for _, base := range bases {
		s, err := inspectSegment(dir, base)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "\nsegment %s: file %d bytes, valid %d bytes, %d batches, offsets [%d, %d)\n",
			filepath.Base(s.path), s.fileBytes, s.validEnd, len(s.batches), s.base, s.nextOffset())
		for _, b := range s.batches {
			printBatch(w, b, "ok")
		}
		if s.bad != nil {
			printBatch(w, *s.bad, "INVALID: "+s.bad.Err.Error())
		}
		if s.tailBytes > 0 {
			fmt.Fprintf(w, "  tail: %d non-zero bytes after position %d (torn write or garbage; recovery cuts it)\n", s.tailBytes, s.validEnd)
		} else if s.fileBytes > s.validEnd {
			fmt.Fprintf(w, "  tail: %d zero bytes after position %d (preallocated)\n", s.fileBytes-s.validEnd, s.validEnd)
		}
		fmt.Fprintf(w, "  offset index: %d slots%s\n", len(s.offsets), remainderNote(s.offsetsRemainder))
		for i, e := range s.offsets {
			if e == (index.OffsetEntry{}) {
				fmt.Fprintf(w, "    (slots %d.. are zero)\n", i)
				break
			}
			fmt.Fprintf(w, "    offset %d (relative %d) → position %d\n", s.base+segment.Offset(e.Relative), e.Relative, e.Position)
		}
		fmt.Fprintf(w, "  time index: %d slots%s\n", len(s.times), remainderNote(s.timesRemainder))
		for i, e := range s.times {
			if e == (index.TimeEntry{}) {
				fmt.Fprintf(w, "    (slots %d.. are zero)\n", i)
				break
			}
			fmt.Fprintf(w, "    timestamp %d → offset %d (relative %d)\n", e.Timestamp, s.base+segment.Offset(e.Relative), e.Relative)
		}
		if s.indexErr != nil {
			fmt.Fprintf(w, "  index files: %v\n", s.indexErr)
		}
	}
	return nil
}

func remainderNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (+%d trailing bytes)", n)
}

func printBatch(w io.Writer, b segment.ScannedBatch, status string) {
	h := b.Header
	kind := ""
	if h.Transactional() {
		kind += " transactional"
	}
	if h.Control() {
		kind += " control"
	}
	if h.LogAppendTime() {
		kind += " log-append-time"
	}
	fmt.Fprintf(w, "  batch offsets [%d, %d] position %d bytes %d epoch %d codec %s records %d timestamps %d..%d producer %d/%d seq %d%s crc %08x %s\n",
		h.BaseOffset, h.LastOffset(), b.Position, h.TotalBytes(), h.LeaderEpoch, h.Codec(), h.RecordCount,
		h.BaseTimestamp, h.MaxTimestamp, h.ProducerID, h.ProducerEpoch, h.BaseSequence, kind, h.CRC, status)
}
