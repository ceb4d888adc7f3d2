package wire

// CreatePartitions (37) versions 0-3, DeleteRecords (21) versions 0-2,
// OffsetForLeaderEpoch (23) versions 0-4.
//
// DeleteRecords moves a partition's log start offset (-1: to the high
// watermark) on the partition's shard and answers the new low watermark.
// OffsetForLeaderEpoch answers from the partition's leader-epoch history:
// the largest epoch at or below the one asked and where it ended; a
// current_leader_epoch above ours is UNKNOWN_LEADER_EPOCH, below ours
// FENCED_LEADER_EPOCH (v2+).

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine"
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

func handleDeleteRecords(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.DeleteRecordsRequest)
	kresp := r.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, topic := range r.Topics {
		result := kmsg.NewDeleteRecordsResponseTopic()
		result.Topic = topic.Topic
		for _, rp := range topic.Partitions {
			partition := kmsg.NewDeleteRecordsResponseTopicPartition()
			partition.Partition = rp.Partition
			partition.LowWatermark = -1
			if p := s.partition(topic.Topic, rp.Partition); p == nil {
				partition.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else {
				var start engine.Offset
				var err error
				if doErr := p.Shard.Do(func() { start, err = p.Log.DeleteRecords(engine.Offset(rp.Offset)) }); doErr != nil {
					err = doErr
				}
				partition.ErrorCode = errorCode(err)
				if err == nil {
					partition.LowWatermark = int64(start)
				}
			}
			result.Partitions = append(result.Partitions, partition)
		}
		kresp.Topics = append(kresp.Topics, result)
	}
	s.encode(h, kresp, resp)
	return nil
}

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
			case h.APIVersion >= 2 && rp.CurrentLeaderEpoch > p.LeaderEpoch:
				partition.ErrorCode = kerr.UnknownLeaderEpoch.Code
			case h.APIVersion >= 2 && rp.CurrentLeaderEpoch >= 0 && rp.CurrentLeaderEpoch < p.LeaderEpoch:
				partition.ErrorCode = kerr.FencedLeaderEpoch.Code
			default:
				var epoch int32
				var end engine.Offset
				if err := p.Shard.Do(func() { epoch, end = p.Log.EndOffsetForEpoch(rp.LeaderEpoch) }); err != nil {
					partition.ErrorCode = errorCode(err)
					break
				}
				partition.LeaderEpoch, partition.EndOffset = epoch, int64(end)
			}
			result.Partitions = append(result.Partitions, partition)
		}
		kresp.Topics = append(kresp.Topics, result)
	}
	s.encode(h, kresp, resp)
	return nil
}
