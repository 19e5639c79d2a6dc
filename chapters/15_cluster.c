/* SPDX-License-Identifier: MIT */
/*
 * Chapter 15 — cluster: a node of a KRaft cluster, put together from
 * server.properties out of chapter 07's three parts.
 *
 * Concept: with controller.quorum.voters set, broker_open opens, after
 *   the topics, the quorum node (every node: voter or observer), the
 *   controller (process.roles has controller) and the broker node
 *   (process.roles has broker; a controller-only node has none of the
 *   broker's parts), and hands chapters 09 and 11 what they
 *   need of the cluster: who leads which __consumer_offsets partition and
 *   where producer id blocks come from; chapter 08 replicates every
 *   partition and follows the metadata after each sync. On SIGTERM the
 *   broker first asks the controller to let it go (controlled shutdown), then a leading
 *   controller resigns, so the others elect at once instead of waiting a
 *   fetch timeout.
 * Kafka: KafkaRaftServer and SharedServer (one RaftManager for the
 *   broker and the controller of a combined node), BrokerServer's
 *   lifecycle manager and ControllerServer; BrokerServer.shutdown's
 *   controlled shutdown before the sockets close.
 * Interface:
 *   - broker_cluster_open inside broker_open (SAMSA_STAGE >= 7), after
 *     topic_manager_open; broker_cluster_hooks after chapters 09 and 11.
 *   - With authorizer.class.name set (stage 12 on), broker_cluster_open
 *     opens chapter 12's authorizer last (acl_node_open) and
 *     broker_cluster_close closes it first.
 *   - broker_cluster_shutdown once net_run returned on a stop signal;
 *     broker_cluster_close inside broker_close, before the server goes.
 * Invariants:
 *   1. b->raft exists whenever b->ctrl or b->bnode does, and closes last.
 *   2. Nothing here runs on a single node (no voters): b->raft is NULL.
 *   (Checked by broker_cluster_check_open.)
 * Simplifications: the node's metadata log lives in the first log.dirs
 *   (no metadata.log.dir); controlled shutdown waits for the controller's
 *   word at most broker.session.timeout.ms (Kafka waits up to 5 minutes;
 *   past the session timeout the controller has fenced the broker anyway).
 * See also: docs/15_cluster.md, diagrams/15_cluster.dot, config/cluster/,
 *   tests/clients/test_cluster.py; read before: 15_config.c. Uses
 *   chapters 00 (base), 05 (server), 06 (topics), 07 (the node files),
 *   08 (repl_open, repl_sync after each metadata sync), 09
 *   (grp_leadership_changed), 11 (prod_set_id_source), 12
 *   (acl_node_open, with authorizer.class.name set).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "00_base.h"
#include "05_server.h"
#include "06_topics.h"
#include "09_groups.h"
#include "11_producers.h"
#include "15_properties.h"
#include "15_config.h"

#ifndef SAMSA_STAGE
#define SAMSA_STAGE 15
#endif

#if SAMSA_STAGE >= 7
#include "07_node.h"
#endif
#if SAMSA_STAGE >= 8
#include "08_replication.h"
#endif
#if SAMSA_STAGE >= 12
#include "12_acl.h"
#endif

#if SAMSA_STAGE >= 7

/* How long the reactor runs after a resignation so EndQuorumEpoch leaves. */
#define BROKER_RESIGN_FLUSH_MS 100

