package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceFrame encodes req with a request header, as a client sends it
// (without the size prefix).
func produceFrame(req *kmsg.ProduceRequest, clientID string) []byte {
	frame := binary.BigEndian.AppendUint16(nil, 0)
	frame = binary.BigEndian.AppendUint16(frame, uint16(req.Version))
	frame = binary.BigEndian.AppendUint32(frame, 7)
	frame = binary.BigEndian.AppendUint16(frame, uint16(len(clientID)))
	frame = append(frame, clientID...)
	if req.IsFlexible() {
		frame = append(frame, 0)
	}
	return req.AppendTo(frame)
}

// randomProduce is a Produce request of random topics, partitions and
// records (opaque bytes: the scanner does not look inside).
func randomProduce(rng *rand.Rand, version int16) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = version, []int16{1, -1}[rng.IntN(2)], 1000
	for t := range 1 + rng.IntN(3) {
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = fmt.Sprintf("topic-%d-%s", t, bytes.Repeat([]byte("x"), rng.IntN(200)))
		rt.TopicID = [16]byte{byte(t + 1), byte(rng.Uint32())}
		for p := range rng.IntN(5) {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition = int32(p * 3)
			rp.Records = make([]byte, rng.IntN(3000))
			for i := range rp.Records {
				rp.Records[i] = byte(rng.Uint32())
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// scanInChunks feeds frame to a scanner in random chunks, as a socket
// delivers it, and returns what it yielded.
func scanInChunks(rng *rand.Rand, frame []byte, flexible bool, stopAfter int) []scannedPartition {
	got, _, _ := scanChunks(rng, frame, flexible, stopAfter)
	return got
}

// scanChunks is scanInChunks that also says whether every topic was
// scanned, and where the scan stopped.
func scanChunks(rng *rand.Rand, frame []byte, flexible bool, stopAfter int) ([]scannedPartition, bool, int) {
	return scanChunksByID(rng, frame, flexible, stopAfter, nil)
}

// scanChunksByID is scanChunks of a v13+ frame, whose topics topicName
// resolves (nil: a frame before v13).
func scanChunksByID(rng *rand.Rand, frame []byte, flexible bool, stopAfter int, topicName func([16]byte) (string, bool)) ([]scannedPartition, bool, int) {
	sc := produceScanner{flexible: flexible, size: len(frame), topicName: topicName}
	var got []scannedPartition
	for have := 0; have < len(frame); {
		have = min(len(frame), have+1+rng.IntN(max(1, len(frame)/4)))
		sc.scan(frame[:have], func(p scannedPartition) bool {
			got = append(got, p)
			return stopAfter == 0 || len(got) < stopAfter
		})
	}
	return got, sc.complete, sc.pos
}

// TestProduceScannerMatchesKmsg: fed in random chunks, the scanner yields
// every partition kmsg decodes from the whole frame, in order, with the
// same records, at every Produce version spool serves.
func TestProduceScannerMatchesKmsg(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for version := int16(3); version <= earlyProduceVersionMax; version++ {
		for range 200 {
			req := randomProduce(rng, version)
			frame := produceFrame(req, []string{"", "franz-go", "a-longer-client-id"}[rng.IntN(3)])
			var topicName func([16]byte) (string, bool)
			if version >= 13 {
				names := map[[16]byte]string{}
				for _, rt := range req.Topics {
					names[rt.TopicID] = rt.Topic
				}
				topicName = func(id [16]byte) (string, bool) { name, ok := names[id]; return name, ok }
			}
			got, _, _ := scanChunksByID(rng, frame, version >= 9, 0, topicName)
			var want []scannedPartition
			for i, rt := range req.Topics {
				for j, rp := range rt.Partitions {
					want = append(want, scannedPartition{topicIndex: i, partitionIndex: j, topic: rt.Topic, index: rp.Partition, records: rp.Records})
				}
			}
			if len(got) != len(want) {
				t.Fatalf("v%d: %d partitions scanned, want %d", version, len(got), len(want))
			}
			for k := range want {
				g, w := got[k], want[k]
				if g.topicIndex != w.topicIndex || g.partitionIndex != w.partitionIndex || g.topic != w.topic || g.index != w.index || !bytes.Equal(g.records, w.records) {
					t.Fatalf("v%d partition %d: scanned %s/%d (%d, %d; %d bytes), want %s/%d (%d, %d; %d bytes)", version, k,
						g.topic, g.index, g.topicIndex, g.partitionIndex, len(g.records), w.topic, w.index, w.topicIndex, w.partitionIndex, len(w.records))
				}
			}
		}
	}
}

// TestProduceScannerStops: requests that do not start early yield nothing,
// and a yield answering false ends the scan for good.
func TestProduceScannerStops(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, version := range []int16{3, 8, 9, 11} {
		base := func() *kmsg.ProduceRequest {
			req := kmsg.NewPtrProduceRequest()
			req.Version, req.Acks = version, -1
			for range 2 {
				rt := kmsg.NewProduceRequestTopic()
				rt.Topic = "t"
				for p := range 3 {
					rp := kmsg.NewProduceRequestTopicPartition()
					rp.Partition, rp.Records = int32(p), []byte("records")
					rt.Partitions = append(rt.Partitions, rp)
				}
				req.Topics = append(req.Topics, rt)
			}
			return req
		}
		txn := base()
		id := "txn"
		txn.TransactionID = &id
		acks0, acks2 := base(), base()
		acks0.Acks, acks2.Acks = 0, 2
		nullRecords := base()
		nullRecords.Topics[0].Partitions[1].Records = nil
		for name, req := range map[string]*kmsg.ProduceRequest{"transactional": txn, "acks=0": acks0, "acks=2": acks2} {
			if got := scanInChunks(rng, produceFrame(req, "c"), version >= 9, 0); len(got) != 0 {
				t.Fatalf("v%d %s: %d partitions started early", version, name, len(got))
			}
		}
		if got := scanInChunks(rng, produceFrame(nullRecords, "c"), version >= 9, 0); len(got) != 1 {
			t.Fatalf("v%d: null records: %d partitions started early, want the 1 before them", version, len(got))
		}
		if got := scanInChunks(rng, produceFrame(base(), "c"), version >= 9, 2); len(got) != 2 {
			t.Fatalf("v%d: yield said stop after 2, scanned %d", version, len(got))
		}
		if got := scanInChunks(rng, produceFrame(base(), "c"), version >= 9, 0); len(got) != 6 {
			t.Fatalf("v%d: %d partitions scanned, want 6", version, len(got))
		}
	}
}

// FuzzProduceScanner: on any bytes, in any chunks, the scanner never
// panics, and when it scans every topic, what it yields is what kmsg
// decodes from the whole frame whenever kmsg decodes it. (kmsg is asked
// only then: before v1.15.1 its tagged-field loop ran as many times as a
// section's count said, up to 2^32, even past the end of the bytes, and
// the scanner has bounded every section but the request's own, checked
// here.)
func FuzzProduceScanner(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, version := range []int16{3, 7, 9, 11} {
		req := randomProduce(rng, version)
		f.Add(produceFrame(req, "c"), uint64(1), version >= 9)
	}
	f.Fuzz(func(t *testing.T, frame []byte, seed uint64, flexible bool) {
		rng := rand.New(rand.NewPCG(seed, seed))
		got, complete, end := scanChunks(rng, frame, flexible, 0)
		if !complete {
			return
		}
		if flexible {
			r := scanReader{b: frame, pos: end}
			if count, ok, bad := r.uvarint(); !ok || bad || count > scanTagsMax {
				return
			}
		}
		version := int16(3)
		if flexible {
			version = 9
		}
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(version)
		var h RequestHeader
		if len(frame) < 8 {
			if len(got) > 0 {
				t.Fatal("scanned partitions of a frame without a header")
			}
			return
		}
		h.APIKey, h.APIVersion = 0, version
		body, err := parseHeaderRest(frame, &h, flexible)
		if err != nil || req.ReadFrom(body) != nil {
			return
		}
		k := 0
		for i, rt := range req.Topics {
			for j, rp := range rt.Partitions {
				if k == len(got) {
					return
				}
				g := got[k]
				if g.topicIndex != i || g.partitionIndex != j || g.topic != rt.Topic || g.index != rp.Partition || !bytes.Equal(g.records, rp.Records) {
					t.Fatalf("partition %d: scanned %s/%d (%d, %d), decoded %s/%d (%d, %d)", k, g.topic, g.index, g.topicIndex, g.partitionIndex, rt.Topic, rp.Partition, i, j)
				}
				k++
			}
		}
		if k != len(got) {
			t.Fatalf("scanned %d partitions, decoded %d", len(got), k)
		}
	})
}

// TestProduceScannerBounds: what kmsg would refuse, or what would make the
// scanner parse the same bytes again and again, ends the scan: more tags
// than a header allows, a varint over 5 bytes, more topics than bytes
// left in the frame.
func TestProduceScannerBounds(t *testing.T) {
	header := func(tags []byte) []byte {
		b := []byte{0, 0, 0, 9, 0, 0, 0, 1, 0xff, 0xff} // Produce v9, correlation 1, null client id
		return append(b, tags...)
	}
	body := func(topics []byte) []byte {
		b := []byte{0}                  // null transactional id (compact)
		b = append(b, 0xff, 0xff)       // acks -1
		b = append(b, 0, 0, 0x27, 0x10) // timeout
		return append(b, topics...)
	}
	good := append(header([]byte{0}), body([]byte{2, 2, 't', 2, 0, 0, 0, 0, 2, 'x', 0, 0, 0})...)
	for name, c := range map[string]struct {
		frame []byte
		size  int
		want  int
	}{
		"well formed":                {good, len(good), 1},
		"65 header tags":             {append(header([]byte{65}), make([]byte, 200)...), 0, 0},
		"a 6-byte varint":            {append(header([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x01}), make([]byte, 20)...), 0, 0},
		"more topics than bytes":     {append(header([]byte{0}), body([]byte{0xe9, 0x07})...), 40, 0},
		"more partitions than bytes": {append(header([]byte{0}), body([]byte{2, 2, 't', 0xe9, 0x07})...), 40, 0},
	} {
		sc := produceScanner{flexible: true, size: c.size}
		got := 0
		sc.scan(c.frame, func(scannedPartition) bool { got++; return true })
		if got != c.want {
			t.Fatalf("%s: %d partitions scanned, want %d", name, got, c.want)
		}
		if c.want == 0 && sc.stage != scanDone {
			t.Fatalf("%s: the scan waits for more bytes (stage %d) instead of ending", name, sc.stage)
		}
	}
}

// TestBodyTagCountDoesNotSpin: a flexible request body whose tagged-field
// count is huge and whose bytes then run out fails to decode at once.
// kmsg before v1.15.1 looped the count (up to 2^32) past the end of the
// bytes: a 20-byte Produce body held a connection's reader for many
// seconds (a fuzzed one took 19 s of CPU).
func TestBodyTagCountDoesNotSpin(t *testing.T) {
	body := []byte{0}                                 // null transactional id
	body = append(body, 0xff, 0xff, 0, 0, 0x27, 0x10) // acks -1, timeout
	body = append(body, 1)                            // no topics
	body = append(body, 0xff, 0xff, 0xff, 0xff, 0x0f) // 2^32-1 tags, and no bytes for them
	done := make(chan error, 1)
	go func() {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(9)
		done <- req.ReadFrom(body)
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a body with 2^32-1 tags and no bytes for them decoded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("decoding a body that claims 2^32-1 tags still runs after 10 s (kmsg older than v1.15.1?)")
	}
}
