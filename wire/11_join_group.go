package wire

// JoinGroup (11), versions 0-9.
//
// The request parks in the coordinator until the rebalance completes, so
// it holds its connection (as in Kafka, a connection answers in order).
// v4+ is KIP-394: a member without an id gets one with MEMBER_ID_REQUIRED
// and joins again; v5+ carries static membership (group.instance.id); v9
// tells a static leader that rejoined a stable group to skip assigning.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine/group"
)

func handleJoinGroup(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.JoinGroupRequest)
	kresp := r.ResponseKind().(*kmsg.JoinGroupResponse)
	jr := group.JoinRequest{
		Group: r.Group, MemberID: r.MemberID, InstanceID: r.InstanceID,
		ClientID: h.ClientID, ClientHost: clientHost(ctx),
		SessionTimeout:       time.Duration(r.SessionTimeoutMillis) * time.Millisecond,
		RebalanceTimeout:     time.Duration(r.RebalanceTimeoutMillis) * time.Millisecond,
		ProtocolType:         r.ProtocolType,
		RequireKnownMemberID: h.APIVersion >= 4 && r.InstanceID == nil,
	}
	if h.APIVersion == 0 {
		jr.RebalanceTimeout = jr.SessionTimeout
	}
	for _, p := range r.Protocols {
		jr.Protocols = append(jr.Protocols, group.Protocol{Name: p.Name, Metadata: p.Metadata})
	}
	result := s.coordinator().Join(ctx, jr)
	kresp.ErrorCode = errorCode(result.Err)
	kresp.MemberID = result.MemberID
	kresp.Generation = -1
	empty := ""
	kresp.Protocol = &empty
	if result.Err == nil {
		kresp.Generation = result.Generation
		kresp.ProtocolType = &result.ProtocolType
		kresp.Protocol = &result.Protocol
		kresp.LeaderID = result.Leader
		kresp.SkipAssignment = result.SkipAssignment
		for _, m := range result.Members {
			km := kmsg.NewJoinGroupResponseMember()
			km.MemberID, km.InstanceID, km.ProtocolMetadata = m.MemberID, m.InstanceID, m.Metadata
			kresp.Members = append(kresp.Members, km)
		}
	} else if h.APIVersion < 7 {
		kresp.Protocol = &empty
	} else {
		kresp.Protocol = nil
	}
	s.encode(h, kresp, resp)
	return nil
}
