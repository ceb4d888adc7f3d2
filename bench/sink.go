package bench

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Sink is the harness's yardstick: a minimal Kafka-protocol broker that
// does the least work a broker can do. It answers Produce without
// validating anything but the batch framing and without touching a disk,
// keeps up to RetainBytes of the newest batches of each partition in
// memory, and serves Fetch from them (long polls included), so every
// workload — produce, ack, e2e, catchup — runs against it unchanged. What
// the harness reaches against the sink is the harness's own ceiling on
// this machine: a broker measured near that ceiling is being measured by
// the client, not the other way round.
//
// It is deliberately small and not a broker: one node, no configs, no
// groups, no transactions; acks are answered when the batch is in memory,
// whatever acks asked for. It runs in the harness's process, so its CPU
// is shared with the client exactly as an embedded broker's is.
type Sink struct {
	listener    net.Listener
	host        string
	port        int32
	retainBytes int64

	mu     sync.Mutex
	topics map[string]*sinkTopic
	// grew is closed (and replaced) whenever any partition grows, waking
	// long-poll fetches.
	grew chan struct{}

	producerIDs atomic.Int64
	conns       sync.WaitGroup
	connsMu     sync.Mutex
	open        map[net.Conn]struct{}
	closed      atomic.Bool
}

type sinkTopic struct {
	id         [16]byte
	partitions []*sinkPartition
}

// sinkPartition: every field is guarded by mu. The retained batches sit
// back to back in log, so a fetch answers with one sub-slice of it, copied
// once into the response, as a broker's copy path reads a file once.
// log is never written below len(log) while a fetch may hold a sub-slice:
// appends go past the end, and dropping old batches moves the survivors
// into a new slice.
type sinkPartition struct {
	mu             sync.Mutex
	log            []byte
	batches        []sinkBatch
	logStartOffset int64
	logEndOffset   int64
}

type sinkBatch struct {
	baseOffset, endOffset int64 // endOffset: the offset after the batch's last record
	position, size        int   // where the batch sits in log
}

// Sink limits.
const (
	// sinkFrameBytesMax bounds a request frame, as Kafka's
	// socket.request.max.bytes default does.
	sinkFrameBytesMax = 100 << 20
	// sinkPartitionsMax bounds a created topic's partitions.
	sinkPartitionsMax = 1024
	// batchHeaderBytes is the RecordBatch v2 header; the fields the sink
	// reads sit at these positions and never move.
	batchHeaderBytes      = 61
	batchLengthAt         = 8
	batchMagicAt          = 16
	batchLastOffsetDelta  = 23
	batchLengthFieldBytes = 12 // baseOffset and batchLength precede what batchLength counts
)

// Kafka error codes the sink answers.
const (
	errOffsetOutOfRange   = 1
	errCorruptMessage     = 2
	errUnknownTopic       = 3
	errUnsupportedVersion = 35
	errTopicExists        = 36
	errInvalidPartitions  = 37
)

// sinkAPIs are the versions the sink serves: enough for franz-go, kcat
// and Kafka's own clients to produce, consume and create topics. Fetch
// stops at 12 and Produce at 11 because later versions name topics by ID.
var sinkAPIs = map[int16][2]int16{
	0:  {3, 11}, // Produce (v3: RecordBatch v2 only)
	1:  {4, 12}, // Fetch
	2:  {1, 8},  // ListOffsets
	3:  {0, 12}, // Metadata
	18: {0, 3},  // ApiVersions
	19: {2, 7},  // CreateTopics
	22: {0, 4},  // InitProducerId
}

