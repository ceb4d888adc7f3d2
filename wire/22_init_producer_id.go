package wire

// InitProducerId, versions 0-5. v5 only allows the TRANSACTION_ABORTABLE
// error (KIP-890), which comes from transactions; the fields are v4's.
//
// Hands out producer ids for idempotent producers, epoch 0; v3+ may ask to
// bump the epoch of an id it holds, which answers the same id with the
// next epoch (a new id once the epoch would overflow). Ids are never reused
// across restarts (meta.Cluster.NextProducerID: blocks whose end is
// written durably before any id of the block is handed out). Transactional producers get
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED: transactions are not built yet.

import (
	"context"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleInitProducerID(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.InitProducerIDRequest)
	kresp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
	switch {
	case r.TransactionalID != nil && *r.TransactionalID != "":
		kresp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		kresp.ProducerID, kresp.ProducerEpoch = -1, -1
	case s.cfg.Cluster.Follower():
		kresp.ErrorCode = kerr.NotCoordinator.Code // producer ids come from the leader
		kresp.ProducerID, kresp.ProducerEpoch = -1, -1
	case h.APIVersion >= 3 && r.ProducerID >= 0 && r.ProducerEpoch >= 0 && r.ProducerEpoch < math.MaxInt16:
		kresp.ProducerID, kresp.ProducerEpoch = r.ProducerID, r.ProducerEpoch+1
	default:
		// The id carries the leader epoch (meta.ProducerIDEpochShift).
		id, err := s.cfg.Cluster.NextProducerID()
		if err != nil {
			s.logger.Error("allocating a producer id", "error", err)
			kresp.ErrorCode = errorCode(err)
			kresp.ProducerID, kresp.ProducerEpoch = -1, -1
			break
		}
		kresp.ProducerID, kresp.ProducerEpoch = id, 0
	}
	s.encode(h, kresp, resp)
	return nil
}
