package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"spool/engine"
	"spool/linux"
)

// partitionDirPattern matches Kafka's partition directory names,
// <topic>-<partition>.
var partitionDirPattern = regexp.MustCompile(`^(.+)-([0-9]+)$`)

// serve opens every partition under log.dirs (recovering what an unclean
// stop left), runs retention on schedule, serves the admin HTTP listener,
// and on SIGTERM or SIGINT closes every log cleanly so the next start skips
// recovery. The Kafka listener arrives with the broker issue.
func serve(args []string) error {
	props, err := loadProperties(args)
	if err != nil {
		return err
	}
	cfg, err := props.logConfig()
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg.Logger = logger
	dataDir := strings.Split(props["log.dirs"], ",")[0]
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	shardCount, err := props.int64("num.shards")
	if err != nil {
		return err
	}
	if shardCount <= 0 {
		shardCount = int64(runtime.NumCPU())
	}
	pin := props["pin.cores"] == "true"
	cpus, _ := linux.AllowedCPUs()
	shards := make([]*engine.Shard, shardCount)
	for i := range shards {
		cpu := -1
		if pin && len(cpus) > 0 {
			cpu = cpus[i%len(cpus)]
		}
		shards[i] = engine.NewShard(engine.ShardConfig{CPU: cpu, FlushInterval: cfg.FlushInterval})
		if err := shards[i].PinError(); err != nil {
			logger.Warn("could not pin shard", "shard", i, "cpu", cpu, "error", err)
		}
	}
	probe := linux.ProbeIOUring()
	logger.Info("io_uring probe", "available", probe.Available, "reason", probe.Reason)

	type partition struct {
		name  string
		log   *engine.Log
		shard *engine.Shard
	}
	var partitions []partition
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return err
	}
	started := time.Now()
	for _, e := range entries {
		if !e.IsDir() || !partitionDirPattern.MatchString(e.Name()) {
			continue
		}
		shard := shards[len(partitions)%len(shards)]
		var l *engine.Log
		var openErr error
		shard.Do(func() { l, openErr = engine.OpenLog(filepath.Join(dataDir, e.Name()), cfg) })
		if openErr != nil {
			return fmt.Errorf("open %s: %w", e.Name(), openErr)
		}
		partitions = append(partitions, partition{name: e.Name(), log: l, shard: shard})
	}
	logger.Info("storage open", "data", dataDir, "partitions", len(partitions), "shards", len(shards), "took", time.Since(started))

	var admin *http.Server
	if addr := props["admin.listener"]; addr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
			for _, p := range partitions {
				if err := p.log.Err(); err != nil {
					http.Error(w, p.name+": "+err.Error(), http.StatusServiceUnavailable)
					return
				}
			}
			fmt.Fprintln(w, "ok")
		})
		mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			for _, name := range []string{"log_start_offset", "log_end_offset", "high_watermark", "durable_offset", "corrupt_segments_at_open", "failed"} {
				fmt.Fprintf(w, "# TYPE spool_partition_%s gauge\n", name)
				for _, p := range partitions {
					var v int64
					switch name {
					case "log_start_offset":
						v = int64(p.log.LogStartOffset())
					case "log_end_offset":
						v = int64(p.log.LogEndOffset())
					case "high_watermark":
						v = int64(p.log.HighWatermark())
					case "durable_offset":
						v = int64(p.log.DurableOffset())
					case "corrupt_segments_at_open":
						v = p.log.Corruptions()
					case "failed":
						if p.log.Err() != nil {
							v = 1
						}
					}
					fmt.Fprintf(w, "spool_partition_%s{partition=%q} %d\n", name, p.name, v)
				}
			}
		})
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		listener, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("admin.listener %s: %w", addr, err)
		}
		admin = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go admin.Serve(listener)
		logger.Info("admin listener", "address", listener.Addr().String())
	}
	logger.Warn("the Kafka listener is not served yet: it arrives with the broker issue", "listeners", props["listeners"])

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	retentionMillis, err := props.int64("log.retention.check.interval.ms")
	if err != nil {
		return err
	}
	retention := time.NewTicker(time.Duration(max(retentionMillis, 1000)) * time.Millisecond)
	defer retention.Stop()
	for {
		select {
		case <-retention.C:
			for _, p := range partitions {
				p.shard.Do(func() {
					if deleted, err := p.log.ApplyRetention(); err != nil {
						logger.Error("retention", "partition", p.name, "error", err)
					} else if deleted > 0 {
						logger.Info("retention deleted segments", "partition", p.name, "segments", deleted)
					}
				})
			}
		case sig := <-stop:
			logger.Info("shutting down", "signal", sig.String())
			if admin != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				admin.Shutdown(ctx)
				cancel()
			}
			var errs []error
			for _, p := range partitions {
				p.shard.Do(func() {
					if err := p.log.Close(); err != nil {
						errs = append(errs, fmt.Errorf("%s: %w", p.name, err))
					}
				})
			}
			for _, s := range shards {
				s.Stop()
			}
			if len(errs) > 0 {
				return errors.Join(errs...)
			}
			logger.Info("clean shutdown", "partitions", strconv.Itoa(len(partitions)))
			return nil
		}
	}
}
