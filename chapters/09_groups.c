/* SPDX-License-Identifier: MIT */
/*
 * Chapter 09 — groups, part 1: the group state machine.
 *
 * Concept:
 *   Several consumers share the partitions of a topic by forming a group.
 *   The broker does not decide who reads what: it picks one member as
 *   leader, hands it everyone's subscription, and passes the leader's
 *   assignment back to each member. The broker's part is the protocol
 *   around that: a generation number that grows with each rebalance, a
 *   barrier where every member must rejoin (JoinGroup parks until all have
 *   or time is up), a second barrier where members wait for the leader's
 *   plan (SyncGroup parks), and heartbeats that tell a member a new
 *   rebalance has begun, or tell the broker a member has died.
 *
 * Kafka:
 *   The classic GroupCoordinator (KIP-62 rebalance timeouts, KIP-134
 *   group.initial.rebalance.delay.ms, KIP-394 MEMBER_ID_REQUIRED, KIP-345
 *   static membership): what its handleJoinGroup, handleSyncGroup,
 *   handleHeartbeat and handleLeaveGroup do with a decoded request. The
 *   wire side of FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
 *   LeaveGroup, ListGroups, DescribeGroups and DeleteGroups is in
 *   09_group_apis.c.
 *
 * Interface:
 *   - The grp_* core functions take now_ms and never read a clock; the
 *     handlers pass kb_now_ms() and the GRP_TICK_MS timer calls grp_tick.
 *   - grp_open and grp_close (09_group_apis.c) make and free the
 *     coordinator; with a server they also register its APIs and timer.
 *     Nothing here needs a server: c->srv NULL only skips the wakeups.
 *   - A JoinGroup or SyncGroup whose answer is not ready is parked by its
 *     handler (09_group_apis.c) and watches its group; the core sets
 *     join_ready or sync_ready on the member and wakes the group
 *     (grp_notify).
 *
 * Invariants:
 *   1. Every member of a Stable or CompletingRebalance group joined the
 *      current generation; the leader is one of them.
 *   2. A generation is answered once per member: join_ready is set for
 *      exactly the members that joined it.
 *   3. A member waiting in JoinGroup or SyncGroup is never expired by its
 *      session timeout (its request is its heartbeat).
 *   4. The selected protocol is one every member supports.
 *
 * Simplifications:
 *   - group.max.size is not enforced; a rebalance's initial delay is not
 *     extended as members keep arriving.
 *   - After a restart groups come back Empty with their generation and
 *     offsets, without members: members rejoin.
 *
 * See also: docs/09_groups.md, diagrams/09_groups.dot,
 *   tests/09_groups_test.c, tests/clients/test_groups.py, 09_group_apis.c,
 *   09_offsets.c; chapters 00, 04, 05, 06.
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

/* The longest member id we build: client id, '-', a counter. */
#define MEMBER_ID_MAX (WIRE_STRING_MAX + 24)

static void grp_prepare_rebalance(struct grp_coordinator *c,
				  struct grp_group *g, int64_t now_ms);
static void grp_complete_join(struct grp_coordinator *c, struct grp_group *g,
			      int64_t now_ms);
static void grp_complete_sync(struct grp_coordinator *c, struct grp_group *g,
			      const struct grp_assignment *a, size_t na,
			      int64_t now_ms);
static void grp_maybe_complete_join(struct grp_coordinator *c,
				    struct grp_group *g, int64_t now_ms);
static void grp_remove_member(struct grp_coordinator *c, struct grp_group *g,
			      size_t i, int64_t now_ms);
static void grp_set_state(struct grp_group *g, enum grp_state s,
			  int64_t now_ms);
static void grp_notify(struct grp_coordinator *c, struct grp_group *g);
static const char *grp_select_protocol(const struct grp_group *g);
static bool member_supports(const struct grp_member *m, const char *name);
static bool member_supports_all(const struct grp_group *g, const char *name);
static bool protocols_compatible(const struct grp_group *g,
				 const struct grp_join_req *q);
