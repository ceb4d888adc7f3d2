package meta

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"spool/engine"
	"spool/segment"
)

// Every topic config of Kafka 4.1 (its LogConfig's ConfigDef), with
// Kafka's type, default, validation and broker synonyms. Each is accepted,
// stored in the metadata log (and so mirrored to a standby with its
// topic), and described. Those with an apply take effect in the engine;
// the rest are kept and described only: docs/ARCHITECTURE.md ("Topic
// configs") says for each what spool does with it.

// topicConfig describes one topic config.
type topicConfig struct {
	kind     ConfigType
	kafkaDef string
	// check validates a value as Kafka's ConfigDef does (type, range, enum).
	check func(value string) error
	// apply sets a checked, trimmed value in the engine configuration; nil
	// for configs spool stores without acting on.
	apply func(cfg *engine.LogConfig, value string)
	// current reads the broker default back from the engine
	// configuration; nil: always Kafka's default.
	current func(cfg *engine.LogConfig) string
	// synonyms are the broker properties that set the default, Kafka's
	// names, the first winning (ServerTopicConfigSynonyms).
	synonyms []string
	// defaultSynonym (and its value) names where Kafka's default lives
	// when it is not synonyms[0] with kafkaDef (retention.ms's default is
	// log.retention.hours=168).
	defaultSynonym, defaultSynonymValue string
	doc                                 string
}

// removedTopicConfigs are names Kafka 4.0 removed; Kafka 4.x refuses them
// as unknown, and so does spool, saying why.
var removedTopicConfigs = map[string]string{
	"message.timestamp.difference.max.ms": "removed in Kafka 4.0 (KIP-937): use message.timestamp.before.max.ms and message.timestamp.after.max.ms",
	"message.format.version":              "removed in Kafka 4.0 (KIP-724): only record format v2 exists",
	"message.downconversion.enable":       "removed in Kafka 4.0 (KIP-724): brokers no longer down-convert",
}

// ErrTieredStorage says a topic asked for tiered storage.
var ErrTieredStorage = errors.New("tiered storage is not offered by this broker (spool has no remote log storage); remote.storage.enable must be false")

const longMax = "9223372036854775807"

func longAtLeast(min int64) func(string) error {
	return func(value string) error {
		v, err := parseLong(value)
		if err != nil {
			return err
		}
		if v < min {
			return fmt.Errorf("value must be at least %d", min)
		}
		return nil
	}
}

func anyLong(value string) error { _, err := parseLong(value); return err }

func intBetween(min, max int64) func(string) error {
	return func(value string) error {
		v, err := parseInt32(value)
		if err != nil {
			return err
		}
		if v < min {
			return fmt.Errorf("value must be at least %d", min)
		}
		if v > max {
			return fmt.Errorf("value must be no more than %d", max)
		}
		return nil
	}
}

func intAtLeast(min int64) func(string) error { return intBetween(min, math.MaxInt32) }

func checkBoolean(value string) error {
	switch strings.ToLower(strings.TrimSpace(value)) {
	case "true", "false":
		return nil
	}
	return fmt.Errorf("expected value to be either true or false")
}

func isTrue(value string) bool { return strings.EqualFold(strings.TrimSpace(value), "true") }

func stringIn(values ...string) func(string) error {
	return func(value string) error {
		for _, v := range values {
			if value == v {
				return nil
			}
		}
		return fmt.Errorf("string must be one of: %s", strings.Join(values, ", "))
	}
}

// checkThrottledReplicas is Kafka's ThrottledReplicaListValidator: empty,
// "*", or a comma list of partitionId:brokerId.
func checkThrottledReplicas(value string) error {
	value = strings.TrimSpace(value)
	if value == "" || value == "*" {
		return nil
	}
	for _, part := range strings.Split(value, ",") {
		partition, broker, ok := strings.Cut(strings.TrimSpace(part), ":")
		_, perr := strconv.ParseInt(strings.TrimSpace(partition), 10, 32)
		_, berr := strconv.ParseInt(strings.TrimSpace(broker), 10, 32)
		if !ok || perr != nil || berr != nil {
			return fmt.Errorf("must be the literal '*' or a list of replicas in the form [PartitionId]:[BrokerId],[PartitionId]:[BrokerId],...")
		}
	}
	return nil
}

