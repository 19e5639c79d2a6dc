"""Scenario 4, follower-isolation: cut one follower of partition 0 from the other brokers for 60 s.

Breaks
    The links between one follower of partition 0 and both other brokers
    (the clients still reach it).
Kafka / MSK promise
    The leader drops the silent follower from the ISR after
    replica.lag.time.max.ms; with min.insync.replicas=2 the remaining two
    keep acknowledging acks=all writes; after healing the follower catches
    up and the ISR is 3 again.
Checker must see
    I1-I6 hold; partition 0's ISR shrinks to 2 during the cut; writes to
    partition 0 continue (stall <= 12 s); ISR back to 3 within 60 s after.
"""
NAME = "follower-isolation"
FAULT = "cut one follower of partition 0 from the other brokers, 45 s"
NEEDS_REPLICATION = True
DEFAULT = True


def run(lab):
    from topology import AZS
    leader = lab.leader(0)
    replicas = lab.cluster.partitions(lab.topic)[0][1]
    follower = [r for r in replicas if r != leader][0]
    az = AZS[follower - 1]
    with lab.nemesis.window("cut node %d from the brokers" % follower):
        for other in AZS:
            if other != az:
                lab.net.cut(az, other)
        lab.sleep(45)
        lab.net.heal()
    lab.isr_back = lab.wait_isr(0, 3, 60)


def check(lab, history, result):
    import report
    isrs = [len(h["isr"]) for h in history if h.get("op") == "leader" and h["partition"] == 0]
    lab.expect("partition 0's ISR shrank during the cut", any(n < 3 for n in isrs),
               "ISR sizes seen %s" % sorted(set(isrs)))
    stall = report.partition_stall(history, 0)[0]
    lab.expect("partition 0 kept accepting writes (stall <= 12 s)", stall <= 12.0,
               "%.2f s" % stall)
    lab.expect("ISR back to 3 within 60 s after healing", lab.isr_back is not None,
               "never" if lab.isr_back is None else "%.1f s" % lab.isr_back)
