package wire

// DescribeCluster (60), versions 0-1.
//
// One node, which is also the controller.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleDescribeCluster(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.DescribeClusterRequest)
	kresp := r.ResponseKind().(*kmsg.DescribeClusterResponse)
	kresp.ClusterID = s.cfg.ClusterID
	kresp.ControllerID = s.cfg.NodeID
	kresp.EndpointType = r.EndpointType
	broker := kmsg.NewDescribeClusterResponseBroker()
	broker.NodeID, broker.Host, broker.Port, broker.Rack = s.cfg.NodeID, s.cfg.Host, s.cfg.Port, s.cfg.Rack
	kresp.Brokers = append(kresp.Brokers, broker)
	s.encode(h, kresp, resp)
	return nil
}
