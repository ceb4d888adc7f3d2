package wire

// Early produce: the appends of a large Produce request start while the
// rest of its frame is still arriving.
//
// With one request in flight, a request of 16 batches of 1 MiB spent a
// few milliseconds arriving before the broker looked at it, and only then
// were its batches appended and synced, one phase after the other. netio
// now hands a large frame's bytes, as they arrive, to an EarlyProduce,
// whose scanner walks the Produce request as far as the bytes go; every
// partition whose records are whole is checked and submitted to its shard
// at once, exactly as handleProduce would, and handleProduce later takes
// those submissions instead of submitting again.
//
// Only the plain case starts early: Produce v3+ with acks 1 or -1, no
// transactional id, on a leader, a known partition of a topic that is not
// internal, with enough in-sync replicas for acks=all. At the first
// partition that is not plain (or any encoding the scanner does not
// expect), the scanner stops for good and handleProduce does the rest as
// before, so a partition's batches are never reordered. What differs from
// reading the whole frame first: when the frame never completes (the peer
// closes mid-frame) or does not decode, the batches already submitted stay
// appended although no answer is sent. A client that retries then sends
// them again (an idempotent producer's retry is answered as a duplicate):
// at-least-once allows it, as it allows a timeout after an append.

import (
	"encoding/binary"

	"spool/engine"
	"spool/engine/meta"
	"spool/internal/metrics"
)

// EarlyProduceMinBytes is the smallest frame netio reads with an
// EarlyProduce: below it, the frame arrives in about the time a shard
// takes to start.
const EarlyProduceMinBytes = 512 << 10

// earlySubmission is one partition submitted before the frame was whole.
type earlySubmission struct {
	topic, partition int // indexes in the request
	name             string
	index            int32
	records          int // length of the records
	at               int // where the records start in the frame
	append           engine.Pending
	err              error
	log              *engine.Log
	minISR           int
}

// EarlyProduce follows one Produce frame as it arrives. Not safe for
// concurrent use: the connection's reader owns it until handleProduce
// takes it.
type EarlyProduce struct {
	s         *Server
	scan      produceScanner
	durable   bool
	submitted []earlySubmission
	taken     bool
}

// earlyProduceVersionMax is the newest Produce version the scanner reads:
// v12 is laid out as v11; v13 names each topic by its 16-byte ID, which
// the scanner resolves to the topic's name (an unknown ID ends the scan,
// and the handler answers UNKNOWN_TOPIC_ID).
const earlyProduceVersionMax = 13

// EarlyProduce starts following a frame of size bytes whose first bytes
// are prefix (at least the request header's fixed 8 bytes), or answers nil when the frame
// is not a Produce request that can start early.
func (s *Server) EarlyProduce(prefix []byte, size int) *EarlyProduce {
	if len(prefix) < 8 || int16(binary.BigEndian.Uint16(prefix)) != produceKey {
		return nil
	}
	version := int16(binary.BigEndian.Uint16(prefix[2:]))
	if version < 3 || version > earlyProduceVersionMax || s.cfg.Cluster.Follower() {
		return nil
	}
	scan := produceScanner{flexible: version >= 9, size: size}
	if version >= 13 {
		scan.topicName = func(id [16]byte) (string, bool) {
			t, ok := s.cfg.Cluster.TopicByID(id)
			if !ok {
				return "", false
			}
			return t.Name, true
		}
	}
	return &EarlyProduce{s: s, scan: scan}
}

// Advance submits the partitions whose records are whole in frame, the
// bytes of the frame read so far.
func (e *EarlyProduce) Advance(frame []byte) {
	e.scan.scan(frame, func(p scannedPartition) bool {
		return e.submit(p)
	})
}

// Stop ends the scan: no further partition starts early.
func (e *EarlyProduce) Stop() {
	if e != nil {
		e.scan.stage = scanDone
	}
}

