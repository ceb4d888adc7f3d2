package meta

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"spool/engine"
)

// ConfigSource is Kafka's DescribeConfigs source code.
type ConfigSource int8

// The sources spool reports.
const (
	SourceTopic          ConfigSource = 1 // DYNAMIC_TOPIC_CONFIG: a topic override
	SourceDynamicBroker  ConfigSource = 2 // DYNAMIC_BROKER_CONFIG: altered for this node
	SourceDynamicDefault ConfigSource = 3 // DYNAMIC_DEFAULT_BROKER_CONFIG: altered cluster-wide
	SourceBroker         ConfigSource = 4 // STATIC_BROKER_CONFIG: from the properties file
	SourceDefault        ConfigSource = 5 // DEFAULT_CONFIG: Kafka's default
)

// ConfigType is Kafka's DescribeConfigs config_type (v3+): the ConfigDef
// type of the config.
type ConfigType int8

// Kafka's config types.
const (
	TypeBoolean  ConfigType = 1
	TypeString   ConfigType = 2
	TypeInt      ConfigType = 3
	TypeShort    ConfigType = 4
	TypeLong     ConfigType = 5
	TypeDouble   ConfigType = 6
	TypeList     ConfigType = 7
	TypeClass    ConfigType = 8
	TypePassword ConfigType = 9
)

// ConfigSynonym is one step of a config's synonym chain, as Kafka's
// DescribeConfigs v1+ answers it: where the value could come from, the
// nearest first.
type ConfigSynonym struct {
	Name, Value string
	Source      ConfigSource
	Null        bool // the value is null (sensitive, or none)
}

// ConfigEntry is one described config.
type ConfigEntry struct {
	Name, Value         string
	Null                bool // the value is null (sensitive, or none)
	IsDefault           bool
	Source              ConfigSource
	ReadOnly, Sensitive bool
	Type                ConfigType
	Documentation       string
	// Synonyms is the chain: the topic override, the broker properties
	// (Kafka's names) set in the properties file, and the default.
	Synonyms []ConfigSynonym
}

