//go:build invariants

package invariants

import (
	"fmt"
	"strings"
	"testing"
)

// panicked runs f on the calling goroutine and returns what it panicked
// with, or "".
func panicked(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

// elsewhere runs f on a goroutine of its own, as panicked does.
func elsewhere(f func()) string {
	done := make(chan string)
	go func() { done <- panicked(f) }()
	return <-done
}

// testLoop is a goroutine marked as a Loop that runs what it is given.
type testLoop struct {
	run   chan func()
	ended chan struct{}
}

func startTestLoop() *testLoop {
	l := &testLoop{run: make(chan func()), ended: make(chan struct{})}
	started := make(chan struct{})
	go func() {
		loop := StartLoop()
		close(started)
		for f := range l.run {
			f()
		}
		loop.End()
		close(l.ended)
	}()
	<-started
	return l
}

// do runs f on the loop, as panicked does.
func (l *testLoop) do(f func()) string {
	done := make(chan string)
	l.run <- func() { done <- panicked(f) }
	return <-done
}

func (l *testLoop) stop() {
	close(l.run)
	<-l.ended
}

func TestOwnerChecksTheGoroutine(t *testing.T) {
	var o Owner
	o.Check("first") // an unbound Owner binds the caller
	o.Check("again")
	msg := elsewhere(func() { o.Check("Thing.Write") })
	if !strings.Contains(msg, "invariant broken: Thing.Write called on goroutine") {
		t.Fatalf("a foreign goroutine's call: panic %q", msg)
	}
	if msg := elsewhere(func() { o.Bind(); o.Check("bound here") }); msg != "" {
		t.Fatalf("Check after Bind on the same goroutine: %s", msg)
	}
	if msg := panicked(func() { o.Check("no longer the owner") }); msg == "" {
		t.Fatal("the goroutine that lost the Owner to Bind passed")
	}
}

// A Loop takes over what a plain goroutine owns; nobody else takes what a
// live Loop owns, another Loop included; whoever calls next takes what an
// ended Loop owned.
func TestOwnerLoops(t *testing.T) {
	var o Owner
	o.Bind()
	loop := startTestLoop()
	if msg := loop.do(func() { o.Check("adopt") }); msg != "" {
		t.Fatalf("the Loop could not adopt: %s", msg)
	}
	if msg := panicked(func() { o.Check("from the opener") }); !strings.Contains(msg, "(loop true)") {
		t.Fatalf("the opener called a live Loop's value: panic %q", msg)
	}
	second := startTestLoop()
	if msg := second.do(func() { o.Check("second loop") }); msg == "" {
		t.Fatal("a second Loop took a live Loop's value")
	}
	second.stop()
	loop.stop()
	if msg := panicked(func() { o.Check("after End"); o.Check("owned again") }); msg != "" {
		t.Fatalf("the ended Loop's value did not pass to the caller: %s", msg)
	}
	if msg := elsewhere(func() { o.Check("a third goroutine") }); msg == "" {
		t.Fatal("the new owner's value passed on a third goroutine")
	}
}

// The price of a Check that passes, which every writer method of an
// invariants build pays: reading the goroutine id from runtime.Stack.
//
//	go test -tags invariants -run='^$' -bench=OwnerCheck ./internal/invariants/
func BenchmarkOwnerCheck(b *testing.B) {
	var o Owner
	o.Bind()
	b.ReportAllocs()
	for b.Loop() {
		o.Check("bench")
	}
}
