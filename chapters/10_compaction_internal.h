/* SPDX-License-Identifier: MIT */
/*
 * Chapter 10, inside only: what 10_compaction.c uses of 10_offset_map.c
 * and 10_swap.c. Later chapters include 10_compaction.h, never this
 * file; 10_cleaner.c needs nothing from it either.
 */
#ifndef SAMSA_COMPACTION_INTERNAL_H
#define SAMSA_COMPACTION_INTERNAL_H

#include <stddef.h>

#include "03_log.h"
#include "04_codec.h"
#include "10_compaction.h"

/* Longest path we build: a directory plus a file name. */
#define CLEAN_PATH_MAX 4096

/* ---- The offset map (10_offset_map.c) ---- */

/* One slot of the offset map: a key (bytes in the map's arena) and the
 * latest offset seen for it. hash 0 marks an empty slot. */
struct clean_slot {
	uint64_t hash;
	int64_t offset;
	size_t key_at;   /* position of the key in keys */
	uint32_t key_len;
};

/* KAFKA: SkimpyOffsetMap, but exact: it keeps whole keys, not MD5
 * hashes, so two keys never collide. Open addressing, linear probing,
 * grown at half full. */
struct clean_map {
	struct clean_slot *slots; /* owned */
	size_t nslots;            /* a power of two */
	size_t used;
	struct kb_buf keys;       /* owned: every key, back to back */
};

int clean_map_init(struct clean_map *m);
/* key -> offset; a later put of the same key keeps the larger offset. */
int clean_map_put(struct clean_map *m, struct wire_bytes key, int64_t offset);
/* The slot of key, or NULL. valid until the next clean_map_put. */
const struct clean_slot *clean_map_get(const struct clean_map *m,
				       struct wire_bytes key);
/* Memory the map holds, against log.cleaner.dedupe.buffer.size. */
size_t clean_map_bytes(const struct clean_map *m);
void clean_map_fini(struct clean_map *m);

/* ---- The swap (10_swap.c) ---- */

/* Put cleaned (<base>.log.cleaned of log->segs[i], written and fsynced by
 * the caller) in place of segs[i], crash-safely (10_swap.c, Invariants
 * 1-2), telling hook after each durable step. borrows: cleaned, hook. */
int clean_swap_in(struct log *log, size_t i, const char *cleaned,
		  const struct clean_hook *hook);

/* Step is durable: run the hook, if any. */
static inline void clean_hook_run(const struct clean_hook *hook,
				  enum clean_swap_step step)
{
	if (hook->fn)
		hook->fn(step, hook->ctx);
}

#endif
