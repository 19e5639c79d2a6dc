/* SPDX-License-Identifier: MIT */
/*
 * Chapter 09 — groups, part 3: committed offsets and __consumer_offsets.
 *
 * Concept:
 *   A consumer remembers how far it has read by committing an offset per
 *   partition to its group. The broker keeps them in memory for
 *   OffsetFetch and makes them durable the Kafka way: as records of an
 *   ordinary, compacted, internal topic, keyed by what they are about (a
 *   group, or a group's partition); a null value (tombstone) deletes.
 *   On startup the coordinator replays the topic.
 *
 * Kafka:
 *   OffsetCommit v2-8, OffsetFetch v1-8, OffsetDelete v0, DeleteGroups'
 *   tombstones; onElection/onResignation (load, unload a partition); GroupMetadataManager's OffsetCommitKey v1, OffsetCommitValue
 *   v3, GroupMetadataKey v2, GroupMetadataValue v3; offsets.retention.minutes;
 *   __consumer_offsets created on first use (FindCoordinator, a commit).
 *
 * Interface:
 *   - Uses 09_groups.c (groups and members), never the reverse: the state
 *     machine writes a group's record through c->store_group, which
 *     grp_open points at grp_store_group.
 *   - grp_offsets_topic creates __consumer_offsets the first time a record
 *     is written or a client asks for a group coordinator; grp_load
 *     replays an existing one at startup.
 *   - In a cluster (topic_cluster_get) the controller creates the topic,
 *     and only the partitions this node leads are in memory: chapter 07
 *     calls grp_leadership_changed after moving leaders; handlers ask
 *     grp_owns_group first (NOT_COORDINATOR otherwise).
 *
 * Invariants:
 *   1. Every change of a committed offset or of a group's generation is
 *      appended to __consumer_offsets before its answer is sent; in a
 *      cluster an OffsetCommit is answered once its record is below the
 *      partition's high watermark (on every in-sync replica, chapter 08),
 *      or with COORDINATOR_NOT_AVAILABLE after offsets.commit.timeout.ms.
 *   2. Replaying the topic from its log start rebuilds the same offsets
 *      (the last record per key wins; a tombstone removes).
 *   3. Offsets of an Empty group expire offsets.retention.minutes after
 *      it became Empty (after the commit, for a group that never had
 *      members); a group left with no offset and no member is removed.
 *
 * Simplifications:
 *   - OffsetDelete on a group with members answers GROUP_SUBSCRIBED_TO_TOPIC
 *     for every partition (Kafka checks each member's subscription).
 *   - require_stable is ignored (no transactions yet); only uncompressed
 *     batches are replayed (samsa writes no others).
 *
 * See also: docs/09_offsets.md, diagrams/09_offsets.dot,
 *   tests/09_groups_test.c; read before: 09_members.c, 09_groups.c.
 *   Uses chapters 00 (base), 04 (codec), 05 (server), 06 (topics).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"
#include "09_groups.h"

/* KAFKA: GroupMetadataManager's record versions. */
#define KEY_OFFSET_V1 1   /* OffsetCommitKey (0 is read too) */
#define KEY_GROUP_V2 2    /* GroupMetadataKey */
#define VALUE_OFFSET_V3 3 /* OffsetCommitValue with leaderEpoch */
#define VALUE_GROUP_V3 3  /* GroupMetadataValue with groupInstanceId */
/* How much of a partition one read copies while loading. */
#define LOAD_CHUNK (1024 * 1024)
/* Sizes of a record batch header: the batch length field ends here. */
#define BATCH_LENGTH_END 12
#define BATCH_LENGTH_AT 8

static int append_record(struct grp_coordinator *c, int32_t partition,
			 const struct kb_buf *key, const struct kb_buf *value);
static void write_offset_key(struct kb_buf *b, const char *group,
			     const char *topic, int32_t partition);
static void load_record(struct grp_coordinator *c, const struct wire_record *rec);
static void load_offset(struct grp_coordinator *c, struct wire_reader *k,
			struct wire_bytes value);
static void load_group(struct grp_coordinator *c, struct wire_reader *k,
		       struct wire_bytes value);
static int load_partition(struct grp_coordinator *c, struct topic_partition *tp);
static const struct topic_cluster *cluster_of(const struct grp_coordinator *c);
static bool leads(struct grp_coordinator *c, int32_t p);
static bool partition_sync(struct grp_coordinator *c, int32_t p);
static void offset_set(struct grp_offset *o, const struct grp_commit *v,
		       int64_t wall_ms);
static int16_t commit_check(struct grp_coordinator *c,
			    const struct grp_member_ref *who,
			    struct grp_group **out);
struct commit_wait;
static void commit_topic(struct net_request *req, struct wire_writer *w,
			 struct grp_group *g, int16_t gerr, struct commit_wait *cw);
static int16_t offset_append(struct grp_coordinator *c, struct grp_group *g,
			     const struct grp_commit *v, int64_t wall_ms);
static int16_t offset_apply(struct grp_group *g, const struct grp_commit *v,
			    int64_t wall_ms);
static void fetch_group(struct net_request *req, struct net_response *resp,
			const char *group, int16_t err);
static int16_t fetch_error(const struct net_request *req, const char *group);
static char *str_of(struct wire_str s);

/* ======================================================================
 * ---- Offsets in memory ----
 * ====================================================================== */

struct grp_offset *grp_offset_find(struct grp_group *g, const char *topic,
				   int32_t partition)
{
	for (size_t i = 0; i < g->noffsets; i++)
		if (g->offsets[i].partition == partition &&
		    strcmp(g->offsets[i].topic, topic) == 0)
			return &g->offsets[i];
	return NULL;
}

