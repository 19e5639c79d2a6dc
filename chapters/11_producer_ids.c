/* SPDX-License-Identifier: MIT */
/*
 * Chapter 11 — producers, part 1a: producer id blocks.
 *
 * Concept:
 *   A producer id must never be handed out twice, or two producers would
 *   share sequence numbers. Ids are handed out from blocks reserved in
 *   advance: on one node from a file that says where the next block
 *   starts; in a cluster from the controller, which owns the counter.
 *
 * Kafka:
 *   ProducerIdManager (ProducerIdsBlock of 1000), RPCProducerIdManager
 *   (AllocateProducerIds, api key 67, to the active controller; the next
 *   block asked for at 90%, PidPrefetchThreshold;
 *   COORDINATOR_LOAD_IN_PROGRESS while none is in hand).
 *
 * Interface:
 *   - prod_ids_open reserves the first block of PROD_ID_FILE;
 *     prod_ids_next hands out ids; prod_ids_set_source switches to a
 *     source's blocks (KB_ERR_AGAIN while the next one is out);
 *     prod_ids_fini forgets the ask in flight (its answer is dropped).
 *   - Used by 11_producers.c only, through 11_producers_internal.h.
 *
 * Invariants (prod_ids_check):
 *   1. No id is handed out twice, across restarts: the file names the
 *      next block before an id of this one is used.
 *   2. next_id lies in the block in hand; a block waiting to be used
 *      starts past it (blocks only move forward).
 *
 * Simplifications: one ask in flight and no retry timer: after a refused
 *   block the next InitProducerId asks again.
 *
 * See also: docs/11_producer_ids.md, diagrams/11_producer_ids.dot,
 *   tests/11_producers_test.c; read after it: 11_producers.c.
 *   Uses chapters 00 (base), 04 (codec), 06 (topics).
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "04_codec.h"
#include "06_topics.h"
#include "11_producers_internal.h"

/* PROD_ID_FILE holds one decimal number and a newline. */
#define PROD_ID_FILE_MAX 64

/* One block asked of the source: the done_ctx it gets. Freed by the
 * done call; ids is NULL once nobody waits for it any more (a new
 * source, prod_ids_fini), so a late answer is dropped. */
struct prod_id_ask {
	struct prod_ids *ids; /* borrowed, or NULL */
};

static int id_block_reserve(struct prod_ids *ids, int64_t start);
static int next_from_source(struct prod_ids *ids, int64_t *out);
static void block_ask(struct prod_ids *ids);
static void block_arrived(void *done_ctx, int16_t error, int64_t start,
			  int32_t len);

/* ---- Producer ids ---- */

int prod_ids_next(struct prod_ids *ids, int64_t *out)
{
	if (ids->src.allocate)
		return next_from_source(ids, out);
	if (ids->next_id == ids->block_end) {
		int rc = id_block_reserve(ids, ids->block_end);
		if (rc != KB_OK)
			return rc;
	}
	*out = ids->next_id++;
	return KB_OK;
}

/* INVARIANT 6: the file says where the next block starts before any id of
 * this one is given out; ids left in a block when the broker stops are
 * skipped, never reused (KAFKA: the same holds for unused block ends). */
static int id_block_reserve(struct prod_ids *ids, int64_t start)
{
	char text[PROD_ID_FILE_MAX];
	int len = snprintf(text, sizeof text, "%" PRId64 "\n",
			   start + PROD_ID_BLOCK_SIZE);
	int rc = kb_write_file_atomic(ids->id_path, text, (size_t)len);
	if (rc != KB_OK)
		return rc;
	ids->next_id = start;
	ids->block_start = start;
	ids->block_len = PROD_ID_BLOCK_SIZE;
	ids->block_end = start + PROD_ID_BLOCK_SIZE;
	return KB_OK;
}

/* The first block of this run starts where the last run's file points
 * (0 for a new log directory). */
