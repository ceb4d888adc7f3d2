package wire

// UpdateFeatures (57), versions 0-2, and the features ApiVersions reports
// (KIP-584, KIP-778).
//
// spool finalizes one feature, metadata.version, at 7 (3.3-IV3): the
// lowest level a Kafka 4 cluster may run at, so that Kafka 4 tools
// (kafka-features describe) find the feature every KRaft cluster has,
// without spool claiming the metadata changes of any later level. Every
// other feature of Kafka 4.1 (kraft.version, transaction.version,
// group.version, share.version, streams.version,
// eligible.leader.replicas.version) is left out of ApiVersions, which in
// Kafka means supported only at level 0: spool has no quorum,
// transactions v2, KIP-848 or share groups, and a client must not turn
// them on (a producer reads transaction.version to pick its protocol).
//
// An update is checked as Kafka's controller checks it, in this order: an
// unknown upgrade type, a negative level, a level outside the supported
// range, then a downgrade asked for as an upgrade, or an upgrade as a
// downgrade, are INVALID_UPDATE_VERSION. Since each supported range is a
// single level, an update that passes changes nothing: it answers NONE,
// and validate_only has nothing left to skip. In v0, allow_downgrade true
// is a safe downgrade; v1+ carry the upgrade type (1 upgrade, 2 safe
// downgrade, 3 unsafe downgrade). A feature named twice counts once (the
// last update wins), as in Kafka, which reads the updates into a map.
// v0-1 answer per feature (in name order); v2 only at the top level, with
// the first failed feature's error. The timeout is not used: nothing is
// waited for.

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// featureRange is a feature's supported levels and the finalized level.
type featureRange struct {
	name               string
	minLevel, maxLevel int16
	finalizedLevel     int16
}

// metadataVersionBase is metadata.version 3.3-IV3, the lowest level Kafka
// 4 supports.
const metadataVersionBase = 7

// features are the features this node supports, in name order. A feature
// not listed is supported at level 0 only.
var features = []featureRange{
	{name: "metadata.version", minLevel: metadataVersionBase, maxLevel: metadataVersionBase, finalizedLevel: metadataVersionBase},
}

// finalizedFeaturesEpoch is the epoch of the finalized features: they never
// change, so it never moves.
const finalizedFeaturesEpoch = 0

// The upgrade types of UpdateFeatures v1+ (KIP-778).
const (
	upgradeTypeUpgrade         = 1
	upgradeTypeSafeDowngrade   = 2
	upgradeTypeUnsafeDowngrade = 3
)

// appendFeatures fills ApiVersions v3+'s feature fields. Before v4, a
// feature whose lowest supported level is 0 is left out (KAFKA-17492: older
// clients refuse a range starting at 0).
func appendFeatures(kresp *kmsg.ApiVersionsResponse, version int16) {
	if version < 3 {
		return
	}
	for _, f := range features {
		if f.minLevel == 0 && version < 4 {
			continue
		}
		sf := kmsg.NewApiVersionsResponseSupportedFeature()
		sf.Name, sf.MinVersion, sf.MaxVersion = f.name, f.minLevel, f.maxLevel
		kresp.SupportedFeatures = append(kresp.SupportedFeatures, sf)
		if f.finalizedLevel > 0 {
			ff := kmsg.NewApiVersionsResponseFinalizedFeature()
			ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel = f.name, f.finalizedLevel, f.finalizedLevel
			kresp.FinalizedFeatures = append(kresp.FinalizedFeatures, ff)
		}
	}
	kresp.FinalizedFeaturesEpoch = finalizedFeaturesEpoch
}

func lookupFeature(name string) featureRange {
	for _, f := range features {
		if f.name == name {
			return f
		}
	}
	return featureRange{name: name}
}

// checkFeatureUpdate returns "" when the update is valid, else why not.
func checkFeatureUpdate(name string, level int16, upgradeType int8) string {
	if upgradeType < upgradeTypeUpgrade || upgradeType > upgradeTypeUnsafeDowngrade {
		return "The controller does not support the given upgrade type."
	}
	if level < 0 {
		return "A feature version cannot be less than 0."
	}
	f := lookupFeature(name)
	if level < f.minLevel || level > f.maxLevel {
		if f.maxLevel == 0 {
			return "This node does not support this feature."
		}
		return fmt.Sprintf("This node only supports levels %d-%d.", f.minLevel, f.maxLevel)
	}
	switch {
	case level < f.finalizedLevel && upgradeType == upgradeTypeUpgrade:
		return "Can't downgrade the version of this feature without setting the upgrade type to either safe or unsafe downgrade."
	case level > f.finalizedLevel && upgradeType != upgradeTypeUpgrade:
		return "Can't downgrade to a newer version."
	}
	return ""
}

func handleUpdateFeatures(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.UpdateFeaturesRequest)
	kresp := r.ResponseKind().(*kmsg.UpdateFeaturesResponse)
	last := map[string]int{}
	for i, u := range r.FeatureUpdates {
		last[u.Feature] = i
	}
	names := make([]string, 0, len(last))
	for name := range last {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		u := r.FeatureUpdates[last[name]]
		upgradeType := u.UpgradeType
		if h.APIVersion == 0 {
			upgradeType = upgradeTypeUpgrade
			if u.AllowDowngrade {
				upgradeType = upgradeTypeSafeDowngrade
			}
		}
		result := kmsg.NewUpdateFeaturesResponseResult()
		result.Feature = name
		if reason := checkFeatureUpdate(name, u.MaxVersionLevel, upgradeType); reason != "" {
			message := fmt.Sprintf("Invalid update version %d for feature %s. %s", u.MaxVersionLevel, name, reason)
			result.ErrorCode, result.ErrorMessage = kerr.InvalidUpdateVersion.Code, &message
			if h.APIVersion >= 2 && kresp.ErrorCode == 0 {
				kresp.ErrorCode, kresp.ErrorMessage = result.ErrorCode, result.ErrorMessage
			}
		}
		kresp.Results = append(kresp.Results, result)
	}
	s.encode(h, kresp, resp)
	return nil
}
