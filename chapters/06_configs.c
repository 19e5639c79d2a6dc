/* SPDX-License-Identifier: MIT */
/*
 * Chapter 06 — topics, part 2: topic configs.
 *
 * Concept:
 *   Every topic can change how its log behaves: how big a segment grows,
 *   how long records are kept, whose clock stamps them. A value comes from
 *   three layers: Kafka's default, the broker's server.properties (the
 *   "synonym", log.segment.bytes for segment.bytes), and the topic's own
 *   setting. One table, config_defs, names every key once with its type,
 *   default, synonym and validator; parsing, validation, DescribeConfigs
 *   and the struct log_config handed to each log all read that table, so
 *   a key cannot be known to one and forgotten by another.
 *
 * Kafka:
 *   LogConfig / TopicConfig (keys and defaults), ConfigDef validators
 *   (INVALID_CONFIG "Invalid value x for configuration y: ..."),
 *   ConfigHelper.createTopicConfigEntry (sources and synonyms),
 *   DescribeConfigs v1-4, AlterConfigs v0-2 (replace every topic-level
 *   setting), IncrementalAlterConfigs v0-1 (SET, DELETE, APPEND, SUBTRACT).
 *
 * Interface:
 *   - topic_config_build makes the effective struct topic_config of a set
 *     of overrides, or says which key is wrong and why.
 *   - A change is validated as a whole before anything is applied; then
 *     topic_reconfigure (06_topics.c) persists it and hands each log its
 *     new struct log_config.
 *
 * Invariants:
 *   1. Every key a client can read or write is a row of config_defs (topic)
 *      or broker_defs (broker); nothing else is accepted.
 *   2. An effective value is the topic's override, else the broker's
 *      synonym when it differs from Kafka's default, else the default; its
 *      source says which (TOPIC_CONFIG 1, STATIC_BROKER_CONFIG 4,
 *      DEFAULT_CONFIG 5).
 *   3. A request that fails for one key changes nothing for its resource.
 *
 * Simplifications:
 *   - Broker configs are static: DescribeConfigs lists the main keys of
 *     server.properties read-only; changing them is INVALID_REQUEST.
 *   - Keys samsa has no use for yet (compression.type, preallocate,
 *     segment.jitter.ms, file.delete.delay.ms) are validated and shown but
 *     change nothing.
 *
 * See also: docs/06_configs.md, diagrams/06_configs.dot,
 *   tests/06_topics_test.c, 06_topics.c; chapters 00, 03, 04, 05.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "00_base.h"
#include "03_log.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"

/* Longest config value text samsa keeps, NUL included. */
#define CONFIG_VALUE_MAX 256
/* KAFKA: DescribeConfigsResponse.ConfigSource. */
#define SOURCE_TOPIC 1
#define SOURCE_STATIC_BROKER 4
#define SOURCE_DEFAULT 5
/* KAFKA: ConfigResource.Type. */
#define RESOURCE_TOPIC 2
#define RESOURCE_BROKER 4
/* KAFKA: DescribeConfigsResponse.ConfigType. */
#define CFG_BOOLEAN 1
#define CFG_STRING 2
#define CFG_INT 3
#define CFG_LONG 5
#define CFG_DOUBLE 6
#define CFG_LIST 7
/* KAFKA: AlterConfigOp.OpType (IncrementalAlterConfigs). */
#define OP_SET 0
#define OP_DELETE 1
#define OP_APPEND 2
#define OP_SUBTRACT 3

/* Offset and size of a field, for the tables below. */
#define TOPIC_FIELD(f) offsetof(struct topic_config, f), \
	sizeof(((struct topic_config *)0)->f)
#define BROKER_FIELD(f) offsetof(struct topic_broker_config, f), \
	sizeof(((struct topic_broker_config *)0)->f)
#define NO_FIELD 0, 0

struct config_def;
/* Parse v into c; false, with why filled, when v is not acceptable. */
typedef bool (*config_parse_fn)(const struct config_def *d, const char *v,
				struct topic_config *c, char *why, size_t cap);

/* One topic-level key: the single description every use reads. */
struct config_def {
	const char *name;       /* KAFKA: TopicConfig.*_CONFIG */
	int8_t type;            /* CFG_*, as DescribeConfigs v3+ reports it */
	const char *dflt;       /* Kafka's default, as text */
	config_parse_fn parse;  /* the validator; stores into the field */
	size_t off, size;       /* its field in struct topic_config; size 0: none */
	int64_t min, max;       /* numbers: the accepted range */
	const char *broker_key; /* KAFKA: its broker synonym, or NULL */
	size_t boff, bsize;     /* that synonym in struct topic_broker_config */
	const char *doc;        /* DescribeConfigs v3+ documentation */
};

/* One broker key DescribeConfigs shows (static, read-only). */
struct broker_def {
	const char *name;
	int8_t type;
	size_t off, size; /* in struct topic_broker_config */
};

/* One config entry as DescribeConfigs shows it: the synonyms in order of
 * precedence; the first one gives value and source. */
struct config_entry {
	const char *name, *value, *doc;
	int8_t type, source;
	bool read_only;
	struct config_synonym {
		const char *name, *value;
		int8_t source;
	} syn[3];
	int nsyn;
};

/* One resource of a DescribeConfigs request. */
struct describe_resource {
	int8_t type;           /* RESOURCE_* */
	struct wire_str name;
	int32_t nkeys;         /* -1: every key */
	struct wire_str *keys; /* owned array of views into the request */
};

/* The decoded DescribeConfigsRequest. */
struct describe_req {
	int32_t n;
	struct describe_resource *res; /* owned */
	bool synonyms;                 /* include_synonyms, v1+ */
	bool documentation;            /* include_documentation, v3+ */
};

