package meta

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"spool/engine"
	"spool/segment"
)

// ConfigSource is Kafka's DescribeConfigs source code.
type ConfigSource int8

// The sources spool reports.
const (
	SourceTopic   ConfigSource = 1 // DYNAMIC_TOPIC_CONFIG: a topic override
	SourceBroker  ConfigSource = 4 // STATIC_BROKER_CONFIG: from the properties file
	SourceDefault ConfigSource = 5 // DEFAULT_CONFIG: Kafka's default
)

// ConfigEntry is one described config.
type ConfigEntry struct {
	Name, Value         string
	IsDefault           bool
	Source              ConfigSource
	ReadOnly, Sensitive bool
}

// topicConfig describes one supported topic config: how to apply a value
// to the engine configuration, and how to read the broker default back.
type topicConfig struct {
	apply    func(cfg *engine.LogConfig, value string) error
	current  func(cfg *engine.LogConfig) string
	kafkaDef string
}

func parseInt(value string, min int64) (int64, error) {
	v, err := strconv.ParseInt(value, 10, 64)
	if err != nil || v < min {
		return 0, fmt.Errorf("want an integer ≥ %d", min)
	}
	return v, nil
}

func intConfig(min int64, set func(*engine.LogConfig, int64), get func(*engine.LogConfig) int64, kafkaDefault string) topicConfig {
	return topicConfig{
		apply: func(cfg *engine.LogConfig, value string) error {
			v, err := parseInt(value, min)
			if err != nil {
				return err
			}
			set(cfg, v)
			return nil
		},
		current:  func(cfg *engine.LogConfig) string { return strconv.FormatInt(get(cfg), 10) },
		kafkaDef: kafkaDefault,
	}
}

// stored configs are kept and described; the engine itself does not act on
// them (min.insync.replicas is read by the produce path from the topic).
func storedConfig(valid func(string) bool, kafkaDefault string) topicConfig {
	return topicConfig{
		apply: func(cfg *engine.LogConfig, value string) error {
			if !valid(value) {
				return fmt.Errorf("unsupported value")
			}
			return nil
		},
		kafkaDef: kafkaDefault,
	}
}

// zeroSetting stores an explicit 0 where the engine reads 0 as "the
// default".
func zeroSetting(v int64) int64 {
	if v == 0 {
		return engine.ZeroSetting
	}
	return v
}

