package group

import (
	"encoding/binary"
	"errors"
	"hash/fnv"
	"log/slog"
	"sort"
	"sync"
	"time"

	"spool/segment"
)

// Defaults, Kafka's.
const (
	MinSessionTimeoutDefault     = 6 * time.Second
	MaxSessionTimeoutDefault     = 30 * time.Minute
	InitialRebalanceDelayDefault = 3 * time.Second
	OffsetsRetentionDefault      = 7 * 24 * time.Hour
	RetentionCheckDefault        = 10 * time.Minute
	MetadataMaxBytesDefault      = 4096
	// compactMinRecords: below this many records a partition of
	// __consumer_offsets is never rewritten.
	compactMinRecords = 10_000
	tick              = 100 * time.Millisecond
)

// Config configures a Coordinator.
type Config struct {
	// Partitions of __consumer_offsets (at least one).
	Partitions            []Partition
	MinSessionTimeout     time.Duration // group.min.session.timeout.ms
	MaxSessionTimeout     time.Duration // group.max.session.timeout.ms
	InitialRebalanceDelay time.Duration // group.initial.rebalance.delay.ms (0 is none)
	MaxSize               int           // group.max.size (0: no limit)
	OffsetsRetention      time.Duration // offsets.retention.minutes
	RetentionCheck        time.Duration // offsets.retention.check.interval.ms
	MetadataMaxBytes      int           // offset.metadata.max.bytes
	Logger                *slog.Logger
}

