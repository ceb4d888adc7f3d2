package wire

// The topic configs that act on a produced batch before it is appended:
// compression.type (with compression.<codec>.level) and
// message.timestamp.before.max.ms / message.timestamp.after.max.ms
// (KIP-937). Both run here, on the request goroutine, before the batch is
// submitted to its shard: recompressing a 1 MiB batch takes milliseconds,
// and on a shard goroutine it would stall every partition of the shard.
//
// With Kafka's defaults (compression.type=producer, both timestamp bounds
// Long.MAX_VALUE) nothing is looked at: topicBatch reads the log's
// published configuration (one atomic load) and hands the producer's bytes
// on untouched, so the produce path is what it was.
//
// Otherwise, as Kafka's LogValidator:
//
//  1. The batch is validated whole (length, magic, CRC) before anything
//     reads its records, so a corrupt batch is never given a fresh CRC.
//  2. Control batches (transaction markers) pass untouched; they never
//     come from a producer's Produce here (transactional produce is
//     refused until transactions exist). Transactional data batches will
//     be recompressed like any other, keeping their attributes: the seam
//     is recompressBatch's check of h.Control, nothing else.
//  3. Each record is parsed: its timestamp, on a CreateTime topic, must
//     lie within [now - before.max, now + after.max] (a record without a
//     timestamp, -1, is not checked). Kafka checks every record of a v2
//     batch, compressed or not, and so does spool: a compressed batch kept
//     in its codec is decompressed for the check when a bound is set.
//     Every offending record is named in record_errors (Produce v8+) with
//     Kafka's message, and the partition answers INVALID_TIMESTAMP.
//  4. A batch in another codec than the topic's is recompressed
//     (segment.RecompressBatch): same header fields, records identical,
//     new codec bits, length and CRC. The result must still fit
//     max.message.bytes (the log's append checks it).
//
// Decompression is bounded: a batch's records may decompress to at most
// recompressBytesMax(max.message.bytes) bytes, 32 times the topic's batch
// limit (32 MiB at Kafka's default), between 4 MiB and 256 MiB. Real
// batches compress a few times, rarely past 10:1; a batch past the bound
// is CORRUPT_MESSAGE. Nothing is ever allocated from a size the batch
// declares (segment.Decompress grows its output as bytes decode).

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine"
	"spool/segment"
)

const (
	recompressRatioMax    = 32
	recompressBytesFloor  = 4 << 20
	recompressBytesCeil   = 256 << 20
	recompressScratchKeep = 8 << 20 // a larger scratch is not pooled
)

// recompressBytesMax bounds what a produced batch's records may
// decompress to.
func recompressBytesMax(maxMessageBytes int64) int64 {
	return min(max(recompressRatioMax*maxMessageBytes, recompressBytesFloor), recompressBytesCeil)
}

// errInvalidTimestamp is Kafka's partition-level message for a batch with
// records outside the timestamp window.
var errInvalidTimestamp = errors.New("One or more records have been rejected due to invalid timestamp")

// recordErrors is a produce error naming the records at fault, for
// Produce v8+'s record_errors.
type recordErrors struct {
	err     error
	records []kmsg.ProduceResponseTopicPartitionErrorRecord
}

func (e *recordErrors) Error() string { return e.err.Error() }
func (e *recordErrors) Unwrap() error { return e.err }

// produceRecordErrors is what record_errors answers for err.
func produceRecordErrors(err error) []kmsg.ProduceResponseTopicPartitionErrorRecord {
	var re *recordErrors
	if errors.As(err, &re) {
		return re.records
	}
	return nil
}

// recordErrorsMax bounds the records named: a batch of a million records
// with bad timestamps names the first thousand.
const recordErrorsMax = 1000

var recompressScratch = sync.Pool{New: func() any { return new([]byte) }}

// topicBatch is the batch to submit for records (one whole batch, as
// submitRecords checked): records itself, or its recompressed copy; or the
// error the partition answers.
func topicBatch(l *engine.Log, records []byte) ([]byte, error) {
	cfg := l.ConfigView()
	codec, recompress := cfg.Compression.Codec()
	before, after, bounded := cfg.TimestampWindow()
	if !recompress && !bounded {
		return records, nil
	}
	h, err := segment.ValidateBatch(records)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", engine.ErrCorruptBatch, err)
	}
	if h.Control() {
		return records, nil
	}
	recompress = recompress && h.Codec() != codec
	if !recompress && (!bounded || h.LogAppendTime()) {
		return records, nil
	}
	var check func(segment.RecordPosition)
	var bad []kmsg.ProduceResponseTopicPartitionErrorRecord
	if bounded && !h.LogAppendTime() {
		now := cfg.Now()
		index := int32(0)
		check = func(r segment.RecordPosition) {
			// Differences, not sums: now + Long.MAX_VALUE would overflow.
			if r.Timestamp != -1 && (now-r.Timestamp > before || r.Timestamp-now > after) && len(bad) < recordErrorsMax {
				e := kmsg.NewProduceResponseTopicPartitionErrorRecord()
				e.RelativeOffset = index
				message := fmt.Sprintf("Timestamp %d of message with offset %d is out of range. The timestamp should be within [%d, %d]",
					r.Timestamp, r.Offset, saturatingSub(now, before), saturatingAdd(now, after))
				e.ErrorMessage = &message
				bad = append(bad, e)
			}
			index++
		}
	}
	scratch := recompressScratch.Get().(*[]byte)
	defer func() {
		if cap(*scratch) <= recompressScratchKeep {
			recompressScratch.Put(scratch)
		}
	}()
	maxBytes := recompressBytesMax(cfg.MaxMessageBytes)
	out := records
	if recompress {
		out, err = segment.RecompressBatch(make([]byte, 0, len(records)), records, codec, cfg.Level(codec), scratch, maxBytes, check)
	} else {
		err = segment.WalkBatchRecords(records, scratch, maxBytes, check)
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %w", engine.ErrCorruptBatch, err)
	case len(bad) > 0:
		return nil, &recordErrors{err: errInvalidTimestamp, records: bad}
	}
	return out, nil
}

func saturatingSub(a, b int64) int64 {
	if b > 0 && a < math.MinInt64+b {
		return math.MinInt64
	}
	return a - b
}

func saturatingAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
