package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/internal/batchtest"
)

// rawRequest frames a request: size, header v1 (or v2), body.
func rawRequest(key, version int16, correlation int32, flexible bool, body []byte) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(correlation))
	b = binary.BigEndian.AppendUint16(b, 4)
	b = append(b, "test"...)
	if flexible {
		b = append(b, 0)
	}
	b = append(b, body...)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

func dial(t *testing.T, b *Broker) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	return conn
}

// expectClosed reads until the broker closes the connection (EOF or a
// reset); a read timeout means it did not.
func expectClosed(t *testing.T, conn net.Conn, what string) {
	t.Helper()
	buf := make([]byte, 4096)
	for {
		_, err := conn.Read(buf)
		if err == nil {
			continue
		}
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			t.Fatalf("%s: the broker kept the connection open", what)
		}
		return
	}
}

// readResponse reads one response frame.
func readResponse(t *testing.T, conn net.Conn) []byte {
	t.Helper()
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		t.Fatalf("reading a response: %v", err)
	}
	frame := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(conn, frame); err != nil {
		t.Fatal(err)
	}
	return frame
}

// healthy proves the broker still serves a real client.
func healthy(t *testing.T, b *Broker) {
	t.Helper()
	c := client(t, b)
	if err := c.Ping(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatalf("broker no longer serves clients: %v", err)
	}
}

func TestBadFramesCloseTheConnection(t *testing.T) {
	b := testBroker(t, t.TempDir(), "--socket.request.timeout.ms=500", "--socket.request.max.bytes=1048576")
	defer b.Close()
	cases := map[string][]byte{
		"negative size":      binary.BigEndian.AppendUint32(nil, 0xfffffff0),
		"zero size":          binary.BigEndian.AppendUint32(nil, 0),
		"tiny size":          append(binary.BigEndian.AppendUint32(nil, 3), 1, 2, 3),
		"huge size":          binary.BigEndian.AppendUint32(nil, 1<<30),
		"over the max":       binary.BigEndian.AppendUint32(nil, 2<<20),
		"unknown api key":    rawRequest(9999, 0, 1, false, nil),
		"unserved version":   rawRequest(3, 99, 1, false, nil),
		"array count > rest": rawRequest(3, 1, 1, false, binary.BigEndian.AppendUint32(nil, 1_000_000)),
		"garbage after body": rawRequest(3, 1, 1, false, append(binary.BigEndian.AppendUint32(nil, 0), 0xde, 0xad)),
		"truncated frame":    rawRequest(3, 1, 1, false, nil)[:10],
	}
	for name, frame := range cases {
		t.Run(name, func(t *testing.T) {
			conn := dial(t, b)
			conn.Write(frame)
			expectClosed(t, conn, name)
		})
	}
	t.Run("stall in the size", func(t *testing.T) {
		// Two of the four size bytes, then silence: the request timeout
		// (500 ms here) closes it, not the 10-minute idle timeout.
		conn := dial(t, b)
		conn.Write([]byte{0, 0})
		expectClosed(t, conn, "stall in the size")
	})
	t.Run("stall mid-frame", func(t *testing.T) {
		conn := dial(t, b)
		conn.Write(binary.BigEndian.AppendUint32(nil, 100))
		conn.Write([]byte{0, 3})
		start := time.Now()
		expectClosed(t, conn, "stall")
		t.Logf("closed %v after the stall", time.Since(start).Round(time.Millisecond))
	})
	healthy(t, b)
}

