"""Scenario 5, leader-pause: SIGSTOP the leader of partition 0 for 30 s.

Breaks
    The leader of partition 0 freezes (SIGSTOP: a 30 s GC pause or a
    stalled VM) and then resumes, believing it still leads.
Kafka / MSK promise
    The controller fences the silent broker after its session expires and
    elects a new leader from the ISR; on resume the old leader learns the
    new leader epoch and acknowledges nothing in its old epoch (no split
    brain).
Checker must see
    I1-I6 hold (a write acknowledged by the zombie leader and then lost
    would be I1; two values at one offset I3); partition 0 got a new leader
    during the pause.
"""
NAME = "leader-pause"
FAULT = "SIGSTOP the leader of partition 0 for 30 s"
NEEDS_REPLICATION = True
DEFAULT = True


# A pause shorter than broker.session.timeout.ms (9 s) fences nobody: even
# a --short run pauses past it, or there is nothing to check.
MIN_PAUSE_S = 12


def run(lab):
    lab.old = lab.leader(0)
    lab.nemesis.pause(lab.old, max(lab.t(30), MIN_PAUSE_S))
    lab.wait_isr(0, 3, 60)


def check(lab, history, result):
    leaders = [h["leader"] for h in history if h.get("op") == "leader" and h["partition"] == 0]
    lab.expect("partition 0 got a new leader while %d was paused" % lab.old,
               any(x not in (lab.old, -1) for x in leaders), "leaders seen %s" % leaders)
