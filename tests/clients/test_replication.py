#!/usr/bin/python3
"""Chapter 08 with real processes: three samsa nodes in racks az1..az3,
topics with replication factor 3 and min.insync.replicas 2, and real
clients (confluent-kafka's librdkafka, kcat) writing with acks=all while
brokers are killed, stopped, paused and wiped.

What every test asserts is what a user sees: every record a producer saw
acknowledged is read back exactly once, at the offset it was acknowledged
at, in order per partition, and the log segments of the three replicas of
every partition hold the same bytes. The longest produce stall of each
fault is printed (MSK's figure for a controlled restart: about 2 s).

Timings are shortened so the file runs in about two minutes:
broker.session.timeout.ms 3000 (a dead broker is fenced after 3 s),
heartbeats every 500 ms, replica.lag.time.max.ms 5000.
"""
import glob
import os
import signal
import subprocess
import threading
import time

from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaException,
                             Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic

import kwire
import test_cluster as tc
from harness import SAMSA, run, run_tests

CLUSTER = None
OVERRIDES = {
    "default.replication.factor": "3",
    "min.insync.replicas": "2",
    "offsets.topic.replication.factor": "3",
    "broker.session.timeout.ms": "3000",
    "broker.heartbeat.interval.ms": "500",
    "replica.lag.time.max.ms": "5000",
    "num.partitions": "6",
    "replica.selector.class":
        "org.apache.kafka.common.replica.RackAwareReplicaSelector",
}


def setup():
    global CLUSTER
    CLUSTER = tc.Cluster()
    tc.CLUSTER = CLUSTER
    for x in CLUSTER.nodes:
        x.overrides.update(OVERRIDES)
    CLUSTER.start()


def teardown_every_node_stops_cleanly():
    codes = {}
    if os.environ.get("SAMSA_KEEP"):
        print(CLUSTER.dir)
        for x in CLUSTER.nodes:
            x.stop()
        return
    for x in CLUSTER.nodes:  # the whole cluster at once, as an operator
        if x.proc and x.proc.poll() is None:  # stops it: the last node
            x.signal(signal.SIGCONT)          # alone would wait out its
            x.signal(signal.SIGTERM)          # controlled shutdown
    for x in CLUSTER.nodes:
        codes[x.id] = x.stop()
    bad = {i: c for i, c in codes.items() if c not in (0, None)}
    tails = "".join("---- node %d ----\n%s" % (i, CLUSTER.node(i).log_tail(40))
                    for i in bad)
    tc.shutil.rmtree(CLUSTER.dir, ignore_errors=True)
    assert not bad, "exit codes %s\n%s" % (codes, tails)


# ---- Looking at the cluster ----

def admin():
    return AdminClient({"bootstrap.servers": CLUSTER.bootstrap()})


def partition_state(topic, p):
    """(leader, replicas, isr) as the metadata says, from a running node."""
    deadline = time.time() + 10
    while True:  # a node still catching up may not know the topic yet
        md = admin().list_topics(topic, timeout=5)
        t = md.topics.get(topic)
        if t is not None and p in t.partitions and t.error is None:
            pm = t.partitions[p]
            return pm.leader, list(pm.replicas), list(pm.isrs)
        assert time.time() < deadline, "no metadata for %s-%d" % (topic, p)
        time.sleep(0.1)


def racks_of():
    """{broker id: rack} from the metadata."""
    return {x.id: "az%d" % x.id for x in CLUSTER.nodes}


def wait_healthy(timeout=30):
    """Nodes 1-3 run and each lists all three as unfenced brokers."""
    for x in CLUSTER.nodes:
        if not x.alive():
            x.start()
    ids = set(x.id for x in CLUSTER.nodes)
    tc.wait_for("nodes 1-3 up and unfenced", lambda: all(
        ids <= set(b[0] for b in tc.brokers_of(x)) for x in CLUSTER.nodes),
        timeout)


def create(topic, partitions=6, configs=None, assignment=None):
    """Create topic (RF 3) once every node is up and unfenced, and wait
    until each partition has a leader and a full ISR."""
    wait_healthy()
    a = admin()  # kept alive until the future is done
    fs = a.create_topics(
        [NewTopic(topic, partitions, 3, config=configs or {})
         if assignment is None else
         NewTopic(topic, len(assignment), replica_assignment=assignment,
                  config=configs or {})],
        operation_timeout=10)
    fs[topic].result(15)
    tc.wait_for("%s has leaders and full ISRs" % topic,
                lambda: all(len(partition_state(topic, p)[2]) == 3
                            for p in range(partitions)), 15)



