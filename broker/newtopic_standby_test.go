package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestNewTopicBehindStandby: with a standby and min.insync.replicas=2, a
// topic created (or grown) while the standby is connected takes acks=all
// writes at once, as in Kafka, whose in-sync set for a new partition is
// all its assigned replicas. Before, the first Produce was answered
// NOT_ENOUGH_REPLICAS (the standby joined a new partition's in-sync set
// only after its first ack), franz-go's idempotent producer bumped its
// epoch and never sent again, and every record timed out. Checked right
// after creation, after CreatePartitions, right after a standby restart,
// and while the standby catches up other partitions.
func TestNewTopicBehindStandby(t *testing.T) {
	leader := testBroker(t, t.TempDir(), "--replication.listener=127.0.0.1:0", "--min.insync.replicas=2", "--replication.throttle.bytes.per.second=1000000", "--replica.lag.time.max.ms=1000")
	defer leader.Close()
	standbyDir := t.TempDir()
	standbyArgs := []string{"--standby.of=" + leader.ReplicationAddr(), "--node.id=1", "--min.insync.replicas=2"}
	standby := testBroker(t, standbyDir, standbyArgs...)
	defer func() { standby.Close() }()
	waitConnected(t, standby)
	adm := kadm.NewClient(client(t, leader))
	ctx := ctxTimeout(t, 90*time.Second)

	createAndProduceAtOnce(t, ctx, adm, leader, "fresh", 3, nil)

	// CreatePartitions: the new partitions take writes at once too.
	if resp, err := adm.CreatePartitions(ctx, 2, "fresh"); err != nil || resp["fresh"].Err != nil {
		t.Fatalf("CreatePartitions: %v %v", err, resp)
	}
	produceAtOnce(t, ctx, leader, "fresh", []int32{3, 4})

	// Right after a standby restart.
	standby.Close()
	standby = testBroker(t, standbyDir, standbyArgs...)
	waitConnected(t, standby)
	createAndProduceAtOnce(t, ctx, adm, leader, "after-restart", 2, nil)

	// While the standby catches up another topic (min.insync.replicas=1
	// there, so it takes writes with the standby away): about 3 MB behind,
	// sent at 1 MB/s.
	backlog := map[string]*string{"min.insync.replicas": kadm.StringPtr("1")}
	if resp, err := adm.CreateTopic(ctx, 2, 1, backlog, "backlog"); err != nil || resp.Err != nil {
		t.Fatalf("create backlog: %v %v", err, resp.Err)
	}
	standby.Close()
	produceIncompressible(t, leader, "backlog", 3000)
	standby = testBroker(t, standbyDir, standbyArgs...)
	waitConnected(t, standby)
	if behind := backlogBehind(t, leader, standby); behind == 0 {
		t.Fatal("the standby caught up the backlog before the new topic was created: this checks nothing")
	}
	createAndProduceAtOnce(t, ctx, adm, leader, "during-catch-up", 2, nil)
	t.Logf("backlog records the standby still lacked once the new topic's were acknowledged: %d", backlogBehind(t, leader, standby))
	waitIdentical(t, leader, standby)
}

// backlogBehind is how many records of topic backlog the standby lacks.
func backlogBehind(t *testing.T, leader, standby *Broker) int64 {
	t.Helper()
	lt, _ := leader.cluster.Topic("backlog")
	st, ok := standby.cluster.Topic("backlog")
	behind := int64(0)
	for i, p := range lt.Partitions {
		end := int64(0)
		if ok {
			end = int64(st.Partitions[i].Log.LogEndOffset())
		}
		behind += int64(p.Log.LogEndOffset()) - end
	}
	return behind
}

// waitConnected waits until a standby has finished its hellos with its
// leader.
func waitConnected(t *testing.T, standby *Broker) {
	t.Helper()
	waitFor(t, 10*time.Second, "the standby to connect", func() bool {
		_, connected := standby.standby.Leader()
		return connected
	})
}

// createAndProduceAtOnce creates topic and, with no pause, produces to
// every partition with franz-go's default (idempotent) producer, acks=all.
func createAndProduceAtOnce(t *testing.T, ctx context.Context, adm *kadm.Client, b *Broker, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	if resp, err := adm.CreateTopic(ctx, partitions, 1, configs, topic); err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, resp.Err)
	}
	all := make([]int32, partitions)
	for i := range all {
		all[i] = int32(i)
	}
	produceAtOnce(t, ctx, b, topic, all)
}

// produceAtOnce produces 200 records spread over partitions, acks=all,
// idempotent, with the 4 s delivery timeout of the report (without the
// fix all 200 timed out), and fails on any record not acknowledged.
func produceAtOnce(t *testing.T, ctx context.Context, b *Broker, topic string, partitions []int32) {
	t.Helper()
	producer := client(t, b, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(4*time.Second))
	records := make([]*kgo.Record, 200)
	for i := range records {
		records[i] = &kgo.Record{Partition: partitions[i%len(partitions)], Value: fmt.Appendf(nil, "%s %d", topic, i)}
	}
	failed := 0
	var first error
	for _, r := range producer.ProduceSync(ctx, records...) {
		if r.Err != nil {
			if failed == 0 {
				first = r.Err
			}
			failed++
		}
	}
	if failed > 0 {
		t.Fatalf("%s: %d of %d records not acknowledged (first: %v)", topic, failed, len(records), first)
	}
}
