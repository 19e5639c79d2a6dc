/* SPDX-License-Identifier: MIT */
/*
 * Chapter 06 — topics: the single-node broker. Nine files share this
 * header, a one-way stack read top to bottom (each uses only those above):
 *   06_logdir.c        the data dir's health: offline after a failed
 *                      write, online again after a probe write;
 *   06_topics.c        the registry: names, ids, partitions, the hooks,
 *                      the one door a batch enters by;
 *   06_config_defs.c   per-topic configs: one table, validation;
 *   06_lifecycle.c     topics on disk: load, create, delete, close;
 *   06_admin.c         Metadata, CreateTopics, DeleteTopics,
 *                      CreatePartitions, DescribeCluster;
 *   06_config_apis.c   DescribeConfigs, AlterConfigs,
 *                      IncrementalAlterConfigs;
 *   06_produce.c       the data path in: Produce, and the request
 *                      shape every data API shares (06_data_internal.h);
 *   06_fetch.c         the data path out: Fetch, ListOffsets,
 *                      OffsetForLeaderEpoch, DeleteRecords;
 *   06_apis.c          the API table and topic_manager_open.
 * The only surface later chapters may use, up to the banner "Between the
 * files of chapter 06".
 *
 * Single-threaded: everything here is owned by the reactor of chapter 05.
 */
#ifndef SAMSA_TOPICS_H
#define SAMSA_TOPICS_H

#include "00_base.h"
#include "01_segment.h"
#include "03_log.h"
#include "04_codec.h"
#include "05_server.h"

/* ---- Limits and Kafka defaults ---- */

/* KAFKA: Topic.MAX_NAME_LENGTH: 249 characters of [a-zA-Z0-9._-]. */
#define TOPIC_NAME_MAX 249
/* KAFKA: message.max.bytes default: 1 MiB + LOG_OVERHEAD (12 bytes). */
#define TOPIC_DEFAULT_MESSAGE_MAX_BYTES 1048588
/* KAFKA: log.retention.check.interval.ms default, 5 minutes. */
#define TOPIC_DEFAULT_RETENTION_CHECK_MS 300000
/* Fixed sizes of the strings in struct topic_broker_config, NUL included. */
#define TOPIC_HOST_MAX 256
#define TOPIC_PATH_MAX 4096
#define TOPIC_CLUSTER_ID_MAX 64
#define TOPIC_RACK_MAX 64
/* Uuid.toString(): 16 bytes as base64url without padding = 22 chars. */
#define TOPIC_ID_STRING_LEN 22
/* KAFKA: the group coordinator's topic (chapter 09). */
#define TOPIC_CONSUMER_OFFSETS "__consumer_offsets"

/* ---- Broker configuration ---- */

/* What the topic manager needs from server.properties (KAFKA key names in
 * the comments). Chapter 15 fills it from the config file; start from
 * topic_broker_config_defaults. Strings are fixed arrays so the struct can
 * be copied and needs no freeing. */
struct topic_broker_config {
	int32_t node_id;                    /* node.id */
	char advertised_host[TOPIC_HOST_MAX]; /* advertised.listeners host */
	int32_t advertised_port;            /* advertised.listeners port */
	char rack[TOPIC_RACK_MAX];          /* broker.rack; "" = null */
	char log_dir[TOPIC_PATH_MAX];       /* log.dirs (one directory) */
	char cluster_id[TOPIC_CLUSTER_ID_MAX]; /* meta.properties cluster.id */
	int32_t num_partitions;             /* num.partitions, 1 */
	int16_t default_replication_factor; /* default.replication.factor, 1 */
	bool auto_create_topics;            /* auto.create.topics.enable, true */
	bool delete_topic_enable;           /* delete.topic.enable, true */
	int32_t message_max_bytes;          /* message.max.bytes, 1048588 */
	int32_t min_insync_replicas;        /* min.insync.replicas, 1 */
	/* log.segment.bytes, log.roll.ms/hours, log.retention.ms/minutes/hours,
	 * log.retention.bytes, log.flush.interval.messages,
	 * log.flush.interval.ms, log.index.size.max.bytes,
	 * log.index.interval.bytes: the broker-wide defaults of topic configs. */
	struct log_config log_defaults;
	int64_t log_retention_check_interval_ms; /* log.retention.check.interval.ms */
	bool rack_aware_reads;   /* replica.selector.class is Kafka's
				    RackAwareReplicaSelector (KIP-392) */
};

