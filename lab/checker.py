#!/usr/bin/python3
"""The lab's checker: did the cluster keep every promise, judged from the history?

Concept
    The workload writes down every operation it tries and how it ended; after
    the faults heal it reads every partition in full. The checker compares
    the two, trusting nothing the brokers say about themselves: a record a
    client saw acknowledged must be in the final read, once, where the ack
    said, in the order it was sent. It also measures availability: how long
    acknowledged writes stopped, and how soon they resumed after each fault.

History (history.jsonl: one JSON object per line, in time order)
    time       seconds, monotonic clock of the workload (float)
    process    who did it: a producer or reader name, or "nemesis"
    type       "invoke" (started), "ok" (succeeded), "fail" (definitely did
               not happen), "info" (indeterminate: it may have happened)
    op         "send", "read", "final-read", "fault-start", "fault-end"
    topic, partition    of a send or read
    value      a send's value, unique in the whole history
    offset     a send's acknowledged offset (on its "ok")
    records    a read's [[offset, value], ...] (on its "ok")
    producer_id, idempotent   of a send's producer (idempotent defaults true)
    fault      on fault-start / fault-end: what the nemesis did ("cut az1")
    A send's completion has the same process and value as its invoke. The
    final read is one "final-read" "ok" line per partition.

Invariants checked (docs/lab.md has the reasoning)
    I1 lost:        every acknowledged send is in the final read.
    I2 duplicate:   an idempotent producer's value appears at most once --
                    for a send it saw acknowledged, or that definitely
                    failed. A send that ended indeterminate (timed out) may
                    be in the log twice without breaking Kafka's promise:
                    librdkafka bumps the producer epoch after timeouts
                    (KIP-360) and re-sends what it had in flight under the
                    new epoch, where no broker can tell it from a new
                    record. So may a send that was still in flight when
                    another send of the same producer timed out (the bump
                    re-sent it too, even if that re-send was then
                    acknowledged). Those are counted
                    (Result.dup_indeterminate), not judged.
    I3 offset:      every read agrees on one value per offset, and an
                    acknowledged value is read at the offset its ack gave.
    I4 order:       the values one producer sent to one partition appear in
                    the order it sent them.
    I5 replicas:    replicas' segment files hold the same batches, byte for
                    byte, below the high watermark (check_replicas).
    I6 failed:      a send that definitely failed never appears in any read.

Interface
    - check(history) -> Result: .violations (invariant, message, lines),
      .stall (longest gap between acks), .faults (per fault window).
    - check_replicas(dirs, high_watermark) -> violations of I5.
    - lab/checker.py HISTORY [--replicas HW DIR...]: print the report, exit 1
      on any violation.

Simplifications
    Writes only (no transactions); order is checked per producer process,
    which the workload keeps to one producer instance per process.

See also
    docs/lab.md; tests/clients/test_lab_checker.py; lab/topology.py.
"""
import argparse
import json
import os
import struct
import sys
from collections import defaultdict, namedtuple

Violation = namedtuple("Violation", "invariant message lines")
Stall = namedtuple("Stall", "start end seconds")
FaultWindow = namedtuple("FaultWindow", "fault start end longest_stall resumed_after")

CONTEXT = 2          # history lines shown either side of an offending one


class Result:
    def __init__(self):
        self.violations = []
        self.acknowledged = 0
        self.dup_indeterminate = 0  # see I2
        self.stall = Stall(None, None, 0.0)
        self.faults = []

    def add(self, invariant, message, *lines):
        self.violations.append(Violation(invariant, message, sorted(set(lines))))

    def named(self, invariant):
        return [v for v in self.violations if v.invariant == invariant]


# ---- Reading the history ----

class Send:
    """One send: its invoke and its completion, with their line numbers."""

    def __init__(self, op, line):
        self.op, self.line = op, line
        self.end, self.end_line = None, None

    @property
    def status(self):          # "ok", "fail", "info", or None (never ended)
        return self.end["type"] if self.end else None

    @property
    def where(self):
        return (self.op["topic"], self.op.get("partition"))


