/* SPDX-License-Identifier: MIT */
/* Chapter 09: the group state machine driven with fake clocks (a
 * monotonic one for deadlines, a wall one for record timestamps), with
 * grp_check after every step, and the offsets kept in __consumer_offsets
 * across a reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "05_server.h"
#include "06_topics.h"
#include "09_groups.h"
#include "testutil.h"

#define SESSION 10000
#define REBALANCE 30000

static struct grp_protocol range_proto = {"range", {NULL, 0, 0}};
static struct grp_protocol rr_proto = {"roundrobin", {NULL, 0, 0}};

/* The fake clocks: tests set them; the coordinator reads them. */
static int64_t fake_mono, fake_wall;
static int64_t read_mono(void) { return fake_mono; }
static int64_t read_wall(void) { return fake_wall; }

/* Move the monotonic clock to t and fire what is due, as the reactor's
 * net_at call would. */
static void advance(struct grp_coordinator *c, int64_t t)
{
	fake_mono = t;
	grp_run_timers(c);
	grp_check(c);
}

static void use_fake_clocks(struct grp_coordinator *c)
{
	fake_mono = 0;
	fake_wall = 1700000000000LL;
	c->mono_ms = read_mono;
	c->wall_ms = read_wall;
}

static struct grp_coordinator *open_mem(int32_t delay_ms)
{
	struct grp_config cfg;
	grp_config_defaults(&cfg);
	cfg.initial_rebalance_delay_ms = delay_ms;
	struct grp_coordinator *c;
	assert_int_equal(grp_open(NULL, NULL, &cfg, &c), KB_OK);
	use_fake_clocks(c);
	return c;
}

static int16_t heartbeat(struct grp_coordinator *c, int32_t gen,
			 const char *member, const char *instance, int64_t now)
{
	struct grp_member_ref who = {"g", gen, member, instance};
	fake_mono = now;
	int16_t err = grp_heartbeat(c, &who);
	grp_check(c);
	return err;
}

static int16_t sync_as(struct grp_coordinator *c, int32_t gen,
		       const char *member, const struct grp_assignment *a,
		       size_t na)
{
	struct grp_sync_req q = {{"g", gen, member, NULL}, a, na};
	struct grp_member *out;
	int16_t err = grp_sync(c, &q, &out);
	grp_check(c);
	return err;
}

static int16_t leave(struct grp_coordinator *c, const char *member,
		     int64_t now)
{
	fake_mono = now;
	int16_t err = grp_leave(c, "g", member, NULL);
	grp_check(c);
	return err;
}

static int16_t join(struct grp_coordinator *c, const struct grp_join_req *q,
		    int64_t now, struct grp_group **g, struct grp_member **m)
{
	fake_mono = now;
	int16_t err = grp_join(c, q, g, m);
	grp_check(c);
	return err;
}

static struct grp_join_req join_req(const char *member, bool v4)
{
	struct grp_join_req q = {"g", member, NULL, "client", "/", "consumer",
				 SESSION, REBALANCE, &range_proto, 1, v4};
	return q;
}

/* Join a new member (v3 style: no MEMBER_ID_REQUIRED round). */
static struct grp_member *join_new_member(struct grp_coordinator *c,
					  int64_t now)
{
	struct grp_join_req q = join_req("", false);
	struct grp_group *g;
	struct grp_member *m;
	assert_int_equal(join(c, &q, now, &g, &m), KAFKA_ERR_NONE);
	return m;
}

/* Rejoin a known member. */
static int16_t rejoin(struct grp_coordinator *c, struct grp_member *m,
		      int64_t now)
{
	struct grp_join_req q = join_req(m->id, false);
	struct grp_group *g;
	struct grp_member *out;
	return join(c, &q, now, &g, &out);
}

/* One member through Empty -> PreparingRebalance -> CompletingRebalance
 * -> Stable. */
static struct grp_member *stable_one(struct grp_coordinator *c)
{
	struct grp_member *m = join_new_member(c, 0);
	struct grp_group *g = grp_find(c, "g");
	assert_int_equal(g->state, GRP_COMPLETING_REBALANCE);
	assert_true(m->join_ready);
	struct grp_assignment a = {m->id, {(const uint8_t *)"P", 1}};
	assert_int_equal(sync_as(c, g->generation, m->id, &a, 1),
			 KAFKA_ERR_NONE);
	assert_int_equal(g->state, GRP_STABLE);
	return m;
}

static void test_grp_join_empty_to_completing(void **state)
{
	(void)state;
	struct grp_coordinator *c = open_mem(0);
	struct grp_member *m = join_new_member(c, 0);
	struct grp_group *g = grp_find(c, "g");
	assert_int_equal(g->state, GRP_COMPLETING_REBALANCE);
	assert_int_equal(g->generation, 1);
	assert_string_equal(g->leader, m->id);
	assert_string_equal(g->protocol, "range");
	assert_true(m->join_ready);
	grp_close(c);
}

static void test_grp_initial_delay_holds_the_join(void **state)
{
	(void)state;
	struct grp_coordinator *c = open_mem(3000);
	struct grp_member *m = join_new_member(c, 0);
	struct grp_group *g = grp_find(c, "g");
	assert_int_equal(g->state, GRP_PREPARING_REBALANCE);
	assert_false(m->join_ready);
	advance(c, 2999);
	assert_int_equal(g->state, GRP_PREPARING_REBALANCE);
	advance(c, 3000);
	assert_int_equal(g->state, GRP_COMPLETING_REBALANCE);
	assert_true(m->join_ready);
	grp_close(c);
}

