/* SPDX-License-Identifier: MIT */
/*
 * Chapter 15 — config: from server.properties to a running broker.
 *
 * Concept: each key of the key=value file is one row of a table (name,
 *   parser, range, field of struct broker_config), so a new key is one new
 *   row, and a typo or a bad value stops startup with file, line and key
 *   before anything is touched on disk. broker_open then opens the
 *   earlier chapters in order, and broker_close shuts them in reverse.
 * Kafka: KafkaConfig/ConfigDef (typed keys, validators such as atLeast(1);
 *   an unknown key is only a warning there), `--override k=v`,
 *   LogManager's .lock, BrokerServer.startup's order.
 * Interface:
 *   - broker_config_defaults, broker_config_load, any number of
 *     broker_config_set (the last wins), broker_config_finish once; only a
 *     finished config goes to broker_open.
 *   - A failing call fills struct broker_error with a line to print.
 *   - broker_open checks the port, locks the log directory, settles
 *     meta.properties (15_meta.c), listens, opens the chapters;
 *     broker_close undoes it all.
 * Invariants:
 *   1. Every key in a file is in key_table, or the load fails.
 *   2. A value is parsed and range-checked before it is stored; a failed
 *      set leaves the config as it was.
 *   3. Every error names its source ("path:line", "--override") and key.
 *   4. At most one broker uses a log directory at a time (.lock, flock).
 *   5. With controller.quorum.voters set, a broker opens only a directory
 *      `samsa format` wrote (broker_meta_format); without it, the first
 *      start formats, so `make run` stays one command.
 * Simplifications: PLAINTEXT and SSL listeners (SSL's ssl.* keys are
 *   chapter 13's, checked when broker_open builds each SSL listener's
 *   context, and the client context of an SSL listener peers dial; the
 *   listener keys are 15_listeners.c's); one log directory
 *   (no KIP-112).
 * See also: docs/15_config.md, diagrams/15_config.dot,
 *   tests/15_config_test.c, config/server.properties; read before:
 *   15_properties.c, 15_meta.c; read next: 15_broker.c. Uses chapters
 *   00 (base), 03 (log), 05 (server), 06 (topics), 09 (groups),
 *   10 (compaction), 11 (producers), 13 (TLS).
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <sys/socket.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "00_base.h"
#include "03_log.h"
#include "05_server.h"
#include "06_topics.h"
#include "09_groups.h"
#include "10_compaction.h"
#include "11_producers.h"
#include "13_tls.h"
#include "13_sasl.h"
#include "13_scram_creds.h"
#include "15_properties.h"
#include "15_meta.h"
#include "15_config.h"

/* Which later chapters are built in: `make stage-NN` compiles with
 * SAMSA_STAGE=NN, so broker_open calls no chapter that is not there. */
#ifndef SAMSA_STAGE
#define SAMSA_STAGE 15
#endif

/* Largest server.properties we read (Kafka's own is about 7 kB). */
#define CONFIG_MAX_BYTES (1024 * 1024)
/* KAFKA: the lock file in every log directory (LogManager.LockFileName). */
#define LOCK_FILE ".lock"
/* Milliseconds per unit, for log.retention.minutes/hours and log.roll.hours. */
#define MS_PER_MINUTE (60LL * 1000)
#define MS_PER_HOUR (60LL * MS_PER_MINUTE)
/* "Not given" for the keys resolved by precedence (Kafka's null default). */
#define UNSET INT64_MIN
/* KAFKA: node.id has no default; -1 means "not given" until finish. */
#define NODE_ID_UNSET (-1)

/* ---- The key table ---- */

struct broker_key;

/* Parse value and store it as key k says. KB_OK, or KB_ERR_INVAL with the
 * reason in why (without the source: broker_config_set adds it). */
typedef int (*key_parse_fn)(struct broker_config *cfg,
			    const struct broker_key *k, const char *value,
			    struct broker_error *why);

/* One server.properties key: how to read it, its range, and where it goes.
 * size 0 means "accepted, checked, stored nowhere": a Kafka key whose job
 * samsa does not have (it runs one reactor thread, so no num.io.threads),
 * listed so that Kafka's own server.properties loads. */
struct broker_key {
	const char *name;   /* KAFKA: the key, spelled as Kafka spells it */
	key_parse_fn parse; /* parse_int, parse_bool, parse_string, ... */
	size_t offset;      /* where in struct broker_config */
	size_t size;        /* the field's width in bytes; 0 = nowhere */
	int64_t min, max;   /* parse_int: the accepted range */
};

static int parse_int(struct broker_config *cfg, const struct broker_key *k,
		     const char *value, struct broker_error *why);
static int parse_bool(struct broker_config *cfg, const struct broker_key *k,
		      const char *value, struct broker_error *why);
static int parse_string(struct broker_config *cfg, const struct broker_key *k,
			const char *value, struct broker_error *why);
static int parse_selector(struct broker_config *cfg, const struct broker_key *k,
			  const char *value, struct broker_error *why);
static int parse_listeners(struct broker_config *cfg,
			   const struct broker_key *k, const char *value,
			   struct broker_error *why);
static int parse_advertised(struct broker_config *cfg,
			    const struct broker_key *k, const char *value,
			    struct broker_error *why);
static int parse_log_dirs(struct broker_config *cfg, const struct broker_key *k,
			  const char *value, struct broker_error *why);
static int parse_roles(struct broker_config *cfg, const struct broker_key *k,
		       const char *value, struct broker_error *why);
static int parse_protocols(struct broker_config *cfg,
			   const struct broker_key *k, const char *value,
			   struct broker_error *why);
static int parse_listener_name(struct broker_config *cfg,
			       const struct broker_key *k, const char *value,
			       struct broker_error *why);
static int parse_voters(struct broker_config *cfg, const struct broker_key *k,
			const char *value, struct broker_error *why);
static int parse_log_level(struct broker_config *cfg,
			   const struct broker_key *k, const char *value,
			   struct broker_error *why);
static int parse_ip_overrides(struct broker_config *cfg,
			      const struct broker_key *k, const char *value,
			      struct broker_error *why);

/* Where a key goes: the offset and width of a field of broker_config. */
#define FIELD(f) offsetof(struct broker_config, f), \
		 sizeof(((struct broker_config *)0)->f)
/* Where an accepted-but-unused key goes: nowhere (size 0). */
#define NOWHERE 0, 0
/* No range: the key's parser checks the value itself. */
#define ANY 0, 0
/* The largest Java short, int and long: Kafka's Type.SHORT/INT/LONG. */
#define I16 INT16_MAX
#define I32 INT32_MAX
#define I64 INT64_MAX

/* KAFKA: the ranges are KafkaConfig's validators (atLeast(1) is [1, max]);
 * ints are Java ints (I32) or longs (I64) as there. */
