package bench

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// tinyRun runs one small workload against bootstrap and fails the test on
// any broken invariant of the result (Check).
func tinyRun(t *testing.T, cfg Config) *Result {
	t.Helper()
	if cfg.Warmup == 0 {
		cfg.Warmup = 200 * time.Millisecond
	}
	if cfg.Duration == 0 {
		cfg.Duration = 800 * time.Millisecond
	}
	if testing.Verbose() {
		cfg.Progress = os.Stderr
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		r.WriteText(os.Stderr)
	}
	if len(r.Problems) > 0 {
		t.Fatalf("%s: inconsistent result: %v", cfg.Workload, r.Problems)
	}
	return r
}

func newTestSink(t *testing.T) *Sink {
	t.Helper()
	s, err := NewSink("127.0.0.1:0", 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestWorkloadsAgainstSink runs every workload against the sink and checks
// every record is accounted for: on a broker that cannot lose anything,
// nothing may be missing, failed or unacknowledged.
func TestWorkloadsAgainstSink(t *testing.T) {
	sink := newTestSink(t)
	for _, workload := range []string{WorkloadProduce, WorkloadAck, WorkloadE2E, WorkloadCatchup} {
		t.Run(workload, func(t *testing.T) {
			cfg := Config{Workload: workload, Broker: "sink", Bootstrap: []string{sink.Addr()}, Rate: 2000, Acks: "1"}
			if workload == WorkloadCatchup {
				cfg.Records = 100_000
			}
			r := tinyRun(t, cfg)
			c := r.Counts
			if c.Sent == 0 || c.Acked != c.Sent || c.Failed != 0 || c.Unacked != 0 {
				t.Fatalf("counts %+v: every record sent must be acknowledged", c)
			}
			if c.Measured == 0 || r.RecordsPerSecond <= 0 || r.MeasuredSeconds <= 0 {
				t.Fatalf("nothing measured: %+v, %.0f records/s over %.3f s", c, r.RecordsPerSecond, r.MeasuredSeconds)
			}
			switch workload {
			case WorkloadAck, WorkloadE2E:
				if c.Sent != c.Scheduled {
					t.Fatalf("sent %d of %d scheduled", c.Sent, c.Scheduled)
				}
				if r.Latency == nil || r.Latency.Count != c.Measured || r.Histogram == "" {
					t.Fatalf("latency %+v for %d measured records", r.Latency, c.Measured)
				}
				// 2000/s for 1 s: the schedule is exact.
				if c.Scheduled != 2000 {
					t.Fatalf("scheduled %d, want 2000", c.Scheduled)
				}
			case WorkloadCatchup:
				if c.Received != c.Acked || c.Acked != cfg.Records {
					t.Fatalf("catchup: acked %d received %d, want %d", c.Acked, c.Received, cfg.Records)
				}
			}
			if workload == WorkloadE2E && (c.Received != c.Acked || c.Missing != 0 || c.Duplicates != 0) {
				t.Fatalf("e2e counts %+v: every acknowledged record must arrive once", c)
			}
		})
	}
}

// TestE2EAgainstKfake runs the e2e workload against franz-go's kfake: the
// harness drives any Kafka-compatible broker, not only ours.
func TestE2EAgainstKfake(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	r := tinyRun(t, Config{Workload: WorkloadE2E, Broker: "kfake", Bootstrap: cluster.ListenAddrs(), Rate: 1000})
	if c := r.Counts; c.Received != c.Scheduled || c.Missing != 0 {
		t.Fatalf("counts %+v: every scheduled record must arrive", c)
	}
}