/* One key of an AlterConfigs or IncrementalAlterConfigs resource. */
struct alter_entry {
	struct wire_str name;
	int8_t op;             /* OP_*; OP_SET for AlterConfigs */
	struct wire_str value; /* len -1: null */
};

struct alter_resource {
	int8_t type;
	struct wire_str name;
	int32_t n;
	struct alter_entry *e; /* owned */
};

/* The decoded AlterConfigsRequest or IncrementalAlterConfigsRequest. */
struct alter_req {
	int32_t n;
	struct alter_resource *res; /* owned */
	bool validate_only;
	bool incremental;
};

static bool parse_number(const struct config_def *d, const char *v,
			 struct topic_config *c, char *why, size_t cap);
static bool parse_bool(const struct config_def *d, const char *v,
		       struct topic_config *c, char *why, size_t cap);
static bool parse_ratio(const struct config_def *d, const char *v,
			struct topic_config *c, char *why, size_t cap);
static bool parse_timestamp_type(const struct config_def *d, const char *v,
				 struct topic_config *c, char *why, size_t cap);
static bool parse_compression(const struct config_def *d, const char *v,
			      struct topic_config *c, char *why, size_t cap);
static bool parse_cleanup_policy(const struct config_def *d, const char *v,
				 struct topic_config *c, char *why, size_t cap);

/* INVARIANT 1: KAFKA: LogConfig's topic keys, defaults and validators, in
 * alphabetical order as DescribeConfigs lists them. */
static const struct config_def config_defs[] = {
	{"cleanup.policy", CFG_LIST, "delete", parse_cleanup_policy, NO_FIELD,
	 0, 0, "log.cleanup.policy", NO_FIELD,
	 "delete old segments, compact to the latest record per key, or both"},
	{"compression.type", CFG_STRING, "producer", parse_compression,
	 NO_FIELD, 0, 0, "compression.type", NO_FIELD,
	 "samsa keeps batches as the producer compressed them"},
	{"delete.retention.ms", CFG_LONG, "86400000", parse_number,
	 TOPIC_FIELD(delete_retention_ms), 0, INT64_MAX,
	 "log.cleaner.delete.retention.ms", NO_FIELD,
	 "how long tombstones stay in a compacted topic"},
	{"file.delete.delay.ms", CFG_LONG, "60000", parse_number, NO_FIELD, 0,
	 INT64_MAX, "log.segment.delete.delay.ms", NO_FIELD,
	 "wait before a file is deleted (samsa deletes at once)"},
	{"flush.messages", CFG_LONG, "9223372036854775807", parse_number,
	 TOPIC_FIELD(log.flush_messages), 1, INT64_MAX,
	 "log.flush.interval.messages", BROKER_FIELD(log_defaults.flush_messages),
	 "fsync the log after this many messages"},
	{"flush.ms", CFG_LONG, "9223372036854775807", parse_number,
	 TOPIC_FIELD(log.flush_ms), 0, INT64_MAX, "log.flush.interval.ms",
	 BROKER_FIELD(log_defaults.flush_ms),
	 "fsync the log when this long passed since the last fsync"},
	{"index.interval.bytes", CFG_INT, "4096", parse_number,
	 TOPIC_FIELD(log.index_interval_bytes), 0, INT32_MAX,
	 "log.index.interval.bytes",
	 BROKER_FIELD(log_defaults.index_interval_bytes),
	 "bytes of log between two offset index entries"},
	{"max.compaction.lag.ms", CFG_LONG, "9223372036854775807", parse_number,
	 TOPIC_FIELD(max_compaction_lag_ms), 1, INT64_MAX,
	 "log.cleaner.max.compaction.lag.ms", NO_FIELD,
	 "longest a record stays uncompacted"},
	{"max.message.bytes", CFG_INT, "1048588", parse_number,
	 TOPIC_FIELD(max_message_bytes), 0, INT32_MAX, "message.max.bytes",
	 BROKER_FIELD(message_max_bytes), "largest record batch accepted"},
	{"message.timestamp.type", CFG_STRING, "CreateTime",
	 parse_timestamp_type, NO_FIELD, 0, 0, "log.message.timestamp.type",
	 NO_FIELD, "CreateTime keeps the producer's clock, LogAppendTime "
	 "stamps the broker's"},
	{"min.cleanable.dirty.ratio", CFG_DOUBLE, "0.5", parse_ratio,
	 TOPIC_FIELD(min_cleanable_dirty_ratio), 0, 1,
	 "log.cleaner.min.cleanable.ratio", NO_FIELD,
	 "dirty share of the log that starts a compaction"},
	{"min.compaction.lag.ms", CFG_LONG, "0", parse_number,
	 TOPIC_FIELD(min_compaction_lag_ms), 0, INT64_MAX,
	 "log.cleaner.min.compaction.lag.ms", NO_FIELD,
	 "shortest a record stays uncompacted"},
	{"min.insync.replicas", CFG_INT, "1", parse_number,
	 TOPIC_FIELD(min_insync_replicas), 1, INT32_MAX, "min.insync.replicas",
	 BROKER_FIELD(min_insync_replicas),
	 "in-sync replicas an acks=all write needs"},
	{"preallocate", CFG_BOOLEAN, "false", parse_bool, NO_FIELD, 0, 0,
	 "log.preallocate", NO_FIELD, "preallocate segment files (samsa does not)"},
	{"retention.bytes", CFG_LONG, "-1", parse_number,
	 TOPIC_FIELD(log.retention_bytes), INT64_MIN, INT64_MAX,
	 "log.retention.bytes", BROKER_FIELD(log_defaults.retention_bytes),
	 "delete old segments beyond this size; -1: no limit"},
	{"retention.ms", CFG_LONG, "604800000", parse_number,
	 TOPIC_FIELD(log.retention_ms), -1, INT64_MAX, "log.retention.ms",
	 BROKER_FIELD(log_defaults.retention_ms),
	 "delete segments older than this; -1: keep forever"},
	/* KAFKA: at least LegacyRecord.RECORD_OVERHEAD_V0, 14 bytes. */
	{"segment.bytes", CFG_INT, "1073741824", parse_number,
	 TOPIC_FIELD(log.segment_bytes), 14, INT32_MAX, "log.segment.bytes",
	 BROKER_FIELD(log_defaults.segment_bytes), "size at which a segment rolls"},
	/* SIMPLIFICATION: Kafka accepts 4; one time index entry needs 12. */
	{"segment.index.bytes", CFG_INT, "10485760", parse_number,
	 TOPIC_FIELD(log.segment_index_bytes), IDX_TIME_ENTRY_SIZE, INT32_MAX,
	 "log.index.size.max.bytes",
	 BROKER_FIELD(log_defaults.segment_index_bytes),
	 "size of each segment's index files"},
	{"segment.jitter.ms", CFG_LONG, "0", parse_number, NO_FIELD, 0,
	 INT64_MAX, "log.roll.jitter.ms", NO_FIELD,
	 "random jitter on segment.ms (samsa uses none)"},
	{"segment.ms", CFG_LONG, "604800000", parse_number,
	 TOPIC_FIELD(log.segment_ms), 1, INT64_MAX, "log.roll.ms",
	 BROKER_FIELD(log_defaults.segment_ms), "age at which a segment rolls"},
	{"unclean.leader.election.enable", CFG_BOOLEAN, "false", parse_bool,
	 TOPIC_FIELD(unclean_leader_election_enable), 0, 0,
	 "unclean.leader.election.enable", NO_FIELD,
	 "let an out-of-sync replica lead (chapter 08)"},
};

