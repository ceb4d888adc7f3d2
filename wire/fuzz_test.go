package wire

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine"
	"spool/engine/meta"
	"spool/segment"
)

// FuzzHandle feeds arbitrary request frames to a server over a real
// cluster. The invariant: Handle never panics, and when it answers, the
// response's size prefix matches its bytes. Fetch sessions are on, with
// ids counted from 1, so mutated session ids and epochs reach live
// sessions (the invariants build checks each session's list).
func FuzzHandle(f *testing.F) {
	dir, err := os.MkdirTemp("", "spool-fuzz-wire-")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	shard := engine.NewShard(engine.ShardConfig{CPU: -1})
	f.Cleanup(shard.Stop)
	cluster, err := meta.Open(meta.Config{
		DataDir:    dir,
		Shards:     []*engine.Shard{shard},
		Defaults:   engine.LogConfig{Segment: segment.Config{SegmentBytes: 1 << 20, IndexBytes: 64 << 10}},
		AutoCreate: true,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { cluster.Close() })
	if _, err := cluster.CreateTopic("t", 2, nil, false); err != nil {
		f.Fatal(err)
	}
	server, err := NewServer(Config{NodeID: 0, Host: "127.0.0.1", Port: 9092, ClusterID: "fuzz", Cluster: cluster, FetchSessionCacheSlots: 4})
	if err != nil {
		f.Fatal(err)
	}
	var nextID atomic.Int32
	server.sessions.randomID = func() int32 { return nextID.Add(1)%8 + 1 }
	// Seeds: a valid request of several APIs at several versions.
	for _, req := range []kmsg.Request{kmsg.NewPtrMetadataRequest(), kmsg.NewPtrApiVersionsRequest(), kmsg.NewPtrFetchRequest(), kmsg.NewPtrListOffsetsRequest(), kmsg.NewPtrProduceRequest(), kmsg.NewPtrCreateTopicsRequest()} {
		for _, version := range []int16{0, 3, 4, 7, 9, 12} {
			if version > req.MaxVersion() {
				continue
			}
			req.SetVersion(version)
			frame := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
			frame = binary.BigEndian.AppendUint16(frame, uint16(version))
			frame = binary.BigEndian.AppendUint32(frame, 1)
			frame = binary.BigEndian.AppendUint16(frame, 0xffff)
			if req.IsFlexible() {
				frame = append(frame, 0)
			}
			f.Add(req.AppendTo(frame))
		}
	}
	// Seeds: the shapes of a fetch session's life (make, incremental with
	// an added partition and a forgotten one, close), by name and by ID.
	topic, _ := cluster.Topic("t")
	for _, version := range []int16{7, 12, 13, 16} {
		for _, shape := range [][2]int32{{0, 0}, {1, 1}, {1, 2}, {1, -1}, {2, 1}} {
			req := kmsg.NewPtrFetchRequest()
			req.Version, req.ReplicaID, req.MaxBytes, req.SessionID, req.SessionEpoch = version, -1, 1<<20, shape[0], shape[1]
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = "t", topic.ID
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.PartitionMaxBytes = 1, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			if shape[1] > 0 {
				req.ForgottenTopics = []kmsg.FetchRequestForgottenTopic{{Topic: "t", TopicID: topic.ID, Partitions: []int32{0}}}
			}
			frame := binary.BigEndian.AppendUint16(nil, 1)
			frame = binary.BigEndian.AppendUint16(frame, uint16(version))
			frame = binary.BigEndian.AppendUint32(frame, 1)
			frame = binary.BigEndian.AppendUint16(frame, 0xffff)
			if req.IsFlexible() {
				frame = append(frame, 0)
			}
			f.Add(req.AppendTo(frame))
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		// A fetch long-polls until its max wait (up to fetchWaitMax) or
		// the context ends: end it soon, so one input is not a hang.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		var resp Response
		if err := server.Handle(ctx, frame, &resp); err != nil || resp.NoReply() {
			resp.Release()
			return
		}
		resp.Complete()
		total := int64(0)
		resp.Each(func(b []byte, e segment.Extent) error {
			total += int64(len(b)) + e.Length
			return nil
		})
		if total < 8 || int64(binary.BigEndian.Uint32(resp.buf)) != total-4 {
			t.Fatalf("size prefix %d for %d bytes", binary.BigEndian.Uint32(resp.buf), total)
		}
		resp.Release()
	})
}
