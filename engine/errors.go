package engine

import "errors"

// Engine errors. The wire package maps each to a Kafka error code in one
// place; the engine never names Kafka codes.
var (
	// ErrCorruptBatch: the batch failed validation (CORRUPT_MESSAGE).
	ErrCorruptBatch = errors.New("engine: corrupt batch")
	// ErrInvalidRecord: a record the topic cannot take, such as one
	// without a key in a compacted topic (INVALID_RECORD).
	ErrInvalidRecord = errors.New("engine: invalid record")
	// ErrBatchTooLarge: larger than max.message.bytes or a whole segment
	// (MESSAGE_TOO_LARGE).
	ErrBatchTooLarge = errors.New("engine: batch too large")
	// ErrStorage: a write or sync failed; the partition is failed
	// (KAFKA_STORAGE_ERROR). Sticky.
	ErrStorage = errors.New("engine: storage failure")
	// ErrDiskFull: space could not be reserved for a new segment, or an
	// append's write found the disk full (KAFKA_STORAGE_ERROR, not sticky:
	// nothing was published).
	ErrDiskFull = errors.New("engine: disk full")
	// ErrOffsetOutOfRange: a read or DeleteRecords outside the log
	// (OFFSET_OUT_OF_RANGE).
	ErrOffsetOutOfRange = errors.New("engine: offset out of range")
	// ErrClosed: the log or shard is closed.
	ErrClosed = errors.New("engine: closed")
)
