package broker

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"spool/engine"
	"spool/netio"
)

// settings are the properties a broker starts from, read and checked
// before anything opens, so a bad value stops the start with nothing
// half-built.
type settings struct {
	log     engine.LogConfig // every partition's defaults
	dataDir string
	// explicit are the properties the operator set (DescribeConfigs'
	// STATIC_BROKER_CONFIG synonyms).
	explicit map[string]string

	shards   int // write-path shards
	pinCores bool

	numPartitions   int32
	autoCreate      bool
	retentionCheck  time.Duration
	cleanerDisabled bool
	cleanerBackoff  time.Duration

	listenHost     string
	listenPort     int32
	advertisedHost string
	advertisedPort int32 // 0: the port the listener bound
	nodeID         int32

	minInsyncReplicas   int
	replicaLagMax       time.Duration
	throttleBytes       int64
	standbyOf           string
	replicationListener string
	adminListener       string

	fetchSessionSlots int
	fetchPath         netio.FetchPath
	requestBytesMax   int64
	idleTimeout       time.Duration
	requestTimeout    time.Duration
}

// settingsReader reads properties into typed values, keeping the first
// error.
type settingsReader struct {
	props Properties
	err   error
}

func (r *settingsReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *settingsReader) int64(name string) int64 {
	v, err := r.props.int64(name)
	r.fail(err)
	return v
}

func (r *settingsReader) millis(name string) time.Duration {
	return time.Duration(r.int64(name)) * time.Millisecond
}

func (r *settingsReader) bool(name string) bool {
	switch v := r.props[name]; v {
	case "true", "false":
		return v == "true"
	default:
		r.fail(fmt.Errorf("%s=%q: true or false", name, v))
		return false
	}
}

// settings reads and checks every property the broker starts from.
func (p Properties) settings() (settings, error) {
	var s settings
	var err error
	if s.log, err = p.logConfig(); err != nil {
		return s, err
	}
	s.explicit = p.explicit()
	r := &settingsReader{props: p}
	if s.dataDir = strings.TrimSpace(strings.Split(p["log.dirs"], ",")[0]); s.dataDir == "" {
		return s, errNoDataDir
	}
	if s.shards = int(r.int64("num.shards")); s.shards <= 0 {
		s.shards = runtime.NumCPU()
	}
	s.pinCores = p["pin.cores"] == "true"
	s.numPartitions = int32(r.int64("num.partitions"))
	s.autoCreate = p["auto.create.topics.enable"] == "true"
	s.retentionCheck = r.millis("log.retention.check.interval.ms")
	s.cleanerDisabled = !r.bool("log.cleaner.enable")
	if s.cleanerBackoff = r.millis("log.cleaner.backoff.ms"); s.cleanerBackoff < time.Millisecond {
		r.fail(fmt.Errorf("log.cleaner.backoff.ms=%s: at least 1", p["log.cleaner.backoff.ms"]))
	}
	r.listeners(&s)
	s.nodeID = int32(r.int64("node.id"))
	s.minInsyncReplicas = int(r.int64("min.insync.replicas"))
	s.replicaLagMax = r.millis("replica.lag.time.max.ms")
	s.throttleBytes = r.int64("replication.throttle.bytes.per.second")
	s.standbyOf, s.replicationListener, s.adminListener = p["standby.of"], p["replication.listener"], p["admin.listener"]
	r.network(&s)
	return s, r.err
}

// listeners reads listeners and advertised.listeners.
func (r *settingsReader) listeners(s *settings) {
	var err error
	if s.listenHost, s.listenPort, err = parseListener(r.props["listeners"]); err != nil {
		r.fail(err)
		return
	}
	s.advertisedHost = s.listenHost
	if advertised := r.props["advertised.listeners"]; advertised != "" {
		s.advertisedHost, s.advertisedPort, err = parseListener(advertised)
		r.fail(err)
	}
}

// network reads the connection limits, the fetch path and fetch sessions.
func (r *settingsReader) network(s *settings) {
	slots := r.int64("max.incremental.fetch.session.cache.slots")
	if slots < 0 || slots > 1<<20 {
		r.fail(fmt.Errorf("max.incremental.fetch.session.cache.slots=%d: 0 to %d", slots, 1<<20))
	}
	s.fetchSessionSlots = int(slots)
	switch r.props["fetch.path"] {
	case "sendfile":
		s.fetchPath = netio.FetchSendfile
	case "copy":
		s.fetchPath = netio.FetchCopy
	default:
		r.fail(fmt.Errorf("fetch.path=%q: sendfile or copy", r.props["fetch.path"]))
	}
	s.requestBytesMax = r.int64("socket.request.max.bytes")
	s.idleTimeout = r.millis("connections.max.idle.ms")
	s.requestTimeout = r.millis("socket.request.timeout.ms")
}

// errNoDataDir is a log.dirs that names nothing.
var errNoDataDir = errors.New("log.dirs is empty")
