package wire

// DescribeClientQuotas (48), versions 0-1, and AlterClientQuotas (49),
// versions 0-1.
//
// Quotas are stored in the metadata log (engine/meta/quotas.go) and
// survive restarts, but are not enforced: no request is throttled (that
// is the security work's). Entities are as Kafka's controller accepts
// them: user, client-id, or user and client-id together, or ip alone,
// each type at most once, a null name the default entity, an ip name a
// literal address; keys producer_byte_rate, consumer_byte_rate,
// request_percentage and controller_mutation_rate for user and client-id
// entities, connection_creation_rate for ip; byte rates and connection
// rates whole numbers. Anything else is INVALID_REQUEST for that entry
// (an unknown key too, as in Kafka), and nothing of it is stored.
// validate_only checks without storing. On a standby, alterations are
// NOT_CONTROLLER.
//
// Describe matches as Kafka does: each component filters one entity type,
// exact (that name), default (the default entity) or any (the type
// present); strict leaves out entities with types beyond the filter's. A
// repeated type, an exact match without a name or an unknown match type
// is INVALID_REQUEST for the whole request.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine/meta"
)

// quotaKeys are the quota keys of each entity kind, true for whole-number
// keys.
var (
	clientQuotaKeys = map[string]bool{"producer_byte_rate": true, "consumer_byte_rate": true, "request_percentage": false, "controller_mutation_rate": false}
	ipQuotaKeys     = map[string]bool{"connection_creation_rate": true}
)

func validQuotaEntity(entity []meta.QuotaComponent) (keys map[string]bool, err error) {
	seen := map[string]bool{}
	for _, c := range entity {
		if seen[c.Type] {
			return nil, fmt.Errorf("entity type %s named twice", c.Type)
		}
		seen[c.Type] = true
		switch c.Type {
		case "user", "client-id":
		case "ip":
			if c.Name != nil {
				if _, err := netip.ParseAddr(*c.Name); err != nil {
					return nil, fmt.Errorf("%s is not a valid IP address", *c.Name)
				}
			}
		default:
			return nil, fmt.Errorf("unrecognized entity type %q", c.Type)
		}
	}
	switch {
	case len(entity) == 0:
		return nil, errors.New("an entity needs at least one component")
	case seen["ip"] && len(entity) > 1:
		return nil, errors.New("an ip entity cannot be combined with other entity types")
	case seen["ip"]:
		return ipQuotaKeys, nil
	}
	return clientQuotaKeys, nil
}

func alterQuotaEntry(s *Server, e kmsg.AlterClientQuotasRequestEntry, validateOnly bool) (int16, error) {
	entity := make([]meta.QuotaComponent, 0, len(e.Entity))
	for _, c := range e.Entity {
		entity = append(entity, meta.QuotaComponent{Type: c.Type, Name: c.Name})
	}
	keys, err := validQuotaEntity(entity)
	if err != nil {
		return kerr.InvalidRequest.Code, err
	}
	set := map[string]float64{}
	var remove []string
	for _, op := range e.Ops {
		whole, known := keys[op.Key]
		switch {
		case !known:
			return kerr.InvalidRequest.Code, fmt.Errorf("invalid configuration key %s", op.Key)
		case op.Remove:
			remove = append(remove, op.Key)
			delete(set, op.Key)
		case math.IsNaN(op.Value) || math.IsInf(op.Value, 0) || op.Value < 0:
			return kerr.InvalidRequest.Code, fmt.Errorf("configuration %s must be a finite number, not negative", op.Key)
		case whole && (op.Value != math.Trunc(op.Value) || op.Value > math.MaxInt64):
			return kerr.InvalidRequest.Code, fmt.Errorf("configuration %s must be a Long value", op.Key)
		default:
			set[op.Key] = op.Value
			remove = slices.DeleteFunc(remove, func(k string) bool { return k == op.Key })
		}
	}
	if err := s.cfg.Cluster.AlterQuota(entity, set, remove, validateOnly); err != nil {
		if errors.Is(err, meta.ErrFollower) {
			return kerr.NotController.Code, err
		}
		if errors.Is(err, meta.ErrQuotaLimit) {
			return kerr.PolicyViolation.Code, err
		}
		return kerr.KafkaStorageError.Code, err
	}
	return 0, nil
}

func handleAlterClientQuotas(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.AlterClientQuotasRequest)
	kresp := r.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	for _, e := range r.Entries {
		ke := kmsg.NewAlterClientQuotasResponseEntry()
		for _, c := range e.Entity {
			ke.Entity = append(ke.Entity, kmsg.AlterClientQuotasResponseEntryEntity{Type: c.Type, Name: c.Name})
		}
		if code, err := alterQuotaEntry(s, e, r.ValidateOnly); code != 0 {
			ke.ErrorCode, ke.ErrorMessage = code, errorMessage(err)
		}
		kresp.Entries = append(kresp.Entries, ke)
	}
	s.encode(h, kresp, resp)
	return nil
}

// quotaMatches reports whether a stored entity passes a Describe filter.
func quotaMatches(entity []meta.QuotaComponent, filter []kmsg.DescribeClientQuotasRequestComponent, strict bool) bool {
	if strict && len(entity) != len(filter) {
		return false
	}
	for _, f := range filter {
		i := slices.IndexFunc(entity, func(c meta.QuotaComponent) bool { return c.Type == f.EntityType })
		if i < 0 {
			return false
		}
		name := entity[i].Name
		switch f.MatchType {
		case kmsg.QuotasMatchTypeExact:
			if name == nil || *name != *f.Match {
				return false
			}
		case kmsg.QuotasMatchTypeDefault:
			if name != nil {
				return false
			}
		}
	}
	return true
}

func handleDescribeClientQuotas(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.DescribeClientQuotasRequest)
	kresp := r.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	seen := map[string]bool{}
	for _, f := range r.Components {
		var problem string
		switch {
		case seen[f.EntityType]:
			problem = fmt.Sprintf("entity type %s filtered twice", f.EntityType)
		case f.MatchType == kmsg.QuotasMatchTypeExact && f.Match == nil:
			problem = "an exact match needs a name"
		case f.MatchType != kmsg.QuotasMatchTypeExact && f.MatchType != kmsg.QuotasMatchTypeDefault && f.MatchType != kmsg.QuotasMatchTypeAny:
			problem = fmt.Sprintf("unknown match type %d", f.MatchType)
		}
		if problem != "" {
			kresp.ErrorCode, kresp.ErrorMessage = kerr.InvalidRequest.Code, &problem
			s.encode(h, kresp, resp)
			return nil
		}
		seen[f.EntityType] = true
	}
	for _, q := range s.cfg.Cluster.Quotas() {
		if !quotaMatches(q.Entity, r.Components, r.Strict) {
			continue
		}
		ke := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, c := range q.Entity {
			ke.Entity = append(ke.Entity, kmsg.DescribeClientQuotasResponseEntryEntity{Type: c.Type, Name: c.Name})
		}
		for _, k := range slices.Sorted(maps.Keys(q.Values)) {
			ke.Values = append(ke.Values, kmsg.DescribeClientQuotasResponseEntryValue{Key: k, Value: q.Values[k]})
		}
		kresp.Entries = append(kresp.Entries, ke)
	}
	s.encode(h, kresp, resp)
	return nil
}
