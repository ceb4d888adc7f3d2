package group

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Errors, mapped to Kafka codes by the wire package.
var (
	ErrInvalidGroupID        = errors.New("group: invalid group id")
	ErrUnknownMember         = errors.New("group: unknown member id")
	ErrMemberIDRequired      = errors.New("group: member id required")
	ErrIllegalGeneration     = errors.New("group: illegal generation")
	ErrRebalanceInProgress   = errors.New("group: rebalance in progress")
	ErrInconsistentProtocol  = errors.New("group: inconsistent group protocol")
	ErrInvalidSessionTimeout = errors.New("group: invalid session timeout")
	ErrFencedInstance        = errors.New("group: fenced instance id")
	ErrGroupMaxSize          = errors.New("group: group max size reached")
	ErrGroupNotFound         = errors.New("group: group id not found")
	ErrNonEmptyGroup         = errors.New("group: group is not empty")
	ErrSubscribedToTopic     = errors.New("group: group is subscribed to the topic")
	ErrMetadataTooLarge      = errors.New("group: offset metadata too large")
	ErrNotAvailable          = errors.New("group: coordinator not available")

	// ErrCommitUnknownGroup is a commit with a generation (not a simple
	// commit) to a group that does not exist. It is both errors because
	// Kafka answers ILLEGAL_GENERATION before OffsetCommit v9 and
	// GROUP_ID_NOT_FOUND from v9 on; the handler picks by version.
	ErrCommitUnknownGroup = fmt.Errorf("%w (%w)", ErrIllegalGeneration, ErrGroupNotFound)
)

// State is a group's state, named as Kafka names it.
type State int8

const (
	Empty State = iota
	PreparingRebalance
	CompletingRebalance
	Stable
	Dead
)

func (s State) String() string {
	switch s {
	case Empty:
		return "Empty"
	case PreparingRebalance:
		return "PreparingRebalance"
	case CompletingRebalance:
		return "CompletingRebalance"
	case Stable:
		return "Stable"
	}
	return "Dead"
}

// Protocol is one assignment protocol a member supports, with its metadata
// (for consumers, the subscription).
type Protocol struct {
	Name     string
	Metadata []byte
}

// JoinRequest is a JoinGroup.
type JoinRequest struct {
	Group            string
	MemberID         string
	InstanceID       *string
	ClientID         string
	ClientHost       string
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	ProtocolType     string
	Protocols        []Protocol
	// RequireKnownMemberID is KIP-394 (JoinGroup v4+): a dynamic member
	// joining without an id gets one back with ErrMemberIDRequired and
	// joins again with it.
	RequireKnownMemberID bool
}

// MemberInfo is what the leader learns of each member.
type MemberInfo struct {
	MemberID   string
	InstanceID *string
	Metadata   []byte
}

// JoinResult answers a JoinGroup. MemberID is set with ErrMemberIDRequired
// too.
type JoinResult struct {
	Generation     int32
	ProtocolType   string
	Protocol       string
	Leader         string
	MemberID       string
	Members        []MemberInfo // the leader's only
	SkipAssignment bool         // a static leader rejoined a stable group
	Err            error
}

// SyncRequest is a SyncGroup. ProtocolType and Protocol are checked when
// set (v5+).
type SyncRequest struct {
	Group        string
	MemberID     string
	InstanceID   *string
	Generation   int32
	ProtocolType *string
	Protocol     *string
	Assignments  map[string][]byte // the leader's, by member id
}

// SyncResult answers a SyncGroup.
type SyncResult struct {
	ProtocolType string
	Protocol     string
	Assignment   []byte
	Err          error
}

// LeaveMember names a member leaving: by member id, or (LeaveGroup v3+) by
// instance id alone.
type LeaveMember struct {
	MemberID   string
	InstanceID *string
}

type member struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	protocolType     string
	protocols        []Protocol
	assignment       []byte
	joinWaiter       chan JoinResult // set while a JoinGroup is parked
	syncWaiter       chan SyncResult // set while a SyncGroup is parked
	deadline         time.Time       // session expiry
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

func sameProtocols(a, b []Protocol) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !bytes.Equal(a[i].Metadata, b[i].Metadata) {
			return false
		}
	}
	return true
}

