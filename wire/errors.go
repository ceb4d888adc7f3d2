package wire

import (
	"errors"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"

	"spool/engine"
	"spool/engine/group"
	"spool/engine/meta"
)

// errorCode is the one place where an engine or metadata error becomes a
// Kafka error code. An error it does not know is UNKNOWN_SERVER_ERROR, and
// is logged by the caller.
func errorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, engine.ErrCorruptBatch):
		return kerr.CorruptMessage.Code
	case errors.Is(err, engine.ErrInvalidRecord):
		return kerr.InvalidRecord.Code
	case errors.Is(err, engine.ErrUnsupportedCompression):
		return kerr.UnsupportedCompressionType.Code
	case errors.Is(err, engine.ErrTransactionalBatch):
		return kerr.TransactionalIDAuthorizationFailed.Code
	case errors.Is(err, errInvalidTimestamp):
		return kerr.InvalidTimestamp.Code
	case errors.Is(err, engine.ErrBatchTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, engine.ErrStorage), errors.Is(err, engine.ErrDiskFull),
		errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		// A full disk met outside an append (creating a topic's files)
		// is a storage error too, not an unknown one.
		return kerr.KafkaStorageError.Code
	case errors.Is(err, engine.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, engine.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, engine.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, engine.ErrClosed), errors.Is(err, engine.ErrShardStopped):
		// The partition is going away (shutdown, deletion): the client
		// refreshes metadata and retries.
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, meta.ErrUnknownTopic):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, meta.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, meta.ErrReservedTopic):
		return kerr.InvalidRequest.Code
	case errors.Is(err, meta.ErrInvalidTopic):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, meta.ErrInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, meta.ErrInvalidRequest):
		return kerr.InvalidRequest.Code
	case errors.Is(err, meta.ErrInvalidConfig):
		return kerr.InvalidConfig.Code
	case errors.Is(err, meta.ErrFollower):
		return kerr.NotController.Code
	}
	return groupErrorCode(err)
}

// groupErrorCode maps the group coordinator's errors.
func groupErrorCode(err error) int16 {
	switch {
	case errors.Is(err, group.ErrInvalidGroupID):
		return kerr.InvalidGroupID.Code
	case errors.Is(err, group.ErrUnknownMember):
		return kerr.UnknownMemberID.Code
	case errors.Is(err, group.ErrMemberIDRequired):
		return kerr.MemberIDRequired.Code
	case errors.Is(err, group.ErrIllegalGeneration):
		return kerr.IllegalGeneration.Code
	case errors.Is(err, group.ErrRebalanceInProgress):
		return kerr.RebalanceInProgress.Code
	case errors.Is(err, group.ErrInconsistentProtocol):
		return kerr.InconsistentGroupProtocol.Code
	case errors.Is(err, group.ErrInvalidSessionTimeout):
		return kerr.InvalidSessionTimeout.Code
	case errors.Is(err, group.ErrFencedInstance):
		return kerr.FencedInstanceID.Code
	case errors.Is(err, group.ErrGroupMaxSize):
		return kerr.GroupMaxSizeReached.Code
	case errors.Is(err, group.ErrGroupNotFound):
		return kerr.GroupIDNotFound.Code
	case errors.Is(err, group.ErrNonEmptyGroup):
		return kerr.NonEmptyGroup.Code
	case errors.Is(err, group.ErrSubscribedToTopic):
		return kerr.GroupSubscribedToTopic.Code
	case errors.Is(err, group.ErrMetadataTooLarge):
		return kerr.OffsetMetadataTooLarge.Code
	case errors.Is(err, group.ErrNotAvailable):
		return kerr.CoordinatorNotAvailable.Code
	}
	return kerr.UnknownServerError.Code
}

// errorMessage is the message some responses carry with their code.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	message := err.Error()
	return &message
}
