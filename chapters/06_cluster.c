/* SPDX-License-Identifier: MIT */
/*
 * Chapter 06 — topics, part 9: one broker of a cluster.
 *
 * Concept:
 *   Chapter 06 is a whole broker on its own. In a cluster (chapter 07
 *   installs struct topic_cluster with topic_set_cluster) the same
 *   handlers answer from what the metadata log says: which brokers exist,
 *   where each partition's replicas are, who leads it, and they send the
 *   admin requests on to the active controller. Every handler asks this
 *   file, so the cluster-specific code lives in one place; with no cluster
 *   set each helper answers as the single node always did.
 *
 * Kafka:
 *   MetadataCache (brokers, partition leaders, replicas, ISR),
 *   ReplicaManager.getPartitionOrError (NOT_LEADER_OR_FOLLOWER),
 *   Partition.checkCurrentLeaderEpoch, ForwardingManager (admin requests
 *   go to the controller; an unreachable one is answered per resource).
 *
 * Interface (06_topics.h, internal part):
 *   - topic_cluster_broker / topic_cluster_controller: the brokers array
 *     and controller id of Metadata and DescribeCluster.
 *   - topic_cluster_replicas: leader, epoch, replicas, ISR of a partition.
 *   - topic_leader_check: NOT_LEADER_OR_FOLLOWER, then the epoch check.
 *   - topic_forwarded: hands an admin request to the forward hook.
 *   - topic_error_body: an admin request's answer with one error code.
 *   - topic_cluster_create: topic_create in a cluster asks the controller.
 *   - topic_overrides_replace: a topic's configs from the metadata log.
 *
 * Invariants:
 *   1. With no cluster set, this node is the only broker, the controller,
 *      and the leader of every partition (topic_cluster_check).
 *
 * Rule: the chapter calls a cluster's hooks only through this file.
 *
 * See also: docs/06_topics.md ("In a cluster"), tests/06_topics_test.c.
 *   Uses chapters 00 (base), 04 (codec), 05 (server).
 */
#include <assert.h>
#include <string.h>

#include "00_base.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"

/* SIMPLIFICATION: most brokers a Metadata answer lists. */
#define CLUSTER_MAX_BROKERS 4096

/* This node as the one broker of a single-node answer. */
static void self_info(const struct topic_manager *tm,
		      struct topic_broker_info *out)
{
	const struct topic_broker_config *c = topic_manager_config(tm);
	out->id = c->node_id;
	out->host = c->advertised_host;
	out->port = c->advertised_port;
	out->rack = c->rack[0] ? c->rack : NULL;
}

bool topic_cluster_broker(const struct topic_manager *tm, int32_t i,
			  struct topic_broker_info *out)
{
	const struct topic_cluster *cl = topic_cluster_get(tm);
	if (!cl || !cl->broker_at) {
		if (i == 0)
			self_info(tm, out);
		return i == 0;
	}
	return i >= 0 && i < CLUSTER_MAX_BROKERS &&
	       cl->broker_at(cl->ctx, i, out) == KB_OK;
}

int32_t topic_cluster_broker_count(const struct topic_manager *tm)
{
	struct topic_broker_info b;
	int32_t n = 0;
	while (topic_cluster_broker(tm, n, &b))
		n++;
	return n;
}

int32_t topic_cluster_controller(const struct topic_manager *tm)
{
	const struct topic_cluster *cl = topic_cluster_get(tm);
	if (!cl)
		return topic_manager_config(tm)->node_id;
	return cl->controller_id ? cl->controller_id(cl->ctx) : -1;
}

/* KAFKA: MetadataCache.partitionMetadata: a partition the metadata has
 * no leader for is LEADER_NOT_AVAILABLE. The single node: itself. */
int16_t topic_cluster_replicas(const struct topic_manager *tm,
			       const struct topic_partition *tp,
			       struct topic_replicas *out,
			       int32_t *self_storage)
{
	const struct topic_cluster *cl = topic_cluster_get(tm);
	if (!cl) {
		*self_storage = topic_manager_config(tm)->node_id;
		*out = (struct topic_replicas){tp->leader_id, tp->leader_epoch,
					       self_storage, 1, self_storage, 1};
		return KAFKA_ERR_NONE;
	}
	memset(out, 0, sizeof *out);
	if (!cl->replicas ||
	    cl->replicas(cl->ctx, tp->topic->name, tp->index, out) != KB_OK ||
	    out->leader_id < 0) {
		*out = (struct topic_replicas){-1, -1, NULL, 0, NULL, 0};
		return KAFKA_ERR_LEADER_NOT_AVAILABLE;
	}
	if (out->n_replicas < 0 || (out->n_replicas > 0 && !out->replicas))
		out->n_replicas = 0;
	if (out->n_isr < 0 || (out->n_isr > 0 && !out->isr))
		out->n_isr = 0;
	return KAFKA_ERR_NONE;
}

