package bench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// counters are the run's live tallies, read by the progress line while
// the run updates them.
type counters struct {
	sent, acked, failed, received, duplicates, foreign, warmup, measured atomic.Int64
	requestErrors                                                        atomic.Int64
}

// errorHook counts requests that failed on the connection while the run
// is active (closing the clients at the end fails requests on purpose).
type errorHook struct {
	active *atomic.Bool
	count  *atomic.Int64
}

func (h errorHook) OnBrokerE2E(_ kgo.BrokerMetadata, _ int16, e2e kgo.BrokerE2E) {
	if e2e.Err() != nil && h.active.Load() {
		h.count.Add(1)
	}
}

// run is the state one workload shares with its goroutines.
type run struct {
	cfg    Config
	topic  string
	clk    clock
	base   time.Time
	counts counters
	active atomic.Bool
}

// Run creates the topic (unless cfg.Topic names one) and runs the
// workload. The run is bounded: for open-loop and produce workloads it
// ends at warm-up + duration + drain whatever the broker does; catchup
// bounds each of its two phases by duration + drain.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, topic: cfg.Topic}
	if r.topic == "" {
		suffix := make([]byte, 4)
		rand.Read(suffix)
		r.topic = fmt.Sprintf("bench-%s-%s", cfg.Workload, hex.EncodeToString(suffix))
		if err := createTopic(ctx, cfg, r.topic); err != nil {
			return nil, err
		}
	}
	r.base = time.Now()
	r.clk = realClock{base: r.base}
	r.active.Store(true)
	result := &Result{Label: cfg.Broker, Config: cfg, Started: r.base}
	result.Config.Topic = r.topic
	stopProgress := r.startProgress()
	var err error
	switch cfg.Workload {
	case WorkloadProduce:
		err = r.produce(ctx, result)
	case WorkloadAck, WorkloadE2E:
		err = r.openLoop(ctx, result)
	case WorkloadCatchup:
		err = r.catchup(ctx, result)
	}
	stopProgress()
	if err != nil {
		return nil, err
	}
	c := &result.Counts
	c.Sent, c.Acked, c.Failed = r.counts.sent.Load(), r.counts.acked.Load(), r.counts.failed.Load()
	c.Unacked = c.Sent - c.Acked - c.Failed
	c.Received, c.Duplicates, c.Foreign = r.counts.received.Load(), r.counts.duplicates.Load(), r.counts.foreign.Load()
	c.Warmup, c.Measured = r.counts.warmup.Load(), r.counts.measured.Load()
	c.RequestErrors = r.counts.requestErrors.Load()
	if result.MeasuredSeconds > 0 {
		result.RecordsPerSecond = float64(c.Measured) / result.MeasuredSeconds
		result.MegabytesPerSecond = result.RecordsPerSecond * float64(cfg.RecordBytes) / 1e6
	}
	if result.latency != nil {
		p := result.latency.Summary()
		result.Latency = &p
		if result.Histogram, err = result.latency.Encode(); err != nil {
			return nil, err
		}
	}
	result.Problems = result.Check()
	return result, nil
}

func createTopic(ctx context.Context, cfg Config, topic string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Bootstrap...))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, int32(cfg.Partitions), 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s at %s: %w", topic, cfg.Broker, err)
	}
	return nil
}

// startProgress prints a progress line every second until the returned
// function is called.
func (r *run) startProgress() func() {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		ticker := time.NewTicker(time.Second)
		defer ticker.Stop()
		lastAcked, lastReceived := int64(0), int64(0)
		for {
			select {
			case <-done:
				return
			case <-ticker.C:
			}
			c := &r.counts
			acked, received := c.acked.Load(), c.received.Load()
			line := fmt.Sprintf("  [%s %s %5.1fs] sent %d  acked %d (%d/s)  failed %d", r.cfg.Broker, r.cfg.Workload,
				r.clk.Now().Seconds(), c.sent.Load(), acked, acked-lastAcked, c.failed.Load())
			if r.cfg.Workload == WorkloadE2E || r.cfg.Workload == WorkloadCatchup {
				line += fmt.Sprintf("  received %d (%d/s)", received, received-lastReceived)
			}
			fmt.Fprintln(r.cfg.Progress, line)
			lastAcked, lastReceived = acked, received
		}
	}()
	return func() { close(done); <-finished }
}

