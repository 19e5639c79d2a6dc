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

/* Room for process.roles and controller.quorum.voters, NUL included. */
#define BROKER_ROLES_MAX 64
#define BROKER_VOTERS_MAX 1024

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
	char listener_host[TOPIC_HOST_MAX]; /* listeners: "" = every interface */
	int32_t listener_port;         /* listeners: 0 = any free port */
	bool advertised_set;           /* advertised.listeners was given */
	bool log_dirs_set;             /* log.dirs was given (it beats log.dir) */
	enum kb_log_level log_level;   /* log.level (samsa's own key) */
	char process_roles[BROKER_ROLES_MAX];      /* process.roles */
	char quorum_voters[BROKER_VOTERS_MAX];     /* controller.quorum.voters */
	int64_t roll_ms, roll_hours;               /* log.roll.ms / .hours */
	int64_t retention_ms, retention_minutes, retention_hours; /* log.retention.* */
};

/* A running broker: the server of chapter 05 and the topics of chapter 06,
 * opened in Kafka's order. Later chapters add their part here. */
struct broker {
	struct broker_config cfg;  /* as opened, advertised port resolved */
	struct net_server *srv;    /* owned */
	struct topic_manager *tm;  /* owned */
	struct grp_coordinator *groups; /* owned: chapter 09, or NULL */
	struct cleaner *cleaner;   /* owned: chapter 10, or NULL */
	struct prod_manager *prod; /* owned: chapter 11, or NULL */
	int port;                  /* the port actually bound */
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

/* After the last set: whole-config checks (node.id given) and precedence (log.retention.ms over .hours). */
int broker_config_finish(struct broker_config *cfg, struct broker_error *err);

/* ---- A running broker ---- */

/* Check the port, lock the log directory, listen, open every chapter; on failure all is closed. borrows: cfg. */
int broker_open(const struct broker_config *cfg, struct broker *b,
		struct broker_error *err);

/* Clean shutdown after the reactor stopped: server, later chapters, topics (checkpoints), lock. */
void broker_close(struct broker *b);

#endif
