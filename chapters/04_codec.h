/* SPDX-License-Identifier: MIT */
/*
 * Chapter 04 — codec: Kafka's wire primitives, request and response
 * headers, flexible versions, and the records inside a record batch v2.
 * The only surface later chapters may use; the lesson is in 04_codec.c.
 *
 * Decoding is pure: no globals, nothing allocated, so a fuzzer can drive
 * every wire_read_* function on arbitrary bytes.
 */
#ifndef SAMSA_CODEC_H
#define SAMSA_CODEC_H

#include <string.h>

#include "00_base.h"
#include "01_segment.h"

/* ---- Sizes and limits ---- */

/* int32 size before every request and response: the bytes after it. */
#define WIRE_SIZE_PREFIX 4
#define WIRE_UUID_LEN 16          /* KAFKA: type "uuid", 16 raw bytes */
#define WIRE_VARINT_MAX_BYTES 5   /* 32 bits in 7-bit groups: ceil(32 / 7) */
#define WIRE_VARLONG_MAX_BYTES 10 /* 64 bits in 7-bit groups: ceil(64 / 7) */
#define WIRE_STRING_MAX 32767     /* KAFKA: Short.MAX_VALUE bytes at most */
/* Smallest record in a batch: length, attributes, timestampDelta,
 * offsetDelta, keyLength, valueLength, headerCount: one byte each. */
#define WIRE_RECORD_MIN_SIZE 7
/* The header versions that end in a tag section: KAFKA: request header v2
 * and response header v1, from each API's first flexible version on. */
#define WIRE_REQUEST_HEADER_V2 2
#define WIRE_RESPONSE_HEADER_V1 1

/* ---- Views into a buffer ---- */

/* A string read from the wire: a view, not a NUL-terminated copy.
 * len == -1 is null. Valid until the buffer it was read from is freed. */
struct wire_str {
	const char *p; /* borrowed: from the request buffer */
	int32_t len;
};

/* A byte string read from the wire; same rules as struct wire_str. */
struct wire_bytes {
	const uint8_t *p; /* borrowed: from the request buffer */
	int32_t len;
};

/* KAFKA: type "uuid" (topic ids): 16 bytes, most significant first. */
struct wire_uuid {
	uint8_t b[WIRE_UUID_LEN];
};

/* A view of a C string (NULL gives the null string). borrows: s. */
static inline struct wire_str wire_str_c(const char *s)
{
	struct wire_str v = {s, s ? (int32_t)strlen(s) : -1};
	return v;
}

/* True when s is not null and holds exactly the characters of c. */
bool wire_str_eq(struct wire_str s, const char *c);
/* returns owned *out (free()): s NUL-terminated, NULL for null. */
int wire_str_dup(struct wire_str s, char **out);

/* ---- Reader ---- */

/* A bounded cursor over bytes that came from a peer. Every read checks
 * the bytes left first. The first failure sets err and it stays set: later
 * reads return zero values (0, "", null, empty arrays), so a decoder reads
 * a whole message and checks wire_reader_status once at the end.
 * flexible selects the compact forms of string, bytes and array and turns
 * on tagged-field sections (KIP-482). */
struct wire_reader {
	const uint8_t *p; /* borrowed: the message, valid while reading */
	size_t len;       /* bytes at p */
	size_t pos;       /* next byte to read; pos <= len */
	bool flexible;    /* this message version is flexible */
	bool err;         /* sticky: a read failed */
};

/* Start reading len bytes at p. borrows: p, for the reader and its views. */
void wire_reader_init(struct wire_reader *r, const void *p, size_t len,
		      bool flexible);
/* Bytes not read yet (0 after an error). */
size_t wire_remaining(const struct wire_reader *r);
/* KB_OK, or KB_ERR_PROTO if any read so far failed. */
int wire_reader_status(const struct wire_reader *r);

/* Fixed-width big-endian integers (KAFKA: int8..int64, uint16, uint32). */
int8_t wire_read_i8(struct wire_reader *r);
bool wire_read_bool(struct wire_reader *r); /* any non-zero byte is true */
int16_t wire_read_i16(struct wire_reader *r);
uint16_t wire_read_u16(struct wire_reader *r);
int32_t wire_read_i32(struct wire_reader *r);
uint32_t wire_read_u32(struct wire_reader *r);
int64_t wire_read_i64(struct wire_reader *r);
double wire_read_f64(struct wire_reader *r); /* IEEE 754 bits, big-endian */
struct wire_uuid wire_read_uuid(struct wire_reader *r);
/* A view of the next n bytes, or NULL (sticky error) if fewer are left. */
const uint8_t *wire_read_raw(struct wire_reader *r, size_t n);

/* Zigzag varint/varlong (records), plain uvarint (compact lengths, tags). */
int32_t wire_read_varint(struct wire_reader *r);
int64_t wire_read_varlong(struct wire_reader *r);
uint32_t wire_read_uvarint(struct wire_reader *r);

