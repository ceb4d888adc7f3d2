package bench

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The workloads.
const (
	WorkloadProduce = "produce" // closed loop: produce as fast as the broker accepts
	WorkloadE2E     = "e2e"     // open loop: end-to-end latency at a fixed rate
	WorkloadAck     = "ack"     // open loop: produce-ack latency at a fixed rate
	WorkloadCatchup = "catchup" // pre-fill, then read from offset 0
)

// The producer clients of the produce workload.
const (
	ClientKgo = "kgo" // franz-go, the default
	ClientRaw = "raw" // the harness's lean producer: pre-built requests (bench/raw.go)
)

// Limits on a run: every loop of the harness is bounded in records and in
// time.
const (
	// recordsMax bounds the records of one run; the e2e workload keeps
	// two bits per scheduled record (acknowledged, received).
	recordsMax = 100_000_000
	// recordBytesMax bounds a record's value.
	recordBytesMax = 1 << 20
	// runDurationMax bounds the warm-up plus the measured window.
	runDurationMax = time.Hour
	// rateMax bounds an open-loop rate, records/s.
	rateMax = 10_000_000
	// stampBytes is the header every open-loop record's value starts with,
	// three big-endian 64-bit fields: the intended send time (ns since the
	// run's base instant), the record's sequence number in the schedule,
	// and the run's random ID (records of other runs in a reused topic are
	// skipped, not counted).
	stampBytes = 24
)

// Config is one run. The zero value of a field means its default
// (SetDefaults).
type Config struct {
	Workload string `json:"workload"`
	// Broker labels the broker in reports (spool, kfake, sink, or an
	// address); Bootstrap is where the clients connect.
	Broker    string   `json:"broker"`
	Bootstrap []string `json:"bootstrap"`
	// Topic is created fresh for each run when empty (bench-<workload>-<random>).
	Topic       string `json:"topic,omitempty"`
	Partitions  int    `json:"partitions"`
	RecordBytes int    `json:"record_bytes"`
	Producers   int    `json:"producers"`
	Consumers   int    `json:"consumers"`
	// Acks is "0", "1" or "all".
	Acks string `json:"acks"`
	// Idempotent keeps franz-go's idempotent producer (acks=all only).
	Idempotent bool `json:"idempotent"`
	// Client is the produce workload's producer: ClientKgo (franz-go) or
	// ClientRaw (pre-built requests, for measuring brokers without the
	// client's cost per record).
	Client string `json:"client,omitempty"`
	// Linger is how long the producer waits to fill a batch.
	Linger time.Duration `json:"linger_ns"`
	// BatchBytes bounds a record batch.
	BatchBytes int `json:"batch_bytes"`
	// Inflight bounds produce requests in flight per broker (franz-go
	// allows more than one only without idempotence).
	Inflight int `json:"inflight"`
	// BufferedRecords bounds records buffered in each producer; Produce
	// blocks beyond it.
	BufferedRecords int `json:"buffered_records"`
	// Compression is none, gzip, snappy, lz4 or zstd. Values are random
	// bytes, so compression costs CPU and saves nothing.
	Compression string `json:"compression"`
	// Rate is the open-loop rate in records/s, across all producers.
	Rate float64 `json:"rate,omitempty"`
	// Warmup is excluded from the figures; Duration is measured after it.
	Warmup   time.Duration `json:"warmup_ns"`
	Duration time.Duration `json:"duration_ns"`
	// Records bounds the records sent (0: the duration alone bounds
	// them); for catchup it is the number pre-filled.
	Records int64 `json:"records,omitempty"`
	// Drain is how long, after the last record was due, the run waits for
	// acknowledgements and arrivals before calling the rest unacked or
	// missing.
	Drain time.Duration `json:"drain_ns"`
	// AdminAddr is the broker's admin HTTP address; with ProfilePath set,
	// its /debug/pprof/profile is captured during the measured window.
	AdminAddr   string    `json:"admin_addr,omitempty"`
	ProfilePath string    `json:"-"`
	Progress    io.Writer `json:"-"`
}

