/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07, first file — Raft as KRaft does it: how a few controllers
 * agree on one log of metadata.
 *
 * Concept:
 *   Voters elect one leader per epoch; it appends record batches, the
 *   others pull its log with Fetch; a batch below the high watermark (HW)
 *   is on a majority and never lost. A pure state machine: messages and
 *   time in; quorum-state writes, messages and log appends out.
 *
 * Kafka:
 *   KafkaRaftClient and QuorumState's states (KIP-595, pre-vote KIP-996);
 *   Vote (52), BeginQuorumEpoch (53), EndQuorumEpoch (54), Fetch (1) with
 *   LastFetchedEpoch and DivergingEpoch; v2 batches of __cluster_metadata-0,
 *   each epoch opened by a LeaderChange control batch; the quorum-state
 *   file; controller.quorum.{election,fetch,request}.timeout.ms, retry.backoff.ms.
 *
 * Interface:
 *   - raft_new from the durable quorum-state and log; raft_step per message,
 *     raft_tick as time passes; raft_propose and raft_resign on the leader.
 *   - After every call drain raft_pop in order: a RAFT_OUT_PERSIST must be
 *     durable before any later RAFT_OUT_SEND leaves (persist, then send);
 *     raft_output_fini each output once sent (it owns Fetch records).
 *   - raft_log_ops speaks whole batches; append and truncate are durable
 *     when they return. Committed batches: read the log below the HW.
 *   - Snapshots (KIP-630): the driver takes them (raft_snapshot_taken)
 *     and downloads the leader's on RAFT_OUT_FETCH_SNAPSHOT
 *     (raft_snapshot_loaded / raft_snapshot_failed); a follower fetching
 *     one sends no Fetch. A Fetch below the leader's log start gets the
 *     latest snapshot's id instead of records.
 *   - Bad fields or strangers get an error or are ignored, never an assert.
 *
 * Invariants / States (raft_check):
 *   1. 0 <= HW <= log end offset.  2. No batch's epoch exceeds ours.
 *   3. The quorum state equals the last one queued for persistence.
 *   4. Leader/Resigned: leader_id is us; Follower: another voter; else
 *      none. A Candidate voted for itself; voted_id is none or a voter.
 *   5. A leader's epoch starts at epoch_start_offset (its LeaderChange
 *      batch), and its HW moved only past it.
 *   6. An observer (node_id not a voter) is only Unattached or Follower
 *      and never votes; the leader does not count it for the HW. It
 *      takes a newer epoch only with its leader (raft_observer_refused).
 *   7. Snapshots (KIP-630): log start <= latest snapshot <= HW on a
 *      leader (one never offers uncommitted data); start <= HW anywhere;
 *      only a Follower fetches a snapshot, one not behind its HW.
 *   Unattached/Follower/Candidate/Resigned -> Prospective on a timer
 *   (raft_become_prospective) -> Candidate on pre-votes
 *   (raft_become_candidate) -> Leader on votes (raft_become_leader) ->
 *   Resigned (raft_resign, raft_check_quorum). With cfg.pre_vote false
 *   (KRaft before KIP-996; the default is true, Vote v2 on the wire) a
 *   timer skips Prospective and makes a Candidate at once. A newer epoch makes anyone
 *   Follower (raft_become_follower) or, without a leader, Unattached (a
 *   voter only). An observer whose leader is silent or refuses it goes
 *   Unattached and asks the voters (raft_observer_discover).
 *
 * Simplifications:
 *   Fixed voters (no KIP-853); only the latest snapshot is offered;
 *   Fetch is answered at once,
 *   not parked; observers are not tracked for DescribeQuorum. Single-threaded.
 *
 * See also: docs/07_raft.md, diagrams/07_raft.dot, tests/07_raft_test.c.
 *   Uses chapters 00 (base), 01 (segment: the batch layout), 04 (codec).
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "01_segment.h"
#include "04_codec.h"
#include "07_raft.h"

/* KAFKA: the leader resigns when a majority has not fetched within 1.5 x
 * controller.quorum.fetch.timeout.ms (LeaderState's check-quorum timer). */
#define RAFT_CHECK_QUORUM_NUM 3
#define RAFT_CHECK_QUORUM_DEN 2
/* KAFKA: ControlRecordType.LEADER_CHANGE, the type in a control key. */
#define RAFT_CONTROL_LEADER_CHANGE 2

/* The leader's view of one voter, and an election's tally of it
 * (KAFKA: LeaderState.ReplicaState, CandidateState's voteStates). */
struct raft_voter {
	int32_t id;
	int64_t end_offset;    /* leader: last valid fetch_offset, -1 unknown */
	int64_t last_fetch_ms; /* leader: when it last fetched */
	bool acked;            /* leader: has fetched in this epoch */
	bool granted;          /* prospective/candidate: granted our (pre-)vote */
	bool answered;         /* prospective/candidate: answered this round */
};

/* One node of the quorum. The caller owns the log; the outbox is drained
 * by raft_pop. Single-threaded: one caller at a time. */
struct raft {
	struct raft_config cfg;
	const struct raft_log_ops *ops; /* borrowed: from raft_new's caller */
	void *log;                      /* borrowed: from raft_new's caller */
	enum raft_state state;
	struct raft_quorum_state qs;        /* INVARIANT 3: == persisted */
	struct raft_quorum_state persisted; /* last queued RAFT_OUT_PERSIST */
	int64_t now_ms;
	int64_t deadline_ms;  /* election, fetch or check-quorum timer */
	int64_t retry_ms;     /* next resend (Fetch, BeginQuorumEpoch) */
	int64_t high_watermark;
	int64_t hw_at_election;     /* leader: the HW it inherited */
	int64_t epoch_start_offset; /* leader: offset of its LeaderChange */
	bool has_fetched;           /* follower: a Fetch succeeded this epoch */
	bool observer;              /* node_id is not a voter (process.roles=broker) */
	int next_discovery;         /* observer: the voter it asks next for the leader */
	int32_t abandoned_id;       /* prospective: the leader it gave up on */
	int32_t next_correlation;
	int32_t fetch_correlation;  /* follower: the Fetch in flight, 0 none */
	int32_t round_correlation;  /* first correlation id of this election */
	struct raft_offset_epoch fetching_snapshot; /* follower: offset -1 none */
	uint64_t rng;
	struct raft_voter voters[RAFT_MAX_VOTERS];
	struct raft_output outbox[RAFT_OUTBOX_MAX];
	int out_head, out_len;
};

static void raft_become_unattached(struct raft *r, int32_t epoch);
static void raft_become_prospective(struct raft *r);
static void raft_become_candidate(struct raft *r);
static void raft_become_leader(struct raft *r);
static void raft_become_follower(struct raft *r, int32_t epoch, int32_t leader);
static void raft_become_resigned(struct raft *r);
static bool raft_is_voter(const struct raft *r, int32_t id);
static struct raft_voter *raft_voter(struct raft *r, int32_t id);
static int64_t raft_random_timeout(struct raft *r);
static struct raft_offset_epoch raft_last_offset_epoch(const struct raft *r);
static struct raft_offset_epoch raft_end_offset_for_epoch(const struct raft *r,
							   int32_t epoch);
static int raft_append_batch(struct raft *r, const struct wire_record *recs,
			     int32_t n, int16_t attributes, int64_t *last_offset);
static int raft_append_leader_change(struct raft *r);
static struct raft_output *raft_tail(struct raft *r);
static struct raft_output *raft_push(struct raft *r);
static void raft_set_quorum(struct raft *r, int32_t epoch, int32_t leader,
			    int32_t voted);
static struct raft_msg *raft_send(struct raft *r, enum raft_msg_type type,
				  int32_t to);
static struct raft_msg *raft_reply(struct raft *r, const struct raft_msg *req,
				   enum raft_msg_type type, int16_t error);
static void raft_update_high_watermark(struct raft *r);
static void raft_count_votes(struct raft *r);
static void raft_send_fetch(struct raft *r);
static void raft_send_fetch_to(struct raft *r, int32_t to);
static void raft_observer_discover(struct raft *r);
static void raft_observer_refused(struct raft *r, const struct raft_msg *m);
static int64_t raft_log_start(const struct raft *r);
static bool raft_latest_snapshot(const struct raft *r, struct raft_offset_epoch *id);

/* ---- Lifecycle ---- */

