/* SPDX-License-Identifier: MIT */
/*
 * Chapter 06 — topics, part 1: the topic registry.
 *
 * Concept:
 *   A client never names a file: it names a topic and a partition number.
 *   The registry turns those names into chapter 03 logs: a topic is a
 *   name, a 16-byte id that never changes, N partitions (one log each) and
 *   a configuration. Every batch enters a partition through one door,
 *   topic_append_batch. Every other file of the chapter builds on this one.
 *
 * Kafka:
 *   Topic.validate and Topic.hasCollision (names), Topic.isInternal and
 *   CLUSTER_METADATA_TOPIC_NAME (reserved names), Uuid.randomUuid and
 *   Uuid.toString (base64url topic ids), Partition.highWatermark.
 *
 * Interface:
 *   - A struct topic or struct topic_partition pointer is valid until that
 *     topic is deleted: look it up again in every request.
 *   - Later chapters plug in through topic_subscribe (any number) and
 *     topic_set_produce_check; only the owner of the high watermark moves it.
 *   - Chapter 07 makes the broker one of a cluster with topic_set_cluster;
 *     the handlers ask topic_cluster_broker, topic_cluster_endpoint (a
 *     broker at the endpoint named like the request's listener),
 *     topic_cluster_replicas, topic_leader_check and topic_forwarded,
 *     never the hooks themselves.
 *
 * Invariants:
 *   1. Every published topic has npartitions >= 1 partitions numbered
 *      0..n-1, each pointing back at it, and points back at its manager.
 *   2. Topic names are valid, unique, and no two collide once '.' reads
 *      '_'; topic ids are unique.
 *   3. high_watermark <= log end offset, and it never moves back but with
 *      the log (topic_partition_truncate, a follower's cut). One
 *      owner moves it: chapter 06 (= log end offset after each append)
 *      until a later chapter calls topic_take_high_watermark.
 *   4. With no cluster set (topic_set_cluster), this node is the only
 *      broker, the controller, and the leader of every partition.
 *   topic_partition_check asserts 1 and 3 after every append; topic_check
 *   (06_lifecycle.c) all of chapter 06's invariants after every change,
 *   topic_cluster_check 4.
 *
 * Simplifications:
 *   - Alone (no cluster set): leader, only replica and controller of every
 *     partition.
 *   - Topics live in an array searched linearly: tens, not millions.
 *   Single-threaded: everything belongs to the reactor thread.
 *
 * See also: docs/06_topics.md, diagrams/06_topics.dot, tests/06_topics_test.c.
 *   Uses chapters 00 (base), 01 (segment), 03 (log), 04 (codec), 05 (server).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "00_base.h"
#include "01_segment.h"
#include "03_log.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"

/* The quorum's metadata log (chapter 07) lives beside topics but is none. */
#define TOPIC_METADATA_LOG "__cluster_metadata"

/* The registry: every topic, the broker config, the installed hooks.
 * Owned by whoever opened it; single-threaded, like the reactor. */
struct topic_manager {
	struct topic_broker_config cfg;
	struct net_server *srv;   /* borrowed; NULL when opened without one */
	struct topic **topics;    /* owned: ntopics topics, in creation order */
	size_t ntopics;
	topic_produce_check_fn produce_check; /* chapter 11, or NULL */
	void *produce_check_ctx;              /* borrowed */
	/* Partition events: every subscriber, in subscription order
	 * (chapters 08, 10, 11, ...). struct subscriber each. */
	struct kb_buf subscribers;
	/* INVARIANT 3: the one owner of the high watermark. false: chapter 06
	 * (high watermark = log end offset after each append); true: a later
	 * chapter took it with topic_take_high_watermark. */
	bool high_watermark_taken;
	topic_truncated_fn truncated; /* chapter 11: forget past a cut */
	void *truncated_ctx;          /* borrowed */
	topic_follower_fetch_fn follower_fetch; /* chapter 08's replica fetch */
	void *follower_fetch_ctx;     /* borrowed */
	struct topic_cluster cluster; /* chapter 07's hooks */
	bool in_cluster;        /* false: one node, cluster unused */
	topic_step_fn step;     /* tests: runs before each durable step */
	void *step_ctx;         /* borrowed */
	/* Partitions appended to whose flush policy asks for an fsync,
	 * done once before the answers go out (topic_flush_unflushed). */
	struct kb_buf unflushed; /* struct topic_partition * each, borrowed */
	struct topic_logdir logdir; /* cfg.log_dir's health (06_logdir.c) */
};

/* ---- Prototypes of the static helpers, in reading order ---- */