/* controller.quorum.* and the voters, for the quorum node. */
static int quorum_config(const struct broker *b, struct raft_node_config *c,
			 struct broker_error *err)
{
	const struct broker_config *cfg = &b->cfg;
	memset(c, 0, sizeof *c);
	raft_config_defaults(&c->raft);
	if (strlen(cfg->topics.cluster_id) > RAFT_CLUSTER_ID_MAX)
		return broker_refuse(err, "cluster.id '%s' in meta.properties is not "
				     "a Uuid (22 characters): format again with "
				     "samsa random-uuid", cfg->topics.cluster_id);
	snprintf(c->raft.cluster_id, sizeof c->raft.cluster_id, "%.*s",
		 RAFT_CLUSTER_ID_MAX, cfg->topics.cluster_id); /* fits: checked */
	c->raft.node_id = cfg->topics.node_id;
	c->raft.n_voters = cfg->n_voters;
	for (int i = 0; i < cfg->n_voters; i++) {
		c->raft.voters[i] = cfg->voters[i].id;
		c->voters[i].id = cfg->voters[i].id;
		snprintf(c->voters[i].host, sizeof c->voters[i].host, "%s",
			 cfg->voters[i].host);
		c->voters[i].port = cfg->voters[i].port;
	}
	c->raft.election_timeout_ms = cfg->kraft.election_timeout_ms;
	c->raft.fetch_timeout_ms = cfg->kraft.fetch_timeout_ms;
	c->raft.request_timeout_ms = cfg->kraft.request_timeout_ms;
	c->raft.retry_backoff_ms = cfg->kraft.retry_backoff_ms;
	c->raft.seed = (uint64_t)kb_now_ms() * 2654435761u ^
		       (uint64_t)cfg->topics.node_id;
	c->raft.pre_vote = true; /* KIP-996, Vote v2 */
	snprintf(c->log_dir, sizeof c->log_dir, "%s", cfg->topics.log_dir);
	c->snapshot_bytes = cfg->kraft.snapshot_max_bytes;
	return KB_OK;
}

/* Chapter 09: coordination moves with __consumer_offsets' leaders. */
static void on_leaders_changed(void *ctx)
{
#if SAMSA_STAGE >= 9
	struct broker *b = ctx;
	if (b->groups)
		grp_leadership_changed(b->groups);
#else
	(void)ctx;
#endif
}

/* Chapter 08: replicas follow every metadata change. */
static void on_synced(void *ctx)
{
#if SAMSA_STAGE >= 8
	struct broker *b = ctx;
	if (b->repl)
		repl_sync(b->repl);
#else
	(void)ctx;
#endif
}

/* Chapter 08: the replication manager, once the broker node runs. */
static int replication_open(struct broker *b, struct broker_error *err)
{
#if SAMSA_STAGE >= 8
	struct repl_config c = b->cfg.repl;
	c.node_id = b->cfg.topics.node_id;
	int rc = repl_open(b->srv, b->tm, b->raft, b->bnode, &c, &b->repl);
	if (rc != KB_OK)
		return broker_refuse(err, "cannot start replication: %s",
				     kb_status_name(rc));
#else
	(void)b, (void)err;
#endif
	return KB_OK;
}

/* KAFKA: every broker listener goes into BrokerRegistration, named, with
 * its SecurityProtocol id; chapter 07 asks the server for each address. */
static void broker_part_listeners(const struct broker_config *cfg,
				  struct broker_node_config *c)
{
	static const char *const ids[] = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT",
					  "SASL_SSL"}; /* KAFKA: SecurityProtocol */
	for (int i = 0; i < cfg->n_listeners &&
			c->n_listeners < BROKER_NODE_LISTENERS_MAX; i++) {
		const struct broker_listener *l = &cfg->listeners[i];
		const char *proto = broker_listener_protocol(cfg, l->name);
		if (l->kind != NET_LISTENER_BROKER)
			continue;
		struct broker_node_listener *o = &c->listeners[c->n_listeners++];
		snprintf(o->name, sizeof o->name, "%s", l->name);
		for (int16_t k = 0; k < 4; k++)
			if (proto && strcmp(proto, ids[k]) == 0)
				o->security_protocol = k;
	}
}

/* What the broker node registers with: the inter-broker listener,
 * advertised, and every broker listener. */
