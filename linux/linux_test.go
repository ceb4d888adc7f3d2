package linux

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/edsrzf/mmap-go"
)

func TestAllocateSyncAndResidency(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Allocate(f, 0, 1<<20); err != nil {
		t.Fatal(err)
	}
	if info, _ := f.Stat(); info.Size() != 1<<20 {
		t.Fatalf("size after Allocate %d", info.Size())
	}
	m, err := mmap.Map(f, mmap.RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unmap()
	// A slice that does not start on a page boundary is widened.
	copy(m[5000:], "hello")
	if err := Msync(m[5000:5005]); err != nil {
		t.Fatal(err)
	}
	if err := Fdatasync(f); err != nil {
		t.Fatal(err)
	}
	if err := Madvise(m[100:], AdviceRandom); err != nil {
		t.Fatal(err)
	}
	resident, total, err := ResidentPages(m[4096:8192])
	if err != nil || total != 1 || resident != 1 {
		t.Fatalf("resident %d of %d (%v): the page just written must be resident", resident, total, err)
	}
	got := make([]byte, 5)
	f.ReadAt(got, 5000)
	if string(got) != "hello" {
		t.Fatalf("read %q through the file", got)
	}
}

func TestSeekDataSkipsUnwritten(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Allocate(f, 0, 8<<20); err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("x"), 0)
	f.Sync()
	position, err := SeekData(f, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	// Filesystems that cannot tell answer the offset itself; those that
	// can skip the unwritten range to the end.
	if position != 1<<20 && position != 8<<20 {
		t.Fatalf("SeekData answered %d", position)
	}
	t.Logf("SeekData(1 MiB) over an unwritten preallocated range: %d", position)
}

func TestAffinityAndProbe(t *testing.T) {
	cpus, err := AllowedCPUs()
	if err != nil || len(cpus) == 0 {
		t.Fatalf("allowed CPUs %v %v", cpus, err)
	}
	done := make(chan error)
	go func() { done <- PinThreadToCPU(cpus[len(cpus)-1]) }()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	probe := ProbeIOUring()
	if !probe.Available && probe.Reason == "" {
		t.Fatal("io_uring unavailable without a reason")
	}
	t.Logf("io_uring: %+v", probe)
}