/* The server.properties keys DescribeConfigs shows for this node. */
static const struct broker_def broker_defs[] = {
	{"auto.create.topics.enable", CFG_BOOLEAN,
	 BROKER_FIELD(auto_create_topics)},
	{"broker.rack", CFG_STRING, BROKER_FIELD(rack)},
	{"default.replication.factor", CFG_INT,
	 BROKER_FIELD(default_replication_factor)},
	{"delete.topic.enable", CFG_BOOLEAN, BROKER_FIELD(delete_topic_enable)},
	{"log.dirs", CFG_STRING, BROKER_FIELD(log_dir)},
	{"log.flush.interval.messages", CFG_LONG,
	 BROKER_FIELD(log_defaults.flush_messages)},
	{"log.flush.interval.ms", CFG_LONG, BROKER_FIELD(log_defaults.flush_ms)},
	{"log.index.interval.bytes", CFG_INT,
	 BROKER_FIELD(log_defaults.index_interval_bytes)},
	{"log.index.size.max.bytes", CFG_INT,
	 BROKER_FIELD(log_defaults.segment_index_bytes)},
	{"log.retention.bytes", CFG_LONG,
	 BROKER_FIELD(log_defaults.retention_bytes)},
	{"log.retention.check.interval.ms", CFG_LONG,
	 BROKER_FIELD(log_retention_check_interval_ms)},
	{"log.retention.ms", CFG_LONG, BROKER_FIELD(log_defaults.retention_ms)},
	{"log.roll.ms", CFG_LONG, BROKER_FIELD(log_defaults.segment_ms)},
	{"log.segment.bytes", CFG_INT, BROKER_FIELD(log_defaults.segment_bytes)},
	{"message.max.bytes", CFG_INT, BROKER_FIELD(message_max_bytes)},
	{"min.insync.replicas", CFG_INT, BROKER_FIELD(min_insync_replicas)},
	{"node.id", CFG_INT, BROKER_FIELD(node_id)},
	{"num.partitions", CFG_INT, BROKER_FIELD(num_partitions)},
};

/* ---- Prototypes of the static helpers, in reading order ---- */

static const struct config_def *config_def_find(const char *name);
static void config_describe(const struct topic_manager *tm,
			    const struct topic_overrides *o,
			    const struct config_def *d, char *buf,
			    struct config_entry *e);
static void field_text(const void *base, size_t off, size_t size,
		       int8_t type, char *buf, size_t cap);
static const char *list_next(const char **p, size_t *len);
static int describe_decode(struct wire_reader *r, int16_t v,
			   struct describe_req *q);
static void describe_write(struct wire_writer *w, int16_t v,
			   struct topic_manager *tm, const struct describe_req *q,
			   const struct describe_resource *d);
static void describe_write_entry(struct wire_writer *w, int16_t v,
				 const struct describe_req *q,
				 const struct config_entry *e);
static int alter_decode(struct wire_reader *r, struct alter_req *q);
static void alter_resource(struct topic_manager *tm, const struct alter_req *q,
			   const struct alter_resource *a,
			   struct topic_result *res);
static bool alter_entry_apply(const struct topic_manager *tm,
			      struct topic_overrides *o,
			      const struct alter_resource *a, int32_t k,
			      struct topic_result *res);
static const struct config_def *alter_entry_key(const struct alter_resource *a,
						int32_t k, char *key,
						struct topic_result *res);
static bool list_has(const char *list, const char *item, size_t len);
static void list_add(char *out, size_t cap, const char *item, size_t n);
static void list_edit(const char *cur, const char *val, bool add, char *out,
		      size_t cap);
