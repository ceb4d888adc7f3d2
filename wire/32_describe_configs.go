package wire

// DescribeConfigs (32), versions 0-4.
//
// Topic resources (type 2) carry the topic configs the metadata log keeps
// (retention.ms, retention.bytes, segment.bytes, segment.ms, cleanup.policy,
// delete.retention.ms, min.cleanable.dirty.ratio, min.compaction.lag.ms,
// max.message.bytes, message.timestamp.type, min.insync.replicas, ...), with
// where each value comes from. Broker resources (type 4) describe as empty:
// broker settings come from the properties file at start.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	resourceTopic  = 2
	resourceBroker = 4
)

func handleDescribeConfigs(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.DescribeConfigsRequest)
	kresp := r.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, resource := range r.Resources {
		result := kmsg.NewDescribeConfigsResponseResource()
		result.ResourceType, result.ResourceName = resource.ResourceType, resource.ResourceName
		switch resource.ResourceType {
		case resourceTopic:
			entries, err := s.cfg.Cluster.DescribeConfigs(resource.ResourceName)
			result.ErrorCode, result.ErrorMessage = errorCode(err), errorMessage(err)
			wanted := map[string]bool{}
			for _, name := range resource.ConfigNames {
				wanted[name] = true
			}
			for _, e := range entries {
				if resource.ConfigNames != nil && !wanted[e.Name] {
					continue
				}
				c := kmsg.NewDescribeConfigsResponseResourceConfig()
				value := e.Value
				c.Name, c.Value = e.Name, &value
				c.ReadOnly, c.IsSensitive, c.IsDefault = e.ReadOnly, e.Sensitive, e.IsDefault
				c.Source = kmsg.ConfigSource(e.Source)
				if r.IncludeSynonyms {
					synonym := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
					synonym.Name, synonym.Value, synonym.Source = e.Name, &value, c.Source
					c.ConfigSynonyms = append(c.ConfigSynonyms, synonym)
				}
				result.Configs = append(result.Configs, c)
			}
		case resourceBroker:
		default:
			result.ErrorCode = kerr.InvalidRequest.Code
			result.ErrorMessage = errorMessage(fmt.Errorf("resource type %d is not served", resource.ResourceType))
		}
		kresp.Resources = append(kresp.Resources, result)
	}
	s.encode(h, kresp, resp)
	return nil
}
