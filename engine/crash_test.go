package engine

import (
	"bufio"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"spool/internal/batchtest"
	"spool/segment"
)

// The crash test: a child process (this test binary, re-run) appends
// batches through a shard with acks=all-style durability from several
// goroutines and prints "ack <base offset> <crc>" once each append is
// durable. The parent SIGKILLs it at a random moment, reopens the log
// itself, and checks that the log is a valid prefix (every batch valid,
// offsets contiguous, ending on a batch boundary) holding every batch the
// child reported durable, byte for byte (the CRC covers the records). Then
// the next child continues on the same directory.
//
// SIGKILL loses no page-cache data, so this proves process-crash safety
// (torn appends, unsealed segments, recovery, restart); a power cut is not
// simulated here.

const crashChildEnv = "SPOOL_CRASH_CHILD_DIR"

func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("only runs as the crash test's child")
	}
	mode := segment.WritePwrite
	if os.Getenv("SPOOL_CRASH_MODE") == "mmap" {
		mode = segment.WriteMmap
	}
	cfg := LogConfig{
		// A page-cache window of under half a segment: the sync jobs drop
		// pages of the segments they seal and of the active one while
		// children are killed.
		Segment:         segment.Config{SegmentBytes: 256 << 10, IndexBytes: 16 << 10, IndexIntervalBytes: 1024, WriteMode: mode, CacheWindowBytes: 96 << 10},
		RetentionMillis: -1,
		RetentionBytes:  -1,
		FlushPolicy:     FlushGroupCommit,
	}
	l, err := OpenLog(dir, cfg)
	if err != nil {
		fmt.Println("open-failed", err)
		os.Exit(3)
	}
	shard := NewShard(ShardConfig{CPU: -1})
	out := bufio.NewWriter(os.Stdout)
	var outMu sync.Mutex
	var wg sync.WaitGroup
	for producer := 0; producer < 4; producer++ {
		wg.Add(1)
		go func(producer int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(producer) + time.Now().UnixNano()))
			for i := 0; i < 1_000_000; i++ {
				records := make([]batchtest.Record, 1+rng.Intn(8))
				for r := range records {
					value := make([]byte, rng.Intn(3000))
					rng.Read(value)
					records[r] = batchtest.Record{Key: []byte(fmt.Sprintf("p%d-%d", producer, i)), Value: value, Timestamp: time.Now().UnixMilli()}
				}
				b := batchtest.Build(records)
				crc := uint32(b[17])<<24 | uint32(b[18])<<16 | uint32(b[19])<<8 | uint32(b[20])
				info, err := shard.Append(l, b, 1, true)
				if err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(4)
				}
				outMu.Lock()
				fmt.Fprintf(out, "ack %d %d\n", info.BaseOffset, crc)
				out.Flush()
				outMu.Unlock()
			}
		}(producer)
	}
	wg.Wait()
}

// crashRun is a crash test's seed (SPOOL_SEED, to replay a run, else the
// time) and iteration count (SPOOL_CRASH_ITERATIONS, set by make crash,
// else fallback).
func crashRun(t *testing.T, fallback int) (seed int64, iterations int) {
	t.Helper()
	seed, iterations = time.Now().UnixNano(), fallback
	if v := os.Getenv("SPOOL_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatalf("SPOOL_SEED=%q", v)
		}
	}
	if v := os.Getenv("SPOOL_CRASH_ITERATIONS"); v != "" {
		var err error
		if iterations, err = strconv.Atoi(v); err != nil || iterations < 1 {
			t.Fatalf("SPOOL_CRASH_ITERATIONS=%q", v)
		}
	}
	return seed, iterations
}

func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	runSeed, iterations := crashRun(t, 8)
	rng := rand.New(rand.NewSource(runSeed))
	dir := t.TempDir()
	acked := map[Offset]uint32{}
	for i := 0; i < iterations; i++ {
		mode := "pwrite"
		if rng.Intn(2) == 1 {
			mode = "mmap"
		}
		delay := time.Duration(20+rng.Intn(300)) * time.Millisecond
		newAcks := runCrashChild(t, dir, mode, delay)
		for base, crc := range newAcks {
			acked[base] = crc
		}
		verifyCrashLog(t, dir, acked, fmt.Sprintf("iteration %d (%s, killed after %v) of SPOOL_SEED=%d", i, mode, delay, runSeed))
	}
	t.Logf("%d kills, %d durable batches verified, SPOOL_SEED=%d", iterations, len(acked), runSeed)
}

