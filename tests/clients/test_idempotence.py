#!/usr/bin/python3
"""Chapter 11, idempotent producers, against a real samsa broker.

librdkafka (confluent-kafka, enable.idempotence=true) and kafkajs
(idempotent: true) each produce 100,000 records through a TCP proxy that
closes every connection it carries every few hundred milliseconds, so
requests and their answers are lost mid-flight and sent again; the log
must then hold each record exactly once, in order (read back with
confluent-kafka). Raw-protocol tests (kwire framing, the InitProducerId and
idempotent-batch builders below, written from the JSON specs) check every
InitProducerId version, that a resent batch gets its original offset back
and is not appended twice, and the OUT_OF_ORDER_SEQUENCE_NUMBER,
INVALID_PRODUCER_EPOCH and UNKNOWN_PRODUCER_ID answers, also after a
restart (producer state rebuilt from the snapshot and the log)."""
import os
import socket
import struct
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, \
    TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import kwire
from harness import CLIENTS_DIR, Broker, free_port, run, run_tests

N = 100000
DROP_EVERY = 0.5          # seconds between two rounds of dropped connections
CHUNK, PACE = 1000, 0.04  # librdkafka: records per chunk, seconds between
KAFKAJS_SCRIPT = os.path.join(CLIENTS_DIR, "idempotent_kafkajs.js")

# ---- InitProducerId and idempotent batches, from the JSON specs ----

API_INIT_PRODUCER_ID = 22
kwire.FLEXIBLE_FROM.setdefault(API_INIT_PRODUCER_ID, 2)  # "flexibleVersions": "2+"
OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH = 45, 47
UNKNOWN_PRODUCER_ID, COORDINATOR_NOT_AVAILABLE = 59, 15
PRODUCE_V = 8


def init_producer_id(v, txn=None, pid=-1, epoch=-1, timeout_ms=60000):
    """InitProducerIdRequest v0..v4: transactional_id, transaction_timeout_ms,
    then v3+ producer_id and producer_epoch."""
    f = kwire.flexible(API_INIT_PRODUCER_ID, v)
    body = kwire.string(txn, f) + kwire.i32(timeout_ms)
    if v >= 3:
        body += kwire.i64(pid) + kwire.i16(epoch)
    return (API_INIT_PRODUCER_ID, v, body + kwire.tags(f))


def init_producer_id_result(v, body):
    """(error_code, producer_id, producer_epoch); the body must end there."""
    r = kwire.Reader(body, kwire.flexible(API_INIT_PRODUCER_ID, v))
    r.i32()                                       # throttle_time_ms
    out = (r.i16(), r.i64(), r.i16())
    r.tags()
    assert r.p == len(body), "trailing bytes in InitProducerId v%d" % v
    return out


def idempotent_batch(pid, epoch, seq, values):
    """kwire.batch with producerId, producerEpoch and baseSequence (bytes
    43, 51, 53 of the v2 header) set and the CRC (of bytes 21..) redone."""
    b = bytearray(kwire.batch([(None, v) for v in values]))
    struct.pack_into(">qhi", b, 43, pid, epoch, seq)
    struct.pack_into(">I", b, 17, kwire.crc32c(bytes(b[21:])))
    return bytes(b)


def send_batch(c, topic, pid, epoch, seq, n):
    """Produce one idempotent batch of n records: (error_code, base_offset)."""
    values = [b"r%d" % (seq + i) for i in range(n)]
    r = c.request(kwire.produce(PRODUCE_V, topic, 0,
                                idempotent_batch(pid, epoch, seq, values)))
    _, _, err, base = kwire.produce_errors(PRODUCE_V, r)[0]
    return err, base


def new_producer_id(c, v=4):
    err, pid, epoch = init_producer_id_result(v, c.request(init_producer_id(v)))
    assert err == 0 and pid >= 0 and epoch == 0, (err, pid, epoch)
    return pid


# ---- A proxy that drops connections ----

