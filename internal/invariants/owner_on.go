//go:build invariants

package invariants

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Owner asserts that a value's writer methods run on the goroutine that
// owns the value (for a partition log, its shard's goroutine). A writer
// method calls Check first; a call from any other goroutine panics with
// both goroutines' ids, even when no race happened to occur.
//
// Ownership starts with whoever binds the Owner, by Bind or by the first
// Check, and moves only in two ways, both to the calling goroutine:
//   - a Loop (a shard's goroutine) takes over a value owned by a goroutine
//     that is not a Loop: a log opened elsewhere (a test, a tool) and then
//     handed to a shard;
//   - anyone takes over a value whose owner was a Loop that has ended (a
//     stopped shard's logs, closed by whoever stopped it).
//
// So a value a Loop owns panics when any other goroutine, a second Loop
// included, calls its writer methods while the Loop runs.
//
// Builds without -tags invariants get an empty Owner whose methods do
// nothing: no field, no call, no cost.
type Owner struct {
	owner atomic.Pointer[goroutine]
}

// goroutine is one goroutine as an owner.
type goroutine struct {
	id    uint64
	loop  bool
	ended atomic.Bool // a Loop that has ended
}

// loops are the live Loops, by goroutine id.
var loops sync.Map // uint64 → *goroutine

// Bind makes the calling goroutine the owner.
func (o *Owner) Bind() { o.owner.Store(current(goroutineID())) }

// Check panics, naming what was called, unless the calling goroutine owns
// o or may take it over (see Owner).
func (o *Owner) Check(what string) {
	id := goroutineID()
	owner := o.owner.Load()
	if owner != nil && owner.id == id {
		return
	}
	caller := current(id)
	if owner == nil || owner.ended.Load() || (caller.loop && !owner.loop) {
		if o.owner.CompareAndSwap(owner, caller) {
			return
		}
		owner = o.owner.Load() // another goroutine took it meanwhile
	}
	Failf("%s called on goroutine %d; the owner is goroutine %d (loop %v)", what, id, owner.id, owner.loop)
}

// Loop marks its goroutine as an owning loop (a shard's goroutine) from
// StartLoop until End: see Owner for what that changes.
type Loop struct {
	g *goroutine
}

// StartLoop marks the calling goroutine as a Loop.
func StartLoop() *Loop {
	g := &goroutine{id: goroutineID(), loop: true}
	loops.Store(g.id, g)
	return &Loop{g: g}
}

// End says the Loop's goroutine owns nothing any more: whoever calls a
// value it owned next takes it over. Call it on the Loop's goroutine, as
// it returns.
func (l *Loop) End() {
	l.g.ended.Store(true)
	loops.Delete(l.g.id)
}

// current is the owner record of the goroutine id: its Loop's, or a fresh
// one for a goroutine that is not a Loop.
func current(id uint64) *goroutine {
	if g, ok := loops.Load(id); ok {
		return g.(*goroutine)
	}
	return &goroutine{id: id}
}

// stackBuffers hold the header runtime.Stack writes, so goroutineID does
// not allocate (the hot-path allocation tests run with invariants on).
var stackBuffers = sync.Pool{New: func() any { return new([64]byte) }}

// goroutineID is the calling goroutine's id, read from the first line of
// its stack trace ("goroutine 42 [running]:"). Go has no cheaper public
// way; it costs a few microseconds, which only invariants builds pay.
func goroutineID() uint64 {
	buf := stackBuffers.Get().(*[64]byte)
	defer stackBuffers.Put(buf)
	b := buf[:runtime.Stack(buf[:], false)]
	const prefix = "goroutine "
	if len(b) <= len(prefix) || string(b[:len(prefix)]) != prefix {
		Failf("cannot read the goroutine id from %q", b)
	}
	id := uint64(0)
	for _, c := range b[len(prefix):] {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}