static void test_grp_sync_completing_to_stable(void **state)
{
	(void)state;
	struct grp_coordinator *c = open_mem(0);
	struct grp_member *m = stable_one(c);
	assert_int_equal(m->assignment.len, 1);
	assert_memory_equal(m->assignment.data, "P", 1);
	grp_close(c);
}

static void test_grp_follower_sync_waits_for_leader(void **state)
{
	(void)state;
	struct grp_coordinator *c = open_mem(0);
	struct grp_member *a = stable_one(c);
	struct grp_group *g = grp_find(c, "g");
	struct grp_member *b = join_new_member(c, 10);
	assert_int_equal(g->state, GRP_PREPARING_REBALANCE);
	assert_int_equal(heartbeat(c, 1, a->id, NULL, 20),
			 KAFKA_ERR_REBALANCE_IN_PROGRESS);
	assert_int_equal(rejoin(c, a, 30), KAFKA_ERR_NONE);
	assert_int_equal(g->state, GRP_COMPLETING_REBALANCE);
	assert_int_equal(g->generation, 2);
	assert_int_equal(sync_as(c, 2, b->id, NULL, 0), KAFKA_ERR_NONE);
	assert_true(b->sync_waiting);
	assert_false(b->sync_ready);
	struct grp_assignment as[2] = {{a->id, {(const uint8_t *)"A", 1}},
				       {b->id, {(const uint8_t *)"B", 1}}};
	assert_int_equal(sync_as(c, 2, a->id, as, 2), KAFKA_ERR_NONE);
	assert_int_equal(g->state, GRP_STABLE);
	assert_true(b->sync_ready);
	assert_memory_equal(b->assignment.data, "B", 1);
	grp_close(c);
}

static void test_grp_leave_stable_to_preparing(void **state)
{
	(void)state;
	struct grp_coordinator *c = open_mem(0);
	struct grp_member *a = stable_one(c);
	struct grp_member *b = join_new_member(c, 10);
	assert_int_equal(rejoin(c, a, 20), KAFKA_ERR_NONE);
	struct grp_group *g = grp_find(c, "g");
	assert_int_equal(g->state, GRP_COMPLETING_REBALANCE);
	char bid[256];
	snprintf(bid, sizeof bid, "%s", b->id);
	assert_int_equal(leave(c, bid, 30), KAFKA_ERR_NONE);
	assert_int_equal(g->state, GRP_PREPARING_REBALANCE);
	assert_int_equal(leave(c, bid, 31), KAFKA_ERR_UNKNOWN_MEMBER_ID);
	grp_close(c);
}

static void test_grp_last_member_leaves_to_empty(void **state)
{
	(void)state;
	struct grp_coordinator *c = open_mem(0);
	struct grp_member *a = stable_one(c);
	struct grp_group *g = grp_find(c, "g");
	/* Issue 9: Empty before the LeaveGroup answer, not at a later tick
	 * (KAFKA: prepareRebalance finds everyone left has rejoined). */
	assert_int_equal(leave(c, a->id, 10), KAFKA_ERR_NONE);
	assert_int_equal(g->state, GRP_EMPTY);
	assert_int_equal(g->generation, 2);
	assert_null(g->leader);
	grp_close(c);
}

static void test_grp_session_expiry_rebalances(void **state)
{
	(void)state;
	struct grp_coordinator *c = open_mem(0);
	stable_one(c);
	struct grp_group *g = grp_find(c, "g");
	advance(c, SESSION - 1);
	assert_int_equal(g->nmembers, 1);
	advance(c, SESSION); /* at the deadline, not a tick later */
	assert_int_equal(g->nmembers, 0);
	assert_int_equal(g->state, GRP_EMPTY);
	grp_close(c);
}

/* Issue 9: deadlines follow the monotonic clock. A wall-clock jump of a
 * day expires nobody; a heartbeat moves the session deadline; the group's
 * state time (written into its record) is wall clock. */
static void test_grp_session_deadline_is_monotonic(void **state)
{
	(void)state;
	struct grp_coordinator *c = open_mem(0);
	struct grp_member *m = stable_one(c);
	struct grp_group *g = grp_find(c, "g");
	assert_int_equal(g->state_ms, fake_wall);
	fake_wall += 86400000LL;
	advance(c, SESSION - 1);
	assert_int_equal(g->nmembers, 1);
	assert_int_equal(m->session.at_ms, SESSION);
	assert_int_equal(heartbeat(c, 1, m->id, NULL, SESSION - 1),
			 KAFKA_ERR_NONE);
	assert_int_equal(m->session.at_ms, 2 * SESSION - 1);
	advance(c, 2 * SESSION - 2);
	assert_int_equal(g->nmembers, 1);
	advance(c, 2 * SESSION - 1);
	assert_int_equal(g->state, GRP_EMPTY);
	assert_int_equal(g->state_ms, fake_wall);
	grp_close(c);
}

/* INVARIANT 3: a member waiting in the JoinGroup barrier is not expired
 * when its session deadline passes; its timer is armed again. */
static void test_grp_waiting_member_is_not_expired(void **state)
{
	(void)state;
	struct grp_coordinator *c = open_mem(2 * SESSION);
	struct grp_member *m = join_new_member(c, 0);
	struct grp_group *g = grp_find(c, "g");
	advance(c, SESSION);
	assert_int_equal(g->nmembers, 1);
	assert_true(m->join_waiting);
	assert_int_equal(m->session.at_ms, 2 * SESSION);
	advance(c, 2 * SESSION); /* the initial delay ends first */
	assert_int_equal(g->state, GRP_COMPLETING_REBALANCE);
	assert_int_equal(g->nmembers, 1);
	grp_close(c);
}

