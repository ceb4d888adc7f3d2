package wire

// ElectLeaders (43), versions 0-2.
//
// Each partition has one replica, this node, which already leads it: a
// preferred (0) or unclean (1) election is ELECTION_NOT_NEEDED for each
// named partition, as Kafka answers when the wanted leader already leads,
// and an unknown topic or partition UNKNOWN_TOPIC_OR_PARTITION. Null
// topics (every partition) answer an empty list: Kafka's controller leaves
// out the partitions that needed no election. Any other election type is
// INVALID_REQUEST for the whole request. On a standby (whose leader leads
// every partition) the answer is the same: nothing would change.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleElectLeaders(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.ElectLeadersRequest)
	kresp := r.ResponseKind().(*kmsg.ElectLeadersResponse)
	if r.ElectionType != 0 && r.ElectionType != 1 {
		if h.APIVersion >= 1 {
			kresp.ErrorCode = kerr.InvalidRequest.Code
		}
		for _, rt := range r.Topics {
			kt := kmsg.NewElectLeadersResponseTopic()
			kt.Topic = rt.Topic
			for _, p := range rt.Partitions {
				kp := kmsg.NewElectLeadersResponseTopicPartition()
				kp.Partition, kp.ErrorCode = p, kerr.InvalidRequest.Code
				message := fmt.Sprintf("Unknown election type %d.", r.ElectionType)
				kp.ErrorMessage = &message
				kt.Partitions = append(kt.Partitions, kp)
			}
			kresp.Topics = append(kresp.Topics, kt)
		}
		s.encode(h, kresp, resp)
		return nil
	}
	for _, rt := range r.Topics {
		kt := kmsg.NewElectLeadersResponseTopic()
		kt.Topic = rt.Topic
		for _, p := range rt.Partitions {
			kp := kmsg.NewElectLeadersResponseTopicPartition()
			kp.Partition = p
			if s.partition(rt.Topic, p) == nil {
				kp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				kp.ErrorMessage = &kerr.UnknownTopicOrPartition.Description
			} else {
				kp.ErrorCode = kerr.ElectionNotNeeded.Code
				kp.ErrorMessage = &kerr.ElectionNotNeeded.Description
			}
			kt.Partitions = append(kt.Partitions, kp)
		}
		kresp.Topics = append(kresp.Topics, kt)
	}
	if kresp.Topics == nil {
		kresp.Topics = []kmsg.ElectLeadersResponseTopic{}
	}
	s.encode(h, kresp, resp)
	return nil
}
