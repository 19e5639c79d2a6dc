"""Chapter 12 with real clients: ACLs kept in the KRaft metadata log,
managed with kafka-python's KafkaAdminClient, enforced on kcat and a
consumer group.

One samsa process is its own one-voter quorum (process.roles
broker,controller, controller.quorum.voters=1@127.0.0.1:PORT) with
authorizer.class.name=...StandardAuthorizer and
allow.everyone.if.no.acl.found=false. Seeding, as an operator of Kafka
would: the node first starts with super.users=User:admin;User:ANONYMOUS,
so the (unauthenticated) client may grant ANONYMOUS ALTER and DESCRIBE
on the cluster and create the test's topics; then the node restarts with
super.users=User:admin only (an unused principal), and every request is
judged by the ACLs in the metadata log, which survived the restart.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import (SAMSA, free_port, kraft_node_config, run,  # noqa: E402
                     run_tests, stop_process, wait_listening,
                     write_properties)

from kafka import KafkaConsumer  # noqa: E402
from kafka.admin import (ACL, ACLFilter, ACLOperation,  # noqa: E402
                         ACLPermissionType, ACLResourcePatternType,
                         KafkaAdminClient, NewTopic, ResourcePattern,
                         ResourcePatternFilter, ResourceType)
from kafka.errors import (GroupAuthorizationFailedError,  # noqa: E402
                          InvalidRequestError)

CLUSTER_ID = "QUNMd2lyZS10ZXN0LTAwMQ"
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
ANON = "User:ANONYMOUS"


class Node:
    """One samsa process: broker and the only voter of its quorum."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="samsa-acl-test-")
        self.port, self.cport = free_port(), free_port()
        self.bootstrap = "127.0.0.1:%d" % self.port
        self.config = os.path.join(self.dir, "server.properties")
        self.log_path = os.path.join(self.dir, "node.log")
        self.proc = None

    def write_config(self, super_users):
        conf = kraft_node_config(1, self.port, self.cport,
                                 "1@127.0.0.1:%d" % self.cport,
                                 os.path.join(self.dir, "data"))
        conf.update({
            "num.partitions": "1",
            "authorizer.class.name": AUTHORIZER,
            "allow.everyone.if.no.acl.found": "false",
            "super.users": super_users,
        })
        write_properties(self.config, conf)

    def start(self, super_users):
        self.write_config(super_users)
        run([SAMSA, "format", "-t", CLUSTER_ID, "-c", self.config,
             "--ignore-formatted"])
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([SAMSA, "broker", self.config],
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_listening(self.port, self.proc)

    def stop(self):
        rc = stop_process(self.proc) if self.proc else 0
        self.proc = None
        return rc

    def log_tail(self, n=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


NODE = None


def admin(timeout=20):
    """An admin client, once the node's Metadata lists itself (it does
    when the controller has unfenced it, a moment after it listens)."""
    deadline = time.time() + timeout
    while True:
        try:
            return KafkaAdminClient(bootstrap_servers=NODE.bootstrap,
                                    request_timeout_ms=10000,
                                    client_id="acl-test")
        except AssertionError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def acl(op, rtype, name, perm=ACLPermissionType.ALLOW,
        pattern=ACLResourcePatternType.LITERAL, principal=ANON):
    return ACL(principal, "*", op, perm, ResourcePattern(rtype, name, pattern))


def every_acl():
    return ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                     ResourcePatternFilter(ResourceType.ANY, None,
                                           ACLResourcePatternType.ANY))


def create(a, acls):
    res = a.create_acls(acls)
    assert not res["failed"], res
    return res


def kcat(*args, data=None, timeout=20):
    return subprocess.run(["kcat", "-b", NODE.bootstrap, "-m", "5"] + list(args),
                          input=data, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout)


def produce(topic, n=3):
    data = "".join("v-%d\n" % i for i in range(n)).encode()
    return kcat("-P", "-t", topic, "-X", "message.timeout.ms=5000", data=data)


def setup():
    global NODE
    NODE = Node()
    try:
        seed()
    except Exception:
        NODE.stop()
        print("---- node log ----\n" + NODE.log_tail())
        raise


def seed():
    NODE.start("User:admin;" + ANON)   # seeding: ANONYMOUS is a super user
    a = admin()
    try:
        create(a, [acl(ACLOperation.ALTER, ResourceType.CLUSTER, "kafka-cluster"),
                   acl(ACLOperation.DESCRIBE, ResourceType.CLUSTER, "kafka-cluster")])
        a.create_topics([NewTopic("orders", 1, 1), NewTopic("secret", 1, 1)])
    finally:
        a.close()
    # a group with committed offsets, for the group-listing test
    c = KafkaConsumer(bootstrap_servers=NODE.bootstrap, group_id="g-secret",
                      enable_auto_commit=False)
    try:
        from kafka import TopicPartition
        from kafka.structs import OffsetAndMetadata
        c.commit({TopicPartition("orders", 0): OffsetAndMetadata(0, "")})
    finally:
        c.close()
    rc = NODE.stop()
    assert rc == 0, "seeding node exited %s:\n%s" % (rc, NODE.log_tail())
    NODE.start("User:admin")           # from now on only the ACLs decide


def teardown_the_node_stops_cleanly():
    rc = NODE.stop()
    log = NODE.log_tail()
    shutil.rmtree(NODE.dir, ignore_errors=True)
    assert rc == 0, "exited %s:\n%s" % (rc, log)


def test_acls_survive_the_restart_and_describe_filters_them():
    a = admin()
    try:
        only_cluster = ACLFilter(None, None, ACLOperation.ANY,
                                 ACLPermissionType.ANY,
                                 ResourcePatternFilter(ResourceType.CLUSTER, None,
                                                       ACLResourcePatternType.ANY))
        got, err = a.describe_acls(only_cluster)
        ops = sorted((x.resource_pattern.resource_type, x.operation) for x in got)
        assert ops == [(ResourceType.CLUSTER, ACLOperation.ALTER),
                       (ResourceType.CLUSTER, ACLOperation.DESCRIBE)], got
        everything, _ = a.describe_acls(every_acl())
        assert len(everything) >= 2, everything
        only_deny = ACLFilter(None, None, ACLOperation.ANY,
                              ACLPermissionType.DENY,
                              ResourcePatternFilter(ResourceType.CLUSTER, None,
                                                    ACLResourcePatternType.ANY))
        got, err = a.describe_acls(only_deny)
        assert got == [], got
    finally:
        a.close()


def test_create_describe_delete_acls_through_the_admin_client():
    a = admin()
    try:
        tmp = acl(ACLOperation.READ, ResourceType.TOPIC, "tmp-",
                  pattern=ACLResourcePatternType.PREFIXED)
        create(a, [tmp, tmp])  # the same ACL twice is stored once
        match = ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                          ResourcePatternFilter(ResourceType.TOPIC, "tmp-x",
                                                ACLResourcePatternType.MATCH))
        got, _ = a.describe_acls(match)
        assert len(got) == 1 and got[0].resource_pattern.resource_name == "tmp-", got
        res = a.delete_acls([match])
        (_, matched, err), = res
        assert len(matched) == 1, res
        got, _ = a.describe_acls(match)
        assert got == [], got
        bad = a.create_acls([acl(ACLOperation.READ, ResourceType.CLUSTER, "not-it")])
        assert len(bad["failed"]) == 1, bad
        assert bad["failed"][0][1] is InvalidRequestError, bad
    finally:
        a.close()


