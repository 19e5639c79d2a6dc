#!/usr/bin/python3
"""The lab's report and picture: one table for a run, one timeline per scenario.

Concept
    A scenario ends as one row: what was broken, how many writes were
    acknowledged, how many of those were lost, duplicated or found at an
    inconsistent offset, the longest write stall, and a verdict; plus the
    acknowledged writes per second before, during and after the faults. The
    timeline shows the same run in time: acknowledged writes per second,
    stalls shaded, fault windows as bands, leader/ISR changes as marks.

Kafka / MSK
    MSK documents availability in these terms: during a broker restart
    writes to the partitions it led pause until a new leader is elected
    (seconds); with RF 3, minISR 2 and acks=all no acknowledged write is
    lost when one AZ fails.

Interface
    - `figures(history, result)` -> dict of the numbers of one scenario
      (rates, p99 ack latency of sends after the warm-up, per-partition
      stalls).
    - `partition_stall(history, p)` -> (seconds, start, end) of the longest
      gap between acks of partition p while it was being written.
    - `resumed(history, p, t)`: seconds from t to partition p's next ack.
    - `write_report(rows, path)`: the markdown table (build/lab/report.md);
      a row is a dict with the keys of COLUMNS plus "figures", "notes".
    - `timeline(history, path, title)`: the SVG (matplotlib, Agg): all
      acks per second and one thin line per partition.

Invariants
    1. A number in the report comes from the history (or the checker's
       result on it), never from what a broker says about itself.
    2. A scenario that did not run shows "not run: <why>" and no numbers.

Simplifications
    Rates are counted in whole seconds of the workload's clock.

See also
    docs/lab.md; lab/checker.py; lab/run.py.
"""
import os

STALL_MIN_S = 1.0        # gaps between acks shorter than this are not shaded
WARMUP_S = 5.0           # the driver's warm-up: no faults, not in the p99

# "longest stall" is the longest gap between acks of one partition after
# the warm-up (partition_stall): a partition whose leader is down stalls
# even while the others keep the total going. The checker's own figure
# (any ack at all) is in checker.txt.
COLUMNS = ("scenario", "fault", "acknowledged", "lost", "duplicated",
           "inconsistent offsets", "longest stall", "verdict")


def acks(history, partition=None):
    """[(invoke time, ack time, partition)] of acknowledged sends."""
    started, out = {}, []
    for h in history:
        if h.get("op") != "send":
            continue
        key = (h["process"], h["value"])
        if h["type"] == "invoke":
            started[key] = h["time"]
        elif h["type"] == "ok" and key in started:
            if partition is None or h.get("partition") == partition:
                out.append((started[key], h["time"], h.get("partition")))
    return out


def windows(history):
    """[(start, end, fault)] of the fault windows (open ones to the end)."""
    open_, out = {}, []
    for h in history:
        if h.get("op") == "fault-start":
            open_[h["fault"]] = h["time"]
        elif h.get("op") == "fault-end" and h["fault"] in open_:
            out.append((open_.pop(h["fault"]), h["time"], h["fault"]))
    end = history[-1]["time"] if history else 0.0
    return sorted(out + [(t, end, f) for f, t in open_.items()])


def partition_stall(history, p):
    """Longest gap between acks of partition p, from its first send after
    the warm-up to its last send: (seconds, start, end)."""
    sends = [h["time"] for h in history if h.get("op") == "send" and
             h["type"] == "invoke" and h.get("partition") == p and h["time"] >= WARMUP_S]
    if not sends:
        return 0.0, None, None
    points = [min(sends)] + sorted(a[1] for a in acks(history, p)
                                   if a[1] > min(sends)) + [max(sends)]
    best = max(zip(points, points[1:]), key=lambda g: g[1] - g[0])
    return max(0.0, best[1] - best[0]), best[0], best[1]


def resumed(history, p, t):
    """Seconds from t to the first ack of partition p after t, or None."""
    after = [a[1] for a in acks(history, p) if a[1] > t]
    return min(after) - t if after else None


def rate(ack_times, start, end):
    span = end - start
    if span <= 0:
        return None
    return sum(1 for t in ack_times if start <= t < end) / span


