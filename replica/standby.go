package replica

import (
	"errors"
	"net"
	"sync"
	"time"

	"spool/engine"
	"spool/engine/meta"
)

// Standby follows a leader: it connects to the leader's replication
// listener, exchanges hellos (adopting a newer epoch, refusing an older
// one), and applies the leader's frames (apply.go) until the connection
// fails; then it reconnects after reconnectPause and resumes from its log
// end offsets.
type Standby struct {
	cfg    Config
	leader string // host:port of the leader's replication listener

	mu         sync.Mutex // guards everything below
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

// NewStandby makes a standby of the leader at addr.
func NewStandby(cfg Config, addr string) *Standby {
	if cfg.LagMax <= 0 {
		cfg.LagMax = lagMaxDefault
	}
	return &Standby{cfg: cfg, leader: addr, stop: make(chan struct{}), done: make(chan struct{}), caughtUp: map[partitionKey]standbyProgress{}}
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

// session is one connection to the leader: dial, hellos, then every frame
// applied until an error.
func (s *Standby) session() error {
	conn, err := s.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	var enc Encoder
	if err := s.handshake(conn, &enc); err != nil {
		return err
	}
	a := &applier{cluster: s.cfg.Cluster, logger: s.cfg.Logger, progress: s.progress}
	var frame Frame
	var buf []byte
	for {
		frame, buf, err = ReadFrameFrom(conn, buf)
		if err != nil {
			return err
		}
		reply, err := a.apply(&enc, frame)
		if err != nil {
			return err
		}
		if reply != nil {
			if _, err := conn.Write(reply); err != nil {
				return err
			}
		}
	}
}

// dial connects to the leader, unless the standby is stopping.
func (s *Standby) dial() (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", s.leader, handshakeWait)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.stop:
		conn.Close()
		return nil, errors.New("stopped")
	default:
	}
	s.conn = conn
	return conn, nil
}

// handshake sends our hello, checks the leader's (standbyAccepts) and
// adopts its epoch when newer.
func (s *Standby) handshake(conn net.Conn, enc *Encoder) error {
	conn.SetDeadline(time.Now().Add(handshakeWait))
	if _, err := conn.Write(enc.Hello(s.cfg.hello())); err != nil {
		return err
	}
	hello, err := readHello(conn)
	if err != nil {
		return err
	}
	conn.SetDeadline(time.Time{})
	adopt, err := standbyAccepts(s.cfg.Cluster.Epoch(), hello)
	if err != nil {
		return err
	}
	if adopt {
		if err := s.cfg.Cluster.SetEpoch(hello.Epoch); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.leaderInfo, s.connected = hello, true
	s.mu.Unlock()
	s.cfg.Logger.Info("following leader", "leader", s.leader, "node", hello.NodeID)
	return nil
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
