/* SPDX-License-Identifier: MIT */
/*
 * Chapter 06 — topics, part 4: the admin APIs.
 *
 * Concept:
 *   Before a client produces a byte it asks where things are: which
 *   brokers exist, which topics, which broker leads each partition
 *   (Metadata). Tools then create topics, delete them and add partitions.
 *   On one node every answer is short; what takes care is the request:
 *   many topics, each checked on its own with Kafka's exact error code.
 *
 * Kafka:
 *   Metadata v0-9 (auto.create.topics.enable, allow_auto_topic_creation),
 *   CreateTopics v2-7 (num_partitions/replication_factor -1 = the broker
 *   default, manual assignments, validate_only, the v5+ configs echo),
 *   DeleteTopics v1-6 (by name, v6 by id), CreatePartitions v0-3 (grow
 *   only), DescribeCluster v0-1; error codes from Errors.java.
 *
 * Interface:
 *   - Each handle_* decodes its whole request into a small struct (arrays
 *     allocated only after wire_read_array_len checked their counts), then
 *     acts on and answers each item in order.
 *   - Errors are per item: one bad topic never fails the others.
 *   - In a cluster (chapter 07's hooks, 06_topics.c) Metadata and
 *     DescribeCluster list its brokers, controller and replicas, and the
 *     three topic-changing APIs go to the controller (topic_forwarded);
 *     topic_admin_error_body answers them when it cannot be reached.
 *
 * Invariants:
 *   1. Every field is written exactly in the versions its JSON spec lists;
 *      tagged fields are never sent, only empty tag sections.
 *   2. An item that fails a check changes nothing; validate_only changes
 *      nothing at all.
 *   3. A topic named twice in one request is INVALID_REQUEST for each copy.
 *
 * Simplifications:
 *   - Replication factor 1 only; an assignment must name this node alone.
 *   - Alone, a topic being created is ready at once: Kafka would answer
 *     LEADER_NOT_AVAILABLE until its controller's records reached brokers
 *     (in a cluster, auto-creation does answer so).
 *
 * See also: docs/06_admin.md, diagrams/06_admin.dot, tests/06_topics_test.c;
 *   read before: 06_topics.c, 06_config_defs.c, 06_lifecycle.c.
 *   Uses chapters 00 (base), 04 (codec), 05 (server).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"

/* KAFKA: authorized operations not computed (Integer.MIN_VALUE). */
#define ADMIN_OPS_OMITTED INT32_MIN
/* KAFKA: DescribeCluster endpoint types. */
#define ENDPOINT_BROKERS 1
#define ENDPOINT_CONTROLLERS 2

/* The decoded MetadataRequest. */
struct metadata_req {
	int32_t ntopics;        /* -1: every topic */
	struct wire_str *names; /* owned array of views into the request */
	bool allow_auto_create; /* v4+; always true before */
};

/* One topic of a CreateTopics request. */
struct create_topic {
	struct wire_str name;
	int32_t num_partitions;     /* -1: num.partitions */
	int16_t replication_factor; /* -1: default.replication.factor */
	int32_t nassignments;
	int32_t assignment_gap;     /* first index not in 0, 1, 2... order, or -1 */
	bool assignment_foreign;    /* a replica list other than [node_id] */
	bool config_unusable;       /* a null value, or one with a NUL byte */
	struct topic_overrides configs; /* owned */
};

/* The decoded CreateTopicsRequest. */
struct create_req {
	int32_t n;
	struct create_topic *topics; /* owned */
	bool validate_only;
	int16_t version; /* of the request */
};

/* One topic of a DeleteTopics request: by name, or (v6) by id. */
struct delete_topic {
	struct wire_str name; /* len -1: by id */
	struct wire_uuid id;
};

/* One topic of a CreatePartitions request. */
struct partitions_topic {
	struct wire_str name;
	int32_t count;           /* the new total */
	int32_t nassignments;    /* -1: null */
	bool assignment_foreign; /* a replica list other than [node_id] */
};

/* The decoded CreatePartitionsRequest. */
struct partitions_req {
	int32_t n;
	struct partitions_topic *topics; /* owned */
	bool validate_only;
};

/* Where one Metadata answer goes, and what every topic of it shares. */
struct metadata_out {
	struct wire_writer *w;
	int16_t v;    /* the request's version */
	const struct topic_manager *tm; /* whose cluster says where */
	const struct net_request *req;  /* its listener names the endpoints */
};

/* The outcome of one CreatableTopic, as create_write answers it. */
struct create_result {
	int32_t i;                /* its index in the request */
	struct topic_result res;
	const struct topic *made; /* borrowed: the new topic, or NULL */
};

/* The outcome of one DeleteTopicState: which topic it was. */
struct delete_result {
	struct topic_result res;
	char name[TOPIC_NAME_MAX + 1]; /* "" when not found */
	struct wire_uuid id;
};

/* ---- Prototypes of the static helpers, in reading order ---- */

static int metadata_decode(struct wire_reader *r, int16_t v,
			   struct metadata_req *m);
static int create_decode(struct wire_reader *r, int32_t node,
			 struct create_req *q);
