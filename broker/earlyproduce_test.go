package broker

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/internal/batchtest"
	"spool/internal/metrics"
)

// earlyFrame is a Produce request of one batch of perBatch 1 KiB records
// for each of partitions, framed, and where the records of partition 1
// end in it.
func earlyFrame(t *testing.T, topic string, version int16, partitions, perBatch int) (frame []byte, afterSecond int) {
	t.Helper()
	ids := make([]int32, partitions)
	for p := range ids {
		ids[p] = int32(p)
	}
	return earlyFrameOf(t, topic, version, -1, ids, perBatch)
}

// earlyFrameOf is earlyFrame for the given partition ids and acks.
func earlyFrameOf(t *testing.T, topic string, version, acks int16, ids []int32, perBatch int) (frame []byte, afterSecond int) {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = version, acks, 10_000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	now := time.Now().UnixMilli()
	for _, p := range ids {
		// Timestamps differ per partition, so each batch's bytes are
		// its own and can be found in the frame.
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = p, batchtest.Values(perBatch, 1024, now+int64(p)*1000)
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	frame = rawRequest(0, version, 1, req.IsFlexible(), req.AppendTo(nil))
	second := rt.Partitions[1].Records
	at := bytes.Index(frame, second)
	if at < 0 {
		t.Fatal("partition 1's batch not in the frame")
	}
	return frame, at + len(second)
}

// endOffsets are the partitions' high watermarks.
func endOffsets(t *testing.T, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	ends, err := adm.ListEndOffsets(ctxTimeout(t, 10*time.Second), topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// waitEnds waits until the first partitions reach want while the others
// stay where they were.
func waitEnds(t *testing.T, adm *kadm.Client, topic string, first int, want, others int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ends := endOffsets(t, adm, topic)
		ok := true
		for p, end := range ends {
			if int(p) < first && end != want {
				ok = false
			}
			if int(p) >= first && end != others {
				t.Fatalf("partition %d at %d before its records arrived (want %d): %v", p, end, others, ends)
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("partitions below %d never reached %d while the frame was incomplete: %v", first, want, ends)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestEarlyProduce: a large Produce frame's partitions are appended (and,
// for acks=all, synced) as their records arrive, before the frame is
// whole; the answer, once the rest arrives, has every partition's offsets,
// and a franz-go consumer reads every record once. Both encodings
// (v7 and flexible v9).
func TestEarlyProduce(t *testing.T) {
	b := testBroker(t, t.TempDir())
	defer b.Close()
	adm := kadm.NewClient(client(t, b))
	const topic, partitions, perBatch = "early", 4, 200
	if _, err := adm.CreateTopic(ctxTimeout(t, 10*time.Second), partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	for round, version := range []int16{7, 9} {
		frame, afterSecond := earlyFrame(t, topic, version, partitions, perBatch)
		early := metrics.ProduceEarlyBatches.Load()
		conn := dial(t, b)
		if _, err := conn.Write(frame[:afterSecond+1]); err != nil {
			t.Fatal(err)
		}
		base := int64(round * perBatch)
		waitEnds(t, adm, topic, 2, base+perBatch, base)
		if _, err := conn.Write(frame[afterSecond+1:]); err != nil {
			t.Fatal(err)
		}
		resp := produceResponse(t, conn, version)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != partitions {
			t.Fatalf("v%d: response %+v", version, resp.Topics)
		}
		for _, p := range resp.Topics[0].Partitions {
			if p.ErrorCode != 0 || p.BaseOffset != base {
				t.Fatalf("v%d: partition %d: error %d, base offset %d (want %d)", version, p.Partition, p.ErrorCode, p.BaseOffset, base)
			}
		}
		if got := metrics.ProduceEarlyBatches.Load() - early; got != partitions {
			t.Fatalf("v%d: %d batches started early, want %d", version, got, partitions)
		}
		waitEnds(t, adm, topic, partitions, base+perBatch, 0)
	}
	checkEarlyRecords(t, b, topic, 2*partitions*perBatch, perBatch, 0)
}

// checkEarlyRecords reads n records of topic, written as earlyFrame's
// batches of perBatch, and checks each partition's offsets run from 0 in
// order with the values earlyFrame gave them, and their timestamp type.
func checkEarlyRecords(t *testing.T, b *Broker, topic string, n, perBatch int, timestampType int8) {
	t.Helper()
	next := map[int32]int64{}
	for _, r := range consumeAll(t, b, topic, n) {
		if r.Offset != next[r.Partition] || len(r.Value) != 1024 || r.Value[0] != byte(r.Offset%int64(perBatch)) || r.Attrs.TimestampType() != timestampType {
			t.Fatalf("partition %d: offset %d (want %d), value starts %d, timestamp type %d", r.Partition, r.Offset, next[r.Partition], r.Value[0], r.Attrs.TimestampType())
		}
		next[r.Partition]++
	}
}

// TestEarlyProduceFrameNeverCompletes: a peer that closes mid-frame, or
// sends a frame whose end does not decode, gets no answer, and the broker
// goes on serving; the batches that arrived whole were appended (the
// documented at-least-once difference from reading the frame first).
func TestEarlyProduceFrameNeverCompletes(t *testing.T) {
	b := testBroker(t, t.TempDir())
	defer b.Close()
	adm := kadm.NewClient(client(t, b))
	const topic, partitions, perBatch = "cut", 4, 200
	if _, err := adm.CreateTopic(ctxTimeout(t, 10*time.Second), partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	frame, afterSecond := earlyFrame(t, topic, 9, partitions, perBatch)
	conn := dial(t, b)
	if _, err := conn.Write(frame[:afterSecond+1]); err != nil {
		t.Fatal(err)
	}
	waitEnds(t, adm, topic, 2, perBatch, 0)
	conn.Close()

	// The same frame with its last partition's records cut short by a
	// wrong length: the frame is whole but does not decode.
	frame, afterSecond = earlyFrame(t, topic, 7, partitions, perBatch)
	bad := append([]byte(nil), frame...)
	bad = bad[:len(bad)-10]
	bad[0], bad[1], bad[2], bad[3] = byte((len(bad)-4)>>24), byte((len(bad)-4)>>16), byte((len(bad)-4)>>8), byte(len(bad)-4)
	conn = dial(t, b)
	if _, err := conn.Write(bad); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, conn, "a Produce frame that does not decode")
	healthy(t, b)
	ends := endOffsets(t, adm, topic)
	if ends[0] != 2*perBatch || ends[1] != 2*perBatch || ends[2] > perBatch || ends[3] != 0 {
		t.Fatalf("end offsets %v", ends)
	}
	// The partitions take new records as usual.
	c := client(t, b, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := c.ProduceSync(ctxTimeout(t, 10*time.Second), &kgo.Record{Partition: 3, Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestEarlyProduceFranzGo: franz-go's idempotent producer, batching 1 KiB
// records uncompressed into requests of several 1 MiB batches, goes through the early
// path; every record is read back once, in order.
func TestEarlyProduceFranzGo(t *testing.T) {
	b := testBroker(t, t.TempDir())
	defer b.Close()
	const topic, partitions, perPartition = "early-franz", 4, 3000
	c := client(t, b, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(100*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if _, err := kadm.NewClient(c).CreateTopic(ctxTimeout(t, 10*time.Second), partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	early := metrics.ProduceEarlyBatches.Load()
	ctx := ctxTimeout(t, 30*time.Second)
	value := make([]byte, 1024)
	for i := range perPartition {
		for p := range int32(partitions) {
			v := append([]byte(nil), value...)
			v[0], v[1] = byte(i), byte(i>>8)
			c.Produce(ctx, &kgo.Record{Partition: p, Value: v}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
		}
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := metrics.ProduceEarlyBatches.Load() - early; got == 0 {
		t.Fatal("no batch started early")
	} else {
		t.Logf("%d batches started early", got)
	}
	next := map[int32]int{}
	for _, r := range consumeAll(t, b, topic, partitions*perPartition) {
		i := next[r.Partition]
		if r.Offset != int64(i) || int(r.Value[0])|int(r.Value[1])<<8 != i {
			t.Fatalf("partition %d: record %d at offset %d holds %d", r.Partition, i, r.Offset, int(r.Value[0])|int(r.Value[1])<<8)
		}
		next[r.Partition]++
	}
}

// produceResponse reads a Produce response at version.
func produceResponse(t *testing.T, conn net.Conn, version int16) *kmsg.ProduceResponse {
	t.Helper()
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = version
	body := readResponse(t, conn)[4:]
	if version >= 9 {
		body = body[1:] // response header tags
	}
	if err := resp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestEarlyProduceGrowsAndStops: a frame larger than the first buffer
// (grown twice while its first partitions are appended), to a
// LogAppendTime topic (the shard stamps each batch in place) with acks=1,
// whose third partition does not exist: the scan stops there, the handler
// answers it UNKNOWN_TOPIC_OR_PARTITION and appends the fourth itself, and
// every record reads back. Under -race this also checks that the growing
// buffer does not copy records a shard is stamping.
func TestEarlyProduceGrowsAndStops(t *testing.T) {
	b := testBroker(t, t.TempDir())
	defer b.Close()
	adm := kadm.NewClient(client(t, b))
	const topic, perBatch = "grow", 700
	logAppend := "LogAppendTime"
	if _, err := adm.CreateTopic(ctxTimeout(t, 10*time.Second), 3, 1, map[string]*string{"message.timestamp.type": &logAppend}, topic); err != nil {
		t.Fatal(err)
	}
	for round, version := range []int16{8, 11} {
		early := metrics.ProduceEarlyBatches.Load()
		frame, _ := earlyFrameOf(t, topic, version, 1, []int32{0, 1, 99, 2}, perBatch)
		conn := dial(t, b)
		for sent := 0; sent < len(frame); sent += 64 << 10 {
			if _, err := conn.Write(frame[sent:min(len(frame), sent+64<<10)]); err != nil {
				t.Fatal(err)
			}
		}
		resp := produceResponse(t, conn, version)
		want := map[int32]int16{0: 0, 1: 0, 99: 3, 2: 0}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 4 {
			t.Fatalf("v%d: response %+v", version, resp.Topics)
		}
		for k, p := range resp.Topics[0].Partitions {
			if p.Partition != []int32{0, 1, 99, 2}[k] || p.ErrorCode != want[p.Partition] {
				t.Fatalf("v%d: answer %d: partition %d error %d", version, k, p.Partition, p.ErrorCode)
			}
			if p.ErrorCode == 0 && (p.BaseOffset != int64(round*perBatch) || p.LogAppendTime <= 0) {
				t.Fatalf("v%d: partition %d: base offset %d, log append time %d", version, p.Partition, p.BaseOffset, p.LogAppendTime)
			}
		}
		if got := metrics.ProduceEarlyBatches.Load() - early; got != 2 {
			t.Fatalf("v%d: %d batches started early, want 2 (the scan stops at the unknown partition)", version, got)
		}
	}
	checkEarlyRecords(t, b, topic, 2*3*perBatch, perBatch, 1)
}
