package main

import (
	"testing"
	"time"

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
	defer b.close()
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
		batch := batchtest.BuildWith([]batchtest.Record{{Value: []byte("retried"), Timestamp: time.Now().UnixMilli()}},
			batchtest.Options{ProducerID: initResp.ProducerID, ProducerEpoch: initResp.ProducerEpoch, BaseSequence: sequence})
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 5000
		topic := kmsg.NewProduceRequestTopic()
		topic.Topic = "idem"
		partition := kmsg.NewProduceRequestTopicPartition()
		partition.Records = batch
		topic.Partitions = append(topic.Partitions, partition)
		req.Topics = append(req.Topics, topic)
		resp, err := req.RequestWith(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		return p.BaseOffset, p.ErrorCode
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