static bool wire_copy(struct wire_str s, char *out, size_t cap);

/* ---- Building a topic's config ---- */

/* INVARIANT 2: each row's value goes through the row's validator, which
 * stores it into the struct; any failure names the key and the reason. */
int topic_config_build(const struct topic_manager *tm,
		       const struct topic_overrides *o, struct topic_config *out,
		       struct topic_result *res)
{
	struct topic_config c;
	char buf[CONFIG_VALUE_MAX], why[128];
	memset(&c, 0, sizeof c);
	for (size_t i = 0; i < o->n; i++)
		if (!config_def_find(o->names[i])) {
			topic_result_set(res, KAFKA_ERR_INVALID_CONFIG,
					 "Unknown topic config name: %s",
					 o->names[i]);
			return KB_ERR_INVAL;
		}
	for (size_t i = 0; i < KB_ARRAY_LEN(config_defs); i++) {
		const struct config_def *d = &config_defs[i];
		struct config_entry e;
		config_describe(tm, o, d, buf, &e);
		if (!d->parse(d, e.value, &c, why, sizeof why)) {
			topic_result_set(res, KAFKA_ERR_INVALID_CONFIG,
					 "Invalid value %s for configuration "
					 "%s: %s", e.value, d->name, why);
			return KB_ERR_INVAL;
		}
	}
	*out = c;
	return KB_OK;
}

static const struct config_def *config_def_find(const char *name)
{
	for (size_t i = 0; i < KB_ARRAY_LEN(config_defs); i++)
		if (strcmp(config_defs[i].name, name) == 0)
			return &config_defs[i];
	return NULL;
}

/* KAFKA: ConfigHelper.createTopicConfigEntry: the synonyms in order of
 * precedence (topic override, static broker value, broker default). buf
 * (CONFIG_VALUE_MAX bytes) holds the broker value's text. */
static void config_describe(const struct topic_manager *tm,
			    const struct topic_overrides *o,
			    const struct config_def *d, char *buf,
			    struct config_entry *e)
{
	const char *v = topic_overrides_get(o, d->name);
	*e = (struct config_entry){.name = d->name, .doc = d->doc,
				   .type = d->type};
	if (v)
		e->syn[e->nsyn++] = (struct config_synonym){d->name, v,
							    SOURCE_TOPIC};
	if (d->bsize) {
		field_text(topic_manager_config(tm), d->boff, d->bsize, d->type,
			   buf, CONFIG_VALUE_MAX);
		if (strcmp(buf, d->dflt) != 0)
			e->syn[e->nsyn++] = (struct config_synonym){
				d->broker_key, buf, SOURCE_STATIC_BROKER};
	}
	if (d->broker_key)
		e->syn[e->nsyn++] = (struct config_synonym){
			d->broker_key, d->dflt, SOURCE_DEFAULT};
	e->value = e->nsyn ? e->syn[0].value : d->dflt;
	e->source = e->nsyn ? e->syn[0].source : SOURCE_DEFAULT;
}

/* A struct field as config text: numbers by their width, bools, strings. */
static void field_text(const void *base, size_t off, size_t size,
		       int8_t type, char *buf, size_t cap)
{
	const uint8_t *p = (const uint8_t *)base + off;
	int64_t v = 0;
	int32_t v32;
	int16_t v16;
	if (type == CFG_STRING) {
		snprintf(buf, cap, "%.*s", (int)size, (const char *)p);
		return;
	}
	if (type == CFG_BOOLEAN) {
		snprintf(buf, cap, "%s", *(const bool *)p ? "true" : "false");
		return;
	}
	if (size == 8)
		memcpy(&v, p, 8);
	else if (size == 4 && memcpy(&v32, p, 4))
		v = v32;
	else if (size == 2 && memcpy(&v16, p, 2))
		v = v16;
	snprintf(buf, cap, "%" PRId64, v);
}

/* The CreateTopics v5+ "configs": every key with its value and source. */
void topic_config_write_all(struct wire_writer *w,
			    const struct topic_manager *tm,
			    const struct topic_overrides *o)
{
	char buf[CONFIG_VALUE_MAX];
	wire_write_array_len(w, (int32_t)KB_ARRAY_LEN(config_defs));
	for (size_t i = 0; i < KB_ARRAY_LEN(config_defs); i++) {
		struct config_entry e;
		config_describe(tm, o, &config_defs[i], buf, &e);
		wire_write_string(w, wire_str_c(e.name));
		wire_write_string(w, wire_str_c(e.value));
		wire_write_bool(w, false); /* read_only */
		wire_write_i8(w, e.source);
		wire_write_bool(w, false); /* is_sensitive */
		wire_write_tags(w);
	}
}

/* ---- Overrides: a topic's own settings ---- */

const char *topic_overrides_get(const struct topic_overrides *o,
				 const char *name)
{
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->names[i], name) == 0)
			return o->values[i];
	return NULL;
}

/* Replace name's value, or add it. Copies both strings. */
int topic_overrides_set(struct topic_overrides *o, const char *name,
			 const char *value)
{
	char *v = strdup(value), *n = NULL;
	for (size_t i = 0; v && i < o->n; i++)
		if (strcmp(o->names[i], name) == 0) {
			free(o->values[i]);
			o->values[i] = v;
			return KB_OK;
		}
	char **names = v ? realloc(o->names, (o->n + 1) * sizeof *names) : NULL;
	if (names)
		o->names = names;
	char **values = names ? realloc(o->values, (o->n + 1) * sizeof *values)
			      : NULL;
	if (values)
		o->values = values;
	if (!values || !(n = strdup(name))) {
		free(v);
		return KB_ERR_NOMEM;
	}
	o->names[o->n] = n;
	o->values[o->n++] = v;
	return KB_OK;
}

