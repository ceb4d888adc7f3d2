package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/internal/kafkadefs"
	"spool/segment"
)

// kafkaTopicDefaults is every topic config of Kafka 4.1 with a valid value:
// its default, but a throttled-replicas list that is not empty.
var kafkaTopicDefaults = func() map[string]string {
	m := maps.Clone(kafkadefs.TopicConfigs)
	m["leader.replication.throttled.replicas"] = "*"
	return m
}()

func strPtrs(m map[string]string) map[string]*string {
	out := map[string]*string{}
	for k, v := range m {
		out[k] = kadm.StringPtr(v)
	}
	return out
}

// TestCreateTopicsEveryKafkaConfig: kadm creates a topic with every Kafka
// 4.1 topic config; each is described back as the topic's override. Bad
// values are INVALID_CONFIG naming the config, and nothing is created.
func TestCreateTopicsEveryKafkaConfig(t *testing.T) {
	b := testBroker(t, t.TempDir())
	defer b.Close()
	admin := kadm.NewClient(client(t, b))
	ctx := ctxTimeout(t, 30*time.Second)
	if _, err := admin.CreateTopic(ctx, 1, 1, strPtrs(kafkaTopicDefaults), "every"); err != nil {
		t.Fatal(err)
	}
	described, err := admin.DescribeTopicConfigs(ctx, "every")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := described.On("every", nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range rc.Configs {
		seen[c.Key] = true
		if want := kafkaTopicDefaults[c.Key]; c.Source != kmsg.ConfigSourceDynamicTopicConfig || c.MaybeValue() != want {
			t.Errorf("%s: %q from %v, want %q from the topic", c.Key, c.MaybeValue(), c.Source, want)
		}
	}
	if len(seen) != len(kafkaTopicDefaults) {
		t.Fatalf("described %d configs, want %d", len(seen), len(kafkaTopicDefaults))
	}
	bad := map[string]string{
		"compression.type": "brotli", "compression.zstd.level": "23", "compression.gzip.level": "0",
		"compression.lz4.level": "18", "segment.jitter.ms": "-1", "max.compaction.lag.ms": "0",
		"unclean.leader.election.enable": "maybe", "leader.replication.throttled.replicas": "x",
		"local.retention.ms": "-3", "message.timestamp.after.max.ms": "-1", "flush.messages": "0",
		"message.timestamp.difference.max.ms": "1000", "message.downconversion.enable": "true",
		"confluent.placement.constraints": "{}", "remote.storage.enable": "true",
	}
	for name, value := range bad {
		resp, err := admin.CreateTopic(ctx, 1, 1, map[string]*string{name: kadm.StringPtr(value)}, "bad-"+strings.ReplaceAll(name, ".", "-"))
		if !errors.Is(err, kerr.InvalidConfig) && !errors.Is(resp.Err, kerr.InvalidConfig) {
			t.Errorf("%s=%s: %v / %v, want INVALID_CONFIG", name, value, err, resp.Err)
			continue
		}
		if !strings.Contains(resp.ErrMessage, name) {
			t.Errorf("%s=%s: message %q does not name the config", name, value, resp.ErrMessage)
		}
		if name == "remote.storage.enable" && !strings.Contains(resp.ErrMessage, "tiered storage is not offered") {
			t.Errorf("remote.storage.enable=true: %q", resp.ErrMessage)
		}
	}
	topics, err := admin.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range topics.Names() {
		if strings.HasPrefix(name, "bad-") {
			t.Errorf("topic %s was created", name)
		}
	}
	// An alter with a bad value changes nothing.
	_, err = admin.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "compression.type", Value: kadm.StringPtr("zstd")}, {Op: kadm.SetConfig, Name: "segment.jitter.ms", Value: kadm.StringPtr("-5")}}, "every")
	if err != nil {
		t.Fatal(err)
	}
	if topic, _ := b.cluster.Topic("every"); topic.Configs["compression.type"] != "producer" {
		t.Fatalf("a refused alter changed compression.type to %q", topic.Configs["compression.type"])
	}
}