// NewSink listens on addr (e.g. "127.0.0.1:0") and serves until Close.
// retainBytes bounds the memory kept per partition; 0 keeps nothing (a
// pure produce sink: fetches then find nothing).
func NewSink(addr string, retainBytes int64) (*Sink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	host, portText, _ := net.SplitHostPort(ln.Addr().String())
	port, _ := strconv.Atoi(portText)
	s := &Sink{
		listener: ln, host: host, port: int32(port), retainBytes: retainBytes,
		topics: map[string]*sinkTopic{}, grew: make(chan struct{}), open: map[net.Conn]struct{}{},
	}
	s.conns.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the bootstrap address.
func (s *Sink) Addr() string { return s.listener.Addr().String() }

// Close stops listening, closes every connection and waits for them.
func (s *Sink) Close() error {
	s.closed.Store(true)
	err := s.listener.Close()
	s.connsMu.Lock()
	for c := range s.open {
		c.Close()
	}
	s.connsMu.Unlock()
	s.conns.Wait()
	return err
}

func (s *Sink) accept() {
	defer s.conns.Done()
	for {
		c, err := s.listener.Accept()
		if err != nil {
			return
		}
		s.connsMu.Lock()
		if s.closed.Load() {
			s.connsMu.Unlock()
			c.Close()
			return
		}
		s.open[c] = struct{}{}
		s.conns.Add(1)
		s.connsMu.Unlock()
		go s.serve(c)
	}
}

// serve answers one connection's requests in order, one at a time: Kafka
// clients pipeline, and in-order answers are all the protocol asks for.
func (s *Sink) serve(c net.Conn) {
	defer func() {
		s.connsMu.Lock()
		delete(s.open, c)
		s.connsMu.Unlock()
		c.Close()
		s.conns.Done()
	}()
	reader := bufio.NewReaderSize(c, 64<<10)
	var frame, out []byte
	var sizeBytes [4]byte
	for {
		if _, err := io.ReadFull(reader, sizeBytes[:]); err != nil {
			return
		}
		size := binary.BigEndian.Uint32(sizeBytes[:])
		if size < 8 || size > sinkFrameBytesMax {
			return
		}
		if cap(frame) < int(size) {
			frame = make([]byte, size)
		}
		frame = frame[:size]
		if _, err := io.ReadFull(reader, frame); err != nil {
			return
		}
		var err error
		out, err = s.handle(frame, out[:0])
		if err != nil {
			return
		}
		if len(out) > 0 {
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	}
}

// handle answers one frame, appending the whole response frame (size
// prefix included) to out; nothing for acks=0 produce.
func (s *Sink) handle(frame, out []byte) ([]byte, error) {
	key := int16(binary.BigEndian.Uint16(frame[0:]))
	version := int16(binary.BigEndian.Uint16(frame[2:]))
	correlationID := binary.BigEndian.Uint32(frame[4:])
	versions, known := sinkAPIs[key]
	if !known {
		return nil, fmt.Errorf("sink: api key %d not served", key)
	}
	if version < versions[0] || version > versions[1] {
		if key != 18 {
			return nil, fmt.Errorf("sink: api key %d version %d not served", key, version)
		}
		// An ApiVersions request newer than ours is answered in v0 with
		// UNSUPPORTED_VERSION and our table; the client retries lower.
		resp := s.apiVersions()
		resp.SetVersion(0)
		resp.ErrorCode = errUnsupportedVersion
		return appendResponse(out, correlationID, false, resp), nil
	}
	req := kmsg.RequestForKey(key)
	req.SetVersion(version)
	body, err := skipHeaderRest(frame[8:], req.IsFlexible())
	if err != nil {
		return nil, err
	}
	if err := req.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("sink: api key %d: %w", key, err)
	}
	var resp kmsg.Response
	switch r := req.(type) {
	case *kmsg.ProduceRequest:
		produced := s.produce(r)
		if r.Acks == 0 {
			return out, nil
		}
		resp = produced
	case *kmsg.FetchRequest:
		resp = s.fetch(r)
	case *kmsg.ListOffsetsRequest:
		resp = s.listOffsets(r)
	case *kmsg.MetadataRequest:
		resp = s.metadata(r)
	case *kmsg.ApiVersionsRequest:
		resp = s.apiVersions()
	case *kmsg.CreateTopicsRequest:
		resp = s.createTopics(r)
	case *kmsg.InitProducerIDRequest:
		ip := r.ResponseKind().(*kmsg.InitProducerIDResponse)
		ip.ProducerID = s.producerIDs.Add(1)
		resp = ip
	}
	resp.SetVersion(version)
	// ApiVersions answers always use response header v0.
	return appendResponse(out, correlationID, resp.IsFlexible() && key != 18, resp), nil
}

func appendResponse(out []byte, correlationID uint32, flexibleHeader bool, resp kmsg.Response) []byte {
	start := len(out)
	out = append(out, 0, 0, 0, 0)
	out = binary.BigEndian.AppendUint32(out, correlationID)
	if flexibleHeader {
		out = append(out, 0) // no tagged fields
	}
	out = resp.AppendTo(out)
	binary.BigEndian.PutUint32(out[start:], uint32(len(out)-start-4))
	return out
}

// skipHeaderRest skips the client id and, in flexible headers, the tagged
// fields, returning the body.
func skipHeaderRest(rest []byte, flexible bool) ([]byte, error) {
	errShort := errors.New("sink: request header truncated")
	if len(rest) < 2 {
		return nil, errShort
	}
	idLength := int(int16(binary.BigEndian.Uint16(rest)))
	rest = rest[2:]
	if idLength > 0 {
		if len(rest) < idLength {
			return nil, errShort
		}
		rest = rest[idLength:]
	}
	if !flexible {
		return rest, nil
	}
	rest, err := skipTags(rest)
	if err != nil {
		return nil, errShort
	}
	return rest, nil
}

func (s *Sink) apiVersions() *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	keys := make([]int16, 0, len(sinkAPIs))
	for k := range sinkAPIs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, k := range keys {
		key := kmsg.NewApiVersionsResponseApiKey()
		key.ApiKey, key.MinVersion, key.MaxVersion = k, sinkAPIs[k][0], sinkAPIs[k][1]
		resp.ApiKeys = append(resp.ApiKeys, key)
	}
	return resp
}

