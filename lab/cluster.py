#!/usr/bin/python3
"""The lab's cluster: three samsa nodes, one per AZ namespace, that the lab can hurt.

Concept
    A three-AZ Kafka cluster in miniature. Node N (N = 1..3) is a combined
    broker+controller (process.roles=broker,controller, like MSK's KRaft
    mode) living in namespace azN at 10.212.N.2, with broker.rack=azN,
    PLAINTEXT on 9092 and CONTROLLER on 9093. The runner starts, stops and
    breaks them on request (SIGTERM, SIGKILL, SIGSTOP/SIGCONT, wipe), and
    answers the questions a scenario asks: who leads partition p, what is
    its ISR, which node is the active controller.
    With `split_controllers=True` each AZ holds two processes instead, as
    Kafka and MSK run KRaft: broker N (process.roles=broker, PLAINTEXT on
    9092) and controller 10N (process.roles=controller, CONTROLLER on 9093
    only), so losing brokers does not lose the quorum.

Kafka / MSK
    MSK places one broker per AZ and sets broker.rack to the AZ; a topic of
    replication factor 3 with min.insync.replicas=2 and acks=all survives
    the loss of one AZ without losing an acknowledged record (chapter 08).
    `samsa format -t <cluster-id> -c <props>` is kafka-storage.sh format;
    `samsa broker <props>` is kafka-server-start.sh.

Interface
    - `Cluster(net, directory)` for a Topology `net`; `start()` formats and
      starts all three and waits until each lists three unfenced brokers.
      `close()` resumes, stops and unmounts everything it made.
    - `stop(n)` SIGTERM (controlled shutdown), `kill(n)` SIGKILL, `pause(n)`
      SIGSTOP, `resume(n)` SIGCONT, `start_node(n)`, `restart(n, kill=)`,
      `wipe(n)`: empty the data dir and format it again with the same
      node id and cluster id (a stopped node only).
    - `Cluster(..., tmpfs_mb={n: MiB})` puts node n's data dir on a tmpfs of
      that size (the disk-full nemesis fills it); `faketime={n: spec}`
      starts node n under libfaketime (clock skew) when it is installed.
    - `Cluster(..., split_controllers=True)`: node(n) for n = 1..3 is the
      broker of AZ n, node(100 + n) its controller; `nodes` are the
      brokers, `controllers` the controller-only processes (empty when
      combined); stop/kill/pause/start_node take either id.
    - `create_topic(name, partitions)` asks for replication factor 3 and
      min.insync.replicas=2 and falls back to what the cluster accepts;
      it returns (rf, min_isr, note) and the note says why it fell back.
    - `partitions(topic)` {p: (leader, replicas, isr)} from Metadata;
      `controller()` the active controller's id from DescribeQuorum;
      `coordinator(group)` the group's coordinator from FindCoordinator.
    - Call `enter_clients_namespace(net)` once, before any Kafka client is
      made: the driver's threads then talk from the clients AZ.

Invariants
    1. Every node process was started by this runner, inside its AZ's
       namespace, and listens only on its AZ's lab address.
    2. A node is wiped only while stopped, and comes back with its own
       node.id and the cluster's one cluster id.
    3. Every tmpfs mounted here is unmounted by close(), also after errors.

Simplifications
    Fixed ports; metadata
    is read through confluent-kafka's AdminClient, the quorum through a
    raw DescribeQuorum (tests/clients/kwire.py).

See also
    docs/lab.md; lab/topology.py; lab/nemeses.py; tests/clients/test_cluster.py.
"""
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "clients"))
import kwire  # noqa: E402

from topology import AZS, LabError, sh  # noqa: E402

PORT = 9092                     # PLAINTEXT, on every AZ address
CONTROLLER_PORT = 9093          # CONTROLLER (KRaft quorum)
CLOSE_GRACE_S = 1.0           # close(): SIGTERM, then SIGKILL after this (s)
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
CLONE_NEWNET = 0x40000000
KAFKA_ERR_INVALID_REPLICATION_FACTOR = 38
KAFKA_ERR_NOT_LEADER_OR_FOLLOWER = 6