def load(path):
    """The history as a list of dicts; line n of the file is entry n - 1."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def pair_sends(history):
    """Every send, in invoke order, with its completion attached."""
    sends, open_ = [], {}
    for n, h in enumerate(history, 1):
        if h.get("op") != "send":
            continue
        key = (h["process"], h["value"])
        if h["type"] == "invoke":
            open_[key] = Send(h, n)
            sends.append(open_[key])
        elif key in open_:
            open_[key].end, open_[key].end_line = h, n
            if "partition" in h and h.get("partition") is not None:
                open_[key].op = dict(open_[key].op, partition=h["partition"])
    return sends


def reads(history, final_only=False):
    """(topic, partition, offset, value, line) for every record read."""
    for n, h in enumerate(history, 1):
        if h["type"] == "ok" and h.get("op") in ("read", "final-read") and \
                (not final_only or h["op"] == "final-read"):
            for offset, value in h.get("records", []):
                yield h["topic"], h["partition"], offset, value, n


# ---- The invariants ----

def check(history):
    """Check I1-I4 and I6 and compute the availability figures."""
    r = Result()
    sends = pair_sends(history)
    final = defaultdict(list)         # value -> [(topic, partition, offset, line)]
    for t, p, o, v, n in reads(history, final_only=True):
        final[v].append((t, p, o, n))
    check_offsets(history, sends, r)
    bumps = epoch_bumps(sends)
    for s in sends:
        check_send(s, final, r, in_flight_at_bump(s, bumps))
    check_order(sends, final, r)
    check_failed_never_read(history, sends, r)
    availability(history, sends, r)
    return r


def epoch_bumps(sends):
    """{process: [times a send of it ended indeterminate]}: where
    librdkafka bumps the producer epoch (KIP-360)."""
    out = defaultdict(list)
    for s in sends:
        if s.status == "info":
            out[s.op["process"]].append(s.end["time"])
    return out


def in_flight_at_bump(s, bumps):
    """Was send s invoked before, and still open at, one of its producer's
    epoch bumps (its own timeout included)?"""
    end = s.end["time"] if s.end else float("inf")
    return any(s.op["time"] <= t <= end for t in bumps.get(s.op["process"], ()))


def check_send(s, final, r, bumped=False):
    """I1 (an acknowledged value is in the final read) and I2 (at most once)."""
    v = s.op["value"]
    found = [f for f in final.get(v, []) if (f[0], f[1]) == s.where]
    if s.status == "ok":
        r.acknowledged += 1
        if not found:
            r.add("I1", "acknowledged value %r (offset %s of %s-%s) is not in "
                  "the final read" % ((v, s.end.get("offset")) + s.where),
                  s.line, s.end_line)
    offset = s.end.get("offset") if s.status == "ok" else None
    if found and offset is not None and offset not in [f[2] for f in found]:
        r.add("I3", "%r was acknowledged at offset %d but is read at %s" % (
            v, offset, [f[2] for f in found]), s.end_line, *[f[3] for f in found])
    if len(found) > 1 and s.op.get("idempotent", True) and bumped:
        r.dup_indeterminate += 1
    elif len(found) > 1 and s.op.get("idempotent", True):
        r.add("I2", "value %r of idempotent producer %s is at offsets %s" % (
            v, s.op["process"], [f[2] for f in found]),
            s.line, *[f[3] for f in found])


def check_offsets(history, sends, r):
    """I3: one value per offset across all reads; an ack's offset holds its value."""
    at = {}                           # (topic, partition, offset) -> (value, line)
    for t, p, o, v, n in reads(history):
        seen = at.setdefault((t, p, o), (v, n))
        if seen[0] != v:
            r.add("I3", "%s-%s offset %d read as %r and as %r" % (t, p, o, seen[0], v),
                  seen[1], n)
    for s in sends:
        if s.status != "ok" or s.end.get("offset") is None:
            continue
        got = at.get(s.where + (s.end["offset"],))
        if got is not None and got[0] != s.op["value"]:
            r.add("I3", "%r was acknowledged at %s-%s offset %d, which holds %r" % (
                (s.op["value"],) + s.where + (s.end["offset"], got[0])),
                s.line, s.end_line, got[1])


def check_order(sends, final, r):
    """I4: per producer and partition, final-read offsets rise in send order."""
    last = {}                         # (process, topic, partition) -> (offset, send)
    for s in sends:
        found = [f for f in final.get(s.op["value"], []) if (f[0], f[1]) == s.where]
        if not found:
            continue
        key = (s.op["process"],) + s.where
        offset = min(f[2] for f in found)
        prev = last.get(key)
        if prev is not None and offset < prev[0]:
            r.add("I4", "producer %s sent %r before %r to %s-%s, but they are at "
                  "offsets %d and %d" % ((s.op["process"], prev[1].op["value"],
                                          s.op["value"]) + s.where + (prev[0], offset)),
                  prev[1].line, s.line)
        if prev is None or offset > prev[0]:
            last[key] = (offset, s)


def check_failed_never_read(history, sends, r):
    """I6: a send that definitely failed is never read, anywhere."""
    failed = {s.op["value"]: s for s in sends if s.status == "fail"}
    for t, p, o, v, n in reads(history):
        if v in failed:
            s = failed[v]
            r.add("I6", "value %r failed definitely but is read at %s-%s offset %d"
                  % (v, t, p, o), s.line, s.end_line, n)


# ---- Availability ----

