package meta

// Broker configs: DescribeConfigs and (Incremental)AlterConfigs on the
// BROKER resource (type 4), as Kafka's DynamicBrokerConfig serves them.
//
// A broker property has up to four layers, the first set winning, as in
// Kafka:
//
//	DYNAMIC_BROKER_CONFIG          set for this node (resource "<node id>")
//	DYNAMIC_DEFAULT_BROKER_CONFIG  set cluster-wide (resource "")
//	STATIC_BROKER_CONFIG           the properties file or a flag
//	DEFAULT_CONFIG                 spool's default (Kafka's, where Kafka has one)
//
// The dynamic layers hold only the properties of dynamicBrokerConfigs:
// those Kafka can change at runtime and spool applies live. They are
// stored in the metadata log (record set_broker_configs, Name the resource,
// Configs the whole set for it), in the snapshot (state.BrokerConfigs) and
// mirrored to a standby. A change recomputes the topic defaults (the
// broker's engine.LogConfig with the dynamic values on top of the static
// ones) and reconfigures every partition's log on its shard; a topic's own
// override is applied on top of those defaults, so it still wins.
//
// An older binary reading a log with set_broker_configs skips the record
// with a warning ("metadata record skipped") and ignores the snapshot's
// broker_configs field: it starts on the static properties alone, and
// keeps the records it does not know until its next snapshot drops them.

import (
	"errors"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"

	"spool/engine"
)

// ErrInvalidRequest is Kafka's INVALID_REQUEST: what Kafka answers for a
// broker config it cannot change, a bad value of one (KAFKA-13609 keeps
// that code), or the wrong broker id.
var ErrInvalidRequest = errors.New("meta: invalid request")

// ErrBrokerConfigsRefused is Kafka's "Cannot update these configs
// dynamically" (INVALID_REQUEST).
var ErrBrokerConfigsRefused = fmt.Errorf("%w: Cannot update these configs dynamically", ErrInvalidRequest)

// BrokerProperty is one property the broker reads, for DescribeConfigs:
// its name, spool's default ("" none: described as null) and a line of
// documentation. Whether the operator set it comes from
// Config.BrokerProperties.
type BrokerProperty struct {
	Name, Default, Doc string
	// Sensitive values (passwords, keys) are described as null.
	Sensitive bool
}

// dynamicProperty is a broker property spool changes at runtime.
type dynamicProperty struct {
	// topicConfig is the topic config whose default the property sets;
	// "" for producer.id.expiration.ms.
	topicConfig string
	// scale converts the property's unit (hours, minutes) to the topic
	// config's milliseconds; 0 means 1.
	scale int64
	kind  ConfigType
}

const (
	minuteMillis = 60 * 1000
	hourMillis   = 60 * minuteMillis
)

// dynamicBrokerConfigs are the broker properties that are dynamic in
// Kafka 4.1 (DynamicLogConfig's topic-config synonyms and
// producer.id.expiration.ms) and that spool applies live. Every other
// property is refused with ErrBrokerConfigsRefused.
var dynamicBrokerConfigs = map[string]dynamicProperty{
	"log.cleanup.policy":                  {topicConfig: "cleanup.policy", kind: TypeList},
	"compression.type":                    {topicConfig: "compression.type", kind: TypeString},
	"compression.gzip.level":              {topicConfig: "compression.gzip.level", kind: TypeInt},
	"compression.lz4.level":               {topicConfig: "compression.lz4.level", kind: TypeInt},
	"compression.zstd.level":              {topicConfig: "compression.zstd.level", kind: TypeInt},
	"log.cleaner.delete.retention.ms":     {topicConfig: "delete.retention.ms", kind: TypeLong},
	"log.cleaner.min.cleanable.ratio":     {topicConfig: "min.cleanable.dirty.ratio", kind: TypeDouble},
	"log.cleaner.min.compaction.lag.ms":   {topicConfig: "min.compaction.lag.ms", kind: TypeLong},
	"log.flush.interval.ms":               {topicConfig: "flush.ms", kind: TypeLong},
	"log.index.interval.bytes":            {topicConfig: "index.interval.bytes", kind: TypeInt},
	"log.index.size.max.bytes":            {topicConfig: "segment.index.bytes", kind: TypeInt},
	"log.message.timestamp.after.max.ms":  {topicConfig: "message.timestamp.after.max.ms", kind: TypeLong},
	"log.message.timestamp.before.max.ms": {topicConfig: "message.timestamp.before.max.ms", kind: TypeLong},
	"log.preallocate":                     {topicConfig: "preallocate", kind: TypeBoolean},
	"log.retention.bytes":                 {topicConfig: "retention.bytes", kind: TypeLong},
	"log.retention.ms":                    {topicConfig: "retention.ms", kind: TypeLong},
	"log.retention.minutes":               {topicConfig: "retention.ms", scale: minuteMillis, kind: TypeInt},
	"log.retention.hours":                 {topicConfig: "retention.ms", scale: hourMillis, kind: TypeInt},
	"log.roll.ms":                         {topicConfig: "segment.ms", kind: TypeLong},
	"log.roll.hours":                      {topicConfig: "segment.ms", scale: hourMillis, kind: TypeInt},
	"log.segment.bytes":                   {topicConfig: "segment.bytes", kind: TypeInt},
	"message.max.bytes":                   {topicConfig: "max.message.bytes", kind: TypeInt},
	"min.insync.replicas":                 {topicConfig: "min.insync.replicas", kind: TypeInt},
	"producer.id.expiration.ms":           {kind: TypeInt},
}

