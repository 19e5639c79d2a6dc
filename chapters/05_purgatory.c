/* SPDX-License-Identifier: MIT */
/*
 * Chapter 05, second file — purgatory: requests that must wait.
 *
 * Concept: a Fetch with min_bytes waits for records, a JoinGroup for the
 *   rest of its group. One thread serves every connection, so such a
 *   request is parked: its response is kept with a deadline and a test
 *   (try_complete), watched under the keys of what it waits for. The
 *   event that may satisfy it wakes the key; the deadline ends it with
 *   whatever there is. Periodic timers (net_every) live here too.
 * Kafka: DelayedOperation (tryComplete, onComplete, onExpiration),
 *   DelayedOperationPurgatory (watchers by key, checkAndComplete(key)),
 *   SystemTimer; KafkaScheduler's tasks are our net_every timers.
 * Interface:
 *   - A handler calls net_park(req, resp, &wait, &op), net_watch(op, key)
 *     per thing it waits on, and returns NET_PARKED. net_park takes the
 *     struct net_wait's ctx even when it fails.
 *   - Whoever changes what a key stands for calls net_wake(srv, key).
 *   - try_complete may be called again after returning false, and must
 *     return true when expired.
 *   - net_every(srv, period_ms, cb) runs cb (a struct net_callback) on
 *     the reactor thread; net_at(srv, at_ms, cb) once, at a movable time.
 *   - A completed op's response is queued (05_responses.c, below) and its
 *     connection put on the ready list; the reactor (05_server.c, above)
 *     sends it and closes a connection marked failed.
 * Invariants:
 *   1. A parked op sits in the deadline heap from net_park until it ends,
 *      exactly once (completed or cancelled); free_ctx runs exactly once.
 *   2. While op is parked, op->conn->parked == op: the connection is
 *      muted and its frame stays in place.
 *   3. Heap order: no op's deadline is earlier than its parent's, and
 *      op->heap_idx is its index (net_purgatory_check).
 *   4. An op that ends inside net_wake is freed only when the outermost
 *      net_wake returns.
 *   5. A late timer runs once per reactor turn, not once per missed period.
 * Simplifications: a binary min-heap instead of Kafka's timing wheel
 *   (O(log n) per op); the watch map hashes pointers into
 *   NET_WATCH_BUCKETS chains; timers are a small array scanned each turn.
 * See also: docs/05_purgatory.md, diagrams/05_purgatory.dot,
 *   tests/05_server_test.c; read before: 05_responses.c; read next:
 *   05_limits.c, 05_server.c. Uses chapters 00 (base), 04 (codec).
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>

#include "00_base.h"
#include "04_codec.h"
#include "05_server.h"
#include "05_server_internal.h"

/* ---- Constants ---- */

#define NET_WATCH_HASH_SHIFT 55  /* 64 - log2(NET_WATCH_BUCKETS) */
#define NET_NOT_IN_HEAP SIZE_MAX /* heap_idx of an op outside the heap */
#define NET_HEAP_MIN_CAP 16      /* ops room allocated at the first park */

/* ---- Data structures ---- */

/* "op watches key": a node in a watch-map bucket and in its op's list. */
struct net_watch {
	const void *key;                /* borrowed: any stable pointer */
	struct net_delayed *op;         /* borrowed */
	struct net_watch *prev, *next;  /* bucket chain */
	struct net_watch *op_next;      /* the op's own watches */
};

/* A parked request (KAFKA: DelayedOperation). Its request views point
 * into conn->in, which holds still while the connection is muted. */
struct net_delayed {
	struct net_server *srv;     /* borrowed */
	struct net_conn *conn;      /* borrowed */
	struct net_request req;     /* the parked request */
	struct net_out *out;        /* owned until op_complete queues it */
	int64_t deadline_ms;        /* kb_mono_ms clock */
	size_t heap_idx;            /* in srv->heap, or NET_NOT_IN_HEAP */
	struct net_watch *watches;  /* owned */
	net_try_complete_fn try_complete;
	void *ctx;                  /* owned: released with free_ctx */
	void (*free_ctx)(void *ctx);
	bool done;                  /* completed or cancelled */
	struct net_delayed *next_dead; /* srv->graveyard */
};

/* A periodic callback (net_every), or a one-shot (net_at: period 0). */
struct net_timer {
	int64_t period_ms, next_ms;
	struct net_callback cb;
};

