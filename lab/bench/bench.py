#!/usr/bin/python3
"""make bench: samsa against a peer broker, same client, same machine.

    /usr/bin/python3 lab/bench/bench.py --samsa build/samsa \\
        --client build/bench/samsa_bench --out build/bench [--runs 3]
        [--only W1,W6] [--quick]

The client (lab/bench/bench_client.c, built as build/bench/samsa_bench) is
written on librdkafka's public API. The peer is librdkafka's own in-memory
mock cluster, started by the same program (`samsa_bench mock`). For each
workload below and each repetition, a FRESH samsa (new temporary data dir
under --out, new port on 127.0.0.1) and then a fresh peer are started, the
client runs once against each (A B A B ...), and the broker is stopped.
Figures are medians over the repetitions.

What is measured around each client run:
  - the client's own figures: one JSON line it prints at the end;
  - the broker's CPU time (all threads, /proc/PID/task/*/schedstat) at the
    client's "MARK start" and "MARK end" lines, so only the measured phase
    counts (for consume workloads: not the produce phase that fills the log);
  - the broker's peak RSS (VmHWM in /proc/PID/status) when the client ends.
Once per bench: the machine's limits (loopback TCP bandwidth, buffered
write bandwidth on the disk under --out), measured by `samsa_bench limits`.

Writes the table to the terminal and, under --out, results.md,
results.csv (medians), results-runs.csv (every run) and chart.svg.
Exits 1 if any run failed. Figures, not a pass/fail test: the "target"
column says whether the goals of the issue were met on this machine.
"""
import argparse
import csv
import ctypes
import datetime
import json
import os
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

# ---- The workloads ----
#
# Sizes: no produce run writes more than ~512 MB. This VM hands freed
# memory back to its host (virtio-balloon free page reporting) about two
# seconds after it is freed, and a page the guest touches afresh costs a
# host fault: filling the page cache goes at ~0.4-1 GB/s instead of
# several GB/s (docs/performance.md). Runs that fit in memory freed by the
# run before measure the broker; longer ones measure the hypervisor.
#
# flags: the client's flags (samsa_bench run ...), the same for both
#   brokers; --partitions P also names the topic's partition count
#   (samsa: the client creates it with --create; peer: the mock starts with
#   it). linger.ms is 5 everywhere except W6 (see its description).
# samsa_extras: server.properties lines added for samsa only.
# show: the metrics shown in the table, headline (plotted) first. Broker
#   CPU s/GB and peak RSS are shown for every workload.
# targets: the goals of the issue, metric -> (kind, arguments); see
#   check_target() for the kinds.
WORKLOADS = [
    dict(id="W1", desc="produce 100 B records, acks=1",
         flags="--mode produce --size 100 --acks 1 --records 4000000 --linger 5",
         samsa_extras={}, show=["records_per_s", "mb_per_s"],
         targets={"records_per_s": ("ratio_ge", 0.8)}),
    dict(id="W2", desc="produce 100 B records, acks=all",
         flags="--mode produce --size 100 --acks all --records 4000000 --linger 5",
         samsa_extras={}, show=["records_per_s", "mb_per_s"],
         targets={"records_per_s": ("of_workload_ge", "W1", 0.95)}),
    dict(id="W3a", desc="produce 1 KiB records, acks=1",
         flags="--mode produce --size 1024 --acks 1 --records 500000 --linger 5",
         samsa_extras={}, show=["records_per_s", "mb_per_s"],
         targets={"records_per_s": ("ratio_ge", 0.8)}),
    dict(id="W3b", desc="produce 1 KiB records, acks=all",
         flags="--mode produce --size 1024 --acks all --records 500000 --linger 5",
         samsa_extras={}, show=["records_per_s", "mb_per_s", "ack_p50_ms"],
         targets={"records_per_s": ("ratio_ge", 0.8)}),
    dict(id="W4", desc="produce 100 KB records in ~1 MB batches, acks=1",
         flags="--mode produce --size 100000 --acks 1 --records 4000 "
               "--batch-bytes 1000000 --linger 5",
         samsa_extras={}, show=["records_per_s", "mb_per_s"],
         targets={"mb_per_s": ("limit_ge", 0.4)}),
    dict(id="W5a", desc="consume 100 B records: a 4 MB log (the mock keeps "
                        "5 MiB) read from offset 0 100 times",
         flags="--mode consume --size 100 --records 4000000 --passes 100 "
               "--linger 5",
         samsa_extras={}, show=["records_per_s", "mb_per_s", "broker_cores"],
         targets={"records_per_s": ("ratio_ge", 0.8),
                  "broker_cores": ("lt", 0.3)}),
    dict(id="W5b", desc="consume 1 KiB records: a 4 MB log read from "
                        "offset 0 100 times",
         flags="--mode consume --size 1024 --records 400000 --passes 100 "
               "--linger 5",
         samsa_extras={}, show=["records_per_s", "mb_per_s", "broker_cores"],
         targets={"records_per_s": ("ratio_ge", 0.8),
                  "broker_cores": ("lt", 0.3)}),
    dict(id="W6", desc="end-to-end latency, 1 KiB at 5,000 records/s open "
                       "loop, acks=all, linger.ms=0 (with 5 ms linger every "
                       "record could wait 5 ms)",
         flags="--mode latency --size 1024 --rate 5000 --seconds 5 "
               "--acks all --linger 0",
         samsa_extras={},
         show=["e2e_p99_ms", "e2e_p50_ms", "e2e_p999_ms",
               "ack_p50_ms", "ack_p99_ms", "ack_p999_ms"],
         targets={"e2e_p50_ms": ("le", 1.5), "e2e_p99_ms": ("le", 3.5),
                  "e2e_p999_ms": ("le", 10.0)}),
    dict(id="W8", desc="durability: 1 KiB, acks=all, samsa fsyncs every "
                       "append (the mock never fsyncs)",
         flags="--mode produce --size 1024 --acks all --records 500000 --linger 5",
         samsa_extras={"log.flush.interval.messages": "1"},
         show=["records_per_s", "mb_per_s"],
         targets={"records_per_s": ("of_workload_ge", "W3b", 0.5)}),
    dict(id="W8L", desc="durability, ack latency: W6's open loop (1 KiB at "
                        "5,000 records/s, acks=all, linger.ms=0) with samsa "
                        "fsyncing every append; compared with W6's ack p50",
         flags="--mode latency --size 1024 --rate 5000 --seconds 5 "
               "--acks all --linger 0",
         samsa_extras={"log.flush.interval.messages": "1"},
         show=["ack_p50_ms", "ack_p99_ms", "ack_p999_ms", "e2e_p50_ms"],
         targets={"ack_p50_ms": ("of_workload_plus_le", "W6", 0.5)}),
    dict(id="W11", desc="scale: 16 partitions, 3 producers, 1 KiB, acks=1",
         flags="--mode produce --size 1024 --acks 1 --records 500000 "
               "--partitions 16 --producers 3 --linger 5",
         samsa_extras={}, show=["records_per_s", "mb_per_s"],
         targets={}),
]

