package wire

// ApiVersions, versions 0-4.
//
// The response header is always v0 (no tagged-field byte), even when the
// body is flexible (v3+): clients parse it before they know our versions,
// and one extra byte there has made librdkafka attempt a huge allocation.
// A request at a version we do not serve is answered at v0 with
// UNSUPPORTED_VERSION and our range (KIP-511), so the client retries lower.
// The list comes from the apis table, the same one requests are checked
// against; v3+ add the features 57_update_features.go describes.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleAPIVersions(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	kresp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	appendAPIKeys(kresp)
	appendFeatures(kresp, h.APIVersion)
	s.encode(h, kresp, resp)
	return nil
}

func appendAPIKeys(kresp *kmsg.ApiVersionsResponse) {
	for _, a := range apis {
		key := kmsg.NewApiVersionsResponseApiKey()
		key.ApiKey, key.MinVersion, key.MaxVersion = a.key, a.minVersion, a.maxVersion
		kresp.ApiKeys = append(kresp.ApiKeys, key)
	}
}

func (s *Server) unsupportedAPIVersions(h RequestHeader, resp *Response) {
	kresp := kmsg.NewPtrApiVersionsResponse()
	kresp.ErrorCode = kerr.UnsupportedVersion.Code
	appendAPIKeys(kresp)
	h.APIVersion = 0
	s.encode(&h, kresp, resp)
}
