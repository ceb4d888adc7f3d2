package wire

// DeleteRecords (21), versions 0-2.
//
// Moves a partition's log start offset (-1: to the high watermark) on the
// partition's shard and answers the new low watermark.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine"
)

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
			} else if s.cfg.Cluster.Follower() {
				partition.ErrorCode = kerr.NotLeaderForPartition.Code // a standby's log follows its leader's
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