// TestDescribeConfigsSynonymsAndDocs asks DescribeConfigs v4 with
// include_synonyms and include_documentation, as kafka-configs --describe
// --all does: the chain names the broker properties by Kafka's names.
func TestDescribeConfigsSynonymsAndDocs(t *testing.T) {
	b := testBroker(t, t.TempDir(), "--log.retention.ms=3600000", "--compression.type=lz4")
	defer b.Close()
	cl := client(t, b)
	ctx := ctxTimeout(t, 30*time.Second)
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("1000")}, "syn"); err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms, req.IncludeDocumentation = true, true
	resource := kmsg.NewDescribeConfigsRequestResource()
	resource.ResourceType, resource.ResourceName = kmsg.ConfigResourceTypeTopic, "syn"
	req.Resources = append(req.Resources, resource)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	configs := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range resp.Resources[0].Configs {
		configs[c.Name] = c
		if c.Documentation == nil || *c.Documentation == "" || c.ConfigType == 0 {
			t.Errorf("%s: no documentation or type", c.Name)
		}
	}
	chain := func(name string) string {
		var parts []string
		for _, s := range configs[name].ConfigSynonyms {
			parts = append(parts, fmt.Sprintf("%v:%s=%s", s.Source, s.Name, *s.Value))
		}
		return strings.Join(parts, " ")
	}
	if got, want := chain("retention.ms"), "DYNAMIC_TOPIC_CONFIG:retention.ms=1000 STATIC_BROKER_CONFIG:log.retention.ms=3600000 DEFAULT_CONFIG:log.retention.hours=168"; got != want {
		t.Errorf("retention.ms synonyms\n%s, want\n%s", got, want)
	}
	if got, want := chain("compression.type"), "STATIC_BROKER_CONFIG:compression.type=lz4 DEFAULT_CONFIG:compression.type=producer"; got != want {
		t.Errorf("compression.type synonyms %s, want %s", got, want)
	}
	if c := configs["compression.type"]; *c.Value != "lz4" || c.Source != kmsg.ConfigSourceStaticBrokerConfig || c.ConfigType != kmsg.ConfigTypeString {
		t.Errorf("compression.type: %s from %v type %v", *c.Value, c.Source, c.ConfigType)
	}
	if got, want := chain("segment.bytes"), "STATIC_BROKER_CONFIG:log.segment.bytes=8388608 DEFAULT_CONFIG:log.segment.bytes=1073741824"; got != want {
		t.Errorf("segment.bytes synonyms %s, want %s", got, want)
	}
	types := map[string]kmsg.ConfigType{"retention.ms": kmsg.ConfigTypeLong, "segment.bytes": kmsg.ConfigTypeInt, "preallocate": kmsg.ConfigTypeBoolean,
		"cleanup.policy": kmsg.ConfigTypeList, "min.cleanable.dirty.ratio": kmsg.ConfigTypeDouble}
	for name, want := range types {
		if configs[name].ConfigType != want {
			t.Errorf("%s type %v, want %v", name, configs[name].ConfigType, want)
		}
	}
	// Without the flags: no synonyms, no documentation.
	req.IncludeSynonyms, req.IncludeDocumentation = false, false
	if resp, err = req.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	for _, c := range resp.Resources[0].Configs {
		if len(c.ConfigSynonyms) > 0 || c.Documentation != nil {
			t.Fatalf("%s: synonyms or documentation not asked for", c.Name)
		}
	}
}

// storedCodecs counts the codecs of the batches stored in a partition's
// first segment.
func storedCodecs(t *testing.T, dir, topic string) map[segment.Codec]int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, topic+"-0", segment.FileName(0, segment.LogSuffix)))
	if err != nil {
		t.Fatal(err)
	}
	codecs := map[segment.Codec]int{}
	segment.Scan(data, func(batch segment.ScannedBatch) bool {
		if batch.Err == nil {
			codecs[batch.Header.Codec()]++
		}
		return batch.Err == nil
	})
	return codecs
}

