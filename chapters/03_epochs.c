/* SPDX-License-Identifier: MIT */
/*
 * Chapter 03, second file — leader epochs: which leader wrote which
 * offsets.
 *
 * Concept:
 *   Each time a partition gets a new leader, its leader epoch goes up,
 *   and the leader stamps it on every batch it appends. The log keeps a
 *   small cache of (epoch, first offset of that epoch), so that a
 *   follower that comes back can ask "where did my last epoch end on
 *   your log?" and cut its own log there, instead of trusting the high
 *   watermark (KIP-101). The cache is persisted in leader-epoch-checkpoint
 *   (03_checkpoints.c) every time it changes.
 *
 * Kafka:
 *   LeaderEpochFileCache (assign, endOffsetFor, truncateFromEnd,
 *   truncateFromStart); OffsetForLeaderEpoch (API 23).
 *
 * Interface (03_log.h):
 *   - log_append calls log_epoch_assign; OffsetForLeaderEpoch calls
 *     log_epoch_end_offset; truncation and retention call
 *     log_epoch_truncate_end and log_epoch_truncate_start.
 *   Single-threaded: the cache belongs to its struct log.
 *
 * Invariants:
 *   1. log->epochs are strictly ascending in epoch and in start_offset,
 *      and leader-epoch-checkpoint holds exactly them: every change
 *      rewrites the file before returning (log_check asserts the order).
 *
 * Simplifications:
 *   - The whole file is rewritten on every change (Kafka too); with one
 *     line per leader change it stays a few lines long.
 *
 * See also: docs/03_epochs.md, diagrams/03_epochs.dot,
 *   tests/03_checkpoints_test.c (the epoch tests); read before:
 *   03_checkpoints.c (the file format).
 *   Uses chapters 00 (base).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "03_log.h"

/* ---- The epoch cache ---- */

/* KAFKA: LeaderEpochFileCache.assign and maybeTruncateNonMonotonicEntries.
 * INVARIANT 1: entries that would break the order go first, and every
 * change to the cache rewrites leader-epoch-checkpoint before returning. */
int log_epoch_assign(struct log *log, int32_t epoch, int64_t start_offset)
{
	if (epoch < 0 || start_offset < 0)
		return KB_ERR_INVAL;
	struct log_epoch *e = log->nepochs ? &log->epochs[log->nepochs - 1]
					   : NULL;
	if (e && e->epoch == epoch && start_offset >= e->start_offset)
		return KB_OK; /* the common case: every append of an epoch */
	while (log->nepochs > 0) {
		e = &log->epochs[log->nepochs - 1];
		if (e->epoch < epoch && e->start_offset < start_offset)
			break;
		KB_INFO("log %s: epoch %" PRId32 " at %" PRId64
			" replaces epoch %" PRId32, log->dir, epoch,
			start_offset, e->epoch);
		log->nepochs--;
	}
	if (!(e = realloc(log->epochs, (log->nepochs + 1) * sizeof *e)))
		return KB_ERR_NOMEM;
	log->epochs = e;
	e[log->nepochs++] = (struct log_epoch){epoch, start_offset};
	return log_epoch_checkpoint_write(log->dir, log->epochs, log->nepochs);
}

/* KAFKA: LeaderEpochFileCache.endOffsetFor, case by case. */
int log_epoch_end_offset(const struct log *log, int32_t epoch,
			 int32_t *found_epoch, int64_t *end_offset)
{
	size_t n = log->nepochs, higher = 0;
	*found_epoch = -1;
	*end_offset = -1;
	if (epoch < 0 || n == 0)
		return KB_ERR_NOTFOUND;
	if (log->epochs[n - 1].epoch == epoch) { /* the current epoch */
		*found_epoch = epoch;
		/* The log end offset, read from the struct: this file sits
		 * below 03_log.c and calls nothing in it. */
		*end_offset = log->segs[log->nsegs - 1].seg->next_offset;
		return KB_OK;
	}
	while (higher < n && log->epochs[higher].epoch <= epoch)
		higher++;
	if (higher == n) /* newer than any epoch we know */
		return KB_ERR_NOTFOUND;
	/* Older than all we know: Kafka answers the first start offset. */
	*found_epoch = higher == 0 ? epoch : log->epochs[higher - 1].epoch;
	*end_offset = log->epochs[higher].start_offset;
	return KB_OK;
}

/* KAFKA: truncateFromEnd: drop the epochs starting at or after offset. */
int log_epoch_truncate_end(struct log *log, int64_t offset)
{
	size_t n = log->nepochs;
	while (log->nepochs > 0 &&
	       log->epochs[log->nepochs - 1].start_offset >= offset)
		log->nepochs--;
	if (n == log->nepochs)
		return KB_OK;
	return log_epoch_checkpoint_write(log->dir, log->epochs, log->nepochs);
}

/* KAFKA: truncateFromStart: the epochs starting at or before offset
 * collapse into the latest of them, which now starts at offset. */
int log_epoch_truncate_start(struct log *log, int64_t offset)
{
	size_t k = 0;
	while (k < log->nepochs && log->epochs[k].start_offset <= offset)
		k++;
	if (k == 0 || (k == 1 && log->epochs[0].start_offset == offset))
		return KB_OK;
	log->epochs[k - 1].start_offset = offset;
	memmove(log->epochs, log->epochs + k - 1,
		(log->nepochs - k + 1) * sizeof *log->epochs);
	log->nepochs -= k - 1;
	return log_epoch_checkpoint_write(log->dir, log->epochs, log->nepochs);
}