/* KAFKA: QuorumConfig's defaults. */
void raft_config_defaults(struct raft_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->election_timeout_ms = 1000;
	cfg->fetch_timeout_ms = 2000;
	cfg->request_timeout_ms = 2000;
	cfg->retry_backoff_ms = 20;
	cfg->fetch_max_bytes = RAFT_FETCH_MAX_BYTES;
	cfg->pre_vote = true; /* KAFKA 4.0: always (KIP-996) */
}

/* A quorum-state read from disk must name voters only, and the log must
 * not hold an epoch newer than it (invariant 2 across a restart). */
static int raft_validate_restart(const struct raft *r,
				 const struct raft_quorum_state *qs)
{
	if (qs->leader_epoch < 0)
		return KB_ERR_CORRUPT;
	if (qs->leader_id != RAFT_NO_ID && !raft_is_voter(r, qs->leader_id))
		return KB_ERR_CORRUPT;
	if (qs->voted_id != RAFT_NO_ID && !raft_is_voter(r, qs->voted_id))
		return KB_ERR_CORRUPT;
	if (raft_last_offset_epoch(r).epoch > qs->leader_epoch)
		return KB_ERR_CORRUPT;
	return KB_OK;
}

/* A snapshot holds only committed offsets, so the HW starts at the latest
 * one; a log that ends before it (a crash between writing a fetched
 * snapshot and resetting to it) starts over at it, as Kafka does. */
static int raft_start_from_snapshot(struct raft *r)
{
	struct raft_offset_epoch snap;
	if (!raft_latest_snapshot(r, &snap))
		return KB_OK;
	if (snap.offset < 0 || snap.epoch < 0 || snap.offset < raft_log_start(r))
		return KB_ERR_CORRUPT;
	if (snap.offset > r->ops->end_offset(r->log)) {
		if (!r->ops->reset_to_snapshot)
			return KB_ERR_CORRUPT;
		int rc = r->ops->reset_to_snapshot(r->log, snap);
		if (rc != KB_OK)
			return rc;
	}
	r->high_watermark = snap.offset;
	return KB_OK;
}

/* KAFKA: QuorumState.initialize picks the state the quorum-state implies:
 * our own leadership is resigned, another's is followed, else unattached;
 * then KafkaRaftClient.initialize makes an only voter a candidate, which
 * elects itself at once instead of waiting out an election timeout.
 * returns owned *out (raft_free); borrows d->ops and d->log. */
int raft_new(const struct raft_config *cfg, const struct raft_durable *d,
	     int64_t now_ms, struct raft **out)
{
	static const struct raft_quorum_state none = {0, RAFT_NO_ID, RAFT_NO_ID};
	const struct raft_quorum_state *qs = d->quorum ? d->quorum : &none;
	if (cfg->n_voters < 1 || cfg->n_voters > RAFT_MAX_VOTERS ||
	    cfg->fetch_max_bytes < 1 || cfg->fetch_max_bytes > RAFT_FETCH_MAX_BYTES)
		return KB_ERR_INVAL;
	struct raft *r = calloc(1, sizeof *r);
	if (!r)
		return KB_ERR_NOMEM;
	r->cfg = *cfg, r->ops = d->ops, r->log = d->log, r->now_ms = now_ms;
	r->rng = cfg->seed * 0x9e3779b97f4a7c15ULL + (uint64_t)cfg->node_id + 1;
	r->next_correlation = 1;
	for (int i = 0; i < cfg->n_voters; i++) {
		r->voters[i].id = cfg->voters[i];
		r->voters[i].end_offset = -1;
	}
	r->observer = !raft_is_voter(r, cfg->node_id);
	int rc = raft_validate_restart(r, qs);
	if (rc == KB_OK && r->observer && qs->voted_id != RAFT_NO_ID)
		rc = KB_ERR_CORRUPT; /* INVARIANT 6: an observer never voted */
	if (rc != KB_OK) {
		free(r);
		return rc;
	}
	r->qs = r->persisted = *qs;
	r->fetching_snapshot = (struct raft_offset_epoch){-1, -1};
	rc = raft_start_from_snapshot(r);
	if (rc != KB_OK) {
		free(r);
		return rc;
	}
	if (qs->leader_id == cfg->node_id)
		raft_become_resigned(r);
	else if (qs->leader_id != RAFT_NO_ID)
		raft_become_follower(r, qs->leader_epoch, qs->leader_id);
	else
		raft_become_unattached(r, qs->leader_epoch);
	if (r->observer && r->state == RAFT_UNATTACHED)
		raft_observer_discover(r); /* look for the leader at once */
	else if (cfg->n_voters == 1 && !r->observer)
		raft_become_candidate(r); /* KAFKA: an only voter wins at once */
	*out = r;
	return KB_OK;
}

/* Free it and the records of outputs still queued; the log is the caller's. */
void raft_free(struct raft *r)
{
	struct raft_output o;
	while (r && raft_pop(r, &o))
		raft_output_fini(&o);
	free(r);
}

/* ---- Transitions (KAFKA: QuorumState.transitionTo*) ---- */

/* An epoch without a known leader: after a restart, or when a newer epoch
 * shows up without one. A vote survives only within its own epoch. */
static void raft_become_unattached(struct raft *r, int32_t epoch)
{
	r->fetching_snapshot = (struct raft_offset_epoch){-1, -1};
	int32_t voted = epoch == r->qs.leader_epoch ? r->qs.voted_id : RAFT_NO_ID;
	raft_set_quorum(r, epoch, RAFT_NO_ID, voted);
	r->state = RAFT_UNATTACHED;
	r->deadline_ms = r->now_ms + raft_random_timeout(r);
}

/* Ask the voters that have not answered this round for a (pre-)vote;
 * asked again after controller.quorum.request.timeout.ms. */
static void raft_send_votes(struct raft *r)
{
	struct raft_offset_epoch last = raft_last_offset_epoch(r);
	for (int i = 0; i < r->cfg.n_voters; i++) {
		struct raft_voter *v = &r->voters[i];
		if (v->answered)
			continue;
		struct raft_msg *m = raft_send(r, RAFT_VOTE_REQUEST, v->id);
		m->u.vote_req = (struct raft_vote_request){
			.candidate_epoch = r->qs.leader_epoch,
			.candidate_id = r->cfg.node_id,
			.last_offset_epoch = last.epoch,
			.last_offset = last.offset,
			.pre_vote = r->state == RAFT_PROSPECTIVE,
		};
	}
	r->retry_ms = r->now_ms + r->cfg.request_timeout_ms;
}

/* A new round of (pre-)votes in this epoch; a lone voter wins at once.
 * Responses to an older round are ignored. */
static void raft_start_election(struct raft *r)
{
	r->deadline_ms = r->now_ms + raft_random_timeout(r);
	r->round_correlation = r->next_correlation;
	for (int i = 0; i < r->cfg.n_voters; i++) {
		struct raft_voter *v = &r->voters[i];
		v->granted = v->answered = v->id == r->cfg.node_id;
	}
	raft_send_votes(r);
	raft_count_votes(r);
}

/* KAFKA (KIP-996): before bumping the epoch, ask whether a majority would
 * vote for us. Nothing is persisted and nobody's epoch changes, so a node
 * cut off from the others cannot disrupt a healthy leader when it returns. */
static void raft_become_prospective(struct raft *r)
{
	r->fetching_snapshot = (struct raft_offset_epoch){-1, -1};
	if (r->state == RAFT_FOLLOWER)
		r->abandoned_id = r->qs.leader_id;
	else if (r->state != RAFT_PROSPECTIVE)
		r->abandoned_id = RAFT_NO_ID;
	raft_set_quorum(r, r->qs.leader_epoch, RAFT_NO_ID, r->qs.voted_id);
	r->state = RAFT_PROSPECTIVE;
	raft_start_election(r);
}

/* INVARIANT 3: the new epoch and our vote for ourselves are queued for
 * persistence before the Vote requests that announce them. */
static void raft_become_candidate(struct raft *r)
{
	r->fetching_snapshot = (struct raft_offset_epoch){-1, -1};
	raft_set_quorum(r, r->qs.leader_epoch + 1, RAFT_NO_ID, r->cfg.node_id);
	r->state = RAFT_CANDIDATE;
	raft_start_election(r);
}

