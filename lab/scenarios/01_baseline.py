"""Scenario 1, baseline: no fault for 2 minutes.

Breaks
    Nothing. The workload runs against a healthy cluster.
Kafka / MSK promise
    With acks=all and an idempotent producer every acknowledged record is
    stored once, in order, at the offset the acknowledgement named.
Checker must see
    I1-I6 hold (I5 when the topic is replicated); the longest stall is
    short; the p99 acknowledgement latency is recorded in the notes.
"""
NAME = "baseline"
FAULT = "none, 1 minute"
NEEDS_REPLICATION = False
DEFAULT = True


def run(lab):
    lab.sleep(60)


def check(lab, history, result):
    lab.expect("no write stall over 2 s in a healthy cluster",
               result.stall.seconds <= 2.0, "%.2f s" % result.stall.seconds)
