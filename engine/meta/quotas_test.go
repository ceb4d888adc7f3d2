package meta

import (
	"testing"
)

func TestQuotasSurviveRestartAndSnapshot(t *testing.T) {
	dir := t.TempDir()
	c, shards := openCluster(t, dir, false)
	alice := "alice"
	user := []QuotaComponent{{Type: "user", Name: &alice}}
	both := []QuotaComponent{{Type: "user", Name: &alice}, {Type: "client-id"}} // default client id
	if err := c.AlterQuota(user, map[string]float64{"producer_byte_rate": 1024, "consumer_byte_rate": 2048}, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := c.AlterQuota(both, map[string]float64{"request_percentage": 50}, nil, true); err != nil || len(c.Quotas()) != 1 {
		t.Fatalf("validate only wrote: %v %v", err, c.Quotas())
	}
	// Reversed component order names the same entity.
	if err := c.AlterQuota([]QuotaComponent{both[1], both[0]}, map[string]float64{"request_percentage": 50}, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := c.AlterQuota(user, nil, []string{"consumer_byte_rate"}, false); err != nil {
		t.Fatal(err)
	}
	check := func(c *Cluster, when string) {
		t.Helper()
		quotas := c.Quotas()
		if len(quotas) != 2 {
			t.Fatalf("%s: %+v", when, quotas)
		}
		for _, q := range quotas {
			switch len(q.Entity) {
			case 1:
				if q.Values["producer_byte_rate"] != 1024 || len(q.Values) != 1 {
					t.Errorf("%s: user quota %+v", when, q)
				}
			case 2:
				if q.Entity[0].Type != "client-id" || q.Entity[0].Name != nil || q.Values["request_percentage"] != 50 {
					t.Errorf("%s: user/client-id quota %+v", when, q)
				}
			}
		}
	}
	check(c, "before restart")
	closeCluster(t, c, shards)
	c, shards = openCluster(t, dir, false)
	check(c, "after replaying the log")
	c.mu.Lock()
	err := c.log.maybeSnapshot(c.state, true)
	c.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	closeCluster(t, c, shards)
	c, shards = openCluster(t, dir, false)
	check(c, "after the snapshot")

	// A standby mirrors the leader's set: the user quota goes, one comes.
	bob := "bob"
	changed, err := c.MirrorQuotas([]Quota{{Entity: []QuotaComponent{{Type: "user", Name: &bob}}, Values: map[string]float64{"consumer_byte_rate": 1}}, c.Quotas()[1]})
	if err != nil || changed != 2 || len(c.Quotas()) != 2 {
		t.Fatalf("mirror: %d %v %+v", changed, err, c.Quotas())
	}
	if changed, err := c.MirrorQuotas(c.Quotas()); err != nil || changed != 0 {
		t.Fatalf("mirror again: %d %v", changed, err)
	}
	if err := c.AlterQuota(user, nil, []string{"producer_byte_rate"}, false); err != nil {
		t.Fatal(err)
	}
	closeCluster(t, c, shards)
}