def wait_isr(topic, partitions, size=3, timeout=30):
    tc.wait_for("ISR of %d on every partition of %s" % (size, topic),
                lambda: all(len(partition_state(topic, p)[2]) >= size
                            for p in range(partitions)), timeout)


def node_of(node_id):
    return CLUSTER.node(node_id)


# ---- Writing and reading ----

class Writer:
    """An idempotent acks=all producer in a thread: values w-<n>, each to
    partition n % partitions, until n reaches count and it is stopped. Records
    every acknowledgement (value -> (partition, offset)) and its time."""

    def __init__(self, topic, partitions, count):
        self.topic, self.partitions, self.count = topic, partitions, count
        self.acked, self.errors, self.ack_times = {}, [], []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def on_delivery(self, err, msg):
        if err:
            self.errors.append(str(err))
            return
        self.acked[msg.value().decode()] = (msg.partition(), msg.offset())
        self.ack_times.append(time.monotonic())

    def run(self):
        p = Producer({"bootstrap.servers": CLUSTER.bootstrap(),
                      "enable.idempotence": True, "acks": "all",
                      "linger.ms": 5, "message.timeout.ms": 120000,
                      "topic.metadata.refresh.interval.ms": 1000})
        n = 0
        while n < self.count or not self.stop.is_set():
            while True:
                try:
                    p.produce(self.topic, value=b"w-%08d" % n,
                              partition=n % self.partitions,
                              on_delivery=self.on_delivery)
                    break
                except BufferError:
                    p.poll(0.05)
            p.poll(0)
            n += 1
            if n >= self.count and not self.stop.is_set():
                time.sleep(0.001)  # past count: a trickle until stopped
        left = p.flush(150)
        if left:
            self.errors.append("%d not delivered after flush" % left)

    def start(self):
        self.thread.start()
        return self

    def join(self, timeout=200):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "producer did not finish"

    def longest_stall(self):
        t = sorted(self.ack_times)
        return max((b - a for a, b in zip(t, t[1:])), default=0.0)


def read_all(topic, partitions):
    """{partition: [(offset, value)]} from the beginning to the high
    watermark of every partition (leaders only, as consumers read)."""
    c = Consumer({"bootstrap.servers": CLUSTER.bootstrap(),
                  "group.id": "replication-reader-%d" % time.time_ns(),
                  "enable.auto.commit": False})
    try:
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p),
                                           timeout=10)[1]
                for p in range(partitions)}
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING)
                  for p in range(partitions)])
        got = {p: [] for p in range(partitions)}
        deadline = time.time() + 60
        while any(len(got[p]) < ends[p] and
                  (not got[p] or got[p][-1][0] + 1 < ends[p])
                  for p in range(partitions)):
            assert time.time() < deadline, "read stalled: %s of %s" % (
                {p: len(v) for p, v in got.items()}, ends)
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            got[m.partition()].append((m.offset(), m.value().decode()))
        return got
    finally:
        c.close()


def check_acked(topic, partitions, w):
    """Every acknowledged value exactly once, where it was acknowledged,
    values in send order within each partition."""
    got = read_all(topic, partitions)
    seen = {}
    for p, recs in got.items():
        values = [v for _, v in recs]
        assert values == sorted(values), "partition %d out of order" % p
        for off, v in recs:
            assert v not in seen, "duplicate %s at %s and %s" % (
                v, seen[v], (p, off))
            seen[v] = (p, off)
    lost = [v for v in w.acked if v not in seen]
    assert not lost, "%d acknowledged records lost, e.g. %s" % (
        len(lost), lost[:5])
    moved = [(v, a, seen[v]) for v, a in w.acked.items() if seen[v] != a]
    assert not moved, "acknowledged at one offset, read at another: %s" % (
        moved[:5],)
    return got


def segment_bytes(node, topic, p):
    """The concatenated bytes of every segment file of one replica."""
    files = sorted(glob.glob(os.path.join(node.data, "%s-%d" % (topic, p),
                                          "*.log")))
    return b"".join(open(f, "rb").read() for f in files)


def check_replicas_identical(topic, partitions, timeout=30):
    """Once every follower caught up, the three replicas of each
    partition are the same bytes."""
    def same():
        return all(len(set(segment_bytes(x, topic, p)
                           for x in CLUSTER.nodes)) == 1
                   for p in range(partitions))
    tc.wait_for("replicas of %s byte-identical" % topic, same, timeout)


# ---- Tests ----

