package group

import (
	"io"
	"log/slog"
	"testing"
	"time"
)

// FuzzReplayRecord feeds arbitrary keys and values of __consumer_offsets to
// the replay: a record spool cannot parse is an error, never a panic, and
// the groups it builds stay consistent enough to describe and list.
func FuzzReplayRecord(f *testing.F) {
	f.Add(offsetKey("g", TopicPartition{Topic: "t", Partition: 3}), offsetValue(Committed{Offset: 42, LeaderEpoch: -1, Metadata: "m", CommitTime: time.UnixMilli(1)}))
	g := newGroup("g", 0, time.Now())
	g.protocolType, g.protocol, g.generation = "consumer", "range", 4
	g.addMember(&member{id: "m-1", protocols: []Protocol{{Name: "range", Metadata: []byte("sub")}}, assignment: []byte("a"), sessionTimeout: time.Second})
	g.leader = "m-1"
	f.Add(groupKey("g"), g.metadataValue(time.Now()))
	f.Add(groupKey("g"), []byte(nil))
	f.Add([]byte{0, 9}, []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		c := &Coordinator{logger: slog.New(slog.NewTextHandler(io.Discard, nil)), groups: map[string]*group{}}
		now := time.Now()
		c.replayRecord(0, 0, key, value, now)
		c.replayRecord(0, 1, key, nil, now)
		c.replayRecord(0, 2, key, value, now)
		for id := range c.groups {
			c.Describe(id)
		}
		c.List()
	})
}