// IsDynamicBrokerConfig reports whether a broker property can be altered
// at runtime.
func IsDynamicBrokerConfig(name string) bool {
	_, ok := dynamicBrokerConfigs[name]
	return ok
}

// topicValue is a dynamic value in its topic config's unit, checked as
// that topic config is.
func (d dynamicProperty) topicValue(name, value string) (string, error) {
	if d.topicConfig == "" {
		if err := intAtLeast(1)(value); err != nil {
			return "", fmt.Errorf("invalid value %s for configuration %s: %w", value, name, err)
		}
		return strings.TrimSpace(value), nil
	}
	if d.scale != 0 {
		v, err := parseInt32(value)
		if err != nil {
			return "", fmt.Errorf("invalid value %s for configuration %s: %w", value, name, err)
		}
		value = formatLong(v * d.scale)
	}
	if d.topicConfig == "retention.ms" && strings.HasPrefix(strings.TrimSpace(value), "-") {
		if _, err := parseLong(value); err == nil {
			value = "-1" // any negative retention is "forever", as Kafka reads it
		}
	}
	if err := topicConfigs[d.topicConfig].check(value); err != nil {
		return "", fmt.Errorf("invalid value %s for configuration %s: %w", value, name, err)
	}
	return strings.TrimSpace(value), nil
}

// brokerResource checks a broker resource name: "" (the cluster-wide
// default) or this node's id, as Kafka answers otherwise.
func (c *Cluster) brokerResource(name string) error {
	if name == "" {
		return nil
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return fmt.Errorf("%w: Broker id must be an integer, but it is: %s", ErrInvalidRequest, name)
	}
	if int32(id) != c.cfg.NodeID {
		return fmt.Errorf("%w: Unexpected broker id, expected %d or empty string, but received %s", ErrInvalidRequest, c.cfg.NodeID, name)
	}
	return nil
}

// CheckBrokerLogger checks a BROKER_LOGGER resource's name as Kafka does:
// this node's id.
func (c *Cluster) CheckBrokerLogger(name string) error {
	if name == "" {
		return fmt.Errorf("%w: Broker id must not be empty", ErrInvalidRequest)
	}
	return c.brokerResource(name)
}

func (c *Cluster) nodeResource() string { return strconv.Itoa(int(c.cfg.NodeID)) }

// dynamicValue is a property's dynamic value for this node: its own, then
// the cluster default.
func dynamicValue(dynamic map[string]map[string]string, node, name string) (string, ConfigSource, bool) {
	if v, ok := dynamic[node][name]; ok {
		return v, SourceDynamicBroker, true
	}
	if v, ok := dynamic[""][name]; ok {
		return v, SourceDynamicDefault, true
	}
	return "", 0, false
}

// topicDefaults is the broker's topic defaults with the dynamic values on
// top: for each topic config, the first of its broker synonyms set in any
// layer decides; a dynamic value applies, a static one is already in
// cfg.Defaults.
func (c *Cluster) topicDefaults(dynamic map[string]map[string]string) (engine.LogConfig, error) {
	cfg := c.cfg.Defaults.WithDefaults()
	node := c.nodeResource()
	names := make([]string, 0, len(topicConfigs))
	for name := range topicConfigs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		tc := topicConfigs[name]
		for _, property := range tc.synonyms {
			if v, _, ok := dynamicValue(dynamic, node, property); ok {
				value, err := dynamicBrokerConfigs[property].topicValue(property, v)
				if err != nil {
					return cfg, err
				}
				if tc.apply != nil {
					tc.apply(&cfg, value)
				}
				break
			}
			if _, static := c.cfg.BrokerProperties[property]; static {
				break
			}
		}
	}
	if v, _, ok := dynamicValue(dynamic, node, "producer.id.expiration.ms"); ok {
		cfg.ProducerIDExpirationMillis = mustLong(v)
	}
	if err := cfg.Segment.Validate(); err != nil {
		return cfg, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	return cfg, nil
}