// submit checks p as handleProduce would and submits it; false stops the
// scan for good (p is left to handleProduce).
func (e *EarlyProduce) submit(p scannedPartition) bool {
	s := e.s
	e.durable = e.scan.acks == -1
	if s.cfg.Cluster.Follower() || meta.IsInternal(p.topic) {
		return false
	}
	part := s.partition(p.topic, p.index)
	if part == nil {
		return false
	}
	minISR := 0
	if e.durable {
		if len(e.submitted) > 0 && e.submitted[len(e.submitted)-1].name == p.topic {
			minISR = e.submitted[len(e.submitted)-1].minISR
		} else {
			minISR = s.minInsyncReplicas(p.topic)
		}
		if part.Log.InSyncReplicas() < minISR {
			return false
		}
	}
	pending, err := submitRecords(part, s.cfg.Cluster.Epoch(), p.records, e.durable)
	e.submitted = append(e.submitted, earlySubmission{topic: p.topicIndex, partition: p.partitionIndex, name: p.topic,
		index: p.index, records: len(p.records), at: p.at, append: pending, err: err, log: part.Log, minISR: minISR})
	if err == nil {
		metrics.ProduceEarlyBatches.Add(1)
	}
	return true
}

// CopyFrame copies the frame read so far (src) into a larger buffer
// (dst) as the frame grows, except the records already submitted: their
// shard may be stamping them in place (base offset, leader epoch, a
// LogAppendTime), and handleProduce reads only their length, so those
// bytes of dst are left as they are and the shard keeps reading src.
func (e *EarlyProduce) CopyFrame(dst, src []byte) {
	from := 0
	if e != nil {
		for _, sub := range e.submitted {
			if sub.err == nil && sub.at >= from && sub.at+sub.records <= len(src) {
				copy(dst[from:], src[from:sub.at])
				from = sub.at + sub.records
			}
		}
	}
	copy(dst[from:], src[from:])
}

// Abandon waits for the early appends of a frame that will not be
// handled (the peer closed mid-frame, or the frame did not decode): each
// submitted append must be waited for once. Nothing is answered.
func (e *EarlyProduce) Abandon() {
	if e == nil || e.taken {
		return
	}
	e.taken = true
	for _, sub := range e.submitted {
		if sub.err == nil {
			sub.append.Wait()
		}
	}
}

// take hands the early submissions to handleProduce (once).
func (e *EarlyProduce) take() []earlySubmission {
	if e == nil || e.taken {
		return nil
	}
	e.taken = true
	return e.submitted
}

// scannedPartition is a partition whose records have arrived whole.
type scannedPartition struct {
	topicIndex, partitionIndex int
	topic                      string
	index                      int32
	records                    []byte
	at                         int // where records start in the frame
}

// produceScanner walks a Produce request (v3+) incrementally: each call
// goes on from where the last one stopped, as far as the bytes allow.
type produceScanner struct {
	flexible bool
	// size is the whole frame's (0: unknown); an array claiming more
	// elements than bytes are left ends the scan, as kmsg refuses it.
	size int
	// topicName, from v13, resolves the topic IDs that name topics there
	// (nil before v13: topics are named by strings).
	topicName func(id [16]byte) (string, bool)
	pos       int
	stage     scanStage
	acks      int16
	// topicsLeft and partitionsLeft count what is still to come.
	topicsLeft, partitionsLeft int
	topicIndex, partitionIndex int
	topic                      string
	// complete: every topic was scanned (only the request's tags, if
	// flexible, are left at pos).
	complete bool
}

type scanStage uint8

const (
	scanHeader scanStage = iota
	scanTransactionalID
	scanAcks
	scanTopics
	scanTopic
	scanPartition
	scanPartitionTags
	scanTopicTags
	scanDone
)

// scan yields the partitions completed by the bytes of frame beyond the
// last call's; yield answering false, or anything unexpected, ends the
// scan for good.
func (sc *produceScanner) scan(frame []byte, yield func(scannedPartition) bool) {
	for sc.stage != scanDone {
		r := scanReader{b: frame, pos: sc.pos}
		if !sc.step(&r, yield) {
			return // wait for more bytes (or done)
		}
		sc.pos = r.pos
	}
}

