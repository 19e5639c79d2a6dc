/* SPDX-License-Identifier: MIT */
/*
 * Chapter 06 — topics, part 5: the config APIs.
 *
 * Concept:
 *   Tools read and change a topic's configs over the wire. DescribeConfigs
 *   shows every key with its value, where that value comes from and what
 *   it overrides; AlterConfigs replaces a topic's settings, and
 *   IncrementalAlterConfigs edits them key by key. Every change is checked
 *   as a whole against the config definitions (06_config_defs.c) before
 *   06_lifecycle.c persists it.
 *
 * Kafka:
 *   DescribeConfigs v1-4, AlterConfigs v0-2 (replace every topic-level
 *   setting), IncrementalAlterConfigs v0-1 (SET, DELETE, APPEND,
 *   SUBTRACT), ConfigAdminManager.prepareIncrementalConfigs.
 *
 * Interface:
 *   - A change is validated as a whole before anything is applied; then
 *     topic_reconfigure persists it and hands each log its new
 *     struct log_config.
 *
 * Invariants:
 *   1. A request that fails for one key changes nothing for its resource.
 *   2. A key named twice in one resource is INVALID_REQUEST.
 *
 * Simplifications:
 *   - Broker configs are static: DescribeConfigs lists the main keys of
 *     server.properties read-only; changing them is INVALID_REQUEST.
 *
 * See also: docs/06_config_apis.md, diagrams/06_config_apis.dot,
 *   tests/06_topics_test.c; read before: 06_config_defs.c, 06_lifecycle.c.
 *   Uses chapters 00 (base), 04 (codec), 05 (server).
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"

/* KAFKA: ConfigResource.Type. */
#define RESOURCE_TOPIC 2
#define RESOURCE_BROKER 4
/* KAFKA: AlterConfigOp.OpType (IncrementalAlterConfigs). */
#define OP_SET 0
#define OP_DELETE 1
#define OP_APPEND 2
#define OP_SUBTRACT 3

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

/* What every entry of one DescribeConfigs answer shares. */
struct describe_ctx {
	const struct net_request *req; /* borrowed: who asks (chapter 12) */
	const struct topic_manager *tm;
	const struct describe_req *q;
	int16_t v; /* the request's version */
};

/* The overrides one resource's keys are applied to. */
struct alter_target {
	const struct topic_manager *tm;
	struct topic_overrides *o; /* borrowed: the new set being built */
};

/* APPEND or SUBTRACT on a list value (IncrementalAlterConfigs). */
struct list_edit {
	const char *cur; /* the current value */
	const char *val; /* the items to add or remove */
	bool add;        /* APPEND; else SUBTRACT */
};

/* ---- Prototypes of the static helpers, in reading order ---- */

static int describe_decode(struct wire_reader *r, int16_t v,
			   struct describe_req *q);
static void describe_write(struct wire_writer *w, const struct describe_ctx *c,
			   const struct describe_resource *d);
static void describe_write_entry(struct wire_writer *w,
				 const struct describe_ctx *c,
				 const struct topic_config_entry *e);
static int alter_decode(struct wire_reader *r, struct alter_req *q);
static int16_t config_denied(const struct net_request *req, int8_t type,
			     struct wire_str name, int8_t op);
static bool alter_denied(struct net_request *req, struct net_response *resp,
			 bool incremental, int *rc);
static void alter_resource(struct topic_manager *tm, const struct alter_req *q,
			   const struct alter_resource *a,
			   struct topic_result *res);
static bool alter_entry_apply(const struct alter_target *to,
			      const struct alter_resource *a, int32_t k,
			      struct topic_result *res);
static int8_t alter_entry_key(const struct alter_resource *a, int32_t k,
			      char *key, struct topic_result *res);
static bool list_has(const char *list, const char *item, size_t len);
static void list_add(char *out, size_t cap, const char *item, size_t n);
static void list_edit(const struct list_edit *e, char *out, size_t cap);
static bool wire_copy(struct wire_str s, char *out, size_t cap);

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
		struct describe_ctx c = {req, tm, &q, v};
		for (int32_t i = 0; i < q.n; i++)
			describe_write(w, &c, &q.res[i]);
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