/* The last member leaving during the initial delay empties the group at
 * once too: nobody is left to wait for. */
static void test_grp_last_member_leaves_during_initial_delay(void **state)
{
	(void)state;
	struct grp_coordinator *c = open_mem(3000);
	struct grp_member *m = join_new_member(c, 0);
	struct grp_group *g = grp_find(c, "g");
	assert_int_equal(g->state, GRP_PREPARING_REBALANCE);
	assert_int_equal(leave(c, m->id, 5), KAFKA_ERR_NONE);
	assert_int_equal(g->state, GRP_EMPTY);
	assert_int_equal(c->ntimers, 0);
	grp_close(c);
}

/* With a server the earliest deadline is armed as the reactor's net_at
 * call: the reactor sleeps until the session deadline and expires the
 * member then, with no heartbeat and no periodic tick (real clocks). */
static void test_grp_session_timer_runs_on_the_reactor(void **state)
{
	(void)state;
	struct net_config ncfg;
	struct net_server *srv;
	struct grp_config cfg;
	struct grp_coordinator *c;
	net_config_defaults(&ncfg);
	assert_int_equal(net_server_new(&ncfg, &srv), KB_OK);
	grp_config_defaults(&cfg);
	cfg.initial_rebalance_delay_ms = 0;
	cfg.min_session_timeout_ms = 10;
	assert_int_equal(grp_open(NULL, srv, &cfg, &c), KB_OK);
	struct grp_join_req q = join_req("", false);
	q.session_timeout_ms = 50;
	struct grp_group *g;
	struct grp_member *m;
	assert_int_equal(grp_join(c, &q, &g, &m), KAFKA_ERR_NONE);
	grp_check(c);
	int64_t deadline = m->session.at_ms;
	assert_int_equal(c->armed_ms, deadline);
	for (int i = 0; i < 50 && g->nmembers > 0; i++)
		net_run_once(srv, 1000);
	assert_int_equal(g->nmembers, 0);
	assert_int_equal(g->state, GRP_EMPTY);
	assert_true(kb_mono_ms() >= deadline);
	assert_int_equal(c->armed_ms, INT64_MAX); /* nothing left to wait for */
	grp_check(c);
	net_server_free(srv);
	grp_close(c);
}

static void test_grp_rebalance_timeout_drops_laggards(void **state)
{
	(void)state;
	struct grp_coordinator *c = open_mem(0);
	struct grp_member *a = stable_one(c);
	join_new_member(c, 10);
	struct grp_group *g = grp_find(c, "g");
	char aid[256];
	snprintf(aid, sizeof aid, "%s", a->id);
	for (int64_t t = 1000; t < REBALANCE; t += 1000) {
		assert_int_equal(heartbeat(c, 1, a->id, NULL, t),
				 KAFKA_ERR_REBALANCE_IN_PROGRESS);
		advance(c, t);
	}
	advance(c, 10 + REBALANCE - 1);
	assert_int_equal(g->state, GRP_PREPARING_REBALANCE);
	advance(c, 10 + REBALANCE);
	assert_int_equal(g->state, GRP_COMPLETING_REBALANCE);
	assert_int_equal(g->nmembers, 1);
	assert_null(grp_member_find(g, aid));
	grp_close(c);
}

static void test_grp_member_id_required_v4(void **state)
{
	(void)state;
	struct grp_coordinator *c = open_mem(0);
	struct grp_join_req q = join_req("", true);
	struct grp_group *g;
	struct grp_member *m;
	assert_int_equal(join(c, &q, 0, &g, &m), KAFKA_ERR_MEMBER_ID_REQUIRED);
	assert_int_equal(g->npending, 1);
	q.member_id = g->pending[0].id;
	char id[256];
	snprintf(id, sizeof id, "%s", q.member_id);
	q.member_id = id;
	assert_int_equal(join(c, &q, 1, &g, &m), KAFKA_ERR_NONE);
	assert_string_equal(m->id, id);
	assert_int_equal(g->npending, 0);
	/* An id handed out but never used is forgotten after a session. */
	q.member_id = "";
	assert_int_equal(join(c, &q, 2, &g, &m), KAFKA_ERR_MEMBER_ID_REQUIRED);
	advance(c, 2 + SESSION - 1);
	assert_int_equal(g->npending, 1);
	advance(c, 2 + SESSION);
	assert_int_equal(g->npending, 0);
	grp_close(c);
}

static void test_grp_errors_clients_act_on(void **state)
{
	(void)state;
	struct grp_coordinator *c = open_mem(0);
	struct grp_member *a = stable_one(c);
	assert_int_equal(heartbeat(c, 7, a->id, NULL, 1),
			 KAFKA_ERR_ILLEGAL_GENERATION);
	assert_int_equal(heartbeat(c, 1, "nobody", NULL, 1),
			 KAFKA_ERR_UNKNOWN_MEMBER_ID);
	struct grp_join_req q = join_req("", false);
	q.session_timeout_ms = 1;
	struct grp_group *g;
	struct grp_member *m;
	assert_int_equal(join(c, &q, 1, &g, &m),
			 KAFKA_ERR_INVALID_SESSION_TIMEOUT);
	q = join_req("", false);
	q.protocol_type = "connect";
	assert_int_equal(join(c, &q, 1, &g, &m),
			 KAFKA_ERR_INCONSISTENT_GROUP_PROTOCOL);
	grp_close(c);
}

