/* SPDX-License-Identifier: MIT */
/*
 * Chapter 09 — groups: the classic consumer group coordinator, in four
 * files read in this order, each using only the ones before it:
 * 09_members.c (members and their protocols), 09_groups.c (the state
 * machine and its deadlines), 09_offsets.c (committed offsets and the
 * records of __consumer_offsets), 09_group_apis.c (grp_open and the wire
 * side of every group API).
 * The states and their edges: docs/09_groups.md and
 * diagrams/09_groups.dot. Deadlines use the coordinator's monotonic clock
 * (c->mono_ms: kb_mono_ms in the broker); timestamps written into records
 * use its wall clock (c->wall_ms: kb_now_ms). Tests replace both.
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
/* heap_idx of a timer that is not armed. */
#define GRP_TIMER_OFF SIZE_MAX

/* ---- Configuration ---- */

/* The broker config keys of the coordinator (KAFKA names in comments). */
struct grp_config {
	int32_t initial_rebalance_delay_ms; /* group.initial.rebalance.delay.ms */
	int32_t min_session_timeout_ms;     /* group.min.session.timeout.ms */
	int32_t max_session_timeout_ms;     /* group.max.session.timeout.ms */
	int32_t offsets_partitions;         /* offsets.topic.num.partitions */
	int16_t offsets_replication_factor; /* offsets.topic.replication.factor */
	int32_t offsets_segment_bytes;      /* offsets.topic.segment.bytes */
	int32_t retention_minutes;          /* offsets.retention.minutes */
	int64_t retention_check_ms;   /* offsets.retention.check.interval.ms */
	int32_t offsets_commit_timeout_ms;  /* offsets.commit.timeout.ms */
	int32_t metadata_max_bytes;         /* offset.metadata.max.bytes */
};

/* ---- Groups, members, deadlines ---- */

enum grp_state {
	GRP_EMPTY,                 /* no members (offsets may remain) */
	GRP_PREPARING_REBALANCE,   /* waiting for members to (re)join */
	GRP_COMPLETING_REBALANCE,  /* joined; waiting for the leader's sync */
	GRP_STABLE,                /* every member has its assignment */
	GRP_DEAD,                  /* removed; being freed */
};

struct grp_group;
struct grp_member;

/* One deadline in the coordinator's timer heap: a member's session, or
 * the group's own (the end of a rebalance, a pending member id's expiry).
 * KAFKA: the DelayedHeartbeat and DelayedJoin timers of the purgatory. */
struct grp_timer {
	int64_t at_ms;           /* mono clock */
	size_t heap_idx;         /* in c->timers; GRP_TIMER_OFF: not armed */
	struct grp_group *g;     /* borrowed: whose deadline */
	struct grp_member *m;    /* borrowed: NULL for the group's own */
};

/* One protocol a member offers (KAFKA: "range", "roundrobin"...), with
 * its opaque metadata (the subscription). */
struct grp_protocol {
	char *name;        /* owned */
	struct kb_buf meta; /* owned */
};

/* One member of a group. */
struct grp_member {
	char *id;            /* owned: "<client_id>-<n>-<ms>" */
	char *instance_id;   /* owned; NULL unless static (KIP-345) */
	char *client_id;     /* owned */
	char *client_host;   /* owned */
	int32_t session_timeout_ms;
	int32_t rebalance_timeout_ms;
	struct grp_protocol *protocols; /* owned: nprotocols, client's order */
	size_t nprotocols;
	struct kb_buf assignment; /* owned: from the leader's SyncGroup */
	struct grp_timer session; /* last heartbeat + session.timeout.ms */
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
	char *id;           /* owned */
	int64_t expires_ms; /* mono: dropped after one session timeout */
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
	int64_t rebalance_deadline_ms; /* mono: PreparingRebalance ends by then */
	int64_t join_not_before_ms; /* mono: ...and not before (initial delay) */
	struct grp_timer deadline;  /* the earliest of the two kinds above */
	int64_t state_ms;       /* wall clock of the last state change */
	struct grp_offset *offsets; /* owned: noffsets */
	size_t noffsets;
	int32_t partition;      /* its __consumer_offsets partition */
};

/* The coordinator. tm NULL (unit tests): nothing is persisted; srv NULL:
 * no wakeups and no reactor timer (tests call grp_run_timers). */