static bool protocols_equal(const struct grp_member *m,
			    const struct grp_join_req *q);
static int16_t join_new(struct grp_coordinator *c, struct grp_group *g,
			const struct grp_join_req *q, int64_t now_ms,
			struct grp_member **member);
static int16_t join_known(struct grp_coordinator *c, struct grp_group *g,
			  const struct grp_join_req *q, int64_t now_ms,
			  struct grp_member **member);
static int16_t join_static_return(struct grp_coordinator *c,
				  struct grp_group *g, struct grp_member *m,
				  const struct grp_join_req *q,
				  int64_t now_ms);
static struct grp_member *member_new(struct grp_coordinator *c,
				     struct grp_group *g,
				     const struct grp_join_req *q,
				     const char *id, int64_t now_ms);
static int member_set_protocols(struct grp_member *m,
				const struct grp_join_req *q);
static void member_free(struct grp_member *m);
static void member_unlink(struct grp_group *g, size_t i);
static struct grp_member *member_by_instance(struct grp_group *g,
					     const char *instance_id);
static int16_t member_check(struct grp_group *g, const char *member_id,
			    const char *instance_id, struct grp_member **out);
static char *new_member_id(struct grp_coordinator *c, const char *client_id);
static bool pending_take(struct grp_group *g, const char *id);
static int16_t group_error_for_unknown(const struct grp_group *g);
static char *str_dup(const char *s);
static void str_set(char **dst, const char *s);

/* ======================================================================
 * ---- Configuration ----
 * ====================================================================== */

void grp_config_defaults(struct grp_config *cfg)
{
	cfg->initial_rebalance_delay_ms = GRP_DEFAULT_INITIAL_DELAY_MS;
	cfg->min_session_timeout_ms = GRP_DEFAULT_MIN_SESSION_MS;
	cfg->max_session_timeout_ms = GRP_DEFAULT_MAX_SESSION_MS;
	cfg->offsets_partitions = GRP_DEFAULT_OFFSETS_PARTITIONS;
	cfg->offsets_segment_bytes = GRP_DEFAULT_OFFSETS_SEGMENT_BYTES;
	cfg->retention_minutes = GRP_DEFAULT_RETENTION_MINUTES;
	cfg->retention_check_ms = GRP_DEFAULT_RETENTION_CHECK_MS;
	cfg->metadata_max_bytes = GRP_DEFAULT_METADATA_MAX;
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
				    const char *group_id, int64_t now_ms)
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
	if (!g || !(g->id = str_dup(group_id))) {
		free(g);
		return NULL;
	}
	g->state = GRP_EMPTY;
	g->state_ms = now_ms;
	g->partition = grp_partition_for(group_id, c->cfg.offsets_partitions);
	c->groups[c->ngroups++] = g;
	return g;
}

void grp_remove_group(struct grp_coordinator *c, size_t i)
{
	struct grp_group *g = c->groups[i];
	g->state = GRP_DEAD;
	grp_notify(c, g); /* parked members answer UNKNOWN_MEMBER_ID */
	for (size_t k = 0; k < g->nmembers; k++)
		member_free(g->members[k]);
	for (size_t k = 0; k < g->npending; k++)
		free(g->pending[k].id);
	grp_offsets_free(g);
	free(g->members);
	free(g->pending);
	free(g->protocol_type);
	free(g->protocol);
	free(g->leader);
	free(g->id);
	free(g);
	c->groups[i] = c->groups[--c->ngroups];
}

