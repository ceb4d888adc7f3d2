package wire

// Produce, versions 0-13 advertised, 3-13 served.
//
// v0-v2 carry the old message formats; they are advertised only because
// librdkafka before 2.11.1 turns compression on only when the broker's
// range includes Produce v0, and answered with UNSUPPORTED_VERSION, as
// Kafka 4 does (KAFKA-18659). v12 is v11 on the wire; it differs only for
// a transactional producer under transaction.version 2 (KIP-890: the
// produce adds the partition to the transaction). Transactions are
// refused at every version here (TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
// and ApiVersions finalizes no transaction.version, so clients keep
// transactions off v12, and a non-transactional v12 is v11. v13 names
// topics by their stable ID (KIP-516) instead of by name, in the request
// and the response; an ID no topic has is UNKNOWN_TOPIC_ID for each of
// its partitions, as Kafka answers.
//
// Each partition's records are exactly one RecordBatch v2, as Kafka
// requires from v3 (ProduceRequest.validateRecords): a second batch is
// INVALID_RECORD, bytes that are not a whole batch CORRUPT_MESSAGE. Every
// client sends one batch per partition, and with one the log's append
// validates it (length, magic, CRC-32C, counts, keys of a compacted topic)
// and takes it or refuses it whole. Records stay
// sub-slices of the request frame until the shard copies them into the
// segment: the produce path copies record bytes once and allocates nothing
// per record.
//
// acks=0 gets no response; acks=1 is answered after the append; acks=all
// (-1) after a sync covers the batch (group commit). The wait happens in
// the response's deferred part (Response.Complete, run by netio's writer in
// order), so a connection's next request is read and submitted meanwhile. Idempotent batches
// (producer id ≥ 0) are checked by the log: a retry of one of the
// producer's last five batches is answered with its original offset and
// not appended again; a gap answers OUT_OF_ORDER_SEQUENCE_NUMBER, an old
// epoch INVALID_PRODUCER_EPOCH.

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine"
	"spool/engine/meta"
	"spool/segment"
)

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
	case s.cfg.Cluster.Follower():
		refuse = kerr.NotLeaderForPartition.Code // a standby takes writes only from its leader
	}
	durable := r.Acks == -1
	// First every partition's batches are split, checked and handed to
	// their shards; then the answers are collected. Partitions on
	// different shards (and their syncs, for acks=all) proceed at once.
	var pendingStore [16]pendingPartition
	pending := pendingStore[:0]
	// Partitions submitted while the frame arrived (produce_early.go)
	// come first in request order; they are taken, not submitted again.
	early := resp.takeEarly()
	waitEarly := func(rest []earlySubmission) {
		for _, sub := range rest {
			if sub.err == nil {
				sub.append.Wait()
			}
		}
	}
	for i := range r.Topics {
		rt := &r.Topics[i]
		topicResponse := kmsg.NewProduceResponseTopic()
		topicResponse.TopicID = rt.TopicID
		unknownID := false
		if h.APIVersion >= 13 {
			// Resolved to its name once; the rest of the path is by name.
			t, ok := s.cfg.Cluster.TopicByID(rt.TopicID)
			if ok {
				rt.Topic = t.Name
			}
			unknownID = !ok
		}
		// The name is not sent from v13; it is kept for the log.
		topicResponse.Topic = rt.Topic
		minISR := 0 // acks=all: the topic's min.insync.replicas, looked up once
		if durable {
			minISR = s.minInsyncReplicas(rt.Topic)
		}
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			partitionResponse := kmsg.NewProduceResponseTopicPartition()
			partitionResponse.Partition = rp.Partition
			if len(early) > 0 && early[0].topic == i && early[0].partition == j {
				sub := early[0]
				if sub.name != rt.Topic || sub.index != rp.Partition || sub.records != len(rp.Records) {
					waitEarly(early)
					waitPending(pending)
					return fmt.Errorf("%w: produce: the frame decoded unlike it was scanned (%s/%d)", ErrCloseConnection, rt.Topic, rp.Partition)
				}
				early = early[1:]
				if sub.err != nil {
					partitionResponse.BaseOffset = -1
					partitionResponse.ErrorCode, partitionResponse.ErrorMessage = errorCode(sub.err), errorMessage(sub.err)
					partitionResponse.ErrorRecords = produceRecordErrors(sub.err)
				} else {
					pending = append(pending, pendingPartition{topic: i, partition: j, log: sub.log, append: sub.append, minISR: sub.minISR})
				}
				topicResponse.Partitions = append(topicResponse.Partitions, partitionResponse)
				continue
			}
			p := s.partition(rt.Topic, rp.Partition)
			switch {
			case refuse != 0:
				partitionResponse.ErrorCode = refuse
			case unknownID:
				partitionResponse.ErrorCode = kerr.UnknownTopicID.Code
			case p == nil:
				partitionResponse.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case meta.IsInternal(rt.Topic):
				partitionResponse.ErrorCode = kerr.InvalidTopicException.Code
			case durable && p.Log.InSyncReplicas() < minISR:
				partitionResponse.BaseOffset = -1
				partitionResponse.ErrorCode = kerr.NotEnoughReplicas.Code
			default:
				submitted, err := submitRecords(p, s.cfg.Cluster.Epoch(), rp.Records, durable)
				if err != nil {
					partitionResponse.BaseOffset = -1
					partitionResponse.ErrorCode, partitionResponse.ErrorMessage = errorCode(err), errorMessage(err)
					partitionResponse.ErrorRecords = produceRecordErrors(err)
				} else {
					pending = append(pending, pendingPartition{topic: i, partition: j, log: p.Log, append: submitted, minISR: minISR})
				}
			}
			topicResponse.Partitions = append(topicResponse.Partitions, partitionResponse)
		}
		kresp.Topics = append(kresp.Topics, topicResponse)
	}
	if len(early) > 0 {
		waitEarly(early)
		waitPending(pending)
		return fmt.Errorf("%w: produce: %d partitions scanned but not decoded", ErrCloseConnection, len(early))
	}
	finish := func(resp *Response) {
		for _, pp := range pending {
			partitionResponse := &kresp.Topics[pp.topic].Partitions[pp.partition]
			base, appendTime, err := pp.wait()
			partitionResponse.BaseOffset = int64(base)
			partitionResponse.LogAppendTime = appendTime
			partitionResponse.LogStartOffset = int64(pp.log.LogStartOffset())
			partitionResponse.ErrorCode = errorCode(err)
			if err == nil && durable {
				partitionResponse.ErrorCode = pp.replicated(time.Duration(r.TimeoutMillis)*time.Millisecond, pp.minISR)
			}
			if err != nil {
				partitionResponse.BaseOffset = -1
				partitionResponse.ErrorMessage = errorMessage(err)
				if partitionResponse.ErrorCode == kerr.UnknownServerError.Code {
					s.logger.Error("produce", "topic", kresp.Topics[pp.topic].Topic, "partition", partitionResponse.Partition, "error", err)
				}
			}
		}
		s.encode(h, kresp, resp)
	}
	switch {
	case r.Acks == 0:
		// No answer; wait for the appends only because the records are
		// still read from the request frame.
		for _, pp := range pending {
			pp.wait()
		}
		resp.reset()
		resp.noReply = true
	case len(pending) == 0:
		finish(resp)
	default:
		// Answer later, in order: the connection reads its next request
		// (whose batches queue behind these on the shards) while these
		// are appended and synced, so pipelined acks=all requests share
		// group commits instead of waiting one fsync each.
		resp.deferTo(finish)
	}
	return nil
}

