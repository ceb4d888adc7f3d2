package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestReplicationCommands: spool replication status and spool promote
// against real admin listeners.
func TestReplicationCommands(t *testing.T) {
	leader := serveForTest(t, "--replication.listener=127.0.0.1:0", "--admin.listener=127.0.0.1:0")
	standby := serveForTest(t, "--standby.of="+leader.ReplicationAddr(), "--node.id=1", "--admin.listener=127.0.0.1:0")
	server := "--bootstrap-server=" + leader.Addr()
	var out bytes.Buffer
	if err := topicCommand([]string{"create", server, "--partitions=1", "cli"}, &out); err != nil {
		t.Fatal(err)
	}
	if err := produceCommand([]string{server, "--topic=cli", "--acks=all"}, strings.NewReader("1\n2\n3\n4\n5\n"), &out); err != nil {
		t.Fatal(err)
	}
	// The leader lists the partition once the standby has acked it.
	deadline := time.Now().Add(20 * time.Second)
	for {
		out.Reset()
		err := replicationCommand([]string{"status", "--admin=" + leader.AdminAddr()}, &out)
		if err == nil && strings.Contains(out.String(), "role leader") && strings.Contains(out.String(), "cli-0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("leader status: %v\n%s", err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	out.Reset()
	if err := replicationCommand([]string{"status", "--admin=" + standby.AdminAddr()}, &out); err != nil || !strings.Contains(out.String(), "role standby") {
		t.Fatalf("standby status: %v\n%s", err, out.String())
	}
	t.Logf("spool replication status (standby):\n%s", out.String())
	out.Reset()
	if err := promoteCommand([]string{"--admin=" + standby.AdminAddr()}, &out); err != nil || !strings.Contains(out.String(), `"promoted":true`) {
		t.Fatalf("spool promote: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := promoteCommand([]string{"--admin=" + standby.AdminAddr()}, &out); err == nil {
		t.Fatalf("a second promotion succeeded: %s", out.String())
	}
}
