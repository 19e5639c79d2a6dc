#!/usr/bin/python3
"""The lab's nemeses: the faults a cloud throws at a cluster, on request.

Concept
    A nemesis is one way the world breaks: a process dies or freezes, a
    zone or a link drops off the network, the network gets slow and lossy,
    a disk fills, a clock jumps, a disk is replaced empty. Each method here
    does one, and writes "fault-start" and "fault-end" lines into the
    history around the window it was in force, so the checker and the
    picture know when it happened.

Kafka / MSK
    MSK's failure model: a broker restarts (patching: SIGTERM and controlled
    shutdown), crashes (SIGKILL), stalls (a long GC pause: SIGSTOP), its AZ
    is cut off, its EBS volume fills, NTP steps its clock, or the broker is
    replaced with an empty volume and the same broker id (auto-recovery).

Interface
    - `Nemesis(lab)` with lab.cluster, lab.net, lab.history. Faults that
      last: `with nem.window("cut az1"): ...` records the window; the
      helpers below use it or record instantaneous faults themselves.
    - Processes: `crash(n, down_s)` (kill -9, restart after down_s),
      `terminate(n)` (SIGTERM, restart), `pause(n, s)`.
    - Network: `cut(a, b=None, one_way=False)` / `heal()`; `degrade(ns,
      delay_ms, loss_pct, reorder_pct, rate_mbit)` / `undegrade(ns)`.
      Delay and reorder need tc netem, probed once (`netem_works`); without
      it degrade() applies what it can (rate with tbf, loss with an
      nftables numgen rule) and returns the list of what it could not.
    - Disk: `fill_disk(n)` fills node n's tmpfs data dir to ENOSPC,
      `free_disk(n)` removes the filler.
    - Clock: `set_clock(n, offset_s)` moves node n's libfaketime clock (the
      node must have been started with faketime; monotonic time is left
      alone, as a real clock step leaves it).
    - `wipe(n)`: stop, empty the data dir, format with the same id, start.

Invariants
    1. Every fault window written has its end written, also when the code
       inside the window raises (window() is a context manager).
    2. Every change made here lives in a lab namespace (router qdiscs, the
       router's nft tables) or in the lab's own files, so Topology.down()
       and Cluster.close() undo all of it.

Simplifications
    Loss without netem drops at the router with nftables (`numgen random
    mod 100 < N`): it is loss, not corruption or reordering.

See also
    docs/lab.md; lab/topology.py (cuts, shaping); lab/cluster.py.
"""
import contextlib
import os
import time

from topology import ROUTER, LabError, sh

LOSS_TABLE = "labloss"          # the router's nft table for loss without netem
_netem = None


def netem_works(net):
    """Probe once: can the router's lo take a netem qdisc?"""
    global _netem
    if _netem is None:
        try:
            sh(["tc", "-n", net.ns(ROUTER), "qdisc", "add", "dev", "lo", "root",
                "netem", "delay", "1ms"])
            sh(["tc", "-n", net.ns(ROUTER), "qdisc", "del", "dev", "lo", "root"])
            _netem = True
        except LabError:
            _netem = False
    return _netem


class Nemesis:
    def __init__(self, lab):
        self.lab = lab
        self.cluster, self.net, self.history = lab.cluster, lab.net, lab.history
        self.fillers = {}

    def log(self, op, fault, **extra):
        self.history.record(process="nemesis", type="info", op=op, fault=fault, **extra)

    @contextlib.contextmanager
    def window(self, fault):
        """Record fault-start, run the block, record fault-end (Invariant 1)."""
        self.log("fault-start", fault)
        try:
            yield
        finally:
            self.log("fault-end", fault)

    # ---- Processes ----

    def crash(self, n, down_s):
        """kill -9 node n, restart it after down_s seconds."""
        with self.window("kill -9 node %d" % n):
            self.cluster.kill(n)
            time.sleep(down_s)
            self.cluster.start_node(n)

    def terminate(self, n):
        """SIGTERM node n (controlled shutdown), wait for it, start it."""
        with self.window("SIGTERM node %d" % n):
            rc = self.cluster.stop(n)
            self.cluster.start_node(n)
        return rc

    def pause(self, n, seconds):
        with self.window("SIGSTOP node %d" % n):
            self.cluster.pause(n)
            time.sleep(seconds)
            self.cluster.resume(n)

    # ---- Network ----

    def cut(self, a, b=None, one_way=False):
        self.net.cut(a, b, one_way)

    def heal(self):
        self.net.heal()

    def degrade(self, ns, delay_ms=0, loss_pct=0, reorder_pct=0, rate_mbit=None):
        """Shape the router's egress toward ns; returns what this kernel
        could not do (["delay 100 ms", ...]), never pretending it did."""
        missing = []
        if netem_works(self.net):
            self.net.shape(ns, delay_ms=delay_ms, loss_pct=loss_pct,
                           reorder_pct=reorder_pct, rate_mbit=rate_mbit)
            return missing
        if delay_ms:
            missing.append("delay %g ms" % delay_ms)
        if reorder_pct:
            missing.append("reorder %g %%" % reorder_pct)
        if rate_mbit:
            self.net.shape(ns, rate_mbit=rate_mbit)
        if loss_pct:
            self.nft_loss(ns, loss_pct)
        return missing

    def undegrade(self, ns):
        self.net.unshape(ns)
        sh(["ip", "netns", "exec", self.net.ns(ROUTER), "nft", "delete", "table",
            "inet", "%s_%s" % (LOSS_TABLE, ns)], check=False)

    def nft_loss(self, ns, pct):
        """Drop pct % of the packets the router forwards toward ns."""
        table = """
table inet %s_%s {
    chain forward {
        type filter hook forward priority filter - 1; policy accept;
        oifname "%s" numgen random mod 100 < %d drop
    }
}
""" % (LOSS_TABLE, ns, ns, int(pct))
        sh(["ip", "netns", "exec", self.net.ns(ROUTER), "nft", "-f", "-"], input=table)

    # ---- Disk ----

    def fill_disk(self, n):
        """Write a filler file into node n's data dir until ENOSPC."""
        x = self.cluster.node(n)
        if not x.mounted:
            raise LabError("node %d's data dir is not a tmpfs" % n)
        path = os.path.join(x.data, "lab-filler")
        block = b"\0" * (1 << 20)
        with open(path, "wb") as f:
            try:
                while True:
                    f.write(block)
                    f.flush()
            except OSError:
                pass
        self.fillers[n] = path
        st = os.statvfs(x.data)
        return st.f_bavail * st.f_frsize

    def free_disk(self, n):
        path = self.fillers.pop(n, None)
        if path and os.path.exists(path):
            os.unlink(path)

    # ---- Clock ----

    def set_clock(self, n, offset_s):
        """Node n's wall clock offset_s seconds off (libfaketime re-reads
        its timestamp file within a second)."""
        path = self.cluster.faketime.get(n)
        if path is None:
            raise LabError("node %d was not started under faketime" % n)
        with open(path + ".tmp", "w") as f:
            f.write("%+ds\n" % offset_s)
        os.rename(path + ".tmp", path)

    # ---- Replacement ----

    def wipe(self, n):
        """Stop node n, empty its data dir, format it (same id), start it."""
        with self.window("wipe node %d" % n):
            self.cluster.stop(n)
            self.cluster.wipe(n)
            self.cluster.start_node(n)
