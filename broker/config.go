package broker

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"spool/engine"
	"spool/engine/meta"
	"spool/segment"
)

// Properties are Kafka-style settings: read from a properties file and
// overridden by --name=value flags of the same names. Kafka's names are used
// wherever Kafka has the setting; spool's own settings say so below.
type Properties map[string]string

// property describes one setting spool knows.
type property struct {
	defaultValue string
	help         string
}

// knownProperties is the contract with operators and scripts: a name here
// keeps its meaning. Settings that later issues give meaning to are listed
// already, so a config written for the broker is accepted today.
var knownProperties = map[string]property{
	"log.dirs":                                  {"./data", "data directory (Kafka's; the first of a comma list is used)"},
	"log.dir":                                   {"", "alias of log.dirs"},
	"log.segment.bytes":                         {"1073741824", "segment.bytes default"},
	"log.index.size.max.bytes":                  {"10485760", "capacity of each index file"},
	"log.index.interval.bytes":                  {"4096", "bytes between offset index entries"},
	"log.roll.ms":                               {"604800000", "segment.ms default"},
	"log.roll.hours":                            {"", "segment.ms default, in hours (log.roll.ms wins)"},
	"log.retention.ms":                          {"", "retention.ms default (-1: forever)"},
	"log.retention.minutes":                     {"", "retention.ms default, in minutes"},
	"log.retention.hours":                       {"168", "retention.ms default, in hours"},
	"log.retention.bytes":                       {"-1", "retention.bytes default"},
	"log.retention.check.interval.ms":           {"300000", "how often retention runs"},
	"log.cleaner.enable":                        {"true", "run the log cleaner, which compacts topics with cleanup.policy=compact"},
	"log.cleaner.backoff.ms":                    {"15000", "how long the log cleaner sleeps when no log needs cleaning"},
	"log.cleanup.policy":                        {"delete", "cleanup.policy default: delete, compact, or compact,delete"},
	"log.cleaner.delete.retention.ms":           {"86400000", "delete.retention.ms default: how long tombstones outlive their first cleaning"},
	"log.cleaner.min.cleanable.ratio":           {"0.5", "min.cleanable.dirty.ratio default"},
	"log.cleaner.min.compaction.lag.ms":         {"0", "min.compaction.lag.ms default"},
	"log.flush.interval.ms":                     {"1000", "flush.ms: the interval policy's period, and the bound on acks=1 loss"},
	"log.flush.policy":                          {"group", "spool's own: group (group commit, default), batch (fsync every batch), interval"},
	"log.write.mode":                            {"pwrite", "spool's own: pwrite or mmap, how batches reach the segment file"},
	"log.preallocate":                           {"false", "preallocate default: fallocate each new segment file to segment.bytes (mmap write mode always does)"},
	"log.cache.window.bytes":                    {"67108864", "spool's own: the newest bytes of each partition kept in the page cache; older bytes are dropped from it once durable, and reads of them drop what they read (0: leave the cache to the kernel, as Kafka does)"},
	"message.max.bytes":                         {"1048588", "max.message.bytes default"},
	"compression.type":                          {"producer", "compression.type default: producer (keep the producer's codec), uncompressed, gzip, snappy, lz4 or zstd (recompress batches into it)"},
	"compression.gzip.level":                    {"-1", "compression.gzip.level default: 1-9, or -1"},
	"compression.lz4.level":                     {"9", "compression.lz4.level default: 1-17"},
	"compression.zstd.level":                    {"3", "compression.zstd.level default: -131072 to 22"},
	"log.message.timestamp.before.max.ms":       {"9223372036854775807", "message.timestamp.before.max.ms default: how far in the past a CreateTime record's timestamp may be"},
	"log.message.timestamp.after.max.ms":        {"9223372036854775807", "message.timestamp.after.max.ms default: how far in the future a CreateTime record's timestamp may be"},
	"producer.id.expiration.ms":                 {"86400000", "an idempotent producer idle for longer is forgotten (at start-up and at each retention check); its next batch is then accepted at any sequence"},
	"num.shards":                                {"0", "spool's own: write-path shards (0: one per core)"},
	"pin.cores":                                 {"false", "spool's own: pin each shard's thread to a core"},
	"pin-cores":                                 {"", "alias of pin.cores (--pin-cores)"},
	"admin.listener":                            {"127.0.0.1:9644", "spool's own: admin HTTP (/healthz, /metrics, /debug/pprof); empty turns it off"},
	"listeners":                                 {"PLAINTEXT://127.0.0.1:9092", "Kafka listener"},
	"advertised.listeners":                      {"", "the listener clients are told to use (default: listeners)"},
	"num.partitions":                            {"1", "default partitions of an auto-created topic"},
	"auto.create.topics.enable":                 {"true", "create topics on first use"},
	"node.id":                                   {"0", "this node's id"},
	"socket.request.max.bytes":                  {"104857600", "largest request frame accepted"},
	"connections.max.idle.ms":                   {"600000", "idle connections are closed after this"},
	"socket.request.timeout.ms":                 {"30000", "spool's own: a started request frame must arrive, and a response be written, within this"},
	"fetch.path":                                {"copy", "spool's own: copy (pread + write, the default by measurement) or sendfile, how fetched records reach the socket"},
	"broker.id":                                 {"", "alias of node.id"},
	"min.insync.replicas":                       {"1", "acks=all needs this many in-sync replicas (the leader, and the standby while in sync)"},
	"replica.lag.time.max.ms":                   {"30000", "a standby not caught up for this long leaves the in-sync set"},
	"replication.throttle.bytes.per.second":     {"0", "spool's own: bound on what a leader sends its standby per second (0: none)"},
	"replication.listener":                      {"", "spool's own: HOST:PORT where this node (a leader) serves its hot standby; empty: none"},
	"standby.of":                                {"", "spool's own: HOST:PORT of a leader's replication.listener; this node then follows it as a read-only standby"},
	"offsets.topic.num.partitions":              {"1", "partitions of __consumer_offsets (set when it is first created)"},
	"offsets.topic.segment.bytes":               {"104857600", "segment.bytes of __consumer_offsets"},
	"offsets.retention.minutes":                 {"10080", "committed offsets of a group without members expire after this"},
	"offsets.retention.check.interval.ms":       {"600000", "how often offsets expire and __consumer_offsets is compacted"},
	"offset.metadata.max.bytes":                 {"4096", "largest metadata string of a committed offset"},
	"group.initial.rebalance.delay.ms":          {"3000", "how long the first rebalance of an empty group waits for more members"},
	"group.min.session.timeout.ms":              {"6000", "smallest session timeout a member may ask for"},
	"group.max.session.timeout.ms":              {"1800000", "largest session timeout a member may ask for"},
	"group.max.size":                            {"2147483647", "most members of one group"},
	"max.incremental.fetch.session.cache.slots": {"1000", "fetch sessions (KIP-227) kept for consumers' incremental fetches; 0 turns them off"},
}

