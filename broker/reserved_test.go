package broker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestReservedTopicNames: no client can create or delete a name the
// broker keeps for itself. Before this was fixed, CreateTopics of
// __cluster_metadata succeeded (its "partition" directory is the metadata
// log's own), a DeleteTopics of it removed the metadata log, and the next
// start opened with every topic forgotten.
func TestReservedTopicNames(t *testing.T) {
	dir := t.TempDir()
	b := testBroker(t, dir)
	adm := kadm.NewClient(client(t, b))
	ctx := ctxTimeout(t, 30*time.Second)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "kept"); err != nil {
		t.Fatal(err)
	}

	creates := map[string]error{
		"__cluster_metadata":  kerr.InvalidRequest,
		"__transaction_state": kerr.InvalidRequest,
		"__consumer_offsets":  kerr.TopicAlreadyExists,
	}
	for name, want := range creates {
		if resp, _ := adm.CreateTopic(ctx, 1, 1, nil, name); resp.Err != want {
			t.Errorf("CreateTopics %s: %v, want %v", name, resp.Err, want)
		}
	}
	deletes := map[string]error{
		"__cluster_metadata": kerr.UnknownTopicOrPartition,
		"__consumer_offsets": kerr.InvalidRequest,
	}
	for name, want := range deletes {
		resp, err := adm.DeleteTopics(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp[name].Err; got != want {
			t.Errorf("DeleteTopics %s: %v, want %v", name, got, want)
		}
	}

	// Auto-creation through Metadata refuses them too, and an empty name
	// is INVALID_TOPIC_EXCEPTION, as in Kafka.
	metadataAnswers := map[string]int16{
		"__cluster_metadata":  kerr.UnknownTopicOrPartition.Code,
		"__transaction_state": kerr.UnknownTopicOrPartition.Code,
		"":                    kerr.InvalidTopicException.Code,
	}
	for name, want := range metadataAnswers {
		req := kmsg.NewPtrMetadataRequest()
		topic := kmsg.NewMetadataRequestTopic()
		topic.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, topic)
		req.AllowAutoTopicCreation = true
		resp, err := req.RequestWith(ctx, client(t, b))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != want {
			t.Errorf("Metadata of %q: %+v, want error %d", name, resp.Topics, want)
		}
	}

	// Names that differ only in '.' and '_' collide, as in Kafka.
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "orders.eu"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := adm.CreateTopic(ctx, 1, 1, nil, "orders_eu"); resp.Err != kerr.InvalidTopicException {
		t.Errorf("CreateTopics orders_eu beside orders.eu: %v, want INVALID_TOPIC_EXCEPTION", resp.Err)
	}

	// The metadata log is intact: after a restart the topics are all there.
	produceKeyed(t, b, "kept", 0, 10)
	b.Close()
	b = testBroker(t, dir)
	defer b.Close()
	for _, name := range []string{"kept", "orders.eu", "__consumer_offsets"} {
		if _, ok := b.cluster.Topic(name); !ok {
			t.Errorf("topic %s gone after a restart", name)
		}
	}
	if _, ok := b.cluster.Topic("__cluster_metadata"); ok {
		t.Error("__cluster_metadata is a topic")
	}
	if records := consumeAll(t, b, "kept", 10); len(records) != 10 {
		t.Errorf("read %d records of kept after a restart, want 10", len(records))
	}
}