static const struct broker_key key_table[] = {
	{"node.id", parse_int, FIELD(topics.node_id), 0, I32},
	{"process.roles", parse_roles, FIELD(process_roles), ANY},
	{"controller.quorum.voters", parse_voters, FIELD(quorum_voters), ANY},
	{"controller.listener.names", parse_listener_name,
	 FIELD(controller_listener), ANY},
	{"inter.broker.listener.name", parse_listener_name,
	 FIELD(inter_broker_listener), ANY},
	{"listener.security.protocol.map", parse_protocols, FIELD(protocols), ANY},
	/* KAFKA: KRaft's timings (BrokerServer, QuorumConfig), atLeast(1) or (0). */
	{"broker.session.timeout.ms", parse_int, FIELD(kraft.session_timeout_ms), 1, I32},
	{"broker.heartbeat.interval.ms", parse_int,
	 FIELD(kraft.heartbeat_interval_ms), 1, I32},
	{"controller.quorum.election.timeout.ms", parse_int,
	 FIELD(kraft.election_timeout_ms), 1, I32},
	{"controller.quorum.fetch.timeout.ms", parse_int,
	 FIELD(kraft.fetch_timeout_ms), 1, I32},
	{"controller.quorum.request.timeout.ms", parse_int,
	 FIELD(kraft.request_timeout_ms), 1, I32},
	{"controller.quorum.retry.backoff.ms", parse_int,
	 FIELD(kraft.retry_backoff_ms), 0, I32},
	{"metadata.log.max.record.bytes.between.snapshots", parse_int,
	 FIELD(kraft.snapshot_max_bytes), 1, I64},
	{"metadata.max.idle.interval.ms", parse_int,
	 FIELD(kraft.max_idle_interval_ms), 0, I32},
	/* KAFKA: ReplicationConfigs (chapter 08). */
	{"replica.lag.time.max.ms", parse_int, FIELD(repl.lag_time_max_ms), 1, I64},
	{"replica.fetch.wait.max.ms", parse_int, FIELD(repl.fetch_wait_max_ms), 0, I32},
	{"replica.fetch.max.bytes", parse_int, FIELD(repl.fetch_max_bytes), 0, I32},
	{"replica.fetch.response.max.bytes", parse_int,
	 FIELD(repl.fetch_response_max_bytes), 0, I32},
	{"replica.fetch.backoff.ms", parse_int, FIELD(repl.fetch_backoff_ms), 0, I32},
	{"replica.socket.timeout.ms", parse_int, FIELD(repl.socket_timeout_ms), 1, I32},
	{"replica.high.watermark.checkpoint.interval.ms", parse_int,
	 FIELD(repl.hw_checkpoint_ms), 1, I64},
	/* KAFKA: the controller's leader elections (ReplicationConfigs). */
	{"unclean.leader.election.enable", parse_bool,
	 FIELD(kraft.unclean_leader_election_enable), ANY},
	{"auto.leader.rebalance.enable", parse_bool,
	 FIELD(kraft.auto_leader_rebalance_enable), ANY},
	{"leader.imbalance.check.interval.seconds", parse_int,
	 FIELD(kraft.leader_imbalance_check_interval_s), 1, I64},
	/* KAFKA: read by the ZooKeeper controller only; KRaft ignores it too. */
	{"leader.imbalance.per.broker.percentage", parse_int, NOWHERE, 0, I32},
	{"replica.selector.class", parse_selector,
	 FIELD(topics.rack_aware_reads), ANY},
	{"broker.rack", parse_string, FIELD(topics.rack), ANY},
	{"listeners", parse_listeners, FIELD(listener_host), ANY},
	{"advertised.listeners", parse_advertised, FIELD(topics.advertised_host), ANY},
	{"log.dirs", parse_log_dirs, FIELD(topics.log_dir), ANY},
	{"log.dir", parse_log_dirs, FIELD(topics.log_dir), ANY},
	{"num.partitions", parse_int, FIELD(topics.num_partitions), 1, I32},
	{"default.replication.factor", parse_int,
	 FIELD(topics.default_replication_factor), 1, I16},
	{"auto.create.topics.enable", parse_bool, FIELD(topics.auto_create_topics), ANY},
	{"delete.topic.enable", parse_bool, FIELD(topics.delete_topic_enable), ANY},
	{"message.max.bytes", parse_int, FIELD(topics.message_max_bytes), 0, I32},
	{"min.insync.replicas", parse_int, FIELD(topics.min_insync_replicas), 1, I32},
	/* KAFKA: LegacyRecord.RECORD_OVERHEAD_V0 (14) is the smallest segment. */
	{"log.segment.bytes", parse_int, FIELD(topics.log_defaults.segment_bytes), 14, I32},
	{"log.roll.ms", parse_int, FIELD(roll_ms), 1, I64},
	{"log.roll.hours", parse_int, FIELD(roll_hours), 1, I32},
	{"log.retention.ms", parse_int, FIELD(retention_ms), -1, I64},
	{"log.retention.minutes", parse_int, FIELD(retention_minutes), -1, I32},
	{"log.retention.hours", parse_int, FIELD(retention_hours), -1, I32},
	{"log.retention.bytes", parse_int,
	 FIELD(topics.log_defaults.retention_bytes), -1, I64},
	{"log.retention.check.interval.ms", parse_int,
	 FIELD(topics.log_retention_check_interval_ms), 1, I64},
	{"log.flush.interval.messages", parse_int,
	 FIELD(topics.log_defaults.flush_messages), 1, I64},
	{"log.flush.interval.ms", parse_int, FIELD(topics.log_defaults.flush_ms), 0, I64},
	/* KAFKA: atLeast(4), room for one int32. */
	{"log.index.size.max.bytes", parse_int,
	 FIELD(topics.log_defaults.segment_index_bytes), 4, I32},
	{"log.index.interval.bytes", parse_int,
	 FIELD(topics.log_defaults.index_interval_bytes), 0, I32},
	{"socket.request.max.bytes", parse_int, FIELD(net.request_max_bytes), 1, I32},
	{"connections.max.idle.ms", parse_int, FIELD(net.idle_ms), 1, I64},
	{"max.connections", parse_int, FIELD(net.max_connections), 0, I32},
	{"max.connections.per.ip", parse_int,
	 FIELD(net.max_connections_per_ip), 0, I32},
	{"max.connections.per.ip.overrides", parse_ip_overrides,
	 FIELD(net.ip_overrides), ANY},
	{"log.level", parse_log_level, FIELD(log_level), ANY},
#if SAMSA_STAGE >= 9
	{"group.initial.rebalance.delay.ms", parse_int,
	 FIELD(groups.initial_rebalance_delay_ms), 0, I32},
	{"group.min.session.timeout.ms", parse_int,
	 FIELD(groups.min_session_timeout_ms), 0, I32},
	{"group.max.session.timeout.ms", parse_int,
	 FIELD(groups.max_session_timeout_ms), 0, I32},
	{"offsets.topic.num.partitions", parse_int,
	 FIELD(groups.offsets_partitions), 1, I32},
	{"offsets.topic.segment.bytes", parse_int,
	 FIELD(groups.offsets_segment_bytes), 14, I32},
	{"offsets.retention.minutes", parse_int,
	 FIELD(groups.retention_minutes), 1, I32},
	{"offsets.retention.check.interval.ms", parse_int,
	 FIELD(groups.retention_check_ms), 1, I64},
	{"offset.metadata.max.bytes", parse_int,
	 FIELD(groups.metadata_max_bytes), 0, I32},
#else
	{"group.initial.rebalance.delay.ms", parse_int, NOWHERE, 0, I32},
#endif
#if SAMSA_STAGE >= 10
	{"log.cleaner.enable", parse_bool, FIELD(cleaner.enable), ANY},
	{"log.cleaner.backoff.ms", parse_int, FIELD(cleaner.backoff_ms), 0, I64},
	{"log.cleaner.dedupe.buffer.size", parse_int,
	 FIELD(cleaner.map_max_bytes), 1, I64},
#endif
#if SAMSA_STAGE >= 12
	{"authorizer.class.name", parse_string, FIELD(authorizer_class), ANY},
	{"super.users", parse_string, FIELD(super_users), ANY},
	{"allow.everyone.if.no.acl.found", parse_bool,
	 FIELD(allow_everyone_if_no_acl_found), ANY},
#endif
#if SAMSA_STAGE >= 11
	{"producer.id.expiration.ms", parse_int, FIELD(prod.expiration_ms), 1, I32},
	{"producer.id.expiration.check.interval.ms", parse_int,
	 FIELD(prod.expiration_check_ms), 1, I32},
#endif
	/* Kafka keys samsa accepts and does not use (see struct broker_key). */
	{"num.network.threads", parse_int, NOWHERE, 1, I32},
	{"num.io.threads", parse_int, NOWHERE, 1, I32},
	{"num.recovery.threads.per.data.dir", parse_int, NOWHERE, 1, I32},
	{"socket.send.buffer.bytes", parse_int, NOWHERE, -1, I32},
	{"socket.receive.buffer.bytes", parse_int, NOWHERE, -1, I32},
	{"offsets.commit.timeout.ms", parse_int,
	 FIELD(groups.offsets_commit_timeout_ms), 1, I32},
	{"offsets.topic.replication.factor", parse_int,
	 FIELD(groups.offsets_replication_factor), 1, I16},
	{"transaction.state.log.replication.factor", parse_int, NOWHERE, 1, I16},
	{"transaction.state.log.min.isr", parse_int, NOWHERE, 1, I32},
};

