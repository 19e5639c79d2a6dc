/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07, the quorum node's snapshots — so the metadata log stays
 * bounded, and a node that was away long catches up without it.
 *
 * Concept:
 *   Every metadata.log.max.record.bytes.between.snapshots bytes of applied
 *   batches the image is written as <offset>-<epoch>.checkpoint and the
 *   core may drop the log below it. At start the newest snapshot is the
 *   image and only the log after it is replayed. A leader serves its
 *   snapshots with FetchSnapshot; a follower whose log ends below the
 *   leader's log start downloads one, chunk by chunk, into a .part file,
 *   and only a whole, readable snapshot replaces its image and its log.
 *
 * Kafka:
 *   KafkaRaftClient's snapshot handling (KIP-630): maybeSnapshot in the
 *   MetadataLoader, handleFetchSnapshotRequest, handleFetchSnapshotResponse
 *   with FileRawSnapshotWriter's .part file, truncateFullyAndStartAt.
 *
 * Interface (07_node_internal.h): node_load_snapshot at open,
 *   node_maybe_snapshot after each apply, handle_fetch_snapshot in the
 *   node's API table, node_snapshot_start on RAFT_OUT_FETCH_SNAPSHOT,
 *   node_snapshot_abort on close.
 *
 * Invariants:
 *   1. The image is replaced only by a snapshot that is durable under its
 *      own name and read back whole, and only after the core accepted it
 *      (raft_snapshot_loaded).
 *   2. At most one download at a time; any failure deletes its .part and
 *      hands the core back to Fetch (raft_snapshot_failed).
 *   (Checked by raft_node_check through raft_check: a follower fetching a
 *   snapshot sends no Fetch.)
 *
 * Simplifications:
 *   A download has no progress timer of its own: the follower's fetch
 *   timeout runs meanwhile (KafkaRaftClient resets it on each answer).
 *
 * See also: docs/07_node.md, diagrams/07_node_snapshot.dot,
 *   tests/clients/test_cluster.py; read after 07_node.c, with 07_raft.c's
 *   snapshot calls and 07_snapshot.c's files. Uses chapters 00 (base),
 *   04 (codec), 05 (server).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "00_base.h"
#include "04_codec.h"
#include "05_server.h"
#include "07_metadata.h"
#include "07_node.h"
#include "07_node_internal.h"
#include "07_quorum_log.h"
#include "07_quorum_wire.h"
#include "07_raft.h"
#include "07_snapshot.h"

/* KAFKA: a node starts from its newest snapshot and replays only the
 * log after it (RaftClient's latestSnapshot, MetadataLoader). */
int node_load_snapshot(struct raft_node *n)
{
	const char *dir = raft_metadata_log_dir(n->log);
	struct raft_offset_epoch id;
	n->snapshot_id = (struct raft_offset_epoch){0, -1};
	int count = meta_snapshot_scan(dir, &id, 1); /* cleans .part files too */
	if (count < 0)
		return count;
	if (count == 0)
		return KB_OK; /* none yet: replay from offset 0 */
	/* a snapshot past the log's end (fetched, then a crash before the
	 * reset) is fine: the core resets the log to it (raft_new) */
	struct meta_snapshot_info info;
	meta_image_fini(&n->img);
	int rc = meta_snapshot_read(dir, id, &n->img, &info);
	if (rc != KB_OK) {
		KB_ERROR("raft: snapshot %" PRId64 "-%" PRId32 " unreadable: %s",
			 id.offset, id.epoch, kb_status_name(rc));
		return rc;
	}
	n->applied = id.offset;
	n->applied_epoch = id.epoch;
	n->snapshot_id = id;
	KB_INFO("raft: loaded snapshot %" PRId64 "-%" PRId32 " (%" PRId64
		" records); replaying the log from offset %" PRId64, id.offset,
		id.epoch, info.records, id.offset);
	return KB_OK;
}