/* KAFKA: "string" / compact; only nullable forms accept null (len -1). */
struct wire_str wire_read_string(struct wire_reader *r);
struct wire_str wire_read_nullable_string(struct wire_reader *r);
/* KAFKA: "bytes" / compact bytes; the same rules. */
struct wire_bytes wire_read_bytes(struct wire_reader *r);
struct wire_bytes wire_read_nullable_bytes(struct wire_reader *r);

/* An array count, checked to fit at min_elem_size bytes each (null: -1). */
int32_t wire_read_array_len(struct wire_reader *r, size_t min_elem_size);
int32_t wire_read_nullable_array_len(struct wire_reader *r,
				     size_t min_elem_size);

/* Skip a tagged-field section (flexible only), each size checked. */
void wire_read_tags(struct wire_reader *r);

/* ---- Writer ---- */

/* Appends to a caller's buffer. The first failure is kept in err (sticky):
 * KB_ERR_NOMEM, KB_ERR_TOO_LARGE (a string over 32767 bytes) or
 * KB_ERR_INVAL; later writes do nothing. flexible as for the reader. */
struct wire_writer {
	struct kb_buf *buf; /* borrowed: the caller's output buffer */
	bool flexible;      /* this message version is flexible */
	int err;            /* sticky: KB_OK or the first failure */
};

/* Start appending to buf (what it holds stays). borrows: buf. */
void wire_writer_init(struct wire_writer *w, struct kb_buf *buf,
		      bool flexible);
/* KB_OK, or the first failure of any write so far. */
int wire_writer_status(const struct wire_writer *w);

void wire_write_i8(struct wire_writer *w, int8_t v);
void wire_write_bool(struct wire_writer *w, bool v);
void wire_write_i16(struct wire_writer *w, int16_t v);
void wire_write_u16(struct wire_writer *w, uint16_t v);
void wire_write_i32(struct wire_writer *w, int32_t v);
void wire_write_u32(struct wire_writer *w, uint32_t v);
void wire_write_i64(struct wire_writer *w, int64_t v);
void wire_write_f64(struct wire_writer *w, double v);
void wire_write_uuid(struct wire_writer *w, struct wire_uuid v);
void wire_write_varint(struct wire_writer *w, int32_t v);
void wire_write_varlong(struct wire_writer *w, int64_t v);
void wire_write_uvarint(struct wire_writer *w, uint32_t v);
/* Append n raw bytes (a record batch, a pre-encoded blob). */
void wire_write_raw(struct wire_writer *w, const void *p, size_t n);

/* String or bytes in this message's form; len -1: null (nullable only). */
void wire_write_string(struct wire_writer *w, struct wire_str s);
void wire_write_bytes(struct wire_writer *w, struct wire_bytes b);
/* An array count known up front; -1 writes a null array. */
void wire_write_array_len(struct wire_writer *w, int32_t n);
/* An empty tagged-field section (0x00) when flexible; nothing otherwise. */
void wire_write_tags(struct wire_writer *w);

/* Reserve 4 zero bytes; returns their position for wire_patch_i32. */
size_t wire_reserve_i32(struct wire_writer *w);
/* Overwrite the int32 at pos (from wire_reserve_i32). */
void wire_patch_i32(struct wire_writer *w, size_t pos, int32_t v);
/* Fill the size prefix at pos with the bytes written after it (frames). */
void wire_patch_size(struct wire_writer *w, size_t pos);
/* An array counted after its elements (flexible: a memmove of them). */
size_t wire_write_array_begin(struct wire_writer *w);
void wire_write_array_end(struct wire_writer *w, size_t pos, int32_t count);

/* ---- API keys, versions and headers ---- */

