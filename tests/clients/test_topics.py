#!/usr/bin/python3
"""Topic names at their limits and the names the broker keeps, with a real
client (confluent-kafka, i.e. librdkafka) and with raw bytes (kwire):

- a 249-byte name (Kafka's longest) is created, written, kept across a
  restart, deleted, and stays deleted across a crash: nothing comes back;
- a 250-byte name is refused with INVALID_TOPIC_EXCEPTION and leaves no
  file behind;
- __cluster_metadata and the internal topics are never auto-created, and
  no client may create or write them (issue 9, items 6 and 7)."""
import os

from confluent_kafka import KafkaException, Producer, TopicPartition, Consumer
from confluent_kafka.admin import AdminClient, NewTopic

import kwire
from harness import Broker, run_tests

INVALID_TOPIC_EXCEPTION = 17
RESERVED = ["__cluster_metadata", "__consumer_offsets", "__transaction_state"]


def admin_create(b, topic, partitions=3):
    """Create topic with AdminClient; the KafkaError on failure, else None."""
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    fut = admin.create_topics([NewTopic(topic, partitions, 1)],
                              operation_timeout=10)[topic]
    try:
        fut.result(15)
        return None
    except KafkaException as e:
        return e.args[0]


def admin_delete(b, topic):
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.delete_topics([topic], operation_timeout=10)[topic].result(15)


def topics_listed(b):
    """Every topic Metadata lists (asking for all creates nothing)."""
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    return set(admin.list_topics(timeout=10).topics)


def produce_one(b, topic, partition=1):
    """One record, acks=all; the delivery error or None."""
    errs = []
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all",
                  "allow.auto.create.topics": False,
                  "message.timeout.ms": 5000})
    p.produce(topic, b"value", partition=partition,
              on_delivery=lambda err, msg: errs.append(err))
    p.flush(15)
    assert len(errs) == 1, errs
    return errs[0]


def high_watermark(b, topic, partition=1):
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "hw"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition),
                                       timeout=10)[1]
    finally:
        c.close()


def entries_starting(b, prefix):
    """Names in the log directory (and the config directory) starting
    with prefix: partition directories and -delete leftovers."""
    return [n for n in os.listdir(b.data) if n.startswith(prefix)]


def create_topics_error(b, topic):
    """Raw CreateTopics v2 for topic: its error code."""
    with kwire.Conn(b.bootstrap) as c:
        r = kwire.Reader(c.request(kwire.create_topics(2, topic, 1)))
        r.i32()                                   # throttle
        assert r.i32() == 1
        assert r.string() == topic
        return r.i16()


def test_249_byte_name_lives_and_dies_across_restarts():
    name = "n" * 249
    with Broker() as b:
        assert admin_create(b, name) is None
        assert produce_one(b, name) is None
        b.restart()                               # clean
        assert name in topics_listed(b)
        assert high_watermark(b, name) == 1
        assert len(entries_starting(b, name)) == 3
        admin_delete(b, name)
        assert name not in topics_listed(b)
        b.restart(kill=True)                      # a crash
        assert name not in topics_listed(b)
        assert entries_starting(b, name[:200]) == []
        assert admin_create(b, name) is None       # fresh: nothing came back
        assert high_watermark(b, name) == 0


def test_250_byte_name_is_refused_and_leaves_nothing():
    name = "x" * 250
    with Broker() as b:
        configs = os.path.join(b.data, "__samsa_topic_configs")
        topics_listed(b)                          # the broker is serving
        before = sorted(os.listdir(configs))
        err = admin_create(b, name)
        assert err is not None and err.code() == INVALID_TOPIC_EXCEPTION, err
        assert create_topics_error(b, name) == INVALID_TOPIC_EXCEPTION
        with kwire.Conn(b.bootstrap) as c:
            got = kwire.metadata_topics(4, c.request(kwire.metadata(4, [name])))
        assert got[name][0] == INVALID_TOPIC_EXCEPTION, got
        assert entries_starting(b, name[:200]) == []
        assert sorted(os.listdir(configs)) == before, (before, os.listdir(configs))


def test_reserved_names_never_created_or_written_raw():
    with Broker() as b:
        with kwire.Conn(b.bootstrap) as c:
            got = kwire.metadata_topics(4, c.request(kwire.metadata(4, RESERVED)))
            for name in RESERVED:
                # __consumer_offsets may exist: chapter 09 made it itself
                assert got[name][0] == kwire.UNKNOWN_TOPIC_OR_PARTITION or \
                    got[name] == (kwire.NONE, 50), got
                req = kwire.produce(7, name, 0, kwire.batch([(None, b"v")]))
                errs = kwire.produce_errors(7, c.request(req))
                assert errs[0][2] != kwire.NONE, errs
        for name in RESERVED:
            assert create_topics_error(b, name) == kwire.INVALID_REQUEST
        assert not {"__cluster_metadata", "__transaction_state"} & topics_listed(b)
        assert entries_starting(b, "__cluster_metadata") == []


def test_reserved_names_refused_to_a_real_client():
    with Broker() as b:
        err = admin_create(b, "__cluster_metadata", 1)
        assert err is not None and err.code() == kwire.INVALID_REQUEST, err
        # A producer that may auto-create still gets no such topic.
        p = Producer({"bootstrap.servers": b.bootstrap,
                      "message.timeout.ms": 3000})
        errs = []
        p.produce("__cluster_metadata", b"v",
                  on_delivery=lambda e, m: errs.append(e))
        p.flush(10)
        assert len(errs) == 1 and errs[0] is not None, errs
        assert "__cluster_metadata" not in topics_listed(b)
        assert entries_starting(b, "__cluster_metadata") == []


if __name__ == "__main__":
    run_tests(globals())
