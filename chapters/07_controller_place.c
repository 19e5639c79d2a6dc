/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07, seventh file — the active controller, part 3: where replicas go.
 *
 * Concept:
 *   A new partition needs brokers to live on. The controller spreads them
 *   so that a rack (an availability zone) can fail without taking every
 *   copy of a partition, and so that leadership, where the work is, is
 *   shared: one replica per rack while racks last, leaders taken from
 *   each rack in turn, a rack's brokers in turn within it.
 *
 * Kafka:
 *   org.apache.kafka.metadata.placement.StripedReplicaPlacer (KIP-660):
 *   BrokerList, Rack, RackList.place; only unfenced brokers lead, fenced
 *   ones may follow; brokers in controlled shutdown are not usable.
 *
 * Interface:
 *   - ctrl_place(c, img, p): p->num_partitions lists of
 *     p->replication_factor brokers in p->replicas (owned by the caller,
 *     free()), replicas[i * rf] the leader; KB_ERR_INVAL with Kafka's
 *     reason in p->message.
 *   - Each call starts from the image: nothing is remembered between
 *     calls but the random state.
 *
 * Invariants:
 *   1. A partition's replicas are distinct registered brokers.
 *   2. Its first replica, the leader, is unfenced.
 *   (Checked by placement_check after every placement.)
 *
 * Simplifications:
 *   Java's Random is a seeded xorshift here (ctrl_random): the same
 *   algorithm, not the same sequence of choices as a Kafka controller.
 *
 * See also: docs/07_controller_place.md, diagrams/07_controller_place.dot,
 *   tests/07_raft_test.c ("The controller"); read before: 07_controller_isr.c.
 *   Uses chapters 00 (base), 04 (codec).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "04_codec.h"
#include "07_metadata.h"
#include "07_controller.h"
#include "07_controller_internal.h"

/* StripedReplicaPlacer's BrokerList: ids sorted, read from a rotating
 * offset, one pass per epoch. */
struct place_list {
	int32_t *ids; /* owned */
	int32_t n, index, offset, epoch;
};

/* One rack's unfenced and fenced brokers. */
struct place_rack {
	struct wire_str name; /* borrowed: from the image; len -1: no rack */
	struct place_list unfenced, fenced;
};

/* KAFKA: StripedReplicaPlacer.RackList. */
struct placer {
	struct ctrl *c;
	struct place_rack *racks; /* owned */
	int32_t n_racks, n_total, n_unfenced, epoch, offset;
};

/* ---- The lists: one pass per partition ---- */

/* KAFKA: BrokerList.next — a new epoch starts a pass one further on. */
static int32_t list_next(struct place_list *l, int32_t epoch)
{
	if (l->n == 0)
		return -1;
	if (l->epoch != epoch) {
		l->epoch = epoch;
		l->index = 0;
		l->offset = (l->offset + 1) % l->n;
	}
	if (l->index >= l->n)
		return -1;
	return l->ids[(l->index++ + l->offset) % l->n];
}

/* KAFKA: Rack.next — unfenced brokers first, fenced ones as followers. */
static int32_t rack_next(struct place_rack *r, int32_t epoch)
{
	int32_t b = list_next(&r->unfenced, epoch);
	return b >= 0 ? b : list_next(&r->fenced, epoch);
}

static void shuffle_ids(struct ctrl *c, int32_t *v, int32_t n)
{
	for (int32_t i = n - 1; i > 0; i--) {
		int32_t k = ctrl_random(c, i + 1), t = v[i];
		v[i] = v[k];
		v[k] = t;
	}
}

/* KAFKA: RackList.shuffle, once every broker has led a partition. */
static void placer_shuffle(struct placer *pl)
{
	for (int32_t i = pl->n_racks - 1; i > 0; i--) {
		int32_t k = ctrl_random(pl->c, i + 1);
		struct place_rack t = pl->racks[i];
		pl->racks[i] = pl->racks[k];
		pl->racks[k] = t;
	}
	for (int32_t i = 0; i < pl->n_racks; i++) {
		shuffle_ids(pl->c, pl->racks[i].unfenced.ids, pl->racks[i].unfenced.n);
		shuffle_ids(pl->c, pl->racks[i].fenced.ids, pl->racks[i].fenced.n);
	}
}

/* KAFKA: RackList.place — the leader from the next rack in turn, then one
 * follower per rack around the ring. Returns false if the lists ran dry. */
static bool placer_one(struct placer *pl, int16_t rf, int32_t *out)
{
	if (pl->epoch == pl->n_unfenced && pl->n_unfenced > 1) {
		placer_shuffle(pl);
		pl->epoch = 0;
	}
	if (pl->offset == pl->n_racks)
		pl->offset = 0;
	int32_t first = pl->offset, guard = 0;
	while ((out[0] = list_next(&pl->racks[first].unfenced, pl->epoch)) < 0) {
		first = (first + 1) % pl->n_racks;
		if (++guard > pl->n_racks)
			return false;
	}
	int32_t ri = pl->offset;
	for (int16_t k = 1; k < rf; k++) {
		out[k] = -1;
		for (guard = 0; out[k] < 0; ri = (ri + 1) % pl->n_racks) {
			if (ri == first)
				first = -1;
			else
				out[k] = rack_next(&pl->racks[ri], pl->epoch);
			if (++guard > 2 * pl->n_racks + 1)
				return false;
		}
	}
	pl->epoch++;
	pl->offset++;
	return true;
}

/* ---- The racks ---- */