/* KAFKA: metadata.log.max.record.bytes.between.snapshots: after that
 * many bytes of batches applied, the image is written as a snapshot
 * <offset>-<epoch>.checkpoint, and older snapshots go. */
void node_maybe_snapshot(struct raft_node *n)
{
	if (n->cfg.snapshot_bytes <= 0 ||
	    n->bytes_since_snapshot < n->cfg.snapshot_bytes)
		return;
	struct raft_offset_epoch id = {n->applied, n->applied_epoch};
	struct meta_snapshot_params p = {id, kb_now_ms(), kb_now_ms()};
	const char *dir = raft_metadata_log_dir(n->log);
	int64_t t0 = kb_mono_ms();
	int rc = meta_snapshot_write(dir, &n->img, &p);
	n->bytes_since_snapshot = 0;
	if (rc != KB_OK) {
		KB_WARN("raft: snapshot at %" PRId64 " not written: %s", id.offset,
			kb_status_name(rc));
		return;
	}
	rc = raft_snapshot_taken(n->raft, id); /* the log may drop below it */
	if (rc == KB_ERR_INVAL) {
		char path[4096];
		KB_WARN("raft: snapshot %" PRId64 "-%" PRId32 " is not on the "
			"committed log; deleted", id.offset, id.epoch);
		if (meta_snapshot_path(dir, id, path, sizeof path) == KB_OK)
			unlink(path);
		return;
	}
	n->snapshot_id = id;
	meta_snapshot_delete_before(dir, id);
	KB_INFO("raft: wrote snapshot %" PRId64 "-%" PRId32 " in %" PRId64 " ms",
		id.offset, id.epoch, kb_mono_ms() - t0);
}

/* ---- Serving snapshots (FetchSnapshot 59, KIP-630) ---- */

/* Bytes of a snapshot one FetchSnapshot answer carries at most. */
#define NODE_SNAPSHOT_CHUNK_BYTES (1024 * 1024)

/* One chunk of snapshot id from position: its bytes and the whole size;
 * a partition error when there is no such snapshot or position. */
static int16_t node_snapshot_chunk(struct raft_node *n,
				   struct raft_offset_epoch id, int64_t position,
				   int32_t max_bytes, struct kb_buf *out,
				   int64_t *size)
{
	char path[4096];
	if (meta_snapshot_path(raft_metadata_log_dir(n->log), id, path,
			       sizeof path) != KB_OK)
		return KAFKA_ERR_SNAPSHOT_NOT_FOUND;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return KAFKA_ERR_SNAPSHOT_NOT_FOUND;
	struct stat st;
	int16_t err = KAFKA_ERR_NONE;
	if (fstat(fd, &st) != 0) {
		err = KAFKA_ERR_SNAPSHOT_NOT_FOUND;
	} else if (position < 0 || position > st.st_size) {
		err = KAFKA_ERR_POSITION_OUT_OF_RANGE;
	} else {
		size_t want = (size_t)KB_MIN((int64_t)st.st_size - position,
					     (int64_t)KB_MIN(max_bytes > 0 ? max_bytes : 1,
							     NODE_SNAPSHOT_CHUNK_BYTES));
		*size = st.st_size;
		if (kb_buf_reserve(out, want) != KB_OK ||
		    pread(fd, out->data, want, position) != (ssize_t)want)
			err = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
		else
			out->len = want;
	}
	close(fd);
	return err;
}

/* KAFKA: KafkaRaftClient.handleFetchSnapshotRequest: only the leader
 * serves, only snapshots it has, in chunks from the asked position. */
