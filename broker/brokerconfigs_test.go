package broker

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// retentionOf is a topic's partition 0 log retention, as its log holds it.
func retentionOf(t *testing.T, b *Broker, topic string) int64 {
	t.Helper()
	tp, ok := b.cluster.Topic(topic)
	if !ok {
		t.Fatalf("no topic %s", topic)
	}
	return tp.Partitions[0].Log.Config().RetentionMillis
}

// TestBrokerConfigsKadm: kadm describes this broker's properties with
// their sources, alters log.retention.ms cluster-wide (it reaches a topic
// without an override, not one with), survives a restart; a static
// property, a wrong broker id and a bad value are refused with nothing
// changed.
func TestBrokerConfigsKadm(t *testing.T) {
	dir := t.TempDir()
	b := testBroker(t, dir, "--log.retention.hours=100")
	defer func() { b.Close() }()
	admin := kadm.NewClient(client(t, b))
	ctx := ctxTimeout(t, 30*time.Second)
	createTopic(t, b, "plain", 1)
	if _, err := admin.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("5000")}, "own"); err != nil {
		t.Fatal(err)
	}
	described, err := admin.DescribeBrokerConfigs(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := described.On("0", nil)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]kadm.Config{}
	for _, c := range rc.Configs {
		byName[c.Key] = c
	}
	if c := byName["log.retention.hours"]; c.MaybeValue() != "100" || c.Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Fatalf("log.retention.hours: %+v", c)
	}
	if c := byName["log.dirs"]; c.MaybeValue() != dir || c.Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Fatalf("log.dirs: %+v", c)
	}
	if c := byName["group.max.size"]; c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("group.max.size: %+v", c)
	}
	if len(byName) != len(knownProperties) {
		t.Fatalf("%d described, %d known", len(byName), len(knownProperties))
	}

	refusals := []struct {
		name, value string
		broker      []int32
		code        error
		says        string
	}{
		{"log.dirs", "/elsewhere", nil, kerr.InvalidRequest, "Cannot update these configs dynamically: Set(log.dirs)"},
		{"log.retention.ms", "soon", nil, kerr.InvalidRequest, "log.retention.ms"},
	}
	for _, r := range refusals {
		resps, err := admin.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: r.name, Value: kadm.StringPtr(r.value)}}, r.broker...)
		if err != nil {
			t.Fatal(err)
		}
		if len(resps) != 1 || !errors.Is(resps[0].Err, r.code) || !strings.Contains(resps[0].ErrMessage, r.says) {
			t.Fatalf("%s=%s: %+v", r.name, r.value, resps)
		}
	}
	// A wrong broker id (kadm routes a broker's resource to that broker,
	// so ask this one directly).
	wrong := kmsg.NewPtrIncrementalAlterConfigsRequest()
	resource := kmsg.NewIncrementalAlterConfigsRequestResource()
	resource.ResourceType, resource.ResourceName = kmsg.ConfigResourceTypeBroker, "7"
	resource.Configs = []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "log.retention.ms", Value: kadm.StringPtr("60000")}}
	wrong.Resources = append(wrong.Resources, resource)
	kresp, err := client(t, b).Broker(0).Request(ctx, wrong)
	if resp, _ := kresp.(*kmsg.IncrementalAlterConfigsResponse); err != nil || resp.Resources[0].ErrorCode != kerr.InvalidRequest.Code || !strings.Contains(*resp.Resources[0].ErrorMessage, "Unexpected broker id, expected 0") {
		t.Fatalf("wrong broker id: %v %+v", err, resp)
	}
	resps, err := admin.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "log.retention.ms", Value: kadm.StringPtr("1")}})
	if err != nil || len(resps) != 1 || !errors.Is(resps[0].Err, kerr.InvalidConfig) {
		t.Fatalf("APPEND to a LONG: %v %+v", err, resps)
	}
	if _, err := admin.ValidateAlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "log.retention.ms", Value: kadm.StringPtr("60000")}}); err != nil {
		t.Fatal(err)
	}
	if got := retentionOf(t, b, "plain"); got != 100*3600*1000 {
		t.Fatalf("a refusal or validate_only changed retention: %d", got)
	}

	resps, err = admin.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "log.retention.ms", Value: kadm.StringPtr("60000")}})
	if err != nil || resps[0].Err != nil {
		t.Fatalf("%v %+v", err, resps)
	}
	if got, own := retentionOf(t, b, "plain"), retentionOf(t, b, "own"); got != 60000 || own != 5000 {
		t.Fatalf("plain %d (want 60000), own %d (want 5000)", got, own)
	}
	cluster, err := admin.DescribeBrokerConfigs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rc, err := cluster.On("", nil); err != nil || len(rc.Configs) != 1 || rc.Configs[0].Key != "log.retention.ms" || rc.Configs[0].Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("cluster default: %+v %v", rc, err)
	}

	b.Close()
	b = testBroker(t, dir, "--log.retention.hours=100")
	if got := retentionOf(t, b, "plain"); got != 60000 {
		t.Fatalf("after restart: %d", got)
	}
	admin = kadm.NewClient(client(t, b))
	resps, err = admin.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "log.retention.ms"}})
	if err != nil || resps[0].Err != nil {
		t.Fatalf("%v %+v", err, resps)
	}
	if got := retentionOf(t, b, "plain"); got != 100*3600*1000 {
		t.Fatalf("DELETE did not revert to the static value: %d", got)
	}
}

