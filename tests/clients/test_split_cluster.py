"""Chapter 15 with real processes: a KRaft cluster with separate
controllers, as Kafka and MSK run it. Three controller-only nodes
(process.roles=controller, node.id 1..3, a CONTROLLER listener and nothing
else) form the quorum; three broker-only nodes (process.roles=broker,
node.id 4..6, a PLAINTEXT listener) observe it and hold the replicas.

Everything listens on 127.0.0.1, on free ports. One cluster serves every
test; teardown stops all six processes and checks they exit cleanly.
"""
import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import time

from confluent_kafka import (Consumer, KafkaError, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic

import kwire
from harness import (SAMSA, free_port, run, run_tests, stop_process,
                     wait_listening, write_properties)
from kwire import Conn

CLUSTER = None
TOPIC = "split"


class Proc:
    """One samsa process: a controller (ids 1..3) or a broker (4..6)."""

    def __init__(self, root, node_id):
        self.id = node_id
        self.controller = node_id <= 3
        self.port = free_port()
        self.address = "127.0.0.1:%d" % self.port
        self.data = os.path.join(root, "node%d" % node_id)
        self.config = os.path.join(root, "node%d.properties" % node_id)
        self.log_path = os.path.join(root, "node%d.log" % node_id)
        self.proc = None

    def write_config(self, voters):
        conf = {
            "node.id": str(self.id),
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map":
                "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.quorum.voters": voters,
            "log.dirs": self.data,
        }
        if self.controller:
            conf.update({"process.roles": "controller",
                         "listeners": "CONTROLLER://%s" % self.address})
        else:
            conf.update({"process.roles": "broker",
                         "listeners": "PLAINTEXT://%s" % self.address,
                         "broker.rack": "az%d" % (self.id - 3),
                         "min.insync.replicas": "2"})
        write_properties(self.config, conf)

    def start(self):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([SAMSA, "broker", self.config],
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_listening(self.port, self.proc)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, kill=False):
        rc, self.proc = (stop_process(self.proc, kill) if self.proc else None), None
        return rc

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class SplitCluster:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="samsa-split-test-")
        self.procs = [Proc(self.dir, i) for i in range(1, 7)]
        self.controllers, self.brokers = self.procs[:3], self.procs[3:]
        self.voters = ",".join("%d@%s" % (c.id, c.address)
                               for c in self.controllers)
        cid = run([SAMSA, "random-uuid"]).stdout.decode().strip()
        for p in self.procs:
            p.write_config(self.voters)
            run([SAMSA, "format", "-t", cid, "-c", p.config])

    def start(self):
        for p in self.procs:
            p.start()
        self.wait_brokers()

    def bootstrap(self):
        return ",".join(b.address for b in self.brokers if b.alive())

    def wait_brokers(self, timeout=20):
        """Every running broker lists exactly the three brokers."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if all(sorted(x[0] for x in brokers_of(b)) == [4, 5, 6]
                   for b in self.brokers):
                return
            time.sleep(0.1)
        raise AssertionError("brokers not registered:\n" + self.logs())

    def quorum_leader(self, other_than=None, timeout=20):
        """The active controller, as the running controllers agree."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            seen = set()
            for c in self.controllers:
                if not c.alive():
                    continue
                try:
                    with Conn(c.address, timeout=2) as conn:
                        err, lid, _, _ = kwire.describe_quorum_leader(
                            conn.request(kwire.describe_quorum()))
                        seen.add(lid if err in (0, 6) else None)
                except (OSError, ValueError):
                    seen.add(None)
            if len(seen) == 1 and None not in seen:
                lid = seen.pop()
                if lid > 0 and lid != other_than:
                    return lid
            time.sleep(0.1)
        raise AssertionError("no agreed controller:\n" + self.logs())

    def logs(self):
        return "\n".join("---- node %d ----\n%s" % (p.id, p.log()[-2500:])
                         for p in self.procs)

    def close(self):
        for p in self.brokers + self.controllers:
            p.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def brokers_of(proc):
    try:
        with Conn(proc.address, timeout=2) as c:
            return kwire.metadata_brokers(9, c.request(kwire.metadata(9, [])))[0]
    except (OSError, ValueError):
        return []


