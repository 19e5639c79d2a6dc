/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07, fifth to eighth files — the active controller: the brokers
 * and elections (07_controller.c), AlterPartition and ElectLeaders
 * (07_controller_isr.c), placement (07_controller_place.c), topics and the
 * API table (07_controller_topics.c). A request and the committed image
 * in, metadata records and a response body out. No sockets, no Raft, no files: the caller appends the records
 * as one batch and sends the response once that batch is committed.
 *
 * Single-threaded; one controller write in flight at a time, so the image
 * given to each call holds every record written before.
 */
#ifndef SAMSA_CONTROLLER_H
#define SAMSA_CONTROLLER_H

#include "00_base.h"
#include "04_codec.h"
#include "06_topics.h"
#include "07_metadata.h"

/* KAFKA: broker.session.timeout.ms default. */
#define CTRL_SESSION_TIMEOUT_MS 9000
/* KAFKA: leader.imbalance.check.interval.seconds default, in ms. */
#define CTRL_IMBALANCE_CHECK_MS 300000
/* KAFKA: ProducerIdControlManager hands out blocks of this many ids. */
#define CTRL_PRODUCER_ID_BLOCK 1000

/* What the controller needs from the node's configuration. */
struct ctrl_config {
	int32_t node_id;
	const char *cluster_id;           /* borrowed: meta.properties cluster.id */
	int64_t session_timeout_ms;       /* broker.session.timeout.ms, 9000 */
	int32_t num_partitions;           /* num.partitions */
	int16_t default_replication_factor; /* default.replication.factor */
	int16_t max_replication_factor;   /* samsa's cap; <= 0: none (INT16_MAX) */
	bool delete_topic_enable;         /* delete.topic.enable */
	uint64_t seed;                    /* placement's random start; 0: clock */
	const struct topic_manager *tm;   /* borrowed: topic config validation */
	bool unclean_leader_election_enable; /* unclean.leader.election.enable, false */
	bool auto_leader_rebalance_enable;   /* auto.leader.rebalance.enable (Kafka: true) */
	int64_t leader_imbalance_check_interval_ms; /* leader.imbalance.check.interval.seconds
						      * * 1000; <= 0: 300 s */
};

/* One controller request. The body reader is consumed. */
struct ctrl_input {
	int16_t api_key, api_version;
	struct wire_reader body;      /* the request body, after its header */
	const struct meta_image *img; /* borrowed: the committed image */
	int64_t next_offset;          /* offset the first record will get */
	int64_t now_ms;               /* monotonic */
	bool allow_internal;          /* a broker creating an internal topic
					 (__consumer_offsets) for itself */
};

/* What one call decided: records (each framed by meta_record_encode,
 * record i = records.data[ends[i-1], ends[i])) and a response body. */
struct ctrl_output {
	struct kb_buf records; /* owned */
	size_t *ends;          /* owned: n used of cap */
	int n;
	size_t cap;
	struct kb_buf response; /* owned: the body, after its header */
};

struct ctrl;

/* ---- Lifecycle ---- */

/* A controller with cfg (copied; cluster_id and tm stay borrowed); owned *out. */
int ctrl_new(const struct ctrl_config *cfg, struct ctrl **out);
/* Free c. */
void ctrl_free(struct ctrl *c);
/* This node became the active controller: every broker's session restarts at now. */
void ctrl_activate(struct ctrl *c, const struct meta_image *img, int64_t now_ms);
/* Empty output; fini frees it (init again to reuse). */
void ctrl_output_init(struct ctrl_output *o);
void ctrl_output_fini(struct ctrl_output *o);
/* Assert the controller's invariants (07_controller.c header). */
void ctrl_check(const struct ctrl *c);

/* ---- Decisions ---- */

/* One request: KB_OK (out filled), KB_ERR_PROTO (malformed: close),
 * KB_ERR_NOTFOUND (not a controller API or version). */
int ctrl_handle(struct ctrl *c, const struct ctrl_input *in,
		struct ctrl_output *out);
/* Time passed: fence an expired session, re-elect leaderless partitions (records only). */
int ctrl_tick(struct ctrl *c, const struct ctrl_input *in,
	      struct ctrl_output *out);

