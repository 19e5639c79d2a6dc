"""Raw Kafka protocol for tests that must send what no client would.

Written from Apache Kafka's message specs (shared/kafka-protocol/messages/
*.json: field order, `versions`, `flexibleVersions`) and the record batch v2
layout (CLIENTS.md section 6), not from samsa's code, so a test built on it
checks the broker against Kafka's definition rather than against itself.

    c = Conn(bootstrap)
    c.send(api_versions(3))               # a request is (key, version, body)
    key, ver, body = ...; r = c.request(produce(9, "t", 0, batch([...])))
    produce_errors(9, r)                  # [(topic, partition, error_code)]

Every request builder returns (api_key, api_version, body bytes); Conn.frame
wraps it in the request header (v1, or v2 for flexible versions) and the
int32 size prefix. Readers parse only the fields the tests look at.
"""
import gzip as _gzip
import socket
import struct
import time

API_PRODUCE, API_FETCH, API_LIST_OFFSETS, API_METADATA = 0, 1, 2, 3
API_API_VERSIONS, API_CREATE_TOPICS, API_DELETE_TOPICS = 18, 19, 20
API_DELETE_RECORDS, API_OFFSET_FOR_LEADER_EPOCH = 21, 23
API_DESCRIBE_CONFIGS, API_ALTER_CONFIGS, API_CREATE_PARTITIONS = 32, 33, 37
API_INCREMENTAL_ALTER_CONFIGS, API_DESCRIBE_CLUSTER = 44, 60
API_ELECT_LEADERS = 43

# flexibleVersions of each request used here ("9+" means from v9 on).
FLEXIBLE_FROM = {API_PRODUCE: 9, API_FETCH: 12, API_LIST_OFFSETS: 6,
                 API_METADATA: 9, API_API_VERSIONS: 3, API_CREATE_TOPICS: 5,
                 API_DELETE_TOPICS: 4, API_DELETE_RECORDS: 2,
                 API_OFFSET_FOR_LEADER_EPOCH: 4, API_DESCRIBE_CONFIGS: 4,
                 API_ALTER_CONFIGS: 2, API_CREATE_PARTITIONS: 2,
                 API_INCREMENTAL_ALTER_CONFIGS: 1, API_DESCRIBE_CLUSTER: 0}
# KRaft's RPCs (all flexible from v0).
API_VOTE, API_BEGIN_QUORUM_EPOCH, API_END_QUORUM_EPOCH = 52, 53, 54
API_DESCRIBE_QUORUM, API_ENVELOPE = 55, 58
API_BROKER_REGISTRATION, API_BROKER_HEARTBEAT = 62, 63
API_ALLOCATE_PRODUCER_IDS = 67
API_FIND_COORDINATOR = 10
for _k in (API_VOTE, API_BEGIN_QUORUM_EPOCH, API_END_QUORUM_EPOCH,
           API_DESCRIBE_QUORUM, API_ENVELOPE, API_BROKER_REGISTRATION,
           API_BROKER_HEARTBEAT, API_ALLOCATE_PRODUCER_IDS):
    FLEXIBLE_FROM[_k] = 0
RESOURCE_TOPIC = 2  # ConfigResource.Type.TOPIC

# Kafka error codes the tests name (Errors.java).
NONE, CORRUPT_MESSAGE, UNKNOWN_TOPIC_OR_PARTITION = 0, 2, 3
NOT_LEADER_OR_FOLLOWER, MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE = 6, 10, 18
UNSUPPORTED_VERSION, INVALID_REQUEST, INVALID_TXN_STATE = 35, 42, 48
TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
UNSUPPORTED_COMPRESSION_TYPE, INVALID_RECORD = 76, 87

# Record batch attributes (CLIENTS.md section 6).
ATTR_TRANSACTIONAL, ATTR_CONTROL = 0x10, 0x20


def flexible(key, version):
    return version >= FLEXIBLE_FROM.get(key, 1 << 15)


# ---- Primitive encoders (the protocol guide's types) ----

def i8(v): return struct.pack(">b", v)
def i16(v): return struct.pack(">h", v)
def i32(v): return struct.pack(">i", v)
def i64(v): return struct.pack(">q", v)


def uvarint(v):
    """Unsigned varint: compact lengths and tag counts."""
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def varint(v):
    """Zigzag varint/varlong: lengths and deltas inside records."""
    return uvarint((v << 1) ^ (v >> 63))


