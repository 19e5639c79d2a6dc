#!/usr/bin/python3
"""The lab's network: three availability zones and a client network, one router.

Concept
    A region in miniature. Each AZ (az1, az2, az3) and the clients get their
    own Linux network namespace; a fifth, the router, joins them with one
    veth link each. Brokers bind to their AZ's address, clients to theirs,
    and every byte between them crosses the router, where the lab can delay
    it (tc netem) or drop it (nftables) to play a slow or broken cloud.

        az1 10.212.1.2 --+                +-- az3 10.212.3.2
                         |    router      |
        az2 10.212.2.2 --+ (.1 on each) --+-- clients 10.212.9.2

Kafka / MSK
    An MSK cluster puts one broker per AZ (broker.rack = the AZ id) and AZs
    are about 1 ms apart; an AZ outage or a cut link is what replication
    (chapter 08) and the KRaft quorum (chapter 07) must survive.

Interface
    - `with Topology(delay_ms=1.0) as net:` builds it; leaving the block,
      an exception, SIGINT or SIGTERM removes it. `net.spawn(ns, argv)`
      runs a process inside a namespace; `net.addr(ns)` is its address.
    - `net.cut(a)` cuts AZ a from everyone, `net.cut(a, b)` the link a-b,
      `one_way=True` drops only traffic from a; `net.heal(...)` undoes it.
    - `net.shape(ns, delay_ms=, jitter_ms=, loss_pct=, reorder_pct=,
      rate_mbit=)` sets the router's egress toward ns; `net.unshape(ns)`.
    - Not root: `enter_user_namespace(sys.argv)` first re-runs the program
      inside `unshare -rnmpf`, where it is "root" and the kernel removes
      everything when it ends, even by SIGKILL.
    - `lab/topology.py up|clean|list`: build and hold until Ctrl-C; remove
      leftovers of runs that were killed (SIGKILL); list them.

Invariants
    1. Every namespace is named `samsa-lab-<run>-<name>`; everything else the
       lab makes (veths, qdiscs, the nft table, processes) lives inside one,
       so deleting the namespaces after killing their processes removes all.
    2. Nothing is made in the host's namespace and no namespace has a route
       outside 10.212.0.0/16: lab traffic never leaves the lab.
    3. A cut is an element (in-interface . out-interface) of the router's
       nft set `cuts`; healing removes it, so cuts never stack or leak.

Simplifications
    IPv4 only. Delay sits on the router's egress, so a one-way crossing
    az1 -> az2 pays delay_ms once and a round trip twice. Needs root (or
    CAP_NET_ADMIN and CAP_SYS_ADMIN for `ip netns`); a user who is not root
    calls enter_user_namespace() first (unshare -rnmpf); tc netem needs
    CONFIG_NET_SCH_NETEM in the kernel (without it, shape() refuses delay,
    loss and reorder with that name, and rate uses tbf).

See also
    docs/lab.md; tests/clients/test_lab_topology.py.
"""
import argparse
import functools
import gzip
import os
import shutil
import signal
import subprocess
import sys
import time

PREFIX = "samsa-lab-"              # every namespace the lab makes starts so
AZS = ("az1", "az2", "az3")
CLIENTS = "clients"
ROUTER = "router"
NET = "10.212.0.0/16"              # private, and only inside the lab
SUBNET = {"az1": 1, "az2": 2, "az3": 3, "clients": 9}   # 10.212.<n>.0/24


class LabError(Exception):
    """Something the lab could not do; the message says what is missing."""


def sh(argv, check=True, **kw):
    """Run a command, return its stdout; raise LabError with its stderr."""
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, **kw)
    if check and r.returncode != 0:
        raise LabError("%s: %s" % (" ".join(argv), r.stderr.strip()))
    return r.stdout


def require_root():
    """The lab needs CAP_NET_ADMIN (veths, tc, nft) and CAP_SYS_ADMIN
    (`ip netns add` mounts /run/netns/NAME), and the tools."""
    if os.geteuid() != 0:
        raise LabError("the lab's network needs root (CAP_NET_ADMIN, and "
                       "CAP_SYS_ADMIN for ip netns): run as root, or call "
                       "enter_user_namespace() first; see docs/lab.md")
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    for tool in ("ip", "tc", "nft"):
        if shutil.which(tool, path=path) is None:
            raise LabError("%s is missing: apt-get install -y iproute2 nftables" % tool)


def enter_user_namespace(argv):
    """Not root: run argv again as "root" of a new user namespace with its
    own network, mount and PID namespaces (`unshare -rnmpf`), and give it a
    private /run for /run/netns. Everything the lab starts lives in that PID
    namespace, so when it ends, even by SIGKILL, the kernel kills every
    process and drops every namespace. Returns only inside the namespace."""
    if os.environ.get("SAMSA_LAB_USERNS") == "1":
        sh(["mount", "-t", "tmpfs", "samsa-lab", "/run"])
        os.environ["SAMSA_LAB_USERNS"] = "inside"
    if os.geteuid() == 0:
        return
    env = dict(os.environ, SAMSA_LAB_USERNS="1")
    os.execvpe("unshare", ["unshare", "--map-root-user", "--net", "--mount",
                           "--pid", "--fork", "--mount-proc", "--kill-child",
                           "--", sys.executable] + list(argv), env)