/* ---- Later chapters' controller APIs (chapter 12: CreateAcls, DeleteAcls) ---- */

/* Decide one request as ctrl_handle does: KB_OK with out filled, or
 * KB_ERR_PROTO. ctx is the extension's. */
typedef int (*ctrl_decide_fn)(void *ctx, struct ctrl *c,
			      const struct ctrl_input *in,
			      struct ctrl_output *out);
/* One API a later chapter decides on the controller. */
struct ctrl_extension {
	int16_t api_key, min_version, max_version;
	ctrl_decide_fn fn;
	void *ctx; /* borrowed */
};
/* KAFKA: the few admin APIs a later chapter adds (ACLs, SCRAM). */
#define CTRL_MAX_EXTENSIONS 8

/* ctrl_handle decides e's api with e->fn from now on (copied); KB_ERR_EXISTS, KB_ERR_RANGE. */
int ctrl_extend(struct ctrl *c, const struct ctrl_extension *e);
/* Append rec, framed, as the next record of o (what a decide fn emits). */
int ctrl_output_emit(struct ctrl_output *o, const struct meta_record *rec);
/* A random 64-bit number from the controller's generator (ACL ids). */
uint64_t ctrl_random64(struct ctrl *c);

/* KAFKA: StripedReplicaPlacer's question and answer. */
struct ctrl_placement {
	int32_t num_partitions;
	int16_t replication_factor;
	int32_t *replicas; /* owned (free()): num_partitions * replication_factor */
	char message[160]; /* why not, when ctrl_place returns KB_ERR_INVAL */
};
/* Place p's partitions on img's brokers, rack-aware; KB_ERR_INVAL with message. */
int ctrl_place(struct ctrl *c, const struct meta_image *img,
	       struct ctrl_placement *p);

/* ---- The broker RPCs, both sides (KAFKA: all flexible from v0) ---- */

/* KAFKA: BrokerRegistrationRequest v0-4 (62). Views borrow the reader's bytes. */
struct ctrl_registration_req {
	int32_t broker_id;
	struct wire_str cluster_id;
	struct wire_uuid incarnation_id;
	struct meta_array listeners; /* struct meta_endpoint; owned when decoded */
	struct meta_array features;  /* struct meta_broker_feature; the same */
	struct wire_str rack;        /* nullable */
	bool is_migrating_zk_broker; /* v1+ */
	struct meta_array log_dirs;  /* struct wire_uuid, v2+; the same */
	int64_t previous_broker_epoch; /* v3+, -1 */
};
struct ctrl_registration_resp {
	int16_t error_code;
	int64_t broker_epoch; /* -1 when none was assigned */
};
/* KAFKA: BrokerHeartbeatRequest v0-1 (63). */
struct ctrl_heartbeat_req {
	int32_t broker_id;
	int64_t broker_epoch;
	int64_t current_metadata_offset;
	bool want_fence, want_shut_down;
};
struct ctrl_heartbeat_resp {
	int16_t error_code;
	bool is_caught_up, is_fenced, should_shut_down;
};
/* KAFKA: AllocateProducerIdsRequest v0 (67). */
struct ctrl_producer_ids_req {
	int32_t broker_id;
	int64_t broker_epoch;
};
struct ctrl_producer_ids_resp {
	int16_t error_code;
	int64_t producer_id_start;
	int32_t producer_id_len;
};

/* KAFKA: AlterPartitionRequest v0-3 (56), the leader's ISR change. A v3
 * NewIsrWithEpochs member; v0-2 send ids only (epoch -1: not checked). */
