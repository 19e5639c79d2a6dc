/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07, fourth file — what the Raft core keeps on disk: the
 * quorum-state file (the vote and epoch a node must never forget) and
 * the replicated log itself, __cluster_metadata-0.
 *
 * Concept:
 *   Raft is safe only if a node remembers its vote after a crash, and
 *   the batches it acknowledged. The core (07_raft.c) asks for the first
 *   with a RAFT_OUT_PERSIST output the caller writes here before sending
 *   what follows it; it reads and writes the second through raft_log_ops,
 *   which this file implements over chapter 03's partition log.
 *
 * Kafka:
 *   FileQuorumStateStore writes <log.dir>/__cluster_metadata-0/quorum-state,
 *   QuorumStateData v0 as JSON plus "data_version" (docs/07_quorum_log.md).
 *   KafkaMetadataLog is the log: a UnifiedLog of v2 batches in the same
 *   directory, metadata.log.segment.bytes/.ms, endOffsetForEpoch from the
 *   leader-epoch cache, truncateToEndOffset. A bad file stops the node.
 *
 * Interface:
 *   - raft_quorum_file_write before sending what a RAFT_OUT_PERSIST guards
 *     (tmp write, fsync, rename, fsync of the directory); _read at start:
 *     KB_ERR_NOTFOUND a new node, KB_ERR_CORRUPT refuse to start.
 *   - raft_metadata_log_open/close; raft_metadata_log_ops with it as the
 *     log. Every append and truncate is fsynced before it returns.
 *
 * Invariants:
 *   1. A file this code writes reads back to the same quorum state.
 *   2. A read succeeds only for a whole file of this quorum (same clusterId
 *      when both are set, same voters, sane ids), else KB_ERR_CORRUPT.
 *   3. The log only grows by whole, CRC-valid batches at its end offset in
 *      non-decreasing epochs (md_append refuses the rest); log_check holds.
 *
 * Simplifications:
 *   QuorumStateData v0 only (static voters), appliedOffset written 0; the
 *   reader takes only the JSON this writer and Kafka produce. Every batch
 *   is fsynced (Kafka batches flushes); a start always scans the log
 *   (chapter 03's crash recovery); no retention by time or size: only a
 *   snapshot (07_snapshot.c's files here) lets the log drop its prefix.
 *
 * See also: docs/07_quorum_log.md, diagrams/07_quorum_log.dot,
 *   tests/07_raft_test.c ("quorum-state file", "metadata log").
 *   Uses chapters 00 (base), 01 (segment), 03 (log).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "00_base.h"
#include "01_segment.h"
#include "03_log.h"
#include "07_raft.h"
#include "07_quorum_log.h"
#include "07_snapshot.h"

/* What a file holds, before it is checked against the configuration. */
struct qs_parsed {
	char cluster_id[RAFT_CLUSTER_ID_MAX + 1];
	int64_t leader_id, leader_epoch, voted_id, data_version;
	int64_t voters[RAFT_MAX_VOTERS];
	int n_voters;
	bool have_epoch, have_voters, have_version;
};

/* A cursor over the file's bytes. */
struct qs_scan {
	const char *p, *end;
};

static int qs_parse(const char *text, size_t len, struct qs_parsed *out);
static int qs_validate(const struct qs_parsed *f, const struct raft_config *cfg,
		       struct raft_quorum_state *qs);
static int qs_path(const char *dir, char *path, size_t cap);

/* __cluster_metadata-0: chapter 03's log of it. Single-threaded. */
struct raft_metadata_log {
	struct log *log; /* owned */
};

/* ---- Writing: the JSON, then durably ---- */

/* Kafka's field order; votedId and leaderId -1 when none. */
int raft_quorum_file_format(const struct raft_config *cfg,
			    const struct raft_quorum_state *qs, char *out, size_t cap)
{
	size_t n = 0;
	int w = snprintf(out, cap,
			 "{\"clusterId\":\"%s\",\"leaderId\":%d,\"leaderEpoch\":%d,"
			 "\"votedId\":%d,\"appliedOffset\":0,\"currentVoters\":[",
			 cfg->cluster_id, qs->leader_id, qs->leader_epoch, qs->voted_id);
	for (int i = 0; w >= 0 && (n += (size_t)w) < cap && i <= cfg->n_voters; i++)
		w = i < cfg->n_voters
			? snprintf(out + n, cap - n, "%s{\"voterId\":%d}",
				   i ? "," : "", cfg->voters[i])
			: snprintf(out + n, cap - n, "],\"data_version\":0}");
	if (w < 0 || n >= cap)
		return KB_ERR_TOO_LARGE;
	return (int)n;
}

/* KAFKA: FileQuorumStateStore.writeElectionStateToFile (tmp, fsync, move). */
int raft_quorum_file_write(const char *dir, const struct raft_config *cfg,
			   const struct raft_quorum_state *qs)
{
	char path[4096], json[RAFT_QUORUM_STATE_MAX];
	int rc = qs_path(dir, path, sizeof path);
	if (rc != KB_OK)
		return rc;
	int n = raft_quorum_file_format(cfg, qs, json, sizeof json);
	if (n < 0)
		return n;
	return kb_write_file_atomic(path, json, (size_t)n);
}

/* ---- Reading: parse, then check it is this quorum's ---- */

/* KAFKA: FileQuorumStateStore.readElectionState; a bad file refuses start. */
int raft_quorum_file_read(const char *dir, const struct raft_config *cfg,
			  struct raft_quorum_state *qs)
{
	char path[4096], *text = NULL;
	size_t len = 0;
	int rc = qs_path(dir, path, sizeof path);
	if (rc == KB_OK)
		rc = kb_read_file(path, &text, &len, RAFT_QUORUM_STATE_MAX);
	if (rc == KB_ERR_TOO_LARGE)
		KB_ERROR("%s: larger than %d bytes", path, RAFT_QUORUM_STATE_MAX);
	if (rc != KB_OK)
		return rc == KB_ERR_TOO_LARGE ? KB_ERR_CORRUPT : rc;
	struct qs_parsed f;
	rc = qs_parse(text, len, &f);
	if (rc != KB_OK)
		KB_ERROR("%s: not a whole quorum-state file (torn or damaged)", path);
	else if ((rc = qs_validate(&f, cfg, qs)) != KB_OK)
		KB_ERROR("%s: not this quorum's state (cluster id, voters or ids differ)", path);
	free(text);
	return rc;
}

/* Invariant 2: everything the file says must fit this node's quorum. */
static int qs_validate(const struct qs_parsed *f, const struct raft_config *cfg,
		       struct raft_quorum_state *qs)
{
	if (!f->have_epoch || !f->have_voters || !f->have_version ||
	    f->data_version != 0 || f->n_voters != cfg->n_voters)
		return KB_ERR_CORRUPT;
	if (f->cluster_id[0] && cfg->cluster_id[0] &&
	    strcmp(f->cluster_id, cfg->cluster_id) != 0)
		return KB_ERR_CORRUPT;
	bool leader_ok = f->leader_id == RAFT_NO_ID, voted_ok = f->voted_id == RAFT_NO_ID;
	for (int i = 0; i < cfg->n_voters; i++) {
		bool listed = false;
		for (int j = 0; j < f->n_voters; j++)
			listed |= f->voters[j] == cfg->voters[i];
		if (!listed)
			return KB_ERR_CORRUPT;
		leader_ok |= f->leader_id == cfg->voters[i];
		voted_ok |= f->voted_id == cfg->voters[i];
	}
	if (!leader_ok || !voted_ok || f->leader_epoch < 0 || f->leader_epoch > INT32_MAX)
		return KB_ERR_CORRUPT;
	*qs = (struct raft_quorum_state){(int32_t)f->leader_epoch,
		(int32_t)f->leader_id, (int32_t)f->voted_id};
	return KB_OK;
}

/* ---- The JSON scanner: only what QuorumStateData v0 needs ---- */

static void scan_ws(struct qs_scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' ||
				 *s->p == '\t' || *s->p == '\r'))
		s->p++;
}

