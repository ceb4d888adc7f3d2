package main

import (
	"io"
	"log/slog"
	"testing"

	"spool/broker"
)

// serveForTest starts a real broker on loopback for the command tests, as
// `spool serve` would with these flags, and closes it when the test ends.
func serveForTest(t *testing.T, extra ...string) *broker.Broker {
	t.Helper()
	args := append([]string{"--log.dirs=" + t.TempDir(), "--listeners=PLAINTEXT://127.0.0.1:0", "--admin.listener=", "--num.shards=2"}, extra...)
	props, err := broker.LoadProperties(args)
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.Start(props, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}
