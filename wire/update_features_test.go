package wire

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestApiVersionsFeatures(t *testing.T) {
	server := sessionServer(t, 1, 0)
	for _, version := range []int16{2, 3, 4} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = version
		req.ClientSoftwareName, req.ClientSoftwareVersion = "spool-test", "1"
		resp := roundTrip(t, server, req).(*kmsg.ApiVersionsResponse)
		if version < 3 {
			if len(resp.SupportedFeatures) != 0 || len(resp.FinalizedFeatures) != 0 {
				t.Errorf("v%d: features in a version without them: %+v", version, resp)
			}
			continue
		}
		if len(resp.SupportedFeatures) != 1 || resp.SupportedFeatures[0].Name != "metadata.version" ||
			resp.SupportedFeatures[0].MinVersion != metadataVersionBase || resp.SupportedFeatures[0].MaxVersion != metadataVersionBase {
			t.Errorf("v%d supported: %+v", version, resp.SupportedFeatures)
		}
		if len(resp.FinalizedFeatures) != 1 || resp.FinalizedFeatures[0].MaxVersionLevel != metadataVersionBase || resp.FinalizedFeaturesEpoch != finalizedFeaturesEpoch {
			t.Errorf("v%d finalized: %+v epoch %d", version, resp.FinalizedFeatures, resp.FinalizedFeaturesEpoch)
		}
	}
}

func TestUpdateFeatures(t *testing.T) {
	server := sessionServer(t, 1, 0)
	type update struct {
		feature     string
		level       int16
		upgradeType int8
		want        int16
	}
	updates := []update{
		{"metadata.version", metadataVersionBase, upgradeTypeUpgrade, 0},
		{"metadata.version", metadataVersionBase + 1, upgradeTypeUpgrade, kerr.InvalidUpdateVersion.Code},
		{"metadata.version", metadataVersionBase - 1, upgradeTypeSafeDowngrade, kerr.InvalidUpdateVersion.Code},
		{"transaction.version", 2, upgradeTypeUpgrade, kerr.InvalidUpdateVersion.Code},
		{"transaction.version", 0, upgradeTypeSafeDowngrade, 0},
		{"group.version", -1, upgradeTypeUpgrade, kerr.InvalidUpdateVersion.Code},
		{"share.version", 0, 0, kerr.InvalidUpdateVersion.Code}, // unknown upgrade type
		{"share.version", 0, 4, kerr.InvalidUpdateVersion.Code},
	}
	for _, version := range []int16{1, 2} {
		for _, validateOnly := range []bool{false, true} {
			for _, u := range updates {
				req := kmsg.NewPtrUpdateFeaturesRequest()
				req.Version, req.ValidateOnly = version, validateOnly
				fu := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
				fu.Feature, fu.MaxVersionLevel, fu.UpgradeType = u.feature, u.level, u.upgradeType
				req.FeatureUpdates = append(req.FeatureUpdates, fu)
				resp := roundTrip(t, server, req).(*kmsg.UpdateFeaturesResponse)
				got := resp.ErrorCode
				if version < 2 {
					if resp.ErrorCode != 0 || len(resp.Results) != 1 || resp.Results[0].Feature != u.feature {
						t.Fatalf("v%d %+v: %+v", version, u, resp)
					}
					got = resp.Results[0].ErrorCode
					if (got != 0) != (resp.Results[0].ErrorMessage != nil) {
						t.Errorf("v%d %+v: message %v with code %d", version, u, resp.Results[0].ErrorMessage, got)
					}
				}
				if got != u.want {
					t.Errorf("v%d validateOnly %v %+v: code %d", version, validateOnly, u, got)
				}
			}
		}
	}
	// v0: allow_downgrade is a safe downgrade; a feature named twice is
	// answered once, by its last update.
	req := kmsg.NewPtrUpdateFeaturesRequest()
	req.Version = 0
	for _, allow := range []bool{false, true} {
		fu := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
		fu.Feature, fu.MaxVersionLevel, fu.AllowDowngrade = "metadata.version", metadataVersionBase+1, allow
		req.FeatureUpdates = append(req.FeatureUpdates, fu)
	}
	fu := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
	fu.Feature, fu.MaxVersionLevel = "group.version", 0
	req.FeatureUpdates = append(req.FeatureUpdates, fu)
	resp := roundTrip(t, server, req).(*kmsg.UpdateFeaturesResponse)
	if len(resp.Results) != 2 || resp.Results[0].Feature != "group.version" || resp.Results[0].ErrorCode != 0 ||
		resp.Results[1].ErrorCode != kerr.InvalidUpdateVersion.Code {
		t.Errorf("v0: %+v", resp.Results)
	}
}