static bool admin_denied(struct net_request *req, struct net_response *resp,
			 int *rc);
static void create_check(struct topic_manager *tm, const struct create_req *q,
			 int32_t i, struct topic_result *res);
static void create_write(struct wire_writer *w, struct topic_manager *tm,
			 const struct create_req *q,
			 const struct create_result *r);
static void delete_one(struct topic_manager *tm, const struct delete_topic *d,
		       struct delete_result *r);
static void partitions_check(struct topic_manager *tm,
			     const struct partitions_req *q, int32_t i,
			     struct topic_result *res);
static bool same_name(struct wire_str a, struct wire_str b);
static void write_node_list(struct wire_writer *w, const int32_t *ids,
			    int32_t n);

/* ---- Metadata (api key 3, v0-9) ---- */

static int metadata_decode(struct wire_reader *r, int16_t v,
			   struct metadata_req *m)
{
	/* A name: a 2-byte length, or a 1-byte compact length and tags. */
	m->ntopics = v >= 1 ? wire_read_nullable_array_len(r, 2)
			    : wire_read_array_len(r, 2);
	if (v == 0 && m->ntopics == 0)
		m->ntopics = -1; /* KAFKA: v0 has no null; [] means all */
	if (m->ntopics > 0 && !(m->names = calloc((size_t)m->ntopics,
						  sizeof *m->names)))
		return KB_ERR_NOMEM;
	for (int32_t i = 0; i < m->ntopics; i++) {
		m->names[i] = wire_read_string(r);
		wire_read_tags(r);
	}
	m->allow_auto_create = v >= 4 ? wire_read_bool(r) : true;
	if (v >= 8) {
		wire_read_bool(r); /* include_cluster_authorized_operations */
		wire_read_bool(r); /* include_topic_authorized_operations */
	}
	wire_read_tags(r);
	return wire_reader_status(r);
}

/* One partition: where it lives (06_topics.c; a single node leads it
 * and is its only replica). */
static void metadata_write_partition(const struct metadata_out *o,
				     const struct topic_partition *tp)
{
	struct wire_writer *w = o->w;
	int16_t v = o->v;
	struct topic_replicas rs;
	int32_t self;
	int16_t error = topic_cluster_replicas(o->tm, tp, &rs, &self);
	struct topic_broker_info leader;
	/* KAFKA: a leader without the request's listener is no leader to
	 * this client: LISTENER_NOT_FOUND from v6, LEADER_NOT_AVAILABLE before */
	if (error == KAFKA_ERR_NONE && rs.leader_id >= 0 &&
	    topic_cluster_endpoint(o->tm, o->req, rs.leader_id, &leader) ==
		    KAFKA_ERR_LISTENER_NOT_FOUND) {
		error = v >= 6 ? KAFKA_ERR_LISTENER_NOT_FOUND
			       : KAFKA_ERR_LEADER_NOT_AVAILABLE;
		rs.leader_id = -1;
	}
	wire_write_i16(w, error);
	wire_write_i32(w, tp->index);
	wire_write_i32(w, rs.leader_id);
	if (v >= 7)
		wire_write_i32(w, rs.leader_epoch);
	write_node_list(w, rs.replicas, rs.n_replicas); /* replica_nodes */
	write_node_list(w, rs.isr, rs.n_isr);           /* isr_nodes */
	if (v >= 5)
		wire_write_array_len(w, 0); /* offline_replicas */
	wire_write_tags(w);
}

/* One topic: its partitions when t is found, none with an error. */
static void metadata_write_topic(const struct metadata_out *o,
				 struct wire_str name, const struct topic *t,
				 int16_t error)
{
	struct wire_writer *w = o->w;
	int16_t v = o->v;
	wire_write_i16(w, error);
	wire_write_string(w, name);
	if (v >= 1)
		wire_write_bool(w, t && t->internal);
	wire_write_array_len(w, t ? t->npartitions : 0);
	for (int32_t p = 0; t && p < t->npartitions; p++)
		metadata_write_partition(o, t->partitions[p]);
	if (v >= 8)
		wire_write_i32(w, ADMIN_OPS_OMITTED);
	wire_write_tags(w);
}

/* A named topic: found, auto-created (KAFKA: auto.create.topics.enable
 * and, v4+, allow_auto_topic_creation), or an error. A reserved name is
 * never auto-created: the broker makes its internal topics itself. */
static int16_t metadata_resolve(const struct net_request *req,
				const struct metadata_req *m,
				struct wire_str name, struct topic **t)
{
	struct topic_manager *tm = req->ctx;
	char buf[TOPIC_NAME_MAX + 1];
	if (!topic_name_copy(name, buf))
		return KAFKA_ERR_INVALID_TOPIC_EXCEPTION;
	if ((*t = topic_find(tm, buf)))
		return KAFKA_ERR_NONE;
	if (!topic_manager_config(tm)->auto_create_topics ||
	    !m->allow_auto_create || topic_name_reserved(buf, strlen(buf)))
		return KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
	/* KAFKA: auto-creation needs CREATE on the cluster or on the topic */
	if (!net_authorized_cluster(req, NET_OP_CREATE) &&
	    !topic_authorized(req, NET_OP_CREATE, name))
		return KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED;
	struct topic_create_req cq = {buf, -1, NULL, 0};
	int rc = topic_create(tm, &cq, t);
	if (rc == KB_ERR_INVAL || rc == KB_ERR_EXISTS)
		return KAFKA_ERR_INVALID_TOPIC_EXCEPTION;
	/* KAFKA: a topic still being created is LEADER_NOT_AVAILABLE. */
	return rc == KB_OK ? KAFKA_ERR_NONE : KAFKA_ERR_LEADER_NOT_AVAILABLE;
}

