#!/usr/bin/python3
"""Chapter 13's TLS listeners with real clients: kcat (librdkafka), kafka-python
and confluent-kafka over security.protocol=SSL, mutual TLS with a client
certificate (and refused without one), and confused clients (plaintext on the
SSL port, TLS on the plaintext port) closed while the broker keeps serving.
Certificates come from tools/certs.sh (`make certs`) into a temporary
directory; every broker listens on 127.0.0.1 only: PLAINTEXT on b.port, SSL
on a second free port."""
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

from harness import ROOT, Broker, free_port, run, run_tests

CERTS = None  # made by setup, removed by teardown


def setup():
    global CERTS
    CERTS = tempfile.mkdtemp(prefix="samsa-tls-certs-")
    run(["sh", os.path.join(ROOT, "tools", "certs.sh"), CERTS])


def cert(name):
    return os.path.join(CERTS, name)


class TlsBroker(Broker):
    """A broker with PLAINTEXT on self.port and SSL on self.ssl_port."""

    def __init__(self, client_auth="none", overrides=None):
        self.ssl_port = free_port()
        conf = {
            "listeners": None,  # set below, once Broker picked self.port
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SSL:SSL",
            "ssl.keystore.location": cert("broker.pem"),
            "ssl.truststore.location": cert("ca.pem"),
            "ssl.client.auth": client_auth,
        }
        conf.update(overrides or {})
        super().__init__(conf)
        self.overrides["listeners"] = "PLAINTEXT://127.0.0.1:%d,SSL://127.0.0.1:%d" % (
            self.port, self.ssl_port)
        self.ssl_bootstrap = "127.0.0.1:%d" % self.ssl_port

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


def kcat_ssl(b, user=None, ca=True):
    """kcat's -X options for the SSL listener, as user (a client cert) or none."""
    args = ["-b", b.ssl_bootstrap, "-X", "security.protocol=ssl"]
    if ca:
        args += ["-X", "ssl.ca.location=" + cert("ca.pem")]
    if user:
        args += ["-X", "ssl.certificate.location=" + cert(user + ".crt"),
                 "-X", "ssl.key.location=" + cert(user + ".key")]
    return args


def kcat_roundtrip(b, topic, user=None, n=200):
    lines = "".join("k%d\tv%d\n" % (i, i) for i in range(n)).encode()
    run(["kcat"] + kcat_ssl(b, user) + ["-P", "-t", topic, "-K", r"\t",
                                         "-X", "acks=all"], input=lines, timeout=30)
    out = run(["kcat"] + kcat_ssl(b, user) + ["-C", "-t", topic, "-o", "beginning",
                                               "-e", "-q", "-f", r"%k=%s\n"],
              timeout=30).stdout.decode().split()
    assert out == ["k%d=v%d" % (i, i) for i in range(n)], out[:5]


def test_kcat_ssl_produce_consume_and_metadata_names_the_ssl_port():
    with TlsBroker() as b:
        kcat_roundtrip(b, "tls-kcat")
        out = run(["kcat"] + kcat_ssl(b) + ["-L", "-m", "5"]).stdout.decode()
        # KAFKA: each listener advertises itself: an SSL client is told the SSL port.
        assert "broker 1 at %s" % b.ssl_bootstrap in out, out
        out = run(["kcat", "-b", b.bootstrap, "-L", "-m", "5"]).stdout.decode()
        assert "broker 1 at %s" % b.bootstrap in out, out


def test_kcat_ssl_large_fetch_through_the_bounce_buffer():
    # 8 MB of records: Fetch's file ranges go through conn_copy_file and
    # many TLS records, partial writes and a full socket (EPOLLOUT).
    n, size = 4000, 2000
    with TlsBroker() as b:
        lines = "".join("%05d%s\n" % (i, "x" * size) for i in range(n)).encode()
        run(["kcat"] + kcat_ssl(b) + ["-P", "-t", "tls-big", "-X", "acks=all",
                                      "-X", "message.max.bytes=1000000"],
            input=lines, timeout=60)
        out = run(["kcat"] + kcat_ssl(b) + ["-C", "-t", "tls-big", "-o", "beginning",
                                             "-e", "-q", "-f", "%s\n"],
                  timeout=60).stdout
        assert out == lines, (len(out), len(lines))


