package bench

import (
	"bytes"
	"encoding/xml"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// consistentE2E is an e2e result whose counts add up.
func consistentE2E() *Result {
	l := NewLatency()
	for i := 1; i <= 900; i++ {
		l.Record(time.Duration(i) * time.Microsecond)
	}
	p := l.Summary()
	return &Result{
		Label:  "spool",
		Config: Config{Workload: WorkloadE2E, RecordBytes: 100, Partitions: 2, Producers: 1, Consumers: 1, Acks: "all", Rate: 1000, Duration: time.Second},
		Counts: Counts{Scheduled: 1000, Sent: 1000, Acked: 998, Failed: 1, Unacked: 1, Received: 999,
			Missing: 0, Warmup: 99, Measured: 900},
		MeasuredSeconds: 0.9, RecordsPerSecond: 1000, MegabytesPerSecond: 0.1,
		LatencyKind: "end-to-end", Latency: &p, latency: l,
	}
}

func TestCheckAcceptsConsistentCounts(t *testing.T) {
	if problems := consistentE2E().Check(); len(problems) != 0 {
		t.Fatalf("problems in a consistent result: %v", problems)
	}
}

// TestCheckFindsEveryKindOfInconsistency breaks one invariant at a time.
func TestCheckFindsEveryKindOfInconsistency(t *testing.T) {
	for name, breakIt := range map[string]func(r *Result){
		"sent above scheduled":       func(r *Result) { r.Counts.Scheduled = 999 },
		"acked+failed+unacked":       func(r *Result) { r.Counts.Unacked = 0 },
		"received above sent":        func(r *Result) { r.Counts.Received, r.Counts.Measured = 1001, 902 },
		"acked not received":         func(r *Result) { r.Counts.Received, r.Counts.Measured = 990, 891 },
		"warmup+measured":            func(r *Result) { r.Counts.Warmup = 98 },
		"histogram count":            func(r *Result) { r.Latency.Count = 899 },
		"percentiles out of order":   func(r *Result) { r.Latency.P99 = r.Latency.P9999 + 1 },
		"negative count":             func(r *Result) { r.Counts.Duplicates = -1 },
		"rate not measured/duration": func(r *Result) { r.RecordsPerSecond = 2000 },
	} {
		r := consistentE2E()
		breakIt(r)
		if len(r.Check()) == 0 {
			t.Errorf("%s: not detected", name)
		}
	}
}

func TestTextReportHasEveryFigure(t *testing.T) {
	r := consistentE2E()
	r.SendLag = &Percentiles{Count: 1000, P50: 3, P99: 9, P999: 11, Max: 12}
	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	p := r.Latency
	for _, want := range []string{
		"spool  e2e  record=100B partitions=2 producers=1 consumers=1 acks=all",
		"scheduled 1000  sent 1000  acked 998  failed 1  unacked 1  received 999  duplicates 0  missing 0",
		"measured  900 records in 0.900 s (warm-up excluded: 99)",
		"throughput 1000 records/s  0.10 MB/s",
		"end-to-end, n=900",
		"p50 " + itoa(p.P50) + "  p90 " + itoa(p.P90) + "  p99 " + itoa(p.P99) + "  p99.9 " + itoa(p.P999) + "  p99.99 " + itoa(p.P9999) + "  max " + itoa(p.Max),
		"send lag µs",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "PROBLEM") {
		t.Errorf("consistent result reported a problem:\n%s", text)
	}
	r.Problems = []string{"made up"}
	buf.Reset()
	r.WriteText(&buf)
	if !strings.Contains(buf.String(), "PROBLEM   made up") {
		t.Errorf("problems not reported:\n%s", buf.String())
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func TestSaveAndLoad(t *testing.T) {
	r := consistentE2E()
	dir := t.TempDir()
	paths, err := r.Save(dir, "run1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"run1.json", "run1.txt", "run1.hgrm"}
	if len(paths) != len(want) {
		t.Fatalf("wrote %v", paths)
	}
	for i, p := range paths {
		if filepath.Base(p) != want[i] {
			t.Fatalf("wrote %v, want %v", paths, want)
		}
	}
	r.Histogram, _ = r.latency.Encode()
	r.Save(dir, "run1")
	back, err := LoadResult(filepath.Join(dir, "run1.json"))
	if err != nil {
		t.Fatal(err)
	}
	if back.Counts != r.Counts || *back.Latency != *r.Latency || back.Config.Rate != 1000 {
		t.Fatalf("loaded %+v", back)
	}
	l, err := back.LatencyHistogram()
	if err != nil || l.Summary() != r.latency.Summary() {
		t.Fatalf("histogram did not survive JSON: %v", err)
	}
}

func TestCompareMediansAndRatios(t *testing.T) {
	mk := func(label string, rps float64, p50, p99 int64) *Result {
		return &Result{Label: label, RecordsPerSecond: rps, MegabytesPerSecond: rps / 1e4,
			Latency: &Percentiles{Count: 10, P50: p50, P99: p99, P999: p99, Max: p99}}
	}
	failing := mk("kfake", 150, 300, 2000)
	failing.Counts.Failed = 7
	rows := Compare([]*Result{
		mk("spool", 300, 100, 1000), mk("kfake", 100, 400, 8000),
		mk("spool", 200, 200, 3000), failing,
		mk("spool", 100, 150, 2000), mk("kfake", 50, 500, 4000),
	})
	if len(rows) != 2 || rows[0].Broker != "spool" || rows[1].Broker != "kfake" {
		t.Fatalf("rows %+v", rows)
	}
	s, k := rows[0], rows[1]
	if s.Runs != 3 || s.RecordsPerSecond != 200 || s.P50 != 150 || s.P99 != 2000 {
		t.Fatalf("spool medians %+v", s)
	}
	if k.RecordsPerSecond != 100 || k.P50 != 400 || k.P99 != 4000 {
		t.Fatalf("kfake medians %+v", k)
	}
	if s.ThroughputRatio != 1 || k.ThroughputRatio != 0.5 || k.P50Ratio != 150.0/400 || k.P99Ratio != 0.5 {
		t.Fatalf("ratios: spool %+v kfake %+v", s, k)
	}
	if median([]float64{4, 1, 3, 2}) != 2.5 || median(nil) != 0 {
		t.Fatal("median")
	}
	var buf bytes.Buffer
	WriteComparison(&buf, rows)
	if !strings.Contains(buf.String(), "| kfake | 3 | 100 | 0.01 | 0.50× | 400 | 4000 |") ||
		!strings.Contains(buf.String(), "| 7 | 0 |\n") || !strings.Contains(buf.String(), "| failed records | problems |") {
		t.Fatalf("table:\n%s", buf.String())
	}
}

// TestChartIsWellFormedSVG decodes the chart as XML and checks one line
// per run, legends escaped, and every coordinate inside the picture.
func TestChartIsWellFormedSVG(t *testing.T) {
	var series []Series
	for i, label := range []string{"spool <acks=all>", "kfake & co"} {
		l := NewLatency()
		for us := 1; us <= 10_000*(i+1); us++ {
			l.Record(time.Duration(us) * time.Microsecond)
		}
		series = append(series, Series{Label: label, Points: l.Spectrum(chartTicksPerHalf)})
	}
	var buf bytes.Buffer
	if err := WriteSpectrumSVG(&buf, "e2e latency", series); err != nil {
		t.Fatal(err)
	}
	decoder := xml.NewDecoder(&buf)
	paths, texts := 0, ""
	for {
		tok, err := decoder.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if el.Name.Local == "path" {
				paths++
				for _, a := range el.Attr {
					if a.Name.Local == "d" {
						checkPathInside(t, a.Value)
					}
				}
			}
		case xml.CharData:
			texts += string(el) + "|"
		}
	}
	if paths != 2 {
		t.Fatalf("%d lines, want 2", paths)
	}
	for _, want := range []string{"spool <acks=all>", "kfake & co", "99.9%", "99.99%", "1ms", "10ms"} {
		if !strings.Contains(texts, want) {
			t.Errorf("chart text lacks %q: %s", want, texts)
		}
	}
	if ninesLabel(0) != "0%" || ninesLabel(2) != "99%" || ninesLabel(5) != "99.999%" {
		t.Error("ninesLabel")
	}
	if microsLabel(1) != "1µs" || microsLabel(1e4) != "10ms" || microsLabel(1e6) != "1s" {
		t.Error("microsLabel")
	}
}

func checkPathInside(t *testing.T, d string) {
	t.Helper()
	for _, field := range strings.Fields(d) {
		field = strings.TrimLeft(field, "MHV")
		v, err := strconv.ParseFloat(field, 64)
		if err != nil {
			t.Fatalf("path %q: %v", d, err)
		}
		if v < 0 || v > chartWidth {
			t.Fatalf("path %q leaves the picture (%v)", d, v)
		}
	}
}
