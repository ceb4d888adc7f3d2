#!/usr/bin/env bash
# Failover time of a leader and its hot standby on loopback (docs/PERFORMANCE.md):
# three cycles of kill -9 the leader, promote the standby, first successful
# acks=all produce, and the old leader's directory back as the new standby.
# Usage: make build && tools/scripts/failover.sh   (data under a temp dir)
set -u
S=${SPOOL:-bin/spool}
DATA=$(mktemp -d)
declare -A KAFKA=([a]=127.0.0.1:19302 [b]=127.0.0.1:19304) REPL=([a]=127.0.0.1:19303 [b]=127.0.0.1:19305) ADMIN=([a]=127.0.0.1:19402 [b]=127.0.0.1:19404) NODE=([a]=0 [b]=1) PID=()
start() { # node, extra flags...
  local n=$1; shift
  $S serve --log.dirs=$DATA/$n --listeners=PLAINTEXT://${KAFKA[$n]} --admin.listener=${ADMIN[$n]} --node.id=${NODE[$n]} --replication.listener=${REPL[$n]} "$@" > $DATA/$n.log 2>&1 &
  PID[$n]=$!
}
trap 'kill ${PID[a]} ${PID[b]} 2>/dev/null; wait 2>/dev/null; rm -rf $DATA' EXIT
start a; sleep 0.5
start b --standby.of=${REPL[a]}; sleep 1
echo probe | $S produce --bootstrap-server ${KAFKA[a]} --topic probe > /dev/null
sleep 1
leader=a; standby=b
for cycle in 1 2 3; do
  kill -9 ${PID[$leader]}; wait ${PID[$leader]} 2>/dev/null
  t0=$(date +%s%N)
  out=$($S promote --admin=${ADMIN[$standby]} 2>&1); t1=$(date +%s%N)
  until echo "c$cycle" | $S produce --bootstrap-server ${KAFKA[$standby]} --topic probe --acks all > /dev/null 2>&1; do sleep 0.01; done
  t2=$(date +%s%N)
  echo "cycle $cycle: promoted $(( (t1-t0)/1000000 )) ms, first acks=all produce $(( (t2-t0)/1000000 )) ms after the kill  $out"
  start $leader --standby.of=${REPL[$standby]}
  sleep 2
  tmp=$leader; leader=$standby; standby=$tmp
done