// parseProperties reads a properties file: key=value, key:value or
// "key value" lines, # and ! comments, as Java's Properties reads them
// (without line continuations, which Kafka configs do not use).
func parseProperties(path string) (Properties, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	props := Properties{}
	scanner := bufio.NewScanner(f)
	line := 0
	for scanner.Scan() {
		line++
		text := strings.TrimSpace(scanner.Text())
		if text == "" || text[0] == '#' || text[0] == '!' {
			continue
		}
		cut := strings.IndexAny(text, "=: \t")
		if cut < 0 {
			props[text] = ""
			continue
		}
		key := strings.TrimSpace(text[:cut])
		value := strings.TrimSpace(text[cut+1:])
		value = strings.TrimSpace(strings.TrimLeft(value, "=:"))
		props[key] = value
	}
	return props, scanner.Err()
}

// loadProperties applies defaults, then the --config file, then flags.
func LoadProperties(args []string) (Properties, error) {
	props := Properties{}
	for name, p := range knownProperties {
		if p.defaultValue != "" {
			props[name] = p.defaultValue
		}
	}
	var flags []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if !strings.HasPrefix(arg, "--") {
			return nil, fmt.Errorf("unexpected argument %q (settings are --name=value)", arg)
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
		if !hasValue && name == "pin-cores" {
			// The one boolean flag: --pin-cores alone turns it on.
			value, hasValue = "true", true
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("--%s needs a value", name)
			}
			i++
			value = args[i]
		}
		if name == "config" {
			file, err := parseProperties(value)
			if err != nil {
				return nil, err
			}
			for k, v := range file {
				if err := checkName(k); err != nil {
					return nil, fmt.Errorf("%s: %w", value, err)
				}
				props[k] = v
			}
			continue
		}
		flags = append(flags, name, value)
	}
	for i := 0; i < len(flags); i += 2 {
		if err := checkName(flags[i]); err != nil {
			return nil, err
		}
		props[flags[i]] = flags[i+1]
	}
	if v, ok := props["log.dir"]; ok && v != "" {
		props["log.dirs"] = v
	}
	if v, ok := props["pin-cores"]; ok && v != "" {
		props["pin.cores"] = v
	}
	if v, ok := props["broker.id"]; ok && v != "" {
		props["node.id"] = v
	}
	return props, nil
}

