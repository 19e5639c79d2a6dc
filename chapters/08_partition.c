/* SPDX-License-Identifier: MIT */
/*
 * Chapter 08, first file — the partition's replicas: who has what, and
 * what counts as committed.
 *
 * Concept:
 *   Every partition has one leader and some followers, one per AZ. The
 *   followers copy the leader's log (08_fetcher.c); each fetch tells the
 *   leader how far that follower has got. The in-sync replicas (ISR) are
 *   those that keep up; a record is committed once every member of the
 *   ISR has it, and the high watermark — the one offset consumers may read
 *   up to and acks=all waits for — is the lowest log end offset in the
 *   ISR. A follower that falls behind for replica.lag.time.max.ms leaves
 *   the ISR, one that catches up rejoins: both are the controller's
 *   decision, asked for with AlterPartition and fenced by the partition
 *   epoch, so the ISR the controller elects leaders from is never smaller
 *   than the set the high watermark was computed over.
 *
 * Kafka:
 *   ReplicaManager (becomeLeaderOrFollower, the follower-fetch path),
 *   Partition (makeLeader, makeFollower, updateFollowerFetchState,
 *   maybeIncrementLeaderHW, maybeExpandIsr, maybeShrinkIsr, the
 *   "maximal ISR" of a pending AlterPartition), Replica; KIP-497
 *   (AlterPartition), replica.lag.time.max.ms.
 *
 * Interface:
 *   - repl_open takes chapter 06's high watermark (topic_take_high_watermark),
 *     installs the follower-fetch hook and subscribes to appends.
 *   - repl_sync after every metadata batch the broker node synced: the
 *     image says who leads with which epoch; parts follow.
 *   - A follower's Fetch (chapter 06, replica_id >= 0) reaches
 *     follower_fetched before its partition is read.
 *
 * Invariants (repl_check):
 *   1. A part is LEADER exactly when the metadata names this node leader,
 *      and then chapter 06's partition says so too (tp->leader_id).
 *   2. The high watermark of a led partition is at most the log end
 *      offset of every member of its maximal ISR (committed ∪ proposed)
 *      that has fetched since this leadership began.
 *   3. At most one AlterPartition per partition is in flight, and the
 *      leader itself is in every ISR it proposes.
 *
 * Simplifications:
 *   - The ISR the controller answers an AlterPartition with is taken at
 *     once; a metadata batch with an older partition epoch never undoes it.
 *   - A replica outside the ISR that has caught up does not hold back
 *     the high watermark (Kafka's does while it is within the lag time).
 *   - The whole table is walked per call (tens of partitions, not tens of
 *     thousands).
 *
 * See also: docs/08_partition.md, diagrams/08_partition.dot,
 *   tests/08_replication_test.c, tests/clients/test_replication.py.
 *   Uses chapters 00 (base), 03 (log epochs), 04 (codec), 05 (server:
 *   timers, wakes), 06 (topics and hooks), 07 (the image, the broker
 *   node's controller channel and AlterPartition codec).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "03_log.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"
#include "07_controller.h"
#include "07_metadata.h"
#include "07_node.h"
#include "08_replication.h"

/* How often the timers look at fetchers and ISRs (ms). */
#define REPL_TICK_MS 100
/* KAFKA: AlterPartition version a broker sends (v3: BrokerState). */
#define REPL_ALTER_PARTITION_VERSION 3

static void repl_tick(void *ctx, int64_t now_ms);
static void repl_appended(void *ctx, struct topic_partition *tp,
			  const struct seg_batch *batch,
			  const struct log_append_info *info);
static int16_t follower_fetched(void *ctx, struct topic_partition *tp,
				int32_t replica_id, int64_t fetch_offset);
static void part_apply(struct repl *r, struct repl_part *p,
		       const struct meta_partition *mp);
static void isr_maybe_shrink(struct repl *r, struct repl_part *p,
			     int64_t now_ms);
static void isr_maybe_expand(struct repl *r, struct repl_part *p,
			     const struct repl_follower *f);