def test_kcat_mutual_tls_required():
    with TlsBroker("required") as b:
        kcat_roundtrip(b, "tls-mtls", user="alice")
        r = run(["kcat"] + kcat_ssl(b) + ["-L", "-m", "3"], check=False, timeout=30)
        assert r.returncode != 0, r.stdout
        assert b"certificate required" in r.stderr or b"alert" in r.stderr, r.stderr
        time.sleep(0.2)
        assert "TLS handshake failed" in b.log(), b.log_tail()
        assert b.alive()


def test_kafka_python_ssl_produce_consume():
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    with TlsBroker("required") as b:
        ssl = dict(security_protocol="SSL", ssl_cafile=cert("ca.pem"),
                   ssl_certfile=cert("bob.crt"), ssl_keyfile=cert("bob.key"))
        p = KafkaProducer(bootstrap_servers=b.ssl_bootstrap, acks="all", **ssl)
        for i in range(100):
            p.send("tls-kp", key=b"k%d" % i, value=b"v%d" % i)
        p.flush(20)
        p.close()
        c = KafkaConsumer(bootstrap_servers=b.ssl_bootstrap, group_id=None,
                          consumer_timeout_ms=10000, **ssl)
        tp = TopicPartition("tls-kp", 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        got = []
        for m in c:
            got.append((m.key, m.value))
            if len(got) == 100:
                break
        c.close()
        assert got == [(b"k%d" % i, b"v%d" % i) for i in range(100)], got[:3]


def test_confluent_kafka_ssl_produce_consume():
    from confluent_kafka import Consumer, Producer, TopicPartition
    with TlsBroker() as b:
        conf = {"bootstrap.servers": b.ssl_bootstrap, "security.protocol": "SSL",
                "ssl.ca.location": cert("ca.pem")}
        p = Producer(dict(conf, acks="all"))
        for i in range(100):
            p.produce("tls-ck", key=b"k%d" % i, value=b"v%d" % i)
        assert p.flush(20) == 0
        del p  # closed before the broker stops
        c = Consumer(dict(conf, **{"group.id": "tls-g", "enable.auto.commit": False}))
        c.assign([TopicPartition("tls-ck", 0, 0)])
        got = []
        deadline = time.time() + 20
        while len(got) < 100 and time.time() < deadline:
            m = c.poll(1.0)
            if m is not None and not m.error():
                got.append((m.key(), m.value()))
        c.close()
        assert got == [(b"k%d" % i, b"v%d" % i) for i in range(100)], got[:3]


def recv_closed(port, payload):
    """Send payload to 127.0.0.1:port; True if the broker closes without a byte."""
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        s.settimeout(5)
        s.sendall(payload)
        try:
            return s.recv(100) == b""
        except ConnectionResetError:
            return True


def test_wrong_protocol_is_closed_and_the_broker_keeps_serving():
    with TlsBroker() as b:
        # ApiVersions v0 in plaintext, on the SSL port.
        api_versions = struct.pack(">ihhih", 10, 18, 0, 1, 0)
        assert recv_closed(b.ssl_port, api_versions)
        # kcat speaking TLS to the PLAINTEXT port, and plaintext to the SSL one.
        r = run(["kcat", "-b", b.bootstrap, "-X", "security.protocol=ssl", "-X",
                 "ssl.ca.location=" + cert("ca.pem"), "-L", "-m", "2"],
                check=False, timeout=30)
        assert r.returncode != 0
        r = run(["kcat", "-b", b.ssl_bootstrap, "-L", "-m", "2"], check=False,
                timeout=30)
        assert r.returncode != 0
        time.sleep(0.2)
        log = b.log()
        assert "plaintext Kafka request on an SSL listener from 127.0.0.1:" in log, log
        assert "TLS handshake on a PLAINTEXT listener from 127.0.0.1:" in log, log
        assert "request size" not in log, log
        # Both listeners still serve.
        kcat_roundtrip(b, "tls-after", n=10)
        run(["kcat", "-b", b.bootstrap, "-L", "-m", "5"])
        assert b.alive()


def test_bad_keystore_stops_startup_naming_key_and_file():
    missing = os.path.join(CERTS, "no-such.pem")
    b = TlsBroker(overrides={"ssl.keystore.location": missing})
    try:
        b.start()
        raise AssertionError("started with a missing keystore")
    except RuntimeError as e:
        assert "ssl.keystore.location" in str(e) and missing in str(e), str(e)
    finally:
        b.stop()
        shutil.rmtree(b.dir, ignore_errors=True)


# ---- A cluster whose own traffic is TLS (13_tls_peer.c) ----

BROKER_PRINCIPAL = "User:CN=localhost,O=samsa"  # broker.pem's subject


def ssl_cluster():
    """Three combined nodes of test_cluster.Cluster whose CONTROLLER and
    INTERNAL (inter-broker) listeners are SSL with mutual TLS; PLAINTEXT
    stays on node.port for the harness. The authorizer is on with no ACL:
    only the brokers' own certificate (super.users) may do their RPCs."""
    import test_cluster
    c = test_cluster.Cluster()
    test_cluster.CLUSTER = c  # its helpers print c.logs() on failure
    for x in c.nodes:
        x.internal_port = free_port()
        x.internal = "127.0.0.1:%d" % x.internal_port
        x.overrides.update({
            "listeners": "PLAINTEXT://127.0.0.1:%d,INTERNAL://127.0.0.1:%d,"
                         "CONTROLLER://127.0.0.1:%d"
                         % (x.port, x.internal_port, x.controller_port),
            "advertised.listeners": "PLAINTEXT://127.0.0.1:%d,"
                                    "INTERNAL://127.0.0.1:%d"
                                    % (x.port, x.internal_port),
            "listener.security.protocol.map":
                "PLAINTEXT:PLAINTEXT,INTERNAL:SSL,CONTROLLER:SSL",
            "inter.broker.listener.name": "INTERNAL",
            "ssl.keystore.location": cert("broker.pem"),
            "ssl.truststore.location": cert("ca.pem"),
            "ssl.client.auth": "required",
            "authorizer.class.name":
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": BROKER_PRINCIPAL,
            "default.replication.factor": "3",
            "min.insync.replicas": "2",
            "replica.lag.time.max.ms": "3000",
            # fence the killed leader soon, so the test stays short
            "broker.session.timeout.ms": "3000",
            "broker.heartbeat.interval.ms": "500",
        })
    return c


PLAIN_LOGIN = ("org.apache.kafka.common.security.plain.PlainLoginModule "
               'required username="broker" password="broker-secret" '
               'user_broker="broker-secret";')


def sasl_ssl_internal(c):
    """c's INTERNAL listener made SASL_SSL: the brokers log in to each
    other with PLAIN as User:broker (13_sasl_peer.c), over TLS."""
    for x in c.nodes:
        x.overrides.update({
            "listener.security.protocol.map":
                "PLAINTEXT:PLAINTEXT,INTERNAL:SASL_SSL,CONTROLLER:SSL",
            "sasl.mechanism.inter.broker.protocol": "PLAIN",
            "listener.name.internal.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.internal.plain.sasl.jaas.config": PLAIN_LOGIN,
            "listener.name.internal.ssl.client.auth": "none",
            "super.users": BROKER_PRINCIPAL + ";User:broker",
        })
    return c


def kcat_internal(node):
    """kcat on node's SSL INTERNAL listener with the brokers' own
    certificate (a super user: the test's client needs no ACL)."""
    return ["kcat", "-b", node.internal, "-X", "security.protocol=ssl",
            "-X", "ssl.ca.location=" + cert("ca.pem"),
            "-X", "ssl.certificate.location=" + cert("broker.crt"),
            "-X", "ssl.key.location=" + cert("broker.key")]


def create_topic_over_ssl(node, name, timeout=10):
    """CreateTopics (1 partition, 3 replicas) on node's
    INTERNAL listener with the brokers' certificate, retried until 0 (or
    36 after a try, as test_cluster.create_topic)."""
    import ssl
    import kwire
    ctx = ssl.create_default_context(cafile=cert("ca.pem"))
    ctx.load_cert_chain(cert("broker.crt"), cert("broker.key"))
    deadline, last, tries = time.time() + timeout, None, 0
    while time.time() < deadline:
        tries += 1
        try:
            conn = kwire.Conn(node.internal, timeout=5)
            conn.sock = ctx.wrap_socket(conn.sock, server_hostname="127.0.0.1")
            with conn:
                body = conn.request(kwire.create_topics(5, name, 1, replication=3))
            last = kwire.create_topics_errors(5, body)[0][1]
            if last == 0 or (last == 36 and tries > 1):
                return
        except (OSError, ValueError) as e:
            last = e
        time.sleep(0.1)
    raise AssertionError("CreateTopics %s: %r" % (name, last))


def partition_of(node, topic):
    """(leader, isr) of topic's partition 0 as node's Metadata says."""
    out = run(kcat_internal(node) + ["-L", "-t", topic, "-m", "5"],
              check=False, timeout=15).stdout.decode()
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("partition 0,") and "leader" in line:
            leader = int(line.split("leader ")[1].split(",")[0])
            isr = line.split("isrs: ")[1].strip() if "isrs: " in line else ""
            return leader, sorted(int(i) for i in isr.split(",") if i)
    return None, []


def test_cluster_over_ssl_replicates_and_fails_over():
    c = ssl_cluster()
    try:
        c.start()  # elected, registered and unfenced: all over SSL
        logs = "".join(open(x.log_path, errors="replace").read()
                       for x in c.nodes)
        assert "connected over SSL" in logs, c.logs()
        assert "peer" in logs and "connected\n" not in logs.replace(
            "connected over SSL\n", ""), "a peer dialled in plaintext"
        import test_cluster
        create_topic_over_ssl(c.node(1), "secure")
        test_cluster.wait_for("ISR of 3 over SSL", lambda: partition_of(
            c.node(1), "secure")[1] == [1, 2, 3], 15)
        lines = "".join("k%d\tv%d\n" % (i, i) for i in range(200))
        run(kcat_internal(c.node(2)) + ["-P", "-t", "secure", "-K", r"\t",
                                        "-X", "acks=all"],
            input=lines.encode(), timeout=30)
        leader, _ = partition_of(c.node(1), "secure")
        c.node(leader).stop(kill=True)
        alive = [x for x in c.nodes if x.id != leader]
        test_cluster.wait_for("a new leader", lambda: partition_of(
            alive[0], "secure")[0] in [x.id for x in alive], 20)
        new_leader = c.node(partition_of(alive[0], "secure")[0])
        out = run(kcat_internal(new_leader) + [
            "-C", "-t", "secure", "-o", "beginning", "-e", "-q",
            "-f", r"%k=%s\n"], timeout=30).stdout.decode().split()
        assert out == ["k%d=v%d" % (i, i) for i in range(200)], out[:5]
        # A plaintext Kafka request on the SSL controller port: refused.
        api_versions = struct.pack(">ihhih", 10, 18, 0, 1, 0)
        assert recv_closed(alive[0].controller_port, api_versions)
        time.sleep(0.2)
        with open(alive[0].log_path, errors="replace") as f:
            log = f.read()
        assert "plaintext Kafka request on an SSL listener from" in log, log
        # The survivors stop cleanly (and, under ASan, without a leak),
        # both at once: the last alone would wait out its controlled
        # shutdown.
        for x in alive:
            x.signal(signal.SIGTERM)
        rcs = [x.stop() for x in alive]
        assert rcs == [0, 0], "exit codes %s\n%s" % (rcs, c.logs())
    finally:
        c.close()


def test_cluster_inter_broker_sasl_ssl_plain():
    """KAFKA: sasl.mechanism.inter.broker.protocol=PLAIN: replication on a
    SASL_SSL inter-broker listener, the quorum on SSL with mTLS."""
    import test_cluster
    c = sasl_ssl_internal(ssl_cluster())
    try:
        c.start()
        logs = "".join(open(x.log_path, errors="replace").read()
                       for x in c.nodes)
        assert "connected over SSL" in logs, c.logs()
        kcat = ["kcat", "-b", c.node(3).internal, "-X",
                "security.protocol=sasl_ssl", "-X", "sasl.mechanisms=PLAIN",
                "-X", "sasl.username=broker", "-X",
                "sasl.password=broker-secret",
                "-X", "ssl.ca.location=" + cert("ca.pem")]
        import ssl
        import kwire
        ctx = ssl.create_default_context(cafile=cert("ca.pem"))
        deadline = time.time() + 10
        while True:  # CreateTopics as User:broker (SaslHandshake v1, PLAIN)
            try:
                conn = kwire.Conn(c.node(1).internal, timeout=5)
                conn.sock = ctx.wrap_socket(conn.sock,
                                            server_hostname="127.0.0.1")
                with conn:
                    sasl_plain_login(conn, "broker", "broker-secret")
                    body = conn.request(kwire.create_topics(5, "viasasl", 1,
                                                            replication=3))
                if kwire.create_topics_errors(5, body)[0][1] in (0, 36):
                    break
            except (OSError, ValueError):
                pass
            assert time.time() < deadline, c.logs()
            time.sleep(0.2)
        test_cluster.wait_for("ISR of 3 over SASL_SSL", lambda: isr_via(
            kcat, "viasasl") == [1, 2, 3], 15)
        lines = "".join("k%d\tv%d\n" % (i, i) for i in range(50))
        run(kcat + ["-P", "-t", "viasasl", "-K", r"\t", "-X", "acks=all"],
            input=lines.encode(), timeout=30)
        out = run(kcat + ["-C", "-t", "viasasl", "-o", "beginning", "-e",
                          "-q", "-f", r"%k=%s\n"], timeout=30).stdout.decode()
        assert out.split() == ["k%d=v%d" % (i, i) for i in range(50)], out[:80]
        logs = "".join(open(x.log_path, errors="replace").read()
                       for x in c.nodes)
        assert "connected over SASL" in logs, c.logs()
        for x in c.nodes:  # all at once: the last alone would wait out
            x.signal(signal.SIGTERM)  # its controlled shutdown
        rcs = [x.stop() for x in c.nodes]  # clean, and no ASan leak
        assert rcs == [0, 0, 0], "exit codes %s\n%s" % (rcs, c.logs())
    finally:
        c.close()


def sasl_plain_login(conn, user, password):
    """SaslHandshake v1 (PLAIN) and SaslAuthenticate v1 on a kwire Conn."""
    import kwire
    body = conn.request((17, 1, kwire.string("PLAIN")))
    assert body[:2] == b"\0\0", body
    token = b"\0" + user.encode() + b"\0" + password.encode()
    body = conn.request((36, 1, struct.pack(">i", len(token)) + token))
    assert body[:2] == b"\0\0", body


def isr_via(kcat, topic):
    out = run(kcat + ["-L", "-t", topic, "-m", "5"], check=False,
              timeout=15).stdout.decode()
    for line in out.splitlines():
        if "partition 0," in line and "isrs: " in line:
            return sorted(int(i) for i in line.split("isrs: ")[1].split(",")
                          if i.strip())
    return []


def teardown():
    shutil.rmtree(CERTS, ignore_errors=True)


if __name__ == "__main__":
    run_tests(globals(), setup=setup, teardown=teardown)
