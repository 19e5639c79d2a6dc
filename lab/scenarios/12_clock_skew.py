"""Scenario 12, clock-skew: one broker 5 minutes ahead, the controller 5 minutes behind, then a 1-hour forward jump.

Breaks
    Wall clocks (libfaketime, LD_PRELOAD; the monotonic clock untouched,
    as an NTP step leaves it): a broker that is not the controller runs
    5 min ahead, the active controller 5 min behind, for 30 s; then the
    controller's clock jumps 1 hour forward for 30 s.
Kafka / MSK promise
    Elections, sessions and timeouts run on the monotonic clock, so a wall
    clock step causes no election and no fencing; records get the skewed
    timestamps (CreateTime is the producer's anyway) and nothing breaks.
Checker must see
    I1-I6 hold; no controller change and no leader change during the
    skew windows.
"""
NAME = "clock-skew"
FAULT = "broker +5 min, controller -5 min, then controller +1 h"
NEEDS_REPLICATION = False
NEEDS_FAKETIME = True
DEFAULT = True
CLUSTER = {"faketime": [1, 2, 3]}


def under_faketime(lab, n):
    """Node n's process has libfaketime preloaded (its environment says)."""
    from cluster import FAKETIME_LIB
    with open("/proc/%d/environ" % lab.cluster.node(n).proc.pid, "rb") as f:
        return b"LD_PRELOAD=" + FAKETIME_LIB.encode() in f.read().split(b"\0")


def run(lab):
    lab.preloaded = all(under_faketime(lab, n) for n in (1, 2, 3))
    controller = lab.cluster.controller()
    other = [n for n in (1, 2, 3) if n != controller][0]
    lab.windows = []
    start = lab.history.now()
    with lab.nemesis.window("node %d +5 min, controller %d -5 min" % (other, controller)):
        lab.nemesis.set_clock(other, 300)
        lab.nemesis.set_clock(controller, -300)
        lab.sleep(30)
    with lab.nemesis.window("controller %d jumps +1 h" % controller):
        lab.nemesis.set_clock(controller, 3600)
        lab.sleep(30)
    for n in (1, 2, 3):
        lab.nemesis.set_clock(n, 0)
    lab.windows.append((start, lab.history.now()))


def check(lab, history, result):
    lab.expect("every node runs under libfaketime", lab.preloaded)
    s, e = lab.windows[0]
    changes = [h for h in history if h.get("op") in ("leader", "controller")
               and s + 1.0 < h["time"] <= e + 2.0]
    lab.expect("no election or leader change caused by the clock steps", not changes,
               "%d changes: %s" % (len(changes), changes[:3]))
