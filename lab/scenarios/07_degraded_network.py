"""Scenario 7, degraded-network: 100 ms delay and 3 Mbit/s toward every broker for 60 s, then 2 % loss with reordering for 60 s.

Breaks
    The network toward every AZ: first slow and narrow, then lossy and
    reordering (tc netem at the router). Without netem in the kernel the
    lab applies what it can, 3 Mbit/s with tbf and 2 % loss with nftables,
    and reports delay and reorder as unavailable (they did not run).
Kafka / MSK promise
    TCP and Kafka's retries hide a bad network: writes slow down but
    nothing acknowledged is lost or duplicated (idempotent producer).
Checker must see
    I1-I6 hold.
"""
NAME = "degraded-network"
FAULT = "100 ms delay + 3 Mbit/s to every broker 30 s, then 2 % loss + reorder 30 s"
NEEDS_REPLICATION = False
DEFAULT = True


def run(lab):
    from topology import AZS
    missing = set()
    with lab.nemesis.window("slow: delay 100 ms, 3 Mbit/s"):
        for az in AZS:
            missing |= set(lab.nemesis.degrade(az, delay_ms=100, rate_mbit=3))
        lab.sleep(30)
        for az in AZS:
            lab.nemesis.undegrade(az)
    with lab.nemesis.window("lossy: 2 % loss, reorder 25 %"):
        for az in AZS:
            missing |= set(lab.nemesis.degrade(az, delay_ms=10 if not missing else 0,
                                               loss_pct=2, reorder_pct=25))
        lab.sleep(30)
        for az in AZS:
            lab.nemesis.undegrade(az)
    for m in sorted(missing):
        lab.note("%s: unavailable on this kernel (no tc netem); did not run" % m)
