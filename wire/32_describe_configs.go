package wire

// DescribeConfigs (32), versions 0-4.
//
// Topic resources (type 2) carry every topic config of Kafka 4.1
// (engine/meta/topicconfigs.go), with where each value comes from, as
// Kafka answers: include_synonyms (v1+) adds the chain (the topic's
// override DYNAMIC_TOPIC_CONFIG, the broker properties set in the
// properties file STATIC_BROKER_CONFIG under Kafka's broker names, then
// DEFAULT_CONFIG), include_documentation (v3+) a one-line description, and
// config_type (v3+) Kafka's ConfigDef type.
//
// Broker resources (type 4): this node's id lists every property the
// broker reads (engine/meta/brokerconfigs.go) with its source
// (DYNAMIC_BROKER_CONFIG, DYNAMIC_DEFAULT_BROKER_CONFIG,
// STATIC_BROKER_CONFIG, DEFAULT_CONFIG), read_only for those that cannot
// be altered, null for sensitive values; "" lists the cluster-wide dynamic
// defaults only; another id is INVALID_REQUEST, as in Kafka. BROKER_LOGGER
// (type 8) for this node lists no loggers (spool's logging is not log4j
// and has no per-logger levels); another id is INVALID_REQUEST.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine/meta"
)

const (
	resourceTopic        = 2
	resourceBroker       = 4
	resourceBrokerLogger = 8
)

func handleDescribeConfigs(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.DescribeConfigsRequest)
	kresp := r.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, resource := range r.Resources {
		result := kmsg.NewDescribeConfigsResponseResource()
		result.ResourceType, result.ResourceName = resource.ResourceType, resource.ResourceName
		switch resource.ResourceType {
		case resourceTopic, resourceBroker:
			describe := s.cfg.Cluster.DescribeConfigs
			if resource.ResourceType == resourceBroker {
				describe = s.cfg.Cluster.DescribeBrokerConfigs
			}
			entries, err := describe(resource.ResourceName)
			result.ErrorCode, result.ErrorMessage = errorCode(err), errorMessage(err)
			wanted := map[string]bool{}
			for _, name := range resource.ConfigNames {
				wanted[name] = true
			}
			for _, e := range entries {
				if resource.ConfigNames != nil && !wanted[e.Name] {
					continue
				}
				result.Configs = append(result.Configs, describedConfig(&e, r.IncludeSynonyms, r.IncludeDocumentation))
			}
		case resourceBrokerLogger:
			err := s.cfg.Cluster.CheckBrokerLogger(resource.ResourceName)
			result.ErrorCode, result.ErrorMessage = errorCode(err), errorMessage(err)
		default:
			result.ErrorCode = kerr.InvalidRequest.Code
			result.ErrorMessage = errorMessage(fmt.Errorf("resource type %d is not served", resource.ResourceType))
		}
		kresp.Resources = append(kresp.Resources, result)
	}
	s.encode(h, kresp, resp)
	return nil
}

// describedConfig is one config as DescribeConfigs answers it.
func describedConfig(e *meta.ConfigEntry, synonyms, documentation bool) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	value := e.Value
	c.Name, c.Value = e.Name, &value
	if e.Null {
		c.Value = nil
	}
	c.ReadOnly, c.IsSensitive, c.IsDefault = e.ReadOnly, e.Sensitive, e.IsDefault
	c.Source = kmsg.ConfigSource(e.Source)
	c.ConfigType = kmsg.ConfigType(e.Type)
	if documentation {
		doc := e.Documentation
		c.Documentation = &doc
	}
	if synonyms {
		for _, s := range e.Synonyms {
			synonym := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			synonymValue := s.Value
			synonym.Name, synonym.Value, synonym.Source = s.Name, &synonymValue, kmsg.ConfigSource(s.Source)
			if s.Null {
				synonym.Value = nil
			}
			c.ConfigSynonyms = append(c.ConfigSynonyms, synonym)
		}
	}
	return c
}