void topic_overrides_del(struct topic_overrides *o, const char *name)
{
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->names[i], name) == 0) {
			free(o->names[i]);
			free(o->values[i]);
			o->names[i] = o->names[o->n - 1];
			o->values[i] = o->values[--o->n];
			return;
		}
}

int topic_overrides_copy(struct topic_overrides *dst,
			  const struct topic_overrides *src)
{
	int rc = KB_OK;
	for (size_t i = 0; rc == KB_OK && i < src->n; i++)
		rc = topic_overrides_set(dst, src->names[i], src->values[i]);
	return rc;
}

void topic_overrides_free(struct topic_overrides *o)
{
	for (size_t i = 0; i < o->n; i++) {
		free(o->names[i]);
		free(o->values[i]);
	}
	free(o->names);
	free(o->values);
	*o = (struct topic_overrides){0};
}

/* ---- Validators ---- */

/* KAFKA: ConfigDef.Type.INT/LONG with a Range validator. */
static bool parse_number(const struct config_def *d, const char *v,
			 struct topic_config *c, char *why, size_t cap)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno == ERANGE ||
	    (d->type == CFG_INT && (x < INT32_MIN || x > INT32_MAX))) {
		snprintf(why, cap, "Not a number of type %s",
			 d->type == CFG_INT ? "INT" : "LONG");
		return false;
	}
	if (x < d->min || x > d->max) {
		snprintf(why, cap, "Value must be at least %" PRId64
			 " and at most %" PRId64, d->min, d->max);
		return false;
	}
	int64_t x64 = x;
	int32_t x32 = (int32_t)x;
	if (d->size == 8)
		memcpy((uint8_t *)c + d->off, &x64, 8);
	else if (d->size == 4)
		memcpy((uint8_t *)c + d->off, &x32, 4);
	return true;
}

/* KAFKA: ConfigDef.Type.BOOLEAN: "true" or "false", any case. */
static bool parse_bool(const struct config_def *d, const char *v,
		       struct topic_config *c, char *why, size_t cap)
{
	bool t = strcasecmp(v, "true") == 0;
	if (!t && strcasecmp(v, "false") != 0) {
		snprintf(why, cap, "Expected value to be either true or false");
		return false;
	}
	if (d->size)
		memcpy((uint8_t *)c + d->off, &t, sizeof t);
	return true;
}

static bool parse_ratio(const struct config_def *d, const char *v,
			struct topic_config *c, char *why, size_t cap)
{
	char *end;
	double x = strtod(v, &end);
	if (*v == '\0' || *end != '\0' ||
	    !(x >= (double)d->min && x <= (double)d->max)) {
		snprintf(why, cap, "Value must be a number between %" PRId64
			 " and %" PRId64, d->min, d->max);
		return false;
	}
	memcpy((uint8_t *)c + d->off, &x, sizeof x);
	return true;
}

static bool parse_timestamp_type(const struct config_def *d, const char *v,
				 struct topic_config *c, char *why, size_t cap)
{
	(void)d;
	c->log_append_time = strcmp(v, "LogAppendTime") == 0;
	if (c->log_append_time || strcmp(v, "CreateTime") == 0)
		return true;
	snprintf(why, cap, "String must be one of: CreateTime, LogAppendTime");
	return false;
}

/* KAFKA: BrokerCompressionType names. */
static bool parse_compression(const struct config_def *d, const char *v,
			      struct topic_config *c, char *why, size_t cap)
{
	static const char *const ok[] = {"uncompressed", "zstd", "lz4",
					 "snappy", "gzip", "producer"};
	(void)d;
	(void)c;
	for (size_t i = 0; i < KB_ARRAY_LEN(ok); i++)
		if (strcmp(v, ok[i]) == 0)
			return true;
	snprintf(why, cap, "String must be one of: uncompressed, zstd, lz4, "
		 "snappy, gzip, producer");
	return false;
}

/* KAFKA: ValidList.in("compact", "delete"), not empty. */
static bool parse_cleanup_policy(const struct config_def *d, const char *v,
				 struct topic_config *c, char *why, size_t cap)
{
	const char *p = v, *item;
	size_t n;
	(void)d;
	c->cleanup_delete = c->cleanup_compact = false;
	while ((item = list_next(&p, &n))) {
		if (n == 6 && strncmp(item, "delete", 6) == 0)
			c->cleanup_delete = true;
		else if (n == 7 && strncmp(item, "compact", 7) == 0)
			c->cleanup_compact = true;
		else
			break;
	}
	if (!item && (c->cleanup_delete || c->cleanup_compact))
		return true;
	snprintf(why, cap, "Value must be a list of delete and compact");
	return false;
}

/* The next item of a comma-separated list, trimmed of spaces; NULL at the
 * end. An empty item ("a,,b") is returned with length 0. */
static const char *list_next(const char **p, size_t *len)
{
	const char *s = *p;
	if (!s)
		return NULL;
	size_t n = strcspn(s, ",");
	*p = s[n] == ',' ? s + n + 1 : NULL;
	while (n > 0 && *s == ' ')
		s++, n--;
	while (n > 0 && s[n - 1] == ' ')
		n--;
	*len = n;
	return s;
}

/* ---- DescribeConfigs (api key 32, v1-4) ---- */

