"""Kafka messages encoded and decoded straight from Apache Kafka's JSON specs.

kwire.py builds requests by hand; this module reads the specs themselves
(kafka-protocol/messages/*.json: `validVersions`, `flexibleVersions`, and per
field `type`, `versions`, `nullableVersions`, `taggedVersions`/`tag`,
`default`) and walks them, so a test built on it checks every byte of a
response against Kafka's definition without a line written per field.

    req, resp = kspec.api(3)                      # Metadata's two specs
    body = kspec.encode(req, 9, {"Topics": [{"Name": "t"}]})
    values, used = kspec.decode(resp, 9, data)    # strict: raises SpecError
    kspec.decode_all(resp, 9, data)               # ... and no leftover bytes

Values are dicts keyed by the spec's field names; arrays are lists (of dicts
for struct elements), strings str, bytes/records bytes, uuid 16 bytes, null
None. decode adds "_tags": [tag numbers] to a struct whose tagged-field
section was not empty (unknown tags are skipped); encode writes a struct's
"_raw_tags": {tag: bytes} as extra, unknown tagged fields. A tagged field
is written, as Kafka does, only when given a non-default value; any other
field left out of the dict takes its default: the spec's `default`,
else 0 / False / "" / empty array, or null for a nullable string.

The specs live outside the repository and are read in place, never copied:
$SAMSA_KAFKA_PROTOCOL, else ../shared/kafka-protocol/messages beside the
clone, else /work/shared/kafka-protocol/messages (spec_dir()).
"""
import json
import os
import struct