def string(s, flex=False):
    """string / nullable string (int16 length, -1 null) or the compact
    forms (uvarint length + 1, 0 null) in flexible versions."""
    if s is None:
        return uvarint(0) if flex else i16(-1)
    b = s.encode() if isinstance(s, str) else s
    return (uvarint(len(b) + 1) if flex else i16(len(b))) + b


def bytes_(b, flex=False):
    """bytes / records: int32 length (-1 null) or compact uvarint + 1."""
    if b is None:
        return uvarint(0) if flex else i32(-1)
    return (uvarint(len(b) + 1) if flex else i32(len(b))) + b


def array(items, flex=False):
    """An array of already-encoded elements (None: the null array)."""
    if items is None:
        return uvarint(0) if flex else i32(-1)
    n = len(items)
    return (uvarint(n + 1) if flex else i32(n)) + b"".join(items)


def tags(flex):
    """An empty tagged-field section, only in flexible versions."""
    return b"\x00" if flex else b""


# ---- Request builders: (api_key, api_version, body) ----

def api_versions(v, software=("samsa-kwire", "1.0")):
    """ApiVersionsRequest: empty before v3; then two compact strings."""
    if v < 3:
        return (API_API_VERSIONS, v, b"")
    return (API_API_VERSIONS, v,
            string(software[0], True) + string(software[1], True) + tags(True))


def metadata(v, topics=None, auto_create=True):
    """MetadataRequest v1..v9; topics None asks for all topics."""
    f = flexible(API_METADATA, v)
    ts = None if topics is None else [string(t, f) + tags(f) for t in topics]
    body = array(ts, f)
    if v >= 4:
        body += i8(1 if auto_create else 0)
    if v >= 8:
        body += i8(0) + i8(0)  # authorized operations: not asked
    return (API_METADATA, v, body + tags(f))


def produce(v, topic, partition, records, acks=-1, timeout_ms=5000,
            transactional_id=None):
    """ProduceRequest v3..v9: one topic, one partition, one records blob."""
    f = flexible(API_PRODUCE, v)
    part = i32(partition) + bytes_(records, f) + tags(f)
    top = string(topic, f) + array([part], f) + tags(f)
    body = (string(transactional_id, f) + i16(acks) + i32(timeout_ms)
            + array([top], f))
    return (API_PRODUCE, v, body + tags(f))


def fetch(v, topic, partition, offset, max_bytes=1 << 20,
          partition_max_bytes=1 << 20, max_wait_ms=0, replica_id=-1,
          repeat=1, rack=""):
    """FetchRequest v4..v12 for one partition (no fetch session), named
    repeat times; replica_id >= 0 poses as a follower."""
    f = flexible(API_FETCH, v)
    p = i32(partition)
    if v >= 9:
        p += i32(-1)                # current leader epoch: unknown
    p += i64(offset)
    if v >= 12:
        p += i32(-1)                # last fetched epoch
    if v >= 5:
        p += i64(-1)                # log start offset (followers only)
    p += i32(partition_max_bytes) + tags(f)
    t = string(topic, f) + array([p] * repeat, f) + tags(f)
    body = (i32(replica_id) + i32(max_wait_ms) + i32(1) + i32(max_bytes)
            + i8(0))
    if v >= 7:
        body += i32(0) + i32(-1)    # session id 0, epoch -1: no session
    body += array([t], f)
    if v >= 7:
        body += array([], f)        # forgotten topics
    if v >= 11:
        body += string(rack, f)     # rack id (KIP-392)
    return (API_FETCH, v, body + tags(f))


def list_offsets(v, topic, partition, timestamp, repeat=1):
    """ListOffsetsRequest v1..v7 (timestamp -2 earliest, -1 latest), the
    partition named repeat times."""
    f = flexible(API_LIST_OFFSETS, v)
    p = i32(partition)
    if v >= 4:
        p += i32(-1)
    p += i64(timestamp) + tags(f)
    t = string(topic, f) + array([p] * repeat, f) + tags(f)
    body = i32(-1) + (i8(0) if v >= 2 else b"") + array([t], f)
    return (API_LIST_OFFSETS, v, body + tags(f))