int handle_describe_configs(struct net_request *req, struct net_response *resp)
{
	struct topic_manager *tm = req->ctx;
	struct wire_writer *w = &resp->w;
	int16_t v = req->header.api_version;
	struct describe_req q = {0};
	int rc = describe_decode(&req->body, v, &q);
	if (rc == KB_OK) {
		wire_write_i32(w, 0); /* throttle_time_ms */
		wire_write_array_len(w, q.n);
		for (int32_t i = 0; i < q.n; i++)
			describe_write(w, v, tm, &q, &q.res[i]);
		wire_write_tags(w);
		rc = wire_writer_status(w);
	}
	for (int32_t i = 0; i < q.n; i++)
		free(q.res[i].keys);
	free(q.res);
	return rc;
}

static int describe_decode(struct wire_reader *r, int16_t v,
			   struct describe_req *q)
{
	/* A resource is at least type, name, keys (and tags). */
	q->n = wire_read_array_len(r, r->flexible ? 4 : 7);
	if (q->n > 0 && !(q->res = calloc((size_t)q->n, sizeof *q->res)))
		return KB_ERR_NOMEM;
	for (int32_t i = 0; i < q->n; i++) {
		struct describe_resource *d = &q->res[i];
		d->type = wire_read_i8(r);
		d->name = wire_read_string(r);
		d->nkeys = wire_read_nullable_array_len(r, r->flexible ? 1 : 2);
		if (d->nkeys > 0 &&
		    !(d->keys = calloc((size_t)d->nkeys, sizeof *d->keys)))
			return KB_ERR_NOMEM;
		for (int32_t k = 0; k < d->nkeys; k++)
			d->keys[k] = wire_read_string(r);
		wire_read_tags(r);
	}
	q->synonyms = v >= 1 && wire_read_bool(r);
	q->documentation = v >= 3 && wire_read_bool(r);
	wire_read_tags(r);
	return wire_reader_status(r);
}

/* KAFKA: configuration_keys null lists every key; unknown keys are
 * silently left out. */
static bool describe_wanted(const struct describe_resource *d,
			    const char *name)
{
	for (int32_t k = 0; k < d->nkeys; k++)
		if (wire_str_eq(d->keys[k], name))
			return true;
	return d->nkeys < 0;
}

/* A topic resource: every wanted row of config_defs. */
static void describe_topic(struct wire_writer *w, int16_t v,
			   const struct topic_manager *tm,
			   const struct describe_req *q,
			   const struct describe_resource *d,
			   const struct topic *t)
{
	char buf[CONFIG_VALUE_MAX];
	int32_t n = 0;
	for (size_t i = 0; i < KB_ARRAY_LEN(config_defs); i++)
		n += describe_wanted(d, config_defs[i].name);
	wire_write_array_len(w, n);
	for (size_t i = 0; i < KB_ARRAY_LEN(config_defs); i++) {
		struct config_entry e;
		if (!describe_wanted(d, config_defs[i].name))
			continue;
		config_describe(tm, &t->overrides, &config_defs[i], buf, &e);
		describe_write_entry(w, v, q, &e);
	}
}

/* A broker resource: read-only keys, STATIC_BROKER_CONFIG where
 * server.properties differs from Kafka's default. The cluster-wide
 * resource "" holds dynamic defaults, of which samsa has none. */
static void describe_broker(struct wire_writer *w, int16_t v,
			    const struct topic_manager *tm,
			    const struct describe_req *q,
			    const struct describe_resource *d)
{
	struct topic_broker_config dflt;
	char val[CONFIG_VALUE_MAX], def[CONFIG_VALUE_MAX];
	int32_t n = 0;
	topic_broker_config_defaults(&dflt);
	for (size_t i = 0; d->name.len > 0 && i < KB_ARRAY_LEN(broker_defs); i++)
		n += describe_wanted(d, broker_defs[i].name);
	wire_write_array_len(w, n);
	for (size_t i = 0; d->name.len > 0 && i < KB_ARRAY_LEN(broker_defs); i++) {
		const struct broker_def *b = &broker_defs[i];
		if (!describe_wanted(d, b->name))
			continue;
		field_text(topic_manager_config(tm), b->off, b->size, b->type,
			   val, sizeof val);
		field_text(&dflt, b->off, b->size, b->type, def, sizeof def);
		bool set = strcmp(val, def) != 0;
		struct config_entry e = {b->name, val, NULL, b->type,
			set ? SOURCE_STATIC_BROKER : SOURCE_DEFAULT, true,
			{{b->name, val, SOURCE_STATIC_BROKER},
			 {b->name, def, SOURCE_DEFAULT}}, 2};
		if (!set)
			e.syn[0] = e.syn[1], e.nsyn = 1;
		describe_write_entry(w, v, q, &e);
	}
}

/* Check the resource, then write its result (KAFKA: INVALID_REQUEST for a
 * broker id that is not ours or a type other than topic and broker). */
static void describe_write(struct wire_writer *w, int16_t v,
			   struct topic_manager *tm, const struct describe_req *q,
			   const struct describe_resource *d)
{
	struct topic_result res = {0};
	char name[TOPIC_NAME_MAX + 1], id[16];
	struct topic *t = NULL;
	snprintf(id, sizeof id, "%" PRId32, topic_manager_config(tm)->node_id);
	if (d->type == RESOURCE_TOPIC && !topic_name_copy(d->name, name))
		topic_result_set(&res, KAFKA_ERR_INVALID_TOPIC_EXCEPTION, NULL);
	else if (d->type == RESOURCE_TOPIC && !(t = topic_find(tm, name)))
		topic_result_set(&res, KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION,
				 "Topic %s does not exist", name);
	else if (d->type == RESOURCE_BROKER && d->name.len > 0 &&
		 !wire_str_eq(d->name, id))
		topic_result_set(&res, KAFKA_ERR_INVALID_REQUEST, "Unexpected "
				 "broker id, expected %s or empty string", id);
	else if (d->type != RESOURCE_TOPIC && d->type != RESOURCE_BROKER)
		topic_result_set(&res, KAFKA_ERR_INVALID_REQUEST,
				 "Unsupported resource type: %d", d->type);
	wire_write_i16(w, res.error);
	wire_write_string(w, topic_result_message(&res));
	wire_write_i8(w, d->type);
	wire_write_string(w, d->name);
	if (res.error != KAFKA_ERR_NONE)
		wire_write_array_len(w, 0);
	else if (t)
		describe_topic(w, v, tm, q, d, t);
	else
		describe_broker(w, v, tm, q, d);
	wire_write_tags(w);
	free(res.message);
}

