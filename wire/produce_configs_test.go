//go:build !race

package wire

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine"
	"spool/engine/meta"
	"spool/internal/batchtest"
	"spool/segment"
)

// BenchmarkProduceHandle runs one Produce request of one 500-record batch
// (100-byte values, uncompressed, ~60 KB) through Server.Handle and the
// append, for a topic with Kafka's default compression.type=producer (the
// path a topic config must not slow) and for topics that recompress it.
// Bytes are the batch's.
func BenchmarkProduceHandle(b *testing.B) {
	shard := engine.NewShard(engine.ShardConfig{CPU: -1})
	defer shard.Stop()
	cluster, err := meta.Open(meta.Config{
		DataDir:  b.TempDir(),
		Shards:   []*engine.Shard{shard},
		Defaults: engine.LogConfig{Segment: segment.Config{SegmentBytes: 1 << 30, IndexBytes: 1 << 20}, RetentionBytes: 64 << 20},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Close()
	server, err := NewServer(Config{Host: "127.0.0.1", Port: 9092, ClusterID: "x", Cluster: cluster})
	if err != nil {
		b.Fatal(err)
	}
	for _, topic := range []string{"producer", "lz4", "zstd"} {
		var configs map[string]string
		if topic != "producer" {
			configs = map[string]string{"compression.type": topic}
		}
		if _, err := cluster.CreateTopic(topic, 1, configs, false); err != nil {
			b.Fatal(err)
		}
		b.Run(topic, func(b *testing.B) {
			req := kmsg.NewPtrProduceRequest()
			req.Version, req.Acks, req.TimeoutMillis = 9, 1, 5000
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = topic
			partition := kmsg.NewProduceRequestTopicPartition()
			partition.Records = batchtest.Values(500, 100, 1)
			rt.Partitions = append(rt.Partitions, partition)
			req.Topics = append(req.Topics, rt)
			frame := binary.BigEndian.AppendUint16(nil, 0)
			frame = binary.BigEndian.AppendUint16(frame, 9)
			frame = binary.BigEndian.AppendUint32(frame, 1)
			frame = binary.BigEndian.AppendUint16(frame, 0xffff)
			frame = append(frame, 0)
			frame = req.AppendTo(frame)
			original := append([]byte(nil), frame...)
			var resp Response
			b.SetBytes(int64(len(partition.Records)))
			b.ReportAllocs()
			for b.Loop() {
				copy(frame, original) // the append stamps offsets in place
				if err := server.Handle(context.Background(), frame, &resp); err != nil {
					b.Fatal(err)
				}
				resp.Complete()
			}
		})
	}
}

// BenchmarkTopicBatchProducer is what the topic configs add to each
// batch of a compression.type=producer topic with Kafka's timestamp
// defaults: a look at the log's published configuration.
func BenchmarkTopicBatchProducer(b *testing.B) {
	shard := engine.NewShard(engine.ShardConfig{CPU: -1})
	defer shard.Stop()
	cluster, err := meta.Open(meta.Config{DataDir: b.TempDir(), Shards: []*engine.Shard{shard},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Close()
	topic, err := cluster.CreateTopic("producer", 1, nil, false)
	if err != nil {
		b.Fatal(err)
	}
	batch := batchtest.Values(500, 100, 1)
	log := topic.Partitions[0].Log
	b.ReportAllocs()
	for b.Loop() {
		if out, err := topicBatch(log, batch); err != nil || &out[0] != &batch[0] {
			b.Fatal("the producer's batch was not passed through")
		}
	}
}
