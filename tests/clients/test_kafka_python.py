#!/usr/bin/python3
"""kafka-python 2.0.2: its one-shot version probe lands on (2,1) or
higher; admin CreateTopics; 10,000 keyed gzip records with headers and
timestamps, read back with no consumer group and compared;
offsets_for_times, beginning_offsets and end_offsets; MESSAGE_TOO_LARGE
from the broker; and the seed use case: JSON events sent with acks='all'
and read back."""
import json
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import MessageSizeTooLargeError

from harness import Broker, check_records, expected_record, run_tests

N = 10000
CLIENT = "kafka-python"


def create_topic(b, topic, partitions=3):
    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    admin.create_topics([NewTopic(topic, partitions, 1)], timeout_ms=10000)
    admin.close()


def produce(b, topic, n, base_ts, compression="gzip"):
    """{i: (partition, offset)} for records 0..n-1, all acknowledged.
    kafka-python's send() takes no null header value: no "nil" header."""
    p = KafkaProducer(bootstrap_servers=b.bootstrap, acks="all", linger_ms=5,
                      compression_type=compression)
    futures = []
    for i in range(n):
        key, value, headers, ts = expected_record(i, CLIENT, base_ts, False)
        futures.append(p.send(topic, key=key, value=value, headers=headers,
                              timestamp_ms=ts))
    p.flush(30)
    acked = {}
    for i, f in enumerate(futures):
        md = f.get(timeout=10)
        acked[i] = (md.partition, md.offset)
    p.close()
    return acked


def consumer(b, **kw):
    return KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None,
                         enable_auto_commit=False, **kw)


def test_kafka_python_version_probe_is_2_1_or_higher():
    with Broker() as b:
        p = KafkaProducer(bootstrap_servers=b.bootstrap)
        version = p.config["api_version"]
        p.close()
        assert version >= (2, 1), version


def test_kafka_python_produce_consume_gzip():
    with Broker() as b:
        base_ts = int(time.time() * 1000) - 3600 * 1000
        create_topic(b, "kp")
        acked = produce(b, "kp", N, base_ts)
        c = consumer(b, consumer_timeout_ms=3000)
        c.assign([TopicPartition("kp", p) for p in range(3)])
        c.seek_to_beginning()
        got = []
        for m in c:
            got.append((m.partition, m.offset, m.timestamp, m.key, m.value,
                        list(m.headers)))
            if len(got) == N:
                break
        c.close()
        check_records(got, N, lambda i: expected_record(i, CLIENT, base_ts, False))
        assert all(acked[int(g[4].split(b"-")[1])] == g[:2] for g in got)


def test_kafka_python_offsets_for_times_beginning_end():
    with Broker() as b:
        base_ts = int(time.time() * 1000) - 3600 * 1000
        create_topic(b, "kp-offsets")
        # Uncompressed: the broker finds the exact record inside a batch
        # (for compressed batches chapter 03 answers with the batch's base
        # offset, a SIMPLIFICATION).
        acked = produce(b, "kp-offsets", 3000, base_ts, compression=None)
        tps = [TopicPartition("kp-offsets", p) for p in range(3)]
        c = consumer(b)
        target = base_ts + 1500
        found = c.offsets_for_times({tp: target for tp in tps})
        for tp in tps:
            want = min(off for i, (p, off) in acked.items()
                       if p == tp.partition and base_ts + i >= target)
            assert found[tp].offset == want, (tp, found[tp], want)
            assert found[tp].timestamp >= target
        late = c.offsets_for_times({tp: base_ts + 10 ** 6 for tp in tps})
        assert all(v is None for v in late.values()), late
        assert c.beginning_offsets(tps) == {tp: 0 for tp in tps}
        ends = c.end_offsets(tps)
        for tp in tps:
            assert ends[tp] == sum(1 for p, _ in acked.values()
                                   if p == tp.partition), (tp, ends)
        c.close()


def test_kafka_python_message_too_large_from_the_broker():
    with Broker({"message.max.bytes": "10000"}) as b:
        create_topic(b, "kp-big", 1)
        p = KafkaProducer(bootstrap_servers=b.bootstrap,
                          max_request_size=2000000, retries=0)
        try:
            p.send("kp-big", b"x" * 50000).get(timeout=10)
            raise AssertionError("a 50 kB record was accepted")
        except MessageSizeTooLargeError:
            pass
        assert p.send("kp-big", b"small").get(timeout=10).offset == 0
        p.close()


def test_kafka_python_seed_use_case_json_events():
    """The use case samsa started from, unchanged but for the address."""
    with Broker() as b:
        producer = KafkaProducer(
            bootstrap_servers=b.bootstrap,
            value_serializer=lambda v: json.dumps(v).encode(),
            key_serializer=lambda k: k.encode(),
            acks="all", retries=3, batch_size=16384, linger_ms=10)
        sent = []
        for i in range(200):
            event = {"user": "user-%d" % (i % 7), "action": "click", "n": i}
            md = producer.send("events", key=event["user"], value=event
                               ).get(timeout=10)
            assert md.topic == "events" and md.partition == 0, md
            assert md.offset == i, md
            sent.append(event)
        producer.close()
        c = KafkaConsumer("events", bootstrap_servers=b.bootstrap,
                          auto_offset_reset="earliest", group_id=None,
                          consumer_timeout_ms=1500)
        got = [json.loads(m.value) for m in c]
        c.close()
        assert got == sent, (len(got), got[:3])


if __name__ == "__main__":
    run_tests(globals())