/* Kafka's defaults for every field (node.id 1, localhost:9092, ...). */
void topic_broker_config_defaults(struct topic_broker_config *cfg);

/* ---- Topic configuration ---- */

/* The effective configuration of one topic: Kafka's default, overridden by
 * the broker's config, overridden by the topic's own settings. Built from
 * one table in 06_config_defs.c (name, type, default, validator) that also
 * drives DescribeConfigs and the AlterConfigs APIs. */
struct topic_config {
	struct log_config log;        /* segment.*, retention.*, flush.*, index.* */
	bool cleanup_delete;          /* cleanup.policy contains "delete" */
	bool cleanup_compact;         /* cleanup.policy contains "compact" (ch 10) */
	int32_t max_message_bytes;    /* max.message.bytes */
	bool log_append_time;         /* message.timestamp.type=LogAppendTime */
	int32_t min_insync_replicas;  /* min.insync.replicas */
	int64_t delete_retention_ms;  /* delete.retention.ms (ch 10) */
	double min_cleanable_dirty_ratio; /* min.cleanable.dirty.ratio (ch 10) */
	int64_t min_compaction_lag_ms;    /* min.compaction.lag.ms (ch 10) */
	int64_t max_compaction_lag_ms;    /* max.compaction.lag.ms (ch 10) */
	bool unclean_leader_election_enable; /* (ch 08) */
};

/* One topic-level setting as text, the way clients send it and the
 * properties file keeps it. borrows: both strings. */
struct topic_config_kv {
	const char *name;
	const char *value;
};

/* A topic's own settings as text (name=value), set by CreateTopics and
 * the AlterConfigs APIs and kept in its properties file. */
struct topic_overrides {
	char **names;  /* owned: n owned strings */
	char **values; /* owned: n owned strings */
	size_t n;
};

/* ---- Topics and partitions ---- */

struct topic;

/* One partition of a topic: its log and the state a leader keeps. Pointers
 * to it stay valid until the topic is deleted (the topic holds an array of
 * pointers, so CreatePartitions never moves a partition). */
struct topic_partition {
	struct topic *topic;    /* borrowed: the topic holding it */
	int32_t index;          /* the partition number */
	struct log *log;        /* owned */
	int32_t leader_id;      /* node.id on a single node; in a cluster,
				   chapter 07 sets it from the metadata log */
	int32_t leader_epoch;   /* 0 on a single node (chapter 08 bumps it) */
	int64_t high_watermark; /* = log end offset on a single node */
};

/* One topic. Owned by the topic manager; valid until DeleteTopics or
 * topic_manager_close. */
struct topic {
	struct topic_manager *tm;          /* borrowed: the manager holding it */
	char name[TOPIC_NAME_MAX + 1];
	struct wire_uuid id;               /* from partition.metadata */
	bool internal;                     /* __consumer_offsets and friends */
	struct topic_partition **partitions; /* owned: npartitions pointers */
	int32_t npartitions;
	struct topic_config cfg;           /* effective configuration */
	struct topic_overrides overrides;  /* owned: what cfg was built from */
};

/* The topic manager: every topic of this broker. Opaque. */
struct topic_manager;

/* ---- Lifecycle (06_apis.c, 06_lifecycle.c; docs/06_lifecycle.md) ---- */

/* Load cfg->log_dir, register every handler on srv (NULL: none); owned *out. */
int topic_manager_open(const struct topic_broker_config *cfg,
		       struct net_server *srv, struct topic_manager **out);
/* Clean shutdown (flush, checkpoints, marker); after net_server_free. */
void topic_manager_close(struct topic_manager *tm);
/* The broker config the manager was opened with. */
const struct topic_broker_config *topic_manager_config(
	const struct topic_manager *tm);
