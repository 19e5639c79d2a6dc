/* SPDX-License-Identifier: MIT */
/*
 * Chapter 09 — groups: the classic consumer group coordinator. Three
 * files share this header:
 *   09_groups.c      the group state machine: members, generations,
 *                    join, sync, heartbeat, leave, session and rebalance
 *                    timeouts (grp_tick);
 *   09_group_apis.c  the coordinator on a server (grp_open) and the wire
 *                    side of FindCoordinator, JoinGroup, SyncGroup,
 *                    Heartbeat, LeaveGroup, ListGroups, DescribeGroups,
 *                    DeleteGroups;
 *   09_offsets.c     committed offsets: OffsetCommit, OffsetFetch,
 *                    OffsetDelete, and the records of __consumer_offsets
 *                    that keep offsets and groups across restarts.
 * The only surface later chapters may use; the lesson is in the .c files.
 *
 * The state machine (KAFKA: GroupState in the classic GroupCoordinator),
 * each edge with the function that takes it:
 *
 *   Empty --grp_prepare_rebalance (a member joins)--> PreparingRebalance
 *   PreparingRebalance --grp_complete_join (every member rejoined, or the
 *       rebalance timeout / initial delay passed)--> CompletingRebalance
 *   PreparingRebalance --grp_complete_join (no member left)--> Empty
 *   CompletingRebalance --grp_complete_sync (the leader's SyncGroup brought
 *       the assignment)--> Stable
 *   CompletingRebalance, Stable --grp_prepare_rebalance (a member joins,
 *       leaves, changes its protocols or its session expires)-->
 *       PreparingRebalance
 *   Empty --grp_expire_offsets (offsets.retention.minutes passed, no
 *       offset left) or grp_delete (DeleteGroups)--> Dead (then freed)
 *
 * Time is passed in (now_ms, kb_mono_ms in the broker): the unit tests
 * drive every edge with a fake clock through the grp_* core functions.
 * Single-threaded: everything here is owned by the reactor of chapter 05.
 */
#ifndef SAMSA_GROUPS_H
#define SAMSA_GROUPS_H

#include "00_base.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"

/* ---- Kafka defaults ---- */

/* KAFKA: group.initial.rebalance.delay.ms default. */
#define GRP_DEFAULT_INITIAL_DELAY_MS 3000
/* KAFKA: group.min.session.timeout.ms / group.max.session.timeout.ms. */
#define GRP_DEFAULT_MIN_SESSION_MS 6000
#define GRP_DEFAULT_MAX_SESSION_MS 1800000
/* KAFKA: offsets.topic.num.partitions default. */
#define GRP_DEFAULT_OFFSETS_PARTITIONS 50
/* KAFKA: offsets.topic.segment.bytes default: 100 MiB, a tenth of a
 * normal topic's, so the cleaner gets rolled segments to compact. */
#define GRP_DEFAULT_OFFSETS_SEGMENT_BYTES 104857600
/* KAFKA: offsets.retention.minutes default: 7 days. */
#define GRP_DEFAULT_RETENTION_MINUTES 10080
/* KAFKA: offsets.retention.check.interval.ms default: 10 minutes. */
#define GRP_DEFAULT_RETENTION_CHECK_MS 600000
/* KAFKA: offset.metadata.max.bytes default. */
#define GRP_DEFAULT_METADATA_MAX 4096
/* How often the coordinator's timer looks at sessions and rebalances. */
#define GRP_TICK_MS 100

/* ---- Configuration ---- */

/* The broker config keys of the coordinator (KAFKA names in comments). */
struct grp_config {
	int32_t initial_rebalance_delay_ms; /* group.initial.rebalance.delay.ms */
	int32_t min_session_timeout_ms;     /* group.min.session.timeout.ms */
	int32_t max_session_timeout_ms;     /* group.max.session.timeout.ms */
	int32_t offsets_partitions;         /* offsets.topic.num.partitions */
	int32_t offsets_segment_bytes;      /* offsets.topic.segment.bytes */
	int32_t retention_minutes;          /* offsets.retention.minutes */
	int64_t retention_check_ms;   /* offsets.retention.check.interval.ms */
	int32_t metadata_max_bytes;         /* offset.metadata.max.bytes */
};

/* Kafka's defaults for every field. */
void grp_config_defaults(struct grp_config *cfg);

/* ---- Groups and members ---- */

enum grp_state {
	GRP_EMPTY,                 /* no members (offsets may remain) */
	GRP_PREPARING_REBALANCE,   /* waiting for members to (re)join */
	GRP_COMPLETING_REBALANCE,  /* joined; waiting for the leader's sync */
	GRP_STABLE,                /* every member has its assignment */
	GRP_DEAD,                  /* removed; being freed */
};

