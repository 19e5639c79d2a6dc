/* SPDX-License-Identifier: MIT */
/*
 * Tests for chapter 13's SASL (chapters/13_sasl.c) and the SCRAM
 * credentials' codecs (chapters/13_scram_creds.c): the keys and their
 * checks, then the state machine inside chapter 05's reactor, driven one
 * turn at a time (net_run_once) against a client in this test on a
 * non-blocking loopback socket. The client's SCRAM side is
 * 13_scram_client.c. net_check and sasl_server_check run after every turn.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "04_codec.h"
#include "05_server.h"
#include "07_metadata.h"
#include "13_scram.h"
#include "13_sasl.h"
#include "13_scram_creds.h"

/* The api key our test handler answers on: it writes the principal. */
#define ECHO_KEY WIRE_API_METADATA
#define MAX_TURNS 4000
#define DELAY_MS 60 /* connection.failed.authentication.delay.ms here */
#define JAAS "org.apache.kafka.common.security.plain.PlainLoginModule " \
	     "required username=\"admin\" password=\"x\" " \
	     "user_bob=\"bob-secret\" user_eve=\"eve; x\";"

#define JAAS_NO_LOGIN "org.apache.kafka.common.security.plain.PlainLoginModule " \
	     "required user_bob=\"bob-secret\";"
static struct scram_credential alice; /* SCRAM-SHA-512, "alice-secret" */

/* ---- Helpers ---- */

static int handle_echo(struct net_request *req, struct net_response *resp)
{
	wire_write_string(&resp->w, wire_str_c(net_request_principal(req)));
	return KB_OK;
}

static int lookup(void *ctx, const char *user, enum scram_mechanism mech,
		  struct scram_credential *out)
{
	(void)ctx;
	if (strcmp(user, alice.name) || mech != alice.mechanism)
		return KB_ERR_NOTFOUND;
	*out = alice;
	return KB_OK;
}

struct rig {
	struct net_server *srv;
	struct sasl_server *ss;
	int port;
	int32_t cid;
};

static void settings(struct sasl_settings *s, const char *mechs)
{
	struct sasl_error why;
	sasl_settings_init(s);
	assert_int_equal(sasl_settings_set(s, "sasl.enabled.mechanisms", mechs,
					   &why), KB_OK);
	assert_int_equal(sasl_settings_set(s, "listener.name.sasl_plaintext."
					   "plain.sasl.jaas.config", JAAS, &why), KB_OK);
	char ms[16];
	snprintf(ms, sizeof ms, "%d", DELAY_MS);
	assert_int_equal(sasl_settings_set(s, "connection.failed.authentication."
					   "delay.ms", ms, &why), KB_OK);
}

/* A SASL_PLAINTEXT listener serving mechs; sessions expire after
 * reauth_ms (connections.max.reauth.ms; 0: never). */
static void rig_open_reauth(struct rig *r, const char *mechs, int reauth_ms)
{
	struct net_config nc;
	struct sasl_settings s;
	struct sasl_config c;
	struct sasl_error why;
	net_config_defaults(&nc);
	memset(r, 0, sizeof *r);
	settings(&s, mechs);
	char ms[16];
	snprintf(ms, sizeof ms, "%d", reauth_ms);
	assert_int_equal(sasl_settings_set(&s, "connections.max.reauth.ms", ms,
					   &why), KB_OK);
	sasl_settings_for(&s, "SASL_PLAINTEXT", &c);
	assert_int_equal(sasl_server_new(&c, &r->ss, &why), KB_OK);
	sasl_server_set_scram_lookup(r->ss, lookup, NULL);
	assert_int_equal(net_server_new(&nc, &r->srv), KB_OK);
	struct net_api api = {ECHO_KEY, 0, 0, handle_echo, NULL};
	assert_int_equal(net_register(r->srv, &api), KB_OK);
	assert_int_equal(sasl_register(r->srv), KB_OK);
	struct net_endpoint ep = {"127.0.0.1", 0, NET_LISTENER_BROKER};
	ep.auth = sasl_authenticator();
	ep.auth_ctx = r->ss;
	assert_int_equal(net_listen_at(r->srv, &ep, &r->port), KB_OK);
}

static void rig_open(struct rig *r, const char *mechs)
{
	rig_open_reauth(r, mechs, 0);
}

static void rig_close(struct rig *r)
{
	net_server_free(r->srv);
	sasl_server_free(r->ss);
}

