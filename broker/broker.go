package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine"
	"spool/engine/group"
	"spool/engine/meta"
	"spool/internal/metrics"
	"spool/linux"
	"spool/netio"
	"spool/replica"
	"spool/wire"
)

// Broker is the composition root: shards, the metadata cluster, the wire
// server, the Kafka listener and the admin listener, started in that order
// and closed in reverse.
type Broker struct {
	logger       *slog.Logger
	shards       []*engine.Shard
	cluster      *meta.Cluster
	groups       *group.Coordinator
	replLeader   *replica.Leader
	replListener net.Listener
	standby      *replica.Standby

	// For a promotion (replication.go).
	props     Properties
	wire      *wire.Server
	replCfg   replica.Config
	replAddr  string
	standbyOf string
	promoteMu sync.Mutex
	kafka     *netio.Server
	listener  net.Listener
	admin     *http.Server
	adminAddr string
	served    chan error
	closeOnce sync.Once
	closeErr  error
}

// Addr is the Kafka listener's address (port 0 in listeners picks one).
func (b *Broker) Addr() string { return b.listener.Addr().String() }

// AdminAddr is the admin listener's address ("" without one).
func (b *Broker) AdminAddr() string { return b.adminAddr }

// ReplicationAddr is the replication listener's address ("" when it is
// not open: none configured, or a standby not yet promoted).
func (b *Broker) ReplicationAddr() string {
	if b.replListener == nil {
		return ""
	}
	return b.replListener.Addr().String()
}

// Served receives the Kafka listener's error if it stops before Close.
func (b *Broker) Served() <-chan error { return b.served }

