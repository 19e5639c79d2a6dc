/* SPDX-License-Identifier: MIT */
/*
 * Tests for chapter 06 (topics: 06_topics.c, 06_config_defs.c, 06_lifecycle.c,
 * 06_admin.c, 06_config_apis.c, 06_apis.c,
 * 06_produce.c, 06_fetch.c). Most tests run a real broker: net_run in a
 * background thread on 127.0.0.1, the topic manager registered on it, and
 * a client that writes requests byte by byte over a plain socket. Request
 * and expected response bytes are written by hand from
 * shared/kafka-protocol/messages/ (the JSON specs) with the small builder below
 * (struct bb), never with samsa's encoder. Tests of the hooks call the
 * manager directly, without a server.
 */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <zlib.h>

#include "testutil.h"
#include "03_log.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"

/* Kafka error codes, as numbers, from Errors.java. */
enum {
	E_NONE = 0, E_OFFSET_OUT_OF_RANGE = 1, E_CORRUPT_MESSAGE = 2,
	E_UNKNOWN_TOPIC = 3, E_MESSAGE_TOO_LARGE = 10, E_INVALID_TOPIC = 17,
	E_NOT_ENOUGH_REPLICAS = 19, E_INVALID_REQUIRED_ACKS = 21,
	E_UNSUPPORTED_VERSION = 35, E_TOPIC_EXISTS = 36,
	E_INVALID_PARTITIONS = 37, E_INVALID_RF = 38, E_INVALID_ASSIGNMENT = 39,
	E_INVALID_CONFIG = 40, E_INVALID_REQUEST = 42,
	E_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43, E_POLICY_VIOLATION = 44,
	E_DELETION_DISABLED = 73, E_FENCED_LEADER_EPOCH = 74,
	E_UNKNOWN_LEADER_EPOCH = 75, E_INVALID_RECORD = 87,
	E_UNKNOWN_TOPIC_ID = 100, E_MISMATCHED_ENDPOINT = 114,
};

/* ---- A byte builder written from the protocol guide ---- */

struct bb {
	uint8_t p[65536];
	size_t n;
};

static void bb_raw(struct bb *b, const void *p, size_t n)
{
	assert_true(b->n + n <= sizeof b->p);
	memcpy(b->p + b->n, p, n);
	b->n += n;
}
static void bb_be(struct bb *b, uint64_t v, int bytes)
{
	uint8_t x[8];
	tu_be(x, v, bytes);
	bb_raw(b, x, (size_t)bytes);
}
static void bb_i8(struct bb *b, int v) { bb_be(b, (uint64_t)v, 1); }
static void bb_i16(struct bb *b, int v) { bb_be(b, (uint64_t)v, 2); }
static void bb_i32(struct bb *b, int64_t v) { bb_be(b, (uint64_t)v, 4); }
static void bb_i64(struct bb *b, int64_t v) { bb_be(b, (uint64_t)v, 8); }
/* Unsigned varint: compact lengths and tag counts (KIP-482). */
static void bb_uv(struct bb *b, uint64_t v)
{
	while (v >= 0x80) {
		bb_i8(b, (int)(v | 0x80) & 0xff);
		v >>= 7;
	}
	bb_i8(b, (int)v);
}
/* "string": int16 length (-1 null). */
static void bb_str(struct bb *b, const char *s)
{
	bb_i16(b, s ? (int)strlen(s) : -1);
	if (s)
		bb_raw(b, s, strlen(s));
}
/* compact string: uvarint length + 1 (0 null). */
static void bb_cstr(struct bb *b, const char *s)
{
	bb_uv(b, s ? strlen(s) + 1 : 0);
	if (s)
		bb_raw(b, s, strlen(s));
}
/* "bytes"/"records": int32 length; compact: uvarint length + 1. */
static void bb_bytes(struct bb *b, const void *p, size_t n)
{
	bb_i32(b, (int64_t)n);
	bb_raw(b, p, n);
}
static void bb_cbytes(struct bb *b, const void *p, size_t n)
{
	bb_uv(b, n + 1);
	bb_raw(b, p, n);
}

/* A reader for the fields tests pick out of responses. */
struct rd {
	const uint8_t *p;
	size_t n, pos;
};
static uint64_t rd_be(struct rd *r, int bytes)
{
	assert_true(r->pos + (size_t)bytes <= r->n);
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++)
		v = v << 8 | r->p[r->pos++];
	return v;
}
static int16_t rd_i16(struct rd *r) { return (int16_t)rd_be(r, 2); }
static int32_t rd_i32(struct rd *r) { return (int32_t)rd_be(r, 4); }
static int64_t rd_i64(struct rd *r) { return (int64_t)rd_be(r, 8); }
static void rd_skip_str(struct rd *r)
{
	int16_t n = rd_i16(r);
	r->pos += n > 0 ? (size_t)n : 0;
}

/* ---- A broker on loopback ---- */

struct tb {
	char *dir;
	struct topic_broker_config cfg;
	struct net_server *srv;
	struct topic_manager *tm;
	pthread_t thread;
	int port;
};

static void *reactor_main(void *arg)
{
	net_run(arg);
	return NULL;
}

static void tb_start(struct tb *b)
{
	struct net_config nc;
	net_config_defaults(&nc);
	assert_int_equal(net_server_new(&nc, &b->srv), KB_OK);
	assert_int_equal(topic_manager_open(&b->cfg, b->srv, &b->tm), KB_OK);
	assert_int_equal(net_listen(b->srv, "127.0.0.1", 0, &b->port), KB_OK);
	assert_int_equal(pthread_create(&b->thread, NULL, reactor_main, b->srv), 0);
}

static void tb_stop(struct tb *b)
{
	net_stop(b->srv);
	pthread_join(b->thread, NULL);
	topic_check(b->tm); /* every server test ends with the invariants */
	net_server_free(b->srv);
	topic_manager_close(b->tm);
}

/* A fresh log directory with the broker defaults, node 1, port 9092. */
static void tb_config(struct tb *b)
{
	memset(b, 0, sizeof *b);
	b->dir = tu_tmpdir();
	topic_broker_config_defaults(&b->cfg);
	snprintf(b->cfg.log_dir, sizeof b->cfg.log_dir, "%s/logs", b->dir);
	snprintf(b->cfg.cluster_id, sizeof b->cfg.cluster_id, "c1");
}

static void tb_open(struct tb *b)
{
	tb_config(b);
	tb_start(b);
}

static void tb_close(struct tb *b)
{
	tb_stop(b);
	tu_rmrf(b->dir);
}

static int tb_connect(const struct tb *b)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)b->port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {10, 0};
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

/* Request header v1 (v2 adds an empty tag section when flex), client
 * "t", then the body. */
static void send_req(int fd, int key, int ver, bool flex, int32_t corr,
		     const struct bb *body)
{
	static struct bb f;
	f.n = 0;
	bb_i32(&f, 0);
	bb_i16(&f, key);
	bb_i16(&f, ver);
	bb_i32(&f, corr);
	bb_str(&f, "t");
	if (flex)
		bb_i8(&f, 0);
	bb_raw(&f, body->p, body->n);
	tu_be(f.p, f.n - 4, 4);
	assert_int_equal(send(fd, f.p, f.n, MSG_NOSIGNAL), (ssize_t)f.n);
}

static bool recv_exact(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t k = recv(fd, p, n, 0);
		if (k <= 0)
			return false;
		p += k;
		n -= (size_t)k;
	}
	return true;
}

/* One response: its correlation id checked, response header v1's tag
 * byte skipped when flex; the body into out (malloc'ed). */
static size_t recv_resp(int fd, int32_t corr, bool flex, uint8_t **out)
{
	uint8_t h[4];
	assert_true(recv_exact(fd, h, 4));
	size_t n = kb_get_be32(h);
	uint8_t *p = malloc(n);
	assert_true(recv_exact(fd, p, n));
	assert_int_equal((int32_t)kb_get_be32(p), corr);
	size_t skip = 4 + (flex ? 1 : 0);
	if (flex)
		assert_int_equal(p[4], 0);
	memmove(p, p + skip, n - skip);
	*out = p;
	return n - skip;
}

/* Send, receive, and compare the body with want, byte for byte. */
static void roundtrip_expect(int fd, int key, int ver, bool flex,
			     const struct bb *req, const struct bb *want)
{
	static int32_t corr = 100;
	uint8_t *got;
	send_req(fd, key, ver, flex, ++corr, req);
	size_t n = recv_resp(fd, corr, flex, &got);
	if (n != want->n || memcmp(got, want->p, n) != 0) {
		for (size_t i = 0; i < n && i < want->n; i++)
			if (got[i] != want->p[i]) {
				print_error("first difference at byte %zu: got %02x "
					    "want %02x\n", i, got[i], want->p[i]);
				break;
			}
		print_error("got %zu bytes, want %zu\n", n, want->n);
	}
	assert_int_equal(n, want->n);
	assert_memory_equal(got, want->p, n);
	free(got);
}

/* Send and return the body (malloc'ed) in *out. */
static size_t roundtrip(int fd, int key, int ver, bool flex,
			const struct bb *req, uint8_t **out)
{
	static int32_t corr = 5000;
	send_req(fd, key, ver, flex, ++corr, req);
	return recv_resp(fd, corr, flex, out);
}

/* ---- Helpers that speak a few APIs ---- */

/* CreateTopics v2 with one config (or none); returns the error code. */
static int create_topic(int fd, const char *name, int32_t np, const char *key,
			const char *value)
{
	struct bb q = {.n = 0};
	uint8_t *r;
	bb_i32(&q, 1);
	bb_str(&q, name);
	bb_i32(&q, np);
	bb_i16(&q, -1);
	bb_i32(&q, 0); /* assignments */
	bb_i32(&q, key ? 1 : 0);
	if (key) {
		bb_str(&q, key);
		bb_str(&q, value);
	}
	bb_i32(&q, 5000);
	bb_i8(&q, 0);
	size_t n = roundtrip(fd, 19, 2, false, &q, &r);
	struct rd d = {r, n, 0};
	rd_i32(&d); /* throttle */
	assert_int_equal(rd_i32(&d), 1);
	rd_skip_str(&d);
	int err = rd_i16(&d);
	free(r);
	return err;
}

/* The body of a Produce v3 to one partition. */
static void produce_body(struct bb *q, const char *topic, int32_t part,
			 int acks, const uint8_t *records, int32_t len)
{
	bb_str(q, NULL); /* transactional_id */
	bb_i16(q, acks);
	bb_i32(q, 5000);
	bb_i32(q, 1);
	bb_str(q, topic);
	bb_i32(q, 1);
	bb_i32(q, part);
	bb_i32(q, len);
	if (len > 0)
		bb_raw(q, records, (size_t)len);
}

/* Produce v3, one partition, acks; error and base offset out. */
static int produce(int fd, const char *topic, int32_t part, int acks,
		   const uint8_t *records, int32_t len, int64_t *base)
{
	struct bb q = {.n = 0};
	uint8_t *r;
	produce_body(&q, topic, part, acks, records, len);
	size_t n = roundtrip(fd, 0, 3, false, &q, &r);
	struct rd d = {r, n, 0};
	assert_int_equal(rd_i32(&d), 1);
	rd_skip_str(&d);
	assert_int_equal(rd_i32(&d), 1);
	assert_int_equal(rd_i32(&d), part);
	int err = rd_i16(&d);
	int64_t b = rd_i64(&d);
	if (base)
		*base = b;
	free(r);
	return err;
}

/* Fetch v4 for one partition: the records bytes (malloc'ed) out. */
static int fetch4(int fd, const char *topic, int64_t offset, int32_t wait_ms,
		  int32_t min_bytes, int32_t max_bytes, uint8_t **recs,
		  size_t *len)
{
	struct bb q = {.n = 0};
	uint8_t *r;
	bb_i32(&q, -1);
	bb_i32(&q, wait_ms);
	bb_i32(&q, min_bytes);
	bb_i32(&q, max_bytes);
	bb_i8(&q, 0);
	bb_i32(&q, 1);
	bb_str(&q, topic);
	bb_i32(&q, 1);
	bb_i32(&q, 0);
	bb_i64(&q, offset);
	bb_i32(&q, max_bytes);
	size_t n = roundtrip(fd, 1, 4, false, &q, &r);
	struct rd d = {r, n, 0};
	rd_i32(&d);
	assert_int_equal(rd_i32(&d), 1);
	rd_skip_str(&d);
	assert_int_equal(rd_i32(&d), 1);
	assert_int_equal(rd_i32(&d), 0);
	int err = rd_i16(&d);
	rd_i64(&d); /* hw */
	rd_i64(&d); /* lso */
	assert_int_equal(rd_i32(&d), -1); /* aborted: null */
	*len = (size_t)rd_i32(&d);
	*recs = malloc(*len + 1);
	memcpy(*recs, r + d.pos, *len);
	assert_int_equal(d.pos + *len, n);
	free(r);
	return err;
}

static size_t one_batch(uint8_t *buf, size_t cap, const char *value,
			int64_t ts)
{
	struct tu_record rec = {"k", value, ts};
	return tu_batch_build(buf, cap, 0, &rec, 1);
}

/* Rewrite the CRC after a test changed covered bytes. */
static void fix_crc(uint8_t *b, size_t len)
{
	tu_be(b + 17, tu_crc32c(b + 21, len - 21), 4);
}

static char *path_in(const struct tb *b, const char *rel)
{
	static char p[8192];
	if (snprintf(p, sizeof p, "%s/%s", b->cfg.log_dir, rel) >= (int)sizeof p)
		fail();
	return p;
}

/* The properties file of topic: __samsa_topic_configs/<id>.properties,
 * the id read from its partition 0's partition.metadata. */
static char *props_path(const struct tb *b, const char *topic)
{
	static char p[8192];
	char rel[512], *id;
	size_t n;
	snprintf(rel, sizeof rel, "%s-0/partition.metadata", topic);
	uint8_t *f = tu_read_all(path_in(b, rel), &n);
	assert_non_null(f);
	assert_non_null(id = strstr((char *)f, "topic_id: "));
	snprintf(p, sizeof p, "%s/__samsa_topic_configs/%.22s.properties",
		 b->cfg.log_dir, id + strlen("topic_id: "));
	free(f);
	return p;
}

/* How many files are in dir whose name starts with prefix. */
static int files_with_prefix(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	assert_non_null(d);
	while ((de = readdir(d)))
		n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

/* A base64url decoder for topic ids, from RFC 4648 §5. */
static void id_decode(const char *s, uint8_t out[16])
{
	static const char a[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint32_t acc = 0;
	int bits = 0, o = 0;
	for (int i = 0; i < 22; i++) {
		acc = acc << 6 | (uint32_t)(strchr(a, s[i]) - a);
		if ((bits += 6) >= 8 && o < 16) {
			out[o++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
		}
	}
}

/* The topic id in <topic>-<p>/partition.metadata, checked for Kafka's
 * exact text: "version: 0\ntopic_id: <22 chars>\n". */
static void read_topic_id(const struct tb *b, const char *dir, uint8_t id[16],
			  char *text)
{
	char rel[512];
	size_t n = 0;
	snprintf(rel, sizeof rel, "%s/partition.metadata", dir);
	uint8_t *f = tu_read_all(path_in(b, rel), &n);
	assert_non_null(f);
	assert_int_equal(n, 11 + 10 + 22 + 1);
	assert_memory_equal(f, "version: 0\ntopic_id: ", 21);
	assert_int_equal(f[n - 1], '\n');
	memcpy(text, f + 21, 22);
	text[22] = '\0';
	id_decode(text, id);
	free(f);
}

/* ==== 06_topics.c and 06_lifecycle.c ==== */

static void test_topic_name_valid_follows_kafka(void **state)
{
	char long_name[251];
	memset(long_name, 'a', 250);
	long_name[250] = '\0';
	assert_true(topic_name_valid("orders.v1_x-y", 13));
	assert_false(topic_name_valid("", 0));
	assert_false(topic_name_valid(".", 1));
	assert_false(topic_name_valid("..", 2));
	assert_true(topic_name_valid("...", 3));
	assert_false(topic_name_valid("a b", 3));
	assert_false(topic_name_valid("a/b", 3));
	assert_true(topic_name_valid(long_name, 249));
	assert_false(topic_name_valid(long_name, 250));
}

static void test_topic_id_format_is_base64url_without_padding(void **state)
{
	struct wire_uuid id, back;
	char s[TOPIC_ID_STRING_LEN + 1];
	for (int i = 0; i < 16; i++)
		id.b[i] = (uint8_t)i;
	topic_id_format(&id, s);
	/* Python: base64.urlsafe_b64encode(bytes(range(16))).rstrip(b'=') */
	assert_string_equal(s, "AAECAwQFBgcICQoLDA0ODw");
	memset(id.b, 0xfb, 16);
	topic_id_format(&id, s);
	assert_string_equal(s, "-_v7-_v7-_v7-_v7-_v7-w");
	assert_int_equal(topic_id_parse(s, &back), KB_OK);
	assert_memory_equal(back.b, id.b, 16);
	assert_int_equal(topic_id_parse("AAECAwQFBgcICQoLDA0OD", &back),
			 KB_ERR_INVAL);
	assert_int_equal(topic_id_parse("AAECAwQFBgcICQoLDA0OD*", &back),
			 KB_ERR_INVAL);
	assert_int_equal(topic_id_parse("AAECAwQFBgcICQoLDA0ODx", &back),
			 KB_ERR_INVAL);
}

/* Interface: a topic reloads after a restart with the same id, and
 * partition.metadata holds Kafka's exact text. */
static void test_topic_reloads_with_same_id_after_restart(void **state)
{
	struct tb b;
	uint8_t id1[16], id2[16];
	char t1[23], t2[23];
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "orders", 3, NULL, NULL), E_NONE);
	close(fd);
	read_topic_id(&b, "orders-0", id1, t1);
	read_topic_id(&b, "orders-2", id2, t2);
	assert_string_equal(t1, t2);
	assert_true(t1[0] != '-');
	assert_int_equal(id1[6] >> 4, 4); /* a version 4 UUID, as Kafka's */
	tb_stop(&b);
	tb_start(&b);
	struct topic *t = topic_find(b.tm, "orders");
	assert_non_null(t);
	assert_int_equal(t->npartitions, 3);
	assert_memory_equal(t->id.b, id1, 16);
	tb_close(&b);
}

/* Interface: topic_manager_close is a clean shutdown: both checkpoints in
 * Kafka's format and the marker; the next open takes the marker. */
static void test_topic_manager_close_writes_checkpoints_and_marker(void **state)
{
	struct tb b;
	uint8_t batch[256];
	size_t n, len = one_batch(batch, sizeof batch, "v", 1000);
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "t", 1, NULL, NULL), E_NONE);
	assert_int_equal(produce(fd, "t", 0, 1, batch, (int32_t)len, NULL), E_NONE);
	assert_int_equal(produce(fd, "t", 0, 1, batch, (int32_t)len, NULL), E_NONE);
	close(fd);
	tb_stop(&b);
	uint8_t *f = tu_read_all(path_in(&b, "recovery-point-offset-checkpoint"), &n);
	assert_non_null(f);
	assert_int_equal(n, strlen("0\n1\nt 0 2\n"));
	assert_memory_equal(f, "0\n1\nt 0 2\n", n);
	free(f);
	f = tu_read_all(path_in(&b, "log-start-offset-checkpoint"), &n);
	assert_non_null(f);
	assert_memory_equal(f, "0\n0\n", 4);
	free(f);
	assert_true(tu_file_size(path_in(&b, ".kafka_cleanshutdown")) == 0);
	f = tu_read_all(path_in(&b, "t-0/leader-epoch-checkpoint"), &n);
	assert_non_null(f);
	assert_int_equal(n, 8);
	assert_memory_equal(f, "0\n1\n0 0\n", 8);
	free(f);
	tb_start(&b);
	assert_true(tu_file_size(path_in(&b, ".kafka_cleanshutdown")) < 0);
	tb_close(&b);
}

