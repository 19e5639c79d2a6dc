/* SPDX-License-Identifier: MIT */
/*
 * Chapter 08 — replication: every partition's data on every replica.
 * Two files share this header:
 *   08_partition.c  the replicas of each partition this broker holds:
 *                   as leader (followers' positions, the high watermark,
 *                   the ISR and AlterPartition), as follower (its state
 *                   for the fetcher), and the one table of both;
 *   08_fetcher.c    the follower's side of the wire: one fetcher per
 *                   leader, truncation by OffsetForLeaderEpoch, Fetch.
 * The only surface later chapters may use is the first section.
 *
 * Single-threaded: everything here is owned by the reactor of chapter 05.
 */
#ifndef SAMSA_REPLICATION_H
#define SAMSA_REPLICATION_H

#include "00_base.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"
#include "07_node.h"

/* KAFKA defaults of the broker keys below. */
#define REPL_DEFAULT_LAG_TIME_MAX_MS 30000
#define REPL_DEFAULT_FETCH_WAIT_MAX_MS 500
#define REPL_DEFAULT_FETCH_MAX_BYTES 1048576
#define REPL_DEFAULT_FETCH_RESPONSE_MAX_BYTES 10485760
#define REPL_DEFAULT_FETCH_BACKOFF_MS 1000
#define REPL_DEFAULT_SOCKET_TIMEOUT_MS 30000
#define REPL_DEFAULT_HW_CHECKPOINT_MS 5000

/* What chapter 08 reads of server.properties. */
struct repl_config {
	int32_t node_id;
	int64_t lag_time_max_ms;         /* replica.lag.time.max.ms */
	int32_t fetch_wait_max_ms;       /* replica.fetch.wait.max.ms */
	int32_t fetch_max_bytes;         /* replica.fetch.max.bytes */
	int32_t fetch_response_max_bytes; /* replica.fetch.response.max.bytes */
	int64_t fetch_backoff_ms;        /* replica.fetch.backoff.ms */
	int64_t socket_timeout_ms;       /* replica.socket.timeout.ms */
	int64_t hw_checkpoint_ms;  /* replica.high.watermark.checkpoint.interval.ms */
};

/* Kafka's defaults for every field (node_id 1). */
void repl_config_defaults(struct repl_config *cfg);

struct repl;

/* Take chapter 06's high watermark, serve followers, start fetching.
 * After broker_node_open; borrows srv, tm, rn, bn. returns owned *out. */
int repl_open(struct net_server *srv, struct topic_manager *tm,
	      struct raft_node *rn, struct broker_node *bn,
	      const struct repl_config *cfg, struct repl **out);
/* The metadata changed: become leader or follower where it says. */
void repl_sync(struct repl *r);
/* Stop fetching and free (before broker_node_close). */
void repl_close(struct repl *r);
/* Assert the invariants of 08_partition.c (no-op with NDEBUG). */
void repl_check(const struct repl *r);

/* ---- Between the files of chapter 08 (not for later chapters) ---- */

/* SIMPLIFICATION: replicas one partition may have. */
#define REPL_MAX_REPLICAS 16

/* KAFKA: Partition's role on this broker. */
enum repl_role { REPL_NONE, REPL_LEADER, REPL_FOLLOWER };

/* What the leader knows of one follower (KAFKA: Replica's state). */
struct repl_follower {
	int32_t id;
	int64_t leo;                   /* its log end offset; -1: unknown */
	int64_t caught_up_ms;          /* last time it had all we had */
	int64_t last_fetch_ms;         /* its previous fetch, and... */
	int64_t last_fetch_leader_leo; /* ...our log end offset then */
};

/* One partition this broker holds a replica of. */
struct repl_part {
	struct wire_uuid topic_id;
	int32_t index;
	struct topic_partition *tp;    /* borrowed; refreshed every sync */
	enum repl_role role;
	int32_t leader_id, leader_epoch, partition_epoch;
	int32_t isr[REPL_MAX_REPLICAS]; /* the committed ISR (metadata) */
	int32_t n_isr;
	/* Leader: */
	struct repl_follower f[REPL_MAX_REPLICAS]; /* every other replica */
	int32_t nf;
	bool alter_in_flight;          /* one AlterPartition at a time */
	int32_t proposed[REPL_MAX_REPLICAS]; /* its ISR while in flight */
	int32_t n_proposed;
	int64_t hw_start;              /* the high watermark we took over */
	/* Follower: */
	bool truncating;               /* ask OffsetForLeaderEpoch first */
	int64_t retry_at_ms;           /* after an error: not before this */
	bool seen;                     /* repl_sync's mark */
};

/* The replication manager (KAFKA: ReplicaManager). */
struct repl {
	struct repl_config cfg;
	struct net_server *srv;        /* borrowed */
	struct topic_manager *tm;      /* borrowed */
	struct raft_node *rn;          /* borrowed */
	struct broker_node *bn;        /* borrowed */
	struct repl_part **parts;      /* owned: nparts pointers */
	size_t nparts, cap;
	struct repl_fetcher **fetchers; /* owned: one per leader */
	size_t nfetchers;
	int refs;                      /* the manager and calls in flight */
	int64_t next_checkpoint_ms;    /* replication-offset-checkpoint due */
	bool closed;
};

/* 08_partition.c */
/* KAFKA: Replica.updateFetchStateOrThrow: f fetched offset while our log
 * end offset was leo, at now (monotonic ms). */
void repl_follower_update(struct repl_follower *f, int64_t offset,
			  int64_t leo, int64_t now);
/* The high watermark p's maximal ISR allows with our log end at leo;
 * -1 while a member's position is unknown. */
int64_t repl_hw_bound(const struct repl_part *p, int32_t self, int64_t leo);
/* p's ISR without members lagging more than lag_ms at now, into keep
 * (REPL_MAX_REPLICAS); returns how many stay. */
int32_t repl_isr_in_sync(const struct repl_part *p, int32_t self, int64_t now,
			 int64_t lag_ms, int32_t *keep);
/* The part holding tp, or NULL. */
struct repl_part *repl_part_of(const struct repl *r,
			       const struct topic_partition *tp);
/* KAFKA: Partition.maybeIncrementLeaderHW, for a partition led here. */
void repl_leader_advance_hw(struct repl *r, struct repl_part *p);
/* Drop one reference; the last frees r. */
void repl_unref(struct repl *r);

/* 08_fetcher.c */
/* KAFKA: getOffsetTruncationState: where a follower's log must end, given
 * the leader's answer (found_epoch, end_offset) for our latest epoch. */
int64_t repl_truncation_offset(const struct log *log, int64_t hw,
			       int32_t found_epoch, int64_t end_offset);
/* Fetch p from its leader (it became follower, or its epoch moved). */
void repl_fetcher_add(struct repl *r, struct repl_part *p);
/* Stop fetching p (it leads now, or is gone). */
void repl_fetcher_remove(struct repl *r, struct repl_part *p);
/* Send what each idle fetcher can send now. */
void repl_fetchers_kick(struct repl *r);
/* Close every fetcher (repl_close). */
void repl_fetchers_close(struct repl *r);

#endif
