package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine"
	"spool/engine/meta"
	"spool/internal/batchtest"
	"spool/replica"
	"spool/wire"
)

// partitionBytes reads a partition's whole log up to its end (past the
// high watermark), batch bytes as stored.
func partitionBytes(t *testing.T, p *meta.Partition) []byte {
	t.Helper()
	var out []byte
	var result engine.ReadResult
	for offset := p.Log.LogStartOffset(); offset < p.Log.LogEndOffset(); {
		if err := p.Log.Read(offset, 1<<20, true, engine.ReadReplica, &result); err != nil {
			t.Fatal(err)
		}
		for _, e := range result.Extents {
			b := make([]byte, e.Length)
			if _, err := e.File.ReadAt(b, e.Position); err != nil {
				t.Fatal(err)
			}
			out = append(out, b...)
		}
		next := result.NextOffset
		result.Release()
		if next <= offset {
			break
		}
		offset = next
	}
	return out
}

// waitIdentical waits until every partition of every leader topic exists
// on the standby with the same log end offset, then compares the bytes.
func waitIdentical(t *testing.T, leader, standby *Broker) {
	t.Helper()
	waitFor(t, 30*time.Second, "the standby to catch up", func() bool {
		for _, lt := range leader.cluster.Topics() {
			st, ok := standby.cluster.Topic(lt.Name)
			if !ok || st.ID != lt.ID || len(st.Partitions) != len(lt.Partitions) {
				return false
			}
			for i, lp := range lt.Partitions {
				if st.Partitions[i].Log.LogEndOffset() != lp.Log.LogEndOffset() {
					return false
				}
			}
		}
		return len(standby.cluster.Topics()) == len(leader.cluster.Topics())
	})
	for _, lt := range leader.cluster.Topics() {
		st, _ := standby.cluster.Topic(lt.Name)
		for i, lp := range lt.Partitions {
			if shw, lhw := st.Partitions[i].Log.HighWatermark(), lp.Log.HighWatermark(); standby.cluster.Follower() && shw > lhw {
				t.Fatalf("%s-%d: the standby lets readers see up to %d, the leader only up to %d", lt.Name, i, shw, lhw)
			}
			lb, sb := partitionBytes(t, lp), partitionBytes(t, st.Partitions[i])
			if !bytes.Equal(lb, sb) {
				t.Fatalf("%s-%d: leader has %d bytes, standby %d, and they differ", lt.Name, i, len(lb), len(sb))
			}
		}
	}
}

// waitInSync waits until the standby is in sync for every partition of
// topic.
func waitInSync(t *testing.T, leader *Broker, topic string, partitions int) {
	t.Helper()
	waitFor(t, 20*time.Second, "the standby to be in sync on "+topic, func() bool {
		n := 0
		for _, st := range leader.replLeader.Status() {
			if st.Topic == topic && st.InSync {
				n++
			}
		}
		return n == partitions
	})
}

// checkStandbyHolds checks, without waiting, that the standby's log of
// every partition of topic reaches the leader's high watermark: what
// acks=all acknowledged is already on the standby.
func checkStandbyHolds(t *testing.T, leader, standby *Broker, topic string) {
	t.Helper()
	lt, _ := leader.cluster.Topic(topic)
	st, ok := standby.cluster.Topic(topic)
	if !ok {
		t.Fatalf("standby lacks %s", topic)
	}
	for i, lp := range lt.Partitions {
		if hw, end := lp.Log.HighWatermark(), st.Partitions[i].Log.DurableOffset(); end < hw {
			t.Fatalf("%s-%d: leader acknowledged up to %d, standby holds %d durably", topic, i, hw, end)
		}
	}
}

