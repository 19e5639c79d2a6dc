"""The lab's network (lab/topology.py) on real namespaces: reachability
through the router, no route out, netem delay, tbf rate, cuts of an AZ and of
one link (both ways and one way), healing, and clean-up after SIGINT and
after SIGKILL + `topology.py clean`; and a user who is not root (nobody, via
setpriv) building it inside a user namespace that SIGKILL removes whole.

Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN, and setpriv to become nobody);
without it the module says so and runs nothing. Traffic goes only between the namespaces a test made.
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

from harness import ROOT, run_tests

sys.path.insert(0, os.path.join(ROOT, "lab"))
import topology  # noqa: E402
from topology import AZS, Topology, sh  # noqa: E402

TOPOLOGY = os.path.join(ROOT, "lab", "topology.py")
PORT = 9000

# A TCP echo server and a UDP counter, run inside a namespace.
ECHO = r"""
import socket, sys, threading
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("0.0.0.0", int(sys.argv[1]))); t.listen()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", int(sys.argv[1])))
def udp():
    while True:
        data, peer = u.recvfrom(100); u.sendto(data, peer)
threading.Thread(target=udp, daemon=True).start()
while True:
    c, _ = t.accept(); c.sendall(c.recv(100)); c.close()
"""
# Connect, send, read the echo: prints "ok" or the error; also the time of
# the fastest of N connects in ms.
PROBE = r"""
import socket, sys, time
best = None
try:
    for _ in range(int(sys.argv[3])):
        t0 = time.monotonic()
        c = socket.create_connection((sys.argv[1], int(sys.argv[2])), 1.5)
        ms = (time.monotonic() - t0) * 1000
        best = ms if best is None else min(best, ms)
        c.sendall(b"ping"); assert c.recv(10) == b"ping"; c.close()
    print("ok %.2f" % best)
except OSError as e:
    print("error", e)
"""
# Send 5 UDP datagrams, print how many echoes came back within 1 s, and
# whether the echo server answered at all (one-way cuts drop one direction).
UDP = r"""
import socket, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(1)
for i in range(5): u.sendto(b"d%d" % i, (sys.argv[1], int(sys.argv[2])))
n = 0
try:
    while n < 5: u.recvfrom(100); n += 1
except OSError:
    pass
print(n)
"""
# Receive bulk bytes and print how many arrived.
SINK = r"""
import socket, sys
t = socket.socket(); t.bind(("0.0.0.0", int(sys.argv[1]))); t.listen()
c, _ = t.accept(); n = 0
while True:
    d = c.recv(65536)
    if not d: break
    n += len(d)
