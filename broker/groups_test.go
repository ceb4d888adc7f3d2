package broker

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupBroker is a test broker whose groups rebalance without the initial
// delay, so tests do not wait 3 s per group.
func groupBroker(t *testing.T, dataDir string, extra ...string) *Broker {
	return testBroker(t, dataDir, append([]string{"--group.initial.rebalance.delay.ms=0", "--group.min.session.timeout.ms=1000"}, extra...)...)
}

func createTopic(t *testing.T, b *Broker, topic string, partitions int32) {
	t.Helper()
	adm := kadm.NewClient(client(t, b))
	resp, err := adm.CreateTopic(ctxTimeout(t, 10*time.Second), partitions, 1, nil, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, resp.Err)
	}
}

// produceKeyed produces n records with values "topic-i" spread over the
// partitions by key, and waits for every ack.
func produceKeyed(t *testing.T, b *Broker, topic string, from, n int) {
	t.Helper()
	c := client(t, b, kgo.DefaultProduceTopic(topic))
	records := make([]*kgo.Record, n)
	for i := range records {
		records[i] = &kgo.Record{Key: []byte(fmt.Sprint("key-", from+i)), Value: []byte(fmt.Sprint(topic, "-", from+i))}
	}
	if err := c.ProduceSync(ctxTimeout(t, 30*time.Second), records...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// member is one franz-go group member collecting what it consumes.
type member struct {
	name   string
	client *kgo.Client
	mu     sync.Mutex
	values []string
	owned  map[int32]bool
	// assignedCalls counts OnPartitionsAssigned calls: rebalances seen.
	assignedCalls int
}

func newMember(t *testing.T, b *Broker, name, group, topic string, opts ...kgo.Opt) *member {
	m := &member{name: name, owned: map[int32]bool{}}
	base := []kgo.Opt{
		kgo.SeedBrokers(b.Addr()), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ClientID(name),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(300 * time.Millisecond), kgo.RebalanceTimeout(10 * time.Second),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.assignedCalls++
			for _, p := range assigned[topic] {
				m.owned[p] = true
			}
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, c *kgo.Client, revoked map[string][]int32) {
			c.CommitMarkedOffsets(ctx)
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range revoked[topic] {
				delete(m.owned, p)
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range lost[topic] {
				delete(m.owned, p)
			}
		}),
	}
	c, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	m.client = c
	return m
}

// poll consumes until ctx ends, recording values.
func (m *member) poll(ctx context.Context) {
	for ctx.Err() == nil {
		fetches := m.client.PollFetches(ctx)
		m.mu.Lock()
		fetches.EachRecord(func(r *kgo.Record) { m.values = append(m.values, string(r.Value)) })
		m.mu.Unlock()
	}
}

func (m *member) partitions() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int32
	for p := range m.owned {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (m *member) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.values)
}

// waitFor polls cond every 50 ms until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// assignedAll reports whether members own every partition exactly once,
// each member at least one.
func assignedAll(partitions int32, members ...*member) bool {
	seen := map[int32]int{}
	for _, m := range members {
		ps := m.partitions()
		if len(ps) == 0 {
			return false
		}
		for _, p := range ps {
			seen[p]++
		}
	}
	if len(seen) != int(partitions) {
		return false
	}
	for _, n := range seen {
		if n != 1 {
			return false
		}
	}
	return true
}

// checkExactlyOnce checks that members together received topic's records
// [0, n) once each.
func checkExactlyOnce(t *testing.T, topic string, n int, members ...*member) {
	t.Helper()
	seen := map[string]int{}
	for _, m := range members {
		m.mu.Lock()
		for _, v := range m.values {
			seen[v]++
		}
		m.mu.Unlock()
	}
	for i := 0; i < n; i++ {
		v := fmt.Sprint(topic, "-", i)
		switch seen[v] {
		case 1:
		case 0:
			t.Fatalf("record %s never delivered", v)
		default:
			t.Fatalf("record %s delivered %d times", v, seen[v])
		}
	}
	if len(seen) != n {
		t.Fatalf("delivered %d distinct records, want %d", len(seen), n)
	}
}

