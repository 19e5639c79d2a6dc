#!/usr/bin/python3
"""Chapter 10, the log cleaner, with confluent-kafka-python: 100,000
updates over 1,000 keys (half gzip, half uncompressed) and tombstones for
100 of them into a compacted topic with 64 KiB segments; once the cleaner
has run, a consumer reading from the beginning sees exactly the latest
value of each live key at the offset it was acknowledged at, plus the
active segment as it was written; the same after a SIGKILL in the middle
of a cleaning pass and a restart. And __consumer_offsets stays a few
segments small under a consumer committing every 10 ms for a minute. And
gzip batches that inflate to a megabyte each (the most produce accepts),
hundreds of them in one segment, are cleaned while another producer keeps
getting acknowledgements with no gap over a second."""
import os
import re
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, \
    TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from harness import Broker, run_tests
from test_bad_input import STALL_MAX_S, BackgroundProducer

TOPIC = "table"
UPDATES = 100000
KEYS = 1000
DELETED = 100  # keys 0..99 get a tombstone
TOPIC_CONFIG = {"cleanup.policy": "compact", "segment.bytes": "65536",
                "min.cleanable.dirty.ratio": "0.01",
                "delete.retention.ms": "100"}
BROKER_CONFIG = {"log.cleaner.backoff.ms": "100"}


def key_of(i):
    return b"key-%04d" % (i % KEYS)


def live_key_of(i):
    """Keys that get no tombstone: DELETED..KEYS-1."""
    return key_of(DELETED + i % (KEYS - DELETED))


def produce(b, records, codec):
    """records: [(key, value or None)]; returns {offset: (key, value)}."""
    acked, errors = {}, []

    def on_delivery(err, msg):
        if err:
            errors.append(err)
        else:
            acked[msg.offset()] = (msg.key(), msg.value())
    p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 20,
                  "acks": "all", "compression.codec": codec,
                  "batch.size": 16384})
    for key, value in records:
        while True:
            try:
                p.produce(TOPIC, key=key, value=value, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    p.flush(30)
    assert not errors and len(acked) == len(records), (errors[:3], len(acked))
    return acked


def read_partition(b, topic, timeout, **conf):
    """Every record of the topic's partition 0 from the beginning to the
    end, as confluent-kafka messages: {offset: message}."""
    c = Consumer(dict({"bootstrap.servers": b.bootstrap, "group.id": topic,
                       "enable.auto.commit": False,
                       "enable.partition.eof": True}, **conf))
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got = {}
    deadline = time.time() + timeout
    while time.time() < deadline:
        msgs = c.consume(1000, 0.2)
        if any(m.error() and m.error().code() == KafkaError._PARTITION_EOF
               for m in msgs):
            break
        for m in msgs:
            if m.error():
                raise AssertionError("consume: %s" % m.error())
            got[m.offset()] = m
    else:
        raise AssertionError("no end of partition in %ds" % timeout)
    c.close()
    return got


def consume(b, timeout=30):
    """Every record of the table: {offset: (key, value)}."""
    return {off: (m.key(), m.value())
            for off, m in read_partition(b, TOPIC, timeout).items()}


def partition_dir(b):
    return os.path.join(b.data, TOPIC + "-0")


def active_base(b):
    bases = [int(n[:-4]) for n in os.listdir(partition_dir(b))
             if n.endswith(".log")]
    return max(bases)


def dir_bytes(b):
    d = partition_dir(b)
    return sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d)
               if n.endswith(".log"))


def log_count(b, text):
    with open(b.log_path, "rb") as f:
        return f.read().count(text)


def passes_started(b):
    return log_count(b, b"cleaner: cleaning %s-0" % TOPIC.encode())


def passes_ended(b):
    return (log_count(b, b"cleaner: cleaned %s-0" % TOPIC.encode()) +
            log_count(b, b"cleaner: pass over %s-0" % TOPIC.encode()))