func (r *run) producer() (*kgo.Client, error) {
	cfg := r.cfg
	codec, _ := cfg.codec()
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Bootstrap...), kgo.DefaultProduceTopic(r.topic),
		kgo.ProducerBatchCompression(codec), kgo.ProducerLinger(cfg.Linger),
		kgo.ProducerBatchMaxBytes(int32(cfg.BatchBytes)), kgo.MaxBufferedRecords(cfg.BufferedRecords),
		kgo.WithHooks(errorHook{active: &r.active, count: &r.counts.requestErrors}),
	}
	switch cfg.Acks {
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case "all":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	if !cfg.Idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(cfg.Inflight))
	}
	return kgo.NewClient(opts...)
}

// consumer reads the given partitions: from offset 0 of the run's own
// fresh topic, or of any topic for catchup; from the end of an existing
// topic given for e2e (then the warm-up must cover the consumer's start,
// or the first records are reported missing).
func (r *run) consumer(partitions []int32) (*kgo.Client, error) {
	from := kgo.NewOffset().At(0)
	if r.cfg.Topic != "" && r.cfg.Workload == WorkloadE2E {
		from = kgo.NewOffset().AtEnd()
	}
	offsets := map[int32]kgo.Offset{}
	for _, p := range partitions {
		offsets[p] = from
	}
	return kgo.NewClient(
		kgo.SeedBrokers(r.cfg.Bootstrap...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.topic: offsets}),
		kgo.FetchMaxBytes(32<<20), kgo.FetchMaxPartitionBytes(8<<20), kgo.FetchMaxWait(500*time.Millisecond),
		kgo.WithHooks(errorHook{active: &r.active, count: &r.counts.requestErrors}),
	)
}

// partitionsOf splits the partitions among consumers, round robin.
func partitionsOf(consumer, consumers, partitions int) []int32 {
	var mine []int32
	for p := consumer; p < partitions; p += consumers {
		mine = append(mine, int32(p))
	}
	return mine
}

func randomValue(size int) []byte {
	value := make([]byte, size)
	rand.Read(value)
	return value
}

// closeAll ends the run's clients, once each (it clears their slots); the
// hooks stop counting errors first.
func (r *run) closeAll(clients []*kgo.Client) {
	r.active.Store(false)
	for i, cl := range clients {
		if cl != nil {
			cl.Close()
			clients[i] = nil
		}
	}
}

