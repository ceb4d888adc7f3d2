package engine

import (
	"errors"
	"fmt"

	"spool/segment"
)

// Fields of a producer's batch that only the broker may set, or that a
// producer may set only in certain combinations, checked on every client
// append (Log.Append; a standby's AppendReplica takes its leader's batches
// as stored). Kafka's rules (its LogValidator and produce handling):
//
//	field                          refused when                         answer
//	attributes bit 5 (control)     set: markers are the broker's        INVALID_RECORD
//	attributes bits 0-2 (codec)    5, 6 or 7: no such codec             UNSUPPORTED_COMPRESSION_TYPE
//	baseSequence                   negative while producerId ≥ 0        INVALID_RECORD
//	attributes bit 4               set: no transaction can be open      TRANSACTIONAL_ID_AUTHORIZATION_FAILED
//	(transactional)                (transactions are not built)
//
// The transactional rule is the seam for the transaction coordinator:
// once transactions exist, a transactional batch is taken when its
// producer has this partition in an ongoing transaction. Like Kafka, spool
// takes a producer id it did not issue (a producer whose state expired
// looks the same), and a batch that starts a newer epoch of a known
// producer at sequence 0 fences the older epoch (KIP-360), whoever sent it.

// Errors for the rules above, mapped to Kafka codes by the wire package.
var (
	// ErrUnsupportedCompression: a codec id Kafka does not define
	// (UNSUPPORTED_COMPRESSION_TYPE).
	ErrUnsupportedCompression = errors.New("engine: unsupported compression type")
	// ErrTransactionalBatch: a transactional batch while no transaction
	// can be open (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, Kafka's answer
	// to transactional records without a transactional id).
	ErrTransactionalBatch = errors.New("engine: transactional batch outside a transaction")
)

// checkClientBatch applies the table above to a validated batch header.
func checkClientBatch(h *segment.Header) error {
	switch {
	case h.Control():
		return fmt.Errorf("%w: clients may not write control batches", ErrInvalidRecord)
	case h.Codec() > segment.CodecZstd:
		return fmt.Errorf("%w: codec id %d", ErrUnsupportedCompression, h.Codec())
	case h.ProducerID >= 0 && h.BaseSequence < 0:
		return fmt.Errorf("%w: base sequence %d with producer id %d", ErrInvalidRecord, h.BaseSequence, h.ProducerID)
	case h.Transactional():
		return fmt.Errorf("%w: producer id %d", ErrTransactionalBatch, h.ProducerID)
	}
	return nil
}