// TestStandbyFollowsLeader: a standby mirrors the leader's topics (IDs and
// configs included) and logs byte for byte, __consumer_offsets too; it
// refuses produce; after a restart it catches up from its log end.
func TestStandbyFollowsLeader(t *testing.T) {
	leader := groupBroker(t, t.TempDir(), "--replication.listener=127.0.0.1:0", "--replica.lag.time.max.ms=1000")
	defer leader.Close()
	standbyDir := t.TempDir()
	standby := testBroker(t, standbyDir, "--standby.of="+leader.ReplicationAddr(), "--node.id=1")
	defer func() { standby.Close() }()

	started := time.Now()
	createTopic(t, leader, "replicated", 3)
	waitInSync(t, leader, "replicated", 3)
	produceKeyed(t, leader, "replicated", 0, 2000)
	t.Logf("produced after %v", time.Since(started))
	// acks=all was answered only once the standby had the records.
	checkStandbyHolds(t, leader, standby, "replicated")
	// A committed offset, so __consumer_offsets has something to copy.
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.Generation = "copied", -1
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "replicated", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 1, Offset: 17, LeaderEpoch: -1}}}}
	if resp, err := commit.RequestWith(ctxTimeout(t, 10*time.Second), client(t, leader)); err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit: %v %+v", err, resp)
	}
	waitIdentical(t, leader, standby)
	t.Logf("identical after %v", time.Since(started))
	if st, _ := standby.cluster.Topic("replicated"); st.Partitions[0].Log.LogEndOffset() == 0 && st.Partitions[1].Log.LogEndOffset() == 0 {
		t.Fatal("nothing replicated")
	}

	// Sent to the standby itself, writes are refused...
	viaStandby := client(t, standby)
	standbyNode := viaStandby.Broker(1)
	produce := kmsg.NewPtrProduceRequest()
	produce.Acks, produce.TimeoutMillis = -1, 5000
	produce.Topics = []kmsg.ProduceRequestTopic{{Topic: "replicated", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: batchtest.Values(1, 10, time.Now().UnixMilli())}}}}
	if raw, err := standbyNode.Request(ctxTimeout(t, 10*time.Second), produce); err != nil || raw.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce to the standby: %v %+v", err, raw)
	}
	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "on-standby", 1, 1
	create.Topics = append(create.Topics, ct)
	if raw, err := standbyNode.Request(ctxTimeout(t, 10*time.Second), create); err != nil || raw.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode != kerr.NotController.Code {
		t.Fatalf("create topic on the standby: %v %+v", err, raw)
	}
	// ... and a client that bootstraps at the standby is sent to the
	// leader by Metadata, and its records come back to the standby.
	redirected := client(t, standby, kgo.DefaultProduceTopic("replicated"))
	if err := redirected.ProduceSync(ctxTimeout(t, 10*time.Second), &kgo.Record{Value: []byte("via the standby's metadata")}).FirstErr(); err != nil {
		t.Fatalf("produce bootstrapped at the standby: %v", err)
	}
	waitIdentical(t, leader, standby)
	t.Logf("redirected after %v", time.Since(started))

	// Standby down while the leader takes more writes and a new topic;
	// after its restart it catches up from its own log end offsets.
	standby.Close()
	produceKeyed(t, leader, "replicated", 2000, 1000)
	createTopic(t, leader, "later", 2)
	produceKeyed(t, leader, "later", 0, 300)
	standby = testBroker(t, standbyDir, "--standby.of="+leader.ReplicationAddr(), "--node.id=1")
	waitIdentical(t, leader, standby)
	if status := leader.replLeader.Status(); len(status) == 0 {
		t.Fatal("the leader reports no standby partitions")
	}
}