/* Invariant 2: topic configs survive a restart, in samsa's own file. */
static void test_topic_configs_persist_across_restart(void **state)
{
	struct tb b;
	size_t n;
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "c", 1, "retention.ms", "1234"), E_NONE);
	close(fd);
	tb_stop(&b);
	uint8_t *f = tu_read_all(props_path(&b, "c"), &n);
	assert_non_null(f);
	assert_int_equal(n, strlen("retention.ms=1234\n"));
	assert_memory_equal(f, "retention.ms=1234\n", n);
	free(f);
	tb_start(&b);
	struct topic *t = topic_find(b.tm, "c");
	assert_non_null(t);
	assert_int_equal(t->cfg.log.retention_ms, 1234);
	assert_int_equal(t->partitions[0]->log->cfg.retention_ms, 1234);
	assert_string_equal(t->overrides.names[0], "retention.ms");
	tb_close(&b);
}

/* Invariant 1: a missing partition directory is recreated on load, and
 * a leftover ...-delete directory is removed. */
static void test_topic_load_recreates_gaps_and_finishes_deletes(void **state)
{
	struct tb b;
	char cmd[16384];
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "g", 3, NULL, NULL), E_NONE);
	close(fd);
	tb_stop(&b);
	int k = snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir ", path_in(&b, "g-1"));
	if (snprintf(cmd + k, sizeof cmd - (size_t)k, "%s",
		     path_in(&b, "x-0.abc-delete")) >= (int)sizeof cmd - k)
		fail();
	assert_int_equal(system(cmd), 0);
	tb_start(&b);
	assert_int_equal(topic_find(b.tm, "g")->npartitions, 3);
	assert_true(tu_file_size(path_in(&b, "g-1/partition.metadata")) > 0);
	assert_true(tu_file_size(path_in(&b, "x-0.abc-delete")) < 0);
	tb_close(&b);
}

/* ---- Creating and deleting topics across a crash ---- */

/* A 249-byte name: Kafka's longest, the case that left directories. */
static void long_name(char *out, size_t len, char c)
{
	memset(out, c, len);
	out[len] = '\0';
}

/* The step hook of the crash tests: end the process, as a crash would,
 * at the k-th durable step. The exit status says whether the operation
 * had committed: 11 after its commit, 10 before. */
struct crash_at {
	int k, seen;
	const char *commit_step; /* the first step after the commit */
	bool after_commit;
};

static void crash_step(void *ctx, const char *step)
{
	struct crash_at *c = ctx;
	if (strcmp(step, c->commit_step) == 0)
		c->after_commit = true;
	if (++c->seen == c->k)
		_exit(c->after_commit ? 11 : 10);
}

/* Run op(tm, name) in a child that crashes at step k; its exit status
 * (0 when it finished without reaching step k). */
static int run_crashing(struct tb *b, int k, const char *commit_step,
			void (*op)(struct topic_manager *, const char *),
			const char *name)
{
	pid_t pid = fork();
	int st;
	assert_true(pid >= 0);
	if (pid == 0) {
		struct crash_at c = {k, 0, commit_step, false};
		struct topic_manager *tm;
		if (topic_manager_open(&b->cfg, NULL, &tm) != KB_OK)
			_exit(2);
		topic_set_step_hook(tm, crash_step, &c);
		op(tm, name);
		_exit(0); /* no clean shutdown either */
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_not_equal(WEXITSTATUS(st), 2);
	return WEXITSTATUS(st);
}

static void op_create(struct topic_manager *tm, const char *name)
{
	struct topic_config_kv kv[] = {{"retention.ms", "123456"}};
	if (topic_create(tm, TOPIC_REQ(name, 3, kv, 1), NULL) != KB_OK)
		_exit(3);
}

static void op_delete(struct topic_manager *tm, const char *name)
{
	if (topic_delete(tm, topic_find(tm, name)) != KB_OK)
		_exit(3);
}

/* After a restart: either the whole topic (3 partitions, its configs)
 * or nothing of it: no directory, no -delete leftover, no config file. */
static void expect_whole_or_none(struct tb *b, const char *name, bool whole)
{
	char prefix[201];
	static struct tu_log_capture log;
	snprintf(prefix, sizeof prefix, "%.200s", name); /* -delete cuts it */
	tu_log_capture_start(&log);
	assert_int_equal(topic_manager_open(&b->cfg, NULL, &b->tm), KB_OK);
	tu_log_capture_stop(); /* "a crash interrupted ..." */
	topic_check(b->tm);
	struct topic *t = topic_find(b->tm, name);
	int files = files_with_prefix(path_in(b, "__samsa_topic_configs"), "");
	if (whole) {
		assert_non_null(t);
		assert_int_equal(t->npartitions, 3);
		assert_int_equal(files_with_prefix(b->cfg.log_dir, prefix), 3);
		assert_int_equal(files, 3); /* ".", "..", <id>.properties */
	} else {
		assert_null(t);
		assert_int_equal(files_with_prefix(b->cfg.log_dir, prefix), 0);
		assert_int_equal(files, 2);
	}
}

/* Invariant 4: a crash at any step of creating a three-partition topic
 * with a 249-byte name leaves, after the restart, all of it (once the
 * commit is on disk) or none of it; none can be created again. */
static void test_topic_create_all_or_nothing_across_crash(void **state)
{
	char name[TOPIC_NAME_MAX + 1];
	int k, status;
	long_name(name, TOPIC_NAME_MAX, 'c');
	for (k = 1;; k++) {
		struct tb b;
		tb_config(&b);
		status = run_crashing(&b, k, "create: publish", op_create, name);
		assert_true(status == 0 || status == 10 || status == 11);
		expect_whole_or_none(&b, name, status != 10);
		if (status == 10)
			assert_int_equal(topic_create(b.tm, TOPIC_REQ(name, 3, NULL, 0), NULL),
					 KB_OK);
		topic_check(b.tm);
		topic_manager_close(b.tm);
		tu_rmrf(b.dir);
		if (status == 0)
			break;
	}
	/* intent, 3 x (partition, its metadata), configs, commit, publish */
	assert_true(k >= 10);
}

/* Invariant 4: a crash at any step of deleting it leaves the whole topic
 * with its records (before the intent is on disk) or none of it, and a
 * topic created again under the name starts empty: nothing comes back. */
static void test_topic_delete_all_or_nothing_across_crash(void **state)
{
	char name[TOPIC_NAME_MAX + 1];
	uint8_t batch[256];
	int k, status;
	long_name(name, TOPIC_NAME_MAX, 'd');
	size_t len = one_batch(batch, sizeof batch, "kept?", 5);
	for (k = 1;; k++) {
		struct tb b;
		tb_config(&b);
		assert_int_equal(topic_manager_open(&b.cfg, NULL, &b.tm), KB_OK);
		op_create(b.tm, name);
		assert_int_equal(topic_append_batch(topic_partition_find(
					b.tm, name, 1), batch, len, NULL), KB_OK);
		topic_manager_close(b.tm);
		status = run_crashing(&b, k, "delete: rename", op_delete, name);
		assert_true(status == 0 || status == 10 || status == 11);
		expect_whole_or_none(&b, name, status == 10);
		if (status != 10) {
			assert_int_equal(topic_create(b.tm, TOPIC_REQ(name, 3, NULL, 0), NULL),
					 KB_OK);
		}
		struct topic_partition *tp = topic_partition_find(b.tm, name, 1);
		assert_int_equal(log_end_offset(tp->log), status == 10 ? 1 : 0);
		topic_manager_close(b.tm);
		tu_rmrf(b.dir);
		if (status == 0)
			break;
	}
	assert_true(k >= 8); /* intent, 3 renames, 3 removes, configs, ... */
}

/* Invariant 3 of 06_lifecycle.c: a new topic never takes over a partition
 * directory an earlier topic left (a delete whose removal failed): the
 * creation fails, touches nothing of it, and leaves no topic. */
static void test_topic_create_never_reuses_a_leftover_directory(void **state)
{
	struct tb b;
	struct tu_log_capture log;
	tb_config(&b);
	assert_int_equal(topic_manager_open(&b.cfg, NULL, &b.tm), KB_OK);
	assert_int_equal(mkdir(path_in(&b, "old-1"), 0755), 0);
	tu_write_all(path_in(&b, "old-1/00000000000000000000.log"), "x", 1);
	static const char meta[] = "version: 0\ntopic_id: AAAAAAAAQACAAAAAAAAAAA\n";
	tu_write_all(path_in(&b, "old-1/partition.metadata"), meta,
		     sizeof meta - 1);
	tu_log_capture_start(&log);
	assert_int_not_equal(topic_create(b.tm, TOPIC_REQ("old", 2, NULL, 0), NULL), KB_OK);
	tu_log_capture_stop();
	assert_non_null(strstr(log.text, "left from an earlier topic"));
	assert_null(topic_find(b.tm, "old"));
	assert_true(tu_file_size(path_in(&b, "old-0")) < 0);
	assert_int_equal(tu_file_size(path_in(&b, "old-1/00000000000000000000.log")),
			 1);
	assert_int_equal(files_with_prefix(path_in(&b, "__samsa_topic_configs"), ""),
			 2);
	topic_check(b.tm);
	topic_manager_close(b.tm);
	tu_rmrf(b.dir);
}

/* ---- Hooks, without a server ---- */

struct hook_log {
	int checks, appends;
	int16_t verdict;
	bool duplicate;
	int64_t last_base;
};

static void check_hook(void *ctx, struct topic_partition *tp,
		       const struct seg_batch *batch,
		       struct topic_produce_verdict *v)
{
	struct hook_log *h = ctx;
	h->checks++;
	v->error_code = h->verdict;
	v->duplicate = h->duplicate;
	v->base_offset = 42;
}

static void appended_hook(void *ctx, struct topic_partition *tp,
			  const struct seg_batch *batch,
			  const struct log_append_info *info)
{
	struct hook_log *h = ctx;
	h->appends++;
	h->last_base = info->base_offset;
}

/* Interface: later chapters create topics, append broker-built batches
 * and read them back through the hooks. */
static void test_topic_hooks_create_append_read(void **state)
{
	struct tb b;
	struct topic *t;
	struct topic_config_kv kv[] = {{"cleanup.policy", "compact"}};
	uint8_t batch[256];
	struct log_append_info info;
	struct kb_buf out;
	int64_t next;
	tb_config(&b);
	assert_int_equal(topic_manager_open(&b.cfg, NULL, &b.tm), KB_OK);
	assert_int_equal(topic_create(b.tm, TOPIC_REQ("__consumer_offsets", 50, kv, 1), &t),
			 KB_OK);
	assert_true(t->internal);
	assert_true(t->cfg.cleanup_compact && !t->cfg.cleanup_delete);
	assert_int_equal(topic_create(b.tm, TOPIC_REQ("__consumer_offsets", 1, NULL, 0), NULL),
			 KB_ERR_EXISTS);
	assert_int_equal(topic_create(b.tm, TOPIC_REQ("bad name", 1, NULL, 0), NULL),
			 KB_ERR_INVAL);
	struct topic_partition *tp = topic_partition_find(b.tm, "__consumer_offsets", 49);
	assert_non_null(tp);
	size_t len = one_batch(batch, sizeof batch, "offset", 7);
	assert_int_equal(topic_append_batch(tp, batch, len, &info), KB_OK);
	assert_int_equal(topic_append_batch(tp, batch, len, &info), KB_OK);
	assert_int_equal(info.base_offset, 1);
	assert_int_equal(tp->high_watermark, 2);
	kb_buf_init(&out);
	next = 1;
	assert_int_equal(topic_read_copy(tp, &next, 1, &out), KB_OK);
	assert_int_equal(out.len, len);
	assert_int_equal(next, 2);
	assert_int_equal((int64_t)kb_get_be64(out.data), 1); /* base offset */
	kb_buf_fini(&out);
	topic_manager_close(b.tm);
	tu_rmrf(b.dir);
}

/* A file size limit (RLIMIT_FSIZE, SIGXFSZ ignored) makes the disk "full"
 * at a byte of our choosing: write(2) gets as far as the limit, then
 * EFBIG, as a full tmpfs gives ENOSPC. */
static void fsize_limit(rlim_t bytes)
{
	struct rlimit rl;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &rl), 0);
	rl.rlim_cur = bytes;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

static off_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/* 06_logdir.c: a write that fails half way leaves the segment exactly as
 * it was (the torn bytes are cut, checked on disk), the log dir goes
 * offline, and every append, leader or follower, is refused without
 * touching the disk until a probe write succeeds; then the next batch
 * takes the offset the failed one would have had. */
static void test_topic_logdir_offline_after_failed_write(void **state)
{
	struct tb b;
	struct topic *t;
	uint8_t batch[4096], before[4096], after[4096];
	struct log_append_info info;
	struct rlimit saved;
	(void)state;
	tb_config(&b);
	assert_int_equal(topic_manager_open(&b.cfg, NULL, &b.tm), KB_OK);
	assert_int_equal(topic_create(b.tm, TOPIC_REQ("t", 1, NULL, 0), &t), KB_OK);
	struct topic_partition *tp = topic_partition_find(b.tm, "t", 0);
	struct topic_logdir *ld = topic_manager_logdir(b.tm);
	char *seg = strdup(path_in(&b, "t-0/00000000000000000000.log"));
	size_t len = one_batch(batch, sizeof batch, "first", 1);
	assert_int_equal(topic_append_batch(tp, batch, len, &info), KB_OK);
	off_t good = file_size(seg);
	assert_int_equal(good, (off_t)len);
	int fd = open(seg, O_RDONLY);
	assert_true(fd >= 0 && pread(fd, before, (size_t)good, 0) == good);
	/* The disk ends 10 bytes into the next batch. */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
	signal(SIGXFSZ, SIG_IGN);
	fsize_limit((rlim_t)good + 10);
	len = one_batch(batch, sizeof batch, "second", 2);
	assert_int_equal(topic_append_batch(tp, batch, len, &info), KB_ERR_IO);
	assert_int_equal(file_size(seg), good); /* no torn tail */
	assert_true(pread(fd, after, sizeof after, 0) == good);
	assert_memory_equal(before, after, (size_t)good);
	assert_int_equal(log_end_offset(tp->log), 1);
	assert_false(topic_logdir_online(ld));
	assert_int_equal(ld->failures, 1);
	/* Offline: nothing is tried, as leader or follower. */
	fsize_limit(saved.rlim_cur);
	assert_int_equal(topic_append_batch(tp, batch, len, &info), KB_ERR_IO);
	assert_int_equal(topic_append_replica(tp, batch, len, NULL), KB_ERR_IO);
	assert_int_equal(file_size(seg), good);
	/* A probe before its time, or on a disk still full, changes nothing. */
	assert_false(topic_logdir_probe(ld, ld->offline_since));
	fsize_limit(4096);
	assert_false(topic_logdir_probe(ld, ld->next_probe));
	assert_false(topic_logdir_online(ld));
	/* Room again: the next due probe brings the dir back. */
	fsize_limit(saved.rlim_cur);
	assert_true(topic_logdir_probe(ld, ld->next_probe));
	assert_true(topic_logdir_online(ld));
	assert_int_equal(access(path_in(&b, TOPIC_LOGDIR_PROBE_FILE), F_OK), -1);
	len = one_batch(batch, sizeof batch, "second", 2);
	assert_int_equal(topic_append_batch(tp, batch, len, &info), KB_OK);
	assert_int_equal(info.base_offset, 1);
	assert_int_equal(file_size(seg), good + (off_t)len);
	assert_int_equal(ld->failures, 1);
	topic_logdir_check(ld);
	signal(SIGXFSZ, SIG_DFL);
	close(fd);
	free(seg);
	topic_manager_close(b.tm);
	tu_rmrf(b.dir);
}

/* What a producer sees: KAFKA_STORAGE_ERROR (56) for the batch the full
 * disk refused, and for every batch after it while the log dir is
 * offline, even once there is room; the segment keeps only the first. */
static void test_topic_produce_storage_error_while_offline(void **state)
{
	struct tb b;
	struct rlimit saved;
	uint8_t batch[256];
	size_t len = one_batch(batch, sizeof batch, "v", 1000);
	(void)state;
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "t", 1, NULL, NULL), E_NONE);
	assert_int_equal(produce(fd, "t", 0, 1, batch, (int32_t)len, NULL), E_NONE);
	char *seg = strdup(path_in(&b, "t-0/00000000000000000000.log"));
	assert_int_equal(file_size(seg), (off_t)len);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
	signal(SIGXFSZ, SIG_IGN);
	fsize_limit((rlim_t)len + 10);
	assert_int_equal(produce(fd, "t", 0, 1, batch, (int32_t)len, NULL), 56);
	fsize_limit(saved.rlim_cur);
	assert_int_equal(produce(fd, "t", 0, 1, batch, (int32_t)len, NULL), 56);
	assert_int_equal(file_size(seg), (off_t)len);
	signal(SIGXFSZ, SIG_DFL);
	free(seg);
	close(fd);
	tb_close(&b);
}

/* Every net_wake of chapter 06 passes here (the test links with
 * -Wl,--wrap=net_wake), so a test can count the wakes of one append. */
static int net_wakes;
void __real_net_wake(struct net_server *srv, const void *key);
void __wrap_net_wake(struct net_server *srv, const void *key)
{
	net_wakes++;
	__real_net_wake(srv, key);
}

/* Interface: partition events reach every subscriber; while chapter 06
 * owns the high watermark it moves once per append, to the log end, and
 * each append wakes parked fetches exactly once. */
static void test_topic_subscribers_hear_each_append_one_wake(void **state)
{
	struct tb b;
	struct net_config nc;
	struct net_server *srv;
	struct hook_log h1 = {0}, h2 = {0};
	uint8_t batch[256];
	tb_config(&b);
	net_config_defaults(&nc);
	assert_int_equal(net_server_new(&nc, &srv), KB_OK);
	assert_int_equal(topic_manager_open(&b.cfg, srv, &b.tm), KB_OK);
	assert_int_equal(topic_create(b.tm, TOPIC_REQ("r", 1, NULL, 0), NULL),
			 KB_OK);
	struct topic_partition *tp = topic_partition_find(b.tm, "r", 0);
	assert_int_equal(topic_subscribe(b.tm, appended_hook, &h1), KB_OK);
	assert_int_equal(topic_subscribe(b.tm, appended_hook, &h2), KB_OK);
	size_t len = one_batch(batch, sizeof batch, "x", 1);
	net_wakes = 0;
	assert_int_equal(topic_append_batch(tp, batch, len, NULL), KB_OK);
	assert_int_equal(h1.appends, 1);
	assert_int_equal(h2.appends, 1);
	assert_int_equal(tp->high_watermark, 1);
	assert_int_equal(net_wakes, 1);
	topic_unsubscribe(b.tm, appended_hook, &h1);
	assert_int_equal(topic_append_batch(tp, batch, len, NULL), KB_OK);
	assert_int_equal(h1.appends, 1);
	assert_int_equal(h2.appends, 2);
	assert_int_equal(tp->high_watermark, 2);
	assert_int_equal(net_wakes, 2);
	topic_check(b.tm);
	topic_manager_close(b.tm);
	net_server_free(srv);
	tu_rmrf(b.dir);
}

