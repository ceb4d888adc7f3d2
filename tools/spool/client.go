package main

// The client commands, for people without kcat: spool topic
// create|list|describe|delete, spool produce, spool consume. They speak
// the Kafka protocol through franz-go, so they work against any Kafka
// broker as well as spool.

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const bootstrapDefault = "127.0.0.1:9092"

func clientFlags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	bootstrap := fs.String("bootstrap-server", bootstrapDefault, "broker address")
	return fs, bootstrap
}

// adminSession is an admin client of the broker at bootstrap and the
// deadline (30 s) its command works within; done releases both.
func adminSession(bootstrap string) (*kadm.Client, context.Context, func(), error) {
	c, err := kgo.NewClient(kgo.SeedBrokers(bootstrap))
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	return kadm.NewClient(c), ctx, func() { cancel(); c.Close() }, nil
}

func topicCommand(args []string, w io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: spool topic create|list|describe|delete [flags] [TOPIC]")
	}
	fs, bootstrap := clientFlags("topic " + args[0])
	partitions := fs.Int("partitions", 1, "partitions (create)")
	var configs multiFlag
	fs.Var(&configs, "config", "name=value topic config (create; repeatable)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	admin, ctx, done, err := adminSession(*bootstrap)
	if err != nil {
		return err
	}
	defer done()
	switch args[0] {
	case "create":
		if fs.NArg() != 1 {
			return errors.New("usage: spool topic create [--partitions N] [--config k=v ...] TOPIC")
		}
		cfg := map[string]*string{}
		for _, kv := range configs {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return fmt.Errorf("--config %q: want name=value", kv)
			}
			cfg[k] = kadm.StringPtr(v)
		}
		resp, err := admin.CreateTopic(ctx, int32(*partitions), -1, cfg, fs.Arg(0))
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "created %s (%d partitions, id %s)\n", resp.Topic, resp.NumPartitions, resp.ID)
	case "list":
		topics, err := admin.ListTopics(ctx)
		if err != nil {
			return err
		}
		for _, name := range topics.Names() {
			fmt.Fprintf(w, "%s\t%d partitions\n", name, len(topics[name].Partitions))
		}
	case "describe":
		if fs.NArg() != 1 {
			return errors.New("usage: spool topic describe TOPIC")
		}
		topics, err := admin.ListTopics(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		detail, ok := topics[fs.Arg(0)]
		if !ok || detail.Err != nil {
			return fmt.Errorf("%s: %v", fs.Arg(0), detail.Err)
		}
		starts, _ := admin.ListStartOffsets(ctx, fs.Arg(0))
		ends, _ := admin.ListEndOffsets(ctx, fs.Arg(0))
		fmt.Fprintf(w, "topic %s id %s\n", detail.Topic, detail.ID)
		for _, p := range detail.Partitions.Sorted() {
			start, _ := starts.Lookup(detail.Topic, p.Partition)
			end, _ := ends.Lookup(detail.Topic, p.Partition)
			fmt.Fprintf(w, "  partition %d leader %d epoch %d offsets [%d, %d)\n", p.Partition, p.Leader, p.LeaderEpoch, start.Offset, end.Offset)
		}
		if configs, err := admin.DescribeTopicConfigs(ctx, fs.Arg(0)); err == nil {
			for _, rc := range configs {
				sort.Slice(rc.Configs, func(i, j int) bool { return rc.Configs[i].Key < rc.Configs[j].Key })
				for _, c := range rc.Configs {
					fmt.Fprintf(w, "  config %s=%s (%s)\n", c.Key, c.MaybeValue(), c.Source)
				}
			}
		}
	case "delete":
		if fs.NArg() != 1 {
			return errors.New("usage: spool topic delete TOPIC")
		}
		resp, err := admin.DeleteTopics(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		if err := resp.Error(); err != nil {
			return err
		}
		fmt.Fprintf(w, "deleted %s\n", fs.Arg(0))
	default:
		return fmt.Errorf("unknown topic command %q", args[0])
	}
	return nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// produceCommand sends each line of stdin as a record; with --key-separator
// the part before it is the key.
func produceCommand(args []string, stdin io.Reader, w io.Writer) error {
	fs, bootstrap := clientFlags("produce")
	topic := fs.String("topic", "", "topic")
	separator := fs.String("key-separator", "", "split each line into key and value at this string")
	acks := fs.String("acks", "all", "0, 1 or all")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *topic == "" {
		return errors.New("usage: spool produce --topic T [--key-separator :] [--acks all] < lines")
	}
	opts := []kgo.Opt{kgo.SeedBrokers(*bootstrap), kgo.DefaultProduceTopic(*topic), kgo.AllowAutoTopicCreation()}
	switch *acks {
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "all", "-1":
	default:
		return fmt.Errorf("--acks %q: 0, 1 or all", *acks)
	}
	c, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	scanner := bufio.NewScanner(stdin)
	scanner.Buffer(make([]byte, 64<<10), 16<<20)
	count := 0
	var firstErr error
	for scanner.Scan() {
		line := scanner.Text()
		record := &kgo.Record{Value: []byte(line)}
		if *separator != "" {
			if k, v, ok := strings.Cut(line, *separator); ok {
				record.Key, record.Value = []byte(k), []byte(v)
			}
		}
		c.Produce(ctx, record, func(r *kgo.Record, err error) {
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
		count++
	}
	if err := c.Flush(ctx); err != nil {
		return err
	}
	if firstErr != nil {
		return firstErr
	}
	fmt.Fprintf(w, "%d records produced to %s\n", count, *topic)
	return scanner.Err()
}

// consumeCommand prints records as key<TAB>value (or value alone).
func consumeCommand(args []string, w io.Writer) error {
	fs, bootstrap := clientFlags("consume")
	topic := fs.String("topic", "", "topic")
	fromBeginning := fs.Bool("from-beginning", false, "start at the earliest offset (default: the end)")
	maxRecords := fs.Int("max-records", 0, "stop after this many records (0: run until Ctrl-C)")
	group := fs.String("group", "", "consume as a member of this consumer group, committing what was printed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *topic == "" {
		return errors.New("usage: spool consume --topic T [--group G] [--from-beginning] [--max-records N]")
	}
	start := kgo.NewOffset().AtEnd()
	if *fromBeginning {
		start = kgo.NewOffset().AtStart()
	}
	opts := []kgo.Opt{kgo.SeedBrokers(*bootstrap), kgo.ConsumeTopics(*topic), kgo.ConsumeResetOffset(start)}
	if *group != "" {
		opts = append(opts, kgo.ConsumerGroup(*group), kgo.AutoCommitMarks())
	}
	c, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer c.Close()
	if *group != "" {
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c.CommitMarkedOffsets(ctx)
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	out := bufio.NewWriter(w)
	defer out.Flush()
	seen := 0
	for *maxRecords == 0 || seen < *maxRecords {
		fetches := c.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err := fetches.Err(); err != nil {
			return err
		}
		for _, r := range fetches.Records() {
			if r.Key != nil {
				fmt.Fprintf(out, "%s\t%s\n", r.Key, r.Value)
			} else {
				fmt.Fprintf(out, "%s\n", r.Value)
			}
			seen++
			if *group != "" {
				c.MarkCommitRecords(r)
			}
			if *maxRecords > 0 && seen >= *maxRecords {
				break
			}
		}
		out.Flush()
	}
	return nil
}