// Coordinator runs every group of this node.
type Coordinator struct {
	cfg    Config
	logger *slog.Logger
	store  *store

	mu     sync.Mutex
	groups map[string]*group

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// Open replays __consumer_offsets and starts the ticker.
func Open(cfg Config) (*Coordinator, error) {
	if len(cfg.Partitions) == 0 {
		return nil, errors.New("group: no __consumer_offsets partitions")
	}
	if cfg.MinSessionTimeout <= 0 {
		cfg.MinSessionTimeout = MinSessionTimeoutDefault
	}
	if cfg.MaxSessionTimeout <= 0 {
		cfg.MaxSessionTimeout = MaxSessionTimeoutDefault
	}
	if cfg.InitialRebalanceDelay < 0 {
		cfg.InitialRebalanceDelay = 0
	}
	if cfg.OffsetsRetention == 0 {
		cfg.OffsetsRetention = OffsetsRetentionDefault
	}
	if cfg.RetentionCheck <= 0 {
		cfg.RetentionCheck = RetentionCheckDefault
	}
	if cfg.MetadataMaxBytes <= 0 {
		cfg.MetadataMaxBytes = MetadataMaxBytesDefault
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Coordinator{cfg: cfg, logger: cfg.Logger, store: newStore(cfg.Partitions), groups: map[string]*group{}, stop: make(chan struct{}), done: make(chan struct{})}
	if err := c.replay(); err != nil {
		return nil, err
	}
	for p := range c.store.parts {
		if err := c.maybeCompact(p); err != nil {
			c.logger.Warn("could not compact __consumer_offsets", "partition", p, "error", err)
		}
	}
	go c.run()
	return c, nil
}

// Close stops the ticker and answers parked requests. The logs belong to
// the caller.
func (c *Coordinator) Close() {
	c.stopOnce.Do(func() { close(c.stop) })
	<-c.done
}

func (c *Coordinator) run() {
	defer close(c.done)
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	lastRetention := time.Now()
	for {
		select {
		case <-c.stop:
			return
		case now := <-ticker.C:
			for _, g := range c.snapshot() {
				g.mu.Lock()
				c.expire(g, now)
				g.mu.Unlock()
			}
			if now.Sub(lastRetention) >= c.cfg.RetentionCheck {
				lastRetention = now
				c.expireOffsets(now)
				for p := range c.store.parts {
					if err := c.maybeCompact(p); err != nil {
						c.logger.Warn("could not compact __consumer_offsets", "partition", p, "error", err)
					}
				}
			}
		}
	}
}

func (c *Coordinator) snapshot() []*group {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		out = append(out, g)
	}
	return out
}

// PartitionFor is the partition of __consumer_offsets holding a group.
func (c *Coordinator) PartitionFor(groupID string) int {
	h := fnv.New32a()
	h.Write([]byte(groupID))
	return int(h.Sum32() % uint32(len(c.store.parts)))
}

func (c *Coordinator) lookup(id string) *group {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.groups[id]
}

// groupFor finds a group, creating it when create is set.
func (c *Coordinator) groupFor(id string, create bool) (*group, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g := c.groups[id]; g != nil {
		return g, nil
	}
	if !create {
		return nil, ErrUnknownMember
	}
	g := newGroup(id, c.PartitionFor(id), time.Now())
	c.groups[id] = g
	return g, nil
}

// dropIfUnused forgets an empty group with nothing stored. Under c.mu or
// during replay; takes no group lock (the caller holds it or is alone).
func (c *Coordinator) dropIfUnused(g *group) {
	if g.state == Empty && len(g.members) == 0 && len(g.pending) == 0 && len(g.offsets) == 0 && !g.stored {
		delete(c.groups, g.id)
	}
}

// lockForStore takes, in order, the locks a write of the group's own
// records needs short of g.mu: its partition's store lock (shared) and the
// group's store lock. It returns their release.
func (c *Coordinator) lockForStore(g *group) (unlock func()) {
	part := &c.store.parts[g.partition]
	part.mu.RLock()
	g.storeMu.Lock()
	return func() {
		g.storeMu.Unlock()
		part.mu.RUnlock()
	}
}

// storeGroup appends the group's current metadata. Called without g.mu.
func (c *Coordinator) storeGroup(g *group) error {
	unlock := c.lockForStore(g)
	defer unlock()
	g.mu.Lock()
	if g.state == Dead {
		g.mu.Unlock()
		return nil
	}
	value := g.metadataValue(time.Now())
	g.mu.Unlock()
	_, err := c.store.append(g.partition, []segment.KeyValue{{Key: groupKey(g.id), Value: value}})
	if err == nil {
		g.mu.Lock()
		g.stored = true
		g.mu.Unlock()
	}
	return err
}

// storeGroupAsync stores the group's metadata after a change no request
// waits on (it became empty; a static member got a new id).
func (c *Coordinator) storeGroupAsync(g *group) {
	go func() {
		if err := c.storeGroup(g); err != nil {
			c.logger.Warn("could not store group metadata", "group", g.id, "error", err)
		}
	}()
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Committed is a committed offset.
type Committed struct {
	Offset      int64
	LeaderEpoch int32
	Metadata    string
	CommitTime  time.Time
	logOffset   int64 // where its record is in __consumer_offsets
}

// OffsetCommit is one partition's commit.
type OffsetCommit struct {
	TopicPartition
	Offset      int64
	LeaderEpoch int32
	Metadata    string
}

// CommitRequest is an OffsetCommit. Generation -1 with no member id is a
// simple commit, allowed while the group has no members.
type CommitRequest struct {
	Group      string
	MemberID   string
	InstanceID *string
	Generation int32
	Offsets    []OffsetCommit
}

// Commit stores offsets durably and answers per offset (in order), or one
// error for all.
func (c *Coordinator) Commit(req CommitRequest) ([]error, error) {
	if req.Group == "" {
		return nil, ErrInvalidGroupID
	}
	simple := req.Generation < 0 && req.MemberID == "" && req.InstanceID == nil
	g := c.lookup(req.Group)
	if g == nil {
		if req.Generation >= 0 {
			return nil, ErrCommitUnknownGroup
		}
		var err error
		if g, err = c.groupFor(req.Group, true); err != nil {
			return nil, err
		}
	}
	part := &c.store.parts[g.partition]
	part.mu.RLock()
	defer part.mu.RUnlock()
	g.mu.Lock()
	if err := g.checkCommit(req, simple); err != nil {
		g.mu.Unlock()
		return nil, err
	}
	g.mu.Unlock()
	errs := make([]error, len(req.Offsets))
	now := time.Now()
	records := make([]segment.KeyValue, 0, len(req.Offsets))
	values := make([]Committed, 0, len(req.Offsets))
	index := make([]int, 0, len(req.Offsets))
	for i, o := range req.Offsets {
		if len(o.Metadata) > c.cfg.MetadataMaxBytes {
			errs[i] = ErrMetadataTooLarge
			continue
		}
		committed := Committed{Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, Metadata: o.Metadata, CommitTime: now}
		records = append(records, segment.KeyValue{Key: offsetKey(req.Group, o.TopicPartition), Value: offsetValue(committed)})
		values = append(values, committed)
		index = append(index, i)
	}
	if len(records) == 0 {
		return errs, nil
	}
	first, err := c.store.append(g.partition, records)
	if err != nil {
		return nil, errors.Join(ErrNotAvailable, err)
	}
	g.mu.Lock()
	for j, i := range index {
		values[j].logOffset = int64(first) + int64(j)
		tp := req.Offsets[i].TopicPartition
		if old, ok := g.offsets[tp]; !ok || old.logOffset < values[j].logOffset {
			g.offsets[tp] = values[j]
		}
	}
	g.mu.Unlock()
	return errs, nil
}

// checkCommit is Kafka's validation of a commit. Under g.mu.
func (g *group) checkCommit(req CommitRequest, simple bool) error {
	if g.state == Dead {
		return ErrNotAvailable
	}
	if req.InstanceID != nil {
		if id, ok := g.static[*req.InstanceID]; ok && id != req.MemberID {
			return ErrFencedInstance
		}
	}
	if req.Generation < 0 && g.state == Empty {
		return nil
	}
	if simple && len(g.members) == 0 {
		return nil
	}
	if _, ok := g.members[req.MemberID]; !ok {
		return ErrUnknownMember
	}
	if req.Generation != g.generation {
		return ErrIllegalGeneration
	}
	if g.state == CompletingRebalance {
		return ErrRebalanceInProgress
	}
	return nil
}

// OffsetResult is one partition's committed offset; Offset -1 when none.
type OffsetResult struct {
	TopicPartition
	Committed
}

// FetchOffsets answers committed offsets: of the partitions asked for, or
// of every partition with a commit when partitions is nil.
func (c *Coordinator) FetchOffsets(groupID string, partitions []TopicPartition) []OffsetResult {
	g := c.lookup(groupID)
	var out []OffsetResult
	if g == nil {
		for _, tp := range partitions {
			out = append(out, OffsetResult{TopicPartition: tp, Committed: Committed{Offset: -1, LeaderEpoch: -1}})
		}
		return out
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if partitions == nil {
		for tp, committed := range g.offsets {
			out = append(out, OffsetResult{TopicPartition: tp, Committed: committed})
		}
		sort.Slice(out, func(i, j int) bool {
			if out[i].Topic != out[j].Topic {
				return out[i].Topic < out[j].Topic
			}
			return out[i].Partition < out[j].Partition
		})
		return out
	}
	for _, tp := range partitions {
		committed, ok := g.offsets[tp]
		if !ok {
			committed = Committed{Offset: -1, LeaderEpoch: -1}
		}
		out = append(out, OffsetResult{TopicPartition: tp, Committed: committed})
	}
	return out
}

// DeleteOffsets removes committed offsets of partitions the group does not
// consume (OffsetDelete). Per-partition errors in order.
func (c *Coordinator) DeleteOffsets(groupID string, partitions []TopicPartition) ([]error, error) {
	g := c.lookup(groupID)
	if g == nil {
		return nil, ErrGroupNotFound
	}
	part := &c.store.parts[g.partition]
	part.mu.RLock()
	defer part.mu.RUnlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state == Dead {
		return nil, ErrGroupNotFound
	}
	var subscribed map[string]bool
	if len(g.members) > 0 {
		if g.protocolType != "consumer" {
			return nil, ErrNonEmptyGroup
		}
		subscribed = g.subscribedTopics()
	}
	errs := make([]error, len(partitions))
	var records []segment.KeyValue
	var gone []TopicPartition
	for i, tp := range partitions {
		if subscribed[tp.Topic] {
			errs[i] = ErrSubscribedToTopic
			continue
		}
		if _, ok := g.offsets[tp]; ok {
			records = append(records, segment.KeyValue{Key: offsetKey(g.id, tp)})
			gone = append(gone, tp)
		}
	}
	if len(records) > 0 {
		if _, err := c.store.append(g.partition, records); err != nil {
			return nil, errors.Join(ErrNotAvailable, err)
		}
		for _, tp := range gone {
			delete(g.offsets, tp)
		}
	}
	return errs, nil
}

// subscribedTopics reads the topics out of the members' consumer-protocol
// subscriptions (version, then an array of topic names). Under g.mu.
func (g *group) subscribedTopics() map[string]bool {
	topics := map[string]bool{}
	for _, m := range g.members {
		b := m.metadataFor(g.protocol)
		if len(b) < 6 {
			continue
		}
		count := int32(binary.BigEndian.Uint32(b[2:]))
		b = b[6:]
		for i := int32(0); i < count && len(b) >= 2; i++ {
			n := int(int16(binary.BigEndian.Uint16(b)))
			if n < 0 || len(b) < 2+n {
				break
			}
			topics[string(b[2:2+n])] = true
			b = b[2+n:]
		}
	}
	return topics
}

// MemberDescription describes one member.
type MemberDescription struct {
	MemberID   string
	InstanceID *string
	ClientID   string
	ClientHost string
	Metadata   []byte
	Assignment []byte
}

// Description describes a group (DescribeGroups).
type Description struct {
	Group        string
	State        State
	ProtocolType string
	Protocol     string
	Generation   int32
	Members      []MemberDescription
}

// Describe describes a group; a group that does not exist is Dead.
func (c *Coordinator) Describe(groupID string) Description {
	g := c.lookup(groupID)
	if g == nil {
		return Description{Group: groupID, State: Dead}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	d := Description{Group: g.id, State: g.state, ProtocolType: g.protocolType, Protocol: g.protocol, Generation: g.generation}
	for _, m := range g.sortedMembers() {
		md := MemberDescription{MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost, Assignment: m.assignment}
		if g.state == Stable || g.state == CompletingRebalance {
			md.Metadata = m.metadataFor(g.protocol)
		}
		d.Members = append(d.Members, md)
	}
	return d
}

// Listing is one group in ListGroups.
type Listing struct {
	Group        string
	ProtocolType string
	State        State
}

// List lists every group, by name.
func (c *Coordinator) List() []Listing {
	var out []Listing
	for _, g := range c.snapshot() {
		g.mu.Lock()
		if g.state != Dead {
			out = append(out, Listing{Group: g.id, ProtocolType: g.protocolType, State: g.state})
		}
		g.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// Delete deletes an empty group and its offsets (DeleteGroups).
func (c *Coordinator) Delete(groupID string) error {
	g := c.lookup(groupID)
	if g == nil {
		return ErrGroupNotFound
	}
	unlock := c.lockForStore(g)
	defer unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.state == Dead:
		return ErrGroupNotFound
	case g.state != Empty || len(g.members) > 0:
		return ErrNonEmptyGroup
	}
	if err := c.tombstone(g); err != nil {
		return err
	}
	return nil
}

// tombstone writes tombstones for the group's metadata and offsets and
// marks it Dead. Under part.mu (shared), g.storeMu and g.mu.
func (c *Coordinator) tombstone(g *group) error {
	records := []segment.KeyValue{{Key: groupKey(g.id)}}
	for tp := range g.offsets {
		records = append(records, segment.KeyValue{Key: offsetKey(g.id, tp)})
	}
	if _, err := c.store.append(g.partition, records); err != nil {
		return errors.Join(ErrNotAvailable, err)
	}
	for _, m := range g.members {
		g.removeMember(m.id)
	}
	clear(g.pending)
	g.state = Dead
	g.offsets = map[TopicPartition]Committed{}
	c.mu.Lock()
	if c.groups[g.id] == g {
		delete(c.groups, g.id)
	}
	c.mu.Unlock()
	return nil
}

// expireOffsets removes the offsets of groups that have had no members for
// offsets.retention.minutes (counted from the later of the last commit and
// the moment the group became empty), and then the groups themselves.
func (c *Coordinator) expireOffsets(now time.Time) {
	if c.cfg.OffsetsRetention < 0 {
		return
	}
	for _, g := range c.snapshot() {
		unlock := c.lockForStore(g)
		g.mu.Lock()
		if g.state == Empty && len(g.pending) == 0 {
			var records []segment.KeyValue
			var gone []TopicPartition
			for tp, committed := range g.offsets {
				base := committed.CommitTime
				if g.emptySince.After(base) {
					base = g.emptySince
				}
				if now.Sub(base) >= c.cfg.OffsetsRetention {
					records = append(records, segment.KeyValue{Key: offsetKey(g.id, tp)})
					gone = append(gone, tp)
				}
			}
			if len(gone) == len(g.offsets) && now.Sub(g.emptySince) >= c.cfg.OffsetsRetention {
				if err := c.tombstone(g); err != nil {
					c.logger.Warn("could not expire a group", "group", g.id, "error", err)
				}
			} else if len(records) > 0 {
				if _, err := c.store.append(g.partition, records); err != nil {
					c.logger.Warn("could not expire offsets", "group", g.id, "error", err)
				} else {
					for _, tp := range gone {
						delete(g.offsets, tp)
					}
				}
			}
		}
		g.mu.Unlock()
		unlock()
	}
}

// Lag is one committed offset with the group's state, for the lag metric.
type Lag struct {
	Group string
	TopicPartition
	Committed int64
}

// CommittedOffsets lists every group's committed offsets.
func (c *Coordinator) CommittedOffsets() []Lag {
	var out []Lag
	for _, g := range c.snapshot() {
		g.mu.Lock()
		for tp, committed := range g.offsets {
			out = append(out, Lag{Group: g.id, TopicPartition: tp, Committed: committed.Offset})
		}
		g.mu.Unlock()
	}
	return out
}
