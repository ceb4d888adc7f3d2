package wire

// DeleteTopics, versions 0-6. v6 may name topics by ID.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleDeleteTopics(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.DeleteTopicsRequest)
	kresp := r.ResponseKind().(*kmsg.DeleteTopicsResponse)
	type target struct {
		name string
		id   [16]byte
		byID bool
	}
	var targets []target
	if h.APIVersion >= 6 {
		for _, t := range r.Topics {
			if t.Topic != nil && *t.Topic != "" {
				targets = append(targets, target{name: *t.Topic})
			} else {
				targets = append(targets, target{id: t.TopicID, byID: true})
			}
		}
	} else {
		for _, name := range r.TopicNames {
			targets = append(targets, target{name: name})
		}
	}
	for _, tg := range targets {
		topicResponse := kmsg.NewDeleteTopicsResponseTopic()
		name := tg.name
		if tg.byID {
			t, ok := s.cfg.Cluster.TopicByID(tg.id)
			topicResponse.TopicID = tg.id
			if !ok {
				topicResponse.ErrorCode = kerr.UnknownTopicID.Code
				kresp.Topics = append(kresp.Topics, topicResponse)
				continue
			}
			name = t.Name
		}
		topicResponse.Topic = &name
		if t, ok := s.cfg.Cluster.Topic(name); ok {
			topicResponse.TopicID = t.ID
		}
		err := s.cfg.Cluster.DeleteTopic(name)
		topicResponse.ErrorCode = errorCode(err)
		topicResponse.ErrorMessage = errorMessage(err)
		kresp.Topics = append(kresp.Topics, topicResponse)
	}
	s.encode(h, kresp, resp)
	return nil
}
