/* SPDX-License-Identifier: MIT */
/*
 * Chapter 04 — codec: the bytes of the Kafka protocol.
 *
 * Concept:
 *   Client and broker exchange frames: an int32 size, a header, a body
 *   built from a dozen primitives (big-endian integers, varints, strings,
 *   bytes, arrays, tagged fields). Every length in them was written by a
 *   peer we do not trust, so the codec never believes one before checking
 *   it against the bytes really there. Records: 04_records.c.
 *
 * Kafka:
 *   The protocol guide and the message specs: RequestHeader.json (v0-2),
 *   ResponseHeader.json (v0-1), "flexibleVersions" (KIP-482: compact
 *   lengths, tagged fields), ByteUtils (varints), Errors.java, ApiKeys.java.
 *
 * Interface:
 *   - Decode with a struct wire_reader, then check wire_reader_status
 *     once; reads after a failure are harmless and return zero values.
 *   - Strings and bytes are views into the request buffer, valid until it
 *     is freed; keep one longer with wire_str_dup.
 *   - wire_read_array_len takes an element's smallest size; allocate only
 *     after it returned.
 *   - Encode with a struct wire_writer; check wire_writer_status once.
 *   - The header functions set the flexible flag for the body.
 *
 * Invariants:
 *   1. A reader never touches a byte outside p[0, len): pos <= len.
 *   2. Errors are sticky: after one, reads return zero values and writes
 *      do nothing.
 *   3. A length or count from the wire is checked against the bytes left
 *      before it is used.
 *   4. A varint over 5 bytes (varlong: 10) or 32 (64) bits is an error.
 *   6. samsa writes empty tag sections only, and response header v1 for
 *      flexible versions except ApiVersions.
 *   5, 7, 8: the records of a batch, in 04_records.c.
 *
 * Simplifications:
 *   - Tagged fields are skipped when read and never written.
 *   - The writer trusts its caller to put null only in nullable fields.
 *   Pure and single-threaded: no globals, nothing allocated by readers.
 *
 * See also: docs/04_codec.md, diagrams/04_codec.dot, tests/04_codec_test.c,
 *   tests/fixtures/.
 *   Uses chapters 00 (base).
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "04_codec.h"

/* A compact length or count is sent as N + 1 so that 0 can mean null. */
#define COMPACT_NULL 0
/* Each tagged field takes at least two bytes: its tag and its size. */
#define TAG_MIN_SIZE 2

/* One row of the API table: the name and the first flexible version
 * (-1: never flexible), as in messages/<Name>Request.json. */
struct api_info {
	const char *name;
	int16_t flexible_from;
};

/* ---- Prototypes of the static helpers, in reading order ---- */

static const uint8_t *take(struct wire_reader *r, size_t n);
static uint64_t take_be(struct wire_reader *r, size_t n);
static uint64_t read_uvarint(struct wire_reader *r, unsigned bits);
static struct wire_bytes read_blob(struct wire_reader *r, bool is_string,
				   bool nullable);
static int32_t read_count(struct wire_reader *r, size_t min_elem_size,
			  bool nullable);
static void skip_tag_section(struct wire_reader *r);
static void put(struct wire_writer *w, const void *p, size_t n);
static void put_be(struct wire_writer *w, uint64_t v, size_t n);
static void put_len(struct wire_writer *w, int32_t len, bool is_string);
static void set_err(struct wire_writer *w, int err);
static const struct api_info *api_lookup(int16_t api_key);
static struct wire_str read_classic_nullable_string(struct wire_reader *r);
static size_t uvarint_encode(uint8_t *out, uint64_t v);
static uint32_t zigzag32(int32_t v);
static uint64_t zigzag64(int64_t v);

/* ---- Reading primitives ---- */

/* An empty message still gets a valid pointer, so empty views are never
 * NULL (NULL is reserved for null strings and bytes). */
void wire_reader_init(struct wire_reader *r, const void *p, size_t len,
		      bool flexible)
{
	static const uint8_t nothing[1];
	r->p = p ? p : nothing;
	r->len = p ? len : 0;
	r->pos = 0;
	r->flexible = flexible;
	r->err = false;
}

