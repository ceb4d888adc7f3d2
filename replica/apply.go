package replica

import (
	"fmt"
	"log/slog"

	"spool/engine"
	"spool/engine/meta"
)

// The standby's handling of each frame from its leader. One goroutine (the
// standby's session) calls apply; every write to a log runs on the
// partition's shard (Shard.Do), and so does every read of what only the
// writer may read (the log's config).
//
//	Metadata  mirror the leader's topics (IDs and configs included), then
//	          answer Positions: per partition the log end offset and the
//	          last leader epoch
//	Data      follow the leader's high watermark; append the batches
//	          verbatim (AppendReplica checks each CRC) and sync them
//	          (unless the flush policy is interval); follow the leader's
//	          log start offset; answer Ack with the durable end. With no
//	          batches (a heartbeat) only the high watermark and the log
//	          start follow, and nothing is answered
//	Truncate  cut the log at the offset (its tail diverged)
//	Reset     empty the log and restart it at the offset (the leader's
//	          log now starts above our end)
//	BrokerConfigs  mirror the leader's dynamic broker configs (v2+);
//	          nothing is answered
type applier struct {
	cluster *meta.Cluster
	logger  *slog.Logger
	// progress notes the leader's log end offset for a partition after
	// each Data frame.
	progress func(p *meta.Partition, leaderEnd engine.Offset)
}

// apply handles one frame and returns the frame to answer with (nil:
// none). An error ends the session.
func (a *applier) apply(enc *Encoder, frame Frame) ([]byte, error) {
	switch frame.Type {
	case TypeMetadata:
		topics, err := DecodeMetadata(frame.Fields)
		if err != nil {
			return nil, err
		}
		positions, err := a.metadata(topics)
		if err != nil {
			return nil, err
		}
		return enc.Positions(positions), nil
	case TypeData:
		d, err := DecodeData(frame.Fields)
		if err != nil {
			return nil, err
		}
		ack, err := a.data(d, frame.Batches)
		if err != nil || ack == nil {
			return nil, err
		}
		return enc.PartitionOffset(TypeAck, *ack), nil
	case TypeBrokerConfigs:
		configs, err := DecodeBrokerConfigs(frame.Fields)
		if err != nil {
			return nil, err
		}
		_, err = a.cluster.MirrorBrokerConfigs(configs)
		return nil, err
	case TypeTruncate, TypeReset:
		at, err := DecodePartitionOffset(frame.Fields)
		if err != nil {
			return nil, err
		}
		if frame.Type == TypeTruncate {
			return nil, a.truncate(at)
		}
		return nil, a.reset(at)
	}
	return nil, fmt.Errorf("%w: unexpected type %d from the leader", ErrFrame, frame.Type)
}

// metadata mirrors the leader's topics and lists this node's positions.
func (a *applier) metadata(topics []Topic) ([]Position, error) {
	mirror := make([]meta.MirrorTopic, len(topics))
	for i, t := range topics {
		mirror[i] = meta.MirrorTopic{Name: t.Name, ID: t.ID, Partitions: t.Partitions, Configs: t.Configs}
	}
	if _, err := a.cluster.Mirror(mirror); err != nil {
		return nil, err
	}
	var positions []Position
	for _, t := range a.cluster.Topics() {
		for _, p := range t.Partitions {
			lastEpoch := int32(-1)
			if history := p.Log.EpochHistory(); len(history) > 0 {
				lastEpoch = history[len(history)-1].Epoch
			}
			positions = append(positions, Position{TopicID: t.ID, Partition: p.Index, Offset: int64(p.Log.LogEndOffset()), LastEpoch: lastEpoch})
		}
	}
	return positions, nil
}

