package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The raw producer (Config.Client "raw") is the harness's lean load
// generator for the produce workload. franz-go spends most of a 2-core
// machine's CPU building batches of small records (at 100 B records the
// client took ≥ 75 % of the samples while the broker took ~12 %), so with
// the client on the broker's machine a throughput comparison between two
// brokers measures the client as much as the brokers. The raw producer
// builds its requests once: per producer and leader, one Produce request
// holding a batch of as many records as fit in BatchBytes for every
// partition the leader leads, encoded with this file's own code. It then
// sends that request over and over on its own connection, pipelined up to
// Inflight (each request's correlation ID patched in place; an idempotent
// producer's batches also get their base sequence and CRC rewritten per
// request, and it keeps one request in flight). The broker sees what a
// client sends — valid v2 record batches, acks, sequences — but the
// client's cost per record is gone. Every batch carries the same records;
// the broker assigns offsets, so each is stored anew.
//
// Accounting is the same as franz-go's: a record is sent when its request
// is written, acknowledged when its partition's answer has error code 0
// (acks=0: when written), failed on any other code, and unacknowledged
// when the connection fails or the drain deadline passes first. There are
// no retries: a connection error ends that producer's stream and counts
// as a request error.

// Offsets in a RecordBatch v2 header (see the sink's batchHeaderBytes).
const (
	batchCRCAt        = 17
	batchAttributesAt = 21
	batchProducerAt   = 43
	batchSequenceAt   = 53
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// rawClientID names the raw producer in request headers.
const rawClientID = "spool-bench-raw"

// rawProduceVersionMax is the newest Produce version the raw producer
// sends: v12 and later may name topics by ID.
const rawProduceVersionMax = 11

// rawRecordBytes is the encoded size of one record with a null key, no
// headers and a value of n bytes, at offset delta d.
func rawRecordBytes(n, d int) int {
	body := 1 + 1 + varintBytes(int64(d)) + 1 + varintBytes(int64(n)) + n + 1
	return varintBytes(int64(body)) + body
}

func varintBytes(v int64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutVarint(b[:], v)
}

// rawBatchRecords is how many records of n bytes fit in a batch of at most
// batchBytes (at least one, as a client sends an oversized record alone).
func rawBatchRecords(n, batchBytes int) int {
	size, count := batchHeaderBytes, 0
	for {
		next := rawRecordBytes(n, count)
		if size+next > batchBytes {
			return max(count, 1)
		}
		size += next
		count++
	}
}

// appendRawBatch appends a RecordBatch v2 of count records holding value,
// with timestamp ts (ms), for producer id/epoch (-1 when not idempotent)
// starting at sequence seq, its CRC computed.
func appendRawBatch(dst, value []byte, count int, ts int64, producerID int64, epoch int16, seq int32) []byte {
	start := len(dst)
	dst = binary.BigEndian.AppendUint64(dst, 0)                  // base offset
	dst = binary.BigEndian.AppendUint32(dst, 0)                  // batch length, below
	dst = binary.BigEndian.AppendUint32(dst, 0xffffffff)         // partition leader epoch
	dst = append(dst, 2)                                         // magic
	dst = binary.BigEndian.AppendUint32(dst, 0)                  // CRC, below
	dst = binary.BigEndian.AppendUint16(dst, 0)                  // attributes: no codec, CreateTime
	dst = binary.BigEndian.AppendUint32(dst, uint32(count-1))    // last offset delta
	dst = binary.BigEndian.AppendUint64(dst, uint64(ts))         // first timestamp
	dst = binary.BigEndian.AppendUint64(dst, uint64(ts))         // max timestamp
	dst = binary.BigEndian.AppendUint64(dst, uint64(producerID)) // producer id
	dst = binary.BigEndian.AppendUint16(dst, uint16(epoch))      // producer epoch
	dst = binary.BigEndian.AppendUint32(dst, uint32(seq))        // base sequence
	dst = binary.BigEndian.AppendUint32(dst, uint32(count))      // records
	for d := range count {
		body := 1 + 1 + varintBytes(int64(d)) + 1 + varintBytes(int64(len(value))) + len(value) + 1
		dst = binary.AppendVarint(dst, int64(body))
		dst = append(dst, 0)                     // attributes
		dst = binary.AppendVarint(dst, 0)        // timestamp delta
		dst = binary.AppendVarint(dst, int64(d)) // offset delta
		dst = binary.AppendVarint(dst, -1)       // null key
		dst = binary.AppendVarint(dst, int64(len(value)))
		dst = append(dst, value...)
		dst = binary.AppendVarint(dst, 0) // no headers
	}
	batch := dst[start:]
	binary.BigEndian.PutUint32(batch[batchLengthAt:], uint32(len(batch)-batchLengthFieldBytes))
	binary.BigEndian.PutUint32(batch[batchCRCAt:], crc32.Checksum(batch[batchAttributesAt:], castagnoli))
	return dst
}

// rawConn is one connection of the raw producer: requests written by one
// goroutine, responses read in order by another.
type rawConn struct {
	conn   net.Conn
	reader *bufio.Reader
	corr   int32
	// versions are the broker's supported ranges by API key.
	versions map[int16][2]int16
}

func dialRaw(ctx context.Context, addr string) (*rawConn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &rawConn{conn: conn, reader: bufio.NewReaderSize(conn, 64<<10)}
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(0)
	resp, err := c.roundTrip(req)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ApiVersions at %s: %w", addr, err)
	}
	av := resp.(*kmsg.ApiVersionsResponse)
	if av.ErrorCode != 0 {
		conn.Close()
		return nil, fmt.Errorf("ApiVersions at %s: error code %d", addr, av.ErrorCode)
	}
	c.versions = map[int16][2]int16{}
	for _, k := range av.ApiKeys {
		c.versions[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	return c, nil
}

// version is the newest version of key both sides speak, from at least min.
func (c *rawConn) version(key, min, max int16) (int16, error) {
	r, ok := c.versions[key]
	v := r[1]
	if v > max {
		v = max
	}
	if !ok || v < min || v < r[0] {
		return 0, fmt.Errorf("the broker serves api key %d at %d–%d, the raw producer needs %d–%d", key, r[0], r[1], min, max)
	}
	return v, nil
}

// appendRequest appends req framed with a request header.
func (c *rawConn) appendRequest(dst []byte, req kmsg.Request) []byte {
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(req.Key()))
	dst = binary.BigEndian.AppendUint16(dst, uint16(req.GetVersion()))
	c.corr++
	dst = binary.BigEndian.AppendUint32(dst, uint32(c.corr))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(rawClientID)))
	dst = append(dst, rawClientID...)
	if req.IsFlexible() {
		dst = append(dst, 0) // no tagged fields
	}
	dst = req.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// readResponse reads the next response frame into resp, checking that it
