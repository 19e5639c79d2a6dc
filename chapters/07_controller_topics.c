/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07, eighth file — the active controller, part 4: topics.
 *
 * Concept:
 *   In a cluster no broker creates a topic by itself: the controller
 *   checks the request against the committed image, places every
 *   partition's replicas on the brokers (one per rack while racks last,
 *   leaders spread), and writes TopicRecord, ConfigRecords and
 *   PartitionRecords. Each broker makes the topic's files when it applies
 *   them. Deleting a topic, adding partitions and changing configs work
 *   the same way: a decision, as records.
 *
 * Kafka:
 *   ReplicationControlManager.createTopics/deleteTopics/createPartitions,
 *   ConfigurationControlManager
 *   (incrementalAlterConfigs, legacyAlterConfigs); CreateTopics v2-7,
 *   DeleteTopics v1-6, CreatePartitions v0-3, AlterConfigs v0-2,
 *   IncrementalAlterConfigs v0-1: the versions chapter 06 serves, with its
 *   error codes and messages.
 *
 * Interface:
 *   - ctrl_handle: the API table, last in this file (the broker RPCs of
 *     07_controller.c are dispatched from it too).
 *   - validate_only answers as if done and writes no record.
 *   - On any status but KB_OK the output is partial: discard it.
 *
 * Invariants:
 *   1. A topic's records are TopicRecord, its ConfigRecords, then one
 *      PartitionRecord per partition 0..n-1; a failed item writes none.
 *   2. Every answer (code and message) is the one chapter 06 gives.
 *
 * Simplifications:
 *   - About 1000 lines, past STYLE's 900: the five topic APIs share one
 *     request shape (struct item) and its decoders; split by API, each
 *     file would repeat them.
 *   - The replication factor is bounded by the registered brokers, as in
 *     Kafka; cfg.max_replication_factor (no bound when <= 0) is samsa's own
 *     optional cap, kept for stages without replication.
 *   - No CreateTopicPolicy, no mutation quotas, no DescribeConfigs here
 *     (every broker answers it from its own image).
 *
 * See also: docs/07_controller_topics.md, diagrams/07_controller_topics.dot,
 *   tests/07_raft_test.c ("The controller"); read before:
 *   07_controller.c, 07_controller_place.c.
 *   Uses chapters 00 (base), 04 (codec), 06 (topics).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "04_codec.h"
#include "06_topics.h"
#include "07_metadata.h"
#include "07_controller.h"
#include "07_controller_internal.h"

/* KAFKA: Topic.CLUSTER_METADATA_TOPIC_NAME: never a topic. */
#define CTRL_METADATA_TOPIC "__cluster_metadata"
/* KAFKA: AlterConfigOp.OpType. */
#define OP_SET 0
#define OP_DELETE 1
#define OP_APPEND 2
#define OP_SUBTRACT 3

/* One replica list of a request (CreatableReplicaAssignment, or one
 * element of CreatePartitions' assignments). */
struct assignment {
	int32_t index;       /* partition; CreatePartitions: position */
	struct meta_ids ids; /* owned */
};

/* One config of a CreatableTopic, or one key of an alter request. */
struct config_kv {
	struct wire_str name;
	struct wire_str value; /* len -1: null */
	int8_t op;             /* OP_*; OP_SET unless incremental */
};

/* One CreatableTopic, or one CreatePartitionsTopic, or one alter
 * resource: what a request item names. */
struct item {
	int8_t type;                /* alter: resource type */
	struct wire_str name;       /* len -1: DeleteTopics by id */
	struct wire_uuid id;        /* DeleteTopics v6 */
	int32_t count;              /* num_partitions, or the new total */
	int16_t replication_factor;
	int32_t n_assign;           /* -1: null */
	struct assignment *assign;  /* owned */
	int32_t n_configs;
	struct config_kv *configs;  /* owned */
};

/* A decoded request of any topic API. */
struct items {
	int32_t n;
	struct item *v; /* owned */
	bool validate_only;
};

/* Where the replicas of partitions first..first+np-1 go. */
struct layout {
	int32_t first;
	int32_t np;
	int16_t rf;
	int32_t *replicas; /* owned: np * rf */
};

/* What one call's handler works with. */
struct job {
	struct ctrl *c;
	const struct ctrl_input *in;
	struct ctrl_output *out;
	struct wire_reader r; /* over the request body */
	struct wire_writer w; /* on out->response */
	struct items q;
};

/* The outcome of one CreatableTopic. */
struct create_result {
	struct topic_result res;
	struct wire_uuid id;     /* zero unless records were written */
	struct layout l;
	struct topic_overrides o; /* owned: its configs */
};

static int items_decode_create(struct wire_reader *r, struct items *q);
static int items_decode_partitions(struct wire_reader *r, struct items *q);
static int items_decode_alter(struct wire_reader *r, bool incremental,
			      struct items *q);
static void items_fini(struct items *q);
static int layout_place(struct ctrl *c, const struct meta_image *img,
			struct layout *l, struct topic_result *res);
static void layout_manual(const struct job *j, const struct item *t,
			  struct layout *l, struct topic_result *res);
static void layout_fill(const struct job *j, const struct item *t,
			struct layout *l, struct topic_result *res);
static int items_decode_delete(struct wire_reader *r, int16_t v,
			       struct items *q);
static int emit_partitions(const struct job *j, struct wire_uuid id,
			   const struct layout *l);
static int overrides_from_image(const struct meta_image *img,
				const char *topic, struct topic_overrides *o);
static bool same_name(struct wire_str a, struct wire_str b);
static bool collides(const char *a, struct wire_str b);
static bool wire_copy(struct wire_str s, char *out, size_t cap);

