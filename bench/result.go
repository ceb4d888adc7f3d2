package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Counts account for every record of a run. The invariants Check verifies
// are written beside each field.
type Counts struct {
	// Scheduled is the number of records in an open-loop schedule (e2e,
	// ack); 0 for closed-loop workloads. Sent <= Scheduled.
	Scheduled int64 `json:"scheduled"`
	// Sent records were handed to the client. Acked + Failed + Unacked = Sent.
	Sent int64 `json:"sent"`
	// Acked records were acknowledged by the broker (for acks=0: accepted
	// by the client).
	Acked int64 `json:"acked"`
	// Failed records got an error from the client after its retries.
	Failed int64 `json:"failed"`
	// Unacked records had neither answer at the run's deadline.
	Unacked int64 `json:"unacked"`
	// Received counts distinct records consumed (e2e, catchup).
	// Received <= Sent (e2e), Received <= Acked (catchup).
	Received int64 `json:"received"`
	// Duplicates are records consumed more than once.
	Duplicates int64 `json:"duplicates"`
	// Foreign records were consumed but belong to another run (a topic
	// given with --topic that held older records); they are skipped.
	Foreign int64 `json:"foreign,omitempty"`
	// Missing records were acknowledged but not consumed by the deadline
	// (e2e). Acked - Missing <= Received.
	Missing int64 `json:"missing"`
	// Warmup samples were excluded from the figures; Warmup + Measured is
	// the number of samples taken (records received for e2e, acked for ack
	// and produce, received for catchup).
	Warmup   int64 `json:"warmup"`
	Measured int64 `json:"measured"`
	// RequestErrors are requests that failed on the connection (write or
	// read error, timeout); franz-go retries them, so they are the run's
	// retries.
	RequestErrors int64 `json:"request_errors"`
}

// Result is one run: what was asked, what happened, and the figures.
type Result struct {
	Label           string    `json:"label"`
	Config          Config    `json:"config"`
	Started         time.Time `json:"started"`
	MeasuredSeconds float64   `json:"measured_seconds"`
	Counts          Counts    `json:"counts"`
	// Throughput over the measured window, of record values (key and
	// headers are empty): records/s and 10^6 bytes/s.
	RecordsPerSecond   float64 `json:"records_per_second"`
	MegabytesPerSecond float64 `json:"megabytes_per_second"`
	// LatencyKind says what the latency figures measure; empty when the
	// workload measures none.
	LatencyKind string       `json:"latency_kind,omitempty"`
	Latency     *Percentiles `json:"latency,omitempty"`
	// SendLag is how late the pacer handed records to the client against
	// the schedule (open loop): the harness's own error, already part of
	// every latency above.
	SendLag *Percentiles `json:"send_lag,omitempty"`
	// Histogram is the whole latency histogram, HdrHistogram V2 compressed
	// and base64: `spool bench chart` redraws runs from it.
	Histogram string `json:"histogram,omitempty"`
	// Profile is the broker CPU profile captured during the measured
	// window, or why it could not be.
	Profile      string `json:"profile,omitempty"`
	ProfileError string `json:"profile_error,omitempty"`
	// Problems lists broken invariants of the counts and figures (Check);
	// a result with problems is not to be trusted.
	Problems []string `json:"problems,omitempty"`

	latency *Latency
}

// LatencyHistogram returns the run's histogram, decoding it from the JSON
// form when the result was read from a file; nil when there is none.
func (r *Result) LatencyHistogram() (*Latency, error) {
	if r.latency == nil && r.Histogram != "" {
		l, err := DecodeLatency(r.Histogram)
		if err != nil {
			return nil, err
		}
		r.latency = l
	}
	return r.latency, nil
}

