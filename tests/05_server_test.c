/* SPDX-License-Identifier: MIT */
/*
 * Tests for chapter 05 (05_server.c, 05_purgatory.c, 05_responses.c).
 * Each test runs the reactor (net_run) in a background thread on
 * 127.0.0.1, port 0, and talks to it through plain blocking sockets,
 * byte by byte, as a client would. Expected responses
 * are written by hand from shared/kafka-protocol/messages/ (the JSON specs), never
 * produced by samsa's encoder.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "testutil.h"
#include "04_codec.h"
#include "05_server.h"
#include "05_server_internal.h" /* the output cap's constants */

/* ---- What the test handlers share with the test thread ---- */

struct tctx {
	atomic_int handled;   /* calls of the file handler */
	atomic_int available; /* "records" produced so far */
	atomic_int freed;     /* parked contexts released */
	atomic_int ticks;     /* net_every calls */
	atomic_int hooks;     /* before-send hook calls */
	atomic_int hook_rc;   /* what the before-send hook returns */
	int data_key;         /* &data_key: the key Fetch waits on */
	int file_fd;          /* set before the reactor starts */
	uint64_t off1, len1, off2, len2;
	long truncate_to;     /* >= 0: ftruncate the file after adding it */
	int repeat1;          /* > 0: add range 1 this many times */
};

struct fixture {
	struct net_server *srv;
	pthread_t thread;
	int port;
	int run_rc;
	struct tctx t;
	char *dir; /* a scratch dir, for file tests */
};

/* Metadata (key 3, v0-9): echo the body. */
static int h_echo(struct net_request *req, struct net_response *resp)
{
	size_t n = wire_remaining(&req->body);
	wire_write_raw(&resp->w, req->body.p + req->body.pos, n);
	return KB_OK;
}

/* Produce (key 0, v0-7): body i8 acks. One more record, wake the
 * waiters; acks 0 gets no response (KAFKA: Produce with acks=0). */
static int h_produce(struct net_request *req, struct net_response *resp)
{
	struct tctx *t = req->ctx;
	int8_t acks = wire_read_i8(&req->body);
	int avail = atomic_fetch_add(&t->available, 1) + 1;
	net_wake(req->srv, &t->data_key);
	if (acks == 0)
		return NET_NO_RESPONSE;
	wire_write_i32(&resp->w, avail);
	return KB_OK;
}

/* A parked Fetch: waits until available >= min. */
struct fetch_wait {
	struct tctx *t;
	int32_t min;
};

static bool fetch_try(struct net_delayed *op, struct net_response *resp,
		      bool expired)
{
	struct fetch_wait *fw = net_delayed_ctx(op);
	int avail = atomic_load(&fw->t->available);
	if (avail < fw->min && !expired)
		return false;
	wire_write_i8(&resp->w, expired);
	wire_write_i32(&resp->w, avail);
	return true;
}

static void fetch_free(void *p)
{
	struct fetch_wait *fw = p;
	atomic_fetch_add(&fw->t->freed, 1);
	free(fw);
}

/* Fetch (key 1, v4-12): body i32 wait_ms, i32 min. Answer now, or park. */
static int h_fetch(struct net_request *req, struct net_response *resp)
{
	struct tctx *t = req->ctx;
	int32_t wait_ms = wire_read_i32(&req->body);
	int32_t min = wire_read_i32(&req->body);
	if (wire_reader_status(&req->body) != KB_OK)
		return KB_ERR_PROTO;
	if (atomic_load(&t->available) >= min) {
		wire_write_i8(&resp->w, 0);
		wire_write_i32(&resp->w, atomic_load(&t->available));
		return KB_OK;
	}
	struct fetch_wait *fw = malloc(sizeof *fw);
	*fw = (struct fetch_wait){t, min};
	struct net_delayed *op;
	struct net_wait wait = {kb_mono_ms() + wait_ms, fetch_try, fw,
				fetch_free};
	if (net_park(req, resp, &wait, &op) != KB_OK ||
	    net_watch(op, &t->data_key) != KB_OK)
		return KB_ERR_PROTO;
	return NET_PARKED;
}

/* ListOffsets (key 2, v1-5): "AB" file[off1, len1) "|" file[off2, len2)
 * "CD", the file ranges spliced in with net_response_add_file. */
static int h_file(struct net_request *req, struct net_response *resp)
{
	struct tctx *t = req->ctx;
	atomic_fetch_add(&t->handled, 1);
	wire_write_raw(&resp->w, "AB", 2);
	for (int i = 0; i < KB_MAX(t->repeat1, 1); i++)
		if (net_response_add_file(resp, t->file_fd, t->off1, t->len1) !=
		    KB_OK)
			return KB_ERR_PROTO;
	wire_write_raw(&resp->w, "|", 1);
	if (net_response_add_file(resp, t->file_fd, t->off2, t->len2) != KB_OK)
		return KB_ERR_PROTO;
	wire_write_raw(&resp->w, "CD", 2);
	if (t->truncate_to >= 0 && ftruncate(t->file_fd, t->truncate_to) != 0)
		return KB_ERR_PROTO;
	return KB_OK;
}

/* CreateTopics (key 19, v2-7): always a malformed request. */
static int h_bad(struct net_request *req, struct net_response *resp)
{
	return KB_ERR_PROTO;
}

/* ListGroups (key 16, v0-4): the broker drops the client. */
static int h_close(struct net_request *req, struct net_response *resp)
{
	net_conn_close(req->conn);
	return NET_NO_RESPONSE;
}

static void tick(void *ctx, int64_t now_ms)
{
	struct tctx *t = ctx;
	atomic_fetch_add(&t->ticks, 1);
}

/* ---- Fixture: a server in a thread ---- */

static void *reactor_main(void *arg)
{
	struct fixture *f = arg;
	f->run_rc = net_run(f->srv);
	return NULL;
}

static void fx_new(struct fixture *f, const struct net_config *cfg)
{
	struct net_config def;
	net_config_defaults(&def);
	assert_int_equal(net_server_new(cfg ? cfg : &def, &f->srv), KB_OK);
	struct tctx *t = &f->t;
	const struct net_api apis[] = {
		{0, 0, 7, h_produce, t}, {1, 4, 12, h_fetch, t},
		{2, 1, 5, h_file, t},    {3, 0, 9, h_echo, t},
		{16, 0, 4, h_close, t},  {19, 2, 7, h_bad, t},
	};
	for (size_t i = 0; i < KB_ARRAY_LEN(apis); i++)
		assert_int_equal(net_register(f->srv, &apis[i]), KB_OK);
	assert_int_equal(net_listen(f->srv, "127.0.0.1", 0, &f->port), KB_OK);
	assert_true(f->port > 0);
}

static void fx_run(struct fixture *f)
{
	assert_int_equal(pthread_create(&f->thread, NULL, reactor_main, f), 0);
}

static void fx_start(struct fixture *f, const struct net_config *cfg)
{
	fx_new(f, cfg);
	fx_run(f);
}

/* Stop the reactor, join it, free everything the test started. */
static void fx_stop(struct fixture *f)
{
	net_stop(f->srv);
	assert_int_equal(pthread_join(f->thread, NULL), 0);
	assert_int_equal(f->run_rc, KB_OK);
	net_check(f->srv);
	net_server_free(f->srv);
	if (f->dir) {
		close(f->t.file_fd);
		tu_rmrf(f->dir);
	}
}

/* ---- A blocking client ---- */

static int tcp_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		assert_true(w > 0);
		b += w;
		n -= (size_t)w;
	}
}

/* true when all n bytes arrived before EOF, an error or the timeout. */
static bool recv_exact(int fd, void *p, size_t n)
{
	uint8_t *b = p;
	while (n > 0) {
		ssize_t r = recv(fd, b, n, 0);
		if (r <= 0)
			return false;
		b += r;
		n -= (size_t)r;
	}
	return true;
}

/* One response frame, size prefix included, into buf; its length. */
static size_t recv_frame(int fd, uint8_t *buf, size_t cap)
{
	assert_true(recv_exact(fd, buf, 4));
	uint32_t size = kb_get_be32(buf);
	assert_true(size + 4 <= cap);
	assert_true(recv_exact(fd, buf + 4, size));
	return size + 4;
}

/* The broker closed this connection: EOF (or a reset), not a timeout. */
static void expect_closed(int fd)
{
	uint8_t b[256];
	ssize_t r;
	while ((r = recv(fd, b, sizeof b, 0)) > 0)
		;
	assert_true(r == 0 || errno == ECONNRESET);
	close(fd);
}

/* Nothing arrives on fd for ms milliseconds. */
static void expect_silent(int fd, int ms)
{
	struct pollfd p = {fd, POLLIN, 0};
	assert_int_equal(poll(&p, 1, ms), 0);
}

/* A request frame with header v1, or v2 (an empty tag section after the
 * client id) for flexible versions: RequestHeader.json. Returns length. */
static size_t req_frame(uint8_t *buf, int16_t key, int16_t ver, int32_t corr,
			bool header_v2, const void *body, size_t body_len)
{
	const char *client = "tester";
	size_t n = 4;
	tu_be(buf + n, (uint16_t)key, 2), n += 2;
	tu_be(buf + n, (uint16_t)ver, 2), n += 2;
	tu_be(buf + n, (uint32_t)corr, 4), n += 4;
	tu_be(buf + n, strlen(client), 2), n += 2;
	memcpy(buf + n, client, strlen(client)), n += strlen(client);
	if (header_v2)
		buf[n++] = 0;
	if (body_len)
		memcpy(buf + n, body, body_len);
	n += body_len;
	tu_be(buf, n - 4, 4);
	return n;
}