// defaults is the current topic defaults. Any goroutine.
func (c *Cluster) defaults() engine.LogConfig {
	if d := c.dynamicDefaults.Load(); d != nil {
		return *d
	}
	return c.cfg.Defaults.WithDefaults()
}

// MinInsyncReplicas is the broker's min.insync.replicas: the dynamic value
// if one is set, else static. Any goroutine.
func (c *Cluster) MinInsyncReplicas(static int) int {
	if v := c.dynamicMinISR.Load(); v > 0 {
		return int(v)
	}
	return static
}

// BrokerConfigChange is one operation of an AlterConfigs or
// IncrementalAlterConfigs on a broker resource.
type BrokerConfigChange struct {
	Name string
	// Op is 0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT (Kafka's codes);
	// AlterConfigs (33) replaces the whole set and uses only SET.
	Op    int8
	Value string
}

// AlterBrokerConfigs changes the dynamic configs of a broker resource:
// "" (cluster-wide default) or this node's id. replace (AlterConfigs)
// makes changes the whole set; otherwise each change edits it. Nothing
// changes unless every change checks.
func (c *Cluster) AlterBrokerConfigs(resource string, changes []BrokerConfigChange, replace, validateOnly bool) error {
	if c.follower.Load() {
		return ErrFollower
	}
	if err := c.brokerResource(resource); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	configs := map[string]string{}
	if !replace {
		maps.Copy(configs, c.state.BrokerConfigs[resource])
	}
	var refused []string
	for _, ch := range changes {
		p, ok := dynamicBrokerConfigs[ch.Name]
		if !ok {
			refused = append(refused, ch.Name)
			continue
		}
		if err := editConfig(configs, p, ch, c.currentBrokerValue(resource, ch.Name)); err != nil {
			return err
		}
	}
	if len(refused) > 0 {
		sort.Strings(refused)
		return fmt.Errorf("%w: Set(%s)", ErrBrokerConfigsRefused, strings.Join(refused, ", "))
	}
	for name, value := range configs {
		if _, err := dynamicBrokerConfigs[name].topicValue(name, value); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
		}
	}
	dynamic := maps.Clone(c.state.BrokerConfigs)
	if dynamic == nil {
		dynamic = map[string]map[string]string{}
	}
	dynamic[resource] = configs
	defaults, err := c.topicDefaults(dynamic)
	if err != nil || validateOnly {
		return err
	}
	if err := c.commit(&record{Type: "set_broker_configs", Name: resource, Configs: configs}); err != nil {
		return err
	}
	return c.reconfigure(defaults)
}

// editConfig applies one change to configs: SET and DELETE for any
// config, APPEND and SUBTRACT only for a list (Kafka: INVALID_CONFIG).
func editConfig(configs map[string]string, p dynamicProperty, ch BrokerConfigChange, current string) error {
	switch ch.Op {
	case 0:
		configs[ch.Name] = ch.Value
	case 1:
		delete(configs, ch.Name)
	case 2, 3:
		if p.kind != TypeList {
			verb := "APPEND"
			if ch.Op == 3 {
				verb = "SUBTRACT"
			}
			return fmt.Errorf("%w: Can't %s to key %s because its type is not LIST.", ErrInvalidConfig, verb, ch.Name)
		}
		configs[ch.Name] = editList(current, ch.Value, ch.Op == 2)
	default:
		return fmt.Errorf("%w: unknown operation %d for %s", ErrInvalidRequest, ch.Op, ch.Name)
	}
	return nil
}

// editList appends (or subtracts) the comma list items to (from) list.
func editList(list, items string, add bool) string {
	var out []string
	has := map[string]bool{}
	for _, v := range strings.Split(list, ",") {
		if v = strings.TrimSpace(v); v != "" && !has[v] {
			out, has[v] = append(out, v), true
		}
	}
	for _, v := range strings.Split(items, ",") {
		v = strings.TrimSpace(v)
		switch {
		case v == "":
		case add && !has[v]:
			out, has[v] = append(out, v), true
		case !add && has[v]:
			out = slicesDelete(out, v)
			delete(has, v)
		}
	}
	return strings.Join(out, ",")
}

