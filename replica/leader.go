package replica

import (
	"net"
	"sync"
	"time"

	"spool/engine"
	"spool/engine/meta"
)

// StandbyStatus is what the leader knows of one standby partition.
type StandbyStatus struct {
	Topic       string
	Partition   int32
	Acked       int64 // the standby's durable log end offset
	LeaderEnd   int64
	InSync      bool
	CaughtUpAgo time.Duration // -1: never
}

// Leader serves standbys on replication.listener.
type Leader struct {
	cfg Config

	mu        sync.Mutex // guards everything below
	listener  net.Listener
	sessions  map[*leaderSession]struct{}
	followers *followers
	closed    bool
	wg        sync.WaitGroup
	stop      chan struct{}
}

type partitionKey struct {
	topic     string
	partition int32
}

// NewLeader makes a leader for cfg's cluster.
func NewLeader(cfg Config) *Leader {
	if cfg.LagMax <= 0 {
		cfg.LagMax = lagMaxDefault
	}
	return &Leader{cfg: cfg, sessions: map[*leaderSession]struct{}{}, followers: newFollowers(cfg.LagMax, cfg.Logger), stop: make(chan struct{})}
}

// partitionLog finds a partition's current log (nil: no such partition).
func (l *Leader) partitionLog(key partitionKey) *engine.Log {
	t, ok := l.cfg.Cluster.Topic(key.topic)
	if !ok || key.partition < 0 || int(key.partition) >= len(t.Partitions) {
		return nil
	}
	return t.Partitions[key.partition].Log
}

// sent records a Data frame that ended at the log end offset it was read
// at.
func (l *Leader) sent(key partitionKey, next engine.Offset, at time.Time) {
	log := l.partitionLog(key)
	if log == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.followers.sent(key, log, next, at)
}

// acked takes the standby's durable log end offset for a partition.
func (l *Leader) acked(key partitionKey, offset engine.Offset) {
	log := l.partitionLog(key)
	if log == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.followers.acked(key, log, offset, time.Now())
}

// PartitionsCreated starts every new partition with the standby in its
// in-sync set when a standby is connected (its session past the hellos),
// so an acks=all produce right after CreateTopics or CreatePartitions
// waits for the standby rather than failing with NOT_ENOUGH_REPLICAS.
// The broker hands it to meta.Cluster.SetPartitionsCreated; it runs under
// the cluster's mutex, before any client can find the partitions.
func (l *Leader) PartitionsCreated(added []*meta.Partition) {
	l.mu.Lock()
	defer l.mu.Unlock()
	connected := false
	for s := range l.sessions {
		connected = connected || s.established.Load()
	}
	if !connected {
		return
	}
	now := time.Now()
	for _, p := range added {
		l.followers.created(partitionKey{p.Topic, p.Index}, p.Log, now)
	}
}

func (l *Leader) lagLoop() {
	ticker := time.NewTicker(lagCheckInterval)
	defer ticker.Stop()
	for {
		select {
		case <-l.stop:
			return
		case now := <-ticker.C:
			l.mu.Lock()
			l.followers.checkLag(now)
			l.mu.Unlock()
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
		if !l.startSession(conn) {
			return nil
		}
	}
}

// startSession runs a session for conn on its own goroutine; false when
// the leader is closed (conn is closed then).
func (l *Leader) startSession(conn net.Conn) bool {
	s := &leaderSession{leader: l, conn: conn, positions: map[partitionKey]*standbyPosition{}}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		conn.Close()
		return false
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
	return true
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
	return l.followers.status(time.Now())
}
