package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine/group"
	"spool/engine/meta"
	"spool/internal/metrics"
)

// Config is what the protocol layer needs to know about this node.
type Config struct {
	NodeID    int32
	Host      string // advertised host
	Port      int32  // advertised port
	ClusterID string
	Rack      *string
	Cluster   *meta.Cluster
	Groups    *group.Coordinator
	// Leader, on a standby, is the node it follows (ok false until the
	// first connection): Metadata names it as every partition's leader
	// and the controller, FindCoordinator as the coordinator, so clients
	// that bootstrap here write there.
	Leader func() (nodeID int32, host string, port int32, ok bool)
	// MinInsyncReplicas is the broker's min.insync.replicas.
	MinInsyncReplicas int
	// FetchSessionCacheSlots is max.incremental.fetch.session.cache.slots:
	// the most fetch sessions kept (0: none, every fetch is full).
	FetchSessionCacheSlots int
	Logger                 *slog.Logger
}

// Server answers Kafka requests. One Server is shared by all connections.
type Server struct {
	cfg    Config
	logger *slog.Logger
	groups atomic.Pointer[group.Coordinator] // nil on a standby
	// sessions are the fetch sessions (KIP-227), shared by every
	// connection: a session is not bound to the connection that made it.
	sessions *fetchSessionCache
}

// coordinator is the group coordinator (nil on a standby).
func (s *Server) coordinator() *group.Coordinator { return s.groups.Load() }

// SetGroups installs the group coordinator (a promoted standby opens one).
func (s *Server) SetGroups(g *group.Coordinator) { s.groups.Store(g) }

// NewServer makes a server over an open cluster.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, logger: cfg.Logger, sessions: newFetchSessionCache(cfg.FetchSessionCacheSlots)}
	if cfg.Groups != nil {
		s.groups.Store(cfg.Groups)
	}
	return s, nil
}

const produceKey = 0

// ErrCloseConnection tells netio to close the connection without an answer:
// Kafka's response to a request it cannot parse or does not serve.
var ErrCloseConnection = errors.New("wire: close the connection")

// Handle answers one request frame (without its size prefix) into resp. An
// error means the connection must close (an unparseable request, an API or
// version we do not serve, other than ApiVersions). ctx ends when the
// connection does, which cuts long polls short.
func (s *Server) Handle(ctx context.Context, frame []byte, resp *Response) error {
	header, err := parseHeaderPrefix(frame)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCloseConnection, err)
	}
	a := lookupAPI(header.APIKey)
	if a == nil {
		return fmt.Errorf("%w: unknown API key %d", ErrCloseConnection, header.APIKey)
	}
	if header.APIVersion < a.minVersion || header.APIVersion > a.maxVersion {
		if header.APIKey == apiVersionsKey {
			// KIP-511: answer at v0 with our range so the client retries.
			s.unsupportedAPIVersions(header, resp)
			return nil
		}
		return fmt.Errorf("%w: %s v%d not served (v%d-v%d)", ErrCloseConnection, kmsg.NameForKey(header.APIKey), header.APIVersion, a.minVersion, a.maxVersion)
	}
	if (s.coordinator() == nil || s.cfg.Cluster.Follower()) && groupAPI(header.APIKey) {
		// A standby runs no group coordinator (its __consumer_offsets
		// follows the leader's); a fenced old leader's must not write.
		return fmt.Errorf("%w: %s: the group coordinator runs on the leader", ErrCloseConnection, kmsg.NameForKey(header.APIKey))
	}
	req := kmsg.RequestForKey(header.APIKey)
	req.SetVersion(header.APIVersion)
	body, err := parseHeaderRest(frame, &header, req.IsFlexible())
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCloseConnection, err)
	}
	if err := req.ReadFrom(body); err != nil {
		return fmt.Errorf("%w: %s v%d body: %w", ErrCloseConnection, kmsg.NameForKey(header.APIKey), header.APIVersion, err)
	}
	if header.APIKey != produceKey {
		// kmsg ignores bytes after a valid body; Kafka refuses them. Every
		// request but Produce is small, so re-encoding it to compare sizes
		// is cheap. (Produce's records would be copied once more: its
		// trailing bytes are not checked.)
		if encoded := req.AppendTo(nil); len(encoded) != len(body) {
			return fmt.Errorf("%w: %s v%d: %d bytes after the body", ErrCloseConnection, kmsg.NameForKey(header.APIKey), header.APIVersion, len(body)-len(encoded))
		}
	}
	started := time.Now()
	err = a.handle(s, ctx, &header, req, resp)
	if header.APIKey < 0 || int(header.APIKey) >= metrics.APIKeysMax {
		return err
	}
	if finish := resp.deferred; finish != nil {
		resp.deferred = func(r *Response) {
			finish(r)
			metrics.Requests[header.APIKey].Observe(time.Since(started))
		}
		return err
	}
	metrics.Requests[header.APIKey].Observe(time.Since(started))
	return err
}

// encode writes a kmsg response at the request's version.
func (s *Server) encode(h *RequestHeader, kresp kmsg.Response, resp *Response) {
	kresp.SetVersion(h.APIVersion)
	flexibleHeader := kresp.IsFlexible() && h.APIKey != apiVersionsKey
	resp.begin(h.CorrelationID, flexibleHeader)
	resp.buf = kresp.AppendTo(resp.buf)
	resp.finish()
}

// partition returns partition index of the named topic, or nil when the
// topic or the partition does not exist.
func (s *Server) partition(topic string, index int32) *meta.Partition {
	t, ok := s.cfg.Cluster.Topic(topic)
	if !ok || index < 0 || int(index) >= len(t.Partitions) {
		return nil
	}
	return t.Partitions[index]
}

type clientHostKey struct{}

// WithClientHost records the peer's address on a connection's context, for
// the group members DescribeGroups shows.
func WithClientHost(ctx context.Context, host string) context.Context {
	return context.WithValue(ctx, clientHostKey{}, host)
}

func clientHost(ctx context.Context) string {
	host, _ := ctx.Value(clientHostKey{}).(string)
	return host
}

// groupAPI reports the APIs the group coordinator answers.
func groupAPI(key int16) bool {
	switch key {
	case 8, 9, 11, 12, 13, 14, 15, 16, 42, 47:
		return true
	}
	return false
}
