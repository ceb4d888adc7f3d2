package wire

// DescribeLogDirs (35), versions 0-4.
//
// Reports the one data directory, each partition's size (the sum of its
// segments), offset lag 0, and from v4 the filesystem's total and usable
// bytes.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"
)

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
