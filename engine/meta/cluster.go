// Package meta holds the cluster's metadata and the broker's own files:
// topics, their partitions, configs and topic IDs, kept in the metadata
// log (metalog.go) so they survive restart and replicate to a standby
// (mirror.go); the registry through which the protocol layer finds a
// partition's log and shard (cluster.go); the cluster id and the producer
// id blocks (brokerfiles.go, which tables every broker file of the data
// directory); and the background loops, retention and the log cleaner
// (loops.go).
//
// Ownership: changes (create, delete, alter) serialize on the Cluster's
// mutex and publish a new immutable topic map with an atomic store; readers
// (Topic, TopicByID, Topics) never lock. Each partition's log belongs to
// its shard: the Cluster opens, reconfigures and closes logs through
// Shard.Do. NextProducerID may be called from any goroutine (its own
// lock).
package meta

import (
	"crypto/rand"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"spool/engine"
)

// Errors, mapped to Kafka codes by the wire package.
var (
	ErrTopicExists       = errors.New("meta: topic already exists")
	ErrUnknownTopic      = errors.New("meta: unknown topic")
	ErrInvalidTopic      = errors.New("meta: invalid topic name")
	ErrInvalidPartitions = errors.New("meta: invalid partition count")
	ErrInvalidConfig     = errors.New("meta: invalid config")
	ErrFollower          = errors.New("meta: this node is a standby; its leader owns the metadata")
	// ErrReservedTopic refuses a client's create or delete of a name the
	// broker keeps for itself (Kafka: INVALID_REQUEST).
	ErrReservedTopic = errors.New("meta: reserved for the broker's own use")
)

// Limits.
const (
	topicNameBytesMax     = 249
	partitionsMax         = 10_000
	metadataDirName       = ClusterMetadataTopic + "-0"
	retentionCheckDefault = 5 * time.Minute
	cleanerBackoffDefault = 15 * time.Second
)

// Config configures a Cluster.
type Config struct {
	DataDir                string
	Shards                 []*engine.Shard
	Defaults               engine.LogConfig
	NumPartitions          int32
	AutoCreate             bool
	RetentionCheckInterval time.Duration
	// CleanerDisabled turns the log cleaner off (log.cleaner.enable=false):
	// compacted topics then grow until it is on again.
	CleanerDisabled bool
	// CleanerBackoff is log.cleaner.backoff.ms: how long the cleaner
	// sleeps when no log needs cleaning.
	CleanerBackoff time.Duration
	// BrokerProperties are the broker properties the operator set (file
	// or flags), Kafka's names: DescribeConfigs reports those that are a
	// topic config's synonyms as STATIC_BROKER_CONFIG.
	BrokerProperties map[string]string
	// NodeID is node.id: the broker resource this node answers for.
	NodeID int32
	// Properties are every property the broker reads, for
	// DescribeConfigs on the broker resource (brokerconfigs.go).
	Properties []BrokerProperty
	Logger     *slog.Logger
}

// Topic is a published topic; never mutated once published.
type Topic struct {
	Name       string
	ID         [16]byte
	Partitions []*Partition
	Configs    map[string]string // explicit overrides only
	Internal   bool
}

// IsInternal reports whether a topic is one of the broker's own, as Kafka
// names them: clients may read it, not produce to it.
func IsInternal(name string) bool {
	return name == ConsumerOffsetsTopic || name == TransactionStateTopic
}

// The names the broker keeps for itself. A topic of one of these names is
// created only by the broker (CreateInternalTopic) or mirrored from a
// leader, never by a client, and never deleted by one:
// __cluster_metadata is the metadata log's own directory
// (__cluster_metadata-0), so a "topic" of that name would be the metadata
// log itself, and deleting it would forget every topic.
const (
	ConsumerOffsetsTopic  = "__consumer_offsets"  // committed offsets and group metadata
	TransactionStateTopic = "__transaction_state" // the transaction coordinator's log (not built yet)
	ClusterMetadataTopic  = "__cluster_metadata"  // the metadata log (metalog.go), never a topic
)