/* Send Metadata v1 with body seq; true when the echo came back. */
static bool echo_roundtrip(int fd, int32_t corr, int32_t seq)
{
	uint8_t req[64], body[4], resp[64];
	tu_be(body, (uint32_t)seq, 4);
	size_t n = req_frame(req, 3, 1, corr, false, body, 4);
	if (send(fd, req, n, MSG_NOSIGNAL) != (ssize_t)n ||
	    !recv_exact(fd, resp, 12))
		return false;
	return kb_get_be32(resp) == 8 && kb_get_be32(resp + 4) == (uint32_t)corr &&
	       kb_get_be32(resp + 8) == (uint32_t)seq;
}

static void send_fetch(int fd, int32_t corr, int32_t wait_ms, int32_t min)
{
	uint8_t req[64], body[8];
	tu_be(body, (uint32_t)wait_ms, 4);
	tu_be(body + 4, (uint32_t)min, 4);
	send_all(fd, req, req_frame(req, 1, 4, corr, false, body, 8));
}

/* A Fetch response: corr, i8 expired, i32 available. */
static void expect_fetch(int fd, int32_t corr, int expired, int avail)
{
	uint8_t resp[64];
	assert_int_equal(recv_frame(fd, resp, sizeof resp), 4 + 9);
	assert_int_equal(kb_get_be32(resp + 4), corr);
	assert_int_equal(resp[8], expired);
	assert_int_equal(kb_get_be32(resp + 9), avail);
}

static void send_frame_raw(int fd, const uint8_t *p, size_t n) { send_all(fd, p, n); }

/* ---- ApiVersions, byte-exact ---- */

/* The registered table, as each version of ApiVersionsResponse.json
 * lays it out: (ApiKey, MinVersion, MaxVersion), sorted by key. */
static const uint8_t api_entries[7][6] = {
	{0x00, 0x00, 0x00, 0x00, 0x00, 0x07}, /* Produce 0-7 */
	{0x00, 0x01, 0x00, 0x04, 0x00, 0x0c}, /* Fetch 4-12 */
	{0x00, 0x02, 0x00, 0x01, 0x00, 0x05}, /* ListOffsets 1-5 */
	{0x00, 0x03, 0x00, 0x00, 0x00, 0x09}, /* Metadata 0-9 */
	{0x00, 0x10, 0x00, 0x00, 0x00, 0x04}, /* ListGroups 0-4 */
	{0x00, 0x12, 0x00, 0x00, 0x00, 0x04}, /* ApiVersions 0-4 */
	{0x00, 0x13, 0x00, 0x02, 0x00, 0x07}, /* CreateTopics 2-7 */
};

static void test_net_api_versions_v0_advertises_exactly_the_table(void **state)
{
	struct fixture f = {0};
	fx_start(&f, NULL);
	int fd = tcp_connect(f.port);
	/* kafka-python's probe: header v1, client id, empty body. */
	uint8_t req[64];
	send_all(fd, req, req_frame(req, 18, 0, 7, false, NULL, 0));
	/* Response header v0 (CorrelationId); body v0: ErrorCode, ApiKeys
	 * as int32 count + entries. Size = 4 + 2 + 4 + 7 * 6 = 52. */
	uint8_t want[56] = {0x00, 0x00, 0x00, 0x34, 0x00, 0x00, 0x00, 0x07,
			    0x00, 0x00, 0x00, 0x00, 0x00, 0x07};
	for (int i = 0; i < 7; i++)
		memcpy(want + 14 + 6 * i, api_entries[i], 6);
	uint8_t got[256];
	assert_int_equal(recv_frame(fd, got, sizeof got), sizeof want);
	assert_memory_equal(got, want, sizeof want);
	close(fd);
	fx_stop(&f);
}

static void test_net_api_versions_v2_adds_throttle_time(void **state)
{
	struct fixture f = {0};
	fx_start(&f, NULL);
	int fd = tcp_connect(f.port);
	uint8_t req[64];
	send_all(fd, req, req_frame(req, 18, 2, 9, false, NULL, 0));
	/* v1+ appends ThrottleTimeMs int32: size 52 + 4 = 56. */
	uint8_t want[60] = {0x00, 0x00, 0x00, 0x38, 0x00, 0x00, 0x00, 0x09,
			    0x00, 0x00, 0x00, 0x00, 0x00, 0x07};
	for (int i = 0; i < 7; i++)
		memcpy(want + 14 + 6 * i, api_entries[i], 6);
	uint8_t got[256];
	assert_int_equal(recv_frame(fd, got, sizeof got), sizeof want);
	assert_memory_equal(got, want, sizeof want); /* last 4: throttle 0 */
	close(fd);
	fx_stop(&f);
}

/* The flexible body (v3 and v4): ErrorCode, compact array (count + 1 as
 * uvarint) of entries each ending in an empty tag section, ThrottleTimeMs,
 * an empty tag section. Response header v0 (no tag byte). */
static void flexible_expected(uint8_t *want, int32_t corr)
{
	static const uint8_t head[] = {0x00, 0x00, 0x00, 0x3d, /* size 61 */
				       0x00, 0x00, 0x00, 0x00, /* corr */
				       0x00, 0x00,             /* ErrorCode */
				       0x08};                  /* 7 + 1 */
	memcpy(want, head, sizeof head);
	tu_be(want + 4, (uint32_t)corr, 4);
	size_t n = sizeof head;
	for (int i = 0; i < 7; i++) {
		memcpy(want + n, api_entries[i], 6);
		want[n + 6] = 0x00; /* the entry's tag section */
		n += 7;
	}
	memset(want + n, 0, 5); /* ThrottleTimeMs 0, tag section */
}

static void test_net_api_versions_v3_kcat_bytes(void **state)
{
	struct fixture f = {0};
	fx_start(&f, NULL);
	int fd = tcp_connect(f.port);
	/* What kcat 1.7.1 (librdkafka 2.0.2) sends first (CLIENTS.md §3):
	 * header v2, client id "rdkafka", empty tags; body compact strings
	 * "librdkafka", "2.0.2", empty tags. */
	static const uint8_t kcat[] = {
		0x00, 0x00, 0x00, 0x24, 0x00, 0x12, 0x00, 0x03, 0x00, 0x00,
		0x00, 0x01, 0x00, 0x07, 'r', 'd', 'k', 'a', 'f', 'k', 'a',
		0x00, 0x0b, 'l', 'i', 'b', 'r', 'd', 'k', 'a', 'f', 'k', 'a',
		0x06, '2', '.', '0', '.', '2', 0x00};
	send_frame_raw(fd, kcat, sizeof kcat);
	uint8_t want[65], got[256];
	flexible_expected(want, 1);
	assert_int_equal(recv_frame(fd, got, sizeof got), sizeof want);
	assert_memory_equal(got, want, sizeof want);
	close(fd);
	fx_stop(&f);
}

static void test_net_api_versions_v4_same_body_header_v0(void **state)
{
	struct fixture f = {0};
	fx_start(&f, NULL);
	int fd = tcp_connect(f.port);
	static const uint8_t body[] = {0x12, 'a', 'p', 'a', 'c', 'h', 'e', '-',
				       'k', 'a', 'f', 'k', 'a', '-', 'j', 'a',
				       'v', 'a', 0x06, '3', '.', '9', '.', '0',
				       0x00};
	uint8_t req[128], want[65], got[256];
	send_all(fd, req, req_frame(req, 18, 4, 77, true, body, sizeof body));
	flexible_expected(want, 77);
	assert_int_equal(recv_frame(fd, got, sizeof got), sizeof want);
	assert_memory_equal(got, want, sizeof want);
	close(fd);
	fx_stop(&f);
}

static void test_net_api_versions_unknown_version_gets_v0_error(void **state)
{
	struct fixture f = {0};
	fx_start(&f, NULL);
	int fd = tcp_connect(f.port);
	uint8_t req[64], got[64];
	send_all(fd, req, req_frame(req, 18, 9, 3, true, "\0", 1));
	/* KAFKA: header v0, v0 body: UNSUPPORTED_VERSION (35) and the
	 * ApiVersions entry alone. Size = 4 + 2 + 4 + 6 = 16. */
	static const uint8_t want[] = {0x00, 0x00, 0x00, 0x10, 0x00, 0x00,
				       0x00, 0x03, 0x00, 0x23, 0x00, 0x00,
				       0x00, 0x01, 0x00, 0x12, 0x00, 0x00,
				       0x00, 0x04};
	assert_int_equal(recv_frame(fd, got, sizeof got), sizeof want);
	assert_memory_equal(got, want, sizeof want);
	/* The connection stays usable: the client retries lower. */
	assert_true(echo_roundtrip(fd, 4, 4));
	close(fd);
	fx_stop(&f);
}

/* ---- Order, parking, deadlines ---- */

static void test_net_pipelined_requests_answered_in_order(void **state)
{
	struct fixture f = {0};
	fx_start(&f, NULL);
	int fd = tcp_connect(f.port);
	uint8_t req[64 * 20], body[4];
	size_t n = 0;
	for (int i = 0; i < 20; i++) {
		tu_be(body, (uint32_t)(1000 + i), 4);
		n += req_frame(req + n, 3, 1, 100 + i, false, body, 4);
	}
	send_all(fd, req, n); /* all twenty in one write */
	for (int i = 0; i < 20; i++) {
		uint8_t got[64];
		assert_int_equal(recv_frame(fd, got, sizeof got), 12);
		assert_int_equal(kb_get_be32(got + 4), 100 + i);
		assert_int_equal(kb_get_be32(got + 8), 1000 + i);
	}
	close(fd);
	fx_stop(&f);
}