def enter_clients_namespace(net):
    """Move this process (its calling thread, and every thread it starts
    later) into the clients namespace: setns(2) on /run/netns/<name>."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/run/netns/%s" % net.ns("clients")) as f:
        if libc.setns(f.fileno(), CLONE_NEWNET) != 0:
            raise LabError("setns(clients): %s" % os.strerror(ctypes.get_errno()))


def faketime_available():
    return os.path.exists(FAKETIME_LIB)


class Node:
    """One samsa process: node.id n in AZ az{n % 100} (Invariant 1); its
    roles: "broker,controller", "broker" or "controller"."""

    def __init__(self, cluster, n, roles="broker,controller"):
        self.cluster, self.id, self.az = cluster, n, AZS[n % 100 - 1]
        self.roles = roles
        self.addr = cluster.net.addr(self.az)
        self.bootstrap = "%s:%d" % (self.addr, PORT)
        self.controller = "%s:%d" % (self.addr, CONTROLLER_PORT)
        self.dir = os.path.join(cluster.dir, "node%d" % n)
        self.data = os.path.join(self.dir, "data")
        self.config = os.path.join(self.dir, "server.properties")
        self.log_path = os.path.join(self.dir, "broker.log")
        self.proc = None
        self.paused = False
        self.mounted = False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


class Cluster:
    """Three nodes, one cluster id, in the namespaces of `net`."""

    def __init__(self, net, directory, samsa, overrides=None, tmpfs_mb=None,
                 faketime=None, split_controllers=False):
        self.net, self.dir, self.samsa = net, directory, samsa
        self.overrides = dict(overrides or {})
        self.tmpfs_mb = dict(tmpfs_mb or {})
        self.faketime = dict(faketime or {})
        if split_controllers:
            self.nodes = [Node(self, n, "broker") for n in (1, 2, 3)]
            self.controllers = [Node(self, 100 + n, "controller")
                                for n in (1, 2, 3)]
        else:
            self.nodes = [Node(self, n) for n in (1, 2, 3)]
            self.controllers = []
        voters = self.controllers or self.nodes
        self.voters = ",".join("%d@%s" % (x.id, x.controller) for x in voters)
        self.cluster_id = sh([samsa, "random-uuid"]).strip()
        self.admin_client = None

    def node(self, n):
        return (self.nodes + self.controllers)[n - 1 if n < 100 else n - 98]

    def processes(self):
        """Every process of the cluster: brokers, then controllers."""
        return self.nodes + self.controllers

    def bootstrap(self):
        return ",".join(x.bootstrap for x in self.nodes)

    # ---- Lifecycle ----

    def start(self, timeout=40):
        os.makedirs(self.dir, exist_ok=True)
        for x in self.processes():
            os.makedirs(x.dir, exist_ok=True)
            if x.id in self.tmpfs_mb:
                os.makedirs(x.data, exist_ok=True)
                sh(["mount", "-t", "tmpfs", "-o", "size=%dm" % self.tmpfs_mb[x.id],
                    "samsa-lab-disk", x.data])
                x.mounted = True
            self.write_config(x)
            self.format(x)
        for x in self.controllers + self.nodes:
            self.start_node(x.id)
        self.wait_healthy(timeout)
        return self

    def write_config(self, x):
        listeners = {"broker,controller": "PLAINTEXT://%s,CONTROLLER://%s"
                     % (x.bootstrap, x.controller),
                     "broker": "PLAINTEXT://%s" % x.bootstrap,
                     "controller": "CONTROLLER://%s" % x.controller}
        conf = {
            "node.id": str(x.id),
            "process.roles": x.roles,
            "listeners": listeners[x.roles],
            "advertised.listeners": "PLAINTEXT://%s" % x.bootstrap,
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.quorum.voters": self.voters,
            "log.dirs": x.data,
            "broker.rack": x.az,
            "num.partitions": "3",
            "auto.create.topics.enable": "false",
        }
        conf.update(self.overrides)
        if x.roles == "controller":  # KAFKA: no broker listener to advertise
            del conf["advertised.listeners"], conf["inter.broker.listener.name"]
        with open(x.config, "w") as f:
            f.write("".join("%s=%s\n" % kv for kv in conf.items()))

    def format(self, x):
        sh([self.samsa, "format", "-t", self.cluster_id, "-c", x.config,
            "--ignore-formatted"])

    def start_node(self, n):
        """Start node n in its AZ (under libfaketime when asked)."""
        x = self.node(n)
        if x.alive():
            return
        argv = [self.samsa, "broker", x.config]
        if n in self.faketime and faketime_available():
            argv = ["env", "LD_PRELOAD=" + FAKETIME_LIB,
                    "FAKETIME_TIMESTAMP_FILE=" + self.faketime[n],
                    "FAKETIME_CACHE_DURATION=1",
                    "FAKETIME_DONT_FAKE_MONOTONIC=1"] + argv
        log = open(x.log_path, "a")
        log.write("==== lab: start node %d at %.3f\n" % (n, time.monotonic()))
        log.flush()
        x.proc = self.net.spawn(x.az, argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        x.paused = False

    def stop(self, n, timeout=30):
        """SIGTERM: Kafka's controlled shutdown. Returns the exit status."""
        return self.signal_wait(n, signal.SIGTERM, timeout)

    def kill(self, n):
        return self.signal_wait(n, signal.SIGKILL, 10)

    def signal_wait(self, n, sig, timeout):
        x = self.node(n)
        if not x.alive():
            return None
        if x.paused:
            x.proc.send_signal(signal.SIGCONT)
            x.paused = False
        x.proc.send_signal(sig)
        try:
            return x.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            x.proc.kill()
            return x.proc.wait()

    def pause(self, n):
        self.node(n).proc.send_signal(signal.SIGSTOP)
        self.node(n).paused = True

    def resume(self, n):
        self.node(n).proc.send_signal(signal.SIGCONT)
        self.node(n).paused = False

    def restart(self, n, kill=False, down_s=0.0):
        self.kill(n) if kill else self.stop(n)
        time.sleep(down_s)
        self.start_node(n)

    def wipe(self, n):
        """Empty node n's data dir and format it again, same node.id and
        cluster id (Invariant 2): MSK's replacement of a failed broker."""
        x = self.node(n)
        assert not x.alive(), "wipe a stopped node only"   # INVARIANT 2
        for name in os.listdir(x.data):
            path = os.path.join(x.data, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
        self.format(x)

    def close(self, grace=CLOSE_GRACE_S):
        """Resume paused nodes, stop every node (SIGTERM to all, then wait;
        SIGKILL after `grace` s), unmount (Invariant 3). Brokers go before
        separate controllers: their controlled shutdown asks a controller.
        The run is over when this is called (its data read and checked),
        and three brokers stopping at once cannot move their leaderships
        anywhere: their controlled shutdowns would only wait out their
        timeout (about 9 s a scenario), so the grace is short."""
        for group in (self.nodes, self.controllers):
            live = [x for x in group if x.alive()]
            for x in live:
                x.proc.send_signal(signal.SIGCONT)
                x.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + grace
            for x in live:
                try:
                    x.proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    x.proc.kill()
                    x.proc.wait()
        for x in self.processes():
            if x.mounted:
                sh(["umount", "-l", x.data], check=False)
                x.mounted = False

    def check(self):
        """Assert Invariants 1 and 3 (tests call it)."""
        for x in self.processes():
            if x.alive():
                inside = sh(["ip", "netns", "pids", self.net.ns(x.az)]).split()
                assert str(x.proc.pid) in inside, (x.id, inside)     # INVARIANT 1
            assert x.mounted == os.path.ismount(x.data), x.data       # INVARIANT 3

    # ---- Questions ----

    def admin(self):
        from confluent_kafka.admin import AdminClient
        if self.admin_client is None:
            self.admin_client = AdminClient({
                "bootstrap.servers": self.bootstrap(),
                "socket.timeout.ms": 2000,
                "topic.metadata.refresh.interval.ms": 1000})
        return self.admin_client

    def brokers(self, timeout=2.0):
        """Broker ids the cluster's Metadata lists (unfenced brokers)."""
        md = self.admin().list_topics(timeout=timeout)
        return sorted(md.brokers)

    def wait_healthy(self, timeout=40):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            for x in self.nodes:
                if x.proc is not None and x.proc.poll() is not None:
                    raise LabError("node %d exited %s:\n%s" % (
                        x.id, x.proc.returncode, x.log_tail()))
            try:
                last = self.brokers()
                if last == [1, 2, 3]:
                    return
            except Exception as e:          # KafkaException: not up yet
                last = str(e)
            time.sleep(0.2)
        raise LabError("cluster not healthy after %ds (brokers %s):\n%s" % (
            timeout, last, self.logs()))

    def create_topic(self, name, partitions, rf=3, min_isr=2):
        """Create the workload's topic: RF 3, min.insync.replicas 2, or
        what the cluster accepts. Returns (rf, min_isr, note)."""
        from confluent_kafka.admin import NewTopic
        note = ""
        while True:
            t = NewTopic(name, partitions, rf,
                         config={"min.insync.replicas": str(min_isr)})
            fut = self.admin().create_topics([t], request_timeout=10)[name]
            try:
                fut.result(15)
                break
            except Exception as e:
                err = e.args[0] if e.args else None
                code = err.code() if hasattr(err, "code") else None
                if code == KAFKA_ERR_INVALID_REPLICATION_FACTOR and rf > 1:
                    note = ("the cluster refused replication factor %d (%s); "
                            "the lab runs with replication factor 1 and "
                            "min.insync.replicas 1" % (rf, err.str()))
                    rf, min_isr = 1, 1
                    continue
                raise LabError("CreateTopics %s: %s" % (name, e))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            parts = self.partitions(name)
            if len(parts) == partitions and all(v[0] >= 0 for v in parts.values()):
                return rf, min_isr, note
            time.sleep(0.2)
        raise LabError("topic %s has no leaders after 20 s" % name)

    def partitions(self, topic, timeout=2.0):
        """{partition: (leader, replicas, isr)}; {} when nobody answers."""
        try:
            md = self.admin().list_topics(topic, timeout=timeout)
        except Exception:
            return {}
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            return {}
        return {p: (v.leader, list(v.replicas), list(v.isrs))
                for p, v in t.partitions.items()}

    def leader(self, topic, partition, timeout=10.0, other_than=None):
        """The id leading topic-partition (and not other_than), waiting."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = self.partitions(topic).get(partition)
            if v and v[0] > 0 and v[0] != other_than:
                return v[0]
            time.sleep(0.2)
        return None

    def controller(self):
        """The active controller's id as a running voter answers it, or None."""
        for x in self.controllers or self.nodes:
            if not x.alive() or x.paused:
                continue
            try:
                with kwire.Conn(x.controller, timeout=1.0) as c:
                    err, lid, epoch, _ = kwire.describe_quorum_leader(
                        c.request(kwire.describe_quorum()))
                if err in (0, KAFKA_ERR_NOT_LEADER_OR_FOLLOWER) and lid > 0:
                    return lid
            except (OSError, ValueError):
                continue
        return None

    def coordinator(self, group):
        """The node id coordinating `group` (FindCoordinator), or None."""
        for x in self.nodes:
            if not x.alive() or x.paused:
                continue
            try:
                with kwire.Conn(x.bootstrap, timeout=2.0) as c:
                    err, node, _, _ = kwire.find_coordinator_result(
                        c.request(kwire.find_coordinator(group)))
                if err == 0:
                    return node
            except (OSError, ValueError):
                continue
        return None

    def partition_dirs(self, topic, partition):
        return [os.path.join(x.data, "%s-%d" % (topic, partition)) for x in self.nodes]

    def logs(self):
        return "\n".join("---- node %d (%s) ----\n%s" % (x.id, x.az, x.log_tail())
                         for x in self.processes())
