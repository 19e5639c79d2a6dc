/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07, fourth file — what the Raft core keeps on disk: the
 * quorum-state file. The lesson is in 07_quorum_log.c.
 */
#ifndef SAMSA_QUORUM_LOG_H
#define SAMSA_QUORUM_LOG_H

#include "07_raft.h"

#define RAFT_QUORUM_STATE_FILE "quorum-state" /* in <log.dir>/__cluster_metadata-0 */
#define RAFT_QUORUM_STATE_MAX 4096            /* bytes; a v0 file of 7 voters is ~200 */

/* Write dir/quorum-state durably (tmp, fsync, rename, fsync dir) in Kafka's v0 JSON. */
int raft_quorum_file_write(const char *dir, const struct raft_config *cfg, const struct raft_quorum_state *qs);
/* Read dir/quorum-state into *qs: KB_ERR_NOTFOUND none yet, KB_ERR_CORRUPT torn or not this quorum's. */
int raft_quorum_file_read(const char *dir, const struct raft_config *cfg, struct raft_quorum_state *qs);
/* Format qs as the file's JSON into out (cap bytes); returns its length or KB_ERR_TOO_LARGE. */
int raft_quorum_file_format(const struct raft_config *cfg, const struct raft_quorum_state *qs, char *out, size_t cap);

#endif
