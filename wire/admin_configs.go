package wire

// DescribeConfigs (32) versions 0-4, AlterConfigs (33) versions 0-2,
// IncrementalAlterConfigs (44) versions 0-1.
//
// Topic resources (type 2) carry the topic configs the metadata log keeps
// (retention.ms, retention.bytes, segment.bytes, segment.ms, cleanup.policy,
// max.message.bytes, message.timestamp.type, min.insync.replicas, ...).
// Broker resources (type 4) describe as empty and cannot be altered: broker
// settings come from the properties file at start. Incremental APPEND and
// SUBTRACT (list-valued configs) are refused with INVALID_CONFIG.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine/meta"
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

// alterTopicOnly runs alter for a topic resource and refuses every other
// kind: broker settings come from the properties file at start.
func alterTopicOnly(resourceType kmsg.ConfigResourceType, alter func() error) error {
	if resourceType != resourceTopic {
		return fmt.Errorf("%w: only topic configs can be altered; broker settings are static", meta.ErrInvalidConfig)
	}
	return alter()
}
