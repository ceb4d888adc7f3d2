package wire

// IncrementalAlterConfigs (44), versions 0-1.
//
// SET and DELETE edit a topic's overrides; APPEND and SUBTRACT (list-valued
// configs) are refused with INVALID_CONFIG.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine/meta"
)

func handleIncrementalAlterConfigs(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.IncrementalAlterConfigsRequest)
	kresp := r.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, resource := range r.Resources {
		result := kmsg.NewIncrementalAlterConfigsResponseResource()
		result.ResourceType, result.ResourceName = resource.ResourceType, resource.ResourceName
		err := alterTopicOnly(resource.ResourceType, func() error {
			set := map[string]string{}
			var remove []string
			for _, c := range resource.Configs {
				switch c.Op {
				case kmsg.IncrementalAlterConfigOpSet:
					if c.Value != nil {
						set[c.Name] = *c.Value
					}
				case kmsg.IncrementalAlterConfigOpDelete:
					remove = append(remove, c.Name)
				default:
					return fmt.Errorf("%w: %s: APPEND and SUBTRACT are not supported", meta.ErrInvalidConfig, c.Name)
				}
			}
			return s.cfg.Cluster.AlterConfigs(resource.ResourceName, set, remove, true, r.ValidateOnly)
		})
		result.ErrorCode, result.ErrorMessage = errorCode(err), errorMessage(err)
		kresp.Resources = append(kresp.Resources, result)
	}
	s.encode(h, kresp, resp)
	return nil
}
