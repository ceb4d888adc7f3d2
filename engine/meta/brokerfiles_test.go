package meta

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClusterIDPersists: the first start writes meta.properties, later
// starts read the same id, and a file that names no cluster id is an
// error rather than a new identity.
func TestClusterIDPersists(t *testing.T) {
	dir := t.TempDir()
	first, err := ClusterID(dir)
	if err != nil || len(first) != 22 {
		t.Fatalf("first start: %q %v", first, err)
	}
	again, err := ClusterID(dir)
	if err != nil || again != first {
		t.Fatalf("second start: %q %v, want %q", again, err, first)
	}
	path := filepath.Join(dir, metaPropertiesFileName)
	if err := os.WriteFile(path, []byte("# kept by hand\nversion=1\ncluster.id: hand-made\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if id, err := ClusterID(dir); err != nil || id != "hand-made" {
		t.Fatalf("a Kafka-style file: %q %v", id, err)
	}
	if err := os.WriteFile(path, []byte("version=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if id, err := ClusterID(dir); err == nil || !strings.Contains(err.Error(), "no cluster.id") {
		t.Fatalf("a damaged file gave %q, %v", id, err)
	}
}

// TestProducerIDsNeverRepeat: ids continue after the last durable block
// across a restart, carry the epoch in their high bits, and a damaged
// block file stops the open instead of restarting the counter at 0.
func TestProducerIDsNeverRepeat(t *testing.T) {
	dir := t.TempDir()
	c, shards := openCluster(t, dir, false)
	seen := map[int64]bool{}
	for range 3 {
		id, err := c.NextProducerID()
		if err != nil {
			t.Fatal(err)
		}
		seen[id] = true
	}
	if err := c.SetEpoch(2); err != nil {
		t.Fatal(err)
	}
	id, err := c.NextProducerID()
	if err != nil || id>>ProducerIDEpochShift != 2 {
		t.Fatalf("id %d in epoch 2: %v", id, err)
	}
	closeCluster(t, c, shards)

	c, shards = openCluster(t, dir, false)
	for range 3 {
		id, err := c.NextProducerID()
		if err != nil {
			t.Fatal(err)
		}
		counter := id & (1<<ProducerIDEpochShift - 1)
		if seen[id] || counter < producerIDBlockSize {
			t.Fatalf("after a restart id %d (counter %d) repeats the first block", id, counter)
		}
	}
	c.SetFollower(true)
	if _, err := c.NextProducerID(); !errors.Is(err, ErrFollower) {
		t.Fatalf("a standby handed out an id: %v", err)
	}
	c.SetFollower(false)
	closeCluster(t, c, shards)

	for _, damaged := range []string{"", "garbage\n", "-5\n", "1099511627776\n"} {
		if err := os.WriteFile(filepath.Join(dir, producerIDBlockFileName), []byte(damaged), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := openProducerIDs(dir); err == nil {
			t.Errorf("producer-id-block %q accepted", damaged)
		}
	}
}
