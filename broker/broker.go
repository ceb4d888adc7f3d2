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

// Start starts everything the properties describe, in this order (and
// Close stops them in reverse):
//  1. read and check every property (settings);
//  2. the shards, one goroutine each;
//  3. storage: the metadata and every partition's log (recovered if the
//     last stop was unclean), and on a leader the group coordinator;
//  4. the Kafka listener, bound (port 0 picks one);
//  5. the wire server and the connections' server behind the listener;
//  6. replication: the leader's listener, or the standby's follower;
//  7. the admin listener.
func Start(props Properties, logger *slog.Logger) (*Broker, error) {
	s, err := props.settings()
	if err != nil {
		return nil, err
	}
	s.log.Logger = logger
	b := &Broker{logger: logger, served: make(chan error, 1), props: props, standbyOf: s.standbyOf, replAddr: s.replicationListener}
	ok := false
	defer func() {
		if !ok {
			b.Close()
		}
	}()
	b.startShards(s)
	if err := b.openStorage(s); err != nil {
		return nil, err
	}
	if err := b.listenKafka(&s); err != nil {
		return nil, err
	}
	if err := b.serveKafka(s); err != nil {
		return nil, err
	}
	if err := b.startReplication(); err != nil {
		return nil, err
	}
	if s.adminListener != "" {
		if err := b.startAdmin(s.adminListener); err != nil {
			return nil, err
		}
	}
	ok = true
	return b, nil
}

// startShards starts the write-path shards, pinned to cores when asked.
func (b *Broker) startShards(s settings) {
	cpus, _ := linux.AllowedCPUs()
	for i := range s.shards {
		cpu := -1
		if s.pinCores && len(cpus) > 0 {
			cpu = cpus[i%len(cpus)]
		}
		shard := engine.NewShard(engine.ShardConfig{CPU: cpu, FlushInterval: s.log.FlushInterval})
		if err := shard.PinError(); err != nil {
			b.logger.Warn("could not pin shard", "shard", i, "cpu", cpu, "error", err)
		}
		b.shards = append(b.shards, shard)
	}
	probe := linux.ProbeIOUring()
	b.logger.Info("io_uring probe", "available", probe.Available, "reason", probe.Reason)
}

// openStorage opens the metadata and the partitions' logs; a leader also
// opens the group coordinator (a standby's __consumer_offsets is its
// leader's, so it runs none until promoted).
func (b *Broker) openStorage(s settings) error {
	if err := os.MkdirAll(s.dataDir, 0o755); err != nil {
		return err
	}
	started := time.Now()
	var err error
	b.cluster, err = meta.Open(meta.Config{
		DataDir:                s.dataDir,
		Shards:                 b.shards,
		Defaults:               s.log,
		NumPartitions:          s.numPartitions,
		AutoCreate:             s.autoCreate,
		RetentionCheckInterval: s.retentionCheck,
		CleanerDisabled:        s.cleanerDisabled,
		CleanerBackoff:         s.cleanerBackoff,
		BrokerProperties:       s.explicit,
		NodeID:                 s.nodeID,
		Properties:             describedProperties(),
		Logger:                 b.logger,
	})
	if err != nil {
		return err
	}
	b.logger.Info("storage open", "data", s.dataDir, "topics", len(b.cluster.Topics()), "shards", len(b.shards), "took", time.Since(started))
	if s.standbyOf != "" {
		b.cluster.SetFollower(true)
		return nil
	}
	b.groups, err = openGroups(b.props, b.cluster, b.logger)
	return err
}

// listenKafka binds the Kafka listener; an advertised port of 0 becomes
// the port it bound.
func (b *Broker) listenKafka(s *settings) error {
	var err error
	b.listener, err = net.Listen("tcp", net.JoinHostPort(s.listenHost, fmt.Sprint(s.listenPort)))
	if err != nil {
		return fmt.Errorf("listeners: %w", err)
	}
	if s.advertisedPort == 0 {
		s.advertisedPort = int32(b.listener.Addr().(*net.TCPAddr).Port)
	}
	return nil
}

// serveKafka builds the wire server (and, on a standby, the follower it
// names as leader) and serves the Kafka listener with it.
func (b *Broker) serveKafka(s settings) error {
	clusterID, err := meta.ClusterID(s.dataDir)
	if err != nil {
		return err
	}
	b.replCfg = replica.Config{NodeID: s.nodeID, ClusterID: clusterID, Host: s.advertisedHost, Port: s.advertisedPort, Cluster: b.cluster, Logger: b.logger, LagMax: s.replicaLagMax, ThrottleBytes: s.throttleBytes, FetchPath: s.fetchPath}
	wireCfg := wire.Config{
		NodeID: s.nodeID, Host: s.advertisedHost, Port: s.advertisedPort,
		ClusterID: clusterID, Cluster: b.cluster, Groups: b.groups, Logger: b.logger,
		MinInsyncReplicas: s.minInsyncReplicas, FetchSessionCacheSlots: s.fetchSessionSlots,
	}
	if s.standbyOf != "" {
		b.standby = replica.NewStandby(b.replCfg, s.standbyOf)
		wireCfg.Leader = func() (int32, string, int32, bool) {
			hello, ok := b.standby.Leader()
			return hello.NodeID, hello.Host, hello.Port, ok
		}
	}
	if b.wire, err = wire.NewServer(wireCfg); err != nil {
		return err
	}
	b.kafka = netio.NewServer(netio.Config{
		RequestBytesMax: s.requestBytesMax,
		IdleTimeout:     s.idleTimeout,
		RequestTimeout:  s.requestTimeout,
		FetchPath:       s.fetchPath,
		Logger:          b.logger,
	}, b.wire)
	go func() { b.served <- b.kafka.Serve(b.listener) }()
	b.logger.Info("kafka listener", "address", b.listener.Addr().String(), "advertised", fmt.Sprintf("%s:%d", s.advertisedHost, s.advertisedPort), "cluster_id", clusterID)
	return nil
}

// startReplication opens a leader's replication listener, or starts a
// standby following its leader (a standby opens its replication listener
// only when promoted).
func (b *Broker) startReplication() error {
	if b.standby != nil {
		go b.standby.Run()
		b.logger.Info("standby of", "leader", b.standbyOf)
		return nil
	}
	if b.replAddr != "" {
		return b.serveReplication()
	}
	return nil
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
		b.cluster.SetPartitionsCreated(nil)
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