// TestGroupPointToPoint: three members of one group split six partitions
// and together receive every record once, with the eager range assignor
// and with cooperative-sticky.
func TestGroupPointToPoint(t *testing.T) {
	for _, balancer := range []struct {
		name string
		opt  kgo.GroupBalancer
	}{{"range", kgo.RangeBalancer()}, {"cooperative-sticky", kgo.CooperativeStickyBalancer()}} {
		t.Run(balancer.name, func(t *testing.T) {
			b := groupBroker(t, t.TempDir())
			defer b.Close()
			topic := "p2p-" + balancer.name
			createTopic(t, b, topic, 6)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var members []*member
			var wg sync.WaitGroup
			for i := 0; i < 3; i++ {
				m := newMember(t, b, fmt.Sprint("m", i), "workers", topic, kgo.Balancers(balancer.opt))
				defer m.client.Close()
				members = append(members, m)
				wg.Add(1)
				go func() { defer wg.Done(); m.poll(ctx) }()
			}
			waitFor(t, 30*time.Second, "three members to share six partitions", func() bool { return assignedAll(6, members...) })
			const n = 3000
			produceKeyed(t, b, topic, 0, n)
			waitFor(t, 30*time.Second, "every record consumed", func() bool {
				total := 0
				for _, m := range members {
					total += m.count()
				}
				return total >= n
			})
			time.Sleep(300 * time.Millisecond) // a duplicate would arrive now
			cancel()
			wg.Wait()
			checkExactlyOnce(t, topic, n, members...)
			for _, m := range members {
				if len(m.partitions()) != 2 || m.count() == 0 {
					t.Errorf("%s owns %v and consumed %d records", m.name, m.partitions(), m.count())
				}
			}
			// The group is visible to admin clients: three stable members.
			adm := kadm.NewClient(client(t, b))
			described, err := adm.DescribeGroups(ctxTimeout(t, 10*time.Second), "workers")
			if err != nil {
				t.Fatal(err)
			}
			d := described["workers"]
			if d.State != "Stable" || len(d.Members) != 3 || d.Protocol != strings.Split(balancer.name, "-")[0] && d.Protocol != balancer.name {
				t.Fatalf("described %s with %d members, protocol %q", d.State, len(d.Members), d.Protocol)
			}
		})
	}
}

// TestGroupPublishSubscribe: two groups on one topic each receive every
// record.
func TestGroupPublishSubscribe(t *testing.T) {
	b := groupBroker(t, t.TempDir())
	defer b.Close()
	const topic, n = "pubsub", 1000
	createTopic(t, b, topic, 3)
	produceKeyed(t, b, topic, 0, n)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var groups [][]*member
	for _, g := range []string{"audit", "billing"} {
		var members []*member
		for i := 0; i < 2; i++ {
			m := newMember(t, b, fmt.Sprint(g, i), g, topic)
			defer m.client.Close()
			members = append(members, m)
			wg.Add(1)
			go func() { defer wg.Done(); m.poll(ctx) }()
		}
		groups = append(groups, members)
	}
	for _, members := range groups {
		waitFor(t, 30*time.Second, "each group to consume every record", func() bool { return members[0].count()+members[1].count() >= n })
	}
	time.Sleep(300 * time.Millisecond)
	cancel()
	wg.Wait()
	for _, members := range groups {
		checkExactlyOnce(t, topic, n, members...)
	}
}

