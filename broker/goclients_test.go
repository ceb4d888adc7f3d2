package broker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
)

// TestSaramaProduceConsume: sarama (clamps to our advertised versions)
// produces with acks=all and compression, and consumes a partition from
// the oldest offset (TestSaramaConsumerGroup covers groups).
func TestSaramaProduceConsume(t *testing.T) {
	b := testBroker(t, t.TempDir(), "--num.partitions=1")
	defer b.Close()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Compression = sarama.CompressionSnappy
	producer, err := sarama.NewSyncProducer([]string{b.Addr()}, cfg)
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
	consumer, err := sarama.NewConsumer([]string{b.Addr()}, cfg)
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
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := &kafkago.Writer{Addr: kafkago.TCP(b.Addr()), Topic: "kafkago", RequiredAcks: kafkago.RequireAll, AllowAutoTopicCreation: true, BatchTimeout: 5 * time.Millisecond}
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
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{b.Addr()}, Topic: "kafkago", Partition: 0, MaxWait: 100 * time.Millisecond})
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

// waitStableMembers waits until DescribeGroups shows the group Stable with
// n members.
func waitStableMembers(t *testing.T, b *Broker, group string, n int) {
	t.Helper()
	adm := kadm.NewClient(client(t, b))
	waitFor(t, 40*time.Second, fmt.Sprintf("%s to be stable with %d members", group, n), func() bool {
		described, err := adm.DescribeGroups(ctxTimeout(t, 5*time.Second), group)
		if err != nil {
			return false
		}
		d := described[group]
		return d.State == "Stable" && len(d.Members) == n
	})
}

// committedSum is the sum of a group's committed offsets on topic.
func committedSum(t *testing.T, b *Broker, group, topic string) int64 {
	t.Helper()
	offsets, err := kadm.NewClient(client(t, b)).FetchOffsets(ctxTimeout(t, 10*time.Second), group)
	if err != nil {
		t.Fatal(err)
	}
	sum := int64(0)
	offsets.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic {
			sum += o.At
		}
	})
	return sum
}

type saramaHandler struct {
	mu     sync.Mutex
	values map[string]int
	claims map[int32]bool
}

func (h *saramaHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ps := range s.Claims() {
		for _, p := range ps {
			h.claims[p] = true
		}
	}
	return nil
}
func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.claims)
	return nil
}
func (h *saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		h.mu.Lock()
		h.values[string(m.Value)]++
		h.mu.Unlock()
		s.MarkMessage(m, "")
	}
	return nil
}

// TestSaramaConsumerGroup: two sarama ConsumerGroup members split four
// partitions, receive every record once and commit through the group.
func TestSaramaConsumerGroup(t *testing.T) {
	b := groupBroker(t, t.TempDir())
	defer b.Close()
	const topic, n = "sarama-group", 400
	createTopic(t, b, topic, 4)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Group.Heartbeat.Interval = 300 * time.Millisecond
	cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var handlers []*saramaHandler
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		group, err := sarama.NewConsumerGroup([]string{b.Addr()}, "sarama-workers", cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer group.Close()
		h := &saramaHandler{values: map[string]int{}, claims: map[int32]bool{}}
		handlers = append(handlers, h)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := group.Consume(ctx, []string{topic}, h); err != nil && ctx.Err() == nil {
					t.Errorf("consume: %v", err)
					return
				}
			}
		}()
	}
	waitStableMembers(t, b, "sarama-workers", 2)
	waitFor(t, 30*time.Second, "both members to hold claims", func() bool {
		total := 0
		for _, h := range handlers {
			h.mu.Lock()
			if len(h.claims) == 0 {
				h.mu.Unlock()
				return false
			}
			total += len(h.claims)
			h.mu.Unlock()
		}
		return total == 4
	})
	produceKeyed(t, b, topic, 0, n)
	waitFor(t, 30*time.Second, "every record consumed and committed", func() bool { return committedSum(t, b, "sarama-workers", topic) == n })
	cancel()
	wg.Wait()
	seen := map[string]int{}
	for _, h := range handlers {
		if len(h.values) == 0 {
			t.Error("a member consumed nothing")
		}
		for v, c := range h.values {
			seen[v] += c
		}
	}
	for i := 0; i < n; i++ {
		if c := seen[fmt.Sprint(topic, "-", i)]; c != 1 {
			t.Fatalf("record %d delivered %d times", i, c)
		}
	}
}

// TestKafkaGoReaderGroup: two segmentio/kafka-go Readers with a GroupID
// (kafka-go is the client a stricter KIP-394 reading broke elsewhere)
// split the partitions and together read every record once.
func TestKafkaGoReaderGroup(t *testing.T) {
	b := groupBroker(t, t.TempDir())
	defer b.Close()
	const topic, n = "kafkago-group", 400
	createTopic(t, b, topic, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var mu sync.Mutex
	seen := map[string]int{}
	perReader := make([]int, 2)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		r := kafkago.NewReader(kafkago.ReaderConfig{
			Brokers: []string{b.Addr()}, GroupID: "kafkago-workers", Topic: topic,
			MaxWait: 100 * time.Millisecond, HeartbeatInterval: 300 * time.Millisecond, SessionTimeout: 6 * time.Second,
			StartOffset: kafkago.FirstOffset, JoinGroupBackoff: 200 * time.Millisecond,
		})
		defer r.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				seen[string(m.Value)]++
				perReader[i]++
				mu.Unlock()
			}
		}()
	}
	waitStableMembers(t, b, "kafkago-workers", 2)
	time.Sleep(time.Second) // both readers start fetching their assignment
	produceKeyed(t, b, topic, 0, n)
	waitFor(t, 30*time.Second, "every record read and committed", func() bool { return committedSum(t, b, "kafkago-workers", topic) == n })
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for i := 0; i < n; i++ {
		if c := seen[fmt.Sprint(topic, "-", i)]; c != 1 {
			t.Fatalf("record %d delivered %d times", i, c)
		}
	}
	if perReader[0] == 0 || perReader[1] == 0 {
		t.Fatalf("records per reader %v: the group did not split the partitions", perReader)
	}
}
