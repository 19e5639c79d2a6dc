/* SPDX-License-Identifier: MIT */
/*
 * Chapter 06 — topics, part 2: the config definitions.
 *
 * Concept:
 *   Every topic can change how its log behaves: how big a segment grows,
 *   how long records are kept, whose clock stamps them. A value comes from
 *   three layers: Kafka's default, the broker's server.properties (the
 *   "synonym", log.segment.bytes for segment.bytes), and the topic's own
 *   setting. One table, config_defs, names every key once with its type,
 *   default, synonym and validator; every use reads that table, so a key
 *   cannot be known to one and forgotten by another.
 *
 * Kafka:
 *   LogConfig / TopicConfig (keys and defaults), ConfigDef validators
 *   (INVALID_CONFIG "Invalid value x for configuration y: ..."),
 *   ConfigHelper.createTopicConfigEntry (sources and synonyms).
 *
 * Interface:
 *   - topic_config_build makes the effective struct topic_config of a set
 *     of overrides, or says which key is wrong and why.
 *   - topic_config_entry_at / _find / topic_config_broker_entry_at show a
 *     key as DescribeConfigs does: value, source, synonyms.
 *   - topic_reconfigure persists a validated set, then applies it.
 *
 * Invariants:
 *   1. Every key a client can read or write is a row of config_defs (topic)
 *      or broker_defs (broker); nothing else is accepted.
 *   2. An effective value is the topic's override, else the broker's
 *      synonym when it differs from Kafka's default, else the default; its
 *      source says which (TOPIC_CONFIG 1, STATIC_BROKER_CONFIG 4,
 *      DEFAULT_CONFIG 5).
 *
 * Simplifications:
 *   - Configs live in <log_dir>/__samsa_topic_configs/<id>.properties;
 *     KRaft keeps them as ConfigRecords in __cluster_metadata.
 *   - Keys samsa has no use for yet (compression.type, preallocate,
 *     segment.jitter.ms, file.delete.delay.ms) are validated and shown but
 *     change nothing.
 *
 * See also: docs/06_config_defs.md, diagrams/06_config_defs.dot,
 *   tests/06_topics_test.c; read before: 06_topics.c.
 *   Uses chapters 00 (base), 02 (index), 03 (log), 04 (codec).
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "00_base.h"
#include "02_index.h"
#include "03_log.h"
#include "04_codec.h"
#include "06_topics.h"

/* Largest properties file read back: 1 MiB. */
#define CONFIG_FILE_MAX (1024 * 1024)
/* Room for a validator's reason, NUL included. */
#define CONFIG_WHY_MAX 128
/* Offset and size of a field, for the tables below. */
#define TOPIC_FIELD(f) offsetof(struct topic_config, f), \
	sizeof(((struct topic_config *)0)->f)
#define BROKER_FIELD(f) offsetof(struct topic_broker_config, f), \
	sizeof(((struct topic_broker_config *)0)->f)
#define NO_FIELD 0, 0

struct config_def;
/* Parse v into c; false, with why filled, when v is not acceptable. */
typedef bool (*config_parse_fn)(const struct config_def *d, const char *v,
				struct topic_config *c, char why[CONFIG_WHY_MAX]);

