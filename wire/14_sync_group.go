package wire

// SyncGroup (14), versions 0-5: the leader sends every member's
// assignment; each member gets its own bytes back untouched. v5+ names the
// protocol type and protocol, which must match the group's.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine/group"
)

func handleSyncGroup(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.SyncGroupRequest)
	kresp := r.ResponseKind().(*kmsg.SyncGroupResponse)
	sr := group.SyncRequest{Group: r.Group, MemberID: r.MemberID, InstanceID: r.InstanceID, Generation: r.Generation, ProtocolType: r.ProtocolType, Protocol: r.Protocol}
	if len(r.GroupAssignment) > 0 {
		sr.Assignments = make(map[string][]byte, len(r.GroupAssignment))
		for _, a := range r.GroupAssignment {
			sr.Assignments[a.MemberID] = a.MemberAssignment
		}
	}
	result := s.coordinator().Sync(ctx, sr)
	kresp.ErrorCode = errorCode(result.Err)
	kresp.MemberAssignment = []byte{}
	if result.Err == nil {
		kresp.ProtocolType, kresp.Protocol = &result.ProtocolType, &result.Protocol
		if result.Assignment != nil {
			kresp.MemberAssignment = result.Assignment
		}
	}
	s.encode(h, kresp, resp)
	return nil
}
