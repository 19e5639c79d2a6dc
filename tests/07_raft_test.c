/* SPDX-License-Identifier: MIT */
/*
 * Tests for chapter 07's Raft core, chapters/07_raft.c.
 *
 * First, one test per Interface rule, transition and invariant of the
 * header, each driving one or two nodes by hand. Then the chapter's main
 * teaching test: a deterministic simulation of 3 and 5 voters on a fake
 * clock and a fake network that loses, duplicates, delays and reorders
 * messages, partitions the voters, and crashes nodes (losing all but the
 * log and the quorum-state outputs already written) and restarts them;
 * every third seed adds an observer, which must end with the committed
 * prefix too.
 * After every step it checks Election Safety (one leader per epoch), Log
 * Matching (one entry per offset and epoch, with one history before it),
 * that a committed entry is never lost or changed, and that high
 * watermarks never go backwards; after the faults stop, a leader must be
 * elected and commit a new entry within bounded simulated time.
 *
 *   RAFT_SIM_SEEDS=N   run N seeds (default 5000)
 *   RAFT_SIM_SEED=s    run seed s only
 *   RAFT_SIM_TRACE=1   print every event of the seeds run
 *
 * A failing seed prints itself: RAFT_SIM_SEED=s RAFT_SIM_TRACE=1 replays it.
 */
#include "testutil.h"

#include <inttypes.h>
#include <signal.h>

#include "04_codec.h"
#include "07_raft.h"
#include "07_metadata.h"
#include "07_quorum_log.h"
#include "07_quorum_wire.h"
#include "07_snapshot.h"
#include "07_controller.h"

/* ---- An in-memory log, durable by construction ---- */

/* Whole v2 batches back to back, and per offset: where its batch starts,
 * its epoch, and a chained hash of its batch (CRC, epoch, base offset)
 * and of everything before it, so two logs agree up to an offset iff
 * their hashes there are equal. */
struct mlog {
	struct kb_buf bytes;
	size_t *pos;
	int32_t *epoch;
	uint64_t *chain;
	int64_t n, cap;
	/* KIP-630: the batches below start are gone; snap is the latest
	 * snapshot (has_snap), whose image is epoch[] and chain[] below
	 * snap.offset: what a snapshot holds, the state they sum up. */
	int64_t start;
	struct raft_offset_epoch snap;
	bool has_snap;
};

static void sim_on_append(int64_t offset, int32_t epoch, uint64_t chain);

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	h ^= h >> 29;
	return h * 0xbf58476d1ce4e5b9ULL;
}

static int64_t ml_end(void *log) { return ((struct mlog *)log)->n; }

/* The largest epoch <= epoch and where it ends: epochs only grow along
 * the log, so a binary search over the per-offset epochs. */
static struct raft_offset_epoch ml_end_offset_for_epoch(void *log, int32_t epoch)
{
	struct mlog *l = log;
	int64_t lo = l->start, hi = l->n;
	while (lo < hi) {
		int64_t mid = lo + (hi - lo) / 2;
		if (l->epoch[mid] <= epoch)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (struct raft_offset_epoch){lo, lo > l->start ? l->epoch[lo - 1] : 0};
}

static size_t ml_batch_size(const struct mlog *l, size_t pos)
{
	return SEG_LOG_OVERHEAD + kb_get_be32(l->bytes.data + pos + SEG_OFF_BATCH_LENGTH);
}

static int ml_read(void *log, int64_t offset, int32_t max_bytes, struct kb_buf *out)
{
	struct mlog *l = log;
	assert_true(offset >= l->start && offset < l->n);
	size_t start = l->pos[offset], end = start + ml_batch_size(l, start);
	while (end < l->bytes.len &&
	       end + ml_batch_size(l, end) - start <= (size_t)max_bytes)
		end += ml_batch_size(l, end);
	return kb_buf_append(out, l->bytes.data + start, end - start);
}

/* Room for n offsets. */
static void ml_reserve(struct mlog *l, int64_t n)
{
	while (l->cap < n) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->pos = realloc(l->pos, (size_t)l->cap * sizeof *l->pos);
		l->epoch = realloc(l->epoch, (size_t)l->cap * sizeof *l->epoch);
		l->chain = realloc(l->chain, (size_t)l->cap * sizeof *l->chain);
		assert_true(l->pos && l->epoch && l->chain);
	}
}

/* The core hands over only whole, valid batches at our end (asserted). */
static int ml_append(void *log, const uint8_t *batch, size_t len)
{
	struct mlog *l = log;
	struct seg_batch b;
	assert_int_equal(seg_batch_validate(batch, len, &b, NULL), KB_OK);
	assert_int_equal(b.base_offset, l->n);
	assert_true(l->n == 0 || b.partition_leader_epoch >= l->epoch[l->n - 1]);
	int64_t last = seg_batch_last_offset(&b);
	ml_reserve(l, last + 1);
	size_t pos = l->bytes.len;
	assert_int_equal(kb_buf_append(&l->bytes, batch, len), KB_OK);
	for (int64_t o = b.base_offset; o <= last; o++) {
		uint64_t h = mix(o ? l->chain[o - 1] : 0, b.crc);
		h = mix(mix(h, (uint64_t)(uint32_t)b.partition_leader_epoch), (uint64_t)o);
		l->pos[o] = pos;
		l->epoch[o] = b.partition_leader_epoch;
		l->chain[o] = h;
		l->n = o + 1;
		sim_on_append(o, b.partition_leader_epoch, h);
	}
	return KB_OK;
}

/* Remove every batch holding an offset >= end: a cut inside a batch takes
 * the whole batch (KAFKA: LogSegment.truncateTo). */
static int ml_truncate(void *log, int64_t end)
{
	struct mlog *l = log;
	assert_true(end >= l->start && end <= l->n);
	while (end > l->start && end < l->n && l->pos[end] == l->pos[end - 1])
		end--;
	if (end < l->n) {
		l->bytes.len = l->pos[end];
		l->n = end;
	}
	return KB_OK;
}

static int64_t ml_start(void *log) { return ((struct mlog *)log)->start; }

static int ml_latest_snapshot(void *log, struct raft_offset_epoch *id)
{
	struct mlog *l = log;
	if (!l->has_snap)
		return KB_ERR_NOTFOUND;
	*id = l->snap;
	return KB_OK;
}

/* The snapshot id is already ours (its image copied in by the caller):
 * the log starts over, empty, at its end. */
static int ml_reset_to_snapshot(void *log, struct raft_offset_epoch id)
{
	struct mlog *l = log;
	assert_true(l->has_snap && l->snap.offset == id.offset &&
		    l->snap.epoch == id.epoch);
	l->start = l->n = id.offset;
	l->bytes.len = 0;
	return KB_OK;
}

/* Drop the whole batches below offset (a snapshot holds them); the bytes
 * stay in memory, out of reach. */
static int ml_delete_before(void *log, int64_t offset)
{
	struct mlog *l = log;
	assert_true(l->has_snap && offset <= l->snap.offset && offset <= l->n);
	while (offset > l->start && offset < l->n && l->pos[offset] == l->pos[offset - 1])
		offset--;
	if (offset > l->start)
		l->start = offset;
	return KB_OK;
}

static const struct raft_log_ops ml_ops = {
	ml_end, ml_end_offset_for_epoch, ml_read, ml_append, ml_truncate,
	ml_start, ml_latest_snapshot, ml_reset_to_snapshot, ml_delete_before,
};

static void ml_free(struct mlog *l)
{
	kb_buf_fini(&l->bytes);
	free(l->pos);
	free(l->epoch);
	free(l->chain);
	memset(l, 0, sizeof *l);
}

/* The batch holding offset: its header, and whether it is a control batch. */
static struct seg_batch ml_batch(const struct mlog *l, int64_t offset)
{
	struct seg_batch b;
	assert_true(offset >= 0 && offset < l->n);
	assert_int_equal(seg_batch_decode(l->bytes.data + l->pos[offset],
					  l->bytes.len - l->pos[offset], &b), KB_OK);
	return b;
}

/* Append to out n one-record batches from base, of these epochs; the
 * record's value is its offset plus salt. */
static void ut_batches(struct kb_buf *out, int64_t base, const int32_t *epochs,
		       int n, uint8_t salt)
{
	for (int i = 0; i < n; i++) {
		uint8_t v = (uint8_t)(base + i + salt);
		struct wire_record rec = {.key = {NULL, -1}, .value = {&v, 1}};
		struct wire_batch_params bp = {base + i, epochs[i], 0, -1, -1, -1};
		assert_int_equal(wire_batch_write(out, &bp, &rec, 1), KB_OK);
	}
}

/* Append one-record batches of these epochs (value: offset + salt). */
static void ml_fill_salted(struct mlog *l, const int32_t *epochs, int n,
			   uint8_t salt)
{
	struct kb_buf b;
	kb_buf_init(&b);
	ut_batches(&b, l->n, epochs, n, salt);
	for (size_t pos = 0; pos < b.len;) {
		size_t size = SEG_LOG_OVERHEAD + kb_get_be32(b.data + pos + SEG_OFF_BATCH_LENGTH);
		ml_append(l, b.data + pos, size);
		pos += size;
	}
	kb_buf_fini(&b);
}

static void ml_fill(struct mlog *l, const int32_t *epochs, int n)
{
	ml_fill_salted(l, epochs, n, 0);
}

/* How many offsets whole batches in a Fetch response's records hold. */
static int64_t ut_offsets(const struct raft_msg *m)
{
	struct wire_bytes rec = m->u.fetch_resp.records;
	int64_t n = 0;
	for (int32_t pos = 0; pos < rec.len;) {
		struct seg_batch b;
		assert_int_equal(seg_batch_decode(rec.p + pos, (size_t)(rec.len - pos), &b), KB_OK);
		n += b.last_offset_delta + 1;
		pos += (int32_t)seg_batch_size(&b);
	}
	return n;
}

/* Propose one record of text on u's node. */
static int ut_propose(struct raft *r, const char *text, int64_t *last)
{
	struct raft_record rec = {text, strlen(text)};
	return raft_propose(r, &rec, 1, last);
}

/* ---- Driving one node by hand ---- */

#define UT_OUT_MAX 64

struct ut {
	struct raft *r;
	struct mlog log;
	struct raft_output out[UT_OUT_MAX];
	int n_out;
	int64_t now;
};

static struct raft_config ut_config(int32_t id, int n_voters)
{
	struct raft_config c;
	raft_config_defaults(&c);
	strcpy(c.cluster_id, "MkU3OEVBNTcwNTJENDM2Qk");
	c.node_id = id;
	c.n_voters = n_voters;
	for (int i = 0; i < n_voters; i++)
		c.voters[i] = i + 1;
	c.seed = 7;
	c.pre_vote = true; /* the tests below pre-vote unless they say not */
	return c;
}

/* Drain the node's outbox into u->out (replacing what was there). */
static void ut_drain(struct ut *u)
{
	for (int i = 0; i < u->n_out; i++)
		raft_output_fini(&u->out[i]);
	u->n_out = 0;
	while (u->n_out < UT_OUT_MAX && raft_pop(u->r, &u->out[u->n_out]))
		u->n_out++;
	raft_check(u->r);
}

static void ut_open(struct ut *u, int32_t id, int n_voters,
		    const struct raft_quorum_state *qs)
{
	struct raft_config c = ut_config(id, n_voters);
	struct raft_durable d = {&ml_ops, &u->log, qs};
	assert_int_equal(raft_new(&c, &d, u->now, &u->r), KB_OK);
	ut_drain(u);
}

static void ut_close(struct ut *u)
{
	for (int i = 0; i < u->n_out; i++)
		raft_output_fini(&u->out[i]);
	raft_free(u->r);
	ml_free(&u->log);
}

static void ut_tick(struct ut *u, int64_t ms)
{
	u->now += ms;
	raft_tick(u->r, u->now);
	ut_drain(u);
}

static void ut_step(struct ut *u, const struct raft_msg *m)
{
	raft_step(u->r, m);
	ut_drain(u);
}

/* The first queued message of this type to `to` (any when to < 0), or NULL. */
static const struct raft_msg *ut_sent(const struct ut *u, enum raft_msg_type type,
				      int32_t to)
{
	for (int i = 0; i < u->n_out; i++)
		if (u->out[i].kind == RAFT_OUT_SEND && u->out[i].msg.type == type &&
		    (to < 0 || u->out[i].msg.to == to))
			return &u->out[i].msg;
	return NULL;
}

static int ut_count(const struct ut *u, enum raft_output_kind kind)
{
	int n = 0;
	for (int i = 0; i < u->n_out; i++)
		n += u->out[i].kind == kind;
	return n;
}

static struct raft_msg ut_msg(enum raft_msg_type type, int32_t from, int32_t to,
			      int32_t leader_id, int32_t epoch)
{
	struct raft_msg m;
	memset(&m, 0, sizeof m);
	m.type = type;
	m.from = from;
	m.to = to;
	m.correlation_id = 1000;
	m.leader_id = leader_id;
	m.leader_epoch = epoch;
	return m;
}

static struct raft_msg ut_vote(int32_t from, int32_t to, int32_t epoch,
			       int32_t last_epoch, int64_t last_offset, bool pre)
{
	struct raft_msg m = ut_msg(RAFT_VOTE_REQUEST, from, to, RAFT_NO_ID, epoch);
	m.u.vote_req = (struct raft_vote_request){epoch, from, last_epoch,
						  last_offset, pre};
	return m;
}

/* A response to req from its receiver, as that node would answer. */
static struct raft_msg ut_answer(const struct raft_msg *req,
				 enum raft_msg_type type, int32_t leader_id,
				 int32_t epoch)
{
	struct raft_msg m = ut_msg(type, req->to, req->from, leader_id, epoch);
	m.correlation_id = req->correlation_id;
	if (type == RAFT_FETCH_RESPONSE) /* the wire's defaults: none */
		m.u.fetch_resp.snapshot_id = (struct raft_offset_epoch){-1, -1};
	return m;
}

/* Bring node 1 of n to leader in epoch 1 by answering its elections. */
static void ut_make_leader(struct ut *u, int n)
{
	ut_tick(u, 2000);
	assert_int_equal(raft_state(u->r), RAFT_PROSPECTIVE);
	for (int32_t v = 2; v <= n / 2 + 1; v++) {
		const struct raft_msg *req = ut_sent(u, RAFT_VOTE_REQUEST, v);
		struct raft_msg resp = ut_answer(req, RAFT_VOTE_RESPONSE, RAFT_NO_ID,
						 raft_quorum(u->r).leader_epoch);
		resp.u.vote_resp = (struct raft_vote_response){true, true};
		ut_step(u, &resp);
	}
	assert_int_equal(raft_state(u->r), RAFT_CANDIDATE);
	int32_t epoch = raft_quorum(u->r).leader_epoch;
	for (int32_t v = 2; v <= n / 2 + 1; v++) {
		const struct raft_msg *req = ut_sent(u, RAFT_VOTE_REQUEST, v);
		struct raft_msg resp = ut_answer(req, RAFT_VOTE_RESPONSE, RAFT_NO_ID, epoch);
		resp.u.vote_resp = (struct raft_vote_response){true, false};
		ut_step(u, &resp);
	}
	assert_int_equal(raft_state(u->r), RAFT_LEADER);
}

/* A Fetch from follower `from` of the leader u, answered; returns it. */
static struct raft_msg ut_fetch(struct ut *u, int32_t from, int64_t offset,
				int32_t last_epoch)
{
	struct raft_msg m = ut_msg(RAFT_FETCH_REQUEST, from, 1, 1,
				   raft_quorum(u->r).leader_epoch);
	m.u.fetch_req = (struct raft_fetch_request){offset, last_epoch, RAFT_FETCH_MAX_BYTES};
	ut_step(u, &m);
	const struct raft_msg *resp = ut_sent(u, RAFT_FETCH_RESPONSE, from);
	assert_non_null(resp);
	return *resp;
}

/* ---- Lifecycle: a restart resumes from quorum-state ---- */

static void test_raft_new_restarts_from_quorum_state(void **state)
{
	struct ut u = {0};
	struct raft_quorum_state led = {4, 1, 1}, followed = {4, 2, 3},
				 voted = {4, RAFT_NO_ID, 3};
	ut_open(&u, 1, 3, &led); /* we led epoch 4: resigned, tell the others */
	assert_int_equal(raft_state(u.r), RAFT_RESIGNED);
	assert_non_null(ut_sent(&u, RAFT_END_QUORUM_EPOCH_REQUEST, 2));
	raft_free(u.r);
	ut_open(&u, 1, 3, &followed);
	assert_int_equal(raft_state(u.r), RAFT_FOLLOWER);
	assert_non_null(ut_sent(&u, RAFT_FETCH_REQUEST, 2));
	assert_int_equal(raft_quorum(u.r).voted_id, 3); /* the vote is kept */
	raft_free(u.r);
	ut_open(&u, 1, 3, &voted);
	assert_int_equal(raft_state(u.r), RAFT_UNATTACHED);
	assert_int_equal(raft_quorum(u.r).voted_id, 3);
	assert_int_equal(ut_count(&u, RAFT_OUT_PERSIST), 0);
	ut_close(&u);
}

static void test_raft_new_refuses_bad_state(void **state)
{
	struct ut u = {0};
	struct raft_config c = ut_config(9, 3);
	struct raft_quorum_state stranger = {4, 7, RAFT_NO_ID}, old = {1, 2, 2};
	struct raft_durable d = {&ml_ops, &u.log, NULL};
	struct raft_quorum_state voted = {2, RAFT_NO_ID, 1};
	d.quorum = &voted; /* an observer (9 is no voter) never votes */
	assert_int_equal(raft_new(&c, &d, 0, &u.r), KB_ERR_CORRUPT);
	c = ut_config(1, 3);
	d.quorum = &stranger;
	assert_int_equal(raft_new(&c, &d, 0, &u.r), KB_ERR_CORRUPT);
	const int32_t epochs[] = {1, 3};
	ml_fill(&u.log, epochs, 2); /* INVARIANT 2: epoch 3 in a log of epoch 1 */
	d.quorum = &old;
	assert_int_equal(raft_new(&c, &d, 0, &u.r), KB_ERR_CORRUPT);
	ml_free(&u.log);
}

/* ---- Elections ---- */

static void test_raft_election_timeout_starts_pre_vote(void **state)
{
	struct ut u = {0};
	ut_open(&u, 1, 3, NULL);
	ut_tick(&u, 999); /* KAFKA: election timeout is random in [1000, 2000) */
	assert_int_equal(raft_state(u.r), RAFT_UNATTACHED);
	ut_tick(&u, 1001);
	assert_int_equal(raft_state(u.r), RAFT_PROSPECTIVE);
	const struct raft_msg *m = ut_sent(&u, RAFT_VOTE_REQUEST, 2);
	assert_non_null(m);
	assert_true(m->u.vote_req.pre_vote);
	assert_int_equal(m->u.vote_req.candidate_epoch, 0); /* not bumped */
	assert_non_null(ut_sent(&u, RAFT_VOTE_REQUEST, 3));
	assert_int_equal(ut_count(&u, RAFT_OUT_PERSIST), 0);
	ut_close(&u);
}

static void test_raft_pre_vote_majority_becomes_candidate(void **state)
{
	struct ut u = {0};
	ut_open(&u, 1, 3, NULL);
	ut_tick(&u, 2000);
	struct raft_msg resp = ut_answer(ut_sent(&u, RAFT_VOTE_REQUEST, 2),
					 RAFT_VOTE_RESPONSE, RAFT_NO_ID, 0);
	resp.u.vote_resp = (struct raft_vote_response){true, true};
	ut_step(&u, &resp);
	assert_int_equal(raft_state(u.r), RAFT_CANDIDATE);
	/* Persist then send: epoch 1 and the vote for ourselves come first. */
	assert_int_equal(u.out[0].kind, RAFT_OUT_PERSIST);
	assert_int_equal(u.out[0].persist.leader_epoch, 1);
	assert_int_equal(u.out[0].persist.voted_id, 1);
	const struct raft_msg *v = ut_sent(&u, RAFT_VOTE_REQUEST, 3);
	assert_false(v->u.vote_req.pre_vote);
	assert_int_equal(v->u.vote_req.candidate_epoch, 1);
	ut_close(&u);
}

static void test_raft_candidate_timeout_returns_to_prospective(void **state)
{
	struct ut u = {0};
	ut_open(&u, 1, 3, NULL);
	ut_tick(&u, 2000);
	struct raft_msg resp = ut_answer(ut_sent(&u, RAFT_VOTE_REQUEST, 2),
					 RAFT_VOTE_RESPONSE, RAFT_NO_ID, 0);
	resp.u.vote_resp = (struct raft_vote_response){true, true};
	ut_step(&u, &resp);
	ut_tick(&u, 2000);
	assert_int_equal(raft_state(u.r), RAFT_PROSPECTIVE);
	assert_int_equal(raft_quorum(u.r).leader_epoch, 1);
	assert_int_equal(raft_quorum(u.r).voted_id, 1); /* still its vote */
	ut_close(&u);
}

/* pre_vote false (true is the default): KRaft before KIP-996. The timer makes an
 * Unattached node a Candidate at once: epoch bumped and our vote persisted
 * before the real Vote requests leave; no Prospective state. */
static void test_raft_no_pre_vote_timeout_becomes_candidate(void **state)
{
	struct ut u = {0};
	struct raft_config c;
	raft_config_defaults(&c);
	assert_true(c.pre_vote); /* KAFKA 4.0 */
	c = ut_config(1, 3);
	c.pre_vote = false;
	struct raft_durable d = {&ml_ops, &u.log, NULL};
	assert_int_equal(raft_new(&c, &d, u.now, &u.r), KB_OK);
	ut_drain(&u);
	ut_tick(&u, 2000);
	assert_int_equal(raft_state(u.r), RAFT_CANDIDATE);
	assert_int_equal(u.out[0].kind, RAFT_OUT_PERSIST);
	assert_int_equal(u.out[0].persist.leader_epoch, 1);
	assert_int_equal(u.out[0].persist.voted_id, 1);
	const struct raft_msg *v = ut_sent(&u, RAFT_VOTE_REQUEST, 2);
	assert_non_null(v);
	assert_false(v->u.vote_req.pre_vote);
	assert_int_equal(v->u.vote_req.candidate_epoch, 1);
	/* A Candidate that times out tries again in a newer epoch. */
	ut_tick(&u, 2000);
	assert_int_equal(raft_state(u.r), RAFT_CANDIDATE);
	assert_int_equal(raft_quorum(u.r).leader_epoch, 2);
	assert_int_equal(raft_quorum(u.r).voted_id, 1);
	ut_close(&u);
}

static void test_raft_vote_persisted_before_sent(void **state)
{
	struct ut u = {0};
	ut_open(&u, 1, 3, NULL);
	struct raft_msg v = ut_vote(2, 1, 5, 0, 0, false);
	ut_step(&u, &v);
	int last_persist = -1, resp = -1;
	for (int i = 0; i < u.n_out; i++) {
		if (u.out[i].kind == RAFT_OUT_PERSIST)
			last_persist = i;
		else if (u.out[i].msg.type == RAFT_VOTE_RESPONSE)
			resp = i;
	}
	assert_true(last_persist >= 0 && resp > last_persist);
	assert_int_equal(u.out[last_persist].persist.leader_epoch, 5);
	assert_int_equal(u.out[last_persist].persist.voted_id, 2);
	assert_true(u.out[resp].msg.u.vote_resp.vote_granted);
	ut_close(&u);
}

static void test_raft_vote_granted_once_per_epoch(void **state)
{
	struct ut u = {0};
	ut_open(&u, 1, 3, NULL);
	struct raft_msg a = ut_vote(2, 1, 5, 0, 0, false), b = ut_vote(3, 1, 5, 0, 0, false);
	ut_step(&u, &a);
	ut_step(&u, &b);
	assert_false(ut_sent(&u, RAFT_VOTE_RESPONSE, 3)->u.vote_resp.vote_granted);
	ut_step(&u, &a); /* a duplicate of the first: same answer, no new write */
	assert_true(ut_sent(&u, RAFT_VOTE_RESPONSE, 2)->u.vote_resp.vote_granted);
	assert_int_equal(ut_count(&u, RAFT_OUT_PERSIST), 0);
	struct raft_msg c = ut_vote(3, 1, 6, 0, 0, false); /* a new epoch: a new vote */
	ut_step(&u, &c);
	assert_true(ut_sent(&u, RAFT_VOTE_RESPONSE, 3)->u.vote_resp.vote_granted);
	ut_close(&u);
}

static void test_raft_vote_rejects_stale_log(void **state)
{
	struct ut u = {0};
	const int32_t epochs[] = {1, 1, 2};
	ml_fill(&u.log, epochs, 3);
	struct raft_quorum_state qs = {2, RAFT_NO_ID, RAFT_NO_ID};
	ut_open(&u, 1, 3, &qs);
	struct raft_msg older = ut_vote(2, 1, 3, 1, 9, false); /* older last epoch */
	ut_step(&u, &older);
	assert_false(ut_sent(&u, RAFT_VOTE_RESPONSE, 2)->u.vote_resp.vote_granted);
	struct raft_msg shorter = ut_vote(3, 1, 3, 2, 2, false); /* same epoch, shorter */
	ut_step(&u, &shorter);
	assert_false(ut_sent(&u, RAFT_VOTE_RESPONSE, 3)->u.vote_resp.vote_granted);
	struct raft_msg equal = ut_vote(3, 1, 3, 2, 3, false);
	ut_step(&u, &equal);
	assert_true(ut_sent(&u, RAFT_VOTE_RESPONSE, 3)->u.vote_resp.vote_granted);
	ut_close(&u);
}

static void test_raft_pre_vote_changes_nothing(void **state)
{
	struct ut u = {0};
	ut_open(&u, 1, 3, NULL);
	struct raft_msg pv = ut_vote(2, 1, 4, 0, 0, true);
	ut_step(&u, &pv);
	const struct raft_msg *resp = ut_sent(&u, RAFT_VOTE_RESPONSE, 2);
	assert_true(resp->u.vote_resp.vote_granted);
	assert_true(resp->u.vote_resp.pre_vote);
	assert_int_equal(ut_count(&u, RAFT_OUT_PERSIST), 0);
	assert_int_equal(raft_quorum(u.r).leader_epoch, 0);
	assert_int_equal(raft_quorum(u.r).voted_id, RAFT_NO_ID);
	ut_close(&u);
}

static void test_raft_follower_rejects_pre_vote_while_leader_alive(void **state)
{
	struct ut u = {0};
	struct raft_quorum_state qs = {3, 2, RAFT_NO_ID};
	ut_open(&u, 1, 3, &qs);
	struct raft_msg fetch = *ut_sent(&u, RAFT_FETCH_REQUEST, 2);
	struct raft_msg resp = ut_answer(&fetch, RAFT_FETCH_RESPONSE, 2, 3);
	resp.u.fetch_resp.high_watermark = 0;
	resp.u.fetch_resp.diverging_epoch.epoch = -1;
	ut_step(&u, &resp);
	struct raft_msg pv = ut_vote(3, 1, 3, 0, 0, true);
	ut_step(&u, &pv);
	assert_false(ut_sent(&u, RAFT_VOTE_RESPONSE, 3)->u.vote_resp.vote_granted);
	ut_close(&u);
}

static void test_raft_candidate_wins_and_appends_leader_change(void **state)
{
	struct ut u = {0};
	ut_open(&u, 1, 3, NULL);
	ut_make_leader(&u, 3);
	struct raft_quorum_state q = raft_quorum(u.r);
	assert_int_equal(q.leader_id, 1);
	assert_int_equal(q.leader_epoch, 1);
	assert_int_equal(u.log.n, 1); /* KAFKA: the LeaderChange control batch */
	assert_true(ml_batch(&u.log, 0).attributes & SEG_ATTR_CONTROL);
	assert_int_equal(ml_batch(&u.log, 0).partition_leader_epoch, 1);
	assert_non_null(ut_sent(&u, RAFT_BEGIN_QUORUM_EPOCH_REQUEST, 2));
	assert_non_null(ut_sent(&u, RAFT_BEGIN_QUORUM_EPOCH_REQUEST, 3));
	int64_t off;
	assert_int_equal(ut_propose(u.r, "x", &off), KB_OK);
	assert_int_equal(off, 1);
	ut_close(&u);
}

static void test_raft_single_voter_leads_alone(void **state)
{
	struct ut u = {0};
	ut_open(&u, 1, 1, NULL); /* KAFKA: no election timeout to wait out */
	assert_int_equal(raft_state(u.r), RAFT_LEADER);
	assert_int_equal(raft_quorum(u.r).leader_epoch, 1);
	ut_tick(&u, 2000);
	assert_int_equal(raft_state(u.r), RAFT_LEADER);
	int64_t off;
	assert_int_equal(ut_propose(u.r, "solo", &off), KB_OK);
	ut_drain(&u);
	assert_int_equal(raft_high_watermark(u.r), off + 1);
	ut_close(&u);
}

/* ---- Epochs: newer wins, older is fenced ---- */

static void test_raft_higher_epoch_steps_down(void **state)
{
	struct ut u = {0};
	ut_open(&u, 1, 3, NULL);
	ut_make_leader(&u, 3);
	struct raft_msg begin = ut_msg(RAFT_BEGIN_QUORUM_EPOCH_REQUEST, 3, 1, 3, 7);
	ut_step(&u, &begin);
	assert_int_equal(raft_state(u.r), RAFT_FOLLOWER);
	assert_int_equal(raft_quorum(u.r).leader_id, 3);
	assert_int_equal(raft_quorum(u.r).voted_id, RAFT_NO_ID);
	assert_int_equal(u.out[0].kind, RAFT_OUT_PERSIST);
	assert_int_equal(ut_propose(u.r, "x", &(int64_t){0}), KB_ERR_AGAIN);
	/* A response with a newer epoch and no leader: unattached there. */
	struct raft_msg resp = ut_answer(ut_sent(&u, RAFT_FETCH_REQUEST, 3),
					 RAFT_FETCH_RESPONSE, RAFT_NO_ID, 9);
	resp.u.fetch_resp.diverging_epoch.epoch = -1;
	ut_step(&u, &resp);
	assert_int_equal(raft_state(u.r), RAFT_UNATTACHED);
	assert_int_equal(raft_quorum(u.r).leader_epoch, 9);
	ut_close(&u);
}

static void test_raft_stale_epoch_request_fenced(void **state)
{
	struct ut u = {0};
	struct raft_quorum_state qs = {5, 2, RAFT_NO_ID};
	ut_open(&u, 1, 3, &qs);
	struct raft_msg begin = ut_msg(RAFT_BEGIN_QUORUM_EPOCH_REQUEST, 3, 1, 3, 4);
	ut_step(&u, &begin);
	const struct raft_msg *r = ut_sent(&u, RAFT_BEGIN_QUORUM_EPOCH_RESPONSE, 3);
	assert_int_equal(r->error_code, KAFKA_ERR_FENCED_LEADER_EPOCH);
	assert_int_equal(r->leader_epoch, 5);
	assert_int_equal(r->leader_id, 2);
	struct raft_msg v = ut_vote(3, 1, 4, 0, 0, false);
	ut_step(&u, &v);
	r = ut_sent(&u, RAFT_VOTE_RESPONSE, 3);
	assert_int_equal(r->error_code, KAFKA_ERR_FENCED_LEADER_EPOCH);
	assert_false(r->u.vote_resp.vote_granted);
	assert_int_equal(raft_quorum(u.r).leader_id, 2);
	ut_close(&u);
}

/* ---- Replication by Fetch and the high watermark ---- */

static void test_raft_fetch_advances_high_watermark_on_majority(void **state)
{
	struct ut u = {0};
	ut_open(&u, 1, 3, NULL);
	ut_make_leader(&u, 3);
	int64_t off;
	ut_propose(u.r, "a", &off);
	ut_propose(u.r, "b", &off);
	ut_drain(&u);
	assert_int_equal(raft_high_watermark(u.r), 0);
	struct raft_msg r = ut_fetch(&u, 2, 0, 0);
	assert_int_equal(ut_offsets(&r), 3);
	assert_int_equal(raft_high_watermark(u.r), 0); /* node 2 has nothing yet */
	r = ut_fetch(&u, 2, 2, 1);
	assert_int_equal(raft_high_watermark(u.r), 2); /* 1 and 2 have [0, 2) */
	assert_int_equal(r.u.fetch_resp.high_watermark, 2);
	r = ut_fetch(&u, 3, 3, 1);
	assert_int_equal(raft_high_watermark(u.r), 3);
	r = ut_fetch(&u, 2, 1, 1); /* an old, late fetch: HW never goes back */
	assert_int_equal(raft_high_watermark(u.r), 3);
	ut_close(&u);
}

static void test_raft_hw_waits_for_own_epoch_entry(void **state)
{
	/* Node 1 has entries of epoch 1 that were never committed, wins epoch
	 * 3; a follower holding the same old entries is no majority for them
	 * until it also has the LeaderChange entry of epoch 3 (INVARIANT 5). */
	struct ut u = {0};
	const int32_t epochs[] = {1, 1, 1};
	ml_fill(&u.log, epochs, 3);
	struct raft_quorum_state qs = {2, RAFT_NO_ID, RAFT_NO_ID};
	ut_open(&u, 1, 3, &qs);
	ut_make_leader(&u, 3);
	assert_int_equal(raft_quorum(u.r).leader_epoch, 3);
	ut_fetch(&u, 2, 3, 1);
	assert_int_equal(raft_high_watermark(u.r), 0);
	ut_fetch(&u, 2, 4, 3);
	assert_int_equal(raft_high_watermark(u.r), 4);
	ut_close(&u);
}

static void test_raft_follower_appends_and_takes_hw(void **state)
{
	struct ut u = {0};
	struct raft_quorum_state qs = {2, 2, RAFT_NO_ID};
	ut_open(&u, 1, 3, &qs);
	struct raft_msg fetch = *ut_sent(&u, RAFT_FETCH_REQUEST, 2);
	assert_int_equal(fetch.u.fetch_req.fetch_offset, 0);
	struct raft_msg resp = ut_answer(&fetch, RAFT_FETCH_RESPONSE, 2, 2);
	struct raft_fetch_response *f = &resp.u.fetch_resp;
	f->high_watermark = 5; /* more than we will have: clamp to our end */
	f->diverging_epoch.epoch = -1;
	struct kb_buf b;
	kb_buf_init(&b);
	ut_batches(&b, 0, (const int32_t[]){1, 2}, 2, 0);
	f->records = (struct wire_bytes){b.data, (int32_t)b.len};
	ut_step(&u, &resp);
	assert_int_equal(u.log.n, 2);
	assert_int_equal(raft_high_watermark(u.r), 2);
	fetch = *ut_sent(&u, RAFT_FETCH_REQUEST, 2); /* and at once the next */
	assert_int_equal(fetch.u.fetch_req.fetch_offset, 2);
	assert_int_equal(fetch.u.fetch_req.last_fetched_epoch, 2);
	ut_step(&u, &resp); /* a duplicate of the old response: ignored */
	assert_int_equal(u.log.n, 2);
	kb_buf_fini(&b);
	ut_close(&u);
}

/* ---- DivergingEpoch: where a follower's log and the leader's part ---- */

/* A leader in epoch 4 whose log holds epochs 1 1 2 2 4. */
static void ut_leader_1_1_2_2(struct ut *u)
{
	const int32_t epochs[] = {1, 1, 2, 2};
	ml_fill(&u->log, epochs, 4);
	struct raft_quorum_state qs = {3, RAFT_NO_ID, RAFT_NO_ID};
	ut_open(u, 1, 3, &qs);
	ut_make_leader(u, 3);
	assert_int_equal(raft_quorum(u->r).leader_epoch, 4);
}

static void test_raft_diverging_epoch_from_leader(void **state)
{
	struct ut u = {0};
	ut_leader_1_1_2_2(&u);
	struct {
		int64_t fetch_offset;
		int32_t last_fetched_epoch;
		int64_t diverging_offset; /* -1: valid */
		int32_t diverging_epoch;
	} cases[] = {
		{0, 0, -1, -1}, /* an empty log always matches */
		{2, 1, -1, -1}, /* a prefix of ours */
		{4, 2, -1, -1},
		{5, 4, -1, -1}, /* all of it */
		{5, 3, 4, 2},   /* epoch 3 is not ours: ours before it ends at 4 */
		{6, 2, 4, 2},   /* longer than our epoch 2 */
		{3, 0, 0, 0},   /* epoch 0 with entries: nothing matches */
		{7, 4, 5, 4},   /* past our end in our own epoch */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct raft_msg r = ut_fetch(&u, 2, cases[i].fetch_offset,
					     cases[i].last_fetched_epoch);
		assert_int_equal(r.error_code, KAFKA_ERR_NONE);
		assert_int_equal(r.u.fetch_resp.diverging_epoch.offset,
				 cases[i].diverging_offset);
		assert_int_equal(r.u.fetch_resp.diverging_epoch.epoch,
				 cases[i].diverging_epoch);
		if (cases[i].diverging_offset >= 0)
			assert_int_equal(ut_offsets(&r), 0);
		else
			assert_int_equal(ut_offsets(&r), 5 - cases[i].fetch_offset);
	}
	ut_close(&u);
}

/* Follower f (node 2) fetches from leader u until a fetch is valid; returns
 * the number of round trips. Every response goes through f's checks. */
static int ut_converge(struct ut *leader, struct ut *f)
{
	for (int trips = 1; trips < 10; trips++) {
		const struct raft_msg *req = ut_sent(f, RAFT_FETCH_REQUEST, 1);
		assert_non_null(req);
		struct raft_msg fetch = *req;
		ut_step(leader, &fetch);
		struct raft_msg resp = *ut_sent(leader, RAFT_FETCH_RESPONSE, 2);
		ut_step(f, &resp);
		if (resp.u.fetch_resp.diverging_epoch.epoch < 0 &&
		    ut_offsets(&resp) == 0)
			return trips;
	}
	fail_msg("no convergence");
	return -1;
}

static void test_raft_follower_truncates_to_diverging_epoch(void **state)
{
	struct ut u = {0}, f = {0};
	ut_leader_1_1_2_2(&u);
	const int32_t mine[] = {1, 1, 2, 3, 3, 3};
	ml_fill(&f.log, mine, 6);
	struct raft_quorum_state qs = {4, 1, RAFT_NO_ID};
	ut_open(&f, 2, 3, &qs);
	int trips = ut_converge(&u, &f);
	/* (6, 3) diverges at (4, 2): our epoch 2 ends at 3, cut there, then
	 * fetch (3, 2) is valid and brings offsets 3 and 4. */
	assert_int_equal(trips, 3);
	assert_int_equal(f.log.n, u.log.n);
	assert_memory_equal(f.log.chain, u.log.chain, (size_t)u.log.n * sizeof(uint64_t));
	ut_close(&f);
	ut_close(&u);
}

static void test_raft_follower_longer_in_same_epoch_truncates(void **state)
{
	struct ut u = {0}, f = {0};
	ut_leader_1_1_2_2(&u);
	const int32_t mine[] = {1, 1, 2, 2}, more[] = {2, 2, 2};
	ml_fill(&f.log, mine, 4);
	ml_fill_salted(&f.log, more, 3, 'z'); /* epoch-2 batches the leader never had */
	struct raft_quorum_state qs = {4, 1, RAFT_NO_ID};
	ut_open(&f, 2, 3, &qs);
	ut_converge(&u, &f);
	assert_int_equal(f.log.n, 5);
	assert_int_equal(f.log.epoch[4], 4);
	assert_memory_equal(f.log.chain, u.log.chain, 5 * sizeof(uint64_t));
	ut_close(&f);
	ut_close(&u);
}

static void test_raft_follower_never_truncates_below_hw(void **state)
{
	struct ut f = {0};
	struct raft_quorum_state qs = {3, 2, RAFT_NO_ID};
	ut_open(&f, 1, 3, &qs);
	struct raft_msg resp = ut_answer(ut_sent(&f, RAFT_FETCH_REQUEST, 2),
					 RAFT_FETCH_RESPONSE, 2, 3);
	resp.u.fetch_resp.diverging_epoch.epoch = -1;
	resp.u.fetch_resp.high_watermark = 3;
	struct kb_buf b;
	kb_buf_init(&b);
	ut_batches(&b, 0, (const int32_t[]){1, 1, 1}, 3, 0);
	resp.u.fetch_resp.records = (struct wire_bytes){b.data, (int32_t)b.len};
	ut_step(&f, &resp);
	kb_buf_fini(&b);
	assert_int_equal(raft_high_watermark(f.r), 3);
	/* A (broken) leader says we diverge at 1: committed entries stay. */
	resp = ut_answer(ut_sent(&f, RAFT_FETCH_REQUEST, 2), RAFT_FETCH_RESPONSE, 2, 3);
	resp.u.fetch_resp.diverging_epoch = (struct raft_offset_epoch){1, 1};
	struct tu_log_capture cap;
	tu_log_capture_start(&cap);
	ut_step(&f, &resp);
	tu_log_capture_stop();
	assert_int_equal(f.log.n, 3);
	assert_non_null(strstr(cap.text, "below its high watermark"));
	ut_close(&f);
}

/* ---- Timers: fetch timeout, resignation, check-quorum ---- */

static void test_raft_fetch_timeout_starts_pre_vote(void **state)
{
	struct ut u = {0};
	struct raft_quorum_state qs = {3, 2, RAFT_NO_ID};
	ut_open(&u, 1, 3, &qs);
	ut_tick(&u, 1999); /* KAFKA: controller.quorum.fetch.timeout.ms */
	assert_int_equal(raft_state(u.r), RAFT_FOLLOWER);
	ut_tick(&u, 1);
	assert_int_equal(raft_state(u.r), RAFT_PROSPECTIVE);
	assert_int_equal(raft_quorum(u.r).leader_id, RAFT_NO_ID);
	assert_int_equal(raft_quorum(u.r).leader_epoch, 3);
	assert_true(ut_sent(&u, RAFT_VOTE_REQUEST, 3)->u.vote_req.pre_vote);
	ut_close(&u);
}

static void test_raft_resign_sends_end_quorum_epoch(void **state)
{
	struct ut u = {0}, f = {0};
	ut_open(&u, 1, 3, NULL);
	ut_make_leader(&u, 3);
	ut_fetch(&u, 3, 1, 1); /* node 3 is further along than node 2 */
	assert_int_equal(raft_resign(u.r), KB_OK);
	ut_drain(&u);
	assert_int_equal(raft_state(u.r), RAFT_RESIGNED);
	const struct raft_msg *end = ut_sent(&u, RAFT_END_QUORUM_EPOCH_REQUEST, 2);
	assert_int_equal(end->u.end_req.n_preferred_successors, 2);
	assert_int_equal(end->u.end_req.preferred_successors[0], 3);
	assert_int_equal(raft_resign(u.r), KB_ERR_AGAIN);
	assert_int_equal(ut_propose(u.r, "x", &(int64_t){0}), KB_ERR_AGAIN);
	/* Node 2 follows node 1 in epoch 1; as second successor it starts a
	 * pre-vote one retry backoff later, long before its fetch timeout. */
	struct raft_quorum_state qs = {1, 1, 1};
	ut_open(&f, 2, 3, &qs);
	struct raft_msg m = *end;
	ut_step(&f, &m);
	ut_tick(&f, 19);
	assert_int_equal(raft_state(f.r), RAFT_FOLLOWER);
	ut_tick(&f, 1);
	assert_int_equal(raft_state(f.r), RAFT_PROSPECTIVE);
	ut_close(&f);
	ut_close(&u);
}

static void test_raft_check_quorum_resigns_isolated_leader(void **state)
{
	struct ut u = {0};
	ut_open(&u, 1, 3, NULL);
	ut_make_leader(&u, 3);
	for (int i = 0; i < 5; i++) {
		ut_tick(&u, 500);
		ut_fetch(&u, 2, 1, 1); /* one follower fetches: a majority */
	}
	assert_int_equal(raft_state(u.r), RAFT_LEADER);
	ut_tick(&u, 3000); /* nobody for 1.5 x fetch timeout */
	assert_int_equal(raft_state(u.r), RAFT_RESIGNED);
	assert_non_null(ut_sent(&u, RAFT_END_QUORUM_EPOCH_REQUEST, 2));
	ut_close(&u);
}

static void test_raft_resigned_times_out_to_prospective(void **state)
{
	struct ut u = {0};
	struct raft_quorum_state led = {4, 1, 1};
	ut_open(&u, 1, 3, &led);
	assert_int_equal(raft_state(u.r), RAFT_RESIGNED);
	struct raft_msg pv = ut_vote(2, 1, 4, 0, 0, true); /* grants successors */
	ut_step(&u, &pv);
	const struct raft_msg *resp = ut_sent(&u, RAFT_VOTE_RESPONSE, 2);
	assert_true(resp->u.vote_resp.vote_granted);
	assert_int_equal(resp->leader_id, RAFT_NO_ID); /* no longer claims it */
	ut_tick(&u, 2000);
	assert_int_equal(raft_state(u.r), RAFT_PROSPECTIVE);
	assert_int_equal(raft_quorum(u.r).leader_id, RAFT_NO_ID);
	assert_int_equal(raft_quorum(u.r).leader_epoch, 4);
	ut_close(&u);
}

static void test_raft_prospective_follows_leader_that_answers(void **state)
{
	/* Node 1 gave up on leader 2 of epoch 3. Node 3, still following 2,
	 * refuses the pre-vote: no news, node 1 stays prospective. Node 2
	 * answering itself is news: node 1 follows it again. */
	struct ut u = {0};
	struct raft_quorum_state qs = {3, 2, RAFT_NO_ID};
	ut_open(&u, 1, 3, &qs);
	ut_tick(&u, 2000);
	assert_int_equal(raft_state(u.r), RAFT_PROSPECTIVE);
	struct raft_msg no = ut_answer(ut_sent(&u, RAFT_VOTE_REQUEST, 3),
				       RAFT_VOTE_RESPONSE, 2, 3);
	struct raft_msg leader = ut_answer(ut_sent(&u, RAFT_VOTE_REQUEST, 2),
					   RAFT_VOTE_RESPONSE, 2, 3);
	no.u.vote_resp = (struct raft_vote_response){false, true};
	leader.u.vote_resp = no.u.vote_resp;
	ut_step(&u, &no);
	assert_int_equal(raft_state(u.r), RAFT_PROSPECTIVE);
	ut_step(&u, &leader);
	assert_int_equal(raft_state(u.r), RAFT_FOLLOWER);
	assert_int_equal(raft_quorum(u.r).leader_id, 2);
	ut_close(&u);
}

/* ---- Bad input: answered with Kafka's error codes, never a crash ---- */

static void test_raft_bad_input_refused(void **state)
{
	struct ut u = {0};
	ut_open(&u, 1, 3, NULL);
	ut_make_leader(&u, 3);
	struct raft_msg v = ut_vote(2, 1, 9, 0, 0, false);
	v.u.vote_req.candidate_id = 3; /* not the sender */
	ut_step(&u, &v);
	assert_int_equal(ut_sent(&u, RAFT_VOTE_RESPONSE, 2)->error_code,
			 KAFKA_ERR_INVALID_REQUEST);
	assert_int_equal(raft_state(u.r), RAFT_LEADER);
	v = ut_vote(3, 1, 9, 0, 0, false);
	strcpy(v.cluster_id, "QW5vdGhlckNsdXN0ZXJJZA"); /* another cluster */
	ut_step(&u, &v);
	assert_int_equal(ut_sent(&u, RAFT_VOTE_RESPONSE, 3)->error_code,
			 KAFKA_ERR_INCONSISTENT_CLUSTER_ID);
	strcpy(v.cluster_id, "MkU3OEVBNTcwNTJENDM2Qk"); /* ours: not refused */
	v.u.vote_req.candidate_epoch = 0;
	ut_step(&u, &v);
	assert_int_equal(ut_sent(&u, RAFT_VOTE_RESPONSE, 3)->error_code,
			 KAFKA_ERR_FENCED_LEADER_EPOCH);
	v = ut_vote(7, 1, 9, 0, 0, false); /* not a voter */
	ut_step(&u, &v);
	assert_int_equal(ut_sent(&u, RAFT_VOTE_RESPONSE, 7)->error_code,
			 KAFKA_ERR_INCONSISTENT_VOTER_SET);
	struct raft_msg r = ut_fetch(&u, 2, -5, 1);
	assert_int_equal(r.error_code, KAFKA_ERR_INVALID_REQUEST);
	r = ut_fetch(&u, 2, 0, 99);
	assert_int_equal(r.error_code, KAFKA_ERR_INVALID_REQUEST);
	struct raft_msg end = ut_msg(RAFT_END_QUORUM_EPOCH_REQUEST, 2, 1, 2, 1);
	end.u.end_req.n_preferred_successors = 1000;
	ut_step(&u, &end);
	assert_int_equal(ut_sent(&u, RAFT_END_QUORUM_EPOCH_RESPONSE, 2)->error_code,
			 KAFKA_ERR_INVALID_REQUEST);
	struct raft_msg huge = ut_vote(2, 1, INT32_MAX, 0, 0, false);
	ut_step(&u, &huge); /* no epoch can follow it: refused */
	assert_int_equal(ut_sent(&u, RAFT_VOTE_RESPONSE, 2)->error_code,
			 KAFKA_ERR_INVALID_REQUEST);
	struct raft_msg begin = ut_msg(RAFT_BEGIN_QUORUM_EPOCH_REQUEST, 2, 1, 2,
				       INT32_MAX);
	ut_step(&u, &begin);
	assert_int_equal(raft_quorum(u.r).leader_epoch, 1);
	struct raft_msg stale = ut_msg(RAFT_FETCH_REQUEST, 2, 1, 1, 0);
	ut_step(&u, &stale);
	assert_int_equal(ut_sent(&u, RAFT_FETCH_RESPONSE, 2)->error_code,
			 KAFKA_ERR_FENCED_LEADER_EPOCH);
	assert_int_equal(raft_state(u.r), RAFT_LEADER);
	ut_close(&u);
}

/* A Fetch response to u's pending Fetch, from leader 2 in epoch 3,
 * carrying these records bytes. */
static struct raft_msg ut_fetched(struct ut *u, const struct kb_buf *b)
{
	if (!ut_sent(u, RAFT_FETCH_REQUEST, 2))
		ut_tick(u, 20); /* the next Fetch comes after the retry backoff */
	const struct raft_msg *req = ut_sent(u, RAFT_FETCH_REQUEST, 2);
	assert_non_null(req);
	struct raft_msg resp = ut_answer(req, RAFT_FETCH_RESPONSE, 2, 3);
	resp.u.fetch_resp.diverging_epoch.epoch = -1;
	resp.u.fetch_resp.records = (struct wire_bytes){b->data, (int32_t)b->len};
	return resp;
}

static void test_raft_bad_fetch_response_ignored(void **state)
{
	struct ut u = {0};
	struct raft_quorum_state qs = {3, 2, RAFT_NO_ID};
	ut_open(&u, 1, 3, &qs);
	struct kb_buf b;
	kb_buf_init(&b);
	ut_batches(&b, 0, (const int32_t[]){5}, 1, 0); /* epoch 5 > leader's 3 */
	struct raft_msg resp = ut_fetched(&u, &b);
	ut_step(&u, &resp);
	assert_int_equal(u.log.n, 0);
	b.len = 0;
	ut_batches(&b, 4, (const int32_t[]){3}, 1, 0); /* not where our log ends */
	resp = ut_fetched(&u, &b);
	ut_step(&u, &resp);
	assert_int_equal(u.log.n, 0);
	b.len = 0;
	ut_batches(&b, 0, (const int32_t[]){1, 3}, 2, 0);
	b.data[b.len - 1] ^= 1; /* the second batch's CRC fails: none is taken */
	resp = ut_fetched(&u, &b);
	ut_step(&u, &resp);
	assert_int_equal(u.log.n, 0);
	kb_put_be32(b.data + SEG_OFF_BATCH_LENGTH, 3); /* shorter than a header */
	resp = ut_fetched(&u, &b);
	ut_step(&u, &resp);
	assert_int_equal(u.log.n, 0);
	b.len = 0;
	ut_batches(&b, 0, (const int32_t[]){1, 3}, 2, 0);
	b.len -= 5; /* the last batch cut short: the whole one before is taken */
	resp = ut_fetched(&u, &b);
	ut_step(&u, &resp);
	assert_int_equal(u.log.n, 1);
	assert_int_equal(raft_state(u.r), RAFT_FOLLOWER);
	kb_buf_fini(&b);
	ut_close(&u);
}

/* Garbage from a voter, in every state: never an assert, invariants hold.
 * (The fields are what chapter 04's decoder would hand over: any values.) */
/* ---- Snapshots in replication (KIP-630) ---- */

/* A leader in epoch 1 with offsets 0 (LeaderChange) .. 4, committed up to
 * 5 by node 2's Fetch. */
static void ut_snapshot_leader(struct ut *u)
{
	ut_open(u, 1, 3, NULL);
	ut_make_leader(u, 3);
	for (int i = 0; i < 4; i++)
		assert_int_equal(ut_propose(u->r, "v", &(int64_t){0}), KB_OK);
	ut_fetch(u, 2, 5, 1);
	assert_int_equal(raft_high_watermark(u->r), 5);
}

static void test_raft_snapshot_taken_checks_and_drops_prefix(void **state)
{
	struct ut u = {0};
	ut_snapshot_leader(&u);
	u.log.snap = (struct raft_offset_epoch){3, 1}, u.log.has_snap = true;
	assert_int_equal(raft_snapshot_taken(u.r, (struct raft_offset_epoch){3, 2}),
			 KB_ERR_INVAL); /* the epoch at offset 2 is 1 */
	assert_int_equal(raft_snapshot_taken(u.r, (struct raft_offset_epoch){0, 0}),
			 KB_ERR_INVAL);
	assert_int_equal(u.log.start, 0);
	assert_int_equal(raft_snapshot_taken(u.r, (struct raft_offset_epoch){3, 1}), KB_OK);
	assert_int_equal(u.log.start, 3); /* the batches below it are gone */
	raft_check(u.r);
	/* Not committed: past the HW (a snapshot holds committed data only). */
	assert_int_equal(ut_propose(u.r, "w", &(int64_t){0}), KB_OK);
	u.log.snap = (struct raft_offset_epoch){6, 1};
	assert_int_equal(raft_snapshot_taken(u.r, (struct raft_offset_epoch){6, 1}),
			 KB_ERR_INVAL);
	u.log.snap = (struct raft_offset_epoch){3, 1};
	ut_close(&u);
}

static void test_raft_snapshot_id_must_end_a_batch(void **state)
{
	struct ut u = {0};
	struct raft_quorum_state qs = {1, 2, RAFT_NO_ID};
	ut_open(&u, 1, 3, &qs);
	struct kb_buf b;
	kb_buf_init(&b);
	struct wire_record recs[2] = {{.key = {NULL, -1}, .value = {(const uint8_t *)"a", 1}},
				      {.key = {NULL, -1}, .value = {(const uint8_t *)"b", 1}}};
	struct wire_batch_params bp = {0, 1, 0, -1, -1, -1};
	assert_int_equal(wire_batch_write(&b, &bp, recs, 2), KB_OK); /* 0..1 */
	struct raft_msg resp = ut_fetched(&u, &b);
	resp.leader_epoch = 1;
	resp.u.fetch_resp.high_watermark = 2;
	ut_step(&u, &resp);
	assert_int_equal(u.log.n, 2);
	assert_int_equal(raft_high_watermark(u.r), 2);
	u.log.snap = (struct raft_offset_epoch){1, 1}, u.log.has_snap = true;
	assert_int_equal(raft_snapshot_taken(u.r, (struct raft_offset_epoch){1, 1}),
			 KB_ERR_INVAL); /* inside the batch 0..1 */
	u.log.snap = (struct raft_offset_epoch){2, 1};
	assert_int_equal(raft_snapshot_taken(u.r, (struct raft_offset_epoch){2, 1}), KB_OK);
	kb_buf_fini(&b);
	ut_close(&u);
}

static void test_raft_leader_answers_below_log_start_with_snapshot(void **state)
{
	struct ut u = {0};
	ut_snapshot_leader(&u);
	u.log.snap = (struct raft_offset_epoch){3, 1}, u.log.has_snap = true;
	assert_int_equal(raft_snapshot_taken(u.r, u.log.snap), KB_OK);
	struct raft_msg r = ut_fetch(&u, 3, 1, 1); /* node 3 is behind */
	assert_int_equal(r.error_code, KAFKA_ERR_NONE);
	assert_int_equal(r.u.fetch_resp.snapshot_id.offset, 3);
	assert_int_equal(r.u.fetch_resp.snapshot_id.epoch, 1);
	assert_true(r.u.fetch_resp.records.len <= 0);
	assert_int_equal(r.u.fetch_resp.diverging_epoch.epoch, -1);
	assert_true(r.u.fetch_resp.snapshot_id.offset <= r.u.fetch_resp.high_watermark);
	/* From the snapshot's end on, records again. */
	r = ut_fetch(&u, 3, 3, 1);
	assert_int_equal(r.u.fetch_resp.snapshot_id.epoch, -1);
	assert_int_equal(ut_offsets(&r), 2);
	/* A log that diverges below the log start: only the snapshot helps. */
	r = ut_fetch(&u, 3, 4, 0);
	assert_int_equal(r.u.fetch_resp.snapshot_id.offset, 3);
	ut_close(&u);
}

/* A Fetch response naming a snapshot: one RAFT_OUT_FETCH_SNAPSHOT, no
 * Fetch until it is loaded; then the log starts at it, the HW with it. */
static void test_raft_follower_fetches_snapshot_then_resumes(void **state)
{
	struct ut u = {0};
	struct raft_quorum_state qs = {2, 2, RAFT_NO_ID};
	ut_open(&u, 1, 3, &qs);
	struct raft_msg resp = ut_answer(ut_sent(&u, RAFT_FETCH_REQUEST, 2),
					 RAFT_FETCH_RESPONSE, 2, 2);
	resp.u.fetch_resp.diverging_epoch.epoch = -1;
	resp.u.fetch_resp.high_watermark = 40;
	resp.u.fetch_resp.snapshot_id = (struct raft_offset_epoch){41, 2};
	ut_step(&u, &resp); /* beyond the leader's HW: not a snapshot it may send */
	struct raft_offset_epoch id;
	assert_false(raft_fetching_snapshot(u.r, &id));
	resp.correlation_id = ut_sent(&u, RAFT_FETCH_REQUEST, 2) ?
		ut_sent(&u, RAFT_FETCH_REQUEST, 2)->correlation_id : 0;
	if (!resp.correlation_id) {
		ut_tick(&u, 20);
		resp.correlation_id = ut_sent(&u, RAFT_FETCH_REQUEST, 2)->correlation_id;
	}
	resp.u.fetch_resp.snapshot_id = (struct raft_offset_epoch){30, 2};
	ut_step(&u, &resp);
	assert_true(raft_fetching_snapshot(u.r, &id));
	assert_int_equal(id.offset, 30);
	assert_int_equal(ut_count(&u, RAFT_OUT_FETCH_SNAPSHOT), 1);
	assert_int_equal(u.out[0].snapshot_id.offset, 30);
	assert_int_equal(u.out[0].snapshot_id.epoch, 2);
	assert_int_equal(u.out[0].snapshot_leader_id, 2);
	assert_null(ut_sent(&u, RAFT_FETCH_REQUEST, 2));
	ut_tick(&u, 500); /* retries come and go: still no Fetch */
	assert_null(ut_sent(&u, RAFT_FETCH_REQUEST, 2));
	raft_check(u.r);
	assert_int_equal(raft_snapshot_loaded(u.r, (struct raft_offset_epoch){30, 1}),
			 KB_ERR_AGAIN); /* not the one we fetch */
	u.log.snap = id, u.log.has_snap = true; /* the download is on disk */
	assert_int_equal(raft_snapshot_loaded(u.r, id), KB_OK);
	ut_drain(&u);
	assert_int_equal(u.log.start, 30);
	assert_int_equal(u.log.n, 30);
	assert_int_equal(raft_high_watermark(u.r), 30);
	const struct raft_msg *f = ut_sent(&u, RAFT_FETCH_REQUEST, 2);
	assert_non_null(f);
	assert_int_equal(f->u.fetch_req.fetch_offset, 30);
	assert_int_equal(f->u.fetch_req.last_fetched_epoch, 2);
	raft_check(u.r);
	ut_close(&u);
}

static void test_raft_snapshot_download_failed_fetches_again(void **state)
{
	struct ut u = {0};
	struct raft_quorum_state qs = {2, 2, RAFT_NO_ID};
	ut_open(&u, 1, 3, &qs);
	struct raft_msg resp = ut_answer(ut_sent(&u, RAFT_FETCH_REQUEST, 2),
					 RAFT_FETCH_RESPONSE, 2, 2);
	resp.u.fetch_resp.diverging_epoch.epoch = -1;
	resp.u.fetch_resp.high_watermark = 40;
	resp.u.fetch_resp.snapshot_id = (struct raft_offset_epoch){30, 2};
	ut_step(&u, &resp);
	struct raft_offset_epoch id = {30, 2};
	assert_int_equal(raft_snapshot_failed(u.r, (struct raft_offset_epoch){31, 2}),
			 KB_ERR_AGAIN);
	assert_int_equal(raft_snapshot_failed(u.r, id), KB_OK);
	ut_drain(&u);
	assert_false(raft_fetching_snapshot(u.r, &id));
	assert_non_null(ut_sent(&u, RAFT_FETCH_REQUEST, 2));
	/* A newer epoch ends the download too: loading it now is refused. */
	resp.correlation_id = ut_sent(&u, RAFT_FETCH_REQUEST, 2)->correlation_id;
	ut_step(&u, &resp);
	assert_true(raft_fetching_snapshot(u.r, &id));
	struct raft_msg begin = ut_msg(RAFT_BEGIN_QUORUM_EPOCH_REQUEST, 3, 1, 3, 3);
	ut_step(&u, &begin);
	assert_false(raft_fetching_snapshot(u.r, &id));
	assert_int_equal(raft_snapshot_loaded(u.r, (struct raft_offset_epoch){30, 2}),
			 KB_ERR_AGAIN);
	ut_close(&u);
}

/* A restart finds a snapshot beyond its log (a crash between the download
 * and the reset): the log starts over at it, the HW is its end. */
static void test_raft_restart_behind_snapshot_resets(void **state)
{
	struct ut u = {0};
	ml_fill(&u.log, (const int32_t[]){1, 1}, 2);
	u.log.snap = (struct raft_offset_epoch){9, 2}, u.log.has_snap = true;
	struct raft_quorum_state qs = {2, 2, RAFT_NO_ID};
	ut_open(&u, 1, 3, &qs);
	assert_int_equal(u.log.start, 9);
	assert_int_equal(u.log.n, 9);
	assert_int_equal(raft_high_watermark(u.r), 9);
	const struct raft_msg *f = ut_sent(&u, RAFT_FETCH_REQUEST, 2);
	assert_int_equal(f->u.fetch_req.fetch_offset, 9);
	assert_int_equal(f->u.fetch_req.last_fetched_epoch, 2);
	raft_check(u.r);
	ut_close(&u);
}

static void test_raft_random_messages_keep_invariants(void **state)
{
	uint64_t x = 88172645463325252ULL;
#define NEXT() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
	static const int32_t epochs[] = {-1, 0, 1, 2, 3, 9, INT32_MAX, INT32_MIN};
	struct tu_log_capture cap;
	struct kb_buf bytes;
	kb_buf_init(&bytes);
	for (int round = 0; round < 40; round++) {
		struct ut u = {0};
		ut_open(&u, 1, 3, NULL);
		if (round % 3 == 1)
			ut_make_leader(&u, 3);
		tu_log_capture_start(&cap);
		for (int i = 0; i < 500; i++) {
			struct raft_msg m;
			uint8_t *p = (uint8_t *)&m;
			for (size_t k = 0; k < sizeof m; k++)
				p[k] = (uint8_t)NEXT();
			m.type = (enum raft_msg_type)(NEXT() % 10);
			m.from = (int32_t)(NEXT() % 5) - 1;
			m.to = NEXT() % 8 ? 1 : 2;
			m.leader_id = (int32_t)(NEXT() % 5) - 1;
			m.leader_epoch = epochs[NEXT() % 8];
			m.correlation_id = (int32_t)(NEXT() % 40); /* often ours */
			if (NEXT() % 4)
				m.cluster_id[0] = '\0'; /* null: any cluster */
			/* Plausible fields half the time; a bool is 0 or 1, as a
			 * decoder would give it. */
			struct raft_fetch_response *f = &m.u.fetch_resp;
			if (m.type == RAFT_VOTE_REQUEST) {
				m.u.vote_req.candidate_epoch = epochs[NEXT() % 8];
				m.u.vote_req.pre_vote = NEXT() % 2;
			} else if (m.type == RAFT_VOTE_RESPONSE) {
				m.u.vote_resp.vote_granted = NEXT() % 2;
				m.u.vote_resp.pre_vote = NEXT() % 2;
			} else if (m.type == RAFT_FETCH_RESPONSE) {
				/* What a decoder hands over: a view of bytes,
				 * whole batches of any epochs and offsets or noise. */
				int32_t be[3];
				for (int k = 0; k < 3; k++)
					be[k] = epochs[NEXT() % 6];
				bytes.len = 0;
				int64_t base = (int64_t)(NEXT() % 4);
				ut_batches(&bytes, base, be, (int)(NEXT() % 4), 0);
				for (size_t k = 0; NEXT() % 3 == 0 && k < bytes.len; k++) {
					size_t at = NEXT() % bytes.len;
					bytes.data[at] = (uint8_t)NEXT();
				}
				f->records = (struct wire_bytes){bytes.data,
								 (int32_t)bytes.len};
				if (NEXT() % 2) {
					f->diverging_epoch.epoch = epochs[NEXT() % 8];
					f->diverging_epoch.offset = (int64_t)(NEXT() % 6) - 1;
					f->high_watermark = (int64_t)(NEXT() % 6) - 1;
				}
			}
			ut_step(&u, &m); /* ut_drain calls raft_check */
			if (NEXT() % 16 == 0)
				ut_tick(&u, (int64_t)(NEXT() % 3000));
		}
		tu_log_capture_stop();
		ut_close(&u);
	}
	kb_buf_fini(&bytes);
#undef NEXT
}

/* ---- The simulation ---- */

#define SIM_MAX_NODES 6     /* 5 voters and an observer */
#define SIM_STEP_MS 10      /* the fake clock moves in steps of this */
#define SIM_FAULT_MS 10000  /* faults happen during this long */
#define SIM_LIVE_MS 15000   /* then a new entry must commit within this */
#define SIM_SEEDS 5000      /* default number of schedules */
#define SIM_IN_FLIGHT 32    /* entries a client writes ahead of the HW */

/* One voter: its raft (NULL while crashed) and what survives a crash:
 * the log and the last quorum-state output it wrote. */
struct sim_node {
	struct raft *r;
	struct mlog log;
	struct raft_quorum_state disk;
	bool has_disk;
	int64_t restart_at;
	int64_t last_hw;            /* HW seen last step: never goes back */
	enum raft_state last_state; /* for the trace */
	int32_t last_epoch;
	struct raft_offset_epoch dl; /* FetchSnapshot under way; offset -1 none */
	int32_t dl_leader;
	int64_t dl_at;               /* when the download ends */
};

struct sim_packet {
	struct raft_msg m;  /* a Fetch response's records point at bytes */
	uint8_t *bytes;     /* owned: a copy of them, freed when delivered */
	int64_t at;         /* delivery time */
};

/* (offset, epoch) -> the chained hash of the entry there (Log Matching). */
struct sim_seen {
	int64_t offset;
	int32_t epoch;
	bool used;
	uint64_t chain;
};

/* One schedule: a seed decides every fault, delay and timeout. */
struct sim {
	uint64_t seed, rng;
	int n;      /* nodes: voters 1..voters, then maybe an observer */
	int voters;
	bool pre_vote; /* raft_config.pre_vote of every node */
	bool trace;
	int64_t now;
	struct sim_node node[SIM_MAX_NODES];
	struct sim_packet *net;
	size_t net_len, net_cap;
	int side[SIM_MAX_NODES]; /* partition: messages across sides are lost */
	bool cut[SIM_MAX_NODES][SIM_MAX_NODES]; /* [from][to]: a lost link */
	bool partitioned, faults;
	int loss_pct, dup_pct, max_delay;  /* per message */
	int crash_pm, partition_pm, propose_pct; /* per step */
	int drain_crash_pm; /* per output: a crash between two outputs */
	int snapshot_pm;    /* per node and step: it takes a snapshot */
	int64_t election_timeout_ms;
	int32_t *leader_of;      /* epoch -> leader id + 1, 0 unknown */
	size_t leader_cap;
	uint64_t *committed;     /* chained hashes of the committed prefix */
	int32_t *commit_epoch;   /* per offset: epoch by which it was committed */
	int64_t n_committed, committed_cap;
	struct sim_seen *seen;
	size_t seen_cap, seen_len;
	int64_t proposals;
};

/* What all the schedules did, so a run shows it tested something. */
static struct {
	uint64_t elections, crashes, partitions, diverging, committed;
	uint64_t snapshots, snapshot_loads;
} g_stats;

static struct sim *g_sim;
static volatile uint64_t g_seed_running;

static void sim_fail(struct sim *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void sim_fail(struct sim *s, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	fprintf(stderr, "simulation seed %" PRIu64 " failed at t=%" PRId64 " ms: %s\n"
		"replay: RAFT_SIM_SEED=%" PRIu64 " RAFT_SIM_TRACE=1 "
		"build/tests/07_raft_test\n", s->seed, s->now, why, s->seed);
	fail_msg("seed %" PRIu64 ": %s", s->seed, why);
}

/* A raft_check assert aborts: say which seed did it first. */
static void sim_on_abort(int sig)
{
	char line[128];
	int n = snprintf(line, sizeof line, "aborted in simulation seed %" PRIu64
			 ": replay with RAFT_SIM_SEED=%" PRIu64 " RAFT_SIM_TRACE=1\n",
			 g_seed_running, g_seed_running);
	if (n > 0 && write(2, line, (size_t)n) < 0)
		_exit(134);
	signal(sig, SIG_DFL);
	raise(sig);
}

static uint64_t sim_rand(struct sim *s)
{
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static int64_t sim_below(struct sim *s, int64_t n)
{
	return (int64_t)(sim_rand(s) % (uint64_t)n);
}

static void sim_trace(struct sim *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void sim_trace(struct sim *s, const char *fmt, ...)
{
	if (!s->trace)
		return;
	va_list ap;
	va_start(ap, fmt);
	printf("[%6" PRId64 "] ", s->now);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

/* LOG MATCHING: if two logs hold an entry with the same offset and epoch,
 * the entry and everything before it are the same; with chained hashes,
 * one (offset, epoch) may only ever have one hash, in any log, ever. */
static void sim_on_append(int64_t offset, int32_t epoch, uint64_t chain)
{
	struct sim *s = g_sim;
	if (!s)
		return;
	if (2 * (s->seen_len + 1) > s->seen_cap) {
		struct sim_seen *old = s->seen;
		size_t old_cap = s->seen_cap;
		s->seen_cap = old_cap ? 2 * old_cap : 4096;
		s->seen = calloc(s->seen_cap, sizeof *s->seen);
		assert_non_null(s->seen);
		s->seen_len = 0;
		for (size_t i = 0; i < old_cap; i++)
			if (old[i].used) {
				size_t h = (size_t)mix((uint64_t)old[i].offset,
						       (uint64_t)old[i].epoch) & (s->seen_cap - 1);
				while (s->seen[h].used)
					h = (h + 1) & (s->seen_cap - 1);
				s->seen[h] = old[i];
				s->seen_len++;
			}
		free(old);
	}
	size_t h = (size_t)mix((uint64_t)offset, (uint64_t)epoch) & (s->seen_cap - 1);
	for (; s->seen[h].used; h = (h + 1) & (s->seen_cap - 1)) {
		if (s->seen[h].offset != offset || s->seen[h].epoch != epoch)
			continue;
		if (s->seen[h].chain != chain)
			sim_fail(s, "Log Matching: two histories end at offset %" PRId64
				 " in epoch %d", offset, epoch);
		return;
	}
	s->seen[h] = (struct sim_seen){offset, epoch, true, chain};
	s->seen_len++;
}

static const char *sim_type_name(enum raft_msg_type t)
{
	static const char *names[] = {"Vote", "VoteResponse", "BeginQuorumEpoch",
		"BeginQuorumEpochResponse", "EndQuorumEpoch", "EndQuorumEpochResponse",
		"Fetch", "FetchResponse"};
	return names[t];
}

/* The network: loss and duplication when sent, a random delay each (so
 * messages overtake each other), partitions when delivered. */
static void sim_send(struct sim *s, const struct raft_msg *m)
{
	if (s->faults && sim_below(s, 100) < s->loss_pct)
		return;
	int copies = s->faults && sim_below(s, 100) < s->dup_pct ? 2 : 1;
	for (int c = 0; c < copies; c++) {
		if (s->net_len == s->net_cap) {
			s->net_cap = s->net_cap ? 2 * s->net_cap : 256;
			s->net = realloc(s->net, s->net_cap * sizeof *s->net);
			assert_non_null(s->net);
		}
		int64_t delay = 1 + sim_below(s, s->max_delay);
		if (s->faults && sim_below(s, 100) < 2)
			delay += 300 + sim_below(s, 1200); /* a straggler */
		struct sim_packet *pk = &s->net[s->net_len++];
		*pk = (struct sim_packet){*m, NULL, s->now + delay};
		struct wire_bytes *rec = &pk->m.u.fetch_resp.records;
		if (m->type == RAFT_FETCH_RESPONSE && rec->len > 0) {
			pk->bytes = malloc((size_t)rec->len);
			assert_non_null(pk->bytes);
			memcpy(pk->bytes, rec->p, (size_t)rec->len);
			rec->p = pk->bytes;
		}
	}
}

static void sim_crash(struct sim *s, int i, const char *when)
{
	raft_free(s->node[i].r);
	s->node[i].r = NULL;
	s->node[i].restart_at = s->now + 100 + sim_below(s, 2900);
	s->node[i].dl.offset = -1; /* the download dies with it */
	g_stats.crashes++;
	sim_trace(s, "n%d crashes %s", i + 1, when);
}

/* Carry out a node's outputs in order. A crash may strike between any
 * two: a vote is then either written and maybe sent, or neither. */
static void sim_drain(struct sim *s, int i)
{
	struct raft_output o;
	while (s->node[i].r && raft_pop(s->node[i].r, &o)) {
		if (s->faults && sim_below(s, 1000) < s->drain_crash_pm) {
			raft_output_fini(&o);
			sim_crash(s, i, "between two outputs");
			return;
		}
		if (o.kind == RAFT_OUT_PERSIST) {
			s->node[i].disk = o.persist;
			s->node[i].has_disk = true;
		} else if (o.kind == RAFT_OUT_FETCH_SNAPSHOT) {
			s->node[i].dl = o.snapshot_id;
			s->node[i].dl_leader = o.snapshot_leader_id;
			s->node[i].dl_at = s->now + 20 + sim_below(s, 400);
			sim_trace(s, "n%d fetches snapshot %" PRId64 "@%d from n%d",
				  i + 1, o.snapshot_id.offset, o.snapshot_id.epoch,
				  o.snapshot_leader_id);
		} else {
			sim_send(s, &o.msg);
		}
		raft_output_fini(&o);
	}
}

static struct raft_config sim_config(struct sim *s, int i)
{
	struct raft_config c;
	raft_config_defaults(&c);
	strcpy(c.cluster_id, "c2ltdWxhdGVkLWNsdXN0ZX");
	c.node_id = i + 1;
	c.n_voters = s->voters;
	for (int v = 0; v < s->voters; v++)
		c.voters[v] = v + 1;
	c.request_timeout_ms = 300;
	c.pre_vote = s->pre_vote;
	/* Kafka's timeouts, or short ones next to the network's delays: more
	 * split elections, more candidates racing in one epoch. */
	c.election_timeout_ms = s->election_timeout_ms;
	c.fetch_timeout_ms = 2 * s->election_timeout_ms;
	/* Small fetches stop followers at every batch, between an old
	 * epoch's batches and the new leader's LeaderChange too (a batch
	 * here is 70 to 130 bytes; the first one always comes). */
	c.fetch_max_bytes = 1 + (int32_t)sim_below(s, 800);
	c.seed = s->seed * 31 + (uint64_t)sim_rand(s);
	if (i >= s->voters) /* an observer catches up from far behind */
		c.fetch_max_bytes = 2000 + (int32_t)sim_below(s, 8000);
	return c;
}

static void sim_start(struct sim *s, int i)
{
	struct sim_node *nd = &s->node[i];
	struct raft_config c = sim_config(s, i);
	struct raft_durable d = {&ml_ops, &nd->log, nd->has_disk ? &nd->disk : NULL};
	int rc = raft_new(&c, &d, s->now, &nd->r);
	if (rc != KB_OK)
		sim_fail(s, "n%d cannot restart: %s", i + 1, kb_status_name(rc));
	nd->last_hw = 0;
	nd->last_state = (enum raft_state)-1;
	nd->dl.offset = -1;
	if (nd->has_disk)
		sim_trace(s, "n%d starts: quorum-state epoch %d leader %d voted %d, "
			  "log end %" PRId64, i + 1, nd->disk.leader_epoch,
			  nd->disk.leader_id, nd->disk.voted_id, nd->log.n);
	else
		sim_trace(s, "n%d starts: no quorum-state, log end %" PRId64,
			  i + 1, nd->log.n);
	sim_drain(s, i);
}

/* ELECTION SAFETY: at most one leader per epoch, over the whole run. */
static void sim_check_leader(struct sim *s, int i, int32_t epoch)
{
	if ((size_t)epoch >= s->leader_cap) {
		size_t cap = (size_t)epoch * 2 + 16;
		s->leader_of = realloc(s->leader_of, cap * sizeof *s->leader_of);
		assert_non_null(s->leader_of);
		memset(s->leader_of + s->leader_cap, 0,
		       (cap - s->leader_cap) * sizeof *s->leader_of);
		s->leader_cap = cap;
	}
	if (s->leader_of[epoch] && s->leader_of[epoch] != i + 1)
		sim_fail(s, "Election Safety: n%d and n%d both lead epoch %d",
			 s->leader_of[epoch], i + 1, epoch);
	if (!s->leader_of[epoch])
		g_stats.elections++;
	s->leader_of[epoch] = i + 1;
}

/* How much of the committed prefix a leader of epoch must hold: entries
 * committed in its epoch or before (commit_epoch never decreases). */
static int64_t sim_committed_by(const struct sim *s, int32_t epoch)
{
	int64_t lo = 0, hi = s->n_committed;
	while (lo < hi) {
		int64_t mid = lo + (hi - lo) / 2;
		if (s->commit_epoch[mid] <= epoch)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* COMMITTED ENTRIES ARE NEVER LOST OR CHANGED: every node's log below its
 * HW is the committed prefix (which grows as HWs pass its end), and every
 * leader holds all of it that was committed by its epoch (a stale leader
 * cut off in an old epoch need not have what was committed after it).
 * HWs never go backwards while a node is up. */
static void sim_check_committed(struct sim *s, int i)
{
	struct sim_node *nd = &s->node[i];
	int64_t hw = raft_high_watermark(nd->r);
	if (hw < nd->last_hw)
		sim_fail(s, "n%d's high watermark went back from %" PRId64 " to %"
			 PRId64, i + 1, nd->last_hw, hw);
	nd->last_hw = hw;
	int64_t common = hw < s->n_committed ? hw : s->n_committed;
	if (common > 0 && nd->log.chain[common - 1] != s->committed[common - 1])
		sim_fail(s, "n%d's log below its HW %" PRId64 " differs from the "
			 "committed entries", i + 1, hw);
	for (; s->n_committed < hw; s->n_committed++) {
		if (s->n_committed == s->committed_cap) {
			s->committed_cap = s->committed_cap ? 2 * s->committed_cap : 256;
			s->committed = realloc(s->committed, (size_t)s->committed_cap *
					       sizeof *s->committed);
			s->commit_epoch = realloc(s->commit_epoch, (size_t)s->committed_cap *
						  sizeof *s->commit_epoch);
			assert_non_null(s->committed);
			assert_non_null(s->commit_epoch);
		}
		int32_t prev = s->n_committed ? s->commit_epoch[s->n_committed - 1] : 0;
		int32_t e = raft_quorum(nd->r).leader_epoch;
		s->committed[s->n_committed] = nd->log.chain[s->n_committed];
		s->commit_epoch[s->n_committed] = e > prev ? e : prev;
	}
	if (raft_state(nd->r) != RAFT_LEADER)
		return;
	int64_t need = sim_committed_by(s, raft_quorum(nd->r).leader_epoch);
	if (need > 0 && (nd->log.n < need ||
			 nd->log.chain[need - 1] != s->committed[need - 1]))
		sim_fail(s, "leader n%d lacks committed entries below %" PRId64,
			 i + 1, need);
}

/* After every step: each node's own invariants, then the cluster's. */
static void sim_check(struct sim *s)
{
	for (int i = 0; i < s->n; i++) {
		struct sim_node *nd = &s->node[i];
		if (!nd->r)
			continue;
		raft_check(nd->r);
		struct raft_quorum_state q = raft_quorum(nd->r);
		enum raft_state st = raft_state(nd->r);
		if (st != nd->last_state || q.leader_epoch != nd->last_epoch)
			sim_trace(s, "n%d is %s in epoch %d (leader %d, voted %d, "
				  "hw %" PRId64 ", log end %" PRId64 ")", i + 1,
				  raft_state_name(st), q.leader_epoch, q.leader_id,
				  q.voted_id, raft_high_watermark(nd->r), nd->log.n);
		nd->last_state = st;
		nd->last_epoch = q.leader_epoch;
		if (st == RAFT_LEADER)
			sim_check_leader(s, i, q.leader_epoch);
		sim_check_committed(s, i);
	}
}

static void sim_trace_msg(struct sim *s, const struct raft_msg *m)
{
	if (!s->trace)
		return;
	char extra[96] = "";
	if (m->type == RAFT_VOTE_REQUEST)
		snprintf(extra, sizeof extra, " %scandidate_epoch %d last %d@%" PRId64,
			 m->u.vote_req.pre_vote ? "pre_vote " : "",
			 m->u.vote_req.candidate_epoch, m->u.vote_req.last_offset_epoch,
			 m->u.vote_req.last_offset);
	else if (m->type == RAFT_VOTE_RESPONSE)
		snprintf(extra, sizeof extra, " %s", m->u.vote_resp.vote_granted
			 ? "granted" : "refused");
	else if (m->type == RAFT_FETCH_REQUEST)
		snprintf(extra, sizeof extra, " fetch_offset %" PRId64 " last_fetched_epoch %d",
			 m->u.fetch_req.fetch_offset, m->u.fetch_req.last_fetched_epoch);
	else if (m->type == RAFT_FETCH_RESPONSE)
		snprintf(extra, sizeof extra, " %" PRId64 " records hw %" PRId64
			 " diverging %d@%" PRId64,
			 ut_offsets(m), m->u.fetch_resp.high_watermark,
			 m->u.fetch_resp.diverging_epoch.epoch,
			 m->u.fetch_resp.diverging_epoch.offset);
	sim_trace(s, "n%d -> n%d %s (epoch %d leader %d err %d)%s", m->from, m->to,
		  sim_type_name(m->type), m->leader_epoch, m->leader_id,
		  m->error_code, extra);
}

/* Deliver every message due by now, in a random order. */
static void sim_deliver(struct sim *s)
{
	size_t n_due = 0;
	static struct sim_packet *due;
	static size_t due_cap;
	if (due_cap < s->net_len) {
		due_cap = s->net_len * 2;
		due = realloc(due, due_cap * sizeof *due);
		assert_non_null(due);
	}
	size_t keep = 0;
	for (size_t k = 0; k < s->net_len; k++) {
		if (s->net[k].at <= s->now)
			due[n_due++] = s->net[k];
		else
			s->net[keep++] = s->net[k];
	}
	s->net_len = keep;
	for (size_t k = n_due; k > 1; k--) {
		size_t j = (size_t)sim_below(s, (int64_t)k);
		struct sim_packet t = due[k - 1];
		due[k - 1] = due[j];
		due[j] = t;
	}
	for (size_t k = 0; k < n_due; k++) {
		const struct raft_msg *m = &due[k].m;
		int to = m->to - 1;
		if (s->node[to].r && !s->cut[m->from - 1][to] &&
		    !(s->partitioned && s->side[to] != s->side[m->from - 1])) {
			sim_trace_msg(s, m);
			g_stats.diverging += m->type == RAFT_FETCH_RESPONSE &&
					     m->u.fetch_resp.diverging_epoch.epoch >= 0;
			raft_step(s->node[to].r, m);
			sim_drain(s, to);
			sim_check(s);
		}
		free(due[k].bytes);
	}
}

/* The node that leads the newest epoch, or -1. */
static int sim_leader(struct sim *s)
{
	int best = -1;
	for (int i = 0; i < s->n; i++)
		if (s->node[i].r && raft_state(s->node[i].r) == RAFT_LEADER &&
		    (best < 0 || raft_quorum(s->node[i].r).leader_epoch >
				 raft_quorum(s->node[best].r).leader_epoch))
			best = i;
	return best;
}

/* Faults, one step's worth: crashes (of anyone, and of the leader in
 * particular), restarts, partitions, resignations. */
/* A node snapshots its state at a random committed offset above its log
 * start, then tells the core, which lets the log drop what is below. */
static void sim_take_snapshot(struct sim *s, int i)
{
	struct sim_node *nd = &s->node[i];
	int64_t hw = raft_high_watermark(nd->r);
	if (hw <= nd->log.start)
		return;
	int64_t off = nd->log.start + 1 + sim_below(s, hw - nd->log.start);
	while (off < nd->log.n && nd->log.pos[off] == nd->log.pos[off - 1])
		off++; /* a state sums up whole batches: the HW ends one */
	if (off > hw)
		return;
	struct raft_offset_epoch id = {off, nd->log.epoch[off - 1]};
	if (nd->log.has_snap && nd->log.snap.offset >= off)
		return; /* only newer ones */
	struct raft_offset_epoch old = nd->log.snap;
	bool had = nd->log.has_snap;
	nd->log.snap = id, nd->log.has_snap = true;
	int rc = raft_snapshot_taken(nd->r, id);
	if (rc != KB_OK) {
		nd->log.snap = old, nd->log.has_snap = had;
		sim_fail(s, "n%d: a committed snapshot %" PRId64 "@%d refused: %s",
			 i + 1, id.offset, id.epoch, kb_status_name(rc));
	}
	g_stats.snapshots++;
	sim_trace(s, "n%d snapshots at %" PRId64 "@%d; log starts at %" PRId64,
		  i + 1, id.offset, id.epoch, nd->log.start);
}

/* FetchSnapshot: the download ends. It works if the leader is up, not cut
 * off from us, and still has that snapshot; then its image is ours and the
 * core resets the log to it. Otherwise the core fetches again. */
static void sim_snapshot_download(struct sim *s, int i)
{
	struct sim_node *nd = &s->node[i];
	struct raft_offset_epoch id = nd->dl, want;
	if (id.offset < 0 || s->now < nd->dl_at)
		return;
	nd->dl.offset = -1;
	int src = nd->dl_leader - 1;
	bool ok = src >= 0 && src < s->n && s->node[src].r &&
		  !(s->partitioned && s->side[src] != s->side[i]) &&
		  s->node[src].log.has_snap &&
		  s->node[src].log.snap.offset == id.offset &&
		  s->node[src].log.snap.epoch == id.epoch;
	if (!raft_fetching_snapshot(nd->r, &want) || want.offset != id.offset ||
	    want.epoch != id.epoch)
		return; /* it moved on: the download is thrown away */
	if (!ok) {
		sim_trace(s, "n%d: snapshot %" PRId64 "@%d not found", i + 1,
			  id.offset, id.epoch);
		assert_int_equal(raft_snapshot_failed(nd->r, id), KB_OK);
		sim_drain(s, i);
		return;
	}
	const struct mlog *from = &s->node[src].log;
	ml_reserve(&nd->log, id.offset);
	memcpy(nd->log.epoch, from->epoch, (size_t)id.offset * sizeof *from->epoch);
	memcpy(nd->log.chain, from->chain, (size_t)id.offset * sizeof *from->chain);
	nd->log.snap = id, nd->log.has_snap = true;
	int rc = raft_snapshot_loaded(nd->r, id);
	if (rc != KB_OK)
		sim_fail(s, "n%d cannot load snapshot %" PRId64 ": %s", i + 1,
			 id.offset, kb_status_name(rc));
	g_stats.snapshot_loads++;
	sim_trace(s, "n%d loaded snapshot %" PRId64 "@%d", i + 1, id.offset, id.epoch);
	sim_drain(s, i);
}

static void sim_faults(struct sim *s)
{
	for (int i = 0; i < s->n; i++) {
		if (!s->node[i].r && s->now >= s->node[i].restart_at)
			sim_start(s, i);
		else if (s->node[i].r && sim_below(s, 1000) < s->crash_pm)
			sim_crash(s, i, "");
	}
	if (sim_below(s, 1000) < s->partition_pm) {
		s->partitioned = true;
		g_stats.partitions++;
		for (int i = 0; i < s->n; i++)
			s->side[i] = (int)sim_below(s, 2);
		sim_trace(s, "partition: %d%d%d%d%d%d", s->side[0], s->side[1],
			  s->side[2], s->side[3], s->side[4], s->side[5]);
	} else if (s->partitioned && sim_below(s, 1000) < 3) {
		s->partitioned = false;
		sim_trace(s, "partition healed");
	}
	int l = sim_leader(s);
	if (l >= 0 && sim_below(s, 1000) < s->crash_pm) {
		sim_crash(s, l, "(the leader)");
	} else if (l >= 0 && sim_below(s, 1000) < 1) {
		sim_trace(s, "n%d resigns", l + 1);
		assert_int_equal(raft_resign(s->node[l].r), KB_OK);
		sim_drain(s, l);
	}
}

/* A client writes to the leader now and then, during the faults at most
 * SIM_IN_FLIGHT entries ahead of its HW (it waits for acknowledgements,
 * as producers do); returns the offset or -1. */
static int64_t sim_propose(struct sim *s, const char *what)
{
	int l = sim_leader(s);
	if (l < 0 || (s->faults && s->node[l].log.n - SIM_IN_FLIGHT >
					 raft_high_watermark(s->node[l].r)))
		return -1;
	char data[3][48];
	struct raft_record recs[3];
	int n = 1 + (int)sim_below(s, 3);
	for (int k = 0; k < n; k++) {
		int len = snprintf(data[k], sizeof data[k], "%s %" PRId64, what,
				   s->proposals++);
		recs[k] = (struct raft_record){data[k], (size_t)len};
	}
	int64_t off;
	assert_int_equal(raft_propose(s->node[l].r, recs, n, &off), KB_OK);
	sim_trace(s, "n%d appends a batch of %d ending \"%s\" at %" PRId64, l + 1,
		  n, data[n - 1], off);
	sim_drain(s, l);
	return off;
}

/* LIVENESS: once the faults stop, some leader commits a new entry. */
static bool sim_live(struct sim *s, int64_t *marker, int32_t *marker_epoch)
{
	int l = sim_leader(s);
	if (l < 0)
		return false;
	struct sim_node *nd = &s->node[l];
	int32_t epoch = raft_quorum(nd->r).leader_epoch;
	if (*marker_epoch != epoch) {
		*marker_epoch = epoch;
		*marker = sim_propose(s, "after the faults");
		return false;
	}
	/* OBSERVERS: the observer, if any, has the committed prefix too. */
	for (int i = s->voters; i < s->n; i++)
		if (raft_high_watermark(s->node[i].r) <= *marker)
			return false;
	return raft_high_watermark(nd->r) > *marker && nd->log.n > *marker &&
	       nd->log.epoch[*marker] == epoch;
}

static void sim_free(struct sim *s)
{
	for (int i = 0; i < s->n; i++) {
		raft_free(s->node[i].r);
		ml_free(&s->node[i].log);
	}
	for (size_t k = 0; k < s->net_len; k++)
		free(s->net[k].bytes);
	free(s->net);
	free(s->leader_of);
	free(s->committed);
	free(s->commit_epoch);
	free(s->seen);
	g_sim = NULL;
}

/* One schedule, all of it decided by the seed. */
static void sim_run(uint64_t seed, bool trace)
{
	struct sim s;
	memset(&s, 0, sizeof s);
	s.seed = seed;
	s.rng = seed * 0x2545f4914f6cdd1dULL + 1;
	s.trace = trace;
	s.voters = seed % 2 ? 5 : 3;
	s.pre_vote = (seed / 2) % 2; /* both settings with 3 and 5 voters */
	s.n = s.voters + (seed % 3 == 0); /* every third seed: an observer */
	s.faults = true;
	s.loss_pct = (int)sim_below(&s, 21);
	s.dup_pct = (int)sim_below(&s, 11);
	s.max_delay = 5 + (int)sim_below(&s, 96);
	s.crash_pm = 1 + (int)sim_below(&s, 5);
	s.partition_pm = 1 + (int)sim_below(&s, 4);
	s.propose_pct = 5 + (int)sim_below(&s, 46);
	s.drain_crash_pm = 1 + (int)sim_below(&s, 20);
	s.snapshot_pm = (int)sim_below(&s, 6); /* 0: a run without snapshots */
	static const int64_t timeouts[] = {1000, 1000, 300, 150};
	s.election_timeout_ms = timeouts[sim_below(&s, 4)];
	g_sim = &s;
	g_seed_running = seed;
	sim_trace(&s, "seed %" PRIu64 ": %d voters, %d observers, loss %d%%, duplicates %d%%, "
		  "delay up to %d ms, crashes %d/1000 and partitions %d/1000 "
		  "per step, election timeout %" PRId64 " ms, pre-vote %s", seed,
		  s.voters, s.n - s.voters,
		  s.loss_pct, s.dup_pct, s.max_delay, s.crash_pm, s.partition_pm,
		  s.election_timeout_ms, s.pre_vote ? "on" : "off");
	for (int i = 0; i < s.n; i++)
		sim_start(&s, i);
	int64_t marker = -1;
	int32_t marker_epoch = -1;
	for (s.now = 0;; s.now += SIM_STEP_MS) {
		if (s.now < SIM_FAULT_MS) {
			sim_faults(&s);
			if (sim_below(&s, 100) < s.propose_pct)
				sim_propose(&s, "entry");
		} else if (s.faults) {
			s.faults = s.partitioned = false;
			sim_trace(&s, "faults stop; every node is up");
			for (int i = 0; i < s.n; i++)
				if (!s.node[i].r)
					sim_start(&s, i);
		} else if (sim_live(&s, &marker, &marker_epoch)) {
			sim_trace(&s, "committed %" PRId64 " after the faults", marker);
			break;
		} else if (s.now > SIM_FAULT_MS + SIM_LIVE_MS) {
			sim_fail(&s, "liveness: nothing committed %d ms after the "
				 "faults stopped", SIM_LIVE_MS);
		}
		sim_deliver(&s);
		for (int k = 0, first = (int)sim_below(&s, s.n); k < s.n; k++) {
			int i = (first + k) % s.n;
			if (!s.node[i].r)
				continue;
			sim_snapshot_download(&s, i);
			if (s.node[i].r && sim_below(&s, 1000) < s.snapshot_pm)
				sim_take_snapshot(&s, i);
			if (!s.node[i].r)
				continue;
			raft_tick(s.node[i].r, s.now);
			sim_drain(&s, i);
			sim_check(&s);
		}
	}
	g_stats.committed += (uint64_t)s.n_committed;
	sim_free(&s);
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);
	return v && *v ? strtoull(v, NULL, 10) : dflt;
}

static void test_raft_simulation(void **state)
{
	bool trace = env_u64("RAFT_SIM_TRACE", 0) != 0;
	signal(SIGABRT, sim_on_abort);
	if (getenv("RAFT_SIM_SEED")) {
		sim_run(env_u64("RAFT_SIM_SEED", 0), trace);
		return;
	}
	uint64_t n = env_u64("RAFT_SIM_SEEDS", SIM_SEEDS);
	for (uint64_t seed = 1; seed <= n; seed++)
		sim_run(seed, trace);
	printf("raft simulation: %" PRIu64 " seeds (3 and 5 voters, pre-vote on "
	       "and off, an observer in every third) passed: %"
	       PRIu64 " leaders elected, %" PRIu64 " crashes, %" PRIu64
	       " partitions, %" PRIu64 " DivergingEpoch answers, %" PRIu64
	       " entries committed, %" PRIu64 " snapshots taken, %" PRIu64
	       " loaded by followers behind a log start\n", n, g_stats.elections,
	       g_stats.crashes, g_stats.partitions, g_stats.diverging,
	       g_stats.committed, g_stats.snapshots, g_stats.snapshot_loads);
	if (n >= 500) /* the schedules did reach a follower behind a log start */
		assert_true(g_stats.snapshot_loads > 0);
	signal(SIGABRT, SIG_DFL);
}

/* ---- Scenarios: one cluster, no random faults, links cut by hand ---- */

/* Voters 1..voters (and observers after them) on a quiet network. */
static void sc_open(struct sim *s, int voters, int observers, bool pre_vote)
{
	memset(s, 0, sizeof *s);
	s->seed = 99;
	s->rng = 12345;
	s->voters = voters;
	s->n = voters + observers;
	s->pre_vote = pre_vote;
	s->max_delay = 5;
	s->election_timeout_ms = 1000; /* Kafka's defaults */
	s->trace = env_u64("RAFT_SIM_TRACE", 0) != 0;
	g_sim = s;
	for (int i = 0; i < s->n; i++)
		sim_start(s, i);
}

/* Time passes: messages arrive, every live node ticks. */
static void sc_run(struct sim *s, int64_t ms)
{
	for (int64_t end = s->now + ms; s->now < end; s->now += SIM_STEP_MS) {
		sim_deliver(s);
		for (int i = 0; i < s->n; i++)
			if (s->node[i].r) {
				raft_tick(s->node[i].r, s->now);
				sim_drain(s, i);
				sim_check(s);
			}
	}
}

/* Cut (or mend) both directions between node index a and every node in
 * mask (bit i: node index i). */
static void sc_cut(struct sim *s, int a, unsigned mask, bool cut)
{
	for (int b = 0; b < s->n; b++)
		if (b != a && (mask >> b & 1))
			s->cut[a][b] = s->cut[b][a] = cut;
}

static int32_t sc_epoch(const struct sim *s, int i)
{
	return raft_quorum(s->node[i].r).leader_epoch;
}

/* A voter cut off from the others for 20 s, then back. With pre-vote
 * (KIP-996) it asks, hears no majority, keeps its epoch, and on its
 * return follows the leader it left; without, it bumps its epoch every
 * election timeout and deposes that leader when it returns. */
static void sc_isolated_voter(bool pre_vote, int32_t *l_epoch, int32_t *f_epoch,
			      int32_t *after_epoch, bool *same_leader)
{
	struct sim s;
	sc_open(&s, 3, 0, pre_vote);
	sc_run(&s, 5000);
	int l = sim_leader(&s);
	assert_true(l >= 0);
	int f = (l + 1) % 3, other = (l + 2) % 3;
	*l_epoch = sc_epoch(&s, l);
	sc_cut(&s, f, 0x7, true);
	sc_run(&s, 20000);
	*f_epoch = sc_epoch(&s, f);
	assert_int_equal(raft_state(s.node[l].r), RAFT_LEADER); /* 2 of 3 */
	assert_int_equal(sc_epoch(&s, l), *l_epoch);
	assert_int_equal(sc_epoch(&s, other), *l_epoch);
	if (pre_vote)
		assert_int_equal(raft_state(s.node[f].r), RAFT_PROSPECTIVE);
	sc_cut(&s, f, 0x7, false);
	sc_run(&s, 5000);
	int now_l = sim_leader(&s);
	assert_true(now_l >= 0);
	*same_leader = now_l == l && raft_state(s.node[l].r) == RAFT_LEADER;
	*after_epoch = sc_epoch(&s, now_l);
	/* Either way the returned voter gets what the leader writes now. */
	int64_t off = sim_propose(&s, "after the return");
	assert_true(off >= 0);
	sc_run(&s, 2000);
	assert_true(raft_high_watermark(s.node[f].r) > off);
	assert_int_equal(raft_quorum(s.node[f].r).leader_id, now_l + 1);
	sim_free(&s);
}

static void test_raft_pre_vote_isolated_voter_keeps_epoch(void **state)
{
	int32_t l_epoch, f_epoch, after;
	bool same;
	sc_isolated_voter(true, &l_epoch, &f_epoch, &after, &same);
	assert_int_equal(f_epoch, l_epoch); /* no bump while cut off */
	assert_true(same);                  /* the leader was not deposed */
	assert_int_equal(after, l_epoch);
	/* KRaft before KIP-996, the same schedule: the epoch races ahead and
	 * the returning voter forces an election. */
	sc_isolated_voter(false, &l_epoch, &f_epoch, &after, &same);
	assert_true(f_epoch > l_epoch + 3);
	assert_true(after >= f_epoch);
}

/* The lab's follower-isolation with the active controller as the cut
 * node: the leader, cut off with records the others never got, resigns
 * (check quorum) and waits as a prospective voter; the others elect one
 * of them. Healed, the old leader follows the new one, drops its
 * uncommitted records, and is caught up within seconds. */
static void test_raft_pre_vote_isolated_leader_rejoins(void **state)
{
	struct sim s;
	sc_open(&s, 3, 0, true);
	sc_run(&s, 5000);
	int l = sim_leader(&s);
	assert_true(l >= 0);
	int32_t epoch = sc_epoch(&s, l);
	sc_cut(&s, l, 0x7, true);
	assert_true(sim_propose(&s, "never committed") >= 0);
	sc_run(&s, 20000);
	int nl = sim_leader(&s);
	assert_true(nl >= 0 && nl != l);
	assert_true(sc_epoch(&s, nl) > epoch);
	assert_int_not_equal(raft_state(s.node[l].r), RAFT_LEADER);
	sc_cut(&s, l, 0x7, false);
	int64_t healed = s.now;
	int64_t off = -1;
	while (s.now - healed < 10000) {
		sc_run(&s, 100);
		if (off < 0)
			off = sim_propose(&s, "after the heal");
		if (off >= 0 && raft_state(s.node[l].r) == RAFT_FOLLOWER &&
		    raft_high_watermark(s.node[l].r) > off)
			break;
	}
	assert_int_equal(raft_state(s.node[l].r), RAFT_FOLLOWER);
	assert_int_equal(raft_quorum(s.node[l].r).leader_id, nl + 1);
	assert_true(raft_high_watermark(s.node[l].r) > off);
	assert_true(s.now - healed <= 3000);
	sim_free(&s);
}

/* The leader really dies: the others' fetch timeouts fire, pre-votes
 * pass (nobody hears a leader), and one of them leads epoch + 1. */
static void test_raft_pre_vote_elects_when_leader_dies(void **state)
{
	for (int voters = 3; voters <= 5; voters += 2) {
		struct sim s;
		sc_open(&s, voters, 0, true);
		sc_run(&s, 5000);
		int l = sim_leader(&s);
		assert_true(l >= 0);
		int32_t epoch = sc_epoch(&s, l);
		raft_free(s.node[l].r);
		s.node[l].r = NULL;
		int64_t died = s.now;
		while (sim_leader(&s) < 0 && s.now - died < 10000)
			sc_run(&s, 100);
		int nl = sim_leader(&s);
		assert_true(nl >= 0 && nl != l);
		/* Two followers that lost the leader at the same fetch may
		 * both pass a pre-vote and split a vote: a newer epoch, soon. */
		assert_true(sc_epoch(&s, nl) > epoch);
		assert_true(sc_epoch(&s, nl) <= epoch + 3);
		assert_true(s.now - died <= 2000 + 3 * 2000); /* fetch + elections */
		int64_t off = sim_propose(&s, "after the death");
		sc_run(&s, 1000);
		assert_true(raft_high_watermark(s.node[nl].r) > off);
		sim_free(&s);
	}
}

/* Lab, split_controllers: a broker (observer 4) could reach a controller
 * cut off from the other controllers. Without pre-vote that one is a
 * candidate of ever newer epochs; the observer, sent looking for a
 * leader, asks it too. It must not take that leaderless epoch: it finds
 * the real leader again, of the epoch it already followed. */
static void test_raft_observer_finds_leader_past_cut_off_candidate(void **state)
{
	struct sim s;
	sc_open(&s, 3, 1, false);
	sc_run(&s, 5000);
	int l = sim_leader(&s), c = (l + 1) % 3, obs = 3;
	assert_true(l >= 0);
	int32_t epoch = sc_epoch(&s, l);
	assert_int_equal(raft_quorum(s.node[obs].r).leader_id, l + 1);
	sc_cut(&s, c, 0x7, true);     /* c: no other voter */
	sc_cut(&s, obs, 1u << l, true); /* the observer loses its leader */
	sc_run(&s, 8000);
	assert_true(sc_epoch(&s, c) > epoch + 1); /* a candidate, far ahead */
	assert_true(sc_epoch(&s, obs) <= epoch);  /* not taken from it */
	sc_cut(&s, obs, 1u << l, false); /* the leader is reachable again */
	sc_run(&s, 5000);
	assert_int_equal(raft_state(s.node[obs].r), RAFT_FOLLOWER);
	assert_int_equal(raft_quorum(s.node[obs].r).leader_id, l + 1);
	assert_int_equal(sc_epoch(&s, obs), epoch);
	int64_t off = sim_propose(&s, "seen by the broker");
	sc_run(&s, 2000);
	assert_true(raft_high_watermark(s.node[obs].r) > off);
	sim_free(&s);
}

/* ---- Metadata records and the image ---- */
/*
 * Chapter 07's second and third files: the metadata records
 * (chapters/07_metadata.c) and the image they build (chapters/07_image.c).
 * Fixtures are built by hand from metadata/<Name>.json; every record type
 * and version round-trips; every byte cut of every record is an error;
 * the image is driven through register, fence, topic, ISR, config and
 * remove sequences with meta_check after each step.
 */

/* Topic id 00 01 .. 0f: base64url "AAECAwQFBgcICQoLDA0ODw". */
static struct wire_uuid meta_uuid(uint8_t first)
{
	struct wire_uuid u;
	for (int i = 0; i < WIRE_UUID_LEN; i++)
		u.b[i] = (uint8_t)(first + i);
	return u;
}

#define META_UUID_HEX                                                   \
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, \
		0x0b, 0x0c, 0x0d, 0x0e, 0x0f

static const int32_t meta_ids12[] = {1, 2};
static const int32_t meta_ids1[] = {1};
static const int32_t meta_ids3[] = {3};
static struct meta_endpoint meta_ep[] = {
	{{"PLAINTEXT", 9}, {"localhost", 9}, 9092, 0}};
static struct meta_broker_feature meta_feat[] = {
	{{"metadata.version", 16}, 1, 20}};
static struct wire_uuid meta_dirs[2];

/* An array view of a static list (not owned: never meta_record_fini it). */
static struct meta_array meta_arr(const void *v, int32_t n)
{
	struct meta_array a = {n, (void *)v};
	return a;
}

/* Every field of type at version set to something other than its default
 * where the version holds it, so a round trip exercises all of them. */
static void meta_fill(struct meta_record *r, int16_t type, int16_t v)
{
	meta_record_init(r, type, v);
	meta_dirs[0] = meta_uuid(0x20);
	meta_dirs[1] = meta_uuid(0x40);
	r->broker_id = 1;
	r->broker_epoch = 7;
	r->incarnation_id = meta_uuid(0x80);
	r->topic_id = meta_uuid(0);
	r->acl_id = meta_uuid(0x10);
	r->name = wire_str_c(type == META_FEATURE_LEVEL ? "metadata.version" : "demo");
	r->partition_id = 0;
	r->resource_type = META_RESOURCE_TOPIC;
	r->resource_name = wire_str_c("demo");
	r->value = wire_str_c("1000");
	r->next_producer_id = 1000;
	r->feature_level = 20;
	r->pattern_type = 3;
	r->principal = wire_str_c("User:alice");
	r->host = wire_str_c("*");
	r->operation = 3;
	r->permission_type = 3;
	r->mechanism = 1;
	r->salt = (struct wire_bytes){(const uint8_t *)"salt", 4};
	r->stored_key = (struct wire_bytes){(const uint8_t *)"stored", 6};
	r->server_key = (struct wire_bytes){(const uint8_t *)"server", 6};
	r->iterations = 4096;
	r->replicas = meta_arr(meta_ids12, 2);
	r->isr = meta_arr(meta_ids12, 2);
	r->leader = 1;
	r->leader_epoch = 0;
	r->partition_epoch = 0;
	r->rack = wire_str_c("az1");
	r->endpoints = meta_arr(meta_ep, 1);
	r->features = meta_arr(meta_feat, 1);
	r->fenced_change = META_FENCE_CHANGE_UNFENCE;
	if (type == META_PARTITION_CHANGE) {
		r->removing_replicas = meta_arr(meta_ids3, 1);
		r->adding_replicas = meta_arr(meta_ids3, 1);
		r->leader_recovery_state = 0;
	}
	if (v >= 1) {
		r->in_controlled_shutdown = true;
		r->shutdown_change = 1;
		r->directories = meta_arr(meta_dirs, 2);
	}
	if (v >= 2) {
		r->is_migrating_zk_broker = type == META_REGISTER_BROKER;
		r->elr = meta_arr(meta_ids3, 1);
		r->last_known_elr = meta_arr(meta_ids1, 1);
		if (type == META_BROKER_REGISTRATION_CHANGE)
			r->log_dirs = meta_arr(meta_dirs, 2);
	}
	if (v >= 3)
		r->log_dirs = meta_arr(meta_dirs, 2);
}

static const int16_t meta_types[] = {
	META_REGISTER_BROKER, META_UNREGISTER_BROKER, META_TOPIC,
	META_PARTITION, META_CONFIG, META_PARTITION_CHANGE, META_FENCE_BROKER,
	META_UNFENCE_BROKER, META_REMOVE_TOPIC, META_USER_SCRAM_CREDENTIAL,
	META_FEATURE_LEVEL, META_PRODUCER_IDS, META_BROKER_REGISTRATION_CHANGE,
	META_ACCESS_CONTROL_ENTRY, META_REMOVE_ACCESS_CONTROL_ENTRY, META_NO_OP,
	META_REMOVE_USER_SCRAM_CREDENTIAL,
};
#define META_N_TYPES ((int)(sizeof meta_types / sizeof meta_types[0]))

/* Encode r and compare with the expected bytes. */
static void meta_assert_bytes(const struct meta_record *r, const uint8_t *want,
			      size_t n)
{
	struct kb_buf b;
	kb_buf_init(&b);
	assert_int_equal(meta_record_encode(r, &b), KB_OK);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, want, n);
	struct meta_record back;
	assert_int_equal(meta_record_decode(b.data, b.len, &back), KB_OK);
	assert_int_equal(back.type, r->type);
	assert_int_equal(back.version, r->version);
	meta_record_fini(&back);
	kb_buf_fini(&b);
}

static void test_meta_topic_record_bytes(void **state)
{
	(void)state;
	struct meta_record r;
	meta_record_init(&r, META_TOPIC, 0);
	r.name = wire_str_c("demo");
	r.topic_id = meta_uuid(0);
	const uint8_t want[] = {0x01, 0x02, 0x00, /* frame 1, TopicRecord, v0 */
				0x05, 'd', 'e', 'm', 'o', META_UUID_HEX,
				0x00 /* no tagged fields */};
	meta_assert_bytes(&r, want, sizeof want);
}

static void test_meta_register_broker_bytes(void **state)
{
	(void)state;
	struct meta_record r;
	meta_record_init(&r, META_REGISTER_BROKER, 3);
	r.broker_id = 1;
	r.incarnation_id = meta_uuid(0);
	r.broker_epoch = 7;
	r.endpoints = meta_arr(meta_ep, 1);
	r.features = meta_arr(meta_feat, 1);
	r.rack = wire_str_c("az1");
	const uint8_t want[] = {
		0x01, 0x00, 0x03, 0, 0, 0, 1, /* brokerId */
		0x00,                         /* isMigratingZkBroker (v2+) */
		META_UUID_HEX, 0, 0, 0, 0, 0, 0, 0, 7, /* incarnation, epoch */
		0x02, 0x0a, 'P', 'L', 'A', 'I', 'N', 'T', 'E', 'X', 'T',
		0x0a, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't', 0x23, 0x84,
		0x00, 0x00, 0x00, /* port 9092, PLAINTEXT, endpoint tags */
		0x02, 0x11, 'm', 'e', 't', 'a', 'd', 'a', 't', 'a', '.', 'v',
		'e', 'r', 's', 'i', 'o', 'n', 0x00, 0x01, 0x00, 0x14, 0x00,
		0x04, 'a', 'z', '1', /* rack */
		0x01, 0x00,          /* fenced (default true), not in shutdown */
		0x00,                /* logDirs empty: tag 0 left out */
	};
	meta_assert_bytes(&r, want, sizeof want);
}

/* Tagged fields go out in ascending tag order (leader tag 1 before
 * directories tag 8), and only when they differ from the default. */
static void test_meta_partition_change_bytes(void **state)
{
	(void)state;
	struct meta_record r;
	meta_record_init(&r, META_PARTITION_CHANGE, 1);
	r.partition_id = 0;
	r.topic_id = meta_uuid(0);
	r.directories = meta_arr(meta_dirs, 1);
	meta_dirs[0] = meta_uuid(0);
	r.isr = meta_arr(meta_ids12, 2);
	r.leader = 2;
	const uint8_t want[] = {
		0x01, 0x05, 0x01, 0, 0, 0, 0, META_UUID_HEX,
		0x03,                                    /* three tags */
		0x00, 0x09, 0x03, 0, 0, 0, 1, 0, 0, 0, 2, /* tag 0 isr [1,2] */
		0x01, 0x04, 0, 0, 0, 2,                   /* tag 1 leader 2 */
		0x08, 0x11, 0x02, META_UUID_HEX,          /* tag 8 directories */
	};
	meta_assert_bytes(&r, want, sizeof want);
}

static void test_meta_config_record_null_value_bytes(void **state)
{
	(void)state;
	struct meta_record r;
	meta_record_init(&r, META_CONFIG, 0);
	r.resource_type = META_RESOURCE_TOPIC;
	r.resource_name = wire_str_c("t");
	r.name = wire_str_c("x");
	r.value = wire_str_c(NULL); /* the default is "", as in Kafka */
	const uint8_t want[] = {0x01, 0x04, 0x00, 0x02, 0x02, 't', 0x02, 'x',
				0x00 /* null value */, 0x00};
	meta_assert_bytes(&r, want, sizeof want);
	r.name = wire_str_c(NULL); /* not nullable */
	struct kb_buf b;
	kb_buf_init(&b);
	assert_int_equal(meta_record_encode(&r, &b), KB_ERR_INVAL);
	kb_buf_fini(&b);
}

/* INVARIANT 1 of 07_metadata.c: every type and version survives a round
 * trip: same bytes again, same JSON line. */
static void test_meta_round_trip_every_type_and_version(void **state)
{
	(void)state;
	for (int t = 0; t < META_N_TYPES; t++) {
		int16_t max = meta_type_max_version(meta_types[t]);
		assert_true(max >= 0);
		for (int16_t v = 0; v <= max; v++) {
			struct meta_record r, back;
			meta_fill(&r, meta_types[t], v);
			struct kb_buf a, b, ja, jb;
			kb_buf_init(&a); kb_buf_init(&b);
			kb_buf_init(&ja); kb_buf_init(&jb);
			assert_int_equal(meta_record_encode(&r, &a), KB_OK);
			assert_int_equal(meta_record_decode(a.data, a.len, &back), KB_OK);
			assert_int_equal(meta_record_encode(&back, &b), KB_OK);
			assert_int_equal(a.len, b.len);
			assert_memory_equal(a.data, b.data, a.len);
			assert_int_equal(meta_record_format(&r, &ja), KB_OK);
			assert_int_equal(meta_record_format(&back, &jb), KB_OK);
			assert_int_equal(ja.len, jb.len);
			assert_memory_equal(ja.data, jb.data, ja.len);
			meta_record_fini(&back);
			kb_buf_fini(&a); kb_buf_fini(&b);
			kb_buf_fini(&ja); kb_buf_fini(&jb);
		}
		struct meta_record r;
		meta_fill(&r, meta_types[t], (int16_t)(max + 1));
		struct kb_buf a;
		kb_buf_init(&a);
		assert_int_equal(meta_record_encode(&r, &a), KB_ERR_INVAL);
		kb_buf_fini(&a);
	}
}

/* A field the version lacks must hold its default: Kafka refuses to
 * write it (UnsupportedVersionException); so do we. */
static void test_meta_encode_refuses_field_missing_from_version(void **state)
{
	(void)state;
	struct meta_record r;
	meta_fill(&r, META_PARTITION, 2);
	r.version = 0; /* directories and ELR are v1+ / v2+ */
	struct kb_buf b;
	kb_buf_init(&b);
	assert_int_equal(meta_record_encode(&r, &b), KB_ERR_INVAL);
	kb_buf_fini(&b);
}

/* INVARIANT 3: every cut of every record, a byte too many, and damaged
 * frames are KB_ERR_CORRUPT, never a crash. */
static void test_meta_decode_every_cut_is_corrupt(void **state)
{
	(void)state;
	for (int t = 0; t < META_N_TYPES; t++) {
		int16_t max = meta_type_max_version(meta_types[t]);
		for (int16_t v = 0; v <= max; v++) {
			struct meta_record r, back;
			meta_fill(&r, meta_types[t], v);
			struct kb_buf a;
			kb_buf_init(&a);
			assert_int_equal(meta_record_encode(&r, &a), KB_OK);
			for (size_t cut = 0; cut < a.len; cut++) {
				uint8_t *copy = malloc(cut + 1); /* exact size for ASan */
				memcpy(copy, a.data, cut);
				assert_int_equal(meta_record_decode(copy, cut, &back),
						 KB_ERR_CORRUPT);
				meta_record_fini(&back);
				free(copy);
			}
			assert_int_equal(kb_buf_append(&a, "", 1), KB_OK);
			assert_int_equal(meta_record_decode(a.data, a.len, &back),
					 KB_ERR_CORRUPT);
			meta_record_fini(&back);
			kb_buf_fini(&a);
		}
	}
}

/* Kafka's MetadataRecordSerdeTest, case by case: each input in a 64-byte
 * zeroed buffer as there, each refused. Then testParsingRecordWithGarbage-
 * AtEnd: RegisterBrokerRecord v0 {brokerId 1, brokerEpoch 2}, the rest at
 * Kafka's defaults (rack "", fenced true), is these bytes; one more byte
 * is garbage. */
static void test_meta_decode_kafka_serde_test_cases(void **state)
{
	(void)state;
	static const uint8_t cases[][8] = {
		{0x80, 0x80, 0x80, 0x80, 0x80, 0x80},       /* frame version varint */
		{0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80}, /* type varint */
		{0x01, 0x08, 0x80, 0x80, 0x80, 0x80, 0x80}, /* version varint */
		{0x01, 0x08, 0xff, 0xff, 0xff, 0x7f, 0x80}, /* version too large */
		{0x01, 0xff, 0x7f, 0x00, 0x80},             /* unknown type */
		{0x01, 0x00, 0x00, 0x80},                   /* malformed data */
		{0x0f},                                     /* frame version 15 */
	};
	struct meta_record back;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t buf[64] = {0};
		memcpy(buf, cases[i], sizeof cases[i]);
		assert_int_equal(meta_record_decode(buf, sizeof buf, &back),
				 KB_ERR_CORRUPT);
		meta_record_fini(&back);
	}
	struct meta_record r;
	meta_record_init(&r, META_REGISTER_BROKER, 0);
	r.broker_id = 1;
	r.broker_epoch = 2;
	const uint8_t want[] = {0x01, 0x00, 0x00, 0, 0, 0, 1,
				0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
				0, 0, 0, 0, 0, 0, 0, 2,
				0x01, 0x01, /* no endPoints, no features */
				0x01,       /* rack "" */
				0x01,       /* fenced */
				0x00, 0xee /* tags; then one byte of garbage */};
	meta_assert_bytes(&r, want, sizeof want - 1);
	assert_int_equal(meta_record_decode(want, sizeof want, &back), KB_ERR_CORRUPT);
	meta_record_fini(&back);
}

static void test_meta_decode_bad_frames(void **state)
{
	(void)state;
	const uint8_t topic[] = {0x01, 0x02, 0x00, 0x01, META_UUID_HEX, 0x00};
	const struct { uint8_t b0, b1, b2; } bad[] = {
		{0x00, 0x02, 0x00}, /* frame version 0 (KRaft preview) */
		{0x02, 0x02, 0x00}, /* frame version 2 */
		{0x01, 0x06, 0x00}, /* apiKey 6: not a record type */
		{0x01, 0x02, 0x01}, /* TopicRecord v1 does not exist */
		{0x01, 0x7f, 0x00}, /* apiKey 127 */
	};
	struct meta_record back;
	assert_int_equal(meta_record_decode(topic, sizeof topic, &back), KB_OK);
	meta_record_fini(&back);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint8_t b[sizeof topic];
		memcpy(b, topic, sizeof b);
		b[0] = bad[i].b0, b[1] = bad[i].b1, b[2] = bad[i].b2;
		assert_int_equal(meta_record_decode(b, sizeof b, &back), KB_ERR_CORRUPT);
		meta_record_fini(&back);
	}
	/* A PartitionRecord claiming 2^31 replicas in 4 bytes allocates
	 * nothing; a tag section claiming more tags than bytes is refused. */
	const uint8_t huge[] = {0x01, 0x03, 0x00, 0, 0, 0, 0, META_UUID_HEX,
				0xff, 0xff, 0xff, 0xff, 0x07, 0, 0, 0, 0};
	assert_int_equal(meta_record_decode(huge, sizeof huge, &back), KB_ERR_CORRUPT);
	meta_record_fini(&back);
	const uint8_t tags[] = {0x01, 0x14, 0x00, 0x7f, 0x00, 0x00};
	assert_int_equal(meta_record_decode(tags, sizeof tags, &back), KB_ERR_CORRUPT);
	meta_record_fini(&back);
	/* Tags out of order, and a known tag whose size lies. */
	const uint8_t order[] = {0x01, 0x14, 0x00, 0x02, 0x05, 0x00, 0x01, 0x00};
	assert_int_equal(meta_record_decode(order, sizeof order, &back), KB_ERR_CORRUPT);
	meta_record_fini(&back);
	const uint8_t size[] = {0x01, 0x05, 0x00, 0, 0, 0, 0, META_UUID_HEX,
				0x01, 0x01, 0x05, 0, 0, 0, 2, 9};
	assert_int_equal(meta_record_decode(size, sizeof size, &back), KB_ERR_CORRUPT);
	meta_record_fini(&back);
}

/* Random bytes after a valid frame header: decode may succeed or not,
 * but never crashes or leaks (run under the sanitizer build). */
static void test_meta_decode_garbage_never_crashes(void **state)
{
	(void)state;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	uint8_t b[64];
	for (int i = 0; i < 20000; i++) {
		size_t n = 3 + (size_t)(x % 60);
		for (size_t j = 0; j < n; j++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			b[j] = (uint8_t)x;
		}
		b[0] = META_FRAME_VERSION;
		b[1] = (uint8_t)meta_types[x % META_N_TYPES];
		b[2] = (uint8_t)(x % 4);
		struct meta_record back;
		int rc = meta_record_decode(b, n, &back);
		assert_true(rc == KB_OK || rc == KB_ERR_CORRUPT);
		meta_record_fini(&back);
	}
}

/* The JSON of kafka-dump-log --cluster-metadata-decoder, one line each. */
static void meta_assert_json(const struct meta_record *r, const char *want)
{
	struct kb_buf b;
	kb_buf_init(&b);
	assert_int_equal(meta_record_format(r, &b), KB_OK);
	assert_int_equal(kb_buf_append(&b, "", 1), KB_OK);
	assert_string_equal((const char *)b.data, want);
	kb_buf_fini(&b);
}

static void test_meta_record_format_json(void **state)
{
	(void)state;
	struct meta_record r;
	meta_record_init(&r, META_TOPIC, 0);
	r.name = wire_str_c("de\"mo\n");
	r.topic_id = meta_uuid(0);
	meta_assert_json(&r, "{\"type\":\"TOPIC_RECORD\",\"version\":0,\"data\":"
			 "{\"name\":\"de\\\"mo\\n\",\"topicId\":\"AAECAwQFBgcICQoLDA0ODw\"}}");
	meta_record_init(&r, META_PARTITION_CHANGE, 0);
	r.topic_id = meta_uuid(0);
	r.isr = meta_arr(meta_ids12, 2);
	meta_assert_json(&r, "{\"type\":\"PARTITION_CHANGE_RECORD\",\"version\":0,"
			 "\"data\":{\"partitionId\":-1,\"topicId\":"
			 "\"AAECAwQFBgcICQoLDA0ODw\",\"isr\":[1,2]}}");
	meta_record_init(&r, META_CONFIG, 0);
	r.resource_type = META_RESOURCE_BROKER;
	r.resource_name = wire_str_c("");
	r.name = wire_str_c("log.retention.ms");
	r.value = wire_str_c(NULL);
	meta_assert_json(&r, "{\"type\":\"CONFIG_RECORD\",\"version\":0,\"data\":"
			 "{\"resourceType\":4,\"resourceName\":\"\",\"name\":"
			 "\"log.retention.ms\",\"value\":null}}");
	meta_fill(&r, META_REGISTER_BROKER, 0);
	meta_assert_json(&r, "{\"type\":\"REGISTER_BROKER_RECORD\",\"version\":0,"
			 "\"data\":{\"brokerId\":1,\"incarnationId\":"
			 "\"gIGCg4SFhoeIiYqLjI2Ojw\",\"brokerEpoch\":7,\"endPoints\":"
			 "[{\"name\":\"PLAINTEXT\",\"host\":\"localhost\",\"port\":9092,"
			 "\"securityProtocol\":0}],\"features\":[{\"name\":"
			 "\"metadata.version\",\"minSupportedVersion\":1,"
			 "\"maxSupportedVersion\":20}],\"rack\":\"az1\",\"fenced\":true}}");
	meta_fill(&r, META_USER_SCRAM_CREDENTIAL, 0);
	meta_assert_json(&r, "{\"type\":\"USER_SCRAM_CREDENTIAL_RECORD\","
			 "\"version\":0,\"data\":{\"name\":\"demo\",\"mechanism\":1,"
			 "\"salt\":\"c2FsdA==\",\"storedKey\":\"c3RvcmVk\",\"serverKey\":"
			 "\"c2VydmVy\",\"iterations\":4096}}");
	meta_record_init(&r, META_NO_OP, 0);
	meta_assert_json(&r, "{\"type\":\"NO_OP_RECORD\",\"version\":0,\"data\":{}}");
	meta_fill(&r, META_PRODUCER_IDS, 0);
	meta_assert_json(&r, "{\"type\":\"PRODUCER_IDS_RECORD\",\"version\":0,"
			 "\"data\":{\"brokerId\":1,\"brokerEpoch\":7,"
			 "\"nextProducerId\":1000}}");
}

/* Every type at its newest version, as meta_fill sets it: the exact line
 * kafka-dump-log prints (fields named and typed as each JSON schema says,
 * tagged fields only when not default, uuids in URL-safe base64). */
static void test_meta_record_format_every_type(void **state)
{
	(void)state;
	static const char *const want[META_N_TYPES] = {
		"{\"type\":\"REGISTER_BROKER_RECORD\",\"version\":3,"
		"\"data\":{\"brokerId\":1,\"isMigratingZkBroker\":true,"
		"\"incarnationId\":\"gIGCg4SFhoeIiYqLjI2Ojw\",\"brokerEpoch\":7,"
		"\"endPoints\":[{\"name\":\"PLAINTEXT\",\"host\":\"localhost\","
		"\"port\":9092,\"securityProtocol\":0}],"
		"\"features\":[{\"name\":\"metadata.version\","
		"\"minSupportedVersion\":1,\"maxSupportedVersion\":20}],"
		"\"rack\":\"az1\",\"fenced\":true,\"inControlledShutdown\":true,"
		"\"logDirs\":[\"ICEiIyQlJicoKSorLC0uLw\","
		"\"QEFCQ0RFRkdISUpLTE1OTw\"]}}",
		"{\"type\":\"UNREGISTER_BROKER_RECORD\",\"version\":0,"
		"\"data\":{\"brokerId\":1,\"brokerEpoch\":7}}",
		"{\"type\":\"TOPIC_RECORD\",\"version\":0,\"data\":{\"name\":\"demo\","
		"\"topicId\":\"AAECAwQFBgcICQoLDA0ODw\"}}",
		"{\"type\":\"PARTITION_RECORD\",\"version\":2,"
		"\"data\":{\"partitionId\":0,"
		"\"topicId\":\"AAECAwQFBgcICQoLDA0ODw\",\"replicas\":[1,2],"
		"\"isr\":[1,2],\"removingReplicas\":[],\"addingReplicas\":[],"
		"\"leader\":1,\"leaderEpoch\":0,\"partitionEpoch\":0,"
		"\"directories\":[\"ICEiIyQlJicoKSorLC0uLw\","
		"\"QEFCQ0RFRkdISUpLTE1OTw\"],\"eligibleLeaderReplicas\":[3],"
		"\"lastKnownElr\":[1]}}",
		"{\"type\":\"CONFIG_RECORD\",\"version\":0,"
		"\"data\":{\"resourceType\":2,\"resourceName\":\"demo\","
		"\"name\":\"demo\",\"value\":\"1000\"}}",
		"{\"type\":\"PARTITION_CHANGE_RECORD\",\"version\":2,"
		"\"data\":{\"partitionId\":0,"
		"\"topicId\":\"AAECAwQFBgcICQoLDA0ODw\",\"isr\":[1,2],\"leader\":1,"
		"\"replicas\":[1,2],\"removingReplicas\":[3],"
		"\"addingReplicas\":[3],\"leaderRecoveryState\":0,"
		"\"directories\":[\"ICEiIyQlJicoKSorLC0uLw\","
		"\"QEFCQ0RFRkdISUpLTE1OTw\"],\"eligibleLeaderReplicas\":[3],"
		"\"lastKnownElr\":[1]}}",
		"{\"type\":\"FENCE_BROKER_RECORD\",\"version\":0,\"data\":{\"id\":1,"
		"\"epoch\":7}}",
		"{\"type\":\"UNFENCE_BROKER_RECORD\",\"version\":0,"
		"\"data\":{\"id\":1,\"epoch\":7}}",
		"{\"type\":\"REMOVE_TOPIC_RECORD\",\"version\":0,"
		"\"data\":{\"topicId\":\"AAECAwQFBgcICQoLDA0ODw\"}}",
		"{\"type\":\"USER_SCRAM_CREDENTIAL_RECORD\",\"version\":0,"
		"\"data\":{\"name\":\"demo\",\"mechanism\":1,\"salt\":\"c2FsdA==\","
		"\"storedKey\":\"c3RvcmVk\",\"serverKey\":\"c2VydmVy\","
		"\"iterations\":4096}}",
		"{\"type\":\"FEATURE_LEVEL_RECORD\",\"version\":0,"
		"\"data\":{\"name\":\"metadata.version\",\"featureLevel\":20}}",
		"{\"type\":\"PRODUCER_IDS_RECORD\",\"version\":0,"
		"\"data\":{\"brokerId\":1,\"brokerEpoch\":7,"
		"\"nextProducerId\":1000}}",
		"{\"type\":\"BROKER_REGISTRATION_CHANGE_RECORD\",\"version\":2,"
		"\"data\":{\"brokerId\":1,\"brokerEpoch\":7,\"fenced\":-1,"
		"\"inControlledShutdown\":1,"
		"\"logDirs\":[\"ICEiIyQlJicoKSorLC0uLw\","
		"\"QEFCQ0RFRkdISUpLTE1OTw\"]}}",
		"{\"type\":\"ACCESS_CONTROL_ENTRY_RECORD\",\"version\":0,"
		"\"data\":{\"id\":\"EBESExQVFhcYGRobHB0eHw\",\"resourceType\":2,"
		"\"resourceName\":\"demo\",\"patternType\":3,"
		"\"principal\":\"User:alice\",\"host\":\"*\",\"operation\":3,"
		"\"permissionType\":3}}",
		"{\"type\":\"REMOVE_ACCESS_CONTROL_ENTRY_RECORD\",\"version\":0,"
		"\"data\":{\"id\":\"EBESExQVFhcYGRobHB0eHw\"}}",
		"{\"type\":\"NO_OP_RECORD\",\"version\":0,\"data\":{}}",
		"{\"type\":\"REMOVE_USER_SCRAM_CREDENTIAL_RECORD\",\"version\":0,"
		"\"data\":{\"name\":\"demo\",\"mechanism\":1}}",
	};
	for (int t = 0; t < META_N_TYPES; t++) {
		struct meta_record r;
		meta_fill(&r, meta_types[t], meta_type_max_version(meta_types[t]));
		meta_assert_json(&r, want[t]);
	}
}

/* Apply r as a follower would: encode, decode the bytes, apply, check. */
static int meta_apply_rt(struct meta_image *img, const struct meta_record *r)
{
	struct kb_buf b;
	kb_buf_init(&b);
	assert_int_equal(meta_record_encode(r, &b), KB_OK);
	struct meta_record back;
	assert_int_equal(meta_record_decode(b.data, b.len, &back), KB_OK);
	int rc = meta_apply(img, &back);
	meta_record_fini(&back);
	kb_buf_fini(&b);
	meta_check(img);
	return rc;
}

static int meta_register(struct meta_image *img, int32_t id, int64_t epoch)
{
	struct meta_record r;
	meta_fill(&r, META_REGISTER_BROKER, 3);
	r.broker_id = id;
	r.broker_epoch = epoch;
	r.in_controlled_shutdown = false;
	r.is_migrating_zk_broker = false;
	r.fenced = true;
	return meta_apply_rt(img, &r);
}

static int meta_fence(struct meta_image *img, int16_t type, int32_t id,
		      int64_t epoch)
{
	struct meta_record r;
	meta_record_init(&r, type, meta_type_max_version(type));
	r.broker_id = id;
	r.broker_epoch = epoch;
	return meta_apply_rt(img, &r);
}

static void test_meta_image_brokers_register_fence_unfence(void **state)
{
	(void)state;
	struct meta_image img;
	meta_image_init(&img);
	for (int32_t id = 1; id <= 3; id++)
		assert_int_equal(meta_register(&img, id, 10 + id), KB_OK);
	assert_int_equal(img.n_brokers, 3);
	const struct meta_broker *b = meta_broker_find(&img, 2);
	assert_non_null(b);
	assert_true(b->fenced);
	assert_true(wire_str_eq(b->reg.rec.rack, "az1"));
	assert_int_equal(b->reg.rec.endpoints.n, 1);
	assert_int_equal(((struct meta_endpoint *)b->reg.rec.endpoints.v)[0].port, 9092);
	assert_int_equal(meta_fence(&img, META_UNFENCE_BROKER, 2, 12), KB_OK);
	assert_false(meta_broker_find(&img, 2)->fenced);
	/* A stale epoch or an unknown broker contradicts the image. */
	assert_int_equal(meta_fence(&img, META_FENCE_BROKER, 2, 11), KB_ERR_INVAL);
	assert_false(meta_broker_find(&img, 2)->fenced);
	assert_int_equal(meta_fence(&img, META_FENCE_BROKER, 9, 1), KB_ERR_NOTFOUND);
	assert_int_equal(meta_fence(&img, META_FENCE_BROKER, 2, 12), KB_OK);
	assert_true(meta_broker_find(&img, 2)->fenced);
	/* BrokerRegistrationChangeRecord: UNFENCE (-1), then controlled
	 * shutdown (1) with the fencing left as it is (0). */
	struct meta_record r;
	meta_record_init(&r, META_BROKER_REGISTRATION_CHANGE, 2);
	r.broker_id = 2, r.broker_epoch = 12;
	r.fenced_change = META_FENCE_CHANGE_UNFENCE;
	assert_int_equal(meta_apply_rt(&img, &r), KB_OK);
	r.fenced_change = 0, r.shutdown_change = 1;
	assert_int_equal(meta_apply_rt(&img, &r), KB_OK);
	b = meta_broker_find(&img, 2);
	assert_false(b->fenced);
	assert_true(b->in_controlled_shutdown);
	r.fenced_change = 5;
	assert_int_equal(meta_apply_rt(&img, &r), KB_ERR_INVAL);
	/* A restart registers again with a new epoch: replaced, not added. */
	assert_int_equal(meta_register(&img, 2, 20), KB_OK);
	assert_int_equal(img.n_brokers, 3);
	assert_int_equal(meta_broker_find(&img, 2)->epoch, 20);
	assert_true(meta_broker_find(&img, 2)->fenced);
	assert_int_equal(meta_fence(&img, META_UNREGISTER_BROKER, 2, 12),
			 KB_ERR_INVAL);
	assert_int_equal(meta_fence(&img, META_UNREGISTER_BROKER, 2, 20), KB_OK);
	assert_null(meta_broker_find(&img, 2));
	assert_non_null(meta_broker_find(&img, 3));
	assert_int_equal(img.n_brokers, 2);
	meta_image_fini(&img);
}

static int meta_topic(struct meta_image *img, const char *name, uint8_t id)
{
	struct meta_record r;
	meta_record_init(&r, META_TOPIC, 0);
	r.name = wire_str_c(name);
	r.topic_id = meta_uuid(id);
	return meta_apply_rt(img, &r);
}

static int meta_partition(struct meta_image *img, uint8_t id, int32_t p,
			  int32_t leader)
{
	struct meta_record r;
	meta_record_init(&r, META_PARTITION, 2);
	r.topic_id = meta_uuid(id);
	r.partition_id = p;
	r.replicas = meta_arr(meta_ids12, 2);
	r.isr = meta_arr(meta_ids12, 2);
	r.leader = leader;
	r.leader_epoch = 0;
	r.partition_epoch = 0;
	return meta_apply_rt(img, &r);
}

static void test_meta_image_topics_and_partitions(void **state)
{
	(void)state;
	struct meta_image img;
	meta_image_init(&img);
	assert_int_equal(meta_partition(&img, 0x10, 0, 1), KB_ERR_NOTFOUND);
	assert_int_equal(meta_topic(&img, "demo", 0x10), KB_OK);
	assert_int_equal(meta_topic(&img, "demo", 0x20), KB_ERR_EXISTS);
	assert_int_equal(meta_topic(&img, "other", 0x10), KB_ERR_EXISTS);
	assert_int_equal(meta_topic(&img, "", 0x30), KB_ERR_INVAL);
	/* A NUL inside a name would alias "demo" once it is a C string. */
	struct meta_record nul;
	meta_record_init(&nul, META_TOPIC, 0);
	nul.name = (struct wire_str){"demo\0x", 6};
	nul.topic_id = meta_uuid(0x30);
	assert_int_equal(meta_apply_rt(&img, &nul), KB_ERR_INVAL);
	assert_int_equal(img.n_topics, 1);
	for (int32_t p = 0; p < 3; p++)
		assert_int_equal(meta_partition(&img, 0x10, p, 1), KB_OK);
	/* INVARIANT 3: partition 5 of 3 would leave a gap. */
	assert_int_equal(meta_partition(&img, 0x10, 5, 1), KB_ERR_INVAL);
	/* INVARIANT 4: a leader outside the ISR is refused. */
	assert_int_equal(meta_partition(&img, 0x10, 0, 3), KB_ERR_INVAL);
	const struct meta_topic *t = meta_topic_find(&img, "demo");
	assert_non_null(t);
	assert_ptr_equal(t, meta_topic_find_id(&img, meta_uuid(0x10)));
	assert_int_equal(t->partition_count, 3);
	assert_int_equal(t->partitions[0].leader, 1);

	/* ISR shrinks to [1]: leader unchanged (-2), partition epoch + 1. */
	struct meta_record r;
	meta_record_init(&r, META_PARTITION_CHANGE, 2);
	r.topic_id = meta_uuid(0x10);
	r.partition_id = 1;
	r.isr = meta_arr(meta_ids1, 1);
	assert_int_equal(meta_apply_rt(&img, &r), KB_OK);
	t = meta_topic_find(&img, "demo");
	const struct meta_partition *p = &t->partitions[1];
	assert_int_equal(p->isr.n, 1);
	assert_int_equal(p->leader, 1);
	assert_int_equal(p->leader_epoch, 0);
	assert_int_equal(p->partition_epoch, 1);
	assert_int_equal(p->replicas.n, 2);
	/* Leader 2 is not in ISR [1]: refused, the partition unchanged. */
	meta_record_init(&r, META_PARTITION_CHANGE, 2);
	r.topic_id = meta_uuid(0x10);
	r.partition_id = 1;
	r.leader = 2;
	assert_int_equal(meta_apply_rt(&img, &r), KB_ERR_INVAL);
	p = &meta_topic_find(&img, "demo")->partitions[1];
	assert_int_equal(p->leader, 1);
	assert_int_equal(p->partition_epoch, 1);
	/* With ISR [1,2] in the same record it is a new leader: epochs + 1. */
	r.isr = meta_arr(meta_ids12, 2);
	assert_int_equal(meta_apply_rt(&img, &r), KB_OK);
	p = &meta_topic_find(&img, "demo")->partitions[1];
	assert_int_equal(p->leader, 2);
	assert_int_equal(p->leader_epoch, 1);
	assert_int_equal(p->partition_epoch, 2);
	/* No leader (-1), and ISR not within replicas. */
	meta_record_init(&r, META_PARTITION_CHANGE, 0);
	r.topic_id = meta_uuid(0x10);
	r.partition_id = 1;
	r.leader = META_NO_LEADER;
	assert_int_equal(meta_apply_rt(&img, &r), KB_OK);
	assert_int_equal(meta_topic_find(&img, "demo")->partitions[1].leader, -1);
	r.leader = META_NO_LEADER_CHANGE;
	r.isr = meta_arr(meta_ids3, 1);
	assert_int_equal(meta_apply_rt(&img, &r), KB_ERR_INVAL);
	r.isr = meta_arr(NULL, -1);
	r.partition_id = 3;
	assert_int_equal(meta_apply_rt(&img, &r), KB_ERR_NOTFOUND);
	r.topic_id = meta_uuid(0x77);
	r.partition_id = 0;
	assert_int_equal(meta_apply_rt(&img, &r), KB_ERR_NOTFOUND);
	meta_image_fini(&img);
}

static int meta_config(struct meta_image *img, int8_t type, const char *res,
		       const char *name, const char *value)
{
	struct meta_record r;
	meta_record_init(&r, META_CONFIG, 0);
	r.resource_type = type;
	r.resource_name = wire_str_c(res);
	r.name = wire_str_c(name);
	r.value = wire_str_c(value);
	return meta_apply_rt(img, &r);
}

static void test_meta_image_configs_and_remove_topic(void **state)
{
	(void)state;
	struct meta_image img;
	meta_image_init(&img);
	assert_int_equal(meta_topic(&img, "demo", 0x10), KB_OK);
	assert_int_equal(meta_topic(&img, "keep", 0x20), KB_OK);
	assert_int_equal(meta_partition(&img, 0x10, 0, 1), KB_OK);
	assert_int_equal(meta_config(&img, META_RESOURCE_TOPIC, "demo",
				     "retention.ms", "1000"), KB_OK);
	assert_int_equal(meta_config(&img, META_RESOURCE_TOPIC, "demo",
				     "retention.ms", "2000"), KB_OK);
	assert_int_equal(meta_config(&img, META_RESOURCE_TOPIC, "demo",
				     "cleanup.policy", "compact"), KB_OK);
	assert_int_equal(meta_config(&img, META_RESOURCE_TOPIC, "keep",
				     "cleanup.policy", "delete"), KB_OK);
	assert_int_equal(meta_config(&img, META_RESOURCE_BROKER, "1",
				     "retention.ms", "5"), KB_OK);
	assert_string_equal(meta_config_get(&img, META_RESOURCE_TOPIC, "demo",
					    "retention.ms"), "2000");
	assert_string_equal(meta_config_get(&img, META_RESOURCE_BROKER, "1",
					    "retention.ms"), "5");
	assert_int_equal(img.n_configs, 4);
	/* A null value deletes the key (twice is harmless). */
	assert_int_equal(meta_config(&img, META_RESOURCE_TOPIC, "demo",
				     "cleanup.policy", NULL), KB_OK);
	assert_int_equal(meta_config(&img, META_RESOURCE_TOPIC, "demo",
				     "cleanup.policy", NULL), KB_OK);
	assert_null(meta_config_get(&img, META_RESOURCE_TOPIC, "demo",
				    "cleanup.policy"));
	assert_int_equal(img.n_configs, 3);
	/* RemoveTopicRecord: the topic, its partitions, its configs go. */
	struct meta_record r;
	meta_record_init(&r, META_REMOVE_TOPIC, 0);
	r.topic_id = meta_uuid(0x10);
	assert_int_equal(meta_apply_rt(&img, &r), KB_OK);
	assert_null(meta_topic_find(&img, "demo"));
	assert_null(meta_config_get(&img, META_RESOURCE_TOPIC, "demo",
				    "retention.ms"));
	assert_string_equal(meta_config_get(&img, META_RESOURCE_TOPIC, "keep",
					    "cleanup.policy"), "delete");
	assert_non_null(meta_config_get(&img, META_RESOURCE_BROKER, "1",
					"retention.ms"));
	assert_int_equal(meta_apply_rt(&img, &r), KB_ERR_NOTFOUND);
	/* The name is free again, under a new id. */
	assert_int_equal(meta_topic(&img, "demo", 0x30), KB_OK);
	assert_int_equal(meta_topic_find(&img, "demo")->partition_count, 0);
	meta_image_fini(&img);
}

static void test_meta_image_producer_ids_features_acls_scram(void **state)
{
	(void)state;
	struct meta_image img;
	meta_image_init(&img);
	struct meta_record r;
	meta_fill(&r, META_PRODUCER_IDS, 0);
	assert_int_equal(img.next_producer_id, -1);
	assert_int_equal(meta_apply_rt(&img, &r), KB_OK);
	assert_int_equal(img.next_producer_id, 1000);
	r.next_producer_id = 500; /* blocks only move up */
	assert_int_equal(meta_apply_rt(&img, &r), KB_ERR_INVAL);
	assert_int_equal(img.next_producer_id, 1000);

	meta_fill(&r, META_FEATURE_LEVEL, 0);
	assert_int_equal(meta_apply_rt(&img, &r), KB_OK);
	assert_int_equal(meta_feature_level(&img, "metadata.version"), 20);
	r.feature_level = 21;
	assert_int_equal(meta_apply_rt(&img, &r), KB_OK);
	assert_int_equal(meta_feature_level(&img, "metadata.version"), 21);
	assert_int_equal(img.n_features, 1);
	r.feature_level = 0; /* level 0 removes the feature */
	assert_int_equal(meta_apply_rt(&img, &r), KB_OK);
	assert_int_equal(meta_feature_level(&img, "metadata.version"), 0);
	assert_int_equal(img.n_features, 0);

	meta_fill(&r, META_ACCESS_CONTROL_ENTRY, 0);
	assert_int_equal(meta_apply_rt(&img, &r), KB_OK);
	assert_int_equal(meta_apply_rt(&img, &r), KB_ERR_EXISTS);
	assert_int_equal(img.n_acls, 1);
	assert_true(wire_str_eq(img.acls[0].rec.principal, "User:alice"));
	meta_fill(&r, META_REMOVE_ACCESS_CONTROL_ENTRY, 0);
	assert_int_equal(meta_apply_rt(&img, &r), KB_OK);
	assert_int_equal(meta_apply_rt(&img, &r), KB_ERR_NOTFOUND);
	assert_int_equal(img.n_acls, 0);

	meta_fill(&r, META_USER_SCRAM_CREDENTIAL, 0);
	assert_int_equal(meta_apply_rt(&img, &r), KB_OK);
	r.iterations = 8192; /* a new credential replaces the old */
	assert_int_equal(meta_apply_rt(&img, &r), KB_OK);
	assert_int_equal(img.n_scram, 1);
	assert_int_equal(img.scram[0].rec.iterations, 8192);
	meta_fill(&r, META_REMOVE_USER_SCRAM_CREDENTIAL, 0);
	r.mechanism = 2; /* SCRAM-SHA-512: none stored */
	assert_int_equal(meta_apply_rt(&img, &r), KB_ERR_NOTFOUND);
	r.mechanism = 1;
	assert_int_equal(meta_apply_rt(&img, &r), KB_OK);
	assert_int_equal(img.n_scram, 0);

	meta_record_init(&r, META_NO_OP, 0);
	assert_int_equal(meta_apply_rt(&img, &r), KB_OK);
	meta_image_fini(&img);
}

/* Many topics and partitions: the arrays grow past several powers of two
 * and removals in the middle keep every invariant. */
static void test_meta_image_many_topics(void **state)
{
	(void)state;
	struct meta_image img;
	meta_image_init(&img);
	char name[16];
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof name, "t%d", i);
		assert_int_equal(meta_topic(&img, name, (uint8_t)(0x40 + i)), KB_OK);
		for (int32_t p = 0; p < 9; p++)
			assert_int_equal(meta_partition(&img, (uint8_t)(0x40 + i), p, 2),
					 KB_OK);
	}
	struct meta_record r;
	meta_record_init(&r, META_REMOVE_TOPIC, 0);
	for (int i = 0; i < 40; i += 3) {
		r.topic_id = meta_uuid((uint8_t)(0x40 + i));
		assert_int_equal(meta_apply_rt(&img, &r), KB_OK);
	}
	assert_int_equal(img.n_topics, 26);
	assert_non_null(meta_topic_find(&img, "t1"));
	assert_null(meta_topic_find(&img, "t3"));
	assert_int_equal(meta_topic_find(&img, "t38")->partition_count, 9);
	meta_image_fini(&img);
}

/* ---- The quorum-state file (07_quorum_log.c) ---- */

static char *qf_path(const char *dir)
{
	static char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, RAFT_QUORUM_STATE_FILE);
	return path;
}

static int qf_read_text(const char *dir, const char *text, size_t len,
			struct raft_quorum_state *qs)
{
	struct raft_config c = ut_config(1, 3);
	tu_write_all(qf_path(dir), text, len);
	return raft_quorum_file_read(dir, &c, qs);
}

static void test_raft_quorum_file_kafka_layout_round_trip(void **state)
{
	char *dir = tu_tmpdir();
	struct raft_config c = ut_config(1, 3);
	struct raft_quorum_state qs = {5, 1, RAFT_NO_ID}, back = {0};
	assert_int_equal(raft_quorum_file_read(dir, &c, &back), KB_ERR_NOTFOUND);
	assert_int_equal(raft_quorum_file_write(dir, &c, &qs), KB_OK);
	size_t len;
	uint8_t *bytes = tu_read_all(qf_path(dir), &len);
	const char *want = "{\"clusterId\":\"MkU3OEVBNTcwNTJENDM2Qk\",\"leaderId\":1,"
		"\"leaderEpoch\":5,\"votedId\":-1,\"appliedOffset\":0,\"currentVoters\":"
		"[{\"voterId\":1},{\"voterId\":2},{\"voterId\":3}],\"data_version\":0}";
	assert_int_equal(len, strlen(want));
	assert_memory_equal(bytes, want, len);
	free(bytes);
	assert_int_equal(raft_quorum_file_read(dir, &c, &back), KB_OK);
	assert_memory_equal(&back, &qs, sizeof qs);
	struct raft_quorum_state voted = {7, RAFT_NO_ID, 3};
	assert_int_equal(raft_quorum_file_write(dir, &c, &voted), KB_OK);
	assert_int_equal(raft_quorum_file_read(dir, &c, &back), KB_OK);
	assert_memory_equal(&back, &voted, sizeof voted);
	tu_rmrf(dir);
}

/* Kafka 3.x writes clusterId "" and spaces nowhere; both read the same. */
static void test_raft_quorum_file_reads_kafka_written_file(void **state)
{
	char *dir = tu_tmpdir();
	const char *kafka = "{\"clusterId\":\"\",\"leaderId\":2,\"leaderEpoch\":12,"
		"\"votedId\":2,\"appliedOffset\":0,\"currentVoters\":[{\"voterId\":3},"
		"{\"voterId\":1},{\"voterId\":2}],\"data_version\":0}\n";
	struct raft_quorum_state qs = {0};
	assert_int_equal(qf_read_text(dir, kafka, strlen(kafka), &qs), KB_OK);
	assert_int_equal(qs.leader_epoch, 12);
	assert_int_equal(qs.leader_id, 2);
	assert_int_equal(qs.voted_id, 2);
	tu_rmrf(dir);
}

/* A torn file (every cut of a good one) refuses the start, as in Kafka. */
static void test_raft_quorum_file_torn_is_corrupt(void **state)
{
	char *dir = tu_tmpdir(), json[RAFT_QUORUM_STATE_MAX];
	struct raft_config c = ut_config(1, 3);
	struct raft_quorum_state qs = {9, 3, 3}, back;
	int n = raft_quorum_file_format(&c, &qs, json, sizeof json);
	assert_true(n > 0);
	for (int cut = 0; cut < n; cut++)
		assert_int_equal(qf_read_text(dir, json, (size_t)cut, &back), KB_ERR_CORRUPT);
	assert_int_equal(qf_read_text(dir, json, (size_t)n, &back), KB_OK);
	assert_int_equal(back.leader_epoch, 9);
	tu_rmrf(dir);
}

/* A file of another quorum, or one that breaks the rules, is never guessed at. */
static void test_raft_quorum_file_foreign_or_bad_refused(void **state)
{
	static const char *bad[] = {
		"{\"clusterId\":\"AnotherClusterIdXXXXXX\",\"leaderId\":1,\"leaderEpoch\":5,\"votedId\":-1,\"appliedOffset\":0,\"currentVoters\":[{\"voterId\":1},{\"voterId\":2},{\"voterId\":3}],\"data_version\":0}",
		"{\"clusterId\":\"\",\"leaderId\":1,\"leaderEpoch\":5,\"votedId\":-1,\"appliedOffset\":0,\"currentVoters\":[{\"voterId\":1},{\"voterId\":2},{\"voterId\":4}],\"data_version\":0}",
		"{\"clusterId\":\"\",\"leaderId\":1,\"leaderEpoch\":5,\"votedId\":-1,\"appliedOffset\":0,\"currentVoters\":[{\"voterId\":1},{\"voterId\":2}],\"data_version\":0}",
		"{\"clusterId\":\"\",\"leaderId\":7,\"leaderEpoch\":5,\"votedId\":-1,\"appliedOffset\":0,\"currentVoters\":[{\"voterId\":1},{\"voterId\":2},{\"voterId\":3}],\"data_version\":0}",
		"{\"clusterId\":\"\",\"leaderId\":-1,\"leaderEpoch\":5,\"votedId\":9,\"appliedOffset\":0,\"currentVoters\":[{\"voterId\":1},{\"voterId\":2},{\"voterId\":3}],\"data_version\":0}",
		"{\"clusterId\":\"\",\"leaderId\":-1,\"leaderEpoch\":-2,\"votedId\":-1,\"appliedOffset\":0,\"currentVoters\":[{\"voterId\":1},{\"voterId\":2},{\"voterId\":3}],\"data_version\":0}",
		"{\"clusterId\":\"\",\"leaderId\":-1,\"leaderEpoch\":99999999999,\"votedId\":-1,\"appliedOffset\":0,\"currentVoters\":[{\"voterId\":1},{\"voterId\":2},{\"voterId\":3}],\"data_version\":0}",
		"{\"clusterId\":\"\",\"leaderId\":-1,\"leaderEpoch\":5,\"votedId\":-1,\"votedDirectoryId\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"currentVoters\":[{\"voterId\":1},{\"voterId\":2},{\"voterId\":3}],\"data_version\":1}",
		"{\"clusterId\":\"\",\"leaderId\":-1,\"leaderEpoch\":5,\"votedId\":-1,\"appliedOffset\":0,\"currentVoters\":[{\"voterId\":1},{\"voterId\":2},{\"voterId\":3}]}",
		"{\"clusterId\":\"a\\\"b\",\"leaderId\":-1,\"leaderEpoch\":5,\"votedId\":-1,\"currentVoters\":[{\"voterId\":1},{\"voterId\":2},{\"voterId\":3}],\"data_version\":0}",
		"{\"clusterId\":\"\",\"leaderId\":-1,\"leaderEpoch\":5,\"votedId\":-1,\"currentVoters\":[{\"voterId\":1},{\"voterId\":2},{\"voterId\":3}],\"data_version\":0}x",
		"{\"leaderEpoch\":99999999999999999999999999,\"data_version\":0}",
		"",
	};
	char *dir = tu_tmpdir();
	struct raft_quorum_state qs;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(qf_read_text(dir, bad[i], strlen(bad[i]), &qs), KB_ERR_CORRUPT);
	uint8_t junk[RAFT_QUORUM_STATE_MAX + 1];
	memset(junk, '{', sizeof junk);
	assert_int_equal(qf_read_text(dir, (const char *)junk, sizeof junk, &qs), KB_ERR_CORRUPT);
	tu_rmrf(dir);
}

/* The core's PERSIST outputs, written to the file, restart the node with
 * the vote it cast: it does not vote again in that epoch. */
static void test_raft_quorum_file_restart_keeps_vote(void **state)
{
	char *dir = tu_tmpdir();
	struct raft_config c = ut_config(1, 3);
	struct ut u = {0};
	ut_open(&u, 1, 3, NULL);
	struct raft_msg v = ut_vote(2, 1, 5, 0, 0, false);
	ut_step(&u, &v);
	for (int i = 0; i < u.n_out; i++)
		if (u.out[i].kind == RAFT_OUT_PERSIST)
			assert_int_equal(raft_quorum_file_write(dir, &c, &u.out[i].persist), KB_OK);
	raft_free(u.r);
	struct raft_quorum_state qs;
	assert_int_equal(raft_quorum_file_read(dir, &c, &qs), KB_OK);
	assert_int_equal(qs.voted_id, 2);
	ut_open(&u, 1, 3, &qs);
	struct raft_msg v3 = ut_vote(3, 1, 5, 0, 0, false);
	ut_step(&u, &v3);
	const struct raft_msg *resp = ut_sent(&u, RAFT_VOTE_RESPONSE, 3);
	assert_non_null(resp);
	assert_false(resp->u.vote_resp.vote_granted);
	ut_close(&u);
	tu_rmrf(dir);
}

/* ---- KRaft RPCs on the wire ---- */

/* A fixture written by hand from messages/<Name>.json, big-endian. */
struct fx {
	uint8_t b[512];
	size_t n;
};

static void fx_put(struct fx *f, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--)
		f->b[f->n++] = (uint8_t)(v >> (8 * i));
}

/* A string: compact (uvarint len+1) when flexible, else int16 length. */
static void fx_str(struct fx *f, const char *s, bool flexible)
{
	size_t len = strlen(s);
	fx_put(f, flexible ? len + 1 : len, flexible ? 1 : 2);
	memcpy(f->b + f->n, s, len);
	f->n += len;
}

/* An array count of n: compact (n+1) when flexible, else int32. */
static void fx_count(struct fx *f, uint64_t n, bool flexible)
{
	fx_put(f, flexible ? n + 1 : n, flexible ? 1 : 4);
}

/* Topics: [{TopicName __cluster_metadata, Partitions: [{PartitionIndex 0 */
static void fx_topic(struct fx *f, bool flexible)
{
	fx_count(f, 1, flexible);
	fx_str(f, "__cluster_metadata", flexible);
	fx_count(f, 1, flexible);
	fx_put(f, 0, 4);
}

/* Fields only the caller knows (from the connection and header). */
static struct raft_msg qw_blank(const struct raft_msg *m)
{
	struct raft_msg d;
	memset(&d, 0, sizeof d);
	d.type = m->type;
	d.to = m->to;
	d.correlation_id = m->correlation_id;
	if (m->type & 1) { /* responses carry no ids, no ClusterId */
		d.from = m->from;
		memcpy(d.cluster_id, m->cluster_id, sizeof d.cluster_id);
		d.u.vote_resp.pre_vote = m->type == RAFT_VOTE_RESPONSE &&
					 m->u.vote_resp.pre_vote;
	}
	return d;
}

/* encode(m) == f byte for byte, decode(f) == m, and every cut fails. */
static void qw_check_fixture(const struct raft_msg *m, int16_t v, const struct fx *f)
{
	struct kb_buf b;
	kb_buf_init(&b);
	assert_int_equal(raft_wire_encode(m, v, &b), KB_OK);
	assert_int_equal(b.len, f->n);
	assert_memory_equal(b.data, f->b, f->n);
	kb_buf_fini(&b);
	struct raft_msg d = qw_blank(m);
	assert_int_equal(raft_wire_decode(v, f->b, f->n, &d), KB_OK);
	assert_memory_equal(&d, m, sizeof d);
	for (size_t cut = 0; cut < f->n; cut++) {
		d = qw_blank(m);
		assert_int_equal(raft_wire_decode(v, f->b, cut, &d), KB_ERR_PROTO);
	}
}

static struct raft_msg qw_msg(enum raft_msg_type type, int32_t from, int32_t to)
{
	struct raft_msg m = ut_msg(type, from, to, 1, 5);
	if (!(type & 1))
		strcpy(m.cluster_id, "abc");
	return m;
}

static void test_raft_wire_vote_fixtures(void **state)
{
	(void)state;
	struct raft_msg q = qw_msg(RAFT_VOTE_REQUEST, 2, 1);
	q.leader_id = RAFT_NO_ID;
	/* v0, v1, then v2 (Kafka 4.0) with PreVote false and true. */
	for (int k = 0; k < 4; k++) {
		int16_t v = k < 2 ? (int16_t)k : 2;
		q.u.vote_req = (struct raft_vote_request){5, 2, 4, 10, k == 3};
		struct fx f = {.n = 0};
		fx_str(&f, "abc", true);  /* ClusterId */
		if (v >= 1)
			fx_put(&f, 1, 4);  /* VoterId */
		fx_topic(&f, true);
		fx_put(&f, 5, 4);          /* CandidateEpoch */
		fx_put(&f, 2, 4);          /* CandidateId */
		if (v >= 1)
			fx_put(&f, 0, 8), fx_put(&f, 0, 8), fx_put(&f, 0, 8), fx_put(&f, 0, 8);
		fx_put(&f, 4, 4);          /* LastOffsetEpoch */
		fx_put(&f, 10, 8);         /* LastOffset */
		if (v >= 2)
			fx_put(&f, k == 3, 1); /* PreVote */
		fx_put(&f, 0, 3);          /* tags: partition, topic, body */
		qw_check_fixture(&q, v, &f);
	}
	/* A pre-vote cannot go out as v0-1 (it would read as a real vote),
	 * nor any Vote past v2. */
	struct kb_buf b;
	kb_buf_init(&b);
	assert_int_equal(raft_wire_encode(&q, 1, &b), KB_ERR_INVAL);
	assert_int_equal(raft_wire_encode(&q, 3, &b), KB_ERR_INVAL);
	kb_buf_fini(&b);
	struct raft_msg r = qw_msg(RAFT_VOTE_RESPONSE, 1, 2);
	r.leader_id = RAFT_NO_ID;
	r.u.vote_resp.vote_granted = true;
	for (int16_t v = 0; v <= 2; v++) { /* v2 is v1's response */
		struct fx f = {.n = 0};
		fx_put(&f, 0, 2);          /* ErrorCode */
		fx_topic(&f, true);
		fx_put(&f, 0, 2);          /* ErrorCode */
		fx_put(&f, 0xffffffff, 4); /* LeaderId -1 */
		fx_put(&f, 5, 4);          /* LeaderEpoch */
		fx_put(&f, 1, 1);          /* VoteGranted */
		fx_put(&f, 0, 3);
		qw_check_fixture(&r, v, &f);
	}
}

static void test_raft_wire_begin_quorum_epoch_fixtures(void **state)
{
	(void)state;
	struct raft_msg q = qw_msg(RAFT_BEGIN_QUORUM_EPOCH_REQUEST, 1, 2);
	struct fx f = {.n = 0};
	fx_str(&f, "abc", false);     /* v0: not flexible */
	fx_topic(&f, false);
	fx_put(&f, 1, 4);             /* LeaderId */
	fx_put(&f, 5, 4);             /* LeaderEpoch */
	qw_check_fixture(&q, 0, &f);
	f.n = 0;
	fx_str(&f, "abc", true);
	fx_put(&f, 2, 4);             /* VoterId */
	fx_topic(&f, true);
	fx_put(&f, 0, 8), fx_put(&f, 0, 8); /* VoterDirectoryId */
	fx_put(&f, 1, 4);
	fx_put(&f, 5, 4);
	fx_put(&f, 0, 2);             /* tags: partition, topic */
	fx_put(&f, 1, 1);             /* LeaderEndpoints: [] */
	fx_put(&f, 0, 1);
	qw_check_fixture(&q, 1, &f);
	struct raft_msg r = qw_msg(RAFT_BEGIN_QUORUM_EPOCH_RESPONSE, 2, 1);
	r.error_code = KAFKA_ERR_FENCED_LEADER_EPOCH;
	f.n = 0;
	fx_put(&f, 0, 2);
	fx_topic(&f, false);
	fx_put(&f, KAFKA_ERR_FENCED_LEADER_EPOCH, 2);
	fx_put(&f, 1, 4);
	fx_put(&f, 5, 4);
	qw_check_fixture(&r, 0, &f);
}

static void test_raft_wire_end_quorum_epoch_fixtures(void **state)
{
	(void)state;
	struct raft_msg q = qw_msg(RAFT_END_QUORUM_EPOCH_REQUEST, 1, 2);
	memset(q.cluster_id, 0, sizeof q.cluster_id); /* null ClusterId */
	q.u.end_req.n_preferred_successors = 2;
	q.u.end_req.preferred_successors[0] = 2;
	q.u.end_req.preferred_successors[1] = 3;
	struct fx f = {.n = 0};
	fx_put(&f, 0xffff, 2);        /* ClusterId null */
	fx_topic(&f, false);
	fx_put(&f, 1, 4);
	fx_put(&f, 5, 4);
	fx_put(&f, 2, 4);             /* PreferredSuccessors */
	fx_put(&f, 2, 4), fx_put(&f, 3, 4);
	qw_check_fixture(&q, 0, &f);
	f.n = 0;
	fx_put(&f, 0, 1);             /* compact null */
	fx_topic(&f, true);
	fx_put(&f, 1, 4);
	fx_put(&f, 5, 4);
	fx_put(&f, 3, 1);             /* PreferredCandidates */
	for (int i = 2; i <= 3; i++)
		fx_put(&f, (uint64_t)i, 4), fx_put(&f, 0, 8), fx_put(&f, 0, 8), fx_put(&f, 0, 1);
	fx_put(&f, 0, 2);
	fx_put(&f, 1, 1);             /* LeaderEndpoints: [] */
	fx_put(&f, 0, 1);
	qw_check_fixture(&q, 1, &f);
	struct raft_msg r = qw_msg(RAFT_END_QUORUM_EPOCH_RESPONSE, 2, 1);
	f.n = 0;
	fx_put(&f, 0, 2);
	fx_topic(&f, true);
	fx_put(&f, 0, 2);
	fx_put(&f, 1, 4);
	fx_put(&f, 5, 4);
	fx_put(&f, 0, 3);
	qw_check_fixture(&r, 1, &f);
	r.error_code = KAFKA_ERR_INCONSISTENT_CLUSTER_ID; /* top level, no topics */
	r.leader_id = RAFT_NO_ID;
	r.leader_epoch = -1;
	f.n = 0;
	fx_put(&f, KAFKA_ERR_INCONSISTENT_CLUSTER_ID, 2);
	fx_put(&f, 1, 1);
	fx_put(&f, 0, 1);
	qw_check_fixture(&r, 1, &f);
}

/* Every message the core sends but Fetch goes through the wire unchanged. */
static void qw_round_trip_outbox(const struct ut *u)
{
	for (int i = 0; i < u->n_out; i++) {
		const struct raft_msg *m = &u->out[i].msg;
		if (u->out[i].kind != RAFT_OUT_SEND || raft_wire_api_key(m->type) < 0)
			continue;
		bool pre = m->type == RAFT_VOTE_REQUEST && m->u.vote_req.pre_vote;
		for (int16_t v = pre ? 2 : 0; v <= raft_wire_max_version(m->type); v++) {
			struct kb_buf b;
			kb_buf_init(&b);
			assert_int_equal(raft_wire_encode(m, v, &b), KB_OK);
			struct raft_msg d = qw_blank(m);
			assert_int_equal(raft_wire_decode(v, b.data, b.len, &d), KB_OK);
			assert_memory_equal(&d, m, sizeof d);
			kb_buf_fini(&b);
		}
	}
}

/* The pre-vote the core sent travels as Vote v2 unchanged. */
static void qw_round_trip_pre_vote(const struct raft_msg *m)
{
	struct kb_buf b;
	kb_buf_init(&b);
	assert_true(m->u.vote_req.pre_vote);
	assert_int_equal(raft_wire_encode(m, 2, &b), KB_OK);
	struct raft_msg d = qw_blank(m);
	assert_int_equal(raft_wire_decode(2, b.data, b.len, &d), KB_OK);
	assert_memory_equal(&d, m, sizeof d);
	kb_buf_fini(&b);
}

static void test_raft_wire_core_messages_round_trip(void **state)
{
	(void)state;
	struct ut a = {0}, b = {0};
	ut_open(&a, 1, 3, NULL);
	ut_tick(&a, 2000);
	const struct raft_msg *pre = ut_sent(&a, RAFT_VOTE_REQUEST, 2);
	struct kb_buf buf;
	kb_buf_init(&buf);
	assert_int_equal(raft_wire_encode(pre, 1, &buf), KB_ERR_INVAL); /* no PreVote in v0-1 */
	qw_round_trip_pre_vote(pre);
	kb_buf_fini(&buf);
	struct raft_msg pv = *pre;
	struct raft_msg ok = ut_answer(&pv, RAFT_VOTE_RESPONSE, RAFT_NO_ID, pv.leader_epoch);
	ok.u.vote_resp = (struct raft_vote_response){true, true};
	ut_step(&a, &ok);
	qw_round_trip_outbox(&a); /* real Vote requests */
	struct raft_msg vote = *ut_sent(&a, RAFT_VOTE_REQUEST, 2);
	ut_open(&b, 2, 3, NULL);
	ut_step(&b, &vote);
	qw_round_trip_outbox(&b); /* Vote response */
	ok = b.out[b.n_out - 1].msg;
	ut_step(&a, &ok);
	assert_int_equal(raft_state(a.r), RAFT_LEADER);
	qw_round_trip_outbox(&a); /* BeginQuorumEpoch requests */
	struct raft_msg begin = *ut_sent(&a, RAFT_BEGIN_QUORUM_EPOCH_REQUEST, 2);
	ut_step(&b, &begin);
	qw_round_trip_outbox(&b); /* BeginQuorumEpoch response */
	assert_int_equal(raft_resign(a.r), KB_OK);
	ut_drain(&a);
	assert_non_null(ut_sent(&a, RAFT_END_QUORUM_EPOCH_REQUEST, 2));
	qw_round_trip_outbox(&a); /* EndQuorumEpoch requests */
	struct raft_msg end = *ut_sent(&a, RAFT_END_QUORUM_EPOCH_REQUEST, 2);
	ut_step(&b, &end);
	assert_non_null(ut_sent(&b, RAFT_END_QUORUM_EPOCH_RESPONSE, 1));
	qw_round_trip_outbox(&b); /* EndQuorumEpoch response */
	ut_close(&a);
	ut_close(&b);
}

static void test_raft_wire_other_partition_is_an_error_code(void **state)
{
	(void)state;
	struct fx f = {.n = 0};
	fx_str(&f, "abc", true);
	fx_count(&f, 1, true);
	fx_str(&f, "__cluster_metadata", true);
	fx_count(&f, 1, true);
	fx_put(&f, 1, 4);             /* partition 1 */
	fx_put(&f, 5, 4), fx_put(&f, 2, 4), fx_put(&f, 4, 4), fx_put(&f, 10, 8);
	fx_put(&f, 0, 3);
	struct raft_msg d = {.type = RAFT_VOTE_REQUEST};
	assert_int_equal(raft_wire_decode(0, f.b, f.n, &d), KB_ERR_NOTFOUND);
	assert_int_equal(d.error_code, KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION);
	f.n = 0; /* a top-level error wins over the partition's */
	fx_put(&f, KAFKA_ERR_CLUSTER_AUTHORIZATION_FAILED, 2);
	fx_topic(&f, true);
	fx_put(&f, 0, 2), fx_put(&f, 1, 4), fx_put(&f, 5, 4), fx_put(&f, 1, 1);
	fx_put(&f, 0, 3);
	d = (struct raft_msg){.type = RAFT_VOTE_RESPONSE};
	assert_int_equal(raft_wire_decode(1, f.b, f.n, &d), KB_OK);
	assert_int_equal(d.error_code, KAFKA_ERR_CLUSTER_AUTHORIZATION_FAILED);
	assert_int_equal(d.leader_epoch, 5);
	f.n = 0;
	fx_count(&f, 1, true);
	fx_str(&f, "orders", true);
	fx_count(&f, 1, true);
	fx_put(&f, 0, 4);
	fx_put(&f, 0, 3);
	assert_int_equal(raft_describe_quorum_request_decode(0, f.b, f.n), KB_ERR_NOTFOUND);
	f.n = 0;
	fx_count(&f, 9, true);        /* 9 topics in 0 bytes: bounded */
	assert_int_equal(raft_describe_quorum_request_decode(0, f.b, f.n), KB_ERR_PROTO);
}

static void test_raft_wire_describe_quorum(void **state)
{
	(void)state;
	struct fx f = {.n = 0};
	fx_topic(&f, true);
	fx_put(&f, 0, 3);
	struct kb_buf b;
	for (int16_t v = 0; v <= 2; v++) {
		kb_buf_init(&b);
		assert_int_equal(raft_describe_quorum_request_encode(v, &b), KB_OK);
		assert_int_equal(b.len, f.n);
		assert_memory_equal(b.data, f.b, f.n);
		kb_buf_fini(&b);
		assert_int_equal(raft_describe_quorum_request_decode(v, f.b, f.n), KB_OK);
		for (size_t cut = 0; cut < f.n; cut++)
			assert_int_equal(raft_describe_quorum_request_decode(v, f.b, cut), KB_ERR_PROTO);
	}
	struct ut u = {0};
	ut_open(&u, 1, 3, NULL); /* unattached: no leader, epoch 0 */
	for (int16_t v = 0; v <= 2; v++) {
		struct fx g = {.n = 0};
		fx_put(&g, 0, 2);
		if (v >= 2)
			fx_put(&g, 0, 1);           /* ErrorMessage null */
		fx_topic(&g, true);
		fx_put(&g, 0, 2);
		if (v >= 2)
			fx_put(&g, 0, 1);
		fx_put(&g, 0xffffffff, 4);      /* LeaderId */
		fx_put(&g, 0, 4);               /* LeaderEpoch */
		fx_put(&g, (uint64_t)raft_high_watermark(u.r), 8);
		fx_put(&g, 4, 1);               /* CurrentVoters: 3 */
		for (int id = 1; id <= 3; id++) {
			fx_put(&g, (uint64_t)id, 4);
			if (v >= 2)
				fx_put(&g, 0, 8), fx_put(&g, 0, 8);
			fx_put(&g, UINT64_MAX, 8);  /* LogEndOffset -1 */
			if (v >= 1)
				fx_put(&g, UINT64_MAX, 8), fx_put(&g, UINT64_MAX, 8);
			fx_put(&g, 0, 1);
		}
		fx_put(&g, 1, 1);               /* Observers: [] */
		fx_put(&g, 0, 2);
		if (v >= 2)
			fx_put(&g, 1, 1);       /* Nodes: [] */
		fx_put(&g, 0, 1);
		kb_buf_init(&b);
		assert_int_equal(raft_describe_quorum_response_encode(u.r, 0, v, &b), KB_OK);
		assert_int_equal(b.len, g.n);
		assert_memory_equal(b.data, g.b, g.n);
		kb_buf_fini(&b);
		struct raft_quorum_info q;
		assert_int_equal(raft_describe_quorum_response_decode(v, g.b, g.n, &q), KB_OK);
		assert_int_equal(q.leader_id, RAFT_NO_ID);
		assert_int_equal(q.n_voters, 3);
		assert_int_equal(q.voter_ids[2], 3);
		for (size_t cut = 0; cut < g.n; cut++)
			assert_int_equal(raft_describe_quorum_response_decode(v, g.b, cut, &q),
					 KB_ERR_PROTO);
	}
	ut_make_leader(&u, 3);
	for (int16_t v = 0; v <= 2; v++) {
		kb_buf_init(&b);
		assert_int_equal(raft_describe_quorum_response_encode(u.r, 0, v, &b), KB_OK);
		struct raft_quorum_info q;
		assert_int_equal(raft_describe_quorum_response_decode(v, b.data, b.len, &q), KB_OK);
		kb_buf_fini(&b);
		assert_int_equal(q.leader_id, 1);
		assert_int_equal(q.leader_epoch, raft_quorum(u.r).leader_epoch);
		assert_int_equal(q.high_watermark, raft_high_watermark(u.r));
		assert_int_equal(q.voter_end_offsets[0], u.log.n); /* the leader's own log */
	}
	ut_close(&u);
}

/* Random bytes and bit flips never crash a decoder. */
static void test_raft_wire_garbage_never_crashes(void **state)
{
	(void)state;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	uint8_t buf[96];
	for (int round = 0; round < 20000; round++) {
		size_t len = (size_t)(round % (int)sizeof buf);
		for (size_t i = 0; i < len; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			buf[i] = (uint8_t)(round & 1 ? x : x % 4); /* small bytes: plausible counts */
		}
		int16_t v = (int16_t)(round % 3);
		struct raft_msg d = {.type = (enum raft_msg_type)(round % 6)};
		int rc = raft_wire_decode(v > 1 ? 1 : v, buf, len, &d);
		assert_true(rc == KB_OK || rc == KB_ERR_PROTO || rc == KB_ERR_NOTFOUND);
		struct raft_quorum_info q;
		rc = raft_describe_quorum_response_decode(v, buf, len, &q);
		assert_true(rc == KB_OK || rc == KB_ERR_PROTO);
		assert_true(q.n_voters <= RAFT_MAX_VOTERS);
		rc = raft_describe_quorum_request_decode(v, buf, len);
		assert_true(rc == KB_OK || rc == KB_ERR_PROTO || rc == KB_ERR_NOTFOUND);
	}
}

/* ---- Observers (process.roles=broker) ---- */

/* Node 4 of voters 1-3 looks for the leader by Fetch, follows the one an
 * answer names, and never votes or campaigns. */
static void test_raft_observer_follows_leader_never_votes(void **state)
{
	struct ut u = {0};
	ut_open(&u, 4, 3, NULL);
	assert_int_equal(raft_state(u.r), RAFT_UNATTACHED);
	const struct raft_msg *probe = ut_sent(&u, RAFT_FETCH_REQUEST, 1);
	assert_non_null(probe); /* asks voter 1 at once */
	assert_int_equal(probe->from, 4);
	struct raft_msg resp = ut_answer(probe, RAFT_FETCH_RESPONSE, 2, 3);
	resp.error_code = KAFKA_ERR_NOT_LEADER_OR_FOLLOWER;
	ut_step(&u, &resp);
	assert_int_equal(raft_state(u.r), RAFT_FOLLOWER);
	assert_int_equal(raft_quorum(u.r).leader_id, 2);
	assert_non_null(ut_sent(&u, RAFT_FETCH_REQUEST, 2));
	struct raft_msg pre = ut_vote(1, 4, 3, 1, 5, true), vote = ut_vote(1, 4, 4, 1, 5, false);
	ut_step(&u, &pre); /* an up-to-date log, a leader gone quiet: still no */
	assert_int_equal(ut_sent(&u, RAFT_VOTE_RESPONSE, 1)->error_code, KAFKA_ERR_NONE);
	assert_false(ut_sent(&u, RAFT_VOTE_RESPONSE, 1)->u.vote_resp.vote_granted);
	ut_step(&u, &vote);
	assert_int_equal(ut_sent(&u, RAFT_VOTE_RESPONSE, 1)->error_code, KAFKA_ERR_NONE);
	assert_false(ut_sent(&u, RAFT_VOTE_RESPONSE, 1)->u.vote_resp.vote_granted);
	/* A candidate's epoch comes without a leader: the observer keeps
	 * the epoch and leader it has (it never votes, needs no epoch). */
	assert_int_equal(raft_quorum(u.r).leader_epoch, 3);
	assert_int_equal(raft_quorum(u.r).leader_id, 2);
	assert_int_equal(raft_quorum(u.r).voted_id, RAFT_NO_ID);
	for (int i = 0; i < 20; i++) { /* timeouts: it asks again, never runs */
		ut_tick(&u, 1000);
		assert_true(raft_state(u.r) == RAFT_UNATTACHED ||
			    raft_state(u.r) == RAFT_FOLLOWER);
		assert_null(ut_sent(&u, RAFT_VOTE_REQUEST, -1));
	}
	assert_int_equal(raft_state(u.r), RAFT_UNATTACHED); /* 2 never answered */
	ut_close(&u);
}

/* The observer's side of the lab's split_controllers case, message by
 * message (KAFKA: pollFollowerAsObserver): its leader silent -> it asks
 * the voters at once; a cut-off candidate's newer, leaderless epoch is
 * not taken; the next voter is asked a retry backoff later; the leader
 * of the epoch it already followed is followed again; a leader that
 * refuses it (it stepped down) sends it asking again, and a voter
 * naming the new leader of a newer epoch is followed. */
static void test_raft_observer_refused_or_cut_asks_voters_again(void **state)
{
	struct ut u = {0};
	struct raft_quorum_state qs = {3, 1, RAFT_NO_ID};
	ut_open(&u, 4, 3, &qs);
	assert_int_equal(raft_state(u.r), RAFT_FOLLOWER);
	assert_non_null(ut_sent(&u, RAFT_FETCH_REQUEST, 1));
	ut_tick(&u, 2000); /* controller.quorum.request.timeout.ms, no answer */
	assert_int_equal(raft_state(u.r), RAFT_UNATTACHED);
	const struct raft_msg *probe = ut_sent(&u, RAFT_FETCH_REQUEST, -1);
	assert_non_null(probe);
	struct raft_msg cand = ut_answer(probe, RAFT_FETCH_RESPONSE, RAFT_NO_ID, 9);
	cand.from = 3; /* voter 3: a candidate of epoch 9, alone */
	cand.error_code = KAFKA_ERR_FENCED_LEADER_EPOCH;
	ut_step(&u, &cand);
	assert_int_equal(raft_quorum(u.r).leader_epoch, 3);
	assert_int_equal(raft_state(u.r), RAFT_UNATTACHED);
	ut_tick(&u, 20); /* controller.quorum.retry.backoff.ms */
	probe = ut_sent(&u, RAFT_FETCH_REQUEST, -1);
	assert_non_null(probe);
	assert_int_equal(probe->leader_epoch, 3);
	struct raft_msg lead = ut_answer(probe, RAFT_FETCH_RESPONSE, 1, 3);
	lead.from = 1; /* the leader it left, still leading epoch 3 */
	lead.u.fetch_resp.high_watermark = 0;
	ut_step(&u, &lead);
	assert_int_equal(raft_state(u.r), RAFT_FOLLOWER);
	assert_int_equal(raft_quorum(u.r).leader_id, 1);
	assert_int_equal(raft_quorum(u.r).leader_epoch, 3);
	/* Leader 1 stepped down to epoch 4 (no leader yet): it refuses. */
	struct raft_msg down = ut_answer(ut_sent(&u, RAFT_FETCH_REQUEST, 1),
					 RAFT_FETCH_RESPONSE, RAFT_NO_ID, 4);
	down.error_code = KAFKA_ERR_FENCED_LEADER_EPOCH;
	ut_step(&u, &down);
	assert_int_equal(raft_state(u.r), RAFT_UNATTACHED);
	assert_int_equal(raft_quorum(u.r).leader_epoch, 3);
	probe = ut_sent(&u, RAFT_FETCH_REQUEST, -1);
	assert_non_null(probe); /* at once, not after a fetch timeout */
	struct raft_msg named = ut_answer(probe, RAFT_FETCH_RESPONSE, 2, 4);
	named.from = 3;
	named.error_code = KAFKA_ERR_FENCED_LEADER_EPOCH;
	ut_step(&u, &named);
	assert_int_equal(raft_state(u.r), RAFT_FOLLOWER);
	assert_int_equal(raft_quorum(u.r).leader_id, 2);
	assert_int_equal(raft_quorum(u.r).leader_epoch, 4);
	assert_non_null(ut_sent(&u, RAFT_FETCH_REQUEST, 2));
	ut_close(&u);
}

/* The leader answers an observer's Fetch with its batches but does not
 * count it toward the high watermark. */
static void test_raft_leader_serves_observer_without_counting_it(void **state)
{
	struct ut u = {0};
	ut_open(&u, 1, 3, NULL);
	ut_make_leader(&u, 3);
	ut_propose(u.r, "for everyone", &(int64_t){0});
	ut_drain(&u);
	struct raft_msg r = ut_fetch(&u, 4, 0, 0);
	assert_int_equal(r.error_code, KAFKA_ERR_NONE);
	assert_int_equal(ut_offsets(&r), 2);
	r = ut_fetch(&u, 4, 2, 1);
	assert_int_equal(raft_high_watermark(u.r), 0); /* 1 and observer 4: no majority */
	r = ut_fetch(&u, 2, 2, 1);
	assert_int_equal(raft_high_watermark(u.r), 2);
	struct raft_msg v = ut_vote(4, 1, 9, 1, 2, false); /* only Fetch from observers */
	ut_step(&u, &v);
	assert_int_equal(ut_sent(&u, RAFT_VOTE_RESPONSE, 4)->error_code,
			 KAFKA_ERR_INCONSISTENT_VOTER_SET);
	ut_close(&u);
}

/* ---- Fetch on the wire (07_quorum_wire.c), versions 12-17 ---- */

/* Topics: [{__cluster_metadata by name (v12) or by its topic id (v13+),
 * Partitions: [{Partition 0 */
static void fx_fetch_topic(struct fx *f, int16_t v)
{
	fx_count(f, 1, true);
	if (v <= 12) {
		fx_str(f, "__cluster_metadata", true);
	} else {
		fx_put(f, 0, 8);
		fx_put(f, 1, 8); /* AAAAAAAAAAAAAAAAAAAAAQ */
	}
	fx_count(f, 1, true);
	fx_put(f, 0, 4);
}

/* FetchRequest.json, field by field, for v. */
static void fx_fetch_request(struct fx *f, int16_t v, uint32_t max_bytes,
			     uint32_t partition_max_bytes)
{
	if (v <= 14)
		fx_put(f, 2, 4);          /* ReplicaId */
	fx_put(f, 0, 4);                  /* MaxWaitMs */
	fx_put(f, 0, 4);                  /* MinBytes */
	fx_put(f, max_bytes, 4);          /* MaxBytes */
	fx_put(f, 0, 1);                  /* IsolationLevel */
	fx_put(f, 0, 4);                  /* SessionId */
	fx_put(f, 0xffffffff, 4);         /* SessionEpoch -1 */
	fx_fetch_topic(f, v);
	fx_put(f, 5, 4);                  /* CurrentLeaderEpoch */
	fx_put(f, 10, 8);                 /* FetchOffset */
	fx_put(f, 4, 4);                  /* LastFetchedEpoch */
	fx_put(f, UINT64_MAX, 8);         /* LogStartOffset -1 */
	fx_put(f, partition_max_bytes, 4); /* PartitionMaxBytes */
	fx_put(f, 0, 2);                  /* tags: partition, topic */
	fx_count(f, 0, true);             /* ForgottenTopicsData */
	fx_str(f, "", true);              /* RackId */
	fx_put(f, v >= 15 ? 2 : 1, 1);    /* tags: */
	fx_put(f, 0, 1), fx_put(f, 4, 1); /* 0 ClusterId, 4 bytes */
	fx_str(f, "abc", true);
	if (v >= 15) {                    /* 1 ReplicaState, 13 bytes */
		fx_put(f, 1, 1), fx_put(f, 13, 1);
		fx_put(f, 2, 4), fx_put(f, UINT64_MAX, 8), fx_put(f, 0, 1);
	}
}

/* FetchResponse.json for v: HW 7, records "xyz", CurrentLeader 1 in
 * epoch 5, and DivergingEpoch (3, 8) when diverging. */
static void fx_fetch_response(struct fx *f, int16_t v, bool diverging)
{
	fx_put(f, 0, 4);                  /* ThrottleTimeMs */
	fx_put(f, 0, 2);                  /* ErrorCode */
	fx_put(f, 0, 4);                  /* SessionId */
	fx_fetch_topic(f, v);
	fx_put(f, 0, 2);                  /* ErrorCode */
	fx_put(f, 7, 8);                  /* HighWatermark */
	fx_put(f, UINT64_MAX, 8);         /* LastStableOffset -1 */
	fx_put(f, 0, 8);                  /* LogStartOffset */
	fx_count(f, 0, true);             /* AbortedTransactions */
	fx_put(f, 0xffffffff, 4);         /* PreferredReadReplica -1 */
	fx_str(f, "xyz", true);           /* Records */
	fx_put(f, diverging ? 2 : 1, 1);  /* tags: */
	if (diverging) {                  /* 0 DivergingEpoch, 13 bytes */
		fx_put(f, 0, 1), fx_put(f, 13, 1);
		fx_put(f, 3, 4), fx_put(f, 8, 8), fx_put(f, 0, 1);
	}
	fx_put(f, 1, 1), fx_put(f, 9, 1); /* 1 CurrentLeader, 9 bytes */
	fx_put(f, 1, 4), fx_put(f, 5, 4), fx_put(f, 0, 1);
	fx_put(f, 0, 2);                  /* tags: topic, body */
}

/* encode(m) == f, decode(f) gives m's wire fields, every cut fails. */
static void qw_check_fetch_fixture(const struct raft_msg *m, int16_t v, const struct fx *f)
{
	struct kb_buf b;
	kb_buf_init(&b);
	assert_int_equal(raft_wire_encode(m, v, &b), KB_OK);
	assert_int_equal(b.len, f->n);
	assert_memory_equal(b.data, f->b, f->n);
	kb_buf_fini(&b);
	struct raft_msg d = {.type = m->type, .leader_id = m->leader_id};
	assert_int_equal(raft_wire_decode(v, f->b, f->n, &d), KB_OK);
	assert_int_equal(d.leader_epoch, m->leader_epoch);
	if (m->type == RAFT_FETCH_REQUEST) {
		assert_int_equal(d.from, m->from);
		assert_string_equal(d.cluster_id, m->cluster_id);
		assert_memory_equal(&d.u.fetch_req, &m->u.fetch_req, sizeof d.u.fetch_req);
	} else {
		const struct raft_fetch_response *w = &m->u.fetch_resp, *g = &d.u.fetch_resp;
		assert_int_equal(d.error_code, m->error_code);
		assert_int_equal(d.leader_id, m->leader_id);
		assert_int_equal(g->high_watermark, w->high_watermark);
		assert_int_equal(g->log_start_offset, w->log_start_offset);
		assert_memory_equal(&g->diverging_epoch, &w->diverging_epoch, sizeof g->diverging_epoch);
		assert_memory_equal(&g->snapshot_id, &w->snapshot_id, sizeof g->snapshot_id);
		assert_int_equal(g->records.len, w->records.len);
		assert_memory_equal(g->records.p, w->records.p, (size_t)w->records.len);
	}
	for (size_t cut = 0; cut < f->n; cut++) {
		d = (struct raft_msg){.type = m->type};
		assert_int_equal(raft_wire_decode(v, f->b, cut, &d), KB_ERR_PROTO);
	}
}

static void test_raft_wire_fetch_fixtures_every_version(void **state)
{
	struct raft_msg q = qw_msg(RAFT_FETCH_REQUEST, 2, 1);
	q.u.fetch_req = (struct raft_fetch_request){10, 4, 1000};
	struct raft_msg r = qw_msg(RAFT_FETCH_RESPONSE, 1, 2);
	r.u.fetch_resp = (struct raft_fetch_response){7, 0, {-1, -1}, {-1, -1},
		{(const uint8_t *)"xyz", 3}};
	for (int16_t v = RAFT_FETCH_VERSION_MIN; v <= RAFT_FETCH_VERSION_MAX; v++) {
		struct fx f = {.n = 0};
		fx_fetch_request(&f, v, 1000, 1000);
		qw_check_fetch_fixture(&q, v, &f);
		f.n = 0;
		fx_fetch_response(&f, v, false);
		qw_check_fetch_fixture(&r, v, &f);
		struct raft_msg d = r;
		d.u.fetch_resp.diverging_epoch = (struct raft_offset_epoch){8, 3};
		f.n = 0;
		fx_fetch_response(&f, v, true);
		qw_check_fetch_fixture(&d, v, &f);
	}
	struct kb_buf b;
	kb_buf_init(&b);
	assert_int_equal(raft_wire_encode(&q, 11, &b), KB_ERR_INVAL); /* no LastFetchedEpoch */
	assert_int_equal(raft_wire_encode(&q, 18, &b), KB_ERR_INVAL);
	kb_buf_fini(&b);
}

/* As Kafka's KafkaRaftClient sends it: PartitionMaxBytes left 0, the
 * limit in MaxBytes; another topic is UNKNOWN_TOPIC_ID; a foreign
 * cluster's answer is a top-level error with no topics. */
static void test_raft_wire_fetch_kafka_shapes(void **state)
{
	struct fx f = {.n = 0};
	fx_fetch_request(&f, 16, 8 << 20, 0);
	struct raft_msg d = {.type = RAFT_FETCH_REQUEST};
	assert_int_equal(raft_wire_decode(16, f.b, f.n, &d), KB_OK);
	assert_int_equal(d.u.fetch_req.max_bytes, 8 << 20); /* MaxBytes */
	f.n = 0;
	fx_fetch_request(&f, 16, 1000, 1000);
	f.b[4 * 3 + 1 + 8 + 1 + 15] = 2; /* topic id ...02: not ours */
	d = (struct raft_msg){.type = RAFT_FETCH_REQUEST};
	assert_int_equal(raft_wire_decode(16, f.b, f.n, &d), KB_ERR_NOTFOUND);
	assert_int_equal(d.error_code, KAFKA_ERR_UNKNOWN_TOPIC_ID);
	struct raft_msg r = qw_msg(RAFT_FETCH_RESPONSE, 1, 2);
	r.error_code = KAFKA_ERR_INCONSISTENT_CLUSTER_ID;
	struct kb_buf b;
	kb_buf_init(&b);
	assert_int_equal(raft_wire_encode(&r, 17, &b), KB_OK);
	const uint8_t want[] = {0, 0, 0, 0, 0, 104, 0, 0, 0, 0, 1, 0};
	assert_int_equal(b.len, sizeof want);
	assert_memory_equal(b.data, want, sizeof want);
	d = (struct raft_msg){.type = RAFT_FETCH_RESPONSE};
	assert_int_equal(raft_wire_decode(17, b.data, b.len, &d), KB_OK);
	assert_int_equal(d.error_code, KAFKA_ERR_INCONSISTENT_CLUSTER_ID);
	kb_buf_fini(&b);
}

/* A leader's real Fetch response crosses the wire and a follower
 * appends what it decoded: the records view survives the trip. */
static void test_raft_wire_fetch_core_round_trip(void **state)
{
	struct ut u = {0}, f = {0};
	ut_make_leader((ut_open(&u, 1, 3, NULL), &u), 3);
	ut_propose(u.r, "over the wire", &(int64_t){0});
	struct raft_quorum_state qs = {1, 1, RAFT_NO_ID};
	ut_open(&f, 2, 3, &qs);
	struct kb_buf req, resp;
	kb_buf_init(&req);
	kb_buf_init(&resp);
	const struct raft_msg *fetch = ut_sent(&f, RAFT_FETCH_REQUEST, 1);
	assert_int_equal(raft_wire_encode(fetch, 17, &req), KB_OK);
	struct raft_msg in = {.type = RAFT_FETCH_REQUEST, .to = 1,
			      .correlation_id = fetch->correlation_id};
	assert_int_equal(raft_wire_decode(17, req.data, req.len, &in), KB_OK);
	ut_step(&u, &in);
	const struct raft_msg *out = ut_sent(&u, RAFT_FETCH_RESPONSE, 2);
	assert_int_equal(ut_offsets(out), 2);
	assert_int_equal(raft_wire_encode(out, 17, &resp), KB_OK);
	struct raft_msg back = {.type = RAFT_FETCH_RESPONSE, .from = 1, .to = 2,
				.correlation_id = out->correlation_id};
	assert_int_equal(raft_wire_decode(17, resp.data, resp.len, &back), KB_OK);
	ut_step(&f, &back);
	assert_int_equal(f.log.n, 2);
	assert_memory_equal(f.log.chain, u.log.chain, 2 * sizeof(uint64_t));
	kb_buf_fini(&req);
	kb_buf_fini(&resp);
	ut_close(&f);
	ut_close(&u);
}

/* Random bytes and mutated fixtures, every version: an answer or
 * KB_ERR_PROTO / KB_ERR_NOTFOUND, never a crash (run it under ASan). */
static void test_raft_wire_fetch_garbage_never_crashes(void **state)
{
	uint64_t x = 0x2545f4914f6cdd1dULL;
	for (int16_t v = RAFT_FETCH_VERSION_MIN; v <= RAFT_FETCH_VERSION_MAX; v++) {
		for (int i = 0; i < 2000; i++) {
			struct fx f = {.n = 0};
			if (i % 2)
				fx_fetch_request(&f, v, 1000, 1000);
			else
				fx_fetch_response(&f, v, i % 4 == 0);
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			f.b[x % f.n] = (uint8_t)(x >> 32); /* one byte changed */
			if (i % 8 == 0)
				f.n = (size_t)(x >> 40) % f.n;
			struct raft_msg d = {.type = i % 2 ? RAFT_FETCH_REQUEST
							   : RAFT_FETCH_RESPONSE};
			int rc = raft_wire_decode(v, f.b, f.n, &d);
			assert_true(rc == KB_OK || rc == KB_ERR_PROTO || rc == KB_ERR_NOTFOUND);
			if (rc == KB_OK && d.type == RAFT_FETCH_RESPONSE)
				assert_true(d.u.fetch_resp.records.len <= (int32_t)f.n);
		}
	}
}

/* ---- The metadata log: the core over three chapter-03 logs on disk ---- */

#define DN_NODES 3
#define DN_STEP_MS 10
#define DN_MAX_STEPS 3000 /* 30 s of fake time */

/* One node: its log.dir, its __cluster_metadata-0 and its core. */
struct dn_node {
	char dir[512];
	struct raft_config cfg;
	struct raft_metadata_log *log; /* owned; NULL while stopped */
	struct raft *r;                /* owned; NULL while stopped */
};

/* Three nodes, a fake clock and a fake network that delivers every
 * message, in order, one step after it was sent. */
struct dn_cluster {
	char *root;
	struct dn_node node[DN_NODES];
	struct sim_packet *net;
	size_t net_len, net_cap;
	int64_t now;
};

static void dn_send(struct dn_cluster *c, const struct raft_msg *m)
{
	if (c->net_len == c->net_cap) {
		c->net_cap = c->net_cap ? 2 * c->net_cap : 64;
		c->net = realloc(c->net, c->net_cap * sizeof *c->net);
		assert_non_null(c->net);
	}
	struct sim_packet *pk = &c->net[c->net_len++];
	*pk = (struct sim_packet){*m, NULL, c->now};
	struct wire_bytes *rec = &pk->m.u.fetch_resp.records;
	if (m->type == RAFT_FETCH_RESPONSE && rec->len > 0) {
		pk->bytes = malloc((size_t)rec->len);
		assert_non_null(pk->bytes);
		memcpy(pk->bytes, rec->p, (size_t)rec->len);
		rec->p = pk->bytes;
	}
}

/* Carry out node i's outputs: quorum-state to its file, messages out. */
static void dn_drain(struct dn_cluster *c, int i)
{
	struct dn_node *n = &c->node[i];
	struct raft_output o;
	while (raft_pop(n->r, &o)) {
		if (o.kind == RAFT_OUT_PERSIST)
			assert_int_equal(raft_quorum_file_write(raft_metadata_log_dir(n->log),
								&n->cfg, &o.persist), KB_OK);
		else
			dn_send(c, &o.msg);
		raft_output_fini(&o);
	}
	raft_check(n->r);
}

/* Start node i from what its directory holds (nothing the first time). */
static void dn_start(struct dn_cluster *c, int i)
{
	struct dn_node *n = &c->node[i];
	struct raft_quorum_state qs;
	n->cfg = ut_config(i + 1, DN_NODES);
	assert_int_equal(raft_metadata_log_open(n->dir, &n->log), KB_OK);
	int rc = raft_quorum_file_read(raft_metadata_log_dir(n->log), &n->cfg, &qs);
	assert_true(rc == KB_OK || rc == KB_ERR_NOTFOUND);
	struct raft_durable d = {&raft_metadata_log_ops, n->log,
				 rc == KB_OK ? &qs : NULL};
	assert_int_equal(raft_new(&n->cfg, &d, c->now, &n->r), KB_OK);
	dn_drain(c, i);
}

/* Stop node i: what is in flight to or from it is lost with it. */
static void dn_stop(struct dn_cluster *c, int i)
{
	raft_free(c->node[i].r);
	raft_metadata_log_close(c->node[i].log);
	c->node[i].r = NULL;
	c->node[i].log = NULL;
}

/* Deliver what was sent before this step, then move the clock on. */
static void dn_step(struct dn_cluster *c)
{
	size_t n = c->net_len;
	struct sim_packet *due = malloc((n ? n : 1) * sizeof *due);
	assert_non_null(due);
	if (n)
		memcpy(due, c->net, n * sizeof *due);
	c->net_len = 0;
	for (size_t k = 0; k < n; k++) {
		int to = due[k].m.to - 1;
		if (to >= 0 && to < DN_NODES && c->node[to].r) {
			raft_step(c->node[to].r, &due[k].m);
			dn_drain(c, to);
		}
		free(due[k].bytes);
	}
	free(due);
	c->now += DN_STEP_MS;
	for (int i = 0; i < DN_NODES; i++) {
		raft_tick(c->node[i].r, c->now);
		dn_drain(c, i);
	}
}

static int dn_leader(const struct dn_cluster *c)
{
	for (int i = 0; i < DN_NODES; i++)
		if (raft_state(c->node[i].r) == RAFT_LEADER)
			return i;
	return -1;
}

/* Run until some node leads and every node's HW is past offset. */
static int dn_run_until_committed(struct dn_cluster *c, int64_t offset)
{
	for (int step = 0; step < DN_MAX_STEPS; step++) {
		int l = dn_leader(c), behind = 0;
		for (int i = 0; i < DN_NODES; i++)
			behind += raft_high_watermark(c->node[i].r) <= offset;
		if (l >= 0 && !behind)
			return l;
		dn_step(c);
	}
	fail_msg("nothing committed past %" PRId64 " in %d ms", offset,
		 DN_MAX_STEPS * DN_STEP_MS);
	return -1;
}

/* The first segment file of node i's __cluster_metadata-0, whole. */
static uint8_t *dn_segment(const struct dn_cluster *c, int i, size_t *len)
{
	char path[600];
	snprintf(path, sizeof path, "%s/%s/00000000000000000000.log",
		 c->node[i].dir, RAFT_METADATA_DIR);
	uint8_t *p = tu_read_all(path, len);
	assert_non_null(p);
	return p;
}

/* The batch at *pos of a segment file, checked; advances *pos. */
static struct seg_batch dn_next_batch(const uint8_t *p, size_t len, size_t *pos)
{
	struct seg_batch b;
	assert_true(*pos + SEG_LOG_OVERHEAD <= len);
	size_t size = SEG_LOG_OVERHEAD + kb_get_be32(p + *pos + SEG_OFF_BATCH_LENGTH);
	assert_int_equal(seg_batch_validate(p + *pos, size, &b, NULL), KB_OK);
	*pos += size;
	return b;
}

/* The LeaderChange control batch at p: key {0, 2}, then
 * LeaderChangeMessage v0 (flexible): Version 0, LeaderId, Voters 1..3. */
static void dn_assert_leader_change(const uint8_t *p, size_t len, int32_t leader,
				    int32_t epoch)
{
	struct wire_records it;
	struct wire_record rec;
	size_t size = 0;
	dn_next_batch(p, len, &size);
	assert_int_equal(wire_records_init(&it, p, size), KB_OK);
	assert_true(it.batch.attributes & SEG_ATTR_CONTROL);
	assert_int_equal(it.batch.partition_leader_epoch, epoch);
	assert_int_equal(it.batch.records_count, 1);
	assert_int_equal(wire_records_next(&it, &rec), KB_OK);
	const uint8_t key[] = {0, 0, 0, 2};
	assert_int_equal(rec.key.len, 4);
	assert_memory_equal(rec.key.p, key, 4);
	const uint8_t value[] = {0, 0, 0, 0, 0, (uint8_t)leader, /* Version, LeaderId */
				 4, 0, 0, 0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 3, 0};
	assert_true(rec.value.len >= (int32_t)sizeof value);
	assert_memory_equal(rec.value.p, value, sizeof value);
}

/* Find, in a segment file, the data batch whose records are want[0..n). */
static bool dn_find_records(const uint8_t *p, size_t len, const struct kb_buf *want,
			    int n)
{
	for (size_t pos = 0; pos < len;) {
		size_t at = pos;
		struct seg_batch b = dn_next_batch(p, len, &pos);
		if ((b.attributes & SEG_ATTR_CONTROL) || b.records_count != n)
			continue;
		struct wire_records it;
		struct wire_record rec;
		assert_int_equal(wire_records_init(&it, p + at, pos - at), KB_OK);
		int same = 0;
		for (int k = 0; k < n && wire_records_next(&it, &rec) == KB_OK; k++) {
			if (rec.key.len != -1 || rec.value.len != (int32_t)want[k].len ||
			    memcmp(rec.value.p, want[k].data, want[k].len) != 0)
				continue;
			struct meta_record m;
			same += meta_record_decode(rec.value.p, (size_t)rec.value.len,
						   &m) == KB_OK;
			meta_record_fini(&m);
		}
		if (same == n)
			return true;
	}
	return false;
}

/* Propose recs (encoded metadata records) on the leader; the last offset. */
static int64_t dn_propose(struct dn_cluster *c, int l, const struct kb_buf *recs, int n)
{
	struct raft_record r[4];
	for (int k = 0; k < n; k++)
		r[k] = (struct raft_record){recs[k].data, recs[k].len};
	int64_t last;
	assert_int_equal(raft_propose(c->node[l].r, r, n, &last), KB_OK);
	dn_drain(c, l);
	return last;
}

static void dn_encode(struct kb_buf *out, int16_t type, int16_t version)
{
	struct meta_record m;
	meta_fill(&m, type, version);
	kb_buf_init(out);
	assert_int_equal(meta_record_encode(&m, out), KB_OK);
}

/* Three nodes over three real chapter-03 logs elect a leader, commit
 * metadata records (a RegisterBrokerRecord is ~90 bytes: a batch, not a
 * toy entry), write identical segment files with the LeaderChange batch
 * first, and after every node restarts from its quorum-state and log,
 * keep all of it and commit more. */
/* __cluster_metadata-0's snapshot ops: the log start, the latest
 * <offset>-<epoch>.checkpoint, deleting below it and starting over at it. */
static void ml_file_snapshot(const char *dir, struct raft_offset_epoch id)
{
	char path[4096];
	assert_int_equal(meta_snapshot_path(dir, id, path, sizeof path), KB_OK);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
}

static void md_append_all(const struct raft_log_ops *ops, void *log,
			  const struct kb_buf *b)
{
	for (size_t pos = 0; pos < b->len;) {
		size_t size = SEG_LOG_OVERHEAD + kb_get_be32(b->data + pos + SEG_OFF_BATCH_LENGTH);
		assert_int_equal(ops->append(log, b->data + pos, size), KB_OK);
		pos += size;
	}
}

static void test_raft_metadata_log_snapshot_ops(void **state)
{
	char *root = tu_tmpdir();
	struct raft_metadata_log *m;
	const struct raft_log_ops *ops = &raft_metadata_log_ops;
	assert_int_equal(raft_metadata_log_open(root, &m), KB_OK);
	const char *dir = raft_metadata_log_dir(m);
	struct kb_buf b;
	kb_buf_init(&b);
	ut_batches(&b, 0, (const int32_t[]){1, 1, 1, 1, 2}, 5, 0);
	md_append_all(ops, m, &b);
	struct raft_offset_epoch id;
	assert_int_equal(ops->start_offset(m), 0);
	assert_int_equal(ops->latest_snapshot(m, &id), KB_ERR_NOTFOUND);
	assert_int_equal(ops->delete_before(m, 3), KB_ERR_INVAL); /* no snapshot */
	ml_file_snapshot(dir, (struct raft_offset_epoch){3, 1});
	assert_int_equal(ops->latest_snapshot(m, &id), KB_OK);
	assert_int_equal(id.offset, 3);
	assert_int_equal(id.epoch, 1);
	assert_int_equal(ops->delete_before(m, 4), KB_ERR_INVAL); /* past it */
	assert_int_equal(ops->delete_before(m, 3), KB_OK);
	assert_int_equal(ops->start_offset(m), 3);
	assert_int_equal(ops->end_offset(m), 5);
	/* Start over at a newer snapshot, past the log's end. */
	assert_int_equal(ops->reset_to_snapshot(m, (struct raft_offset_epoch){10, 2}),
			 KB_ERR_INVAL); /* not on disk */
	ml_file_snapshot(dir, (struct raft_offset_epoch){10, 2});
	assert_int_equal(ops->reset_to_snapshot(m, (struct raft_offset_epoch){10, 2}), KB_OK);
	assert_int_equal(ops->start_offset(m), 10);
	assert_int_equal(ops->end_offset(m), 10);
	struct raft_offset_epoch last = ops->end_offset_for_epoch(m, INT32_MAX);
	assert_int_equal(last.offset, 10);
	assert_int_equal(last.epoch, 0); /* none on the log: the core asks the snapshot */
	b.len = 0;
	ut_batches(&b, 10, (const int32_t[]){3}, 1, 0);
	md_append_all(ops, m, &b);
	raft_metadata_log_close(m);
	assert_int_equal(raft_metadata_log_open(root, &m), KB_OK); /* durable */
	assert_int_equal(ops->start_offset(m), 10);
	assert_int_equal(ops->end_offset(m), 11);
	assert_int_equal(ops->latest_snapshot(m, &id), KB_OK);
	assert_int_equal(id.offset, 10);
	last = ops->end_offset_for_epoch(m, INT32_MAX);
	assert_int_equal(last.offset, 11);
	assert_int_equal(last.epoch, 3);
	raft_metadata_log_close(m);
	kb_buf_fini(&b);
	tu_rmrf(root);
}

static void test_raft_metadata_log_three_nodes_commit_and_restart(void **state)
{
	struct dn_cluster c = {0};
	c.root = tu_tmpdir();
	for (int i = 0; i < DN_NODES; i++) {
		snprintf(c.node[i].dir, sizeof c.node[i].dir, "%s/n%d", c.root, i + 1);
		assert_int_equal(mkdir(c.node[i].dir, 0755), 0);
		dn_start(&c, i);
	}
	int l = dn_run_until_committed(&c, 0);
	int32_t epoch = raft_quorum(c.node[l].r).leader_epoch;
	struct kb_buf recs[3];
	dn_encode(&recs[0], META_REGISTER_BROKER, 3);
	dn_encode(&recs[1], META_TOPIC, 0);
	dn_encode(&recs[2], META_PARTITION, 0);
	assert_true(recs[0].len > 64);
	int64_t last = dn_propose(&c, l, recs, 2);
	dn_run_until_committed(&c, last);
	size_t len0, len;
	uint8_t *seg0 = dn_segment(&c, 0, &len0);
	for (int i = 1; i < DN_NODES; i++) { /* Log Matching, on disk */
		uint8_t *seg = dn_segment(&c, i, &len);
		assert_int_equal(len, len0);
		assert_memory_equal(seg, seg0, len0);
		free(seg);
	}
	dn_assert_leader_change(seg0, len0, l + 1, epoch);
	assert_true(dn_find_records(seg0, len0, recs, 2));
	for (int i = 0; i < DN_NODES; i++)
		dn_stop(&c, i);
	for (size_t k = 0; k < c.net_len; k++)
		free(c.net[k].bytes);
	c.net_len = 0;
	for (int i = 0; i < DN_NODES; i++) { /* every node restarts from disk */
		dn_start(&c, i);
		assert_int_equal(raft_quorum(c.node[i].r).leader_epoch, epoch);
		assert_int_equal(raft_metadata_log_ops.end_offset(c.node[i].log), last + 1);
	}
	for (int step = 0; step < DN_MAX_STEPS && dn_leader(&c) < 0; step++)
		dn_step(&c);
	l = dn_leader(&c);
	assert_true(l >= 0);
	assert_true(raft_quorum(c.node[l].r).leader_epoch > epoch);
	last = dn_propose(&c, l, &recs[2], 1);
	dn_run_until_committed(&c, last);
	uint8_t *seg = dn_segment(&c, 0, &len);
	assert_true(len > len0);
	assert_memory_equal(seg, seg0, len0); /* what was committed stayed */
	assert_true(dn_find_records(seg, len, &recs[2], 1));
	free(seg);
	free(seg0);
	for (int i = 0; i < DN_NODES; i++)
		dn_stop(&c, i);
	for (size_t k = 0; k < c.net_len; k++)
		free(c.net[k].bytes);
	free(c.net);
	for (int k = 0; k < 3; k++)
		kb_buf_fini(&recs[k]);
	tu_rmrf(c.root);
}

/* ---- Snapshots (07_snapshot.c) ---- */
/*
 * The image written as a KIP-630 snapshot and read back: the round trip
 * compared by re-encoding, the layout checked batch by batch against
 * Kafka's (header at offset 0, footer last, offsets without a gap), the
 * files named and replaced as Kafka's are, and damage of every kind
 * refused with KB_ERR_CORRUPT.
 */

#define SNAP_T_NOW 1700000000000LL
#define SNAP_T_LAST 1699999999000LL

/* A snapshot's params at (end_offset, epoch), with fixed times. */
static struct meta_snapshot_params snap_params(int64_t end_offset, int32_t epoch)
{
	struct meta_snapshot_params p = {{end_offset, epoch}, SNAP_T_LAST, SNAP_T_NOW};
	return p;
}

/* An image with a bit of everything: three brokers (fenced, unfenced,
 * in controlled shutdown), two topics with partitions (one leaderless,
 * one after an ISR change), topic and broker configs, a producer-id
 * block, two features (metadata.version set second), an ACL, a SCRAM
 * credential. */
static void snap_full_image(struct meta_image *img)
{
	meta_image_init(img);
	struct meta_record r;
	meta_record_init(&r, META_FEATURE_LEVEL, 0);
	r.name = wire_str_c("kraft.version"), r.feature_level = 1;
	assert_int_equal(meta_apply_rt(img, &r), KB_OK);
	r.name = wire_str_c("metadata.version"), r.feature_level = 20;
	assert_int_equal(meta_apply_rt(img, &r), KB_OK);
	for (int32_t id = 1; id <= 3; id++)
		assert_int_equal(meta_register(img, id, 10 + id), KB_OK);
	assert_int_equal(meta_fence(img, META_UNFENCE_BROKER, 2, 12), KB_OK);
	assert_int_equal(meta_fence(img, META_UNFENCE_BROKER, 3, 13), KB_OK);
	meta_record_init(&r, META_BROKER_REGISTRATION_CHANGE, 1);
	r.broker_id = 3, r.broker_epoch = 13, r.shutdown_change = 1;
	assert_int_equal(meta_apply_rt(img, &r), KB_OK);
	assert_int_equal(meta_topic(img, "orders", 0x10), KB_OK);
	assert_int_equal(meta_topic(img, "audit", 0x30), KB_OK);
	for (int32_t p = 0; p < 3; p++)
		assert_int_equal(meta_partition(img, 0x10, p, p == 2 ? -1 : 1), KB_OK);
	assert_int_equal(meta_partition(img, 0x30, 0, 2), KB_OK);
	meta_record_init(&r, META_PARTITION_CHANGE, 0);
	r.topic_id = meta_uuid(0x10), r.partition_id = 1;
	r.isr = meta_arr(meta_ids1, 1);
	assert_int_equal(meta_apply_rt(img, &r), KB_OK);
	assert_int_equal(meta_config(img, META_RESOURCE_TOPIC, "orders",
				     "retention.ms", "1000"), KB_OK);
	assert_int_equal(meta_config(img, META_RESOURCE_TOPIC, "orders",
				     "cleanup.policy", "compact"), KB_OK);
	assert_int_equal(meta_config(img, META_RESOURCE_BROKER, "",
				     "log.retention.hours", "24"), KB_OK);
	meta_fill(&r, META_PRODUCER_IDS, 0);
	assert_int_equal(meta_apply_rt(img, &r), KB_OK);
	meta_fill(&r, META_ACCESS_CONTROL_ENTRY, 0);
	assert_int_equal(meta_apply_rt(img, &r), KB_OK);
	meta_fill(&r, META_USER_SCRAM_CREDENTIAL, 0);
	assert_int_equal(meta_apply_rt(img, &r), KB_OK);
}

/* A collecting sink: each record's type, in order. */
struct snap_types {
	int16_t t[64];
	int n;
};

static int snap_collect(void *ctx, const struct meta_record *rec)
{
	struct snap_types *st = ctx;
	assert_true(st->n < 64);
	st->t[st->n++] = rec->type;
	return KB_OK;
}

/* MetadataImage.write's order: features (metadata.version first),
 * brokers, each topic with its partitions, configs, producer ids, ACLs,
 * SCRAM. */
static void test_meta_image_write_order(void **state)
{
	(void)state;
	struct meta_image img;
	snap_full_image(&img);
	struct snap_types st = {.n = 0};
	assert_int_equal(meta_image_write(&img, snap_collect, &st), KB_OK);
	const int16_t want[] = {
		META_FEATURE_LEVEL, META_FEATURE_LEVEL, META_REGISTER_BROKER,
		META_REGISTER_BROKER, META_REGISTER_BROKER, META_TOPIC,
		META_PARTITION, META_PARTITION, META_PARTITION, META_TOPIC,
		META_PARTITION, META_CONFIG, META_CONFIG, META_CONFIG,
		META_PRODUCER_IDS, META_ACCESS_CONTROL_ENTRY,
		META_USER_SCRAM_CREDENTIAL,
	};
	assert_int_equal(st.n, (int)(sizeof want / sizeof want[0]));
	for (int i = 0; i < st.n; i++)
		assert_int_equal(st.t[i], want[i]);
	meta_image_fini(&img);
}

/* INVARIANT 3: image -> snapshot -> image -> snapshot gives the same
 * bytes, and what the loaded image says is what the first one said. */
static void test_meta_snapshot_round_trip(void **state)
{
	(void)state;
	struct meta_image img, back;
	struct meta_snapshot_info info;
	snap_full_image(&img);
	struct meta_snapshot_params p = snap_params(42, 7);
	struct kb_buf a, b;
	kb_buf_init(&a);
	kb_buf_init(&b);
	assert_int_equal(meta_snapshot_encode(&img, &p, &a), KB_OK);
	assert_int_equal(meta_snapshot_decode(a.data, a.len, &back, &info), KB_OK);
	meta_check(&back);
	assert_int_equal(info.last_contained_log_timestamp, SNAP_T_LAST);
	assert_int_equal(info.records, 17);
	assert_int_equal(info.batches, 3);
	assert_int_equal(meta_snapshot_encode(&back, &p, &b), KB_OK);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	/* What a reader of the loaded image sees. */
	assert_int_equal(back.n_brokers, 3);
	assert_true(meta_broker_find(&back, 1)->fenced);
	assert_false(meta_broker_find(&back, 2)->fenced);
	assert_true(meta_broker_find(&back, 3)->in_controlled_shutdown);
	assert_int_equal(meta_broker_find(&back, 3)->epoch, 13);
	const struct meta_topic *t = meta_topic_find(&back, "orders");
	assert_non_null(t);
	assert_int_equal(t->partition_count, 3);
	assert_int_equal(t->partitions[1].isr.n, 1);
	assert_int_equal(t->partitions[1].partition_epoch, 1);
	assert_int_equal(t->partitions[2].leader, -1);
	assert_string_equal(meta_config_get(&back, META_RESOURCE_TOPIC, "orders",
					    "cleanup.policy"), "compact");
	assert_string_equal(meta_config_get(&back, META_RESOURCE_BROKER, "",
					    "log.retention.hours"), "24");
	assert_int_equal(back.next_producer_id, 1000);
	assert_int_equal(meta_feature_level(&back, "metadata.version"), 20);
	assert_int_equal(meta_feature_level(&back, "kraft.version"), 1);
	assert_int_equal(back.n_acls, 1);
	assert_int_equal(back.n_scram, 1);
	/* An empty image is a header and a footer. */
	struct meta_image empty;
	meta_image_init(&empty);
	a.len = 0;
	assert_int_equal(meta_snapshot_encode(&empty, &p, &a), KB_OK);
	meta_image_fini(&back);
	assert_int_equal(meta_snapshot_decode(a.data, a.len, &back, &info), KB_OK);
	assert_int_equal(info.batches, 2);
	assert_int_equal(info.records, 0);
	meta_image_fini(&back);
	meta_image_fini(&empty);
	meta_image_fini(&img);
	kb_buf_fini(&a);
	kb_buf_fini(&b);
}

/* One batch of a snapshot as the test reads it, from CLIENTS.md §6's
 * offsets; returns its size. */
static size_t snap_batch_at(const uint8_t *p, int64_t *base, int32_t *epoch,
			    int16_t *attrs, int32_t *count)
{
	*base = (int64_t)kb_get_be64(p);
	*epoch = (int32_t)kb_get_be32(p + 12);
	*attrs = (int16_t)kb_get_be16(p + 21);
	*count = (int32_t)kb_get_be32(p + 57);
	assert_int_equal(p[16], 2); /* magic */
	assert_int_equal(kb_get_be32(p + 17), tu_crc32c(p + 21, 12 + kb_get_be32(p + 8) - 21));
	return 12 + kb_get_be32(p + 8);
}

/* Kafka's layout: a control batch at offset 0 holding the header (key
 * version 0 type 3; value Version 0, LastContainedLogTimestamp, no tags),
 * record batches of at most 1024 records with offsets following on, and
 * a control batch holding the footer (type 4). Every batch carries the
 * snapshot's epoch. 1100 topics make two record batches. */
static void test_meta_snapshot_kafka_layout(void **state)
{
	(void)state;
	struct meta_image img;
	meta_image_init(&img);
	struct meta_record r;
	meta_record_init(&r, META_TOPIC, 0);
	char name[16];
	for (int i = 0; i < 1100; i++) {
		snprintf(name, sizeof name, "t%d", i);
		r.name = wire_str_c(name);
		r.topic_id = meta_uuid(1);
		r.topic_id.b[0] = (uint8_t)(i >> 8), r.topic_id.b[1] = (uint8_t)i;
		assert_int_equal(meta_apply(&img, &r), KB_OK);
	}
	struct meta_snapshot_params p = snap_params(5000, 9);
	struct kb_buf a;
	kb_buf_init(&a);
	assert_int_equal(meta_snapshot_encode(&img, &p, &a), KB_OK);
	const int64_t want_base[] = {0, 1, 1025, 1101};
	const int32_t want_count[] = {1, 1024, 76, 1};
	size_t pos = 0;
	for (int i = 0; i < 4; i++) {
		int64_t base;
		int32_t epoch, count;
		int16_t attrs;
		size_t n = snap_batch_at(a.data + pos, &base, &epoch, &attrs, &count);
		assert_int_equal(base, want_base[i]);
		assert_int_equal(count, want_count[i]);
		assert_int_equal(epoch, 9);
		assert_int_equal(kb_get_be64(a.data + pos + 27), SNAP_T_NOW);
		assert_int_equal(attrs, i == 0 || i == 3 ? SEG_ATTR_CONTROL : 0);
		if (i == 0 || i == 3) {
			/* The one record: length, attrs, ts delta, offset delta,
			 * key 4 bytes, value, no headers. */
			const uint8_t *rec = a.data + pos + 61;
			int vlen = i == 0 ? 11 : 3;
			assert_int_equal(rec[1], 0);       /* attributes */
			assert_int_equal(rec[2], 0);       /* timestamp delta */
			assert_int_equal(rec[3], 0);       /* offset delta */
			assert_int_equal(rec[4], 8);       /* key length 4, zigzag */
			assert_int_equal(kb_get_be16(rec + 5), 0);   /* key version */
			assert_int_equal(kb_get_be16(rec + 7), i == 0 ? 3 : 4);
			assert_int_equal(rec[9], 2 * vlen); /* value length */
			assert_int_equal(kb_get_be16(rec + 10), 0); /* Version */
			if (i == 0)
				assert_int_equal(kb_get_be64(rec + 12), SNAP_T_LAST);
			assert_int_equal(rec[9 + vlen], 0); /* value's tag section */
			assert_int_equal(rec[10 + vlen], 0); /* header count */
		}
		pos += n;
	}
	assert_int_equal(pos, a.len);
	kb_buf_fini(&a);
	meta_image_fini(&img);
}

/* The file: Kafka's name, no .part left behind, read back whole; a newer
 * snapshot is found as the latest and the older one deleted. */
static void test_meta_snapshot_file_write_read_latest_delete(void **state)
{
	(void)state;
	char *dir = tu_tmpdir(), path[4096];
	struct meta_image img, back;
	struct meta_snapshot_info info;
	struct raft_offset_epoch latest, ids[4];
	snap_full_image(&img);
	struct meta_snapshot_params p = snap_params(42, 7);
	assert_int_equal(meta_snapshot_latest(dir, &latest), KB_ERR_NOTFOUND);
	assert_int_equal(meta_snapshot_write(dir, &img, &p), KB_OK);
	assert_int_equal(meta_snapshot_path(dir, p.id, path, sizeof path), KB_OK);
	assert_non_null(strstr(path, "/00000000000000000042-0000000007.checkpoint"));
	assert_true(tu_file_size(path) > 0);
	char part[4200];
	snprintf(part, sizeof part, "%s.part", path);
	assert_int_equal(tu_file_size(part), -1);
	struct kb_buf want;
	kb_buf_init(&want);
	assert_int_equal(meta_snapshot_encode(&img, &p, &want), KB_OK);
	size_t len;
	uint8_t *bytes = tu_read_all(path, &len);
	assert_int_equal(len, want.len);
	assert_memory_equal(bytes, want.data, len); /* the file is the encoding */
	free(bytes);
	assert_int_equal(meta_snapshot_read(dir, p.id, &back, &info), KB_OK);
	assert_int_equal(back.n_topics, 2);
	meta_image_fini(&back);
	/* A newer one: the latest by offset, then by epoch. */
	struct meta_snapshot_params q = snap_params(42, 8);
	assert_int_equal(meta_snapshot_write(dir, &img, &q), KB_OK);
	struct meta_snapshot_params r = snap_params(9, 20);
	assert_int_equal(meta_snapshot_write(dir, &img, &r), KB_OK);
	assert_int_equal(meta_snapshot_scan(dir, ids, 4), 3);
	assert_int_equal(ids[0].offset, 9);
	assert_int_equal(ids[1].epoch, 7);
	assert_int_equal(ids[2].epoch, 8);
	assert_int_equal(meta_snapshot_scan(dir, ids, 2), 3); /* the newest two */
	assert_int_equal(ids[0].epoch, 7);
	assert_int_equal(ids[1].epoch, 8);
	assert_int_equal(meta_snapshot_latest(dir, &latest), KB_OK);
	assert_int_equal(meta_snapshot_id_cmp(latest, q.id), 0);
	assert_int_equal(meta_snapshot_delete_before(dir, latest), 2);
	assert_int_equal(meta_snapshot_scan(dir, ids, 4), 1);
	assert_int_equal(meta_snapshot_read(dir, p.id, &back, &info), KB_ERR_NOTFOUND);
	meta_image_fini(&back);
	assert_int_equal(meta_snapshot_read(dir, q.id, &back, &info), KB_OK);
	meta_image_fini(&back);
	assert_int_equal(meta_snapshot_write(dir, &img, &(struct meta_snapshot_params){{-1, 0}, 0, 0}),
			 KB_ERR_INVAL);
	kb_buf_fini(&want);
	meta_image_fini(&img);
	tu_rmrf(dir);
}

/* INVARIANT 1: a crash while writing leaves only a .part file; at open it
 * is deleted, never read, and never taken for a snapshot. Names that are
 * not exactly Kafka's are left alone. */
static void test_meta_snapshot_leftover_part_deleted_at_open(void **state)
{
	(void)state;
	char *dir = tu_tmpdir(), path[4096];
	struct meta_image img;
	struct raft_offset_epoch latest, ids[4];
	snap_full_image(&img);
	struct meta_snapshot_params p = snap_params(42, 7);
	assert_int_equal(meta_snapshot_write(dir, &img, &p), KB_OK);
	const char *junk[] = {
		"00000000000000000100-0000000009.checkpoint.part",
		"00000000000000000100-0000000009-123456.checkpoint.part",
		"00000000000000000001-0000000001.checkpoint.deleted",
	};
	for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, junk[i]);
		tu_write_all(path, "half", 4);
	}
	snprintf(path, sizeof path, "%s/%s", dir, "0000000000000000010-0000000009.checkpoint");
	tu_write_all(path, "odd", 3); /* 19 digits: not a snapshot name */
	/* latest (a running node) leaves a .part alone: it may be a download */
	assert_int_equal(meta_snapshot_latest(dir, &latest), KB_OK);
	assert_int_equal(meta_snapshot_id_cmp(latest, p.id), 0);
	snprintf(path, sizeof path, "%s/%s", dir, junk[0]);
	assert_int_equal(tu_file_size(path), 4);
	/* scan (at open) deletes them */
	assert_int_equal(meta_snapshot_scan(dir, &latest, 1), 1);
	assert_int_equal(meta_snapshot_id_cmp(latest, p.id), 0);
	for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, junk[i]);
		assert_int_equal(tu_file_size(path), -1);
	}
	snprintf(path, sizeof path, "%s/%s", dir, "0000000000000000010-0000000009.checkpoint");
	assert_int_equal(tu_file_size(path), 3);
	assert_int_equal(meta_snapshot_scan(dir, ids, 4), 1);
	meta_image_fini(&img);
	tu_rmrf(dir);
}

/* Is byte i inside some batch's partitionLeaderEpoch (outside the CRC)? */
static bool snap_in_leader_epoch(const uint8_t *p, size_t len, size_t i)
{
	for (size_t pos = 0; pos + 61 <= len; pos += 12 + kb_get_be32(p + pos + 8))
		if (i >= pos + 12 && i < pos + 16)
			return true;
	return false;
}

/* INVARIANT 2 and 4: every cut (a snapshot without its footer, a torn
 * batch) and every bit flip outside partitionLeaderEpoch is
 * KB_ERR_CORRUPT with an empty image; so are a snapshot whose records
 * contradict each other and bytes after the footer. */
static void test_meta_snapshot_damage_is_corrupt(void **state)
{
	(void)state;
	struct meta_image img, back;
	struct meta_snapshot_info info;
	snap_full_image(&img);
	struct meta_snapshot_params p = snap_params(42, 7);
	struct kb_buf a;
	kb_buf_init(&a);
	assert_int_equal(meta_snapshot_encode(&img, &p, &a), KB_OK);
	for (size_t cut = 0; cut < a.len; cut++) {
		assert_int_equal(meta_snapshot_decode(a.data, cut, &back, &info),
				 KB_ERR_CORRUPT);
		assert_int_equal(back.n_brokers + back.n_topics + back.n_configs, 0);
		meta_image_fini(&back);
	}
	for (size_t i = 0; i < a.len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			a.data[i] ^= (uint8_t)(1u << bit);
			int rc = meta_snapshot_decode(a.data, a.len, &back, &info);
			if (!snap_in_leader_epoch(a.data, a.len, i))
				assert_int_equal(rc, KB_ERR_CORRUPT);
			if (rc)
				assert_int_equal(back.n_brokers + back.n_topics, 0);
			meta_image_fini(&back);
			a.data[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* Bytes after the footer: the footer must be last. */
	size_t whole = a.len;
	assert_int_equal(kb_buf_append(&a, a.data, 200), KB_OK);
	assert_int_equal(meta_snapshot_decode(a.data, a.len, &back, &info), KB_ERR_CORRUPT);
	meta_image_fini(&back);
	a.len = whole;
	/* A damaged file on disk is refused the same way. */
	char *dir = tu_tmpdir(), path[4096];
	assert_int_equal(meta_snapshot_write(dir, &img, &p), KB_OK);
	assert_int_equal(meta_snapshot_path(dir, p.id, path, sizeof path), KB_OK);
	a.data[a.len - 5] ^= 0x40;
	tu_write_all(path, a.data, a.len);
	assert_int_equal(meta_snapshot_read(dir, p.id, &back, &info), KB_ERR_CORRUPT);
	assert_int_equal(back.n_topics, 0);
	meta_image_fini(&back);
	tu_rmrf(dir);
	kb_buf_fini(&a);
	meta_image_fini(&img);
}

/* Records collected one by one, to frame by hand. */
struct snap_hand {
	struct kb_buf vals;
	size_t ends[32];
	int32_t n;
	bool orphan; /* give each TopicRecord another id than its partitions */
};

static int snap_hand_sink(void *ctx, const struct meta_record *rec)
{
	struct snap_hand *h = ctx;
	struct meta_record r = *rec;
	if (h->orphan && rec->type == META_TOPIC)
		r.topic_id.b[15] ^= 0xff;
	assert_true(h->n < 32);
	assert_int_equal(meta_record_encode(&r, &h->vals), KB_OK);
	h->ends[h->n++] = h->vals.len;
	return KB_OK;
}

/* img's records (changed as h says) between a real header and footer. */
static void snap_frame_by_hand(const struct meta_image *img, struct snap_hand *h,
			       struct kb_buf *out)
{
	struct meta_image empty;
	meta_image_init(&empty);
	struct meta_snapshot_params p = snap_params(42, 7);
	struct kb_buf frame;
	kb_buf_init(&frame);
	assert_int_equal(meta_snapshot_encode(&empty, &p, &frame), KB_OK);
	size_t header_len = 12 + kb_get_be32(frame.data + 8);
	assert_int_equal(meta_image_write(img, snap_hand_sink, h), KB_OK);
	struct wire_record recs[32];
	for (int32_t i = 0; i < h->n; i++) {
		size_t from = i ? h->ends[i - 1] : 0;
		recs[i] = (struct wire_record){.key = {NULL, -1},
			.value = {h->vals.data + from, (int32_t)(h->ends[i] - from)},
			.timestamp = SNAP_T_NOW};
	}
	struct wire_batch_params bp = {1, 7, 0, -1, -1, -1};
	assert_int_equal(kb_buf_append(out, frame.data, header_len), KB_OK);
	assert_int_equal(wire_batch_write(out, &bp, recs, h->n), KB_OK);
	size_t footer_at = out->len;
	assert_int_equal(kb_buf_append(out, frame.data + header_len,
				       frame.len - header_len), KB_OK);
	seg_batch_set_base_offset(out->data + footer_at, 1 + h->n);
	kb_buf_fini(&frame);
	meta_image_fini(&empty);
}

/* A well-framed snapshot whose records the image refuses (partitions of
 * a topic id it never saw) is damage too, not a half-built image; the
 * same frame with the records as they were loads. */
static void test_meta_snapshot_contradicting_records_corrupt(void **state)
{
	(void)state;
	struct meta_image img, back;
	struct meta_snapshot_info info;
	snap_full_image(&img);
	for (int orphan = 0; orphan <= 1; orphan++) {
		struct snap_hand h = {.n = 0, .orphan = orphan};
		kb_buf_init(&h.vals);
		struct kb_buf bytes;
		kb_buf_init(&bytes);
		snap_frame_by_hand(&img, &h, &bytes);
		assert_int_equal(meta_snapshot_decode(bytes.data, bytes.len, &back, &info),
				 orphan ? KB_ERR_CORRUPT : KB_OK);
		assert_int_equal(back.n_topics, orphan ? 0 : 2);
		meta_image_fini(&back);
		kb_buf_fini(&bytes);
		kb_buf_fini(&h.vals);
	}
	meta_image_fini(&img);
}

/* The header and footer as kafka-dump-log prints a snapshot's control
 * records (DumpLogSegments: " SnapshotHeader {json}"); other control
 * types are not ours to print. */
static void test_meta_snapshot_control_format(void **state)
{
	(void)state;
	struct meta_image img;
	meta_image_init(&img);
	struct meta_snapshot_params p = snap_params(42, 7);
	struct kb_buf a, out;
	kb_buf_init(&a);
	kb_buf_init(&out);
	assert_int_equal(meta_snapshot_encode(&img, &p, &a), KB_OK);
	size_t header_len = 12 + kb_get_be32(a.data + 8);
	const char *want[] = {
		"SnapshotHeader {\"version\":0,\"lastContainedLogTimestamp\":1699999999000}",
		"SnapshotFooter {\"version\":0}",
	};
	for (int i = 0; i < 2; i++) {
		struct wire_records it;
		struct wire_record rec;
		const uint8_t *b = i ? a.data + header_len : a.data;
		size_t n = i ? a.len - header_len : header_len;
		assert_int_equal(wire_records_init(&it, b, n), KB_OK);
		assert_int_equal(wire_records_next(&it, &rec), KB_OK);
		out.len = 0;
		assert_int_equal(meta_snapshot_control_format(&rec, &out), KB_OK);
		assert_int_equal(out.len, strlen(want[i]));
		assert_memory_equal(out.data, want[i], out.len);
		uint8_t key[4] = {0, 0, 0, 2}; /* LeaderChange */
		rec.key.p = key;
		assert_int_equal(meta_snapshot_control_format(&rec, &out), KB_ERR_NOTFOUND);
		key[1] = 1; /* key version 1: unknown */
		assert_int_equal(meta_snapshot_control_format(&rec, &out), KB_ERR_CORRUPT);
	}
	kb_buf_fini(&out);
	kb_buf_fini(&a);
	meta_image_fini(&img);
}

/* `samsa dump-log` on a snapshot: the header's control batch at offset
 * 0, every record as kafka-dump-log --cluster-metadata-decoder prints it,
 * the footer's control batch last. Skipped when build/samsa is not built
 * (make test-07 builds only the unit tests; make test runs it). */
static void test_meta_snapshot_dump_log_shows_it(void **state)
{
	(void)state;
	const char *root = getenv("SAMSA_ROOT"), *build = getenv("SAMSA_BUILD");
	char samsa[4096], cmd[8400], path[4096], line[4096];
	snprintf(samsa, sizeof samsa, "%s/%s/samsa", root ? root : ".",
		 build ? build : "build");
	if (access(samsa, X_OK) != 0)
		skip();
	char *dir = tu_tmpdir();
	struct meta_image img;
	snap_full_image(&img);
	struct meta_snapshot_params p = snap_params(42, 7);
	assert_int_equal(meta_snapshot_write(dir, &img, &p), KB_OK);
	assert_int_equal(meta_snapshot_path(dir, p.id, path, sizeof path), KB_OK);
	snprintf(cmd, sizeof cmd, "'%s' dump-log '%s' 2>&1", samsa, path);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	int batches = 0, control = 0, payloads = 0, order = 0;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "baseOffset: ", 12) == 0) {
			bool is_control = strstr(line, "isControl: true") != NULL;
			assert_non_null(strstr(line, "partitionLeaderEpoch: 7 "));
			assert_non_null(strstr(line, "isvalid: true"));
			if (batches == 0)
				assert_true(is_control && !strncmp(line, "baseOffset: 0 lastOffset: 0 ", 28));
			if (batches == 2)
				assert_true(is_control && !strncmp(line, "baseOffset: 18 lastOffset: 18 ", 30));
			batches++;
		} else if (strstr(line, "control record")) {
			control++;
		} else if (strstr(line, "payload: {\"type\":\"")) {
			payloads++;
			if (strstr(line, "FEATURE_LEVEL_RECORD") && strstr(line, "metadata.version"))
				order = order == 0 ? 1 : -1; /* first of all */
			if (strstr(line, "USER_SCRAM_CREDENTIAL_RECORD"))
				order = order == 1 ? 2 : -1; /* last of all */
		}
	}
	assert_int_equal(pclose(f), 0);
	assert_int_equal(batches, 3);
	assert_int_equal(control, 2);
	assert_int_equal(payloads, 17);
	assert_int_equal(order, 2);
	meta_image_fini(&img);
	tu_rmrf(dir);
}

/* ---- FetchSnapshot and Envelope on the wire ---- */
/*
 * Fixtures written by hand from messages/FetchSnapshot{Request,Response}
 * .json and Envelope{Request,Response}.json, one per version: the encoder
 * must produce them byte for byte, the decoder must give back the struct,
 * and every cut of them must be KB_ERR_PROTO.
 */

static struct raft_fetch_snapshot_request fs_request(const char *cluster_id)
{
	struct raft_fetch_snapshot_request q;
	memset(&q, 0, sizeof q);
	strcpy(q.cluster_id, cluster_id);
	q.replica_id = 2;
	q.max_bytes = 1 << 20;
	q.current_leader_epoch = 5;
	q.snapshot_id = (struct raft_offset_epoch){42, 3};
	q.position = 1000;
	return q;
}

/* The request's bytes: ReplicaId, MaxBytes, Topics, then the body's tag
 * section with ClusterId (tag 0) when there is one. */
static void fx_fetch_snapshot_request(struct fx *f, const char *cluster_id)
{
	fx_put(f, 2, 4);          /* ReplicaId */
	fx_put(f, 1 << 20, 4);    /* MaxBytes */
	fx_topic(f, true);        /* __cluster_metadata, Partition 0 */
	fx_put(f, 5, 4);          /* CurrentLeaderEpoch */
	fx_put(f, 42, 8);         /* SnapshotId.EndOffset */
	fx_put(f, 3, 4);          /* SnapshotId.Epoch */
	fx_put(f, 0, 1);          /* SnapshotId tags */
	fx_put(f, 1000, 8);       /* Position */
	fx_put(f, 0, 2);          /* tags: partition, topic */
	if (!cluster_id[0]) {
		fx_put(f, 0, 1);  /* body tags: none */
		return;
	}
	fx_put(f, 1, 1);          /* one tagged field */
	fx_put(f, 0, 1);          /* tag 0: ClusterId */
	fx_put(f, strlen(cluster_id) + 1, 1); /* its size */
	fx_str(f, cluster_id, true);
}

static void test_raft_wire_fetch_snapshot_request_fixtures(void **state)
{
	(void)state;
	for (int16_t v = 0; v <= 1; v++) {
		for (int with_id = 0; with_id <= 1; with_id++) {
			const char *cid = with_id ? "abc" : "";
			struct raft_fetch_snapshot_request q = fs_request(cid), d;
			struct fx f = {.n = 0};
			fx_fetch_snapshot_request(&f, cid);
			struct kb_buf b;
			kb_buf_init(&b);
			assert_int_equal(raft_fetch_snapshot_request_encode(&q, v, &b), KB_OK);
			assert_int_equal(b.len, f.n);
			assert_memory_equal(b.data, f.b, f.n);
			kb_buf_fini(&b);
			assert_int_equal(raft_fetch_snapshot_request_decode(v, f.b, f.n, &d), KB_OK);
			assert_memory_equal(&d, &q, sizeof q);
			for (size_t cut = 0; cut < f.n; cut++)
				assert_int_equal(raft_fetch_snapshot_request_decode(v, f.b, cut, &d),
						 KB_ERR_PROTO);
		}
	}
	/* Another topic or partition: well formed, not ours. */
	struct fx f = {.n = 0};
	fx_fetch_snapshot_request(&f, "");
	f.b[8 + 1 + 1 + 18 + 1 + 3] = 1; /* Partition 1 */
	struct raft_fetch_snapshot_request d;
	assert_int_equal(raft_fetch_snapshot_request_decode(0, f.b, f.n, &d), KB_ERR_NOTFOUND);
	f.b[8 + 1 + 1 + 1] = 'X'; /* "_X_cluster_metadata" */
	assert_int_equal(raft_fetch_snapshot_request_decode(0, f.b, f.n, &d), KB_ERR_NOTFOUND);
	assert_int_equal(raft_fetch_snapshot_request_decode(2, f.b, f.n, &d), KB_ERR_INVAL);
}

static const uint8_t fs_records[] = {'r', 'e', 'c', 'o', 'r', 'd'};

static struct raft_fetch_snapshot_response fs_response(void)
{
	struct raft_fetch_snapshot_response s;
	memset(&s, 0, sizeof s);
	s.throttle_time_ms = 7;
	s.snapshot_id = (struct raft_offset_epoch){42, 3};
	s.leader_id = 1;
	s.leader_epoch = 5;
	s.size = 484;
	s.position = 100;
	s.unaligned_records = (struct wire_bytes){fs_records, 6};
	return s;
}

static void fs_assert_response(const struct raft_fetch_snapshot_response *a,
			       const struct raft_fetch_snapshot_response *b)
{
	assert_int_equal(a->throttle_time_ms, b->throttle_time_ms);
	assert_int_equal(a->error_code, b->error_code);
	assert_int_equal(a->partition_error_code, b->partition_error_code);
	assert_int_equal(a->snapshot_id.offset, b->snapshot_id.offset);
	assert_int_equal(a->snapshot_id.epoch, b->snapshot_id.epoch);
	assert_int_equal(a->leader_id, b->leader_id);
	assert_int_equal(a->leader_epoch, b->leader_epoch);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->position, b->position);
	assert_int_equal(a->unaligned_records.len, b->unaligned_records.len);
	if (a->unaligned_records.len > 0)
		assert_memory_equal(a->unaligned_records.p, b->unaligned_records.p,
				    (size_t)a->unaligned_records.len);
}

static void fs_check_response(const struct raft_fetch_snapshot_response *s, int16_t v,
			      const struct fx *f)
{
	struct kb_buf b;
	kb_buf_init(&b);
	assert_int_equal(raft_fetch_snapshot_response_encode(s, v, &b), KB_OK);
	assert_int_equal(b.len, f->n);
	assert_memory_equal(b.data, f->b, f->n);
	kb_buf_fini(&b);
	struct raft_fetch_snapshot_response d;
	assert_int_equal(raft_fetch_snapshot_response_decode(v, f->b, f->n, &d), KB_OK);
	fs_assert_response(&d, s);
	for (size_t cut = 0; cut < f->n; cut++)
		assert_int_equal(raft_fetch_snapshot_response_decode(v, f->b, cut, &d),
				 KB_ERR_PROTO);
}

/* The response: the partition with its bytes and CurrentLeader (tag 0 of
 * the partition); with LeaderIdAndEpoch(0, 0), the default, no tag; a
 * top-level error alone, with no topics. */
static void test_raft_wire_fetch_snapshot_response_fixtures(void **state)
{
	(void)state;
	for (int16_t v = 0; v <= 1; v++) {
		struct raft_fetch_snapshot_response s = fs_response();
		for (int leader = 1; leader >= 0; leader--) {
			s.leader_id = s.leader_epoch = leader ? 1 : 0;
			struct fx f = {.n = 0};
			fx_put(&f, 7, 4);          /* ThrottleTimeMs */
			fx_put(&f, 0, 2);          /* ErrorCode */
			fx_topic(&f, true);        /* Index 0 */
			fx_put(&f, 0, 2);          /* ErrorCode */
			fx_put(&f, 42, 8);         /* SnapshotId.EndOffset */
			fx_put(&f, 3, 4);          /* SnapshotId.Epoch */
			fx_put(&f, 0, 1);          /* SnapshotId tags */
			fx_put(&f, 484, 8);        /* Size */
			fx_put(&f, 100, 8);        /* Position */
			fx_put(&f, 7, 1);          /* UnalignedRecords: 6 bytes */
			memcpy(f.b + f.n, fs_records, 6);
			f.n += 6;
			if (leader) {
				fx_put(&f, 1, 1);  /* one tag: 0 CurrentLeader, 9 bytes */
				fx_put(&f, 0, 1);
				fx_put(&f, 9, 1);
				fx_put(&f, 1, 4);  /* LeaderId */
				fx_put(&f, 1, 4);  /* LeaderEpoch */
				fx_put(&f, 0, 1);  /* its tags */
			} else {
				fx_put(&f, 0, 1);
			}
			fx_put(&f, 0, 2);          /* tags: topic, body */
			fs_check_response(&s, v, &f);
		}
		struct raft_fetch_snapshot_response e;
		memset(&e, 0, sizeof e);
		e.error_code = KAFKA_ERR_INCONSISTENT_CLUSTER_ID;
		struct fx f = {.n = 0};
		fx_put(&f, 0, 4);
		fx_put(&f, KAFKA_ERR_INCONSISTENT_CLUSTER_ID, 2);
		fx_count(&f, 0, true);
		fx_put(&f, 0, 1);
		fs_check_response(&e, v, &f);
	}
	/* No error, no partition: a broken response. */
	const uint8_t empty[] = {0, 0, 0, 0, 0, 0, 1, 0};
	struct raft_fetch_snapshot_response d;
	assert_int_equal(raft_fetch_snapshot_response_decode(0, empty, sizeof empty, &d),
			 KB_ERR_PROTO);
}

static void test_raft_wire_envelope_fixtures(void **state)
{
	(void)state;
	const uint8_t ip[] = {127, 0, 0, 1};
	for (int with_principal = 0; with_principal <= 1; with_principal++) {
		struct raft_envelope_request q = {
			{(const uint8_t *)"RQ", 2},
			{(const uint8_t *)"P", with_principal ? 1 : -1},
			{ip, 4},
		}, d;
		struct fx f = {.n = 0};
		fx_str(&f, "RQ", true);            /* RequestData */
		if (with_principal)
			fx_str(&f, "P", true);     /* RequestPrincipal */
		else
			fx_put(&f, 0, 1);          /* null */
		fx_put(&f, 5, 1);                  /* ClientHostAddress */
		memcpy(f.b + f.n, ip, 4);
		f.n += 4;
		fx_put(&f, 0, 1);
		struct kb_buf b;
		kb_buf_init(&b);
		assert_int_equal(raft_envelope_request_encode(&q, 0, &b), KB_OK);
		assert_int_equal(b.len, f.n);
		assert_memory_equal(b.data, f.b, f.n);
		kb_buf_fini(&b);
		assert_int_equal(raft_envelope_request_decode(0, f.b, f.n, &d), KB_OK);
		assert_int_equal(d.request_data.len, 2);
		assert_memory_equal(d.request_data.p, "RQ", 2);
		assert_int_equal(d.request_principal.len, with_principal ? 1 : -1);
		assert_int_equal(d.client_host_address.len, 4);
		assert_memory_equal(d.client_host_address.p, ip, 4);
		for (size_t cut = 0; cut < f.n; cut++)
			assert_int_equal(raft_envelope_request_decode(0, f.b, cut, &d), KB_ERR_PROTO);
		f.b[0] = 0; /* RequestData null: not nullable */
		assert_int_equal(raft_envelope_request_decode(0, f.b, f.n, &d), KB_ERR_PROTO);
	}
	for (int ok = 0; ok <= 1; ok++) {
		struct raft_envelope_response s = {
			{(const uint8_t *)"RS", ok ? 2 : -1},
			(int16_t)(ok ? 0 : KAFKA_ERR_CLUSTER_AUTHORIZATION_FAILED),
		}, d;
		struct fx f = {.n = 0};
		if (ok)
			fx_str(&f, "RS", true);
		else
			fx_put(&f, 0, 1);
		fx_put(&f, (uint64_t)s.error_code, 2);
		fx_put(&f, 0, 1);
		struct kb_buf b;
		kb_buf_init(&b);
		assert_int_equal(raft_envelope_response_encode(&s, 0, &b), KB_OK);
		assert_int_equal(b.len, f.n);
		assert_memory_equal(b.data, f.b, f.n);
		kb_buf_fini(&b);
		assert_int_equal(raft_envelope_response_decode(0, f.b, f.n, &d), KB_OK);
		assert_int_equal(d.response_data.len, ok ? 2 : -1);
		assert_int_equal(d.error_code, s.error_code);
		for (size_t cut = 0; cut < f.n; cut++)
			assert_int_equal(raft_envelope_response_decode(0, f.b, cut, &d), KB_ERR_PROTO);
	}
	struct kb_buf b;
	kb_buf_init(&b);
	struct raft_envelope_request bad = {{NULL, -1}, {NULL, -1}, {ip, 4}};
	assert_int_equal(raft_envelope_request_encode(&bad, 0, &b), KB_ERR_INVAL);
	assert_int_equal(raft_envelope_request_encode(&bad, 1, &b), KB_ERR_INVAL);
	kb_buf_fini(&b);
}

/* Random bytes never crash the four decoders, and what they accept is
 * bounded by the input. */
static void test_raft_wire_fetch_snapshot_envelope_garbage(void **state)
{
	(void)state;
	uint64_t x = 0x2545f4914f6cdd1dull;
	uint8_t buf[96];
	for (int round = 0; round < 20000; round++) {
		size_t len = (size_t)(round % (int)sizeof buf);
		for (size_t i = 0; i < len; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			buf[i] = (uint8_t)(round & 1 ? x : x % 4);
		}
		int16_t v = (int16_t)(round % 2);
		struct raft_fetch_snapshot_request q;
		int rc = raft_fetch_snapshot_request_decode(v, buf, len, &q);
		assert_true(rc == KB_OK || rc == KB_ERR_PROTO || rc == KB_ERR_NOTFOUND);
		assert_true(strlen(q.cluster_id) <= RAFT_CLUSTER_ID_MAX);
		struct raft_fetch_snapshot_response s;
		rc = raft_fetch_snapshot_response_decode(v, buf, len, &s);
		assert_true(rc == KB_OK || rc == KB_ERR_PROTO);
		if (rc == KB_OK && s.unaligned_records.len > 0)
			assert_true(s.unaligned_records.p >= buf &&
				    s.unaligned_records.p + s.unaligned_records.len <= buf + len);
		struct raft_envelope_request e;
		rc = raft_envelope_request_decode(0, buf, len, &e);
		assert_true(rc == KB_OK || rc == KB_ERR_PROTO);
		struct raft_envelope_response er;
		rc = raft_envelope_response_decode(0, buf, len, &er);
		assert_true(rc == KB_OK || rc == KB_ERR_PROTO);
	}
}

/* ==== The controller (chapters/07_controller.c, 07_controller_topics.c) ====
 *
 * Each test drives ctrl_handle/ctrl_tick with encoded requests, applies
 * the records it writes to a real image with meta_apply (as every node
 * does once they commit), and checks the image and the decoded response.
 */

#define CTL_CLUSTER "ctl-cluster"

/* A controller, the image its records build, and the metadata offset. */
struct ctl {
	char *dir;
	struct topic_manager *tm;
	struct ctrl *c;
	struct ctrl_config cfg;
	struct meta_image img;
	int64_t offset; /* the next record's offset */
	int64_t now;
	struct ctrl_output out; /* of the last call */
	int16_t types[64];      /* record types of the last call */
};

static void ctl_open(struct ctl *t, int16_t max_rf)
{
	struct topic_broker_config bc;
	memset(t, 0, sizeof *t);
	t->dir = tu_tmpdir();
	topic_broker_config_defaults(&bc);
	snprintf(bc.log_dir, sizeof bc.log_dir, "%s/logs", t->dir);
	assert_int_equal(topic_manager_open(&bc, NULL, &t->tm), KB_OK);
	t->cfg = (struct ctrl_config){
		.node_id = 1, .cluster_id = CTL_CLUSTER,
		.session_timeout_ms = CTRL_SESSION_TIMEOUT_MS, .num_partitions = 1,
		.default_replication_factor = 1, .max_replication_factor = max_rf,
		.delete_topic_enable = true, .seed = 42, .tm = t->tm};
	assert_int_equal(ctrl_new(&t->cfg, &t->c), KB_OK);
	meta_image_init(&t->img);
	t->now = 1000;
	t->offset = 10;
	ctrl_output_init(&t->out);
	ctrl_activate(t->c, &t->img, t->now);
}

static void ctl_close(struct ctl *t)
{
	ctrl_output_fini(&t->out);
	ctrl_free(t->c);
	meta_image_fini(&t->img);
	topic_manager_close(t->tm);
	tu_rmrf(t->dir);
}

/* Apply the last call's records in order, as a committed batch. */
static void ctl_apply(struct ctl *t)
{
	size_t start = 0;
	assert_true(t->out.n <= (int)KB_ARRAY_LEN(t->types));
	for (int i = 0; i < t->out.n; i++) {
		struct meta_record rec;
		assert_int_equal(meta_record_decode(t->out.records.data + start,
						    t->out.ends[i] - start, &rec), KB_OK);
		t->types[i] = rec.type;
		assert_int_equal(meta_apply(&t->img, &rec), KB_OK);
		meta_record_fini(&rec);
		start = t->out.ends[i];
	}
	meta_check(&t->img);
	ctrl_check(t->c);
	t->offset += t->out.n;
}

/* One request body in, records applied; the response body is t->out.response. */
static int ctl_call(struct ctl *t, int16_t key, int16_t v, const struct kb_buf *body)
{
	ctrl_output_fini(&t->out);
	ctrl_output_init(&t->out);
	struct ctrl_input in = {key, v, {0}, &t->img, t->offset, t->now, false};
	wire_reader_init(&in.body, body->data, body->len, wire_is_flexible(key, v));
	int rc = ctrl_handle(t->c, &in, &t->out);
	if (rc == KB_OK)
		ctl_apply(t);
	return rc;
}

static void ctl_tick(struct ctl *t)
{
	ctrl_output_fini(&t->out);
	ctrl_output_init(&t->out);
	struct ctrl_input in = {0, 0, {0}, &t->img, t->offset, t->now, false};
	assert_int_equal(ctrl_tick(t->c, &in, &t->out), KB_OK);
	ctl_apply(t);
}

static struct meta_endpoint ctl_ep[] = {{{"PLAINTEXT", 9}, {"127.0.0.1", 9}, 9092, 0}};

/* BrokerRegistration v4 of id in rack (NULL: none), incarnation inc. */
static struct ctrl_registration_resp ctl_register(struct ctl *t, int32_t id,
						  const char *rack, uint8_t inc)
{
	struct ctrl_registration_req q = {
		.broker_id = id, .cluster_id = wire_str_c(CTL_CLUSTER),
		.incarnation_id = meta_uuid(inc), .listeners = {1, ctl_ep},
		.features = {0, NULL}, .rack = wire_str_c(rack),
		.log_dirs = {0, NULL}, .previous_broker_epoch = -1};
	struct kb_buf b;
	kb_buf_init(&b);
	assert_int_equal(ctrl_registration_req_encode(&q, 4, &b), KB_OK);
	assert_int_equal(ctl_call(t, WIRE_API_BROKER_REGISTRATION, 4, &b), KB_OK);
	kb_buf_fini(&b);
	struct ctrl_registration_resp p;
	struct wire_reader r;
	wire_reader_init(&r, t->out.response.data, t->out.response.len, true);
	assert_int_equal(ctrl_registration_resp_decode(&r, 4, &p), KB_OK);
	assert_int_equal(wire_remaining(&r), 0);
	return p;
}

static struct ctrl_heartbeat_resp ctl_heartbeat(struct ctl *t,
						const struct ctrl_heartbeat_req *q)
{
	struct kb_buf b;
	kb_buf_init(&b);
	assert_int_equal(ctrl_heartbeat_req_encode(q, 1, &b), KB_OK);
	assert_int_equal(ctl_call(t, WIRE_API_BROKER_HEARTBEAT, 1, &b), KB_OK);
	kb_buf_fini(&b);
	struct ctrl_heartbeat_resp p;
	struct wire_reader r;
	wire_reader_init(&r, t->out.response.data, t->out.response.len, true);
	assert_int_equal(ctrl_heartbeat_resp_decode(&r, 1, &p), KB_OK);
	return p;
}

/* Register id and heartbeat it unfenced: returns its epoch. */
static int64_t ctl_live_broker(struct ctl *t, int32_t id, const char *rack)
{
	struct ctrl_registration_resp p = ctl_register(t, id, rack, (uint8_t)id);
	assert_int_equal(p.error_code, KAFKA_ERR_NONE);
	struct ctrl_heartbeat_req hb = {id, p.broker_epoch, t->offset, false, false};
	assert_false(ctl_heartbeat(t, &hb).is_fenced);
	assert_false(meta_broker_find(&t->img, id)->fenced);
	return p.broker_epoch;
}

/* The replica lists of a CreatableTopic (NULL: none). */
struct ctl_assign {
	int32_t n;
	const int32_t *ids[4];
	int32_t len[4];
};

/* A CreateTopics v7 body of one topic. */
static void ctl_create_body(struct kb_buf *b, const char *name, int32_t np,
			    int16_t rf, const struct ctl_assign *a,
			    const char *cfg_kv[2], bool validate_only)
{
	struct wire_writer w;
	wire_writer_init(&w, b, true);
	wire_write_array_len(&w, 1);
	wire_write_string(&w, wire_str_c(name));
	wire_write_i32(&w, np);
	wire_write_i16(&w, rf);
	wire_write_array_len(&w, a ? a->n : 0);
	for (int32_t i = 0; a && i < a->n; i++) {
		wire_write_i32(&w, i);
		wire_write_array_len(&w, a->len[i]);
		for (int32_t k = 0; k < a->len[i]; k++)
			wire_write_i32(&w, a->ids[i][k]);
		wire_write_tags(&w);
	}
	wire_write_array_len(&w, cfg_kv ? 1 : 0);
	if (cfg_kv) {
		wire_write_string(&w, wire_str_c(cfg_kv[0]));
		wire_write_string(&w, wire_str_c(cfg_kv[1]));
		wire_write_tags(&w);
	}
	wire_write_tags(&w);
	wire_write_i32(&w, 30000);
	wire_write_bool(&w, validate_only);
	wire_write_tags(&w);
	assert_int_equal(wire_writer_status(&w), KB_OK);
}

/* The first topic's error code and message of a v7 response. */
static int16_t ctl_create_result(struct ctl *t, char *msg, size_t cap)
{
	struct wire_reader r;
	wire_reader_init(&r, t->out.response.data, t->out.response.len, true);
	wire_read_i32(&r);
	assert_int_equal(wire_read_array_len(&r, 1), 1);
	wire_read_string(&r);
	wire_read_uuid(&r);
	int16_t err = wire_read_i16(&r);
	struct wire_str m = wire_read_nullable_string(&r);
	assert_int_equal(wire_reader_status(&r), KB_OK);
	snprintf(msg, cap, "%.*s", (int)KB_MAX(m.len, 0), m.p ? m.p : "");
	return err;
}

static int16_t ctl_create(struct ctl *t, const char *name, int32_t np,
			  int16_t rf, char *msg)
{
	struct kb_buf b;
	kb_buf_init(&b);
	ctl_create_body(&b, name, np, rf, NULL, NULL, false);
	assert_int_equal(ctl_call(t, WIRE_API_CREATE_TOPICS, 7, &b), KB_OK);
	kb_buf_fini(&b);
	return ctl_create_result(t, msg, 256);
}

static void test_ctrl_registration_epoch_is_record_offset(void **state)
{
	(void)state;
	struct ctl t;
	ctl_open(&t, 1);
	int64_t at = t.offset;
	struct ctrl_registration_resp p = ctl_register(&t, 1, "az1", 1);
	assert_int_equal(p.error_code, KAFKA_ERR_NONE);
	assert_int_equal(p.broker_epoch, at);
	assert_int_equal(t.out.n, 1);
	assert_int_equal(t.types[0], META_REGISTER_BROKER);
	const struct meta_broker *b = meta_broker_find(&t.img, 1);
	assert_non_null(b);
	assert_true(b->fenced);
	assert_int_equal(b->epoch, at);
	assert_true(wire_str_eq(b->reg.rec.rack, "az1"));
	assert_int_equal(b->reg.rec.endpoints.n, 1);
	/* The same incarnation again: its epoch back. */
	p = ctl_register(&t, 1, "az1", 1);
	assert_int_equal(p.error_code, KAFKA_ERR_NONE);
	assert_int_equal(p.broker_epoch, at);
	/* Unfenced and alive: another incarnation of id 1 is a duplicate. */
	struct ctrl_heartbeat_req hb = {1, at, t.offset, false, false};
	assert_false(ctl_heartbeat(&t, &hb).is_fenced);
	p = ctl_register(&t, 1, "az1", 9);
	assert_int_equal(p.error_code, KAFKA_ERR_DUPLICATE_BROKER_REGISTRATION);
	assert_int_equal(p.broker_epoch, -1);
	assert_int_equal(t.out.n, 0);
	/* Its session over, the new incarnation replaces it: a new epoch. */
	t.now += CTRL_SESSION_TIMEOUT_MS + 1;
	at = t.offset;
	p = ctl_register(&t, 1, "az2", 9);
	assert_int_equal(p.error_code, KAFKA_ERR_NONE);
	assert_int_equal(p.broker_epoch, at);
	assert_true(meta_broker_find(&t.img, 1)->fenced);
	ctl_close(&t);
}

static void test_ctrl_registration_refusals(void **state)
{
	(void)state;
	struct ctl t;
	ctl_open(&t, 1);
	struct ctrl_registration_req q = {
		.broker_id = 2, .cluster_id = wire_str_c("someone-else"),
		.listeners = {1, ctl_ep}, .rack = {NULL, -1}};
	struct kb_buf b;
	kb_buf_init(&b);
	assert_int_equal(ctrl_registration_req_encode(&q, 0, &b), KB_OK);
	assert_int_equal(ctl_call(&t, WIRE_API_BROKER_REGISTRATION, 0, &b), KB_OK);
	struct wire_reader r;
	struct ctrl_registration_resp p;
	wire_reader_init(&r, t.out.response.data, t.out.response.len, true);
	assert_int_equal(ctrl_registration_resp_decode(&r, 0, &p), KB_OK);
	assert_int_equal(p.error_code, KAFKA_ERR_INCONSISTENT_CLUSTER_ID);
	assert_int_equal(t.out.n, 0);
	/* A finalized metadata.version the broker cannot read. */
	struct meta_broker_feature f = {{"metadata.version", 16}, 20, 21};
	q.cluster_id = wire_str_c(CTL_CLUSTER);
	q.features = (struct meta_array){1, &f};
	b.len = 0;
	assert_int_equal(ctrl_registration_req_encode(&q, 4, &b), KB_OK);
	assert_int_equal(ctl_call(&t, WIRE_API_BROKER_REGISTRATION, 4, &b), KB_OK);
	wire_reader_init(&r, t.out.response.data, t.out.response.len, true);
	assert_int_equal(ctrl_registration_resp_decode(&r, 4, &p), KB_OK);
	assert_int_equal(p.error_code, KAFKA_ERR_UNSUPPORTED_VERSION);
	assert_int_equal(t.img.n_brokers, 0);
	kb_buf_fini(&b);
	ctl_close(&t);
}

static void test_ctrl_heartbeat_unfences_caught_up_broker(void **state)
{
	(void)state;
	struct ctl t;
	ctl_open(&t, 1);
	int64_t epoch = ctl_register(&t, 1, NULL, 1).broker_epoch;
	/* Behind its own registration: stays fenced, no record. */
	struct ctrl_heartbeat_req hb = {1, epoch, epoch - 1, false, false};
	struct ctrl_heartbeat_resp p = ctl_heartbeat(&t, &hb);
	assert_int_equal(p.error_code, KAFKA_ERR_NONE);
	assert_false(p.is_caught_up);
	assert_true(p.is_fenced);
	assert_int_equal(t.out.n, 0);
	/* Caught up: an UnfenceBrokerRecord. */
	hb.current_metadata_offset = epoch;
	p = ctl_heartbeat(&t, &hb);
	assert_true(p.is_caught_up);
	assert_false(p.is_fenced);
	assert_false(p.should_shut_down);
	assert_int_equal(t.out.n, 1);
	assert_int_equal(t.types[0], META_UNFENCE_BROKER);
	assert_false(meta_broker_find(&t.img, 1)->fenced);
	/* Stale and unknown epochs and ids. */
	hb.broker_epoch = epoch - 1;
	assert_int_equal(ctl_heartbeat(&t, &hb).error_code, KAFKA_ERR_STALE_BROKER_EPOCH);
	hb.broker_id = 7;
	assert_int_equal(ctl_heartbeat(&t, &hb).error_code,
			 KAFKA_ERR_BROKER_ID_NOT_REGISTERED);
	assert_int_equal(t.out.n, 0);
	ctl_close(&t);
}

static const int32_t ctl_ids12[] = {1, 2};

static void test_ctrl_tick_fences_expired_broker_and_moves_leaders(void **state)
{
	(void)state;
	struct ctl t;
	ctl_open(&t, 3);
	int64_t e1 = ctl_live_broker(&t, 1, NULL), e2 = ctl_live_broker(&t, 2, NULL);
	struct kb_buf b;
	kb_buf_init(&b);
	struct ctl_assign a = {1, {ctl_ids12}, {2}};
	char msg[256];
	ctl_create_body(&b, "pair", -1, -1, &a, NULL, false);
	assert_int_equal(ctl_call(&t, WIRE_API_CREATE_TOPICS, 7, &b), KB_OK);
	assert_int_equal(ctl_create_result(&t, msg, sizeof msg), KAFKA_ERR_NONE);
	const struct meta_partition *p = &meta_topic_find(&t.img, "pair")->partitions[0];
	assert_int_equal(p->leader, 1);
	assert_int_equal(p->isr.n, 2);
	/* Nothing expired yet: no record. */
	t.now += CTRL_SESSION_TIMEOUT_MS;
	struct ctrl_heartbeat_req hb2 = {2, e2, t.offset, false, false};
	ctl_heartbeat(&t, &hb2);
	ctl_tick(&t);
	assert_int_equal(t.out.n, 0);
	/* Broker 1 silent past the timeout: out of the ISR, 2 leads. */
	t.now += 1;
	ctl_tick(&t);
	assert_int_equal(t.out.n, 2);
	assert_int_equal(t.types[0], META_PARTITION_CHANGE);
	assert_int_equal(t.types[1], META_FENCE_BROKER);
	assert_true(meta_broker_find(&t.img, 1)->fenced);
	p = &meta_topic_find(&t.img, "pair")->partitions[0];
	assert_int_equal(p->leader, 2);
	assert_int_equal(p->leader_epoch, 1);
	assert_int_equal(p->isr.n, 1);
	assert_int_equal(p->isr.v[0], 2);
	/* Broker 2 silent too: the last ISR member stays, no leader. */
	t.now += CTRL_SESSION_TIMEOUT_MS + 1;
	ctl_tick(&t);
	assert_true(meta_broker_find(&t.img, 2)->fenced);
	p = &meta_topic_find(&t.img, "pair")->partitions[0];
	assert_int_equal(p->leader, META_NO_LEADER);
	assert_int_equal(p->isr.n, 1);
	assert_int_equal(p->leader_epoch, 2);
	/* Broker 2 back and caught up: unfenced, leads again, epoch + 1. */
	hb2.current_metadata_offset = t.offset;
	assert_false(ctl_heartbeat(&t, &hb2).is_fenced);
	assert_int_equal(t.types[0], META_UNFENCE_BROKER);
	p = &meta_topic_find(&t.img, "pair")->partitions[0];
	assert_int_equal(p->leader, 2);
	assert_int_equal(p->leader_epoch, 3);
	(void)e1;
	kb_buf_fini(&b);
	ctl_close(&t);
}

/* A leaderless partition with two live ISR members: one tick, one
 * PartitionChangeRecord, the first of them leads (leader epoch + 1). */
static void test_ctrl_tick_elects_leaderless_partition_once(void **state)
{
	(void)state;
	struct ctl t;
	char msg[256];
	ctl_open(&t, 3);
	ctl_live_broker(&t, 1, NULL);
	ctl_live_broker(&t, 2, NULL);
	struct kb_buf b;
	kb_buf_init(&b);
	struct ctl_assign a = {1, {ctl_ids12}, {2}};
	ctl_create_body(&b, "pair", -1, -1, &a, NULL, false);
	assert_int_equal(ctl_call(&t, WIRE_API_CREATE_TOPICS, 7, &b), KB_OK);
	assert_int_equal(ctl_create_result(&t, msg, sizeof msg), KAFKA_ERR_NONE);
	/* As a controller change might leave it: no leader, ISR [1,2]. */
	struct meta_record rec;
	meta_record_init(&rec, META_PARTITION_CHANGE, 0);
	rec.topic_id = meta_topic_find(&t.img, "pair")->id;
	rec.partition_id = 0;
	rec.leader = META_NO_LEADER;
	assert_int_equal(meta_apply_rt(&t.img, &rec), KB_OK);
	ctl_tick(&t);
	assert_int_equal(t.out.n, 1);
	const struct meta_partition *p = &meta_topic_find(&t.img, "pair")->partitions[0];
	assert_int_equal(p->leader, 1);
	assert_int_equal(p->leader_epoch, 2);
	ctl_tick(&t);
	assert_int_equal(t.out.n, 0);
	kb_buf_fini(&b);
	ctl_close(&t);
}

static void test_ctrl_controlled_shutdown_moves_leadership_first(void **state)
{
	(void)state;
	struct ctl t;
	ctl_open(&t, 3);
	int64_t e1 = ctl_live_broker(&t, 1, NULL);
	ctl_live_broker(&t, 2, NULL);
	struct kb_buf b;
	kb_buf_init(&b);
	struct ctl_assign a = {1, {ctl_ids12}, {2}};
	char msg[256];
	ctl_create_body(&b, "pair", -1, -1, &a, NULL, false);
	assert_int_equal(ctl_call(&t, WIRE_API_CREATE_TOPICS, 7, &b), KB_OK);
	assert_int_equal(ctl_create_result(&t, msg, sizeof msg), KAFKA_ERR_NONE);
	struct ctrl_heartbeat_req hb = {1, e1, t.offset, false, true};
	struct ctrl_heartbeat_resp r = ctl_heartbeat(&t, &hb);
	assert_false(r.should_shut_down);
	assert_false(r.is_fenced);
	assert_int_equal(t.types[0], META_BROKER_REGISTRATION_CHANGE);
	assert_int_equal(t.types[1], META_PARTITION_CHANGE);
	assert_true(meta_broker_find(&t.img, 1)->in_controlled_shutdown);
	assert_int_equal(meta_topic_find(&t.img, "pair")->partitions[0].leader, 2);
	/* It leads nothing now: shut down. */
	r = ctl_heartbeat(&t, &hb);
	assert_true(r.should_shut_down);
	assert_true(r.is_fenced);
	assert_true(meta_broker_find(&t.img, 1)->fenced);
	kb_buf_fini(&b);
	ctl_close(&t);
}

static void test_ctrl_create_topics_answers_as_chapter_06(void **state)
{
	(void)state;
	struct ctl t;
	char msg[256];
	ctl_open(&t, 0); /* no cap but the brokers' number */
	/* No broker at all: Kafka's placer refuses. */
	assert_int_equal(ctl_create(&t, "t", 3, -1, msg),
			 KAFKA_ERR_INVALID_REPLICATION_FACTOR);
	assert_string_equal(msg, "Unable to replicate the partition 1 time(s): "
			    "All brokers are currently fenced.");
	assert_int_equal(t.out.n, 0);
	ctl_live_broker(&t, 1, "az1");
	assert_int_equal(ctl_create(&t, "t.x", 3, -1, msg), KAFKA_ERR_NONE);
	assert_int_equal(t.out.n, 4);
	assert_int_equal(t.types[0], META_TOPIC);
	for (int i = 1; i < 4; i++)
		assert_int_equal(t.types[i], META_PARTITION);
	const struct meta_topic *tp = meta_topic_find(&t.img, "t.x");
	assert_non_null(tp);
	assert_int_equal(tp->partition_count, 3);
	assert_int_equal(tp->partitions[2].leader, 1);
	struct { const char *name; int32_t np; int16_t rf; int16_t err; const char *msg; } cases[] = {
		{"t.x", 1, -1, KAFKA_ERR_TOPIC_ALREADY_EXISTS, "Topic 't.x' already exists."},
		{"t_x", 1, -1, KAFKA_ERR_INVALID_TOPIC_EXCEPTION,
		 "Topic 't_x' collides with existing topic: t.x"},
		{"__consumer_offsets", 1, -1, KAFKA_ERR_INVALID_REQUEST,
		 "Creation of internal topic __consumer_offsets is prohibited."},
		{"bad/name", 1, -1, KAFKA_ERR_INVALID_TOPIC_EXCEPTION, "Topic name is invalid"},
		{"zero", 0, -1, KAFKA_ERR_INVALID_PARTITIONS,
		 "Number of partitions must be between 1 and 1000"},
		{"rf0", 1, 0, KAFKA_ERR_INVALID_REPLICATION_FACTOR,
		 "Replication factor must be larger than 0, or -1 to use the default value."},
		{"rf2", 1, 2, KAFKA_ERR_INVALID_REPLICATION_FACTOR,
		 "Unable to replicate the partition 2 time(s): The target "
		 "replication factor of 2 cannot be reached because only 1 "
		 "broker(s) are registered."},
	};
	for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
		assert_int_equal(ctl_create(&t, cases[i].name, cases[i].np,
					    cases[i].rf, msg), cases[i].err);
		assert_string_equal(msg, cases[i].msg);
		assert_int_equal(t.out.n, 0);
	}
	/* A bad config, then a good one written as a ConfigRecord. */
	struct kb_buf b;
	kb_buf_init(&b);
	const char *bad[2] = {"retention.ms", "soon"}, *good[2] = {"retention.ms", "1000"};
	ctl_create_body(&b, "c", 1, -1, NULL, bad, false);
	assert_int_equal(ctl_call(&t, WIRE_API_CREATE_TOPICS, 7, &b), KB_OK);
	assert_int_equal(ctl_create_result(&t, msg, sizeof msg), KAFKA_ERR_INVALID_CONFIG);
	b.len = 0;
	ctl_create_body(&b, "c", 1, -1, NULL, good, true); /* validate_only */
	assert_int_equal(ctl_call(&t, WIRE_API_CREATE_TOPICS, 7, &b), KB_OK);
	assert_int_equal(ctl_create_result(&t, msg, sizeof msg), KAFKA_ERR_NONE);
	assert_int_equal(t.out.n, 0);
	assert_null(meta_topic_find(&t.img, "c"));
	b.len = 0;
	ctl_create_body(&b, "c", 1, -1, NULL, good, false);
	assert_int_equal(ctl_call(&t, WIRE_API_CREATE_TOPICS, 7, &b), KB_OK);
	assert_int_equal(t.types[1], META_CONFIG);
	assert_string_equal(meta_config_get(&t.img, META_RESOURCE_TOPIC, "c",
					    "retention.ms"), "1000");
	/* A manual assignment naming an unknown broker. */
	static const int32_t nine[] = {9};
	struct ctl_assign a = {1, {nine}, {1}};
	b.len = 0;
	ctl_create_body(&b, "m", -1, -1, &a, NULL, false);
	assert_int_equal(ctl_call(&t, WIRE_API_CREATE_TOPICS, 7, &b), KB_OK);
	assert_int_equal(ctl_create_result(&t, msg, sizeof msg),
			 KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT);
	assert_string_equal(msg, "The manual partition assignment includes broker "
			    "9, but no such broker is registered.");
	kb_buf_fini(&b);
	ctl_close(&t);
}

/* An image of 3 racks with k unfenced brokers each: ids r*10 + i. */
static void ctl_racks(struct meta_image *img, int k)
{
	static const char *racks[] = {"az1", "az2", "az3"};
	meta_image_init(img);
	for (int r = 0; r < 3; r++)
		for (int i = 0; i < k; i++) {
			struct meta_record rec;
			meta_fill(&rec, META_REGISTER_BROKER, 3);
			rec.broker_id = (r + 1) * 10 + i;
			rec.broker_epoch = 1;
			rec.fenced = false;
			rec.in_controlled_shutdown = false;
			rec.rack = wire_str_c(racks[r]);
			assert_int_equal(meta_apply_rt(img, &rec), KB_OK);
		}
}

static void test_ctrl_place_one_replica_per_rack_leaders_even(void **state)
{
	(void)state;
	struct ctl t;
	ctl_open(&t, 3);
	for (int k = 1; k <= 3; k++)
		for (int16_t rf = 1; rf <= 3; rf += 2) {
			struct meta_image img;
			ctl_racks(&img, k);
			struct ctrl_placement p = {3 * k, rf, NULL, ""};
			assert_int_equal(ctrl_place(t.c, &img, &p), KB_OK);
			int lead[40] = {0}, reps[40] = {0}, rack_lead[4] = {0};
			for (int32_t i = 0; i < p.num_partitions; i++) {
				const int32_t *v = &p.replicas[i * rf];
				bool rack_seen[4] = {false};
				lead[v[0]]++;
				rack_lead[v[0] / 10]++;
				for (int r = 0; r < rf; r++) {
					reps[v[r]]++;
					assert_false(rack_seen[v[r] / 10]); /* one per rack */
					rack_seen[v[r] / 10] = true;
				}
			}
			for (int r = 1; r <= 3; r++)
				assert_int_equal(rack_lead[r], k); /* leaders even per rack */
			for (int r = 1; r <= 3; r++)
				for (int i = 0; i < k; i++) {
					assert_int_equal(reps[r * 10 + i], rf);
					/* KAFKA's striping: with rf = 3 and k = 3 a rack's
					 * leaders fall on one broker until it shuffles. */
					if (rf == 1 || k < 3)
						assert_int_equal(lead[r * 10 + i], 1);
				}
			free(p.replicas);
			/* More replicas than brokers: Kafka's message. */
			p.replication_factor = (int16_t)(3 * k + 1);
			assert_int_equal(ctrl_place(t.c, &img, &p), KB_ERR_INVAL);
			assert_non_null(strstr(p.message, "cannot be reached because only"));
			meta_image_fini(&img);
		}
	ctl_close(&t);
}

/* The broker RPCs byte for byte, from the JSON specs (all flexible from
 * v0), and every version of each round-trips. */
static void test_ctrl_wire_broker_rpcs_bytes(void **state)
{
	(void)state;
	struct kb_buf b;
	kb_buf_init(&b);
	struct ctrl_heartbeat_req hb = {3, 0x0102, 0x0a, false, true};
	assert_int_equal(ctrl_heartbeat_req_encode(&hb, 0, &b), KB_OK);
	const uint8_t hb_want[] = {0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 1, 2,
				   0, 0, 0, 0, 0, 0, 0, 0x0a, 0, 1, 0};
	assert_int_equal(b.len, sizeof hb_want);
	assert_memory_equal(b.data, hb_want, sizeof hb_want);
	b.len = 0;
	struct ctrl_registration_req q = {
		.broker_id = 2, .cluster_id = wire_str_c("c"),
		.incarnation_id = meta_uuid(0), .listeners = {1, ctl_ep},
		.rack = {NULL, -1}, .log_dirs = {0, NULL}, .previous_broker_epoch = -1};
	assert_int_equal(ctrl_registration_req_encode(&q, 0, &b), KB_OK);
	const uint8_t reg_want[] = {
		0, 0, 0, 2, 0x02, 'c', META_UUID_HEX,
		0x02, 0x0a, 'P', 'L', 'A', 'I', 'N', 'T', 'E', 'X', 'T',
		0x0a, '1', '2', '7', '.', '0', '.', '0', '.', '1', 0x23, 0x84, 0, 0, 0,
		0x01,       /* features: none */
		0x00,       /* rack: null */
		0x00};      /* tags */
	assert_int_equal(b.len, sizeof reg_want);
	assert_memory_equal(b.data, reg_want, sizeof reg_want);
	for (int16_t v = 0; v <= 4; v++) {
		b.len = 0;
		struct meta_broker_feature f = {{"metadata.version", 16}, 1, 20};
		q.features = (struct meta_array){1, &f};
		q.rack = wire_str_c("az2");
		q.is_migrating_zk_broker = v >= 1;
		q.previous_broker_epoch = v >= 3 ? 77 : -1;
		assert_int_equal(ctrl_registration_req_encode(&q, v, &b), KB_OK);
		struct wire_reader r;
		struct ctrl_registration_req back;
		wire_reader_init(&r, b.data, b.len, true);
		assert_int_equal(ctrl_registration_req_decode(&r, v, &back), KB_OK);
		assert_int_equal(wire_remaining(&r), 0);
		assert_int_equal(back.broker_id, 2);
		assert_true(wire_str_eq(back.rack, "az2"));
		assert_int_equal(back.listeners.n, 1);
		assert_int_equal(((struct meta_endpoint *)back.listeners.v)->port, 9092);
		assert_int_equal(back.features.n, 1);
		assert_int_equal(back.is_migrating_zk_broker, v >= 1);
		assert_int_equal(back.previous_broker_epoch, v >= 3 ? 77 : -1);
		ctrl_registration_req_fini(&back);
	}
	/* Responses: encode, decode, same fields. */
	b.len = 0;
	struct ctrl_heartbeat_resp hp = {KAFKA_ERR_NONE, true, false, true}, hp2;
	assert_int_equal(ctrl_heartbeat_resp_encode(&hp, 1, &b), KB_OK);
	struct wire_reader r;
	wire_reader_init(&r, b.data, b.len, true);
	assert_int_equal(ctrl_heartbeat_resp_decode(&r, 1, &hp2), KB_OK);
	assert_true(hp2.is_caught_up && !hp2.is_fenced && hp2.should_shut_down);
	b.len = 0;
	struct ctrl_producer_ids_resp pp = {KAFKA_ERR_NONE, 5000, 1000}, pp2;
	assert_int_equal(ctrl_producer_ids_resp_encode(&pp, 0, &b), KB_OK);
	wire_reader_init(&r, b.data, b.len, true);
	assert_int_equal(ctrl_producer_ids_resp_decode(&r, 0, &pp2), KB_OK);
	assert_int_equal(pp2.producer_id_start, 5000);
	assert_int_equal(pp2.producer_id_len, 1000);
	kb_buf_fini(&b);
}

/* Fenced brokers only follow; the ISR holds the active replicas only;
 * a broker creating __consumer_offsets may; __cluster_metadata never. */
static void test_ctrl_fenced_brokers_follow_never_lead(void **state)
{
	(void)state;
	struct ctl t;
	char msg[256];
	ctl_open(&t, 3);
	ctl_live_broker(&t, 1, "az1");
	ctl_live_broker(&t, 2, "az2");
	assert_int_equal(ctl_register(&t, 3, "az3", 3).error_code, KAFKA_ERR_NONE);
	assert_int_equal(ctl_create(&t, "three", 6, 3, msg), KAFKA_ERR_NONE);
	const struct meta_topic *tp = meta_topic_find(&t.img, "three");
	for (int32_t i = 0; i < tp->partition_count; i++) {
		const struct meta_partition *p = &tp->partitions[i];
		assert_int_equal(p->replicas.n, 3);
		assert_int_equal(p->isr.n, 2);
		assert_true(p->leader == 1 || p->leader == 2);
		for (int32_t k = 0; k < p->isr.n; k++)
			assert_int_not_equal(p->isr.v[k], 3);
	}
	/* An unfenced broker asking to be fenced: its leaderships move. */
	struct ctrl_heartbeat_req hb = {1, meta_broker_find(&t.img, 1)->epoch,
					t.offset, true, false};
	assert_true(ctl_heartbeat(&t, &hb).is_fenced);
	assert_true(meta_broker_find(&t.img, 1)->fenced);
	tp = meta_topic_find(&t.img, "three");
	for (int32_t i = 0; i < tp->partition_count; i++)
		assert_int_equal(tp->partitions[i].leader, 2);
	/* Internal topics. */
	struct kb_buf b;
	kb_buf_init(&b);
	ctl_create_body(&b, "__consumer_offsets", 2, 1, NULL, NULL, false);
	ctrl_output_fini(&t.out);
	ctrl_output_init(&t.out);
	struct ctrl_input in = {WIRE_API_CREATE_TOPICS, 7, {0}, &t.img, t.offset, t.now, true};
	wire_reader_init(&in.body, b.data, b.len, true);
	assert_int_equal(ctrl_handle(t.c, &in, &t.out), KB_OK);
	ctl_apply(&t);
	assert_int_equal(ctl_create_result(&t, msg, sizeof msg), KAFKA_ERR_NONE);
	assert_non_null(meta_topic_find(&t.img, "__consumer_offsets"));
	b.len = 0;
	ctl_create_body(&b, "__cluster_metadata", 1, 1, NULL, NULL, false);
	ctrl_output_fini(&t.out);
	ctrl_output_init(&t.out);
	wire_reader_init(&in.body, b.data, b.len, true);
	assert_int_equal(ctrl_handle(t.c, &in, &t.out), KB_OK);
	assert_int_equal(ctl_create_result(&t, msg, sizeof msg), KAFKA_ERR_INVALID_REQUEST);
	assert_int_equal(t.out.n, 0);
	kb_buf_fini(&b);
	ctl_close(&t);
}

/* A DeleteTopics v6 body of one topic, by name or (name NULL) by id. */
static void ctl_delete_body(struct kb_buf *b, const char *name, struct wire_uuid id)
{
	struct wire_writer w;
	wire_writer_init(&w, b, true);
	wire_write_array_len(&w, 1);
	wire_write_string(&w, wire_str_c(name));
	wire_write_uuid(&w, id);
	wire_write_tags(&w);
	wire_write_i32(&w, 30000);
	wire_write_tags(&w);
}

/* The first item's error of a DeleteTopics v6 response. */
static int16_t ctl_delete_result(struct ctl *t)
{
	struct wire_reader r;
	wire_reader_init(&r, t->out.response.data, t->out.response.len, true);
	wire_read_i32(&r);
	assert_int_equal(wire_read_array_len(&r, 1), 1);
	wire_read_nullable_string(&r);
	wire_read_uuid(&r);
	int16_t err = wire_read_i16(&r);
	assert_int_equal(wire_reader_status(&r), KB_OK);
	return err;
}

static void test_ctrl_delete_topics_and_create_partitions(void **state)
{
	(void)state;
	struct ctl t;
	char msg[256];
	ctl_open(&t, 1);
	ctl_live_broker(&t, 1, NULL);
	assert_int_equal(ctl_create(&t, "a", 1, -1, msg), KAFKA_ERR_NONE);
	assert_int_equal(ctl_create(&t, "b", 1, -1, msg), KAFKA_ERR_NONE);
	/* CreatePartitions v3: a to 3 partitions. */
	struct kb_buf b;
	kb_buf_init(&b);
	struct wire_writer w;
	wire_writer_init(&w, &b, true);
	wire_write_array_len(&w, 1);
	wire_write_string(&w, wire_str_c("a"));
	wire_write_i32(&w, 3);
	wire_write_array_len(&w, -1);
	wire_write_tags(&w);
	wire_write_i32(&w, 30000);
	wire_write_bool(&w, false);
	wire_write_tags(&w);
	assert_int_equal(ctl_call(&t, WIRE_API_CREATE_PARTITIONS, 3, &b), KB_OK);
	assert_int_equal(t.out.n, 2);
	assert_int_equal(meta_topic_find(&t.img, "a")->partition_count, 3);
	/* The same again: already 3. */
	assert_int_equal(ctl_call(&t, WIRE_API_CREATE_PARTITIONS, 3, &b), KB_OK);
	assert_int_equal(t.out.n, 0);
	/* Delete a by name, b by id; then both are unknown. */
	struct wire_uuid zero = {{0}}, bid = meta_topic_find(&t.img, "b")->id;
	b.len = 0;
	ctl_delete_body(&b, "a", zero);
	assert_int_equal(ctl_call(&t, WIRE_API_DELETE_TOPICS, 6, &b), KB_OK);
	assert_int_equal(ctl_delete_result(&t), KAFKA_ERR_NONE);
	assert_int_equal(t.types[0], META_REMOVE_TOPIC);
	assert_null(meta_topic_find(&t.img, "a"));
	assert_int_equal(ctl_call(&t, WIRE_API_DELETE_TOPICS, 6, &b), KB_OK);
	assert_int_equal(ctl_delete_result(&t), KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION);
	b.len = 0;
	ctl_delete_body(&b, NULL, bid);
	assert_int_equal(ctl_call(&t, WIRE_API_DELETE_TOPICS, 6, &b), KB_OK);
	assert_int_equal(ctl_delete_result(&t), KAFKA_ERR_NONE);
	assert_int_equal(t.img.n_topics, 0);
	assert_int_equal(ctl_call(&t, WIRE_API_DELETE_TOPICS, 6, &b), KB_OK);
	assert_int_equal(ctl_delete_result(&t), KAFKA_ERR_UNKNOWN_TOPIC_ID);
	kb_buf_fini(&b);
	ctl_close(&t);
}

/* An IncrementalAlterConfigs v1 (incremental) or AlterConfigs v2 body:
 * one resource, one key. */
static void ctl_alter_body(struct kb_buf *b, bool incremental, int8_t type,
			   const char *key, int8_t op, const char *value)
{
	struct wire_writer w;
	wire_writer_init(&w, b, incremental);
	wire_write_array_len(&w, 1);
	wire_write_i8(&w, type);
	wire_write_string(&w, wire_str_c("t"));
	wire_write_array_len(&w, 1);
	wire_write_string(&w, wire_str_c(key));
	if (incremental)
		wire_write_i8(&w, op);
	wire_write_string(&w, wire_str_c(value));
	wire_write_tags(&w);
	wire_write_tags(&w);
	wire_write_bool(&w, false);
	wire_write_tags(&w);
}

static int16_t ctl_alter_result(struct ctl *t, bool incremental)
{
	struct wire_reader r;
	wire_reader_init(&r, t->out.response.data, t->out.response.len, incremental);
	wire_read_i32(&r);
	assert_int_equal(wire_read_array_len(&r, 1), 1);
	int16_t err = wire_read_i16(&r);
	assert_int_equal(wire_reader_status(&r), KB_OK);
	return err;
}

static void test_ctrl_alter_configs_write_config_records(void **state)
{
	(void)state;
	struct ctl t;
	char msg[256];
	ctl_open(&t, 1);
	ctl_live_broker(&t, 1, NULL);
	assert_int_equal(ctl_create(&t, "t", 1, -1, msg), KAFKA_ERR_NONE);
	struct kb_buf b;
	kb_buf_init(&b);
	ctl_alter_body(&b, true, META_RESOURCE_TOPIC, "retention.ms", 0, "5000");
	assert_int_equal(ctl_call(&t, WIRE_API_INCREMENTAL_ALTER_CONFIGS, 1, &b), KB_OK);
	assert_int_equal(ctl_alter_result(&t, true), KAFKA_ERR_NONE);
	assert_string_equal(meta_config_get(&t.img, META_RESOURCE_TOPIC, "t",
					    "retention.ms"), "5000");
	/* APPEND on a list key. */
	b.len = 0;
	ctl_alter_body(&b, true, META_RESOURCE_TOPIC, "cleanup.policy", 2, "compact");
	assert_int_equal(ctl_call(&t, WIRE_API_INCREMENTAL_ALTER_CONFIGS, 1, &b), KB_OK);
	assert_string_equal(meta_config_get(&t.img, META_RESOURCE_TOPIC, "t",
					    "cleanup.policy"), "delete,compact");
	/* AlterConfigs replaces the whole set: retention.ms and cleanup.policy go. */
	b.len = 0;
	ctl_alter_body(&b, false, META_RESOURCE_TOPIC, "segment.ms", 0, "60000");
	assert_int_equal(ctl_call(&t, WIRE_API_ALTER_CONFIGS, 0, &b), KB_OK);
	assert_int_equal(ctl_alter_result(&t, false), KAFKA_ERR_NONE);
	assert_null(meta_config_get(&t.img, META_RESOURCE_TOPIC, "t", "retention.ms"));
	assert_null(meta_config_get(&t.img, META_RESOURCE_TOPIC, "t", "cleanup.policy"));
	assert_string_equal(meta_config_get(&t.img, META_RESOURCE_TOPIC, "t",
					    "segment.ms"), "60000");
	/* DELETE, then errors: a bad value, a broker resource. */
	b.len = 0;
	ctl_alter_body(&b, true, META_RESOURCE_TOPIC, "segment.ms", 1, NULL);
	assert_int_equal(ctl_call(&t, WIRE_API_INCREMENTAL_ALTER_CONFIGS, 1, &b), KB_OK);
	assert_null(meta_config_get(&t.img, META_RESOURCE_TOPIC, "t", "segment.ms"));
	b.len = 0;
	ctl_alter_body(&b, true, META_RESOURCE_TOPIC, "retention.ms", 0, "x");
	assert_int_equal(ctl_call(&t, WIRE_API_INCREMENTAL_ALTER_CONFIGS, 1, &b), KB_OK);
	assert_int_equal(ctl_alter_result(&t, true), KAFKA_ERR_INVALID_CONFIG);
	assert_int_equal(t.out.n, 0);
	b.len = 0;
	ctl_alter_body(&b, true, META_RESOURCE_BROKER, "retention.ms", 0, "1");
	assert_int_equal(ctl_call(&t, WIRE_API_INCREMENTAL_ALTER_CONFIGS, 1, &b), KB_OK);
	assert_int_equal(ctl_alter_result(&t, true), KAFKA_ERR_INVALID_REQUEST);
	kb_buf_fini(&b);
	ctl_close(&t);
}

static struct ctrl_producer_ids_resp ctl_producer_ids(struct ctl *t, int32_t id,
						      int64_t epoch)
{
	struct ctrl_producer_ids_req q = {id, epoch};
	struct ctrl_producer_ids_resp p;
	struct kb_buf b;
	kb_buf_init(&b);
	assert_int_equal(ctrl_producer_ids_req_encode(&q, 0, &b), KB_OK);
	assert_int_equal(ctl_call(t, WIRE_API_ALLOCATE_PRODUCER_IDS, 0, &b), KB_OK);
	struct wire_reader r;
	wire_reader_init(&r, t->out.response.data, t->out.response.len, true);
	assert_int_equal(ctrl_producer_ids_resp_decode(&r, 0, &p), KB_OK);
	kb_buf_fini(&b);
	return p;
}

static void test_ctrl_allocate_producer_ids_blocks_of_1000(void **state)
{
	(void)state;
	struct ctl t;
	ctl_open(&t, 1);
	int64_t e = ctl_live_broker(&t, 1, NULL);
	struct ctrl_producer_ids_resp p = ctl_producer_ids(&t, 1, e);
	assert_int_equal(p.error_code, KAFKA_ERR_NONE);
	assert_int_equal(p.producer_id_start, 0);
	assert_int_equal(p.producer_id_len, CTRL_PRODUCER_ID_BLOCK);
	assert_int_equal(t.img.next_producer_id, 1000);
	p = ctl_producer_ids(&t, 1, e);
	assert_int_equal(p.producer_id_start, 1000);
	assert_int_equal(t.img.next_producer_id, 2000);
	p = ctl_producer_ids(&t, 1, e - 1);
	assert_int_equal(p.error_code, KAFKA_ERR_STALE_BROKER_EPOCH);
	assert_int_equal(t.out.n, 0);
	assert_int_equal(t.img.next_producer_id, 2000);
	ctl_close(&t);
}

/* ---- The controller: replication (RF > 1, AlterPartition, elections) ---- */

/* Re-create t's controller with cfg (what the tests change: unclean,
 * auto rebalance); sessions restart from the image. */
static void ctl_reconfigure(struct ctl *t, const struct ctrl_config *cfg)
{
	ctrl_free(t->c);
	t->cfg = *cfg;
	assert_int_equal(ctrl_new(&t->cfg, &t->c), KB_OK);
	ctrl_activate(t->c, &t->img, t->now);
}

/* Three live brokers 1..3 in az1..az3 and topic name of one partition on
 * replicas (3 ids, the first leads). */
static const struct meta_topic *ctl_three(struct ctl *t, const char *name,
					  const int32_t *replicas)
{
	static const char *racks[] = {"az1", "az2", "az3"};
	for (int32_t id = 1; id <= 3; id++)
		if (!meta_broker_find(&t->img, id))
			ctl_live_broker(t, id, racks[id - 1]);
	struct kb_buf b;
	char msg[256];
	kb_buf_init(&b);
	struct ctl_assign a = {1, {replicas}, {3}};
	ctl_create_body(&b, name, -1, -1, &a, NULL, false);
	assert_int_equal(ctl_call(t, WIRE_API_CREATE_TOPICS, 7, &b), KB_OK);
	assert_int_equal(ctl_create_result(t, msg, sizeof msg), KAFKA_ERR_NONE);
	kb_buf_fini(&b);
	return meta_topic_find(&t->img, name);
}

/* One AlterPartition of one partition, as the broker side sends it. */
struct ctl_ap {
	int16_t v;
	int32_t broker_id;
	int64_t broker_epoch;
	const char *topic; /* by name (v0-1) and by id (v2+) */
	struct wire_uuid id;
	int32_t partition, leader_epoch, partition_epoch;
	int32_t n_isr;
	struct ctrl_isr_member isr[4];
	int8_t recovery;
};

/* Send a; the answer decoded into p (fini it); the records applied. */
static void ctl_alter(struct ctl *t, const struct ctl_ap *a,
		      struct ctrl_alter_partition_resp *p)
{
	struct ctrl_alter_partition d = {a->partition, a->leader_epoch, a->n_isr,
					 (struct ctrl_isr_member *)a->isr,
					 a->recovery, a->partition_epoch};
	struct ctrl_alter_topic at = {a->id, wire_str_c(a->topic), 1, &d};
	struct ctrl_alter_partition_req q = {a->broker_id, a->broker_epoch, 1, &at};
	struct kb_buf b;
	kb_buf_init(&b);
	assert_int_equal(ctrl_alter_partition_req_encode(&q, a->v, &b), KB_OK);
	assert_int_equal(ctl_call(t, WIRE_API_ALTER_PARTITION, a->v, &b), KB_OK);
	kb_buf_fini(&b);
	struct wire_reader r;
	wire_reader_init(&r, t->out.response.data, t->out.response.len, true);
	assert_int_equal(ctrl_alter_partition_resp_decode(&r, a->v, p), KB_OK);
	assert_int_equal(wire_remaining(&r), 0);
}

/* The one partition's error of an AlterPartition answer. */
static int16_t ctl_alter_error(struct ctl *t, const struct ctl_ap *a)
{
	struct ctrl_alter_partition_resp p;
	ctl_alter(t, a, &p);
	int16_t err = p.error_code;
	if (!err) {
		assert_int_equal(p.n_topics, 1);
		assert_int_equal(p.topics[0].n_partitions, 1);
		err = p.topics[0].partitions[0].error_code;
	}
	ctrl_alter_partition_resp_fini(&p);
	return err;
}

static void test_ctrl_rf3_one_replica_per_rack_isr_all_replicas(void **state)
{
	(void)state;
	struct ctl t;
	char msg[256];
	ctl_open(&t, 0);
	ctl_live_broker(&t, 1, "az1");
	ctl_live_broker(&t, 2, "az2");
	assert_int_equal(ctl_create(&t, "r3", 3, 3, msg),
			 KAFKA_ERR_INVALID_REPLICATION_FACTOR);
	assert_string_equal(msg, "Unable to replicate the partition 3 time(s): The "
			    "target replication factor of 3 cannot be reached "
			    "because only 2 broker(s) are registered.");
	ctl_live_broker(&t, 3, "az3");
	assert_int_equal(ctl_create(&t, "r3", 6, 3, msg), KAFKA_ERR_NONE);
	const struct meta_topic *tp = meta_topic_find(&t.img, "r3");
	int leads[4] = {0};
	for (int32_t i = 0; i < tp->partition_count; i++) {
		const struct meta_partition *p = &tp->partitions[i];
		bool rack[4] = {false};
		assert_int_equal(p->replicas.n, 3);
		for (int32_t k = 0; k < 3; k++) { /* one per rack: broker k is az(k) */
			assert_false(rack[p->replicas.v[k]]);
			rack[p->replicas.v[k]] = true;
		}
		assert_int_equal(p->isr.n, 3); /* ISR = the replicas, leader the first */
		assert_memory_equal(p->isr.v, p->replicas.v, 3 * sizeof(int32_t));
		assert_int_equal(p->leader, p->replicas.v[0]);
		leads[p->leader]++;
	}
	for (int id = 1; id <= 3; id++)
		assert_int_equal(leads[id], 2); /* leaders spread */
	/* samsa's own cap still holds when set. */
	struct ctrl_config cfg = t.cfg;
	cfg.max_replication_factor = 2;
	ctl_reconfigure(&t, &cfg);
	assert_int_equal(ctl_create(&t, "capped", 1, 3, msg),
			 KAFKA_ERR_INVALID_REPLICATION_FACTOR);
	assert_string_equal(msg, "Replication factor 3 is above 2, the most this "
			    "cluster allows.");
	ctl_close(&t);
}

static const int32_t ctl_ids123[] = {1, 2, 3};

/* Every rule of validateAlterPartitionData, in versions 0-3, then the
 * records and answers of a valid shrink and expand. */
static void test_ctrl_alter_partition_rules(void **state)
{
	(void)state;
	struct ctl t;
	ctl_open(&t, 0);
	const struct meta_topic *tp = ctl_three(&t, "ap", ctl_ids123);
	struct wire_uuid id = tp->id;
	int64_t e1 = meta_broker_find(&t.img, 1)->epoch;
	int64_t e3 = meta_broker_find(&t.img, 3)->epoch;
	struct ctl_ap a = {2, 1, e1, "ap", id, 0, 0, 0, 2, {{1, -1}, {2, -1}}, 0};
	/* A valid shrink: one PartitionChangeRecord, the answer as it makes it. */
	struct ctrl_alter_partition_resp p;
	ctl_alter(&t, &a, &p);
	assert_int_equal(t.out.n, 1);
	assert_int_equal(t.types[0], META_PARTITION_CHANGE);
	const struct ctrl_alter_partition_result *res = &p.topics[0].partitions[0];
	assert_int_equal(res->error_code, KAFKA_ERR_NONE);
	assert_int_equal(res->leader_id, 1);
	assert_int_equal(res->leader_epoch, 0);
	assert_int_equal(res->n_isr, 2);
	assert_int_equal(res->partition_epoch, 1);
	const struct meta_partition *mp = &meta_topic_find(&t.img, "ap")->partitions[0];
	assert_int_equal(mp->partition_epoch, 1); /* 07_image.c bumped it */
	assert_int_equal(mp->leader_epoch, 0);
	assert_int_equal(mp->isr.n, 2);
	assert_memory_equal(res->isr, mp->isr.v, 2 * sizeof(int32_t));
	ctrl_alter_partition_resp_fini(&p);
	/* The same ISR again: nothing written, the current state answered. */
	a.partition_epoch = 1;
	ctl_alter(&t, &a, &p);
	assert_int_equal(t.out.n, 0);
	assert_int_equal(p.topics[0].partitions[0].error_code, KAFKA_ERR_NONE);
	assert_int_equal(p.topics[0].partitions[0].partition_epoch, 1);
	ctrl_alter_partition_resp_fini(&p);
	struct { int16_t v; int field; int64_t val; int16_t err; } cases[] = {
		{2, 0, e1 + 1, KAFKA_ERR_STALE_BROKER_EPOCH},  /* broker epoch */
		{2, 1, 0x99, KAFKA_ERR_UNKNOWN_TOPIC_ID},      /* topic id */
		{1, 1, 0x99, KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION}, /* name, v1 */
		{2, 2, 5, KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION}, /* partition */
		{2, 3, 1, KAFKA_ERR_NOT_CONTROLLER},           /* leader epoch ahead */
		{2, 4, 2, KAFKA_ERR_NOT_CONTROLLER},           /* partition epoch ahead */
		{2, 4, 0, KAFKA_ERR_INVALID_UPDATE_VERSION},   /* partition epoch behind */
		{2, 5, 2, KAFKA_ERR_INVALID_REQUEST},          /* asker not the leader */
		{2, 6, 9, KAFKA_ERR_INVALID_REQUEST},          /* 9 is no replica */
		{2, 7, 0, KAFKA_ERR_INVALID_REQUEST},          /* leader left out */
		{2, 8, 0, KAFKA_ERR_INVALID_REQUEST},          /* a member twice */
		{2, 9, 1, KAFKA_ERR_INVALID_REQUEST},          /* RECOVERED -> RECOVERING */
	};
	for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
		struct ctl_ap b = a;
		b.v = cases[i].v;
		switch (cases[i].field) {
		case 0: b.broker_epoch = cases[i].val; break;
		case 1: b.id = meta_uuid((uint8_t)cases[i].val); b.topic = "nope"; break;
		case 2: b.partition = (int32_t)cases[i].val; break;
		case 3: b.leader_epoch = (int32_t)cases[i].val; break;
		case 4: b.partition_epoch = (int32_t)cases[i].val; break;
		case 5: b.broker_id = 2;
			b.broker_epoch = meta_broker_find(&t.img, 2)->epoch; break;
		case 6: b.isr[1].broker_id = (int32_t)cases[i].val; break;
		case 7: b.isr[0].broker_id = 3; break;
		case 8: b.isr[1].broker_id = 1; break;
		case 9: b.n_isr = 1; b.recovery = (int8_t)cases[i].val; break;
		}
		assert_int_equal(ctl_alter_error(&t, &b), cases[i].err);
		assert_int_equal(t.out.n, 0);
	}
	/* Broker 3 fenced: INELIGIBLE_REPLICA (OPERATION_NOT_ATTEMPTED < v2). */
	struct ctrl_heartbeat_req hb = {3, e3, t.offset, true, false};
	assert_true(ctl_heartbeat(&t, &hb).is_fenced);
	struct ctl_ap x = a;
	x.n_isr = 3;
	x.isr[2] = (struct ctrl_isr_member){3, -1};
	assert_int_equal(ctl_alter_error(&t, &x), KAFKA_ERR_INELIGIBLE_REPLICA);
	x.v = 1;
	assert_int_equal(ctl_alter_error(&t, &x), KAFKA_ERR_OPERATION_NOT_ATTEMPTED);
	hb.want_fence = false;
	hb.current_metadata_offset = t.offset;
	assert_false(ctl_heartbeat(&t, &hb).is_fenced);
	/* v3: the leader's idea of 3's epoch must be the registration's. */
	x.v = 3;
	x.isr[2].broker_epoch = e3 + 7;
	assert_int_equal(ctl_alter_error(&t, &x), KAFKA_ERR_INELIGIBLE_REPLICA);
	/* Expand, v0 by name: the ISR is the three again. */
	x.v = 0;
	x.id = meta_uuid(0);
	x.isr[2].broker_epoch = -1;
	ctl_alter(&t, &x, &p);
	assert_int_equal(p.topics[0].partitions[0].error_code, KAFKA_ERR_NONE);
	assert_int_equal(p.topics[0].partitions[0].n_isr, 3);
	assert_int_equal(p.topics[0].partitions[0].partition_epoch, 2);
	assert_int_equal(meta_topic_find(&t.img, "ap")->partitions[0].isr.n, 3);
	ctrl_alter_partition_resp_fini(&p);
	ctl_close(&t);
}

/* The v3 request byte for byte (AlterPartitionRequest.json), and every
 * version of request and response round-trips. */
static void test_ctrl_wire_alter_partition_bytes(void **state)
{
	(void)state;
	struct kb_buf b;
	kb_buf_init(&b);
	struct ctrl_isr_member m = {1, 5};
	struct ctrl_alter_partition d = {0, 0, 1, &m, 0, 0};
	struct ctrl_alter_topic at = {meta_uuid(0), {NULL, -1}, 1, &d};
	struct ctrl_alter_partition_req q = {1, 5, 1, &at};
	assert_int_equal(ctrl_alter_partition_req_encode(&q, 3, &b), KB_OK);
	const uint8_t want[] = {
		0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, /* broker id, epoch */
		0x02, META_UUID_HEX, 0x02,          /* one topic, one partition */
		0, 0, 0, 0, 0, 0, 0, 0,             /* index, leader epoch */
		0x02, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0, /* NewIsrWithEpochs */
		0, 0, 0, 0, 0, 0,                   /* recovery, partition epoch, tags */
		0, 0};                              /* topic tags, tags */
	assert_int_equal(b.len, sizeof want);
	assert_memory_equal(b.data, want, sizeof want);
	int32_t isr[2] = {1, 2};
	struct ctrl_alter_partition_result res = {0, 0, 1, 4, 2, isr, 1, 9};
	struct ctrl_alter_topic_result rt = {meta_uuid(0), wire_str_c("x"), 1, &res};
	struct ctrl_alter_partition_resp p = {0, 1, &rt};
	for (int16_t v = 0; v <= 3; v++) {
		at.topic_name = wire_str_c("x");
		b.len = 0;
		assert_int_equal(ctrl_alter_partition_req_encode(&q, v, &b), KB_OK);
		struct wire_reader r;
		struct ctrl_alter_partition_req back;
		wire_reader_init(&r, b.data, b.len, true);
		assert_int_equal(ctrl_alter_partition_req_decode(&r, v, &back), KB_OK);
		assert_int_equal(wire_remaining(&r), 0);
		assert_int_equal(back.topics[0].partitions[0].new_isr[0].broker_id, 1);
		assert_int_equal(back.topics[0].partitions[0].new_isr[0].broker_epoch,
				 v >= 3 ? 5 : -1);
		assert_true(v >= 2 || wire_str_eq(back.topics[0].topic_name, "x"));
		ctrl_alter_partition_req_fini(&back);
		b.len = 0;
		assert_int_equal(ctrl_alter_partition_resp_encode(&p, v, &b), KB_OK);
		struct ctrl_alter_partition_resp pb;
		wire_reader_init(&r, b.data, b.len, true);
		assert_int_equal(ctrl_alter_partition_resp_decode(&r, v, &pb), KB_OK);
		assert_int_equal(wire_remaining(&r), 0);
		const struct ctrl_alter_partition_result *o = &pb.topics[0].partitions[0];
		assert_int_equal(o->leader_id, 1);
		assert_int_equal(o->leader_epoch, 4);
		assert_int_equal(o->n_isr, 2);
		assert_int_equal(o->isr[1], 2);
		assert_int_equal(o->leader_recovery_state, v >= 1 ? 1 : 0);
		assert_int_equal(o->partition_epoch, 9);
		ctrl_alter_partition_resp_fini(&pb);
	}
	/* A count the bytes cannot hold is refused before any allocation. */
	const uint8_t huge[] = {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0x7f};
	struct wire_reader r;
	struct ctrl_alter_partition_req back;
	wire_reader_init(&r, huge, sizeof huge, true);
	assert_int_not_equal(ctrl_alter_partition_req_decode(&r, 3, &back), KB_OK);
	ctrl_alter_partition_req_fini(&back);
	kb_buf_fini(&b);
}

/* Fence broker id through its own heartbeat (want_fence). */
static void ctl_fence(struct ctl *t, int32_t id)
{
	struct ctrl_heartbeat_req hb = {id, meta_broker_find(&t->img, id)->epoch,
					t->offset, true, false};
	assert_true(ctl_heartbeat(t, &hb).is_fenced);
}

/* unclean.leader.election.enable false (the default): a replica outside
 * the ISR never leads; true (topic config): the first active replica
 * leads with ISR [it], RECOVERING, until its AlterPartition says RECOVERED. */
static void test_ctrl_unclean_leader_election_off_and_on(void **state)
{
	(void)state;
	struct ctl t;
	ctl_open(&t, 0);
	const struct meta_topic *tp = ctl_three(&t, "u", ctl_ids123);
	struct wire_uuid id = tp->id;
	struct ctl_ap a = {3, 1, meta_broker_find(&t.img, 1)->epoch, "u", id,
			   0, 0, 0, 1, {{1, -1}}, 0};
	assert_int_equal(ctl_alter_error(&t, &a), KAFKA_ERR_NONE);
	ctl_fence(&t, 1);
	const struct meta_partition *p = &meta_topic_find(&t.img, "u")->partitions[0];
	assert_int_equal(p->leader, META_NO_LEADER);
	assert_int_equal(p->isr.n, 1); /* the last member stays */
	t.now += 1000;
	ctl_tick(&t);
	assert_int_equal(t.out.n, 0);
	p = &meta_topic_find(&t.img, "u")->partitions[0];
	assert_int_equal(p->leader, META_NO_LEADER);
	/* The topic allows it: the next tick elects 2, outside the ISR. */
	struct meta_record rec;
	meta_record_init(&rec, META_CONFIG, 0);
	rec.resource_type = META_RESOURCE_TOPIC;
	rec.resource_name = wire_str_c("u");
	rec.name = wire_str_c("unclean.leader.election.enable");
	rec.value = wire_str_c("true");
	assert_int_equal(meta_apply_rt(&t.img, &rec), KB_OK);
	ctl_tick(&t);
	assert_int_equal(t.out.n, 1);
	p = &meta_topic_find(&t.img, "u")->partitions[0];
	assert_int_equal(p->leader, 2);
	assert_int_equal(p->isr.n, 1);
	assert_int_equal(p->isr.v[0], 2);
	assert_int_equal(p->leader_recovery_state, META_RECOVERING);
	/* Recovering: no second member yet; then RECOVERED, then expand. */
	struct ctl_ap b = {3, 2, meta_broker_find(&t.img, 2)->epoch, "u", id, 0,
			   p->leader_epoch, p->partition_epoch, 2,
			   {{2, -1}, {3, -1}}, META_RECOVERING};
	assert_int_equal(ctl_alter_error(&t, &b), KAFKA_ERR_INVALID_REQUEST);
	b.n_isr = 1;
	b.recovery = META_RECOVERED;
	assert_int_equal(ctl_alter_error(&t, &b), KAFKA_ERR_NONE);
	p = &meta_topic_find(&t.img, "u")->partitions[0];
	assert_int_equal(p->leader_recovery_state, META_RECOVERED);
	b.n_isr = 2;
	b.partition_epoch = p->partition_epoch;
	assert_int_equal(ctl_alter_error(&t, &b), KAFKA_ERR_NONE);
	assert_int_equal(meta_topic_find(&t.img, "u")->partitions[0].isr.n, 2);
	/* The broker default, when the topic says nothing: fencing the last
	 * ISR member hands the partition to a live replica at once. */
	struct ctrl_config cfg = t.cfg;
	cfg.unclean_leader_election_enable = true;
	ctl_reconfigure(&t, &cfg);
	struct ctrl_heartbeat_req hb = {1, meta_broker_find(&t.img, 1)->epoch,
					t.offset, false, false};
	assert_false(ctl_heartbeat(&t, &hb).is_fenced); /* 1 back */
	tp = ctl_three(&t, "v", ctl_ids123);
	struct ctl_ap c = {3, 1, meta_broker_find(&t.img, 1)->epoch, "v", tp->id,
			   0, 0, 0, 1, {{1, -1}}, 0};
	assert_int_equal(ctl_alter_error(&t, &c), KAFKA_ERR_NONE);
	ctl_fence(&t, 1);
	p = &meta_topic_find(&t.img, "v")->partitions[0];
	assert_int_equal(p->leader, 2);
	assert_int_equal(p->isr.v[0], 2);
	ctl_close(&t);
}

/* An ElectLeaders body at v (v0: PREFERRED), of topic (NULL: all) and
 * its partitions. */
static void ctl_elect_body(struct kb_buf *b, int16_t v, int8_t type,
			   const char *topic, const int32_t *parts, int32_t n)
{
	struct wire_writer w;
	wire_writer_init(&w, b, v >= 2);
	if (v >= 1)
		wire_write_i8(&w, type);
	wire_write_array_len(&w, topic ? 1 : -1);
	if (topic) {
		wire_write_string(&w, wire_str_c(topic));
		wire_write_array_len(&w, n);
		for (int32_t i = 0; i < n; i++)
			wire_write_i32(&w, parts[i]);
		wire_write_tags(&w);
	}
	wire_write_i32(&w, 60000);
	wire_write_tags(&w);
	assert_int_equal(wire_writer_status(&w), KB_OK);
}

/* Call ElectLeaders; the top error, and the first result's error and
 * message (-1 and "" when no partition is listed). */
static int16_t ctl_elect(struct ctl *t, int16_t v, int8_t type, const char *topic,
			 int32_t part, int16_t *err, char *msg)
{
	struct kb_buf b;
	kb_buf_init(&b);
	ctl_elect_body(&b, v, type, topic, &part, 1);
	assert_int_equal(ctl_call(t, WIRE_API_ELECT_LEADERS, v, &b), KB_OK);
	kb_buf_fini(&b);
	struct wire_reader r;
	wire_reader_init(&r, t->out.response.data, t->out.response.len, v >= 2);
	wire_read_i32(&r);
	int16_t top = v >= 1 ? wire_read_i16(&r) : 0;
	int32_t nt = wire_read_array_len(&r, 1);
	*err = -1;
	msg[0] = '\0';
	for (int32_t i = 0; i < nt; i++) {
		wire_read_string(&r);
		int32_t np = wire_read_array_len(&r, 1);
		for (int32_t k = 0; k < np; k++) {
			wire_read_i32(&r);
			int16_t e = wire_read_i16(&r);
			struct wire_str m = wire_read_nullable_string(&r);
			wire_read_tags(&r);
			if (*err == -1) {
				*err = e;
				snprintf(msg, 256, "%.*s", (int)KB_MAX(m.len, 0), m.p ? m.p : "");
			}
		}
		wire_read_tags(&r);
	}
	wire_read_tags(&r);
	assert_int_equal(wire_reader_status(&r), KB_OK);
	assert_int_equal(wire_remaining(&r), 0);
	return top;
}

/* Preferred leaders: by ElectLeaders (PREFERRED, UNCLEAN and their
 * errors), then by the auto rebalance of ctrl_tick. */
static void test_ctrl_elect_leaders_and_auto_rebalance(void **state)
{
	(void)state;
	struct ctl t;
	int16_t err;
	char msg[256];
	ctl_open(&t, 0);
	const struct meta_topic *tp = ctl_three(&t, "e", ctl_ids123);
	struct wire_uuid id = tp->id;
	ctl_fence(&t, 1); /* 2 leads, 1 leaves the ISR */
	struct ctrl_heartbeat_req hb = {1, meta_broker_find(&t.img, 1)->epoch,
					t.offset, false, false};
	assert_false(ctl_heartbeat(&t, &hb).is_fenced);
	const struct meta_partition *p = &meta_topic_find(&t.img, "e")->partitions[0];
	assert_int_equal(p->leader, 2);
	/* 1 is live but out of the ISR: not available. */
	for (int16_t v = 0; v <= 2; v++) {
		assert_int_equal(ctl_elect(&t, v, 0, "e", 0, &err, msg), KAFKA_ERR_NONE);
		assert_int_equal(err, KAFKA_ERR_PREFERRED_LEADER_NOT_AVAILABLE);
		assert_string_equal(msg, "The preferred leader was not available.");
		assert_int_equal(t.out.n, 0);
	}
	/* The leader takes 1 back into the ISR. */
	struct ctl_ap a = {3, 2, meta_broker_find(&t.img, 2)->epoch, "e", id, 0,
			   p->leader_epoch, p->partition_epoch, 3,
			   {{2, -1}, {3, -1}, {1, -1}}, 0};
	assert_int_equal(ctl_alter_error(&t, &a), KAFKA_ERR_NONE);
	/* Auto rebalance off: ticks past the interval leave 2 leading. */
	struct ctrl_config cfg = t.cfg;
	cfg.leader_imbalance_check_interval_ms = 1000;
	ctl_reconfigure(&t, &cfg);
	t.now += 2000;
	ctl_tick(&t);
	assert_int_equal(meta_topic_find(&t.img, "e")->partitions[0].leader, 2);
	/* A bad election type fails the whole request. */
	assert_int_equal(ctl_elect(&t, 1, 7, "e", 0, &err, msg), KAFKA_ERR_INVALID_REQUEST);
	assert_int_equal(err, -1);
	assert_int_equal(t.out.n, 0);
	/* UNCLEAN with a leader: not needed; an unknown topic or partition. */
	assert_int_equal(ctl_elect(&t, 1, 1, "e", 0, &err, msg), KAFKA_ERR_NONE);
	assert_int_equal(err, KAFKA_ERR_ELECTION_NOT_NEEDED);
	assert_int_equal(ctl_elect(&t, 2, 0, "nope", 0, &err, msg), KAFKA_ERR_NONE);
	assert_int_equal(err, KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION);
	assert_string_equal(msg, "No such topic as nope");
	ctl_elect(&t, 2, 0, "e", 4, &err, msg);
	assert_int_equal(err, KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION);
	assert_string_equal(msg, "No such partition as e-4");
	/* PREFERRED: 1 leads again, one record; then it is not needed. */
	assert_int_equal(ctl_elect(&t, 2, 0, "e", 0, &err, msg), KAFKA_ERR_NONE);
	assert_int_equal(err, KAFKA_ERR_NONE);
	assert_int_equal(t.out.n, 1);
	p = &meta_topic_find(&t.img, "e")->partitions[0];
	assert_int_equal(p->leader, 1);
	assert_int_equal(p->isr.n, 3);
	ctl_elect(&t, 2, 0, "e", 0, &err, msg);
	assert_int_equal(err, KAFKA_ERR_ELECTION_NOT_NEEDED);
	/* The old leader's AlterPartition at the old leader epoch: fenced. */
	a.partition_epoch = p->partition_epoch;
	assert_int_equal(ctl_alter_error(&t, &a), KAFKA_ERR_FENCED_LEADER_EPOCH);
	/* All partitions (null list): the not-needed ones are left out. */
	struct kb_buf b;
	kb_buf_init(&b);
	ctl_elect_body(&b, 2, 0, NULL, NULL, 0);
	assert_int_equal(ctl_call(&t, WIRE_API_ELECT_LEADERS, 2, &b), KB_OK);
	const uint8_t none[] = {0, 0, 0, 0, 0, 0, 0x02, 0x02, 'e', 0x01, 0, 0};
	assert_int_equal(t.out.response.len, sizeof none);
	assert_memory_equal(t.out.response.data, none, sizeof none);
	kb_buf_fini(&b);
	/* Auto rebalance on: leadership moves away (fence and back), then one
	 * interval later the tick gives it back to the preferred replica. */
	cfg.auto_leader_rebalance_enable = true;
	ctl_reconfigure(&t, &cfg);
	ctl_fence(&t, 1);
	hb = (struct ctrl_heartbeat_req){1, meta_broker_find(&t.img, 1)->epoch,
					 t.offset, false, false};
	assert_false(ctl_heartbeat(&t, &hb).is_fenced);
	p = &meta_topic_find(&t.img, "e")->partitions[0];
	a = (struct ctl_ap){3, 2, meta_broker_find(&t.img, 2)->epoch, "e", id, 0,
			    p->leader_epoch, p->partition_epoch, 3,
			    {{2, -1}, {3, -1}, {1, -1}}, 0};
	assert_int_equal(ctl_alter_error(&t, &a), KAFKA_ERR_NONE);
	t.now += 999;
	ctl_tick(&t);
	assert_int_equal(t.out.n, 0);
	t.now += 1;
	ctl_tick(&t);
	assert_int_equal(t.out.n, 1);
	assert_int_equal(meta_topic_find(&t.img, "e")->partitions[0].leader, 1);
	t.now += 1000;
	ctl_tick(&t);
	assert_int_equal(t.out.n, 0);
	ctl_close(&t);
}

/* ElectLeaders' error answer (controller node, forwarding broker): the
 * error on every partition asked for, and at the top from v1. */
static void test_ctrl_elect_leaders_error_body(void **state)
{
	(void)state;
	struct kb_buf b, out;
	kb_buf_init(&b);
	kb_buf_init(&out);
	const int32_t parts[] = {0, 3};
	ctl_elect_body(&b, 2, 0, "e", parts, 2);
	struct net_request req;
	memset(&req, 0, sizeof req);
	req.header.api_key = WIRE_API_ELECT_LEADERS;
	req.header.api_version = 2;
	wire_reader_init(&req.body, b.data, b.len, true);
	struct wire_writer w;
	wire_writer_init(&w, &out, true);
	assert_int_equal(ctrl_elect_leaders_error_body(&req, KAFKA_ERR_NOT_CONTROLLER, &w),
			 KB_OK);
	const uint8_t want[] = {0, 0, 0, 0, 0, 41, 0x02, 0x02, 'e', 0x03,
				0, 0, 0, 0, 0, 41, 0, 0, 0, 0, 0, 3, 0, 41, 0, 0,
				0, 0};
	assert_int_equal(out.len, sizeof want);
	assert_memory_equal(out.data, want, sizeof want);
	/* v0: no top-level error; a body cut short is refused. */
	b.len = 0;
	out.len = 0;
	ctl_elect_body(&b, 0, 0, "e", parts, 1);
	req.header.api_version = 0;
	wire_reader_init(&req.body, b.data, b.len - 6, false); /* into the partition */
	wire_writer_init(&w, &out, false);
	assert_int_equal(ctrl_elect_leaders_error_body(&req, KAFKA_ERR_NOT_CONTROLLER, &w),
			 KB_ERR_PROTO);
	kb_buf_fini(&out);
	kb_buf_fini(&b);
}

/* RF 3, controlled shutdown of broker 1: what it leads moves to another
 * ISR member, it leaves every ISR, then it may shut down. */
static void test_ctrl_controlled_shutdown_rf3_leaves_isrs(void **state)
{
	(void)state;
	struct ctl t;
	char msg[256];
	ctl_open(&t, 0);
	ctl_three(&t, "s0", ctl_ids123);
	assert_int_equal(ctl_create(&t, "s", 6, 3, msg), KAFKA_ERR_NONE);
	struct ctrl_heartbeat_req hb = {1, meta_broker_find(&t.img, 1)->epoch,
					t.offset, false, true};
	struct ctrl_heartbeat_resp r = ctl_heartbeat(&t, &hb);
	assert_false(r.should_shut_down);
	assert_true(meta_broker_find(&t.img, 1)->in_controlled_shutdown);
	for (int32_t ti = 0; ti < t.img.n_topics; ti++) {
		const struct meta_topic *tp = &t.img.topics[ti];
		for (int32_t i = 0; i < tp->partition_count; i++) {
			const struct meta_partition *p = &tp->partitions[i];
			assert_int_not_equal(p->leader, 1);
			assert_true(p->leader == 2 || p->leader == 3);
			assert_int_equal(p->isr.n, 2);
			for (int32_t k = 0; k < p->isr.n; k++)
				assert_int_not_equal(p->isr.v[k], 1);
		}
	}
	r = ctl_heartbeat(&t, &hb);
	assert_true(r.should_shut_down);
	ctl_close(&t);
}

/* Every cut of a good request is KB_ERR_PROTO with nothing written;
 * random bytes never crash; unknown APIs are KB_ERR_NOTFOUND. */
static void test_ctrl_bad_input_refused(void **state)
{
	(void)state;
	struct ctl t;
	ctl_open(&t, 1);
	ctl_live_broker(&t, 1, NULL);
	struct kb_buf b;
	kb_buf_init(&b);
	ctl_create_body(&b, "cut", 2, -1, NULL, NULL, false);
	for (size_t len = 0; len < b.len; len++) {
		struct kb_buf cut = {b.data, len, len};
		assert_int_equal(ctl_call(&t, WIRE_API_CREATE_TOPICS, 7, &cut),
				 KB_ERR_PROTO);
	}
	assert_null(meta_topic_find(&t.img, "cut"));
	uint64_t x = 7;
	static const int16_t keys[][2] = {{19, 7}, {19, 2}, {20, 6}, {20, 1},
		{33, 0}, {37, 3}, {44, 1}, {62, 4}, {62, 0}, {63, 1}, {67, 0}};
	uint8_t junk[64];
	for (int round = 0; round < 3000; round++) {
		for (size_t i = 0; i < sizeof junk; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			junk[i] = (uint8_t)(x % 7 == 0 ? 0xff : x % 5 == 0 ? 0 : x);
		}
		struct kb_buf in = {junk, (size_t)(x % sizeof junk), sizeof junk};
		const int16_t *k = keys[round % KB_ARRAY_LEN(keys)];
		int rc = ctl_call(&t, k[0], k[1], &in);
		assert_true(rc == KB_OK || rc == KB_ERR_PROTO);
	}
	assert_int_equal(ctl_call(&t, WIRE_API_PRODUCE, 9, &b), KB_ERR_NOTFOUND);
	assert_int_equal(ctl_call(&t, WIRE_API_CREATE_TOPICS, 8, &b), KB_ERR_NOTFOUND);
	kb_buf_fini(&b);
	ctl_close(&t);
}

int main(void)
{
	tu_log_quiet(); /* a passing run prints no log lines */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raft_new_restarts_from_quorum_state),
		cmocka_unit_test(test_raft_new_refuses_bad_state),
		cmocka_unit_test(test_raft_election_timeout_starts_pre_vote),
		cmocka_unit_test(test_raft_pre_vote_majority_becomes_candidate),
		cmocka_unit_test(test_raft_candidate_timeout_returns_to_prospective),
		cmocka_unit_test(test_raft_no_pre_vote_timeout_becomes_candidate),
		cmocka_unit_test(test_raft_vote_persisted_before_sent),
		cmocka_unit_test(test_raft_vote_granted_once_per_epoch),
		cmocka_unit_test(test_raft_vote_rejects_stale_log),
		cmocka_unit_test(test_raft_pre_vote_changes_nothing),
		cmocka_unit_test(test_raft_follower_rejects_pre_vote_while_leader_alive),
		cmocka_unit_test(test_raft_candidate_wins_and_appends_leader_change),
		cmocka_unit_test(test_raft_single_voter_leads_alone),
		cmocka_unit_test(test_raft_higher_epoch_steps_down),
		cmocka_unit_test(test_raft_stale_epoch_request_fenced),
		cmocka_unit_test(test_raft_fetch_advances_high_watermark_on_majority),
		cmocka_unit_test(test_raft_hw_waits_for_own_epoch_entry),
		cmocka_unit_test(test_raft_follower_appends_and_takes_hw),
		cmocka_unit_test(test_raft_diverging_epoch_from_leader),
		cmocka_unit_test(test_raft_follower_truncates_to_diverging_epoch),
		cmocka_unit_test(test_raft_follower_longer_in_same_epoch_truncates),
		cmocka_unit_test(test_raft_follower_never_truncates_below_hw),
		cmocka_unit_test(test_raft_fetch_timeout_starts_pre_vote),
		cmocka_unit_test(test_raft_resign_sends_end_quorum_epoch),
		cmocka_unit_test(test_raft_check_quorum_resigns_isolated_leader),
		cmocka_unit_test(test_raft_resigned_times_out_to_prospective),
		cmocka_unit_test(test_raft_prospective_follows_leader_that_answers),
		cmocka_unit_test(test_raft_bad_input_refused),
		cmocka_unit_test(test_raft_bad_fetch_response_ignored),
		cmocka_unit_test(test_raft_snapshot_taken_checks_and_drops_prefix),
		cmocka_unit_test(test_raft_snapshot_id_must_end_a_batch),
		cmocka_unit_test(test_raft_leader_answers_below_log_start_with_snapshot),
		cmocka_unit_test(test_raft_follower_fetches_snapshot_then_resumes),
		cmocka_unit_test(test_raft_snapshot_download_failed_fetches_again),
		cmocka_unit_test(test_raft_restart_behind_snapshot_resets),
		cmocka_unit_test(test_raft_random_messages_keep_invariants),
		cmocka_unit_test(test_raft_simulation),
		cmocka_unit_test(test_raft_pre_vote_isolated_voter_keeps_epoch),
		cmocka_unit_test(test_raft_pre_vote_isolated_leader_rejoins),
		cmocka_unit_test(test_raft_pre_vote_elects_when_leader_dies),
		cmocka_unit_test(test_raft_observer_finds_leader_past_cut_off_candidate),
		cmocka_unit_test(test_raft_quorum_file_kafka_layout_round_trip),
		cmocka_unit_test(test_raft_quorum_file_reads_kafka_written_file),
		cmocka_unit_test(test_raft_quorum_file_torn_is_corrupt),
		cmocka_unit_test(test_raft_quorum_file_foreign_or_bad_refused),
		cmocka_unit_test(test_raft_quorum_file_restart_keeps_vote),
		/* Metadata records and the image */
		cmocka_unit_test(test_meta_topic_record_bytes),
		cmocka_unit_test(test_meta_register_broker_bytes),
		cmocka_unit_test(test_meta_partition_change_bytes),
		cmocka_unit_test(test_meta_config_record_null_value_bytes),
		cmocka_unit_test(test_meta_round_trip_every_type_and_version),
		cmocka_unit_test(test_meta_encode_refuses_field_missing_from_version),
		cmocka_unit_test(test_meta_decode_every_cut_is_corrupt),
		cmocka_unit_test(test_meta_decode_kafka_serde_test_cases),
		cmocka_unit_test(test_meta_decode_bad_frames),
		cmocka_unit_test(test_meta_decode_garbage_never_crashes),
		cmocka_unit_test(test_meta_record_format_json),
		cmocka_unit_test(test_meta_record_format_every_type),
		cmocka_unit_test(test_meta_image_brokers_register_fence_unfence),
		cmocka_unit_test(test_meta_image_topics_and_partitions),
		cmocka_unit_test(test_meta_image_configs_and_remove_topic),
		cmocka_unit_test(test_meta_image_producer_ids_features_acls_scram),
		cmocka_unit_test(test_meta_image_many_topics),
		cmocka_unit_test(test_raft_wire_vote_fixtures),
		cmocka_unit_test(test_raft_wire_begin_quorum_epoch_fixtures),
		cmocka_unit_test(test_raft_wire_end_quorum_epoch_fixtures),
		cmocka_unit_test(test_raft_wire_core_messages_round_trip),
		cmocka_unit_test(test_raft_wire_other_partition_is_an_error_code),
		cmocka_unit_test(test_raft_wire_describe_quorum),
		cmocka_unit_test(test_raft_wire_garbage_never_crashes),
		/* the metadata log over chapter 03, Fetch on the wire, observers */
		cmocka_unit_test(test_raft_observer_follows_leader_never_votes),
		cmocka_unit_test(test_raft_observer_refused_or_cut_asks_voters_again),
		cmocka_unit_test(test_raft_leader_serves_observer_without_counting_it),
		cmocka_unit_test(test_raft_wire_fetch_fixtures_every_version),
		cmocka_unit_test(test_raft_wire_fetch_kafka_shapes),
		cmocka_unit_test(test_raft_wire_fetch_core_round_trip),
		cmocka_unit_test(test_raft_wire_fetch_garbage_never_crashes),
		cmocka_unit_test(test_raft_metadata_log_three_nodes_commit_and_restart),
		cmocka_unit_test(test_raft_metadata_log_snapshot_ops),
		/* Snapshots */
		cmocka_unit_test(test_meta_image_write_order),
		cmocka_unit_test(test_meta_snapshot_round_trip),
		cmocka_unit_test(test_meta_snapshot_kafka_layout),
		cmocka_unit_test(test_meta_snapshot_file_write_read_latest_delete),
		cmocka_unit_test(test_meta_snapshot_leftover_part_deleted_at_open),
		cmocka_unit_test(test_meta_snapshot_damage_is_corrupt),
		cmocka_unit_test(test_meta_snapshot_contradicting_records_corrupt),
		cmocka_unit_test(test_meta_snapshot_control_format),
		cmocka_unit_test(test_meta_snapshot_dump_log_shows_it),
		/* FetchSnapshot and Envelope on the wire */
		cmocka_unit_test(test_raft_wire_fetch_snapshot_request_fixtures),
		cmocka_unit_test(test_raft_wire_fetch_snapshot_response_fixtures),
		cmocka_unit_test(test_raft_wire_envelope_fixtures),
		cmocka_unit_test(test_raft_wire_fetch_snapshot_envelope_garbage),
		/* The controller */
		cmocka_unit_test(test_ctrl_registration_epoch_is_record_offset),
		cmocka_unit_test(test_ctrl_registration_refusals),
		cmocka_unit_test(test_ctrl_heartbeat_unfences_caught_up_broker),
		cmocka_unit_test(test_ctrl_tick_fences_expired_broker_and_moves_leaders),
		cmocka_unit_test(test_ctrl_tick_elects_leaderless_partition_once),
		cmocka_unit_test(test_ctrl_controlled_shutdown_moves_leadership_first),
		cmocka_unit_test(test_ctrl_create_topics_answers_as_chapter_06),
		cmocka_unit_test(test_ctrl_place_one_replica_per_rack_leaders_even),
		cmocka_unit_test(test_ctrl_wire_broker_rpcs_bytes),
		cmocka_unit_test(test_ctrl_fenced_brokers_follow_never_lead),
		cmocka_unit_test(test_ctrl_delete_topics_and_create_partitions),
		cmocka_unit_test(test_ctrl_alter_configs_write_config_records),
		cmocka_unit_test(test_ctrl_allocate_producer_ids_blocks_of_1000),
		cmocka_unit_test(test_ctrl_bad_input_refused),
		cmocka_unit_test(test_ctrl_rf3_one_replica_per_rack_isr_all_replicas),
		cmocka_unit_test(test_ctrl_alter_partition_rules),
		cmocka_unit_test(test_ctrl_wire_alter_partition_bytes),
		cmocka_unit_test(test_ctrl_unclean_leader_election_off_and_on),
		cmocka_unit_test(test_ctrl_elect_leaders_and_auto_rebalance),
		cmocka_unit_test(test_ctrl_controlled_shutdown_rf3_leaves_isrs),
		cmocka_unit_test(test_ctrl_elect_leaders_error_body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