func (s *Sink) partition(topic string, index int32) *sinkPartition {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.topics[topic]
	if t == nil || index < 0 || int(index) >= len(t.partitions) {
		return nil
	}
	return t.partitions[index]
}

func (s *Sink) produce(req *kmsg.ProduceRequest) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	grew := false
	for _, t := range req.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition = p.Partition
			part := s.partition(t.Topic, p.Partition)
			if part == nil {
				rp.ErrorCode = errUnknownTopic
			} else {
				rp.BaseOffset, rp.LogStartOffset, rp.ErrorCode = part.append(p.Records, s.retainBytes)
				grew = grew || rp.ErrorCode == 0
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if grew {
		s.mu.Lock()
		close(s.grew)
		s.grew = make(chan struct{})
		s.mu.Unlock()
	}
	return resp
}

// append assigns offsets to the batches in records and keeps copies of
// them within retainBytes. It checks only the framing: each batch's
// length fits, magic is 2.
func (p *sinkPartition) append(records []byte, retainBytes int64) (baseOffset, logStartOffset int64, code int16) {
	// Check the whole request first, so a bad one changes nothing.
	for rest := records; len(rest) > 0; {
		if len(rest) < batchHeaderBytes {
			return -1, -1, errCorruptMessage
		}
		size := batchLengthFieldBytes + int(int32(binary.BigEndian.Uint32(rest[batchLengthAt:])))
		if size < batchHeaderBytes || size > len(rest) || rest[batchMagicAt] != 2 {
			return -1, -1, errCorruptMessage
		}
		rest = rest[size:]
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	baseOffset = p.logEndOffset
	for rest := records; len(rest) > 0; {
		size := batchLengthFieldBytes + int(int32(binary.BigEndian.Uint32(rest[batchLengthAt:])))
		records := int64(int32(binary.BigEndian.Uint32(rest[batchLastOffsetDelta:]))) + 1
		b := sinkBatch{baseOffset: p.logEndOffset, endOffset: p.logEndOffset + records, position: len(p.log), size: size}
		if retainBytes > 0 {
			p.log = append(p.log, rest[:size]...)
			binary.BigEndian.PutUint64(p.log[b.position:], uint64(b.baseOffset))
			p.batches = append(p.batches, b)
		}
		p.logEndOffset = b.endOffset
		rest = rest[size:]
	}
	if int64(len(p.log)) > retainBytes {
		// Keep the newest batches within half of retainBytes (so the copy
		// happens once per half, not once per append), in a fresh slice:
		// fetches may still be sending sub-slices of the old one.
		drop := 0
		for drop < len(p.batches) && int64(len(p.log)-p.batches[drop].position) > retainBytes/2 {
			drop++
		}
		cut := len(p.log)
		if drop < len(p.batches) {
			cut = p.batches[drop].position
		}
		kept := make([]byte, len(p.log)-cut, 2*(len(p.log)-cut))
		copy(kept, p.log[cut:])
		p.log = kept
		p.batches = append(p.batches[:0], p.batches[drop:]...)
		for i := range p.batches {
			p.batches[i].position -= cut
		}
	}
	if len(p.batches) > 0 {
		p.logStartOffset = p.batches[0].baseOffset
	} else {
		p.logStartOffset = p.logEndOffset
	}
	return baseOffset, p.logStartOffset, 0
}

// read returns the batches from offset on, at least one when there is
// one, then up to maxBytes.
func (p *sinkPartition) read(offset int64, maxBytes int) (data []byte, logStartOffset, logEndOffset int64, code int16) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if offset < p.logStartOffset || offset > p.logEndOffset {
		return nil, p.logStartOffset, p.logEndOffset, errOffsetOutOfRange
	}
	first := sort.Search(len(p.batches), func(i int) bool { return p.batches[i].endOffset > offset })
	if first == len(p.batches) {
		return nil, p.logStartOffset, p.logEndOffset, 0
	}
	start := p.batches[first].position
	end := start + p.batches[first].size
	for i := first + 1; i < len(p.batches) && p.batches[i].position+p.batches[i].size-start <= maxBytes; i++ {
		end = p.batches[i].position + p.batches[i].size
	}
	// Capacity cut to the length, so nothing appends into the log.
	return p.log[start:end:end], p.logStartOffset, p.logEndOffset, 0
}

