/* SPDX-License-Identifier: MIT */
/*
 * Chapter 05, third file — responses: getting the answers out.
 *
 * Concept: a handler's answer is bytes in memory and, for a Fetch,
 *   mostly byte ranges of segment files. This file queues each finished
 *   response behind the earlier ones of its connection, patches its size
 *   prefix, and sends the queue as fast as the socket takes it: memory
 *   with writev(2), file ranges with sendfile(2), so record batches go
 *   from the page cache to the socket without a copy through the broker.
 *   A socket that takes only part of it leaves the rest for EPOLLOUT;
 *   output that piles up makes the reactor (05_server.c) stop reading
 *   that connection until it drains.
 * Kafka: a response is a Send (NetworkSend; a Fetch's records go as
 *   FileRecords.writeTo with FileChannel.transferTo, i.e. sendfile, on
 *   PLAINTEXT and as a copy on SSL) that the Processor writes as the
 *   channel takes it. kafka.request.logger writes one DEBUG line per
 *   completed request.
 * Interface:
 *   - A handler writes the body with resp->w and may call
 *     net_response_add_file between writes: the range goes out at the
 *     current position, from a dup of the fd.
 *   - Between net_response_add_file calls, count arrays up front: a
 *     wire_write_array_end that inserts bytes would move file positions.
 *   - The reactor (05_server.c) and the purgatory (05_purgatory.c) hand a
 *     finished response to net_conn_queue_response, then call
 *     net_conn_flush; EPOLLOUT calls net_conn_flush again.
 *   - net_set_before_send installs the one hook net_conn_flush runs
 *     before it writes anything.
 *   - Everything here runs on the reactor thread; nothing takes a lock.
 * Invariants:
 *   1. A response's size prefix equals the bytes after it (memory bytes
 *      - 4 + file bytes); a file range that comes up short closes the
 *      connection instead of sending a short frame.
 *   2. Bytes leave in queue order: a response's pieces one after the
 *      other, and no byte of a response before the whole of the one
 *      ahead of it (05_server.c, Invariant 1 rests on this).
 *   3. c->out_bytes is the number of queued bytes not yet sent. When it
 *      drains below NET_BACKPRESSURE_BYTES, the connection is put on the
 *      ready list (the resume half of 05_server.c, Invariant 5).
 * States of a response (struct net_out): it is sent as pieces, even
 *   piece 2k the memory before file range k, odd piece 2k+1 file range k.
 *   BUILDING (net_out_new) --net_conn_queue_response--> QUEUED
 *   --conn_advance, out_settle (piece by piece)--> SENT --net_conn_pop-->
 *   freed; any state --net_conn_pop from conn_close--> freed unsent.
 * Simplifications:
 *   - A transport that cannot sendfile (chapter 13's TLS) copies a file
 *     range through one NET_COPY_CHUNK bounce buffer: a pread, then a
 *     write, per call (no kTLS, no splice).
 *   - One before-send hook, not a list of them; chapter 06 is its only
 *     user.
 * See also: docs/05_responses.md, diagrams/05_responses.dot,
 *   tests/05_server_test.c (the "Files with sendfile" and "Order,
 *   parking, deadlines" tests); chapters/05_server.c (the reactor that
 *   calls net_conn_flush) and chapters/05_server_internal.h (what the
 *   three files share); uses chapters 00 (base) and 04 (codec).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "00_base.h"
#include "04_codec.h"
#include "05_server.h"
#include "05_server_internal.h"

/* ---- Constants ---- */

#define NET_IOV_MAX 64           /* iovecs gathered into one writev(2) */
#define NET_COPY_CHUNK (64 * 1024) /* bounce buffer when no sendfile(2) */
#define NET_SENDFILE_MAX (1u << 30) /* bytes asked of one sendfile(2) */

/* ---- Data structures ----
 *
 * struct net_out and struct net_conn are in 05_server_internal.h: the
 * reactor and the purgatory touch them too. */

/* ---- Prototypes of static helpers ---- */

static ssize_t conn_send_mem(struct net_conn *c);
static ssize_t conn_send_file(struct net_conn *c, struct net_out *o);
static ssize_t conn_copy_file(struct net_conn *c, int fd, off_t pos,
			      size_t len);
static uint64_t out_piece_len(const struct net_out *o, size_t p,
			      size_t *mem_from);
static bool out_settle(struct net_out *o);
static void conn_advance(struct net_conn *c, uint64_t n);

/* ---- Building a response ---- */

/* returns owned (net_out_free): a response holding a zero size prefix, to be
 * patched in net_conn_queue_response, and the response header for h. */
struct net_out *net_out_new(const struct wire_request_header *h)
{
	struct net_out *o = calloc(1, sizeof *o);
	if (!o)
		return NULL;
	kb_buf_init(&o->resp.mem);
	wire_writer_init(&o->resp.w, &o->resp.mem, false);
	wire_reserve_i32(&o->resp.w);
	wire_write_response_header(&o->resp.w, h);
	return o;
}