def wait_for(cond, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def cleaned_below(b):
    """The largest end offset of a finished pass ("cleaned ... below
    offset N"), or -1."""
    with open(b.log_path, errors="replace") as f:
        ends = re.findall(r"cleaner: cleaned %s-0 below offset (\d+)" % TOPIC,
                          f.read())
    return max([int(e) for e in ends] or [-1])


def expected(acked, end, drop_tombstones):
    """The latest record of each key below end (a tombstone only if it is
    kept), and every record from end on, as acknowledged."""
    latest = {}
    for off in sorted(acked):
        if off < end:
            latest[acked[off][0]] = off
    want = {off: acked[off] for off in latest.values()
            if not (drop_tombstones and acked[off][1] is None)}
    want.update({off: rec for off, rec in acked.items() if off >= end})
    return want


def check(b, acked, drop_tombstones):
    """What a consumer reads from the beginning is exactly the expected
    records; returns them."""
    end = active_base(b)
    got = consume(b)
    want = expected(acked, end, drop_tombstones)
    missing = sorted(set(want) - set(got))[:5]
    extra = sorted(set(got) - set(want))[:5]
    assert not missing and not extra, \
        "active base %d: missing %s, extra %s" % (end, missing, extra)
    for off, rec in want.items():
        assert got[off] == rec, (off, got[off], rec)
    return got


def check_soon(b, acked, timeout=30):
    """check() until it passes (the cleaner is still at work) or the
    deadline; the last failure is raised."""
    deadline = time.time() + timeout
    while True:
        try:
            return check(b, acked, drop_tombstones=True)
        except AssertionError:
            if time.time() > deadline:
                raise
            time.sleep(0.5)


def test_compaction_keeps_latest_value_per_key_and_survives_sigkill():
    with Broker(BROKER_CONFIG) as b:
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        admin.create_topics([NewTopic(TOPIC, 1, 1, config=TOPIC_CONFIG)],
                            operation_timeout=10)[TOPIC].result(15)
        half = UPDATES // 2
        acked = produce(b, [(key_of(i), b"v-%d" % i) for i in range(half)],
                        "gzip")
        plain = [(key_of(i), b"v-%d" % i) for i in range(half, UPDATES)]
        acked.update(produce(b, plain, "none"))
        acked.update(produce(b, [(key_of(i), None) for i in range(DELETED)],
                             "none"))
        # What the uncompressed half alone takes in a log nobody cleans: its
        # keys and values, and at least 7 bytes of framing per record. (The
        # directory's size now would do as well, but the cleaner is already
        # at work while the records arrive, so it is not a fixed figure.)
        size_before = sum(len(k) + len(v) + 7 for k, v in plain)
        # Roll the tombstones out of the active segment; a pass cleans
        # them (and keeps them: they were dirty).
        acked.update(produce(b, [(live_key_of(i), b"w-%d" % i)
                                 for i in range(3000)], "none"))
        last_tombstone = max(off for off, (_, v) in acked.items() if v is None)
        wait_for(lambda: cleaned_below(b) > last_tombstone,
                 "a pass over the tombstones")
        # Older than delete.retention.ms (100 ms) and clean: the next pass,
        # made due by more updates, removes them.
        time.sleep(0.3)
        acked.update(produce(b, [(live_key_of(i), b"x-%d" % i)
                                 for i in range(3000)], "none"))
        got = check_soon(b, acked)
        live = {k for k, v in got.values()}
        assert len(live) == KEYS - DELETED, len(live)
        size_after = dir_bytes(b)
        print("uncleaned at least %d bytes, cleaned %d" % (size_before, size_after))
        assert size_after < size_before / 4, (size_before, size_after)
        # A restart makes every segment dirty again (the first dirty
        # offsets live in memory): kill -9 in the middle of that pass.
        wait_for(lambda: passes_ended(b) >= passes_started(b),
                 "the cleaner to rest")
        started, ended = passes_started(b), passes_ended(b)
        b.restart(kill=True)
        wait_for(lambda: passes_started(b) > started, "a pass to start")
        b.stop(kill=True)
        assert passes_ended(b) == ended, "the pass ended before the kill"
        killed = passes_started(b)
        b.start()
        check(b, acked, drop_tombstones=True)
        # The passes started after this restart (every segment is dirty
        # again) all end, and change nothing a consumer sees.
        wait_for(lambda: passes_ended(b) > ended and passes_ended(b) - ended
                 >= passes_started(b) - killed,
                 "a whole pass after the restart")
        check(b, acked, drop_tombstones=True)


COMMIT_SEGMENT = 16384   # offsets.topic.segment.bytes for the commit test
COMMIT_SEGMENTS = 12     # segments' worth of commits the test writes (at least)
COMMIT_BYTES = 61        # each commit is a batch: at least 61 B of header
COMMIT_SECONDS_MAX = 180 # a bound on the loop, should the machine crawl


def offsets_dir_state(b):
    """(bytes, files) of __consumer_offsets-0's segments."""
    d = os.path.join(b.data, "__consumer_offsets-0")
    logs = [n for n in os.listdir(d) if n.endswith(".log")]
    return sum(os.path.getsize(os.path.join(d, n)) for n in logs), len(logs)


def test_consumer_offsets_stay_small_under_commits_every_10ms():
    """A consumer commits every 10 ms for half a minute (thousands of commits
    of one partition, a dozen 16 KiB segments' worth or more): the cleaner keeps
    the group's __consumer_offsets partition a few segments big, in bytes
    and in files, and after a SIGKILL the last commit is still there."""
    conf = {"offsets.topic.num.partitions": "1",
            "offsets.topic.segment.bytes": str(COMMIT_SEGMENT),
            "log.cleaner.backoff.ms": "200"}
    with Broker(conf) as b:
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        admin.create_topics([NewTopic("work", 1, 1)])["work"].result(15)
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "busy",
                      "enable.auto.commit": False})
        c.assign([TopicPartition("work", 0, 0)])
        most_bytes = most_files = commits = 0
        # Commits every 10 ms until they add up to COMMIT_SEGMENTS segments'
        # worth (about 35 s), however slow this machine is today.
        end = time.time() + COMMIT_SECONDS_MAX
        next_look = 0
        while commits * COMMIT_BYTES <= COMMIT_SEGMENTS * COMMIT_SEGMENT \
                and time.time() < end:
            commits += 1
            c.commit(offsets=[TopicPartition("work", 0, commits)],
                     asynchronous=False)
            time.sleep(0.01)
            if time.time() >= next_look:
                size, files = offsets_dir_state(b)
                most_bytes, most_files = (max(most_bytes, size),
                                          max(most_files, files))
                next_look = time.time() + 0.5
        c.close()
        written = commits * COMMIT_BYTES
        assert written > COMMIT_SEGMENTS * COMMIT_SEGMENT, commits
        assert most_bytes < 6 * COMMIT_SEGMENT, (most_bytes, commits)
        assert most_files <= 8, (most_files, commits)
        b.restart(kill=True)
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "busy"})
        got = c.committed([TopicPartition("work", 0)], timeout=15)
        c.close()
        assert got[0].offset == commits, (got[0].offset, commits)