/* One topic-level key: the single description every use reads. */
struct config_def {
	const char *name;       /* KAFKA: TopicConfig.*_CONFIG */
	int8_t type;            /* TOPIC_CFG_*, as DescribeConfigs v3+ reports it */
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

/* Where a value lives in a struct, and its type (for field_text). */
struct config_field {
	size_t off, size;
	int8_t type;
};

static bool parse_number(const struct config_def *d, const char *v,
			 struct topic_config *c, char why[CONFIG_WHY_MAX]);
static bool parse_bool(const struct config_def *d, const char *v,
		       struct topic_config *c, char why[CONFIG_WHY_MAX]);
static bool parse_ratio(const struct config_def *d, const char *v,
			struct topic_config *c, char why[CONFIG_WHY_MAX]);
static bool parse_timestamp_type(const struct config_def *d, const char *v,
				 struct topic_config *c, char why[CONFIG_WHY_MAX]);
static bool parse_compression(const struct config_def *d, const char *v,
			      struct topic_config *c, char why[CONFIG_WHY_MAX]);
static bool parse_cleanup_policy(const struct config_def *d, const char *v,
				 struct topic_config *c, char why[CONFIG_WHY_MAX]);

/* INVARIANT 1: KAFKA: LogConfig's topic keys, defaults and validators, in
 * alphabetical order as DescribeConfigs lists them. */
static const struct config_def config_defs[] = {
	{"cleanup.policy", TOPIC_CFG_LIST, "delete", parse_cleanup_policy, NO_FIELD,
	 0, 0, "log.cleanup.policy", NO_FIELD,
	 "delete old segments, compact to the latest record per key, or both"},
	{"compression.type", TOPIC_CFG_STRING, "producer", parse_compression,
	 NO_FIELD, 0, 0, "compression.type", NO_FIELD,
	 "samsa keeps batches as the producer compressed them"},
	{"delete.retention.ms", TOPIC_CFG_LONG, "86400000", parse_number,
	 TOPIC_FIELD(delete_retention_ms), 0, INT64_MAX,
	 "log.cleaner.delete.retention.ms", NO_FIELD,
	 "how long tombstones stay in a compacted topic"},
	{"file.delete.delay.ms", TOPIC_CFG_LONG, "60000", parse_number, NO_FIELD, 0,
	 INT64_MAX, "log.segment.delete.delay.ms", NO_FIELD,
	 "wait before a file is deleted (samsa deletes at once)"},
	{"flush.messages", TOPIC_CFG_LONG, "9223372036854775807", parse_number,
	 TOPIC_FIELD(log.flush_messages), 1, INT64_MAX,
	 "log.flush.interval.messages", BROKER_FIELD(log_defaults.flush_messages),
	 "fsync the log after this many messages"},
	{"flush.ms", TOPIC_CFG_LONG, "9223372036854775807", parse_number,
	 TOPIC_FIELD(log.flush_ms), 0, INT64_MAX, "log.flush.interval.ms",
	 BROKER_FIELD(log_defaults.flush_ms),
	 "fsync the log when this long passed since the last fsync"},
	{"index.interval.bytes", TOPIC_CFG_INT, "4096", parse_number,
	 TOPIC_FIELD(log.index_interval_bytes), 0, INT32_MAX,
	 "log.index.interval.bytes",
	 BROKER_FIELD(log_defaults.index_interval_bytes),
	 "bytes of log between two offset index entries"},
	{"max.compaction.lag.ms", TOPIC_CFG_LONG, "9223372036854775807", parse_number,
	 TOPIC_FIELD(max_compaction_lag_ms), 1, INT64_MAX,
	 "log.cleaner.max.compaction.lag.ms", NO_FIELD,
	 "longest a record stays uncompacted"},
	{"max.message.bytes", TOPIC_CFG_INT, "1048588", parse_number,
	 TOPIC_FIELD(max_message_bytes), 0, INT32_MAX, "message.max.bytes",
	 BROKER_FIELD(message_max_bytes), "largest record batch accepted"},
	{"message.timestamp.type", TOPIC_CFG_STRING, "CreateTime",
	 parse_timestamp_type, NO_FIELD, 0, 0, "log.message.timestamp.type",
	 NO_FIELD, "CreateTime keeps the producer's clock, LogAppendTime "
	 "stamps the broker's"},
	{"min.cleanable.dirty.ratio", TOPIC_CFG_DOUBLE, "0.5", parse_ratio,
	 TOPIC_FIELD(min_cleanable_dirty_ratio), 0, 1,
	 "log.cleaner.min.cleanable.ratio", NO_FIELD,
	 "dirty share of the log that starts a compaction"},
	{"min.compaction.lag.ms", TOPIC_CFG_LONG, "0", parse_number,
	 TOPIC_FIELD(min_compaction_lag_ms), 0, INT64_MAX,
	 "log.cleaner.min.compaction.lag.ms", NO_FIELD,
	 "shortest a record stays uncompacted"},
	{"min.insync.replicas", TOPIC_CFG_INT, "1", parse_number,
	 TOPIC_FIELD(min_insync_replicas), 1, INT32_MAX, "min.insync.replicas",
	 BROKER_FIELD(min_insync_replicas),
	 "in-sync replicas an acks=all write needs"},
	{"preallocate", TOPIC_CFG_BOOLEAN, "false", parse_bool, NO_FIELD, 0, 0,
	 "log.preallocate", NO_FIELD, "preallocate segment files (samsa does not)"},
	{"retention.bytes", TOPIC_CFG_LONG, "-1", parse_number,
	 TOPIC_FIELD(log.retention_bytes), INT64_MIN, INT64_MAX,
	 "log.retention.bytes", BROKER_FIELD(log_defaults.retention_bytes),
	 "delete old segments beyond this size; -1: no limit"},
	{"retention.ms", TOPIC_CFG_LONG, "604800000", parse_number,
	 TOPIC_FIELD(log.retention_ms), -1, INT64_MAX, "log.retention.ms",
	 BROKER_FIELD(log_defaults.retention_ms),
	 "delete segments older than this; -1: keep forever"},
	/* KAFKA: at least LegacyRecord.RECORD_OVERHEAD_V0, 14 bytes. */
	{"segment.bytes", TOPIC_CFG_INT, "1073741824", parse_number,
	 TOPIC_FIELD(log.segment_bytes), 14, INT32_MAX, "log.segment.bytes",
	 BROKER_FIELD(log_defaults.segment_bytes), "size at which a segment rolls"},
	/* SIMPLIFICATION: Kafka accepts 4; one time index entry needs 12. */
	{"segment.index.bytes", TOPIC_CFG_INT, "10485760", parse_number,
	 TOPIC_FIELD(log.segment_index_bytes), IDX_TIME_ENTRY_SIZE, INT32_MAX,
	 "log.index.size.max.bytes",
	 BROKER_FIELD(log_defaults.segment_index_bytes),
	 "size of each segment's index files"},
	{"segment.jitter.ms", TOPIC_CFG_LONG, "0", parse_number, NO_FIELD, 0,
	 INT64_MAX, "log.roll.jitter.ms", NO_FIELD,
	 "random jitter on segment.ms (samsa uses none)"},
	{"segment.ms", TOPIC_CFG_LONG, "604800000", parse_number,
	 TOPIC_FIELD(log.segment_ms), 1, INT64_MAX, "log.roll.ms",
	 BROKER_FIELD(log_defaults.segment_ms), "age at which a segment rolls"},
	{"unclean.leader.election.enable", TOPIC_CFG_BOOLEAN, "false", parse_bool,
	 TOPIC_FIELD(unclean_leader_election_enable), 0, 0,
	 "unclean.leader.election.enable", NO_FIELD,
	 "let an out-of-sync replica lead (chapter 08)"},
};

/* The server.properties keys DescribeConfigs shows for this node. */
static const struct broker_def broker_defs[] = {
	{"auto.create.topics.enable", TOPIC_CFG_BOOLEAN,
	 BROKER_FIELD(auto_create_topics)},
	{"broker.rack", TOPIC_CFG_STRING, BROKER_FIELD(rack)},
	{"default.replication.factor", TOPIC_CFG_INT,
	 BROKER_FIELD(default_replication_factor)},
	{"delete.topic.enable", TOPIC_CFG_BOOLEAN, BROKER_FIELD(delete_topic_enable)},
	{"log.dirs", TOPIC_CFG_STRING, BROKER_FIELD(log_dir)},
	{"log.flush.interval.messages", TOPIC_CFG_LONG,
	 BROKER_FIELD(log_defaults.flush_messages)},
	{"log.flush.interval.ms", TOPIC_CFG_LONG, BROKER_FIELD(log_defaults.flush_ms)},
	{"log.index.interval.bytes", TOPIC_CFG_INT,
	 BROKER_FIELD(log_defaults.index_interval_bytes)},
	{"log.index.size.max.bytes", TOPIC_CFG_INT,
	 BROKER_FIELD(log_defaults.segment_index_bytes)},
	{"log.retention.bytes", TOPIC_CFG_LONG,
	 BROKER_FIELD(log_defaults.retention_bytes)},
	{"log.retention.check.interval.ms", TOPIC_CFG_LONG,
	 BROKER_FIELD(log_retention_check_interval_ms)},
	{"log.retention.ms", TOPIC_CFG_LONG, BROKER_FIELD(log_defaults.retention_ms)},
	{"log.roll.ms", TOPIC_CFG_LONG, BROKER_FIELD(log_defaults.segment_ms)},
	{"log.segment.bytes", TOPIC_CFG_INT, BROKER_FIELD(log_defaults.segment_bytes)},
	{"message.max.bytes", TOPIC_CFG_INT, BROKER_FIELD(message_max_bytes)},
	{"min.insync.replicas", TOPIC_CFG_INT, BROKER_FIELD(min_insync_replicas)},
	{"node.id", TOPIC_CFG_INT, BROKER_FIELD(node_id)},
	{"num.partitions", TOPIC_CFG_INT, BROKER_FIELD(num_partitions)},
};

/* ---- Prototypes of the static helpers, in reading order ---- */

static const struct config_def *config_def_find(const char *name);
static void config_describe(const struct topic_manager *tm,
			    const struct topic_overrides *o,
			    const struct config_def *d,
			    struct topic_config_entry *e);
static void field_text(const void *base, const struct config_field *f,
		       char *buf, size_t cap);
static int overrides_parse(const char *path, struct topic_overrides *o);

/* ---- Building a topic's config ---- */

/* INVARIANT 2: each row's value goes through the row's validator, which
 * stores it into the struct; any failure names the key and the reason. */
int topic_config_build(const struct topic_manager *tm,
		       const struct topic_overrides *o, struct topic_config *out,
		       struct topic_result *res)
{
	struct topic_config c;
	char why[CONFIG_WHY_MAX];
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
		struct topic_config_entry e;
		config_describe(tm, o, d, &e);
		if (!d->parse(d, e.value, &c, why)) {
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
 * precedence (topic override, static broker value, broker default). The
 * broker value's text is kept in e->text[0]. */
static void config_describe(const struct topic_manager *tm,
			    const struct topic_overrides *o,
			    const struct config_def *d,
			    struct topic_config_entry *e)
{
	const char *v = topic_overrides_get(o, d->name);
	char *buf = e->text[0];
	*e = (struct topic_config_entry){.name = d->name, .doc = d->doc,
					 .type = d->type};
	if (v)
		e->syn[e->nsyn++] = (struct topic_config_synonym){d->name, v,
							    TOPIC_CONFIG_SOURCE_TOPIC};
	if (d->bsize) {
		struct config_field f = {d->boff, d->bsize, d->type};
		field_text(topic_manager_config(tm), &f, buf, TOPIC_CONFIG_VALUE_MAX);
		if (strcmp(buf, d->dflt) != 0)
			e->syn[e->nsyn++] = (struct topic_config_synonym){
				d->broker_key, buf, TOPIC_CONFIG_SOURCE_STATIC_BROKER};
	}
	if (d->broker_key)
		e->syn[e->nsyn++] = (struct topic_config_synonym){
			d->broker_key, d->dflt, TOPIC_CONFIG_SOURCE_DEFAULT};
	e->value = e->nsyn ? e->syn[0].value : d->dflt;
	e->source = e->nsyn ? e->syn[0].source : TOPIC_CONFIG_SOURCE_DEFAULT;
}

/* A struct field as config text: numbers by their width, bools, strings. */
static void field_text(const void *base, const struct config_field *f,
		       char *buf, size_t cap)
{
	const uint8_t *p = (const uint8_t *)base + f->off;
	size_t size = f->size;
	int8_t type = f->type;
	int64_t v = 0;
	int32_t v32;
	int16_t v16;
	if (type == TOPIC_CFG_STRING) {
		snprintf(buf, cap, "%.*s", (int)size, (const char *)p);
		return;
	}
	if (type == TOPIC_CFG_BOOLEAN) {
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
	wire_write_array_len(w, (int32_t)KB_ARRAY_LEN(config_defs));
	for (size_t i = 0; i < KB_ARRAY_LEN(config_defs); i++) {
		struct topic_config_entry e;
		config_describe(tm, o, &config_defs[i], &e);
		wire_write_string(w, wire_str_c(e.name));
		wire_write_string(w, wire_str_c(e.value));
		wire_write_bool(w, false); /* read_only */
		wire_write_i8(w, e.source);
		wire_write_bool(w, false); /* is_sensitive */
		wire_write_tags(w);
	}
}

/* ---- Configs as DescribeConfigs shows them ---- */

int8_t topic_config_key_type(const char *name)
{
	const struct config_def *d = config_def_find(name);
	return d ? d->type : -1;
}

bool topic_config_entry_at(const struct topic_manager *tm,
			   const struct topic_overrides *o, size_t i,
			   struct topic_config_entry *e)
{
	if (i >= KB_ARRAY_LEN(config_defs))
		return false;
	config_describe(tm, o, &config_defs[i], e);
	return true;
}

bool topic_config_entry_find(const struct topic_manager *tm,
			     const struct topic_overrides *o, const char *name,
			     struct topic_config_entry *e)
{
	const struct config_def *d = config_def_find(name);
	if (d)
		config_describe(tm, o, d, e);
	return d != NULL;
}

/* A broker key: read-only, STATIC_BROKER_CONFIG where server.properties
 * differs from Kafka's default. */
bool topic_config_broker_entry_at(const struct topic_manager *tm, size_t i,
				  struct topic_config_entry *e)
{
	struct topic_broker_config dflt;
	if (i >= KB_ARRAY_LEN(broker_defs))
		return false;
	const struct broker_def *b = &broker_defs[i];
	struct config_field f = {b->off, b->size, b->type};
	topic_broker_config_defaults(&dflt);
	*e = (struct topic_config_entry){.name = b->name, .type = b->type,
					 .read_only = true};
	field_text(topic_manager_config(tm), &f, e->text[0], TOPIC_CONFIG_VALUE_MAX);
	field_text(&dflt, &f, e->text[1], TOPIC_CONFIG_VALUE_MAX);
	bool set = strcmp(e->text[0], e->text[1]) != 0;
	e->value = e->text[0];
	e->source = set ? TOPIC_CONFIG_SOURCE_STATIC_BROKER
			: TOPIC_CONFIG_SOURCE_DEFAULT;
	e->syn[0] = (struct topic_config_synonym){
		b->name, e->text[0], TOPIC_CONFIG_SOURCE_STATIC_BROKER};
	e->syn[1] = (struct topic_config_synonym){
		b->name, e->text[1], TOPIC_CONFIG_SOURCE_DEFAULT};
	e->nsyn = 2;
	if (!set)
		e->syn[0] = e->syn[1], e->nsyn = 1;
	return true;
}

/* ---- A topic's configs on disk ---- */

/* <log_dir>/__samsa_topic_configs/<topic id><suffix>, into out
 * (TOPIC_FULL_PATH_MAX bytes, always enough). */
void topic_file_path(const struct topic_manager *tm,
		     const struct wire_uuid *id, const char *suffix, char *out)
{
	char s[TOPIC_ID_STRING_LEN + 1];
	topic_id_format(id, s);
	snprintf(out, TOPIC_FULL_PATH_MAX, "%s/%s/%s%s",
		 topic_manager_config(tm)->log_dir, TOPIC_CONFIG_DIR, s, suffix);
}

/* INVARIANT 2: persist o first (alone; in a cluster the metadata log
 * already holds it), then take it and apply it: every log gets
 * its new struct log_config (segment sizes count from the next roll).
 * takes: o (freed on failure too). */
int topic_reconfigure(struct topic_manager *tm, struct topic *t,
		      struct topic_overrides *o)
{
	struct topic_overrides old = t->overrides;
	struct topic_config cfg;
	struct topic_result res = {0};
	int rc = topic_config_build(tm, o, &cfg, &res);
	free(res.message);
	t->overrides = *o;
	/* in a cluster the metadata log holds them (ConfigRecords, chapter
	 * 07); the file is the single node's store */
	if (rc == KB_OK && !topic_cluster_get(tm))
		rc = topic_overrides_save(tm, t);
	if (rc != KB_OK) {
		t->overrides = old;
		topic_overrides_free(o);
		return rc;
	}
	topic_overrides_free(&old);
	t->cfg = cfg;
	for (int32_t p = 0; p < t->npartitions; p++)
		t->partitions[p]->log->cfg = cfg.log;
	topic_config_check(tm, t);
	return KB_OK;
}

/* KAFKA: ConfigurationControlManager's ConfigRecords, as a broker's
 * MetadataPublisher applies them: the whole set replaces the old one. */
int topic_overrides_replace(struct topic_manager *tm, struct topic *t,
			    const struct topic_config_kv *kv, size_t n)
{
	struct topic_overrides o = {0};
	int rc = KB_OK;
	for (size_t i = 0; rc == KB_OK && i < n; i++)
		rc = kv[i].name && kv[i].value
			     ? topic_overrides_set(&o, kv[i].name, kv[i].value)
			     : KB_ERR_INVAL;
	if (rc != KB_OK) {
		topic_overrides_free(&o);
		return rc;
	}
	return topic_reconfigure(tm, t, &o); /* takes o */
}

/* <log_dir>/__samsa_topic_configs/<topic id>.properties, one "key=value"
 * line per override, replaced atomically (kb_write_file_atomic). Named by
 * id, not by name: a 249-byte name plus ".properties.tmp" would not fit
 * in one directory entry. */
int topic_overrides_save(const struct topic_manager *tm, const struct topic *t)
{
	char path[TOPIC_FULL_PATH_MAX];
	struct kb_buf b;
	int rc = KB_OK;
	kb_buf_init(&b);
	topic_file_path(tm, &t->id, TOPIC_PROPERTIES, path);
	for (size_t i = 0; rc == KB_OK && i < t->overrides.n; i++) {
		const char *kv[] = {t->overrides.names[i], "=",
				    t->overrides.values[i], "\n"};
		for (size_t k = 0; rc == KB_OK && k < KB_ARRAY_LEN(kv); k++)
			rc = kb_buf_append(&b, kv[k], strlen(kv[k]));
	}
	if (rc == KB_OK)
		rc = kb_write_file_atomic(path, b.data ? (void *)b.data : "", b.len);
	kb_buf_fini(&b);
	return rc;
}

/* Read t's file back; a missing file is no overrides. A file of an
 * older samsa, named <topic>.properties, moves to its id's name. */
int topic_overrides_load(const struct topic_manager *tm,
			 const struct topic *t, struct topic_overrides *o)
{
	char path[TOPIC_FULL_PATH_MAX], old[TOPIC_FULL_PATH_MAX];
	topic_file_path(tm, &t->id, TOPIC_PROPERTIES, path);
	int rc = overrides_parse(path, o);
	if (rc != KB_ERR_NOTFOUND)
		return rc;
	snprintf(old, sizeof old, "%s/%s/%s%s", topic_manager_config(tm)->log_dir,
		 TOPIC_CONFIG_DIR, t->name, TOPIC_PROPERTIES);
	if ((rc = overrides_parse(old, o)) == KB_ERR_NOTFOUND)
		return KB_OK;
	if (rc == KB_OK && rename(old, path) != 0) {
		KB_ERROR("topics: rename %s: %s", old, strerror(errno));
		rc = KB_ERR_IO;
	}
	return rc;
}

/* One properties file into o. SIMPLIFICATION: no Java properties
 * escapes; values with line breaks are refused earlier. */
static int overrides_parse(const char *path, struct topic_overrides *o)
{
	char *text, *save = NULL;
	int rc = kb_read_file(path, &text, NULL, CONFIG_FILE_MAX);
	if (rc != KB_OK)
		return rc;
	for (char *line = strtok_r(text, "\n", &save); rc == KB_OK && line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (line[0] == '#' || !eq)
			continue;
		*eq = '\0';
		rc = topic_overrides_set(o, line, eq + 1);
	}
	free(text);
	return rc;
}

/* ---- Validators ---- */

/* KAFKA: ConfigDef.Type.INT/LONG with a Range validator. */
static bool parse_number(const struct config_def *d, const char *v,
			 struct topic_config *c, char why[CONFIG_WHY_MAX])
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno == ERANGE ||
	    (d->type == TOPIC_CFG_INT && (x < INT32_MIN || x > INT32_MAX))) {
		snprintf(why, CONFIG_WHY_MAX, "Not a number of type %s",
			 d->type == TOPIC_CFG_INT ? "INT" : "LONG");
		return false;
	}
	if (x < d->min || x > d->max) {
		snprintf(why, CONFIG_WHY_MAX, "Value must be at least %" PRId64
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
		       struct topic_config *c, char why[CONFIG_WHY_MAX])
{
	bool t = strcasecmp(v, "true") == 0;
	if (!t && strcasecmp(v, "false") != 0) {
		snprintf(why, CONFIG_WHY_MAX,
			 "Expected value to be either true or false");
		return false;
	}
	if (d->size)
		memcpy((uint8_t *)c + d->off, &t, sizeof t);
	return true;
}

static bool parse_ratio(const struct config_def *d, const char *v,
			struct topic_config *c, char why[CONFIG_WHY_MAX])
{
	char *end;
	double x = strtod(v, &end);
	if (*v == '\0' || *end != '\0' ||
	    !(x >= (double)d->min && x <= (double)d->max)) {
		snprintf(why, CONFIG_WHY_MAX, "Value must be a number between %" PRId64
			 " and %" PRId64, d->min, d->max);
		return false;
	}
	memcpy((uint8_t *)c + d->off, &x, sizeof x);
	return true;
}

static bool parse_timestamp_type(const struct config_def *d, const char *v,
				 struct topic_config *c, char why[CONFIG_WHY_MAX])
{
	(void)d;
	c->log_append_time = strcmp(v, "LogAppendTime") == 0;
	if (c->log_append_time || strcmp(v, "CreateTime") == 0)
		return true;
	snprintf(why, CONFIG_WHY_MAX,
		 "String must be one of: CreateTime, LogAppendTime");
	return false;
}

/* KAFKA: BrokerCompressionType names. */
static bool parse_compression(const struct config_def *d, const char *v,
			      struct topic_config *c, char why[CONFIG_WHY_MAX])
{
	static const char *const ok[] = {"uncompressed", "zstd", "lz4",
					 "snappy", "gzip", "producer"};
	(void)d;
	(void)c;
	for (size_t i = 0; i < KB_ARRAY_LEN(ok); i++)
		if (strcmp(v, ok[i]) == 0)
			return true;
	snprintf(why, CONFIG_WHY_MAX, "String must be one of: uncompressed, "
		 "zstd, lz4, snappy, gzip, producer");
	return false;
}

/* KAFKA: ValidList.in("compact", "delete"), not empty. */
static bool parse_cleanup_policy(const struct config_def *d, const char *v,
				 struct topic_config *c, char why[CONFIG_WHY_MAX])
{
	const char *p = v, *item;
	size_t n;
	(void)d;
	c->cleanup_delete = c->cleanup_compact = false;
	while ((item = topic_config_list_next(&p, &n))) {
		if (n == 6 && strncmp(item, "delete", 6) == 0)
			c->cleanup_delete = true;
		else if (n == 7 && strncmp(item, "compact", 7) == 0)
			c->cleanup_compact = true;
		else
			break;
	}
	if (!item && (c->cleanup_delete || c->cleanup_compact))
		return true;
	snprintf(why, CONFIG_WHY_MAX,
		 "Value must be a list of delete and compact");
	return false;
}

/* The next item of a comma-separated list, trimmed of spaces; NULL at the
 * end. An empty item ("a,,b") is returned with length 0. */
const char *topic_config_list_next(const char **p, size_t *len)
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

/* ---- Invariants ---- */

/* 06_lifecycle.c's INVARIANT 2 in memory: t's cfg is what its overrides
 * build, and every log has the topic's struct log_config. Asserts; a
 * no-op with NDEBUG. */
void topic_config_check(const struct topic_manager *tm, const struct topic *t)
{
#ifndef NDEBUG
	struct topic_config c;
	struct topic_result res = {0};
	int rc = topic_config_build(tm, &t->overrides, &c, &res);
	assert(rc == KB_OK);
	(void)rc;
	free(res.message);
	assert(c.cleanup_delete == t->cfg.cleanup_delete);
	assert(c.cleanup_compact == t->cfg.cleanup_compact);
	assert(c.max_message_bytes == t->cfg.max_message_bytes);
	assert(c.log.retention_ms == t->cfg.log.retention_ms);
	assert(c.log.segment_bytes == t->cfg.log.segment_bytes);
	for (int32_t p = 0; p < t->npartitions; p++) {
		const struct log_config *l = &t->partitions[p]->log->cfg;
		assert(l->segment_bytes == t->cfg.log.segment_bytes);
		assert(l->retention_ms == t->cfg.log.retention_ms);
		assert(l->flush_messages == t->cfg.log.flush_messages);
	}
#else
	(void)tm;
	(void)t;
#endif
}
