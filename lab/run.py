#!/usr/bin/python3
"""The lab's driver: run scenarios, check their histories, write the report.

Concept
    One scenario is one experiment: a fresh network (topology.py) and a
    fresh three-AZ cluster (cluster.py), a topic of 3 partitions, the
    workload (workload.py) writing history.jsonl, the scenario's faults
    (nemeses.py), healing, a final read, the checker (checker.py) and the
    scenario's own promises, then a row of the report and a timeline
    (report.py). Every scenario starts from nothing and leaves nothing.

Kafka / MSK
    The promises checked are Kafka's (acks=all + min.insync.replicas) and
    MSK's published figures (stalls during patching, auto-recovery); each
    scenario file names its own.

Interface
    - `lab/run.py [--short] [--seed N] [--minutes M] [SCENARIO ...]`: the
      default set, or the scenarios named (by name or number). Writes
      build/lab/<scenario>/{history.jsonl, checker.txt, timeline.svg,
      node*/broker.log} and build/lab/report.md; exits 1 when a scenario
      that ran failed. `--short` scales every duration down (make test's
      smoke); `--client-debug cgrp` logs the readers' librdkafka debug
      lines to clients.log. `lab/run.py list`; `lab/run.py clean [--run ID] [--out DIR]`
      removes leftovers of a killed run (namespaces, their processes, tmpfs
      data dirs under DIR). The run id is the driver's pid in hex (as
      topology.py names it).
    - A scenario module (lab/scenarios/NN_name.py) defines NAME, FAULT,
      NEEDS_REPLICATION, DEFAULT, optional CLUSTER (Cluster keyword
      arguments: tmpfs_mb, faketime), optional precondition(lab) -> why
      not, run(lab), optional check(lab, history, result).
    - `Lab` is what a scenario sees: .cluster .net .nemesis .history
      .topic .partitions .rf .min_isr, t(seconds) (scaled), sleep(s),
      expect(what, ok, detail), note(text), wait_isr(p, size, timeout).

Invariants
    1. A scenario whose precondition fails is "not run: <why>", never a
       verdict (report.py Invariant 2).
    2. Whatever happens (a violation, an exception, Ctrl-C), the cluster is
       closed and the network removed before the next scenario starts.
    3. The verdict is "pass" only when the checker found no violation, the
       final read was complete, and every expectation of the scenario held.

Simplifications
    Scenarios run one after another, never in parallel (2 cores).

See also
    docs/lab.md; lab/scenarios/; Makefile targets lab, lab-list, lab-clean.
"""
import argparse
import importlib.util
import os
import resource
import shutil
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import checker  # noqa: E402
import report  # noqa: E402
import topology  # noqa: E402
from cluster import Cluster, enter_clients_namespace, faketime_available  # noqa: E402
from nemeses import Nemesis, netem_works  # noqa: E402
from topology import AZS, CLIENTS, LabError, Topology  # noqa: E402

ROOT = os.path.dirname(HERE)
TOPIC = "lab"
PARTITIONS = 3
SHORT_SCALE = 0.2          # --short: every duration times this (at least 1 s)
# Writes after the last heal before they stop: the "after" rate and every
# scenario's "writes resumed" (scenarios heal and wait themselves; this is
# the common tail, 5 s until the lab was timed: 3 s show the rate as well).
TAIL_S = 3.0


def scenarios():
    """[(number, module)] of lab/scenarios/NN_name.py, in number order."""
    d = os.path.join(HERE, "scenarios")
    out = []
    for f in sorted(os.listdir(d)):
        if f[:2].isdigit() and f.endswith(".py"):
            spec = importlib.util.spec_from_file_location("scenario_" + f[:-3],
                                                          os.path.join(d, f))
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            out.append((int(f[:2]), mod))
    return out


