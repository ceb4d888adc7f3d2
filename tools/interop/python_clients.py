#!/usr/bin/python3
"""Real-client interop for spool: confluent-kafka (librdkafka) and
kafka-python produce and consume against a broker, by partition and in
consumer groups (split, commit, resume). Usage: python_clients.py HOST:PORT
Exits non-zero, with a message, on the first failure."""
import sys
import time

bootstrap = sys.argv[1]
N = 200


def check(cond, message):
    if not cond:
        print("FAIL:", message)
        sys.exit(1)


# confluent-kafka (librdkafka 2.0.2): compressed, keyed, acks=all.
from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING

for codec in ("gzip", "snappy", "lz4", "zstd"):
    topic = "py-confluent-" + codec
    p = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "acks": "all", "linger.ms": 5})
    errors = []
    for i in range(N):
        p.produce(topic, key=b"k%d" % i, value=(b"value-%d-" % i) * 20,
                  on_delivery=lambda err, msg: err and errors.append(err))
    check(p.flush(30) == 0, codec + ": messages left unflushed")
    check(not errors, codec + ": delivery errors %s" % errors[:3])
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got = []
    deadline = time.time() + 30
    while len(got) < N and time.time() < deadline:
        m = c.poll(1.0)
        if m is None:
            continue
        check(m.error() is None, codec + ": consume error %s" % m.error())
        got.append((m.key(), m.value()))
    c.close()
    check(len(got) == N, codec + ": consumed %d of %d" % (len(got), N))
    check(got[7] == (b"k7", b"value-7-" * 20), codec + ": record 7 differs: %r" % (got[7],))
    print("confluent-kafka", codec, "ok:", N, "records")

# kafka-python 2.0.2: probes versions, then uses fixed old ones.
from kafka import KafkaConsumer, KafkaProducer, TopicPartition as KTopicPartition

topic = "py-kafka-python"
p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type="gzip")
futures = [p.send(topic, key=b"k%d" % i, value=b"v%d" % i) for i in range(N)]
p.flush(30)
offsets = [f.get(timeout=30).offset for f in futures]
check(sorted(offsets) == list(range(N)), "kafka-python: offsets %s" % offsets[:5])
p.close()
c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, consumer_timeout_ms=10000)
tp = KTopicPartition(topic, 0)
c.assign([tp])
c.seek_to_beginning(tp)
got = [(m.key, m.value) for _, m in zip(range(N), c)]
c.close()
check(len(got) == N, "kafka-python: consumed %d of %d" % (len(got), N))
check(got[42] == (b"k42", b"v42"), "kafka-python: record 42 differs: %r" % (got[42],))
print("kafka-python ok:", N, "records")


# confluent-kafka consumer group: two members split two partitions, read
# every record once and commit; a later member resumes after the commits.
from confluent_kafka.admin import AdminClient, NewTopic

topic = "py-confluent-group"
admin = AdminClient({"bootstrap.servers": bootstrap})
for f in admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)]).values():
    f.result(30)
conf = {"bootstrap.servers": bootstrap, "group.id": "py-cg", "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000, "heartbeat.interval.ms": 300, "enable.auto.commit": False}
members = [Consumer(dict(conf)), Consumer(dict(conf))]
for c in members:
    c.subscribe([topic])
deadline = time.time() + 60
while time.time() < deadline:
    for c in members:
        c.poll(0.1)
    if all(len(c.assignment()) == 1 for c in members):
        break
check(all(len(c.assignment()) == 1 for c in members),
      "confluent group: assignments %s" % [c.assignment() for c in members])
p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
for i in range(N):
    p.produce(topic, key=b"k%d" % i, value=b"v%d" % i)
check(p.flush(30) == 0, "confluent group: messages left unflushed")
seen = {}
per_member = [0, 0]
deadline = time.time() + 60
while sum(per_member) < N and time.time() < deadline:
    for i, c in enumerate(members):
        m = c.poll(0.1)
        if m is None:
            continue
        check(m.error() is None, "confluent group: consume error %s" % m.error())
        seen[m.value()] = seen.get(m.value(), 0) + 1
        per_member[i] += 1
for c in members:
    c.commit(asynchronous=False)
    c.close()
check(sum(per_member) == N and len(seen) == N and all(v == 1 for v in seen.values()),
      "confluent group: %d records, %d distinct" % (sum(per_member), len(seen)))
check(all(n > 0 for n in per_member), "confluent group: per member %s" % per_member)
for i in range(N, N + 5):
    p.produce(topic, key=b"k%d" % i, value=b"v%d" % i)
check(p.flush(30) == 0, "confluent group: messages left unflushed")
c = Consumer(dict(conf))
c.subscribe([topic])
late = []
deadline = time.time() + 30
while len(late) < 5 and time.time() < deadline:
    m = c.poll(0.2)
    if m is not None and m.error() is None:
        late.append(m.value())
c.close()
check(sorted(late) == sorted(b"v%d" % i for i in range(N, N + 5)),
      "confluent group: after the commit read %s" % late[:10])
print("confluent-kafka group ok:", per_member, "then resumed with", len(late))

# kafka-python consumer group (JoinGroup v2, OffsetCommit v2, OffsetFetch
# v1): read all, commit, and the committed offset is what a new member sees.
topic = "py-kafka-python-group"
kp = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
for i in range(N):
    kp.send(topic, key=b"k%d" % i, value=b"v%d" % i)
kp.flush(30)
kp.close()
c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="py-kp", auto_offset_reset="earliest",
                  enable_auto_commit=False, consumer_timeout_ms=15000, session_timeout_ms=6000,
                  heartbeat_interval_ms=300)
got = [m.value for _, m in zip(range(N), c)]
check(len(got) == N, "kafka-python group: consumed %d of %d" % (len(got), N))
c.commit()
c.close()
c = KafkaConsumer(bootstrap_servers=bootstrap, group_id="py-kp", enable_auto_commit=False)
committed = c.committed(KTopicPartition(topic, 0))
c.close()
check(committed == N, "kafka-python group: committed %s, want %d" % (committed, N))
print("kafka-python group ok:", N, "records, committed", committed)
