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
	b.cluster.SetPartitionsCreated(b.replLeader.PartitionsCreated)
	go b.replLeader.Serve(listener)
	b.logger.Info("replication listener", "address", listener.Addr().String(), "epoch", b.cluster.Epoch())
	return nil
}

// promote makes this standby the leader (replica.Standby.Promote: a new
// leader epoch, the old leader fenced, client writes on), then starts what
// a leader runs: the group coordinator and the replication listener.
func (b *Broker) promote(unclean bool) (replica.PromoteReport, error) {
	b.promoteMu.Lock()
	defer b.promoteMu.Unlock()
	if b.standby == nil {
		return replica.PromoteReport{}, errors.New("this node is not a standby")
	}
	report, err := b.standby.Promote(unclean, b.minInsyncReplicas)
	if err != nil || !report.Promoted {
		return report, err
	}
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
	b.logger.Warn("PROMOTED: this node now leads", "epoch", report.Epoch, "unclean", unclean, "old_leader", report.Fenced, "may_lose", report.MayLose)
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
	return b.cluster.MinInsyncReplicas(int(n))
}

// agoString shows how long ago (negative: never).
func agoString(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return d.Round(time.Millisecond).String() + " ago"
}
