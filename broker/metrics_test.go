package broker

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestAdminEndpoints(t *testing.T) {
	b := testBroker(t, t.TempDir(), "--admin.listener=127.0.0.1:0")
	defer b.Close()
	c := client(t, b, kgo.DefaultProduceTopic("observed"), kgo.AllowAutoTopicCreation())
	if err := c.ProduceSync(ctxTimeout(t, 10*time.Second), &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	get := func(path string) string {
		resp, err := http.Get("http://" + b.adminAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		return string(body)
	}
	// A group commits offset 0 of a partition holding one record: lag 1.
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.Generation = "watchers", -1
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "observed", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 0, LeaderEpoch: -1}}}}
	if resp, err := commit.RequestWith(ctxTimeout(t, 10*time.Second), c); err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit: %v %+v", err, resp)
	}
	if get("/healthz") != "ok\n" {
		t.Fatal("healthz")
	}
	metrics := get("/metrics")
	for _, want := range []string{
		`spool_request_duration_seconds_count{api="Produce"} `,
		`spool_request_duration_seconds_bucket{api="Metadata",le="+Inf"}`,
		"spool_bytes_in_total ",
		"spool_sync_duration_seconds_count{} ",
		"spool_log_cleaner_runs_total ",
		"spool_log_cleaner_bytes_read_total ",
		"spool_log_cleaner_bytes_written_total ",
		"spool_log_cleaner_records_removed_total ",
		"spool_log_cleaner_last_duration_seconds ",
		`spool_partition_log_end_offset{topic="observed",partition="0"} 1`,
		`spool_consumer_group_committed_offset{group="watchers",topic="observed",partition="0"} 0`,
		`spool_consumer_group_lag{group="watchers",topic="observed",partition="0"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("/metrics lacks %q:\n%s", want, metrics)
		}
	}
	if !strings.Contains(get("/debug/pprof/"), "goroutine") {
		t.Fatal("pprof index")
	}
}