/* The state of one broker_config_load, for load_line. */
struct load_ctx {
	struct broker_config *cfg; /* borrowed: the config being loaded */
	const char *path;          /* borrowed: for "path:line" */
	struct broker_error *err;  /* borrowed: the caller's */
};

static const struct broker_key *key_find(const char *name);
static void store_int(struct broker_config *cfg, const struct broker_key *k,
		      int64_t n);
static int open_log_dir(struct broker *b, struct broker_error *err);
static int finish_advertised(struct broker_config *cfg,
			     struct broker_error *err);
static int finish_authorizer(const struct broker_config *cfg,
			     struct broker_error *err);
static int listen_all(struct broker *b, struct broker_error *err);
static int broker_parts_open(struct broker *b, struct broker_error *err);
static int listener_tls_open(struct broker *b, int i,
			     struct broker_error *err);
static int listener_sasl_open(struct broker *b, int i,
			      struct broker_error *err);
static int peer_tls_open(struct broker *b, enum net_listener_kind kind,
			 struct broker_error *err);
#if SAMSA_STAGE >= 13
static int peer_sasl_open(struct broker *b, const char *name,
			  struct tls_client *tls, struct broker_error *err);
#endif
static int finish_sasl(const struct broker_config *cfg,
		       struct broker_error *err);
static int scram_open(struct broker *b, struct broker_error *err);
static void listener_transport(struct broker *b, int i,
			       struct net_endpoint *ep);
static void listener_advertised(const struct broker_config *cfg,
				const struct broker_listener *l,
				struct net_endpoint *ep);
static int set_tls_key(struct broker_config *cfg,
		       const struct broker_setting *s, struct broker_error *err);
static bool port_in_use(const char *host, int port);
static void refuse_in_use(struct broker_error *err, const char *host,
			  int port);
static int lock_log_dir(const char *log_dir, int *fd,
			struct broker_error *err);

/* ---- Defaults ---- */

void broker_config_defaults(struct broker_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	topic_broker_config_defaults(&cfg->topics);
	net_config_defaults(&cfg->net);
	cfg->topics.node_id = NODE_ID_UNSET;
	/* KAFKA: log.dirs defaults to /tmp/kafka-logs; listeners to
	 * PLAINTEXT://:9092 (every interface). */
	snprintf(cfg->topics.log_dir, sizeof cfg->topics.log_dir,
		 "/tmp/kafka-logs");
	cfg->listener_host[0] = '\0';
	cfg->listener_port = 9092;
	cfg->listeners[0] = (struct broker_listener){
		.name = "PLAINTEXT", .port = 9092, .kind = NET_LISTENER_BROKER};
	cfg->n_listeners = 1;
	/* KAFKA: the default listener.security.protocol.map (no CONTROLLER). */
	static const char *protocols[] = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT",
					  "SASL_SSL"};
	for (size_t i = 0; i < KB_ARRAY_LEN(protocols); i++) {
		struct broker_protocol *r = &cfg->protocols[cfg->n_protocols++];
		snprintf(r->name, sizeof r->name, "%s", protocols[i]);
		snprintf(r->protocol, sizeof r->protocol, "%s", protocols[i]);
	}
	snprintf(cfg->inter_broker_listener, sizeof cfg->inter_broker_listener,
		 "PLAINTEXT");
	cfg->kraft = (struct broker_kraft_config){
		.session_timeout_ms = 9000, .heartbeat_interval_ms = 2000,
		.election_timeout_ms = 1000, .fetch_timeout_ms = 2000,
		.request_timeout_ms = 2000, .retry_backoff_ms = 20,
		.snapshot_max_bytes = 20971520, .max_idle_interval_ms = 500,
		.unclean_leader_election_enable = false,
		.auto_leader_rebalance_enable = true,
		.leader_imbalance_check_interval_s = 300};
	cfg->repl = (struct repl_config){
		.node_id = -1, .lag_time_max_ms = REPL_DEFAULT_LAG_TIME_MAX_MS,
		.fetch_wait_max_ms = REPL_DEFAULT_FETCH_WAIT_MAX_MS,
		.fetch_max_bytes = REPL_DEFAULT_FETCH_MAX_BYTES,
		.fetch_response_max_bytes = REPL_DEFAULT_FETCH_RESPONSE_MAX_BYTES,
		.fetch_backoff_ms = REPL_DEFAULT_FETCH_BACKOFF_MS,
		.socket_timeout_ms = REPL_DEFAULT_SOCKET_TIMEOUT_MS,
		.hw_checkpoint_ms = REPL_DEFAULT_HW_CHECKPOINT_MS};
	cfg->log_level = KB_LOG_INFO;
	snprintf(cfg->process_roles, sizeof cfg->process_roles, "broker");
	cfg->roll_ms = UNSET;
	cfg->roll_hours = 24 * 7; /* KAFKA: log.roll.hours 168 */
	cfg->retention_ms = UNSET;
	cfg->retention_minutes = UNSET;
	cfg->retention_hours = 24 * 7; /* KAFKA: log.retention.hours 168 */
#if SAMSA_STAGE >= 9
	grp_config_defaults(&cfg->groups);
#endif
#if SAMSA_STAGE >= 10
	clean_broker_config_defaults(&cfg->cleaner);
#endif
#if SAMSA_STAGE >= 11
	prod_config_defaults(&cfg->prod);
#endif
#if SAMSA_STAGE >= 13
	tls_settings_init(&cfg->tls);
	sasl_settings_init(&cfg->sasl);
#endif
}

/* ---- Loading a file ---- */

/* One line of the file: through the table, its source named "path:line". */
static int load_line(void *ctx, const char *key, const char *value, int line)
{
	struct load_ctx *lc = ctx;
	char where[TOPIC_PATH_MAX + 16];
	snprintf(where, sizeof where, "%s:%d", lc->path, line);
	struct broker_setting s = {key, value, where};
	return broker_config_set(lc->cfg, &s, lc->err);
}

int broker_config_load(struct broker_config *cfg, const char *path,
		       struct broker_error *err)
{
	char *text = NULL;
	int rc = kb_read_file(path, &text, NULL, CONFIG_MAX_BYTES);
	if (rc != KB_OK) {
		broker_refuse(err, "%s: cannot read: %s", path,
		     rc == KB_ERR_NOTFOUND ? "no such file" : kb_status_name(rc));
		return KB_ERR_IO;
	}
	struct load_ctx lc = {cfg, path, err};
	rc = broker_props_parse(text, load_line, &lc, err);
	free(text);
	return rc;
}

/* ---- Setting one key ---- */