// rawMember joins a group with hand-made requests and can then fall
// silent, as a killed process does.
func rawJoin(t *testing.T, c *kgo.Client, group, topic string, sessionMillis int32) (memberID string, generation int32) {
	t.Helper()
	ctx := ctxTimeout(t, 30*time.Second)
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{topic}
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis, join.ProtocolType = group, sessionMillis, 10000, "consumer"
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: meta.AppendTo(nil)}}
	for attempt := 0; attempt < 3; attempt++ {
		resp, err := join.RequestWith(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode == kerr.MemberIDRequired.Code {
			join.MemberID = resp.MemberID
			continue
		}
		if resp.ErrorCode != 0 {
			t.Fatalf("join: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		memberID, generation = resp.MemberID, resp.Generation
		sync := kmsg.NewPtrSyncGroupRequest()
		sync.Group, sync.MemberID, sync.Generation = group, memberID, generation
		if resp.LeaderID == memberID {
			t.Fatal("the raw member should not lead")
		}
		sresp, err := sync.RequestWith(ctx, c)
		if err != nil || sresp.ErrorCode != 0 {
			t.Fatalf("sync: %v %v", err, kerr.ErrorForCode(sresp.ErrorCode))
		}
		return memberID, generation
	}
	t.Fatal("join kept asking for a member id")
	return "", 0
}

// TestGroupMemberKilledAndLeaving: a member that stops heartbeating loses
// its partitions to the others once its session times out; a member that
// leaves loses them at once.
func TestGroupMemberKilledAndLeaving(t *testing.T) {
	b := groupBroker(t, t.TempDir())
	defer b.Close()
	const topic = "failover"
	createTopic(t, b, topic, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	survivor := newMember(t, b, "survivor", "fo", topic, kgo.Balancers(kgo.RangeBalancer()))
	defer survivor.client.Close()
	go survivor.poll(ctx)
	waitFor(t, 20*time.Second, "the survivor to own all four partitions", func() bool { return len(survivor.partitions()) == 4 })

	// Killed: joins with a 2 s session, then never heartbeats again.
	raw := client(t, b)
	killedID, _ := rawJoin(t, raw, "fo", topic, 2000)
	waitFor(t, 20*time.Second, "the survivor to give up two partitions", func() bool { return len(survivor.partitions()) == 2 })
	silentSince := time.Now()
	waitFor(t, 20*time.Second, "the killed member's partitions to move back", func() bool { return len(survivor.partitions()) == 4 })
	if took := time.Since(silentSince); took > 2*time.Second+4*time.Second {
		t.Errorf("partitions moved %v after the member fell silent (session 2 s)", took)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = "fo", killedID, 1
	if resp, err := hb.RequestWith(ctx, raw); err != nil || resp.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat of the expired member: %v, code %d", err, resp.ErrorCode)
	}

	// Leaving: a second franz-go member with a long session closes (it
	// sends LeaveGroup), and the survivor gets its partitions well before
	// that session could expire.
	leaver := newMember(t, b, "leaver", "fo", topic, kgo.Balancers(kgo.RangeBalancer()), kgo.SessionTimeout(60*time.Second))
	go leaver.poll(ctx)
	waitFor(t, 20*time.Second, "the leaver to join", func() bool { return len(leaver.partitions()) == 2 && len(survivor.partitions()) == 2 })
	left := time.Now()
	leaver.client.Close()
	waitFor(t, 20*time.Second, "the leaver's partitions to move", func() bool { return len(survivor.partitions()) == 4 })
	if took := time.Since(left); took > 10*time.Second {
		t.Errorf("partitions moved %v after LeaveGroup", took)
	}
}

// TestGroupCommitResumeAndRestart: a consumer commits, stops; the next one
// resumes after the commit; after a broker restart the commits are still
// there and consumption resumes from them.
func TestGroupCommitResumeAndRestart(t *testing.T) {
	dir := t.TempDir()
	b := groupBroker(t, dir)
	const topic = "resume"
	createTopic(t, b, topic, 2)
	produceKeyed(t, b, topic, 0, 200)

	consume := func(b *Broker, want int) []string {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		m := newMember(t, b, "reader", "resumers", topic, kgo.DisableAutoCommit())
		var values []string
		for len(values) < want && ctx.Err() == nil {
			fetches := m.client.PollFetches(ctx)
			fetches.EachRecord(func(r *kgo.Record) { values = append(values, string(r.Value)) })
		}
		if err := m.client.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
		m.client.Close()
		return values
	}
	first := consume(b, 200)
	if len(first) != 200 {
		t.Fatalf("first consumer read %d of 200", len(first))
	}
	produceKeyed(t, b, topic, 200, 50)
	second := consume(b, 50)
	for _, v := range second {
		var i int
		fmt.Sscanf(strings.TrimPrefix(v, topic+"-"), "%d", &i)
		if i < 200 {
			t.Fatalf("second consumer re-read %s: it did not resume after the commit", v)
		}
	}
	if len(second) != 50 {
		t.Fatalf("second consumer read %d of 50", len(second))
	}
	adm := kadm.NewClient(client(t, b))
	before, err := adm.FetchOffsets(ctxTimeout(t, 10*time.Second), "resumers")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = groupBroker(t, dir)
	defer b.Close()
	adm = kadm.NewClient(client(t, b))
	after, err := adm.FetchOffsets(ctxTimeout(t, 10*time.Second), "resumers")
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	for _, p := range []int32{0, 1} {
		o1, _ := before.Lookup(topic, p)
		o2, ok := after.Lookup(topic, p)
		if !ok || o1.At != o2.At || o2.Err != nil {
			t.Fatalf("partition %d committed %d before the restart, %d (%v) after", p, o1.At, o2.At, o2.Err)
		}
		total += o2.At
	}
	if total != 250 {
		t.Fatalf("committed offsets sum to %d, want 250", total)
	}
	produceKeyed(t, b, topic, 250, 10)
	third := consume(b, 10)
	if len(third) != 10 {
		t.Fatalf("after the restart the consumer read %d records, want the 10 new ones: %v", len(third), third)
	}
	listed, err := adm.ListGroups(ctxTimeout(t, 10*time.Second))
	if err != nil || len(listed.Groups()) != 1 || listed.Groups()[0] != "resumers" {
		t.Fatalf("ListGroups after restart: %v %v", listed.Groups(), err)
	}

	// OffsetDelete (the group has no members now) removes one
	// partition's commit; the other stays, also after a restart.
	deleted, err := adm.DeleteOffsets(ctxTimeout(t, 10*time.Second), "resumers", kadm.TopicsSet{topic: {0: {}}})
	if err != nil || deleted.Error() != nil {
		t.Fatalf("DeleteOffsets: %v %v", err, deleted.Error())
	}
	b.Close()
	b = groupBroker(t, dir)
	defer b.Close()
	adm = kadm.NewClient(client(t, b))
	left, err := adm.FetchOffsets(ctxTimeout(t, 10*time.Second), "resumers")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := left.Lookup(topic, 0); ok {
		t.Fatal("partition 0's commit survived OffsetDelete and a restart")
	}
	if o, ok := left.Lookup(topic, 1); !ok || o.At <= 0 {
		t.Fatalf("partition 1's commit lost: %+v %v", o, ok)
	}
}

// TestGroupErrors: bad requests get Kafka's codes and the group keeps
// working.
func TestGroupErrors(t *testing.T) {
	b := groupBroker(t, t.TempDir())
	defer b.Close()
	createTopic(t, b, "errs", 1)
	c := client(t, b)
	ctx := ctxTimeout(t, 30*time.Second)
	code := func(name string, got, want int16) {
		t.Helper()
		if got != want {
			t.Errorf("%s: code %d (%v), want %d (%v)", name, got, kerr.ErrorForCode(got), want, kerr.ErrorForCode(want))
		}
	}

	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = "nobody", "ghost", 1
	resp, err := hb.RequestWith(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	code("heartbeat, unknown group", resp.ErrorCode, kerr.UnknownMemberID.Code)

	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis, join.ProtocolType = "g", 10, 1000, "consumer"
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 0, 0, 0, 0, 0}}}
	jresp, err := join.RequestWith(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	code("join, session timeout 10 ms", jresp.ErrorCode, kerr.InvalidSessionTimeout.Code)

	join.SessionTimeoutMillis = 6000
	join.Protocols = nil
	jresp, _ = join.RequestWith(ctx, c)
	code("join, no protocols", jresp.ErrorCode, kerr.InconsistentGroupProtocol.Code)

	join.Group = ""
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 0, 0, 0, 0, 0}}}
	jresp, _ = join.RequestWith(ctx, c)
	code("join, empty group id", jresp.ErrorCode, kerr.InvalidGroupID.Code)

	// A real member, then a join of the wrong protocol type.
	id, gen := rawLeader(t, c, "g")
	join.Group, join.ProtocolType, join.MemberID = "g", "connect", ""
	jresp, _ = join.RequestWith(ctx, c)
	code("join, other protocol type", jresp.ErrorCode, kerr.InconsistentGroupProtocol.Code)
	join.ProtocolType, join.MemberID = "consumer", "not-a-member"
	jresp, _ = join.RequestWith(ctx, c)
	code("join, unknown member id", jresp.ErrorCode, kerr.UnknownMemberID.Code)

	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.MemberID, sync.Generation = "g", id, gen-1
	sresp, _ := sync.RequestWith(ctx, c)
	code("sync, stale generation", sresp.ErrorCode, kerr.IllegalGeneration.Code)
	hb.Group, hb.MemberID, hb.Generation = "g", id, gen+5
	resp, _ = hb.RequestWith(ctx, c)
	code("heartbeat, wrong generation", resp.ErrorCode, kerr.IllegalGeneration.Code)

	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.MemberID, commit.Generation = "g", id, gen
	big := strings.Repeat("m", 5000)
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "errs", Partitions: []kmsg.OffsetCommitRequestTopicPartition{
		{Partition: 0, Offset: 5, LeaderEpoch: -1, Metadata: &big},
	}}, {Topic: "no-such-topic", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1, LeaderEpoch: -1}}}}
	cresp, err := commit.RequestWith(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	code("commit, metadata of 5000 bytes", cresp.Topics[0].Partitions[0].ErrorCode, kerr.OffsetMetadataTooLarge.Code)
	code("commit, unknown topic", cresp.Topics[1].Partitions[0].ErrorCode, kerr.UnknownTopicOrPartition.Code)
	commit.MemberID = "ghost"
	commit.Topics = commit.Topics[:1]
	commit.Topics[0].Partitions[0].Metadata = nil
	cresp, _ = commit.RequestWith(ctx, c)
	code("commit, unknown member", cresp.Topics[0].Partitions[0].ErrorCode, kerr.UnknownMemberID.Code)
	commit.MemberID, commit.Generation = "", -1
	cresp, _ = commit.RequestWith(ctx, c)
	code("simple commit to a group with members", cresp.Topics[0].Partitions[0].ErrorCode, kerr.UnknownMemberID.Code)

	adm := kadm.NewClient(c)
	deleted, err := adm.DeleteGroups(ctx, "g", "never-existed")
	if err != nil {
		t.Fatal(err)
	}
	if !errorsIs(deleted["g"].Err, kerr.NonEmptyGroup) || !errorsIs(deleted["never-existed"].Err, kerr.GroupIDNotFound) {
		t.Fatalf("delete groups: %v / %v", deleted["g"].Err, deleted["never-existed"].Err)
	}

	// A member with 2 MiB of protocol metadata is served and the group
	// still works afterwards.
	huge := kmsg.NewPtrJoinGroupRequest()
	huge.Group, huge.SessionTimeoutMillis, huge.RebalanceTimeoutMillis, huge.ProtocolType = "huge", 6000, 5000, "consumer"
	huge.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: make([]byte, 2<<20)}}
	huge.MemberID = "" // v4+: first answer is MEMBER_ID_REQUIRED
	hresp, err := huge.RequestWith(ctx, c)
	if err != nil || hresp.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("huge join: %v %d", err, hresp.ErrorCode)
	}
	huge.MemberID = hresp.MemberID
	hresp, err = huge.RequestWith(ctx, c)
	if err != nil || hresp.ErrorCode != 0 || len(hresp.Members) != 1 || len(hresp.Members[0].ProtocolMetadata) != 2<<20 {
		t.Fatalf("huge join, second: %v %d", err, hresp.ErrorCode)
	}
	hsync := kmsg.NewPtrSyncGroupRequest()
	hsync.Group, hsync.MemberID, hsync.Generation = "huge", hresp.MemberID, hresp.Generation
	hsync.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: hresp.MemberID, MemberAssignment: []byte("mine")}}
	hsresp, err := hsync.RequestWith(ctx, c)
	if err != nil || hsresp.ErrorCode != 0 || string(hsresp.MemberAssignment) != "mine" {
		t.Fatalf("huge sync: %v %d %q", err, hsresp.ErrorCode, hsresp.MemberAssignment)
	}
}

