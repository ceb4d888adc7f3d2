package group

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"spool/engine"
	"spool/segment"
)

// harness is a coordinator over a real log and shard in a temp dir.
type harness struct {
	t     *testing.T
	dir   string
	shard *engine.Shard
	log   *engine.Log
	c     *Coordinator
	cfg   Config
}

func newHarness(t *testing.T, cfg Config) *harness {
	h := &harness{t: t, dir: t.TempDir(), cfg: cfg}
	h.shard = engine.NewShard(engine.ShardConfig{CPU: -1})
	t.Cleanup(h.shard.Stop)
	h.open()
	t.Cleanup(func() { h.close() })
	return h
}

func (h *harness) open() {
	h.t.Helper()
	var err error
	h.log, err = engine.OpenLog(h.dir, engine.LogConfig{
		Segment:         segment.Config{SegmentBytes: 1 << 20, IndexBytes: 64 << 10, IndexIntervalBytes: 4096},
		RetentionMillis: -1, RetentionBytes: -1,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	cfg := h.cfg
	cfg.Partitions = []Partition{{Log: h.log, Shard: h.shard}}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if h.c, err = Open(cfg); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) close() {
	if h.c == nil {
		return
	}
	h.c.Close()
	h.c = nil
	h.shard.Do(func() { h.log.Close() })
}

func (h *harness) restart() {
	h.close()
	h.open()
}

var consumerProtocols = []Protocol{{Name: "range", Metadata: []byte("sub")}}

func joinReq(group, member string) JoinRequest {
	return JoinRequest{Group: group, MemberID: member, ClientID: "c", SessionTimeout: 6 * time.Second, RebalanceTimeout: 2 * time.Second, ProtocolType: "consumer", Protocols: consumerProtocols, RequireKnownMemberID: true}
}

// joinNew joins a member the KIP-394 way: no id, MEMBER_ID_REQUIRED, then
// with the id. It returns a channel with the second join's result.
func (h *harness) joinNew(group string) (string, chan JoinResult) {
	h.t.Helper()
	first := h.c.Join(context.Background(), joinReq(group, ""))
	if !errors.Is(first.Err, ErrMemberIDRequired) || first.MemberID == "" {
		h.t.Fatalf("first join: %+v", first)
	}
	ch := make(chan JoinResult, 1)
	go func() { ch <- h.c.Join(context.Background(), joinReq(group, first.MemberID)) }()
	return first.MemberID, ch
}

func wait[T any](t *testing.T, ch chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out")
	}
	var zero T
	return zero
}

func TestJoinSyncHeartbeatLeave(t *testing.T) {
	h := newHarness(t, Config{})
	a, aJoin := h.joinNew("g")
	ra := wait(t, aJoin)
	if ra.Err != nil || ra.Leader != a || ra.Generation != 1 || len(ra.Members) != 1 || ra.Protocol != "range" {
		t.Fatalf("a's join: %+v", ra)
	}
	sa := h.c.Sync(context.Background(), SyncRequest{Group: "g", MemberID: a, Generation: 1, Assignments: map[string][]byte{a: []byte("all")}})
	if sa.Err != nil || string(sa.Assignment) != "all" {
		t.Fatalf("a's sync: %+v", sa)
	}
	if err := h.c.Heartbeat("g", a, nil, 1); err != nil {
		t.Fatal(err)
	}

	// b joins: a is told to rejoin, both get generation 2.
	b, bJoin := h.joinNew("g")
	for h.c.Describe("g").State != PreparingRebalance {
		time.Sleep(time.Millisecond)
	}
	if err := h.c.Heartbeat("g", a, nil, 1); !errors.Is(err, ErrRebalanceInProgress) {
		t.Fatalf("a's heartbeat during the rebalance: %v", err)
	}
	aJoin2 := make(chan JoinResult, 1)
	go func() { aJoin2 <- h.c.Join(context.Background(), joinReq("g", a)) }()
	ra, rb := wait(t, aJoin2), wait(t, bJoin)
	if ra.Generation != 2 || rb.Generation != 2 || ra.Leader != a || len(ra.Members) != 2 || len(rb.Members) != 0 {
		t.Fatalf("generation 2: a %+v b %+v", ra, rb)
	}
	// b's sync parks until the leader's arrives; each gets its own bytes.
	bSync := make(chan SyncResult, 1)
	go func() { bSync <- h.c.Sync(context.Background(), SyncRequest{Group: "g", MemberID: b, Generation: 2}) }()
	time.Sleep(50 * time.Millisecond)
	sa = h.c.Sync(context.Background(), SyncRequest{Group: "g", MemberID: a, Generation: 2, Assignments: map[string][]byte{a: []byte("A"), b: []byte("B")}})
	if sb := wait(t, bSync); string(sa.Assignment) != "A" || string(sb.Assignment) != "B" {
		t.Fatalf("assignments %q %q", sa.Assignment, sb.Assignment)
	}
	if d := h.c.Describe("g"); d.State != Stable || len(d.Members) != 2 {
		t.Fatalf("described %+v", d)
	}

	// Stale generation, unknown member.
	if err := h.c.Heartbeat("g", a, nil, 1); !errors.Is(err, ErrIllegalGeneration) {
		t.Fatalf("stale heartbeat: %v", err)
	}
	if r := h.c.Sync(context.Background(), SyncRequest{Group: "g", MemberID: "ghost", Generation: 2}); !errors.Is(r.Err, ErrUnknownMember) {
		t.Fatalf("ghost sync: %v", r.Err)
	}

	// b leaves: a must rejoin and gets generation 3 alone.
	errs, err := h.c.Leave("g", []LeaveMember{{MemberID: b}, {MemberID: "ghost"}})
	if err != nil || errs[0] != nil || !errors.Is(errs[1], ErrUnknownMember) {
		t.Fatalf("leave: %v %v", errs, err)
	}
	if err := h.c.Heartbeat("g", a, nil, 2); !errors.Is(err, ErrRebalanceInProgress) {
		t.Fatalf("a's heartbeat after b left: %v", err)
	}
	if r := h.c.Join(context.Background(), joinReq("g", a)); r.Generation != 3 || len(r.Members) != 1 {
		t.Fatalf("rejoin alone: %+v", r)
	}
}

func TestRebalanceTimeoutDropsSilentMember(t *testing.T) {
	h := newHarness(t, Config{})
	a, aJoin := h.joinNew("g")
	wait(t, aJoin)
	h.c.Sync(context.Background(), SyncRequest{Group: "g", MemberID: a, Generation: 1})
	// b joins; a never rejoins; after a's rebalance timeout (2 s) b is
	// alone in generation 2.
	started := time.Now()
	_, bJoin := h.joinNew("g")
	rb := wait(t, bJoin)
	if rb.Err != nil || rb.Generation != 2 || len(rb.Members) != 1 {
		t.Fatalf("b's join: %+v", rb)
	}
	if took := time.Since(started); took < 2*time.Second {
		t.Fatalf("completed after %v, before the 2 s rebalance timeout", took)
	}
	if err := h.c.Heartbeat("g", a, nil, 1); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("dropped member's heartbeat: %v", err)
	}
}