// TestBrokerConfigsSarama: sarama's ClusterAdmin describes the broker
// resource and alters it (AlterConfig and IncrementalAlterConfig).
func TestBrokerConfigsSarama(t *testing.T) {
	b := testBroker(t, t.TempDir())
	defer b.Close()
	createTopic(t, b, "plain", 1)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	admin, err := sarama.NewClusterAdmin([]string{b.Addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.BrokerResource, Name: "0"})
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, e := range entries {
		switch {
		case e.Name == "message.max.bytes" && e.Value == "4194304" && e.Source == sarama.SourceStaticBroker && !e.ReadOnly:
			found++
		case e.Name == "log.dirs" && e.ReadOnly:
			found++
		}
	}
	if found != 2 {
		t.Fatalf("message.max.bytes or log.dirs not described right: %+v", entries)
	}
	if err := admin.IncrementalAlterConfig(sarama.BrokerResource, "0", map[string]sarama.IncrementalAlterConfigsEntry{
		"log.retention.ms": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: strPtr("120000")},
	}, false); err != nil {
		t.Fatal(err)
	}
	if got := retentionOf(t, b, "plain"); got != 120000 {
		t.Fatalf("retention %d", got)
	}
	err = admin.AlterConfig(sarama.BrokerResource, "0", map[string]*string{"num.partitions": strPtr("3")}, false)
	if !errors.Is(err, sarama.ErrInvalidRequest) && !strings.Contains(err.Error(), "Cannot update these configs dynamically") {
		t.Fatalf("static property: %v", err)
	}
	// AlterConfigs replaces the set: log.retention.ms goes back to static.
	if err := admin.AlterConfig(sarama.BrokerResource, "0", map[string]*string{"log.retention.bytes": strPtr("1048576")}, false); err != nil {
		t.Fatal(err)
	}
	tp, _ := b.cluster.Topic("plain")
	if got := tp.Partitions[0].Log.Config(); got.RetentionBytes != 1048576 || got.RetentionMillis != 168*3600*1000 {
		t.Fatalf("after AlterConfigs: retention.bytes %d, retention.ms %d", got.RetentionBytes, got.RetentionMillis)
	}
}

// TestBrokerConfigsReachStandby: a cluster-wide dynamic config altered on
// the leader reaches its standby, whose logs apply it.
func TestBrokerConfigsReachStandby(t *testing.T) {
	leader := testBroker(t, t.TempDir(), "--replication.listener=127.0.0.1:0")
	defer leader.Close()
	standby := testBroker(t, t.TempDir(), "--standby.of="+leader.ReplicationAddr(), "--node.id=1")
	defer standby.Close()
	createTopic(t, leader, "mirrored", 1)
	admin := kadm.NewClient(client(t, leader))
	ctx := ctxTimeout(t, 30*time.Second)
	if resps, err := admin.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "log.retention.ms", Value: kadm.StringPtr("90000")}}); err != nil || resps[0].Err != nil {
		t.Fatalf("%v %+v", err, resps)
	}
	for i := 0; ; i++ {
		if tp, ok := standby.cluster.Topic("mirrored"); ok && tp.Partitions[0].Log.Config().RetentionMillis == 90000 {
			break
		}
		if i == 300 {
			t.Fatal("the standby never applied the leader's broker config")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if configs := standby.cluster.BrokerConfigs(); configs[""]["log.retention.ms"] != "90000" {
		t.Fatalf("standby holds %v", configs)
	}
}

func strPtr(s string) *string { return &s }
