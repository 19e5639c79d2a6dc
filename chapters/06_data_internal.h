/* SPDX-License-Identifier: MIT */
/*
 * Chapter 06, inside only: the request shape every data API shares, which
 * 06_produce.c defines and 06_fetch.c uses. Later chapters include
 * 06_topics.h, never this file.
 */
#ifndef SAMSA_DATA_INTERNAL_H
#define SAMSA_DATA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"

/* One partition of a data-API request. Each API reads the fields it has;
 * the others keep their defaults. Views point into the request. */
struct part_req {
	int32_t index;                /* partition index */
	int32_t current_leader_epoch; /* -1: not checked */
	int64_t offset;     /* Fetch: fetch_offset; ListOffsets: timestamp;
			       DeleteRecords: delete before this offset */
	int32_t epoch;      /* OffsetForLeaderEpoch: the epoch asked about */
	int32_t max_bytes;  /* Fetch: partition_max_bytes */
	struct wire_bytes records; /* Produce: the batch (exactly one) */
	int8_t repeated;    /* REPEAT_*: is (topic, index) named again? */
	bool denied;        /* Fetch: the authorizer said no to its topic,
			       asked once when the request came */
};

/* part_req.repeated: a partition named once, or the first or a later
 * occurrence of one named more than once in the same request. */
#define REPEAT_NONE 0
#define REPEAT_FIRST 1
#define REPEAT_LATER 2

/* One topic of a data-API request. */
struct topic_req {
	struct wire_str name;
	int32_t n;
	struct part_req *parts; /* owned */
};

/* A decoded data-API request: topics of partitions, plus the top-level
 * fields of whichever API it is. */
struct data_req {
	int16_t version;
	int32_t ntopics;
	struct topic_req *topics; /* owned */
	int32_t nparts;           /* partitions over all topics */
	int32_t replica_id;       /* Fetch: -1 for consumers */
	int16_t acks;             /* Produce */
	int32_t max_wait_ms;      /* Fetch */
	int32_t min_bytes;        /* Fetch */
	int32_t max_bytes;        /* Fetch */
	int8_t isolation_level;   /* Fetch, ListOffsets */
	struct wire_str rack_id;  /* Fetch v11+: the consumer's client.rack */
};


/* Mark every partition of q whose topic req may not do operation on. */
void topic_data_authorize(const struct net_request *req, struct data_req *q,
			  int8_t operation);

/* Reads one partition's fields for version v. */
typedef void (*part_read_fn)(struct wire_reader *r, int16_t v,
			     struct part_req *p);

/* What one handler needs while it answers partition after partition. */
struct data_ctx {
	struct topic_manager *tm; /* borrowed */
	struct data_req *q;       /* borrowed */
	bool any_error;           /* some partition failed (Produce acks=0) */
	bool changed;             /* DeleteRecords moved a log start offset */
	struct net_request *req;  /* borrowed: Produce appends from its frame */
	struct wire_str transactional_id; /* Produce: len -1 when null */
	int16_t request_error;    /* Produce: the answer of every partition */
	size_t inflate_left;      /* Produce: gzip bytes it may still inflate */
	struct produce_wait *wait; /* Produce: the request's results */
};

/* Answers one partition (its fields, not its tags). */
typedef void (*part_answer_fn)(struct data_ctx *c, struct wire_writer *w,
			       struct wire_str topic, const struct part_req *p);

/* ---- The shared request shape (06_produce.c) ---- */

int topic_data_decode(struct wire_reader *r, size_t part_min,
		      part_read_fn read_part, struct data_req *q);
int topic_data_find_repeats(struct data_req *q);
int topic_data_drop_repeats(struct data_req *q);
void topic_data_write(struct data_ctx *c, struct wire_writer *w,
		      part_answer_fn answer);
void topic_data_req_fini(struct data_req *q);

#endif