struct grp_coordinator {
	struct grp_config cfg;
	struct topic_manager *tm;  /* borrowed; NULL: in memory only */
	struct net_server *srv;    /* borrowed; NULL: no server */
	struct grp_group **groups; /* owned: ngroups */
	size_t ngroups;
	uint64_t next_member;      /* member id counter */
	int64_t (*mono_ms)(void);  /* deadlines: kb_mono_ms, or a fake */
	int64_t (*wall_ms)(void);  /* record timestamps: kb_now_ms, or a fake */
	struct grp_timer **timers; /* owned array, borrowed timers: min-heap */
	size_t ntimers, timers_cap;
	int64_t armed_ms;          /* the net_at deadline asked of srv */
	/* 09_offsets.c's grp_store_group once grp_open has a topic manager;
	 * NULL: group changes are kept in memory only. */
	int (*store_group)(struct grp_coordinator *c, const struct grp_group *g);
	bool loading;              /* replaying __consumer_offsets */
	/* In a cluster: loaded[p] when the groups of __consumer_offsets
	 * partition p are in memory (this node leads p). owned:
	 * cfg.offsets_partitions flags. Unused on a single node. */
	bool *loaded;
};

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

/* Who a SyncGroup or Heartbeat comes from. borrows: the strings. */
struct grp_member_ref {
	const char *group_id;
	int32_t generation;
	const char *member_id;
	const char *instance_id; /* NULL unless static */
};

/* One assignment in the leader's SyncGroup. borrows: both. */
struct grp_assignment {
	const char *member_id;
	struct wire_bytes assignment;
};

/* A SyncGroup, decoded. borrows: everything. */
struct grp_sync_req {
	struct grp_member_ref who;
	const struct grp_assignment *assignments; /* the leader's, or none */
	size_t nassignments;
};

/* ---- 09_members.c: members and their protocols ---- */

struct grp_member *grp_member_find(struct grp_group *g, const char *id);
/* The member holding static instance_id in g, or NULL. */
struct grp_member *grp_member_by_instance(struct grp_group *g,
					  const char *instance_id);
/* NONE and *out, or FENCED_INSTANCE_ID / UNKNOWN_MEMBER_ID (KIP-345). */
int16_t grp_member_check(struct grp_group *g, const char *member_id,
			 const char *instance_id, struct grp_member **out);
/* Append a member with q's protocols to g (timer not armed); NULL: no memory. */
struct grp_member *grp_member_new(struct grp_group *g,
				  const struct grp_join_req *q, const char *id);
/* Replace m's protocols with copies of q's, whole or not at all. */
int grp_member_set_protocols(struct grp_member *m,
			     const struct grp_join_req *q);
/* Free an unlinked member (its timer already cancelled). */
void grp_member_free(struct grp_member *m);
/* One member as a GroupMetadataValue record keeps it. borrows: all. */
struct grp_restored {
	const char *id, *instance_id, *client_id, *client_host;
	int32_t rebalance_timeout_ms, session_timeout_ms;
	struct wire_bytes subscription; /* the selected protocol's metadata */
	struct wire_bytes assignment;
};
/* KAFKA: GroupMetadataManager.loadGroup: g's members, protocol and
 * leader become what its last record says (Stable with members, Empty
 * without), each member's session starting now. */
int grp_restore(struct grp_coordinator *c, struct grp_group *g,
		const char *protocol, const char *leader,
		const struct grp_restored *ms, size_t n);
/* A new member id "<client_id>-<n>-<ms>". returns owned. */
char *grp_member_id_new(struct grp_coordinator *c, const char *client_id);
/* Does every member of g support protocol name? */
bool grp_member_supports_all(const struct grp_group *g, const char *name);
/* May q join g: same protocol type, one protocol in common with all? */
bool grp_protocols_compatible(const struct grp_group *g,
			      const struct grp_join_req *q);
/* Does m offer exactly q's protocols and metadata, in q's order? */
bool grp_protocols_equal(const struct grp_member *m,
			 const struct grp_join_req *q);
/* KAFKA: selectProtocol: the common protocol most members prefer, or NULL. */
const char *grp_select_protocol(const struct grp_group *g);
/* Replace *dst with a copy of s (NULL allowed). */
void grp_str_set(char **dst, const char *s);

/* ---- 09_groups.c: the state machine ---- */

void grp_config_defaults(struct grp_config *cfg);
/* No groups; clocks kb_mono_ms and kb_now_ms. returns owned (grp_free). */
struct grp_coordinator *grp_new(const struct grp_config *cfg);
/* Free every group and the coordinator. */
void grp_free(struct grp_coordinator *c);
/* Join: the error; NONE with !(*member)->join_ready: park for the answer. */
int16_t grp_join(struct grp_coordinator *c, const struct grp_join_req *q,
		 struct grp_group **group, struct grp_member **member);
/* Sync: the error; NONE with !(*member)->sync_ready: park for the answer. */
int16_t grp_sync(struct grp_coordinator *c, const struct grp_sync_req *q,
		 struct grp_member **member);
/* Heartbeat: NONE, or the error that tells the member to rejoin. */
int16_t grp_heartbeat(struct grp_coordinator *c,
		      const struct grp_member_ref *who);
