package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkDurableProduceVsKfake runs the same durable-produce workload
// (1 KiB random records, acks=all, 2 partitions, a franz-go producer with
// its default batching, no linger, in this process) against spool and
// against franz-go's kfake with a data directory and synchronous writes,
// alternating within one run so the two share the machine's state.
// Compare the ns/op of the lines.
func BenchmarkDurableProduceVsKfake(b *testing.B) {
	for round := 0; round < 2; round++ {
		b.Run(fmt.Sprintf("round=%d/broker=spool", round), func(b *testing.B) {
			broker := benchBroker(b)
			defer broker.close()
			durableProduce(b, broker.addr())
		})
		b.Run(fmt.Sprintf("round=%d/broker=kfake", round), func(b *testing.B) {
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(b.TempDir()), kfake.SyncWrites())
			if err != nil {
				b.Fatal(err)
			}
			defer cluster.Close()
			durableProduce(b, cluster.ListenAddrs()[0])
		})
	}
}

func durableProduce(b *testing.B, addr string) {
	c, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("durable"),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(1<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := kadm.NewClient(c).CreateTopic(ctx, 2, 1, nil, "durable"); err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 1024)
	rand.Read(value)
	var failed atomic.Int64
	b.SetBytes(1024)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Produce(ctx, &kgo.Record{Value: value}, func(r *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
			}
		})
	}
	if err := c.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d records failed", failed.Load())
	}
}
