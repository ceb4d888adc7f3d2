package wire

// Fetch, versions 4-18.
//
// v4 is the first with RecordBatch v2 (and the floor librdkafka needs to use
// it). v13+ name topics by ID. Replica fetches (replica id ≥ 0) are not
// served here; the standby has its own protocol. v17 (KIP-853: the
// follower's directory id, tag 0) and v18 (KIP-1166: the follower's high
// watermark, tag 1) add only tagged fields that a follower sends; a
// consumer's v17/v18 request and the response are v16's.
//
// Fetch sessions (KIP-227, v7+; the cache is in fetchsession.go), as Kafka
// keeps them:
//
//	session_id  epoch   meaning
//	0           0       full fetch; make a session if the cache has room
//	                    (the response names it, else says 0)
//	0           -1      full fetch, no session
//	X           0       full fetch; close X, make a new session
//	X           -1      full fetch; close X, no session
//	X           N > 0   incremental fetch in X; N must be X's next epoch
//	                    (else INVALID_FETCH_SESSION_EPOCH); an unknown X,
//	                    or X = 0, is FETCH_SESSION_ID_NOT_FOUND
//
// An incremental request adds its partitions to the session or updates
// their fetch offset and partition_max_bytes, then removes
// forgotten_topics_data. The broker then reads every partition of the
// session, not only those named (the long poll waits for min_bytes across
// all of them), and answers only partitions with records, an error, or a
// high watermark, last stable offset or log start offset different from
// what the session last told the client. Partitions that returned records
// move to the back of the session's order, so the next response's byte
// budget favours the others. A request that forgets every partition ends
// the session and is answered as a sessionless full fetch. A v13+ session
// names topics by ID: an ID that stops resolving is UNKNOWN_TOPIC_ID, or
// INCONSISTENT_TOPIC_ID when its old name now belongs to a recreated topic
// (the session entry remembers the name it joined under, as Kafka's does);
// a v<13 request in a v13+ session, or the reverse, is
// FETCH_SESSION_TOPIC_ID_ERROR. Two requests racing one session at the same
// epoch: the first to reach it wins, the other is told the epoch is
// invalid; a request whose session was used by another while it waited
// gets INVALID_FETCH_SESSION_EPOCH too. Differences from Kafka: a full
// fetch of no partitions makes no session, a session may hold at most
// fetchPartitionsMax partitions once a request's additions and forgotten
// partitions are both applied (INVALID_REQUEST beyond, the session left
// as it was), and below v13 no topic name longer than Kafka's 249 bytes (a
// full fetch naming one makes no session, an incremental one adding one is
// INVALID_REQUEST): the session would keep those bytes.
//
// The response is encoded by hand, not by kmsg, so that each partition's
// records stay a file extent that netio sends with sendfile (or copies by
// pread): only the headers are built in memory. Records are whole batches
// from one segment, at least one batch for the first partition with data
// (KIP-74), never past the high watermark (read_uncommitted) or last stable
// offset (read_committed). Empty records are an empty, non-null array:
// librdkafka treats null as an invalid message set.
//
// Long poll: when fewer than min_bytes are ready, the request waits (at
// most max_wait_ms, at most fetchWaitMax) on the partitions' high-watermark
// notifiers and reads again.
//
//	response body (v: request version; flexible from v12: compact arrays,
//	strings and bytes, tagged fields)
//	  throttle_time_ms int32
//	  error_code int16, session_id int32                      v7+
//	  [topics]
//	    topic string (v<13) | topic_id uuid (v13+)
//	    [partitions]
//	      partition_index int32, error_code int16
//	      high_watermark int64, last_stable_offset int64, log_start_offset int64 (v5+)
//	      aborted_transactions nullable [producer_id int64, first_offset int64]
//	      preferred_read_replica int32                        v11+
//	      records nullable bytes
//	      tagged fields                                        v12+
//	    tagged fields                                          v12+
//	  tagged fields                                            v12+

import (
	"context"
	"encoding/binary"
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine"
	"spool/engine/meta"
)