/* Overwrite o with the committed values v (metadata copied). */
static void offset_set(struct grp_offset *o, const struct grp_commit *v,
		       int64_t wall_ms)
{
	char *m = strdup(v->metadata ? v->metadata : "");
	if (!m)
		return;
	free(o->metadata);
	o->metadata = m;
	o->offset = v->offset;
	o->leader_epoch = v->leader_epoch;
	o->commit_ms = wall_ms;
}

/* Find or add the slot of (topic, partition) in g. */
static struct grp_offset *offset_slot(struct grp_group *g, const char *topic,
				      int32_t partition)
{
	struct grp_offset *o = grp_offset_find(g, topic, partition);
	if (o)
		return o;
	struct grp_offset *os = realloc(g->offsets,
					(g->noffsets + 1) * sizeof *os);
	if (!os)
		return NULL;
	g->offsets = os;
	o = &os[g->noffsets];
	*o = (struct grp_offset){strdup(topic), partition, -1, -1, NULL, 0};
	if (!o->topic)
		return NULL;
	g->noffsets++;
	return o;
}

/* INVARIANT 1: the record first, then memory. */
int16_t grp_offset_commit(struct grp_coordinator *c, struct grp_group *g,
			  const struct grp_commit *v)
{
	int64_t wall_ms = c->wall_ms();
	int16_t err = offset_append(c, g, v, wall_ms);
	return err ? err : offset_apply(g, v, wall_ms);
}

/* The commit's record in g's partition of __consumer_offsets. */
static int16_t offset_append(struct grp_coordinator *c, struct grp_group *g,
			     const struct grp_commit *v, int64_t wall_ms)
{
	if (v->metadata &&
	    strlen(v->metadata) > (size_t)c->cfg.metadata_max_bytes)
		return KAFKA_ERR_OFFSET_METADATA_TOO_LARGE;
	struct kb_buf key, value;
	kb_buf_init(&key);
	kb_buf_init(&value);
	write_offset_key(&key, g->id, v->topic, v->partition);
	struct wire_writer w;
	wire_writer_init(&w, &value, false);
	wire_write_i16(&w, VALUE_OFFSET_V3);
	wire_write_i64(&w, v->offset);
	wire_write_i32(&w, v->leader_epoch);
	wire_write_string(&w, wire_str_c(v->metadata ? v->metadata : ""));
	wire_write_i64(&w, wall_ms); /* commitTimestamp */
	int rc = wire_writer_status(&w);
	if (rc == KB_OK)
		rc = append_record(c, g->partition, &key, &value);
	kb_buf_fini(&key);
	kb_buf_fini(&value);
	if (rc == KB_OK)
		return KAFKA_ERR_NONE;
	/* KB_ERR_AGAIN: the controller is still creating the topic */
	return rc == KB_ERR_AGAIN ? KAFKA_ERR_COORDINATOR_NOT_AVAILABLE
				  : KAFKA_ERR_UNKNOWN_SERVER_ERROR;
}

/* The commit in memory, for OffsetFetch. */
static int16_t offset_apply(struct grp_group *g, const struct grp_commit *v,
			    int64_t wall_ms)
{
	struct grp_offset *o = offset_slot(g, v->topic, v->partition);
	if (!o)
		return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
	offset_set(o, v, wall_ms);
	return KAFKA_ERR_NONE;
}

void grp_offset_remove(struct grp_coordinator *c, struct grp_group *g,
		       size_t i)
{
	struct grp_offset *o = &g->offsets[i];
	struct kb_buf key;
	kb_buf_init(&key);
	write_offset_key(&key, g->id, o->topic, o->partition);
	append_record(c, g->partition, &key, NULL);
	kb_buf_fini(&key);
	free(o->topic);
	free(o->metadata);
	g->offsets[i] = g->offsets[--g->noffsets];
}

/* KAFKA: GroupCoordinator.handleDeleteGroups: only an Empty group goes,
 * with a tombstone for each offset and one for the group. */
int16_t grp_delete(struct grp_coordinator *c, const char *group_id)
{
	for (size_t i = 0; i < c->ngroups; i++) {
		struct grp_group *g = c->groups[i];
		if (strcmp(g->id, group_id) != 0)
			continue;
		if (g->state != GRP_EMPTY)
			return KAFKA_ERR_NON_EMPTY_GROUP;
		while (g->noffsets > 0)
			grp_offset_remove(c, g, g->noffsets - 1);
		g->state = GRP_DEAD;
		grp_store_group(c, g);
		grp_remove_group(c, i);
		return KAFKA_ERR_NONE;
	}
	return KAFKA_ERR_GROUP_ID_NOT_FOUND;
}

/* INVARIANT 3. KAFKA: GroupMetadataManager.cleanupGroupMetadata, by the
 * wall clock (commit and state times are wall-clock record fields). */
void grp_expire_offsets(struct grp_coordinator *c)
{
	int64_t wall_ms = c->wall_ms();
	int64_t keep = (int64_t)c->cfg.retention_minutes * 60 * 1000;
	for (size_t k = c->ngroups; k-- > 0;) {
		struct grp_group *g = c->groups[k];
		if (g->state != GRP_EMPTY)
			continue;
		for (size_t i = g->noffsets; i-- > 0;) {
			int64_t base = g->protocol_type ? g->state_ms :
							  g->offsets[i].commit_ms;
			if (wall_ms >= base + keep)
				grp_offset_remove(c, g, i);
		}
		if (g->noffsets == 0 && g->nmembers == 0) {
			g->state = GRP_DEAD;
			grp_store_group(c, g);
			grp_remove_group(c, k);
		}
	}
}

/* ======================================================================
 * ---- Records of __consumer_offsets ----
 * ====================================================================== */