print(n, flush=True)
"""


def in_ns(net, name, code, *args, timeout=30):
    return sh(["ip", "netns", "exec", net.ns(name), sys.executable, "-c", code]
              + [str(a) for a in args], timeout=timeout).strip()


def start_echo(net, *names):
    for name in names:
        net.spawn(name, [sys.executable, "-c", ECHO, str(PORT)])
    for name in names:   # wait until each listens, probed from its own ns
        deadline = time.time() + 10
        while not in_ns(net, name, PROBE, "127.0.0.1", PORT, 1).startswith("ok"):
            assert time.time() < deadline, "echo server in %s did not start" % name
            time.sleep(0.1)


def reaches(net, src, dst):
    return in_ns(net, src, PROBE, net.addr(dst), PORT, 1).startswith("ok")


def udp_echoes(net, src, dst):
    return int(in_ns(net, src, UDP, net.addr(dst), PORT))


def test_az1_reaches_az2_and_clients_through_the_router_only():
    with Topology(run="t%x" % os.getpid()) as net:
        net.check()
        start_echo(net, "az2", "clients", "az3")
        assert reaches(net, "az1", "az2") and reaches(net, "az1", "clients")
        assert reaches(net, "clients", "az3")
        # The only way out of az1 is the router, and only into the lab's range.
        routes = net.ip("az1", "route")
        assert "default" not in routes and "10.212.0.0/16 via 10.212.1.1" in routes, routes
        r = subprocess.run(["ip", "-n", net.ns("az1"), "route", "get", "192.0.2.1"],
                           capture_output=True, text=True)
        assert r.returncode != 0 and "unreachable" in r.stderr, r.stderr
        # The veths live inside the lab's namespaces, none in the host's.
        host = sh(["ip", "-o", "link"])
        assert "az1" not in host and net.run not in host, host


def test_netem_adds_the_delay():
    with Topology(run="t%x" % os.getpid(), delay_ms=0) as net:
        start_echo(net, "az2")
        if not topology.netem_available():
            try:
                net.shape("az2", delay_ms=50)
            except topology.LabError as e:
                assert "CONFIG_NET_SCH_NETEM" in str(e), e
                print("note: this kernel has no tc netem; checked that shape() "
                      "refuses delay by name (the delay measurement needs netem)")
                return
            raise AssertionError("shape(delay) succeeded without netem")
        before = float(in_ns(net, "az1", PROBE, net.addr("az2"), PORT, 5).split()[1])
        net.shape("az2", delay_ms=50)
        after = float(in_ns(net, "az1", PROBE, net.addr("az2"), PORT, 5).split()[1])
        # A connect's SYN crosses the router's egress to az2 once: >= 50 ms.
        assert after >= 47.5 and after > before, (before, after)
        net.unshape("az2")
        back = float(in_ns(net, "az1", PROBE, net.addr("az2"), PORT, 5).split()[1])
        assert back < 47.5, back


def test_rate_limit_slows_a_bulk_transfer():
    with Topology(run="t%x" % os.getpid(), delay_ms=0) as net:
        sink = net.spawn("az2", [sys.executable, "-c", SINK, str(PORT)],
                         stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        net.shape("az2", rate_mbit=2)
        send = ("import socket,sys,time\n"
                "c=socket.create_connection((sys.argv[1],%d),5)\n"
                "t=time.monotonic(); c.sendall(b'x'*750000); c.shutdown(1); c.recv(1)\n"
                "print(time.monotonic()-t)" % PORT)
        took = float(in_ns(net, "az1", send, net.addr("az2"), timeout=60))
        assert int(sink.communicate(timeout=10)[0]) == 750000
        # 750 kB at 2 Mbit/s is 3 s; the limiter makes it at least 2 s.
        assert took >= 2.0, took


def test_cut_az1_fails_both_ways_while_az2_and_az3_talk_then_heal():
    with Topology(run="t%x" % os.getpid(), delay_ms=0) as net:
        start_echo(net, *(AZS + ("clients",)))
        net.cut("az1")
        net.check()
        for other in ("az2", "az3", "clients"):
            assert not reaches(net, "az1", other), other
            assert not reaches(net, other, "az1"), other
        assert reaches(net, "az2", "az3") and reaches(net, "az3", "az2")
        assert reaches(net, "clients", "az2")
        net.heal("az1")
        for other in ("az2", "az3", "clients"):
            assert reaches(net, "az1", other) and reaches(net, other, "az1"), other


def test_cut_one_link_and_one_way():
    with Topology(run="t%x" % os.getpid(), delay_ms=0) as net:
        start_echo(net, *AZS)
        net.cut("az1", "az2")                  # one link, both ways
        assert not reaches(net, "az1", "az2") and not reaches(net, "az2", "az1")
        assert reaches(net, "az1", "az3") and reaches(net, "az3", "az2")
        net.heal("az1", "az2")
        assert reaches(net, "az1", "az2")
        net.cut("az1", "az2", one_way=True)    # only az1 -> az2 is dropped
        assert udp_echoes(net, "az1", "az2") == 0     # requests lost
        assert udp_echoes(net, "az2", "az1") == 0     # echoes (az1 -> az2) lost
        assert reaches(net, "az1", "az3")
        # Datagrams az2 -> az1 do arrive: the echo server in az1 sees them.
        count = ("import socket,sys\n"
                 "u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                 "u.bind(('0.0.0.0',9001)); u.settimeout(3)\n"
                 "print(len(u.recv(100)))")
        rx = net.spawn("az1", [sys.executable, "-c", count],
                       stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        in_ns(net, "az2", "import socket,sys\n"
              "u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
              "[u.sendto(b'x'*7,(sys.argv[1],9001)) for _ in range(3)]", net.addr("az1"))
        assert rx.communicate(timeout=10)[0].strip() == "7"
        net.heal()
        assert udp_echoes(net, "az1", "az2") == 5


# ---- Clean-up ----

# A lab run that builds the topology, starts a process in az1 and one in the
# router directly with `ip netns exec`, cuts az2, shapes az3, then waits.
HOLD = r"""
import subprocess, sys, signal
sys.path.insert(0, sys.argv[1])
from topology import Topology
sleeper = [sys.executable, "-c", "import time; time.sleep(300)", sys.argv[3]]
try:
    with Topology(run=sys.argv[2]) as net:
        net.spawn("az1", sleeper)
        subprocess.Popen(["ip", "netns", "exec", net.ns("router")] + sleeper)
        net.cut("az2")
        net.shape("az3", rate_mbit=5)
        print("ready", flush=True)
        signal.pause()
except KeyboardInterrupt:
    pass