/* Everything before the topics: the brokers and the controller
 * (06_topics.c; a single node is both). */
static void metadata_write_head(struct wire_writer *w, int16_t v,
				const struct topic_manager *tm,
				const struct net_request *req)
{
	struct topic_broker_info b;
	if (v >= 3)
		wire_write_i32(w, 0); /* throttle_time_ms */
	wire_write_array_len(w, topic_cluster_broker_count(tm, req));
	for (int32_t i = 0; topic_cluster_broker(tm, req, i, &b); i++) {
		wire_write_i32(w, b.id);
		wire_write_string(w, wire_str_c(b.host ? b.host : ""));
		wire_write_i32(w, b.port);
		if (v >= 1)
			wire_write_string(w, wire_str_c(b.rack));
		wire_write_tags(w);
	}
	if (v >= 2)
		wire_write_string(w, wire_str_c(
					     topic_manager_config(tm)->cluster_id));
	if (v >= 1)
		wire_write_i32(w, topic_cluster_controller(tm));
}

/* KAFKA: v0 [] and v1+ null mean every topic; v1+ [] means none (a
 * brokers-only probe, as librdkafka sends). */
int handle_metadata(struct net_request *req, struct net_response *resp)
{
	struct topic_manager *tm = req->ctx;
	struct wire_writer *w = &resp->w;
	int16_t v = req->header.api_version;
	struct metadata_out o = {w, v, tm, req};
	struct metadata_req m = {0};
	int rc = metadata_decode(&req->body, v, &m);
	if (rc == KB_OK) {
		metadata_write_head(w, v, tm, req);
		size_t at = wire_write_array_begin(w);
		int32_t n = 0;
		for (size_t i = 0; m.ntopics < 0 && i < topic_count(tm); i++) {
			struct wire_str name = wire_str_c(topic_at(tm, i)->name);
			if (!topic_authorized(req, NET_OP_DESCRIBE, name))
				continue; /* KAFKA: left out of "all topics" */
			metadata_write_topic(&o, name, topic_at(tm, i),
					     KAFKA_ERR_NONE);
			n++;
		}
		/* KAFKA: the topics that may be described first, then those
		 * that may not, answered TOPIC_AUTHORIZATION_FAILED without
		 * looking whether they exist */
		for (int pass = 0; pass < 2; pass++)
			for (int32_t i = 0; i < m.ntopics; i++) {
				struct topic *t = NULL;
				bool seen = topic_authorized(req, NET_OP_DESCRIBE,
							     m.names[i]);
				if (seen != (pass == 0))
					continue;
				int16_t err = seen ? metadata_resolve(req, &m,
								      m.names[i], &t)
						   : KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED;
				metadata_write_topic(&o, m.names[i], t, err);
				n++;
			}
		wire_write_array_end(w, at, n);
		if (v >= 8)
			wire_write_i32(w, ADMIN_OPS_OMITTED); /* cluster, v8-10 */
		wire_write_tags(w);
		rc = wire_writer_status(w);
	}
	free(m.names);
	return rc;
}

/* ---- CreateTopics (api key 19, v2-7) ---- */

int handle_create_topics(struct net_request *req, struct net_response *resp)
{
	struct topic_manager *tm = req->ctx;
	struct wire_writer *w = &resp->w;
	int16_t v = req->header.api_version;
	struct create_req q = {0};
	int rc;
	if (admin_denied(req, resp, &rc) || topic_forwarded(req, resp, &rc))
		return rc;
	rc = create_decode(&req->body, topic_manager_config(tm)->node_id, &q);
	q.version = v;
	if (rc == KB_OK) {
		if (v >= 2)
			wire_write_i32(w, 0); /* throttle_time_ms */
		wire_write_array_len(w, q.n);
		for (int32_t i = 0; i < q.n; i++) {
			struct create_topic *t = &q.topics[i];
			struct create_result r = {.i = i};
			struct topic *made = NULL;
			char name[TOPIC_NAME_MAX + 1];
			create_check(tm, &q, i, &r.res);
			if (!r.res.error && !q.validate_only &&
			    topic_name_copy(t->name, name) &&
			    topic_install(tm, &(struct topic_spec){name,
					  t->num_partitions, &t->configs},
					  &made) != KB_OK)
				topic_result_set(&r.res, KAFKA_ERR_UNKNOWN_SERVER_ERROR,
						 "Could not create the topic files");
			r.made = made;
			create_write(w, tm, &q, &r);
			free(r.res.message);
		}
		wire_write_tags(w);
		rc = wire_writer_status(w);
	}
	for (int32_t i = 0; i < q.n; i++)
		topic_overrides_free(&q.topics[i].configs);
	free(q.topics);
	return rc;
}