// waitPending waits for submitted appends whose request will not be
// answered (each Pending is waited for once).
func waitPending(pending []pendingPartition) {
	for i := range pending {
		pending[i].wait()
	}
}

// pendingPartition is one partition's submitted append, waiting for its
// answer.
type pendingPartition struct {
	topic, partition int // indexes into the response
	log              *engine.Log
	append           engine.Pending
	end              engine.Offset // after the batch
	minISR           int           // acks=all: min.insync.replicas
}

// wait collects the partition's answer: the batch's base offset and log
// append time (-1 for CreateTime topics), or its error. Called once.
func (pp *pendingPartition) wait() (engine.Offset, int64, error) {
	info, err := pp.append.Wait()
	if err != nil {
		return -1, -1, err
	}
	pp.end = info.LastOffset + 1
	return info.BaseOffset, info.LogAppendTime, nil
}

// replicated waits, for acks=all, until the high watermark covers the
// partition's batches: with a standby in sync, until the standby has them.
// It answers REQUEST_TIMED_OUT after timeout, and
// NOT_ENOUGH_REPLICAS_AFTER_APPEND when fewer than minISR replicas are in
// sync once it is covered.
func (pp *pendingPartition) replicated(timeout time.Duration, minISR int) int16 {
	deadline := time.Now().Add(timeout)
	for pp.log.HighWatermark() < pp.end {
		changed := pp.log.HighWatermarkChanged()
		if pp.log.HighWatermark() >= pp.end {
			break
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return kerr.RequestTimedOut.Code
		}
		timer := time.NewTimer(wait)
		select {
		case <-changed:
		case <-timer.C:
		}
		timer.Stop()
		if err := pp.log.Err(); err != nil {
			return errorCode(err)
		}
	}
	if pp.log.InSyncReplicas() < minISR {
		return kerr.NotEnoughReplicasAfterAppend.Code
	}
	return 0
}

// submitRecords checks that records are one whole batch and submits it to
// the partition's shard.
func submitRecords(p *meta.Partition, epoch int32, records []byte, durable bool) (engine.Pending, error) {
	var none engine.Pending
	if len(records) == 0 {
		return none, fmt.Errorf("%w: no records", engine.ErrCorruptBatch)
	}
	h, err := segment.ParseHeader(records)
	if err != nil || h.TotalBytes() > int64(len(records)) {
		return none, fmt.Errorf("%w: records of %d bytes are not a whole batch", engine.ErrCorruptBatch, len(records))
	}
	if rest := records[h.TotalBytes():]; len(rest) > 0 {
		if next, err := segment.ParseHeader(rest); err != nil || next.TotalBytes() > int64(len(rest)) {
			return none, fmt.Errorf("%w: %d bytes after the batch are not a batch", engine.ErrCorruptBatch, len(rest))
		}
		return none, fmt.Errorf("%w: a produce request carries exactly one record batch per partition", engine.ErrInvalidRecord)
	}
	// compression.type and the timestamp window (produce_configs.go).
	if records, err = topicBatch(p.Log, records); err != nil {
		return none, err
	}
	return p.Shard.Submit(p.Log, records, epoch, durable)
}

// minInsyncReplicas is the topic's min.insync.replicas, or the broker's.
func (s *Server) minInsyncReplicas(topic string) int {
	if t, ok := s.cfg.Cluster.Topic(topic); ok {
		if v, ok := t.Configs["min.insync.replicas"]; ok {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
	}
	return max(s.cfg.Cluster.MinInsyncReplicas(s.cfg.MinInsyncReplicas), 1)
}
