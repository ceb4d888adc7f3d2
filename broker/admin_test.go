package broker

import (
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAdminAPIs drives the admin APIs through kadm against a real broker.
func TestAdminAPIs(t *testing.T) {
	b := testBroker(t, t.TempDir())
	defer b.Close()
	c := client(t, b)
	admin := kadm.NewClient(c)
	ctx := ctxTimeout(t, 30*time.Second)
	if _, err := admin.CreateTopic(ctx, 2, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000")}, "admin"); err != nil {
		t.Fatal(err)
	}
	// Bad creates get Kafka's codes.
	resp, _ := admin.CreateTopic(ctx, 1, 3, nil, "replicated")
	if resp.Err == nil {
		t.Fatal("replication factor 3 accepted on one node")
	}
	resp, _ = admin.CreateTopic(ctx, 1, 1, nil, "bad name!")
	if resp.Err == nil {
		t.Fatal("invalid topic name accepted")
	}
	resp, _ = admin.CreateTopic(ctx, 1, 1, nil, "admin")
	if resp.Err == nil {
		t.Fatal("duplicate topic accepted")
	}

	// DescribeConfigs / IncrementalAlterConfigs / AlterConfigs.
	configs, err := admin.DescribeTopicConfigs(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := configs.On("admin", nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, cfg := range rc.Configs {
		if cfg.Key == "retention.ms" && cfg.MaybeValue() == "3600000" && cfg.Source == kmsg.ConfigSourceDynamicTopicConfig {
			found = true
		}
	}
	if !found {
		t.Fatalf("retention.ms override not described: %+v", rc.Configs)
	}
	altered, err := admin.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.bytes", Value: kadm.StringPtr("1048576")}}, "admin")
	if err != nil || altered[0].Err != nil {
		t.Fatalf("incremental alter: %v %v", err, altered)
	}
	topic, _ := b.cluster.Topic("admin")
	if topic.Configs["retention.bytes"] != "1048576" || topic.Configs["retention.ms"] != "3600000" {
		t.Fatalf("configs after incremental alter %v", topic.Configs)
	}
	altered, _ = admin.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("soon")}}, "admin")
	if altered[0].Err == nil {
		t.Fatal("invalid config value accepted")
	}

	// CreatePartitions.
	if _, err := admin.UpdatePartitions(ctx, 4, "admin"); err != nil {
		t.Fatal(err)
	}
	topics, err := admin.ListTopics(ctx, "admin")
	if err != nil || len(topics["admin"].Partitions) != 4 {
		t.Fatalf("partitions after CreatePartitions: %v %v", err, topics)
	}

	// DeleteRecords moves the log start offset.
	producer := client(t, b, kgo.DefaultProduceTopic("admin"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := 0; i < 10; i++ {
		if err := producer.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: "admin", Partition: 0, At: 4})
	deleted, err := admin.DeleteRecords(ctx, offsets)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := deleted.Lookup("admin", 0); d.Err != nil || d.LowWatermark != 4 {
		t.Fatalf("DeleteRecords: %+v", d)
	}
	starts, _ := admin.ListStartOffsets(ctx, "admin")
	if s, _ := starts.Lookup("admin", 0); s.Offset != 4 {
		t.Fatalf("start offset after DeleteRecords %d", s.Offset)
	}

	// OffsetForLeaderEpoch, DescribeCluster, DescribeLogDirs.
	epochRequest := kadm.OffsetForLeaderEpochRequest{}
	epochRequest.Add("admin", 0, 0)
	epochs, err := admin.OffsetForLeaderEpoch(ctx, epochRequest)
	if err != nil {
		t.Fatal(err)
	}
	if e := epochs["admin"][0]; e.Err != nil || e.EndOffset != 10 {
		t.Fatalf("OffsetForLeaderEpoch: %+v", e)
	}
	metadata, err := admin.BrokerMetadata(ctx)
	if err != nil || len(metadata.Brokers) != 1 || metadata.Cluster == "" {
		t.Fatalf("cluster: %v %+v", err, metadata)
	}
	dirs, err := admin.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	size := int64(0)
	dirs.Each(func(d kadm.DescribedLogDir) {
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			if p.Topic == "admin" {
				size += p.Size
			}
		})
	})
	if size == 0 {
		t.Fatal("DescribeLogDirs reports no bytes for a topic with records")
	}

	// DeleteTopics.
	if _, err := admin.DeleteTopics(ctx, "admin"); err != nil {
		t.Fatal(err)
	}
	if topics, _ := admin.ListTopics(ctx); topics.Has("admin") {
		t.Fatal("topic listed after delete")
	}
}

