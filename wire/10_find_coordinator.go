package wire

// FindCoordinator, versions 0-4 (v4 batches keys).
//
// One node coordinates every group and transactional id, so the answer is
// always this node. (librdkafka before 2.11.1 also enables LZ4 only when
// the broker advertises FindCoordinator v0: it reads it as "0.8.2 or
// newer".)

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
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
	kresp.NodeID, kresp.Host, kresp.Port = id, host, port
	for _, key := range r.CoordinatorKeys {
		coordinator := kmsg.NewFindCoordinatorResponseCoordinator()
		coordinator.Key = key
		coordinator.NodeID, coordinator.Host, coordinator.Port = id, host, port
		kresp.Coordinators = append(kresp.Coordinators, coordinator)
	}
	s.encode(h, kresp, resp)
	return nil
}
