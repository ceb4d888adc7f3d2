package wire

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestAlterReplicaLogDirs(t *testing.T) {
	server := sessionServer(t, 2, 0)
	dir := server.cfg.Cluster.DataDir()
	for _, version := range []int16{0, 1, 2} {
		req := kmsg.NewPtrAlterReplicaLogDirsRequest()
		req.Version = version
		for _, c := range []struct {
			path  string
			topic string
			parts []int32
		}{
			{dir, "t", []int32{0, 2}},
			{dir + "/", "t", []int32{1}},
			{"/elsewhere", "t", []int32{3}},
			{"/elsewhere", "nope", []int32{0}},
			{"", "t", []int32{0}}, // t/0 again: this last directory wins
		} {
			d := kmsg.NewAlterReplicaLogDirsRequestDir()
			d.Dir = c.path
			d.Topics = []kmsg.AlterReplicaLogDirsRequestDirTopic{{Topic: c.topic, Partitions: c.parts}}
			req.Dirs = append(req.Dirs, d)
		}
		resp := roundTrip(t, server, req).(*kmsg.AlterReplicaLogDirsResponse)
		want := map[string][][2]int32{
			"t":    {{0, int32(kerr.LogDirNotFound.Code)}, {2, int32(kerr.UnknownTopicOrPartition.Code)}, {1, 0}, {3, int32(kerr.LogDirNotFound.Code)}},
			"nope": {{0, int32(kerr.LogDirNotFound.Code)}},
		}
		if len(resp.Topics) != 2 || resp.Topics[0].Topic != "t" || resp.Topics[1].Topic != "nope" {
			t.Fatalf("v%d: topics %+v", version, resp.Topics)
		}
		for _, kt := range resp.Topics {
			if len(kt.Partitions) != len(want[kt.Topic]) {
				t.Fatalf("v%d %s: %+v", version, kt.Topic, kt.Partitions)
			}
			for j, kp := range kt.Partitions {
				if w := want[kt.Topic][j]; kp.Partition != w[0] || int32(kp.ErrorCode) != w[1] {
					t.Errorf("v%d %s/%d: code %d, want %v", version, kt.Topic, kp.Partition, kp.ErrorCode, w)
				}
			}
		}
	}
}