/* Tell the voters that have not fetched in our epoch yet that we lead it. */
static void raft_send_begin_quorum_epoch(struct raft *r)
{
	for (int i = 0; i < r->cfg.n_voters; i++) {
		int32_t id = r->voters[i].id;
		if (!r->voters[i].acked && id != r->cfg.node_id)
			raft_send(r, RAFT_BEGIN_QUORUM_EPOCH_REQUEST, id);
	}
	r->retry_ms = r->now_ms + r->cfg.request_timeout_ms;
}

/* KAFKA: a new leader appends a LeaderChange control batch first; only
 * once that batch is committed may the HW expose older epochs' batches.
 * A leader that cannot write its log cannot lead: it resigns at once. */
static void raft_become_leader(struct raft *r)
{
	r->fetching_snapshot = (struct raft_offset_epoch){-1, -1};
	raft_set_quorum(r, r->qs.leader_epoch, r->cfg.node_id, r->cfg.node_id);
	r->state = RAFT_LEADER;
	r->epoch_start_offset = r->ops->end_offset(r->log);
	r->hw_at_election = r->high_watermark;
	int rc = raft_append_leader_change(r);
	for (int i = 0; i < r->cfg.n_voters; i++) {
		r->voters[i].end_offset = -1;
		r->voters[i].acked = false;
		r->voters[i].last_fetch_ms = r->now_ms;
	}
	if (rc != KB_OK) {
		raft_become_resigned(r);
		return;
	}
	r->deadline_ms = r->now_ms + r->cfg.fetch_timeout_ms *
		RAFT_CHECK_QUORUM_NUM / RAFT_CHECK_QUORUM_DEN;
	raft_send_begin_quorum_epoch(r);
	raft_update_high_watermark(r);
}

/* KAFKA: a follower pulls: Fetch from our end offset, with the epoch of
 * our last entry so the leader can tell whether our logs agree so far.
 * One Fetch in flight; resent after controller.quorum.request.timeout.ms. */
static void raft_send_fetch(struct raft *r)
{
	if (r->fetching_snapshot.offset >= 0)
		return; /* KIP-630: no Fetch while the snapshot downloads */
	raft_send_fetch_to(r, r->qs.leader_id);
}

/* The Fetch itself, to the leader or (an observer looking for one) to
 * any voter. */
static void raft_send_fetch_to(struct raft *r, int32_t to)
{
	struct raft_offset_epoch last = raft_last_offset_epoch(r);
	struct raft_msg *m = raft_send(r, RAFT_FETCH_REQUEST, to);
	m->u.fetch_req.fetch_offset = last.offset;
	m->u.fetch_req.last_fetched_epoch = last.epoch;
	m->u.fetch_req.max_bytes = r->cfg.fetch_max_bytes;
	r->fetch_correlation = m->correlation_id;
	r->retry_ms = r->now_ms + r->cfg.request_timeout_ms;
}

/* Follow leader in epoch: persist that, then start pulling its log. */
static void raft_become_follower(struct raft *r, int32_t epoch, int32_t leader)
{
	r->fetching_snapshot = (struct raft_offset_epoch){-1, -1};
	int32_t voted = epoch == r->qs.leader_epoch ? r->qs.voted_id : RAFT_NO_ID;
	raft_set_quorum(r, epoch, leader, voted);
	r->state = RAFT_FOLLOWER;
	r->has_fetched = false;
	r->deadline_ms = r->now_ms + r->cfg.fetch_timeout_ms;
	raft_send_fetch(r);
}

/* KAFKA: ResignedState. The leader stops leading and tells every voter,
 * most caught-up first (PreferredSuccessors), so one of them runs soon. */
static void raft_become_resigned(struct raft *r)
{
	r->fetching_snapshot = (struct raft_offset_epoch){-1, -1};
	struct raft_end_quorum_epoch_request req = {0};
	for (int i = 0; i < r->cfg.n_voters; i++) {
		struct raft_voter *v = &r->voters[i];
		if (v->id == r->cfg.node_id)
			continue;
		int32_t *succ = req.preferred_successors; /* insertion sort */
		int j = req.n_preferred_successors++;
		int64_t end = v->end_offset;
		for (; j > 0 && raft_voter(r, succ[j - 1])->end_offset < end; j--)
			succ[j] = succ[j - 1];
		succ[j] = v->id;
	}
	r->state = RAFT_RESIGNED;
	r->deadline_ms = r->now_ms + raft_random_timeout(r);
	for (int i = 0; i < req.n_preferred_successors; i++) {
		struct raft_msg *m = raft_send(r, RAFT_END_QUORUM_EPOCH_REQUEST,
					       req.preferred_successors[i]);
		m->u.end_req = req;
	}
}

/* Graceful shutdown of a leader (KAFKA: KafkaRaftClient.shutdown). */
int raft_resign(struct raft *r)
{
	if (r->state != RAFT_LEADER)
		return KB_ERR_AGAIN;
	raft_become_resigned(r);
	return KB_OK;
}

/* ---- Time ---- */

/* KAFKA: LeaderState's check-quorum: without fetches from a majority
 * for 1.5 x fetch.timeout.ms the leader may be cut off, so it resigns. */
static void raft_check_quorum(struct raft *r)
{
	int64_t window = r->cfg.fetch_timeout_ms * RAFT_CHECK_QUORUM_NUM /
			 RAFT_CHECK_QUORUM_DEN;
	int alive = 0;
	for (int i = 0; i < r->cfg.n_voters; i++)
		if (r->voters[i].id == r->cfg.node_id ||
		    r->now_ms - r->voters[i].last_fetch_ms < window)
			alive++;
	if (2 * alive > r->cfg.n_voters) {
		r->deadline_ms = r->now_ms + r->cfg.fetch_timeout_ms / 2;
		return;
	}
	raft_become_resigned(r);
}

/* KAFKA: an observer never campaigns. Without news from its leader it
 * forgets it and asks the voters in turn, by Fetch, who leads: any
 * answer naming a leader of an epoch >= its own (raft_on_response_epoch)
 * makes it follow, the leader it just left too. */
static void raft_observer_discover(struct raft *r)
{
	if (r->state == RAFT_FOLLOWER)
		raft_become_unattached(r, r->qs.leader_epoch);
	r->deadline_ms = r->now_ms + raft_random_timeout(r);
	int32_t to = r->cfg.voters[r->next_discovery++ % r->cfg.n_voters];
	raft_send_fetch_to(r, to);
}

/* KAFKA: pollFollowerAsObserver, pollUnattachedAsObserver. Its leader
 * refused it or named no leader: ask the voters at once. A voter's
 * answer without a leader: ask the next one after the retry backoff.
 * An epoch is taken only with its leader: a voter cut off from the
 * others may be a candidate of an epoch nobody will ever lead, and an
 * observer that took it would ignore the real, older leader forever. */
static void raft_observer_refused(struct raft *r, const struct raft_msg *m)
{
	if (r->state == RAFT_FOLLOWER && m->from == r->qs.leader_id) {
		raft_observer_discover(r);
		return;
	}
	int64_t soon = r->now_ms + r->cfg.retry_backoff_ms;
	if (r->state == RAFT_UNATTACHED && soon < r->deadline_ms)
		r->deadline_ms = soon;
}

/* Resend what went unanswered (Fetch, BeginQuorumEpoch, Vote), then fire
 * the state's timer: a leader checks its quorum, everyone else starts
 * (another) pre-vote. */
void raft_tick(struct raft *r, int64_t now_ms)
{
	if (now_ms > r->now_ms)
		r->now_ms = now_ms;
	bool unanswered = r->fetch_correlation != 0;
	if (r->state == RAFT_FOLLOWER && r->now_ms >= r->retry_ms &&
	    r->observer && unanswered)
		raft_observer_discover(r); /* its leader is silent: ask others */
	else if (r->state == RAFT_FOLLOWER && r->now_ms >= r->retry_ms)
		raft_send_fetch(r);
	if (r->state == RAFT_LEADER && r->now_ms >= r->retry_ms)
		raft_send_begin_quorum_epoch(r);
	if ((r->state == RAFT_PROSPECTIVE || r->state == RAFT_CANDIDATE) &&
	    r->now_ms >= r->retry_ms)
		raft_send_votes(r);
	if (r->now_ms < r->deadline_ms)
		return;
	if (r->state == RAFT_LEADER)
		raft_check_quorum(r);
	else if (r->observer)
		raft_observer_discover(r);
	else if (r->cfg.pre_vote)
		raft_become_prospective(r);
	else
		raft_become_candidate(r); /* KAFKA: before KIP-996 */
}

