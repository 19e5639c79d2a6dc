/* SPDX-License-Identifier: MIT */
/*
 * Chapter 09 — groups, part 2: the group state machine.
 *
 * Concept:
 *   Consumers share a topic's partitions by forming a group. The broker
 *   picks a leader, hands it every subscription and passes its assignment
 *   back to each member; around that it runs a protocol: a generation that
 *   grows with each rebalance, a JoinGroup barrier, a SyncGroup barrier,
 *   and per-member session deadlines that notice a dead consumer.
 *
 * Kafka:
 *   The classic GroupCoordinator's handleJoinGroup, handleSyncGroup,
 *   handleHeartbeat, handleLeaveGroup and its DelayedJoin/DelayedHeartbeat
 *   timers; KIP-62, KIP-134, KIP-345 (static members), KIP-394.
 *
 * Interface:
 *   - grp_new/grp_free; grp_join, grp_sync, grp_heartbeat, grp_leave take
 *     a decoded request and read time from c->mono_ms and c->wall_ms.
 *   - Every deadline is a struct grp_timer in one heap; with a server the
 *     heap's earliest is armed as a net_at call of grp_run_timers, so a
 *     session ends at its deadline. Tests move a fake clock and call it.
 *   - Answers not ready at once are parked by 09_group_apis.c; the core
 *     sets join_ready/sync_ready and wakes the group (grp_notify).
 *   - Group records are written through c->store_group (grp_open sets it).
 *
 * Invariants (grp_check):
 *   1. A Stable or CompletingRebalance group has members, a protocol every
 *      member supports, and a leader who is one of them.
 *   2. An Empty group has no members and no leader; Dead groups are never
 *      in c->groups.
 *   3. Every member's session timer is armed; a member waiting in
 *      JoinGroup or SyncGroup is not expired when it fires (re-armed).
 *   4. A PreparingRebalance group's own timer is armed, by its deadline.
 *   5. The timer heap is ordered and each timer knows its index; the
 *      generation only grows (grp_complete_join is its one writer).
 *   6. In a cluster every group in c->groups belongs to a loaded
 *      __consumer_offsets partition (c->loaded; 09_offsets.c loads and
 *      unloads whole partitions).
 *
 * Simplifications:
 *   - group.max.size is not enforced; the initial delay is not extended as
 *     members keep arriving (KIP-134 extends it up to the rebalance timeout).
 *   - After a restart groups come back Empty, without members.
 *
 * See also: docs/09_groups.md, diagrams/09_groups.dot,
 *   tests/09_groups_test.c; read before: 09_members.c.
 *   Uses chapters 00 (base), 04 (codec), 05 (server), 06 (topics).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"
#include "09_groups.h"

static void grp_prepare_rebalance(struct grp_coordinator *c,
				  struct grp_group *g);
static void grp_maybe_complete_join(struct grp_coordinator *c,
				    struct grp_group *g);
static void grp_complete_join(struct grp_coordinator *c, struct grp_group *g);
static void grp_complete_sync(struct grp_coordinator *c, struct grp_group *g,
			      const struct grp_sync_req *q);
static void grp_remove_member(struct grp_coordinator *c, struct grp_group *g,
			      size_t i);
static void grp_set_state(struct grp_coordinator *c, struct grp_group *g,
			  enum grp_state s);
static void grp_notify(struct grp_coordinator *c, struct grp_group *g);
static void grp_store(struct grp_coordinator *c, const struct grp_group *g);
static int16_t join_new(struct grp_coordinator *c, struct grp_group *g,
			const struct grp_join_req *q, struct grp_member **member);
static int16_t join_pending(struct grp_coordinator *c, struct grp_group *g,
			    const struct grp_join_req *q, char *id);
static int16_t join_known(struct grp_coordinator *c, struct grp_group *g,
			  const struct grp_join_req *q,
			  struct grp_member **member);
static int16_t join_static_return(struct grp_coordinator *c,
				  struct grp_group *g, struct grp_member *m,
				  const struct grp_join_req *q);
static void join_wait(struct grp_coordinator *c, struct grp_group *g,
		      struct grp_member *m);
static void timer_fire(struct grp_coordinator *c, struct grp_timer *t);
static void group_rearm(struct grp_coordinator *c, struct grp_group *g);
static void member_touch(struct grp_coordinator *c, struct grp_member *m);
static void timer_arm(struct grp_coordinator *c, struct grp_timer *t,
		      int64_t at_ms);
static void timer_cancel(struct grp_coordinator *c, struct grp_timer *t);
static void heap_fix(struct grp_coordinator *c, size_t i);
static void heap_swap(struct grp_coordinator *c, size_t i, size_t k);
static void timers_changed(struct grp_coordinator *c);
static void on_net_timer(void *ctx, int64_t now_ms);
static void group_check(const struct grp_coordinator *c,
			const struct grp_group *g);
static void timer_check(const struct grp_coordinator *c,
			const struct grp_timer *t);
static void member_unlink(struct grp_coordinator *c, struct grp_group *g,
			  size_t i);
static bool pending_take(struct grp_coordinator *c, struct grp_group *g,
			 const char *id);
static void group_free(struct grp_coordinator *c, struct grp_group *g);

/* ======================================================================
 * ---- Lifecycle ----
 * ====================================================================== */