int prod_ids_open(struct prod_ids *ids)
{
	char *text = NULL, *end;
	size_t len;
	int rc = kb_read_file(ids->id_path, &text, &len, PROD_ID_FILE_MAX);
	if (rc == KB_ERR_NOTFOUND)
		return id_block_reserve(ids, 0);
	if (rc != KB_OK)
		return rc;
	errno = 0;
	long long start = strtoll(text, &end, 10);
	bool bad = errno != 0 || end == text || start < 0 ||
		   start > INT64_MAX - 2 * PROD_ID_BLOCK_SIZE ||
		   (*end != '\n' && *end != '\0');
	free(text);
	if (bad) {
		KB_ERROR("%s: not a producer id", ids->id_path);
		return KB_ERR_CORRUPT;
	}
	return id_block_reserve(ids, (int64_t)start);
}

/* ---- Producer ids in a cluster ---- */

void prod_ids_set_source(struct prod_ids *ids,
			 const struct prod_id_source *src)
{
	prod_ids_fini(ids);
	memset(&ids->src, 0, sizeof ids->src);
	if (src)
		ids->src = *src;
	ids->have_next = false;
	if (!src) {
		if (prod_ids_open(ids) != KB_OK)
			KB_WARN("%s: no producer id block", ids->id_path);
		return;
	}
	/* The file's ids are this node's alone: none of them in a cluster. */
	ids->next_id = ids->block_end = ids->block_start = 0;
	ids->block_len = 0;
}

/* KAFKA: RPCProducerIdManager.generateProducerId: an id from the block
 * in hand; at its end the next block if it has arrived, else the ask
 * goes out and the caller hears KB_ERR_AGAIN (the client is told
 * COORDINATOR_LOAD_IN_PROGRESS and retries). The next block is asked
 * for when 90% of this one is used (PidPrefetchThreshold). */
static int next_from_source(struct prod_ids *ids, int64_t *out)
{
	if (ids->next_id == ids->block_end) {
		if (!ids->have_next) {
			block_ask(ids);
			return KB_ERR_AGAIN;
		}
		ids->next_id = ids->block_start = ids->next_start;
		ids->block_len = ids->next_len;
		ids->block_end = ids->next_start + ids->next_len;
		ids->have_next = false;
	}
	*out = ids->next_id++;
	int64_t prefetch = ids->block_start + (int64_t)ids->block_len * 9 / 10;
	if (!ids->have_next && ids->next_id >= prefetch)
		block_ask(ids);
	return KB_OK;
}

/* One ask in flight at a time (KAFKA: requestInFlight). */
static void block_ask(struct prod_ids *ids)
{
	if (ids->asking)
		return;
	struct prod_id_ask *ask = malloc(sizeof *ask);
	if (!ask)
		return;
	ask->ids = ids;
	ids->asking = ask;
	/* done may run inside allocate: it frees ask and clears asking. */
	if (ids->src.allocate(ids->src.ctx, block_arrived, ask) != KB_OK) {
		ids->asking = NULL;
		free(ask);
	}
}

/* KAFKA: handleAllocateProducerIdsResponse: an error or a block that
 * does not move forward is dropped (the next InitProducerId asks again). */
static void block_arrived(void *done_ctx, int16_t error, int64_t start,
			  int32_t len)
{
	struct prod_id_ask *ask = done_ctx;
	struct prod_ids *ids = ask->ids;
	free(ask);
	if (!ids)
		return;
	ids->asking = NULL;
	if (error != KAFKA_ERR_NONE || len <= 0 || start < 0 ||
	    start > INT64_MAX - len || start < ids->block_end) {
		KB_WARN("producer ids: block refused (error %d, %" PRId64
			"+%" PRId32 ")", error, start, len);
		return;
	}
	ids->have_next = true;
	ids->next_start = start;
	ids->next_len = len;
}

/* Stop waiting for the ask in flight: its answer will be dropped. */
void prod_ids_fini(struct prod_ids *ids)
{
	if (ids->asking)
		ids->asking->ids = NULL;
	ids->asking = NULL;
}

/* ---- Invariants ---- */

void prod_ids_check(const struct prod_ids *ids)
{
	assert(ids->block_start <= ids->next_id &&
	       ids->next_id <= ids->block_end &&
	       ids->block_end - ids->block_start == ids->block_len); /* 2 */
	assert(!ids->have_next || ids->next_start >= ids->block_end);
}