/* Interface: once a later chapter takes the high watermark, an append
 * leaves it where it was and only its owner moves it: capped at the log
 * end, never backwards. */
static void test_topic_take_high_watermark_moves_ownership(void **state)
{
	struct tb b;
	struct hook_log h = {0};
	uint8_t batch[256];
	tb_config(&b);
	assert_int_equal(topic_manager_open(&b.cfg, NULL, &b.tm), KB_OK);
	assert_int_equal(topic_create(b.tm, TOPIC_REQ("r", 1, NULL, 0), NULL),
			 KB_OK);
	struct topic_partition *tp = topic_partition_find(b.tm, "r", 0);
	assert_int_equal(topic_subscribe(b.tm, appended_hook, &h), KB_OK);
	topic_take_high_watermark(b.tm);
	size_t len = one_batch(batch, sizeof batch, "x", 1);
	assert_int_equal(topic_append_batch(tp, batch, len, NULL), KB_OK);
	assert_int_equal(h.appends, 1);
	assert_int_equal(tp->high_watermark, 0);
	topic_partition_set_high_watermark(b.tm, tp, 5); /* capped at LEO */
	assert_int_equal(tp->high_watermark, 1);
	topic_partition_set_high_watermark(b.tm, tp, 0); /* never backwards */
	assert_int_equal(tp->high_watermark, 1);
	topic_check(b.tm);
	topic_manager_close(b.tm);
	tu_rmrf(b.dir);
}

/* flush.messages=1: no acknowledgement leaves before its batch is
 * fsynced, and pipelined requests share the fsync (the before-send hook,
 * topic_flush_unflushed): when the five answers are in, the recovery
 * point is the log end offset. */
static void test_topic_flush_messages_acknowledges_only_durable(void **state)
{
	struct tb b;
	static struct bb q;
	uint8_t batch[256], *r;
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "d", 1, "flush.messages", "1"),
			 E_NONE);
	size_t len = one_batch(batch, sizeof batch, "x", 1);
	for (int32_t corr = 1; corr <= 5; corr++) {
		q.n = 0;
		produce_body(&q, "d", 0, -1, batch, (int32_t)len);
		send_req(fd, 0, 3, false, corr, &q);
	}
	for (int32_t corr = 1; corr <= 5; corr++) {
		size_t n = recv_resp(fd, corr, false, &r);
		struct rd d = {r, n, 0};
		rd_i32(&d);
		rd_skip_str(&d);
		rd_i32(&d);
		assert_int_equal(rd_i32(&d), 0);       /* partition */
		assert_int_equal(rd_i16(&d), E_NONE);  /* error */
		assert_int_equal(rd_i64(&d), corr - 1); /* base offset */
		free(r);
	}
	const struct log *log = topic_partition_find(b.tm, "d", 0)->log;
	assert_int_equal(log_end_offset(log), 5);
	assert_int_equal(log->recovery_point, 5);
	close(fd);
	tb_close(&b);
}

/* Interface: the produce check sees each batch before any append; an
 * error or a duplicate (answered with the original offset) appends
 * nothing. */
static void test_topic_produce_check_rejects_or_dedups(void **state)
{
	struct tb b;
	struct hook_log h = {.verdict = 47}; /* INVALID_PRODUCER_EPOCH */
	uint8_t batch[256];
	int64_t base;
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "p", 1, NULL, NULL), E_NONE);
	topic_set_produce_check(b.tm, check_hook, &h); /* reactor idle now */
	size_t len = one_batch(batch, sizeof batch, "x", 1);
	assert_int_equal(produce(fd, "p", 0, 1, batch, (int32_t)len, &base), 47);
	assert_int_equal(base, -1);
	h.verdict = 0;
	h.duplicate = true;
	assert_int_equal(produce(fd, "p", 0, 1, batch, (int32_t)len, &base), E_NONE);
	assert_int_equal(base, 42);
	h.duplicate = false;
	assert_int_equal(produce(fd, "p", 0, 1, batch, (int32_t)len, &base), E_NONE);
	assert_int_equal(base, 0);
	assert_int_equal(h.checks, 3);
	close(fd);
	tb_close(&b);
}

/* The retention timer deletes old segments of delete-policy topics only
 * (a compacted topic keeps its history) and checkpoints the new start. */
static void test_topic_manager_tick_retention_for_delete_policy_only(void **state)
{
	struct tb b;
	struct topic_config_kv del[] = {{"segment.bytes", "100"},
					{"retention.ms", "1000"}};
	struct topic_config_kv comp[] = {{"segment.bytes", "100"},
					 {"retention.ms", "1000"},
					 {"cleanup.policy", "compact"}};
	uint8_t batch[256];
	size_t n = 0;
	tb_config(&b);
	assert_int_equal(topic_manager_open(&b.cfg, NULL, &b.tm), KB_OK);
	assert_int_equal(topic_create(b.tm, TOPIC_REQ("old", 1, del, 2), NULL),
			 KB_OK);
	assert_int_equal(topic_create(b.tm, TOPIC_REQ("kept", 1, comp, 3), NULL),
			 KB_OK);
	const char *names[] = {"old", "kept"};
	for (int t = 0; t < 2; t++)
		for (int i = 0; i < 3; i++) {
			size_t len = one_batch(batch, sizeof batch, "0123456789", 1000 + i);
			assert_int_equal(topic_append_batch(topic_partition_find(
				b.tm, names[t], 0), batch, len, NULL), KB_OK);
		}
	topic_manager_tick(b.tm, kb_now_ms());
	assert_int_equal(topic_partition_find(b.tm, "old", 0)->log->log_start_offset, 2);
	assert_int_equal(topic_partition_find(b.tm, "kept", 0)->log->log_start_offset, 0);
	assert_true(tu_file_size(path_in(&b, "old-0/00000000000000000000.log")) < 0);
	assert_true(tu_file_size(path_in(&b, "kept-0/00000000000000000000.log")) > 0);
	/* Whole segments went: the start is the first segment's base, so, as
	 * in Kafka, log-start-offset-checkpoint needs no entry for it. */
	uint8_t *f = tu_read_all(path_in(&b, "log-start-offset-checkpoint"), &n);
	assert_int_equal(n, 4);
	assert_memory_equal(f, "0\n0\n", n);
	free(f);
	topic_manager_close(b.tm);
	tu_rmrf(b.dir);
}

/* ---- Metadata ---- */

/* One partition of a v0 Metadata answer: node 1 leads and replicates. */
static void want_md_partition_v0(struct bb *w, int32_t index)
{
	bb_i16(w, 0);
	bb_i32(w, index);
	bb_i32(w, 1);
	bb_i32(w, 1);
	bb_i32(w, 1);
	bb_i32(w, 1);
	bb_i32(w, 1);
}

/* KAFKA: v0 [] means every topic (kafka-python's probe). */
static void test_metadata_v0_empty_list_means_all_topics(void **state)
{
	struct tb b;
	struct bb q = {.n = 0}, w = {.n = 0};
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "a", 2, NULL, NULL), E_NONE);
	bb_i32(&q, 0);
	bb_i32(&w, 1); /* brokers */
	bb_i32(&w, 1);
	bb_str(&w, "localhost");
	bb_i32(&w, 9092);
	bb_i32(&w, 1); /* topics */
	bb_i16(&w, 0);
	bb_str(&w, "a");
	bb_i32(&w, 2);
	want_md_partition_v0(&w, 0);
	want_md_partition_v0(&w, 1);
	roundtrip_expect(fd, 3, 0, false, &q, &w);
	close(fd);
	tb_close(&b);
}

/* KAFKA: v1+ null means all, [] means none (librdkafka's brokers-only
 * probe); v4 allow_auto_topic_creation=false does not create. */
static void test_metadata_v4_null_all_empty_none_and_auto_create_flag(void **state)
{
	struct tb b;
	struct bb q = {.n = 0};
	uint8_t *r;
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "a", 1, NULL, NULL), E_NONE);
	bb_i32(&q, -1);
	bb_i8(&q, 0);
	size_t n = roundtrip(fd, 3, 4, false, &q, &r);
	struct rd d = {r, n, 0};
	rd_i32(&d); /* throttle */
	assert_int_equal(rd_i32(&d), 1);
	rd_i32(&d), rd_skip_str(&d), rd_i32(&d), rd_skip_str(&d); /* broker */
	rd_skip_str(&d);                                       /* cluster id */
	assert_int_equal(rd_i32(&d), 1);                       /* controller */
	assert_int_equal(rd_i32(&d), 1);                       /* one topic */
	free(r);
	q.n = 0;
	bb_i32(&q, 0);
	bb_i8(&q, 1);
	n = roundtrip(fd, 3, 4, false, &q, &r);
	assert_int_equal((int32_t)kb_get_be32(r + n - 4), 0); /* no topics */
	free(r);
	q.n = 0;
	bb_i32(&q, 1);
	bb_str(&q, "nope");
	bb_i8(&q, 0);
	n = roundtrip(fd, 3, 4, false, &q, &r);
	/* ... topics [1][error 3]["nope"][internal false][0 partitions] */
	assert_int_equal(kb_get_be16(r + n - 13), E_UNKNOWN_TOPIC);
	free(r);
	close(fd);
	assert_null(topic_find(b.tm, "nope"));
	tb_close(&b);
}

/* Metadata v4 for one topic, allow_auto_topic_creation true: the
 * topic's error code. */
static int metadata_one(int fd, const char *topic)
{
	struct bb q = {.n = 0};
	uint8_t *r;
	bb_i32(&q, 1);
	bb_str(&q, topic);
	bb_i8(&q, 1);
	size_t n = roundtrip(fd, 3, 4, false, &q, &r);
	struct rd d = {r, n, 0};
	rd_i32(&d); /* throttle */
	assert_int_equal(rd_i32(&d), 1);
	rd_i32(&d), rd_skip_str(&d), rd_i32(&d), rd_skip_str(&d); /* broker */
	rd_skip_str(&d), rd_i32(&d); /* cluster id, controller */
	assert_int_equal(rd_i32(&d), 1);
	int err = rd_i16(&d);
	free(r);
	return err;
}

/* Item 7 of issue 9: no client may create or write a name the broker
 * reserves, and Metadata never auto-creates one: __cluster_metadata (once
 * auto-created and written by any client) and the internal topics. */
static void test_topic_reserved_names_refused(void **state)
{
	static const char *const names[] = {
		"__cluster_metadata", "__consumer_offsets", "__transaction_state"};
	struct tb b;
	uint8_t batch[256];
	int64_t base;
	tb_open(&b);
	int fd = tb_connect(&b);
	size_t len = one_batch(batch, sizeof batch, "x", 1);
	for (size_t i = 0; i < KB_ARRAY_LEN(names); i++) {
		assert_true(topic_name_reserved(names[i], strlen(names[i])));
		assert_int_equal(metadata_one(fd, names[i]), E_UNKNOWN_TOPIC);
		assert_int_equal(create_topic(fd, names[i], 1, NULL, NULL),
				 E_INVALID_REQUEST);
		assert_int_equal(produce(fd, names[i], 0, 1, batch,
					 (int32_t)len, &base), E_UNKNOWN_TOPIC);
		assert_null(topic_find(b.tm, names[i]));
	}
	assert_true(tu_file_size(path_in(&b, "__cluster_metadata-0")) < 0);
	/* The broker itself makes internal topics, never __cluster_metadata;
	 * clients still cannot write them. */
	assert_int_equal(topic_create(b.tm, TOPIC_REQ("__cluster_metadata", 1, NULL, 0), NULL),
			 KB_ERR_INVAL);
	assert_int_equal(topic_create(b.tm, TOPIC_REQ("__transaction_state", 1, NULL, 0), NULL),
			 KB_OK);
	assert_int_equal(produce(fd, "__transaction_state", 0, 1, batch,
				 (int32_t)len, &base), E_INVALID_TOPIC);
	assert_false(topic_name_reserved("__consumer_offsets2", 19));
	close(fd);
	tb_close(&b);
}

/* The highest version, byte for byte: a topic auto-created by Metadata. */
static void test_metadata_v9_auto_creates_bytes(void **state)
{
	struct tb b;
	struct bb q = {.n = 0}, w = {.n = 0};
	tb_open(&b);
	int fd = tb_connect(&b);
	bb_uv(&q, 3);
	bb_cstr(&q, "auto");
	bb_i8(&q, 0);
	bb_cstr(&q, "bad name");
	bb_i8(&q, 0);
	bb_i8(&q, 1); /* allow_auto_topic_creation */
	bb_i8(&q, 0);
	bb_i8(&q, 0);
	bb_i8(&q, 0);
	bb_i32(&w, 0);
	bb_uv(&w, 2);
	bb_i32(&w, 1);
	bb_cstr(&w, "localhost");
	bb_i32(&w, 9092);
	bb_cstr(&w, NULL); /* rack */
	bb_i8(&w, 0);
	bb_cstr(&w, "c1");
	bb_i32(&w, 1);
	bb_uv(&w, 3);
	bb_i16(&w, 0);
	bb_cstr(&w, "auto");
	bb_i8(&w, 0);
	bb_uv(&w, 2);
	bb_i16(&w, 0);
	bb_i32(&w, 0);
	bb_i32(&w, 1);
	bb_i32(&w, 0); /* leader_epoch */
	bb_uv(&w, 2);
	bb_i32(&w, 1);
	bb_uv(&w, 2);
	bb_i32(&w, 1);
	bb_uv(&w, 1); /* offline_replicas */
	bb_i8(&w, 0);
	bb_i32(&w, INT32_MIN);
	bb_i8(&w, 0);
	bb_i16(&w, E_INVALID_TOPIC);
	bb_cstr(&w, "bad name");
	bb_i8(&w, 0);
	bb_uv(&w, 1);
	bb_i32(&w, INT32_MIN);
	bb_i8(&w, 0);
	bb_i32(&w, INT32_MIN); /* cluster_authorized_operations */
	bb_i8(&w, 0);
	roundtrip_expect(fd, 3, 9, true, &q, &w);
	close(fd);
	tb_close(&b);
}

/* auto.create.topics.enable=false: never created, whatever the client. */
static void test_metadata_broker_auto_create_disabled(void **state)
{
	struct tb b;
	struct bb q = {.n = 0};
	uint8_t *r;
	tb_config(&b);
	b.cfg.auto_create_topics = false;
	tb_start(&b);
	int fd = tb_connect(&b);
	bb_i32(&q, 1);
	bb_str(&q, "x");
	size_t n = roundtrip(fd, 3, 1, false, &q, &r);
	/* [1 topic][error][name "x"][internal][0 partitions] */
	assert_int_equal(kb_get_be16(r + n - 10), E_UNKNOWN_TOPIC);
	free(r);
	close(fd);
	tb_close(&b);
}

/* ==== 06_admin.c ==== */

/* CreateTopics v2 (lowest): success, exists, invalid name, bad counts. */
static void test_admin_create_topics_v2_errors_bytes(void **state)
{
	struct tb b;
	struct bb q = {.n = 0}, w = {.n = 0};
	static const struct {
		const char *name;
		int32_t np;
		int rf;
	} in[] = {{"ok", 2, -1}, {"ok2", 1, 1}, {"ok", 1, -1}, {"a b", 1, -1},
		  {"zero", 0, -1}, {"rf3", 1, 3}};
	tb_open(&b);
	int fd = tb_connect(&b);
	bb_i32(&q, 6);
	for (int i = 0; i < 6; i++) {
		bb_str(&q, in[i].name);
		bb_i32(&q, in[i].np);
		bb_i16(&q, in[i].rf);
		bb_i32(&q, 0);
		bb_i32(&q, 0);
	}
	bb_i32(&q, 1000);
	bb_i8(&q, 0);
	bb_i32(&w, 0);
	bb_i32(&w, 6);
	/* "ok" twice in one request: INVALID_REQUEST for both copies */
	bb_str(&w, "ok");
	bb_i16(&w, E_INVALID_REQUEST);
	bb_str(&w, "Duplicate topic name ok in the request");
	bb_str(&w, "ok2");
	bb_i16(&w, 0);
	bb_str(&w, NULL);
	bb_str(&w, "ok");
	bb_i16(&w, E_INVALID_REQUEST);
	bb_str(&w, "Duplicate topic name ok in the request");
	bb_str(&w, "a b");
	bb_i16(&w, E_INVALID_TOPIC);
	bb_str(&w, "Topic name is invalid");
	bb_str(&w, "zero");
	bb_i16(&w, E_INVALID_PARTITIONS);
	bb_str(&w, "Number of partitions must be between 1 and 1000");
	bb_str(&w, "rf3");
	bb_i16(&w, E_INVALID_RF);
	bb_str(&w, "Unable to replicate the partition 3 time(s): only 1 "
		   "broker(s) are registered.");
	roundtrip_expect(fd, 19, 2, false, &q, &w);
	assert_int_equal(create_topic(fd, "ok2", 1, NULL, NULL), E_TOPIC_EXISTS);
	assert_int_equal(create_topic(fd, "a.b", 1, NULL, NULL), E_NONE);
	assert_int_equal(create_topic(fd, "a_b", 1, NULL, NULL), E_INVALID_TOPIC);
	assert_int_equal(create_topic(fd, "cfg", 1, "retention.ms", "abc"),
			 E_INVALID_CONFIG);
	assert_int_equal(create_topic(fd, "cfg", 1, "no.such.key", "1"),
			 E_INVALID_CONFIG);
	assert_int_equal(create_topic(fd, "cfg", 1, "retention.ms", NULL),
			 E_INVALID_CONFIG);
	close(fd);
	assert_true(tu_file_size(path_in(&b, "cfg-0")) < 0);
	tb_close(&b);
}

/* Kafka's topic config defaults, in DescribeConfigs order. */
static const char *const kafka_defaults[][2] = {
	{"cleanup.policy", "delete"}, {"compression.type", "producer"},
	{"delete.retention.ms", "86400000"}, {"file.delete.delay.ms", "60000"},
	{"flush.messages", "9223372036854775807"},
	{"flush.ms", "9223372036854775807"}, {"index.interval.bytes", "4096"},
	{"max.compaction.lag.ms", "9223372036854775807"},
	{"max.message.bytes", "1048588"}, {"message.timestamp.type", "CreateTime"},
	{"min.cleanable.dirty.ratio", "0.5"}, {"min.compaction.lag.ms", "0"},
	{"min.insync.replicas", "1"}, {"preallocate", "false"},
	{"retention.bytes", "-1"}, {"retention.ms", "604800000"},
	{"segment.bytes", "1073741824"}, {"segment.index.bytes", "10485760"},
	{"segment.jitter.ms", "0"}, {"segment.ms", "604800000"},
	{"unclean.leader.election.enable", "false"},
};
#define NDEFAULTS 21

/* CreateTopics v7 (highest): topic id, counts and every config echoed,
 * the override with source TOPIC_CONFIG (1), the rest DEFAULT_CONFIG (5). */