int handle_fetch_snapshot(struct net_request *req,
				 struct net_response *resp)
{
	struct raft_node *n = req->ctx;
	int16_t v = req->header.api_version;
	struct raft_fetch_snapshot_request q;
	int rc = raft_fetch_snapshot_request_decode(
		v, req->body.p + req->body.pos, wire_remaining(&req->body), &q);
	if (rc != KB_OK)
		return KB_ERR_PROTO;
	struct raft_quorum_state qs = raft_quorum(n->raft);
	struct raft_fetch_snapshot_response s;
	memset(&s, 0, sizeof s);
	s.snapshot_id = q.snapshot_id;
	s.leader_id = qs.leader_id;
	s.leader_epoch = qs.leader_epoch;
	struct kb_buf chunk;
	kb_buf_init(&chunk);
	if (q.cluster_id[0] && strcmp(q.cluster_id, n->cfg.raft.cluster_id) != 0)
		s.error_code = KAFKA_ERR_INCONSISTENT_CLUSTER_ID;
	else if (raft_state(n->raft) != RAFT_LEADER)
		s.partition_error_code = KAFKA_ERR_NOT_LEADER_OR_FOLLOWER;
	else if (q.current_leader_epoch != qs.leader_epoch)
		s.partition_error_code = q.current_leader_epoch < qs.leader_epoch ?
			KAFKA_ERR_FENCED_LEADER_EPOCH : KAFKA_ERR_UNKNOWN_LEADER_EPOCH;
	else
		s.partition_error_code = node_snapshot_chunk(
			n, q.snapshot_id, q.position, q.max_bytes, &chunk, &s.size);
	s.position = q.position;
	s.unaligned_records = (struct wire_bytes){chunk.data, (int32_t)chunk.len};
	struct kb_buf out;
	kb_buf_init(&out);
	rc = raft_fetch_snapshot_response_encode(&s, v, &out);
	if (rc == KB_OK)
		wire_write_raw(&resp->w, out.data, out.len);
	kb_buf_fini(&out);
	kb_buf_fini(&chunk);
	return rc == KB_OK ? KB_OK : KB_ERR_PROTO;
}

/* ---- Fetching a snapshot (a follower too far behind, KIP-630) ---- */

void node_snapshot_abort(struct raft_node *n)
{
	struct node_snapshot_fetch *sf = &n->sf;
	if (sf->fd >= 0) {
		close(sf->fd);
		unlink(sf->part);
	}
	sf->fd = -1;
	if (sf->active && !n->closing &&
	    raft_snapshot_failed(n->raft, sf->id) == KB_OK)
		node_drain(n); /* the core Fetches again */
	sf->active = false;
}

static void node_snapshot_reply(void *ctx, int status, struct wire_reader *body);

static void node_snapshot_send(struct raft_node *n)
{
	struct node_snapshot_fetch *sf = &n->sf;
	const struct raft_node_voter *v = raft_node_voter(n, sf->leader);
	int i = v ? (int)(v - n->cfg.voters) : -1;
	if (i < 0 || !n->peers[i]) {
		node_snapshot_abort(n);
		return;
	}
	struct raft_fetch_snapshot_request q = {
		"", n->cfg.raft.node_id, NODE_SNAPSHOT_CHUNK_BYTES,
		raft_quorum(n->raft).leader_epoch, sf->id, sf->position};
	memcpy(q.cluster_id, n->cfg.raft.cluster_id, sizeof q.cluster_id);
	struct kb_buf body;
	kb_buf_init(&body);
	struct net_call call = {WIRE_API_FETCH_SNAPSHOT, 1, NULL, 0,
				node_snapshot_reply, n};
	if (raft_fetch_snapshot_request_encode(&q, 1, &body) == KB_OK) {
		call.body = body.data;
		call.len = body.len;
		sf->in_flight = net_peer_send(n->peers[i], &call) == KB_OK;
	}
	if (!sf->in_flight)
		node_snapshot_abort(n);
	kb_buf_fini(&body);
}