/* One retention and flush.ms pass, then the checkpoints; now_ms: wall. */
void topic_manager_tick(struct topic_manager *tm, int64_t now_ms);
/* Write both offset checkpoint files for every partition now. */
int topic_manager_checkpoint(struct topic_manager *tm);

/* ---- Names and ids (06_topics.c) ---- */

/* KAFKA: Topic.validate: 1-249 chars of [a-zA-Z0-9._-], not "." or "..". */
bool topic_name_valid(const char *name, size_t len);
/* __cluster_metadata or an internal topic: no client creates or writes it. */
bool topic_name_reserved(const char *name, size_t len);
/* KAFKA: Uuid.toString: base64url, no padding, into TOPIC_ID_STRING_LEN+1. */
void topic_id_format(const struct wire_uuid *id, char *out);
/* The reverse; KB_ERR_INVAL unless s is 22 base64url characters. */
int topic_id_parse(const char *s, struct wire_uuid *out);

/* ---- Hooks for later chapters (06_topics.c; docs/06_topics.md) ---- */

/* The topic named name, or NULL; valid until the topic is deleted. */
struct topic *topic_find(struct topic_manager *tm, const char *name);
/* topic_find for a name that is not NUL-terminated (a wire view). */
struct topic *topic_find_len(const struct topic_manager *tm, const char *name,
			     size_t len);
/* The topic with id, or NULL. */
struct topic *topic_find_by_id(struct topic_manager *tm,
			       const struct wire_uuid *id);
/* How many topics; topic_at(i) walks them in creation order. */
size_t topic_count(const struct topic_manager *tm);
/* Topic i in creation order; valid until a topic is created or deleted. */
struct topic *topic_at(const struct topic_manager *tm, size_t i);
/* One partition, or NULL if the topic or the partition does not exist. */
struct topic_partition *topic_partition_find(struct topic_manager *tm,
					     const char *topic,
					     int32_t partition);

/* A topic as a caller asks for it (KAFKA: CreateTopics' CreatableTopic,
 * and its replication factor): name, partitions, config overrides. */
struct topic_create_req {
	const char *name;
	int32_t num_partitions;                /* -1: num.partitions */
	const struct topic_config_kv *configs; /* borrowed; may be NULL */
	size_t nconfigs;
	int16_t replication_factor; /* in a cluster; <= 0: the broker default */
};

/* Create as CreateTopics would (KB_ERR_EXISTS, KB_ERR_INVAL). */
int topic_create(struct topic_manager *tm, const struct topic_create_req *req,
		 struct topic **out);
/* Append a validated batch (rewritten in place): HW, subscribers, one wake. */
int topic_append_batch(struct topic_partition *tp, uint8_t *batch, size_t len,
		       struct log_append_info *info);
/* Copy whole batches from *offset, up to the log end, into out; *offset: next. */
int topic_read_copy(struct topic_partition *tp, int64_t *offset,
		    size_t max_bytes, struct kb_buf *out);

/* What the produce check decides about one batch. */
struct topic_produce_verdict {
	int16_t error_code;  /* KAFKA_ERR_*: NONE to go on, else the answer */
	bool duplicate;      /* already appended: answer with base_offset */
	int64_t base_offset; /* of the original batch, when duplicate */
};

/* Chapter 11: judge batch, the partition's one batch of a request, into v. */
typedef void (*topic_produce_check_fn)(void *ctx, struct topic_partition *tp,
				       const struct seg_batch *batch,
				       struct topic_produce_verdict *v);
/* Install the produce check (NULL removes it). borrows: ctx. */
void topic_set_produce_check(struct topic_manager *tm,
			     topic_produce_check_fn fn, void *ctx);
/* Run the produce check (Produce does, before appending); none: go on. */
void topic_run_produce_check(struct topic_manager *tm,
			     struct topic_partition *tp,
			     const struct seg_batch *batch,
			     struct topic_produce_verdict *v);

/* A partition event: batch (header as stored) was appended to tp. */
typedef void (*topic_appended_fn)(void *ctx, struct topic_partition *tp,
				  const struct seg_batch *batch,
				  const struct log_append_info *info);