def listening_ports(pid):
    """The TCP ports process pid listens on (its LISTEN sockets)."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                    ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def produce(values, topic=TOPIC, timeout=30):
    """acks=all, idempotent; every value acknowledged or the test fails."""
    p = Producer({"bootstrap.servers": CLUSTER.bootstrap(), "acks": "all",
                  "enable.idempotence": True, "message.timeout.ms": 20000})
    errors = []
    for v in values:
        p.produce(topic, v.encode(), partition=int(v.split("-")[-1]) % 3,
                  on_delivery=lambda e, m: e and errors.append(e))
    left = p.flush(timeout)
    assert left == 0 and not errors, (left, errors, CLUSTER.logs())


def consume_all(topic=TOPIC):
    c = Consumer({"bootstrap.servers": CLUSTER.bootstrap(),
                  "group.id": "split-%f" % time.time(),
                  "enable.auto.commit": False})
    got = []
    try:
        c.assign([TopicPartition(topic, p, 0) for p in range(3)])
        idle = time.time() + 8
        while time.time() < idle:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got.append(m.value().decode())
                idle = time.time() + 2
    finally:
        c.close()
    return got


def create_topic(name):
    admin = AdminClient({"bootstrap.servers": CLUSTER.bootstrap()})
    deadline = time.time() + 15
    while True:  # as kafka-topics.sh: NOT_CONTROLLER (41) is retried
        fs = admin.create_topics([NewTopic(name, 3, 3)], operation_timeout=10)
        try:
            fs[name].result(20)
            break
        except KafkaException as e:
            code = e.args[0].code()
            if code == KafkaError.TOPIC_ALREADY_EXISTS:
                break  # an earlier try was committed
            if code != KafkaError.NOT_CONTROLLER or time.time() > deadline:
                raise
            time.sleep(0.2)
    while time.time() < deadline:  # every partition led, ISR of 3
        md = admin.list_topics(name, timeout=5).topics[name]
        parts = md.partitions.values()
        if len(parts) == 3 and all(p.leader > 0 and len(p.isrs) == 3
                                   for p in parts):
            return md
        time.sleep(0.2)
    raise AssertionError("topic %s not fully replicated:\n%s"
                         % (name, CLUSTER.logs()))


def setup():
    global CLUSTER
    CLUSTER = SplitCluster()
    atexit.register(CLUSTER.close)
    CLUSTER.start()
    create_topic(TOPIC)


def teardown_every_process_stops_cleanly():
    # brokers first, all at once: their controlled shutdown needs a
    # controller; then the controllers, all at once (one left alone would
    # stand for election until it is stopped anyway)
    rcs = []
    for group in (CLUSTER.brokers, CLUSTER.controllers):
        for p in group:
            if p.alive():
                p.proc.send_signal(signal.SIGTERM)
        rcs += [p.stop() for p in group]
    logs = CLUSTER.logs()
    CLUSTER.close()
    assert rcs == [0] * 6, "exit codes %s\n%s" % (rcs, logs)


# ---- What a client sees ----

def test_brokers_list_only_the_three_brokers_and_replicas_live_on_them():
    admin = AdminClient({"bootstrap.servers": CLUSTER.bootstrap()})
    md = admin.list_topics(TOPIC, timeout=5)
    assert sorted(md.brokers) == [4, 5, 6], md.brokers
    for p in md.topics[TOPIC].partitions.values():
        assert sorted(p.replicas) == [4, 5, 6], p.replicas


def test_rf3_topic_takes_acks_all_records_and_gives_them_back():
    values = ["a-%d" % i for i in range(60)]
    produce(values)
    got = consume_all()
    assert sorted(got) == sorted(values), (len(got), got[:5])


def test_a_controller_only_node_has_no_client_port():
    for c in CLUSTER.controllers:
        assert listening_ports(c.proc.pid) == {c.port}, (
            c.id, listening_ports(c.proc.pid))
        assert "started as a controller only" in c.log()
        # its one port is the quorum's: Metadata is not served there
        with Conn(c.address) as conn:
            conn.send((kwire.API_METADATA, 9, b"\x00" * 8))
            assert conn.closed_by_peer(), c.id
    for b in CLUSTER.brokers:  # and a broker-only node serves no quorum RPC
        with Conn(b.address) as conn:
            conn.send((kwire.API_VOTE, 0, b"\x00" * 16))
            assert conn.closed_by_peer(), b.id


def test_sigkill_of_the_active_controller_elects_another_and_produce_works():
    old = CLUSTER.quorum_leader()
    victim = CLUSTER.controllers[old - 1]
    victim.stop(kill=True)
    try:
        t0 = time.time()
        new = CLUSTER.quorum_leader(other_than=old)
        elected = time.time() - t0
        assert new != old and elected < 10, (old, new, elected)
        # the new controller decides: a topic created now, and the
        # brokers keep their sessions (the old topic still takes records)
        create_topic("after-failover")
        produce(["b-%d" % i for i in range(30)], topic="after-failover")
        produce(["c-%d" % i for i in range(30)])
        assert sorted(consume_all("after-failover")) == sorted(
            "b-%d" % i for i in range(30))
    finally:
        victim.start()
    assert CLUSTER.quorum_leader() in (1, 2, 3)


if __name__ == "__main__":
    run_tests(globals(), setup=setup,
              teardown=teardown_every_process_stops_cleanly)
