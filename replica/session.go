package replica

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"spool/engine"
	"spool/engine/meta"
	"spool/netio"
	"spool/segment"
)

// A leader's session with one standby connection:
//  1. hellos: the standby's is checked (leaderAccepts; a newer epoch
//     fences this node), then ours is sent;
//  2. the reader goroutine takes Positions (each one an ack, cut to where
//     the leader's history agrees) and Acks;
//  3. the sender goroutine loops: Metadata whenever the topics change,
//     then a round over the standby's partitions (sendPartition), then,
//     if it sent nothing, a wait on the partitions' log-end notifiers.

// standbyPosition is where the standby is in one partition, as the sender
// sees it. Only the sender reads or writes a position once the reader has
// published it.
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
	// standbyVersion is the standby's replication version: BrokerConfigs
	// frames go only to v2+.
	standbyVersion int16
	established    atomic.Bool // past the hellos: a standby is connected

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
	if err := leaderAccepts(cfg.Cluster.Epoch(), cfg.Cluster.Follower(), hello); err != nil {
		if errors.Is(err, errFenced) {
			// Stop taking writes, so two nodes never acknowledge at once.
			cfg.Cluster.SetFollower(true)
			cfg.Logger.Error("FENCED: a node leads in a newer epoch; this node refuses writes until restarted as its standby", "their_epoch", hello.Epoch, "our_epoch", cfg.Cluster.Epoch(), "node", hello.NodeID)
		}
		return err
	}
	s.standbyNode, s.standbyVersion = hello.NodeID, hello.Version
	var enc Encoder
	if _, err := s.conn.Write(enc.Hello(cfg.hello())); err != nil {
		return err
	}
	s.conn.SetDeadline(time.Time{})
	s.established.Store(true)
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
		frame, b, err := ReadFrameFrom(s.conn, buf)
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
			s.takePositions(positions)
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

// takePositions replaces the standby's positions and wakes the sender. A
// position is the standby's durable log end: an ack, of as much as the
// leader's history agrees with.
func (s *leaderSession) takePositions(positions []Position) {
	next := map[partitionKey]*standbyPosition{}
	for _, p := range positions {
		t, ok := s.leader.cfg.Cluster.TopicByID(p.TopicID)
		if !ok || p.Partition < 0 || int(p.Partition) >= len(t.Partitions) {
			continue
		}
		key := partitionKey{t.Name, p.Partition}
		next[key] = &standbyPosition{id: p.TopicID, next: engine.Offset(p.Offset), lastEpoch: p.LastEpoch}
		s.leader.acked(key, agreedEnd(t.Partitions[p.Partition].Log, engine.Offset(p.Offset), p.LastEpoch))
	}
	s.mu.Lock()
	s.positions = next
	s.mu.Unlock()
	select {
	case s.fresh <- struct{}{}:
	default:
	}
}

// epochEnds is what agreedEnd needs of a leader's log: where each epoch of
// its history ends (engine.Log.EndOffsetForEpoch, safe on any goroutine).
type epochEnds interface {
	EndOffsetForEpoch(epoch int32) (int32, engine.Offset)
}

