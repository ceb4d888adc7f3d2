package engine

import (
	"fmt"
	"strings"
	"testing"

	"spool/internal/batchtest"
	"spool/internal/invariants"
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

// elsewhere runs f on a goroutine of its own, as panicked does: a
// goroutine that is neither the log's opener nor its shard, as a
// replication or request goroutine is.
func elsewhere(f func()) string {
	done := make(chan string)
	go func() { done <- panicked(f) }()
	return <-done
}

// In invariants builds a writer method panics on a goroutine that is not
// the log's writer: its opener until a shard adopts it, then the shard,
// then, once the shard stopped, whoever calls next. The any-goroutine
// methods never do.
func TestWriterMethodsAssertTheirGoroutine(t *testing.T) {
	if !invariants.Enabled {
		t.Skip("the ownership check runs in invariants builds")
	}
	l := mustOpen(t, t.TempDir(), smallConfig())
	appendN(t, l, 5, 2, 100, clock) // the opener is the writer
	if msg := elsewhere(func() { l.Flush() }); !strings.Contains(msg, "invariant broken: Log.Flush called on goroutine") {
		t.Fatalf("Flush on a foreign goroutine before any shard: panic %q", msg)
	}

	shard := NewShard(ShardConfig{CPU: -1})
	if _, err := shard.Append(l, batchtest.Values(2, 100, clock(5)), 3, true); err != nil {
		t.Fatal(err) // the shard's goroutine adopts the log
	}
	for name, call := range map[string]func(){
		"Log.Flush":         func() { l.Flush() },
		"Log.DeleteRecords": func() { l.DeleteRecords(1) },
		"Log.Append":        func() { l.Append(batchtest.Values(1, 10, clock(6)), 3) },
		"Log.SetConfig":     func() { l.SetConfig(smallConfig()) },
	} {
		// The opener, and any other goroutine, lost the log to the shard.
		if msg := panicked(call); !strings.Contains(msg, "invariant broken: "+name+" called on goroutine") {
			t.Errorf("%s from the opener while the shard runs: panic %q", name, msg)
		}
		if msg := elsewhere(call); !strings.Contains(msg, "invariant broken: "+name+" called on goroutine") {
			t.Errorf("%s from another goroutine while the shard runs: panic %q", name, msg)
		}
	}
	var err error
	if msg := panicked(func() { shard.Do(func() { _, err = l.DeleteRecords(1) }) }); msg != "" || err != nil {
		t.Fatalf("DeleteRecords on the shard: panic %q, error %v", msg, err)
	}
	if msg := elsewhere(func() {
		l.EndOffsetForEpoch(3)
		l.EpochHistory()
		l.Config()
		l.LogEndOffset()
	}); msg != "" {
		t.Fatalf("an any-goroutine method panicked: %s", msg)
	}

	shard.Stop()
	if err := l.Close(); err != nil { // the stopped shard's log passes back
		t.Fatal(err)
	}
}
