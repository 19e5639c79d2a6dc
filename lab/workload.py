#!/usr/bin/python3
"""The lab's workload: real Kafka clients that write down everything they did.

Concept
    A checker can only judge what was recorded. The workload runs real
    confluent-kafka (librdkafka) clients against the cluster and appends
    every operation to history.jsonl the moment it starts (invoke) and the
    moment it ends (ok, fail, info), with the workload's monotonic time:
    idempotent acks=all producers at a fixed offered rate, each value
    unique; a tail reader on every partition; one consumer group that
    commits; a monitor noting leader, ISR and controller changes. After the
    faults heal, final_read() reads every partition in full.

Kafka / MSK
    enable.idempotence=true with acks=all (librdkafka's defaults for an
    idempotent producer: retries, max.in.flight <= 5, ordering kept) is what
    MSK recommends for no loss and no duplicates; a delivery report without
    error means the leader appended it and the ISR (at least
    min.insync.replicas) has it.

    socket.connection.setup.timeout.ms=1000: a connect whose SYNs a cut
    dropped is abandoned and retried within a second, instead of waiting
    for the kernel's SYN retransmission backoff (3, 7, 15 s): without it a
    healed network is seen up to several seconds late (client-partition
    measured 6 s), which is the client's delay, not the cluster's.

Interface
    - `History(path)`: `record(**fields)` appends one line with "time";
      thread-safe; `close()`.
    - `Workload(history, bootstrap, topic, partitions, rate=)`: `start()`,
      `stop_writes()` (flushes and waits for every delivery report),
      `stop()`; `final_read(timeout)` writes one final-read line per
      partition and returns {partition: (low, high, complete)}.
    - `debug="cgrp,protocol"` (lab/run.py --client-debug): the readers'
      librdkafka debug contexts, logged to `debug_log` (clients.log).
    - `stick_member(seconds)`: the group member stops polling (stuck in
      its processing) for that long; past max.poll.interval.ms (20 s)
      librdkafka leaves the group, as a Java consumer would.
    - Outcomes: a delivery report without error is "ok" with the offset;
      an error the broker returns before appending (see DEFINITE) is
      "fail"; anything else (timeouts, lost connections) is "info": it may
      have been written. A produce() that raises never left the client:
      "fail".

Invariants
    1. Every send is invoked before it can complete, and completes at most
       once (librdkafka calls a delivery report once per message).
    2. Values are unique in the history: "<process>-<sequence>".
    3. One producer instance per process name: a producer that hits a
       fatal error is replaced under a new name (p1 -> p1.1), so per-process
       order (checker I4) is about one idempotent session.

Simplifications
    Values carry no key; each producer picks the partition round-robin
    itself so every partition sees every producer. Reads are recorded in
    batches (one line per partition per poll).

See also
    docs/lab.md; lab/checker.py (reads the history); lab/run.py.
"""
import json
import logging
import threading
import time

from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError,
                             KafkaException, Producer, TopicPartition)

# Errors the broker returns without appending: the write definitely did not
# happen. KAFKA: NOT_ENOUGH_REPLICAS (19) is checked before the append;
# NOT_ENOUGH_REPLICAS_AFTER_APPEND (20) is not in this set.
DEFINITE = {
    KafkaError.NOT_ENOUGH_REPLICAS, KafkaError.MSG_SIZE_TOO_LARGE,
    KafkaError.INVALID_MSG, KafkaError.MSG_SIZE_TOO_LARGE,
    KafkaError.RECORD_LIST_TOO_LARGE, KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.INVALID_REQUIRED_ACKS, KafkaError._INVALID_ARG,
    KafkaError._UNKNOWN_PARTITION, KafkaError._UNKNOWN_TOPIC,
}
QUIET = {"log_level": 2}          # librdkafka: errors only, on stderr
GROUP = "lab-group"


class History:
    """history.jsonl: one JSON object per line, time = seconds since t0."""

    def __init__(self, path):
        self.f = open(path, "w")
        self.t0 = time.monotonic()
        self.lock = threading.Lock()

    def now(self):
        return round(time.monotonic() - self.t0, 6)

    def record(self, **fields):
        with self.lock:
            line = dict(time=self.now(), **fields)
            self.f.write(json.dumps(line) + "\n")
            return line

    def close(self):
        with self.lock:
            self.f.close()