/* One DescribeConfigsResourceResult, field by field for version v. */
static void describe_write_entry(struct wire_writer *w, int16_t v,
				 const struct describe_req *q,
				 const struct config_entry *e)
{
	wire_write_string(w, wire_str_c(e->name));
	wire_write_string(w, wire_str_c(e->value));
	wire_write_bool(w, e->read_only);
	if (v == 0)
		wire_write_bool(w, e->source == SOURCE_DEFAULT); /* is_default */
	if (v >= 1)
		wire_write_i8(w, e->source);
	wire_write_bool(w, false); /* is_sensitive: no secrets among them */
	if (v >= 1) {
		int32_t n = q->synonyms ? e->nsyn : 0;
		wire_write_array_len(w, n);
		for (int32_t i = 0; i < n; i++) {
			wire_write_string(w, wire_str_c(e->syn[i].name));
			wire_write_string(w, wire_str_c(e->syn[i].value));
			wire_write_i8(w, e->syn[i].source);
			wire_write_tags(w);
		}
	}
	if (v >= 3) {
		wire_write_i8(w, e->type);
		wire_write_string(w, wire_str_c(q->documentation ? e->doc : NULL));
	}
	wire_write_tags(w);
}

/* ---- AlterConfigs (33, v0-2) and IncrementalAlterConfigs (44, v0-1) ---- */

/* Both have the same response; the request differs only by the
 * operation byte of each key. */
static int alter_handle(struct net_request *req, struct net_response *resp,
			bool incremental)
{
	struct topic_manager *tm = req->ctx;
	struct wire_writer *w = &resp->w;
	struct alter_req q = {.incremental = incremental};
	int rc = alter_decode(&req->body, &q);
	if (rc == KB_OK) {
		wire_write_i32(w, 0); /* throttle_time_ms */
		wire_write_array_len(w, q.n);
		for (int32_t i = 0; i < q.n; i++) {
			struct topic_result res = {0};
			alter_resource(tm, &q, &q.res[i], &res);
			wire_write_i16(w, res.error);
			wire_write_string(w, topic_result_message(&res));
			wire_write_i8(w, q.res[i].type);
			wire_write_string(w, q.res[i].name);
			wire_write_tags(w);
			free(res.message);
		}
		wire_write_tags(w);
		rc = wire_writer_status(w);
	}
	for (int32_t i = 0; i < q.n; i++)
		free(q.res[i].e);
	free(q.res);
	return rc;
}

int handle_alter_configs(struct net_request *req, struct net_response *resp)
{
	return alter_handle(req, resp, false);
}

int handle_incremental_alter_configs(struct net_request *req,
				     struct net_response *resp)
{
	return alter_handle(req, resp, true);
}

static int alter_decode(struct wire_reader *r, struct alter_req *q)
{
	size_t entry_min = (r->flexible ? 3 : 4) + q->incremental;
	q->n = wire_read_array_len(r, r->flexible ? 4 : 7);
	if (q->n > 0 && !(q->res = calloc((size_t)q->n, sizeof *q->res)))
		return KB_ERR_NOMEM;
	for (int32_t i = 0; i < q->n; i++) {
		struct alter_resource *a = &q->res[i];
		a->type = wire_read_i8(r);
		a->name = wire_read_string(r);
		a->n = wire_read_array_len(r, entry_min);
		if (a->n > 0 && !(a->e = calloc((size_t)a->n, sizeof *a->e)))
			return KB_ERR_NOMEM;
		for (int32_t k = 0; k < a->n; k++) {
			a->e[k].name = wire_read_string(r);
			a->e[k].op = q->incremental ? wire_read_i8(r) : OP_SET;
			a->e[k].value = wire_read_nullable_string(r);
			wire_read_tags(r);
		}
		wire_read_tags(r);
	}
	q->validate_only = wire_read_bool(r);
	wire_read_tags(r);
	return wire_reader_status(r);
}

/* INVARIANT 3: build the new overrides from scratch (AlterConfigs replaces
 * them all) or from the current ones (incremental), validate the whole
 * result, and only then apply it. */
