package wire

// AlterConfigs (33), versions 0-2.
//
// Replaces a topic's overrides, or a broker resource's dynamic configs
// ("" the cluster-wide default, or this node's id), with the ones given
// (engine/meta/brokerconfigs.go). A broker property Kafka or spool cannot
// change at runtime, a bad value and the wrong broker id are
// INVALID_REQUEST, as in Kafka; nothing changes then.

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
		err := alterResource(s, resource.ResourceType, resource.ResourceName, r.ValidateOnly, func() ([]meta.BrokerConfigChange, error) {
			var changes []meta.BrokerConfigChange
			for _, c := range resource.Configs {
				if c.Value == nil {
					return nil, fmt.Errorf("%w: Null value not supported for : %s", meta.ErrInvalidRequest, c.Name)
				}
				changes = append(changes, meta.BrokerConfigChange{Name: c.Name, Value: *c.Value})
			}
			return changes, nil
		}, true, func() error {
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

// alterResource runs alterTopic for a topic resource, alters a broker
// resource with the changes brokerChanges lists (replace: AlterConfigs'
// whole set), and refuses every other kind.
func alterResource(s *Server, resourceType kmsg.ConfigResourceType, name string, validateOnly bool, brokerChanges func() ([]meta.BrokerConfigChange, error), replace bool, alterTopic func() error) error {
	switch resourceType {
	case resourceTopic:
		return alterTopic()
	case resourceBroker:
		changes, err := brokerChanges()
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, c := range changes {
			if seen[c.Name] {
				return fmt.Errorf("%w: Error due to duplicate config keys", meta.ErrInvalidRequest)
			}
			seen[c.Name] = true
		}
		return s.cfg.Cluster.AlterBrokerConfigs(name, changes, replace, validateOnly)
	}
	return fmt.Errorf("%w: only topic and broker configs can be altered", meta.ErrInvalidConfig)
}
