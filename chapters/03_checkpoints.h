/* SPDX-License-Identifier: MIT */
/*
 * Chapter 03, second file — checkpoints: the small text files a restart
 * reads besides the segments. 03_log.h includes this header, so callers
 * include 03_log.h only; the lesson is in 03_checkpoints.c.
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

/* Write <log_dir>/<name> in Kafka's format: "0\n<count>\n" then one line
 * per entry. Atomic: a crash leaves the old or the new file. */
int log_checkpoint_write(const char *log_dir, const char *name,
			 const struct log_checkpoint_entry *e, size_t n);
/* Read it back; a missing file is 0 entries. returns owned *out (free). */
int log_checkpoint_read(const char *log_dir, const char *name,
			struct log_checkpoint_entry **out, size_t *n);

/* Split a partition directory name "<topic>-<partition>" at its last '-'
 * (topics may contain '-') into e->topic and e->partition; e->offset = 0.
 * KB_ERR_INVAL when it is not such a name. */
int log_dir_parse_name(const char *name, struct log_checkpoint_entry *e);

/* The clean-shutdown marker (KAFKA: .kafka_cleanshutdown): written after
 * every log in the directory is closed; taken (read and removed) at start. */
int log_dir_mark_clean(const char *log_dir);
bool log_dir_take_clean_mark(const char *log_dir);

/* ---- The leader-epoch-checkpoint file ---- */

/* Write <dir>/leader-epoch-checkpoint: "0\n<count>\n" then "<epoch>
 * <start offset>\n" per epoch. Atomic, as log_checkpoint_write. */
int log_epoch_checkpoint_write(const char *dir, const struct log_epoch *e,
			       size_t n);
/* Read it back; a missing or empty file is 0 epochs. KB_ERR_CORRUPT (and
 * logged) when malformed or not strictly ascending in epoch and offset.
 * returns owned *out (free). */
int log_epoch_checkpoint_read(const char *dir, struct log_epoch **out,
			      size_t *n);

#endif