// Limits of a fetch.
const (
	// fetchWaitMax bounds max_wait_ms, so a client cannot park a
	// connection for longer.
	fetchWaitMax = 30 * time.Second
	// fetchPartitionsMax bounds the partitions one fetch may name, and
	// the partitions one fetch session may hold.
	fetchPartitionsMax = 10_000
	// sessionTopicNameBytesMax bounds the topic names (below v13) a
	// fetch session keeps: Kafka's longest topic name. A longer one can
	// name no topic, and a session would hold its bytes for as long as
	// it lives.
	sessionTopicNameBytesMax = 249
)

// fetchPartition is one partition to read and its outcome.
type fetchPartition struct {
	// What to read (from the request, or from the session).
	topicName         string   // below v13
	topicID           [16]byte // v13+
	partition         int32
	fetchOffset       int64
	partitionMaxBytes int32
	// cached is the session's partition (incremental fetches).
	cached *sessionPartition

	errorCode int16
	read      engine.ReadResult
	// omit leaves the partition out of an incremental response: nothing
	// changed since the session last told the client about it.
	omit bool
}

// offsets are the high watermark, last stable offset and log start offset
// the response states for the partition.
func (p *fetchPartition) offsets() (highWatermark, lastStableOffset, logStartOffset int64) {
	if p.errorCode != 0 && p.errorCode != kerr.OffsetOutOfRange.Code {
		return -1, -1, -1
	}
	return int64(p.read.HighWatermark), int64(p.read.LastStableOffset), int64(p.read.LogStartOffset)
}

// fetchParams are a request's limits.
type fetchParams struct {
	byTopicID bool // v13+
	isolation engine.Isolation
	maxBytes  int64
	minBytes  int32
	deadline  time.Time
}

func handleFetch(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.FetchRequest)
	version := h.APIVersion
	count := 0
	for i := range r.Topics {
		count += len(r.Topics[i].Partitions)
	}
	if count > fetchPartitionsMax {
		encodeFetch(h, r.IsolationLevel, nil, kerr.InvalidRequest.Code, 0, resp)
		return nil
	}
	params := fetchParams{byTopicID: version >= 13, isolation: engine.ReadUncommitted, maxBytes: int64(r.MaxBytes), minBytes: r.MinBytes}
	if r.IsolationLevel == 1 {
		params.isolation = engine.ReadCommitted
	}
	if version < 3 || params.maxBytes <= 0 {
		params.maxBytes = 1<<31 - 1
	}
	wait := min(time.Duration(max(r.MaxWaitMillis, 0))*time.Millisecond, fetchWaitMax)
	params.deadline = time.Now().Add(wait)

	// KIP-227: epoch 0 or -1 is a full fetch (0 asks for a new session,
	// -1 for none); a full fetch naming a session closes it. Any other
	// epoch is an incremental fetch in the session named.
	full := version < 7 || r.SessionEpoch == 0 || r.SessionEpoch == -1
	if !full {
		session := s.sessions.get(r.SessionID)
		if session == nil {
			encodeFetch(h, r.IsolationLevel, nil, kerr.FetchSessionIDNotFound.Code, 0, resp)
			return nil
		}
		if done := s.fetchIncremental(ctx, h, r, session, params, resp); done {
			return nil
		}
		// The request emptied the session: answered as a full fetch
		// without a session, as Kafka does.
		r.SessionEpoch = -1
	}
	if version >= 7 && r.SessionID != 0 {
		s.sessions.remove(r.SessionID)
	}
	results := make([]fetchPartition, 0, count)
	for ti := range r.Topics {
		rt := &r.Topics[ti]
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			results = append(results, fetchPartition{topicName: rt.Topic, topicID: rt.TopicID, partition: rp.Partition, fetchOffset: rp.FetchOffset, partitionMaxBytes: rp.PartitionMaxBytes})
		}
	}
	s.readAndWait(ctx, results, params)
	sessionID := int32(0)
	if version >= 7 && r.SessionEpoch == 0 && len(results) > 0 {
		sessionID = s.newSession(results, params.byTopicID)
	}
	encodeFetch(h, r.IsolationLevel, results, 0, sessionID, resp)
	return nil
}