/* ---- Messages ---- */

/* KAFKA: maybeHandleCommonResponse. A newer epoch makes us follow its
 * leader (or go unattached without one); an older one is stale. Returns
 * whether the response belongs to our epoch and is still worth reading. */
static bool raft_on_response_epoch(struct raft *r, const struct raft_msg *m)
{
	int32_t epoch = m->leader_epoch, leader = m->leader_id;
	bool known = leader != r->cfg.node_id && raft_is_voter(r, leader);
	if (epoch < r->qs.leader_epoch)
		return false;
	if (epoch > r->qs.leader_epoch && !known && r->observer) {
		raft_observer_refused(r, m); /* a leaderless epoch: no news */
		return false;
	}
	if (epoch > r->qs.leader_epoch) {
		if (known)
			raft_become_follower(r, epoch, leader);
		else
			raft_become_unattached(r, epoch);
		return false;
	}
	bool electing = r->state == RAFT_UNATTACHED ||
			r->state == RAFT_PROSPECTIVE || r->state == RAFT_CANDIDATE;
	/* A voter still following the leader we gave up on is no news,
	 * unless that leader answers itself. */
	bool stale = leader == r->abandoned_id && m->from != leader &&
		     r->state == RAFT_PROSPECTIVE;
	if (known && electing && !stale) {
		raft_become_follower(r, epoch, leader);
		return false;
	}
	return true;
}

/* INVARIANT (votes): at most one vote per epoch: unattached or prospective,
 * no other vote cast in this epoch, and the candidate's log at least as
 * up to date as ours (last epoch, then end offset). A pre-vote changes
 * nothing, so it only asks for the log and that we hear no leader. */
static bool raft_can_grant(const struct raft *r,
			   const struct raft_vote_request *v)
{
	struct raft_offset_epoch last = raft_last_offset_epoch(r);
	bool up_to_date = v->last_offset_epoch > last.epoch ||
			  (v->last_offset_epoch == last.epoch &&
			   v->last_offset >= last.offset);
	if (!up_to_date || r->observer) /* INVARIANT 6 */
		return false;
	if (v->pre_vote)
		return r->state != RAFT_LEADER &&
		       !(r->state == RAFT_FOLLOWER && r->has_fetched);
	if (r->state != RAFT_UNATTACHED && r->state != RAFT_PROSPECTIVE)
		return false;
	return r->qs.voted_id == RAFT_NO_ID || r->qs.voted_id == v->candidate_id;
}

/* KAFKA: handleVoteRequest. A real vote for a newer epoch moves us to it;
 * a granted vote is queued for persistence BEFORE the response. */
static void raft_on_vote_request(struct raft *r, const struct raft_msg *m)
{
	const struct raft_vote_request *v = &m->u.vote_req;
	if (v->candidate_id != m->from || v->last_offset < 0 ||
	    v->last_offset_epoch < 0 ||
	    v->last_offset_epoch > v->candidate_epoch) {
		raft_reply(r, m, RAFT_VOTE_RESPONSE, KAFKA_ERR_INVALID_REQUEST);
		return;
	}
	if (v->candidate_epoch < r->qs.leader_epoch) {
		raft_reply(r, m, RAFT_VOTE_RESPONSE, KAFKA_ERR_FENCED_LEADER_EPOCH);
		return;
	}
	if (!v->pre_vote && v->candidate_epoch > r->qs.leader_epoch &&
	    !r->observer) /* an observer takes an epoch only with its leader */
		raft_become_unattached(r, v->candidate_epoch);
	bool granted = raft_can_grant(r, v);
	if (granted && !v->pre_vote) {
		raft_set_quorum(r, r->qs.leader_epoch, RAFT_NO_ID, v->candidate_id);
		r->deadline_ms = r->now_ms + raft_random_timeout(r);
	}
	struct raft_msg *resp = raft_reply(r, m, RAFT_VOTE_RESPONSE, KAFKA_ERR_NONE);
	resp->u.vote_resp.vote_granted = granted;
	resp->u.vote_resp.pre_vote = v->pre_vote;
}

/* A majority of grants, ourselves included, wins the round. */
static void raft_count_votes(struct raft *r)
{
	int granted = 0;
	for (int i = 0; i < r->cfg.n_voters; i++)
		granted += r->voters[i].granted;
	if (2 * granted <= r->cfg.n_voters)
		return;
	if (r->state == RAFT_PROSPECTIVE)
		raft_become_candidate(r);
	else if (r->state == RAFT_CANDIDATE)
		raft_become_leader(r);
}

/* Count a grant of this round's kind; anything else is old news. */
static void raft_on_vote_response(struct raft *r, const struct raft_msg *m)
{
	bool want_pre = r->state == RAFT_PROSPECTIVE;
	if (r->state != RAFT_PROSPECTIVE && r->state != RAFT_CANDIDATE)
		return;
	if (m->u.vote_resp.pre_vote != want_pre || m->error_code != KAFKA_ERR_NONE ||
	    m->correlation_id < r->round_correlation)
		return;
	struct raft_voter *v = raft_voter(r, m->from);
	v->answered = true;
	v->granted |= m->u.vote_resp.vote_granted;
	raft_count_votes(r);
}

/* KAFKA: handleBeginQuorumEpochRequest. The winner of an election
 * announces itself; whoever has not got a leader for it follows. */
static void raft_on_begin_quorum_epoch(struct raft *r, const struct raft_msg *m)
{
	if (m->leader_id != m->from) {
		raft_reply(r, m, RAFT_BEGIN_QUORUM_EPOCH_RESPONSE,
			   KAFKA_ERR_INVALID_REQUEST);
		return;
	}
	if (m->leader_epoch < r->qs.leader_epoch) {
		raft_reply(r, m, RAFT_BEGIN_QUORUM_EPOCH_RESPONSE,
			   KAFKA_ERR_FENCED_LEADER_EPOCH);
		return;
	}
	if (m->leader_epoch > r->qs.leader_epoch || r->state == RAFT_UNATTACHED ||
	    r->state == RAFT_PROSPECTIVE || r->state == RAFT_CANDIDATE)
		raft_become_follower(r, m->leader_epoch, m->leader_id);
	raft_reply(r, m, RAFT_BEGIN_QUORUM_EPOCH_RESPONSE, KAFKA_ERR_NONE);
}

/* KAFKA: handleEndQuorumEpochRequest. Our leader resigned: the n-th
 * preferred successor starts its pre-vote n retry backoffs from now. */
static void raft_on_end_quorum_epoch(struct raft *r, const struct raft_msg *m)
{
	const struct raft_end_quorum_epoch_request *e = &m->u.end_req;
	int16_t err = KAFKA_ERR_NONE;
	if (m->leader_id != m->from || e->n_preferred_successors < 0 ||
	    e->n_preferred_successors > RAFT_MAX_VOTERS)
		err = KAFKA_ERR_INVALID_REQUEST;
	else if (m->leader_epoch < r->qs.leader_epoch)
		err = KAFKA_ERR_FENCED_LEADER_EPOCH;
	else if (m->leader_epoch > r->qs.leader_epoch)
		raft_become_follower(r, m->leader_epoch, m->leader_id);
	if (!err && r->state == RAFT_FOLLOWER && r->qs.leader_id == m->from) {
		int pos = 0;
		while (pos < e->n_preferred_successors &&
		       e->preferred_successors[pos] != r->cfg.node_id)
			pos++;
		int64_t at = r->now_ms + pos * r->cfg.retry_backoff_ms;
		if (at < r->deadline_ms)
			r->deadline_ms = at;
		r->has_fetched = false; /* the leader left: grant pre-votes */
	}
	raft_reply(r, m, RAFT_END_QUORUM_EPOCH_RESPONSE, err);
}

