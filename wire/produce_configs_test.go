//go:build !race

package wire

import (
	"context"
	"io"
	"log/slog"
	"testing"

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
	server, cluster := testServer(b, segment.Config{SegmentBytes: 1 << 30, IndexBytes: 1 << 20}, 0)
	for _, topic := range []string{"producer", "lz4", "zstd"} {
		var configs map[string]string
		if topic != "producer" {
			configs = map[string]string{"compression.type": topic}
		}
		if _, err := cluster.CreateTopic(topic, 1, configs, false); err != nil {
			b.Fatal(err)
		}
		b.Run(topic, func(b *testing.B) {
			records := batchtest.Values(500, 100, 1)
			frame := oneBatchProduce(topic, records)
			original := append([]byte(nil), frame...)
			var resp Response
			b.SetBytes(int64(len(records)))
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
