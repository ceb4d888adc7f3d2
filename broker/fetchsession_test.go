package broker

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceRounds produces rounds records to every partition of topic, one
// round at a time with a pause between, values "partition:sequence".
func produceRounds(t *testing.T, ctx context.Context, b *Broker, topic string, partitions, from, rounds int, pause time.Duration) {
	t.Helper()
	produceRoundsWith(t, ctx, roundsProducer(t, b, topic), partitions, from, rounds, pause)
}

// roundsProducer is the client produceRounds uses; made on the test's
// goroutine, since client may fail the test.
func roundsProducer(t *testing.T, b *Broker, topic string) *kgo.Client {
	return client(t, b, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
}

// produceRoundsWith is produceRounds with its client made already: safe on
// another goroutine (it only calls t.Errorf).
func produceRoundsWith(t *testing.T, ctx context.Context, producer *kgo.Client, partitions, from, rounds int, pause time.Duration) {
	defer producer.Close()
	for round := from; round < from+rounds; round++ {
		var wg sync.WaitGroup
		for p := 0; p < partitions; p++ {
			wg.Add(1)
			producer.Produce(ctx, &kgo.Record{Partition: int32(p), Value: fmt.Appendf(nil, "%d:%d", p, round)}, func(r *kgo.Record, err error) {
				defer wg.Done()
				if err != nil {
					t.Errorf("produce %d/%d: %v", p, round, err)
				}
			})
		}
		wg.Wait()
		time.Sleep(pause)
	}
}

// orderedConsumer checks that records arrive exactly once and in order
// per partition: partition p's values are "p:0", "p:1", ...
type orderedConsumer struct {
	next  map[int32]int
	count int
}

func (o *orderedConsumer) take(t *testing.T, records []*kgo.Record) {
	t.Helper()
	if o.next == nil {
		o.next = map[int32]int{}
	}
	for _, r := range records {
		want := fmt.Sprintf("%d:%d", r.Partition, o.next[r.Partition])
		if string(r.Value) != want {
			t.Fatalf("partition %d offset %d: %q, want %q (a record lost, repeated or out of order)", r.Partition, r.Offset, r.Value, want)
		}
		o.next[r.Partition]++
		o.count++
	}
}

// poll consumes until the consumer has seen total records.
func (o *orderedConsumer) poll(t *testing.T, ctx context.Context, c *kgo.Client, total int) {
	t.Helper()
	for o.count < total {
		fetches := c.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", o.count, total, err)
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, partition, err)
		})
		o.take(t, fetches.Records())
	}
}

// TestFetchSessionsFranzGoManyPartitions: a franz-go consumer of 200
// partitions, with fetch sessions (its default), reads records produced
// in rounds while it consumes: every record exactly once and in order.
// The broker's counters prove its fetches were incremental, so the test
// cannot pass with sessions off.
func TestFetchSessionsFranzGoManyPartitions(t *testing.T) {
	b := testBroker(t, t.TempDir(), "--admin.listener=127.0.0.1:0")
	defer b.Close()
	ctx := ctxTimeout(t, 90*time.Second)
	const partitions, rounds = 200, 40
	if _, err := kadm.NewClient(client(t, b)).CreateTopic(ctx, partitions, 1, nil, "many"); err != nil {
		t.Fatal(err)
	}
	consumer := client(t, b, kgo.ConsumeTopics("many"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond))
	done := make(chan struct{})
	producer := roundsProducer(t, b, "many")
	go func() {
		defer close(done)
		produceRoundsWith(t, ctx, producer, partitions, 0, rounds, 50*time.Millisecond)
	}()
	var o orderedConsumer
	o.poll(t, ctx, consumer, partitions*rounds)
	<-done

	stats := b.wire.FetchSessionStats()
	t.Logf("fetch sessions: %+v", stats)
	if stats.Created < 1 || stats.Incremental < rounds/2 {
		t.Fatalf("the consumer's fetches were not incremental: %+v", stats)
	}
	if stats.Sessions != 1 || stats.Partitions != partitions {
		t.Fatalf("want one cached session of %d partitions: %+v", partitions, stats)
	}
	metrics := httpGet(t, "http://"+b.adminAddr+"/metrics")
	for _, want := range []string{"spool_fetch_sessions 1\n", fmt.Sprintf("spool_fetch_session_partitions %d\n", partitions), "spool_fetch_session_slots 1000\n"} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("/metrics lacks %q", want)
		}
	}
	if !strings.Contains(metrics, "spool_fetch_incremental_total ") {
		t.Fatal("/metrics lacks spool_fetch_incremental_total")
	}
	// Closing the client closes its session (franz-go sends epoch -1).
	consumer.Close()
	deadline := time.Now().Add(10 * time.Second)
	for b.wire.FetchSessionStats().Sessions != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if stats := b.wire.FetchSessionStats(); stats.Sessions != 0 {
		t.Fatalf("the closed consumer's session is still cached: %+v", stats)
	}
}