func (s *Sink) fetch(req *kmsg.FetchRequest) *kmsg.FetchResponse {
	deadline := time.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	minBytes := max(int(req.MinBytes), 1)
	maxBytes := int(req.MaxBytes)
	if maxBytes <= 0 {
		maxBytes = 50 << 20
	}
	for {
		s.mu.Lock()
		grew := s.grew
		s.mu.Unlock()
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		total := 0
		for _, t := range req.Topics {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition = p.Partition
				part := s.partition(t.Topic, p.Partition)
				if part == nil {
					rp.ErrorCode = errUnknownTopic
				} else {
					budget := min(int(p.PartitionMaxBytes), maxBytes-total)
					var end int64
					rp.RecordBatches, rp.LogStartOffset, end, rp.ErrorCode = part.read(p.FetchOffset, budget)
					rp.HighWatermark, rp.LastStableOffset = end, end
					total += len(rp.RecordBatches)
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		wait := time.Until(deadline)
		if total >= minBytes || wait <= 0 || s.closed.Load() {
			return resp
		}
		timer := time.NewTimer(wait)
		select {
		case <-grew:
		case <-timer.C:
		}
		timer.Stop()
	}
}

func (s *Sink) listOffsets(req *kmsg.ListOffsetsRequest) *kmsg.ListOffsetsResponse {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewListOffsetsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewListOffsetsResponseTopicPartition()
			rp.Partition = p.Partition
			part := s.partition(t.Topic, p.Partition)
			if part == nil {
				rp.ErrorCode = errUnknownTopic
			} else {
				part.mu.Lock()
				// -2 asks for the start; everything else (latest, or a
				// timestamp, which the sink does not index) gets the end.
				rp.Offset = part.logEndOffset
				if p.Timestamp == -2 {
					rp.Offset = part.logStartOffset
				}
				part.mu.Unlock()
				rp.Timestamp = -1
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (s *Sink) metadata(req *kmsg.MetadataRequest) *kmsg.MetadataResponse {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	broker := kmsg.NewMetadataResponseBroker()
	broker.NodeID, broker.Host, broker.Port = 0, s.host, s.port
	resp.Brokers = append(resp.Brokers, broker)
	clusterID := "spool-bench-sink"
	resp.ClusterID = &clusterID
	resp.ControllerID = 0
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	if req.Topics == nil {
		for name := range s.topics {
			names = append(names, name)
		}
		sort.Strings(names)
	}
	for _, t := range req.Topics {
		if t.Topic != nil {
			names = append(names, *t.Topic)
		}
	}
	for _, name := range names {
		rt := kmsg.NewMetadataResponseTopic()
		rt.Topic = kmsg.StringPtr(name)
		topic := s.topics[name]
		if topic == nil {
			rt.ErrorCode = errUnknownTopic
		} else {
			rt.TopicID = topic.id
			for i := range topic.partitions {
				rp := kmsg.NewMetadataResponseTopicPartition()
				rp.Partition, rp.Leader, rp.Replicas, rp.ISR = int32(i), 0, []int32{0}, []int32{0}
				rt.Partitions = append(rt.Partitions, rp)
			}
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (s *Sink) createTopics(req *kmsg.CreateTopicsRequest) *kmsg.CreateTopicsResponse {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range req.Topics {
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic = t.Topic
		partitions := t.NumPartitions
		if partitions == -1 {
			partitions = 1
		}
		switch {
		case s.topics[t.Topic] != nil:
			rt.ErrorCode = errTopicExists
		case partitions <= 0 || partitions > sinkPartitionsMax:
			rt.ErrorCode = errInvalidPartitions
		default:
			topic := &sinkTopic{}
			binary.BigEndian.PutUint64(topic.id[:], uint64(len(s.topics)+1))
			for range partitions {
				topic.partitions = append(topic.partitions, &sinkPartition{})
			}
			if !req.ValidateOnly {
				s.topics[t.Topic] = topic
			}
			rt.TopicID, rt.NumPartitions, rt.ReplicationFactor = topic.id, partitions, 1
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