/* ---- CreateTopics (api key 19, v2-7) ---- */

/* The name: valid, not reserved, once in the request, new, no collision
 * with a topic of the image or one made earlier in this request. */
static bool create_check_name(const struct job *j, const bool *made, int32_t i,
			      struct topic_result *res)
{
	const struct item *v = j->q.v;
	char name[TOPIC_NAME_MAX + 1];
	if (!topic_name_copy(v[i].name, name)) {
		topic_result_set(res, KAFKA_ERR_INVALID_TOPIC_EXCEPTION,
				 "Topic name is invalid");
		return false;
	}
	/* KAFKA: ControllerApis refuses __cluster_metadata. SIMPLIFICATION:
	 * internal topics too, unless a broker asks for itself (06_admin.c). */
	if (!strcmp(name, CTRL_METADATA_TOPIC) ||
	    (!j->in->allow_internal && topic_name_reserved(name, strlen(name)))) {
		topic_result_set(res, KAFKA_ERR_INVALID_REQUEST, "Creation of "
				 "internal topic %s is prohibited.", name);
		return false;
	}
	for (int32_t k = 0; k < j->q.n; k++)
		if (k != i && same_name(v[k].name, v[i].name)) {
			topic_result_set(res, KAFKA_ERR_INVALID_REQUEST, "Duplicate "
					 "topic name %s in the request", name);
			return false;
		}
	const struct meta_image *img = j->in->img;
	if (meta_topic_find(img, name)) {
		topic_result_set(res, KAFKA_ERR_TOPIC_ALREADY_EXISTS,
				 "Topic '%s' already exists.", name);
		return false;
	}
	for (int32_t k = 0; k < img->n_topics + i; k++) {
		struct wire_str o = k < img->n_topics ? wire_str_c(img->topics[k].name)
						      : v[k - img->n_topics].name;
		if ((k < img->n_topics || made[k - img->n_topics]) && collides(name, o)) {
			topic_result_set(res, KAFKA_ERR_INVALID_TOPIC_EXCEPTION,
					 "Topic '%s' collides with existing topic: "
					 "%.*s", name, (int)o.len, o.p);
			return false;
		}
	}
	return true;
}

/* Partitions and replicas: -1 takes the default; assignments replace
 * both (06_admin.c's checks, then KAFKA's placement). */
static void create_check_layout(const struct job *j, const struct item *t,
				struct layout *l, struct topic_result *res)
{
	const struct ctrl_config *cfg = &j->c->cfg;
	if (t->n_assign > 0 && (t->count != -1 || t->replication_factor != -1)) {
		topic_result_set(res, KAFKA_ERR_INVALID_REQUEST, "Both numPartitions "
				 "or replicationFactor and replicasAssignments "
				 "were set. Both cannot be used at the same time.");
		return;
	}
	if (t->n_assign > 0) {
		layout_manual(j, t, l, res);
		return;
	}
	l->np = t->count == -1 ? cfg->num_partitions : t->count;
	l->rf = t->replication_factor == -1 ? cfg->default_replication_factor
					    : t->replication_factor;
	if (l->np <= 0 || l->np > TOPIC_MAX_PARTITIONS)
		topic_result_set(res, KAFKA_ERR_INVALID_PARTITIONS, "Number of "
				 "partitions must be between 1 and %d", TOPIC_MAX_PARTITIONS);
	else if (l->rf <= 0)
		topic_result_set(res, KAFKA_ERR_INVALID_REPLICATION_FACTOR,
				 "Replication factor must be larger than 0, or -1 "
				 "to use the default value.");
	else if (l->rf > cfg->max_replication_factor)
		topic_result_set(res, KAFKA_ERR_INVALID_REPLICATION_FACTOR,
				 "Replication factor %d is above %d, the most this "
				 "cluster allows.", l->rf, cfg->max_replication_factor);
	else if (layout_place(j->c, j->in->img, l, res) == KB_ERR_NOMEM)
		topic_result_set(res, KAFKA_ERR_UNKNOWN_SERVER_ERROR, NULL);
}

/* KAFKA: computeConfigChanges (a null value refuses the topic), then
 * the config validation of 06_config_defs.c. */
static void create_check_configs(const struct job *j, const struct item *t,
				 struct topic_overrides *o,
				 struct topic_result *res)
{
	struct topic_config cfg;
	for (int32_t k = 0; k < t->n_configs; k++) {
		struct wire_str key = t->configs[k].name, val = t->configs[k].value;
		char *kc = NULL, *vc = NULL;
		if (val.len < 0 || memchr(val.p, '\0', (size_t)val.len) ||
		    memchr(key.p, '\0', (size_t)KB_MAX(key.len, 0))) {
			topic_result_set(res, KAFKA_ERR_INVALID_CONFIG, "Null value "
					 "not supported for topic configs");
			return;
		}
		int rc = wire_str_dup(key, &kc);
		if (rc == KB_OK && (rc = wire_str_dup(val, &vc)) == KB_OK)
			rc = topic_overrides_set(o, kc, vc);
		free(kc);
		free(vc);
		if (rc) {
			topic_result_set(res, KAFKA_ERR_UNKNOWN_SERVER_ERROR, NULL);
			return;
		}
	}
	topic_config_build(j->c->cfg.tm, o, &cfg, res);
}

/* KAFKA: createTopic's records: TopicRecord, ConfigRecords, then the
 * PartitionRecords (INVARIANT 1). */