int16_t grp_delete(struct grp_coordinator *c, const char *group_id)
{
	for (size_t i = 0; i < c->ngroups; i++) {
		struct grp_group *g = c->groups[i];
		if (strcmp(g->id, group_id) != 0)
			continue;
		if (g->state != GRP_EMPTY)
			return KAFKA_ERR_NON_EMPTY_GROUP;
		while (g->noffsets > 0) /* KAFKA: a tombstone per offset */
			grp_offset_remove(c, g, g->noffsets - 1);
		g->state = GRP_DEAD;
		grp_store_group(c, g); /* the group's tombstone */
		grp_remove_group(c, i);
		return KAFKA_ERR_NONE;
	}
	return KAFKA_ERR_GROUP_ID_NOT_FOUND;
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

static void grp_set_state(struct grp_group *g, enum grp_state s,
			  int64_t now_ms)
{
	g->state = s;
	g->state_ms = now_ms;
}

/* Wake the parked JoinGroup and SyncGroup requests of g. */
static void grp_notify(struct grp_coordinator *c, struct grp_group *g)
{
	if (c->srv)
		net_wake(c->srv, g);
}

/* ======================================================================
 * ---- The state machine ----
 * ====================================================================== */

/* Stable, CompletingRebalance or Empty -> PreparingRebalance. Members
 * waiting for a sync answer get REBALANCE_IN_PROGRESS and rejoin. */
static void grp_prepare_rebalance(struct grp_coordinator *c,
				  struct grp_group *g, int64_t now_ms)
{
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
	grp_set_state(g, GRP_PREPARING_REBALANCE, now_ms);
	g->rebalance_deadline_ms = now_ms + timeout;
	g->join_not_before_ms = initial ? g->rebalance_deadline_ms : now_ms;
	grp_notify(c, g);
}

/* Complete the join once every member has rejoined (and the initial
 * delay is over). */
static void grp_maybe_complete_join(struct grp_coordinator *c,
				    struct grp_group *g, int64_t now_ms)
{
	if (g->state != GRP_PREPARING_REBALANCE)
		return;
	bool all = true;
	for (size_t i = 0; i < g->nmembers; i++)
		all = all && g->members[i]->join_waiting;
	if ((all && now_ms >= g->join_not_before_ms) ||
	    now_ms >= g->rebalance_deadline_ms)
		grp_complete_join(c, g, now_ms);
}

/* PreparingRebalance -> CompletingRebalance (or Empty with no member):
 * drop who did not rejoin, start the next generation, pick the protocol
 * and the leader, answer every waiting JoinGroup (INVARIANTS 1, 2). */
static void grp_complete_join(struct grp_coordinator *c, struct grp_group *g,
			      int64_t now_ms)
{
	for (size_t i = g->nmembers; i-- > 0;)
		if (!g->members[i]->join_waiting)
			member_unlink(g, i);
	g->generation++;
	if (g->nmembers == 0) {
		str_set(&g->protocol, NULL);
		str_set(&g->leader, NULL);
		grp_set_state(g, GRP_EMPTY, now_ms);
		grp_store_group(c, g);
		return;
	}
	str_set(&g->protocol, grp_select_protocol(g));
	if (!g->leader || !grp_member_find(g, g->leader))
		str_set(&g->leader, g->members[0]->id);
	grp_set_state(g, GRP_COMPLETING_REBALANCE, now_ms);
	for (size_t i = 0; i < g->nmembers; i++) {
		struct grp_member *m = g->members[i];
		m->join_waiting = false;
		m->join_ready = true;
		m->join_error = KAFKA_ERR_NONE;
		m->last_heartbeat_ms = now_ms;
	}
	grp_notify(c, g);
}

/* CompletingRebalance -> Stable: the leader's assignment is given to
 * every member (an empty one to members it did not name). */
static void grp_complete_sync(struct grp_coordinator *c, struct grp_group *g,
			      const struct grp_assignment *a, size_t na,
			      int64_t now_ms)
{
	for (size_t i = 0; i < g->nmembers; i++)
		g->members[i]->assignment.len = 0;
	for (size_t k = 0; k < na; k++) {
		struct grp_member *m = grp_member_find(g, a[k].member_id);
		if (m && a[k].assignment.len > 0)
			kb_buf_append(&m->assignment, a[k].assignment.p,
				      (size_t)a[k].assignment.len);
	}
	grp_set_state(g, GRP_STABLE, now_ms);
	for (size_t i = 0; i < g->nmembers; i++) {
		struct grp_member *m = g->members[i];
		if (m->sync_waiting) {
			m->sync_waiting = false;
			m->sync_ready = true;
			m->sync_error = KAFKA_ERR_NONE;
		}
	}
	grp_store_group(c, g);
	grp_notify(c, g);
}

/* KAFKA: selectProtocol: the protocols every member supports; each member
 * votes for the first of them in its own order; most votes wins, ties go
 * to the candidate listed first by the first member (INVARIANT 4). */
static const char *grp_select_protocol(const struct grp_group *g)
{
	const struct grp_member *first = g->members[0];
	const char *best = NULL;
	size_t best_votes = 0;
	for (size_t p = 0; p < first->nprotocols; p++) {
		const char *cand = first->protocols[p].name;
		size_t votes = 0;
		bool common = true;
		for (size_t i = 0; i < g->nmembers && common; i++)
			common = member_supports(g->members[i], cand);
		for (size_t i = 0; common && i < g->nmembers; i++) {
			const struct grp_member *m = g->members[i];
			for (size_t q = 0; q < m->nprotocols; q++) {
				if (!member_supports_all(g, m->protocols[q].name))
					continue;
				votes += strcmp(m->protocols[q].name, cand) == 0;
				break;
			}
		}
		if (common && votes > best_votes) {
			best = cand;
			best_votes = votes;
		}
	}
	return best;
}

/* Take member i out of g and free it; no state change. */
static void member_unlink(struct grp_group *g, size_t i)
{
	member_free(g->members[i]);
	memmove(&g->members[i], &g->members[i + 1],
		(g->nmembers - i - 1) * sizeof *g->members);
	g->nmembers--;
}

static bool member_supports(const struct grp_member *m, const char *name)
{
	for (size_t i = 0; i < m->nprotocols; i++)
		if (strcmp(m->protocols[i].name, name) == 0)
			return true;
	return false;
}

static bool member_supports_all(const struct grp_group *g, const char *name)
{
	for (size_t i = 0; i < g->nmembers; i++)
		if (!member_supports(g->members[i], name))
			return false;
	return true;
}

/* ======================================================================
 * ---- JoinGroup ----
 * ====================================================================== */

/* KAFKA: GroupCoordinator.handleJoinGroup: the checks that need no
 * member, then a new member (empty id) or a known one. */
int16_t grp_join(struct grp_coordinator *c, const struct grp_join_req *q,
		 int64_t now_ms, struct grp_group **group,
		 struct grp_member **member)
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
	if (!g && !(g = grp_get_or_create(c, q->group_id, now_ms)))
		return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
	*group = g;
	if (!protocols_compatible(g, q))
		return KAFKA_ERR_INCONSISTENT_GROUP_PROTOCOL;
	if (q->member_id[0] == '\0' || pending_take(g, q->member_id))
		return join_new(c, g, q, now_ms, member);
	return join_known(c, g, q, now_ms, member);
}

