"""Scenario 10, az-outage-plus-crash: cut az1, then SIGKILL the az2 broker.

Breaks
    Two of three AZs: az1 is cut off, then node 2 (az2) crashes. Only az3's
    broker is left; the quorum has lost its majority.
Kafka / MSK promise
    With min.insync.replicas=2 an acks=all write is refused
    (NOT_ENOUGH_REPLICAS) rather than acknowledged by one replica; no
    unclean leader election (unclean.leader.election.enable=false), so
    no acknowledged record is lost; when a broker returns the cluster
    recovers fully.
Checker must see
    I1-I6 hold; nothing acknowledged while fewer than 2 brokers were up;
    after healing writes resume.
"""
NAME = "az-outage-plus-crash"
FAULT = "cut az1, then kill -9 node 2 (az2), 60 s; then both return"
NEEDS_REPLICATION = True
DEFAULT = True


def run(lab):
    with lab.nemesis.window("cut az1 + kill -9 node 2"):
        lab.net.cut("az1")
        lab.sleep(10)
        lab.cluster.kill(2)
        lab.minority_start = lab.history.now()
        lab.sleep(60)
        lab.minority_end = lab.history.now()
        lab.cluster.start_node(2)
        lab.net.heal()
    lab.wait_isr(0, 3, 60)


def check(lab, history, result):
    grace = 15.0     # in-flight writes may still complete after the kill
    acked = [h for h in history if h.get("op") == "send" and h["type"] == "ok"
             and lab.minority_start + grace < h["time"] < lab.minority_end]
    lab.expect("nothing acknowledged with one broker of three", not acked,
               "%d acknowledged, first %s" % (len(acked), acked[:1]))
    for f in result.faults:
        lab.expect("writes resume after recovery", f.resumed_after is not None,
                   "never" if f.resumed_after is None else "%.2f s" % f.resumed_after)
