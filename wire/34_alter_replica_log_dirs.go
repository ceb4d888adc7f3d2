package wire

// AlterReplicaLogDirs (34), versions 0-2.
//
// spool keeps every partition in one log directory, the data directory
// DescribeLogDirs reports, so no replica can move. As Kafka's replica
// manager checks, in this order: a path that is not a log directory of
// this broker is LOG_DIR_NOT_FOUND; then a partition that does not exist
// is UNKNOWN_TOPIC_OR_PARTITION; a partition asked to move to the
// directory it is already in answers NONE (nothing to do). Kafka compares
// the path with each log directory's absolute path; spool also accepts
// the path as configured, both cleaned (a trailing slash is the same
// directory). As in Kafka, a partition named twice is answered once, for
// the last directory named, and each topic has one entry (kadm keeps only
// one per topic); topics and partitions come in the order first named.

import (
	"context"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// isLogDir reports whether path names this broker's one log directory.
func (s *Server) isLogDir(path string) bool {
	dir := s.cfg.Cluster.DataDir()
	if path == "" {
		return false
	}
	if filepath.Clean(path) == filepath.Clean(dir) {
		return true
	}
	abs, err := filepath.Abs(dir)
	return err == nil && filepath.Clean(path) == abs
}

func handleAlterReplicaLogDirs(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.AlterReplicaLogDirsRequest)
	kresp := r.ResponseKind().(*kmsg.AlterReplicaLogDirsResponse)
	type topicPartition struct {
		topic     string
		partition int32
	}
	dirOf := map[topicPartition]string{} // the last directory named wins
	var order []topicPartition
	topicIndex := map[string]int{}
	for _, d := range r.Dirs {
		for _, rt := range d.Topics {
			for _, p := range rt.Partitions {
				tp := topicPartition{rt.Topic, p}
				if _, seen := dirOf[tp]; !seen {
					order = append(order, tp)
				}
				dirOf[tp] = d.Dir
			}
		}
	}
	for _, tp := range order {
		i, ok := topicIndex[tp.topic]
		if !ok {
			i = len(kresp.Topics)
			topicIndex[tp.topic] = i
			kt := kmsg.NewAlterReplicaLogDirsResponseTopic()
			kt.Topic = tp.topic
			kresp.Topics = append(kresp.Topics, kt)
		}
		kp := kmsg.NewAlterReplicaLogDirsResponseTopicPartition()
		kp.Partition = tp.partition
		switch {
		case !s.isLogDir(dirOf[tp]):
			kp.ErrorCode = kerr.LogDirNotFound.Code
		case s.partition(tp.topic, tp.partition) == nil:
			kp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		}
		kresp.Topics[i].Partitions = append(kresp.Topics[i].Partitions, kp)
	}
	s.encode(h, kresp, resp)
	return nil
}