/* KAFKA: every "apiKey" in messages/<Name>Request.json (ApiKeys.java). */
enum wire_api_key {
	WIRE_API_PRODUCE = 0,
	WIRE_API_FETCH = 1,
	WIRE_API_LIST_OFFSETS = 2,
	WIRE_API_METADATA = 3,
	WIRE_API_LEADER_AND_ISR = 4,
	WIRE_API_STOP_REPLICA = 5,
	WIRE_API_UPDATE_METADATA = 6,
	WIRE_API_CONTROLLED_SHUTDOWN = 7,
	WIRE_API_OFFSET_COMMIT = 8,
	WIRE_API_OFFSET_FETCH = 9,
	WIRE_API_FIND_COORDINATOR = 10,
	WIRE_API_JOIN_GROUP = 11,
	WIRE_API_HEARTBEAT = 12,
	WIRE_API_LEAVE_GROUP = 13,
	WIRE_API_SYNC_GROUP = 14,
	WIRE_API_DESCRIBE_GROUPS = 15,
	WIRE_API_LIST_GROUPS = 16,
	WIRE_API_SASL_HANDSHAKE = 17,
	WIRE_API_API_VERSIONS = 18,
	WIRE_API_CREATE_TOPICS = 19,
	WIRE_API_DELETE_TOPICS = 20,
	WIRE_API_DELETE_RECORDS = 21,
	WIRE_API_INIT_PRODUCER_ID = 22,
	WIRE_API_OFFSET_FOR_LEADER_EPOCH = 23,
	WIRE_API_ADD_PARTITIONS_TO_TXN = 24,
	WIRE_API_ADD_OFFSETS_TO_TXN = 25,
	WIRE_API_END_TXN = 26,
	WIRE_API_WRITE_TXN_MARKERS = 27,
	WIRE_API_TXN_OFFSET_COMMIT = 28,
	WIRE_API_DESCRIBE_ACLS = 29,
	WIRE_API_CREATE_ACLS = 30,
	WIRE_API_DELETE_ACLS = 31,
	WIRE_API_DESCRIBE_CONFIGS = 32,
	WIRE_API_ALTER_CONFIGS = 33,
	WIRE_API_ALTER_REPLICA_LOG_DIRS = 34,
	WIRE_API_DESCRIBE_LOG_DIRS = 35,
	WIRE_API_SASL_AUTHENTICATE = 36,
	WIRE_API_CREATE_PARTITIONS = 37,
	WIRE_API_CREATE_DELEGATION_TOKEN = 38,
	WIRE_API_RENEW_DELEGATION_TOKEN = 39,
	WIRE_API_EXPIRE_DELEGATION_TOKEN = 40,
	WIRE_API_DESCRIBE_DELEGATION_TOKEN = 41,
	WIRE_API_DELETE_GROUPS = 42,
	WIRE_API_ELECT_LEADERS = 43,
	WIRE_API_INCREMENTAL_ALTER_CONFIGS = 44,
	WIRE_API_ALTER_PARTITION_REASSIGNMENTS = 45,
	WIRE_API_LIST_PARTITION_REASSIGNMENTS = 46,
	WIRE_API_OFFSET_DELETE = 47,
	WIRE_API_DESCRIBE_CLIENT_QUOTAS = 48,
	WIRE_API_ALTER_CLIENT_QUOTAS = 49,
	WIRE_API_DESCRIBE_USER_SCRAM_CREDENTIALS = 50,
	WIRE_API_ALTER_USER_SCRAM_CREDENTIALS = 51,
	WIRE_API_VOTE = 52,
	WIRE_API_BEGIN_QUORUM_EPOCH = 53,
	WIRE_API_END_QUORUM_EPOCH = 54,
	WIRE_API_DESCRIBE_QUORUM = 55,
	WIRE_API_ALTER_PARTITION = 56,
	WIRE_API_UPDATE_FEATURES = 57,
	WIRE_API_ENVELOPE = 58,
	WIRE_API_FETCH_SNAPSHOT = 59,
	WIRE_API_DESCRIBE_CLUSTER = 60,
	WIRE_API_DESCRIBE_PRODUCERS = 61,
	WIRE_API_BROKER_REGISTRATION = 62,
	WIRE_API_BROKER_HEARTBEAT = 63,
	WIRE_API_UNREGISTER_BROKER = 64,
	WIRE_API_DESCRIBE_TRANSACTIONS = 65,
	WIRE_API_LIST_TRANSACTIONS = 66,
	WIRE_API_ALLOCATE_PRODUCER_IDS = 67,
	WIRE_API_CONSUMER_GROUP_HEARTBEAT = 68,
	WIRE_API_CONSUMER_GROUP_DESCRIBE = 69,
	WIRE_API_CONTROLLER_REGISTRATION = 70,
	WIRE_API_GET_TELEMETRY_SUBSCRIPTIONS = 71,
	WIRE_API_PUSH_TELEMETRY = 72,
	WIRE_API_ASSIGN_REPLICAS_TO_DIRS = 73,
	WIRE_API_LIST_CLIENT_METRICS_RESOURCES = 74,
	WIRE_API_DESCRIBE_TOPIC_PARTITIONS = 75,
	WIRE_API_SHARE_GROUP_HEARTBEAT = 76,
	WIRE_API_SHARE_GROUP_DESCRIBE = 77,
	WIRE_API_SHARE_FETCH = 78,
	WIRE_API_SHARE_ACKNOWLEDGE = 79,
	WIRE_API_ADD_RAFT_VOTER = 80,
	WIRE_API_REMOVE_RAFT_VOTER = 81,
	WIRE_API_UPDATE_RAFT_VOTER = 82,
	WIRE_API_INITIALIZE_SHARE_GROUP_STATE = 83,
	WIRE_API_READ_SHARE_GROUP_STATE = 84,
	WIRE_API_WRITE_SHARE_GROUP_STATE = 85,
	WIRE_API_DELETE_SHARE_GROUP_STATE = 86,
	WIRE_API_READ_SHARE_GROUP_STATE_SUMMARY = 87,
	WIRE_API_COUNT /* one past the largest key */
};

