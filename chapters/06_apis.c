/* SPDX-License-Identifier: MIT */
/*
 * Chapter 06 — topics, part 8: the API table of the single-node broker.
 *
 * Concept:
 *   A broker is the sum of the APIs it answers. This last file of the
 *   chapter names every API of chapter 06 once, with the versions served,
 *   beside the handlers below it, and opens the topic manager with all of
 *   them registered on the server: after topic_manager_open, a Kafka client
 *   can create topics, produce and fetch.
 *
 * Kafka:
 *   ApiVersions ranges as kafka-protocol/CLIENTS.md §4 sets them; KafkaApis
 *   (the dispatch by api key).
 *
 * Interface:
 *   - topic_manager_open = topic_manager_load (06_lifecycle.c) + every
 *     handler of the chapter (net_register) with the manager as ctx.
 *   - A later chapter registers its own APIs itself; it never edits this
 *     table.
 *
 * Invariants:
 *   1. Every API key appears once; each handler named here lives in a
 *      file below this one (06_admin.c, 06_config_apis.c,
 *      06_produce.c, 06_fetch.c).
 *
 * Simplifications:
 *   - None beyond the handlers' own.
 *
 * See also: docs/06_apis.md, diagrams/06_apis.dot, tests/06_topics_test.c.
 *   Uses chapters 00 (base), 04 (codec), 05 (server).
 */
#include <stddef.h>

#include "00_base.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"

/* Every API of the chapter and the versions served (CLIENTS.md §4); the
 * ctx of each row is the topic manager, filled in at registration. */
static const struct net_api topic_apis[] = {
	/* KAFKA-18659: min 0, or librdkafka turns compression off; v0-2 are
	 * answered UNSUPPORTED_VERSION per partition. */
	{WIRE_API_PRODUCE, 0, 8, handle_produce, NULL},
	{WIRE_API_FETCH, 4, 12, handle_fetch, NULL},
	{WIRE_API_LIST_OFFSETS, 1, 7, handle_list_offsets, NULL},
	{WIRE_API_METADATA, 0, 9, handle_metadata, NULL},
	{WIRE_API_CREATE_TOPICS, 2, 7, handle_create_topics, NULL},
	{WIRE_API_DELETE_TOPICS, 1, 6, handle_delete_topics, NULL},
	{WIRE_API_DELETE_RECORDS, 0, 2, handle_delete_records, NULL},
	{WIRE_API_OFFSET_FOR_LEADER_EPOCH, 2, 4, handle_offset_for_leader_epoch,
	 NULL},
	{WIRE_API_DESCRIBE_CONFIGS, 1, 4, handle_describe_configs, NULL},
	{WIRE_API_ALTER_CONFIGS, 0, 2, handle_alter_configs, NULL},
	{WIRE_API_CREATE_PARTITIONS, 0, 3, handle_create_partitions, NULL},
	{WIRE_API_INCREMENTAL_ALTER_CONFIGS, 0, 1,
	 handle_incremental_alter_configs, NULL},
	{WIRE_API_DESCRIBE_CLUSTER, 0, 1, handle_describe_cluster, NULL},
};

static int extra_error_body(const struct net_request *req, int16_t error_code,
			    struct wire_writer *w);

/* ---- Opening the broker's topics ---- */

/* Load, then register every handler (when there is a server). A failed
 * registration closes what was loaded, cleanly. */
int topic_manager_open(const struct topic_broker_config *cfg,
		       struct net_server *srv, struct topic_manager **out)
{
	struct topic_manager *tm;
	int rc = topic_manager_load(cfg, srv, &tm);
	*out = NULL;
	if (rc != KB_OK)
		return rc;
	for (size_t i = 0; srv && rc == KB_OK && i < KB_ARRAY_LEN(topic_apis);
	     i++) {
		struct net_api api = topic_apis[i];
		api.ctx = tm;
		rc = net_register(srv, &api);
	}
	if (rc != KB_OK) {
		topic_manager_close(tm);
		return rc;
	}
	*out = tm;
	return KB_OK;
}

/* ---- The forwarder's error answer (chapter 07 calls it) ---- */

/* KAFKA: ForwardingManager answers an unreachable controller with the
 * request's getErrorResponse, from the file that handles that api. */
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
		return extra_error_body(req, error_code, w);
	}
}

/* ---- Error answers of later chapters' forwarded APIs ---- */

/* SIMPLIFICATION: one table for the process: its rows are pure functions
 * of the request (chapter 12's CreateAcls, DeleteAcls), the same for every
 * broker a test opens, so sharing them is harmless. */
static topic_error_body_fn extra_bodies[WIRE_API_COUNT];

int topic_set_error_body(int16_t api_key, topic_error_body_fn fn)
{
	if (api_key < 0 || api_key >= WIRE_API_COUNT)
		return KB_ERR_INVAL;
	extra_bodies[api_key] = fn;
	return KB_OK;
}

static int extra_error_body(const struct net_request *req, int16_t error_code,
			    struct wire_writer *w)
{
	int16_t k = req->header.api_key;
	if (k < 0 || k >= WIRE_API_COUNT || !extra_bodies[k])
		return KB_ERR_NOTFOUND;
	return extra_bodies[k](req, error_code, w);
}