size_t wire_remaining(const struct wire_reader *r)
{
	return r->err ? 0 : r->len - r->pos;
}

int wire_reader_status(const struct wire_reader *r)
{
	return r->err ? KB_ERR_PROTO : KB_OK;
}

/* Every read in this file goes through take(): it hands out n bytes or,
 * if fewer are left, sets the sticky error and hands out nothing.
 * INVARIANT 1, 2: checked before any byte is touched, pos never moves
 * after an error. */
static const uint8_t *take(struct wire_reader *r, size_t n)
{
	if (r->err || n > r->len - r->pos) {
		r->err = true;
		return NULL;
	}
	const uint8_t *p = r->p + r->pos;
	r->pos += n;
	return p;
}

/* Fixed-width integers travel big-endian: most significant byte first.
 * A failed take() reads as 0 (INVARIANT 2). */
static uint64_t take_be(struct wire_reader *r, size_t n)
{
	const uint8_t *p = take(r, n);
	uint64_t v = 0;
	for (size_t i = 0; p && i < n; i++)
		v = v << 8 | p[i];
	return v;
}

int8_t wire_read_i8(struct wire_reader *r)
{
	return (int8_t)take_be(r, 1);
}

/* KAFKA: "boolean" is one byte; readers treat any non-zero as true. */
bool wire_read_bool(struct wire_reader *r)
{
	return take_be(r, 1) != 0;
}

int16_t wire_read_i16(struct wire_reader *r)
{
	return (int16_t)take_be(r, 2);
}

uint16_t wire_read_u16(struct wire_reader *r)
{
	return (uint16_t)take_be(r, 2);
}

int32_t wire_read_i32(struct wire_reader *r)
{
	return (int32_t)take_be(r, 4);
}

uint32_t wire_read_u32(struct wire_reader *r)
{
	return (uint32_t)take_be(r, 4);
}

int64_t wire_read_i64(struct wire_reader *r)
{
	return (int64_t)take_be(r, 8);
}

/* KAFKA: "float64" is the IEEE 754 bit pattern as a big-endian int64. */
double wire_read_f64(struct wire_reader *r)
{
	uint64_t bits = take_be(r, 8);
	double d;
	memcpy(&d, &bits, sizeof d);
	return d;
}

/* take() for callers outside this file: the records of chapter 04's
 * batch reader (04_records.c) carry varint lengths this file never sees. */
const uint8_t *wire_read_raw(struct wire_reader *r, size_t n)
{
	return take(r, n);
}

struct wire_uuid wire_read_uuid(struct wire_reader *r)
{
	struct wire_uuid u = {{0}};
	const uint8_t *p = take(r, WIRE_UUID_LEN);
	if (p)
		memcpy(u.b, p, WIRE_UUID_LEN);
	return u;
}

/* ---- Variable-length integers ---- */

/* Base 128, least significant group first; the top bit of each byte says
 * "more follows". INVARIANT 4: at most ceil(bits / 7) bytes, and the last
 * one may only fill the bits that are left (for 32 bits: 4 of its 7). */