static void write_offset_key(struct kb_buf *b, const char *group,
			     const char *topic, int32_t partition)
{
	struct wire_writer w;
	wire_writer_init(&w, b, false);
	wire_write_i16(&w, KEY_OFFSET_V1);
	wire_write_string(&w, wire_str_c(group));
	wire_write_string(&w, wire_str_c(topic));
	wire_write_i32(&w, partition);
}

/* KAFKA: the offsets topic is created on first use (a FindCoordinator
 * for a group, the first record), compacted, with segments of
 * offsets.topic.segment.bytes (100 MiB) so the cleaner (chapter 10) gets
 * rolled segments long before the 1 GiB default would roll. */
int grp_offsets_topic(struct grp_coordinator *c)
{
	if (!c->tm)
		return KB_ERR_NOTFOUND;
	if (topic_find(c->tm, TOPIC_CONSUMER_OFFSETS))
		return KB_OK;
	const struct topic_cluster *cl = cluster_of(c);
	char segment_bytes[16];
	snprintf(segment_bytes, sizeof segment_bytes, "%" PRId32,
		 c->cfg.offsets_segment_bytes);
	const struct topic_config_kv compact[] = {
		{"cleanup.policy", "compact"}, {"segment.bytes", segment_bytes}};
	struct topic_create_req req = {TOPIC_CONSUMER_OFFSETS,
				       c->cfg.offsets_partitions, compact,
				       KB_ARRAY_LEN(compact),
				       c->cfg.offsets_replication_factor};
	/* In a cluster the controller creates it: ask, and wait for the
	 * metadata log to say it exists (KAFKA: AutoTopicCreationManager). */
	if (cl) {
		int asked = cl->create ? cl->create(cl->ctx, &req) : KB_ERR_NOTFOUND;
		return asked == KB_OK ? KB_ERR_AGAIN : asked;
	}
	int rc = topic_create(c->tm, &req, NULL);
	if (rc == KB_OK)
		KB_INFO("group coordinator: created %s with %" PRId32
			" partitions", TOPIC_CONSUMER_OFFSETS,
			c->cfg.offsets_partitions);
	return rc;
}

/* One record in its own batch (value NULL: a tombstone), appended to
 * partition of __consumer_offsets (created if this is the first).
 * Nothing to do without a topic manager or while replaying. */
static int append_record(struct grp_coordinator *c, int32_t partition,
			 const struct kb_buf *key, const struct kb_buf *value)
{
	if (!c->tm || c->loading)
		return KB_OK;
	int rc = grp_offsets_topic(c);
	struct topic_partition *tp = rc == KB_OK ? topic_partition_find(
		c->tm, TOPIC_CONSUMER_OFFSETS, partition) : NULL;
	if (!tp)
		return rc == KB_OK ? KB_ERR_NOTFOUND : rc;
	struct wire_record rec = {0};
	rec.timestamp = c->wall_ms();
	rec.key = (struct wire_bytes){key->data, (int32_t)key->len};
	rec.value = value ? (struct wire_bytes){value->data, (int32_t)value->len} :
			    (struct wire_bytes){NULL, -1};
	struct wire_batch_params bp = {0, 0, 0, -1, -1, -1};
	struct kb_buf batch;
	kb_buf_init(&batch);
	rc = wire_batch_write(&batch, &bp, &rec, 1);
	struct log_append_info info;
	if (rc == KB_OK)
		rc = topic_append_batch(tp, batch.data, batch.len, &info);
	kb_buf_fini(&batch);
	if (rc != KB_OK)
		KB_ERROR("__consumer_offsets-%d: append failed: %s", partition,
			 kb_status_name(rc));
	return rc;
}

/* GroupMetadataValue v3 with every member (tombstone when Dead). */
/* KAFKA: MemberMetadata.metadata(protocol): the member's metadata for
 * the group's selected protocol (empty when none is selected). */
static struct wire_bytes subscription_of(const struct grp_group *g,
					 const struct grp_member *m)
{
	for (size_t i = 0; g->protocol && i < m->nprotocols; i++)
		if (strcmp(m->protocols[i].name, g->protocol) == 0)
			return (struct wire_bytes){m->protocols[i].meta.data,
				(int32_t)m->protocols[i].meta.len};
	return (struct wire_bytes){NULL, 0};
}

int grp_store_group(struct grp_coordinator *c, const struct grp_group *g)
{
	struct kb_buf key, value;
	kb_buf_init(&key);
	kb_buf_init(&value);
	struct wire_writer w;
	wire_writer_init(&w, &key, false);
	wire_write_i16(&w, KEY_GROUP_V2);
	wire_write_string(&w, wire_str_c(g->id));
	wire_writer_init(&w, &value, false);
	wire_write_i16(&w, VALUE_GROUP_V3);
	wire_write_string(&w, wire_str_c(g->protocol_type ? g->protocol_type : ""));
	wire_write_i32(&w, g->generation);
	wire_write_string(&w, wire_str_c(g->protocol));
	wire_write_string(&w, wire_str_c(g->leader));
	wire_write_i64(&w, g->state_ms); /* currentStateTimestamp */
	wire_write_array_len(&w, (int32_t)g->nmembers);
	for (size_t i = 0; i < g->nmembers; i++) {
		const struct grp_member *m = g->members[i];
		wire_write_string(&w, wire_str_c(m->id));
		wire_write_string(&w, wire_str_c(m->instance_id));
		wire_write_string(&w, wire_str_c(m->client_id));
		wire_write_string(&w, wire_str_c(m->client_host));
		wire_write_i32(&w, m->rebalance_timeout_ms);
		wire_write_i32(&w, m->session_timeout_ms);
		wire_write_bytes(&w, subscription_of(g, m));
		wire_write_bytes(&w, (struct wire_bytes){
			m->assignment.data, (int32_t)m->assignment.len});
	}
	int rc = wire_writer_status(&w);
	if (rc == KB_OK)
		rc = append_record(c, g->partition, &key,
				   g->state == GRP_DEAD ? NULL : &value);
	kb_buf_fini(&key);
	kb_buf_fini(&value);
	return rc;
}

