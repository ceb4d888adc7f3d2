package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Request header, Kafka's versions 1 and 2 (version 0, without client id,
// was only ever sent by ControlledShutdown v0, which spool does not serve):
//
//	field           type              header v1   header v2 (flexible requests)
//	api_key         int16             yes         yes
//	api_version     int16             yes         yes
//	correlation_id  int32             yes         yes
//	client_id       nullable string   yes         yes (still int16-length, not compact)
//	tagged fields   uvarint count...  no          yes
//
// Response header: correlation_id int32, then (header v1, flexible
// responses) an empty tagged-field buffer, one zero byte. ApiVersions
// responses always use header v0, without that byte, whatever the request
// version: clients parse it before they know our versions.

// RequestHeader is a parsed request header.
type RequestHeader struct {
	APIKey        int16
	APIVersion    int16
	CorrelationID int32
	ClientID      string // a copy: it outlives the frame in logs
}

// Limits of header parsing.
const (
	// clientIDBytesMax bounds the client id kept per request.
	clientIDBytesMax = 1024
	// taggedFieldsMax bounds tagged fields skipped in a header.
	taggedFieldsMax = 64
)

var errShortHeader = errors.New("wire: request header truncated")

// parseHeaderPrefix reads key, version and correlation id, enough to answer
// even a request we cannot otherwise parse.
func parseHeaderPrefix(frame []byte) (RequestHeader, error) {
	if len(frame) < 8 {
		return RequestHeader{}, errShortHeader
	}
	return RequestHeader{
		APIKey:        int16(binary.BigEndian.Uint16(frame[0:])),
		APIVersion:    int16(binary.BigEndian.Uint16(frame[2:])),
		CorrelationID: int32(binary.BigEndian.Uint32(frame[4:])),
	}, nil
}

// parseHeaderRest reads the client id and, for flexible requests, skips
// the tagged fields. It returns the body that follows.
func parseHeaderRest(frame []byte, h *RequestHeader, flexible bool) ([]byte, error) {
	rest := frame[8:]
	if len(rest) < 2 {
		return nil, errShortHeader
	}
	length := int(int16(binary.BigEndian.Uint16(rest)))
	rest = rest[2:]
	if length > 0 {
		if length > len(rest) {
			return nil, errShortHeader
		}
		h.ClientID = string(rest[:min(length, clientIDBytesMax)])
		rest = rest[length:]
	}
	if flexible {
		count, n := binary.Uvarint(rest)
		if n <= 0 || count > taggedFieldsMax {
			return nil, fmt.Errorf("wire: bad tagged fields in request header")
		}
		rest = rest[n:]
		for i := uint64(0); i < count; i++ {
			_, n := binary.Uvarint(rest) // tag
			if n <= 0 {
				return nil, errShortHeader
			}
			rest = rest[n:]
			size, n := binary.Uvarint(rest)
			if n <= 0 || size > uint64(len(rest)-n) {
				return nil, errShortHeader
			}
			rest = rest[n+int(size):]
		}
	}
	return rest, nil
}

// appendResponseHeader writes the response header for a request.
func appendResponseHeader(dst []byte, correlationID int32, flexible bool) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if flexible {
		dst = append(dst, 0)
	}
	return dst
}