static bool ids_has(const int32_t *v, int32_t n, int32_t id);
static int elect_leaders_register(struct net_server *srv,
				  struct topic_manager *tm);
static struct repl_follower *follower_of(struct repl_part *p, int32_t id);
static const struct repl_follower *follower_in(const struct repl_part *p,
					       int32_t id);

void repl_config_defaults(struct repl_config *cfg)
{
	*cfg = (struct repl_config){1, REPL_DEFAULT_LAG_TIME_MAX_MS,
		REPL_DEFAULT_FETCH_WAIT_MAX_MS, REPL_DEFAULT_FETCH_MAX_BYTES,
		REPL_DEFAULT_FETCH_RESPONSE_MAX_BYTES,
		REPL_DEFAULT_FETCH_BACKOFF_MS, REPL_DEFAULT_SOCKET_TIMEOUT_MS,
		REPL_DEFAULT_HW_CHECKPOINT_MS};
}

/* ---- Lifecycle ---- */

int repl_open(struct net_server *srv, struct topic_manager *tm,
	      struct raft_node *rn, struct broker_node *bn,
	      const struct repl_config *cfg, struct repl **out)
{
	struct repl *r = calloc(1, sizeof *r);
	if (!r)
		return KB_ERR_NOMEM;
	*r = (struct repl){.cfg = *cfg, .srv = srv, .tm = tm, .rn = rn,
			   .bn = bn, .refs = 1};
	int rc = topic_subscribe(tm, repl_appended, r);
	if (rc == KB_OK)
		rc = net_at(srv, kb_mono_ms() + REPL_TICK_MS,
			    (struct net_callback){repl_tick, r});
	if (rc != KB_OK) {
		topic_unsubscribe(tm, repl_appended, r);
		free(r);
		return rc;
	}
	if (srv && (rc = elect_leaders_register(srv, tm)) != KB_OK) {
		net_at(srv, INT64_MAX, (struct net_callback){repl_tick, r});
		topic_unsubscribe(tm, repl_appended, r);
		free(r);
		return rc;
	}
	topic_take_high_watermark(tm);
	topic_set_follower_fetch(tm, follower_fetched, r);
	repl_sync(r);
	*out = r;
	return KB_OK;
}

/* KAFKA: KafkaApis.handleElectLeaders: ALTER on the cluster, then the
 * controller decides (07_controller_isr.c); a broker sends it on. */
static int handle_elect_leaders(struct net_request *req,
				struct net_response *resp)
{
	int rc;
	if (!net_authorized_cluster(req, NET_OP_ALTER))
		return ctrl_elect_leaders_error_body(
			req, KAFKA_ERR_CLUSTER_AUTHORIZATION_FAILED, &resp->w);
	if (topic_forwarded(req, resp, &rc))
		return rc;
	return ctrl_elect_leaders_error_body(req, KAFKA_ERR_NOT_CONTROLLER,
					     &resp->w);
}

/* ElectLeaders v0-2 on the broker listener (CLIENTS.md: the admin
 * clients' versions), and its error answer for a forward that failed. */
static int elect_leaders_register(struct net_server *srv,
				  struct topic_manager *tm)
{
	struct net_api api = {WIRE_API_ELECT_LEADERS, 0, 2, handle_elect_leaders,
			      tm};
	int rc = topic_set_error_body(WIRE_API_ELECT_LEADERS,
				      ctrl_elect_leaders_error_body);
	return rc ? rc : net_register(srv, &api);
}

void repl_unref(struct repl *r)
{
	if (--r->refs > 0)
		return;
	for (size_t i = 0; i < r->nparts; i++)
		free(r->parts[i]);
	free(r->parts);
	free(r);
}

void repl_close(struct repl *r)
{
	if (!r)
		return;
	r->closed = true;
	net_at(r->srv, INT64_MAX, (struct net_callback){repl_tick, r});
	topic_set_follower_fetch(r->tm, NULL, NULL);
	topic_unsubscribe(r->tm, repl_appended, r);
	repl_fetchers_close(r);
	repl_unref(r);
}