static const struct reserved_name *reserved_find(const char *name, size_t len);
static struct subscriber *subscriber_list(struct topic_manager *tm, size_t *n);
static int append_flush(struct topic_manager *tm, struct topic_partition *tp,
			int64_t now);
static int append_failed(struct topic_manager *tm, int rc);
static void append_announce(struct topic_manager *tm,
			    struct topic_partition *tp, const uint8_t *batch,
			    size_t len, const struct log_append_info *ai,
			    struct log_append_info *info);
static void partition_events_emit(struct topic_manager *tm,
				  struct topic_partition *tp,
				  const struct seg_batch *b,
				  const struct log_append_info *ai);
static struct topic_partition **unflushed_list(struct topic_manager *tm,
						size_t *n);
static int unflushed_add(struct topic_manager *tm, struct topic_partition *tp);
static int topic_flush_unflushed(void *ctx);
static void unflushed_forget(struct topic_manager *tm,
			     const struct topic_partition *tp);

/* ---- The registry ---- */

/* Kafka's defaults for every field of struct topic_broker_config. */
void topic_broker_config_defaults(struct topic_broker_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->node_id = 1;
	snprintf(cfg->advertised_host, sizeof cfg->advertised_host, "localhost");
	cfg->advertised_port = 9092;
	snprintf(cfg->log_dir, sizeof cfg->log_dir, "/tmp/kraft-combined-logs");
	snprintf(cfg->cluster_id, sizeof cfg->cluster_id, "samsa-cluster");
	cfg->num_partitions = 1;
	cfg->default_replication_factor = 1;
	cfg->auto_create_topics = true;
	cfg->delete_topic_enable = true;
	cfg->message_max_bytes = TOPIC_DEFAULT_MESSAGE_MAX_BYTES;
	cfg->min_insync_replicas = 1;
	log_config_defaults(&cfg->log_defaults);
	cfg->log_retention_check_interval_ms = TOPIC_DEFAULT_RETENTION_CHECK_MS;
}

/* The registry alone, empty: 06_lifecycle.c fills it from disk. With a
 * server, acknowledgements wait for the fsyncs flush.messages asks for
 * (topic_flush_unflushed, the before-send hook). returns owned *out
 * (topic_manager_free). borrows: cfg (copied), srv. */
int topic_manager_new(const struct topic_broker_config *cfg,
		      struct net_server *srv, struct topic_manager **out)
{
	struct topic_manager *tm = calloc(1, sizeof *tm);
	*out = NULL;
	if (!tm)
		return KB_ERR_NOMEM;
	tm->cfg = *cfg;
	tm->srv = srv;
	topic_logdir_init(&tm->logdir, tm->cfg.log_dir);
	if (srv)
		net_set_before_send(srv, topic_flush_unflushed, tm);
	*out = tm;
	return KB_OK;
}

/* Free every topic (closing its logs) and the registry. */
void topic_manager_free(struct topic_manager *tm)
{
	for (size_t i = 0; i < tm->ntopics; i++)
		topic_free(tm->topics[i]);
	free(tm->topics);
	kb_buf_fini(&tm->unflushed);
	kb_buf_fini(&tm->subscribers);
	free(tm);
}

struct topic_logdir *topic_manager_logdir(struct topic_manager *tm)
{
	return &tm->logdir;
}

const struct topic_broker_config *topic_manager_config(
	const struct topic_manager *tm)
{
	return &tm->cfg;
}

struct net_server *topic_manager_server(const struct topic_manager *tm)
{
	return tm->srv;
}

/* A topic named name with no partitions yet. returns owned *out
 * (topic_free). */
int topic_new(struct topic_manager *tm, const char *name, struct topic **out)
{
	struct topic *t = calloc(1, sizeof *t);
	if (!t)
		return KB_ERR_NOMEM;
	t->tm = tm;
	snprintf(t->name, sizeof t->name, "%s", name);
	t->internal = topic_is_internal(name);
	*out = t;
	return KB_OK;
}

/* Close the logs (when open) and free the topic. takes: t. */
void topic_free(struct topic *t)
{
	for (int32_t p = 0; p < t->npartitions; p++) {
		if (t->partitions[p]->log)
			log_close(t->partitions[p]->log);
		free(t->partitions[p]);
	}
	free(t->partitions);
	topic_overrides_free(&t->overrides);
	free(t);
}

/* Room for one more topic, so that publishing one cannot fail. */
int topic_publish_reserve(struct topic_manager *tm)
{
	struct topic **a = realloc(tm->topics, (tm->ntopics + 1) * sizeof *a);
	if (!a)
		return KB_ERR_NOMEM;
	tm->topics = a;
	return KB_OK;
}