// group is one consumer group. Guarded by mu.
type group struct {
	mu           sync.Mutex
	storeMu      sync.Mutex // serializes this group's metadata stores
	stored       bool       // a metadata record of it is in the log
	id           string
	partition    int // of __consumer_offsets
	state        State
	protocolType string
	protocol     string
	generation   int32
	leader       string
	members      map[string]*member
	joinOrder    []string             // member ids, oldest first
	pending      map[string]time.Time // KIP-394 ids awaiting their join, with expiry
	static       map[string]string    // instance id → member id

	rebalanceDeadline time.Time // PreparingRebalance ends by then
	holdUntil         time.Time // group.initial.rebalance.delay.ms
	rebalanceStarted  time.Time
	stateSince        time.Time
	emptySince        time.Time

	offsets map[TopicPartition]Committed
}

func newGroup(id string, partition int, now time.Time) *group {
	return &group{
		id: id, partition: partition, members: map[string]*member{}, pending: map[string]time.Time{},
		static: map[string]string{}, offsets: map[TopicPartition]Committed{}, stateSince: now, emptySince: now,
	}
}

func (g *group) setState(s State, now time.Time) {
	g.state = s
	g.stateSince = now
	if s == Empty {
		g.emptySince = now
	}
}

// newMemberID is Kafka's: the instance id (static members) or the client
// id, a dash, and a random suffix. Clients rely on the prefix: franz-go
// recognizes a static leader by it.
func newMemberID(clientID string, instanceID *string) string {
	var b [16]byte
	rand.Read(b[:])
	if instanceID != nil {
		return *instanceID + "-" + hex.EncodeToString(b[:])
	}
	return clientID + "-" + hex.EncodeToString(b[:])
}

// supportsProtocols is Kafka's check that a joining member can be part of
// the group: same protocol type, and one protocol every member supports.
func (g *group) supportsProtocols(protocolType string, protocols []Protocol) bool {
	if protocolType == "" || len(protocols) == 0 {
		return false
	}
	if len(g.members) == 0 {
		return true
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		if g.allSupport(p.Name) {
			return true
		}
	}
	return false
}

func (g *group) allSupport(name string) bool {
	for _, m := range g.members {
		if m.metadataFor(name) == nil && !hasProtocol(m.protocols, name) {
			return false
		}
	}
	return true
}

func hasProtocol(ps []Protocol, name string) bool {
	for _, p := range ps {
		if p.Name == name {
			return true
		}
	}
	return false
}