# Goals every workload shares: broker CPU per GB and memory against the peer.
COMMON_SHOW = ["cpu_s_per_gb", "rss_mb"]
COMMON_TARGETS = {"cpu_s_per_gb": ("ratio_le", 2.0), "rss_mb": ("ratio_le", 1.0)}

# The warm-up run, once against each broker before the real ones, discarded.
WARMUP_FLAGS = "--mode produce --size 100 --acks 1 --records 200000 --linger 5"

TOPIC = "bench"
BROKERS = ("samsa", "peer")

# Metric key -> (label in the table, format, True if higher is better).
METRICS = {
    "records_per_s": ("records/s", "{:,.0f}", True),
    "mb_per_s": ("MB/s", "{:.1f}", True),
    "ack_p50_ms": ("ack p50 ms", "{:.2f}", False),
    "ack_p99_ms": ("ack p99 ms", "{:.2f}", False),
    "ack_p999_ms": ("ack p99.9 ms", "{:.2f}", False),
    "e2e_p50_ms": ("e2e p50 ms", "{:.2f}", False),
    "e2e_p99_ms": ("e2e p99 ms", "{:.2f}", False),
    "e2e_p999_ms": ("e2e p99.9 ms", "{:.2f}", False),
    "cpu_s_per_gb": ("broker CPU s/GB", "{:.2f}", False),
    "broker_cores": ("broker cores", "{:.2f}", False),
    "rss_mb": ("broker peak RSS MB", "{:.1f}", False),
}

STOP_WAIT_S = 10       # SIGTERM, then SIGKILL after this long
LISTEN_WAIT_S = 20     # how long a broker may take to accept connections
CLIENT_TIMEOUT_S = 300  # a client run longer than this is killed (a failure)
CHART_TOP = 3.3        # the chart's axis stops here; taller bars are cut
SAMSA_COLOR, PEER_COLOR = "#d9534f", "#5b7fbf"


# ---- Processes: start, watch and always stop ----

LIVE = set()   # every Popen not yet reaped, so Ctrl-C can stop them all


def spawn(argv, **kw):
    """Popen that is remembered until stop_proc reaps it."""
    p = subprocess.Popen(argv, **kw)
    LIVE.add(p)
    return p


def stop_proc(p, sig=signal.SIGTERM):
    """Signal p, wait STOP_WAIT_S, then SIGKILL; returns (exit status,
    True if it had to be killed)."""
    killed = False
    if p.poll() is None:
        try:
            p.send_signal(sig)
            p.wait(STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            killed = True
    LIVE.discard(p)
    for f in (p.stdin, p.stdout, p.stderr):
        if f:
            f.close()
    return p.returncode, killed


def stop_all():
    for p in list(LIVE):
        stop_proc(p)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, what):
    """Wait until 127.0.0.1:port accepts; fail early if proc exits."""
    deadline = time.time() + LISTEN_WAIT_S
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("%s did not listen on port %d" % (what, port))


