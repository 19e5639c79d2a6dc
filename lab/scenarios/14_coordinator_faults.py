"""Scenario 14, coordinator-faults: kill the group coordinator's broker, then a member stuck 40 s.

Breaks
    The broker coordinating the consumer group dies (kill -9, back after
    10 s); later the group's member stops polling for 40 s (stuck in its
    own processing: past max.poll.interval.ms, 20 s, it leaves the group
    and rejoins when it polls again).
Kafka / MSK promise
    Committed offsets live in __consumer_offsets and survive the
    coordinator's crash: they never go backwards; a member that leaves and
    rejoins resumes from the last commit, so every acknowledged record is
    consumed at least once.
Checker must see
    I1-I6 hold; the committed offset of each partition never decreases;
    every acknowledged value appears in the group's reads.
"""
NAME = "coordinator-faults"
FAULT = "kill -9 the group coordinator (back after 10 s); member stuck 40 s"
NEEDS_REPLICATION = False
DEFAULT = True


def run(lab):
    from workload import GROUP
    coord = lab.cluster.coordinator(GROUP)
    lab.note("group coordinator: node %s" % coord)
    if coord is not None:
        lab.nemesis.crash(coord, lab.t(10))
        lab.cluster.wait_healthy(30)
    lab.sleep(10)
    with lab.nemesis.window("group member stuck"):
        lab.workload.stick_member(lab.t(40))
        lab.sleep(40)
    lab.sleep(15)                        # let the member rejoin and catch up


def check(lab, history, result):
    last, backwards = {}, []
    for h in history:
        if h.get("op") == "commit" and h["type"] == "ok":
            for p, off in h["offsets"].items():
                if off >= 0 and p in last and off < last[p]:
                    backwards.append((p, last[p], off, h["time"]))
                if off >= 0:
                    last[p] = max(off, last.get(p, off))
    lab.expect("committed offsets never go backwards", not backwards, str(backwards[:5]))
    acked = {h["value"] for h in history if h.get("op") == "send" and h["type"] == "ok"}
    consumed = {v for h in history if h.get("op") == "read" and h["process"] == "group"
                and h["type"] == "ok" for _, v in h["records"]}
    missing = acked - consumed
    lab.expect("every acknowledged record consumed by the group at least once",
               not missing, "%d missing, e.g. %s" % (len(missing), sorted(missing)[:3]))
