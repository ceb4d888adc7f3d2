package wire

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/segment"
)

// BenchmarkFetchIdle1000Partitions: a consumer of 1000 partitions
// polling while nothing is produced (min_bytes 0, max_wait 0), the steady
// state of a quiet consumer. full: every request names all 1000
// partitions and every response answers them; incremental: a session
// holds them, requests name none and responses are empty. Reports the
// request and response sizes besides CPU time and allocations.
func BenchmarkFetchIdle1000Partitions(b *testing.B) {
	const partitions = 1000
	server := sessionServer(b, partitions, 10)
	frameOf := func(req *kmsg.FetchRequest) []byte {
		frame := binary.BigEndian.AppendUint16(nil, 1)
		frame = binary.BigEndian.AppendUint16(frame, uint16(req.Version))
		frame = binary.BigEndian.AppendUint32(frame, 1)
		frame = binary.BigEndian.AppendUint16(frame, 0xffff)
		frame = append(frame, 0)
		return req.AppendTo(frame)
	}
	fullRequest := sessionFetch(0, -1, nil)
	fullRequest.Topics = []kmsg.FetchRequestTopic{manyPartitions(partitions)}
	run := func(b *testing.B, frame []byte, next func(frame []byte)) {
		var resp Response
		responseBytes := 0
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			next(frame)
			if err := server.Handle(context.Background(), frame, &resp); err != nil {
				b.Fatal(err)
			}
			resp.Complete()
			responseBytes = 0
			resp.Each(func(p []byte, e segment.Extent) error {
				responseBytes += len(p) + int(e.Length)
				return nil
			})
			resp.Release()
		}
		b.ReportMetric(float64(len(frame)+4), "request-bytes")
		b.ReportMetric(float64(responseBytes), "response-bytes")
	}
	b.Run("full", func(b *testing.B) {
		run(b, frameOf(fullRequest), func([]byte) {})
	})
	b.Run("incremental", func(b *testing.B) {
		create := *fullRequest
		create.SessionEpoch = 0
		id := roundTrip(b, server, &create).(*kmsg.FetchResponse).SessionID
		if id == 0 {
			b.Fatal("no session")
		}
		frame := frameOf(sessionFetch(id, 1, nil))
		// v12 body: replica_id, max_wait_ms, min_bytes, max_bytes (4
		// bytes each), isolation_level (1), session_id (4), then the
		// epoch, after the 11-byte request header.
		const epochAt = 11 + 4*4 + 1 + 4
		if int32(binary.BigEndian.Uint32(frame[epochAt:])) != 1 || int32(binary.BigEndian.Uint32(frame[epochAt-4:])) != id {
			b.Fatal("epoch not where expected")
		}
		epoch := int32(0)
		run(b, frame, func(frame []byte) {
			epoch = nextFetchSessionEpoch(epoch)
			binary.BigEndian.PutUint32(frame[epochAt:], uint32(epoch))
		})
		if server.sessions.incremental.Load() < int64(b.N) {
			b.Fatalf("only %d incremental fetches", server.sessions.incremental.Load())
		}
	})
}

func manyPartitions(n int32) kmsg.FetchRequestTopic {
	topic := kmsg.NewFetchRequestTopic()
	topic.Topic = "t"
	for p := int32(0); p < n; p++ {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes, rp.LogStartOffset = p, 1<<20, -1
		topic.Partitions = append(topic.Partitions, rp)
	}
	return topic
}
