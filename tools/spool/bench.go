package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"spool/bench"

	"spool/broker"
)

const benchUsage = `usage:
  spool bench produce|e2e|ack|catchup [flags]   one workload, --runs times
  spool bench compare WORKLOAD --brokers B1,B2,... [flags]
                                               the same workload against each
                                               broker in turn, --rounds times,
                                               with medians and ratios
  spool bench ceiling [WORKLOAD] [flags]       the workload (default produce)
                                               against the in-memory sink: the
                                               harness's own ceiling
  spool bench chart --out FILE.svg [--title T] RESULT.json...
                                               redraw the latency spectra of
                                               saved runs on one chart

A broker is one of:
  spool        an embedded spool, fresh data directory per run; settings as
               spool+name=value+name=value (e.g. spool+pin.cores=true) or,
               for every spool, --spool.name=value
  kfake        franz-go's kfake, in process, with a data directory and
               synchronous writes (DataDir + SyncWrites)
  sink         the harness's in-memory sink (see bench/sink.go)
  HOST:PORT    any running Kafka-compatible broker (spool serve, Kafka,
               Redpanda); --admin HOST:PORT for --profile

Workloads: produce (closed loop, throughput), e2e (end-to-end latency at
--rate), ack (produce-ack latency at --rate), catchup (pre-fill --records,
then read from offset 0). Results go to --out: NAME.json (with the whole
histogram), NAME.txt, NAME.hgrm, latency-spectrum.svg, and with --profile
the broker's CPU profile NAME.cpu.pprof (go tool pprof -http=:0 FILE).

flags:
`

// benchFlags are the command line of spool bench.
type benchFlags struct {
	cfg       bench.Config
	broker    string
	brokers   string
	admin     string
	label     string
	runs      int
	rounds    int
	out       string
	title     string
	profile   bool
	quiet     bool
	sinkBytes int64
	spool     []string // --spool.name=value settings for every embedded spool
}

func newBenchFlagSet(f *benchFlags, output io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("spool bench", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.Usage = func() {
		fmt.Fprint(output, benchUsage)
		fs.PrintDefaults()
	}
	c := &f.cfg
	fs.StringVar(&f.broker, "broker", "spool", "the broker: spool[+name=value...], kfake, sink, or HOST:PORT")
	fs.StringVar(&f.brokers, "brokers", "spool,kfake", "compare: the brokers, comma-separated, in the order they take turns")
	fs.StringVar(&f.admin, "admin", "", "admin HTTP address of a HOST:PORT broker, for --profile")
	fs.StringVar(&f.label, "label", "", "label of the runs in reports and charts (default: the broker)")
	fs.IntVar(&f.runs, "runs", 1, "runs of the workload (each on a fresh broker and topic)")
	fs.IntVar(&f.rounds, "rounds", 3, "compare: rounds; each round runs every broker once")
	fs.StringVar(&f.out, "out", "", "directory for results (default bench-results/<time>)")
	fs.StringVar(&f.title, "title", "", "chart title")
	fs.BoolVar(&f.profile, "profile", false, "capture the broker's CPU profile from /debug/pprof during the measured window")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress lines")
	fs.Int64Var(&f.sinkBytes, "sink-retain-bytes", 1<<30, "sink: bytes of batches kept in memory per partition")
	fs.StringVar(&c.Topic, "topic", "", "an existing topic to use (default: a fresh one per run)")
	fs.IntVar(&c.Partitions, "partitions", 2, "partitions of the fresh topic")
	fs.IntVar(&c.RecordBytes, "record-size", 100, "bytes per record value (random)")
	fs.IntVar(&c.Producers, "producers", 1, "producer clients")
	fs.IntVar(&c.Consumers, "consumers", 1, "consumer clients (e2e, catchup); partitions are split among them")
	fs.StringVar(&c.Acks, "acks", "all", "0, 1 or all")
	fs.BoolVar(&c.Idempotent, "idempotent", false, "franz-go's idempotent producer (acks=all only)")
	fs.StringVar(&c.Client, "client", "kgo", "produce: kgo (franz-go) or raw (the harness's pre-built requests: no client cost per record; see bench/raw.go)")
	fs.DurationVar(&c.Linger, "linger", 0, "producer linger (when not given: 5ms for produce, 0 for the others)")
	fs.IntVar(&c.BatchBytes, "batch-bytes", 1<<20, "largest record batch")
	fs.IntVar(&c.Inflight, "inflight", 1, "produce requests in flight per broker (without --idempotent)")
	fs.IntVar(&c.BufferedRecords, "buffered-records", 100_000, "records a producer buffers before Produce blocks")
	fs.StringVar(&c.Compression, "compression", "none", "none, gzip, snappy, lz4 or zstd")
	fs.Float64Var(&c.Rate, "rate", 10_000, "e2e, ack: records per second, across producers")
	fs.DurationVar(&c.Warmup, "warmup", 2*time.Second, "excluded from the figures (not catchup)")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "measured window; for catchup, the bound on each phase")
	fs.Int64Var(&c.Records, "records", 0, "bound on records sent (0: the duration bounds them); catchup: records pre-filled (default 500000)")
	fs.DurationVar(&c.Drain, "drain", 5*time.Second, "after the last record is due, how long to wait for acknowledgements and arrivals")
	return fs
}

func benchCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		var f benchFlags
		newBenchFlagSet(&f, stdout).Usage()
		return nil
	}
	command, args := args[0], args[1:]
	var f benchFlags
	// compare and ceiling name their workload, before or after the flags.
	workload := ""
	if (command == "compare" || command == "ceiling") && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		workload, args = args[0], args[1:]
	}
	// --spool.name=value settings are spool's, passed through as they are.
	var rest []string
	for _, arg := range args {
		if strings.HasPrefix(arg, "--spool.") || strings.HasPrefix(arg, "-spool.") {
			f.spool = append(f.spool, "--"+strings.TrimLeft(arg, "-")[len("spool."):])
			continue
		}
		rest = append(rest, arg)
	}
	fs := newBenchFlagSet(&f, stderr)
	if err := fs.Parse(rest); err != nil {
		return err
	}
	positional := fs.Args()
	if workload == "" && (command == "compare" || command == "ceiling") && len(positional) > 0 {
		workload, positional = positional[0], positional[1:]
	}
	if command != "chart" && len(positional) > 0 {
		// The flag package stops at the first argument that is not a
		// flag; anything after it would be silently ignored.
		return fmt.Errorf("bench %s: unexpected arguments %q (flags go before or after the workload, not after other words)", command, positional)
	}
	lingerGiven := false
	fs.Visit(func(fl *flag.Flag) { lingerGiven = lingerGiven || fl.Name == "linger" })
	if f.out == "" {
		f.out = filepath.Join("bench-results", time.Now().Format("20060102-150405"))
	}
	if !f.quiet {
		f.cfg.Progress = stderr
	}
	switch command {
	case bench.WorkloadProduce, bench.WorkloadE2E, bench.WorkloadAck, bench.WorkloadCatchup:
		workload = command
	case "ceiling":
		if workload == "" {
			workload = bench.WorkloadProduce
		}
	case "compare":
		if workload == "" {
			return errors.New("compare: name the workload: spool bench compare produce|e2e|ack|catchup [flags]")
		}
	}
	// Throughput batches: 5 ms of linger unless told otherwise. Latency
	// workloads send each record as soon as the connection allows.
	if workload == bench.WorkloadProduce && !lingerGiven {
		f.cfg.Linger = 5 * time.Millisecond
	}
	f.cfg.Workload = workload
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch command {
	case "chart":
		return benchChart(f, positional, stdout)
	case bench.WorkloadProduce, bench.WorkloadE2E, bench.WorkloadAck, bench.WorkloadCatchup:
		return benchRuns(ctx, f, []string{f.broker}, f.runs, stdout, stderr)
	case "ceiling":
		return benchRuns(ctx, f, []string{"sink"}, f.runs, stdout, stderr)
	case "compare":
		return benchRuns(ctx, f, strings.Split(f.brokers, ","), f.rounds, stdout, stderr)
	}
	return fmt.Errorf("bench: unknown command %q\n\n%s", command, benchUsage)
}

