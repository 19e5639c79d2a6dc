/* SPDX-License-Identifier: MIT */
/*
 * Chapter 11, inside only: the producer id blocks of 11_producer_ids.c
 * that 11_producers.c hands out. Later chapters include 11_producers.h,
 * never this file.
 */
#ifndef SAMSA_PRODUCERS_INTERNAL_H
#define SAMSA_PRODUCERS_INTERNAL_H

#include "00_base.h"
#include "11_producers.h"

/* Longest path built here: a partition directory plus a snapshot name. */
#define PROD_PATH_MAX (TOPIC_PATH_MAX + 64)

struct prod_id_ask;

/* Where the next producer id comes from: the block in hand, of the file
 * or of a source, and the source's next block once it has arrived. */
struct prod_ids {
	char id_path[PROD_PATH_MAX]; /* <log_dir>/PROD_ID_FILE */
	int64_t next_id;            /* next producer id to hand out */
	int64_t block_end;          /* first id past the block in hand */
	int64_t block_start;        /* first id of the block in hand */
	int32_t block_len;          /* its size (PROD_ID_BLOCK_SIZE: file) */
	struct prod_id_source src;  /* src.allocate NULL: PROD_ID_FILE */
	struct prod_id_ask *asking; /* owned by the source: the ask out */
	bool have_next;             /* the source's next block arrived: */
	int64_t next_start;         /*   its first id */
	int32_t next_len;           /*   and its size */
};

/* Reserve the first block of ids->id_path (the caller sets the path). */
int prod_ids_open(struct prod_ids *ids);
/* The next id (KB_ERR_AGAIN: with a source, the next block is out). */
int prod_ids_next(struct prod_ids *ids, int64_t *out);
/* Blocks from src from now on (copied; NULL: the file again). */
void prod_ids_set_source(struct prod_ids *ids,
			 const struct prod_id_source *src);
/* Forget the ask in flight: its answer is dropped. */
void prod_ids_fini(struct prod_ids *ids);
/* Assert 11_producer_ids.c's invariants (aborts only on our own bug). */
void prod_ids_check(const struct prod_ids *ids);

#endif
