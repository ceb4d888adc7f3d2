package bench

import (
	"bufio"
	"bytes"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// within checks an HdrHistogram figure against the exact one: never below
// it, at most 0.1 % above (three significant digits).
func within(t *testing.T, name string, got, exact int64) {
	t.Helper()
	if got < exact || float64(got) > float64(exact)*1.001+1 {
		t.Errorf("%s = %d, exact %d", name, got, exact)
	}
}

func TestPercentilesOfKnownData(t *testing.T) {
	l := NewLatency()
	for us := 1; us <= 100_000; us++ {
		l.Record(time.Duration(us) * time.Microsecond)
	}
	p := l.Summary()
	if p.Count != 100_000 || p.Min != 1 {
		t.Fatalf("count %d min %d", p.Count, p.Min)
	}
	within(t, "p50", p.P50, 50_000)
	within(t, "p90", p.P90, 90_000)
	within(t, "p99", p.P99, 99_000)
	within(t, "p99.9", p.P999, 99_900)
	within(t, "p99.99", p.P9999, 99_990)
	within(t, "max", p.Max, 100_000)
	if math.Abs(p.Mean-50_000.5) > 50 {
		t.Errorf("mean %.1f", p.Mean)
	}
	if !p.Ordered() {
		t.Errorf("not ordered: %+v", p)
	}
}

func TestMergeEqualsRecordingTogether(t *testing.T) {
	a, b, all := NewLatency(), NewLatency(), NewLatency()
	for i := 0; i < 5000; i++ {
		d := time.Duration(i*i%7919+1) * time.Microsecond
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
		all.Record(d)
	}
	a.RecordN(40*time.Millisecond, 7)
	all.RecordN(40*time.Millisecond, 7)
	merged := NewLatency()
	merged.Merge(a)
	merged.Merge(b)
	if merged.Summary() != all.Summary() {
		t.Fatalf("merged %+v\nall    %+v", merged.Summary(), all.Summary())
	}
	if a.Count()+b.Count() != merged.Count() {
		t.Fatalf("merge changed its inputs' counts")
	}
}

func TestOutOfRangeSamplesAreKept(t *testing.T) {
	l := NewLatency()
	l.Record(-time.Second)          // a clock read before the intended time
	l.Record(300 * time.Nanosecond) // below the resolution
	l.Record(2 * time.Hour)         // above the range
	p := l.Summary()
	if p.Count != 3 || p.Min != 1 || p.Clamped != 1 {
		t.Fatalf("%+v: every sample counted, low ones as 1 µs, the long one clamped", p)
	}
	within(t, "max", p.Max, int64(time.Hour/time.Microsecond))
}

func TestEncodeRoundTrip(t *testing.T) {
	l := NewLatency()
	for i := 1; i < 3000; i++ {
		l.Record(time.Duration(i*37) * time.Microsecond)
	}
	encoded, err := l.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeLatency(encoded)
	if err != nil {
		t.Fatal(err)
	}
	if back.Summary() != l.Summary() {
		t.Fatalf("decoded %+v, want %+v", back.Summary(), l.Summary())
	}
	if _, err := DecodeLatency("not a histogram"); err == nil {
		t.Fatal("decoded garbage")
	}
}

// TestHGRMFormat parses the .hgrm output: value and percentile columns
// non-decreasing, the last line at percentile 1 with the total count, and
// the footer's count and max agreeing with the summary.
func TestHGRMFormat(t *testing.T) {
	l := NewLatency()
	for i := 1; i <= 1000; i++ {
		l.Record(time.Duration(i) * time.Millisecond)
	}
	var buf bytes.Buffer
	if err := l.WriteHGRM(&buf); err != nil {
		t.Fatal(err)
	}
	scanner := bufio.NewScanner(&buf)
	lastValue, lastPercentile, lastCount := -1.0, -1.0, int64(-1)
	rows, footer := 0, ""
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "Value") {
			continue
		}
		if strings.HasPrefix(line, "#") {
			footer += line + "\n"
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 4 {
			t.Fatalf("row %q", line)
		}
		value, _ := strconv.ParseFloat(fields[0], 64)
		percentile, _ := strconv.ParseFloat(fields[1], 64)
		count, _ := strconv.ParseInt(fields[2], 10, 64)
		if value < lastValue || percentile < lastPercentile || count < lastCount {
			t.Fatalf("row %q goes backwards", line)
		}
		lastValue, lastPercentile, lastCount = value, percentile, count
		rows++
	}
	if rows < 20 || lastPercentile != 1 || lastCount != 1000 {
		t.Fatalf("%d rows, last percentile %v count %d", rows, lastPercentile, lastCount)
	}
	if !strings.Contains(footer, "Total count    =         1000") {
		t.Fatalf("footer:\n%s", footer)
	}
	within(t, "hgrm max", int64(lastValue), 1_000_000)
}