func TestAPIVersionsUnsupportedAnswersV0(t *testing.T) {
	b := testBroker(t, t.TempDir())
	defer b.Close()
	conn := dial(t, b)
	conn.Write(rawRequest(18, 99, 7, true, []byte{0, 0, 0}))
	frame := readResponse(t, conn)
	if binary.BigEndian.Uint32(frame) != 7 {
		t.Fatalf("correlation id %d", binary.BigEndian.Uint32(frame))
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	if err := resp.ReadFrom(frame[4:]); err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) == 0 {
		t.Fatalf("error %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
	// The response header is v0: the body starts right after the
	// correlation id, which the successful v0 decode above proves.
}

func TestCorruptBatchesAreRefused(t *testing.T) {
	b := testBroker(t, t.TempDir())
	defer b.Close()
	c := client(t, b, kgo.DefaultProduceTopic("guarded"), kgo.AllowAutoTopicCreation())
	ctx := ctxTimeout(t, 20*time.Second)
	if err := c.ProduceSync(ctx, &kgo.Record{Value: []byte("ok")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	good := batchtest.Build([]batchtest.Record{{Value: []byte("x"), Timestamp: time.Now().UnixMilli()}})
	want := map[string]int16{"two batches": kerr.InvalidRecord.Code}
	for name, edit := range map[string]func([]byte) []byte{
		// Kafka takes exactly one batch per partition from v3 on.
		"two batches": func(b []byte) []byte { return append(b, b...) },
		"garbage after": func(b []byte) []byte {
			return append(b, "garbage garbage garbage garbage garbage garbage garbage garbage"...)
		},
		"bad crc":            func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b },
		"wrong record count": func(b []byte) []byte { binary.BigEndian.PutUint32(b[57:], 2); return b },
		"truncated batch":    func(b []byte) []byte { return b[:len(b)-3] },
		"not a batch": func(b []byte) []byte {
			return []byte("garbage garbage garbage garbage garbage garbage garbage garbage")
		},
	} {
		req := kmsg.NewPtrProduceRequest()
		req.Version = 7
		req.Acks = 1
		req.TimeoutMillis = 5000
		topic := kmsg.NewProduceRequestTopic()
		topic.Topic = "guarded"
		partition := kmsg.NewProduceRequestTopicPartition()
		partition.Records = edit(append([]byte(nil), good...))
		topic.Partitions = append(topic.Partitions, partition)
		req.Topics = append(req.Topics, topic)
		conn := dial(t, b)
		conn.Write(rawRequest(0, 7, 1, false, req.AppendTo(nil)))
		frame := readResponse(t, conn)
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = 7
		if err := resp.ReadFrom(frame[4:]); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		code, wanted := resp.Topics[0].Partitions[0].ErrorCode, kerr.CorruptMessage.Code
		if w, ok := want[name]; ok {
			wanted = w
		}
		if code != wanted {
			t.Fatalf("%s: error %v, want %v", name, kerr.ErrorForCode(code), kerr.ErrorForCode(wanted))
		}
	}
	records := consumeAll(t, b, "guarded", 1)
	if len(records) != 1 || string(records[0].Value) != "ok" {
		t.Fatalf("the log holds %d records", len(records))
	}
	healthy(t, b)
}

// TestReplicationListenerBadFrames: on the replication listener, a frame
// whose size cannot be right, followed by silence, closes the connection
// as soon as the four size bytes arrive: well before the 10 s hello
// deadline (this test gives up after 5 s), where before only that
// deadline closed it. The leader still serves a standby afterwards.
func TestReplicationListenerBadFrames(t *testing.T) {
	leader := testBroker(t, t.TempDir(), "--replication.listener=127.0.0.1:0")
	defer leader.Close()
	for _, size := range []uint32{0xffffffff, 0x80000000, 0, 1, 2, 3, 4, 0x7fffffff} {
		conn, err := net.DialTimeout("tcp", leader.ReplicationAddr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write(binary.BigEndian.AppendUint32(nil, size)); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, conn, fmt.Sprintf("replication frame of size %#x", size))
		conn.Close()
	}
	standby := testBroker(t, t.TempDir(), "--standby.of="+leader.ReplicationAddr(), "--node.id=1")
	defer standby.Close()
	createTopic(t, leader, "after-bad-frames", 1)
	produceKeyed(t, leader, "after-bad-frames", 0, 5)
	waitIdentical(t, leader, standby)
}

// TestBrokerOnlyFieldsRefused: a Produce (franz-go's client sending raw
// kmsg requests) whose batch sets what only the broker may set gets
// Kafka's error code and stores nothing; the broker then takes and serves
// an ordinary producer's records.
func TestBrokerOnlyFieldsRefused(t *testing.T) {
	b := testBroker(t, t.TempDir())
	defer b.Close()
	createTopic(t, b, "fields", 1)
	c := client(t, b)
	ctx := ctxTimeout(t, 30*time.Second)
	records := []batchtest.Record{{Value: []byte("forged"), Timestamp: time.Now().UnixMilli()}}
	cases := []struct {
		name string
		opts batchtest.Options
		want int16
	}{
		{"control bit", batchtest.Options{ProducerID: -1, BaseSequence: -1, Attributes: 0x20}, kerr.InvalidRecord.Code},
		{"codec 6", batchtest.Options{ProducerID: -1, BaseSequence: -1, Attributes: 6}, kerr.UnsupportedCompressionType.Code},
		{"negative sequence", batchtest.Options{ProducerID: 1, BaseSequence: -2}, kerr.InvalidRecord.Code},
		{"transactional bit", batchtest.Options{ProducerID: 1, BaseSequence: 0, Attributes: 0x10}, kerr.TransactionalIDAuthorizationFailed.Code},
	}
	for _, tc := range cases {
		// (franz-go sends the highest version both sides speak: v13 names
		// the topic by its ID.)
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 5000
		topic := kmsg.NewProduceRequestTopic()
		topic.Topic, topic.TopicID = "fields", topicID(t, ctx, c, "fields")
		partition := kmsg.NewProduceRequestTopicPartition()
		partition.Records = batchtest.BuildWith(records, tc.opts)
		topic.Partitions = append(topic.Partitions, partition)
		req.Topics = append(req.Topics, topic)
		resp, err := req.RequestWith(ctx, c)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := resp.Topics[0].Partitions[0].ErrorCode; got != tc.want {
			t.Errorf("%s: error %d, want %d", tc.name, got, tc.want)
		}
	}
	if end := endOffsets(t, kadm.NewClient(c), "fields")[0]; end != 0 {
		t.Fatalf("refused batches were stored: log end %d", end)
	}
	produceKeyed(t, b, "fields", 0, 3)
	if got := consumeAll(t, b, "fields", 3); len(got) != 3 || string(got[0].Value) != "fields-0" {
		t.Fatalf("after the refusals: %d records, first %q", len(got), got[0].Value)
	}
}
