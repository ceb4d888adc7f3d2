package wire

// Fetch sessions (KIP-227): the broker remembers, per session, the
// partitions a consumer fetches and what it last told the consumer about
// each, so that later requests name only what changed and responses carry
// only partitions with news.
//
// A session is keyed by its id alone, as in Kafka: it is not bound to a
// connection, and a client may carry it across a reconnect. The cache is
// bounded by max.incremental.fetch.session.cache.slots (Kafka's name and
// default, 1000). When it is full, a new session may take the place of
//
//  1. the least recently used session, if it has been idle longer than
//     fetchSessionEvictAfter (Kafka's 2 minutes); otherwise
//  2. of the sessions cached longer than fetchSessionEvictAfter, the one
//     with the fewest partitions, if the new session has strictly more.
//
// Otherwise no session is made (id 0) and the client goes on with full
// fetches, as Kafka does. Kafka's third tier, sessions of replica fetchers
// privileged over consumers, does not apply: only consumers fetch here.
//
// Epochs: a session is made at epoch 1 (the client's first incremental
// request carries 1); each accepted incremental request advances it, from
// MaxInt32 to 1.
//
// Locks: the cache's mu guards the id map, the LRU list and each session's
// cache fields; a session's mu guards its epoch and partitions. No
// goroutine holds both.

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"spool/internal/invariants"
)

// fetchSessionEvictAfter is Kafka's MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS:
// a session idle this long may be evicted by any new one, and a session
// cached this long may be evicted by a larger one.
const fetchSessionEvictAfter = 2 * time.Minute

// offsetUnsent stands for "not yet told to the client" in a session
// partition's remembered offsets (Kafka's INVALID_HIGH_WATERMARK, -1): any
// real answer differs from it, so the partition is sent.
const offsetUnsent = -1

// sessionKey names a session partition: by topic ID when the session
// was made at fetch v13+, by topic name below.
type sessionKey struct {
	topicID   [16]byte
	topic     string
	partition int32
}

// sessionPartition is one partition of a session, a node of the session's
// ordered list. Its session's mu guards every field.
type sessionPartition struct {
	key sessionKey
	// topicName is the name an ID-keyed partition's topic had when it
	// joined the session ("" if the ID did not resolve): if the ID stops
	// resolving while the name does, the topic was recreated and the
	// partition answers INCONSISTENT_TOPIC_ID, as in Kafka.
	topicName string

	// What the client last asked.
	fetchOffset       int64
	partitionMaxBytes int32

	// What the client was last told (offsetUnsent before the first
	// response, and after an error so the partition is sent once it
	// clears).
	highWatermark    int64
	lastStableOffset int64
	logStartOffset   int64

	prev, next *sessionPartition
}

// fetchSession is one client's session.
type fetchSession struct {
	// Set before the session is cached, read-only after.
	usesTopicIDs bool

	// Owned by the cache, written under its mu. id is set before the
	// session is published in the map, so whoever got it from the map
	// reads it freely.
	id                int32
	created, lastUsed time.Time
	lruPrev, lruNext  *fetchSession
	cached            bool
	partitionsAtTouch int // the partition count the cache accounts for

	// partitionCount is len(partitions), readable without mu (for the
	// cache's eviction choice).
	partitionCount atomic.Int32

	mu          sync.Mutex
	epoch       int32 // the epoch the next incremental request must carry
	partitions  map[sessionKey]*sessionPartition
	first, last *sessionPartition // the order responses follow
}

func newFetchSession(usesTopicIDs bool, partitions int) *fetchSession {
	return &fetchSession{
		usesTopicIDs: usesTopicIDs,
		epoch:        1,
		partitions:   make(map[sessionKey]*sessionPartition, partitions),
	}
}

// add appends a partition to the session's order, or returns the one
// already there under that key. REQUIRES: s.mu held, or s not yet shared.
func (s *fetchSession) add(key sessionKey) (p *sessionPartition, added bool) {
	if p := s.partitions[key]; p != nil {
		return p, false
	}
	p = &sessionPartition{key: key, highWatermark: offsetUnsent, lastStableOffset: offsetUnsent, logStartOffset: offsetUnsent}
	s.partitions[key] = p
	s.linkLast(p)
	s.partitionCount.Store(int32(len(s.partitions)))
	return p, true
}