/* ---- Prototypes of static helpers ---- */

static void op_try(struct net_delayed *op, bool expired);
static void op_complete(struct net_delayed *op);
static void op_unwatch(struct net_delayed *op);
static void free_graveyard(struct net_server *srv);
static size_t watch_bucket(const void *key);
static int heap_push(struct net_server *srv, struct net_delayed *op);
static void heap_remove(struct net_server *srv, struct net_delayed *op);
static void heap_fix(struct net_server *srv, size_t i);

/* ---- Purgatory: delayed operations ---- */

/* Move the response the handler is writing into a new op, mute the
 * connection (INVARIANT 2) and arm the deadline (INVARIANT 1). */
int net_park(struct net_request *req, struct net_response *resp,
	     const struct net_wait *w, struct net_delayed **out)
{
	struct net_conn *c = req->conn;
	struct net_delayed *op = NULL;
	bool ok = !c->closing && !c->parked && c->dispatching &&
		  &c->dispatching->resp == resp && w->try_complete;
	if (ok)
		op = calloc(1, sizeof *op);
	if (op) {
		*op = (struct net_delayed){req->srv, c, *req, c->dispatching,
					   w->deadline_ms, NET_NOT_IN_HEAP,
					   NULL, w->try_complete, w->ctx,
					   w->free_ctx, false, NULL};
	}
	if (!op || heap_push(req->srv, op) != KB_OK) {
		free(op);
		if (w->free_ctx) /* takes: ctx, even on failure */
			w->free_ctx(w->ctx);
		return ok ? KB_ERR_NOMEM : KB_ERR_INVAL;
	}
	c->dispatching = NULL; /* the op owns the response now */
	c->parked = op;
	if (out)
		*out = op;
	return KB_OK;
}

/* Watch key for op (once per key). */
int net_watch(struct net_delayed *op, const void *key)
{
	if (op->done)
		return KB_ERR_INVAL;
	for (struct net_watch *w = op->watches; w; w = w->op_next)
		if (w->key == key)
			return KB_OK;
	struct net_watch *w = calloc(1, sizeof *w);
	if (!w)
		return KB_ERR_NOMEM;
	struct net_watch **bucket = &op->srv->watch[watch_bucket(key)];
	*w = (struct net_watch){key, op, NULL, *bucket, op->watches};
	if (*bucket)
		(*bucket)->prev = w;
	*bucket = w;
	op->watches = w;
	return KB_OK;
}

/* KAFKA: checkAndComplete(key). The watchers are copied first, because
 * completing one unlinks its watches; ops that end meanwhile are freed
 * only after the outermost net_wake returns (INVARIANT 4). */
void net_wake(struct net_server *srv, const void *key)
{
	size_t n = 0, b = watch_bucket(key);
	for (struct net_watch *w = srv->watch[b]; w; w = w->next)
		n += w->key == key;
	if (n == 0)
		return;
	struct net_delayed **ops = malloc(n * sizeof *ops);
	if (!ops) {
		KB_ERROR("net_wake: out of memory; waiters wait for deadlines");
		return;
	}
	n = 0;
	for (struct net_watch *w = srv->watch[b]; w; w = w->next)
		if (w->key == key)
			ops[n++] = w->op;
	srv->wake_depth++;
	for (size_t i = 0; i < n; i++)
		if (!ops[i]->done)
			op_try(ops[i], false);
	free(ops);
	if (--srv->wake_depth == 0)
		free_graveyard(srv);
}

void *net_delayed_ctx(const struct net_delayed *op) { return op->ctx; }

/* Every op whose deadline has passed gets its last try. */
void net_expire_delayed(struct net_server *srv, int64_t now_ms)
{
	while (srv->heap_len && srv->heap[0]->deadline_ms <= now_ms)
		op_try(srv->heap[0], true); /* ends it: leaves the heap */
}

/* Ask op to finish; at its deadline it must. */
static void op_try(struct net_delayed *op, bool expired)
{
	if (op->try_complete(op, &op->out->resp, expired)) {
		op_complete(op);
		return;
	}
	if (expired) {
		KB_ERROR("closing %s: delayed %s not completed at its deadline",
			 op->conn->peer, wire_api_name(op->req.header.api_key));
		op->conn->failed = true;
		net_conn_mark_ready(op->conn);
		net_delayed_finish(op); /* leaves the heap: no second try */
	}
}

