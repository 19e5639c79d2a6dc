#!/usr/bin/python3
"""Bad bytes on the wire, sent with tests/clients/kwire.py, while a
confluent-kafka producer keeps producing to the same broker: every one of
its deliveries must succeed, and no gap between two of its acknowledgements
may exceed STALL_MAX_S (one hostile client must not stall the others). For
each bad request the broker answers with Kafka's error code or closes that
one connection; it never crashes, and at the end it is still alive and
serving."""
import struct
import threading
import time

from confluent_kafka import Producer

import kwire
from harness import Broker, run_tests
from kwire import Conn, i16, i32

REQUEST_MAX = 1 << 20   # the broker's socket.request.max.bytes here
TOPIC = "abuse"
STALL_MAX_S = 1.0       # the longest gap allowed between two acknowledgements

broker = None
background = None


class BackgroundProducer:
    """A confluent-kafka producer sending a record every few ms."""

    def __init__(self, bootstrap):
        self.bootstrap = bootstrap
        self.stop = threading.Event()
        self.delivered = 0
        self.errors = []
        self.last_ack = None    # time.monotonic() of the previous delivery
        self.longest_gap = 0.0  # seconds, between two deliveries
        self.thread = threading.Thread(target=self.run)

    def on_delivery(self, err, msg):
        if err:
            self.errors.append(err)
        else:
            self.delivered += 1
            now = time.monotonic()
            if self.last_ack is not None:
                self.longest_gap = max(self.longest_gap, now - self.last_ack)
            self.last_ack = now

    def run(self):
        p = Producer({"bootstrap.servers": self.bootstrap, "acks": "all",
                      "linger.ms": 1, "message.timeout.ms": 20000})
        i = 0
        while not self.stop.is_set():
            p.produce("background", b"bg-%d" % i, on_delivery=self.on_delivery)
            i += 1
            p.poll(0.005)
        p.flush(20)


def setup():
    global broker, background
    broker = Broker({"socket.request.max.bytes": str(REQUEST_MAX)}).start()
    with Conn(broker.bootstrap) as c:
        c.request(kwire.create_topics(4, TOPIC, 1))
        recs = [(b"k%d" % i, b"v" * 1000) for i in range(50)]
        for _ in range(4):
            body = c.request(kwire.produce(7, TOPIC, 0, kwire.batch(recs)))
            assert kwire.produce_errors(7, body)[0][2] == kwire.NONE
    background = BackgroundProducer(broker.bootstrap)
    background.thread.start()
    time.sleep(0.5)


def teardown_background_producer_never_failed_and_broker_serves():
    background.stop.set()
    background.thread.join(30)
    try:
        assert broker.alive(), "broker died:\n" + broker.log_tail()
        assert_still_serving()
        assert background.delivered > 50 and not background.errors, \
            (background.delivered, background.errors[:3])
        print("background producer: %d acknowledged, longest gap %.3f s"
              % (background.delivered, background.longest_gap))
        assert background.longest_gap <= STALL_MAX_S, \
            "a hostile client stalled the producer %.2f s" % background.longest_gap
    finally:
        broker.__exit__(None, None, None)


def assert_still_serving():
    """The process is alive and a new connection gets an answer."""
    assert broker.alive(), "broker died:\n" + broker.log_tail()
    with Conn(broker.bootstrap) as c:
        err, ranges = kwire.api_versions_ranges(c.request(kwire.api_versions(0)))
        assert err == 0 and kwire.API_PRODUCE in ranges


def expect_closed(data):
    """Send raw bytes; the broker must close this connection."""
    with Conn(broker.bootstrap) as c:
        c.send_raw(data)
        assert c.closed_by_peer(), "connection left open after %r" % data[:32]
    assert_still_serving()


def header(key, version, flexible=False):
    h = i16(key) + i16(version) + i32(7) + kwire.string("bad")
    return h + (b"\x00" if flexible else b"")


def framed(payload):
    return i32(len(payload)) + payload


# ---- Framing ----

def test_size_prefix_negative_closes():
    expect_closed(i32(-5) + b"x" * 16)


def test_size_prefix_zero_closes():
    expect_closed(i32(0))


def test_size_prefix_over_socket_request_max_bytes_closes():
    expect_closed(i32(REQUEST_MAX + 1) + b"\x00" * 64)


