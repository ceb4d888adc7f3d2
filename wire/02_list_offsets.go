package wire

// ListOffsets, versions 0-10.
//
// Timestamps: -2 earliest (log start offset), -1 latest (high watermark, or
// last stable offset for read_committed from v2), -3 the record with the
// largest timestamp (v7+), -4 earliest local (v8+; everything is local, so
// the log start offset), -5 latest tiered (v9+, KIP-1005: spool has no
// remote storage, so offset -1, timestamp -1, leader epoch -1 and no
// error, what Kafka answers for a topic without remote storage); t ≥ 0 the first offset at or after the log start
// offset whose record timestamp is ≥ t, also inside a batch (records below
// the log start are skipped, not clamped to it, as Kafka does). When no
// record reaches t the answer is offset -1, timestamp -1, as Kafka answers.
// v0 answers old-style offsets (a list holding the one offset). A by-time
// lookup and -3 answer the exact record also inside a compressed batch,
// which is decompressed (up to 64 MiB of records; past that, or when it
// does not decompress, the batch's first offset, or the log start inside
// it, or its last for -3: segment.Segment.FindTimestamp and MaxTimestamp).
// v10 adds a timeout for lookups in remote storage (KIP-1075); with none,
// every lookup is local and the timeout is not needed. -6 (earliest
// pending upload, KIP-1023) is v11, Kafka 4.2, and not served.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine"
)

const (
	listEarliestLocal = -4
	listLatestTiered  = -5
)

func handleListOffsets(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.ListOffsetsRequest)
	kresp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
	isolation := engine.ReadUncommitted
	if r.IsolationLevel == 1 {
		isolation = engine.ReadCommitted
	}
	for i := range r.Topics {
		rt := &r.Topics[i]
		topicResponse := kmsg.NewListOffsetsResponseTopic()
		topicResponse.Topic = rt.Topic
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			partitionResponse := kmsg.NewListOffsetsResponseTopicPartition()
			partitionResponse.Partition = rp.Partition
			p := s.partition(rt.Topic, rp.Partition)
			if p == nil {
				partitionResponse.ErrorCode = kerr.UnknownTopicOrPartition.Code
				topicResponse.Partitions = append(topicResponse.Partitions, partitionResponse)
				continue
			}
			timestamp := rp.Timestamp
			if timestamp == listLatestTiered {
				// Nothing is tiered: Kafka's answer without remote storage.
				partitionResponse.Offset, partitionResponse.Timestamp, partitionResponse.LeaderEpoch = -1, -1, -1
				topicResponse.Partitions = append(topicResponse.Partitions, partitionResponse)
				continue
			}
			if timestamp == listEarliestLocal {
				timestamp = engine.ListEarliest
			}
			offset, recordTimestamp, found, err := p.Log.ListOffset(timestamp, isolation)
			partitionResponse.ErrorCode = errorCode(err)
			if !found {
				offset, recordTimestamp = -1, -1
			}
			partitionResponse.Offset = int64(offset)
			partitionResponse.Timestamp = recordTimestamp
			partitionResponse.LeaderEpoch = s.cfg.Cluster.Epoch()
			if h.APIVersion == 0 && found {
				partitionResponse.OldStyleOffsets = []int64{int64(offset)}
			}
			topicResponse.Partitions = append(topicResponse.Partitions, partitionResponse)
		}
		kresp.Topics = append(kresp.Topics, topicResponse)
	}
	s.encode(h, kresp, resp)
	return nil
}