/* Subscribe fn with ctx to appends (any number, in order). borrows: ctx. */
int topic_subscribe(struct topic_manager *tm, topic_appended_fn fn, void *ctx);
/* Remove the subscription of fn with ctx (none: nothing happens). */
void topic_unsubscribe(struct topic_manager *tm, topic_appended_fn fn,
		       void *ctx);
/* Chapter 08: become the one owner of the high watermark, once. */
void topic_take_high_watermark(struct topic_manager *tm);
/* The owner moves tp's high watermark (never back, never past LEO). */
void topic_partition_set_high_watermark(struct topic_manager *tm,
					struct topic_partition *tp,
					int64_t high_watermark);

/* Chapter 08: append a leader's batch as it is (offsets and epoch kept). */
int topic_append_replica(struct topic_partition *tp, const uint8_t *batch,
			 size_t len, struct log_append_info *info);
/* Chapter 08: cut tp to offset (start_over: empty, starting there). */
int topic_partition_truncate(struct topic_manager *tm,
			     struct topic_partition *tp, int64_t offset,
			     bool start_over);
/* Chapter 11: tp was just truncated; forget what lay past its end. */
typedef void (*topic_truncated_fn)(void *ctx, struct topic_partition *tp);
/* Install the truncate hook (one; NULL removes it). borrows: ctx. */
void topic_set_truncate_hook(struct topic_manager *tm, topic_truncated_fn fn,
			     void *ctx);
/* Chapter 08: follower replica_id fetches tp from fetch_offset (its log
 * end offset). NONE to serve it up to the log end offset, or the error
 * its partition gets. */
typedef int16_t (*topic_follower_fetch_fn)(void *ctx,
					   struct topic_partition *tp,
					   int32_t replica_id,
					   int64_t fetch_offset);
/* Install the follower fetch hook (NULL: replica fetches are refused). */
void topic_set_follower_fetch(struct topic_manager *tm,
			      topic_follower_fetch_fn fn, void *ctx);
/* Run it (none installed: NOT_LEADER_OR_FOLLOWER, as for a client that
 * claims to be a replica). */
int16_t topic_follower_fetch(struct topic_manager *tm,
			     struct topic_partition *tp, int32_t replica_id,
			     int64_t fetch_offset);

/* ---- A broker in a cluster (chapter 07 installs this) ---- */

/* One broker as Metadata and DescribeCluster list it. */
struct topic_broker_info {
	int32_t id;
	const char *host; /* borrowed until the next call */
	int32_t port;
	const char *rack; /* NULL: none */
};

/* Where one partition lives (KAFKA: PartitionRegistration). */
struct topic_replicas {
	int32_t leader_id; /* -1: none */
	int32_t leader_epoch;
	const int32_t *replicas; /* borrowed until the next call */
	int32_t n_replicas;
	const int32_t *isr;      /* borrowed until the next call */
	int32_t n_isr;
};

/* The cluster this broker is part of (KAFKA: MetadataCache and
 * ForwardingManager). Called on the reactor thread only. */
struct topic_cluster {
	/* KAFKA: the brokers at the endpoints of one listener name. Unfenced
	 * broker i, ordered by id, among those that registered an endpoint
	 * named listener (NULL or "": the inter-broker one); KB_ERR_RANGE
	 * past the last. A broker lacking that listener is left out. */
	int (*broker_at)(void *ctx, const char *listener, int32_t i,
			 struct topic_broker_info *out);
	/* Broker id's endpoint named listener (as broker_at), fenced or not:
	 * KB_ERR_NOTFOUND when id is not registered, KB_ERR_RANGE when it
	 * has no such listener (KAFKA: LISTENER_NOT_FOUND). */
	int (*endpoint)(void *ctx, int32_t id, const char *listener,
			struct topic_broker_info *out);
	/* Where a partition lives; KB_ERR_NOTFOUND when the metadata has none. */
	int (*replicas)(void *ctx, const char *topic, int32_t partition,
			struct topic_replicas *out);
	/* The active controller's id, -1 when unknown. */
	int32_t (*controller_id)(void *ctx);
	/* Ask the controller to create a topic (auto-creation): KB_OK asked;
	 * the topic appears when the metadata log says so. */
	int (*create)(void *ctx, const struct topic_create_req *req);
	/* Send an admin request on to the active controller and answer it
	 * from there: a handler's return (NET_PARKED, KB_ERR_PROTO). */
	int (*forward)(void *ctx, struct net_request *req,
		       struct net_response *resp);
	void *ctx; /* borrowed */
};