static bool scan_char(struct qs_scan *s, char c)
{
	scan_ws(s);
	if (s->p >= s->end || *s->p != c)
		return false;
	s->p++;
	return true;
}

/* A JSON integer within int64 (the file's largest type). */
static int scan_int(struct qs_scan *s, int64_t *out)
{
	scan_ws(s);
	bool neg = s->p < s->end && *s->p == '-';
	s->p += neg;
	if (s->p >= s->end || *s->p < '0' || *s->p > '9')
		return KB_ERR_CORRUPT;
	uint64_t v = 0;
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
		if (v > (UINT64_C(1) << 62) / 5)
			return KB_ERR_CORRUPT; /* bounded well inside int64 */
		v = v * 10 + (uint64_t)(*s->p++ - '0');
	}
	*out = neg ? -(int64_t)v : (int64_t)v;
	return KB_OK;
}

/* A string with no escapes, at most cap-1 bytes (keys and the cluster id). */
static int scan_string(struct qs_scan *s, char *out, size_t cap)
{
	if (!scan_char(s, '"'))
		return KB_ERR_CORRUPT;
	size_t n = 0;
	while (s->p < s->end && *s->p != '"') {
		if (*s->p == '\\' || (unsigned char)*s->p < 0x20 || n + 1 >= cap)
			return KB_ERR_CORRUPT;
		out[n++] = *s->p++;
	}
	out[n] = '\0';
	return scan_char(s, '"') ? KB_OK : KB_ERR_CORRUPT;
}