static int create_records(const struct job *j, const char *name,
			  struct wire_uuid id, const struct topic_overrides *o,
			  const struct layout *l)
{
	struct meta_record rec;
	meta_record_init(&rec, META_TOPIC, 0);
	rec.name = wire_str_c(name);
	rec.topic_id = id;
	int rc = ctrl_emit(j->out, &rec);
	for (size_t k = 0; rc == KB_OK && k < o->n; k++) {
		meta_record_init(&rec, META_CONFIG, 0);
		rec.resource_type = META_RESOURCE_TOPIC;
		rec.resource_name = wire_str_c(name);
		rec.name = wire_str_c(o->names[k]);
		rec.value = wire_str_c(o->values[k]);
		rc = ctrl_emit(j->out, &rec);
	}
	return rc ? rc : emit_partitions(j, id, l);
}

/* One CreatableTopicResult (06_admin.c's create_write). */
static void create_write(struct job *j, const struct item *t,
			 const struct create_result *r)
{
	struct wire_writer *w = &j->w;
	int16_t v = j->in->api_version;
	bool ok = r->res.error == KAFKA_ERR_NONE;
	wire_write_string(w, t->name);
	if (v >= 7)
		wire_write_uuid(w, r->id);
	wire_write_i16(w, r->res.error);
	wire_write_string(w, topic_result_message(&r->res));
	if (v >= 5) {
		wire_write_i32(w, ok ? r->l.np : -1);
		wire_write_i16(w, ok ? r->l.rf : -1);
		if (ok)
			topic_config_write_all(w, j->c->cfg.tm, &r->o);
		else
			wire_write_array_len(w, 0);
	}
	wire_write_tags(w);
}

/* Decide topic i: checks (name, layout, configs: 06's order), then the
 * records, then its result. made[i] tells later topics it exists. */
static int create_one(struct job *j, bool *made, int32_t i)
{
	const struct item *t = &j->q.v[i];
	struct create_result r = {0};
	char name[TOPIC_NAME_MAX + 1] = "";
	int rc = KB_OK;
	if (create_check_name(j, made, i, &r.res)) {
		topic_name_copy(t->name, name);
		create_check_layout(j, t, &r.l, &r.res);
	}
	if (!r.res.error)
		create_check_configs(j, t, &r.o, &r.res);
	if (!r.res.error && !j->q.validate_only) {
		topic_id_generate(&r.id);
		rc = create_records(j, name, r.id, &r.o, &r.l);
		made[i] = rc == KB_OK;
	}
	create_write(j, t, &r);
	topic_overrides_free(&r.o);
	free(r.l.replicas);
	free(r.res.message);
	return rc;
}

static int decide_create_topics(struct job *j)
{
	int rc = items_decode_create(&j->r, &j->q);
	if (rc)
		return rc == KB_ERR_NOMEM ? rc : KB_ERR_PROTO;
	bool *made = calloc((size_t)j->q.n + 1, sizeof *made);
	if (!made)
		return KB_ERR_NOMEM;
	wire_write_i32(&j->w, 0); /* throttle_time_ms, v2+ */
	wire_write_array_len(&j->w, j->q.n);
	for (int32_t i = 0; rc == KB_OK && i < j->q.n; i++)
		rc = create_one(j, made, i);
	wire_write_tags(&j->w);
	free(made);
	return rc ? rc : wire_writer_status(&j->w);
}

/* ---- DeleteTopics (api key 20, v1-6) ---- */

/* KAFKA: deleteTopics — found by name or id (and not removed already by
 * this request): a RemoveTopicRecord; 06_admin.c's errors otherwise. */
static int delete_one(struct job *j, const struct item *d, bool *gone,
		      struct topic_result *res)
{
	const struct meta_image *img = j->in->img;
	char want[TOPIC_NAME_MAX + 1];
	const struct meta_topic *t = NULL;
	if (!j->c->cfg.delete_topic_enable) {
		topic_result_set(res, KAFKA_ERR_TOPIC_DELETION_DISABLED,
				 "Topic deletion is disabled.");
		return KB_OK;
	}
	if (d->name.len >= 0 ? topic_name_copy(d->name, want) &&
				       (t = meta_topic_find(img, want)) != NULL
			     : (t = meta_topic_find_id(img, d->id)) != NULL) {
		if (!gone[t - img->topics]) {
			gone[t - img->topics] = true;
			struct meta_record rec;
			meta_record_init(&rec, META_REMOVE_TOPIC, 0);
			rec.topic_id = t->id;
			return j->q.validate_only ? KB_OK : ctrl_emit(j->out, &rec);
		}
	}
	if (d->name.len >= 0)
		topic_result_set(res, KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION,
				 "This server does not host this topic-partition.");
	else
		topic_result_set(res, KAFKA_ERR_UNKNOWN_TOPIC_ID,
				 "This server does not host this topic ID.");
	return KB_OK;
}

static int decide_delete_topics(struct job *j)
{
	const struct meta_image *img = j->in->img;
	struct wire_writer *w = &j->w;
	int16_t v = j->in->api_version;
	int rc = items_decode_delete(&j->r, v, &j->q);
	if (rc)
		return rc == KB_ERR_NOMEM ? rc : KB_ERR_PROTO;
	bool *gone = calloc((size_t)img->n_topics + 1, sizeof *gone);
	if (!gone)
		return KB_ERR_NOMEM;
	wire_write_i32(w, 0); /* throttle_time_ms, v1+ */
	wire_write_array_len(w, j->q.n);
	for (int32_t i = 0; rc == KB_OK && i < j->q.n; i++) {
		const struct item *d = &j->q.v[i];
		struct topic_result res = {0};
		const struct meta_topic *t = d->name.len >= 0
			? NULL : meta_topic_find_id(img, d->id);
		rc = delete_one(j, d, gone, &res);
		wire_write_string(w, t && !res.error ? wire_str_c(t->name) : d->name);
		if (v >= 6) {
			const struct meta_topic *by_name = NULL;
			char want[TOPIC_NAME_MAX + 1];
			if (d->name.len >= 0 && topic_name_copy(d->name, want))
				by_name = meta_topic_find(img, want);
			wire_write_uuid(w, by_name && !res.error ? by_name->id : d->id);
		}
		wire_write_i16(w, res.error);
		if (v >= 5)
			wire_write_string(w, topic_result_message(&res));
		wire_write_tags(w);
		free(res.message);
	}
	wire_write_tags(w);
	free(gone);
	return rc ? rc : wire_writer_status(w);
}

