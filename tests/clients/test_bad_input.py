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
import zlib

from confluent_kafka import KafkaError, Producer

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


def test_produce_lying_records_count_is_invalid_record():
    """KAFKA: DefaultRecordBatch's iterator: "Incorrect declared batch
    size" is an InvalidRecordException."""
    more = kwire.batch([(b"k1", b"v"), (b"k2", b"v")], count=5)
    fewer = kwire.batch([(b"k1", b"v"), (b"k2", b"v")], count=1)
    assert produce_error(more) == kwire.INVALID_RECORD
    assert produce_error(fewer) == kwire.INVALID_RECORD


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


# ---- Produce and fetch refusals ----

COMPACTED = "abuse-compacted"


def log_end(topic, partition=0):
    """The partition's latest offset (ListOffsets v1, timestamp -1)."""
    with Conn(broker.bootstrap) as c:
        body = c.request(kwire.list_offsets(1, topic, partition, -1))
    (_, _, err, _, offset), = kwire.list_offsets_result(1, body)
    assert err == kwire.NONE, err
    return offset


def refused(records, want, version=7, topic=TOPIC, transactional_id=None):
    """Produce records; the partition's answer must be want, on a
    connection that stays open, and nothing may reach the log."""
    before = log_end(topic)
    with Conn(broker.bootstrap) as c:
        body = c.request(kwire.produce(version, topic, 0, records,
                                       transactional_id=transactional_id))
        (_, _, err, base), = kwire.produce_errors(version, body)
        c.request(kwire.api_versions(0))   # the connection is still good
    assert (err, base) == (want, -1), (err, base, want)
    assert log_end(topic) == before, "a refused batch moved the log end"


def gzip_bomb(n):
    """The gzip records area of one well-formed record whose value is n
    zero bytes (n a multiple of 1 MiB), built without holding them."""
    body_head = b"\x00" + kwire.varint(0) + kwire.varint(0) \
        + kwire.varint(1) + b"k" + kwire.varint(n)
    body_len = len(body_head) + n + 1                # + header count 0
    z = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip wrapper
    out = [z.compress(kwire.varint(body_len) + body_head)]
    chunk = bytes(1 << 20)
    out += [z.compress(chunk) for _ in range(n >> 20)]
    return b"".join(out) + z.compress(kwire.varint(0)) + z.flush()


def test_produce_codec_ids_5_to_7_are_unsupported_compression_type():
    for codec in (5, 6, 7):
        refused(kwire.batch([(b"k", b"v")], codec=codec),
                kwire.UNSUPPORTED_COMPRESSION_TYPE)


def test_produce_gzip_that_is_not_gzip_is_corrupt_message():
    refused(kwire.batch([(b"k", b"v")], codec=1, payload=b"not gzip at all"),
            kwire.CORRUPT_MESSAGE)
    truncated = zlib.compress(b"x" * 100)[:-6]
    refused(kwire.batch([(b"k", b"v")], codec=1, payload=truncated),
            kwire.CORRUPT_MESSAGE)


def test_produce_zstd_below_v7_is_unsupported_compression_type():
    for version in (3, 4, 5, 6):
        refused(kwire.batch([(b"k", b"v")], codec=4), version=version,
                want=kwire.UNSUPPORTED_COMPRESSION_TYPE)


def test_produce_gzip_lying_records_count_never_moves_the_high_watermark():
    recs = [(b"k%d" % i, b"v") for i in range(3)]
    for count in (1, 2, 4, 1000):
        refused(kwire.batch(recs, codec=1, count=count), kwire.INVALID_RECORD)


def test_produce_two_batches_in_one_partition_is_invalid_record():
    two = kwire.batch([(b"a", b"1")]) + kwire.batch([(b"b", b"2")])
    for version in (3, 7, 8):
        refused(two, kwire.INVALID_RECORD, version=version)


def test_produce_magic_0_and_1_are_invalid_record():
    for magic in (0, 1):
        for version in (3, 7):
            refused(kwire.batch([(b"k", b"v")], magic=magic),
                    kwire.INVALID_RECORD, version=version)