/* A new member: KIP-345 static members take over their instance's place;
 * KIP-394 dynamic ones first get an id (MEMBER_ID_REQUIRED). */
static int16_t join_new(struct grp_coordinator *c, struct grp_group *g,
			const struct grp_join_req *q, int64_t now_ms,
			struct grp_member **member)
{
	struct grp_member *old = q->instance_id ?
					 member_by_instance(g, q->instance_id) :
					 NULL;
	char *id = q->member_id[0] ? str_dup(q->member_id) :
				     new_member_id(c, q->client_id);
	if (!id)
		return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
	if (old) {
		free(old->id);
		old->id = id;
		*member = old;
		return join_static_return(c, g, old, q, now_ms);
	}
	if (q->require_member_id && !q->instance_id && !q->member_id[0]) {
		struct grp_pending *p = realloc(g->pending,
						(g->npending + 1) * sizeof *p);
		if (!p) {
			free(id);
			return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
		}
		g->pending = p;
		p[g->npending++] = (struct grp_pending){
			id, now_ms + q->session_timeout_ms};
		*member = NULL;
		return KAFKA_ERR_MEMBER_ID_REQUIRED;
	}
	struct grp_member *m = member_new(c, g, q, id, now_ms);
	free(id);
	if (!m)
		return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
	*member = m;
	if (g->state != GRP_PREPARING_REBALANCE)
		grp_prepare_rebalance(c, g, now_ms);
	grp_maybe_complete_join(c, g, now_ms);
	return KAFKA_ERR_NONE;
}

