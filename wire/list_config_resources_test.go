package wire

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestListConfigResources(t *testing.T) {
	server := sessionServer(t, 1, 0)
	if _, err := server.cfg.Cluster.CreateTopic("a", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	v0 := kmsg.NewPtrListConfigResourcesRequest()
	v0.Version = 0
	if resp := roundTrip(t, server, v0).(*kmsg.ListConfigResourcesResponse); resp.ErrorCode != 0 || len(resp.ConfigResources) != 0 {
		t.Errorf("v0: %+v", resp)
	}
	type listed struct {
		name string
		typ  int8
	}
	for _, c := range []struct {
		types []int8
		want  []listed
		code  int16
	}{
		{nil, []listed{{"a", 2}, {"t", 2}, {"0", 4}}, 0},
		{[]int8{4, 2, 4}, []listed{{"a", 2}, {"t", 2}, {"0", 4}}, 0},
		{[]int8{8, 16, 32}, nil, 0}, // no coordinator in this server
		{[]int8{2, 3}, nil, kerr.UnsupportedVersion.Code},
	} {
		req := kmsg.NewPtrListConfigResourcesRequest()
		req.Version, req.ResourceTypes = 1, c.types
		resp := roundTrip(t, server, req).(*kmsg.ListConfigResourcesResponse)
		var got []listed
		for _, r := range resp.ConfigResources {
			got = append(got, listed{r.Name, r.Type})
		}
		if resp.ErrorCode != c.code || len(got) != len(c.want) {
			t.Errorf("types %v: code %d %v, want %d %v", c.types, resp.ErrorCode, got, c.code, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("types %v: %v, want %v", c.types, got, c.want)
			}
		}
	}
}