class DroppingProxy:
    """Listens on port and forwards every connection to the broker at
    target. Two ways to lose what is in flight: every period seconds it
    closes all its connections on both sides; and every lose_every-th read
    from the broker it swallows (an answer the broker sent, so the request
    was appended) and closes that connection. The broker advertises this
    port, so clients come back through it."""

    def __init__(self, port, target, period, lose_every=25):
        self.port, self.target, self.period = port, target, period
        self.lose_every = lose_every
        self.lock = threading.Lock()
        self.socks = []
        self.drops = self.answers = 0
        self.dropping = False  # set once the topic exists
        self.stopped = threading.Event()
        self.server = socket.create_server(("127.0.0.1", port))
        threading.Thread(target=self.accept_loop, daemon=True).start()
        threading.Thread(target=self.drop_loop, daemon=True).start()

    def accept_loop(self):
        while not self.stopped.is_set():
            try:
                client, _ = self.server.accept()
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                continue
            with self.lock:
                self.socks += [client, upstream]
            for a, b, answers in ((client, upstream, False),
                                  (upstream, client, True)):
                threading.Thread(target=self.pump, args=(a, b, answers),
                                 daemon=True).start()

    def pump(self, src, dst, answers):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if answers and self.lose_answer():
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            self.close(s)

    def lose_answer(self):
        with self.lock:
            if not self.dropping:
                return False
            self.answers += 1
            if self.answers % self.lose_every:
                return False
            self.drops += 1
            return True

    def close(self, s):
        with self.lock:
            if s in self.socks:
                self.socks.remove(s)
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

    def drop_loop(self):
        while not self.stopped.wait(self.period):
            if not self.dropping:
                continue
            with self.lock:
                victims, self.socks = self.socks, []
            self.drops += len(victims) // 2
            for s in victims:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self):
        self.stopped.set()
        self.server.close()
        with self.lock:
            victims, self.socks = self.socks, []
        for s in victims:
            try:
                s.close()
            except OSError:
                pass


def proxied_broker():
    """A broker that advertises the port of a proxy started with
    DroppingProxy(port, b.port, ...) once the broker listens."""
    port = free_port()
    return port, Broker(overrides={"advertised.listeners":
                                   "PLAINTEXT://127.0.0.1:%d" % port,
                                   "log.level": "debug"})


def duplicates_seen(b):
    """How many resent batches the broker answered from its memory."""
    with open(b.log_path, errors="replace") as f:
        return sum("duplicate batch of producer" in line for line in f)


def create_topic(bootstrap, topic):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)],
                        operation_timeout=10)[topic].result(15)