func checkName(name string) error {
	if _, ok := knownProperties[name]; ok {
		return nil
	}
	names := make([]string, 0, len(knownProperties))
	for n := range knownProperties {
		names = append(names, n)
	}
	sort.Strings(names)
	return fmt.Errorf("unknown setting %q; known: %s", name, strings.Join(names, ", "))
}

func (p Properties) int64(name string) (int64, error) {
	v, err := strconv.ParseInt(strings.TrimSpace(p[name]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: not an integer", name, p[name])
	}
	return v, nil
}

// logConfig turns the properties into the engine's per-partition config.
func (p Properties) logConfig() (engine.LogConfig, error) {
	var cfg engine.LogConfig
	var errs []error
	var err error
	get := func(name string) int64 {
		v, err := p.int64(name)
		if err != nil {
			errs = append(errs, err)
		}
		return v
	}
	if cfg.Cleanup, err = engine.ParseCleanupPolicy(p["log.cleanup.policy"]); err != nil {
		errs = append(errs, err)
	}
	if cfg.DeleteRetentionMillis = get("log.cleaner.delete.retention.ms"); cfg.DeleteRetentionMillis == 0 {
		cfg.DeleteRetentionMillis = engine.ZeroSetting
	} else if cfg.DeleteRetentionMillis < 0 {
		errs = append(errs, fmt.Errorf("log.cleaner.delete.retention.ms=%d: at least 0", cfg.DeleteRetentionMillis))
	}
	if ratio, parseErr := strconv.ParseFloat(strings.TrimSpace(p["log.cleaner.min.cleanable.ratio"]), 64); parseErr != nil || ratio < 0 || ratio > 1 {
		errs = append(errs, fmt.Errorf("log.cleaner.min.cleanable.ratio=%q: a number in [0, 1]", p["log.cleaner.min.cleanable.ratio"]))
	} else if cfg.MinCleanableDirtyRatio = ratio; ratio == 0 {
		cfg.MinCleanableDirtyRatio = engine.ZeroSetting
	}
	if cfg.MinCompactionLagMillis = get("log.cleaner.min.compaction.lag.ms"); cfg.MinCompactionLagMillis < 0 {
		errs = append(errs, fmt.Errorf("log.cleaner.min.compaction.lag.ms=%d: at least 0", cfg.MinCompactionLagMillis))
	}
	if cfg.ProducerIDExpirationMillis = get("producer.id.expiration.ms"); cfg.ProducerIDExpirationMillis < 1 {
		errs = append(errs, fmt.Errorf("producer.id.expiration.ms=%d: at least 1", cfg.ProducerIDExpirationMillis))
	}
	cfg.Segment.SegmentBytes = get("log.segment.bytes")
	cfg.Segment.IndexBytes = get("log.index.size.max.bytes")
	cfg.Segment.IndexIntervalBytes = get("log.index.interval.bytes")
	switch p["log.write.mode"] {
	case "pwrite":
		cfg.Segment.WriteMode = segment.WritePwrite
	case "mmap":
		cfg.Segment.WriteMode = segment.WriteMmap
	default:
		errs = append(errs, fmt.Errorf("log.write.mode=%q: pwrite or mmap", p["log.write.mode"]))
	}
	switch p["log.preallocate"] {
	case "true", "false":
		cfg.Segment.Preallocate = p["log.preallocate"] == "true"
	default:
		errs = append(errs, fmt.Errorf("log.preallocate=%q: true or false", p["log.preallocate"]))
	}
	if cfg.Segment.CacheWindowBytes = get("log.cache.window.bytes"); cfg.Segment.CacheWindowBytes < 0 {
		errs = append(errs, fmt.Errorf("log.cache.window.bytes=%d: at least 0", cfg.Segment.CacheWindowBytes))
	}
	cfg.SegmentMillis = get("log.roll.ms")
	if _, set := p["log.roll.hours"]; set && p["log.roll.ms"] == knownProperties["log.roll.ms"].defaultValue {
		cfg.SegmentMillis = get("log.roll.hours") * 3600 * 1000
	}
	switch {
	case p["log.retention.ms"] != "":
		cfg.RetentionMillis = get("log.retention.ms")
	case p["log.retention.minutes"] != "":
		cfg.RetentionMillis = get("log.retention.minutes") * 60 * 1000
	default:
		cfg.RetentionMillis = get("log.retention.hours") * 3600 * 1000
	}
	if cfg.RetentionMillis < 0 {
		cfg.RetentionMillis = -1
	}
	cfg.RetentionBytes = get("log.retention.bytes")
	cfg.MaxMessageBytes = get("message.max.bytes")
	cfg.FlushInterval = time.Duration(get("log.flush.interval.ms")) * time.Millisecond
	policy, err := engine.ParseFlushPolicy(p["log.flush.policy"])
	if err != nil {
		errs = append(errs, err)
	}
	cfg.FlushPolicy = policy
	errs = append(errs, p.topicDefaults(&cfg)...)
	if len(errs) > 0 {
		return cfg, errs[0]
	}
	if err := cfg.Segment.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// brokerTopicDefaults are the broker properties that set a topic config's
// default and are checked as that topic config is (meta's table).
var brokerTopicDefaults = [][2]string{
	{"compression.type", "compression.type"},
	{"compression.gzip.level", "compression.gzip.level"},
	{"compression.lz4.level", "compression.lz4.level"},
	{"compression.zstd.level", "compression.zstd.level"},
	{"log.message.timestamp.before.max.ms", "message.timestamp.before.max.ms"},
	{"log.message.timestamp.after.max.ms", "message.timestamp.after.max.ms"},
}

// topicDefaults applies brokerTopicDefaults to cfg.
func (p Properties) topicDefaults(cfg *engine.LogConfig) []error {
	var errs []error
	for _, pair := range brokerTopicDefaults {
		if v, set := p[pair[0]]; set {
			if err := meta.ApplyBrokerDefault(cfg, pair[0], pair[1], v); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

// explicit is the properties the operator set: those that differ from
// spool's defaults (a property set to its default reads as not set).
// DescribeConfigs reports them as STATIC_BROKER_CONFIG synonyms.
func (p Properties) explicit() map[string]string {
	out := map[string]string{}
	for name, value := range p {
		if known, ok := knownProperties[name]; ok && value != known.defaultValue {
			out[name] = value
		}
	}
	return out
}

// describedProperties is knownProperties as DescribeConfigs on the broker
// resource lists them. A password or key (SASL and TLS settings, when
// spool reads them) is sensitive: described as null, as Kafka does.
func describedProperties() []meta.BrokerProperty {
	out := make([]meta.BrokerProperty, 0, len(knownProperties))
	for name, p := range knownProperties {
		sensitive := strings.Contains(name, "password") || strings.HasSuffix(name, ".key") || strings.Contains(name, "secret")
		out = append(out, meta.BrokerProperty{Name: name, Default: p.defaultValue, Doc: p.help, Sensitive: sensitive})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
