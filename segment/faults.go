package segment

// Op names a storage operation that a disk can fail.
type Op int

// The operations a Faults seam can fail.
const (
	OpAllocate  Op = iota // reserving blocks (fallocate): ENOSPC lives here
	OpWrite               // copying a batch into the file (pwrite mode)
	OpSync                // making appended bytes durable (msync or fdatasync)
	OpTruncate            // cutting a file to its valid size
	OpCreate              // creating a segment's files
	OpWriteback           // starting writeback of appended bytes (sync_file_range WRITE); failing it skips it
)

func (op Op) String() string {
	switch op {
	case OpAllocate:
		return "allocate"
	case OpWrite:
		return "write"
	case OpSync:
		return "sync"
	case OpTruncate:
		return "truncate"
	case OpCreate:
		return "create"
	case OpWriteback:
		return "writeback"
	}
	return "op?"
}

// Faults is the seam under the storage engine that tests use to fail the
// operations a real disk fails: Inject runs before each operation and, by
// returning an error, makes the operation fail with it without running.
//
// mmap rules out a fully simulated file (the kernel, not Go, writes the
// mapping back), so the seam sits at the syscalls instead; real ENOSPC is
// tested on a small tmpfs as well.
type Faults interface {
	Inject(op Op, path string) error
}

func (c *Config) inject(op Op, path string) error {
	if c.Faults == nil {
		return nil
	}
	return c.Faults.Inject(op, path)
}