// Start starts everything the properties describe. The Kafka
// listener's address is b.listener.Addr() (port 0 picks one).
func Start(props Properties, logger *slog.Logger) (*Broker, error) {
	cfg, err := props.logConfig()
	if err != nil {
		return nil, err
	}
	cfg.Logger = logger
	dataDir := strings.Split(props["log.dirs"], ",")[0]
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	b := &Broker{logger: logger, served: make(chan error, 1)}
	ok := false
	defer func() {
		if !ok {
			b.Close()
		}
	}()

	shardCount, err := props.int64("num.shards")
	if err != nil {
		return nil, err
	}
	if shardCount <= 0 {
		shardCount = int64(runtime.NumCPU())
	}
	pin := props["pin.cores"] == "true"
	cpus, _ := linux.AllowedCPUs()
	for i := 0; i < int(shardCount); i++ {
		cpu := -1
		if pin && len(cpus) > 0 {
			cpu = cpus[i%len(cpus)]
		}
		shard := engine.NewShard(engine.ShardConfig{CPU: cpu, FlushInterval: cfg.FlushInterval})
		if err := shard.PinError(); err != nil {
			logger.Warn("could not pin shard", "shard", i, "cpu", cpu, "error", err)
		}
		b.shards = append(b.shards, shard)
	}
	probe := linux.ProbeIOUring()
	logger.Info("io_uring probe", "available", probe.Available, "reason", probe.Reason)

	numPartitions, err := props.int64("num.partitions")
	if err != nil {
		return nil, err
	}
	retentionCheck, err := props.int64("log.retention.check.interval.ms")
	if err != nil {
		return nil, err
	}
	cleanerBackoff, err := props.int64("log.cleaner.backoff.ms")
	if err != nil {
		return nil, err
	}
	if cleanerBackoff < 1 {
		return nil, fmt.Errorf("log.cleaner.backoff.ms=%d: at least 1", cleanerBackoff)
	}
	if enable := props["log.cleaner.enable"]; enable != "true" && enable != "false" {
		return nil, fmt.Errorf("log.cleaner.enable=%q: true or false", enable)
	}
	started := time.Now()
	b.cluster, err = meta.Open(meta.Config{
		DataDir:                dataDir,
		Shards:                 b.shards,
		Defaults:               cfg,
		NumPartitions:          int32(numPartitions),
		AutoCreate:             props["auto.create.topics.enable"] == "true",
		RetentionCheckInterval: time.Duration(retentionCheck) * time.Millisecond,
		CleanerDisabled:        props["log.cleaner.enable"] == "false",
		CleanerBackoff:         time.Duration(cleanerBackoff) * time.Millisecond,
		Logger:                 logger,
	})
	if err != nil {
		return nil, err
	}
	logger.Info("storage open", "data", dataDir, "topics", len(b.cluster.Topics()), "shards", len(b.shards), "took", time.Since(started))
	standbyOf, replAddr := props["standby.of"], props["replication.listener"]
	b.props, b.standbyOf, b.replAddr = props, standbyOf, replAddr
	if standbyOf != "" {
		// A standby's topics and logs follow its leader's; it runs no
		// group coordinator (its __consumer_offsets is the leader's).
		b.cluster.SetFollower(true)
	} else if b.groups, err = openGroups(props, b.cluster, logger); err != nil {
		return nil, err
	}

	host, port, err := parseListener(props["listeners"])
	if err != nil {
		return nil, err
	}
	b.listener, err = net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(port)))
	if err != nil {
		return nil, fmt.Errorf("listeners: %w", err)
	}
	advertisedHost, advertisedPort := host, int32(b.listener.Addr().(*net.TCPAddr).Port)
	if advertised := props["advertised.listeners"]; advertised != "" {
		if advertisedHost, advertisedPort, err = parseListener(advertised); err != nil {
			return nil, err
		}
	}
	nodeID, err := props.int64("node.id")
	if err != nil {
		return nil, err
	}
	cluster, err := meta.ClusterID(dataDir)
	if err != nil {
		return nil, err
	}
	minISR, err := props.int64("min.insync.replicas")
	if err != nil {
		return nil, err
	}
	lagMax, err := props.int64("replica.lag.time.max.ms")
	if err != nil {
		return nil, err
	}
	throttle, err := props.int64("replication.throttle.bytes.per.second")
	if err != nil {
		return nil, err
	}
	sessionSlots, err := props.int64("max.incremental.fetch.session.cache.slots")
	if err != nil {
		return nil, err
	}
	if sessionSlots < 0 || sessionSlots > 1<<20 {
		return nil, fmt.Errorf("max.incremental.fetch.session.cache.slots=%d: 0 to %d", sessionSlots, 1<<20)
	}
	fetchPath := netio.FetchSendfile
	switch props["fetch.path"] {
	case "sendfile":
	case "copy":
		fetchPath = netio.FetchCopy
	default:
		return nil, fmt.Errorf("fetch.path=%q: sendfile or copy", props["fetch.path"])
	}
	replCfg := replica.Config{NodeID: int32(nodeID), ClusterID: cluster, Host: advertisedHost, Port: advertisedPort, Cluster: b.cluster, Logger: logger, LagMax: time.Duration(lagMax) * time.Millisecond, ThrottleBytes: throttle, FetchPath: fetchPath}
	wireCfg := wire.Config{
		NodeID: int32(nodeID), Host: advertisedHost, Port: advertisedPort,
		ClusterID: cluster, Cluster: b.cluster, Groups: b.groups, Logger: logger,
		MinInsyncReplicas: int(minISR), FetchSessionCacheSlots: int(sessionSlots),
	}
	if standbyOf != "" {
		b.standby = replica.NewStandby(replCfg, standbyOf)
		wireCfg.Leader = func() (int32, string, int32, bool) {
			hello, ok := b.standby.Leader()
			return hello.NodeID, hello.Host, hello.Port, ok
		}
	}
	handler, err := wire.NewServer(wireCfg)
	if err != nil {
		return nil, err
	}
	b.wire, b.replCfg = handler, replCfg
	requestMax, err := props.int64("socket.request.max.bytes")
	if err != nil {
		return nil, err
	}
	idleMillis, err := props.int64("connections.max.idle.ms")
	if err != nil {
		return nil, err
	}
	requestTimeoutMillis, err := props.int64("socket.request.timeout.ms")
	if err != nil {
		return nil, err
	}
	b.kafka = netio.NewServer(netio.Config{
		RequestBytesMax: requestMax,
		IdleTimeout:     time.Duration(idleMillis) * time.Millisecond,
		RequestTimeout:  time.Duration(requestTimeoutMillis) * time.Millisecond,
		FetchPath:       fetchPath,
		Logger:          logger,
	}, handler)
	go func() { b.served <- b.kafka.Serve(b.listener) }()
	logger.Info("kafka listener", "address", b.listener.Addr().String(), "advertised", fmt.Sprintf("%s:%d", advertisedHost, advertisedPort), "cluster_id", cluster)

	if replAddr != "" && standbyOf == "" {
		// (A standby opens its replication listener when promoted.)
		if err := b.serveReplication(); err != nil {
			return nil, err
		}
	}
	if b.standby != nil {
		go b.standby.Run()
		logger.Info("standby of", "leader", standbyOf)
	}
	if addr := props["admin.listener"]; addr != "" {
		if err := b.startAdmin(addr); err != nil {
			return nil, err
		}
	}
	ok = true
	return b, nil
}

