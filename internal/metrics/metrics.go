// Package metrics holds the few instruments the broker exports at /metrics
// in Prometheus text format: counters and latency histograms with fixed
// buckets, updated with atomics (no locks, no allocation on the hot path).
// It imports nothing of ours, so every package may record into it.
package metrics

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// bucketsMicros are the histogram upper bounds, in microseconds, from a
// loopback round trip to a slow disk sync.
var bucketsMicros = [...]int64{50, 100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 5_000_000}

// Histogram counts durations into fixed buckets.
type Histogram struct {
	buckets   [len(bucketsMicros) + 1]atomic.Int64 // last: above every bound
	count     atomic.Int64
	sumMicros atomic.Int64
}

// Observe records one duration. Any goroutine.
func (h *Histogram) Observe(d time.Duration) {
	micros := d.Microseconds()
	i := 0
	for i < len(bucketsMicros) && micros > bucketsMicros[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.count.Add(1)
	h.sumMicros.Add(micros)
}

// Count is the number of observations.
func (h *Histogram) Count() int64 { return h.count.Load() }

// Write writes the histogram as Prometheus series named name (in seconds)
// with the given label set, e.g. `api="Produce"` (may be empty).
func (h *Histogram) Write(w io.Writer, name, labels string) {
	cumulative := int64(0)
	sep := ""
	if labels != "" {
		sep = ","
	}
	for i, bound := range bucketsMicros {
		cumulative += h.buckets[i].Load()
		fmt.Fprintf(w, "%s_bucket{%s%sle=\"%g\"} %d\n", name, labels, sep, float64(bound)/1e6, cumulative)
	}
	cumulative += h.buckets[len(bucketsMicros)].Load()
	fmt.Fprintf(w, "%s_bucket{%s%sle=\"+Inf\"} %d\n", name, labels, sep, cumulative)
	fmt.Fprintf(w, "%s_sum{%s} %g\n", name, labels, float64(h.sumMicros.Load())/1e6)
	fmt.Fprintf(w, "%s_count{%s} %d\n", name, labels, h.count.Load())
}

// Broker-wide instruments.
var (
	// BytesIn counts request bytes read from clients.
	BytesIn atomic.Int64
	// BytesOut counts response bytes written to clients.
	BytesOut atomic.Int64
	// SyncLatency times each fdatasync/msync of a segment.
	SyncLatency Histogram
	// ProduceEarlyBatches counts batches submitted while their Produce
	// frame was still arriving (wire/produce_early.go).
	ProduceEarlyBatches atomic.Int64

	// The log cleaner (compaction): passes completed, bytes of segments
	// read and written, records removed, and the last pass's duration.
	CleanerRuns               atomic.Int64
	CleanerBytesRead          atomic.Int64
	CleanerBytesWritten       atomic.Int64
	CleanerRecordsRemoved     atomic.Int64
	CleanerLastDurationMicros atomic.Int64
)

// APIKeysMax bounds the API keys tracked per key.
const APIKeysMax = 128

// Requests holds, per Kafka API key, a request-latency histogram (the
// count is the request count).
var Requests [APIKeysMax]Histogram
