package meta

import (
	"errors"
	"fmt"
	"maps"
)

// MirrorTopic is a topic as a leader describes it to its standby.
type MirrorTopic struct {
	Name       string
	ID         [16]byte
	Partitions int32
	Configs    map[string]string
}

// Mirror makes this node's topics the leader's: topics the leader lacks are
// deleted, a topic whose ID differs (deleted and created again on the
// leader) is recreated, missing ones are created with the leader's ID,
// partitions grow, and configs are replaced. A standby calls it with each
// Metadata frame; the leader's topics win. It reports what it changed.
func (c *Cluster) Mirror(topics []MirrorTopic) (changed int, err error) {
	want := make(map[string]MirrorTopic, len(topics))
	for _, t := range topics {
		want[t.Name] = t
	}
	var errs []error
	for _, have := range c.Topics() {
		if t, ok := want[have.Name]; !ok || t.ID != have.ID {
			if err := c.deleteTopic(have.Name); err != nil {
				errs = append(errs, fmt.Errorf("mirror: delete %s: %w", have.Name, err))
				continue
			}
			changed++
		}
	}
	for _, t := range topics {
		have, ok := c.Topic(t.Name)
		switch {
		case !ok:
			if _, err := c.CreateTopicWithID(t.Name, t.ID, t.Partitions, t.Configs); err != nil {
				errs = append(errs, fmt.Errorf("mirror: create %s: %w", t.Name, err))
				continue
			}
			changed++
			continue
		case int32(len(have.Partitions)) < t.Partitions:
			if err := c.createPartitions(t.Name, t.Partitions, false); err != nil {
				errs = append(errs, fmt.Errorf("mirror: grow %s: %w", t.Name, err))
				continue
			}
			changed++
		}
		if !maps.Equal(have.Configs, t.Configs) && !(len(have.Configs) == 0 && len(t.Configs) == 0) {
			if err := c.alterConfigs(t.Name, t.Configs, nil, false, false); err != nil {
				errs = append(errs, fmt.Errorf("mirror: configs of %s: %w", t.Name, err))
				continue
			}
			changed++
		}
	}
	return changed, errors.Join(errs...)
}
