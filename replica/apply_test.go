package replica

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"spool/engine"
	"spool/engine/meta"
	"spool/internal/batchtest"
	"spool/segment"
)

// The standby's frame handling, driven frame by frame without a socket:
// a leader's and a standby's clusters on real logs, the leader's side
// deciding what to send (agreedEnd, the log start) as its session does,
// the standby's applier answering.

func openTestCluster(t *testing.T) *meta.Cluster {
	t.Helper()
	shards := []*engine.Shard{engine.NewShard(engine.ShardConfig{CPU: -1})}
	c, err := meta.Open(meta.Config{
		DataDir:  t.TempDir(),
		Shards:   shards,
		Defaults: engine.LogConfig{Segment: segment.Config{SegmentBytes: 1 << 20, IndexBytes: 64 << 10}, RetentionMillis: -1, RetentionBytes: -1},
		Logger:   discard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
		for _, s := range shards {
			s.Stop()
		}
	})
	return c
}

// pair is a leader cluster with one topic of one partition and a standby
// cluster that mirrored it.
type pair struct {
	leader, standby *meta.Cluster
	applier         *applier
	enc             Encoder
	progress        map[partitionKey]engine.Offset
}

func newPair(t *testing.T) *pair {
	t.Helper()
	p := &pair{leader: openTestCluster(t), standby: openTestCluster(t), progress: map[partitionKey]engine.Offset{}}
	if _, err := p.leader.CreateTopic("events", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	p.standby.SetFollower(true)
	p.applier = &applier{cluster: p.standby, logger: discard(), progress: func(part *meta.Partition, leaderEnd engine.Offset) {
		p.progress[partitionKey{part.Topic, part.Index}] = leaderEnd
	}}
	positions := p.metadata(t)
	if len(positions) != 1 || positions[0].Offset != 0 || positions[0].LastEpoch != -1 {
		t.Fatalf("positions of an empty standby: %+v", positions)
	}
	return p
}

func partition0(t *testing.T, c *meta.Cluster) *meta.Partition {
	t.Helper()
	topic, ok := c.Topic("events")
	if !ok {
		t.Fatal("no topic events")
	}
	return topic.Partitions[0]
}

// metadata sends the leader's topics as a Metadata frame and decodes the
// standby's Positions answer.
func (p *pair) metadata(t *testing.T) []Position {
	t.Helper()
	var list []Topic
	for _, topic := range p.leader.Topics() {
		list = append(list, Topic{Name: topic.Name, ID: topic.ID, Partitions: int32(len(topic.Partitions)), Configs: topic.Configs})
	}
	reply := p.roundTrip(t, p.enc.Metadata(list))
	frame := readFrameBytes(t, reply)
	positions, err := DecodePositions(frame.Fields)
	if err != nil {
		t.Fatal(err)
	}
	return positions
}

// roundTrip hands the standby one encoded frame and returns its answer.
func (p *pair) roundTrip(t *testing.T, encoded []byte, batches ...byte) []byte {
	t.Helper()
	frame := readFrameBytes(t, append(append([]byte(nil), encoded...), batches...))
	reply, err := p.applier.apply(&p.enc, frame)
	if err != nil {
		t.Fatalf("apply type %d: %v", frame.Type, err)
	}
	return append([]byte(nil), reply...)
}

func readFrameBytes(t *testing.T, b []byte) Frame {
	t.Helper()
	frame, _, err := ReadFrame(bytes.NewReader(b), nil)
	if err != nil {
		t.Fatal(err)
	}
	return frame
}

// appendLeader appends n one-record batches to the leader in epoch.
func appendLeader(t *testing.T, part *meta.Partition, n int, epoch int32) {
	t.Helper()
	for range n {
		if _, err := part.Shard.Append(part.Log, batchtest.Values(1, 16, time.Now().UnixMilli()), epoch, true); err != nil {
			t.Fatal(err)
		}
	}
}

// sendData sends what the leader holds from offset (a Data frame as the
// session builds it) and returns the standby's ack.
func (p *pair) sendData(t *testing.T, from engine.Offset) int64 {
	t.Helper()
	leader := partition0(t, p.leader)
	var result engine.ReadResult
	if err := leader.Log.Read(from, dataBytesMax, true, engine.ReadReplica, &result); err != nil {
		t.Fatal(err)
	}
	batches, err := result.AppendBytes(nil)
	result.Release()
	if err != nil {
		t.Fatal(err)
	}
	topic, _ := p.leader.Topic("events")
	fields := DataFields{TopicID: topic.ID, HighWatermark: int64(leader.Log.HighWatermark()), LogStartOffset: int64(leader.Log.LogStartOffset()), LogEndOffset: int64(leader.Log.LogEndOffset()), BatchesLength: int32(len(batches))}
	reply := p.roundTrip(t, p.enc.DataHeader(fields), batches...)
	ack, err := DecodePartitionOffset(readFrameBytes(t, reply).Fields)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Offset
}

// identical fails unless the standby's partition holds the leader's bytes
// from from on.
func (p *pair) identical(t *testing.T, from engine.Offset) {
	t.Helper()
	read := func(part *meta.Partition) []byte {
		var result engine.ReadResult
		var out []byte
		for offset := from; offset < part.Log.LogEndOffset(); {
			if err := part.Log.Read(offset, dataBytesMax, true, engine.ReadReplica, &result); err != nil {
				t.Fatal(err)
			}
			var err error
			if out, err = result.AppendBytes(out); err != nil {
				t.Fatal(err)
			}
			offset = result.NextOffset
			result.Release()
		}
		return out
	}
	leader, standby := partition0(t, p.leader), partition0(t, p.standby)
	if leader.Log.LogEndOffset() != standby.Log.LogEndOffset() || !bytes.Equal(read(leader), read(standby)) {
		t.Fatalf("standby (end %d) differs from the leader (end %d) from offset %d", standby.Log.LogEndOffset(), leader.Log.LogEndOffset(), from)
	}
}

// TestApplyCatchUp: Data frames append the leader's batches verbatim, the
// ack is the standby's durable end, the high watermark follows the
// leader's, and a heartbeat gets no ack but records the leader's end and
// moves the log start up to the leader's.
func TestApplyCatchUp(t *testing.T) {
	p := newPair(t)
	leader := partition0(t, p.leader)
	appendLeader(t, leader, 5, 0)
	if ack := p.sendData(t, 0); ack != 5 {
		t.Fatalf("ack %d, want 5", ack)
	}
	p.identical(t, 0)
	standby := partition0(t, p.standby)
	if hw := standby.Log.HighWatermark(); hw != leader.Log.HighWatermark() {
		t.Fatalf("standby high watermark %d, leader's %d", hw, leader.Log.HighWatermark())
	}
	topic, _ := p.leader.Topic("events")
	// The leader's log start moved (DeleteRecords) with nothing new to
	// send: the heartbeat carries it, and the standby's follows.
	heartbeat := p.enc.DataHeader(DataFields{TopicID: topic.ID, HighWatermark: 5, LogStartOffset: 3, LogEndOffset: 9})
	if reply := p.roundTrip(t, heartbeat); reply != nil {
		t.Fatalf("a heartbeat was answered: %x", reply)
	}
	if start := standby.Log.LogStartOffset(); start != 3 {
		t.Fatalf("standby log start %d after a heartbeat with the leader's 3", start)
	}
	if got := p.progress[partitionKey{"events", 0}]; got != 9 {
		t.Fatalf("leader end noted %d, want 9", got)
	}
	positions := p.metadata(t)
	if len(positions) != 1 || positions[0].Offset != 5 || positions[0].LastEpoch != 0 {
		t.Fatalf("positions after catching up: %+v", positions)
	}
}

// TestApplyTruncationOnRejoin: a node that led in epoch 0 and took three
// records its standby never got comes back as the standby of a leader
// that started epoch 1 at offset 5. Its position (end 8, last epoch 0)
// agrees with the leader's log only up to 5: the Truncate cuts it there
// and the leader's epoch-1 batches follow.
func TestApplyTruncationOnRejoin(t *testing.T) {
	p := newPair(t)
	leader, standby := partition0(t, p.leader), partition0(t, p.standby)
	appendLeader(t, leader, 5, 0)
	p.sendData(t, 0)
	appendLeader(t, standby, 3, 0) // the old leader's diverged tail
	appendLeader(t, leader, 4, 1)  // the new leader's epoch
	positions := p.metadata(t)
	if len(positions) != 1 || positions[0].Offset != 8 || positions[0].LastEpoch != 0 {
		t.Fatalf("positions with a diverged tail: %+v", positions)
	}
	end := agreedEnd(leader.Log, engine.Offset(positions[0].Offset), positions[0].LastEpoch)
	if end != 5 {
		t.Fatalf("agreed end %d, want 5", end)
	}
	topic, _ := p.leader.Topic("events")
	if reply := p.roundTrip(t, p.enc.PartitionOffset(TypeTruncate, PartitionOffset{TopicID: topic.ID, Offset: int64(end)})); reply != nil {
		t.Fatal("a Truncate was answered")
	}
	if got := standby.Log.LogEndOffset(); got != 5 {
		t.Fatalf("standby end after the Truncate %d, want 5", got)
	}
	if ack := p.sendData(t, 5); ack != 9 {
		t.Fatalf("ack %d, want 9", ack)
	}
	p.identical(t, 0)
}

// TestApplyResetBelowLogStart: while the standby was away the leader's log
// start moved past its end; the Reset restarts the standby's partition at
// the leader's first batch, and the leader's batches follow from there.
func TestApplyResetBelowLogStart(t *testing.T) {
	p := newPair(t)
	leader, standby := partition0(t, p.leader), partition0(t, p.standby)
	appendLeader(t, leader, 10, 0)
	var moveErr error
	leader.Shard.Do(func() { _, moveErr = leader.Log.DeleteRecords(7) })
	if moveErr != nil {
		t.Fatal(moveErr)
	}
	if start := leader.Log.LogStartOffset(); start != 7 {
		t.Fatalf("leader log start %d", start)
	}
	topic, _ := p.leader.Topic("events")
	if reply := p.roundTrip(t, p.enc.PartitionOffset(TypeReset, PartitionOffset{TopicID: topic.ID, Offset: 7})); reply != nil {
		t.Fatal("a Reset was answered")
	}
	if start, end := standby.Log.LogStartOffset(), standby.Log.LogEndOffset(); start != 7 || end != 7 {
		t.Fatalf("standby after the Reset: log start %d, end %d; want 7, 7", start, end)
	}
	if ack := p.sendData(t, 7); ack != 10 {
		t.Fatalf("ack %d, want 10", ack)
	}
	p.identical(t, 7)
}

// TestApplyRefusesUnknownFrames: a frame for a partition the standby does
// not have, or of a type a leader never sends, ends the session.
func TestApplyRefusesUnknownFrames(t *testing.T) {
	p := newPair(t)
	topic, _ := p.leader.Topic("events")
	for name, encoded := range map[string][]byte{
		"unknown topic":     append([]byte(nil), p.enc.PartitionOffset(TypeTruncate, PartitionOffset{TopicID: [16]byte{9}, Offset: 0})...),
		"unknown partition": append([]byte(nil), p.enc.PartitionOffset(TypeReset, PartitionOffset{TopicID: topic.ID, Partition: 1, Offset: 0})...),
		"negative":          append([]byte(nil), p.enc.DataHeader(DataFields{TopicID: topic.ID, Partition: -1})...),
		"an ack":            append([]byte(nil), p.enc.PartitionOffset(TypeAck, PartitionOffset{TopicID: topic.ID})...),
	} {
		frame := readFrameBytes(t, encoded)
		if _, err := p.applier.apply(&p.enc, frame); !errors.Is(err, ErrFrame) {
			t.Errorf("%s: %v, want ErrFrame", name, err)
		}
	}
}