/* A topic resource: every wanted key of the config definitions. */
static void describe_topic(struct wire_writer *w, const struct describe_ctx *c,
			   const struct describe_resource *d,
			   const struct topic *t)
{
	struct topic_config_entry e;
	int32_t n = 0;
	for (size_t i = 0; topic_config_entry_at(c->tm, &t->overrides, i, &e); i++)
		n += describe_wanted(d, e.name);
	wire_write_array_len(w, n);
	for (size_t i = 0; topic_config_entry_at(c->tm, &t->overrides, i, &e); i++)
		if (describe_wanted(d, e.name))
			describe_write_entry(w, c, &e);
}

/* A broker resource: its read-only keys. The cluster-wide resource ""
 * holds dynamic defaults, of which samsa has none. */
static void describe_broker(struct wire_writer *w, const struct describe_ctx *c,
			    const struct describe_resource *d)
{
	struct topic_config_entry e;
	int32_t n = 0;
	for (size_t i = 0; d->name.len > 0 &&
	     topic_config_broker_entry_at(c->tm, i, &e); i++)
		n += describe_wanted(d, e.name);
	wire_write_array_len(w, n);
	for (size_t i = 0; d->name.len > 0 &&
	     topic_config_broker_entry_at(c->tm, i, &e); i++)
		if (describe_wanted(d, e.name))
			describe_write_entry(w, c, &e);
}

/* Check the resource, then write its result (KAFKA: INVALID_REQUEST for a
 * broker id that is not ours or a type other than topic and broker). */
static void describe_write(struct wire_writer *w, const struct describe_ctx *c,
			   const struct describe_resource *d)
{
	const struct topic_manager *tm = c->tm;
	struct topic_result res = {0};
	char name[TOPIC_NAME_MAX + 1], id[16];
	struct topic *t = NULL;
	snprintf(id, sizeof id, "%" PRId32, topic_manager_config(tm)->node_id);
	int16_t denied = config_denied(c->req, d->type, d->name,
				       NET_OP_DESCRIBE_CONFIGS);
	if (denied != KAFKA_ERR_NONE) /* KAFKA: asked before anything else */
		topic_result_set(&res, denied, NULL);
	else if (d->type == RESOURCE_TOPIC && !topic_name_copy(d->name, name))
		topic_result_set(&res, KAFKA_ERR_INVALID_TOPIC_EXCEPTION, NULL);
	else if (d->type == RESOURCE_TOPIC && !(t = topic_find_len(tm, name, strlen(name))))
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
		describe_topic(w, c, d, t);
	else
		describe_broker(w, c, d);
	wire_write_tags(w);
	free(res.message);
}