/* ======================================================================
 * ---- Loading ----
 * ====================================================================== */

/* INVARIANT 2: every partition from its log start to its high watermark.
 * On a single node memory then holds every partition (loaded or not yet
 * written); in a cluster only those this node leads. */
int grp_load(struct grp_coordinator *c)
{
	if (cluster_of(c)) {
		grp_leadership_changed(c);
		return KB_OK;
	}
	for (int32_t p = 0; p < c->cfg.offsets_partitions; p++)
		c->loaded[p] = true;
	struct topic *t = topic_find(c->tm, TOPIC_CONSUMER_OFFSETS);
	if (!t)
		return KB_OK;
	c->loading = true;
	int rc = KB_OK;
	for (int32_t p = 0; p < t->npartitions && rc == KB_OK; p++)
		rc = load_partition(c, t->partitions[p]);
	c->loading = false;
	KB_INFO("group coordinator: loaded %zu groups from %s", c->ngroups,
		TOPIC_CONSUMER_OFFSETS);
	return rc;
}

/* KAFKA: GroupMetadataManager.scheduleLoadGroupAndOffsets on
 * onElection, removeGroupsForPartition on onResignation. */
void grp_leadership_changed(struct grp_coordinator *c)
{
	for (int32_t p = 0; p < c->cfg.offsets_partitions; p++)
		partition_sync(c, p);
}

bool grp_authorized(const struct net_request *req, int8_t operation,
		    const char *group_id)
{
	return net_authorized(req, operation, NET_RESOURCE_GROUP,
			      group_id ? group_id : "",
			      group_id ? strlen(group_id) : 0);
}

bool grp_owns_group(struct grp_coordinator *c, const char *group_id)
{
	if (!cluster_of(c))
		return true;
	return partition_sync(c, grp_partition_for(group_id,
						   c->cfg.offsets_partitions));
}

bool grp_partition_loaded(const struct grp_coordinator *c, int32_t p)
{
	if (!cluster_of(c))
		return true;
	return p >= 0 && p < c->cfg.offsets_partitions && c->loaded[p];
}

/* The cluster c's topic manager is in, or NULL (one node, or no tm). */
static const struct topic_cluster *cluster_of(const struct grp_coordinator *c)
{
	return c->tm ? topic_cluster_get(c->tm) : NULL;
}

/* Does this node lead offsets partition p (one node: always)? */
static bool leads(struct grp_coordinator *c, int32_t p)
{
	if (!cluster_of(c))
		return true;
	struct topic_partition *tp = topic_partition_find(
		c->tm, TOPIC_CONSUMER_OFFSETS, p);
	return tp && tp->leader_id == topic_manager_config(c->tm)->node_id;
}

/* Bring partition p's groups in line with its leadership: load them when
 * this node leads p and has not loaded it (synchronously: bounded by the
 * partition's size, which compaction keeps small), unload them when it
 * does not lead p any more. Returns whether it leads p. */
static bool partition_sync(struct grp_coordinator *c, int32_t p)
{
	bool lead = leads(c, p);
	if (lead && !c->loaded[p]) {
		struct topic_partition *tp = topic_partition_find(
			c->tm, TOPIC_CONSUMER_OFFSETS, p);
		c->loading = true;
		int rc = tp ? load_partition(c, tp) : KB_OK;
		c->loading = false;
		if (rc != KB_OK)
			KB_WARN("%s-%d: load stopped: %s", TOPIC_CONSUMER_OFFSETS,
				p, kb_status_name(rc));
		c->loaded[p] = true;
		KB_INFO("group coordinator: now coordinating %s-%d",
			TOPIC_CONSUMER_OFFSETS, p);
	} else if (!lead && c->loaded[p]) {
		c->loaded[p] = false; /* first: parked requests see it gone */
		for (size_t i = c->ngroups; i-- > 0;)
			if (c->groups[i]->partition == p)
				grp_remove_group(c, i);
		KB_INFO("group coordinator: no longer coordinating %s-%d",
			TOPIC_CONSUMER_OFFSETS, p);
	}
	return lead;
}

static int load_partition(struct grp_coordinator *c, struct topic_partition *tp)
{
	int64_t off = tp->log->log_start_offset;
	struct kb_buf buf;
	kb_buf_init(&buf);
	int rc = KB_OK;
	while (off < log_end_offset(tp->log) && rc == KB_OK) {
		int64_t next = off;
		buf.len = 0;
		rc = topic_read_copy(tp, &next, LOAD_CHUNK, &buf);
		for (size_t pos = 0; rc == KB_OK && pos + BATCH_LENGTH_END <= buf.len;) {
			size_t len = BATCH_LENGTH_END +
				     kb_get_be32(buf.data + pos + BATCH_LENGTH_AT);
			struct wire_records it;
			struct wire_record rec;
			if (pos + len > buf.len)
				break;
			if (wire_records_init(&it, buf.data + pos, len) == KB_OK)
				while (wire_records_next(&it, &rec) == KB_OK)
					load_record(c, &rec);
			pos += len;
		}
		if (next <= off)
			break;
		off = next;
	}
	kb_buf_fini(&buf);
	return rc;
}