/* ---- CreatePartitions (api key 37, v0-3) ---- */

/* KAFKA: createPartitions' checks (06_admin.c's messages), then the new
 * partitions' layout: the assignments given, else placement with the
 * topic's replication factor. */
static const struct meta_topic *partitions_check(const struct job *j,
						 int32_t i, struct layout *l,
						 struct topic_result *res)
{
	const struct item *a = j->q.v;
	char name[TOPIC_NAME_MAX + 1];
	const struct meta_topic *t = NULL;
	for (int32_t k = 0; k < j->q.n; k++)
		if (k != i && same_name(a[k].name, a[i].name)) {
			topic_result_set(res, KAFKA_ERR_INVALID_REQUEST,
					 "Duplicate topic in request.");
			return NULL;
		}
	if (!topic_name_copy(a[i].name, name) ||
	    !(t = meta_topic_find(j->in->img, name)))
		topic_result_set(res, KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION,
				 "The topic does not exist.");
	else if (a[i].count < t->partition_count)
		topic_result_set(res, KAFKA_ERR_INVALID_PARTITIONS, "Topic currently "
				 "has %" PRId32 " partitions, which is higher than "
				 "the requested %" PRId32 ".", t->partition_count,
				 a[i].count);
	else if (a[i].count == t->partition_count)
		topic_result_set(res, KAFKA_ERR_INVALID_PARTITIONS, "Topic already "
				 "has %" PRId32 " partitions.", t->partition_count);
	else if (a[i].count > TOPIC_MAX_PARTITIONS)
		topic_result_set(res, KAFKA_ERR_INVALID_PARTITIONS, "A topic may "
				 "have at most %d partitions", TOPIC_MAX_PARTITIONS);
	else if (a[i].n_assign >= 0 && a[i].n_assign != a[i].count - t->partition_count)
		topic_result_set(res, KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT,
				 "Attempted to add %" PRId32 " additional partition(s), "
				 "but only %" PRId32 " assignment(s) were specified.",
				 a[i].count - t->partition_count, a[i].n_assign);
	if (res->error)
		return NULL;
	l->first = t->partition_count;
	l->np = a[i].count - t->partition_count;
	l->rf = t->partition_count > 0 ? (int16_t)t->partitions[0].replicas.n
				       : j->c->cfg.default_replication_factor;
	if (a[i].n_assign >= 0)
		layout_manual(j, &a[i], l, res);
	else if (layout_place(j->c, j->in->img, l, res) == KB_ERR_NOMEM)
		topic_result_set(res, KAFKA_ERR_UNKNOWN_SERVER_ERROR, NULL);
	return res->error ? NULL : t;
}

static int decide_create_partitions(struct job *j)
{
	struct wire_writer *w = &j->w;
	int rc = items_decode_partitions(&j->r, &j->q);
	if (rc)
		return rc == KB_ERR_NOMEM ? rc : KB_ERR_PROTO;
	wire_write_i32(w, 0); /* throttle_time_ms */
	wire_write_array_len(w, j->q.n);
	for (int32_t i = 0; rc == KB_OK && i < j->q.n; i++) {
		struct topic_result res = {0};
		struct layout l = {0};
		const struct meta_topic *t = partitions_check(j, i, &l, &res);
		if (t && !j->q.validate_only)
			rc = emit_partitions(j, t->id, &l);
		wire_write_string(w, j->q.v[i].name);
		wire_write_i16(w, res.error);
		wire_write_string(w, topic_result_message(&res));
		wire_write_tags(w);
		free(res.message);
		free(l.replicas);
	}
	wire_write_tags(w);
	return rc ? rc : wire_writer_status(w);
}

/* ---- AlterConfigs (33, v0-2) and IncrementalAlterConfigs (44, v0-1) ---- */

/* The type (TOPIC_CFG_*) of key k of a, copied into key; -1 with res set
 * for a key named twice or unknown (06_config_apis.c's answers). */
static int8_t alter_key(const struct item *a, int32_t k, char *key,
			struct topic_result *res)
{
	const struct config_kv *e = &a->configs[k];
	int8_t type;
	for (int32_t i = 0; i < k; i++)
		if (same_name(a->configs[i].name, e->name)) {
			topic_result_set(res, KAFKA_ERR_INVALID_REQUEST,
					 "Error due to duplicate config keys");
			return -1;
		}
	if (wire_copy(e->name, key, TOPIC_CONFIG_VALUE_MAX) &&
	    (type = topic_config_key_type(key)) >= 0)
		return type;
	topic_result_set(res, KAFKA_ERR_INVALID_CONFIG, "Unknown topic config "
			 "name: %.*s", (int)KB_MAX(e->name.len, 0), e->name.p);
	return -1;
}

/* APPEND adds val's items missing from cur; SUBTRACT keeps cur's items
 * not in val (KAFKA: prepareIncrementalConfigs on a LIST key). */
