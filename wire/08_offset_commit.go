package wire

// OffsetCommit (8), versions 0-9. librdkafka's classic consumer needs v1
// or v2 in the advertised range. v9 is the first version a KIP-848
// consumer may use; its generation field is then a member epoch. spool
// has classic groups only (no ConsumerGroupHeartbeat), where Kafka reads
// it as the generation, as before: the one difference Kafka makes for a
// classic group at v9 is that a commit with a generation (≥ 0) to a group
// that does not exist is GROUP_ID_NOT_FOUND instead of ILLEGAL_GENERATION
// (OffsetMetadataManager.validateOffsetCommit), and so does spool. v10
// (topic ids, Kafka 4.2) is not served. Offsets are stored durably
// (one sync, shared with concurrent commits) before the answer.
// Generation -1 without a member id is a simple commit, allowed while the
// group has no members. v2-v4's retention time is ignored, as Kafka 2.1+
// does: offsets.retention.minutes applies.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine/group"
)

func handleOffsetCommit(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.OffsetCommitRequest)
	kresp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
	cr := group.CommitRequest{Group: r.Group, MemberID: r.MemberID, InstanceID: r.InstanceID, Generation: r.Generation}
	if h.APIVersion == 0 {
		cr.Generation = -1
	}
	codes := make([][]int16, len(r.Topics))
	var where [][2]int // (topic, partition) index of each entry of cr.Offsets
	for i, t := range r.Topics {
		codes[i] = make([]int16, len(t.Partitions))
		for j, p := range t.Partitions {
			if s.partition(t.Topic, p.Partition) == nil {
				codes[i][j] = kerr.UnknownTopicOrPartition.Code
				continue
			}
			o := group.OffsetCommit{TopicPartition: group.TopicPartition{Topic: t.Topic, Partition: p.Partition}, Offset: p.Offset, LeaderEpoch: p.LeaderEpoch}
			if h.APIVersion < 6 {
				o.LeaderEpoch = -1
			}
			if p.Metadata != nil {
				o.Metadata = *p.Metadata
			}
			cr.Offsets = append(cr.Offsets, o)
			where = append(where, [2]int{i, j})
		}
	}
	var errs []error
	var err error
	if len(cr.Offsets) > 0 || r.Group == "" {
		errs, err = s.coordinator().Commit(cr)
	}
	if h.APIVersion >= 9 && errors.Is(err, group.ErrGroupNotFound) {
		err = group.ErrGroupNotFound
	}
	for k, w := range where {
		if err != nil {
			codes[w[0]][w[1]] = errorCode(err)
		} else {
			codes[w[0]][w[1]] = errorCode(errs[k])
		}
	}
	for i, t := range r.Topics {
		kt := kmsg.NewOffsetCommitResponseTopic()
		kt.Topic = t.Topic
		for j, p := range t.Partitions {
			kp := kmsg.NewOffsetCommitResponseTopicPartition()
			kp.Partition = p.Partition
			kp.ErrorCode = codes[i][j]
			if err != nil && r.Group == "" {
				kp.ErrorCode = errorCode(err)
			}
			kt.Partitions = append(kt.Partitions, kp)
		}
		kresp.Topics = append(kresp.Topics, kt)
	}
	s.encode(h, kresp, resp)
	return nil
}