/* Every REPL_TICK_MS (re-armed each time; repl_close cancels it): the
 * ISRs' lag, fetchers whose backoff ran out, and every
 * replica.high.watermark.checkpoint.interval.ms the high watermarks
 * (with the other offset checkpoints) to disk, as Kafka's
 * ReplicaManager.checkpointHighWatermarks does. */
static void repl_tick(void *ctx, int64_t now_ms)
{
	struct repl *r = ctx;
	if (now_ms >= r->next_checkpoint_ms) {
		topic_manager_checkpoint(r->tm);
		r->next_checkpoint_ms = now_ms + r->cfg.hw_checkpoint_ms;
	}
	for (size_t i = 0; i < r->nparts; i++)
		if (r->parts[i]->role == REPL_LEADER)
			isr_maybe_shrink(r, r->parts[i], now_ms);
	repl_fetchers_kick(r);
	net_at(r->srv, now_ms + REPL_TICK_MS, (struct net_callback){repl_tick, r});
}

/* ---- The table: one part per replica held here ---- */

struct repl_part *repl_part_of(const struct repl *r,
			       const struct topic_partition *tp)
{
	for (size_t i = 0; i < r->nparts; i++)
		if (r->parts[i]->tp == tp)
			return r->parts[i];
	return NULL;
}

static struct repl_part *part_find(struct repl *r, struct wire_uuid id,
				   int32_t index)
{
	for (size_t i = 0; i < r->nparts; i++) {
		struct repl_part *p = r->parts[i];
		if (p->index == index && !memcmp(p->topic_id.b, id.b, sizeof id.b))
			return p;
	}
	return NULL;
}

static struct repl_part *part_add(struct repl *r, struct wire_uuid id,
				  int32_t index)
{
	if (r->nparts == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		void *v = realloc(r->parts, cap * sizeof *r->parts);
		if (!v)
			return NULL;
		r->parts = v;
		r->cap = cap;
	}
	struct repl_part *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	*p = (struct repl_part){.topic_id = id, .index = index,
				.role = REPL_NONE, .leader_id = -1,
				.leader_epoch = -1, .partition_epoch = -1};
	r->parts[r->nparts++] = p;
	return p;
}

/* Parts whose replica the metadata no longer places here go. */
static void parts_drop_unseen(struct repl *r)
{
	size_t kept = 0;
	for (size_t i = 0; i < r->nparts; i++) {
		struct repl_part *p = r->parts[i];
		if (p->seen) {
			r->parts[kept++] = p;
			continue;
		}
		repl_fetcher_remove(r, p);
		free(p);
	}
	r->nparts = kept;
}

/* KAFKA: ReplicaManager.applyDelta: every partition with a replica here,
 * as the image has it, and chapter 06's partition for it. */
void repl_sync(struct repl *r)
{
	const struct meta_image *img = raft_node_image(r->rn);
	for (size_t i = 0; i < r->nparts; i++)
		r->parts[i]->seen = false;
	for (int32_t ti = 0; ti < img->n_topics; ti++) {
		const struct meta_topic *mt = &img->topics[ti];
		struct topic *t = topic_find_by_id(r->tm, &mt->id);
		for (int32_t pi = 0; t && pi < mt->partition_count &&
				     pi < t->npartitions; pi++) {
			const struct meta_partition *mp = &mt->partitions[pi];
			if (!ids_has(mp->replicas.v, mp->replicas.n, r->cfg.node_id))
				continue;
			struct repl_part *p = part_find(r, mt->id, pi);
			if (!p && !(p = part_add(r, mt->id, pi)))
				continue; /* no memory: next sync tries again */
			p->seen = true;
			p->tp = t->partitions[pi];
			part_apply(r, p, mp);
		}
	}
	parts_drop_unseen(r);
	repl_fetchers_kick(r);
	repl_check(r);
}

/* ---- Becoming leader or follower ---- */

/* KAFKA: Partition.makeLeader: the epoch starts at our log end offset;
 * every follower's position is unknown until it fetches, and the ISR's
 * members count as caught up now, so none is dropped before it could
 * fetch from us. */
