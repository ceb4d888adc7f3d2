package broker

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"spool/internal/metrics"
	"spool/tools/inspect"
)

type producedRecord struct {
	key, value string
	offset     int64
}

// produceUpdates writes rounds of updates to keys key-0..key-(keys-1) and
// returns them with the offsets the broker gave them.
func produceUpdates(t *testing.T, producer *kgo.Client, topic string, keys, rounds int) []producedRecord {
	t.Helper()
	ctx := ctxTimeout(t, 60*time.Second)
	var produced []producedRecord
	for round := 0; round < rounds; round++ {
		var batch []*kgo.Record
		for k := 0; k < keys; k++ {
			batch = append(batch, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("key-%d", k)), Value: []byte(fmt.Sprintf("value-%d-%d-%040d", k, round, 0))})
		}
		results := producer.ProduceSync(ctx, batch...)
		if err := results.FirstErr(); err != nil {
			t.Fatal(err)
		}
		for _, r := range results {
			produced = append(produced, producedRecord{key: string(r.Record.Key), value: string(r.Record.Value), offset: r.Record.Offset})
		}
	}
	return produced
}

// consumeUntil reads topic (one partition) from start until a record at or
// past last arrives, with a consumer group when group is set.
func consumeUntil(t *testing.T, b *Broker, topic string, last int64, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	c := client(t, b, append([]kgo.Opt{kgo.ConsumeTopics(topic)}, opts...)...)
	ctx := ctxTimeout(t, 30*time.Second)
	var records []*kgo.Record
	for len(records) == 0 || records[len(records)-1].Offset < last {
		fetches := c.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d records, not reaching offset %d: %v", len(records), last, err)
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, partition, err)
		})
		records = append(records, fetches.Records()...)
	}
	return records
}

// TestCompactedTopicFranzGo: a topic with cleanup.policy=compact and small
// segments takes many updates per key; after the cleaner ran, a consumer
// from the start gets every key's newest value at its original offset, in
// offset order with gaps, and a group whose committed offset lies in a
// removed range continues at the next surviving record. Records without a
// key are refused.
func TestCompactedTopicFranzGo(t *testing.T) {
	b := testBroker(t, t.TempDir(), "--log.cleaner.backoff.ms=3600000")
	defer b.Close()
	admin := kadm.NewClient(client(t, b))
	ctx := ctxTimeout(t, 60*time.Second)
	const topic = "compacted"
	configs := map[string]*string{"cleanup.policy": kadm.StringPtr("compact"), "segment.bytes": kadm.StringPtr("4096")}
	if created, err := admin.CreateTopic(ctx, 1, 1, configs, topic); err != nil || created.Err != nil {
		t.Fatalf("create: %v %v", err, created.Err)
	}
	producer := client(t, b, kgo.RequiredAcks(kgo.AllISRAcks()))
	produced := produceUpdates(t, producer, topic, 20, 60)
	last := produced[len(produced)-1].offset

	// A group committed an offset that compaction is about to remove.
	const committedAt = 5
	var offsets kadm.Offsets
	offsets.AddOffset(topic, 0, committedAt, -1)
	if resp, err := admin.CommitOffsets(ctx, "compaction-group", offsets); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}

	runsBefore := metrics.CleanerRuns.Load()
	b.cluster.CleanNow()
	if metrics.CleanerRuns.Load() == runsBefore {
		t.Fatal("the cleaner did not run")
	}
	// spool verify accepts the compacted partition (gaps, emptied batches).
	var report strings.Builder
	tp, _ := b.cluster.Topic(topic)
	if ok, err := inspect.VerifyPartition(tp.Partitions[0].Log.Dir(), &report); err != nil || !ok {
		t.Fatalf("verify: %v\n%s", err, report.String())
	}

	newest := map[string]producedRecord{}
	byOffset := map[int64]producedRecord{}
	for _, r := range produced {
		newest[r.key] = r
		byOffset[r.offset] = r
	}
	records := consumeUntil(t, b, topic, last, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if len(records) >= len(produced) {
		t.Fatalf("consumed %d records of %d produced: nothing compacted", len(records), len(produced))
	}
	seen := map[string]bool{}
	for i, r := range records {
		want, ok := byOffset[r.Offset]
		if !ok || want.key != string(r.Key) || want.value != string(r.Value) {
			t.Fatalf("record at %d is %s=%s, produced there: %+v", r.Offset, r.Key, r.Value, want)
		}
		if i > 0 && r.Offset <= records[i-1].Offset {
			t.Fatalf("offset %d after %d", r.Offset, records[i-1].Offset)
		}
		if newest[want.key].offset == r.Offset {
			seen[want.key] = true
		}
	}
	if len(seen) != len(newest) {
		t.Fatalf("%d keys' newest values consumed, %d keys produced", len(seen), len(newest))
	}
	if records[0].Offset == 0 && byOffset[0].key != "" && newest[byOffset[0].key].offset != 0 {
		t.Fatal("offset 0 survived although its key was overwritten")
	}

	// The group resumes at the first surviving record at or after its
	// committed offset.
	firstAfter := int64(-1)
	for _, r := range records {
		if r.Offset >= committedAt {
			firstAfter = r.Offset
			break
		}
	}
	grouped := consumeUntil(t, b, topic, last, kgo.ConsumerGroup("compaction-group"), kgo.DisableAutoCommit())
	if grouped[0].Offset != firstAfter {
		t.Fatalf("group resumed at %d, want %d (first surviving record at or after %d)", grouped[0].Offset, firstAfter, committedAt)
	}

	// A record without a key is refused with INVALID_RECORD.
	err := producer.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("no key")}).FirstErr()
	if !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("null key: %v, want INVALID_RECORD", err)
	}
}