/* KAFKA: updateStaticMemberAndRebalance: a static member that comes back
 * to a Stable group with the same protocols keeps its assignment and the
 * generation: nobody else rebalances. */
static int16_t join_static_return(struct grp_coordinator *c,
				  struct grp_group *g, struct grp_member *m,
				  const struct grp_join_req *q,
				  int64_t now_ms)
{
	m->last_heartbeat_ms = now_ms;
	m->session_timeout_ms = q->session_timeout_ms;
	if (g->state == GRP_STABLE && protocols_equal(m, q)) {
		if (g->leader && !grp_member_find(g, g->leader))
			str_set(&g->leader, m->id);
		m->join_ready = true;
		m->join_error = KAFKA_ERR_NONE;
		grp_store_group(c, g);
		return KAFKA_ERR_NONE;
	}
	if (member_set_protocols(m, q) != KB_OK)
		return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
	m->join_waiting = true;
	if (g->state != GRP_PREPARING_REBALANCE)
		grp_prepare_rebalance(c, g, now_ms);
	grp_maybe_complete_join(c, g, now_ms);
	return KAFKA_ERR_NONE;
}

/* A member rejoining: in PreparingRebalance it waits with the others; in
 * CompletingRebalance or Stable the same protocols get the current
 * generation back at once, anything else starts a rebalance. */
static int16_t join_known(struct grp_coordinator *c, struct grp_group *g,
			  const struct grp_join_req *q, int64_t now_ms,
			  struct grp_member **member)
{
	struct grp_member *m;
	int16_t err = member_check(g, q->member_id, q->instance_id, &m);
	if (err != KAFKA_ERR_NONE)
		return err;
	if (g->state == GRP_EMPTY || g->state == GRP_DEAD)
		return KAFKA_ERR_UNKNOWN_MEMBER_ID;
	*member = m;
	m->last_heartbeat_ms = now_ms;
	m->session_timeout_ms = q->session_timeout_ms;
	m->rebalance_timeout_ms = q->rebalance_timeout_ms;
	bool same = protocols_equal(m, q);
	bool is_leader = g->leader && strcmp(g->leader, m->id) == 0;
	if (same && (g->state == GRP_COMPLETING_REBALANCE ||
		     (g->state == GRP_STABLE && !is_leader))) {
		m->join_ready = true;
		m->join_error = KAFKA_ERR_NONE;
		return KAFKA_ERR_NONE;
	}
	if (member_set_protocols(m, q) != KB_OK)
		return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
	m->join_waiting = true;
	m->join_ready = false;
	if (g->state != GRP_PREPARING_REBALANCE)
		grp_prepare_rebalance(c, g, now_ms);
	grp_maybe_complete_join(c, g, now_ms);
	return KAFKA_ERR_NONE;
}

/* KAFKA: a non-empty group accepts only its protocol type and members
 * that share at least one protocol with everyone. */