// newSession caches a session holding the partitions of a full fetch and
// what its response tells about them; it returns the session id, or 0 if
// the cache has no room.
func (s *Server) newSession(results []fetchPartition, byTopicID bool) int32 {
	if s.sessions.slots <= 0 {
		return 0
	}
	if !byTopicID {
		for i := range results {
			if len(results[i].topicName) > sessionTopicNameBytesMax {
				return 0
			}
		}
	}
	session := newFetchSession(byTopicID, len(results))
	for i := range results {
		result := &results[i]
		key := sessionKey{partition: result.partition}
		if byTopicID {
			key.topicID = result.topicID
		} else {
			key.topic = result.topicName
		}
		p, _ := session.add(key)
		p.fetchOffset, p.partitionMaxBytes = result.fetchOffset, result.partitionMaxBytes
		if byTopicID {
			if t, ok := s.cfg.Cluster.TopicByID(result.topicID); ok {
				p.topicName = t.Name
			}
		}
		p.highWatermark, p.lastStableOffset, p.logStartOffset = result.offsets()
		if result.errorCode != 0 {
			p.highWatermark = offsetUnsent
		}
	}
	return s.sessions.insert(session)
}

// fetchIncremental answers an incremental fetch in session. It reports
// false, having answered nothing, when the request leaves the session
// empty: the session is then gone and the caller answers a full fetch.
func (s *Server) fetchIncremental(ctx context.Context, h *RequestHeader, r *kmsg.FetchRequest, session *fetchSession, params fetchParams, resp *Response) bool {
	fail := func(code int16) bool {
		encodeFetch(h, r.IsolationLevel, nil, code, 0, resp)
		return true
	}
	// 1. Under the session's lock: check the epoch, apply the request's
	//    additions, updates and forgotten partitions, advance the epoch,
	//    and take the session's partitions to read.
	session.mu.Lock()
	if r.SessionEpoch != session.epoch {
		session.mu.Unlock()
		return fail(kerr.InvalidFetchSessionEpoch.Code)
	}
	if session.usesTopicIDs != params.byTopicID {
		session.mu.Unlock()
		return fail(kerr.FetchSessionTopicIDError.Code)
	}
	if code := s.updateSession(session, r, params.byTopicID); code != 0 {
		session.mu.Unlock()
		return fail(code)
	}
	session.checkList()
	if len(session.partitions) == 0 {
		// Advance the epoch all the same: a request still waiting in
		// this session must not record into partitions just removed.
		session.epoch = nextFetchSessionEpoch(session.epoch)
		session.mu.Unlock()
		s.sessions.removeSession(session)
		return false
	}
	session.epoch = nextFetchSessionEpoch(session.epoch)
	expected := session.epoch
	results := make([]fetchPartition, 0, len(session.partitions))
	for p := session.first; p != nil; p = p.next {
		results = append(results, fetchPartition{topicName: p.key.topic, topicID: p.key.topicID, partition: p.key.partition, fetchOffset: p.fetchOffset, partitionMaxBytes: p.partitionMaxBytes, cached: p})
	}
	session.mu.Unlock()
	s.sessions.touch(session)

	// 2. Read every partition of the session (not only those the
	//    request names), waiting for min_bytes across all of them.
	s.readAndWait(ctx, results, params)

	// 3. Under the lock again, unless another request used the session
	//    meanwhile (then this one's epoch is stale): keep the partitions
	//    that changed, remember what this response tells the client.
	session.mu.Lock()
	if session.epoch != expected {
		session.mu.Unlock()
		for i := range results {
			results[i].read.Release()
		}
		return fail(kerr.InvalidFetchSessionEpoch.Code)
	}
	for i := range results {
		result := &results[i]
		p := result.cached
		highWatermark, lastStable, logStart := result.offsets()
		send := result.read.Bytes > 0 || result.errorCode != 0 ||
			highWatermark != p.highWatermark || lastStable != p.lastStableOffset || logStart != p.logStartOffset
		p.highWatermark, p.lastStableOffset, p.logStartOffset = highWatermark, lastStable, logStart
		if result.errorCode != 0 {
			p.highWatermark = offsetUnsent
		}
		if result.read.Bytes > 0 {
			session.moveToBack(p)
		}
		if !send {
			result.omit = true
			result.read.Release()
		}
	}
	session.checkList()
	session.mu.Unlock()
	s.sessions.incremental.Add(1)
	encodeFetch(h, r.IsolationLevel, results, 0, session.id, resp)
	return true
}

