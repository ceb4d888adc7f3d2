package broker

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// batchesWritten records the batches a producer wrote, so a test knows its
// records really went out in the batches (and with the codec) it meant.
type batchesWritten struct {
	mu      sync.Mutex
	batches []kgo.ProduceBatchMetrics
}

func (h *batchesWritten) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.batches = append(h.batches, m)
}

// waitFor returns the batches written once there are n: franz-go calls the
// hook from a goroutine of its own, so it may run after Flush returns.
func (h *batchesWritten) waitFor(ctx context.Context, n int) []kgo.ProduceBatchMetrics {
	for {
		h.mu.Lock()
		out := h.batches
		h.mu.Unlock()
		if len(out) >= n || ctx.Err() != nil {
			return out
		}
		time.Sleep(time.Millisecond)
	}
}

// produceBatches produces each batch of timestamps (ms) as one batch to
// partition 0 of topic, and checks it went out as one batch of codec.
func produceBatches(t *testing.T, b *Broker, topic string, codec kgo.CompressionCodec, codecID uint8, batches [][]int64) {
	t.Helper()
	hook := &batchesWritten{}
	producer := client(t, b, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(codec), kgo.ManualFlushing(), kgo.WithHooks(hook))
	ctx := ctxTimeout(t, 30*time.Second)
	// Load the topic's partitions into the producer first: records
	// produced to a topic it does not know yet wait for its metadata and
	// are then added one by one by another goroutine, and a Flush
	// meanwhile sent the first batch as 1 record and then 5 (seen once
	// under -race). A record nobody sends makes it load them.
	producer.Produce(ctx, &kgo.Record{Value: []byte("load the partitions")}, func(*kgo.Record, error) {})
	for {
		if leader, _, err := producer.PartitionLeader(topic, 0); err == nil && leader >= 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: the producer never loaded the partitions", topic)
		}
		time.Sleep(time.Millisecond)
	}
	if err := producer.AbortBufferedRecords(ctx); err != nil {
		t.Fatal(err)
	}
	for k, batch := range batches {
		for i, ms := range batch {
			// Values that every codec shrinks, or franz-go sends them
			// uncompressed.
			value := bytes.Repeat(fmt.Appendf(nil, "record %d ", i), 50)
			producer.Produce(ctx, &kgo.Record{Value: value, Timestamp: time.UnixMilli(ms)}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
		}
		if err := producer.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		// Each batch's hook before the next batch, so they stay in order.
		hook.waitFor(ctx, k+1)
	}
	written := hook.waitFor(ctx, len(batches))
	if len(written) != len(batches) {
		t.Fatalf("%s: %d batches written, want %d", topic, len(written), len(batches))
	}
	for i, m := range written {
		if m.NumRecords != len(batches[i]) || m.CompressionType != codecID {
			t.Fatalf("%s: batch %d: %d records, codec %d; want %d, %d", topic, i, m.NumRecords, m.CompressionType, len(batches[i]), codecID)
		}
	}
}

// kafkaByTime is what Kafka answers ListOffsets for target over records
// whose timestamps (ms) are ts, in offset order: the first record whose
// timestamp is ≥ target, or (as kadm reports "none") the end offset.
func kafkaByTime(ts []int64, target int64) (offset, timestamp int64) {
	return kafkaByTimeFrom(ts, 0, target)
}

// checkOffsetsForTimes compares ListOffsets by time (every timestamp, its
// neighbours, and past the last) with Kafka's answers over records whose
// timestamps are ts, the log start offset being start.
func checkOffsetsForTimes(t *testing.T, ctx context.Context, admin *kadm.Client, topic string, ts []int64, start int64) {
	t.Helper()
	targets := []int64{0}
	for _, ms := range ts {
		targets = append(targets, ms-1, ms, ms+1)
	}
	for _, target := range targets {
		listed, err := admin.ListOffsetsAfterMilli(ctx, target, topic)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := listed.Lookup(topic, 0)
		wantOffset, wantTimestamp := kafkaByTimeFrom(ts, start, target)
		if got.Err != nil || got.Offset != wantOffset || (wantTimestamp >= 0 && got.Timestamp != wantTimestamp) {
			t.Errorf("%s: log start %d: offset for time %d: %d at %d (%v), want %d at %d", topic, start, target, got.Offset, got.Timestamp, got.Err, wantOffset, wantTimestamp)
		}
	}
}