def availability(history, sends, r):
    """The longest gap between acknowledgements while the workload sent, and
    for each fault window its longest stall and when writes resumed."""
    acks = sorted(s.end["time"] for s in sends if s.status == "ok")
    invokes = [s.op["time"] for s in sends]
    if not invokes:
        return
    points = [min(invokes)] + acks + [max(invokes)]
    gaps = [Stall(a, b, b - a) for a, b in zip(points, points[1:])]
    r.stall = max(gaps, key=lambda g: g.seconds)
    for start, end, fault in fault_windows(history):
        inside = [g for g in gaps if g.end > start and g.start < end]
        longest = max((g.seconds for g in inside), default=0.0)
        after = [s.end["time"] for s in sends
                 if s.status == "ok" and s.op["time"] >= end]
        resumed = (min(after) - end) if after else None
        r.faults.append(FaultWindow(fault, start, end, longest, resumed))


def fault_windows(history):
    """(start, end, fault) for each fault-start and its fault-end (or the
    history's last time when it never healed)."""
    open_, out = {}, []
    for h in history:
        if h.get("op") == "fault-start":
            open_[h["fault"]] = h["time"]
        elif h.get("op") == "fault-end" and h["fault"] in open_:
            out.append((open_.pop(h["fault"]), h["time"], h["fault"]))
    end = history[-1]["time"] if history else 0
    out += [(t, end, f) for f, t in open_.items()]
    return sorted(out)


# ---- I5: replicas byte-identical ----

BATCH_HEADER = 61            # bytes of a v2 record batch header
LENGTH_END = 12              # baseOffset (8) + batchLength (4)


def batches(directory):
    """Walk the .log segments of a partition directory in offset order:
    yield (base_offset, last_offset, bytes, file, position). Stops at a
    torn or damaged tail: every length is bounded by what the file holds."""
    for name in sorted(f for f in os.listdir(directory) if f.endswith(".log")):
        path = os.path.join(directory, name)
        with open(path, "rb") as f:
            data = f.read()
        pos = 0
        while pos + BATCH_HEADER <= len(data):
            base, length = struct.unpack_from(">qi", data, pos)
            end = pos + LENGTH_END + length
            if length < BATCH_HEADER - LENGTH_END or end > len(data):
                break
            last_delta = struct.unpack_from(">i", data, pos + 23)[0]
            yield base, base + last_delta, data[pos:end], path, pos
            pos = end


def check_replicas(dirs, high_watermark):
    """I5: every replica holds the same batch bytes for offsets below the
    high watermark. The first replica is the reference."""
    out = []
    below = [[b for b in batches(d) if b[0] < high_watermark] for d in dirs]
    ref = below[0]
    for d, mine in zip(dirs[1:], below[1:]):
        for a, b in zip(ref, mine):
            if a[2] != b[2]:
                out.append(Violation("I5", "batch at offset %d differs: %s@%d vs %s@%d"
                                     % (a[0], a[3], a[4], b[3], b[4]), []))
                break
        else:
            ends = [(x[-1][1] + 1) if x else 0 for x in (ref, mine)]
            if ends[0] != ends[1] or min(ends) < high_watermark:
                out.append(Violation("I5", "below high watermark %d: %s ends at %d, "
                                     "%s ends at %d" % (high_watermark, dirs[0], ends[0],
                                                        d, ends[1]), []))
    return out


# ---- Report ----

def report(history, r, out=sys.stdout):
    """Each violation with the history lines around the ones it names, then
    the figures."""
    for v in sorted(r.violations, key=lambda v: (v.invariant, v.lines)):
        print("%s violated: %s" % (v.invariant, v.message), file=out)
        shown = sorted({n for line in v.lines
                        for n in range(line - CONTEXT, line + CONTEXT + 1)
                        if 1 <= n <= len(history)})
        for n in shown:
            mark = ">" if n in v.lines else " "
            print("  %s %5d %s" % (mark, n, json.dumps(history[n - 1])), file=out)
    print("acknowledged %d, violations %d, longest stall %.3f s" % (
        r.acknowledged, len(r.violations), r.stall.seconds), file=out)
    for f in r.faults:
        resumed = "never" if f.resumed_after is None else "%.3f s" % f.resumed_after
        print("fault %s [%.3f, %.3f]: longest stall %.3f s, resumed %s after healing"
              % (f.fault, f.start, f.end, f.longest_stall, resumed), file=out)


def main(argv):
    ap = argparse.ArgumentParser(description="check a lab history")
    ap.add_argument("history")
    ap.add_argument("--replicas", nargs="+", metavar=("HW", "DIR"),
                    help="high watermark, then one partition directory per replica")
    args = ap.parse_args(argv)
    history = load(args.history)
    r = check(history)
    if args.replicas:
        r.violations += check_replicas(args.replicas[1:], int(args.replicas[0]))
    report(history, r)
    return 1 if r.violations else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