static void load_record(struct grp_coordinator *c, const struct wire_record *rec)
{
	struct wire_reader k;
	if (rec->key.len < 2)
		return;
	wire_reader_init(&k, rec->key.p, (size_t)rec->key.len, false);
	int16_t version = wire_read_i16(&k);
	if (version == 0 || version == KEY_OFFSET_V1)
		load_offset(c, &k, rec->value);
	else if (version == KEY_GROUP_V2)
		load_group(c, &k, rec->value);
}

static char *str_of(struct wire_str s)
{
	char *out = NULL;
	if (s.len >= 0)
		wire_str_dup(s, &out);
	return out;
}

static void load_offset(struct grp_coordinator *c, struct wire_reader *k,
			struct wire_bytes value)
{
	char *group = str_of(wire_read_string(k));
	char *topic = str_of(wire_read_string(k));
	int32_t partition = wire_read_i32(k);
	struct grp_group *g = group ? grp_find(c, group) : NULL;
	if (wire_reader_status(k) != KB_OK || !group || !topic) {
		/* skip a record we cannot read */
	} else if (value.len < 0) {
		for (size_t i = 0; g && i < g->noffsets; i++)
			if (g->offsets[i].partition == partition &&
			    strcmp(g->offsets[i].topic, topic) == 0)
				grp_offset_remove(c, g, i);
	} else if ((g = grp_get_or_create(c, group))) {
		struct wire_reader v;
		wire_reader_init(&v, value.p, (size_t)value.len, false);
		int16_t version = wire_read_i16(&v);
		struct grp_commit commit = {topic, partition, 0, -1, NULL};
		commit.offset = wire_read_i64(&v);
		commit.leader_epoch = version >= 3 ? wire_read_i32(&v) : -1;
		char *meta = str_of(wire_read_string(&v));
		commit.metadata = meta;
		int64_t ts = wire_read_i64(&v);
		struct grp_offset *o = offset_slot(g, topic, partition);
		if (o && wire_reader_status(&v) == KB_OK)
			offset_set(o, &commit, ts);
		free(meta);
	}
	free(group);
	free(topic);
}

/* A group comes back Empty, with its type, generation and state time. */
/* GroupMetadataValue's members (v0-3): each as Kafka writes it. A
 * record that does not parse restores none (the clients rejoin). */
static void load_members(struct grp_coordinator *c, struct grp_group *g,
			 struct wire_reader *v, int16_t version,
			 const char *protocol, const char *leader)
{
	int32_t n = wire_read_array_len(v, 26), total;
	struct grp_restored *ms = n > 0 ? calloc((size_t)n, sizeof *ms) : NULL;
	char **strs = n > 0 ? calloc((size_t)n * 4, sizeof *strs) : NULL;
	if (n > 0 && (!ms || !strs))
		n = 0;
	total = KB_MAX(n, 0);
	for (int32_t i = 0; i < n && wire_reader_status(v) == KB_OK; i++) {
		struct grp_restored *r = &ms[i];
		r->id = strs[4 * i] = str_of(wire_read_string(v));
		r->instance_id = strs[4 * i + 1] = version >= 3
			? str_of(wire_read_nullable_string(v)) : NULL;
		r->client_id = strs[4 * i + 2] = str_of(wire_read_string(v));
		r->client_host = strs[4 * i + 3] = str_of(wire_read_string(v));
		r->rebalance_timeout_ms = version >= 1 ? wire_read_i32(v) : -1;
		r->session_timeout_ms = wire_read_i32(v);
		if (version == 0)
			r->rebalance_timeout_ms = r->session_timeout_ms;
		r->subscription = wire_read_bytes(v);
		r->assignment = wire_read_bytes(v);
		if (!r->id || !r->client_id || !r->client_host)
			n = i; /* no memory: restore what came before */
	}
	if (n >= 0 && wire_reader_status(v) == KB_OK &&
	    grp_restore(c, g, protocol, leader, ms, (size_t)n) != KB_OK)
		KB_WARN("group coordinator: %s: members not restored", g->id);
	for (int32_t i = 0; strs && i < 4 * total; i++)
		free(strs[i]);
	free(strs);
	free(ms);
}

static void load_group(struct grp_coordinator *c, struct wire_reader *k,
		       struct wire_bytes value)
{
	char *group = str_of(wire_read_string(k));
	if (!group || wire_reader_status(k) != KB_OK) {
		free(group);
		return;
	}
	struct grp_group *g = grp_find(c, group);
	if (value.len < 0) {
		for (size_t i = 0; g && i < c->ngroups; i++)
			if (c->groups[i] == g && g->noffsets == 0)
				grp_remove_group(c, i);
	} else if ((g = grp_get_or_create(c, group))) {
		struct wire_reader v;
		wire_reader_init(&v, value.p, (size_t)value.len, false);
		int16_t version = wire_read_i16(&v);
		char *type = str_of(wire_read_string(&v));
		int32_t generation = wire_read_i32(&v);
		char *protocol = str_of(wire_read_nullable_string(&v));
		char *leader = str_of(wire_read_nullable_string(&v));
		int64_t ts = version >= 2 ? wire_read_i64(&v) : 0;
		if (wire_reader_status(&v) == KB_OK) {
			free(g->protocol_type);
			g->protocol_type = type && type[0] ? type : NULL;
			type = g->protocol_type == type ? NULL : type;
			g->generation = generation;
			load_members(c, g, &v, version, protocol, leader);
			g->state_ms = ts;
		}
		free(protocol);
		free(leader);
		free(type);
	}
	free(group);
}

/* ======================================================================
 * ---- OffsetCommit ----
 * ====================================================================== */

/* KAFKA: GroupCoordinator.handleCommitOffsets: who may commit now. A
 * generation below 0 is a consumer outside any group (assign()). */
