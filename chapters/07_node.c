/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07, the quorum node — the Raft core of 07_raft.c on the network:
 * its messages become Kafka RPCs, its time is the reactor's clock, its
 * log and quorum-state are files, and what it commits becomes the image.
 *
 * Concept:
 *   The core is pure; this file is its driver. Requests from other voters
 *   (Vote, BeginQuorumEpoch, EndQuorumEpoch, Fetch of __cluster_metadata)
 *   arrive on the CONTROLLER listener and are stepped through the core,
 *   whose answer is the response. What the core wants sent goes out on a
 *   peer connection to that voter; replies are stepped back in. Every
 *   committed batch is applied to one meta_image that the controller and
 *   the broker read; every so many bytes the image is written as a
 *   snapshot, and a follower too far behind downloads the leader's
 *   (FetchSnapshot) instead of the log it no longer has.
 *
 * Kafka:
 *   KafkaRaftClient's driver loop (KafkaRaftClientDriver), RaftManager,
 *   the listener named by controller.listener.names, and the
 *   MetadataLoader that applies committed batches to the MetadataImage.
 *   A leader parks a Fetch that finds nothing new, up to 500 ms, and
 *   answers it when its log or high watermark moves. RPCs leave at the
 *   newest version (raft_wire_max_version: Vote v2 carries KIP-996's
 *   PreVote); a VoteResponse does not say it answers a pre-vote, so the
 *   call remembers it (node_call.pre_vote).
 *
 * Interface:
 *   - raft_node_open after chapter 05's server, raft_node_close before
 *     net_server_free. Everything runs on the reactor thread.
 *   - raft_node_subscribe: told after each apply or quorum change.
 *   - raft_node_propose on the leader; the records are committed once
 *     raft_node_applied passes their offset.
 *
 * Invariants (raft_node_check):
 *   1. A quorum-state the core queued is durable before anything the core
 *      queued after it leaves (drain order: persist, then send); after a
 *      failed write nothing leaves until node_persist writes the newest.
 *   2. applied <= high watermark <= log end offset: the image holds only
 *      committed records, each applied once, in offset order.
 *   3. Peers exist for the other voters only, never for ourselves.
 *
 * Simplifications:
 *   Fixed voters (no KIP-853 reconfiguration). A record the image refuses
 *   (an unknown broker's fence, say) is logged and skipped; Kafka's
 *   MetadataLoader would raise a fault. A snapshot is fetched in 1 MiB chunks
 *   with no progress timer of its own: the follower's fetch timeout runs
 *   meanwhile (KafkaRaftClient resets it on each FetchSnapshot answer).
 *
 * See also: docs/07_node.md, diagrams/07_node.dot, tests/clients/test_cluster.py;
 *   the snapshots (written, loaded, served, downloaded): 07_node_snapshot.c.
 *   Uses chapters 00 (base), 01 (segment: batch attributes), 04 (codec),
 *   05 (server: listeners, peers, purgatory, timers).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "00_base.h"
#include "01_segment.h"
#include "04_codec.h"
#include "05_server.h"
#include "07_metadata.h"
#include "07_node.h"
#include "07_node_internal.h"
#include "07_quorum_log.h"
#include "07_quorum_wire.h"
#include "07_raft.h"
#include "07_snapshot.h"

/* How often the core's timers are looked at (ms). */
#define NODE_TICK_MS 10
/* How often a quorum-state that could not be written is tried again (ms). */
#define NODE_PERSIST_RETRY_MS 1000
/* The versions this node sends (both ends are samsa's codec). */
/* Each RPC at the newest version: Vote v2 carries PreVote (KIP-996). */
/* Bytes of committed log read per apply step. */
#define NODE_APPLY_READ_BYTES (1024 * 1024)


/* A call to a voter in flight (its reply is stepped in). */
struct node_call {
	struct raft_node *n;
	int32_t to;
	int32_t correlation_id;
	enum raft_msg_type reply_type;
	int16_t version;
	bool pre_vote; /* a Vote: its answer is a pre-vote's (KIP-996) */
};

/* A Fetch parked on the leader until the log moves. */
struct node_parked_fetch {
	struct raft_node *n;
	struct raft_msg msg; /* the request, to step again */
	int16_t version;
};

static int node_register(struct raft_node *n);
static void node_tick(void *ctx, int64_t now_ms);
static void node_persist(struct raft_node *n);
static void node_send(struct raft_node *n, struct raft_output *o);
static void node_reply(void *ctx, int status, struct wire_reader *body);
static void node_apply(struct raft_node *n);
static int node_apply_batch(struct raft_node *n, const uint8_t *p, size_t len);
static void node_after(struct raft_node *n);
static void node_wake_later(struct raft_node *n);
static int node_step_request(struct raft_node *n, struct raft_msg *m,
			     int16_t version, struct kb_buf *out);

/* ---- Lifecycle ---- */

static int node_open_peers(struct raft_node *n)
{
	for (int i = 0; i < n->cfg.raft.n_voters; i++) {
		const struct raft_node_voter *v = &n->cfg.voters[i];
		if (v->id == n->cfg.raft.node_id)
			continue; /* INVARIANT 3 */
		char client_id[48];
		snprintf(client_id, sizeof client_id, "raft-client-%" PRId32,
			 n->cfg.raft.node_id);
		struct net_peer_config pc = {
			v->host, v->port, client_id, n->cfg.raft.request_timeout_ms,
			n->cfg.raft.retry_backoff_ms};
		int rc = net_peer_open(n->srv, &pc, &n->peers[i]);
		if (rc != KB_OK)
			return rc;
	}
	return KB_OK;
}

/* The core from the files: the log, then quorum-state if there is one. */
static int node_start_core(struct raft_node *n)
{
	struct raft_quorum_state qs;
	const char *dir = raft_metadata_log_dir(n->log);
	int rc = raft_quorum_file_read(dir, &n->cfg.raft, &qs);
	if (rc != KB_OK && rc != KB_ERR_NOTFOUND) {
		KB_ERROR("raft: %s/%s is not this quorum's (cluster.id, voters)",
			 dir, RAFT_QUORUM_STATE_FILE);
		return rc;
	}
	struct raft_durable d = {&raft_metadata_log_ops, n->log,
				 rc == KB_OK ? &qs : NULL};
	return raft_new(&n->cfg.raft, &d, kb_mono_ms(), &n->raft);
}

int raft_node_open(struct net_server *srv, const struct raft_node_config *cfg,
		   struct raft_node **out)
{
	struct raft_node *n = calloc(1, sizeof *n);
	if (!n)
		return KB_ERR_NOMEM;
	n->cfg = *cfg;
	n->srv = srv;
	n->sf.fd = -1;
	meta_image_init(&n->img);
	int rc = raft_metadata_log_open(cfg->log_dir, &n->log);
	if (rc == KB_OK)
		rc = node_load_snapshot(n);
	if (rc == KB_OK)
		rc = node_start_core(n);
	if (rc == KB_OK)
		rc = node_open_peers(n);
	if (rc == KB_OK)
		rc = node_register(n);
	if (rc == KB_OK)
		rc = net_every(srv, NODE_TICK_MS, (struct net_callback){node_tick, n});
	if (rc != KB_OK) {
		raft_node_close(n);
		return rc;
	}
	n->seen_state = raft_state(n->raft);
	n->seen_qs = raft_quorum(n->raft);
	n->last_end = raft_node_end_offset(n);
	KB_INFO("raft: node %" PRId32 " starts %s in epoch %" PRId32
		" with log end %" PRId64, cfg->raft.node_id,
		raft_state_name(n->seen_state), n->seen_qs.leader_epoch,
		raft_node_end_offset(n));
	node_drain(n);
	*out = n;
	return KB_OK;
}

void raft_node_close(struct raft_node *n)
{
	if (!n)
		return;
	n->closing = true; /* replies of closing peers only free their calls */
	node_snapshot_abort(n);
	for (int i = 0; i < RAFT_MAX_VOTERS; i++)
		if (n->peers[i])
			net_peer_close(n->peers[i]);
	raft_free(n->raft);
	if (n->log)
		raft_metadata_log_close(n->log);
	meta_image_fini(&n->img);
	free(n);
}

int raft_node_subscribe(struct raft_node *n, raft_node_changed_fn fn, void *ctx)
{
	if (n->nsubs == RAFT_NODE_SUBSCRIBERS_MAX)
		return KB_ERR_RANGE;
	n->subs[n->nsubs++] = (struct node_subscriber){fn, ctx};
	return KB_OK;
}

void raft_node_unsubscribe(struct raft_node *n, raft_node_changed_fn fn,
			   void *ctx)
{
	for (int i = 0; i < n->nsubs; i++)
		if (n->subs[i].fn == fn && n->subs[i].ctx == ctx) {
			n->subs[i] = n->subs[--n->nsubs];
			return;
		}
}

/* ---- The core's clock and outbox ---- */

static void node_tick(void *ctx, int64_t now_ms)
{
	struct raft_node *n = ctx;
	raft_tick(n->raft, now_ms);
	if (n->persist_failed && kb_mono_ms() >= n->persist_retry_ms)
		node_persist(n);
	node_drain(n);
}

/* Write persist_pending; persist_failed says whether that failed (then
 * node_tick tries again in NODE_PERSIST_RETRY_MS: each failure logs). */
static void node_persist(struct raft_node *n)
{
	n->persist_retry_ms = kb_mono_ms() + NODE_PERSIST_RETRY_MS;
	int rc = raft_quorum_file_write(raft_metadata_log_dir(n->log),
					&n->cfg.raft, &n->persist_pending);
	if (rc != KB_OK && !n->persist_failed)
		KB_ERROR("raft: quorum-state not written; this node sends "
			 "nothing until it is");
	else if (rc == KB_OK && n->persist_failed)
		KB_INFO("raft: quorum-state written again; sending resumes");
	n->persist_failed = rc != KB_OK;
}

/* INVARIANT 1: outputs in order; a failed persist stops every later send
 * (the process must not promise what its disk does not hold) until the
 * newest quorum-state is written: node_tick retries it (a full disk that
 * gets room again), and what was not sent meanwhile raft's timers redo. */
void node_drain(struct raft_node *n)
{
	struct raft_output o;
	while (raft_pop(n->raft, &o)) {
		if (o.kind == RAFT_OUT_PERSIST) {
			n->persist_pending = o.persist;
			node_persist(n);
		} else if (n->persist_failed) {
			/* nothing leaves */
		} else if (o.kind == RAFT_OUT_FETCH_SNAPSHOT) {
			node_snapshot_start(n, o.snapshot_id, o.snapshot_leader_id);
		} else {
			node_send(n, &o);
		}
		raft_output_fini(&o);
	}
	raft_check(n->raft);
	node_apply(n);
	node_after(n);
}

/* A response to the request being stepped goes into its answer; any other
 * message goes to its voter's peer. */
static void node_send(struct raft_node *n, struct raft_output *o)
{
	const struct raft_msg *m = &o->msg;
	struct node_answer *a = n->answer;
	if (a && !a->answered && m->type == a->type && m->to == a->to &&
	    m->correlation_id == a->correlation_id) {
		a->answered = raft_wire_encode(m, a->version, a->out) == KB_OK;
		return;
	}
	int i = 0;
	while (i < n->cfg.raft.n_voters && n->cfg.voters[i].id != m->to)
		i++;
	if (i == n->cfg.raft.n_voters || !n->peers[i])
		return; /* a response whose request is gone, or to a stranger */
	bool fetch = m->type == RAFT_FETCH_REQUEST;
	struct node_call *c = malloc(sizeof *c);
	struct kb_buf body;
	kb_buf_init(&body);
	int16_t v = raft_wire_max_version(m->type);
	if (!c || raft_wire_encode(m, v, &body) != KB_OK) {
		free(c);
		kb_buf_fini(&body);
		return; /* the core resends on its timers */
	}
	*c = (struct node_call){n, m->to, m->correlation_id,
				(enum raft_msg_type)(m->type + 1), v,
				m->type == RAFT_VOTE_REQUEST && m->u.vote_req.pre_vote};
	struct net_call call = {
		fetch ? RAFT_FETCH_API_KEY : raft_wire_api_key(m->type), v,
		body.data, body.len, node_reply, c};
	if (net_peer_send(n->peers[i], &call) != KB_OK)
		free(c);
	kb_buf_fini(&body);
}

/* KAFKA: a voter of another cluster answers INCONSISTENT_CLUSTER_ID; the
 * core keeps trying (the other side may be the stranger), and the log
 * says why this node cannot join, once per voter. */
static void node_say_refused(struct raft_node *n, const struct raft_msg *m)
{
	if (m->error_code != KAFKA_ERR_INCONSISTENT_CLUSTER_ID)
		return;
	for (int i = 0; i < n->cfg.raft.n_voters; i++)
		if (n->cfg.voters[i].id == m->from && !n->refused_by[i]) {
			n->refused_by[i] = true;
			KB_ERROR("raft: voter %" PRId32 " refuses us: "
				 "INCONSISTENT_CLUSTER_ID: this node's cluster.id %s "
				 "(meta.properties) is not the quorum's; format it "
				 "with the cluster's id", m->from,
				 n->cfg.raft.cluster_id);
		}
}

/* A voter answered (or the call failed: the core retries on its timer). */
static void node_reply(void *ctx, int status, struct wire_reader *body)
{
	struct node_call *c = ctx;
	struct raft_node *n = c->n;
	if (status == KB_OK && !n->closing) {
		struct raft_msg m;
		memset(&m, 0, sizeof m);
		m.type = c->reply_type;
		if (raft_wire_decode(c->version, body->p + body->pos,
				     wire_remaining(body), &m) == KB_OK) {
			m.from = c->to;
			m.to = n->cfg.raft.node_id;
			m.correlation_id = c->correlation_id;
			if (m.type == RAFT_VOTE_RESPONSE) /* m.u is a union */
				m.u.vote_resp.pre_vote = c->pre_vote;
			node_say_refused(n, &m);
			raft_step(n->raft, &m);
			node_drain(n);
		} else {
			KB_WARN("raft: a malformed reply from voter %" PRId32, c->to);
		}
	}
	free(c);
}

/* ---- Applying what is committed (KAFKA: MetadataLoader) ---- */

/* INVARIANT 2: whole batches below the high watermark, once, in order. */
static void node_apply(struct raft_node *n)
{
	int64_t hw = raft_high_watermark(n->raft);
	struct kb_buf buf;
	kb_buf_init(&buf);
	while (n->applied < hw) {
		buf.len = 0;
		if (raft_metadata_log_ops.read(n->log, n->applied,
					       NODE_APPLY_READ_BYTES, &buf) != KB_OK)
			break;
		size_t pos = 0;
		struct seg_batch b;
		while (pos < buf.len &&
		       seg_batch_decode(buf.data + pos, buf.len - pos, &b) == KB_OK &&
		       seg_batch_size(&b) <= buf.len - pos &&
		       seg_batch_last_offset(&b) < hw) {
			if (b.base_offset >= n->applied) {
				node_apply_batch(n, buf.data + pos,
						 (size_t)seg_batch_size(&b));
				n->applied_epoch = b.partition_leader_epoch;
				n->bytes_since_snapshot += (int64_t)seg_batch_size(&b);
			}
			n->applied = KB_MAX(n->applied, seg_batch_last_offset(&b) + 1);
			pos += (size_t)seg_batch_size(&b);
		}
		if (pos == 0)
			break; /* the next batch is not committed whole yet */
	}
	kb_buf_fini(&buf);
	node_maybe_snapshot(n);
}

/* Control batches (LeaderChange) hold no metadata; every other record is
 * one framed metadata record. */
static int node_apply_batch(struct raft_node *n, const uint8_t *p, size_t len)
{
	struct wire_records it;
	struct wire_record rec;
	if (wire_records_init(&it, p, len) != KB_OK)
		return KB_ERR_CORRUPT;
	if (it.batch.attributes & SEG_ATTR_CONTROL)
		return KB_OK;
	int rc;
	while ((rc = wire_records_next(&it, &rec)) == KB_OK) {
		struct meta_record m;
		memset(&m, 0, sizeof m);
		int arc = rec.value.len < 0 ? KB_ERR_CORRUPT :
			meta_record_decode(rec.value.p, (size_t)rec.value.len, &m);
		if (arc == KB_OK)
			arc = meta_apply(&n->img, &m);
		if (arc != KB_OK)
			KB_WARN("raft: record at offset %" PRId64 " (%s) not applied: %s",
				rec.offset, meta_type_name(m.type) ? meta_type_name(m.type) : "?",
				kb_status_name(arc));
		meta_record_fini(&m);
	}
	return rc == KB_ERR_NOTFOUND ? KB_OK : rc;
}

/* Tell subscribers, and parked fetches, what moved. */
static void node_after(struct raft_node *n)
{
	struct raft_quorum_state qs = raft_quorum(n->raft);
	enum raft_state st = raft_state(n->raft);
	if (st != n->seen_state || qs.leader_epoch != n->seen_qs.leader_epoch ||
	    qs.leader_id != n->seen_qs.leader_id)
		KB_INFO("raft: node %" PRId32 " is %s in epoch %" PRId32
			" (leader %" PRId32 ")", n->cfg.raft.node_id,
			raft_state_name(st), qs.leader_epoch, qs.leader_id);
	n->seen_state = st;
	n->seen_qs = qs;
	int64_t end = raft_node_end_offset(n);
	if (end < n->last_end) /* KAFKA: "Truncated to offset ... from Fetch response" */
		KB_WARN("raft: node %" PRId32 " truncated its log from %" PRId64
			" to %" PRId64 " (records the leader does not have)",
			n->cfg.raft.node_id, n->last_end, end);
	n->last_end = end;
	for (int i = 0; i < n->nsubs; i++)
		n->subs[i].fn(n->subs[i].ctx, n);
	if (raft_node_end_offset(n) != n->seen_end ||
	    raft_high_watermark(n->raft) != n->seen_hw)
		node_wake_later(n);
}

/* ---- Requests from other voters (the CONTROLLER listener) ---- */

/* Step one decoded request; its response, if the core gave one, is in out. */
static int node_step_request(struct raft_node *n, struct raft_msg *m,
			     int16_t version, struct kb_buf *out)
{
	struct node_answer a = {(enum raft_msg_type)(m->type + 1), m->from,
				m->correlation_id, version, out, false};
	n->answer = &a;
	raft_step(n->raft, m);
	node_drain(n);
	n->answer = NULL;
	return a.answered ? KB_OK : KB_ERR_AGAIN;
}

static enum raft_msg_type node_request_type(int16_t api_key)
{
	switch (api_key) {
	case WIRE_API_VOTE: return RAFT_VOTE_REQUEST;
	case WIRE_API_BEGIN_QUORUM_EPOCH: return RAFT_BEGIN_QUORUM_EPOCH_REQUEST;
	case WIRE_API_END_QUORUM_EPOCH: return RAFT_END_QUORUM_EPOCH_REQUEST;
	default: return RAFT_FETCH_REQUEST;
	}
}

/* replica's slot: its own, a free one, or (all taken) one by id. */
static struct node_sent_hw *node_sent_slot(struct raft_node *n, int32_t replica)
{
	struct node_sent_hw *free_slot = NULL;
	for (int i = 0; i < NODE_SENT_HW_SLOTS; i++) {
		if (n->sent[i].used && n->sent[i].replica_id == replica)
			return &n->sent[i];
		if (!n->sent[i].used && !free_slot)
			free_slot = &n->sent[i];
	}
	struct node_sent_hw *s = free_slot ? free_slot :
		&n->sent[(uint32_t)replica % NODE_SENT_HW_SLOTS];
	*s = (struct node_sent_hw){replica, true, -1};
	return s;
}

/* The answer to replica's Fetch leaves now, with the current HW. */
static void node_fetch_answered(struct raft_node *n, int32_t replica)
{
	node_sent_slot(n, replica)->hw = raft_high_watermark(n->raft);
}

/* A Fetch that found nothing new waits for the log (KAFKA: the leader's
 * fetch purgatory for the metadata partition), unless its answer tells
 * the replica a high watermark it has not been told yet (Kafka's Fetch
 * v18 carries the follower's HW for this; v17 does not, so we remember). */
static bool node_fetch_is_empty(struct raft_node *n, const struct kb_buf *out,
				int16_t version, const struct raft_msg *req)
{
	struct raft_msg m;
	memset(&m, 0, sizeof m);
	m.type = RAFT_FETCH_RESPONSE;
	if (raft_state(n->raft) != RAFT_LEADER ||
	    raft_wire_decode(version, out->data, out->len, &m) != KB_OK)
		return false;
	return m.error_code == KAFKA_ERR_NONE && m.u.fetch_resp.records.len <= 0 &&
	       m.u.fetch_resp.diverging_epoch.epoch < 0 &&
	       m.u.fetch_resp.snapshot_id.epoch < 0 &&
	       req->u.fetch_req.fetch_offset >= raft_node_end_offset(n) &&
	       m.u.fetch_resp.high_watermark <= node_sent_slot(n, req->from)->hw;
}

static bool node_fetch_try(struct net_delayed *op, struct net_response *resp,
			   bool expired)
{
	struct node_parked_fetch *pf = net_delayed_ctx(op);
	struct raft_node *n = pf->n;
	if (!expired && raft_node_end_offset(n) == n->seen_end &&
	    raft_high_watermark(n->raft) == n->seen_hw)
		return false;
	struct kb_buf out;
	kb_buf_init(&out);
	int16_t err = KAFKA_ERR_NONE;
	if (node_step_request(n, &pf->msg, pf->version, &out) != KB_OK)
		err = KAFKA_ERR_UNKNOWN_SERVER_ERROR; /* no answer: say so */
	if (err == KAFKA_ERR_NONE) {
		node_fetch_answered(n, pf->msg.from);
		wire_write_raw(&resp->w, out.data, out.len);
	} else {
		resp->w.err = KB_ERR_INVAL; /* the connection is closed */
	}
	kb_buf_fini(&out);
	return true;
}

static int node_park_fetch(struct raft_node *n, struct net_request *req,
			   struct net_response *resp, const struct raft_msg *m)
{
	struct node_parked_fetch *pf = malloc(sizeof *pf);
	if (!pf)
		return KB_ERR_NOMEM;
	*pf = (struct node_parked_fetch){n, *m, req->header.api_version};
	struct net_wait w = {kb_mono_ms() + RAFT_NODE_FETCH_MAX_WAIT_MS,
			     node_fetch_try, pf, free};
	struct net_delayed *op;
	int rc = net_park(req, resp, &w, &op);
	if (rc != KB_OK)
		return rc;
	rc = net_watch(op, n);
	return rc == KB_OK ? NET_PARKED : rc;
}

/* Vote, BeginQuorumEpoch, EndQuorumEpoch and Fetch of __cluster_metadata. */
static int handle_quorum_rpc(struct net_request *req, struct net_response *resp)
{
	struct raft_node *n = req->ctx;
	struct raft_msg m;
	memset(&m, 0, sizeof m);
	m.type = node_request_type(req->header.api_key);
	int16_t v = req->header.api_version;
	if (raft_wire_decode(v, req->body.p + req->body.pos,
			     wire_remaining(&req->body), &m) != KB_OK)
		return KB_ERR_PROTO; /* KAFKA: InvalidRequestException closes */
	m.to = n->cfg.raft.node_id;
	m.correlation_id = req->header.correlation_id;
	struct kb_buf out;
	kb_buf_init(&out);
	int rc = node_step_request(n, &m, v, &out);
	if (rc == KB_OK && m.type == RAFT_FETCH_REQUEST &&
	    node_fetch_is_empty(n, &out, v, &m)) {
		kb_buf_fini(&out);
		return node_park_fetch(n, req, resp, &m);
	}
	if (rc == KB_OK && m.type == RAFT_FETCH_REQUEST)
		node_fetch_answered(n, m.from);
	if (rc == KB_OK)
		wire_write_raw(&resp->w, out.data, out.len);
	kb_buf_fini(&out);
	return rc == KB_OK ? KB_OK : KB_ERR_PROTO;
}

/* DescribeQuorum (55): the leader describes its voters; others say who leads. */
static int handle_describe_quorum(struct net_request *req,
				  struct net_response *resp)
{
	struct raft_node *n = req->ctx;
	int16_t v = req->header.api_version;
	int rc = raft_describe_quorum_request_decode(v, req->body.p + req->body.pos,
						     wire_remaining(&req->body));
	if (rc == KB_ERR_PROTO)
		return KB_ERR_PROTO;
	int16_t err = rc == KB_ERR_NOTFOUND ? KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION :
		raft_state(n->raft) == RAFT_LEADER ? KAFKA_ERR_NONE :
		KAFKA_ERR_NOT_LEADER_OR_FOLLOWER;
	struct kb_buf out;
	kb_buf_init(&out);
	rc = raft_describe_quorum_response_encode(n->raft, err, v, &out);
	if (rc == KB_OK)
		wire_write_raw(&resp->w, out.data, out.len);
	kb_buf_fini(&out);
	return rc == KB_OK ? KB_OK : KB_ERR_PROTO;
}

#define NODE_CONTROLLER (1u << NET_LISTENER_CONTROLLER)
#define NODE_BOTH (NODE_CONTROLLER | (1u << NET_LISTENER_BROKER))

static const struct net_api node_apis[] = {
	{WIRE_API_VOTE, 0, RAFT_VOTE_VERSION_MAX, handle_quorum_rpc, NULL, NODE_CONTROLLER},
	{WIRE_API_BEGIN_QUORUM_EPOCH, 0, 1, handle_quorum_rpc, NULL, NODE_CONTROLLER},
	{WIRE_API_END_QUORUM_EPOCH, 0, 1, handle_quorum_rpc, NULL, NODE_CONTROLLER},
	{RAFT_FETCH_API_KEY, RAFT_FETCH_VERSION_MIN, RAFT_FETCH_VERSION_MAX,
	 handle_quorum_rpc, NULL, NODE_CONTROLLER},
	{WIRE_API_DESCRIBE_QUORUM, 0, 2, handle_describe_quorum, NULL, NODE_BOTH},
	{WIRE_API_FETCH_SNAPSHOT, 0, 1, handle_fetch_snapshot, NULL, NODE_CONTROLLER},
};

/* A voter serves the quorum's RPCs; an observer (a broker only) serves
 * none of them: it only fetches. */
static int node_register(struct raft_node *n)
{
	bool voter = false;
	for (int i = 0; i < n->cfg.raft.n_voters; i++)
		voter |= n->cfg.raft.voters[i] == n->cfg.raft.node_id;
	for (size_t i = 0; voter && i < KB_ARRAY_LEN(node_apis); i++) {
		struct net_api api = node_apis[i];
		api.ctx = n;
		int rc = net_register(n->srv, &api);
		if (rc != KB_OK)
			return rc;
	}
	return KB_OK;
}

/* ---- Parked fetches wake on the next reactor turn ---- */

static void node_wake(void *ctx, int64_t now_ms)
{
	struct raft_node *n = ctx;
	(void)now_ms;
	n->wake_pending = false;
	int64_t end = raft_node_end_offset(n), hw = raft_high_watermark(n->raft);
	if (end == n->seen_end && hw == n->seen_hw)
		return;
	net_wake(n->srv, n); /* node_fetch_try compares with seen_* */
	n->seen_end = end;
	n->seen_hw = hw;
}

/* Not from inside a drain: a woken Fetch steps the core again. */
static void node_wake_later(struct raft_node *n)
{
	if (n->wake_pending)
		return;
	n->wake_pending = net_at(n->srv, kb_mono_ms(),
				 (struct net_callback){node_wake, n}) == KB_OK;
}

/* ---- Getters ---- */

const struct meta_image *raft_node_image(const struct raft_node *n) { return &n->img; }
int64_t raft_node_applied(const struct raft_node *n) { return n->applied; }
enum raft_state raft_node_state(const struct raft_node *n) { return raft_state(n->raft); }
struct raft_quorum_state raft_node_quorum(const struct raft_node *n) { return raft_quorum(n->raft); }
const struct raft_node_config *raft_node_config(const struct raft_node *n) { return &n->cfg; }

int64_t raft_node_end_offset(const struct raft_node *n)
{
	return raft_metadata_log_ops.end_offset(n->log);
}

int raft_node_propose(struct raft_node *n, const struct raft_record *recs,
		      int count, int64_t *last_offset)
{
	int rc = raft_propose(n->raft, recs, count, last_offset);
	if (rc == KB_OK || rc == KB_ERR_IO) /* KB_ERR_IO: resigned, tell them */
		node_drain(n);
	return rc;
}

const struct raft_node_voter *raft_node_voter(const struct raft_node *n,
					      int32_t id)
{
	for (int i = 0; i < n->cfg.raft.n_voters; i++)
		if (n->cfg.voters[i].id == id)
			return &n->cfg.voters[i];
	return NULL;
}

void raft_node_resign(struct raft_node *n)
{
	if (raft_resign(n->raft) == KB_OK)
		node_drain(n);
}

void raft_node_check(const struct raft_node *n)
{
	int64_t hw = raft_high_watermark(n->raft);
	assert(n->applied <= KB_MAX(hw, 0) || n->applied == 0); /* 2 */
	assert(hw <= raft_node_end_offset(n));
	for (int i = 0; i < n->cfg.raft.n_voters; i++) /* 3 */
		assert((n->cfg.voters[i].id == n->cfg.raft.node_id) ==
			  (n->peers[i] == NULL));
	raft_check(n->raft);
}
