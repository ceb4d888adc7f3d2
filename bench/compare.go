package bench

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// ComparisonRow summarizes the runs of one broker in a comparison:
// medians over its runs, and ratios to the first broker's medians
// (throughput: this / first, higher is better for this broker; latency:
// first / this, so > 1 also means this broker is better).
type ComparisonRow struct {
	Broker             string  `json:"broker"`
	Runs               int     `json:"runs"`
	RecordsPerSecond   float64 `json:"records_per_second"`
	MegabytesPerSecond float64 `json:"megabytes_per_second"`
	HasLatency         bool    `json:"has_latency"`
	P50                float64 `json:"p50_us"`
	P99                float64 `json:"p99_us"`
	P999               float64 `json:"p99_9_us"`
	Max                float64 `json:"max_us"`
	ThroughputRatio    float64 `json:"throughput_ratio"`
	P50Ratio           float64 `json:"p50_ratio,omitempty"`
	P99Ratio           float64 `json:"p99_ratio,omitempty"`
	// Failed sums the records that got an error after the client's
	// retries over the runs (a broker that cannot keep up with the
	// delivery timeout fails records; its throughput counts only acks).
	Failed   int64 `json:"failed"`
	Problems int   `json:"problems"`
}

// median of values; 0 for none. Even counts average the middle two.
func median(values []float64) float64 {
	if len(values) == 0 {
		return 0
	}
	sorted := append([]float64(nil), values...)
	sort.Float64s(sorted)
	mid := len(sorted) / 2
	if len(sorted)%2 == 1 {
		return sorted[mid]
	}
	return (sorted[mid-1] + sorted[mid]) / 2
}

// Compare groups results by label, in the order labels first appear, and
// summarizes each group against the first.
func Compare(results []*Result) []ComparisonRow {
	var order []string
	groups := map[string][]*Result{}
	for _, r := range results {
		if _, seen := groups[r.Label]; !seen {
			order = append(order, r.Label)
		}
		groups[r.Label] = append(groups[r.Label], r)
	}
	rows := make([]ComparisonRow, 0, len(order))
	for _, label := range order {
		runs := groups[label]
		row := ComparisonRow{Broker: label, Runs: len(runs)}
		var rps, mbps, p50, p99, p999, maxes []float64
		for _, r := range runs {
			rps = append(rps, r.RecordsPerSecond)
			mbps = append(mbps, r.MegabytesPerSecond)
			if r.Latency != nil && r.Latency.Count > 0 {
				row.HasLatency = true
				p50 = append(p50, float64(r.Latency.P50))
				p99 = append(p99, float64(r.Latency.P99))
				p999 = append(p999, float64(r.Latency.P999))
				maxes = append(maxes, float64(r.Latency.Max))
			}
			row.Problems += len(r.Problems)
			row.Failed += r.Counts.Failed
		}
		row.RecordsPerSecond, row.MegabytesPerSecond = median(rps), median(mbps)
		row.P50, row.P99, row.P999, row.Max = median(p50), median(p99), median(p999), median(maxes)
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return rows
	}
	first := rows[0]
	for i := range rows {
		if first.RecordsPerSecond > 0 {
			rows[i].ThroughputRatio = rows[i].RecordsPerSecond / first.RecordsPerSecond
		}
		if rows[i].HasLatency && first.HasLatency && rows[i].P50 > 0 && rows[i].P99 > 0 {
			rows[i].P50Ratio = first.P50 / rows[i].P50
			rows[i].P99Ratio = first.P99 / rows[i].P99
		}
	}
	return rows
}

// WriteComparison writes the rows as a Markdown table, ready for
// docs/PERFORMANCE.md.
func WriteComparison(w io.Writer, rows []ComparisonRow) error {
	var b strings.Builder
	latency := false
	for _, row := range rows {
		latency = latency || row.HasLatency
	}
	b.WriteString("| broker | runs | records/s | MB/s | throughput vs " + firstBroker(rows) + " |")
	if latency {
		b.WriteString(" p50 µs | p99 µs | p99.9 µs | max µs | p50, p99 " + firstBroker(rows) + " / this |")
	}
	b.WriteString(" failed records | problems |\n|---|---|---|---|---|")
	if latency {
		b.WriteString("---|---|---|---|---|")
	}
	b.WriteString("---|---|\n")
	for _, row := range rows {
		fmt.Fprintf(&b, "| %s | %d | %.0f | %.2f | %.2f× |", row.Broker, row.Runs, row.RecordsPerSecond, row.MegabytesPerSecond, row.ThroughputRatio)
		if latency {
			if row.HasLatency {
				fmt.Fprintf(&b, " %.0f | %.0f | %.0f | %.0f | %.2f×, %.2f× |", row.P50, row.P99, row.P999, row.Max, row.P50Ratio, row.P99Ratio)
			} else {
				b.WriteString(" – | – | – | – | – |")
			}
		}
		fmt.Fprintf(&b, " %d | %d |\n", row.Failed, row.Problems)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func firstBroker(rows []ComparisonRow) string {
	if len(rows) == 0 {
		return "first"
	}
	return rows[0].Broker
}