def create_topics(v, topic, partitions, replication=1, configs=()):
    """CreateTopicsRequest v2..v5 for one topic, with (name, value)
    configs."""
    f = flexible(API_CREATE_TOPICS, v)
    cs = [string(k, f) + string(val, f) + tags(f) for k, val in configs]
    t = (string(topic, f) + i32(partitions) + i16(replication)
         + array([], f) + array(cs, f) + tags(f))
    return (API_CREATE_TOPICS, v,
            array([t], f) + i32(5000) + i8(0) + tags(f))


def delete_topics(v, topic):
    """DeleteTopicsRequest v1..v6 for one topic (by name)."""
    f = flexible(API_DELETE_TOPICS, v)
    if v >= 6:
        names = array([string(topic, f) + b"\x00" * 16 + tags(f)], f)
    else:
        names = array([string(topic, f)], f)
    return (API_DELETE_TOPICS, v, names + i32(5000) + tags(f))


def create_partitions(v, topic, count):
    """CreatePartitionsRequest v0..v3: grow topic to count partitions."""
    f = flexible(API_CREATE_PARTITIONS, v)
    t = string(topic, f) + i32(count) + array(None, f) + tags(f)
    return (API_CREATE_PARTITIONS, v,
            array([t], f) + i32(5000) + i8(0) + tags(f))


def delete_records(v, topic, partition, offset):
    """DeleteRecordsRequest v0..v2: move the log start up to offset."""
    f = flexible(API_DELETE_RECORDS, v)
    p = i32(partition) + i64(offset) + tags(f)
    t = string(topic, f) + array([p], f) + tags(f)
    return (API_DELETE_RECORDS, v, array([t], f) + i32(5000) + tags(f))


def offset_for_leader_epoch(v, topic, partition, epoch):
    """OffsetForLeaderEpochRequest v2..v4 (a consumer: replica id -1)."""
    f = flexible(API_OFFSET_FOR_LEADER_EPOCH, v)
    p = i32(partition) + i32(-1) + i32(epoch) + tags(f)
    t = string(topic, f) + array([p], f) + tags(f)
    return (API_OFFSET_FOR_LEADER_EPOCH, v,
            (i32(-1) if v >= 3 else b"") + array([t], f) + tags(f))


def describe_configs(v, topic, keys=None):
    """DescribeConfigsRequest v1..v4 for one topic (keys None: all)."""
    f = flexible(API_DESCRIBE_CONFIGS, v)
    ks = None if keys is None else [string(k, f) for k in keys]
    r = i8(RESOURCE_TOPIC) + string(topic, f) + array(ks, f) + tags(f)
    body = array([r], f) + i8(1)
    if v >= 3:
        body += i8(1)
    return (API_DESCRIBE_CONFIGS, v, body + tags(f))


def alter_configs(v, topic, configs, incremental=False):
    """AlterConfigsRequest v0..v2, or IncrementalAlterConfigs v0..v1
    (operation 0, SET) with incremental, for one topic."""
    key = API_INCREMENTAL_ALTER_CONFIGS if incremental else API_ALTER_CONFIGS
    f = flexible(key, v)
    cs = [string(k, f) + (i8(0) if incremental else b"") + string(val, f)
          + tags(f) for k, val in configs]
    r = i8(RESOURCE_TOPIC) + string(topic, f) + array(cs, f) + tags(f)
    return (key, v, array([r], f) + i8(0) + tags(f))


def describe_configs_entries(v, body):
    """[(name, value)] of the first resource of a DescribeConfigs v1..v3."""
    r = Reader(body, False)
    r.i32()                                        # throttle
    out = []

    def entry():
        name, value = r.string(), r.string()
        r.i8(), r.i8(), r.i8()                     # read only, source, sensitive
        r.array(lambda: (r.string(), r.string(), r.i8()))   # synonyms
        if v >= 3:
            r.i8(), r.string()                     # type, documentation
        out.append((name, value))

    def resource():
        r.i16(), r.string(), r.i8(), r.string()
        r.array(entry)
    r.array(resource)
    return out


def find_coordinator(group):
    """FindCoordinatorRequest v1 (not flexible): a group's coordinator."""
    return (API_FIND_COORDINATOR, 1, string(group) + i8(0))