/* A config of a CreatableTopic: kept as text until it is validated. */
static int create_add_config(struct create_topic *t, struct wire_str k,
			     struct wire_str v)
{
	char *key = NULL, *value = NULL;
	if (v.len < 0 || memchr(v.p, '\0', (size_t)v.len) ||
	    memchr(k.p, '\0', (size_t)k.len)) {
		t->config_unusable = true;
		return KB_OK;
	}
	int rc = wire_str_dup(k, &key);
	if (rc == KB_OK && (rc = wire_str_dup(v, &value)) == KB_OK)
		rc = topic_overrides_set(&t->configs, key, value);
	free(key);
	free(value);
	return rc;
}

/* One CreatableTopic. The assignments are checked as they are read: only
 * whether they are in order and name this node alone matters here. */
static int create_decode_topic(struct wire_reader *r, int32_t node,
			       struct create_topic *t)
{
	int rc = KB_OK;
	t->name = wire_read_string(r);
	t->num_partitions = wire_read_i32(r);
	t->replication_factor = wire_read_i16(r);
	t->nassignments = wire_read_array_len(r, r->flexible ? 6 : 8);
	t->assignment_gap = -1;
	for (int32_t a = 0; a < t->nassignments; a++) {
		if (wire_read_i32(r) != a && t->assignment_gap < 0)
			t->assignment_gap = a;
		int32_t nb = wire_read_array_len(r, 4);
		t->assignment_foreign |= nb != 1;
		for (int32_t b = 0; b < nb; b++)
			t->assignment_foreign |= wire_read_i32(r) != node;
		wire_read_tags(r);
	}
	int32_t nc = wire_read_array_len(r, r->flexible ? 3 : 4);
	for (int32_t c = 0; rc == KB_OK && c < nc; c++) {
		struct wire_str k = wire_read_string(r);
		struct wire_str val = wire_read_nullable_string(r);
		wire_read_tags(r);
		if (wire_reader_status(r) == KB_OK)
			rc = create_add_config(t, k, val);
	}
	wire_read_tags(r);
	return rc;
}

static int create_decode(struct wire_reader *r, int32_t node,
			 struct create_req *q)
{
	int rc = KB_OK;
	/* name, num_partitions, replication_factor, two arrays (and tags) */
	q->n = wire_read_array_len(r, r->flexible ? 10 : 16);
	if (q->n > 0 && !(q->topics = calloc((size_t)q->n, sizeof *q->topics)))
		return KB_ERR_NOMEM;
	for (int32_t i = 0; rc == KB_OK && i < q->n; i++)
		rc = create_decode_topic(r, node, &q->topics[i]);
	wire_read_i32(r); /* timeout_ms: creation is synchronous here */
	q->validate_only = wire_read_bool(r); /* v1+; every served version */
	wire_read_tags(r);
	return rc == KB_OK ? wire_reader_status(r) : rc;
}

/* The name: valid, not reserved, once in the request, new, no
 * collision. */
static bool create_check_name(struct topic_manager *tm,
			      const struct create_req *q, int32_t i,
			      struct topic_result *res)
{
	char name[TOPIC_NAME_MAX + 1];
	struct topic *other;
	if (!topic_name_copy(q->topics[i].name, name)) {
		topic_result_set(res, KAFKA_ERR_INVALID_TOPIC_EXCEPTION,
				 "Topic name is invalid");
		return false;
	}
	if (topic_name_reserved(name, strlen(name))) {
		/* KAFKA: ControllerApis refuses __cluster_metadata so.
		 * SIMPLIFICATION: the internal topics too (Kafka lets an
		 * admin make them early); the broker creates those itself,
		 * with the configs they need. */
		topic_result_set(res, KAFKA_ERR_INVALID_REQUEST, "Creation of "
				 "internal topic %s is prohibited.", name);
		return false;
	}
	for (int32_t j = 0; j < q->n; j++)
		if (j != i && same_name(q->topics[j].name, q->topics[i].name)) {
			topic_result_set(res, KAFKA_ERR_INVALID_REQUEST, "Duplicate "
					 "topic name %s in the request", name);
			return false;
		}
	if (topic_find(tm, name))
		topic_result_set(res, KAFKA_ERR_TOPIC_ALREADY_EXISTS,
				 "Topic '%s' already exists.", name);
	else if ((other = topic_collision(tm, name, strlen(name))))
		topic_result_set(res, KAFKA_ERR_INVALID_TOPIC_EXCEPTION, "Topic "
				 "'%s' collides with existing topic: %s", name,
				 other->name);
	return res->error == KAFKA_ERR_NONE;
}

/* Partitions and replicas: -1 takes the broker default; assignments
 * replace both and must list partitions 0..n-1, each on this node. */