static uint64_t read_uvarint(struct wire_reader *r, unsigned bits)
{
	unsigned max_bytes = (bits + 6) / 7;
	uint64_t v = 0;
	/* Most varints of a record fit one or two bytes (lengths up to
	 * 8191, small deltas): no loop for those. */
	if (!r->err && r->len - r->pos >= 2) {
		const uint8_t *p = r->p + r->pos;
		if (p[0] < 0x80) {
			r->pos += 1;
			return p[0];
		}
		if (p[1] < 0x80) {
			r->pos += 2;
			return (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
		}
	}
	for (unsigned i = 0; i < max_bytes; i++) {
		const uint8_t *p = take(r, 1);
		if (!p)
			return 0;
		uint64_t group = p[0] & 0x7f;
		if (7 * i + 7 > bits && group >> (bits - 7 * i) != 0)
			break; /* the value does not fit */
		v |= group << (7 * i);
		if (!(p[0] & 0x80))
			return v;
	}
	r->err = true;
	return 0;
}

uint32_t wire_read_uvarint(struct wire_reader *r)
{
	return (uint32_t)read_uvarint(r, 32);
}

/* Zigzag maps 0, -1, 1, -2 ... to 0, 1, 2, 3 ... so small negative
 * numbers stay short (protobuf's sint32): the low bit is the sign. */
int32_t wire_read_varint(struct wire_reader *r)
{
	uint32_t z = (uint32_t)read_uvarint(r, 32);
	return (int32_t)((z >> 1) ^ (0u - (z & 1u)));
}

int64_t wire_read_varlong(struct wire_reader *r)
{
	uint64_t z = read_uvarint(r, 64);
	return (int64_t)((z >> 1) ^ (0u - (z & 1u)));
}

/* ---- Reading strings, bytes and arrays ---- */

/* A length-prefixed run of bytes, as a view. Classic strings carry an
 * int16 length, classic bytes an int32; compact forms a uvarint N + 1.
 * INVARIANT 3: the length is checked against the bytes left by take(). */
static struct wire_bytes read_blob(struct wire_reader *r, bool is_string,
				   bool nullable)
{
	static const uint8_t empty[1];
	struct wire_bytes b = {empty, 0};
	int64_t len = r->flexible ? (int64_t)read_uvarint(r, 32) - 1
		      : is_string ? wire_read_i16(r)
				  : wire_read_i32(r);
	/* KAFKA: compact strings longer than Short.MAX_VALUE are rejected
	 * too, though their prefix could say more. */
	int64_t max = is_string ? WIRE_STRING_MAX : INT32_MAX;
	if (r->err)
		return b;
	if (len == -1 && nullable)
		return (struct wire_bytes){NULL, -1};
	if (len < 0 || len > max) {
		r->err = true; /* null where not allowed, or a bad length */
		return b;
	}
	const uint8_t *p = take(r, (size_t)len);
	if (p)
		b = (struct wire_bytes){p, (int32_t)len};
	return b;
}

struct wire_str wire_read_string(struct wire_reader *r)
{
	struct wire_bytes b = read_blob(r, true, false);
	return (struct wire_str){(const char *)b.p, b.len};
}

struct wire_str wire_read_nullable_string(struct wire_reader *r)
{
	struct wire_bytes b = read_blob(r, true, true);
	return (struct wire_str){(const char *)b.p, b.len};
}

struct wire_bytes wire_read_bytes(struct wire_reader *r)
{
	return read_blob(r, false, false);
}

struct wire_bytes wire_read_nullable_bytes(struct wire_reader *r)
{
	return read_blob(r, false, true);
}

/* An array count: int32 classic, uvarint N + 1 compact. INVARIANT 3: a
 * count the bytes left cannot hold is rejected here, so the caller may
 * allocate count elements without trusting the peer. */
static int32_t read_count(struct wire_reader *r, size_t min_elem_size,
			  bool nullable)
{
	int64_t n = r->flexible ? (int64_t)read_uvarint(r, 32) - 1
				: wire_read_i32(r);
	size_t min = min_elem_size ? min_elem_size : 1;
	if (r->err)
		return 0;
	if (n == -1 && nullable)
		return -1;
	if (n < 0 || n > INT32_MAX || (uint64_t)n > wire_remaining(r) / min) {
		r->err = true;
		return 0;
	}
	return (int32_t)n;
}

int32_t wire_read_array_len(struct wire_reader *r, size_t min_elem_size)
{
	return read_count(r, min_elem_size, false);
}

int32_t wire_read_nullable_array_len(struct wire_reader *r,
				     size_t min_elem_size)
{
	return read_count(r, min_elem_size, true);
}

/* ---- Tagged fields (KIP-482) ---- */

void wire_read_tags(struct wire_reader *r)
{
	if (r->flexible)
		skip_tag_section(r);
}

/* uvarint count, then per field: uvarint tag, uvarint size, size bytes.
 * Unknown tags are what makes a flexible message extensible: old readers
 * skip what they do not know. Bounded like arrays (INVARIANT 3). */
static void skip_tag_section(struct wire_reader *r)
{
	uint32_t n = wire_read_uvarint(r);
	if (n > wire_remaining(r) / TAG_MIN_SIZE) {
		r->err = true;
		return;
	}
	for (uint32_t i = 0; i < n && !r->err; i++) {
		(void)wire_read_uvarint(r); /* the tag: none is ours */
		uint32_t size = wire_read_uvarint(r);
		(void)take(r, size);
	}
}

/* ---- Writing ---- */

void wire_writer_init(struct wire_writer *w, struct kb_buf *buf,
		      bool flexible)
{
	w->buf = buf;
	w->flexible = flexible;
	w->err = KB_OK;
}

int wire_writer_status(const struct wire_writer *w)
{
	return w->err;
}

/* Every write goes through put(): INVARIANT 2, the first failure stops
 * all later writes, so a half-written message is never mistaken for one. */
static void put(struct wire_writer *w, const void *p, size_t n)
{
	if (w->err != KB_OK)
		return;
	int rc = kb_buf_append(w->buf, p, n);
	if (rc != KB_OK)
		w->err = rc;
}

static void set_err(struct wire_writer *w, int err)
{
	if (w->err == KB_OK)
		w->err = err;
}

/* n bytes of v, most significant first. */
static void put_be(struct wire_writer *w, uint64_t v, size_t n)
{
	uint8_t b[8];
	for (size_t i = n; i-- > 0; v >>= 8)
		b[i] = (uint8_t)v;
	put(w, b, n);
}

void wire_write_i8(struct wire_writer *w, int8_t v)
{
	put_be(w, (uint8_t)v, 1);
}

void wire_write_bool(struct wire_writer *w, bool v)
{
	put_be(w, v ? 1 : 0, 1);
}

void wire_write_i16(struct wire_writer *w, int16_t v)
{
	put_be(w, (uint16_t)v, 2);
}

void wire_write_u16(struct wire_writer *w, uint16_t v)
{
	put_be(w, v, 2);
}

void wire_write_i32(struct wire_writer *w, int32_t v)
{
	put_be(w, (uint32_t)v, 4);
}

void wire_write_u32(struct wire_writer *w, uint32_t v)
{
	put_be(w, v, 4);
}

void wire_write_i64(struct wire_writer *w, int64_t v)
{
	put_be(w, (uint64_t)v, 8);
}

void wire_write_f64(struct wire_writer *w, double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof bits);
	put_be(w, bits, 8);
}

