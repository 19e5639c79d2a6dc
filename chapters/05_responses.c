/* SPDX-License-Identifier: MIT */
/*
 * Chapter 05, first file — responses: getting the answers out.
 *
 * Concept: a handler's answer is bytes in memory and, for a Fetch, mostly
 *   byte ranges of segment files. Each finished response is queued behind
 *   the earlier ones of its connection and sent as fast as the socket
 *   takes it: memory with writev(2), file ranges with sendfile(2), so
 *   record batches go from the page cache to the socket without a copy.
 * Kafka: a Send (NetworkSend; FileRecords.writeTo with transferTo, i.e.
 *   sendfile, on PLAINTEXT) written as the channel takes it;
 *   kafka.request.logger's DEBUG line per completed request.
 * Interface:
 *   - A handler writes the body with resp->w and may call
 *     net_response_add_file between writes (count arrays up front: a
 *     wire_write_array_end that inserts bytes would move file positions).
 *   - The purgatory and the reactor (the files above this one) queue a
 *     finished response with net_conn_queue_response and send with
 *     net_conn_flush; a failure is returned, and they close the connection.
 *   - net_conn_output_full says when the reactor must stop reading.
 *   - Before it acts, a handler may ask net_authorized (chapter 12
 *     installs the answer with net_set_authorizer; none: yes; the
 *     CONTROLLER listener is never checked); net_request_principal
 *     (05_server.c) is User:ANONYMOUS unless a transport set one (chapter
 *     13's TLS: the client certificate's subject).
 *   - Reactor thread only; nothing takes a lock.
 * Invariants:
 *   1. A response's size prefix equals the bytes after it; a file range
 *      that comes up short closes the connection, never a short frame.
 *   2. Bytes leave in queue order, one whole response after another.
 *   3. c->out_bytes and c->out_fds are the unsent bytes and the dup'd
 *      descriptors of c's queue (net_conn_out_check).
 *   4. A response holds at most NET_RESPONSE_MAX_FILES descriptors; more
 *      ranges, or a descriptor table that is full, are copied into memory.
 * States of a response (struct net_out): BUILDING (net_out_new)
 *   --net_conn_queue_response--> QUEUED --conn_advance--> SENT
 *   --net_conn_pop--> freed; any --net_conn_pop on close--> freed unsent.
 * Simplifications: a transport without sendfile (chapter 13's TLS) copies
 *   file ranges through one NET_COPY_CHUNK bounce buffer; one before-send
 *   hook, not a list.
 * See also: docs/05_responses.md, diagrams/05_responses.dot,
 *   tests/05_server_test.c; read next: 05_purgatory.c, 05_limits.c,
 *   05_server.c.
 *   Uses chapters 00 (base), 04 (codec).
 */
#include <assert.h>
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
static int response_copy_file(struct net_response *resp, int fd,
			      uint64_t offset, uint64_t length);
static uint64_t out_unsent(const struct net_out *o);

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
 * caught when sendfile(2) comes up short. INVARIANT 4: past
 * NET_RESPONSE_MAX_FILES ranges, or with no descriptor left to dup, the
 * bytes are copied into the response instead: one Fetch for a thousand
 * partitions cannot pin a thousand descriptors. */
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
	if (resp->nfiles >= NET_RESPONSE_MAX_FILES)
		return response_copy_file(resp, fd, offset, length);
	if (resp->nfiles == resp->files_cap) {
		size_t cap = resp->files_cap ? 2 * resp->files_cap : 4;
		void *p = realloc(resp->files, cap * sizeof *resp->files);
		if (!p)
			return KB_ERR_NOMEM;
		resp->files = p;
		resp->files_cap = cap;
	}
	int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0 && (errno == EMFILE || errno == ENFILE))
		return response_copy_file(resp, fd, offset, length);
	if (dup_fd < 0) {
		KB_ERROR("dup of fd %d: %s", fd, strerror(errno));
		return KB_ERR_IO;
	}
	resp->files[resp->nfiles++] =
		(struct net_file_part){resp->mem.len, dup_fd, offset, length};
	resp->file_bytes += length;
	return KB_OK;
}

/* The bytes of a file range, read into the response's memory now (they
 * then count as memory bytes, not file bytes). */
