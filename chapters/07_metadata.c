/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07, second file — the metadata records of __cluster_metadata-0:
 * Kafka's bytes for "what the cluster holds", and the JSON that shows them.
 *
 * Concept:
 *   The quorum's log holds small typed records ("broker 2 registered",
 *   "topic demo has id X", "partition 0's ISR is now [1,2]"). Each record
 *   type is a table of fields copied from its JSON schema; one encoder,
 *   one decoder and one JSON printer walk the tables, so a new record
 *   type is a new table, not new code.
 *
 * Kafka:
 *   metadata/<Name>.json (MetadataRecordType), framed by
 *   AbstractApiMessageSerde: uvarint frame version 1, uvarint apiKey,
 *   uvarint version, then the body in the flexible encoding (KIP-482:
 *   compact strings and arrays, tagged fields). kafka-dump-log's
 *   --cluster-metadata-decoder prints what meta_record_format prints.
 *
 * Interface:
 *   - meta_record_init (type, version, defaults), fill, meta_record_encode.
 *   - meta_record_decode borrows the bytes for every string view; free the
 *     arrays with meta_record_fini, also after a failed decode.
 *   - Any damage (truncation, a bad count, leftover bytes, an unknown type
 *     or version) is KB_ERR_CORRUPT, never an assert.
 *
 * Invariants:
 *   1. decode(encode(r)) == r for every type and version.
 *   2. A tagged field is on the wire only when it differs from its default.
 *   3. Every count and size is checked against the bytes left before use.
 *
 * Simplifications:
 *   Unknown tagged fields are skipped, not kept for re-encoding. Strings
 *   are printed as their bytes (Kafka decodes UTF-8 first). Records are
 *   stateless values, so there is no meta_check here: see 07_image.c.
 *
 * See also: docs/07_metadata.md, diagrams/07_metadata.dot,
 *   tests/07_raft_test.c ("Metadata records and the image"); read next:
 *   07_image.c.
 *   Uses chapters 00 (base), 04 (codec).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "04_codec.h"
#include "07_metadata.h"

/* ---- Schemas: each record type as a table of fields ---- */

/* The wire types metadata records use (KAFKA: FieldType). */
enum meta_ftype {
	MT_BOOL, MT_I8, MT_I16, MT_U16, MT_I32, MT_I64, MT_UUID,
	MT_STR, MT_BYTES,
	MT_I32S,      /* []int32 */
	MT_UUIDS,     /* []uuid */
	MT_ENDPOINTS, /* []BrokerEndpoint */
	MT_FEATURES,  /* []BrokerFeature */
};

/* One field of a schema, as its JSON line says. */
struct meta_field {
	const char *json;  /* camelCase name, as Kafka's JSON prints it */
	uint8_t type;      /* enum meta_ftype */
	int8_t since;      /* first version holding the field ("N+") */
	bool nullable;     /* nullableVersions, from since on */
	int8_t tag;        /* tagged from since on; -1: a plain field */
	int32_t def;       /* default; arrays: -1 null, 0 empty */
	size_t off;        /* where it lives in its struct */
};

/* One record type (or nested struct): its fields in JSON order. */
struct meta_schema {
	const char *name;  /* "TopicRecord" */
	const char *upper; /* "TOPIC_RECORD", KAFKA: MetadataRecordType */
	int16_t max_version;
	const struct meta_field *fields;
	int n_fields;
};

#define R(m) offsetof(struct meta_record, m)
/* A plain field; a plain field with a default; a nullable one; a tagged
 * one (nullable when its default is a null array). */
#define F(j, t, v, m) {j, t, v, false, -1, 0, R(m)}
#define FD(j, t, v, m, d) {j, t, v, false, -1, d, R(m)}
#define FN(j, t, v, m) {j, t, v, true, -1, -1, R(m)}
#define FT(j, t, v, m, tag, d) {j, t, v, (d) == -1 && (t) >= MT_I32S, tag, d, R(m)}
#define N(a) (int)(sizeof(a) / sizeof((a)[0]))