void wire_write_uuid(struct wire_writer *w, struct wire_uuid v)
{
	put(w, v.b, WIRE_UUID_LEN);
}

void wire_write_uvarint(struct wire_writer *w, uint32_t v)
{
	uint8_t b[WIRE_VARINT_MAX_BYTES];
	put(w, b, uvarint_encode(b, v));
}

void wire_write_varint(struct wire_writer *w, int32_t v)
{
	wire_write_uvarint(w, zigzag32(v));
}

void wire_write_varlong(struct wire_writer *w, int64_t v)
{
	uint8_t b[WIRE_VARLONG_MAX_BYTES];
	put(w, b, uvarint_encode(b, zigzag64(v)));
}

void wire_write_raw(struct wire_writer *w, const void *p, size_t n)
{
	put(w, p, n);
}

/* A length prefix in this message's form; negative lengths mean null. */
static void put_len(struct wire_writer *w, int32_t len, bool is_string)
{
	if (len < 0)
		len = -1;
	if (w->flexible)
		wire_write_uvarint(w, (uint32_t)((int64_t)len + 1));
	else if (is_string)
		wire_write_i16(w, (int16_t)len);
	else
		wire_write_i32(w, len);
}

void wire_write_string(struct wire_writer *w, struct wire_str s)
{
	if (s.len > WIRE_STRING_MAX) {
		set_err(w, KB_ERR_TOO_LARGE);
		return;
	}
	put_len(w, s.len, true);
	if (s.len > 0)
		put(w, s.p, (size_t)s.len);
}

void wire_write_bytes(struct wire_writer *w, struct wire_bytes b)
{
	put_len(w, b.len, false);
	if (b.len > 0)
		put(w, b.p, (size_t)b.len);
}

void wire_write_array_len(struct wire_writer *w, int32_t n)
{
	put_len(w, n, false);
}

/* INVARIANT 6: an empty section is one byte, a count of zero. */
void wire_write_tags(struct wire_writer *w)
{
	if (w->flexible)
		wire_write_i8(w, 0);
}

/* ---- Sizes written after the fact ---- */

