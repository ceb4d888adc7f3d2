package wire

// DescribeCluster (60), versions 0-2.
//
// One node, which is also the controller. v1's endpoint type asks for
// brokers (1) or controllers (2): this is a broker's listener, so asking
// it for controllers is MISMATCHED_ENDPOINT_TYPE and an unknown type
// UNSUPPORTED_ENDPOINT_TYPE, as a Kafka broker answers. v2 may ask for
// fenced brokers too (KIP-1073); this node is never fenced, so the list is
// the same and IsFenced false.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	endpointBrokers     = 1
	endpointControllers = 2
)

func handleDescribeCluster(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.DescribeClusterRequest)
	kresp := r.ResponseKind().(*kmsg.DescribeClusterResponse)
	kresp.EndpointType = endpointBrokers
	switch r.EndpointType {
	case endpointBrokers:
	case endpointControllers:
		kresp.ErrorCode = kerr.MismatchedEndpointType.Code
		message := "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER"
		kresp.ErrorMessage = &message
	default:
		kresp.ErrorCode = kerr.UnsupportedEndpointType.Code
		message := fmt.Sprintf("Unsupported endpoint type %d", r.EndpointType)
		kresp.ErrorMessage = &message
	}
	if kresp.ErrorCode != 0 {
		s.encode(h, kresp, resp)
		return nil
	}
	kresp.ClusterID = s.cfg.ClusterID
	kresp.ControllerID = s.cfg.NodeID
	broker := kmsg.NewDescribeClusterResponseBroker()
	broker.NodeID, broker.Host, broker.Port, broker.Rack = s.cfg.NodeID, s.cfg.Host, s.cfg.Port, s.cfg.Rack
	kresp.Brokers = append(kresp.Brokers, broker)
	s.encode(h, kresp, resp)
	return nil
}