static void turn(struct rig *r)
{
	assert_int_equal(net_run_once(r->srv, 1), KB_OK);
	net_check(r->srv);
	sasl_server_check(r->ss);
}

static int dial(struct rig *r)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)r->port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	assert_true(rc == 0 || errno == EINPROGRESS);
	for (int i = 0; i < 20; i++)
		turn(r); /* accepted */
	return fd;
}

static void send_all(struct rig *r, int fd, const uint8_t *p, size_t n)
{
	for (int i = 0; n > 0 && i < MAX_TURNS; i++) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else {
			assert_true(w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
		}
		turn(r);
	}
	assert_int_equal(n, 0);
}

/* One whole frame into *out (owned, its size in *len); -1 when the
 * broker closed first. */
static int read_frame(struct rig *r, int fd, uint8_t **out, size_t *len)
{
	uint8_t hdr[4];
	size_t got = 0, need = 4;
	uint8_t *buf = hdr;
	for (int i = 0; i < MAX_TURNS * 4; i++) {
		turn(r);
		ssize_t n = recv(fd, buf + got, need - got, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
			if (buf != hdr)
				free(buf);
			return -1;
		}
		got += n > 0 ? (size_t)n : 0;
		if (got < need)
			continue;
		if (buf != hdr) {
			*out = buf, *len = need;
			return 0;
		}
		need = kb_get_be32(hdr);
		assert_true(need < (1u << 20));
		buf = malloc(need ? need : 1);
		got = 0;
		if (need == 0) {
			*out = buf, *len = 0;
			return 0;
		}
	}
	fail_msg("no frame");
	return -1;
}