// answers correlation ID corr.
func (c *rawConn) readResponse(frame []byte, corr int32, resp kmsg.Response) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(c.reader, size[:]); err != nil {
		return frame, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > sinkFrameBytesMax {
		return frame, fmt.Errorf("response of %d bytes", n)
	}
	if cap(frame) < int(n) {
		frame = make([]byte, n)
	}
	frame = frame[:n]
	if _, err := io.ReadFull(c.reader, frame); err != nil {
		return frame, err
	}
	if got := int32(binary.BigEndian.Uint32(frame)); got != corr {
		return frame, fmt.Errorf("response to correlation ID %d, want %d", got, corr)
	}
	body := frame[4:]
	if resp.IsFlexible() && resp.Key() != 18 { // ApiVersions answers with header v0
		var err error
		if body, err = skipTags(body); err != nil {
			return frame, err
		}
	}
	return frame, resp.ReadFrom(body)
}

// skipTags skips a tagged-field section of at most 64 fields (Kafka's
// messages define a handful); the sink's request headers and the raw
// producer's responses both use it.
func skipTags(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 || count > 64 {
		return nil, errors.New("bad tagged fields")
	}
	b = b[n:]
	for range count {
		if _, n = binary.Uvarint(b); n <= 0 {
			return nil, errors.New("bad tag")
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return nil, errors.New("bad tag size")
		}
		b = b[n+int(size):]
	}
	return b, nil
}

// roundTrip sends req and waits for its answer (setup requests only).
func (c *rawConn) roundTrip(req kmsg.Request) (kmsg.Response, error) {
	frame := c.appendRequest(nil, req)
	if _, err := c.conn.Write(frame); err != nil {
		return nil, err
	}
	resp := req.ResponseKind()
	_, err := c.readResponse(nil, c.corr, resp)
	return resp, err
}

// rawStream is one producer's traffic to one leader.
type rawStream struct {
	c          *rawConn
	request    []byte  // the whole framed request
	batchAt    []int   // where each partition's batch starts in request
	partitions []int32 // the partition of each batch
	perBatch   int     // records per batch
	sequences  []int32 // idempotent: the next base sequence per batch
	acks       int16
	version    int16
}