static bool protocols_compatible(const struct grp_group *g,
				 const struct grp_join_req *q)
{
	if (q->protocol_type[0] == '\0' || q->nprotocols == 0)
		return false;
	if (g->nmembers == 0)
		return true;
	if (g->protocol_type && strcmp(g->protocol_type, q->protocol_type))
		return false;
	for (size_t p = 0; p < q->nprotocols; p++)
		if (member_supports_all(g, q->protocols[p].name))
			return true;
	return false;
}

static bool protocols_equal(const struct grp_member *m,
			    const struct grp_join_req *q)
{
	if (m->nprotocols != q->nprotocols)
		return false;
	for (size_t i = 0; i < q->nprotocols; i++) {
		const struct grp_protocol *a = &m->protocols[i];
		const struct grp_protocol *b = &q->protocols[i];
		if (strcmp(a->name, b->name) || a->meta.len != b->meta.len ||
		    (a->meta.len && memcmp(a->meta.data, b->meta.data,
					   a->meta.len)))
			return false;
	}
	return true;
}

/* ======================================================================
 * ---- SyncGroup, Heartbeat, LeaveGroup ----
 * ====================================================================== */

/* KAFKA: handleSyncGroup. Only the leader's assignments count. */
int16_t grp_sync(struct grp_coordinator *c, const char *group_id,
		 int32_t generation, const char *member_id,
		 const char *instance_id, const struct grp_assignment *a,
		 size_t na, int64_t now_ms, struct grp_member **member)
{
	struct grp_group *g = grp_find(c, group_id);
	struct grp_member *m;
	*member = NULL;
	if (!g)
		return KAFKA_ERR_UNKNOWN_MEMBER_ID;
	int16_t err = member_check(g, member_id, instance_id, &m);
	if (err != KAFKA_ERR_NONE)
		return err;
	if (generation != g->generation)
		return KAFKA_ERR_ILLEGAL_GENERATION;
	if (g->state == GRP_PREPARING_REBALANCE)
		return KAFKA_ERR_REBALANCE_IN_PROGRESS;
	*member = m;
	m->last_heartbeat_ms = now_ms;
	if (g->state == GRP_STABLE) {
		m->sync_ready = true;
		m->sync_error = KAFKA_ERR_NONE;
		return KAFKA_ERR_NONE;
	}
	m->sync_waiting = true;
	m->sync_ready = false;
	if (strcmp(g->leader, m->id) == 0)
		grp_complete_sync(c, g, a, na, now_ms);
	return KAFKA_ERR_NONE;
}

/* KAFKA: handleHeartbeat: a heartbeat keeps the session alive and tells
 * the member whether a rebalance has begun. */
int16_t grp_heartbeat(struct grp_coordinator *c, const char *group_id,
		      int32_t generation, const char *member_id,
		      const char *instance_id, int64_t now_ms)
{
	struct grp_group *g = grp_find(c, group_id);
	struct grp_member *m;
	if (!g || g->state == GRP_EMPTY)
		return KAFKA_ERR_UNKNOWN_MEMBER_ID;
	int16_t err = member_check(g, member_id, instance_id, &m);
	if (err != KAFKA_ERR_NONE)
		return err;
	if (generation != g->generation)
		return KAFKA_ERR_ILLEGAL_GENERATION;
	m->last_heartbeat_ms = now_ms;
	return g->state == GRP_PREPARING_REBALANCE ?
		       KAFKA_ERR_REBALANCE_IN_PROGRESS :
		       KAFKA_ERR_NONE;
}

/* KAFKA: removeMemberAndUpdateGroup: the others rebalance. */
int16_t grp_leave(struct grp_coordinator *c, const char *group_id,
		  const char *member_id, const char *instance_id,
		  int64_t now_ms)
{
	struct grp_group *g = grp_find(c, group_id);
	if (!g)
		return KAFKA_ERR_UNKNOWN_MEMBER_ID;
	struct grp_member *m = NULL;
	if (member_id[0] == '\0' && instance_id)
		m = member_by_instance(g, instance_id);
	else if (member_check(g, member_id, instance_id, &m) ==
		 KAFKA_ERR_FENCED_INSTANCE_ID)
		return KAFKA_ERR_FENCED_INSTANCE_ID;
	if (!m)
		return KAFKA_ERR_UNKNOWN_MEMBER_ID;
	for (size_t i = 0; i < g->nmembers; i++)
		if (g->members[i] == m)
			grp_remove_member(c, g, i, now_ms);
	return KAFKA_ERR_NONE;
}

