package wire

// OffsetFetch (9), versions 0-9. librdkafka needs v1 advertised; v2+ may
// ask for every partition with a commit (null topics); v8 batches groups.
// An unknown group or partition answers offset -1 without an error, as
// Kafka does. v9 adds a member id and epoch per group (KIP-848), which
// Kafka checks only for consumer (KIP-848) groups; for a classic group
// (ClassicGroup.validateOffsetFetch) it checks neither, and spool has
// classic groups only, so v9 is answered as v8. v10 (topic ids, Kafka
// 4.2) is not served.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine/group"
)

func handleOffsetFetch(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.OffsetFetchRequest)
	kresp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
	if h.APIVersion >= 8 {
		for _, rg := range r.Groups {
			kg := kmsg.NewOffsetFetchResponseGroup()
			kg.Group = rg.Group
			var asked []group.TopicPartition
			if rg.Topics != nil {
				asked = []group.TopicPartition{}
				for _, t := range rg.Topics {
					for _, p := range t.Partitions {
						asked = append(asked, group.TopicPartition{Topic: t.Topic, Partition: p})
					}
				}
			}
			for _, res := range s.coordinator().FetchOffsets(rg.Group, asked) {
				if n := len(kg.Topics); n == 0 || kg.Topics[n-1].Topic != res.Topic {
					kt := kmsg.NewOffsetFetchResponseGroupTopic()
					kt.Topic = res.Topic
					kg.Topics = append(kg.Topics, kt)
				}
				kp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				kp.Partition, kp.Offset, kp.LeaderEpoch = res.Partition, res.Offset, res.LeaderEpoch
				kp.Metadata = &res.Metadata
				kt := &kg.Topics[len(kg.Topics)-1]
				kt.Partitions = append(kt.Partitions, kp)
			}
			kresp.Groups = append(kresp.Groups, kg)
		}
		s.encode(h, kresp, resp)
		return nil
	}
	var asked []group.TopicPartition
	if r.Topics != nil || h.APIVersion < 2 {
		asked = []group.TopicPartition{}
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				asked = append(asked, group.TopicPartition{Topic: t.Topic, Partition: p})
			}
		}
	}
	for _, res := range s.coordinator().FetchOffsets(r.Group, asked) {
		if n := len(kresp.Topics); n == 0 || kresp.Topics[n-1].Topic != res.Topic {
			kt := kmsg.NewOffsetFetchResponseTopic()
			kt.Topic = res.Topic
			kresp.Topics = append(kresp.Topics, kt)
		}
		kp := kmsg.NewOffsetFetchResponseTopicPartition()
		kp.Partition, kp.Offset, kp.LeaderEpoch = res.Partition, res.Offset, res.LeaderEpoch
		kp.Metadata = &res.Metadata
		kt := &kresp.Topics[len(kresp.Topics)-1]
		kt.Partitions = append(kt.Partitions, kp)
	}
	if kresp.Topics == nil {
		kresp.Topics = []kmsg.OffsetFetchResponseTopic{}
	}
	s.encode(h, kresp, resp)
	return nil
}
