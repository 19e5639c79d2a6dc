#!/usr/bin/python3
"""Chapter 09, consumer groups with real clients: confluent-kafka consumers,
and kafkajs consumers (consumer.run, tests/clients/kafkajs_group.js), each
split a 6-partition topic, hand partitions over when one leaves and when a
fourth joins, and with commits after processing read nothing twice;
kafka-python's auto-committing group consumer; committed offsets survive a
SIGTERM and a SIGKILL restart; kafka-python's admin client lists, describes
and deletes groups; a static member (group.instance.id) comes back to its
partitions without a rebalance of the others; kcat -G reads a topic as a
balanced consumer."""
import os
import signal
import subprocess
import threading
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from harness import Broker, CLIENTS_DIR, run_tests

GROUP_CONF = {"group.initial.rebalance.delay.ms": "0"}
PARTITIONS = 6


def setup_topic(b, topic, n):
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(15)
    p = Producer({"bootstrap.servers": b.bootstrap})
    for i in range(n):
        p.produce(topic, str(i).encode(), partition=i % PARTITIONS)
    p.flush(15)


class Member(threading.Thread):
    """A confluent-kafka consumer in a thread: polls, records what it read,
    commits synchronously after each record, stops when told."""

    def __init__(self, b, topic, name, group="g", **extra):
        super().__init__(daemon=True)
        conf = {"bootstrap.servers": b.bootstrap, "group.id": group,
                "auto.offset.reset": "earliest", "client.id": name,
                "enable.auto.commit": False, "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 500}
        conf.update(extra)
        self.c = Consumer(conf)
        self.topic, self.name = topic, name
        self.got, self.assigned = [], []
        self.revokes = 0
        self.stop = threading.Event()

    def run(self):
        def on_assign(c, parts):
            self.assigned = sorted(p.partition for p in parts)

        def on_revoke(c, parts):
            self.revokes += 1
        self.c.subscribe([self.topic], on_assign=on_assign,
                         on_revoke=on_revoke)
        while not self.stop.is_set():
            m = self.c.poll(0.2)
            if m is None or m.error():
                continue
            self.got.append(int(m.value()))
            self.c.commit(message=m, asynchronous=False)
        self.c.close()


def wait_until(cond, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.2)
    return False


def test_confluent_members_split_leave_and_join():
    with Broker(overrides=GROUP_CONF) as b:
        setup_topic(b, "t", 600)
        ms = [Member(b, "t", "c%d" % i) for i in range(3)]
        for m in ms:
            m.start()
        assert wait_until(lambda: sorted(p for m in ms for p in m.assigned)
                          == list(range(6)) and all(len(m.assigned) == 2
                                                    for m in ms))
        assert wait_until(lambda: sum(len(m.got) for m in ms) == 600)
        ms[0].stop.set()
        ms[0].join()
        assert wait_until(lambda: sorted(p for m in ms[1:] for p in m.assigned)
                          == list(range(6)))
        fourth = Member(b, "t", "c3")
        fourth.start()
        assert wait_until(lambda: len(fourth.assigned) >= 1)
        p = Producer({"bootstrap.servers": b.bootstrap})
        for i in range(600, 900):
            p.produce("t", str(i).encode(), partition=i % PARTITIONS)
        p.flush(15)
        live = ms[1:] + [fourth]
        everyone = ms + [fourth]
        assert wait_until(lambda: set(x for m in everyone for x in m.got)
                          == set(range(900)))
        for m in live:
            m.stop.set()
            m.join()
        seen = [x for m in live for x in m.got]
        assert len(seen) == len(set(seen)), "a live member read twice"


class NodeMember:
    """A kafkajs group member, tests/clients/kafkajs_group.js, in its own
    process; a thread reads its stdout into got (record values) and
    assigned (its latest partitions). Its stderr goes to a file."""

    SCRIPT = os.path.join(CLIENTS_DIR, "kafkajs_group.js")

    def __init__(self, b, topic, name, group="g"):
        self.name = name
        self.got, self.assigned = [], None
        self.err_path = os.path.join(b.dir, "%s.stderr" % name)
        with open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(
                ["node", self.SCRIPT, b.bootstrap, topic, group, name],
                stdout=subprocess.PIPE, stderr=err, text=True)
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self):
        for line in self.proc.stdout:
            word, _, rest = line.rstrip("\n").partition(" ")
            if word == "record":
                self.got.append(int(rest))
            elif word == "assigned":
                self.assigned = sorted(int(p) for p in rest.split(",") if p)

    def stop(self, timeout=30):
        """SIGTERM (kafkajs leaves the group) and wait; returns the status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        self.reader.join(5)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stderr(self):
        with open(self.err_path, errors="replace") as f:
            return f.read()[-2000:]


def assigned_all(ms, each=None):
    """The members' latest assignments split partitions 0..5 among them
    (each holding `each` partitions, if given)."""
    if any(m.assigned is None for m in ms):
        return False
    parts = sorted(p for m in ms for p in m.assigned)
    return parts == list(range(PARTITIONS)) and (
        each is None or all(len(m.assigned) == each for m in ms))


def test_kafkajs_members_split_leave_and_join():
    with Broker(overrides=GROUP_CONF) as b:
        setup_topic(b, "t", 600)
        ms = []
        try:
            for i in range(3):
                ms.append(NodeMember(b, "t", "j%d" % i))
            assert wait_until(lambda: assigned_all(ms, each=2)), \
                [m.assigned for m in ms]
            assert wait_until(lambda: len(set(x for m in ms for x in m.got))
                              == 600)
            assert ms[0].stop() == 0, ms[0].stderr()
            assert wait_until(lambda: assigned_all(ms[1:])), \
                [m.assigned for m in ms[1:]]
            ms.append(NodeMember(b, "t", "j3"))
            assert wait_until(lambda: ms[3].assigned), ms[3].stderr()
            p = Producer({"bootstrap.servers": b.bootstrap})
            for i in range(600, 900):
                p.produce("t", str(i).encode(), partition=i % PARTITIONS)
            p.flush(15)
            assert wait_until(lambda: set(x for m in ms for x in m.got)
                              == set(range(900))), \
                "read %d of 900" % len(set(x for m in ms for x in m.got))
            live = ms[1:]
            for m in live:
                assert m.stop() == 0, m.stderr()
            seen = [x for m in live for x in m.got]
            assert len(seen) == len(set(seen)), "a live member read twice"
        except BaseException:
            for m in ms:  # the broker's temp dir, with these, goes at exit
                print("---- %s stderr ----\n%s" % (m.name, m.stderr()))
            raise
        finally:
            for m in ms:
                m.kill()


def test_kafka_python_group_auto_commit():
    from kafka import KafkaConsumer
    with Broker(overrides=GROUP_CONF) as b:
        setup_topic(b, "kp", 300)
        got = []

        def consume():
            c = KafkaConsumer("kp", bootstrap_servers=b.bootstrap,
                              group_id="kpg", auto_offset_reset="earliest",
                              enable_auto_commit=True,
                              auto_commit_interval_ms=1000,
                              consumer_timeout_ms=6000)
            for m in c:
                got.append(int(m.value))
            c.close()
        ts = [threading.Thread(target=consume) for _ in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert set(got) == set(range(300)), len(set(got))
        c = KafkaConsumer("kp", bootstrap_servers=b.bootstrap, group_id="kpg",
                          auto_offset_reset="earliest",
                          consumer_timeout_ms=3000)
        again = [m for m in c]
        c.close()
        assert again == [], "committed offsets were not used"


def committed_then_restart(kill):
    from kafka import KafkaConsumer, TopicPartition
    with Broker(overrides=GROUP_CONF) as b:
        setup_topic(b, "r", 120)
        c = KafkaConsumer("r", bootstrap_servers=b.bootstrap, group_id="rg",
                          auto_offset_reset="earliest",
                          enable_auto_commit=False, consumer_timeout_ms=4000)
        first = [int(m.value) for m in c]
        c.commit()
        c.close()
        assert sorted(first) == list(range(120))
        b.restart(kill=kill)
        p = Producer({"bootstrap.servers": b.bootstrap})
        for i in range(120, 150):
            p.produce("r", str(i).encode(), partition=i % PARTITIONS)
        p.flush(15)
        c = KafkaConsumer("r", bootstrap_servers=b.bootstrap, group_id="rg",
                          auto_offset_reset="earliest",
                          enable_auto_commit=False, consumer_timeout_ms=4000)
        second = sorted(int(m.value) for m in c)
        pos = c.committed(TopicPartition("r", 0))
        c.close()
        assert second == list(range(120, 150)), second[:10]
        assert pos == 20


def test_offsets_survive_sigterm_restart():
    committed_then_restart(kill=False)


def test_offsets_survive_sigkill_restart():
    committed_then_restart(kill=True)


def test_admin_list_describe_delete():
    from kafka import KafkaAdminClient
    with Broker(overrides=GROUP_CONF) as b:
        setup_topic(b, "a", 60)
        m = Member(b, "a", "solo", group="ag")
        m.start()
        assert wait_until(lambda: len(m.assigned) == 6)
        admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
        listed = admin.list_consumer_groups()
        assert ("ag", "consumer") in listed, listed
        d = admin.describe_consumer_groups(["ag"])[0]
        assert d.state == "Stable" and d.protocol == "range", d
        assert len(d.members) == 1 and d.members[0].client_id == "solo"
        assert d.members[0].client_host == "/127.0.0.1", d.members[0]
        parts = d.members[0].member_assignment.assignment
        assert sorted(parts[0][1]) == list(range(6)), parts
        ca = AdminClient({"bootstrap.servers": b.bootstrap})
        assert any(g.id == "ag" for g in ca.list_groups(timeout=10))
        m.stop.set()
        m.join()
        assert wait_until(lambda: admin.describe_consumer_groups(["ag"])[0]
                          .state == "Empty")
        res = admin.delete_consumer_groups(["ag"])
        assert res[0][1].errno == 0, res
        assert ("ag", "consumer") not in admin.list_consumer_groups()
        admin.close()


def test_group_empty_and_deletable_right_after_close():
    """Issue 9: when the last member leaves, the group is Empty before the
    LeaveGroup answer goes out (it stayed PreparingRebalance until the next
    100 ms tick), so admin clients see Empty and may delete it at once."""
    from kafka import KafkaAdminClient
    with Broker(overrides=GROUP_CONF) as b:
        setup_topic(b, "e", 60)
        ca = AdminClient({"bootstrap.servers": b.bootstrap})
        admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
        admin.list_consumer_groups()  # connected before the close
        for round_ in range(3):
            m = Member(b, "e", "solo-%d" % round_, group="eg")
            m.start()
            assert wait_until(lambda: len(m.assigned) == 6)
            m.stop.set()
            m.join()  # the consumer's close: LeaveGroup answered
            groups = ca.list_groups("eg", timeout=10)
            assert [(g.id, g.state) for g in groups] == [("eg", "Empty")], \
                [(g.id, g.state) for g in groups]
            res = admin.delete_consumer_groups(["eg"])
            assert res[0][1].errno == 0, res
            assert ca.list_groups("eg", timeout=10) == [] or \
                [g.state for g in ca.list_groups("eg", timeout=10)] == ["Dead"]
        admin.close()


def test_offsets_topic_created_on_first_use():
    """Issue 9: __consumer_offsets is created when a group first needs a
    coordinator (FindCoordinator), as Kafka does, not at startup; once
    created it is listed as an internal topic and survives a restart."""
    with Broker(overrides=GROUP_CONF) as b:
        ca = AdminClient({"bootstrap.servers": b.bootstrap})
        assert list(ca.list_topics(timeout=10).topics) == []
        b.restart()
        assert list(ca.list_topics(timeout=10).topics) == []
        setup_topic(b, "f", 6)
        assert sorted(ca.list_topics(timeout=10).topics) == ["f"]
        m = Member(b, "f", "first", group="fg")
        m.start()
        assert wait_until(lambda: len(m.got) == 6)
        m.stop.set()
        m.join()
        topics = ca.list_topics(timeout=10).topics
        assert sorted(topics) == ["__consumer_offsets", "f"], list(topics)
        assert len(topics["__consumer_offsets"].partitions) == 50
        b.restart()
        topics = ca.list_topics(timeout=10).topics
        assert sorted(topics) == ["__consumer_offsets", "f"], list(topics)


def test_static_member_returns_without_rebalance():
    with Broker(overrides=GROUP_CONF) as b:
        setup_topic(b, "s", 60)
        a = Member(b, "s", "sa", group="sg", **{"group.instance.id": "ia",
                                                 "session.timeout.ms": 10000})
        s = Member(b, "s", "sb", group="sg", **{"group.instance.id": "ib",
                                                 "session.timeout.ms": 10000})
        a.start()
        s.start()
        assert wait_until(lambda: len(a.assigned) == 3 and len(s.assigned) == 3)
        before, revokes = list(s.assigned), a.revokes
        s.stop.set()   # a static member's close does not leave the group
        s.join()
        back = Member(b, "s", "sb", group="sg", **{"group.instance.id": "ib",
                                                    "session.timeout.ms": 10000})
        back.start()
        assert wait_until(lambda: back.assigned == before)
        time.sleep(1)
        assert a.revokes == revokes, "the other member was rebalanced"
        for m in (a, back):
            m.stop.set()
            m.join()


def test_kcat_balanced_consumer():
    with Broker(overrides=GROUP_CONF) as b:
        setup_topic(b, "k", 60)
        out = subprocess.run(
            ["kcat", "-b", b.bootstrap, "-G", "kg", "-X",
             "auto.offset.reset=earliest", "-e", "-q", "-f", "%s\n", "k"],
            capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr[-500:]
        assert sorted(int(x) for x in out.stdout.split()) == list(range(60))


if __name__ == "__main__":
    run_tests(globals())
