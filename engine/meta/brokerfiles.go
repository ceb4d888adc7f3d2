package meta

// The broker's own files in the data directory, beside the partitions'
// directories. This package is their one owner: nothing else reads or
// writes them.
//
//	file                   what                                   written
//	meta.properties        version=1 and cluster.id, Kafka's      once, at the first start
//	                       format (key=value lines, # comments)   (WriteFileAtomic)
//	producer-id-block      the end of the last block of producer  before any id of a new block
//	                       ids handed out, decimal, one line      is handed out (WriteFileAtomic)
//	__cluster_metadata-0/  the metadata log (metalog.go)          at every change
//
// Crash safety: each small file is replaced whole by
// segment.WriteFileAtomic (temp file, fsync, rename, directory fsync), so
// a reader sees the old content or the new, never a torn one. A file that
// is there but does not parse is an error for the start, never a silent
// default: a cluster id read as empty would give the node a new identity,
// and a producer-id block read as 0 would hand out ids that producers
// already hold, whose sequences the logs remember.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"spool/engine"
	"spool/segment"
)

const (
	metaPropertiesFileName  = "meta.properties"
	producerIDBlockFileName = "producer-id-block"
	// ProducerIDEpochShift: a producer id is the leader epoch above this
	// bit and the node's counter below it, so a promoted standby (a newer
	// epoch) never hands out an id its old leader gave a producer whose
	// sequences the replicated logs still remember.
	ProducerIDEpochShift = 40
	// producerIDBlockSize is how many ids one durable write covers.
	producerIDBlockSize = 1000
)

// ClusterID reads the cluster id from <data>/meta.properties, creating the
// file (a random Kafka-style base64 UUID) on the first start, as Kafka
// does. It runs before the Cluster opens, so it is a function of the data
// directory.
func ClusterID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, metaPropertiesFileName)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		id := propertyValue(data, "cluster.id")
		if id == "" {
			return "", fmt.Errorf("%s has no cluster.id: the file is damaged (restore it, or remove it to give this node a new cluster id)", path)
		}
		return id, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return "", err
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	id := base64.RawURLEncoding.EncodeToString(raw[:])
	content := "# written by spool on first start\nversion=1\ncluster.id=" + id + "\n"
	if err := segment.WriteFileAtomic(path, []byte(content)); err != nil {
		return "", err
	}
	return id, nil
}

// propertyValue finds key in a properties file's bytes ("" when absent):
// key=value or key: value lines, # and ! comments.
func propertyValue(data []byte, key string) string {
	scanner := bufio.NewScanner(bytes.NewReader(data))
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			name, value, ok = strings.Cut(line, ":")
		}
		if ok && strings.TrimSpace(name) == key {
			return strings.TrimSpace(value)
		}
	}
	return ""
}

// producerIDs allocates producer ids from durable blocks. The file holds
// the end of the last block handed out; a restart continues after it,
// skipping whatever of that block was unused.
type producerIDs struct {
	mu       sync.Mutex
	path     string
	nextID   int64
	blockEnd int64
}

func openProducerIDs(dataDir string) (*producerIDs, error) {
	p := &producerIDs{path: filepath.Join(dataDir, producerIDBlockFileName)}
	data, err := os.ReadFile(p.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		end, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err != nil || end < 0 || end >= 1<<ProducerIDEpochShift {
			return nil, fmt.Errorf("%s: malformed producer id block %q", p.path, data)
		}
		p.nextID, p.blockEnd = end, end
	}
	return p, nil
}

func (p *producerIDs) next() (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.nextID >= p.blockEnd {
		end := p.blockEnd + producerIDBlockSize
		if err := segment.WriteFileAtomic(p.path, []byte(strconv.FormatInt(end, 10)+"\n")); err != nil {
			return -1, err
		}
		p.nextID, p.blockEnd = p.blockEnd, end
	}
	id := p.nextID
	p.nextID++
	return id, nil
}

// NextProducerID hands out a new producer id: this leader's epoch above
// ProducerIDEpochShift, a counter that never repeats across restarts below
// it. Any goroutine. A failed write of a new block is ErrStorage.
func (c *Cluster) NextProducerID() (int64, error) {
	if c.follower.Load() {
		return -1, ErrFollower
	}
	id, err := c.producerIDs.next()
	if err != nil {
		return -1, fmt.Errorf("%w: producer id block: %w", engine.ErrStorage, err)
	}
	return int64(c.Epoch())<<ProducerIDEpochShift | id, nil
}
