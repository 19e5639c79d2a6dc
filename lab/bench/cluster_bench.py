#!/usr/bin/python3
"""make bench, chapter 07's rows: a three-node KRaft cluster on 127.0.0.1.

    /usr/bin/python3 lab/bench/cluster_bench.py --samsa build/samsa \\
        --out build/bench [--topics 50] [--elections 10]

Starts three samsa nodes (process.roles=broker,controller, Kafka's default
timeouts: controller.quorum.election.timeout.ms 1000, fetch.timeout.ms
2000), each formatted with one cluster id, in a fresh directory under --out.

  create-visible: CreateTopics of one topic with 3 partitions, sent to the
    nodes in turn; the time from sending it until Metadata on all three
    nodes lists the topic with 3 partitions (polled every millisecond).
    p50 and p99 over --topics topics.
  election: SIGKILL of the active controller (the leader DescribeQuorum
    names); the time until both survivors name the same new leader in a
    newer epoch. Median over --elections kills (the node is restarted and
    the cluster healthy again before the next).

Writes a table to the terminal and cluster.md / cluster.csv under --out.
Figures, not a pass/fail test: the target column says whether the
issue's goals were met on this machine.
"""
import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "tests", "clients"))
import kwire  # noqa: E402  (the tests' spec-based encoder)
from kwire import Conn  # noqa: E402
from harness import kraft_node_config, write_properties  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, root, samsa, node_id):
        self.samsa, self.id = samsa, node_id
        self.port, self.cport = free_port(), free_port()
        self.bootstrap = "127.0.0.1:%d" % self.port
        self.controller = "127.0.0.1:%d" % self.cport
        self.config = os.path.join(root, "node%d.properties" % node_id)
        self.data = os.path.join(root, "node%d" % node_id)
        self.log = os.path.join(root, "node%d.log" % node_id)
        self.proc = None

    def write(self, voters):
        conf = kraft_node_config(self.id, self.port, self.cport, voters,
                                 self.data)
        conf.update({"broker.rack": "az%d" % self.id, "log.level": "warn"})
        write_properties(self.config, conf)

    def start(self):
        out = open(self.log, "a")
        self.proc = subprocess.Popen([self.samsa, "broker", self.config],
                                     stdout=out, stderr=subprocess.STDOUT)
        out.close()
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("node %d did not start" % self.id)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def brokers(node):
    try:
        with Conn(node.bootstrap, timeout=2) as c:
            return [b[0] for b in kwire.metadata_brokers(
                9, c.request(kwire.metadata(9, [])))[0]]
    except (OSError, ValueError):
        return []


def has_topic(conn, name):
    return kwire.metadata_topics(9, conn.request(
        kwire.metadata(9, [name], auto_create=False))).get(name) == (0, 3)


def quorum(node):
    try:
        with Conn(node.controller, timeout=1) as c:
            err, lid, epoch, _ = kwire.describe_quorum_leader(
                c.request(kwire.describe_quorum()))
            # the leader answers 0, the others NOT_LEADER_OR_FOLLOWER (6)
            return (lid, epoch) if err in (0, 6) else None
    except (OSError, ValueError):
        return None


def healthy(nodes, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if all(sorted(brokers(x)) == [1, 2, 3] for x in nodes):
            return
        time.sleep(0.05)
    raise RuntimeError("cluster not healthy")


def leader(nodes, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        seen = set(quorum(x) for x in nodes)
        if len(seen) == 1 and None not in seen:
            lid, epoch = seen.pop()
            if lid > 0:
                return lid, epoch
        time.sleep(0.002)
    raise RuntimeError("no leader")


def bench_create(nodes, n):
    times = []
    conns = [Conn(x.bootstrap) for x in nodes]
    for i in range(n):
        name = "bench-%d" % i
        t0 = time.perf_counter()
        errs = kwire.create_topics_errors(5, conns[i % 3].request(
            kwire.create_topics(5, name, 3)))
        if errs[0][1] != 0:
            raise RuntimeError("CreateTopics %s: error %d" % (name, errs[0][1]))
        for c in conns:
            while not has_topic(c, name):
                time.sleep(0.001)
        times.append((time.perf_counter() - t0) * 1000)
    for c in conns:
        c.close()
    return times


def bench_elections(nodes, n):
    times = []
    for _ in range(n):
        healthy(nodes)
        lid, epoch = leader(nodes)
        victim = nodes[lid - 1]
        others = [x for x in nodes if x is not victim]
        t0 = time.perf_counter()
        victim.stop(signal.SIGKILL)
        while True:
            seen = set(quorum(x) for x in others)
            if len(seen) == 1 and None not in seen:
                new, e = seen.pop()
                if new > 0 and new != lid and e > epoch:
                    break
            time.sleep(0.002)
        times.append((time.perf_counter() - t0) * 1000)
        victim.start()
    return times


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samsa", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--topics", type=int, default=50)
    ap.add_argument("--elections", type=int, default=10)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    root = tempfile.mkdtemp(prefix="cluster-", dir=args.out)
    samsa = os.path.abspath(args.samsa)
    nodes = [Node(root, samsa, i + 1) for i in range(3)]
    voters = ",".join("%d@127.0.0.1:%d" % (x.id, x.cport) for x in nodes)
    cid = subprocess.run([samsa, "random-uuid"], stdout=subprocess.PIPE,
                         check=True).stdout.decode().strip()
    try:
        for x in nodes:
            x.write(voters)
            subprocess.run([samsa, "format", "-t", cid, "-c", x.config],
                           check=True, stdout=subprocess.DEVNULL)
            x.start()
        healthy(nodes)
        create = bench_create(nodes, args.topics)
        elect = bench_elections(nodes, args.elections)
    finally:
        for x in nodes:
            x.stop()
        shutil.rmtree(root, ignore_errors=True)
    rows = [
        ("create-visible p50 (ms)", pct(create, 50), "", ""),
        ("create-visible p99 (ms)", pct(create, 99), "<= 100",
         "yes" if pct(create, 99) <= 100 else "no"),
        ("new controller after SIGKILL, median (ms)", statistics.median(elect),
         "<= 2000", "yes" if statistics.median(elect) <= 2000 else "no"),
    ]
    lines = ["| measure | value | target | met |", "|---|---|---|---|"]
    lines += ["| %s | %.1f | %s | %s |" % r for r in rows]
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(args.out, "cluster.md"), "w") as f:
        f.write("# Chapter 07: a three-node KRaft cluster on 127.0.0.1\n\n"
                "%d CreateTopics (3 partitions each), %d SIGKILLs of the "
                "active controller; Kafka's default timeouts.\n\n%s\n"
                % (len(create), len(elect), text))
    with open(os.path.join(args.out, "cluster.csv"), "w") as f:
        f.write("measure,value\n")
        f.write("".join("%s,%.3f\n" % (r[0], r[1]) for r in rows))
        f.write("".join("create_ms,%.3f\n" % t for t in create))
        f.write("".join("election_ms,%.3f\n" % t for t in elect))


if __name__ == "__main__":
    main()