// logConfig applies overrides to the broker defaults, checking each.
func (c *Cluster) logConfig(overrides map[string]string) (engine.LogConfig, error) {
	cfg := c.defaults()
	// Apply in name order, so that a check across configs sees the same
	// configuration whatever the map's order.
	names := make([]string, 0, len(overrides))
	for name := range overrides {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		value := overrides[name]
		tc, ok := topicConfigs[name]
		if !ok {
			if why, removed := removedTopicConfigs[name]; removed {
				return cfg, fmt.Errorf("%w: unknown topic config name: %s (%s)", ErrInvalidConfig, name, why)
			}
			return cfg, fmt.Errorf("%w: unknown topic config name: %s", ErrInvalidConfig, name)
		}
		if err := tc.check(value); err != nil {
			return cfg, fmt.Errorf("%w: invalid value %s for configuration %s: %w", ErrInvalidConfig, value, name, err)
		}
		if tc.apply != nil {
			tc.apply(&cfg, strings.TrimSpace(value))
		}
	}
	if err := cfg.Segment.Validate(); err != nil {
		return cfg, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	return cfg, nil
}

// DescribeConfigs lists every topic config of a topic (each of Kafka 4.1's)
// with its value, where the value comes from, its synonym chain, type and
// documentation.
func (c *Cluster) DescribeConfigs(name string) ([]ConfigEntry, error) {
	t, ok := c.Topic(name)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	defaults := c.defaults()
	dynamic := c.BrokerConfigs()
	entries := make([]ConfigEntry, 0, len(topicConfigs))
	for configName, tc := range topicConfigs {
		e := ConfigEntry{Name: configName, Type: tc.kind, Documentation: tc.doc}
		if override, set := t.Configs[configName]; set {
			e.Synonyms = append(e.Synonyms, ConfigSynonym{Name: configName, Value: override, Source: SourceTopic})
		}
		e.Synonyms = append(e.Synonyms, c.brokerSynonyms(&tc, &defaults, dynamic)...)
		head := ConfigSynonym{Source: SourceDefault}
		if len(e.Synonyms) > 0 {
			head = e.Synonyms[0]
		}
		e.Source, e.IsDefault = head.Source, head.Source == SourceDefault
		switch {
		case head.Source == SourceTopic:
			e.Value = head.Value
		case tc.current != nil:
			e.Value = tc.current(&defaults)
		default:
			e.Value = tc.kafkaDef
		}
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	return entries, nil
}

// brokerSynonyms is the broker half of a topic config's synonym chain:
// each of its broker properties altered for this node
// (DYNAMIC_BROKER_CONFIG) or cluster-wide (DYNAMIC_DEFAULT_BROKER_CONFIG)
// or set in the properties file (STATIC_BROKER_CONFIG), then the default (DEFAULT_CONFIG), named after
// the broker property that holds it as Kafka names it (log.retention.hours
// for retention.ms). A broker default that differs from Kafka's without a
// property named (as tests configure a Cluster) is reported under the
// first broker name. A config with no broker property (the replication
// throttles, remote.storage.enable) has only its default, under its own
// name.
func (c *Cluster) brokerSynonyms(tc *topicConfig, defaults *engine.LogConfig, dynamic map[string]map[string]string) []ConfigSynonym {
	var out []ConfigSynonym
	for _, property := range tc.synonyms {
		if v, set := dynamic[c.nodeResource()][property]; set {
			out = append(out, ConfigSynonym{Name: property, Value: v, Source: SourceDynamicBroker})
		}
		if v, set := dynamic[""][property]; set {
			out = append(out, ConfigSynonym{Name: property, Value: v, Source: SourceDynamicDefault})
		}
		if v, set := c.cfg.BrokerProperties[property]; set {
			out = append(out, ConfigSynonym{Name: property, Value: v, Source: SourceBroker})
		}
	}
	if len(out) == 0 && tc.current != nil && len(tc.synonyms) > 0 {
		if v := tc.current(defaults); v != tc.kafkaDef {
			out = append(out, ConfigSynonym{Name: tc.synonyms[0], Value: v, Source: SourceBroker})
		}
	}
	name, value := tc.defaultSynonym, tc.defaultSynonymValue
	if name == "" && len(tc.synonyms) > 0 {
		name = tc.synonyms[0]
	}
	if value == "" {
		value = tc.kafkaDef
	}
	if name == "" {
		return out
	}
	return append(out, ConfigSynonym{Name: name, Value: value, Source: SourceDefault})
}

// parseLong reads a LONG as Kafka's ConfigDef does: trimmed, base 10.
func parseLong(value string) (int64, error) {
	v, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("expected value to be a 64-bit integer (long)")
	}
	return v, nil
}

// parseInt32 reads an INT: trimmed, base 10, within 32 bits.
func parseInt32(value string) (int64, error) {
	v, err := strconv.ParseInt(strings.TrimSpace(value), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("expected value to be a 32-bit integer")
	}
	return v, nil
}

// mustLong parses a value check has accepted.
func mustLong(value string) int64 {
	v, _ := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
	return v
}

// ApplyBrokerDefault sets a topic config's broker-wide default in cfg
// (the broker property compression.type, say), checked as a topic
// override is checked.
func ApplyBrokerDefault(cfg *engine.LogConfig, property, topicConfigName, value string) error {
	tc, ok := topicConfigs[topicConfigName]
	if !ok {
		return fmt.Errorf("%s is no topic config", topicConfigName)
	}
	if err := tc.check(value); err != nil {
		return fmt.Errorf("%s=%q: %w", property, value, err)
	}
	if tc.apply != nil {
		tc.apply(cfg, strings.TrimSpace(value))
	}
	return nil
}