// updateSession applies an incremental request's partitions (added, or
// their fetch offset and byte limit updated) and then its forgotten
// partitions, as Kafka orders them. The session may hold at most
// fetchPartitionsMax partitions once both are applied (a consumer near the
// bound may swap its partitions in one request). It changes nothing when
// it answers an error. REQUIRES: session.mu held.
func (s *Server) updateSession(session *fetchSession, r *kmsg.FetchRequest, byTopicID bool) int16 {
	adding := 0 // an upper bound: a partition named twice counts twice
	for ti := range r.Topics {
		rt := &r.Topics[ti]
		if !byTopicID && len(rt.Topic) > sessionTopicNameBytesMax {
			return kerr.InvalidRequest.Code
		}
		for pi := range rt.Partitions {
			if session.partitions[requestKey(rt, rt.Partitions[pi].Partition, byTopicID)] == nil {
				adding++
			}
		}
	}
	if len(session.partitions)+adding > fetchPartitionsMax && sessionSizeAfter(session, r, byTopicID) > fetchPartitionsMax {
		return kerr.InvalidRequest.Code
	}
	for ti := range r.Topics {
		rt := &r.Topics[ti]
		topicName := ""
		if byTopicID {
			if t, ok := s.cfg.Cluster.TopicByID(rt.TopicID); ok {
				topicName = t.Name
			}
		}
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			p, added := session.add(requestKey(rt, rp.Partition, byTopicID))
			if added {
				p.topicName = topicName
			}
			p.fetchOffset, p.partitionMaxBytes = rp.FetchOffset, rp.PartitionMaxBytes
		}
	}
	for fi := range r.ForgottenTopics {
		ft := &r.ForgottenTopics[fi]
		for _, partition := range ft.Partitions {
			key := forgottenKey(ft, partition, byTopicID)
			session.remove(key)
		}
	}
	return 0
}

// sessionSizeAfter is how many partitions session would hold after
// updateSession applied r: its partitions plus the distinct ones r adds,
// less the distinct ones r forgets that are among those. It changes
// nothing. Its sets hold only partitions r adds (at most
// fetchPartitionsMax, as handleFetch checked) and partitions of the
// session or r that r forgets, so forgetting partitions the session lacks
// costs no memory. REQUIRES: session.mu held.
func sessionSizeAfter(session *fetchSession, r *kmsg.FetchRequest, byTopicID bool) int {
	added := map[sessionKey]struct{}{}
	for ti := range r.Topics {
		rt := &r.Topics[ti]
		for pi := range rt.Partitions {
			if key := requestKey(rt, rt.Partitions[pi].Partition, byTopicID); session.partitions[key] == nil {
				added[key] = struct{}{}
			}
		}
	}
	size := len(session.partitions) + len(added)
	forgotten := map[sessionKey]struct{}{}
	for fi := range r.ForgottenTopics {
		ft := &r.ForgottenTopics[fi]
		for _, partition := range ft.Partitions {
			key := forgottenKey(ft, partition, byTopicID)
			if _, isAdded := added[key]; session.partitions[key] == nil && !isAdded {
				continue
			}
			if _, seen := forgotten[key]; !seen {
				forgotten[key] = struct{}{}
				size--
			}
		}
	}
	return size
}

func requestKey(rt *kmsg.FetchRequestTopic, partition int32, byTopicID bool) sessionKey {
	if byTopicID {
		return sessionKey{topicID: rt.TopicID, partition: partition}
	}
	return sessionKey{topic: rt.Topic, partition: partition}
}