static void list_edit(const char *cur, const char *val, bool add, char *out)
{
	const char *p, *x, *y;
	size_t n, m, len = 0;
	out[0] = '\0';
	for (int pass = 0; pass < 2; pass++)
		for (p = pass ? val : cur; (x = topic_config_list_next(&p, &n));) {
			const char *q = pass ? cur : val;
			bool in_other = false;
			while ((y = topic_config_list_next(&q, &m)))
				in_other |= m == n && !strncmp(x, y, n);
			bool keep = n > 0 && (pass ? add && !in_other
						   : add || !in_other);
			if (keep && len + n + 2 < TOPIC_CONFIG_VALUE_MAX)
				len += (size_t)snprintf(out + len, TOPIC_CONFIG_VALUE_MAX - len,
							"%s%.*s", len ? "," : "",
							(int)n, x);
		}
}

/* Apply key k of a to o (06_config_apis.c's alter_entry_apply). */
static void alter_entry(const struct job *j, const struct item *a, int32_t k,
			struct topic_overrides *o, struct topic_result *res)
{
	const struct config_kv *e = &a->configs[k];
	char key[TOPIC_CONFIG_VALUE_MAX], val[TOPIC_CONFIG_VALUE_MAX];
	char out[TOPIC_CONFIG_VALUE_MAX];
	struct topic_config_entry cur;
	int8_t type = alter_key(a, k, key, res);
	if (type < 0)
		return;
	if (e->op == OP_DELETE) {
		topic_overrides_del(o, key);
		return;
	}
	if (e->op < OP_SET || e->op > OP_SUBTRACT || e->value.len < 0)
		topic_result_set(res, KAFKA_ERR_INVALID_REQUEST, e->value.len < 0
				 ? "Null value not supported for : %s"
				 : "Unknown config operation for %s", key);
	else if (!wire_copy(e->value, val, sizeof val))
		topic_result_set(res, KAFKA_ERR_INVALID_CONFIG,
				 "Invalid value for configuration %s", key);
	else if (e->op != OP_SET && type != TOPIC_CFG_LIST)
		topic_result_set(res, KAFKA_ERR_INVALID_CONFIG, "Config value %s "
				 "is not allowed for config key: %s",
				 e->op == OP_APPEND ? "append" : "subtract", key);
	if (res->error)
		return;
	if (e->op != OP_SET && topic_config_entry_find(j->c->cfg.tm, o, key, &cur))
		list_edit(cur.value, val, e->op == OP_APPEND, out);
	if (topic_overrides_set(o, key, e->op == OP_SET ? val : out) != KB_OK)
		topic_result_set(res, KAFKA_ERR_UNKNOWN_SERVER_ERROR, NULL);
}

/* ConfigRecords from old to new: a changed or new key with its value, a
 * key gone with null (KAFKA: a ConfigRecord with a null value deletes). */
static int alter_records(const struct job *j, const char *topic,
			 const struct topic_overrides *old,
			 const struct topic_overrides *new)
{
	struct meta_record rec;
	int rc = KB_OK;
	for (int pass = 0; rc == KB_OK && pass < 2; pass++) {
		const struct topic_overrides *a = pass ? old : new;
		for (size_t k = 0; rc == KB_OK && k < a->n; k++) {
			const char *other = topic_overrides_get(pass ? new : old,
								a->names[k]);
			if (pass ? other != NULL
				 : other && !strcmp(other, a->values[k]))
				continue;
			meta_record_init(&rec, META_CONFIG, 0);
			rec.resource_type = META_RESOURCE_TOPIC;
			rec.resource_name = wire_str_c(topic);
			rec.name = wire_str_c(a->names[k]);
			rec.value = wire_str_c(pass ? NULL : a->values[k]);
			rc = ctrl_emit(j->out, &rec);
		}
	}
	return rc;
}

/* One resource: build its new set (from the image's, or from nothing for
 * AlterConfigs), validate it whole, then write the difference. */
static int alter_resource(const struct job *j, const struct item *a,
			  bool incremental, struct topic_result *res)
{
	char name[TOPIC_NAME_MAX + 1];
	struct topic_overrides old = {0}, o = {0};
	struct topic_config cfg;
	int rc = KB_OK;
	if (a->type == META_RESOURCE_BROKER)
		topic_result_set(res, KAFKA_ERR_INVALID_REQUEST, "Broker configs "
				 "are static: set them in server.properties");
	else if (a->type != META_RESOURCE_TOPIC)
		topic_result_set(res, KAFKA_ERR_INVALID_REQUEST,
				 "Unsupported resource type: %d", a->type);
	else if (!topic_name_copy(a->name, name))
		topic_result_set(res, KAFKA_ERR_INVALID_TOPIC_EXCEPTION, NULL);
	else if (!meta_topic_find(j->in->img, name))
		topic_result_set(res, KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION,
				 "Topic %s does not exist", name);
	else if (overrides_from_image(j->in->img, name, &old) != KB_OK ||
		 (incremental && topic_overrides_copy(&o, &old) != KB_OK))
		topic_result_set(res, KAFKA_ERR_UNKNOWN_SERVER_ERROR, NULL);
	for (int32_t k = 0; !res->error && k < a->n_configs; k++)
		alter_entry(j, a, k, &o, res);
	if (!res->error && topic_config_build(j->c->cfg.tm, &o, &cfg, res) == KB_OK &&
	    !j->q.validate_only)
		rc = alter_records(j, name, &old, &o);
	topic_overrides_free(&old);
	topic_overrides_free(&o);
	return rc;
}

static int decide_alter(struct job *j, bool incremental)
{
	struct wire_writer *w = &j->w;
	int rc = items_decode_alter(&j->r, incremental, &j->q);
	if (rc)
		return rc == KB_ERR_NOMEM ? rc : KB_ERR_PROTO;
	wire_write_i32(w, 0); /* throttle_time_ms */
	wire_write_array_len(w, j->q.n);
	for (int32_t i = 0; rc == KB_OK && i < j->q.n; i++) {
		struct topic_result res = {0};
		rc = alter_resource(j, &j->q.v[i], incremental, &res);
		wire_write_i16(w, res.error);
		wire_write_string(w, topic_result_message(&res));
		wire_write_i8(w, j->q.v[i].type);
		wire_write_string(w, j->q.v[i].name);
		wire_write_tags(w);
		free(res.message);
	}
	wire_write_tags(w);
	return rc ? rc : wire_writer_status(w);
}