static void broker_part_config(struct broker *b, struct broker_node_config *c)
{
	const struct broker_config *cfg = &b->cfg;
	memset(c, 0, sizeof *c);
	c->node_id = cfg->topics.node_id;
	snprintf(c->cluster_id, sizeof c->cluster_id, "%.*s", RAFT_CLUSTER_ID_MAX,
		 cfg->topics.cluster_id);
	snprintf(c->rack, sizeof c->rack, "%s", cfg->topics.rack);
	snprintf(c->listener_name, sizeof c->listener_name, "%s",
		 cfg->inter_broker_listener);
	for (int i = 0; i < cfg->n_listeners; i++)
		if (cfg->listeners[i].kind == NET_LISTENER_BROKER &&
		    cfg->listeners[i].port == cfg->listener_port)
			snprintf(c->listener_name, sizeof c->listener_name, "%s",
				 cfg->listeners[i].name);
	snprintf(c->host, sizeof c->host, "%s", cfg->topics.advertised_host);
	c->port = cfg->topics.advertised_port;
	broker_part_listeners(cfg, c);
	c->heartbeat_interval_ms = cfg->kraft.heartbeat_interval_ms;
	c->request_timeout_ms = cfg->kraft.request_timeout_ms;
	/* past the session timeout the controller has fenced us anyway */
	c->shutdown_timeout_ms = cfg->kraft.session_timeout_ms;
	c->leaders_changed = on_leaders_changed;
	c->synced = on_synced;
	c->hook_ctx = b;
}

/* The controller's part: what it decides topics with. */
static int controller_part_open(struct broker *b)
{
	const struct topic_broker_config *t = &b->cfg.topics;
	struct ctrl_config c = {
		t->node_id, t->cluster_id, b->cfg.kraft.session_timeout_ms,
		t->num_partitions, t->default_replication_factor,
		SAMSA_STAGE >= 8 ? 0 : 1 /* 0: the registered brokers bound it */,
		t->delete_topic_enable, 0, b->tm,
		b->cfg.kraft.unclean_leader_election_enable,
		b->cfg.kraft.auto_leader_rebalance_enable,
		KB_MIN(b->cfg.kraft.leader_imbalance_check_interval_s,
		       INT64_MAX / 1000) * 1000};
	return ctrl_node_open(b->srv, b->raft, &c, &b->ctrl);
}

/* Chapter 12: with authorizer.class.name set (broker_config_finish has
 * checked it is StandardAuthorizer and that voters exist), every request
 * asks the ACLs of this node's image. */
static int authorizer_open(struct broker *b, struct broker_error *err)
{
#if SAMSA_STAGE >= 12
	if (b->cfg.authorizer_class[0] == '\0')
		return KB_OK;
	struct acl_node_config c = {
		b->cfg.super_users, b->cfg.allow_everyone_if_no_acl_found,
		b->srv, b->raft, b->bnode ? b->tm : NULL, b->ctrl};
	int rc = acl_node_open(&c, &b->acl);
	if (rc != KB_OK)
		return broker_refuse(err, "cannot start the authorizer: %s "
				     "(super.users: see the lines above)",
				     kb_status_name(rc));
#else
	(void)b, (void)err;
#endif
	return KB_OK;
}

int broker_cluster_open(struct broker *b, struct broker_error *err)
{
	if (b->cfg.n_voters == 0)
		return KB_OK; /* INVARIANT 2: a single node */
	struct raft_node_config qc;
	int rc = quorum_config(b, &qc, err);
	if (rc != KB_OK)
		return rc;
	if ((rc = raft_node_open(b->srv, &qc, &b->raft)) != KB_OK)
		return broker_refuse(err, "cannot open the metadata log in %s: %s "
				     "(see the lines above)", qc.log_dir,
				     kb_status_name(rc));
	if (broker_has_role(&b->cfg, "controller") &&
	    (rc = controller_part_open(b)) != KB_OK)
		return broker_refuse(err, "cannot start the controller: %s",
				     kb_status_name(rc));
	if (broker_has_role(&b->cfg, "broker")) {
		struct broker_node_config bc;
		broker_part_config(b, &bc);
		rc = broker_node_open(b->srv, b->raft, b->tm, &bc, &b->bnode);
		if (rc != KB_OK)
			return broker_refuse(err, "cannot start the broker node: %s",
					     kb_status_name(rc));
		if ((rc = replication_open(b, err)) != KB_OK)
			return rc;
	}
	return authorizer_open(b, err);
}

