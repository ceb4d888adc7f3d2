package main

// spool promote and spool replication status: clients of a node's admin
// listener (POST /promote, GET /replication, served by package broker).

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"spool/broker"
)

// promoteCommand is `spool promote --admin=H:P [--unclean]`.
func promoteCommand(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("promote", flag.ContinueOnError)
	admin := fs.String("admin", "127.0.0.1:9644", "the standby's admin.listener")
	unclean := fs.Bool("unclean", false, "promote even if the standby may lack acknowledged writes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	url := "http://" + *admin + "/promote"
	if *unclean {
		url += "?unclean=true"
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Post(url, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Fprintf(w, "%s", body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not promoted (%s)", resp.Status)
	}
	return nil
}

// replicationCommand is `spool replication status --admin=H:P`.
func replicationCommand(args []string, w io.Writer) error {
	if len(args) == 0 || args[0] != "status" {
		return errors.New("usage: spool replication status [--admin H:P]")
	}
	fs := flag.NewFlagSet("replication status", flag.ContinueOnError)
	admin := fs.String("admin", "127.0.0.1:9644", "a node's admin.listener")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + *admin + "/replication")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var status broker.ReplicationStatus
	if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
		return err
	}
	fmt.Fprintf(w, "role %s  epoch %d\n", status.Role, status.Epoch)
	fmt.Fprintf(w, "%-32s %12s %12s %8s %8s %s\n", "PARTITION", "LEADER END", "STANDBY END", "BEHIND", "IN SYNC", "CAUGHT UP")
	for _, p := range status.Partitions {
		fmt.Fprintf(w, "%-32s %12d %12d %8d %8v %s\n", fmt.Sprintf("%s-%d", p.Topic, p.Partition), p.End, p.Standby, p.Behind, p.InSync, p.CaughtUpAgo)
	}
	return nil
}