/* Why a Fetch cannot be served here, as a Kafka error code. */
static int16_t raft_fetch_error(const struct raft *r, const struct raft_msg *m)
{
	const struct raft_fetch_request *f = &m->u.fetch_req;
	if (m->leader_epoch < r->qs.leader_epoch)
		return KAFKA_ERR_FENCED_LEADER_EPOCH;
	if (m->leader_epoch > r->qs.leader_epoch)
		return KAFKA_ERR_UNKNOWN_LEADER_EPOCH;
	if (r->state != RAFT_LEADER)
		return KAFKA_ERR_NOT_LEADER_OR_FOLLOWER;
	if (f->fetch_offset < 0 || f->last_fetched_epoch < 0 ||
	    f->last_fetched_epoch > r->qs.leader_epoch ||
	    f->max_bytes < 1)
		return KAFKA_ERR_INVALID_REQUEST;
	return KAFKA_ERR_NONE;
}

/* What a leader answers a Fetch with (KAFKA: ValidOffsetAndEpoch.Kind). */
enum raft_fetch_answer {
	RAFT_ANSWER_RECORDS, RAFT_ANSWER_DIVERGING, RAFT_ANSWER_SNAPSHOT,
	RAFT_ANSWER_NOTHING,
};

/* KAFKA: ReplicatedLog.validateOffsetAndEpoch. The follower's last entry
 * (fetch_offset - 1, last_fetched_epoch) must be on our log, or be the
 * last one our latest snapshot holds; if not, *diverging is where our log
 * ends for that epoch, to truncate to. Below our log start, or diverging
 * at or below it (what we had there is only in the snapshot now), the
 * follower must load our latest snapshot *snap first (KIP-630). */
static enum raft_fetch_answer raft_fetch_check(const struct raft *r,
					       const struct raft_fetch_request *f,
					       struct raft_offset_epoch *diverging,
					       struct raft_offset_epoch *snap)
{
	int64_t start = raft_log_start(r);
	bool has = raft_latest_snapshot(r, snap);
	if (f->fetch_offset == 0 && start == 0)
		return RAFT_ANSWER_RECORDS;
	if (has && f->fetch_offset == snap->offset &&
	    f->last_fetched_epoch == snap->epoch)
		return RAFT_ANSWER_RECORDS;
	if (f->fetch_offset < start)
		return has ? RAFT_ANSWER_SNAPSHOT : RAFT_ANSWER_NOTHING;
	*diverging = raft_end_offset_for_epoch(r, f->last_fetched_epoch);
	if (diverging->epoch == f->last_fetched_epoch &&
	    diverging->offset >= f->fetch_offset)
		return RAFT_ANSWER_RECORDS;
	if (has && start > 0 && diverging->offset <= start)
		return RAFT_ANSWER_SNAPSHOT;
	return RAFT_ANSWER_DIVERGING;
}

/* A follower that fetched counts as alive for check-quorum. */
static void raft_fetched_by(struct raft *r, int32_t id)
{
	if (!raft_is_voter(r, id))
		return; /* observers do not count */
	struct raft_voter *v = raft_voter(r, id);
	v->acked = true;
	v->last_fetch_ms = r->now_ms;
}

/* KAFKA: handleFetchRequest on the leader. A valid fetch_offset tells us
 * how far the follower's log matches ours: count it toward the HW, then
 * send the whole batches that follow it, up to its max_bytes (the first
 * batch always, KIP-74). The bytes go in the response's records_buf. */
static void raft_on_fetch_request(struct raft *r, const struct raft_msg *m)
{
	const struct raft_fetch_request *f = &m->u.fetch_req;
	int16_t err = raft_fetch_error(r, m);
	struct raft_msg *resp = raft_reply(r, m, RAFT_FETCH_RESPONSE, err);
	struct raft_fetch_response *out = &resp->u.fetch_resp;
	struct kb_buf *buf = &raft_tail(r)->records_buf;
	out->high_watermark = -1;
	out->diverging_epoch = (struct raft_offset_epoch){-1, -1};
	out->snapshot_id = (struct raft_offset_epoch){-1, -1};
	if (err != KAFKA_ERR_NONE)
		return;
	struct raft_offset_epoch diverging, snap;
	enum raft_fetch_answer a = raft_fetch_check(r, f, &diverging, &snap);
	if (a == RAFT_ANSWER_DIVERGING)
		out->diverging_epoch = diverging;
	if (a == RAFT_ANSWER_SNAPSHOT) {
		assert(snap.offset <= r->high_watermark); /* INVARIANT 7 */
		out->snapshot_id = snap;
		raft_fetched_by(r, m->from);
	}
	if (a == RAFT_ANSWER_RECORDS) {
		raft_fetched_by(r, m->from);
		if (raft_is_voter(r, m->from)) {
			raft_voter(r, m->from)->end_offset = f->fetch_offset;
			raft_update_high_watermark(r);
		}
		int32_t max = f->max_bytes < RAFT_FETCH_MAX_BYTES ? f->max_bytes
								  : RAFT_FETCH_MAX_BYTES;
		if (f->fetch_offset < r->ops->end_offset(r->log) &&
		    r->ops->read(r->log, f->fetch_offset, max, buf) != KB_OK)
			buf->len = 0; /* nothing this time; the follower asks again */
		out->records = (struct wire_bytes){buf->data, (int32_t)buf->len};
	}
	out->high_watermark = r->high_watermark;
}

/* KAFKA: a follower appends only whole v2 batches that continue its log:
 * a good CRC, baseOffset at our end, epochs that never go down nor pass
 * the leader's. A batch cut short at the end is left out, as Kafka's
 * record iterator does; anything else refuses the whole response.
 * *whole: the bytes of the whole batches. */
static bool raft_fetched_batches_valid(const struct raft *r,
				       const struct raft_msg *m, size_t *whole)
{
	struct wire_bytes rec = m->u.fetch_resp.records;
	struct raft_offset_epoch last = raft_last_offset_epoch(r);
	size_t pos = 0, len = rec.len > 0 ? (size_t)rec.len : 0;
	if (rec.len < -1 || (len > 0 && !rec.p))
		return false;
	while (len - pos >= SEG_LOG_OVERHEAD) {
		uint32_t blen = kb_get_be32(rec.p + pos + SEG_OFF_BATCH_LENGTH);
		uint64_t size = SEG_LOG_OVERHEAD + (uint64_t)blen;
		if (blen < SEG_MIN_BATCH_LENGTH || blen > INT32_MAX)
			return false;
		if (size > len - pos)
			break; /* cut short: left for the next Fetch */
		struct seg_batch b;
		if (seg_batch_validate(rec.p + pos, (size_t)size, &b, NULL) != KB_OK ||
		    b.base_offset != last.offset || b.partition_leader_epoch < last.epoch ||
		    b.partition_leader_epoch > m->leader_epoch)
			return false;
		last.offset = seg_batch_last_offset(&b) + 1;
		last.epoch = b.partition_leader_epoch;
		pos += (size_t)size;
	}
	*whole = pos;
	return true;
}

/* A Fetch response must fit our log: a DivergingEpoch comes without
 * records, records continue our log, the HW is an offset or -1. */
static bool raft_fetch_response_valid(const struct raft *r,
				      const struct raft_msg *m, size_t *whole)
{
	const struct raft_fetch_response *f = &m->u.fetch_resp;
	*whole = 0;
	if (f->high_watermark < -1)
		return false;
	if (f->diverging_epoch.epoch >= 0)
		return f->records.len <= 0 && f->diverging_epoch.offset >= 0 &&
		       f->diverging_epoch.epoch <= m->leader_epoch &&
		       f->snapshot_id.epoch < 0;
	if (f->snapshot_id.epoch >= 0) /* committed, and not behind ours */
		return f->records.len <= 0 && f->snapshot_id.epoch <= m->leader_epoch &&
		       f->snapshot_id.offset >= r->high_watermark &&
		       f->snapshot_id.offset <= f->high_watermark;
	return raft_fetched_batches_valid(r, m, whole);
}

/* KAFKA: ReplicatedLog.truncateToEndOffset. Cut our log where the
 * leader's DivergingEpoch says it and ours part. INVARIANT: never below
 * the high watermark; a leader asking that is refused and logged. */
static bool raft_truncate_diverging(struct raft *r, struct raft_offset_epoch d)
{
	int64_t end = r->ops->end_offset(r->log);
	int64_t to = d.offset < end ? d.offset : end;
	if (d.epoch > 0) {
		int64_t local = raft_end_offset_for_epoch(r, d.epoch).offset;
		if (local < to)
			to = local;
	}
	if (to < r->high_watermark) {
		kb_log(KB_LOG_ERROR, "raft: node %d refuses to truncate to %lld, "
		       "below its high watermark %lld", r->cfg.node_id,
		       (long long)to, (long long)r->high_watermark);
		return false;
	}
	if (to < end)
		r->ops->truncate(r->log, to);
	return true;
}