static void test_admin_create_topics_v7_bytes(void **state)
{
	struct tb b;
	struct bb q = {.n = 0}, w = {.n = 0};
	uint8_t *r, id[16];
	char text[23];
	size_t n;
	tb_open(&b);
	int fd = tb_connect(&b);
	bb_uv(&q, 2);
	bb_cstr(&q, "seven");
	bb_i32(&q, -1);
	bb_i16(&q, -1);
	bb_uv(&q, 1);
	bb_uv(&q, 2);
	bb_cstr(&q, "retention.ms");
	bb_cstr(&q, "5000");
	bb_i8(&q, 0);
	bb_i8(&q, 0);
	bb_i32(&q, 1000);
	bb_i8(&q, 0);
	bb_i8(&q, 0);
	n = roundtrip(fd, 19, 7, true, &q, &r);
	read_topic_id(&b, "seven-0", id, text);
	bb_i32(&w, 0);
	bb_uv(&w, 2);
	bb_cstr(&w, "seven");
	bb_raw(&w, id, 16);
	bb_i16(&w, 0);
	bb_cstr(&w, NULL);
	bb_i32(&w, 1);
	bb_i16(&w, 1);
	bb_uv(&w, NDEFAULTS + 1);
	for (int i = 0; i < NDEFAULTS; i++) {
		bool mine = strcmp(kafka_defaults[i][0], "retention.ms") == 0;
		bb_cstr(&w, kafka_defaults[i][0]);
		bb_cstr(&w, mine ? "5000" : kafka_defaults[i][1]);
		bb_i8(&w, 0);
		bb_i8(&w, mine ? 1 : 5);
		bb_i8(&w, 0);
		bb_i8(&w, 0);
	}
	bb_i8(&w, 0);
	bb_i8(&w, 0);
	assert_int_equal(n, w.n);
	assert_memory_equal(r, w.p, n);
	free(r);
	close(fd);
	tb_close(&b);
}

/* Assignments must name this node alone; validate_only creates nothing. */
static void test_admin_create_topics_assignments_and_validate_only(void **state)
{
	struct tb b;
	struct bb q = {.n = 0};
	uint8_t *r;
	tb_open(&b);
	int fd = tb_connect(&b);
	bb_i32(&q, 3);
	bb_str(&q, "man");      /* [[1], [1]]: two partitions */
	bb_i32(&q, -1);
	bb_i16(&q, -1);
	bb_i32(&q, 2);
	for (int p = 0; p < 2; p++) {
		bb_i32(&q, p);
		bb_i32(&q, 1);
		bb_i32(&q, 1);
	}
	bb_i32(&q, 0);
	bb_str(&q, "other");    /* [[2]]: a broker that does not exist */
	bb_i32(&q, -1);
	bb_i16(&q, -1);
	bb_i32(&q, 1);
	bb_i32(&q, 0);
	bb_i32(&q, 1);
	bb_i32(&q, 2);
	bb_i32(&q, 0);
	bb_str(&q, "both");     /* count and assignments: INVALID_REQUEST */
	bb_i32(&q, 1);
	bb_i16(&q, -1);
	bb_i32(&q, 1);
	bb_i32(&q, 0);
	bb_i32(&q, 1);
	bb_i32(&q, 1);
	bb_i32(&q, 0);
	bb_i32(&q, 1000);
	bb_i8(&q, 1); /* validate_only */
	size_t n = roundtrip(fd, 19, 4, false, &q, &r);
	struct rd d = {r, n, 0};
	rd_i32(&d);
	assert_int_equal(rd_i32(&d), 3);
	rd_skip_str(&d);
	assert_int_equal(rd_i16(&d), E_NONE);
	rd_skip_str(&d);
	rd_skip_str(&d);
	assert_int_equal(rd_i16(&d), E_INVALID_ASSIGNMENT);
	rd_skip_str(&d);
	rd_skip_str(&d);
	assert_int_equal(rd_i16(&d), E_INVALID_REQUEST);
	free(r);
	close(fd);
	assert_true(tu_file_size(path_in(&b, "man-0")) < 0);
	tb_close(&b);
}

/* DeleteTopics v1 (lowest): the directories go; unknown is error 3. */
static void test_admin_delete_topics_v1_bytes(void **state)
{
	struct tb b;
	struct bb q = {.n = 0}, w = {.n = 0};
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "gone", 2, "retention.ms", "1"), E_NONE);
	bb_i32(&q, 2);
	bb_str(&q, "gone");
	bb_str(&q, "never");
	bb_i32(&q, 1000);
	bb_i32(&w, 0);
	bb_i32(&w, 2);
	bb_str(&w, "gone");
	bb_i16(&w, 0);
	bb_str(&w, "never");
	bb_i16(&w, E_UNKNOWN_TOPIC);
	roundtrip_expect(fd, 20, 1, false, &q, &w);
	assert_true(tu_file_size(path_in(&b, "gone-0")) < 0);
	assert_true(tu_file_size(path_in(&b, "gone-1")) < 0);
	assert_int_equal(files_with_prefix(path_in(&b, "__samsa_topic_configs"), ""),
			 2); /* "." and ".." */
	/* and it can be created again, fresh */
	assert_int_equal(create_topic(fd, "gone", 1, NULL, NULL), E_NONE);
	close(fd);
	tb_close(&b);
}

/* DeleteTopics v6 (highest): by id; the answer names the topic. */
static void test_admin_delete_topics_v6_by_id_bytes(void **state)
{
	struct tb b;
	struct bb q = {.n = 0}, w = {.n = 0};
	uint8_t id[16], zero[16] = {0};
	char text[23];
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "byid", 1, NULL, NULL), E_NONE);
	read_topic_id(&b, "byid-0", id, text);
	bb_uv(&q, 3);
	bb_cstr(&q, NULL);
	bb_raw(&q, id, 16);
	bb_i8(&q, 0);
	bb_cstr(&q, NULL);
	bb_raw(&q, zero, 16);
	bb_i8(&q, 0);
	bb_i32(&q, 1000);
	bb_i8(&q, 0);
	bb_i32(&w, 0);
	bb_uv(&w, 3);
	bb_cstr(&w, "byid");
	bb_raw(&w, id, 16);
	bb_i16(&w, 0);
	bb_cstr(&w, NULL);
	bb_i8(&w, 0);
	bb_cstr(&w, NULL);
	bb_raw(&w, zero, 16);
	bb_i16(&w, E_UNKNOWN_TOPIC_ID);
	bb_cstr(&w, "This server does not host this topic ID.");
	bb_i8(&w, 0);
	bb_i8(&w, 0);
	roundtrip_expect(fd, 20, 6, true, &q, &w);
	close(fd);
	tb_close(&b);
}

/* DeleteTopics v5 (flexible, names): delete.topic.enable=false. */
static void test_admin_delete_topics_disabled(void **state)
{
	struct tb b;
	struct bb q = {.n = 0}, w = {.n = 0};
	tb_config(&b);
	b.cfg.delete_topic_enable = false;
	tb_start(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "keep", 1, NULL, NULL), E_NONE);
	bb_uv(&q, 2);
	bb_cstr(&q, "keep");
	bb_i32(&q, 1000);
	bb_i8(&q, 0);
	bb_i32(&w, 0);
	bb_uv(&w, 2);
	bb_cstr(&w, "keep");
	bb_i16(&w, E_DELETION_DISABLED);
	bb_cstr(&w, "Topic deletion is disabled.");
	bb_i8(&w, 0);
	bb_i8(&w, 0);
	roundtrip_expect(fd, 20, 5, true, &q, &w);
	close(fd);
	assert_true(tu_file_size(path_in(&b, "keep-0")) > 0);
	tb_close(&b);
}

/* CreatePartitions v0 (lowest) and v3 (highest): grow only. */
static void test_admin_create_partitions_v0_v3_bytes(void **state)
{
	struct tb b;
	struct bb q = {.n = 0}, w = {.n = 0};
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "grow", 1, NULL, NULL), E_NONE);
	bb_i32(&q, 2);
	bb_str(&q, "grow");
	bb_i32(&q, 3);
	bb_i32(&q, -1); /* assignments: null */
	bb_str(&q, "none");
	bb_i32(&q, 2);
	bb_i32(&q, -1);
	bb_i32(&q, 1000);
	bb_i8(&q, 0);
	bb_i32(&w, 0);
	bb_i32(&w, 2);
	bb_str(&w, "grow");
	bb_i16(&w, 0);
	bb_str(&w, NULL);
	bb_str(&w, "none");
	bb_i16(&w, E_UNKNOWN_TOPIC);
	bb_str(&w, "The topic does not exist.");
	roundtrip_expect(fd, 37, 0, false, &q, &w);
	assert_true(tu_file_size(path_in(&b, "grow-2/partition.metadata")) > 0);
	q.n = w.n = 0;
	bb_uv(&q, 2);
	bb_cstr(&q, "grow");
	bb_i32(&q, 2);
	bb_uv(&q, 0);
	bb_i8(&q, 0);
	bb_i32(&q, 1000);
	bb_i8(&q, 0);
	bb_i8(&q, 0);
	bb_i32(&w, 0);
	bb_uv(&w, 2);
	bb_cstr(&w, "grow");
	bb_i16(&w, E_INVALID_PARTITIONS);
	bb_cstr(&w, "Topic currently has 3 partitions, which is higher than "
		    "the requested 2.");
	bb_i8(&w, 0);
	bb_i8(&w, 0);
	roundtrip_expect(fd, 37, 3, true, &q, &w);
	close(fd);
	tb_close(&b);
}

/* DescribeCluster v0 and v1; v1 asking for controllers is mismatched. */
static void test_admin_describe_cluster_v0_v1_bytes(void **state)
{
	struct tb b;
	struct bb q = {.n = 0}, w = {.n = 0};
	tb_open(&b);
	int fd = tb_connect(&b);
	bb_i8(&q, 0);
	bb_i8(&q, 0);
	bb_i32(&w, 0);
	bb_i16(&w, 0);
	bb_cstr(&w, NULL);
	bb_cstr(&w, "c1");
	bb_i32(&w, 1);
	bb_uv(&w, 2);
	bb_i32(&w, 1);
	bb_cstr(&w, "localhost");
	bb_i32(&w, 9092);
	bb_cstr(&w, NULL);
	bb_i8(&w, 0);
	bb_i32(&w, INT32_MIN);
	bb_i8(&w, 0);
	roundtrip_expect(fd, 60, 0, true, &q, &w);
	q.n = w.n = 0;
	bb_i8(&q, 0);
	bb_i8(&q, 2);
	bb_i8(&q, 0);
	bb_i32(&w, 0);
	bb_i16(&w, E_MISMATCHED_ENDPOINT);
	bb_cstr(&w, "The request was sent to an endpoint of type BROKER, but "
		    "we wanted an endpoint of type CONTROLLER");
	bb_i8(&w, 2);
	bb_cstr(&w, "");
	bb_i32(&w, -1);
	bb_uv(&w, 1);
	bb_i32(&w, INT32_MIN);
	bb_i8(&w, 0);
	roundtrip_expect(fd, 60, 1, true, &q, &w);
	close(fd);
	tb_close(&b);
}

/* ==== 06_config_defs.c and 06_config_apis.c ==== */

/* DescribeConfigs v1 (lowest): two keys of a topic, with synonyms: an
 * override, and a broker value that differs from Kafka's default. */
static void test_configs_describe_v1_sources_and_synonyms_bytes(void **state)
{
	struct tb b;
	struct bb q = {.n = 0}, w = {.n = 0};
	tb_config(&b);
	b.cfg.log_defaults.segment_bytes = 1048576;
	tb_start(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "d", 1, "retention.ms", "99"), E_NONE);
	bb_i32(&q, 1);
	bb_i8(&q, 2);
	bb_str(&q, "d");
	bb_i32(&q, 3);
	bb_str(&q, "segment.bytes");
	bb_str(&q, "retention.ms");
	bb_str(&q, "no.such");
	bb_i8(&q, 1);
	bb_i32(&w, 0);
	bb_i32(&w, 1);
	bb_i16(&w, 0);
	bb_str(&w, NULL);
	bb_i8(&w, 2);
	bb_str(&w, "d");
	bb_i32(&w, 2);
	bb_str(&w, "retention.ms");
	bb_str(&w, "99");
	bb_i8(&w, 0);
	bb_i8(&w, 1);
	bb_i8(&w, 0);
	bb_i32(&w, 2);
	bb_str(&w, "retention.ms");
	bb_str(&w, "99");
	bb_i8(&w, 1);
	bb_str(&w, "log.retention.ms");
	bb_str(&w, "604800000");
	bb_i8(&w, 5);
	bb_str(&w, "segment.bytes");
	bb_str(&w, "1048576");
	bb_i8(&w, 0);
	bb_i8(&w, 4);
	bb_i8(&w, 0);
	bb_i32(&w, 2);
	bb_str(&w, "log.segment.bytes");
	bb_str(&w, "1048576");
	bb_i8(&w, 4);
	bb_str(&w, "log.segment.bytes");
	bb_str(&w, "1073741824");
	bb_i8(&w, 5);
	roundtrip_expect(fd, 32, 1, false, &q, &w);
	close(fd);
	tb_close(&b);
}

/* DescribeConfigs v4 (highest): documentation and type; a broker
 * resource is read-only; an unknown topic is error 3. */
static void test_configs_describe_v4_broker_and_docs_bytes(void **state)
{
	struct tb b;
	struct bb q = {.n = 0}, w = {.n = 0};
	tb_config(&b);
	b.cfg.num_partitions = 3;
	tb_start(&b);
	int fd = tb_connect(&b);
	bb_uv(&q, 4);
	bb_i8(&q, 4);
	bb_cstr(&q, "1");
	bb_uv(&q, 3);
	bb_cstr(&q, "num.partitions");
	bb_cstr(&q, "delete.topic.enable");
	bb_i8(&q, 0);
	bb_i8(&q, 2);
	bb_cstr(&q, "missing");
	bb_uv(&q, 0);
	bb_i8(&q, 0);
	bb_i8(&q, 4);
	bb_cstr(&q, "7");
	bb_uv(&q, 0);
	bb_i8(&q, 0);
	bb_i8(&q, 0); /* include_synonyms */
	bb_i8(&q, 1); /* include_documentation */
	bb_i8(&q, 0);
	bb_i32(&w, 0);
	bb_uv(&w, 4);
	bb_i16(&w, 0);
	bb_cstr(&w, NULL);
	bb_i8(&w, 4);
	bb_cstr(&w, "1");
	bb_uv(&w, 3);
	bb_cstr(&w, "delete.topic.enable");
	bb_cstr(&w, "true");
	bb_i8(&w, 1);
	bb_i8(&w, 5);
	bb_i8(&w, 0);
	bb_uv(&w, 1);
	bb_i8(&w, 1); /* BOOLEAN */
	bb_cstr(&w, NULL);
	bb_i8(&w, 0);
	bb_cstr(&w, "num.partitions");
	bb_cstr(&w, "3");
	bb_i8(&w, 1);
	bb_i8(&w, 4);
	bb_i8(&w, 0);
	bb_uv(&w, 1);
	bb_i8(&w, 3); /* INT */
	bb_cstr(&w, NULL);
	bb_i8(&w, 0);
	bb_i8(&w, 0);
	bb_i16(&w, E_UNKNOWN_TOPIC);
	bb_cstr(&w, "Topic missing does not exist");
	bb_i8(&w, 2);
	bb_cstr(&w, "missing");
	bb_uv(&w, 1);
	bb_i8(&w, 0);
	bb_i16(&w, E_INVALID_REQUEST);
	bb_cstr(&w, "Unexpected broker id, expected 1 or empty string");
	bb_i8(&w, 4);
	bb_cstr(&w, "7");
	bb_uv(&w, 1);
	bb_i8(&w, 0);
	bb_i8(&w, 0);
	roundtrip_expect(fd, 32, 4, true, &q, &w);
	close(fd);
	tb_close(&b);
}

/* The documentation of one topic key, asked with include_documentation. */
static void test_configs_describe_v3_documentation(void **state)
{
	struct tb b;
	struct bb q = {.n = 0};
	uint8_t *r;
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "doc", 1, NULL, NULL), E_NONE);
	bb_i32(&q, 1);
	bb_i8(&q, 2);
	bb_str(&q, "doc");
	bb_i32(&q, 1);
	bb_str(&q, "segment.ms");
	bb_i8(&q, 0);
	bb_i8(&q, 1);
	size_t n = roundtrip(fd, 32, 3, false, &q, &r);
	const char *doc = "age at which a segment rolls";
	assert_int_equal(r[n - strlen(doc) - 3], 5); /* config_type LONG */
	assert_memory_equal(r + n - strlen(doc), doc, strlen(doc));
	free(r);
	close(fd);
	tb_close(&b);
}

/* AlterConfigs v0 replaces every topic setting; a bad value changes
 * nothing; brokers are read-only. */
static void test_configs_alter_v0_replaces_whole_set(void **state)
{
	struct tb b;
	struct bb q = {.n = 0}, w = {.n = 0};
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "al", 1, "retention.ms", "1"), E_NONE);
	bb_i32(&q, 2);
	bb_i8(&q, 2);
	bb_str(&q, "al");
	bb_i32(&q, 1);
	bb_str(&q, "segment.ms");
	bb_str(&q, "60000");
	bb_i8(&q, 4);
	bb_str(&q, "1");
	bb_i32(&q, 1);
	bb_str(&q, "num.partitions");
	bb_str(&q, "5");
	bb_i8(&q, 0);
	bb_i32(&w, 0);
	bb_i32(&w, 2);
	bb_i16(&w, 0);
	bb_str(&w, NULL);
	bb_i8(&w, 2);
	bb_str(&w, "al");
	bb_i16(&w, E_INVALID_REQUEST);
	bb_str(&w, "Broker configs are static: set them in server.properties");
	bb_i8(&w, 4);
	bb_str(&w, "1");
	roundtrip_expect(fd, 33, 0, false, &q, &w);
	q.n = w.n = 0;
	bb_uv(&q, 2);
	bb_i8(&q, 2);
	bb_cstr(&q, "al");
	bb_uv(&q, 2);
	bb_cstr(&q, "segment.bytes");
	bb_cstr(&q, "5");
	bb_i8(&q, 0);
	bb_i8(&q, 0);
	bb_i8(&q, 0);
	bb_i8(&q, 0);
	bb_i32(&w, 0);
	bb_uv(&w, 2);
	bb_i16(&w, E_INVALID_CONFIG);
	bb_cstr(&w, "Invalid value 5 for configuration segment.bytes: Value "
		    "must be at least 14 and at most 2147483647");
	bb_i8(&w, 2);
	bb_cstr(&w, "al");
	bb_i8(&w, 0);
	bb_i8(&w, 0);
	roundtrip_expect(fd, 33, 2, true, &q, &w);
	close(fd);
	tb_stop(&b);
	size_t n;
	uint8_t *f = tu_read_all(props_path(&b, "al"), &n);
	assert_int_equal(n, strlen("segment.ms=60000\n"));
	assert_memory_equal(f, "segment.ms=60000\n", n);
	free(f);
	tu_rmrf(b.dir);
}

/* IncrementalAlterConfigs v0 and v1: SET, DELETE, APPEND and SUBTRACT on
 * the list key, APPEND on a number refused. */
