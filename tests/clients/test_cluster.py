"""Chapter 07 with real processes: three samsa nodes (process.roles
broker,controller) formatted with one cluster id become one KRaft cluster.

Each node listens on 127.0.0.1 only, on two free ports (PLAINTEXT for
clients, CONTROLLER for the quorum), in racks az1..az3. One cluster serves
every test; each test starts by waiting until all three nodes run and are
unfenced, and leaves them so.
"""
import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import time

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

import kwire
from harness import (SAMSA, free_port, kraft_node_config, run, run_tests,
                     stop_process, wait_listening, write_properties)
from kwire import Conn

CLUSTER = None


class Node:
    """One samsa process of the cluster."""

    def __init__(self, cluster, node_id, overrides=None):
        self.cluster, self.id = cluster, node_id
        self.port, self.controller_port = free_port(), free_port()
        self.bootstrap = "127.0.0.1:%d" % self.port
        self.controller = "127.0.0.1:%d" % self.controller_port
        self.data = os.path.join(cluster.dir, "node%d" % node_id)
        self.config = os.path.join(cluster.dir, "node%d.properties" % node_id)
        self.log_path = os.path.join(cluster.dir, "node%d.log" % node_id)
        self.overrides = dict(overrides or {})
        self.proc = None

    def write_config(self, voters):
        conf = kraft_node_config(self.id, self.port, self.controller_port,
                                 voters, self.data)
        conf.update({
            "broker.rack": "az%d" % self.id,
            "num.partitions": "3",
            # a snapshot every MiB of metadata, so the 100k-record test
            # sees several (Kafka's default: 20 MiB)
            "metadata.log.max.record.bytes.between.snapshots": "1048576",
        })
        conf.update(self.overrides)
        write_properties(self.config, conf)

    def format(self, cluster_id):
        run([SAMSA, "format", "-t", cluster_id, "-c", self.config,
             "--ignore-formatted"])

    def start(self):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([SAMSA, "broker", self.config],
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_listening(self.port, self.proc)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, kill=False):
        if not self.proc:
            return None
        rc, self.proc = stop_process(self.proc, kill), None
        return rc

    def log_tail(self, n=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


class Cluster:
    """Three nodes, one cluster id, data in a temporary directory."""

    def __init__(self, n=3):
        self.dir = tempfile.mkdtemp(prefix="samsa-cluster-test-")
        self.nodes = [Node(self, i + 1) for i in range(n)]
        self.voters = ",".join("%d@127.0.0.1:%d" % (x.id, x.controller_port)
                               for x in self.nodes)
        self.cluster_id = run([SAMSA, "random-uuid"]).stdout.decode().strip()

    def start(self):
        for x in self.nodes:
            x.write_config(self.voters)
            x.format(self.cluster_id)
        for x in self.nodes:
            x.start()
        self.wait_healthy()
        return self

    def node(self, node_id):
        return self.nodes[node_id - 1]

    def running(self):
        return [x for x in self.nodes if x.alive()]

    def bootstrap(self):
        return ",".join(x.bootstrap for x in self.running())

    def wait_healthy(self, timeout=30):
        """Every node runs and lists every node as an unfenced broker."""
        for x in self.nodes:
            if not x.alive():
                x.start()
        ids = set(x.id for x in self.nodes)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if all(set(b[0] for b in brokers_of(x)) == ids for x in self.nodes):
                return
            time.sleep(0.1)
        raise AssertionError("cluster not healthy: %s\n%s" % (
            [brokers_of(x) for x in self.nodes], self.logs()))

    def leader(self, among=None, other_than=None):
        """(leader id, epoch) as the quorum's voters say, once they agree
        (on a leader other than other_than, when given)."""
        nodes = among or self.running()
        deadline = time.time() + 20
        while time.time() < deadline:
            seen = set()
            for x in nodes:
                try:
                    with Conn(x.controller, timeout=2) as c:
                        err, lid, epoch, _ = kwire.describe_quorum_leader(
                            c.request(kwire.describe_quorum()))
                        # the leader answers 0, the others
                        # NOT_LEADER_OR_FOLLOWER (6) with who leads
                        seen.add((lid, epoch) if err in (0, 6) else None)
                except OSError:
                    seen.add(None)
            if len(seen) == 1 and None not in seen:
                lid, epoch = seen.pop()
                if lid > 0 and lid != other_than:
                    return lid, epoch
            time.sleep(0.1)
        raise AssertionError("no agreed leader:\n" + self.logs())

    def logs(self):
        return "\n".join("---- node %d ----\n%s" % (x.id, x.log_tail())
                         for x in self.nodes)

    def close(self):
        for x in self.nodes:
            if x.proc and x.proc.poll() is None:
                x.signal(signal.SIGCONT)
            x.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def brokers_of(node):
    """[(id, host, port, rack)] that node's Metadata lists; [] if it is down."""
    try:
        with Conn(node.bootstrap, timeout=2) as c:
            return kwire.metadata_brokers(9, c.request(kwire.metadata(9, [])))[0]
    except (OSError, ValueError):
        return []


def topics_of(node):
    try:
        with Conn(node.bootstrap, timeout=2) as c:
            return kwire.metadata_topics(9, c.request(kwire.metadata(9, None)))
    except (OSError, ValueError):
        return {}


def wait_for(what, cond, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return time.time()
        time.sleep(0.02)
    raise AssertionError("not within %.1fs: %s\n%s" % (timeout, what, CLUSTER.logs()))


def create_topic(node, name, partitions=3, configs=None, timeout=5):
    """CreateTopics through node, retried until it succeeds or timeout.
    A retry may find TOPIC_ALREADY_EXISTS (36): an earlier try was
    committed but answered NOT_CONTROLLER (the controller changed before
    it could answer), as a Kafka client sees it too."""
    deadline = time.time() + timeout
    last, tries = None, 0
    while time.time() < deadline:
        tries += 1
        try:
            with Conn(node.bootstrap, timeout=timeout) as c:
                body = c.request(kwire.create_topics(5, name, partitions,
                                                     configs=configs or ()))
            last = kwire.create_topics_errors(5, body)[0][1]
            if last == 0 or (last == 36 and tries > 1):
                return
        except (OSError, ValueError) as e:
            last = e
        time.sleep(0.1)
    raise AssertionError("CreateTopics %s through node %d: %r\n%s"
                         % (name, node.id, last, CLUSTER.logs()))


def setup():
    global CLUSTER
    CLUSTER = Cluster()
    atexit.register(CLUSTER.close)  # even when setup or a test fails
    CLUSTER.start()


def teardown_every_node_stops_cleanly():
    nodes = CLUSTER.nodes
    for x in nodes:
        if x.alive():
            x.signal(signal.SIGCONT)
    for x in nodes:  # the whole cluster at once, as an operator stops it
        if x.alive():
            x.signal(signal.SIGTERM)
    rcs = [x.stop() for x in nodes]
    logs = CLUSTER.logs()
    CLUSTER.close()
    assert rcs == [0, 0, 0], "exit codes %s\n%s" % (rcs, logs)


# ---- What a client sees ----

def test_every_node_lists_the_three_brokers_with_their_racks():
    CLUSTER.wait_healthy()
    want = sorted((x.id, "127.0.0.1", x.port, "az%d" % x.id) for x in CLUSTER.nodes)
    for x in CLUSTER.nodes:
        assert sorted(brokers_of(x)) == want, (x.id, brokers_of(x))
        out = run(["kcat", "-b", x.bootstrap, "-L", "-m", "5"]).stdout.decode()
        assert " 3 brokers:" in out, out
        for y in CLUSTER.nodes:
            assert "broker %d at 127.0.0.1:%d" % (y.id, y.port) in out, out


def test_topic_created_through_node2_is_visible_on_node3_with_the_same_configs():
    CLUSTER.wait_healthy()
    t0 = time.time()
    create_topic(CLUSTER.node(2), "orders", 3, configs=[("retention.ms", "3600000")])
    seen = wait_for("orders on node 3", lambda: topics_of(CLUSTER.node(3)).get(
        "orders") == (0, 3), 2.0)
    assert seen - t0 < 2.0
    for x in CLUSTER.nodes:
        admin = KafkaAdminClient(bootstrap_servers=x.bootstrap,
                                 request_timeout_ms=5000)
        try:
            res = admin.describe_configs([ConfigResource(
                ConfigResourceType.TOPIC, "orders")])
            entries = dict((e[0], e[1]) for e in res[0].resources[0][4])
        finally:
            admin.close()
        assert entries["retention.ms"] == "3600000", (x.id, entries)


def test_records_reach_every_partition_leader_through_any_bootstrap():
    CLUSTER.wait_healthy()
    create_topic(CLUSTER.node(1), "spread", 6)
    wait_for("spread everywhere", lambda: all(
        topics_of(x).get("spread") == (0, 6) for x in CLUSTER.nodes), 5)
    lines = "".join("k%d:v%d\n" % (i, i) for i in range(300))
    run(["kcat", "-b", CLUSTER.node(3).bootstrap, "-P", "-t", "spread", "-K:",
         "-X", "topic.partitioner=murmur2_random"], input=lines.encode())
    out = run(["kcat", "-b", CLUSTER.node(1).bootstrap, "-C", "-t", "spread",
               "-e", "-q", "-f", "%p %k %s\n"]).stdout.decode().split("\n")
    got = sorted(l.split(" ", 1)[1] for l in out if l)
    assert got == sorted("k%d v%d" % (i, i) for i in range(300)), got[:5]
    parts = set(int(l.split(" ")[0]) for l in out if l)
    assert parts == set(range(6)), parts


def coordinator_of(node, group, timeout=20):
    """The node id FindCoordinator names for group, asked through node;
    retried while __consumer_offsets is being created."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        with Conn(node.bootstrap, timeout=5) as c:
            last = kwire.find_coordinator_result(
                c.request(kwire.find_coordinator(group)))
        if last[0] == 0:
            return last[1]
        time.sleep(0.2)
    raise AssertionError("FindCoordinator %s through node %d: %r\n%s"
                         % (group, node.id, last, CLUSTER.logs()))


def test_groups_work_when_the_coordinator_is_not_the_bootstrap_broker():
    from kafka import KafkaConsumer, TopicPartition
    CLUSTER.wait_healthy()
    create_topic(CLUSTER.node(1), "grp-in", 3)
    wait_for("grp-in everywhere", lambda: all(
        topics_of(x).get("grp-in") == (0, 3) for x in CLUSTER.nodes), 5)
    lines = "".join("v%d\n" % i for i in range(60))
    run(["kcat", "-b", CLUSTER.node(1).bootstrap, "-P", "-t", "grp-in"],
        input=lines.encode())
    elsewhere = 0
    for x in CLUSTER.nodes:
        # a group whose coordinator is another node (which node leads a
        # group's __consumer_offsets partition depends on placement)
        for k in range(30):
            group = "readers-via-%d-%d" % (x.id, k)
            coord = coordinator_of(x, group)
            if coord != x.id:
                break
        elsewhere += coord != x.id
        consumer = KafkaConsumer("grp-in", bootstrap_servers=x.bootstrap,
                                 group_id=group, auto_offset_reset="earliest",
                                 enable_auto_commit=False,
                                 consumer_timeout_ms=15000)
        try:
            got = []
            for m in consumer:
                got.append(m.value.decode())
                if len(got) == 60:
                    break
            consumer.commit()
        finally:
            consumer.close()
        assert sorted(got) == sorted("v%d" % i for i in range(60)), (x.id, got)
        # the commit reads back through another node
        other = CLUSTER.node(x.id % 3 + 1)
        check = KafkaConsumer(bootstrap_servers=other.bootstrap, group_id=group,
                              enable_auto_commit=False)
        try:
            done = sum(check.committed(TopicPartition("grp-in", p)) or 0
                       for p in range(3))
        finally:
            check.close()
        assert done == 60, (x.id, coord, done)
    assert elsewhere >= 1, "every group's coordinator was its bootstrap node"


def test_auto_created_topic_is_decided_by_the_controller_and_seen_everywhere():
    CLUSTER.wait_healthy()
    run(["kcat", "-b", CLUSTER.node(3).bootstrap, "-P", "-t", "made-on-demand"],
        input=b"one\ntwo\n")
    wait_for("made-on-demand on every node", lambda: all(
        topics_of(x).get("made-on-demand") == (0, 3) for x in CLUSTER.nodes), 5)
    out = run(["kcat", "-b", CLUSTER.node(1).bootstrap, "-C", "-t",
               "made-on-demand", "-e", "-q"]).stdout.decode().split()
    assert sorted(out) == ["one", "two"], out


# ---- Failures ----

def test_sigkill_each_node_in_turn_leaves_a_working_cluster():
    CLUSTER.wait_healthy()
    for victim in CLUSTER.nodes:
        victim.stop(kill=True)
        survivors = [x for x in CLUSTER.nodes if x is not victim]
        for via in survivors:  # through either survivor, within 5 s
            name = "after-kill-%d-via-%d" % (victim.id, via.id)
            t0 = time.time()
            create_topic(via, name, 1, timeout=5)
            wait_for(name + " on every survivor", lambda: all(
                name in topics_of(x) for x in survivors), 5 - (time.time() - t0))
        victim.start()
        wait_for("node %d back and unfenced" % victim.id, lambda: all(
            victim.id in [b[0] for b in brokers_of(x)] for x in CLUSTER.nodes), 20)
        wait_for(name + " on the restarted node",
                 lambda: name in topics_of(victim), 10)


def test_sigstop_of_the_leader_elects_another_and_the_logs_agree():
    CLUSTER.wait_healthy()
    old, epoch = CLUSTER.leader()
    paused = CLUSTER.node(old)
    paused.signal(signal.SIGSTOP)
    try:
        others = [x for x in CLUSTER.nodes if x is not paused]
        t0 = time.time()
        new, new_epoch = CLUSTER.leader(among=others, other_than=old)
        print("new leader %d elected %.2fs after SIGSTOP of %d"
              % (new, time.time() - t0, old))
        assert new != old and new_epoch > epoch, (old, epoch, new, new_epoch)
        create_topic(others[0], "while-paused", 1, timeout=5)
        time.sleep(max(0, 15 - 2))
    finally:
        paused.signal(signal.SIGCONT)
    lid, e = CLUSTER.leader()
    assert e >= new_epoch and lid != -1
    CLUSTER.wait_healthy()
    wait_for("while-paused on the resumed node",
             lambda: "while-paused" in topics_of(paused), 10)
    # The old leader wrote nothing in its stale epoch: it had nothing to
    # truncate when it learned of the new one.
    with open(paused.log_path, errors="replace") as f:
        assert "truncated its log" not in f.read(), paused.log_tail(60)
    # Log matching: where the nodes' metadata logs overlap (a log may
    # start at a snapshot), a batch has the same base offset and epoch.
    logs = [dict(metadata_batches(x)) for x in CLUSTER.nodes]
    common = set.intersection(*(set(l) for l in logs))
    assert common and all(l[o] == logs[0][o] for l in logs for o in common), \
        [sorted(l.items())[-20:] for l in logs]


def metadata_batches(node):
    """[(base offset, epoch)] of node's __cluster_metadata-0 segments."""
    d = os.path.join(node.data, "__cluster_metadata-0")
    segs = sorted(f for f in os.listdir(d) if f.endswith(".log"))
    out = []
    for s in segs:
        data = open(os.path.join(d, s), "rb").read()
        pos = 0
        while pos + 17 <= len(data):
            base, length, epoch = kwire.struct.unpack_from(">qii", data, pos)
            if length <= 0 or pos + 12 + length > len(data):
                break
            out.append((base, epoch))
            pos += 12 + length
    return out


# ---- Snapshots ----

# Topic configs whose values may change freely: 10 ConfigRecords a topic.
KNOBS = ("delete.retention.ms", "file.delete.delay.ms", "flush.messages",
         "flush.ms", "index.interval.bytes", "max.message.bytes",
         "retention.bytes", "retention.ms", "segment.jitter.ms",
         "min.compaction.lag.ms")


def alter_many(topics, value):
    """IncrementalAlterConfigs v0: SET every knob of every topic."""
    res = []
    for t in topics:
        cs = [kwire.string(k) + kwire.i8(0) + kwire.string(str(value + i))
              for i, k in enumerate(KNOBS)]
        res.append(kwire.i8(2) + kwire.string(t) + kwire.array(cs))
    return (kwire.API_INCREMENTAL_ALTER_CONFIGS, 0,
            kwire.array(res) + kwire.i8(0))


def alter_errors(body):
    r = kwire.Reader(body, False)
    r.i32()
    return r.array(lambda: (r.i16(), r.string(), r.i8(), r.string())[0])


def log_has(node, text):
    with open(node.log_path, errors="replace") as f:
        return text in f.read()


def test_a_node_away_for_100k_metadata_records_loads_a_snapshot():
    CLUSTER.wait_healthy()
    topics = ["knob-%02d" % i for i in range(100)]
    for t in topics:
        create_topic(CLUSTER.node(1), t, 1)
    away = CLUSTER.node(3)
    assert away.stop() == 0
    writer = CLUSTER.node(1)
    rounds = 100                      # 100 x 100 topics x 10 knobs = 100k
    for r in range(rounds):
        deadline = time.time() + 10
        while True:
            with Conn(writer.bootstrap, timeout=30) as c:
                errs = alter_errors(c.request(alter_many(topics, 1000000 + r)))
            if set(errs) == {0} or time.time() > deadline:
                break
            time.sleep(0.2)           # NOT_CONTROLLER while one is elected
        assert set(errs) == {0}, (r, set(errs), CLUSTER.logs())
    # the node that was away: its end is below the leader's log start
    away.start()
    CLUSTER.wait_healthy(timeout=60)
    want = str(1000000 + rounds - 1)
    wait_for("node 3 has the last configs", lambda: describe(away, "knob-99").get(
        "delete.retention.ms") == want, 30)
    assert log_has(away, "loaded fetched snapshot"), away.log_tail(60)
    # a node restarted with its own snapshots replays only the log after one
    assert writer.stop() == 0
    writer.start()
    CLUSTER.wait_healthy(timeout=60)
    assert log_has(writer, "raft: loaded snapshot"), writer.log_tail(60)
    assert describe(writer, "knob-99").get("delete.retention.ms") == want


def describe(node, topic):
    """{name: value} of topic's configs as node answers DescribeConfigs."""
    try:
        with Conn(node.bootstrap, timeout=5) as c:
            body = c.request(kwire.describe_configs(1, topic))
        return dict((k, v) for k, v in kwire.describe_configs_entries(1, body))
    except (OSError, ValueError):
        return {}


# ---- Bad input ----

def test_quorum_and_broker_rpcs_on_a_client_listener_close_the_connection():
    CLUSTER.wait_healthy()
    before = topics_of(CLUSTER.node(1))
    for key in (kwire.API_VOTE, kwire.API_BEGIN_QUORUM_EPOCH,
                kwire.API_BROKER_REGISTRATION, kwire.API_BROKER_HEARTBEAT,
                kwire.API_ALLOCATE_PRODUCER_IDS, kwire.API_ENVELOPE):
        with Conn(CLUSTER.node(1).bootstrap) as c:
            c.send((key, 0, b"\x00" * 16))
            assert c.closed_by_peer(), key
    assert topics_of(CLUSTER.node(1)) == before
    CLUSTER.wait_healthy()


def test_a_node_of_another_cluster_is_refused():
    CLUSTER.wait_healthy()
    stranger = Node(CLUSTER, 4)
    stranger.id = 2  # pretends to be node 2, from another cluster
    stranger.write_config(CLUSTER.voters.replace(
        "2@127.0.0.1:%d" % CLUSTER.node(2).controller_port,
        "2@127.0.0.1:%d" % stranger.controller_port))
    other = run([SAMSA, "random-uuid"]).stdout.decode().strip()
    stranger.format(other)
    stranger.start()
    try:
        time.sleep(3)
        log = open(stranger.log_path, errors="replace").read()
        assert "refuses us: INCONSISTENT_CLUSTER_ID" in log, log[-3000:]
        ports = [b[2] for b in brokers_of(CLUSTER.node(1))]
        assert stranger.port not in ports
    finally:
        stranger.stop(kill=True)
    CLUSTER.wait_healthy()


def test_a_controller_whose_node_id_is_not_a_voter_does_not_start():
    stray = Node(CLUSTER, 9)
    stray.write_config(CLUSTER.voters)
    r = run([SAMSA, "broker", stray.config], check=False, timeout=20)
    err = (r.stdout + r.stderr).decode()
    assert r.returncode != 0 and "controller.quorum.voters" in err, err


if __name__ == "__main__":
    run_tests(globals(), setup=setup, teardown=teardown_every_node_stops_cleanly)
