/* SPDX-License-Identifier: MIT */
/*
 * Chapter 15 — meta: what 15_meta.c defines, for 15_config.c (broker_open
 * settles the log directory), the `samsa format` and `random-uuid`
 * commands of 15_broker.c, and the tests. Who a log directory belongs to.
 */
#ifndef SAMSA_META_H
#define SAMSA_META_H

#include "00_base.h"
#include "06_topics.h"
#include "15_properties.h"

/* KAFKA: meta.properties, written by `kafka-storage.sh format`. */
#define BROKER_META_FILE "meta.properties"

/* What meta.properties holds (KAFKA: MetaProperties, version 1). */
struct broker_meta {
	int32_t node_id;                          /* node.id */
	char cluster_id[TOPIC_CLUSTER_ID_MAX];    /* cluster.id: a Uuid's 22 characters */
	char directory_id[TOPIC_CLUSTER_ID_MAX];  /* directory.id (KIP-858): one per log dir */
};

/* A new random Kafka Uuid as 22 base64url characters (never reserved, never a leading '-'); KB_ERR_IO if getrandom fails. out: TOPIC_ID_STRING_LEN+1 bytes. */
int broker_uuid_random(char *out);

/* KAFKA: kafka-storage format. Check m's ids, draw m->directory_id, write <log_dir>/meta.properties durably; KB_ERR_EXISTS (err: Kafka's words) if there is one. */
int broker_meta_format(const char *log_dir, struct broker_meta *m, struct broker_error *err);

/* Read <log_dir>/meta.properties; its node.id must be m->node_id, its cluster.id m->cluster_id unless "". Fills m, adds a missing directory.id; KB_ERR_NOTFOUND if unformatted. */
int broker_meta_load(const char *log_dir, struct broker_meta *m, struct broker_error *err);

/* Read <log_dir>/meta.properties or format it with a new cluster id; KB_ERR_INVAL if another node's. cluster_id: TOPIC_CLUSTER_ID_MAX bytes. */
int broker_meta_load_or_create(const char *log_dir, int32_t node_id,
			       char *cluster_id, struct broker_error *err);

#endif
