/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07, the controller node — the leader of the quorum is the
 * active controller: it decides (07_controller*.c), writes the decision
 * to the metadata log, and answers once the log has committed it.
 *
 * Concept:
 *   Requests for the controller (a broker registering or heartbeating,
 *   a topic being created, forwarded in an Envelope or sent directly)
 *   wait in one queue. One at a time, the controller decides on the
 *   committed image, the records are proposed as one batch, and the
 *   response leaves when that batch is applied: a broker never hears
 *   "created" for a topic the quorum could still lose. Only the Raft
 *   leader decides, and only once it has applied every record of the
 *   epochs before its own.
 *
 * Kafka:
 *   QuorumController: its event queue, ControllerWriteEvent (records
 *   appended, the future completed at commit), activation on
 *   handleLeaderChange after the new epoch's first batch, NOT_CONTROLLER
 *   when it is not active; ControllerApis on the controller listener,
 *   EnvelopeRequest (58, KIP-590) for requests brokers forward.
 *
 * Interface:
 *   - ctrl_node_open after raft_node_open; ctrl_node_close before
 *     raft_node_close. Serves 58, 62, 63, 67 and the topic admin APIs on
 *     the CONTROLLER listener.
 *
 * Invariants / States (ctrl_node_check):
 *   1. At most one job is in flight (proposed, not yet committed): the
 *      image each decision sees holds every record decided before.
 *   2. active implies this node leads epoch active_epoch and has applied
 *      its log up to where that epoch began.
 *   Inactive -> Active when the leader applied its epoch's start
 *   (node_changed); Active -> Inactive when leadership or epoch changes,
 *   failing every job with NOT_CONTROLLER (ctrl_node_deactivate).
 *
 * Simplifications:
 *   A request whose body turns out malformed once its turn comes is not
 *   answered, and its connection is closed at its deadline (Kafka decodes
 *   before queueing). A forwarded request's principal is not checked
 *   (chapter 12 adds ACLs). Internal topics may be created by requests sent
 *   straight to the controller listener (brokers' own, unforwarded).
 *
 * See also: docs/07_controller_node.md, diagrams/07_controller_node.dot,
 *   tests/clients/test_cluster.py. Uses chapters 00 (base), 04 (codec),
 *   05 (server: purgatory, timers), 06 (topics: per-API error bodies).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"
#include "07_controller.h"
#include "07_node.h"
#include "07_quorum_wire.h"

/* KAFKA: request.timeout.ms of the brokers' controller channel (30 s). */
#define CTRL_NODE_REQUEST_TIMEOUT_MS 30000
/* How often ctrl_tick looks for expired sessions (ms). */
#define CTRL_NODE_TICK_MS 100

/* One request waiting for the controller (KAFKA: a ControllerWriteEvent). */
struct ctrl_job {
	struct ctrl_node *cn;
	struct net_request req;     /* a copy; its views live while parked */
	struct wire_reader body;    /* the controller request's body */
	struct wire_request_header inner; /* Envelope: the forwarded header */
	bool envelope;
	struct kb_buf response;     /* owned: the body to send */
	int64_t last_offset;        /* in flight: committed past this */
	bool parked;                /* its connection still waits */
	bool queued;                /* in cn's queue or in flight */
	bool done;                  /* response is final */
	struct ctrl_job *next;      /* the queue */
};

struct ctrl_node {
	struct net_server *srv;     /* borrowed */
	struct raft_node *rn;       /* borrowed */
	struct ctrl *ctrl;          /* owned */
	bool active;                /* INVARIANT 2 */
	int32_t active_epoch;
	int32_t leading_epoch;      /* the epoch leader_start belongs to */
	int64_t leader_start;       /* log end when we began leading it */
	struct ctrl_job *head, *tail; /* waiting, in order */
	struct ctrl_job *in_flight;   /* INVARIANT 1 */
	bool tick_in_flight;          /* in_flight holds ctrl_tick's records */
	bool deciding;                /* job_run is on the stack (INVARIANT 1) */
	struct ctrl_job tick_job;     /* ctrl_tick's: never parked, no client */
};

static void node_changed(void *ctx, struct raft_node *n);
static void ctrl_node_tick(void *ctx, int64_t now_ms);
static void ctrl_node_pump(struct ctrl_node *cn);
static void job_finish(struct ctrl_job *j);
static void job_fail(struct ctrl_job *j, int16_t error);
static void ctrl_node_deactivate(struct ctrl_node *cn);

/* ---- Lifecycle ---- */

static int handle_controller(struct net_request *req, struct net_response *resp);

#define CN_CONTROLLER (1u << NET_LISTENER_CONTROLLER)
static const struct net_api ctrl_node_apis[] = {
	{WIRE_API_ENVELOPE, 0, 0, handle_controller, NULL, CN_CONTROLLER},
	{WIRE_API_BROKER_REGISTRATION, 0, 4, handle_controller, NULL, CN_CONTROLLER},
	{WIRE_API_BROKER_HEARTBEAT, 0, 1, handle_controller, NULL, CN_CONTROLLER},
	{WIRE_API_ALLOCATE_PRODUCER_IDS, 0, 0, handle_controller, NULL, CN_CONTROLLER},
	{WIRE_API_ALTER_PARTITION, 0, 3, handle_controller, NULL, CN_CONTROLLER},
	{WIRE_API_ELECT_LEADERS, 0, 2, handle_controller, NULL, CN_CONTROLLER},
	{WIRE_API_CREATE_TOPICS, 2, 7, handle_controller, NULL, CN_CONTROLLER},
	{WIRE_API_DELETE_TOPICS, 1, 6, handle_controller, NULL, CN_CONTROLLER},
	{WIRE_API_CREATE_PARTITIONS, 0, 3, handle_controller, NULL, CN_CONTROLLER},
	{WIRE_API_ALTER_CONFIGS, 0, 2, handle_controller, NULL, CN_CONTROLLER},
	{WIRE_API_INCREMENTAL_ALTER_CONFIGS, 0, 1, handle_controller, NULL,
	 CN_CONTROLLER},
};

int ctrl_node_open(struct net_server *srv, struct raft_node *n,
		   const struct ctrl_config *cfg, struct ctrl_node **out)
{
	struct ctrl_node *cn = calloc(1, sizeof *cn);
	if (!cn)
		return KB_ERR_NOMEM;
	cn->srv = srv;
	cn->rn = n;
	cn->leading_epoch = -1;
	int rc = ctrl_new(cfg, &cn->ctrl);
	for (size_t i = 0; rc == KB_OK && i < KB_ARRAY_LEN(ctrl_node_apis); i++) {
		struct net_api api = ctrl_node_apis[i];
		api.ctx = cn;
		rc = net_register(srv, &api);
	}
	if (rc == KB_OK)
		rc = raft_node_subscribe(n, node_changed, cn);
	if (rc == KB_OK)
		rc = net_every(srv, CTRL_NODE_TICK_MS,
			       (struct net_callback){ctrl_node_tick, cn});
	if (rc != KB_OK) {
		ctrl_free(cn->ctrl);
		free(cn);
		return rc;
	}
	*out = cn;
	return KB_OK;
	cn->deciding = false;
}

int ctrl_node_extend(struct ctrl_node *cn, const struct ctrl_extension *e)
{
	int rc = ctrl_extend(cn->ctrl, e);
	if (rc != KB_OK)
		return rc;
	struct net_api api = {e->api_key, e->min_version, e->max_version,
			      handle_controller, cn, CN_CONTROLLER};
	return net_register(cn->srv, &api);
}

void ctrl_node_close(struct ctrl_node *cn)
{
	if (!cn)
		return;
	raft_node_unsubscribe(cn->rn, node_changed, cn);
	ctrl_node_deactivate(cn); /* every waiting request hears NOT_CONTROLLER */
	ctrl_free(cn->ctrl);
	free(cn);
}

/* ---- Becoming the active controller (KAFKA: handleLeaderChange) ---- */

static void node_changed(void *ctx, struct raft_node *n)
{
	struct ctrl_node *cn = ctx;
	struct raft_quorum_state qs = raft_node_quorum(n);
	bool leading = raft_node_state(n) == RAFT_LEADER;
	if (cn->active && (!leading || qs.leader_epoch != cn->active_epoch))
		ctrl_node_deactivate(cn);
	if (leading && cn->leading_epoch != qs.leader_epoch) {
		cn->leading_epoch = qs.leader_epoch;
		cn->leader_start = raft_node_end_offset(n);
	}
	if (leading && !cn->active && raft_node_applied(n) >= cn->leader_start) {
		ctrl_activate(cn->ctrl, raft_node_image(n), kb_mono_ms());
		cn->active = true;
		cn->active_epoch = qs.leader_epoch;
		KB_INFO("controller: node %" PRId32 " is the active controller "
			"in epoch %" PRId32, raft_node_config(n)->raft.node_id,
			qs.leader_epoch);
	}
	struct ctrl_job *j = cn->in_flight;
	if (j && raft_node_applied(n) > j->last_offset) { /* committed */
		cn->in_flight = NULL;
		cn->tick_in_flight = false;
		job_finish(j);
	}
	ctrl_node_pump(cn);
}

/* INVARIANT 2 broken by the quorum: nothing waiting is decided here. */
static void ctrl_node_deactivate(struct ctrl_node *cn)
{
	if (cn->active)
		KB_INFO("controller: no longer active (epoch %" PRId32 ")",
			cn->active_epoch);
	cn->active = false;
	struct ctrl_job *j = cn->in_flight;
	cn->in_flight = NULL;
	cn->tick_in_flight = false;
	if (j)
		job_fail(j, KAFKA_ERR_NOT_CONTROLLER);
	while ((j = cn->head)) {
		cn->head = j->next;
		job_fail(j, KAFKA_ERR_NOT_CONTROLLER);
	}
	cn->tail = NULL;
}

/* ---- The queue (KAFKA: the controller's event queue) ---- */

/* Propose out's records as one batch; KB_OK and *last_offset if any. */
static int propose(struct ctrl_node *cn, const struct ctrl_output *out,
		   int64_t *last_offset)
{
	struct raft_record *recs = calloc((size_t)out->n, sizeof *recs);
	if (!recs)
		return KB_ERR_NOMEM;
	for (int i = 0; i < out->n; i++) {
		size_t start = i ? out->ends[i - 1] : 0;
		recs[i] = (struct raft_record){out->records.data + start,
					       out->ends[i] - start};
	}
	int rc = raft_node_propose(cn->rn, recs, out->n, last_offset);
	free(recs);
	return rc;
}

static struct ctrl_input job_input(struct ctrl_node *cn, struct ctrl_job *j)
{
	struct ctrl_input in = {
		j->envelope ? j->inner.api_key : j->req.header.api_key,
		j->envelope ? j->inner.api_version : j->req.header.api_version,
		j->body, raft_node_image(cn->rn), raft_node_end_offset(cn->rn),
		kb_mono_ms(), !j->envelope};
	return in;
}

/* Decide the next job (INVARIANT 1: only when none is in flight). */
static void job_run(struct ctrl_node *cn, struct ctrl_job *j)
{
	struct ctrl_output out;
	ctrl_output_init(&out);
	struct ctrl_input in = job_input(cn, j);
	int rc = ctrl_handle(cn->ctrl, &in, &out);
	if (rc == KB_OK && out.n > 0)
		rc = propose(cn, &out, &j->last_offset);
	if (rc == KB_OK) {
		kb_buf_fini(&j->response);
		j->response = out.response; /* takes it */
		kb_buf_init(&out.response);
	}
	ctrl_output_fini(&out);
	if (rc == KB_OK && j->last_offset >= 0) {
		cn->in_flight = j;
		return;
	}
	if (rc == KB_OK)
		job_finish(j);
	else if (rc == KB_ERR_AGAIN)
		job_fail(j, KAFKA_ERR_NOT_CONTROLLER);
	else
		job_fail(j, rc == KB_ERR_PROTO ? KAFKA_ERR_INVALID_REQUEST :
			 KAFKA_ERR_UNKNOWN_SERVER_ERROR);
}

/* raft_node_propose may apply committed batches and so call back here
 * (node_changed) before job_run has made its job in_flight: the guard
 * keeps that nested call from deciding a second job meanwhile, whose
 * answer would be lost (seen under ASan as a leaked response). */
static void ctrl_node_pump(struct ctrl_node *cn)
{
	struct ctrl_job *j;
	if (cn->deciding)
		return;
	cn->deciding = true;
	while (cn->active && !cn->in_flight && (j = cn->head)) {
		cn->head = j->next;
		if (!cn->head)
			cn->tail = NULL;
		j->next = NULL;
		if (!j->parked) { /* its client left before its turn */
			j->queued = false;
			job_finish(j);
			continue;
		}
		job_run(cn, j);
	}
	cn->deciding = false;
}

/* Sessions that expired become FenceBrokerRecords (KAFKA: the periodic
 * maybeFenceStaleBroker and leader elections). */
static void ctrl_node_tick(void *ctx, int64_t now_ms)
{
	struct ctrl_node *cn = ctx;
	if (!cn->active || cn->in_flight || cn->head || cn->deciding)
		return;
	struct ctrl_output out;
	ctrl_output_init(&out);
	struct ctrl_input in = {0, 0, {0}, raft_node_image(cn->rn),
				raft_node_end_offset(cn->rn), now_ms, false};
	int rc = ctrl_tick(cn->ctrl, &in, &out);
	cn->deciding = true; /* as in ctrl_node_pump */
	if (rc == KB_OK && out.n > 0 &&
	    propose(cn, &out, &cn->tick_job.last_offset) == KB_OK) {
		cn->in_flight = &cn->tick_job;
		cn->tick_in_flight = true;
	}
	cn->deciding = false;
	ctrl_output_fini(&out);
	ctrl_node_pump(cn); /* what arrived while proposing */
}

/* ---- Answering ---- */

/* The error answer in the request's own shape. */
static int error_body(struct ctrl_job *j, int16_t error, struct kb_buf *out)
{
	struct wire_writer w;
	int16_t v = j->req.header.api_version;
	switch (j->req.header.api_key) {
	case WIRE_API_ENVELOPE: {
		struct raft_envelope_response e = {{NULL, -1}, error};
		return raft_envelope_response_encode(&e, v, out);
	}
	case WIRE_API_BROKER_REGISTRATION: {
		struct ctrl_registration_resp p = {error, -1};
		return ctrl_registration_resp_encode(&p, v, out);
	}
	case WIRE_API_BROKER_HEARTBEAT: {
		struct ctrl_heartbeat_resp p = {error, false, true, false};
		return ctrl_heartbeat_resp_encode(&p, v, out);
	}
	case WIRE_API_ALLOCATE_PRODUCER_IDS: {
		struct ctrl_producer_ids_resp p = {error, -1, 0};
		return ctrl_producer_ids_resp_encode(&p, v, out);
	}
	case WIRE_API_ALTER_PARTITION: {
		struct ctrl_alter_partition_resp p = {error, 0, NULL};
		return ctrl_alter_partition_resp_encode(&p, v, out);
	}
	case WIRE_API_ELECT_LEADERS:
		wire_writer_init(&w, out, wire_is_flexible(WIRE_API_ELECT_LEADERS, v));
		return ctrl_elect_leaders_error_body(&j->req, error, &w);
	default:
		wire_writer_init(&w, out, wire_is_flexible(j->req.header.api_key, v));
		return topic_error_body(&j->req, error, &w);
	}
}

/* Wrap a forwarded request's answer: inner response header, then body. */
static int envelope_body(struct ctrl_job *j, struct kb_buf *out)
{
	struct kb_buf inner;
	kb_buf_init(&inner);
	struct wire_writer w;
	wire_writer_init(&w, &inner, false);
	wire_write_response_header(&w, &j->inner);
	wire_write_raw(&w, j->response.data, j->response.len);
	int rc = w.err;
	struct raft_envelope_response e = {
		{inner.data, (int32_t)inner.len}, KAFKA_ERR_NONE};
	if (rc == KB_OK)
		rc = raft_envelope_response_encode(&e, 0, out);
	kb_buf_fini(&inner);
	return rc;
}

static void job_free(struct ctrl_job *j)
{
	kb_buf_fini(&j->response);
	free(j);
}

/* The response is final: send it if someone waits, else let it go. */
static void job_finish(struct ctrl_job *j)
{
	if (j == NULL || !j->cn || j->req.conn == NULL)
		return; /* the tick's job: nobody to answer */
	j->done = true;
	j->queued = false;
	if (j->parked)
		net_wake(j->cn->srv, j);
	else
		job_free(j);
}

static void job_fail(struct ctrl_job *j, int16_t error)
{
	if (j->req.conn == NULL)
		return; /* the tick's job */
	j->response.len = 0;
	if (j->envelope) { /* the forwarding broker retries elsewhere */
		j->envelope = false;
		j->req.header.api_key = WIRE_API_ENVELOPE;
	}
	if (error_body(j, error, &j->response) != KB_OK)
		j->response.len = 0;
	job_finish(j);
}

static bool job_try(struct net_delayed *op, struct net_response *resp,
		    bool expired)
{
	struct ctrl_job *j = net_delayed_ctx(op);
	if (!j->done && expired && !j->queued)
		return false; /* never decided: closed (see Simplifications) */
	if (!j->done && expired) {
		struct kb_buf err;
		kb_buf_init(&err);
		int rc = error_body(j, KAFKA_ERR_REQUEST_TIMED_OUT, &err);
		if (rc == KB_OK)
			wire_write_raw(&resp->w, err.data, err.len);
		kb_buf_fini(&err);
		return rc == KB_OK;
	}
	if (!j->done)
		return false;
	if (j->envelope && j->response.len > 0) {
		struct kb_buf env;
		kb_buf_init(&env);
		int rc = envelope_body(j, &env);
		wire_write_raw(&resp->w, env.data, env.len);
		kb_buf_fini(&env);
		return rc == KB_OK;
	}
	wire_write_raw(&resp->w, j->response.data, j->response.len);
	return j->response.len > 0;
}

/* The op let go of the job: free it unless the queue still has it. */
static void job_release(void *ctx)
{
	struct ctrl_job *j = ctx;
	j->parked = false;
	if (!j->queued)
		job_free(j);
}

/* ---- The handler ---- */

/* An Envelope's inner request becomes the job's request. */
static int job_unwrap(struct ctrl_job *j)
{
	struct raft_envelope_request e;
	struct wire_reader *b = &j->req.body;
	if (raft_envelope_request_decode(0, b->p + b->pos, wire_remaining(b), &e) !=
	    KB_OK || e.request_data.len <= 0)
		return KB_ERR_PROTO;
	wire_reader_init(&j->body, e.request_data.p, (size_t)e.request_data.len,
			 false);
	if (wire_read_request_header(&j->body, &j->inner) != KB_OK)
		return KB_ERR_PROTO;
	j->envelope = true;
	return KB_OK;
}

static int handle_controller(struct net_request *req, struct net_response *resp)
{
	struct ctrl_node *cn = req->ctx;
	struct ctrl_job *j = calloc(1, sizeof *j);
	if (!j)
		return KB_ERR_NOMEM;
	*j = (struct ctrl_job){cn, *req, req->body};
	j->last_offset = -1;
	kb_buf_init(&j->response);
	if (req->header.api_key == WIRE_API_ENVELOPE && job_unwrap(j) != KB_OK) {
		job_free(j);
		return KB_ERR_PROTO;
	}
	struct net_wait w = {kb_mono_ms() + CTRL_NODE_REQUEST_TIMEOUT_MS,
			     job_try, j, job_release};
	struct net_delayed *op;
	j->parked = true;
	int rc = net_park(req, resp, &w, &op); /* takes j, even on failure */
	if (rc != KB_OK)
		return rc;
	j->queued = true;
	if ((rc = net_watch(op, j)) != KB_OK)
		return rc;
	if (!cn->active) {
		job_fail(j, KAFKA_ERR_NOT_CONTROLLER);
	} else {
		if (cn->tail)
			cn->tail->next = j;
		else
			cn->head = j;
		cn->tail = j;
		ctrl_node_pump(cn);
	}
	return NET_PARKED;
}
