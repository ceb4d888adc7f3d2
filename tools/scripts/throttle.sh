#!/usr/bin/env bash
# Produce-ack latency on a leader while a fresh standby catches up 300 MB,
# unthrottled against replication.throttle.bytes.per.second=50 MB/s,
# alternating (docs/PERFORMANCE.md). Usage: make build && tools/scripts/throttle.sh
set -u
S=${SPOOL:-bin/spool}
D=$(mktemp -d)
run_leader() { # throttle
  $S serve --log.dirs=$D/leader --listeners=PLAINTEXT://127.0.0.1:19502 --admin.listener=127.0.0.1:19602 --replication.listener=127.0.0.1:19503 --replication.throttle.bytes.per.second=$1 > $D/leader.log 2>&1 &
  LP=$!
}
for throttle in 0 50000000 0 50000000; do
  rm -rf $D/leader $D/standby
  run_leader $throttle; sleep 0.5
  $S topic create --bootstrap-server 127.0.0.1:19502 --partitions 2 big > /dev/null
  $S topic create --bootstrap-server 127.0.0.1:19502 --partitions 2 probe > /dev/null
  $S bench produce --broker 127.0.0.1:19502 --topic big --records 300000 --record-size 1024 --acks 1 --warmup 0s --quiet --out $D/fill > /dev/null 2>&1
  $S serve --log.dirs=$D/standby --listeners=PLAINTEXT://127.0.0.1:19504 --admin.listener=127.0.0.1:19604 --standby.of=127.0.0.1:19503 --node.id=1 > $D/standby.log 2>&1 &
  SP=$!
  $S bench ack --broker 127.0.0.1:19502 --topic probe --acks 1 --rate 5000 --warmup 0s --duration 5s --quiet --out $D/ack-$throttle > $D/ack.txt 2>&1
  echo "throttle=$throttle: $(grep -E '^ +p50' $D/ack.txt | head -1)"
  $S replication status --admin=127.0.0.1:19602 | grep big | head -2
  kill $SP $LP; wait $SP $LP 2>/dev/null
done
rm -rf $D