// SetDefaults fills in zero fields. Linger is left alone: zero means
// none, and `spool bench` chooses 5 ms for the produce workload.
func (c *Config) SetDefaults() {
	if c.Broker == "" && len(c.Bootstrap) > 0 {
		c.Broker = strings.Join(c.Bootstrap, ",")
	}
	if c.Partitions == 0 {
		c.Partitions = 2
	}
	if c.RecordBytes == 0 {
		c.RecordBytes = 100
	}
	if c.Producers == 0 {
		c.Producers = 1
	}
	if c.Consumers == 0 {
		c.Consumers = 1
	}
	if c.Acks == "" {
		c.Acks = "all"
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = 1 << 20
	}
	if c.Inflight == 0 {
		c.Inflight = 1
	}
	if c.BufferedRecords == 0 {
		c.BufferedRecords = 100_000
	}
	if c.Compression == "" {
		c.Compression = "none"
	}
	if c.Client == "" {
		c.Client = ClientKgo
	}
	if c.Rate == 0 && (c.Workload == WorkloadE2E || c.Workload == WorkloadAck) {
		c.Rate = 10_000
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Drain == 0 {
		c.Drain = 5 * time.Second
	}
	if c.Records == 0 && c.Workload == WorkloadCatchup {
		c.Records = 500_000
	}
}

// Validate reports the first setting out of range.
func (c *Config) Validate() error {
	switch c.Workload {
	case WorkloadProduce, WorkloadE2E, WorkloadAck, WorkloadCatchup:
	default:
		return fmt.Errorf("workload %q: produce, e2e, ack or catchup", c.Workload)
	}
	openLoop := c.Workload == WorkloadE2E || c.Workload == WorkloadAck
	switch {
	case len(c.Bootstrap) == 0:
		return errors.New("no bootstrap address")
	case c.Partitions < 1 || c.Partitions > 1024:
		return fmt.Errorf("partitions %d: 1 to 1024", c.Partitions)
	case c.RecordBytes < 1 || c.RecordBytes > recordBytesMax:
		return fmt.Errorf("record size %d: 1 to %d bytes", c.RecordBytes, recordBytesMax)
	case openLoop && c.RecordBytes < stampBytes:
		return fmt.Errorf("record size %d: latency workloads need at least %d bytes (the send-time stamp)", c.RecordBytes, stampBytes)
	case c.Producers < 1 || c.Producers > 64:
		return fmt.Errorf("producers %d: 1 to 64", c.Producers)
	case c.Consumers < 1 || c.Consumers > 64 || c.Consumers > c.Partitions:
		return fmt.Errorf("consumers %d: 1 to 64 and at most one per partition", c.Consumers)
	case c.Acks != "0" && c.Acks != "1" && c.Acks != "all":
		return fmt.Errorf("acks %q: 0, 1 or all", c.Acks)
	case c.Idempotent && c.Acks != "all":
		return errors.New("an idempotent producer needs acks=all")
	case c.Workload == WorkloadCatchup && c.Acks == "0":
		return errors.New("catchup pre-fills with acknowledged records: acks 1 or all")
	case c.Workload == WorkloadE2E && c.Acks == "0":
		return errors.New("e2e accounts for every record by its acknowledgement: acks 1 or all")
	case c.Linger < 0 || c.Linger > time.Minute:
		return fmt.Errorf("linger %v: 0 to 1m", c.Linger)
	case c.BatchBytes < 1024 || c.BatchBytes > 64<<20:
		return fmt.Errorf("batch bytes %d: 1 KiB to 64 MiB", c.BatchBytes)
	case c.Inflight < 1 || c.Inflight > 64 || (c.Idempotent && c.Inflight > 1):
		return fmt.Errorf("inflight %d: 1 to 64, and 1 with an idempotent producer", c.Inflight)
	case c.BufferedRecords < 1 || c.BufferedRecords > 10_000_000:
		return fmt.Errorf("buffered records %d: 1 to 10000000", c.BufferedRecords)
	case openLoop && (c.Rate <= 0 || c.Rate > rateMax):
		return fmt.Errorf("rate %v: above 0, at most %d records/s", c.Rate, rateMax)
	case c.Warmup < 0 || c.Duration <= 0 || c.Warmup+c.Duration > runDurationMax:
		return fmt.Errorf("warm-up %v and duration %v: duration above 0, together at most %v", c.Warmup, c.Duration, runDurationMax)
	case c.Records < 0 || c.Records > recordsMax:
		return fmt.Errorf("records %d: 0 to %d", c.Records, recordsMax)
	case c.Client != ClientKgo && c.Client != ClientRaw:
		return fmt.Errorf("client %q: kgo or raw", c.Client)
	case c.Client == ClientRaw && c.Workload != WorkloadProduce:
		return errors.New("the raw client runs only the produce workload")
	case c.Client == ClientRaw && c.Compression != "none":
		return errors.New("the raw client sends uncompressed batches only")
	case c.Drain <= 0 || c.Drain > 10*time.Minute:
		return fmt.Errorf("drain %v: above 0, at most 10m", c.Drain)
	}
	if openLoop && c.Rate*(c.Warmup+c.Duration).Seconds() > recordsMax && c.Records == 0 {
		return fmt.Errorf("rate × (warm-up + duration) is more than %d records: lower one or set records", recordsMax)
	}
	if _, err := c.codec(); err != nil {
		return err
	}
	return nil
}

func (c *Config) codec() (kgo.CompressionCodec, error) {
	switch c.Compression {
	case "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.NoCompression(), fmt.Errorf("compression %q: none, gzip, snappy, lz4 or zstd", c.Compression)
}

// Describe is the one-line summary of the parameters, for reports.
func (c *Config) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "record=%dB partitions=%d producers=%d", c.RecordBytes, c.Partitions, c.Producers)
	if c.Workload == WorkloadE2E || c.Workload == WorkloadCatchup {
		fmt.Fprintf(&b, " consumers=%d", c.Consumers)
	}
	fmt.Fprintf(&b, " acks=%s", c.Acks)
	if c.Idempotent {
		b.WriteString(" idempotent")
	}
	if c.Client == ClientRaw {
		b.WriteString(" client=raw")
	}
	fmt.Fprintf(&b, " linger=%v batch=%dKiB inflight=%d compression=%s", c.Linger, c.BatchBytes>>10, c.Inflight, c.Compression)
	if c.Workload == WorkloadE2E || c.Workload == WorkloadAck {
		fmt.Fprintf(&b, " rate=%g/s", c.Rate)
	}
	if c.Workload != WorkloadCatchup {
		fmt.Fprintf(&b, " warmup=%v", c.Warmup)
	}
	fmt.Fprintf(&b, " duration=%v", c.Duration)
	if c.Records > 0 {
		fmt.Fprintf(&b, " records=%d", c.Records)
	}
	return b.String()
}
