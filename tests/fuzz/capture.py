#!/usr/bin/python3
"""Capture the fuzzer's seed corpus from real clients.

    /usr/bin/python3 tests/fuzz/capture.py tests/fuzz/corpus

Starts a samsa broker whose advertised address is a small recording proxy,
so every connection of every client goes through it; drives kcat,
librdkafka (rdkafka_client), confluent-kafka, kafka-python and kafkajs
through metadata, topic admin, produce in every codec, fetch and list
offsets on topic "fuzz" (the topic fuzz_requests.c creates); then sends
every version of every API the broker advertises with tests/clients/kwire.py
for the versions no installed client uses. Each client-to-broker frame is
written, without its size prefix, to OUT_DIR/<client>-<ApiName>-v<N>-<sha1>,
at most PER_KIND files per client, api and version, none over MAX_SEED bytes.
"""
import hashlib
import os
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in tests/clients
sys.path.insert(0, os.path.join(HERE, "..", "clients"))

import kwire  # noqa: E402
from harness import RDKAFKA_CLIENT, CLIENTS_DIR, Broker, free_port  # noqa: E402

PER_KIND = 4
MAX_SEED = 65536
TOPIC = "fuzz"
NAMES = {0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata",
         18: "ApiVersions", 19: "CreateTopics", 20: "DeleteTopics",
         21: "DeleteRecords", 23: "OffsetForLeaderEpoch", 32: "DescribeConfigs",
         33: "AlterConfigs", 37: "CreatePartitions",
         44: "IncrementalAlterConfigs", 60: "DescribeCluster"}


class Recorder:
    """Writes frames to the corpus, a few per (client, api, version)."""

    def __init__(self, out):
        self.out, self.client, self.count = out, "setup", {}
        self.lock = threading.Lock()
        os.makedirs(out, exist_ok=True)

    def frame(self, data):
        if len(data) < 4 or len(data) > MAX_SEED:
            return
        key, ver = struct.unpack(">hh", data[:4])
        kind = "%s-%s-v%d" % (self.client, NAMES.get(key, "Api%d" % key), ver)
        with self.lock:
            if self.count.get(kind, 0) >= PER_KIND:
                return
            self.count[kind] = self.count.get(kind, 0) + 1
        name = "%s-%s" % (kind, hashlib.sha1(data).hexdigest()[:12])
        with open(os.path.join(self.out, name), "wb") as f:
            f.write(data)


def pipe(src, dst, rec):
    """Copy src to dst; when rec is set, also cut the stream into frames."""
    buf = b""
    try:
        while True:
            chunk = src.recv(65536)
            if not chunk:
                break
            dst.sendall(chunk)
            if rec is None:
                continue
            buf += chunk
            while len(buf) >= 4:
                n, = struct.unpack(">i", buf[:4])
                if n < 0 or len(buf) < 4 + n:
                    break
                rec.frame(buf[4:4 + n])
                buf = buf[4 + n:]
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def proxy(listen_port, broker_port, rec):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", listen_port))
    srv.listen(64)
    while True:
        client, _ = srv.accept()
        upstream = socket.create_connection(("127.0.0.1", broker_port))
        threading.Thread(target=pipe, args=(client, upstream, rec), daemon=True).start()
        threading.Thread(target=pipe, args=(upstream, client, None), daemon=True).start()


def run(cmd, stdin=None):
    subprocess.run(cmd, input=stdin, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=120)


def drive_librdkafka(rec, addr):
    rec.client = "kcat"
    run(["kcat", "-b", addr, "-L"])
    for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
        run(["kcat", "-b", addr, "-P", "-t", TOPIC, "-z", codec, "-K:", "-H",
             "h=v"], stdin=b"".join(b"k%d:v%d\n" % (i, i) for i in range(20)))
    run(["kcat", "-b", addr, "-C", "-t", TOPIC, "-o", "beginning", "-e"])
    run(["kcat", "-b", addr, "-Q", "-t", "%s:0:1700000000000" % TOPIC])
    rec.client = "rdkafka"
    run([RDKAFKA_CLIENT, "create", addr, "rdk-topic", "3"])
    run([RDKAFKA_CLIENT, "produce", addr, TOPIC, "30", "1700000000000",
         "acks=all", "compression.codec=zstd"])
    run([RDKAFKA_CLIENT, "consume", addr, TOPIC, "3", "30", "3000"])


def drive_confluent(rec, addr):
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import (AdminClient, ConfigResource, NewPartitions,
                                       NewTopic)
    rec.client = "confluent"
    admin = AdminClient({"bootstrap.servers": addr})
    for f in admin.create_topics([NewTopic("cf-topic", 2, 1)]).values():
        f.exception(10)
    for f in admin.create_partitions([NewPartitions("cf-topic", 4)]).values():
        f.exception(10)
    res = ConfigResource(ConfigResource.Type.TOPIC, TOPIC)
    for f in admin.describe_configs([res]).values():
        f.exception(10)
    res.set_config("retention.ms", "86400000")
    for f in admin.alter_configs([res]).values():
        f.exception(10)
    for f in admin.delete_topics(["cf-topic"]).values():
        f.exception(10)
    p = Producer({"bootstrap.servers": addr, "compression.codec": "gzip"})
    for i in range(20):
        p.produce(TOPIC, b"v%d" % i, b"k%d" % i, headers=[("h", b"v")])
    p.flush(10)
    c = Consumer({"bootstrap.servers": addr, "group.id": "capture"})
    c.offsets_for_times([TopicPartition(TOPIC, 0, 1700000000000)], timeout=5)
    c.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=5)
    c.close()


