/* SPDX-License-Identifier: MIT */
/*
 * Chapter 09 — groups, part 4: the group APIs, and the coordinator on a
 * server.
 *
 * Concept:
 *   09_groups.c is a state machine that knows no bytes. This file is its
 *   shell: grp_open puts the coordinator on the server (its API table and
 *   timers), and one handler per API decodes a request, calls the core,
 *   and encodes the answer. JoinGroup and SyncGroup may have to wait:
 *   their handler parks the request until the member's answer is ready.
 *
 * Kafka:
 *   KafkaApis' group requests: FindCoordinator v0-4, JoinGroup v0-6,
 *   SyncGroup v0-4, Heartbeat v0-4, LeaveGroup v0-4, ListGroups v0-4,
 *   DescribeGroups v0-5, DeleteGroups v0-2 (OffsetCommit, OffsetFetch and
 *   OffsetDelete are in 09_offsets.c). A parked JoinGroup is Kafka's
 *   DelayedJoin; a parked SyncGroup is the callback Kafka keeps.
 *
 * Interface:
 *   - Uses the three files before it; nothing uses it but main.
 *   - In a cluster FindCoordinator answers the leader of the group's
 *     __consumer_offsets partition; every group API answers
 *     NOT_COORDINATOR for a group this node does not coordinate.
 *   - Each handle_* decodes the whole request first; a malformed body is
 *     KB_ERR_PROTO. A handler that parks returns NET_PARKED; wait_try
 *     answers later, on a wakeup from grp_notify or at the deadline.
 *
 * Invariants:
 *   1. A parked request holds group and member ids, never pointers into
 *      the group: wait_try looks both up again.
 *   2. Writing a JoinGroup or SyncGroup answer clears the member's
 *      join_ready or sync_ready: one ready answer answers one request.
 *   3. A parked request is always answered: the member's answer, or
 *      UNKNOWN_MEMBER_ID if it is gone, or REBALANCE_IN_PROGRESS when the
 *      rebalance timeout plus PARK_SLACK_MS passes first.
 *   4. Only the leader's JoinGroup answer lists the members.
 *
 * Simplifications:
 *   - FindCoordinator answers this broker for transactional keys, in a
 *     cluster too (no transaction coordinator yet).
 *   - DescribeGroups v3+ sends authorized operations as not computed.
 *
 * See also: docs/09_group_apis.md, diagrams/09_group_apis.dot,
 *   tests/clients/test_groups.py; read before: 09_members.c, 09_groups.c,
 *   09_offsets.c.
 *   Uses chapters 00 (base), 04 (codec), 05 (server), 06 (topics).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"
#include "09_groups.h"

/* KAFKA: the coordinator key types of FindCoordinator. */
#define KEY_TYPE_GROUP 0
#define KEY_TYPE_TRANSACTION 1
/* KAFKA: a JoinGroup waits at most the rebalance timeout; the parked
 * request gets this much longer so the coordinator answers first. */
#define PARK_SLACK_MS 5000
/* KAFKA: authorized operations not computed (Integer.MIN_VALUE). */
#define OPS_OMITTED INT32_MIN

/* What a parked JoinGroup or SyncGroup waits for. */
struct grp_wait {
	struct grp_coordinator *c; /* borrowed */
	char *group;               /* owned */
	char *member;              /* owned */
	int16_t api_key;           /* JoinGroup or SyncGroup */
	int16_t version;
};

/* What a JoinGroup answer says: err, and for member m of g the
 * generation; member_id is the id the answer carries. borrows: all. */
struct join_answer {
	int16_t err;
	const struct grp_group *g;
	const struct grp_member *m;
	const char *member_id;
};

/* A decoded JoinGroup with its owned copies. */
struct join_msg {
	struct grp_join_req q;
	char *group, *member, *instance, *client, *host, *type; /* owned */
	struct grp_protocol *protocols; /* owned names; meta views copied */
	int32_t nprotocols;
};

/* The head SyncGroup and Heartbeat share: group, generation, member and
 * (v3+) group.instance.id. group or member is NULL only when a copy
 * failed; instance is NULL when absent or null. */
struct member_head {
	char *group, *member, *instance; /* owned: member_head_free */
	int32_t generation;
};

static void retention_timer(void *ctx, int64_t now_ms);
static int grp_register(struct grp_coordinator *c);
static int16_t find_one(struct wire_writer *w, const struct net_request *req,
			int8_t key_type, struct wire_str key);
static int16_t find_in_cluster(struct wire_writer *w,
			       const struct net_request *req,
			       struct grp_coordinator *c, struct wire_str key);
