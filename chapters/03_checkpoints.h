/* SPDX-License-Identifier: MIT */
/*
 * Chapter 03, first file — checkpoints: the small text files a restart
 * reads besides the segments. 03_log.h includes this header, so callers
 * include 03_log.h only; the lesson is in 03_checkpoints.c, the rules in
 * docs/03_checkpoints.md.
 */
#ifndef SAMSA_CHECKPOINTS_H
#define SAMSA_CHECKPOINTS_H

#include "00_base.h"

/* The files, with Kafka's names. The first two and the marker live in the
 * log directory (KAFKA: LogManager), the last in each partition directory
 * (KAFKA: LeaderEpochCheckpointFile). */
#define LOG_RECOVERY_POINT_CHECKPOINT "recovery-point-offset-checkpoint"
#define LOG_START_OFFSET_CHECKPOINT "log-start-offset-checkpoint"
#define LOG_CLEAN_SHUTDOWN_FILE ".kafka_cleanshutdown"
#define LOG_EPOCH_CHECKPOINT "leader-epoch-checkpoint"

/* Kafka topic names are at most 249 characters (Topic.MAX_NAME_LENGTH). */
#define LOG_TOPIC_MAX 249

/* One leader epoch and the first offset written in it
 * (KAFKA: leader-epoch-checkpoint, LeaderEpochFileCache). */
struct log_epoch {
	int32_t epoch;
	int64_t start_offset;
};

/* One line of recovery-point-offset-checkpoint: "topic partition offset". */
struct log_checkpoint_entry {
	char topic[LOG_TOPIC_MAX + 1];
	int32_t partition;
	int64_t offset;
};

/* ---- Log directory checkpoints (KAFKA: LogManager) ---- */

/* Write <log_dir>/<name>: "0\n<count>\n", a line per entry; atomic. */
int log_checkpoint_write(const char *log_dir, const char *name,
			 const struct log_checkpoint_entry *e, size_t n);
/* Read it back (missing: 0 entries). returns owned *out (free). */
int log_checkpoint_read(const char *log_dir, const char *name,
			struct log_checkpoint_entry **out, size_t *n);
/* Split "<topic>-<partition>" at its last '-' into e; e->offset = 0. */
int log_dir_parse_name(const char *name, struct log_checkpoint_entry *e);
/* Write the clean-shutdown marker, after every log of log_dir is closed. */
int log_dir_mark_clean(const char *log_dir);
/* Take the marker at start (read and remove): true if it was there. */
bool log_dir_take_clean_mark(const char *log_dir);

/* ---- The leader-epoch-checkpoint file ---- */

/* Write <dir>/leader-epoch-checkpoint: a line "<epoch> <start>"; atomic. */
int log_epoch_checkpoint_write(const char *dir, const struct log_epoch *e,
			       size_t n);
/* Read it back, checked ascending (else KB_ERR_CORRUPT). returns owned. */
int log_epoch_checkpoint_read(const char *dir, struct log_epoch **out,
			      size_t *n);

#endif