// selectProtocol: among the protocols every member supports, the one most
// members list first among those candidates (ties to the oldest member's
// preference), as Kafka's vote does.
func (g *group) selectProtocol() string {
	oldest := g.members[g.joinOrder[0]]
	var candidates []string
	for _, p := range oldest.protocols {
		if g.allSupport(p.Name) {
			candidates = append(candidates, p.Name)
		}
	}
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, c := range candidates {
		if best == "" || votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (g *group) addMember(m *member) {
	g.members[m.id] = m
	g.joinOrder = append(g.joinOrder, m.id)
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
	if len(g.members) == 1 || g.protocolType == "" {
		g.protocolType = m.protocolType
	}
}

func (g *group) removeMember(id string) {
	m := g.members[id]
	if m == nil {
		return
	}
	delete(g.members, id)
	for i, x := range g.joinOrder {
		if x == id {
			g.joinOrder = append(g.joinOrder[:i], g.joinOrder[i+1:]...)
			break
		}
	}
	if m.instanceID != nil && g.static[*m.instanceID] == id {
		delete(g.static, *m.instanceID)
	}
	if m.joinWaiter != nil {
		m.joinWaiter <- JoinResult{MemberID: id, Err: ErrUnknownMember}
		m.joinWaiter = nil
	}
	if m.syncWaiter != nil {
		m.syncWaiter <- SyncResult{Err: ErrUnknownMember}
		m.syncWaiter = nil
	}
	if g.leader == id {
		g.leader = ""
	}
}

// replaceStaticMember gives a static member a new id (it restarted): the
// old id is fenced.
func (g *group) replaceStaticMember(oldID, newID string) *member {
	m := g.members[oldID]
	if m.joinWaiter != nil {
		m.joinWaiter <- JoinResult{MemberID: oldID, Err: ErrFencedInstance}
		m.joinWaiter = nil
	}
	if m.syncWaiter != nil {
		m.syncWaiter <- SyncResult{Err: ErrFencedInstance}
		m.syncWaiter = nil
	}
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	for i, x := range g.joinOrder {
		if x == oldID {
			g.joinOrder[i] = newID
		}
	}
	g.static[*m.instanceID] = newID
	if g.leader == oldID {
		g.leader = newID
	}
	return m
}

// prepareRebalance starts a rebalance: every member must join again.
func (g *group) prepareRebalance(now time.Time, initialDelay time.Duration) {
	if g.state == CompletingRebalance {
		for _, m := range g.members {
			m.assignment = nil
			if m.syncWaiter != nil {
				m.syncWaiter <- SyncResult{Err: ErrRebalanceInProgress}
				m.syncWaiter = nil
			}
		}
	}
	if g.state == Stable {
		for _, m := range g.members {
			m.assignment = nil
		}
	}
	timeout := time.Duration(0)
	for _, m := range g.members {
		timeout = max(timeout, m.rebalanceTimeout)
	}
	g.holdUntil = now
	if g.state == Empty && initialDelay > 0 {
		g.holdUntil = now.Add(min(initialDelay, timeout))
	}
	g.rebalanceStarted = now
	g.rebalanceDeadline = now.Add(timeout)
	g.setState(PreparingRebalance, now)
}

// memberJoinedDuringDelay extends the initial delay as Kafka does: each new
// member buys another delay, up to the rebalance timeout.
func (g *group) memberJoinedDuringDelay(now time.Time, initialDelay time.Duration, m *member) {
	if end := g.rebalanceStarted.Add(m.rebalanceTimeout); end.After(g.rebalanceDeadline) {
		g.rebalanceDeadline = end
	}
	if initialDelay <= 0 || !now.Before(g.holdUntil) {
		return
	}
	g.holdUntil = now.Add(initialDelay)
	if g.holdUntil.After(g.rebalanceDeadline) {
		g.holdUntil = g.rebalanceDeadline
	}
}

func (g *group) allJoined() bool {
	if len(g.pending) > 0 {
		return false
	}
	for _, m := range g.members {
		if m.joinWaiter == nil {
			return false
		}
	}
	return true
}

// tryCompleteJoin ends PreparingRebalance when every member has joined and
// the initial delay is over, or when the rebalance timeout has passed
// (members that did not join are dropped). It reports whether the group's
// metadata changed so that it must be stored (it became Empty).
func (g *group) tryCompleteJoin(now time.Time) (becameEmpty bool) {
	if g.state != PreparingRebalance {
		return false
	}
	timedOut := !now.Before(g.rebalanceDeadline)
	if !timedOut && (!g.allJoined() || now.Before(g.holdUntil)) {
		return false
	}
	for _, id := range append([]string(nil), g.joinOrder...) {
		if g.members[id].joinWaiter == nil {
			g.removeMember(id)
		}
	}
	if timedOut {
		clear(g.pending)
	}
	g.generation++
	if len(g.members) == 0 {
		g.protocol, g.leader = "", ""
		g.setState(Empty, now)
		return true
	}
	g.protocol = g.selectProtocol()
	if _, ok := g.members[g.leader]; !ok {
		g.leader = g.joinOrder[0]
	}
	g.setState(CompletingRebalance, now)
	for _, m := range g.members {
		result := g.joinResult(m.id)
		m.joinWaiter <- result
		m.joinWaiter = nil
		m.deadline = now.Add(m.sessionTimeout)
	}
	return false
}

// joinResult is the current generation's answer for member id.
func (g *group) joinResult(id string) JoinResult {
	r := JoinResult{Generation: g.generation, ProtocolType: g.protocolType, Protocol: g.protocol, Leader: g.leader, MemberID: id}
	if id == g.leader {
		for _, mid := range g.joinOrder {
			m := g.members[mid]
			r.Members = append(r.Members, MemberInfo{MemberID: m.id, InstanceID: m.instanceID, Metadata: m.metadataFor(g.protocol)})
		}
	}
	return r
}

// join runs JoinGroup's decisions under g.mu. It returns a result to answer
// at once, or a channel the answer will come on.
func (c *Coordinator) join(g *group, req *JoinRequest, now time.Time) (JoinResult, chan JoinResult) {
	if g.state == Dead {
		return JoinResult{Err: ErrNotAvailable}, nil
	}
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		return JoinResult{MemberID: req.MemberID, Err: ErrInconsistentProtocol}, nil
	}
	if req.MemberID == "" {
		newID := newMemberID(req.ClientID, req.InstanceID)
		if req.InstanceID != nil {
			if oldID, ok := g.static[*req.InstanceID]; ok {
				return c.rejoinStatic(g, req, oldID, newID, now)
			}
		} else if req.RequireKnownMemberID {
			if c.cfg.MaxSize > 0 && len(g.members)+len(g.pending) >= c.cfg.MaxSize {
				return JoinResult{Err: ErrGroupMaxSize}, nil
			}
			g.pending[newID] = now.Add(req.SessionTimeout)
			return JoinResult{MemberID: newID, Err: ErrMemberIDRequired}, nil
		}
		return c.addAndPark(g, req, newID, now)
	}
	if _, ok := g.pending[req.MemberID]; ok {
		delete(g.pending, req.MemberID)
		return c.addAndPark(g, req, req.MemberID, now)
	}
	m, ok := g.members[req.MemberID]
	if !ok {
		if req.InstanceID != nil {
			if _, known := g.static[*req.InstanceID]; known {
				return JoinResult{MemberID: req.MemberID, Err: ErrFencedInstance}, nil
			}
		}
		return JoinResult{MemberID: req.MemberID, Err: ErrUnknownMember}, nil
	}
	if req.InstanceID != nil && g.static[*req.InstanceID] != m.id {
		return JoinResult{MemberID: req.MemberID, Err: ErrFencedInstance}, nil
	}
	unchanged := sameProtocols(m.protocols, req.Protocols)
	switch g.state {
	case CompletingRebalance:
		if unchanged {
			return g.joinResult(m.id), nil
		}
	case Stable:
		if unchanged && m.id != g.leader {
			m.deadline = now.Add(m.sessionTimeout)
			return g.joinResult(m.id), nil
		}
	}
	c.updateMember(m, req)
	if g.state != PreparingRebalance {
		g.prepareRebalance(now, c.cfg.InitialRebalanceDelay)
	}
	return JoinResult{}, c.park(g, m, now)
}

// updateMember takes the request's settings. The protocol metadata is
// copied: a request's bytes belong to its connection's buffer, which the
// next request overwrites.
func (c *Coordinator) updateMember(m *member, req *JoinRequest) {
	m.clientID, m.clientHost = req.ClientID, req.ClientHost
	m.sessionTimeout, m.rebalanceTimeout = req.SessionTimeout, req.RebalanceTimeout
	m.protocolType = req.ProtocolType
	m.protocols = make([]Protocol, len(req.Protocols))
	for i, p := range req.Protocols {
		m.protocols[i] = Protocol{Name: p.Name, Metadata: bytes.Clone(p.Metadata)}
	}
}

func (c *Coordinator) addAndPark(g *group, req *JoinRequest, id string, now time.Time) (JoinResult, chan JoinResult) {
	if c.cfg.MaxSize > 0 && len(g.members) >= c.cfg.MaxSize {
		return JoinResult{MemberID: id, Err: ErrGroupMaxSize}, nil
	}
	m := &member{id: id, instanceID: req.InstanceID}
	c.updateMember(m, req)
	g.addMember(m)
	switch g.state {
	case PreparingRebalance:
		g.memberJoinedDuringDelay(now, c.cfg.InitialRebalanceDelay, m)
	default:
		g.prepareRebalance(now, c.cfg.InitialRebalanceDelay)
	}
	return JoinResult{}, c.park(g, m, now)
}

// rejoinStatic handles a static member coming back without its member id
// (it restarted): it gets a new id, the old one is fenced, and a stable
// group whose member's protocols did not change is not rebalanced.
func (c *Coordinator) rejoinStatic(g *group, req *JoinRequest, oldID, newID string, now time.Time) (JoinResult, chan JoinResult) {
	m := g.replaceStaticMember(oldID, newID)
	c.updateMember(m, req)
	// As Kafka (KIP-345): a stable group is not rebalanced unless the
	// protocol the group would now select changes; the member keeps its
	// assignment even if its subscription bytes differ (KIP-814's caveat).
	if g.state == Stable && g.selectProtocol() == g.protocol {
		m.deadline = now.Add(m.sessionTimeout)
		r := g.joinResult(newID)
		r.SkipAssignment = newID == g.leader
		c.storeGroupAsync(g)
		return r, nil
	}
	if g.state != PreparingRebalance {
		g.prepareRebalance(now, c.cfg.InitialRebalanceDelay)
	}
	return JoinResult{}, c.park(g, m, now)
}

// park records that m waits for the end of the join phase and completes
// it if m was the last one awaited.
func (c *Coordinator) park(g *group, m *member, now time.Time) chan JoinResult {
	if m.joinWaiter != nil {
		// A second JoinGroup from the same member replaces the first.
		m.joinWaiter <- JoinResult{MemberID: m.id, Err: ErrRebalanceInProgress}
	}
	ch := make(chan JoinResult, 1)
	m.joinWaiter = ch
	if g.tryCompleteJoin(now) {
		c.storeGroupAsync(g)
	}
	return ch
}

// Join answers a JoinGroup, waiting (until ctx ends) for the rebalance to
// complete when the member must wait.
func (c *Coordinator) Join(ctx context.Context, req JoinRequest) JoinResult {
	if req.Group == "" {
		return JoinResult{MemberID: req.MemberID, Err: ErrInvalidGroupID}
	}
	if req.SessionTimeout < c.cfg.MinSessionTimeout || req.SessionTimeout > c.cfg.MaxSessionTimeout {
		return JoinResult{MemberID: req.MemberID, Err: ErrInvalidSessionTimeout}
	}
	if req.RebalanceTimeout <= 0 {
		req.RebalanceTimeout = req.SessionTimeout // JoinGroup v0 has only one timeout
	}
	g, err := c.groupFor(req.Group, req.MemberID == "")
	if err != nil {
		return JoinResult{MemberID: req.MemberID, Err: err}
	}
	g.mu.Lock()
	result, wait := c.join(g, &req, time.Now())
	g.mu.Unlock()
	if wait == nil {
		return result
	}
	select {
	case result := <-wait:
		return result
	case <-ctx.Done():
		return JoinResult{MemberID: req.MemberID, Err: ErrRebalanceInProgress}
	case <-c.stop:
		return JoinResult{MemberID: req.MemberID, Err: ErrNotAvailable}
	}
}

// Sync answers a SyncGroup: the leader's call stores every member's
// assignment; each member gets its own bytes, untouched.
func (c *Coordinator) Sync(ctx context.Context, req SyncRequest) SyncResult {
	g := c.lookup(req.Group)
	if g == nil {
		return SyncResult{Err: ErrUnknownMember}
	}
	now := time.Now()
	g.mu.Lock()
	m, err := g.checkMember(req.MemberID, req.InstanceID, req.Generation)
	if err == nil && ((req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol)) {
		err = ErrInconsistentProtocol
	}
	if err != nil {
		g.mu.Unlock()
		return SyncResult{Err: err}
	}
	m.deadline = now.Add(m.sessionTimeout)
	switch g.state {
	case PreparingRebalance:
		g.mu.Unlock()
		return SyncResult{Err: ErrRebalanceInProgress}
	case Stable:
		r := SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: m.assignment}
		g.mu.Unlock()
		return r
	}
	// CompletingRebalance.
	wait := make(chan SyncResult, 1)
	if m.syncWaiter != nil {
		m.syncWaiter <- SyncResult{Err: ErrRebalanceInProgress}
	}
	m.syncWaiter = wait
	if m.id == g.leader {
		for id, mm := range g.members {
			mm.assignment = bytes.Clone(req.Assignments[id]) // the request's buffer is reused
		}
		generation := g.generation
		g.mu.Unlock()
		storeErr := c.storeGroup(g)
		g.mu.Lock()
		if storeErr != nil {
			// The membership record is for restarts only (offsets are
			// stored with every commit): a failure to write it, such as
			// metadata above max.message.bytes, must not wedge the group.
			c.logger.Warn("could not store group metadata; members will rejoin after a restart", "group", g.id, "error", storeErr)
		}
		if g.state == CompletingRebalance && g.generation == generation {
			g.setState(Stable, time.Now())
			for _, mm := range g.members {
				if mm.syncWaiter != nil {
					mm.syncWaiter <- SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: mm.assignment}
					mm.syncWaiter = nil
				}
			}
		}
	}
	g.mu.Unlock()
	select {
	case r := <-wait:
		return r
	case <-ctx.Done():
		return SyncResult{Err: ErrRebalanceInProgress}
	case <-c.stop:
		return SyncResult{Err: ErrNotAvailable}
	}
}

