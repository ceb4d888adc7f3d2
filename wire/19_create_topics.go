package wire

// CreateTopics, versions 0-7.
//
// One node: a replication factor other than -1 or 1 is
// INVALID_REPLICATION_FACTOR; a manual assignment is accepted when every
// replica is this node (its partition count is then the assignment's).
// -1 partitions takes num.partitions. validate_only (v1+) checks and
// creates nothing. v5+ answer the partitions, replication factor and the
// topic's configs; v7+ its topic ID.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine/meta"
)

func handleCreateTopics(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.CreateTopicsRequest)
	kresp := r.ResponseKind().(*kmsg.CreateTopicsResponse)
	for i := range r.Topics {
		rt := &r.Topics[i]
		topicResponse := kmsg.NewCreateTopicsResponseTopic()
		topicResponse.Topic = rt.Topic
		partitions := rt.NumPartitions
		var err error
		switch {
		case rt.ReplicationFactor != -1 && rt.ReplicationFactor != 1:
			topicResponse.ErrorCode = kerr.InvalidReplicationFactor.Code
			topicResponse.ErrorMessage = errorMessage(fmt.Errorf("replication factor %d: this cluster has one node", rt.ReplicationFactor))
		case len(rt.ReplicaAssignment) > 0:
			for _, a := range rt.ReplicaAssignment {
				if len(a.Replicas) != 1 || a.Replicas[0] != s.cfg.NodeID {
					err = fmt.Errorf("%w: replica assignment must name only node %d", meta.ErrInvalidPartitions, s.cfg.NodeID)
				}
			}
			partitions = int32(len(rt.ReplicaAssignment))
		case partitions == -1:
			partitions = 0 // meta uses num.partitions
		}
		if topicResponse.ErrorCode == 0 {
			if err == nil {
				configs := map[string]string{}
				for _, c := range rt.Configs {
					if c.Value != nil {
						configs[c.Name] = *c.Value
					}
				}
				var t *meta.Topic
				t, err = s.cfg.Cluster.CreateTopic(rt.Topic, partitions, configs, r.ValidateOnly)
				if err == nil && t != nil {
					topicResponse.TopicID = t.ID
					topicResponse.NumPartitions = int32(len(t.Partitions))
					topicResponse.ReplicationFactor = 1
					if entries, derr := s.cfg.Cluster.DescribeConfigs(t.Name); derr == nil && !r.ValidateOnly {
						for _, e := range entries {
							c := kmsg.NewCreateTopicsResponseTopicConfig()
							c.Name = e.Name
							value := e.Value
							c.Value = &value
							c.ReadOnly, c.IsSensitive = e.ReadOnly, e.Sensitive
							c.Source = int8(e.Source)
							topicResponse.Configs = append(topicResponse.Configs, c)
						}
					}
				}
			}
			topicResponse.ErrorCode = errorCode(err)
			topicResponse.ErrorMessage = errorMessage(err)
		}
		kresp.Topics = append(kresp.Topics, topicResponse)
	}
	s.encode(h, kresp, resp)
	return nil
}
