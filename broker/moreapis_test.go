package broker

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestUpdateFeatures drives UpdateFeatures through kadm and reads the
// features back from ApiVersions: metadata.version stays at its one level,
// and features spool lacks cannot be turned on.
func TestUpdateFeatures(t *testing.T) {
	b := testBroker(t, t.TempDir())
	defer b.Close()
	c := client(t, b)
	admin := kadm.NewClient(c)
	ctx := ctxTimeout(t, 30*time.Second)

	updated, err := admin.UpdateFeatures(ctx, false,
		kadm.FeatureUpdate{Feature: "metadata.version", MaxVersionLevel: 7, UpgradeType: 1},
		kadm.FeatureUpdate{Feature: "transaction.version", MaxVersionLevel: 2, UpgradeType: 1},
	)
	if err != nil {
		t.Fatal(err)
	}
	// franz-go speaks v2, whose answer has only a top-level error.
	if got := updated["transaction.version"].Err; !errors.Is(got, kerr.InvalidUpdateVersion) {
		t.Errorf("transaction.version 2: %v", got)
	}
	updated, err = admin.UpdateFeatures(ctx, true, kadm.FeatureUpdate{Feature: "metadata.version", MaxVersionLevel: 7, UpgradeType: 1})
	if err != nil || updated.Error() != nil {
		t.Errorf("metadata.version 7, validate only: %v %v", err, updated.Error())
	}

	versions, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(versions.FinalizedFeatures) != 1 || versions.FinalizedFeatures[0].Name != "metadata.version" || versions.FinalizedFeatures[0].MaxVersionLevel != 7 {
		t.Errorf("finalized features: %+v", versions.FinalizedFeatures)
	}
}