static int16_t commit_check(struct grp_coordinator *c,
			    const struct grp_member_ref *who,
			    struct grp_group **out)
{
	struct grp_group *g = grp_find(c, who->group_id);
	int32_t gen = who->generation;
	*out = NULL;
	if (who->group_id[0] == '\0')
		return KAFKA_ERR_INVALID_GROUP_ID;
	if (!g && gen >= 0)
		return KAFKA_ERR_ILLEGAL_GENERATION;
	if (!g || (gen < 0 && g->state == GRP_EMPTY)) {
		*out = g ? g : grp_get_or_create(c, who->group_id);
		return *out ? KAFKA_ERR_NONE : KAFKA_ERR_UNKNOWN_SERVER_ERROR;
	}
	struct grp_member *m = grp_member_find(g, who->member_id);
	struct grp_member *holder = NULL;
	const char *instance = who->instance_id;
	for (size_t i = 0; instance && i < g->nmembers; i++)
		if (g->members[i]->instance_id &&
		    !strcmp(g->members[i]->instance_id, instance))
			holder = g->members[i];
	if (holder && holder != m)
		return KAFKA_ERR_FENCED_INSTANCE_ID;
	if (g->state == GRP_COMPLETING_REBALANCE)
		return KAFKA_ERR_REBALANCE_IN_PROGRESS;
	if (!m)
		return KAFKA_ERR_UNKNOWN_MEMBER_ID;
	if (gen != g->generation)
		return KAFKA_ERR_ILLEGAL_GENERATION;
	*out = g;
	return KAFKA_ERR_NONE;
}

/* An OffsetCommit waiting for its record to be replicated (KAFKA:
 * GroupMetadataManager.storeOffsets appends with acks=-1, a
 * DelayedProduce): the answer is ready, its error codes of committed
 * partitions at the positions in errs. Names and numbers only. */
struct commit_wait {
	struct grp_coordinator *c; /* borrowed */
	int32_t partition;         /* of __consumer_offsets */
	int64_t required;          /* the high watermark that makes it durable */
	struct kb_buf body;        /* owned: the answer, as written */
	struct kb_buf errs;        /* owned: size_t positions of NONE codes */
	char *group;               /* owned: whose offsets, once durable */
	struct grp_commit *commits; /* owned: topic and metadata too */
	size_t ncommits;
	int64_t wall_ms;
};

static void commit_wait_free(void *ctx)
{
	struct commit_wait *cw = ctx;
	for (size_t i = 0; i < cw->ncommits; i++) {
		free((char *)cw->commits[i].topic);
		free((char *)cw->commits[i].metadata);
	}
	free(cw->commits);
	free(cw->group);
	kb_buf_fini(&cw->body);
	kb_buf_fini(&cw->errs);
	free(cw);
}

/* Keep a copy of v to apply once it is durable (KAFKA: the offsets
 * cache is updated in the append's callback). false: no memory. */
static bool commit_keep(struct commit_wait *cw, const struct grp_commit *v)
{
	void *p = realloc(cw->commits, (cw->ncommits + 1) * sizeof *cw->commits);
	if (!p)
		return false;
	cw->commits = p;
	struct grp_commit *k = &cw->commits[cw->ncommits];
	*k = *v;
	k->topic = strdup(v->topic);
	k->metadata = strdup(v->metadata ? v->metadata : "");
	if (!k->topic || !k->metadata) {
		free((char *)k->topic);
		free((char *)k->metadata);
		return false;
	}
	cw->ncommits++;
	return true;
}

/* The durable commits into their group's memory (if it still is here). */
static void commit_apply(struct commit_wait *cw)
{
	struct grp_group *g = cw->group ? grp_find(cw->c, cw->group) : NULL;
	for (size_t i = 0; g && i < cw->ncommits; i++)
		offset_apply(g, &cw->commits[i], cw->wall_ms);
}

/* KAFKA: storeOffsets' error mapping: an append that did not reach the
 * ISR in time is COORDINATOR_NOT_AVAILABLE, one on a partition no longer
 * led here NOT_COORDINATOR; the client commits again. */
static bool commit_try(struct net_delayed *op, struct net_response *resp,
		       bool expired)
{
	struct commit_wait *cw = net_delayed_ctx(op);
	struct topic_partition *tp = topic_partition_find(
		cw->c->tm, TOPIC_CONSUMER_OFFSETS, cw->partition);
	int16_t err = KAFKA_ERR_NONE;
	if (!tp || topic_leader_check(cw->c->tm, tp, -1) != KAFKA_ERR_NONE)
		err = KAFKA_ERR_NOT_COORDINATOR;
	else if (tp->high_watermark < cw->required && !expired)
		return false;
	else if (tp->high_watermark < cw->required)
		err = KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
	const size_t *at = (const size_t *)(void *)cw->errs.data;
	for (size_t i = 0; err && i < cw->errs.len / sizeof *at; i++)
		kb_put_be16(cw->body.data + at[i], (uint16_t)err);
	if (!err)
		commit_apply(cw);
	wire_write_raw(&resp->w, cw->body.data, cw->body.len);
	return true;
}

/* INVARIANT 1 in a cluster: answered once the records are below the
 * high watermark of the group's partition (at once on one node). */
static int commit_answer(struct net_request *req, struct net_response *resp,
			 struct commit_wait *cw, int32_t timeout_ms)
{
	struct topic_partition *tp = cw->errs.len ? topic_partition_find(
		cw->c->tm, TOPIC_CONSUMER_OFFSETS, cw->partition) : NULL;
	struct net_delayed *op;
	if (!tp || tp->high_watermark >= (cw->required = log_end_offset(tp->log))) {
		commit_apply(cw);
		wire_write_raw(&resp->w, cw->body.data, cw->body.len);
		commit_wait_free(cw);
		return wire_writer_status(&resp->w);
	}
	struct net_wait wait = {kb_mono_ms() + timeout_ms, commit_try, cw,
				commit_wait_free};
	int rc = net_park(req, resp, &wait, &op);
	if (rc != KB_OK)
		return rc; /* net_park freed cw */
	net_watch(op, tp->log);
	return NET_PARKED;
}

