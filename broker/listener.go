package broker

import (
	"fmt"
	"net"
	"strconv"
	"strings"
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