// runCrashChild starts a child, lets it append for delay, SIGKILLs it, and
// returns the acks it printed as complete lines.
func runCrashChild(t *testing.T, dir, mode string, delay time.Duration) map[Offset]uint32 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, "SPOOL_CRASH_MODE="+mode)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acks := map[Offset]uint32{}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			lines <- scanner.Text()
		}
	}()
	// Wait for the first ack (the child is up and appending), then kill
	// after delay.
	deadline := time.After(30 * time.Second)
	first := true
	var kill <-chan time.Time
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				cmd.Wait()
				return acks
			}
			fields := strings.Fields(line)
			if len(fields) != 3 || fields[0] != "ack" {
				if strings.HasPrefix(line, "open-failed") {
					t.Fatalf("child could not open the log: %s", line)
				}
				continue
			}
			base, err1 := strconv.ParseInt(fields[1], 10, 64)
			crc, err2 := strconv.ParseUint(fields[2], 10, 32)
			if err1 != nil || err2 != nil {
				continue
			}
			acks[Offset(base)] = uint32(crc)
			if first {
				first = false
				kill = time.After(delay)
			}
		case <-kill:
			cmd.Process.Signal(syscall.SIGKILL)
			kill = nil
		case <-deadline:
			cmd.Process.Signal(syscall.SIGKILL)
			t.Fatal("crash child never acknowledged an append within 30s")
		}
	}
}

func verifyCrashLog(t *testing.T, dir string, acked map[Offset]uint32, context string) {
	t.Helper()
	l, err := OpenLog(dir, LogConfig{Segment: segment.Config{SegmentBytes: 256 << 10, IndexBytes: 16 << 10, IndexIntervalBytes: 1024}, RetentionMillis: -1, RetentionBytes: -1})
	if err != nil {
		t.Fatalf("%s: reopen: %v", context, err)
	}
	defer l.Close()
	if l.Corruptions() != 0 {
		t.Fatalf("%s: recovery reported corruption", context)
	}
	// Walk every batch: valid, contiguous; collect base → crc.
	found := map[Offset]uint32{}
	next := l.LogStartOffset()
	for next < l.HighWatermark() {
		var r ReadResult
		if err := l.Read(next, 1<<20, true, ReadUncommitted, &r); err != nil || len(r.Extents) == 0 {
			t.Fatalf("%s: read %d: %v", context, next, err)
		}
		for _, e := range r.Extents {
			buf := make([]byte, e.Length)
			if _, err := e.File.ReadAt(buf, e.Position); err != nil {
				t.Fatal(err)
			}
			for len(buf) > 0 {
				h, err := segment.ParseHeader(buf)
				if err != nil {
					t.Fatalf("%s: %v", context, err)
				}
				if _, err := segment.ValidateBatch(buf[:h.TotalBytes()]); err != nil {
					t.Fatalf("%s: batch %d invalid after recovery: %v", context, h.BaseOffset, err)
				}
				if h.BaseOffset != next {
					t.Fatalf("%s: batch at %d, expected %d: not contiguous", context, h.BaseOffset, next)
				}
				found[h.BaseOffset] = h.CRC
				next = h.NextOffset()
				buf = buf[h.TotalBytes():]
			}
		}
		r.Release()
	}
	if next != l.LogEndOffset() {
		t.Fatalf("%s: batches end at %d, log end offset %d", context, next, l.LogEndOffset())
	}
	for base, crc := range acked {
		got, ok := found[base]
		if !ok {
			t.Fatalf("%s: durable batch at offset %d lost (log end %d)", context, base, l.LogEndOffset())
		}
		if got != crc {
			t.Fatalf("%s: batch at offset %d has CRC %08x, acknowledged %08x", context, base, got, crc)
		}
	}
}