/* INVARIANT: 1, 3. The key must be in the table; a bad value is reported
 * with its source. */
int broker_config_set(struct broker_config *cfg,
		      const struct broker_setting *s,
		      struct broker_error *err)
{
	const struct broker_key *k = key_find(s->key);
	if (!k)
		return set_tls_key(cfg, s, err);
	struct broker_error why;
	if (k->parse(cfg, k, s->value, &why) != KB_OK)
		return broker_refuse(err, "%s: %s: %s", s->where, s->key,
				     why.msg);
	return KB_OK;
}

/* Chapter 13's keys, ssl.* and listener.name.<name>.ssl.* (13_tls.c
 * checks them), sasl.*, listener.name.<name>.sasl.* / .plain.sasl.jaas.
 * config, connection.failed.authentication.delay.ms and
 * connections.max.reauth.ms (13_sasl.c), go
 * to its settings; any other key is unknown. */
static int set_tls_key(struct broker_config *cfg,
		       const struct broker_setting *s, struct broker_error *err)
{
#if SAMSA_STAGE >= 13
	struct tls_error why;
	int rc = tls_settings_set(&cfg->tls, s->key, s->value, &why);
	if (rc == KB_OK)
		return KB_OK;
	if (rc != KB_ERR_NOTFOUND)
		return broker_refuse(err, "%s: %s: %s", s->where, s->key,
				     why.msg);
	struct sasl_error swhy;
	rc = sasl_settings_set(&cfg->sasl, s->key, s->value, &swhy);
	if (rc == KB_OK)
		return KB_OK;
	if (rc != KB_ERR_NOTFOUND)
		return broker_refuse(err, "%s: %s: %s", s->where, s->key,
				     swhy.msg);
#endif
	return broker_refuse(err, "%s: unknown key '%s'", s->where, s->key);
}

/* A whole decimal number in [k->min, k->max], stored at the field's width.
 * INVARIANT: 2 (checked before stored). */
static int parse_int(struct broker_config *cfg, const struct broker_key *k,
		     const char *value, struct broker_error *why)
{
	char *end;
	errno = 0;
	long long n = strtoll(value, &end, 10);
	if (*value == '\0' || *end != '\0')
		return broker_refuse(why, "'%s' is not a whole number", value);
	if (errno != ERANGE && n >= k->min && n <= k->max) {
		store_int(cfg, k, n);
		return KB_OK;
	}
	if (n < k->min && (k->max == I32 || k->max == I64))
		return broker_refuse(why, "%s is out of range: must be at least %" PRId64,
			    value, k->min); /* KAFKA: atLeast(min) */
	return broker_refuse(why, "%s is out of range: must be between %" PRId64
		    " and %" PRId64, value, k->min, k->max);
}

/* KAFKA: booleans are "true" or "false", in any case. */
static int parse_bool(struct broker_config *cfg, const struct broker_key *k,
		      const char *value, struct broker_error *why)
{
	bool b;
	if (strcasecmp(value, "true") == 0)
		b = true;
	else if (strcasecmp(value, "false") == 0)
		b = false;
	else
		return broker_refuse(why, "'%s' is not true or false", value);
	if (k->size)
		memcpy((char *)cfg + k->offset, &b, sizeof b);
	return KB_OK;
}

/* KAFKA: replica.selector.class (KIP-392): the two selectors Kafka ships,
 * by class name; "" (Kafka's default, null) is the leader. */
static int parse_selector(struct broker_config *cfg, const struct broker_key *k,
			  const char *value, struct broker_error *why)
{
	bool rack = strcmp(value, "org.apache.kafka.common.replica."
			   "RackAwareReplicaSelector") == 0;
	if (!rack && value[0] && strcmp(value, "org.apache.kafka.common.replica."
					"LeaderSelector") != 0)
		return broker_refuse(why, "'%s' is not a replica selector samsa "
				     "has (RackAwareReplicaSelector, "
				     "LeaderSelector)", value);
	memcpy((char *)cfg + k->offset, &rack, sizeof rack);
	return KB_OK;
}

/* Text copied into a fixed array; too long is an error, never cut. */
static int parse_string(struct broker_config *cfg, const struct broker_key *k,
			const char *value, struct broker_error *why)
{
	if (k->size && strlen(value) >= k->size)
		return broker_refuse(why, "value is longer than %zu bytes", k->size - 1);
	if (k->size)
		memcpy((char *)cfg + k->offset, value, strlen(value) + 1);
	return KB_OK;
}

/* A listener whose name the map already gives a protocol this build
 * does not serve is refused now (broker_cluster_finish checks the rest). */
static int refuse_unserved(const struct broker_config *cfg,
			   const struct broker_listener *ls, int n,
			   const char *value, struct broker_error *why)
{
	for (int i = 0; i < n; i++) {
		const char *proto = broker_listener_protocol(cfg, ls[i].name);
		const char *unserved = proto ? broker_protocol_unserved(proto)
					     : NULL;
		if (unserved)
			return broker_refuse(why, "'%s': %s is %s: %s", value,
					     ls[i].name, proto, unserved);
	}
	return KB_OK;
}

/* listeners=NAME://host:port,... (15_listeners.c); listener_host/port
 * hold the first until broker_config_finish picks the client listener. */
static int parse_listeners(struct broker_config *cfg,
			   const struct broker_key *k, const char *value,
			   struct broker_error *why)
{
	struct broker_listener ls[BROKER_LISTENERS_MAX] = {0};
	int n;
	if (broker_listeners_parse(value, ls, &n, why) != KB_OK ||
	    refuse_unserved(cfg, ls, n, value, why) != KB_OK)
		return KB_ERR_INVAL;
	memcpy(cfg->listeners, ls, sizeof ls);
	cfg->n_listeners = n;
	memcpy(cfg->listener_host, ls[0].host, sizeof cfg->listener_host);
	cfg->listener_port = ls[0].port;
	return KB_OK;
}

/* advertised.listeners: the addresses clients are told to connect to, so
 * they must be ones they can reach. KAFKA: 0.0.0.0 is refused; an empty
 * host means this machine's name. The first is the client's until
 * broker_config_finish picks the one named as the client listener. */
static int parse_advertised(struct broker_config *cfg,
			    const struct broker_key *k, const char *value,
			    struct broker_error *why)
{
	struct broker_listener ls[BROKER_LISTENERS_MAX] = {0};
	int n;
	if (broker_listeners_parse(value, ls, &n, why) != KB_OK ||
	    refuse_unserved(cfg, ls, n, value, why) != KB_OK)
		return KB_ERR_INVAL;
	for (int i = 0; i < n; i++) {
		char *host = ls[i].host;
		if (ls[i].port == 0)
			return broker_refuse(why, "'%s': an advertised port cannot be 0",
				    value);
		if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
			return broker_refuse(why, "'%s': cannot advertise the "
				    "meta-address %s", value, host);
		if (host[0] == '\0' && gethostname(host, TOPIC_HOST_MAX) != 0)
			return broker_refuse(why, "'%s': no host and no hostname", value);
	}
	memcpy(cfg->advertised, ls, sizeof ls);
	cfg->n_advertised = n;
	memcpy(cfg->topics.advertised_host, ls[0].host, TOPIC_HOST_MAX);
	cfg->topics.advertised_port = ls[0].port;
	cfg->advertised_set = true;
	return KB_OK;
}

/* listener.security.protocol.map: replaces Kafka's default map whole. */
static int parse_protocols(struct broker_config *cfg,
			   const struct broker_key *k, const char *value,
			   struct broker_error *why)
{
	struct broker_protocol ps[BROKER_PROTOCOLS_MAX] = {0};
	int n;
	if (broker_protocols_parse(value, ps, &n, why) != KB_OK)
		return KB_ERR_INVAL;
	memcpy(cfg->protocols, ps, sizeof ps);
	cfg->n_protocols = n;
	return KB_OK;
}

