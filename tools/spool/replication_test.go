package main

import (
	"bytes"
	"slices"
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
	// Both nodes list the partition, the standby in sync and 0 behind
	// once it holds all five records.
	waitStatus(t, leader.AdminAddr(), "role leader", "cli-0")
	waitStatus(t, standby.AdminAddr(), "role standby", "cli-0", "5", "5", "0", "true")
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

// waitStatus runs spool replication status against admin until its output
// has the role line and a partition line whose first fields are
// partition (20 s at most).
func waitStatus(t *testing.T, admin, role string, partition ...string) {
	t.Helper()
	var out bytes.Buffer
	deadline := time.Now().Add(20 * time.Second)
	for {
		out.Reset()
		err := replicationCommand([]string{"status", "--admin=" + admin}, &out)
		if err == nil && strings.Contains(out.String(), role) {
			for _, line := range strings.Split(out.String(), "\n") {
				if fields := strings.Fields(line); len(fields) >= len(partition) && slices.Equal(fields[:len(partition)], partition) {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("status at %s, waiting for %q and %q: %v\n%s", admin, role, partition, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