// produce is the closed loop: each producer hands records to its client as
// fast as it accepts them (Produce blocks while BufferedRecords are
// unacknowledged), until the duration or the record budget is spent.
// Throughput counts the records acknowledged between the end of the
// warm-up and the last acknowledgement.
func (r *run) produce(ctx context.Context, result *Result) error {
	cfg := r.cfg
	warmupEnd, end := cfg.Warmup, cfg.Warmup+cfg.Duration
	abort, cancel := context.WithDeadline(ctx, r.base.Add(end+cfg.Drain))
	defer cancel()
	quota := cfg.Records / int64(cfg.Producers)
	if cfg.Records > 0 && quota == 0 {
		quota = 1
	}
	c := &r.counts
	// The warm-up boundary: acknowledgements before it are excluded.
	var ackedAtWarmup atomic.Int64
	warmupDone := make(chan struct{})
	startWarmup := func() {
		go func() {
			defer close(warmupDone)
			r.clk.SleepUntil(abort, warmupEnd)
			ackedAtWarmup.Store(c.acked.Load())
		}()
	}
	var stopProfile func()
	var clients []*kgo.Client
	defer func() { r.closeAll(clients) }()
	if cfg.Client == ClientRaw {
		// The raw producer connects and builds its requests first; the
		// warm-up covers that.
		started := false
		err := r.rawProduce(ctx, abort, end, quota, func() {
			startWarmup()
			stopProfile = r.startProfile(abort, warmupEnd, result)
			started = true
		})
		if !started {
			return err
		}
		if err != nil {
			<-warmupDone
			stopProfile()
			return err
		}
	} else {
		clients = make([]*kgo.Client, cfg.Producers)
		for i := range clients {
			var err error
			if clients[i], err = r.producer(); err != nil {
				return err
			}
		}
		value := randomValue(cfg.RecordBytes)
		promise := func(_ *kgo.Record, err error) {
			if err != nil {
				c.failed.Add(1)
			} else {
				c.acked.Add(1)
			}
		}
		startWarmup()
		stopProfile = r.startProfile(abort, warmupEnd, result)
		var wg sync.WaitGroup
		for _, cl := range clients {
			wg.Go(func() {
				for n := int64(0); (quota == 0 || n < quota) && r.clk.Now() < end && abort.Err() == nil; n++ {
					c.sent.Add(1)
					cl.Produce(abort, &kgo.Record{Value: value}, promise)
				}
				cl.Flush(abort)
			})
		}
		wg.Wait()
	}
	finished := r.clk.Now()
	<-warmupDone
	stopProfile()
	r.closeAll(clients)
	warm := ackedAtWarmup.Load()
	c.warmup.Store(warm)
	c.measured.Store(c.acked.Load() - warm)
	if finished > warmupEnd {
		result.MeasuredSeconds = (finished - warmupEnd).Seconds()
	}
	return nil
}

// bitmap is a set of sequence numbers, safe for concurrent use.
type bitmap []atomic.Uint64

func newBitmap(n int64) bitmap { return make(bitmap, (n+63)/64) }

// add sets seq and reports whether it was set already.
func (b bitmap) add(seq int64) (already bool) {
	mask := uint64(1) << (seq % 64)
	return b[seq/64].Or(mask)&mask != 0
}

// missing counts the members of b that are not in other.
func (b bitmap) missing(other bitmap) int64 {
	n := 0
	for i := range b {
		n += bits.OnesCount64(b[i].Load() &^ other[i].Load())
	}
	return int64(n)
}