ROOT = os.environ.get("SAMSA_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))

FIXED = {"int8": ">b", "int16": ">h", "int32": ">i", "int64": ">q",
         "uint16": ">H", "float64": ">d", "bool": ">?"}
INT_TYPES = ("int8", "int16", "int32", "int64", "uint16")


class SpecError(Exception):
    """A message that does not match its spec (names message, version and
    byte offset)."""


# ---- Finding and loading the specs ----

def spec_dir():
    """The messages/ directory to read, or None when there is none."""
    for d in (os.environ.get("SAMSA_KAFKA_PROTOCOL"),
              os.path.join(ROOT, "..", "shared", "kafka-protocol", "messages"),
              "/work/shared/kafka-protocol/messages"):
        if d and os.path.isfile(os.path.join(d, "RequestHeader.json")):
            return os.path.abspath(d)
    return None


_cache = {}


def load(name):
    """The spec named name ("MetadataRequest"), comments stripped."""
    if name not in _cache:
        d = spec_dir()
        if d is None:
            raise SpecError("spec directory not found")
        with open(os.path.join(d, name + ".json")) as f:
            # Kafka's JSON has whole-line // comments and nothing else.
            text = "\n".join(line for line in f
                             if not line.lstrip().startswith("//"))
        _cache[name] = json.loads(text)
    return _cache[name]


def api(key):
    """(request spec, response spec) of api key, or None if unknown."""
    if "_by_key" not in _cache:
        by_key = {}
        for fn in sorted(os.listdir(spec_dir())):
            if fn.endswith("Request.json"):
                spec = load(fn[:-5])
                if "apiKey" in spec:
                    by_key[spec["apiKey"]] = fn[:-12]
        _cache["_by_key"] = by_key
    name = _cache["_by_key"].get(key)
    if name is None:
        return None
    return load(name + "Request"), load(name + "Response")


# ---- Version ranges ("3+", "1-4", "5", "none") ----

def in_range(spec_range, v):
    if spec_range is None or spec_range == "none":
        return False
    if spec_range.endswith("+"):
        return v >= int(spec_range[:-1])
    lo, _, hi = spec_range.partition("-")
    return int(lo) <= v <= int(hi or lo)


def flexible(spec, v):
    return in_range(spec.get("flexibleVersions"), v)


def valid_range(spec):
    lo, _, hi = spec["validVersions"].partition("-")
    return int(lo), int(hi or lo)


def request_header_version(req_spec, v):
    """2 for flexible versions, else 1 (0 only for ControlledShutdown v0)."""
    if req_spec.get("apiKey") == 7 and v == 0:
        return 0
    return 2 if flexible(req_spec, v) else 1


def response_header_version(resp_spec, v):
    """1 for flexible versions, but always 0 for ApiVersions (key 18)."""
    if resp_spec.get("apiKey") == 18:
        return 0
    return 1 if flexible(resp_spec, v) else 0


# ---- Field helpers ----

def _struct_fields(field, root):
    """The fields of a struct-typed field: inline, or a commonStruct."""
    if "fields" in field:
        return field["fields"]
    name = field["type"].lstrip("[]")
    for s in root.get("commonStructs", []):
        if s["name"] == name:
            return s["fields"]
    raise SpecError("%s: no struct %s" % (root["name"], name))


def _is_tagged(field, v, flex):
    return flex and in_range(field.get("taggedVersions"), v)


def _nullable(field, v):
    return in_range(field.get("nullableVersions"), v)


def default(field, v, root):
    """The value a field takes when a message does not set it."""
    t, d = field["type"], field.get("default")
    if isinstance(d, bool):             # some specs write JSON literals
        d = "true" if d else "false"
    elif isinstance(d, (int, float)):
        d = str(d)
    if t.startswith("[]"):
        return []
    if t in INT_TYPES:
        return int(d, 0) if d not in (None, "") else 0
    if t == "float64":
        return float(d) if d not in (None, "") else 0.0
    if t == "bool":
        return d == "true"
    if t == "uuid":
        return bytes(16)
    if t in ("string", "bytes", "records"):
        if d == "null" or (d is None and _nullable(field, v)):
            return None
        empty = "" if t == "string" else b""
        return d.encode() if d and t != "string" else (d or empty)
    # a single struct: null if nullable and default null, else all defaults
    if d == "null":
        return None
    return {f["name"]: default(f, v, root)
            for f in _struct_fields(field, root) if in_range(f["versions"], v)}


# ---- Encoding ----

def _uvarint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _encode_value(field, t, value, v, flex, root, out):
    if t.startswith("[]"):
        if value is None:
            out += _uvarint(0) if flex else struct.pack(">i", -1)
            return
        out += _uvarint(len(value) + 1) if flex else struct.pack(">i", len(value))
        elem = t[2:]
        for item in value:
            _encode_value(field, elem, item, v, flex, root, out)
    elif t in FIXED:
        out += struct.pack(FIXED[t], value)
    elif t == "uuid":
        out += bytes(value)
    elif t in ("string", "bytes", "records"):
        if value is None:
            out += _uvarint(0) if flex else struct.pack(
                ">h" if t == "string" else ">i", -1)
            return
        b = value.encode() if isinstance(value, str) else bytes(value)
        if flex:
            out += _uvarint(len(b) + 1)
        else:
            out += struct.pack(">h" if t == "string" else ">i", len(b))
        out += b
    else:
        sub = _struct_fields(field, root)
        if _nullable(field, v) and not t.startswith("[]") and field["type"] == t:
            out += struct.pack(">b", -1 if value is None else 1)
            if value is None:
                return
        _encode_struct(sub, value, v, flex, root, out)


def _encode_struct(fields, values, v, flex, root, out):
    tagged = []
    for f in fields:
        if not in_range(f["versions"], v):
            continue
        fflex = flex and f.get("flexibleVersions") != "none"
        if _is_tagged(f, v, flex):
            # as Kafka writes them: only when set to a non-default value
            if f["name"] in values and \
                    values[f["name"]] != default(f, v, root):
                tagged.append(f)
            continue
        value = values.get(f["name"], None)
        if f["name"] not in values:
            value = default(f, v, root)
        _encode_value(f, f["type"], value, v, fflex, root, out)
    if flex:
        raw = dict(values.get("_raw_tags") or {})
        for f in tagged:
            data = bytearray()
            _encode_value(f, f["type"], values[f["name"]], v, True, root, data)
            raw[f["tag"]] = bytes(data)
        out += _uvarint(len(raw))
        for tag in sorted(raw):
            out += _uvarint(tag) + _uvarint(len(raw[tag])) + raw[tag]


def encode(spec, v, values=None):
    """The body of spec at version v with values (a dict; defaults fill in)."""
    out = bytearray()
    _encode_struct(spec["fields"], values or {}, v, flexible(spec, v), spec, out)
    return bytes(out)


# ---- Decoding ----

class _Reader:
    def __init__(self, data, spec, v, base=0):
        self.d, self.p, self.spec, self.v, self.base = data, 0, spec, v, base
        self.path = []

    def fail(self, what):
        raise SpecError("%s v%d: %s at byte %d (field %s)" % (
            self.spec["name"], self.v, what, self.base + self.p,
            ".".join(self.path) or "-"))

    def take(self, n):
        if n < 0 or self.p + n > len(self.d):
            self.fail("short read: need %d bytes, %d left"
                      % (n, len(self.d) - self.p))
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def fixed(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def uvarint(self):
        n = shift = 0
        while True:
            b = self.take(1)[0]
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n
            if shift > 28:
                self.fail("unsigned varint longer than 5 bytes")

    def length(self, flex, fmt):
        """An element or byte count; -1 means null."""
        return self.uvarint() - 1 if flex else self.fixed(fmt)


def _decode_value(r, field, t, v, flex, root):
    if t.startswith("[]"):
        n = r.length(flex, ">i")
        if n < 0:
            if not _nullable(field, v):
                r.fail("null array in a non-nullable field")
            return None
        if n > len(r.d) - r.p:
            r.fail("array of %d elements longer than the message" % n)
        items = []
        for i in range(n):
            r.path.append("[%d]" % i)
            items.append(_decode_value(r, field, t[2:], v, flex, root))
            r.path.pop()
        return items
    if t in FIXED:
        if t == "bool":
            b = r.fixed(">B")
            if b > 1:
                r.fail("bool byte %d" % b)
            return b == 1
        return r.fixed(FIXED[t])
    if t == "uuid":
        return r.take(16)
    if t in ("string", "bytes", "records"):
        n = r.length(flex, ">h" if t == "string" else ">i")
        if n < 0:
            if not _nullable(field, v):
                r.fail("null in a non-nullable %s" % t)
            return None
        b = r.take(n)
        if t != "string":
            return b
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            r.fail("string is not UTF-8")
    sub = _struct_fields(field, root)
    if _nullable(field, v) and field["type"] == t:
        marker = r.fixed(">b")
        if marker < 0:
            return None
    return _decode_struct(r, sub, v, flex, root)


def _decode_struct(r, fields, v, flex, root):
    out, tagged = {}, {}
    for f in fields:
        if not in_range(f["versions"], v):
            continue
        if _is_tagged(f, v, flex):
            tagged[f["tag"]] = f
            out[f["name"]] = default(f, v, root)
            continue
        fflex = flex and f.get("flexibleVersions") != "none"
        r.path.append(f["name"])
        out[f["name"]] = _decode_value(r, f, f["type"], v, fflex, root)
        r.path.pop()
    if flex:
        r.path.append("<tagged fields>")
        count, last = r.uvarint(), -1
        for _ in range(count):
            tag, size = r.uvarint(), r.uvarint()
            if tag <= last:
                r.fail("tag %d after tag %d" % (tag, last))
            last = tag
            out.setdefault("_tags", []).append(tag)
            data = r.take(size)
            if tag in tagged:
                f = tagged[tag]
                sub = _Reader(data, r.spec, v, r.base + r.p - size)
                sub.path = r.path + [f["name"]]
                out[f["name"]] = _decode_value(sub, f, f["type"], v, True, root)
                if sub.p != size:
                    sub.fail("tagged field %d: %d of %d bytes used"
                             % (tag, sub.p, size))
        r.path.pop()
    return out


def decode(spec, v, data, base=0):
    """(values, bytes consumed) of spec at version v read from data.
    base is added to byte offsets in errors (where data began)."""
    r = _Reader(bytes(data), spec, v, base)
    values = _decode_struct(r, spec["fields"], v, flexible(spec, v), spec)
    return values, r.p


def decode_all(spec, v, data, base=0):
    """decode, and fail unless it consumed every byte."""
    values, used = decode(spec, v, data, base)
    if used != len(data):
        raise SpecError("%s v%d: %d bytes left over at byte %d" % (
            spec["name"], v, len(data) - used, base + used))
    return values


# ---- Headers and frames ----

def frame_request(req_spec, v, correlation_id, body, client_id="kspec",
                  header_tags=None):
    """int32 size + request header (its version per request_header_version,
    header_tags: {tag: bytes} unknown tagged fields in v2) + body."""
    hv = request_header_version(req_spec, v)
    hdr = encode(load("RequestHeader"), hv, {
        "RequestApiKey": req_spec["apiKey"], "RequestApiVersion": v,
        "CorrelationId": correlation_id, "ClientId": client_id,
        "_raw_tags": header_tags})
    msg = hdr + body
    return struct.pack(">i", len(msg)) + msg


def split_response(resp_spec, v, frame):
    """(header dict, body bytes, header length) of one response frame
    (without its size prefix), the header read strictly as its version."""
    hv = response_header_version(resp_spec, v)
    header, used = decode(load("ResponseHeader"), hv, frame)
    return header, frame[used:], used