// TestFetchSessionsSurviveBrokerRestart: a consumer in a fetch session
// keeps going when the broker restarts at the same address (the session
// is gone: the client is told FETCH_SESSION_ID_NOT_FOUND, starts a new
// one) and reads every record exactly once, in order.
func TestFetchSessionsSurviveBrokerRestart(t *testing.T) {
	dir := t.TempDir()
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := "--listeners=PLAINTEXT://" + probe.Addr().String()
	probe.Close()
	b := testBroker(t, dir, listen)
	ctx := ctxTimeout(t, 90*time.Second)
	const partitions = 20
	if _, err := kadm.NewClient(client(t, b)).CreateTopic(ctx, partitions, 1, nil, "restart"); err != nil {
		t.Fatal(err)
	}
	consumer := client(t, b, kgo.ConsumeTopics("restart"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	var o orderedConsumer
	produceRounds(t, ctx, b, "restart", partitions, 0, 5, 20*time.Millisecond)
	o.poll(t, ctx, consumer, partitions*5)
	// Let a few incremental fetches happen, so the client holds a session.
	deadline := time.Now().Add(10 * time.Second)
	for b.wire.FetchSessionStats().Incremental < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if stats := b.wire.FetchSessionStats(); stats.Incremental < 2 {
		t.Fatalf("no incremental fetches before the restart: %+v", stats)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = testBroker(t, dir, listen)
	defer b.Close()
	produceRounds(t, ctx, b, "restart", partitions, 5, 5, 20*time.Millisecond)
	o.poll(t, ctx, consumer, partitions*10)
	deadline = time.Now().Add(10 * time.Second)
	for b.wire.FetchSessionStats().Incremental < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if stats := b.wire.FetchSessionStats(); stats.Created < 1 || stats.Incremental < 2 {
		t.Fatalf("the client did not resume sessions after the restart: %+v", stats)
	}
}

// fetchConn is a raw Kafka connection for fetches at exact versions.
type fetchConn struct {
	t           *testing.T
	conn        net.Conn
	correlation int32
}

func newFetchConn(t *testing.T, b *Broker) *fetchConn {
	return &fetchConn{t: t, conn: dial(t, b)}
}

func (c *fetchConn) fetch(req *kmsg.FetchRequest) *kmsg.FetchResponse {
	c.t.Helper()
	c.correlation++
	c.conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := c.conn.Write(rawRequest(1, req.Version, c.correlation, req.IsFlexible(), req.AppendTo(nil))); err != nil {
		c.t.Fatal(err)
	}
	frame := readResponse(c.t, c.conn)
	body := frame[4:]
	if req.IsFlexible() {
		body = body[1:]
	}
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = req.Version
	if err := resp.ReadFrom(body); err != nil {
		c.t.Fatal(err)
	}
	return resp
}

// fetchReq is a fetch of topic (by name, or by id at v13+) in session
// id at epoch, naming offsets (partition → fetch offset).
func fetchReq(version int16, topic string, topicID [16]byte, id, epoch int32, offsets map[int32]int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes, req.SessionID, req.SessionEpoch = version, -1, 1<<20, id, epoch
	if len(offsets) > 0 {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, topicID
		for p := int32(0); p < 100; p++ {
			if offset, ok := offsets[p]; ok {
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.LogStartOffset, rp.CurrentLeaderEpoch = p, offset, 1<<20, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
		}
		req.Topics = append(req.Topics, rt)
	}
	return req
}

func answered(resp *kmsg.FetchResponse) map[string]int16 {
	out := map[string]int16{}
	for _, rt := range resp.Topics {
		name := rt.Topic
		if name == "" {
			name = fmt.Sprintf("%x", rt.TopicID[:2])
		}
		for _, p := range rt.Partitions {
			out[name+"/"+strconv.Itoa(int(p.Partition))] = p.ErrorCode
		}
	}
	return out
}

// TestFetchSessionRawRequests drives sessions with raw fetch requests
// over real connections: a session made on one connection is used on
// another (sessions are keyed by id, as in Kafka); the error cases; and
// forgotten topics.
func TestFetchSessionRawRequests(t *testing.T) {
	b := testBroker(t, t.TempDir())
	defer b.Close()
	ctx := ctxTimeout(t, 30*time.Second)
	if _, err := kadm.NewClient(client(t, b)).CreateTopic(ctx, 3, 1, nil, "raw"); err != nil {
		t.Fatal(err)
	}
	produceRounds(t, ctx, b, "raw", 3, 0, 1, 0)
	var none [16]byte
	one, two := newFetchConn(t, b), newFetchConn(t, b)
	full := one.fetch(fetchReq(12, "raw", none, 0, 0, map[int32]int64{0: 0, 1: 0, 2: 0}))
	if full.ErrorCode != 0 || full.SessionID == 0 || len(answered(full)) != 3 {
		t.Fatalf("full fetch: %v, session %d, %v", kerr.ErrorForCode(full.ErrorCode), full.SessionID, answered(full))
	}
	id := full.SessionID
	// On the other connection: advance past the records; nothing new.
	resp := two.fetch(fetchReq(12, "raw", none, id, 1, map[int32]int64{0: 1, 1: 1, 2: 1}))
	if resp.ErrorCode != 0 || resp.SessionID != id || len(answered(resp)) != 0 {
		t.Fatalf("incremental on another connection: %v, session %d, %v", kerr.ErrorForCode(resp.ErrorCode), resp.SessionID, answered(resp))
	}
	// Wrong epochs: a repeat and one ahead.
	for _, epoch := range []int32{1, 3} {
		if resp := one.fetch(fetchReq(12, "raw", none, id, epoch, nil)); resp.ErrorCode != kerr.InvalidFetchSessionEpoch.Code || resp.SessionID != 0 {
			t.Fatalf("epoch %d: %v", epoch, kerr.ErrorForCode(resp.ErrorCode))
		}
	}
	// Unknown id.
	if resp := one.fetch(fetchReq(12, "raw", none, id^0x5a5a, 1, nil)); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("unknown id: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	// Forget partition 1, then new records on 0 and 1: only 0 answers.
	forget := fetchReq(12, "raw", none, id, 2, nil)
	forget.ForgottenTopics = []kmsg.FetchRequestForgottenTopic{{Topic: "raw", Partitions: []int32{1}}}
	if resp := one.fetch(forget); resp.ErrorCode != 0 || len(answered(resp)) != 0 {
		t.Fatalf("forget: %v %v", kerr.ErrorForCode(resp.ErrorCode), answered(resp))
	}
	produceRounds(t, ctx, b, "raw", 2, 1, 1, 0)
	req := fetchReq(12, "raw", none, id, 3, nil)
	req.MinBytes, req.MaxWaitMillis = 1, 5000
	if got := answered(one.fetch(req)); len(got) != 1 || got["raw/0"] != 0 {
		t.Fatalf("after forgetting 1: %v", got)
	}
	// Close: a full answer, no session, and the id is gone.
	closed := one.fetch(fetchReq(12, "raw", none, id, -1, map[int32]int64{0: 0}))
	if closed.ErrorCode != 0 || closed.SessionID != 0 || len(answered(closed)) != 1 {
		t.Fatalf("close: %v, session %d", kerr.ErrorForCode(closed.ErrorCode), closed.SessionID)
	}
	if resp := two.fetch(fetchReq(12, "raw", none, id, 4, nil)); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("closed session: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	// Epoch -1 without an id: a full fetch, no session made.
	if resp := one.fetch(fetchReq(12, "raw", none, 0, -1, map[int32]int64{0: 0})); resp.SessionID != 0 || b.wire.FetchSessionStats().Sessions != 0 {
		t.Fatalf("sessionless fetch made a session: %d", resp.SessionID)
	}
}

// TestFetchSessionCacheFull: with max.incremental.fetch.session.cache.slots
// sessions cached (none idle, none old), a new full fetch is answered
// in full with session id 0; with 0 slots no session is ever made.
func TestFetchSessionCacheFull(t *testing.T) {
	for _, slots := range []int{2, 0} {
		b := testBroker(t, t.TempDir(), fmt.Sprintf("--max.incremental.fetch.session.cache.slots=%d", slots))
		ctx := ctxTimeout(t, 30*time.Second)
		if _, err := kadm.NewClient(client(t, b)).CreateTopic(ctx, 2, 1, nil, "full"); err != nil {
			t.Fatal(err)
		}
		conn := newFetchConn(t, b)
		var none [16]byte
		for i := 0; i < slots; i++ {
			if resp := conn.fetch(fetchReq(12, "full", none, 0, 0, map[int32]int64{0: 0})); resp.SessionID == 0 {
				t.Fatalf("slots %d: session %d not made", slots, i)
			}
		}
		resp := conn.fetch(fetchReq(12, "full", none, 0, 0, map[int32]int64{0: 0, 1: 0}))
		if resp.ErrorCode != 0 || resp.SessionID != 0 || len(answered(resp)) != 2 {
			t.Fatalf("slots %d, cache full: %v, session %d, %v", slots, kerr.ErrorForCode(resp.ErrorCode), resp.SessionID, answered(resp))
		}
		if stats := b.wire.FetchSessionStats(); stats.Sessions != slots || stats.Evicted != 0 {
			t.Fatalf("slots %d: %+v", slots, stats)
		}
		b.Close()
	}
}

// TestFetchSessionTopicIDs: a v13+ session addresses topics by ID. An
// unknown ID is answered UNKNOWN_TOPIC_ID in every response while it stays
// in the session; a deleted topic's partitions turn UNKNOWN_TOPIC_ID, and
// once a topic of the same name is created, INCONSISTENT_TOPIC_ID (which
// tells franz-go to reset its session).
func TestFetchSessionTopicIDs(t *testing.T) {
	b := testBroker(t, t.TempDir(), "--auto.create.topics.enable=false")
	defer b.Close()
	ctx := ctxTimeout(t, 30*time.Second)
	admin := kadm.NewClient(client(t, b))
	created, err := admin.CreateTopic(ctx, 1, 1, nil, "ids")
	if err != nil {
		t.Fatal(err)
	}
	id := created.ID
	stranger := [16]byte{1, 2, 3}
	conn := newFetchConn(t, b)
	req := fetchReq(16, "", id, 0, 0, map[int32]int64{0: 0})
	unknown := kmsg.NewFetchRequestTopic()
	unknown.TopicID = stranger
	unknownPartition := kmsg.NewFetchRequestTopicPartition()
	unknownPartition.PartitionMaxBytes = 1 << 20
	unknown.Partitions = append(unknown.Partitions, unknownPartition)
	req.Topics = append(req.Topics, unknown)
	full := conn.fetch(req)
	session := full.SessionID
	if session == 0 || full.ErrorCode != 0 {
		t.Fatalf("full: %v, session %d", kerr.ErrorForCode(full.ErrorCode), session)
	}
	strangerKey := fmt.Sprintf("%x/0", stranger[:2])
	idKey := fmt.Sprintf("%x/0", id[:2])
	if got := answered(full); got[strangerKey] != kerr.UnknownTopicID.Code || got[idKey] != 0 {
		t.Fatalf("full: %v", got)
	}
	got := answered(conn.fetch(fetchReq(16, "", id, session, 1, nil)))
	if len(got) != 1 || got[strangerKey] != kerr.UnknownTopicID.Code {
		t.Fatalf("incremental: the unknown ID must be answered again, alone: %v", got)
	}
	// A v12 request in this v13+ session.
	if resp := conn.fetch(fetchReq(12, "ids", [16]byte{}, session, 2, nil)); resp.ErrorCode != kerr.FetchSessionTopicIDError.Code {
		t.Fatalf("v12 in a v16 session: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	if _, err := admin.DeleteTopics(ctx, "ids"); err != nil {
		t.Fatal(err)
	}
	got = answered(conn.fetch(fetchReq(16, "", id, session, 2, nil)))
	if got[idKey] != kerr.UnknownTopicID.Code {
		t.Fatalf("deleted topic: %v", got)
	}
	if _, err := admin.CreateTopic(ctx, 1, 1, nil, "ids"); err != nil {
		t.Fatal(err)
	}
	got = answered(conn.fetch(fetchReq(16, "", id, session, 3, nil)))
	if got[idKey] != kerr.InconsistentTopicID.Code {
		t.Fatalf("recreated topic: %v", got)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// TestFetchErrorAnswersAtOnce: a long poll with a partition in error is
// answered at once, as Kafka's delayed fetch does, not after max_wait (a
// consumer past the log end resets its offset now). The other partition
// has no data, so only the error can end the wait.
func TestFetchErrorAnswersAtOnce(t *testing.T) {
	b := testBroker(t, t.TempDir())
	defer b.Close()
	ctx := ctxTimeout(t, 30*time.Second)
	if _, err := kadm.NewClient(client(t, b)).CreateTopic(ctx, 2, 1, nil, "errs"); err != nil {
		t.Fatal(err)
	}
	var none [16]byte
	c := newFetchConn(t, b)
	req := fetchReq(12, "errs", none, 0, -1, map[int32]int64{0: 0, 1: 1000})
	req.MinBytes, req.MaxWaitMillis = 1, 10_000
	started := time.Now()
	resp := c.fetch(req)
	waited := time.Since(started)
	if got := answered(resp); got["errs/1"] != kerr.OffsetOutOfRange.Code || got["errs/0"] != 0 {
		t.Fatalf("answers %v", got)
	}
	// Far below max_wait: the answer did not wait for it.
	if waited > 5*time.Second {
		t.Fatalf("an error was answered after %v, as if waiting out max_wait", waited)
	}
}
