package broker

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestUpdateFeatures drives UpdateFeatures through kadm and reads the
// features back from ApiVersions: metadata.version stays at its one level,
// and features spool lacks cannot be turned on.
func TestUpdateFeatures(t *testing.T) {
	b := testBroker(t, t.TempDir())
	defer b.Close()
	c := client(t, b)
	admin := kadm.NewClient(c)
	ctx := ctxTimeout(t, 30*time.Second)

	updated, err := admin.UpdateFeatures(ctx, false,
		kadm.FeatureUpdate{Feature: "metadata.version", MaxVersionLevel: 7, UpgradeType: 1},
		kadm.FeatureUpdate{Feature: "transaction.version", MaxVersionLevel: 2, UpgradeType: 1},
	)
	if err != nil {
		t.Fatal(err)
	}
	// franz-go speaks v2, whose answer has only a top-level error.
	if got := updated["transaction.version"].Err; !errors.Is(got, kerr.InvalidUpdateVersion) {
		t.Errorf("transaction.version 2: %v", got)
	}
	updated, err = admin.UpdateFeatures(ctx, true, kadm.FeatureUpdate{Feature: "metadata.version", MaxVersionLevel: 7, UpgradeType: 1})
	if err != nil || updated.Error() != nil {
		t.Errorf("metadata.version 7, validate only: %v %v", err, updated.Error())
	}

	versions, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(versions.FinalizedFeatures) != 1 || versions.FinalizedFeatures[0].Name != "metadata.version" || versions.FinalizedFeatures[0].MaxVersionLevel != 7 {
		t.Errorf("finalized features: %+v", versions.FinalizedFeatures)
	}
}

// TestListConfigResources lists topics, the broker and a group through
// kadm, as kafka-configs --describe without an entity name does.
func TestListConfigResources(t *testing.T) {
	b := testBroker(t, t.TempDir(), "--group.initial.rebalance.delay.ms=0")
	defer b.Close()
	c := client(t, b)
	admin := kadm.NewClient(c)
	ctx := ctxTimeout(t, 30*time.Second)
	if created, err := admin.CreateTopic(ctx, 1, 1, nil, "listed"); err != nil || created.Err != nil {
		t.Fatalf("create: %v %v", err, created.Err)
	}
	if _, err := admin.CommitOffsets(ctx, "listed-group", kadm.OffsetsFromRecords(kgo.Record{Topic: "listed", Partition: 0, Offset: 0})); err != nil {
		t.Fatal(err)
	}
	listed, err := admin.ListConfigResources(ctx)
	if err != nil || listed.Err != nil {
		t.Fatalf("list: %v %v", err, listed.Err)
	}
	found := map[kadm.ConfigResourceType][]string{}
	for _, r := range listed.Resources {
		found[r.Type] = append(found[r.Type], r.Name)
	}
	if !slices.Contains(found[kadm.ConfigResourceTopic], "listed") || len(found[kadm.ConfigResourceBroker]) != 1 ||
		!slices.Contains(found[kadm.ConfigResourceGroupConfig], "listed-group") {
		t.Errorf("listed: %v", found)
	}
	listed, err = admin.ListConfigResources(ctx, kadm.ConfigResourceType(3))
	if err != nil || !errors.Is(listed.Err, kerr.UnsupportedVersion) {
		t.Errorf("unknown type: %v %v", err, listed.Err)
	}
}

// TestAlterReplicaLogDirs moves replicas through kadm: to the one log
// directory DescribeLogDirs reports (nothing to do) and elsewhere.
func TestAlterReplicaLogDirs(t *testing.T) {
	b := testBroker(t, t.TempDir())
	defer b.Close()
	admin := kadm.NewClient(client(t, b))
	ctx := ctxTimeout(t, 30*time.Second)
	if created, err := admin.CreateTopic(ctx, 2, 1, nil, "moved"); err != nil || created.Err != nil {
		t.Fatalf("create: %v %v", err, created.Err)
	}
	described, err := admin.DescribeAllLogDirs(ctx, nil)
	if err != nil || len(described) != 1 {
		t.Fatalf("log dirs: %v %v", err, described)
	}
	var dir string
	var node int32
	for broker, dirs := range described {
		node = broker
		for d := range dirs {
			dir = d
		}
	}
	var alter kadm.AlterReplicaLogDirsReq
	alter.Add(dir, kadm.TopicsSet{"moved": {0: {}, 5: {}}})
	alter.Add("/not/a/log/dir", kadm.TopicsSet{"moved": {1: {}}})
	altered, err := admin.AlterBrokerReplicaLogDirs(ctx, node, alter)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[int32]error{0: nil, 5: kerr.UnknownTopicOrPartition, 1: kerr.LogDirNotFound} {
		if got := altered["moved"][p].Err; !errors.Is(got, want) {
			t.Errorf("moved/%d: %v, want %v", p, got, want)
		}
	}
}

// TestClientQuotasSurviveRestart sets quotas through kadm, reads them back
// with Kafka's match semantics, and finds them again after a restart.
func TestClientQuotasSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	b := testBroker(t, dir)
	admin := kadm.NewClient(client(t, b))
	ctx := ctxTimeout(t, 30*time.Second)
	alice := "alice"
	altered, err := admin.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: kadm.ClientQuotaEntity{{Type: "user", Name: &alice}}, Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 4096}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "client-id"}}, Ops: []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Value: 8192}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "user", Name: &alice}}, Ops: []kadm.AlterClientQuotaOp{{Key: "bogus", Value: 1}}},
	})
	if err != nil || len(altered) != 3 || altered[0].Err != nil || altered[1].Err != nil || !errors.Is(altered[2].Err, kerr.InvalidRequest) {
		t.Fatalf("alter: %v %+v", err, altered)
	}
	b.Close()
	b = testBroker(t, dir)
	defer b.Close()
	admin = kadm.NewClient(client(t, b))
	described, err := admin.DescribeClientQuotas(ctx, false, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchName: &alice, MatchType: 0}})
	if err != nil || len(described) != 1 || len(described[0].Values) != 1 || described[0].Values[0].Value != 4096 {
		t.Fatalf("describe alice after restart: %v %+v", err, described)
	}
	described, err = admin.DescribeClientQuotas(ctx, true, []kadm.DescribeClientQuotaComponent{{Type: "client-id", MatchType: 1}})
	if err != nil || len(described) != 1 || described[0].Entity[0].Name != nil {
		t.Fatalf("describe default client id: %v %+v", err, described)
	}
}