func checkGzipLevel(value string) error {
	v, err := parseInt32(value)
	if err != nil {
		return err
	}
	if v != segment.GzipLevelDefault && (v < segment.GzipLevelMin || v > segment.GzipLevelMax) {
		return fmt.Errorf("value must be between %d and %d, or %d", segment.GzipLevelMin, segment.GzipLevelMax, segment.GzipLevelDefault)
	}
	return nil
}

func checkRemoteStorage(value string) error {
	if err := checkBoolean(value); err != nil {
		return err
	}
	if isTrue(value) {
		return ErrTieredStorage
	}
	return nil
}

func checkDirtyRatio(value string) error {
	v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
	if err != nil {
		return fmt.Errorf("expected value to be a double")
	}
	if v < 0 || v > 1 {
		return fmt.Errorf("value must be between 0 and 1")
	}
	return nil
}

func checkCleanupPolicy(value string) error {
	if _, err := engine.ParseCleanupPolicy(value); err != nil {
		return fmt.Errorf("string must be a list of: compact, delete")
	}
	return nil
}

func formatLong(v int64) string { return strconv.FormatInt(v, 10) }

// zeroSetting stores an explicit 0 where the engine reads 0 as "the
// default".
func zeroSetting(v int64) int64 {
	if v == 0 {
		return engine.ZeroSetting
	}
	return v
}

// fromZeroSetting reads such a field back (the default when unset).
func fromZeroSetting(v int64, unset string) string {
	switch v {
	case engine.ZeroSetting:
		return "0"
	case 0:
		return unset
	}
	return formatLong(v)
}

// stored is a config spool keeps and describes without acting on it.
func stored(kind ConfigType, kafkaDefault string, check func(string) error, doc string, synonyms ...string) topicConfig {
	return topicConfig{kind: kind, kafkaDef: kafkaDefault, check: check, doc: doc, synonyms: synonyms}
}

