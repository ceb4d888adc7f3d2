package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestStandbyReplicatesThroughLogStartChurn runs, while a standby
// replicates, what rewrites a leader's epoch cache on its shard
// (DeleteRecords moves the log start, and the cache's first entry moves
// with it) and what makes both nodes read their epoch caches from
// replication goroutines: every reconnection of the standby (the link is
// cut and healed) sends Positions from the standby's epoch history, which
// the leader's reader cuts by EndOffsetForEpoch and its sender checks
// again for divergence. It checks that the standby follows the leader's
// log start, also when nothing is left to send (heartbeats), and ends
// identical to the leader; before that fix the standby kept, and after a
// promotion would have served again, records DeleteRecords removed.
//
// Under -race it cannot show the epoch cache's race itself: the race
// runtime orders every read of a file descriptor after every earlier
// write of any descriptor (internal/poll's ioSync), and the shard writes
// the leader-epoch-checkpoint right after changing the cache, while the
// replication goroutines read their sockets before each use. The engine's
// own test of concurrent epoch reads, with no descriptor read between,
// shows it.
func TestStandbyReplicatesThroughLogStartChurn(t *testing.T) {
	leader := testBroker(t, t.TempDir(), "--replication.listener=127.0.0.1:0", "--replica.lag.time.max.ms=2000")
	defer leader.Close()
	proxy := newLinkProxy(t, leader.ReplicationAddr())
	standby := testBroker(t, t.TempDir(), "--standby.of="+proxy.listener.Addr().String(), "--node.id=1")
	defer standby.Close()
	const topic, partitions = "churn", 2
	createTopic(t, leader, topic, partitions)
	producer := client(t, leader, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(client(t, leader))
	ctx := ctxTimeout(t, 60*time.Second)

	deadline := time.Now().Add(8 * time.Second)
	for round := 0; round < 6 && time.Now().Before(deadline); round++ {
		records := make([]*kgo.Record, 20)
		for i := range records {
			records[i] = &kgo.Record{Partition: int32(i % partitions), Value: fmt.Appendf(nil, "round %d record %d", round, i)}
		}
		if err := producer.ProduceSync(ctx, records...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		waitIdentical(t, leader, standby)
		churnLogStart(t, ctx, adm, leader, topic)
		proxy.setCut(true)
		proxy.setCut(false)
		// The standby reconnects after its pause: hellos, Metadata,
		// Positions, and the leader reads its epoch caches.
		waitFor(t, 10*time.Second, "the standby to reconnect", func() bool {
			_, connected := standby.standby.Leader()
			return connected
		})
	}
	// The standby follows the leader's log start, with heartbeats once
	// nothing is left to send.
	lt, _ := leader.cluster.Topic(topic)
	waitFor(t, 10*time.Second, "the standby to follow the leader's log start", func() bool {
		st, ok := standby.cluster.Topic(topic)
		for i := range lt.Partitions {
			if !ok || lt.Partitions[i].Log.LogStartOffset() != st.Partitions[i].Log.LogStartOffset() {
				return false
			}
		}
		return true
	})
	waitIdentical(t, leader, standby)
}

// churnLogStart moves every partition's log start offset to a few records
// below its high watermark.
func churnLogStart(t *testing.T, ctx context.Context, adm *kadm.Client, b *Broker, topic string) {
	t.Helper()
	lt, _ := b.cluster.Topic(topic)
	offsets := kadm.Offsets{}
	for _, p := range lt.Partitions {
		if to := int64(p.Log.HighWatermark()) - 3; to > int64(p.Log.LogStartOffset()) {
			offsets.Add(kadm.Offset{Topic: topic, Partition: p.Index, At: to})
		}
	}
	if len(offsets) == 0 {
		return
	}
	resp, err := adm.DeleteRecords(ctx, offsets)
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Error(); err != nil {
		t.Fatal(err)
	}
}
