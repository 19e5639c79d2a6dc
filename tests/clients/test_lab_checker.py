"""The lab's checker (lab/checker.py) on hand-written histories: each
invariant's violation is caught and named (a lost write, a duplicate, a
reordered pair, an offset holding two values, a failed write that appears,
an acknowledged offset holding another value), clean histories pass
(indeterminate writes may or may not appear), the stall figures of a
synthetic history, and I5 over segment directories built with
tests/kbatch.py.
"""
import json
import os
import subprocess
import sys
import tempfile

from harness import ROOT, run_tests

sys.path.insert(0, os.path.join(ROOT, "lab"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import checker  # noqa: E402
import kbatch   # noqa: E402

CHECKER = os.path.join(ROOT, "lab", "checker.py")


class History:
    """Builds a history one event at a time; time advances 0.1 s per event."""

    def __init__(self):
        self.events, self.t = [], 0.0

    def add(self, **e):
        self.t = e.pop("time", self.t + 0.1)
        self.events.append(dict(time=round(self.t, 3), **e))
        return self

    def send(self, process, value, status="ok", offset=None, partition=0):
        self.add(process=process, type="invoke", op="send", topic="t",
                 partition=partition, value=value, producer_id=1)
        end = dict(process=process, type=status, op="send", topic="t",
                   partition=partition, value=value)
        if offset is not None:
            end["offset"] = offset
        return self.add(**end)

    def read(self, partition, records, op="read"):
        return self.add(process="reader", type="ok", op=op, topic="t",
                        partition=partition, records=[list(r) for r in records])

    def final(self, partition, values):
        return self.read(partition, enumerate(values), op="final-read")

    def check(self):
        """Through a file, as the lab will: write history.jsonl, load, check."""
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            f.write("".join(json.dumps(e) + "\n" for e in self.events))
        try:
            return checker.check(checker.load(f.name))
        finally:
            os.unlink(f.name)


def invariants(result):
    return sorted({v.invariant for v in result.violations})


# ---- Clean histories ----

def test_clean_history_passes():
    h = History()
    h.send("p1", "a", offset=0).send("p1", "b", offset=1)
    h.send("p2", "c", offset=0, partition=1)
    h.read(0, [(0, "a"), (1, "b")])
    h.send("p1", "d", offset=2)
    h.final(0, ["a", "b", "d"]).final(1, ["c"])
    r = h.check()
    assert r.violations == [] and r.acknowledged == 4, r.violations


def test_indeterminate_writes_may_or_may_not_appear():
    h = History()
    h.send("p1", "a", offset=0)
    h.send("p1", "maybe-in", status="info")       # timed out, but landed
    h.send("p1", "maybe-out", status="info")      # timed out, never landed
    h.add(process="p1", type="invoke", op="send", topic="t", partition=0,
          value="never-completed")                # the run ended first
    h.send("p1", "b", offset=2)
    h.final(0, ["a", "maybe-in", "b"])
    r = h.check()
    assert r.violations == [] and r.acknowledged == 2, r.violations


def test_non_idempotent_producer_may_duplicate():
    h = History()
    h.add(process="p1", type="invoke", op="send", topic="t", partition=0,
          value="a", idempotent=False)
    h.add(process="p1", type="ok", op="send", topic="t", partition=0,
          value="a", offset=0)
    h.final(0, ["a", "a"])
    assert h.check().violations == []


def test_an_indeterminate_send_may_repeat_after_an_epoch_bump():
    h = History().send("p1", "a", offset=0).send("p1", "b", status="info")
    h.final(0, ["a", "b", "b"])
    r = h.check()
    assert r.violations == [] and r.dup_indeterminate == 1, r.violations


def test_a_send_in_flight_at_an_epoch_bump_may_repeat_even_if_acknowledged():
    h = History()
    h.add(process="p1", type="invoke", op="send", topic="t", partition=0,
          value="a", producer_id=1)
    h.add(process="p1", type="invoke", op="send", topic="t", partition=1,
          value="b", producer_id=1)
    h.add(process="p1", type="info", op="send", topic="t", partition=0,
          value="a")                      # a times out: the epoch is bumped
    h.add(process="p1", type="ok", op="send", topic="t", partition=1,
          value="b", offset=1)            # b, in flight, re-sent and acked
    h.final(0, []).final(1, ["b", "b"])
    r = h.check()
    assert r.violations == [] and r.dup_indeterminate == 1, r.violations
    # an acknowledged send that began after the bump is judged
    h.send("p1", "c", offset=2, partition=1).final(1, ["b", "b", "c", "c"])
    assert invariants(h.check()) == ["I2"]


# ---- Each invariant caught ----

def test_lost_write_is_I1():
    h = History().send("p1", "a", offset=0).send("p1", "b", offset=1)
    h.final(0, ["a"])
    r = h.check()
    assert invariants(r) == ["I1"] and "'b'" in r.violations[0].message, r.violations


def test_duplicate_is_I2():
    h = History().send("p1", "a", offset=0).send("p1", "b", offset=1)
    h.final(0, ["a", "b", "b"])
    r = h.check()
    assert invariants(r) == ["I2"], r.violations
    assert "[1, 2]" in r.violations[0].message, r.violations[0]


def test_reordered_pair_is_I4():
    h = History()          # indeterminate sends: no offsets, so only order
    h.send("p1", "a", status="info").send("p1", "b", status="info")
    h.send("p2", "c", status="info")
    h.final(0, ["b", "c", "a"])
    r = h.check()
    assert invariants(r) == ["I4"], r.violations
    assert "'a' before 'b'" in r.violations[0].message, r.violations[0]


def test_offset_holding_two_values_is_I3():
    h = History().send("p1", "a", status="info")
    h.read(0, [(0, "a")])          # a tail reader saw a at offset 0
    h.send("p2", "x", offset=0)    # later the same offset holds x
    h.final(0, ["x"])
    r = h.check()
    assert "I3" in invariants(r), r.violations
    assert any("offset 0 read as 'a' and as 'x'" in v.message for v in r.violations)


def test_failed_write_that_appears_is_I6():
    h = History().send("p1", "a", offset=0).send("p1", "b", status="fail")
    h.final(0, ["a", "b"])
    r = h.check()
    assert invariants(r) == ["I6"], r.violations


def test_acknowledged_offset_holding_another_value_is_I3():
    h = History().send("p1", "a", offset=0).send("p2", "z", status="info")
    h.final(0, ["z", "a"])
    r = h.check()
    assert invariants(r) == ["I3"], r.violations
    assert any("acknowledged at t-0 offset 0, which holds 'z'" in v.message
               for v in r.violations), r.violations


def test_report_shows_offending_and_surrounding_lines():
    h = History()
    for i in range(6):
        h.send("p1", "v%d" % i, offset=i)
    h.read(0, [(i, "v%d" % i) for i in range(6) if i != 3], op="final-read")
    path = tempfile.mktemp(suffix=".jsonl")
    with open(path, "w") as f:
        f.write("".join(json.dumps(e) + "\n" for e in h.events))
    try:
        r = subprocess.run([sys.executable, CHECKER, path], capture_output=True, text=True)
    finally:
        os.unlink(path)
    assert r.returncode == 1, r.stdout
    out = r.stdout
    assert "I1 violated: acknowledged value 'v3'" in out, out
    # Lines 7 and 8 (the invoke and ok of v3) marked, 5, 6, 9, 10 around them.
    assert ">     7 " in out and ">     8 " in out, out
    assert "      6 " in out and "     10 " in out and "     11 " not in out, out


# ---- Availability ----

def test_stall_and_resume_after_a_fault():
    h = History()
    # A send every 0.1 s for 10 s, acknowledged 0.05 s later, except that
    # sends invoked in [4.0, 6.5) end indeterminate after 1 s; the fault
    # lasts from 4.2 to 5.0.
    events = []
    for i in range(100):
        t = i / 10
        events.append(dict(time=t, process="p1", type="invoke", op="send",
                           topic="t", partition=0, value="v%d" % i))
        ok = t < 4.0 or t >= 6.5
        events.append(dict(time=t + (0.05 if ok else 1.0), process="p1",
                           type="ok" if ok else "info", op="send", topic="t",
                           partition=0, value="v%d" % i))
    events.append(dict(time=4.2, process="nemesis", type="info", op="fault-start",
                       fault="cut az1"))
    events.append(dict(time=5.0, process="nemesis", type="info", op="fault-end",
                       fault="cut az1"))
    events.sort(key=lambda e: e["time"])
    r = checker.check(events)
    assert abs(r.stall.seconds - 2.6) < 1e-6, r.stall        # 3.95 -> 6.55
    assert abs(r.stall.start - 3.95) < 1e-6, r.stall
    [f] = r.faults
    assert f.fault == "cut az1" and abs(f.longest_stall - 2.6) < 1e-6, f
    assert abs(f.resumed_after - 1.55) < 1e-6, f              # 5.0 -> 6.55


def test_fault_that_never_heals_has_no_resume():
    h = History().send("p1", "a", offset=0)
    h.add(process="nemesis", type="info", op="fault-start", fault="kill az2")
    h.send("p1", "b", status="info").final(0, ["a"])
    [f] = h.check().faults
    assert f.resumed_after is None and f.end == h.events[-1]["time"], f


# ---- I5: replicas byte-identical below the high watermark ----

def write_replica(directory, segments):
    """segments: {base_offset_of_file: [(base, [values]), ...]}"""
    os.makedirs(directory)
    for first, bs in segments.items():
        with open(os.path.join(directory, "%020d.log" % first), "wb") as f:
            for base, values in bs:
                f.write(kbatch.batch(base, [v.encode() for v in values]))


def values(base, n, tag="v"):
    return (base, ["%s%d" % (tag, base + i) for i in range(n)])


def test_I5_identical_replicas_pass_whatever_their_segment_files():
    with tempfile.TemporaryDirectory() as d:
        a, b = os.path.join(d, "a"), os.path.join(d, "b")
        write_replica(a, {0: [values(0, 5), values(5, 5), values(10, 5)]})
        write_replica(b, {0: [values(0, 5), values(5, 5)], 10: [values(10, 5)]})
        with open(os.path.join(b, "%020d.log" % 10), "ab") as f:
            f.write(kbatch.batch(15, [b"torn"] * 3)[:-9])   # a torn tail
        assert checker.check_replicas([a, b], 15) == []
        assert [x[:2] for x in checker.batches(b)] == [(0, 4), (5, 9), (10, 14)]


def test_I5_differing_or_short_replicas_fail():
    with tempfile.TemporaryDirectory() as d:
        a, c, s = (os.path.join(d, x) for x in "acs")
        write_replica(a, {0: [values(0, 5), values(5, 5), values(10, 5)]})
        write_replica(c, {0: [values(0, 5), values(5, 5), values(10, 5, "w")]})
        write_replica(s, {0: [values(0, 5), values(5, 5)]})
        assert checker.check_replicas([a, c], 10) == []     # differs at 10 only
        [v] = checker.check_replicas([a, c], 15)
        assert v.invariant == "I5" and "offset 10 differs" in v.message, v
        [v] = checker.check_replicas([a, s], 15)
        assert v.invariant == "I5" and "ends at 10" in v.message, v
        [v] = checker.check_replicas([a, c, s], 15)[1:] or [None]
        assert v is not None and "ends at 10" in v.message


if __name__ == "__main__":
    run_tests(globals())