class Lab:
    """What a scenario sees of one run."""

    def __init__(self, args, out):
        self.args, self.out = args, out
        self.notes, self.expectations = [], []
        self.net = self.cluster = self.history = self.nemesis = self.workload = None
        self.topic, self.partitions = TOPIC, PARTITIONS
        self.rf = self.min_isr = None

    def t(self, seconds):
        return max(1.0, seconds * SHORT_SCALE) if self.args.short else seconds

    def sleep(self, seconds):
        time.sleep(self.t(seconds))

    def note(self, text):
        self.notes.append(text)

    def expect(self, what, ok, detail=""):
        """A promise of the scenario; a broken one fails the verdict."""
        self.expectations.append((what, bool(ok), detail))
        self.note("%s %s%s" % ("held:" if ok else "BROKEN:", what,
                               " (%s)" % detail if detail else ""))

    def wait_isr(self, p, size, timeout):
        """Seconds until partition p's ISR has `size` members, or None."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            v = self.cluster.partitions(self.topic).get(p)
            if v and len(v[2]) >= size:
                return time.monotonic() - t0
            time.sleep(0.2)
        return None

    def leader(self, p, other_than=None, timeout=30):
        return self.cluster.leader(self.topic, p, timeout, other_than)


# ---- One scenario ----

def run_one(mod, args, samsa):
    out = os.path.join(args.out, mod.NAME)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    lab = Lab(args, out)
    row = {"scenario": mod.NAME, "fault": mod.FAULT, "notes": lab.notes}
    lab.phases, lab.phase_t0 = [], time.monotonic()
    if getattr(mod, "NEEDS_FAKETIME", False) and not faketime_available():
        row["not_run"] = "libfaketime is not installed (apt-get install faketime)"
        return row
    opts = dict(getattr(mod, "CLUSTER", {}))
    if "faketime" in opts:
        opts["faketime"] = {n: os.path.join(out, "faketime-node%d" % n)
                            for n in opts["faketime"]}
        for path in opts["faketime"].values():
            with open(path, "w") as f:
                f.write("+0s\n")
    with Topology(delay_ms=1.0) as net:
        lab.net = net
        enter_clients_namespace(net)
        if not netem_works(net):
            lab.note("this kernel has no tc netem: inter-AZ links run without "
                     "the 1 ms delay; delay and reorder are unavailable")
        lab.cluster = Cluster(net, out, samsa, **opts)
        try:
            run_in_cluster(mod, lab, row)
        except LabError as e:
            row["verdict"] = "error: %s" % str(e).splitlines()[0]
            lab.note("lab error: %s" % e)
        except Exception:
            row["verdict"] = "error: %s" % traceback.format_exc().splitlines()[-1]
            lab.note("exception:\n```\n%s```" % traceback.format_exc())
        finally:
            if lab.history:
                lab.history.close()
            if lab.workload:
                lab.workload.stop()
            lab.cluster.close()                                   # INVARIANT 2
            phase(lab, "stop")
    took = sum(s for _, s in lab.phases)
    row["took"] = took
    lab.note("took %.0f s: %s" % (took, ", ".join("%s %.1f s" % p for p in lab.phases)))
    return row


def phase(lab, name):
    """Where a scenario's wall time goes: name the part just finished."""
    now = time.monotonic()
    lab.phases.append((name, now - lab.phase_t0))
    lab.phase_t0 = now


