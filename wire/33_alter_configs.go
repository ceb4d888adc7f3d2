package wire

// AlterConfigs (33), versions 0-2.
//
// Replaces a topic's overrides with the ones given. Broker resources cannot
// be altered: their settings are static.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine/meta"
)

func handleAlterConfigs(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.AlterConfigsRequest)
	kresp := r.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, resource := range r.Resources {
		result := kmsg.NewAlterConfigsResponseResource()
		result.ResourceType, result.ResourceName = resource.ResourceType, resource.ResourceName
		err := alterTopicOnly(resource.ResourceType, func() error {
			set := map[string]string{}
			for _, c := range resource.Configs {
				if c.Value != nil {
					set[c.Name] = *c.Value
				}
			}
			return s.cfg.Cluster.AlterConfigs(resource.ResourceName, set, nil, false, r.ValidateOnly)
		})
		result.ErrorCode, result.ErrorMessage = errorCode(err), errorMessage(err)
		kresp.Resources = append(kresp.Resources, result)
	}
	s.encode(h, kresp, resp)
	return nil
}

// alterTopicOnly runs alter for a topic resource and refuses every other
// kind: broker settings come from the properties file at start.
func alterTopicOnly(resourceType kmsg.ConfigResourceType, alter func() error) error {
	if resourceType != resourceTopic {
		return fmt.Errorf("%w: only topic configs can be altered; broker settings are static", meta.ErrInvalidConfig)
	}
	return alter()
}
