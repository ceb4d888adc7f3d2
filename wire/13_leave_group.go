package wire

// LeaveGroup (13), versions 0-5: v0-2 name one member; v3+ a batch, by
// member id or by group.instance.id, answered per member.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine/group"
)

func handleLeaveGroup(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.LeaveGroupRequest)
	kresp := r.ResponseKind().(*kmsg.LeaveGroupResponse)
	var leaving []group.LeaveMember
	if h.APIVersion < 3 {
		leaving = []group.LeaveMember{{MemberID: r.MemberID}}
	} else {
		for _, m := range r.Members {
			leaving = append(leaving, group.LeaveMember{MemberID: m.MemberID, InstanceID: m.InstanceID})
		}
	}
	errs, err := s.coordinator().Leave(r.Group, leaving)
	kresp.ErrorCode = errorCode(err)
	if err == nil && h.APIVersion < 3 && len(errs) == 1 {
		kresp.ErrorCode = errorCode(errs[0])
	}
	if h.APIVersion >= 3 && err == nil {
		for i, m := range r.Members {
			km := kmsg.NewLeaveGroupResponseMember()
			km.MemberID, km.InstanceID, km.ErrorCode = m.MemberID, m.InstanceID, errorCode(errs[i])
			kresp.Members = append(kresp.Members, km)
		}
	}
	s.encode(h, kresp, resp)
	return nil
}