// TestStandbyRejectsCorruptBatches: a fake leader sends a Data frame whose
// batch fails its CRC; the standby appends nothing and drops the
// connection. Garbage sent to a leader's replication port closes that
// connection only.
func TestStandbyRejectsCorruptBatches(t *testing.T) {
	fake, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	standby := testBroker(t, t.TempDir(), "--standby.of="+fake.Addr().String(), "--node.id=1")
	defer standby.Close()

	conn, err := fake.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	frame, _, err := replica.ReadFrame(conn, nil)
	if err != nil || frame.Type != replica.TypeHello {
		t.Fatalf("standby hello: %v %d", err, frame.Type)
	}
	var enc replica.Encoder
	conn.Write(enc.Hello(replica.Hello{Version: replica.Version, ClusterID: "fake", Host: "127.0.0.1", Port: 1}))
	id := [16]byte{7, 7, 7}
	conn.Write(enc.Metadata([]replica.Topic{{Name: "victim", ID: id, Partitions: 1, Configs: map[string]string{}}}))
	if frame, _, err = replica.ReadFrame(conn, nil); err != nil || frame.Type != replica.TypePositions {
		t.Fatalf("standby positions: %v %d", err, frame.Type)
	}
	batch := batchtest.Values(3, 50, time.Now().UnixMilli())
	batch[len(batch)-1] ^= 0xff // breaks the batch's CRC, not the frame's
	bufs := net.Buffers{enc.DataHeader(replica.DataFields{TopicID: id, Partition: 0, HighWatermark: 3, BatchesLength: int32(len(batch))}), batch}
	if _, err := bufs.WriteTo(conn); err != nil {
		t.Fatal(err)
	}
	// The standby closes the connection rather than append.
	if _, _, err := replica.ReadFrame(conn, nil); err == nil {
		t.Fatal("the standby answered a corrupt batch")
	}
	victim, ok := standby.cluster.Topic("victim")
	if !ok || victim.ID != id {
		t.Fatal("the standby did not mirror the fake leader's topic")
	}
	if end := victim.Partitions[0].Log.LogEndOffset(); end != 0 {
		t.Fatalf("the standby appended a corrupt batch: log end offset %d", end)
	}

	// Garbage on a real leader's replication port.
	leader := testBroker(t, t.TempDir(), "--replication.listener=127.0.0.1:0")
	defer leader.Close()
	raw, err := net.Dial("tcp", leader.ReplicationAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.Write([]byte("\x00\x00\x00\x10garbage garbage!"))
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := raw.Read(make([]byte, 1)); err == nil {
		t.Fatalf("the leader answered garbage with %d bytes", n)
	}
	// The leader still serves clients.
	c := client(t, leader, kgo.DefaultProduceTopic("still-up"), kgo.AllowAutoTopicCreation())
	if err := c.ProduceSync(ctxTimeout(t, 10*time.Second), &kgo.Record{Value: []byte(fmt.Sprint("x"))}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestStandbyMinInsyncReplicas: with min.insync.replicas=2, acks=all fails
// fast with NOT_ENOUGH_REPLICAS once the standby has left the in-sync set
// (never a silent ack), acks=1 goes on, and after the standby's restart
// it catches up, rejoins, and acks=all works again.
func TestStandbyMinInsyncReplicas(t *testing.T) {
	leader := testBroker(t, t.TempDir(), "--replication.listener=127.0.0.1:0", "--replica.lag.time.max.ms=500", "--min.insync.replicas=2")
	defer leader.Close()
	standbyDir := t.TempDir()
	standby := testBroker(t, standbyDir, "--standby.of="+leader.ReplicationAddr(), "--node.id=1")
	createTopic(t, leader, "guarded", 2)

	produce := func(acks int16) int16 {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = acks, 5000
		id := topicID(t, ctxTimeout(t, 10*time.Second), client(t, leader), "guarded")
		req.Topics = []kmsg.ProduceRequestTopic{{Topic: "guarded", TopicID: id, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: batchtest.Values(5, 20, time.Now().UnixMilli())}}}}
		// franz-go rewrites a raw Produce's acks to the client's.
		acksOpt := kgo.RequiredAcks(kgo.AllISRAcks())
		if acks == 1 {
			acksOpt = kgo.RequiredAcks(kgo.LeaderAck())
		}
		resp, err := req.RequestWith(ctxTimeout(t, 10*time.Second), client(t, leader, acksOpt, kgo.DisableIdempotentWrite()))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	// Before the standby ever caught up, the leader alone is not enough.
	waitInSync(t, leader, "guarded", 2)
	if code := produce(-1); code != 0 {
		t.Fatalf("acks=all with the standby in sync: %v", kerr.ErrorForCode(code))
	}
	checkStandbyHolds(t, leader, standby, "guarded")

	standby.Close()
	produce(1) // the partition moves on; the standby falls behind
	waitFor(t, 10*time.Second, "the standby to leave the in-sync set", func() bool {
		for _, st := range leader.replLeader.Status() {
			if st.Topic == "guarded" && st.Partition == 0 {
				return !st.InSync
			}
		}
		return false
	})
	began := time.Now()
	if code := produce(-1); code != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all without the standby: %v, want NOT_ENOUGH_REPLICAS", kerr.ErrorForCode(code))
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("NOT_ENOUGH_REPLICAS took %v", took)
	}
	if code := produce(1); code != 0 {
		t.Fatalf("acks=1 without the standby: %v", kerr.ErrorForCode(code))
	}

	standby = testBroker(t, standbyDir, "--standby.of="+leader.ReplicationAddr(), "--node.id=1")
	defer standby.Close()
	waitInSync(t, leader, "guarded", 2)
	if code := produce(-1); code != 0 {
		t.Fatalf("acks=all after the standby rejoined: %v", kerr.ErrorForCode(code))
	}
	checkStandbyHolds(t, leader, standby, "guarded")
	waitIdentical(t, leader, standby)
}

// TestFailoverKeepsAcknowledgedRecords: a leader process takes acks=all
// writes (min.insync.replicas=2) and is SIGKILLed at a random moment; the
// standby is promoted (new epoch); every acknowledged record is on it; the
// old leader's data directory then rejoins as the new leader's standby,
// truncates what diverged, and the two logs become identical.
func TestFailoverKeepsAcknowledgedRecords(t *testing.T) {
	leaderDir, standbyDir := t.TempDir(), t.TempDir()
	cmd, leaderAddr, leaderRepl := startBrokerChildRepl(t, leaderDir, "--replication.listener=127.0.0.1:0", "--replica.lag.time.max.ms=10000", "--min.insync.replicas=2")
	defer cmd.Process.Kill()
	standby := testBroker(t, standbyDir, "--standby.of="+leaderRepl, "--node.id=1", "--replication.listener=127.0.0.1:0", "--replica.lag.time.max.ms=10000", "--min.insync.replicas=2")
	defer standby.Close()

	c, err := kgo.NewClient(kgo.SeedBrokers(leaderAddr, standby.Addr()), kgo.DefaultProduceTopic("failover"), kgo.AllowAutoTopicCreation(),
		kgo.RecordRetries(3), kgo.RecordDeliveryTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The topic exists and the standby is in sync before the load (until
	// then acks=all is refused with NOT_ENOUGH_REPLICAS, which franz-go
	// retries).
	first, err := kgo.NewClient(kgo.SeedBrokers(leaderAddr), kgo.DefaultProduceTopic("failover"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	if err := first.ProduceSync(ctxTimeout(t, 30*time.Second), &kgo.Record{Value: []byte("first")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	first.Close()
	acked := map[string]bool{"first": true}
	var ackedMu sync.Mutex
	ackedCount := func() int {
		ackedMu.Lock()
		defer ackedMu.Unlock()
		return len(acked)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	producing := make(chan struct{})
	go func() {
		defer close(producing)
		for i := 0; i < 2_000_000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			value := fmt.Sprint("v", i)
			wg.Add(1)
			c.Produce(context.Background(), &kgo.Record{Key: []byte(fmt.Sprint(i % 7)), Value: []byte(value)}, func(r *kgo.Record, err error) {
				defer wg.Done()
				if err == nil {
					ackedMu.Lock()
					acked[value] = true
					ackedMu.Unlock()
				}
			})
			if i%100 == 99 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	// Kill at a random moment once a few thousand records are acknowledged.
	waitFor(t, 20*time.Second, "acknowledged records", func() bool { return ackedCount() >= 2000 })
	time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	close(stop)
	<-producing
	wg.Wait()
	t.Logf("leader killed with %d records acknowledged", ackedCount())

	report, err := standby.promote(false)
	if err != nil || !report.Promoted {
		t.Fatalf("promote: %v %+v", err, report)
	}
	if report.Epoch < 1 {
		t.Fatalf("promoted in epoch %d", report.Epoch)
	}
	// Every acknowledged record is on the new leader.
	got := map[string]bool{}
	reader := client(t, standby, kgo.ConsumeTopics("failover"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx := ctxTimeout(t, 30*time.Second)
	for missing := len(acked); missing > 0; {
		fetches := reader.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d records; %d acknowledged ones missing", len(got), missing)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if acked[string(r.Value)] && !got[string(r.Value)] {
				missing--
			}
			got[string(r.Value)] = true
		})
	}
	// The old leader's directory rejoins as the new leader's standby:
	// it truncates what it had beyond the new leader's history and
	// catches up.
	rejoined := testBroker(t, leaderDir, "--standby.of="+standby.ReplicationAddr(), "--node.id=0")
	defer rejoined.Close()
	waitIdentical(t, standby, rejoined)
	// With its standby back in sync, the new leader takes acks=all writes
	// (min.insync.replicas=2), in its new epoch.
	writer := client(t, standby, kgo.DefaultProduceTopic("failover"))
	if err := writer.ProduceSync(ctxTimeout(t, 20*time.Second), &kgo.Record{Value: []byte("after failover")}).FirstErr(); err != nil {
		t.Fatalf("produce to the promoted node: %v", err)
	}
	waitIdentical(t, standby, rejoined)
	if rejoined.cluster.Epoch() != report.Epoch {
		t.Fatalf("rejoined standby in epoch %d, leader in %d", rejoined.cluster.Epoch(), report.Epoch)
	}
}

// TestPromoteFencesAndRefuses: promoting a standby while its old leader
// runs fences the old leader (it refuses writes); a standby that lost
// contact longer than replica.lag.time.max.ms ago, with
// min.insync.replicas=1, is refused promotion unless unclean.
func TestPromoteFencesAndRefuses(t *testing.T) {
	leader := testBroker(t, t.TempDir(), "--replication.listener=127.0.0.1:0", "--replica.lag.time.max.ms=300")
	defer leader.Close()
	standby := testBroker(t, t.TempDir(), "--standby.of="+leader.ReplicationAddr(), "--node.id=1", "--replica.lag.time.max.ms=300")
	defer standby.Close()
	createTopic(t, leader, "fenced", 1)
	produceKeyed(t, leader, "fenced", 0, 10)
	waitIdentical(t, leader, standby)

	report, err := standby.promote(false)
	if err != nil || !report.Promoted || report.Fenced != "fenced" {
		t.Fatalf("promote: %v %+v", err, report)
	}
	if !leader.cluster.Follower() {
		t.Fatal("the old leader still takes writes after a newer epoch was announced")
	}
	// Nor does its group coordinator take commits.
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.Generation = "stale", -1
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "fenced", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1, LeaderEpoch: -1}}}}
	commit.Version = 8
	if err := leader.wire.Handle(context.Background(), requestFrame(commit), &wire.Response{}); err == nil {
		t.Fatal("the fenced old leader's group coordinator accepted a commit")
	}
	if err := standby.wire.Handle(context.Background(), requestFrame(commit), &wire.Response{}); err != nil {
		t.Fatalf("the same commit on the new leader: %v", err)
	}
	// Producer ids of the new epoch cannot collide with the old leader's.
	initID := kmsg.NewPtrInitProducerIDRequest()
	if resp, err := initID.RequestWith(ctxTimeout(t, 10*time.Second), client(t, standby)); err != nil || resp.ErrorCode != 0 || resp.ProducerID < 1<<40 {
		t.Fatalf("InitProducerId on the promoted node: %v %+v", err, resp)
	}
	produce := kmsg.NewPtrProduceRequest()
	produce.Topics = []kmsg.ProduceRequestTopic{{Topic: "fenced", Partitions: []kmsg.ProduceRequestTopicPartition{{Records: batchtest.Values(1, 10, time.Now().UnixMilli())}}}}
	if resp, err := produce.RequestWith(ctxTimeout(t, 10*time.Second), client(t, leader)); err != nil || resp.Topics[0].Partitions[0].ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce to the fenced old leader: %v %+v", err, resp)
	}

	// A second pair: the leader goes away and the standby waits past the
	// lag bound before its promotion.
	leader2 := testBroker(t, t.TempDir(), "--replication.listener=127.0.0.1:0", "--replica.lag.time.max.ms=300")
	standby2 := testBroker(t, t.TempDir(), "--standby.of="+leader2.ReplicationAddr(), "--node.id=1", "--replica.lag.time.max.ms=300")
	defer standby2.Close()
	createTopic(t, leader2, "stale", 1)
	produceKeyed(t, leader2, "stale", 0, 10)
	waitIdentical(t, leader2, standby2)
	leader2.Close()
	time.Sleep(600 * time.Millisecond)
	if report, err := standby2.promote(false); err != nil || report.Promoted || report.Refused == "" {
		t.Fatalf("promotion of a stale standby: %v %+v", err, report)
	}
	if report, err := standby2.promote(true); err != nil || !report.Promoted {
		t.Fatalf("unclean promotion: %v %+v", err, report)
	}
}

// linkProxy forwards a standby's replication connection to its leader and
// can cut the link or stall one direction, like a bad network.
type linkProxy struct {
	listener net.Listener
	target   string
	mu       sync.Mutex
	conns    []net.Conn
	cut      bool
	// stalled directions: toStandby (leader → standby), toLeader
	toStandby, toLeader atomicBool
}

type atomicBool struct {
	mu sync.Mutex
	v  bool
}

func (a *atomicBool) set(v bool) { a.mu.Lock(); a.v = v; a.mu.Unlock() }
func (a *atomicBool) get() bool  { a.mu.Lock(); defer a.mu.Unlock(); return a.v }

func newLinkProxy(t *testing.T, target string) *linkProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &linkProxy{listener: l, target: target}
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.cut {
				p.mu.Unlock()
				in.Close()
				continue
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				in.Close()
				continue
			}
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go p.pipe(in, out, &p.toStandby) // leader → standby
			go p.pipe(out, in, &p.toLeader)  // standby → leader
		}
	}()
	t.Cleanup(p.close)
	return p
}