void grp_config_defaults(struct grp_config *cfg)
{
	cfg->initial_rebalance_delay_ms = GRP_DEFAULT_INITIAL_DELAY_MS;
	cfg->min_session_timeout_ms = GRP_DEFAULT_MIN_SESSION_MS;
	cfg->max_session_timeout_ms = GRP_DEFAULT_MAX_SESSION_MS;
	cfg->offsets_partitions = GRP_DEFAULT_OFFSETS_PARTITIONS;
	cfg->offsets_replication_factor = 3; /* KAFKA: its default */
	cfg->offsets_commit_timeout_ms = 5000; /* KAFKA: its default */
	cfg->offsets_segment_bytes = GRP_DEFAULT_OFFSETS_SEGMENT_BYTES;
	cfg->retention_minutes = GRP_DEFAULT_RETENTION_MINUTES;
	cfg->retention_check_ms = GRP_DEFAULT_RETENTION_CHECK_MS;
	cfg->metadata_max_bytes = GRP_DEFAULT_METADATA_MAX;
}

/* Deadlines on the monotonic clock, so a wall-clock jump neither expires
 * nor extends a session; the wall clock only stamps records. */
struct grp_coordinator *grp_new(const struct grp_config *cfg)
{
	struct grp_coordinator *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->cfg = *cfg;
	c->loaded = calloc((size_t)KB_MAX(cfg->offsets_partitions, 1),
			   sizeof *c->loaded);
	if (!c->loaded) {
		free(c);
		return NULL;
	}
	c->mono_ms = kb_mono_ms;
	c->wall_ms = kb_now_ms;
	c->armed_ms = INT64_MAX;
	return c;
}

/* ======================================================================
 * ---- Groups ----
 * ====================================================================== */

struct grp_group *grp_find(struct grp_coordinator *c, const char *group_id)
{
	for (size_t i = 0; i < c->ngroups; i++)
		if (strcmp(c->groups[i]->id, group_id) == 0)
			return c->groups[i];
	return NULL;
}

struct grp_group *grp_get_or_create(struct grp_coordinator *c,
				    const char *group_id)
{
	struct grp_group *g = grp_find(c, group_id);
	if (g)
		return g;
	struct grp_group **gs = realloc(c->groups,
					(c->ngroups + 1) * sizeof *gs);
	if (!gs)
		return NULL;
	c->groups = gs;
	g = calloc(1, sizeof *g);
	if (!g || !(g->id = strdup(group_id))) {
		free(g);
		return NULL;
	}
	g->state = GRP_EMPTY;
	g->state_ms = c->wall_ms();
	g->partition = grp_partition_for(group_id, c->cfg.offsets_partitions);
	g->deadline = (struct grp_timer){INT64_MAX, GRP_TIMER_OFF, g, NULL};
	c->groups[c->ngroups++] = g;
	return g;
}

void grp_remove_group(struct grp_coordinator *c, size_t i)
{
	struct grp_group *g = c->groups[i];
	g->state = GRP_DEAD;
	grp_notify(c, g); /* parked members answer UNKNOWN_MEMBER_ID */
	c->groups[i] = c->groups[--c->ngroups];
	group_free(c, g);
}

const char *grp_state_name(enum grp_state s)
{
	static const char *const names[] = {"Empty", "PreparingRebalance",
					    "CompletingRebalance", "Stable",
					    "Dead"};
	return (unsigned)s < KB_ARRAY_LEN(names) ? names[s] : "Unknown";
}

/* Java's String.hashCode walks UTF-16 code units: decode UTF-8 and split
 * code points above U+FFFF into surrogate pairs. */