func errorsIs(err error, target *kerr.Error) bool {
	e, ok := err.(*kerr.Error)
	return ok && e.Code == target.Code
}

// rawLeader makes a one-member group with hand-made requests and returns
// the member id and generation; the assignment is "x".
func rawLeader(t *testing.T, c *kgo.Client, group string) (string, int32) {
	t.Helper()
	ctx := ctxTimeout(t, 10*time.Second)
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis, join.ProtocolType = group, 30000, 5000, "consumer"
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 0, 0, 0, 0, 0}}}
	resp, err := join.RequestWith(ctx, c)
	if err != nil || resp.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("join: %v %d", err, resp.ErrorCode)
	}
	join.MemberID = resp.MemberID
	if resp, err = join.RequestWith(ctx, c); err != nil || resp.ErrorCode != 0 || resp.LeaderID != resp.MemberID {
		t.Fatalf("join with id: %v %+v", err, resp)
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.MemberID, sync.Generation = group, resp.MemberID, resp.Generation
	sync.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: resp.MemberID, MemberAssignment: []byte("x")}}
	sresp, err := sync.RequestWith(ctx, c)
	if err != nil || sresp.ErrorCode != 0 || string(sresp.MemberAssignment) != "x" {
		t.Fatalf("sync: %v %+v", err, sresp)
	}
	return resp.MemberID, resp.Generation
}