/* Publish t (after topic_publish_reserve): requests find it from now on.
 * takes: t. */
void topic_publish(struct topic_manager *tm, struct topic *t)
{
	tm->topics[tm->ntopics++] = t;
}

/* Unpublish t: no request finds it any more; fetches parked on its logs
 * are woken to answer UNKNOWN_TOPIC_OR_PARTITION. The caller frees t. */
void topic_unpublish(struct topic_manager *tm, struct topic *t)
{
	for (size_t i = 0; i < tm->ntopics; i++)
		if (tm->topics[i] == t) {
			memmove(&tm->topics[i], &tm->topics[i + 1],
				(--tm->ntopics - i) * sizeof *tm->topics);
			break;
		}
	for (int32_t p = 0; p < t->npartitions; p++) {
		unflushed_forget(tm, t->partitions[p]);
		if (tm->srv)
			net_wake(tm->srv, t->partitions[p]->log);
	}
}

/* ---- Names and ids ---- */

/* KAFKA: Topic.validate. */
bool topic_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > TOPIC_NAME_MAX)
		return false;
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* KAFKA: Topic.hasCollision: "a.b" and "a_b" would share metric names. */
struct topic *topic_collision(const struct topic_manager *tm,
			      const char *name, size_t len)
{
	for (size_t i = 0; i < tm->ntopics; i++) {
		const char *o = tm->topics[i]->name;
		size_t k = 0;
		if (strlen(o) != len || memcmp(o, name, len) == 0)
			continue;
		while (k < len && (o[k] == '.' ? '_' : o[k]) ==
				  (name[k] == '.' ? '_' : name[k]))
			k++;
		if (k == len)
			return tm->topics[i];
	}
	return NULL;
}

/* Every name the broker keeps for itself, in one place. KAFKA:
 * Topic.CLUSTER_METADATA_TOPIC_NAME (chapter 07's log, never a topic)
 * and Topic.INTERNAL_TOPICS (topics only the broker creates and writes). */
static const struct reserved_name {
	const char *name;
	bool internal_topic; /* the broker creates it as a topic */
} reserved_names[] = {
	{TOPIC_METADATA_LOG, false},
	{TOPIC_CONSUMER_OFFSETS, true}, /* chapter 09 */
	{"__transaction_state", true},  /* chapter 11's transactions */
};

/* The entry for name, or NULL. */
static const struct reserved_name *reserved_find(const char *name, size_t len)
{
	for (size_t i = 0; i < KB_ARRAY_LEN(reserved_names); i++)
		if (strlen(reserved_names[i].name) == len &&
		    memcmp(reserved_names[i].name, name, len) == 0)
			return &reserved_names[i];
	return NULL;
}

bool topic_name_reserved(const char *name, size_t len)
{
	return reserved_find(name, len) != NULL;
}

/* KAFKA: Topic.isInternal: a topic only the broker creates and writes. */
bool topic_is_internal(const char *name)
{
	const struct reserved_name *r = reserved_find(name, strlen(name));
	return r && r->internal_topic;
}

bool topic_name_copy(struct wire_str s, char *out)
{
	if (s.len < 0 || !topic_name_valid(s.p, (size_t)s.len))
		return false;
	memcpy(out, s.p, (size_t)s.len);
	out[s.len] = '\0';
	return true;
}

/* KAFKA: Uuid.toString is Base64.getUrlEncoder().withoutPadding(). */
static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 16 bytes, 6 bits per character: 21 full characters and 2 bits. */
void topic_id_format(const struct wire_uuid *id, char *out)
{
	uint32_t acc = 0;
	int bits = 0, o = 0;
	for (int i = 0; i < WIRE_UUID_LEN; i++) {
		acc = acc << 8 | id->b[i];
		for (bits += 8; bits >= 6; bits -= 6)
			out[o++] = b64url[acc >> (bits - 6) & 63];
	}
	out[o++] = b64url[acc << (6 - bits) & 63];
	out[o] = '\0';
}