size_t wire_reserve_i32(struct wire_writer *w)
{
	size_t pos = w->buf->len;
	wire_write_i32(w, 0);
	return pos;
}

void wire_patch_i32(struct wire_writer *w, size_t pos, int32_t v)
{
	if (w->err != KB_OK)
		return;
	assert(pos + 4 <= w->buf->len); /* pos came from wire_reserve_i32 */
	kb_put_be32(w->buf->data + pos, (uint32_t)v);
}

/* A frame's size counts the bytes after the size field itself. */
void wire_patch_size(struct wire_writer *w, size_t pos)
{
	if (w->err != KB_OK)
		return;
	size_t n = w->buf->len - pos - WIRE_SIZE_PREFIX;
	if (n > INT32_MAX) {
		set_err(w, KB_ERR_TOO_LARGE);
		return;
	}
	wire_patch_i32(w, pos, (int32_t)n);
}

size_t wire_write_array_begin(struct wire_writer *w)
{
	return w->flexible ? w->buf->len : wire_reserve_i32(w);
}

/* A classic count has a fixed width and is patched in place. A compact
 * count's width depends on its value, so a gap that wide is opened at pos
 * by moving the elements up. */
void wire_write_array_end(struct wire_writer *w, size_t pos, int32_t count)
{
	if (!w->flexible) {
		wire_patch_i32(w, pos, count);
		return;
	}
	uint8_t b[WIRE_VARINT_MAX_BYTES];
	size_t n = uvarint_encode(b, (uint64_t)count + 1);
	if (w->err != KB_OK)
		return;
	int rc = kb_buf_reserve(w->buf, n);
	if (rc != KB_OK) {
		set_err(w, rc);
		return;
	}
	uint8_t *at = w->buf->data + pos;
	memmove(at + n, at, w->buf->len - pos);
	memcpy(at, b, n);
	w->buf->len += n;
}

/* ---- API keys and header versions ---- */

/* KAFKA: the "flexibleVersions" of messages/<Name>Request.json; a
 * response is flexible exactly when its request is. */
