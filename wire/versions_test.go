package wire

// Raw kmsg round trips at the versions Kafka 4.1 added to APIs spool
// already served: each test frames a request, has a Server over a real
// cluster answer it, and decodes the answer at the same version.

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine/group"
	"spool/engine/meta"
	"spool/internal/batchtest"
)

// groupServer is sessionServer with a group coordinator over a one
// partition __consumer_offsets.
func groupServer(t testing.TB) *Server {
	t.Helper()
	server := sessionServer(t, 2, 4)
	offsets, err := server.cfg.Cluster.CreateInternalTopic(meta.ConsumerOffsetsTopic, 1, map[string]string{"cleanup.policy": "compact"})
	if err != nil {
		t.Fatal(err)
	}
	var parts []group.Partition
	for _, p := range offsets.Partitions {
		parts = append(parts, group.Partition{Log: p.Log, Shard: p.Shard, Epoch: server.cfg.Cluster.Epoch()})
	}
	coordinator, err := group.Open(group.Config{Partitions: parts, Logger: server.logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(coordinator.Close)
	server.SetGroups(coordinator)
	return server
}

func TestAdvertisedRangesKeepLibrdkafkaFloors(t *testing.T) {
	// KAFKA-COMPAT's feature trap: librdkafka before 2.11.1 enables
	// features only when these versions are inside the advertised range.
	floors := map[int16]int16{0: 0, 1: 4, 2: 1, 3: 0, 8: 1, 9: 1, 10: 0, 11: 0, 12: 0, 13: 0, 14: 0, 18: 0, 22: 0}
	for _, a := range SupportedAPIs() {
		if need, ok := floors[a.Key]; ok && a.MinVersion > need {
			t.Errorf("%s: min v%d, librdkafka needs v%d advertised", kmsg.NameForKey(a.Key), a.MinVersion, need)
		}
		if a.MaxVersion > kmsg.RequestForKey(a.Key).MaxVersion() {
			t.Errorf("%s: v%d advertised, kmsg knows up to v%d", kmsg.NameForKey(a.Key), a.MaxVersion, kmsg.RequestForKey(a.Key).MaxVersion())
		}
	}
	if a := lookupAPI(0); a.maxVersion < 7 {
		t.Errorf("Produce max v%d: zstd needs v7", a.maxVersion)
	}
}

func TestMetadataV13(t *testing.T) {
	server := sessionServer(t, 2, 4)
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 13
	topic := kmsg.NewMetadataRequestTopic()
	name := "t"
	topic.Topic = &name
	req.Topics = append(req.Topics, topic)
	resp := roundTrip(t, server, req).(*kmsg.MetadataResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 || resp.Topics[0].TopicID == [16]byte{} {
		t.Fatalf("metadata v13: %+v", resp)
	}
}

func TestProduceV12AndV13(t *testing.T) {
	server := sessionServer(t, 2, 4)
	topicT, _ := server.cfg.Cluster.Topic("t")
	produce := func(version int16, id [16]byte) *kmsg.ProduceResponse {
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = version, -1, 5000
		topic := kmsg.NewProduceRequestTopic()
		topic.Topic, topic.TopicID = "t", id
		p := kmsg.NewProduceRequestTopicPartition()
		p.Partition = 1
		p.Records = batchtest.Values(2, 10, time.Now().UnixMilli())
		topic.Partitions = append(topic.Partitions, p)
		req.Topics = append(req.Topics, topic)
		return roundTrip(t, server, req).(*kmsg.ProduceResponse)
	}
	if p := produce(12, [16]byte{}).Topics[0].Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("v12: %+v", p)
	}
	resp := produce(13, topicT.ID)
	if got := resp.Topics[0]; got.TopicID != topicT.ID || got.Partitions[0].ErrorCode != 0 || got.Partitions[0].BaseOffset != 2 {
		t.Fatalf("v13: %+v", got)
	}
	resp = produce(13, [16]byte{9, 9})
	if got := resp.Topics[0]; got.TopicID != ([16]byte{9, 9}) || got.Partitions[0].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("v13 unknown id: %+v", got)
	}
	// A transactional v12 is refused as every version is: no transactions.
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 12, -1, 5000
	txn := "txn"
	req.TransactionID = &txn
	topic := kmsg.NewProduceRequestTopic()
	topic.Topic = "t"
	p := kmsg.NewProduceRequestTopicPartition()
	p.Records = batchtest.Values(1, 10, 1)
	topic.Partitions = append(topic.Partitions, p)
	req.Topics = append(req.Topics, topic)
	if code := roundTrip(t, server, req).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Fatalf("transactional v12: code %d", code)
	}
}