def figures(history, result):
    """The numbers of one scenario's row and notes (Invariant 1)."""
    a = acks(history)
    ack_times = [x[1] for x in a]
    sends = [h["time"] for h in history if h.get("op") == "send" and h["type"] == "invoke"]
    first, last = (min(sends), max(sends)) if sends else (0.0, 0.0)
    w = windows(history)
    f = {"p99_ack_ms": None, "before": None, "during": None, "after": None}
    lat = sorted(x[1] - x[0] for x in a if x[0] >= WARMUP_S)
    if lat:
        f["p99_ack_ms"] = 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))]
    if w:
        f["before"] = rate(ack_times, first, w[0][0])
        during = sum(rate(ack_times, s, e) * (e - s) for s, e, _ in w if e > s)
        span = sum(e - s for s, e, _ in w)
        f["during"] = during / span if span > 0 else None
        f["after"] = rate(ack_times, w[-1][1], last)
    else:
        f["before"] = rate(ack_times, first, last)
    partitions = sorted({h["partition"] for h in history
                         if h.get("op") == "send" and h.get("partition") is not None})
    f["partition_stalls"] = {p: round(partition_stall(history, p)[0], 3) for p in partitions}
    f["faults"] = [(x.fault, round(x.longest_stall, 3),
                    None if x.resumed_after is None else round(x.resumed_after, 3))
                   for x in result.faults] if result else []
    return f


def fmt_rate(x):
    return "-" if x is None else "%.0f" % x


def write_report(rows, path, header=""):
    """build/lab/report.md: the table, then each scenario's notes (Invariant 2)."""
    out = ["# samsa lab report", ""]
    if header:
        out += [header, ""]
    out += ["| " + " | ".join(COLUMNS) + " | writes/s before / during / after | picture |",
            "|" + "---|" * (len(COLUMNS) + 2)]
    for r in rows:
        if r.get("not_run"):
            cells = [r["scenario"], r["fault"], "", "", "", "", "",
                     "not run: %s" % r["not_run"], "", ""]
        else:
            f = r["figures"]
            cells = [r["scenario"], r["fault"], str(r["acknowledged"]), str(r["lost"]),
                     str(r["duplicated"]), str(r["inconsistent offsets"]),
                     "%.2f s" % r["longest stall"], r["verdict"],
                     " / ".join(fmt_rate(f[k]) for k in ("before", "during", "after")),
                     "[timeline](%s/timeline.svg)" % r["scenario"]]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    out.append("")
    for r in rows:
        if r.get("notes"):
            out += ["## %s" % r["scenario"], ""] + ["- " + n for n in r["notes"]] + [""]
    with open(path, "w") as f:
        f.write("\n".join(out))


# ---- The picture ----

def timeline(history, path, title):
    """timeline.svg: acks/s, stalls shaded, fault bands, leader marks."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = acks(history)
    end = history[-1]["time"] if history else 1.0
    seconds = int(end) + 1
    per_s = [0] * seconds
    for _, t, _ in a:
        per_s[min(seconds - 1, int(t))] += 1
    fig, ax = plt.subplots(figsize=(10, 3.6))
    ax.step(range(seconds), per_s, where="post", color="#1f5fa8", lw=1.2,
            label="acknowledged writes/s")
    for p in sorted({x[2] for x in a}):
        mine = [0] * seconds
        for _, t, q in a:
            if q == p:
                mine[min(seconds - 1, int(t))] += 1
        ax.step(range(seconds), mine, where="post", lw=0.7, alpha=0.8,
                label="partition %d" % p)
    for s, e, fault in windows(history):
        ax.axvspan(s, e, color="#f2b134", alpha=0.25, lw=0)
        ax.text(s, max(per_s + [1]) * 1.02, fault, fontsize=7, va="bottom", rotation=0)
    times = sorted(x[1] for x in a)
    for g0, g1 in zip(times, times[1:]):
        if g1 - g0 >= STALL_MIN_S:
            ax.axvspan(g0, g1, color="#c0392b", alpha=0.25, lw=0)
    first_leader = True
    for h in history:
        if h.get("op") in ("leader", "controller"):
            label = None
            if first_leader:
                label, first_leader = "leader / ISR / controller change", False
            ax.axvline(h["time"], color="#555555", lw=0.6, ls=":", label=label)
    ax.set_xlabel("seconds (workload clock)")
    ax.set_ylabel("acks per second")
    ax.set_title(title, fontsize=10)
    ax.set_xlim(0, end)
    ax.set_ylim(0, max(per_s + [1]) * 1.15)
    ax.legend(loc="lower left", fontsize=7, ncol=3)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, format="svg")
    plt.close(fig)
