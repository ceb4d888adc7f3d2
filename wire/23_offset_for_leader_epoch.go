package wire

// OffsetForLeaderEpoch (23), versions 0-4.
//
// Answers from the partition's leader-epoch history: the largest epoch at
// or below the one asked and where it ended; a current_leader_epoch above
// ours is UNKNOWN_LEADER_EPOCH, below ours FENCED_LEADER_EPOCH (v2+).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleOffsetForLeaderEpoch(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.OffsetForLeaderEpochRequest)
	kresp := r.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, topic := range r.Topics {
		result := kmsg.NewOffsetForLeaderEpochResponseTopic()
		result.Topic = topic.Topic
		for _, rp := range topic.Partitions {
			partition := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			partition.Partition = rp.Partition
			partition.LeaderEpoch, partition.EndOffset = -1, -1
			p := s.partition(topic.Topic, rp.Partition)
			switch {
			case p == nil:
				partition.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case h.APIVersion >= 2 && rp.CurrentLeaderEpoch > s.cfg.Cluster.Epoch():
				partition.ErrorCode = kerr.UnknownLeaderEpoch.Code
			case h.APIVersion >= 2 && rp.CurrentLeaderEpoch >= 0 && rp.CurrentLeaderEpoch < s.cfg.Cluster.Epoch():
				partition.ErrorCode = kerr.FencedLeaderEpoch.Code
			default:
				// The epoch history is published for readers on any
				// goroutine: no round trip through the shard.
				epoch, end := p.Log.EndOffsetForEpoch(rp.LeaderEpoch)
				partition.LeaderEpoch, partition.EndOffset = epoch, int64(end)
			}
			result.Partitions = append(result.Partitions, partition)
		}
		kresp.Topics = append(kresp.Topics, result)
	}
	s.encode(h, kresp, resp)
	return nil
}
