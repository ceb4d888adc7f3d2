package meta

import (
	"errors"
	"io"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"spool/engine"
	"spool/internal/batchtest"
	"spool/segment"
)

func openCluster(t *testing.T, dir string, autoCreate bool) (*Cluster, []*engine.Shard) {
	t.Helper()
	shards := []*engine.Shard{engine.NewShard(engine.ShardConfig{CPU: -1}), engine.NewShard(engine.ShardConfig{CPU: -1})}
	c, err := Open(Config{
		DataDir:       dir,
		Shards:        shards,
		Defaults:      engine.LogConfig{Segment: segment.Config{SegmentBytes: 1 << 20, IndexBytes: 64 << 10}, RetentionMillis: -1, RetentionBytes: -1},
		NumPartitions: 3,
		AutoCreate:    autoCreate,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, shards
}

func closeCluster(t *testing.T, c *Cluster, shards []*engine.Shard) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, s := range shards {
		s.Stop()
	}
}

func TestTopicsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	c, shards := openCluster(t, dir, false)
	created, err := c.CreateTopic("events", 4, map[string]string{"retention.ms": "1000", "cleanup.policy": "delete"}, false)
	if err != nil {
		t.Fatal(err)
	}
	p := created.Partitions[2]
	if _, err := p.Shard.Append(p.Log, batchtest.Values(3, 10, 1), 0, true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTopic("events", 1, nil, false); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := c.CreatePartitions("events", 6, false); err != nil {
		t.Fatal(err)
	}
	if err := c.CreatePartitions("events", 2, false); !errors.Is(err, ErrInvalidPartitions) {
		t.Fatalf("shrink: %v", err)
	}
	if err := c.AlterConfigs("events", map[string]string{"retention.bytes": "4096"}, nil, true, false); err != nil {
		t.Fatal(err)
	}
	if got := c.LogConfigFor(mustTopic(t, c, "events")); got.RetentionMillis != 1000 || got.RetentionBytes != 4096 {
		t.Fatalf("log config %+v", got)
	}
	if cfg := mustTopic(t, c, "events").Partitions[0].Log.Config(); cfg.RetentionBytes != 4096 {
		t.Fatalf("alter did not reach the log: %+v", cfg)
	}
	if _, err := c.CreateTopic("gone", 2, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTopic("gone"); err != nil {
		t.Fatal(err)
	}
	closeCluster(t, c, shards)

	c, shards = openCluster(t, dir, false)
	defer closeCluster(t, c, shards)
	events := mustTopic(t, c, "events")
	if events.ID != created.ID || len(events.Partitions) != 6 || events.Configs["retention.bytes"] != "4096" || events.Configs["retention.ms"] != "1000" {
		t.Fatalf("after restart: %+v", events)
	}
	if events.Partitions[2].Log.LogEndOffset() != 3 {
		t.Fatalf("data lost: end %d", events.Partitions[2].Log.LogEndOffset())
	}
	if _, ok := c.Topic("gone"); ok {
		t.Fatal("deleted topic came back")
	}
	if _, err := os.Stat(filepath.Join(dir, "gone-0")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("deleted topic's directory remains")
	}
	if byID, ok := c.TopicByID(created.ID); !ok || byID.Name != "events" {
		t.Fatal("lookup by id")
	}
	entries, err := c.DescribeConfigs("events")
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string]ConfigSource{}
	for _, e := range entries {
		sources[e.Name] = e.Source
	}
	if sources["retention.bytes"] != SourceTopic || sources["segment.bytes"] != SourceBroker || sources["min.insync.replicas"] != SourceDefault {
		t.Fatalf("sources %v", sources)
	}
}

func mustTopic(t *testing.T, c *Cluster, name string) *Topic {
	t.Helper()
	topic, ok := c.Topic(name)
	if !ok {
		t.Fatalf("no topic %s", name)
	}
	return topic
}

func TestValidationAndAutoCreate(t *testing.T) {
	c, shards := openCluster(t, t.TempDir(), false)
	defer closeCluster(t, c, shards)
	for _, name := range []string{"", ".", "..", "a b", "ü", string(make([]byte, 250))} {
		if _, err := c.CreateTopic(name, 1, nil, false); !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("name %q: %v", name, err)
		}
	}
	if _, err := c.CreateTopic("x", 1, map[string]string{"retention.ms": "soon"}, false); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("bad value: %v", err)
	}
	if _, err := c.CreateTopic("x", 1, map[string]string{"no.such": "1"}, false); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("unknown config: %v", err)
	}
	if _, err := c.CreateTopic("v", 2, nil, true); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Topic("v"); ok {
		t.Fatal("validate-only created the topic")
	}
	if _, err := c.EnsureTopic("auto"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("auto-create off: %v", err)
	}
	c.cfg.AutoCreate = true
	if topic, err := c.EnsureTopic("auto"); err != nil || len(topic.Partitions) != 3 {
		t.Fatalf("auto-create: %v", err)
	}
}

