/* SPDX-License-Identifier: MIT */
/*
 * Chapter 15 — config: what 15_config.c defines, for the `samsa` program
 * (15_broker.c, the file after it), the fuzzer and the tests. The
 * configuration a broker starts from (server.properties) and the running
 * broker it becomes (broker_open); it includes 15_meta.h, whose
 * meta.properties broker_open settles.
 */
#ifndef SAMSA_CONFIG_H
#define SAMSA_CONFIG_H

#include "00_base.h"
#include "03_log.h"
#include "05_server.h"
#include "06_topics.h"
#include "09_groups.h"
#include "10_compaction.h"
#include "11_producers.h"
#include "15_properties.h"
#include "15_meta.h"
#include "13_tls.h"
#include "13_sasl.h"
#include "08_replication.h"

/* Room for process.roles and controller.quorum.voters, NUL included. */
#define BROKER_ROLES_MAX 64
#define BROKER_VOTERS_MAX 1024
#define BROKER_AUTHORIZER_MAX 128   /* authorizer.class.name, NUL included */
#define BROKER_SUPER_USERS_MAX 1024 /* super.users, NUL included */
/* KAFKA: listeners, at most this many here (15_listeners.c). */
#define BROKER_LISTENERS_MAX 6
/* Room for a listener name ("PLAINTEXT", "CONTROLLER"), NUL included. */
#define BROKER_LISTENER_NAME_MAX 32
/* Rows of listener.security.protocol.map. */
#define BROKER_PROTOCOLS_MAX 8
/* KAFKA: controller.quorum.voters, 1 to 7 voters here. */
#define BROKER_QUORUM_MAX 7

/* One entry of listeners (or advertised.listeners): NAME://host:port.
 * KAFKA: EndPoint; the name is upper-cased (ListenerName.normalised). */
struct broker_listener {
	char name[BROKER_LISTENER_NAME_MAX];
	char host[TOPIC_HOST_MAX];     /* "" = every interface */
	int32_t port;                  /* 0 = any free port */
	enum net_listener_kind kind;   /* set by broker_config_finish */
};

/* One row of listener.security.protocol.map: NAME:PROTOCOL. */
struct broker_protocol {
	char name[BROKER_LISTENER_NAME_MAX];
	char protocol[BROKER_LISTENER_NAME_MAX]; /* PLAINTEXT, SSL, SASL_* */
};

/* One of controller.quorum.voters: id@host:port. */
struct broker_voter {
	int32_t id;
	char host[TOPIC_HOST_MAX];
	int32_t port;                  /* 1..65535 */
};

/* KRaft's timings and sizes and the controller's leader settings
 * (Kafka's defaults), for chapter 07's node. */
struct broker_kraft_config {
	int64_t session_timeout_ms;    /* broker.session.timeout.ms 9000 */
	int64_t heartbeat_interval_ms; /* broker.heartbeat.interval.ms 2000 */
	int64_t election_timeout_ms;   /* controller.quorum.election.timeout.ms 1000 */
	int64_t fetch_timeout_ms;      /* controller.quorum.fetch.timeout.ms 2000 */
	int64_t request_timeout_ms;    /* controller.quorum.request.timeout.ms 2000 */
	int64_t retry_backoff_ms;      /* controller.quorum.retry.backoff.ms 20 */
	int64_t snapshot_max_bytes;    /* metadata.log.max.record.bytes.between.snapshots 20971520 */
	int64_t max_idle_interval_ms;  /* metadata.max.idle.interval.ms 500 */
	/* The active controller's leader choices (chapter 07's ctrl_config). */
	bool unclean_leader_election_enable;   /* unclean.leader.election.enable false */
	bool auto_leader_rebalance_enable;     /* auto.leader.rebalance.enable true */
	int64_t leader_imbalance_check_interval_s; /* leader.imbalance.check.interval.seconds 300 */
};

/* Everything server.properties sets. Chapter 06's part is kept whole in
 * topics so it can be handed over as it is; the net part goes to chapter
 * 05. Keys where several spell one setting (log.retention.ms, .minutes,
 * .hours) are kept apart until broker_config_finish picks the winner, as
 * Kafka does. Fixed arrays only: the struct can be copied, never freed. */