static void become_leader(struct repl *r, struct repl_part *p,
			  const struct meta_partition *mp)
{
	struct log *log = p->tp->log;
	int64_t now = kb_mono_ms();
	int64_t leo = log_end_offset(log);
	repl_fetcher_remove(r, p);
	if ((log->nepochs == 0 ||
	     log->epochs[log->nepochs - 1].epoch < p->leader_epoch) &&
	    log_epoch_assign(log, p->leader_epoch, leo) != KB_OK)
		KB_WARN("replication: %s-%" PRId32 ": epoch %" PRId32
			" not written to leader-epoch-checkpoint",
			p->tp->topic->name, p->index, p->leader_epoch);
	p->nf = 0;
	for (int32_t i = 0; i < mp->replicas.n && p->nf < REPL_MAX_REPLICAS; i++) {
		int32_t id = mp->replicas.v[i];
		if (id == r->cfg.node_id)
			continue;
		bool in_isr = ids_has(mp->isr.v, mp->isr.n, id);
		p->f[p->nf++] = (struct repl_follower){id, -1, in_isr ? now : 0,
						       now, -1};
	}
	p->alter_in_flight = false;
	p->role = REPL_LEADER;
	p->hw_start = p->tp->high_watermark;
	KB_INFO("replication: %s-%" PRId32 ": leader in epoch %" PRId32
		" at log end offset %" PRId64 ", high watermark %" PRId64,
		p->tp->topic->name, p->index, p->leader_epoch, leo,
		p->tp->high_watermark);
	repl_leader_advance_hw(r, p);
}

/* KAFKA: Partition.makeFollower: fetch from the new leader, after
 * finding out with OffsetForLeaderEpoch what of ours it does not have. */
static void become_follower(struct repl *r, struct repl_part *p)
{
	p->role = REPL_FOLLOWER;
	p->truncating = true;
	p->retry_at_ms = 0;
	p->alter_in_flight = false;
	repl_fetcher_add(r, p);
}

/* One partition as the image has it now. A produce parked on it is
 * woken in any case: it may now be NOT_LEADER_OR_FOLLOWER. */
static void part_apply(struct repl *r, struct repl_part *p,
		       const struct meta_partition *mp)
{
	bool moved = mp->leader != p->leader_id ||
		     mp->leader_epoch != p->leader_epoch;
	if (mp->partition_epoch >= p->partition_epoch) { /* never older */
		p->partition_epoch = mp->partition_epoch;
		p->n_isr = KB_MIN(mp->isr.n, REPL_MAX_REPLICAS);
		memcpy(p->isr, mp->isr.v, (size_t)p->n_isr * sizeof *p->isr);
	}
	p->leader_id = mp->leader;
	p->leader_epoch = mp->leader_epoch;
	if (mp->leader == r->cfg.node_id) {
		if (moved || p->role != REPL_LEADER)
			become_leader(r, p, mp);
		else
			repl_leader_advance_hw(r, p); /* the ISR may have shrunk */
	} else if (mp->leader >= 0) {
		if (moved || p->role != REPL_FOLLOWER)
			become_follower(r, p);
	} else if (p->role != REPL_NONE) {
		repl_fetcher_remove(r, p);
		p->role = REPL_NONE;
	}
	if (moved)
		net_wake(r->srv, p->tp->log);
}

/* ---- The leader: followers' positions and the high watermark ---- */

static const struct repl_follower *follower_in(const struct repl_part *p,
					       int32_t id)
{
	for (int32_t i = 0; i < p->nf; i++)
		if (p->f[i].id == id)
			return &p->f[i];
	return NULL;
}

static struct repl_follower *follower_of(struct repl_part *p, int32_t id)
{
	for (int32_t i = 0; i < p->nf; i++)
		if (p->f[i].id == id)
			return &p->f[i];
	return NULL;
}

/* KAFKA: Replica.updateFetchStateOrThrow: a follower that asks for our
 * log end offset is caught up now; one that asks for what was our log
 * end at its previous fetch was caught up then. */
