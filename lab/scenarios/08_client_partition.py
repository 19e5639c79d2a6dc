"""Scenario 8, client-partition: cut the clients' namespace from every AZ for 60 s.

Breaks
    The clients lose the whole cluster (both ways) for 60 s; the brokers
    are fine and see each other.
Kafka / MSK promise
    Sends in flight time out (message.timeout.ms, 10 s here) and are
    indeterminate: they may or may not be stored. The idempotent producer
    never stores one twice, and after healing it resumes within ~2 s.
Checker must see
    I1-I6 hold (I2: no duplicates after the retries); writes resume within
    2 s after healing.
"""
NAME = "client-partition"
FAULT = "cut the clients from the cluster, 30 s"
NEEDS_REPLICATION = False
DEFAULT = True


def run(lab):
    with lab.nemesis.window("cut clients"):
        lab.net.cut("clients")
        lab.sleep(30)
        lab.net.heal()


def check(lab, history, result):
    info = sum(1 for h in history if h.get("op") == "send" and h["type"] == "info")
    lab.note("%d sends ended indeterminate (info)" % info)
    for f in result.faults:
        lab.expect("writes resume <= 2 s after healing", f.resumed_after is not None
                   and f.resumed_after <= 2.0,
                   "never" if f.resumed_after is None else "%.2f s" % f.resumed_after)
