/* SPDX-License-Identifier: MIT */
/*
 * Chapter 10 — compaction, part 2: the swap, replacing a segment safely.
 *
 * Concept:
 *   A pass writes a segment's survivors to <base>.log.cleaned; that file
 *   must take the old one's place while the process may die at any
 *   instant. Writing over the old file would leave a mix; deleting it
 *   first would leave nothing. So the new file moves in by renames, each
 *   made durable by an fsync of the directory, in an order where
 *   <base>.log is always one whole segment and no index describes the
 *   wrong file; then chapter 03 reopens it (log_replace_segment).
 *
 * Kafka:
 *   UnifiedLog.replaceSegments; the .cleaned and .swap suffixes.
 *
 * Interface:
 *   - clean_swap_in(log, i, cleaned, hook) (10_compaction_internal.h):
 *     cleaned is written and fsynced; hook runs after each durable step.
 *   - After KB_OK, segs[i] is a new struct segment; after an error it is
 *     unchanged and the directory is as recovery expects it.
 *   Single-threaded: runs on the reactor thread, inside one cleaner step.
 *
 * Invariants:
 *   1. The directory always holds the old <base>.log or the new one,
 *      complete and fsynced: one atomic rename goes from one to the other.
 *   2. An index that does not match its .log is missing, never stale.
 *
 * Simplifications:
 *   - A swap left by a crash is rolled back (chapter 03 deletes *.swap).
 *   - One swap replaces one segment by one file of the same name.
 *
 * See also: docs/10_swap.md, diagrams/10_swap.dot,
 *   tests/10_compaction_test.c (a crash at each step).
 *   Uses chapters 00 (base), 01 (segment), 03 (log).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "00_base.h"
#include "01_segment.h"
#include "03_log.h"
#include "10_compaction.h"
#include "10_compaction_internal.h"

/* ---- The swap ---- */

/* KAFKA: UnifiedLog.replaceSegments. INVARIANTS 1 and 2, step by step:
 *   1. <base>.log.cleaned is written and fsynced (by the caller);
 *   2. renamed to <base>.log.swap, directory fsynced: the new bytes are
 *      durable under a name recovery knows;
 *   3. the old .index and .timeindex are unlinked: from here an index
 *      is missing (rebuilt at open), never stale;
 *   4. rename(.swap, .log): one atomic step from the old segment to the
 *      new one; directory fsynced;
 *   5. open the new file, rebuild and fsync its indexes.
 * A crash before 4 leaves the old .log whole (the .swap is deleted at
 * open); after 4, the new one (its indexes are rebuilt at open). */
int clean_swap_in(struct log *log, size_t i, const char *cleaned,
		  const struct clean_hook *hook)
{
	struct log_segment *ls = &log->segs[i];
	char swap[CLEAN_PATH_MAX];
	int rc = seg_file_name(swap, sizeof swap,
			       (struct seg_file){log->dir, ls->seg->base_offset,
						 SEG_LOG_SUFFIX ".swap"});
	if (rc == KB_OK && rename(cleaned, swap) != 0) {
		KB_ERROR("rename %s: %s", cleaned, strerror(errno));
		rc = KB_ERR_IO;
	}
	if (rc == KB_OK && (rc = kb_fsync_dir(log->dir)) == KB_OK)
		clean_hook_run(hook, CLEAN_STEP_SWAP_RENAMED);
	if (rc == KB_OK && (unlink(ls->idx.offsets->path) != 0 ||
			    unlink(ls->idx.times->path) != 0)) {
		KB_ERROR("unlink index of %s: %s", ls->seg->path,
			 strerror(errno));
		rc = KB_ERR_IO;
	}
	if (rc == KB_OK)
		clean_hook_run(hook, CLEAN_STEP_INDEXES_UNLINKED);
	if (rc == KB_OK && rename(swap, ls->seg->path) != 0) {
		KB_ERROR("rename %s: %s", swap, strerror(errno));
		rc = KB_ERR_IO;
	}
	if (rc == KB_OK && (rc = kb_fsync_dir(log->dir)) == KB_OK)
		clean_hook_run(hook, CLEAN_STEP_LOG_REPLACED);
	if (rc == KB_OK)
		rc = log_replace_segment(log, i);
	if (rc == KB_OK)
		clean_hook_run(hook, CLEAN_STEP_DONE);
	return rc;
}