// TestTopicCompressionRecompresses: a topic with compression.type=X fed by
// a producer compressing otherwise stores X batches, and franz-go reads
// back every record (key, value, headers, timestamp) exactly.
func TestTopicCompressionRecompresses(t *testing.T) {
	dir := t.TempDir()
	b := testBroker(t, dir)
	defer b.Close()
	ctx := ctxTimeout(t, 60*time.Second)
	admin := kadm.NewClient(client(t, b))
	cases := []struct {
		topicCodec string
		want       segment.Codec
		producer   kgo.CompressionCodec
	}{
		{"zstd", segment.CodecZstd, kgo.NoCompression()},
		{"gzip", segment.CodecGzip, kgo.NoCompression()},
		{"lz4", segment.CodecLZ4, kgo.ZstdCompression()},
		{"snappy", segment.CodecSnappy, kgo.GzipCompression()},
		{"uncompressed", segment.CodecNone, kgo.ZstdCompression()},
	}
	for _, c := range cases {
		topic := "recompress-" + c.topicCodec
		configs := map[string]*string{"compression.type": kadm.StringPtr(c.topicCodec)}
		if c.topicCodec == "zstd" {
			configs["compression.zstd.level"] = kadm.StringPtr("9")
		}
		if _, err := admin.CreateTopic(ctx, 1, 1, configs, topic); err != nil {
			t.Fatal(err)
		}
		producer := client(t, b, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(c.producer), kgo.ProducerLinger(5*time.Millisecond))
		base := time.UnixMilli(time.Now().UnixMilli())
		var sent []*kgo.Record
		for i := range 300 {
			r := &kgo.Record{Key: fmt.Appendf(nil, "key-%d", i), Value: bytes.Repeat(fmt.Appendf(nil, "value %d ", i), 20+i%50),
				Headers: []kgo.RecordHeader{{Key: "h", Value: fmt.Appendf(nil, "%d", i)}}, Timestamp: base.Add(time.Duration(i) * time.Millisecond)}
			if i%7 == 0 {
				r.Value = nil
			}
			sent = append(sent, r)
			producer.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("%s: %v", topic, err)
				}
			})
		}
		if err := producer.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		got := consumeAll(t, b, topic, len(sent))
		for i, r := range got {
			s := sent[i]
			if !bytes.Equal(r.Key, s.Key) || !bytes.Equal(r.Value, s.Value) || (r.Value == nil) != (s.Value == nil) ||
				len(r.Headers) != 1 || !bytes.Equal(r.Headers[0].Value, s.Headers[0].Value) || !r.Timestamp.Equal(s.Timestamp) || r.Offset != int64(i) {
				t.Fatalf("%s: record %d differs: %+v, sent %+v", topic, i, r, s)
			}
		}
		codecs := storedCodecs(t, dir, topic)
		if len(codecs) != 1 || codecs[c.want] == 0 {
			t.Fatalf("%s: stored codecs %v, want only %s", topic, codecs, c.want)
		}
	}
}