int32_t grp_partition_for(const char *group_id, int32_t partitions)
{
	uint32_t h = 0;
	const uint8_t *p = (const uint8_t *)group_id;
	while (*p) {
		uint32_t cp = *p++;
		int extra = cp >= 0xf0 ? 3 : cp >= 0xe0 ? 2 : cp >= 0xc0 ? 1 : 0;
		cp &= extra ? 0x3fu >> extra : 0x7fu;
		for (; extra > 0 && (*p & 0xc0) == 0x80; extra--)
			cp = cp << 6 | (*p++ & 0x3fu);
		if (cp >= 0x10000) {
			cp -= 0x10000;
			h = 31 * h + (0xd800 + (cp >> 10));
			cp = 0xdc00 + (cp & 0x3ff);
		}
		h = 31 * h + cp;
	}
	int32_t s = (int32_t)h;
	/* KAFKA: Utils.abs: Integer.MIN_VALUE maps to 0. */
	int32_t a = s == INT32_MIN ? 0 : s < 0 ? -s : s;
	return a % partitions;
}

/* Every state change goes through here: the wall-clock state time (for
 * the group's record and offset retention), and the group's timer. */
static void grp_set_state(struct grp_coordinator *c, struct grp_group *g,
			  enum grp_state s)
{
	g->state = s;
	g->state_ms = c->wall_ms();
	group_rearm(c, g);
}

/* Wake the parked JoinGroup and SyncGroup requests of g. */
static void grp_notify(struct grp_coordinator *c, struct grp_group *g)
{
	if (c->srv)
		net_wake(c->srv, g);
}

/* Persist g's new generation, leader or assignment (09_offsets.c). */
static void grp_store(struct grp_coordinator *c, const struct grp_group *g)
{
	if (c->store_group)
		c->store_group(c, g);
}

/* ======================================================================
 * ---- The state machine ----
 * ====================================================================== */

/* Stable, CompletingRebalance or Empty -> PreparingRebalance. Members
 * waiting for a sync answer get REBALANCE_IN_PROGRESS and rejoin. */
static void grp_prepare_rebalance(struct grp_coordinator *c,
				  struct grp_group *g)
{
	int64_t now = c->mono_ms();
	int32_t timeout = 0;
	for (size_t i = 0; i < g->nmembers; i++) {
		struct grp_member *m = g->members[i];
		if (m->sync_waiting) {
			m->sync_waiting = false;
			m->sync_ready = true;
			m->sync_error = KAFKA_ERR_REBALANCE_IN_PROGRESS;
		}
		timeout = KB_MAX(timeout, m->rebalance_timeout_ms);
	}
	/* KAFKA: KIP-134: the first rebalance of an Empty group waits for
	 * more members to arrive. */
	bool initial = g->state == GRP_EMPTY;
	if (initial)
		timeout = KB_MIN(timeout, c->cfg.initial_rebalance_delay_ms);
	g->rebalance_deadline_ms = now + timeout;
	g->join_not_before_ms = initial ? g->rebalance_deadline_ms : now;
	grp_set_state(c, g, GRP_PREPARING_REBALANCE); /* INVARIANT 4 */
	grp_notify(c, g);
}

/* KAFKA: DelayedJoin.tryComplete: the join completes once every member
 * has rejoined (and the initial delay is over), at the deadline anyway,
 * and at once when nobody is left to wait for (prepareRebalance's check). */
static void grp_maybe_complete_join(struct grp_coordinator *c,
				    struct grp_group *g)
{
	if (g->state != GRP_PREPARING_REBALANCE)
		return;
	int64_t now = c->mono_ms();
	bool all = true;
	for (size_t i = 0; i < g->nmembers; i++)
		all = all && g->members[i]->join_waiting;
	if (g->nmembers == 0 || (all && now >= g->join_not_before_ms) ||
	    now >= g->rebalance_deadline_ms)
		grp_complete_join(c, g);
}

/* PreparingRebalance -> CompletingRebalance (or Empty with no member):
 * drop who did not rejoin, start the next generation, pick the protocol
 * and the leader, answer every waiting JoinGroup (INVARIANTS 1, 5). */
static void grp_complete_join(struct grp_coordinator *c, struct grp_group *g)
{
	for (size_t i = g->nmembers; i-- > 0;)
		if (!g->members[i]->join_waiting)
			member_unlink(c, g, i);
	g->generation++;
	if (g->nmembers == 0) {
		grp_str_set(&g->protocol, NULL);
		grp_str_set(&g->leader, NULL);
		grp_set_state(c, g, GRP_EMPTY); /* INVARIANT 2 */
		grp_store(c, g);
		return;
	}
	grp_str_set(&g->protocol, grp_select_protocol(g));
	if (!g->leader || !grp_member_find(g, g->leader))
		grp_str_set(&g->leader, g->members[0]->id);
	grp_set_state(c, g, GRP_COMPLETING_REBALANCE);
	for (size_t i = 0; i < g->nmembers; i++) {
		struct grp_member *m = g->members[i];
		m->join_waiting = false;
		m->join_ready = true;
		m->join_error = KAFKA_ERR_NONE;
		member_touch(c, m);
	}
	grp_notify(c, g);
}

