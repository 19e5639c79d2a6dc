"""Scenario 6, controller-crash: SIGKILL the active controller, restart it after 10 s.

Breaks
    The active KRaft controller dies (kill -9). The cluster runs separate
    controllers (split_controllers, as MSK runs KRaft), so no broker dies
    with it. (With combined nodes its broker would die too, and every
    partition with that broker in its ISR would stall until the ISR
    shrinks: that is scenario 3's fault, not this one's.)
Kafka / MSK promise
    The remaining voters elect a new active controller within a few
    seconds (KIP-595: election timeout ~1-2 s); produce to existing
    partitions barely notices (stall <= 1 s): leaders and ISRs do not
    change, brokers keep their sessions with the new controller.
Checker must see
    I1-I6 hold; a new controller within 3 s; every partition's stall
    <= 1 s.
"""
NAME = "controller-crash"
FAULT = "separate controllers; kill -9 the active controller, restart after 10 s"
NEEDS_REPLICATION = False
DEFAULT = True
CLUSTER = {"split_controllers": True}


def run(lab):
    import time
    victim = lab.cluster.controller()
    lab.victim = victim
    lab.led = [p for p, v in lab.cluster.partitions(lab.topic).items() if v[0] == victim]
    lab.new_controller_s = None
    with lab.nemesis.window("kill -9 controller node %d" % victim):
        lab.cluster.kill(victim)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10:
            c = lab.cluster.controller()
            if c is not None and c != victim:
                lab.new_controller_s = time.monotonic() - t0
                break
            time.sleep(0.1)
        lab.sleep(10)
        lab.cluster.start_node(victim)
    lab.cluster.wait_healthy(30)


def check(lab, history, result):
    import report
    lab.expect("new active controller within 3 s", lab.new_controller_s is not None
               and lab.new_controller_s <= 3.0,
               "never" if lab.new_controller_s is None else "%.2f s" % lab.new_controller_s)
    others = [p for p in range(lab.partitions) if p not in lab.led]  # all
    stalls = {p: report.partition_stall(history, p)[0] for p in others}
    lab.expect("partitions not led by node %d stall <= 1 s" % lab.victim,
               all(s <= 1.0 for s in stalls.values()),
               ", ".join("p%d %.2f s" % kv for kv in sorted(stalls.items())))