// benchRuns runs the workload rounds times against each broker in turn
// (alternating, so every broker sees the machine in the same states),
// saves every result, and with more than one broker prints the
// comparison.
func benchRuns(ctx context.Context, f benchFlags, brokers []string, rounds int, stdout, stderr io.Writer) error {
	if rounds < 1 || rounds > 100 {
		return fmt.Errorf("runs/rounds %d: 1 to 100", rounds)
	}
	var results []*bench.Result
	for round := 0; round < rounds; round++ {
		for _, spec := range brokers {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r, err := benchOne(ctx, f, strings.TrimSpace(spec), round, len(brokers) > 1)
			if err != nil {
				return fmt.Errorf("%s, run %d: %w", spec, round+1, err)
			}
			r.WriteText(stdout)
			results = append(results, r)
		}
	}
	return benchSummary(f, results, len(brokers) > 1, stdout)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// benchOne starts the broker a spec names (fresh for the run), runs the
// workload against it and saves the result.
func benchOne(ctx context.Context, f benchFlags, spec string, round int, comparing bool) (*bench.Result, error) {
	cfg := f.cfg
	label := f.label
	if label == "" || comparing {
		label = spec
	}
	bootstrap, admin, stop, err := startBenchBroker(spec, f)
	if err != nil {
		return nil, err
	}
	defer stop()
	cfg.Broker = label
	cfg.Bootstrap = []string{bootstrap}
	cfg.AdminAddr = admin
	name := fmt.Sprintf("%s-%s-%d", unsafeName.ReplaceAllString(label, "_"), cfg.Workload, round+1)
	if f.profile {
		if err := os.MkdirAll(f.out, 0o755); err != nil {
			return nil, err
		}
		cfg.ProfilePath = filepath.Join(f.out, name+".cpu.pprof")
	}
	r, err := bench.Run(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := r.Save(f.out, name); err != nil {
		return nil, err
	}
	return r, nil
}

// startBenchBroker starts what spec names and returns its bootstrap and
// admin addresses and how to stop it.
func startBenchBroker(spec string, f benchFlags) (bootstrap, admin string, stop func(), err error) {
	kind, settings, _ := strings.Cut(spec, "+")
	switch kind {
	case "spool":
		dir, err := os.MkdirTemp("", "spool-bench-")
		if err != nil {
			return "", "", nil, err
		}
		args := []string{
			"--log.dirs=" + dir, "--listeners=PLAINTEXT://127.0.0.1:0", "--admin.listener=127.0.0.1:0",
			"--log.segment.bytes=268435456",
		}
		args = append(args, f.spool...)
		if settings != "" {
			for _, s := range strings.Split(settings, "+") {
				args = append(args, "--"+s)
			}
		}
		props, err := broker.LoadProperties(args)
		if err != nil {
			os.RemoveAll(dir)
			return "", "", nil, err
		}
		logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		b, err := broker.Start(props, logger)
		if err != nil {
			os.RemoveAll(dir)
			return "", "", nil, err
		}
		return b.Addr(), b.AdminAddr(), func() { b.Close(); os.RemoveAll(dir) }, nil
	case "kfake":
		if settings != "" {
			return "", "", nil, fmt.Errorf("kfake takes no settings (%q)", settings)
		}
		dir, err := os.MkdirTemp("", "kfake-bench-")
		if err != nil {
			return "", "", nil, err
		}
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir), kfake.SyncWrites())
		if err != nil {
			os.RemoveAll(dir)
			return "", "", nil, err
		}
		return cluster.ListenAddrs()[0], "", func() { cluster.Close(); os.RemoveAll(dir) }, nil
	case "sink":
		sink, err := bench.NewSink("127.0.0.1:0", f.sinkBytes)
		if err != nil {
			return "", "", nil, err
		}
		return sink.Addr(), "", func() { sink.Close() }, nil
	}
	if settings != "" || !strings.Contains(spec, ":") {
		return "", "", nil, fmt.Errorf("broker %q: spool[+name=value...], kfake, sink or HOST:PORT", spec)
	}
	return spec, f.admin, func() {}, nil
}