/* Queue the op's response and unmute its connection; the reactor sends
 * it and handles the next buffered request (process_ready). */
static void op_complete(struct net_delayed *op)
{
	struct net_conn *c = op->conn;
	struct net_out *out = op->out;
	op->out = NULL;
	c->parked = NULL;
	if (net_conn_queue_response(c, &op->req, out) != KB_OK)
		c->failed = true;
	net_delayed_finish(op);
	net_conn_mark_ready(c);
}

/* Queue c for the reactor's process_ready at the end of this turn. The
 * list is the reactor's; it is here because the purgatory, below the
 * reactor, is what makes a muted connection ready again. */
void net_conn_mark_ready(struct net_conn *c)
{
	if (c->ready || c->closing)
		return;
	c->ready = true;
	c->ready_next = c->srv->ready;
	c->srv->ready = c;
}

/* End op (completed, or cancelled by conn_close): out of the heap and
 * the watch map, context released, memory freed now or after net_wake.
 * INVARIANT 1: done makes a second end impossible. */
void net_delayed_finish(struct net_delayed *op)
{
	struct net_server *srv = op->srv;
	op->done = true;
	heap_remove(srv, op);
	op_unwatch(op);
	if (op->conn->parked == op)
		op->conn->parked = NULL;
	if (op->out)
		net_out_free(op->out);
	if (op->free_ctx)
		op->free_ctx(op->ctx);
	op->out = NULL;
	op->free_ctx = NULL;
	if (srv->wake_depth > 0) {
		op->next_dead = srv->graveyard;
		srv->graveyard = op;
	} else {
		free(op);
	}
}

/* Unlink each of op's watches from its bucket chain and free it. */
static void op_unwatch(struct net_delayed *op)
{
	struct net_server *srv = op->srv;
	while (op->watches) {
		struct net_watch *w = op->watches;
		op->watches = w->op_next;
		if (w->prev)
			w->prev->next = w->next;
		else
			srv->watch[watch_bucket(w->key)] = w->next;
		if (w->next)
			w->next->prev = w->prev;
		free(w);
	}
}

/* The ops that ended during a wake, now that no wake holds them. */
static void free_graveyard(struct net_server *srv)
{
	while (srv->graveyard) {
		struct net_delayed *op = srv->graveyard;
		srv->graveyard = op->next_dead;
		free(op);
	}
}

/* Fibonacci hashing of the pointer onto NET_WATCH_BUCKETS. */
static size_t watch_bucket(const void *key)
{
	uint64_t h = (uint64_t)(uintptr_t)key * UINT64_C(0x9E3779B97F4A7C15);
	return (size_t)(h >> NET_WATCH_HASH_SHIFT);
}

/* ---- Purgatory: the deadline heap ---- */

/* A binary min-heap: the earliest deadline sits at heap[0] and each op
 * knows its index, so removing a completed op is O(log n). */
static int heap_push(struct net_server *srv, struct net_delayed *op)
{
	if (srv->heap_len == srv->heap_cap) {
		size_t cap = srv->heap_cap ? 2 * srv->heap_cap : NET_HEAP_MIN_CAP;
		void *p = realloc(srv->heap, cap * sizeof *srv->heap);
		if (!p)
			return KB_ERR_NOMEM;
		srv->heap = p;
		srv->heap_cap = cap;
	}
	op->heap_idx = srv->heap_len;
	srv->heap[srv->heap_len++] = op;
	heap_fix(srv, op->heap_idx);
	return KB_OK;
}

/* The last op fills the hole; heap_fix moves it where it belongs. */
static void heap_remove(struct net_server *srv, struct net_delayed *op)
{
	size_t i = op->heap_idx;
	if (i == NET_NOT_IN_HEAP)
		return;
	op->heap_idx = NET_NOT_IN_HEAP;
	struct net_delayed *last = srv->heap[--srv->heap_len];
	if (i < srv->heap_len) {
		srv->heap[i] = last;
		last->heap_idx = i;
		heap_fix(srv, i);
	}
}

/* Move the op at i up while its parent is later, or else down while a
 * child is earlier, until the heap order holds again (INVARIANT 3). */