func slicesDelete(list []string, v string) []string {
	kept := list[:0]
	for _, s := range list {
		if s != v {
			kept = append(kept, s)
		}
	}
	return kept
}

// currentBrokerValue is a property's value as a resource sees it (for
// APPEND and SUBTRACT): its dynamic value, the static one, the default.
// Under c.mu.
func (c *Cluster) currentBrokerValue(resource, name string) string {
	if v, ok := c.state.BrokerConfigs[resource][name]; ok {
		return v
	}
	if resource != "" {
		if v, ok := c.state.BrokerConfigs[""][name]; ok {
			return v
		}
	}
	if v, ok := c.cfg.BrokerProperties[name]; ok {
		return v
	}
	for _, p := range c.cfg.Properties {
		if p.Name == name {
			return p.Default
		}
	}
	return ""
}

// reconfigure publishes new topic defaults and reconfigures every
// partition's log on its shard. Under c.mu.
func (c *Cluster) reconfigure(defaults engine.LogConfig) error {
	c.dynamicDefaults.Store(&defaults)
	c.dynamicMinISR.Store(0)
	if v, _, ok := dynamicValue(c.state.BrokerConfigs, c.nodeResource(), "min.insync.replicas"); ok {
		c.dynamicMinISR.Store(int32(mustLong(v)))
	}
	var errs []error
	for _, t := range c.Topics() {
		cfg, err := c.logConfig(t.Configs)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.Name, err))
			continue
		}
		for _, p := range t.Partitions {
			var setErr error
			if err := p.Shard.Do(func() { setErr = p.Log.SetConfig(cfg) }); err != nil {
				setErr = err
			}
			if setErr != nil {
				errs = append(errs, fmt.Errorf("%s-%d: %w", t.Name, p.Index, setErr))
			}
		}
	}
	return errors.Join(errs...)
}

// openBrokerConfigs computes the topic defaults from the replayed state
// at Open, before any partition opens: the dynamic values win over the
// static properties, as in Kafka. A stored value that no longer checks is
// logged and the static defaults used.
func (c *Cluster) openBrokerConfigs() {
	defaults, err := c.topicDefaults(c.state.BrokerConfigs)
	if err != nil {
		c.logger.Error("dynamic broker configs do not check; starting on the static properties", "error", err)
		return
	}
	c.dynamicDefaults.Store(&defaults)
	if v, _, ok := dynamicValue(c.state.BrokerConfigs, c.nodeResource(), "min.insync.replicas"); ok {
		c.dynamicMinISR.Store(int32(mustLong(v)))
	}
}

// applyBrokerConfigs applies a set_broker_configs record to the state.
func (s *state) applyBrokerConfigs(r *record) {
	if s.BrokerConfigs == nil {
		s.BrokerConfigs = map[string]map[string]string{}
	}
	if len(r.Configs) == 0 {
		delete(s.BrokerConfigs, r.Name)
		return
	}
	s.BrokerConfigs[r.Name] = maps.Clone(r.Configs)
}

// BrokerConfigs is every broker resource's dynamic configs (a copy), as
// a leader sends them to its standby.
func (c *Cluster) BrokerConfigs() map[string]map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]map[string]string, len(c.state.BrokerConfigs))
	for k, v := range c.state.BrokerConfigs {
		out[k] = maps.Clone(v)
	}
	return out
}

// MirrorBrokerConfigs makes this node's dynamic broker configs the
// leader's (a standby calls it with each BrokerConfigs frame), one record
// per resource that differs, then reconfigures the logs. A standby
// applies the cluster default and its own node id's, as a Kafka broker
// does; the leader's per-broker configs are kept and described only.
func (c *Cluster) MirrorBrokerConfigs(leader map[string]map[string]string) (changed int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	resources := map[string]bool{}
	for k := range leader {
		resources[k] = true
	}
	for k := range c.state.BrokerConfigs {
		resources[k] = true
	}
	for resource := range resources {
		if maps.Equal(leader[resource], c.state.BrokerConfigs[resource]) {
			continue
		}
		if err := c.commit(&record{Type: "set_broker_configs", Name: resource, Configs: leader[resource]}); err != nil {
			return changed, err
		}
		changed++
	}
	if changed == 0 {
		return 0, nil
	}
	defaults, err := c.topicDefaults(c.state.BrokerConfigs)
	if err != nil {
		return changed, err
	}
	return changed, c.reconfigure(defaults)
}