def cpu_seconds(pid):
    """CPU time of pid, all its threads, in seconds: the sum of each
    thread's sum_exec_runtime (first field of /proc/PID/task/TID/schedstat,
    in ns). /proc/PID/stat counts in 10 ms ticks, too coarse for phases
    of a second or less."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended meanwhile
    return total / 1e9


def peak_rss_mb(pid):
    """VmHWM of pid in MB (10^6 bytes)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError("no VmHWM for pid %d" % pid)


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


# ---- The two brokers ----

class Samsa:
    """build/samsa on a free port with a new data dir, as the client tests'
    harness starts it (tests/clients/harness.py config_lines)."""
    name = "samsa"

    def __init__(self, binary, workdir, extras):
        self.binary, self.dir, self.extras = binary, workdir, extras
        self.port = free_port()
        self.bootstrap = "127.0.0.1:%d" % self.port
        self.log_path = os.path.join(workdir, "broker.log")
        self.proc = None

    def config_lines(self):
        conf = {
            "node.id": "1",
            "listeners": "PLAINTEXT://127.0.0.1:%d" % self.port,
            "log.dirs": os.path.join(self.dir, "data"),
            "num.partitions": "1",
            "auto.create.topics.enable": "true",
            "group.initial.rebalance.delay.ms": "0",
        }
        conf.update(self.extras)
        return ["%s=%s" % kv for kv in conf.items()]

    def start(self, partitions):
        config = os.path.join(self.dir, "server.properties")
        with open(config, "w") as f:
            f.write("\n".join(self.config_lines()) + "\n")
        with open(self.log_path, "ab") as log:
            self.proc = spawn([self.binary, "broker", config],
                              stdin=subprocess.DEVNULL, stdout=log,
                              stderr=subprocess.STDOUT)
        wait_listening(self.port, self.proc, "samsa")

    def client_flags(self, partitions):
        return ["--create", "--partitions", str(partitions)]


