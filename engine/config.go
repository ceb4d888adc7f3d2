package engine

import (
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"spool/segment"
)

// FlushPolicy says when appended batches are made durable.
type FlushPolicy int

const (
	// FlushGroupCommit syncs once for all batches appended since the last
	// sync, whenever a durable (acks=all) append is waiting: the default.
	FlushGroupCommit FlushPolicy = iota
	// FlushEveryBatch syncs after every append, durable or not.
	FlushEveryBatch
	// FlushInterval syncs every flush interval; durable appends wait for
	// the next one.
	FlushInterval
)

func (p FlushPolicy) String() string {
	switch p {
	case FlushEveryBatch:
		return "batch"
	case FlushInterval:
		return "interval"
	}
	return "group"
}

// ParseFlushPolicy reads a policy name as String writes it.
func ParseFlushPolicy(s string) (FlushPolicy, error) {
	switch s {
	case "group", "":
		return FlushGroupCommit, nil
	case "batch":
		return FlushEveryBatch, nil
	case "interval":
		return FlushInterval, nil
	}
	return 0, fmt.Errorf("unknown flush policy %q (group, batch, interval)", s)
}

// LogConfig is a partition's storage configuration.
type LogConfig struct {
	Segment         segment.Config
	SegmentMillis   int64 // segment.ms: roll a segment this old (0: never)
	RetentionMillis int64 // retention.ms (-1: keep forever)
	RetentionBytes  int64 // retention.bytes (-1: no limit)
	MaxMessageBytes int64 // max.message.bytes: the largest batch accepted
	// LogAppendTime (message.timestamp.type=LogAppendTime) stamps each
	// batch with the broker's clock as it is appended.
	LogAppendTime bool
	FlushPolicy   FlushPolicy
	FlushInterval time.Duration // flush.ms, for FlushInterval
	// Cleanup is cleanup.policy: delete (retention deletes old segments),
	// compact (the cleaner keeps the newest record per key), or both.
	// Zero means delete.
	Cleanup CleanupPolicy
	// DeleteRetentionMillis is delete.retention.ms: how long a tombstone
	// outlives the cleaning pass that first saw it as clean. Zero takes
	// the default; an explicit 0 is stored as ZeroSetting.
	DeleteRetentionMillis int64
	// MinCleanableDirtyRatio is min.cleanable.dirty.ratio: the cleaner
	// takes a log once its dirty bytes are at least this share of its
	// cleanable bytes. Zero takes the default; an explicit 0 is stored as
	// ZeroSetting.
	MinCleanableDirtyRatio float64
	// MinCompactionLagMillis is min.compaction.lag.ms: a segment is
	// cleaned only once its newest record is this old (0: at once).
	MinCompactionLagMillis int64
	// ProducerIDExpirationMillis is the broker's producer.id.expiration.ms:
	// an idempotent producer idle for longer is forgotten, at load and at
	// each retention pass. Zero takes the default (1 day); a negative value
	// is refused (Validate).
	ProducerIDExpirationMillis int64
	// Compression is compression.type: CompressionProducer (the zero
	// value, Kafka's default) stores each batch as its producer compressed
	// it; any other value names the codec a batch is recompressed into
	// when it arrives in another (wire's produce path does it, on the
	// request goroutine). GzipLevel, LZ4Level and ZstdLevel are
	// compression.<codec>.level, Kafka's levels (0: the codec's default).
	Compression CompressionType
	GzipLevel   int
	LZ4Level    int
	ZstdLevel   int
	// TimestampBeforeMaxMillis and TimestampAfterMaxMillis are
	// message.timestamp.before.max.ms and message.timestamp.after.max.ms
	// (KIP-937): on a CreateTime topic a record whose timestamp lies more
	// than this before (after) the broker's clock is refused with
	// INVALID_TIMESTAMP. Zero takes the default (no bound); an explicit 0
	// is stored as ZeroSetting. TimestampWindow reads them.
	TimestampBeforeMaxMillis int64
	TimestampAfterMaxMillis  int64
	Logger                   *slog.Logger
	// Now is the clock, in milliseconds; nil means the wall clock. Tests
	// move it to exercise segment.ms and retention.ms.
	Now func() int64
}

// Kafka's defaults.
const (
	SegmentMillisDefault   = 7 * 24 * 3600 * 1000
	RetentionMillisDefault = 7 * 24 * 3600 * 1000
	MaxMessageBytesDefault = 1048588
	FlushIntervalDefault   = time.Second
	// delete.retention.ms and min.cleanable.dirty.ratio.
	DeleteRetentionMillisDefault  = 24 * 3600 * 1000
	MinCleanableDirtyRatioDefault = 0.5
	// producer.id.expiration.ms.
	ProducerIDExpirationMillisDefault = 24 * 3600 * 1000
)

// CompressionType is compression.type.
type CompressionType uint8

// The values of compression.type, Kafka's names.
const (
	CompressionProducer CompressionType = iota
	CompressionUncompressed
	CompressionGzip
	CompressionSnappy
	CompressionLZ4
	CompressionZstd
)

var compressionNames = [...]string{"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"}

func (c CompressionType) String() string {
	if int(c) < len(compressionNames) {
		return compressionNames[c]
	}
	return fmt.Sprintf("compression(%d)", c)
}

// ParseCompressionType reads compression.type as Kafka spells it.
func ParseCompressionType(s string) (CompressionType, error) {
	for i, name := range compressionNames {
		if s == name {
			return CompressionType(i), nil
		}
	}
	return 0, fmt.Errorf("compression.type %q: one of %s", s, strings.Join(compressionNames[:], ", "))
}