class ProducerThread(threading.Thread):
    """One idempotent producer sending at `rate` per second."""

    def __init__(self, workload, name, rate):
        super().__init__(name=name, daemon=True)
        self.w, self.base, self.rate = workload, name, rate
        self.generation, self.seq = 0, 0
        self.stopping = threading.Event()
        self.producer = None
        self.process = name
        self.fatal_seen = False

    def new_producer(self):
        """A fresh idempotent producer (Invariant 3)."""
        self.process = self.base if self.generation == 0 else \
            "%s.%d" % (self.base, self.generation)
        self.generation += 1
        self.producer = Producer(dict(QUIET, **{
            "bootstrap.servers": self.w.bootstrap,
            "enable.idempotence": True, "acks": "all",
            "linger.ms": 5, "message.timeout.ms": self.w.message_timeout_ms,
            "request.timeout.ms": 5000, "socket.timeout.ms": 5000,
            "socket.connection.setup.timeout.ms": 1000,
            "topic.metadata.refresh.interval.ms": 1000,
            "retry.backoff.ms": 50, "reconnect.backoff.max.ms": 1000,
            "error_cb": self.w.client_error(self.process)}))

    def run(self):
        self.new_producer()
        period = 1.0 / self.rate
        next_at = time.monotonic()
        while not self.stopping.is_set():
            if self.fatal_seen:                  # INVARIANT 3
                self.fatal_seen = False
                self.producer.flush(1.0)
                self.new_producer()
            self.send_one()
            next_at += period
            while True:
                self.producer.poll(0)
                left = next_at - time.monotonic()
                if left <= 0 or self.stopping.is_set():
                    break
                time.sleep(min(left, 0.01))
            if time.monotonic() - next_at > 1.0:   # fell behind: do not burst
                next_at = time.monotonic()

    def send_one(self):
        self.seq += 1
        p = self.seq % self.w.partitions
        value = "%s-%d" % (self.process, self.seq)       # INVARIANT 2
        process, producer = self.process, self.producer
        self.w.history.record(process=process, type="invoke", op="send",
                              topic=self.w.topic, partition=p, value=value)

        def done(err, msg):
            self.delivered(process, value, p, err, msg)
        try:
            producer.produce(self.w.topic, value.encode(), partition=p, on_delivery=done)
        except (BufferError, KafkaException) as e:
            self.w.history.record(process=process, type="fail", op="send",
                                  topic=self.w.topic, partition=p, value=value,
                                  error=str(e))

    def delivered(self, process, value, p, err, msg):
        h = self.w.history
        if err is None:
            h.record(process=process, type="ok", op="send", topic=self.w.topic,
                     partition=msg.partition(), value=value, offset=msg.offset())
            return
        kind = "fail" if err.code() in DEFINITE else "info"
        h.record(process=process, type=kind, op="send", topic=self.w.topic,
                 partition=p, value=value, error=err.name())
        if err.fatal() and process == self.process:
            self.fatal_seen = True

    def finish(self, timeout):
        """Stop sending; wait for every delivery report (Invariant 1)."""
        self.stopping.set()
        self.join()
        self.producer.flush(timeout)


class ReaderThread(threading.Thread):
    """A tail reader on every partition (assign, no group), or the
    consumer group's member (subscribe, commits every second)."""

    def __init__(self, workload, name, group=False):
        super().__init__(name=name, daemon=True)
        self.w, self.group = workload, group
        self.stopping = threading.Event()
        self.stuck_until = 0.0

    def run(self):
        conf = dict(QUIET, **{
            "bootstrap.servers": self.w.bootstrap,
            "group.id": GROUP if self.group else "lab-tail-%s" % self.name,
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "session.timeout.ms": 10000, "heartbeat.interval.ms": 1000,
            "max.poll.interval.ms": 20000,
            "topic.metadata.refresh.interval.ms": 1000})
        conf["error_cb"] = self.w.client_error(self.name)
        if self.group:
            conf["group.instance.id"] = "lab-member-1"    # static membership
        if self.w.debug:
            conf["debug"] = self.w.debug
        c = Consumer(conf, logger=self.w.logger) if self.w.debug else Consumer(conf)
        if self.group:
            c.subscribe([self.w.topic], on_assign=self.assigned,
                        on_revoke=self.revoked)
        else:
            c.assign([TopicPartition(self.w.topic, p, OFFSET_BEGINNING)
                      for p in range(self.w.partitions)])
        last_commit = time.monotonic()
        while not self.stopping.is_set():
            if time.monotonic() < self.stuck_until:     # a member stuck in
                time.sleep(0.1)                         # its own processing
                continue
            self.record_batch(c.consume(500, 0.5))
            if self.group and time.monotonic() - last_commit >= 1.0:
                self.commit(c)
                last_commit = time.monotonic()
        c.close()

    def record_batch(self, msgs):
        by_partition = {}
        for m in msgs:
            if m.error() is None:
                by_partition.setdefault(m.partition(), []).append(
                    [m.offset(), m.value().decode(errors="replace")])
        for p, records in sorted(by_partition.items()):
            self.w.history.record(process=self.name, type="ok", op="read",
                                  topic=self.w.topic, partition=p, records=records)

    def commit(self, c):
        try:
            done = c.commit(asynchronous=False)
        except KafkaException as e:
            self.w.history.record(process=self.name, type="info", op="commit",
                                  error=str(e))
            return
        if done:
            self.w.history.record(process=self.name, type="ok", op="commit",
                                  offsets={str(tp.partition): tp.offset for tp in done
                                           if tp.error is None})

    def assigned(self, c, parts):
        self.w.history.record(process=self.name, type="info", op="rebalance",
                              assigned=[tp.partition for tp in parts])

    def revoked(self, c, parts):
        # close() at the end of the run revokes too: that is no rebalance
        op = "leave" if self.stopping.is_set() else "rebalance"
        self.w.history.record(process=self.name, type="info", op=op,
                              revoked=[tp.partition for tp in parts])