func (b *Broker) startAdmin(addr string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		for _, t := range b.cluster.Topics() {
			for _, p := range t.Partitions {
				if err := p.Log.Err(); err != nil {
					http.Error(w, fmt.Sprintf("%s-%d: %v", t.Name, p.Index, err), http.StatusServiceUnavailable)
					return
				}
			}
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/metrics", b.metrics)
	mux.HandleFunc("/replication", b.replicationStatusHandler)
	mux.HandleFunc("/promote", b.promoteHandler)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("admin.listener %s: %w", addr, err)
	}
	b.adminAddr = listener.Addr().String()
	b.admin = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go b.admin.Serve(listener)
	b.logger.Info("admin listener", "address", b.adminAddr)
	return nil
}

// metrics writes, in Prometheus text format: per-API request counts and
// latency histograms, bytes in and out, segment sync latency, committed
// offsets and lag of consumer groups, and per-partition offsets.
func (b *Broker) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintln(w, "# TYPE spool_request_duration_seconds histogram")
	for key := range metrics.Requests {
		if metrics.Requests[key].Count() > 0 {
			metrics.Requests[key].Write(w, "spool_request_duration_seconds", fmt.Sprintf("api=%q", kmsg.NameForKey(int16(key))))
		}
	}
	fmt.Fprintf(w, "# TYPE spool_bytes_in_total counter\nspool_bytes_in_total %d\n", metrics.BytesIn.Load())
	fmt.Fprintf(w, "# TYPE spool_bytes_out_total counter\nspool_bytes_out_total %d\n", metrics.BytesOut.Load())
	fmt.Fprintln(w, "# TYPE spool_sync_duration_seconds histogram")
	metrics.SyncLatency.Write(w, "spool_sync_duration_seconds", "")
	fmt.Fprintf(w, "# TYPE spool_produce_early_batches_total counter\nspool_produce_early_batches_total %d\n", metrics.ProduceEarlyBatches.Load())
	fmt.Fprintf(w, "# TYPE spool_log_cleaner_runs_total counter\nspool_log_cleaner_runs_total %d\n", metrics.CleanerRuns.Load())
	fmt.Fprintf(w, "# TYPE spool_log_cleaner_bytes_read_total counter\nspool_log_cleaner_bytes_read_total %d\n", metrics.CleanerBytesRead.Load())
	fmt.Fprintf(w, "# TYPE spool_log_cleaner_bytes_written_total counter\nspool_log_cleaner_bytes_written_total %d\n", metrics.CleanerBytesWritten.Load())
	fmt.Fprintf(w, "# TYPE spool_log_cleaner_records_removed_total counter\nspool_log_cleaner_records_removed_total %d\n", metrics.CleanerRecordsRemoved.Load())
	fmt.Fprintf(w, "# TYPE spool_log_cleaner_last_duration_seconds gauge\nspool_log_cleaner_last_duration_seconds %g\n", float64(metrics.CleanerLastDurationMicros.Load())/1e6)
	sessions := b.wire.FetchSessionStats()
	fmt.Fprintf(w, "# TYPE spool_fetch_sessions gauge\nspool_fetch_sessions %d\n", sessions.Sessions)
	fmt.Fprintf(w, "# TYPE spool_fetch_session_partitions gauge\nspool_fetch_session_partitions %d\n", sessions.Partitions)
	fmt.Fprintf(w, "# TYPE spool_fetch_session_slots gauge\nspool_fetch_session_slots %d\n", sessions.Slots)
	fmt.Fprintf(w, "# TYPE spool_fetch_sessions_created_total counter\nspool_fetch_sessions_created_total %d\n", sessions.Created)
	fmt.Fprintf(w, "# TYPE spool_fetch_sessions_evicted_total counter\nspool_fetch_sessions_evicted_total %d\n", sessions.Evicted)
	fmt.Fprintf(w, "# TYPE spool_fetch_incremental_total counter\nspool_fetch_incremental_total %d\n", sessions.Incremental)
	type gauge struct {
		name  string
		value func(l *engine.Log) int64
	}
	gauges := []gauge{
		{"log_start_offset", func(l *engine.Log) int64 { return int64(l.LogStartOffset()) }},
		{"log_end_offset", func(l *engine.Log) int64 { return int64(l.LogEndOffset()) }},
		{"high_watermark", func(l *engine.Log) int64 { return int64(l.HighWatermark()) }},
		{"durable_offset", func(l *engine.Log) int64 { return int64(l.DurableOffset()) }},
		{"corrupt_segments_at_open", func(l *engine.Log) int64 { return l.Corruptions() }},
		{"corrupt_producer_snapshots", func(l *engine.Log) int64 { return l.CorruptSnapshots() }},
		{"failed", func(l *engine.Log) int64 {
			if l.Err() != nil {
				return 1
			}
			return 0
		}},
	}
	topics := b.cluster.Topics()
	if b.groups != nil {
		fmt.Fprintln(w, "# TYPE spool_consumer_group_committed_offset gauge")
		fmt.Fprintln(w, "# TYPE spool_consumer_group_lag gauge")
		for _, c := range b.groups.CommittedOffsets() {
			labels := fmt.Sprintf("group=%q,topic=%q,partition=\"%d\"", c.Group, c.Topic, c.Partition)
			fmt.Fprintf(w, "spool_consumer_group_committed_offset{%s} %d\n", labels, c.Committed)
			if t, ok := b.cluster.Topic(c.Topic); ok && int(c.Partition) < len(t.Partitions) && c.Committed >= 0 {
				fmt.Fprintf(w, "spool_consumer_group_lag{%s} %d\n", labels, max(int64(t.Partitions[c.Partition].Log.HighWatermark())-c.Committed, 0))
			}
		}
	}
	for _, g := range gauges {
		fmt.Fprintf(w, "# TYPE spool_partition_%s gauge\n", g.name)
		for _, t := range topics {
			for _, p := range t.Partitions {
				fmt.Fprintf(w, "spool_partition_%s{topic=%q,partition=\"%d\"} %d\n", g.name, t.Name, p.Index, g.value(p.Log))
			}
		}
	}
}

