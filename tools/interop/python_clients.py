#!/usr/bin/python3
"""Real-client interop for spool: confluent-kafka (librdkafka) and
kafka-python produce and consume against a broker, without consumer
groups (which spool does not serve yet). Usage: python_clients.py HOST:PORT
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