/* controller.listener.names (the first name is used) and
 * inter.broker.listener.name: upper-cased as Kafka's ListenerName. */
static int parse_listener_name(struct broker_config *cfg,
			       const struct broker_key *k, const char *value,
			       struct broker_error *why)
{
	size_t len = strcspn(value, ",");
	if (len == 0 || len >= k->size)
		return broker_refuse(why, "'%s' is not a listener name", value);
	char *field = (char *)cfg + k->offset;
	for (size_t i = 0; i < len; i++)
		field[i] = (char)toupper((unsigned char)value[i]);
	field[len] = '\0';
	return KB_OK;
}

/* controller.quorum.voters=id@host:port,... (15_listeners.c); the text is
 * kept too, for `samsa` to print. */
static int parse_voters(struct broker_config *cfg, const struct broker_key *k,
			const char *value, struct broker_error *why)
{
	struct broker_voter vs[BROKER_QUORUM_MAX] = {0};
	int n;
	if (strlen(value) >= k->size)
		return broker_refuse(why, "value is longer than %zu bytes", k->size - 1);
	if (broker_voters_parse(value, vs, &n, why) != KB_OK)
		return KB_ERR_INVAL;
	memcpy(cfg->voters, vs, sizeof vs);
	cfg->n_voters = n;
	memcpy(cfg->quorum_voters, value, strlen(value) + 1);
	return KB_OK;
}

/* log.dirs (or log.dir: log.dirs wins when both are given, as in Kafka).
 * SIMPLIFICATION: one directory; a comma-separated list is refused. */
static int parse_log_dirs(struct broker_config *cfg, const struct broker_key *k,
			  const char *value, struct broker_error *why)
{
	bool plural = strcmp(k->name, "log.dirs") == 0;
	if (*value == '\0')
		return broker_refuse(why, "no directory given");
	if (strchr(value, ','))
		return broker_refuse(why, "'%s': several log directories are not supported "
			    "(SIMPLIFICATION: samsa keeps one)", value);
	if (strlen(value) >= k->size)
		return broker_refuse(why, "path is longer than %zu bytes", k->size - 1);
	if (!plural && cfg->log_dirs_set)
		return KB_OK;
	memcpy(cfg->topics.log_dir, value, strlen(value) + 1);
	cfg->log_dirs_set = cfg->log_dirs_set || plural;
	return KB_OK;
}

/* process.roles: "broker", "controller" or both, in either order.
 * KAFKA: KafkaConfig's processRoles; a controller-only node (KIP-631)
 * runs the quorum and the controller on its CONTROLLER listener only
 * (check_roles in 15_listeners.c checks the listeners that go with it). */
static int parse_roles(struct broker_config *cfg, const struct broker_key *k,
		       const char *value, struct broker_error *why)
{
	if (strcmp(value, "broker") != 0 && strcmp(value, "controller") != 0 &&
	    strcmp(value, "broker,controller") != 0 &&
	    strcmp(value, "controller,broker") != 0)
		return broker_refuse(why, "'%s' is not \"broker\", \"controller\" "
			    "or \"broker,controller\"", value);
	return parse_string(cfg, k, value, why);
}

bool broker_has_role(const struct broker_config *cfg, const char *role)
{
	return strstr(cfg->process_roles, role) != NULL; /* parse_roles' words */
}

/* log.level: samsa's own key, debug|info|warn|error (chapter 00). */
static int parse_log_level(struct broker_config *cfg,
			   const struct broker_key *k, const char *value,
			   struct broker_error *why)
{
	enum kb_log_level level;
	if (kb_log_level_parse(value, &level) != KB_OK)
		return broker_refuse(why, "'%s' is not one of debug, info, warn, error",
			    value);
	cfg->log_level = level;
	return KB_OK;
}

/* max.connections.per.ip.overrides: "address:count,address:count", as
 * Kafka writes it; an IPv6 address is the part before the last ':'.
 * SIMPLIFICATION: numeric addresses only (Kafka also takes host names). */
static int parse_ip_overrides(struct broker_config *cfg,
			      const struct broker_key *k, const char *value,
			      struct broker_error *why)
{
	struct net_config *net = &cfg->net;
	struct net_ip_limit rows[NET_MAX_IP_OVERRIDES];
	int n = 0;
	for (const char *p = value; *p;) {
		size_t len = strcspn(p, ",");
		char item[NET_HOST_MAX + 16], *colon, *end;
		if (len == 0 || len >= sizeof item || n == NET_MAX_IP_OVERRIDES)
			return broker_refuse(why, "'%s' is not up to %d address:count "
				    "pairs", value, NET_MAX_IP_OVERRIDES);
		memcpy(item, p, len);
		item[len] = '\0';
		colon = strrchr(item, ':');
		long max = colon ? strtol(colon + 1, &end, 10) : -1;
		if (!colon || colon == item || colon[1] == '\0' || *end ||
		    max < 0 || max > INT32_MAX || colon - item >= NET_HOST_MAX)
			return broker_refuse(why, "'%s' is not address:count", item);
		*colon = '\0';
		snprintf(rows[n].host, sizeof rows[n].host, "%s", broker_trim(item));
		rows[n++].max = (int)max;
		p += len + (p[len] == ',');
	}
	memcpy(net->ip_overrides, rows, (size_t)n * sizeof rows[0]);
	net->n_ip_overrides = n;
	return KB_OK;
}

/* ---- Finishing ---- */

/* The first of ms, minutes, hours that was given, in milliseconds.
 * KAFKA: a negative retention means "keep forever" (-1). */
static int64_t first_given_ms(int64_t ms, int64_t minutes, int64_t hours)
{
	int64_t v = ms != UNSET		? ms
		    : minutes != UNSET ? minutes * MS_PER_MINUTE
				       : hours * MS_PER_HOUR;
	return v < 0 ? -1 : v;
}

int broker_config_finish(struct broker_config *cfg, struct broker_error *err)
{
	struct topic_broker_config *t = &cfg->topics;
	if (t->node_id == NODE_ID_UNSET)
		return broker_refuse(err, "node.id is required (KAFKA: it has no default)");
	t->log_defaults.retention_ms = first_given_ms(
		cfg->retention_ms, cfg->retention_minutes, cfg->retention_hours);
	t->log_defaults.segment_ms = first_given_ms(cfg->roll_ms, UNSET,
						    cfg->roll_hours);
	if (broker_cluster_finish(cfg, err) != KB_OK)
		return KB_ERR_INVAL;
	if (finish_authorizer(cfg, err) != KB_OK)
		return KB_ERR_INVAL;
	if (finish_sasl(cfg, err) != KB_OK)
		return KB_ERR_INVAL;
	return finish_advertised(cfg, err);
}

/* KAFKA: authorizer.class.name names a class; samsa has one (chapter 12),
 * and its ACLs live in the metadata log, so it needs a quorum. */
static int finish_authorizer(const struct broker_config *cfg,
			     struct broker_error *err)
{
	static const char standard[] =
		"org.apache.kafka.metadata.authorizer.StandardAuthorizer";
	if (cfg->authorizer_class[0] == '\0')
		return KB_OK; /* no authorization, as Kafka without an authorizer */
	if (strcmp(cfg->authorizer_class, standard) != 0)
		return broker_refuse(err, "authorizer.class.name=%s is not "
				     "supported: samsa has %s (or leave it empty "
				     "for no authorization)",
				     cfg->authorizer_class, standard);
	if (cfg->n_voters == 0)
		return broker_refuse(err, "ACLs are kept in the KRaft metadata log: "
				     "set controller.quorum.voters (a single node "
				     "can be its own quorum: process.roles="
				     "broker,controller, controller.quorum.voters="
				     "1@127.0.0.1:9093)");
	return KB_OK;
}