static void test_configs_incremental_alter_ops(void **state)
{
	struct tb b;
	struct bb q = {.n = 0}, w = {.n = 0};
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "inc", 1, "retention.ms", "1"), E_NONE);
	bb_i32(&q, 1);
	bb_i8(&q, 2);
	bb_str(&q, "inc");
	bb_i32(&q, 3);
	bb_str(&q, "retention.ms");
	bb_i8(&q, 1); /* DELETE */
	bb_str(&q, NULL);
	bb_str(&q, "cleanup.policy");
	bb_i8(&q, 2); /* APPEND to the default "delete" */
	bb_str(&q, "compact");
	bb_str(&q, "max.message.bytes");
	bb_i8(&q, 0); /* SET */
	bb_str(&q, "2000");
	bb_i8(&q, 0);
	bb_i32(&w, 0);
	bb_i32(&w, 1);
	bb_i16(&w, 0);
	bb_str(&w, NULL);
	bb_i8(&w, 2);
	bb_str(&w, "inc");
	roundtrip_expect(fd, 44, 0, false, &q, &w);
	q.n = w.n = 0;
	bb_uv(&q, 2);
	bb_i8(&q, 2);
	bb_cstr(&q, "inc");
	bb_uv(&q, 2);
	bb_cstr(&q, "max.message.bytes");
	bb_i8(&q, 2);
	bb_cstr(&q, "1");
	bb_i8(&q, 0);
	bb_i8(&q, 0);
	bb_i8(&q, 0);
	bb_i8(&q, 0);
	bb_i32(&w, 0);
	bb_uv(&w, 2);
	bb_i16(&w, E_INVALID_CONFIG);
	bb_cstr(&w, "Config value append is not allowed for config key: "
		    "max.message.bytes");
	bb_i8(&w, 2);
	bb_cstr(&w, "inc");
	bb_i8(&w, 0);
	bb_i8(&w, 0);
	roundtrip_expect(fd, 44, 1, true, &q, &w);
	q.n = 0;
	bb_i32(&q, 1);
	bb_i8(&q, 2);
	bb_str(&q, "inc");
	bb_i32(&q, 1);
	bb_str(&q, "cleanup.policy");
	bb_i8(&q, 3); /* SUBTRACT */
	bb_str(&q, "delete");
	bb_i8(&q, 0);
	uint8_t *r;
	roundtrip(fd, 44, 0, false, &q, &r);
	free(r);
	close(fd);
	tb_stop(&b);
	size_t n;
	uint8_t *f = tu_read_all(props_path(&b, "inc"), &n);
	const char *want = "cleanup.policy=compact\nmax.message.bytes=2000\n";
	assert_int_equal(n, strlen(want));
	assert_memory_equal(f, want, n);
	free(f);
	tu_rmrf(b.dir);
}

/* ==== 06_produce.c and 06_fetch.c ==== */

/* Produce v3 and Fetch v4 (lowest of each): the bytes fetched are the
 * bytes produced, with the broker's base offset. */
static void test_pf_produce_v3_fetch_v4_roundtrip_bytes(void **state)
{
	struct tb b;
	struct bb q = {.n = 0}, w = {.n = 0};
	uint8_t batch[256], *recs;
	size_t len = one_batch(batch, sizeof batch, "hello", 1700000000000), n;
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "rt", 1, NULL, NULL), E_NONE);
	bb_str(&q, NULL);
	bb_i16(&q, 1);
	bb_i32(&q, 1000);
	bb_i32(&q, 1);
	bb_str(&q, "rt");
	bb_i32(&q, 1);
	bb_i32(&q, 0);
	bb_bytes(&q, batch, len);
	bb_i32(&w, 1);
	bb_str(&w, "rt");
	bb_i32(&w, 1);
	bb_i32(&w, 0);
	bb_i16(&w, 0);
	bb_i64(&w, 0);
	bb_i64(&w, -1); /* log_append_time_ms: CreateTime */
	bb_i32(&w, 0);  /* throttle_time_ms, last */
	roundtrip_expect(fd, 0, 3, false, &q, &w);
	assert_int_equal(produce(fd, "rt", 0, -1, batch, (int32_t)len, NULL), E_NONE);
	q.n = w.n = 0;
	bb_i32(&q, -1);
	bb_i32(&q, 0);
	bb_i32(&q, 1);
	bb_i32(&q, 1 << 20);
	bb_i8(&q, 1); /* read_committed */
	bb_i32(&q, 1);
	bb_str(&q, "rt");
	bb_i32(&q, 1);
	bb_i32(&q, 0);
	bb_i64(&q, 0);
	bb_i32(&q, 1 << 20);
	bb_i32(&w, 0);
	bb_i32(&w, 1);
	bb_str(&w, "rt");
	bb_i32(&w, 1);
	bb_i32(&w, 0);
	bb_i16(&w, 0);
	bb_i64(&w, 2);
	bb_i64(&w, 2);
	bb_i32(&w, 0); /* aborted_transactions: [] for read_committed */
	bb_i32(&w, (int64_t)(2 * len));
	bb_raw(&w, batch, len);
	tu_be(batch, 1, 8); /* the second one got base offset 1 */
	bb_raw(&w, batch, len);
	roundtrip_expect(fd, 1, 4, false, &q, &w);
	assert_int_equal(fetch4(fd, "rt", 2, 0, 0, 1 << 20, &recs, &n), E_NONE);
	assert_int_equal(n, 0);
	free(recs);
	close(fd);
	tb_close(&b);
}

/* Produce v8 and Fetch v12 (highest): log start offset, record errors
 * and the flexible fetch with its compact records. */
static void test_pf_produce_v8_fetch_v12_bytes(void **state)
{
	struct tb b;
	struct bb q = {.n = 0}, w = {.n = 0};
	uint8_t batch[256];
	size_t len = one_batch(batch, sizeof batch, "v12", 5);
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "hi", 1, NULL, NULL), E_NONE);
	bb_str(&q, NULL);
	bb_i16(&q, -1);
	bb_i32(&q, 1000);
	bb_i32(&q, 1);
	bb_str(&q, "hi");
	bb_i32(&q, 1);
	bb_i32(&q, 0);
	bb_bytes(&q, batch, len);
	bb_i32(&w, 1);
	bb_str(&w, "hi");
	bb_i32(&w, 1);
	bb_i32(&w, 0);
	bb_i16(&w, 0);
	bb_i64(&w, 0);
	bb_i64(&w, -1);
	bb_i64(&w, 0);  /* log_start_offset */
	bb_i32(&w, 0);  /* record_errors */
	bb_str(&w, NULL);
	bb_i32(&w, 0);
	roundtrip_expect(fd, 0, 8, false, &q, &w);
	q.n = w.n = 0;
	bb_i32(&q, -1);
	bb_i32(&q, 500);
	bb_i32(&q, 1);
	bb_i32(&q, 1 << 20);
	bb_i8(&q, 0);
	bb_i32(&q, 0);
	bb_i32(&q, -1);
	bb_uv(&q, 2);
	bb_cstr(&q, "hi");
	bb_uv(&q, 2);
	bb_i32(&q, 0);
	bb_i32(&q, 0);  /* current_leader_epoch */
	bb_i64(&q, 0);
	bb_i32(&q, -1); /* last_fetched_epoch */
	bb_i64(&q, -1); /* log_start_offset */
	bb_i32(&q, 1 << 20);
	bb_i8(&q, 0);
	bb_i8(&q, 0);
	bb_uv(&q, 1);   /* forgotten_topics_data */
	bb_cstr(&q, "rack-a");
	bb_i8(&q, 0);
	bb_i32(&w, 0);
	bb_i16(&w, 0);
	bb_i32(&w, 0); /* session_id */
	bb_uv(&w, 2);
	bb_cstr(&w, "hi");
	bb_uv(&w, 2);
	bb_i32(&w, 0);
	bb_i16(&w, 0);
	bb_i64(&w, 1);
	bb_i64(&w, 1);
	bb_i64(&w, 0);
	bb_uv(&w, 0);   /* aborted_transactions: null */
	bb_i32(&w, -1); /* preferred_read_replica */
	bb_cbytes(&w, batch, len);
	bb_i8(&w, 0);
	bb_i8(&w, 0);
	bb_i8(&w, 0);
	roundtrip_expect(fd, 1, 12, true, &q, &w);
	close(fd);
	tb_close(&b);
}

/* KAFKA: Produce v0-2 are advertised (librdkafka) but answered
 * UNSUPPORTED_VERSION for every partition. */
static void test_pf_produce_v0_unsupported_version_bytes(void **state)
{
	struct tb b;
	struct bb q = {.n = 0}, w = {.n = 0};
	uint8_t batch[256];
	size_t len = one_batch(batch, sizeof batch, "old", 5);
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "old", 1, NULL, NULL), E_NONE);
	bb_i16(&q, 1);
	bb_i32(&q, 1000);
	bb_i32(&q, 1);
	bb_str(&q, "old");
	bb_i32(&q, 2);
	bb_i32(&q, 0);
	bb_bytes(&q, batch, len);
	bb_i32(&q, 1);
	bb_bytes(&q, batch, len);
	bb_i32(&w, 1);
	bb_str(&w, "old");
	bb_i32(&w, 2);
	bb_i32(&w, 0);
	bb_i16(&w, E_UNSUPPORTED_VERSION);
	bb_i64(&w, -1);
	bb_i32(&w, 1);
	bb_i16(&w, E_UNSUPPORTED_VERSION);
	bb_i64(&w, -1);
	roundtrip_expect(fd, 0, 0, false, &q, &w);
	close(fd);
	tb_close(&b);
}

/* Every per-partition error of Produce, each from its own cause. */
static void test_pf_produce_error_codes(void **state)
{
	struct tb b;
	uint8_t ok[256], bad[256], big[2048];
	struct tu_record two[2] = {{"a", "1", 1}, {"b", "2", 2}};
	size_t len = one_batch(ok, sizeof ok, "v", 1);
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "e", 1, NULL, NULL), E_NONE);
	assert_int_equal(create_topic(fd, "small", 1, "max.message.bytes", "100"), E_NONE);
	assert_int_equal(create_topic(fd, "isr2", 1, "min.insync.replicas", "2"), E_NONE);
	assert_int_equal(produce(fd, "e", 0, 2, ok, (int32_t)len, NULL),
			 E_INVALID_REQUIRED_ACKS);
	assert_int_equal(produce(fd, "nope", 0, 1, ok, (int32_t)len, NULL),
			 E_UNKNOWN_TOPIC);
	assert_int_equal(produce(fd, "e", 7, 1, ok, (int32_t)len, NULL),
			 E_UNKNOWN_TOPIC);
	assert_int_equal(produce(fd, "bad name", 0, 1, ok, (int32_t)len, NULL),
			 E_INVALID_TOPIC);
	assert_int_equal(produce(fd, "e", 0, 1, NULL, -1, NULL), E_INVALID_RECORD);
	memcpy(bad, ok, len);
	bad[len - 2] ^= 1; /* a value byte: the CRC no longer matches */
	assert_int_equal(produce(fd, "e", 0, 1, bad, (int32_t)len, NULL),
			 E_CORRUPT_MESSAGE);
	memcpy(bad, ok, len);
	bad[16] = 1; /* magic 1: KAFKA: ProduceRequest.validateRecords */
	assert_int_equal(produce(fd, "e", 0, 1, bad, (int32_t)len, NULL),
			 E_INVALID_RECORD);
	memcpy(bad, ok, len);
	bad[22] |= 0x20; /* a control batch from a client */
	fix_crc(bad, len);
	assert_int_equal(produce(fd, "e", 0, 1, bad, (int32_t)len, NULL),
			 E_INVALID_RECORD);
	size_t len2 = tu_batch_build(bad, sizeof bad, 0, two, 2);
	tu_be(bad + 23, 2, 4); /* lastOffsetDelta and recordsCount say 3 */
	tu_be(bad + 57, 3, 4);
	fix_crc(bad, len2);
	assert_int_equal(produce(fd, "e", 0, 1, bad, (int32_t)len2, NULL),
			 E_INVALID_RECORD);
	assert_int_equal(produce(fd, "e", 0, 1, ok, (int32_t)len - 1, NULL),
			 E_CORRUPT_MESSAGE); /* truncated */
	size_t lbig = tu_batch_simple(big, sizeof big, 1, 1, 200);
	assert_int_equal(produce(fd, "small", 0, 1, big, (int32_t)lbig, NULL),
			 E_MESSAGE_TOO_LARGE);
	assert_int_equal(produce(fd, "isr2", 0, -1, ok, (int32_t)len, NULL),
			 E_NOT_ENOUGH_REPLICAS);
	assert_int_equal(produce(fd, "isr2", 0, 1, ok, (int32_t)len, NULL), E_NONE);
	int64_t base;
	assert_int_equal(produce(fd, "e", 0, 1, ok, (int32_t)len, &base), E_NONE);
	assert_int_equal(base, 0); /* nothing of the above reached the log */
	close(fd);
	tb_close(&b);
}

/* Two batches in one partition's records: KAFKA: "Produce requests with
 * version 3 are only allowed to contain exactly one record batch"; the
 * first does not go in alone. */
static void test_pf_produce_two_batches_in_one_partition(void **state)
{
	struct tb b;
	uint8_t two[512];
	size_t l1 = one_batch(two, sizeof two, "one", 1);
	size_t l2 = one_batch(two + l1, sizeof two - l1, "two", 2);
	int64_t base;
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "tw", 1, NULL, NULL), E_NONE);
	assert_int_equal(produce(fd, "tw", 0, 1, two, (int32_t)(l1 + l2), &base),
			 E_INVALID_RECORD);
	assert_int_equal(base, -1);
	assert_int_equal(produce(fd, "tw", 0, 1, two, (int32_t)l1, &base), E_NONE);
	assert_int_equal(base, 0);
	close(fd);
	tb_close(&b);
}

/* acks=0: no response; a failure closes the connection instead. */
static void test_pf_produce_acks0_no_response_error_closes(void **state)
{
	struct tb b;
	struct bb q = {.n = 0};
	uint8_t batch[256], c;
	size_t len = one_batch(batch, sizeof batch, "z", 1);
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "z", 1, NULL, NULL), E_NONE);
	bb_str(&q, NULL);
	bb_i16(&q, 0);
	bb_i32(&q, 1000);
	bb_i32(&q, 1);
	bb_str(&q, "z");
	bb_i32(&q, 1);
	bb_i32(&q, 0);
	bb_bytes(&q, batch, len);
	send_req(fd, 0, 7, false, 1, &q);
	/* the next answer on this connection is the next request's */
	int64_t base;
	assert_int_equal(produce(fd, "z", 0, 1, batch, (int32_t)len, &base), E_NONE);
	assert_int_equal(base, 1);
	q.n = 0;
	bb_str(&q, NULL);
	bb_i16(&q, 0);
	bb_i32(&q, 1000);
	bb_i32(&q, 1);
	bb_str(&q, "missing");
	bb_i32(&q, 1);
	bb_i32(&q, 0);
	bb_bytes(&q, batch, len);
	send_req(fd, 0, 7, false, 2, &q);
	assert_int_equal(recv(fd, &c, 1, 0), 0);
	close(fd);
	tb_close(&b);
}

/* Invariant 2: LogAppendTime sets bit 3 and maxTimestamp = now, and the
 * CRC is recomputed; Produce answers the time it stamped. */
static void test_pf_log_append_time_stamps_and_recomputes_crc(void **state)
{
	struct tb b;
	uint8_t batch[256], *recs, *r;
	struct bb q = {.n = 0};
	size_t len = one_batch(batch, sizeof batch, "t", 1000), n;
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "lat", 1, "message.timestamp.type",
				      "LogAppendTime"), E_NONE);
	int64_t before = kb_now_ms();
	bb_str(&q, NULL);
	bb_i16(&q, 1);
	bb_i32(&q, 1000);
	bb_i32(&q, 1);
	bb_str(&q, "lat");
	bb_i32(&q, 1);
	bb_i32(&q, 0);
	bb_bytes(&q, batch, len);
	n = roundtrip(fd, 0, 5, false, &q, &r);
	int64_t stamped = (int64_t)kb_get_be64(r + n - 4 - 16);
	free(r);
	assert_true(stamped >= before && stamped <= kb_now_ms());
	assert_int_equal(fetch4(fd, "lat", 0, 0, 0, 1 << 20, &recs, &n), E_NONE);
	assert_int_equal(n, len);
	assert_int_equal(kb_get_be16(recs + 21) & 0x08, 0x08);
	assert_int_equal((int64_t)kb_get_be64(recs + 35), stamped);
	assert_int_equal((int64_t)kb_get_be64(recs + 27), 1000); /* base ts kept */
	assert_int_equal(kb_get_be32(recs + 17), tu_crc32c(recs + 21, n - 21));
	free(recs);
	close(fd);
	tb_close(&b);
}

/* The batch pf_batch builds for this spec (defined further down). */
struct pf_spec;
static uint8_t *pf_batch(const struct pf_spec *s, size_t *len);
static uint8_t *pf_gzip_batch(size_t *len);
static int produce_ver(int fd, int ver, const char *txn_id,
		       const char *topic, const uint8_t *records, size_t len);

/* Compressed batches are kept exactly as the producer sent them: gzip
 * (real gzip: the broker inflates it to check), and snappy, lz4, zstd
 * (Produce v7: zstd needs it), which samsa cannot open. */
static void test_pf_compressed_batch_stored_untouched(void **state)
{
	struct tb b;
	uint8_t *batch, *recs;
	size_t n, len;
	for (int codec = 1; codec <= 4; codec++) {
		batch = pf_gzip_batch(&len);
		if (codec > 1) { /* bytes no codec check looks into */
			batch[22] = (uint8_t)codec;
			fix_crc(batch, len);
		}
		tb_open(&b);
		int fd = tb_connect(&b);
		assert_int_equal(create_topic(fd, "cz", 1, NULL, NULL), E_NONE);
		assert_int_equal(produce_ver(fd, 7, NULL, "cz", batch, len), E_NONE);
		assert_int_equal(fetch4(fd, "cz", 0, 0, 0, 1 << 20, &recs, &n), E_NONE);
		assert_int_equal(n, len);
		assert_memory_equal(recs, batch, len);
		free(recs);
		free(batch);
		close(fd);
		tb_close(&b);
	}
}

struct delayed_produce {
	int port;
	const uint8_t *batch;
	size_t len;
};

static void *produce_later(void *arg)
{
	struct delayed_produce *dp = arg;
	struct tb fake = {.port = dp->port};
	usleep(200 * 1000);
	int fd = tb_connect(&fake);
	assert_int_equal(produce(fd, "w", 0, 1, dp->batch, (int32_t)dp->len, NULL),
			 E_NONE);
	close(fd);
	return NULL;
}

/* A fetch parked on min_bytes returns as soon as a produce arrives, well
 * before max_wait_ms (5000): a behaviour, not a benchmark. */
static void test_pf_fetch_woken_by_produce_before_max_wait(void **state)
{
	struct tb b;
	uint8_t batch[256], *recs;
	size_t len = one_batch(batch, sizeof batch, "wake", 1), n;
	pthread_t th;
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "w", 1, NULL, NULL), E_NONE);
	struct delayed_produce dp = {b.port, batch, len};
	assert_int_equal(pthread_create(&th, NULL, produce_later, &dp), 0);
	int64_t t0 = kb_mono_ms();
	assert_int_equal(fetch4(fd, "w", 0, 5000, 1, 1 << 20, &recs, &n), E_NONE);
	int64_t took = kb_mono_ms() - t0;
	pthread_join(th, NULL);
	assert_int_equal(n, len);
	assert_true(took >= 150 && took < 1000);
	free(recs);
	close(fd);
	tb_close(&b);
}

/* With nothing to send the fetch answers empty at max_wait_ms. */
static void test_pf_fetch_expires_empty_at_max_wait(void **state)
{
	struct tb b;
	uint8_t *recs;
	size_t n;
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "idle", 1, NULL, NULL), E_NONE);
	int64_t t0 = kb_mono_ms();
	assert_int_equal(fetch4(fd, "idle", 0, 200, 1, 1 << 20, &recs, &n), E_NONE);
	int64_t took = kb_mono_ms() - t0;
	assert_int_equal(n, 0);
	assert_true(took >= 190 && took < 2000);
	free(recs);
	close(fd);
	tb_close(&b);
}