func TestSessionExpiry(t *testing.T) {
	h := newHarness(t, Config{MinSessionTimeout: 100 * time.Millisecond})
	req := joinReq("g", "")
	req.SessionTimeout = 300 * time.Millisecond
	req.RequireKnownMemberID = false
	r := h.c.Join(context.Background(), req)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	h.c.Sync(context.Background(), SyncRequest{Group: "g", MemberID: r.MemberID, Generation: r.Generation})
	time.Sleep(700 * time.Millisecond)
	if d := h.c.Describe("g"); d.State != Empty || len(d.Members) != 0 || d.Generation != 2 {
		t.Fatalf("after the session expired: %+v", d)
	}
}

func TestStaticMemberRejoinKeepsGeneration(t *testing.T) {
	h := newHarness(t, Config{})
	instance := "host-1"
	req := joinReq("g", "")
	req.InstanceID = &instance
	req.RequireKnownMemberID = false
	r1 := h.c.Join(context.Background(), req)
	if r1.Err != nil || r1.Leader != r1.MemberID {
		t.Fatalf("static join: %+v", r1)
	}
	h.c.Sync(context.Background(), SyncRequest{Group: "g", MemberID: r1.MemberID, InstanceID: &instance, Generation: r1.Generation, Assignments: map[string][]byte{r1.MemberID: []byte("p0")}})
	// The process restarts: same instance id, no member id.
	r2 := h.c.Join(context.Background(), req)
	if r2.Err != nil || r2.Generation != r1.Generation || r2.MemberID == r1.MemberID || !r2.SkipAssignment {
		t.Fatalf("static rejoin: %+v (first %+v)", r2, r1)
	}
	if s := h.c.Sync(context.Background(), SyncRequest{Group: "g", MemberID: r2.MemberID, InstanceID: &instance, Generation: r2.Generation}); string(s.Assignment) != "p0" {
		t.Fatalf("static member's assignment after rejoin: %+v", s)
	}
	if err := h.c.Heartbeat("g", r1.MemberID, &instance, r1.Generation); !errors.Is(err, ErrFencedInstance) {
		t.Fatalf("old member id: %v", err)
	}
}

