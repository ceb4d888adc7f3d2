package main

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"spool/bench"
)

// TestBenchAgainstSpool runs a tiny e2e bench through the CLI against an
// embedded spool, with a profile, and checks the report is complete and
// consistent: every file written, counts adding up (Check), percentiles
// ordered, the profile captured from the admin listener.
func TestBenchAgainstSpool(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	err := benchCommand([]string{"e2e", "--broker=spool", "--spool.num.shards=2", "--rate=1000", "--warmup=300ms",
		"--duration=1s", "--drain=5s", "--profile", "--quiet", "--out", out}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s%s", err, stdout.String(), stderr.String())
	}
	r, err := bench.LoadResult(filepath.Join(out, "spool-e2e-1.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) > 0 || len(r.Check()) > 0 {
		t.Fatalf("inconsistent: %v %v", r.Problems, r.Check())
	}
	c := r.Counts
	// 1000/s for 1.3 s: 1300 records, every one acknowledged and
	// consumed once; 300 of them in the warm-up.
	if c.Scheduled != 1300 || c.Sent != 1300 || c.Acked != 1300 || c.Received != 1300 || c.Missing != 0 || c.Duplicates != 0 {
		t.Fatalf("counts %+v", c)
	}
	if c.Warmup+c.Measured != c.Received || c.Measured < 900 || c.Measured > 1100 {
		t.Fatalf("warm-up %d, measured %d", c.Warmup, c.Measured)
	}
	p := r.Latency
	if p == nil || p.Count != c.Measured || !p.Ordered() || p.P50 <= 0 {
		t.Fatalf("latency %+v", p)
	}
	if r.Profile == "" || r.ProfileError != "" {
		t.Fatalf("profile %q, error %q", r.Profile, r.ProfileError)
	}
	if info, err := os.Stat(r.Profile); err != nil || info.Size() == 0 {
		t.Fatalf("profile file: %v", err)
	}
	for _, name := range []string{"spool-e2e-1.txt", "spool-e2e-1.hgrm", "latency-spectrum.svg"} {
		data, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || len(data) == 0 {
			t.Fatalf("%s: %v", name, err)
		}
		if strings.HasSuffix(name, ".svg") {
			if err := xml.Unmarshal(data, new(struct{})); err != nil {
				t.Fatalf("%s is not XML: %v", name, err)
			}
		}
	}
	if !strings.Contains(stdout.String(), "p99.99") {
		t.Fatalf("report:\n%s", stdout.String())
	}
}

// TestBenchCompare alternates spool and the sink on the ack workload and
// checks the comparison table and the chart redrawn from saved results.
func TestBenchCompare(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	err := benchCommand([]string{"compare", "ack", "--brokers=spool+num.shards=1,sink", "--rounds=2", "--rate=500", "--warmup=200ms",
		"--duration=500ms", "--acks=1", "--quiet", "--out", out}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s%s", err, stdout.String(), stderr.String())
	}
	table, err := os.ReadFile(filepath.Join(out, "comparison.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| spool+num.shards=1 | 2 |", "| sink | 2 |", "1.00×, 1.00×"} {
		if !strings.Contains(string(table), want) {
			t.Fatalf("comparison lacks %q:\n%s", want, table)
		}
	}
	for _, run := range []string{"spool_num.shards_1-ack-1", "spool_num.shards_1-ack-2", "sink-ack-1", "sink-ack-2"} {
		r, err := bench.LoadResult(filepath.Join(out, run+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Problems) > 0 || r.Counts.Acked != r.Counts.Scheduled {
			t.Fatalf("%s: %+v %v", run, r.Counts, r.Problems)
		}
	}
	chart := filepath.Join(out, "again.svg")
	stdout.Reset()
	if err := benchCommand([]string{"chart", "--out", chart, "one=" + filepath.Join(out, "sink-ack-1.json"),
		filepath.Join(out, "spool_num.shards_1-ack-1.json")}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(chart)
	if err != nil || !bytes.Contains(data, []byte(">one<")) || bytes.Count(data, []byte("<path ")) != 2 {
		t.Fatalf("chart: %v\n%s", err, data)
	}
}

func TestBenchRejectsBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"nonsense"},
		{"e2e", "--broker=nowhere"},
		{"e2e", "--broker=kfake+x=y"},
		{"e2e", "--broker=sink", "--record-size=8"},
		{"e2e", "--broker=sink", "--acks=0"},
		{"compare", "--brokers=sink"},
		{"chart", "--out", t.TempDir()},
		{"e2e", "--broker=sink", "stray", "--rate=5"},
		{"compare", "e2e", "--brokers=sink,sink", "extra"},
		{"e2e", "--broker=spool", "--spool.no.such.setting=1"},
	} {
		var stdout, stderr bytes.Buffer
		if err := benchCommand(append(args, "--quiet", "--out", t.TempDir()), &stdout, &stderr); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}

// TestBenchRawClient runs the raw producer through the CLI against an
// embedded spool and kfake, idempotent: spool checks every batch's CRC,
// record count and sequence, so a bad request would fail records.
func TestBenchRawClient(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	err := benchCommand([]string{"compare", "produce", "--brokers=spool,kfake", "--client=raw", "--idempotent", "--rounds=1",
		"--partitions=3", "--producers=2", "--record-size=200", "--batch-bytes=8192", "--warmup=200ms", "--duration=500ms",
		"--quiet", "--out", out}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s%s", err, stdout.String(), stderr.String())
	}
	for _, run := range []string{"spool-produce-1", "kfake-produce-1"} {
		r, err := bench.LoadResult(filepath.Join(out, run+".json"))
		if err != nil {
			t.Fatal(err)
		}
		c := r.Counts
		if len(r.Problems) > 0 || c.Sent == 0 || c.Acked != c.Sent || c.Failed != 0 || c.Measured == 0 || r.Config.Client != bench.ClientRaw {
			t.Fatalf("%s: %+v %v", run, c, r.Problems)
		}
	}
	if !strings.Contains(stdout.String(), "client=raw") {
		t.Fatalf("report:\n%s", stdout.String())
	}
}