// IsReserved reports whether clients may neither create nor delete a topic
// of this name.
func IsReserved(name string) bool {
	return IsInternal(name) || name == ClusterMetadataTopic
}

// collisionName is a topic name with '.' as '_': Kafka refuses a topic
// whose name differs from an existing one only there, because both would
// report metrics under the same name.
func collisionName(name string) string { return strings.ReplaceAll(name, ".", "_") }

// Partition is one partition's log and the shard that owns it. Its leader
// epoch is the cluster's (Cluster.Epoch).
type Partition struct {
	Topic string
	Index int32
	Log   *engine.Log
	Shard *engine.Shard
}

type topicMaps struct {
	byName map[string]*Topic
	byID   map[[16]byte]*Topic
}

// Cluster is the metadata and the partition registry.
type Cluster struct {
	cfg    Config
	logger *slog.Logger
	topics atomic.Pointer[topicMaps]

	mu  sync.Mutex // serializes changes
	log *metaLog
	// producerIDs hands out producer ids (brokerfiles.go); its own lock.
	producerIDs *producerIDs
	// partitionsCreated observes new partitions (SetPartitionsCreated).
	partitionsCreated atomic.Pointer[func([]*Partition)]

	// follower: a standby mirrors its leader's topics (Mirror); changes
	// from clients are refused with ErrFollower.
	follower atomic.Bool
	epoch    atomic.Int32
	state    *state
	// dynamicDefaults are the topic defaults with the dynamic broker
	// configs applied (nil: cfg.Defaults), dynamicMinISR the dynamic
	// min.insync.replicas (0: none); written under mu, read anywhere.
	dynamicDefaults atomic.Pointer[engine.LogConfig]
	dynamicMinISR   atomic.Int32

	stop chan struct{}
	done chan struct{}
	// cleanerDone is closed when the cleaner loop has stopped; cleanNow
	// asks it for an immediate round.
	cleanerDone chan struct{}
	cleanNow    chan chan struct{}
	// cleaning is held by the cleaner for each pass; a topic deletion
	// takes it after closing the logs (which makes a pass give up) and
	// before removing their directories, so a pass never writes into a
	// directory being removed.
	cleaning sync.Mutex
}