class MockPeer:
    """librdkafka's mock cluster (samsa_bench mock): it prints its address,
    then serves until SIGTERM or until its stdin closes (so it also ends if
    this script dies)."""
    name = "peer"

    def __init__(self, client, workdir):
        self.client, self.dir = client, workdir
        self.log_path = os.path.join(workdir, "mock.log")
        self.proc = None
        self.bootstrap = None

    def start(self, partitions):
        with open(self.log_path, "ab") as log:
            self.proc = spawn([self.client, "mock", "--topic",
                               "%s:%d" % (TOPIC, partitions)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=log)
        line = self.read_line()
        if not line.startswith("bootstrap "):
            raise RuntimeError("mock printed %r, not 'bootstrap HOST:PORT'"
                               % line)
        self.bootstrap = line.split()[1]
        host, port = self.bootstrap.rsplit(":", 1)
        if host not in ("127.0.0.1", "localhost"):
            raise RuntimeError("mock listens on %s, not 127.0.0.1" % host)
        wait_listening(int(port), self.proc, "mock")

    def read_line(self):
        ready, _, _ = select.select([self.proc.stdout], [], [], LISTEN_WAIT_S)
        if not ready:
            raise RuntimeError("mock printed no bootstrap line")
        return self.proc.stdout.readline().decode(errors="replace").strip()

    def client_flags(self, partitions):
        return ["--partitions", str(partitions)]


# ---- One run: a fresh broker, one client, the broker's CPU and memory ----

def partitions_of(flags):
    words = flags.split()
    return int(words[words.index("--partitions") + 1]) \
        if "--partitions" in words else 1


def without_partitions(flags):
    """The flags minus --partitions P (the broker adds it back, so it is
    given once)."""
    words = flags.split()
    if "--partitions" in words:
        i = words.index("--partitions")
        del words[i:i + 2]
    return words


def run_once(args, kind, flags, extras):
    """Start a fresh broker of kind ("samsa" or "peer"), run the client
    with flags against it, stop the broker, remove its dir. Returns a dict
    of figures, with "error" set if anything failed."""
    workdir = tempfile.mkdtemp(prefix="samsa-bench-run-", dir=args.out)
    broker = (Samsa(args.samsa, workdir, extras) if kind == "samsa"
              else MockPeer(args.client, workdir))
    result = {"error": None}
    try:
        partitions = partitions_of(flags)
        broker.start(partitions)
        argv = [args.client, "run", "--bootstrap", broker.bootstrap,
                "--topic", TOPIC] + without_partitions(flags) \
            + broker.client_flags(partitions)
        result.update(run_client(argv, broker.proc.pid, workdir))
        if broker.proc.poll() is not None:
            raise RuntimeError("broker exited with %s during the run"
                               % broker.proc.returncode)
        result["rss_mb"] = peak_rss_mb(broker.proc.pid)
        derive(result)
    except Exception as e:   # one failed run must not stop the others
        result["error"] = "%s: %s" % (type(e).__name__, e)
        log = tail(broker.log_path)
        if log:
            result["error"] += "\n  broker log:\n" + log
    finally:
        if broker.proc is not None:
            rc, killed = stop_proc(broker.proc)
            if (killed or rc != 0) and result["error"] is None:
                result["error"] = "%s exited %s at SIGTERM%s" % (
                    kind, rc, " (needed SIGKILL)" if killed else "")
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def run_client(argv, broker_pid, workdir):
    """Run the client, sampling the broker's CPU at its MARK lines; returns
    its JSON figures plus cpu_s (broker CPU seconds in the measured phase)."""
    err_path = os.path.join(workdir, "client.err")
    with open(err_path, "wb") as err:
        p = spawn(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                  stderr=err, text=True)
    timer = threading.Timer(CLIENT_TIMEOUT_S, p.kill)
    timer.start()
    marks, last = {}, None
    try:
        for line in p.stdout:
            line = line.strip()
            if line in ("MARK start", "MARK end"):
                marks[line.split()[1]] = cpu_seconds(broker_pid)
            elif line:
                last = line
        rc = p.wait()
    finally:
        timer.cancel()
        stop_proc(p, signal.SIGKILL)
    if rc != 0:
        raise RuntimeError("client exited %s: %s\n  %s" % (
            rc, " ".join(argv), tail(err_path).strip()))
    if set(marks) != {"start", "end"}:
        raise RuntimeError("client printed no MARK start/end")
    figures = json.loads(last)
    figures["cpu_s"] = marks["end"] - marks["start"]
    return figures


def derive(r):
    """Figures computed from the client's and the broker's."""
    gb = r["bytes"] / 1e9
    r["cpu_s_per_gb"] = r["cpu_s"] / gb if gb > 0 else float("nan")
    r["broker_cores"] = r["cpu_s"] / r["seconds"] if r["seconds"] > 0 \
        else float("nan")


# ---- The whole bench ----

def scaled_flags(flags, quick):
    """--quick: a tenth of the records, W6 for 2 s instead of 5."""
    if not quick:
        return flags
    words = flags.split()
    for i, w in enumerate(words[:-1]):
        if w == "--records":
            words[i + 1] = str(max(1, int(words[i + 1]) // 10))
        elif w == "--seconds":
            words[i + 1] = "2"
    return " ".join(words)


WARM_MEMORY_MB = 2048  # more than any one run writes


def warm_memory(out):
    """Write WARM_MEMORY_MB to a file under out, then delete it. On a
    virtual machine, memory the guest has never touched costs a fault in
    the host on first use: the first GB written to the page cache goes at
    ~400 MB/s, later ones at several GB/s. Without this, whichever run
    first grows the page cache is slowed 3-5x (seen here: samsa's W3 was
    bimodal, 1.3M or 0.4M records/s, with 4x the CPU in
    copy_folio_from_iter_atomic). Returns MB/s of this first write."""
    path = os.path.join(out, "warm-memory.tmp")
    chunk = b"\0" * (1 << 20)
    t0 = time.time()
    try:
        with open(path, "wb") as f:
            for _ in range(WARM_MEMORY_MB):
                f.write(chunk)
        return WARM_MEMORY_MB * (1 << 20) / 1e6 / (time.time() - t0)
    finally:
        os.unlink(path)


def measure_limits(args):
    workdir = tempfile.mkdtemp(prefix="samsa-bench-limits-", dir=args.out)
    try:
        p = spawn([args.client, "limits", "--dir", workdir],
                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        try:
            out, _ = p.communicate(timeout=CLIENT_TIMEOUT_S)
        finally:
            stop_proc(p, signal.SIGKILL)
        if p.returncode != 0:
            raise RuntimeError("samsa_bench limits exited %s" % p.returncode)
        limits = {}
        for line in out.splitlines():
            key, _, value = line.partition(" ")
            limits[key] = float(value)
        return limits
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_all(args, workloads):
    """Warm up, then for each workload and repetition samsa then peer.
    Returns runs: list of (workload id, rep, broker, result)."""
    runs = []
    for kind in BROKERS:
        r = run_once(args, kind, scaled_flags(WARMUP_FLAGS, args.quick), {})
        say("warm-up %-5s %s" % (kind, brief(r)))
        runs.append(("warm-up", 0, kind, r))
    for w in workloads:
        flags = scaled_flags(w["flags"], args.quick)
        for rep in range(1, args.runs + 1):
            for kind in BROKERS:
                t0 = time.time()
                r = run_once(args, kind, flags,
                             w["samsa_extras"] if kind == "samsa" else {})
                say("%-4s run %d %-5s %5.1fs  %s" % (
                    w["id"], rep, kind, time.time() - t0, brief(r)))
                runs.append((w["id"], rep, kind, r))
    return runs


def brief(r):
    if r["error"]:
        return "FAILED " + r["error"]
    s = "%s rec/s %.1f MB/s" % (fmt("records_per_s", r.get("records_per_s")),
                                r.get("mb_per_s", 0))
    if "e2e_p99_ms" in r:
        s += " e2e p99 %.2f ms" % r["e2e_p99_ms"]
    return s + " cpu %.2fs rss %.0fMB" % (r["cpu_s"], r["rss_mb"])


def medians(runs):
    """{(workload, broker): {metric: median over the successful runs}},
    plus the count of successful runs as "runs_ok"."""
    groups = {}
    for wid, _, kind, r in runs:
        if wid != "warm-up" and not r["error"]:
            groups.setdefault((wid, kind), []).append(r)
    out = {}
    for key, rs in groups.items():
        med = {"runs_ok": len(rs)}
        for m in METRICS:
            vals = [r[m] for r in rs if m in r]
            if vals:
                med[m] = statistics.median(vals)
        out[key] = med
    return out


# ---- Targets: the goals of the issue, met or not ----

def check_target(target, wid, metric, meds, limits):
    """(text, met) for one target; met is None when it cannot be judged."""
    kind, *a = target
    s = meds.get((wid, "samsa"), {}).get(metric)
    p = meds.get((wid, "peer"), {}).get(metric)
    if kind == "ratio_ge":
        return ">= %gx peer" % a[0], judge(s, p, lambda: s / p >= a[0])
    if kind == "ratio_le":
        return ("<= peer" if a[0] == 1 else "<= %gx peer" % a[0]), \
            judge(s, p, lambda: s <= a[0] * p)
    if kind == "le":
        return "<= %g" % a[0], judge(s, 1, lambda: s <= a[0])
    if kind == "lt":
        return "< %g" % a[0], judge(s, 1, lambda: s < a[0])
    if kind == "limit_ge":
        lim = limits.get("loopback_mb_s")
        return ">= %d%% of loopback" % (a[0] * 100), \
            judge(s, lim, lambda: s >= a[0] * lim)
    other = meds.get((a[0], "samsa"), {}).get(metric)
    if kind == "of_workload_ge":
        return ">= %gx samsa %s" % (a[1], a[0]), \
            judge(s, other, lambda: s >= a[1] * other)
    if kind == "of_workload_plus_le":
        return "<= samsa %s + %g" % (a[0], a[1]), \
            judge(s, other, lambda: s <= other + a[1])
    raise ValueError(kind)


def judge(x, y, test):
    return None if x is None or y is None else bool(test())


def target_cell(target, wid, metric, meds, limits):
    if target is None:
        return ""
    text, met = check_target(target, wid, metric, meds, limits)
    return "%s: %s" % (text, {True: "met", False: "NOT MET",
                              None: "n/a"}[met])


# ---- The table ----

HEADERS = ["workload", "metric", "samsa", "peer", "samsa/peer",
           "of loopback s / p", "target"]


def fmt(metric, v):
    return "-" if v is None else METRICS[metric][1].format(v)


def table_rows(workloads, meds, limits):
    """One row per shown metric; the workload id on its first row."""
    rows = []
    for w in workloads:
        targets = dict(COMMON_TARGETS, **w["targets"])
        s_med = meds.get((w["id"], "samsa"), {})
        p_med = meds.get((w["id"], "peer"), {})
        for i, m in enumerate(w["show"] + COMMON_SHOW):
            s, p = s_med.get(m), p_med.get(m)
            ratio = "%.2f" % (s / p) if s is not None and p else "-"
            rows.append([w["id"] if i == 0 else "", METRICS[m][0],
                         fmt(m, s), fmt(m, p), ratio,
                         limit_cell(m, s, p, limits),
                         target_cell(targets.get(m), w["id"], m, meds, limits)])
        rows.append(None)   # a rule between workloads
    return rows[:-1]


def limit_cell(metric, s, p, limits):
    lim = limits.get("loopback_mb_s")
    if metric != "mb_per_s" or not lim:
        return ""
    pct = lambda v: "-" if v is None else "%.0f%%" % (100 * v / lim)
    return "%s / %s" % (pct(s), pct(p))


def render_text(rows):
    widths = [max(len(h), *(len(r[i]) for r in rows if r))
              for i, h in enumerate(HEADERS)]
    line = lambda cells: "  ".join(
        c.ljust(wd) if i < 2 or i == len(cells) - 1 else c.rjust(wd)
        for i, (c, wd) in enumerate(zip(cells, widths))).rstrip()
    rule = "-" * len(line(HEADERS))
    out = [line(HEADERS), rule]
    out += [line(r) if r else rule for r in rows]
    return "\n".join(out)


def render_markdown(rows):
    out = ["| " + " | ".join(HEADERS) + " |",
           "|" + "|".join(["---"] * 2 + ["---:"] * 4 + ["---"]) + "|"]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |"
            for r in rows if r]
    return "\n".join(out)


# ---- Files: results.md, results.csv, results-runs.csv, chart.svg ----

REPORTED_KIB = "/sys/module/page_reporting/parameters/reported_kib"


def reported_kib():
    """KiB of freed memory this VM has handed back to its host so far
    (virtio-balloon free page reporting), or None on a machine without."""
    try:
        with open(REPORTED_KIB) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def machine_info(args):
    info = {"nproc": str(os.cpu_count()), "kernel": os.uname().release,
            "cpu": "unknown", "librdkafka": librdkafka_version(args)}
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    return info


def librdkafka_version(args):
    """rd_kafka_version_str() of the shared library the client loads, else
    the Debian package's version."""
    try:
        lib = ctypes.CDLL("librdkafka.so.1")
        lib.rd_kafka_version_str.restype = ctypes.c_char_p
        return lib.rd_kafka_version_str().decode()
    except (OSError, AttributeError):
        pass
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}",
                              "librdkafka1"], capture_output=True, text=True,
                             timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip() + " (Debian package)"
    except (OSError, subprocess.TimeoutExpired):
        pass
    return "unknown"


def write_csvs(out, runs, meds):
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["workload", "broker", "metric", "median", "runs_ok"])
        for (wid, kind), med in meds.items():
            for m in METRICS:
                if m in med:
                    w.writerow([wid, kind, m, "%.6g" % med[m], med["runs_ok"]])
    keys = ["records", "bytes", "seconds", "cpu_s"] + list(METRICS)
    with open(os.path.join(out, "results-runs.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["workload", "rep", "broker", "ok"] + keys + ["error"])
        for wid, rep, kind, r in runs:
            w.writerow([wid, rep, kind, int(not r["error"])]
                       + ["%.6g" % r[k] if k in r else "" for k in keys]
                       + [(r["error"] or "").splitlines()[0]
                          if r["error"] else ""])


def write_markdown(path, args, workloads, rows, limits, info, runs, started):
    failed = [(wid, rep, kind, r["error"]) for wid, rep, kind, r in runs
              if r["error"]]
    L = ["# samsa benchmark: samsa vs librdkafka's mock cluster", "",
         "Date: %s. Repetitions per workload and broker: %d (medians shown)%s."
         % (started, args.runs, "; --quick: a tenth of the records, W6 2 s"
            if args.quick else ""), "",
         "## Method", "",
         "- Same client (build/bench/samsa_bench, librdkafka), same settings,",
         "  same machine; runs alternate samsa, peer, samsa, peer ... after one",
         "  discarded warm-up run against each.",
         "- The peer is librdkafka's in-memory mock cluster (1 broker): it",
         "  keeps records in memory only, never writes to disk or fsyncs,",
         "  and keeps at most 5 MiB or 100,000 batches per partition,",
         "  dropping the oldest (fixed in librdkafka's rdkafka_mock.c). So its",
         "  RSS stays small whatever the workload, and a consumer reading a",
         "  longer log from offset 0 finds it gone (Offset out of range).",
         "- Every run starts a fresh broker on 127.0.0.1; samsa gets a new",
         "  temporary data dir under %s, removed after the run." % args.out,
         "- Memory and page cache warmed first: %d MiB written to a file" % WARM_MEMORY_MB,
         "  under the data dir and deleted, because on a virtual machine",
         "  memory touched for the first time is several times slower to",
         "  fill (a fault in the host per page).",
         "- Page cache: samsa's writes land in the page cache (no fsync),",
         "  except W8, started with log.flush.interval.messages=1 (an fsync",
         "  per append). Consume workloads read a log just written, so from",
         "  the page cache.",
         "- W6 and the peer: the mock answers a fetch that finds no data",
         "  only after the consumer's fetch.wait.max.ms (100 ms here) and",
         "  does not wake up when a record arrives (librdkafka's",
         "  rdkafka_mock_handlers.c says so), so its end-to-end latency is",
         "  spread over 0-100 ms. For W6 the targets are absolute figures;",
         "  the peer's column is shown, not a yardstick.",
         "- linger.ms=5 everywhere except W6 (linger.ms=0: with 5 ms linger",
         "  every record could wait up to 5 ms, above the latency targets).",
         "- Broker CPU: CPU time of every thread of the broker process",
         "  (schedstat, ns) over the measured",
         "  phase only (client MARK lines), per GB of record values moved",
         "  (MB, GB = 10^6, 10^9 bytes). Peak RSS: VmHWM at the end of a run.",
         "- The machine is shared and small: figures are indicative.", "",
         "## Machine", "",
         "- CPUs (nproc): %s; model: %s" % (info["nproc"], info["cpu"]),
         "- Kernel: %s" % info["kernel"],
         "- Freed memory handed back to the host during this bench "
         "(virtio-balloon free page reporting): %s" % (
             "%.1f GB: refilling it cost host faults, see "
             "docs/performance.md" % info["reported_gb"]
             if "reported_gb" in info else "none (no page reporting)"),
         "- librdkafka: %s" % info["librdkafka"],
         "- Loopback TCP stream: %s MB/s; buffered file write on the data "
         "disk: %s MB/s (measured in this run)" % (
             limits.get("loopback_mb_s", "?"),
             limits.get("disk_write_mb_s", "?")), "",
         "## Results", "", render_markdown(rows), "",
         "samsa/peer: above 1 is better for throughput, below 1 for ms, CPU",
         "and RSS. \"of loopback\": MB/s as a share of the loopback limit.", "",
         "![samsa vs peer](chart.svg)", "",
         "## Workloads", "",
         "| id | what | client flags | samsa extras |", "|---|---|---|---|"]
    for w in workloads:
        L.append("| %s | %s | `%s` | %s |" % (
            w["id"], w["desc"], scaled_flags(w["flags"], args.quick),
            ", ".join("%s=%s" % kv for kv in w["samsa_extras"].items())))
    L += ["", "## Failed runs", ""]
    for wid, rep, kind, err in failed:
        L += ["- %s run %s %s:" % (wid, rep, kind), "", "```", err.strip(),
              "```", ""]
    if not failed:
        L.append("None.")
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def chart_bars(workloads, meds):
    """(workload id, samsa relative to peer, samsa label, peer label) for
    the headline metric; latency is inverted so higher is better."""
    bars = []
    for w in workloads:
        m = w["show"][0]
        s = meds.get((w["id"], "samsa"), {}).get(m)
        p = meds.get((w["id"], "peer"), {}).get(m)
        if s is None or p is None or s <= 0 or p <= 0:
            bars.append((w["id"], None, "failed", "failed"))
            continue
        rel = s / p if METRICS[m][2] else p / s
        unit = "rec/s" if m == "records_per_s" else "ms p99"
        short = (lambda v: "%.0fk" % (v / 1000)) if m == "records_per_s" \
            else (lambda v: "%.2f" % v)
        bars.append((w["id"], rel, "%s %s" % (short(s), unit),
                     "%s %s" % (short(p), unit)))
    return bars


def write_svg(path, workloads, meds, subtitle):
    """Grouped bars, hand-written SVG: no plotting library needed."""
    bars = chart_bars(workloads, meds)
    # a bar far above the others (say 100x) would flatten them: the axis
    # stops at CHART_TOP and such a bar is cut, with its figure written
    top = min(CHART_TOP,
              max([1.0] + [b[1] for b in bars if b[1] is not None]) * 1.15)
    gw, bw, x0, y0, h = 110, 34, 60, 340, 250   # group, bar, origin, height
    width = x0 + gw * len(bars) + 20
    y = lambda v: y0 - h * v / top
    e = [('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="440" '
          'font-family="sans-serif" font-size="11">') % width,
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="20" font-size="14" font-weight="bold">samsa vs '
         'peer (librdkafka mock), peer = 1.0, higher is better</text>' % x0,
         '<text x="%d" y="38">Plotted: records/s relative to the peer; for '
         'W6, 1 / p99 end-to-end latency relative to the peer.</text>' % x0,
         '<text x="%d" y="54" fill="#555">%s</text>' % (x0, xml(subtitle))]
    e += axis(x0, y0, width, top, y)
    for i, (wid, rel, s_label, p_label) in enumerate(bars):
        gx = x0 + i * gw + 15
        e.append('<text x="%d" y="%d" text-anchor="middle" font-weight="bold">'
                 '%s</text>' % (gx + bw, y0 + 16, wid))
        if rel is None:
            e.append('<text x="%d" y="%d" text-anchor="middle" fill="red">'
                     'failed</text>' % (gx + bw, y0 - 10))
            continue
        e += bar(gx, min(rel, top), rel, (SAMSA_COLOR, s_label, 0), y)
        e += bar(gx + bw + 4, 1.0, 1.0, (PEER_COLOR, p_label, 1), y)
    e += legend(x0, 415)
    e.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(e) + "\n")


def axis(x0, y0, width, top, y):
    e = []
    step = 0.5 if top <= 3 else 1.0
    v = 0.0
    while v <= top:
        e.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>'
                 % (x0, y(v), width - 10, y(v)))
        e.append('<text x="%d" y="%.1f" text-anchor="end">%.1f</text>'
                 % (x0 - 5, y(v) + 4, v))
        v += step
    e.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>'
             % (x0, y0, width - 10, y0))
    return e