/* The API's name as its JSON spec spells it ("ApiVersions"), or NULL. */
const char *wire_api_name(int16_t api_key);
/* Is this version of the API flexible (compact forms, tags)? */
bool wire_is_flexible(int16_t api_key, int16_t api_version);
/* Request header version: 2 flexible, 1 (0: ControlledShutdown v0), -1. */
int wire_request_header_version(int16_t api_key, int16_t api_version);
/* Response header version: 1 flexible, 0 (always for ApiVersions), -1. */
int wire_response_header_version(int16_t api_key, int16_t api_version);

/* A request header, decoded (KAFKA: RequestHeader.json). */
struct wire_request_header {
	int16_t api_key;
	int16_t api_version;
	int32_t correlation_id;   /* echoed in the response */
	struct wire_str client_id; /* view; valid until the request is freed */
	int8_t header_version;    /* 0, 1 or 2 */
};

/* Read a request header, set r->flexible for the body; KB_ERR_PROTO. */
int wire_read_request_header(struct wire_reader *r,
			     struct wire_request_header *h);
/* Write a request header for h's key and version; set w->flexible. */
void wire_write_request_header(struct wire_writer *w,
			       const struct wire_request_header *h);
/* Write the response header answering req; set w->flexible for the body. */
void wire_write_response_header(struct wire_writer *w,
				const struct wire_request_header *req);
/* Read the header of the response to req; sets r->flexible for the body. */
int wire_read_response_header(struct wire_reader *r,
			      const struct wire_request_header *req,
			      int32_t *correlation_id);

/* ---- Kafka error codes ---- */

/* KAFKA: Errors.java, code -1 to 127 (the range every client in CLIENTS.md
 * can decode). Data for responses only, never a return status. */
