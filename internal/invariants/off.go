//go:build !invariants

// Package invariants holds the switch for the second tier of assertions.
//
// Cheap checks are always on. Expensive ones (an index agrees with a scan of
// its segment, the segment list is sorted and contiguous) run only in builds
// with -tags invariants, which `make test` uses. A broken invariant panics
// with the values involved.
package invariants

// Enabled reports whether expensive invariant checks run.
const Enabled = false