/* Fetch asking for 2 GiB gets what exists; offsets outside
 * [log start, log end] are OFFSET_OUT_OF_RANGE; a missing partition 3. */
static void test_pf_fetch_2gib_bounded_and_out_of_range(void **state)
{
	struct tb b;
	uint8_t batch[256], *recs;
	size_t len = one_batch(batch, sizeof batch, "x", 1), n;
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "big", 1, NULL, NULL), E_NONE);
	assert_int_equal(produce(fd, "big", 0, 1, batch, (int32_t)len, NULL), E_NONE);
	assert_int_equal(fetch4(fd, "big", 0, 0, INT32_MAX, INT32_MAX, &recs, &n),
			 E_NONE);
	assert_int_equal(n, len);
	free(recs);
	assert_int_equal(fetch4(fd, "big", 2, 0, 0, INT32_MAX, &recs, &n),
			 E_OFFSET_OUT_OF_RANGE);
	assert_int_equal(n, 0);
	free(recs);
	assert_int_equal(fetch4(fd, "nope", 0, 5000, 1, 100, &recs, &n),
			 E_UNKNOWN_TOPIC);
	free(recs);
	close(fd);
	tb_close(&b);
}

/* KIP-74: the first batch comes whole even past partition_max_bytes;
 * after it only what fits. */
static void test_pf_fetch_kip74_first_batch_may_exceed_limit(void **state)
{
	struct tb b;
	uint8_t batch[2048], *recs;
	size_t len = tu_batch_simple(batch, sizeof batch, 1, 1, 500), n;
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "k", 1, NULL, NULL), E_NONE);
	assert_int_equal(produce(fd, "k", 0, 1, batch, (int32_t)len, NULL), E_NONE);
	assert_int_equal(produce(fd, "k", 0, 1, batch, (int32_t)len, NULL), E_NONE);
	assert_int_equal(fetch4(fd, "k", 0, 0, 0, 10, &recs, &n), E_NONE);
	assert_int_equal(n, len);
	free(recs);
	assert_int_equal(fetch4(fd, "k", 0, 0, 0, (int32_t)(len + 10), &recs, &n),
			 E_NONE);
	assert_int_equal(n, len);
	free(recs);
	close(fd);
	tb_close(&b);
}

/* Three batches at timestamps 1000, 3000, 2000. */
static void fill_timestamps(int fd, const char *topic)
{
	uint8_t batch[256];
	int64_t ts[] = {1000, 3000, 2000};
	for (int i = 0; i < 3; i++) {
		size_t len = one_batch(batch, sizeof batch, "t", ts[i]);
		assert_int_equal(produce(fd, topic, 0, 1, batch, (int32_t)len, NULL),
				 E_NONE);
	}
}

/* ListOffsets v1 (lowest): earliest, latest, by time, one too late. */
static void test_pf_list_offsets_v1_bytes(void **state)
{
	struct tb b;
	int64_t ask[] = {-2, -1, 2500, 9999, -1};
	int32_t part[] = {0, 0, 0, 0, 3};
	int16_t err[] = {0, 0, 0, 0, E_UNKNOWN_TOPIC};
	int64_t want[][2] = {{-1, 0}, {-1, 3}, {3000, 1}, {-1, -1}, {-1, -1}};
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "lo", 1, NULL, NULL), E_NONE);
	fill_timestamps(fd, "lo");
	for (int i = 0; i < 5; i++) { /* one partition per request */
		struct bb q = {.n = 0}, w = {.n = 0};
		bb_i32(&q, -1);
		bb_i32(&q, 1);
		bb_str(&q, "lo");
		bb_i32(&q, 1);
		bb_i32(&q, part[i]);
		bb_i64(&q, ask[i]);
		bb_i32(&w, 1);
		bb_str(&w, "lo");
		bb_i32(&w, 1);
		bb_i32(&w, part[i]);
		bb_i16(&w, err[i]);
		bb_i64(&w, want[i][0]);
		bb_i64(&w, want[i][1]);
		roundtrip_expect(fd, 2, 1, false, &q, &w);
	}
	close(fd);
	tb_close(&b);
}

/* One ListOffsets v7 request for partition 0 of topic, and its answer. */
static void list_offsets_v7_expect(int fd, const char *topic,
				   const int64_t ask[2], const int64_t want[4])
{
	struct bb q = {.n = 0}, w = {.n = 0};
	bb_i32(&q, -1);
	bb_i8(&q, 1);
	bb_uv(&q, 2);
	bb_cstr(&q, topic);
	bb_uv(&q, 2);
	bb_i32(&q, 0);
	bb_i32(&q, (int32_t)ask[0]); /* current leader epoch */
	bb_i64(&q, ask[1]);          /* timestamp */
	bb_i8(&q, 0);
	bb_i8(&q, 0);
	bb_i8(&q, 0);
	bb_i32(&w, 0);
	bb_uv(&w, 2);
	bb_cstr(&w, topic);
	bb_uv(&w, 2);
	bb_i32(&w, 0);
	bb_i16(&w, (int16_t)want[0]);
	bb_i64(&w, want[1]);
	bb_i64(&w, want[2]);
	bb_i32(&w, (int32_t)want[3]);
	bb_i8(&w, 0);
	bb_i8(&w, 0);
	bb_i8(&w, 0);
	roundtrip_expect(fd, 2, 7, true, &q, &w);
}

/* ListOffsets v7 (highest): max timestamp (-3), leader epochs, and the
 * current leader epoch check. */
static void test_pf_list_offsets_v7_max_timestamp_bytes(void **state)
{
	struct tb b;
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "mx", 1, NULL, NULL), E_NONE);
	fill_timestamps(fd, "mx");
	list_offsets_v7_expect(fd, "mx", (int64_t[]){-1, -3},
			       (int64_t[]){0, 3000, 1, 0});
	list_offsets_v7_expect(fd, "mx", (int64_t[]){0, -2},
			       (int64_t[]){0, -1, 0, 0});
	/* a newer epoch than ours */
	list_offsets_v7_expect(fd, "mx", (int64_t[]){1, -1},
			       (int64_t[]){E_UNKNOWN_LEADER_EPOCH, -1, -1, -1});
	close(fd);
	tb_close(&b);
}

/* OffsetForLeaderEpoch v2 (lowest) and v4 (highest). */
static void test_pf_offset_for_leader_epoch_v2_v4_bytes(void **state)
{
	struct tb b;
	struct bb q = {.n = 0}, w = {.n = 0};
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "ep", 1, NULL, NULL), E_NONE);
	fill_timestamps(fd, "ep");
	bb_i32(&q, 1);
	bb_str(&q, "ep");
	bb_i32(&q, 3);
	bb_i32(&q, 0);
	bb_i32(&q, -1);
	bb_i32(&q, 0);
	bb_i32(&q, 0);
	bb_i32(&q, -1);
	bb_i32(&q, 5); /* newer than any known: unknown */
	bb_i32(&q, 1);
	bb_i32(&q, 0);
	bb_i32(&q, 0);
	bb_i32(&w, 0);
	bb_i32(&w, 1);
	bb_str(&w, "ep");
	bb_i32(&w, 3);
	bb_i16(&w, 0);
	bb_i32(&w, 0);
	bb_i32(&w, 0);
	bb_i64(&w, 3);
	bb_i16(&w, 0);
	bb_i32(&w, 0);
	bb_i32(&w, -1);
	bb_i64(&w, -1);
	bb_i16(&w, E_UNKNOWN_TOPIC);
	bb_i32(&w, 1);
	bb_i32(&w, -1);
	bb_i64(&w, -1);
	roundtrip_expect(fd, 23, 2, false, &q, &w);
	q.n = w.n = 0;
	bb_i32(&q, -1);
	bb_uv(&q, 2);
	bb_cstr(&q, "ep");
	bb_uv(&q, 2);
	bb_i32(&q, 0);
	bb_i32(&q, 7); /* current leader epoch 7: ours is 0 */
	bb_i32(&q, 0);
	bb_i8(&q, 0);
	bb_i8(&q, 0);
	bb_i8(&q, 0);
	bb_i32(&w, 0);
	bb_uv(&w, 2);
	bb_cstr(&w, "ep");
	bb_uv(&w, 2);
	bb_i16(&w, E_UNKNOWN_LEADER_EPOCH);
	bb_i32(&w, 0);
	bb_i32(&w, -1);
	bb_i64(&w, -1);
	bb_i8(&w, 0);
	bb_i8(&w, 0);
	bb_i8(&w, 0);
	roundtrip_expect(fd, 23, 4, true, &q, &w);
	close(fd);
	tb_close(&b);
}

/* A fetch with a stale current_leader_epoch is fenced (v9+). */
static void test_pf_fetch_fenced_leader_epoch(void **state)
{
	struct tb b;
	struct bb q = {.n = 0};
	uint8_t *r;
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "fe", 1, NULL, NULL), E_NONE);
	bb_i32(&q, -1);
	bb_i32(&q, 0);
	bb_i32(&q, 1);
	bb_i32(&q, 1000);
	bb_i8(&q, 0);
	bb_i32(&q, 0);
	bb_i32(&q, -1);
	bb_i32(&q, 1);
	bb_str(&q, "fe");
	bb_i32(&q, 1);
	bb_i32(&q, 0);
	bb_i32(&q, -5); /* older than ours: fenced */
	bb_i64(&q, 0);
	bb_i64(&q, -1);
	bb_i32(&q, 1000);
	bb_i32(&q, 0); /* forgotten */
	bb_str(&q, "");
	size_t n = roundtrip(fd, 1, 11, false, &q, &r);
	/* throttle, error, session, [1]["fe"][1][partition 0][error] */
	assert_int_equal(kb_get_be16(r + 4 + 2 + 4 + 4 + 4 + 4 + 4), E_FENCED_LEADER_EPOCH);
	assert_true(n > 24);
	free(r);
	close(fd);
	tb_close(&b);
}

/* DeleteRecords v0 (lowest) and v2 (highest): -1 is the high watermark,
 * beyond it OFFSET_OUT_OF_RANGE; the new start offset is checkpointed. */
static void test_pf_delete_records_v0_v2_bytes(void **state)
{
	struct tb b;
	struct bb q = {.n = 0}, w = {.n = 0};
	uint8_t *recs;
	size_t n;
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "dr", 1, NULL, NULL), E_NONE);
	assert_int_equal(create_topic(fd, "comp", 1, "cleanup.policy", "compact"),
			 E_NONE);
	fill_timestamps(fd, "dr");
	bb_i32(&q, 2);
	bb_str(&q, "dr");
	bb_i32(&q, 2);
	bb_i32(&q, 0);
	bb_i64(&q, 2);
	bb_i32(&q, 0);
	bb_i64(&q, 9);
	bb_str(&q, "comp");
	bb_i32(&q, 1);
	bb_i32(&q, 0);
	bb_i64(&q, 0);
	bb_i32(&q, 1000);
	bb_i32(&w, 0);
	bb_i32(&w, 2);
	bb_str(&w, "dr");
	bb_i32(&w, 2);
	bb_i32(&w, 0);
	bb_i64(&w, 2);
	bb_i16(&w, 0);
	bb_i32(&w, 0);
	bb_i64(&w, -1);
	bb_i16(&w, E_OFFSET_OUT_OF_RANGE);
	bb_str(&w, "comp");
	bb_i32(&w, 1);
	bb_i32(&w, 0);
	bb_i64(&w, -1);
	bb_i16(&w, E_POLICY_VIOLATION);
	roundtrip_expect(fd, 21, 0, false, &q, &w);
	size_t cn;
	uint8_t *f = tu_read_all(path_in(&b, "log-start-offset-checkpoint"), &cn);
	assert_int_equal(cn, strlen("0\n1\ndr 0 2\n"));
	assert_memory_equal(f, "0\n1\ndr 0 2\n", cn);
	free(f);
	assert_int_equal(fetch4(fd, "dr", 1, 0, 0, 1000, &recs, &n),
			 E_OFFSET_OUT_OF_RANGE);
	free(recs);
	q.n = w.n = 0;
	bb_uv(&q, 2);
	bb_cstr(&q, "dr");
	bb_uv(&q, 2);
	bb_i32(&q, 0);
	bb_i64(&q, -1);
	bb_i8(&q, 0);
	bb_i8(&q, 0);
	bb_i32(&q, 1000);
	bb_i8(&q, 0);
	bb_i32(&w, 0);
	bb_uv(&w, 2);
	bb_cstr(&w, "dr");
	bb_uv(&w, 2);
	bb_i32(&w, 0);
	bb_i64(&w, 3);
	bb_i16(&w, 0);
	bb_i8(&w, 0);
	bb_i8(&w, 0);
	bb_i8(&w, 0);
	roundtrip_expect(fd, 21, 2, true, &q, &w);
	close(fd);
	tb_close(&b);
}

/* A malformed body closes the connection (KB_ERR_PROTO). */
static void test_pf_malformed_request_closes_connection(void **state)
{
	struct tb b;
	struct bb q = {.n = 0};
	uint8_t c;
	tb_open(&b);
	int fd = tb_connect(&b);
	bb_i32(&q, -1);
	bb_i32(&q, 0x7fffffff); /* 2^31-1 topics in a few bytes */
	send_req(fd, 2, 1, false, 9, &q);
	assert_int_equal(recv(fd, &c, 1, 0), 0);
	close(fd);
	tb_close(&b);
}

/* ---- Produce and fetch refusals (issue 9) ---- */

enum {
	E_NOT_LEADER = 6, E_RECORD_LIST_TOO_LARGE = 18,
	E_TXN_ID_AUTHORIZATION_FAILED = 53, E_INVALID_TXN_STATE = 48,
	E_UNSUPPORTED_COMPRESSION = 76,
};

/* What pf_batch builds. */
struct pf_spec {
	const char *key;  /* NULL: a null key */
	size_t vlen;      /* value: this many 'x' bytes */
	bool gzip;        /* compress the records area */
	int32_t count;    /* recordsCount (and lastOffsetDelta + 1); 0: 1 */
	int16_t attrs;    /* more attribute bits (codec bits too) */
};

/* One record per spec, in a batch whose header tells what spec says.
 * Returns the batch (malloc'ed) and its length in *len. */
static uint8_t *pf_batch(const struct pf_spec *s, size_t *len)
{
	size_t klen = s->key ? strlen(s->key) : 0, cap = 64 + klen + s->vlen;
	uint8_t *body = calloc(1, cap), *recs = calloc(1, cap + 16);
	size_t n = 0, rn = 0;
	body[n++] = 0;
	n += tu_varint(body + n, 0); /* timestampDelta */
	n += tu_varint(body + n, 0); /* offsetDelta */
	n += tu_varint(body + n, s->key ? (int64_t)klen : -1);
	memcpy(body + n, s->key ? s->key : "", klen);
	n += klen;
	n += tu_varint(body + n, (int64_t)s->vlen);
	memset(body + n, 'x', s->vlen);
	n += s->vlen;
	n += tu_varint(body + n, 0);
	rn += tu_varint(recs, (int64_t)n);
	memcpy(recs + rn, body, n);
	rn += n;
	uLongf zn = compressBound(rn) + 32;
	uint8_t *b = calloc(1, 61 + zn + rn);
	if (s->gzip) {
		z_stream zs = {0};
		assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS,
					      8, Z_DEFAULT_STRATEGY), Z_OK);
		zs.next_in = recs;
		zs.avail_in = (uInt)rn;
		zs.next_out = b + 61;
		zs.avail_out = (uInt)zn;
		assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
		rn = zs.total_out;
		deflateEnd(&zs);
	} else {
		memcpy(b + 61, recs, rn);
	}
	struct tu_record one = {"k", "v", 1000};
	uint8_t hdr[128];
	tu_batch_build(hdr, sizeof hdr, 0, &one, 1);
	memcpy(b, hdr, 61);
	int32_t count = s->count ? s->count : 1;
	*len = 61 + rn;
	tu_be(b + 8, *len - 12, 4);
	tu_be(b + 21, (uint64_t)(s->attrs | (s->gzip ? 1 : 0)), 2);
	tu_be(b + 23, (uint64_t)(count - 1), 4);
	tu_be(b + 57, (uint64_t)count, 4);
	fix_crc(b, *len);
	free(body);
	free(recs);
	return b;
}

/* A gzip batch of one keyed record. */
static uint8_t *pf_gzip_batch(size_t *len)
{
	return pf_batch(&(struct pf_spec){"k", 100, true, 0, 0}, len);
}

/* Produce v<ver> (3..8) with a transactional id (NULL: null) to one
 * partition; its error code. */
static int produce_ver(int fd, int ver, const char *txn_id,
		       const char *topic, const uint8_t *records, size_t len)
{
	struct bb q = {.n = 0};
	uint8_t *r;
	bb_str(&q, txn_id);
	bb_i16(&q, -1);
	bb_i32(&q, 5000);
	bb_i32(&q, 1);
	bb_str(&q, topic);
	bb_i32(&q, 1);
	bb_i32(&q, 0);
	bb_bytes(&q, records, len);
	size_t n = roundtrip(fd, 0, ver, false, &q, &r);
	struct rd d = {r, n, 0};
	assert_int_equal(rd_i32(&d), 1);
	rd_skip_str(&d);
	assert_int_equal(rd_i32(&d), 1);
	assert_int_equal(rd_i32(&d), 0);
	int err = rd_i16(&d);
	free(r);
	return err;
}

/* Produce v<ver> of the batch spec describes to partition 0. */
static int produce_spec(int fd, int ver, const char *topic,
			const struct pf_spec *s)
{
	size_t len;
	uint8_t *b = pf_batch(s, &len);
	int err = produce_ver(fd, ver, NULL, topic, b, len);
	free(b);
	return err;
}

/* The log end offset of partition 0, by ListOffsets v1 (latest). */
static int64_t log_end(int fd, const char *topic)
{
	struct bb q = {.n = 0};
	uint8_t *r;
	bb_i32(&q, -1);
	bb_i32(&q, 1);
	bb_str(&q, topic);
	bb_i32(&q, 1);
	bb_i32(&q, 0);
	bb_i64(&q, -1);
	size_t n = roundtrip(fd, 2, 1, false, &q, &r);
	struct rd d = {r, n, 0};
	rd_i32(&d);
	rd_skip_str(&d);
	rd_i32(&d);
	rd_i32(&d);
	assert_int_equal(rd_i16(&d), E_NONE);
	rd_i64(&d);
	int64_t end = rd_i64(&d);
	free(r);
	return end;
}

/* Interface (Produce): codec ids 5-7, zstd before v7 and gzip that is
 * not gzip are refused; good gzip, snappy, lz4 and zstd from v7 pass. */
