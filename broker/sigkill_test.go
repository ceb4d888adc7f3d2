package broker

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBrokerChild runs `spool serve` in a child process for the SIGKILL
// test; it prints the Kafka address once listening.
func TestBrokerChild(t *testing.T) {
	dir := os.Getenv("SPOOL_BROKER_CHILD_DIR")
	if dir == "" {
		t.Skip("only runs as the SIGKILL test's child")
	}
	args := []string{
		"--log.dirs=" + dir, "--listeners=PLAINTEXT://127.0.0.1:0", "--admin.listener=",
		"--log.segment.bytes=4194304", "--num.partitions=3",
	}
	if extra := os.Getenv("SPOOL_BROKER_CHILD_ARGS"); extra != "" {
		args = append(args, strings.Fields(extra)...)
	}
	props, err := LoadProperties(args)
	if err != nil {
		fmt.Println("child-error", err)
		os.Exit(3)
	}
	b, err := Start(props, discardLogger())
	if err != nil {
		fmt.Println("child-error", err)
		os.Exit(3)
	}
	if b.replListener != nil {
		fmt.Println("replication", b.replListener.Addr().String())
	}
	fmt.Println("listening", b.Addr())
	select {}
}

func startBrokerChild(t *testing.T, dir string, extra ...string) (*exec.Cmd, string) {
	cmd, addr, _ := startBrokerChildRepl(t, dir, extra...)
	return cmd, addr
}

// startBrokerChildRepl starts a child broker with extra settings and
// returns its Kafka address and, if it has one, its replication address.
func startBrokerChildRepl(t *testing.T, dir string, extra ...string) (*exec.Cmd, string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBrokerChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SPOOL_BROKER_CHILD_DIR="+dir, "SPOOL_BROKER_CHILD_ARGS="+strings.Join(extra, " "))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	addr := make(chan string, 1)
	repl := ""
	go func() {
		for lines.Scan() {
			if rest, ok := strings.CutPrefix(lines.Text(), "replication "); ok {
				repl = rest
			}
			if rest, ok := strings.CutPrefix(lines.Text(), "listening "); ok {
				addr <- rest
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatal("broker child exited before listening")
		}
		return cmd, a, repl
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("broker child did not start")
	}
	return nil, "", ""
}

// TestSigkillKeepsAcknowledgedRecords produces with acks=all from franz-go
// (idempotent, the default) while the broker process is SIGKILLed at a
// random moment, several times; after each restart every acknowledged
// record is there.
func TestSigkillKeepsAcknowledgedRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	acked := map[string]bool{}
	var mu sync.Mutex
	cycles := 3
	for cycle := 0; cycle < cycles; cycle++ {
		cmd, addr := startBrokerChild(t, dir)
		c, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("durable"), kgo.AllowAutoTopicCreation(),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(3), kgo.ProduceRequestTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		killAt := time.After(time.Duration(300+cycle*150) * time.Millisecond)
	produce:
		for i := 0; ; i++ {
			select {
			case <-killAt:
				break produce
			default:
			}
			value := fmt.Sprintf("cycle-%d-record-%d", cycle, i)
			c.Produce(ctx, &kgo.Record{Value: []byte(value)}, func(r *kgo.Record, err error) {
				if err == nil {
					mu.Lock()
					acked[string(r.Value)] = true
					mu.Unlock()
				}
			})
			if i%100 == 99 {
				time.Sleep(time.Millisecond)
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		cancel()
		c.Close()
	}
	mu.Lock()
	t.Logf("%d acknowledged records over %d SIGKILLs", len(acked), cycles)
	want := len(acked)
	mu.Unlock()
	if want == 0 {
		t.Fatal("nothing was acknowledged")
	}
	cmd, addr := startBrokerChild(t, dir)
	defer func() { cmd.Process.Signal(syscall.SIGKILL); cmd.Wait() }()
	consumer, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("durable"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seen := map[string]bool{}
	for {
		missing := 0
		for v := range acked {
			if !seen[v] {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		fetches := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%d of %d acknowledged records missing after restart", missing, want)
		}
		fetches.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
}
