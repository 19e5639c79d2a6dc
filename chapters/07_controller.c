/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07, fifth file — the active controller, part 1: the brokers.
 *
 * Concept:
 *   One node of the quorum, the Raft leader, decides for the cluster. A
 *   decision is never applied in place: it becomes metadata records, and
 *   every node (the controller too) applies them once they are committed.
 *   This file decides about brokers: who is registered, who is alive
 *   (heartbeats within a session timeout), who may lead (unfenced), and
 *   what happens to the partitions of a broker that goes away: who leads
 *   them and who stays in their ISR (the elections of PartitionChangeBuilder,
 *   which 07_controller_isr.c's AlterPartition and ElectLeaders use too).
 *
 * Kafka:
 *   QuorumController with ClusterControlManager (BrokerRegistration 62:
 *   RegisterBrokerRecord, broker epoch = the record's offset),
 *   BrokerHeartbeatManager (BrokerHeartbeat 63; FENCED, UNFENCED,
 *   CONTROLLED_SHUTDOWN, SHUTDOWN_NOW; broker.session.timeout.ms),
 *   ReplicationControlManager.generateLeaderAndIsrUpdates
 *   (PartitionChangeRecord; PartitionChangeBuilder's ONLINE, PREFERRED and
 *   UNCLEAN elections, unclean.leader.election.enable, KIP-704's
 *   RECOVERING), maybeBalancePartitionLeaders (auto.leader.rebalance.enable,
 *   leader.imbalance.check.interval.seconds) and ProducerIdControlManager
 *   (AllocateProducerIds 67, ProducerIdsRecord). KIP-631.
 *
 * Interface:
 *   - Pure: a request and the committed image in; records (to append as
 *     one batch) and a response body (to send once they commit) out.
 *     Nothing changes in the image until the caller applies the records.
 *   - One call at a time, each given the image with every record written
 *     before: the controller never decides from a stale image.
 *   - ctrl_activate when this node becomes the active controller;
 *     ctrl_tick now and then (each broker.heartbeat.interval.ms): it fences,
 *     elects leaderless partitions, and each check interval moves leaders
 *     back to their preferred replica.
 *
 * Invariants (ctrl_check):
 *   1. At most one session per broker id; every session has epoch >= 0.
 *   2. No session was heard from after the newest time seen (now_ms).
 *   3. Output: records end where ends[] says, in increasing order.
 *   4. Each api a later chapter added (ctrl_extend) is there once.
 *   5. The last auto rebalance is not after now_ms.
 *
 * Simplifications:
 *   - FenceBrokerRecord/UnfenceBrokerRecord (Kafka before 3.7's
 *     BrokerRegistrationChangeRecord); controlled shutdown ends when the
 *     broker leads nothing, without waiting for the others to catch up.
 *   - One expired broker fenced per ctrl_tick, as Kafka does.
 *   - No ELR (KIP-966), no JBOD directories; the auto rebalance moves
 *     every imbalanced partition (as KRaft does: no
 *     leader.imbalance.per.broker.percentage), at most one record each.
 *   - About 1000 lines, past STYLE's 900: the elections stay beside the
 *     fencing that needs them, so the files read one way.
 *
 * See also: docs/07_controller.md, diagrams/07_controller.dot,
 *   tests/07_raft_test.c ("The controller"); read next: 07_controller_isr.c.
 *   Uses chapters 00 (base), 04 (codec).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "00_base.h"
#include "04_codec.h"
#include "07_metadata.h"
#include "07_controller.h"
#include "07_controller_internal.h"

/* KAFKA: MetadataVersion.MINIMUM_KRAFT_VERSION's level, assumed for a
 * broker that sends no metadata.version range. */
#define CTRL_MV_DEFAULT 1
/* Smallest encoded elements, to bound array counts by the bytes left:
 * listener (name, host, port, protocol, tags), feature (name, two
 * int16, tags). */
#define CTRL_LISTENER_MIN 7
#define CTRL_FEATURE_MIN 6

/* KAFKA: BrokerHeartbeatManager's BrokerControlState. */
enum ctrl_broker_state {
	CTRL_FENCED,
	CTRL_UNFENCED,
	CTRL_CONTROLLED_SHUTDOWN,
	CTRL_SHUTDOWN_NOW,
};

static struct ctrl_session *session_find(struct ctrl *c, int32_t id);
static int session_touch(struct ctrl *c, int32_t id, int64_t epoch);
static void session_drop(struct ctrl *c, int32_t id);
static bool session_valid(const struct ctrl *c, const struct meta_broker *b);
static int16_t registration_features(const struct meta_image *img,
				     const struct ctrl_registration_req *q);
static int fence_broker(const struct ctrl *c, const struct meta_image *img,
			const struct meta_broker *b, struct ctrl_output *o);
static int isr_updates(const struct ctrl *c, const struct meta_image *img,
		       const struct ctrl_change *ch, struct ctrl_output *o);
static int balance_leaders(const struct meta_image *img, struct ctrl_output *o);
static bool broker_leads(const struct meta_image *img, int32_t id);
static bool ids_has(const int32_t *v, int32_t n, int32_t id);
static void output_check(const struct ctrl_output *o);

/* ---- Lifecycle ---- */

int ctrl_new(const struct ctrl_config *cfg, struct ctrl **out)
{
	if (!cfg->tm || !cfg->cluster_id)
		return KB_ERR_INVAL;
	struct ctrl *c = calloc(1, sizeof *c);
	if (!c)
		return KB_ERR_NOMEM;
	c->cfg = *cfg;
	if (c->cfg.max_replication_factor <= 0)
		c->cfg.max_replication_factor = INT16_MAX;
	if (c->cfg.session_timeout_ms <= 0)
		c->cfg.session_timeout_ms = CTRL_SESSION_TIMEOUT_MS;
	if (c->cfg.leader_imbalance_check_interval_ms <= 0)
		c->cfg.leader_imbalance_check_interval_ms = CTRL_IMBALANCE_CHECK_MS;
	c->rng = cfg->seed ? cfg->seed : (uint64_t)kb_mono_ns() | 1;
	*out = c;
	return KB_OK;
}

void ctrl_free(struct ctrl *c)
{
	if (!c)
		return;
	free(c->sessions);
	free(c);
}

/* KAFKA: ClusterControlManager.activate — a new controller has heard from
 * nobody yet, so every registered broker gets a whole session from now. */
void ctrl_activate(struct ctrl *c, const struct meta_image *img, int64_t now_ms)
{
	c->n_sessions = 0;
	c->now_ms = now_ms;
	c->last_balance_ms = now_ms; /* KAFKA: the first check one interval on */
	for (int32_t i = 0; i < img->n_brokers; i++)
		if (session_touch(c, img->brokers[i].id, img->brokers[i].epoch))
			KB_WARN("controller: no memory for broker %" PRId32
				"'s session", img->brokers[i].id);
	ctrl_check(c);
}

void ctrl_output_init(struct ctrl_output *o)
{
	memset(o, 0, sizeof *o);
	kb_buf_init(&o->records);
	kb_buf_init(&o->response);
}

void ctrl_output_fini(struct ctrl_output *o)
{
	kb_buf_fini(&o->records);
	kb_buf_fini(&o->response);
	free(o->ends);
	memset(o, 0, sizeof *o);
}

/* Encode rec after the records already in o and remember where it ends. */
int ctrl_emit(struct ctrl_output *o, const struct meta_record *rec)
{
	if ((size_t)o->n == o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 8;
		size_t *e = realloc(o->ends, cap * sizeof *e);
		if (!e)
			return KB_ERR_NOMEM;
		o->ends = e;
		o->cap = cap;
	}
	size_t before = o->records.len;
	int rc = meta_record_encode(rec, &o->records);
	if (rc) {
		o->records.len = before;
		return rc;
	}
	o->ends[o->n++] = o->records.len;
	output_check(o);
	return KB_OK;
}

int ctrl_output_emit(struct ctrl_output *o, const struct meta_record *rec)
{
	return ctrl_emit(o, rec);
}

/* ---- Later chapters' APIs ---- */

/* An api decided here already, or by an extension, cannot be added. */
int ctrl_extend(struct ctrl *c, const struct ctrl_extension *e)
{
	if (!e->fn || e->min_version < 0 || e->max_version < e->min_version)
		return KB_ERR_INVAL;
	if (c->n_ext == CTRL_MAX_EXTENSIONS)
		return KB_ERR_RANGE;
	for (int i = 0; i < c->n_ext; i++)
		if (c->ext[i].api_key == e->api_key)
			return KB_ERR_EXISTS;
	c->ext[c->n_ext++] = *e;
	return KB_OK;
}

/* ---- BrokerRegistration (api key 62) ---- */

/* KAFKA: ClusterControlManager.registerBroker. Decides the error or the
 * RegisterBrokerRecord: a new incarnation gets epoch = the record's
 * offset; the same incarnation again keeps its epoch and fencing. */
static int registration_decide(struct ctrl *c, const struct ctrl_input *in,
			       const struct ctrl_registration_req *q,
			       struct ctrl_output *out,
			       struct ctrl_registration_resp *p)
{
	const struct meta_broker *old = meta_broker_find(in->img, q->broker_id);
	bool same = old && !memcmp(&old->reg.rec.incarnation_id,
				   &q->incarnation_id, sizeof q->incarnation_id);
	if (!c->cfg.cluster_id || !wire_str_eq(q->cluster_id, c->cfg.cluster_id))
		p->error_code = KAFKA_ERR_INCONSISTENT_CLUSTER_ID;
	else if (old && !same && session_valid(c, old))
		p->error_code = KAFKA_ERR_DUPLICATE_BROKER_REGISTRATION;
	else if (q->is_migrating_zk_broker) /* KAFKA: no ZooKeeper brokers */
		p->error_code = KAFKA_ERR_BROKER_ID_NOT_REGISTERED;
	else if (q->broker_id < 0)
		p->error_code = KAFKA_ERR_INVALID_REGISTRATION;
	else
		p->error_code = registration_features(in->img, q);
	if (p->error_code)
		return KB_OK;
	struct meta_record rec;
	meta_record_init(&rec, META_REGISTER_BROKER,
			 meta_type_max_version(META_REGISTER_BROKER));
	rec.broker_id = q->broker_id;
	rec.incarnation_id = q->incarnation_id;
	rec.endpoints = q->listeners;
	rec.features = q->features;
	rec.rack = q->rack;
	rec.log_dirs = q->log_dirs.n < 0 ? (struct meta_array){0, NULL} : q->log_dirs;
	rec.broker_epoch = same ? old->epoch : in->next_offset;
	rec.fenced = same ? old->fenced : true;
	rec.in_controlled_shutdown = same && old->in_controlled_shutdown;
	int rc = ctrl_emit(out, &rec);
	if (rc)
		return rc;
	if (!same)
		session_drop(c, q->broker_id);
	p->broker_epoch = rec.broker_epoch;
	return session_touch(c, q->broker_id, rec.broker_epoch);
}

int ctrl_handle_registration(struct ctrl *c, const struct ctrl_input *in,
			     struct ctrl_output *out)
{
	struct wire_reader r = in->body;
	struct ctrl_registration_req q;
	struct ctrl_registration_resp p = {KAFKA_ERR_NONE, -1};
	int rc = ctrl_registration_req_decode(&r, in->api_version, &q);
	if (rc == KB_OK)
		rc = registration_decide(c, in, &q, out, &p);
	if (rc == KB_OK)
		rc = ctrl_registration_resp_encode(&p, in->api_version,
						   &out->response);
	ctrl_registration_req_fini(&q);
	ctrl_check(c);
	return rc;
}

/* KAFKA: processRegistrationFeature — every finalized level (the image's,
 * metadata.version defaulting to 1) must lie in the broker's range. */
static int16_t registration_features(const struct meta_image *img,
				     const struct ctrl_registration_req *q)
{
	const struct meta_broker_feature *f = q->features.v;
	for (int32_t i = 0; i < q->features.n; i++) {
		char name[64] = ""; /* a longer name is no feature we know: 0 */
		if (f[i].name.len > 0 && f[i].name.len < (int32_t)sizeof name)
			memcpy(name, f[i].name.p, (size_t)f[i].name.len);
		int16_t level = meta_feature_level(img, name);
		if (!level && !strcmp(name, "metadata.version"))
			level = CTRL_MV_DEFAULT;
		if (level < f[i].min_supported_version ||
		    level > f[i].max_supported_version)
			return KAFKA_ERR_UNSUPPORTED_VERSION;
	}
	for (int32_t k = 0; k < img->n_features; k++) {
		bool listed = false;
		for (int32_t i = 0; i < q->features.n; i++)
			listed |= wire_str_eq(f[i].name, img->features[k].name);
		/* KAFKA: no range sent for metadata.version means [1, 1]. */
		if (!listed && (strcmp(img->features[k].name, "metadata.version") ||
				img->features[k].level != CTRL_MV_DEFAULT))
			return KAFKA_ERR_UNSUPPORTED_VERSION;
	}
	return KAFKA_ERR_NONE;
}

/* ---- BrokerHeartbeat (api key 63) ---- */

/* KAFKA: BrokerHeartbeatManager.calculateNextBrokerState. */
static enum ctrl_broker_state heartbeat_next(const struct meta_image *img,
					     const struct meta_broker *b,
					     const struct ctrl_heartbeat_req *q)
{
	bool leads = broker_leads(img, b->id);
	if (b->fenced) {
		if (q->want_shut_down)
			return CTRL_SHUTDOWN_NOW;
		return !q->want_fence && q->current_metadata_offset >= b->epoch
			       ? CTRL_UNFENCED : CTRL_FENCED;
	}
	if (b->in_controlled_shutdown)
		return q->want_fence || !leads ? CTRL_SHUTDOWN_NOW
					       : CTRL_CONTROLLED_SHUTDOWN;
	if (q->want_fence)
		return q->want_shut_down ? CTRL_SHUTDOWN_NOW : CTRL_FENCED;
	if (q->want_shut_down)
		return leads ? CTRL_CONTROLLED_SHUTDOWN : CTRL_SHUTDOWN_NOW;
	return CTRL_UNFENCED;
}

/* The records of moving b into state s (KAFKA: ReplicationControlManager.
 * handleBrokerFenced, handleBrokerUnfenced, handleBrokerInControlledShutdown).
 * Five parameters: c only for its unclean.leader.election.enable default. */
static int heartbeat_records(const struct ctrl *c, const struct meta_image *img,
			     const struct meta_broker *b,
			     enum ctrl_broker_state s, struct ctrl_output *o)
{
	struct meta_record rec;
	if ((s == CTRL_FENCED || s == CTRL_SHUTDOWN_NOW) && !b->fenced)
		return fence_broker(c, img, b, o);
	if (s == CTRL_UNFENCED && b->fenced) {
		meta_record_init(&rec, META_UNFENCE_BROKER, 0);
		rec.broker_id = b->id;
		rec.broker_epoch = b->epoch;
		int rc = ctrl_emit(o, &rec);
		struct ctrl_change ch = CTRL_CHANGE_INIT;
		ch.add = b->id;
		return rc ? rc : isr_updates(c, img, &ch, o);
	}
	if (s != CTRL_CONTROLLED_SHUTDOWN)
		return KB_OK;
	if (!b->in_controlled_shutdown) {
		meta_record_init(&rec, META_BROKER_REGISTRATION_CHANGE, 1);
		rec.broker_id = b->id;
		rec.broker_epoch = b->epoch;
		rec.shutdown_change = 1;
		int rc = ctrl_emit(o, &rec);
		if (rc)
			return rc;
	}
	struct ctrl_change ch = CTRL_CHANGE_INIT;
	ch.remove = b->id;
	return isr_updates(c, img, &ch, o);
}

/* KAFKA: QuorumController.processBrokerHeartbeat: the epoch must be the
 * registration's (else STALE_BROKER_EPOCH), then the state machine. */
static int heartbeat_decide(struct ctrl *c, const struct ctrl_input *in,
			    const struct ctrl_heartbeat_req *q,
			    struct ctrl_output *out,
			    struct ctrl_heartbeat_resp *p)
{
	const struct meta_broker *b = meta_broker_find(in->img, q->broker_id);
	if (!b) {
		p->error_code = KAFKA_ERR_BROKER_ID_NOT_REGISTERED;
		return KB_OK;
	}
	if (b->epoch != q->broker_epoch) {
		p->error_code = KAFKA_ERR_STALE_BROKER_EPOCH;
		return KB_OK;
	}
	int rc = session_touch(c, b->id, b->epoch);
	enum ctrl_broker_state s = heartbeat_next(in->img, b, q);
	if (rc == KB_OK)
		rc = heartbeat_records(c, in->img, b, s, out);
	p->is_caught_up = q->current_metadata_offset >= b->epoch;
	p->is_fenced = s == CTRL_FENCED || s == CTRL_SHUTDOWN_NOW;
	p->should_shut_down = s == CTRL_SHUTDOWN_NOW;
	return rc;
}

int ctrl_handle_heartbeat(struct ctrl *c, const struct ctrl_input *in,
			  struct ctrl_output *out)
{
	struct wire_reader r = in->body;
	struct ctrl_heartbeat_req q;
	struct ctrl_heartbeat_resp p = {KAFKA_ERR_NONE, false, true, false};
	int rc = ctrl_heartbeat_req_decode(&r, in->api_version, &q);
	if (rc == KB_OK)
		rc = heartbeat_decide(c, in, &q, out, &p);
	if (rc == KB_OK)
		rc = ctrl_heartbeat_resp_encode(&p, in->api_version, &out->response);
	ctrl_check(c);
	return rc;
}

/* ---- Fencing: sessions that expire ---- */

/* KAFKA: QuorumController's maybeFenceStaleBroker: a broker silent for
 * broker.session.timeout.ms is fenced, one per tick. Then any partition
 * left without a leader goes to a live member of its ISR. */
int ctrl_tick(struct ctrl *c, const struct ctrl_input *in,
	      struct ctrl_output *out)
{
	const struct meta_image *img = in->img;
	if (in->now_ms > c->now_ms)
		c->now_ms = in->now_ms;
	for (int32_t i = 0; i < img->n_brokers; i++) {
		const struct meta_broker *b = &img->brokers[i];
		struct ctrl_session *s = session_find(c, b->id);
		if (!s || s->epoch != b->epoch) {
			int rc = session_touch(c, b->id, b->epoch);
			if (rc)
				return rc;
		} else if (!b->fenced && !session_valid(c, b)) {
			KB_INFO("controller: fencing broker %" PRId32 ": no "
				"heartbeat for %" PRId64 " ms", b->id,
				c->now_ms - s->last_contact_ms);
			return fence_broker(c, img, b, out);
		}
	}
	/* One pass over the leaderless partitions: every active broker may
	 * lead, so each partition gets at most one record. */
	struct ctrl_change ch = CTRL_CHANGE_INIT;
	int rc = isr_updates(c, img, &ch, out);
	/* KAFKA: auto.leader.rebalance.enable, every
	 * leader.imbalance.check.interval.seconds. */
	if (rc == KB_OK && c->cfg.auto_leader_rebalance_enable &&
	    c->now_ms - c->last_balance_ms >= c->cfg.leader_imbalance_check_interval_ms) {
		c->last_balance_ms = c->now_ms;
		rc = balance_leaders(img, out);
	}
	ctrl_check(c);
	return rc;
}

/* KAFKA: handleBrokerFenced: leaderships and ISR places first, then the
 * FenceBrokerRecord. */
static int fence_broker(const struct ctrl *c, const struct meta_image *img,
			const struct meta_broker *b, struct ctrl_output *o)
{
	struct ctrl_change ch = CTRL_CHANGE_INIT;
	ch.remove = b->id;
	int rc = isr_updates(c, img, &ch, o);
	if (rc)
		return rc;
	struct meta_record rec;
	meta_record_init(&rec, META_FENCE_BROKER, 0);
	rec.broker_id = b->id;
	rec.broker_epoch = b->epoch;
	return ctrl_emit(o, &rec);
}

/* ---- Leaders and ISRs ---- */

/* KAFKA: LeaderAcceptor — r may lead: not the broker leaving, and active
 * (or the broker arriving). */
static bool leader_acceptable(const struct meta_image *img,
			      const struct ctrl_change *ch, int32_t r)
{
	return r >= 0 && r != ch->remove &&
	       (r == ch->add || ctrl_broker_active(img, r));
}

/* KAFKA: PartitionChangeBuilder.isValidNewLeader — in the target ISR too. */
static bool leader_valid(const struct meta_image *img, const struct meta_ids *isr,
			 const struct ctrl_change *ch, int32_t r)
{
	return ids_has(isr->v, isr->n, r) && leader_acceptable(img, ch, r);
}

/* KAFKA: PartitionChangeBuilder.electLeader — PREFERRED tries the first
 * replica first; then a leader still valid stays; else the first valid
 * replica; UNCLEAN last takes any acceptable replica (*unclean set). */
static int32_t elect_leader(const struct meta_image *img,
			    const struct meta_partition *p,
			    const struct meta_ids *isr,
			    const struct ctrl_change *ch, bool *unclean)
{
	*unclean = false;
	if (ch->election == CTRL_ELECTION_PREFERRED && p->replicas.n > 0 &&
	    leader_valid(img, isr, ch, p->replicas.v[0]))
		return p->replicas.v[0];
	if (leader_valid(img, isr, ch, p->leader))
		return p->leader;
	for (int32_t i = 0; i < p->replicas.n; i++)
		if (leader_valid(img, isr, ch, p->replicas.v[i]))
			return p->replicas.v[i];
	for (int32_t i = 0; ch->election == CTRL_ELECTION_UNCLEAN &&
			    i < p->replicas.n; i++)
		if (leader_acceptable(img, ch, p->replicas.v[i])) {
			*unclean = true; /* KAFKA: data may be lost */
			return p->replicas.v[i];
		}
	return META_NO_LEADER;
}

/* The target ISR into isr (room for ch->isr or p's ISR): ch->isr or the
 * current one, without ch->remove unless it is the last member (KAFKA,
 * without ELR, keeps the last member rather than empty the ISR). */
static void target_isr(const struct meta_partition *p,
		       const struct ctrl_change *ch, struct meta_ids *isr)
{
	const struct meta_ids *from = ch->isr ? ch->isr : &p->isr;
	isr->n = 0;
	for (int32_t i = 0; i < from->n; i++)
		if (from->v[i] != ch->remove)
			isr->v[isr->n++] = from->v[i];
	if (isr->n == 0)
		for (int32_t i = 0; i < from->n; i++)
			isr->v[isr->n++] = from->v[i];
}

/* KAFKA: PartitionChangeBuilder.build for one partition: the target ISR,
 * the election, then one PartitionChangeRecord with what changed (an
 * unclean leader gets ISR [it] and RECOVERING), or none. */
int ctrl_partition_change(const struct meta_image *img,
			  const struct ctrl_change *ch, struct ctrl_output *o)
{
	const struct meta_partition *p = &ch->topic->partitions[ch->partition];
	int32_t n = KB_MAX(KB_MAX(p->isr.n, ch->isr ? ch->isr->n : 0), 1);
	int32_t kept[n];
	struct meta_ids isr = {0, kept};
	target_isr(p, ch, &isr);
	bool unclean;
	int32_t leader = elect_leader(img, p, &isr, ch, &unclean);
	int8_t recovery = ch->recovery;
	if (unclean) {
		kept[0] = leader;
		isr.n = 1;
		recovery = META_RECOVERING;
	}
	bool same_isr = isr.n == p->isr.n &&
			!memcmp(isr.v, p->isr.v, (size_t)isr.n * sizeof *isr.v);
	if (recovery == p->leader_recovery_state)
		recovery = -1;
	if (leader == p->leader && same_isr && recovery == -1)
		return KB_OK;
	struct meta_record rec;
	meta_record_init(&rec, META_PARTITION_CHANGE, 0);
	rec.topic_id = ch->topic->id;
	rec.partition_id = ch->partition;
	rec.leader = leader == p->leader ? META_NO_LEADER_CHANGE : leader;
	if (!same_isr)
		rec.isr = (struct meta_array){isr.n, isr.v};
	rec.leader_recovery_state = recovery;
	return ctrl_emit(o, &rec);
}

/* KAFKA: ConfigurationControlManager.uncleanLeaderElectionEnabledForTopic:
 * the topic's config, else the cluster-wide one, else this node's. */
bool ctrl_unclean_enabled(const struct ctrl *c, const struct meta_image *img,
			  const char *topic)
{
	static const char key[] = "unclean.leader.election.enable";
	const char *v = meta_config_get(img, META_RESOURCE_TOPIC, topic, key);
	if (!v)
		v = meta_config_get(img, META_RESOURCE_BROKER, "", key);
	if (!v)
		return c->cfg.unclean_leader_election_enable;
	return !strcasecmp(v, "true");
}

/* KAFKA: generateLeaderAndIsrUpdates over partitionsWithBrokerInIsr (a
 * broker leaving) or partitionsWithNoLeader (a broker arriving, a tick),
 * UNCLEAN where the topic allows it. */
static int isr_updates(const struct ctrl *c, const struct meta_image *img,
		       const struct ctrl_change *ch, struct ctrl_output *o)
{
	for (int32_t ti = 0; ti < img->n_topics; ti++) {
		struct ctrl_change one = *ch;
		one.topic = &img->topics[ti];
		if (ctrl_unclean_enabled(c, img, one.topic->name))
			one.election = CTRL_ELECTION_UNCLEAN;
		for (int32_t pi = 0; pi < one.topic->partition_count; pi++) {
			const struct meta_partition *p = &one.topic->partitions[pi];
			bool touched = ch->remove >= 0
					       ? ids_has(p->isr.v, p->isr.n, ch->remove)
					       : p->leader == META_NO_LEADER;
			one.partition = pi;
			int rc = touched ? ctrl_partition_change(img, &one, o) : KB_OK;
			if (rc)
				return rc;
		}
	}
	return KB_OK;
}

/* KAFKA: maybeBalancePartitionLeaders — a PREFERRED election for every
 * partition led by another than its first replica. SIMPLIFICATION: any
 * imbalance counts (KRaft does not read
 * leader.imbalance.per.broker.percentage either); a leaderless partition
 * is left to the leaderless pass. */
static int balance_leaders(const struct meta_image *img, struct ctrl_output *o)
{
	for (int32_t ti = 0; ti < img->n_topics; ti++) {
		struct ctrl_change ch = CTRL_CHANGE_INIT;
		ch.election = CTRL_ELECTION_PREFERRED;
		ch.topic = &img->topics[ti];
		for (int32_t pi = 0; pi < ch.topic->partition_count; pi++) {
			const struct meta_partition *p = &ch.topic->partitions[pi];
			if (p->leader == META_NO_LEADER || p->replicas.n == 0 ||
			    p->leader == p->replicas.v[0])
				continue;
			ch.partition = pi;
			int rc = ctrl_partition_change(img, &ch, o);
			if (rc)
				return rc;
		}
	}
	return KB_OK;
}

/* ---- AllocateProducerIds (api key 67) ---- */

/* KAFKA: ProducerIdControlManager.generateNextProducerId: the next block
 * of 1000 for a broker whose epoch is current. */
static int producer_ids_decide(const struct ctrl_input *in,
			       const struct ctrl_producer_ids_req *q,
			       struct ctrl_output *out,
			       struct ctrl_producer_ids_resp *p)
{
	const struct meta_broker *b = meta_broker_find(in->img, q->broker_id);
	int64_t start = in->img->next_producer_id < 0 ? 0
						       : in->img->next_producer_id;
	if (!b)
		p->error_code = KAFKA_ERR_BROKER_ID_NOT_REGISTERED;
	else if (b->epoch != q->broker_epoch)
		p->error_code = KAFKA_ERR_STALE_BROKER_EPOCH;
	else if (start > INT64_MAX - CTRL_PRODUCER_ID_BLOCK)
		p->error_code = KAFKA_ERR_UNKNOWN_SERVER_ERROR; /* exhausted */
	if (p->error_code)
		return KB_OK;
	struct meta_record rec;
	meta_record_init(&rec, META_PRODUCER_IDS, 0);
	rec.broker_id = q->broker_id;
	rec.broker_epoch = q->broker_epoch;
	rec.next_producer_id = start + CTRL_PRODUCER_ID_BLOCK;
	p->producer_id_start = start;
	p->producer_id_len = CTRL_PRODUCER_ID_BLOCK;
	return ctrl_emit(out, &rec);
}

int ctrl_handle_producer_ids(struct ctrl *c, const struct ctrl_input *in,
			     struct ctrl_output *out)
{
	struct wire_reader r = in->body;
	struct ctrl_producer_ids_req q;
	struct ctrl_producer_ids_resp p = {KAFKA_ERR_NONE, -1, 0};
	int rc = ctrl_producer_ids_req_decode(&r, in->api_version, &q);
	if (rc == KB_OK)
		rc = producer_ids_decide(in, &q, out, &p);
	if (rc == KB_OK)
		rc = ctrl_producer_ids_resp_encode(&p, in->api_version,
						   &out->response);
	ctrl_check(c);
	return rc;
}

/* ---- The broker RPCs on the wire ---- */

/* Listeners[] and Features[] of a registration, each count bounded by
 * the bytes left before anything is allocated. */
static int registration_decode_arrays(struct wire_reader *r,
				      struct ctrl_registration_req *q)
{
	int32_t n = wire_read_array_len(r, CTRL_LISTENER_MIN);
	struct meta_endpoint *e = n > 0 ? calloc((size_t)n, sizeof *e) : NULL;
	if (n > 0 && !e)
		return KB_ERR_NOMEM;
	q->listeners = (struct meta_array){n < 0 ? 0 : n, e};
	for (int32_t i = 0; i < n; i++) {
		e[i].name = wire_read_string(r);
		e[i].host = wire_read_string(r);
		e[i].port = wire_read_u16(r);
		e[i].security_protocol = wire_read_i16(r);
		wire_read_tags(r);
	}
	n = wire_read_array_len(r, CTRL_FEATURE_MIN);
	struct meta_broker_feature *f = n > 0 ? calloc((size_t)n, sizeof *f) : NULL;
	if (n > 0 && !f)
		return KB_ERR_NOMEM;
	q->features = (struct meta_array){n < 0 ? 0 : n, f};
	for (int32_t i = 0; i < n; i++) {
		f[i].name = wire_read_string(r);
		f[i].min_supported_version = wire_read_i16(r);
		f[i].max_supported_version = wire_read_i16(r);
		wire_read_tags(r);
	}
	return KB_OK;
}

int ctrl_registration_req_decode(struct wire_reader *r, int16_t v,
				 struct ctrl_registration_req *q)
{
	memset(q, 0, sizeof *q);
	q->rack.len = -1;
	q->log_dirs.n = -1;
	q->previous_broker_epoch = -1;
	r->flexible = true;
	q->broker_id = wire_read_i32(r);
	q->cluster_id = wire_read_string(r);
	q->incarnation_id = wire_read_uuid(r);
	int rc = registration_decode_arrays(r, q);
	if (rc)
		return rc;
	q->rack = wire_read_nullable_string(r);
	q->is_migrating_zk_broker = v >= 1 && wire_read_bool(r);
	if (v >= 2) {
		int32_t n = wire_read_array_len(r, WIRE_UUID_LEN);
		struct wire_uuid *d = n > 0 ? calloc((size_t)n, sizeof *d) : NULL;
		if (n > 0 && !d)
			return KB_ERR_NOMEM;
		q->log_dirs = (struct meta_array){n < 0 ? 0 : n, d};
		for (int32_t i = 0; i < n; i++)
			d[i] = wire_read_uuid(r);
	}
	if (v >= 3)
		q->previous_broker_epoch = wire_read_i64(r);
	wire_read_tags(r);
	return wire_reader_status(r);
}

void ctrl_registration_req_fini(struct ctrl_registration_req *q)
{
	free(q->listeners.v);
	free(q->features.v);
	free(q->log_dirs.n > 0 ? q->log_dirs.v : NULL);
	memset(q, 0, sizeof *q);
}

int ctrl_registration_req_encode(const struct ctrl_registration_req *q,
				 int16_t v, struct kb_buf *out)
{
	struct wire_writer w;
	wire_writer_init(&w, out, true);
	wire_write_i32(&w, q->broker_id);
	wire_write_string(&w, q->cluster_id);
	wire_write_uuid(&w, q->incarnation_id);
	const struct meta_endpoint *e = q->listeners.v;
	wire_write_array_len(&w, q->listeners.n);
	for (int32_t i = 0; i < q->listeners.n; i++) {
		wire_write_string(&w, e[i].name);
		wire_write_string(&w, e[i].host);
		wire_write_u16(&w, e[i].port);
		wire_write_i16(&w, e[i].security_protocol);
		wire_write_tags(&w);
	}
	const struct meta_broker_feature *f = q->features.v;
	wire_write_array_len(&w, q->features.n);
	for (int32_t i = 0; i < q->features.n; i++) {
		wire_write_string(&w, f[i].name);
		wire_write_i16(&w, f[i].min_supported_version);
		wire_write_i16(&w, f[i].max_supported_version);
		wire_write_tags(&w);
	}
	wire_write_string(&w, q->rack);
	if (v >= 1)
		wire_write_bool(&w, q->is_migrating_zk_broker);
	if (v >= 2) {
		int32_t n = q->log_dirs.n < 0 ? 0 : q->log_dirs.n;
		const struct wire_uuid *d = q->log_dirs.v;
		wire_write_array_len(&w, n);
		for (int32_t i = 0; i < n; i++)
			wire_write_uuid(&w, d[i]);
	}
	if (v >= 3)
		wire_write_i64(&w, q->previous_broker_epoch);
	wire_write_tags(&w);
	return wire_writer_status(&w);
}

int ctrl_registration_resp_encode(const struct ctrl_registration_resp *p,
				  int16_t v, struct kb_buf *out)
{
	(void)v; /* v0-4 share one layout */
	struct wire_writer w;
	wire_writer_init(&w, out, true);
	wire_write_i32(&w, 0); /* throttle_time_ms */
	wire_write_i16(&w, p->error_code);
	wire_write_i64(&w, p->broker_epoch);
	wire_write_tags(&w);
	return wire_writer_status(&w);
}

int ctrl_registration_resp_decode(struct wire_reader *r, int16_t v,
				  struct ctrl_registration_resp *p)
{
	(void)v;
	r->flexible = true;
	wire_read_i32(r); /* throttle_time_ms */
	p->error_code = wire_read_i16(r);
	p->broker_epoch = wire_read_i64(r);
	wire_read_tags(r);
	return wire_reader_status(r);
}

int ctrl_heartbeat_req_encode(const struct ctrl_heartbeat_req *q, int16_t v,
			      struct kb_buf *out)
{
	(void)v; /* v1 adds only a tagged field samsa never sends */
	struct wire_writer w;
	wire_writer_init(&w, out, true);
	wire_write_i32(&w, q->broker_id);
	wire_write_i64(&w, q->broker_epoch);
	wire_write_i64(&w, q->current_metadata_offset);
	wire_write_bool(&w, q->want_fence);
	wire_write_bool(&w, q->want_shut_down);
	wire_write_tags(&w);
	return wire_writer_status(&w);
}

/* KAFKA: v1's OfflineLogDirs is tagged: skipped with the other tags. */
int ctrl_heartbeat_req_decode(struct wire_reader *r, int16_t v,
			      struct ctrl_heartbeat_req *q)
{
	(void)v;
	r->flexible = true;
	q->broker_id = wire_read_i32(r);
	q->broker_epoch = wire_read_i64(r);
	q->current_metadata_offset = wire_read_i64(r);
	q->want_fence = wire_read_bool(r);
	q->want_shut_down = wire_read_bool(r);
	wire_read_tags(r);
	return wire_reader_status(r);
}

int ctrl_heartbeat_resp_encode(const struct ctrl_heartbeat_resp *p, int16_t v,
			       struct kb_buf *out)
{
	(void)v;
	struct wire_writer w;
	wire_writer_init(&w, out, true);
	wire_write_i32(&w, 0); /* throttle_time_ms */
	wire_write_i16(&w, p->error_code);
	wire_write_bool(&w, p->is_caught_up);
	wire_write_bool(&w, p->is_fenced);
	wire_write_bool(&w, p->should_shut_down);
	wire_write_tags(&w);
	return wire_writer_status(&w);
}

int ctrl_heartbeat_resp_decode(struct wire_reader *r, int16_t v,
			       struct ctrl_heartbeat_resp *p)
{
	(void)v;
	r->flexible = true;
	wire_read_i32(r); /* throttle_time_ms */
	p->error_code = wire_read_i16(r);
	p->is_caught_up = wire_read_bool(r);
	p->is_fenced = wire_read_bool(r);
	p->should_shut_down = wire_read_bool(r);
	wire_read_tags(r);
	return wire_reader_status(r);
}

int ctrl_producer_ids_req_encode(const struct ctrl_producer_ids_req *q,
				 int16_t v, struct kb_buf *out)
{
	(void)v;
	struct wire_writer w;
	wire_writer_init(&w, out, true);
	wire_write_i32(&w, q->broker_id);
	wire_write_i64(&w, q->broker_epoch);
	wire_write_tags(&w);
	return wire_writer_status(&w);
}

int ctrl_producer_ids_req_decode(struct wire_reader *r, int16_t v,
				 struct ctrl_producer_ids_req *q)
{
	(void)v;
	r->flexible = true;
	q->broker_id = wire_read_i32(r);
	q->broker_epoch = wire_read_i64(r);
	wire_read_tags(r);
	return wire_reader_status(r);
}

int ctrl_producer_ids_resp_encode(const struct ctrl_producer_ids_resp *p,
				  int16_t v, struct kb_buf *out)
{
	(void)v;
	struct wire_writer w;
	wire_writer_init(&w, out, true);
	wire_write_i32(&w, 0); /* throttle_time_ms */
	wire_write_i16(&w, p->error_code);
	wire_write_i64(&w, p->producer_id_start);
	wire_write_i32(&w, p->producer_id_len);
	wire_write_tags(&w);
	return wire_writer_status(&w);
}

int ctrl_producer_ids_resp_decode(struct wire_reader *r, int16_t v,
				  struct ctrl_producer_ids_resp *p)
{
	(void)v;
	r->flexible = true;
	wire_read_i32(r); /* throttle_time_ms */
	p->error_code = wire_read_i16(r);
	p->producer_id_start = wire_read_i64(r);
	p->producer_id_len = wire_read_i32(r);
	wire_read_tags(r);
	return wire_reader_status(r);
}

/* ---- Sessions ---- */

static struct ctrl_session *session_find(struct ctrl *c, int32_t id)
{
	for (int32_t i = 0; i < c->n_sessions; i++)
		if (c->sessions[i].id == id)
			return &c->sessions[i];
	return NULL;
}

/* Heard from broker id (registration epoch) now. */
static int session_touch(struct ctrl *c, int32_t id, int64_t epoch)
{
	struct ctrl_session *s = session_find(c, id);
	if (!s && c->n_sessions == c->cap_sessions) {
		int32_t cap = c->cap_sessions ? 2 * c->cap_sessions : 8;
		s = realloc(c->sessions, (size_t)cap * sizeof *s);
		if (!s)
			return KB_ERR_NOMEM;
		c->sessions = s;
		c->cap_sessions = cap;
	}
	if (!s)
		s = &c->sessions[c->n_sessions++];
	s->id = id;
	s->epoch = epoch;
	s->last_contact_ms = c->now_ms;
	return KB_OK;
}

/* KAFKA: heartbeatManager.remove, for a broker's old incarnation. */
static void session_drop(struct ctrl *c, int32_t id)
{
	struct ctrl_session *s = session_find(c, id);
	if (s)
		*s = c->sessions[--c->n_sessions];
}

/* KAFKA: BrokerHeartbeatManager.hasValidSession — unfenced and heard
 * from within the session timeout. */
static bool session_valid(const struct ctrl *c, const struct meta_broker *b)
{
	for (int32_t i = 0; i < c->n_sessions; i++)
		if (c->sessions[i].id == b->id)
			return !b->fenced && c->sessions[i].epoch == b->epoch &&
			       c->now_ms - c->sessions[i].last_contact_ms <=
				       c->cfg.session_timeout_ms;
	return false;
}

/* ---- Small helpers ---- */

/* KAFKA: ClusterControlManager.isActive: may lead and join ISRs. */
bool ctrl_broker_active(const struct meta_image *img, int32_t id)
{
	const struct meta_broker *b = meta_broker_find(img, id);
	return b && !b->fenced && !b->in_controlled_shutdown;
}

/* xorshift64: placement needs only a fair start, not secrecy. */
int32_t ctrl_random(struct ctrl *c, int32_t n)
{
	return (int32_t)(ctrl_random64(c) % (uint64_t)n);
}

uint64_t ctrl_random64(struct ctrl *c)
{
	c->rng ^= c->rng << 13;
	c->rng ^= c->rng >> 7;
	c->rng ^= c->rng << 17;
	return c->rng;
}

static bool broker_leads(const struct meta_image *img, int32_t id)
{
	for (int32_t ti = 0; ti < img->n_topics; ti++)
		for (int32_t pi = 0; pi < img->topics[ti].partition_count; pi++)
			if (img->topics[ti].partitions[pi].leader == id)
				return true;
	return false;
}

static bool ids_has(const int32_t *v, int32_t n, int32_t id)
{
	for (int32_t i = 0; i < n; i++)
		if (v[i] == id)
			return true;
	return false;
}

/* INVARIANT 3: ends[] increase and the last one is the records' end. */
static void output_check(const struct ctrl_output *o)
{
	for (int i = 1; i < o->n; i++)
		assert(o->ends[i - 1] < o->ends[i]);
	assert(o->n == 0 || o->ends[o->n - 1] == o->records.len);
}

/* ---- Invariants ---- */

void ctrl_check(const struct ctrl *c)
{
	for (int32_t i = 0; i < c->n_sessions; i++) {
		const struct ctrl_session *s = &c->sessions[i];
		assert(s->epoch >= 0);                  /* INVARIANT 1 */
		assert(s->last_contact_ms <= c->now_ms); /* INVARIANT 2 */
		for (int32_t j = i + 1; j < c->n_sessions; j++)
			assert(c->sessions[j].id != s->id); /* INVARIANT 1 */
	}
	assert(c->last_balance_ms <= c->now_ms); /* INVARIANT 5 */
	for (int i = 0; i < c->n_ext; i++) /* INVARIANT 4 */
		for (int j = i + 1; j < c->n_ext; j++)
			assert(c->ext[i].api_key != c->ext[j].api_key);
}