func TestListOffsetsV9V10(t *testing.T) {
	server := sessionServer(t, 1, 4)
	produceOne(t, server, 0)
	produceOne(t, server, 0)
	for _, version := range []int16{9, 10} {
		req := kmsg.NewPtrListOffsetsRequest()
		req.Version = version
		req.TimeoutMillis = 1000
		topic := kmsg.NewListOffsetsRequestTopic()
		topic.Topic = "t"
		for _, timestamp := range []int64{-1, -2, -4, -5} {
			p := kmsg.NewListOffsetsRequestTopicPartition()
			p.Timestamp = timestamp
			topic.Partitions = append(topic.Partitions, p)
		}
		req.Topics = append(req.Topics, topic)
		resp := roundTrip(t, server, req).(*kmsg.ListOffsetsResponse)
		got := resp.Topics[0].Partitions
		want := []int64{2, 0, 0, -1}
		for i, p := range got {
			if p.ErrorCode != 0 || p.Offset != want[i] {
				t.Errorf("v%d timestamp %d: offset %d code %d, want %d", version, req.Topics[0].Partitions[i].Timestamp, p.Offset, p.ErrorCode, want[i])
			}
		}
		if tiered := got[3]; tiered.Timestamp != -1 || tiered.LeaderEpoch != -1 {
			t.Errorf("v%d latest tiered: %+v", version, tiered)
		}
	}
}

func TestFetchV17V18(t *testing.T) {
	server := sessionServer(t, 1, 4)
	produceOne(t, server, 0)
	topicT, _ := server.cfg.Cluster.Topic("t")
	for _, version := range []int16{17, 18} {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.MaxBytes, req.SessionEpoch = version, 1<<20, -1
		topic := kmsg.NewFetchRequestTopic()
		topic.TopicID = topicT.ID
		p := kmsg.NewFetchRequestTopicPartition()
		p.PartitionMaxBytes = 1 << 20
		topic.Partitions = append(topic.Partitions, p)
		req.Topics = append(req.Topics, topic)
		resp, err := fetchErr(server, req)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Topics[0].Partitions[0]; got.ErrorCode != 0 || got.HighWatermark != 1 || len(got.RecordBatches) == 0 {
			t.Fatalf("v%d: %+v", version, got)
		}
	}
}

func TestFindCoordinatorV5V6(t *testing.T) {
	server := sessionServer(t, 1, 4)
	for _, version := range []int16{4, 5, 6} {
		for _, keyType := range []int8{0, 1, 2, 7} {
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.Version, req.CoordinatorType, req.CoordinatorKeys = version, keyType, []string{"a", "b"}
			resp := roundTrip(t, server, req).(*kmsg.FindCoordinatorResponse)
			var want int16
			switch {
			case keyType == 2 && version >= 6:
				want = kerr.CoordinatorNotAvailable.Code
			case keyType >= 2:
				want = kerr.InvalidRequest.Code
			}
			if len(resp.Coordinators) != 2 {
				t.Fatalf("v%d type %d: %+v", version, keyType, resp)
			}
			for _, c := range resp.Coordinators {
				if c.ErrorCode != want || (want == 0) != (c.NodeID == 0 && c.Port == 9092) {
					t.Errorf("v%d type %d key %s: %+v, want code %d", version, keyType, c.Key, c, want)
				}
			}
		}
	}
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version, req.CoordinatorType, req.CoordinatorKey = 3, 2, "g"
	if resp := roundTrip(t, server, req).(*kmsg.FindCoordinatorResponse); resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("v3 share key: %+v", resp)
	}
}