/* Leave by member id, or by instance id when member_id is "" (v3+). */
int16_t grp_leave(struct grp_coordinator *c, const char *group_id,
		  const char *member_id, const char *instance_id);
/* Fire every deadline due by c->mono_ms() (the reactor's net_at calls it). */
void grp_run_timers(struct grp_coordinator *c);
/* Assert the invariants of 09_groups.c over every group (aborts on a bug). */
void grp_check(const struct grp_coordinator *c);
struct grp_group *grp_find(struct grp_coordinator *c, const char *group_id);
/* Find or create an Empty group; NULL when out of memory. */
struct grp_group *grp_get_or_create(struct grp_coordinator *c,
				    const char *group_id);
/* Unlink group i of c and free it, its members and offsets. */
void grp_remove_group(struct grp_coordinator *c, size_t i);
/* KAFKA: GroupState names: "Empty", "PreparingRebalance", ... */
const char *grp_state_name(enum grp_state s);
/* KAFKA: partitionFor: abs(Java String.hashCode(group_id)) % partitions. */
int32_t grp_partition_for(const char *group_id, int32_t partitions);

/* ---- 09_offsets.c: committed offsets and __consumer_offsets ---- */

/* One OffsetCommit partition. borrows: topic, metadata (NULL: ""). */
struct grp_commit {
	const char *topic;
	int32_t partition;
	int64_t offset;
	int32_t leader_epoch;
	const char *metadata;
};

/* Commit one offset for g: the record first, then memory. */
int16_t grp_offset_commit(struct grp_coordinator *c, struct grp_group *g,
			  const struct grp_commit *o);
/* The committed offset of (topic, partition) in g, or NULL. */
struct grp_offset *grp_offset_find(struct grp_group *g, const char *topic,
				   int32_t partition);
/* Remove offset i of g (OffsetDelete), writing its tombstone. */
void grp_offset_remove(struct grp_coordinator *c, struct grp_group *g,
		       size_t i);
/* DeleteGroups for one group: NONE, GROUP_ID_NOT_FOUND or NON_EMPTY_GROUP. */
int16_t grp_delete(struct grp_coordinator *c, const char *group_id);
/* Expire offsets of Empty groups older than offsets.retention.minutes. */
void grp_expire_offsets(struct grp_coordinator *c);
/* Write g's GroupMetadataValue record (tombstone when Dead). */
int grp_store_group(struct grp_coordinator *c, const struct grp_group *g);
/* Find or create __consumer_offsets (compacted); KB_OK when it exists. */
int grp_offsets_topic(struct grp_coordinator *c);
/* Replay every partition of an existing __consumer_offsets into c
 * (in a cluster: only those this node leads, grp_leadership_changed). */
int grp_load(struct grp_coordinator *c);
/* Chapter 07, after it moved leaders: load the groups of each offsets
 * partition this node now leads, unload those of the ones it left. */
void grp_leadership_changed(struct grp_coordinator *c);
/* Is this node group_id's coordinator? Loads its partition first if this
 * node just became its leader. Always true on a single node. */
bool grp_owns_group(struct grp_coordinator *c, const char *group_id);
/* KAFKA: AuthHelper.authorize(operation, GROUP, group_id) (net_authorized; NULL id: ""). */
bool grp_authorized(const struct net_request *req, int8_t operation,
		    const char *group_id);
/* Are partition p's groups in memory (single node: always)? No loading. */
bool grp_partition_loaded(const struct grp_coordinator *c, int32_t p);
int handle_offset_commit(struct net_request *req, struct net_response *resp);
int handle_offset_fetch(struct net_request *req, struct net_response *resp);
int handle_offset_delete(struct net_request *req, struct net_response *resp);

/* ---- 09_group_apis.c: the coordinator on a server ---- */

/* grp_new, then with tm: load __consumer_offsets if it exists; with srv:
 * register every group API and the timers. returns owned *out. */
int grp_open(struct topic_manager *tm, struct net_server *srv,
	     const struct grp_config *cfg, struct grp_coordinator **out);
/* grp_free; call after net_server_free (parked requests point here). */
void grp_close(struct grp_coordinator *c);
int handle_find_coordinator(struct net_request *req, struct net_response *resp);
int handle_join_group(struct net_request *req, struct net_response *resp);
int handle_sync_group(struct net_request *req, struct net_response *resp);
int handle_heartbeat(struct net_request *req, struct net_response *resp);
int handle_leave_group(struct net_request *req, struct net_response *resp);
int handle_list_groups(struct net_request *req, struct net_response *resp);
int handle_describe_groups(struct net_request *req, struct net_response *resp);
int handle_delete_groups(struct net_request *req, struct net_response *resp);

#endif
