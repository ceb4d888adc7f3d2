package wire

// FindCoordinator, versions 0-6 (v4 batches keys).
//
// One node coordinates every group and transactional id, so the answer is
// always this node (on a standby, its leader). v5 only allows the
// TRANSACTION_ABORTABLE error (KIP-890), which comes from transactions. v6
// allows key type 2, a share group's partition key (KIP-932): spool runs
// no share coordinator, so each such key is COORDINATOR_NOT_AVAILABLE, as
// Kafka answers while share groups are off; before v6 key type 2 is
// INVALID_REQUEST, as is any other unknown key type. (librdkafka before
// 2.11.1 also enables LZ4 only when the broker advertises FindCoordinator
// v0: it reads it as "0.8.2 or newer".)

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	coordinatorGroup       = 0
	coordinatorTransaction = 1
	coordinatorShare       = 2
)

func handleFindCoordinator(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.FindCoordinatorRequest)
	kresp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
	id, host, port := s.cfg.NodeID, s.cfg.Host, s.cfg.Port
	if s.cfg.Leader != nil {
		// A standby sends group and transaction clients to its leader.
		if lid, lhost, lport, ok := s.cfg.Leader(); ok {
			id, host, port = lid, lhost, lport
		}
	}
	var refuse *kerr.Error
	switch {
	case r.CoordinatorType == coordinatorGroup || r.CoordinatorType == coordinatorTransaction:
	case r.CoordinatorType == coordinatorShare && h.APIVersion >= 6:
		refuse = kerr.CoordinatorNotAvailable
	default:
		refuse = kerr.InvalidRequest
	}
	if refuse != nil {
		id, host, port = -1, "", -1
	}
	kresp.NodeID, kresp.Host, kresp.Port = id, host, port
	if refuse != nil && h.APIVersion < 4 {
		kresp.ErrorCode = refuse.Code
		kresp.ErrorMessage = &refuse.Description
	}
	for _, key := range r.CoordinatorKeys {
		coordinator := kmsg.NewFindCoordinatorResponseCoordinator()
		coordinator.Key = key
		coordinator.NodeID, coordinator.Host, coordinator.Port = id, host, port
		if refuse != nil {
			coordinator.ErrorCode = refuse.Code
			coordinator.ErrorMessage = &refuse.Description
		}
		kresp.Coordinators = append(kresp.Coordinators, coordinator)
	}
	s.encode(h, kresp, resp)
	return nil
}