/* CompletingRebalance -> Stable: the leader's assignment is given to
 * every member (an empty one to members it did not name). */
static void grp_complete_sync(struct grp_coordinator *c, struct grp_group *g,
			      const struct grp_sync_req *q)
{
	for (size_t i = 0; i < g->nmembers; i++)
		g->members[i]->assignment.len = 0;
	for (size_t k = 0; k < q->nassignments; k++) {
		const struct grp_assignment *a = &q->assignments[k];
		struct grp_member *m = grp_member_find(g, a->member_id);
		if (m && a->assignment.len > 0)
			kb_buf_append(&m->assignment, a->assignment.p,
				      (size_t)a->assignment.len);
	}
	grp_set_state(c, g, GRP_STABLE);
	for (size_t i = 0; i < g->nmembers; i++) {
		struct grp_member *m = g->members[i];
		if (m->sync_waiting) {
			m->sync_waiting = false;
			m->sync_ready = true;
			m->sync_error = KAFKA_ERR_NONE;
		}
	}
	grp_store(c, g);
	grp_notify(c, g);
}

/* Remove member i; the group rebalances without it. With nobody left the
 * rebalance completes at once: the group is Empty before the LeaveGroup
 * answer goes out (KAFKA: prepareRebalance finds everyone rejoined). */
static void grp_remove_member(struct grp_coordinator *c, struct grp_group *g,
			      size_t i)
{
	member_unlink(c, g, i);
	if (g->state == GRP_STABLE || g->state == GRP_COMPLETING_REBALANCE)
		grp_prepare_rebalance(c, g);
	grp_maybe_complete_join(c, g);
	grp_notify(c, g); /* its parked request answers UNKNOWN_MEMBER_ID */
}

/* The members a loaded record names replace those in memory; a heartbeat
 * from any of them goes on as before the coordinator moved (KAFKA:
 * loadGroup schedules each member's heartbeat expiration). */
int grp_restore(struct grp_coordinator *c, struct grp_group *g,
		const char *protocol, const char *leader,
		const struct grp_restored *ms, size_t n)
{
	while (g->nmembers > 0)
		member_unlink(c, g, g->nmembers - 1);
	for (size_t i = 0; i < n; i++) {
		const struct grp_restored *r = &ms[i];
		struct grp_protocol p = {(char *)(protocol ? protocol : ""),
					 {0}};
		p.meta = (struct kb_buf){(uint8_t *)r->subscription.p,
					 (size_t)KB_MAX(r->subscription.len, 0), 0};
		struct grp_join_req q = {g->id, r->id, r->instance_id,
			r->client_id, r->client_host, g->protocol_type,
			r->session_timeout_ms, r->rebalance_timeout_ms, &p, 1,
			false};
		struct grp_member *m = grp_member_new(g, &q, r->id);
		if (!m || (r->assignment.len > 0 &&
			   kb_buf_append(&m->assignment, r->assignment.p,
					 (size_t)r->assignment.len) != KB_OK))
			return KB_ERR_NOMEM;
		member_touch(c, m);
	}
	grp_str_set(&g->protocol, n ? protocol : NULL);
	grp_str_set(&g->leader, n ? leader : NULL);
	grp_set_state(c, g, n ? GRP_STABLE : GRP_EMPTY);
	return KB_OK;
}

/* ======================================================================
 * ---- JoinGroup ----
 * ====================================================================== */

/* KAFKA: GroupCoordinator.handleJoinGroup: the checks that need no
 * member, then a new member (empty id) or a known one. */
