package wire

// Metadata, versions 0-13.
//
// One broker (this node) leads every partition, with itself as the only
// replica and in-sync replica; on a standby, the leader it follows leads
// them (and is the controller), the standby listed as a second replica
// but not as in sync (the in-sync set is not tracked yet). Topic IDs (v10+) are the stable IDs of the
// metadata log. Unknown topics are created when auto.create.topics.enable
// is on and the request allows it (always before v4, by the flag after).
// Authorized operations are not computed: INT32_MIN, Kafka's "not
// requested". v13's top-level error code (KIP-1102: REBOOTSTRAP_REQUIRED
// when the cluster a client knows is gone) is always 0: one node never
// asks a client to rebootstrap.

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
	leaderID := s.cfg.NodeID
	if s.cfg.Leader != nil {
		if id, host, port, ok := s.cfg.Leader(); ok && id != s.cfg.NodeID {
			leader := kmsg.NewMetadataResponseBroker()
			leader.NodeID, leader.Host, leader.Port = id, host, port
			kresp.Brokers = append(kresp.Brokers, leader)
			kresp.ControllerID, leaderID = id, id
		}
	}

	all := r.Topics == nil || (h.APIVersion == 0 && len(r.Topics) == 0)
	if all {
		for _, t := range s.cfg.Cluster.Topics() {
			kresp.Topics = append(kresp.Topics, s.metadataTopic(t, leaderID))
		}
	}
	for _, requested := range r.Topics {
		var t *meta.Topic
		var err error
		var ok bool
		switch {
		case requested.Topic != nil && (*requested.Topic != "" || requested.TopicID == [16]byte{}):
			// A name, even an empty one (which EnsureTopic refuses as
			// INVALID_TOPIC_EXCEPTION, as Kafka does); an empty name with
			// a topic ID asks by ID (v10+).
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
		kresp.Topics = append(kresp.Topics, s.metadataTopic(t, leaderID))
	}
	s.encode(h, kresp, resp)
	return nil
}

// metadataTopic describes t with leader (this node, or on a standby the
// node it follows) leading every partition.
func (s *Server) metadataTopic(t *meta.Topic, leader int32) kmsg.MetadataResponseTopic {
	topic := kmsg.NewMetadataResponseTopic()
	name := t.Name
	topic.Topic = &name
	topic.TopicID = t.ID
	topic.IsInternal = t.Internal
	for _, p := range t.Partitions {
		partition := kmsg.NewMetadataResponseTopicPartition()
		partition.Partition = p.Index
		partition.Leader = leader
		partition.LeaderEpoch = s.cfg.Cluster.Epoch()
		partition.Replicas = []int32{leader}
		partition.ISR = []int32{leader}
		if leader != s.cfg.NodeID {
			partition.Replicas = append(partition.Replicas, s.cfg.NodeID)
		}
		topic.Partitions = append(topic.Partitions, partition)
	}
	return topic
}