// TestGroupStaticMembership: a franz-go member with group.instance.id
// restarts within its session; it gets its partitions back and the other
// member sees no rebalance.
func TestGroupStaticMembership(t *testing.T) {
	b := groupBroker(t, t.TempDir())
	defer b.Close()
	const topic = "static"
	createTopic(t, b, topic, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	steady := newMember(t, b, "steady", "statics", topic, kgo.Balancers(kgo.RangeBalancer()), kgo.InstanceID("steady-1"))
	defer steady.client.Close()
	go steady.poll(ctx)
	restarting := newMember(t, b, "restarting", "statics", topic, kgo.Balancers(kgo.RangeBalancer()), kgo.InstanceID("restarting-1"))
	go restarting.poll(ctx)
	waitFor(t, 30*time.Second, "two static members sharing four partitions", func() bool { return assignedAll(4, steady, restarting) })
	before := restarting.partitions()
	steady.mu.Lock()
	callsBefore := steady.assignedCalls
	steady.mu.Unlock()

	restarting.client.Close() // a static member does not send LeaveGroup
	again := newMember(t, b, "restarting", "statics", topic, kgo.Balancers(kgo.RangeBalancer()), kgo.InstanceID("restarting-1"))
	defer again.client.Close()
	go again.poll(ctx)
	waitFor(t, 20*time.Second, "the restarted member to get its partitions back", func() bool { return len(again.partitions()) == len(before) })
	if fmt.Sprint(again.partitions()) != fmt.Sprint(before) {
		t.Fatalf("restarted static member owns %v, had %v", again.partitions(), before)
	}
	time.Sleep(time.Second)
	steady.mu.Lock()
	defer steady.mu.Unlock()
	if steady.assignedCalls != callsBefore {
		t.Fatalf("the steady member was rebalanced %d times while the static member restarted", steady.assignedCalls-callsBefore)
	}
}