static int16_t find_none(struct wire_writer *w, int16_t err);
static void join_msg_free(struct join_msg *j);
static int join_decode(struct net_request *req, struct join_msg *j);
static void join_write(struct wire_writer *w, int16_t v,
		       const struct join_answer *a);
static void sync_write(struct wire_writer *w, int16_t v, int16_t err,
		       const struct grp_member *m);
static int park_member(struct net_request *req, struct net_response *resp,
		       struct grp_group *g, struct grp_member *m);
static bool wait_try(struct net_delayed *op, struct net_response *resp,
		     bool expired);
static void wait_free(void *ctx);
static bool state_wanted(const struct grp_group *g, const struct wire_str *f,
			 int32_t n);
static void describe_one(struct wire_writer *w, int16_t v,
			 struct grp_group *g, struct wire_str id, int16_t err);
static void member_head_read(struct wire_reader *r, int16_t v,
			     struct member_head *h);
static void member_head_free(struct member_head *h);
static char *wdup(struct wire_str s);
static char *wdup_nn(struct wire_str s);
static void write_throttle(struct wire_writer *w, int16_t v, int16_t from);

/* ======================================================================
 * ---- Lifecycle ----
 * ====================================================================== */

/* KAFKA: the offsets.retention.check.interval.ms scheduled task. */
static void retention_timer(void *ctx, int64_t now_ms)
{
	(void)now_ms; /* retention counts wall-clock record timestamps */
	grp_expire_offsets(ctx);
}

/* Each API with the versions served (KAFKA: the ranges of the issue). */
static int grp_register(struct grp_coordinator *c)
{
	static const struct net_api apis[] = {
		{WIRE_API_FIND_COORDINATOR, 0, 4, handle_find_coordinator,
		 NULL},
		{WIRE_API_JOIN_GROUP, 0, 6, handle_join_group, NULL},
		{WIRE_API_SYNC_GROUP, 0, 4, handle_sync_group, NULL},
		{WIRE_API_HEARTBEAT, 0, 4, handle_heartbeat, NULL},
		{WIRE_API_LEAVE_GROUP, 0, 4, handle_leave_group, NULL},
		{WIRE_API_OFFSET_COMMIT, 2, 8, handle_offset_commit, NULL},
		{WIRE_API_OFFSET_FETCH, 1, 8, handle_offset_fetch, NULL},
		{WIRE_API_LIST_GROUPS, 0, 4, handle_list_groups, NULL},
		{WIRE_API_DESCRIBE_GROUPS, 0, 5, handle_describe_groups, NULL},
		{WIRE_API_DELETE_GROUPS, 0, 2, handle_delete_groups, NULL},
		{WIRE_API_OFFSET_DELETE, 0, 0, handle_offset_delete, NULL},
	};
	for (size_t i = 0; i < KB_ARRAY_LEN(apis); i++) {
		struct net_api api = apis[i];
		api.ctx = c;
		int rc = net_register(c->srv, &api);
		if (rc != KB_OK)
			return rc;
	}
	return net_every(c->srv, c->cfg.retention_check_ms,
			 (struct net_callback){retention_timer, c});
}

/* KAFKA: the coordinator's startup: an existing offsets topic is loaded
 * (a new one is made on first use, grp_offsets_topic), then requests
 * are served. */
int grp_open(struct topic_manager *tm, struct net_server *srv,
	     const struct grp_config *cfg, struct grp_coordinator **out)
{
	struct grp_coordinator *c = grp_new(cfg);
	if (!c)
		return KB_ERR_NOMEM;
	c->tm = tm;
	int rc = KB_OK;
	if (tm) {
		c->store_group = grp_store_group;
		rc = grp_load(c);
	}
	c->srv = srv;
	if (rc == KB_OK && srv)
		rc = grp_register(c);
	if (rc != KB_OK) {
		grp_close(c);
		return rc;
	}
	*out = c;
	return KB_OK;
}

void grp_close(struct grp_coordinator *c)
{
	grp_free(c);
}


/* ======================================================================
 * ---- FindCoordinator ----
 * ====================================================================== */

/* One coordinator answer: this broker for groups and transactions alike
 * (single node), once a group's __consumer_offsets exists (KAFKA: made
 * here on first use; COORDINATOR_NOT_AVAILABLE if it cannot be); an
 * unknown key type is INVALID_REQUEST. */