/* Remove member i; the group rebalances without it (or, mid-join, may now
 * have everyone it waits for). */
static void grp_remove_member(struct grp_coordinator *c, struct grp_group *g,
			      size_t i, int64_t now_ms)
{
	member_unlink(g, i);
	if (g->state == GRP_STABLE || g->state == GRP_COMPLETING_REBALANCE)
		grp_prepare_rebalance(c, g, now_ms);
	else if (g->state == GRP_PREPARING_REBALANCE)
		grp_maybe_complete_join(c, g, now_ms);
	grp_notify(c, g); /* its parked request answers UNKNOWN_MEMBER_ID */
}

/* ======================================================================
 * ---- Time ----
 * ====================================================================== */

/* Sessions first (INVARIANT 3), then rebalances that are due. */
void grp_tick(struct grp_coordinator *c, int64_t now_ms)
{
	for (size_t k = 0; k < c->ngroups; k++) {
		struct grp_group *g = c->groups[k];
		for (size_t i = g->nmembers; i-- > 0;) {
			if (i >= g->nmembers) /* a removal rebalanced others away */
				continue;
			struct grp_member *m = g->members[i];
			if (!m->join_waiting &&
			    !m->sync_waiting &&
			    now_ms - m->last_heartbeat_ms > m->session_timeout_ms) {
				KB_INFO("group %s: member %s session expired",
					g->id, m->id);
				grp_remove_member(c, g, i, now_ms);
			}
		}
		for (size_t i = g->npending; i-- > 0;)
			if (now_ms >= g->pending[i].expires_ms)
				pending_take(g, g->pending[i].id);
		grp_maybe_complete_join(c, g, now_ms);
	}
	if (c->next_retention_ms == 0) /* the first check: one period in */
		c->next_retention_ms = now_ms + c->cfg.retention_check_ms;
	if (now_ms >= c->next_retention_ms) {
		grp_expire_offsets(c, now_ms);
		c->next_retention_ms = now_ms + c->cfg.retention_check_ms;
	}
}

/* ======================================================================
 * ---- Members ----
 * ====================================================================== */

struct grp_member *grp_member_find(struct grp_group *g, const char *id)
{
	for (size_t i = 0; i < g->nmembers; i++)
		if (strcmp(g->members[i]->id, id) == 0)
			return g->members[i];
	return NULL;
}

static struct grp_member *member_by_instance(struct grp_group *g,
					     const char *instance_id)
{
	for (size_t i = 0; i < g->nmembers; i++) {
		const char *s = g->members[i]->instance_id;
		if (s && strcmp(s, instance_id) == 0)
			return g->members[i];
	}
	return NULL;
}

/* KAFKA: validateCurrentMember: a static member must present the member
 * id its instance holds now, else it is an older copy: fenced. */
static int16_t member_check(struct grp_group *g, const char *member_id,
			    const char *instance_id, struct grp_member **out)
{
	*out = NULL;
	if (instance_id) {
		struct grp_member *m = member_by_instance(g, instance_id);
		if (m && strcmp(m->id, member_id) != 0)
			return KAFKA_ERR_FENCED_INSTANCE_ID;
	}
	struct grp_member *m = grp_member_find(g, member_id);
	if (!m)
		return group_error_for_unknown(g);
	*out = m;
	return KAFKA_ERR_NONE;
}