def run_in_cluster(mod, lab, row):
    c = lab.cluster
    phase(lab, "set-up")
    c.start()
    lab.rf, lab.min_isr, why = c.create_topic(lab.topic, lab.partitions)
    phase(lab, "cluster start")
    if why:
        lab.note(why)
    if mod.NEEDS_REPLICATION and lab.rf < 3:                      # INVARIANT 1
        row["not_run"] = ("needs replication factor 3 (chapter 08); "
                          "the cluster accepts %d" % lab.rf)
        return
    why_not = getattr(mod, "precondition", lambda lab: None)(lab)
    if why_not:
        row["not_run"] = why_not
        return
    from workload import History, Workload
    lab.history = History(os.path.join(lab.out, "history.jsonl"))
    lab.nemesis = Nemesis(lab)
    lab.workload = Workload(lab.history, c, lab.topic, lab.partitions,
                            rate=lab.args.rate, debug=lab.args.client_debug,
                            debug_log=os.path.join(lab.out, "clients.log"))
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    lab.workload.start()
    time.sleep(report.WARMUP_S)      # the producers' first metadata and ids
    phase(lab, "warm-up")
    mod.run(lab)
    phase(lab, "scenario")
    heal(lab)
    c.check()
    phase(lab, "heal")
    lab.sleep(TAIL_S)
    lab.workload.stop_writes()
    cpu = (cpu_seconds() - cpu0) / max(1e-3, time.monotonic() - wall0)
    lab.workload.stop()
    phase(lab, "tail")
    final = lab.workload.final_read()
    lab.history.close()
    phase(lab, "final read")
    finish(mod, lab, row, final, cpu)
    phase(lab, "checks")


def heal(lab):
    """Undo every fault: cuts, shaping, pauses, full disks, dead nodes."""
    lab.net.heal()
    for ns in AZS + (CLIENTS,):
        lab.nemesis.undegrade(ns)
    for n in list(lab.nemesis.fillers):
        lab.nemesis.free_disk(n)
    for x in lab.cluster.processes():
        if x.paused:
            lab.cluster.resume(x.id)
        if not x.alive():
            lab.cluster.start_node(x.id)
    lab.cluster.wait_healthy(60)


def finish(mod, lab, row, final, cpu):
    """Checker, replica comparison, the scenario's own promises, the row."""
    path = os.path.join(lab.out, "history.jsonl")
    history = checker.load(path)
    result = checker.check(history)
    for p, (low, high, complete) in final.items():
        if not complete:
            lab.expect("final read of partition %d complete" % p, False,
                       "read up to the high watermark %s failed" % high)
    if lab.rf > 1:
        result.violations += replicas(lab, final)
    with open(os.path.join(lab.out, "checker.txt"), "w") as f:
        checker.report(history, result, out=f)
    if hasattr(mod, "check"):
        mod.check(lab, history, result)
    fig = report.figures(history, result)
    lab.note("replication factor %d, min.insync.replicas %d" % (lab.rf, lab.min_isr))
    lab.note("p99 ack latency %s ms; per-partition longest stall %s" % (
        "-" if fig["p99_ack_ms"] is None else "%.1f" % fig["p99_ack_ms"],
        fig["partition_stalls"]))
    for fault, stall, resumed in fig["faults"]:
        lab.note("fault `%s`: longest stall %.2f s, writes resumed %s after healing"
                 % (fault, stall, "never" if resumed is None else "%.2f s" % resumed))
    lab.note("workload driver CPU: %.0f %% of one core" % (100 * cpu))
    if result.dup_indeterminate:
        lab.note("%d indeterminate (timed-out) sends are in the log twice: "
                 "the client's epoch bump re-sent them (KIP-360; see I2 in "
                 "docs/lab.md)" % result.dup_indeterminate)
    for v in result.violations[:20]:
        lab.note("%s violated: %s" % (v.invariant, v.message))
    bad = sorted({v.invariant for v in result.violations} |
                 {w for w, ok, _ in lab.expectations if not ok})
    row.update({
        "acknowledged": result.acknowledged,
        "lost": len(result.named("I1")), "duplicated": len(result.named("I2")),
        "inconsistent offsets": len(result.named("I3")),
        "longest stall": max(fig["partition_stalls"].values(), default=0.0),
        "figures": fig,
        "verdict": "pass" if not bad else "FAIL: " + "; ".join(bad),   # INVARIANT 3
    })
    report.timeline(history, os.path.join(lab.out, "timeline.svg"),
                    "%s: %s" % (mod.NAME, mod.FAULT))