/* KAFKA: ReplicaManager.getPartitionOrError, then
 * Partition.checkCurrentLeaderEpoch: -1 skips the epoch check; a client
 * ahead of us knows a leader we do not, one behind is fenced. */
int16_t topic_leader_check(const struct topic_manager *tm,
			   const struct topic_partition *tp, int32_t current)
{
	if (tp->leader_id != topic_manager_config(tm)->node_id)
		return KAFKA_ERR_NOT_LEADER_OR_FOLLOWER;
	if (current == -1 || current == tp->leader_epoch)
		return KAFKA_ERR_NONE;
	return current > tp->leader_epoch ? KAFKA_ERR_UNKNOWN_LEADER_EPOCH
					  : KAFKA_ERR_FENCED_LEADER_EPOCH;
}

/* KAFKA: ForwardingManager: the handler's answer is the forwarder's. */
bool topic_forwarded(struct net_request *req, struct net_response *resp,
		     int *rc)
{
	const struct topic_cluster *cl = topic_cluster_get(req->ctx);
	if (!cl || !cl->forward)
		return false;
	*rc = cl->forward(cl->ctx, req, resp);
	return true;
}

int topic_error_body(const struct net_request *req, int16_t error_code,
		     struct wire_writer *w)
{
	switch (req->header.api_key) {
	case WIRE_API_CREATE_TOPICS:
	case WIRE_API_DELETE_TOPICS:
	case WIRE_API_CREATE_PARTITIONS:
		return topic_admin_error_body(req, error_code, w);
	case WIRE_API_ALTER_CONFIGS:
	case WIRE_API_INCREMENTAL_ALTER_CONFIGS:
		return topic_config_error_body(req, error_code, w);
	default:
		return KB_ERR_NOTFOUND;
	}
}

/* KAFKA: AutoTopicCreationManager: the controller creates it; until the
 * metadata log says so the caller retries (KB_ERR_AGAIN). */
int topic_cluster_create(struct topic_manager *tm,
			 const struct topic_create_req *req)
{
	const struct topic_cluster *cl = topic_cluster_get(tm);
	assert(cl);
	if (cl->create && cl->create(cl->ctx, req) != KB_OK)
		KB_WARN("topics: could not ask the controller for %s",
			req->name);
	return KB_ERR_AGAIN;
}

/* KAFKA: ConfigurationControlManager's ConfigRecords, as a broker's
 * MetadataPublisher applies them: the whole set replaces the old one. */
int topic_overrides_replace(struct topic_manager *tm, struct topic *t,
			    const struct topic_config_kv *kv, size_t n)
{
	struct topic_overrides o = {0};
	int rc = KB_OK;
	for (size_t i = 0; rc == KB_OK && i < n; i++)
		rc = kv[i].name && kv[i].value
			     ? topic_overrides_set(&o, kv[i].name, kv[i].value)
			     : KB_ERR_INVAL;
	if (rc != KB_OK) {
		topic_overrides_free(&o);
		return rc;
	}
	return topic_reconfigure(tm, t, &o); /* takes o */
}

void topic_cluster_check(const struct topic_manager *tm)
{
#ifndef NDEBUG
	if (topic_cluster_get(tm))
		return; /* the metadata log decides, chapter 07 checks it */
	int32_t node = topic_manager_config(tm)->node_id;
	struct topic_broker_info b;
	assert(topic_cluster_broker(tm, 0, &b) && b.id == node); /* INV 1 */
	assert(!topic_cluster_broker(tm, 1, &b));
	assert(topic_cluster_controller(tm) == node);
	for (size_t i = 0; i < topic_count(tm); i++)
		for (int32_t p = 0; p < topic_at(tm, i)->npartitions; p++)
			assert(topic_at(tm, i)->partitions[p]->leader_id == node);
#else
	(void)tm;
#endif
}
