package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRawBatchDecodes decodes the raw producer's batch with franz-go's
// schemas: header fields, CRC and every record.
func TestRawBatchDecodes(t *testing.T) {
	value := []byte("0123456789abcdef")
	for _, count := range []int{1, 7, 300} {
		raw := appendRawBatch([]byte("prefix"), value, count, 1700000000123, 42, 3, 99)[len("prefix"):]
		var b kmsg.RecordBatch
		if err := b.ReadFrom(raw); err != nil {
			t.Fatal(err)
		}
		if int(b.Length) != len(raw)-batchLengthFieldBytes || b.Magic != 2 || b.NumRecords != int32(count) ||
			b.LastOffsetDelta != int32(count-1) || b.ProducerID != 42 || b.ProducerEpoch != 3 || b.FirstSequence != 99 ||
			b.FirstTimestamp != 1700000000123 || b.MaxTimestamp != 1700000000123 || b.Attributes != 0 {
			t.Fatalf("%d records: header %+v", count, b)
		}
		if got := crc32.Checksum(raw[batchAttributesAt:], castagnoli); uint32(b.CRC) != got {
			t.Fatalf("CRC %08x, computed %08x", uint32(b.CRC), got)
		}
		rest := b.Records
		for i := range count {
			length, n := binary.Varint(rest)
			if n <= 0 || int(length) > len(rest)-n {
				t.Fatalf("record %d: length %d", i, length)
			}
			var r kmsg.Record
			if err := r.ReadFrom(rest[:n+int(length)]); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
			if r.OffsetDelta != int32(i) || r.Key != nil || !bytes.Equal(r.Value, value) || len(r.Headers) != 0 {
				t.Fatalf("record %d: %+v", i, r)
			}
			if rawRecordBytes(len(value), i) != n+int(length) {
				t.Fatalf("record %d: %d bytes, rawRecordBytes says %d", i, n+int(length), rawRecordBytes(len(value), i))
			}
			rest = rest[n+int(length):]
		}
		if len(rest) != 0 {
			t.Fatalf("%d bytes after the last record", len(rest))
		}
	}
}

// TestRawBatchRecordsFill: a batch of rawBatchRecords records fits in
// the bound and one more would not.
func TestRawBatchRecordsFill(t *testing.T) {
	for _, c := range []struct{ size, bound int }{{100, 16384}, {1024, 1 << 20}, {1, 1024}, {5000, 1024}, {127, 4096}} {
		n := rawBatchRecords(c.size, c.bound)
		got := len(appendRawBatch(nil, make([]byte, c.size), n, 0, -1, -1, -1))
		more := len(appendRawBatch(nil, make([]byte, c.size), n+1, 0, -1, -1, -1))
		if (got > c.bound && n > 1) || more <= c.bound {
			t.Fatalf("%d B records, bound %d: %d records take %d bytes, %d take %d", c.size, c.bound, n, got, n+1, more)
		}
	}
}

// TestRawProduceStoresEveryRecord runs the raw producer against kfake,
// plain (pipelined) and idempotent (kfake checks the sequences), then
// reads the topic back: every acknowledged record is there exactly once,
// with its value, and nothing else.
func TestRawProduceStoresEveryRecord(t *testing.T) {
	for _, idempotent := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "idempotent"}[idempotent], func(t *testing.T) {
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			cfg := Config{Workload: WorkloadProduce, Broker: "kfake", Bootstrap: cluster.ListenAddrs(), Client: ClientRaw,
				Partitions: 3, Producers: 2, RecordBytes: 100, BatchBytes: 4096, Records: 30_000, Idempotent: idempotent, Inflight: 4}
			if idempotent {
				cfg.Inflight = 1
			}
			r := tinyRun(t, cfg)
			c := r.Counts
			if c.Sent == 0 || c.Acked != c.Sent || c.Failed != 0 || c.Unacked != 0 || c.Sent > cfg.Records || c.RequestErrors != 0 {
				t.Fatalf("counts %+v", c)
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Bootstrap...), kgo.ConsumeTopics(r.Config.Topic),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			next := map[int32]int64{}
			var got int64
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for got < c.Acked && ctx.Err() == nil {
				fetches := cl.PollFetches(ctx)
				fetches.EachRecord(func(rec *kgo.Record) {
					if rec.Offset != next[rec.Partition] || len(rec.Value) != cfg.RecordBytes || rec.Key != nil {
						t.Fatalf("partition %d: offset %d (want %d), %d-byte value", rec.Partition, rec.Offset, next[rec.Partition], len(rec.Value))
					}
					if idempotent != (rec.ProducerID >= 0) {
						t.Fatalf("producer id %d", rec.ProducerID)
					}
					next[rec.Partition]++
					got++
				})
			}
			if got != c.Acked || len(next) != cfg.Partitions {
				t.Fatalf("read %d records from %d partitions, %d acknowledged", got, len(next), c.Acked)
			}
		})
	}
}