// forgottenKey is requestKey for a partition in forgotten_topics_data.
func forgottenKey(ft *kmsg.FetchRequestForgottenTopic, partition int32, byTopicID bool) sessionKey {
	if byTopicID {
		return sessionKey{topicID: ft.TopicID, partition: partition}
	}
	return sessionKey{topic: ft.Topic, partition: partition}
}

// readAndWait reads results, and while fewer than min_bytes are ready
// and no partition has an error, waits on their high-watermark notifiers
// (at most until the deadline) and reads again. An error answers at once,
// as Kafka's delayed fetch does: a consumer told OFFSET_OUT_OF_RANGE or
// UNKNOWN_TOPIC_OR_PARTITION resets or refreshes its metadata now rather
// than after max_wait.
func (s *Server) readAndWait(ctx context.Context, results []fetchPartition, params fetchParams) {
	var waitOn []<-chan struct{}
	for {
		waitOn = waitOn[:0]
		total := s.readAll(results, params, &waitOn)
		if total >= int64(params.minBytes) || time.Now().After(params.deadline) || len(waitOn) == 0 || anyError(results) {
			return
		}
		for i := range results {
			results[i].read.Release()
		}
		if !waitForData(ctx, waitOn, time.Until(params.deadline)) {
			// Read once more, so the answer is as of the deadline.
			waitOn = waitOn[:0]
			s.readAll(results, params, &waitOn)
			return
		}
	}
}

// readAll plans every partition into results, returning the bytes
// planned, and collects the notifiers to wait on.
func (s *Server) readAll(results []fetchPartition, params fetchParams, waitOn *[]<-chan struct{}) int64 {
	total := int64(0)
	var t *meta.Topic
	known := false
	for i := range results {
		result := &results[i]
		// Consecutive partitions of one topic resolve it once.
		if !known || params.byTopicID && result.topicID != t.ID || !params.byTopicID && result.topicName != t.Name {
			if params.byTopicID {
				t, known = s.cfg.Cluster.TopicByID(result.topicID)
			} else {
				t, known = s.cfg.Cluster.Topic(result.topicName)
			}
		}
		result.errorCode = 0
		result.read = engine.ReadResult{}
		switch {
		case !known && params.byTopicID:
			result.errorCode = kerr.UnknownTopicID.Code
			if result.cached != nil && result.cached.topicName != "" {
				if _, ok := s.cfg.Cluster.Topic(result.cached.topicName); ok {
					// The name now belongs to a new topic.
					result.errorCode = kerr.InconsistentTopicID.Code
				}
			}
			continue
		case !known || result.partition < 0 || int(result.partition) >= len(t.Partitions):
			result.errorCode = kerr.UnknownTopicOrPartition.Code
			continue
		}
		log := t.Partitions[result.partition].Log
		// Take the notifier before reading, so an append between the
		// read and the wait still wakes us.
		*waitOn = append(*waitOn, log.HighWatermarkChanged())
		budget := max(min(int64(result.partitionMaxBytes), params.maxBytes-total), 0)
		err := log.Read(engine.Offset(result.fetchOffset), budget, total == 0, params.isolation, &result.read)
		result.errorCode = errorCode(err)
		total += result.read.Bytes
	}
	return total
}

// anyError reports a partition answered with an error code.
func anyError(results []fetchPartition) bool {
	for i := range results {
		if results[i].errorCode != 0 {
			return true
		}
	}
	return false
}

// waitForData waits until one notifier fires, the timeout passes or ctx
// ends; it reports whether to read again.
func waitForData(ctx context.Context, channels []<-chan struct{}, timeout time.Duration) bool {
	if timeout <= 0 {
		return false
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	if len(channels) == 1 {
		select {
		case <-channels[0]:
			return true
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
	cases := make([]reflect.SelectCase, 0, len(channels)+2)
	cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)})
	cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())})
	for _, ch := range channels {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
	}
	chosen, _, _ := reflect.Select(cases)
	return chosen >= 2
}