// pipe copies src to dst, holding bytes back while stalled.
func (p *linkProxy) pipe(dst, src net.Conn, stalled *atomicBool) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 64<<10)
	for {
		for stalled.get() {
			time.Sleep(5 * time.Millisecond)
		}
		n, err := src.Read(buf)
		if n > 0 {
			for stalled.get() {
				time.Sleep(5 * time.Millisecond)
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *linkProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

func (p *linkProxy) close() { p.setCut(true); p.listener.Close() }

// TestStandbyLinkCut: with min.insync.replicas=2, cutting the replication
// link (both ways, then one way) makes acks=all fail rather than
// acknowledge alone, the standby refuses a clean promotion while out of
// sync, nothing acknowledged is lost, and after the link heals the logs
// are identical.
func TestStandbyLinkCut(t *testing.T) {
	leader := testBroker(t, t.TempDir(), "--replication.listener=127.0.0.1:0", "--replica.lag.time.max.ms=500", "--min.insync.replicas=2")
	defer leader.Close()
	proxy := newLinkProxy(t, leader.ReplicationAddr())
	standby := testBroker(t, t.TempDir(), "--standby.of="+proxy.listener.Addr().String(), "--node.id=1", "--replica.lag.time.max.ms=500", "--min.insync.replicas=2")
	defer standby.Close()
	createTopic(t, leader, "cut", 1)
	waitInSync(t, leader, "cut", 1)

	// Not idempotent: franz-go then fails a record after its retries
	// (an idempotent producer keeps retrying what it cannot safely fail).
	producer := client(t, leader, kgo.DefaultProduceTopic("cut"), kgo.RecordDeliveryTimeout(time.Second), kgo.RecordRetries(2), kgo.DisableIdempotentWrite())
	acked, ackedEnd := 0, int64(0)
	produce := func(n int) (failed int) {
		for i := 0; i < n; i++ {
			results := producer.ProduceSync(ctxTimeout(t, 10*time.Second), &kgo.Record{Value: []byte(fmt.Sprint("r", i))})
			if err := results.FirstErr(); err != nil {
				failed++
			} else {
				acked++
				ackedEnd = max(ackedEnd, results[0].Record.Offset+1)
			}
		}
		return failed
	}
	if failed := produce(20); failed != 0 {
		t.Fatalf("%d writes failed with the standby in sync", failed)
	}
	checkStandbyHolds(t, leader, standby, "cut")

	for _, how := range []string{"both ways", "leader to standby", "standby to leader"} {
		switch how {
		case "both ways":
			proxy.setCut(true)
		case "leader to standby":
			proxy.toStandby.set(true)
		default:
			proxy.toLeader.set(true) // the standby gets everything, its acks are lost
		}
		time.Sleep(800 * time.Millisecond) // past replica.lag.time.max.ms
		if failed := produce(2); failed != 2 {
			t.Fatalf("link cut %s: %d of 2 acks=all writes were acknowledged by the leader alone", how, 2-failed)
		}
		if how != "standby to leader" {
			// The standby hears nothing: it cannot know it is in sync.
			if report, err := standby.promote(false); err != nil || report.Promoted || report.Refused == "" {
				t.Fatalf("link cut %s: promotion without --unclean: %v %+v", how, err, report)
			}
		}
		if !standby.cluster.Follower() {
			t.Fatal("a refused promotion left the standby taking writes")
		}
		// Nothing acknowledged is missing on the standby. (A write the
		// leader appended and then answered NOT_ENOUGH_REPLICAS_AFTER_APPEND
		// for may be on the leader alone, as in Kafka.)
		st, _ := standby.cluster.Topic("cut")
		if end := int64(st.Partitions[0].Log.LogEndOffset()); end < ackedEnd {
			t.Fatalf("link cut %s: records acknowledged up to offset %d, standby holds %d", how, ackedEnd, end)
		}
		proxy.setCut(false)
		proxy.toStandby.set(false)
		proxy.toLeader.set(false)
		waitInSync(t, leader, "cut", 1)
		if failed := produce(5); failed != 0 {
			t.Fatalf("after the link healed (%s): %d writes failed", how, failed)
		}
		waitIdentical(t, leader, standby)
	}
	t.Logf("%d records acknowledged, all on both nodes", acked)
}

// TestRejoinTruncatesDivergedTail: records the old leader took alone
// (acks=1, the standby cut off) are cut from its log when it rejoins the
// promoted standby, whose history in the old epoch ended earlier
// (KIP-101): the two logs end identical.
func TestRejoinTruncatesDivergedTail(t *testing.T) {
	oldDir := t.TempDir()
	leader := testBroker(t, oldDir, "--replication.listener=127.0.0.1:0", "--replica.lag.time.max.ms=300")
	proxy := newLinkProxy(t, leader.ReplicationAddr())
	standby := testBroker(t, t.TempDir(), "--standby.of="+proxy.listener.Addr().String(), "--node.id=1", "--replica.lag.time.max.ms=300", "--replication.listener=127.0.0.1:0")
	defer standby.Close()
	createTopic(t, leader, "diverge", 1)
	produceKeyed(t, leader, "diverge", 0, 10)
	waitIdentical(t, leader, standby)

	proxy.setCut(true)
	time.Sleep(500 * time.Millisecond)
	produceKeyed(t, leader, "diverge", 10, 5) // the leader alone: acks=all with min.insync.replicas=1
	lt, _ := leader.cluster.Topic("diverge")
	if end := lt.Partitions[0].Log.LogEndOffset(); end != 15 {
		t.Fatalf("old leader end %d", end)
	}
	leader.Close()

	report, err := standby.promote(true)
	if err != nil || !report.Promoted {
		t.Fatalf("unclean promotion: %v %+v", err, report)
	}
	produceKeyed(t, standby, "diverge", 100, 3) // the new history, epoch 1
	rejoined := testBroker(t, oldDir, "--standby.of="+standby.ReplicationAddr(), "--node.id=0")
	defer rejoined.Close()
	waitIdentical(t, standby, rejoined)
	rt, _ := rejoined.cluster.Topic("diverge")
	if end := rt.Partitions[0].Log.LogEndOffset(); end != 13 {
		t.Fatalf("rejoined log ends at %d, want 13 (10 shared + 3 new)", end)
	}
}

// TestReplicationThrottle: with replication.throttle.bytes.per.second a
// standby catching up from far behind receives no faster than the
// throttle (a lower bound on time, which load can only lengthen), and
// still ends identical.
func TestReplicationThrottle(t *testing.T) {
	leader := testBroker(t, t.TempDir(), "--replication.listener=127.0.0.1:0", "--replication.throttle.bytes.per.second=2000000")
	defer leader.Close()
	createTopic(t, leader, "throttled", 1)
	c := client(t, leader, kgo.DefaultProduceTopic("throttled"), kgo.ProducerBatchCompression(kgo.NoCompression()))
	value := bytes.Repeat([]byte("x"), 1000)
	records := make([]*kgo.Record, 4000) // about 4 MB
	for i := range records {
		records[i] = &kgo.Record{Value: value}
	}
	if err := c.ProduceSync(ctxTimeout(t, 30*time.Second), records...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	standby := testBroker(t, t.TempDir(), "--standby.of="+leader.ReplicationAddr(), "--node.id=1")
	defer standby.Close()
	waitIdentical(t, leader, standby)
	if took := time.Since(started); took < time.Second {
		t.Fatalf("4 MB replicated in %v under a 2 MB/s throttle", took)
	}
}

// TestStandbyBehindRetention: while the standby is down the leader's log
// start moves past the standby's end (DeleteRecords here, retention alike);
// back, the standby restarts that partition at the leader's log start and
// the two logs are identical from there.
func TestStandbyBehindRetention(t *testing.T) {
	// (This leader sends batches by sendfile; the others by the copy path.)
	leader := testBroker(t, t.TempDir(), "--replication.listener=127.0.0.1:0", "--replica.lag.time.max.ms=300", "--fetch.path=sendfile")
	defer leader.Close()
	standbyDir := t.TempDir()
	standby := testBroker(t, standbyDir, "--standby.of="+leader.ReplicationAddr(), "--node.id=1")
	createTopic(t, leader, "retained", 1)
	produceKeyed(t, leader, "retained", 0, 100)
	waitIdentical(t, leader, standby)
	standby.Close()

	for i := 0; i < 10; i++ { // batches of 10: offset 150 starts one
		produceKeyed(t, leader, "retained", 100+10*i, 10)
	}
	adm := kadm.NewClient(client(t, leader))
	deleted, err := adm.DeleteRecords(ctxTimeout(t, 10*time.Second), kadm.Offsets{"retained": {0: kadm.Offset{At: 150}}})
	if err != nil || deleted.Error() != nil {
		t.Fatalf("DeleteRecords: %v %v", err, deleted.Error())
	}
	produceKeyed(t, leader, "retained", 200, 10)

	standby = testBroker(t, standbyDir, "--standby.of="+leader.ReplicationAddr(), "--node.id=1")
	defer standby.Close()
	waitIdentical(t, leader, standby)
	st, _ := standby.cluster.Topic("retained")
	if start, end := st.Partitions[0].Log.LogStartOffset(), st.Partitions[0].Log.LogEndOffset(); start != 150 || end != 210 {
		t.Fatalf("standby log [%d, %d), want [150, 210)", start, end)
	}
}

// requestFrame encodes req as a request frame body (header v1, no size).
func requestFrame(req kmsg.Request) []byte {
	frame := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	frame = binary.BigEndian.AppendUint16(frame, uint16(req.GetVersion()))
	frame = binary.BigEndian.AppendUint32(frame, 1)
	frame = binary.BigEndian.AppendUint16(frame, 0xffff) // null client id
	if req.IsFlexible() {
		frame = append(frame, 0)
	}
	return req.AppendTo(frame)
}
