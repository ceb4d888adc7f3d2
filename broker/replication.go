package broker

// Replication in the composition root: the leader's listener, promotion of
// a standby, and the replication admin endpoints (POST /promote, GET
// /replication; their commands are in tools/spool).

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"spool/replica"
)

// serveReplication opens replication.listener and serves standbys.
func (b *Broker) serveReplication() error {
	listener, err := net.Listen("tcp", b.replAddr)
	if err != nil {
		return fmt.Errorf("replication.listener: %w", err)
	}
	b.replListener = listener
	b.replLeader = replica.NewLeader(b.replCfg)
	go b.replLeader.Serve(listener)
	b.logger.Info("replication listener", "address", listener.Addr().String(), "epoch", b.cluster.Epoch())
	return nil
}

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

// promote makes this standby the leader: a new leader epoch, writes and
// the group coordinator on, the replication listener open. It refuses when
// any partition has not been caught up within replica.lag.time.max.ms
// (the old leader may have taken writes alone since) unless unclean.
func (b *Broker) promote(unclean bool) (PromoteReport, error) {
	b.promoteMu.Lock()
	defer b.promoteMu.Unlock()
	var report PromoteReport
	if b.standby == nil || !b.cluster.Follower() {
		return report, errors.New("this node is not a standby")
	}
	lagMax := b.replCfg.LagMax
	report.MayLose = map[string]int64{}
	stale := ""
	for _, p := range b.standby.Progress() {
		name := fmt.Sprintf("%s-%d", p.Topic, p.Partition)
		if p.LeaderEnd > p.End {
			report.MayLose[name] = p.LeaderEnd - p.End
		}
		// The leader drops this node from its in-sync set only
		// replica.lag.time.max.ms after this node was last caught up;
		// after that it may have taken writes alone.
		if (p.CaughtUpAgo < 0 || p.CaughtUpAgo > lagMax) && stale == "" {
			ago := "never"
			if p.CaughtUpAgo >= 0 {
				ago = p.CaughtUpAgo.Round(time.Millisecond).String() + " ago"
			}
			stale = fmt.Sprintf("%s was last caught up %s, longer than replica.lag.time.max.ms %v", name, ago, lagMax)
			if b.minInsyncReplicas(p.Topic) >= 2 {
				stale += " (with min.insync.replicas 2 every acks=all write is here; only acks=0/1 writes may be missing)"
			} else {
				stale += " (with min.insync.replicas 1 the old leader may have acknowledged acks=all writes alone)"
			}
		}
	}
	if stale != "" && !unclean {
		report.Refused = "not in sync: " + stale + "; promote with --unclean to accept that loss"
		return report, nil
	}
	leader, _ := b.standby.Leader()
	b.standby.Close()
	epoch := max(b.cluster.Epoch(), leader.Epoch) + 1
	if err := b.cluster.SetEpoch(epoch); err != nil {
		return report, err
	}
	if err := replica.Fence(b.replCfg, b.standbyOf, time.Second); err != nil {
		report.Fenced = "not reached: " + err.Error()
	} else {
		report.Fenced = "fenced"
	}
	for _, t := range b.cluster.Topics() {
		for _, p := range t.Partitions {
			// The leader's high watermark bounded ours; now ours is the
			// log end until a standby of our own is in sync.
			p.Log.SetFollower(false, 0)
		}
	}
	b.cluster.SetFollower(false)
	groups, err := openGroups(b.props, b.cluster, b.logger)
	if err != nil {
		return report, err
	}
	b.groups = groups
	b.wire.SetGroups(groups)
	if b.replAddr != "" {
		if err := b.serveReplication(); err != nil {
			return report, err
		}
	}
	report.Promoted, report.Epoch = true, epoch
	b.logger.Warn("PROMOTED: this node now leads", "epoch", epoch, "unclean", unclean, "old_leader", report.Fenced, "may_lose", report.MayLose)
	return report, nil
}

func (b *Broker) promoteHandler(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST /promote[?unclean=true]", http.StatusMethodNotAllowed)
		return
	}
	report, err := b.promote(r.URL.Query().Get("unclean") == "true")
	if err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	if !report.Promoted {
		w.WriteHeader(http.StatusConflict)
	}
	json.NewEncoder(w).Encode(report)
}

// ReplicationStatus is GET /replication's answer (spool replication
// status decodes it).
type ReplicationStatus struct {
	Role       string          `json:"role"`
	Epoch      int32           `json:"epoch"`
	Partitions []ReplicaStatus `json:"partitions"`
}

// ReplicaStatus is one partition of a ReplicationStatus.
type ReplicaStatus struct {
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	End         int64  `json:"log_end_offset"`
	Standby     int64  `json:"standby_end_offset"`
	InSync      bool   `json:"in_sync"`
	CaughtUpAgo string `json:"caught_up_ago"`
	Behind      int64  `json:"offsets_behind"`
}

// replicationStatusHandler answers GET /replication: the role, the epoch, and per
// partition the standby's progress (on a leader: what its standby acked).
func (b *Broker) replicationStatusHandler(w http.ResponseWriter, r *http.Request) {
	status := ReplicationStatus{Role: "leader", Epoch: b.cluster.Epoch()}
	switch {
	case b.cluster.Follower() && b.standby != nil:
		status.Role = "standby"
		for _, p := range b.standby.Progress() {
			status.Partitions = append(status.Partitions, ReplicaStatus{Topic: p.Topic, Partition: p.Partition, End: p.LeaderEnd, Standby: p.End, InSync: p.CaughtUpAgo >= 0 && p.CaughtUpAgo <= b.replCfg.LagMax, CaughtUpAgo: agoString(p.CaughtUpAgo), Behind: max(p.LeaderEnd-p.End, 0)})
		}
	case b.cluster.Follower():
		status.Role = "fenced"
	case b.replLeader != nil:
		for _, s := range b.replLeader.Status() {
			status.Partitions = append(status.Partitions, ReplicaStatus{Topic: s.Topic, Partition: s.Partition, End: s.LeaderEnd, Standby: s.Acked, InSync: s.InSync, CaughtUpAgo: agoString(s.CaughtUpAgo), Behind: max(s.LeaderEnd-s.Acked, 0)})
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(status)
}

// minInsyncReplicas is a topic's min.insync.replicas, or this node's.
func (b *Broker) minInsyncReplicas(topic string) int {
	if t, ok := b.cluster.Topic(topic); ok {
		if v, ok := t.Configs["min.insync.replicas"]; ok {
			var n int
			if _, err := fmt.Sscan(v, &n); err == nil {
				return n
			}
		}
	}
	n, _ := b.props.int64("min.insync.replicas")
	return int(n)
}

// agoString shows how long ago (negative: never).
func agoString(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return d.Round(time.Millisecond).String() + " ago"
}