@functools.lru_cache(maxsize=1)
def netem_available():
    """True when the kernel has tc netem (CONFIG_NET_SCH_NETEM)."""
    try:
        with open("/proc/config.gz", "rb") as f:
            return b"CONFIG_NET_SCH_NETEM=" in gzip.decompress(f.read())
    except OSError:
        return True   # no config to read: let tc say it when it fails


# ---- The topology ----

class Topology:
    """One run's namespaces, links, cuts and processes (Invariant 1)."""

    def __init__(self, run=None, delay_ms=1.0):
        self.run = run or "%x" % (os.getpid() & 0xfffff)
        self.delay_ms = delay_ms
        self.procs = []
        self.old_handlers = {}

    def ns(self, name):
        """The namespace's full name: samsa-lab-<run>-<name>."""
        return "%s%s-%s" % (PREFIX, self.run, name)

    def addr(self, name):
        """The address of an AZ or of the clients namespace."""
        return "10.212.%d.2" % SUBNET[name]

    def __enter__(self):
        self.old_handlers = {s: signal.signal(s, _raise_interrupt)
                             for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc):
        for s in self.old_handlers:        # a second Ctrl-C must not stop
            signal.signal(s, signal.SIG_IGN)   # the clean-up half-way
        self.down()
        for s, h in self.old_handlers.items():
            signal.signal(s, h)
        return False

    def up(self):
        """Make the five namespaces, link each to the router, add the nft
        table, and put the inter-AZ delay on the router's AZ links."""
        require_root()
        for name in (ROUTER,) + AZS + (CLIENTS,):
            sh(["ip", "netns", "add", self.ns(name)])
            self.ip(name, "link", "set", "lo", "up")
        for name in AZS + (CLIENTS,):
            self.link(name)
        sh(["ip", "netns", "exec", self.ns(ROUTER),
            "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        sh(["ip", "netns", "exec", self.ns(ROUTER), "nft", "-f", "-"],
           input=NFT_TABLE)
        if self.delay_ms and netem_available():
            for az in AZS:
                self.shape(az, delay_ms=self.delay_ms)
        elif self.delay_ms:
            print("topology: no tc netem in this kernel (CONFIG_NET_SCH_NETEM):"
                  " inter-AZ links run without added delay", file=sys.stderr)

    def check(self):
        """Assert Invariants 1-3 on the live network (tests call it)."""
        mine = [n for n in sh(["ip", "netns", "list"]).split() if self.ns("") in n]
        assert sorted(mine) == sorted(self.ns(n) for n in (ROUTER,) + AZS + (CLIENTS,)), mine
        host = sh(["ip", "-o", "link"])
        assert not any(" %s:" % n in host or " %s@" % n in host
                       for n in AZS + (CLIENTS,)), host           # INVARIANT 1
        for name in AZS + (CLIENTS,):                                # INVARIANT 2
            routes = self.ip(name, "route")
            assert "default" not in routes and NET in routes, routes
        ruleset = sh(["ip", "netns", "exec", self.ns(ROUTER), "nft", "list", "ruleset"])
        assert "iifname . oifname @cuts drop" in ruleset, ruleset  # INVARIANT 3

    def link(self, name):
        """A veth pair made inside the namespaces, never in the host's
        (Invariant 2): `<name>` at the router, `eth0` in the namespace."""
        n, ns = SUBNET[name], self.ns(name)
        self.ip(ROUTER, "link", "add", name, "type", "veth",
                "peer", "name", "eth0", "netns", ns)
        self.ip(ROUTER, "addr", "add", "10.212.%d.1/24" % n, "dev", name)
        self.ip(ROUTER, "link", "set", name, "up")
        self.ip(name, "addr", "add", "10.212.%d.2/24" % n, "dev", "eth0")
        self.ip(name, "link", "set", "eth0", "up")
        # INVARIANT 2: a route to the lab's range only, no default route.
        self.ip(name, "route", "add", NET, "via", "10.212.%d.1" % n)

    def ip(self, name, *args):
        return sh(["ip", "-n", self.ns(name)] + list(args))

    # ---- Processes ----

    def spawn(self, name, argv, **popen):
        """Start argv inside namespace `name`; down() stops it."""
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(name)] + list(argv),
                             **popen)
        self.procs.append(p)
        return p

    # ---- Faults: cuts (nftables) ----

    def cut(self, a, b=None, one_way=False):
        """Drop traffic from a to b (every other namespace when b is None),
        and from b to a unless one_way (Invariant 3)."""
        self.cuts("add", a, b, one_way)

    def heal(self, a=None, b=None, one_way=False):
        """Undo cut(a, b, one_way); with no arguments, heal every cut."""
        if a is None:
            self.nft("flush set inet lab cuts")
        else:
            self.cuts("delete", a, b, one_way)

    def cuts(self, verb, a, b, one_way):
        others = [b] if b is not None else [x for x in AZS + (CLIENTS,) if x != a]
        pairs = [(a, o) for o in others]
        if not one_way:
            pairs += [(o, a) for o in others]
        elems = ", ".join('"%s" . "%s"' % p for p in pairs)
        self.nft("%s element inet lab cuts { %s }" % (verb, elems))

    def nft(self, command):
        sh(["ip", "netns", "exec", self.ns(ROUTER), "nft", command])

    # ---- Faults: netem ----

    def shape(self, name, delay_ms=0, jitter_ms=0, loss_pct=0, reorder_pct=0,
              rate_mbit=None):
        """Set the router's egress toward `name`: tc netem for delay, loss and
        reorder (reorder needs a delay), tbf when only a rate is asked."""
        netem = []
        if delay_ms or jitter_ms:
            netem += ["delay", "%gms" % delay_ms] + (["%gms" % jitter_ms] if jitter_ms else [])
        if loss_pct:
            netem += ["loss", "%g%%" % loss_pct]
        if reorder_pct:
            netem += ["reorder", "%g%%" % reorder_pct]
        if netem and not netem_available():
            raise LabError("delay, loss and reorder need tc netem, which this "
                           "kernel lacks (CONFIG_NET_SCH_NETEM)")
        if netem:
            rate = ["rate", "%gmbit" % rate_mbit] if rate_mbit else []
            qdisc = ["netem"] + netem + rate + ["limit", "100000"]
        elif rate_mbit:
            qdisc = ["tbf", "rate", "%gmbit" % rate_mbit, "burst", "32kbit",
                     "latency", "400ms"]
        else:
            return self.unshape(name)
        sh(["tc", "-n", self.ns(ROUTER), "qdisc", "replace", "dev", name,
            "root"] + qdisc)

    def unshape(self, name):
        """Back to the default: the inter-AZ delay for an AZ, none else."""
        sh(["tc", "-n", self.ns(ROUTER), "qdisc", "del", "dev", name, "root"],
           check=False)
        if name in AZS and self.delay_ms and netem_available():
            self.shape(name, delay_ms=self.delay_ms)

    # ---- Teardown ----

    def down(self):
        """Stop our processes, then remove this run's namespaces (and with
        them every veth, qdisc and nft table, Invariant 1)."""
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        clean(self.run)


