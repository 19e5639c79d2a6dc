/* SPDX-License-Identifier: MIT */
/*
 * Chapter 10 — compaction, part 2: the swap, replacing a segment safely.
 *
 * Concept:
 *   A cleaning pass (10_compaction.c) writes the survivors of a segment
 *   to a new file, <base>.log.cleaned; that file must then take the old
 *   segment's place, and the process may die at any instant while it
 *   does (kill -9, power loss). Writing over the old file would leave a
 *   half-old, half-new segment; deleting it first would leave none. So
 *   the new file moves in by renames, each made durable by an fsync of
 *   the directory, in an order where <base>.log is always one whole
 *   segment, old or new, and no index ever describes the wrong file.
 *   Then the log's struct segment is replaced by one reading the new file.
 *
 * Kafka:
 *   UnifiedLog.replaceSegments and the .cleaned and .swap file suffixes;
 *   at startup Kafka's log loading completes the swaps it finds.
 *
 * Interface:
 *   - clean_swap_in(log, i, cleaned, hook) (10_compaction_internal.h):
 *     cleaned is segs[i]'s <base>.log.cleaned, written and fsynced by the
 *     caller; hook (may hold NULL) runs after each durable step.
 *   - After KB_OK, segs[i] is a new struct segment (log_replace_segment,
 *     chapter 03): a log_read_result from before is stale. After an
 *     error, segs[i] is unchanged and the directory is as recovery
 *     expects it.
 *   Single-threaded: runs on the reactor thread, inside one cleaner step.
 *
 * Invariants:
 *   1. At every instant the directory holds either the old <base>.log or
 *      the new one, complete and fsynced: the only step from one to the
 *      other is one atomic rename.
 *   2. An index that does not match its .log is missing, never stale:
 *      the old .index and .timeindex are unlinked before that rename,
 *      and log_open rebuilds a missing index.
 *
 * Simplifications:
 *   - A swap left by a crash is rolled back (chapter 03 deletes *.swap):
 *     the original .log is intact until the rename, so nothing is lost.
 *     Kafka completes swaps because its swaps can merge several segments.
 *   - One swap replaces one segment by one file of the same name.
 *
 * See also: docs/10_swap.md, diagrams/10_swap.dot,
 *   tests/10_compaction_test.c (a crash at each step), 10_compaction.c;
 *   chapters 01 (seg_file_name), 03 (log_replace_segment; log_open
 *   deletes stray .cleaned and .swap files).
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
	int rc = seg_file_name(swap, sizeof swap, log->dir,
			       ls->seg->base_offset, SEG_LOG_SUFFIX ".swap");
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
