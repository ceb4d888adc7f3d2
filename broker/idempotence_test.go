package broker

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/internal/batchtest"
)

// TestIdempotentRetryNotDuplicated sends the same idempotent batch twice,
// as a producer retrying after a lost answer does: the second answer
// carries the first offset and the log holds the batch once. A gap in
// sequences answers OUT_OF_ORDER_SEQUENCE_NUMBER.
func TestIdempotentRetryNotDuplicated(t *testing.T) {
	b := testBroker(t, t.TempDir(), "--num.partitions=1")
	defer b.Close()
	c := client(t, b, kgo.DefaultProduceTopic("idem"), kgo.AllowAutoTopicCreation())
	ctx := ctxTimeout(t, 20*time.Second)
	if err := c.ProduceSync(ctx, &kgo.Record{Value: []byte("first")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	initReq := kmsg.NewPtrInitProducerIDRequest()
	initResp, err := initReq.RequestWith(ctx, c)
	if err != nil || initResp.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v %v", err, initResp)
	}
	produce := func(sequence int32) (int64, int16) {
		return produceIdempotent(t, ctx, c, "idem", initResp.ProducerID, initResp.ProducerEpoch, sequence)
	}
	first, code := produce(0)
	if code != 0 {
		t.Fatalf("first send: error %d", code)
	}
	again, code := produce(0)
	if code != 0 || again != first {
		t.Fatalf("retry answered offset %d (error %d), first send got %d", again, code, first)
	}
	if _, code := produce(5); code != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("a sequence gap answered %d", code)
	}
	topic, _ := b.cluster.Topic("idem")
	if end := topic.Partitions[0].Log.LogEndOffset(); end != 2 {
		t.Fatalf("log end %d: the retry was appended", end)
	}
}

// produceIdempotent sends one idempotent batch of one record to partition 0
// of topic, acks=all, and returns the answered base offset and error code.
// topicID looks topic's ID up: franz-go sends a raw Produce at the newest
// version, v13, which names topics by ID only.
func topicID(t *testing.T, ctx context.Context, c *kgo.Client, topic string) [16]byte {
	t.Helper()
	topics, err := kadm.NewClient(c).ListTopics(ctx, topic)
	if err != nil || topics[topic].Err != nil {
		t.Fatalf("topic %s: %v %v", topic, err, topics[topic].Err)
	}
	return topics[topic].ID
}

