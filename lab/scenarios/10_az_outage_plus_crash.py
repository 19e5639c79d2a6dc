"""Scenario 10, az-outage-plus-crash: cut az1, then SIGKILL the az2 broker.

Breaks
    Two of three AZs' brokers: az1 is cut off (its broker and its
    controller), then broker 2 (az2) crashes. Only az3's broker is left.
    The cluster runs separate controllers (split_controllers: a
    controller-only process beside the broker in each AZ, as MSK runs
    KRaft), so controllers 102 and 103 still form a quorum: the ISR can
    shrink and the brokers' fencing is decided. (With combined nodes the
    quorum itself is lost, no ISR can shrink, and acks=all writes only
    time out.)
Kafka / MSK promise
    With min.insync.replicas=2 an acks=all write is refused
    NOT_ENOUGH_REPLICAS (before the append) rather than acknowledged by
    one replica; no unclean leader election
    (unclean.leader.election.enable=false): the last in-sync replica
    leads, so no acknowledged record is lost; when a broker returns the
    cluster recovers fully (ISR 3 again, writes resume).
Checker must see
    I1-I6 hold; nothing acknowledged while one broker of three was up;
    the ISR shrank to the one live broker, which leads every partition;
    an acks=all Produce sent to it then answers NOT_ENOUGH_REPLICAS (19);
    after healing the ISR is back to 3 and writes resume.
"""
import time

import kwire

NAME = "az-outage-plus-crash"
FAULT = ("separate controllers; cut az1, then kill -9 broker 2 (az2) until the ISR shrinks, then 20 s; "
         "then both return")
NEEDS_REPLICATION = True
DEFAULT = True
CLUSTER = {"split_controllers": True}

NOT_ENOUGH_REPLICAS = 19


def run(lab):
    with lab.nemesis.window("cut az1 + kill -9 broker 2"):
        lab.net.cut("az1")
        lab.sleep(10)
        lab.cluster.kill(2)
        lab.minority_start = lab.history.now()
        lab.shrunk = wait_shrunk(lab, 30)
        lab.probes = probe(lab) if lab.shrunk else {}
        lab.sleep(20)
        lab.minority_end = lab.history.now()
        lab.cluster.start_node(2)
        lab.net.heal()
    lab.recovered = lab.wait_isr(0, 3, 60)


def wait_shrunk(lab, timeout):
    """{p: (leader, isr)} once every partition is led by broker 3 with ISR
    [3] (the controller fenced broker 2; broker 1 is cut off), or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        parts = lab.cluster.partitions(lab.topic)
        if parts and all(v[0] == 3 and list(v[2]) == [3] for v in parts.values()):
            return {p: (v[0], list(v[2])) for p, v in parts.items()}
        time.sleep(0.5)
    return None


def probe(lab):
    """{p: error code} of one acks=all Produce v7 per partition, sent by a
    raw client straight to broker 3 (what a producer is told)."""
    out = {}
    value = b"probe-below-min-isr"
    for p in range(lab.partitions):
        try:
            with kwire.Conn(lab.cluster.node(3).bootstrap, timeout=5) as c:
                body = c.request(kwire.produce(
                    7, lab.topic, p, kwire.batch([(None, value)]),
                    acks=-1, timeout_ms=3000))
            out[p] = kwire.produce_errors(7, body)[0][2]
        except (OSError, ValueError) as e:
            out[p] = repr(e)
    return out


def check(lab, history, result):
    grace = 15.0     # in-flight writes may still complete after the kill
    acked = [h for h in history if h.get("op") == "send" and h["type"] == "ok"
             and lab.minority_start + grace < h["time"] < lab.minority_end]
    lab.expect("nothing acknowledged with one broker of three", not acked,
               "%d acknowledged, first %s" % (len(acked), acked[:1]))
    lab.expect("ISR shrank to the live broker, which leads (no unclean "
               "election)", lab.shrunk is not None, "%s" % lab.shrunk)
    lab.expect("acks=all refused NOT_ENOUGH_REPLICAS below minISR",
               lab.probes and all(e == NOT_ENOUGH_REPLICAS
                                  for e in lab.probes.values()),
               "errors by partition %s" % lab.probes)
    lab.expect("ISR back to 3 after the brokers return",
               lab.recovered is not None,
               "never" if lab.recovered is None else "%.1f s" % lab.recovered)
    for f in result.faults:
        lab.expect("writes resume after recovery", f.resumed_after is not None,
                   "never" if f.resumed_after is None else "%.2f s" % f.resumed_after)