// remove drops a partition from the session. REQUIRES: s.mu held.
func (s *fetchSession) remove(key sessionKey) {
	p := s.partitions[key]
	if p == nil {
		return
	}
	delete(s.partitions, key)
	s.unlink(p)
	s.partitionCount.Store(int32(len(s.partitions)))
}

// moveToBack puts a partition last, so partitions that just returned
// records yield to the others when the next response's byte budget runs
// out (Kafka rotates the same way). REQUIRES: s.mu held.
func (s *fetchSession) moveToBack(p *sessionPartition) {
	if s.last == p {
		return
	}
	s.unlink(p)
	s.linkLast(p)
}

func (s *fetchSession) linkLast(p *sessionPartition) {
	p.prev, p.next = s.last, nil
	if s.last != nil {
		s.last.next = p
	} else {
		s.first = p
	}
	s.last = p
}

func (s *fetchSession) unlink(p *sessionPartition) {
	if p.prev != nil {
		p.prev.next = p.next
	} else {
		s.first = p.next
	}
	if p.next != nil {
		p.next.prev = p.prev
	} else {
		s.last = p.prev
	}
	p.prev, p.next = nil, nil
}

// checkList panics unless the ordered list holds exactly the map's
// partitions (invariants builds). REQUIRES: s.mu held.
func (s *fetchSession) checkList() {
	if !invariants.Enabled {
		return
	}
	n := 0
	var prev *sessionPartition
	for p := s.first; p != nil; p = p.next {
		if p.prev != prev || s.partitions[p.key] != p {
			invariants.Failf("fetch session %d: list broken at %+v", s.id, p.key)
		}
		prev = p
		n++
	}
	if n != len(s.partitions) || s.last != prev {
		invariants.Failf("fetch session %d: list holds %d partitions, map %d", s.id, n, len(s.partitions))
	}
}

// nextFetchSessionEpoch is the epoch after epoch: it wraps from MaxInt32
// to 1 (0 and -1 mean full fetches).
func nextFetchSessionEpoch(epoch int32) int32 {
	if epoch == math.MaxInt32 {
		return 1
	}
	return epoch + 1
}

// fetchSessionCache holds a broker's sessions. Any goroutine.
type fetchSessionCache struct {
	slots      int
	evictAfter time.Duration
	now        func() time.Time
	// randomID draws a session id candidate (tests make it predictable).
	randomID func() int32

	mu       sync.Mutex
	sessions map[int32]*fetchSession
	lruFirst *fetchSession // least recently used
	lruLast  *fetchSession
	// partitions is the sum of the cached sessions' partitionsAtTouch.
	partitions int

	created     atomic.Int64
	evicted     atomic.Int64
	incremental atomic.Int64
}

func newFetchSessionCache(slots int) *fetchSessionCache {
	return &fetchSessionCache{
		slots:      slots,
		evictAfter: fetchSessionEvictAfter,
		now:        time.Now,
		randomID:   func() int32 { return rand.Int32N(math.MaxInt32-1) + 1 },
		sessions:   map[int32]*fetchSession{},
	}
}

// get returns session id, or nil.
func (c *fetchSessionCache) get(id int32) *fetchSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessions[id]
}

// insert caches a new session, evicting one if the cache is full and the
// rules at the top of this file allow; it returns the session's id, or 0
// when there is no room.
func (c *fetchSessionCache) insert(s *fetchSession) int32 {
	if c.slots <= 0 {
		return 0
	}
	size := int(s.partitionCount.Load())
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.sessions) >= c.slots && !c.evictFor(size, now) {
		return 0
	}
	// Random ids, as Kafka's: a client cannot guess another's session.
	for {
		s.id = c.randomID()
		if s.id > 0 && c.sessions[s.id] == nil {
			break
		}
	}
	s.created, s.lastUsed, s.cached = now, now, true
	s.partitionsAtTouch = size
	c.partitions += size
	c.sessions[s.id] = s
	c.lruAppend(s)
	c.created.Add(1)
	return s.id
}