enum wire_error_code {
	KAFKA_ERR_UNKNOWN_SERVER_ERROR = -1,
	KAFKA_ERR_NONE = 0,
	KAFKA_ERR_OFFSET_OUT_OF_RANGE = 1,
	KAFKA_ERR_CORRUPT_MESSAGE = 2,
	KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
	KAFKA_ERR_INVALID_FETCH_SIZE = 4,
	KAFKA_ERR_LEADER_NOT_AVAILABLE = 5,
	KAFKA_ERR_NOT_LEADER_OR_FOLLOWER = 6,
	KAFKA_ERR_REQUEST_TIMED_OUT = 7,
	KAFKA_ERR_BROKER_NOT_AVAILABLE = 8,
	KAFKA_ERR_REPLICA_NOT_AVAILABLE = 9,
	KAFKA_ERR_MESSAGE_TOO_LARGE = 10,
	KAFKA_ERR_STALE_CONTROLLER_EPOCH = 11,
	KAFKA_ERR_OFFSET_METADATA_TOO_LARGE = 12,
	KAFKA_ERR_NETWORK_EXCEPTION = 13,
	KAFKA_ERR_COORDINATOR_LOAD_IN_PROGRESS = 14,
	KAFKA_ERR_COORDINATOR_NOT_AVAILABLE = 15,
	KAFKA_ERR_NOT_COORDINATOR = 16,
	KAFKA_ERR_INVALID_TOPIC_EXCEPTION = 17,
	KAFKA_ERR_RECORD_LIST_TOO_LARGE = 18,
	KAFKA_ERR_NOT_ENOUGH_REPLICAS = 19,
	KAFKA_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20,
	KAFKA_ERR_INVALID_REQUIRED_ACKS = 21,
	KAFKA_ERR_ILLEGAL_GENERATION = 22,
	KAFKA_ERR_INCONSISTENT_GROUP_PROTOCOL = 23,
	KAFKA_ERR_INVALID_GROUP_ID = 24,
	KAFKA_ERR_UNKNOWN_MEMBER_ID = 25,
	KAFKA_ERR_INVALID_SESSION_TIMEOUT = 26,
	KAFKA_ERR_REBALANCE_IN_PROGRESS = 27,
	KAFKA_ERR_INVALID_COMMIT_OFFSET_SIZE = 28,
	KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED = 29,
	KAFKA_ERR_GROUP_AUTHORIZATION_FAILED = 30,
	KAFKA_ERR_CLUSTER_AUTHORIZATION_FAILED = 31,
	KAFKA_ERR_INVALID_TIMESTAMP = 32,
	KAFKA_ERR_UNSUPPORTED_SASL_MECHANISM = 33,
	KAFKA_ERR_ILLEGAL_SASL_STATE = 34,
	KAFKA_ERR_UNSUPPORTED_VERSION = 35,
	KAFKA_ERR_TOPIC_ALREADY_EXISTS = 36,
	KAFKA_ERR_INVALID_PARTITIONS = 37,
	KAFKA_ERR_INVALID_REPLICATION_FACTOR = 38,
	KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT = 39,
	KAFKA_ERR_INVALID_CONFIG = 40,
	KAFKA_ERR_NOT_CONTROLLER = 41,
	KAFKA_ERR_INVALID_REQUEST = 42,
	KAFKA_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
	KAFKA_ERR_POLICY_VIOLATION = 44,
	KAFKA_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
	KAFKA_ERR_DUPLICATE_SEQUENCE_NUMBER = 46,
	KAFKA_ERR_INVALID_PRODUCER_EPOCH = 47,
	KAFKA_ERR_INVALID_TXN_STATE = 48,
	KAFKA_ERR_INVALID_PRODUCER_ID_MAPPING = 49,
	KAFKA_ERR_INVALID_TRANSACTION_TIMEOUT = 50,
	KAFKA_ERR_CONCURRENT_TRANSACTIONS = 51,
	KAFKA_ERR_TRANSACTION_COORDINATOR_FENCED = 52,
	KAFKA_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53,
	KAFKA_ERR_SECURITY_DISABLED = 54,
	KAFKA_ERR_OPERATION_NOT_ATTEMPTED = 55,
	KAFKA_ERR_KAFKA_STORAGE_ERROR = 56,
	KAFKA_ERR_LOG_DIR_NOT_FOUND = 57,
	KAFKA_ERR_SASL_AUTHENTICATION_FAILED = 58,
	KAFKA_ERR_UNKNOWN_PRODUCER_ID = 59,
	KAFKA_ERR_REASSIGNMENT_IN_PROGRESS = 60,
	KAFKA_ERR_DELEGATION_TOKEN_AUTH_DISABLED = 61,
	KAFKA_ERR_DELEGATION_TOKEN_NOT_FOUND = 62,
	KAFKA_ERR_DELEGATION_TOKEN_OWNER_MISMATCH = 63,
	KAFKA_ERR_DELEGATION_TOKEN_REQUEST_NOT_ALLOWED = 64,
	KAFKA_ERR_DELEGATION_TOKEN_AUTHORIZATION_FAILED = 65,
	KAFKA_ERR_DELEGATION_TOKEN_EXPIRED = 66,
	KAFKA_ERR_INVALID_PRINCIPAL_TYPE = 67,
	KAFKA_ERR_NON_EMPTY_GROUP = 68,
	KAFKA_ERR_GROUP_ID_NOT_FOUND = 69,
	KAFKA_ERR_FETCH_SESSION_ID_NOT_FOUND = 70,
	KAFKA_ERR_INVALID_FETCH_SESSION_EPOCH = 71,
	KAFKA_ERR_LISTENER_NOT_FOUND = 72,
	KAFKA_ERR_TOPIC_DELETION_DISABLED = 73,
	KAFKA_ERR_FENCED_LEADER_EPOCH = 74,
	KAFKA_ERR_UNKNOWN_LEADER_EPOCH = 75,
	KAFKA_ERR_UNSUPPORTED_COMPRESSION_TYPE = 76,
	KAFKA_ERR_STALE_BROKER_EPOCH = 77,
	KAFKA_ERR_OFFSET_NOT_AVAILABLE = 78,
	KAFKA_ERR_MEMBER_ID_REQUIRED = 79,
	KAFKA_ERR_PREFERRED_LEADER_NOT_AVAILABLE = 80,
	KAFKA_ERR_GROUP_MAX_SIZE_REACHED = 81,
	KAFKA_ERR_FENCED_INSTANCE_ID = 82,
	KAFKA_ERR_ELIGIBLE_LEADERS_NOT_AVAILABLE = 83,
	KAFKA_ERR_ELECTION_NOT_NEEDED = 84,
	KAFKA_ERR_NO_REASSIGNMENT_IN_PROGRESS = 85,
	KAFKA_ERR_GROUP_SUBSCRIBED_TO_TOPIC = 86,
	KAFKA_ERR_INVALID_RECORD = 87,
	KAFKA_ERR_UNSTABLE_OFFSET_COMMIT = 88,
	KAFKA_ERR_THROTTLING_QUOTA_EXCEEDED = 89,
	KAFKA_ERR_PRODUCER_FENCED = 90,
	KAFKA_ERR_RESOURCE_NOT_FOUND = 91,
	KAFKA_ERR_DUPLICATE_RESOURCE = 92,
	KAFKA_ERR_UNACCEPTABLE_CREDENTIAL = 93,
	KAFKA_ERR_INCONSISTENT_VOTER_SET = 94,
	KAFKA_ERR_INVALID_UPDATE_VERSION = 95,
	KAFKA_ERR_FEATURE_UPDATE_FAILED = 96,
	KAFKA_ERR_PRINCIPAL_DESERIALIZATION_FAILURE = 97,
	KAFKA_ERR_SNAPSHOT_NOT_FOUND = 98,
	KAFKA_ERR_POSITION_OUT_OF_RANGE = 99,
	KAFKA_ERR_UNKNOWN_TOPIC_ID = 100,
	KAFKA_ERR_DUPLICATE_BROKER_REGISTRATION = 101,
	KAFKA_ERR_BROKER_ID_NOT_REGISTERED = 102,
	KAFKA_ERR_INCONSISTENT_TOPIC_ID = 103,
	KAFKA_ERR_INCONSISTENT_CLUSTER_ID = 104,
	KAFKA_ERR_TRANSACTIONAL_ID_NOT_FOUND = 105,
	KAFKA_ERR_FETCH_SESSION_TOPIC_ID_ERROR = 106,
	KAFKA_ERR_INELIGIBLE_REPLICA = 107,
	KAFKA_ERR_NEW_LEADER_ELECTED = 108,
	KAFKA_ERR_OFFSET_MOVED_TO_TIERED_STORAGE = 109,
	KAFKA_ERR_FENCED_MEMBER_EPOCH = 110,
	KAFKA_ERR_UNRELEASED_INSTANCE_ID = 111,
	KAFKA_ERR_UNSUPPORTED_ASSIGNOR = 112,
	KAFKA_ERR_STALE_MEMBER_EPOCH = 113,
	KAFKA_ERR_MISMATCHED_ENDPOINT_TYPE = 114,
	KAFKA_ERR_UNSUPPORTED_ENDPOINT_TYPE = 115,
	KAFKA_ERR_UNKNOWN_CONTROLLER_ID = 116,
	KAFKA_ERR_UNKNOWN_SUBSCRIPTION_ID = 117,
	KAFKA_ERR_TELEMETRY_TOO_LARGE = 118,
	KAFKA_ERR_INVALID_REGISTRATION = 119,
	KAFKA_ERR_TRANSACTION_ABORTABLE = 120,
	KAFKA_ERR_INVALID_RECORD_STATE = 121,
	KAFKA_ERR_SHARE_SESSION_NOT_FOUND = 122,
	KAFKA_ERR_INVALID_SHARE_SESSION_EPOCH = 123,
	KAFKA_ERR_FENCED_STATE_EPOCH = 124,
	KAFKA_ERR_INVALID_VOTER_KEY = 125,
	KAFKA_ERR_DUPLICATE_VOTER = 126,
	KAFKA_ERR_VOTER_NOT_FOUND = 127,
};