def test_rf3_puts_one_replica_in_each_rack_and_kcat_shows_isr():
    create("placed", 6)
    racks = racks_of()
    for p in range(6):
        leader, replicas, isr = partition_state("placed", p)
        assert len(replicas) == 3 and sorted(set(racks[r] for r in replicas)) \
            == ["az1", "az2", "az3"], (p, replicas)
        assert sorted(isr) == sorted(replicas) and leader == replicas[0]
    out = run(["kcat", "-b", CLUSTER.bootstrap(), "-L", "-t", "placed"]).stdout
    assert b"isrs: " in out and b"replicas: " in out, out
    # a client posing as a broker that holds no replica is refused
    leader = partition_state("placed", 0)[0]
    with kwire.Conn(node_of(leader).bootstrap) as c:
        _, parts = kwire.fetch_partitions(12, c.request(kwire.fetch(
            12, "placed", 0, 0, replica_id=99)))
    assert parts[0][2] == 6, parts  # NOT_LEADER_OR_FOLLOWER


def fault_run(topic, fault, count=200000, rounds=3):
    """Write count records while fault(round) runs rounds times; then
    check everything and print the longest stall."""
    create(topic, 6)
    w = Writer(topic, 6, count).start()
    tc.wait_for("first acknowledgements", lambda: len(w.acked) > 1000, 30)
    for i in range(rounds):
        fault(topic, i)
        wait_isr(topic, 6)
    w.stop.set()
    w.join()
    assert not w.errors, w.errors[:5]
    check_acked(topic, 6, w)
    check_replicas_identical(topic, 6)
    print("  %s: %d acknowledged, longest produce stall %.2f s" % (
        topic, len(w.acked), w.longest_stall()), flush=True)
    return w


def kill_leader_of_0(topic, i):
    leader, _, _ = partition_state(topic, 0)
    node = node_of(leader)
    node.stop(kill=True)
    time.sleep(1)
    node.start()


def test_sigkill_of_the_leader_three_times_loses_nothing_acknowledged():
    fault_run("killed", kill_leader_of_0)


def terminate_leader_of_0(topic, i):
    leader, _, _ = partition_state(topic, 0)
    node = node_of(leader)
    rc = node.stop()
    assert rc == 0, rc
    node.start()


def test_sigterm_moves_leadership_before_exit_and_loses_nothing():
    w = fault_run("terminated", terminate_leader_of_0)
    assert w.longest_stall() < 10, w.longest_stall()


def test_two_brokers_down_refuse_acks_all_and_lose_nothing():
    """Two of three replicas down. The quorum (nodes 1-3, combined) must
    keep its majority, so the two that fail are two extra broker-only
    nodes, 4 and 5, holding the partition with node 3."""
    extra = [tc.Node(CLUSTER, i, dict(OVERRIDES, **{
        "process.roles": "broker", "broker.rack": "az%d" % (i - 3)}))
        for i in (4, 5)]
    for x in extra:
        x.write_config(CLUSTER.voters)
        conf = open(x.config).read().replace(
            ",CONTROLLER://127.0.0.1:%d" % x.controller_port, "")
        open(x.config, "w").write(conf)
        x.format(CLUSTER.cluster_id)
        x.start()
    try:
        tc.wait_for("brokers 4 and 5 registered", lambda: {4, 5} <= set(
            b[0] for b in tc.brokers_of(CLUSTER.node(3))), 20)
        two_brokers_down(extra)
    finally:
        for x in extra:
            x.stop(kill=True)


def two_brokers_down(extra):
    create("quorum2", 1, assignment=[[3, 4, 5]])
    p = Producer({"bootstrap.servers": CLUSTER.bootstrap(), "acks": "all",
                  "message.timeout.ms": 4000, "retries": 0})
    acked, failed = [], []

    def report(err, msg):
        (failed if err else acked).append((err, msg.value()))
    p.produce("quorum2", b"before", partition=0, on_delivery=report)
    p.flush(10)
    assert len(acked) == 1, failed
    for x in extra:
        x.stop(kill=True)
    tc.wait_for("ISR shrinks to the leader", lambda: partition_state(
        "quorum2", 0)[2] == [3], 15)
    acked.clear()
    p.produce("quorum2", b"refused", partition=0, on_delivery=report)
    p.flush(10)
    assert not acked and failed, (acked, failed)
    assert "NOT_ENOUGH_REPLICAS" in str(failed[-1][0]), failed[-1][0]
    extra[0].start()
    tc.wait_for("node 4 back in the ISR", lambda: 4 in partition_state(
        "quorum2", 0)[2], 30)
    p.produce("quorum2", b"after", partition=0, on_delivery=report)
    p.flush(20)
    assert [v for _, v in acked] == [b"after"], (acked, failed)
    got = [v for _, v in read_all("quorum2", 1)[0]]
    assert got == ["before", "after"], got