// TestRawProduceAcksZero: with acks=0 a record counts as acknowledged when
// written, as franz-go counts it.
func TestRawProduceAcksZero(t *testing.T) {
	sink := newTestSink(t)
	r := tinyRun(t, Config{Workload: WorkloadProduce, Broker: "sink", Bootstrap: []string{sink.Addr()}, Client: ClientRaw, Acks: "0",
		RecordBytes: 1024, Inflight: 2})
	if c := r.Counts; c.Sent == 0 || c.Acked != c.Sent || c.Measured == 0 {
		t.Fatalf("counts %+v", c)
	}
}

func TestRawClientLimits(t *testing.T) {
	base := Config{Workload: WorkloadProduce, Bootstrap: []string{"127.0.0.1:1"}, Client: ClientRaw}
	for _, change := range []func(*Config){
		func(c *Config) { c.Workload = WorkloadE2E },
		func(c *Config) { c.Workload = WorkloadCatchup },
		func(c *Config) { c.Compression = "lz4" },
		func(c *Config) { c.Client = "sarama" },
	} {
		cfg := base
		change(&cfg)
		cfg.SetDefaults()
		if cfg.Validate() == nil {
			t.Fatalf("%+v accepted", cfg)
		}
	}
	base.SetDefaults()
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestRawInflightBound: the raw producer never has more than Inflight
// requests unanswered. A fake broker on a pipe reads requests until none
// comes for a while, counts them, then answers them all.
func TestRawInflightBound(t *testing.T) {
	for _, inflight := range []int{1, 3} {
		client, server := net.Pipe()
		s := &rawStream{c: &rawConn{conn: client, reader: bufio.NewReader(client)}, partitions: []int32{0, 1},
			perBatch: 5, acks: -1, version: 7}
		if err := s.build("t", []byte("value"), -1, -1); err != nil {
			t.Fatal(err)
		}
		const requests = 12
		r := &run{cfg: Config{Inflight: inflight}, clk: realClock{base: time.Now()}}
		r.active.Store(true)
		served := make(chan []int, 1)
		go func() {
			defer server.Close()
			var rounds []int
			var out []byte
			answered := 0
			for answered < requests {
				var corrs []uint32
				for {
					server.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
					var size [4]byte
					if _, err := io.ReadFull(server, size[:]); err != nil {
						break
					}
					frame := make([]byte, binary.BigEndian.Uint32(size[:]))
					server.SetReadDeadline(time.Time{})
					if _, err := io.ReadFull(server, frame); err != nil {
						served <- nil
						return
					}
					corrs = append(corrs, binary.BigEndian.Uint32(frame[4:]))
				}
				rounds = append(rounds, len(corrs))
				for _, corr := range corrs {
					resp := kmsg.NewPtrProduceResponse()
					resp.SetVersion(7)
					topic := kmsg.NewProduceResponseTopic()
					topic.Topic = "t"
					for p := range int32(2) {
						part := kmsg.NewProduceResponseTopicPartition()
						part.Partition = p
						topic.Partitions = append(topic.Partitions, part)
					}
					resp.Topics = append(resp.Topics, topic)
					out = appendResponse(out[:0], corr, false, resp)
					if _, err := server.Write(out); err != nil {
						served <- nil
						return
					}
				}
				answered += len(corrs)
			}
			served <- rounds
		}()
		abort, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		r.runRawStream(abort, s, time.Minute, requests*10)
		cancel()
		rounds := <-served
		most := 0
		for _, n := range rounds {
			most = max(most, n)
		}
		if most != inflight {
			t.Fatalf("inflight %d: requests unanswered at once, per round: %v", inflight, rounds)
		}
		if c := &r.counts; c.sent.Load() != requests*10 || c.acked.Load() != requests*10 {
			t.Fatalf("inflight %d: sent %d acked %d", inflight, c.sent.Load(), c.acked.Load())
		}
	}
}