void repl_follower_update(struct repl_follower *f, int64_t offset,
			  int64_t leo, int64_t now)
{
	if (offset >= leo)
		f->caught_up_ms = now;
	else if (f->last_fetch_leader_leo >= 0 && offset >= f->last_fetch_leader_leo)
		f->caught_up_ms = KB_MAX(f->caught_up_ms, f->last_fetch_ms);
	f->leo = offset;
	f->last_fetch_leader_leo = leo;
	f->last_fetch_ms = now;
}

/* Chapter 06's hook: a follower's Fetch for tp, before it is read. */
static int16_t follower_fetched(void *ctx, struct topic_partition *tp,
				int32_t replica_id, int64_t fetch_offset)
{
	struct repl *r = ctx;
	struct repl_part *p = repl_part_of(r, tp);
	struct repl_follower *f = p && p->role == REPL_LEADER
					  ? follower_of(p, replica_id) : NULL;
	if (!f)
		return KAFKA_ERR_NOT_LEADER_OR_FOLLOWER;
	int64_t leo = log_end_offset(tp->log);
	if (fetch_offset > leo || fetch_offset < 0)
		return KAFKA_ERR_OFFSET_OUT_OF_RANGE;
	repl_follower_update(f, fetch_offset, leo, kb_mono_ms());
	isr_maybe_expand(r, p, f);
	repl_leader_advance_hw(r, p);
	return KAFKA_ERR_NONE;
}

/* Chapter 06's append event: the leader's own log end moved. */
static void repl_appended(void *ctx, struct topic_partition *tp,
			  const struct seg_batch *batch,
			  const struct log_append_info *info)
{
	(void)batch, (void)info;
	struct repl *r = ctx;
	struct repl_part *p = repl_part_of(r, tp);
	if (p && p->role == REPL_LEADER)
		repl_leader_advance_hw(r, p);
}

/* The maximal ISR (KAFKA: PartitionState.maximalIsr): while an
 * AlterPartition is in flight, its members count too, so the high
 * watermark waits for whichever ISR the controller ends up with. */
static int32_t maximal_isr(const struct repl_part *p, int32_t *out)
{
	int32_t n = 0;
	for (int32_t i = 0; i < p->n_isr; i++)
		out[n++] = p->isr[i];
	for (int32_t i = 0; p->alter_in_flight && i < p->n_proposed; i++)
		if (!ids_has(out, n, p->proposed[i]) && n < 2 * REPL_MAX_REPLICAS)
			out[n++] = p->proposed[i];
	return n;
}

/* INVARIANT 2: the lowest log end offset of the maximal ISR (ours is
 * leo); -1 while a member has not fetched in this leadership. */
int64_t repl_hw_bound(const struct repl_part *p, int32_t self, int64_t leo)
{
	int32_t isr[2 * REPL_MAX_REPLICAS];
	int32_t n = maximal_isr(p, isr);
	int64_t hw = leo;
	for (int32_t i = 0; i < n; i++) {
		if (isr[i] == self)
			continue;
		const struct repl_follower *f = follower_in(p, isr[i]);
		if (!f || f->leo < 0)
			return -1;
		hw = KB_MIN(hw, f->leo);
	}
	return hw;
}

void repl_leader_advance_hw(struct repl *r, struct repl_part *p)
{
	int64_t hw = repl_hw_bound(p, r->cfg.node_id, log_end_offset(p->tp->log));
	if (hw > p->tp->high_watermark)
		topic_partition_set_high_watermark(r->tm, p->tp, hw);
}

/* ---- The ISR: AlterPartition (api key 56) ---- */

/* An AlterPartition in flight: what to find its partition by. */
struct alter_call {
	struct repl *r;
	struct wire_uuid topic_id;
	int32_t index;
	int32_t leader_epoch;
};

static void alter_reply(void *ctx, int status, struct wire_reader *body);

/* KAFKA: AlterPartitionRequest v3 for one partition: each new ISR
 * member with the broker epoch the image has for it (KIP-903). */