def test_a_paused_leader_is_replaced_and_acknowledges_nothing_in_its_old_epoch():
    """A Produce (acks=all) waiting on the paused leader's socket is read
    when it resumes, in its old epoch: it must not be acknowledged, and
    its record must not survive (the old leader truncates it)."""
    create("paused", 1)
    leader, _, _ = partition_state("paused", 0)
    node = node_of(leader)
    p = Producer({"bootstrap.servers": CLUSTER.bootstrap(), "acks": "all"})
    p.produce("paused", b"before", partition=0)
    assert p.flush(10) == 0
    stale = kwire.produce(7, "paused", 0, kwire.batch([(None, b"stale")]),
                          acks=-1, timeout_ms=10000)
    with kwire.Conn(node.bootstrap, timeout=30) as c:
        node.signal(signal.SIGSTOP)
        try:
            tc.wait_for("another leader", lambda: partition_state(
                "paused", 0)[0] not in (leader, -1), 15)
            # a client that meets the cluster now (the paused node would
            # hold an old client's requests until its socket timeout)
            others = ",".join(x.bootstrap for x in CLUSTER.nodes
                              if x is not node)
            q = Producer({"bootstrap.servers": others, "acks": "all"})
            q.produce("paused", b"new-leader", partition=0)
            assert q.flush(15) == 0
            c.send(stale)  # waits in the paused leader's socket
        finally:
            node.signal(signal.SIGCONT)
        _, body = c.recv(stale)
    (_, _, err, base), = kwire.produce_errors(7, body)
    assert err != 0 and base == -1, (err, base)
    wait_isr("paused", 1)
    got = [v for _, v in read_all("paused", 1)[0]]
    assert got == ["before", "new-leader"], got
    check_replicas_identical("paused", 1)


def test_a_wiped_broker_re_replicates_and_leads_only_once_caught_up():
    create("wiped", 3)
    w = Writer("wiped", 3, 20000).start()
    w.stop.set()
    w.join()
    victim = node_of(3)
    victim.stop()
    tc.shutil.rmtree(victim.data)
    victim.format(CLUSTER.cluster_id)
    victim.start()
    # while it copies, no partition may name it leader unless in the ISR
    deadline = time.time() + 30
    while time.time() < deadline:
        states = [partition_state("wiped", p) for p in range(3)]
        for leader, _, isr in states:
            assert leader != 3 or 3 in isr, states
        if all(3 in isr for _, _, isr in states):
            break
        time.sleep(0.2)
    wait_isr("wiped", 3)
    check_acked("wiped", 3, w)
    check_replicas_identical("wiped", 3)


def coordinator_of(group):
    """The node id coordinating group, asked of a running node."""
    deadline = time.time() + 20
    while time.time() < deadline:
        for x in CLUSTER.running():
            try:
                with kwire.Conn(x.bootstrap, timeout=3) as c:
                    err, nid, _, _ = kwire.find_coordinator_result(
                        c.request(kwire.find_coordinator(group)))
                if err == 0:
                    return nid
            except (OSError, ValueError):
                pass
        time.sleep(0.2)
    raise AssertionError("no coordinator for %s" % group)


def test_a_group_keeps_consuming_while_its_coordinator_is_killed():
    """Three members commit after every record they process; the
    coordinator's broker is SIGKILLed and restarted. Committed offsets,
    read by an outsider all along, never go backwards, and every record
    is consumed at least once."""
    create("grouped", 6)
    w = Writer("grouped", 6, 3000).start()
    w.stop.set()
    w.join()
    group, stop = "g-failover", threading.Event()
    consumed, errors = set(), []

    def member(i):
        c = Consumer({"bootstrap.servers": CLUSTER.bootstrap(),
                      "group.id": group, "enable.auto.commit": False,
                      "auto.offset.reset": "earliest",
                      "session.timeout.ms": 10000,
                      "client.id": "member-%d" % i})
        c.subscribe(["grouped"])
        try:
            while not stop.is_set():
                m = c.poll(0.2)
                if m is None or m.error():
                    continue
                consumed.add(m.value().decode())
                try:
                    c.commit(message=m, asynchronous=False)
                except KafkaException as e:  # retriable: the next one
                    errors.append(str(e))
        finally:
            c.close()
    threads = [threading.Thread(target=member, args=(i,), daemon=True)
               for i in range(3)]
    for t in threads:
        t.start()
    watcher = Consumer({"bootstrap.servers": CLUSTER.bootstrap(),
                        "group.id": group, "enable.auto.commit": False})
    tps = [TopicPartition("grouped", p) for p in range(6)]
    seen = {p: -1 for p in range(6)}

    def watch():
        try:
            got = watcher.committed(tps, timeout=5)
        except KafkaException:
            return  # the coordinator is moving
        for tp in got:
            if tp.error is None and tp.offset >= 0:
                assert tp.offset >= seen[tp.partition], (
                    "partition %d: committed %d after %d" % (
                        tp.partition, tp.offset, seen[tp.partition]))
                seen[tp.partition] = tp.offset
    try:
        tc.wait_for("some commits", lambda: watch() or sum(
            v > 0 for v in seen.values()) >= 3, 30)
        victim = node_of(coordinator_of(group))
        victim.stop(kill=True)
        time.sleep(1)
        victim.start()
        tc.wait_for("every record consumed", lambda: watch() or
                    len(consumed) == len(w.acked), 60)
        watch()
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        watcher.close()
    assert set(w.acked) <= consumed


