package engine

import (
	"errors"
	"runtime"
	"sync"
	"time"

	"spool/internal/invariants"
	"spool/linux"
)

// A shard is one goroutine that owns the write path of its partitions:
// every append, roll, truncation and retention pass of those logs runs on
// it, so none of them takes a lock.
//
// Group commit, pipelined: the shard takes one request, drains whatever
// else is queued (up to shardDrainMax) and appends them all. If a durable
// (acks=all) append waits on a log, the shard hands that log's unsynced
// range to its sync worker and goes on appending while the disk flushes.
// When the sync returns, the shard answers every waiter it covered and, if
// more wait, starts the next sync at once. So one fdatasync covers
// everything appended while the previous one ran, the sync rate adapts to
// the load without a timer, and copying overlaps flushing.

// Limits of a shard.
const (
	// shardQueueLength bounds requests waiting for the shard; senders block
	// beyond it, which is the broker's back-pressure.
	shardQueueLength = 4096
	// shardDrainMax bounds one round, so a flood cannot delay the sync of
	// the first request in the round without end.
	shardDrainMax = 1024
	// shardSyncWorkers is how many logs of one shard sync at once. The
	// fdatasyncs of different files issued together share the file
	// system's journal commit and the device's cache flush; issued one
	// after another, a request that touches 16 partitions waited for 16
	// flushes in a row.
	shardSyncWorkers = 8
	// shardSyncAheadBytes: a log with this many unsynced bytes is synced in
	// the background even when nobody waits on it (acks=1 traffic between
	// interval flushes). A roll seals the old segment on the shard
	// goroutine, and that fdatasync covered up to an interval's worth of
	// writes: 155 ms for 256 MiB (BenchmarkRollSeal), every partition of
	// the shard stalled meanwhile. Syncing ahead bounds it to this much.
	// 4 MiB measured better than 16 MiB at 150 MB/s of acks=1 (p99 6-10 ms
	// against 15-19 ms) at no cost in throughput (docs/PERFORMANCE.md).
	shardSyncAheadBytes = 4 << 20
	// shardWritebackEarlyBytes: a durable append at least this large to a
	// log that is not syncing has its writeback started at once, so the
	// disk writes it while the shard appends the request's other batches
	// (docs/PERFORMANCE.md, "The raw producer").
	shardWritebackEarlyBytes = 256 << 10
)

// ShardConfig configures a shard.
type ShardConfig struct {
	// CPU pins the shard's thread to this CPU when ≥ 0 (--pin-cores).
	CPU int
	// FlushInterval drives FlushInterval logs: every interval the shard
	// syncs the logs that have appends waiting.
	FlushInterval time.Duration
}

// Shard runs the write path of the partitions assigned to it.
type Shard struct {
	cfg      ShardConfig
	requests chan *request
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	pinErr   error

	// The sync workers: the shard sends a log whose job is ready, a worker
	// runs it and sends the log back. A log has at most one job in flight
	// (Log.syncing), so its syncs stay in order; different logs' syncs run
	// side by side.
	syncJobs     chan *Log
	syncFinished chan *Log

	// Owned by the shard goroutine.
	dirty    []*Log     // logs with appends not yet synced
	round    []*Log     // scratch: the logs startSyncs hands out together
	waiting  []*request // durable appends waiting for a sync
	inFlight int        // syncs the worker holds
}

type request struct {
	log     *Log
	batch   []byte
	epoch   int32
	durable bool
	fn      func() // a writer operation instead of an append
	info    AppendInfo
	err     error
	reply   chan struct{}
}

var requestPool = sync.Pool{New: func() any { return &request{reply: make(chan struct{}, 1)} }}

// ErrShardStopped is returned for requests sent to a stopped shard.
var ErrShardStopped = errors.New("engine: shard stopped")

// NewShard starts a shard goroutine.
func NewShard(cfg ShardConfig) *Shard {
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = FlushIntervalDefault
	}
	s := &Shard{
		cfg:          cfg,
		requests:     make(chan *request, shardQueueLength),
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
		syncJobs:     make(chan *Log, shardQueueLength),
		syncFinished: make(chan *Log, shardQueueLength),
	}
	for range shardSyncWorkers {
		go func() {
			for l := range s.syncJobs {
				l.runSync()
				s.syncFinished <- l
			}
		}()
	}
	started := make(chan struct{})
	go s.run(started)
	<-started
	return s
}

// PinError says why pinning failed, if it was asked for and failed.
func (s *Shard) PinError() error { return s.pinErr }