// agreedEnd is how much of a standby's log, ending at end with lastEpoch
// its last leader epoch (-1: none), the leader's log agrees with: end, cut
// to where the leader's history of lastEpoch ends (KIP-101). Below end,
// the standby's tail diverged and must be truncated there.
func agreedEnd(log epochEnds, end engine.Offset, lastEpoch int32) engine.Offset {
	if lastEpoch < 0 || end <= 0 {
		return end
	}
	if _, epochEnd := log.EndOffsetForEpoch(lastEpoch); epochEnd >= 0 && epochEnd < end {
		return epochEnd
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

// sender is the sending half's state, reused across rounds.
type sender struct {
	enc       *Encoder
	signature string
	// brokerConfigs is the signature of the broker configs last sent.
	brokerConfigs string
	buf           []byte // the copy path's buffer
	result        engine.ReadResult
}

func (s *leaderSession) sendLoop(ctx context.Context, enc *Encoder) error {
	out := &sender{enc: enc}
	for ctx.Err() == nil {
		if err := s.sendMetadata(out); err != nil {
			return err
		}
		sent, waitOn, err := s.sendRound(ctx, out)
		if err != nil {
			return err
		}
		if !sent {
			waitAny(ctx, waitOn, s.fresh, heartbeatInterval)
		}
	}
	return ctx.Err()
}

// sendMetadata sends the broker configs (to a v2+ standby) and the topics
// when they changed since the last time.
func (s *leaderSession) sendMetadata(out *sender) error {
	if s.standbyVersion >= 2 {
		configs := s.leader.cfg.Cluster.BrokerConfigs()
		if sig := fmt.Sprint(configs); sig != out.brokerConfigs {
			out.brokerConfigs = sig
			if _, err := s.conn.Write(out.enc.BrokerConfigs(configs)); err != nil {
				return err
			}
		}
	}
	topics := s.leader.cfg.Cluster.Topics()
	sig := topicsSignature(topics)
	if sig == out.signature {
		return nil
	}
	out.signature = sig
	list := make([]Topic, 0, len(topics))
	for _, t := range topics {
		list = append(list, Topic{Name: t.Name, ID: t.ID, Partitions: int32(len(t.Partitions)), Configs: t.Configs})
	}
	_, err := s.conn.Write(out.enc.Metadata(list))
	return err
}

// sendRound visits every partition the standby has a position in once. It
// reports whether it sent any batches, and the notifiers to wait on when
// it did not.
func (s *leaderSession) sendRound(ctx context.Context, out *sender) (sent bool, waitOn []<-chan struct{}, err error) {
	s.mu.Lock()
	keys := make([]partitionKey, 0, len(s.positions))
	for k := range s.positions {
		keys = append(keys, k)
	}
	s.mu.Unlock()
	for _, key := range keys {
		t, ok := s.leader.cfg.Cluster.Topic(key.topic)
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
		waitOn = append(waitOn, p.Log.LogEndOffsetChanged())
		sentData, err := s.sendPartition(ctx, out, t.ID, key, p.Log, pos)
		if err != nil {
			return false, nil, err
		}
		sent = sent || sentData
	}
	return sent, waitOn, nil
}

// sendPartition sends one partition what the standby needs next, in this
// order:
//  1. once per position, a Truncate if the standby's tail diverged;
//  2. caught up: a heartbeat (an empty Data frame) every
//     heartbeatInterval, and nothing else;
//  3. behind the log start offset: a Reset to the first batch's base, if
//     that lies above the standby's end;
//  4. a Data frame of up to dataBytesMax of batches, then the throttle's
//     pause, then a catch-up mark if the frame reached the log end.
//
// It reports whether it sent batches.
func (s *leaderSession) sendPartition(ctx context.Context, out *sender, topicID [16]byte, key partitionKey, log *engine.Log, pos *standbyPosition) (bool, error) {
	if !pos.checked {
		pos.checked = true
		if end := agreedEnd(log, pos.next, pos.lastEpoch); end < pos.next {
			if _, err := s.conn.Write(out.enc.PartitionOffset(TypeTruncate, PartitionOffset{TopicID: topicID, Partition: key.partition, Offset: int64(end)})); err != nil {
				return false, err
			}
			pos.next = end
		}
	}
	if end := log.LogEndOffset(); pos.next >= end {
		if time.Since(pos.heartbeat) >= heartbeatInterval && pos.next == end {
			pos.heartbeat = time.Now()
			_, err := s.conn.Write(out.enc.DataHeader(DataFields{TopicID: topicID, Partition: key.partition, HighWatermark: int64(log.HighWatermark()), LogStartOffset: int64(log.LogStartOffset()), LogEndOffset: int64(end)}))
			return false, err
		}
		return false, nil
	}
	reset, standbyEnd := false, pos.next
	if start := log.LogStartOffset(); pos.next < start {
		// Retention deleted what the standby needs next: it restarts its
		// log where our first batch begins (the log start offset may lie
		// inside it; the Data frames' log start then moves the standby's
		// too).
		s.leader.cfg.Logger.Info("standby behind the log start offset; resetting it", "topic", key.topic, "partition", key.partition, "standby_end", pos.next, "log_start_offset", start)
		pos.next, reset = start, true
	}
	if err := log.Read(pos.next, dataBytesMax, true, engine.ReadReplica, &out.result); err != nil {
		// Past our end (the standby is ahead and its last epoch did not
		// reveal it): the partition stays where it is.
		s.leader.cfg.Logger.Warn("cannot replicate partition from the standby's position", "topic", key.topic, "partition", key.partition, "position", pos.next, "error", err)
		pos.next = log.LogEndOffset() + 1<<62 // park it
		return false, nil
	}
	next := out.result.NextOffset
	reachedEnd := next >= log.LogEndOffset()
	length, err := s.sendData(out, topicID, key, log, reset, standbyEnd)
	out.result.Release()
	if err != nil || length == 0 {
		return false, err
	}
	pos.next = next
	if throttle := s.leader.cfg.ThrottleBytes; throttle > 0 {
		// Pace to the throttle: this frame's share of a second.
		pause := time.Duration(float64(length) / float64(throttle) * float64(time.Second))
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return true, ctx.Err()
		}
	}
	if reachedEnd {
		s.leader.sent(key, next, time.Now())
	}
	return true, nil
}

// sendData sends the batches out.result holds, with a Reset first when
// reset asks for one, and reports their length (0: nothing sent).
func (s *leaderSession) sendData(out *sender, topicID [16]byte, key partitionKey, log *engine.Log, reset bool, standbyEnd engine.Offset) (int64, error) {
	result := &out.result
	length := int64(0)
	for _, e := range result.Extents {
		length += e.Length
	}
	if length == 0 {
		return 0, nil
	}
	if reset {
		if err := s.sendReset(out, topicID, key, result.Extents[0], standbyEnd); err != nil {
			return 0, err
		}
	}
	header := out.enc.DataHeader(DataFields{TopicID: topicID, Partition: key.partition, HighWatermark: int64(result.HighWatermark), LogStartOffset: int64(result.LogStartOffset), LogEndOffset: int64(log.LogEndOffset()), BatchesLength: int32(length)})
	if _, err := s.conn.Write(header); err != nil {
		return 0, err
	}
	// The batches go as a consumer fetch's do (fetch.path): with sendfile
	// straight from the segment file, or through a buffer; the segments
	// stay held until they are sent.
	for _, e := range result.Extents {
		var err error
		if out.buf, err = netio.WriteExtent(s.conn, e, s.leader.cfg.FetchPath, out.buf); err != nil {
			return 0, err
		}
	}
	out.buf = out.buf[:0]
	return length, nil
}

// sendReset tells the standby to restart the partition at the base of the
// first batch it is about to get, when that lies above its end (otherwise
// the batch still continues the standby's log and goes as it is).
func (s *leaderSession) sendReset(out *sender, topicID [16]byte, key partitionKey, first segment.Extent, standbyEnd engine.Offset) error {
	var head [segment.BatchHeaderBytes]byte
	if _, err := first.File.ReadAt(head[:min(int64(len(head)), first.Length)], first.Position); err != nil {
		return err
	}
	h, err := segment.ParseHeader(head[:])
	if err != nil {
		return err
	}
	if h.BaseOffset <= standbyEnd {
		return nil
	}
	_, err = s.conn.Write(out.enc.PartitionOffset(TypeReset, PartitionOffset{TopicID: topicID, Partition: key.partition, Offset: int64(h.BaseOffset)}))
	return err
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