int handle_offset_commit(struct net_request *req, struct net_response *resp)
{
	struct grp_coordinator *c = req->ctx;
	struct wire_reader *r = &req->body;
	struct commit_wait *cw = calloc(1, sizeof *cw);
	if (!cw)
		return KB_ERR_NOMEM;
	struct wire_writer bw, *w = &bw;
	wire_writer_init(w, &cw->body, resp->w.flexible);
	cw->c = c;
	int16_t v = req->header.api_version;
	char *group = str_of(wire_read_string(r));
	int32_t gen = wire_read_i32(r);
	char *member = str_of(wire_read_string(r));
	char *instance = v >= 7 ? str_of(wire_read_nullable_string(r)) : NULL;
	if (v <= 4)
		wire_read_i64(r); /* retention_time_ms: KAFKA ignores it too */
	int32_t nt = wire_read_array_len(r, 2);
	struct grp_group *g = NULL;
	struct grp_member_ref who = {group, gen, member, instance};
	int16_t gerr = !group || !member ? KAFKA_ERR_UNKNOWN_SERVER_ERROR :
		       !grp_authorized(req, NET_OP_READ, group) ?
			       KAFKA_ERR_GROUP_AUTHORIZATION_FAILED :
		       !grp_owns_group(c, group) ? KAFKA_ERR_NOT_COORDINATOR :
		       commit_check(c, &who, &g);
	if (v >= 3)
		wire_write_i32(w, 0); /* throttle_time_ms */
	wire_write_array_len(w, nt);
	cw->wall_ms = c->wall_ms();
	cw->group = group;
	for (int32_t t = 0; t < nt; t++)
		commit_topic(req, w, g, gerr, cw);
	wire_read_tags(r);
	wire_write_tags(w);
	free(member);
	free(instance);
	cw->partition = g ? g->partition : -1;
	if (wire_reader_status(r) != KB_OK || wire_writer_status(w) != KB_OK) {
		commit_wait_free(cw);
		return KB_ERR_PROTO;
	}
	return commit_answer(req, resp, cw, c->cfg.offsets_commit_timeout_ms);
}

/* One topic of an OffsetCommit: each partition committed to g unless the
 * group's check said gerr, or the partition does not exist. */
static void commit_topic(struct net_request *req, struct wire_writer *w,
			 struct grp_group *g, int16_t gerr, struct commit_wait *cw)
{
	struct grp_coordinator *c = req->ctx;
	struct wire_reader *r = &req->body;
	struct wire_str name = wire_read_string(r);
	char *topic = str_of(name);
	int32_t np = wire_read_array_len(r, 4);
	wire_write_string(w, name);
	wire_write_array_len(w, np);
	for (int32_t p = 0; p < np; p++) {
		struct grp_commit o = {topic, 0, 0, -1, NULL};
		o.partition = wire_read_i32(r);
		o.offset = wire_read_i64(r);
		o.leader_epoch = req->header.api_version >= 6 ? wire_read_i32(r) : -1;
		char *meta = str_of(wire_read_nullable_string(r));
		o.metadata = meta;
		wire_read_tags(r);
		int16_t err = gerr;
		if (err == KAFKA_ERR_NONE && !topic_authorized(req, NET_OP_READ, name))
			err = KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED;
		if (err == KAFKA_ERR_NONE && (!topic ||
		    !topic_partition_find(c->tm, topic, o.partition)))
			err = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
		if (err == KAFKA_ERR_NONE && wire_reader_status(r) == KB_OK)
			err = offset_append(c, g, &o, cw->wall_ms);
		if (err == KAFKA_ERR_NONE && !commit_keep(cw, &o))
			err = KAFKA_ERR_UNKNOWN_SERVER_ERROR; /* appended, not kept:
				  replay at the next load still has it */
		wire_write_i32(w, o.partition);
		size_t at = w->buf->len;
		if (err == KAFKA_ERR_NONE)
			kb_buf_append(&cw->errs, &at, sizeof at);
		wire_write_i16(w, err);
		wire_write_tags(w);
		free(meta);
	}
	wire_read_tags(r);
	wire_write_tags(w);
	free(topic);
}

/* ======================================================================
 * ---- OffsetFetch ----
 * ====================================================================== */

/* One partition of an OffsetFetch answer: -1 and "" when none. */
static void fetch_write_part(struct wire_writer *w, int16_t v,
			     const struct grp_offset *o, int32_t index,
			     int16_t err)
{
	wire_write_i32(w, index);
	wire_write_i64(w, o ? o->offset : -1);
	if (v >= 5)
		wire_write_i32(w, o ? o->leader_epoch : -1);
	wire_write_string(w, wire_str_c(o ? o->metadata : ""));
	wire_write_i16(w, err);
	wire_write_tags(w);
}

/* Every committed offset of g, one topic entry per offset (null topics:
 * KAFKA: "all offsets of the group"). */
static void fetch_write_all(struct wire_writer *w, int16_t v,
			    struct grp_group *g)
{
	size_t n = g ? g->noffsets : 0;
	wire_write_array_len(w, (int32_t)n);
	for (size_t i = 0; i < n; i++) {
		wire_write_string(w, wire_str_c(g->offsets[i].topic));
		wire_write_array_len(w, 1);
		fetch_write_part(w, v, &g->offsets[i], g->offsets[i].partition,
				 KAFKA_ERR_NONE);
		wire_write_tags(w);
	}
}

