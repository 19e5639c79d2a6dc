/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07, fourth file — the quorum-state file: the vote and the epoch a
 * node must never forget.
 *
 * Concept:
 *   Raft is safe only if a node that voted in an epoch remembers the vote
 *   after a crash: else it could vote twice and two leaders could share an
 *   epoch. The core (07_raft.c) says so with a RAFT_OUT_PERSIST output that
 *   comes before the messages it guards; the caller writes this file
 *   durably and only then sends them.
 *
 * Kafka:
 *   FileQuorumStateStore writes <log.dir>/__cluster_metadata-0/quorum-state,
 *   QuorumStateData (raft/QuorumStateData.json) as JSON plus "data_version":
 *   {"clusterId":"...","leaderId":1,"leaderEpoch":5,"votedId":-1,
 *    "appliedOffset":0,"currentVoters":[{"voterId":1}],"data_version":0}.
 *   A file Kafka cannot read stops the node from starting.
 *
 * Interface:
 *   - raft_quorum_file_write before sending what a RAFT_OUT_PERSIST guards;
 *     it returns after tmp write, fsync, rename and fsync of the directory.
 *   - raft_quorum_file_read at start: KB_ERR_NOTFOUND means a new node
 *     (epoch 0, no vote); KB_ERR_CORRUPT means refuse to start.
 *
 * Invariants:
 *   1. A file this code writes reads back to the same quorum state.
 *   2. A read succeeds only for a whole file of this quorum: same
 *      clusterId (when both are set), same voters, epoch >= 0, leader and
 *      vote -1 or a voter. Anything else is KB_ERR_CORRUPT, never a guess.
 *
 * Simplifications:
 *   Version 0 of QuorumStateData only (static voters, no KIP-853
 *   votedDirectoryId); appliedOffset is written 0 and ignored on read, as
 *   Kafka does. The reader accepts exactly the JSON this writer and Kafka's
 *   converter produce: no string escapes, no floats.
 *
 * See also: docs/07_quorum_log.md, diagrams/07_quorum_log.dot,
 *   tests/07_raft_test.c ("quorum-state file"); read before: 07_raft.c.
 *   Uses chapter 00 (base).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "07_raft.h"
#include "07_quorum_log.h"

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

/* ---- Small helpers ---- */

static int qs_path(const char *dir, char *path, size_t cap)
{
	int n = snprintf(path, cap, "%s/%s", dir, RAFT_QUORUM_STATE_FILE);
	return n < 0 || (size_t)n >= cap ? KB_ERR_INVAL : KB_OK;
}
