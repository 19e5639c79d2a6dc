/* SPDX-License-Identifier: MIT */
/*
 * Chapter 10 — compaction, part 1: the offset map.
 *
 * Concept:
 *   Compaction keeps the latest record of each key. To know which record
 *   is the latest, a pass first reads the dirty section into a map from
 *   key to the largest offset seen for it; a record survives the rewrite
 *   if no larger offset is mapped for its key. The map is a hash table of
 *   whole keys, in an arena, sized against log.cleaner.dedupe.buffer.size.
 *
 * Kafka:
 *   SkimpyOffsetMap (log.cleaner.dedupe.buffer.size,
 *   log.cleaner.io.buffer.load.factor).
 *
 * Interface (10_compaction_internal.h):
 *   - clean_map_init, then clean_map_put per record (a later put of a key
 *     keeps the larger offset), clean_map_get per record of the rewrite;
 *     clean_map_fini frees it. clean_map_bytes is its memory.
 *   Single-threaded: one map per pass, on the reactor thread.
 *
 * Invariants:
 *   1. used * 2 <= nslots, nslots a power of two: a probe always ends.
 *   2. A slot with hash != 0 holds a key of keys; no key is in two slots.
 *
 * Simplifications:
 *   - Whole keys, not 16-byte MD5 digests: exact, never a false "later
 *     record", at the price of memory for long keys.
 *   - Growing rehashes every entry in one call (Kafka preallocates).
 *
 * See also: docs/10_offset_map.md, diagrams/10_offset_map.dot,
 *   tests/10_compaction_test.c; used by 10_compaction.c.
 *   Uses chapters 00 (base).
 */
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "10_compaction_internal.h"

/* First capacity (slots, a power of two). */
#define CLEAN_MAP_MIN_SLOTS 1024

/* ---- The map ---- */

/* FNV-1a, 64 bits; never 0, which marks an empty slot. */
static uint64_t clean_hash(struct wire_bytes key)
{
	uint64_t h = 14695981039346656037ULL;
	for (int32_t i = 0; i < key.len; i++)
		h = (h ^ key.p[i]) * 1099511628211ULL;
	return h ? h : 1;
}

int clean_map_init(struct clean_map *m)
{
	kb_buf_init(&m->keys);
	m->used = 0;
	m->nslots = CLEAN_MAP_MIN_SLOTS;
	m->slots = calloc(m->nslots, sizeof *m->slots);
	return m->slots ? KB_OK : KB_ERR_NOMEM;
}

/* The slot of key, or the empty slot where it would go. */
static struct clean_slot *clean_map_probe(const struct clean_map *m,
					  struct wire_bytes key, uint64_t h)
{
	size_t i = (size_t)h & (m->nslots - 1);
	for (;; i = (i + 1) & (m->nslots - 1)) {
		struct clean_slot *s = &m->slots[i];
		if (s->hash == 0)
			return s;
		if (s->hash == h && s->key_len == (uint32_t)key.len &&
		    !memcmp(m->keys.data + s->key_at, key.p, (size_t)key.len))
			return s;
	}
}

/* Double the slots and put every entry back. */
static int clean_map_grow(struct clean_map *m)
{
	struct clean_map bigger = *m;
	bigger.nslots = m->nslots * 2;
	if (!(bigger.slots = calloc(bigger.nslots, sizeof *bigger.slots)))
		return KB_ERR_NOMEM;
	for (size_t i = 0; i < m->nslots; i++) {
		const struct clean_slot *s = &m->slots[i];
		struct wire_bytes k = {m->keys.data + s->key_at,
				       (int32_t)s->key_len};
		if (s->hash)
			*clean_map_probe(&bigger, k, s->hash) = *s;
	}
	free(m->slots);
	*m = bigger;
	return KB_OK;
}

/* key -> offset; a later put of the same key wins. */
int clean_map_put(struct clean_map *m, struct wire_bytes key,
			 int64_t offset)
{
	if (2 * (m->used + 1) > m->nslots && clean_map_grow(m) != KB_OK)
		return KB_ERR_NOMEM;
	uint64_t h = clean_hash(key);
	struct clean_slot *s = clean_map_probe(m, key, h);
	if (s->hash == 0) {
		size_t at = m->keys.len;
		if (kb_buf_append(&m->keys, key.p, (size_t)key.len) != KB_OK)
			return KB_ERR_NOMEM;
		*s = (struct clean_slot){h, offset, at, (uint32_t)key.len};
		m->used++;
		return KB_OK;
	}
	s->offset = KB_MAX(s->offset, offset);
	return KB_OK;
}

const struct clean_slot *clean_map_get(const struct clean_map *m,
					      struct wire_bytes key)
{
	const struct clean_slot *s = clean_map_probe(m, key, clean_hash(key));
	return s->hash ? s : NULL;
}

/* Memory the map holds, against log.cleaner.dedupe.buffer.size. */
size_t clean_map_bytes(const struct clean_map *m)
{
	return m->nslots * sizeof *m->slots + m->keys.len;
}

void clean_map_fini(struct clean_map *m)
{
	free(m->slots);
	m->slots = NULL;
	kb_buf_fini(&m->keys);
}