/* Chapter 13: every SASL_* listener enables mechanisms samsa serves;
 * SCRAM's users live in the KRaft metadata log, so SCRAM needs a quorum
 * (as ACLs do). PLAIN's users are in the listener's JAAS text. */
static int finish_sasl(const struct broker_config *cfg,
		       struct broker_error *err)
{
#if SAMSA_STAGE >= 13
	for (int i = 0; i < cfg->n_listeners; i++) {
		const char *name = cfg->listeners[i].name;
		const char *proto = broker_listener_protocol(cfg, name);
		if (!proto || strncmp(proto, "SASL_", 5) != 0)
			continue;
		struct sasl_config sc;
		struct sasl_error why;
		unsigned mechs;
		sasl_settings_for(&cfg->sasl, name, &sc);
		if (sasl_config_mechanisms(&sc, &mechs, &why) != KB_OK)
			return broker_refuse(err, "listener %s (%s): %s (or "
					     "listener.name.%s.sasl.enabled."
					     "mechanisms)", name, proto, why.msg,
					     name);
		if ((mechs & ~(unsigned)SASL_MECH_PLAIN) && cfg->n_voters == 0)
			return broker_refuse(err, "listener %s enables SCRAM: SCRAM "
					     "credentials are kept in the KRaft "
					     "metadata log: set controller.quorum."
					     "voters (a single node can be its own "
					     "quorum: process.roles=broker,"
					     "controller, controller.quorum.voters="
					     "1@127.0.0.1:9093)", name);
	}
#else
	(void)cfg, (void)err;
#endif
	return KB_OK;
}

/* KAFKA: advertised.listeners defaults to listeners; the client's address
 * is the advertised entry of the client listener's name. */
static int finish_advertised(struct broker_config *cfg,
			     struct broker_error *err)
{
	struct topic_broker_config *t = &cfg->topics;
	const char *client = NULL;
	if (!broker_has_role(cfg, "broker"))
		return KB_OK; /* a controller-only node advertises nothing */
	for (int i = 0; i < cfg->n_listeners; i++)
		if (cfg->listeners[i].port == cfg->listener_port &&
		    cfg->listeners[i].kind == NET_LISTENER_BROKER &&
		    strcmp(cfg->listeners[i].host, cfg->listener_host) == 0)
			client = client ? client : cfg->listeners[i].name;
	for (int i = 0; i < cfg->n_advertised && client; i++)
		if (strcmp(cfg->advertised[i].name, client) == 0) {
			memcpy(t->advertised_host, cfg->advertised[i].host,
			       sizeof t->advertised_host);
			t->advertised_port = cfg->advertised[i].port;
		}
	if (cfg->advertised_set)
		return KB_OK;
	if (cfg->listener_host[0] == '\0' ||
	    strcmp(cfg->listener_host, "0.0.0.0") == 0) {
		if (gethostname(t->advertised_host, sizeof t->advertised_host) != 0)
			return broker_refuse(err, "listeners has no host and "
				    "gethostname failed: set advertised.listeners");
	} else {
		memcpy(t->advertised_host, cfg->listener_host,
		       sizeof t->advertised_host);
	}
	t->advertised_port = cfg->listener_port;
	return KB_OK;
}

/* ---- A running broker ---- */

/* KAFKA: BrokerServer.startup's order, cut down to the chapters that
 * exist: the log directory, then the network, then the topics (which
 * register their handlers). A port already in use is found first, before
 * anything is written to disk, but the broker listens only once its log
 * directory is settled. Each later chapter adds its step at the marked
 * place, inside #if SAMSA_STAGE >= its number. */
int broker_open(const struct broker_config *cfg, struct broker *b,
		struct broker_error *err)
{
	memset(b, 0, sizeof *b);
	b->cfg = *cfg;
	b->lock_fd = -1;
	struct topic_broker_config *t = &b->cfg.topics;
	int rc = KB_ERR_EXISTS;
	for (int i = 0; i < cfg->n_listeners; i++) {
		const struct broker_listener *l = &cfg->listeners[i];
		const char *host = l->host[0] ? l->host : "0.0.0.0";
		if (port_in_use(host, l->port)) {
			refuse_in_use(err, host, l->port);
			goto fail;
		}
	}
	/* Chapter 13: every SSL listener's stores, checked before the log
	 * directory is touched, like the ports. */
	for (int i = 0; i < cfg->n_listeners; i++)
		if ((rc = listener_tls_open(b, i, err)) != KB_OK ||
		    (rc = listener_sasl_open(b, i, err)) != KB_OK)
			goto fail;
	if ((rc = peer_tls_open(b, NET_LISTENER_CONTROLLER, err)) != KB_OK ||
	    (rc = peer_tls_open(b, NET_LISTENER_BROKER, err)) != KB_OK)
		goto fail;
	if ((rc = open_log_dir(b, err)) != KB_OK)
		goto fail;
	if ((rc = net_server_new(&b->cfg.net, &b->srv)) != KB_OK) {
		broker_refuse(err, "cannot start the server: %s", kb_status_name(rc));
		goto fail;
	}
#if SAMSA_STAGE >= 13
	for (int k = 0; k < NET_LISTENER_KINDS; k++) /* before peers open */
		if (b->peer_tls[k])
			net_server_set_peer_transport(b->srv, k,
						      tls_peer_transport(),
						      b->peer_tls[k]);
	if (b->peer_sasl) /* around the TLS one, if any */
		net_server_set_peer_transport(b->srv, NET_LISTENER_BROKER,
					      sasl_peer_transport(),
					      b->peer_sasl);
	if ((rc = sasl_register(b->srv)) != KB_OK) {
		broker_refuse(err, "cannot serve the SASL APIs: %s",
			      kb_status_name(rc));
		goto fail;
	}
#endif
	if ((rc = listen_all(b, err)) != KB_OK)
		goto fail;
	if (!cfg->advertised_set)
		t->advertised_port = b->port; /* the one bound for port 0 */
	/* A controller-only node keeps the topic defaults its controller
	 * checks configs with, but serves no topic API (NULL server). */
	bool broker = broker_has_role(cfg, "broker");
	if ((rc = topic_manager_open(t, broker ? b->srv : NULL, &b->tm)) != KB_OK) {
		broker_refuse(err, "cannot open the topics in %s: %s", t->log_dir,
		     kb_status_name(rc));
		goto fail;
	}
	/* Chapter 07's cluster node (KRaft), when controller.quorum.voters
	 * is set (15_cluster.c). Chapters 08-14 open here too, each under
	 * #if SAMSA_STAGE >= NN. */
	if ((rc = broker_cluster_open(b, err)) != KB_OK ||
	    (rc = scram_open(b, err)) != KB_OK)
		goto fail;
	if (broker && (rc = broker_parts_open(b, err)) != KB_OK)
		goto fail;
	broker_cluster_hooks(b);
	assert(broker_cluster_check_open(b));
	return KB_OK;
fail:
	broker_close(b);
	return rc;
}

/* A broker's own parts, which a controller-only node has none of:
 * groups, the log cleaner, producer ids. */