/* The before-send hook runs once a connection has handled what it had
 * buffered, before any answer leaves: twenty pipelined requests meet it
 * far fewer than twenty times (chapter 06's group commit). */
static int before_send(void *ctx)
{
	struct tctx *t = ctx;
	atomic_fetch_add(&t->hooks, 1);
	return atomic_load(&t->hook_rc);
}

static void test_net_before_send_hook_runs_once_per_pipeline(void **state)
{
	struct fixture f = {0};
	fx_new(&f, NULL);
	net_set_before_send(f.srv, before_send, &f.t);
	fx_run(&f);
	int fd = tcp_connect(f.port);
	uint8_t req[64 * 20], body[4], got[64];
	size_t n = 0;
	for (int i = 0; i < 20; i++) {
		tu_be(body, (uint32_t)i, 4);
		n += req_frame(req + n, 3, 1, 100 + i, false, body, 4);
	}
	send_all(fd, req, n); /* all twenty in one write */
	for (int i = 0; i < 20; i++)
		assert_int_equal(recv_frame(fd, got, sizeof got), 12);
	int calls = atomic_load(&f.t.hooks);
	assert_true(calls >= 1 && calls < 20);
	close(fd);
	fx_stop(&f);
}

/* A hook that fails closes the connection instead of answering it (the
 * data its answers acknowledge is not durable); others are served once it
 * succeeds again. */
static void test_net_before_send_hook_failure_closes_unanswered(void **state)
{
	struct fixture f = {0};
	fx_new(&f, NULL);
	atomic_store(&f.t.hook_rc, KB_ERR_IO);
	net_set_before_send(f.srv, before_send, &f.t);
	fx_run(&f);
	int fd = tcp_connect(f.port);
	uint8_t req[64], body[4] = {0, 0, 0, 7}, got[64];
	send_all(fd, req, req_frame(req, 3, 1, 1, false, body, 4));
	assert_int_equal(recv(fd, got, sizeof got, 0), 0); /* closed, no answer */
	close(fd);
	atomic_store(&f.t.hook_rc, KB_OK);
	fd = tcp_connect(f.port);
	assert_true(echo_roundtrip(fd, 2, 2));
	close(fd);
	fx_stop(&f);
}

static void test_net_parked_request_holds_later_ones_until_wake(void **state)
{
	struct fixture f = {0};
	fx_start(&f, NULL);
	int a = tcp_connect(f.port), b = tcp_connect(f.port);
	/* A: a Fetch that waits for one record, then a pipelined Metadata. */
	send_fetch(a, 1, 10000, 1);
	uint8_t req[64], body[4] = {0, 0, 0, 9};
	send_all(a, req, req_frame(req, 3, 1, 2, false, body, 4));
	expect_silent(a, 200); /* neither answer: in order, muted */
	/* B produces: net_wake completes A's Fetch at once. */
	uint8_t acks[1] = {1}, got[64];
	send_all(b, req, req_frame(req, 0, 7, 50, false, acks, 1));
	assert_int_equal(recv_frame(b, got, sizeof got), 12);
	expect_fetch(a, 1, 0, 1);
	assert_int_equal(recv_frame(a, got, sizeof got), 12);
	assert_int_equal(kb_get_be32(got + 4), 2);
	assert_int_equal(atomic_load(&f.t.freed), 1);
	close(a);
	close(b);
	fx_stop(&f);
}

static void test_net_parked_request_expires_at_deadline(void **state)
{
	struct fixture f = {0};
	fx_start(&f, NULL);
	int fd = tcp_connect(f.port);
	int64_t t0 = kb_mono_ms();
	send_fetch(fd, 5, 150, 1);
	expect_fetch(fd, 5, 1, 0);
	int64_t waited = kb_mono_ms() - t0;
	assert_true(waited >= 145 && waited < 2000);
	assert_true(echo_roundtrip(fd, 6, 6)); /* unmuted afterwards */
	assert_int_equal(atomic_load(&f.t.freed), 1);
	close(fd);
	fx_stop(&f);
}

static void test_net_server_free_cancels_parked_ops(void **state)
{
	struct fixture f = {0};
	fx_start(&f, NULL);
	int fd = tcp_connect(f.port);
	send_fetch(fd, 5, 60000, 1);
	expect_silent(fd, 100);
	fx_stop(&f); /* parked op cancelled: its ctx released, no leak */
	assert_int_equal(atomic_load(&f.t.freed), 1);
	expect_closed(fd);
}

static void test_net_no_response_sends_nothing(void **state)
{
	struct fixture f = {0};
	fx_start(&f, NULL);
	int fd = tcp_connect(f.port);
	uint8_t req[64], acks[1] = {0};
	send_all(fd, req, req_frame(req, 0, 7, 1, false, acks, 1));
	/* The next response on the wire is the Metadata echo (corr 2). */
	assert_true(echo_roundtrip(fd, 2, 2));
	assert_int_equal(atomic_load(&f.t.available), 1);
	close(fd);
	fx_stop(&f);
}

/* ---- Files with sendfile ---- */

/* A scratch file of n bytes, byte i = i * 7 mod 251, open read-write. */
static uint8_t *make_file(struct fixture *f, size_t n)
{
	f->dir = tu_tmpdir();
	char path[512];
	snprintf(path, sizeof path, "%s/00000000000000000000.log", f->dir);
	uint8_t *data = malloc(n);
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 7 % 251);
	tu_write_all(path, data, n);
	f->t.file_fd = open(path, O_RDWR);
	assert_true(f->t.file_fd >= 0);
	f->t.truncate_to = -1;
	return data;
}

/* Receive one h_file response and check every byte. */
static void expect_file_response(int fd, int32_t corr, const struct tctx *t,
				 const uint8_t *data)
{
	size_t body = 2 + t->len1 + 1 + t->len2 + 2;
	uint8_t *got = malloc(8 + body);
	assert_true(recv_exact(fd, got, 8 + body));
	assert_int_equal(kb_get_be32(got), 4 + body);
	assert_int_equal(kb_get_be32(got + 4), corr);
	uint8_t *p = got + 8;
	assert_memory_equal(p, "AB", 2);
	assert_memory_equal(p + 2, data + t->off1, t->len1);
	assert_memory_equal(p + 2 + t->len1, "|", 1);
	assert_memory_equal(p + 3 + t->len1, data + t->off2, t->len2);
	assert_memory_equal(p + 3 + t->len1 + t->len2, "CD", 2);
	free(got);
}

static void test_net_response_add_file_splices_exact_bytes(void **state)
{
	struct fixture f = {0};
	uint8_t *data = make_file(&f, 4 << 20);
	f.t.off1 = 3, f.t.len1 = 5;            /* small, between memory */
	f.t.off2 = 1000, f.t.len2 = 3 << 20;   /* several partial writes */
	fx_start(&f, NULL);
	int fd = tcp_connect(f.port);
	uint8_t req[64];
	send_all(fd, req, req_frame(req, 2, 1, 11, false, NULL, 0));
	expect_file_response(fd, 11, &f.t, data);
	assert_true(echo_roundtrip(fd, 12, 12));
	close(fd);
	fx_stop(&f);
	free(data);
}

static void test_net_file_truncated_before_send_closes(void **state)
{
	struct fixture f = {0};
	uint8_t *data = make_file(&f, 100);
	f.t.off1 = 0, f.t.len1 = 50, f.t.len2 = 0;
	f.t.truncate_to = 10; /* after net_response_add_file checked it */
	fx_start(&f, NULL);
	int fd = tcp_connect(f.port), other = tcp_connect(f.port);
	uint8_t req[64], got[128];
	send_all(fd, req, req_frame(req, 2, 1, 1, false, NULL, 0));
	/* The size promises 4 + 2 + 50 + 1 + 2 bytes; they never all come. */
	assert_true(recv_exact(fd, got, 4));
	assert_int_equal(kb_get_be32(got), 59);
	assert_false(recv_exact(fd, got, 59));
	close(fd);
	assert_true(echo_roundtrip(other, 1, 1));
	close(other);
	fx_stop(&f);
	free(data);
}

static void test_net_backpressure_stops_reading(void **state)
{
	struct fixture f = {0};
	uint8_t *data = make_file(&f, 8 << 20);
	f.t.off1 = 0, f.t.len1 = 8 << 20, f.t.len2 = 0;
	fx_start(&f, NULL);
	int fd = tcp_connect(f.port);
	uint8_t req[64 * 10];
	size_t n = 0;
	for (int i = 0; i < 10; i++)
		n += req_frame(req + n, 2, 1, i, false, NULL, 0);
	send_all(fd, req, n);
	usleep(300 * 1000); /* we read nothing: 80 MiB of responses wait */
	int handled = atomic_load(&f.t.handled);
	assert_true(handled >= 2 && handled < 10);
	for (int i = 0; i < 10; i++)
		expect_file_response(fd, i, &f.t, data);
	assert_int_equal(atomic_load(&f.t.handled), 10);
	close(fd);
	fx_stop(&f);
	free(data);
}