/* True once the broker closed fd. */
static bool closed(struct rig *r, int fd)
{
	uint8_t b[256];
	for (int i = 0; i < MAX_TURNS; i++) {
		turn(r);
		ssize_t n = recv(fd, b, sizeof b, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
			return true;
	}
	return false;
}

/* Send a request; NULL when the connection closed; else its body after
 * the response header (owned, in *mem; reader r). */
static bool call(struct rig *r, int fd, int16_t key, int16_t ver,
		 const void *body, size_t len, uint8_t **mem,
		 struct wire_reader *out)
{
	struct kb_buf b;
	struct wire_writer w;
	kb_buf_init(&b);
	wire_writer_init(&w, &b, false);
	wire_reserve_i32(&w);
	bool flex = wire_is_flexible(key, ver);
	struct wire_request_header h = {key, ver, ++r->cid, wire_str_c("t"),
					flex ? 2 : 1};
	wire_write_request_header(&w, &h);
	wire_write_raw(&w, body, len);
	kb_put_be32(b.data, (uint32_t)(b.len - 4));
	send_all(r, fd, b.data, b.len);
	kb_buf_fini(&b);
	size_t n;
	if (read_frame(r, fd, mem, &n) != 0)
		return false;
	wire_reader_init(out, *mem, n, false);
	int32_t cid;
	assert_int_equal(wire_read_response_header(out, &h, &cid), KB_OK);
	assert_int_equal(cid, r->cid);
	return true;
}

/* SaslHandshake v; its error code (-1: closed) and the list's count. */
static int handshake(struct rig *r, int fd, const char *mech, int16_t v,
		     int32_t *n)
{
	struct kb_buf b;
	struct wire_writer w;
	struct wire_reader rd;
	uint8_t *mem;
	kb_buf_init(&b);
	wire_writer_init(&w, &b, false);
	wire_write_string(&w, wire_str_c(mech));
	bool ok = call(r, fd, WIRE_API_SASL_HANDSHAKE, v, b.data, b.len, &mem, &rd);
	kb_buf_fini(&b);
	if (!ok)
		return -1;
	int16_t err = wire_read_i16(&rd);
	*n = wire_read_array_len(&rd, 2);
	free(mem);
	return err;
}

static int64_t session_lifetime_ms; /* of the last SaslAuthenticate answer */

/* SaslAuthenticate v2 with tok; error code (-1: closed), server token. */
static int authenticate(struct rig *r, int fd, const void *tok, size_t len,
			struct kb_buf *reply)
{
	struct kb_buf b;
	struct wire_writer w;
	struct wire_reader rd;
	uint8_t *mem;
	kb_buf_init(&b);
	wire_writer_init(&w, &b, true);
	wire_write_bytes(&w, (struct wire_bytes){tok, (int32_t)len});
	wire_write_tags(&w);
	bool ok = call(r, fd, WIRE_API_SASL_AUTHENTICATE, 2, b.data, b.len, &mem,
		       &rd);
	kb_buf_fini(&b);
	if (!ok)
		return -1;
	int16_t err = wire_read_i16(&rd);
	wire_read_nullable_string(&rd);
	struct wire_bytes t = wire_read_bytes(&rd);
	session_lifetime_ms = wire_read_i64(&rd);
	wire_read_tags(&rd);
	assert_int_equal(wire_reader_status(&rd), KB_OK);
	if (reply && t.len > 0)
		kb_buf_append(reply, t.p, (size_t)t.len);
	free(mem);
	return err;
}

/* The echo handler's answer: the principal; NULL-terminated into p. */
static bool principal(struct rig *r, int fd, char *p, size_t cap)
{
	struct wire_reader rd;
	uint8_t *mem;
	if (!call(r, fd, ECHO_KEY, 0, "", 0, &mem, &rd))
		return false;
	struct wire_str s = wire_read_string(&rd);
	snprintf(p, cap, "%.*s", (int)s.len, s.p);
	free(mem);
	return true;
}

/* A SCRAM-SHA-512 login; the final step's error (-1 closed). */
static int scram_login(struct rig *r, int fd, const char *user,
		       const char *password)
{
	struct scram_client c;
	struct kb_buf first, reply, final;
	int32_t n;
	kb_buf_init(&first), kb_buf_init(&reply), kb_buf_init(&final);
	assert_int_equal(handshake(r, fd, "SCRAM-SHA-512", 1, &n), 0);
	assert_int_equal(scram_client_init(&c, SCRAM_SHA_512, user, password), KB_OK);
	assert_int_equal(scram_client_first(&c, &first), KB_OK);
	assert_int_equal(authenticate(r, fd, first.data, first.len, &reply), 0);
	assert_int_equal(scram_client_final(&c, (char *)reply.data, reply.len,
					    &final), KB_OK);
	kb_buf_fini(&reply);
	kb_buf_init(&reply);
	int err = authenticate(r, fd, final.data, final.len, &reply);
	if (err == 0)
		assert_int_equal(scram_client_verify(&c, (char *)reply.data,
						     reply.len), KB_OK);
	scram_client_fini(&c);
	kb_buf_fini(&first), kb_buf_fini(&reply), kb_buf_fini(&final);
	return err;
}

/* ---- Settings ---- */

static void test_sasl_settings_default_gssapi_refused(void **state)
{
	(void)state;
	struct sasl_settings s;
	struct sasl_config c;
	struct sasl_error why;
	struct sasl_server *ss = NULL;
	unsigned set;
	sasl_settings_init(&s);
	sasl_settings_for(&s, "SASL_SSL", &c);
	assert_int_equal(sasl_config_mechanisms(&c, &set, &why), KB_ERR_INVAL);
	assert_non_null(strstr(why.msg, "GSSAPI is Kafka's default"));
	assert_int_equal(sasl_server_new(&c, &ss, &why), KB_ERR_INVAL);
	assert_null(ss);
	/* an override for one listener only */
	assert_int_equal(sasl_settings_set(&s, "listener.name.sasl_ssl.sasl."
					   "enabled.mechanisms", "SCRAM-SHA-256",
					   &why), KB_OK);
	sasl_settings_for(&s, "SASL_SSL", &c);
	assert_int_equal(sasl_config_mechanisms(&c, &set, &why), KB_OK);
	assert_int_equal(set, SASL_MECH_SCRAM_SHA_256);
	sasl_settings_for(&s, "OTHER", &c);
	assert_int_equal(sasl_config_mechanisms(&c, &set, &why), KB_ERR_INVAL);
	assert_int_equal(sasl_settings_set(&s, "sasl.no.such", "x", &why),
			 KB_ERR_NOTFOUND);
	assert_int_equal(sasl_settings_set(&s, "connection.failed.authentication."
					   "delay.ms", "-5", &why), KB_ERR_INVAL);
}

static void test_sasl_plain_needs_users_from_jaas(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "com.example.Login required user_a=\"b\";",
		"org.apache.kafka.common.security.plain.PlainLoginModule "
		"required username=\"a\" password=\"b\";",
		"org.apache.kafka.common.security.plain.PlainLoginModule "
		"required user_a=\"b;",
		"org.apache.kafka.common.security.plain.PlainLoginModule "
		"required user_a=b;",
	};
	struct sasl_config c = {"PLAIN", "", 100, 0};
	struct sasl_error why;
	struct sasl_server *ss = NULL;
	for (size_t i = 0; i < KB_ARRAY_LEN(bad); i++) {
		snprintf(c.plain_jaas, sizeof c.plain_jaas, "%s", bad[i]);
		assert_int_equal(sasl_server_new(&c, &ss, &why), KB_ERR_INVAL);
		assert_null(ss);
	}
	snprintf(c.plain_jaas, sizeof c.plain_jaas, "%s", JAAS);
	assert_int_equal(sasl_server_new(&c, &ss, &why), KB_OK);
	sasl_server_check(ss);
	sasl_server_free(ss);
}

