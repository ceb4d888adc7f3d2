package invariants

import "fmt"

// Failf panics with a message naming the broken invariant and its values.
// It is for states the code believes impossible, never for bad input.
func Failf(format string, args ...any) {
	panic(fmt.Sprintf("spool: invariant broken: "+format, args...))
}