// checkMember finds a member of the current generation. Under g.mu.
func (g *group) checkMember(memberID string, instanceID *string, generation int32) (*member, error) {
	if g.state == Dead {
		return nil, ErrUnknownMember
	}
	m, ok := g.members[memberID]
	if instanceID != nil {
		if id, known := g.static[*instanceID]; known && id != memberID {
			return nil, ErrFencedInstance
		}
	}
	if !ok {
		return nil, ErrUnknownMember
	}
	if generation != g.generation {
		return m, ErrIllegalGeneration
	}
	return m, nil
}

// Heartbeat keeps a member's session alive; ErrRebalanceInProgress tells it
// to join again.
func (c *Coordinator) Heartbeat(groupID, memberID string, instanceID *string, generation int32) error {
	g := c.lookup(groupID)
	if g == nil {
		return ErrUnknownMember
	}
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state == Empty {
		return ErrUnknownMember
	}
	m, err := g.checkMember(memberID, instanceID, generation)
	if m != nil && (err == nil || errors.Is(err, ErrIllegalGeneration)) {
		m.deadline = now.Add(m.sessionTimeout)
	}
	if err != nil {
		return err
	}
	if g.state == PreparingRebalance {
		return ErrRebalanceInProgress
	}
	return nil
}

// Leave removes members at once and rebalances the rest. The results are
// per member, in order.
func (c *Coordinator) Leave(groupID string, members []LeaveMember) ([]error, error) {
	g := c.lookup(groupID)
	if g == nil {
		return nil, ErrUnknownMember
	}
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state == Dead {
		return nil, ErrNotAvailable
	}
	errs := make([]error, len(members))
	removed := false
	for i, lm := range members {
		id := lm.MemberID
		if lm.InstanceID != nil {
			known, ok := g.static[*lm.InstanceID]
			switch {
			case !ok:
				errs[i] = ErrUnknownMember
				continue
			case id != "" && known != id:
				errs[i] = ErrFencedInstance
				continue
			}
			id = known
		}
		if _, ok := g.pending[id]; ok {
			delete(g.pending, id)
			removed = true
			continue
		}
		if _, ok := g.members[id]; !ok {
			errs[i] = ErrUnknownMember
			continue
		}
		g.removeMember(id)
		removed = true
	}
	if removed {
		c.membershipChanged(g, now)
	}
	return errs, nil
}