// Append appends batch to log on the shard and waits: for the append alone,
// or with durable (acks=all) until a sync covers it. Any goroutine. It
// allocates nothing in the steady state.
func (s *Shard) Append(log *Log, batch []byte, epoch int32, durable bool) (AppendInfo, error) {
	p, err := s.Submit(log, batch, epoch, durable)
	if err != nil {
		return AppendInfo{}, err
	}
	return p.Wait()
}

// Pending is an append submitted to a shard and not yet waited for.
type Pending struct {
	shard   *Shard
	request *request
}

// Submit queues an append without waiting for it, so one producer request
// can hand batches to several shards and then wait for all of them: their
// appends and syncs overlap instead of adding up. Each Pending must be
// waited for exactly once. batch must stay untouched until then.
func (s *Shard) Submit(log *Log, batch []byte, epoch int32, durable bool) (Pending, error) {
	r := requestPool.Get().(*request)
	r.log, r.batch, r.epoch, r.durable, r.fn = log, batch, epoch, durable, nil
	select {
	case s.requests <- r:
		return Pending{shard: s, request: r}, nil
	case <-s.done:
		requestPool.Put(r)
		return Pending{}, ErrShardStopped
	}
}

// Wait returns the submitted append's result.
func (p Pending) Wait() (AppendInfo, error) {
	r := p.request
	if err := p.shard.await(r); err != nil {
		return AppendInfo{}, err // r may still sit in the queue: not pooled
	}
	info, err := r.info, r.err
	r.log, r.batch, r.info, r.err = nil, nil, AppendInfo{}, nil
	requestPool.Put(r)
	return info, err
}

// Do runs fn on the shard goroutine (a writer operation: truncation,
// DeleteRecords, retention, opening or closing a log) and waits for it.
func (s *Shard) Do(fn func()) error {
	r := &request{fn: fn, reply: make(chan struct{}, 1)}
	return s.submit(r)
}

// submit queues r and waits for its answer; it fails once the shard stops.
func (s *Shard) submit(r *request) error {
	select {
	case s.requests <- r:
	case <-s.done:
		return ErrShardStopped
	}
	return s.await(r)
}

// await waits for a queued request's answer, or for the shard to stop.
func (s *Shard) await(r *request) error {
	select {
	case <-r.reply:
		return nil
	case <-s.done:
		// The shard may have answered just before it stopped.
		select {
		case <-r.reply:
			return nil
		default:
			return ErrShardStopped
		}
	}
}

// Stop ends the shard: it syncs what waits for durability and answers it;
// requests still queued get ErrShardStopped. The logs are not closed: close
// them with Do first.
func (s *Shard) Stop() {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
}

func (s *Shard) run(started chan struct{}) {
	defer close(s.done)
	defer close(s.syncJobs)
	// In invariants builds this goroutine owns the logs it runs (it adopts
	// a log opened elsewhere at its first writer call: Log.checkWriter)
	// until it returns; the logs then pass to whoever calls next (a test
	// or a tool closing them after Stop). End runs before done is closed.
	loop := invariants.StartLoop()
	defer loop.End()
	if s.cfg.CPU >= 0 {
		s.pinErr = linux.PinThreadToCPU(s.cfg.CPU)
		defer runtime.UnlockOSThread()
	}
	close(started)
	ticker := time.NewTicker(s.cfg.FlushInterval)
	defer ticker.Stop()
	for {
		select {
		case <-s.stop:
			s.shutdown()
			return
		case l := <-s.syncFinished:
			s.finish(l, true)
		case r := <-s.requests:
			s.handle(r)
		drain:
			for i := 1; i < shardDrainMax; i++ {
				select {
				case r := <-s.requests:
					s.handle(r)
				default:
					break drain
				}
			}
			s.startSyncs(false)
		case <-ticker.C:
			s.startSyncs(true)
		}
	}
}

// shutdown waits for the syncs in flight, syncs what is left, and answers
// every waiter.
func (s *Shard) shutdown() {
	s.waitSyncs()
	for _, l := range s.dirty {
		l.Flush()
	}
	s.dirty = nil
	for _, r := range s.waiting {
		if err := r.log.Err(); err != nil {
			r.err = err
		} else if r.log.DurableOffset() <= r.info.LastOffset {
			r.err = ErrShardStopped
		}
		r.reply <- struct{}{}
	}
	s.waiting = nil
}

// waitSyncs takes back every sync in flight, without starting new ones:
// writer operations (Do) must not cut or close a segment the worker is
// syncing.
func (s *Shard) waitSyncs() {
	for s.inFlight > 0 {
		s.finish(<-s.syncFinished, false)
	}
}