/* Join a cluster (copied; NULL: one node again). */
void topic_set_cluster(struct topic_manager *tm, const struct topic_cluster *c);
/* The cluster, or NULL on a single node. */
const struct topic_cluster *topic_cluster_get(const struct topic_manager *tm);
/* Chapter 07: tp is led by leader_id in leader_epoch (from the metadata). */
void topic_partition_set_leader(struct topic_partition *tp, int32_t leader_id,
				int32_t leader_epoch);

/* (06_apis.c) An admin request's response body with error_code on every
 * topic or resource it names, decoded again from a copy of req->body as
 * it was (req is not consumed): what a forwarder answers when the
 * controller cannot be reached. CreateTopics, DeleteTopics, CreatePartitions,
 * AlterConfigs, IncrementalAlterConfigs; KB_ERR_NOTFOUND for another api. */
int topic_error_body(const struct net_request *req, int16_t error_code,
		     struct wire_writer *w);
/* A later chapter's error answer for one api key it forwards (chapter 12: CreateAcls). */
typedef int (*topic_error_body_fn)(const struct net_request *req,
				   int16_t error_code, struct wire_writer *w);
/* topic_error_body answers api_key with fn from now on (NULL removes; process-wide). */
int topic_set_error_body(int16_t api_key, topic_error_body_fn fn);

/* Tests: fn(ctx, step) runs before each durable step of a create/delete. */
typedef void (*topic_step_fn)(void *ctx, const char *step);
/* Install the step hook (NULL removes it). borrows: ctx. */
void topic_set_step_hook(struct topic_manager *tm, topic_step_fn fn, void *ctx);

/* Assert every invariant of chapter 06 (no-op with NDEBUG). */
void topic_check(const struct topic_manager *tm);
/* Assert one partition's invariants (no-op with NDEBUG). */
void topic_partition_check(const struct topic_partition *tp);

/* ---- Handlers (registered by topic_manager_open; tests and fuzzer) ---- */

/* 06_admin.c */
int handle_metadata(struct net_request *req, struct net_response *resp);
int handle_create_topics(struct net_request *req, struct net_response *resp);
int handle_delete_topics(struct net_request *req, struct net_response *resp);
int handle_create_partitions(struct net_request *req,
			     struct net_response *resp);
int handle_describe_cluster(struct net_request *req,
			    struct net_response *resp);
/* 06_config_apis.c */
int handle_describe_configs(struct net_request *req,
			    struct net_response *resp);
int handle_alter_configs(struct net_request *req, struct net_response *resp);
int handle_incremental_alter_configs(struct net_request *req,
				     struct net_response *resp);
/* 06_produce.c */
int handle_produce(struct net_request *req, struct net_response *resp);
/* 06_fetch.c */
int handle_fetch(struct net_request *req, struct net_response *resp);
int handle_list_offsets(struct net_request *req, struct net_response *resp);
int handle_offset_for_leader_epoch(struct net_request *req,
				   struct net_response *resp);
int handle_delete_records(struct net_request *req, struct net_response *resp);

/* ---- The data dir's health (06_logdir.c) ---- */

/* KAFKA: LogDirFailureChannel's state for our one log dir. Online, or
 * offline since a write failed (ENOSPC, EIO, EDQUOT...): no append is
 * tried until a probe write succeeds again (topic_logdir_check). */
