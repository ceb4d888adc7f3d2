package broker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkStandbyCatchUp: a leader holds 256 MiB in 2 partitions (1 KiB
// random records, uncompressed); a fresh standby starts and the op ends when both partitions'
// log end offsets match. Both nodes run in this process, so they share the
// two cores like two nodes on one machine. MB/s is the replication rate.
func BenchmarkStandbyCatchUp(b *testing.B) {
	for round := 0; round < 2; round++ {
		for _, path := range []string{"copy", "sendfile"} {
			b.Run(fmt.Sprintf("round=%d/fetch.path=%s", round, path), func(b *testing.B) { standbyCatchUp(b, path) })
		}
	}
}

func standbyCatchUp(b *testing.B, fetchPath string) {
	const total = 256 << 20
	leader := benchBroker(b, "--replication.listener=127.0.0.1:0", "--fetch.path="+fetchPath)
	defer leader.Close()
	c, err := kgo.NewClient(kgo.SeedBrokers(leader.Addr()), kgo.DefaultProduceTopic("catchup"), kgo.AllowAutoTopicCreation(),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := kadm.NewClient(c).CreateTopic(context.Background(), 2, 1, nil, "catchup"); err != nil {
		b.Fatal(err)
	}
	random := make([]byte, 1<<20)
	for i := range random {
		random[i] = byte(rand.IntN(256))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for sent := 0; sent < total; sent += 1024 {
		at := rand.IntN(len(random) - 1024)
		c.Produce(ctx, &kgo.Record{Key: []byte{byte(sent / 1024 % 2)}, Value: random[at : at+1024]}, nil)
	}
	if err := c.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	c.Close()
	lt, _ := leader.cluster.Topic("catchup")
	var bytesHeld int64
	for _, p := range lt.Partitions {
		bytesHeld += p.Log.Size()
	}
	b.SetBytes(bytesHeld)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		standby := benchBroker(b, "--standby.of="+leader.replListener.Addr().String(), "--node.id=1")
		for {
			st, ok := standby.cluster.Topic("catchup")
			done := ok
			for j := 0; ok && j < len(lt.Partitions); j++ {
				done = done && st.Partitions[j].Log.LogEndOffset() == lt.Partitions[j].Log.LogEndOffset()
			}
			if done {
				break
			}
			if ctx.Err() != nil {
				b.Fatal("the standby never caught up")
			}
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		standby.Close()
		b.StartTimer()
	}
	b.StopTimer()
}
