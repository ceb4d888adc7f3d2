package broker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// testBroker starts a real broker on a loopback port with small segments.
func testBroker(t *testing.T, dataDir string, extra ...string) *Broker {
	t.Helper()
	args := []string{
		"--log.dirs=" + dataDir,
		"--listeners=PLAINTEXT://127.0.0.1:0",
		"--admin.listener=",
		"--log.segment.bytes=8388608",
		"--log.index.size.max.bytes=1048576",
		"--num.shards=2",
		"--message.max.bytes=4194304",
	}
	props, err := LoadProperties(append(args, extra...))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	b, err := Start(props, logger)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func client(t *testing.T, b *Broker, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	c, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// consumeAll reads n records of topic from the start.
func consumeAll(t *testing.T, b *Broker, topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	c := client(t, b, append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	ctx := ctxTimeout(t, 30*time.Second)
	var records []*kgo.Record
	for len(records) < n {
		fetches := c.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(records), n, err)
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, partition, err)
		})
		records = append(records, fetches.Records()...)
	}
	return records
}

func TestProduceConsumeFranzGo(t *testing.T) {
	b := testBroker(t, t.TempDir())
	defer b.Close()
	admin := kadm.NewClient(client(t, b))
	ctx := ctxTimeout(t, 30*time.Second)
	created, err := admin.CreateTopic(ctx, 3, 1, nil, "events")
	if err != nil || created.Err != nil {
		t.Fatalf("create: %v %v", err, created.Err)
	}
	producer := client(t, b, kgo.DefaultProduceTopic("events"), kgo.RequiredAcks(kgo.AllISRAcks()))
	const n = 3000
	sent := map[string]string{}
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("key-%d", i)
		value := fmt.Sprintf("value-%d-%s", i, strings.Repeat("x", i%200))
		sent[key] = value
		producer.Produce(ctx, &kgo.Record{Key: []byte(key), Value: []byte(value), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(key)}}}, func(r *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := producer.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	records := consumeAll(t, b, "events", n)
	if len(records) != n {
		t.Fatalf("consumed %d records, produced %d", len(records), n)
	}
	for _, r := range records {
		if sent[string(r.Key)] != string(r.Value) || len(r.Headers) != 1 || string(r.Headers[0].Value) != string(r.Key) {
			t.Fatalf("record %s/%d@%d differs", r.Topic, r.Partition, r.Offset)
		}
		delete(sent, string(r.Key))
	}
	if len(sent) != 0 {
		t.Fatalf("%d records never consumed", len(sent))
	}
}

func TestCompressionCodecs(t *testing.T) {
	b := testBroker(t, t.TempDir())
	defer b.Close()
	for _, codec := range []kgo.CompressionCodec{kgo.NoCompression(), kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()} {
		topic := fmt.Sprintf("codec-%d", len(b.cluster.Topics()))
		producer := client(t, b, kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation(), kgo.ProducerBatchCompression(codec))
		ctx := ctxTimeout(t, 30*time.Second)
		for i := 0; i < 100; i++ {
			if err := producer.ProduceSync(ctx, &kgo.Record{Value: bytes.Repeat([]byte{byte(i)}, 1000)}).FirstErr(); err != nil {
				t.Fatalf("%v: %v", codec, err)
			}
		}
		records := consumeAll(t, b, topic, 100)
		for i, r := range records {
			if !bytes.Equal(r.Value, bytes.Repeat([]byte{byte(i)}, 1000)) {
				t.Fatalf("%v: record %d differs", codec, i)
			}
		}
	}
}

func TestLargeRecordsAndNullKeys(t *testing.T) {
	b := testBroker(t, t.TempDir())
	defer b.Close()
	producer := client(t, b, kgo.DefaultProduceTopic("big"), kgo.AllowAutoTopicCreation(), kgo.ProducerBatchMaxBytes(4<<20))
	ctx := ctxTimeout(t, 30*time.Second)
	value := bytes.Repeat([]byte("0123456789abcdef"), (1<<20)/16)
	ts := time.UnixMilli(1_700_000_000_000)
	for i := 0; i < 5; i++ {
		if err := producer.ProduceSync(ctx, &kgo.Record{Value: value, Timestamp: ts.Add(time.Duration(i) * time.Second)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	records := consumeAll(t, b, "big", 5, kgo.FetchMaxBytes(8<<20), kgo.FetchMaxPartitionBytes(8<<20))
	for i, r := range records {
		if r.Key != nil || !bytes.Equal(r.Value, value) || !r.Timestamp.Equal(ts.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("record %d: key %v, %d bytes, timestamp %v", i, r.Key, len(r.Value), r.Timestamp)
		}
	}
}

func TestListOffsetsAndRestart(t *testing.T) {
	dir := t.TempDir()
	b := testBroker(t, dir)
	admin := kadm.NewClient(client(t, b))
	ctx := ctxTimeout(t, 60*time.Second)
	if _, err := admin.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("86400000")}, "offsets"); err != nil {
		t.Fatal(err)
	}
	producer := client(t, b, kgo.DefaultProduceTopic("offsets"))
	base := time.UnixMilli(1_700_000_000_000)
	for i := 0; i < 50; i++ {
		if err := producer.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}, Timestamp: base.Add(time.Duration(i) * time.Second)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	check := func(admin *kadm.Client) {
		t.Helper()
		starts, err := admin.ListStartOffsets(ctx, "offsets")
		if err != nil {
			t.Fatal(err)
		}
		ends, err := admin.ListEndOffsets(ctx, "offsets")
		if err != nil {
			t.Fatal(err)
		}
		byTime, err := admin.ListOffsetsAfterMilli(ctx, base.Add(20*time.Second).UnixMilli(), "offsets")
		if err != nil {
			t.Fatal(err)
		}
		s, _ := starts.Lookup("offsets", 0)
		e, _ := ends.Lookup("offsets", 0)
		bt, _ := byTime.Lookup("offsets", 0)
		if s.Offset != 0 || e.Offset != 50 || bt.Offset != 20 {
			t.Fatalf("start %d end %d by time %d (%v %v %v)", s.Offset, e.Offset, bt.Offset, s.Err, e.Err, bt.Err)
		}
	}
	check(admin)
	topicsBefore, _ := admin.ListTopics(ctx)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = testBroker(t, dir)
	defer b.Close()
	admin = kadm.NewClient(client(t, b))
	check(admin)
	topicsAfter, err := admin.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if topicsAfter["offsets"].ID != topicsBefore["offsets"].ID {
		t.Fatalf("topic id changed across restart: %v → %v", topicsBefore["offsets"].ID, topicsAfter["offsets"].ID)
	}
	configs, err := admin.DescribeTopicConfigs(ctx, "offsets")
	if err != nil {
		t.Logf("describe configs: %v (DescribeConfigs is not served yet)", err)
	}
	_ = configs
	records := consumeAll(t, b, "offsets", 50)
	for i, r := range records {
		if r.Value[0] != byte(i) {
			t.Fatalf("record %d after restart: %v", i, r.Value)
		}
	}
	if _, err := admin.DeleteTopics(ctx, "offsets"); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.cluster.Topic("offsets"); ok {
		t.Fatal("topic still there after DeleteTopics")
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