BOMB_TOPIC = "bombs"
BOMB_KEYS = 10          # every batch holds k0..k9: each supersedes the last
BOMB_VALUE = 99000      # bytes of zeros: a batch inflates to ~990 kB
BOMB_BATCHES = 420      # about 370 of them fill the first 384 KiB segment


def test_gzip_bombs_on_a_compacted_topic_never_stall_other_clients():
    """420 gzip batches, each inflating to about 1 MB (librdkafka's
    batch.size and the broker's message.max.bytes: the largest produce
    accepts) from about 1 kB, so one 384 KiB segment holds some 370 MB of
    records. The cleaner maps and rewrites it while a background producer
    keeps producing: no gap between its acknowledgements exceeds 1 s,
    and the cleaned topic holds the latest value of each key."""
    conf = {"log.cleaner.backoff.ms": "100"}
    with Broker(conf) as b:
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        admin.create_topics([NewTopic(BOMB_TOPIC, 1, 1, config={
            "cleanup.policy": "compact", "segment.bytes": "393216",
            "min.cleanable.dirty.ratio": "0.01"})])[BOMB_TOPIC].result(15)
        background = BackgroundProducer(b.bootstrap)
        background.thread.start()
        try:
            acked = produce_bombs(b)
            wait_for(lambda: log_count(b, b"cleaner: cleaned %s-0"
                                       % BOMB_TOPIC.encode()) > 0,
                     "a pass over the gzip batches", timeout=120)
        finally:
            background.stop.set()
            background.thread.join(30)
        assert b.alive(), "broker died:\n" + b.log_tail()
        assert background.delivered > 50 and not background.errors, \
            (background.delivered, background.errors[:3])
        print("background producer: %d acknowledged, longest gap %.3f s"
              % (background.delivered, background.longest_gap))
        assert background.longest_gap <= STALL_MAX_S, \
            "the cleaner stalled the producer %.2f s" % background.longest_gap
        latest = {}
        for off in sorted(acked):
            latest[acked[off]] = off
        got = consume_bombs(b)
        for key, off in latest.items():
            assert got.get(off) == key, (key, off, got.get(off))


def produce_bombs(b):
    """BOMB_BATCHES gzip batches of BOMB_KEYS records; {offset: key}."""
    acked, errors = {}, []

    def on_delivery(err, msg):
        if err:
            errors.append(err)
        else:
            acked[msg.offset()] = msg.key()
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all",
                  "compression.codec": "gzip", "linger.ms": 50,
                  "batch.num.messages": BOMB_KEYS,
                  "message.timeout.ms": 60000})
    zeros = bytes(BOMB_VALUE)
    for i in range(BOMB_BATCHES * BOMB_KEYS):
        while True:
            try:
                p.produce(BOMB_TOPIC, key=b"k%d" % (i % BOMB_KEYS),
                          value=zeros, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    p.flush(60)
    assert not errors and len(acked) == BOMB_BATCHES * BOMB_KEYS, \
        (errors[:3], len(acked))
    return acked


def consume_bombs(b, timeout=60):
    """{offset: key} of every record of the bombs topic."""
    got = read_partition(b, BOMB_TOPIC, timeout, **{"fetch.max.bytes": 64 << 20})
    return {off: m.key() for off, m in got.items()}


if __name__ == "__main__":
    run_tests(globals())