// evictFor makes room for a session of size partitions, if it may.
// REQUIRES: c.mu held.
func (c *fetchSessionCache) evictFor(size int, now time.Time) bool {
	if lru := c.lruFirst; lru != nil && now.Sub(lru.lastUsed) > c.evictAfter {
		c.drop(lru)
		c.evicted.Add(1)
		return true
	}
	// Only when the cache is full and nothing is idle: a scan of at
	// most slots sessions.
	var victim *fetchSession
	for s := c.lruFirst; s != nil; s = s.lruNext {
		if now.Sub(s.created) <= c.evictAfter {
			continue
		}
		if victim == nil || s.partitionsAtTouch < victim.partitionsAtTouch || s.partitionsAtTouch == victim.partitionsAtTouch && s.id < victim.id {
			victim = s
		}
	}
	if victim == nil || size <= victim.partitionsAtTouch {
		return false
	}
	c.drop(victim)
	c.evicted.Add(1)
	return true
}

// remove forgets session id (a client closing it, or a full fetch naming
// it); it reports whether it was cached.
func (c *fetchSessionCache) remove(id int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sessions[id]
	if s == nil {
		return false
	}
	c.drop(s)
	return true
}

// removeSession forgets s if it is still cached.
func (c *fetchSessionCache) removeSession(s *fetchSession) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.cached && c.sessions[s.id] == s {
		c.drop(s)
	}
}

// touch marks s used now and accounts for its partition count.
func (c *fetchSessionCache) touch(s *fetchSession) {
	size := int(s.partitionCount.Load())
	c.mu.Lock()
	defer c.mu.Unlock()
	if !s.cached {
		return
	}
	s.lastUsed = c.now()
	c.partitions += size - s.partitionsAtTouch
	s.partitionsAtTouch = size
	c.lruUnlink(s)
	c.lruAppend(s)
}

// drop removes s. REQUIRES: c.mu held, s cached.
func (c *fetchSessionCache) drop(s *fetchSession) {
	delete(c.sessions, s.id)
	c.lruUnlink(s)
	c.partitions -= s.partitionsAtTouch
	s.cached = false
}

func (c *fetchSessionCache) lruAppend(s *fetchSession) {
	s.lruPrev, s.lruNext = c.lruLast, nil
	if c.lruLast != nil {
		c.lruLast.lruNext = s
	} else {
		c.lruFirst = s
	}
	c.lruLast = s
}

func (c *fetchSessionCache) lruUnlink(s *fetchSession) {
	if s.lruPrev != nil {
		s.lruPrev.lruNext = s.lruNext
	} else {
		c.lruFirst = s.lruNext
	}
	if s.lruNext != nil {
		s.lruNext.lruPrev = s.lruPrev
	} else {
		c.lruLast = s.lruPrev
	}
	s.lruPrev, s.lruNext = nil, nil
}

// FetchSessionStats describes the fetch session cache, for /metrics.
type FetchSessionStats struct {
	Sessions   int   // cached now
	Partitions int   // in cached sessions, as of each one's last use
	Slots      int   // max.incremental.fetch.session.cache.slots
	Created    int64 // sessions made since start
	Evicted    int64 // sessions evicted to make room for others
	// Incremental counts incremental fetches answered within a session.
	Incremental int64
}

// FetchSessionStats reports the fetch session cache. Any goroutine.
func (s *Server) FetchSessionStats() FetchSessionStats {
	c := s.sessions
	c.mu.Lock()
	stats := FetchSessionStats{Sessions: len(c.sessions), Partitions: c.partitions, Slots: c.slots}
	c.mu.Unlock()
	stats.Created, stats.Evicted, stats.Incremental = c.created.Load(), c.evicted.Load(), c.incremental.Load()
	return stats
}