/* Racks by name, "no rack" first (KAFKA: OptionalStringComparator). */
static int rack_cmp(const void *a, const void *b)
{
	struct wire_str x = ((const struct place_rack *)a)->name;
	struct wire_str y = ((const struct place_rack *)b)->name;
	if (x.len < 0 || y.len < 0)
		return (x.len >= 0) - (y.len >= 0);
	int d = memcmp(x.p, y.p, (size_t)KB_MIN(x.len, y.len));
	return d ? d : (x.len > y.len) - (x.len < y.len);
}

static int id_cmp(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return (x > y) - (x < y);
}

/* The rack named name, added if new. */
static struct place_rack *placer_rack(struct placer *pl, struct wire_str name)
{
	for (int32_t i = 0; i < pl->n_racks; i++) {
		struct wire_str n = pl->racks[i].name;
		if (n.len == name.len &&
		    (n.len < 0 || !memcmp(n.p, name.p, (size_t)n.len)))
			return &pl->racks[i];
	}
	return &pl->racks[pl->n_racks++];
}

/* KAFKA: RackList's constructor over the usable brokers (registered, not
 * in controlled shutdown). */
static int placer_init(struct placer *pl, struct ctrl *c,
		       const struct meta_image *img)
{
	int32_t nb = img->n_brokers;
	memset(pl, 0, sizeof *pl);
	pl->c = c;
	if (nb > 0 && !(pl->racks = calloc((size_t)nb, sizeof *pl->racks)))
		return KB_ERR_NOMEM;
	for (int32_t i = 0; i < nb; i++) {
		const struct meta_broker *b = &img->brokers[i];
		if (b->in_controlled_shutdown)
			continue;
		struct place_rack *r = placer_rack(pl, b->reg.rec.rack);
		r->name = b->reg.rec.rack;
		struct place_list *l = b->fenced ? &r->fenced : &r->unfenced;
		if (!l->ids && !(l->ids = calloc((size_t)nb, sizeof *l->ids)))
			return KB_ERR_NOMEM;
		l->ids[l->n++] = b->id;
		pl->n_total++;
		pl->n_unfenced += !b->fenced;
	}
	for (int32_t i = 0; i < pl->n_racks; i++) {
		struct place_list *ls[2] = {&pl->racks[i].unfenced, &pl->racks[i].fenced};
		for (int k = 0; k < 2; k++)
			if (ls[k]->n > 0) {
				qsort(ls[k]->ids, (size_t)ls[k]->n, sizeof(int32_t), id_cmp);
				ls[k]->offset = ctrl_random(c, ls[k]->n);
			}
	}
	if (pl->n_racks > 1)
		qsort(pl->racks, (size_t)pl->n_racks, sizeof *pl->racks, rack_cmp);
	pl->offset = pl->n_racks ? ctrl_random(c, pl->n_racks) : 0;
	return KB_OK;
}

static void placer_fini(struct placer *pl)
{
	for (int32_t i = 0; i < pl->n_racks; i++) {
		free(pl->racks[i].unfenced.ids);
		free(pl->racks[i].fenced.ids);
	}
	free(pl->racks);
}

/* ---- Placing ---- */

/* INVARIANTS 1 and 2 of one placement. */
static void placement_check(const struct meta_image *img,
			    const struct ctrl_placement *p)
{
#ifndef NDEBUG
	int16_t rf = p->replication_factor;
	for (int32_t i = 0; i < p->num_partitions; i++) {
		const int32_t *v = &p->replicas[(size_t)i * (size_t)rf];
		const struct meta_broker *leader = meta_broker_find(img, v[0]);
		assert(leader && !leader->fenced);
		for (int16_t k = 0; k < rf; k++) {
			assert(meta_broker_find(img, v[k]));
			for (int16_t m = 0; m < k; m++)
				assert(v[m] != v[k]);
		}
	}
#else
	(void)img;
	(void)p;
#endif
}

/* KAFKA: StripedReplicaPlacer.place and its three refusals, in its order. */
int ctrl_place(struct ctrl *c, const struct meta_image *img,
	       struct ctrl_placement *p)
{
	struct placer pl;
	int16_t rf = p->replication_factor;
	p->replicas = NULL;
	p->message[0] = '\0';
	int rc = placer_init(&pl, c, img);
	if (rc == KB_OK && rf <= 0)
		snprintf(p->message, sizeof p->message, "Invalid replication factor "
			 "%d: the replication factor must be positive.", rf);
	else if (rc == KB_OK && pl.n_unfenced == 0)
		snprintf(p->message, sizeof p->message,
			 "All brokers are currently fenced.");
	else if (rc == KB_OK && rf > pl.n_total)
		snprintf(p->message, sizeof p->message, "The target replication "
			 "factor of %d cannot be reached because only %" PRId32
			 " broker(s) are registered.", rf, pl.n_total);
	if (rc == KB_OK && p->message[0])
		rc = KB_ERR_INVAL;
	if (rc == KB_OK && !(p->replicas = calloc((size_t)p->num_partitions * (size_t)rf,
						    sizeof *p->replicas)))
		rc = KB_ERR_NOMEM;
	for (int32_t i = 0; rc == KB_OK && i < p->num_partitions; i++)
		if (!placer_one(&pl, rf, &p->replicas[(size_t)i * (size_t)rf])) {
			snprintf(p->message, sizeof p->message, "No broker left to place on.");
			rc = KB_ERR_INVAL;
		}
	placer_fini(&pl);
	if (rc) {
		free(p->replicas);
		p->replicas = NULL;
	} else {
		placement_check(img, p);
	}
	return rc;
}
