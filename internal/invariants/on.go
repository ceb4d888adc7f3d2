//go:build invariants

package invariants

// Enabled reports whether expensive invariant checks run. The test target
// builds with -tags invariants, so they run under every test.
const Enabled = true
