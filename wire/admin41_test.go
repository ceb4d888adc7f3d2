package wire

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestElectLeadersNotNeeded(t *testing.T) {
	server := sessionServer(t, 2, 4)
	for _, version := range []int16{0, 1, 2} {
		req := kmsg.NewPtrElectLeadersRequest()
		req.Version = version
		req.Topics = []kmsg.ElectLeadersRequestTopic{{Topic: "t", Partitions: []int32{0, 1, 7}}, {Topic: "nope", Partitions: []int32{0}}}
		resp := roundTrip(t, server, req).(*kmsg.ElectLeadersResponse)
		want := [][]int16{{kerr.ElectionNotNeeded.Code, kerr.ElectionNotNeeded.Code, kerr.UnknownTopicOrPartition.Code}, {kerr.UnknownTopicOrPartition.Code}}
		for i, kt := range resp.Topics {
			for j, kp := range kt.Partitions {
				if kp.ErrorCode != want[i][j] {
					t.Errorf("v%d %s/%d: code %d, want %d", version, kt.Topic, kp.Partition, kp.ErrorCode, want[i][j])
				}
			}
		}
		all := kmsg.NewPtrElectLeadersRequest()
		all.Version = version
		if resp := roundTrip(t, server, all).(*kmsg.ElectLeadersResponse); resp.ErrorCode != 0 || len(resp.Topics) != 0 {
			t.Errorf("v%d all partitions: %+v", version, resp)
		}
	}
	bad := kmsg.NewPtrElectLeadersRequest()
	bad.Version, bad.ElectionType = 2, 3
	if resp := roundTrip(t, server, bad).(*kmsg.ElectLeadersResponse); resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("election type 3: %+v", resp)
	}
}

func TestAlterAndListPartitionReassignments(t *testing.T) {
	server := sessionServer(t, 2, 4)
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	req.Version = 1
	req.Topics = []kmsg.AlterPartitionAssignmentsRequestTopic{
		{Topic: "t", Partitions: []kmsg.AlterPartitionAssignmentsRequestTopicPartition{
			{Partition: 0, Replicas: []int32{0}},    // as it is
			{Partition: 1, Replicas: []int32{0, 1}}, // another broker
			{Partition: 0, Replicas: []int32{}},     // empty
			{Partition: 1, Replicas: []int32{0, 0}}, // repeated
			{Partition: 1, Replicas: nil},           // cancel
			{Partition: 9, Replicas: []int32{0}},    // unknown partition
		}},
		{Topic: "nope", Partitions: []kmsg.AlterPartitionAssignmentsRequestTopicPartition{{Partition: 0, Replicas: []int32{0}}}},
	}
	resp := roundTrip(t, server, req).(*kmsg.AlterPartitionAssignmentsResponse)
	want := [][]int16{{0, kerr.InvalidReplicaAssignment.Code, kerr.InvalidReplicaAssignment.Code, kerr.InvalidReplicaAssignment.Code, kerr.NoReassignmentInProgress.Code, kerr.UnknownTopicOrPartition.Code}, {kerr.UnknownTopicOrPartition.Code}}
	if resp.ErrorCode != 0 || !resp.AllowReplicationFactorChange {
		t.Fatalf("top level: %+v", resp)
	}
	for i, kt := range resp.Topics {
		for j, kp := range kt.Partitions {
			if kp.ErrorCode != want[i][j] || (kp.ErrorCode != 0) != (kp.ErrorMessage != nil) {
				t.Errorf("%s entry %d: code %d message %v, want %d", kt.Topic, j, kp.ErrorCode, kp.ErrorMessage, want[i][j])
			}
		}
	}
	list := kmsg.NewPtrListPartitionReassignmentsRequest()
	if resp := roundTrip(t, server, list).(*kmsg.ListPartitionReassignmentsResponse); resp.ErrorCode != 0 || len(resp.Topics) != 0 {
		t.Errorf("list all: %+v", resp)
	}
	list.Topics = []kmsg.ListPartitionReassignmentsRequestTopic{{Topic: "t", Partitions: []int32{0, 1}}, {Topic: "nope", Partitions: []int32{0}}}
	if resp := roundTrip(t, server, list).(*kmsg.ListPartitionReassignmentsResponse); resp.ErrorCode != 0 || len(resp.Topics) != 0 {
		t.Errorf("list named: %+v", resp)
	}
}

func TestDescribeTopicPartitionsPages(t *testing.T) {
	server := sessionServer(t, 5, 4)
	if _, err := server.cfg.Cluster.CreateTopic("u", 3, nil, false); err != nil {
		t.Fatal(err)
	}
	// Every topic, two partitions a page: t/0-1, t/2-3, t/4 u/0, u/1-2.
	type seen struct {
		topic     string
		partition int32
	}
	var all []seen
	var cursor *kmsg.DescribeTopicPartitionsRequestCursor
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("cursor does not advance")
		}
		req := kmsg.NewPtrDescribeTopicPartitionsRequest()
		req.ResponsePartitionLimit, req.Cursor = 2, cursor
		resp := roundTrip(t, server, req).(*kmsg.DescribeTopicPartitionsResponse)
		n := 0
		for _, kt := range resp.Topics {
			if kt.ErrorCode != 0 || kt.TopicID == [16]byte{} {
				t.Fatalf("topic %+v", kt)
			}
			for _, kp := range kt.Partitions {
				if kp.LeaderID != 0 || len(kp.Replicas) != 1 || kp.ErrorCode != 0 {
					t.Fatalf("partition %+v", kp)
				}
				all = append(all, seen{*kt.Topic, kp.Partition})
				n++
			}
		}
		if n > 2 {
			t.Fatalf("page of %d partitions, limit 2", n)
		}
		if resp.NextCursor == nil {
			break
		}
		cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: resp.NextCursor.Topic, Partition: resp.NextCursor.Partition}
	}
	want := []seen{{"t", 0}, {"t", 1}, {"t", 2}, {"t", 3}, {"t", 4}, {"u", 0}, {"u", 1}, {"u", 2}}
	if len(all) != len(want) {
		t.Fatalf("described %v, want %v", all, want)
	}
	for i := range want {
		if all[i] != want[i] {
			t.Fatalf("described %v, want %v", all, want)
		}
	}

	// Named topics in name order, unknown ones with their error.
	req := kmsg.NewPtrDescribeTopicPartitionsRequest()
	req.Topics = []kmsg.DescribeTopicPartitionsRequestTopic{{Topic: "u"}, {Topic: "a-missing"}, {Topic: "t"}}
	resp := roundTrip(t, server, req).(*kmsg.DescribeTopicPartitionsResponse)
	if len(resp.Topics) != 3 || *resp.Topics[0].Topic != "a-missing" || resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code ||
		*resp.Topics[1].Topic != "t" || len(resp.Topics[1].Partitions) != 5 || *resp.Topics[2].Topic != "u" || resp.NextCursor != nil {
		t.Fatalf("named: %+v", resp)
	}
	// A cursor outside the named topics is INVALID_REQUEST.
	req.Cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: "zzz"}
	resp = roundTrip(t, server, req).(*kmsg.DescribeTopicPartitionsResponse)
	for _, kt := range resp.Topics {
		if kt.ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("cursor not named: %+v", kt)
		}
	}
}
