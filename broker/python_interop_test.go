package broker

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPythonClientsInterop runs confluent-kafka (librdkafka) and
// kafka-python from Debian's packages against a real broker. `make
// interop` installs them and sets SPOOL_INTEROP=1, which turns their
// absence into a failure.
func TestPythonClientsInterop(t *testing.T) {
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import confluent_kafka, kafka").Run(); err != nil {
		if os.Getenv("SPOOL_INTEROP") != "" {
			t.Fatal("python3-confluent-kafka or python3-kafka missing (make interop installs them)")
		}
		t.Skip("python clients not installed; run make interop")
	}
	b := testBroker(t, t.TempDir(), "--num.partitions=1")
	defer b.Close()
	script, _ := filepath.Abs("../tools/interop/python_clients.py")
	cmd := exec.Command(python, script, b.Addr())
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("python clients timed out:\n%s", out)
	}
	if err != nil {
		t.Fatalf("python clients: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		t.Log(line)
	}
}