struct topic_logdir {
	const char *dir;       /* borrowed: the manager's log.dirs */
	bool offline;          /* a write failed; no probe has succeeded since */
	int64_t offline_since; /* kb_mono_ms of the failure; -1 while online */
	int64_t failures;      /* times it went offline since start */
	int64_t next_probe;    /* kb_mono_ms before which no probe is written */
};
/* The manager's log dir health (never NULL). */
struct topic_logdir *topic_manager_logdir(struct topic_manager *tm);
/* false while the log dir is offline: appends answer KB_ERR_IO at once,
 * and chapter 07's broker asks to be fenced. */
bool topic_logdir_online(const struct topic_logdir *ld);

/* ---- Between the files of chapter 06 (not for later chapters) ---- */

/* Online, over dir (borrowed: must outlive ld). */
void topic_logdir_init(struct topic_logdir *ld, const char *dir);
/* A write to the log dir failed with KB_ERR_IO: go offline (once). */
void topic_logdir_failed(struct topic_logdir *ld, const char *what);
/* Offline and due (every TOPIC_LOGDIR_PROBE_MS): write a probe file; its
 * success brings the dir online. Returns topic_logdir_online. */
bool topic_logdir_probe(struct topic_logdir *ld, int64_t now_ms);
/* Assert the invariants of 06_logdir.c (no-op with NDEBUG). */
void topic_logdir_check(const struct topic_logdir *ld);
/* How often an offline log dir is probed (ms). */
#define TOPIC_LOGDIR_PROBE_MS 1000
/* The probe's size: room for one batch of message.max.bytes (bytes). */
#define TOPIC_LOGDIR_PROBE_BYTES TOPIC_DEFAULT_MESSAGE_MAX_BYTES
/* The probe file, in the log dir; deleted after each probe. */
#define TOPIC_LOGDIR_PROBE_FILE ".samsa-disk-probe"


/* SIMPLIFICATION: most partitions of one topic (open files are finite). */
#define TOPIC_MAX_PARTITIONS 1000
/* A topic's own files beside the logs: <log_dir>/<this>/<id><suffix>. */
#define TOPIC_CONFIG_DIR "__samsa_topic_configs"
#define TOPIC_PROPERTIES ".properties"
/* Room for any path chapter 06 builds: log_dir and two names. */
#define TOPIC_FULL_PATH_MAX (TOPIC_PATH_MAX + 2 * TOPIC_NAME_MAX + 64)

/* The outcome of one item of an admin request. */
struct topic_result {
	int16_t error; /* KAFKA_ERR_* */
	char *message; /* owned, or NULL (sent as null) */
};

/* What a new topic is made of, validated by the caller. borrows: all. */
struct topic_spec {
	const char *name;
	int32_t npartitions;
	const struct topic_overrides *overrides;
	const struct wire_uuid *id; /* NULL: a new random id */
};