// TestCompactDeletePolicy: cleanup.policy=compact,delete both compacts (the
// background cleaner, with a short backoff) and applies retention.
func TestCompactDeletePolicy(t *testing.T) {
	b := testBroker(t, t.TempDir(), "--log.cleaner.backoff.ms=50", "--log.retention.check.interval.ms=100")
	defer b.Close()
	admin := kadm.NewClient(client(t, b))
	ctx := ctxTimeout(t, 60*time.Second)
	const topic = "compact-delete"
	configs := map[string]*string{
		"cleanup.policy":            kadm.StringPtr("compact,delete"),
		"segment.bytes":             kadm.StringPtr("4096"),
		"retention.ms":              kadm.StringPtr("1000"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
	}
	if created, err := admin.CreateTopic(ctx, 1, 1, configs, topic); err != nil || created.Err != nil {
		t.Fatalf("create: %v %v", err, created.Err)
	}
	producer := client(t, b)
	runsBefore := metrics.CleanerRuns.Load()
	produceUpdates(t, producer, topic, 10, 80)
	tp, _ := b.cluster.Topic(topic)
	l := tp.Partitions[0].Log
	deadline := time.Now().Add(30 * time.Second)
	for l.LogStartOffset() == 0 || metrics.CleanerRuns.Load() == runsBefore {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: log start offset %d, cleaner runs %d", l.LogStartOffset(), metrics.CleanerRuns.Load()-runsBefore)
		}
		time.Sleep(20 * time.Millisecond)
	}
	described, err := admin.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range described[0].Configs {
		if c.Key == "cleanup.policy" && (c.Value == nil || *c.Value != "compact,delete") {
			t.Fatalf("cleanup.policy described as %v", c.Value)
		}
	}
}

// TestStandbyCatchesUpFromCompactedLeader: a standby that starts empty
// copies a leader whose log the cleaner compacted (gaps between batches,
// batches with fewer records than offsets, emptied batches) and ends with
// the same bytes; it keeps following as the leader takes more updates and
// cleans again, and compacts its own log.
func TestStandbyCatchesUpFromCompactedLeader(t *testing.T) {
	leader := testBroker(t, t.TempDir(), "--replication.listener=127.0.0.1:0", "--log.cleaner.backoff.ms=3600000")
	defer leader.Close()
	admin := kadm.NewClient(client(t, leader))
	ctx := ctxTimeout(t, 60*time.Second)
	const topic = "compacted-replicated"
	configs := map[string]*string{"cleanup.policy": kadm.StringPtr("compact"), "segment.bytes": kadm.StringPtr("4096")}
	if created, err := admin.CreateTopic(ctx, 1, 1, configs, topic); err != nil || created.Err != nil {
		t.Fatalf("create: %v %v", err, created.Err)
	}
	producer := client(t, leader)
	produced := produceUpdates(t, producer, topic, 15, 40)
	lt, _ := leader.cluster.Topic(topic)
	sizeBefore := lt.Partitions[0].Log.Size()
	leader.cluster.CleanNow()
	if lt.Partitions[0].Log.Size() >= sizeBefore {
		t.Fatalf("the leader's log did not shrink: %d -> %d bytes", sizeBefore, lt.Partitions[0].Log.Size())
	}

	// The standby's own cleaner is off, so its bytes stay the leader's.
	standby := testBroker(t, t.TempDir(), "--standby.of="+leader.ReplicationAddr(), "--node.id=1", "--log.cleaner.enable=false")
	defer standby.Close()
	waitIdentical(t, leader, standby)

	// More updates, cleaned on the leader; the standby copies them and
	// compacts its own log (each node cleans independently, as Kafka's
	// replicas do, so from here their bytes may differ).
	produced = append(produced, produceUpdates(t, producer, topic, 15, 20)...)
	leader.cluster.CleanNow()
	st, _ := standby.cluster.Topic(topic)
	waitFor(t, 30*time.Second, "the standby to reach the leader's end", func() bool {
		return st.Partitions[0].Log.LogEndOffset() == lt.Partitions[0].Log.LogEndOffset()
	})
	sizeBefore = st.Partitions[0].Log.Size()
	standby.cluster.CleanNow()
	if st.Partitions[0].Log.Size() >= sizeBefore {
		t.Fatalf("the standby's log did not shrink: %d -> %d bytes", sizeBefore, st.Partitions[0].Log.Size())
	}

	// Consumers of the standby read the compacted log: each key's newest
	// value is there.
	last := produced[len(produced)-1].offset
	newest := map[string]string{}
	for _, r := range produced {
		newest[r.key] = r.value
	}
	for _, r := range consumeUntil(t, standby, topic, last, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())) {
		if newest[string(r.Key)] == string(r.Value) {
			delete(newest, string(r.Key))
		}
	}
	if len(newest) != 0 {
		t.Fatalf("%d keys' newest values missing on the standby", len(newest))
	}
}