// DescribeBrokerConfigs describes a broker resource: for this node's id
// every property the broker reads (Config.Properties) with its value,
// source and synonyms; for "" (the cluster-wide default) only the
// properties set there, as DYNAMIC_DEFAULT_BROKER_CONFIG.
func (c *Cluster) DescribeBrokerConfigs(resource string) ([]ConfigEntry, error) {
	if err := c.brokerResource(resource); err != nil {
		return nil, err
	}
	dynamic := c.BrokerConfigs()
	var entries []ConfigEntry
	if resource == "" {
		for name, value := range dynamic[""] {
			e := ConfigEntry{Name: name, Value: value, Source: SourceDynamicDefault, Type: dynamicBrokerConfigs[name].kind, Documentation: c.propertyDoc(name)}
			e.Synonyms = []ConfigSynonym{{Name: name, Value: value, Source: SourceDynamicDefault}}
			entries = append(entries, e)
		}
	} else {
		for _, p := range c.cfg.Properties {
			entries = append(entries, c.describeBrokerProperty(p, dynamic))
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	return entries, nil
}

func (c *Cluster) propertyDoc(name string) string {
	for _, p := range c.cfg.Properties {
		if p.Name == name {
			return p.Doc
		}
	}
	return ""
}

// propertyLayers is one property's own layers, the nearest first.
func (c *Cluster) propertyLayers(name string, dynamic map[string]map[string]string) []ConfigSynonym {
	var out []ConfigSynonym
	if v, ok := dynamic[c.nodeResource()][name]; ok {
		out = append(out, ConfigSynonym{Name: name, Value: v, Source: SourceDynamicBroker})
	}
	if v, ok := dynamic[""][name]; ok {
		out = append(out, ConfigSynonym{Name: name, Value: v, Source: SourceDynamicDefault})
	}
	if v, ok := c.cfg.BrokerProperties[name]; ok {
		out = append(out, ConfigSynonym{Name: name, Value: v, Source: SourceBroker})
	}
	for _, p := range c.cfg.Properties {
		if p.Name == name && p.Default != "" {
			out = append(out, ConfigSynonym{Name: name, Value: p.Default, Source: SourceDefault})
		}
	}
	return out
}

// describeBrokerProperty is one broker property as this node describes
// it. Its synonyms are its own layers, then those of the other broker
// properties that set the same topic config (log.retention.minutes and
// log.retention.hours for log.retention.ms), as Kafka lists them; its
// value is its own nearest layer (null when none), its source the head of
// the chain.
func (c *Cluster) describeBrokerProperty(p BrokerProperty, dynamic map[string]map[string]string) ConfigEntry {
	e := ConfigEntry{Name: p.Name, Documentation: p.Doc, Sensitive: p.Sensitive, Type: brokerPropertyType(p)}
	_, e.ReadOnly = dynamicBrokerConfigs[p.Name]
	e.ReadOnly = !e.ReadOnly
	own := c.propertyLayers(p.Name, dynamic)
	e.Synonyms = own
	if d, ok := dynamicBrokerConfigs[p.Name]; ok && d.topicConfig != "" {
		seen := false
		for _, synonym := range topicConfigs[d.topicConfig].synonyms {
			if synonym == p.Name {
				seen = true
				continue
			}
			if seen {
				e.Synonyms = append(e.Synonyms, c.propertyLayers(synonym, dynamic)...)
			}
		}
	}
	e.Source, e.IsDefault = SourceDefault, true
	if len(e.Synonyms) > 0 {
		e.Source, e.IsDefault = e.Synonyms[0].Source, e.Synonyms[0].Source == SourceDefault
	}
	if len(own) > 0 {
		e.Value = own[0].Value
	} else {
		e.Null = true
	}
	if e.Sensitive {
		e.Null = true
		for i := range e.Synonyms {
			e.Synonyms[i].Null = true
		}
	}
	return e
}

// brokerPropertyType is a property's Kafka ConfigDef type: the dynamic
// table's, else read from its default (a boolean, a number: LONG for
// .ms and .bytes, else INT; otherwise STRING).
func brokerPropertyType(p BrokerProperty) ConfigType {
	if p.Sensitive {
		return TypePassword
	}
	if d, ok := dynamicBrokerConfigs[p.Name]; ok {
		return d.kind
	}
	if p.Default == "true" || p.Default == "false" {
		return TypeBoolean
	}
	if _, err := strconv.ParseInt(p.Default, 10, 64); err == nil {
		if strings.HasSuffix(p.Name, ".ms") || strings.HasSuffix(p.Name, ".bytes") {
			return TypeLong
		}
		return TypeInt
	}
	if strings.Contains(p.Default, ",") || p.Name == "listeners" || p.Name == "log.dirs" {
		return TypeList
	}
	return TypeString
}
