package wire

// OffsetDelete (47), version 0: removes committed offsets of topics the
// group does not consume (GROUP_SUBSCRIBED_TO_TOPIC for those it does).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine/group"
	"spool/engine/meta"
)

func handleOffsetDelete(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.OffsetDeleteRequest)
	kresp := r.ResponseKind().(*kmsg.OffsetDeleteResponse)
	var asked []group.TopicPartition
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			asked = append(asked, group.TopicPartition{Topic: t.Topic, Partition: p.Partition})
		}
	}
	errs, err := s.coordinator().DeleteOffsets(r.Group, asked)
	kresp.ErrorCode = errorCode(err)
	k := 0
	for _, t := range r.Topics {
		kt := kmsg.NewOffsetDeleteResponseTopic()
		kt.Topic = t.Topic
		for _, p := range t.Partitions {
			kp := kmsg.NewOffsetDeleteResponseTopicPartition()
			kp.Partition = p.Partition
			if err == nil {
				kp.ErrorCode = errorCode(errs[k])
				if kp.ErrorCode == 0 && s.partition(t.Topic, p.Partition) == nil {
					kp.ErrorCode = errorCode(meta.ErrUnknownTopic)
				}
			}
			k++
			kt.Partitions = append(kt.Partitions, kp)
		}
		kresp.Topics = append(kresp.Topics, kt)
	}
	s.encode(h, kresp, resp)
	return nil
}