"""


def host_state():
    """What the host shows: links, qdiscs, nft tables (all must be unchanged)."""
    nft = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    links = [line.split(":")[1].split("@")[0].strip()
             for line in sh(["ip", "-o", "link"]).splitlines()]
    return sorted(links), sh(["tc", "qdisc", "show"]), nft


def lab_processes(marker):
    pids = []
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if marker.encode() in f.read():
                    pids.append(int(pid))
        except (OSError, ValueError):
            pass
    return pids


def assert_nothing_left(run, marker, before):
    names = [n for n in sh(["ip", "netns", "list"]).split() if run in n]
    assert names == [], names
    assert not any(run in f for f in os.listdir("/run/netns")), os.listdir("/run/netns")
    assert lab_processes(marker) == [], lab_processes(marker)
    assert host_state() == before, (host_state(), before)


def start_hold(run, marker):
    p = subprocess.Popen([sys.executable, "-c", HOLD, os.path.join(ROOT, "lab"), run, marker],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        assert len(topology.runs()[run]) == 5 and len(lab_processes(marker)) == 3
    except BaseException:
        p.kill()
        topology.clean(run)
        raise
    return p


def test_sigint_and_sigterm_remove_everything():
    for sig in (signal.SIGINT, signal.SIGTERM):
        run, marker = "i%x%d" % (os.getpid(), sig), "marker-%d-%d" % (os.getpid(), sig)
        before = host_state()
        p = start_hold(run, marker)
        p.send_signal(sig)
        p.wait(timeout=20)
        deadline = time.time() + 5     # `sleep` children get SIGKILL from clean()
        while lab_processes(marker) and time.time() < deadline:
            time.sleep(0.1)
        assert_nothing_left(run, marker, before)


def test_an_exception_removes_everything():
    run, marker = "e%x" % os.getpid(), "marker-e-%d" % os.getpid()
    before = host_state()
    try:
        with Topology(run=run) as net:
            net.spawn("az2", [sys.executable, "-c", "import time; time.sleep(300)", marker])
            net.cut("az1", "az3", one_way=True)
            raise ValueError("a scenario failed")
    except ValueError:
        pass
    assert_nothing_left(run, marker, before)


def test_sigkill_leaves_leftovers_that_clean_removes():
    run, marker = "k%x" % os.getpid(), "marker-k-%d" % os.getpid()
    before = host_state()
    p = start_hold(run, marker)
    p.kill()
    p.wait()
    assert len(topology.runs()[run]) == 5 and len(lab_processes(marker)) == 2
    sh([sys.executable, TOPOLOGY, "clean", "--run", run])
    time.sleep(0.2)
    assert_nothing_left(run, marker, before)


# The same kind of run by a user who is not root: it enters a user namespace.
USERNS_HOLD = r"""
import os, signal, sys
sys.path.insert(0, sys.argv[1])
import topology
topology.enter_user_namespace([os.path.abspath(sys.argv[0])] + sys.argv[1:])
sleeper = [sys.executable, "-c", "import time; time.sleep(300)", sys.argv[2]]
with topology.Topology(run="u") as net:
    net.check()
    net.spawn("az1", sleeper)
    net.spawn("az2", sleeper)
    print("ready", os.geteuid(), flush=True)
    signal.pause()
"""
NOBODY = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]


def test_unprivileged_user_namespace_and_sigkill_of_it():
    if subprocess.run(NOBODY + ["unshare", "-rn", "true"]).returncode != 0:
        print("note: this system forbids unprivileged user namespaces "
              "(kernel.unprivileged_userns_clone or AppArmor); not tested")
        return
    marker = "marker-u-%d" % os.getpid()
    before = host_state()
    script = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)
    script.write(USERNS_HOLD)
    script.close()
    os.chmod(script.name, 0o644)
    p = subprocess.Popen(NOBODY + [sys.executable, script.name,
                                   os.path.join(ROOT, "lab"), marker],
                         stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline().split()
        assert line == ["ready", "0"], line          # "root" inside only
        # unshare, the run inside it, and its two sleepers (a spawn's
        # short-lived helper may still be there for a moment: wait it out)
        deadline = time.time() + 5
        procs = lab_processes(marker)
        while len(procs) != 4 and time.time() < deadline:
            time.sleep(0.05)
            procs = lab_processes(marker)
        assert len(procs) == 4, procs
        assert not any(n.startswith("samsa-lab-u-")
                       for n in sh(["ip", "netns", "list"]).split())
        p.kill()                                      # SIGKILL, no clean-up code runs
        p.wait()
        deadline = time.time() + 5
        while lab_processes(marker) and time.time() < deadline:
            time.sleep(0.1)
        assert_nothing_left("samsa-lab-u-", marker, before)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.unlink(script.name)


def main():
    if os.geteuid() != 0:
        print("skip: lab/topology.py needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN)")
        print("0 passed, 0 failed")
        return
    try:
        run_tests(globals())
    finally:
        topology.clean("t%x" % os.getpid())


if __name__ == "__main__":
    main()
