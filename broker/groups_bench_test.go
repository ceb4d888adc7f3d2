package broker

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// groupBenchTarget is a broker to compare: spool (group.initial.
// rebalance.delay.ms=0) or kfake (which has no initial delay), each with a
// data directory and synchronous writes.
type groupBenchTarget struct {
	name  string
	start func(b *testing.B) (addr string, stop func())
}

var groupBenchTargets = []groupBenchTarget{
	{"spool", func(b *testing.B) (string, func()) {
		broker := benchBroker(b, "--group.initial.rebalance.delay.ms=0", "--group.min.session.timeout.ms=1000")
		return broker.Addr(), func() { broker.Close() }
	}},
	{"kfake", func(b *testing.B) (string, func()) {
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(b.TempDir()), kfake.SyncWrites(), kfake.GroupMinSessionTimeout(time.Second))
		if err != nil {
			b.Fatal(err)
		}
		return cluster.ListenAddrs()[0], cluster.Close
	}},
}

// BenchmarkRebalance: one op is a new group of three franz-go consumers
// (range assignor, heartbeat every 100 ms) forming on a 12-partition
// topic: from creating the clients to every partition assigned once. The
// members start together; whoever joins first forms generation 1 alone
// and learns of the others at its next heartbeat, as with Kafka and
// group.initial.rebalance.delay.ms=0. Alternates spool and kfake.
func BenchmarkRebalance(b *testing.B) {
	for round := 0; round < 2; round++ {
		for _, target := range groupBenchTargets {
			b.Run(fmt.Sprintf("round=%d/broker=%s", round, target.name), func(b *testing.B) {
				addr, stop := target.start(b)
				defer stop()
				admin, err := kgo.NewClient(kgo.SeedBrokers(addr))
				if err != nil {
					b.Fatal(err)
				}
				defer admin.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				if _, err := kadm.NewClient(admin).CreateTopic(ctx, 12, 1, nil, "rebalance"); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					var owned [3]atomic.Int32
					var clients []*kgo.Client
					pollCtx, stopPolling := context.WithCancel(ctx)
					for m := 0; m < 3; m++ {
						c, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(fmt.Sprint("g", i)), kgo.ConsumeTopics("rebalance"),
							kgo.Balancers(kgo.RangeBalancer()), kgo.HeartbeatInterval(100*time.Millisecond), kgo.SessionTimeout(6*time.Second),
							kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) { owned[m].Add(int32(len(a["rebalance"]))) }),
							kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
								owned[m].Add(-int32(len(r["rebalance"])))
							}),
						)
						if err != nil {
							b.Fatal(err)
						}
						clients = append(clients, c)
						go func() {
							for pollCtx.Err() == nil {
								c.PollFetches(pollCtx)
							}
						}()
					}
					for !(owned[0].Load() == 4 && owned[1].Load() == 4 && owned[2].Load() == 4) {
						if ctx.Err() != nil {
							b.Fatal("group never formed")
						}
						time.Sleep(time.Millisecond)
					}
					b.StopTimer()
					stopPolling()
					for _, c := range clients {
						c.Close()
					}
					b.StartTimer()
				}
				b.StopTimer() // closing the broker is not part of the measure
			})
		}
	}
}

// BenchmarkOffsetCommit: one op is one durable OffsetCommit request of
// one group for `partitions` partitions (simple commits, generation -1),
// from 16 consumers at once, each with its own connection and one request
// in flight (as a consumer commits). Commits per second = partitions /
// (ns/op) × 1e9.
func BenchmarkOffsetCommit(b *testing.B) {
	const committers = 16
	for round := 0; round < 2; round++ {
		for _, partitions := range []int{1, 100} {
			for _, target := range groupBenchTargets {
				b.Run(fmt.Sprintf("round=%d/partitions=%d/broker=%s", round, partitions, target.name), func(b *testing.B) {
					addr, stop := target.start(b)
					defer stop()
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
					defer cancel()
					// OffsetCommit v8 for both: kfake also serves v10,
					// which names topics by id.
					clients := make(chan *kgo.Client, committers)
					for i := 0; i < committers; i++ {
						c, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(kversion.V3_5_0()))
						if err != nil {
							b.Fatal(err)
						}
						defer c.Close()
						clients <- c
					}
					c := <-clients
					clients <- c
					if _, err := kadm.NewClient(c).CreateTopic(ctx, int32(partitions), 1, nil, "committed"); err != nil {
						b.Fatal(err)
					}
					var next atomic.Int64
					var group atomic.Int32
					b.SetParallelism(committers / 2) // GOMAXPROCS is 2
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						c := <-clients
						req := kmsg.NewPtrOffsetCommitRequest()
						req.Group, req.Generation = fmt.Sprint("committers-", group.Add(1)), -1
						topic := kmsg.NewOffsetCommitRequestTopic()
						topic.Topic = "committed"
						for p := 0; p < partitions; p++ {
							part := kmsg.NewOffsetCommitRequestTopicPartition()
							part.Partition = int32(p)
							topic.Partitions = append(topic.Partitions, part)
						}
						req.Topics = []kmsg.OffsetCommitRequestTopic{topic}
						for pb.Next() {
							offset := next.Add(1)
							for p := range req.Topics[0].Partitions {
								req.Topics[0].Partitions[p].Offset = offset
							}
							resp, err := req.RequestWith(ctx, c)
							if err != nil {
								b.Error(err)
								return
							}
							if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
								b.Errorf("commit: code %d", code)
								return
							}
						}
					})
					b.StopTimer()
				})
			}
		}
	}
}
