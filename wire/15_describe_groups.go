package wire

// DescribeGroups (15), versions 0-6. A group that does not exist is
// answered as Kafka answers it: before v6 state Dead and no error; from v6
// (KIP-1043) GROUP_ID_NOT_FOUND with the message "Group <id> not found."
// and state Dead. The empty group id is INVALID_GROUP_ID at every version.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine/group"
)

func handleDescribeGroups(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.DescribeGroupsRequest)
	kresp := r.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range r.Groups {
		d := s.coordinator().Describe(id)
		kg := kmsg.NewDescribeGroupsResponseGroup()
		kg.Group = id
		switch {
		case id == "":
			kg.ErrorCode = errorCode(group.ErrInvalidGroupID)
		case h.APIVersion >= 6 && d.State == group.Dead:
			kg.ErrorCode = kerr.GroupIDNotFound.Code
			message := "Group " + id + " not found."
			kg.ErrorMessage = &message
		}
		kg.State, kg.ProtocolType, kg.Protocol = d.State.String(), d.ProtocolType, d.Protocol
		kg.AuthorizedOperations = -2147483648 // not computed: no ACLs
		for _, m := range d.Members {
			km := kmsg.NewDescribeGroupsResponseGroupMember()
			km.MemberID, km.InstanceID, km.ClientID, km.ClientHost = m.MemberID, m.InstanceID, m.ClientID, m.ClientHost
			km.ProtocolMetadata, km.MemberAssignment = m.Metadata, m.Assignment
			if km.ProtocolMetadata == nil {
				km.ProtocolMetadata = []byte{}
			}
			if km.MemberAssignment == nil {
				km.MemberAssignment = []byte{}
			}
			kg.Members = append(kg.Members, km)
		}
		kresp.Groups = append(kresp.Groups, kg)
	}
	s.encode(h, kresp, resp)
	return nil
}