static const struct api_info apis[WIRE_API_COUNT] = {
	[WIRE_API_PRODUCE] = {"Produce", 9},
	[WIRE_API_FETCH] = {"Fetch", 12},
	[WIRE_API_LIST_OFFSETS] = {"ListOffsets", 6},
	[WIRE_API_METADATA] = {"Metadata", 9},
	[WIRE_API_LEADER_AND_ISR] = {"LeaderAndIsr", 4},
	[WIRE_API_STOP_REPLICA] = {"StopReplica", 2},
	[WIRE_API_UPDATE_METADATA] = {"UpdateMetadata", 6},
	[WIRE_API_CONTROLLED_SHUTDOWN] = {"ControlledShutdown", 3},
	[WIRE_API_OFFSET_COMMIT] = {"OffsetCommit", 8},
	[WIRE_API_OFFSET_FETCH] = {"OffsetFetch", 6},
	[WIRE_API_FIND_COORDINATOR] = {"FindCoordinator", 3},
	[WIRE_API_JOIN_GROUP] = {"JoinGroup", 6},
	[WIRE_API_HEARTBEAT] = {"Heartbeat", 4},
	[WIRE_API_LEAVE_GROUP] = {"LeaveGroup", 4},
	[WIRE_API_SYNC_GROUP] = {"SyncGroup", 4},
	[WIRE_API_DESCRIBE_GROUPS] = {"DescribeGroups", 5},
	[WIRE_API_LIST_GROUPS] = {"ListGroups", 3},
	[WIRE_API_SASL_HANDSHAKE] = {"SaslHandshake", -1},
	[WIRE_API_API_VERSIONS] = {"ApiVersions", 3},
	[WIRE_API_CREATE_TOPICS] = {"CreateTopics", 5},
	[WIRE_API_DELETE_TOPICS] = {"DeleteTopics", 4},
	[WIRE_API_DELETE_RECORDS] = {"DeleteRecords", 2},
	[WIRE_API_INIT_PRODUCER_ID] = {"InitProducerId", 2},
	[WIRE_API_OFFSET_FOR_LEADER_EPOCH] = {"OffsetForLeaderEpoch", 4},
	[WIRE_API_ADD_PARTITIONS_TO_TXN] = {"AddPartitionsToTxn", 3},
	[WIRE_API_ADD_OFFSETS_TO_TXN] = {"AddOffsetsToTxn", 3},
	[WIRE_API_END_TXN] = {"EndTxn", 3},
	[WIRE_API_WRITE_TXN_MARKERS] = {"WriteTxnMarkers", 1},
	[WIRE_API_TXN_OFFSET_COMMIT] = {"TxnOffsetCommit", 3},
	[WIRE_API_DESCRIBE_ACLS] = {"DescribeAcls", 2},
	[WIRE_API_CREATE_ACLS] = {"CreateAcls", 2},
	[WIRE_API_DELETE_ACLS] = {"DeleteAcls", 2},
	[WIRE_API_DESCRIBE_CONFIGS] = {"DescribeConfigs", 4},
	[WIRE_API_ALTER_CONFIGS] = {"AlterConfigs", 2},
	[WIRE_API_ALTER_REPLICA_LOG_DIRS] = {"AlterReplicaLogDirs", 2},
	[WIRE_API_DESCRIBE_LOG_DIRS] = {"DescribeLogDirs", 2},
	[WIRE_API_SASL_AUTHENTICATE] = {"SaslAuthenticate", 2},
	[WIRE_API_CREATE_PARTITIONS] = {"CreatePartitions", 2},
	[WIRE_API_CREATE_DELEGATION_TOKEN] = {"CreateDelegationToken", 2},
	[WIRE_API_RENEW_DELEGATION_TOKEN] = {"RenewDelegationToken", 2},
	[WIRE_API_EXPIRE_DELEGATION_TOKEN] = {"ExpireDelegationToken", 2},
	[WIRE_API_DESCRIBE_DELEGATION_TOKEN] = {"DescribeDelegationToken", 2},
	[WIRE_API_DELETE_GROUPS] = {"DeleteGroups", 2},
	[WIRE_API_ELECT_LEADERS] = {"ElectLeaders", 2},
	[WIRE_API_INCREMENTAL_ALTER_CONFIGS] = {"IncrementalAlterConfigs", 1},
	[WIRE_API_ALTER_PARTITION_REASSIGNMENTS] = {"AlterPartitionReassignments", 0},
	[WIRE_API_LIST_PARTITION_REASSIGNMENTS] = {"ListPartitionReassignments", 0},
	[WIRE_API_OFFSET_DELETE] = {"OffsetDelete", -1},
	[WIRE_API_DESCRIBE_CLIENT_QUOTAS] = {"DescribeClientQuotas", 1},
	[WIRE_API_ALTER_CLIENT_QUOTAS] = {"AlterClientQuotas", 1},
	[WIRE_API_DESCRIBE_USER_SCRAM_CREDENTIALS] =
		{"DescribeUserScramCredentials", 0},
	[WIRE_API_ALTER_USER_SCRAM_CREDENTIALS] = {"AlterUserScramCredentials", 0},
	[WIRE_API_VOTE] = {"Vote", 0},
	[WIRE_API_BEGIN_QUORUM_EPOCH] = {"BeginQuorumEpoch", 1},
	[WIRE_API_END_QUORUM_EPOCH] = {"EndQuorumEpoch", 1},
	[WIRE_API_DESCRIBE_QUORUM] = {"DescribeQuorum", 0},
	[WIRE_API_ALTER_PARTITION] = {"AlterPartition", 0},
	[WIRE_API_UPDATE_FEATURES] = {"UpdateFeatures", 0},
	[WIRE_API_ENVELOPE] = {"Envelope", 0},
	[WIRE_API_FETCH_SNAPSHOT] = {"FetchSnapshot", 0},
	[WIRE_API_DESCRIBE_CLUSTER] = {"DescribeCluster", 0},
	[WIRE_API_DESCRIBE_PRODUCERS] = {"DescribeProducers", 0},
	[WIRE_API_BROKER_REGISTRATION] = {"BrokerRegistration", 0},
	[WIRE_API_BROKER_HEARTBEAT] = {"BrokerHeartbeat", 0},
	[WIRE_API_UNREGISTER_BROKER] = {"UnregisterBroker", 0},
	[WIRE_API_DESCRIBE_TRANSACTIONS] = {"DescribeTransactions", 0},
	[WIRE_API_LIST_TRANSACTIONS] = {"ListTransactions", 0},
	[WIRE_API_ALLOCATE_PRODUCER_IDS] = {"AllocateProducerIds", 0},
	[WIRE_API_CONSUMER_GROUP_HEARTBEAT] = {"ConsumerGroupHeartbeat", 0},
	[WIRE_API_CONSUMER_GROUP_DESCRIBE] = {"ConsumerGroupDescribe", 0},
	[WIRE_API_CONTROLLER_REGISTRATION] = {"ControllerRegistration", 0},
	[WIRE_API_GET_TELEMETRY_SUBSCRIPTIONS] = {"GetTelemetrySubscriptions", 0},
	[WIRE_API_PUSH_TELEMETRY] = {"PushTelemetry", 0},
	[WIRE_API_ASSIGN_REPLICAS_TO_DIRS] = {"AssignReplicasToDirs", 0},
	[WIRE_API_LIST_CLIENT_METRICS_RESOURCES] = {"ListClientMetricsResources", 0},
	[WIRE_API_DESCRIBE_TOPIC_PARTITIONS] = {"DescribeTopicPartitions", 0},
	[WIRE_API_SHARE_GROUP_HEARTBEAT] = {"ShareGroupHeartbeat", 0},
	[WIRE_API_SHARE_GROUP_DESCRIBE] = {"ShareGroupDescribe", 0},
	[WIRE_API_SHARE_FETCH] = {"ShareFetch", 0},
	[WIRE_API_SHARE_ACKNOWLEDGE] = {"ShareAcknowledge", 0},
	[WIRE_API_ADD_RAFT_VOTER] = {"AddRaftVoter", 0},
	[WIRE_API_REMOVE_RAFT_VOTER] = {"RemoveRaftVoter", 0},
	[WIRE_API_UPDATE_RAFT_VOTER] = {"UpdateRaftVoter", 0},
	[WIRE_API_INITIALIZE_SHARE_GROUP_STATE] = {"InitializeShareGroupState", 0},
	[WIRE_API_READ_SHARE_GROUP_STATE] = {"ReadShareGroupState", 0},
	[WIRE_API_WRITE_SHARE_GROUP_STATE] = {"WriteShareGroupState", 0},
	[WIRE_API_DELETE_SHARE_GROUP_STATE] = {"DeleteShareGroupState", 0},
	[WIRE_API_READ_SHARE_GROUP_STATE_SUMMARY] = {"ReadShareGroupStateSummary", 0},
};