static void alter_resource(struct topic_manager *tm, const struct alter_req *q,
			   const struct alter_resource *a,
			   struct topic_result *res)
{
	char name[TOPIC_NAME_MAX + 1];
	struct topic_overrides o = {0};
	struct topic_config cfg;
	struct topic *t = NULL;
	if (a->type == RESOURCE_BROKER)
		topic_result_set(res, KAFKA_ERR_INVALID_REQUEST, "Broker configs "
				 "are static: set them in server.properties");
	else if (a->type != RESOURCE_TOPIC)
		topic_result_set(res, KAFKA_ERR_INVALID_REQUEST,
				 "Unsupported resource type: %d", a->type);
	else if (!topic_name_copy(a->name, name))
		topic_result_set(res, KAFKA_ERR_INVALID_TOPIC_EXCEPTION, NULL);
	else if (!(t = topic_find(tm, name)))
		topic_result_set(res, KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION,
				 "Topic %s does not exist", name);
	else if (q->incremental && topic_overrides_copy(&o, &t->overrides) != KB_OK)
		topic_result_set(res, KAFKA_ERR_UNKNOWN_SERVER_ERROR, NULL);
	for (int32_t k = 0; !res->error && k < a->n; k++)
		alter_entry_apply(tm, &o, a, k, res);
	if (!res->error && topic_config_build(tm, &o, &cfg, res) == KB_OK &&
	    !q->validate_only) {
		if (topic_reconfigure(tm, t, &o) != KB_OK)
			topic_result_set(res, KAFKA_ERR_UNKNOWN_SERVER_ERROR, NULL);
		return; /* o was taken */
	}
	topic_overrides_free(&o);
}

/* The row of key k of a, copied into key; NULL with res set for a key
 * named twice (KAFKA: INVALID_REQUEST) or unknown (INVALID_CONFIG). */
static const struct config_def *alter_entry_key(const struct alter_resource *a,
						int32_t k, char *key,
						struct topic_result *res)
{
	const struct alter_entry *e = &a->e[k];
	const struct config_def *d = NULL;
	for (int32_t j = 0; j < k; j++)
		if (a->e[j].name.len == e->name.len &&
		    !memcmp(a->e[j].name.p, e->name.p, (size_t)e->name.len)) {
			topic_result_set(res, KAFKA_ERR_INVALID_REQUEST,
					 "Error due to duplicate config keys");
			return NULL;
		}
	if (!wire_copy(e->name, key, CONFIG_VALUE_MAX) ||
	    !(d = config_def_find(key)))
		topic_result_set(res, KAFKA_ERR_INVALID_CONFIG, "Unknown topic "
				 "config name: %.*s", (int)e->name.len, e->name.p);
	return d;
}

/* Apply key k of a to o: SET, DELETE, or APPEND/SUBTRACT on a list key,
 * starting from its current value, default included (KAFKA:
 * ConfigAdminManager.prepareIncrementalConfigs). */
static bool alter_entry_apply(const struct topic_manager *tm,
			      struct topic_overrides *o,
			      const struct alter_resource *a, int32_t k,
			      struct topic_result *res)
{
	const struct alter_entry *e = &a->e[k];
	char key[CONFIG_VALUE_MAX], val[CONFIG_VALUE_MAX], out[CONFIG_VALUE_MAX];
	char broker[CONFIG_VALUE_MAX];
	const struct config_def *d = alter_entry_key(a, k, key, res);
	struct config_entry cur;
	if (d && e->op == OP_DELETE)
		topic_overrides_del(o, key);
	else if (d && (e->op < OP_SET || e->op > OP_SUBTRACT || e->value.len < 0))
		topic_result_set(res, KAFKA_ERR_INVALID_REQUEST, e->value.len < 0
				 ? "Null value not supported for : %s"
				 : "Unknown config operation for %s", key);
	else if (d && !wire_copy(e->value, val, sizeof val))
		topic_result_set(res, KAFKA_ERR_INVALID_CONFIG,
				 "Invalid value for configuration %s", key);
	else if (d && e->op != OP_SET && d->type != CFG_LIST)
		topic_result_set(res, KAFKA_ERR_INVALID_CONFIG, "Config value %s "
				 "is not allowed for config key: %s",
				 e->op == OP_APPEND ? "append" : "subtract", key);
	else if (d && e->op != OP_SET) {
		config_describe(tm, o, d, broker, &cur);
		list_edit(cur.value, val, e->op == OP_APPEND, out, sizeof out);
	}
	if (!d || res->error || e->op == OP_DELETE)
		return d && !res->error;
	if (topic_overrides_set(o, key, e->op == OP_SET ? val : out) != KB_OK)
		topic_result_set(res, KAFKA_ERR_UNKNOWN_SERVER_ERROR, NULL);
	return res->error == KAFKA_ERR_NONE;
}

/* True when list holds item (len bytes). */
static bool list_has(const char *list, const char *item, size_t len)
{
	const char *x;
	size_t n;
	while ((x = list_next(&list, &n)))
		if (n == len && strncmp(x, item, len) == 0)
			return true;
	return false;
}

/* Append item (n bytes) to the list in out, if it fits. */
static void list_add(char *out, size_t cap, const char *item, size_t n)
{
	size_t len = strlen(out);
	if (len + (len > 0) + n < cap)
		snprintf(out + len, cap - len, "%s%.*s", len ? "," : "", (int)n,
			 item);
}

/* APPEND adds val's items missing from cur; SUBTRACT drops val's items
 * from cur. The result goes to out as "a,b" (cur and out differ). */
static void list_edit(const char *cur, const char *val, bool add, char *out,
		      size_t cap)
{
	const char *p = cur, *x;
	size_t n;
	out[0] = '\0';
	while ((x = list_next(&p, &n)))
		if (n > 0 && (add || !list_has(val, x, n)))
			list_add(out, cap, x, n);
	for (p = val; add && (x = list_next(&p, &n));)
		if (n > 0 && !list_has(cur, x, n))
			list_add(out, cap, x, n);
}

/* Copy a wire string into a C buffer; false when null or too long. */
static bool wire_copy(struct wire_str s, char *out, size_t cap)
{
	if (s.len < 0 || (size_t)s.len >= cap || memchr(s.p, '\0', (size_t)s.len))
		return false;
	memcpy(out, s.p, (size_t)s.len);
	out[s.len] = '\0';
	return true;
}