static const struct meta_field endpoint_fields[] = {
	{"name", MT_STR, 0, false, -1, 0, offsetof(struct meta_endpoint, name)},
	{"host", MT_STR, 0, false, -1, 0, offsetof(struct meta_endpoint, host)},
	{"port", MT_U16, 0, false, -1, 0, offsetof(struct meta_endpoint, port)},
	{"securityProtocol", MT_I16, 0, false, -1, 0,
	 offsetof(struct meta_endpoint, security_protocol)},
};
static const struct meta_field feature_fields[] = {
	{"name", MT_STR, 0, false, -1, 0,
	 offsetof(struct meta_broker_feature, name)},
	{"minSupportedVersion", MT_I16, 0, false, -1, 0,
	 offsetof(struct meta_broker_feature, min_supported_version)},
	{"maxSupportedVersion", MT_I16, 0, false, -1, 0,
	 offsetof(struct meta_broker_feature, max_supported_version)},
};
static const struct meta_field register_broker[] = {
	F("brokerId", MT_I32, 0, broker_id),
	F("isMigratingZkBroker", MT_BOOL, 2, is_migrating_zk_broker),
	F("incarnationId", MT_UUID, 0, incarnation_id),
	F("brokerEpoch", MT_I64, 0, broker_epoch),
	F("endPoints", MT_ENDPOINTS, 0, endpoints),
	F("features", MT_FEATURES, 0, features),
	FN("rack", MT_STR, 0, rack),
	FD("fenced", MT_BOOL, 0, fenced, 1),
	F("inControlledShutdown", MT_BOOL, 1, in_controlled_shutdown),
	FT("logDirs", MT_UUIDS, 3, log_dirs, 0, 0),
};
static const struct meta_field broker_epoch_pair[] = {
	F("brokerId", MT_I32, 0, broker_id),
	F("brokerEpoch", MT_I64, 0, broker_epoch),
};
static const struct meta_field id_epoch_pair[] = { /* Fence, Unfence */
	F("id", MT_I32, 0, broker_id),
	F("epoch", MT_I64, 0, broker_epoch),
};
static const struct meta_field registration_change[] = {
	F("brokerId", MT_I32, 0, broker_id),
	F("brokerEpoch", MT_I64, 0, broker_epoch),
	FT("fenced", MT_I8, 0, fenced_change, 0, 0),
	FT("inControlledShutdown", MT_I8, 1, shutdown_change, 1, 0),
	FT("logDirs", MT_UUIDS, 2, log_dirs, 2, 0),
};
static const struct meta_field topic[] = {
	F("name", MT_STR, 0, name),
	F("topicId", MT_UUID, 0, topic_id),
};
static const struct meta_field partition[] = {
	FD("partitionId", MT_I32, 0, partition_id, -1),
	F("topicId", MT_UUID, 0, topic_id),
	F("replicas", MT_I32S, 0, replicas),
	F("isr", MT_I32S, 0, isr),
	F("removingReplicas", MT_I32S, 0, removing_replicas),
	F("addingReplicas", MT_I32S, 0, adding_replicas),
	FD("leader", MT_I32, 0, leader, -1),
	FT("leaderRecoveryState", MT_I8, 0, leader_recovery_state, 0, 0),
	FD("leaderEpoch", MT_I32, 0, leader_epoch, -1),
	FD("partitionEpoch", MT_I32, 0, partition_epoch, -1),
	F("directories", MT_UUIDS, 1, directories),
	FT("eligibleLeaderReplicas", MT_I32S, 2, elr, 1, -1),
	FT("lastKnownElr", MT_I32S, 2, last_known_elr, 2, -1),
};
static const struct meta_field partition_change[] = {
	FD("partitionId", MT_I32, 0, partition_id, -1),
	F("topicId", MT_UUID, 0, topic_id),
	FT("isr", MT_I32S, 0, isr, 0, -1),
	FT("leader", MT_I32, 0, leader, 1, META_NO_LEADER_CHANGE),
	FT("replicas", MT_I32S, 0, replicas, 2, -1),
	FT("removingReplicas", MT_I32S, 0, removing_replicas, 3, -1),
	FT("addingReplicas", MT_I32S, 0, adding_replicas, 4, -1),
	FT("leaderRecoveryState", MT_I8, 0, leader_recovery_state, 5, -1),
	FT("directories", MT_UUIDS, 1, directories, 8, -1),
	FT("eligibleLeaderReplicas", MT_I32S, 2, elr, 6, -1),
	FT("lastKnownElr", MT_I32S, 2, last_known_elr, 7, -1),
};
static const struct meta_field remove_topic[] = {
	F("topicId", MT_UUID, 0, topic_id),
};
static const struct meta_field config[] = {
	F("resourceType", MT_I8, 0, resource_type),
	F("resourceName", MT_STR, 0, resource_name),
	F("name", MT_STR, 0, name),
	FN("value", MT_STR, 0, value),
};
static const struct meta_field producer_ids[] = {
	F("brokerId", MT_I32, 0, broker_id),
	FD("brokerEpoch", MT_I64, 0, broker_epoch, -1),
	F("nextProducerId", MT_I64, 0, next_producer_id),
};
static const struct meta_field feature_level[] = {
	F("name", MT_STR, 0, name),
	F("featureLevel", MT_I16, 0, feature_level),
};
static const struct meta_field acl[] = {
	F("id", MT_UUID, 0, acl_id),
	F("resourceType", MT_I8, 0, resource_type),
	F("resourceName", MT_STR, 0, resource_name),
	F("patternType", MT_I8, 0, pattern_type),
	F("principal", MT_STR, 0, principal),
	F("host", MT_STR, 0, host),
	F("operation", MT_I8, 0, operation),
	F("permissionType", MT_I8, 0, permission_type),
};
static const struct meta_field remove_acl[] = {
	F("id", MT_UUID, 0, acl_id),
};
static const struct meta_field scram[] = {
	F("name", MT_STR, 0, name),
	F("mechanism", MT_I8, 0, mechanism),
	F("salt", MT_BYTES, 0, salt),
	F("storedKey", MT_BYTES, 0, stored_key),
	F("serverKey", MT_BYTES, 0, server_key),
	F("iterations", MT_I32, 0, iterations),
};
static const struct meta_field remove_scram[] = {
	F("name", MT_STR, 0, name),
	F("mechanism", MT_I8, 0, mechanism),
};

