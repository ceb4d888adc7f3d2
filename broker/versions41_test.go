package broker

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestKafka41VersionsWithFranzGo drives the versions Kafka 4.1 added to
// APIs spool already served through franz-go, which uses the newest
// version both sides support: Produce v13 (topic IDs), Fetch v18,
// ListOffsets v10, Metadata v13, InitProducerId v5, FindCoordinator v6,
// OffsetCommit/OffsetFetch v9, DescribeGroups v6, DescribeCluster v2.
func TestKafka41VersionsWithFranzGo(t *testing.T) {
	b := testBroker(t, t.TempDir(), "--group.initial.rebalance.delay.ms=0")
	defer b.Close()
	c := client(t, b)
	admin := kadm.NewClient(c)
	ctx := ctxTimeout(t, 60*time.Second)

	advertised, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	ours := kversion.FromApiVersionsResponse(advertised)
	kafka := kversion.V4_1_0()
	for _, key := range []int16{0, 1, 2, 3, 8, 9, 10, 15, 22, 60} {
		want, _ := kafka.LookupMaxKeyVersion(key)
		if got, _ := ours.LookupMaxKeyVersion(key); got != want {
			t.Errorf("%s: advertised v%d, Kafka 4.1 v%d", kmsg.NameForKey(key), got, want)
		}
	}

	if created, err := admin.CreateTopic(ctx, 2, 1, nil, "v41"); err != nil || created.Err != nil {
		t.Fatalf("create: %v %v", err, created.Err)
	}
	producer := client(t, b, kgo.DefaultProduceTopic("v41"), kgo.RequiredAcks(kgo.AllISRAcks()))
	const n = 20
	for i := 0; i < n; i++ {
		if err := producer.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}

	// A group consumer: FindCoordinator v6, JoinGroup/SyncGroup, Fetch
	// v18, then OffsetCommit v9 with its generation.
	consumer := client(t, b, kgo.ConsumeTopics("v41"), kgo.ConsumerGroup("g41"), kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < n {
		fetches := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", got, n, err)
		}
		fetches.EachError(func(topic string, partition int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, partition, err) })
		got += fetches.NumRecords()
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit v9: %v", err)
	}
	fetched, err := admin.FetchOffsets(ctx, "g41")
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	fetched.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != n {
		t.Fatalf("committed offsets sum to %d, want %d", total, n)
	}
	described, err := admin.DescribeGroups(ctx, "g41", "nobody")
	if err != nil {
		t.Fatal(err)
	}
	if g := described["g41"]; g.Err != nil || g.State != "Stable" || len(g.Members) != 1 {
		t.Fatalf("g41: %+v", g)
	}
	if g := described["nobody"]; !errors.Is(g.Err, kerr.GroupIDNotFound) {
		t.Fatalf("DescribeGroups v6 of an unknown group: %v", g.Err)
	}
	consumer.Close()

	ends, err := admin.ListEndOffsets(ctx, "v41")
	if err != nil || ends.Error() != nil {
		t.Fatalf("list end offsets: %v %v", err, ends.Error())
	}
	sum := int64(0)
	ends.Each(func(o kadm.ListedOffset) { sum += o.Offset })
	if sum != n {
		t.Fatalf("end offsets sum to %d", sum)
	}
	list := kmsg.NewPtrListOffsetsRequest()
	topic := kmsg.NewListOffsetsRequestTopic()
	topic.Topic = "v41"
	p := kmsg.NewListOffsetsRequestTopicPartition()
	p.Timestamp = -5 // latest tiered: nothing is
	topic.Partitions = append(topic.Partitions, p)
	list.Topics = append(list.Topics, topic)
	listed, err := list.RequestWith(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if lp := listed.Topics[0].Partitions[0]; lp.ErrorCode != 0 || lp.Offset != -1 {
		t.Fatalf("latest tiered: %+v", lp)
	}

	cluster := kmsg.NewPtrDescribeClusterRequest()
	cluster.IncludeFencedBrokers = true
	described2, err := cluster.RequestWith(ctx, c)
	if err != nil || described2.ErrorCode != 0 || len(described2.Brokers) != 1 || described2.Brokers[0].IsFenced {
		t.Fatalf("describe cluster: %v %+v", err, described2)
	}
	cluster.EndpointType = 2
	if described2, err = cluster.RequestWith(ctx, c); err != nil || described2.ErrorCode != kerr.MismatchedEndpointType.Code {
		t.Fatalf("describe controllers at a broker: %v %+v", err, described2)
	}
}