// kafkaMaxTimestamp is what Kafka answers ListOffsets -3 (since
// KAFKA-16310): the first record, in offset order, with the largest
// timestamp.
func kafkaMaxTimestamp(ts []int64) (offset, timestamp int64) {
	offset, timestamp = -1, -1
	for i, t := range ts {
		if t > timestamp {
			offset, timestamp = int64(i), t
		}
	}
	return offset, timestamp
}

// checkListOffsets compares ListOffsets by time (every timestamp, its
// neighbours, and past the last) and -3 with Kafka's answers over ts.
func checkListOffsets(t *testing.T, ctx context.Context, admin *kadm.Client, topic string, ts []int64) {
	t.Helper()
	checkOffsetsForTimes(t, ctx, admin, topic, ts, 0)
	listed, err := admin.ListMaxTimestampOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := listed.Lookup(topic, 0)
	wantOffset, wantTimestamp := kafkaMaxTimestamp(ts)
	if got.Err != nil || got.Offset != wantOffset || got.Timestamp != wantTimestamp {
		t.Fatalf("%s: max timestamp: %d at %d (%v), want %d at %d", topic, got.Offset, got.Timestamp, got.Err, wantOffset, wantTimestamp)
	}
}

type testCodec struct {
	name  string
	codec kgo.CompressionCodec
	id    uint8
}

var testCodecs = []testCodec{
	{"none", kgo.NoCompression(), 0},
	{"gzip", kgo.GzipCompression(), 1},
	{"snappy", kgo.SnappyCompression(), 2},
	{"lz4", kgo.Lz4Compression(), 3},
	{"zstd", kgo.ZstdCompression(), 4},
}

// createAndProduce creates topic (one partition), produces batches of
// record timestamps with codec c, one batch each, and returns every
// record's timestamp in offset order.
func createAndProduce(t *testing.T, ctx context.Context, admin *kadm.Client, b *Broker, topic string, c testCodec, batches [][]int64) []int64 {
	t.Helper()
	if created, err := admin.CreateTopic(ctx, 1, 1, nil, topic); err != nil || created.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, created.Err)
	}
	produceBatches(t, b, topic, c.codec, c.id, batches)
	var ts []int64
	for _, batch := range batches {
		ts = append(ts, batch...)
	}
	return ts
}

// TestListOffsetsInsideCompressedBatches: franz-go produces batches of each
// codec whose records' timestamps run out of order; ListOffsets by time
// answers the first record, in offset order, whose timestamp reaches the
// target, and -3 the first record with the largest timestamp, also inside
// a compressed batch, as Kafka does.
func TestListOffsetsInsideCompressedBatches(t *testing.T) {
	b := testBroker(t, t.TempDir())
	defer b.Close()
	admin := kadm.NewClient(client(t, b))
	ctx := ctxTimeout(t, 60*time.Second)
	const base = 1_700_000_000_000
	// Three batches; the max, twice, in the middle one.
	batches := [][]int64{
		{base + 50, base + 10, base + 30, base + 70, base + 20, base + 60},
		{base + 300, base + 9000, base + 100, base + 9000, base + 200},
		{base + 400, base + 350, base + 500},
	}
	for _, c := range testCodecs {
		topic := "bytime-" + c.name
		ts := createAndProduce(t, ctx, admin, b, topic, c, batches)
		checkListOffsets(t, ctx, admin, topic, ts)
	}
}

