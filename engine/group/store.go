package group

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine"
	"spool/segment"
)

// Partition is one partition of __consumer_offsets: its log, the shard
// that owns it, and the leader epoch its batches are stamped with.
type Partition struct {
	Log   *engine.Log
	Shard *engine.Shard
	Epoch int32
}

// Key and value versions written, Kafka's: offset-commit keys v1, values v3
// (offset, leader epoch, metadata, commit time); group-metadata keys v2,
// values v3 (with static member ids).
const (
	offsetKeyVersion   = 1
	offsetValueVersion = 3
	groupKeyVersion    = 2
	groupValueVersion  = 3
	// chunkBytesMax keeps every batch spool writes well under
	// max.message.bytes.
	chunkBytesMax = 512 << 10
	// readBytes is one replay read.
	readBytes = 1 << 20
)

// store appends records to __consumer_offsets and replays them. Each
// partition's mu is shared by appends that are ordered by their log offsets
// (commits, which apply only what is newer) and by the group stores (each
// group serializes its own with group.storeMu), and taken exclusively by a
// rewrite, which must see no append in flight.
type store struct {
	parts []storePartition
}

type storePartition struct {
	Partition
	mu      sync.RWMutex
	written atomic.Int64 // records appended since open or the last rewrite
}

func newStore(parts []Partition) *store {
	s := &store{parts: make([]storePartition, len(parts))}
	for i, p := range parts {
		s.parts[i].Partition = p
	}
	return s
}

// append writes records durably in as few batches as fit, and returns the
// offset of the first record. The caller holds the partition's mu (shared
// or exclusive).
func (s *store) append(p int, records []segment.KeyValue) (engine.Offset, error) {
	part := &s.parts[p]
	now := time.Now().UnixMilli()
	first := engine.Offset(-1)
	for len(records) > 0 {
		n, size := 0, 0
		for n < len(records) && (n == 0 || size+len(records[n].Key)+len(records[n].Value)+32 <= chunkBytesMax) {
			size += len(records[n].Key) + len(records[n].Value) + 32
			n++
		}
		info, err := part.Shard.Append(part.Log, segment.AppendBatch(nil, now, records[:n]), part.Epoch, true)
		if err != nil {
			return first, fmt.Errorf("__consumer_offsets: %w", err)
		}
		if first < 0 {
			first = info.BaseOffset
		}
		part.written.Add(int64(n))
		records = records[n:]
	}
	return first, nil
}

func offsetKey(group string, tp TopicPartition) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: tp.Topic, Partition: tp.Partition}
	return k.AppendTo(nil)
}

func offsetValue(c Committed) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetValueVersion
	v.Offset = c.Offset
	v.LeaderEpoch = c.LeaderEpoch
	v.Metadata = c.Metadata
	v.CommitTimestamp = c.CommitTime.UnixMilli()
	return v.AppendTo(nil)
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: group}
	return k.AppendTo(nil)
}

// metadataValue is the group's stored form. Under g.mu.
func (g *group) metadataValue(now time.Time) []byte {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		protocol := g.protocol
		v.Protocol = &protocol
	}
	if g.leader != "" {
		leader := g.leader
		v.Leader = &leader
	}
	v.CurrentStateTimestamp = now.UnixMilli()
	for _, m := range g.sortedMembers() {
		mv := kmsg.NewGroupMetadataValueMember()
		mv.MemberID = m.id
		mv.InstanceID = m.instanceID
		mv.ClientID = m.clientID
		mv.ClientHost = m.clientHost
		mv.RebalanceTimeoutMillis = int32(m.rebalanceTimeout.Milliseconds())
		mv.SessionTimeoutMillis = int32(m.sessionTimeout.Milliseconds())
		mv.Subscription = m.metadataFor(g.protocol)
		mv.Assignment = m.assignment
		v.Members = append(v.Members, mv)
	}
	return v.AppendTo(nil)
}

// replayRecord applies one record of __consumer_offsets at open.
func (c *Coordinator) replayRecord(p int, offset engine.Offset, key, value []byte, now time.Time) error {
	if len(key) < 2 {
		return fmt.Errorf("key of %d bytes", len(key))
	}
	version := int16(key[0])<<8 | int16(key[1])
	switch version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return err
		}
		tp := TopicPartition{Topic: k.Topic, Partition: k.Partition}
		g := c.groups[k.Group]
		if value == nil {
			if g != nil {
				delete(g.offsets, tp)
				c.dropIfUnused(g)
			}
			return nil
		}
		var v kmsg.OffsetCommitValue
		if err := v.ReadFrom(value); err != nil {
			return err
		}
		if g == nil {
			g = newGroup(k.Group, p, now)
			c.groups[k.Group] = g
		}
		g.offsets[tp] = Committed{Offset: v.Offset, LeaderEpoch: v.LeaderEpoch, Metadata: v.Metadata, CommitTime: time.UnixMilli(v.CommitTimestamp), logOffset: int64(offset)}
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return err
		}
		g := c.groups[k.Group]
		if value == nil {
			if g != nil {
				g.resetMembership(now)
				g.stored = false
				c.dropIfUnused(g)
			}
			return nil
		}
		var v kmsg.GroupMetadataValue
		if err := v.ReadFrom(value); err != nil {
			return err
		}
		if g == nil {
			g = newGroup(k.Group, p, now)
			c.groups[k.Group] = g
		}
		g.restore(&v, now)
	default:
		return fmt.Errorf("unknown key version %d", version)
	}
	return nil
}

