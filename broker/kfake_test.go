package broker

import (
	"fmt"
	"testing"

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
			defer broker.Close()
			durableProduce(b, broker.Addr())
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
	produceRecords(b, addr, 1024, kgo.RequiredAcks(kgo.AllISRAcks()))
}