/* The range is checked against the file now; a truncation later is
 * caught when sendfile(2) comes up short. */
int net_response_add_file(struct net_response *resp, int fd, uint64_t offset,
			  uint64_t length)
{
	struct stat st;
	if (length == 0)
		return KB_OK;
	if (fstat(fd, &st) != 0)
		return KB_ERR_IO;
	if (offset > (uint64_t)st.st_size || length > (uint64_t)st.st_size - offset)
		return KB_ERR_RANGE;
	if (length > INT32_MAX - resp->file_bytes)
		return KB_ERR_TOO_LARGE;
	if (resp->nfiles == resp->files_cap) {
		size_t cap = resp->files_cap ? 2 * resp->files_cap : 4;
		void *p = realloc(resp->files, cap * sizeof *resp->files);
		if (!p)
			return KB_ERR_NOMEM;
		resp->files = p;
		resp->files_cap = cap;
	}
	int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0) {
		KB_ERROR("dup of fd %d: %s", fd, strerror(errno));
		return KB_ERR_IO;
	}
	resp->files[resp->nfiles++] =
		(struct net_file_part){resp->mem.len, dup_fd, offset, length};
	resp->file_bytes += length;
	return KB_OK;
}

/* ---- Queueing ---- */

/* Patch the size prefix and queue out behind earlier responses. takes:
 * out (freed here on failure). */
int net_conn_queue_response(struct net_conn *c, const struct net_request *req,
			    struct net_out *out)
{
	struct net_response *r = &out->resp;
	uint64_t total = r->mem.len - WIRE_SIZE_PREFIX + r->file_bytes;
	int rc = wire_writer_status(&r->w);
	if (rc == KB_OK && total > INT32_MAX)
		rc = KB_ERR_TOO_LARGE;
	if (rc != KB_OK) {
		KB_ERROR("closing %s: %s response not sendable: %s", c->peer,
			 wire_api_name(req->header.api_key), kb_status_name(rc));
		net_out_free(out);
		return rc;
	}
	kb_put_be32(r->mem.data, (uint32_t)total); /* INVARIANT 1 */
	if (c->out_tail)
		c->out_tail->next = out;
	else
		c->out_head = out;
	c->out_tail = out;
	c->out_bytes += WIRE_SIZE_PREFIX + total;
	net_log_request(req, WIRE_SIZE_PREFIX + total);
	return KB_OK;
}

/* KAFKA: kafka.request.logger at DEBUG: one line per completed request. */
void net_log_request(const struct net_request *req, uint64_t out_bytes)
{
	struct wire_str id = req->header.client_id;
	KB_DEBUG("request %s v%d corr %d client %.*s from %s: %zu bytes in, "
		 "%llu bytes out, %lld us", wire_api_name(req->header.api_key),
		 req->header.api_version, req->header.correlation_id,
		 id.len > 0 ? (int)id.len : 0, id.len > 0 ? id.p : "",
		 req->conn->peer, req->body.len + WIRE_SIZE_PREFIX,
		 (unsigned long long)out_bytes,
		 (long long)((kb_mono_ns() - req->received_ns) / 1000));
}

/* ---- Sending: writev and sendfile ---- */

/* One hook per server; NULL removes it. borrows: ctx. */
void net_set_before_send(struct net_server *srv, int (*fn)(void *ctx),
			 void *ctx)
{
	srv->before_send = fn;
	srv->before_send_ctx = ctx;
}

/* Send as much of the queue as the socket takes: memory with writev,
 * file ranges with sendfile. A full socket leaves EPOLLOUT on. First the
 * before-send hook (even with nothing to send: acks=0 appends too). */
void net_conn_flush(struct net_conn *c)
{
	struct net_server *srv = c->srv;
	if (srv->before_send &&
	    srv->before_send(srv->before_send_ctx) != KB_OK) {
		KB_ERROR("closing %s: its answers cannot be sent (the data "
			 "they acknowledge is not durable)", c->peer);
		net_conn_close(c);
		return;
	}
	while (!c->closing && c->out_head) {
		struct net_out *o = c->out_head;
		if (out_settle(o)) {
			net_conn_pop(c);
			continue;
		}
		ssize_t n = o->piece % 2 ? conn_send_file(c, o) : conn_send_mem(c);
		if (n == 0)
			break; /* socket full: EPOLLOUT brings us back */
		if (n < 0) {
			net_conn_close(c);
			return;
		}
		conn_advance(c, (uint64_t)n);
	}
	net_conn_update_events(c);
}

/* One writev: the current memory piece of the head response and of
 * the responses after it, up to the first file range (INVARIANT 2: in
 * queue order). Returns bytes sent, 0 when the socket is full, -1
 * (logged) on a fatal error. */