// openLoop runs e2e and ack. Producers send on a fixed schedule (pace);
// each record's value starts with its intended send time and sequence
// number. ack records intended → acknowledgement; e2e records intended →
// arrival at a consumer. Records intended during the warm-up are counted
// but not recorded.
func (r *run) openLoop(ctx context.Context, result *Result) error {
	cfg := r.cfg
	// The schedule starts a little after the clients exist, so the first
	// records are not late by the time it took to create them.
	const lead = 50 * time.Millisecond
	start := r.clk.Now() + lead
	sched := NewSchedule(start, cfg.Rate, cfg.Warmup+cfg.Duration, cfg.Records)
	warmupEnd := start + cfg.Warmup
	deadline := sched.End() + cfg.Drain
	abort, cancel := context.WithDeadline(ctx, r.base.Add(deadline))
	defer cancel()
	c := &r.counts
	latency := NewLatency()
	result.latency = latency
	e2e := cfg.Workload == WorkloadE2E
	if e2e {
		result.LatencyKind = "end-to-end: consumer arrival - intended send time"
	} else {
		result.LatencyKind = "produce ack: acknowledgement - intended send time"
	}
	result.Counts.Scheduled = sched.Count
	var runIDBytes [8]byte
	rand.Read(runIDBytes[:])
	runID := binary.BigEndian.Uint64(runIDBytes[:])
	acked, received := newBitmap(sched.Count), newBitmap(sched.Count)
	var lastMeasured atomic.Int64 // the latest instant a measured sample was taken

	// Consumers first, so they are polling by the time records arrive.
	var consumers []*kgo.Client
	var consumersDone sync.WaitGroup
	consume, stopConsuming := context.WithCancel(abort)
	defer stopConsuming()
	if e2e {
		for i := 0; i < cfg.Consumers; i++ {
			cl, err := r.consumer(partitionsOf(i, cfg.Consumers, cfg.Partitions))
			if err != nil {
				stopConsuming()
				consumersDone.Wait()
				r.closeAll(consumers)
				return err
			}
			consumers = append(consumers, cl)
			consumersDone.Go(func() {
				for consume.Err() == nil {
					fetches := cl.PollFetches(consume)
					now := r.clk.Now()
					fetches.EachError(func(_ string, _ int32, err error) {
						if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
							c.requestErrors.Add(1)
						}
					})
					var warm, measured int64
					var latest time.Duration
					fetches.EachRecord(func(rec *kgo.Record) {
						intended, seq, ok := readStamp(rec.Value, runID, sched.Count)
						if !ok {
							c.foreign.Add(1)
							return
						}
						if received.add(seq) {
							c.duplicates.Add(1)
							return
						}
						c.received.Add(1)
						if intended < warmupEnd {
							warm++
							return
						}
						measured++
						latency.Record(now - intended)
						latest = now
					})
					c.warmup.Add(warm)
					c.measured.Add(measured)
					if measured > 0 {
						storeMax(&lastMeasured, int64(latest))
					}
				}
			})
		}
	}
	producers := make([]*kgo.Client, cfg.Producers)
	closeClients := func() {
		stopConsuming()
		consumersDone.Wait()
		r.closeAll(producers)
		r.closeAll(consumers)
	}
	defer closeClients()
	for i := range producers {
		var err error
		if producers[i], err = r.producer(); err != nil {
			return err
		}
	}
	stopProfile := r.startProfile(abort, warmupEnd, result)
	defer stopProfile()

	pool := sync.Pool{New: func() any { return &kgo.Record{Value: randomValue(cfg.RecordBytes)} }}
	promise := func(rec *kgo.Record, err error) {
		now := r.clk.Now()
		intended, seq, _ := readStamp(rec.Value, runID, sched.Count)
		if err != nil {
			c.failed.Add(1)
		} else {
			c.acked.Add(1)
			acked.add(seq)
			if !e2e {
				if intended < warmupEnd {
					c.warmup.Add(1)
				} else {
					c.measured.Add(1)
					latency.Record(now - intended)
					storeMax(&lastMeasured, int64(now))
				}
			}
		}
		// The client is done with the record once its promise runs.
		rec.Partition, rec.Offset = 0, 0
		pool.Put(rec)
	}
	var wg sync.WaitGroup
	var lags []*Latency
	for p, cl := range producers {
		lag := NewLatency()
		lags = append(lags, lag)
		wg.Go(func() {
			pinPacerThread()
			pace(abort, r.clk, sched, int64(p), int64(cfg.Producers), func(seq int64, intended time.Duration) {
				lag.Record(r.clk.Now() - intended)
				rec := pool.Get().(*kgo.Record)
				binary.BigEndian.PutUint64(rec.Value[0:], uint64(intended))
				binary.BigEndian.PutUint64(rec.Value[8:], uint64(seq))
				binary.BigEndian.PutUint64(rec.Value[16:], runID)
				c.sent.Add(1)
				cl.Produce(abort, rec, promise)
			})
			cl.Flush(abort)
		})
	}
	wg.Wait()
	if e2e {
		// Wait for every acknowledged record to arrive, or the deadline.
		for abort.Err() == nil && acked.missing(received) > 0 {
			r.clk.SleepUntil(abort, r.clk.Now()+5*time.Millisecond)
		}
	}
	closeClients()
	stopProfile()
	if e2e {
		result.Counts.Missing = acked.missing(received)
	}
	sendLag := NewLatency()
	for _, lag := range lags {
		sendLag.Merge(lag)
	}
	summary := sendLag.Summary()
	result.SendLag = &summary
	if last := time.Duration(lastMeasured.Load()); last > warmupEnd {
		result.MeasuredSeconds = (last - warmupEnd).Seconds()
	}
	return nil
}

