package broker

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"spool/segment"
)

// parseListener reads a Kafka listener, PLAINTEXT://host:port (only
// PLAINTEXT is served), into host and port.
func parseListener(listener string) (string, int32, error) {
	listener = strings.TrimSpace(strings.Split(listener, ",")[0])
	rest, ok := strings.CutPrefix(listener, "PLAINTEXT://")
	if !ok {
		return "", 0, fmt.Errorf("listener %q: only PLAINTEXT://host:port is served", listener)
	}
	host, portText, err := net.SplitHostPort(rest)
	if err != nil {
		return "", 0, fmt.Errorf("listener %q: %w", listener, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("listener %q: bad port", listener)
	}
	return host, int32(port), nil
}

// clusterID reads the cluster id from <data>/meta.properties, creating it
// (a random Kafka-style base64 UUID) on the first start, as Kafka does.
func clusterID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "meta.properties")
	if props, err := parseProperties(path); err == nil && props["cluster.id"] != "" {
		return props["cluster.id"], nil
	} else if err != nil && !os.IsNotExist(err) {
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