func TestDescribeClusterV2(t *testing.T) {
	server := sessionServer(t, 1, 4)
	for _, tc := range []struct {
		endpointType int8
		want         int16
	}{{1, 0}, {2, kerr.MismatchedEndpointType.Code}, {5, kerr.UnsupportedEndpointType.Code}} {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.Version, req.EndpointType, req.IncludeFencedBrokers = 2, tc.endpointType, true
		resp := roundTrip(t, server, req).(*kmsg.DescribeClusterResponse)
		if resp.ErrorCode != tc.want {
			t.Errorf("endpoint type %d: code %d, want %d", tc.endpointType, resp.ErrorCode, tc.want)
		}
		if tc.want == 0 && (len(resp.Brokers) != 1 || resp.Brokers[0].IsFenced || resp.ClusterID != "x") {
			t.Errorf("brokers: %+v", resp)
		}
	}
}

func TestInitProducerIDV5(t *testing.T) {
	server := sessionServer(t, 1, 4)
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = 5
	resp := roundTrip(t, server, req).(*kmsg.InitProducerIDResponse)
	if resp.ErrorCode != 0 || resp.ProducerID < 0 || resp.ProducerEpoch != 0 {
		t.Fatalf("v5: %+v", resp)
	}
}

func TestDescribeGroupsV6(t *testing.T) {
	server := groupServer(t)
	for _, version := range []int16{5, 6} {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Version, req.Groups = version, []string{"nobody"}
		resp := roundTrip(t, server, req).(*kmsg.DescribeGroupsResponse)
		g := resp.Groups[0]
		if g.State != "Dead" {
			t.Errorf("v%d: state %q", version, g.State)
		}
		if version < 6 && g.ErrorCode != 0 {
			t.Errorf("v5: code %d", g.ErrorCode)
		}
		if version >= 6 && (g.ErrorCode != kerr.GroupIDNotFound.Code || g.ErrorMessage == nil || *g.ErrorMessage != "Group nobody not found.") {
			t.Errorf("v6: %+v", g)
		}
	}
}

func TestOffsetCommitFetchV9(t *testing.T) {
	server := groupServer(t)
	commit := func(version int16, groupID string, generation int32) int16 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group, req.Generation = version, groupID, generation
		topic := kmsg.NewOffsetCommitRequestTopic()
		topic.Topic = "t"
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset, p.LeaderEpoch = 1, 42, -1
		topic.Partitions = append(topic.Partitions, p)
		req.Topics = append(req.Topics, topic)
		return roundTrip(t, server, req).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
	}
	if code := commit(9, "simple", -1); code != 0 {
		t.Fatalf("simple commit v9: %d", code)
	}
	// Kafka: a generation for a group that does not exist is
	// ILLEGAL_GENERATION before v9, GROUP_ID_NOT_FOUND from v9.
	if code := commit(8, "nobody", 3); code != kerr.IllegalGeneration.Code {
		t.Errorf("v8 unknown group: %d", code)
	}
	if code := commit(9, "nobody", 3); code != kerr.GroupIDNotFound.Code {
		t.Errorf("v9 unknown group: %d", code)
	}
	for _, memberEpoch := range []int32{-1, 5} {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = 9
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group, rg.MemberEpoch = "simple", memberEpoch
		if memberEpoch >= 0 {
			member := "m"
			rg.MemberID = &member
		}
		rt := kmsg.NewOffsetFetchRequestGroupTopic()
		rt.Topic, rt.Partitions = "t", []int32{1}
		rg.Topics = append(rg.Topics, rt)
		req.Groups = append(req.Groups, rg)
		resp := roundTrip(t, server, req).(*kmsg.OffsetFetchResponse)
		if g := resp.Groups[0]; g.ErrorCode != 0 || g.Topics[0].Partitions[0].Offset != 42 {
			t.Errorf("fetch v9 epoch %d: %+v", memberEpoch, g)
		}
	}
	if !errors.Is(group.ErrCommitUnknownGroup, group.ErrIllegalGeneration) {
		t.Fatal("ErrCommitUnknownGroup must stay an illegal generation for v<9")
	}
}