static void test_grp_select_protocol_common_by_vote(void **state)
{
	(void)state;
	struct grp_coordinator *c = open_mem(3000);
	struct grp_protocol both[2] = {rr_proto, range_proto};
	struct grp_protocol range_first[2] = {range_proto, rr_proto};
	struct grp_join_req q = join_req("", false);
	struct grp_group *g;
	struct grp_member *m;
	q.protocols = both;
	q.nprotocols = 2;
	join(c, &q, 0, &g, &m);
	join(c, &q, 0, &g, &m);
	q.protocols = range_first;
	join(c, &q, 0, &g, &m);
	advance(c, 3000);
	assert_string_equal(g->protocol, "roundrobin");
	grp_close(c);
}

static void test_grp_static_member_returns_without_rebalance(void **state)
{
	(void)state;
	struct grp_coordinator *c = open_mem(0);
	struct grp_join_req q = join_req("", true);
	q.instance_id = "i1";
	struct grp_group *g;
	struct grp_member *m;
	assert_int_equal(join(c, &q, 0, &g, &m), KAFKA_ERR_NONE);
	struct grp_assignment a = {m->id, {(const uint8_t *)"X", 1}};
	struct grp_sync_req sq = {{"g", 1, m->id, "i1"}, &a, 1};
	struct grp_member *out;
	grp_sync(c, &sq, &out);
	char old[256];
	snprintf(old, sizeof old, "%s", m->id);
	assert_int_equal(join(c, &q, 100, &g, &m), KAFKA_ERR_NONE);
	assert_int_equal(g->state, GRP_STABLE);
	assert_int_equal(g->generation, 1);
	assert_true(m->join_ready);
	assert_memory_equal(m->assignment.data, "X", 1);
	assert_int_equal(heartbeat(c, 1, old, "i1", 200),
			 KAFKA_ERR_FENCED_INSTANCE_ID);
	grp_close(c);
}

static void test_grp_delete_only_empty(void **state)
{
	(void)state;
	struct grp_coordinator *c = open_mem(0);
	struct grp_member *a = stable_one(c);
	assert_int_equal(grp_delete(c, "g"), KAFKA_ERR_NON_EMPTY_GROUP);
	leave(c, a->id, 1); /* Empty at once: deletable right away */
	assert_int_equal(grp_delete(c, "g"), KAFKA_ERR_NONE);
	assert_null(grp_find(c, "g"));
	assert_int_equal(grp_delete(c, "g"), KAFKA_ERR_GROUP_ID_NOT_FOUND);
	grp_close(c);
}

static void test_grp_partition_for_matches_java(void **state)
{
	(void)state;
	/* "g".hashCode() = 103; "my-group".hashCode() = 1106359264? computed
	 * by Java's rule: s[0]*31^(n-1) + ... + s[n-1], int overflow. */
	assert_int_equal(grp_partition_for("g", 50), 103 % 50);
	assert_int_equal(grp_partition_for("", 50), 0);
	/* "polygenelubricants".hashCode() == Integer.MIN_VALUE: Utils.abs
	 * maps it to 0. */
	assert_int_equal(grp_partition_for("polygenelubricants", 50), 0);
	/* "ab".hashCode() = 97 * 31 + 98 = 3105. */
	assert_int_equal(grp_partition_for("ab", 50), 3105 % 50);
}

/* ---- Offsets and __consumer_offsets ---- */

static struct grp_coordinator *open_disk(const char *dir,
					 struct topic_manager **tm)
{
	struct topic_broker_config tc;
	topic_broker_config_defaults(&tc);
	snprintf(tc.log_dir, sizeof tc.log_dir, "%s", dir);
	assert_int_equal(topic_manager_open(&tc, NULL, tm), KB_OK);
	if (!topic_find(*tm, "t"))
		assert_int_equal(topic_create(*tm, TOPIC_REQ("t", 2, NULL, 0), NULL),
				 KB_OK);
	struct grp_config cfg;
	grp_config_defaults(&cfg);
	cfg.offsets_partitions = 5;
	struct grp_coordinator *c;
	assert_int_equal(grp_open(*tm, NULL, &cfg, &c), KB_OK);
	use_fake_clocks(c);
	return c;
}

static void commit(struct grp_coordinator *c, struct grp_group *g,
		   int32_t partition, int64_t offset, const char *meta)
{
	struct grp_commit o = {"t", partition, offset, 0, meta};
	assert_int_equal(grp_offset_commit(c, g, &o), KAFKA_ERR_NONE);
	grp_check(c);
}

static void test_grp_offsets_survive_reopen(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct topic_manager *tm;
	struct grp_coordinator *c = open_disk(dir, &tm);
	/* Issue 9: created on first use, not by grp_open. */
	assert_null(topic_find(tm, TOPIC_CONSUMER_OFFSETS));
	struct grp_group *g = grp_get_or_create(c, "g");
	commit(c, g, 0, 41, "m");
	struct topic *t = topic_find(tm, TOPIC_CONSUMER_OFFSETS);
	assert_non_null(t);
	assert_true(t->internal);
	assert_true(t->cfg.cleanup_compact);
	assert_int_equal(t->npartitions, 5);
	commit(c, g, 0, 42, "m");
	commit(c, g, 1, 7, NULL);
	grp_offset_remove(c, g, 1);
	int32_t p = grp_partition_for("g", 5);
	assert_int_equal(t->partitions[p]->high_watermark, 4);
	grp_close(c);
	topic_manager_close(tm);
	c = open_disk(dir, &tm);
	g = grp_find(c, "g");
	assert_non_null(g);
	assert_int_equal(g->noffsets, 1);
	struct grp_offset *o = grp_offset_find(g, "t", 0);
	assert_non_null(o);
	assert_int_equal(o->offset, 42);
	assert_string_equal(o->metadata, "m");
	assert_null(grp_offset_find(g, "t", 1));
	grp_close(c);
	topic_manager_close(tm);
	tu_rmrf(dir);
}

