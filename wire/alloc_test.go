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

// TestProduceAllocationsDoNotGrowWithRecords: a Produce request allocates a
// constant number of objects (decoding, the response), never per record.
func TestProduceAllocationsDoNotGrowWithRecords(t *testing.T) {
	shard := engine.NewShard(engine.ShardConfig{CPU: -1})
	defer shard.Stop()
	cluster, err := meta.Open(meta.Config{
		DataDir:  t.TempDir(),
		Shards:   []*engine.Shard{shard},
		Defaults: engine.LogConfig{Segment: segment.Config{SegmentBytes: 256 << 20, IndexBytes: 1 << 20}},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	if _, err := cluster.CreateTopic("t", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	server, err := NewServer(Config{Host: "127.0.0.1", Port: 9092, ClusterID: "x", Cluster: cluster})
	if err != nil {
		t.Fatal(err)
	}
	frameFor := func(records int) []byte {
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = 9, 1, 5000
		topic := kmsg.NewProduceRequestTopic()
		topic.Topic = "t"
		partition := kmsg.NewProduceRequestTopicPartition()
		partition.Records = batchtest.Values(records, 100, 1)
		topic.Partitions = append(topic.Partitions, partition)
		req.Topics = append(req.Topics, topic)
		frame := binary.BigEndian.AppendUint16(nil, 0)
		frame = binary.BigEndian.AppendUint16(frame, 9)
		frame = binary.BigEndian.AppendUint32(frame, 1)
		frame = binary.BigEndian.AppendUint16(frame, 0xffff)
		frame = append(frame, 0)
		return req.AppendTo(frame)
	}
	var resp Response
	measure := func(records int) float64 {
		frame := frameFor(records)
		original := append([]byte(nil), frame...)
		return testing.AllocsPerRun(200, func() {
			copy(frame, original) // the append stamps offsets in place
			if err := server.Handle(context.Background(), frame, &resp); err != nil {
				t.Fatal(err)
			}
			resp.Complete()
		})
	}
	one, many := measure(1), measure(500)
	t.Logf("allocations per Produce request: %.0f with 1 record, %.0f with 500", one, many)
	if many > one {
		t.Fatalf("allocations grow with records: %.0f for 1, %.0f for 500", one, many)
	}
}
