package wire

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine"
	"spool/internal/batchtest"
	"spool/segment"
)

// materialize turns a response into the bytes a client receives.
func materialize(t testing.TB, resp *Response) []byte {
	t.Helper()
	out, err := materializeErr(resp)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// materializeErr is materialize for goroutines other than the test's,
// which must not call t.Fatal: it returns the error.
func materializeErr(resp *Response) ([]byte, error) {
	var out []byte
	err := resp.Each(func(b []byte, e segment.Extent) error {
		if b != nil {
			out = append(out, b...)
			return nil
		}
		buf := make([]byte, e.Length)
		if _, err := e.File.ReadAt(buf, e.Position); err != nil {
			return err
		}
		out = append(out, buf...)
		return nil
	})
	return out, err
}

// TestFetchEncodingRoundTrips encodes fetch responses by hand at every
// served version and decodes them with kmsg, the reference encoding.
func TestFetchEncodingRoundTrips(t *testing.T) {
	l, err := engine.OpenLog(t.TempDir(), engine.LogConfig{Segment: segment.Config{SegmentBytes: 1 << 20, IndexBytes: 64 << 10}, RetentionMillis: -1, RetentionBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 0; i < 10; i++ {
		if _, err := l.Append(batchtest.Values(3, 50, int64(1000+i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	for version := int16(4); version <= 18; version++ {
		req := kmsg.NewPtrFetchRequest()
		req.Version = version
		req.IsolationLevel = int8(version % 2)
		for _, name := range []string{"a", "b"} {
			topic := kmsg.NewFetchRequestTopic()
			topic.Topic = name
			topic.TopicID = [16]byte{byte(name[0])}
			for p := int32(0); p < 2; p++ {
				partition := kmsg.NewFetchRequestTopicPartition()
				partition.Partition = p
				topic.Partitions = append(topic.Partitions, partition)
			}
			req.Topics = append(req.Topics, topic)
		}
		results := make([]fetchPartition, 4)
		for i := range results {
			name := []string{"a", "b"}[i/2]
			results[i].topicName, results[i].topicID, results[i].partition = name, [16]byte{name[0]}, int32(i%2)
		}
		if err := l.Read(3, 1<<20, true, engine.ReadUncommitted, &results[0].read); err != nil {
			t.Fatal(err)
		}
		results[1].errorCode = 3 // UNKNOWN_TOPIC_OR_PARTITION
		if err := l.Read(30, 1<<20, true, engine.ReadUncommitted, &results[2].read); err != nil {
			t.Fatal(err)
		}
		results[3].read.HighWatermark = 30
		var resp Response
		encodeFetch(&RequestHeader{APIKey: 1, APIVersion: version, CorrelationID: 42}, req.IsolationLevel, results, 0, 0, &resp)
		wireBytes := materialize(t, &resp)
		resp.Release()
		if size := binary.BigEndian.Uint32(wireBytes); int(size) != len(wireBytes)-4 {
			t.Fatalf("v%d: size prefix %d, frame %d", version, size, len(wireBytes)-4)
		}
		if binary.BigEndian.Uint32(wireBytes[4:]) != 42 {
			t.Fatalf("v%d: correlation id", version)
		}
		body := wireBytes[8:]
		if version >= 12 {
			body = body[1:] // response header v1 tag buffer
		}
		decoded := kmsg.NewPtrFetchResponse()
		decoded.Version = version
		if err := decoded.ReadFrom(body); err != nil {
			t.Fatalf("v%d: kmsg cannot decode our response: %v", version, err)
		}
		if len(decoded.Topics) != 2 || len(decoded.Topics[0].Partitions) != 2 {
			t.Fatalf("v%d: shape %+v", version, decoded)
		}
		if version >= 13 && decoded.Topics[1].TopicID != ([16]byte{'b'}) || version < 13 && decoded.Topics[1].Topic != "b" {
			t.Fatalf("v%d: topic naming", version)
		}
		p0 := decoded.Topics[0].Partitions[0]
		if p0.HighWatermark != 30 || p0.ErrorCode != 0 || len(p0.RecordBatches) == 0 {
			t.Fatalf("v%d: partition 0: hw %d err %d %d bytes", version, p0.HighWatermark, p0.ErrorCode, len(p0.RecordBatches))
		}
		if first, err := segment.ParseHeader(p0.RecordBatches); err != nil || first.BaseOffset != 3 {
			t.Fatalf("v%d: first batch %+v %v", version, first, err)
		}
		if decoded.Topics[0].Partitions[1].ErrorCode != 3 {
			t.Fatalf("v%d: error code not carried", version)
		}
		empty := decoded.Topics[1].Partitions[0]
		if empty.RecordBatches == nil || len(empty.RecordBatches) != 0 {
			t.Fatalf("v%d: empty records must be an empty, non-null array: %v", version, empty.RecordBatches)
		}
		if version >= 4 && (req.IsolationLevel == 1) != (empty.AbortedTransactions != nil) {
			t.Fatalf("v%d: aborted transactions %v for isolation %d", version, empty.AbortedTransactions, req.IsolationLevel)
		}
		if !bytes.Equal(p0.RecordBatches[:8], []byte{0, 0, 0, 0, 0, 0, 0, 3}) {
			t.Fatalf("v%d: records do not start at offset 3", version)
		}
	}
}
