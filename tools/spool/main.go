// Command spool is the broker's one binary: serve, and the offline storage
// tools dump and verify.
package main

import (
	"fmt"
	"os"

	"spool/tools/inspect"
)

const usage = `spool — a performance-first, Kafka-compatible log broker

usage:
  spool serve [--config FILE] [--property=value ...]
                       open the data directory (recovering it if needed) and
                       serve Kafka clients until SIGTERM
  spool topic create|list|describe|delete [--bootstrap-server H:P] ...
  spool group list|describe|delete [--bootstrap-server H:P] [GROUP ...]
                       consumer groups: members, assignments, committed
                       offsets and lag per partition
  spool promote [--admin H:P] [--unclean]
                       make the standby at that admin listener the leader
                       (new leader epoch; refused if it may lack acknowledged
                       writes, unless --unclean)
  spool replication status [--admin H:P]
                       role, epoch, and per partition the standby's lag
  spool produce --topic T [--key-separator :] [--acks all] < lines
  spool consume --topic T [--group G] [--from-beginning] [--max-records N]
  spool bench produce|e2e|ack|catchup|compare|ceiling|chart [flags]
                       the load harness: throughput and open-loop latency
                       against an embedded spool, kfake, the harness's sink,
                       or any Kafka broker (spool bench help)
  spool dump DIR       print the segments, batches and index entries of a
                       partition directory (changes nothing)
  spool verify DIR     check a data or partition directory offline: CRCs,
                       contiguous offsets, indexes against a scan (changes
                       nothing; exit status 1 on a problem)
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "topic":
		err = topicCommand(os.Args[2:], os.Stdout)
	case "group":
		err = groupCommand(os.Args[2:], os.Stdout)
	case "promote":
		err = promoteCommand(os.Args[2:], os.Stdout)
	case "replication":
		err = replicationCommand(os.Args[2:], os.Stdout)
	case "produce":
		err = produceCommand(os.Args[2:], os.Stdin, os.Stdout)
	case "consume":
		err = consumeCommand(os.Args[2:], os.Stdout)
	case "bench":
		err = benchCommand(os.Args[2:], os.Stdout, os.Stderr)
	case "dump":
		err = inspect.Dump(os.Args[2:], os.Stdout)
	case "verify":
		var ok bool
		ok, err = inspect.Verify(os.Args[2:], os.Stdout)
		if err == nil && !ok {
			os.Exit(1)
		}
	case "help", "-h", "--help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "spool: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "spool:", err)
		os.Exit(1)
	}
}