#define S(key, n, u, v, f) [key] = {n, u, v, f, N(f)}
/* KAFKA: "validVersions" of each metadata/<Name>.json. */
static const struct meta_schema schemas[META_TYPE_COUNT] = {
	S(META_REGISTER_BROKER, "RegisterBrokerRecord",
	  "REGISTER_BROKER_RECORD", 3, register_broker),
	S(META_UNREGISTER_BROKER, "UnregisterBrokerRecord",
	  "UNREGISTER_BROKER_RECORD", 0, broker_epoch_pair),
	S(META_TOPIC, "TopicRecord", "TOPIC_RECORD", 0, topic),
	S(META_PARTITION, "PartitionRecord", "PARTITION_RECORD", 2, partition),
	S(META_CONFIG, "ConfigRecord", "CONFIG_RECORD", 0, config),
	S(META_PARTITION_CHANGE, "PartitionChangeRecord",
	  "PARTITION_CHANGE_RECORD", 2, partition_change),
	S(META_FENCE_BROKER, "FenceBrokerRecord", "FENCE_BROKER_RECORD", 0,
	  id_epoch_pair),
	S(META_UNFENCE_BROKER, "UnfenceBrokerRecord", "UNFENCE_BROKER_RECORD",
	  0, id_epoch_pair),
	S(META_REMOVE_TOPIC, "RemoveTopicRecord", "REMOVE_TOPIC_RECORD", 0,
	  remove_topic),
	S(META_USER_SCRAM_CREDENTIAL, "UserScramCredentialRecord",
	  "USER_SCRAM_CREDENTIAL_RECORD", 0, scram),
	S(META_FEATURE_LEVEL, "FeatureLevelRecord", "FEATURE_LEVEL_RECORD", 0,
	  feature_level),
	S(META_PRODUCER_IDS, "ProducerIdsRecord", "PRODUCER_IDS_RECORD", 0,
	  producer_ids),
	S(META_BROKER_REGISTRATION_CHANGE, "BrokerRegistrationChangeRecord",
	  "BROKER_REGISTRATION_CHANGE_RECORD", 2, registration_change),
	S(META_ACCESS_CONTROL_ENTRY, "AccessControlEntryRecord",
	  "ACCESS_CONTROL_ENTRY_RECORD", 0, acl),
	S(META_REMOVE_ACCESS_CONTROL_ENTRY, "RemoveAccessControlEntryRecord",
	  "REMOVE_ACCESS_CONTROL_ENTRY_RECORD", 0, remove_acl),
	[META_NO_OP] = {"NoOpRecord", "NO_OP_RECORD", 0, NULL, 0},
	S(META_REMOVE_USER_SCRAM_CREDENTIAL, "RemoveUserScramCredentialRecord",
	  "REMOVE_USER_SCRAM_CREDENTIAL_RECORD", 0, remove_scram),
};

/* The element tables of the two struct arrays. */
static const struct meta_schema endpoint_schema = {
	"BrokerEndpoint", NULL, 0, endpoint_fields, N(endpoint_fields)};
static const struct meta_schema feature_schema = {
	"BrokerFeature", NULL, 0, feature_fields, N(feature_fields)};