/* [{"voterId":1},...], at most RAFT_MAX_VOTERS of them. */
static int scan_voters(struct qs_scan *s, struct qs_parsed *f)
{
	char key[16];
	if (!scan_char(s, '['))
		return KB_ERR_CORRUPT;
	if (scan_char(s, ']'))
		return KB_OK;
	do {
		if (f->n_voters == RAFT_MAX_VOTERS || !scan_char(s, '{') ||
		    scan_string(s, key, sizeof key) != KB_OK ||
		    strcmp(key, "voterId") != 0 || !scan_char(s, ':') ||
		    scan_int(s, &f->voters[f->n_voters++]) != KB_OK ||
		    !scan_char(s, '}'))
			return KB_ERR_CORRUPT;
	} while (scan_char(s, ','));
	return scan_char(s, ']') ? KB_OK : KB_ERR_CORRUPT;
}

/* One "key":value of the object; an unknown key is an error. */
static int scan_field(struct qs_scan *s, const char *key, struct qs_parsed *f)
{
	int64_t ignored;
	if (strcmp(key, "clusterId") == 0)
		return scan_string(s, f->cluster_id, sizeof f->cluster_id);
	if (strcmp(key, "currentVoters") == 0)
		return f->have_voters = true, scan_voters(s, f);
	if (strcmp(key, "leaderEpoch") == 0)
		return f->have_epoch = true, scan_int(s, &f->leader_epoch);
	if (strcmp(key, "data_version") == 0)
		return f->have_version = true, scan_int(s, &f->data_version);
	if (strcmp(key, "leaderId") == 0)
		return scan_int(s, &f->leader_id);
	if (strcmp(key, "votedId") == 0)
		return scan_int(s, &f->voted_id);
	if (strcmp(key, "appliedOffset") == 0)
		return scan_int(s, &ignored); /* KAFKA: written 0, never read */
	return KB_ERR_CORRUPT;
}

/* The whole file: one object, nothing after it but white space. */
static int qs_parse(const char *text, size_t len, struct qs_parsed *out)
{
	struct qs_scan s = {text, text + len};
	char key[32];
	*out = (struct qs_parsed){.leader_id = RAFT_NO_ID, .voted_id = RAFT_NO_ID};
	if (!scan_char(&s, '{'))
		return KB_ERR_CORRUPT;
	do {
		if (scan_string(&s, key, sizeof key) != KB_OK || !scan_char(&s, ':') ||
		    scan_field(&s, key, out) != KB_OK)
			return KB_ERR_CORRUPT;
	} while (scan_char(&s, ','));
	if (!scan_char(&s, '}'))
		return KB_ERR_CORRUPT;
	scan_ws(&s);
	return s.p == s.end ? KB_OK : KB_ERR_CORRUPT;
}

/* ---- __cluster_metadata-0: the Raft log over chapter 03's log ---- */

/* KAFKA: KafkaMetadataLog over a UnifiedLog in <log_dir>/__cluster_metadata-0.
 * SIMPLIFICATION: no recovery hint: every start scans the log (it is
 * small, and chapter 03's crash recovery keeps exactly the whole batches).
 * returns owned *out (raft_metadata_log_close). */