// Open replays the metadata log, finishes deletions a crash interrupted,
// opens every partition's log on its shard, and starts the retention loop.
func Open(cfg Config) (*Cluster, error) {
	if len(cfg.Shards) == 0 {
		return nil, errors.New("meta: no shards")
	}
	if cfg.NumPartitions <= 0 {
		cfg.NumPartitions = 1
	}
	if cfg.RetentionCheckInterval <= 0 {
		cfg.RetentionCheckInterval = retentionCheckDefault
	}
	if cfg.CleanerBackoff <= 0 {
		cfg.CleanerBackoff = cleanerBackoffDefault
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Cluster{cfg: cfg, logger: cfg.Logger, stop: make(chan struct{}), done: make(chan struct{}), cleanerDone: make(chan struct{}), cleanNow: make(chan chan struct{})}
	var err error
	if c.producerIDs, err = openProducerIDs(cfg.DataDir); err != nil {
		return nil, err
	}
	c.log, c.state, err = openMetaLog(filepath.Join(cfg.DataDir, metadataDirName), func(msg string, args ...any) { c.logger.Warn(msg, args...) })
	if err != nil {
		return nil, err
	}
	c.openBrokerConfigs()
	maps := &topicMaps{byName: map[string]*Topic{}, byID: map[[16]byte]*Topic{}}
	names := make([]string, 0, len(c.state.Topics))
	for name := range c.state.Topics {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ts := c.state.Topics[name]
		if name == ClusterMetadataTopic {
			// Written by a version that let clients create it: its
			// "partition" is the metadata log's own directory. Never open
			// it as a log, and never publish it (so it cannot be deleted).
			c.logger.Error("the metadata log names a topic that is the metadata log itself; it is not served", "topic", name)
			continue
		}
		t := &Topic{Name: ts.Name, ID: ts.ID, Configs: ts.Configs, Internal: IsInternal(name)}
		if err := c.openPartitions(t, 0, ts.Partitions); err != nil {
			c.closeTopics(maps)
			c.log.close()
			return nil, err
		}
		maps.byName[t.Name] = t
		maps.byID[t.ID] = t
	}
	c.topics.Store(maps)
	c.epoch.Store(c.state.Epoch)
	if err := c.purgeDeleted(); err != nil {
		c.logger.Warn("could not finish removing deleted topics", "error", err)
	}
	go c.retentionLoop()
	go c.cleanerLoop()
	return c, nil
}

// DataDir is the data directory.
func (c *Cluster) DataDir() string { return c.cfg.DataDir }

// Topic finds a topic by name. Any goroutine.
func (c *Cluster) Topic(name string) (*Topic, bool) {
	t, ok := c.topics.Load().byName[name]
	return t, ok
}

// TopicByID finds a topic by ID. Any goroutine.
func (c *Cluster) TopicByID(id [16]byte) (*Topic, bool) {
	t, ok := c.topics.Load().byID[id]
	return t, ok
}

// Topics lists the topics by name. Any goroutine.
func (c *Cluster) Topics() []*Topic {
	maps := c.topics.Load()
	out := make([]*Topic, 0, len(maps.byName))
	for _, t := range maps.byName {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func partitionDir(dataDir, topic string, index int32) string {
	return filepath.Join(dataDir, fmt.Sprintf("%s-%d", topic, index))
}

// shardFor spreads one topic's partitions over the shards.
func (c *Cluster) shardFor(topic string, index int32) *engine.Shard {
	h := fnv.New32a()
	h.Write([]byte(topic))
	return c.cfg.Shards[(int(h.Sum32())+int(index))%len(c.cfg.Shards)]
}

// openPartitions opens partitions [from, to) of t on their shards.
func (c *Cluster) openPartitions(t *Topic, from, to int32) error {
	cfg, err := c.logConfig(t.Configs)
	if err != nil {
		return err
	}
	for i := from; i < to; i++ {
		shard := c.shardFor(t.Name, i)
		var l *engine.Log
		var openErr error
		if err := shard.Do(func() { l, openErr = engine.OpenLog(partitionDir(c.cfg.DataDir, t.Name, i), cfg) }); err != nil {
			return err
		}
		if openErr != nil {
			return fmt.Errorf("open %s-%d: %w", t.Name, i, openErr)
		}
		t.Partitions = append(t.Partitions, &Partition{Topic: t.Name, Index: i, Log: l, Shard: shard})
	}
	return nil
}

func validTopicName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > topicNameBytesMax {
		return fmt.Errorf("%w: %q", ErrInvalidTopic, name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%w: %q: only [a-zA-Z0-9._-]", ErrInvalidTopic, name)
		}
	}
	return nil
}

// publish replaces the topic maps with a copy holding t (or without name
// when t is nil). Under c.mu.
func (c *Cluster) publish(name string, t *Topic) {
	old := c.topics.Load()
	maps := &topicMaps{byName: make(map[string]*Topic, len(old.byName)+1), byID: make(map[[16]byte]*Topic, len(old.byID)+1)}
	for k, v := range old.byName {
		if k != name {
			maps.byName[k] = v
			maps.byID[v.ID] = v
		}
	}
	if t != nil {
		maps.byName[t.Name] = t
		maps.byID[t.ID] = t
	}
	c.topics.Store(maps)
}

// CreateTopic creates a topic: validate, write the record durably, open the
// partitions, publish. partitions ≤ 0 takes num.partitions.
// A client may not create a name the broker reserves (IsReserved): an
// existing one is ErrTopicExists, as in Kafka, any other ErrReservedTopic.
func (c *Cluster) CreateTopic(name string, partitions int32, configs map[string]string, validateOnly bool) (*Topic, error) {
	if c.follower.Load() {
		return nil, ErrFollower
	}
	if IsReserved(name) {
		if _, ok := c.Topic(name); ok {
			return nil, fmt.Errorf("%w: %s", ErrTopicExists, name)
		}
		return nil, fmt.Errorf("%w: creation of internal topic %s is prohibited", ErrReservedTopic, name)
	}
	return c.createTopic(name, [16]byte{}, partitions, configs, validateOnly)
}

// CreateInternalTopic creates one of the broker's own topics (IsInternal),
// such as __consumer_offsets at first start. Only the composition root
// calls it.
func (c *Cluster) CreateInternalTopic(name string, partitions int32, configs map[string]string) (*Topic, error) {
	if !IsInternal(name) {
		return nil, fmt.Errorf("%w: %s is not an internal topic", ErrInvalidTopic, name)
	}
	return c.createTopic(name, [16]byte{}, partitions, configs, false)
}

// SetFollower makes this node a standby (true: client changes refused,
// Mirror applies the leader's) or a leader again (false).
func (c *Cluster) SetFollower(follower bool) { c.follower.Store(follower) }

// Epoch is the leader epoch every partition's new batches are stamped
// with. Any goroutine.
func (c *Cluster) Epoch() int32 { return c.epoch.Load() }

// SetEpoch records a newer leader epoch durably (a promotion, or a
// standby adopting its leader's); an older one is ignored.
func (c *Cluster) SetEpoch(epoch int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch <= c.epoch.Load() {
		return nil
	}
	if err := c.commit(&record{Type: "set_epoch", Partitions: epoch}); err != nil {
		return err
	}
	c.epoch.Store(epoch)
	return nil
}

// Follower reports whether this node mirrors a leader.
func (c *Cluster) Follower() bool { return c.follower.Load() }

// CreateTopicWithID creates a topic with the ID its leader gave it (a
// standby mirrors its leader's topics, IDs included).
func (c *Cluster) CreateTopicWithID(name string, id [16]byte, partitions int32, configs map[string]string) (*Topic, error) {
	if id == ([16]byte{}) {
		return nil, fmt.Errorf("%w: zero topic id", ErrInvalidTopic)
	}
	return c.createTopic(name, id, partitions, configs, false)
}

func (c *Cluster) createTopic(name string, id [16]byte, partitions int32, configs map[string]string, validateOnly bool) (*Topic, error) {
	if err := validTopicName(name); err != nil {
		return nil, err
	}
	if name == ClusterMetadataTopic {
		// Not even a leader's mirror may make the metadata log a topic.
		return nil, fmt.Errorf("%w: creation of internal topic %s is prohibited", ErrReservedTopic, name)
	}
	if partitions <= 0 {
		partitions = c.cfg.NumPartitions
	}
	if partitions > partitionsMax {
		return nil, fmt.Errorf("%w: %d above %d", ErrInvalidPartitions, partitions, partitionsMax)
	}
	if _, err := c.logConfig(configs); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.Topic(name); ok {
		return nil, fmt.Errorf("%w: %s", ErrTopicExists, name)
	}
	if id == ([16]byte{}) {
		// A new name (a mirrored one carries its leader's ID, and its
		// leader checked it).
		if err := c.checkCollision(name); err != nil {
			return nil, err
		}
	}
	t := &Topic{Name: name, ID: id, Configs: copyConfigs(configs), Internal: IsInternal(name)}
	for t.ID == ([16]byte{}) {
		if _, err := rand.Read(t.ID[:]); err != nil {
			return nil, err
		}
	}
	if validateOnly {
		return t, nil
	}
	r := &record{Type: "create_topic", Name: name, ID: t.ID, Partitions: partitions, Configs: t.Configs}
	if err := c.commit(r); err != nil {
		return nil, err
	}
	if err := c.openPartitions(t, 0, partitions); err != nil {
		return nil, err
	}
	c.tellPartitionsCreated(t.Partitions)
	c.publish(name, t)
	return t, nil
}

// SetPartitionsCreated sets (nil: clears) the function told of the
// partitions every topic creation and CreatePartitions adds, once their
// logs are open and before any client can find them. It runs under the
// Cluster's mutex, so it must not call back into the Cluster. The leader's
// replication sets it to start new partitions with its standby in sync.
func (c *Cluster) SetPartitionsCreated(observer func(added []*Partition)) {
	if observer == nil {
		c.partitionsCreated.Store(nil)
		return
	}
	c.partitionsCreated.Store(&observer)
}

func (c *Cluster) tellPartitionsCreated(added []*Partition) {
	if observer := c.partitionsCreated.Load(); observer != nil {
		(*observer)(added)
	}
}

// checkCollision refuses a name that collides with an existing topic's
// once '.' and '_' are taken as one (Kafka: INVALID_TOPIC_EXCEPTION).
// Under c.mu.
func (c *Cluster) checkCollision(name string) error {
	collides := collisionName(name)
	for existing := range c.topics.Load().byName {
		if collisionName(existing) == collides {
			return fmt.Errorf("%w: topic %q collides with existing topic %q", ErrInvalidTopic, name, existing)
		}
	}
	return nil
}

// commit writes a record durably and applies it to the state. Under c.mu.
func (c *Cluster) commit(r *record) error {
	if err := c.log.append(r); err != nil {
		return fmt.Errorf("%w: metadata log: %w", engine.ErrStorage, err)
	}
	if err := c.state.apply(r); err != nil {
		return err
	}
	if err := c.log.maybeSnapshot(c.state, false); err != nil {
		c.logger.Warn("metadata snapshot failed; the log keeps growing", "error", err)
	}
	return nil
}

// EnsureTopic returns the topic, creating it with num.partitions when
// auto.create.topics.enable is on. An invalid name is ErrInvalidTopic, a
// reserved one (IsReserved) that does not exist ErrUnknownTopic.
func (c *Cluster) EnsureTopic(name string) (*Topic, error) {
	if t, ok := c.Topic(name); ok {
		return t, nil
	}
	if err := validTopicName(name); err != nil {
		return nil, err
	}
	if !c.cfg.AutoCreate || c.follower.Load() || IsReserved(name) {
		// A reserved name is never created on a client's behalf.
		return nil, fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	t, err := c.CreateTopic(name, 0, nil, false)
	if errors.Is(err, ErrTopicExists) {
		if t, ok := c.Topic(name); ok {
			return t, nil
		}
	}
	return t, err
}

// DeleteTopic deletes a topic, in this order:
//  1. write the delete record durably (the topic is now a tombstone);
//  2. unpublish it, so no new request finds it;
//  3. close its logs on their shards;
//  4. rename each partition directory to <dir>.<id>-delete, remove it, and
//     record the tombstone purged.
//
// A crash after step 1 is finished by the next Open (purgeDeleted).
//
// A client may not delete one of the broker's own topics (IsReserved):
// deleting __consumer_offsets would lose every committed offset.
func (c *Cluster) DeleteTopic(name string) error {
	if c.follower.Load() {
		return ErrFollower
	}
	if IsReserved(name) {
		if _, ok := c.Topic(name); !ok {
			return fmt.Errorf("%w: %s", ErrUnknownTopic, name)
		}
		return fmt.Errorf("%w: internal topic %s cannot be deleted", ErrReservedTopic, name)
	}
	return c.deleteTopic(name)
}

func (c *Cluster) deleteTopic(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.Topic(name)
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	if err := c.commit(&record{Type: "delete_topic", Name: name, ID: t.ID}); err != nil {
		return err
	}
	c.publish(name, nil)
	for _, p := range t.Partitions {
		p.Shard.Do(func() {
			if err := p.Log.Close(); err != nil {
				c.logger.Warn("closing a deleted partition", "topic", name, "partition", p.Index, "error", err)
			}
		})
	}
	c.cleaning.Lock()
	defer c.cleaning.Unlock()
	return c.purgeDeletedLocked()
}

func (c *Cluster) purgeDeleted() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.purgeDeletedLocked()
}

// purgeDeletedLocked removes the directories of tombstoned topics. It
// removes only directories the metadata names as deleted.
func (c *Cluster) purgeDeletedLocked() error {
	for _, d := range append([]topicState(nil), c.state.Deleted...) {
		for i := int32(0); i < d.Partitions; i++ {
			dir := partitionDir(c.cfg.DataDir, d.Name, i)
			if live, ok := c.Topic(d.Name); ok && live.ID != d.ID {
				// A topic of the same name was created since: its
				// directories are its own; only a renamed leftover of
				// the old one may remain.
				dir = ""
			}
			graveyard := fmt.Sprintf("%s.%x-delete", partitionDir(c.cfg.DataDir, d.Name, i), d.ID)
			if dir != "" {
				if err := os.Rename(dir, graveyard); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
			if err := os.RemoveAll(graveyard); err != nil {
				return err
			}
		}
		if err := c.commit(&record{Type: "purged", Name: d.Name, ID: d.ID}); err != nil {
			return err
		}
	}
	return nil
}

// CreatePartitions grows a topic to total partitions.
func (c *Cluster) CreatePartitions(name string, total int32, validateOnly bool) error {
	if c.follower.Load() {
		return ErrFollower
	}
	return c.createPartitions(name, total, validateOnly)
}

func (c *Cluster) createPartitions(name string, total int32, validateOnly bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.Topic(name)
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	current := int32(len(t.Partitions))
	if total <= current || total > partitionsMax {
		return fmt.Errorf("%w: %s has %d partitions; asked for %d", ErrInvalidPartitions, name, current, total)
	}
	if validateOnly {
		return nil
	}
	if err := c.commit(&record{Type: "set_partitions", Name: name, Partitions: total}); err != nil {
		return err
	}
	grown := &Topic{Name: t.Name, ID: t.ID, Configs: t.Configs, Internal: t.Internal, Partitions: append([]*Partition(nil), t.Partitions...)}
	if err := c.openPartitions(grown, current, total); err != nil {
		return err
	}
	c.tellPartitionsCreated(grown.Partitions[current:])
	c.publish(name, grown)
	return nil
}

// AlterConfigs replaces (incremental false) or edits (true) a topic's
// config overrides, then reconfigures its logs on their shards.
func (c *Cluster) AlterConfigs(name string, set map[string]string, remove []string, incremental bool, validateOnly bool) error {
	if c.follower.Load() {
		return ErrFollower
	}
	return c.alterConfigs(name, set, remove, incremental, validateOnly)
}

func (c *Cluster) alterConfigs(name string, set map[string]string, remove []string, incremental bool, validateOnly bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.Topic(name)
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	configs := map[string]string{}
	if incremental {
		for k, v := range t.Configs {
			configs[k] = v
		}
	}
	for k, v := range set {
		configs[k] = v
	}
	for _, k := range remove {
		if _, known := topicConfigs[k]; !known {
			return fmt.Errorf("%w: unknown config %q", ErrInvalidConfig, k)
		}
		delete(configs, k)
	}
	cfg, err := c.logConfig(configs)
	if err != nil || validateOnly {
		return err
	}
	if err := c.commit(&record{Type: "set_configs", Name: name, Configs: configs}); err != nil {
		return err
	}
	for _, p := range t.Partitions {
		var setErr error
		p.Shard.Do(func() { setErr = p.Log.SetConfig(cfg) })
		if setErr != nil {
			return setErr
		}
	}
	c.publish(name, &Topic{Name: t.Name, ID: t.ID, Configs: configs, Internal: t.Internal, Partitions: t.Partitions})
	return nil
}

// LogConfigFor is the engine configuration of a topic's logs.
func (c *Cluster) LogConfigFor(t *Topic) engine.LogConfig {
	cfg, err := c.logConfig(t.Configs)
	if err != nil {
		return c.defaults()
	}
	return cfg
}

func copyConfigs(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Close stops the retention loop, closes every log cleanly on its shard,
// snapshots the metadata and closes its log.
func (c *Cluster) Close() error {
	close(c.stop)
	<-c.done
	<-c.cleanerDone
	c.mu.Lock()
	defer c.mu.Unlock()
	errs := c.closeTopics(c.topics.Load())
	if err := c.log.maybeSnapshot(c.state, true); err != nil {
		errs = append(errs, err)
	}
	if err := c.log.close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c *Cluster) closeTopics(maps *topicMaps) []error {
	var errs []error
	for _, t := range maps.byName {
		for _, p := range t.Partitions {
			var err error
			p.Shard.Do(func() { err = p.Log.Close() })
			if err != nil {
				errs = append(errs, fmt.Errorf("%s-%d: %w", t.Name, p.Index, err))
			}
		}
	}
	return errs
}