static int16_t find_one(struct wire_writer *w, const struct net_request *req,
			int8_t key_type, struct wire_str key)
{
	struct grp_coordinator *c = req->ctx;
	const struct topic_broker_config *b = topic_manager_config(c->tm);
	struct topic_broker_info self = {b->node_id, b->advertised_host,
					 b->advertised_port, NULL};
	/* at its endpoint named like req's listener, once registered */
	topic_cluster_endpoint(c->tm, req, b->node_id, &self);
	size_t klen = key.len > 0 ? (size_t)key.len : 0;
	/* KAFKA: DESCRIBE on the group, or on the transactional id */
	if (key_type == KEY_TYPE_GROUP &&
	    !net_authorized(req, NET_OP_DESCRIBE, NET_RESOURCE_GROUP,
			    klen ? key.p : "", klen))
		return find_none(w, KAFKA_ERR_GROUP_AUTHORIZATION_FAILED);
	if (key_type == KEY_TYPE_TRANSACTION &&
	    !net_authorized(req, NET_OP_DESCRIBE, NET_RESOURCE_TRANSACTIONAL_ID,
			    klen ? key.p : "", klen))
		return find_none(w, KAFKA_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
	bool ok = key_type == KEY_TYPE_GROUP || key_type == KEY_TYPE_TRANSACTION;
	if (key_type == KEY_TYPE_GROUP && topic_cluster_get(c->tm))
		return find_in_cluster(w, req, c, key);
	if (key_type == KEY_TYPE_GROUP && grp_offsets_topic(c) != KB_OK)
		return find_none(w, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE);
	wire_write_i32(w, ok ? b->node_id : -1);
	wire_write_string(w, wire_str_c(ok ? self.host : ""));
	wire_write_i32(w, ok ? self.port : -1);
	return ok ? KAFKA_ERR_NONE : KAFKA_ERR_INVALID_REQUEST;
}

/* KAFKA: KafkaApis.getCoordinator: the leader of the group's partition
 * of __consumer_offsets, as the metadata says; while the topic does not
 * exist it is asked for, and while the partition has no live leader the
 * answer is COORDINATOR_NOT_AVAILABLE (the client asks again). */
static int16_t find_in_cluster(struct wire_writer *w,
			       const struct net_request *req,
			       struct grp_coordinator *c, struct wire_str key)
{
	const struct topic_cluster *cl = topic_cluster_get(c->tm);
	char *group = wdup_nn(key);
	if (!group)
		return find_none(w, KAFKA_ERR_UNKNOWN_SERVER_ERROR);
	int32_t p = grp_partition_for(group, c->cfg.offsets_partitions);
	free(group);
	struct topic_replicas r;
	int rc = cl->replicas ? cl->replicas(cl->ctx, TOPIC_CONSUMER_OFFSETS, p,
					     &r) : KB_ERR_NOTFOUND;
	if (rc == KB_ERR_NOTFOUND)
		grp_offsets_topic(c); /* asks the controller for it */
	if (rc != KB_OK || r.leader_id < 0)
		return find_none(w, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE);
	/* KAFKA: the leader at its endpoint named like req's listener, if
	 * it is alive (unfenced) and has one */
	struct topic_broker_info b;
	for (int32_t i = 0; topic_cluster_broker(c->tm, req, i, &b); i++) {
		if (b.id != r.leader_id)
			continue;
		wire_write_i32(w, b.id);
		wire_write_string(w, wire_str_c(b.host ? b.host : ""));
		wire_write_i32(w, b.port);
		return KAFKA_ERR_NONE;
	}
	return find_none(w, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE); /* fenced */
}

/* No coordinator: node -1, host "", port -1, and err. */
static int16_t find_none(struct wire_writer *w, int16_t err)
{
	wire_write_i32(w, -1);
	wire_write_string(w, wire_str_c(""));
	wire_write_i32(w, -1);
	return err;
}

int handle_find_coordinator(struct net_request *req, struct net_response *resp)
{
	struct wire_reader *r = &req->body;
	struct wire_writer *w = &resp->w;
	int16_t v = req->header.api_version;
	struct wire_str key = {"", 0};
	int32_t nkeys = 1;
	size_t keys_at = 0;
	if (v <= 3)
		key = wire_read_string(r);
	int8_t type = v >= 1 ? wire_read_i8(r) : KEY_TYPE_GROUP;
	if (v >= 4) {
		nkeys = wire_read_array_len(r, 1);
		keys_at = r->pos;
		for (int32_t i = 0; i < nkeys; i++)
			wire_read_string(r);
	}
	wire_read_tags(r);
	if (wire_reader_status(r) != KB_OK)
		return KB_ERR_PROTO;
	write_throttle(w, v, 1);
	if (v <= 3) {
		size_t at = w->buf->len;
		wire_write_i16(w, KAFKA_ERR_NONE);
		if (v >= 1)
			wire_write_string(w, wire_str_c(NULL));
		int16_t err = find_one(w, req, type, key);
		kb_put_be16(w->buf->data + at, (uint16_t)err);
	} else {
		struct wire_reader k;
		wire_reader_init(&k, r->p + keys_at, r->len - keys_at, true);
		wire_write_array_len(w, nkeys);
		for (int32_t i = 0; i < nkeys; i++) {
			struct wire_str one = wire_read_string(&k);
			wire_write_string(w, one);
			int16_t err = find_one(w, req, type, one);
			wire_write_i16(w, err);
			wire_write_string(w, wire_str_c(NULL));
			wire_write_tags(w);
		}
	}
	wire_write_tags(w);
	return wire_writer_status(w);
}

/* ======================================================================
 * ---- JoinGroup ----
 * ====================================================================== */

static void join_msg_free(struct join_msg *j)
{
	for (int32_t i = 0; j->protocols && i < j->nprotocols; i++) {
		free(j->protocols[i].name);
		kb_buf_fini(&j->protocols[i].meta);
	}
	free(j->protocols);
	free(j->group);
	free(j->member);
	free(j->instance);
	free(j->client);
	free(j->host);
	free(j->type);
}

static int join_decode(struct net_request *req, struct join_msg *j)
{
	struct wire_reader *r = &req->body;
	int16_t v = req->header.api_version;
	j->group = wdup_nn(wire_read_string(r));
	int32_t session = wire_read_i32(r);
	int32_t rebalance = v >= 1 ? wire_read_i32(r) : session;
	j->member = wdup_nn(wire_read_string(r));
	if (v >= 5)
		j->instance = wdup(wire_read_nullable_string(r));
	j->type = wdup_nn(wire_read_string(r));
	j->nprotocols = wire_read_array_len(r, 2);
	j->protocols = calloc((size_t)j->nprotocols + 1, sizeof *j->protocols);
	if (!j->protocols)
		return KB_ERR_NOMEM;
	for (int32_t i = 0; i < j->nprotocols; i++) {
		j->protocols[i].name = wdup_nn(wire_read_string(r));
		struct wire_bytes m = wire_read_bytes(r);
		if (m.len > 0)
			kb_buf_append(&j->protocols[i].meta, m.p, (size_t)m.len);
		wire_read_tags(r);
	}
	wire_read_tags(r);
	j->client = wdup_nn(req->header.client_id);
	j->host = strdup(net_conn_host(req->conn));
	if (!j->host)
		return KB_ERR_NOMEM;
	j->q = (struct grp_join_req){j->group, j->member, j->instance,
		j->client, j->host, j->type, session, rebalance, j->protocols,
		(size_t)j->nprotocols, v >= 4};
	return wire_reader_status(r);
}

/* The JoinGroup response body for member m of g (error answers when m is
 * NULL or err is set). The leader gets every member's subscription. */
static void join_write(struct wire_writer *w, int16_t v,
		       const struct join_answer *a)
{
	const struct grp_group *g = a->g;
	const struct grp_member *m = a->m;
	int16_t err = a->err;
	bool ok = err == KAFKA_ERR_NONE && g && m;
	bool leader = ok && g->leader && strcmp(g->leader, m->id) == 0;
	write_throttle(w, v, 2);
	wire_write_i16(w, err);
	wire_write_i32(w, ok ? g->generation : -1);
	wire_write_string(w, wire_str_c(ok && g->protocol ? g->protocol : ""));
	wire_write_string(w, wire_str_c(ok && g->leader ? g->leader : ""));
	wire_write_string(w, wire_str_c(a->member_id));
	wire_write_array_len(w, leader ? (int32_t)g->nmembers : 0);
	for (size_t i = 0; leader && i < g->nmembers; i++) {
		const struct grp_member *x = g->members[i];
		const struct kb_buf *meta = NULL;
		for (size_t p = 0; p < x->nprotocols; p++)
			if (strcmp(x->protocols[p].name, g->protocol) == 0)
				meta = &x->protocols[p].meta;
		wire_write_string(w, wire_str_c(x->id));
		if (v >= 5)
			wire_write_string(w, wire_str_c(x->instance_id));
		wire_write_bytes(w, (struct wire_bytes){
			meta ? meta->data : NULL, meta ? (int32_t)meta->len : 0});
		wire_write_tags(w);
	}
	wire_write_tags(w);
}

int handle_join_group(struct net_request *req, struct net_response *resp)
{
	struct grp_coordinator *c = req->ctx;
	struct join_msg j = {0};
	int16_t v = req->header.api_version;
	int rc = join_decode(req, &j);
	if (rc != KB_OK || !j.group || !j.member || !j.type || !j.client) {
		join_msg_free(&j);
		return rc == KB_ERR_NOMEM ? KB_ERR_NOMEM : KB_ERR_PROTO;
	}
	struct grp_group *g = NULL;
	struct grp_member *m = NULL;
	int16_t err = !grp_authorized(req, NET_OP_READ, j.group) ?
			      KAFKA_ERR_GROUP_AUTHORIZATION_FAILED :
		      grp_owns_group(c, j.group) ? grp_join(c, &j.q, &g, &m) :
						   KAFKA_ERR_NOT_COORDINATOR;
	if (err == KAFKA_ERR_NONE && m && !m->join_ready) {
		rc = park_member(req, resp, g, m);
	} else {
		struct join_answer a = {err, g, m, m ? m->id : j.member};
		if (err == KAFKA_ERR_MEMBER_ID_REQUIRED)
			a.member_id = g->pending[g->npending - 1].id;
		if (m)
			m->join_ready = false;
		join_write(&resp->w, v, &a);
		rc = wire_writer_status(&resp->w);
	}
	join_msg_free(&j);
	return rc;
}

/* ======================================================================
 * ---- SyncGroup ----
 * ====================================================================== */

static void sync_write(struct wire_writer *w, int16_t v, int16_t err,
		       const struct grp_member *m)
{
	bool ok = err == KAFKA_ERR_NONE && m;
	write_throttle(w, v, 1);
	wire_write_i16(w, err);
	wire_write_bytes(w, (struct wire_bytes){
		ok ? m->assignment.data : NULL,
		ok ? (int32_t)m->assignment.len : 0});
	wire_write_tags(w);
}

int handle_sync_group(struct net_request *req, struct net_response *resp)
{
	struct grp_coordinator *c = req->ctx;
	struct wire_reader *r = &req->body;
	int16_t v = req->header.api_version;
	struct member_head h;
	member_head_read(r, v, &h);
	int32_t n = wire_read_array_len(r, 2);
	struct grp_assignment *a = calloc((size_t)n + 1, sizeof *a);
	for (int32_t i = 0; a && i < n; i++) {
		a[i].member_id = wdup_nn(wire_read_string(r));
		a[i].assignment = wire_read_bytes(r);
		wire_read_tags(r);
	}
	wire_read_tags(r);
	int rc = wire_reader_status(r);
	if (rc == KB_OK && (!h.group || !h.member || !a))
		rc = KB_ERR_NOMEM;
	struct grp_member *m = NULL;
	int16_t err = KAFKA_ERR_NONE;
	struct grp_sync_req q = {{h.group, h.generation, h.member, h.instance},
				 a, (size_t)n};
	if (rc == KB_OK)
		err = !grp_authorized(req, NET_OP_READ, h.group) ?
			      KAFKA_ERR_GROUP_AUTHORIZATION_FAILED :
		      grp_owns_group(c, h.group) ? grp_sync(c, &q, &m) :
						   KAFKA_ERR_NOT_COORDINATOR;
	if (rc == KB_OK && err == KAFKA_ERR_NONE && !m->sync_ready) {
		rc = park_member(req, resp, grp_find(c, h.group), m);
	} else if (rc == KB_OK) {
		if (m)
			m->sync_ready = false;
		sync_write(&resp->w, v, err, m);
		rc = wire_writer_status(&resp->w);
	}
	for (int32_t i = 0; a && i < n; i++)
		free((char *)a[i].member_id);
	free(a);
	member_head_free(&h);
	return rc;
}

/* ======================================================================
 * ---- Parked JoinGroup and SyncGroup ----
 * ====================================================================== */

/* Park req until member m of g has its answer (join or sync), at most
 * m's rebalance timeout and PARK_SLACK_MS (INVARIANT 3). */
static int park_member(struct net_request *req, struct net_response *resp,
		       struct grp_group *g, struct grp_member *m)
{
	int64_t timeout_ms = m->rebalance_timeout_ms;
	struct grp_wait *wt = calloc(1, sizeof *wt);
	if (!wt)
		return KB_ERR_NOMEM;
	*wt = (struct grp_wait){req->ctx, strdup(g->id), strdup(m->id),
				req->header.api_key, req->header.api_version};
	struct net_delayed *op;
	int64_t deadline = kb_mono_ms() + timeout_ms + PARK_SLACK_MS;
	struct net_wait wait = {deadline, wait_try, wt, wait_free};
	int rc = net_park(req, resp, &wait, &op);
	if (rc == KB_OK)
		rc = net_watch(op, g);
	return rc == KB_OK ? NET_PARKED : rc;
}

/* A parked JoinGroup or SyncGroup: answered when its member's answer is
 * ready, with UNKNOWN_MEMBER_ID when the member is gone, and with
 * REBALANCE_IN_PROGRESS (rejoin) if its deadline passes first. */
static bool wait_try(struct net_delayed *op, struct net_response *resp,
		     bool expired)
{
	struct grp_wait *wt = net_delayed_ctx(op);
	struct grp_group *g = grp_find(wt->c, wt->group);
	struct grp_member *m = g && g->state != GRP_DEAD ?
				       grp_member_find(g, wt->member) : NULL;
	bool join = wt->api_key == WIRE_API_JOIN_GROUP;
	bool ready = m && (join ? m->join_ready : m->sync_ready);
	if (m && !ready && !expired)
		return false;
	int32_t p = grp_partition_for(wt->group, wt->c->cfg.offsets_partitions);
	int16_t err = !m && !grp_partition_loaded(wt->c, p) ?
					KAFKA_ERR_NOT_COORDINATOR :
		      !m     ? KAFKA_ERR_UNKNOWN_MEMBER_ID :
		      !ready ? KAFKA_ERR_REBALANCE_IN_PROGRESS :
		      join   ? m->join_error : m->sync_error;
	if (join)
		join_write(&resp->w, wt->version,
			   &(struct join_answer){err, g, m, wt->member});
	else
		sync_write(&resp->w, wt->version, err, m);
	if (m && join)
		m->join_ready = false;
	else if (m)
		m->sync_ready = false;
	return true;
}

static void wait_free(void *ctx)
{
	struct grp_wait *wt = ctx;
	free(wt->group);
	free(wt->member);
	free(wt);
}

/* ======================================================================
 * ---- Heartbeat and LeaveGroup ----
 * ====================================================================== */

int handle_heartbeat(struct net_request *req, struct net_response *resp)
{
	struct grp_coordinator *c = req->ctx;
	struct wire_reader *r = &req->body;
	int16_t v = req->header.api_version;
	struct member_head h;
	member_head_read(r, v, &h);
	wire_read_tags(r);
	int rc = wire_reader_status(r);
	if (rc == KB_OK && h.group && h.member) {
		struct grp_member_ref who = {h.group, h.generation, h.member,
					     h.instance};
		int16_t err = !grp_authorized(req, NET_OP_READ, h.group) ?
				      KAFKA_ERR_GROUP_AUTHORIZATION_FAILED :
			      grp_owns_group(c, h.group) ?
				      grp_heartbeat(c, &who) :
				      KAFKA_ERR_NOT_COORDINATOR;
		write_throttle(&resp->w, v, 1);
		wire_write_i16(&resp->w, err);
		wire_write_tags(&resp->w);
		rc = wire_writer_status(&resp->w);
	}
	member_head_free(&h);
	return rc == KB_OK || rc == KB_ERR_PROTO ? rc : KB_ERR_PROTO;
}

int handle_leave_group(struct net_request *req, struct net_response *resp)
{
	struct grp_coordinator *c = req->ctx;
	struct wire_reader *r = &req->body;
	struct wire_writer *w = &resp->w;
	int16_t v = req->header.api_version;
	char *group = wdup_nn(wire_read_string(r));
	if (v <= 2) {
		char *member = wdup_nn(wire_read_string(r));
		wire_read_tags(r);
		int16_t err = KAFKA_ERR_NONE;
		if (wire_reader_status(r) == KB_OK && group && member)
			err = !grp_authorized(req, NET_OP_READ, group) ?
				      KAFKA_ERR_GROUP_AUTHORIZATION_FAILED :
			      grp_owns_group(c, group) ?
				      grp_leave(c, group, member, NULL) :
				      KAFKA_ERR_NOT_COORDINATOR;
		free(member);
		write_throttle(w, v, 1);
		wire_write_i16(w, err);
	} else {
		int32_t n = wire_read_array_len(r, 2);
		/* KAFKA: not the coordinator: the error, no member answers. */
		bool allowed = grp_authorized(req, NET_OP_READ, group);
		bool owns = allowed && group && grp_owns_group(c, group);
		write_throttle(w, v, 1);
		wire_write_i16(w, owns ? KAFKA_ERR_NONE :
			       !allowed ? KAFKA_ERR_GROUP_AUTHORIZATION_FAILED :
					  KAFKA_ERR_NOT_COORDINATOR);
		wire_write_array_len(w, owns ? n : 0);
		for (int32_t i = 0; i < n; i++) {
			struct wire_str mid = wire_read_string(r);
			struct wire_str iid = wire_read_nullable_string(r);
			wire_read_tags(r);
			if (!owns)
				continue;
			char *member = wdup_nn(mid), *instance = wdup(iid);
			int16_t err = group && member ?
				grp_leave(c, group, member, instance) :
				KAFKA_ERR_UNKNOWN_SERVER_ERROR;
			wire_write_string(w, mid);
			wire_write_string(w, iid);
			wire_write_i16(w, err);
			wire_write_tags(w);
			free(member);
			free(instance);
		}
	}
	wire_read_tags(r);
	wire_write_tags(w);
	free(group);
	if (wire_reader_status(r) != KB_OK)
		return KB_ERR_PROTO;
	return wire_writer_status(w);
}

/* ======================================================================
 * ---- ListGroups, DescribeGroups, DeleteGroups ----
 * ====================================================================== */

/* v4+: is g's state in the filter (an empty filter passes all)? */
static bool state_wanted(const struct grp_group *g, const struct wire_str *f,
			 int32_t n)
{
	for (int32_t i = 0; i < n; i++)
		if (wire_str_eq(f[i], grp_state_name(g->state)))
			return true;
	return n == 0;
}

int handle_list_groups(struct net_request *req, struct net_response *resp)
{
	struct grp_coordinator *c = req->ctx;
	struct wire_reader *r = &req->body;
	struct wire_writer *w = &resp->w;
	int16_t v = req->header.api_version;
	int32_t nf = v >= 4 ? wire_read_array_len(r, 1) : 0;
	struct wire_str *f = calloc((size_t)nf + 1, sizeof *f);
	if (!f)
		return KB_ERR_NOMEM;
	for (int32_t i = 0; i < nf; i++)
		f[i] = wire_read_string(r);
	wire_read_tags(r);
	if (wire_reader_status(r) != KB_OK) {
		free(f);
		return KB_ERR_PROTO;
	}
	write_throttle(w, v, 1);
	wire_write_i16(w, KAFKA_ERR_NONE);
	size_t at = wire_write_array_begin(w);
	int32_t n = 0;
	/* KAFKA: DESCRIBE on the cluster lists all, else the groups the
	 * principal may DESCRIBE */
	bool all = net_authorized_cluster(req, NET_OP_DESCRIBE);
	for (size_t i = 0; i < c->ngroups; i++) {
		const struct grp_group *g = c->groups[i];
		if (!state_wanted(g, f, nf) ||
		    !grp_partition_loaded(c, g->partition))
			continue; /* in a cluster: only the groups it coordinates */
		if (!all && !grp_authorized(req, NET_OP_DESCRIBE, g->id))
			continue;
		wire_write_string(w, wire_str_c(g->id));
		wire_write_string(w, wire_str_c(g->protocol_type ?
						g->protocol_type : ""));
		if (v >= 4)
			wire_write_string(w, wire_str_c(grp_state_name(g->state)));
		wire_write_tags(w);
		n++;
	}
	wire_write_array_end(w, at, n);
	wire_write_tags(w);
	free(f);
	return wire_writer_status(w);
}

/* One DescribedGroup; an unknown group is described as Dead. */
static void describe_one(struct wire_writer *w, int16_t v,
			 struct grp_group *g, struct wire_str id, int16_t err)
{
	if (err != KAFKA_ERR_NONE)
		g = NULL; /* KAFKA: the error with an empty, Dead description */
	wire_write_i16(w, err);
	wire_write_string(w, id);
	wire_write_string(w, wire_str_c(grp_state_name(g ? g->state : GRP_DEAD)));
	wire_write_string(w, wire_str_c(g && g->protocol_type ?
					g->protocol_type : ""));
	wire_write_string(w, wire_str_c(g && g->protocol ? g->protocol : ""));
	wire_write_array_len(w, g ? (int32_t)g->nmembers : 0);
	for (size_t i = 0; g && i < g->nmembers; i++) {
		const struct grp_member *m = g->members[i];
		const struct kb_buf *meta = NULL;
		for (size_t p = 0; g->protocol && p < m->nprotocols; p++)
			if (strcmp(m->protocols[p].name, g->protocol) == 0)
				meta = &m->protocols[p].meta;
		bool stable = g->state == GRP_STABLE;
		wire_write_string(w, wire_str_c(m->id));
		if (v >= 4)
			wire_write_string(w, wire_str_c(m->instance_id));
		wire_write_string(w, wire_str_c(m->client_id));
		wire_write_string(w, wire_str_c(m->client_host));
		wire_write_bytes(w, (struct wire_bytes){
			meta ? meta->data : NULL, meta ? (int32_t)meta->len : 0});
		wire_write_bytes(w, (struct wire_bytes){
			stable ? m->assignment.data : NULL,
			stable ? (int32_t)m->assignment.len : 0});
		wire_write_tags(w);
	}
	if (v >= 3)
		wire_write_i32(w, OPS_OMITTED);
	wire_write_tags(w);
}

int handle_describe_groups(struct net_request *req, struct net_response *resp)
{
	struct grp_coordinator *c = req->ctx;
	struct wire_reader *r = &req->body;
	struct wire_writer *w = &resp->w;
	int16_t v = req->header.api_version;
	int32_t n = wire_read_array_len(r, 1);
	size_t ids_at = r->pos;
	for (int32_t i = 0; i < n; i++)
		wire_read_string(r);
	if (v >= 3)
		wire_read_bool(r); /* include_authorized_operations */
	wire_read_tags(r);
	if (wire_reader_status(r) != KB_OK)
		return KB_ERR_PROTO;
	struct wire_reader ids;
	wire_reader_init(&ids, r->p + ids_at, r->len - ids_at, r->flexible);
	write_throttle(w, v, 1);
	wire_write_array_len(w, n);
	for (int32_t i = 0; i < n; i++) {
		struct wire_str id = wire_read_string(&ids);
		char *name = wdup_nn(id);
		int16_t err = !name ? KAFKA_ERR_UNKNOWN_SERVER_ERROR :
			      !grp_authorized(req, NET_OP_DESCRIBE, name) ?
				      KAFKA_ERR_GROUP_AUTHORIZATION_FAILED :
			      grp_owns_group(c, name) ? KAFKA_ERR_NONE :
			      KAFKA_ERR_NOT_COORDINATOR;
		describe_one(w, v, name ? grp_find(c, name) : NULL, id, err);
		free(name);
	}
	wire_write_tags(w);
	return wire_writer_status(w);
}

int handle_delete_groups(struct net_request *req, struct net_response *resp)
{
	struct grp_coordinator *c = req->ctx;
	struct wire_reader *r = &req->body;
	struct wire_writer *w = &resp->w;
	int32_t n = wire_read_array_len(r, 1);
	size_t ids_at = r->pos;
	for (int32_t i = 0; i < n; i++)
		wire_read_string(r);
	wire_read_tags(r);
	if (wire_reader_status(r) != KB_OK)
		return KB_ERR_PROTO;
	struct wire_reader ids;
	wire_reader_init(&ids, r->p + ids_at, r->len - ids_at, r->flexible);
	wire_write_i32(w, 0); /* throttle_time_ms */
	wire_write_array_len(w, n);
	for (int32_t i = 0; i < n; i++) {
		struct wire_str id = wire_read_string(&ids);
		char *name = wdup_nn(id);
		int16_t err = !name ? KAFKA_ERR_UNKNOWN_SERVER_ERROR :
			      !grp_authorized(req, NET_OP_DELETE, name) ?
				      KAFKA_ERR_GROUP_AUTHORIZATION_FAILED :
			      grp_owns_group(c, name) ? grp_delete(c, name) :
			      KAFKA_ERR_NOT_COORDINATOR;
		wire_write_string(w, id);
		wire_write_i16(w, err);
		wire_write_tags(w);
		free(name);
	}
	wire_write_tags(w);
	return wire_writer_status(w);
}

/* ======================================================================
 * ---- Small helpers ----
 * ====================================================================== */

/* Decode the head SyncGroup and Heartbeat share, in wire order.
 * returns owned strings in *h (member_head_free). */
static void member_head_read(struct wire_reader *r, int16_t v,
			     struct member_head *h)
{
	h->group = wdup_nn(wire_read_string(r));
	h->generation = wire_read_i32(r);
	h->member = wdup_nn(wire_read_string(r));
	h->instance = v >= 3 ? wdup(wire_read_nullable_string(r)) : NULL;
}

static void member_head_free(struct member_head *h)
{
	free(h->group);
	free(h->member);
	free(h->instance);
}

/* A NUL-terminated copy of a wire string; null and failure give NULL.
 * returns owned. */
static char *wdup(struct wire_str s)
{
	char *out = NULL;
	if (s.len >= 0 && wire_str_dup(s, &out) != KB_OK)
		return NULL;
	return out;
}

/* The same, but null reads as "" (the non-nullable fields). */
static char *wdup_nn(struct wire_str s)
{
	char *out = wdup(s);
	return out ? out : strdup("");
}

static void write_throttle(struct wire_writer *w, int16_t v, int16_t from)
{
	if (v >= from)
		wire_write_i32(w, 0); /* throttle_time_ms */
}