/* Most tags a record type uses plus one: the encoder walks tags 0..n-1. */
#define META_TAG_LIMIT 16

/* ---- Prototypes of the helpers, in reading order ---- */

static const struct meta_schema *schema_of(int16_t type);
static void *field_at(const void *base, const struct meta_field *f);
static bool field_is_default(const struct meta_field *f, const void *base);
static int write_struct(struct wire_writer *w, const struct meta_schema *s,
			const void *base, int16_t version);
static int write_field(struct wire_writer *w, const struct meta_field *f,
		       const void *base, int16_t version);
static int write_tags(struct wire_writer *w, const struct meta_schema *s,
		      const void *base, int16_t version);
static int read_struct(struct wire_reader *r, const struct meta_schema *s,
		       void *base, int16_t version);
static int read_field(struct wire_reader *r, const struct meta_field *f,
		      void *base, int16_t version);
static int read_tags(struct wire_reader *r, const struct meta_schema *s,
		     void *base, int16_t version);
static void free_struct(const struct meta_schema *s, void *base);
static int format_struct(struct kb_buf *out, const struct meta_schema *s,
			 const void *base, int16_t version);

/* ---- Records: type, version and defaults ---- */

const char *meta_type_name(int16_t type)
{
	const struct meta_schema *s = schema_of(type);
	return s ? s->name : NULL;
}

int16_t meta_type_max_version(int16_t type)
{
	const struct meta_schema *s = schema_of(type);
	return s ? s->max_version : -1;
}

/* Every field of the type gets its JSON "default": what a decoder keeps
 * for a field the version lacks or a tag the writer left out. */
void meta_record_init(struct meta_record *rec, int16_t type, int16_t version)
{
	memset(rec, 0, sizeof *rec);
	rec->type = type;
	rec->version = version;
	const struct meta_schema *s = schema_of(type);
	for (int i = 0; s && i < s->n_fields; i++) {
		const struct meta_field *f = &s->fields[i];
		void *p = field_at(rec, f);
		switch (f->type) {
		case MT_BOOL: *(bool *)p = f->def != 0; break;
		case MT_I8: *(int8_t *)p = (int8_t)f->def; break;
		case MT_I16: *(int16_t *)p = (int16_t)f->def; break;
		case MT_I32: *(int32_t *)p = f->def; break;
		case MT_I64: *(int64_t *)p = f->def; break;
		case MT_STR: /* KAFKA: "" even when nullable, unless told */
			*(struct wire_str *)p = wire_str_c("");
			break;
		case MT_BYTES:
			((struct wire_bytes *)p)->p = (const uint8_t *)"";
			break;
		case MT_I32S: case MT_UUIDS: case MT_ENDPOINTS: case MT_FEATURES:
			((struct meta_array *)p)->n = f->def;
			break;
		default: break; /* uuid, uint16: zero */
		}
	}
}

/* Frees every array, nested ones first, through the schema. */
void meta_record_fini(struct meta_record *rec)
{
	const struct meta_schema *s = schema_of(rec->type);
	if (s)
		free_struct(s, rec);
	memset(rec, 0, sizeof *rec);
}

/* ---- Records: encoding ---- */

/* KAFKA: AbstractApiMessageSerde.write — frame version, apiKey, version
 * as unsigned varints, then the message at that version. */
int meta_record_encode(const struct meta_record *rec, struct kb_buf *out)
{
	const struct meta_schema *s = schema_of(rec->type);
	if (!s || rec->version < 0 || rec->version > s->max_version)
		return KB_ERR_INVAL;
	struct wire_writer w;
	wire_writer_init(&w, out, true); /* KAFKA: "flexibleVersions": "0+" */
	wire_write_uvarint(&w, META_FRAME_VERSION);
	wire_write_uvarint(&w, (uint32_t)rec->type);
	wire_write_uvarint(&w, (uint32_t)rec->version);
	int rc = write_struct(&w, s, rec, rec->version);
	return rc ? rc : wire_writer_status(&w);
}

/* Plain fields in schema order, then the tag section. A field the version
 * lacks must hold its default (KAFKA: UnsupportedVersionException). */
static int write_struct(struct wire_writer *w, const struct meta_schema *s,
			const void *base, int16_t version)
{
	for (int i = 0; i < s->n_fields; i++) {
		const struct meta_field *f = &s->fields[i];
		if (version < f->since) {
			if (!field_is_default(f, base))
				return KB_ERR_INVAL;
			continue;
		}
		if (f->tag >= 0)
			continue;
		int rc = write_field(w, f, base, version);
		if (rc)
			return rc;
	}
	return write_tags(w, s, base, version);
}