static void heap_fix(struct net_server *srv, size_t i)
{
	struct net_delayed **h = srv->heap;
	for (;;) {
		size_t m = i, l = 2 * i + 1, r = 2 * i + 2;
		if (i > 0 && h[(i - 1) / 2]->deadline_ms > h[i]->deadline_ms) {
			m = (i - 1) / 2;
		} else {
			if (l < srv->heap_len && h[l]->deadline_ms < h[m]->deadline_ms)
				m = l;
			if (r < srv->heap_len && h[r]->deadline_ms < h[m]->deadline_ms)
				m = r;
		}
		if (m == i)
			return;
		struct net_delayed *t = h[i];
		h[i] = h[m];
		h[m] = t;
		h[i]->heap_idx = i;
		h[m]->heap_idx = m;
		i = m;
	}
}

/* ---- Timers ---- */

int net_every(struct net_server *srv, int64_t period_ms,
	      struct net_callback cb)
{
	if (period_ms <= 0 || !cb.fn)
		return KB_ERR_INVAL;
	void *p = realloc(srv->timers, (srv->ntimers + 1) * sizeof *srv->timers);
	if (!p)
		return KB_ERR_NOMEM;
	srv->timers = p;
	srv->timers[srv->ntimers++] =
		(struct net_timer){period_ms, kb_mono_ms() + period_ms, cb};
	return KB_OK;
}

/* A one-shot timer is a net_timer with period 0, disarmed (next_ms
 * INT64_MAX) while it waits for its next net_at. */
int net_at(struct net_server *srv, int64_t at_ms, struct net_callback cb)
{
	for (size_t i = 0; i < srv->ntimers; i++) {
		struct net_timer *t = &srv->timers[i];
		if (t->period_ms == 0 && t->cb.fn == cb.fn &&
		    t->cb.ctx == cb.ctx) {
			t->next_ms = at_ms;
			return KB_OK;
		}
	}
	void *p = realloc(srv->timers, (srv->ntimers + 1) * sizeof *srv->timers);
	if (!p)
		return KB_ERR_NOMEM;
	srv->timers = p;
	srv->timers[srv->ntimers++] = (struct net_timer){0, at_ms, cb};
	return KB_OK;
}

/* Run due timers. INVARIANT 5: a late timer runs once, not once per
 * missed period; a one-shot (net_at) is disarmed before it runs, so it
 * may arm itself again. fn may call net_every or net_at (realloc), so t
 * is not used after the call. */
void net_run_timers(struct net_server *srv, int64_t now_ms)
{
	for (size_t i = 0; i < srv->ntimers; i++) {
		struct net_timer *t = &srv->timers[i];
		if (t->next_ms > now_ms)
			continue;
		t->next_ms = t->period_ms == 0 ? INT64_MAX :
					       t->next_ms + t->period_ms;
		if (t->next_ms <= now_ms)
			t->next_ms = now_ms + t->period_ms;
		t->cb.fn(t->cb.ctx, now_ms);
	}
}

/* What the reactor may sleep until: timers need no thread. */
int64_t net_next_wakeup_ms(const struct net_server *srv)
{
	int64_t next = INT64_MAX;
	for (size_t i = 0; i < srv->ntimers; i++)
		next = KB_MIN(next, srv->timers[i].next_ms);
	if (srv->heap_len)
		next = KB_MIN(next, srv->heap[0]->deadline_ms);
	return next;
}

/* ---- Checks ---- */

/* INVARIANT 1-3: every op in the heap is live, knows its index, sits no
 * earlier than its parent, and mutes its connection. */
void net_purgatory_check(const struct net_server *srv)
{
	for (size_t i = 0; i < srv->heap_len; i++) {
		const struct net_delayed *op = srv->heap[i];
		assert(op->heap_idx == i && !op->done);
		assert(i == 0 || srv->heap[(i - 1) / 2]->deadline_ms <=
					 op->deadline_ms);
		assert(op->conn->parked == op && op->out);
		(void)op;
	}
	for (size_t b = 0; b < NET_WATCH_BUCKETS; b++)
		for (const struct net_watch *w = srv->watch[b]; w; w = w->next)
			assert(!w->op->done && watch_bucket(w->key) == b);
	assert(srv->wake_depth > 0 || !srv->graveyard);
}

/* ---- Teardown ---- */

/* Called by net_server_free once every connection (and so every op)
 * is gone. */
void net_purgatory_fini(struct net_server *srv)
{
	free(srv->heap);
	free(srv->timers);
	srv->heap = NULL;
	srv->timers = NULL;
	srv->heap_len = srv->heap_cap = srv->ntimers = 0;
}