func (s *Shard) handle(r *request) {
	if r.fn != nil {
		s.waitSyncs()
		// A writer operation may touch any segment: seal the rolled
		// ones no sync job has taken yet.
		for _, l := range s.dirty {
			l.sealPending()
		}
		r.fn()
		r.reply <- struct{}{}
		return
	}
	r.log.deferSeals = true
	r.info, r.err = r.log.Append(r.batch, r.epoch)
	if len(r.log.pendingSeal) > 0 {
		// A roll left a seal to the next sync job (even if the append
		// after it failed): the log must be revisited.
		s.markDirty(r.log)
	}
	if r.err != nil || r.log.cfg.FlushPolicy == FlushEveryBatch {
		r.reply <- struct{}{}
		return
	}
	s.markDirty(r.log)
	if r.durable {
		if n := int64(len(r.batch)); n >= shardWritebackEarlyBytes && !r.log.syncing {
			if end := r.log.active.Size(); end-n >= r.log.active.SyncedSize() {
				r.log.active.StartWriteback(end-n, end)
			}
		}
		s.waiting = append(s.waiting, r)
		return
	}
	r.reply <- struct{}{}
}

func (s *Shard) markDirty(l *Log) {
	for _, d := range s.dirty {
		if d == l {
			return
		}
	}
	s.dirty = append(s.dirty, l)
}

// startSyncs hands dirty logs to the sync workers: group-commit logs when a
// durable append waits on them or shardSyncAheadBytes are unsynced,
// interval logs only on the tick; a tick also syncs group-commit logs
// nobody waits on, which bounds the loss window of acks=1 to one interval.
// Logs already syncing are revisited when their sync finishes.
func (s *Shard) startSyncs(tick bool) {
	kept := s.dirty[:0]
	round := s.round[:0]
	for _, l := range s.dirty {
		switch {
		case l.syncing:
			kept = append(kept, l)
		case l.cfg.FlushPolicy == FlushInterval && !tick, !tick && !s.hasWaiter(l) && l.unsyncedBytes() < shardSyncAheadBytes && len(l.pendingSeal) == 0:
			kept = append(kept, l)
		case l.prepareSync():
			kept = append(kept, l)
			round = append(round, l)
		}
	}
	clear(s.dirty[len(kept):])
	s.dirty = kept
	if len(round) > 1 {
		// Several logs sync together (a request that touched several
		// partitions): put all their writes in flight before any
		// fdatasync starts. Issued one file at a time by the workers, a
		// round of 16 files of 16 KiB took 1.34-1.43 ms at p50; with the
		// writes started first, 1.08 ms, and the p90 of 16 × 256 KiB went
		// from 13.4 to 4.2 ms (docs/PERFORMANCE.md).
		for _, l := range round {
			l.job.segment.StartWriteback(l.job.from, l.job.to)
		}
	}
	for _, l := range round {
		s.send(l)
	}
	clear(round)
	s.round = round[:0]
	s.answer()
}

// startSync hands l to a worker if it has unsynced appends; false when it
// has none (l is clean).
func (s *Shard) startSync(l *Log) bool {
	if !l.prepareSync() {
		return false
	}
	s.send(l)
	return true
}

// send hands l, its job prepared, to a sync worker.
func (s *Shard) send(l *Log) {
	select {
	case s.syncJobs <- l:
		l.syncing = true
		s.inFlight++
	default:
		// More logs syncing than the worker's queue holds: sync this one
		// here rather than block the shard on its own worker.
		l.runSync()
		l.finishSync()
	}
}

// finish records a sync the worker returned, answers the appends it made
// durable, and with restart starts the next sync if more wait on the log.
func (s *Shard) finish(l *Log, restart bool) {
	s.inFlight--
	l.syncing = false
	l.finishSync()
	s.answer()
	if restart && s.hasWaiter(l) {
		s.startSync(l)
	}
}

// answer replies to the durable appends that are now durable, or whose log
// failed.
func (s *Shard) answer() {
	remaining := s.waiting[:0]
	for _, r := range s.waiting {
		if err := r.log.Err(); err != nil {
			r.err = err
			r.reply <- struct{}{}
			continue
		}
		if r.log.DurableOffset() > r.info.LastOffset {
			r.reply <- struct{}{}
			continue
		}
		remaining = append(remaining, r)
	}
	clear(s.waiting[len(remaining):])
	s.waiting = remaining
}

func (s *Shard) hasWaiter(l *Log) bool {
	for _, r := range s.waiting {
		if r.log == l {
			return true
		}
	}
	return false
}
