"""Start and stop a real samsa broker for client tests, and check records.

Every client test starts its own broker on a free 127.0.0.1 port with a
temporary data directory, drives it with a real Kafka client, and stops it
(SIGTERM for a clean shutdown, SIGKILL for a crash), removing what it made.

    with Broker(overrides={"auto.create.topics.enable": "false"}) as b:
        b.bootstrap            # "127.0.0.1:PORT"
        b.restart(kill=True)   # SIGKILL, then start again on the same dir

The records every client test produces are the same: record i has key
"key-<i % 97>", a 100-byte value "value-<i>-xxx...", headers seq=<i> and
client=<name> (and "nil" with a null value where the client can send one),
and timestamp base_ts + i. expected_record builds it; check_records
compares what a consumer read with a function i -> expected record:
values, keys, headers, timestamps, every record exactly once,
per-partition order, and one partition per key.

Run a test module with run_tests(globals()): it prints one line per test and
closes with "N passed, N failed", the line tests/run.sh adds up.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.environ.get("SAMSA_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("SAMSA_BUILD", "build")
SAMSA = os.path.join(ROOT, BUILD, "samsa")
RDKAFKA_CLIENT = os.path.join(ROOT, BUILD, "tests", "clients", "rdkafka_client")
CLIENTS_DIR = os.path.join(ROOT, "tests", "clients")

KEY_SPACE = 97     # distinct keys, so records share keys and partitions
VALUE_LEN = 100    # bytes of each value


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc=None, timeout=20):
    """Wait until 127.0.0.1:port accepts; fail early if proc exits."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("exited with %s" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on port %d" % port)


def kraft_node_config(node_id, port, controller_port, voters, log_dirs):
    """The keys of a combined (broker,controller) KRaft node listening on
    127.0.0.1: PLAINTEXT on port, CONTROLLER on controller_port."""
    return {
        "node.id": str(node_id),
        "process.roles": "broker,controller",
        "listeners": "PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d"
                     % (port, controller_port),
        "advertised.listeners": "PLAINTEXT://127.0.0.1:%d" % port,
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map":
            "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.quorum.voters": voters,
        "log.dirs": log_dirs,
        # as Kafka's own config/kraft/server.properties: a test cluster
        # may be a single node (a test wanting 3 says so)
        "offsets.topic.replication.factor": "1",
    }


def write_properties(path, conf):
    with open(path, "w") as f:
        f.write("".join("%s=%s\n" % kv for kv in conf.items()))