static ssize_t conn_send_mem(struct net_conn *c)
{
	struct iovec iov[NET_IOV_MAX];
	int n = 0;
	for (struct net_out *o = c->out_head; o && n < NET_IOV_MAX; o = o->next) {
		size_t from = 0; /* o->piece: even here; 0 after the head */
		uint64_t len = out_piece_len(o, o->piece, &from);
		iov[n++] = (struct iovec){o->resp.mem.data + from + o->piece_off,
					  (size_t)(len - o->piece_off)};
		if (o->piece < 2 * o->resp.nfiles)
			break; /* a file range follows: sendfile's turn */
	}
	ssize_t sent = c->tp->writev(c, iov, n);
	if (sent >= 0)
		return sent;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return 0;
	KB_DEBUG("closing %s: write: %s", c->peer, strerror(errno));
	return -1;
}

/* The file range at the head: sendfile(2) from the dup'd fd on
 * plaintext (zero copy), a bounce buffer otherwise. INVARIANT 1: end of
 * file before the range is done closes the connection. */
static ssize_t conn_send_file(struct net_conn *c, struct net_out *o)
{
	const struct net_file_part *f = &o->resp.files[o->piece / 2];
	uint64_t left = f->length - o->piece_off;
	off_t pos = (off_t)(f->offset + o->piece_off);
	size_t len = (size_t)KB_MIN(left, NET_SENDFILE_MAX);
	ssize_t n = c->tp->can_sendfile ? sendfile(c->src.fd, f->fd, &pos, len)
					: conn_copy_file(c, f->fd, pos, len);
	if (n > 0)
		return n;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (n == 0)
		KB_WARN("closing %s: file range ended %llu bytes early "
			"(truncated?)", c->peer, (unsigned long long)left);
	else
		KB_DEBUG("closing %s: sendfile: %s", c->peer, strerror(errno));
	return -1;
}

/* For transports that must see the bytes (TLS): pread, then writev.
 * Returns what was written; 0 at end of file. */
static ssize_t conn_copy_file(struct net_conn *c, int fd, off_t pos,
			      size_t len)
{
	uint8_t buf[NET_COPY_CHUNK];
	ssize_t got = pread(fd, buf, KB_MIN(len, sizeof buf), pos);
	if (got <= 0)
		return got;
	struct iovec iov = {buf, (size_t)got};
	return c->tp->writev(c, &iov, 1);
}

/* ---- Progress through the pieces ---- */

/* Length of piece p; for a memory piece, *mem_from is where it starts. */
static uint64_t out_piece_len(const struct net_out *o, size_t p,
			      size_t *mem_from)
{
	const struct net_response *r = &o->resp;
	if (p % 2)
		return r->files[p / 2].length;
	size_t k = p / 2;
	size_t from = k ? r->files[k - 1].at : 0;
	size_t to = k < r->nfiles ? r->files[k].at : r->mem.len;
	if (mem_from)
		*mem_from = from;
	return to - from;
}

/* Step over finished pieces; true once the whole response is sent. */
static bool out_settle(struct net_out *o)
{
	size_t pieces = 2 * o->resp.nfiles + 1;
	while (o->piece < pieces &&
	       o->piece_off == out_piece_len(o, o->piece, NULL)) {
		o->piece++;
		o->piece_off = 0;
	}
	return o->piece == pieces;
}

/* n bytes left the socket: move through pieces and responses. */
static void conn_advance(struct net_conn *c, uint64_t n)
{
	bool was_full = c->out_bytes >= NET_BACKPRESSURE_BYTES;
	c->out_bytes -= n;
	c->last_active_ms = kb_mono_ms();
	while (n > 0 && c->out_head) {
		struct net_out *o = c->out_head;
		if (out_settle(o)) {
			net_conn_pop(c);
			continue;
		}
		uint64_t take = KB_MIN(n, out_piece_len(o, o->piece, NULL) -
					       o->piece_off);
		o->piece_off += take;
		n -= take;
	}
	/* INVARIANT 3: drained below the limit, its buffered requests run. */
	if (was_full && c->out_bytes < NET_BACKPRESSURE_BYTES)
		net_conn_mark_ready(c);
}

/* Free the response at the head of c's queue: sent, or never to be. */
void net_conn_pop(struct net_conn *c)
{
	struct net_out *o = c->out_head;
	c->out_head = o->next;
	if (!c->out_head)
		c->out_tail = NULL;
	net_out_free(o);
}

/* ---- Teardown ---- */

/* Close the response's dup'd file fds, free its memory and itself. */
void net_out_free(struct net_out *o)
{
	for (size_t i = 0; i < o->resp.nfiles; i++)
		close(o->resp.files[i].fd);
	free(o->resp.files);
	kb_buf_fini(&o->resp.mem);
	free(o);
}