// benchSummary prints the comparison (several brokers) and draws the
// chart: every run for one broker, the run with the median p99 of each
// broker in a comparison.
func benchSummary(f benchFlags, results []*bench.Result, comparing bool, stdout io.Writer) error {
	var series []bench.Series
	if comparing {
		rows := bench.Compare(results)
		fmt.Fprintf(stdout, "\n%s, %s (medians of %d rounds):\n\n", f.cfg.Workload, results[0].Config.Describe(), f.rounds)
		bench.WriteComparison(stdout, rows)
		table, err := os.Create(filepath.Join(f.out, "comparison.md"))
		if err != nil {
			return err
		}
		bench.WriteComparison(table, rows)
		table.Close()
		for _, row := range rows {
			if r := medianP99Run(results, row.Broker); r != nil {
				if s, ok, err := bench.SeriesOf(r); err == nil && ok {
					s.Label = fmt.Sprintf("%s (run with the median p99 of %d)", s.Label, row.Runs)
					series = append(series, s)
				}
			}
		}
	} else {
		for i, r := range results {
			if s, ok, err := bench.SeriesOf(r); err == nil && ok {
				if len(results) > 1 {
					s.Label = fmt.Sprintf("%s run %d", s.Label, i+1)
				}
				series = append(series, s)
			}
		}
	}
	if len(series) > 0 {
		title := f.title
		if title == "" {
			title = fmt.Sprintf("%s latency percentile spectrum\n%s", f.cfg.Workload, results[0].Config.Describe())
		}
		path := filepath.Join(f.out, "latency-spectrum.svg")
		if err := writeChart(path, title, series); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nchart: %s\n", path)
	}
	fmt.Fprintf(stdout, "results: %s\n", f.out)
	return nil
}

func medianP99Run(results []*bench.Result, label string) *bench.Result {
	var runs []*bench.Result
	for _, r := range results {
		if r.Label == label && r.Latency != nil && r.Latency.Count > 0 {
			runs = append(runs, r)
		}
	}
	if len(runs) == 0 {
		return nil
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].Latency.P99 < runs[j].Latency.P99 })
	return runs[(len(runs)-1)/2]
}

func writeChart(path, title string, series []bench.Series) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := bench.WriteSpectrumSVG(out, title, series); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// benchChart redraws saved runs on one chart; a file's label can be
// overridden as LABEL=FILE.json.
func benchChart(f benchFlags, files []string, stdout io.Writer) error {
	if len(files) == 0 {
		return errors.New("chart: name the result files (RESULT.json or LABEL=RESULT.json)")
	}
	path := f.out
	if !strings.HasSuffix(path, ".svg") {
		path = filepath.Join(path, "latency-spectrum.svg")
	}
	var series []bench.Series
	for _, file := range files {
		label, name, hasLabel := strings.Cut(file, "=")
		if !hasLabel {
			name = file
		}
		r, err := bench.LoadResult(name)
		if err != nil {
			return err
		}
		s, ok, err := bench.SeriesOf(r)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s: the run measured no latency", name)
		}
		if hasLabel {
			s.Label = label
		}
		series = append(series, s)
	}
	title := f.title
	if title == "" {
		title = "latency percentile spectrum"
	}
	if err := writeChart(path, title, series); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "chart: %s\n", path)
	return nil
}