/* In a cluster the controller creates __consumer_offsets (chapter 06's
 * topic_create returns KB_ERR_AGAIN): a commit meanwhile is retriable
 * COORDINATOR_NOT_AVAILABLE and records nothing. */
static int asked_creates;
static int ask_create(void *ctx, const struct topic_create_req *req)
{
	asked_creates += strcmp(req->name, TOPIC_CONSUMER_OFFSETS) == 0;
	return KB_OK;
}

static void test_grp_offsets_topic_pending_in_a_cluster(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct topic_manager *tm;
	struct grp_coordinator *c = open_disk(dir, &tm);
	struct topic_cluster cl = {.create = ask_create};
	topic_set_cluster(tm, &cl);
	asked_creates = 0;
	assert_int_equal(grp_offsets_topic(c), KB_ERR_AGAIN);
	struct grp_group *g = grp_get_or_create(c, "g");
	struct grp_commit o = {"t", 0, 5, 0, NULL};
	assert_int_equal(grp_offset_commit(c, g, &o),
			 KAFKA_ERR_COORDINATOR_NOT_AVAILABLE);
	assert_null(grp_offset_find(g, "t", 0));
	assert_null(topic_find(tm, TOPIC_CONSUMER_OFFSETS));
	assert_int_equal(asked_creates, 2);
	grp_close(c);
	topic_set_cluster(tm, NULL);
	topic_manager_close(tm);
	tu_rmrf(dir);
}

static void test_grp_group_record_restores_generation(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct topic_manager *tm;
	struct grp_coordinator *c = open_disk(dir, &tm);
	struct grp_join_req q = join_req("", false);
	struct grp_group *g;
	struct grp_member *m;
	c->cfg.initial_rebalance_delay_ms = 0;
	join(c, &q, 0, &g, &m);
	assert_int_equal(sync_as(c, 1, m->id, NULL, 0), KAFKA_ERR_NONE);
	char *id = strdup(m->id);
	grp_close(c);
	topic_manager_close(tm);
	c = open_disk(dir, &tm);
	g = grp_find(c, "g");
	assert_non_null(g);
	assert_int_equal(g->generation, 1);
	assert_string_equal(g->protocol_type, "consumer");
	/* KAFKA: loadGroup brings the members back: the member's heartbeat
	 * goes on against the new coordinator, no rebalance */
	assert_int_equal(g->state, GRP_STABLE);
	assert_int_equal(g->nmembers, 1);
	assert_string_equal(g->members[0]->id, id);
	assert_string_equal(g->leader, id);
	struct grp_member_ref hb = {"g", 1, id, NULL};
	assert_int_equal(grp_heartbeat(c, &hb), KAFKA_ERR_NONE);
	free(id);
	grp_close(c);
	topic_manager_close(tm);
	tu_rmrf(dir);
}

static void test_grp_retention_expires_empty_groups(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct topic_manager *tm;
	struct grp_coordinator *c = open_disk(dir, &tm);
	int64_t keep = (int64_t)GRP_DEFAULT_RETENTION_MINUTES * 60000;
	struct grp_group *g = grp_get_or_create(c, "g");
	int64_t at = fake_wall;
	commit(c, g, 0, 1, "");
	fake_wall = at + keep - 1;
	grp_expire_offsets(c);
	assert_non_null(grp_find(c, "g"));
	fake_wall = at + keep;
	grp_expire_offsets(c);
	assert_null(grp_find(c, "g"));
	grp_close(c);
	topic_manager_close(tm);
	c = open_disk(dir, &tm);
	assert_null(grp_find(c, "g"));
	grp_close(c);
	topic_manager_close(tm);
	tu_rmrf(dir);
}

/* ---- In a cluster ---- */

/* A fake chapter 07: brokers 1 (this node), 2 and 3, and a leader per
 * __consumer_offsets partition (-1: none); no topic at all when
 * no_topic, and then creates counts the asks. */
struct fake_cluster {
	int32_t leader[5];
	bool no_topic;
	int creates;
};

static int fake_broker_at(void *ctx, const char *listener, int32_t i,
			  struct topic_broker_info *out)
{
	static const char *const hosts[] = {"localhost", "b2.example", "b3.example"};
	(void)ctx;
	if (i < 0 || i >= 3)
		return KB_ERR_RANGE;
	*out = (struct topic_broker_info){i + 1, hosts[i], 9092 + i, NULL};
	return KB_OK;
}

static int fake_replicas(void *ctx, const char *topic, int32_t partition,
			 struct topic_replicas *out)
{
	struct fake_cluster *f = ctx;
	if (f->no_topic || strcmp(topic, TOPIC_CONSUMER_OFFSETS) != 0 ||
	    partition < 0 || partition >= 5)
		return KB_ERR_NOTFOUND;
	*out = (struct topic_replicas){f->leader[partition], 1, NULL, 0, NULL, 0};
	return KB_OK;
}

static int fake_create(void *ctx, const struct topic_create_req *req)
{
	struct fake_cluster *f = ctx;
	assert_string_equal(req->name, TOPIC_CONSUMER_OFFSETS);
	f->creates++;
	return KB_OK;
}

static void join_cluster(struct topic_manager *tm, struct fake_cluster *f)
{
	struct topic_cluster cl = {.broker_at = fake_broker_at,
				   .replicas = fake_replicas,
				   .create = fake_create, .ctx = f};
	topic_set_cluster(tm, &cl);
}

/* Call handler h (api key, version v) with the request body in body;
 * the response body lands in out. */