def bar(x, shown, value, style, y):
    """One bar of height shown (value, cut at the axis top if larger) with
    value above it and the absolute figure under the axis; style is
    (colour, figure, row of the figure: 0 samsa, 1 peer)."""
    color, label, row = style
    e = ['<rect x="%d" y="%.1f" width="34" height="%.1f" fill="%s"/>'
         % (x, y(shown), y(0) - y(shown), color),
         '<text x="%d" y="%.1f" text-anchor="middle">%s</text>'
         % (x + 17, y(shown) - 4, "%.2f" % value if value < 10
            else "%.0f" % value),
         '<text x="%d" y="%.1f" text-anchor="middle" font-size="9" '
         'fill="#555">%s</text>' % (x + 17, y(0) + 30 + 11 * row, xml(label))]
    if value > shown:   # cut: a white zigzag across the top of the bar
        e.append('<polyline points="%d,%.1f %d,%.1f %d,%.1f %d,%.1f" '
                 'fill="none" stroke="white" stroke-width="3"/>' % (
                     x - 1, y(shown) + 14, x + 12, y(shown) + 8,
                     x + 24, y(shown) + 16, x + 35, y(shown) + 10))
    return e


def legend(x, yl):
    return ['<rect x="%d" y="%d" width="12" height="12" fill="%s"/>'
            % (x, yl - 10, SAMSA_COLOR),
            '<text x="%d" y="%d">samsa</text>' % (x + 16, yl),
            '<rect x="%d" y="%d" width="12" height="12" fill="%s"/>'
            % (x + 70, yl - 10, PEER_COLOR),
            '<text x="%d" y="%d">peer: librdkafka mock cluster</text>'
            % (x + 86, yl),
            '<text x="%d" y="%d" fill="#555">Under each group: samsa\'s '
            'figure, then the peer\'s.</text>' % (x + 300, yl)]