int raft_metadata_log_open(const char *log_dir, struct raft_metadata_log **out)
{
	char dir[4096];
	int n = snprintf(dir, sizeof dir, "%s/%s", log_dir, RAFT_METADATA_DIR);
	if (n < 0 || (size_t)n >= sizeof dir)
		return KB_ERR_INVAL;
	struct log_config cfg;
	log_config_defaults(&cfg);
	cfg.segment_bytes = RAFT_METADATA_SEGMENT_BYTES;
	cfg.segment_ms = RAFT_METADATA_SEGMENT_MS;
	cfg.retention_ms = cfg.retention_bytes = -1; /* snapshots come later */
	struct raft_metadata_log *m = calloc(1, sizeof *m);
	if (!m)
		return KB_ERR_NOMEM;
	int rc = log_open(dir, &cfg, NULL, &m->log);
	if (rc != KB_OK) {
		free(m);
		return rc;
	}
	*out = m;
	return KB_OK;
}

/* Flush, close and free (log_close flushes). */
void raft_metadata_log_close(struct raft_metadata_log *m)
{
	if (!m)
		return;
	log_close(m->log);
	free(m);
}

const char *raft_metadata_log_dir(const struct raft_metadata_log *m)
{
	return m->log->dir;
}

static int64_t md_end_offset(void *m)
{
	return log_end_offset(((struct raft_metadata_log *)m)->log);
}

/* KAFKA: UnifiedLog.endOffsetForEpoch, from the leader-epoch cache, in
 * the core's terms: an epoch newer than all ends at the log end, one
 * older than all is "none" (epoch 0) ending where the first one starts. */
static struct raft_offset_epoch md_end_offset_for_epoch(void *m, int32_t epoch)
{
	const struct log *log = ((struct raft_metadata_log *)m)->log;
	struct raft_offset_epoch none = {log->log_start_offset, 0};
	if (log->nepochs == 0 || epoch < 0)
		return none;
	if (epoch < log->epochs[0].epoch)
		return (struct raft_offset_epoch){log->epochs[0].start_offset, 0};
	int32_t found;
	int64_t end;
	if (log_epoch_end_offset(log, epoch, &found, &end) != KB_OK)
		return (struct raft_offset_epoch){log_end_offset(log),
			log->epochs[log->nepochs - 1].epoch};
	return (struct raft_offset_epoch){end, found};
}

/* Whole batches from the one holding offset, the first always, then up
 * to max_bytes (KIP-74), copied out of one segment file into out. */
static int md_read(void *m, int64_t offset, int32_t max_bytes, struct kb_buf *out)
{
	const struct log *log = ((struct raft_metadata_log *)m)->log;
	struct log_read_req req = {offset, (uint64_t)max_bytes, INT64_MAX, true};
	struct log_read_result res;
	int rc = log_read(log, &req, &res);
	if (rc != KB_OK || res.length == 0)
		return rc;
	if (res.length > INT32_MAX || (rc = kb_buf_reserve(out, res.length)) != KB_OK)
		return rc != KB_OK ? rc : KB_ERR_TOO_LARGE;
	size_t got;
	rc = seg_read(res.seg, res.position, out->data + out->len, res.length, &got);
	if (rc == KB_OK && got != res.length)
		rc = KB_ERR_CORRUPT;
	if (rc == KB_OK)
		out->len += got;
	return rc;
}

/* INVARIANT 3: append one whole batch as it is, leader's or fetched:
 * CRC good, baseOffset at our end (no gap), epoch not older than the
 * last; then fsync, so it is durable before the core counts it. */
static int md_append(void *m, const uint8_t *batch, size_t len)
{
	struct log *log = ((struct raft_metadata_log *)m)->log;
	struct seg_batch b;
	const char *why = NULL;
	int32_t last = log->nepochs ? log->epochs[log->nepochs - 1].epoch : 0;
	if (seg_batch_validate(batch, len, &b, &why) == KB_OK &&
	    (b.base_offset != log_end_offset(log) || b.partition_leader_epoch < last))
		why = "not at the log end, or of an older epoch";
	if (why) {
		KB_ERROR("%s: refused a batch: %s", log->dir, why);
		return KB_ERR_CORRUPT;
	}
	uint8_t *copy = malloc(len); /* log_append stamps the batch it gets */
	if (!copy)
		return KB_ERR_NOMEM;
	memcpy(copy, batch, len);
	struct log_append_req req = {copy, len, b.partition_leader_epoch, kb_now_ms()};
	int rc = log_append(log, &req, NULL);
	free(copy);
	return rc == KB_OK ? log_flush(log) : rc;
}

/* KAFKA: truncateToEndOffset: chapter 03 cuts at the batch holding
 * end_offset (the whole batch goes) and drops later epochs; fsynced. */