/* Append the first whole bytes of records, batch by batch, as fetched
 * (offsets and epochs kept); false when the log refused one. */
static bool raft_append_fetched(struct raft *r, const uint8_t *p, size_t whole)
{
	for (size_t pos = 0; pos < whole;) {
		size_t size = SEG_LOG_OVERHEAD +
			      kb_get_be32(p + pos + SEG_OFF_BATCH_LENGTH);
		if (r->ops->append(r->log, p + pos, size) != KB_OK)
			return false;
		pos += size;
	}
	return true;
}

/* KAFKA: handleFetchResponse with a SnapshotId: the leader no longer has
 * what we need; download its snapshot, fetching nothing meanwhile. */
static void raft_fetch_snapshot(struct raft *r, struct raft_offset_epoch id)
{
	r->fetching_snapshot = id;
	struct raft_output *o = raft_push(r);
	o->kind = RAFT_OUT_FETCH_SNAPSHOT;
	o->snapshot_id = id;
	o->snapshot_leader_id = r->qs.leader_id;
}

/* KAFKA: handleFetchResponse on a follower: truncate or append, take the
 * leader's HW (never past our own end), and fetch again. */
static void raft_on_fetch_response(struct raft *r, const struct raft_msg *m)
{
	const struct raft_fetch_response *f = &m->u.fetch_resp;
	size_t whole;
	if (r->state != RAFT_FOLLOWER || m->from != r->qs.leader_id ||
	    m->correlation_id != r->fetch_correlation)
		return;
	r->fetch_correlation = 0;
	r->retry_ms = r->now_ms + r->cfg.retry_backoff_ms;
	if (m->error_code != KAFKA_ERR_NONE && r->observer) {
		raft_observer_refused(r, m);
		return;
	}
	if (m->error_code != KAFKA_ERR_NONE ||
	    !raft_fetch_response_valid(r, m, &whole))
		return;
	r->has_fetched = true;
	r->deadline_ms = r->now_ms + r->cfg.fetch_timeout_ms;
	if (f->diverging_epoch.epoch >= 0) {
		if (raft_truncate_diverging(r, f->diverging_epoch))
			raft_send_fetch(r);
		return;
	}
	if (f->snapshot_id.epoch >= 0) {
		raft_fetch_snapshot(r, f->snapshot_id);
		return;
	}
	bool appended = raft_append_fetched(r, f->records.p, whole);
	int64_t end = r->ops->end_offset(r->log);
	int64_t hw = f->high_watermark < end ? f->high_watermark : end;
	if (hw > r->high_watermark)
		r->high_watermark = hw;
	if (appended && whole > 0)
		raft_send_fetch(r);
}

/* A Fetch answer; an observer still looking for a leader after it
 * (a discovery answer without one) asks the next voter soon. */
static void raft_on_fetch_answer(struct raft *r, const struct raft_msg *m)
{
	bool discovering = r->observer && r->state == RAFT_UNATTACHED;
	if (raft_on_response_epoch(r, m))
		raft_on_fetch_response(r, m);
	if (discovering && r->state == RAFT_UNATTACHED)
		raft_observer_refused(r, m);
}

/* Why a message is refused before its handler: another cluster's request
 * (KAFKA: hasValidClusterId; a null ClusterId passes), a sender outside
 * the voter set (only a Fetch may come from an observer, replica id >= 0),
 * or an epoch so large that no candidate could ever bump it (epochs are
 * int32, KAFKA too). */
static int16_t raft_refusal(const struct raft *r, const struct raft_msg *m,
			    bool request)
{
	if (request && m->cluster_id[0] &&
	    strncmp(m->cluster_id, r->cfg.cluster_id, sizeof m->cluster_id) != 0)
		return KAFKA_ERR_INCONSISTENT_CLUSTER_ID;
	if (!raft_is_voter(r, m->from) &&
	    !(m->type == RAFT_FETCH_REQUEST && m->from >= 0))
		return KAFKA_ERR_INCONSISTENT_VOTER_SET;
	if (m->leader_epoch == INT32_MAX || (m->type == RAFT_VOTE_REQUEST &&
	    m->u.vote_req.candidate_epoch == INT32_MAX))
		return KAFKA_ERR_INVALID_REQUEST;
	return KAFKA_ERR_NONE;
}

/* Route one message. A refused request is answered with the error (its
 * response type follows it in enum raft_msg_type), a refused response
 * dropped; responses are read only once their epoch is dealt with. */
void raft_step(struct raft *r, const struct raft_msg *m)
{
	if (m->to != r->cfg.node_id || m->from == r->cfg.node_id)
		return;
	bool request = m->type == RAFT_VOTE_REQUEST ||
		       m->type == RAFT_FETCH_REQUEST ||
		       m->type == RAFT_BEGIN_QUORUM_EPOCH_REQUEST ||
		       m->type == RAFT_END_QUORUM_EPOCH_REQUEST;
	int16_t refusal = raft_refusal(r, m, request);
	if (refusal != KAFKA_ERR_NONE) {
		if (request)
			raft_reply(r, m, (enum raft_msg_type)(m->type + 1),
				   refusal);
		return;
	}
	switch (m->type) {
	case RAFT_VOTE_REQUEST:
		raft_on_vote_request(r, m);
		break;
	case RAFT_BEGIN_QUORUM_EPOCH_REQUEST:
		raft_on_begin_quorum_epoch(r, m);
		break;
	case RAFT_END_QUORUM_EPOCH_REQUEST:
		raft_on_end_quorum_epoch(r, m);
		break;
	case RAFT_FETCH_REQUEST:
		raft_on_fetch_request(r, m);
		break;
	case RAFT_VOTE_RESPONSE:
		if (raft_on_response_epoch(r, m))
			raft_on_vote_response(r, m);
		break;
	case RAFT_FETCH_RESPONSE:
		raft_on_fetch_answer(r, m);
		break;
	case RAFT_BEGIN_QUORUM_EPOCH_RESPONSE:
	case RAFT_END_QUORUM_EPOCH_RESPONSE:
		raft_on_response_epoch(r, m);
		break;
	}
}

/* ---- The leader's log ---- */

/* KAFKA: RaftClient.scheduleAppend: the records become one batch in the
 * leader's epoch, each a record with a null key. */
int raft_propose(struct raft *r, const struct raft_record *recs, int n,
		 int64_t *last_offset)
{
	if (r->state != RAFT_LEADER)
		return KB_ERR_AGAIN;
	if (n < 1 || n > RAFT_BATCH_MAX_BYTES / WIRE_RECORD_MIN_SIZE)
		return KB_ERR_INVAL;
	struct wire_record *w = calloc((size_t)n, sizeof *w);
	if (!w)
		return KB_ERR_NOMEM;
	int rc = KB_OK;
	for (int i = 0; i < n && rc == KB_OK; i++) {
		if (recs[i].len > RAFT_BATCH_MAX_BYTES)
			rc = KB_ERR_TOO_LARGE;
		w[i].key.len = -1;
		w[i].value = (struct wire_bytes){recs[i].value, (int32_t)recs[i].len};
		w[i].timestamp = r->now_ms;
	}
	if (rc == KB_OK)
		rc = raft_append_batch(r, w, n, 0, last_offset);
	free(w);
	if (rc == KB_OK)
		raft_update_high_watermark(r);
	/* A leader that cannot write its log cannot lead (a full disk): it
	 * resigns, as raft_become_leader does, so a voter that can takes
	 * over instead of the quorum waiting on us. */
	if (rc == KB_ERR_IO)
		raft_become_resigned(r);
	return rc;
}

/* KAFKA: LeaderChangeMessage v0 (flexible), the value of the control
 * record a leader writes first in its epoch: who leads, the voters, and
 * the voters that granted it their vote. */
