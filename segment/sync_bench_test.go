package segment

import "syscall"

// syncAll writes back every dirty page on the machine (sync(2)), so a
// benchmark op starts without the previous op's writeback in flight.
func syncAll() { syscall.Sync() }