/* ---- Layouts: manual assignments and placement ---- */

/* KAFKA: validateManualPartitionAssignment, for every list, then the
 * partition indexes (0..n-1, each once) and a non-empty ISR. */
static void layout_manual(const struct job *j, const struct item *t,
			  struct layout *l, struct topic_result *res)
{
	const struct meta_image *img = j->in->img;
	int16_t want = l->first > 0 ? l->rf : -1;
	l->np = t->n_assign;
	for (int32_t k = 0; !res->error && k < t->n_assign; k++) {
		const struct meta_ids *ids = &t->assign[k].ids;
		if (ids->n == 0)
			topic_result_set(res, KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT,
					 "The manual partition assignment includes "
					 "an empty replica list.");
		else if (want >= 0 && ids->n != want)
			topic_result_set(res, KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT,
					 "The manual partition assignment includes a "
					 "partition with %" PRId32 " replica(s), but this "
					 "is not consistent with previous partitions, "
					 "which have %d replica(s).", ids->n, want);
		for (int32_t r = 0; !res->error && r < ids->n; r++) {
			bool again = false;
			for (int32_t s = 0; s < r; s++)
				again |= ids->v[s] == ids->v[r];
			if (!meta_broker_find(img, ids->v[r]))
				topic_result_set(res, KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT,
						 "The manual partition assignment includes "
						 "broker %" PRId32 ", but no such broker is "
						 "registered.", ids->v[r]);
			else if (again)
				topic_result_set(res, KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT,
						 "The manual partition assignment includes "
						 "the broker %" PRId32 " more than once.",
						 ids->v[r]);
		}
		want = (int16_t)ids->n;
	}
	if (res->error)
		return;
	l->rf = want;
	if (l->rf > j->c->cfg.max_replication_factor) {
		topic_result_set(res, KAFKA_ERR_INVALID_REPLICATION_FACTOR,
				 "Replication factor %d is above %d, the most this "
				 "cluster allows.", l->rf, j->c->cfg.max_replication_factor);
		return;
	}
	layout_fill(j, t, l, res);
}

/* The assignments into l->replicas by partition, each index once and
 * 0..n-1 (CreatePartitions' come in order), each with an active broker. */
static void layout_fill(const struct job *j, const struct item *t,
			struct layout *l, struct topic_result *res)
{
	if (l->first + l->np > TOPIC_MAX_PARTITIONS) {
		topic_result_set(res, KAFKA_ERR_INVALID_PARTITIONS, "Number of "
				 "partitions must be between 1 and %d", TOPIC_MAX_PARTITIONS);
		return;
	}
	l->replicas = calloc((size_t)l->np * (size_t)l->rf, sizeof *l->replicas);
	bool *seen = calloc((size_t)l->np, sizeof *seen);
	if (!l->replicas || !seen)
		topic_result_set(res, KAFKA_ERR_UNKNOWN_SERVER_ERROR, NULL);
	for (int32_t k = 0; !res->error && k < l->np; k++) {
		const struct assignment *a = &t->assign[k];
		bool live = false;
		if (a->index < 0 || a->index >= l->np) {
			topic_result_set(res, KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT,
					 "partitions should be a consecutive 0-based "
					 "integer sequence");
			break;
		}
		if (seen[a->index])
			topic_result_set(res, KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT,
					 "Found multiple manual partition assignments "
					 "for partition %" PRId32, a->index);
		seen[a->index] = true;
		for (int32_t r = 0; r < l->rf; r++) {
			l->replicas[(size_t)a->index * (size_t)l->rf + (size_t)r] = a->ids.v[r];
			live |= ctrl_broker_active(j->in->img, a->ids.v[r]);
		}
		if (!live && !res->error)
			topic_result_set(res, KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT,
					 "All brokers specified in the manual partition "
					 "assignment for partition %" PRId32 " are fenced "
					 "or in controlled shutdown.", l->first + a->index);
	}
	free(seen);
}

/* ctrl_place for l, its refusal as KAFKA words it. KB_ERR_NOMEM only. */
static int layout_place(struct ctrl *c, const struct meta_image *img,
			struct layout *l, struct topic_result *res)
{
	struct ctrl_placement p = {l->np, l->rf, NULL, ""};
	int rc = ctrl_place(c, img, &p);
	if (rc == KB_ERR_INVAL)
		topic_result_set(res, KAFKA_ERR_INVALID_REPLICATION_FACTOR,
				 "Unable to replicate the partition %d time(s): %s",
				 l->rf, p.message);
	l->replicas = p.replicas;
	return rc == KB_ERR_INVAL ? KB_OK : rc;
}

/* One PartitionRecord per partition of l (KAFKA: buildPartitionRegistration:
 * ISR = the active replicas, leader = the first of them, epochs 0). */
