package replica

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"spool/engine/meta"
	"spool/netio"
)

// Replication limits.
const (
	dataBytesMax      = 1 << 20 // batches per Data frame
	reconnectPause    = 500 * time.Millisecond
	handshakeWait     = 10 * time.Second
	heartbeatInterval = 250 * time.Millisecond // idle partitions
	lagCheckInterval  = 100 * time.Millisecond
	lagMaxDefault     = 30 * time.Second
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

// errFenced says a standby's hello named a newer epoch than the leader's:
// another node was promoted.
var errFenced = errors.New("replica: fenced by a newer leader epoch")

// leaderAccepts is the leader's rule for a standby's hello, given its own
// epoch and whether it is (already) a follower. A hello in a newer epoch
// fences the leader (errFenced: it must stop taking writes, so two nodes
// never acknowledge in one epoch); a follower or a fenced node serves no
// standby.
func leaderAccepts(own int32, follower bool, hello Hello) error {
	switch {
	case hello.Version < VersionMin || hello.Version > Version:
		return fmt.Errorf("standby speaks replication v%d, this leader v%d-%d", hello.Version, VersionMin, Version)
	case hello.Epoch > own:
		return fmt.Errorf("%w: epoch %d, ours %d", errFenced, hello.Epoch, own)
	case follower:
		return errors.New("this node is fenced or a standby; it serves no standby")
	}
	return nil
}

// standbyAccepts is the standby's rule for its leader's hello, given the
// newest epoch it has seen: a leader in an older epoch was superseded and
// is never followed; a newer epoch is adopted (adopt true).
func standbyAccepts(own int32, hello Hello) (adopt bool, err error) {
	switch {
	case hello.Version < VersionMin || hello.Version > Version:
		return false, fmt.Errorf("leader speaks replication v%d, this standby v%d-%d", hello.Version, VersionMin, Version)
	case hello.Epoch < own:
		return false, fmt.Errorf("refusing to follow a leader in epoch %d: this node has seen epoch %d (that leader was superseded)", hello.Epoch, own)
	}
	return hello.Epoch > own, nil
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