// membershipChanged rebalances after members left or expired. Under g.mu.
func (c *Coordinator) membershipChanged(g *group, now time.Time) {
	switch g.state {
	case Stable, CompletingRebalance:
		g.prepareRebalance(now, 0)
	}
	if g.tryCompleteJoin(now) {
		c.storeGroupAsync(g)
	}
}

// expire drops members whose session ended and pending ids never used, and
// completes a rebalance whose time is up. Under g.mu.
func (c *Coordinator) expire(g *group, now time.Time) {
	changed := false
	for id, deadline := range g.pending {
		if now.After(deadline) {
			delete(g.pending, id)
			changed = true
		}
	}
	for _, id := range append([]string(nil), g.joinOrder...) {
		m := g.members[id]
		if m.joinWaiter != nil || m.syncWaiter != nil || now.Before(m.deadline) {
			continue
		}
		c.logger.Info("group member session expired", "group", g.id, "member", id)
		g.removeMember(id)
		changed = true
	}
	if changed {
		c.membershipChanged(g, now)
	} else if g.tryCompleteJoin(now) {
		c.storeGroupAsync(g)
	}
}

// sortedMembers lists members oldest first.
func (g *group) sortedMembers() []*member {
	out := make([]*member, 0, len(g.joinOrder))
	for _, id := range g.joinOrder {
		out = append(out, g.members[id])
	}
	return out
}
