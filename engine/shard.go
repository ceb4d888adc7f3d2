package engine

import (
	"errors"
	"runtime"
	"sync"
	"time"

	"spool/linux"
)

// A shard is one goroutine that owns the write path of its partitions:
// every append, flush, roll, truncation and retention pass of those logs
// runs on it, so none of them takes a lock.
//
// Group commit: the shard takes one request, then drains whatever else is
// queued (up to shardDrainMax), appends them all, and, if any waits for
// durability, syncs each touched log once before answering them. While a
// sync runs, new requests queue; the next round drains them together, so
// one sync covers everything that arrived meanwhile and the sync rate adapts
// to the load without a timer.

// Limits of a shard.
const (
	// shardQueueLength bounds requests waiting for the shard; senders block
	// beyond it, which is the broker's back-pressure.
	shardQueueLength = 4096
	// shardDrainMax bounds one round, so a flood cannot delay the sync of
	// the first request in the round without end.
	shardDrainMax = 1024
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

	// Owned by the shard goroutine.
	dirty   []*Log     // logs with appends not yet synced
	waiting []*request // durable appends waiting for a sync
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
	s := &Shard{cfg: cfg, requests: make(chan *request, shardQueueLength), stop: make(chan struct{}), done: make(chan struct{})}
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
	r := requestPool.Get().(*request)
	r.log, r.batch, r.epoch, r.durable, r.fn = log, batch, epoch, durable, nil
	if err := s.submit(r); err != nil {
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
			s.syncWaiting(true)
			for _, r := range s.waiting {
				r.err = ErrShardStopped
				r.reply <- struct{}{}
			}
			s.waiting = nil
			return
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
			s.syncWaiting(false)
		case <-ticker.C:
			s.syncWaiting(true)
		}
	}
}

func (s *Shard) handle(r *request) {
	if r.fn != nil {
		r.fn()
		r.reply <- struct{}{}
		return
	}
	r.info, r.err = r.log.Append(r.batch, r.epoch)
	if r.err != nil || r.log.cfg.FlushPolicy == FlushEveryBatch {
		r.reply <- struct{}{}
		return
	}
	s.markDirty(r.log)
	if r.durable {
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

// syncWaiting syncs dirty logs and answers the durable appends waiting on
// them. Group-commit logs sync whenever something waits; interval logs only
// on the tick (tick true); a tick also syncs group-commit logs with no
// waiter, which bounds the loss window of acks=1 to one interval.
func (s *Shard) syncWaiting(tick bool) {
	if len(s.dirty) == 0 {
		return
	}
	kept := s.dirty[:0]
	for _, l := range s.dirty {
		if l.cfg.FlushPolicy == FlushInterval && !tick {
			kept = append(kept, l)
			continue
		}
		if !tick && !s.hasWaiter(l) {
			kept = append(kept, l)
			continue
		}
		l.Flush()
	}
	s.dirty = kept
	remaining := s.waiting[:0]
	for _, r := range s.waiting {
		if r.log.DurableOffset() > r.info.LastOffset || r.log.Err() != nil {
			if err := r.log.Err(); err != nil {
				r.err = err
			}
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
