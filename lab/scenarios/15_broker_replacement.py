"""Scenario 15, broker-replacement: wipe a follower's data and restart it with the same id.

Breaks
    A broker's volume is lost: node stops, its data dir is emptied and
    formatted again with the same node.id and cluster id, and it starts
    (MSK's auto-recovery replaces a broker this way).
Kafka / MSK promise
    The empty broker re-replicates every partition from the leaders and
    rejoins the ISR; it never becomes leader before it has caught up (it is
    not in the ISR), so nothing acknowledged is lost. With RF 1 this would
    delete the only copy: the scenario needs RF 3.
Checker must see
    I1-I6 hold, I5 included (its replicas byte-identical after catching
    up); the wiped node never leads a partition while outside its ISR.
"""
NAME = "broker-replacement"
FAULT = "wipe node 3's data dir, restart with the same id"
NEEDS_REPLICATION = True
DEFAULT = True


def run(lab):
    lab.nemesis.wipe(3)
    lab.cluster.wait_healthy(60)
    lab.isr_back = [lab.wait_isr(p, 3, 90) for p in range(lab.partitions)]


def check(lab, history, result):
    early = [h for h in history if h.get("op") == "leader" and h["leader"] == 3
             and 3 not in h["isr"]]
    lab.expect("the wiped node never leads outside the ISR", not early, str(early[:3]))
    lab.expect("back in every ISR within 90 s", all(x is not None for x in lab.isr_back),
               str(lab.isr_back))
