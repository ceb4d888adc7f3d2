package meta

import (
	"errors"
	"math"
	"strings"
	"testing"

	"spool/engine"
	"spool/internal/kafkadefs"
)

func TestTopicConfigsAreKafkas(t *testing.T) {
	if len(topicConfigs) != len(kafkadefs.TopicConfigs) {
		t.Errorf("%d configs, Kafka 4.1 has %d", len(topicConfigs), len(kafkadefs.TopicConfigs))
	}
	for name, def := range kafkadefs.TopicConfigs {
		tc, ok := topicConfigs[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if tc.kafkaDef != def {
			t.Errorf("%s default %q, want %q", name, tc.kafkaDef, def)
		}
		if err := tc.check(def); err != nil {
			t.Errorf("%s refuses its default %q: %v", name, def, err)
		}
		if tc.doc == "" || tc.kind == 0 {
			t.Errorf("%s lacks documentation or type", name)
		}
	}
}

// TestTopicConfigValidation checks values as Kafka's ConfigDef does: good
// ones take effect, bad ones are INVALID_CONFIG naming the config.
func TestTopicConfigValidation(t *testing.T) {
	c, shards := openCluster(t, t.TempDir(), false)
	defer closeCluster(t, c, shards)
	good := map[string][]string{
		"compression.type":                        {"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"},
		"compression.gzip.level":                  {"-1", "1", "9", " 5 "},
		"compression.lz4.level":                   {"1", "17"},
		"compression.zstd.level":                  {"-131072", "0", "22"},
		"cleanup.policy":                          {"compact", "compact,delete", "delete, compact"},
		"leader.replication.throttled.replicas":   {"", "*", "0:1,1:1", " 0:0 "},
		"follower.replication.throttled.replicas": {"*"},
		"preallocate":                             {"TRUE", "false"},
		"local.retention.ms":                      {"-2", "-1", "1000"},
		"retention.bytes":                         {"-5", "100"},
		"min.insync.replicas":                     {"1", "3"},
		"index.interval.bytes":                    {"0"},
		"segment.index.bytes":                     {"4"},
		"flush.ms":                                {"0"},
		"message.timestamp.before.max.ms":         {"0", "3600000"},
		"unclean.leader.election.enable":          {"true"},
		"remote.storage.enable":                   {"false"},
		"max.compaction.lag.ms":                   {"1"},
	}
	for name, values := range good {
		for _, v := range values {
			if _, err := c.logConfig(map[string]string{name: v}); err != nil {
				t.Errorf("%s=%q refused: %v", name, v, err)
			}
		}
	}
	bad := map[string][]string{
		"compression.type":                      {"none", "GZIP", ""},
		"compression.gzip.level":                {"0", "10", "-2", "x"},
		"compression.lz4.level":                 {"0", "18"},
		"compression.zstd.level":                {"23", "-131073"},
		"cleanup.policy":                        {"", "keep"},
		"leader.replication.throttled.replicas": {"0", "a:b", "0:1,"},
		"preallocate":                           {"yes", "1"},
		"local.retention.ms":                    {"-3"},
		"retention.ms":                          {"-2", "soon"},
		"min.insync.replicas":                   {"0", "2147483648"},
		"segment.bytes":                         {"100", "4294967296"},
		"segment.index.bytes":                   {"3"},
		"segment.ms":                            {"0"},
		"segment.jitter.ms":                     {"-1"},
		"max.compaction.lag.ms":                 {"0"},
		"message.timestamp.after.max.ms":        {"-1"},
		"message.timestamp.type":                {"createtime"},
		"min.cleanable.dirty.ratio":             {"1.5", "-0.1", "half"},
		"remote.storage.enable":                 {"true", "maybe"},
		"flush.messages":                        {"0"},
		"max.message.bytes":                     {"-1"},
	}
	for name, values := range bad {
		for _, v := range values {
			_, err := c.logConfig(map[string]string{name: v})
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%q: %v, want INVALID_CONFIG naming it", name, v, err)
			}
		}
	}
	for _, removed := range []string{"message.timestamp.difference.max.ms", "message.downconversion.enable", "message.format.version", "confluent.tier.enable"} {
		if _, err := c.logConfig(map[string]string{removed: "1"}); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), removed) {
			t.Errorf("%s: %v", removed, err)
		}
	}
	if _, err := c.logConfig(map[string]string{"remote.storage.enable": "true"}); !errors.Is(err, ErrTieredStorage) {
		t.Errorf("remote.storage.enable=true: %v", err)
	}
	cfg, err := c.logConfig(map[string]string{"compression.type": "zstd", "compression.zstd.level": "7",
		"message.timestamp.before.max.ms": "0", "message.timestamp.after.max.ms": "5000"})
	if err != nil {
		t.Fatal(err)
	}
	before, after, bounded := cfg.TimestampWindow()
	if cfg.Compression != engine.CompressionZstd || cfg.ZstdLevel != 7 || before != 0 || after != 5000 || !bounded {
		t.Fatalf("applied: %v %d window %d %d %v", cfg.Compression, cfg.ZstdLevel, before, after, bounded)
	}
	defaults := c.cfg.Defaults.WithDefaults()
	if before, after, bounded := defaults.TimestampWindow(); bounded || before != math.MaxInt64 || after != math.MaxInt64 {
		t.Fatalf("default window %d %d %v", before, after, bounded)
	}
}

// TestDescribeSynonyms: the chain is the override, then the broker
// properties set, then the default under its broker name.
func TestDescribeSynonyms(t *testing.T) {
	c, shards := openCluster(t, t.TempDir(), false)
	defer closeCluster(t, c, shards)
	c.cfg.BrokerProperties = map[string]string{"log.retention.ms": "3600000"}
	if _, err := c.CreateTopic("s", 1, map[string]string{"retention.ms": "1000", "compression.type": "lz4"}, false); err != nil {
		t.Fatal(err)
	}
	entries, err := c.DescribeConfigs("s")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]ConfigEntry{}
	for _, e := range entries {
		byName[e.Name] = e
	}
	if len(entries) != len(kafkadefs.TopicConfigs) {
		t.Fatalf("%d entries", len(entries))
	}
	r := byName["retention.ms"]
	want := []ConfigSynonym{{Name: "retention.ms", Value: "1000", Source: SourceTopic}, {Name: "log.retention.ms", Value: "3600000", Source: SourceBroker}, {Name: "log.retention.hours", Value: "168", Source: SourceDefault}}
	if r.Value != "1000" || r.Source != SourceTopic || len(r.Synonyms) != 3 || r.Synonyms[0] != want[0] || r.Synonyms[1] != want[1] || r.Synonyms[2] != want[2] || r.Type != TypeLong {
		t.Fatalf("retention.ms: %+v", r)
	}
	if e := byName["unclean.leader.election.enable"]; e.Value != "false" || e.Source != SourceDefault || !e.IsDefault || e.Type != TypeBoolean {
		t.Fatalf("unclean.leader.election.enable: %+v", e)
	}
	if e := byName["leader.replication.throttled.replicas"]; e.Source != SourceDefault || len(e.Synonyms) != 0 || e.Type != TypeList {
		t.Fatalf("throttled replicas: %+v", e)
	}
	if e := byName["compression.type"]; e.Value != "lz4" || e.Source != SourceTopic {
		t.Fatalf("compression.type: %+v", e)
	}
}
