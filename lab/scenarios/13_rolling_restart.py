"""Scenario 13, rolling-restart: SIGTERM and restart each broker in turn (MSK patching).

Breaks
    Every broker, one at a time: SIGTERM (controlled shutdown), start it
    again, wait until every partition's ISR is full again, next broker.
Kafka / MSK promise
    MSK patches this way: writes pause <= 2 s per broker (leadership moves
    before the broker stops); a consumer group with static membership
    (group.instance.id) does not rebalance when its coordinator or its
    member's partitions move.
Checker must see
    I1-I6 hold; with RF 3 every partition's stall <= 2 s; the group member
    is assigned once and never revoked or reassigned.
"""
NAME = "rolling-restart"
FAULT = "SIGTERM + restart node 1, 2, 3 in turn, waiting for full ISR"
NEEDS_REPLICATION = False
DEFAULT = True


def run(lab):
    for n in (1, 2, 3):
        lab.nemesis.terminate(n)
        lab.cluster.wait_healthy(30)
        for p in range(lab.partitions):
            lab.wait_isr(p, lab.rf, 30)
        lab.sleep(5)


def check(lab, history, result):
    import report
    rebalances = [h for h in history if h.get("op") == "rebalance"]
    lab.expect("static member assigned once, never rebalanced", len(rebalances) <= 1,
               "%d rebalance callbacks: %s" % (len(rebalances), rebalances[:4]))
    stalls = {p: report.partition_stall(history, p)[0] for p in range(lab.partitions)}
    if lab.rf >= 3:
        lab.expect("every partition stall <= 2 s", all(s <= 2.0 for s in stalls.values()),
                   str(stalls))
    else:
        lab.note("RF 1: each partition is down while its broker restarts; "
                 "stalls %s not held to 2 s" % stalls)
