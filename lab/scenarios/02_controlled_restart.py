"""Scenario 2, controlled-restart: SIGTERM the leader of partition 0 and restart it, 5 times.

Breaks
    The broker leading partition 0 is shut down cleanly (SIGTERM: Kafka's
    controlled shutdown) and started again, five times: what MSK does to
    every broker when it patches a cluster.
Kafka / MSK promise
    Controlled shutdown moves leadership away before the broker stops, so
    writes to its partitions pause for at most about 2 s (MSK's figure);
    nothing acknowledged is lost. With RF 1 there is nobody to move
    leadership to: the partition is down for the restart, and still loses
    nothing.
Checker must see
    I1-I6 hold; the broker exits 0 on SIGTERM; with RF 3, partition 0's
    longest stall <= 2 s.
"""
NAME = "controlled-restart"
FAULT = "SIGTERM the leader of partition 0 and restart it, 3 times"
NEEDS_REPLICATION = False
DEFAULT = True


def run(lab):
    lab.exits = []
    for i in range(3 if not lab.args.short else 2):
        leader = lab.leader(0)
        lab.exits.append(lab.nemesis.terminate(leader))
        if lab.rf >= 3:
            lab.wait_isr(0, lab.rf, 30)
        else:
            lab.cluster.wait_healthy(30)
        lab.sleep(5)


def check(lab, history, result):
    import report
    lab.expect("SIGTERM exits 0 (controlled shutdown)", all(rc == 0 for rc in lab.exits),
               "exit statuses %s" % lab.exits)
    stall = report.partition_stall(history, 0)[0]
    if lab.rf >= 3:
        lab.expect("partition 0 stall <= 2 s", stall <= 2.0, "%.2f s" % stall)
    else:
        lab.note("RF 1: partition 0 stall %.2f s is the restart time (not held "
                 "to 2 s: no other replica to lead)" % stall)