def find_coordinator_result(body):
    """(error, node id, host, port) of a FindCoordinator v1 answer."""
    r = Reader(body, False)
    r.i32()                                        # throttle
    err = r.i16()
    r.string()                                     # error message
    return err, r.i32(), r.string(), r.i32()


def elect_leaders(topic, partitions, election_type=0, timeout_ms=10000):
    """ElectLeadersRequest v1 (not flexible): 0 PREFERRED, 1 UNCLEAN."""
    parts = array([i32(p) for p in partitions])
    return (API_ELECT_LEADERS, 1, i8(election_type) +
            array([string(topic) + parts]) + i32(timeout_ms))


def elect_leaders_result(body):
    """(error, {(topic, partition): error}) of an ElectLeaders v1 answer."""
    r = Reader(body, False)
    r.i32()                                        # throttle
    err, out = r.i16(), {}

    def part(topic):
        pid, e = r.i32(), r.i16()
        r.string()                                 # error message
        out[(topic, pid)] = e

    def topic():
        name = r.string()
        r.array(lambda: part(name))
    r.array(topic)
    return err, out


def describe_cluster(v):
    """DescribeClusterRequest v0..v1 (v1: endpoint type 1, brokers)."""
    body = i8(0) + (i8(1) if v >= 1 else b"")
    return (API_DESCRIBE_CLUSTER, v, body + tags(True))


# ---- Record batch v2 (CLIENTS.md section 6) ----

def crc32c(data):
    """CRC-32C (Castagnoli), bit by bit: slow, obviously right."""
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def record(offset_delta, ts_delta, key, value, headers=()):
    """One record: zigzag-varint framed, as DefaultRecord writes it."""
    def blob(b):
        return varint(-1) if b is None else varint(len(b)) + b
    body = (b"\x00" + varint(ts_delta) + varint(offset_delta)
            + blob(key) + blob(value) + varint(len(headers))
            + b"".join(varint(len(k)) + k + blob(hv) for k, hv in headers))
    return varint(len(body)) + body


def batch(records, base_ts=None, codec=0, count=None, bad_crc=False,
          attrs=0, magic=2, producer=(-1, -1, -1), payload=None):
    """A record batch v2 of (key, value) pairs (key None: a null key).
    codec 1 gzips the records (other codecs only set the bits); count
    overrides recordsCount and lastOffsetDelta together (to lie); bad_crc
    flips the CRC; attrs adds attribute bits (ATTR_*); magic overrides
    byte 16; producer is (id, epoch, base sequence); payload replaces the
    records area after compression (bytes that are not what codec says)."""
    base_ts = int(time.time() * 1000) if base_ts is None else base_ts
    recs = b"".join(record(i, i, k, v) for i, (k, v) in enumerate(records))
    if codec == 1:
        recs = _gzip.compress(recs)
    if payload is not None:
        recs = payload
    n = len(records) if count is None else count
    pid, epoch, seq = producer
    after_crc = struct.pack(">hiqqqhii", codec | attrs, n - 1, base_ts,
                            base_ts + n - 1, pid, epoch, seq, n) + recs
    crc = crc32c(after_crc) ^ (0xFFFFFFFF if bad_crc else 0)
    length = 4 + 1 + 4 + len(after_crc)  # leader epoch, magic, crc, rest
    return struct.pack(">qiibI", 0, length, 0, magic, crc) + after_crc


def batch_records(data):
    """Walk the batches of a records blob: [(base_offset, count, codec)]."""
    out, pos = [], 0
    while pos + 61 <= len(data):
        base, length = struct.unpack_from(">qi", data, pos)
        if pos + 12 + length > len(data):
            break  # a partial batch at the end: allowed in Fetch
        attrs, = struct.unpack_from(">h", data, pos + 21)
        count, = struct.unpack_from(">i", data, pos + 57)
        out.append((base, count, attrs & 7))
        pos += 12 + length
    return out


def batch_attributes(data):
    """The attributes (int16) of each whole batch in a records blob."""
    out, pos = [], 0
    while pos + 61 <= len(data):
        length, = struct.unpack_from(">i", data, pos + 8)
        if pos + 12 + length > len(data):
            break
        out.append(struct.unpack_from(">h", data, pos + 21)[0])
        pos += 12 + length
    return out


# ---- Reading responses ----