/* An array: its count (null only where the schema allows), then each
 * element; struct elements end with their own (empty) tag section. */
static int write_array(struct wire_writer *w, const struct meta_field *f,
		       const struct meta_array *a, int16_t version)
{
	if ((a->n < 0 && !f->nullable) || (a->n > 0 && !a->v))
		return KB_ERR_INVAL;
	wire_write_array_len(w, a->n);
	for (int32_t i = 0; i < a->n; i++) {
		int rc = KB_OK;
		if (f->type == MT_I32S)
			wire_write_i32(w, ((const int32_t *)a->v)[i]);
		else if (f->type == MT_UUIDS)
			wire_write_uuid(w, ((const struct wire_uuid *)a->v)[i]);
		else if (f->type == MT_ENDPOINTS)
			rc = write_struct(w, &endpoint_schema,
					  (const struct meta_endpoint *)a->v + i, version);
		else
			rc = write_struct(w, &feature_schema,
					  (const struct meta_broker_feature *)a->v + i,
					  version);
		if (rc)
			return rc;
	}
	return KB_OK;
}

/* One field's value, in the flexible encoding. A null string, bytes or
 * array where the schema does not allow one is KB_ERR_INVAL. */
static int write_field(struct wire_writer *w, const struct meta_field *f,
		       const void *base, int16_t version)
{
	const void *p = field_at(base, f);
	switch (f->type) {
	case MT_BOOL: wire_write_bool(w, *(const bool *)p); break;
	case MT_I8: wire_write_i8(w, *(const int8_t *)p); break;
	case MT_I16: wire_write_i16(w, *(const int16_t *)p); break;
	case MT_U16: wire_write_u16(w, *(const uint16_t *)p); break;
	case MT_I32: wire_write_i32(w, *(const int32_t *)p); break;
	case MT_I64: wire_write_i64(w, *(const int64_t *)p); break;
	case MT_UUID: wire_write_uuid(w, *(const struct wire_uuid *)p); break;
	case MT_STR:
		if (((const struct wire_str *)p)->len < 0 && !f->nullable)
			return KB_ERR_INVAL;
		wire_write_string(w, *(const struct wire_str *)p);
		break;
	case MT_BYTES:
		if (((const struct wire_bytes *)p)->len < 0 && !f->nullable)
			return KB_ERR_INVAL;
		wire_write_bytes(w, *(const struct wire_bytes *)p);
		break;
	default:
		return write_array(w, f, p, version);
	}
	return KB_OK;
}

/* KAFKA (KIP-482): uvarint count, then per field in ascending tag order
 * uvarint tag, uvarint size, the value. Only fields that differ from
 * their default are written, as Kafka's generated writers do. */
static int write_tags(struct wire_writer *w, const struct meta_schema *s,
		      const void *base, int16_t version)
{
	const struct meta_field *by_tag[META_TAG_LIMIT] = {0};
	uint32_t count = 0;
	for (int i = 0; i < s->n_fields; i++) {
		const struct meta_field *f = &s->fields[i];
		if (f->tag < 0 || version < f->since || field_is_default(f, base))
			continue;
		assert(f->tag < META_TAG_LIMIT && !by_tag[f->tag]);
		by_tag[f->tag] = f;
		count++;
	}
	wire_write_uvarint(w, count);
	for (int t = 0; t < META_TAG_LIMIT; t++) {
		if (!by_tag[t])
			continue;
		struct kb_buf val;
		kb_buf_init(&val);
		struct wire_writer vw;
		wire_writer_init(&vw, &val, true);
		int rc = write_field(&vw, by_tag[t], base, version);
		rc = rc ? rc : wire_writer_status(&vw);
		wire_write_uvarint(w, (uint32_t)t);
		wire_write_uvarint(w, (uint32_t)val.len);
		wire_write_raw(w, val.data, val.len);
		kb_buf_fini(&val);
		if (rc)
			return rc;
	}
	return KB_OK;
}

/* ---- Records: decoding ---- */

/* KAFKA: AbstractApiMessageSerde.read — frame version 1 only, a known
 * type at a valid version, and no bytes left over after the message. */