static int emit_partitions(const struct job *j, struct wire_uuid id,
			   const struct layout *l)
{
	int32_t isr[l->rf > 0 ? l->rf : 1];
	int rc = KB_OK;
	for (int32_t p = 0; rc == KB_OK && p < l->np; p++) {
		const int32_t *reps = &l->replicas[(size_t)p * (size_t)l->rf];
		int32_t n = 0;
		for (int32_t r = 0; r < l->rf; r++)
			if (ctrl_broker_active(j->in->img, reps[r]))
				isr[n++] = reps[r];
		struct meta_record rec;
		meta_record_init(&rec, META_PARTITION, 0);
		rec.topic_id = id;
		rec.partition_id = l->first + p;
		rec.replicas = (struct meta_array){l->rf, (void *)reps};
		rec.isr = (struct meta_array){n, isr};
		rec.removing_replicas = rec.adding_replicas = (struct meta_array){0, NULL};
		rec.leader = n > 0 ? isr[0] : META_NO_LEADER;
		rec.leader_epoch = 0;
		rec.partition_epoch = 0;
		rc = ctrl_emit(j->out, &rec);
	}
	return rc;
}

/* A topic's overrides as the image keeps them (ConfigRecords). */
static int overrides_from_image(const struct meta_image *img,
				const char *topic, struct topic_overrides *o)
{
	for (int32_t i = 0; i < img->n_configs; i++) {
		const struct meta_config *k = &img->configs[i];
		if (k->resource_type != META_RESOURCE_TOPIC ||
		    strcmp(k->resource_name, topic))
			continue;
		int rc = topic_overrides_set(o, k->name, k->value);
		if (rc)
			return rc;
	}
	return KB_OK;
}

/* ---- Decoding the topic APIs ---- */

/* A replica list into a (owned ids); counts bounded by the bytes left. */
static int decode_ids(struct wire_reader *r, struct assignment *a)
{
	int32_t n = wire_read_array_len(r, 4);
	a->ids.n = n < 0 ? 0 : n;
	if (n > 0 && !(a->ids.v = calloc((size_t)n, sizeof *a->ids.v)))
		return KB_ERR_NOMEM;
	for (int32_t b = 0; b < n; b++)
		a->ids.v[b] = wire_read_i32(r);
	wire_read_tags(r);
	return KB_OK;
}

/* An array of n items of size min bytes at least, allocated (n < 0: 0). */
static int items_alloc(struct wire_reader *r, size_t min, struct items *q)
{
	q->n = wire_read_array_len(r, min);
	if (q->n < 0)
		q->n = 0;
	if (q->n > 0 && !(q->v = calloc((size_t)q->n, sizeof *q->v)))
		return KB_ERR_NOMEM;
	return KB_OK;
}

/* CreatableTopic: name, partitions, replication factor, assignments, configs. */
static int decode_creatable(struct wire_reader *r, struct item *t)
{
	int rc = KB_OK;
	t->name = wire_read_string(r);
	t->count = wire_read_i32(r);
	t->replication_factor = wire_read_i16(r);
	t->n_assign = wire_read_array_len(r, r->flexible ? 6 : 8);
	if (t->n_assign > 0 && !(t->assign = calloc((size_t)t->n_assign,
						    sizeof *t->assign)))
		return KB_ERR_NOMEM;
	for (int32_t a = 0; rc == KB_OK && a < t->n_assign; a++) {
		t->assign[a].index = wire_read_i32(r);
		rc = decode_ids(r, &t->assign[a]);
	}
	t->n_configs = wire_read_array_len(r, r->flexible ? 3 : 4);
	if (rc == KB_OK && t->n_configs > 0 &&
	    !(t->configs = calloc((size_t)t->n_configs, sizeof *t->configs)))
		return KB_ERR_NOMEM;
	for (int32_t c = 0; rc == KB_OK && c < t->n_configs; c++) {
		t->configs[c].name = wire_read_string(r);
		t->configs[c].value = wire_read_nullable_string(r);
		wire_read_tags(r);
	}
	wire_read_tags(r);
	return rc;
}

static int items_decode_create(struct wire_reader *r, struct items *q)
{
	int rc = items_alloc(r, r->flexible ? 10 : 16, q);
	for (int32_t i = 0; rc == KB_OK && i < q->n; i++)
		rc = decode_creatable(r, &q->v[i]);
	wire_read_i32(r); /* timeout_ms */
	q->validate_only = wire_read_bool(r);
	wire_read_tags(r);
	return rc ? rc : wire_reader_status(r);
}

/* v6: a nullable name, an id and tags; before: a name. */
static int items_decode_delete(struct wire_reader *r, int16_t v,
			       struct items *q)
{
	int rc = items_alloc(r, v >= 6 ? 2 + WIRE_UUID_LEN : 1 + !r->flexible, q);
	for (int32_t i = 0; rc == KB_OK && i < q->n; i++) {
		q->v[i].name = v >= 6 ? wire_read_nullable_string(r)
				      : wire_read_string(r);
		if (v >= 6) {
			q->v[i].id = wire_read_uuid(r);
			wire_read_tags(r);
		}
	}
	wire_read_i32(r); /* timeout_ms */
	wire_read_tags(r);
	return rc ? rc : wire_reader_status(r);
}

static int items_decode_partitions(struct wire_reader *r, struct items *q)
{
	int rc = items_alloc(r, r->flexible ? 7 : 10, q);
	for (int32_t i = 0; rc == KB_OK && i < q->n; i++) {
		struct item *a = &q->v[i];
		a->name = wire_read_string(r);
		a->count = wire_read_i32(r);
		a->n_assign = wire_read_nullable_array_len(r, r->flexible ? 2 : 4);
		if (a->n_assign > 0 && !(a->assign = calloc((size_t)a->n_assign,
							    sizeof *a->assign)))
			return KB_ERR_NOMEM;
		for (int32_t k = 0; rc == KB_OK && k < a->n_assign; k++) {
			a->assign[k].index = k;
			rc = decode_ids(r, &a->assign[k]);
		}
		wire_read_tags(r);
	}
	wire_read_i32(r); /* timeout_ms */
	q->validate_only = wire_read_bool(r);
	wire_read_tags(r);
	return rc ? rc : wire_reader_status(r);
}

