/* SPDX-License-Identifier: MIT */
/*
 * Chapter 03, first file — checkpoints: the small text files that make a
 * restart fast and correct.
 *
 * Concept:
 *   A restarting broker needs facts the segments cannot give cheaply: how
 *   far each log was fsynced (only what follows can be torn), where
 *   DeleteRecords moved each log's start, whether the broker stopped
 *   cleanly (then nothing is rescanned), which leader epoch began where.
 *   Each is a small text file, replaced whole and atomically.
 *
 * Kafka:
 *   CheckpointFile / OffsetCheckpointFile (version 0, a count, a line per
 *   entry): recovery-point-offset-checkpoint, log-start-offset-checkpoint
 *   (LogManager); .kafka_cleanshutdown; LeaderEpochCheckpointFile;
 *   UnifiedLog.parseTopicPartitionName.
 *
 * Interface:
 *   - The broker writes the offset checkpoints (log_checkpoint_write),
 *     reads them at start and hands each log a struct log_recovery_hint.
 *   - log_dir_take_clean_mark once at start; log_dir_mark_clean after
 *     every log of the directory is closed.
 *   - A missing file reads as empty; a malformed one is KB_ERR_CORRUPT.
 *
 * Invariants:
 *   1. Every file is replaced with kb_write_file_atomic.
 *   2. A file read back is all or nothing (KB_ERR_CORRUPT, no entries).
 *   3. An epoch file read back is strictly ascending.
 *
 * Simplifications: no checkpoint scheduler, files over 1 MiB refused, no
 *   replication- or cleaner-offset-checkpoint (docs/03_checkpoints.md).
 *
 * See also: docs/03_checkpoints.md, diagrams/03_checkpoints.dot,
 *   tests/03_checkpoints_test.c; 03_epochs.c, 03_log.c and 03_recovery.c
 *   sit above it.
 *   Uses chapters 00 (base).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "00_base.h"
#include "03_checkpoints.h"

/* Largest checkpoint file we read: 1 MiB, far above any real one. */
#define LOG_CHECKPOINT_MAX_BYTES (1024 * 1024)
/* Longest line we write: a topic, a space, two numbers and a newline. */
#define LOG_CHECKPOINT_LINE_MAX (LOG_TOPIC_MAX + 64)

/* ---- Prototypes of the static helpers, in reading order ---- */

static int ckpt_epochs_from(const struct log_checkpoint_entry *e, size_t n,
			    struct log_epoch *out);
static int ckpt_path(char *out, size_t cap, const char *dir,
		     const char *name);
