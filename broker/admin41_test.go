package broker

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAdminAPIsOfKafka41 drives the admin APIs with a meaning on one node
// through kadm (and DescribeTopicPartitions, which kadm lacks, raw):
// elections that are never needed, reassignments that cannot move
// anything, and paged topic descriptions.
func TestAdminAPIsOfKafka41(t *testing.T) {
	b := testBroker(t, t.TempDir())
	defer b.Close()
	c := client(t, b)
	admin := kadm.NewClient(c)
	ctx := ctxTimeout(t, 30*time.Second)
	if created, err := admin.CreateTopic(ctx, 3, 1, nil, "admin41"); err != nil || created.Err != nil {
		t.Fatalf("create: %v %v", err, created.Err)
	}

	elected, err := admin.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"admin41": {0: {}, 2: {}, 5: {}}})
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[int32]error{0: kerr.ElectionNotNeeded, 2: kerr.ElectionNotNeeded, 5: kerr.UnknownTopicOrPartition} {
		if got := elected["admin41"][p].Err; !errors.Is(got, want) {
			t.Errorf("elect admin41/%d: %v, want %v", p, got, want)
		}
	}

	brokers, err := admin.ListBrokers(ctx)
	if err != nil || len(brokers) != 1 {
		t.Fatalf("brokers: %v %v", err, brokers)
	}
	node := brokers[0].NodeID
	var assign kadm.AlterPartitionAssignmentsReq
	assign.Assign("admin41", 0, []int32{node})
	assign.Assign("admin41", 1, []int32{node, 7})
	assign.CancelAssign("admin41", 2)
	assigned, err := admin.AlterPartitionAssignments(ctx, assign)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[int32]error{0: nil, 1: kerr.InvalidReplicaAssignment, 2: kerr.NoReassignmentInProgress} {
		if got := assigned["admin41"][p].Err; !errors.Is(got, want) {
			t.Errorf("assign admin41/%d: %v, want %v", p, got, want)
		}
	}
	listed, err := admin.ListPartitionReassignments(ctx, kadm.TopicsSet{"admin41": {0: {}, 1: {}}})
	if err != nil || len(listed) != 0 {
		t.Fatalf("reassignments: %v %v", err, listed)
	}

	var described []int32
	var cursor *kmsg.DescribeTopicPartitionsRequestCursor
	for page := 0; page < 10; page++ {
		req := kmsg.NewPtrDescribeTopicPartitionsRequest()
		req.Topics = []kmsg.DescribeTopicPartitionsRequestTopic{{Topic: "admin41"}}
		req.ResponsePartitionLimit, req.Cursor = 2, cursor
		resp, err := req.RequestWith(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range resp.Topics[0].Partitions {
			described = append(described, p.Partition)
		}
		if resp.NextCursor == nil {
			break
		}
		cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: resp.NextCursor.Topic, Partition: resp.NextCursor.Partition}
	}
	if len(described) != 3 || described[0] != 0 || described[2] != 2 {
		t.Fatalf("DescribeTopicPartitions pages: %v", described)
	}
}