int16_t grp_join(struct grp_coordinator *c, const struct grp_join_req *q,
		 struct grp_group **group, struct grp_member **member)
{
	*member = NULL;
	*group = NULL;
	if (q->group_id[0] == '\0')
		return KAFKA_ERR_INVALID_GROUP_ID;
	if (q->session_timeout_ms < c->cfg.min_session_timeout_ms ||
	    q->session_timeout_ms > c->cfg.max_session_timeout_ms)
		return KAFKA_ERR_INVALID_SESSION_TIMEOUT;
	struct grp_group *g = grp_find(c, q->group_id);
	if (!g && q->member_id[0] != '\0')
		return KAFKA_ERR_UNKNOWN_MEMBER_ID;
	if (!g && !(g = grp_get_or_create(c, q->group_id)))
		return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
	*group = g;
	if (!grp_protocols_compatible(g, q))
		return KAFKA_ERR_INCONSISTENT_GROUP_PROTOCOL;
	int16_t err = q->member_id[0] == '\0' || pending_take(c, g, q->member_id) ?
			      join_new(c, g, q, member) :
			      join_known(c, g, q, member);
	group_check(c, g);
	return err;
}

/* A new member: KIP-345 static members take over their instance's place;
 * KIP-394 dynamic ones first get an id (MEMBER_ID_REQUIRED). */
static int16_t join_new(struct grp_coordinator *c, struct grp_group *g,
			const struct grp_join_req *q, struct grp_member **member)
{
	struct grp_member *old = q->instance_id ?
					 grp_member_by_instance(g, q->instance_id) :
					 NULL;
	char *id = q->member_id[0] ? strdup(q->member_id) :
				     grp_member_id_new(c, q->client_id);
	if (!id)
		return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
	if (old) {
		free(old->id);
		old->id = id;
		*member = old;
		return join_static_return(c, g, old, q);
	}
	if (q->require_member_id && !q->instance_id && !q->member_id[0])
		return join_pending(c, g, q, id);
	struct grp_member *m = grp_member_new(g, q, id);
	free(id);
	if (!m)
		return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
	member_touch(c, m); /* INVARIANT 3: its session timer from now */
	*member = m;
	join_wait(c, g, m);
	return KAFKA_ERR_NONE;
}

/* KIP-394: remember the id handed out for one session timeout; the
 * answer carries it (the last of g->pending). takes: id. */
static int16_t join_pending(struct grp_coordinator *c, struct grp_group *g,
			    const struct grp_join_req *q, char *id)
{
	struct grp_pending *p = realloc(g->pending,
					(g->npending + 1) * sizeof *p);
	if (!p) {
		free(id);
		return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
	}
	g->pending = p;
	p[g->npending++] = (struct grp_pending){
		id, c->mono_ms() + q->session_timeout_ms};
	group_rearm(c, g);
	return KAFKA_ERR_MEMBER_ID_REQUIRED;
}

/* KAFKA: updateStaticMemberAndRebalance: a static member that comes back
 * to a Stable group with the same protocols keeps its assignment and the
 * generation: nobody else rebalances. */
static int16_t join_static_return(struct grp_coordinator *c,
				  struct grp_group *g, struct grp_member *m,
				  const struct grp_join_req *q)
{
	m->session_timeout_ms = q->session_timeout_ms;
	member_touch(c, m);
	if (g->state == GRP_STABLE && grp_protocols_equal(m, q)) {
		if (g->leader && !grp_member_find(g, g->leader))
			grp_str_set(&g->leader, m->id);
		m->join_ready = true;
		m->join_error = KAFKA_ERR_NONE;
		grp_store(c, g);
		return KAFKA_ERR_NONE;
	}
	if (grp_member_set_protocols(m, q) != KB_OK)
		return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
	join_wait(c, g, m);
	return KAFKA_ERR_NONE;
}

/* A member rejoining: in PreparingRebalance it waits with the others; in
 * CompletingRebalance or Stable the same protocols get the current
 * generation back at once, anything else starts a rebalance. */
static int16_t join_known(struct grp_coordinator *c, struct grp_group *g,
			  const struct grp_join_req *q,
			  struct grp_member **member)
{
	struct grp_member *m;
	int16_t err = grp_member_check(g, q->member_id, q->instance_id, &m);
	if (err != KAFKA_ERR_NONE)
		return err;
	if (g->state == GRP_EMPTY || g->state == GRP_DEAD)
		return KAFKA_ERR_UNKNOWN_MEMBER_ID;
	*member = m;
	m->session_timeout_ms = q->session_timeout_ms;
	m->rebalance_timeout_ms = q->rebalance_timeout_ms;
	member_touch(c, m);
	bool same = grp_protocols_equal(m, q);
	bool is_leader = g->leader && strcmp(g->leader, m->id) == 0;
	if (same && (g->state == GRP_COMPLETING_REBALANCE ||
		     (g->state == GRP_STABLE && !is_leader))) {
		m->join_ready = true;
		m->join_error = KAFKA_ERR_NONE;
		return KAFKA_ERR_NONE;
	}
	if (grp_member_set_protocols(m, q) != KB_OK)
		return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
	join_wait(c, g, m);
	return KAFKA_ERR_NONE;
}