def test_truncated_header_closes():
    expect_closed(framed(b"\x00\x03\x00"))
    expect_closed(framed(i16(3) + i16(1) + b"\x00\x00"))


# ---- Dispatch ----

def test_unknown_api_key_closes():
    expect_closed(framed(header(999, 0)))
    expect_closed(framed(header(4, 0)))   # LeaderAndIsr: not for clients


def test_unsupported_version_closes_but_api_versions_answers_35():
    expect_closed(framed(header(kwire.API_METADATA, 99) + i32(-1)))
    with Conn(broker.bootstrap) as c:
        body = c.request((kwire.API_API_VERSIONS, 99, b""))
        err, ranges = kwire.api_versions_ranges(body)
        assert err == kwire.UNSUPPORTED_VERSION, err
        assert kwire.API_API_VERSIONS in ranges, ranges


# ---- Lengths that run past the frame ----

def test_string_length_past_the_frame():
    expect_closed(framed(header(kwire.API_METADATA, 1) + i32(1) + i16(30000) + b"abc"))


def test_array_length_past_the_frame():
    expect_closed(framed(header(kwire.API_METADATA, 1) + i32(0x7FFFFFFF)))
    expect_closed(framed(header(kwire.API_PRODUCE, 7) + i16(-1) + i16(1)
                         + i32(1000) + i32(0x10000000)))


def test_bytes_length_past_the_frame():
    body = (i16(-1) + i16(1) + i32(1000) + i32(1) + kwire.string(TOPIC)
            + i32(1) + i32(0) + i32(1000000000) + b"short")
    expect_closed(framed(header(kwire.API_PRODUCE, 7) + body))


def test_varint_overflow_in_a_flexible_request():
    overflow = b"\xff" * 6 + b"\x01"
    # the compact topics array's length
    expect_closed(framed(header(kwire.API_METADATA, 9, True) + overflow))
    # the request header's tagged-field count
    expect_closed(framed(header(kwire.API_METADATA, 9) + overflow))


# ---- Bad record batches get Kafka's error in the response ----

def produce_error(records, version=7):
    with Conn(broker.bootstrap) as c:
        body = c.request(kwire.produce(version, TOPIC, 0, records))
        errs = kwire.produce_errors(version, body)
        # the connection is still good for the next request
        c.request(kwire.api_versions(0))
    assert_still_serving()
    return errs[0][2]


def test_produce_bad_crc_is_corrupt_message():
    bad = kwire.batch([(b"k", b"v")], bad_crc=True)
    assert produce_error(bad) == kwire.CORRUPT_MESSAGE
    assert produce_error(bad, version=3) == kwire.CORRUPT_MESSAGE
    assert produce_error(bad, version=8) == kwire.CORRUPT_MESSAGE


def test_produce_lying_records_count_is_corrupt_message():
    more = kwire.batch([(b"k1", b"v"), (b"k2", b"v")], count=5)
    fewer = kwire.batch([(b"k1", b"v"), (b"k2", b"v")], count=1)
    assert produce_error(more) == kwire.CORRUPT_MESSAGE
    assert produce_error(fewer) == kwire.CORRUPT_MESSAGE


def test_produce_truncated_batch_is_corrupt_message():
    whole = kwire.batch([(b"k", b"v" * 100)])
    assert produce_error(whole[:-10]) == kwire.CORRUPT_MESSAGE


# ---- Huge asks are answered, bounded ----

def test_fetch_asking_for_2_gib_is_answered_bounded():
    for v in (4, 11, 12):
        with Conn(broker.bootstrap) as c:
            req = kwire.fetch(v, TOPIC, 0, 0, max_bytes=0x7FFFFFFF,
                              partition_max_bytes=0x7FFFFFFF)
            body = c.request(req)
            top_err, parts = kwire.fetch_partitions(v, body)
            assert top_err == 0 and parts[0][2] == 0, (top_err, parts[0][:4])
            batches = kwire.batch_records(parts[0][4])
            assert sum(n for _, n, _ in batches) == 200, batches
            assert len(body) < 1 << 20, len(body)
    assert_still_serving()


if __name__ == "__main__":
    run_tests(globals(), setup=setup,
              teardown=teardown_background_producer_never_failed_and_broker_serves)