/* ---- Bad input closes only that connection ---- */

static void test_net_bad_size_prefix_closes_only_that_connection(void **state)
{
	struct tu_log_capture cap;
	tu_log_capture_start(&cap);
	struct fixture f = {0};
	fx_start(&f, NULL);
	int good = tcp_connect(f.port);
	/* negative, zero, over socket.request.max.bytes, INT32_MIN */
	static const uint32_t sizes[] = {0xffffffffu, 0, (100u << 20) + 1,
					 0x80000000u};
	for (size_t i = 0; i < KB_ARRAY_LEN(sizes); i++) {
		int bad = tcp_connect(f.port);
		uint8_t prefix[4];
		tu_be(prefix, sizes[i], 4);
		send_all(bad, prefix, 4);
		expect_closed(bad);
		assert_true(echo_roundtrip(good, (int32_t)i, (int32_t)i));
	}
	close(good);
	fx_stop(&f);
	tu_log_capture_stop();
	assert_non_null(strstr(cap.text, "socket.request.max.bytes"));
	assert_non_null(strstr(cap.text, "request size 104857601"));
}

static void test_net_truncated_header_closes(void **state)
{
	struct fixture f = {0};
	fx_start(&f, NULL);
	int fd = tcp_connect(f.port);
	/* Api key and version, then the frame ends: no correlation id. */
	static const uint8_t frame[] = {0, 0, 0, 4, 0x00, 0x03, 0x00, 0x01};
	send_all(fd, frame, sizeof frame);
	expect_closed(fd);
	fd = tcp_connect(f.port);
	/* A client id longer than the frame. */
	static const uint8_t frame2[] = {0, 0, 0, 11, 0, 3, 0, 1, 0, 0,
					 0, 1, 0, 40, 'x'};
	send_all(fd, frame2, sizeof frame2);
	expect_closed(fd);
	fx_stop(&f);
}

static void test_net_unknown_api_key_closes(void **state)
{
	struct fixture f = {0};
	fx_start(&f, NULL);
	int fd = tcp_connect(f.port);
	uint8_t req[64];
	send_all(fd, req, req_frame(req, 999, 0, 1, false, NULL, 0));
	expect_closed(fd);
	fd = tcp_connect(f.port);
	send_all(fd, req, req_frame(req, -1, 0, 1, false, NULL, 0));
	expect_closed(fd);
	fx_stop(&f);
}

static void test_net_unsupported_version_or_key_closes(void **state)
{
	struct tu_log_capture cap;
	tu_log_capture_start(&cap);
	struct fixture f = {0};
	fx_start(&f, NULL);
	uint8_t req[64];
	int fd = tcp_connect(f.port); /* Metadata v10: above our 0-9 */
	send_all(fd, req, req_frame(req, 3, 10, 1, true, "\0", 1));
	expect_closed(fd);
	fd = tcp_connect(f.port); /* Fetch v3: below our 4-12 */
	send_all(fd, req, req_frame(req, 1, 3, 1, false, NULL, 0));
	expect_closed(fd);
	fd = tcp_connect(f.port); /* OffsetCommit: a real key, not served */
	send_all(fd, req, req_frame(req, 8, 2, 1, false, NULL, 0));
	expect_closed(fd);
	fx_stop(&f);
	tu_log_capture_stop();
	assert_non_null(strstr(cap.text, "api key 3 version 10 (client id tester)"));
	assert_non_null(strstr(cap.text, "api key 8 version 2 (client id tester)"));
}

static void test_net_handler_proto_error_closes(void **state)
{
	struct fixture f = {0};
	fx_start(&f, NULL);
	int fd = tcp_connect(f.port), other = tcp_connect(f.port);
	uint8_t req[64];
	/* A good request pipelined before the bad one is still answered. */
	uint8_t body[4] = {0, 0, 0, 7}, got[64];
	size_t n = req_frame(req, 3, 1, 1, false, body, 4);
	n += req_frame(req + n, 19, 2, 2, false, NULL, 0);
	send_all(fd, req, n);
	assert_int_equal(recv_frame(fd, got, sizeof got), 12);
	assert_int_equal(kb_get_be32(got + 4), 1);
	expect_closed(fd);
	/* A Fetch body too short for its fields: KB_ERR_PROTO. */
	fd = tcp_connect(f.port);
	send_all(fd, req, req_frame(req, 1, 4, 3, false, "\0\0", 2));
	expect_closed(fd);
	assert_true(echo_roundtrip(other, 2, 2));
	close(other);
	fx_stop(&f);
}

static void test_net_conn_close_from_handler(void **state)
{
	struct fixture f = {0};
	fx_start(&f, NULL);
	int fd = tcp_connect(f.port);
	uint8_t req[64];
	send_all(fd, req, req_frame(req, 16, 0, 1, false, NULL, 0));
	expect_closed(fd);
	fd = tcp_connect(f.port);
	assert_true(echo_roundtrip(fd, 1, 1));
	close(fd);
	fx_stop(&f);
}

/* ---- Limits and timers ---- */

static void test_net_partial_frame_dropped_after_frame_timeout(void **state)
{
	struct net_config cfg;
	net_config_defaults(&cfg);
	cfg.frame_timeout_ms = 200;
	struct fixture f = {0};
	fx_start(&f, &cfg);
	int fd = tcp_connect(f.port), other = tcp_connect(f.port);
	static const uint8_t partial[] = {0, 0, 0, 100, 0, 3, 0, 1, 0, 0};
	int64_t t0 = kb_mono_ms();
	send_all(fd, partial, sizeof partial);
	expect_closed(fd);
	int64_t took = kb_mono_ms() - t0;
	assert_true(took >= 190 && took < 3000);
	assert_true(echo_roundtrip(other, 1, 1)); /* whole frames are fine */
	close(other);
	fx_stop(&f);
}

static void test_net_idle_connection_closed(void **state)
{
	struct net_config cfg;
	net_config_defaults(&cfg);
	cfg.idle_ms = 200;
	struct fixture f = {0};
	fx_start(&f, &cfg);
	int idle = tcp_connect(f.port), parked = tcp_connect(f.port);
	int64_t t0 = kb_mono_ms();
	assert_true(echo_roundtrip(idle, 1, 1));
	/* Waiting in purgatory is not idle: answered at its deadline. */
	send_fetch(parked, 2, 500, 1);
	expect_closed(idle);
	int64_t took = kb_mono_ms() - t0;
	assert_true(took >= 190 && took < 3000);
	expect_fetch(parked, 2, 1, 0);
	close(parked);
	fx_stop(&f);
}

/* KAFKA: at max.connections the acceptor waits; the extra connection
 * sits in the backlog until a slot frees, then it is served. */
static void test_net_max_connections_makes_the_next_one_wait(void **state)
{
	struct net_config cfg;
	net_config_defaults(&cfg);
	cfg.max_connections = 2;
	struct fixture f = {0};
	fx_start(&f, &cfg);
	int a = tcp_connect(f.port), b = tcp_connect(f.port);
	assert_true(echo_roundtrip(a, 1, 1));
	assert_true(echo_roundtrip(b, 1, 1));
	int c = tcp_connect(f.port); /* TCP accepts; the broker waits */
	uint8_t req[64], resp[64];
	uint8_t body[4] = {0, 0, 0, 3};
	send_all(c, req, req_frame(req, 3, 1, 3, false, body, 4));
	expect_silent(c, 300);
	close(a);
	assert_true(recv_exact(c, resp, 12)); /* served once a left */
	assert_int_equal(kb_get_be32(resp + 8), 3);
	close(b);
	close(c);
	fx_stop(&f);
}

/* KAFKA: max.connections.per.ip closes a host's extra connection at
 * once; max.connections.per.ip.overrides raises it for one address. */
static void test_net_max_connections_per_ip_closes_the_extra_one(void **state)
{
	struct net_config cfg;
	net_config_defaults(&cfg);
	cfg.max_connections_per_ip = 1;
	struct fixture f = {0};
	tu_log_clear();
	fx_start(&f, &cfg);
	int a = tcp_connect(f.port);
	assert_true(echo_roundtrip(a, 1, 1));
	expect_closed(tcp_connect(f.port));
	assert_true(echo_roundtrip(a, 2, 2));
	close(a);
	fx_stop(&f);
	assert_logged("(max.connections.per.ip)");

	cfg.ip_overrides[0] = (struct net_ip_limit){"127.0.0.1", 3};
	cfg.n_ip_overrides = 1;
	fx_start(&f, &cfg);
	int fds[3];
	for (int i = 0; i < 3; i++) {
		fds[i] = tcp_connect(f.port);
		assert_true(echo_roundtrip(fds[i], i, i));
	}
	expect_closed(tcp_connect(f.port));
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	fx_stop(&f);
}

/* Descriptors this process has open now. */
static int open_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 3; /* ".", ".." and the DIR's own */
}

/* A client that pipelines Fetch-like requests and never reads: each
 * response holds two dup'd descriptors. Without a descriptor cap the
 * 16 MiB byte cap alone would let 500 of them pile up (1000 fds). */
