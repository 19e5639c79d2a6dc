"""Scenario 16, soak: a seeded random mix of every nemesis, one every ~15 s, for MINUTES.

Breaks
    Anything: kill -9, SIGTERM, pause, cut an AZ, cut one link (both ways
    or one way), degrade the network, wipe a node (RF 3 only), chosen by a
    random.Random(SEED), each healed before the next.
Kafka / MSK promise
    Whatever happens, one fault at a time, nothing acknowledged is lost,
    duplicated or reordered.
Checker must see
    I1-I6 hold. Opt-in: `make lab SCENARIO=soak SEED=7 MINUTES=30`.
"""
NAME = "soak"
FAULT = "seeded random nemeses every ~15 s (SEED, MINUTES)"
NEEDS_REPLICATION = False
DEFAULT = False


def run(lab):
    import random
    import time
    from topology import AZS
    rnd = random.Random(lab.args.seed)
    lab.note("seed %d, %g minutes" % (lab.args.seed, lab.args.minutes))
    end = time.monotonic() + lab.args.minutes * 60
    nem, c = lab.nemesis, lab.cluster
    choices = ["crash", "terminate", "pause", "cut-az", "cut-link", "one-way", "degrade"]
    if lab.rf >= 3:
        choices.append("wipe")
    else:
        lab.note("RF 1: wipe is left out (it would delete the only copy)")
    while time.monotonic() < end:
        what, n = rnd.choice(choices), rnd.randint(1, 3)
        hold = rnd.uniform(3, 12)
        if what == "crash":
            nem.crash(n, hold)
        elif what == "terminate":
            nem.terminate(n)
        elif what == "pause":
            nem.pause(n, hold)
        elif what in ("cut-az", "cut-link", "one-way"):
            a = AZS[n - 1]
            b = None if what == "cut-az" else rnd.choice([x for x in AZS if x != a])
            with nem.window("%s %s%s" % (what, a, "" if b is None else "-" + b)):
                lab.net.cut(a, b, one_way=(what == "one-way"))
                time.sleep(hold)
                lab.net.heal()
        elif what == "degrade":
            az = AZS[n - 1]
            with nem.window("degrade %s" % az):
                for m in nem.degrade(az, delay_ms=50, loss_pct=3, rate_mbit=5):
                    lab.note("%s: unavailable on this kernel" % m)
                time.sleep(hold)
                nem.undegrade(az)
        elif what == "wipe":
            nem.wipe(n)
        c.wait_healthy(60)
        time.sleep(max(0.0, 15 - hold))
