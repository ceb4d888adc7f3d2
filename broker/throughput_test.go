package broker

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkProduce measures produce throughput through the real protocol:
// a franz-go producer (in this process, on the same 2 cores) sends records
// of 100 B and 1 KiB to a 2-partition topic of a broker on loopback, with
// acks=1 and acks=all. One op is one record. The bench harness issue
// replaces this with an open-loop tool; this is the quick check the
// broker issue's CPU profiles come from (-cpuprofile).
func BenchmarkProduce(b *testing.B) {
	for _, size := range []int{100, 1024} {
		for _, acks := range []string{"1", "all"} {
			b.Run(fmt.Sprintf("record=%dB/acks=%s", size, acks), func(b *testing.B) {
				benchProduce(b, size, acks)
			})
		}
	}
}

// BenchmarkPinnedShards compares shard threads pinned to cores
// (pin.cores=true) against unpinned, alternating, on 1 KiB acks=1 produce.
func BenchmarkPinnedShards(b *testing.B) {
	for round := 0; round < 2; round++ {
		for _, pin := range []string{"false", "true"} {
			b.Run(fmt.Sprintf("round=%d/pin.cores=%s", round, pin), func(b *testing.B) {
				benchProduce(b, 1024, "1", "--pin.cores="+pin)
			})
		}
	}
}

func benchProduce(b *testing.B, size int, acks string, extra ...string) {
	broker := benchBroker(b, extra...)
	defer broker.Close()
	opts := []kgo.Opt{
		kgo.ProducerLinger(5 * time.Millisecond), kgo.ProducerBatchMaxBytes(1 << 20),
	}
	if acks == "1" {
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	}
	produceRecords(b, broker.Addr(), size, opts...)
}

// produceRecords creates a 2-partition topic at addr and times b.N records
// of size random bytes through a franz-go producer: uncompressed, since
// franz-go compresses with snappy by default and a constant value would
// shrink to nothing, leaving the broker nothing to move.
func produceRecords(b *testing.B, addr string, size int, opts ...kgo.Opt) {
	c, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("bench"),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.MaxBufferedRecords(1 << 20),
	}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := kadm.NewClient(c).CreateTopic(ctx, 2, 1, nil, "bench"); err != nil {
		b.Fatal(err)
	}
	value := make([]byte, size)
	rand.Read(value)
	var failed atomic.Int64
	b.SetBytes(int64(size))
	b.ReportAllocs()
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

func benchBroker(b *testing.B, extra ...string) *Broker {
	props, err := LoadProperties(append([]string{
		"--log.dirs=" + b.TempDir(), "--listeners=PLAINTEXT://127.0.0.1:0", "--admin.listener=",
		"--log.segment.bytes=268435456",
	}, extra...))
	if err != nil {
		b.Fatal(err)
	}
	broker, err := Start(props, discardLogger())
	if err != nil {
		b.Fatal(err)
	}
	return broker
}

// BenchmarkConsume measures catch-up fetch throughput through the real
// protocol: a franz-go consumer reads a pre-filled 2-partition topic of
// 1 KiB records from offset 0, with the broker sending records by sendfile
// or by the copy path. One op is one record.
func BenchmarkConsume(b *testing.B) {
	for _, path := range []string{"sendfile", "copy"} {
		b.Run("fetch.path="+path, func(b *testing.B) {
			props, err := LoadProperties([]string{
				"--log.dirs=" + b.TempDir(), "--listeners=PLAINTEXT://127.0.0.1:0", "--admin.listener=",
				"--log.segment.bytes=268435456", "--fetch.path=" + path,
			})
			if err != nil {
				b.Fatal(err)
			}
			broker, err := Start(props, discardLogger())
			if err != nil {
				b.Fatal(err)
			}
			defer broker.Close()
			ctx := context.Background()
			producer, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr()), kgo.DefaultProduceTopic("catchup"),
				kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
				kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := kadm.NewClient(producer).CreateTopic(ctx, 2, 1, nil, "catchup"); err != nil {
				b.Fatal(err)
			}
			value := make([]byte, 1024)
			rand.Read(value)
			for i := 0; i < b.N; i++ {
				producer.Produce(ctx, &kgo.Record{Value: value}, nil)
			}
			if err := producer.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			producer.Close()
			consumer, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr()), kgo.ConsumeTopics("catchup"),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(16<<20), kgo.FetchMaxPartitionBytes(8<<20))
			if err != nil {
				b.Fatal(err)
			}
			defer consumer.Close()
			b.SetBytes(1024)
			b.ReportAllocs()
			b.ResetTimer()
			got := 0
			deadline, cancel := context.WithTimeout(ctx, 5*time.Minute)
			defer cancel()
			for got < b.N {
				fetches := consumer.PollFetches(deadline)
				if err := fetches.Err(); err != nil {
					b.Fatal(err)
				}
				got += fetches.NumRecords()
			}
		})
	}
}