// leaders maps each leader's address to the partitions it leads.
func leaders(ctx context.Context, cfg Config, topic string) (map[string][]int32, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Bootstrap...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		return nil, fmt.Errorf("metadata of %s: %v", topic, td.Err)
	}
	addrs := map[int32]string{}
	for _, b := range md.Brokers {
		addrs[b.NodeID] = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
	}
	out := map[string][]int32{}
	for _, p := range td.Partitions.Sorted() {
		if p.Err != nil {
			return nil, fmt.Errorf("metadata of %s/%d: %w", topic, p.Partition, p.Err)
		}
		addr, ok := addrs[p.Leader]
		if !ok {
			return nil, fmt.Errorf("%s/%d: leader %d not in metadata", topic, p.Partition, p.Leader)
		}
		out[addr] = append(out[addr], p.Partition)
	}
	return out, nil
}

// newRawStream connects to addr and builds the request for partitions:
// one batch of perBatch records of value per partition.
func (r *run) newRawStream(ctx context.Context, addr string, partitions []int32, value []byte, perBatch int) (*rawStream, error) {
	setup, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := dialRaw(setup, addr)
	if err != nil {
		return nil, err
	}
	s := &rawStream{c: c, partitions: partitions, perBatch: perBatch}
	ok := false
	defer func() {
		if !ok {
			c.conn.Close()
		}
	}()
	producerID, epoch := int64(-1), int16(-1)
	if r.cfg.Idempotent {
		v, err := c.version(22, 0, 4)
		if err != nil {
			return nil, err
		}
		req := kmsg.NewPtrInitProducerIDRequest()
		req.SetVersion(v)
		req.TransactionTimeoutMillis = 60_000
		resp, err := c.roundTrip(req)
		if err != nil {
			return nil, fmt.Errorf("InitProducerId: %w", err)
		}
		ip := resp.(*kmsg.InitProducerIDResponse)
		if ip.ErrorCode != 0 {
			return nil, fmt.Errorf("InitProducerId: error code %d", ip.ErrorCode)
		}
		producerID, epoch = ip.ProducerID, ip.ProducerEpoch
		s.sequences = make([]int32, len(partitions))
	}
	if s.version, err = c.version(0, 3, rawProduceVersionMax); err != nil {
		return nil, err
	}
	switch r.cfg.Acks {
	case "0":
		s.acks = 0
	case "1":
		s.acks = 1
	default:
		s.acks = -1
	}
	if err := s.build(r.topic, value, producerID, epoch); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// build encodes s's request: one batch of s.perBatch records of value for
// each of s.partitions of topic, at s.version with s.acks.
func (s *rawStream) build(topic string, value []byte, producerID int64, epoch int16) error {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(s.version)
	req.Acks = s.acks
	req.TimeoutMillis = 30_000
	t := kmsg.NewProduceRequestTopic()
	t.Topic = topic
	now := time.Now().UnixMilli()
	var batches [][]byte
	for _, p := range s.partitions {
		part := kmsg.NewProduceRequestTopicPartition()
		part.Partition = p
		part.Records = appendRawBatch(nil, value, s.perBatch, now, producerID, epoch, 0)
		batches = append(batches, part.Records)
		t.Partitions = append(t.Partitions, part)
	}
	req.Topics = append(req.Topics, t)
	s.request = s.c.appendRequest(nil, req)
	// Each batch is copied verbatim into the request, in order: find
	// where, to patch sequences and CRCs in place.
	at := 0
	s.batchAt = s.batchAt[:0]
	for _, b := range batches {
		i := bytes.Index(s.request[at:], b)
		if i < 0 {
			return errors.New("raw producer: batch not found in its own request")
		}
		s.batchAt = append(s.batchAt, at+i)
		at += i + len(b)
	}
	return nil
}

// next prepares the request for its next send: a new correlation ID and,
// for an idempotent producer, the batches' next sequences.
func (s *rawStream) next() int32 {
	s.c.corr++
	binary.BigEndian.PutUint32(s.request[8:], uint32(s.c.corr))
	for i, at := range s.batchAt {
		if s.sequences == nil {
			break
		}
		batch := s.request[at:]
		batch = batch[:batchLengthFieldBytes+int(binary.BigEndian.Uint32(batch[batchLengthAt:]))]
		binary.BigEndian.PutUint32(batch[batchSequenceAt:], uint32(s.sequences[i]))
		binary.BigEndian.PutUint32(batch[batchCRCAt:], crc32.Checksum(batch[batchAttributesAt:], castagnoli))
		// Sequences wrap to 0 after the largest int32, as Kafka's do.
		s.sequences[i] = int32((int64(s.sequences[i]) + int64(s.perBatch)) % (1 << 31))
	}
	return s.c.corr
}

// rawProduce runs the produce workload's producers with the raw client
// until end (run time) or the quota of records per producer, then waits
// for the answers until abort. It calls started once its connections are
// up and its requests built, before sending anything.
func (r *run) rawProduce(ctx, abort context.Context, end time.Duration, quota int64, started func()) error {
	cfg := r.cfg
	byLeader, err := leaders(ctx, cfg, r.topic)
	if err != nil {
		return err
	}
	perBatch := rawBatchRecords(cfg.RecordBytes, cfg.BatchBytes)
	if quota > 0 {
		perBatch = int(min(int64(perBatch), max(1, quota/int64(cfg.Partitions))))
	}
	value := randomValue(cfg.RecordBytes)
	var streams []*rawStream
	defer func() {
		for _, s := range streams {
			s.c.conn.Close()
		}
	}()
	for range cfg.Producers {
		for addr, partitions := range byLeader {
			s, err := r.newRawStream(ctx, addr, partitions, value, perBatch)
			if err != nil {
				return err
			}
			streams = append(streams, s)
		}
	}
	started()
	var wg sync.WaitGroup
	for _, s := range streams {
		wg.Go(func() { r.runRawStream(abort, s, end, quota) })
	}
	wg.Wait()
	return nil
}

// rawPending is a request in flight.
type rawPending struct {
	corr int32
}

// runRawStream sends s's request until end or the quota, pipelined up to
// Inflight, and reads the answers until they are all in or abort ends.
func (r *run) runRawStream(abort context.Context, s *rawStream, end time.Duration, quota int64) {
	c := &r.counts
	deadline, _ := abort.Deadline()
	s.c.conn.SetDeadline(deadline)
	// Closing the connection when abort ends unblocks both goroutines.
	stop := context.AfterFunc(abort, func() { s.c.conn.Close() })
	defer stop()
	perRequest := int64(s.perBatch * len(s.partitions))
	inflight := r.cfg.Inflight
	if s.sequences != nil {
		inflight = 1
	}
	// A slot is taken before a request is written and given back when
	// its answer has been read: at most inflight requests are unanswered.
	slots := make(chan struct{}, inflight)
	pending := make(chan rawPending, inflight)
	readerDone := make(chan struct{})
	if s.acks != 0 {
		go func() {
			defer close(readerDone)
			var frame []byte
			resp := kmsg.NewPtrProduceResponse()
			failed := false
			for p := range pending {
				if failed { // the writer stops at its next write
					<-slots
					continue
				}
				resp.Default()
				resp.SetVersion(s.version)
				var err error
				if frame, err = s.c.readResponse(frame, p.corr, resp); err != nil {
					if r.active.Load() && abort.Err() == nil {
						c.requestErrors.Add(1)
					}
					s.c.conn.Close()
					failed = true
					<-slots
					continue
				}
				ok := int64(0)
				for _, t := range resp.Topics {
					for _, part := range t.Partitions {
						if part.ErrorCode == 0 {
							ok += int64(s.perBatch)
						}
					}
				}
				ok = min(ok, perRequest)
				c.acked.Add(ok)
				c.failed.Add(perRequest - ok)
				<-slots
			}
		}()
	} else {
		close(readerDone)
	}
	var sent int64
	for (quota == 0 || sent+perRequest <= quota) && r.clk.Now() < end && abort.Err() == nil {
		if s.acks != 0 {
			select {
			case slots <- struct{}{}:
			case <-abort.Done():
			}
			if abort.Err() != nil {
				break
			}
			pending <- rawPending{corr: s.next()}
		} else {
			s.next()
		}
		if _, err := s.c.conn.Write(s.request); err != nil {
			// The records of a request that failed to write count as
			// sent and unacknowledged: part of it may have reached the
			// broker.
			c.sent.Add(perRequest)
			if r.active.Load() && abort.Err() == nil {
				c.requestErrors.Add(1)
			}
			s.c.conn.Close()
			break
		}
		sent += perRequest
		c.sent.Add(perRequest)
		if s.acks == 0 {
			c.acked.Add(perRequest)
		}
	}
	close(pending)
	<-readerDone
}