int topic_id_parse(const char *s, struct wire_uuid *out)
{
	uint32_t acc = 0;
	int bits = 0, o = 0;
	if (strlen(s) != TOPIC_ID_STRING_LEN)
		return KB_ERR_INVAL;
	for (int i = 0; i < TOPIC_ID_STRING_LEN; i++) {
		const char *c = strchr(b64url, s[i]);
		if (!c || !s[i])
			return KB_ERR_INVAL;
		acc = acc << 6 | (uint32_t)(c - b64url);
		if ((bits += 6) >= 8 && o < WIRE_UUID_LEN) {
			out->b[o++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
		}
	}
	return (acc & ((1u << bits) - 1)) == 0 ? KB_OK : KB_ERR_INVAL;
}

/* KAFKA: Uuid.randomUuid: a random (version 4) UUID whose text does not
 * start with '-', so it can never be mistaken for a command-line flag. */
void topic_id_generate(struct wire_uuid *id)
{
	char text[TOPIC_ID_STRING_LEN + 1];
	do {
		if (getrandom(id->b, sizeof id->b, 0) != (ssize_t)sizeof id->b)
			for (size_t i = 0; i < sizeof id->b; i++)
				id->b[i] = (uint8_t)rand();
		id->b[6] = (uint8_t)((id->b[6] & 0x0f) | 0x40);
		id->b[8] = (uint8_t)((id->b[8] & 0x3f) | 0x80);
		topic_id_format(id, text);
	} while (text[0] == '-');
}

/* ---- Results of admin requests ---- */

/* The result helpers of every admin handler in the chapter. */
void topic_result_set(struct topic_result *r, int16_t error,
		      const char *fmt, ...)
{
	va_list ap;
	r->error = error;
	free(r->message);
	r->message = NULL;
	if (!fmt)
		return;
	va_start(ap, fmt);
	if (vasprintf(&r->message, fmt, ap) < 0)
		r->message = NULL;
	va_end(ap);
}

struct wire_str topic_result_message(const struct topic_result *r)
{
	return wire_str_c(r->message);
}

/* ---- Overrides: a topic's own settings as text ---- */

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

/* ---- Lookups ---- */

struct topic *topic_find_len(const struct topic_manager *tm, const char *name,
			     size_t len)
{
	for (size_t i = 0; i < tm->ntopics; i++)
		if (strlen(tm->topics[i]->name) == len &&
		    memcmp(tm->topics[i]->name, name, len) == 0)
			return tm->topics[i];
	return NULL;
}

struct topic *topic_find(struct topic_manager *tm, const char *name)
{
	return topic_find_len(tm, name, strlen(name));
}

struct topic *topic_find_by_id(struct topic_manager *tm,
			       const struct wire_uuid *id)
{
	for (size_t i = 0; i < tm->ntopics; i++)
		if (memcmp(tm->topics[i]->id.b, id->b, WIRE_UUID_LEN) == 0)
			return tm->topics[i];
	return NULL;
}

size_t topic_count(const struct topic_manager *tm)
{
	return tm->ntopics;
}

struct topic *topic_at(const struct topic_manager *tm, size_t i)
{
	return i < tm->ntopics ? tm->topics[i] : NULL;
}

struct topic_partition *topic_partition_find(struct topic_manager *tm,
					     const char *topic,
					     int32_t partition)
{
	struct topic *t = topic_find(tm, topic);
	if (!t || partition < 0 || partition >= t->npartitions)
		return NULL;
	return t->partitions[partition];
}

/* ---- Hooks for later chapters ---- */

/* One subscriber to partition events. borrows: ctx. */
struct subscriber {
	topic_appended_fn appended;
	void *ctx;
};

void topic_set_cluster(struct topic_manager *tm, const struct topic_cluster *c)
{
	tm->in_cluster = c != NULL;
	if (c)
		tm->cluster = *c;
	else
		memset(&tm->cluster, 0, sizeof tm->cluster);
}

const struct topic_cluster *topic_cluster_get(const struct topic_manager *tm)
{
	return tm->in_cluster ? &tm->cluster : NULL;
}

void topic_partition_set_leader(struct topic_partition *tp, int32_t leader_id,
				int32_t leader_epoch)
{
	tp->leader_id = leader_id;
	tp->leader_epoch = leader_epoch;
}

/* ---- One broker of a cluster (docs/06_topics.md, "In a cluster") ----
 *
 * Every handler asks these helpers, so the cluster-specific code lives
 * here, beside the hooks: with no cluster set each answers as the single
 * node always did (INVARIANT 4). KAFKA: MetadataCache, ForwardingManager,
 * ReplicaManager.getPartitionOrError, AutoTopicCreationManager. */

/* SIMPLIFICATION: most brokers a Metadata answer lists. */
#define CLUSTER_MAX_BROKERS 4096

/* This node as the one broker of a single-node answer: at the advertised
 * address of req's listener (an SSL client is told the SSL port), else
 * the client listener's. */
static void self_info(const struct topic_manager *tm,
		      const struct net_request *req,
		      struct topic_broker_info *out)
{
	const struct topic_broker_config *c = topic_manager_config(tm);
	const char *host;
	int32_t port;
	out->id = c->node_id;
	out->host = c->advertised_host;
	out->port = c->advertised_port;
	out->rack = c->rack[0] ? c->rack : NULL;
	if (req && net_request_advertised(req, &host, &port)) {
		out->host = host;
		out->port = port;
	}
}

/* The listener name the hooks are asked with: req's; NULL for none. */
static const char *listener_of(const struct net_request *req)
{
	const char *name = req ? net_request_listener_name(req) : "";
	return name[0] ? name : NULL;
}

bool topic_cluster_broker(const struct topic_manager *tm,
			  const struct net_request *req, int32_t i,
			  struct topic_broker_info *out)
{
	const struct topic_cluster *cl = topic_cluster_get(tm);
	if (!cl || !cl->broker_at) {
		if (i == 0)
			self_info(tm, req, out);
		return i == 0;
	}
	return i >= 0 && i < CLUSTER_MAX_BROKERS &&
	       cl->broker_at(cl->ctx, listener_of(req), i, out) == KB_OK;
}

int16_t topic_cluster_endpoint(const struct topic_manager *tm,
			       const struct net_request *req, int32_t id,
			       struct topic_broker_info *out)
{
	const struct topic_cluster *cl = topic_cluster_get(tm);
	if (!cl || !cl->endpoint) {
		self_info(tm, req, out);
		return id == out->id ? KAFKA_ERR_NONE
				     : KAFKA_ERR_LEADER_NOT_AVAILABLE;
	}
	int rc = cl->endpoint(cl->ctx, id, listener_of(req), out);
	if (rc == KB_ERR_RANGE)
		return KAFKA_ERR_LISTENER_NOT_FOUND;
	return rc == KB_OK ? KAFKA_ERR_NONE : KAFKA_ERR_LEADER_NOT_AVAILABLE;
}

int32_t topic_cluster_broker_count(const struct topic_manager *tm,
				   const struct net_request *req)
{
	struct topic_broker_info b;
	int32_t n = 0;
	while (topic_cluster_broker(tm, req, n, &b))
		n++;
	return n;
}

int32_t topic_cluster_controller(const struct topic_manager *tm)
{
	const struct topic_cluster *cl = topic_cluster_get(tm);
	if (!cl)
		return topic_manager_config(tm)->node_id;
	return cl->controller_id ? cl->controller_id(cl->ctx) : -1;
}

/* KAFKA: MetadataCache.partitionMetadata: a partition the metadata has
 * no leader for is LEADER_NOT_AVAILABLE. The single node: itself. */
int16_t topic_cluster_replicas(const struct topic_manager *tm,
			       const struct topic_partition *tp,
			       struct topic_replicas *out,
			       int32_t *self_storage)
{
	const struct topic_cluster *cl = topic_cluster_get(tm);
	if (!cl) {
		*self_storage = topic_manager_config(tm)->node_id;
		*out = (struct topic_replicas){tp->leader_id,
					       tp->leader_epoch, self_storage,
					       1, self_storage, 1};
		return KAFKA_ERR_NONE;
	}
	memset(out, 0, sizeof *out);
	if (!cl->replicas ||
	    cl->replicas(cl->ctx, tp->topic->name, tp->index, out) != KB_OK ||
	    out->leader_id < 0) {
		*out = (struct topic_replicas){-1, -1, NULL, 0, NULL, 0};
		return KAFKA_ERR_LEADER_NOT_AVAILABLE;
	}
	if (out->n_replicas < 0 || (out->n_replicas > 0 && !out->replicas))
		out->n_replicas = 0;
	if (out->n_isr < 0 || (out->n_isr > 0 && !out->isr))
		out->n_isr = 0;
	return KAFKA_ERR_NONE;
}

/* KAFKA: ReplicaManager.getPartitionOrError, then
 * Partition.checkCurrentLeaderEpoch: -1 skips the epoch check; a client
 * ahead of us knows a leader we do not, one behind is fenced. */
int16_t topic_leader_check(const struct topic_manager *tm,
			   const struct topic_partition *tp, int32_t current)
{
	if (tp->leader_id != topic_manager_config(tm)->node_id)
		return KAFKA_ERR_NOT_LEADER_OR_FOLLOWER;
	if (current == -1 || current == tp->leader_epoch)
		return KAFKA_ERR_NONE;
	return current > tp->leader_epoch ? KAFKA_ERR_UNKNOWN_LEADER_EPOCH
					  : KAFKA_ERR_FENCED_LEADER_EPOCH;
}

/* KAFKA: ForwardingManager: the handler's answer is the forwarder's. */
bool topic_authorized(const struct net_request *req, int8_t operation,
		      struct wire_str topic)
{
	return net_authorized(req, operation, NET_RESOURCE_TOPIC,
			      topic.len > 0 ? topic.p : "",
			      topic.len > 0 ? (size_t)topic.len : 0);
}

bool topic_forwarded(struct net_request *req, struct net_response *resp,
		     int *rc)
{
	const struct topic_cluster *cl = topic_cluster_get(req->ctx);
	if (!cl || !cl->forward)
		return false;
	*rc = cl->forward(cl->ctx, req, resp);
	return true;
}

/* KAFKA: AutoTopicCreationManager: the controller creates it; until the
 * metadata log says so the caller retries (KB_ERR_AGAIN). */
int topic_cluster_create(struct topic_manager *tm,
			 const struct topic_create_req *req)
{
	const struct topic_cluster *cl = topic_cluster_get(tm);
	assert(cl);
	if (cl->create && cl->create(cl->ctx, req) != KB_OK)
		KB_WARN("topics: could not ask the controller for %s",
			req->name);
	return KB_ERR_AGAIN;
}

void topic_cluster_check(const struct topic_manager *tm)
{
#ifndef NDEBUG
	if (topic_cluster_get(tm))
		return; /* the metadata log decides, chapter 07 checks it */
	int32_t node = topic_manager_config(tm)->node_id;
	struct topic_broker_info b;
	/* INVARIANT 4 */
	assert(topic_cluster_broker(tm, NULL, 0, &b) && b.id == node);
	assert(!topic_cluster_broker(tm, NULL, 1, &b));
	assert(topic_cluster_controller(tm) == node);
	for (size_t i = 0; i < topic_count(tm); i++) {
		const struct topic *t = topic_at(tm, i);
		for (int32_t p = 0; p < t->npartitions; p++)
			assert(t->partitions[p]->leader_id == node);
	}
#else
	(void)tm;
#endif
}

void topic_set_produce_check(struct topic_manager *tm,
			     topic_produce_check_fn fn, void *ctx)
{
	tm->produce_check = fn;
	tm->produce_check_ctx = ctx;
}

void topic_run_produce_check(struct topic_manager *tm,
			     struct topic_partition *tp,
			     const struct seg_batch *batch,
			     struct topic_produce_verdict *v)
{
	*v = (struct topic_produce_verdict){KAFKA_ERR_NONE, false, -1};
	if (tm->produce_check)
		tm->produce_check(tm->produce_check_ctx, tp, batch, v);
}

/* The subscribers, and how many. */
static struct subscriber *subscriber_list(struct topic_manager *tm, size_t *n)
{
	*n = tm->subscribers.len / sizeof(struct subscriber);
	return (struct subscriber *)(void *)tm->subscribers.data;
}

int topic_subscribe(struct topic_manager *tm, topic_appended_fn fn,
		    void *ctx)
{
	struct subscriber s = {fn, ctx};
	return kb_buf_append(&tm->subscribers, &s, sizeof s);
}

void topic_unsubscribe(struct topic_manager *tm, topic_appended_fn fn,
		       void *ctx)
{
	size_t n, kept = 0;
	struct subscriber *list = subscriber_list(tm, &n);
	for (size_t i = 0; i < n; i++)
		if (list[i].appended != fn || list[i].ctx != ctx)
			list[kept++] = list[i];
	tm->subscribers.len = kept * sizeof *list;
}

/* INVARIANT 3: exactly one owner. Taking it twice is a bug of ours. */
void topic_take_high_watermark(struct topic_manager *tm)
{
	assert(!tm->high_watermark_taken);
	tm->high_watermark_taken = true;
}

void topic_set_step_hook(struct topic_manager *tm, topic_step_fn fn, void *ctx)
{
	tm->step = fn;
	tm->step_ctx = ctx;
}

/* Where the crash tests stop the process. */
void topic_step(const struct topic_manager *tm, const char *step)
{
	if (tm->step)
		tm->step(tm->step_ctx, step);
}

/* ---- Appending: the one door into a partition ---- */

/* The one place a batch enters a partition: the log assigns offsets and
 * the leader epoch; the owner of the high watermark moves it; every
 * subscriber hears of the batch; then, once, whoever waits is woken. */
int topic_append_batch(struct topic_partition *tp, uint8_t *batch, size_t len,
		       struct log_append_info *info)
{
	struct topic_manager *tm = tp->topic->tm;
	struct log_append_info ai;
	int64_t now = kb_now_ms();
	struct log_append_req req = {batch, len, tp->leader_epoch, now};
	if (!topic_logdir_online(&tm->logdir))
		return KB_ERR_IO; /* KAFKA: KafkaStorageException, offline dir */
	int rc = log_append(tp->log, &req, &ai);
	if (rc == KB_OK)
		rc = append_flush(tm, tp, now);
	if (rc != KB_OK)
		return append_failed(tm, rc);
	if (!tm->high_watermark_taken) /* single node: the leader is the ISR */
		tp->high_watermark = log_end_offset(tp->log);
	append_announce(tm, tp, batch, len, &ai, info);
	return KB_OK;
}

/* The flush policy of an append: noted for the group commit before the
 * answers go out, or done now without a server. */
static int append_flush(struct topic_manager *tm, struct topic_partition *tp,
			int64_t now)
{
	if (!log_flush_due(tp->log, now))
		return KB_OK;
	return tm->srv ? unflushed_add(tm, tp) : log_maybe_flush(tp->log, now);
}

/* The end of every append: the subscribers hear of the batch, then one
 * wake for whoever waits on the log. */
static void append_announce(struct topic_manager *tm,
			    struct topic_partition *tp, const uint8_t *batch,
			    size_t len, const struct log_append_info *ai,
			    struct log_append_info *info)
{
	if (info)
		*info = *ai;
	struct seg_batch b;
	if (tm->subscribers.len && seg_batch_decode(batch, len, &b) == KB_OK)
		partition_events_emit(tm, tp, &b, ai);
	if (tm->srv)
		net_wake(tm->srv, tp->log);
	topic_partition_check(tp);
}

/* Tell every subscriber about one appended batch, in subscription order. */
static void partition_events_emit(struct topic_manager *tm,
				  struct topic_partition *tp,
				  const struct seg_batch *b,
				  const struct log_append_info *ai)
{
	size_t n;
	struct subscriber *list = subscriber_list(tm, &n);
	for (size_t i = 0; i < n; i++)
		list[i].appended(list[i].ctx, tp, b, ai);
}

/* KAFKA: Partition.appendRecordsToFollowerOrFutureReplica — chapter 08's
 * door: the leader's batch kept as it is (log_append_as_follower), then
 * what every append does: flush policy, subscribers, one wake. */
int topic_append_replica(struct topic_partition *tp, const uint8_t *batch,
			 size_t len, struct log_append_info *info)
{
	struct topic_manager *tm = tp->topic->tm;
	struct log_append_info ai;
	int64_t now = kb_now_ms();
	if (!topic_logdir_online(&tm->logdir))
		return KB_ERR_IO;
	int rc = log_append_as_follower(tp->log, batch, len, now, &ai);
	if (rc == KB_OK)
		rc = append_flush(tm, tp, now);
	if (rc != KB_OK)
		return append_failed(tm, rc);
	append_announce(tm, tp, batch, len, &ai, info);
	return KB_OK;
}

/* A failed append: the log kept no part of it (chapter 03); a failing
 * disk takes the log dir offline (06_logdir.c). Returns rc. */
static int append_failed(struct topic_manager *tm, int rc)
{
	if (rc == KB_ERR_IO)
		topic_logdir_failed(&tm->logdir, "append");
	return rc;
}

/* KAFKA: Partition.truncateTo / truncateFullyAndStartAt. The high
 * watermark follows the log down (the one move back INVARIANT 3 allows:
 * what a follower held past its leader was never committed); the
 * truncate hook (chapter 11) forgets what it knew past the cut. */
int topic_partition_truncate(struct topic_manager *tm,
			     struct topic_partition *tp, int64_t offset,
			     bool start_over)
{
	assert(tm->high_watermark_taken);
	int rc = start_over ? log_reset_at(tp->log, offset)
			    : log_truncate_to(tp->log, offset);
	if (rc != KB_OK)
		return rc;
	int64_t leo = log_end_offset(tp->log);
	if (start_over || tp->high_watermark > leo)
		tp->high_watermark = leo;
	if (tm->truncated)
		tm->truncated(tm->truncated_ctx, tp);
	if (tm->srv)
		net_wake(tm->srv, tp->log);
	topic_partition_check(tp);
	return KB_OK;
}

void topic_set_truncate_hook(struct topic_manager *tm, topic_truncated_fn fn,
			     void *ctx)
{
	tm->truncated = fn;
	tm->truncated_ctx = ctx;
}

void topic_set_follower_fetch(struct topic_manager *tm,
			      topic_follower_fetch_fn fn, void *ctx)
{
	tm->follower_fetch = fn;
	tm->follower_fetch_ctx = ctx;
}

int16_t topic_follower_fetch(struct topic_manager *tm,
			     struct topic_partition *tp, int32_t replica_id,
			     int64_t fetch_offset)
{
	if (!tm->follower_fetch)
		return KAFKA_ERR_NOT_LEADER_OR_FOLLOWER;
	return tm->follower_fetch(tm->follower_fetch_ctx, tp, replica_id,
				  fetch_offset);
}

/* Only the owner that took the high watermark moves it this way. */
void topic_partition_set_high_watermark(struct topic_manager *tm,
					struct topic_partition *tp,
					int64_t high_watermark)
{
	assert(tm->high_watermark_taken);
	int64_t hw = KB_MIN(high_watermark, log_end_offset(tp->log));
	if (hw <= tp->high_watermark)
		return;
	tp->high_watermark = hw;
	if (tm->srv)
		net_wake(tm->srv, tp->log);
	topic_partition_check(tp);
}

/* KAFKA: FetchIsolation.LOG_END, what GroupMetadataManager loads: a new
 * leader's whole log is the truth, committed or about to be. */
int topic_read_copy(struct topic_partition *tp, int64_t *offset,
		    size_t max_bytes, struct kb_buf *out)
{
	struct log_read_result rr;
	size_t got = 0;
	struct log_read_req req = {*offset, max_bytes, log_end_offset(tp->log),
				   true};
	int rc = log_read(tp->log, &req, &rr);
	if (rc != KB_OK || rr.length == 0)
		return rc;
	if ((rc = kb_buf_reserve(out, rr.length)) != KB_OK ||
	    (rc = seg_read(rr.seg, rr.position, out->data + out->len,
			   rr.length, &got)) != KB_OK)
		return rc;
	if (got != rr.length)
		return KB_ERR_IO;
	out->len += got;
	*offset = rr.next_offset;
	return KB_OK;
}

/* ---- Group commit of flush.messages ---- */

/* The partitions noted for topic_flush_unflushed, and how many. */
static struct topic_partition **unflushed_list(struct topic_manager *tm,
						size_t *n)
{
	*n = tm->unflushed.len / sizeof(struct topic_partition *);
	return (struct topic_partition **)(void *)tm->unflushed.data;
}

/* Note tp for topic_flush_unflushed (once). */
static int unflushed_add(struct topic_manager *tm, struct topic_partition *tp)
{
	size_t n;
	struct topic_partition **list = unflushed_list(tm, &n);
	for (size_t i = 0; i < n; i++)
		if (list[i] == tp)
			return KB_OK;
	return kb_buf_append(&tm->unflushed, &tp, sizeof tp);
}

/* KAFKA: flush.messages fsyncs inside UnifiedLog.append, once per
 * request. samsa waits until the connection has handled every request it
 * had buffered and fsyncs each log once for all of them, before any of
 * their acknowledgements is written (the server's before-send hook): a
 * group commit. A failed fsync fails the hook, and the server closes the
 * connection rather than acknowledge data that may not be on disk. */
static int topic_flush_unflushed(void *ctx)
{
	struct topic_manager *tm = ctx;
	size_t n;
	struct topic_partition **list = unflushed_list(tm, &n);
	int rc = KB_OK;
	for (size_t i = 0; i < n; i++) {
		int r = log_maybe_flush(list[i]->log, kb_now_ms());
		if (r != KB_OK) /* recovery_point stays: the next flush retries */
			rc = r;
		if (r == KB_ERR_IO)
			topic_logdir_failed(&tm->logdir, "fsync");
	}
	tm->unflushed.len = 0;
	return rc;
}

/* A deleted partition needs no fsync, and must not be found later. */
static void unflushed_forget(struct topic_manager *tm,
			     const struct topic_partition *tp)
{
	size_t n, kept = 0;
	struct topic_partition **list = unflushed_list(tm, &n);
	for (size_t i = 0; i < n; i++)
		if (list[i] != tp)
			list[kept++] = list[i];
	tm->unflushed.len = kept * sizeof *list;
}

/* ---- Invariants ---- */

/* INVARIANTS 1 and 3 for one partition (cheap: every append checks it). */
void topic_partition_check(const struct topic_partition *tp)
{
	assert(tp->topic && tp->log);
	assert(tp->topic->partitions[tp->index] == tp);
	assert(tp->high_watermark >= 0);
	assert(tp->high_watermark <= log_end_offset(tp->log));
	(void)tp;
}