struct broker_config {
	struct topic_broker_config topics; /* node.id, log.dirs, num.partitions... */
	struct net_config net;         /* socket.request.max.bytes, connections.* */
	struct grp_config groups;      /* group.*, offsets.* (chapter 09) */
	struct clean_broker_config cleaner; /* log.cleaner.* (chapter 10) */
	struct prod_config prod;       /* producer.id.expiration.* (chapter 11) */
	char listener_host[TOPIC_HOST_MAX]; /* the client listener: "" = every interface */
	int32_t listener_port;         /* the client listener: 0 = any free port */
	struct broker_listener listeners[BROKER_LISTENERS_MAX]; /* listeners */
	int n_listeners;
	struct broker_listener advertised[BROKER_LISTENERS_MAX]; /* advertised.listeners */
	int n_advertised;
	struct broker_protocol protocols[BROKER_PROTOCOLS_MAX]; /* listener.security.protocol.map */
	int n_protocols;
	char controller_listener[BROKER_LISTENER_NAME_MAX]; /* controller.listener.names, the first; "" none */
	char inter_broker_listener[BROKER_LISTENER_NAME_MAX]; /* inter.broker.listener.name */
	/* The listener peers dial the controllers on: controller.listener.
	 * names' first, kept when this node does not listen on it. */
	char peer_controller_listener[BROKER_LISTENER_NAME_MAX];
	struct broker_voter voters[BROKER_QUORUM_MAX]; /* controller.quorum.voters */
	int n_voters;
	struct broker_kraft_config kraft; /* broker.session.*, controller.quorum.* */
	struct repl_config repl;       /* replica.* (chapter 08) */
	struct tls_settings tls;       /* ssl.*, listener.name.<name>.ssl.* (chapter 13) */
	struct sasl_settings sasl;     /* sasl.*, listener.name.<name>.sasl.* (chapter 13) */
	bool advertised_set;           /* advertised.listeners was given */
	bool log_dirs_set;             /* log.dirs was given (it beats log.dir) */
	enum kb_log_level log_level;   /* log.level (samsa's own key) */
	char process_roles[BROKER_ROLES_MAX];      /* process.roles */
	char quorum_voters[BROKER_VOTERS_MAX];     /* controller.quorum.voters */
	char authorizer_class[BROKER_AUTHORIZER_MAX]; /* authorizer.class.name; "" none (ch 12) */
	char super_users[BROKER_SUPER_USERS_MAX];  /* super.users (ch 12) */
	bool allow_everyone_if_no_acl_found;       /* allow.everyone.if.no.acl.found, false */
	int64_t roll_ms, roll_hours;               /* log.roll.ms / .hours */
	int64_t retention_ms, retention_minutes, retention_hours; /* log.retention.* */
};

struct raft_node;   /* chapter 07 (07_node.h) */
struct ctrl_node;
struct broker_node;
struct acl_node;    /* chapter 12 (12_acl.h) */
struct scram_node;  /* chapter 13 (13_scram_creds.h) */

/* A running broker: the server of chapter 05 and the topics of chapter 06,
 * opened in Kafka's order. Later chapters add their part here. */
struct broker {
	struct broker_config cfg;  /* as opened, advertised port resolved */
	struct net_server *srv;    /* owned */
	struct topic_manager *tm;  /* owned */
	struct grp_coordinator *groups; /* owned: chapter 09, or NULL */
	struct cleaner *cleaner;   /* owned: chapter 10, or NULL */
	struct prod_manager *prod; /* owned: chapter 11, or NULL */
	struct raft_node *raft;    /* owned: chapter 07 in a cluster, or NULL */
	struct ctrl_node *ctrl;    /* owned: when process.roles has controller */
	struct broker_node *bnode; /* owned: when process.roles has broker */
	struct repl *repl;         /* owned: chapter 08, with bnode */
	struct tls_server *tls[BROKER_LISTENERS_MAX]; /* owned: chapter 13, one per SSL listener, else NULL */
	struct tls_client *peer_tls[NET_LISTENER_KINDS]; /* owned: chapter 13, per kind of SSL listener dialled, else NULL */
	struct sasl_client *peer_sasl; /* owned: chapter 13, a SASL_* inter-broker listener's login, else NULL */
	struct acl_node *acl;      /* owned: chapter 12 with authorizer.class.name set */
	struct sasl_server *sasl[BROKER_LISTENERS_MAX]; /* owned: chapter 13, one per SASL_* listener, else NULL */
	struct scram_node *scram;  /* owned: chapter 13's credentials, in a cluster */
	int port;                  /* the client listener's port, as bound */
	int controller_port;       /* the controller listener's, as bound; 0 none */
	int lock_fd;               /* owned: holds the flock on <log.dir>/.lock */
};

