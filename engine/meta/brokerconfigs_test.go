package meta

import (
	"errors"
	"strings"
	"testing"
)

func TestBrokerConfigsApplySurviveAndRefuse(t *testing.T) {
	dir := t.TempDir()
	c, shards := openCluster(t, dir, false)
	c.cfg.Properties = []BrokerProperty{{Name: "log.retention.ms", Doc: "d"}, {Name: "log.retention.hours", Default: "168"}, {Name: "log.dirs", Default: "./data"}}
	if _, err := c.CreateTopic("plain", 2, nil, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTopic("own", 1, map[string]string{"retention.ms": "5000"}, false); err != nil {
		t.Fatal(err)
	}
	set := func(resource, name, value string, validateOnly bool) error {
		return c.AlterBrokerConfigs(resource, []BrokerConfigChange{{Name: name, Value: value}}, false, validateOnly)
	}
	// Refusals change nothing.
	for _, tc := range []struct {
		resource, name, value string
		want                  error
		says                  string
	}{
		{"", "log.dirs", "/x", ErrInvalidRequest, "Cannot update these configs dynamically: Set(log.dirs)"},
		{"7", "log.retention.ms", "1", ErrInvalidRequest, "Unexpected broker id"},
		{"x", "log.retention.ms", "1", ErrInvalidRequest, "must be an integer"},
		{"", "log.retention.ms", "soon", ErrInvalidRequest, "log.retention.ms"},
		{"", "log.segment.bytes", "10", ErrInvalidRequest, "log.segment.bytes"},
	} {
		err := set(tc.resource, tc.name, tc.value, false)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
			t.Fatalf("%s %s=%s: %v", tc.resource, tc.name, tc.value, err)
		}
	}
	if err := c.AlterBrokerConfigs("", []BrokerConfigChange{{Name: "log.retention.ms", Op: 2, Value: "1"}}, false, false); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("APPEND to a LONG: %v", err)
	}
	if err := set("", "log.retention.ms", "60000", true); err != nil {
		t.Fatal(err)
	}
	if got := mustTopic(t, c, "plain").Partitions[0].Log.Config().RetentionMillis; got != -1 {
		t.Fatalf("validate_only or a refusal changed retention: %d", got)
	}
	if err := set("", "log.retention.ms", "60000", false); err != nil {
		t.Fatal(err)
	}
	if err := set("0", "log.retention.hours", "2", false); err != nil {
		t.Fatal(err)
	}
	check := func(c *Cluster, plain int64) {
		t.Helper()
		for _, p := range mustTopic(t, c, "plain").Partitions {
			if got := p.Log.Config().RetentionMillis; got != plain {
				t.Fatalf("plain-%d retention %d, want %d", p.Index, got, plain)
			}
		}
		if got := mustTopic(t, c, "own").Partitions[0].Log.Config().RetentionMillis; got != 5000 {
			t.Fatalf("the override lost: %d", got)
		}
	}
	// log.retention.ms (the cluster default) comes before log.retention.hours
	// (this node's) in the synonym order, as in Kafka.
	check(c, 60000)
	if err := c.AlterBrokerConfigs("", []BrokerConfigChange{{Name: "log.retention.ms", Op: 1}}, false, false); err != nil {
		t.Fatal(err)
	}
	check(c, 2*hourMillis)
	entries, err := c.DescribeBrokerConfigs("0")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch e.Name {
		case "log.retention.hours":
			if e.Value != "2" || e.Source != SourceDynamicBroker || e.ReadOnly || len(e.Synonyms) != 2 || e.Synonyms[1].Source != SourceDefault {
				t.Fatalf("%+v", e)
			}
		case "log.retention.ms":
			if !e.Null || e.Source != SourceDynamicBroker || len(e.Synonyms) != 2 {
				t.Fatalf("%+v", e)
			}
		case "log.dirs":
			if !e.ReadOnly || e.Source != SourceDefault || e.Value != "./data" {
				t.Fatalf("%+v", e)
			}
		}
	}
	closeCluster(t, c, shards)
	c, shards = openCluster(t, dir, false)
	defer closeCluster(t, c, shards)
	check(c, 2*hourMillis)
	// A standby mirrors the leader's: the cluster default set, this node's cleared.
	if n, err := c.MirrorBrokerConfigs(map[string]map[string]string{"": {"log.retention.bytes": "100"}}); err != nil || n != 2 {
		t.Fatalf("mirror: %d %v", n, err)
	}
	if got := mustTopic(t, c, "plain").Partitions[0].Log.Config(); got.RetentionBytes != 100 || got.RetentionMillis != -1 {
		t.Fatalf("mirrored: %+v", got)
	}
}

func TestEditList(t *testing.T) {
	if got := editList("delete", "compact,delete", true); got != "delete,compact" {
		t.Fatal(got)
	}
	if got := editList("delete,compact", "delete", false); got != "compact" {
		t.Fatal(got)
	}
}
