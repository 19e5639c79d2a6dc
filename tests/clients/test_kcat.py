#!/usr/bin/python3
"""kcat 1.7 (librdkafka 2.0.2): metadata, and 10,000 keyed gzip records
with a header produced to an auto-created 3-partition topic (kcat has no
admin API), consumed back with kcat -C -e and compared."""
import time

from harness import (Broker, check_records, expected_record, parse_records,
                     run, run_tests)

N = 10000
# kcat -f: partition, offset, timestamp, key, value, headers (name=value,...)
FORMAT = r"%p\t%o\t%T\t%k\t%s\t%h\n"


def kcat_expected(i):
    key, value, _, _ = expected_record(i, "kcat", None, null_header=False)
    return key, value, [("client", b"kcat")], None


def test_kcat_lists_the_broker():
    with Broker() as b:
        out = run(["kcat", "-b", b.bootstrap, "-L", "-m", "5"]).stdout.decode()
        assert "1 brokers:" in out and "broker 1 at %s" % b.bootstrap in out, out


def test_kcat_produce_consume_gzip_autocreated():
    with Broker({"num.partitions": "3"}) as b:
        lines = "".join("%s\t%s\n" % tuple(x.decode() for x in kcat_expected(i)[:2])
                        for i in range(N))
        t0 = int(time.time() * 1000)
        run(["kcat", "-b", b.bootstrap, "-P", "-t", "kcat-topic", "-K", r"\t",
             "-H", "client=kcat", "-z", "gzip", "-X", "acks=all"],
            input=lines.encode())
        t1 = int(time.time() * 1000)
        out = run(["kcat", "-b", b.bootstrap, "-C", "-t", "kcat-topic", "-o",
                   "beginning", "-e", "-q", "-f", FORMAT]).stdout.decode()
        check_records(parse_records(out), N, kcat_expected, ts_range=(t0, t1))


def test_kcat_metadata_shows_three_partitions():
    with Broker({"num.partitions": "3"}) as b:
        run(["kcat", "-b", b.bootstrap, "-P", "-t", "demo"], input=b"hello\n")
        out = run(["kcat", "-b", b.bootstrap, "-L", "-t", "demo"]).stdout.decode()
        assert 'topic "demo" with 3 partitions' in out, out
        for p in range(3):
            assert "partition %d, leader 1, replicas: 1, isrs: 1" % p in out, out


if __name__ == "__main__":
    run_tests(globals())