static int ckpt_printf(struct kb_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int ckpt_load(const char *path, int nfields,
		     struct log_checkpoint_entry **out, size_t *n);
static int ckpt_fields(char **p, char **f, int n);
static bool ckpt_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* ---- Log directory checkpoints ---- */

/* KAFKA: OffsetCheckpointFile: "0\n<count>\n" then "<topic> <partition>
 * <offset>\n" per entry, replaced atomically (INVARIANT 1). */
int log_checkpoint_write(const char *log_dir, const char *name,
			 const struct log_checkpoint_entry *e, size_t n)
{
	char path[PATH_MAX];
	struct kb_buf b;
	if (ckpt_path(path, sizeof path, log_dir, name) != KB_OK)
		return KB_ERR_INVAL;
	kb_buf_init(&b);
	int rc = ckpt_printf(&b, "0\n%zu\n", n);
	for (size_t i = 0; rc == KB_OK && i < n; i++) {
		size_t tl = strnlen(e[i].topic, sizeof e[i].topic);
		if (tl == 0 || tl > LOG_TOPIC_MAX ||
		    strpbrk(e[i].topic, " \n") || e[i].partition < 0)
			rc = KB_ERR_INVAL; /* it could not be read back */
		else
			rc = ckpt_printf(&b, "%s %" PRId32 " %" PRId64 "\n",
					 e[i].topic, e[i].partition,
					 e[i].offset);
	}
	if (rc == KB_OK)
		rc = kb_write_file_atomic(path, b.data, b.len);
	kb_buf_fini(&b);
	return rc;
}

/* KAFKA: OffsetCheckpointFile.read; the three-field form of ckpt_load. */
int log_checkpoint_read(const char *log_dir, const char *name,
			struct log_checkpoint_entry **out, size_t *n)
{
	char path[PATH_MAX];
	*out = NULL;
	*n = 0;
	if (ckpt_path(path, sizeof path, log_dir, name) != KB_OK)
		return KB_ERR_INVAL;
	return ckpt_load(path, 3, out, n);
}

/* KAFKA: UnifiedLog.parseTopicPartitionName splits at the last '-'. */
int log_dir_parse_name(const char *name, struct log_checkpoint_entry *e)
{
	const char *dash = strrchr(name, '-');
	size_t tl = dash ? (size_t)(dash - name) : 0;
	int64_t part;
	if (tl == 0 || tl > LOG_TOPIC_MAX ||
	    !ckpt_i64(dash + 1, 0, INT32_MAX, &part))
		return KB_ERR_INVAL;
	memcpy(e->topic, name, tl);
	e->topic[tl] = '\0';
	e->partition = (int32_t)part;
	e->offset = 0;
	return KB_OK;
}

/* An empty file, made durable: its existence is the message. */
int log_dir_mark_clean(const char *log_dir)
{
	char path[PATH_MAX];
	if (ckpt_path(path, sizeof path, log_dir, LOG_CLEAN_SHUTDOWN_FILE) !=
	    KB_OK)
		return KB_ERR_INVAL;
	return kb_write_file_atomic(path, "", 0);
}

/* KAFKA: the marker goes once read, so that a later crash is unclean. */
bool log_dir_take_clean_mark(const char *log_dir)
{
	char path[PATH_MAX];
	if (ckpt_path(path, sizeof path, log_dir, LOG_CLEAN_SHUTDOWN_FILE) !=
	    KB_OK || unlink(path) != 0)
		return false;
	kb_fsync_dir(log_dir);
	return true;
}

/* ---- The leader-epoch-checkpoint file ---- */

/* KAFKA: LeaderEpochCheckpointFile: "0\n<count>\n" then "<epoch> <start
 * offset>\n" per epoch, replaced atomically (INVARIANT 1). */
int log_epoch_checkpoint_write(const char *dir, const struct log_epoch *e,
			       size_t n)
{
	char path[PATH_MAX];
	struct kb_buf b;
	if (ckpt_path(path, sizeof path, dir, LOG_EPOCH_CHECKPOINT) != KB_OK)
		return KB_ERR_INVAL;
	kb_buf_init(&b);
	int rc = ckpt_printf(&b, "0\n%zu\n", n);
	for (size_t i = 0; rc == KB_OK && i < n; i++)
		rc = ckpt_printf(&b, "%" PRId32 " %" PRId64 "\n", e[i].epoch,
				 e[i].start_offset);
	if (rc == KB_OK)
		rc = kb_write_file_atomic(path, b.data, b.len);
	kb_buf_fini(&b);
	return rc;
}

/* The two-field form of ckpt_load, then INVARIANT 3 checked on the way
 * in. A malformed file fails the log's open, as in Kafka: guessing the
 * epochs would let a follower truncate at the wrong offset. */
int log_epoch_checkpoint_read(const char *dir, struct log_epoch **out,
			      size_t *n)
{
	char path[PATH_MAX];
	struct log_checkpoint_entry *e = NULL; /* .partition holds the epoch */
	struct log_epoch *ep = NULL;
	size_t count = 0;
	*out = NULL;
	*n = 0;
	int rc = ckpt_path(path, sizeof path, dir, LOG_EPOCH_CHECKPOINT);
	if (rc == KB_OK)
		rc = ckpt_load(path, 2, &e, &count);
	if (rc == KB_OK && !(ep = calloc(count + 1, sizeof *ep)))
		rc = KB_ERR_NOMEM;
	if (rc == KB_OK)
		rc = ckpt_epochs_from(e, count, ep);
	free(e);
	if (rc != KB_OK) {
		KB_ERROR("cannot load %s/%s: %s", dir, LOG_EPOCH_CHECKPOINT,
			 kb_status_name(rc));
		free(ep);
		return rc;
	}
	*out = ep;
	*n = count;
	return KB_OK;
}

/* Epochs from the lines read: KB_ERR_CORRUPT unless both the epochs and
 * the start offsets strictly ascend, from an offset >= 0 (INVARIANT 3). */
static int ckpt_epochs_from(const struct log_checkpoint_entry *e, size_t n,
			    struct log_epoch *out)
{
	for (size_t i = 0; i < n; i++) {
		out[i] = (struct log_epoch){e[i].partition, e[i].offset};
		if (out[i].start_offset < 0 ||
		    (i > 0 && (out[i].epoch <= out[i - 1].epoch ||
			       out[i].start_offset <= out[i - 1].start_offset)))
			return KB_ERR_CORRUPT;
	}
	return KB_OK;
}

/* ---- Reading and writing the text ---- */

/* "<dir>/<name>" into out; KB_ERR_INVAL when it does not fit. */
static int ckpt_path(char *out, size_t cap, const char *dir,
		     const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= cap ? KB_ERR_INVAL : KB_OK;
}

/* Append one formatted line (at most a topic and two numbers) to b. */
static int ckpt_printf(struct kb_buf *b, const char *fmt, ...)
{
	char line[LOG_CHECKPOINT_LINE_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof line)
		return KB_ERR_INVAL;
	return kb_buf_append(b, line, (size_t)n);
}

/* Read a checkpoint file (KAFKA: CheckpointFile.read): version "0", a
 * count, then exactly count lines of nfields fields: 3 is "topic partition
 * offset", 2 is "epoch offset" (the epoch lands in .partition). A missing
 * or empty file has no entries; anything else is KB_ERR_CORRUPT
 * (INVARIANT 2). returns owned *out (free). */
static int ckpt_load(const char *path, int nfields,
		     struct log_checkpoint_entry **out, size_t *n)
{
	char *text, *f[3];
	size_t len;
	int64_t count = 0, part;
	struct log_checkpoint_entry *e = NULL;
	*out = NULL;
	*n = 0;
	int rc = kb_read_file(path, &text, &len, LOG_CHECKPOINT_MAX_BYTES);
	if (rc != KB_OK)
		return rc == KB_ERR_NOTFOUND ? KB_OK : rc;
	char *p = len ? text : NULL;
	if (len > 0 && text[len - 1] == '\n')
		text[len - 1] = '\0'; /* the last line's newline */
	if (p && (ckpt_fields(&p, f, 1) || strcmp(f[0], "0") ||
		  ckpt_fields(&p, f, 1) ||
		  !ckpt_i64(f[0], 0, (int64_t)len / 4, &count)))
		rc = KB_ERR_CORRUPT; /* every entry line takes >= 4 bytes */
	if (rc == KB_OK && !(e = calloc((size_t)count + 1, sizeof *e)))
		rc = KB_ERR_NOMEM;
	for (int64_t i = 0; rc == KB_OK && i < count; i++) {
		char **g = f + (nfields == 3);
		if (ckpt_fields(&p, f, nfields) != KB_OK ||
		    (nfields == 3 && strlen(f[0]) > LOG_TOPIC_MAX) ||
		    !ckpt_i64(g[0], 0, INT32_MAX, &part) ||
		    !ckpt_i64(g[1], INT64_MIN, INT64_MAX, &e[i].offset)) {
			rc = KB_ERR_CORRUPT;
			break;
		}
		if (nfields == 3)
			strcpy(e[i].topic, f[0]);
		e[i].partition = (int32_t)part;
	}
	if (rc == KB_OK && p)
		rc = KB_ERR_CORRUPT; /* more lines than the count said */
	free(text);
	if (rc != KB_OK)
		free(e);
	*out = rc == KB_OK ? e : NULL;
	*n = rc == KB_OK ? (size_t)count : 0;
	return rc;
}

/* Take the next line of *p and split it at single spaces into exactly n
 * non-empty fields; KB_ERR_CORRUPT when there is no line or it differs. */
static int ckpt_fields(char **p, char **f, int n)
{
	char *line = *p ? strsep(p, "\n") : NULL;
	for (int k = 0; k < n; k++) {
		f[k] = line ? strsep(&line, " ") : NULL;
		if (!f[k] || !*f[k])
			return KB_ERR_CORRUPT;
	}
	return line ? KB_ERR_CORRUPT : KB_OK;
}

/* A plain decimal in [min, max] that fills the whole string. */
static bool ckpt_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	if (!isdigit((unsigned char)s[s[0] == '-']))
		return false;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}
