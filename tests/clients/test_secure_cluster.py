#!/usr/bin/python3
"""Chapters 07, 12 and 13 together: config/cluster-secure/node1..3 (the
files `make cluster-secure` starts) moved onto free test ports and a
temporary directory, run as a three-node cluster whose quorum and
replication speak mutual TLS, with SSL (mutual TLS) and SASL_SSL
(SCRAM-SHA-512) listeners for clients and the StandardAuthorizer on.

The admin super user creates the topics and, through kafka-python's
admin client on node 1, the ACLs; then on EACH node: alice (as a SCRAM
user on SASL_SSL and as her certificate's subject on SSL) may write
topic orders and read group billing and nothing else, bob gets
TOPIC_AUTHORIZATION_FAILED, a topic alice may not describe is missing
from her Metadata, and a DENY beats a PREFIXED ALLOW. A client
bootstrapped on node 1's SSL port is told all three brokers at their SSL
ports (every listener is registered, chapter 07) and produces to a
partition another node leads."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from confluent_kafka import KafkaError, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402
from kafka.admin import (ACL, ACLOperation, ACLPermissionType,  # noqa: E402
                         ACLResourcePatternType, KafkaAdminClient, NewTopic,
                         ResourcePattern, ResourceType)
from kafka.errors import (GroupAuthorizationFailedError,  # noqa: E402
                          GroupCoordinatorNotAvailableError)

import kwire  # noqa: E402
from harness import (ROOT, SAMSA, free_port, run, run_tests,  # noqa: E402
                     stop_process, wait_listening)

CLUSTER_ID = "U2VjdXJlLWNsdXN0ZXIwMQ"
# KAFKA: listener suffixes of config/cluster-secure: node n's port is n*10000+suffix
SUFFIXES = {"PLAINTEXT": 9092, "CONTROLLER": 9093, "SSL": 9094,
            "INTERNAL": 9095, "SASL_SSL": 9096}
USERS = {"admin": "admin-secret", "alice": "alice-secret", "bob": "bob-secret"}
ALICE_CERT = "User:CN=alice,O=samsa"
TOPIC_AUTHORIZATION_FAILED = 29
C = None


class SecureCluster:
    """The three config files, rewritten to free ports and a temp dir."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="samsa-secure-test-")
        self.certs = os.path.join(self.dir, "certs")
        run(["sh", os.path.join(ROOT, "tools", "certs.sh"), self.certs])
        self.ports = {(n, name): free_port() for n in (1, 2, 3)
                      for name in SUFFIXES}
        self.procs = {}

    def addr(self, n, name):
        return "127.0.0.1:%d" % self.ports[(n, name)]

    def config(self, n):
        with open(os.path.join(ROOT, "config", "cluster-secure",
                               "node%d.properties" % n)) as f:
            text = f.read()
        for (m, name), port in self.ports.items():
            text = text.replace("127.0.0.1:%d" % (m * 10000 + SUFFIXES[name]),
                                "127.0.0.1:%d" % port)
        text = text.replace("=certs/", "=%s/" % self.certs)
        text = text.replace("./data/cluster-secure", self.dir)
        path = os.path.join(self.dir, "node%d.properties" % n)
        with open(path, "w") as f:
            f.write(text)
        return path

    def start(self):
        scram = []
        for user, password in USERS.items():
            scram += ["--add-scram", "SCRAM-SHA-512=[name=%s,password=%s]"
                      % (user, password)]
        for n in (1, 2, 3):
            path = self.config(n)
            run([SAMSA, "format", "-t", CLUSTER_ID, "-c", path] + scram)
            log = open(os.path.join(self.dir, "node%d.log" % n), "a")
            self.procs[n] = subprocess.Popen([SAMSA, "broker", path],
                                             stdout=log,
                                             stderr=subprocess.STDOUT)
            log.close()
        for n in (1, 2, 3):
            wait_listening(self.ports[(n, "SASL_SSL")], self.procs[n])
        deadline = time.time() + 30
        while time.time() < deadline:  # all three registered and unfenced
            if all(sorted(b[0] for b in self.brokers(n)) == [1, 2, 3]
                   for n in (1, 2, 3)):
                return
            time.sleep(0.1)
        raise AssertionError("not healthy\n" + self.logs())

    def brokers(self, n):
        """Metadata's brokers on node n's PLAINTEXT listener (anonymous:
        no topic, but the brokers at their PLAINTEXT ports)."""
        try:
            with kwire.Conn(self.addr(n, "PLAINTEXT"), timeout=2) as c:
                return kwire.metadata_brokers(9, c.request(
                    kwire.metadata(9, [])))[0]
        except (OSError, ValueError):
            return []

    def logs(self):
        out = []
        for n in (1, 2, 3):
            p = os.path.join(self.dir, "node%d.log" % n)
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    out.append("---- node %d ----\n" % n +
                               "".join(f.readlines()[-25:]))
        return "".join(out)

    def stop(self):
        for p in self.procs.values():  # all three at once: shorter
            p.send_signal(signal.SIGTERM)
        rcs = [stop_process(p) for p in self.procs.values()]
        shutil.rmtree(self.dir, ignore_errors=True)
        return rcs

    def cert(self, name):
        return os.path.join(self.certs, name)