static void test_pf_produce_refuses_unknown_and_broken_codecs(void **state)
{
	struct tb b;
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "cc", 1, NULL, NULL), E_NONE);
	for (int16_t codec = 5; codec <= 7; codec++)
		assert_int_equal(produce_spec(fd, 7, "cc", &(struct pf_spec){
				 "k", 10, false, 0, codec}),
				 E_UNSUPPORTED_COMPRESSION);
	struct pf_spec zstd = {"k", 10, false, 0, 4};
	assert_int_equal(produce_spec(fd, 3, "cc", &zstd), E_UNSUPPORTED_COMPRESSION);
	assert_int_equal(produce_spec(fd, 6, "cc", &zstd), E_UNSUPPORTED_COMPRESSION);
	/* codec 1 on records that are not gzip */
	assert_int_equal(produce_spec(fd, 7, "cc", &(struct pf_spec){
			 "k", 10, false, 0, 1}), E_CORRUPT_MESSAGE);
	assert_int_equal(log_end(fd, "cc"), 0); /* none of it was appended */
	assert_int_equal(produce_spec(fd, 7, "cc", &zstd), E_NONE);
	assert_int_equal(produce_spec(fd, 3, "cc", &(struct pf_spec){
			 "k", 10, true, 0, 0}), E_NONE);
	assert_int_equal(log_end(fd, "cc"), 2);
	close(fd);
	tb_close(&b);
}

/* Invariant 1: recordsCount must be the records there are, gzip or not;
 * a lie never moves the high watermark. */
static void test_pf_produce_record_count_must_match_records(void **state)
{
	struct tb b;
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "rc", 1, NULL, NULL), E_NONE);
	for (int gz = 0; gz <= 1; gz++) {
		assert_int_equal(produce_spec(fd, 7, "rc", &(struct pf_spec){
				 "k", 10, gz, 1000, 0}), E_INVALID_RECORD);
		assert_int_equal(log_end(fd, "rc"), 0);
	}
	close(fd);
	tb_close(&b);
}

/* Interface (Produce v3+): one batch per partition, of magic 2. */
static void test_pf_produce_one_batch_of_magic_2(void **state)
{
	struct tb b;
	uint8_t two[512], bad[256];
	size_t l1 = one_batch(two, sizeof two, "one", 1);
	size_t l2 = one_batch(two + l1, sizeof two - l1, "two", 2);
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "ob", 1, NULL, NULL), E_NONE);
	assert_int_equal(produce_ver(fd, 3, NULL, "ob", two, l1 + l2),
			 E_INVALID_RECORD);
	assert_int_equal(produce_ver(fd, 8, NULL, "ob", two, l1 + l2),
			 E_INVALID_RECORD);
	for (uint8_t magic = 0; magic <= 1; magic++) {
		memcpy(bad, two, l1);
		bad[16] = magic;
		assert_int_equal(produce_ver(fd, 3, NULL, "ob", bad, l1),
				 E_INVALID_RECORD);
	}
	assert_int_equal(log_end(fd, "ob"), 0);
	close(fd);
	tb_close(&b);
}

/* Interface (Produce): a transactional batch without a transactional id
 * fails the request (53); with one, no transaction is open (48). */
static void test_pf_produce_transactional_batch_refused(void **state)
{
	struct tb b;
	size_t len;
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "tx", 1, NULL, NULL), E_NONE);
	uint8_t *txn = pf_batch(&(struct pf_spec){"k", 5, false, 0, 0x10}, &len);
	tu_be(txn + 43, 7, 8); /* producer id 7, epoch 0, sequence 0 */
	tu_be(txn + 51, 0, 2);
	tu_be(txn + 53, 0, 4);
	fix_crc(txn, len);
	assert_int_equal(produce_ver(fd, 3, NULL, "tx", txn, len),
			 E_TXN_ID_AUTHORIZATION_FAILED);
	assert_int_equal(produce_ver(fd, 7, "my-txn", "tx", txn, len),
			 E_INVALID_TXN_STATE);
	assert_int_equal(log_end(fd, "tx"), 0);
	free(txn);
	close(fd);
	tb_close(&b);
}

/* Interface (Produce): a compacted topic refuses a record without a key,
 * uncompressed or gzip (KAFKA: LogValidator.validateKey). */
static void test_pf_produce_null_key_on_compacted_topic(void **state)
{
	struct tb b;
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "cmp", 1, "cleanup.policy", "compact"),
			 E_NONE);
	assert_int_equal(create_topic(fd, "del", 1, NULL, NULL), E_NONE);
	for (int gz = 0; gz <= 1; gz++) {
		struct pf_spec nokey = {NULL, 10, gz, 0, 0};
		assert_int_equal(produce_spec(fd, 7, "cmp", &nokey), E_INVALID_RECORD);
		assert_int_equal(produce_spec(fd, 7, "del", &nokey), E_NONE);
		assert_int_equal(produce_spec(fd, 7, "cmp", &(struct pf_spec){
				 "k", 10, gz, 0, 0}), E_NONE);
	}
	assert_int_equal(log_end(fd, "cmp"), 2);
	close(fd);
	tb_close(&b);
}

/* Interface (Produce): on a compacted topic a gzip batch inflating past
 * max.message.bytes is refused (the cleaner never meets the bomb);
 * elsewhere the same batch is within the request's inflate budget. */
static void test_pf_produce_gzip_bomb_on_compacted_topic(void **state)
{
	struct tb b;
	struct pf_spec bomb = {"k", (size_t)2 << 20, true, 0, 0};
	size_t len;
	uint8_t *batch = pf_batch(&bomb, &len);
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_true(len < 65536 - 100); /* 2 MiB of 'x' gzip to a few KiB */
	assert_int_equal(create_topic(fd, "bomb", 1, "cleanup.policy", "compact"),
			 E_NONE);
	assert_int_equal(create_topic(fd, "plain", 1, NULL, NULL), E_NONE);
	assert_int_equal(produce_ver(fd, 7, NULL, "bomb", batch, len),
			 E_RECORD_LIST_TOO_LARGE);
	assert_int_equal(log_end(fd, "bomb"), 0);
	assert_int_equal(produce_ver(fd, 7, NULL, "plain", batch, len), E_NONE);
	free(batch);
	close(fd);
	tb_close(&b);
}

/* Interface (Produce): a partition named twice in one request is
 * answered once and appended once, with the records it was last given
 * (KAFKA: KafkaApis collects a produce's partitions in a map). */
static void test_pf_produce_repeated_partition_answered_once(void **state)
{
	struct tb b;
	struct bb q = {.n = 0};
	uint8_t one[256], two[256], *r;
	size_t l1 = one_batch(one, sizeof one, "first", 1);
	size_t l2 = one_batch(two, sizeof two, "last", 2);
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "rpp", 1, NULL, NULL), E_NONE);
	bb_str(&q, NULL);
	bb_i16(&q, 1);
	bb_i32(&q, 5000);
	bb_i32(&q, 1);
	bb_str(&q, "rpp");
	bb_i32(&q, 2);
	bb_i32(&q, 0);
	bb_bytes(&q, one, l1);
	bb_i32(&q, 0);
	bb_bytes(&q, two, l2);
	size_t n = roundtrip(fd, 0, 3, false, &q, &r);
	struct rd d = {r, n, 0};
	assert_int_equal(rd_i32(&d), 1);
	rd_skip_str(&d);
	assert_int_equal(rd_i32(&d), 1); /* one partition answered */
	free(r);
	assert_int_equal(log_end(fd, "rpp"), 1);
	uint8_t *recs;
	assert_int_equal(fetch4(fd, "rpp", 0, 0, 0, 1 << 20, &recs, &n), E_NONE);
	assert_int_equal(n, l2);
	assert_memory_equal(recs + 12, two + 12, l2 - 12); /* after base offset */
	free(recs);
	close(fd);
	tb_close(&b);
}

/* A Fetch v4 with replica_id for topic's partition 0, listed times
 * times; the partitions of the answer (at most 8) and their errors. */
static int fetch_repeated(int fd, int32_t replica_id, const char *topic,
			  int times, int16_t errors[8])
{
	struct bb q = {.n = 0};
	uint8_t *r;
	bb_i32(&q, replica_id);
	bb_i32(&q, 0);
	bb_i32(&q, 1);
	bb_i32(&q, 1 << 20);
	bb_i8(&q, 0);
	bb_i32(&q, 1);
	bb_str(&q, topic);
	bb_i32(&q, times);
	for (int i = 0; i < times; i++) {
		bb_i32(&q, 0);
		bb_i64(&q, 0);
		bb_i32(&q, 1 << 20);
	}
	size_t n = roundtrip(fd, 1, 4, false, &q, &r);
	struct rd d = {r, n, 0};
	rd_i32(&d);
	int32_t ntopics = rd_i32(&d), nparts = 0;
	for (int32_t t = 0; t < ntopics; t++) {
		rd_skip_str(&d);
		int32_t np = rd_i32(&d);
		for (int32_t i = 0; i < np; i++, nparts++) {
			rd_i32(&d);
			int16_t err = rd_i16(&d);
			if (nparts < 8)
				errors[nparts] = err;
			rd_i64(&d);
			rd_i64(&d);
			rd_i32(&d); /* aborted transactions: null */
			d.pos += (size_t)rd_i32(&d);
		}
	}
	assert_int_equal(d.pos, n);
	free(r);
	return nparts;
}

/* Interface (Fetch): a replica id >= 0 from a client is answered
 * NOT_LEADER_OR_FOLLOWER, never with follower semantics. */
static void test_pf_fetch_with_replica_id_not_leader_or_follower(void **state)
{
	struct tb b;
	uint8_t batch[256];
	int16_t errs[8];
	size_t len = one_batch(batch, sizeof batch, "v", 1);
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "f", 1, NULL, NULL), E_NONE);
	assert_int_equal(produce(fd, "f", 0, 1, batch, (int32_t)len, NULL), E_NONE);
	assert_int_equal(fetch_repeated(fd, 1, "f", 1, errs), 1);
	assert_int_equal(errs[0], E_NOT_LEADER);
	assert_int_equal(fetch_repeated(fd, -1, "f", 1, errs), 1);
	assert_int_equal(errs[0], E_NONE);
	close(fd);
	tb_close(&b);
}

/* Interface (Fetch): a partition named N times is answered once. */
static void test_pf_fetch_repeated_partition_answered_once(void **state)
{
	struct tb b;
	uint8_t batch[256];
	int16_t errs[8];
	size_t len = one_batch(batch, sizeof batch, "v", 1);
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "rp", 1, NULL, NULL), E_NONE);
	assert_int_equal(produce(fd, "rp", 0, 1, batch, (int32_t)len, NULL), E_NONE);
	assert_int_equal(fetch_repeated(fd, -1, "rp", 1000, errs), 1);
	assert_int_equal(errs[0], E_NONE);
	close(fd);
	tb_close(&b);
}

/* Interface (ListOffsets): every occurrence of a partition named twice
 * is INVALID_REQUEST (KAFKA: duplicatePartitions); others are answered. */
static void test_pf_list_offsets_repeated_partition_invalid_request(void **state)
{
	struct tb b;
	struct bb q = {.n = 0}, w = {.n = 0};
	int32_t parts[] = {0, 1, 0};
	int16_t want[] = {E_INVALID_REQUEST, E_NONE, E_INVALID_REQUEST};
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "dup", 2, NULL, NULL), E_NONE);
	bb_i32(&q, -1);
	bb_i32(&q, 1);
	bb_str(&q, "dup");
	bb_i32(&q, 3);
	bb_i32(&w, 1);
	bb_str(&w, "dup");
	bb_i32(&w, 3);
	for (int i = 0; i < 3; i++) {
		bb_i32(&q, parts[i]);
		bb_i64(&q, -1);
		bb_i32(&w, parts[i]);
		bb_i16(&w, want[i]);
		bb_i64(&w, -1);
		bb_i64(&w, want[i] == E_NONE ? 0 : -1);
	}
	roundtrip_expect(fd, 2, 1, false, &q, &w);
	close(fd);
	tb_close(&b);
}

/* ==== 06_topics.c "In a cluster": one broker of a cluster, faked ==== */

enum { E_LEADER_NOT_AVAILABLE = 5, E_NOT_CONTROLLER = 41 };

/* Brokers 1 (this one) and 2; controller 2; t-0 led by 2 in epoch 5 on
 * [2, 1] with ISR [2]; every other partition unknown to the metadata. */
struct fake_cluster {
	int creates, forwards;
	char created[TOPIC_NAME_MAX + 1];
	int32_t created_np;
	int16_t forwarded_key;
};
static const int32_t fake_replicas[] = {2, 1}, fake_isr[] = {2};

static int fake_broker_at(void *ctx, const char *listener, int32_t i,
			  struct topic_broker_info *out)
{
	static const struct topic_broker_info b[] = {
		{1, "localhost", 9092, "az1"}, {2, "b2.example", 9093, NULL}};
	if (i < 0 || i >= 2)
		return KB_ERR_RANGE;
	*out = b[i];
	return KB_OK;
}

static int fake_replicas_of(void *ctx, const char *topic, int32_t p,
			    struct topic_replicas *out)
{
	if (strcmp(topic, "t") != 0 || p != 0)
		return KB_ERR_NOTFOUND;
	*out = (struct topic_replicas){2, 5, fake_replicas, 2, fake_isr, 1};
	return KB_OK;
}

static int32_t fake_controller(void *ctx) { return 2; }

static int fake_create(void *ctx, const struct topic_create_req *req)
{
	struct fake_cluster *f = ctx;
	f->creates++;
	snprintf(f->created, sizeof f->created, "%s", req->name);
	f->created_np = req->num_partitions;
	return KB_OK;
}

/* The controller "cannot be reached": answer with NOT_CONTROLLER. */
static int fake_forward(void *ctx, struct net_request *req,
			struct net_response *resp)
{
	struct fake_cluster *f = ctx;
	f->forwards++;
	f->forwarded_key = req->header.api_key;
	return topic_error_body(req, E_NOT_CONTROLLER, &resp->w);
}

static void fake_join(struct tb *b, struct fake_cluster *f, bool forward)
{
	struct topic_cluster c = {.broker_at = fake_broker_at,
				  .replicas = fake_replicas_of,
				  .controller_id = fake_controller,
				  .create = fake_create,
				  .forward = forward ? fake_forward : NULL, .ctx = f};
	topic_set_cluster(b->tm, &c);
	assert_non_null(topic_cluster_get(b->tm));
}

/* Broker 1 only: broker 2 registered no endpoint of the listener asked. */
static int fake_broker_at_one(void *ctx, const char *listener, int32_t i,
			      struct topic_broker_info *out)
{
	return i == 0 ? fake_broker_at(ctx, listener, 0, out) : KB_ERR_RANGE;
}

static int fake_endpoint_lacking(void *ctx, int32_t id, const char *listener,
				 struct topic_broker_info *out)
{
	if (id != 1)
		return id == 2 ? KB_ERR_RANGE : KB_ERR_NOTFOUND;
	return fake_broker_at(ctx, listener, 0, out);
}

/* Metadata v1 (or v6) of topic t when its partition 0's leader, broker 2,
 * lacks the request's listener: broker 2 left out of brokers, and p0
 * LEADER_NOT_AVAILABLE (v6: LISTENER_NOT_FOUND) with leader -1. */
static void want_lacking_leader(struct bb *w, int v)
{
	if (v >= 3)
		bb_i32(w, 0); /* throttle_time_ms */
	bb_i32(w, 1); /* brokers: 1 only */
	bb_i32(w, 1);
	bb_str(w, "localhost");
	bb_i32(w, 9092);
	bb_str(w, "az1");
	if (v >= 2)
		bb_str(w, "c1"); /* cluster_id */
	bb_i32(w, 2); /* controller_id */
	bb_i32(w, 1); /* topics */
	bb_i16(w, E_NONE);
	bb_str(w, "t");
	bb_i8(w, 0);
	bb_i32(w, 2);
	bb_i16(w, v >= 6 ? 72 : E_LEADER_NOT_AVAILABLE); /* LISTENER_NOT_FOUND */
	bb_i32(w, 0);
	bb_i32(w, -1); /* no leader for this client */
	bb_i32(w, 2);
	bb_i32(w, 2);
	bb_i32(w, 1);
	bb_i32(w, 1);
	bb_i32(w, 2);
	if (v >= 5)
		bb_i32(w, 0); /* offline_replicas */
	bb_i16(w, E_LEADER_NOT_AVAILABLE);
	bb_i32(w, 1);
	bb_i32(w, -1);
	bb_i32(w, 0);
	bb_i32(w, 0);
	if (v >= 5)
		bb_i32(w, 0);
}

static void test_cluster_metadata_leader_lacking_the_listener(void **state)
{
	struct tb b;
	struct fake_cluster f = {0};
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "t", 2, NULL, NULL), E_NONE);
	struct topic_cluster c = {.broker_at = fake_broker_at_one,
				  .endpoint = fake_endpoint_lacking,
				  .replicas = fake_replicas_of,
				  .controller_id = fake_controller, .ctx = &f};
	topic_set_cluster(b.tm, &c);
	static const int versions[] = {1, 6};
	for (size_t i = 0; i < KB_ARRAY_LEN(versions); i++) {
		struct bb q = {.n = 0}, w = {.n = 0};
		bb_i32(&q, 1);
		bb_str(&q, "t");
		if (versions[i] >= 4)
			bb_i8(&q, 0); /* allow_auto_topic_creation */
		want_lacking_leader(&w, versions[i]);
		roundtrip_expect(fd, 3, versions[i], false, &q, &w);
	}
	topic_set_cluster(b.tm, NULL);
	close(fd);
	tb_close(&b);
}

/* Metadata v1 lists the fake brokers, the controller, and each
 * partition as the metadata says (none: LEADER_NOT_AVAILABLE). */
static void test_cluster_metadata_lists_brokers_and_replicas(void **state)
{
	struct tb b;
	struct fake_cluster f = {0};
	struct bb q = {.n = 0}, w = {.n = 0};
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "t", 2, NULL, NULL), E_NONE);
	fake_join(&b, &f, false);
	bb_i32(&q, 2);
	bb_str(&q, "t");
	bb_str(&q, "nowhere");
	bb_i32(&w, 2); /* brokers */
	bb_i32(&w, 1);
	bb_str(&w, "localhost");
	bb_i32(&w, 9092);
	bb_str(&w, "az1");
	bb_i32(&w, 2);
	bb_str(&w, "b2.example");
	bb_i32(&w, 9093);
	bb_str(&w, NULL);
	bb_i32(&w, 2); /* controller_id */
	bb_i32(&w, 2); /* topics */
	bb_i16(&w, E_NONE);
	bb_str(&w, "t");
	bb_i8(&w, 0);
	bb_i32(&w, 2);
	bb_i16(&w, E_NONE);
	bb_i32(&w, 0);
	bb_i32(&w, 2); /* leader */
	bb_i32(&w, 2);
	bb_i32(&w, 2);
	bb_i32(&w, 1);
	bb_i32(&w, 1);
	bb_i32(&w, 2);
	bb_i16(&w, E_LEADER_NOT_AVAILABLE);
	bb_i32(&w, 1);
	bb_i32(&w, -1);
	bb_i32(&w, 0);
	bb_i32(&w, 0);
	/* not local: unknown, and auto-creation asks the controller */
	bb_i16(&w, E_LEADER_NOT_AVAILABLE);
	bb_str(&w, "nowhere");
	bb_i8(&w, 0);
	bb_i32(&w, 0);
	roundtrip_expect(fd, 3, 1, false, &q, &w);
	assert_int_equal(f.creates, 1);
	assert_string_equal(f.created, "nowhere");
	assert_null(topic_find(b.tm, "nowhere"));
	/* DescribeCluster v1: the same brokers and controller */
	q.n = w.n = 0;
	bb_i8(&q, 0);
	bb_i8(&q, 1); /* endpoint_type: brokers */
	bb_i8(&q, 0);
	bb_i32(&w, 0);
	bb_i16(&w, E_NONE);
	bb_cstr(&w, NULL);
	bb_i8(&w, 1);
	bb_cstr(&w, "c1");
	bb_i32(&w, 2);
	bb_uv(&w, 3);
	bb_i32(&w, 1);
	bb_cstr(&w, "localhost");
	bb_i32(&w, 9092);
	bb_cstr(&w, "az1");
	bb_i8(&w, 0);
	bb_i32(&w, 2);
	bb_cstr(&w, "b2.example");
	bb_i32(&w, 9093);
	bb_cstr(&w, NULL);
	bb_i8(&w, 0);
	bb_i32(&w, INT32_MIN);
	bb_i8(&w, 0);
	roundtrip_expect(fd, 60, 1, true, &q, &w);
	close(fd);
	tb_close(&b);
}