static bool create_check_layout(const struct topic_broker_config *c,
				struct create_topic *t, struct topic_result *res)
{
	int32_t np = t->num_partitions == -1 ? c->num_partitions
					     : t->num_partitions;
	int16_t rf = t->replication_factor == -1 ? c->default_replication_factor
						 : t->replication_factor;
	if (t->nassignments > 0 && (t->num_partitions != -1 ||
				    t->replication_factor != -1))
		topic_result_set(res, KAFKA_ERR_INVALID_REQUEST, "Both numPartitions "
				 "or replicationFactor and replicasAssignments "
				 "were set. Both cannot be used at the same time.");
	else if (t->nassignments > 0 && (t->assignment_gap >= 0 ||
					 t->assignment_foreign))
		topic_result_set(res, KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT,
				 "Assignments must list partitions 0 to n-1 in "
				 "order, each on broker %" PRId32 " alone",
				 c->node_id);
	if (res->error)
		return false;
	if (t->nassignments > 0)
		np = t->nassignments, rf = 1;
	if (np <= 0 || np > TOPIC_MAX_PARTITIONS)
		topic_result_set(res, KAFKA_ERR_INVALID_PARTITIONS, "Number of "
				 "partitions must be between 1 and %d", TOPIC_MAX_PARTITIONS);
	else if (rf <= 0)
		topic_result_set(res, KAFKA_ERR_INVALID_REPLICATION_FACTOR,
				 "Replication factor must be larger than 0, or -1 "
				 "to use the default value.");
	else if (rf > 1)
		topic_result_set(res, KAFKA_ERR_INVALID_REPLICATION_FACTOR,
				 "Unable to replicate the partition %d time(s): only "
				 "1 broker(s) are registered.", rf);
	t->num_partitions = np;
	t->replication_factor = rf;
	return res->error == KAFKA_ERR_NONE;
}

/* INVARIANT 2: every check before any file is made (KAFKA: the order of
 * ReplicationControlManager.createTopics: name, then layout, then configs). */
static void create_check(struct topic_manager *tm, const struct create_req *q,
			 int32_t i, struct topic_result *res)
{
	struct create_topic *t = &q->topics[i];
	struct topic_config cfg;
	if (!create_check_name(tm, q, i, res) ||
	    !create_check_layout(topic_manager_config(tm), t, res))
		return;
	if (t->config_unusable)
		topic_result_set(res, KAFKA_ERR_INVALID_CONFIG,
				 "Null value not supported for topic configs");
	else
		topic_config_build(tm, &t->configs, &cfg, res);
}

/* One CreatableTopicResult. */
static void create_write(struct wire_writer *w, struct topic_manager *tm,
			 const struct create_req *q,
			 const struct create_result *r)
{
	static const struct wire_uuid zero;
	const struct create_topic *t = &q->topics[r->i];
	const struct topic_result *res = &r->res;
	const struct topic *made = r->made;
	int16_t v = q->version;
	bool ok = res->error == KAFKA_ERR_NONE;
	wire_write_string(w, t->name);
	if (v >= 7)
		wire_write_uuid(w, made ? made->id : zero);
	wire_write_i16(w, res->error);
	if (v >= 1)
		wire_write_string(w, topic_result_message(res));
	if (v >= 5) {
		wire_write_i32(w, ok ? t->num_partitions : -1);
		wire_write_i16(w, ok ? t->replication_factor : -1);
		if (ok)
			topic_config_write_all(w, tm, &t->configs);
		else
			wire_write_array_len(w, 0);
	}
	wire_write_tags(w);
}

/* ---- DeleteTopics (api key 20, v1-6) ---- */

static int delete_decode(struct wire_reader *r, int16_t v, int32_t *n,
			 struct delete_topic **out)
{
	/* v6: a nullable name, an id and tags; before: a name. */
	*n = wire_read_array_len(r, v >= 6 ? 2 + WIRE_UUID_LEN : 1 + !r->flexible);
	if (*n > 0 && !(*out = calloc((size_t)*n, sizeof **out)))
		return KB_ERR_NOMEM;
	for (int32_t i = 0; i < *n; i++) {
		if (v >= 6) {
			(*out)[i].name = wire_read_nullable_string(r);
			(*out)[i].id = wire_read_uuid(r);
			wire_read_tags(r);
		} else {
			(*out)[i].name = wire_read_string(r);
		}
	}
	wire_read_i32(r); /* timeout_ms */
	wire_read_tags(r);
	return wire_reader_status(r);
}

int handle_delete_topics(struct net_request *req, struct net_response *resp)
{
	struct topic_manager *tm = req->ctx;
	struct wire_writer *w = &resp->w;
	int16_t v = req->header.api_version;
	struct delete_topic *d = NULL;
	int32_t n = 0;
	int rc;
	if (admin_denied(req, resp, &rc) || topic_forwarded(req, resp, &rc))
		return rc;
	rc = delete_decode(&req->body, v, &n, &d);
	if (rc == KB_OK) {
		if (v >= 1)
			wire_write_i32(w, 0); /* throttle_time_ms */
		wire_write_array_len(w, n);
		for (int32_t i = 0; i < n; i++) {
			struct delete_result r = {.id = d[i].id};
			delete_one(tm, &d[i], &r);
			wire_write_string(w, r.name[0] ? wire_str_c(r.name)
						       : d[i].name);
			if (v >= 6)
				wire_write_uuid(w, r.id);
			wire_write_i16(w, r.res.error);
			if (v >= 5)
				wire_write_string(w, topic_result_message(&r.res));
			wire_write_tags(w);
			free(r.res.message);
		}
		wire_write_tags(w);
		rc = wire_writer_status(w);
	}
	free(d);
	return rc;
}