static int call_api(struct grp_coordinator *c, net_handler_fn h, int16_t key,
		    int16_t v, bool flex, const struct kb_buf *body,
		    struct kb_buf *out)
{
	struct net_request req = {.ctx = c};
	struct net_response resp;
	req.header.api_key = key;
	req.header.api_version = v;
	req.header.client_id = wire_str_c("cli");
	wire_reader_init(&req.body, body->data, body->len, flex);
	memset(&resp, 0, sizeof resp);
	kb_buf_init(out);
	wire_writer_init(&resp.w, out, flex);
	return h(&req, &resp);
}

/* FindCoordinator v3 (one key) for group: node, host, port, error. */
static int16_t find_v3(struct grp_coordinator *c, const char *group,
		       int32_t *node, char *host, int32_t *port)
{
	struct kb_buf body, out;
	struct wire_writer w;
	kb_buf_init(&body);
	wire_writer_init(&w, &body, true);
	wire_write_string(&w, wire_str_c(group));
	wire_write_i8(&w, 0); /* key_type: group */
	wire_write_tags(&w);
	assert_int_equal(call_api(c, handle_find_coordinator,
				  WIRE_API_FIND_COORDINATOR, 3, true, &body, &out),
			 KB_OK);
	struct wire_reader r;
	wire_reader_init(&r, out.data, out.len, true);
	wire_read_i32(&r); /* throttle */
	int16_t err = wire_read_i16(&r);
	wire_read_nullable_string(&r); /* error_message */
	*node = wire_read_i32(&r);
	struct wire_str h = wire_read_string(&r);
	snprintf(host, 64, "%.*s", (int)h.len, h.p);
	*port = wire_read_i32(&r);
	wire_read_tags(&r);
	assert_int_equal(wire_reader_status(&r), KB_OK);
	assert_int_equal(wire_remaining(&r), 0);
	kb_buf_fini(&body);
	kb_buf_fini(&out);
	return err;
}

static void test_grp_find_coordinator_answers_partition_leader(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct topic_manager *tm;
	struct grp_coordinator *c = open_disk(dir, &tm);
	struct fake_cluster f = {{2, 2, 2, 2, 2}, true, 0};
	join_cluster(tm, &f);
	int32_t p = grp_partition_for("g", 5), node, port;
	char host[64];
	/* No __consumer_offsets yet: asked of the controller, not made here. */
	assert_int_equal(find_v3(c, "g", &node, host, &port),
			 KAFKA_ERR_COORDINATOR_NOT_AVAILABLE);
	assert_int_equal(f.creates, 1);
	assert_int_equal(node, -1);
	assert_null(topic_find(tm, TOPIC_CONSUMER_OFFSETS));
	f.no_topic = false;
	f.leader[p] = 3;
	assert_int_equal(find_v3(c, "g", &node, host, &port), KAFKA_ERR_NONE);
	assert_int_equal(node, 3);
	assert_string_equal(host, "b3.example");
	assert_int_equal(port, 9094);
	f.leader[p] = -1; /* no leader */
	assert_int_equal(find_v3(c, "g", &node, host, &port),
			 KAFKA_ERR_COORDINATOR_NOT_AVAILABLE);
	f.leader[p] = 7; /* a leader that is not a live broker */
	assert_int_equal(find_v3(c, "g", &node, host, &port),
			 KAFKA_ERR_COORDINATOR_NOT_AVAILABLE);
	assert_int_equal(f.creates, 1);
	grp_close(c);
	topic_manager_close(tm);
	tu_rmrf(dir);
}

/* FindCoordinator v4: two keys, each answered by its own leader. */
static void test_grp_find_coordinator_v4_batched_keys(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct topic_manager *tm;
	struct grp_coordinator *c = open_disk(dir, &tm);
	struct fake_cluster f = {{1, 1, 1, 1, 1}, false, 0};
	join_cluster(tm, &f);
	const char *keys[2] = {"g", "h"};
	int32_t pg = grp_partition_for("g", 5), ph = grp_partition_for("h", 5);
	assert_int_not_equal(pg, ph);
	f.leader[pg] = 2;
	f.leader[ph] = -1;
	struct kb_buf body, out;
	struct wire_writer w;
	kb_buf_init(&body);
	wire_writer_init(&w, &body, true);
	wire_write_i8(&w, 0);
	wire_write_array_len(&w, 2);
	for (int i = 0; i < 2; i++)
		wire_write_string(&w, wire_str_c(keys[i]));
	wire_write_tags(&w);
	assert_int_equal(call_api(c, handle_find_coordinator,
				  WIRE_API_FIND_COORDINATOR, 4, true, &body, &out),
			 KB_OK);
	struct wire_reader r;
	wire_reader_init(&r, out.data, out.len, true);
	wire_read_i32(&r);
	assert_int_equal(wire_read_array_len(&r, 1), 2);
	int32_t want_node[2] = {2, -1};
	int16_t want_err[2] = {KAFKA_ERR_NONE,
			       KAFKA_ERR_COORDINATOR_NOT_AVAILABLE};
	for (int i = 0; i < 2; i++) {
		assert_true(wire_str_eq(wire_read_string(&r), keys[i]));
		assert_int_equal(wire_read_i32(&r), want_node[i]);
		wire_read_string(&r);
		assert_int_equal(wire_read_i32(&r), want_node[i] < 0 ? -1 : 9093);
		assert_int_equal(wire_read_i16(&r), want_err[i]);
		wire_read_nullable_string(&r);
		wire_read_tags(&r);
	}
	wire_read_tags(&r);
	assert_int_equal(wire_reader_status(&r), KB_OK);
	assert_int_equal(wire_remaining(&r), 0);
	kb_buf_fini(&body);
	kb_buf_fini(&out);
	grp_close(c);
	topic_manager_close(tm);
	tu_rmrf(dir);
}

