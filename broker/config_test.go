package broker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"spool/engine"
)

func TestProperties(t *testing.T) {
	file := filepath.Join(t.TempDir(), "server.properties")
	os.WriteFile(file, []byte("# comment\nlog.dirs=/tmp/a\nlog.segment.bytes: 8388608\nlog.retention.hours 1\n"), 0o644)
	props, err := LoadProperties([]string{"--config", file, "--log.dirs=/tmp/b", "--log.flush.policy", "batch"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := props.logConfig()
	if err != nil {
		t.Fatal(err)
	}
	if props["log.dirs"] != "/tmp/b" || cfg.Segment.SegmentBytes != 8<<20 || cfg.RetentionMillis != 3600_000 || cfg.FlushPolicy != engine.FlushEveryBatch {
		t.Fatalf("props %v cfg %+v", props, cfg)
	}
	if _, err := LoadProperties([]string{"--log.dirz=/x"}); err == nil || !strings.Contains(err.Error(), "unknown setting") {
		t.Fatalf("unknown setting: %v", err)
	}
	props, _ = LoadProperties([]string{"--log.segment.bytes=12"})
	if _, err := props.logConfig(); err == nil {
		t.Fatal("accepted segment.bytes=12")
	}
}

// TestProducerIDExpirationProperty: producer.id.expiration.ms defaults to
// Kafka's day, is read from flags and the properties file, and a value
// that is not a positive number of milliseconds stops the start-up.
func TestProducerIDExpirationProperty(t *testing.T) {
	props, err := LoadProperties(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := props.logConfig()
	if err != nil || cfg.ProducerIDExpirationMillis != 86400000 {
		t.Fatalf("default: %d %v, want 86400000", cfg.ProducerIDExpirationMillis, err)
	}
	file := filepath.Join(t.TempDir(), "server.properties")
	os.WriteFile(file, []byte("producer.id.expiration.ms=3600000\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want int64
	}{
		{[]string{"--producer.id.expiration.ms=60000"}, 60000},
		{[]string{"--producer.id.expiration.ms", "1"}, 1},
		{[]string{"--config", file}, 3600000},
		{[]string{"--config", file, "--producer.id.expiration.ms=5000"}, 5000},
	} {
		props, err := LoadProperties(tc.args)
		if err != nil {
			t.Fatal(err)
		}
		if cfg, err := props.logConfig(); err != nil || cfg.ProducerIDExpirationMillis != tc.want {
			t.Fatalf("%v: %d %v, want %d", tc.args, cfg.ProducerIDExpirationMillis, err, tc.want)
		}
	}
	for _, bad := range []string{"0", "-1", "-86400000", "1d", "", "1.5"} {
		props, err := LoadProperties([]string{"--producer.id.expiration.ms=" + bad})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := props.logConfig(); err == nil || !strings.Contains(err.Error(), "producer.id.expiration.ms=") {
			t.Fatalf("producer.id.expiration.ms=%q accepted: %v", bad, err)
		}
		props["log.dirs"] = t.TempDir()
		if b, err := Start(props, discardLogger()); err == nil {
			b.Close()
			t.Fatalf("the broker started with producer.id.expiration.ms=%q", bad)
		}
	}
}
