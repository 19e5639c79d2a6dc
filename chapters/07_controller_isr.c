/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07, sixth file — the active controller, part 2: leaders and ISRs
 * asked for (AlterPartition, ElectLeaders).
 *
 * Concept:
 *   With replicas on several brokers, a partition's leader decides who is
 *   in sync, and the controller records it: the leader asks for a new ISR
 *   (AlterPartition), the controller checks it against the image (is the
 *   asker still the leader, at the epochs it knows, are the new members
 *   live replicas) and writes one PartitionChangeRecord. An operator asks
 *   for leaders too (ElectLeaders): back to the preferred replica, or, on
 *   purpose, to a replica outside the ISR (unclean).
 *
 * Kafka:
 *   ReplicationControlManager.alterPartition / validateAlterPartitionData
 *   (AlterPartition 56 v0-3, KIP-497, KIP-841 topic ids and
 *   INELIGIBLE_REPLICA, KIP-903 broker epochs of the new ISR, KIP-704
 *   leader recovery state) and electLeaders / electLeader (ElectLeaders 43
 *   v0-2, KIP-460: PREFERRED 0, UNCLEAN 1), through PartitionChangeBuilder
 *   (ctrl_partition_change, 07_controller.c).
 *
 * Interface:
 *   - ctrl_handle dispatches both (API table, 07_controller_topics.c); the
 *     caller answers once the records are committed.
 *   - The broker side (chapter 08) sends AlterPartition with
 *     ctrl_alter_partition_req_encode and reads the answer with
 *     ctrl_alter_partition_resp_decode.
 *
 * Invariants (asserted as each partition is decided):
 *   1. At most one PartitionChangeRecord per partition decided.
 *   2. A successful AlterPartition answer is the state the record makes
 *      (the image's, when nothing changes): the leader stays the asker.
 *
 * Simplifications:
 *   - No reassignment (adding/removing replicas), no ELR (KIP-966), no
 *     min.insync.replicas on the ISR; so NEW_LEADER_ELECTED only answers a
 *     leader that may no longer lead (shutting down).
 *   - A partition named twice in one request is decided twice against the
 *     same image (two records), as in Kafka.
 *
 * See also: docs/07_controller_isr.md, tests/07_raft_test.c ("The
 *   controller"); read before: 07_controller.c; next: 07_controller_place.c.
 *   Uses chapters 00 (base), 04 (codec).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "04_codec.h"
#include "07_metadata.h"
#include "07_controller.h"
#include "07_controller_internal.h"

/* KAFKA: ElectionType. */
#define ELECTION_PREFERRED 0
#define ELECTION_UNCLEAN 1
/* Smallest encoded elements, to bound counts by the bytes left:
 * TopicData (uuid or name, partitions, tags), PartitionData (index,
 * epoch, isr, epoch, tags), BrokerState (id, epoch, tags). */
#define AP_TOPIC_MIN 3
#define AP_PARTITION_MIN 14
#define AP_MEMBER_MIN 13
#define EL_TOPIC_MIN 2

/* What one AlterPartition request works with. */
struct alter_job {
	const struct ctrl *c;
	const struct ctrl_input *in;
	struct ctrl_output *out;
	const struct ctrl_alter_partition_req *q;
	struct ctrl_alter_partition_resp *p;
};

static int16_t alter_check(const struct alter_job *j, const struct meta_partition *p,
			   const struct ctrl_alter_partition *d);
static int16_t isr_eligible(const struct meta_image *img,
			    const struct ctrl_alter_partition *d, int16_t v);
static int result_fill(struct ctrl_alter_partition_result *res,
		       const struct meta_partition *p, const struct ctrl_output *o,
		       int n_before);
static bool member_has(const struct ctrl_alter_partition *d, int32_t id);
static void result_check(const struct ctrl_alter_partition_result *res,
			 const struct meta_partition *p, bool changed);
static const struct meta_topic *topic_by_name(const struct meta_image *img,
					      struct wire_str name);

/* ---- AlterPartition (api key 56) ---- */

/* One partition: the checks, then the change as PartitionChangeBuilder
 * makes it, then the answer from the record (INVARIANT 2). */
static int alter_one(const struct alter_job *j, const struct meta_topic *t,
		     const struct ctrl_alter_partition *d,
		     struct ctrl_alter_partition_result *res)
{
	int16_t v = j->in->api_version;
	res->partition_index = d->partition_index;
	res->leader_id = META_NO_LEADER;
	const struct meta_partition *p = d->partition_index >= 0 &&
		d->partition_index < t->partition_count
		? &t->partitions[d->partition_index] : NULL;
	res->error_code = p ? alter_check(j, p, d) : KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
	if (res->error_code)
		return KB_OK;
	int32_t ids[d->n_isr > 0 ? d->n_isr : 1];
	for (int32_t i = 0; i < d->n_isr; i++)
		ids[i] = d->new_isr[i].broker_id;
	struct meta_ids isr = {d->n_isr, ids};
	struct ctrl_change ch = CTRL_CHANGE_INIT;
	ch.topic = t;
	ch.partition = d->partition_index;
	ch.isr = &isr;
	ch.recovery = v >= 1 ? d->leader_recovery_state : META_RECOVERED;
	if (ctrl_unclean_enabled(j->c, j->in->img, t->name))
		ch.election = CTRL_ELECTION_UNCLEAN;
	int n_before = j->out->n;
	int rc = ctrl_partition_change(j->in->img, &ch, j->out);
	assert(j->out->n - n_before <= 1); /* INVARIANT 1 */
	if (rc == KB_OK)
		rc = result_fill(res, p, j->out, n_before);
	if (rc == KB_OK && res->leader_id == j->q->broker_id)
		result_check(res, p, j->out->n > n_before);
	if (rc == KB_OK && res->leader_id != j->q->broker_id) {
		/* KAFKA: the change moved the leadership away from the asker:
		 * the record stands, the asker must refresh its metadata. */
		free(res->isr);
		*res = (struct ctrl_alter_partition_result){
			.partition_index = d->partition_index, .leader_id = META_NO_LEADER,
			.error_code = v > 1 ? KAFKA_ERR_NEW_LEADER_ELECTED
					    : KAFKA_ERR_FENCED_LEADER_EPOCH};
	}
	return rc;
}

/* KAFKA: validateAlterPartitionData, in its order. An asker ahead of the
 * image means this controller is behind: NOT_CONTROLLER. */
static int16_t alter_check(const struct alter_job *j, const struct meta_partition *p,
			   const struct ctrl_alter_partition *d)
{
	int16_t v = j->in->api_version;
	if (d->leader_epoch > p->leader_epoch || d->partition_epoch > p->partition_epoch)
		return KAFKA_ERR_NOT_CONTROLLER;
	if (d->leader_epoch < p->leader_epoch)
		return KAFKA_ERR_FENCED_LEADER_EPOCH;
	if (j->q->broker_id != p->leader)
		return KAFKA_ERR_INVALID_REQUEST;
	if (d->partition_epoch < p->partition_epoch)
		return KAFKA_ERR_INVALID_UPDATE_VERSION;
	for (int32_t i = 0; i < d->n_isr; i++) { /* KAFKA: Replicas.validateIsr */
		int32_t id = d->new_isr[i].broker_id;
		bool replica = false;
		for (int32_t k = 0; k < p->replicas.n; k++)
			replica |= p->replicas.v[k] == id;
		for (int32_t k = 0; k < i; k++)
			replica &= d->new_isr[k].broker_id != id;
		if (!replica)
			return KAFKA_ERR_INVALID_REQUEST;
	}
	if (!member_has(d, p->leader)) /* INVARIANT: the leader stays in its ISR */
		return KAFKA_ERR_INVALID_REQUEST;
	int8_t rs = v >= 1 ? d->leader_recovery_state : META_RECOVERED;
	if (rs != META_RECOVERED && rs != META_RECOVERING)
		return KAFKA_ERR_INVALID_REQUEST;
	if (rs == META_RECOVERING && (d->n_isr > 1 ||
				      p->leader_recovery_state == META_RECOVERED))
		return KAFKA_ERR_INVALID_REQUEST;
	return isr_eligible(j->in->img, d, v);
}

/* KAFKA: ineligibleReplicasForIsr — a new member must be registered, not
 * shutting down, not fenced, and (v3) of the epoch the leader saw. */
static int16_t isr_eligible(const struct meta_image *img,
			    const struct ctrl_alter_partition *d, int16_t v)
{
	for (int32_t i = 0; i < d->n_isr; i++) {
		const struct ctrl_isr_member *m = &d->new_isr[i];
		const struct meta_broker *b = meta_broker_find(img, m->broker_id);
		if (!b || b->in_controlled_shutdown || b->fenced ||
		    (m->broker_epoch != -1 && m->broker_epoch != b->epoch))
			return v > 1 ? KAFKA_ERR_INELIGIBLE_REPLICA
				     : KAFKA_ERR_OPERATION_NOT_ATTEMPTED;
	}
	return KAFKA_ERR_NONE;
}

/* The partition as the record just emitted (if any) will make it, by
 * PartitionRegistration.merge's rules (07_image.c): res->isr owned. */
static int result_fill(struct ctrl_alter_partition_result *res,
		       const struct meta_partition *p, const struct ctrl_output *o,
		       int n_before)
{
	struct meta_record rec;
	meta_record_init(&rec, META_PARTITION_CHANGE, 0);
	rec.isr = (struct meta_array){-1, NULL};
	int rc = KB_OK;
	if (o->n > n_before) {
		size_t start = n_before > 0 ? o->ends[n_before - 1] : 0;
		rc = meta_record_decode(o->records.data + start,
					o->ends[n_before] - start, &rec);
	}
	bool changed = o->n > n_before;
	const int32_t *isr = rec.isr.n >= 0 ? rec.isr.v : p->isr.v;
	res->n_isr = rec.isr.n >= 0 ? rec.isr.n : p->isr.n;
	res->isr = malloc((size_t)KB_MAX(res->n_isr, 1) * sizeof *res->isr);
	if (rc == KB_OK && !res->isr)
		rc = KB_ERR_NOMEM;
	if (rc == KB_OK) {
		memcpy(res->isr, isr, (size_t)res->n_isr * sizeof *isr);
		bool new_leader = changed && rec.leader != META_NO_LEADER_CHANGE;
		res->leader_id = new_leader ? rec.leader : p->leader;
		res->leader_epoch = p->leader_epoch + (new_leader ? 1 : 0);
		res->leader_recovery_state = changed && rec.leader_recovery_state != -1
						     ? rec.leader_recovery_state
						     : p->leader_recovery_state;
		res->partition_epoch = p->partition_epoch + (changed ? 1 : 0);
	}
	meta_record_fini(&rec);
	return rc;
}

/* KAFKA: alterPartition — the asker's epoch first (a stale one answers
 * STALE_BROKER_EPOCH for the whole request), then topic by topic. */
static int alter_decide(const struct alter_job *j)
{
	const struct meta_image *img = j->in->img;
	int16_t v = j->in->api_version;
	const struct meta_broker *b = meta_broker_find(img, j->q->broker_id);
	if (!b || b->epoch != j->q->broker_epoch) {
		j->p->error_code = KAFKA_ERR_STALE_BROKER_EPOCH;
		return KB_OK;
	}
	j->p->topics = calloc((size_t)KB_MAX(j->q->n_topics, 1), sizeof *j->p->topics);
	if (!j->p->topics)
		return KB_ERR_NOMEM;
	for (int32_t ti = 0; ti < j->q->n_topics; ti++) {
		const struct ctrl_alter_topic *qt = &j->q->topics[ti];
		struct ctrl_alter_topic_result *rt = &j->p->topics[j->p->n_topics++];
		rt->topic_id = qt->topic_id;
		rt->topic_name = qt->topic_name;
		rt->partitions = calloc((size_t)KB_MAX(qt->n_partitions, 1),
					sizeof *rt->partitions);
		if (!rt->partitions)
			return KB_ERR_NOMEM;
		rt->n_partitions = qt->n_partitions;
		const struct meta_topic *t = v > 1 ? meta_topic_find_id(img, qt->topic_id)
						   : topic_by_name(img, qt->topic_name);
		for (int32_t pi = 0; pi < qt->n_partitions; pi++) {
			struct ctrl_alter_partition_result *res = &rt->partitions[pi];
			res->partition_index = qt->partitions[pi].partition_index;
			res->leader_id = META_NO_LEADER;
			res->error_code = v > 1 ? KAFKA_ERR_UNKNOWN_TOPIC_ID
						: KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
			int rc = t ? alter_one(j, t, &qt->partitions[pi], res) : KB_OK;
			if (rc)
				return rc;
		}
	}
	return KB_OK;
}

int ctrl_handle_alter_partition(struct ctrl *c, const struct ctrl_input *in,
				struct ctrl_output *out)
{
	struct wire_reader r = in->body;
	struct ctrl_alter_partition_req q;
	struct ctrl_alter_partition_resp p = {KAFKA_ERR_NONE, 0, NULL};
	int rc = ctrl_alter_partition_req_decode(&r, in->api_version, &q);
	if (rc == KB_OK) {
		struct alter_job j = {c, in, out, &q, &p};
		rc = alter_decide(&j);
	}
	if (rc == KB_OK)
		rc = ctrl_alter_partition_resp_encode(&p, in->api_version,
						      &out->response);
	ctrl_alter_partition_resp_fini(&p);
	ctrl_alter_partition_req_fini(&q);
	ctrl_check(c);
	return rc;
}

/* ---- ElectLeaders (api key 43) ---- */

/* One partition's outcome: Kafka's error and message ("" for none). */
struct elect_result {
	int32_t partition;
	int16_t error;
	char message[TOPIC_NAME_MAX + 64];
};

/* What one ElectLeaders request works with. */
struct elect_job {
	const struct ctrl_input *in;
	struct ctrl_output *out;
	struct wire_writer w; /* on out->response */
	int8_t type;          /* ELECTION_* */
};

/* KAFKA: electLeader — one partition's election: at most one record,
 * ELECTION_NOT_NEEDED when its leader is already what was asked for. */
static int elect_one(struct elect_job *j, const struct meta_topic *t,
		     struct wire_str name, struct elect_result *res)
{
	int32_t pi = res->partition;
	int tl = (int)KB_MAX(name.len, 0);
	if (!t || pi < 0 || pi >= t->partition_count) {
		res->error = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
		if (!t)
			snprintf(res->message, sizeof res->message,
				 "No such topic as %.*s", tl, name.p ? name.p : "");
		else
			snprintf(res->message, sizeof res->message,
				 "No such partition as %.*s-%" PRId32, tl, name.p, pi);
		return KB_OK;
	}
	const struct meta_partition *p = &t->partitions[pi];
	bool preferred = p->replicas.n > 0 && p->leader == p->replicas.v[0];
	if ((j->type == ELECTION_PREFERRED && preferred) ||
	    (j->type == ELECTION_UNCLEAN && p->leader != META_NO_LEADER)) {
		res->error = KAFKA_ERR_ELECTION_NOT_NEEDED;
		snprintf(res->message, sizeof res->message,
			 "Leader election not needed for topic partition.");
		return KB_OK;
	}
	struct ctrl_change ch = CTRL_CHANGE_INIT;
	ch.topic = t;
	ch.partition = pi;
	ch.election = j->type == ELECTION_PREFERRED ? CTRL_ELECTION_PREFERRED
						    : CTRL_ELECTION_UNCLEAN;
	int n_before = j->out->n;
	int rc = ctrl_partition_change(j->in->img, &ch, j->out);
	assert(j->out->n - n_before <= 1); /* INVARIANT 1 */
	if (rc == KB_OK && j->out->n == n_before) {
		bool pref = j->type == ELECTION_PREFERRED;
		res->error = pref ? KAFKA_ERR_PREFERRED_LEADER_NOT_AVAILABLE
				  : KAFKA_ERR_ELIGIBLE_LEADERS_NOT_AVAILABLE;
		snprintf(res->message, sizeof res->message, "%s", pref
			 ? "The preferred leader was not available."
			 : "Eligible topic partition leaders are not available.");
	}
	return rc;
}

/* One ReplicationElectionResult: the partitions asked for (parts, n), or
 * (parts NULL) every partition of t, where KAFKA leaves out the ones
 * whose election was not needed. */
static int elect_topic(struct elect_job *j, const struct meta_topic *t,
		       struct wire_str name, const int32_t *parts, int32_t n)
{
	struct elect_result *res = calloc((size_t)KB_MAX(n, 1), sizeof *res);
	if (!res)
		return KB_ERR_NOMEM;
	int rc = KB_OK;
	int32_t shown = 0;
	for (int32_t i = 0; rc == KB_OK && i < n; i++) {
		res[i].partition = parts ? parts[i] : i;
		rc = elect_one(j, t, name, &res[i]);
		shown += !parts && res[i].error == KAFKA_ERR_ELECTION_NOT_NEEDED ? 0 : 1;
	}
	wire_write_string(&j->w, name);
	wire_write_array_len(&j->w, shown);
	for (int32_t i = 0; rc == KB_OK && i < n; i++) {
		if (!parts && res[i].error == KAFKA_ERR_ELECTION_NOT_NEEDED)
			continue;
		wire_write_i32(&j->w, res[i].partition);
		wire_write_i16(&j->w, res[i].error);
		wire_write_string(&j->w, res[i].error ? wire_str_c(res[i].message)
						      : (struct wire_str){NULL, -1});
		wire_write_tags(&j->w);
	}
	wire_write_tags(&j->w);
	free(res);
	return rc;
}

/* The topics of a request, or (null TopicPartitions) of the image. Each
 * count is bounded by the bytes left before anything is allocated. */
static int elect_topics(struct elect_job *j, struct wire_reader *r)
{
	const struct meta_image *img = j->in->img;
	int32_t n = wire_read_nullable_array_len(r, EL_TOPIC_MIN);
	if (wire_reader_status(r))
		return KB_ERR_PROTO;
	wire_write_array_len(&j->w, n < 0 ? img->n_topics : n);
	for (int32_t ti = 0; n < 0 && ti < img->n_topics; ti++) {
		const struct meta_topic *t = &img->topics[ti];
		int rc = elect_topic(j, t, wire_str_c(t->name), NULL, t->partition_count);
		if (rc)
			return rc;
	}
	for (int32_t ti = 0; ti < n; ti++) {
		struct wire_str name = wire_read_string(r);
		int32_t np = wire_read_array_len(r, 4);
		if (wire_reader_status(r))
			return KB_ERR_PROTO;
		int32_t *parts = malloc((size_t)KB_MAX(np, 1) * sizeof *parts);
		if (!parts)
			return KB_ERR_NOMEM;
		for (int32_t i = 0; i < np; i++)
			parts[i] = wire_read_i32(r);
		wire_read_tags(r);
		const struct meta_topic *t = topic_by_name(img, name);
		int rc = wire_reader_status(r);
		if (rc == KB_OK)
			rc = elect_topic(j, t, name, parts, np);
		free(parts);
		if (rc)
			return rc;
	}
	return KB_OK;
}

/* KAFKA: ControllerApis.handleElectLeaders / electLeaders. An unknown
 * election type fails the whole request (INVALID_REQUEST, no results). */
int ctrl_handle_elect_leaders(struct ctrl *c, const struct ctrl_input *in,
			      struct ctrl_output *out)
{
	int16_t v = in->api_version;
	struct wire_reader r = in->body;
	struct elect_job j = {in, out, {0}, ELECTION_PREFERRED};
	r.flexible = wire_is_flexible(WIRE_API_ELECT_LEADERS, v);
	wire_writer_init(&j.w, &out->response, r.flexible);
	if (v >= 1)
		j.type = wire_read_i8(&r);
	bool bad = j.type != ELECTION_PREFERRED && j.type != ELECTION_UNCLEAN;
	wire_write_i32(&j.w, 0); /* throttle_time_ms */
	if (v >= 1)
		wire_write_i16(&j.w, bad ? KAFKA_ERR_INVALID_REQUEST : KAFKA_ERR_NONE);
	int rc = KB_OK;
	if (bad)
		wire_write_array_len(&j.w, 0);
	else
		rc = elect_topics(&j, &r);
	if (rc == KB_OK) {
		wire_read_i32(&r); /* timeout_ms: the answer waits for the commit only */
		wire_read_tags(&r);
		rc = wire_reader_status(&r);
	}
	wire_write_tags(&j.w);
	ctrl_check(c);
	return rc ? rc : wire_writer_status(&j.w);
}

/* KAFKA: ElectLeadersRequest.getErrorResponse — error on every
 * partition asked for (none when all were), and at the top from v1. */
int ctrl_elect_leaders_error_body(const struct net_request *req,
				  int16_t error_code, struct wire_writer *w)
{
	int16_t v = req->header.api_version;
	struct wire_reader r = req->body;
	r.flexible = wire_is_flexible(WIRE_API_ELECT_LEADERS, v);
	if (v >= 1)
		wire_read_i8(&r);
	int32_t n = wire_read_nullable_array_len(&r, EL_TOPIC_MIN);
	wire_write_i32(w, 0); /* throttle_time_ms */
	if (v >= 1)
		wire_write_i16(w, error_code);
	wire_write_array_len(w, KB_MAX(n, 0));
	for (int32_t ti = 0; ti < n && wire_reader_status(&r) == KB_OK; ti++) {
		wire_write_string(w, wire_read_string(&r));
		int32_t np = wire_read_array_len(&r, 4);
		wire_write_array_len(w, KB_MAX(np, 0));
		for (int32_t i = 0; i < np; i++) {
			wire_write_i32(w, wire_read_i32(&r));
			wire_write_i16(w, error_code);
			wire_write_string(w, (struct wire_str){NULL, -1});
			wire_write_tags(w);
		}
		wire_read_tags(&r);
		wire_write_tags(w);
	}
	wire_write_tags(w);
	if (wire_reader_status(&r))
		return KB_ERR_PROTO;
	return wire_writer_status(w);
}

/* ---- AlterPartition on the wire (all flexible from v0) ---- */

int ctrl_alter_partition_req_encode(const struct ctrl_alter_partition_req *q,
				    int16_t v, struct kb_buf *out)
{
	struct wire_writer w;
	wire_writer_init(&w, out, true);
	wire_write_i32(&w, q->broker_id);
	wire_write_i64(&w, q->broker_epoch);
	wire_write_array_len(&w, q->n_topics);
	for (int32_t ti = 0; ti < q->n_topics; ti++) {
		const struct ctrl_alter_topic *t = &q->topics[ti];
		if (v >= 2)
			wire_write_uuid(&w, t->topic_id);
		else
			wire_write_string(&w, t->topic_name);
		wire_write_array_len(&w, t->n_partitions);
		for (int32_t pi = 0; pi < t->n_partitions; pi++) {
			const struct ctrl_alter_partition *d = &t->partitions[pi];
			wire_write_i32(&w, d->partition_index);
			wire_write_i32(&w, d->leader_epoch);
			wire_write_array_len(&w, d->n_isr);
			for (int32_t i = 0; i < d->n_isr; i++) {
				wire_write_i32(&w, d->new_isr[i].broker_id);
				if (v >= 3) {
					wire_write_i64(&w, d->new_isr[i].broker_epoch);
					wire_write_tags(&w);
				}
			}
			if (v >= 1)
				wire_write_i8(&w, d->leader_recovery_state);
			wire_write_i32(&w, d->partition_epoch);
			wire_write_tags(&w);
		}
		wire_write_tags(&w);
	}
	wire_write_tags(&w);
	return wire_writer_status(&w);
}

/* One PartitionData; its NewIsr count bounded by the bytes left. */
static int alter_partition_decode(struct wire_reader *r, int16_t v,
				  struct ctrl_alter_partition *d)
{
	d->partition_index = wire_read_i32(r);
	d->leader_epoch = wire_read_i32(r);
	int32_t n = wire_read_array_len(r, v >= 3 ? AP_MEMBER_MIN : 4);
	if (n > 0) {
		d->new_isr = calloc((size_t)n, sizeof *d->new_isr);
		if (!d->new_isr)
			return KB_ERR_NOMEM;
		d->n_isr = n;
	}
	for (int32_t i = 0; i < n; i++) {
		d->new_isr[i].broker_id = wire_read_i32(r);
		d->new_isr[i].broker_epoch = -1;
		if (v >= 3) {
			d->new_isr[i].broker_epoch = wire_read_i64(r);
			wire_read_tags(r);
		}
	}
	d->leader_recovery_state = v >= 1 ? wire_read_i8(r) : META_RECOVERED;
	d->partition_epoch = wire_read_i32(r);
	wire_read_tags(r);
	return wire_reader_status(r);
}

int ctrl_alter_partition_req_decode(struct wire_reader *r, int16_t v,
				    struct ctrl_alter_partition_req *q)
{
	memset(q, 0, sizeof *q);
	r->flexible = true;
	q->broker_id = wire_read_i32(r);
	q->broker_epoch = wire_read_i64(r);
	int32_t n = wire_read_array_len(r, AP_TOPIC_MIN);
	if (n > 0 && !(q->topics = calloc((size_t)n, sizeof *q->topics)))
		return KB_ERR_NOMEM;
	q->n_topics = KB_MAX(n, 0);
	for (int32_t ti = 0; ti < q->n_topics; ti++) {
		struct ctrl_alter_topic *t = &q->topics[ti];
		t->topic_name = (struct wire_str){NULL, -1};
		if (v >= 2)
			t->topic_id = wire_read_uuid(r);
		else
			t->topic_name = wire_read_string(r);
		int32_t np = wire_read_array_len(r, AP_PARTITION_MIN);
		if (np > 0 && !(t->partitions = calloc((size_t)np, sizeof *t->partitions)))
			return KB_ERR_NOMEM;
		t->n_partitions = KB_MAX(np, 0);
		for (int32_t pi = 0; pi < t->n_partitions; pi++) {
			int rc = alter_partition_decode(r, v, &t->partitions[pi]);
			if (rc)
				return rc;
		}
		wire_read_tags(r);
	}
	wire_read_tags(r);
	return wire_reader_status(r);
}

void ctrl_alter_partition_req_fini(struct ctrl_alter_partition_req *q)
{
	for (int32_t ti = 0; ti < q->n_topics; ti++) {
		for (int32_t pi = 0; pi < q->topics[ti].n_partitions; pi++)
			free(q->topics[ti].partitions[pi].new_isr);
		free(q->topics[ti].partitions);
	}
	free(q->topics);
	memset(q, 0, sizeof *q);
}

int ctrl_alter_partition_resp_encode(const struct ctrl_alter_partition_resp *p,
				     int16_t v, struct kb_buf *out)
{
	struct wire_writer w;
	wire_writer_init(&w, out, true);
	wire_write_i32(&w, 0); /* throttle_time_ms */
	wire_write_i16(&w, p->error_code);
	wire_write_array_len(&w, p->n_topics);
	for (int32_t ti = 0; ti < p->n_topics; ti++) {
		const struct ctrl_alter_topic_result *t = &p->topics[ti];
		if (v >= 2)
			wire_write_uuid(&w, t->topic_id);
		else
			wire_write_string(&w, t->topic_name);
		wire_write_array_len(&w, t->n_partitions);
		for (int32_t pi = 0; pi < t->n_partitions; pi++) {
			const struct ctrl_alter_partition_result *d = &t->partitions[pi];
			wire_write_i32(&w, d->partition_index);
			wire_write_i16(&w, d->error_code);
			wire_write_i32(&w, d->leader_id);
			wire_write_i32(&w, d->leader_epoch);
			wire_write_array_len(&w, d->n_isr);
			for (int32_t i = 0; i < d->n_isr; i++)
				wire_write_i32(&w, d->isr[i]);
			if (v >= 1)
				wire_write_i8(&w, d->leader_recovery_state);
			wire_write_i32(&w, d->partition_epoch);
			wire_write_tags(&w);
		}
		wire_write_tags(&w);
	}
	wire_write_tags(&w);
	return wire_writer_status(&w);
}

/* One response PartitionData; its Isr count bounded by the bytes left. */
static int alter_result_decode(struct wire_reader *r, int16_t v,
			       struct ctrl_alter_partition_result *d)
{
	d->partition_index = wire_read_i32(r);
	d->error_code = wire_read_i16(r);
	d->leader_id = wire_read_i32(r);
	d->leader_epoch = wire_read_i32(r);
	int32_t n = wire_read_array_len(r, 4);
	if (n > 0 && !(d->isr = calloc((size_t)n, sizeof *d->isr)))
		return KB_ERR_NOMEM;
	d->n_isr = KB_MAX(n, 0);
	for (int32_t i = 0; i < d->n_isr; i++)
		d->isr[i] = wire_read_i32(r);
	d->leader_recovery_state = v >= 1 ? wire_read_i8(r) : META_RECOVERED;
	d->partition_epoch = wire_read_i32(r);
	wire_read_tags(r);
	return wire_reader_status(r);
}

int ctrl_alter_partition_resp_decode(struct wire_reader *r, int16_t v,
				     struct ctrl_alter_partition_resp *p)
{
	memset(p, 0, sizeof *p);
	r->flexible = true;
	wire_read_i32(r); /* throttle_time_ms */
	p->error_code = wire_read_i16(r);
	int32_t n = wire_read_array_len(r, AP_TOPIC_MIN);
	if (n > 0 && !(p->topics = calloc((size_t)n, sizeof *p->topics)))
		return KB_ERR_NOMEM;
	p->n_topics = KB_MAX(n, 0);
	for (int32_t ti = 0; ti < p->n_topics; ti++) {
		struct ctrl_alter_topic_result *t = &p->topics[ti];
		t->topic_name = (struct wire_str){NULL, -1};
		if (v >= 2)
			t->topic_id = wire_read_uuid(r);
		else
			t->topic_name = wire_read_string(r);
		/* index, error, leader, epoch, isr, epoch, tags */
		int32_t np = wire_read_array_len(r, 20);
		if (np > 0 && !(t->partitions = calloc((size_t)np, sizeof *t->partitions)))
			return KB_ERR_NOMEM;
		t->n_partitions = KB_MAX(np, 0);
		for (int32_t pi = 0; pi < t->n_partitions; pi++) {
			int rc = alter_result_decode(r, v, &t->partitions[pi]);
			if (rc)
				return rc;
		}
		wire_read_tags(r);
	}
	wire_read_tags(r);
	return wire_reader_status(r);
}

void ctrl_alter_partition_resp_fini(struct ctrl_alter_partition_resp *p)
{
	for (int32_t ti = 0; ti < p->n_topics; ti++) {
		for (int32_t pi = 0; pi < p->topics[ti].n_partitions; pi++)
			free(p->topics[ti].partitions[pi].isr);
		free(p->topics[ti].partitions);
	}
	free(p->topics);
	memset(p, 0, sizeof *p);
}

/* ---- Small helpers ---- */

/* INVARIANT 2: an answer the asker keeps leading with is the image's
 * state, or that state moved by exactly one record. */
static void result_check(const struct ctrl_alter_partition_result *res,
			 const struct meta_partition *p, bool changed)
{
	assert(res->error_code == KAFKA_ERR_NONE);
	assert(res->leader_id == p->leader);
	assert(res->leader_epoch == p->leader_epoch);
	assert(res->partition_epoch == p->partition_epoch + (changed ? 1 : 0));
	assert(changed || (res->n_isr == p->isr.n &&
			   !memcmp(res->isr, p->isr.v, (size_t)p->isr.n * sizeof *res->isr)));
}

/* The image's topic of that name, or NULL. */
static const struct meta_topic *topic_by_name(const struct meta_image *img,
					      struct wire_str name)
{
	for (int32_t k = 0; k < img->n_topics; k++)
		if (wire_str_eq(name, img->topics[k].name))
			return &img->topics[k];
	return NULL;
}

static bool member_has(const struct ctrl_alter_partition *d, int32_t id)
{
	for (int32_t i = 0; i < d->n_isr; i++)
		if (d->new_isr[i].broker_id == id)
			return true;
	return false;
}