static int alter_encode(struct repl *r, const struct repl_part *p,
			const int32_t *isr, int32_t n, struct kb_buf *out)
{
	const struct meta_image *img = raft_node_image(r->rn);
	struct ctrl_isr_member members[REPL_MAX_REPLICAS];
	for (int32_t i = 0; i < n; i++) {
		const struct meta_broker *b = meta_broker_find(img, isr[i]);
		members[i] = (struct ctrl_isr_member){isr[i], b ? b->epoch : -1};
	}
	struct ctrl_alter_partition part = {p->index, p->leader_epoch, n, members,
					    META_RECOVERED, p->partition_epoch};
	struct ctrl_alter_topic topic = {p->topic_id, {NULL, -1}, 1, &part};
	struct ctrl_alter_partition_req q = {r->cfg.node_id,
					     broker_node_epoch(r->bn), 1, &topic};
	return ctrl_alter_partition_req_encode(&q, REPL_ALTER_PARTITION_VERSION,
					       out);
}

/* The one partition's answer (top-level error first), or NULL. */
static const struct ctrl_alter_partition_result *alter_answer(
	const struct ctrl_alter_partition_resp *a, int16_t *error)
{
	*error = a->error_code;
	if (a->n_topics < 1 || a->topics[0].n_partitions < 1)
		return NULL;
	const struct ctrl_alter_partition_result *pr = &a->topics[0].partitions[0];
	if (*error == KAFKA_ERR_NONE)
		*error = pr->error_code;
	return pr;
}

/* Ask the controller for isr[0..n) (INVARIANT 3). */
static void isr_propose(struct repl *r, struct repl_part *p,
			const int32_t *isr, int32_t n)
{
	assert(ids_has(isr, n, r->cfg.node_id));
	struct alter_call *c = malloc(sizeof *c);
	struct kb_buf body;
	kb_buf_init(&body);
	if (!c)
		return;
	*c = (struct alter_call){r, p->topic_id, p->index, p->leader_epoch};
	int rc = alter_encode(r, p, isr, n, &body);
	if (rc == KB_OK)
		rc = broker_node_call_controller(r->bn, WIRE_API_ALTER_PARTITION,
						 REPL_ALTER_PARTITION_VERSION,
						 &body, alter_reply, c);
	kb_buf_fini(&body);
	if (rc != KB_OK) {
		free(c);
		return; /* the next tick or fetch asks again */
	}
	r->refs++;
	p->alter_in_flight = true;
	p->n_proposed = n;
	memcpy(p->proposed, isr, (size_t)n * sizeof *isr);
	KB_INFO("replication: %s-%" PRId32 ": asking for ISR of %" PRId32
		" (was %" PRId32 ")", p->tp->topic->name, p->index, n, p->n_isr);
}

/* KAFKA: Partition.getOutOfSyncReplicas: the ISR without the members
 * (never self) not caught up for lag_ms, into keep; returns its size. */
int32_t repl_isr_in_sync(const struct repl_part *p, int32_t self, int64_t now,
			 int64_t lag_ms, int32_t *keep)
{
	int32_t n = 0;
	for (int32_t i = 0; i < p->n_isr; i++) {
		const struct repl_follower *f = follower_in(p, p->isr[i]);
		if (p->isr[i] == self || !f || now - f->caught_up_ms <= lag_ms)
			keep[n++] = p->isr[i];
	}
	return n;
}

/* KAFKA: Partition.maybeShrinkIsr. */
static void isr_maybe_shrink(struct repl *r, struct repl_part *p, int64_t now)
{
	int32_t keep[REPL_MAX_REPLICAS];
	if (p->alter_in_flight)
		return;
	int32_t n = repl_isr_in_sync(p, r->cfg.node_id, now,
				     r->cfg.lag_time_max_ms, keep);
	if (n < p->n_isr && ids_has(keep, n, r->cfg.node_id))
		isr_propose(r, p, keep, n);
}

/* KAFKA: Partition.maybeExpandIsr: a replica outside the ISR joins once
 * it has everything up to the high watermark and into our epoch. */
