package main

// spool group list|describe|delete: consumer groups, their members and
// assignments, committed offsets and lag, through the Kafka protocol (so
// it works against any Kafka broker too).

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
)

func groupCommand(args []string, w io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: spool group list|describe|delete [--bootstrap-server H:P] [GROUP ...]")
	}
	fs, bootstrap := clientFlags("group " + args[0])
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	admin, ctx, done, err := adminSession(*bootstrap)
	if err != nil {
		return err
	}
	defer done()
	switch args[0] {
	case "list":
		listed, err := admin.ListGroups(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "GROUP\tSTATE\tPROTOCOL TYPE")
		for _, g := range listed.Sorted() {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Group, g.State, g.ProtocolType)
		}
		return tw.Flush()
	case "describe":
		groups := fs.Args()
		if len(groups) == 0 {
			listed, err := admin.ListGroups(ctx)
			if err != nil {
				return err
			}
			groups = listed.Groups()
		}
		lags, err := admin.Lag(ctx, groups...)
		if err != nil {
			return err
		}
		for _, l := range lags.Sorted() {
			if err := describeGroupLag(w, l); err != nil {
				return err
			}
		}
		return nil
	case "delete":
		if fs.NArg() == 0 {
			return errors.New("usage: spool group delete GROUP ...")
		}
		deleted, err := admin.DeleteGroups(ctx, fs.Args()...)
		if err != nil {
			return err
		}
		var errs []error
		for _, g := range fs.Args() {
			if err := deleted[g].Err; err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", g, err))
			} else {
				fmt.Fprintf(w, "deleted %s\n", g)
			}
		}
		return errors.Join(errs...)
	}
	return fmt.Errorf("unknown group command %q", args[0])
}

func describeGroupLag(w io.Writer, l kadm.DescribedGroupLag) error {
	if l.DescribeErr != nil {
		return fmt.Errorf("%s: %w", l.Group, l.DescribeErr)
	}
	fmt.Fprintf(w, "group %s  state %s  protocol %s/%s  members %d  total lag %d\n", l.Group, l.State, l.ProtocolType, l.Protocol, len(l.Members), l.Lag.Total())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(l.Members) > 0 {
		fmt.Fprintln(tw, "  MEMBER\tINSTANCE\tCLIENT\tHOST\tASSIGNED")
		for _, m := range l.Members {
			instance := "-"
			if m.InstanceID != nil {
				instance = *m.InstanceID
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", m.MemberID, instance, m.ClientID, m.ClientHost, assignedString(m))
		}
		tw.Flush()
	}
	if l.FetchErr != nil {
		return fmt.Errorf("%s offsets: %w", l.Group, l.FetchErr)
	}
	fmt.Fprintln(tw, "  TOPIC\tPARTITION\tCOMMITTED\tEND\tLAG\tMEMBER")
	for _, p := range l.Lag.Sorted() {
		committed, lag := "-", "-"
		if p.Commit.At >= 0 {
			committed = fmt.Sprint(p.Commit.At)
		}
		if p.Lag >= 0 {
			lag = fmt.Sprint(p.Lag)
		}
		owner := "-"
		if p.Member != nil {
			owner = p.Member.MemberID
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%d\t%s\t%s\n", p.Topic, p.Partition, committed, p.End.Offset, lag, owner)
	}
	return tw.Flush()
}

// assignedString lists a consumer member's assigned partitions.
func assignedString(m kadm.DescribedGroupMember) string {
	c, ok := m.Assigned.AsConsumer()
	if !ok {
		return "?"
	}
	var parts []string
	for _, t := range c.Topics {
		ps := append([]int32(nil), t.Partitions...)
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		parts = append(parts, fmt.Sprintf("%s%v", t.Topic, ps))
	}
	return strings.Join(parts, " ")
}