static void test_net_descriptors_bounded_per_connection(void **state)
{
	struct fixture f = {0};
	uint8_t *data = make_file(&f, 64 << 10);
	f.t.off1 = 0, f.t.len1 = 16 << 10, f.t.off2 = 16 << 10, f.t.len2 = 16 << 10;
	fx_start(&f, NULL);
	int fd = tcp_connect(f.port);
	int before = open_fd_count();
	enum { N = 500 };
	uint8_t *req = malloc(N * 32);
	size_t n = 0;
	for (int i = 0; i < N; i++)
		n += req_frame(req + n, 2, 1, i, false, NULL, 0);
	send_all(fd, req, n);
	int handled = -1;
	while (handled != atomic_load(&f.t.handled)) { /* until it stops */
		handled = atomic_load(&f.t.handled);
		usleep(200 * 1000);
	}
	assert_true(handled < N);
	assert_true(open_fd_count() - before <
		    NET_BACKPRESSURE_FDS + NET_RESPONSE_MAX_FILES);
	for (int i = 0; i < N; i++)
		expect_file_response(fd, i, &f.t, data);
	close(fd);
	fx_stop(&f);
	assert_true(open_fd_count() <= before);
	free(req);
	free(data);
}

/* INVARIANT 4 of 05_responses.c: a response with more file ranges than
 * NET_RESPONSE_MAX_FILES copies the rest; every byte still arrives. */
static void test_net_response_copies_ranges_past_the_descriptor_bound(void **state)
{
	struct fixture f = {0};
	uint8_t *data = make_file(&f, 4096);
	f.t.off1 = 100, f.t.len1 = 10, f.t.off2 = 0, f.t.len2 = 7;
	f.t.repeat1 = 3 * NET_RESPONSE_MAX_FILES;
	fx_start(&f, NULL);
	int fd = tcp_connect(f.port);
	uint8_t req[64];
	send_all(fd, req, req_frame(req, 2, 1, 5, false, NULL, 0));
	size_t body = 2 + (size_t)f.t.repeat1 * 10 + 1 + 7 + 2;
	uint8_t *got = malloc(8 + body);
	assert_true(recv_exact(fd, got, 8 + body));
	assert_int_equal(kb_get_be32(got), 4 + body);
	for (int i = 0; i < f.t.repeat1; i++)
		assert_memory_equal(got + 10 + 10 * i, data + 100, 10);
	assert_memory_equal(got + 10 + 10 * f.t.repeat1, "|", 1);
	assert_memory_equal(got + 11 + 10 * f.t.repeat1, data, 7);
	free(got);
	close(fd);
	fx_stop(&f);
	free(data);
}

/* INVARIANT 7: with the descriptor table full, accept fails. The broker
 * closes the waiting connections with its reserve descriptor, rests the
 * listener, logs once, keeps serving its clients, and accepts again once
 * descriptors are free. */
