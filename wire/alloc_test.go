//go:build !race

package wire

import (
	"context"
	"testing"

	"spool/internal/batchtest"
	"spool/segment"
)

// TestProduceAllocationsDoNotGrowWithRecords: a Produce request allocates a
// constant number of objects (decoding, the response), never per record.
func TestProduceAllocationsDoNotGrowWithRecords(t *testing.T) {
	server, cluster := testServer(t, segment.Config{SegmentBytes: 256 << 20, IndexBytes: 1 << 20}, 0)
	if _, err := cluster.CreateTopic("t", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	frameFor := func(records int) []byte { return oneBatchProduce("t", batchtest.Values(records, 100, 1)) }
	var resp Response
	measure := func(records int) float64 {
		frame := frameFor(records)
		original := append([]byte(nil), frame...)
		return testing.AllocsPerRun(200, func() {
			copy(frame, original) // the append stamps offsets in place
			if err := server.Handle(context.Background(), frame, &resp); err != nil {
				t.Fatal(err)
			}
			resp.Complete()
		})
	}
	one, many := measure(1), measure(500)
	t.Logf("allocations per Produce request: %.0f with 1 record, %.0f with 500", one, many)
	if many > one {
		t.Fatalf("allocations grow with records: %.0f for 1, %.0f for 500", one, many)
	}
}