/* Find the topic by name or id and delete it; r's name and id say which
 * it was (KAFKA: the response names a topic deleted by id). */
static void delete_one(struct topic_manager *tm, const struct delete_topic *d,
		       struct delete_result *r)
{
	struct topic_result *res = &r->res;
	char want[TOPIC_NAME_MAX + 1];
	struct topic *t = NULL;
	if (!topic_manager_config(tm)->delete_topic_enable) {
		topic_result_set(res, KAFKA_ERR_TOPIC_DELETION_DISABLED,
				 "Topic deletion is disabled.");
		return;
	}
	if (d->name.len >= 0 ? topic_name_copy(d->name, want) &&
				       (t = topic_find(tm, want)) != NULL
			     : (t = topic_find_by_id(tm, &d->id)) != NULL) {
		snprintf(r->name, sizeof r->name, "%s", t->name);
		r->id = t->id;
		if (topic_delete(tm, t) != KB_OK)
			topic_result_set(res, KAFKA_ERR_UNKNOWN_SERVER_ERROR,
					 "Could not remove all partition files");
	} else if (d->name.len >= 0) {
		topic_result_set(res, KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION,
				 "This server does not host this topic-partition.");
	} else {
		topic_result_set(res, KAFKA_ERR_UNKNOWN_TOPIC_ID,
				 "This server does not host this topic ID.");
	}
}

/* ---- CreatePartitions (api key 37, v0-3) ---- */

static int partitions_decode(struct wire_reader *r, int32_t node,
			     struct partitions_req *q)
{
	/* name, count, a nullable array (and tags) */
	q->n = wire_read_array_len(r, r->flexible ? 7 : 10);
	if (q->n > 0 && !(q->topics = calloc((size_t)q->n, sizeof *q->topics)))
		return KB_ERR_NOMEM;
	for (int32_t i = 0; i < q->n; i++) {
		struct partitions_topic *a = &q->topics[i];
		a->name = wire_read_string(r);
		a->count = wire_read_i32(r);
		a->nassignments = wire_read_nullable_array_len(r, r->flexible ? 2 : 4);
		for (int32_t k = 0; k < a->nassignments; k++) {
			int32_t nb = wire_read_array_len(r, 4);
			a->assignment_foreign |= nb != 1;
			for (int32_t b = 0; b < nb; b++)
				a->assignment_foreign |= wire_read_i32(r) != node;
			wire_read_tags(r);
		}
		wire_read_tags(r);
	}
	wire_read_i32(r); /* timeout_ms */
	q->validate_only = wire_read_bool(r);
	wire_read_tags(r);
	return wire_reader_status(r);
}

int handle_create_partitions(struct net_request *req,
			     struct net_response *resp)
{
	struct topic_manager *tm = req->ctx;
	struct wire_writer *w = &resp->w;
	struct partitions_req q = {0};
	int rc;
	if (admin_denied(req, resp, &rc) || topic_forwarded(req, resp, &rc))
		return rc;
	rc = partitions_decode(&req->body, topic_manager_config(tm)->node_id,
			       &q);
	const struct partitions_topic *a = q.topics;
	if (rc == KB_OK) {
		wire_write_i32(w, 0); /* throttle_time_ms */
		wire_write_array_len(w, q.n);
		for (int32_t i = 0; i < q.n; i++) {
			struct topic_result res = {0};
			char name[TOPIC_NAME_MAX + 1];
			partitions_check(tm, &q, i, &res);
			if (!res.error && !q.validate_only &&
			    topic_name_copy(a[i].name, name) &&
			    topic_add_partitions(tm, topic_find(tm, name),
						 a[i].count) != KB_OK)
				topic_result_set(&res, KAFKA_ERR_UNKNOWN_SERVER_ERROR,
						 "Could not create the partition files");
			wire_write_string(w, a[i].name);
			wire_write_i16(w, res.error);
			wire_write_string(w, topic_result_message(&res));
			wire_write_tags(w);
			free(res.message);
		}
		wire_write_tags(w);
		rc = wire_writer_status(w);
	}
	free(q.topics);
	return rc;
}

/* KAFKA: ReplicationControlManager.createPartitions: the topic exists, the
 * count only grows, assignments (if any) cover exactly the new ones. */