static const struct api_info *api_lookup(int16_t api_key)
{
	if (api_key < 0 || api_key >= WIRE_API_COUNT || !apis[api_key].name)
		return NULL;
	return &apis[api_key];
}

const char *wire_api_name(int16_t api_key)
{
	const struct api_info *a = api_lookup(api_key);
	return a ? a->name : NULL;
}

bool wire_is_flexible(int16_t api_key, int16_t api_version)
{
	const struct api_info *a = api_lookup(api_key);
	return a && a->flexible_from >= 0 && api_version >= a->flexible_from;
}

int wire_request_header_version(int16_t api_key, int16_t api_version)
{
	if (!api_lookup(api_key))
		return -1;
	/* KAFKA: ControlledShutdown v0 predates client_id (header v0). */
	if (api_key == WIRE_API_CONTROLLED_SHUTDOWN && api_version == 0)
		return 0;
	return wire_is_flexible(api_key, api_version) ? WIRE_REQUEST_HEADER_V2
						       : 1;
}

int wire_response_header_version(int16_t api_key, int16_t api_version)
{
	if (!api_lookup(api_key))
		return -1;
	/* KAFKA: a client asks ApiVersions before it knows what the broker
	 * speaks, so that response keeps header v0 at every version and the
	 * client can always find its correlation id (ApiVersionsResponse.json). */
	if (api_key == WIRE_API_API_VERSIONS)
		return 0;
	return wire_is_flexible(api_key, api_version) ? WIRE_RESPONSE_HEADER_V1
						       : 0;
}

/* ---- Request and response headers ---- */

