package wire

// AlterPartitionAssignments (45), versions 0-1.
//
// One node holds every partition's only replica, so there is nothing to
// reassign. Per partition, as Kafka's controller checks a manual
// assignment: an unknown topic or partition is UNKNOWN_TOPIC_OR_PARTITION;
// null replicas (cancel) is NO_REASSIGNMENT_IN_PROGRESS, since none ever
// is; an empty list, a repeated broker, or a broker other than this node
// is INVALID_REPLICA_ASSIGNMENT with Kafka's message; exactly this node
// (the current assignment) succeeds and changes nothing. v1's
// AllowReplicationFactorChange is echoed; the one valid assignment keeps
// the factor. A standby answers NOT_CONTROLLER, as for every topic change.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleAlterPartitionAssignments(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.AlterPartitionAssignmentsRequest)
	kresp := r.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	kresp.AllowReplicationFactorChange = r.AllowReplicationFactorChange
	if s.cfg.Cluster.Follower() {
		kresp.ErrorCode = kerr.NotController.Code
		s.encode(h, kresp, resp)
		return nil
	}
	for _, rt := range r.Topics {
		kt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		kt.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			kp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			kp.Partition = rp.Partition
			code, message := s.checkAssignment(rt.Topic, rp.Partition, rp.Replicas)
			if code != 0 {
				kp.ErrorCode, kp.ErrorMessage = code, &message
			}
			kt.Partitions = append(kt.Partitions, kp)
		}
		kresp.Topics = append(kresp.Topics, kt)
	}
	s.encode(h, kresp, resp)
	return nil
}

// checkAssignment answers one partition's requested replicas.
func (s *Server) checkAssignment(topic string, partition int32, replicas []int32) (int16, string) {
	if s.partition(topic, partition) == nil {
		return kerr.UnknownTopicOrPartition.Code, kerr.UnknownTopicOrPartition.Description
	}
	if replicas == nil {
		return kerr.NoReassignmentInProgress.Code, kerr.NoReassignmentInProgress.Description
	}
	if len(replicas) == 0 {
		return kerr.InvalidReplicaAssignment.Code, "The manual partition assignment includes an empty replica list."
	}
	seen := map[int32]bool{}
	for _, id := range replicas {
		if seen[id] {
			return kerr.InvalidReplicaAssignment.Code, fmt.Sprintf("The manual partition assignment includes the broker %d more than once.", id)
		}
		seen[id] = true
		if id != s.cfg.NodeID {
			return kerr.InvalidReplicaAssignment.Code, fmt.Sprintf("The manual partition assignment includes broker %d, but no such broker is registered.", id)
		}
	}
	return 0, ""
}
