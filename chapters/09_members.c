/* SPDX-License-Identifier: MIT */
/*
 * Chapter 09 — groups, part 1: members and their protocols.
 *
 * Concept:
 *   Before the state machine, its nouns. A group member is an id the
 *   broker hands out, the client that holds it, its timeouts, and the
 *   protocols it offers in order of preference, each with opaque metadata
 *   (its subscription). The broker never reads that metadata: it only
 *   needs to know which protocols every member supports, and which one
 *   the members prefer, to pick the one the leader will assign with.
 *
 * Kafka:
 *   GroupMetadata's member bookkeeping: MemberMetadata, selectProtocol
 *   (a vote among the protocols every member supports),
 *   supportsProtocols, validateCurrentMember (KIP-345 static members:
 *   FENCED_INSTANCE_ID), member ids as clientId + "-" + a unique suffix.
 *
 * Interface:
 *   - Pure bookkeeping: nothing here changes a group's state, arms a
 *     timer or writes a record; 09_groups.c does, using these.
 *   - grp_member_new appends to g->members; grp_member_free frees one
 *     already unlinked (its timer cancelled by the caller).
 *
 * Invariants:
 *   1. grp_select_protocol returns a protocol every member supports, or
 *      NULL when there is none (grp_protocols_compatible prevents that).
 *   2. A member's protocols are replaced whole or not at all
 *      (grp_member_set_protocols).
 *
 * Simplifications:
 *   - Member ids are client id, a counter and the broker's start-ish wall
 *     time, not a UUID: unique on one broker, which is all that is needed.
 *
 * See also: docs/09_members.md, diagrams/09_members.dot,
 *   tests/09_groups_test.c.
 *   Uses chapters 00 (base), 04 (codec).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "04_codec.h"
#include "09_groups.h"

/* The longest member id we build: client id, two counters. */
#define MEMBER_ID_MAX (WIRE_STRING_MAX + 48)

static bool member_supports(const struct grp_member *m, const char *name);
static char *str_dup(const char *s);

/* ======================================================================
 * ---- Finding members ----
 * ====================================================================== */

struct grp_member *grp_member_find(struct grp_group *g, const char *id)
{
	for (size_t i = 0; i < g->nmembers; i++)
		if (strcmp(g->members[i]->id, id) == 0)
			return g->members[i];
	return NULL;
}

struct grp_member *grp_member_by_instance(struct grp_group *g,
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
int16_t grp_member_check(struct grp_group *g, const char *member_id,
			 const char *instance_id, struct grp_member **out)
{
	*out = NULL;
	if (instance_id) {
		struct grp_member *m = grp_member_by_instance(g, instance_id);
		if (m && strcmp(m->id, member_id) != 0)
			return KAFKA_ERR_FENCED_INSTANCE_ID;
	}
	struct grp_member *m = grp_member_find(g, member_id);
	if (!m)
		return g->state == GRP_DEAD ? KAFKA_ERR_COORDINATOR_NOT_AVAILABLE :
					      KAFKA_ERR_UNKNOWN_MEMBER_ID;
	*out = m;
	return KAFKA_ERR_NONE;
}

/* ======================================================================
 * ---- Making and freeing members ----
 * ====================================================================== */

/* A new member of g, appended with q's protocols; its session timer is
 * set up but not armed (09_groups.c arms it). NULL when out of memory. */
struct grp_member *grp_member_new(struct grp_group *g,
				  const struct grp_join_req *q, const char *id)
{
	struct grp_member **ms = realloc(g->members,
					 (g->nmembers + 1) * sizeof *ms);
	if (!ms)
		return NULL;
	g->members = ms;
	struct grp_member *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->session = (struct grp_timer){INT64_MAX, GRP_TIMER_OFF, g, m};
	m->id = str_dup(id);
	m->instance_id = q->instance_id ? str_dup(q->instance_id) : NULL;
	m->client_id = str_dup(q->client_id);
	m->client_host = str_dup(q->client_host);
	m->session_timeout_ms = q->session_timeout_ms;
	m->rebalance_timeout_ms = q->rebalance_timeout_ms;
	if (!m->id || !m->client_id || !m->client_host ||
	    grp_member_set_protocols(m, q) != KB_OK) {
		grp_member_free(m);
		return NULL;
	}
	if (g->nmembers == 0)
		grp_str_set(&g->protocol_type, q->protocol_type);
	g->members[g->nmembers++] = m;
	return m;
}

/* Replace m's protocols with copies of q's. */
int grp_member_set_protocols(struct grp_member *m,
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

void grp_member_free(struct grp_member *m)
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

/* KAFKA: clientId + "-" + UUID; a counter and the start time are as
 * unique on one broker. returns owned. */
char *grp_member_id_new(struct grp_coordinator *c, const char *client_id)
{
	char buf[MEMBER_ID_MAX];
	snprintf(buf, sizeof buf, "%s-%" PRIu64 "-%" PRId64, client_id,
		 ++c->next_member, c->wall_ms());
	return str_dup(buf);
}

/* ======================================================================
 * ---- Protocols ----
 * ====================================================================== */

static bool member_supports(const struct grp_member *m, const char *name)
{
	for (size_t i = 0; i < m->nprotocols; i++)
		if (strcmp(m->protocols[i].name, name) == 0)
			return true;
	return false;
}

bool grp_member_supports_all(const struct grp_group *g, const char *name)
{
	for (size_t i = 0; i < g->nmembers; i++)
		if (!member_supports(g->members[i], name))
			return false;
	return true;
}

/* KAFKA: a non-empty group accepts only its protocol type and members
 * that share at least one protocol with everyone. */
bool grp_protocols_compatible(const struct grp_group *g,
			      const struct grp_join_req *q)
{
	if (q->protocol_type[0] == '\0' || q->nprotocols == 0)
		return false;
	if (g->nmembers == 0)
		return true;
	if (g->protocol_type && strcmp(g->protocol_type, q->protocol_type))
		return false;
	for (size_t p = 0; p < q->nprotocols; p++)
		if (grp_member_supports_all(g, q->protocols[p].name))
			return true;
	return false;
}

bool grp_protocols_equal(const struct grp_member *m,
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

/* KAFKA: selectProtocol: the protocols every member supports; each member
 * votes for the first of them in its own order; most votes wins, ties go
 * to the candidate listed first by the first member (INVARIANT 1). */
const char *grp_select_protocol(const struct grp_group *g)
{
	const struct grp_member *first = g->members[0];
	const char *best = NULL;
	size_t best_votes = 0;
	for (size_t p = 0; p < first->nprotocols; p++) {
		const char *cand = first->protocols[p].name;
		if (!grp_member_supports_all(g, cand))
			continue;
		size_t votes = 0;
		for (size_t i = 0; i < g->nmembers; i++) {
			const struct grp_member *m = g->members[i];
			for (size_t k = 0; k < m->nprotocols; k++) {
				if (!grp_member_supports_all(g, m->protocols[k].name))
					continue;
				votes += strcmp(m->protocols[k].name, cand) == 0;
				break;
			}
		}
		if (votes > best_votes) {
			best = cand;
			best_votes = votes;
		}
	}
	return best;
}

/* ======================================================================
 * ---- Small helpers ----
 * ====================================================================== */

static char *str_dup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Replace *dst with a copy of s (NULL allowed; on no memory, NULL). */
void grp_str_set(char **dst, const char *s)
{
	char *copy = str_dup(s);
	free(*dst);
	*dst = copy;
}