static void isr_maybe_expand(struct repl *r, struct repl_part *p,
			     const struct repl_follower *f)
{
	if (p->alter_in_flight || ids_has(p->isr, p->n_isr, f->id) ||
	    p->n_isr >= REPL_MAX_REPLICAS)
		return;
	const struct log *log = p->tp->log;
	int64_t epoch_start = log->nepochs
		? log->epochs[log->nepochs - 1].start_offset : 0;
	if (f->leo < p->tp->high_watermark || f->leo < epoch_start)
		return;
	int32_t isr[REPL_MAX_REPLICAS];
	memcpy(isr, p->isr, (size_t)p->n_isr * sizeof *isr);
	isr[p->n_isr] = f->id;
	isr_propose(r, p, isr, p->n_isr + 1);
}

/* An answer's new ISR and partition epoch become ours at once. */
static void alter_apply(struct repl *r, struct repl_part *p,
			const struct ctrl_alter_partition_resp *a)
{
	int16_t err;
	const struct ctrl_alter_partition_result *pr = alter_answer(a, &err);
	if (err != KAFKA_ERR_NONE || !pr) {
		KB_INFO("replication: %s-%" PRId32 ": AlterPartition: %s",
			p->tp->topic->name, p->index, wire_error_name(err));
	} else if (pr->partition_epoch > p->partition_epoch) {
		p->partition_epoch = pr->partition_epoch;
		p->n_isr = KB_MIN(pr->n_isr, REPL_MAX_REPLICAS);
		memcpy(p->isr, pr->isr, (size_t)p->n_isr * sizeof *p->isr);
	}
	repl_leader_advance_hw(r, p);
}

/* The controller's answer: the new ISR and partition epoch are ours at
 * once (Simplifications); an error leaves the ISR as it is, to be asked
 * for again by the next fetch or tick. */
static void alter_reply(void *ctx, int status, struct wire_reader *body)
{
	struct alter_call *c = ctx;
	struct repl *r = c->r;
	struct repl_part *p = r->closed ? NULL : part_find(r, c->topic_id, c->index);
	struct ctrl_alter_partition_resp a = {0};
	if (p && p->role == REPL_LEADER && p->leader_epoch == c->leader_epoch) {
		p->alter_in_flight = false;
		if (status == KB_OK &&
		    ctrl_alter_partition_resp_decode(body, REPL_ALTER_PARTITION_VERSION,
						     &a) == KB_OK)
			alter_apply(r, p, &a);
	}
	ctrl_alter_partition_resp_fini(&a);
	free(c);
	repl_unref(r);
}

/* ---- Checks ---- */

static bool ids_has(const int32_t *v, int32_t n, int32_t id)
{
	for (int32_t i = 0; i < n; i++)
		if (v[i] == id)
			return true;
	return false;
}

void repl_check(const struct repl *r)
{
#ifndef NDEBUG
	int32_t isr[2 * REPL_MAX_REPLICAS];
	for (size_t i = 0; i < r->nparts; i++) {
		const struct repl_part *p = r->parts[i];
		assert(p->tp && p->tp->log);
		/* INVARIANT 1 */
		assert((p->role == REPL_LEADER) == (p->leader_id == r->cfg.node_id));
		assert(p->role != REPL_LEADER || p->tp->leader_id == r->cfg.node_id);
		/* INVARIANT 3 */
		assert(!p->alter_in_flight ||
		       ids_has(p->proposed, p->n_proposed, r->cfg.node_id));
		if (p->role != REPL_LEADER)
			continue;
		/* INVARIANT 2: past where it stood when we took over, the
		 * high watermark moved only with every member's position. */
		int32_t n = maximal_isr(p, isr);
		int64_t low = log_end_offset(p->tp->log);
		bool known = true;
		for (int32_t k = 0; k < n; k++) {
			const struct repl_follower *f = NULL;
			for (int32_t j = 0; j < p->nf; j++)
				if (p->f[j].id == isr[k])
					f = &p->f[j];
			if (isr[k] == r->cfg.node_id)
				continue;
			if (!f || f->leo < 0)
				known = false;
			else
				low = KB_MIN(low, f->leo);
		}
		assert(p->tp->high_watermark <= p->hw_start ||
		       (known && p->tp->high_watermark <= low));
	}
#else
	(void)r;
#endif
}