func produceIdempotent(t *testing.T, ctx context.Context, c *kgo.Client, topic string, producerID int64, epoch int16, sequence int32) (int64, int16) {
	t.Helper()
	batch := batchtest.BuildWith([]batchtest.Record{{Value: []byte("retried"), Timestamp: time.Now().UnixMilli()}},
		batchtest.Options{ProducerID: producerID, ProducerEpoch: epoch, BaseSequence: sequence})
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 5000
	requestTopic := kmsg.NewProduceRequestTopic()
	requestTopic.Topic, requestTopic.TopicID = topic, topicID(t, ctx, c, topic)
	partition := kmsg.NewProduceRequestTopicPartition()
	partition.Records = batch
	requestTopic.Partitions = append(requestTopic.Partitions, partition)
	req.Topics = append(req.Topics, requestTopic)
	resp, err := req.RequestWith(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	return p.BaseOffset, p.ErrorCode
}

// TestIdempotentRetryAcrossRestart: a producer whose answer was lost as
// the broker shut down retries after the restart and gets its original
// offset, from the producer snapshot the clean close wrote (the open
// replays nothing).
func TestIdempotentRetryAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	b := testBroker(t, dir, "--num.partitions=1")
	c, ctx, initResp := idempotentProducer(t, b)
	var offsets []int64
	for sequence := int32(0); sequence < 3; sequence++ {
		offset, code := produceIdempotent(t, ctx, c, "idem", initResp.ProducerID, initResp.ProducerEpoch, sequence)
		if code != 0 {
			t.Fatalf("sequence %d: error %d", sequence, code)
		}
		offsets = append(offsets, offset)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if snapshots, _ := filepath.Glob(filepath.Join(dir, "idem-0", "*.snapshot")); len(snapshots) == 0 {
		t.Fatal("no producer snapshot after a clean close")
	}

	b = testBroker(t, dir)
	defer b.Close()
	c = client(t, b)
	for sequence := int32(1); sequence < 3; sequence++ {
		offset, code := produceIdempotent(t, ctx, c, "idem", initResp.ProducerID, initResp.ProducerEpoch, sequence)
		if code != 0 || offset != offsets[sequence] {
			t.Fatalf("retry of sequence %d after the restart: offset %d (error %d), first send got %d", sequence, offset, code, offsets[sequence])
		}
	}
	topic, _ := b.cluster.Topic("idem")
	if end := topic.Partitions[0].Log.LogEndOffset(); end != 4 {
		t.Fatalf("log end %d after the retries: one was appended", end)
	}
	if offset, code := produceIdempotent(t, ctx, c, "idem", initResp.ProducerID, initResp.ProducerEpoch, 3); code != 0 || offset != 4 {
		t.Fatalf("the next sequence after the restart: offset %d, error %d", offset, code)
	}
}

// TestIdempotentProducerExpires: with a short producer.id.expiration.ms, a
// producer idle for longer is forgotten by the periodic retention check,
// and its retry gets Kafka's answer for an unknown producer: accepted (no
// error, whatever its sequence) and appended at a new offset, not
// deduplicated. Before the expiration the same retry is deduplicated.
func TestIdempotentProducerExpires(t *testing.T) {
	const expiration = time.Second
	b := testBroker(t, t.TempDir(), "--num.partitions=1",
		fmt.Sprint("--producer.id.expiration.ms=", expiration.Milliseconds()), "--log.retention.check.interval.ms=50")
	defer b.Close()
	c, ctx, initResp := idempotentProducer(t, b)
	produce := func(sequence int32) (int64, int16) {
		return produceIdempotent(t, ctx, c, "idem", initResp.ProducerID, initResp.ProducerEpoch, sequence)
	}
	var offsets []int64
	var lastWrite time.Time // taken before the producer's last write
	for sequence := int32(0); sequence < 2; sequence++ {
		lastWrite = time.Now()
		offset, code := produce(sequence)
		if code != 0 {
			t.Fatalf("sequence %d: error %d", sequence, code)
		}
		offsets = append(offsets, offset)
	}
	topic, _ := b.cluster.Topic("idem")
	partition := topic.Partitions[0].Log
	// A retry answered as a duplicate changes nothing, so retrying until
	// the answer changes does not keep the producer alive. Every answer
	// before the expiration must be the duplicate's.
	deadline := time.Now().Add(10 * time.Second)
	for {
		end := int64(partition.LogEndOffset())
		offset, code := produce(1)
		answered := time.Now()
		if code != 0 {
			t.Fatalf("retry of sequence 1: error %d", code)
		}
		if offset == offsets[1] {
			if answered.After(deadline) {
				t.Fatalf("still deduplicated %v after the last write, with producer.id.expiration.ms=%d", answered.Sub(lastWrite), expiration.Milliseconds())
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if answered.Sub(lastWrite) < expiration {
			t.Fatalf("forgotten %v after its last write, before producer.id.expiration.ms=%d", answered.Sub(lastWrite), expiration.Milliseconds())
		}
		if offset != end || int64(partition.LogEndOffset()) != end+1 {
			t.Fatalf("the expired producer's retry answered offset %d, log end %d before and %d after; want appended at %d", offset, end, int64(partition.LogEndOffset()), end)
		}
		break
	}
	// The producer is known again from that batch: the next sequence
	// follows it, a retry of it is a duplicate.
	next, code := produce(2)
	if code != 0 || next != int64(partition.LogEndOffset())-1 {
		t.Fatalf("the next sequence after the expiry: offset %d, error %d", next, code)
	}
	if again, code := produce(2); code != 0 || again != next {
		t.Fatalf("retry of the next sequence: offset %d (error %d), first send got %d", again, code, next)
	}
}

// idempotentProducer creates topic idem with one record ("first") and
// takes a producer id for raw idempotent produces (produceIdempotent).
func idempotentProducer(t *testing.T, b *Broker) (*kgo.Client, context.Context, *kmsg.InitProducerIDResponse) {
	t.Helper()
	c := client(t, b, kgo.DefaultProduceTopic("idem"), kgo.AllowAutoTopicCreation())
	ctx := ctxTimeout(t, 30*time.Second)
	if err := c.ProduceSync(ctx, &kgo.Record{Value: []byte("first")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	initResp, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, c)
	if err != nil || initResp.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v %v", err, initResp)
	}
	return c, ctx, initResp
}