def xml(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---- main ----

def say(msg):
    print(msg, flush=True)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samsa", default="build/samsa")
    ap.add_argument("--client", default="build/bench/samsa_bench")
    ap.add_argument("--out", default="build/bench")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="", help="e.g. W1,W6")
    ap.add_argument("--quick", action="store_true",
                    help="a tenth of the records (smoke test)")
    args = ap.parse_args()
    ids = [w["id"] for w in WORKLOADS]
    only = [x for x in args.only.split(",") if x]
    bad = [x for x in only if x not in ids]
    if bad or args.runs < 1:
        ap.error("unknown workload %s (known: %s)" % (bad, ",".join(ids))
                 if bad else "--runs must be >= 1")
    args.workloads = [w for w in WORKLOADS if not only or w["id"] in only]
    args.out = os.path.abspath(args.out)
    return args


def remove_stale_dirs(out):
    """Data dirs a killed bench (SIGKILL: no finally) left behind."""
    for name in os.listdir(out):
        if name.startswith(("samsa-bench-run-", "samsa-bench-limits-")):
            shutil.rmtree(os.path.join(out, name), ignore_errors=True)


def on_signal(signum, frame):
    """Ctrl-C, SIGTERM, SIGHUP: unwind, so every finally stops its process."""
    raise KeyboardInterrupt