// topicConfigs is every topic config spool accepts.
var topicConfigs = map[string]topicConfig{
	"retention.ms":         intConfig(-1, func(c *engine.LogConfig, v int64) { c.RetentionMillis = v }, func(c *engine.LogConfig) int64 { return c.RetentionMillis }, "604800000"),
	"retention.bytes":      intConfig(-1, func(c *engine.LogConfig, v int64) { c.RetentionBytes = v }, func(c *engine.LogConfig) int64 { return c.RetentionBytes }, "-1"),
	"segment.bytes":        intConfig(segment.SegmentBytesMin, func(c *engine.LogConfig, v int64) { c.Segment.SegmentBytes = v }, func(c *engine.LogConfig) int64 { return c.Segment.SegmentBytes }, "1073741824"),
	"segment.ms":           intConfig(1, func(c *engine.LogConfig, v int64) { c.SegmentMillis = v }, func(c *engine.LogConfig) int64 { return c.SegmentMillis }, "604800000"),
	"segment.index.bytes":  intConfig(4096, func(c *engine.LogConfig, v int64) { c.Segment.IndexBytes = v }, func(c *engine.LogConfig) int64 { return c.Segment.IndexBytes }, "10485760"),
	"index.interval.bytes": intConfig(1, func(c *engine.LogConfig, v int64) { c.Segment.IndexIntervalBytes = v }, func(c *engine.LogConfig) int64 { return c.Segment.IndexIntervalBytes }, "4096"),
	"max.message.bytes":    intConfig(0, func(c *engine.LogConfig, v int64) { c.MaxMessageBytes = v }, func(c *engine.LogConfig) int64 { return c.MaxMessageBytes }, "1048588"),
	"flush.ms":             intConfig(1, func(c *engine.LogConfig, v int64) { c.FlushInterval = time.Duration(v) * time.Millisecond }, func(c *engine.LogConfig) int64 { return c.FlushInterval.Milliseconds() }, "1000"),
	"cleanup.policy": {
		apply: func(c *engine.LogConfig, value string) error {
			p, err := engine.ParseCleanupPolicy(value)
			if err != nil {
				return fmt.Errorf("delete, compact, or compact,delete")
			}
			c.Cleanup = p
			return nil
		},
		current:  func(c *engine.LogConfig) string { return c.Cleanup.String() },
		kafkaDef: "delete",
	},
	"delete.retention.ms":   intConfig(0, func(c *engine.LogConfig, v int64) { c.DeleteRetentionMillis = zeroSetting(v) }, func(c *engine.LogConfig) int64 { return max(c.DeleteRetentionMillis, 0) }, "86400000"),
	"min.compaction.lag.ms": intConfig(0, func(c *engine.LogConfig, v int64) { c.MinCompactionLagMillis = v }, func(c *engine.LogConfig) int64 { return c.MinCompactionLagMillis }, "0"),
	"min.cleanable.dirty.ratio": {
		apply: func(c *engine.LogConfig, value string) error {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil || v < 0 || v > 1 {
				return fmt.Errorf("want a number in [0, 1]")
			}
			c.MinCleanableDirtyRatio = v
			if v == 0 {
				c.MinCleanableDirtyRatio = engine.ZeroSetting
			}
			return nil
		},
		current: func(c *engine.LogConfig) string {
			return strconv.FormatFloat(max(c.MinCleanableDirtyRatio, 0), 'g', -1, 64)
		},
		kafkaDef: "0.5",
	},
	"message.timestamp.type": {
		apply: func(c *engine.LogConfig, value string) error {
			if value != "CreateTime" && value != "LogAppendTime" {
				return fmt.Errorf("CreateTime or LogAppendTime")
			}
			c.LogAppendTime = value == "LogAppendTime"
			return nil
		},
		current: func(c *engine.LogConfig) string {
			if c.LogAppendTime {
				return "LogAppendTime"
			}
			return "CreateTime"
		},
		kafkaDef: "CreateTime",
	},
	"preallocate": {
		apply: func(c *engine.LogConfig, value string) error {
			v, err := strconv.ParseBool(value)
			if err != nil || (value != "true" && value != "false") {
				return fmt.Errorf("true or false")
			}
			c.Segment.Preallocate = v
			return nil
		},
		current:  func(c *engine.LogConfig) string { return strconv.FormatBool(c.Segment.Preallocate) },
		kafkaDef: "false",
	},
	"min.insync.replicas": storedConfig(func(v string) bool { n, err := parseInt(v, 1); return err == nil && n <= 2 }, "1"),
}

// logConfig applies overrides to the broker defaults, checking each.
func (c *Cluster) logConfig(overrides map[string]string) (engine.LogConfig, error) {
	cfg := c.cfg.Defaults.WithDefaults()
	for name, value := range overrides {
		tc, ok := topicConfigs[name]
		if !ok {
			return cfg, fmt.Errorf("%w: unknown topic config %q", ErrInvalidConfig, name)
		}
		if err := tc.apply(&cfg, value); err != nil {
			return cfg, fmt.Errorf("%w: %s=%q: %v", ErrInvalidConfig, name, value, err)
		}
	}
	if err := cfg.Segment.Validate(); err != nil {
		return cfg, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	return cfg, nil
}

// DescribeConfigs lists every supported config of a topic with its value
// and where the value comes from.
func (c *Cluster) DescribeConfigs(name string) ([]ConfigEntry, error) {
	t, ok := c.Topic(name)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	defaults := c.cfg.Defaults.WithDefaults()
	entries := make([]ConfigEntry, 0, len(topicConfigs))
	for configName, tc := range topicConfigs {
		e := ConfigEntry{Name: configName}
		switch override, set := t.Configs[configName]; {
		case set:
			e.Value, e.Source = override, SourceTopic
		case tc.current != nil && tc.current(&defaults) != tc.kafkaDef:
			e.Value, e.Source = tc.current(&defaults), SourceBroker
		default:
			e.Value, e.Source, e.IsDefault = tc.kafkaDef, SourceDefault, true
		}
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	return entries, nil
}
