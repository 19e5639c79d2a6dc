#!/usr/bin/python3
"""Bad bytes on the wire, sent with tests/clients/kwire.py, while a
confluent-kafka producer keeps producing to the same broker: every one of
its deliveries must succeed, and no gap between two of its acknowledgements
may exceed STALL_MAX_S (one hostile client must not stall the others). For
each bad request the broker answers with Kafka's error code or closes that
one connection; it never crashes, and at the end it is still alive and
serving."""
import os
import socket
import struct
import threading
import time

from confluent_kafka import Producer

import harness
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


# ---- Descriptors and connections ----
#
# A broker started with a low descriptor limit (RLIMIT_NOFILE, soft = hard,
# so samsa cannot raise it) and a background producer of its own. One
# client pipelines Fetches for many partitions and never reads: every file
# range of a Fetch answer holds a dup'd descriptor until it is sent, so
# without a bound per connection it would take the whole table. Then
# connections are opened past the limit: accept fails (EMFILE), and the
# broker must shed them, log once per interval (not once per reactor turn)
# and keep acknowledging the producer with no gap over STALL_MAX_S.

FD_LIMIT = 512
FD_PARTITIONS = 32
CONN_FD_BOUND = 128     # NET_BACKPRESSURE_FDS + NET_RESPONSE_MAX_FILES


class LimitedBroker(Broker):
    """A Broker whose process starts with RLIMIT_NOFILE = nofile:nofile."""

    def __init__(self, nofile, overrides=None):
        super().__init__(overrides)
        self.nofile = nofile

    def start(self):
        wrapper = os.path.join(self.dir, "samsa-limited")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nexec prlimit --nofile=%d:%d -- %s \"$@\"\n"
                    % (self.nofile, self.nofile, harness.SAMSA))
        os.chmod(wrapper, 0o755)
        saved, harness.SAMSA = harness.SAMSA, wrapper
        try:
            return super().start()
        finally:
            harness.SAMSA = saved

    def open_fds(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def log_lines(self, needle=""):
        with open(self.log_path, errors="replace") as f:
            return [line for line in f if needle in line]


def fetch_many(topic, partitions, max_wait_ms=0):
    """FetchRequest v4 for partitions 0..n-1 of topic, from offset 0."""
    parts = [i32(p) + kwire.i64(0) + i32(1 << 20) for p in range(partitions)]
    t = kwire.string(topic) + kwire.array(parts)
    body = i32(-1) + i32(max_wait_ms) + i32(1) + i32(50 << 20) + kwire.i8(0)
    return (kwire.API_FETCH, 4, body + kwire.array([t]))


def test_descriptors_bounded_per_connection_and_accept_backs_off_at_emfile():
    b = LimitedBroker(FD_LIMIT, {"offsets.topic.num.partitions": "1"}).start()
    bg = None
    hoarder = None
    socks = []
    try:
        with Conn(b.bootstrap) as c:
            c.request(kwire.create_topics(4, "fds", FD_PARTITIONS))
            for p in range(FD_PARTITIONS):
                body = c.request(kwire.produce(
                    7, "fds", p, kwire.batch([(b"k", b"v" * 1000)])))
                assert kwire.produce_errors(7, body)[0][2] == kwire.NONE
        bg = BackgroundProducer(b.bootstrap)
        bg.thread.start()
        time.sleep(1.0)
        before = b.open_fds()
        # A client that asks and never reads: a small receive window.
        hoarder = socket.socket()
        hoarder.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        hoarder.connect(("127.0.0.1", b.port))
        c = Conn.__new__(Conn)
        c.sock, c.correlation = hoarder, 0
        req = b"".join(c.frame(fetch_many("fds", FD_PARTITIONS))
                       for _ in range(2000))
        hoarder.settimeout(30)
        hoarder.sendall(req)
        time.sleep(1.5)
        held = b.open_fds() - before
        assert held <= CONN_FD_BOUND + 8, \
            "one client that never reads holds %d descriptors" % held
        # Past the limit: connections the broker cannot accept.
        for _ in range(FD_LIMIT + 100):
            s = socket.socket()
            s.settimeout(2)
            try:
                s.connect(("127.0.0.1", b.port))
            except OSError:
                s.close()
                continue
            socks.append(s)
        time.sleep(1.5)
        shed = 0
        for s in socks:
            s.settimeout(0.01)
            try:
                shed += s.recv(1) == b""
            except socket.timeout:
                pass
            except OSError:
                shed += 1
        assert shed > 0, "connections over the limit were left hanging"
        accept_lines = b.log_lines("accept: ")
        assert 1 <= len(accept_lines) <= 3, accept_lines[:5]
        assert len(b.log_lines()) < 300, "the broker log filled up"
        for s in socks:
            s.close()
        socks = []
        hoarder.close()
        hoarder = None
        time.sleep(0.5)
        with Conn(b.bootstrap) as c:   # accepting again
            err, _ = kwire.api_versions_ranges(c.request(kwire.api_versions(0)))
            assert err == 0
        bg.stop.set()
        bg.thread.join(30)
        assert bg.delivered > 50 and not bg.errors, (bg.delivered, bg.errors[:3])
        assert bg.longest_gap <= STALL_MAX_S, \
            "descriptor exhaustion stalled the producer %.2f s" % bg.longest_gap
        assert b.alive(), "broker died:\n" + b.log_tail()
    except Exception as e:
        e.broker_log = b.log_tail()
        raise
    finally:
        for s in socks:
            s.close()
        if hoarder:
            hoarder.close()
        if bg and bg.thread.is_alive():
            bg.stop.set()
            bg.thread.join(30)
        b.__exit__(None, None, None)


def test_max_connections_per_ip_closes_the_extra_connection():
    overrides = {"max.connections.per.ip": "2",
                 "max.connections.per.ip.overrides": "127.0.0.2:4"}
    with Broker(overrides) as b:
        with Conn(b.bootstrap) as c:   # the reactor runs: probes are seen
            c.request(kwire.api_versions(0))
        time.sleep(0.3)   # and the probe connections are closed
        conns = [Conn(b.bootstrap) for _ in range(2)]
        for c in conns:
            c.request(kwire.api_versions(0))
        extra = Conn(b.bootstrap)
        assert extra.closed_by_peer(), "a third connection from one address"
        extra.close()
        for c in conns:   # the first two are still served
            c.request(kwire.api_versions(0))
            c.close()
        time.sleep(0.2)
        with Conn(b.bootstrap) as c:   # a slot freed
            c.request(kwire.api_versions(0))
        assert any("max.connections.per.ip" in line for line in
                   open(b.log_path, errors="replace")), b.log_tail()


def test_control_characters_in_a_client_id_are_escaped_in_the_log():
    forged = "evil\n[2026-01-01 00:00:00,000] ERROR forged line\x1b[31m"
    h = i16(4) + i16(0) + i32(7) + kwire.string(forged)
    expect_closed(framed(h))   # LeaderAndIsr: not for clients; logged
    with open(broker.log_path, errors="replace") as f:
        log = f.read()
    assert "evil\\x0a[2026-01-01 00:00:00,000] ERROR forged line\\x1b[31m" \
        in log, broker.log_tail()
    assert "\nERROR forged" not in log and "\n[2026-01-01" not in log


if __name__ == "__main__":
    run_tests(globals(), setup=setup,
              teardown=teardown_background_producer_never_failed_and_broker_serves)