/* 06_topics.c, the registry: */
/* Set r's error and message (printf-style; NULL fmt: no message). */
void topic_result_set(struct topic_result *r, int16_t error,
		      const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The message as a wire string (null when none); valid until r is freed. */
struct wire_str topic_result_message(const struct topic_result *r);
/* Copy a wire name into out (TOPIC_NAME_MAX + 1); false if invalid. */
bool topic_name_copy(struct wire_str s, char *out);
/* KAFKA: Topic.hasCollision: another topic equal once '.' reads '_'. */
struct topic *topic_collision(const struct topic_manager *tm,
			      const char *name, size_t len);
/* KAFKA: Topic.isInternal: a topic only the broker creates and writes. */
bool topic_is_internal(const char *name);
/* KAFKA: Uuid.randomUuid, never starting with '-' as text. */
void topic_id_generate(struct wire_uuid *id);
/* The empty registry; returns owned *out. borrows: cfg (copied), srv. */
int topic_manager_new(const struct topic_broker_config *cfg,
		      struct net_server *srv, struct topic_manager **out);
/* Free the registry and every topic in it. */
void topic_manager_free(struct topic_manager *tm);
/* The server the manager was opened with, or NULL. */
struct net_server *topic_manager_server(const struct topic_manager *tm);
/* A topic of tm with no partitions yet; returns owned *out (topic_free). */
int topic_new(struct topic_manager *tm, const char *name, struct topic **out);
/* Close t's logs and free it. takes: t. */
void topic_free(struct topic *t);
/* Room for one more topic, so that topic_publish cannot fail. */
int topic_publish_reserve(struct topic_manager *tm);
/* Requests find t from now on. takes: t. */
void topic_publish(struct topic_manager *tm, struct topic *t);
/* No request finds t any more; fetches parked on its logs are woken. */
void topic_unpublish(struct topic_manager *tm, struct topic *t);
/* Run the step hook, if one is installed. */
void topic_step(const struct topic_manager *tm, const char *step);
/* The overrides map: get (NULL if unset), set (copies both), del, copy. */
const char *topic_overrides_get(const struct topic_overrides *o,
				const char *name);
int topic_overrides_set(struct topic_overrides *o, const char *name,
			const char *value);
void topic_overrides_del(struct topic_overrides *o, const char *name);
int topic_overrides_copy(struct topic_overrides *dst,
			 const struct topic_overrides *src);
/* Empty o, freeing every string. */
void topic_overrides_free(struct topic_overrides *o);

/* KAFKA: DescribeConfigsResponse.ConfigType and ConfigSource. */
#define TOPIC_CFG_BOOLEAN 1
#define TOPIC_CFG_STRING 2
#define TOPIC_CFG_INT 3
#define TOPIC_CFG_LONG 5
#define TOPIC_CFG_DOUBLE 6
#define TOPIC_CFG_LIST 7
#define TOPIC_CONFIG_SOURCE_TOPIC 1
#define TOPIC_CONFIG_SOURCE_STATIC_BROKER 4
#define TOPIC_CONFIG_SOURCE_DEFAULT 5
/* Longest config value text samsa keeps, NUL included. */
#define TOPIC_CONFIG_VALUE_MAX 256

/* One config as DescribeConfigs shows it: the synonyms in order of
 * precedence, the first giving value and source. Owns the texts it
 * points at (do not copy the struct). */
struct topic_config_entry {
	const char *name, *value, *doc;
	int8_t type, source; /* TOPIC_CFG_*, TOPIC_CONFIG_SOURCE_* */
	bool read_only;
	struct topic_config_synonym {
		const char *name, *value;
		int8_t source;
	} syn[3];
	int nsyn;
	char text[2][TOPIC_CONFIG_VALUE_MAX]; /* values made from numbers */
};

/* 06_config_defs.c, the config table: */
/* Default < broker < o into out; KB_ERR_INVAL with res (INVALID_CONFIG). */
int topic_config_build(const struct topic_manager *tm,
		       const struct topic_overrides *o, struct topic_config *out,
		       struct topic_result *res);
/* The CreateTopics v5+ "configs" array for a topic with overrides o. */
void topic_config_write_all(struct wire_writer *w,
			    const struct topic_manager *tm,
			    const struct topic_overrides *o);
/* Assert that t's cfg is what its overrides build (no-op with NDEBUG). */
void topic_config_check(const struct topic_manager *tm, const struct topic *t);
/* The type (TOPIC_CFG_*) of topic key name, or -1 for no such key. */
int8_t topic_config_key_type(const char *name);
/* Topic key i (alphabetical) with overrides o; false past the last. */
bool topic_config_entry_at(const struct topic_manager *tm,
			   const struct topic_overrides *o, size_t i,
			   struct topic_config_entry *e);
/* The topic key name with overrides o; false when there is no such key. */
bool topic_config_entry_find(const struct topic_manager *tm,
			     const struct topic_overrides *o, const char *name,
			     struct topic_config_entry *e);
/* Broker key i (static, read-only); false past the last. */
bool topic_config_broker_entry_at(const struct topic_manager *tm, size_t i,
				  struct topic_config_entry *e);
/* The next item of a comma-separated list, trimmed; NULL at the end. */
const char *topic_config_list_next(const char **p, size_t *len);
/* <log_dir>/__samsa_topic_configs/<id><suffix> into out. */
void topic_file_path(const struct topic_manager *tm,
		     const struct wire_uuid *id, const char *suffix, char *out);
/* Write t's overrides to <id>.properties, atomically. */
int topic_overrides_save(const struct topic_manager *tm, const struct topic *t);
/* Read t's overrides into o (none: empty; an old <name>.properties moves). */
int topic_overrides_load(const struct topic_manager *tm,
			 const struct topic *t, struct topic_overrides *o);
/* Persist the validated overrides o, then apply them. takes: o. */
int topic_reconfigure(struct topic_manager *tm, struct topic *t,
		      struct topic_overrides *o);

/* 06_lifecycle.c, topics on disk: */
/* topic_manager_open without the handlers: load log_dir, start timers. */
int topic_manager_load(const struct topic_broker_config *cfg,
		       struct net_server *srv, struct topic_manager **out);
/* Create spec's files all or nothing, then publish the topic. */
int topic_install(struct topic_manager *tm, const struct topic_spec *spec,
		  struct topic **out);
/* Grow t to n partitions (n > t->npartitions, validated). */
int topic_add_partitions(struct topic_manager *tm, struct topic *t, int32_t n);
/* Delete t all or nothing (intent, unpublish, files); takes t on KB_OK. */
int topic_delete(struct topic_manager *tm, struct topic *t);
/* Chapter 07 (06_config_defs.c): t's overrides become kv[0..n) from the
 * metadata log, validated, persisted and applied as AlterConfigs does. */
int topic_overrides_replace(struct topic_manager *tm, struct topic *t,
			    const struct topic_config_kv *kv, size_t n);

/* 06_topics.c, one broker of a cluster (single node: this node alone): */
/* Broker i as Metadata lists it to the client of req: at its endpoint
 * named like req's listener (an SSL client is told SSL ports; req NULL:
 * the inter-broker endpoints); false past the last. */
bool topic_cluster_broker(const struct topic_manager *tm,
			  const struct net_request *req, int32_t i,
			  struct topic_broker_info *out);
/* Broker id as the client of req sees it: KAFKA_ERR_NONE; LEADER_NOT_AVAILABLE
 * if unknown or fenced; LISTENER_NOT_FOUND if it lacks req's listener. */
int16_t topic_cluster_endpoint(const struct topic_manager *tm,
			       const struct net_request *req, int32_t id,
			       struct topic_broker_info *out);
/* How many brokers topic_cluster_broker lists to the client of req. */
int32_t topic_cluster_broker_count(const struct topic_manager *tm,
				   const struct net_request *req);
/* The active controller's id (-1: unknown). */
int32_t topic_cluster_controller(const struct topic_manager *tm);
/* tp's leader, epoch, replicas and ISR into out (self_storage holds the
 * single node's id); LEADER_NOT_AVAILABLE when the metadata has none. */
int16_t topic_cluster_replicas(const struct topic_manager *tm,
			       const struct topic_partition *tp,
			       struct topic_replicas *out,
			       int32_t *self_storage);
/* NOT_LEADER_OR_FOLLOWER unless this node leads tp, then the check of the
 * client's current leader epoch (-1: none). */
int16_t topic_leader_check(const struct topic_manager *tm,
			   const struct topic_partition *tp, int32_t current);
/* KAFKA: AuthHelper.authorize for one topic name (net_authorized; none installed: true). */
bool topic_authorized(const struct net_request *req, int8_t operation,
		      struct wire_str topic);
/* With a forward hook set: *rc is its answer, true; else false. */
bool topic_forwarded(struct net_request *req, struct net_response *resp,
		     int *rc);
/* topic_create in a cluster: ask the controller; KB_ERR_AGAIN. */
int topic_cluster_create(struct topic_manager *tm,
			 const struct topic_create_req *req);
/* Assert INVARIANT 4 of 06_topics.c (no-op with NDEBUG). */
void topic_cluster_check(const struct topic_manager *tm);
/* 06_admin.c, 06_config_apis.c: topic_error_body for their api keys. */
int topic_admin_error_body(const struct net_request *req, int16_t error_code,
			   struct wire_writer *w);
int topic_config_error_body(const struct net_request *req, int16_t error_code,
			    struct wire_writer *w);

#endif
