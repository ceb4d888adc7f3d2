package wire

// ListPartitionReassignments (46), version 0.
//
// No reassignment is ever in progress (AlterPartitionAssignments has
// nothing to move on one node), so the list is empty, for null topics
// (everything) and for named ones alike: Kafka lists only partitions being
// reassigned and skips unknown ones without an error.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleListPartitionReassignments(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	kresp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	kresp.Topics = []kmsg.ListPartitionReassignmentsResponseTopic{}
	s.encode(h, kresp, resp)
	return nil
}
