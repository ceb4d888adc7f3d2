package bench

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram limits. Values are microseconds: 1 µs is the resolution, one
// hour the largest latency recorded exactly (anything longer is recorded as
// one hour and counted in Clamped), three significant digits.
const (
	latencyLowestMicros  = 1
	latencyHighestMicros = int64(time.Hour / time.Microsecond)
	latencyDigits        = 3
)

// Latency collects latencies into an HdrHistogram of microseconds. It is
// safe for concurrent use: franz-go calls produce promises and the harness
// polls fetches on different goroutines.
type Latency struct {
	mu      sync.Mutex
	hist    *hdrhistogram.Histogram
	clamped int64
}

// NewLatency returns an empty latency histogram.
func NewLatency() *Latency {
	return &Latency{hist: hdrhistogram.New(latencyLowestMicros, latencyHighestMicros, latencyDigits)}
}

// Record adds one latency. Sub-microsecond latencies count as 1 µs, and
// negative ones (a clock read before the intended time, which the harness
// never does) as well, so no sample is lost.
func (l *Latency) Record(d time.Duration) {
	micros := int64(d / time.Microsecond)
	l.mu.Lock()
	l.record(micros, 1)
	l.mu.Unlock()
}

// RecordN adds n samples of one latency: a fetch delivers many records at
// the same instant.
func (l *Latency) RecordN(d time.Duration, n int64) {
	if n <= 0 {
		return
	}
	micros := int64(d / time.Microsecond)
	l.mu.Lock()
	l.record(micros, n)
	l.mu.Unlock()
}

func (l *Latency) record(micros, n int64) {
	if micros < latencyLowestMicros {
		micros = latencyLowestMicros
	}
	if micros > latencyHighestMicros {
		micros = latencyHighestMicros
		l.clamped += n
	}
	// In range by the clamps above, so RecordValues cannot fail.
	l.hist.RecordValues(micros, n)
}

// Merge adds every sample of other into l.
func (l *Latency) Merge(other *Latency) {
	other.mu.Lock()
	from := other.hist.Clone()
	clamped := other.clamped
	other.mu.Unlock()
	l.mu.Lock()
	l.hist.Merge(from)
	l.clamped += clamped
	l.mu.Unlock()
}

// Count is the number of samples.
func (l *Latency) Count() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hist.TotalCount()
}

// Percentiles are the figures every report gives, in microseconds.
type Percentiles struct {
	Count   int64   `json:"count"`
	Min     int64   `json:"min_us"`
	Mean    float64 `json:"mean_us"`
	P50     int64   `json:"p50_us"`
	P90     int64   `json:"p90_us"`
	P99     int64   `json:"p99_us"`
	P999    int64   `json:"p99_9_us"`
	P9999   int64   `json:"p99_99_us"`
	Max     int64   `json:"max_us"`
	Clamped int64   `json:"clamped,omitempty"`
}

// Summary computes the percentiles. HdrHistogram reports the highest value
// equivalent to the bucket a percentile falls in, so a figure is at most
// 0.1 % above the exact one and never below it.
func (l *Latency) Summary() Percentiles {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hist
	p := Percentiles{Count: h.TotalCount(), Clamped: l.clamped}
	if p.Count == 0 {
		return p
	}
	values := h.ValueAtPercentilesSlice([]float64{50, 90, 99, 99.9, 99.99})
	p.P50, p.P90, p.P99, p.P999, p.P9999 = values[0], values[1], values[2], values[3], values[4]
	p.Min, p.Max, p.Mean = h.Min(), h.Max(), h.Mean()
	return p
}

// Ordered reports whether the percentiles are in order; a report that
// breaks this is broken.
func (p Percentiles) Ordered() bool {
	if p.Count == 0 {
		return true
	}
	return p.Min <= p.P50 && p.P50 <= p.P90 && p.P90 <= p.P99 && p.P99 <= p.P999 &&
		p.P999 <= p.P9999 && p.P9999 <= p.Max && float64(p.Min) <= p.Mean && p.Mean <= float64(p.Max)
}

// SpectrumPoint is one point of the percentile spectrum: the latency at
// Percentile (0–100).
type SpectrumPoint struct {
	Percentile float64
	Micros     int64
}

// Spectrum walks the distribution the way HdrHistogram's .hgrm output
// does (ticksPerHalfDistance points per halving of the distance to 100 %),
// for the chart.
func (l *Latency) Spectrum(ticksPerHalfDistance int32) []SpectrumPoint {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.hist.TotalCount() == 0 {
		return nil
	}
	brackets := l.hist.CumulativeDistributionWithTicks(ticksPerHalfDistance)
	points := make([]SpectrumPoint, 0, len(brackets))
	for _, b := range brackets {
		points = append(points, SpectrumPoint{Percentile: b.Quantile, Micros: b.ValueAt})
	}
	return points
}

// WriteHGRM writes the percentile distribution in HdrHistogram's text
// format (.hgrm), values in microseconds, which HdrHistogram's plotter
// (hdrhistogram.github.io/HdrHistogram/plotFiles.html) reads.
func (l *Latency) WriteHGRM(w io.Writer) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.hist.PercentilesPrint(w, 5, 1)
	return err
}

// Encode returns the histogram in HdrHistogram's compressed V2 encoding
// (base64, as every HdrHistogram implementation reads it): what the JSON
// result carries, so runs can be merged and charted again later without
// loss.
func (l *Latency) Encode() (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	encoded, err := l.hist.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	return string(encoded), err
}

// DecodeLatency reverses Encode.
func DecodeLatency(encoded string) (*Latency, error) {
	h, err := hdrhistogram.Decode([]byte(strings.TrimSpace(encoded)))
	if err != nil {
		return nil, fmt.Errorf("histogram: %w", err)
	}
	return &Latency{hist: h}, nil
}