static int response_copy_file(struct net_response *resp, int fd,
			      uint64_t offset, uint64_t length)
{
	if (length > INT32_MAX - resp->mem.len)
		return KB_ERR_TOO_LARGE;
	int rc = kb_buf_reserve(&resp->mem, (size_t)length);
	if (rc != KB_OK)
		return rc;
	uint8_t *to = resp->mem.data + resp->mem.len;
	for (uint64_t got = 0; got < length;) {
		ssize_t n = pread(fd, to + got, (size_t)(length - got),
				  (off_t)(offset + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? KB_ERR_RANGE : KB_ERR_IO;
		got += (uint64_t)n;
	}
	resp->mem.len += (size_t)length;
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
			 req ? wire_api_name(req->header.api_key) : "raw",
			 kb_status_name(rc));
		net_out_free(out);
		return rc;
	}
	kb_put_be32(r->mem.data, (uint32_t)total); /* INVARIANT 1 */
	if (c->out_tail)
		c->out_tail->next = out;
	else
		c->out_head = out;
	c->out_tail = out;
	c->out_bytes += WIRE_SIZE_PREFIX + total; /* INVARIANT 3 */
	c->out_fds += r->nfiles;
	if (req) /* NULL: a bare frame (net_conn_send_frame), no request */
		net_log_request(req, WIRE_SIZE_PREFIX + total);
	return KB_OK;
}

/* The output cap (05_server.c, Invariant 5): too many unsent bytes, or
 * too many descriptors held for them, and the reactor stops reading c. */
bool net_conn_output_full(const struct net_conn *c)
{
	return c->out_bytes >= NET_BACKPRESSURE_BYTES ||
	       c->out_fds >= NET_BACKPRESSURE_FDS;
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

/* ---- Who is asking ---- */

void net_set_authorizer(struct net_server *srv, net_authorize_fn fn, void *ctx)
{
	srv->authorize = fn;
	srv->authorize_ctx = ctx;
}

bool net_authorizer_on(const struct net_server *srv)
{
	return srv && srv->authorize;
}

/* KAFKA: requests on the controller listener come from the quorum's own
 * nodes (ControllerApis checks CLUSTER_ACTION with the inter-broker
 * principal); samsa keeps that listener cluster-internal and unchecked. */
bool net_authorized(const struct net_request *req, int8_t operation,
		    int8_t resource_type, const char *name, size_t len)
{
	const struct net_server *srv = req->srv;
	if (!srv || !srv->authorize || req->listener == NET_LISTENER_CONTROLLER)
		return true;
	return srv->authorize(srv->authorize_ctx, req, operation, resource_type,
			      name, len);
}

bool net_authorized_cluster(const struct net_request *req, int8_t operation)
{
	return net_authorized(req, operation, NET_RESOURCE_CLUSTER,
			      NET_CLUSTER_NAME, strlen(NET_CLUSTER_NAME));
}

/* Send as much of the queue as the socket takes: memory with writev,
 * file ranges with sendfile. A full socket leaves the rest for EPOLLOUT.
 * First the before-send hook (even with nothing to send: acks=0 appends
 * too). KB_ERR_IO (logged) when c must be closed: the caller closes it,
 * as this file knows nothing of the reactor above it. */
int net_conn_flush(struct net_conn *c)
{
	struct net_server *srv = c->srv;
	if (srv->before_send &&
	    srv->before_send(srv->before_send_ctx) != KB_OK) {
		KB_ERROR("closing %s: its answers cannot be sent (the data "
			 "they acknowledge is not durable)", c->peer);
		return KB_ERR_IO;
	}
	while (c->out_head) {
		struct net_out *o = c->out_head;
		if (out_settle(o)) {
			net_conn_pop(c);
			continue;
		}
		ssize_t n = o->piece % 2 ? conn_send_file(c, o) : conn_send_mem(c);
		if (n == 0)
			break; /* socket full: EPOLLOUT brings us back */
		if (n < 0)
			return KB_ERR_IO;
		conn_advance(c, (uint64_t)n);
	}
	return KB_OK;
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
}

/* Free the response at the head of c's queue: sent, or never to be. */
void net_conn_pop(struct net_conn *c)
{
	struct net_out *o = c->out_head;
	c->out_head = o->next;
	if (!c->out_head)
		c->out_tail = NULL;
	c->out_bytes -= out_unsent(o); /* all of it when dropped unsent */
	c->out_fds -= o->resp.nfiles;
	net_out_free(o);
}

/* ---- Checks ---- */

/* Bytes of o not yet sent: all of it, less the pieces before o->piece and
 * o->piece_off of the current one. */
static uint64_t out_unsent(const struct net_out *o)
{
	uint64_t left = o->resp.mem.len + o->resp.file_bytes;
	for (size_t p = 0; p < o->piece; p++)
		left -= out_piece_len(o, p, NULL);
	return left - (o->piece < 2 * o->resp.nfiles + 1 ? o->piece_off : 0);
}

/* INVARIANT 3: the counters match the queue, item by item. */
void net_conn_out_check(const struct net_conn *c)
{
	uint64_t bytes = 0, fds = 0;
	for (const struct net_out *o = c->out_head; o; o = o->next) {
		assert(o->next || o == c->out_tail);
		assert(o->resp.nfiles <= NET_RESPONSE_MAX_FILES); /* INVARIANT 4 */
		bytes += out_unsent(o);
		fds += o->resp.nfiles;
	}
	assert(bytes == c->out_bytes);
	assert(fds == c->out_fds);
	(void)bytes;
	(void)fds;
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
