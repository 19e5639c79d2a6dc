"""The lab's report (lab/report.py) on hand-written histories: a
partition's stall counts from the end of the warm-up and only that
partition's acks; resumed() finds the next ack; the rates before, during
and after a fault window; a "not run" row has a reason and no numbers;
the timeline is an SVG with the fault named in it.
"""
import os
import sys
import tempfile

from harness import ROOT, run_tests

sys.path.insert(0, os.path.join(ROOT, "lab"))
import checker  # noqa: E402
import report  # noqa: E402


def history():
    """Two partitions written 10/s each for 20 s; partition 0 gets no acks
    from 10 s to 14 s (its sends then are acked at 14 s), with a fault
    window [10, 13]."""
    h, n = [], 0
    for i in range(200):
        t = i * 0.1
        for p in (0, 1):
            n += 1
            v = "p%d-%d" % (p, n)
            h.append({"time": t, "process": "p%d" % p, "type": "invoke", "op": "send",
                      "topic": "lab", "partition": p, "value": v})
            ack = 14.0 if (p == 0 and 10.0 <= t < 14.0) else t + 0.01
            h.append({"time": ack, "process": "p%d" % p, "type": "ok", "op": "send",
                      "topic": "lab", "partition": p, "value": v, "offset": n})
    h.append({"time": 10.0, "process": "nemesis", "type": "info", "op": "fault-start",
              "fault": "kill -9 node 1"})
    h.append({"time": 13.0, "process": "nemesis", "type": "info", "op": "fault-end",
              "fault": "kill -9 node 1"})
    return sorted(h, key=lambda x: x["time"])


def test_partition_stall_is_per_partition_after_warm_up():
    h = history()
    s0, start, end = report.partition_stall(h, 0)
    assert 3.9 < s0 < 4.1 and 9.9 < start < 10.0 and end == 14.0, (s0, start, end)
    s1 = report.partition_stall(h, 1)[0]
    assert s1 < 0.2, s1
    early = [x for x in h if x["time"] < report.WARMUP_S] + \
        [dict(x, time=x["time"] + 100) for x in h if x["time"] >= report.WARMUP_S]
    assert report.partition_stall(early, 1)[0] < 0.2     # the warm-up gap is not counted


def test_resumed_and_rates():
    h = history()
    assert abs(report.resumed(h, 0, 13.0) - 1.0) < 1e-6
    assert report.resumed(h, 0, 99.0) is None
    f = report.figures(h, checker.check(h))
    assert 19 < f["before"] < 21, f            # 20 acks/s before
    assert f["during"] < 12, f                 # partition 0 silent in the window
    assert f["after"] > 20, f                  # its backlog lands at 14 s
    assert f["partition_stalls"][0] > 3.9 and f["faults"][0][0] == "kill -9 node 1"


def test_not_run_row_has_a_reason_and_no_numbers():
    d = tempfile.mkdtemp()
    path = os.path.join(d, "report.md")
    h = history()
    r = checker.check(h)
    rows = [{"scenario": "leader-pause", "fault": "SIGSTOP", "not_run": "needs RF 3",
             "notes": []},
            {"scenario": "baseline", "fault": "none", "acknowledged": r.acknowledged,
             "lost": 0, "duplicated": 0, "inconsistent offsets": 0, "longest stall": 4.0,
             "verdict": "pass", "figures": report.figures(h, r), "notes": ["p99"]}]
    report.write_report(rows, path)
    text = open(path).read()
    line = [x for x in text.splitlines() if x.startswith("| leader-pause")][0]
    assert "not run: needs RF 3" in line and not any(c.isdigit() for c in
                                                     line.replace("RF 3", "")), line
    line = [x for x in text.splitlines() if x.startswith("| baseline")][0]
    assert "| 400 |" in line and "| pass |" in line and "4.00 s" in line, line


def test_timeline_is_an_svg_naming_the_fault():
    path = os.path.join(tempfile.mkdtemp(), "t", "timeline.svg")
    report.timeline(history(), path, "test")
    text = open(path).read()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert "kill -9 node 1" in text


if __name__ == "__main__":
    run_tests(globals())