/* The core asked for snapshot id from leader: start (or keep) fetching. */
void node_snapshot_start(struct raft_node *n, struct raft_offset_epoch id,
			 int32_t leader)
{
	struct node_snapshot_fetch *sf = &n->sf;
	if (sf->active && !meta_snapshot_id_cmp(sf->id, id))
		return;
	node_snapshot_abort(n);
	char path[4096];
	if (meta_snapshot_path(raft_metadata_log_dir(n->log), id, path,
			       sizeof path) != KB_OK)
		return;
	snprintf(sf->part, sizeof sf->part, "%s.part", path);
	sf->fd = open(sf->part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (sf->fd < 0) {
		KB_ERROR("raft: cannot create %s: %s", sf->part, strerror(errno));
		return;
	}
	*sf = (struct node_snapshot_fetch){true, false, id, leader, 0, sf->fd, ""};
	snprintf(sf->part, sizeof sf->part, "%s.part", path);
	KB_INFO("raft: fetching snapshot %" PRId64 "-%" PRId32 " from node %"
		PRId32, id.offset, id.epoch, leader);
	node_snapshot_send(n);
}

/* The whole snapshot is here: make it durable, load it, tell the core. */
static void node_snapshot_done(struct raft_node *n)
{
	struct node_snapshot_fetch *sf = &n->sf;
	char dir[4096], path[4096]; /* copied: the reset below reopens the log */
	snprintf(dir, sizeof dir, "%s", raft_metadata_log_dir(n->log));
	meta_snapshot_path(dir, sf->id, path, sizeof path);
	int rc = fsync(sf->fd) == 0 ? KB_OK : KB_ERR_IO;
	close(sf->fd);
	sf->fd = -1;
	if (rc == KB_OK && rename(sf->part, path) != 0)
		rc = KB_ERR_IO;
	rc = rc ? rc : kb_fsync_dir(dir);
	struct meta_image img;
	struct meta_snapshot_info info;
	rc = rc ? rc : meta_snapshot_read(dir, sf->id, &img, &info);
	if (rc != KB_OK) {
		KB_ERROR("raft: fetched snapshot not usable: %s", kb_status_name(rc));
		unlink(path);
		node_snapshot_abort(n);
		return;
	}
	sf->active = false;
	rc = raft_snapshot_loaded(n->raft, sf->id);
	if (rc != KB_OK) { /* no longer wanted (a new epoch), or the reset failed */
		KB_WARN("raft: fetched snapshot %" PRId64 "-%" PRId32 " not used: %s",
			sf->id.offset, sf->id.epoch, kb_status_name(rc));
		meta_image_fini(&img);
		unlink(path);
		node_drain(n);
		return;
	}
	meta_image_fini(&n->img);
	n->img = img;
	n->applied = sf->id.offset;
	n->applied_epoch = sf->id.epoch;
	n->snapshot_id = sf->id;
	n->bytes_since_snapshot = 0;
	KB_INFO("raft: loaded fetched snapshot %" PRId64 "-%" PRId32 " (%" PRId64
		" records)", sf->id.offset, sf->id.epoch, info.records);
	meta_snapshot_delete_before(dir, sf->id);
	node_drain(n);
}

static void node_snapshot_reply(void *ctx, int status, struct wire_reader *body)
{
	struct raft_node *n = ctx;
	struct node_snapshot_fetch *sf = &n->sf;
	sf->in_flight = false;
	if (n->closing || !sf->active)
		return;
	struct raft_fetch_snapshot_response s;
	if (status != KB_OK ||
	    raft_fetch_snapshot_response_decode(1, body->p + body->pos,
						wire_remaining(body), &s) != KB_OK ||
	    s.error_code || s.partition_error_code || s.position != sf->position ||
	    s.unaligned_records.len < 0 || s.size < sf->position ||
	    pwrite(sf->fd, s.unaligned_records.p, (size_t)s.unaligned_records.len,
		   sf->position) != s.unaligned_records.len) {
		node_snapshot_abort(n); /* the core asks again on its next Fetch */
		return;
	}
	sf->position += s.unaligned_records.len;
	if (sf->position >= s.size)
		node_snapshot_done(n);
	else if (s.unaligned_records.len > 0)
		node_snapshot_send(n);
	else
		node_snapshot_abort(n);
}

