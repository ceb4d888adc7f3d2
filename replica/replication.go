package replica

// Replication to a hot standby, both ends of the connection (the frames
// are frames.go's):
//
//   - Leader serves standbys on replication.listener: after the
//     hellos it sends its topics (Metadata, again whenever they change),
//     takes the standby's positions, answers a position whose last epoch
//     ended earlier on the leader with a Truncate (the standby's log
//     diverged there), and then streams every partition's batches from
//     the standby's position, as stored, up to the high watermark,
//     long-polling on the partitions' notifiers when the standby is caught
//     up. Acks record the standby's durable log end offset per partition.
//   - RunStandby follows a leader: it mirrors the topics, sends its
//     positions, appends each Data frame's batches verbatim after checking
//     their CRCs (engine.Log.AppendReplica), syncs them, and acks. On any
//     error it reconnects after a pause and resumes from its log end
//     offsets.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"sort"
	"sync"
	"time"

	"spool/engine"
	"spool/engine/meta"
	"spool/netio"
	"spool/segment"
)

// Replication limits.
const (
	dataBytesMax      = 1 << 20 // batches per Data frame
	reconnectPause    = 500 * time.Millisecond
	handshakeWait     = 10 * time.Second
	heartbeatInterval = 250 * time.Millisecond // idle partitions
)

// Config describes this node to its peer.
type Config struct {
	NodeID    int32
	ClusterID string
	Host      string // advertised Kafka listener
	Port      int32
	Cluster   *meta.Cluster
	Logger    *slog.Logger
	// LagMax is replica.lag.time.max.ms: a standby that has not caught up
	// with the log end offset for this long leaves the in-sync set.
	LagMax time.Duration
	// FetchPath is fetch.path: how batches reach the standby's socket, as
	// for a consumer's fetch.
	FetchPath netio.FetchPath
	// ThrottleBytes (replication.throttle.bytes.per.second, 0: none)
	// bounds what a leader sends one standby per second, so a standby
	// catching up from far behind leaves disk and CPU to producers.
	ThrottleBytes int64
}

func (c Config) hello() Hello {
	return Hello{Version: Version, NodeID: c.NodeID, ClusterID: c.ClusterID, Epoch: c.Cluster.Epoch(), Host: c.Host, Port: c.Port}
}

// Fence sends a hello with this node's (newer) epoch to an old leader's
// replication listener: a leader that hears of a newer epoch stops taking
// writes. Best effort: a dead or unreachable leader is not fenced (and
// cannot acknowledge writes with acks=all while min.insync.replicas=2).
func Fence(cfg Config, addr string, timeout time.Duration) error {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	var enc Encoder
	if _, err := conn.Write(enc.Hello(cfg.hello())); err != nil {
		return err
	}
	// The old leader fences itself and closes; wait for that.
	_, _, err = ReadFrame(conn, nil)
	if err == nil {
		return errors.New("the old leader answered instead of fencing itself")
	}
	return nil
}

// StandbyStatus is what the leader knows of one standby partition.
type StandbyStatus struct {
	Topic       string
	Partition   int32
	Acked       int64 // the standby's durable log end offset
	LeaderEnd   int64
	InSync      bool
	CaughtUpAgo time.Duration // -1: never
}

// Leader serves standbys.
type Leader struct {
	cfg Config

	mu        sync.Mutex
	listener  net.Listener
	sessions  map[*leaderSession]struct{}
	followers map[partitionKey]*followerState // outlive sessions
	closed    bool
	wg        sync.WaitGroup
	stop      chan struct{}
}

// followerState is the standby's replica of one partition, as the leader
// sees it. Guarded by Leader.mu.
type followerState struct {
	log          *engine.Log
	acked        engine.Offset
	inSync       bool
	lastCaughtUp time.Time
	// marks are frames that reached the log end offset when sent: once
	// the standby acks one, it was caught up as of that moment.
	marks []catchUpMark
}

type catchUpMark struct {
	next engine.Offset
	at   time.Time
}

// NewLeader makes a leader for cfg's cluster.
func NewLeader(cfg Config) *Leader {
	if cfg.LagMax <= 0 {
		cfg.LagMax = 30 * time.Second
	}
	return &Leader{cfg: cfg, sessions: map[*leaderSession]struct{}{}, followers: map[partitionKey]*followerState{}, stop: make(chan struct{})}
}

