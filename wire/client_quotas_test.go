package wire

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestClientQuotas(t *testing.T) {
	server := sessionServer(t, 1, 0)
	alice, ip, bad := "alice", "10.0.0.1", "not-an-ip"
	entry := func(entity []kmsg.AlterClientQuotasRequestEntryEntity, key string, value float64) kmsg.AlterClientQuotasRequestEntry {
		return kmsg.AlterClientQuotasRequestEntry{Entity: entity, Ops: []kmsg.AlterClientQuotasRequestEntryOp{{Key: key, Value: value}}}
	}
	user := []kmsg.AlterClientQuotasRequestEntryEntity{{Type: "user", Name: &alice}}
	userDefaultClient := []kmsg.AlterClientQuotasRequestEntryEntity{{Type: "user", Name: &alice}, {Type: "client-id"}}
	alter := kmsg.NewPtrAlterClientQuotasRequest()
	alter.Version = 1
	alter.Entries = []kmsg.AlterClientQuotasRequestEntry{
		entry(user, "producer_byte_rate", 1024),
		entry(userDefaultClient, "request_percentage", 12.5),
		entry([]kmsg.AlterClientQuotasRequestEntryEntity{{Type: "ip", Name: &ip}}, "connection_creation_rate", 5),
		entry(user, "unknown_key", 1),
		entry(user, "producer_byte_rate", 1.5),
		entry([]kmsg.AlterClientQuotasRequestEntryEntity{{Type: "ip", Name: &bad}}, "connection_creation_rate", 5),
		entry([]kmsg.AlterClientQuotasRequestEntryEntity{{Type: "ip"}, {Type: "user"}}, "connection_creation_rate", 5),
		entry([]kmsg.AlterClientQuotasRequestEntryEntity{{Type: "group"}}, "producer_byte_rate", 5),
		entry([]kmsg.AlterClientQuotasRequestEntryEntity{{Type: "ip"}}, "producer_byte_rate", 5),
	}
	resp := roundTrip(t, server, alter).(*kmsg.AlterClientQuotasResponse)
	for i, e := range resp.Entries {
		want := int16(0)
		if i >= 3 {
			want = kerr.InvalidRequest.Code
		}
		if e.ErrorCode != want {
			t.Errorf("entry %d: code %d, want %d (%v)", i, e.ErrorCode, want, e.ErrorMessage)
		}
	}
	describe := func(strict bool, components ...kmsg.DescribeClientQuotasRequestComponent) *kmsg.DescribeClientQuotasResponse {
		req := kmsg.NewPtrDescribeClientQuotasRequest()
		req.Version, req.Strict, req.Components = 1, strict, components
		return roundTrip(t, server, req).(*kmsg.DescribeClientQuotasResponse)
	}
	exactAlice := kmsg.DescribeClientQuotasRequestComponent{EntityType: "user", MatchType: kmsg.QuotasMatchTypeExact, Match: &alice}
	for _, c := range []struct {
		strict     bool
		components []kmsg.DescribeClientQuotasRequestComponent
		entries    int
	}{
		{false, nil, 3},
		{true, nil, 0},
		{false, []kmsg.DescribeClientQuotasRequestComponent{exactAlice}, 2},
		{true, []kmsg.DescribeClientQuotasRequestComponent{exactAlice}, 1},
		{false, []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "client-id", MatchType: kmsg.QuotasMatchTypeDefault}}, 1},
		{false, []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "ip", MatchType: kmsg.QuotasMatchTypeAny}}, 1},
	} {
		if resp := describe(c.strict, c.components...); resp.ErrorCode != 0 || len(resp.Entries) != c.entries {
			t.Errorf("strict %v %+v: %+v", c.strict, c.components, resp)
		}
	}
	if resp := describe(false, kmsg.DescribeClientQuotasRequestComponent{EntityType: "user", MatchType: kmsg.QuotasMatchTypeExact}); resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("exact without a name: %+v", resp)
	}
	if resp := describe(false, exactAlice, exactAlice); resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("a type twice: %+v", resp)
	}
}