def test_write_acl_lets_kcat_produce_and_its_absence_does_not():
    a = admin()
    try:
        create(a, [acl(ACLOperation.WRITE, ResourceType.TOPIC, "orders")])
    finally:
        a.close()
    r = produce("orders")
    assert r.returncode == 0, r.stderr.decode()
    r = produce("secret")
    err = r.stderr.decode()
    assert r.returncode != 0 and "authoriz" in err.lower(), err


def test_kcat_metadata_leaves_out_topics_it_may_not_describe():
    r = kcat("-L")
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr.decode()
    assert 'topic "orders"' in out, out
    assert "secret" not in out, out


def test_prefixed_deny_beats_a_literal_allow():
    a = admin()
    deny = acl(ACLOperation.WRITE, ResourceType.TOPIC, "ord",
               perm=ACLPermissionType.DENY,
               pattern=ACLResourcePatternType.PREFIXED)
    try:
        create(a, [acl(ACLOperation.WRITE, ResourceType.TOPIC, "orders")])
        r = produce("orders")
        assert r.returncode == 0, r.stderr.decode()
        create(a, [deny])
        r = produce("orders")
        err = r.stderr.decode()
        assert r.returncode != 0 and "authoriz" in err.lower(), err
        a.delete_acls([ACLFilter(ANON, "*", ACLOperation.WRITE,
                                 ACLPermissionType.DENY,
                                 ResourcePatternFilter(ResourceType.TOPIC, "ord",
                                                       ACLResourcePatternType.PREFIXED))])
        r = produce("orders")
        assert r.returncode == 0, r.stderr.decode()
    finally:
        a.close()