/* m waits in the JoinGroup barrier; the group rebalances if it was not. */
static void join_wait(struct grp_coordinator *c, struct grp_group *g,
		      struct grp_member *m)
{
	m->join_waiting = true;
	m->join_ready = false;
	if (g->state != GRP_PREPARING_REBALANCE)
		grp_prepare_rebalance(c, g);
	grp_maybe_complete_join(c, g);
}

/* ======================================================================
 * ---- SyncGroup, Heartbeat, LeaveGroup ----
 * ====================================================================== */

/* KAFKA: handleSyncGroup. Only the leader's assignments count. */
int16_t grp_sync(struct grp_coordinator *c, const struct grp_sync_req *q,
		 struct grp_member **member)
{
	struct grp_group *g = grp_find(c, q->who.group_id);
	struct grp_member *m;
	*member = NULL;
	if (!g)
		return KAFKA_ERR_UNKNOWN_MEMBER_ID;
	int16_t err = grp_member_check(g, q->who.member_id,
				       q->who.instance_id, &m);
	if (err != KAFKA_ERR_NONE)
		return err;
	if (q->who.generation != g->generation)
		return KAFKA_ERR_ILLEGAL_GENERATION;
	if (g->state == GRP_PREPARING_REBALANCE)
		return KAFKA_ERR_REBALANCE_IN_PROGRESS;
	*member = m;
	member_touch(c, m);
	if (g->state == GRP_STABLE) {
		m->sync_ready = true;
		m->sync_error = KAFKA_ERR_NONE;
		return KAFKA_ERR_NONE;
	}
	m->sync_waiting = true;
	m->sync_ready = false;
	if (strcmp(g->leader, m->id) == 0)
		grp_complete_sync(c, g, q);
	group_check(c, g);
	return KAFKA_ERR_NONE;
}

/* KAFKA: handleHeartbeat: a heartbeat keeps the session alive and tells
 * the member whether a rebalance has begun. */
int16_t grp_heartbeat(struct grp_coordinator *c,
		      const struct grp_member_ref *who)
{
	struct grp_group *g = grp_find(c, who->group_id);
	struct grp_member *m;
	if (!g || g->state == GRP_EMPTY)
		return KAFKA_ERR_UNKNOWN_MEMBER_ID;
	int16_t err = grp_member_check(g, who->member_id, who->instance_id, &m);
	if (err != KAFKA_ERR_NONE)
		return err;
	if (who->generation != g->generation)
		return KAFKA_ERR_ILLEGAL_GENERATION;
	member_touch(c, m);
	group_check(c, g);
	return g->state == GRP_PREPARING_REBALANCE ?
		       KAFKA_ERR_REBALANCE_IN_PROGRESS :
		       KAFKA_ERR_NONE;
}

/* KAFKA: removeMemberAndUpdateGroup: the others rebalance. */
int16_t grp_leave(struct grp_coordinator *c, const char *group_id,
		  const char *member_id, const char *instance_id)
{
	struct grp_group *g = grp_find(c, group_id);
	if (!g)
		return KAFKA_ERR_UNKNOWN_MEMBER_ID;
	struct grp_member *m = NULL;
	if (member_id[0] == '\0' && instance_id)
		m = grp_member_by_instance(g, instance_id);
	else if (grp_member_check(g, member_id, instance_id, &m) ==
		 KAFKA_ERR_FENCED_INSTANCE_ID)
		return KAFKA_ERR_FENCED_INSTANCE_ID;
	if (!m)
		return KAFKA_ERR_UNKNOWN_MEMBER_ID;
	for (size_t i = 0; i < g->nmembers; i++)
		if (g->members[i] == m) {
			grp_remove_member(c, g, i);
			break;
		}
	group_check(c, g);
	return KAFKA_ERR_NONE;
}

/* ======================================================================
 * ---- Deadlines ----
 * ====================================================================== */

/* Fire the due timers in deadline order; each is popped before it fires,
 * so a firing may arm or cancel any timer. */
void grp_run_timers(struct grp_coordinator *c)
{
	int64_t now = c->mono_ms();
	while (c->ntimers > 0 && c->timers[0]->at_ms <= now) {
		struct grp_timer *t = c->timers[0];
		timer_cancel(c, t);
		timer_fire(c, t);
	}
	timers_changed(c);
}

/* A session deadline expires its member unless it waits in a barrier
 * (INVARIANT 3: its request is its heartbeat); a group deadline ends the
 * rebalance that is due and drops pending ids that are. */
