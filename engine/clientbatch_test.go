package engine

import (
	"errors"
	"testing"

	"spool/internal/batchtest"
)

// TestClientBatchFields: a producer's batch may not set what only the
// broker sets, and each refusal leaves the log as it was.
func TestClientBatchFields(t *testing.T) {
	l := mustOpen(t, t.TempDir(), smallConfig())
	defer l.Close()
	records := []batchtest.Record{{Value: []byte("v"), Timestamp: 1}}
	cases := []struct {
		name string
		opts batchtest.Options
		want error
	}{
		{"control bit", batchtest.Options{ProducerID: -1, BaseSequence: -1, Attributes: 0x20}, ErrInvalidRecord},
		{"codec 5", batchtest.Options{ProducerID: -1, BaseSequence: -1, Attributes: 5}, ErrUnsupportedCompression},
		{"codec 7", batchtest.Options{ProducerID: -1, BaseSequence: -1, Attributes: 7}, ErrUnsupportedCompression},
		{"negative sequence with a producer id", batchtest.Options{ProducerID: 42, BaseSequence: -3}, ErrInvalidRecord},
		{"transactional bit", batchtest.Options{ProducerID: 42, BaseSequence: 0, Attributes: 0x10}, ErrTransactionalBatch},
	}
	for _, c := range cases {
		if _, err := l.Append(batchtest.BuildWith(records, c.opts), 0); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if end := l.LogEndOffset(); end != 0 {
		t.Fatalf("refused batches moved the log end to %d", end)
	}
	for name, opts := range map[string]batchtest.Options{
		"plain":      {ProducerID: -1, BaseSequence: -1},
		"idempotent": {ProducerID: 7, BaseSequence: 0},
	} {
		if _, err := l.Append(batchtest.BuildWith(records, opts), 0); err != nil {
			t.Errorf("%s batch refused: %v", name, err)
		}
	}
}
