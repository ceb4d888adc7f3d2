package wire

// DescribeTopicPartitions (75), version 0 (KIP-966; Kafka 4's
// kafka-topics --describe uses it).
//
// Topics are answered in name order: every topic (internal ones too) when
// the request names none, else the named ones, an unknown name with
// UNKNOWN_TOPIC_OR_PARTITION (and no auto-creation). Partitions are as
// Metadata describes them (this node, or on a standby its leader, leads
// each; no eligible leader replicas, none offline). At most
// ResponsePartitionLimit partitions are answered, and at most
// describeTopicPartitionsMax (Kafka's max.request.partition.size.limit
// default); when more are left, NextCursor names the topic and partition
// to go on from. A request's cursor starts the answer there: topics before
// its topic are skipped, and its topic starts at its partition. As in
// Kafka, a cursor whose topic is not among named topics is INVALID_REQUEST
// (for each named topic). A limit below 1 is read as 1, so a client
// following cursors always makes progress (Kafka would answer no
// partitions and the same cursor). Authorized operations are not computed.

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine/meta"
)

// describeTopicPartitionsMax is Kafka's max.request.partition.size.limit
// default: the most partitions one response describes.
const describeTopicPartitionsMax = 2000

func handleDescribeTopicPartitions(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.DescribeTopicPartitionsRequest)
	kresp := r.ResponseKind().(*kmsg.DescribeTopicPartitionsResponse)
	limit := min(max(r.ResponsePartitionLimit, 1), describeTopicPartitionsMax)

	var topics []*meta.Topic
	var missing []string
	if len(r.Topics) == 0 {
		topics = s.cfg.Cluster.Topics()
	} else {
		names := make([]string, 0, len(r.Topics))
		cursorNamed := r.Cursor == nil
		for _, rt := range r.Topics {
			names = append(names, rt.Topic)
			cursorNamed = cursorNamed || rt.Topic == r.Cursor.Topic
		}
		if !cursorNamed {
			for _, name := range names {
				kt := kmsg.NewDescribeTopicPartitionsResponseTopic()
				kt.Topic, kt.ErrorCode = &name, kerr.InvalidRequest.Code
				kresp.Topics = append(kresp.Topics, kt)
			}
			s.encode(h, kresp, resp)
			return nil
		}
		slices.Sort(names)
		names = slices.Compact(names)
		for _, name := range names {
			if t, ok := s.cfg.Cluster.Topic(name); ok {
				topics = append(topics, t)
			} else {
				missing = append(missing, name)
			}
		}
	}
	leader := s.partitionLeader()
	// Unknown names are answered in name order among the others.
	for len(topics) > 0 || len(missing) > 0 {
		if len(missing) > 0 && (len(topics) == 0 || missing[0] < topics[0].Name) {
			name := missing[0]
			missing = missing[1:]
			if r.Cursor != nil && name < r.Cursor.Topic {
				continue
			}
			kt := kmsg.NewDescribeTopicPartitionsResponseTopic()
			kt.Topic, kt.ErrorCode = &name, kerr.UnknownTopicOrPartition.Code
			kresp.Topics = append(kresp.Topics, kt)
			continue
		}
		t := topics[0]
		topics = topics[1:]
		first := int32(0)
		if r.Cursor != nil {
			if t.Name < r.Cursor.Topic {
				continue
			}
			if t.Name == r.Cursor.Topic {
				first = max(r.Cursor.Partition, 0)
			}
		}
		if limit == 0 {
			kresp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: t.Name, Partition: first}
			break
		}
		kt, next := s.describeTopicPartitions(t, leader, first, &limit)
		kresp.Topics = append(kresp.Topics, kt)
		if next >= 0 {
			kresp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: t.Name, Partition: next}
			break
		}
	}
	s.encode(h, kresp, resp)
	return nil
}

// describeTopicPartitions describes t's partitions from first on, at most
// *limit of them (taken from it); next is the partition to go on from, or
// -1 when the topic was described to its end.
func (s *Server) describeTopicPartitions(t *meta.Topic, leader, first int32, limit *int32) (kmsg.DescribeTopicPartitionsResponseTopic, int32) {
	described := s.metadataTopic(t, leader)
	kt := kmsg.NewDescribeTopicPartitionsResponseTopic()
	kt.Topic, kt.TopicID, kt.IsInternal = described.Topic, described.TopicID, described.IsInternal
	kt.Partitions = []kmsg.DescribeTopicPartitionsResponseTopicPartition{}
	for i := int(first); i < len(described.Partitions); i++ {
		if *limit == 0 {
			return kt, int32(i)
		}
		*limit--
		p := &described.Partitions[i]
		kp := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
		kp.Partition, kp.LeaderID, kp.LeaderEpoch = p.Partition, p.Leader, p.LeaderEpoch
		kp.Replicas, kp.ISR = p.Replicas, p.ISR
		kp.EligibleLeaderReplicas, kp.LastKnownELR, kp.OfflineReplicas = []int32{}, []int32{}, []int32{}
		kt.Partitions = append(kt.Partitions, kp)
	}
	return kt, -1
}

// partitionLeader is the node Metadata names as every partition's leader:
// this node, or on a standby the leader it follows.
func (s *Server) partitionLeader() int32 {
	if s.cfg.Leader != nil {
		if id, _, _, ok := s.cfg.Leader(); ok {
			return id
		}
	}
	return s.cfg.NodeID
}