int meta_record_decode(const void *p, size_t len, struct meta_record *rec)
{
	struct wire_reader r;
	wire_reader_init(&r, p, len, true);
	uint32_t frame = wire_read_uvarint(&r);
	uint32_t type = wire_read_uvarint(&r);
	uint32_t version = wire_read_uvarint(&r);
	memset(rec, 0, sizeof *rec);
	const struct meta_schema *s =
		type < META_TYPE_COUNT ? schema_of((int16_t)type) : NULL;
	if (wire_reader_status(&r) || frame != META_FRAME_VERSION || !s ||
	    version > (uint32_t)s->max_version)
		return KB_ERR_CORRUPT;
	meta_record_init(rec, (int16_t)type, (int16_t)version);
	int rc = read_struct(&r, s, rec, rec->version);
	if (rc)
		return rc;
	if (wire_reader_status(&r) || wire_remaining(&r) != 0)
		return KB_ERR_CORRUPT;
	return KB_OK;
}

/* Plain fields the version holds, in order, then the tag section. A read
 * past the end sets the reader's sticky error; the caller checks it. */
static int read_struct(struct wire_reader *r, const struct meta_schema *s,
		       void *base, int16_t version)
{
	for (int i = 0; i < s->n_fields && !r->err; i++) {
		const struct meta_field *f = &s->fields[i];
		if (version < f->since || f->tag >= 0)
			continue;
		int rc = read_field(r, f, base, version);
		if (rc)
			return rc;
	}
	return read_tags(r, s, base, version);
}

/* The fewest bytes one array element takes, to bound a count. */
static size_t elem_min(uint8_t type)
{
	switch (type) {
	case MT_I32S: return 4;
	case MT_UUIDS: return WIRE_UUID_LEN;
	case MT_ENDPOINTS: return 1 + 1 + 2 + 2 + 1; /* name host port sp tags */
	default: return 1 + 2 + 2 + 1;              /* name min max tags */
	}
}

/* The bytes one array element occupies in memory. */
static size_t elem_size(uint8_t type)
{
	switch (type) {
	case MT_I32S: return sizeof(int32_t);
	case MT_UUIDS: return sizeof(struct wire_uuid);
	case MT_ENDPOINTS: return sizeof(struct meta_endpoint);
	default: return sizeof(struct meta_broker_feature);
	}
}

/* Read an array: its count bounded by the bytes left before anything is
 * allocated (chapter 04's wire_read_array_len), then each element. */
static int read_array(struct wire_reader *r, const struct meta_field *f,
		      struct meta_array *a, int16_t version)
{
	int32_t n = f->nullable ? wire_read_nullable_array_len(r, elem_min(f->type))
				: wire_read_array_len(r, elem_min(f->type));
	a->n = r->err ? 0 : n;
	if (a->n <= 0)
		return KB_OK;
	a->v = calloc((size_t)a->n, elem_size(f->type));
	if (!a->v)
		return KB_ERR_NOMEM;
	for (int32_t i = 0; i < a->n && !r->err; i++) {
		int rc = KB_OK;
		if (f->type == MT_I32S)
			((int32_t *)a->v)[i] = wire_read_i32(r);
		else if (f->type == MT_UUIDS)
			((struct wire_uuid *)a->v)[i] = wire_read_uuid(r);
		else if (f->type == MT_ENDPOINTS)
			rc = read_struct(r, &endpoint_schema,
					 (struct meta_endpoint *)a->v + i, version);
		else
			rc = read_struct(r, &feature_schema,
					 (struct meta_broker_feature *)a->v + i, version);
		if (rc)
			return rc;
	}
	return KB_OK;
}

/* One field's value; strings and bytes stay views into the reader's bytes. */
static int read_field(struct wire_reader *r, const struct meta_field *f,
		      void *base, int16_t version)
{
	void *p = field_at(base, f);
	switch (f->type) {
	case MT_BOOL: *(bool *)p = wire_read_bool(r); break;
	case MT_I8: *(int8_t *)p = wire_read_i8(r); break;
	case MT_I16: *(int16_t *)p = wire_read_i16(r); break;
	case MT_U16: *(uint16_t *)p = wire_read_u16(r); break;
	case MT_I32: *(int32_t *)p = wire_read_i32(r); break;
	case MT_I64: *(int64_t *)p = wire_read_i64(r); break;
	case MT_UUID: *(struct wire_uuid *)p = wire_read_uuid(r); break;
	case MT_STR:
		*(struct wire_str *)p = f->nullable ? wire_read_nullable_string(r)
						    : wire_read_string(r);
		break;
	case MT_BYTES:
		*(struct wire_bytes *)p = f->nullable ? wire_read_nullable_bytes(r)
						      : wire_read_bytes(r);
		break;
	default:
		return read_array(r, f, p, version);
	}
	return KB_OK;
}