/* One protocol a member offers (KAFKA: "range", "roundrobin"...), with
 * its opaque metadata (the subscription). */
struct grp_protocol {
	char *name;        /* owned */
	struct kb_buf meta; /* owned */
};

/* One member of a group. */
struct grp_member {
	char *id;            /* owned: "<client_id>-<n>" */
	char *instance_id;   /* owned; NULL unless static (KIP-345) */
	char *client_id;     /* owned */
	char *client_host;   /* owned */
	int32_t session_timeout_ms;
	int32_t rebalance_timeout_ms;
	struct grp_protocol *protocols; /* owned: nprotocols, client's order */
	size_t nprotocols;
	struct kb_buf assignment; /* owned: from the leader's SyncGroup */
	int64_t last_heartbeat_ms; /* session.timeout.ms counts from here */
	bool join_waiting;   /* joined this rebalance, answer not yet given */
	bool join_ready;     /* a JoinGroup answer is ready: join_error */
	int16_t join_error;
	bool sync_waiting;   /* sent SyncGroup, answer not yet given */
	bool sync_ready;     /* a SyncGroup answer is ready: sync_error */
	int16_t sync_error;
};

/* One committed offset (KAFKA: OffsetAndMetadata). */
struct grp_offset {
	char *topic;          /* owned */
	int32_t partition;
	int64_t offset;
	int32_t leader_epoch; /* -1: unknown */
	char *metadata;       /* owned; never NULL ("" for null) */
	int64_t commit_ms;    /* wall clock of the commit */
};

/* A member id handed out with MEMBER_ID_REQUIRED, not joined yet. */
struct grp_pending {
	char *id;          /* owned */
	int64_t expires_ms; /* dropped after one session timeout */
};

/* One group. */
struct grp_group {
	char *id;               /* owned */
	enum grp_state state;
	int32_t generation;     /* +1 on each completed join */
	char *protocol_type;    /* owned; NULL while Empty with no type */
	char *protocol;         /* owned: the selected protocol, or NULL */
	char *leader;           /* owned: a member id, or NULL */
	struct grp_member **members; /* owned: nmembers, join order */
	size_t nmembers;
	struct grp_pending *pending; /* owned: npending */
	size_t npending;
	int64_t rebalance_deadline_ms; /* PreparingRebalance ends by then */
	int64_t join_not_before_ms; /* ...and not before (initial delay) */
	int64_t state_ms;       /* wall clock of the last state change */
	struct grp_offset *offsets; /* owned: noffsets */
	size_t noffsets;
	int32_t partition;      /* its __consumer_offsets partition */
};

/* The coordinator. tm may be NULL (unit tests of the state machine):
 * then nothing is persisted. */
struct grp_coordinator {
	struct grp_config cfg;
	struct topic_manager *tm;  /* borrowed; NULL: in memory only */
	struct net_server *srv;    /* borrowed; NULL: no parked requests */
	struct grp_group **groups; /* owned: ngroups */
	size_t ngroups;
	uint64_t next_member;      /* member id counter */
	int64_t next_retention_ms; /* when grp_expire_offsets runs next; 0: unset */
	bool loading;              /* replaying __consumer_offsets */
};

/* ---- Lifecycle (09_group_apis.c) ---- */

/* Create __consumer_offsets when missing (offsets_partitions partitions,
 * cleanup.policy=compact), load every group and offset back from it,
 * register the handlers of this chapter on srv and a GRP_TICK_MS timer.
 * tm and srv may be NULL (tests): then nothing is created, loaded or
 * registered. borrows: cfg (copied), tm, srv. returns owned *out. */
int grp_open(struct topic_manager *tm, struct net_server *srv,
	     const struct grp_config *cfg, struct grp_coordinator **out);
/* Free every group. Call after net_server_free (parked joins point here). */
void grp_close(struct grp_coordinator *c);

/* ---- The state machine (09_groups.c) ---- */

/* A JoinGroup, decoded. borrows: every string and protocol. */
struct grp_join_req {
	const char *group_id;
	const char *member_id;   /* "" for a new member */
	const char *instance_id; /* NULL unless static */
	const char *client_id;
	const char *client_host;
	const char *protocol_type;
	int32_t session_timeout_ms;
	int32_t rebalance_timeout_ms; /* -1 (v0): the session timeout */
	const struct grp_protocol *protocols;
	size_t nprotocols;
	bool require_member_id;  /* v4+: KIP-394 */
};

/* Join. *member is the member now (NULL when refused). Returns the
 * answer's error code; KAFKA_ERR_NONE with (*member)->join_ready false
 * means the answer comes when the rebalance completes (park). */