// close stops the listeners, closes every log cleanly, and stops the
// shards. Safe on a partly started broker, and to call twice.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() { b.closeErr = b.closeAll() })
	return b.closeErr
}

func (b *Broker) closeAll() error {
	var errs []error
	if b.kafka != nil {
		b.kafka.Close()
	} else if b.listener != nil {
		b.listener.Close()
	}
	if b.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		b.admin.Shutdown(ctx)
		cancel()
	}
	if b.standby != nil {
		b.standby.Close()
	}
	if b.replLeader != nil {
		b.replLeader.Close()
	} else if b.replListener != nil {
		b.replListener.Close()
	}
	if b.groups != nil {
		b.groups.Close()
	}
	if b.cluster != nil {
		if err := b.cluster.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range b.shards {
		s.Stop()
	}
	return errors.Join(errs...)
}

// openGroups creates __consumer_offsets on first start (compacted, kept
// forever, with its own segment size) and opens the group coordinator over
// it, which replays it.
func openGroups(props Properties, cluster *meta.Cluster, logger *slog.Logger) (*group.Coordinator, error) {
	var errs []error
	get := func(name string) int64 {
		v, err := props.int64(name)
		if err != nil {
			errs = append(errs, err)
		}
		return v
	}
	partitions := get("offsets.topic.num.partitions")
	segmentBytes := get("offsets.topic.segment.bytes")
	millis := func(name string) time.Duration { return time.Duration(get(name)) * time.Millisecond }
	cfg := group.Config{
		MinSessionTimeout:     millis("group.min.session.timeout.ms"),
		MaxSessionTimeout:     millis("group.max.session.timeout.ms"),
		InitialRebalanceDelay: millis("group.initial.rebalance.delay.ms"),
		MaxSize:               int(get("group.max.size")),
		OffsetsRetention:      time.Duration(get("offsets.retention.minutes")) * time.Minute,
		RetentionCheck:        millis("offsets.retention.check.interval.ms"),
		MetadataMaxBytes:      int(get("offset.metadata.max.bytes")),
		Logger:                logger,
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if partitions <= 0 {
		return nil, fmt.Errorf("offsets.topic.num.partitions=%d: at least 1", partitions)
	}
	t, ok := cluster.Topic(meta.ConsumerOffsetsTopic)
	if !ok {
		var err error
		t, err = cluster.CreateInternalTopic(meta.ConsumerOffsetsTopic, int32(partitions), map[string]string{
			"cleanup.policy": "compact", "retention.ms": "-1", "retention.bytes": "-1", "segment.bytes": fmt.Sprint(segmentBytes),
		})
		if err != nil {
			return nil, fmt.Errorf("creating %s: %w", meta.ConsumerOffsetsTopic, err)
		}
	}
	for _, p := range t.Partitions {
		cfg.Partitions = append(cfg.Partitions, group.Partition{Log: p.Log, Shard: p.Shard, Epoch: cluster.Epoch()})
	}
	started := time.Now()
	coordinator, err := group.Open(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", meta.ConsumerOffsetsTopic, err)
	}
	logger.Info("group coordinator open", "partitions", len(cfg.Partitions), "took", time.Since(started))
	return coordinator, nil
}
