/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07, the broker node — a broker of a KRaft cluster: it registers
 * with the active controller, keeps its session alive with heartbeats,
 * and makes its own topics match the metadata log.
 *
 * Concept:
 *   A broker does not decide what exists; the metadata log says. After
 *   each batch the quorum node applies, this file brings chapter 06's
 *   topics in line with the image: creates what is new (with the
 *   controller's topic id), grows partitions, replaces configs, sets
 *   each partition's leader, and deletes what the log removed. It tells
 *   chapter 06 who the brokers are and where partitions live, and sends
 *   admin requests on to the controller inside an Envelope.
 *
 * Kafka:
 *   BrokerLifecycleManager (BrokerRegistration 62, BrokerHeartbeat 63:
 *   fenced until caught up or while chapter 06's log dir is offline,
 *   controlled shutdown through want_shut_down),
 *   BrokerMetadataPublisher and KRaftMetadataCache (the image as the
 *   broker's view), ForwardingManager (Envelope 58, KIP-590), and
 *   AutoTopicCreationManager (CreateTopics to the controller).
 *
 * Interface:
 *   - broker_node_open after raft_node_open and chapter 06's topics;
 *     broker_node_close before either closes.
 *   - broker_node_shutdown on SIGTERM; done runs once.
 *   - cfg->leaders_changed after a sync moved a leadership to or from
 *     this node; broker_node_allocate_producer_ids asks the controller
 *     for a block of producer ids (chapters 09 and 11, wired in 15).
 *
 * Invariants / States (broker_node_check):
 *   1. At most one lifecycle call (registration or heartbeat) in flight.
 *   2. A local topic absent from the image is deleted only once the
 *      controller has unfenced us: a broker that restarts behind the
 *      log never deletes a topic an older image lacked.
 *   Unregistered -(registration answered)-> Fenced -(heartbeat says
 *   caught up)-> Unfenced -(broker_node_shutdown)-> ShuttingDown ->
 *   Stopped (should_shut_down, or the timeout). STALE_BROKER_EPOCH or
 *   BROKER_ID_NOT_REGISTERED send a broker back to Unregistered.
 *
 * Listeners: the registration carries every broker listener (never the
 *   controller's), each at its advertised address; chapter 06 asks for
 *   brokers by the name of the listener a request came in on (an SSL
 *   client is told SSL ports, a broker without that listener is left
 *   out); broker_node_endpoint answers inter.broker.listener.name's.
 *
 * Simplifications:
 *   The whole image is compared with the topics after every applied batch
 *   (Kafka applies the delta); fine for thousands of topics, not
 *   millions. The forwarding principal is null until chapter 12.
 *
 * See also: docs/07_broker_node.md, diagrams/07_broker_node.dot,
 *   tests/clients/test_cluster.py, tests/clients/test_secure_cluster.py. Uses chapters 00 (base), 04 (codec),
 *   05 (server: peers, purgatory, timers), 06 (topics and their hooks).
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"
#include "07_controller.h"
#include "07_metadata.h"
#include "07_node.h"
#include "07_quorum_wire.h"

/* Registration is retried this often until the controller answers (ms). */
#define BNODE_RETRY_MS 200
/* KAFKA: the CreateTopics the broker sends for auto-creation. */
#define BNODE_CREATE_TOPICS_VERSION 7
/* The same topic is asked for at most once per this many ms. */
#define BNODE_CREATE_AGAIN_MS 1000
/* KAFKA: MetadataVersion the broker supports ([1, 1]: the first KRaft one). */
#define BNODE_METADATA_VERSION 1
/* How long a forwarded request may wait (ms, KAFKA request.timeout.ms). */
#define BNODE_FORWARD_TIMEOUT_MS 30000

enum bnode_state {
	BNODE_UNREGISTERED, BNODE_FENCED, BNODE_UNFENCED,
	BNODE_SHUTTING_DOWN, BNODE_STOPPED,
};

struct broker_node {
	struct broker_node_config cfg;
	struct net_server *srv;      /* borrowed */
	struct raft_node *rn;        /* borrowed */
	struct topic_manager *tm;    /* borrowed */
	struct net_peer *peers[RAFT_MAX_VOTERS]; /* owned: to each voter */
	struct wire_uuid incarnation_id;
	enum bnode_state state;
	int64_t broker_epoch;        /* -1 until registered */
	bool in_flight;              /* INVARIANT 1 */
	int64_t next_call_ms;
	int64_t shutdown_deadline_ms;
	void (*shutdown_done)(void *ctx);
	void *shutdown_ctx;
	int64_t synced;              /* image applied up to here was synced */
	char host[RAFT_NODE_HOST_MAX]; /* broker_at's answer */
	char rack[64];
	char last_create[TOPIC_NAME_MAX + 1]; /* auto-creation asked last */
	int64_t last_create_ms;
	struct kb_buf config_marks;  /* struct bnode_mark: configs last applied */
	int refs;                    /* the node and its calls in flight */
	bool leaders_moved;          /* since leaders_changed was last called */
	bool disk_offline;           /* the log dir's state the last heartbeat told */
	bool closed;
};

/* A topic's configs as last applied locally: a fingerprint. */
struct bnode_mark {
	struct wire_uuid topic_id;
	uint32_t fingerprint;
};

/* A forwarded request: the client's parked request and the answer. */
struct bnode_forward {
	struct broker_node *bn;
	struct net_request req;  /* a copy; views live while parked */
	struct wire_reader body; /* the body as it arrived */
	struct kb_buf response;  /* owned: the controller's answer body */
	int16_t error;           /* when there is no answer: why */
	bool done;
	int refs;                /* the parked op and the call in flight */
};

static void bnode_tick(void *ctx, int64_t now_ms);
static void bnode_changed(void *ctx, struct raft_node *n);
static void bnode_sync(struct broker_node *bn);
static struct net_peer *bnode_controller(struct broker_node *bn);
static void bnode_unref(struct broker_node *bn);
static int cluster_broker_at(void *ctx, const char *listener, int32_t i,
			     struct topic_broker_info *out);
static int cluster_endpoint(void *ctx, int32_t id, const char *listener,
			    struct topic_broker_info *out);
static int cluster_replicas(void *ctx, const char *topic, int32_t partition,
			    struct topic_replicas *out);
static int32_t cluster_controller_id(void *ctx);
static int cluster_create(void *ctx, const struct topic_create_req *req);
static int cluster_forward(void *ctx, struct net_request *req,
			   struct net_response *resp);

/* ---- Lifecycle ---- */

static int bnode_open_peers(struct broker_node *bn)
{
	const struct raft_node_config *rc = raft_node_config(bn->rn);
	char client_id[48];
	snprintf(client_id, sizeof client_id, "samsa-broker-%" PRId32,
		 bn->cfg.node_id);
	for (int i = 0; i < rc->raft.n_voters; i++) {
		struct net_peer_config pc = {
			rc->voters[i].host, rc->voters[i].port, client_id,
			bn->cfg.request_timeout_ms, BNODE_RETRY_MS};
		int err = net_peer_open(bn->srv, &pc, &bn->peers[i]);
		if (err != KB_OK)
			return err;
	}
	return KB_OK;
}

int broker_node_open(struct net_server *srv, struct raft_node *n,
		     struct topic_manager *tm,
		     const struct broker_node_config *cfg,
		     struct broker_node **out)
{
	struct broker_node *bn = calloc(1, sizeof *bn);
	if (!bn)
		return KB_ERR_NOMEM;
	*bn = (struct broker_node){.cfg = *cfg, .srv = srv, .rn = n, .tm = tm,
				   .broker_epoch = -1, .synced = -1, .refs = 1};
	kb_buf_init(&bn->config_marks);
	topic_id_generate(&bn->incarnation_id);
	int rc = bnode_open_peers(bn);
	if (rc == KB_OK)
		rc = raft_node_subscribe(n, bnode_changed, bn);
	if (rc == KB_OK)
		rc = net_every(srv, BNODE_RETRY_MS / 2,
			       (struct net_callback){bnode_tick, bn});
	if (rc != KB_OK) {
		broker_node_close(bn);
		return rc;
	}
	struct topic_cluster cl = {cluster_broker_at, cluster_endpoint,
				   cluster_replicas,
				   cluster_controller_id, cluster_create,
				   cluster_forward, bn};
	topic_set_cluster(tm, &cl);
	bnode_sync(bn);
	*out = bn;
	return KB_OK;
}

void broker_node_close(struct broker_node *bn)
{
	if (!bn)
		return;
	/* alone again: chapter 06's INVARIANT 4 wants every partition ours */
	for (size_t i = 0; i < topic_count(bn->tm); i++) {
		struct topic *t = topic_at(bn->tm, i);
		for (int32_t p = 0; p < t->npartitions; p++)
			topic_partition_set_leader(t->partitions[p], bn->cfg.node_id,
						   t->partitions[p]->leader_epoch);
	}
	topic_set_cluster(bn->tm, NULL);
	raft_node_unsubscribe(bn->rn, bnode_changed, bn);
	bn->closed = true;
	for (int i = 0; i < RAFT_MAX_VOTERS; i++)
		if (bn->peers[i])
			net_peer_close(bn->peers[i]); /* replies run: refs drop */
	kb_buf_fini(&bn->config_marks);
	bnode_unref(bn);
}

static void bnode_unref(struct broker_node *bn)
{
	if (--bn->refs == 0)
		free(bn);
}

bool broker_node_unfenced(const struct broker_node *bn)
{
	return bn->state == BNODE_UNFENCED;
}

/* ---- Registration and heartbeats (KAFKA: BrokerLifecycleManager) ---- */

/* The controller is the quorum's leader; its peer, or NULL if unknown. */
static struct net_peer *bnode_controller(struct broker_node *bn)
{
	int32_t id = raft_node_quorum(bn->rn).leader_id;
	const struct raft_node_config *rc = raft_node_config(bn->rn);
	for (int i = 0; i < rc->raft.n_voters; i++)
		if (rc->voters[i].id == id)
			return bn->peers[i];
	return NULL;
}

static void bnode_registration_reply(void *ctx, int status,
				     struct wire_reader *body);
static void bnode_heartbeat_reply(void *ctx, int status,
				  struct wire_reader *body);

static int bnode_send(struct broker_node *bn, int16_t api, int16_t v,
		      const struct kb_buf *body, net_reply_fn fn)
{
	struct net_peer *p = bnode_controller(bn);
	if (!p)
		return KB_ERR_AGAIN;
	struct net_call call = {api, v, body->data, body->len, fn, bn};
	int rc = net_peer_send(p, &call);
	if (rc == KB_OK) {
		bn->in_flight = true;
		bn->refs++;
	}
	return rc;
}

/* KAFKA: BrokerRegistration carries every listener but the controller's,
 * each at its advertised address (net_server_advertised: as bound).
 * Returns how many of eps[cap] were filled. */
static int32_t bnode_listeners(const struct broker_node *bn,
			       struct meta_endpoint *eps, int32_t cap)
{
	const struct broker_node_config *c = &bn->cfg;
	int32_t n = 0;
	for (int i = 0; i < c->n_listeners && n < cap; i++) {
		const char *host;
		int32_t port;
		if (!net_server_advertised(bn->srv, c->listeners[i].name, &host,
					   &port))
			continue; /* not listening: nothing to advertise */
		eps[n++] = (struct meta_endpoint){
			wire_str_c(c->listeners[i].name), wire_str_c(host),
			(uint16_t)port, c->listeners[i].security_protocol};
	}
	if (n == 0) /* no listener list: the inter-broker one, as configured */
		eps[n++] = (struct meta_endpoint){wire_str_c(c->listener_name),
			wire_str_c(c->host), (uint16_t)c->port, 0};
	return n;
}

static int bnode_register(struct broker_node *bn)
{
	struct meta_endpoint eps[BROKER_NODE_LISTENERS_MAX];
	int32_t n_eps = bnode_listeners(bn, eps, BROKER_NODE_LISTENERS_MAX);
	struct meta_broker_feature mv = {
		{"metadata.version", 16}, BNODE_METADATA_VERSION,
		BNODE_METADATA_VERSION};
	struct ctrl_registration_req q = {
		bn->cfg.node_id,
		{bn->cfg.cluster_id, (int16_t)strlen(bn->cfg.cluster_id)},
		bn->incarnation_id, {n_eps, eps}, {1, &mv},
		{bn->cfg.rack, bn->cfg.rack[0] ? (int16_t)strlen(bn->cfg.rack) : -1},
		false, {0, NULL}, -1};
	struct kb_buf body;
	kb_buf_init(&body);
	int rc = ctrl_registration_req_encode(&q, 0, &body);
	if (rc == KB_OK)
		rc = bnode_send(bn, WIRE_API_BROKER_REGISTRATION, 0, &body,
				bnode_registration_reply);
	kb_buf_fini(&body);
	return rc;
}

/* KAFKA: want_fence until caught up with the metadata log, and (our
 * stand-in for KIP-858's offline log dirs) while chapter 06's log dir
 * is offline: the controller then moves our leaderships and shrinks
 * every ISR we are in, as it does for any fenced broker. */
static int bnode_heartbeat(struct broker_node *bn)
{
	int64_t applied = raft_node_applied(bn->rn);
	bn->disk_offline = !topic_logdir_online(topic_manager_logdir(bn->tm));
	struct ctrl_heartbeat_req q = {
		bn->cfg.node_id, bn->broker_epoch, applied - 1,
		applied <= bn->broker_epoch || bn->disk_offline,
		bn->state == BNODE_SHUTTING_DOWN};
	struct kb_buf body;
	kb_buf_init(&body);
	int rc = ctrl_heartbeat_req_encode(&q, 1, &body);
	if (rc == KB_OK)
		rc = bnode_send(bn, WIRE_API_BROKER_HEARTBEAT, 1, &body,
				bnode_heartbeat_reply);
	kb_buf_fini(&body);
	return rc;
}

static void bnode_stopped(struct broker_node *bn)
{
	bn->state = BNODE_STOPPED;
	if (bn->shutdown_done) {
		void (*done)(void *) = bn->shutdown_done;
		bn->shutdown_done = NULL;
		done(bn->shutdown_ctx);
	}
}

static void bnode_tick(void *ctx, int64_t now_ms)
{
	struct broker_node *bn = ctx;
	if (bn->state == BNODE_SHUTTING_DOWN && now_ms >= bn->shutdown_deadline_ms) {
		KB_WARN("broker: controlled shutdown timed out; stopping anyway");
		bnode_stopped(bn);
	}
	/* The log dir went offline or came back: tell the controller now. */
	if (bn->disk_offline != !topic_logdir_online(topic_manager_logdir(bn->tm)))
		bn->next_call_ms = 0;
	if (bn->in_flight || now_ms < bn->next_call_ms || bn->state == BNODE_STOPPED)
		return;
	int rc = bn->state == BNODE_UNREGISTERED ? bnode_register(bn)
						 : bnode_heartbeat(bn);
	bn->next_call_ms = now_ms + (rc == KB_OK && bn->state != BNODE_UNREGISTERED
				     ? bn->cfg.heartbeat_interval_ms : BNODE_RETRY_MS);
}

static void bnode_registration_reply(void *ctx, int status,
				     struct wire_reader *body)
{
	struct broker_node *bn = ctx;
	bn->in_flight = false;
	struct ctrl_registration_resp p = {KAFKA_ERR_NONE, -1};
	if (!bn->closed && status == KB_OK &&
	    ctrl_registration_resp_decode(body, 0, &p) == KB_OK) {
		if (p.error_code == KAFKA_ERR_NONE) {
			bn->broker_epoch = p.broker_epoch;
			bn->state = BNODE_FENCED;
			bn->next_call_ms = 0; /* heartbeat at once */
			KB_INFO("broker: node %" PRId32 " registered, broker epoch %"
				PRId64, bn->cfg.node_id, p.broker_epoch);
		} else if (p.error_code != KAFKA_ERR_NOT_CONTROLLER) {
			KB_WARN("broker: registration refused: %s",
				wire_error_name(p.error_code));
		}
	}
	bnode_unref(bn);
}

static void bnode_heartbeat_reply(void *ctx, int status,
				  struct wire_reader *body)
{
	struct broker_node *bn = ctx;
	bn->in_flight = false;
	struct ctrl_heartbeat_resp p;
	if (!bn->closed && status == KB_OK &&
	    ctrl_heartbeat_resp_decode(body, 1, &p) == KB_OK) {
		int16_t e = p.error_code;
		if (e == KAFKA_ERR_STALE_BROKER_EPOCH ||
		    e == KAFKA_ERR_BROKER_ID_NOT_REGISTERED) {
			KB_WARN("broker: heartbeat refused (%s): registering again",
				wire_error_name(e));
			bn->state = BNODE_UNREGISTERED;
			bn->broker_epoch = -1;
			bn->next_call_ms = 0;
		} else if (e == KAFKA_ERR_NONE && bn->state == BNODE_SHUTTING_DOWN) {
			if (p.should_shut_down)
				bnode_stopped(bn);
		} else if (e == KAFKA_ERR_NONE && bn->state != BNODE_STOPPED) {
			enum bnode_state s = p.is_fenced ? BNODE_FENCED : BNODE_UNFENCED;
			if (s != bn->state)
				KB_INFO("broker: node %" PRId32 " is %s", bn->cfg.node_id,
					s == BNODE_FENCED ? "fenced" : "unfenced");
			bn->state = s;
			if (s == BNODE_UNFENCED)
				bnode_sync(bn); /* INVARIANT 2: strays may go now */
		}
	}
	bnode_unref(bn);
}

void broker_node_shutdown(struct broker_node *bn, void (*done)(void *ctx),
			  void *ctx)
{
	bn->shutdown_done = done;
	bn->shutdown_ctx = ctx;
	if (bn->state == BNODE_UNREGISTERED || bn->state == BNODE_STOPPED) {
		bnode_stopped(bn);
		return;
	}
	bn->state = BNODE_SHUTTING_DOWN;
	bn->shutdown_deadline_ms = kb_mono_ms() + bn->cfg.shutdown_timeout_ms;
	bn->next_call_ms = 0; /* ask at the next tick */
	KB_INFO("broker: node %" PRId32 " asks the controller to shut down",
		bn->cfg.node_id);
}

/* ---- Producer id blocks (KAFKA: RPCProducerIdManager) ---- */

/* One AllocateProducerIds in flight. */
struct bnode_ids_call {
	struct broker_node *bn;
	broker_node_ids_fn done;
	void *ctx;
};

static void bnode_ids_reply(void *ctx, int status, struct wire_reader *body)
{
	struct bnode_ids_call *c = ctx;
	struct ctrl_producer_ids_resp p = {KAFKA_ERR_NONE, -1, 0};
	if (status != KB_OK || ctrl_producer_ids_resp_decode(body, 0, &p) != KB_OK)
		p.error_code = KAFKA_ERR_COORDINATOR_NOT_AVAILABLE; /* ask again later */
	else if (p.error_code == KAFKA_ERR_NONE && p.producer_id_len <= 0)
		p.error_code = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
	if (!c->bn->closed)
		c->done(c->ctx, p.error_code, p.producer_id_start, p.producer_id_len);
	bnode_unref(c->bn);
	free(c);
}

int broker_node_allocate_producer_ids(struct broker_node *bn,
				      broker_node_ids_fn done, void *ctx)
{
	struct net_peer *peer = bnode_controller(bn);
	if (!peer || bn->broker_epoch < 0)
		return KB_ERR_AGAIN; /* no controller known, or not registered */
	struct bnode_ids_call *c = malloc(sizeof *c);
	if (!c)
		return KB_ERR_NOMEM;
	*c = (struct bnode_ids_call){bn, done, ctx};
	struct ctrl_producer_ids_req q = {bn->cfg.node_id, bn->broker_epoch};
	struct kb_buf body;
	kb_buf_init(&body);
	int rc = ctrl_producer_ids_req_encode(&q, 0, &body);
	struct net_call call = {WIRE_API_ALLOCATE_PRODUCER_IDS, 0, body.data,
				body.len, bnode_ids_reply, c};
	if (rc == KB_OK)
		rc = net_peer_send(peer, &call);
	kb_buf_fini(&body);
	if (rc != KB_OK) {
		free(c);
		return rc;
	}
	bn->refs++;
	return KB_OK;
}

/* A later chapter's call to the controller (chapter 08: AlterPartition). */
struct bnode_call {
	struct broker_node *bn;
	net_reply_fn fn;
	void *ctx;
};

static void bnode_call_reply(void *ctx, int status, struct wire_reader *body)
{
	struct bnode_call *c = ctx;
	c->fn(c->ctx, status, body);
	bnode_unref(c->bn);
	free(c);
}

int broker_node_call_controller(struct broker_node *bn, int16_t api,
				int16_t version, const struct kb_buf *body,
				net_reply_fn fn, void *ctx)
{
	struct net_peer *peer = bnode_controller(bn);
	if (!peer || bn->broker_epoch < 0)
		return KB_ERR_AGAIN;
	struct bnode_call *c = malloc(sizeof *c);
	if (!c)
		return KB_ERR_NOMEM;
	*c = (struct bnode_call){bn, fn, ctx};
	struct net_call call = {api, version, body->data, body->len,
				bnode_call_reply, c};
	int rc = net_peer_send(peer, &call);
	if (rc != KB_OK) {
		free(c);
		return rc;
	}
	bn->refs++;
	return KB_OK;
}

int64_t broker_node_epoch(const struct broker_node *bn)
{
	return bn->broker_epoch;
}

/* KAFKA: Node lookups by listener name: b's endpoint named name (NULL:
 * inter.broker.listener.name); NULL when b registered none such. */
static const struct meta_endpoint *bnode_endpoint_of(
	const struct broker_node *bn, const struct meta_broker *b,
	const char *name)
{
	const struct meta_array *eps = &b->reg.rec.endpoints;
	const struct meta_endpoint *v = eps->v;
	if (!name || !name[0])
		name = bn->cfg.listener_name;
	for (int32_t e = 0; e < eps->n; e++)
		if (wire_str_eq(v[e].name, name))
			return &v[e];
	return NULL;
}

int broker_node_endpoint(const struct broker_node *bn, int32_t id,
			 char *host, size_t cap, int *port)
{
	const struct meta_broker *b = meta_broker_find(raft_node_image(bn->rn), id);
	const struct meta_endpoint *ep = b ? bnode_endpoint_of(bn, b, NULL) : NULL;
	if (!ep)
		return KB_ERR_NOTFOUND;
	size_t n = ep->host.len > 0 ? KB_MIN((size_t)ep->host.len, cap - 1) : 0;
	memcpy(host, ep->host.p, n);
	host[n] = '\0';
	*port = ep->port;
	return KB_OK;
}

/* ---- Following the metadata log (KAFKA: BrokerMetadataPublisher) ---- */

static void bnode_changed(void *ctx, struct raft_node *n)
{
	struct broker_node *bn = ctx;
	if (raft_node_applied(n) != bn->synced)
		bnode_sync(bn);
}

/* FNV-1a over a topic's config names and values, in image order. */
static uint32_t topic_configs_fingerprint(const struct meta_image *img,
					  const char *topic, size_t *count)
{
	uint32_t h = 2166136261u;
	*count = 0;
	for (int32_t i = 0; i < img->n_configs; i++) {
		const struct meta_config *c = &img->configs[i];
		if (c->resource_type != META_RESOURCE_TOPIC ||
		    strcmp(c->resource_name, topic) != 0)
			continue;
		(*count)++;
		for (const char *s = c->name; *s; s++)
			h = (h ^ (uint8_t)*s) * 16777619u;
		h = (h ^ '=') * 16777619u;
		for (const char *s = c->value; *s; s++)
			h = (h ^ (uint8_t)*s) * 16777619u;
		h = (h ^ '\n') * 16777619u;
	}
	return h;
}

static struct bnode_mark *mark_find(struct broker_node *bn, struct wire_uuid id)
{
	struct bnode_mark *m = (struct bnode_mark *)bn->config_marks.data;
	size_t n = bn->config_marks.len / sizeof *m;
	for (size_t i = 0; i < n; i++)
		if (!memcmp(m[i].topic_id.b, id.b, sizeof id.b))
			return &m[i];
	return NULL;
}

/* The image's configs of topic as key/value pairs (views). */
static size_t topic_configs(const struct meta_image *img, const char *topic,
			    struct topic_config_kv *kv, size_t cap)
{
	size_t n = 0;
	for (int32_t i = 0; i < img->n_configs && n < cap; i++) {
		const struct meta_config *c = &img->configs[i];
		if (c->resource_type == META_RESOURCE_TOPIC &&
		    strcmp(c->resource_name, topic) == 0)
			kv[n++] = (struct topic_config_kv){c->name, c->value};
	}
	return n;
}

/* Replace t's configs when the image's differ from what was applied. */
static void sync_configs(struct broker_node *bn, const struct meta_image *img,
			 const struct meta_topic *mt, struct topic *t)
{
	size_t count;
	uint32_t fp = topic_configs_fingerprint(img, mt->name, &count);
	struct bnode_mark *m = mark_find(bn, mt->id);
	if (m && m->fingerprint == fp)
		return;
	struct topic_config_kv kv[128];
	size_t n = topic_configs(img, mt->name, kv, KB_ARRAY_LEN(kv));
	if (topic_overrides_replace(bn->tm, t, kv, n) != KB_OK) {
		KB_WARN("broker: configs of %s not applied", mt->name);
		return;
	}
	if (m) {
		m->fingerprint = fp;
	} else {
		struct bnode_mark nm = {mt->id, fp};
		kb_buf_append(&bn->config_marks, &nm, sizeof nm);
	}
}

/* One topic of the image, made local: created, grown, configured, led. */
static void sync_topic(struct broker_node *bn, const struct meta_image *img,
		       const struct meta_topic *mt)
{
	struct topic *t = topic_find(bn->tm, mt->name);
	if (t && memcmp(t->id.b, mt->id.b, sizeof t->id.b) != 0) {
		KB_INFO("broker: %s was re-created; deleting the old one", mt->name);
		if (topic_delete(bn->tm, t) != KB_OK)
			return;
		t = NULL;
	}
	if (!t) {
		struct topic_overrides none = {0}; /* sync_configs sets them */
		struct topic_spec spec = {mt->name, mt->partition_count, &none,
					  &mt->id};
		if (topic_install(bn->tm, &spec, &t) != KB_OK) {
			KB_WARN("broker: topic %s not created here", mt->name);
			return;
		}
	}
	if (t->npartitions < mt->partition_count &&
	    topic_add_partitions(bn->tm, t, mt->partition_count) != KB_OK)
		KB_WARN("broker: partitions of %s not added", mt->name);
	sync_configs(bn, img, mt, t);
	for (int32_t p = 0; p < t->npartitions && p < mt->partition_count; p++) {
		struct topic_partition *tp = t->partitions[p];
		int32_t was = tp->leader_id, now = mt->partitions[p].leader;
		topic_partition_set_leader(tp, now, mt->partitions[p].leader_epoch);
		bn->leaders_moved |= was != now && (was == bn->cfg.node_id ||
						    now == bn->cfg.node_id);
	}
}

/* INVARIANT 2: strays go only once the controller unfenced us. */
static void sync_strays(struct broker_node *bn, const struct meta_image *img)
{
	for (size_t i = topic_count(bn->tm); i-- > 0;) {
		struct topic *t = topic_at(bn->tm, i);
		if (meta_topic_find_id(img, t->id))
			continue;
		KB_INFO("broker: deleting %s: the metadata log removed it", t->name);
		topic_delete(bn->tm, t);
	}
}

static void bnode_sync(struct broker_node *bn)
{
	const struct meta_image *img = raft_node_image(bn->rn);
	bn->synced = raft_node_applied(bn->rn);
	for (int32_t i = 0; i < img->n_topics; i++)
		sync_topic(bn, img, &img->topics[i]);
	if (bn->state == BNODE_UNFENCED)
		sync_strays(bn, img);
	if (bn->cfg.synced)
		bn->cfg.synced(bn->cfg.hook_ctx);
	if (bn->leaders_moved && bn->cfg.leaders_changed) {
		bn->leaders_moved = false;
		bn->cfg.leaders_changed(bn->cfg.hook_ctx);
	}
}

/* ---- Chapter 06's view of the cluster ---- */

static void str_copy(struct wire_str s, char *out, size_t cap)
{
	size_t n = s.len > 0 ? KB_MIN((size_t)s.len, cap - 1) : 0;
	if (n)
		memcpy(out, s.p, n);
	out[n] = '\0';
}

/* b at endpoint ep as chapter 06 lists it (host and rack copied here). */
static void cluster_info(struct broker_node *bn, const struct meta_broker *b,
			 const struct meta_endpoint *ep,
			 struct topic_broker_info *out)
{
	str_copy(ep->host, bn->host, sizeof bn->host);
	str_copy(b->reg.rec.rack, bn->rack, sizeof bn->rack);
	*out = (struct topic_broker_info){b->id, bn->host, ep->port,
		b->reg.rec.rack.len >= 0 ? bn->rack : NULL};
}

/* KAFKA: KRaftMetadataCache.getAliveBrokerNodes(listenerName): a broker
 * without that listener is left out. */
static int cluster_broker_at(void *ctx, const char *listener, int32_t i,
			     struct topic_broker_info *out)
{
	struct broker_node *bn = ctx;
	const struct meta_image *img = raft_node_image(bn->rn);
	for (int32_t k = 0; k < img->n_brokers; k++) {
		const struct meta_broker *b = &img->brokers[k];
		const struct meta_endpoint *ep = bnode_endpoint_of(bn, b, listener);
		if (b->fenced || !ep || i-- > 0)
			continue;
		cluster_info(bn, b, ep, out);
		return KB_OK;
	}
	return KB_ERR_RANGE;
}

static int cluster_endpoint(void *ctx, int32_t id, const char *listener,
			    struct topic_broker_info *out)
{
	struct broker_node *bn = ctx;
	const struct meta_broker *b = meta_broker_find(raft_node_image(bn->rn), id);
	if (!b)
		return KB_ERR_NOTFOUND;
	const struct meta_endpoint *ep = bnode_endpoint_of(bn, b, listener);
	if (!ep)
		return KB_ERR_RANGE;
	cluster_info(bn, b, ep, out);
	return KB_OK;
}

static int cluster_replicas(void *ctx, const char *topic, int32_t partition,
			    struct topic_replicas *out)
{
	struct broker_node *bn = ctx;
	const struct meta_topic *t = meta_topic_find(raft_node_image(bn->rn), topic);
	if (!t || partition < 0 || partition >= t->partition_count)
		return KB_ERR_NOTFOUND;
	const struct meta_partition *p = &t->partitions[partition];
	*out = (struct topic_replicas){p->leader, p->leader_epoch,
		p->replicas.v, p->replicas.n, p->isr.v, p->isr.n};
	return KB_OK;
}

/* KAFKA: a KRaft broker's Metadata names an alive broker as the
 * controller (clients cannot reach a controller-only node; the broker
 * forwards their admin requests): the quorum leader when it is a broker
 * too (a combined node), else this broker. */
static int32_t cluster_controller_id(void *ctx)
{
	struct broker_node *bn = ctx;
	int32_t leader = raft_node_quorum(bn->rn).leader_id;
	const struct meta_broker *b =
		meta_broker_find(raft_node_image(bn->rn), leader);
	return leader < 0 || (b && !b->fenced) ? leader : bn->cfg.node_id;
}

/* ---- Auto-creation (KAFKA: AutoTopicCreationManager) ---- */

static void bnode_create_reply(void *ctx, int status, struct wire_reader *body)
{
	(void)status;
	(void)body; /* the topic arrives through the metadata log */
	bnode_unref(ctx);
}

static int cluster_create(void *ctx, const struct topic_create_req *req)
{
	struct broker_node *bn = ctx;
	int64_t now = kb_mono_ms();
	if (!strcmp(bn->last_create, req->name) &&
	    now - bn->last_create_ms < BNODE_CREATE_AGAIN_MS)
		return KB_OK; /* asked already; the answer is on its way */
	struct net_peer *p = bnode_controller(bn);
	if (!p)
		return KB_ERR_AGAIN;
	struct kb_buf body;
	kb_buf_init(&body);
	struct wire_writer w;
	wire_writer_init(&w, &body, true); /* CreateTopics v7 is flexible */
	wire_write_array_len(&w, 1);
	wire_write_string(&w, (struct wire_str){req->name, (int16_t)strlen(req->name)});
	wire_write_i32(&w, req->num_partitions);
	/* ReplicationFactor: -1 asks for default.replication.factor */
	wire_write_i16(&w, req->replication_factor > 0 ? req->replication_factor : -1);
	wire_write_array_len(&w, 0);  /* Assignments */
	wire_write_array_len(&w, (int32_t)req->nconfigs);
	for (size_t i = 0; i < req->nconfigs; i++) {
		const struct topic_config_kv *kv = &req->configs[i];
		wire_write_string(&w, (struct wire_str){kv->name, (int16_t)strlen(kv->name)});
		wire_write_string(&w, (struct wire_str){kv->value, (int16_t)strlen(kv->value)});
		wire_write_tags(&w);
	}
	wire_write_tags(&w);
	wire_write_i32(&w, (int32_t)bn->cfg.request_timeout_ms); /* timeoutMs */
	wire_write_bool(&w, false);   /* validateOnly */
	wire_write_tags(&w);
	int rc = w.err;
	struct net_call call = {WIRE_API_CREATE_TOPICS, BNODE_CREATE_TOPICS_VERSION,
				body.data, body.len, bnode_create_reply, bn};
	if (rc == KB_OK)
		rc = net_peer_send(p, &call);
	if (rc == KB_OK) {
		bn->refs++;
		snprintf(bn->last_create, sizeof bn->last_create, "%s", req->name);
		bn->last_create_ms = now;
	}
	kb_buf_fini(&body);
	return rc;
}

/* ---- Forwarding (KAFKA: ForwardingManager, Envelope 58) ---- */

static void forward_unref(struct bnode_forward *f)
{
	if (--f->refs > 0)
		return;
	kb_buf_fini(&f->response);
	bnode_unref(f->bn);
	free(f);
}

static void forward_release(void *ctx) { forward_unref(ctx); }

static bool forward_try(struct net_delayed *op, struct net_response *resp,
			bool expired)
{
	struct bnode_forward *f = net_delayed_ctx(op);
	if (!f->done && !expired)
		return false;
	if (f->done && f->error == KAFKA_ERR_NONE) {
		wire_write_raw(&resp->w, f->response.data, f->response.len);
		return true;
	}
	f->req.body = f->body; /* the error body decodes the request again */
	int16_t err = f->done ? f->error : KAFKA_ERR_REQUEST_TIMED_OUT;
	return topic_error_body(&f->req, err, &resp->w) == KB_OK;
}

/* The controller's EnvelopeResponse: the inner response's body, or why not. */
static void forward_reply(void *ctx, int status, struct wire_reader *body)
{
	struct bnode_forward *f = ctx;
	struct raft_envelope_response e;
	f->done = true;
	f->error = KAFKA_ERR_NOT_CONTROLLER; /* the client asks again */
	if (status == KB_OK &&
	    raft_envelope_response_decode(0, body->p + body->pos,
					  wire_remaining(body), &e) == KB_OK) {
		f->error = e.error_code;
		struct wire_reader r;
		int32_t corr;
		wire_reader_init(&r, e.response_data.p,
				 e.response_data.len > 0 ? (size_t)e.response_data.len : 0,
				 false);
		if (e.error_code == KAFKA_ERR_NONE &&
		    (e.response_data.len <= 0 ||
		     wire_read_response_header(&r, &f->req.header, &corr) != KB_OK ||
		     kb_buf_append(&f->response, r.p + r.pos, wire_remaining(&r)) != KB_OK))
			f->error = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
	}
	if (!f->bn->closed)
		net_wake(f->bn->srv, f);
	forward_unref(f);
}

/* The client's header and body again, as the Envelope's RequestData. */
static int forward_request_data(const struct net_request *req, struct kb_buf *out)
{
	struct wire_writer w;
	wire_writer_init(&w, out, false);
	wire_write_request_header(&w, &req->header);
	wire_write_raw(&w, req->body.p + req->body.pos, wire_remaining(&req->body));
	return w.err;
}

static int forward_send(struct broker_node *bn, struct bnode_forward *f)
{
	struct net_peer *p = bnode_controller(bn);
	if (!p)
		return KB_ERR_AGAIN;
	struct kb_buf data, body;
	kb_buf_init(&data);
	kb_buf_init(&body);
	uint8_t addr[16];
	const char *host = net_conn_host(f->req.conn);
	host += host[0] == '/';
	int alen = inet_pton(AF_INET, host, addr) == 1 ? 4 :
		   inet_pton(AF_INET6, host, addr) == 1 ? 16 : 0;
	int rc = forward_request_data(&f->req, &data);
	struct raft_envelope_request e = {
		{data.data, (int32_t)data.len}, {NULL, -1}, {addr, alen}};
	if (rc == KB_OK)
		rc = raft_envelope_request_encode(&e, 0, &body);
	struct net_call call = {WIRE_API_ENVELOPE, 0, body.data, body.len,
				forward_reply, f};
	if (rc == KB_OK && (rc = net_peer_send(p, &call)) == KB_OK)
		f->refs++;
	kb_buf_fini(&data);
	kb_buf_fini(&body);
	return rc;
}

static int cluster_forward(void *ctx, struct net_request *req,
			   struct net_response *resp)
{
	struct broker_node *bn = ctx;
	struct bnode_forward *f = calloc(1, sizeof *f);
	if (!f)
		return KB_ERR_NOMEM;
	*f = (struct bnode_forward){bn, *req, req->body};
	kb_buf_init(&f->response);
	f->refs = 1; /* the parked op's */
	bn->refs++;
	if (forward_send(bn, f) != KB_OK) { /* no controller: NOT_CONTROLLER */
		f->done = true;
		f->error = KAFKA_ERR_NOT_CONTROLLER;
	}
	struct net_wait w = {kb_mono_ms() + BNODE_FORWARD_TIMEOUT_MS, forward_try,
			     f, forward_release};
	struct net_delayed *op;
	int rc = net_park(req, resp, &w, &op); /* takes f's first ref */
	if (rc == KB_OK)
		rc = net_watch(op, f);
	if (rc == KB_OK && f->done)
		net_wake(bn->srv, f);
	return rc == KB_OK ? NET_PARKED : rc;
}