// resetMembership empties the group's membership (not its offsets).
func (g *group) resetMembership(now time.Time) {
	g.members = map[string]*member{}
	g.joinOrder = nil
	g.static = map[string]string{}
	g.protocol, g.leader = "", ""
	g.setState(Empty, now)
}

// restore sets the group from its stored form: a group that had members is
// Stable again with every member's session restarted, so clients that keep
// heartbeating never notice the restart.
func (g *group) restore(v *kmsg.GroupMetadataValue, now time.Time) {
	g.resetMembership(now)
	g.stored = true
	g.protocolType = v.ProtocolType
	g.generation = v.Generation
	if v.Protocol != nil {
		g.protocol = *v.Protocol
	}
	if len(v.Members) == 0 {
		return
	}
	for _, mv := range v.Members {
		m := &member{
			id: mv.MemberID, instanceID: mv.InstanceID, clientID: mv.ClientID, clientHost: mv.ClientHost,
			sessionTimeout: time.Duration(mv.SessionTimeoutMillis) * time.Millisecond, rebalanceTimeout: time.Duration(mv.RebalanceTimeoutMillis) * time.Millisecond,
			protocolType: v.ProtocolType, protocols: []Protocol{{Name: g.protocol, Metadata: mv.Subscription}}, assignment: mv.Assignment,
		}
		if m.rebalanceTimeout <= 0 {
			m.rebalanceTimeout = m.sessionTimeout
		}
		m.deadline = now.Add(m.sessionTimeout)
		g.addMember(m)
	}
	if v.Leader != nil {
		g.leader = *v.Leader
	}
	g.setState(Stable, now)
}

// replay reads every partition of __consumer_offsets from its log start.
func (c *Coordinator) replay() error {
	now := time.Now()
	for p := range c.store.parts {
		part := &c.store.parts[p]
		offset := part.Log.LogStartOffset()
		var result engine.ReadResult
		var buf []byte
		for offset < part.Log.HighWatermark() {
			if err := part.Log.Read(offset, readBytes, true, engine.ReadUncommitted, &result); err != nil {
				return fmt.Errorf("__consumer_offsets-%d: %w", p, err)
			}
			var err error
			if buf, err = result.AppendBytes(buf[:0]); err != nil {
				result.Release()
				return fmt.Errorf("__consumer_offsets-%d: %w", p, err)
			}
			next := result.NextOffset
			result.Release()
			if next <= offset {
				break
			}
			for rest := buf; len(rest) > 0; {
				h, err := segment.ParseHeader(rest)
				if err != nil || h.TotalBytes() > int64(len(rest)) {
					return fmt.Errorf("__consumer_offsets-%d: batch at %d: %v", p, offset, err)
				}
				batch := rest[:h.TotalBytes()]
				rest = rest[h.TotalBytes():]
				walkErr := segment.WalkRecords(batch, func(r segment.RecordPosition) bool {
					if err := c.replayRecord(p, r.Offset, r.Key, r.Value, now); err != nil {
						c.logger.Warn("skipping a record of __consumer_offsets that does not parse", "partition", p, "offset", r.Offset, "error", err)
					}
					part.written.Add(1)
					return true
				})
				if walkErr != nil {
					c.logger.Warn("skipping a batch of __consumer_offsets spool cannot read", "partition", p, "offset", h.BaseOffset, "error", walkErr)
				}
			}
			offset = next
		}
	}
	return nil
}

// live counts the records a rewrite of partition p would write. Under the
// partition's exclusive mu.
func (c *Coordinator) liveRecords(p int) []segment.KeyValue {
	c.mu.Lock()
	groups := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		if g.partition == p {
			groups = append(groups, g)
		}
	}
	c.mu.Unlock()
	var records []segment.KeyValue
	now := time.Now()
	for _, g := range groups {
		g.mu.Lock()
		if g.stored && g.state != Dead {
			records = append(records, segment.KeyValue{Key: groupKey(g.id), Value: g.metadataValue(now)})
		}
		for tp, committed := range g.offsets {
			records = append(records, segment.KeyValue{Key: offsetKey(g.id, tp), Value: offsetValue(committed)})
		}
		g.mu.Unlock()
	}
	return records
}

// maybeCompact rewrites partition p's live records and drops everything
// before them once the partition holds more than twice as many records as
// it has live keys (and at least compactMinRecords). This is compaction for
// a log with one writer: the rewrite is appended durably before the log
// start offset moves, so a crash in between only leaves duplicates, which
// replay applies in order.
func (c *Coordinator) maybeCompact(p int) error {
	part := &c.store.parts[p]
	part.mu.Lock()
	defer part.mu.Unlock()
	records := c.liveRecords(p)
	if written := part.written.Load(); written < compactMinRecords || written < 2*int64(len(records)) {
		return nil
	}
	start := part.Log.LogEndOffset()
	if len(records) > 0 {
		first, err := c.store.append(p, records)
		if err != nil {
			return err
		}
		start = first
	}
	var deleteErr error
	if err := part.Shard.Do(func() { _, deleteErr = part.Log.DeleteRecords(start) }); err != nil {
		return err
	}
	if deleteErr != nil {
		return deleteErr
	}
	c.logger.Info("compacted __consumer_offsets", "partition", p, "records_before", part.written.Load(), "live", len(records), "log_start_offset", start)
	part.written.Store(int64(len(records)))
	return nil
}
