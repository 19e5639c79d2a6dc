/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07 — between the controller files: 07_controller.c (the
 * brokers, elections), 07_controller_isr.c (AlterPartition, ElectLeaders)
 * and 07_controller_topics.c (topics, placement, configs and the
 * API table), which uses what is declared here. Not for later chapters.
 */
#ifndef SAMSA_CONTROLLER_INTERNAL_H
#define SAMSA_CONTROLLER_INTERNAL_H

#include "07_controller.h"

/* The controller's own memory of a broker, beside the image: when it
 * last heard from it (KAFKA: BrokerHeartbeatManager.BrokerHeartbeatState). */
struct ctrl_session {
	int32_t id;
	int64_t epoch;           /* the registration this session belongs to */
	int64_t last_contact_ms; /* monotonic */
};

/* The active controller. */
struct ctrl {
	struct ctrl_config cfg;        /* copy; its pointers stay borrowed */
	struct ctrl_session *sessions; /* owned: n_sessions, ids unique */
	int32_t n_sessions;
	int32_t cap_sessions;
	int64_t now_ms;                /* the newest time a call brought */
	int64_t last_balance_ms;       /* the last auto leader rebalance */
	uint64_t rng;                  /* xorshift64 state, never 0 */
	struct ctrl_extension ext[CTRL_MAX_EXTENSIONS]; /* ctrl_extend's */
	int n_ext;
};

/* KAFKA: PartitionChangeBuilder.Election. */
enum ctrl_election {
	CTRL_ELECTION_ONLINE,    /* a valid leader stays, else the first valid */
	CTRL_ELECTION_PREFERRED, /* the first replica when it is valid */
	CTRL_ELECTION_UNCLEAN,   /* as ONLINE, then any active replica */
};

/* One partition change asked for (KAFKA: PartitionChangeBuilder's inputs;
 * remove and add are generateLeaderAndIsrUpdates' brokerToRemove and
 * brokerToAdd). A leader is valid when it is in the target ISR, is not
 * remove, and is active or add. */
struct ctrl_change {
	const struct meta_topic *topic; /* borrowed: from the image */
	int32_t partition;
	int32_t remove;              /* leaves the ISR, never leads; -1 none */
	int32_t add;                 /* may lead though fenced; -1 none */
	enum ctrl_election election;
	const struct meta_ids *isr;  /* borrowed: the target ISR; NULL: as is */
	int8_t recovery;             /* target leader_recovery_state; -1 as is */
};
#define CTRL_CHANGE_INIT {NULL, 0, -1, -1, CTRL_ELECTION_ONLINE, NULL, -1}

/* Append rec, framed, as the next record of o. */
int ctrl_emit(struct ctrl_output *o, const struct meta_record *rec);
/* True when broker id is registered, unfenced and not shutting down. */
bool ctrl_broker_active(const struct meta_image *img, int32_t id);
/* One PartitionChangeRecord into o when ch changes anything, else none. */
int ctrl_partition_change(const struct meta_image *img,
			  const struct ctrl_change *ch, struct ctrl_output *o);
/* unclean.leader.election.enable for topic: its config, the cluster's, c's. */
bool ctrl_unclean_enabled(const struct ctrl *c, const struct meta_image *img,
			  const char *topic);
/* A pseudo-random number below n (n > 0). */
int32_t ctrl_random(struct ctrl *c, int32_t n);
/* The broker RPCs of 07_controller.c, for the API table. */
int ctrl_handle_registration(struct ctrl *c, const struct ctrl_input *in,
			     struct ctrl_output *out);
int ctrl_handle_heartbeat(struct ctrl *c, const struct ctrl_input *in,
			  struct ctrl_output *out);
int ctrl_handle_producer_ids(struct ctrl *c, const struct ctrl_input *in,
			     struct ctrl_output *out);
/* 07_controller_isr.c's, for the API table. */
int ctrl_handle_alter_partition(struct ctrl *c, const struct ctrl_input *in,
				struct ctrl_output *out);
int ctrl_handle_elect_leaders(struct ctrl *c, const struct ctrl_input *in,
			      struct ctrl_output *out);

#endif