// TestMetadataLogTornTail cuts the metadata log at random points and
// checks that the topics of every whole record survive.
func TestMetadataLogTornTail(t *testing.T) {
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	for iteration := 0; iteration < 10; iteration++ {
		dir := t.TempDir()
		c, shards := openCluster(t, dir, false)
		names := []string{"a", "b", "c", "d", "e"}
		for _, n := range names {
			if _, err := c.CreateTopic(n, 1, nil, false); err != nil {
				t.Fatal(err)
			}
		}
		// Stop without Close: no snapshot; the log holds five records.
		for _, topic := range c.Topics() {
			for _, p := range topic.Partitions {
				p.Shard.Do(func() { p.Log.Close() })
			}
		}
		close(c.stop)
		<-c.done
		c.log.close()
		for _, s := range shards {
			s.Stop()
		}
		path := filepath.Join(dir, metadataDirName, logFileName)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cut := rng.Intn(len(data) + 1)
		os.WriteFile(path, append(data[:cut:cut], make([]byte, rng.Intn(40))...), 0o644)
		whole := 0
		for position := 0; position < cut; {
			payload, ok := readRecord(data[position:cut])
			if !ok {
				break
			}
			whole++
			position += recordHeaderBytes + len(payload)
		}
		c, shards = openCluster(t, dir, false)
		if got := len(c.Topics()); got != whole {
			t.Fatalf("seed %d: cut at %d of %d: %d topics, %d whole records", seed, cut, len(data), got, whole)
		}
		closeCluster(t, c, shards)
	}
}

func FuzzReplay(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 1, 2, 3, 4, '{', '}'})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, metadataDirName), 0o755)
		os.WriteFile(filepath.Join(dir, metadataDirName, logFileName), data, 0o644)
		l, st, err := openMetaLog(filepath.Join(dir, metadataDirName), func(string, ...any) {})
		if err != nil {
			return
		}
		l.close()
		if st.Topics == nil {
			t.Fatal("nil topics")
		}
	})
}

// TestMetadataTopicFromOlderVersionIsNotOpened: a metadata log written
// before reserved names were refused may hold a topic named
// __cluster_metadata. Open must neither open the metadata log's own
// directory as that topic's partition nor publish it (so no client can
// delete it), and every other topic must survive.
func TestMetadataTopicFromOlderVersionIsNotOpened(t *testing.T) {
	dir := t.TempDir()
	c, shards := openCluster(t, dir, false)
	mustCreate := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.CreateTopic("events", 2, nil, false)
	mustCreate(err)
	// What an older version wrote for a client's CreateTopics.
	c.mu.Lock()
	err = c.commit(&record{Type: "create_topic", Name: ClusterMetadataTopic, ID: [16]byte{1}, Partitions: 1})
	c.mu.Unlock()
	mustCreate(err)
	closeCluster(t, c, shards)

	c, shards = openCluster(t, dir, false)
	defer closeCluster(t, c, shards)
	if _, ok := c.Topic(ClusterMetadataTopic); ok {
		t.Fatal("the metadata log was published as a topic")
	}
	if err := c.DeleteTopic(ClusterMetadataTopic); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("DeleteTopic(%s): %v", ClusterMetadataTopic, err)
	}
	mustTopic(t, c, "events")
	if _, err := os.Stat(filepath.Join(dir, metadataDirName, "00000000000000000000.log")); err == nil {
		t.Fatal("a partition log was opened in the metadata log's directory")
	}
}
