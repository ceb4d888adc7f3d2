//go:build invariants

package segment

import (
	"fmt"
	"strings"
	"testing"

	"spool/internal/batchtest"
)

// panicked runs f and returns what it panicked with, or "".
func panicked(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

// An append whose offsets would not move forward panics in invariants
// builds: here a header whose lastOffsetDelta is negative, which
// validation refuses and only a caller's bug could hand Append.
func TestAppendAssertsOffsetsAscend(t *testing.T) {
	s, err := Create(t.TempDir(), 100, testConfig(WritePwrite))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	appendBatches(t, s, 3, ascending)
	b := batchtest.Values(2, 20, ascending(3))
	h, err := ValidateBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	h.LastOffsetDelta = -2
	next := s.NextOffset()
	msg := panicked(func() { s.Append(b, &h, next, 1, 1) })
	if !strings.Contains(msg, "invariant broken") || !strings.Contains(msg, fmt.Sprintf("after next offset %d", next)) {
		t.Fatalf("append of a batch ending before it starts: panic %q", msg)
	}
}

// A published size past the mapping panics in invariants builds.
func TestPublishedSizeWithinTheMapping(t *testing.T) {
	s, err := Create(t.TempDir(), 0, testConfig(WritePwrite))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	appendBatches(t, s, 3, ascending)
	s.checkPublished("test") // what the appends published is sound
	size := s.size.Load()
	s.size.Store(int64(len(s.mapping)) + 1)
	msg := panicked(func() { s.checkPublished("test") })
	s.size.Store(size)
	if !strings.Contains(msg, fmt.Sprintf("published size %d outside the mapping's %d bytes", len(s.mapping)+1, len(s.mapping))) {
		t.Fatalf("size past the mapping: panic %q", msg)
	}
}