/* One DescribeConfigsResourceResult, field by field for version v. */
static void describe_write_entry(struct wire_writer *w,
				 const struct describe_ctx *c,
				 const struct topic_config_entry *e)
{
	const struct describe_req *q = c->q;
	int16_t v = c->v;
	wire_write_string(w, wire_str_c(e->name));
	wire_write_string(w, wire_str_c(e->value));
	wire_write_bool(w, e->read_only);
	if (v == 0)
		wire_write_bool(w, e->source == TOPIC_CONFIG_SOURCE_DEFAULT); /* is_default */
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
	int rc;
	if (alter_denied(req, resp, incremental, &rc) ||
	    topic_forwarded(req, resp, &rc))
		return rc;
	rc = alter_decode(&req->body, &q);
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

/* KAFKA: ConfigHelper / AuthHelper: a topic's configs need op on the
 * topic (TOPIC_AUTHORIZATION_FAILED), a broker's op on the cluster
 * (CLUSTER_AUTHORIZATION_FAILED). NONE when allowed or another type. */
static int16_t config_denied(const struct net_request *req, int8_t type,
			     struct wire_str name, int8_t op)
{
	if (type == RESOURCE_TOPIC && !topic_authorized(req, op, name))
		return KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED;
	if (type == RESOURCE_BROKER && !net_authorized_cluster(req, op))
		return KAFKA_ERR_CLUSTER_AUTHORIZATION_FAILED;
	return KAFKA_ERR_NONE;
}

/* SIMPLIFICATION: the alter APIs are forwarded as they came, so when one
 * resource is denied ALTER_CONFIGS every resource is answered with its
 * type's authorization error (Kafka goes on with the allowed ones). */
static bool alter_denied(struct net_request *req, struct net_response *resp,
			 bool incremental, int *rc)
{
	if (!net_authorizer_on(req->srv))
		return false;
	struct wire_reader r = req->body;
	struct alter_req q = {.incremental = incremental};
	bool any = false;
	*rc = alter_decode(&r, &q);
	for (int32_t i = 0; *rc == KB_OK && i < q.n; i++)
		any = any || config_denied(req, q.res[i].type, q.res[i].name,
					   NET_OP_ALTER_CONFIGS);
	if (*rc == KB_OK && any) {
		struct wire_writer *w = &resp->w;
		wire_write_i32(w, 0); /* throttle_time_ms */
		wire_write_array_len(w, q.n);
		for (int32_t i = 0; i < q.n; i++) {
			int16_t e = q.res[i].type == RESOURCE_BROKER ?
				KAFKA_ERR_CLUSTER_AUTHORIZATION_FAILED :
				KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED;
			wire_write_i16(w, e);
			wire_write_string(w, wire_str_c(NULL));
			wire_write_i8(w, q.res[i].type);
			wire_write_string(w, q.res[i].name);
			wire_write_tags(w);
		}
		wire_write_tags(w);
		*rc = wire_writer_status(w);
	}
	for (int32_t i = 0; i < q.n; i++)
		free(q.res[i].e);
	free(q.res);
	if (*rc != KB_OK)
		*rc = KB_ERR_PROTO;
	return any || *rc != KB_OK;
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

/* KAFKA: ForwardingManager's error answer (topic_error_body): every
 * resource with error_code, read from a copy of the body. */
int topic_config_error_body(const struct net_request *req, int16_t error_code,
			    struct wire_writer *w)
{
	int16_t key = req->header.api_key;
	if (key != WIRE_API_ALTER_CONFIGS &&
	    key != WIRE_API_INCREMENTAL_ALTER_CONFIGS)
		return KB_ERR_NOTFOUND;
	struct wire_reader r = req->body;
	struct alter_req q = {0};
	q.incremental = key == WIRE_API_INCREMENTAL_ALTER_CONFIGS;
	int rc = alter_decode(&r, &q);
	if (rc == KB_OK) {
		wire_write_i32(w, 0); /* throttle_time_ms */
		wire_write_array_len(w, q.n);
		for (int32_t i = 0; i < q.n; i++) {
			wire_write_i16(w, error_code);
			wire_write_string(w, wire_str_c(NULL));
			wire_write_i8(w, q.res[i].type);
			wire_write_string(w, q.res[i].name);
			wire_write_tags(w);
		}
		wire_write_tags(w);
		rc = wire_writer_status(w);
	}
	for (int32_t i = 0; i < q.n; i++)
		free(q.res[i].e);
	free(q.res);
	return rc;
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
	struct alter_target to = {tm, &o};
	for (int32_t k = 0; !res->error && k < a->n; k++)
		alter_entry_apply(&to, a, k, res);
	if (!res->error && topic_config_build(tm, &o, &cfg, res) == KB_OK &&
	    !q->validate_only) {
		if (topic_reconfigure(tm, t, &o) != KB_OK)
			topic_result_set(res, KAFKA_ERR_UNKNOWN_SERVER_ERROR, NULL);
		return; /* o was taken */
	}
	topic_overrides_free(&o);
}

/* The type (TOPIC_CFG_*) of key k of a, copied into key; -1 with res set
 * for a key named twice (KAFKA: INVALID_REQUEST) or unknown
 * (INVALID_CONFIG). */
static int8_t alter_entry_key(const struct alter_resource *a, int32_t k,
			      char *key, struct topic_result *res)
{
	const struct alter_entry *e = &a->e[k];
	int8_t type;
	for (int32_t j = 0; j < k; j++)
		if (a->e[j].name.len == e->name.len &&
		    !memcmp(a->e[j].name.p, e->name.p, (size_t)e->name.len)) {
			topic_result_set(res, KAFKA_ERR_INVALID_REQUEST,
					 "Error due to duplicate config keys");
			return -1;
		}
	if (wire_copy(e->name, key, TOPIC_CONFIG_VALUE_MAX) &&
	    (type = topic_config_key_type(key)) >= 0)
		return type;
	topic_result_set(res, KAFKA_ERR_INVALID_CONFIG, "Unknown topic config "
			 "name: %.*s", (int)e->name.len, e->name.p);
	return -1;
}

/* Apply key k of a to o: SET, DELETE, or APPEND/SUBTRACT on a list key,
 * starting from its current value, default included (KAFKA:
 * ConfigAdminManager.prepareIncrementalConfigs). */
static bool alter_entry_apply(const struct alter_target *to,
			      const struct alter_resource *a, int32_t k,
			      struct topic_result *res)
{
	const struct topic_manager *tm = to->tm;
	struct topic_overrides *o = to->o;
	const struct alter_entry *e = &a->e[k];
	char key[TOPIC_CONFIG_VALUE_MAX], val[TOPIC_CONFIG_VALUE_MAX];
	char out[TOPIC_CONFIG_VALUE_MAX];
	int8_t type = alter_entry_key(a, k, key, res);
	bool d = type >= 0;
	struct topic_config_entry cur;
	if (d && e->op == OP_DELETE)
		topic_overrides_del(o, key);
	else if (d && (e->op < OP_SET || e->op > OP_SUBTRACT || e->value.len < 0))
		topic_result_set(res, KAFKA_ERR_INVALID_REQUEST, e->value.len < 0
				 ? "Null value not supported for : %s"
				 : "Unknown config operation for %s", key);
	else if (d && !wire_copy(e->value, val, sizeof val))
		topic_result_set(res, KAFKA_ERR_INVALID_CONFIG,
				 "Invalid value for configuration %s", key);
	else if (d && e->op != OP_SET && type != TOPIC_CFG_LIST)
		topic_result_set(res, KAFKA_ERR_INVALID_CONFIG, "Config value %s "
				 "is not allowed for config key: %s",
				 e->op == OP_APPEND ? "append" : "subtract", key);
	else if (d && e->op != OP_SET &&
		 topic_config_entry_find(tm, o, key, &cur)) {
		struct list_edit edit = {cur.value, val, e->op == OP_APPEND};
		list_edit(&edit, out, sizeof out);
	}
	if (!d || res->error || e->op == OP_DELETE)
		return d && !res->error;
	if (topic_overrides_set(o, key, e->op == OP_SET ? val : out) != KB_OK)
		topic_result_set(res, KAFKA_ERR_UNKNOWN_SERVER_ERROR, NULL);
	return res->error == KAFKA_ERR_NONE;
}

/* ---- Small helpers ---- */

/* True when list holds item (len bytes). */
static bool list_has(const char *list, const char *item, size_t len)
{
	const char *x;
	size_t n;
	while ((x = topic_config_list_next(&list, &n)))
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
static void list_edit(const struct list_edit *e, char *out, size_t cap)
{
	const char *cur = e->cur, *val = e->val;
	bool add = e->add;
	const char *p = cur, *x;
	size_t n;
	out[0] = '\0';
	while ((x = topic_config_list_next(&p, &n)))
		if (n > 0 && (add || !list_has(val, x, n)))
			list_add(out, cap, x, n);
	for (p = val; add && (x = topic_config_list_next(&p, &n));)
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
