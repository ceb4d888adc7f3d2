package wire

// CreatePartitions (37), versions 0-3.
//
// Grows a topic; a manual assignment must name only this node.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine/meta"
)

func handleCreatePartitions(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.CreatePartitionsRequest)
	kresp := r.ResponseKind().(*kmsg.CreatePartitionsResponse)
	for _, topic := range r.Topics {
		result := kmsg.NewCreatePartitionsResponseTopic()
		result.Topic = topic.Topic
		var err error
		for _, a := range topic.Assignment {
			if len(a.Replicas) != 1 || a.Replicas[0] != s.cfg.NodeID {
				err = fmt.Errorf("%w: assignment must name only node %d", meta.ErrInvalidPartitions, s.cfg.NodeID)
			}
		}
		if err == nil {
			err = s.cfg.Cluster.CreatePartitions(topic.Topic, topic.Count, r.ValidateOnly)
		}
		result.ErrorCode, result.ErrorMessage = errorCode(err), errorMessage(err)
		kresp.Topics = append(kresp.Topics, result)
	}
	s.encode(h, kresp, resp)
	return nil
}