static void timer_fire(struct grp_coordinator *c, struct grp_timer *t)
{
	struct grp_group *g = t->g;
	struct grp_member *m = t->m;
	if (m && (m->join_waiting || m->sync_waiting)) {
		member_touch(c, m);
	} else if (m) {
		KB_INFO("group %s: member %s session expired", g->id, m->id);
		for (size_t i = 0; i < g->nmembers; i++)
			if (g->members[i] == m) {
				grp_remove_member(c, g, i);
				break;
			}
	} else {
		int64_t now = c->mono_ms();
		for (size_t i = g->npending; i-- > 0;)
			if (now >= g->pending[i].expires_ms)
				pending_take(c, g, g->pending[i].id);
		grp_maybe_complete_join(c, g);
		group_rearm(c, g);
	}
	group_check(c, g);
}

/* The group's own timer: its rebalance deadline while PreparingRebalance,
 * or the first pending member id to expire; none otherwise. */
static void group_rearm(struct grp_coordinator *c, struct grp_group *g)
{
	int64_t at = INT64_MAX;
	if (g->state == GRP_PREPARING_REBALANCE)
		at = g->rebalance_deadline_ms;
	for (size_t i = 0; i < g->npending; i++)
		at = KB_MIN(at, g->pending[i].expires_ms);
	if (at == INT64_MAX)
		timer_cancel(c, &g->deadline);
	else
		timer_arm(c, &g->deadline, at);
}

/* A sign of life from m: its session starts again now. */
static void member_touch(struct grp_coordinator *c, struct grp_member *m)
{
	timer_arm(c, &m->session, c->mono_ms() + m->session_timeout_ms);
}

/* Put t into the heap at at_ms (moving it if it is there). */
static void timer_arm(struct grp_coordinator *c, struct grp_timer *t,
		      int64_t at_ms)
{
	if (t->heap_idx == GRP_TIMER_OFF) {
		if (c->ntimers == c->timers_cap) {
			size_t cap = c->timers_cap ? c->timers_cap * 2 : 16;
			void *p = realloc(c->timers, cap * sizeof *c->timers);
			if (!p) {
				KB_ERROR("group coordinator: no memory for a timer");
				return;
			}
			c->timers = p;
			c->timers_cap = cap;
		}
		t->heap_idx = c->ntimers;
		c->timers[c->ntimers++] = t;
	}
	t->at_ms = at_ms;
	heap_fix(c, t->heap_idx);
	timers_changed(c);
}

/* Take t out of the heap (nothing if it is not armed). */
static void timer_cancel(struct grp_coordinator *c, struct grp_timer *t)
{
	size_t i = t->heap_idx;
	if (i == GRP_TIMER_OFF)
		return;
	heap_swap(c, i, --c->ntimers);
	t->heap_idx = GRP_TIMER_OFF;
	if (i < c->ntimers)
		heap_fix(c, i);
	timers_changed(c);
}

/* Restore heap order around i: up while earlier than its parent, else
 * down while later than a child. */
static void heap_fix(struct grp_coordinator *c, size_t i)
{
	while (i > 0 && c->timers[i]->at_ms < c->timers[(i - 1) / 2]->at_ms) {
		heap_swap(c, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < c->ntimers && c->timers[l]->at_ms < c->timers[m]->at_ms)
			m = l;
		if (r < c->ntimers && c->timers[r]->at_ms < c->timers[m]->at_ms)
			m = r;
		if (m == i)
			return;
		heap_swap(c, i, m);
		i = m;
	}
}

static void heap_swap(struct grp_coordinator *c, size_t i, size_t k)
{
	struct grp_timer *t = c->timers[i];
	c->timers[i] = c->timers[k];
	c->timers[k] = t;
	c->timers[i]->heap_idx = i;
	c->timers[k]->heap_idx = k;
}

/* Ask the reactor to call grp_run_timers at the earliest deadline. */
static void timers_changed(struct grp_coordinator *c)
{
	int64_t next = c->ntimers ? c->timers[0]->at_ms : INT64_MAX;
	struct net_callback cb = {on_net_timer, c};
	if (!c->srv || next == c->armed_ms)
		return;
	if (net_at(c->srv, next, cb) == KB_OK)
		c->armed_ms = next;
}

/* The reactor's net_at call: its one-shot is spent, so forget it. */
static void on_net_timer(void *ctx, int64_t now_ms)
{
	struct grp_coordinator *c = ctx;
	(void)now_ms; /* the same clock as c->mono_ms */
	c->armed_ms = INT64_MAX;
	grp_run_timers(c);
}