// follower finds or makes the state of a partition's replica, with the
// partition's current log. Under l.mu.
func (l *Leader) follower(key partitionKey) *followerState {
	t, ok := l.cfg.Cluster.Topic(key.topic)
	if !ok || int(key.partition) >= len(t.Partitions) {
		return nil
	}
	log := t.Partitions[key.partition].Log
	st := l.followers[key]
	if st == nil || st.log != log {
		st = &followerState{log: log, acked: -1}
		l.followers[key] = st
	}
	return st
}

// sent records a Data frame that ended at the log end offset it was read
// at.
func (l *Leader) sent(key partitionKey, next engine.Offset, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st := l.follower(key); st != nil {
		st.marks = append(st.marks, catchUpMark{next: next, at: at})
		if len(st.marks) > 1024 {
			st.marks = st.marks[len(st.marks)-1024:]
		}
	}
}

// acked takes the standby's durable log end offset for a partition: it may
// make the standby in sync, and moves the high watermark.
func (l *Leader) acked(key partitionKey, offset engine.Offset) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.follower(key)
	if st == nil {
		return
	}
	now := time.Now()
	st.acked = offset
	kept := st.marks[:0]
	for _, m := range st.marks {
		if m.next <= offset {
			if m.at.After(st.lastCaughtUp) {
				st.lastCaughtUp = m.at
			}
			continue
		}
		kept = append(kept, m)
	}
	st.marks = kept
	if offset >= st.log.LogEndOffset() {
		st.lastCaughtUp = now
	}
	if !st.inSync && now.Sub(st.lastCaughtUp) < l.cfg.LagMax {
		st.inSync = true
		l.cfg.Logger.Info("standby joined the in-sync set", "topic", key.topic, "partition", key.partition, "offset", offset)
	}
	st.log.SetFollower(st.inSync, offset)
}

// checkLag drops from the in-sync set every replica that has not caught
// up for LagMax.
func (l *Leader) checkLag(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for key, st := range l.followers {
		if st.acked >= st.log.LogEndOffset() {
			st.lastCaughtUp = now
		}
		if st.inSync && now.Sub(st.lastCaughtUp) > l.cfg.LagMax {
			st.inSync = false
			st.log.SetFollower(false, st.acked)
			l.cfg.Logger.Warn("standby left the in-sync set", "topic", key.topic, "partition", key.partition, "acked", st.acked, "log_end_offset", st.log.LogEndOffset(), "behind_for", now.Sub(st.lastCaughtUp))
		}
	}
}

func (l *Leader) lagLoop() {
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	for {
		select {
		case <-l.stop:
			return
		case now := <-ticker.C:
			l.checkLag(now)
		}
	}
}

// Serve accepts standbys until Close.
func (l *Leader) Serve(listener net.Listener) error {
	l.mu.Lock()
	l.listener = listener
	l.mu.Unlock()
	go l.lagLoop()
	for {
		conn, err := listener.Accept()
		if err != nil {
			l.mu.Lock()
			closed := l.closed
			l.mu.Unlock()
			if closed {
				return nil
			}
			return err
		}
		s := &leaderSession{leader: l, conn: conn, positions: map[partitionKey]*standbyPosition{}}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			conn.Close()
			return nil
		}
		l.sessions[s] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go func() {
			defer l.wg.Done()
			err := s.run()
			l.cfg.Logger.Info("standby session ended", "remote", conn.RemoteAddr().String(), "reason", err)
			l.mu.Lock()
			delete(l.sessions, s)
			l.mu.Unlock()
		}()
	}
}