def consume_values(bootstrap, topic, n, timeout=60):
    """Every value of partition 0 from the start, in offset order, until
    n were read or nothing more comes."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "idem-check",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got, offsets = [], []
    deadline = time.time() + timeout
    while time.time() < deadline and len(got) < n:
        eof = False
        for m in c.consume(5000, 0.5):
            if m.error() and m.error().code() == KafkaError._PARTITION_EOF:
                eof = True
            elif m.error():
                raise AssertionError("consume: %s" % m.error())
            else:
                got.append(int(m.value()))
                offsets.append(m.offset())
        if eof and len(got) >= n:
            break
    c.close()
    assert offsets == list(range(len(offsets))), "offsets have holes"
    return got


def check_exactly_once(got, n):
    """Each of 0..n-1 once, in order; name the first problem otherwise."""
    if got == list(range(n)):
        return
    seen, dups = set(), [v for v in got if v in seen or seen.add(v)]
    missing = sorted(set(range(n)) - seen)
    first_bad = next((i for i, v in enumerate(got) if v != i), None)
    raise AssertionError("%d records read for %d: %d duplicated (e.g. %s), "
                         "%d missing (e.g. %s), first out of place at %s"
                         % (len(got), n, len(dups), dups[:5], len(missing),
                            missing[:5], first_bad))


# ---- Real clients, connections dropped mid-flight ----

def test_librdkafka_idempotent_exactly_once_with_dropped_connections():
    port, broker = proxied_broker()
    with broker as b:
        proxy = DroppingProxy(port, b.port, DROP_EVERY)
        try:
            _librdkafka_run(b, proxy)
        finally:
            proxy.stop()


def _librdkafka_run(b, proxy):
    create_topic(b.bootstrap, "rd-idem")
    proxy.dropping = True
    errors, acked = [], [0]

    def on_delivery(err, msg):
        if err:
            errors.append(err)
        else:
            acked[0] += 1
    p = Producer({"bootstrap.servers": proxy_bootstrap(proxy),
                  "enable.idempotence": True, "linger.ms": 5,
                  "batch.num.messages": 2000,
                  "reconnect.backoff.ms": 10,
                  "reconnect.backoff.max.ms": 100,
                  "retry.backoff.ms": 10,
                  "message.timeout.ms": 120000,
                  "log_level": 3})  # no notice per dropped connection
    for i in range(N):
        while True:
            try:
                p.produce("rd-idem", value=b"%d" % i, partition=0,
                          on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
        if i % CHUNK == CHUNK - 1:
            time.sleep(PACE)  # spread the sends over many drops
    left = p.flush(120)
    assert left == 0 and not errors and acked[0] == N, \
        (left, errors[:3], acked[0])
    assert proxy.drops > 0, "the proxy never dropped a connection"
    proxy.dropping = False
    check_exactly_once(consume_values(b.bootstrap, "rd-idem", N), N)
    print("   librdkafka: %d connections dropped, %d duplicates answered"
          % (proxy.drops, duplicates_seen(b)))


def test_kafkajs_idempotent_exactly_once_with_dropped_connections():
    port, broker = proxied_broker()
    with broker as b:
        proxy = DroppingProxy(port, b.port, DROP_EVERY)
        try:
            _kafkajs_run(b, proxy)
        finally:
            proxy.stop()


def _kafkajs_run(b, proxy):
    create_topic(b.bootstrap, "js-idem")
    proxy.dropping = True
    r = run(["node", KAFKAJS_SCRIPT, proxy_bootstrap(proxy), "js-idem",
             str(N)], timeout=150, cwd=CLIENTS_DIR)
    assert b"sent %d" % N in r.stdout, r.stdout
    assert proxy.drops > 0, "the proxy never dropped a connection"
    proxy.dropping = False
    check_exactly_once(consume_values(b.bootstrap, "js-idem", N), N)
    print("   kafkajs: %d connections dropped, %d duplicates answered"
          % (proxy.drops, duplicates_seen(b)))


def proxy_bootstrap(proxy):
    return "127.0.0.1:%d" % proxy.port


# ---- Raw protocol ----

def test_init_producer_id_every_version_hands_out_new_ids():
    with Broker() as b, kwire.Conn(b.bootstrap) as c:
        seen = set()
        for v in range(0, 5):
            err, pid, epoch = init_producer_id_result(
                v, c.request(init_producer_id(v)))
            assert (err, epoch) == (0, 0) and pid not in seen, (v, err, pid)
            seen.add(pid)
        # KAFKA: with a null transactional id the id and epoch sent (v3+)
        # are not checked: a new id, epoch 0.
        err, pid, epoch = init_producer_id_result(
            4, c.request(init_producer_id(4, pid=min(seen), epoch=0)))
        assert err == 0 and pid not in seen and epoch == 0, (err, pid, epoch)
        err, pid, epoch = init_producer_id_result(
            3, c.request(init_producer_id(3, pid=-1, epoch=3)))
        assert (err, pid, epoch) == (kwire.INVALID_REQUEST, -1, -1)
        err, pid, epoch = init_producer_id_result(
            4, c.request(init_producer_id(4, txn="tx")))
        assert (err, pid, epoch) == (COORDINATOR_NOT_AVAILABLE, -1, -1)


def test_resent_batch_gets_original_offset_and_is_not_appended_again():
    with Broker() as b, kwire.Conn(b.bootstrap) as c:
        create_topic(b.bootstrap, "raw")
        pid = new_producer_id(c)
        assert send_batch(c, "raw", pid, 0, 0, 3) == (0, 0)
        assert send_batch(c, "raw", pid, 0, 3, 2) == (0, 3)
        assert send_batch(c, "raw", pid, 0, 0, 3) == (0, 0)   # resent
        assert send_batch(c, "raw", pid, 0, 3, 2) == (0, 3)   # resent
        assert send_batch(c, "raw", pid, 0, 5, 1) == (0, 5)
        assert consume_values_raw(b, "raw") == [b"r%d" % i for i in range(6)]


def send_batches(c, topic, batches):
    """One Produce request whose records are several batches, back to
    back: (error_code, base_offset of the first)."""
    r = c.request(kwire.produce(PRODUCE_V, topic, 0, b"".join(batches)))
    _, _, err, base = kwire.produce_errors(PRODUCE_V, r)[0]
    return err, base


def test_two_batches_of_one_producer_in_one_request_are_refused():
    """KAFKA: ProduceRequest.validateRecords: from Produce v3 a partition's
    records hold exactly one batch (INVALID_RECORD); nothing of them is
    appended and the producer's sequence does not move."""
    with Broker() as b, kwire.Conn(b.bootstrap) as c:
        create_topic(b.bootstrap, "raw")
        pid = new_producer_id(c)
        first = idempotent_batch(pid, 0, 0, [b"r0", b"r1"])
        second = idempotent_batch(pid, 0, 2, [b"r2"])
        assert send_batches(c, "raw", [first, second]) == \
            (kwire.INVALID_RECORD, -1)
        assert send_batch(c, "raw", pid, 0, 0, 2) == (0, 0)
        assert send_batch(c, "raw", pid, 0, 2, 1) == (0, 2)
        assert consume_values_raw(b, "raw") == [b"r0", b"r1", b"r2"]


