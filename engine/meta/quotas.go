package meta

// Client quotas (DescribeClientQuotas / AlterClientQuotas): stored here,
// durably, in the metadata log, and not enforced (enforcement belongs to
// the security work).
//
// A quota is an entity and its values. The entity is one to two
// components, each a type (user, client-id or ip) and a name, nil for the
// type's default entity. The record is
//
//	{"type":"set_quota","quota":{"entity":[{"type":"user","name":"alice"}],
//	 "values":{"producer_byte_rate":1024}}}
//
// with the entity's whole set of values after the change (none: the
// entity is removed), so replaying it again sets the same state. The
// snapshot holds every quota under "quotas"; a snapshot or log without
// them (written before quotas existed) reads as none.

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// QuotaComponent is one component of a quota entity; a nil Name is the
// type's default entity.
type QuotaComponent struct {
	Type string  `json:"type"`
	Name *string `json:"name,omitempty"`
}

// Quota is an entity, its components in type order, and its values.
type Quota struct {
	Entity []QuotaComponent   `json:"entity"`
	Values map[string]float64 `json:"values,omitempty"`
}

// quotasMax bounds the stored quota entities: each alteration that adds
// one past it is refused.
const quotasMax = 100_000

// ErrQuotaLimit says quotasMax entities are already stored.
var ErrQuotaLimit = errors.New("meta: too many client quota entities")

// quotaKey is an entity's map key: its components in type order.
func quotaKey(entity []QuotaComponent) string {
	var b strings.Builder
	for _, c := range entity {
		b.WriteString(c.Type)
		if c.Name == nil {
			b.WriteString("\x00d")
		} else {
			b.WriteString("\x00n")
			b.WriteString(*c.Name)
		}
		b.WriteByte(0)
	}
	return b.String()
}

func sortedEntity(entity []QuotaComponent) []QuotaComponent {
	out := slices.Clone(entity)
	slices.SortFunc(out, func(a, b QuotaComponent) int { return strings.Compare(a.Type, b.Type) })
	return out
}

// applyQuota applies a set_quota record to the state.
func (s *state) applyQuota(q *Quota) error {
	if q == nil || len(q.Entity) == 0 {
		return errors.New("set_quota record without an entity")
	}
	key := quotaKey(q.Entity)
	if len(q.Values) == 0 {
		delete(s.Quotas, key)
		return nil
	}
	if s.Quotas == nil {
		s.Quotas = map[string]*Quota{}
	}
	s.Quotas[key] = &Quota{Entity: q.Entity, Values: maps.Clone(q.Values)}
	return nil
}

// Quotas returns every stored quota (copies), in entity key order.
func (c *Cluster) Quotas() []Quota {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := slices.Sorted(maps.Keys(c.state.Quotas))
	out := make([]Quota, 0, len(keys))
	for _, k := range keys {
		q := c.state.Quotas[k]
		out = append(out, Quota{Entity: slices.Clone(q.Entity), Values: maps.Clone(q.Values)})
	}
	return out
}

// AlterQuota sets and removes an entity's values (validated by the
// caller) durably. With validateOnly nothing is written.
func (c *Cluster) AlterQuota(entity []QuotaComponent, set map[string]float64, remove []string, validateOnly bool) error {
	if c.follower.Load() {
		return ErrFollower
	}
	return c.alterQuota(entity, set, remove, validateOnly)
}

func (c *Cluster) alterQuota(entity []QuotaComponent, set map[string]float64, remove []string, validateOnly bool) error {
	entity = sortedEntity(entity)
	c.mu.Lock()
	defer c.mu.Unlock()
	key := quotaKey(entity)
	values := map[string]float64{}
	old, exists := c.state.Quotas[key]
	if exists {
		maps.Copy(values, old.Values)
	}
	maps.Copy(values, set)
	for _, k := range remove {
		delete(values, k)
	}
	if !exists && len(values) > 0 && len(c.state.Quotas) >= quotasMax {
		return fmt.Errorf("%w (%d)", ErrQuotaLimit, quotasMax)
	}
	if validateOnly || (!exists && len(values) == 0) || (exists && maps.Equal(values, old.Values)) {
		return nil
	}
	return c.commit(&record{Type: "set_quota", Quota: &Quota{Entity: entity, Values: values}})
}

// MirrorQuotas makes this node's quotas the leader's (a standby, with each
// Quotas frame): entities the leader lacks are removed, the others set to
// the leader's values. It reports how many entities changed.
func (c *Cluster) MirrorQuotas(quotas []Quota) (changed int, err error) {
	want := map[string]*Quota{}
	for _, q := range quotas {
		if len(q.Entity) > 0 && len(q.Values) > 0 {
			want[quotaKey(sortedEntity(q.Entity))] = &Quota{Entity: sortedEntity(q.Entity), Values: q.Values}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var records []*record
	for key, have := range c.state.Quotas {
		if _, ok := want[key]; !ok {
			records = append(records, &record{Type: "set_quota", Quota: &Quota{Entity: have.Entity}})
		}
	}
	for key, q := range want {
		if have, ok := c.state.Quotas[key]; !ok || !maps.Equal(have.Values, q.Values) {
			records = append(records, &record{Type: "set_quota", Quota: &Quota{Entity: q.Entity, Values: maps.Clone(q.Values)}})
		}
	}
	for _, r := range records {
		if err := c.commit(r); err != nil {
			return changed, err
		}
		changed++
	}
	return changed, nil
}