def drive_kafka_python(rec, addr):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
    rec.client = "kafka-python"
    admin = KafkaAdminClient(bootstrap_servers=addr)
    admin.create_topics([NewTopic("kp-topic", 2, 1)])
    admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, TOPIC)])
    admin.delete_topics(["kp-topic"])
    admin.close()
    # Its own topic: kafka-python here cannot read kcat's snappy/lz4/zstd.
    p = KafkaProducer(bootstrap_servers=addr, compression_type="gzip")
    for i in range(20):
        p.send("kp-fuzz", key=b"k%d" % i, value=b"v%d" % i, headers=[("h", b"v")])
    p.flush()
    p.close()
    tp = TopicPartition("kp-fuzz", 0)
    c = KafkaConsumer(bootstrap_servers=addr, group_id=None, consumer_timeout_ms=1000)
    c.assign([tp])
    c.seek_to_beginning()
    list(c)
    c.offsets_for_times({tp: 1700000000000})
    c.end_offsets([tp])
    c.close()


def drive_kafkajs(rec, addr):
    rec.client = "kafkajs"
    run(["node", os.path.join(CLIENTS_DIR, "kafkajs_client.js"), addr,
         "kjs-topic", "30", "1700000000000"])


def drive_every_version(rec, addr):
    """Every version the broker advertises of the APIs kwire can build."""
    rec.client = "kwire"
    with kwire.Conn(addr) as c:
        _, ranges = kwire.api_versions_ranges(c.request(kwire.api_versions(0)))
    batch = kwire.batch([(b"k", b"v"), (None, b"w")])
    gz = kwire.batch([(b"k", b"v" * 50)], codec=1)
    build = {
        kwire.API_API_VERSIONS: lambda v: [kwire.api_versions(v)],
        kwire.API_METADATA: lambda v: [kwire.metadata(v, [TOPIC]), kwire.metadata(v, None)],
        kwire.API_PRODUCE: lambda v: [kwire.produce(v, TOPIC, 0, batch),
                                      kwire.produce(v, TOPIC, 1, gz, acks=1)],
        kwire.API_FETCH: lambda v: [kwire.fetch(v, TOPIC, 0, 0)],
        kwire.API_LIST_OFFSETS: lambda v: [kwire.list_offsets(v, TOPIC, 0, -2),
                                           kwire.list_offsets(v, TOPIC, 1, 1700000000000)],
        kwire.API_CREATE_TOPICS: lambda v: [kwire.create_topics(v, "kw-%d" % v, 2)],
        kwire.API_DELETE_TOPICS: lambda v: [kwire.delete_topics(v, "kw-%d" % v)],
        kwire.API_CREATE_PARTITIONS: lambda v: [
            kwire.create_partitions(v, TOPIC, 4 + v)],
        kwire.API_DELETE_RECORDS: lambda v: [kwire.delete_records(v, TOPIC, 2, 1)],
        kwire.API_OFFSET_FOR_LEADER_EPOCH: lambda v: [
            kwire.offset_for_leader_epoch(v, TOPIC, 0, 0)],
        kwire.API_DESCRIBE_CONFIGS: lambda v: [
            kwire.describe_configs(v, TOPIC), kwire.describe_configs(
                v, TOPIC, ["retention.ms", "cleanup.policy"])],
        kwire.API_ALTER_CONFIGS: lambda v: [kwire.alter_configs(
            v, TOPIC, [("retention.ms", "3600000")])],
        kwire.API_INCREMENTAL_ALTER_CONFIGS: lambda v: [kwire.alter_configs(
            v, TOPIC, [("segment.bytes", "1048576")], incremental=True)],
        kwire.API_DESCRIBE_CLUSTER: lambda v: [kwire.describe_cluster(v)],
    }
    for key, make in build.items():
        lo, hi = ranges.get(key, (0, -1))
        for v in range(max(lo, 0), min(hi, 12) + 1):
            if key == kwire.API_PRODUCE and v < 3 or key == kwire.API_FETCH and v < 4:
                continue  # magic 0/1 message sets: not built by kwire
            for req in make(v):
                with kwire.Conn(addr) as c:
                    rec.frame(c.frame(req)[4:])
                    try:
                        c.request(req)
                    except Exception:
                        pass


def main(out):
    rec = Recorder(out)
    proxy_port = free_port()
    b = Broker({"advertised.listeners": "PLAINTEXT://127.0.0.1:%d" % proxy_port,
                "num.partitions": "3"}).start()
    threading.Thread(target=proxy, args=(proxy_port, b.port, rec), daemon=True).start()
    time.sleep(0.2)
    addr = "127.0.0.1:%d" % proxy_port
    try:
        with kwire.Conn(b.bootstrap) as c:
            c.request(kwire.create_topics(4, TOPIC, 3))
        for drive in (drive_librdkafka, drive_confluent, drive_kafka_python,
                      drive_kafkajs):
            try:
                drive(rec, addr)
            except Exception as e:  # keep what was captured so far
                print("capture: %s: %s" % (drive.__name__, e))
        drive_every_version(rec, b.bootstrap)
    finally:
        b.__exit__(None, None, None)
    print("capture: %d seed files in %s" % (len(os.listdir(out)), out))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus"))