/* The topics of one group: read from the request and answered; err
 * (NOT_COORDINATOR) in every partition, and no offsets, when set. */
static void fetch_group(struct net_request *req, struct net_response *resp,
			const char *group, int16_t err)
{
	struct grp_coordinator *c = req->ctx;
	struct wire_reader *r = &req->body;
	struct wire_writer *w = &resp->w;
	int16_t v = req->header.api_version;
	struct grp_group *g = group && !err ? grp_find(c, group) : NULL;
	int32_t nt = v >= 2 ? wire_read_nullable_array_len(r, 2) :
			      wire_read_array_len(r, 2);
	if (nt < 0) {
		fetch_write_all(w, v, g);
		return;
	}
	wire_write_array_len(w, nt);
	for (int32_t t = 0; t < nt; t++) {
		struct wire_str name = wire_read_string(r);
		char *topic = str_of(name);
		int32_t np = wire_read_array_len(r, 4);
		wire_write_string(w, name);
		wire_write_array_len(w, np);
		for (int32_t p = 0; p < np; p++) {
			int32_t index = wire_read_i32(r);
			bool seen = err || topic_authorized(req, NET_OP_DESCRIBE, name);
			fetch_write_part(w, v, g && topic && seen ?
					 grp_offset_find(g, topic, index) : NULL,
					 index, seen ? err :
					 KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED);
		}
		wire_read_tags(r);
		wire_write_tags(w);
		free(topic);
	}
}

/* GROUP_AUTHORIZATION_FAILED without DESCRIBE on it (KAFKA), then
 * NOT_COORDINATOR when this node does not coordinate group, else NONE. */
static int16_t fetch_error(const struct net_request *req, const char *group)
{
	if (!grp_authorized(req, NET_OP_DESCRIBE, group))
		return KAFKA_ERR_GROUP_AUTHORIZATION_FAILED;
	return group && !grp_owns_group(req->ctx, group) ?
		       KAFKA_ERR_NOT_COORDINATOR : KAFKA_ERR_NONE;
}

int handle_offset_fetch(struct net_request *req, struct net_response *resp)
{
	struct wire_reader *r = &req->body;
	struct wire_writer *w = &resp->w;
	int16_t v = req->header.api_version;
	if (v >= 3)
		wire_write_i32(w, 0); /* throttle_time_ms */
	if (v <= 7) {
		char *group = str_of(wire_read_string(r));
		int16_t err = fetch_error(req, group);
		fetch_group(req, resp, group, err);
		if (v >= 2)
			wire_write_i16(w, err);
		free(group);
	} else {
		int32_t ng = wire_read_array_len(r, 2);
		wire_write_array_len(w, ng);
		for (int32_t i = 0; i < ng; i++) {
			struct wire_str id = wire_read_string(r);
			char *group = str_of(id);
			wire_write_string(w, id);
			int16_t err = fetch_error(req, group);
			fetch_group(req, resp, group, err);
			wire_read_tags(r);
			wire_write_i16(w, err);
			wire_write_tags(w);
			free(group);
		}
	}
	if (v >= 7)
		wire_read_bool(r); /* require_stable */
	wire_read_tags(r);
	wire_write_tags(w);
	if (wire_reader_status(r) != KB_OK)
		return KB_ERR_PROTO;
	return wire_writer_status(w);
}

/* ======================================================================
 * ---- OffsetDelete ----
 * ====================================================================== */

int handle_offset_delete(struct net_request *req, struct net_response *resp)
{
	struct grp_coordinator *c = req->ctx;
	struct wire_reader *r = &req->body;
	struct wire_writer *w = &resp->w;
	char *group = str_of(wire_read_string(r));
	/* KAFKA: DELETE on the group (GROUP_AUTHORIZATION_FAILED, nothing
	 * removed) */
	bool allowed = grp_authorized(req, NET_OP_DELETE, group);
	bool owns = !group || grp_owns_group(c, group);
	struct grp_group *g = group && owns && allowed ? grp_find(c, group) : NULL;
	int32_t nt = wire_read_array_len(r, 2);
	bool found = g != NULL;
	wire_write_i16(w, !allowed ? KAFKA_ERR_GROUP_AUTHORIZATION_FAILED :
			  !owns ? KAFKA_ERR_NOT_COORDINATOR :
			  found ? KAFKA_ERR_NONE : KAFKA_ERR_GROUP_ID_NOT_FOUND);
	wire_write_i32(w, 0); /* throttle_time_ms */
	wire_write_array_len(w, found ? nt : 0);
	for (int32_t t = 0; t < nt; t++) {
		struct wire_str name = wire_read_string(r);
		char *topic = str_of(name);
		int32_t np = wire_read_array_len(r, 4);
		if (found) {
			wire_write_string(w, name);
			wire_write_array_len(w, np);
		}
		for (int32_t p = 0; p < np; p++) {
			int32_t index = wire_read_i32(r);
			int16_t err = KAFKA_ERR_NONE;
			if (found && g->state != GRP_EMPTY)
				err = KAFKA_ERR_GROUP_SUBSCRIBED_TO_TOPIC;
			for (size_t i = 0; found && !err && topic && i < g->noffsets; i++)
				if (g->offsets[i].partition == index &&
				    !strcmp(g->offsets[i].topic, topic))
					grp_offset_remove(c, g, i);
			if (found) {
				wire_write_i32(w, index);
				wire_write_i16(w, err);
			}
		}
		free(topic);
	}
	free(group);
	if (wire_reader_status(r) != KB_OK)
		return KB_ERR_PROTO;
	return wire_writer_status(w);
}
