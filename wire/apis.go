package wire

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handler answers one decoded request.
type handler func(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error

type api struct {
	key                    int16
	minVersion, maxVersion int16
	handle                 handler
}

const apiVersionsKey = 18

// apis is the supported-versions table: every request is checked against
// it, and ApiVersions answers from it, so what we advertise cannot drift
// from what we handle. Each handler file says why its range is what it is.
var apis []api

var apiByKey map[int16]*api

// The table is filled in init because handleAPIVersions reads it.
func init() {
	apis = []api{
		{0, 0, 13, handleProduce},
		{1, 4, 18, handleFetch},
		{2, 0, 10, handleListOffsets},
		{3, 0, 13, handleMetadata},
		{8, 0, 9, handleOffsetCommit},
		{9, 0, 9, handleOffsetFetch},
		{10, 0, 6, handleFindCoordinator},
		{11, 0, 9, handleJoinGroup},
		{12, 0, 4, handleHeartbeat},
		{13, 0, 5, handleLeaveGroup},
		{14, 0, 5, handleSyncGroup},
		{15, 0, 6, handleDescribeGroups},
		{16, 0, 5, handleListGroups},
		{18, 0, 4, handleAPIVersions},
		{19, 0, 7, handleCreateTopics},
		{20, 0, 6, handleDeleteTopics},
		{21, 0, 2, handleDeleteRecords},
		{22, 0, 5, handleInitProducerID},
		{23, 0, 4, handleOffsetForLeaderEpoch},
		{32, 0, 4, handleDescribeConfigs},
		{33, 0, 2, handleAlterConfigs},
		{34, 0, 2, handleAlterReplicaLogDirs},
		{35, 0, 4, handleDescribeLogDirs},
		{37, 0, 3, handleCreatePartitions},
		{42, 0, 2, handleDeleteGroups},
		{43, 0, 2, handleElectLeaders},
		{44, 0, 1, handleIncrementalAlterConfigs},
		{45, 0, 1, handleAlterPartitionAssignments},
		{46, 0, 0, handleListPartitionReassignments},
		{47, 0, 0, handleOffsetDelete},
		{48, 0, 1, handleDescribeClientQuotas},
		{49, 0, 1, handleAlterClientQuotas},
		{57, 0, 2, handleUpdateFeatures},
		{60, 0, 2, handleDescribeCluster},
		{74, 0, 1, handleListConfigResources},
		{75, 0, 0, handleDescribeTopicPartitions},
	}
	apiByKey = map[int16]*api{}
	for i := range apis {
		apiByKey[apis[i].key] = &apis[i]
	}
}

func lookupAPI(key int16) *api { return apiByKey[key] }

// APIRange is one row of the supported-versions table, as ApiVersions
// advertises it.
type APIRange struct {
	Key, MinVersion, MaxVersion int16
}

// SupportedAPIs returns a copy of the supported-versions table in key
// order (for reports such as `make compat`; the table itself stays
// private so nothing outside wire can change what is advertised).
func SupportedAPIs() []APIRange {
	out := make([]APIRange, 0, len(apis))
	for _, a := range apis {
		out = append(out, APIRange{Key: a.key, MinVersion: a.minVersion, MaxVersion: a.maxVersion})
	}
	return out
}