/* The tagged fields this version knows, each read from exactly its size.
 * Tags must ascend (KIP-482), so none is read twice; unknown tags are
 * skipped. A count or size the bytes left cannot hold is an error. */
static int read_tags(struct wire_reader *r, const struct meta_schema *s,
		     void *base, int16_t version)
{
	uint32_t count = wire_read_uvarint(r);
	if (count > wire_remaining(r) / 2) /* a tag takes >= 2 bytes */
		r->err = true;
	int64_t last = -1;
	for (uint32_t i = 0; i < count && !r->err; i++) {
		uint32_t tag = wire_read_uvarint(r);
		uint32_t size = wire_read_uvarint(r);
		const uint8_t *val = wire_read_raw(r, size);
		if (!val || (int64_t)tag <= last) {
			r->err = true;
			break;
		}
		last = tag;
		for (int j = 0; j < s->n_fields; j++) {
			const struct meta_field *f = &s->fields[j];
			if (f->tag != (int64_t)tag || version < f->since)
				continue;
			struct wire_reader vr;
			wire_reader_init(&vr, val, size, true);
			int rc = read_field(&vr, f, base, version);
			if (rc)
				return rc;
			if (vr.err || wire_remaining(&vr) != 0)
				r->err = true;
		}
	}
	return KB_OK;
}

/* ---- Records: the JSON line of kafka-dump-log ---- */

/* Append formatted text (short pieces only: numbers and names). */
static int put(struct kb_buf *out, const char *fmt, ...)
{
	char tmp[128]; /* our own names and numbers: the longest is 70 */
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	assert(n >= 0 && (size_t)n < sizeof tmp);
	return kb_buf_append(out, tmp, (size_t)n);
}

/* Base64 of n bytes. KAFKA: Uuid.toString is URL-safe without padding;
 * Jackson prints "bytes" in the standard alphabet with padding. */
static int put_base64(struct kb_buf *out, const uint8_t *p, size_t n,
		      bool url)
{
	const char *abc = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
			      : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	int rc = kb_buf_append(out, "\"", 1);
	for (size_t i = 0; i < n && !rc; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		v |= i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0;
		v |= i + 2 < n ? p[i + 2] : 0;
		size_t chars = n - i >= 3 ? 4 : n - i + 1;
		char q[4] = {abc[v >> 18], abc[(v >> 12) & 63], '=', '='};
		if (chars > 2)
			q[2] = abc[(v >> 6) & 63];
		if (chars > 3)
			q[3] = abc[v & 63];
		rc = kb_buf_append(out, q, url ? chars : 4);
	}
	return rc ? rc : kb_buf_append(out, "\"", 1);
}

/* A JSON string, escaped as Jackson does: \" \\ \b \f \n \r \t, other
 * control bytes as \u00XX; null for the null string. */
static int put_string(struct kb_buf *out, const char *s, int32_t len)
{
	if (len < 0)
		return kb_buf_append(out, "null", 4);
	int rc = kb_buf_append(out, "\"", 1);
	for (int32_t i = 0; i < len && !rc; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *esc = strchr("\"\\\b\f\n\r\t", c);
		if (c && esc)
			rc = put(out, "\\%c", "\"\\bfnrt"[esc - "\"\\\b\f\n\r\t"]);
		else if (c < 0x20)
			rc = put(out, "\\u%04x", c);
		else
			rc = kb_buf_append(out, &s[i], 1);
	}
	return rc ? rc : kb_buf_append(out, "\"", 1);
}

/* One array, elements comma-separated; null for a null array. */
static int format_array(struct kb_buf *out, const struct meta_field *f,
			const struct meta_array *a, int16_t version)
{
	if (a->n < 0)
		return kb_buf_append(out, "null", 4);
	int rc = kb_buf_append(out, "[", 1);
	for (int32_t i = 0; i < a->n && !rc; i++) {
		if (i > 0)
			rc = kb_buf_append(out, ",", 1);
		if (f->type == MT_I32S)
			rc = rc ? rc : put(out, "%" PRId32, ((const int32_t *)a->v)[i]);
		else if (f->type == MT_UUIDS)
			rc = rc ? rc : put_base64(out, ((const struct wire_uuid *)a->v)[i].b,
						  WIRE_UUID_LEN, true);
		else if (f->type == MT_ENDPOINTS)
			rc = rc ? rc : format_struct(out, &endpoint_schema,
						     (const struct meta_endpoint *)a->v + i,
						     version);
		else
			rc = rc ? rc : format_struct(out, &feature_schema,
						     (const struct meta_broker_feature *)a->v + i,
						     version);
	}
	return rc ? rc : kb_buf_append(out, "]", 1);
}