static void partitions_check(struct topic_manager *tm,
			     const struct partitions_req *q, int32_t i,
			     struct topic_result *res)
{
	const struct partitions_topic *a = q->topics;
	char name[TOPIC_NAME_MAX + 1];
	struct topic *t = NULL;
	for (int32_t j = 0; j < q->n; j++)
		if (j != i && same_name(a[j].name, a[i].name)) {
			topic_result_set(res, KAFKA_ERR_INVALID_REQUEST,
					 "Duplicate topic in request.");
			return;
		}
	if (!topic_name_copy(a[i].name, name) || !(t = topic_find(tm, name)))
		topic_result_set(res, KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION,
				 "The topic does not exist.");
	else if (a[i].count < t->npartitions)
		topic_result_set(res, KAFKA_ERR_INVALID_PARTITIONS, "Topic currently "
				 "has %" PRId32 " partitions, which is higher than "
				 "the requested %" PRId32 ".", t->npartitions, a[i].count);
	else if (a[i].count == t->npartitions)
		topic_result_set(res, KAFKA_ERR_INVALID_PARTITIONS, "Topic already "
				 "has %" PRId32 " partitions.", t->npartitions);
	else if (a[i].count > TOPIC_MAX_PARTITIONS)
		topic_result_set(res, KAFKA_ERR_INVALID_PARTITIONS, "A topic may "
				 "have at most %d partitions", TOPIC_MAX_PARTITIONS);
	else if (a[i].nassignments >= 0 &&
		 (a[i].nassignments != a[i].count - t->npartitions ||
		  a[i].assignment_foreign))
		topic_result_set(res, KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT,
				 "Give one assignment, [%" PRId32 "], per new "
				 "partition", topic_manager_config(tm)->node_id);
}

/* ---- DescribeCluster (api key 60, v0-1) ---- */

/* KAFKA: AuthHelper.computeDescribeClusterResponse: this listener serves
 * brokers; asking it for controllers is MISMATCHED_ENDPOINT_TYPE. */
int handle_describe_cluster(struct net_request *req, struct net_response *resp)
{
	struct topic_manager *tm = req->ctx;
	const struct topic_broker_config *c = topic_manager_config(tm);
	struct wire_reader *r = &req->body;
	struct wire_writer *w = &resp->w;
	int16_t v = req->header.api_version;
	struct topic_result res = {0};
	wire_read_bool(r); /* include_cluster_authorized_operations */
	int8_t type = v >= 1 ? wire_read_i8(r) : ENDPOINT_BROKERS;
	wire_read_tags(r);
	if (wire_reader_status(r) != KB_OK)
		return KB_ERR_PROTO;
	if (type == ENDPOINT_CONTROLLERS)
		topic_result_set(&res, KAFKA_ERR_MISMATCHED_ENDPOINT_TYPE, "The "
				 "request was sent to an endpoint of type BROKER, "
				 "but we wanted an endpoint of type CONTROLLER");
	else if (type != ENDPOINT_BROKERS)
		topic_result_set(&res, KAFKA_ERR_UNSUPPORTED_ENDPOINT_TYPE,
				 "Unsupported endpoint type %d", type);
	wire_write_i32(w, 0); /* throttle_time_ms */
	wire_write_i16(w, res.error);
	wire_write_string(w, topic_result_message(&res));
	if (v >= 1)
		wire_write_i8(w, type);
	wire_write_string(w, wire_str_c(res.error ? "" : c->cluster_id));
	wire_write_i32(w, res.error ? -1 : topic_cluster_controller(tm));
	wire_write_array_len(w, res.error ? 0 :
			     topic_cluster_broker_count(tm, req));
	struct topic_broker_info b;
	for (int32_t i = 0; !res.error && topic_cluster_broker(tm, req, i, &b);
	     i++) {
		wire_write_i32(w, b.id);
		wire_write_string(w, wire_str_c(b.host ? b.host : ""));
		wire_write_i32(w, b.port);
		wire_write_string(w, wire_str_c(b.rack));
		wire_write_tags(w);
	}
	wire_write_i32(w, ADMIN_OPS_OMITTED);
	wire_write_tags(w);
	free(res.message);
	return wire_writer_status(w);
}

/* ---- The forwarder's error answer (topic_error_body, 06_apis.c) ---- */

/* CreateTopics: every topic as create_write answers a failed one. */
static int admin_error_create(struct wire_reader *r, int16_t v, int16_t error,
			      struct wire_writer *w)
{
	struct create_req q = {.version = v};
	int rc = create_decode(r, -1, &q);
	if (rc == KB_OK) {
		wire_write_i32(w, 0); /* throttle_time_ms */
		wire_write_array_len(w, q.n);
		for (int32_t i = 0; i < q.n; i++)
			create_write(w, NULL, &q, &(struct create_result){
					     i, {error, NULL}, NULL});
		wire_write_tags(w);
		rc = wire_writer_status(w);
	}
	for (int32_t i = 0; i < q.n; i++)
		topic_overrides_free(&q.topics[i].configs);
	free(q.topics);
	return rc;
}