// TestListOffsetsLogAppendTime: in a LogAppendTime topic every record of a
// batch carries the batch's append time, so ListOffsets answers a batch's
// first record, compressed or not (by time, and for -3 the first record of
// the first batch with the latest append time).
func TestListOffsetsLogAppendTime(t *testing.T) {
	b := testBroker(t, t.TempDir())
	defer b.Close()
	admin := kadm.NewClient(client(t, b))
	ctx := ctxTimeout(t, 60*time.Second)
	const base = 1_700_000_000_000
	batches := [][]int64{{base + 50, base + 10, base + 30}, {base + 300, base + 100}, {base + 400, base + 350, base + 500}}
	for _, c := range testCodecs {
		topic := "appendtime-" + c.name
		configs := map[string]*string{"message.timestamp.type": kadm.StringPtr("LogAppendTime")}
		if created, err := admin.CreateTopic(ctx, 1, 1, configs, topic); err != nil || created.Err != nil {
			t.Fatalf("create %s: %v %v", topic, err, created.Err)
		}
		for _, batch := range batches {
			produceBatches(t, b, topic, c.codec, c.id, [][]int64{batch})
			time.Sleep(5 * time.Millisecond) // distinct append times
		}
		var ts []int64
		for _, r := range consumeAll(t, b, topic, 8) {
			ts = append(ts, r.Timestamp.UnixMilli())
		}
		if ts[0] != ts[2] || ts[0] >= ts[3] || ts[3] >= ts[5] {
			t.Fatalf("%s: timestamps %v are not three batches' append times", topic, ts)
		}
		checkListOffsets(t, ctx, admin, topic, ts)
	}
}

// kafkaByTimeFrom is what Kafka answers ListOffsets for target when the log
// start offset is start (UnifiedLog.fetchOffsetByTimestamp passes it to
// LogSegment.findOffsetByTimestamp as the starting offset): the first
// record at or after start whose timestamp is ≥ target, records below start
// skipped while choosing, or (as kadm reports "none") the end offset.
func kafkaByTimeFrom(ts []int64, start, target int64) (offset, timestamp int64) {
	for i := start; i < int64(len(ts)); i++ {
		if ts[i] >= target {
			return i, ts[i]
		}
	}
	return int64(len(ts)), -1
}

// TestListOffsetsAfterLogStart: DeleteRecords moves the log start offset
// into the middle of a batch, uncompressed or compressed; ListOffsets by
// time then answers what Kafka does, the first record at or after the log
// start whose timestamp reaches the target (not the first record by time
// clamped up to the log start, whose timestamp may be below the target),
// the next qualifying record, in a later batch, when the target is reached
// only below the log start, and none when no record at or after it
// reaches the target.
func TestListOffsetsAfterLogStart(t *testing.T) {
	b := testBroker(t, t.TempDir())
	defer b.Close()
	admin := kadm.NewClient(client(t, b))
	ctx := ctxTimeout(t, 60*time.Second)
	const base = 1_700_000_000_000
	batches := [][]int64{
		{base + 10, base + 50, base + 20, base + 30, base + 40}, // offsets 0-4
		{base + 60, base + 45, base + 70},                       // 5-7
		{base + 80, base + 15},                                  // 8-9
	}
	for _, c := range testCodecs {
		topic := "logstart-" + c.name
		ts := createAndProduce(t, ctx, admin, b, topic, c, batches)
		// Inside the first batch: base+50 is reached only at offset 1,
		// below the start, so it answers 5 (base+60); base+25 answers 3,
		// not 2 (base+20). Inside the last: base+80 is reached only
		// below the start, so nothing answers it.
		for _, start := range []int64{2, 9} {
			offsets := kadm.Offsets{}
			offsets.Add(kadm.Offset{Topic: topic, Partition: 0, At: start})
			deleted, err := admin.DeleteRecords(ctx, offsets)
			if err != nil {
				t.Fatal(err)
			}
			if d, _ := deleted.Lookup(topic, 0); d.Err != nil || d.LowWatermark != start {
				t.Fatalf("%s: DeleteRecords to %d: %+v", topic, start, d)
			}
			checkOffsetsForTimes(t, ctx, admin, topic, ts, start)
		}
	}
}
