"""The lab end to end, short (lab/run.py --short): the baseline and
hard-crash scenarios on a real three-AZ cluster in namespaces must pass and
leave a report, a history and a timeline; and the lab's clean-up: after a
run interrupted with SIGINT, and after one killed with SIGKILL and
`lab/run.py clean --run ID`, no namespace, process or tmpfs of that run is
left (the disk-full scenario is the one interrupted: it has all three).

Needs root (namespaces, nftables, mounts); without it the module says so
and runs nothing. Traffic stays inside the namespaces the lab makes.
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time

from harness import ROOT, SAMSA, run_tests

RUN = os.path.join(ROOT, "lab", "run.py")
PY = "/usr/bin/python3"


def lab(out, *args, **popen):
    return subprocess.Popen([PY, RUN, "--samsa", SAMSA, "--out", out] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **popen)


def test_smoke_baseline_and_hard_crash():
    out = tempfile.mkdtemp(prefix="samsa-lab-smoke-")
    try:
        p = lab(out, "--short", "baseline", "hard-crash")
        text, _ = p.communicate(timeout=150)
        assert p.returncode == 0, text[-4000:]
        report = open(os.path.join(out, "report.md")).read()
        for name in ("baseline", "hard-crash"):
            row = [line for line in report.splitlines() if line.startswith("| %s |" % name)]
            assert row and "| pass |" in row[0], report
            assert os.path.getsize(os.path.join(out, name, "timeline.svg")) > 1000
            with open(os.path.join(out, name, "history.jsonl")) as f:
                ops = [line for line in f if '"op": "final-read"' in line]
            assert len(ops) == 3, ops
        assert "kill -9 node" in open(os.path.join(out, "hard-crash", "history.jsonl")).read()
        assert leftovers(out, "%x" % (p.pid & 0xfffff)) == [], leftovers(out, None)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def leftovers(out, run):
    """What of a run (id `run`, data under out) is still there."""
    left = []
    names = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE,
                           text=True).stdout.split()
    left += [n for n in names if n.startswith("samsa-lab-%s-" % run)]
    with open("/proc/mounts") as f:
        left += [line for line in f if out in line]
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    if out.encode() in f.read():
                        left.append("process %s" % pid)
            except OSError:
                pass
    return left


def start_disk_full(out):
    """A disk-full run, once its cluster and tmpfs data dirs are up."""
    p = lab(out, "--short", "disk-full", start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        hist = os.path.join(out, "disk-full", "history.jsonl")
        if os.path.exists(hist) and os.path.getsize(hist) > 0:
            time.sleep(1)
            with open("/proc/mounts") as f:
                assert out in f.read(), "no tmpfs data dir while running"
            return p
        assert p.poll() is None, p.stdout.read()
        time.sleep(0.2)
    raise AssertionError("the run did not start its workload in 60 s")


def test_sigint_leaves_nothing():
    out = tempfile.mkdtemp(prefix="samsa-lab-int-")
    try:
        p = start_disk_full(out)
        run = "%x" % (p.pid & 0xfffff)
        assert leftovers(out, run) != []            # the test can fail
        p.send_signal(signal.SIGINT)
        text, _ = p.communicate(timeout=60)
        assert p.returncode == 130, (p.returncode, text[-3000:])
        assert leftovers(out, run) == [], leftovers(out, run)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_sigkill_then_clean_leaves_nothing():
    out = tempfile.mkdtemp(prefix="samsa-lab-kill-")
    try:
        p = start_disk_full(out)
        run = "%x" % (p.pid & 0xfffff)
        p.kill()
        p.communicate(timeout=30)
        assert leftovers(out, run) != []            # SIGKILL cannot clean up
        c = subprocess.run([PY, RUN, "--out", out, "clean", "--run", run],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert c.returncode == 0, c.stdout
        time.sleep(0.5)
        assert leftovers(out, run) == [], leftovers(out, run)
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("test_lab_smoke: needs root (namespaces, nftables, mounts); skipped")
        print("0 passed, 0 failed")
    else:
        run_tests(globals())
