package wire

// DeleteGroups (42), versions 0-2: an empty group and its committed
// offsets are deleted (tombstones in __consumer_offsets); a group with
// members answers NON_EMPTY_GROUP, an unknown one GROUP_ID_NOT_FOUND.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleDeleteGroups(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.DeleteGroupsRequest)
	kresp := r.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range r.Groups {
		kg := kmsg.NewDeleteGroupsResponseGroup()
		kg.Group = id
		kg.ErrorCode = errorCode(s.coordinator().Delete(id))
		kresp.Groups = append(kresp.Groups, kg)
	}
	s.encode(h, kresp, resp)
	return nil
}