// Close stops accepting and ends every session.
func (l *Leader) Close() {
	l.mu.Lock()
	if !l.closed {
		close(l.stop)
	}
	l.closed = true
	if l.listener != nil {
		l.listener.Close()
	}
	for s := range l.sessions {
		s.conn.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// Status lists, per partition the standby has acked, how far it is and
// whether it is in sync.
func (l *Leader) Status() []StandbyStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []StandbyStatus
	for key, st := range l.followers {
		ago := time.Duration(-1) // never
		if !st.lastCaughtUp.IsZero() {
			ago = time.Since(st.lastCaughtUp)
		}
		out = append(out, StandbyStatus{Topic: key.topic, Partition: key.partition, Acked: int64(st.acked), LeaderEnd: int64(st.log.LogEndOffset()), InSync: st.inSync, CaughtUpAgo: ago})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

type partitionKey struct {
	topic     string
	partition int32
}

type standbyPosition struct {
	id        [16]byte
	next      engine.Offset // the next offset to send
	lastEpoch int32
	checked   bool      // the divergence check is done
	heartbeat time.Time // last empty Data frame sent
}

type leaderSession struct {
	leader      *Leader
	conn        net.Conn
	standbyNode int32

	mu        sync.Mutex
	positions map[partitionKey]*standbyPosition // replaced by each Positions frame
	fresh     chan struct{}                     // a Positions frame arrived
}

func (s *leaderSession) run() error {
	defer s.conn.Close()
	s.fresh = make(chan struct{}, 1)
	cfg := s.leader.cfg
	s.conn.SetDeadline(time.Now().Add(handshakeWait))
	hello, err := readHello(s.conn)
	if err != nil {
		return err
	}
	if hello.Version != Version {
		return fmt.Errorf("standby speaks replication v%d, this leader v%d", hello.Version, Version)
	}
	if hello.Epoch > cfg.Cluster.Epoch() {
		// Another node leads in a newer epoch (it was promoted): stop
		// taking writes, so two nodes never acknowledge at once.
		cfg.Cluster.SetFollower(true)
		cfg.Logger.Error("FENCED: a node leads in a newer epoch; this node refuses writes until restarted as its standby", "their_epoch", hello.Epoch, "our_epoch", cfg.Cluster.Epoch(), "node", hello.NodeID)
		return fmt.Errorf("fenced by epoch %d", hello.Epoch)
	}
	if cfg.Cluster.Follower() {
		return errors.New("this node is fenced or a standby; it serves no standby")
	}
	s.standbyNode = hello.NodeID
	var enc Encoder
	if _, err := s.conn.Write(enc.Hello(cfg.hello())); err != nil {
		return err
	}
	s.conn.SetDeadline(time.Time{})
	cfg.Logger.Info("standby connected", "remote", s.conn.RemoteAddr().String(), "node", hello.NodeID)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	readErr := make(chan error, 1)
	go func() { readErr <- s.readLoop(); cancel() }()
	err = s.sendLoop(ctx, &enc)
	s.conn.Close()
	if rerr := <-readErr; err == nil {
		err = rerr
	}
	return err
}

// readLoop takes Positions and Acks.
func (s *leaderSession) readLoop() error {
	var buf []byte
	for {
		frame, b, err := ReadFrame(s.conn, buf)
		buf = b
		if err != nil {
			return err
		}
		switch frame.Type {
		case TypePositions:
			positions, err := DecodePositions(frame.Fields)
			if err != nil {
				return err
			}
			next := map[partitionKey]*standbyPosition{}
			for _, p := range positions {
				t, ok := s.leader.cfg.Cluster.TopicByID(p.TopicID)
				if !ok {
					continue
				}
				key := partitionKey{t.Name, p.Partition}
				next[key] = &standbyPosition{id: p.TopicID, next: engine.Offset(p.Offset), lastEpoch: p.LastEpoch}
				// A position is the standby's durable log end: an ack.
				if ended := s.endForEpoch(t, p); ended >= 0 {
					s.leader.acked(key, ended)
				}
			}
			s.mu.Lock()
			s.positions = next
			s.mu.Unlock()
			select {
			case s.fresh <- struct{}{}:
			default:
			}
		case TypeAck:
			ack, err := DecodePartitionOffset(frame.Fields)
			if err != nil {
				return err
			}
			if t, ok := s.leader.cfg.Cluster.TopicByID(ack.TopicID); ok {
				s.leader.acked(partitionKey{t.Name, ack.Partition}, engine.Offset(ack.Offset))
			}
		default:
			return fmt.Errorf("%w: unexpected type %d from a standby", ErrFrame, frame.Type)
		}
	}
}

// endForEpoch is the part of a standby's position that the leader's log
// agrees with: its log end offset, cut to where the leader's history of
// the standby's last epoch ends (a diverged tail is not a replica). -1 for
// an unknown partition.
func (s *leaderSession) endForEpoch(t *meta.Topic, p Position) engine.Offset {
	if p.Partition < 0 || int(p.Partition) >= len(t.Partitions) {
		return -1
	}
	end := engine.Offset(p.Offset)
	if p.LastEpoch >= 0 && end > 0 {
		if _, epochEnd := t.Partitions[p.Partition].Log.EndOffsetForEpoch(p.LastEpoch); epochEnd >= 0 && epochEnd < end {
			end = epochEnd
		}
	}
	return end
}

// topicsSignature changes whenever the topic set, IDs, partition counts or
// configs do.
func topicsSignature(topics []*meta.Topic) string {
	sig := ""
	for _, t := range topics {
		keys := make([]string, 0, len(t.Configs))
		for k := range t.Configs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		sig += fmt.Sprintf("%s/%x/%d", t.Name, t.ID, len(t.Partitions))
		for _, k := range keys {
			sig += "," + k + "=" + t.Configs[k]
		}
		sig += ";"
	}
	return sig
}

func (s *leaderSession) sendLoop(ctx context.Context, enc *Encoder) error {
	cluster := s.leader.cfg.Cluster
	signature := ""
	var buf []byte
	var result engine.ReadResult
	for ctx.Err() == nil {
		topics := cluster.Topics()
		if sig := topicsSignature(topics); sig != signature {
			signature = sig
			list := make([]Topic, 0, len(topics))
			for _, t := range topics {
				list = append(list, Topic{Name: t.Name, ID: t.ID, Partitions: int32(len(t.Partitions)), Configs: t.Configs})
			}
			if _, err := s.conn.Write(enc.Metadata(list)); err != nil {
				return err
			}
		}
		sent := false
		var waitOn []<-chan struct{}
		s.mu.Lock()
		keys := make([]partitionKey, 0, len(s.positions))
		for k := range s.positions {
			keys = append(keys, k)
		}
		s.mu.Unlock()
		for _, key := range keys {
			t, ok := cluster.Topic(key.topic)
			if !ok || int(key.partition) >= len(t.Partitions) {
				continue
			}
			p := t.Partitions[key.partition]
			s.mu.Lock()
			pos := s.positions[key]
			s.mu.Unlock()
			if pos == nil {
				continue
			}
			if !pos.checked {
				pos.checked = true
				if pos.lastEpoch >= 0 && pos.next > 0 {
					_, end := p.Log.EndOffsetForEpoch(pos.lastEpoch)
					if end >= 0 && end < pos.next {
						if _, err := s.conn.Write(enc.PartitionOffset(TypeTruncate, PartitionOffset{TopicID: t.ID, Partition: key.partition, Offset: int64(end)})); err != nil {
							return err
						}
						pos.next = end
					}
				}
			}
			waitOn = append(waitOn, p.Log.LogEndOffsetChanged())
			if end := p.Log.LogEndOffset(); pos.next >= end {
				if time.Since(pos.heartbeat) >= heartbeatInterval && pos.next == end {
					// Nothing to send: tell the standby it is caught up.
					pos.heartbeat = time.Now()
					if _, err := s.conn.Write(enc.DataHeader(DataFields{TopicID: t.ID, Partition: key.partition, HighWatermark: int64(p.Log.HighWatermark()), LogStartOffset: int64(p.Log.LogStartOffset()), LogEndOffset: int64(end)})); err != nil {
						return err
					}
				}
				continue
			}
			reset, standbyEnd := false, pos.next
			if start := p.Log.LogStartOffset(); pos.next < start {
				// Retention deleted what the standby needs next: it
				// restarts its log where our first batch begins (the log
				// start offset may lie inside it; the Data frames' log
				// start then moves the standby's too).
				s.leader.cfg.Logger.Info("standby behind the log start offset; resetting it", "topic", key.topic, "partition", key.partition, "standby_end", pos.next, "log_start_offset", start)
				pos.next, reset = start, true
			}
			err := p.Log.Read(pos.next, dataBytesMax, true, engine.ReadReplica, &result)
			if err != nil {
				// Past our end (the standby is ahead and its last epoch
				// did not reveal it): the partition stays where it is.
				s.leader.cfg.Logger.Warn("cannot replicate partition from the standby's position", "topic", key.topic, "partition", key.partition, "position", pos.next, "error", err)
				pos.next = p.Log.LogEndOffset() + 1<<62 // park it
				continue
			}
			next := result.NextOffset
			hw, start := result.HighWatermark, result.LogStartOffset
			reachedEnd := next >= p.Log.LogEndOffset()
			length := int64(0)
			for _, e := range result.Extents {
				length += e.Length
			}
			if length == 0 {
				result.Release()
				continue
			}
			if reset {
				var head [segment.BatchHeaderBytes]byte
				first := result.Extents[0]
				if _, err := first.File.ReadAt(head[:min(int64(len(head)), first.Length)], first.Position); err != nil {
					result.Release()
					return err
				}
				h, err := segment.ParseHeader(head[:])
				if err != nil {
					result.Release()
					return err
				}
				if h.BaseOffset > standbyEnd {
					if _, err := s.conn.Write(enc.PartitionOffset(TypeReset, PartitionOffset{TopicID: t.ID, Partition: key.partition, Offset: int64(h.BaseOffset)})); err != nil {
						result.Release()
						return err
					}
				}
				// (Otherwise the first batch still continues the standby's
				// log: it is sent as is.)
			}
			header := enc.DataHeader(DataFields{TopicID: t.ID, Partition: key.partition, HighWatermark: int64(hw), LogStartOffset: int64(start), LogEndOffset: int64(p.Log.LogEndOffset()), BatchesLength: int32(length)})
			if _, err := s.conn.Write(header); err != nil {
				result.Release()
				return err
			}
			// The batches go as a consumer fetch's do (fetch.path): with
			// sendfile straight from the segment file, or through a
			// buffer; the segments stay held until they are sent.
			for _, e := range result.Extents {
				if buf, err = netio.WriteExtent(s.conn, e, s.leader.cfg.FetchPath, buf); err != nil {
					result.Release()
					return err
				}
			}
			result.Release()
			buf = buf[:0]
			pos.next = next
			sent = true
			if cfg := s.leader.cfg; cfg.ThrottleBytes > 0 {
				// Pace to the throttle: this frame's share of a second.
				pause := time.Duration(float64(length) / float64(cfg.ThrottleBytes) * float64(time.Second))
				select {
				case <-time.After(pause):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if reachedEnd {
				s.leader.sent(key, next, time.Now())
			}
		}
		if sent {
			continue
		}
		waitAny(ctx, waitOn, s.fresh, heartbeatInterval)
	}
	return ctx.Err()
}

// readHello reads the peer's first frame, which must be a Hello.
func readHello(conn net.Conn) (Hello, error) {
	frame, _, err := ReadFrame(conn, nil)
	if err != nil {
		return Hello{}, err
	}
	if frame.Type != TypeHello {
		return Hello{}, fmt.Errorf("%w: expected hello, got type %d", ErrFrame, frame.Type)
	}
	return DecodeHello(frame.Fields)
}

// waitAny waits until one of chans is closed, fresh receives, ctx ends or
// timeout passes.
func waitAny(ctx context.Context, chans []<-chan struct{}, fresh chan struct{}, timeout time.Duration) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	cases := make([]reflect.SelectCase, 0, len(chans)+3)
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(fresh)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)})
	for _, ch := range chans {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
	}
	reflect.Select(cases)
}

// Standby follows a leader.
type Standby struct {
	cfg    Config
	leader string // host:port of the leader's replication listener

	mu         sync.Mutex
	leaderInfo Hello
	connected  bool
	conn       net.Conn
	stop       chan struct{}
	done       chan struct{}
	// Per partition: the leader's log end offset as last heard, and when
	// this standby last held everything the leader had.
	caughtUp map[partitionKey]standbyProgress
}

type standbyProgress struct {
	leaderEnd engine.Offset
	at        time.Time
}

// PartitionLag is one partition's state as a standby sees it.
type PartitionLag struct {
	Topic       string
	Partition   int32
	End         int64 // this standby's log end offset
	LeaderEnd   int64 // the leader's, as last heard (-1: never)
	CaughtUpAgo time.Duration
}

// Progress reports, per partition, how far this standby is behind the
// leader as last heard and how long ago it last held all the leader had.
func (s *Standby) Progress() []PartitionLag {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PartitionLag
	now := time.Now()
	for _, t := range s.cfg.Cluster.Topics() {
		for _, p := range t.Partitions {
			lag := PartitionLag{Topic: t.Name, Partition: p.Index, End: int64(p.Log.LogEndOffset()), LeaderEnd: -1, CaughtUpAgo: -1}
			if pr, ok := s.caughtUp[partitionKey{t.Name, p.Index}]; ok {
				lag.LeaderEnd = int64(pr.leaderEnd)
				if !pr.at.IsZero() {
					lag.CaughtUpAgo = now.Sub(pr.at)
				}
			}
			out = append(out, lag)
		}
	}
	return out
}

// NewStandby makes a standby of the leader at addr.
func NewStandby(cfg Config, addr string) *Standby {
	return &Standby{cfg: cfg, leader: addr, stop: make(chan struct{}), done: make(chan struct{}), caughtUp: map[partitionKey]standbyProgress{}}
}

// Leader is what the leader said of itself in its hello (zero before the
// first connection).
func (s *Standby) Leader() (Hello, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leaderInfo, s.connected
}

// Run follows the leader until Close, reconnecting after errors.
func (s *Standby) Run() {
	defer close(s.done)
	for {
		err := s.session()
		s.mu.Lock()
		s.connected = false
		s.mu.Unlock()
		select {
		case <-s.stop:
			return
		default:
		}
		s.cfg.Logger.Warn("replication from the leader interrupted; reconnecting", "leader", s.leader, "error", err)
		select {
		case <-s.stop:
			return
		case <-time.After(reconnectPause):
		}
	}
}

// Close stops following.
func (s *Standby) Close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.mu.Lock()
	if s.conn != nil {
		s.conn.Close()
	}
	s.mu.Unlock()
	<-s.done
}

