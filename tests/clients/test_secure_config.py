#!/usr/bin/python3
"""config/secure.properties as shipped (chapter 13), with the README's
commands: `make certs`' certificates, `samsa format --add-scram`, then
`samsa broker config/secure.properties`. Only the ports move (free loopback
ports instead of 9092-9096, through --override): relative paths
(certs/, ./data/secure) resolve in a temporary working directory, as they do
in a checkout.

On it:
- an application written like the pipeline code MSK users start from
  (kafka-python with security_protocol='SSL' as its default, JSON values,
  acks='all', retries=3, batch_size=16384, linger_ms=10, a group consumer
  committing automatically) runs against the SSL port (9094) with nothing
  changed but the bootstrap address and the CA file: no client certificate;
- the same port takes a client certificate too (ssl.client.auth=requested):
  kcat with alice's certificate produces and consumes;
- SASL_SSL with SCRAM-SHA-512 on 9096 logs in the user that format added,
  and refuses a wrong password."""
import json
import os
import shutil
import subprocess
import tempfile
import time
from datetime import datetime

from harness import (ROOT, SAMSA, free_port, run, run_tests, stop_process,
                     wait_listening)

CLUSTER_ID = "U2VjdXJlLWNvbmZpZy0wMQ"
NODE = None


class SecureNode:
    """samsa broker config/secure.properties, ports overridden."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="samsa-secure-config-")
        run(["sh", os.path.join(ROOT, "tools", "certs.sh"),
             os.path.join(self.dir, "certs")])
        self.ports = {n: free_port() for n in ("PLAINTEXT", "CONTROLLER",
                                               "SSL", "SASL_SSL")}
        self.config = os.path.join(ROOT, "config", "secure.properties")
        self.log_path = os.path.join(self.dir, "broker.log")
        run([SAMSA, "format", "-t", CLUSTER_ID, "-c", self.config]
            + self.overrides() + ["--add-scram",
                                  "SCRAM-SHA-512=[name=alice,password=alice-secret]"],
            cwd=self.dir)
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                [SAMSA, "broker", self.config] + self.overrides(),
                cwd=self.dir, stdout=log, stderr=subprocess.STDOUT)
        for name in ("PLAINTEXT", "SSL", "SASL_SSL"):
            wait_listening(self.ports[name], self.proc)

    def overrides(self):
        p = self.ports
        eps = "PLAINTEXT://127.0.0.1:%d,SSL://127.0.0.1:%d,SASL_SSL://127.0.0.1:%d" % (
            p["PLAINTEXT"], p["SSL"], p["SASL_SSL"])
        keys = {"listeners": eps + ",CONTROLLER://127.0.0.1:%d" % p["CONTROLLER"],
                "advertised.listeners": eps,
                "controller.quorum.voters": "1@127.0.0.1:%d" % p["CONTROLLER"]}
        return sum((["--override", "%s=%s" % kv] for kv in keys.items()), [])

    def bootstrap(self, name):
        return "127.0.0.1:%d" % self.ports[name]

    def cert(self, name):
        return os.path.join(self.dir, "certs", name)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        rc = stop_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc


def setup():
    global NODE
    NODE = SecureNode()


def teardown():
    assert NODE.stop() == 0, "unclean stop:\n" + NODE.log()[-3000:]


class Pipeline:
    """An application as MSK users write one: kafka-python, SSL by default.
    Constructed with the bootstrap address and, here, the CA file that the
    public certificate authorities of a real MSK endpoint would stand in for."""

    def __init__(self, bootstrap_servers, ssl_cafile, security_protocol="SSL"):
        self.common = dict(bootstrap_servers=bootstrap_servers,
                           security_protocol=security_protocol,
                           ssl_cafile=ssl_cafile)

    def producer(self):
        from kafka import KafkaProducer
        return KafkaProducer(
            value_serializer=lambda v: json.dumps(v).encode("utf-8"),
            key_serializer=lambda k: k.encode("utf-8") if k else None,
            acks="all", retries=3, batch_size=16384, linger_ms=10,
            buffer_memory=33554432, **self.common)

    def consumer(self, topic, group_id):
        from kafka import KafkaConsumer
        return KafkaConsumer(
            topic, group_id=group_id,
            value_deserializer=lambda m: json.loads(m.decode("utf-8")),
            key_deserializer=lambda k: k.decode("utf-8") if k else None,
            auto_offset_reset="earliest", enable_auto_commit=True,
            auto_commit_interval_ms=1000, consumer_timeout_ms=10000,
            **self.common)

    def produce_events(self, producer, topic, events):
        """Each event stamped and sent, waiting for its acknowledgement."""
        acked = []
        for event in events:
            event["timestamp"] = datetime.now().isoformat()
            md = producer.send(topic, key=event.get("id"), value=event).get(timeout=10)
            acked.append((md.partition, md.offset))
        producer.flush()
        return acked


EVENTS = [
    {"id": "user-001", "action": "login", "user_id": "12345"},
    {"id": "user-002", "action": "purchase", "user_id": "67890", "amount": 99.99},
    {"id": "user-003", "action": "logout", "user_id": "12345"},
]


def test_pipeline_ssl_default_on_9094_with_only_a_ca_file():
    from kafka import KafkaAdminClient
    pipe = Pipeline([NODE.bootstrap("SSL")], NODE.cert("ca.pem"))
    producer = pipe.producer()
    acked = pipe.produce_events(producer, "user-events", [dict(e) for e in EVENTS])
    producer.close()
    assert acked == [(0, 0), (0, 1), (0, 2)], acked
    consumer = pipe.consumer("user-events", "analytics-group")
    got = []
    for m in consumer:
        got.append((m.partition, m.offset, m.key, m.value["action"],
                    m.value["user_id"]))
        if len(got) == len(EVENTS):
            break
    consumer.close()  # commits what it consumed (enable_auto_commit)
    assert got == [(0, i, e["id"], e["action"], e["user_id"])
                   for i, e in enumerate(EVENTS)], got
    admin = KafkaAdminClient(**pipe.common)
    offsets = admin.list_consumer_group_offsets("analytics-group")
    admin.close()
    assert {tp.partition: o.offset for tp, o in offsets.items()} == {0: 3}, offsets
    assert "TLS handshake" not in NODE.log(), NODE.log()[-2000:]


def kcat(bootstrap, *extra):
    return ["kcat", "-b", bootstrap] + [a for x in extra for a in ("-X", x)]


def test_the_ssl_port_also_takes_a_client_certificate():
    args = kcat(NODE.bootstrap("SSL"), "security.protocol=ssl",
                "ssl.ca.location=" + NODE.cert("ca.pem"),
                "ssl.certificate.location=" + NODE.cert("alice.crt"),
                "ssl.key.location=" + NODE.cert("alice.key"))
    run(args + ["-P", "-t", "mtls-orders"], input=b"o1\no2\n", timeout=30)
    out = run(args + ["-C", "-t", "mtls-orders", "-o", "beginning", "-e", "-q"],
              timeout=30).stdout.decode().split()
    assert out == ["o1", "o2"], out


def test_sasl_ssl_scram_on_9096_logs_in_the_formatted_user():
    def args(password):
        return kcat(NODE.bootstrap("SASL_SSL"), "security.protocol=sasl_ssl",
                    "ssl.ca.location=" + NODE.cert("ca.pem"),
                    "sasl.mechanisms=SCRAM-SHA-512", "sasl.username=alice",
                    "sasl.password=" + password)
    run(args("alice-secret") + ["-P", "-t", "scram-orders"], input=b"s1\n",
        timeout=30)
    out = run(args("alice-secret") + ["-C", "-t", "scram-orders", "-o",
                                      "beginning", "-e", "-q"],
              timeout=30).stdout.decode().split()
    assert out == ["s1"], out
    r = run(args("wrong") + ["-L", "-m", "5"], check=False, timeout=30)
    assert r.returncode != 0, r.stdout[-500:]
    assert b"Authentication failed" in r.stderr or b"SASL" in r.stderr, r.stderr[-800:]


if __name__ == "__main__":
    run_tests(globals(), setup, teardown)
