package wire

// IncrementalAlterConfigs (44), versions 0-1.
//
// SET and DELETE edit a topic's overrides; APPEND and SUBTRACT (list-valued
// configs) are refused with INVALID_CONFIG. On a broker resource ("" or
// this node's id) they edit its dynamic configs, APPEND and SUBTRACT
// working on list configs (log.cleanup.policy) and refused with
// INVALID_CONFIG on the others, as in Kafka.

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
		err := alterResource(s, resource.ResourceType, resource.ResourceName, r.ValidateOnly, func() ([]meta.BrokerConfigChange, error) {
			var changes []meta.BrokerConfigChange
			for _, c := range resource.Configs {
				change := meta.BrokerConfigChange{Name: c.Name, Op: int8(c.Op)}
				if c.Value != nil {
					change.Value = *c.Value
				} else if c.Op != kmsg.IncrementalAlterConfigOpDelete {
					return nil, fmt.Errorf("%w: Null value not supported for : %s", meta.ErrInvalidRequest, c.Name)
				}
				changes = append(changes, change)
			}
			return changes, nil
		}, false, func() error {
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