def main():
    args = parse_args()
    os.makedirs(args.out, exist_ok=True)
    remove_stale_dirs(args.out)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    started = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    t0 = time.time()
    handed_back = reported_kib()
    try:
        warm = warm_memory(args.out)
        say("page cache warmed: %d MiB written and deleted (%.0f MB/s)" % (
            WARM_MEMORY_MB, warm))
        limits = measure_limits(args)
        say("limits: loopback %.0f MB/s, buffered disk write %.0f MB/s" % (
            limits.get("loopback_mb_s", 0), limits.get("disk_write_mb_s", 0)))
        runs = run_all(args, args.workloads)
    except KeyboardInterrupt:
        say("interrupted: stopping every process started")
        return 130
    finally:
        stop_all()
    meds = medians(runs)
    rows = table_rows(args.workloads, meds, limits)
    info = machine_info(args)
    if handed_back is not None:
        info["reported_gb"] = (reported_kib() - handed_back) * 1024 / 1e9
    say("\n" + render_text(rows))
    say("\nsamsa/peer: above 1 is better for throughput, below 1 for ms, "
        "CPU and RSS.\nPage cache: fresh data dir per run, writes go to the "
        "page cache (no fsync except W8).")
    write_csvs(args.out, runs, meds)
    write_markdown(os.path.join(args.out, "results.md"), args, args.workloads,
                   rows, limits, info, runs, started)
    subtitle = "%s, %d run(s) each%s, %s CPUs, librdkafka %s" % (
        started, args.runs, " (quick)" if args.quick else "", info["nproc"],
        info["librdkafka"])
    write_svg(os.path.join(args.out, "chart.svg"), args.workloads, meds,
              subtitle)
    failed = sum(1 for run in runs if run[3]["error"])
    say("\nwrote %s/results.md, results.csv, results-runs.csv, chart.svg "
        "(%.0f s)" % (args.out, time.time() - t0))
    if failed:
        say("%d run(s) FAILED (see results.md)" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