def test_produce_transactional_and_control_bits_are_refused():
    txn = kwire.batch([(b"k", b"v")], attrs=kwire.ATTR_TRANSACTIONAL,
                      producer=(1000, 0, 0))
    # KAFKA: KafkaApis: transactional records need a transactional id
    refused(txn, kwire.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    # with one: no transaction is open (samsa has none yet)
    refused(txn, kwire.INVALID_TXN_STATE, transactional_id="tx-1")
    refused(kwire.batch([(b"k", b"v")], attrs=kwire.ATTR_CONTROL),
            kwire.INVALID_RECORD)
    # nothing transactional reached a read_committed consumer's log
    with Conn(broker.bootstrap) as c:
        _, parts = kwire.fetch_partitions(4, c.request(kwire.fetch(4, TOPIC, 0, 0)))
    attrs = kwire.batch_attributes(parts[0][4])
    assert attrs and not any(a & kwire.ATTR_TRANSACTIONAL for a in attrs), attrs


def create_compacted():
    with Conn(broker.bootstrap) as c:
        c.request(kwire.create_topics(4, COMPACTED, 1,
                                      configs=[("cleanup.policy", "compact")]))


def test_produce_null_key_on_compacted_topic_is_invalid_record():
    create_compacted()
    for codec in (0, 1):
        refused(kwire.batch([(b"k", b"v"), (None, b"no key")], codec=codec),
                kwire.INVALID_RECORD, topic=COMPACTED)
    # a real client sees the same
    errors = []
    p = Producer({"bootstrap.servers": broker.bootstrap, "retries": 0,
                  "message.timeout.ms": 10000})
    p.produce(COMPACTED, b"no key", on_delivery=lambda e, m: errors.append(e))
    p.flush(15)
    assert len(errors) == 1 and errors[0] is not None, errors
    assert errors[0].code() == KafkaError.INVALID_RECORD, errors[0]
    # a keyed record is welcome
    with Conn(broker.bootstrap) as c:
        body = c.request(kwire.produce(7, COMPACTED, 0, kwire.batch([(b"k", b"v")])))
        assert kwire.produce_errors(7, body)[0][2] == kwire.NONE


def test_produce_gzip_bomb_is_refused_without_inflating_it_all():
    """A record of 100 MiB of zeros in 100 KiB of gzip: a compacted topic
    stops inflating at max.message.bytes, any topic at the request's
    inflate budget; a small one passes where it fits."""
    create_compacted()
    bomb = kwire.batch([(b"k", b"v")], codec=1, payload=gzip_bomb(100 << 20))
    assert len(bomb) < REQUEST_MAX // 2
    refused(bomb, kwire.RECORD_LIST_TOO_LARGE, topic=COMPACTED)
    refused(bomb, kwire.RECORD_LIST_TOO_LARGE)
    small = kwire.batch([(b"k", b"v")], codec=1, payload=gzip_bomb(2 << 20))
    refused(small, kwire.RECORD_LIST_TOO_LARGE, topic=COMPACTED)
    with Conn(broker.bootstrap) as c:
        body = c.request(kwire.produce(7, TOPIC, 0, small))
        assert kwire.produce_errors(7, body)[0][2] == kwire.NONE


def test_fetch_with_a_replica_id_is_not_leader_or_follower():
    """CVE-2018-1288's shape: a client posing as follower 1."""
    for v in (4, 11, 12):
        with Conn(broker.bootstrap) as c:
            body = c.request(kwire.fetch(v, TOPIC, 0, 0, replica_id=1))
        top_err, parts = kwire.fetch_partitions(v, body)
        assert top_err == 0 and len(parts) == 1, (top_err, parts)
        assert parts[0][2] == kwire.NOT_LEADER_OR_FOLLOWER, parts[0][:4]
        assert parts[0][4] == b"", "records served to a fake follower"


def test_fetch_repeated_partition_is_answered_once():
    for v in (4, 12):
        with Conn(broker.bootstrap) as c:
            body = c.request(kwire.fetch(v, TOPIC, 0, 0, repeat=5000))
        top_err, parts = kwire.fetch_partitions(v, body)
        assert top_err == 0 and len(parts) == 1, (top_err, len(parts))
        assert parts[0][2] == kwire.NONE and parts[0][4], parts[0][:4]


def test_list_offsets_repeated_partition_is_invalid_request():
    """KAFKA: every occurrence of a duplicated partition is answered
    INVALID_REQUEST, without looking at the log."""
    for v in (1, 7):
        with Conn(broker.bootstrap) as c:
            body = c.request(kwire.list_offsets(v, TOPIC, 0, -1, repeat=5000))
        res = kwire.list_offsets_result(v, body)
        assert len(res) == 5000
        assert all(r[2] == kwire.INVALID_REQUEST and r[4] == -1 for r in res)


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