def describe_quorum(v=0):
    """DescribeQuorumRequest for __cluster_metadata-0 (flexible)."""
    part = i32(0) + tags(True)
    topic = string("__cluster_metadata", True) + array([part], True) + tags(True)
    return (API_DESCRIBE_QUORUM, v, array([topic], True) + tags(True))


def describe_quorum_leader(body):
    """(error, leader id, leader epoch, high watermark) of a v0..v1 answer."""
    r = Reader(body, True)
    err = r.i16()
    out = []

    def part():
        r.i32()
        perr, leader, epoch, hw = r.i16(), r.i32(), r.i32(), r.i64()
        out.append((err or perr, leader, epoch, hw))
        return None
    r.array(lambda: (r.string(), r.array(part)))
    return out[0] if out else (err, -1, -1, -1)


class Reader:
    """A cursor over a response body; flex selects compact forms."""

    def __init__(self, data, flex=False):
        self.d, self.p, self.flex = data, 0, flex

    def take(self, n):
        if self.p + n > len(self.d):
            raise ValueError("response truncated at byte %d" % self.p)
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def i8(self): return struct.unpack(">b", self.take(1))[0]
    def i16(self): return struct.unpack(">h", self.take(2))[0]
    def i32(self): return struct.unpack(">i", self.take(4))[0]
    def i64(self): return struct.unpack(">q", self.take(8))[0]

    def uvarint(self):
        v = shift = 0
        while True:
            b = self.take(1)[0]
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v

    def string(self):
        n = self.uvarint() - 1 if self.flex else self.i16()
        return None if n < 0 else self.take(n).decode()

    def bytes_(self):
        n = self.uvarint() - 1 if self.flex else self.i32()
        return None if n < 0 else self.take(n)

    def array(self, elem):
        n = self.uvarint() - 1 if self.flex else self.i32()
        return [] if n < 0 else [elem() for _ in range(n)]

    def tags(self):
        if self.flex:
            for _ in range(self.uvarint()):
                self.uvarint()
                self.take(self.uvarint())


def api_versions_ranges(body):
    """ApiVersions response (v0 body, as every version starts): error code
    and {api_key: (min, max)}."""
    r = Reader(body)
    err = r.i16()
    ranges = dict((k, (lo, hi)) for k, lo, hi in
                  r.array(lambda: (r.i16(), r.i16(), r.i16())))
    return err, ranges


def api_versions_flex_ranges(body):
    """ApiVersions v3+ response body (compact array)."""
    r = Reader(body, True)
    err = r.i16()

    def one():
        k, lo, hi = r.i16(), r.i16(), r.i16()
        r.tags()
        return k, (lo, hi)
    return err, dict(r.array(one))


def metadata_brokers(v, body):
    """([(node_id, host, port, rack)], controller_id) of Metadata v1+."""
    r = Reader(body, flexible(API_METADATA, v))
    if v >= 3:
        r.i32()                                   # throttle
    brokers = r.array(lambda: (r.i32(), r.string(), r.i32(), r.string(),
                               r.tags())[:4])
    if v >= 2:
        r.string()                                # cluster id
    return brokers, r.i32()


def metadata_topics(v, body):
    """{topic: (error_code, partition count)} of a Metadata v1..v9."""
    r = Reader(body, flexible(API_METADATA, v))
    if v >= 3:
        r.i32()                                   # throttle
    r.array(lambda: (r.i32(), r.string(), r.i32(), r.string(), r.tags()))
    if v >= 2:
        r.string()                                # cluster id
    r.i32()                                       # controller id

    def partition():
        r.i16(), r.i32(), r.i32()                 # error, index, leader
        if v >= 7:
            r.i32()                               # leader epoch
        r.array(r.i32), r.array(r.i32)            # replicas, isr
        if v >= 5:
            r.array(r.i32)                        # offline replicas
        r.tags()

    def topic():
        err, name = r.i16(), r.string()
        r.i8()                                    # is internal
        n = len(r.array(partition))
        if v >= 8:
            r.i32()                               # authorized operations
        r.tags()
        return name, (err, n)
    return dict(r.array(topic))