static int broker_parts_open(struct broker *b, struct broker_error *err)
{
	int rc = KB_OK;
#if SAMSA_STAGE >= 9
	rc = grp_open(b->tm, b->srv, &b->cfg.groups, &b->groups);
	if (rc != KB_OK)
		return broker_refuse(err, "cannot open the group coordinator: %s",
				     kb_status_name(rc));
#endif
#if SAMSA_STAGE >= 10
	rc = clean_open(b->tm, b->srv, &b->cfg.cleaner, &b->cleaner);
	if (rc != KB_OK)
		return broker_refuse(err, "cannot open the log cleaner: %s",
				     kb_status_name(rc));
#endif
#if SAMSA_STAGE >= 11
	if ((rc = prod_open(b->tm, b->srv, &b->cfg.prod, &b->prod)) != KB_OK)
		return broker_refuse(err, "cannot open the producer ids: %s",
				     kb_status_name(rc));
#endif
	(void)err;
	return rc;
}

/* Listen on every listener, the controller's with its own kind; record
 * the client listener's port in b->port and the controller's in
 * b->controller_port. */
static int listen_all(struct broker *b, struct broker_error *err)
{
	const struct broker_config *cfg = &b->cfg;
	for (int i = 0; i < cfg->n_listeners; i++) {
		const struct broker_listener *l = &cfg->listeners[i];
		const char *host = l->host[0] ? l->host : "0.0.0.0";
		int bound = 0;
		struct net_endpoint ep = {host, l->port, l->kind};
		ep.name = l->name; /* chapter 07 registers every broker listener */
		listener_advertised(cfg, l, &ep);
		listener_transport(b, i, &ep);
		int rc = net_listen_at(b->srv, &ep, &bound);
		if (rc == KB_ERR_EXISTS) /* taken since port_in_use looked */
			refuse_in_use(err, host, l->port);
		else if (rc != KB_OK)
			broker_refuse(err, "cannot listen on %s:%d (see the line "
				      "above)", host, l->port);
		if (rc != KB_OK)
			return rc;
		if (l->kind == NET_LISTENER_CONTROLLER)
			b->controller_port = bound;
		else if (l->port == cfg->listener_port &&
			 strcmp(l->host, cfg->listener_host) == 0 && b->port == 0)
			b->port = bound;
	}
	return KB_OK;
}

/* KAFKA: each listener advertises its own entry of advertised.listeners
 * (a client on the SSL port is told the SSL port); without one, its own
 * host (or this machine's advertised name) and port (0: as bound). */
static void listener_advertised(const struct broker_config *cfg,
				const struct broker_listener *l,
				struct net_endpoint *ep)
{
	if (l->kind != NET_LISTENER_BROKER)
		return;
	for (int i = 0; i < cfg->n_advertised; i++)
		if (strcmp(cfg->advertised[i].name, l->name) == 0) {
			ep->advertised_host = cfg->advertised[i].host;
			ep->advertised_port = cfg->advertised[i].port;
			return;
		}
	bool any = l->host[0] == '\0' || strcmp(l->host, "0.0.0.0") == 0 ||
		   strcmp(l->host, "::") == 0;
	ep->advertised_host = any ? cfg->topics.advertised_host : l->host;
	ep->advertised_port = l->port;
}

/* An SSL listener gets its own context (chapter 13), built from its
 * ssl.* keys (listener.name.<name>.ssl.* first); every file is read and
 * checked here, so a bad key stops startup naming key and file.
 * KAFKA: an SslFactory per listener (ChannelBuilders). */
static int listener_tls_open(struct broker *b, int i, struct broker_error *err)
{
	const struct broker_listener *l = &b->cfg.listeners[i];
	const char *proto = broker_listener_protocol(&b->cfg, l->name);
	if (!proto || (strcmp(proto, "SSL") != 0 && strcmp(proto, "SASL_SSL") != 0))
		return KB_OK; /* PLAINTEXT: chapter 05's own transport */
#if SAMSA_STAGE >= 13
	struct tls_config *tc = malloc(sizeof *tc);
	if (!tc)
		return broker_refuse(err, "no memory for listener %s", l->name);
	tls_settings_for(&b->cfg.tls, l->name, tc);
	struct tls_error why;
	int rc = tls_server_new(tc, &b->tls[i], &why);
	free(tc);
	if (rc != KB_OK)
		return broker_refuse(err, "listener %s (SSL): %s", l->name,
				     why.msg);
	return KB_OK;
#else
	return broker_refuse(err, "listener %s is SSL: this stage has no TLS",
			     l->name);
#endif
}

/* In a cluster, an SSL listener other nodes dial (the controllers' for
 * kind CONTROLLER, inter.broker.listener.name's for BROKER) gets a
 * client context (chapter 13) from the same listener's ssl.* keys, so
 * this node presents its keystore certificate and checks the other
 * node's against its truststore. KAFKA: the inter-broker and controller
 * channel builders use the listener's SslFactory in client mode. */
static int peer_tls_open(struct broker *b, enum net_listener_kind kind,
			 struct broker_error *err)
{
	const struct broker_config *cfg = &b->cfg;
	const char *name = kind == NET_LISTENER_CONTROLLER
				   ? cfg->peer_controller_listener
				   : cfg->inter_broker_listener;
	const char *proto = broker_listener_protocol(cfg, name);
	if (cfg->n_voters == 0 || !proto || !strcmp(proto, "PLAINTEXT"))
		return KB_OK; /* a single node dials nobody; PLAINTEXT */
#if SAMSA_STAGE >= 13
	int rc = KB_OK;
	if (strstr(proto, "SSL")) { /* SSL, SASL_SSL */
		struct tls_config *tc = malloc(sizeof *tc);
		if (!tc)
			return broker_refuse(err, "no memory for listener %s", name);
		tls_settings_for(&cfg->tls, name, tc);
		struct tls_error why;
		rc = tls_client_new(tc, &b->peer_tls[kind], &why);
		free(tc);
		if (rc != KB_OK)
			return broker_refuse(err, "dialling listener %s (%s): %s",
					     name, proto, why.msg);
	}
	if (strncmp(proto, "SASL_", 5) == 0) /* the inter-broker one only */
		rc = peer_sasl_open(b, name, b->peer_tls[kind], err);
	return rc;
#else
	return broker_refuse(err, "listener %s is SSL: this stage has no TLS",
			     name);
#endif
}

/* A SASL_* inter-broker listener (check_dialled allowed PLAIN only):
 * the broker logs in with its plain.sasl.jaas.config's username and
 * password, over TLS for SASL_SSL (chapter 13's 13_sasl_peer.c). */
#if SAMSA_STAGE >= 13
static int peer_sasl_open(struct broker *b, const char *name,
			  struct tls_client *tls, struct broker_error *err)
{
	struct sasl_config *sc = malloc(sizeof *sc);
	if (!sc)
		return broker_refuse(err, "no memory for listener %s", name);
	sasl_settings_for(&b->cfg.sasl, name, sc);
	struct sasl_error why;
	int rc = sasl_client_new(sc, tls ? tls_peer_transport() : NULL, tls,
				 &b->peer_sasl, &why);
	free(sc);
	if (rc != KB_OK)
		return broker_refuse(err, "dialling listener %s (SASL PLAIN): %s",
				     name, why.msg);
	return KB_OK;
}
#endif

/* A SASL_* listener gets its authenticator (chapter 13): the mechanisms
 * of its sasl.enabled.mechanisms, PLAIN's users from its JAAS text.
 * KAFKA: a SaslChannelBuilder per listener. */