static int items_decode_alter(struct wire_reader *r, bool incremental,
			      struct items *q)
{
	size_t entry_min = (r->flexible ? 3 : 4) + incremental;
	int rc = items_alloc(r, r->flexible ? 4 : 7, q);
	for (int32_t i = 0; rc == KB_OK && i < q->n; i++) {
		struct item *a = &q->v[i];
		a->type = wire_read_i8(r);
		a->name = wire_read_string(r);
		a->n_configs = wire_read_array_len(r, entry_min);
		if (a->n_configs > 0 && !(a->configs = calloc((size_t)a->n_configs,
							      sizeof *a->configs)))
			return KB_ERR_NOMEM;
		for (int32_t k = 0; k < a->n_configs; k++) {
			a->configs[k].name = wire_read_string(r);
			a->configs[k].op = incremental ? wire_read_i8(r) : OP_SET;
			a->configs[k].value = wire_read_nullable_string(r);
			wire_read_tags(r);
		}
		wire_read_tags(r);
	}
	q->validate_only = wire_read_bool(r);
	wire_read_tags(r);
	return rc ? rc : wire_reader_status(r);
}

static void items_fini(struct items *q)
{
	for (int32_t i = 0; i < q->n; i++) {
		for (int32_t k = 0; k < q->v[i].n_assign; k++)
			free(q->v[i].assign[k].ids.v);
		free(q->v[i].assign);
		free(q->v[i].configs);
	}
	free(q->v);
	memset(q, 0, sizeof *q);
}

/* ---- Small helpers ---- */

static bool same_name(struct wire_str a, struct wire_str b)
{
	return a.len >= 0 && a.len == b.len &&
	       memcmp(a.p, b.p, (size_t)a.len) == 0;
}

/* KAFKA: Topic.hasCollision: a different name, equal once '.' reads '_'. */
static bool collides(const char *a, struct wire_str b)
{
	size_t n = strlen(a);
	if (b.len < 0 || (size_t)b.len != n || !memcmp(a, b.p, n))
		return false;
	for (size_t k = 0; k < n; k++)
		if ((a[k] == '.' ? '_' : a[k]) != (b.p[k] == '.' ? '_' : b.p[k]))
			return false;
	return true;
}

/* Copy a wire string into a C buffer; false when null, too long or
 * holding a NUL byte. */
static bool wire_copy(struct wire_str s, char *out, size_t cap)
{
	if (s.len < 0 || (size_t)s.len >= cap || memchr(s.p, '\0', (size_t)s.len))
		return false;
	memcpy(out, s.p, (size_t)s.len);
	out[s.len] = '\0';
	return true;
}

/* ---- The API table ---- */

/* One controller API and the versions it serves. */
struct ctrl_api {
	int16_t key, min, max;
	int (*topics)(struct job *j); /* a topic API, or */
	int (*brokers)(struct ctrl *c, const struct ctrl_input *in,
		       struct ctrl_output *out); /* a broker API */
};

static int decide_alter_configs(struct job *j) { return decide_alter(j, false); }
static int decide_incremental_alter_configs(struct job *j) { return decide_alter(j, true); }

static const struct ctrl_api apis[] = {
	{WIRE_API_CREATE_TOPICS, 2, 7, decide_create_topics, NULL},
	{WIRE_API_DELETE_TOPICS, 1, 6, decide_delete_topics, NULL},
	{WIRE_API_ALTER_CONFIGS, 0, 2, decide_alter_configs, NULL},
	{WIRE_API_CREATE_PARTITIONS, 0, 3, decide_create_partitions, NULL},
	{WIRE_API_INCREMENTAL_ALTER_CONFIGS, 0, 1, decide_incremental_alter_configs, NULL},
	{WIRE_API_BROKER_REGISTRATION, 0, 4, NULL, ctrl_handle_registration},
	{WIRE_API_BROKER_HEARTBEAT, 0, 1, NULL, ctrl_handle_heartbeat},
	{WIRE_API_ALLOCATE_PRODUCER_IDS, 0, 0, NULL, ctrl_handle_producer_ids},
	{WIRE_API_ALTER_PARTITION, 0, 3, NULL, ctrl_handle_alter_partition},
	{WIRE_API_ELECT_LEADERS, 0, 2, NULL, ctrl_handle_elect_leaders},
};

int ctrl_handle(struct ctrl *c, const struct ctrl_input *in,
		struct ctrl_output *out)
{
	if (in->now_ms > c->now_ms)
		c->now_ms = in->now_ms;
	for (size_t i = 0; i < KB_ARRAY_LEN(apis); i++) {
		const struct ctrl_api *a = &apis[i];
		if (a->key != in->api_key)
			continue;
		if (in->api_version < a->min || in->api_version > a->max)
			return KB_ERR_NOTFOUND;
		if (a->brokers)
			return a->brokers(c, in, out);
		struct job j = {c, in, out, in->body, {0}, {0}};
		j.r.flexible = wire_is_flexible(in->api_key, in->api_version);
		wire_writer_init(&j.w, &out->response, j.r.flexible);
		int rc = a->topics(&j);
		items_fini(&j.q);
		ctrl_check(c);
		return rc;
	}
	for (int i = 0; i < c->n_ext; i++) { /* a later chapter's API */
		const struct ctrl_extension *e = &c->ext[i];
		if (e->api_key != in->api_key)
			continue;
		if (in->api_version < e->min_version ||
		    in->api_version > e->max_version)
			return KB_ERR_NOTFOUND;
		int rc = e->fn(e->ctx, c, in, out);
		ctrl_check(c);
		return rc;
	}
	return KB_ERR_NOTFOUND;
}