static void test_net_full_descriptor_table_backs_off_and_logs_once(void **state)
{
	struct fixture f = {0};
	fx_start(&f, NULL);
	int old_client = tcp_connect(f.port);
	enum { M = 40 };
	int socks[M];
	for (int i = 0; i < M; i++)
		assert_true((socks[i] = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	struct rlimit old, low;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	int highest = 0;
	for (int i = 0; i < M; i++)
		highest = KB_MAX(highest, socks[i]);
	low = old;
	low.rlim_cur = (rlim_t)highest + 6; /* room for a few accepts */
	tu_log_clear();
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)f.port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	for (int i = 0; i < M; i++)
		assert_int_equal(connect(socks[i], (struct sockaddr *)&sa,
					 sizeof sa), 0);
	usleep(500 * 1000);
	/* A client it already had is served all the while. */
	assert_true(echo_roundtrip(old_client, 1, 1));
	int closed = 0;
	for (int i = 0; i < M; i++) {
		struct pollfd p = {socks[i], POLLIN, 0};
		uint8_t b;
		closed += poll(&p, 1, 0) == 1 && recv(socks[i], &b, 1, 0) <= 0;
	}
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	for (int i = 0; i < M; i++)
		close(socks[i]);
	assert_true(closed > 0); /* shed, not left hanging */
	/* Once per interval: not a line per turn of the reactor. */
	assert_logged("accept: Too many open files");
	char *first = strstr(tu_log_all.text, "accept: ");
	assert_null(strstr(first + 1, "accept: "));
	int fresh = tcp_connect(f.port);
	assert_true(echo_roundtrip(fresh, 2, 2));
	close(fresh);
	close(old_client);
	fx_stop(&f);
}

static void test_net_every_fires(void **state)
{
	struct fixture f = {0};
	fx_new(&f, NULL);
	struct net_callback cb = {tick, &f.t};
	assert_int_equal(net_every(f.srv, 0, cb), KB_ERR_INVAL);
	assert_int_equal(net_every(f.srv, 20, cb), KB_OK);
	fx_run(&f);
	for (int i = 0; i < 200 && atomic_load(&f.t.ticks) < 3; i++)
		usleep(10 * 1000);
	assert_true(atomic_load(&f.t.ticks) >= 3);
	fx_stop(&f);
}

/* net_at: one call at the deadline; a second net_at moves it (the
 * reactor sleeps until then, not a period), INT64_MAX cancels it. */
static void test_net_at_fires_once_at_its_deadline(void **state)
{
	struct fixture f = {0};
	fx_new(&f, NULL);
	struct net_callback cb = {tick, &f.t};
	int64_t start = kb_mono_ms();
	assert_int_equal(net_at(f.srv, start + 5000, cb), KB_OK);
	assert_int_equal(net_at(f.srv, start + 30, cb), KB_OK);
	for (int i = 0; i < 100 && atomic_load(&f.t.ticks) == 0; i++)
		net_run_once(f.srv, 1000);
	assert_int_equal(atomic_load(&f.t.ticks), 1);
	assert_true(kb_mono_ms() >= start + 30);
	assert_true(kb_mono_ms() < start + 5000);
	net_run_once(f.srv, 50); /* one-shot: nothing more */
	assert_int_equal(atomic_load(&f.t.ticks), 1);
	assert_int_equal(net_at(f.srv, kb_mono_ms() + 20, cb), KB_OK);
	assert_int_equal(net_at(f.srv, INT64_MAX, cb), KB_OK);
	net_run_once(f.srv, 60);
	assert_int_equal(atomic_load(&f.t.ticks), 1);
	net_server_free(f.srv);
}

static struct net_server *signal_target;
static void on_sigusr1(int sig) { net_stop(signal_target); }

static void test_net_stop_returns_from_run(void **state)
{
	struct fixture f = {0};
	fx_new(&f, NULL);
	net_stop(f.srv); /* before net_run: it returns at once */
	fx_run(&f);
	assert_int_equal(pthread_join(f.thread, NULL), 0);
	assert_int_equal(f.run_rc, KB_OK);
	/* From a signal handler, interrupting epoll_wait. */
	signal_target = f.srv;
	struct sigaction sa = {.sa_handler = on_sigusr1};
	sigaction(SIGUSR1, &sa, NULL);
	fx_run(&f);
	usleep(50 * 1000);
	assert_int_equal(pthread_kill(f.thread, SIGUSR1), 0);
	assert_int_equal(pthread_join(f.thread, NULL), 0);
	assert_int_equal(f.run_rc, KB_OK);
	signal(SIGUSR1, SIG_DFL);
	net_server_free(f.srv);
}

/* ---- Listeners: BROKER and CONTROLLER ---- */

#define CTRL (1u << NET_LISTENER_CONTROLLER)

/* Fetch on the CONTROLLER listener (key 1, v4-11): the quorum's handler,
 * told apart from h_fetch by the i32 0x0c0c0c0c it answers. */
static int h_quorum_fetch(struct net_request *req, struct net_response *resp)
{
	assert_int_equal(req->listener, NET_LISTENER_CONTROLLER);
	wire_write_i32(&resp->w, 0x0c0c0c0c);
	return KB_OK;
}

/* fx_new's server plus a CONTROLLER listener serving Vote (52, v0-1,
 * echo) and its own Fetch; returns that listener's port. Before fx_run. */
static int fx_add_controller(struct fixture *f)
{
	const struct net_api rows[] = {
		{WIRE_API_VOTE, 0, 1, h_echo, &f->t, CTRL},
		{WIRE_API_FETCH, 4, 11, h_quorum_fetch, &f->t, CTRL},
	};
	for (size_t i = 0; i < KB_ARRAY_LEN(rows); i++)
		assert_int_equal(net_register(f->srv, &rows[i]), KB_OK);
	struct net_endpoint ep = {"127.0.0.1", 0, NET_LISTENER_CONTROLLER};
	int port = 0;
	assert_int_equal(net_listen_at(f->srv, &ep, &port), KB_OK);
	assert_true(port > 0 && port != f->port);
	return port;
}

/* A Vote v0 frame (flexible: header v2) carrying seq as its body. */
static size_t vote_frame(uint8_t *buf, int32_t corr, int32_t seq)
{
	uint8_t body[4];
	tu_be(body, (uint32_t)seq, 4);
	return req_frame(buf, WIRE_API_VOTE, 0, corr, true, body, 4);
}

static void test_net_controller_api_on_broker_listener_closes(void **state)
{
	struct fixture f = {0};
	fx_new(&f, NULL);
	int ctrl_port = fx_add_controller(&f);
	fx_run(&f);
	uint8_t req[64], resp[64];
	/* KAFKA: Vote is not enabled on a broker listener: closed. */
	int fd = tcp_connect(f.port);
	send_all(fd, req, vote_frame(req, 5, 77));
	expect_closed(fd);
	/* Metadata is not enabled on the CONTROLLER listener: closed. */
	fd = tcp_connect(ctrl_port);
	assert_false(echo_roundtrip(fd, 6, 1));
	expect_closed(fd);
	/* Both listeners go on serving what they enable. */
	fd = tcp_connect(f.port);
	assert_true(echo_roundtrip(fd, 7, 2));
	close(fd);
	fd = tcp_connect(ctrl_port);
	send_all(fd, req, vote_frame(req, 8, 77));
	/* Response header v1 (corr, empty tags), then the echoed body. */
	assert_int_equal(recv_frame(fd, resp, sizeof resp), 4 + 5 + 4);
	assert_int_equal(kb_get_be32(resp + 4), 8);
	assert_int_equal(kb_get_be32(resp + 9), 77);
	close(fd);
	fx_stop(&f);
}

/* ApiVersions v0 on port: the entries must be exactly want[n][6]. */
static void expect_api_versions(int port, const uint8_t (*want)[6], int n)
{
	int fd = tcp_connect(port);
	uint8_t req[64], got[256];
	send_all(fd, req, req_frame(req, 18, 0, 3, false, NULL, 0));
	size_t len = recv_frame(fd, got, sizeof got);
	assert_int_equal(len, 4 + 4 + 2 + 4 + 6 * (size_t)n);
	assert_int_equal(kb_get_be16(got + 8), 0);      /* ErrorCode */
	assert_int_equal(kb_get_be32(got + 10), n);     /* ApiKeys */
	for (int i = 0; i < n; i++)
		assert_memory_equal(got + 14 + 6 * i, want[i], 6);
	close(fd);
}

static void test_net_api_versions_lists_each_listeners_apis(void **state)
{
	struct fixture f = {0};
	fx_new(&f, NULL);
	int ctrl_port = fx_add_controller(&f);
	fx_run(&f);
	static const uint8_t ctrl[3][6] = {
		{0x00, 0x01, 0x00, 0x04, 0x00, 0x0b}, /* Fetch 4-11 */
		{0x00, 0x12, 0x00, 0x00, 0x00, 0x04}, /* ApiVersions 0-4 */
		{0x00, 0x34, 0x00, 0x00, 0x00, 0x01}, /* Vote 0-1 */
	};
	expect_api_versions(ctrl_port, ctrl, 3);
	expect_api_versions(f.port, api_entries, 7); /* no Vote */
	fx_stop(&f);
}

static void test_net_same_key_two_handlers_on_two_listeners(void **state)
{
	struct fixture f = {0};
	fx_new(&f, NULL);
	int ctrl_port = fx_add_controller(&f);
	atomic_store(&f.t.available, 5);
	fx_run(&f);
	int fd = tcp_connect(f.port);
	send_fetch(fd, 1, 0, 1); /* chapter 06's Fetch: expired 0, avail 5 */
	expect_fetch(fd, 1, 0, 5);
	close(fd);
	fd = tcp_connect(ctrl_port);
	send_fetch(fd, 2, 0, 1); /* the quorum's Fetch */
	uint8_t resp[64];
	assert_int_equal(recv_frame(fd, resp, sizeof resp), 4 + 4 + 4);
	assert_int_equal(kb_get_be32(resp + 4), 2);
	assert_int_equal(kb_get_be32(resp + 8), 0x0c0c0c0c);
	close(fd);
	fx_stop(&f);
}

static void test_net_register_per_listener_rows(void **state)
{
	struct net_config cfg;
	net_config_defaults(&cfg);
	struct net_server *srv;
	assert_int_equal(net_server_new(&cfg, &srv), KB_OK);
	struct net_api row = {WIRE_API_FETCH, 4, 12, h_echo, NULL, CTRL};
	assert_int_equal(net_register(srv, &row), KB_OK);
	assert_int_equal(net_register(srv, &row), KB_ERR_EXISTS);
	row.listeners = 0; /* the broker listener's own Fetch */
	assert_int_equal(net_register(srv, &row), KB_OK);
	row.listeners = 1u << NET_LISTENER_KINDS; /* no such listener */
	row.api_key = WIRE_API_METADATA;
	assert_int_equal(net_register(srv, &row), KB_ERR_INVAL);
	struct net_endpoint ep = {"127.0.0.1", 0, NET_LISTENER_KINDS};
	assert_int_equal(net_listen_at(srv, &ep, NULL), KB_ERR_INVAL);
	net_check(srv);
	net_server_free(srv);
}

/* ---- Peers: outbound calls on the same reactor ---- */

/* What the reply fns saw, in the order they ran. */
struct replies {
	int n;
	int status[16];
	int32_t value[16];        /* the echoed i32, or -1 */
	char client[16][16];      /* the client id the server saw */
	struct net_peer *peer;    /* for fns that send or close */
	int send_rc;              /* what a net_peer_send inside a fn got */
	bool close_in_fn;         /* the first OK reply closes its peer */
	bool sending;             /* set around net_peer_send */
};

/* A server with a broker and a controller listener, both served by the
 * test thread's own net_run_once, and the test's peer to one of them. */
struct pfx {
	struct net_server *srv;
	int port, ctrl_port;
	struct replies r;
};

/* Metadata (key 3) for peers: the client id as a string, then the body. */
static int h_peer_echo(struct net_request *req, struct net_response *resp)
{
	wire_write_string(&resp->w, req->header.client_id);
	return h_echo(req, resp);
}

/* Reads what h_peer_echo (or h_echo, on Vote) answers. */
static void on_reply(void *ctx, int status, struct wire_reader *body)
{
	struct replies *r = ctx;
	assert_false(r->sending); /* INTERFACE: never inside net_peer_send */
	assert_true(r->n < 16);
	int i = r->n++;
	r->status[i] = status;
	r->value[i] = -1;
	assert_true((status == KB_OK) == (body != NULL));
	if (status != KB_OK)
		return;
	if (!body->flexible) { /* Metadata v1: client id, then the echo */
		struct wire_str id = wire_read_string(body);
		snprintf(r->client[i], sizeof r->client[i], "%.*s",
			 id.len > 0 ? (int)id.len : 0, id.len > 0 ? id.p : "");
	}
	r->value[i] = wire_read_i32(body);
	assert_int_equal(wire_reader_status(body), KB_OK);
	assert_int_equal(wire_remaining(body), 0);
	if (r->close_in_fn)
		net_peer_close(r->peer);
}

/* Reply fn that tries to send again on its peer (closing: KB_ERR_IO). */
static void on_reply_resend(void *ctx, int status, struct wire_reader *body)
{
	struct replies *r = ctx;
	on_reply(ctx, status, body);
	struct net_call c = {3, 1, NULL, 0, on_reply, r};
	r->send_rc = net_peer_send(r->peer, &c);
}

static void pfx_new(struct pfx *pf)
{
	struct net_config cfg;
	net_config_defaults(&cfg);
	*pf = (struct pfx){0};
	assert_int_equal(net_server_new(&cfg, &pf->srv), KB_OK);
	const struct net_api rows[] = {
		{WIRE_API_METADATA, 0, 9, h_peer_echo, NULL},
		{WIRE_API_LIST_GROUPS, 0, 4, h_close, NULL},
		{WIRE_API_VOTE, 0, 1, h_echo, NULL, CTRL},
	};
	for (size_t i = 0; i < KB_ARRAY_LEN(rows); i++)
		assert_int_equal(net_register(pf->srv, &rows[i]), KB_OK);
	assert_int_equal(net_listen(pf->srv, "127.0.0.1", 0, &pf->port), KB_OK);
	struct net_endpoint ep = {"127.0.0.1", 0, NET_LISTENER_CONTROLLER};
	assert_int_equal(net_listen_at(pf->srv, &ep, &pf->ctrl_port), KB_OK);
}

/* A peer of pf's server to port (timeouts in ms). */
static struct net_peer *pfx_peer(struct pfx *pf, int port, int64_t timeout,
				 int64_t backoff)
{
	struct net_peer_config cfg = {"127.0.0.1", port, "peer-test", timeout,
				      backoff};
	struct net_peer *p = NULL;
	assert_int_equal(net_peer_open(pf->srv, &cfg, &p), KB_OK);
	pf->r.peer = p;
	return p;
}

/* Queue api key/version with the i32 body seq; fn must not run yet. */
static void pfx_send(struct pfx *pf, struct net_peer *p, int16_t key,
		     int16_t ver, int32_t seq)
{
	uint8_t body[4];
	tu_be(body, (uint32_t)seq, 4);
	struct net_call c = {key, ver, body, 4, on_reply, &pf->r};
	int before = pf->r.n;
	pf->r.sending = true;
	assert_int_equal(net_peer_send(p, &c), KB_OK);
	pf->r.sending = false;
	assert_int_equal(pf->r.n, before);
}

/* Turn the reactor until n replies have come or ms have passed. */
static void pfx_run(struct pfx *pf, int n, int ms)
{
	int64_t end = kb_mono_ms() + ms;
	while (pf->r.n < n && kb_mono_ms() < end)
		assert_int_equal(net_run_once(pf->srv, 5), KB_OK);
}

static void pfx_free(struct pfx *pf)
{
	net_check(pf->srv);
	net_server_free(pf->srv);
}

static void test_net_peer_round_trip(void **state)
{
	struct pfx pf;
	pfx_new(&pf);
	struct net_peer *p = pfx_peer(&pf, pf.port, 5000, 50);
	assert_false(net_peer_connected(p));
	pfx_send(&pf, p, WIRE_API_METADATA, 1, 42);
	pfx_run(&pf, 1, 5000);
	assert_int_equal(pf.r.n, 1);
	assert_int_equal(pf.r.status[0], KB_OK);
	assert_int_equal(pf.r.value[0], 42);
	assert_string_equal(pf.r.client[0], "peer-test");
	assert_true(net_peer_connected(p));
	/* Vote v0 on the CONTROLLER listener: flexible, response header v1. */
	struct net_peer *q = pfx_peer(&pf, pf.ctrl_port, 5000, 50);
	pfx_send(&pf, q, WIRE_API_VOTE, 0, 7);
	pfx_run(&pf, 2, 5000);
	assert_int_equal(pf.r.status[1], KB_OK);
	assert_int_equal(pf.r.value[1], 7);
	net_peer_close(p);
	net_peer_close(q);
	assert_int_equal(pf.r.n, 2); /* nothing was pending */
	pfx_free(&pf);
}

static void test_net_peer_pipelined_calls_answered_in_order(void **state)
{
	struct pfx pf;
	pfx_new(&pf);
	struct net_peer *p = pfx_peer(&pf, pf.port, 5000, 50);
	for (int i = 0; i < 6; i++)
		pfx_send(&pf, p, WIRE_API_METADATA, 1, 100 + i);
	pfx_run(&pf, 6, 5000);
	assert_int_equal(pf.r.n, 6);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(pf.r.status[i], KB_OK);
		assert_int_equal(pf.r.value[i], 100 + i);
	}
	pfx_free(&pf);
}

