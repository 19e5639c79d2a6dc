"""Scenario 3, hard-crash: SIGKILL the leader of partition 0, restart it after 10 s, 5 times.

Breaks
    The process leading partition 0 dies without warning (kill -9: no
    controlled shutdown, no flush), and comes back 10 s later on the same
    data dir, five times.
Kafka / MSK promise
    With RF 3 and acks=all a new leader is elected from the ISR: writes to
    partition 0 stall at most about 12 s; the restarted broker truncates to
    the new leader, catches up and rejoins the ISR within 30 s. With RF 1
    (before chapter 08) the partition is simply down until the restart,
    and a process crash still loses nothing acknowledged (the page cache
    survives the process).
Checker must see
    I1-I6 hold; with RF 3, partition 0's longest stall <= 12 s and the
    restarted replica back in ISR <= 30 s after each restart.
"""
NAME = "hard-crash"
FAULT = "kill -9 the leader of partition 0, restart after 10 s, 3 times"
NEEDS_REPLICATION = False
DEFAULT = True
TIMES = 3


def run(lab):
    lab.isr_back = []
    for i in range(TIMES if not lab.args.short else 2):
        leader = lab.leader(0)
        lab.nemesis.crash(leader, lab.t(10))
        if lab.rf >= 3:
            lab.isr_back.append(lab.wait_isr(0, lab.rf, 30))
        else:
            lab.cluster.wait_healthy(30)
            lab.leader(0)
        lab.sleep(5)


def check(lab, history, result):
    import report
    stall = report.partition_stall(history, 0)[0]
    if lab.rf >= 3:
        lab.expect("partition 0 stall <= 12 s", stall <= 12.0, "%.2f s" % stall)
        lab.expect("restarted replica back in ISR <= 30 s",
                   all(x is not None for x in lab.isr_back),
                   ", ".join("never" if x is None else "%.1f s" % x for x in lab.isr_back))
    else:
        lab.note("RF 1: partition 0 is down while its only replica is; its "
                 "stall (%.2f s) is the restart time, not an election (not "
                 "held to 12 s); ISR return not checked" % stall)