/* Heartbeat v0 for group: the error. */
static int16_t heartbeat_api(struct grp_coordinator *c, const char *group)
{
	struct kb_buf body, out;
	struct wire_writer w;
	kb_buf_init(&body);
	wire_writer_init(&w, &body, false);
	wire_write_string(&w, wire_str_c(group));
	wire_write_i32(&w, 1);
	wire_write_string(&w, wire_str_c("m-1"));
	assert_int_equal(call_api(c, handle_heartbeat, WIRE_API_HEARTBEAT, 0,
				  false, &body, &out), KB_OK);
	assert_int_equal(out.len, 2);
	int16_t err = (int16_t)kb_get_be16(out.data);
	kb_buf_fini(&body);
	kb_buf_fini(&out);
	return err;
}

/* SyncGroup v0 for group, as a follower: the error. */
static int16_t sync_api(struct grp_coordinator *c, const char *group)
{
	struct kb_buf body, out;
	struct wire_writer w;
	kb_buf_init(&body);
	wire_writer_init(&w, &body, false);
	wire_write_string(&w, wire_str_c(group));
	wire_write_i32(&w, 1);
	wire_write_string(&w, wire_str_c("m-1"));
	wire_write_array_len(&w, 0);
	assert_int_equal(call_api(c, handle_sync_group, WIRE_API_SYNC_GROUP, 0,
				  false, &body, &out), KB_OK);
	int16_t err = (int16_t)kb_get_be16(out.data);
	kb_buf_fini(&body);
	kb_buf_fini(&out);
	return err;
}

/* OffsetFetch v1 of ("t", 0) for group: offset and partition error. */
static int16_t fetch_api(struct grp_coordinator *c, const char *group,
			 int64_t *offset)
{
	struct kb_buf body, out;
	struct wire_writer w;
	kb_buf_init(&body);
	wire_writer_init(&w, &body, false);
	wire_write_string(&w, wire_str_c(group));
	wire_write_array_len(&w, 1);
	wire_write_string(&w, wire_str_c("t"));
	wire_write_array_len(&w, 1);
	wire_write_i32(&w, 0);
	assert_int_equal(call_api(c, handle_offset_fetch, WIRE_API_OFFSET_FETCH,
				  1, false, &body, &out), KB_OK);
	struct wire_reader r;
	wire_reader_init(&r, out.data, out.len, false);
	assert_int_equal(wire_read_array_len(&r, 1), 1);
	wire_read_string(&r);
	assert_int_equal(wire_read_array_len(&r, 1), 1);
	assert_int_equal(wire_read_i32(&r), 0);
	*offset = wire_read_i64(&r);
	wire_read_string(&r);
	int16_t err = wire_read_i16(&r);
	assert_int_equal(wire_reader_status(&r), KB_OK);
	assert_int_equal(wire_remaining(&r), 0);
	kb_buf_fini(&body);
	kb_buf_fini(&out);
	return err;
}

/* DeleteGroups v0 of one group: its error. */
static int16_t delete_api(struct grp_coordinator *c, const char *group)
{
	struct kb_buf body, out;
	struct wire_writer w;
	kb_buf_init(&body);
	wire_writer_init(&w, &body, false);
	wire_write_array_len(&w, 1);
	wire_write_string(&w, wire_str_c(group));
	assert_int_equal(call_api(c, handle_delete_groups,
				  WIRE_API_DELETE_GROUPS, 0, false, &body, &out),
			 KB_OK);
	struct wire_reader r;
	wire_reader_init(&r, out.data, out.len, false);
	wire_read_i32(&r);
	assert_int_equal(wire_read_array_len(&r, 1), 1);
	wire_read_string(&r);
	int16_t err = wire_read_i16(&r);
	assert_int_equal(wire_reader_status(&r), KB_OK);
	kb_buf_fini(&body);
	kb_buf_fini(&out);
	return err;
}

/* ListGroups v0: how many groups are listed. */
static int32_t list_api(struct grp_coordinator *c)
{
	struct kb_buf body, out;
	kb_buf_init(&body);
	assert_int_equal(call_api(c, handle_list_groups, WIRE_API_LIST_GROUPS,
				  0, false, &body, &out), KB_OK);
	struct wire_reader r;
	wire_reader_init(&r, out.data, out.len, false);
	assert_int_equal(wire_read_i16(&r), KAFKA_ERR_NONE);
	int32_t n = wire_read_array_len(&r, 1);
	kb_buf_fini(&body);
	kb_buf_fini(&out);
	return n;
}

/* Offsets of "g" committed on one node, at 42: the directory for the
 * cluster tests that follow. */
static void committed_before(const char *dir)
{
	struct topic_manager *tm;
	struct grp_coordinator *c = open_disk(dir, &tm);
	struct grp_group *g = grp_get_or_create(c, "g");
	commit(c, g, 0, 42, "m");
	assert_non_null(grp_get_or_create(c, "other"));
	commit(c, grp_find(c, "other"), 0, 5, "");
	grp_close(c);
	topic_manager_close(tm);
}

static void set_leader(struct topic_manager *tm, const char *group,
		       int32_t leader)
{
	struct topic_partition *tp = topic_partition_find(
		tm, TOPIC_CONSUMER_OFFSETS, grp_partition_for(group, 5));
	assert_non_null(tp);
	topic_partition_set_leader(tp, leader, tp->leader_epoch + 1);
}