// step parses one element; false when the bytes ran out (nothing consumed)
// or the scan ended.
func (sc *produceScanner) step(r *scanReader, yield func(scannedPartition) bool) bool {
	done := func() bool { sc.stage = scanDone; return false }
	switch sc.stage {
	case scanHeader:
		// api key, version, correlation id; the client id (a nullable
		// string in every header version); v2 headers' tags.
		if !r.skip(8) {
			return false
		}
		n, ok := r.int16()
		if !ok {
			return false
		}
		if n > 0 && !r.skip(int(n)) {
			return false
		}
		if sc.flexible {
			if ok, bad := r.tags(); !ok {
				return bad && done()
			}
		}
		sc.stage = scanTransactionalID
	case scanTransactionalID:
		null, ok, bad := r.nullableString(sc.flexible)
		if bad || (ok && !null) {
			return done() // a transactional request is refused by handleProduce
		}
		if !ok {
			return false
		}
		sc.stage = scanAcks
	case scanAcks:
		acks, ok := r.int16()
		if !ok || !r.skip(4) { // the timeout
			return false
		}
		if acks != 1 && acks != -1 {
			return done()
		}
		sc.acks = acks
		sc.stage = scanTopics
	case scanTopics:
		n, ok, bad := r.arrayLength(sc.flexible)
		if bad || (ok && (n <= 0 || sc.tooMany(n, r.pos))) {
			return done()
		}
		if !ok {
			return false
		}
		sc.topicsLeft, sc.topicIndex = n, -1
		sc.stage = scanTopic
	case scanTopic:
		if sc.topicsLeft == 0 {
			sc.complete = true
			return done()
		}
		var name string
		if sc.topicName != nil {
			id, ok := r.uuid()
			if !ok {
				return false
			}
			if name, ok = sc.topicName(id); !ok {
				return done()
			}
		} else {
			var ok, bad bool
			name, ok, bad = r.string(sc.flexible)
			if bad {
				return done()
			}
			if !ok {
				return false
			}
		}
		n, ok, bad := r.arrayLength(sc.flexible)
		if bad || (ok && (n < 0 || sc.tooMany(n, r.pos))) {
			return done()
		}
		if !ok {
			return false
		}
		sc.topic, sc.topicsLeft, sc.topicIndex = name, sc.topicsLeft-1, sc.topicIndex+1
		sc.partitionsLeft, sc.partitionIndex = n, -1
		sc.stage = scanPartition
	case scanPartition:
		if sc.partitionsLeft == 0 {
			sc.stage = scanTopicTags
			return true
		}
		index, ok := r.int32()
		if !ok {
			return false
		}
		records, ok, bad := r.nullableBytes(sc.flexible)
		if bad || (ok && records == nil) {
			return done()
		}
		if !ok {
			return false
		}
		sc.partitionsLeft, sc.partitionIndex = sc.partitionsLeft-1, sc.partitionIndex+1
		sc.stage = scanPartitionTags
		if !yield(scannedPartition{topicIndex: sc.topicIndex, partitionIndex: sc.partitionIndex, topic: sc.topic, index: index, records: records, at: r.pos - len(records)}) {
			sc.pos = r.pos
			return done()
		}
	case scanPartitionTags:
		if sc.flexible {
			if ok, bad := r.tags(); !ok {
				return bad && done()
			}
		}
		sc.stage = scanPartition
	case scanTopicTags:
		if sc.flexible {
			if ok, bad := r.tags(); !ok {
				return bad && done()
			}
		}
		sc.stage = scanTopic
	}
	return true
}

// tooMany: an array of n elements (each at least a byte) cannot fit in
// what is left of the frame after pos.
func (sc *produceScanner) tooMany(n, pos int) bool {
	return sc.size > 0 && n > sc.size-pos
}

// scanTagsMax bounds a tagged-field section: Produce defines no tags, and
// an unfinished section is parsed again from its start at each read, so
// the bound keeps that cheap (request headers allow 64 as well).
const scanTagsMax = 64