static int raft_leader_change_value(const struct raft *r, struct kb_buf *out)
{
	struct wire_writer w;
	int32_t granted = 0;
	wire_writer_init(&w, out, true);
	for (int i = 0; i < r->cfg.n_voters; i++)
		granted += r->voters[i].granted;
	wire_write_i16(&w, 0);               /* Version */
	wire_write_i32(&w, r->cfg.node_id);  /* LeaderId */
	for (int pass = 0; pass < 2; pass++) { /* Voters, GrantingVoters */
		wire_write_array_len(&w, pass ? granted : r->cfg.n_voters);
		for (int i = 0; i < r->cfg.n_voters; i++) {
			if (pass && !r->voters[i].granted)
				continue;
			wire_write_i32(&w, r->voters[i].id); /* VoterId */
			wire_write_tags(&w);
		}
	}
	wire_write_tags(&w);
	return wire_writer_status(&w);
}

/* KAFKA: ControlRecordUtils: a control batch of one record, key
 * {version 0, type 2 = LEADER_CHANGE}, value the LeaderChangeMessage. */
static int raft_append_leader_change(struct raft *r)
{
	static const uint8_t key[4] = {0, 0, 0, RAFT_CONTROL_LEADER_CHANGE};
	struct kb_buf value;
	kb_buf_init(&value);
	int rc = raft_leader_change_value(r, &value);
	struct wire_record rec = {
		.key = {key, sizeof key},
		.value = {value.data, (int32_t)value.len},
		.timestamp = r->now_ms,
	};
	int64_t last;
	if (rc == KB_OK)
		rc = raft_append_batch(r, &rec, 1, SEG_ATTR_CONTROL, &last);
	kb_buf_fini(&value);
	return rc;
}

/* One batch of recs at our log's end, in our epoch, appended durably
 * (KAFKA: BatchAccumulator, then appendAsLeader); *last_offset its last. */
static int raft_append_batch(struct raft *r, const struct wire_record *recs,
			     int32_t n, int16_t attributes, int64_t *last_offset)
{
	struct wire_batch_params bp = {
		.base_offset = r->ops->end_offset(r->log),
		.partition_leader_epoch = r->qs.leader_epoch,
		.attributes = attributes,
		.producer_id = -1, .producer_epoch = -1, .base_sequence = -1,
	};
	struct kb_buf b;
	kb_buf_init(&b);
	int rc = wire_batch_write(&b, &bp, recs, n);
	if (rc == KB_OK && b.len > RAFT_BATCH_MAX_BYTES)
		rc = KB_ERR_TOO_LARGE;
	if (rc == KB_OK)
		rc = r->ops->append(r->log, b.data, b.len);
	kb_buf_fini(&b);
	if (rc == KB_OK)
		*last_offset = bp.base_offset + n - 1;
	return rc;
}

/* KAFKA: LeaderState.maybeUpdateHighWatermark. The HW is the end offset
 * a majority has reached (ours counts), moved only forward and only once
 * it covers our LeaderChange entry (INVARIANT 5): an entry of an older
 * epoch is never committed by counting its replicas alone. */
static void raft_update_high_watermark(struct raft *r)
{
	int64_t ends[RAFT_MAX_VOTERS];
	int n = r->cfg.n_voters;
	for (int i = 0; i < n; i++) {
		int64_t e = r->voters[i].id == r->cfg.node_id
				    ? r->ops->end_offset(r->log)
				    : r->voters[i].end_offset;
		int j = i;
		for (; j > 0 && ends[j - 1] < e; j--)
			ends[j] = ends[j - 1];
		ends[j] = e;
	}
	int64_t majority = ends[n / 2];
	if (majority > r->epoch_start_offset && majority > r->high_watermark)
		r->high_watermark = majority;
}

/* ---- Snapshots (KIP-630) ---- */

/* KAFKA: the follower's snapshot download completed (handleFetchSnapshot-
 * Response, last chunk): truncateFullyAndStartAt, then fetch on from it.
 * The snapshot is committed, so the HW moves to its end. */
int raft_snapshot_loaded(struct raft *r, struct raft_offset_epoch id)
{
	struct raft_offset_epoch want = r->fetching_snapshot;
	if (r->state != RAFT_FOLLOWER || want.offset < 0 ||
	    want.offset != id.offset || want.epoch != id.epoch)
		return KB_ERR_AGAIN;
	if (!r->ops->reset_to_snapshot)
		return KB_ERR_INVAL;
	int rc = r->ops->reset_to_snapshot(r->log, id);
	if (rc != KB_OK)
		return rc;
	r->fetching_snapshot = (struct raft_offset_epoch){-1, -1};
	if (id.offset > r->high_watermark)
		r->high_watermark = id.offset;
	raft_send_fetch(r);
	return KB_OK;
}

/* The download failed: ask the leader again with a Fetch. */
int raft_snapshot_failed(struct raft *r, struct raft_offset_epoch id)
{
	struct raft_offset_epoch want = r->fetching_snapshot;
	if (r->state != RAFT_FOLLOWER || want.offset < 0 ||
	    want.offset != id.offset || want.epoch != id.epoch)
		return KB_ERR_AGAIN;
	r->fetching_snapshot = (struct raft_offset_epoch){-1, -1};
	raft_send_fetch(r);
	return KB_OK;
}

/* Whether a batch of our log ends at offset (its last offset is offset
 * - 1): a follower fetches on from a snapshot's end, and a Fetch answer
 * starts at a batch's base. */
static bool raft_batch_ends_at(const struct raft *r, int64_t offset)
{
	struct kb_buf b;
	struct seg_batch h;
	kb_buf_init(&b);
	bool ends = r->ops->read(r->log, offset - 1, 1, &b) == KB_OK &&
		    seg_batch_decode(b.data, b.len, &h) == KB_OK &&
		    seg_batch_last_offset(&h) == offset - 1;
	kb_buf_fini(&b);
	return ends;
}

/* Whether the entry at id.offset - 1 is on our log in epoch id.epoch:
 * epoch id.epoch ends at or after it and the epochs before it end at or
 * before it. */
static bool raft_snapshot_id_on_log(const struct raft *r, struct raft_offset_epoch id)
{
	if (id.offset <= raft_log_start(r) || id.epoch < 1)
		return false;
	struct raft_offset_epoch upto = raft_end_offset_for_epoch(r, id.epoch);
	struct raft_offset_epoch before = raft_end_offset_for_epoch(r, id.epoch - 1);
	return upto.epoch == id.epoch && upto.offset >= id.offset &&
	       before.offset < id.offset && raft_batch_ends_at(r, id.offset);
}

/* KAFKA: KafkaRaftClient.createSnapshot's checks (the id is committed and
 * on our log); then the log may drop what the snapshot holds. */
int raft_snapshot_taken(struct raft *r, struct raft_offset_epoch id)
{
	if (id.offset < 1 || id.offset > r->high_watermark ||
	    !raft_snapshot_id_on_log(r, id))
		return KB_ERR_INVAL;
	if (r->ops->delete_before)
		return r->ops->delete_before(r->log, id.offset);
	return KB_OK;
}

bool raft_fetching_snapshot(const struct raft *r, struct raft_offset_epoch *id)
{
	*id = r->fetching_snapshot;
	return id->offset >= 0;
}

/* ---- Views and the invariants ---- */

enum raft_state raft_state(const struct raft *r) { return r->state; }
struct raft_quorum_state raft_quorum(const struct raft *r) { return r->qs; }
int64_t raft_high_watermark(const struct raft *r) { return r->high_watermark; }

/* Read-only, for DescribeQuorum (07_quorum_wire.c). */
int raft_voter_at(const struct raft *r, int i, int32_t *id, int64_t *end_offset)
{
	if (i < 0 || i >= r->cfg.n_voters)
		return KB_ERR_RANGE;
	*id = r->voters[i].id;
	*end_offset = r->voters[i].end_offset;
	if (r->state == RAFT_LEADER && *id == r->cfg.node_id)
		*end_offset = r->ops->end_offset(r->log);
	return KB_OK;
}

const char *raft_state_name(enum raft_state s)
{
	static const char *names[] = {"Unattached", "Prospective", "Candidate",
				      "Leader", "Follower", "Resigned"};
	return (unsigned)s < 6 ? names[s] : "?";
}