// Codec is the codec batches are stored in, and false for producer.
func (c CompressionType) Codec() (segment.Codec, bool) {
	switch c {
	case CompressionUncompressed:
		return segment.CodecNone, true
	case CompressionGzip:
		return segment.CodecGzip, true
	case CompressionSnappy:
		return segment.CodecSnappy, true
	case CompressionLZ4:
		return segment.CodecLZ4, true
	case CompressionZstd:
		return segment.CodecZstd, true
	}
	return 0, false
}

// Level is the configured level of codec (0: its default).
func (c *LogConfig) Level(codec segment.Codec) int {
	switch codec {
	case segment.CodecGzip:
		return c.GzipLevel
	case segment.CodecLZ4:
		return c.LZ4Level
	case segment.CodecZstd:
		return c.ZstdLevel
	}
	return 0
}

// TimestampWindow is how far before and after the broker's clock a
// CreateTime record's timestamp may lie, and false when neither is bounded
// (Kafka's defaults, and every LogAppendTime topic): then nothing need be
// checked.
func (c *LogConfig) TimestampWindow() (before, after int64, bounded bool) {
	before, after = c.TimestampBeforeMaxMillis, c.TimestampAfterMaxMillis
	if before == ZeroSetting {
		before = 0
	}
	if after == ZeroSetting {
		after = 0
	}
	if before == 0 && c.TimestampBeforeMaxMillis == 0 {
		before = math.MaxInt64
	}
	if after == 0 && c.TimestampAfterMaxMillis == 0 {
		after = math.MaxInt64
	}
	return before, after, !c.LogAppendTime && (before != math.MaxInt64 || after != math.MaxInt64)
}

// ZeroSetting stands for an explicit 0 in a LogConfig field whose zero
// value means "the default" (DeleteRetentionMillis, MinCleanableDirtyRatio).
const ZeroSetting = -1

// CleanupPolicy is cleanup.policy, a set of CleanupDelete and CleanupCompact.
type CleanupPolicy uint8

const (
	CleanupDelete CleanupPolicy = 1 << iota
	CleanupCompact
)

// Compact reports whether the cleaner compacts the log.
func (p CleanupPolicy) Compact() bool { return p&CleanupCompact != 0 }

// Delete reports whether retention deletes old segments.
func (p CleanupPolicy) Delete() bool { return p&CleanupDelete != 0 }

func (p CleanupPolicy) String() string {
	switch p {
	case CleanupCompact:
		return "compact"
	case CleanupCompact | CleanupDelete:
		return "compact,delete"
	}
	return "delete"
}

// ParseCleanupPolicy reads cleanup.policy: a comma list of delete and compact.
func ParseCleanupPolicy(s string) (CleanupPolicy, error) {
	var p CleanupPolicy
	for _, part := range strings.Split(s, ",") {
		switch strings.TrimSpace(part) {
		case "delete":
			p |= CleanupDelete
		case "compact":
			p |= CleanupCompact
		default:
			return 0, fmt.Errorf("cleanup.policy %q: a comma list of delete and compact", s)
		}
	}
	return p, nil
}

// WithDefaults fills zero fields with Kafka's defaults.
func (c LogConfig) WithDefaults() LogConfig {
	c.Segment = c.Segment.WithDefaults()
	if c.SegmentMillis == 0 {
		c.SegmentMillis = SegmentMillisDefault
	}
	if c.RetentionMillis == 0 {
		c.RetentionMillis = RetentionMillisDefault
	}
	if c.RetentionBytes == 0 {
		c.RetentionBytes = -1
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = MaxMessageBytesDefault
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = FlushIntervalDefault
	}
	if c.Cleanup == 0 {
		c.Cleanup = CleanupDelete
	}
	if c.DeleteRetentionMillis == 0 {
		c.DeleteRetentionMillis = DeleteRetentionMillisDefault
	}
	if c.MinCleanableDirtyRatio == 0 {
		c.MinCleanableDirtyRatio = MinCleanableDirtyRatioDefault
	}
	if c.ProducerIDExpirationMillis == 0 {
		c.ProducerIDExpirationMillis = ProducerIDExpirationMillisDefault
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = func() int64 { return time.Now().UnixMilli() }
	}
	return c
}

// Validate reports a configuration OpenLog and SetConfig refuse; it checks
// c as WithDefaults leaves it. A ProducerIDExpirationMillis below 1 (zero
// has become the default by then, so a negative one) would forget every
// idempotent producer at each retention pass and at load, letting retries
// append duplicates; Kafka's producer.id.expiration.ms is at least 1.
func (c LogConfig) Validate() error {
	if err := c.Segment.Validate(); err != nil {
		return err
	}
	if c.ProducerIDExpirationMillis < 1 {
		return fmt.Errorf("producer.id.expiration.ms %d below 1", c.ProducerIDExpirationMillis)
	}
	return nil
}

// SetConfig changes the log's configuration: retention, segment.ms,
// max.message.bytes and the flush policy at once; segment.bytes and index
// settings for the next segment rolled. Writer only.
func (l *Log) SetConfig(cfg LogConfig) error {
	l.checkWriter("Log.SetConfig")
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg.Logger = l.cfg.Logger
	cfg.Segment.Faults = l.cfg.Segment.Faults
	l.cfg = cfg
	l.config.Store(&cfg)
	return nil
}

// Config is the log's configuration, as the last SetConfig (or the open)
// left it. Any goroutine: it is a copy the writer published, never the
// writer's own.
func (l *Log) Config() LogConfig { return *l.config.Load() }

// ConfigView is the configuration Config copies, without the copy, for the
// produce path's per-batch look: the pointer is to the published
// configuration, which is never changed after publication (SetConfig
// publishes a new one). Any goroutine; read only.
func (l *Log) ConfigView() *LogConfig { return l.config.Load() }