/* "UNSUPPORTED_VERSION" for 35, or NULL for a code not in the table.
 * The table lives here, next to the enum, so the two are read together;
 * WIRE_N() spells each name once, from its constant. */
static inline const char *wire_error_name(int16_t code)
{
#define WIRE_N(name) [KAFKA_ERR_##name + 1] = #name
	static const char *const names[] = {
		WIRE_N(UNKNOWN_SERVER_ERROR), WIRE_N(NONE),
		WIRE_N(OFFSET_OUT_OF_RANGE), WIRE_N(CORRUPT_MESSAGE),
		WIRE_N(UNKNOWN_TOPIC_OR_PARTITION), WIRE_N(INVALID_FETCH_SIZE),
		WIRE_N(LEADER_NOT_AVAILABLE), WIRE_N(NOT_LEADER_OR_FOLLOWER),
		WIRE_N(REQUEST_TIMED_OUT), WIRE_N(BROKER_NOT_AVAILABLE),
		WIRE_N(REPLICA_NOT_AVAILABLE), WIRE_N(MESSAGE_TOO_LARGE),
		WIRE_N(STALE_CONTROLLER_EPOCH),
		WIRE_N(OFFSET_METADATA_TOO_LARGE), WIRE_N(NETWORK_EXCEPTION),
		WIRE_N(COORDINATOR_LOAD_IN_PROGRESS),
		WIRE_N(COORDINATOR_NOT_AVAILABLE), WIRE_N(NOT_COORDINATOR),
		WIRE_N(INVALID_TOPIC_EXCEPTION), WIRE_N(RECORD_LIST_TOO_LARGE),
		WIRE_N(NOT_ENOUGH_REPLICAS),
		WIRE_N(NOT_ENOUGH_REPLICAS_AFTER_APPEND),
		WIRE_N(INVALID_REQUIRED_ACKS), WIRE_N(ILLEGAL_GENERATION),
		WIRE_N(INCONSISTENT_GROUP_PROTOCOL), WIRE_N(INVALID_GROUP_ID),
		WIRE_N(UNKNOWN_MEMBER_ID), WIRE_N(INVALID_SESSION_TIMEOUT),
		WIRE_N(REBALANCE_IN_PROGRESS),
		WIRE_N(INVALID_COMMIT_OFFSET_SIZE),
		WIRE_N(TOPIC_AUTHORIZATION_FAILED),
		WIRE_N(GROUP_AUTHORIZATION_FAILED),
		WIRE_N(CLUSTER_AUTHORIZATION_FAILED),
		WIRE_N(INVALID_TIMESTAMP), WIRE_N(UNSUPPORTED_SASL_MECHANISM),
		WIRE_N(ILLEGAL_SASL_STATE), WIRE_N(UNSUPPORTED_VERSION),
		WIRE_N(TOPIC_ALREADY_EXISTS), WIRE_N(INVALID_PARTITIONS),
		WIRE_N(INVALID_REPLICATION_FACTOR),
		WIRE_N(INVALID_REPLICA_ASSIGNMENT), WIRE_N(INVALID_CONFIG),
		WIRE_N(NOT_CONTROLLER), WIRE_N(INVALID_REQUEST),
		WIRE_N(UNSUPPORTED_FOR_MESSAGE_FORMAT),
		WIRE_N(POLICY_VIOLATION), WIRE_N(OUT_OF_ORDER_SEQUENCE_NUMBER),
		WIRE_N(DUPLICATE_SEQUENCE_NUMBER),
		WIRE_N(INVALID_PRODUCER_EPOCH), WIRE_N(INVALID_TXN_STATE),
		WIRE_N(INVALID_PRODUCER_ID_MAPPING),
		WIRE_N(INVALID_TRANSACTION_TIMEOUT),
		WIRE_N(CONCURRENT_TRANSACTIONS),
		WIRE_N(TRANSACTION_COORDINATOR_FENCED),
		WIRE_N(TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
		WIRE_N(SECURITY_DISABLED), WIRE_N(OPERATION_NOT_ATTEMPTED),
		WIRE_N(KAFKA_STORAGE_ERROR), WIRE_N(LOG_DIR_NOT_FOUND),
		WIRE_N(SASL_AUTHENTICATION_FAILED),
		WIRE_N(UNKNOWN_PRODUCER_ID), WIRE_N(REASSIGNMENT_IN_PROGRESS),
		WIRE_N(DELEGATION_TOKEN_AUTH_DISABLED),
		WIRE_N(DELEGATION_TOKEN_NOT_FOUND),
		WIRE_N(DELEGATION_TOKEN_OWNER_MISMATCH),
		WIRE_N(DELEGATION_TOKEN_REQUEST_NOT_ALLOWED),
		WIRE_N(DELEGATION_TOKEN_AUTHORIZATION_FAILED),
		WIRE_N(DELEGATION_TOKEN_EXPIRED),
		WIRE_N(INVALID_PRINCIPAL_TYPE), WIRE_N(NON_EMPTY_GROUP),
		WIRE_N(GROUP_ID_NOT_FOUND), WIRE_N(FETCH_SESSION_ID_NOT_FOUND),
		WIRE_N(INVALID_FETCH_SESSION_EPOCH),
		WIRE_N(LISTENER_NOT_FOUND), WIRE_N(TOPIC_DELETION_DISABLED),
		WIRE_N(FENCED_LEADER_EPOCH), WIRE_N(UNKNOWN_LEADER_EPOCH),
		WIRE_N(UNSUPPORTED_COMPRESSION_TYPE),
		WIRE_N(STALE_BROKER_EPOCH), WIRE_N(OFFSET_NOT_AVAILABLE),
		WIRE_N(MEMBER_ID_REQUIRED),
		WIRE_N(PREFERRED_LEADER_NOT_AVAILABLE),
		WIRE_N(GROUP_MAX_SIZE_REACHED), WIRE_N(FENCED_INSTANCE_ID),
		WIRE_N(ELIGIBLE_LEADERS_NOT_AVAILABLE),
		WIRE_N(ELECTION_NOT_NEEDED),
		WIRE_N(NO_REASSIGNMENT_IN_PROGRESS),
		WIRE_N(GROUP_SUBSCRIBED_TO_TOPIC), WIRE_N(INVALID_RECORD),
		WIRE_N(UNSTABLE_OFFSET_COMMIT),
		WIRE_N(THROTTLING_QUOTA_EXCEEDED), WIRE_N(PRODUCER_FENCED),
		WIRE_N(RESOURCE_NOT_FOUND), WIRE_N(DUPLICATE_RESOURCE),
		WIRE_N(UNACCEPTABLE_CREDENTIAL),
		WIRE_N(INCONSISTENT_VOTER_SET), WIRE_N(INVALID_UPDATE_VERSION),
		WIRE_N(FEATURE_UPDATE_FAILED),
		WIRE_N(PRINCIPAL_DESERIALIZATION_FAILURE),
		WIRE_N(SNAPSHOT_NOT_FOUND), WIRE_N(POSITION_OUT_OF_RANGE),
		WIRE_N(UNKNOWN_TOPIC_ID),
		WIRE_N(DUPLICATE_BROKER_REGISTRATION),
		WIRE_N(BROKER_ID_NOT_REGISTERED),
		WIRE_N(INCONSISTENT_TOPIC_ID), WIRE_N(INCONSISTENT_CLUSTER_ID),
		WIRE_N(TRANSACTIONAL_ID_NOT_FOUND),
		WIRE_N(FETCH_SESSION_TOPIC_ID_ERROR),
		WIRE_N(INELIGIBLE_REPLICA), WIRE_N(NEW_LEADER_ELECTED),
		WIRE_N(OFFSET_MOVED_TO_TIERED_STORAGE),
		WIRE_N(FENCED_MEMBER_EPOCH), WIRE_N(UNRELEASED_INSTANCE_ID),
		WIRE_N(UNSUPPORTED_ASSIGNOR), WIRE_N(STALE_MEMBER_EPOCH),
		WIRE_N(MISMATCHED_ENDPOINT_TYPE),
		WIRE_N(UNSUPPORTED_ENDPOINT_TYPE),
		WIRE_N(UNKNOWN_CONTROLLER_ID), WIRE_N(UNKNOWN_SUBSCRIPTION_ID),
		WIRE_N(TELEMETRY_TOO_LARGE), WIRE_N(INVALID_REGISTRATION),
		WIRE_N(TRANSACTION_ABORTABLE), WIRE_N(INVALID_RECORD_STATE),
		WIRE_N(SHARE_SESSION_NOT_FOUND),
		WIRE_N(INVALID_SHARE_SESSION_EPOCH),
		WIRE_N(FENCED_STATE_EPOCH), WIRE_N(INVALID_VOTER_KEY),
		WIRE_N(DUPLICATE_VOTER), WIRE_N(VOTER_NOT_FOUND),
	};
#undef WIRE_N
	int i = code + 1;
	if (i < 0 || (size_t)i >= sizeof names / sizeof names[0])
		return NULL;
	return names[i];
}

/* ---- Records of a record batch v2 ---- */

/* One record, decoded (KAFKA: DefaultRecord). Views point into the batch
 * and are valid until it is freed. When read, offset and timestamp are
 * absolute; wire_batch_write reads only key, value, timestamp, headers
 * and headers_count. */
struct wire_record {
	int8_t attributes;          /* unused by Kafka; always 0 */
	int64_t timestamp_delta;    /* from the batch's baseTimestamp */
	int32_t offset_delta;       /* from the batch's baseOffset */
	int64_t offset;             /* base_offset + offset_delta */
	int64_t timestamp;          /* base + delta, or maxTimestamp for
				       LogAppendTime batches */
	struct wire_bytes key;      /* len -1: null key */
	struct wire_bytes value;    /* len -1: null value (a tombstone) */
	int32_t headers_count;
	struct wire_bytes headers;  /* the encoded headers, for
				       wire_read_record_header */
};

/* Iterator over the records of one UNCOMPRESSED batch. */
struct wire_records {
	struct seg_batch batch; /* the batch header */
	struct wire_reader r;   /* over the records area, bytes [61, end) */
	int32_t read;           /* records returned so far */
};

/* Iterate the uncompressed batch at [0, len). borrows: batch. */
int wire_records_init(struct wire_records *it, const uint8_t *batch,
		      size_t len);
/* The next record; KB_ERR_NOTFOUND after the last; KB_ERR_CORRUPT. */
int wire_records_next(struct wire_records *it, struct wire_record *rec);
/* Walk every record of the batch: KB_OK when all of them decode. */
int wire_records_validate(const uint8_t *batch, size_t len);
/* What wire_records_check found in a batch. */
struct wire_records_summary {
	int32_t records;   /* records walked */
	int32_t null_keys; /* of them, records with a null key */
	size_t inflated;   /* gzip: bytes of records after inflating */
	bool opened;       /* false: a codec samsa cannot read (snappy, lz4,
			      zstd), so nothing inside was checked */
};

/* Walk a producer's batch, inflating gzip up to max_inflated bytes. */
int wire_records_check(const uint8_t *batch, size_t len, size_t max_inflated,
		       struct wire_records_summary *out);
/* One record header from a reader over rec->headers (key never null). */
void wire_read_record_header(struct wire_reader *r, struct wire_bytes *key,
			     struct wire_bytes *value);

/* The header fields of a batch wire_batch_write builds. */
struct wire_batch_params {
	int64_t base_offset;
	int32_t partition_leader_epoch;
	int16_t attributes;     /* SEG_ATTR_*; no compression bits */
	int64_t producer_id;    /* -1 when not idempotent */
	int16_t producer_epoch; /* -1 when not idempotent */
	int32_t base_sequence;  /* -1 when not idempotent */
};

/* Append an uncompressed batch of count >= 1 records. borrows: recs. */
int wire_batch_write(struct kb_buf *out, const struct wire_batch_params *bp,
		     const struct wire_record *recs, int32_t count);

#endif