/* Assert invariants 1-7 of the header on this node. */
void raft_check(const struct raft *r)
{
	const struct raft_quorum_state *q = &r->qs;
	int64_t end = r->ops->end_offset(r->log);
	int32_t self = r->cfg.node_id;
	assert(r->high_watermark >= 0 && r->high_watermark <= end);       /* 1 */
	assert(raft_last_offset_epoch(r).epoch <= q->leader_epoch);       /* 2 */
	assert(q->leader_epoch == r->persisted.leader_epoch &&            /* 3 */
	       q->leader_id == r->persisted.leader_id &&
	       q->voted_id == r->persisted.voted_id);
	bool leads = r->state == RAFT_LEADER || r->state == RAFT_RESIGNED;  /* 4 */
	assert(leads == (q->leader_id == self));
	assert((r->state == RAFT_FOLLOWER) == (q->leader_id != RAFT_NO_ID && !leads));
	assert(r->state != RAFT_CANDIDATE || q->voted_id == self);
	assert(q->voted_id == RAFT_NO_ID || raft_is_voter(r, q->voted_id));
	assert(q->leader_id == RAFT_NO_ID || raft_is_voter(r, q->leader_id));
	assert(!r->observer || ((r->state == RAFT_UNATTACHED ||          /* 6 */
				 r->state == RAFT_FOLLOWER) && q->voted_id == RAFT_NO_ID));
	int64_t start = raft_log_start(r);                                /* 7 */
	struct raft_offset_epoch snap;
	bool has = raft_latest_snapshot(r, &snap);
	assert(start <= r->high_watermark && (start == 0 || has));
	assert(!has || start <= snap.offset);
	assert(r->fetching_snapshot.offset < 0 ||
	       (r->state == RAFT_FOLLOWER &&
		r->fetching_snapshot.offset >= r->high_watermark));
	if (r->state != RAFT_LEADER)
		return;
	assert(!has || snap.offset <= r->high_watermark);
	struct raft_offset_epoch mine = raft_end_offset_for_epoch(r, q->leader_epoch);
	struct raft_offset_epoch before = raft_end_offset_for_epoch(r, q->leader_epoch - 1);
	assert(r->epoch_start_offset < end);                              /* 5 */
	assert(mine.epoch == q->leader_epoch);
	assert(before.offset == r->epoch_start_offset ||
	       r->epoch_start_offset < start); /* its LeaderChange is in a snapshot */
	assert(r->high_watermark == r->hw_at_election ||
	       r->high_watermark > r->epoch_start_offset);
	for (int i = 0; i < r->cfg.n_voters; i++)
		assert(r->voters[i].end_offset <= end);
}

/* ---- Small helpers ---- */

static bool raft_is_voter(const struct raft *r, int32_t id)
{
	for (int i = 0; i < r->cfg.n_voters; i++)
		if (r->cfg.voters[i] == id)
			return true;
	return false;
}

/* The voter's slot; the caller has checked raft_is_voter. */
static struct raft_voter *raft_voter(struct raft *r, int32_t id)
{
	for (int i = 0; i < r->cfg.n_voters; i++)
		if (r->voters[i].id == id)
			return &r->voters[i];
	assert(!"not a voter");
	return NULL;
}

/* KAFKA: QuorumState.randomElectionTimeoutMs: uniform in [T, 2T). */
static int64_t raft_random_timeout(struct raft *r)
{
	uint64_t z = (r->rng += 0x9e3779b97f4a7c15ULL); /* splitmix64 */
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	int64_t t = r->cfg.election_timeout_ms > 0 ? r->cfg.election_timeout_ms : 1;
	return t + (int64_t)(z % (uint64_t)t);
}

/* Our log end offset and the epoch of the last batch (0 when empty); an
 * empty log that starts at our latest snapshot has that snapshot's epoch
 * (KAFKA: KafkaMetadataLog.lastFetchedEpoch). */
static struct raft_offset_epoch raft_last_offset_epoch(const struct raft *r)
{
	return raft_end_offset_for_epoch(r, INT32_MAX);
}

/* The first offset on our log (0 for a log without snapshots). */
static int64_t raft_log_start(const struct raft *r)
{
	return r->ops->start_offset ? r->ops->start_offset(r->log) : 0;
}

/* Our newest snapshot's id into *id; false when there is none. */
static bool raft_latest_snapshot(const struct raft *r, struct raft_offset_epoch *id)
{
	return r->ops->latest_snapshot && r->ops->latest_snapshot(r->log, id) == KB_OK;
}

/* KAFKA: endOffsetForEpoch: the largest epoch <= epoch on our log and the
 * offset where it ends (the log's leader-epoch cache answers). When no
 * epoch <= epoch is left on the log and our latest snapshot ends where the
 * log starts, the snapshot's last entry is the answer (KAFKA:
 * KafkaMetadataLog.endOffsetForEpoch and lastFetchedEpoch). */
static struct raft_offset_epoch raft_end_offset_for_epoch(const struct raft *r,
							   int32_t epoch)
{
	struct raft_offset_epoch e = r->ops->end_offset_for_epoch(r->log, epoch);
	struct raft_offset_epoch snap;
	if (e.epoch == 0 && e.offset == raft_log_start(r) && e.offset > 0 &&
	    raft_latest_snapshot(r, &snap) && snap.offset == e.offset &&
	    snap.epoch <= epoch)
		e.epoch = snap.epoch;
	return e;
}

/* ---- The outbox ---- */

/* INVARIANT 3: every change of the quorum state is queued for
 * persistence, ahead of every message queued after it. */
/* A new, zeroed output at the end of the outbox. */
static struct raft_output *raft_push(struct raft *r)
{
	assert(r->out_len < RAFT_OUTBOX_MAX);
	struct raft_output *o = &r->outbox[(r->out_head + r->out_len++) % RAFT_OUTBOX_MAX];
	memset(o, 0, sizeof *o);
	return o;
}

static void raft_set_quorum(struct raft *r, int32_t epoch, int32_t leader,
			    int32_t voted)
{
	struct raft_quorum_state qs = {epoch, leader, voted};
	if (memcmp(&qs, &r->qs, sizeof qs) == 0)
		return;
	r->qs = r->persisted = qs;
	struct raft_output *o = raft_push(r);
	o->kind = RAFT_OUT_PERSIST;
	o->persist = qs;
}

/* Queue a request carrying our view of the quorum. valid until raft_pop
 * takes it; the caller must drain the outbox after each call (assert). */
static struct raft_msg *raft_send(struct raft *r, enum raft_msg_type type,
				  int32_t to)
{
	struct raft_output *o = raft_push(r);
	o->kind = RAFT_OUT_SEND;
	o->msg.type = type;
	o->msg.from = r->cfg.node_id;
	o->msg.to = to;
	o->msg.correlation_id = r->next_correlation++;
	memcpy(o->msg.cluster_id, r->cfg.cluster_id, sizeof o->msg.cluster_id);
	/* A resigned leader no longer claims the epoch, except in the
	 * EndQuorumEpoch that says so. */
	bool resigned = r->state == RAFT_RESIGNED &&
			type != RAFT_END_QUORUM_EPOCH_REQUEST;
	o->msg.leader_id = resigned ? RAFT_NO_ID : r->qs.leader_id;
	o->msg.leader_epoch = r->qs.leader_epoch;
	return &o->msg;
}

/* Queue the response to req: same correlation id, our view, error. */
static struct raft_msg *raft_reply(struct raft *r, const struct raft_msg *req,
				   enum raft_msg_type type, int16_t error)
{
	struct raft_msg *m = raft_send(r, type, req->from);
	m->correlation_id = req->correlation_id;
	m->cluster_id[0] = '\0'; /* KAFKA: responses carry no ClusterId */
	m->error_code = error;
	return m;
}

/* The output queued last: the one raft_send or raft_reply just filled. */
static struct raft_output *raft_tail(struct raft *r)
{
	return &r->outbox[(r->out_head + r->out_len - 1) % RAFT_OUTBOX_MAX];
}

/* Take the oldest output; false when the outbox is empty. returns owned
 * out->records_buf (raft_output_fini). */
bool raft_pop(struct raft *r, struct raft_output *out)
{
	if (r->out_len == 0)
		return false;
	*out = r->outbox[r->out_head];
	r->out_head = (r->out_head + 1) % RAFT_OUTBOX_MAX;
	r->out_len--;
	return true;
}

/* Free what an output owns: the records of a Fetch response. */
void raft_output_fini(struct raft_output *out)
{
	kb_buf_fini(&out->records_buf);
	if (out->kind == RAFT_OUT_SEND && out->msg.type == RAFT_FETCH_RESPONSE)
		out->msg.u.fetch_resp.records = (struct wire_bytes){NULL, 0};
}