static void test_net_peer_server_closes_mid_call(void **state)
{
	struct pfx pf;
	pfx_new(&pf);
	struct net_peer *p = pfx_peer(&pf, pf.port, 5000, 0);
	pfx_send(&pf, p, WIRE_API_LIST_GROUPS, 0, 1); /* the server hangs up */
	pfx_send(&pf, p, WIRE_API_METADATA, 1, 2);    /* lost with it */
	pfx_run(&pf, 2, 5000);
	assert_int_equal(pf.r.n, 2);
	assert_int_equal(pf.r.status[0], KB_ERR_IO);
	assert_int_equal(pf.r.status[1], KB_ERR_IO);
	assert_false(net_peer_connected(p));
	pfx_send(&pf, p, WIRE_API_METADATA, 1, 3); /* a new connection */
	pfx_run(&pf, 3, 5000);
	assert_int_equal(pf.r.status[2], KB_OK);
	assert_int_equal(pf.r.value[2], 3);
	pfx_free(&pf);
}

/* A port bound but not listening: connecting to it is refused. */
static int refused_port(int *fd)
{
	*fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;
	assert_int_equal(bind(*fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(getsockname(*fd, (struct sockaddr *)&sa, &len), 0);
	return ntohs(sa.sin_port);
}

static void test_net_peer_reconnects_after_backoff(void **state)
{
	struct pfx pf;
	pfx_new(&pf);
	int held;
	int port = refused_port(&held);
	const int64_t backoff = 300;
	struct net_peer *p = pfx_peer(&pf, port, 5000, backoff);
	pfx_send(&pf, p, WIRE_API_METADATA, 1, 1);
	pfx_run(&pf, 1, 5000);
	int64_t failed_at = kb_mono_ms();
	assert_int_equal(pf.r.status[0], KB_ERR_IO); /* nobody listening */
	/* A listener appears; the next call waits out the backoff. */
	close(held);
	int bound = 0;
	assert_int_equal(net_listen(pf.srv, "127.0.0.1", port, &bound), KB_OK);
	assert_int_equal(bound, port);
	pfx_send(&pf, p, WIRE_API_METADATA, 1, 2);
	pfx_run(&pf, 2, 5000);
	assert_int_equal(pf.r.n, 2);
	assert_int_equal(pf.r.status[1], KB_OK);
	assert_int_equal(pf.r.value[1], 2);
	/* INVARIANT: no connect before reconnect.backoff.ms has passed. */
	assert_true(kb_mono_ms() - failed_at >= backoff - 1);
	pfx_free(&pf);
}

/* A listening socket nobody accepts from or answers on. */
static int listener_on_free_port(int *port)
{
	int fd;
	*port = refused_port(&fd);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

static void test_net_peer_silent_server_times_out(void **state)
{
	struct pfx pf;
	pfx_new(&pf);
	int port;
	int lfd = listener_on_free_port(&port);
	const int64_t timeout = 200;
	struct net_peer *p = pfx_peer(&pf, port, timeout, 0);
	int64_t sent_at = kb_mono_ms();
	pfx_send(&pf, p, WIRE_API_METADATA, 1, 1);
	pfx_run(&pf, 1, 50); /* connected, written, unanswered */
	assert_int_equal(pf.r.n, 0);
	assert_true(net_peer_connected(p));
	pfx_send(&pf, p, WIRE_API_METADATA, 1, 2);
	pfx_run(&pf, 2, 5000);
	assert_int_equal(pf.r.n, 2);
	assert_int_equal(pf.r.status[0], KB_ERR_AGAIN); /* request.timeout.ms */
	assert_true(kb_mono_ms() - sent_at >= timeout);
	/* Not yet due, but written on the connection the timeout dropped. */
	assert_int_equal(pf.r.status[1], KB_ERR_IO);
	assert_false(net_peer_connected(p));
	close(lfd);
	pfx_free(&pf);
}

/* A timer that runs before the peer's in the same turn, and sends on it
 * once the clock has moved past the turn's now. */
struct late_sender {
	struct pfx *pf;
	struct net_peer *p;
};

static void late_send(void *ctx, int64_t now_ms)
{
	struct late_sender *l = ctx;
	while (kb_mono_ms() <= now_ms)
		; /* the turn's work took a millisecond */
	uint8_t body[4];
	tu_be(body, 2, 4);
	struct net_call c = {WIRE_API_METADATA, 1, body, 4, on_reply, &l->pf->r};
	assert_int_equal(net_peer_send(l->p, &c), KB_OK);
}

/* INVARIANT 2 (lab: a controller cut off from the others): a call sent
 * in the turn where the head's deadline is due, by a timer that ran
 * before the peer's, must not push the peer's timer past that deadline:
 * the head still times out in this very turn. */
static void test_net_peer_send_keeps_due_deadline(void **state)
{
	struct pfx pf;
	pfx_new(&pf);
	int port;
	int lfd = listener_on_free_port(&port);
	struct late_sender l = {&pf, NULL};
	struct net_callback kick = {late_send, &l};
	assert_int_equal(net_at(pf.srv, INT64_MAX, kick), KB_OK); /* first */
	const int64_t timeout = 100;
	l.p = pfx_peer(&pf, port, timeout, 0);
	int64_t sent_at = kb_mono_ms();
	pfx_send(&pf, l.p, WIRE_API_METADATA, 1, 1);
	pfx_run(&pf, 1, 50); /* connected, written, unanswered */
	assert_int_equal(pf.r.n, 0);
	int64_t due = sent_at + timeout + 20;
	assert_int_equal(net_at(pf.srv, due, kick), KB_OK);
	while (kb_mono_ms() < due + 5)
		usleep(1000); /* both timers due in the next turn */
	assert_int_equal(net_run_once(pf.srv, 0), KB_OK); /* net_check */
	assert_int_equal(pf.r.n, 2);
	assert_int_equal(pf.r.status[0], KB_ERR_AGAIN); /* request.timeout.ms */
	assert_int_equal(pf.r.status[1], KB_ERR_IO);    /* with the connection */
	close(lfd);
	pfx_free(&pf);
}

/* Turn the reactor until the peer's connection is accepted on lfd and
 * its request frame has arrived; returns the accepted socket and the
 * request's correlation id. */
static int fake_accept_request(struct pfx *pf, int lfd, int32_t *corr)
{
	int fd = -1;
	uint8_t buf[256];
	size_t have = 0;
	int64_t end = kb_mono_ms() + 5000;
	while (kb_mono_ms() < end && (have < 4 || have < 4 + kb_get_be32(buf))) {
		assert_int_equal(net_run_once(pf->srv, 5), KB_OK);
		if (fd < 0)
			fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
		ssize_t n = fd < 0 ? -1 : recv(fd, buf + have, sizeof buf - have, 0);
		if (n > 0)
			have += (size_t)n;
	}
	assert_true(fd >= 0 && have >= 12);
	*corr = (int32_t)kb_get_be32(buf + 8); /* size, key, version, corr */
	return fd;
}

static void test_net_peer_lying_response_closes(void **state)
{
	/* Each answer breaks one rule: a correlation id no call has, sizes
	 * over socket.request.max.bytes, negative, or too small for a
	 * correlation id. */
	static const struct { uint32_t size; int32_t corr_delta; } lies[] = {
		{8, 1}, {0x7fffffff, 0}, {0xffffffff, 0}, {2, 0}, {8, -1},
	};
	struct pfx pf;
	pfx_new(&pf);
	int port;
	int lfd = listener_on_free_port(&port);
	struct net_peer *p = pfx_peer(&pf, port, 5000, 0);
	for (size_t i = 0; i < KB_ARRAY_LEN(lies); i++) {
		pfx_send(&pf, p, WIRE_API_METADATA, 1, (int32_t)i);
		int32_t corr;
		int fd = fake_accept_request(&pf, lfd, &corr);
		uint8_t resp[12];
		tu_be(resp, lies[i].size, 4);
		tu_be(resp + 4, (uint32_t)(corr + lies[i].corr_delta), 4);
		tu_be(resp + 8, 0, 4);
		send_all(fd, resp, sizeof resp);
		pfx_run(&pf, (int)i + 1, 5000);
		assert_int_equal(pf.r.n, i + 1);
		assert_int_equal(pf.r.status[i], KB_ERR_IO);
		assert_false(net_peer_connected(p));
		expect_closed(fd);
	}
	close(lfd);
	pfx_free(&pf);
}

static void test_net_peer_close_fails_pending_calls(void **state)
{
	struct pfx pf;
	pfx_new(&pf);
	int port;
	int lfd = listener_on_free_port(&port);
	struct net_peer *p = pfx_peer(&pf, port, 5000, 0);
	for (int i = 0; i < 3; i++)
		pfx_send(&pf, p, WIRE_API_METADATA, 1, i);
	pfx_run(&pf, 1, 50); /* written, never answered */
	struct net_call again = {3, 1, NULL, 0, on_reply_resend, &pf.r};
	assert_int_equal(net_peer_send(p, &again), KB_OK);
	pf.r.send_rc = KB_OK;
	net_peer_close(p); /* every fn runs before it returns */
	assert_int_equal(pf.r.n, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pf.r.status[i], KB_ERR_IO);
	assert_int_equal(pf.r.send_rc, KB_ERR_IO); /* a closing peer refuses */
	/* net_server_free closes the peers still open the same way. */
	struct net_peer *q = pfx_peer(&pf, port, 5000, 0);
	pfx_send(&pf, q, WIRE_API_METADATA, 1, 9);
	pfx_run(&pf, 5, 50);
	close(lfd);
	pfx_free(&pf);
	assert_int_equal(pf.r.n, 5);
	assert_int_equal(pf.r.status[4], KB_ERR_IO);
}

static void test_net_peer_closed_by_its_own_reply_fn(void **state)
{
	struct pfx pf;
	pfx_new(&pf);
	struct net_peer *p = pfx_peer(&pf, pf.port, 5000, 0);
	pf.r.close_in_fn = true;
	for (int i = 0; i < 3; i++)
		pfx_send(&pf, p, WIRE_API_METADATA, 1, i);
	pfx_run(&pf, 3, 5000);
	/* The first answer closed the peer: the others failed inside it. */
	assert_int_equal(pf.r.n, 3);
	assert_int_equal(pf.r.status[0], KB_OK);
	assert_int_equal(pf.r.status[1], KB_ERR_IO);
	assert_int_equal(pf.r.status[2], KB_ERR_IO);
	pf.r.close_in_fn = false;
	pfx_run(&pf, 4, 50); /* the reactor goes on without it */
	pfx_free(&pf);
}

static void test_net_peer_rejects_bad_calls(void **state)
{
	struct pfx pf;
	pfx_new(&pf);
	struct net_peer_config bad = {"127.0.0.1", 0, "x", 1000, 0};
	struct net_peer *p = NULL;
	assert_int_equal(net_peer_open(pf.srv, &bad, &p), KB_ERR_INVAL);
	bad.port = pf.port;
	bad.request_timeout_ms = 0;
	assert_int_equal(net_peer_open(pf.srv, &bad, &p), KB_ERR_INVAL);
	p = pfx_peer(&pf, pf.port, 1000, 0);
	struct net_call c = {WIRE_API_METADATA, 1, NULL, 0, NULL, NULL};
	assert_int_equal(net_peer_send(p, &c), KB_ERR_INVAL); /* no fn */
	c.fn = on_reply;
	c.api_key = 9999;
	assert_int_equal(net_peer_send(p, &c), KB_ERR_INVAL); /* no such api */
	assert_int_equal(pf.r.n, 0);
	pfx_free(&pf);
}

/* ---- Dispatch table and request log ---- */

/* A dispatch-table row with no ctx, spelled at a call site. */
#define API(key, min, max, fn) (&(struct net_api){(key), (min), (max), (fn), NULL})

static void test_net_register_rejects_bad_rows(void **state)
{
	struct net_config cfg;
	net_config_defaults(&cfg);
	struct net_server *srv;
	assert_int_equal(net_server_new(&cfg, &srv), KB_OK);
	assert_int_equal(net_register(srv, API(3, 0, 9, h_echo)), KB_OK);
	assert_int_equal(net_register(srv, API(3, 0, 9, h_echo)), KB_ERR_EXISTS);
	assert_int_equal(net_register(srv, API(18, 0, 4, h_echo)), KB_ERR_EXISTS);
	assert_int_equal(net_register(srv, API(WIRE_API_COUNT, 0, 1, h_echo)), KB_ERR_INVAL);
	assert_int_equal(net_register(srv, API(-1, 0, 1, h_echo)), KB_ERR_INVAL);
	assert_int_equal(net_register(srv, API(1, 5, 4, h_echo)), KB_ERR_INVAL);
	assert_int_equal(net_register(srv, API(1, 0, 4, NULL)), KB_ERR_INVAL);
	assert_int_equal(net_connection_count(srv), 0);
	net_server_free(srv);
	cfg.request_max_bytes = 0;
	assert_int_equal(net_server_new(&cfg, &srv), KB_ERR_INVAL);
}

static void test_net_request_log_at_debug(void **state)
{
	struct tu_log_capture cap;
	tu_log_capture_start(&cap);
	kb_log_set_level(KB_LOG_DEBUG);
	struct fixture f = {0};
	fx_start(&f, NULL);
	int fd = tcp_connect(f.port);
	assert_true(echo_roundtrip(fd, 42, 1));
	close(fd);
	fx_stop(&f);
	kb_log_set_level(KB_LOG_INFO);
	tu_log_capture_stop();
	/* api, version, correlation id, client id, bytes in/out, latency */
	const char *line = strstr(cap.text, "request Metadata v1 corr 42 client tester");
	assert_non_null(line);
	assert_non_null(strstr(line, "24 bytes in, 12 bytes out"));
	assert_non_null(strstr(line, " us"));
}

int main(void)
{
	tu_log_quiet();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_net_api_versions_v0_advertises_exactly_the_table),
		cmocka_unit_test(test_net_api_versions_v2_adds_throttle_time),
		cmocka_unit_test(test_net_api_versions_v3_kcat_bytes),
		cmocka_unit_test(test_net_api_versions_v4_same_body_header_v0),
		cmocka_unit_test(test_net_api_versions_unknown_version_gets_v0_error),
		cmocka_unit_test(test_net_pipelined_requests_answered_in_order),
		cmocka_unit_test(test_net_before_send_hook_runs_once_per_pipeline),
		cmocka_unit_test(test_net_before_send_hook_failure_closes_unanswered),
		cmocka_unit_test(test_net_parked_request_holds_later_ones_until_wake),
		cmocka_unit_test(test_net_parked_request_expires_at_deadline),
		cmocka_unit_test(test_net_server_free_cancels_parked_ops),
		cmocka_unit_test(test_net_no_response_sends_nothing),
		cmocka_unit_test(test_net_response_add_file_splices_exact_bytes),
		cmocka_unit_test(test_net_file_truncated_before_send_closes),
		cmocka_unit_test(test_net_backpressure_stops_reading),
		cmocka_unit_test(test_net_bad_size_prefix_closes_only_that_connection),
		cmocka_unit_test(test_net_truncated_header_closes),
		cmocka_unit_test(test_net_unknown_api_key_closes),
		cmocka_unit_test(test_net_unsupported_version_or_key_closes),
		cmocka_unit_test(test_net_handler_proto_error_closes),
		cmocka_unit_test(test_net_conn_close_from_handler),
		cmocka_unit_test(test_net_partial_frame_dropped_after_frame_timeout),
		cmocka_unit_test(test_net_idle_connection_closed),
		cmocka_unit_test(test_net_max_connections_makes_the_next_one_wait),
		cmocka_unit_test(test_net_max_connections_per_ip_closes_the_extra_one),
		cmocka_unit_test(test_net_descriptors_bounded_per_connection),
		cmocka_unit_test(test_net_response_copies_ranges_past_the_descriptor_bound),
		cmocka_unit_test(test_net_full_descriptor_table_backs_off_and_logs_once),
		cmocka_unit_test(test_net_every_fires),
		cmocka_unit_test(test_net_at_fires_once_at_its_deadline),
		cmocka_unit_test(test_net_stop_returns_from_run),
		cmocka_unit_test(test_net_controller_api_on_broker_listener_closes),
		cmocka_unit_test(test_net_api_versions_lists_each_listeners_apis),
		cmocka_unit_test(test_net_same_key_two_handlers_on_two_listeners),
		cmocka_unit_test(test_net_register_per_listener_rows),
		cmocka_unit_test(test_net_peer_round_trip),
		cmocka_unit_test(test_net_peer_pipelined_calls_answered_in_order),
		cmocka_unit_test(test_net_peer_server_closes_mid_call),
		cmocka_unit_test(test_net_peer_reconnects_after_backoff),
		cmocka_unit_test(test_net_peer_silent_server_times_out),
		cmocka_unit_test(test_net_peer_send_keeps_due_deadline),
		cmocka_unit_test(test_net_peer_lying_response_closes),
		cmocka_unit_test(test_net_peer_close_fails_pending_calls),
		cmocka_unit_test(test_net_peer_closed_by_its_own_reply_fn),
		cmocka_unit_test(test_net_peer_rejects_bad_calls),
		cmocka_unit_test(test_net_register_rejects_bad_rows),
		cmocka_unit_test(test_net_request_log_at_debug),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