def test_elect_leaders_moves_leadership_back_to_the_preferred_replica():
    """After a controlled restart of partition 0's preferred leader another
    replica leads; ElectLeaders (PREFERRED) through any broker moves it
    back, and a second call answers ELECTION_NOT_NEEDED."""
    create("preferred", 1)
    leader, replicas, _ = partition_state("preferred", 0)
    assert leader == replicas[0]
    node = node_of(leader)
    assert node.stop() == 0
    node.start()
    wait_isr("preferred", 1)
    assert partition_state("preferred", 0)[0] != replicas[0]
    via = next(x for x in CLUSTER.nodes if x.id != replicas[0])
    with kwire.Conn(via.bootstrap) as c:
        err, res = kwire.elect_leaders_result(
            c.request(kwire.elect_leaders("preferred", [0])))
    assert err == 0 and res == {("preferred", 0): 0}, (err, res)
    tc.wait_for("the preferred replica leads", lambda: partition_state(
        "preferred", 0)[0] == replicas[0], 10)
    with kwire.Conn(via.bootstrap) as c:
        err, res = kwire.elect_leaders_result(
            c.request(kwire.elect_leaders("preferred", [0])))
    assert res == {("preferred", 0): 84}, res  # ELECTION_NOT_NEEDED


def test_a_consumer_reads_from_the_replica_in_its_own_rack():
    """KIP-392: the leader names the in-sync replica in the consumer's
    rack (preferred_read_replica), which serves it up to its own high
    watermark; a librdkafka consumer with client.rack reads everything."""
    create("racked", 1)
    p = Producer({"bootstrap.servers": CLUSTER.bootstrap(), "acks": "all"})
    for i in range(100):
        p.produce("racked", b"r-%03d" % i, partition=0)
    assert p.flush(10) == 0
    leader, replicas, _ = partition_state("racked", 0)
    near = next(r for r in replicas if r != leader)
    with kwire.Conn(node_of(leader).bootstrap) as c:
        _, parts = kwire.fetch_partitions(11, c.request(kwire.fetch(
            11, "racked", 0, 0, rack="az%d" % near)))
    assert parts[0][2] == 0 and parts[0][4] == b"", parts
    assert kwire.fetch_partitions.preferred == [near]
    tc.wait_for("the follower has the high watermark", lambda: fetch_hw(
        node_of(near), "racked") == 100, 10)
    with kwire.Conn(node_of(near).bootstrap) as c:
        _, parts = kwire.fetch_partitions(11, c.request(kwire.fetch(
            11, "racked", 0, 0, rack="az%d" % near)))
    assert parts[0][2] == 0 and len(kwire.batch_records(parts[0][4])) > 0
    c = Consumer({"bootstrap.servers": CLUSTER.bootstrap(),
                  "group.id": "racked", "client.rack": "az%d" % near,
                  "auto.offset.reset": "earliest"})
    c.subscribe(["racked"])
    got, deadline = [], time.time() + 30
    while len(got) < 100 and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append(m.value())
    c.close()
    assert got == [b"r-%03d" % i for i in range(100)], len(got)


def fetch_hw(node, topic):
    """The high watermark node answers a v11 consumer fetch with."""
    with kwire.Conn(node.bootstrap) as c:
        _, parts = kwire.fetch_partitions(11, c.request(kwire.fetch(
            11, topic, 0, 0, max_bytes=1, partition_max_bytes=1)))
    return parts[0][3] if parts[0][2] == 0 else -1


if __name__ == "__main__":
    run_tests(globals(), setup=setup, teardown=teardown_every_node_stops_cleanly)
