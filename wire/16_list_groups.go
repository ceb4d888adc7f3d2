package wire

// ListGroups (16), versions 0-5: v4 filters by state, v5 by type (every
// group here is "classic").

import (
	"context"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleListGroups(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.ListGroupsRequest)
	kresp := r.ResponseKind().(*kmsg.ListGroupsResponse)
	kresp.Groups = []kmsg.ListGroupsResponseGroup{}
	for _, l := range s.coordinator().List() {
		if len(r.StatesFilter) > 0 && !containsFold(r.StatesFilter, l.State.String()) {
			continue
		}
		if len(r.TypesFilter) > 0 && !containsFold(r.TypesFilter, "classic") {
			continue
		}
		kg := kmsg.NewListGroupsResponseGroup()
		kg.Group, kg.ProtocolType, kg.GroupState, kg.GroupType = l.Group, l.ProtocolType, l.State.String(), "classic"
		kresp.Groups = append(kresp.Groups, kg)
	}
	s.encode(h, kresp, resp)
	return nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