def test_a_group_without_read_gets_group_authorization_failed():
    a = admin()
    try:
        create(a, [acl(ACLOperation.READ, ResourceType.TOPIC, "orders")])
    finally:
        a.close()
    c = KafkaConsumer("orders", bootstrap_servers=NODE.bootstrap,
                      group_id="no-read-group", auto_offset_reset="earliest",
                      consumer_timeout_ms=5000)
    try:
        deadline = time.time() + 15
        while True:
            try:
                c.poll(timeout_ms=1000)
            except GroupAuthorizationFailedError:
                return
            assert time.time() < deadline, "no GROUP_AUTHORIZATION_FAILED"
    finally:
        c.close()


def test_describe_groups_needs_describe_on_the_group():
    a = admin()
    try:
        try:
            a.describe_consumer_groups(["g-secret"])
        except GroupAuthorizationFailedError:
            pass
        else:
            raise AssertionError("described a group without DESCRIBE")
        # KAFKA: DESCRIBE on the cluster (granted at seeding) lists every group
        groups = [g[0] for g in a.list_consumer_groups()]
        assert groups == ["g-secret"], groups
        create(a, [acl(ACLOperation.DESCRIBE, ResourceType.GROUP, "g-",
                       pattern=ACLResourcePatternType.PREFIXED)])
        (d,) = a.describe_consumer_groups(["g-secret"])
        assert d.group == "g-secret" and d.state == "Empty", d
    finally:
        a.close()


def test_describe_configs_needs_describe_configs_on_the_topic():
    from kafka.admin import ConfigResource, ConfigResourceType
    a = admin()
    try:
        create(a, [acl(ACLOperation.DESCRIBE_CONFIGS, ResourceType.TOPIC, "orders")])
        res = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "orders"),
                                  ConfigResource(ConfigResourceType.TOPIC, "secret")])
        errors = {r[3]: r[0] for resp in res for r in resp.resources}
        assert errors == {"orders": 0, "secret": 29}, errors  # 29: TOPIC_AUTHORIZATION_FAILED
        res = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "secret",
                                              {"retention.ms": "1000"})])
        errors = [r[0] for r in res.resources]
        assert errors == [29], errors  # no ALTER_CONFIGS on secret
    finally:
        a.close()


def test_delete_records_and_offset_for_leader_epoch_ask_their_operations():
    """KAFKA: DeleteRecords needs DELETE on the topic, OffsetForLeaderEpoch
    DESCRIBE (a client) or CLUSTER_ACTION (a replica id): the topic
    `secret`, with no ACL for ANONYMOUS, answers 29 to both, and a client
    posing as broker 7 gets 31 CLUSTER_AUTHORIZATION_FAILED."""
    import kwire
    with kwire.Conn(NODE.bootstrap) as c:
        body = c.request(kwire.delete_records(2, "secret", 0, 0))
        r = kwire.Reader(body, True)
        r.i32()
        dr = r.array(lambda: (r.string(), r.array(
            lambda: (r.i32(), r.i64(), r.i16(), r.tags())), r.tags()))
        assert dr[0][1][0][2] == 29, dr
        body = c.request(kwire.offset_for_leader_epoch(3, "secret", 0, 0))
        r = kwire.Reader(body, False)
        r.i32()
        oe = r.array(lambda: (r.string(), r.array(
            lambda: (r.i16(), r.i32(), r.i32(), r.i64()))))
        assert oe[0][1][0][0] == 29, oe
        key, v, req_body = kwire.offset_for_leader_epoch(3, "orders", 0, 0)
        req_body = kwire.i32(7) + req_body[4:]   # replica id 7
        body = c.request((key, v, req_body))
        r = kwire.Reader(body, False)
        r.i32()
        oe = r.array(lambda: (r.string(), r.array(
            lambda: (r.i16(), r.i32(), r.i32(), r.i64()))))
        assert oe[0][1][0][0] == 31, oe


if __name__ == "__main__":
    run_tests(globals(), setup=setup, teardown=teardown_the_node_stops_cleanly)