func TestProtocolSelectionAndMismatch(t *testing.T) {
	h := newHarness(t, Config{InitialRebalanceDelay: 300 * time.Millisecond})
	both := []Protocol{{Name: "cooperative-sticky", Metadata: []byte("1")}, {Name: "range", Metadata: []byte("2")}}
	onlyRange := []Protocol{{Name: "range", Metadata: []byte("3")}}
	results := make(chan JoinResult, 2)
	for _, ps := range [][]Protocol{both, onlyRange} {
		req := joinReq("g", "")
		req.RequireKnownMemberID = false
		req.Protocols = ps
		go func() { results <- h.c.Join(context.Background(), req) }()
	}
	r1, r2 := wait(t, results), wait(t, results)
	if r1.Protocol != "range" || r2.Protocol != "range" || r1.Generation != 1 {
		t.Fatalf("both should land on range in one generation (initial delay): %+v %+v", r1, r2)
	}
	bad := joinReq("g", "")
	bad.Protocols = []Protocol{{Name: "roundrobin"}}
	if r := h.c.Join(context.Background(), bad); !errors.Is(r.Err, ErrInconsistentProtocol) {
		t.Fatalf("unsupported protocol: %+v", r)
	}
	bad.Protocols, bad.ProtocolType = onlyRange, "connect"
	if r := h.c.Join(context.Background(), bad); !errors.Is(r.Err, ErrInconsistentProtocol) {
		t.Fatalf("other protocol type: %+v", r)
	}
}

func TestCommitsSurviveRestartAndCompaction(t *testing.T) {
	h := newHarness(t, Config{})
	// Simple commits (no members), many times over the same keys, so the
	// log holds far more records than live keys.
	const rounds, partitions = 60, 200
	for round := 0; round < rounds; round++ {
		var offsets []OffsetCommit
		for p := 0; p < partitions; p++ {
			offsets = append(offsets, OffsetCommit{TopicPartition: TopicPartition{Topic: "t", Partition: int32(p)}, Offset: int64(round*1000 + p), LeaderEpoch: -1, Metadata: fmt.Sprint("r", round)})
		}
		errs, err := h.c.Commit(CommitRequest{Group: fmt.Sprint("g", round%3), Generation: -1, Offsets: offsets})
		if err != nil || errors.Join(errs...) != nil {
			t.Fatalf("commit: %v %v", err, errs)
		}
	}
	want := func() {
		t.Helper()
		for g := 0; g < 3; g++ {
			last := rounds - 3 + g
			res := h.c.FetchOffsets(fmt.Sprint("g", g), []TopicPartition{{Topic: "t", Partition: 7}, {Topic: "t", Partition: 999}})
			if res[0].Offset != int64(last*1000+7) || res[0].Metadata != fmt.Sprint("r", last) || res[1].Offset != -1 {
				t.Fatalf("group g%d: %+v", g, res)
			}
			if all := h.c.FetchOffsets(fmt.Sprint("g", g), nil); len(all) != partitions {
				t.Fatalf("group g%d has %d offsets", g, len(all))
			}
		}
	}
	want()
	recordsBefore := h.log.LogEndOffset()
	h.restart() // replay, then compaction at open: 12000 records, 600 live
	want()
	if start := h.log.LogStartOffset(); start != recordsBefore {
		t.Fatalf("log start offset %d after compaction, want %d (the rewrite's first record)", start, recordsBefore)
	}
	if n := h.log.LogEndOffset() - h.log.LogStartOffset(); n != 3*partitions {
		t.Fatalf("%d records after compaction, want %d", n, 3*partitions)
	}
	h.restart()
	want()

	// Deleting a group writes tombstones; it stays deleted after a restart.
	if err := h.c.Delete("g1"); err != nil {
		t.Fatal(err)
	}
	h.restart()
	if res := h.c.FetchOffsets("g1", []TopicPartition{{Topic: "t", Partition: 7}}); res[0].Offset != -1 {
		t.Fatalf("deleted group's offset: %+v", res)
	}
	if l := h.c.List(); len(l) != 2 {
		t.Fatalf("groups after delete: %+v", l)
	}
}

func TestGroupMetadataRestored(t *testing.T) {
	h := newHarness(t, Config{})
	a, aJoin := h.joinNew("g")
	r := wait(t, aJoin)
	h.c.Sync(context.Background(), SyncRequest{Group: "g", MemberID: a, Generation: r.Generation, Assignments: map[string][]byte{a: []byte("mine")}})
	h.restart()
	// The member keeps heartbeating through the restart without noticing.
	if err := h.c.Heartbeat("g", a, nil, r.Generation); err != nil {
		t.Fatalf("heartbeat after restart: %v", err)
	}
	if s := h.c.Sync(context.Background(), SyncRequest{Group: "g", MemberID: a, Generation: r.Generation}); string(s.Assignment) != "mine" {
		t.Fatalf("assignment after restart: %+v", s)
	}
}