/* DeleteTopics: every topic by the name (or id) the request gave. */
static int admin_error_delete(struct wire_reader *r, int16_t v, int16_t error,
			      struct wire_writer *w)
{
	struct delete_topic *d = NULL;
	int32_t n = 0;
	int rc = delete_decode(r, v, &n, &d);
	if (rc == KB_OK) {
		wire_write_i32(w, 0); /* throttle_time_ms */
		wire_write_array_len(w, n);
		for (int32_t i = 0; i < n; i++) {
			wire_write_string(w, d[i].name);
			if (v >= 6)
				wire_write_uuid(w, d[i].id);
			wire_write_i16(w, error);
			if (v >= 5)
				wire_write_string(w, wire_str_c(NULL));
			wire_write_tags(w);
		}
		wire_write_tags(w);
		rc = wire_writer_status(w);
	}
	free(d);
	return rc;
}

/* CreatePartitions: every topic with the error. */
static int admin_error_partitions(struct wire_reader *r, int16_t error,
				  struct wire_writer *w)
{
	struct partitions_req q = {0};
	int rc = partitions_decode(r, -1, &q);
	if (rc == KB_OK) {
		wire_write_i32(w, 0); /* throttle_time_ms */
		wire_write_array_len(w, q.n);
		for (int32_t i = 0; i < q.n; i++) {
			wire_write_string(w, q.topics[i].name);
			wire_write_i16(w, error);
			wire_write_string(w, wire_str_c(NULL));
			wire_write_tags(w);
		}
		wire_write_tags(w);
		rc = wire_writer_status(w);
	}
	free(q.topics);
	return rc;
}

/* KAFKA: ForwardingManager answers an unreachable controller with the
 * request's getErrorResponse: the error on every topic it named. The
 * body is read from a copy, so req stays as it came. */
int topic_admin_error_body(const struct net_request *req, int16_t error_code,
			   struct wire_writer *w)
{
	struct wire_reader r = req->body;
	int16_t v = req->header.api_version;
	switch (req->header.api_key) {
	case WIRE_API_CREATE_TOPICS:
		return admin_error_create(&r, v, error_code, w);
	case WIRE_API_DELETE_TOPICS:
		return admin_error_delete(&r, v, error_code, w);
	case WIRE_API_CREATE_PARTITIONS:
		return admin_error_partitions(&r, error_code, w);
	default:
		return KB_ERR_NOTFOUND;
	}
}

/* ---- Authorization of the forwarded admin APIs (chapter 12 decides) ---- */

/* May req's principal act on every topic the request names? KAFKA:
 * CreateTopics wants CREATE (on the cluster, else on each topic),
 * DeleteTopics DELETE, CreatePartitions ALTER on each topic. */
static bool admin_all_allowed(const struct net_request *req)
{
	struct wire_reader r = req->body;
	int16_t v = req->header.api_version;
	bool ok = true;
	if (req->header.api_key == WIRE_API_CREATE_TOPICS) {
		struct create_req q = {.version = v};
		bool cluster = net_authorized_cluster(req, NET_OP_CREATE);
		ok = create_decode(&r, -1, &q) == KB_OK;
		for (int32_t i = 0; ok && !cluster && i < q.n; i++)
			ok = topic_authorized(req, NET_OP_CREATE, q.topics[i].name);
		for (int32_t i = 0; i < q.n; i++)
			topic_overrides_free(&q.topics[i].configs);
		free(q.topics);
	} else if (req->header.api_key == WIRE_API_DELETE_TOPICS) {
		struct delete_topic *d = NULL;
		int32_t n = 0;
		ok = delete_decode(&r, v, &n, &d) == KB_OK;
		for (int32_t i = 0; ok && i < n; i++) {
			const struct topic *t = d[i].name.len < 0 ?
				topic_find_by_id(req->ctx, &d[i].id) : NULL;
			ok = topic_authorized(req, NET_OP_DELETE, t ?
					      wire_str_c(t->name) : d[i].name);
		}
		free(d);
	} else if (req->header.api_key == WIRE_API_CREATE_PARTITIONS) {
		struct partitions_req q = {0};
		ok = partitions_decode(&r, -1, &q) == KB_OK;
		for (int32_t i = 0; ok && i < q.n; i++)
			ok = topic_authorized(req, NET_OP_ALTER, q.topics[i].name);
		free(q.topics);
	}
	return ok;
}

/* SIMPLIFICATION: Kafka answers each denied topic with
 * TOPIC_AUTHORIZATION_FAILED and goes on with the others; samsa forwards
 * the request as it came, so one denied topic fails every topic of it. */
static bool admin_denied(struct net_request *req, struct net_response *resp,
			 int *rc)
{
	if (!net_authorizer_on(req->srv) || admin_all_allowed(req))
		return false;
	*rc = topic_admin_error_body(req, KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED,
				     &resp->w);
	return true;
}

/* ---- Small helpers ---- */


static bool same_name(struct wire_str a, struct wire_str b)
{
	return a.len >= 0 && a.len == b.len &&
	       memcmp(a.p, b.p, (size_t)a.len) == 0;
}

/* A replica or ISR list. */
static void write_node_list(struct wire_writer *w, const int32_t *ids,
			    int32_t n)
{
	wire_write_array_len(w, n);
	for (int32_t i = 0; i < n; i++)
		wire_write_i32(w, ids[i]);
}