class MonitorThread(threading.Thread):
    """Notes leader/ISR changes of every partition and controller changes."""

    def __init__(self, workload, cluster, period=0.5):
        super().__init__(name="monitor", daemon=True)
        self.w, self.cluster, self.period = workload, cluster, period
        self.stopping = threading.Event()

    def run(self):
        seen, controller = {}, None
        while not self.stopping.wait(self.period):
            for p, (leader, replicas, isr) in sorted(
                    self.cluster.partitions(self.w.topic, timeout=1.0).items()):
                if seen.get(p) != (leader, isr):
                    seen[p] = (leader, isr)
                    self.w.history.record(process="monitor", type="info", op="leader",
                                          topic=self.w.topic, partition=p,
                                          leader=leader, isr=isr)
            c = self.cluster.controller()
            if c is not None and c != controller:
                controller = c
                self.w.history.record(process="monitor", type="info",
                                      op="controller", controller=c)


class Workload:
    """Producers, readers, the group member and the monitor of one run."""

    def __init__(self, history, cluster, topic, partitions, rate=150,
                 producers=3, message_timeout_ms=10000, debug=None, debug_log=None):
        self.history, self.cluster = history, cluster
        self.debug, self.logger = debug, None
        if debug:
            self.logger = logging.getLogger("lab.clients")
            self.logger.setLevel(logging.DEBUG)
            self.logger.addHandler(logging.FileHandler(debug_log))
        self.bootstrap = cluster.bootstrap()
        self.topic, self.partitions = topic, partitions
        self.message_timeout_ms = message_timeout_ms
        self.producers = [ProducerThread(self, "p%d" % (i + 1), rate / producers)
                          for i in range(producers)]
        self.readers = [ReaderThread(self, "tail"), ReaderThread(self, "group", True)]
        self.monitor = MonitorThread(self, cluster)

    def start(self):
        for t in self.producers + self.readers + [self.monitor]:
            t.start()

    def stop_writes(self):
        deadline = time.monotonic() + self.message_timeout_ms / 1000.0 + 5
        for p in self.producers:
            p.finish(max(1.0, deadline - time.monotonic()))

    def client_error(self, process):
        """librdkafka's error callback: each client-level error (all brokers
        down, a fatal idempotence error, a group fencing) becomes an
        "info" line with op "client-error" (not a send: the checker skips it)."""
        def cb(err):
            self.history.record(process=process, type="info", op="client-error",
                                error=err.name(), reason=err.str())
        return cb

    def stick_member(self, seconds):
        self.readers[1].stuck_until = time.monotonic() + seconds

    def stop(self):
        for t in self.readers + [self.monitor]:
            t.stopping.set()
        for t in self.readers + [self.monitor]:
            t.join(15)

    def final_read(self, timeout=30.0):
        """Read every partition from its log start to its high watermark;
        one final-read line each. {p: (low, high, complete)}."""
        out = {}
        c = Consumer(dict(QUIET, **{"bootstrap.servers": self.bootstrap,
                                    "group.id": "lab-final", "enable.auto.commit": False,
                                    "enable.partition.eof": True}))
        try:
            for p in range(self.partitions):
                out[p] = self.read_partition(c, p, timeout)
        finally:
            c.close()
        return out

    def read_partition(self, c, p, timeout):
        tp = TopicPartition(self.topic, p)
        deadline = time.monotonic() + timeout
        low = high = None
        while low is None and time.monotonic() < deadline:
            try:
                low, high = c.get_watermark_offsets(tp, timeout=5)
            except KafkaException:
                time.sleep(0.5)
        records, nxt = [], low
        if low is not None and high > low:
            c.assign([TopicPartition(self.topic, p, low)])
            while nxt < high and time.monotonic() < deadline:
                # exactly what is left: consume returns once it is there,
                # not after its timeout (1 s per partition otherwise)
                for m in c.consume(int(min(1000, high - nxt)), 1.0):
                    if m.error() is None:
                        records.append([m.offset(), m.value().decode(errors="replace")])
                        nxt = m.offset() + 1
            c.unassign()
        complete = low is not None and (nxt is None or nxt >= high)
        self.history.record(process="final", type="ok" if complete else "info",
                            op="final-read", topic=self.topic, partition=p,
                            records=records, low=low, high=high)
        return low, high, complete