/* A partition this node does not lead: Produce, Fetch, ListOffsets and
 * DeleteRecords answer NOT_LEADER_OR_FOLLOWER; the one it leads works. */
static void test_cluster_partition_led_elsewhere_not_leader(void **state)
{
	struct tb b;
	struct fake_cluster f = {0};
	uint8_t batch[256], *recs;
	size_t len;
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "t", 2, NULL, NULL), E_NONE);
	fake_join(&b, &f, false);
	topic_partition_set_leader(topic_partition_find(b.tm, "t", 0), 2, 5);
	size_t n = one_batch(batch, sizeof batch, "v", 1);
	assert_int_equal(produce(fd, "t", 0, 1, batch, (int32_t)n, NULL),
			 E_NOT_LEADER);
	assert_int_equal(produce(fd, "t", 1, 1, batch, (int32_t)n, NULL), E_NONE);
	assert_int_equal(fetch4(fd, "t", 0, 0, 1, 1024, &recs, &len),
			 E_NOT_LEADER);
	free(recs);
	assert_int_equal(log_end_offset(topic_partition_find(b.tm, "t", 0)->log),
			 0);
	/* DeleteRecords v0: t-0 to offset 0 */
	struct bb q = {.n = 0}, w = {.n = 0};
	bb_i32(&q, 1);
	bb_str(&q, "t");
	bb_i32(&q, 1);
	bb_i32(&q, 0);
	bb_i64(&q, 0);
	bb_i32(&q, 1000);
	bb_i32(&w, 0);
	bb_i32(&w, 1);
	bb_str(&w, "t");
	bb_i32(&w, 1);
	bb_i32(&w, 0);
	bb_i64(&w, -1);
	bb_i16(&w, E_NOT_LEADER);
	roundtrip_expect(fd, 21, 0, false, &q, &w);
	/* ListOffsets v1: t-0 latest */
	q.n = w.n = 0;
	bb_i32(&q, -1);
	bb_i32(&q, 1);
	bb_str(&q, "t");
	bb_i32(&q, 1);
	bb_i32(&q, 0);
	bb_i64(&q, -1);
	bb_i32(&w, 1);
	bb_str(&w, "t");
	bb_i32(&w, 1);
	bb_i32(&w, 0);
	bb_i16(&w, E_NOT_LEADER);
	bb_i64(&w, -1);
	bb_i64(&w, -1);
	roundtrip_expect(fd, 2, 1, false, &q, &w);
	/* led here again, in epoch 5: Produce appends */
	topic_partition_set_leader(topic_partition_find(b.tm, "t", 0), 1, 5);
	assert_int_equal(produce(fd, "t", 0, 1, batch, (int32_t)n, NULL), E_NONE);
	close(fd);
	tb_close(&b);
}

/* CreateTopics, DeleteTopics, CreatePartitions and both AlterConfigs go
 * to the forward hook; nothing changes locally. */
static void test_cluster_admin_requests_forwarded(void **state)
{
	struct tb b;
	struct fake_cluster f = {0};
	struct bb q = {.n = 0}, w = {.n = 0};
	tb_open(&b);
	int fd = tb_connect(&b);
	assert_int_equal(create_topic(fd, "kept", 1, NULL, NULL), E_NONE);
	fake_join(&b, &f, true);
	assert_int_equal(create_topic(fd, "fw", 3, NULL, NULL), E_NOT_CONTROLLER);
	assert_int_equal(f.forwards, 1);
	assert_int_equal(f.forwarded_key, 19);
	assert_null(topic_find(b.tm, "fw"));
	bb_i32(&q, 1); /* DeleteTopics v1 */
	bb_str(&q, "kept");
	bb_i32(&q, 1000);
	bb_i32(&w, 0);
	bb_i32(&w, 1);
	bb_str(&w, "kept");
	bb_i16(&w, E_NOT_CONTROLLER);
	roundtrip_expect(fd, 20, 1, false, &q, &w);
	assert_int_equal(f.forwards, 2);
	assert_non_null(topic_find(b.tm, "kept"));
	close(fd);
	tb_close(&b);
}

/* topic_create with a cluster: the controller is asked, nothing local. */
static void test_cluster_topic_create_asks_controller(void **state)
{
	struct tb b;
	struct fake_cluster f = {0};
	struct topic *t = NULL;
	tb_open(&b);
	fake_join(&b, &f, true);
	struct topic_create_req req = {"made.there", 4, NULL, 0};
	assert_int_equal(topic_create(b.tm, &req, &t), KB_ERR_AGAIN);
	assert_null(t);
	assert_int_equal(f.creates, 1);
	assert_string_equal(f.created, "made.there");
	assert_int_equal(f.created_np, 4);
	assert_null(topic_find(b.tm, "made.there"));
	/* one node again: created here, as before */
	topic_set_cluster(b.tm, NULL);
	assert_null(topic_cluster_get(b.tm));
	assert_int_equal(topic_create(b.tm, &req, &t), KB_OK);
	assert_int_equal(t->partitions[0]->leader_id, b.cfg.node_id);
	assert_int_equal(f.creates, 1);
	tb_close(&b);
}

/* Chapter 07's installs: the controller's topic id, configs replaced. */
static void test_cluster_install_with_id_and_replace_overrides(void **state)
{
	struct tb b;
	struct topic *t = NULL;
	struct topic_overrides none = {0};
	struct wire_uuid id = {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
				15, 16}};
	uint8_t got[16];
	char text[23];
	tb_open(&b);
	assert_int_equal(topic_install(b.tm, &(struct topic_spec){"ided", 1, &none,
				       &id}, &t), KB_OK);
	assert_memory_equal(t->id.b, id.b, 16);
	read_topic_id(&b, "ided-0", got, text);
	assert_memory_equal(got, id.b, 16);
	const struct topic_config_kv kv[] = {{"retention.ms", "1234"}};
	assert_int_equal(topic_overrides_replace(b.tm, t, kv, 1), KB_OK);
	assert_int_equal(t->cfg.log.retention_ms, 1234);
	assert_string_equal(topic_overrides_get(&t->overrides, "retention.ms"),
			    "1234");
	const struct topic_config_kv bad[] = {{"retention.ms", "x"}};
	assert_int_not_equal(topic_overrides_replace(b.tm, t, bad, 1), KB_OK);
	assert_int_equal(t->cfg.log.retention_ms, 1234);
	assert_int_equal(topic_overrides_replace(b.tm, t, NULL, 0), KB_OK);
	assert_null(topic_overrides_get(&t->overrides, "retention.ms"));
	tb_close(&b);
}

/* topic_error_body for one request: the bytes out, the body unread. */
static void error_body_expect(int key, int ver, bool flex, const struct bb *q,
			      const struct bb *want)
{
	struct net_request req = {0};
	struct kb_buf out;
	struct wire_writer w;
	req.header.api_key = (int16_t)key;
	req.header.api_version = (int16_t)ver;
	wire_reader_init(&req.body, q->p, q->n, flex);
	kb_buf_init(&out);
	wire_writer_init(&w, &out, flex);
	assert_int_equal(topic_error_body(&req, E_NOT_CONTROLLER, &w), KB_OK);
	assert_int_equal(req.body.pos, 0);
	assert_int_equal(out.len, want->n);
	assert_memory_equal(out.data, want->p, want->n);
	kb_buf_fini(&out);
}

/* Every api's error answer, lowest and highest version served. */
static void test_cluster_error_body_each_api_bytes(void **state)
{
	struct bb q = {.n = 0}, w = {.n = 0};
	/* CreateTopics v7 (flexible) */
	bb_uv(&q, 2);
	bb_cstr(&q, "a");
	bb_i32(&q, 3);
	bb_i16(&q, -1);
	bb_uv(&q, 1); /* assignments */
	bb_uv(&q, 2); /* configs */
	bb_cstr(&q, "retention.ms");
	bb_cstr(&q, "1");
	bb_i8(&q, 0);
	bb_i8(&q, 0);
	bb_i32(&q, 1000);
	bb_i8(&q, 0);
	bb_i8(&q, 0);
	bb_i32(&w, 0);
	bb_uv(&w, 2);
	bb_cstr(&w, "a");
	for (int i = 0; i < 16; i++)
		bb_i8(&w, 0); /* topic_id */
	bb_i16(&w, E_NOT_CONTROLLER);
	bb_cstr(&w, NULL);
	bb_i32(&w, -1);
	bb_i16(&w, -1);
	bb_uv(&w, 1);
	bb_i8(&w, 0);
	bb_i8(&w, 0);
	error_body_expect(19, 7, true, &q, &w);
	/* CreateTopics v2 */
	q.n = w.n = 0;
	bb_i32(&q, 1);
	bb_str(&q, "a");
	bb_i32(&q, 3);
	bb_i16(&q, -1);
	bb_i32(&q, 0);
	bb_i32(&q, 0);
	bb_i32(&q, 1000);
	bb_i8(&q, 0);
	bb_i32(&w, 0);
	bb_i32(&w, 1);
	bb_str(&w, "a");
	bb_i16(&w, E_NOT_CONTROLLER);
	bb_str(&w, NULL);
	error_body_expect(19, 2, false, &q, &w);
	/* DeleteTopics v6 (flexible, by id) */
	q.n = w.n = 0;
	bb_uv(&q, 2);
	bb_cstr(&q, NULL);
	for (int i = 0; i < 16; i++)
		bb_i8(&q, i + 1);
	bb_i8(&q, 0);
	bb_i32(&q, 1000);
	bb_i8(&q, 0);
	bb_i32(&w, 0);
	bb_uv(&w, 2);
	bb_cstr(&w, NULL);
	for (int i = 0; i < 16; i++)
		bb_i8(&w, i + 1);
	bb_i16(&w, E_NOT_CONTROLLER);
	bb_cstr(&w, NULL);
	bb_i8(&w, 0);
	bb_i8(&w, 0);
	error_body_expect(20, 6, true, &q, &w);
	/* CreatePartitions v0 and v3 (flexible) */
	q.n = w.n = 0;
	bb_i32(&q, 1);
	bb_str(&q, "a");
	bb_i32(&q, 4);
	bb_i32(&q, -1); /* assignments: null */
	bb_i32(&q, 1000);
	bb_i8(&q, 0);
	bb_i32(&w, 0);
	bb_i32(&w, 1);
	bb_str(&w, "a");
	bb_i16(&w, E_NOT_CONTROLLER);
	bb_str(&w, NULL);
	error_body_expect(37, 0, false, &q, &w);
	q.n = w.n = 0;
	bb_uv(&q, 2);
	bb_cstr(&q, "a");
	bb_i32(&q, 4);
	bb_uv(&q, 0);
	bb_i8(&q, 0);
	bb_i32(&q, 1000);
	bb_i8(&q, 0);
	bb_i8(&q, 0);
	bb_i32(&w, 0);
	bb_uv(&w, 2);
	bb_cstr(&w, "a");
	bb_i16(&w, E_NOT_CONTROLLER);
	bb_cstr(&w, NULL);
	bb_i8(&w, 0);
	bb_i8(&w, 0);
	error_body_expect(37, 3, true, &q, &w);
	/* AlterConfigs v0 and IncrementalAlterConfigs v1 (flexible) */
	q.n = w.n = 0;
	bb_i32(&q, 1);
	bb_i8(&q, 2); /* TOPIC */
	bb_str(&q, "a");
	bb_i32(&q, 1);
	bb_str(&q, "retention.ms");
	bb_str(&q, "1");
	bb_i8(&q, 0);
	bb_i32(&w, 0);
	bb_i32(&w, 1);
	bb_i16(&w, E_NOT_CONTROLLER);
	bb_str(&w, NULL);
	bb_i8(&w, 2);
	bb_str(&w, "a");
	error_body_expect(33, 0, false, &q, &w);
	q.n = w.n = 0;
	bb_uv(&q, 2);
	bb_i8(&q, 2);
	bb_cstr(&q, "a");
	bb_uv(&q, 2);
	bb_cstr(&q, "retention.ms");
	bb_i8(&q, 0); /* SET */
	bb_cstr(&q, "1");
	bb_i8(&q, 0);
	bb_i8(&q, 0);
	bb_i8(&q, 0);
	bb_i8(&q, 0);
	bb_i32(&w, 0);
	bb_uv(&w, 2);
	bb_i16(&w, E_NOT_CONTROLLER);
	bb_cstr(&w, NULL);
	bb_i8(&w, 2);
	bb_cstr(&w, "a");
	bb_i8(&w, 0);
	bb_i8(&w, 0);
	error_body_expect(44, 1, true, &q, &w);
	/* another api, and a broken body */
	struct net_request req = {0};
	struct kb_buf out;
	struct wire_writer wr;
	kb_buf_init(&out);
	wire_writer_init(&wr, &out, false);
	req.header.api_key = 3;
	wire_reader_init(&req.body, q.p, q.n, false);
	assert_int_equal(topic_error_body(&req, 41, &wr), KB_ERR_NOTFOUND);
	req.header.api_key = 19;
	wire_reader_init(&req.body, q.p, 3, false);
	assert_int_not_equal(topic_error_body(&req, 41, &wr), KB_OK);
	kb_buf_fini(&out);
}

int main(void)
{
	tu_log_quiet(); /* a passing run prints no log lines */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_topic_name_valid_follows_kafka),
		cmocka_unit_test(test_topic_id_format_is_base64url_without_padding),
		cmocka_unit_test(test_topic_reloads_with_same_id_after_restart),
		cmocka_unit_test(test_topic_manager_close_writes_checkpoints_and_marker),
		cmocka_unit_test(test_topic_configs_persist_across_restart),
		cmocka_unit_test(test_topic_load_recreates_gaps_and_finishes_deletes),
		cmocka_unit_test(test_topic_create_all_or_nothing_across_crash),
		cmocka_unit_test(test_topic_delete_all_or_nothing_across_crash),
		cmocka_unit_test(test_topic_create_never_reuses_a_leftover_directory),
		cmocka_unit_test(test_topic_hooks_create_append_read),
		cmocka_unit_test(test_topic_subscribers_hear_each_append_one_wake),
		cmocka_unit_test(test_topic_take_high_watermark_moves_ownership),
		cmocka_unit_test(test_topic_logdir_offline_after_failed_write),
		cmocka_unit_test(test_topic_produce_storage_error_while_offline),
		cmocka_unit_test(test_topic_produce_check_rejects_or_dedups),
		cmocka_unit_test(test_topic_flush_messages_acknowledges_only_durable),
		cmocka_unit_test(test_topic_manager_tick_retention_for_delete_policy_only),
		cmocka_unit_test(test_metadata_v0_empty_list_means_all_topics),
		cmocka_unit_test(test_metadata_v4_null_all_empty_none_and_auto_create_flag),
		cmocka_unit_test(test_metadata_v9_auto_creates_bytes),
		cmocka_unit_test(test_topic_reserved_names_refused),
		cmocka_unit_test(test_metadata_broker_auto_create_disabled),
		cmocka_unit_test(test_admin_create_topics_v2_errors_bytes),
		cmocka_unit_test(test_admin_create_topics_v7_bytes),
		cmocka_unit_test(test_admin_create_topics_assignments_and_validate_only),
		cmocka_unit_test(test_admin_delete_topics_v1_bytes),
		cmocka_unit_test(test_admin_delete_topics_v6_by_id_bytes),
		cmocka_unit_test(test_admin_delete_topics_disabled),
		cmocka_unit_test(test_admin_create_partitions_v0_v3_bytes),
		cmocka_unit_test(test_admin_describe_cluster_v0_v1_bytes),
		cmocka_unit_test(test_configs_describe_v1_sources_and_synonyms_bytes),
		cmocka_unit_test(test_configs_describe_v4_broker_and_docs_bytes),
		cmocka_unit_test(test_configs_describe_v3_documentation),
		cmocka_unit_test(test_configs_alter_v0_replaces_whole_set),
		cmocka_unit_test(test_configs_incremental_alter_ops),
		cmocka_unit_test(test_pf_produce_v3_fetch_v4_roundtrip_bytes),
		cmocka_unit_test(test_pf_produce_v8_fetch_v12_bytes),
		cmocka_unit_test(test_pf_produce_v0_unsupported_version_bytes),
		cmocka_unit_test(test_pf_produce_error_codes),
		cmocka_unit_test(test_pf_produce_two_batches_in_one_partition),
		cmocka_unit_test(test_pf_produce_acks0_no_response_error_closes),
		cmocka_unit_test(test_pf_log_append_time_stamps_and_recomputes_crc),
		cmocka_unit_test(test_pf_compressed_batch_stored_untouched),
		cmocka_unit_test(test_pf_fetch_woken_by_produce_before_max_wait),
		cmocka_unit_test(test_pf_fetch_expires_empty_at_max_wait),
		cmocka_unit_test(test_pf_fetch_2gib_bounded_and_out_of_range),
		cmocka_unit_test(test_pf_fetch_kip74_first_batch_may_exceed_limit),
		cmocka_unit_test(test_pf_fetch_fenced_leader_epoch),
		cmocka_unit_test(test_pf_list_offsets_v1_bytes),
		cmocka_unit_test(test_pf_list_offsets_v7_max_timestamp_bytes),
		cmocka_unit_test(test_pf_offset_for_leader_epoch_v2_v4_bytes),
		cmocka_unit_test(test_pf_delete_records_v0_v2_bytes),
		cmocka_unit_test(test_pf_malformed_request_closes_connection),
		/* Produce and fetch refusals (issue 9) */
		cmocka_unit_test(test_pf_produce_refuses_unknown_and_broken_codecs),
		cmocka_unit_test(test_pf_produce_record_count_must_match_records),
		cmocka_unit_test(test_pf_produce_one_batch_of_magic_2),
		cmocka_unit_test(test_pf_produce_transactional_batch_refused),
		cmocka_unit_test(test_pf_produce_null_key_on_compacted_topic),
		cmocka_unit_test(test_pf_produce_gzip_bomb_on_compacted_topic),
		cmocka_unit_test(test_pf_produce_repeated_partition_answered_once),
		cmocka_unit_test(test_pf_fetch_with_replica_id_not_leader_or_follower),
		cmocka_unit_test(test_pf_fetch_repeated_partition_answered_once),
		cmocka_unit_test(test_pf_list_offsets_repeated_partition_invalid_request),
		/* In a cluster */
		cmocka_unit_test(test_cluster_metadata_lists_brokers_and_replicas),
		cmocka_unit_test(test_cluster_metadata_leader_lacking_the_listener),
		cmocka_unit_test(test_cluster_partition_led_elsewhere_not_leader),
		cmocka_unit_test(test_cluster_admin_requests_forwarded),
		cmocka_unit_test(test_cluster_topic_create_asks_controller),
		cmocka_unit_test(test_cluster_install_with_id_and_replace_overrides),
		cmocka_unit_test(test_cluster_error_body_each_api_bytes),
	};
	kb_log_set_level(KB_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
