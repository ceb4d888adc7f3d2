package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestClientCommands drives spool topic/produce/consume against a real
// broker, as a user without kcat would.
func TestClientCommands(t *testing.T) {
	b := serveForTest(t)
	server := "--bootstrap-server=" + b.Addr()
	var out bytes.Buffer
	if err := topicCommand([]string{"create", server, "--partitions=2", "--config", "retention.ms=3600000", "cli"}, &out); err != nil {
		t.Fatal(err)
	}
	if err := produceCommand([]string{server, "--topic=cli", "--key-separator=:"}, strings.NewReader("a:1\nb:2\nc:3\n"), &out); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := topicCommand([]string{"list", server}, &out); err != nil || !strings.Contains(out.String(), "cli\t2 partitions") {
		t.Fatalf("list: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := topicCommand([]string{"describe", server, "cli"}, &out); err != nil || !strings.Contains(out.String(), "config retention.ms=3600000 (DYNAMIC_TOPIC_CONFIG)") {
		t.Fatalf("describe: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := consumeCommand([]string{server, "--topic=cli", "--from-beginning", "--max-records=3"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"a\t1\n", "b\t2\n", "c\t3\n"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("consume printed:\n%s", out.String())
		}
	}
	// In a group: the first two records, committed; the group shows them
	// and a lag of one.
	out.Reset()
	if err := consumeCommand([]string{server, "--topic=cli", "--group=cli-readers", "--from-beginning", "--max-records=2"}, &out); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := groupCommand([]string{"list", server}, &out); err != nil || !strings.Contains(out.String(), "cli-readers") || !strings.Contains(out.String(), "Empty") {
		t.Fatalf("group list: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := groupCommand([]string{"describe", server, "cli-readers"}, &out); err != nil || !strings.Contains(out.String(), "total lag 1") {
		t.Fatalf("group describe: %v\n%s", err, out.String())
	}
	t.Logf("spool group describe:\n%s", out.String())
	out.Reset()
	if err := groupCommand([]string{"delete", server, "cli-readers"}, &out); err != nil || !strings.Contains(out.String(), "deleted cli-readers") {
		t.Fatalf("group delete: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := topicCommand([]string{"delete", server, "cli"}, &out); err != nil {
		t.Fatal(err)
	}
	if err := topicCommand([]string{"describe", server, "cli"}, &out); err == nil {
		t.Fatal("describe of a deleted topic succeeded")
	}
}