// data applies a Data frame; a heartbeat (no batches) gets no ack.
func (a *applier) data(d DataFields, batches []byte) (*PartitionOffset, error) {
	p, err := a.partition(d.TopicID, d.Partition)
	if err != nil {
		return nil, err
	}
	// A standby's readers see only what the leader has committed: its
	// high watermark follows the leader's.
	p.Log.SetFollower(true, engine.Offset(d.HighWatermark))
	if len(batches) == 0 {
		// A heartbeat: nothing to append, but the leader's log start may
		// have moved since its last batches.
		a.followLogStart(p, engine.Offset(d.LogStartOffset))
		a.progress(p, engine.Offset(d.LogEndOffset))
		return nil, nil
	}
	var acked engine.Offset
	var appendErr error
	if doErr := p.Shard.Do(func() { acked, appendErr = appendAndSync(p.Log, batches) }); doErr != nil {
		return nil, doErr
	}
	if appendErr != nil {
		return nil, fmt.Errorf("%s-%d: %w", p.Topic, p.Index, appendErr)
	}
	a.followLogStart(p, engine.Offset(d.LogStartOffset))
	a.progress(p, engine.Offset(d.LogEndOffset))
	return &PartitionOffset{TopicID: d.TopicID, Partition: d.Partition, Offset: int64(acked)}, nil
}

// followLogStart moves the partition's log start up to the leader's
// (DeleteRecords or retention there, or a reset into the middle of a
// batch), as far as the high watermark: records the leader removed are
// never served here, nor after a promotion.
func (a *applier) followLogStart(p *meta.Partition, start engine.Offset) {
	if start <= p.Log.LogStartOffset() || start > p.Log.HighWatermark() {
		return
	}
	p.Shard.Do(func() {
		if _, err := p.Log.DeleteRecords(start); err != nil {
			a.logger.Warn("could not follow the leader's log start offset", "topic", p.Topic, "partition", p.Index, "offset", start, "error", err)
		}
	})
}

// appendAndSync appends a Data frame's batches and syncs them, unless the
// flush policy is interval, and returns the offset to ack: the durable end
// (under interval, the log end: the standby acks what it holds, as
// acks=1 would). Writer only: on the partition's shard.
func appendAndSync(log *engine.Log, batches []byte) (engine.Offset, error) {
	if _, err := log.AppendReplica(batches); err != nil {
		return 0, err
	}
	if log.Config().FlushPolicy == engine.FlushInterval {
		return log.LogEndOffset(), nil
	}
	if err := log.Flush(); err != nil {
		return 0, err
	}
	return log.DurableOffset(), nil
}

// truncate cuts a partition whose tail diverged from the leader's.
func (a *applier) truncate(at PartitionOffset) error {
	p, err := a.partition(at.TopicID, at.Partition)
	if err != nil {
		return err
	}
	var truncErr error
	if doErr := p.Shard.Do(func() { _, truncErr = p.Log.TruncateTo(engine.Offset(at.Offset)) }); doErr != nil {
		return doErr
	}
	if truncErr != nil {
		return truncErr
	}
	a.logger.Warn("standby log diverged from the leader's; truncated", "topic", p.Topic, "partition", p.Index, "offset", at.Offset)
	return nil
}

// reset restarts a partition at the leader's log start.
func (a *applier) reset(at PartitionOffset) error {
	p, err := a.partition(at.TopicID, at.Partition)
	if err != nil {
		return err
	}
	var resetErr error
	if doErr := p.Shard.Do(func() { resetErr = p.Log.ResetTo(engine.Offset(at.Offset)) }); doErr != nil {
		return doErr
	}
	if resetErr != nil {
		return resetErr
	}
	a.logger.Warn("standby was behind its leader's log start; restarted the partition there", "topic", p.Topic, "partition", p.Index, "offset", at.Offset)
	return nil
}

func (a *applier) partition(id [16]byte, index int32) (*meta.Partition, error) {
	t, ok := a.cluster.TopicByID(id)
	if !ok || index < 0 || int(index) >= len(t.Partitions) {
		return nil, fmt.Errorf("%w: unknown partition %x/%d", ErrFrame, id, index)
	}
	return t.Partitions[index], nil
}
