// Command compat prints how spool's advertised API versions compare with
// Kafka 4.1's (`make compat`). It is a report, not a test: it always exits
// 0 unless it cannot write.
//
// Kafka 4.1's keys come from franz-go's kversion.V4_1_0(), which lists the
// keys a 4.1 broker answers on its client listener with their maximum
// versions (not their minimums, which Kafka 4 raised for some keys, KIP-896;
// spool's minimums are set by the librdkafka trap in KAFKA-COMPAT.md). Of those, the ones a
// Kafka client never sends to a broker are left out, so that the report
// counts only what a drop-in broker must answer:
//
//   - 27 WriteTxnMarkers: inter-broker (the transaction coordinator writes
//     markers to partition leaders).
//   - 55 DescribeQuorum, 80 AddRaftVoter, 81 RemoveRaftVoter: KRaft quorum
//     management; the Raft layer answers them, and spool has no quorum.
//   - 83-87 Initialize/Read/Write/Delete/ReadSummary ShareGroupState:
//     the share coordinator's calls to the share-state topic owner,
//     inter-broker.
//
// 64 UnregisterBroker stays in: it is an Admin call (kafka-cluster.sh
// unregister) a client sends to any broker. That leaves 66 client-facing
// keys.
package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"spool/wire"
)

// notClientFacing are the keys of kversion.V4_1_0() left out of the
// report, with the reason (the package comment says more).
var notClientFacing = map[int16]string{
	27: "inter-broker",
	55: "KRaft",
	80: "KRaft",
	81: "KRaft",
	83: "share-coordinator state",
	84: "share-coordinator state",
	85: "share-coordinator state",
	86: "share-coordinator state",
	87: "share-coordinator state",
}

func main() {
	if err := report(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "compat:", err)
		os.Exit(1)
	}
}

type row struct {
	key, kafkaMax int16
	spool         *wire.APIRange
}

func (r row) status() string {
	switch {
	case r.spool == nil:
		return "missing"
	case r.spool.MaxVersion < r.kafkaMax:
		return fmt.Sprintf("behind by %d", r.kafkaMax-r.spool.MaxVersion)
	case r.spool.MaxVersion > r.kafkaMax:
		return "ahead"
	}
	return "ok"
}

func report(out io.Writer) error {
	advertised := map[int16]*wire.APIRange{}
	for _, a := range wire.SupportedAPIs() {
		advertised[a.Key] = &a
	}
	var rows []row
	kversion.V4_1_0().EachMaxKeyVersion(func(key, kafkaMax int16) {
		if _, skip := notClientFacing[key]; !skip {
			rows = append(rows, row{key: key, kafkaMax: kafkaMax, spool: advertised[key]})
		}
	})
	slices.SortFunc(rows, func(a, b row) int { return int(a.key) - int(b.key) })

	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "key\tname\tkafka 4.1 max\tspool\tstatus")
	counts := map[string]int{}
	for _, r := range rows {
		spool := "-"
		if r.spool != nil {
			spool = fmt.Sprintf("%d-%d", r.spool.MinVersion, r.spool.MaxVersion)
		}
		status := r.status()
		switch {
		case r.spool == nil:
			counts["missing"]++
		case status == "ok" || status == "ahead":
			counts["at max"]++
		default:
			counts["behind"]++
		}
		fmt.Fprintf(w, "%d\t%s\t%d\t%s\t%s\n", r.key, kmsg.NameForKey(r.key), r.kafkaMax, spool, status)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	var extra []int16
	for key := range advertised {
		if !slices.ContainsFunc(rows, func(r row) bool { return r.key == key }) {
			extra = append(extra, key)
		}
	}
	slices.Sort(extra)
	fmt.Fprintf(out, "\n%d client-facing keys of Kafka 4.1: %d at Kafka's maximum, %d behind, %d missing; spool advertises %d keys",
		len(rows), counts["at max"], counts["behind"], counts["missing"], len(advertised))
	if len(extra) > 0 {
		fmt.Fprintf(out, " (%d outside the list: %v)", len(extra), extra)
	}
	fmt.Fprintln(out)
	skipped := make([]int16, 0, len(notClientFacing))
	for key := range notClientFacing {
		skipped = append(skipped, key)
	}
	slices.Sort(skipped)
	fmt.Fprint(out, "left out (not client-facing):")
	for _, key := range skipped {
		fmt.Fprintf(out, " %d %s (%s);", key, kmsg.NameForKey(key), notClientFacing[key])
	}
	_, err := fmt.Fprintln(out)
	return err
}