/* Chapter 11: producer id blocks from the controller (AllocateProducerIds). */
static int allocate_ids(void *ctx, prod_id_block_fn done, void *done_ctx)
{
	struct broker *b = ctx;
	return b->bnode ? broker_node_allocate_producer_ids(b->bnode, done, done_ctx)
			: KB_ERR_AGAIN;
}

void broker_cluster_hooks(struct broker *b)
{
	if (!b->bnode)
		return;
#if SAMSA_STAGE >= 11
	struct prod_id_source src = {allocate_ids, b};
	if (b->prod)
		prod_set_id_source(b->prod, &src);
#else
	(void)allocate_ids;
#endif
	on_leaders_changed(b); /* what leads here already */
}

/* A controlled shutdown the reactor runs until: done, or stopped. */
struct shutdown_wait {
	struct net_server *srv;
	bool done;
};

static void shutdown_done(void *ctx)
{
	struct shutdown_wait *w = ctx;
	w->done = true;
	net_stop(w->srv);
}

/* Resigned: give EndQuorumEpoch a moment on the wire, then stop. */
static void resign_flushed(void *ctx, int64_t now_ms)
{
	(void)now_ms;
	net_stop(ctx);
}

void broker_cluster_shutdown(struct broker *b)
{
	if (b->bnode) {
		struct shutdown_wait w = {b->srv, false};
		KB_INFO("samsa: controlled shutdown: asking the controller");
		broker_node_shutdown(b->bnode, shutdown_done, &w);
		if (!w.done)
			net_run(b->srv); /* until done, the timeout or a signal */
	}
	if (b->raft && raft_node_state(b->raft) == RAFT_LEADER) {
		raft_node_resign(b->raft);
		if (net_at(b->srv, kb_mono_ms() + BROKER_RESIGN_FLUSH_MS,
			   (struct net_callback){resign_flushed, b->srv}) == KB_OK)
			net_run(b->srv);
	}
}

void broker_cluster_close(struct broker *b)
{
#if SAMSA_STAGE >= 12
	acl_node_close(b->acl); /* NULL-safe; before the parts it asks */
	b->acl = NULL;
#endif
#if SAMSA_STAGE >= 8
	repl_close(b->repl); /* NULL-safe; before the broker node it calls */
	b->repl = NULL;
#endif
	broker_node_close(b->bnode); /* NULL-safe */
	ctrl_node_close(b->ctrl);
	if (b->raft)
		raft_node_close(b->raft); /* INVARIANT 1: last */
	b->bnode = NULL;
	b->ctrl = NULL;
	b->raft = NULL;
}

bool broker_cluster_check_open(const struct broker *b)
{
	return (b->raft || (!b->ctrl && !b->bnode)) &&
	       (b->cfg.n_voters > 0 || !b->raft);
}

#else /* a stage before chapter 07: a node is always alone */

int broker_cluster_open(struct broker *b, struct broker_error *err)
{
	if (b->cfg.n_voters == 0)
		return KB_OK;
	return broker_refuse(err, "controller.quorum.voters needs chapter 07 "
			     "(this is a stage-%02d build)", SAMSA_STAGE);
}

void broker_cluster_hooks(struct broker *b) { (void)b; }
void broker_cluster_shutdown(struct broker *b) { (void)b; }
void broker_cluster_close(struct broker *b) { (void)b; }
bool broker_cluster_check_open(const struct broker *b) { (void)b; return true; }

#endif