/* api_key, api_version and correlation_id open every header version, so
 * they are read before the version is known; the rest depends on it. */
int wire_read_request_header(struct wire_reader *r,
			     struct wire_request_header *h)
{
	h->api_key = wire_read_i16(r);
	h->api_version = wire_read_i16(r);
	h->correlation_id = wire_read_i32(r);
	h->client_id = (struct wire_str){NULL, -1};
	int version = wire_request_header_version(h->api_key, h->api_version);
	h->header_version = (int8_t)version;
	if (version < 0)
		r->err = true; /* KAFKA: unknown API key, connection closed */
	if (r->err)
		return KB_ERR_PROTO;
	if (version >= 1)
		h->client_id = read_classic_nullable_string(r);
	if (version >= WIRE_REQUEST_HEADER_V2)
		skip_tag_section(r);
	r->flexible = wire_is_flexible(h->api_key, h->api_version);
	return wire_reader_status(r);
}

/* KAFKA: client_id keeps its int16 length even in the flexible header
 * v2, so a broker of any age can read the header of any ApiVersions
 * request (the comment in RequestHeader.json). */
static struct wire_str read_classic_nullable_string(struct wire_reader *r)
{
	bool flexible = r->flexible;
	r->flexible = false;
	struct wire_str s = wire_read_nullable_string(r);
	r->flexible = flexible;
	return s;
}

void wire_write_request_header(struct wire_writer *w,
			       const struct wire_request_header *h)
{
	int version = wire_request_header_version(h->api_key, h->api_version);
	if (version < 0) {
		set_err(w, KB_ERR_INVAL);
		return;
	}
	wire_write_i16(w, h->api_key);
	wire_write_i16(w, h->api_version);
	wire_write_i32(w, h->correlation_id);
	w->flexible = false; /* client_id: always the classic form */
	if (version >= 1)
		wire_write_string(w, h->client_id);
	if (version >= WIRE_REQUEST_HEADER_V2)
		wire_write_i8(w, 0); /* INVARIANT 6: empty tag section */
	w->flexible = wire_is_flexible(h->api_key, h->api_version);
}

void wire_write_response_header(struct wire_writer *w,
				const struct wire_request_header *req)
{
	wire_write_i32(w, req->correlation_id);
	if (wire_response_header_version(req->api_key, req->api_version) ==
	    WIRE_RESPONSE_HEADER_V1)
		wire_write_i8(w, 0); /* INVARIANT 6 */
	w->flexible = wire_is_flexible(req->api_key, req->api_version);
}

int wire_read_response_header(struct wire_reader *r,
			      const struct wire_request_header *req,
			      int32_t *correlation_id)
{
	int version = wire_response_header_version(req->api_key,
						   req->api_version);
	*correlation_id = wire_read_i32(r);
	if (version < 0)
		r->err = true;
	if (version == WIRE_RESPONSE_HEADER_V1)
		skip_tag_section(r);
	r->flexible = wire_is_flexible(req->api_key, req->api_version);
	return wire_reader_status(r);
}

/* ---- Small helpers ---- */

bool wire_str_eq(struct wire_str s, const char *c)
{
	size_t n = strlen(c);
	return s.len >= 0 && (size_t)s.len == n && memcmp(s.p, c, n) == 0;
}

int wire_str_dup(struct wire_str s, char **out)
{
	*out = NULL;
	if (s.len < 0)
		return KB_OK;
	char *c = malloc((size_t)s.len + 1);
	if (!c)
		return KB_ERR_NOMEM;
	memcpy(c, s.p, (size_t)s.len);
	c[s.len] = '\0';
	*out = c;
	return KB_OK;
}

/* Seven bits per byte, low group first, top bit set on all but the last. */
static size_t uvarint_encode(uint8_t *out, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

/* (v << 1) ^ (v >> 31), in unsigned arithmetic so no shift is undefined. */
static uint32_t zigzag32(int32_t v)
{
	uint32_t u = (uint32_t)v;
	return (u << 1) ^ (0u - (u >> 31));
}

static uint64_t zigzag64(int64_t v)
{
	uint64_t u = (uint64_t)v;
	return (u << 1) ^ (0u - (u >> 63));
}