def create_topics_errors(v, body):
    """[(topic, error_code)] of a CreateTopics v2..v5 response."""
    r = Reader(body, flexible(API_CREATE_TOPICS, v))
    r.i32()                                       # throttle

    def topic():
        name, err = r.string(), r.i16()
        r.string()                                # error message
        if v >= 5:
            r.i32(), r.i16()                      # partitions, replication
            r.array(lambda: (r.string(), r.string(), r.i8(), r.i8(),
                             r.i8(), r.tags()))   # configs
        r.tags()
        return name, err
    return r.array(topic)


def produce_errors(v, body):
    """[(topic, partition, error_code, base_offset)] of a Produce v3..v9."""
    r = Reader(body, flexible(API_PRODUCE, v))
    out = []

    def part(topic):
        idx, err, base = r.i32(), r.i16(), r.i64()
        r.i64()                                   # log append time
        if v >= 5:
            r.i64()                               # log start offset
        if v >= 8:
            r.array(lambda: (r.i32(), r.string(), r.tags()))
            r.string()                            # error message
        r.tags()
        out.append((topic, idx, err, base))

    def topic():
        name = r.string()
        r.array(lambda: part(name))
        r.tags()
    r.array(topic)
    return out


def fetch_partitions(v, body):
    """[(topic, partition, error_code, high_watermark, records)] of a
    Fetch v4..v12 response; the top-level error code comes first."""
    r = Reader(body, flexible(API_FETCH, v))
    r.i32()                                       # throttle
    top_err = r.i16() if v >= 7 else 0
    if v >= 7:
        r.i32()                                   # session id
    out = []

    def part(topic):
        idx, err, hw = r.i32(), r.i16(), r.i64()
        r.i64()                                   # last stable offset
        if v >= 5:
            r.i64()                               # log start offset
        r.array(lambda: (r.i64(), r.i64(), r.tags()))
        pref = r.i32() if v >= 11 else -1          # preferred read replica
        recs = r.bytes_()
        r.tags()
        out.append((topic, idx, err, hw, recs or b""))
        preferred.append(pref)

    def topic():
        name = r.string()
        r.array(lambda: part(name))
        r.tags()
    preferred = []
    r.array(topic)
    fetch_partitions.preferred = preferred  # KIP-392, per partition
    return top_err, out


def list_offsets_result(v, body):
    """[(topic, partition, error_code, timestamp, offset)] of v1..v7."""
    r = Reader(body, flexible(API_LIST_OFFSETS, v))
    if v >= 2:
        r.i32()
    out = []

    def part(topic):
        idx, err, ts, off = r.i32(), r.i16(), r.i64(), r.i64()
        if v >= 4:
            r.i32()
        r.tags()
        out.append((topic, idx, err, ts, off))

    def topic():
        name = r.string()
        r.array(lambda: part(name))
        r.tags()
    r.array(topic)
    return out


# ---- A connection ----

class Conn:
    """One TCP connection speaking size-prefixed frames."""

    def __init__(self, bootstrap, timeout=10.0):
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout)
        self.sock.settimeout(timeout)
        self.correlation = 0

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def frame(self, req, client_id="kwire"):
        """Size prefix + request header (v1, v2 when flexible) + body."""
        key, ver, body = req
        self.correlation += 1
        hdr = i16(key) + i16(ver) + i32(self.correlation) + string(client_id)
        hdr += tags(flexible(key, ver))
        msg = hdr + body
        return i32(len(msg)) + msg

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, req):
        self.sock.sendall(self.frame(req))

    def recv_exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("closed by the broker after %d of %d "
                                      "bytes" % (len(out), n))
            out += chunk
        return out

    def recv(self, req=None):
        """One response: (correlation_id, body after the header)."""
        size, = struct.unpack(">i", self.recv_exact(4))
        data = self.recv_exact(size)
        cid, = struct.unpack_from(">i", data, 0)
        pos = 4
        if req is not None and req[0] != API_API_VERSIONS and \
                flexible(req[0], req[1]):
            r = Reader(data[pos:], True)
            r.tags()                              # response header v1
            pos += r.p
        return cid, data[pos:]

    def request(self, req):
        """Send req and return the body of its response."""
        self.send(req)
        cid, body = self.recv(req)
        if cid != self.correlation:
            raise ValueError("correlation id %d, expected %d"
                             % (cid, self.correlation))
        return body

    def closed_by_peer(self, wait=5.0):
        """True when the broker closes this connection within wait s."""
        self.sock.settimeout(wait)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except socket.timeout:
            return False
        except OSError:
            return True