int16_t grp_join(struct grp_coordinator *c, const struct grp_join_req *q,
		 int64_t now_ms, struct grp_group **group,
		 struct grp_member **member);

/* One assignment in the leader's SyncGroup. borrows: both. */
struct grp_assignment {
	const char *member_id;
	struct wire_bytes assignment;
};

/* Sync. KAFKA_ERR_NONE with member->sync_ready false: park until the
 * leader's assignment arrives. */
int16_t grp_sync(struct grp_coordinator *c, const char *group_id,
		 int32_t generation, const char *member_id,
		 const char *instance_id, const struct grp_assignment *a,
		 size_t na, int64_t now_ms, struct grp_member **member);

int16_t grp_heartbeat(struct grp_coordinator *c, const char *group_id,
		      int32_t generation, const char *member_id,
		      const char *instance_id, int64_t now_ms);

/* Leave by member id, or by instance id when member_id is "" (v3+). */
int16_t grp_leave(struct grp_coordinator *c, const char *group_id,
		  const char *member_id, const char *instance_id,
		  int64_t now_ms);

/* Session expiry, the end of rebalances whose time is up, pending member
 * ids, and (every retention_check_ms) offset expiry. The timer's body. */
void grp_tick(struct grp_coordinator *c, int64_t now_ms);

/* DeleteGroups for one group: NONE, GROUP_ID_NOT_FOUND or NON_EMPTY_GROUP. */
int16_t grp_delete(struct grp_coordinator *c, const char *group_id);

struct grp_group *grp_find(struct grp_coordinator *c, const char *group_id);
struct grp_member *grp_member_find(struct grp_group *g, const char *id);
/* KAFKA: GroupState names: "Empty", "PreparingRebalance", ... */
const char *grp_state_name(enum grp_state s);
/* KAFKA: partitionFor: Utils.abs(groupId.hashCode) % partitions, with
 * Java's String.hashCode over UTF-16 code units. */
int32_t grp_partition_for(const char *group_id, int32_t partitions);

/* ---- Offsets (09_offsets.c) ---- */

/* Commit one offset for group g (created Empty if missing, for
 * standalone consumers). borrows: topic, metadata. */
int16_t grp_offset_commit(struct grp_coordinator *c, struct grp_group *g,
			  const char *topic, int32_t partition,
			  int64_t offset, int32_t leader_epoch,
			  const char *metadata, int64_t wall_ms);
/* The committed offset, or NULL. */
struct grp_offset *grp_offset_find(struct grp_group *g, const char *topic,
				   int32_t partition);
/* Remove one offset (OffsetDelete), writing its tombstone. */
void grp_offset_remove(struct grp_coordinator *c, struct grp_group *g,
		       size_t i);
/* Drop the offsets of Empty groups older than offsets.retention.minutes;
 * an Empty group left with none goes Dead and is freed. */
void grp_expire_offsets(struct grp_coordinator *c, int64_t wall_ms);
/* Write the group's GroupMetadataValue record (or its tombstone when it
 * is Dead) to its __consumer_offsets partition. */
int grp_store_group(struct grp_coordinator *c, const struct grp_group *g);
/* Replay every __consumer_offsets partition into c. */
int grp_load(struct grp_coordinator *c);

/* ---- Between the files of chapter 09 (not for later chapters) ---- */

/* 09_groups.c: find or create an Empty group. */
struct grp_group *grp_get_or_create(struct grp_coordinator *c,
				    const char *group_id, int64_t wall_ms);
/* 09_groups.c: unlink and free group i of c (its offsets too). */
void grp_remove_group(struct grp_coordinator *c, size_t i);
/* 09_offsets.c: free every offset of g. */
void grp_offsets_free(struct grp_group *g);

/* ---- Handlers (09_group_apis.c) ---- */

int handle_find_coordinator(struct net_request *req, struct net_response *resp);
int handle_join_group(struct net_request *req, struct net_response *resp);
int handle_sync_group(struct net_request *req, struct net_response *resp);
int handle_heartbeat(struct net_request *req, struct net_response *resp);
int handle_leave_group(struct net_request *req, struct net_response *resp);
int handle_list_groups(struct net_request *req, struct net_response *resp);
int handle_describe_groups(struct net_request *req, struct net_response *resp);
int handle_delete_groups(struct net_request *req, struct net_response *resp);
/* In 09_offsets.c: */
int handle_offset_commit(struct net_request *req, struct net_response *resp);
int handle_offset_fetch(struct net_request *req, struct net_response *resp);
int handle_offset_delete(struct net_request *req, struct net_response *resp);

#endif
