// Package kafkadefs holds facts about Apache Kafka 4.1 that tests check
// spool against, written down from Kafka's own definitions rather than
// derived from spool's code, so a test using them can fail. Only tests
// import it.
package kafkadefs

// TopicConfigs is every topic config of Kafka 4.1 (its LogConfig), name
// to default value.
var TopicConfigs = map[string]string{
	"cleanup.policy": "delete", "compression.type": "producer", "compression.gzip.level": "-1",
	"compression.lz4.level": "9", "compression.zstd.level": "3", "delete.retention.ms": "86400000",
	"file.delete.delay.ms": "60000", "flush.messages": "9223372036854775807", "flush.ms": "1000",
	"follower.replication.throttled.replicas": "", "index.interval.bytes": "4096",
	"leader.replication.throttled.replicas": "", "local.retention.bytes": "-2", "local.retention.ms": "-2",
	"max.compaction.lag.ms": "9223372036854775807", "max.message.bytes": "1048588",
	"message.timestamp.after.max.ms": "9223372036854775807", "message.timestamp.before.max.ms": "9223372036854775807",
	"message.timestamp.type": "CreateTime", "min.cleanable.dirty.ratio": "0.5", "min.compaction.lag.ms": "0",
	"min.insync.replicas": "1", "preallocate": "false", "remote.log.copy.disable": "false",
	"remote.log.delete.on.disable": "false", "remote.storage.enable": "false", "retention.bytes": "-1",
	"retention.ms": "604800000", "segment.bytes": "1073741824", "segment.index.bytes": "10485760",
	"segment.jitter.ms": "0", "segment.ms": "604800000", "unclean.leader.election.enable": "false",
}