def sasl_conf(n, user):
    """librdkafka settings for user over SCRAM-SHA-512 on node n's SASL_SSL."""
    return {"bootstrap.servers": C.addr(n, "SASL_SSL"),
            "security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512",
            "sasl.username": user, "sasl.password": USERS[user],
            "ssl.ca.location": C.cert("ca.pem")}


def ssl_conf(n, who):
    """librdkafka settings for who's certificate on node n's SSL listener."""
    return {"bootstrap.servers": C.addr(n, "SSL"), "security.protocol": "SSL",
            "ssl.ca.location": C.cert("ca.pem"),
            "ssl.certificate.location": C.cert(who + ".crt"),
            "ssl.key.location": C.cert(who + ".key")}


def kafka_python(n, user, cert=False):
    """kafka-python's admin client as user: SCRAM on node n's SASL_SSL, or
    (cert) the user's certificate on node n's SSL listener."""
    if cert:
        return KafkaAdminClient(
            bootstrap_servers=C.addr(n, "SSL"), security_protocol="SSL",
            ssl_cafile=C.cert("ca.pem"), ssl_certfile=C.cert(user + ".crt"),
            ssl_keyfile=C.cert(user + ".key"), request_timeout_ms=10000)
    return KafkaAdminClient(
        bootstrap_servers=C.addr(n, "SASL_SSL"), security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512", sasl_plain_username=user,
        sasl_plain_password=USERS[user], ssl_cafile=C.cert("ca.pem"),
        request_timeout_ms=10000)


def produce(conf, topic, partition=None, n=3):
    """Produce n records; the delivery error codes (0 each when written)."""
    p = Producer(dict(conf, **{"message.timeout.ms": 8000, "acks": "all"}))
    codes = []

    def done(err, msg):
        codes.append(err.code() if err else 0)

    for i in range(n):
        kw = {} if partition is None else {"partition": partition}
        p.produce(topic, ("v%d" % i).encode(), on_delivery=done, **kw)
    p.flush(15)
    return codes


def topics_seen(conf):
    md = AdminClient(conf).list_topics(timeout=10)
    return md, set(md.topics)


def setup():
    global C
    C = SecureCluster()
    C.start()
    admin = kafka_python(1, "admin")
    try:
        admin.create_topics([NewTopic(t, 3, 3) for t in
                             ("orders", "orders-x", "secret")])
        acls = []
        for who in ("User:alice", ALICE_CERT):
            acls += [
                ACL(who, "*", ACLOperation.WRITE, ACLPermissionType.ALLOW,
                    ResourcePattern(ResourceType.TOPIC, "orders",
                                    ACLResourcePatternType.PREFIXED)),
                ACL(who, "*", ACLOperation.WRITE, ACLPermissionType.DENY,
                    ResourcePattern(ResourceType.TOPIC, "orders-x",
                                    ACLResourcePatternType.LITERAL)),
                ACL(who, "*", ACLOperation.READ, ACLPermissionType.ALLOW,
                    ResourcePattern(ResourceType.GROUP, "billing",
                                    ACLResourcePatternType.LITERAL))]
        res = admin.create_acls(acls)
        assert not res["failed"] and len(res["succeeded"]) == 6, res
    finally:
        admin.close()
    # the ACLs are in the metadata log: every node's authorizer has them
    deadline = time.time() + 15
    while time.time() < deadline:
        if all("orders" in topics_seen(sasl_conf(n, "alice"))[1]
               for n in (1, 2, 3)):
            return
        time.sleep(0.2)
    raise AssertionError("alice never saw orders\n" + C.logs())


def test_alice_writes_orders_on_every_node_bob_is_denied():
    for n in (1, 2, 3):
        for conf in (sasl_conf(n, "alice"), ssl_conf(n, "alice")):
            assert produce(conf, "orders") == [0, 0, 0], (n, conf)
        for conf in (sasl_conf(n, "bob"), ssl_conf(n, "bob")):
            assert produce(conf, "orders", n=1) == [
                TOPIC_AUTHORIZATION_FAILED], (n, conf)