static int md_truncate(void *m, int64_t end_offset)
{
	struct log *log = ((struct raft_metadata_log *)m)->log;
	int rc = log_truncate_to(log, end_offset);
	return rc == KB_OK ? log_flush(log) : rc;
}

/* ---- Snapshots (KIP-630): the <offset>-<epoch>.checkpoint files of
 * 07_snapshot.c in the same directory ---- */

static int64_t md_start_offset(void *m)
{
	return ((struct raft_metadata_log *)m)->log->log_start_offset;
}

static int md_latest_snapshot(void *m, struct raft_offset_epoch *id)
{
	return meta_snapshot_latest(((struct raft_metadata_log *)m)->log->dir, id);
}

/* KAFKA: deleteBeforeSnapshot: chapter 03's DeleteRecords path moves the
 * log start up and deletes the segments wholly below it; never past the
 * latest snapshot (what is below the start lives only in it). */
static int md_delete_before(void *m, int64_t offset)
{
	struct log *log = ((struct raft_metadata_log *)m)->log;
	struct raft_offset_epoch snap;
	if (meta_snapshot_latest(log->dir, &snap) != KB_OK || offset > snap.offset)
		return KB_ERR_INVAL;
	int rc = log_advance_start_offset(log, offset);
	return rc == KB_OK ? log_flush(log) : rc;
}

/* Unlink dir's segment files (.log and its indexes) and epoch checkpoint:
 * the quorum-state and the snapshots stay. */
static int md_remove_segments(const char *dir)
{
	static const char *const suffixes[] = {SEG_LOG_SUFFIX, ".index", ".timeindex"};
	DIR *d = opendir(dir);
	if (!d)
		return KB_ERR_IO;
	int rc = KB_OK;
	struct dirent *e;
	char path[4096];
	while ((e = readdir(d)) != NULL) {
		int64_t base;
		bool ours = strcmp(e->d_name, LOG_EPOCH_CHECKPOINT) == 0;
		for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++)
			ours |= seg_parse_file_name(e->d_name, suffixes[i], &base) == KB_OK;
		int n = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (ours && (n < 0 || (size_t)n >= sizeof path || unlink(path) != 0))
			rc = KB_ERR_IO;
	}
	closedir(d);
	return rc;
}

/* KAFKA: truncateFullyAndStartAt: every segment goes, and the log starts
 * over empty at id.offset, one fresh segment based there. id must be the
 * latest snapshot (already whole on disk). Chapter 03 has no way to
 * start a log past its end, so it is closed, its files replaced, and
 * opened again. */
static int md_reset_to_snapshot(void *mv, struct raft_offset_epoch id)
{
	struct raft_metadata_log *m = mv;
	struct raft_offset_epoch snap;
	if (meta_snapshot_latest(m->log->dir, &snap) != KB_OK ||
	    meta_snapshot_id_cmp(snap, id) != 0 || id.offset < 0)
		return KB_ERR_INVAL;
	char dir[4096];
	int n = snprintf(dir, sizeof dir, "%s", m->log->dir);
	if (n < 0 || (size_t)n >= sizeof dir)
		return KB_ERR_INVAL;
	struct log_config cfg = m->log->cfg;
	log_close(m->log);
	m->log = NULL;
	struct segment *seg = NULL;
	int rc = md_remove_segments(dir);
	if (rc == KB_OK)
		rc = seg_open(dir, id.offset, true, &seg);
	if (seg)
		seg_close(seg);
	if (rc == KB_OK)
		rc = kb_fsync_dir(dir);
	int orc = log_open(dir, &cfg, NULL, &m->log);
	if (orc != KB_OK) { /* KAFKA: a log dir failure stops the node */
		KB_ERROR("%s: cannot reopen after a snapshot reset: %s", dir,
			 kb_status_name(orc));
		abort();
	}
	return rc;
}

const struct raft_log_ops raft_metadata_log_ops = {
	md_end_offset, md_end_offset_for_epoch, md_read, md_append, md_truncate,
	md_start_offset, md_latest_snapshot, md_reset_to_snapshot, md_delete_before,
};

/* ---- Small helpers ---- */

static int qs_path(const char *dir, char *path, size_t cap)
{
	int n = snprintf(path, cap, "%s/%s", dir, RAFT_QUORUM_STATE_FILE);
	return n < 0 || (size_t)n >= cap ? KB_ERR_INVAL : KB_OK;
}