// encodeFetch writes the response: results not omitted, consecutive
// partitions of one topic under one topic entry (a topic may appear twice
// if its partitions are not adjacent, as in Kafka's responses).
func encodeFetch(h *RequestHeader, isolationLevel int8, results []fetchPartition, topError int16, sessionID int32, resp *Response) {
	version := h.APIVersion
	flexible := version >= 12
	byTopicID := version >= 13
	resp.begin(h.CorrelationID, flexible)
	b := resp.buf
	b = binary.BigEndian.AppendUint32(b, 0) // throttle_time_ms
	if version >= 7 {
		b = binary.BigEndian.AppendUint16(b, uint16(topError))
		b = binary.BigEndian.AppendUint32(b, uint32(sessionID))
	}
	sameTopic := func(a, b *fetchPartition) bool {
		if byTopicID {
			return a.topicID == b.topicID
		}
		return a.topicName == b.topicName
	}
	// Count the topic entries, then write them.
	topics := 0
	var previous *fetchPartition
	for i := range results {
		if results[i].omit {
			continue
		}
		if previous == nil || !sameTopic(previous, &results[i]) {
			topics++
		}
		previous = &results[i]
	}
	b = appendArrayLength(b, topics, flexible)
	for i := 0; i < len(results); {
		if results[i].omit {
			i++
			continue
		}
		first := &results[i]
		end, partitions := i, 0
		for end < len(results) && (results[end].omit || sameTopic(first, &results[end])) {
			if !results[end].omit {
				partitions++
			}
			end++
		}
		if byTopicID {
			b = append(b, first.topicID[:]...)
		} else {
			b = appendString(b, first.topicName, flexible)
		}
		b = appendArrayLength(b, partitions, flexible)
		for ; i < end; i++ {
			result := &results[i]
			if result.omit {
				continue
			}
			read := &result.read
			b = binary.BigEndian.AppendUint32(b, uint32(result.partition))
			b = binary.BigEndian.AppendUint16(b, uint16(result.errorCode))
			highWatermark, lastStable, logStart := result.offsets()
			b = binary.BigEndian.AppendUint64(b, uint64(highWatermark))
			b = binary.BigEndian.AppendUint64(b, uint64(lastStable))
			if version >= 5 {
				b = binary.BigEndian.AppendUint64(b, uint64(logStart))
			}
			if isolationLevel == 1 {
				b = appendArrayLength(b, 0, flexible) // no aborted transactions yet
			} else {
				b = appendNullArray(b, flexible)
			}
			if version >= 11 {
				b = binary.BigEndian.AppendUint32(b, 0xffffffff) // preferred_read_replica -1
			}
			records := int64(0)
			for _, e := range read.Extents {
				records += e.Length
			}
			b = appendBytesLength(b, records, flexible)
			if records > 0 {
				resp.buf = b
				for _, e := range read.Extents {
					resp.addExtent(e)
				}
				resp.reads = append(resp.reads, *read)
				b = resp.buf
			} else {
				read.Release()
			}
			b = appendTags(b, flexible)
		}
		b = appendTags(b, flexible)
	}
	b = appendTags(b, flexible)
	resp.buf = b
	resp.finish()
}

func appendArrayLength(b []byte, n int, flexible bool) []byte {
	if flexible {
		return binary.AppendUvarint(b, uint64(n)+1)
	}
	return binary.BigEndian.AppendUint32(b, uint32(n))
}

func appendNullArray(b []byte, flexible bool) []byte {
	if flexible {
		return append(b, 0)
	}
	return binary.BigEndian.AppendUint32(b, 0xffffffff)
}

func appendString(b []byte, s string, flexible bool) []byte {
	if flexible {
		b = binary.AppendUvarint(b, uint64(len(s))+1)
	} else {
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	}
	return append(b, s...)
}

func appendBytesLength(b []byte, n int64, flexible bool) []byte {
	if flexible {
		return binary.AppendUvarint(b, uint64(n)+1)
	}
	return binary.BigEndian.AppendUint32(b, uint32(n))
}

func appendTags(b []byte, flexible bool) []byte {
	if flexible {
		return append(b, 0)
	}
	return b
}