static void test_grp_apis_not_coordinator_when_led_elsewhere(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	committed_before(dir);
	struct topic_manager *tm;
	struct grp_coordinator *c = open_disk(dir, &tm);
	struct fake_cluster f = {{1, 1, 1, 1, 1}, false, 0};
	assert_int_not_equal(grp_partition_for("g", 5),
			     grp_partition_for("other", 5));
	join_cluster(tm, &f);
	set_leader(tm, "g", 2);
	grp_leadership_changed(c);
	grp_check(c);
	int64_t off;
	assert_int_equal(heartbeat_api(c, "g"), KAFKA_ERR_NOT_COORDINATOR);
	assert_int_equal(sync_api(c, "g"), KAFKA_ERR_NOT_COORDINATOR);
	assert_int_equal(fetch_api(c, "g", &off), KAFKA_ERR_NOT_COORDINATOR);
	assert_int_equal(off, -1);
	assert_int_equal(delete_api(c, "g"), KAFKA_ERR_NOT_COORDINATOR);
	assert_null(grp_find(c, "g")); /* nothing was created for it */
	/* The group this node still leads is served as before. */
	assert_int_equal(heartbeat_api(c, "other"), KAFKA_ERR_UNKNOWN_MEMBER_ID);
	assert_int_equal(fetch_api(c, "other", &off), KAFKA_ERR_NONE);
	assert_int_equal(off, 5);
	assert_int_equal(list_api(c), 1); /* only its own group */
	grp_check(c);
	grp_close(c);
	topic_manager_close(tm);
	tu_rmrf(dir);
}

static void test_grp_becoming_leader_loads_offsets(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	committed_before(dir);
	struct topic_manager *tm;
	struct topic_broker_config tc;
	topic_broker_config_defaults(&tc);
	snprintf(tc.log_dir, sizeof tc.log_dir, "%s", dir);
	assert_int_equal(topic_manager_open(&tc, NULL, &tm), KB_OK);
	struct fake_cluster f = {{2, 2, 2, 2, 2}, false, 0};
	join_cluster(tm, &f); /* before grp_open: chapter 15's order */
	set_leader(tm, "g", 2);
	set_leader(tm, "other", 2);
	struct grp_config cfg;
	grp_config_defaults(&cfg);
	cfg.offsets_partitions = 5;
	struct grp_coordinator *c;
	assert_int_equal(grp_open(tm, NULL, &cfg, &c), KB_OK);
	use_fake_clocks(c);
	assert_int_equal(c->ngroups, 0); /* leads nothing: loads nothing */
	set_leader(tm, "g", tc.node_id);
	grp_leadership_changed(c);
	grp_check(c);
	struct grp_group *g = grp_find(c, "g");
	assert_non_null(g);
	assert_int_equal(grp_offset_find(g, "t", 0)->offset, 42);
	assert_null(grp_find(c, "other"));
	int64_t off;
	assert_int_equal(fetch_api(c, "g", &off), KAFKA_ERR_NONE);
	assert_int_equal(off, 42);
	/* A commit while leading, then the leadership moves on: unloaded. */
	commit(c, g, 0, 43, "m");
	set_leader(tm, "g", 3);
	grp_leadership_changed(c);
	grp_check(c);
	assert_int_equal(c->ngroups, 0);
	assert_int_equal(fetch_api(c, "g", &off), KAFKA_ERR_NOT_COORDINATOR);
	/* ...and back: the log has the later commit. */
	set_leader(tm, "g", tc.node_id);
	assert_int_equal(fetch_api(c, "g", &off), KAFKA_ERR_NONE);
	assert_int_equal(off, 43);
	grp_close(c);
	topic_manager_close(tm);
	tu_rmrf(dir);
}

int main(void)
{
	tu_log_quiet(); /* a passing run prints no log lines */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grp_join_empty_to_completing),
		cmocka_unit_test(test_grp_initial_delay_holds_the_join),
		cmocka_unit_test(test_grp_sync_completing_to_stable),
		cmocka_unit_test(test_grp_follower_sync_waits_for_leader),
		cmocka_unit_test(test_grp_leave_stable_to_preparing),
		cmocka_unit_test(test_grp_last_member_leaves_to_empty),
		cmocka_unit_test(test_grp_session_expiry_rebalances),
		cmocka_unit_test(test_grp_session_deadline_is_monotonic),
		cmocka_unit_test(test_grp_waiting_member_is_not_expired),
		cmocka_unit_test(test_grp_last_member_leaves_during_initial_delay),
		cmocka_unit_test(test_grp_session_timer_runs_on_the_reactor),
		cmocka_unit_test(test_grp_rebalance_timeout_drops_laggards),
		cmocka_unit_test(test_grp_member_id_required_v4),
		cmocka_unit_test(test_grp_errors_clients_act_on),
		cmocka_unit_test(test_grp_select_protocol_common_by_vote),
		cmocka_unit_test(test_grp_static_member_returns_without_rebalance),
		cmocka_unit_test(test_grp_delete_only_empty),
		cmocka_unit_test(test_grp_partition_for_matches_java),
		cmocka_unit_test(test_grp_offsets_survive_reopen),
		cmocka_unit_test(test_grp_offsets_topic_pending_in_a_cluster),
		cmocka_unit_test(test_grp_group_record_restores_generation),
		cmocka_unit_test(test_grp_retention_expires_empty_groups),
		cmocka_unit_test(test_grp_find_coordinator_answers_partition_leader),
		cmocka_unit_test(test_grp_find_coordinator_v4_batched_keys),
		cmocka_unit_test(test_grp_apis_not_coordinator_when_led_elsewhere),
		cmocka_unit_test(test_grp_becoming_leader_loads_offsets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
