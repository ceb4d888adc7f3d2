package replica

import (
	"errors"
	"fmt"
	"time"
)

// PromoteReport is what a promotion did, or why it refused.
type PromoteReport struct {
	Promoted bool   `json:"promoted"`
	Epoch    int32  `json:"epoch"`
	Refused  string `json:"refused,omitempty"`
	Fenced   string `json:"fenced_old_leader"`
	// MayLose is, per partition the standby was behind in, how many
	// offsets the old leader had that this node lacks (as last heard).
	MayLose map[string]int64 `json:"may_lose,omitempty"`
}

// fenceTimeout bounds the attempt to reach the old leader.
const fenceTimeout = time.Second

// errNotStandby refuses a promotion of a node that follows no leader.
var errNotStandby = errors.New("this node is not a standby")

// Promote makes this standby the leader, in this order:
//  1. refuse (report.Refused, no error) when a partition has not been
//     caught up within replica.lag.time.max.ms, unless unclean: the
//     old leader may have taken writes alone since;
//  2. stop following;
//  3. take a new leader epoch, durably (max of ours and the leader's, + 1);
//  4. fence the old leader (a hello in the newer epoch; best effort);
//  5. the high watermark of every partition becomes its own log end
//     (until a standby of our own is in sync), and the cluster takes
//     client writes.
//
// The caller then starts what a leader runs (the group coordinator, the
// replication listener). minInsyncReplicas is a topic's
// min.insync.replicas, for the refusal's message. Calls are serialized by
// the caller; a second one answers an error.
func (s *Standby) Promote(unclean bool, minInsyncReplicas func(topic string) int) (PromoteReport, error) {
	var report PromoteReport
	if !s.cfg.Cluster.Follower() {
		return report, errNotStandby
	}
	var stale string
	report.MayLose, stale = promotionRisk(s.Progress(), s.cfg.LagMax, minInsyncReplicas)
	if stale != "" && !unclean {
		report.Refused = "not in sync: " + stale + "; promote with --unclean to accept that loss"
		return report, nil
	}
	leader, _ := s.Leader()
	s.Close()
	epoch := max(s.cfg.Cluster.Epoch(), leader.Epoch) + 1
	if err := s.cfg.Cluster.SetEpoch(epoch); err != nil {
		return report, err
	}
	if err := Fence(s.cfg, s.leader, fenceTimeout); err != nil {
		report.Fenced = "not reached: " + err.Error()
	} else {
		report.Fenced = "fenced"
	}
	for _, t := range s.cfg.Cluster.Topics() {
		for _, p := range t.Partitions {
			// The leader's high watermark bounded ours; now ours is the
			// log end until a standby of our own is in sync.
			p.Log.SetFollower(false, 0)
		}
	}
	s.cfg.Cluster.SetFollower(false)
	report.Promoted, report.Epoch = true, epoch
	return report, nil
}

// promotionRisk reads a standby's progress: per partition it was behind
// in, how many offsets it may lack (mayLose), and the first partition not
// caught up within lagMax, described (stale; "" when every partition was).
// The leader drops this node from its in-sync set only lagMax after this
// node was last caught up; after that it may have taken writes alone.
func promotionRisk(progress []PartitionLag, lagMax time.Duration, minInsyncReplicas func(topic string) int) (mayLose map[string]int64, stale string) {
	mayLose = map[string]int64{}
	for _, p := range progress {
		name := fmt.Sprintf("%s-%d", p.Topic, p.Partition)
		if p.LeaderEnd > p.End {
			mayLose[name] = p.LeaderEnd - p.End
		}
		if stale != "" || (p.CaughtUpAgo >= 0 && p.CaughtUpAgo <= lagMax) {
			continue
		}
		ago := "never"
		if p.CaughtUpAgo >= 0 {
			ago = p.CaughtUpAgo.Round(time.Millisecond).String() + " ago"
		}
		stale = fmt.Sprintf("%s was last caught up %s, longer than replica.lag.time.max.ms %v", name, ago, lagMax)
		if minInsyncReplicas(p.Topic) >= 2 {
			stale += " (with min.insync.replicas 2 every acks=all write is here; only acks=0/1 writes may be missing)"
		} else {
			stale += " (with min.insync.replicas 1 the old leader may have acknowledged acks=all writes alone)"
		}
	}
	return mayLose, stale
}