static int16_t group_error_for_unknown(const struct grp_group *g)
{
	return g->state == GRP_DEAD ? KAFKA_ERR_COORDINATOR_NOT_AVAILABLE :
				      KAFKA_ERR_UNKNOWN_MEMBER_ID;
}

static struct grp_member *member_new(struct grp_coordinator *c,
				     struct grp_group *g,
				     const struct grp_join_req *q,
				     const char *id, int64_t now_ms)
{
	struct grp_member **ms = realloc(g->members,
					 (g->nmembers + 1) * sizeof *ms);
	if (!ms)
		return NULL;
	g->members = ms;
	struct grp_member *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->id = str_dup(id);
	m->instance_id = q->instance_id ? str_dup(q->instance_id) : NULL;
	m->client_id = str_dup(q->client_id);
	m->client_host = str_dup(q->client_host);
	m->session_timeout_ms = q->session_timeout_ms;
	m->rebalance_timeout_ms = q->rebalance_timeout_ms;
	m->last_heartbeat_ms = now_ms;
	m->join_waiting = true;
	if (!m->id || !m->client_id || !m->client_host ||
	    member_set_protocols(m, q) != KB_OK) {
		member_free(m);
		return NULL;
	}
	if (g->nmembers == 0)
		str_set(&g->protocol_type, q->protocol_type);
	g->members[g->nmembers++] = m;
	(void)c;
	return m;
}

/* Replace m's protocols with copies of q's. */
static int member_set_protocols(struct grp_member *m,
				const struct grp_join_req *q)
{
	struct grp_protocol *ps = calloc(q->nprotocols, sizeof *ps);
	if (!ps)
		return KB_ERR_NOMEM;
	int rc = KB_OK;
	for (size_t i = 0; i < q->nprotocols && rc == KB_OK; i++) {
		ps[i].name = str_dup(q->protocols[i].name);
		if (!ps[i].name)
			rc = KB_ERR_NOMEM;
		else if (q->protocols[i].meta.len > 0)
			rc = kb_buf_append(&ps[i].meta, q->protocols[i].meta.data,
					   q->protocols[i].meta.len);
	}
	struct grp_protocol *old = rc == KB_OK ? m->protocols : ps;
	size_t nold = rc == KB_OK ? m->nprotocols : q->nprotocols;
	if (rc == KB_OK) {
		m->protocols = ps;
		m->nprotocols = q->nprotocols;
	}
	for (size_t i = 0; i < nold; i++) {
		free(old[i].name);
		kb_buf_fini(&old[i].meta);
	}
	free(old);
	return rc;
}

static void member_free(struct grp_member *m)
{
	for (size_t i = 0; i < m->nprotocols; i++) {
		free(m->protocols[i].name);
		kb_buf_fini(&m->protocols[i].meta);
	}
	free(m->protocols);
	kb_buf_fini(&m->assignment);
	free(m->id);
	free(m->instance_id);
	free(m->client_id);
	free(m->client_host);
	free(m);
}

/* KAFKA: clientId + "-" + UUID; a counter is as unique on one broker. */
static char *new_member_id(struct grp_coordinator *c, const char *client_id)
{
	char buf[MEMBER_ID_MAX];
	snprintf(buf, sizeof buf, "%s-%" PRIu64 "-%" PRId64, client_id,
		 ++c->next_member, kb_now_ms());
	return str_dup(buf);
}

/* Remove id from the pending member ids; true if it was there. */
static bool pending_take(struct grp_group *g, const char *id)
{
	for (size_t i = 0; i < g->npending; i++) {
		if (strcmp(g->pending[i].id, id) != 0)
			continue;
		free(g->pending[i].id);
		g->pending[i] = g->pending[--g->npending];
		return true;
	}
	return false;
}

static char *str_dup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Replace *dst with a copy of s (NULL allowed). */
static void str_set(char **dst, const char *s)
{
	char *copy = str_dup(s);
	free(*dst);
	*dst = copy;
}
