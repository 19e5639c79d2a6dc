"""Scenario 11, disk-full: fill the data dir of partition 0's leader, 30 s, then free it.

Breaks
    The leader's disk (a 64 MiB tmpfs here, every node gets one) is filled
    to the last byte; appends fail with ENOSPC.
Kafka / MSK promise
    Kafka marks the log dir offline and gives up leadership of its
    partitions instead of crashing or writing a torn segment; MSK alerts
    and grows the volume. After space is freed the broker recovers and
    catches up. Before chapter 08 (RF 1) nobody can take over: partition 0
    must refuse writes, the broker must stay up and keep serving the
    others, and resume after the space comes back.
Checker must see
    I1-I6 hold (no corrupt segment: every read agrees, the final read is
    complete); the broker process stays up while its disk is full; writes
    to partition 0 resume after space is freed; with RF 3, another broker
    leads partition 0 while the disk is full.
"""
NAME = "disk-full"
FAULT = "fill the data dir of partition 0's leader, 30 s"
NEEDS_REPLICATION = False
DEFAULT = True
CLUSTER = {"tmpfs_mb": {1: 64, 2: 64, 3: 64}}


def run(lab):
    leader = lab.leader(0)
    lab.victim = leader
    with lab.nemesis.window("disk full on node %d" % leader):
        left = lab.nemesis.fill_disk(leader)
        lab.note("node %d's data dir filled (%d bytes left)" % (leader, left))
        lab.sleep(30)
        x = lab.cluster.node(leader)
        lab.alive_while_full = x.alive()
        lab.exit_while_full = None if lab.alive_while_full else x.proc.returncode
        lab.nemesis.free_disk(leader)
    lab.sleep(10)


def check(lab, history, result):
    import report
    lab.expect("node %d stayed up with a full disk" % lab.victim, lab.alive_while_full,
               "" if lab.alive_while_full else "it exited (status %s): see node%d/broker.log"
               % (lab.exit_while_full, lab.victim))
    for f in result.faults:
        back = report.resumed(history, 0, f.end)
        lab.expect("partition 0 takes writes again after space is freed",
                   back is not None, "never" if back is None else "first ack %.2f s after" % back)
    if lab.rf >= 3:
        s, e = result.faults[0].start, result.faults[0].end
        moved = [h for h in history if h.get("op") == "leader" and h["partition"] == 0
                 and s < h["time"] <= e and h["leader"] != lab.victim]
        lab.expect("node %d gave up leadership of partition 0" % lab.victim, moved,
                   "no other leader seen during the window" if not moved else
                   "node %d led at %.1f s" % (moved[0]["leader"], moved[0]["time"]))
    errors = sorted({h.get("error") for h in history if h.get("op") == "send"
                     and h["type"] in ("fail", "info")})
    lab.note("send errors seen: %s" % (errors or "none"))
    lab.note("partition 0 longest stall %.2f s" % report.partition_stall(history, 0)[0])