// topicConfigs is every topic config spool accepts: Kafka 4.1's.
var topicConfigs = map[string]topicConfig{
	"cleanup.policy": {
		kind: TypeList, kafkaDef: "delete", check: checkCleanupPolicy,
		apply:    func(c *engine.LogConfig, v string) { c.Cleanup, _ = engine.ParseCleanupPolicy(v) },
		current:  func(c *engine.LogConfig) string { return c.Cleanup.String() },
		synonyms: []string{"log.cleanup.policy"},
		doc:      "delete: old segments go by retention time or size; compact: only the newest record of each key is kept; both may be given.",
	},
	"compression.type": {
		kind: TypeString, kafkaDef: "producer", check: stringIn("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"),
		apply:    func(c *engine.LogConfig, v string) { c.Compression, _ = engine.ParseCompressionType(v) },
		current:  func(c *engine.LogConfig) string { return c.Compression.String() },
		synonyms: []string{"compression.type"},
		doc:      "The codec batches are stored in: producer keeps the producer's; any other codec (or uncompressed) recompresses batches that arrive in another.",
	},
	"compression.gzip.level": {
		kind: TypeInt, kafkaDef: "-1", check: checkGzipLevel,
		apply:    func(c *engine.LogConfig, v string) { c.GzipLevel = int(mustLong(v)) },
		current:  func(c *engine.LogConfig) string { return levelString(c.GzipLevel, segment.GzipLevelDefault) },
		synonyms: []string{"compression.gzip.level"},
		doc:      "The gzip level used when compression.type is gzip: 1 to 9, or -1 for deflate's default.",
	},
	"compression.lz4.level": {
		kind: TypeInt, kafkaDef: "9", check: intBetween(segment.LZ4LevelMin, segment.LZ4LevelMax),
		apply:    func(c *engine.LogConfig, v string) { c.LZ4Level = int(mustLong(v)) },
		current:  func(c *engine.LogConfig) string { return levelString(c.LZ4Level, segment.LZ4LevelDefault) },
		synonyms: []string{"compression.lz4.level"},
		doc:      "The lz4 level used when compression.type is lz4: 1 to 17 (9, the default, is LZ4's fast compressor; spool compresses 10 to 17 as HC 9).",
	},
	"compression.zstd.level": {
		kind: TypeInt, kafkaDef: "3", check: intBetween(segment.ZstdLevelMin, segment.ZstdLevelMax),
		apply: func(c *engine.LogConfig, v string) {
			c.ZstdLevel = int(mustLong(v))
			if c.ZstdLevel == 0 {
				c.ZstdLevel = segment.ZstdLevelDefault // zstd's level 0 is its default
			}
		},
		current:  func(c *engine.LogConfig) string { return levelString(c.ZstdLevel, segment.ZstdLevelDefault) },
		synonyms: []string{"compression.zstd.level"},
		doc:      "The zstd level used when compression.type is zstd: -131072 to 22.",
	},
	"delete.retention.ms": {
		kind: TypeLong, kafkaDef: "86400000", check: longAtLeast(0),
		apply:    func(c *engine.LogConfig, v string) { c.DeleteRetentionMillis = zeroSetting(mustLong(v)) },
		current:  func(c *engine.LogConfig) string { return formatLong(max(c.DeleteRetentionMillis, 0)) },
		synonyms: []string{"log.cleaner.delete.retention.ms"},
		doc:      "How long a tombstone of a compacted topic is kept after the cleaning pass that first saw it.",
	},
	"file.delete.delay.ms": stored(TypeLong, "60000", longAtLeast(0),
		"How long a deleted segment's files wait before they are removed (spool removes them once their last reader is done).",
		"log.segment.delete.delay.ms"),
	"flush.messages": stored(TypeLong, longMax, longAtLeast(1),
		"Force an fsync after this many messages (spool syncs by log.flush.policy instead).",
		"log.flush.interval.messages"),
	"flush.ms": {
		kind: TypeLong, kafkaDef: "1000", check: longAtLeast(0),
		apply: func(c *engine.LogConfig, v string) {
			c.FlushInterval = time.Duration(max(mustLong(v), 1)) * time.Millisecond
		},
		current:  func(c *engine.LogConfig) string { return formatLong(c.FlushInterval.Milliseconds()) },
		synonyms: []string{"log.flush.interval.ms", "log.flush.scheduler.interval.ms"},
		doc:      "The longest time data is kept unsynced: the interval flush policy's period, and the bound on what acks=1 may lose.",
	},
	"follower.replication.throttled.replicas": stored(TypeList, "", checkThrottledReplicas,
		"Replicas whose log replication is throttled on the follower side: partitionId:brokerId pairs, or *."),
	"index.interval.bytes": {
		kind: TypeInt, kafkaDef: "4096", check: intAtLeast(0),
		apply:    func(c *engine.LogConfig, v string) { c.Segment.IndexIntervalBytes = max(mustLong(v), 1) },
		current:  func(c *engine.LogConfig) string { return formatLong(c.Segment.IndexIntervalBytes) },
		synonyms: []string{"log.index.interval.bytes"},
		doc:      "How many bytes of batches lie between two offset index entries.",
	},
	"leader.replication.throttled.replicas": stored(TypeList, "", checkThrottledReplicas,
		"Replicas whose log replication is throttled on the leader side: partitionId:brokerId pairs, or *."),
	"local.retention.bytes": stored(TypeLong, "-2", longAtLeast(-2),
		"With tiered storage, the bytes kept on local disk (-2: retention.bytes).", "log.local.retention.bytes"),
	"local.retention.ms": stored(TypeLong, "-2", longAtLeast(-2),
		"With tiered storage, how long segments stay on local disk (-2: retention.ms).", "log.local.retention.ms"),
	"max.compaction.lag.ms": stored(TypeLong, longMax, longAtLeast(1),
		"The longest a record may stay uncompacted in a compacted topic.", "log.cleaner.max.compaction.lag.ms"),
	"max.message.bytes": {
		kind: TypeInt, kafkaDef: "1048588", check: intAtLeast(0),
		apply:    func(c *engine.LogConfig, v string) { c.MaxMessageBytes = mustLong(v) },
		current:  func(c *engine.LogConfig) string { return formatLong(c.MaxMessageBytes) },
		synonyms: []string{"message.max.bytes"},
		doc:      "The largest record batch accepted, after compression.",
	},
	"message.timestamp.after.max.ms": {
		kind: TypeLong, kafkaDef: longMax, check: longAtLeast(0),
		apply:    func(c *engine.LogConfig, v string) { c.TimestampAfterMaxMillis = zeroSetting(mustLong(v)) },
		current:  func(c *engine.LogConfig) string { return fromZeroSetting(c.TimestampAfterMaxMillis, longMax) },
		synonyms: []string{"log.message.timestamp.after.max.ms"},
		doc:      "With CreateTime, a record whose timestamp is more than this later than the broker's clock is refused.",
	},
	"message.timestamp.before.max.ms": {
		kind: TypeLong, kafkaDef: longMax, check: longAtLeast(0),
		apply:    func(c *engine.LogConfig, v string) { c.TimestampBeforeMaxMillis = zeroSetting(mustLong(v)) },
		current:  func(c *engine.LogConfig) string { return fromZeroSetting(c.TimestampBeforeMaxMillis, longMax) },
		synonyms: []string{"log.message.timestamp.before.max.ms"},
		doc:      "With CreateTime, a record whose timestamp is more than this earlier than the broker's clock is refused.",
	},
	"message.timestamp.type": {
		kind: TypeString, kafkaDef: "CreateTime", check: stringIn("CreateTime", "LogAppendTime"),
		apply: func(c *engine.LogConfig, v string) { c.LogAppendTime = v == "LogAppendTime" },
		current: func(c *engine.LogConfig) string {
			if c.LogAppendTime {
				return "LogAppendTime"
			}
			return "CreateTime"
		},
		synonyms: []string{"log.message.timestamp.type"},
		doc:      "CreateTime keeps the producer's timestamps; LogAppendTime stamps each batch with the broker's clock.",
	},
	"min.cleanable.dirty.ratio": {
		kind: TypeDouble, kafkaDef: "0.5", check: checkDirtyRatio,
		apply: func(c *engine.LogConfig, v string) {
			ratio, _ := strconv.ParseFloat(v, 64)
			c.MinCleanableDirtyRatio = ratio
			if ratio == 0 {
				c.MinCleanableDirtyRatio = engine.ZeroSetting
			}
		},
		current: func(c *engine.LogConfig) string {
			return strconv.FormatFloat(max(c.MinCleanableDirtyRatio, 0), 'g', -1, 64)
		},
		synonyms: []string{"log.cleaner.min.cleanable.ratio"},
		doc:      "The cleaner compacts a log once its uncleaned bytes are at least this share of it.",
	},
	"min.compaction.lag.ms": {
		kind: TypeLong, kafkaDef: "0", check: longAtLeast(0),
		apply:    func(c *engine.LogConfig, v string) { c.MinCompactionLagMillis = mustLong(v) },
		current:  func(c *engine.LogConfig) string { return formatLong(c.MinCompactionLagMillis) },
		synonyms: []string{"log.cleaner.min.compaction.lag.ms"},
		doc:      "The shortest time a record stays uncompacted in a compacted topic.",
	},
	// min.insync.replicas is read by the produce path from the topic's
	// overrides; above the replicas there are, acks=all answers
	// NOT_ENOUGH_REPLICAS, as Kafka does.
	"min.insync.replicas": stored(TypeInt, "1", intAtLeast(1),
		"The replicas that must have a batch before acks=all is answered.", "min.insync.replicas"),
	"preallocate": {
		kind: TypeBoolean, kafkaDef: "false", check: checkBoolean,
		apply:    func(c *engine.LogConfig, v string) { c.Segment.Preallocate = isTrue(v) },
		current:  func(c *engine.LogConfig) string { return strconv.FormatBool(c.Segment.Preallocate) },
		synonyms: []string{"log.preallocate"},
		doc:      "Reserve segment.bytes of disk for each new segment when it is created.",
	},
	"remote.log.copy.disable": stored(TypeBoolean, "false", checkBoolean,
		"With tiered storage, stop copying segments to remote storage."),
	"remote.log.delete.on.disable": stored(TypeBoolean, "false", checkBoolean,
		"With tiered storage, delete remote segments when tiered storage is turned off for the topic."),
	"remote.storage.enable": stored(TypeBoolean, "false", checkRemoteStorage,
		"Tiered storage for the topic; spool offers none, so only false is accepted."),
	"retention.bytes": {
		kind: TypeLong, kafkaDef: "-1", check: anyLong,
		apply:    func(c *engine.LogConfig, v string) { c.RetentionBytes = mustLong(v) },
		current:  func(c *engine.LogConfig) string { return formatLong(c.RetentionBytes) },
		synonyms: []string{"log.retention.bytes"},
		doc:      "The largest a partition may grow before its oldest segments are deleted (-1: no limit).",
	},
	"retention.ms": {
		kind: TypeLong, kafkaDef: "604800000", check: longAtLeast(-1),
		apply:          func(c *engine.LogConfig, v string) { c.RetentionMillis = mustLong(v) },
		current:        func(c *engine.LogConfig) string { return formatLong(c.RetentionMillis) },
		synonyms:       []string{"log.retention.ms", "log.retention.minutes", "log.retention.hours"},
		defaultSynonym: "log.retention.hours", defaultSynonymValue: "168",
		doc: "How long a segment is kept after its newest record before it is deleted (-1: forever).",
	},
	"segment.bytes": {
		// Kafka 4 refuses below 1 MiB; spool takes down to 4 KiB, which
		// its tests use to roll segments quickly.
		kind: TypeInt, kafkaDef: "1073741824", check: intAtLeast(segment.SegmentBytesMin),
		apply:    func(c *engine.LogConfig, v string) { c.Segment.SegmentBytes = mustLong(v) },
		current:  func(c *engine.LogConfig) string { return formatLong(c.Segment.SegmentBytes) },
		synonyms: []string{"log.segment.bytes"},
		doc:      "The size at which a segment is rolled.",
	},
	"segment.index.bytes": {
		kind: TypeInt, kafkaDef: "10485760", check: intAtLeast(4),
		// spool's index files are at least 4 KiB: a smaller value
		// takes 4 KiB.
		apply:    func(c *engine.LogConfig, v string) { c.Segment.IndexBytes = max(mustLong(v), 4096) },
		current:  func(c *engine.LogConfig) string { return formatLong(c.Segment.IndexBytes) },
		synonyms: []string{"log.index.size.max.bytes"},
		doc:      "The capacity of each segment's offset and time index files.",
	},
	"segment.jitter.ms": stored(TypeLong, "0", longAtLeast(0),
		"The most subtracted, at random, from segment.ms for each segment, so that segments do not all roll at once.",
		"log.roll.jitter.ms", "log.roll.jitter.hours"),
	"segment.ms": {
		kind: TypeLong, kafkaDef: "604800000", check: longAtLeast(1),
		apply:          func(c *engine.LogConfig, v string) { c.SegmentMillis = mustLong(v) },
		current:        func(c *engine.LogConfig) string { return formatLong(c.SegmentMillis) },
		synonyms:       []string{"log.roll.ms", "log.roll.hours"},
		defaultSynonym: "log.roll.hours", defaultSynonymValue: "168",
		doc: "The age at which a segment is rolled even if not full.",
	},
	"unclean.leader.election.enable": stored(TypeBoolean, "false", checkBoolean,
		"Let an out-of-sync replica become leader, losing data (spool's standby is promoted by hand: spool promote --unclean).",
		"unclean.leader.election.enable"),
}

// levelString is a compression level as described: the configured one, or
// the codec's default when none is.
func levelString(level, codecDefault int) string {
	if level == 0 {
		level = codecDefault
	}
	return strconv.Itoa(level)
}