func TestOffsetsExpire(t *testing.T) {
	h := newHarness(t, Config{OffsetsRetention: 200 * time.Millisecond, RetentionCheck: 100 * time.Millisecond})
	if _, err := h.c.Commit(CommitRequest{Group: "old", Generation: -1, Offsets: []OffsetCommit{{TopicPartition: TopicPartition{Topic: "t"}, Offset: 5}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(h.c.List()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("offsets never expired: %+v", h.c.List())
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.restart()
	if res := h.c.FetchOffsets("old", []TopicPartition{{Topic: "t"}}); res[0].Offset != -1 {
		t.Fatalf("expired offset back after restart: %+v", res)
	}
}

func TestCommitChecks(t *testing.T) {
	h := newHarness(t, Config{MetadataMaxBytes: 10})
	a, aJoin := h.joinNew("g")
	r := wait(t, aJoin)
	tp := TopicPartition{Topic: "t"}
	if _, err := h.c.Commit(CommitRequest{Group: "g", MemberID: a, Generation: r.Generation + 1, Offsets: []OffsetCommit{{TopicPartition: tp}}}); !errors.Is(err, ErrIllegalGeneration) {
		t.Fatalf("wrong generation: %v", err)
	}
	if _, err := h.c.Commit(CommitRequest{Group: "g", MemberID: a, Generation: r.Generation, Offsets: []OffsetCommit{{TopicPartition: tp}}}); !errors.Is(err, ErrRebalanceInProgress) {
		t.Fatalf("commit while completing the rebalance: %v", err)
	}
	h.c.Sync(context.Background(), SyncRequest{Group: "g", MemberID: a, Generation: r.Generation})
	errs, err := h.c.Commit(CommitRequest{Group: "g", MemberID: a, Generation: r.Generation, Offsets: []OffsetCommit{{TopicPartition: tp, Offset: 1}, {TopicPartition: TopicPartition{Topic: "u"}, Metadata: "far too long"}}})
	if err != nil || errs[0] != nil || !errors.Is(errs[1], ErrMetadataTooLarge) {
		t.Fatalf("commit: %v %v", err, errs)
	}
	if _, err := h.c.Commit(CommitRequest{Group: "g", Generation: -1, Offsets: []OffsetCommit{{TopicPartition: tp}}}); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("simple commit into a group with members: %v", err)
	}
	if _, err := h.c.Commit(CommitRequest{Group: "nobody", Generation: 3, Offsets: []OffsetCommit{{TopicPartition: tp}}}); !errors.Is(err, ErrIllegalGeneration) {
		t.Fatalf("generation commit to an unknown group: %v", err)
	}
	if err := h.c.Delete("g"); !errors.Is(err, ErrNonEmptyGroup) {
		t.Fatalf("delete of a group with members: %v", err)
	}
}

// TestConcurrentCommitsAndHeartbeats runs commits from many goroutines
// while members heartbeat (for -race), then checks the last commit per
// partition won.
func TestConcurrentCommitsAndHeartbeats(t *testing.T) {
	h := newHarness(t, Config{})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if _, err := h.c.Commit(CommitRequest{Group: fmt.Sprint("g", g), Generation: -1, Offsets: []OffsetCommit{{TopicPartition: TopicPartition{Topic: "t"}, Offset: int64(i)}}}); err != nil {
					t.Error(err)
					return
				}
				h.c.List()
				h.c.Describe(fmt.Sprint("g", g))
			}
		}()
	}
	wg.Wait()
	for g := 0; g < 8; g++ {
		if res := h.c.FetchOffsets(fmt.Sprint("g", g), []TopicPartition{{Topic: "t"}}); res[0].Offset != 49 {
			t.Fatalf("g%d: %+v", g, res)
		}
	}
}

// TestRequestBytesAreCopied: protocol metadata and assignments outlive the
// request whose buffer carried them (netio reuses it for the next one).
func TestRequestBytesAreCopied(t *testing.T) {
	h := newHarness(t, Config{})
	metadata := []byte("subscription")
	req := joinReq("g", "")
	req.RequireKnownMemberID = false
	req.Protocols = []Protocol{{Name: "range", Metadata: metadata}}
	r := h.c.Join(context.Background(), req)
	assignment := []byte("assignment")
	h.c.Sync(context.Background(), SyncRequest{Group: "g", MemberID: r.MemberID, Generation: r.Generation, Assignments: map[string][]byte{r.MemberID: assignment}})
	copy(metadata, "XXXXXXXXXXXX")
	copy(assignment, "XXXXXXXXXX")
	d := h.c.Describe("g")
	if string(d.Members[0].Metadata) != "subscription" || string(d.Members[0].Assignment) != "assignment" {
		t.Fatalf("stored bytes changed with the request's: %q %q", d.Members[0].Metadata, d.Members[0].Assignment)
	}
}