/* One value, typed as Kafka's JsonConverter prints it. */
static int format_value(struct kb_buf *out, const struct meta_field *f,
			const void *base, int16_t version)
{
	const void *p = field_at(base, f);
	switch (f->type) {
	case MT_BOOL: return put(out, "%s", *(const bool *)p ? "true" : "false");
	case MT_I8: return put(out, "%d", *(const int8_t *)p);
	case MT_I16: return put(out, "%d", *(const int16_t *)p);
	case MT_U16: return put(out, "%u", *(const uint16_t *)p);
	case MT_I32: return put(out, "%" PRId32, *(const int32_t *)p);
	case MT_I64: return put(out, "%" PRId64, *(const int64_t *)p);
	case MT_UUID:
		return put_base64(out, ((const struct wire_uuid *)p)->b,
				  WIRE_UUID_LEN, true);
	case MT_STR: {
		const struct wire_str *s = p;
		return put_string(out, s->p, s->len);
	}
	case MT_BYTES: {
		const struct wire_bytes *b = p;
		return b->len < 0 ? kb_buf_append(out, "null", 4)
				  : put_base64(out, b->p, (size_t)b->len, false);
	}
	default: return format_array(out, f, p, version);
	}
}

/* KAFKA: <Name>JsonConverter.write — every field the version holds, in
 * schema order; a tagged field only when it differs from its default. */
static int format_struct(struct kb_buf *out, const struct meta_schema *s,
			 const void *base, int16_t version)
{
	int rc = kb_buf_append(out, "{", 1);
	bool first = true;
	for (int i = 0; i < s->n_fields && !rc; i++) {
		const struct meta_field *f = &s->fields[i];
		if (version < f->since || (f->tag >= 0 && field_is_default(f, base)))
			continue;
		rc = put(out, "%s\"%s\":", first ? "" : ",", f->json);
		rc = rc ? rc : format_value(out, f, base, version);
		first = false;
	}
	return rc ? rc : kb_buf_append(out, "}", 1);
}

/* KAFKA: DumpLogSegments' ClusterMetadataLogMessageParser:
 * {"type":"TOPIC_RECORD","version":0,"data":{...}}. */
int meta_record_format(const struct meta_record *rec, struct kb_buf *out)
{
	const struct meta_schema *s = schema_of(rec->type);
	if (!s || rec->version < 0 || rec->version > s->max_version)
		return KB_ERR_INVAL;
	int rc = put(out, "{\"type\":\"%s\",\"version\":%d,\"data\":", s->upper,
		     rec->version);
	rc = rc ? rc : format_struct(out, s, rec, rec->version);
	return rc ? rc : kb_buf_append(out, "}", 1);
}

/* ---- Record helpers ---- */

/* The schema of a supported type, or NULL. */
static const struct meta_schema *schema_of(int16_t type)
{
	if (type < 0 || type >= META_TYPE_COUNT || !schemas[type].name)
		return NULL;
	return &schemas[type];
}

/* The field's storage inside the struct at base. */
static void *field_at(const void *base, const struct meta_field *f)
{
	return (char *)base + f->off;
}

/* Does the field hold its JSON default? KAFKA: strings and bytes default
 * to empty (also when nullable), uuids to zero. */
static bool field_is_default(const struct meta_field *f, const void *base)
{
	const void *p = field_at(base, f);
	static const struct wire_uuid zero;
	switch (f->type) {
	case MT_BOOL: return *(const bool *)p == (f->def != 0);
	case MT_I8: return *(const int8_t *)p == f->def;
	case MT_I16: return *(const int16_t *)p == f->def;
	case MT_U16: return *(const uint16_t *)p == f->def;
	case MT_I32: return *(const int32_t *)p == f->def;
	case MT_I64: return *(const int64_t *)p == f->def;
	case MT_UUID: return !memcmp(p, &zero, sizeof zero);
	case MT_STR: return ((const struct wire_str *)p)->len == 0;
	case MT_BYTES: return ((const struct wire_bytes *)p)->len == 0;
	default: return ((const struct meta_array *)p)->n == f->def;
	}
}

/* Free the arrays of one struct (endpoints and features hold none). */
static void free_struct(const struct meta_schema *s, void *base)
{
	for (int i = 0; i < s->n_fields; i++) {
		const struct meta_field *f = &s->fields[i];
		if (f->type < MT_I32S)
			continue;
		struct meta_array *a = field_at(base, f);
		free(a->v);
		a->v = NULL;
	}
}
