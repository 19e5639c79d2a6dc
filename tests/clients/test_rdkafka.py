#!/usr/bin/python3
"""librdkafka (the C client under kcat and confluent-kafka), through
tests/clients/rdkafka_client.c: CreateTopics from its admin API, 10,000
keyed records with headers and timestamps in every compression codec it
has, read back with no consumer group and compared record by record."""
import time

from harness import (Broker, RDKAFKA_CLIENT, check_records, expected_record,
                     parse_records, run, run_tests)

N = 10000


def roundtrip(codec, acks="all"):
    """Create, produce N records with codec and acks, consume, compare."""
    with Broker() as b:
        topic = "rdkafka-%s" % codec
        base_ts = int(time.time() * 1000) - 3600 * 1000
        run([RDKAFKA_CLIENT, "create", b.bootstrap, topic, "3"])
        out = run([RDKAFKA_CLIENT, "produce", b.bootstrap, topic, str(N),
                   str(base_ts), "compression.codec=" + codec, "acks=" + acks,
                   "linger.ms=5"]).stdout.decode()
        assert "delivered %d failed 0" % N in out, out
        got = run([RDKAFKA_CLIENT, "consume", b.bootstrap, topic, "3", str(N),
                   "20000"]).stdout.decode()
        check_records(parse_records(got), N,
                      lambda i: expected_record(i, "rdkafka", base_ts))


def test_rdkafka_uncompressed_acks_1():
    roundtrip("none", acks="1")


def test_rdkafka_gzip():
    roundtrip("gzip")


def test_rdkafka_snappy():
    roundtrip("snappy")


def test_rdkafka_lz4():
    roundtrip("lz4")


def test_rdkafka_zstd():
    roundtrip("zstd")


def test_rdkafka_create_existing_topic_is_refused():
    with Broker() as b:
        run([RDKAFKA_CLIENT, "create", b.bootstrap, "twice", "3"])
        r = run([RDKAFKA_CLIENT, "create", b.bootstrap, "twice", "3"],
                check=False)
        assert r.returncode == 1 and b"TOPIC_ALREADY_EXISTS" in r.stdout, r


if __name__ == "__main__":
    run_tests(globals())