def stop_process(proc, kill=False):
    """SIGTERM (clean) or SIGKILL (crash) proc and wait; its exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class Broker:
    """One samsa broker process with its own port and data directory."""

    def __init__(self, overrides=None):
        self.overrides = dict(overrides or {})
        self.dir = tempfile.mkdtemp(prefix="samsa-client-test-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.bootstrap = "127.0.0.1:%d" % self.port
        self.proc = None
        self.log_path = os.path.join(self.dir, "broker.log")
        self.config_path = os.path.join(self.dir, "server.properties")

    def config_lines(self):
        conf = {
            "node.id": "1",
            "listeners": "PLAINTEXT://127.0.0.1:%d" % self.port,
            "log.dirs": self.data,
            "num.partitions": "1",
            "auto.create.topics.enable": "true",
        }
        conf.update(self.overrides)
        return ["%s=%s" % kv for kv in conf.items()]

    def start(self):
        with open(self.config_path, "w") as f:
            f.write("\n".join(self.config_lines()) + "\n")
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([SAMSA, "broker", self.config_path],
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                rc, self.proc = self.proc.returncode, None
                raise RuntimeError("broker exited with %s:\n%s"
                                   % (rc, self.log_tail()))
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("broker did not listen:\n" + self.log_tail())

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, kill=False):
        """SIGTERM (clean) or SIGKILL (crash); returns the exit status."""
        if not self.proc:
            return None
        rc, self.proc = stop_process(self.proc, kill), None
        return rc

    def restart(self, kill=False):
        rc = self.stop(kill=kill)
        if not kill and rc != 0:
            raise AssertionError("clean shutdown exited %s:\n%s"
                                 % (rc, self.log_tail()))
        return self.start()

    def log_tail(self, n=40):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        rc = self.stop()
        if exc[1] is not None:
            # run_tests prints it after the traceback
            exc[1].broker_log = self.log_tail()
        shutil.rmtree(self.dir, ignore_errors=True)
        if exc[0] is None and rc not in (0, None):
            raise AssertionError("broker exited %s at shutdown" % rc)
        return False


# ---- The records every client test sends ----

def expected_record(i, client, base_ts, null_header=True):
    """(key, value, headers, timestamp) of record i, as bytes."""
    value = ("value-%d-" % i).encode()
    value += b"x" * (VALUE_LEN - len(value))
    headers = [("seq", str(i).encode()), ("client", client.encode())]
    if null_header:
        headers.append(("nil", None))
    return (("key-%d" % (i % KEY_SPACE)).encode(), value, headers,
            None if base_ts is None else base_ts + i)


def parse_records(text):
    """Canonical lines (partition, offset, timestamp, key, value, headers
    tab-separated; headers name=value joined by ','; "<null>" is null) into
    tuples (partition, offset, timestamp, key, value, headers)."""
    def blob(s):
        return None if s == "<null>" else s.encode()
    out = []
    for line in text.splitlines():
        p, o, ts, k, v, h = line.split("\t")
        hs = []
        for pair in filter(None, h.split(",")):
            name, _, val = pair.partition("=")
            hs.append((name, blob(val)))
        out.append((int(p), int(o), int(ts), blob(k), blob(v), hs))
    return out


def check_records(got, n, expect, partitions=3, ts_range=None):
    """Assert that got (tuples as parse_records returns) holds records
    0..n-1 exactly once, each as expect(i) says (a tuple like
    expected_record's), in production order within each partition, with
    each key in one partition. Where expect gives no timestamp (None) the
    producer chose it, and it must lie in ts_range."""
    seen = {}
    key_partition = {}
    for (p, off, ts, key, value, headers) in got:
        i = int(value.split(b"-")[1])
        want = expect(i)
        assert i not in seen, "record %d read twice" % i
        seen[i] = (p, off)
        assert (key, value) == want[:2], "record %d: %r" % (i, (key, value))
        assert headers == want[2], "record %d headers %r" % (i, headers)
        if want[3] is not None:
            assert ts == want[3], "record %d timestamp %d != %d" % (i, ts, want[3])
        else:
            assert ts_range[0] <= ts <= ts_range[1], "record %d ts %d" % (i, ts)
        assert key_partition.setdefault(key, p) == p, "key %r in 2 partitions" % key
        assert 0 <= p < partitions, "partition %d" % p
    missing = [i for i in range(n) if i not in seen]
    assert not missing, "%d records missing, first %s" % (len(missing), missing[:5])
    by_part = {}
    for i, (p, off) in sorted(seen.items()):
        by_part.setdefault(p, []).append(off)
    for p, offs in by_part.items():
        assert offs == sorted(offs) and len(set(offs)) == len(offs), \
            "partition %d: production order not kept" % p
    assert len(by_part) == partitions, "only partitions %s used" % sorted(by_part)


# ---- Running things ----

def run(cmd, timeout=120, check=True, **kw):
    """Run a command, return CompletedProcess; raise with its output if it
    fails and check is set."""
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError("%s exited %d\nstdout: %s\nstderr: %s" % (
            " ".join(cmd), r.returncode, r.stdout[-2000:].decode(errors="replace"),
            r.stderr[-3000:].decode(errors="replace")))
    return r


def run_tests(namespace, setup=None, teardown=None):
    """Run every test_* function of a module and print the closing line.
    setup runs first (a failure fails every test); teardown runs last and
    counts as one more test (for checks that span all the others)."""
    tests = [(n, f) for n, f in sorted(namespace.items())
             if n.startswith("test_") and callable(f)]
    only = os.environ.get("SAMSA_ONLY")
    if only:
        tests = [(n, f) for n, f in tests if only in n]
    if teardown:
        tests.append((teardown.__name__, teardown))
    passed = failed = 0
    try:
        if setup:
            setup()
    except Exception:
        traceback.print_exc(file=sys.stdout)
        tests = [(n, None) for n, _ in tests]
    for name, fn in tests:
        t0 = time.time()
        try:
            if fn is None:
                raise RuntimeError("setup failed")
            fn()
            passed += 1
            print("ok   %s (%.1fs)" % (name, time.time() - t0), flush=True)
        except Exception as e:
            failed += 1
            print("FAIL %s (%.1fs)" % (name, time.time() - t0), flush=True)
            traceback.print_exc(file=sys.stdout)
            if getattr(e, "broker_log", None):
                print("---- broker log (last lines) ----\n" + e.broker_log)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
