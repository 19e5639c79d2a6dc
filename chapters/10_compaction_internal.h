/* SPDX-License-Identifier: MIT */
/*
 * Chapter 10, inside only: what 10_compaction.c and 10_swap.c share.
 * A pass writes the survivors of a segment to <base>.log.cleaned and hands
 * the file to clean_swap_in. Later chapters include 10_compaction.h, never
 * this file; 10_cleaner.c needs nothing from it either.
 */
#ifndef SAMSA_COMPACTION_INTERNAL_H
#define SAMSA_COMPACTION_INTERNAL_H

#include <stddef.h>

#include "03_log.h"
#include "10_compaction.h"

/* Longest path we build: a directory plus a file name. */
#define CLEAN_PATH_MAX 4096

/* Put cleaned (<base>.log.cleaned of log->segs[i], written and fsynced by
 * the caller) in place of segs[i], crash-safely (10_swap.c, Invariants
 * 1-2); segs[i] is then a new struct segment with new indexes. borrows:
 * cleaned. */
int clean_swap_in(struct log *log, size_t i, const char *cleaned);

/* Step is durable: run the swap hook (clean_set_swap_hook), if any. */
void clean_swap_done(enum clean_swap_step step);

#endif