// TestTimestampWindow: message.timestamp.before.max.ms and
// after.max.ms refuse records outside [now-before, now+after] with
// INVALID_TIMESTAMP, naming each record in record_errors, on compressed and
// uncompressed batches; records inside are accepted.
func TestTimestampWindow(t *testing.T) {
	b := testBroker(t, t.TempDir())
	defer b.Close()
	cl := client(t, b)
	ctx := ctxTimeout(t, 30*time.Second)
	configs := map[string]*string{"message.timestamp.before.max.ms": kadm.StringPtr("3600000"), "message.timestamp.after.max.ms": kadm.StringPtr("3600000")}
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, configs, "window"); err != nil {
		t.Fatal(err)
	}
	for _, codec := range []kgo.CompressionCodec{kgo.NoCompression(), kgo.ZstdCompression()} {
		producer := client(t, b, kgo.DefaultProduceTopic("window"), kgo.ProducerBatchCompression(codec), kgo.RecordRetries(1))
		now := time.Now()
		if err := producer.ProduceSync(ctx, &kgo.Record{Value: []byte("now"), Timestamp: now}).FirstErr(); err != nil {
			t.Fatalf("%v: a timestamp inside the window: %v", codec, err)
		}
		for _, ts := range []time.Time{now.Add(-2 * time.Hour), now.Add(2 * time.Hour)} {
			if err := producer.ProduceSync(ctx, &kgo.Record{Value: []byte("out"), Timestamp: ts}).FirstErr(); !errors.Is(err, kerr.InvalidTimestamp) {
				t.Fatalf("%v: timestamp %v: %v, want INVALID_TIMESTAMP", codec, ts, err)
			}
		}
	}
	// A raw Produce (v8+) of three records, the second and third out of
	// the window: record_errors names both.
	now := time.Now().UnixMilli()
	batch := segment.AppendBatchTimestamps(nil, now, []int64{0, -3 * 3600 * 1000, 3 * 3600 * 1000},
		[]segment.KeyValue{{Value: []byte("a")}, {Value: []byte("b")}, {Value: []byte("c")}})
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = 1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = "window", topicID(t, ctx, cl, "window") // (v13 names topics by ID)
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != kerr.InvalidTimestamp.Code || len(p.ErrorRecords) != 2 || p.ErrorRecords[0].RelativeOffset != 1 || p.ErrorRecords[1].RelativeOffset != 2 {
		t.Fatalf("raw produce: error %d, record errors %+v", p.ErrorCode, p.ErrorRecords)
	}
	if m := *p.ErrorRecords[0].ErrorMessage; !strings.Contains(m, "of message with offset 1 is out of range") {
		t.Fatalf("record error message %q", m)
	}
	if p.ErrorMessage == nil || !strings.Contains(*p.ErrorMessage, "invalid timestamp") {
		t.Fatalf("partition message %v", p.ErrorMessage)
	}
	if end := listEnd(t, cl, "window"); end != 2 {
		t.Fatalf("log end %d: refused batches were appended", end)
	}
}

// listEnd is the topic's partition 0 log end offset.
func listEnd(t *testing.T, cl *kgo.Client, topic string) int64 {
	t.Helper()
	offsets, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := offsets.Lookup(topic, 0)
	return o.Offset
}

// TestSaramaTopicConfigs: sarama's ClusterAdmin creates a topic with
// Kafka configs and describes them back.
func TestSaramaTopicConfigs(t *testing.T) {
	b := testBroker(t, t.TempDir())
	defer b.Close()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	admin, err := sarama.NewClusterAdmin([]string{b.Addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	entries := map[string]*string{"compression.type": kadm.StringPtr("zstd"), "segment.jitter.ms": kadm.StringPtr("60000"),
		"unclean.leader.election.enable": kadm.StringPtr("false"), "message.timestamp.after.max.ms": kadm.StringPtr("3600000")}
	if err := admin.CreateTopic("sarama-configs", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1, ConfigEntries: entries}, false); err != nil {
		t.Fatal(err)
	}
	described, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: "sarama-configs"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]sarama.ConfigEntry{}
	for _, e := range described {
		got[e.Name] = e
	}
	for name, want := range entries {
		if e := got[name]; e.Value != *want || e.Source != sarama.SourceTopic {
			t.Errorf("%s: %q from %v, want %q from the topic", name, e.Value, e.Source, *want)
		}
	}
	if e := got["flush.messages"]; e.Value != "9223372036854775807" || !e.Default {
		t.Errorf("flush.messages: %+v", e)
	}
	err = admin.CreateTopic("sarama-bad", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"remote.storage.enable": kadm.StringPtr("true")}}, false)
	var topicErr *sarama.TopicError
	if !errors.As(err, &topicErr) || topicErr.Err != sarama.ErrInvalidConfig {
		t.Fatalf("remote.storage.enable=true: %v", err)
	}
}