/* ---- Configuration ---- */

/* Kafka's defaults for every key; node.id is unset (it must be given). */
void broker_config_defaults(struct broker_config *cfg);

/* Read a properties file through the key table; KB_ERR_INVAL (err: "path:line: key ...") or KB_ERR_IO. */
int broker_config_load(struct broker_config *cfg, const char *path,
		       struct broker_error *err);

/* One key=value as text, and where it came from, for the error message:
 * "server.properties:12", "--override". borrows: every string. */
struct broker_setting {
	const char *key;
	const char *value;
	const char *where;
};

/* Set one key from text; err names s->where when it is refused. */
int broker_config_set(struct broker_config *cfg,
		      const struct broker_setting *s,
		      struct broker_error *err);

/* process.roles names role ("broker" or "controller"). */
bool broker_has_role(const struct broker_config *cfg, const char *role);

/* After the last set: whole-config checks (node.id given) and precedence (log.retention.ms over .hours). */
int broker_config_finish(struct broker_config *cfg, struct broker_error *err);

/* ---- Listeners and the quorum (15_listeners.c) ---- */

/* listeners / advertised.listeners: "NAME://host:port,..." into out[0..*n),
 * names upper-cased and unique, ports unique unless 0. */
int broker_listeners_parse(const char *value, struct broker_listener *out,
			   int *n, struct broker_error *why);
/* listener.security.protocol.map: "NAME:PROTOCOL,...". */
int broker_protocols_parse(const char *value, struct broker_protocol *out,
			   int *n, struct broker_error *why);
/* controller.quorum.voters: "id@host:port,...", 1..7, ids unique. */
int broker_voters_parse(const char *value, struct broker_voter *out, int *n,
			struct broker_error *why);
/* Why a listener of protocol proto cannot be served by this build, or NULL when it can (PLAINTEXT; SSL and SASL_* from chapter 13). */
const char *broker_protocol_unserved(const char *proto);
/* The protocol listener name maps to, or NULL when unmapped. */
const char *broker_listener_protocol(const struct broker_config *cfg,
				     const char *name);
/* Whole-config listener and quorum checks; sets each listener's kind and
 * listener_host/port (the client listener). Called by broker_config_finish. */
int broker_cluster_finish(struct broker_config *cfg, struct broker_error *err);
/* The invariants of 15_listeners.c on a finished config. */
bool broker_cluster_check(const struct broker_config *cfg);

/* ---- A running broker ---- */

/* Check the port, lock the log directory, listen, open every chapter; on failure all is closed. borrows: cfg. */
int broker_open(const struct broker_config *cfg, struct broker *b,
		struct broker_error *err);

/* Clean shutdown after the reactor stopped: server, later chapters, topics (checkpoints), lock. */
void broker_close(struct broker *b);

/* ---- A node of a cluster (15_cluster.c) ---- */

/* Inside broker_open after the topics: chapter 07's quorum node, and the
 * controller and broker parts process.roles names. KB_OK alone. */
int broker_cluster_open(struct broker *b, struct broker_error *err);
/* Inside broker_open after chapters 09 and 11: their cluster hooks. */
void broker_cluster_hooks(struct broker *b);
/* After a stop signal: controlled shutdown, then resign a leadership; runs
 * the reactor until done (or another signal). */
void broker_cluster_shutdown(struct broker *b);
/* Inside broker_close, before the server is freed. */
void broker_cluster_close(struct broker *b);
/* The invariants of 15_cluster.c. */
bool broker_cluster_check_open(const struct broker *b);

#endif