func (s *Standby) session() error {
	conn, err := net.DialTimeout("tcp", s.leader, handshakeWait)
	if err != nil {
		return err
	}
	defer conn.Close()
	s.mu.Lock()
	select {
	case <-s.stop:
		s.mu.Unlock()
		return errors.New("stopped")
	default:
	}
	s.conn = conn
	s.mu.Unlock()
	var enc Encoder
	conn.SetDeadline(time.Now().Add(handshakeWait))
	if _, err := conn.Write(enc.Hello(s.cfg.hello())); err != nil {
		return err
	}
	hello, err := readHello(conn)
	if err != nil {
		return err
	}
	conn.SetDeadline(time.Time{})
	var frame Frame
	var buf []byte
	switch own := s.cfg.Cluster.Epoch(); {
	case hello.Epoch < own:
		return fmt.Errorf("refusing to follow a leader in epoch %d: this node has seen epoch %d (that leader was superseded)", hello.Epoch, own)
	case hello.Epoch > own:
		if err := s.cfg.Cluster.SetEpoch(hello.Epoch); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.leaderInfo, s.connected = hello, true
	s.mu.Unlock()
	s.cfg.Logger.Info("following leader", "leader", s.leader, "node", hello.NodeID)
	cluster := s.cfg.Cluster
	for {
		frame, buf, err = ReadFrame(conn, buf)
		if err != nil {
			return err
		}
		switch frame.Type {
		case TypeMetadata:
			topics, err := DecodeMetadata(frame.Fields)
			if err != nil {
				return err
			}
			mirror := make([]meta.MirrorTopic, len(topics))
			for i, t := range topics {
				mirror[i] = meta.MirrorTopic{Name: t.Name, ID: t.ID, Partitions: t.Partitions, Configs: t.Configs}
			}
			if _, err := cluster.Mirror(mirror); err != nil {
				return err
			}
			var positions []Position
			for _, t := range cluster.Topics() {
				for _, p := range t.Partitions {
					lastEpoch := int32(-1)
					if history := p.Log.EpochHistory(); len(history) > 0 {
						lastEpoch = history[len(history)-1].Epoch
					}
					positions = append(positions, Position{TopicID: t.ID, Partition: p.Index, Offset: int64(p.Log.LogEndOffset()), LastEpoch: lastEpoch})
				}
			}
			if _, err := conn.Write(enc.Positions(positions)); err != nil {
				return err
			}
		case TypeData:
			d, err := DecodeData(frame.Fields)
			if err != nil {
				return err
			}
			p, err := s.partition(d.TopicID, d.Partition)
			if err != nil {
				return err
			}
			// A standby's readers see only what the leader has committed:
			// its high watermark follows the leader's.
			p.Log.SetFollower(true, engine.Offset(d.HighWatermark))
			if len(frame.Batches) == 0 {
				s.progress(p, engine.Offset(d.LogEndOffset))
				continue
			}
			var appendErr error
			if doErr := p.Shard.Do(func() {
				if _, appendErr = p.Log.AppendReplica(frame.Batches); appendErr == nil && p.Log.Config().FlushPolicy != engine.FlushInterval {
					appendErr = p.Log.Flush()
				}
			}); doErr != nil {
				return doErr
			}
			if appendErr != nil {
				return fmt.Errorf("%s-%d: %w", p.Topic, p.Index, appendErr)
			}
			if ls := engine.Offset(d.LogStartOffset); ls > p.Log.LogStartOffset() && ls <= p.Log.HighWatermark() {
				// The leader's log start moved (DeleteRecords, or a reset
				// into the middle of a batch): ours follows.
				p.Shard.Do(func() {
					if _, err := p.Log.DeleteRecords(ls); err != nil {
						s.cfg.Logger.Warn("could not follow the leader's log start offset", "topic", p.Topic, "partition", p.Index, "offset", ls, "error", err)
					}
				})
			}
			ack := PartitionOffset{TopicID: d.TopicID, Partition: d.Partition, Offset: int64(p.Log.DurableOffset())}
			if p.Log.Config().FlushPolicy == engine.FlushInterval {
				ack.Offset = int64(p.Log.LogEndOffset())
			}
			if _, err := conn.Write(enc.PartitionOffset(TypeAck, ack)); err != nil {
				return err
			}
			s.progress(p, engine.Offset(d.LogEndOffset))
		case TypeReset:
			r, err := DecodePartitionOffset(frame.Fields)
			if err != nil {
				return err
			}
			p, err := s.partition(r.TopicID, r.Partition)
			if err != nil {
				return err
			}
			var resetErr error
			if doErr := p.Shard.Do(func() { resetErr = p.Log.ResetTo(engine.Offset(r.Offset)) }); doErr != nil {
				return doErr
			}
			if resetErr != nil {
				return resetErr
			}
			s.cfg.Logger.Warn("standby was behind its leader's log start; restarted the partition there", "topic", p.Topic, "partition", p.Index, "offset", r.Offset)
		case TypeTruncate:
			t, err := DecodePartitionOffset(frame.Fields)
			if err != nil {
				return err
			}
			p, err := s.partition(t.TopicID, t.Partition)
			if err != nil {
				return err
			}
			var truncErr error
			if doErr := p.Shard.Do(func() { _, truncErr = p.Log.TruncateTo(engine.Offset(t.Offset)) }); doErr != nil {
				return doErr
			}
			if truncErr != nil {
				return truncErr
			}
			s.cfg.Logger.Warn("standby log diverged from the leader's; truncated", "topic", p.Topic, "partition", p.Index, "offset", t.Offset)
		default:
			return fmt.Errorf("%w: unexpected type %d from the leader", ErrFrame, frame.Type)
		}
	}
}

// progress notes the leader's log end offset for a partition, and that
// this standby held all of it, if it does.
func (s *Standby) progress(p *meta.Partition, leaderEnd engine.Offset) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := partitionKey{p.Topic, p.Index}
	pr := s.caughtUp[key]
	pr.leaderEnd = leaderEnd
	if p.Log.LogEndOffset() >= leaderEnd {
		pr.at = time.Now()
	}
	s.caughtUp[key] = pr
}

func (s *Standby) partition(id [16]byte, index int32) (*meta.Partition, error) {
	t, ok := s.cfg.Cluster.TopicByID(id)
	if !ok || index < 0 || int(index) >= len(t.Partitions) {
		return nil, fmt.Errorf("%w: unknown partition %x/%d", ErrFrame, id, index)
	}
	return t.Partitions[index], nil
}