def replicas(lab, final):
    """I5 for each partition: its replicas' segment bytes below the high watermark."""
    out = []
    parts = lab.cluster.partitions(lab.topic)
    for p, (low, high, complete) in final.items():
        if p not in parts or high is None:
            continue
        dirs = [lab.cluster.node(r).data + "/%s-%d" % (lab.topic, p) for r in parts[p][1]]
        dirs = [d for d in dirs if os.path.isdir(d)]
        if len(dirs) > 1:
            out += checker.check_replicas(dirs, high)
    return out


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ---- The run ----

def clean(out, run=None):
    """Leftovers of a killed run (of every run when run is None): the
    namespaces and their processes, then the tmpfs data dirs under out."""
    topology.clean(run)
    under = os.path.realpath(out) + os.sep
    with open("/proc/mounts") as f:
        for line in f:
            src, target = line.split()[:2]
            if src == "samsa-lab-disk" and target.startswith(under):
                topology.sh(["umount", "-l", target], check=False)


def main(argv):
    ap = argparse.ArgumentParser(description="run the lab's scenarios")
    ap.add_argument("names", nargs="*", help="scenario names or numbers, "
                    "'list' or 'clean' (default: the default set)")
    ap.add_argument("--short", action="store_true", help="scale durations down")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=150.0,
                    help="offered writes per second, all producers together")
    ap.add_argument("--samsa", default=os.path.join(ROOT, "build", "samsa"))
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "lab"))
    ap.add_argument("--client-debug", metavar="CONTEXTS",
                    help="librdkafka debug contexts of the readers (e.g. cgrp), "
                    "logged to build/lab/<scenario>/clients.log")
    ap.add_argument("--run", help="clean: only this run id (default: all)")
    args = ap.parse_args(argv)
    all_ = scenarios()
    if args.names == ["list"]:
        for n, m in all_:
            print("%02d %-22s %s%s" % (n, m.NAME, m.FAULT,
                                       "" if m.DEFAULT else " (opt-in)"))
        return 0
    if args.names == ["clean"]:
        clean(args.out, args.run)
        return 0
    topology.enter_user_namespace([os.path.abspath(__file__)] + list(argv))
    if args.names:
        pick = [m for n, m in all_ if m.NAME in args.names or
                "%02d" % n in args.names or str(n) in args.names]
        unknown = set(args.names) - {m.NAME for m in pick} - \
            {"%02d" % n for n, m in all_} - {str(n) for n, m in all_}
        if unknown:
            sys.exit("run.py: no scenario %s; `lab/run.py list`" % ", ".join(sorted(unknown)))
    else:
        pick = [m for n, m in all_ if m.DEFAULT]
    os.makedirs(args.out, exist_ok=True)
    rows, failed = [], False
    t_all = time.monotonic()
    header = "samsa: %s; %s" % (args.samsa, "short run (--short)" if args.short else "full run")
    try:
        for m in pick:
            t0 = time.monotonic()
            print("lab: %s ..." % m.NAME, flush=True)
            row = run_one(m, args, args.samsa)
            rows.append(row)
            verdict = row.get("verdict") or "not run: %s" % row.get("not_run")
            print("lab: %s: %s (%.0f s)" % (m.NAME, verdict, time.monotonic() - t0), flush=True)
            failed |= not row.get("not_run") and verdict != "pass"
            if not row.get("not_run") and verdict != "pass":
                print("lab: %s: the violations with their history lines: %s" % (
                    m.NAME, os.path.join(args.out, m.NAME, "checker.txt")), flush=True)
            report.write_report(rows, os.path.join(args.out, "report.md"), header)
    except KeyboardInterrupt:
        print("lab: interrupted; cleaned up", flush=True)
        report.write_report(rows, os.path.join(args.out, "report.md"),
                            header + " (interrupted)")
        return 130
    report.write_report(rows, os.path.join(args.out, "report.md"), header +
                        "; %d scenarios in %.1f min" % (len(rows), (time.monotonic() - t_all) / 60))
    print(open(os.path.join(args.out, "report.md")).read())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