static int listener_sasl_open(struct broker *b, int i, struct broker_error *err)
{
	const struct broker_listener *l = &b->cfg.listeners[i];
	const char *proto = broker_listener_protocol(&b->cfg, l->name);
	if (!proto || strncmp(proto, "SASL_", 5) != 0)
		return KB_OK;
#if SAMSA_STAGE >= 13
	struct sasl_config *sc = malloc(sizeof *sc);
	if (!sc)
		return broker_refuse(err, "no memory for listener %s", l->name);
	sasl_settings_for(&b->cfg.sasl, l->name, sc);
	struct sasl_error why;
	int rc = sasl_server_new(sc, &b->sasl[i], &why);
	free(sc);
	if (rc != KB_OK)
		return broker_refuse(err, "listener %s (%s): %s", l->name, proto,
				     why.msg);
	return KB_OK;
#else
	return broker_refuse(err, "listener %s is %s: this stage has no SASL",
			     l->name, proto);
#endif
}

/* Chapter 13: SCRAM's users come from this node's metadata image (a
 * cluster; finish_sasl refused SCRAM without one). */
static int scram_open(struct broker *b, struct broker_error *err)
{
#if SAMSA_STAGE >= 13
	if (!b->raft)
		return KB_OK;
	struct scram_node_config c = {b->srv, b->raft, b->bnode ? b->tm : NULL,
				      b->ctrl, b->cfg.topics.log_dir};
	int rc = scram_node_open(&c, &b->scram);
	if (rc != KB_OK)
		return broker_refuse(err, "cannot start the SCRAM credentials: %s",
				     kb_status_name(rc));
	for (int i = 0; i < BROKER_LISTENERS_MAX; i++)
		if (b->sasl[i])
			sasl_server_set_scram_lookup(b->sasl[i], scram_node_lookup,
						     b->scram);
#else
	(void)b, (void)err;
#endif
	return KB_OK;
}

/* The listener's transport: TLS with its context when it has one; a
 * SASL_* listener's authenticator. */
static void listener_transport(struct broker *b, int i,
			       struct net_endpoint *ep)
{
#if SAMSA_STAGE >= 13
	if (b->tls[i]) {
		ep->tp = tls_transport();
		ep->tp_ctx = b->tls[i];
	}
	if (b->sasl[i]) {
		ep->auth = sasl_authenticator();
		ep->auth_ctx = b->sasl[i];
	}
#else
	(void)b;
	(void)i;
	(void)ep;
#endif
}

/* The words for a port someone else listens on. */
static void refuse_in_use(struct broker_error *err, const char *host,
			  int port)
{
	broker_refuse(err, "%s:%d is already in use: another broker (or another "
		      "program) listens there; stop it or change listeners",
		      host, port);
}

/* Is host:port taken by another socket? A bind that fails with EADDRINUSE
 * says so (SO_REUSEADDR, as net_listen sets, ignores only connections in
 * TIME_WAIT). Port 0 is never taken; other failures are net_listen's to
 * report. */
static bool port_in_use(const char *host, int port)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	char service[8];
	snprintf(service, sizeof service, "%d", port);
	if (port == 0 || getaddrinfo(host, service, &hints, &res) != 0)
		return false;
	bool in_use = false;
	for (struct addrinfo *ai = res; ai && !in_use; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		int one = 1;
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		in_use = bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 &&
			 errno == EADDRINUSE;
		close(fd);
	}
	freeaddrinfo(res);
	return in_use;
}

/* Create the log directory, lock it, and settle meta.properties (which
 * gives the topics their cluster id): a single node formats at its first
 * start; a node of a cluster (controller.quorum.voters set) must have been
 * formatted by `samsa format`, with the cluster's id. */
static int open_log_dir(struct broker *b, struct broker_error *err)
{
	struct topic_broker_config *t = &b->cfg.topics;
	if (kb_mkdirs(t->log_dir) != KB_OK)
		return broker_refuse(err, "cannot create log.dirs '%s': %s", t->log_dir,
			    strerror(errno));
	int rc = lock_log_dir(t->log_dir, &b->lock_fd, err);
	if (rc != KB_OK)
		return rc;
	if (b->cfg.quorum_voters[0] == '\0') /* one node: the first start formats */
		return broker_meta_load_or_create(t->log_dir, t->node_id,
						  t->cluster_id, err);
	/* INVARIANT: 5. A cluster member never formats itself. */
	struct broker_meta m = {.node_id = t->node_id};
	if ((rc = broker_meta_load(t->log_dir, &m, err)) == KB_OK)
		memcpy(t->cluster_id, m.cluster_id, sizeof t->cluster_id);
	return rc;
}

/* KAFKA: BrokerServer.shutdown. The server goes first, so no request is
 * in flight and no parked fetch points into the topics when they close;
 * then the topics flush, write their checkpoints and the clean-shutdown
 * marker; the directory lock is let go last. */
void broker_close(struct broker *b)
{
#if SAMSA_STAGE >= 13
	scram_node_close(b->scram); /* before the quorum node it watches */
	b->scram = NULL;
#endif
	broker_cluster_close(b); /* its peers and timers belong to the server */
	if (b->srv)
		net_server_free(b->srv);
#if SAMSA_STAGE >= 13
	for (int i = 0; i < BROKER_LISTENERS_MAX; i++) {
		tls_server_free(b->tls[i]); /* after the connections using it */
		b->tls[i] = NULL;
		sasl_server_free(b->sasl[i]);
		b->sasl[i] = NULL;
	}
	sasl_client_free(b->peer_sasl); /* after the peers using it */
	b->peer_sasl = NULL;
	for (int k = 0; k < NET_LISTENER_KINDS; k++) {
		tls_client_free(b->peer_tls[k]);
		b->peer_tls[k] = NULL;
	}
#endif
#if SAMSA_STAGE >= 9
	grp_close(b->groups); /* after the server: no parked join left */
	b->groups = NULL;
#endif
#if SAMSA_STAGE >= 10
	clean_close(b->cleaner); /* after the server: its timer is gone */
	b->cleaner = NULL;
#endif
#if SAMSA_STAGE >= 11
	prod_close(b->prod); /* snapshots into the still open logs */
	b->prod = NULL;
#endif
	if (b->tm)
		topic_manager_close(b->tm);
	if (b->lock_fd >= 0)
		close(b->lock_fd); /* releases the flock */
	b->srv = NULL;
	b->tm = NULL;
	b->lock_fd = -1;
}

/* INVARIANT: 4. KAFKA: LogManager locks every log directory with
 * FileLock on ".lock" and refuses to start if another process holds it. */
static int lock_log_dir(const char *log_dir, int *fd, struct broker_error *err)
{
	char path[TOPIC_PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/%s", log_dir, LOCK_FILE);
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (*fd < 0)
		return broker_refuse(err, "%s: cannot open: %s", path, strerror(errno));
	if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		close(*fd);
		*fd = -1;
		return broker_refuse(err, "%s is in use by another broker (%s is locked)",
			    log_dir, path);
	}
	return KB_OK;
}

/* ---- Small helpers ---- */

static const struct broker_key *key_find(const char *name)
{
	for (size_t i = 0; i < KB_ARRAY_LEN(key_table); i++)
		if (strcmp(key_table[i].name, name) == 0)
			return &key_table[i];
	return NULL;
}

/* Store n at the width of the field k names (2, 4 or 8 bytes; 0 stores
 * nothing). The table's range already made it fit. */
static void store_int(struct broker_config *cfg, const struct broker_key *k,
		      int64_t n)
{
	char *field = (char *)cfg + k->offset;
	int16_t i16 = (int16_t)n;
	int32_t i32 = (int32_t)n;
	if (k->size == sizeof i16)
		memcpy(field, &i16, sizeof i16);
	else if (k->size == sizeof i32)
		memcpy(field, &i32, sizeof i32);
	else if (k->size == sizeof n)
		memcpy(field, &n, sizeof n);
}