def test_gap_stale_epoch_and_unknown_producer_are_refused():
    with Broker() as b, kwire.Conn(b.bootstrap) as c:
        create_topic(b.bootstrap, "raw")
        pid = new_producer_id(c)
        assert send_batch(c, "raw", pid, 1, 0, 2) == (0, 0)
        assert send_batch(c, "raw", pid, 1, 5, 1) == \
            (OUT_OF_ORDER_SEQUENCE_NUMBER, -1)
        assert send_batch(c, "raw", pid, 0, 2, 1) == (INVALID_PRODUCER_EPOCH, -1)
        assert send_batch(c, "raw", pid + 1, 0, 7, 1) == \
            (UNKNOWN_PRODUCER_ID, -1)
        assert send_batch(c, "raw", pid, 2, 0, 1) == (0, 2)   # epoch bump
        assert len(consume_values_raw(b, "raw")) == 3


def test_duplicates_still_found_after_restart():
    with Broker() as b:
        with kwire.Conn(b.bootstrap) as c:
            create_topic(b.bootstrap, "raw")
            pid = new_producer_id(c)
            assert send_batch(c, "raw", pid, 0, 0, 4) == (0, 0)
            assert send_batch(c, "raw", pid, 0, 4, 4) == (0, 4)
        b.restart()           # clean: a snapshot at offset 8
        data = os.path.join(b.data, "raw-0")
        assert "00000000000000000008.snapshot" in os.listdir(data)
        with kwire.Conn(b.bootstrap) as c:
            assert send_batch(c, "raw", pid, 0, 4, 4) == (0, 4)
            assert send_batch(c, "raw", pid, 0, 8, 1) == (0, 8)
            last = new_producer_id(c)
            assert last > pid
        b.restart(kill=True)  # a crash: the snapshot, then the log after it
        with kwire.Conn(b.bootstrap) as c:
            assert send_batch(c, "raw", pid, 0, 8, 1) == (0, 8)
            assert send_batch(c, "raw", pid, 0, 4, 4) == (0, 4)
            assert send_batch(c, "raw", pid, 0, 10, 1) == \
                (OUT_OF_ORDER_SEQUENCE_NUMBER, -1)
            assert new_producer_id(c) > last   # ids are never reused
            assert send_batch(c, "raw", pid, 0, 9, 1) == (0, 9)


def test_clean_shutdown_after_idempotent_batches_on_many_partitions():
    """Issue 9: prod_close read the producer state of one partition after
    freeing it; with idempotent batches on two or more partitions SIGTERM
    then crashed (sanitizer build) before the clean-shutdown marker."""
    with Broker() as b:
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        admin.create_topics([NewTopic("idem3", 3, 1)],
                            operation_timeout=10)["idem3"].result(15)
        p = Producer({"bootstrap.servers": b.bootstrap,
                      "enable.idempotence": True, "linger.ms": 5})
        for i in range(30):
            p.produce("idem3", value=b"v%d" % i, partition=i % 3)
        assert p.flush(15) == 0, "records left unsent"
        del p
        rc = b.stop()
        assert rc == 0, "SIGTERM exited %s:\n%s" % (rc, b.log_tail())
        assert os.path.exists(os.path.join(b.data, ".kafka_cleanshutdown"))
        for part in range(3):
            names = os.listdir(os.path.join(b.data, "idem3-%d" % part))
            assert "00000000000000000010.snapshot" in names, (part, names)
        b.start()
        assert b.stop() == 0  # the log is complete once the broker is gone
        with open(b.log_path, errors="replace") as f:
            loaded = [line for line in f if "topics: loaded" in line]
        assert len(loaded) == 2 and "no clean-shutdown" not in loaded[-1], \
            loaded


def consume_values_raw(b, topic):
    """Every value of partition 0, through confluent-kafka."""
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "raw-check",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got, deadline = [], time.time() + 20
    while time.time() < deadline:
        msgs = c.consume(100, 0.5)
        if any(m.error() and m.error().code() == KafkaError._PARTITION_EOF
               for m in msgs):
            got += [m.value() for m in msgs if not m.error()]
            break
        got += [m.value() for m in msgs if not m.error()]
    c.close()
    return got


if __name__ == "__main__":
    run_tests(globals())