// scanReader reads Kafka primitives from b at pos; ok false means the
// bytes ran out, bad that they cannot be what the scanner expects.
type scanReader struct {
	b   []byte
	pos int
}

func (r *scanReader) skip(n int) bool {
	if n < 0 || len(r.b)-r.pos < n {
		return false
	}
	r.pos += n
	return true
}

func (r *scanReader) uuid() (id [16]byte, ok bool) {
	if len(r.b)-r.pos < len(id) {
		return id, false
	}
	r.pos += copy(id[:], r.b[r.pos:])
	return id, true
}

func (r *scanReader) int16() (int16, bool) {
	if len(r.b)-r.pos < 2 {
		return 0, false
	}
	v := int16(binary.BigEndian.Uint16(r.b[r.pos:]))
	r.pos += 2
	return v, true
}

func (r *scanReader) int32() (int32, bool) {
	if len(r.b)-r.pos < 4 {
		return 0, false
	}
	v := int32(binary.BigEndian.Uint32(r.b[r.pos:]))
	r.pos += 4
	return v, true
}

// uvarint: ok false when the bytes ran out, bad when it overflows 32
// bits or takes more than 5 bytes (Kafka's unsigned varint is 32 bits).
func (r *scanReader) uvarint() (v uint64, ok, bad bool) {
	v, n := binary.Uvarint(r.b[r.pos:])
	if n == 0 {
		return 0, len(r.b)-r.pos >= 5, len(r.b)-r.pos >= 5
	}
	if n < 0 || n > 5 || v > 1<<31 {
		return 0, false, true
	}
	r.pos += n
	return v, true, false
}

// length reads a (compact) length: -1 for null.
func (r *scanReader) length(flexible, wide bool) (n int, ok, bad bool) {
	if flexible {
		v, ok, bad := r.uvarint()
		return int(v) - 1, ok, bad
	}
	if wide {
		v, ok := r.int32()
		return int(v), ok, ok && v < -1
	}
	v, ok := r.int16()
	return int(v), ok, ok && v < -1
}

func (r *scanReader) nullableString(flexible bool) (null, ok, bad bool) {
	start := r.pos
	n, ok, bad := r.length(flexible, false)
	if !ok || bad {
		return false, ok, bad
	}
	if n == -1 {
		return true, true, false
	}
	if !r.skip(n) {
		r.pos = start
		return false, false, false
	}
	return false, true, false
}

func (r *scanReader) string(flexible bool) (s string, ok, bad bool) {
	start := r.pos
	n, ok, bad := r.length(flexible, false)
	if !ok || bad {
		return "", ok, bad
	}
	if n < 0 {
		return "", false, true
	}
	if !r.skip(n) {
		r.pos = start
		return "", false, false
	}
	return string(r.b[r.pos-n : r.pos]), true, false
}

func (r *scanReader) arrayLength(flexible bool) (n int, ok, bad bool) {
	return r.length(flexible, true)
}

// nullableBytes reads the records: nil for null.
func (r *scanReader) nullableBytes(flexible bool) (b []byte, ok, bad bool) {
	start := r.pos
	n, ok, bad := r.length(flexible, true)
	if !ok || bad {
		return nil, ok, bad
	}
	if n == -1 {
		return nil, true, false
	}
	if !r.skip(n) {
		r.pos = start
		return nil, false, false
	}
	return r.b[r.pos-n : r.pos : r.pos], true, false
}

// tags skips a tagged-field section.
func (r *scanReader) tags() (ok, bad bool) {
	start := r.pos
	count, ok, bad := r.uvarint()
	if !ok || bad {
		return ok, bad
	}
	if count > scanTagsMax {
		return false, true
	}
	for range count {
		if _, ok, bad = r.uvarint(); ok && !bad {
			var size uint64
			if size, ok, bad = r.uvarint(); ok && !bad && !r.skip(int(size)) {
				ok = false
			}
		}
		if !ok || bad {
			r.pos = start
			return false, bad
		}
	}
	return true, false
}
