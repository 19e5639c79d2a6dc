/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07, fourth file — what the Raft core keeps on disk: the
 * quorum-state file and __cluster_metadata-0 over chapter 03's log. The
 * lesson is in 07_quorum_log.c.
 */
#ifndef SAMSA_QUORUM_LOG_H
#define SAMSA_QUORUM_LOG_H

#include "07_raft.h"

#define RAFT_METADATA_DIR "__cluster_metadata-0" /* in <log.dir> */
/* KAFKA: metadata.log.segment.bytes (1 GiB), metadata.log.segment.ms (7 days). */
#define RAFT_METADATA_SEGMENT_BYTES (1024LL * 1024 * 1024)
#define RAFT_METADATA_SEGMENT_MS (7LL * 24 * 60 * 60 * 1000)

/* __cluster_metadata-0 as the core's log (raft_metadata_log_ops). */
struct raft_metadata_log;

#define RAFT_QUORUM_STATE_FILE "quorum-state" /* in <log.dir>/__cluster_metadata-0 */
#define RAFT_QUORUM_STATE_MAX 4096            /* bytes; a v0 file of 7 voters is ~200 */

/* Write dir/quorum-state durably (tmp, fsync, rename, fsync dir) in Kafka's v0 JSON. */
int raft_quorum_file_write(const char *dir, const struct raft_config *cfg, const struct raft_quorum_state *qs);
/* Read dir/quorum-state into *qs: KB_ERR_NOTFOUND none yet, KB_ERR_CORRUPT torn or not this quorum's. */
int raft_quorum_file_read(const char *dir, const struct raft_config *cfg, struct raft_quorum_state *qs);
/* Format qs as the file's JSON into out (cap bytes); returns its length or KB_ERR_TOO_LARGE. */
int raft_quorum_file_format(const struct raft_config *cfg, const struct raft_quorum_state *qs, char *out, size_t cap);
/* Open (creating) <log_dir>/__cluster_metadata-0 (chapter 03's log); returns owned *out (raft_metadata_log_close). */
int raft_metadata_log_open(const char *log_dir, struct raft_metadata_log **out);
/* Flush and close it. */
void raft_metadata_log_close(struct raft_metadata_log *m);
/* Its directory (quorum-state lives there too); valid until close. */
const char *raft_metadata_log_dir(const struct raft_metadata_log *m);
/* The raft_log_ops over it: put m in raft_durable.log. */
extern const struct raft_log_ops raft_metadata_log_ops;

#endif
