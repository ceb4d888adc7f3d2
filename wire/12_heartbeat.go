package wire

// Heartbeat (12), versions 0-4: keeps a member's session alive;
// REBALANCE_IN_PROGRESS tells it to join again.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleHeartbeat(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.HeartbeatRequest)
	kresp := r.ResponseKind().(*kmsg.HeartbeatResponse)
	kresp.ErrorCode = errorCode(s.coordinator().Heartbeat(r.Group, r.MemberID, r.InstanceID, r.Generation))
	s.encode(h, kresp, resp)
	return nil
}
