/* SPDX-License-Identifier: MIT */
/*
 * Chapter 03, inside only: what 03_recovery.c (log_open and recovery)
 * uses of 03_log.c. Later chapters include 03_log.h, never this file.
 */
#ifndef SAMSA_LOG_INTERNAL_H
#define SAMSA_LOG_INTERNAL_H

#include "03_log.h"

/* Longest path we build: a directory plus a file name. */
#define LOG_PATH_MAX 4096

/* Open the segment at base (creating it if missing) with its indexes, as
 * the new last entry of segs; *missing (if not NULL) notes an index file
 * that did not exist. */
int log_segment_open(struct log *log, int64_t base, bool *missing);
/* Delete segments [from, to) and their indexes; fsync the directory. */
int log_drop(struct log *log, size_t from, size_t to);
/* The last offset-index entry of ls, or the start of its segment. */
struct idx_entry log_last_offset_entry(const struct log_segment *ls);
/* Resume ls's index.interval.bytes count after its last offset entry. */
void log_resume_index(struct log_segment *ls);
/* The last segment whose base offset is <= offset (binary search). */
size_t log_segment_for(const struct log *log, int64_t offset);
/* Close every file and free log; no flush. */
void log_free(struct log *log);

#endif
