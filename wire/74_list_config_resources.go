package wire

// ListConfigResources (74), versions 0-1 (KIP-714 v0, KIP-1142 v1).
//
// v0 lists client-metrics resources only, v1 the types named in the
// request (none named: every type v1 knows): topics (2), brokers (4),
// broker loggers (8), client metrics (16) and groups (32). A type the
// request's version does not know is UNSUPPORTED_VERSION for the whole
// request, as in Kafka. What is listed is what spool has: every topic
// (internal ones too) in name order, this broker by its node ID, and the
// groups the group coordinator knows (none on a standby, which runs no
// coordinator). Unlike Kafka, no broker logger is listed (Kafka lists
// each broker): DescribeConfigs does not serve that type here, and a tool
// that lists then describes would fail on it. There are no client-metrics
// resources: spool keeps no client-metrics configs. Nothing is filtered
// by authorization (no ACLs).

import (
	"context"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config resource types beyond topic and broker (32_describe_configs.go).
const (
	configResourceBrokerLogger  = 8
	configResourceClientMetrics = 16
	configResourceGroup         = 32
)

// listableResourceTypes are the resource types each version may name.
var listableResourceTypes = [][]int8{
	0: {configResourceClientMetrics},
	1: {resourceTopic, resourceBroker, configResourceBrokerLogger, configResourceClientMetrics, configResourceGroup},
}

func handleListConfigResources(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.ListConfigResourcesRequest)
	kresp := r.ResponseKind().(*kmsg.ListConfigResourcesResponse)
	supported := listableResourceTypes[h.APIVersion]
	types := r.ResourceTypes
	if len(types) == 0 || h.APIVersion == 0 {
		types = supported
	}
	for _, t := range types {
		if !slices.Contains(supported, t) {
			kresp.ErrorCode = kerr.UnsupportedVersion.Code
			s.encode(h, kresp, resp)
			return nil
		}
	}
	add := func(name string, t int8) {
		kr := kmsg.NewListConfigResourcesResponseConfigResource()
		kr.Name, kr.Type = name, t
		kresp.ConfigResources = append(kresp.ConfigResources, kr)
	}
	for _, t := range slices.Compact(slices.Sorted(slices.Values(types))) {
		switch t {
		case resourceTopic:
			for _, topic := range s.cfg.Cluster.Topics() {
				add(topic.Name, t)
			}
		case resourceBroker:
			add(strconv.Itoa(int(s.cfg.NodeID)), t)
		case configResourceGroup:
			if g := s.coordinator(); g != nil {
				for _, l := range g.List() {
					add(l.Group, t)
				}
			}
		}
	}
	s.encode(h, kresp, resp)
	return nil
}