/* ---- The state machine on the reactor ---- */

/* INVARIANT 8 of chapter 05: before authentication, another API and a
 * frame over 512 KiB close the connection; ApiVersions is served. */
static void test_sasl_before_authentication_limits(void **state)
{
	(void)state;
	struct rig r;
	char p[64];
	rig_open(&r, "PLAIN");
	int fd = dial(&r);
	assert_false(principal(&r, fd, p, sizeof p));
	close(fd);
	fd = dial(&r);
	uint8_t big[8] = {0};
	kb_put_be32(big, NET_UNAUTHENTICATED_MAX_BYTES + 1);
	send_all(&r, fd, big, sizeof big);
	assert_true(closed(&r, fd));
	close(fd);
	/* SaslAuthenticate before SaslHandshake: IllegalSaslState, closed */
	fd = dial(&r);
	assert_int_equal(authenticate(&r, fd, "x", 1, NULL), -1);
	close(fd);
	rig_close(&r);
}

static void test_sasl_plain_v1_principal(void **state)
{
	(void)state;
	struct rig r;
	char p[64];
	int32_t n;
	rig_open(&r, "PLAIN,SCRAM-SHA-512");
	int fd = dial(&r);
	assert_int_equal(handshake(&r, fd, "PLAIN", 1, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(authenticate(&r, fd, "\0bob\0bob-secret", 15, NULL), 0);
	assert_int_equal(session_lifetime_ms, 0); /* never expires */
	assert_true(principal(&r, fd, p, sizeof p));
	assert_string_equal(p, "User:bob");
	/* a second handshake after authentication: ILLEGAL_SASL_STATE (no
	 * connections.max.reauth.ms, no re-authentication) */
	assert_int_equal(handshake(&r, fd, "PLAIN", 1, &n),
			 KAFKA_ERR_ILLEGAL_SASL_STATE);
	close(fd);
	/* a password with a ';' and a space, quoted in the JAAS text */
	fd = dial(&r);
	assert_int_equal(handshake(&r, fd, "PLAIN", 1, &n), 0);
	assert_int_equal(authenticate(&r, fd, "eve\0eve\0eve; x", 14, NULL), 0);
	close(fd);
	rig_close(&r);
}

/* KIP-368, connections.max.reauth.ms = REAUTH_MS: the lifetime is told
 * on success; a SaslHandshake v1 with the same mechanism re-authenticates
 * on the same connection (SCRAM too), not twice within a second; a
 * session not renewed in time is closed at its next request. */
#define REAUTH_MS 1200
static void test_sasl_reauthentication_renews_the_session(void **state)
{
	(void)state;
	struct rig r;
	char p[64];
	int32_t n;
	rig_open_reauth(&r, "PLAIN,SCRAM-SHA-512", REAUTH_MS);
	int fd = dial(&r);
	assert_int_equal(handshake(&r, fd, "PLAIN", 1, &n), 0);
	assert_int_equal(authenticate(&r, fd, "\0bob\0bob-secret", 15, NULL), 0);
	assert_int_equal(session_lifetime_ms, REAUTH_MS);
	assert_int_equal(handshake(&r, fd, "PLAIN", 1, &n), 0);
	assert_int_equal(authenticate(&r, fd, "\0bob\0bob-secret", 15, NULL), 0);
	assert_int_equal(session_lifetime_ms, REAUTH_MS);
	int64_t renewed = kb_mono_ms();
	assert_true(principal(&r, fd, p, sizeof p));
	assert_string_equal(p, "User:bob");
	/* within a second of the last: refused, the connection stays */
	assert_int_equal(handshake(&r, fd, "PLAIN", 1, &n),
			 KAFKA_ERR_ILLEGAL_SASL_STATE);
	assert_true(principal(&r, fd, p, sizeof p));
	while (kb_mono_ms() < renewed + REAUTH_MS + 50)
		turn(&r);
	assert_false(principal(&r, fd, p, sizeof p)); /* expired: closed */
	close(fd);
	/* SCRAM re-authenticates with a new exchange */
	fd = dial(&r);
	assert_int_equal(scram_login(&r, fd, "alice", "alice-secret"), 0);
	assert_int_equal(scram_login(&r, fd, "alice", "alice-secret"), 0);
	assert_int_equal(session_lifetime_ms, REAUTH_MS);
	assert_true(principal(&r, fd, p, sizeof p));
	assert_string_equal(p, "User:alice");
	close(fd);
	rig_close(&r);
}

/* KAFKA: ReauthInfo: a re-authentication may change neither the
 * principal (SASL_AUTHENTICATION_FAILED) nor the mechanism
 * (UNSUPPORTED_SASL_MECHANISM); either ends the connection. */
static void test_sasl_reauthentication_keeps_principal_and_mechanism(void **state)
{
	(void)state;
	struct rig r;
	int32_t n;
	rig_open_reauth(&r, "PLAIN,SCRAM-SHA-512", REAUTH_MS);
	int fd = dial(&r);
	assert_int_equal(handshake(&r, fd, "PLAIN", 1, &n), 0);
	assert_int_equal(authenticate(&r, fd, "\0bob\0bob-secret", 15, NULL), 0);
	assert_int_equal(handshake(&r, fd, "PLAIN", 1, &n), 0);
	assert_int_equal(authenticate(&r, fd, "eve\0eve\0eve; x", 14, NULL),
			 KAFKA_ERR_SASL_AUTHENTICATION_FAILED);
	assert_true(closed(&r, fd));
	close(fd);
	fd = dial(&r);
	assert_int_equal(handshake(&r, fd, "PLAIN", 1, &n), 0);
	assert_int_equal(authenticate(&r, fd, "\0bob\0bob-secret", 15, NULL), 0);
	assert_int_equal(handshake(&r, fd, "SCRAM-SHA-512", 1, &n),
			 KAFKA_ERR_UNSUPPORTED_SASL_MECHANISM);
	assert_true(closed(&r, fd));
	close(fd);
	rig_close(&r);
}

/* SaslHandshake v0: bare tokens; PLAIN's success is an empty frame. */
static void test_sasl_handshake_v0_bare_tokens(void **state)
{
	(void)state;
	struct rig r;
	char p[64];
	int32_t n;
	uint8_t *mem;
	size_t len;
	rig_open(&r, "PLAIN");
	int fd = dial(&r);
	assert_int_equal(handshake(&r, fd, "PLAIN", 0, &n), 0);
	uint8_t tok[4 + 15];
	kb_put_be32(tok, 15);
	memcpy(tok + 4, "\0bob\0bob-secret", 15);
	send_all(&r, fd, tok, sizeof tok);
	assert_int_equal(read_frame(&r, fd, &mem, &len), 0);
	assert_int_equal(len, 0);
	free(mem);
	assert_true(principal(&r, fd, p, sizeof p));
	assert_string_equal(p, "User:bob");
	close(fd);
	/* a wrong password in v0: no answer, a close after the delay */
	fd = dial(&r);
	assert_int_equal(handshake(&r, fd, "PLAIN", 0, &n), 0);
	memcpy(tok + 4, "\0bob\0bob-secreX", 15);
	int64_t t0 = kb_mono_ms();
	send_all(&r, fd, tok, sizeof tok);
	assert_true(closed(&r, fd));
	assert_true(kb_mono_ms() - t0 >= DELAY_MS - 5);
	close(fd);
	rig_close(&r);
}

static void test_sasl_unsupported_mechanism_list_and_close(void **state)
{
	(void)state;
	struct rig r;
	int32_t n;
	rig_open(&r, "SCRAM-SHA-512,SCRAM-SHA-256");
	int fd = dial(&r);
	assert_int_equal(handshake(&r, fd, "PLAIN", 1, &n),
			 KAFKA_ERR_UNSUPPORTED_SASL_MECHANISM);
	assert_int_equal(n, 2);
	assert_true(closed(&r, fd));
	close(fd);
	rig_close(&r);
}

/* A failure is answered after the delay while another connection is
 * served at once (a timer, not a sleep); then the connection closes. */
static void test_sasl_failure_delayed_others_served(void **state)
{
	(void)state;
	struct rig r;
	char p[64];
	int32_t n;
	rig_open(&r, "PLAIN");
	int good = dial(&r);
	assert_int_equal(handshake(&r, good, "PLAIN", 1, &n), 0);
	assert_int_equal(authenticate(&r, good, "\0bob\0bob-secret", 15, NULL), 0);
	int bad = dial(&r);
	assert_int_equal(handshake(&r, bad, "PLAIN", 1, &n), 0);
	int64_t t0 = kb_mono_ms();
	/* send the wrong password without waiting for its answer */
	struct kb_buf b;
	struct wire_writer w;
	kb_buf_init(&b);
	wire_writer_init(&w, &b, false);
	wire_reserve_i32(&w);
	struct wire_request_header h = {WIRE_API_SASL_AUTHENTICATE, 2, 99,
					wire_str_c("t"), 2};
	wire_write_request_header(&w, &h);
	wire_write_bytes(&w, (struct wire_bytes){(const uint8_t *)"\0bob\0nope", 9});
	wire_write_tags(&w);
	kb_put_be32(b.data, (uint32_t)(b.len - 4));
	send_all(&r, bad, b.data, b.len);
	kb_buf_fini(&b);
	assert_true(principal(&r, good, p, sizeof p)); /* served meanwhile */
	assert_true(kb_mono_ms() - t0 < DELAY_MS);
	uint8_t *mem;
	size_t len;
	assert_int_equal(read_frame(&r, bad, &mem, &len), 0);
	assert_true(kb_mono_ms() - t0 >= DELAY_MS - 5);
	struct wire_reader rd;
	wire_reader_init(&rd, mem, len, true);
	int32_t cid;
	assert_int_equal(wire_read_response_header(&rd, &h, &cid), KB_OK);
	assert_int_equal(wire_read_i16(&rd), KAFKA_ERR_SASL_AUTHENTICATION_FAILED);
	free(mem);
	assert_true(closed(&r, bad));
	close(bad);
	close(good);
	rig_close(&r);
}

static void test_sasl_plain_authzid_other_user_refused(void **state)
{
	(void)state;
	struct rig r;
	int32_t n;
	rig_open(&r, "PLAIN");
	int fd = dial(&r);
	assert_int_equal(handshake(&r, fd, "PLAIN", 1, &n), 0);
	assert_int_equal(authenticate(&r, fd, "eve\0bob\0bob-secret", 18, NULL),
			 KAFKA_ERR_SASL_AUTHENTICATION_FAILED);
	assert_true(closed(&r, fd));
	close(fd);
	fd = dial(&r); /* authzid equal to the user is fine */
	assert_int_equal(handshake(&r, fd, "PLAIN", 1, &n), 0);
	assert_int_equal(authenticate(&r, fd, "bob\0bob\0bob-secret", 18, NULL), 0);
	close(fd);
	rig_close(&r);
}

static void test_sasl_scram_login_and_failures(void **state)
{
	(void)state;
	struct rig r;
	char p[64];
	rig_open(&r, "SCRAM-SHA-512");
	int fd = dial(&r);
	assert_int_equal(scram_login(&r, fd, "alice", "alice-secret"), 0);
	assert_true(principal(&r, fd, p, sizeof p));
	assert_string_equal(p, "User:alice");
	close(fd);
	/* INVARIANT 4: a wrong password and an unknown user fail alike, at
	 * the proof, after the exchange ran */
	fd = dial(&r);
	assert_int_equal(scram_login(&r, fd, "alice", "nope"),
			 KAFKA_ERR_SASL_AUTHENTICATION_FAILED);
	assert_true(closed(&r, fd));
	close(fd);
	fd = dial(&r);
	assert_int_equal(scram_login(&r, fd, "mallory", "nope"),
			 KAFKA_ERR_SASL_AUTHENTICATION_FAILED);
	assert_true(closed(&r, fd));
	close(fd);
	rig_close(&r);
}

/* ---- Credentials: format's flag and the bootstrap file ---- */

static void test_scram_creds_parse_arg_and_bootstrap_file(void **state)
{
	(void)state;
	struct scram_credential c[2], back[SCRAM_BOOTSTRAP_MAX];
	char why[512];
	int n;
	assert_int_equal(scram_creds_parse_arg("SCRAM-SHA-512=[name=alice,"
					       "password=alice-secret]", &c[0],
					       why, sizeof why), KB_OK);
	assert_int_equal(c[0].iterations, 4096);
	assert_int_equal(scram_creds_parse_arg("SCRAM-SHA-256=[name=\"b,c\","
					       "password=\"p]w\",iterations=8192]",
					       &c[1], why, sizeof why), KB_OK);
	assert_string_equal(c[1].name, "b,c");
	static const char *const bad[] = {
		"SCRAM-SHA-1=[name=a,password=b]", "SCRAM-SHA-512=[name=a]",
		"SCRAM-SHA-512=[name=a,password=b,iterations=10]",
		"SCRAM-SHA-512=[name=a,password=b", "SCRAM-SHA-512=name=a",
		"SCRAM-SHA-512=[name=a,pw=b]",
	};
	for (size_t i = 0; i < KB_ARRAY_LEN(bad); i++)
		assert_int_equal(scram_creds_parse_arg(bad[i], &back[0], why,
						       sizeof why), KB_ERR_INVAL);
	char *dir = tu_tmpdir();
	assert_int_equal(scram_creds_bootstrap_read(dir, back, &n), KB_OK);
	assert_int_equal(n, 0);
	assert_int_equal(scram_creds_bootstrap_write(dir, c, 2), KB_OK);
	assert_int_equal(scram_creds_bootstrap_read(dir, back, &n), KB_OK);
	assert_int_equal(n, 2);
	assert_memory_equal(&back[0].stored_key, &c[0].stored_key, 64);
	assert_string_equal(back[1].name, "b,c");
	/* a damaged file is refused whole: cut at every byte */
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, SCRAM_BOOTSTRAP_FILE);
	size_t len = 0;
	uint8_t *bytes = tu_read_all(path, &len);
	for (size_t cut = 1; cut < len; cut++) {
		tu_write_all(path, bytes, cut);
		int rc = scram_creds_bootstrap_read(dir, back, &n);
		assert_true(rc == KB_ERR_CORRUPT || (rc == KB_OK && n == 1));
	}
	free(bytes);
	tu_rmrf(dir);
}

/* The image's credentials: lookup by (name, mechanism). */
static void test_scram_creds_lookup_in_image(void **state)
{
	(void)state;
	struct meta_image img;
	struct meta_record rec;
	struct scram_credential out;
	meta_image_init(&img);
	meta_record_init(&rec, META_USER_SCRAM_CREDENTIAL, 0);
	rec.name = wire_str_c(alice.name);
	rec.mechanism = (int8_t)alice.mechanism;
	rec.salt = (struct wire_bytes){alice.salt, (int32_t)alice.salt_len};
	rec.stored_key = (struct wire_bytes){alice.stored_key, 64};
	rec.server_key = (struct wire_bytes){alice.server_key, 64};
	rec.iterations = alice.iterations;
	assert_int_equal(meta_apply(&img, &rec), KB_OK);
	assert_int_equal(scram_creds_lookup(&img, "alice", SCRAM_SHA_512, &out),
			 KB_OK);
	assert_memory_equal(out.server_key, alice.server_key, 64);
	assert_int_equal(scram_creds_lookup(&img, "alice", SCRAM_SHA_256, &out),
			 KB_ERR_NOTFOUND);
	assert_int_equal(scram_creds_lookup(&img, "bob", SCRAM_SHA_512, &out),
			 KB_ERR_NOTFOUND);
	meta_check(&img);
	meta_image_fini(&img);
}

/* ---- Peers: a broker logs in to an inter-broker SASL listener ---- */

struct peer_reply {
	int n, status;
	char principal[64];
};

static void on_peer_reply(void *ctx, int status, struct wire_reader *body)
{
	struct peer_reply *pr = ctx;
	pr->n++;
	pr->status = status;
	if (status != KB_OK)
		return;
	struct wire_str p = wire_read_string(body);
	snprintf(pr->principal, sizeof pr->principal, "%.*s",
		 p.len > 0 ? (int)p.len : 0, p.len > 0 ? p.p : "");
}

/* One call from a peer of the rig's server through 13_sasl_peer.c,
 * logging in with jaas's username and password; turns until it ran. */
static void peer_call(struct rig *r, const char *jaas, struct peer_reply *pr)
{
	struct sasl_settings s;
	struct sasl_config c;
	struct sasl_error why;
	struct sasl_client *sc = NULL;
	sasl_settings_init(&s);
	assert_int_equal(sasl_settings_set(&s, "listener.name.internal.plain."
					   "sasl.jaas.config", jaas, &why), KB_OK);
	sasl_settings_for(&s, "INTERNAL", &c);
	assert_int_equal(sasl_client_new(&c, NULL, NULL, &sc, &why), KB_OK);
	net_server_set_peer_transport(r->srv, NET_LISTENER_BROKER,
				      sasl_peer_transport(), sc);
	struct net_peer_config pc = {"127.0.0.1", r->port, "peer-test", 5000,
				     50, .inter_broker = true};
	struct net_peer *p = NULL;
	assert_int_equal(net_peer_open(r->srv, &pc, &p), KB_OK);
	struct net_call call = {ECHO_KEY, 0, NULL, 0, on_peer_reply, pr};
	*pr = (struct peer_reply){0};
	assert_int_equal(net_peer_send(p, &call), KB_OK);
	for (int i = 0; i < MAX_TURNS && pr->n == 0; i++)
		turn(r);
	assert_int_equal(pr->n, 1);
	net_peer_close(p);
	turn(r);
	net_server_free(r->srv); /* its peers first, then their login */
	r->srv = NULL;
	sasl_client_free(sc);
}

/* KAFKA: sasl.mechanism.inter.broker.protocol=PLAIN: the broker logs in
 * with its own username/password before its call goes out, and is that
 * user on the other side; a wrong password fails the call, with the
 * listener's answer in the log. */
static void test_sasl_peer_plain_login(void **state)
{
	(void)state;
	struct rig r;
	struct peer_reply pr;
	rig_open(&r, "PLAIN");
	tu_log_clear();
	peer_call(&r, "org.apache.kafka.common.security.plain.PlainLoginModule "
		  "required username=\"bob\" password=\"bob-secret\";", &pr);
	assert_int_equal(pr.status, KB_OK);
	assert_string_equal(pr.principal, "User:bob");
	assert_logged("connected over SASL");
	sasl_server_free(r.ss);
	rig_open(&r, "PLAIN");
	tu_log_clear();
	peer_call(&r, "org.apache.kafka.common.security.plain.PlainLoginModule "
		  "required username=\"bob\" password=\"wrong\";", &pr);
	assert_int_equal(pr.status, KB_ERR_IO);
	assert_logged("SaslAuthenticate: SASL_AUTHENTICATION_FAILED");
	sasl_server_free(r.ss);
	/* No login in the JAAS text: refused when the client is built. */
	struct sasl_settings s;
	struct sasl_config c;
	struct sasl_error why;
	struct sasl_client *sc = NULL;
	sasl_settings_init(&s);
	assert_int_equal(sasl_settings_set(&s, "listener.name.internal.plain."
					   "sasl.jaas.config", JAAS_NO_LOGIN,
					   &why), KB_OK);
	sasl_settings_for(&s, "INTERNAL", &c);
	assert_int_equal(sasl_client_new(&c, NULL, NULL, &sc, &why),
			 KB_ERR_INVAL);
	assert_non_null(strstr(why.msg, "no username"));
}

int main(void)
{
	tu_log_quiet();
	if (scram_credential_init(&alice, "alice", SCRAM_SHA_512, 4096) != KB_OK ||
	    scram_credential_derive(&alice, "alice-secret", 12) != KB_OK)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sasl_settings_default_gssapi_refused),
		cmocka_unit_test(test_sasl_plain_needs_users_from_jaas),
		cmocka_unit_test(test_sasl_before_authentication_limits),
		cmocka_unit_test(test_sasl_plain_v1_principal),
		cmocka_unit_test(test_sasl_handshake_v0_bare_tokens),
		cmocka_unit_test(test_sasl_reauthentication_renews_the_session),
		cmocka_unit_test(test_sasl_reauthentication_keeps_principal_and_mechanism),
		cmocka_unit_test(test_sasl_unsupported_mechanism_list_and_close),
		cmocka_unit_test(test_sasl_failure_delayed_others_served),
		cmocka_unit_test(test_sasl_plain_authzid_other_user_refused),
		cmocka_unit_test(test_sasl_scram_login_and_failures),
		cmocka_unit_test(test_sasl_peer_plain_login),
		cmocka_unit_test(test_scram_creds_parse_arg_and_bootstrap_file),
		cmocka_unit_test(test_scram_creds_lookup_in_image),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
