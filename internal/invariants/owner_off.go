//go:build !invariants

package invariants

// Owner asserts, in invariants builds, that a value's writer methods run
// on the goroutine that owns it (see owner_on.go). Here it is empty and
// its methods do nothing.
type Owner struct{}

// Bind makes the calling goroutine the owner (invariants builds only).
func (o *Owner) Bind() {}

// Check panics unless the calling goroutine owns o (invariants builds
// only).
func (o *Owner) Check(what string) {}

// Loop marks a goroutine as an owning loop (invariants builds only).
type Loop struct{}

// StartLoop marks the calling goroutine as a Loop (invariants builds
// only).
func StartLoop() *Loop { return nil }

// End says the Loop's goroutine owns nothing any more (invariants builds
// only).
func (l *Loop) End() {}