// Check verifies that the counts add up and the figures are sane, and
// returns one line per broken invariant.
func (r *Result) Check() []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	c := r.Counts
	openLoop := r.Config.Workload == WorkloadE2E || r.Config.Workload == WorkloadAck
	if openLoop && c.Sent > c.Scheduled {
		fail("sent %d > scheduled %d", c.Sent, c.Scheduled)
	}
	if c.Acked+c.Failed+c.Unacked != c.Sent {
		fail("acked %d + failed %d + unacked %d != sent %d", c.Acked, c.Failed, c.Unacked, c.Sent)
	}
	for name, v := range map[string]int64{"scheduled": c.Scheduled, "sent": c.Sent, "acked": c.Acked, "failed": c.Failed,
		"unacked": c.Unacked, "received": c.Received, "duplicates": c.Duplicates, "foreign": c.Foreign, "missing": c.Missing,
		"warmup": c.Warmup, "measured": c.Measured, "request_errors": c.RequestErrors} {
		if v < 0 {
			fail("%s %d < 0", name, v)
		}
	}
	switch r.Config.Workload {
	case WorkloadE2E:
		if c.Received > c.Sent {
			fail("received %d > sent %d", c.Received, c.Sent)
		}
		if c.Missing > c.Acked || c.Acked-c.Missing > c.Received {
			fail("acked %d - missing %d > received %d", c.Acked, c.Missing, c.Received)
		}
		if c.Warmup+c.Measured != c.Received {
			fail("warmup %d + measured %d != received %d", c.Warmup, c.Measured, c.Received)
		}
	case WorkloadAck, WorkloadProduce:
		if c.Warmup+c.Measured != c.Acked {
			fail("warmup %d + measured %d != acked %d", c.Warmup, c.Measured, c.Acked)
		}
	case WorkloadCatchup:
		if c.Received > c.Acked {
			fail("received %d > pre-filled %d", c.Received, c.Acked)
		}
		if c.Warmup+c.Measured != c.Received {
			fail("warmup %d + measured %d != received %d", c.Warmup, c.Measured, c.Received)
		}
	}
	if r.Latency != nil {
		if r.Latency.Count != c.Measured {
			fail("latency samples %d != measured %d", r.Latency.Count, c.Measured)
		}
		if !r.Latency.Ordered() {
			fail("percentiles out of order: %+v", *r.Latency)
		}
	}
	for name, v := range map[string]float64{"measured_seconds": r.MeasuredSeconds, "records_per_second": r.RecordsPerSecond, "megabytes_per_second": r.MegabytesPerSecond} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			fail("%s = %v", name, v)
		}
	}
	if r.MeasuredSeconds > 0 {
		want := float64(c.Measured) / r.MeasuredSeconds
		if math.Abs(r.RecordsPerSecond-want) > 1e-6*want+1e-9 {
			fail("records/s %.3f != measured %d / %.3f s", r.RecordsPerSecond, c.Measured, r.MeasuredSeconds)
		}
	}
	return problems
}

// WriteText writes the human report: one header line with the workload,
// then counts, throughput and latency.
func (r *Result) WriteText(w io.Writer) error {
	cfg := r.Config
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s  %s\n", r.Label, cfg.Workload, cfg.Describe())
	c := r.Counts
	fmt.Fprintf(&b, "  records   ")
	if c.Scheduled > 0 {
		fmt.Fprintf(&b, "scheduled %d  ", c.Scheduled)
	}
	fmt.Fprintf(&b, "sent %d  acked %d  failed %d  unacked %d", c.Sent, c.Acked, c.Failed, c.Unacked)
	if cfg.Workload == WorkloadE2E || cfg.Workload == WorkloadCatchup {
		fmt.Fprintf(&b, "  received %d  duplicates %d", c.Received, c.Duplicates)
		if c.Foreign > 0 {
			fmt.Fprintf(&b, "  foreign (skipped) %d", c.Foreign)
		}
	}
	if cfg.Workload == WorkloadE2E {
		fmt.Fprintf(&b, "  missing %d", c.Missing)
	}
	fmt.Fprintf(&b, "\n  measured  %d records in %.3f s (warm-up excluded: %d)  request errors (retried) %d\n",
		c.Measured, r.MeasuredSeconds, c.Warmup, c.RequestErrors)
	fmt.Fprintf(&b, "  throughput %.0f records/s  %.2f MB/s\n", r.RecordsPerSecond, r.MegabytesPerSecond)
	if p := r.Latency; p != nil {
		fmt.Fprintf(&b, "  latency µs (%s, n=%d)\n", r.LatencyKind, p.Count)
		fmt.Fprintf(&b, "    p50 %d  p90 %d  p99 %d  p99.9 %d  p99.99 %d  max %d  mean %.1f\n",
			p.P50, p.P90, p.P99, p.P999, p.P9999, p.Max, p.Mean)
		if p.Clamped > 0 {
			fmt.Fprintf(&b, "    %d samples above one hour were recorded as one hour\n", p.Clamped)
		}
	}
	if p := r.SendLag; p != nil {
		fmt.Fprintf(&b, "  send lag µs (pacer behind schedule, included above)  p50 %d  p99 %d  p99.9 %d  max %d\n", p.P50, p.P99, p.P999, p.Max)
	}
	if r.Profile != "" {
		fmt.Fprintf(&b, "  profile   %s (go tool pprof -http=:0 %s)\n", r.Profile, r.Profile)
	}
	if r.ProfileError != "" {
		fmt.Fprintf(&b, "  profile   not captured: %s\n", r.ProfileError)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  PROBLEM   %s\n", p)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Save writes name.json, name.txt and, when the run measured latency,
// name.hgrm into dir, and returns their paths.
func (r *Result) Save(dir, name string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	write := func(file string, fill func(io.Writer) error) error {
		path := filepath.Join(dir, file)
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := fill(f); err != nil {
			f.Close()
			return err
		}
		paths = append(paths, path)
		return f.Close()
	}
	if err := write(name+".json", func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}); err != nil {
		return paths, err
	}
	if err := write(name+".txt", r.WriteText); err != nil {
		return paths, err
	}
	if r.latency != nil && r.latency.Count() > 0 {
		if err := write(name+".hgrm", r.latency.WriteHGRM); err != nil {
			return paths, err
		}
	}
	return paths, nil
}

// LoadResult reads a result written by Save.
func LoadResult(path string) (*Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, err := r.LatencyHistogram(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}
