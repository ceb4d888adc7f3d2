package wire

// Metadata, versions 0-12.
//
// One broker (this node) leads every partition, with itself as the only
// replica and in-sync replica. Topic IDs (v10+) are the stable IDs of the
// metadata log. Unknown topics are created when auto.create.topics.enable
// is on and the request allows it (always before v4, by the flag after).
// Authorized operations are not computed: INT32_MIN, Kafka's "not
// requested". v13 (top-level error code) is not served yet.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine/meta"
)

func handleMetadata(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.MetadataRequest)
	kresp := r.ResponseKind().(*kmsg.MetadataResponse)
	broker := kmsg.NewMetadataResponseBroker()
	broker.NodeID, broker.Host, broker.Port, broker.Rack = s.cfg.NodeID, s.cfg.Host, s.cfg.Port, s.cfg.Rack
	kresp.Brokers = append(kresp.Brokers, broker)
	clusterID := s.cfg.ClusterID
	kresp.ClusterID = &clusterID
	kresp.ControllerID = s.cfg.NodeID

	all := r.Topics == nil || (h.APIVersion == 0 && len(r.Topics) == 0)
	if all {
		for _, t := range s.cfg.Cluster.Topics() {
			kresp.Topics = append(kresp.Topics, s.metadataTopic(t, nil))
		}
	}
	for _, requested := range r.Topics {
		var t *meta.Topic
		var err error
		var ok bool
		switch {
		case requested.Topic != nil && *requested.Topic != "":
			t, ok = s.cfg.Cluster.Topic(*requested.Topic)
			if !ok {
				if h.APIVersion < 4 || r.AllowAutoTopicCreation {
					t, err = s.cfg.Cluster.EnsureTopic(*requested.Topic)
				} else {
					err = meta.ErrUnknownTopic
				}
			}
		default:
			t, ok = s.cfg.Cluster.TopicByID(requested.TopicID)
			if !ok {
				missing := kmsg.NewMetadataResponseTopic()
				missing.TopicID = requested.TopicID
				missing.ErrorCode = kerr.UnknownTopicID.Code
				kresp.Topics = append(kresp.Topics, missing)
				continue
			}
		}
		if err != nil {
			missing := kmsg.NewMetadataResponseTopic()
			missing.Topic = requested.Topic
			missing.ErrorCode = errorCode(err)
			kresp.Topics = append(kresp.Topics, missing)
			continue
		}
		kresp.Topics = append(kresp.Topics, s.metadataTopic(t, nil))
	}
	s.encode(h, kresp, resp)
	return nil
}

func (s *Server) metadataTopic(t *meta.Topic, err error) kmsg.MetadataResponseTopic {
	topic := kmsg.NewMetadataResponseTopic()
	name := t.Name
	topic.Topic = &name
	topic.TopicID = t.ID
	topic.IsInternal = t.Internal
	topic.ErrorCode = errorCode(err)
	for _, p := range t.Partitions {
		partition := kmsg.NewMetadataResponseTopicPartition()
		partition.Partition = p.Index
		partition.Leader = s.cfg.NodeID
		partition.LeaderEpoch = p.LeaderEpoch
		partition.Replicas = []int32{s.cfg.NodeID}
		partition.ISR = []int32{s.cfg.NodeID}
		topic.Partitions = append(topic.Partitions, partition)
	}
	return topic
}