// readStamp reads the stamp an open-loop record's value starts with (see
// stampBytes); ok is false for a value too short, of another run, or with
// a sequence number outside the schedule.
func readStamp(value []byte, runID uint64, count int64) (intended time.Duration, seq int64, ok bool) {
	if len(value) < stampBytes || binary.BigEndian.Uint64(value[16:]) != runID {
		return 0, 0, false
	}
	intended = time.Duration(binary.BigEndian.Uint64(value[0:]))
	seq = int64(binary.BigEndian.Uint64(value[8:]))
	return intended, seq, seq >= 0 && seq < count
}

func storeMax(v *atomic.Int64, x int64) {
	for {
		old := v.Load()
		if x <= old || v.CompareAndSwap(old, x) {
			return
		}
	}
}

// catchup pre-fills the topic with Records records (closed loop, as
// produce does), then consumers read it all from offset 0. The measured
// window runs from the moment the consumers are created to the last
// arrival, so it includes connecting and the first metadata round trip
// (a millisecond or two on loopback); there is no warm-up to exclude, as
// the data is all there before the clock starts.
func (r *run) catchup(ctx context.Context, result *Result) error {
	cfg := r.cfg
	c := &r.counts
	phase := cfg.Duration + cfg.Drain
	fill, cancelFill := context.WithTimeout(ctx, phase)
	defer cancelFill()
	endOffsets := make([]atomic.Int64, cfg.Partitions)
	producers := make([]*kgo.Client, cfg.Producers)
	defer r.closeAll(producers)
	for i := range producers {
		var err error
		if producers[i], err = r.producer(); err != nil {
			return err
		}
	}
	value := randomValue(cfg.RecordBytes)
	promise := func(rec *kgo.Record, err error) {
		if err != nil {
			c.failed.Add(1)
			return
		}
		c.acked.Add(1)
		if int(rec.Partition) < len(endOffsets) {
			storeMax(&endOffsets[rec.Partition], rec.Offset+1)
		}
	}
	var wg sync.WaitGroup
	for i, cl := range producers {
		quota := cfg.Records / int64(cfg.Producers)
		if int64(i) < cfg.Records%int64(cfg.Producers) {
			quota++
		}
		wg.Go(func() {
			for n := int64(0); n < quota && fill.Err() == nil; n++ {
				c.sent.Add(1)
				cl.Produce(fill, &kgo.Record{Value: value}, promise)
			}
			cl.Flush(fill)
		})
	}
	wg.Wait()
	r.closeAll(producers)
	r.active.Store(true)

	read, cancelRead := context.WithTimeout(ctx, phase)
	defer cancelRead()
	start := r.clk.Now()
	stopProfile := r.startProfile(read, start, result)
	defer stopProfile()
	var last atomic.Int64
	consumers := make([]*kgo.Client, cfg.Consumers)
	defer r.closeAll(consumers)
	for i := range consumers {
		var err error
		if consumers[i], err = r.consumer(partitionsOf(i, cfg.Consumers, cfg.Partitions)); err != nil {
			return err
		}
	}
	for i, cl := range consumers {
		mine := partitionsOf(i, cfg.Consumers, cfg.Partitions)
		wg.Go(func() {
			next := map[int32]int64{}
			done := func() bool {
				for _, p := range mine {
					if next[p] < endOffsets[p].Load() {
						return false
					}
				}
				return true
			}
			for !done() && read.Err() == nil {
				fetches := cl.PollFetches(read)
				now := r.clk.Now()
				fetches.EachError(func(_ string, _ int32, err error) {
					if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
						c.requestErrors.Add(1)
					}
				})
				var got int64
				fetches.EachRecord(func(rec *kgo.Record) {
					if rec.Offset < next[rec.Partition] {
						c.duplicates.Add(1)
						return
					}
					next[rec.Partition] = rec.Offset + 1
					got++
				})
				if got == 0 {
					continue
				}
				c.received.Add(got)
				c.measured.Add(got)
				storeMax(&last, int64(now))
			}
		})
	}
	wg.Wait()
	r.closeAll(consumers)
	stopProfile()
	if l := time.Duration(last.Load()); l > start {
		result.MeasuredSeconds = (l - start).Seconds()
	}
	return nil
}
