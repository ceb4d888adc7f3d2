package wire

// DescribeCluster (60) versions 0-1, DescribeLogDirs (35) versions 0-4.
//
// One node, which is also the controller. DescribeLogDirs reports the one
// data directory, each partition's size (sum of its segments), offset lag
// 0, and, from v4, the filesystem's total and usable bytes.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"
)

func handleDescribeCluster(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.DescribeClusterRequest)
	kresp := r.ResponseKind().(*kmsg.DescribeClusterResponse)
	kresp.ClusterID = s.cfg.ClusterID
	kresp.ControllerID = s.cfg.NodeID
	kresp.EndpointType = r.EndpointType
	broker := kmsg.NewDescribeClusterResponseBroker()
	broker.NodeID, broker.Host, broker.Port, broker.Rack = s.cfg.NodeID, s.cfg.Host, s.cfg.Port, s.cfg.Rack
	kresp.Brokers = append(kresp.Brokers, broker)
	s.encode(h, kresp, resp)
	return nil
}

func handleDescribeLogDirs(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.DescribeLogDirsRequest)
	kresp := r.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = s.cfg.Cluster.DataDir()
	var stat unix.Statfs_t
	if unix.Statfs(dir.Dir, &stat) == nil {
		dir.TotalBytes = int64(stat.Blocks) * int64(stat.Bsize)
		dir.UsableBytes = int64(stat.Bavail) * int64(stat.Bsize)
	}
	wanted := map[string]map[int32]bool{}
	for _, t := range r.Topics {
		wanted[t.Topic] = map[int32]bool{}
		for _, p := range t.Partitions {
			wanted[t.Topic][p] = true
		}
	}
	for _, t := range s.cfg.Cluster.Topics() {
		partitions, named := wanted[t.Name]
		if r.Topics != nil && !named {
			continue
		}
		topic := kmsg.NewDescribeLogDirsResponseDirTopic()
		topic.Topic = t.Name
		for _, p := range t.Partitions {
			if r.Topics != nil && !partitions[p.Index] {
				continue
			}
			partition := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			partition.Partition = p.Index
			partition.Size = p.Log.Size()
			topic.Partitions = append(topic.Partitions, partition)
		}
		dir.Topics = append(dir.Topics, topic)
	}
	kresp.Dirs = append(kresp.Dirs, dir)
	s.encode(h, kresp, resp)
	return nil
}
