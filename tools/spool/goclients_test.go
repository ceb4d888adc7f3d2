package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafkago "github.com/segmentio/kafka-go"
)

// TestSaramaProduceConsume: sarama (clamps to our advertised versions)
// produces with acks=all and compression, and consumes a partition from
// the oldest offset (no consumer group: groups are not served yet).
func TestSaramaProduceConsume(t *testing.T) {
	b := testBroker(t, t.TempDir(), "--num.partitions=1")
	defer b.close()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Compression = sarama.CompressionSnappy
	producer, err := sarama.NewSyncProducer([]string{b.addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	for i := 0; i < n; i++ {
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: "sarama", Key: sarama.StringEncoder(fmt.Sprint(i)), Value: sarama.StringEncoder(fmt.Sprintf("value-%d", i))}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	producer.Close()
	consumer, err := sarama.NewConsumer([]string{b.addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition("sarama", 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	timeout := time.After(30 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case m := <-pc.Messages():
			if string(m.Value) != fmt.Sprintf("value-%d", i) || m.Offset != int64(i) {
				t.Fatalf("message %d: offset %d value %q", i, m.Offset, m.Value)
			}
		case err := <-pc.Errors():
			t.Fatal(err)
		case <-timeout:
			t.Fatalf("consumed %d of %d", i, n)
		}
	}
}

// TestKafkaGoProduceConsume: segmentio/kafka-go's Writer and a
// partition Reader (no GroupID).
func TestKafkaGoProduceConsume(t *testing.T) {
	b := testBroker(t, t.TempDir(), "--num.partitions=1")
	defer b.close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := &kafkago.Writer{Addr: kafkago.TCP(b.addr()), Topic: "kafkago", RequiredAcks: kafkago.RequireAll, AllowAutoTopicCreation: true, BatchTimeout: 5 * time.Millisecond}
	const n = 100
	var messages []kafkago.Message
	for i := 0; i < n; i++ {
		messages = append(messages, kafkago.Message{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("value-%d", i))})
	}
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		// The first write may race the topic's auto-creation.
		if err = w.WriteMessages(ctx, messages...); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{b.addr()}, Topic: "kafkago", Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	for i := 0; i < n; i++ {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if string(m.Value) != fmt.Sprintf("value-%d", i) {
			t.Fatalf("message %d: %q", i, m.Value)
		}
	}
}