struct ctrl_isr_member {
	int32_t broker_id;
	int64_t broker_epoch;
};
/* One PartitionData: the ISR the leader wants, at the epochs it knows. */
struct ctrl_alter_partition {
	int32_t partition_index;
	int32_t leader_epoch;
	int32_t n_isr;
	struct ctrl_isr_member *new_isr; /* owned when decoded */
	int8_t leader_recovery_state;    /* v1+: 0 RECOVERED, 1 RECOVERING */
	int32_t partition_epoch;
};
/* One TopicData: by id from v2, by name before. */
struct ctrl_alter_topic {
	struct wire_uuid topic_id;  /* v2+ */
	struct wire_str topic_name; /* v0-1; a view when decoded */
	int32_t n_partitions;
	struct ctrl_alter_partition *partitions; /* owned when decoded */
};
struct ctrl_alter_partition_req {
	int32_t broker_id;
	int64_t broker_epoch;
	int32_t n_topics;
	struct ctrl_alter_topic *topics; /* owned when decoded */
};
/* One partition's answer: the state after the change (or the error). */
struct ctrl_alter_partition_result {
	int32_t partition_index;
	int16_t error_code;
	int32_t leader_id;
	int32_t leader_epoch;
	int32_t n_isr;
	int32_t *isr;                 /* owned when decoded */
	int8_t leader_recovery_state; /* v1+ */
	int32_t partition_epoch;
};
struct ctrl_alter_topic_result {
	struct wire_uuid topic_id;  /* v2+ */
	struct wire_str topic_name; /* v0-1 */
	int32_t n_partitions;
	struct ctrl_alter_partition_result *partitions; /* owned when decoded */
};
struct ctrl_alter_partition_resp {
	int16_t error_code; /* top level: STALE_BROKER_EPOCH, NOT_CONTROLLER */
	int32_t n_topics;
	struct ctrl_alter_topic_result *topics; /* owned when decoded */
};

/* Body of the request/response at version v, appended to out. */
int ctrl_registration_req_encode(const struct ctrl_registration_req *q,
				 int16_t v, struct kb_buf *out);
int ctrl_registration_resp_encode(const struct ctrl_registration_resp *p,
				  int16_t v, struct kb_buf *out);
int ctrl_heartbeat_req_encode(const struct ctrl_heartbeat_req *q, int16_t v,
			      struct kb_buf *out);
int ctrl_heartbeat_resp_encode(const struct ctrl_heartbeat_resp *p, int16_t v,
			       struct kb_buf *out);
int ctrl_producer_ids_req_encode(const struct ctrl_producer_ids_req *q,
				 int16_t v, struct kb_buf *out);
int ctrl_producer_ids_resp_encode(const struct ctrl_producer_ids_resp *p,
				  int16_t v, struct kb_buf *out);
/* Decode a body at version v; KB_ERR_PROTO; registration: fini even on error. */
int ctrl_registration_req_decode(struct wire_reader *r, int16_t v,
				 struct ctrl_registration_req *q);
void ctrl_registration_req_fini(struct ctrl_registration_req *q);
int ctrl_registration_resp_decode(struct wire_reader *r, int16_t v,
				  struct ctrl_registration_resp *p);
int ctrl_heartbeat_req_decode(struct wire_reader *r, int16_t v,
			      struct ctrl_heartbeat_req *q);
int ctrl_heartbeat_resp_decode(struct wire_reader *r, int16_t v,
			       struct ctrl_heartbeat_resp *p);
int ctrl_producer_ids_req_decode(struct wire_reader *r, int16_t v,
				 struct ctrl_producer_ids_req *q);
int ctrl_producer_ids_resp_decode(struct wire_reader *r, int16_t v,
				  struct ctrl_producer_ids_resp *p);

/* AlterPartition (07_controller_isr.c): encode at v0-3; decode allocates
 * the arrays (every count bounded by the bytes left): fini even on error. */
int ctrl_alter_partition_req_encode(const struct ctrl_alter_partition_req *q,
				    int16_t v, struct kb_buf *out);
int ctrl_alter_partition_req_decode(struct wire_reader *r, int16_t v,
				    struct ctrl_alter_partition_req *q);
void ctrl_alter_partition_req_fini(struct ctrl_alter_partition_req *q);
int ctrl_alter_partition_resp_encode(const struct ctrl_alter_partition_resp *p,
				     int16_t v, struct kb_buf *out);
int ctrl_alter_partition_resp_decode(struct wire_reader *r, int16_t v,
				     struct ctrl_alter_partition_resp *p);
void ctrl_alter_partition_resp_fini(struct ctrl_alter_partition_resp *p);
/* KAFKA: ElectLeaders v0-2's error answer to req (a topic_error_body_fn
 * for a broker that forwards ElectLeaders); KB_ERR_PROTO if req is bad. */
int ctrl_elect_leaders_error_body(const struct net_request *req,
				  int16_t error_code, struct wire_writer *w);

#endif