/* ======================================================================
 * ---- Invariants ----
 * ====================================================================== */

/* INVARIANTS 1-6 over every group and the whole heap, and one offset per
 * partition. Tests call it after each step; the core checks the group it
 * changed (group_check), which costs the group's members, not the whole
 * coordinator. */
void grp_check(const struct grp_coordinator *c)
{
	for (size_t i = 0; i < c->ngroups; i++) {
		const struct grp_group *g = c->groups[i];
		group_check(c, g);
		assert(!c->tm || !topic_cluster_get(c->tm) || /* 6 */
		       c->loaded[g->partition]);
		for (size_t k = 0; k < g->noffsets; k++) /* one per partition */
			for (size_t j = 0; j < k; j++)
				assert(g->offsets[j].partition !=
					       g->offsets[k].partition ||
				       strcmp(g->offsets[j].topic,
					      g->offsets[k].topic));
	}
	for (size_t i = 0; i < c->ntimers; i++) {
		assert(c->timers[i]->heap_idx == i);
		assert(i == 0 ||
		       c->timers[(i - 1) / 2]->at_ms <= c->timers[i]->at_ms);
	}
}

static void group_check(const struct grp_coordinator *c,
			const struct grp_group *g)
{
	assert(g->state != GRP_DEAD && g->generation >= 0); /* 2, 5 */
	if (g->state == GRP_EMPTY)                          /* 2 */
		assert(g->nmembers == 0 && !g->leader);
	if (g->state == GRP_STABLE || g->state == GRP_COMPLETING_REBALANCE) {
		assert(g->nmembers > 0 && g->leader && g->protocol); /* 1 */
		assert(grp_member_find((struct grp_group *)g, g->leader));
		assert(grp_member_supports_all(g, g->protocol));
	}
	if (g->state == GRP_PREPARING_REBALANCE) {         /* 4 */
		timer_check(c, &g->deadline);
		assert(g->deadline.at_ms <= g->rebalance_deadline_ms);
	}
	for (size_t i = 0; i < g->nmembers; i++)            /* 3 */
		timer_check(c, &g->members[i]->session);
}

/* INVARIANT 5 for one timer: armed where the heap says it is. */
static void timer_check(const struct grp_coordinator *c,
			const struct grp_timer *t)
{
	assert(t->heap_idx < c->ntimers && c->timers[t->heap_idx] == t);
}

/* ======================================================================
 * ---- Members ----
 * ====================================================================== */

/* Take member i out of g, cancel its session and free it. */
static void member_unlink(struct grp_coordinator *c, struct grp_group *g,
			  size_t i)
{
	timer_cancel(c, &g->members[i]->session);
	grp_member_free(g->members[i]);
	memmove(&g->members[i], &g->members[i + 1],
		(g->nmembers - i - 1) * sizeof *g->members);
	g->nmembers--;
}

/* Remove id from g's pending member ids; true if it was there. */
static bool pending_take(struct grp_coordinator *c, struct grp_group *g,
			 const char *id)
{
	for (size_t i = 0; i < g->npending; i++) {
		if (strcmp(g->pending[i].id, id) != 0)
			continue;
		free(g->pending[i].id);
		g->pending[i] = g->pending[--g->npending];
		group_rearm(c, g);
		return true;
	}
	return false;
}

/* ======================================================================
 * ---- Teardown ----
 * ====================================================================== */

/* g is already out of c->groups; its timers leave the heap with it. */
static void group_free(struct grp_coordinator *c, struct grp_group *g)
{
	timer_cancel(c, &g->deadline);
	for (size_t k = 0; k < g->nmembers; k++) {
		timer_cancel(c, &g->members[k]->session);
		grp_member_free(g->members[k]);
	}
	for (size_t k = 0; k < g->npending; k++)
		free(g->pending[k].id);
	for (size_t k = 0; k < g->noffsets; k++) {
		free(g->offsets[k].topic);
		free(g->offsets[k].metadata);
	}
	free(g->offsets);
	free(g->members);
	free(g->pending);
	free(g->protocol_type);
	free(g->protocol);
	free(g->leader);
	free(g->id);
	free(g);
}

void grp_free(struct grp_coordinator *c)
{
	if (!c)
		return;
	c->srv = NULL; /* freed already: nothing is parked, no timer runs */
	while (c->ngroups > 0)
		grp_remove_group(c, c->ngroups - 1);
	free(c->timers);
	free(c->groups);
	free(c->loaded);
	free(c);
}