// TestLogAppendTime: a topic with message.timestamp.type=LogAppendTime
// stamps the broker's time on every record, and consumers see it.
func TestLogAppendTime(t *testing.T) {
	b := testBroker(t, t.TempDir())
	defer b.Close()
	c := client(t, b, kgo.DefaultProduceTopic("stamped"))
	ctx := ctxTimeout(t, 20*time.Second)
	if _, err := kadm.NewClient(c).CreateTopic(ctx, 1, 1, map[string]*string{"message.timestamp.type": kadm.StringPtr("LogAppendTime")}, "stamped"); err != nil {
		t.Fatal(err)
	}
	old := time.UnixMilli(1_000_000_000_000)
	before := time.Now().Add(-time.Second)
	if err := c.ProduceSync(ctx, &kgo.Record{Value: []byte("x"), Timestamp: old}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	records := consumeAll(t, b, "stamped", 1)
	if ts := records[0].Timestamp; ts.Before(before) || ts.After(time.Now().Add(time.Second)) || records[0].Attrs.TimestampType() != 1 {
		t.Fatalf("timestamp %v (type %d), want the append time", ts, records[0].Attrs.TimestampType())
	}
}

// TestNewPartitionsDoNotReserveSegmentBytes: a topic's new partitions cost
// their indexes' blocks, not segment.bytes of disk each (Kafka's default,
// preallocate=false): 32 partitions of 1 GiB segments must not take 32 GiB
// the moment they are created, nor 32 × 20 MiB of index reservations. The topic config preallocate=true (or the
// broker's log.preallocate) reserves whole segments, as Kafka does.
func TestNewPartitionsDoNotReserveSegmentBytes(t *testing.T) {
	dir := t.TempDir()
	b := testBroker(t, dir, "--log.segment.bytes=1073741824", "--log.index.size.max.bytes=10485760")
	defer b.Close()
	c := client(t, b, kgo.DefaultProduceTopic("wide"))
	admin := kadm.NewClient(c)
	ctx := ctxTimeout(t, 30*time.Second)
	if _, err := admin.CreateTopic(ctx, 32, 1, nil, "wide"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 64; i++ {
		c.Produce(ctx, &kgo.Record{Partition: int32(i % 32), Value: make([]byte, 1000)}, nil)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Indexes: what a 1 GiB .log can need at the 4 KiB index interval,
	// 2 MiB (offsets) and 3 MiB (times), not segment.index.bytes (10 MiB)
	// each; the .log: its records and the 4 MiB allocated ahead of them.
	wide := allocatedBytes(t, dir, "wide-")
	if limit := int64(32 * (5<<20 + 4<<20 + 1<<20)); wide > limit {
		t.Fatalf("32 new partitions take %d bytes of disk, more than %d", wide, limit)
	}
	if _, err := admin.CreateTopic(ctx, 2, 1, map[string]*string{"preallocate": kadm.StringPtr("true"), "segment.bytes": kadm.StringPtr("16777216")}, "reserved"); err != nil {
		t.Fatal(err)
	}
	if reserved := allocatedBytes(t, dir, "reserved-"); reserved < 2*16<<20 {
		t.Fatalf("2 preallocated partitions of 16 MiB segments take only %d bytes", reserved)
	}
	resp, err := admin.CreateTopic(ctx, 1, 1, map[string]*string{"preallocate": kadm.StringPtr("yes")}, "bad-preallocate")
	if err == nil && resp.Err == nil {
		t.Fatal("preallocate=yes accepted")
	}
	// Every record is there.
	if got := len(consumeAll(t, b, "wide", 64)); got != 64 {
		t.Fatalf("consumed %d of 64", got)
	}
}

// allocatedBytes sums the disk blocks of the files under the partition
// directories of dataDir whose names start with prefix.
func allocatedBytes(t *testing.T, dataDir, prefix string) int64 {
	t.Helper()
	var total int64
	err := filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasPrefix(filepath.Base(filepath.Dir(path)), prefix) {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil {
			return err
		}
		total += st.Blocks * 512
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}
