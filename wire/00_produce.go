package wire

// Produce, versions 0-11 advertised, 3-11 served.
//
// v0-v2 carry the old message formats; they are advertised only because
// librdkafka before 2.11.1 turns compression on only when the broker's
// range includes Produce v0, and answered with UNSUPPORTED_VERSION, as
// Kafka 4 does (KAFKA-18659). v12+ ties transactions to the
// transaction.version feature and is not advertised.
//
// Each partition's records are one or more RecordBatch v2; every batch is
// validated (length, magic, CRC-32C, counts) before any is appended, so a
// bad batch fails its partition without a partial append (a lone batch is
// validated once, inside the log's append). Records stay
// sub-slices of the request frame until the shard copies them into the
// segment: the produce path copies record bytes once and allocates nothing
// per record.
//
// acks=0 gets no response; acks=1 is answered after the append; acks=all
// (-1) after a sync covers the batch (group commit). Idempotent batches
// (producer id ≥ 0) are checked by the log: a retry of one of the
// producer's last five batches is answered with its original offset and
// not appended again; a gap answers OUT_OF_ORDER_SEQUENCE_NUMBER, an old
// epoch INVALID_PRODUCER_EPOCH.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine"
	"spool/segment"
)

// batchesPerPartitionMax bounds the batches of one partition in a request.
const batchesPerPartitionMax = 1024

func handleProduce(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.ProduceRequest)
	kresp := r.ResponseKind().(*kmsg.ProduceResponse)
	var refuse int16
	switch {
	case h.APIVersion < 3:
		refuse = kerr.UnsupportedVersion.Code
	case r.Acks != 0 && r.Acks != 1 && r.Acks != -1:
		refuse = kerr.InvalidRequiredAcks.Code
	case r.TransactionID != nil:
		refuse = kerr.TransactionalIDAuthorizationFailed.Code // transactions are not built yet
	}
	durable := r.Acks == -1
	for i := range r.Topics {
		rt := &r.Topics[i]
		topicResponse := kmsg.NewProduceResponseTopic()
		topicResponse.Topic = rt.Topic
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			partitionResponse := kmsg.NewProduceResponseTopicPartition()
			partitionResponse.Partition = rp.Partition
			p := s.partition(rt.Topic, rp.Partition)
			switch {
			case refuse != 0:
				partitionResponse.ErrorCode = refuse
			case p == nil:
				partitionResponse.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				base, err := s.appendRecords(p.Log, p.Shard, p.LeaderEpoch, rp.Records, durable)
				partitionResponse.BaseOffset = int64(base)
				partitionResponse.LogStartOffset = int64(p.Log.LogStartOffset())
				partitionResponse.ErrorCode = errorCode(err)
				if err != nil {
					partitionResponse.BaseOffset = -1
					partitionResponse.ErrorMessage = errorMessage(err)
					if partitionResponse.ErrorCode == kerr.UnknownServerError.Code {
						s.logger.Error("produce", "topic", rt.Topic, "partition", rp.Partition, "error", err)
					}
				}
			}
			topicResponse.Partitions = append(topicResponse.Partitions, partitionResponse)
		}
		kresp.Topics = append(kresp.Topics, topicResponse)
	}
	if r.Acks == 0 {
		resp.reset()
		resp.noReply = true
		return nil
	}
	s.encode(h, kresp, resp)
	return nil
}

// appendRecords validates every batch in records, then appends them in
// order through the partition's shard, and returns the first base offset.
func (s *Server) appendRecords(log *engine.Log, shard *engine.Shard, epoch int32, records []byte, durable bool) (engine.Offset, error) {
	var batches [8][]byte
	list := batches[:0]
	for rest := records; len(rest) > 0; {
		h, err := segment.ParseHeader(rest)
		if err != nil || h.TotalBytes() > int64(len(rest)) {
			return -1, fmt.Errorf("%w: records of %d bytes do not split into whole batches", engine.ErrCorruptBatch, len(records))
		}
		if len(list) == batchesPerPartitionMax {
			return -1, fmt.Errorf("%w: more than %d batches for one partition", engine.ErrCorruptBatch, batchesPerPartitionMax)
		}
		list = append(list, rest[:h.TotalBytes():h.TotalBytes()])
		rest = rest[h.TotalBytes():]
	}
	if len(list) == 0 {
		return -1, fmt.Errorf("%w: no records", engine.ErrCorruptBatch)
	}
	if len(list) > 1 {
		// Validate all before appending any; a single batch is validated
		// once, by the log's append.
		for _, batch := range list {
			if _, err := segment.ValidateBatch(batch); err != nil {
				return -1, fmt.Errorf("%w: %w", engine.ErrCorruptBatch, err)
			}
		}
	}
	first := engine.Offset(-1)
	for i, batch := range list {
		info, err := shard.Append(log, batch, epoch, durable && i == len(list)-1)
		if err != nil {
			return -1, err
		}
		if i == 0 {
			first = info.BaseOffset
		}
	}
	return first, nil
}