def test_alice_may_not_read_orders_on_every_node():
    """Writing is all she may do with orders: her Fetch is refused."""
    from confluent_kafka import Consumer, TopicPartition
    for n in (1, 2, 3):
        c = Consumer(dict(sasl_conf(n, "alice"), **{"group.id": "billing"}))
        try:
            c.assign([TopicPartition("orders", 0, 0)])
            deadline, err = time.time() + 10, None
            while err is None and time.time() < deadline:
                m = c.poll(0.5)
                err = m.error().code() if m is not None and m.error() else None
                assert m is None or m.error(), "alice read a record"
            assert err == TOPIC_AUTHORIZATION_FAILED, (n, err)
        finally:
            c.close()


def test_deny_beats_prefixed_allow_on_every_node():
    for n in (1, 2, 3):
        for conf in (sasl_conf(n, "alice"), ssl_conf(n, "alice")):
            assert produce(conf, "orders-x", n=1) == [
                TOPIC_AUTHORIZATION_FAILED], (n, conf)


def test_denied_topic_invisible_in_metadata_on_every_node():
    for n in (1, 2, 3):
        for conf in (sasl_conf(n, "alice"), ssl_conf(n, "alice")):
            _, seen = topics_seen(conf)
            assert "orders" in seen and "orders-x" in seen, (n, seen)
            assert "secret" not in seen, (n, seen)  # no ACL lets her describe it
        _, seen = topics_seen(sasl_conf(n, "bob"))
        assert not {"orders", "orders-x", "secret"} & seen, (n, seen)
        _, seen = topics_seen(sasl_conf(n, "admin"))
        assert {"orders", "orders-x", "secret"} <= seen, (n, seen)


def test_alice_reads_group_billing_only_on_every_node():
    for n, cert in ((1, False), (2, False), (3, False), (1, True), (2, True),
                    (3, True)):
        a = kafka_python(n, "alice", cert)
        try:
            assert offsets_of(a, "billing") == {}, n
            try:
                a.list_consumer_group_offsets("payroll")
                raise AssertionError("payroll allowed on node %d (%s)"
                                     % (n, "cert" if cert else "SCRAM"))
            except GroupAuthorizationFailedError:
                pass
        finally:
            a.close()


def offsets_of(admin, group, timeout=15):
    """OffsetFetch for group; while __consumer_offsets is still being made
    (COORDINATOR_NOT_AVAILABLE) asked again, as a consumer would."""
    deadline = time.time() + timeout
    while True:
        try:
            return admin.list_consumer_group_offsets(group)
        except GroupCoordinatorNotAvailableError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def test_ssl_client_sees_every_broker_at_its_ssl_port():
    md, _ = topics_seen(ssl_conf(1, "alice"))
    got = sorted((b.id, "%s:%d" % (b.host, b.port))
                 for b in md.brokers.values())
    assert got == [(n, C.addr(n, "SSL")) for n in (1, 2, 3)], got
    # the same on SASL_SSL: each listener name answers its own endpoints
    md, _ = topics_seen(sasl_conf(1, "alice"))
    got = sorted((b.id, "%s:%d" % (b.host, b.port))
                 for b in md.brokers.values())
    assert got == [(n, C.addr(n, "SASL_SSL")) for n in (1, 2, 3)], got


def test_produce_over_ssl_to_a_partition_another_node_leads():
    md, _ = topics_seen(ssl_conf(1, "alice"))
    parts = md.topics["orders"].partitions
    other = [p for p, pm in parts.items() if pm.leader not in (1, -1)]
    assert other, {p: pm.leader for p, pm in parts.items()}
    p = other[0]
    before = high_watermark(p)
    assert produce(ssl_conf(1, "alice"), "orders", partition=p, n=5) == [0] * 5
    assert high_watermark(p) == before + 5, (before, high_watermark(p))


def high_watermark(partition):
    """orders' partition high watermark as the admin's consumer sees it."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer(dict(sasl_conf(1, "admin"), **{"group.id": "hw-probe"}))
    try:
        return c.get_watermark_offsets(TopicPartition("orders", partition),
                                       timeout=10)[1]
    finally:
        c.close()


def teardown():
    logs = C.logs()
    rcs = C.stop()
    assert rcs == [0, 0, 0], "exit codes %s\n%s" % (rcs, logs)


if __name__ == "__main__":
    assert KafkaError.TOPIC_AUTHORIZATION_FAILED == TOPIC_AUTHORIZATION_FAILED
    run_tests(globals(), setup, teardown)