NFT_TABLE = """
table inet lab {
    set cuts {
        type ifname . ifname
    }
    chain forward {
        type filter hook forward priority filter; policy accept;
        ip daddr != %s drop
        iifname . oifname @cuts drop
    }
}
""" % NET


def _raise_interrupt(signum, frame):
    """SIGINT and SIGTERM unwind the stack, so the with-block cleans up."""
    raise KeyboardInterrupt("signal %d" % signum)


# ---- Leftovers of killed runs ----

def runs():
    """Run ids that still have namespaces: {run: [namespace, ...]}."""
    found = {}
    for line in sh(["ip", "netns", "list"]).splitlines():
        name = line.split()[0] if line.strip() else ""
        if name.startswith(PREFIX):
            run = name[len(PREFIX):].rsplit("-", 1)[0]
            found.setdefault(run, []).append(name)
    return found


def clean(run=None):
    """Kill every process in the lab's namespaces (of one run, or all runs)
    and delete the namespaces. Safe to call twice, or with nothing left."""
    for r, names in runs().items():
        if run is not None and r != run:
            continue
        for ns in names:
            for pid in sh(["ip", "netns", "pids", ns], check=False).split():
                if int(pid) == os.getpid():   # the lab's driver lives in
                    continue                   # the clients namespace
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        time.sleep(0.05)
        for ns in names:
            sh(["ip", "netns", "del", ns], check=False)


def main(argv):
    ap = argparse.ArgumentParser(description="the lab's network namespaces")
    ap.add_argument("command", choices=("up", "clean", "list"))
    ap.add_argument("--run", help="run id (default: from the pid)")
    ap.add_argument("--delay-ms", type=float, default=1.0,
                    help="inter-AZ one-way delay (default 1 ms)")
    args = ap.parse_args(argv)
    if args.command == "up":
        enter_user_namespace([os.path.abspath(__file__)] + list(argv))
    if args.command == "clean":
        clean(args.run)
    elif args.command == "list":
        for r, names in sorted(runs().items()):
            print(r, " ".join(names))
    else:
        with Topology(args.run, args.delay_ms) as net:
            print("lab network up: run %s; Ctrl-C removes it" % net.run, flush=True)
            for name in AZS + (CLIENTS,):
                print("  %-8s %-12s ip netns exec %s ..." % (name, net.addr(name), net.ns(name)))
            try:
                signal.pause()
            except KeyboardInterrupt:
                pass


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except LabError as e:
        sys.exit("topology: %s" % e)
