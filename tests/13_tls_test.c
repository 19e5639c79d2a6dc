/* SPDX-License-Identifier: MIT */
/*
 * Tests for chapter 13's TLS listeners (chapters/13_tls.c): the ssl.*
 * keys and their checks, and the transport inside chapter 05's reactor,
 * driven one turn at a time (net_run_once) against an OpenSSL client in
 * this test on a non-blocking loopback socket, so neither side may block.
 * The certificates come from tools/certs.sh (the `make certs` script),
 * made once into a scratch directory. net_check and tls_server_check run
 * after every reactor turn.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "04_codec.h"
#include "05_server.h"
#include "13_tls.h"

/* The api key our test handler answers on (a real key, so it dispatches). */
#define ECHO_KEY WIRE_API_METADATA
/* Bytes of the handler's answer after the principal: many TLS records. */
#define BIG_ANSWER (300 * 1024)
/* Reactor turns a client step may take before the test gives up. */
#define MAX_TURNS 4000

static char *certs; /* the certs.sh directory, made once in main */

/* ---- Helpers ---- */

static void cert_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", certs, name);
}

/* A file of certs as a NUL-terminated string, newlines made spaces
 * (as a properties file may carry PEM text); returns owned (free). */
static char *pem_one_line(const char *name)
{
	char path[512];
	size_t n = 0;
	cert_path(path, sizeof path, name);
	uint8_t *bytes = tu_read_all(path, &n);
	char *text = malloc(n + 1);
	assert_non_null(text);
	for (size_t i = 0; i < n; i++)
		text[i] = bytes[i] == '\n' ? ' ' : (char)bytes[i];
	text[n] = '\0';
	free(bytes);
	return text;
}

/* A config for the broker certificate, client_auth as given. */
static void broker_config(struct tls_config *c, const char *client_auth)
{
	struct tls_settings s;
	struct tls_error why;
	char path[512];
	tls_settings_init(&s);
	cert_path(path, sizeof path, "broker.pem");
	assert_int_equal(tls_settings_set(&s, "ssl.keystore.location", path,
					  &why), KB_OK);
	cert_path(path, sizeof path, "ca.pem");
	assert_int_equal(tls_settings_set(&s, "ssl.truststore.location", path,
					  &why), KB_OK);
	assert_int_equal(tls_settings_set(&s, "ssl.client.auth", client_auth,
					  &why), KB_OK);
	tls_settings_for(&s, "SSL", c);
}

/* The handler: the principal as a string, then BIG_ANSWER patterned bytes
 * (data the other way: the request carries its own, ignored here). */
static int echo_calls; /* requests handle_echo answered */

static int handle_echo(struct net_request *req, struct net_response *resp)
{
	echo_calls++;
	wire_write_string(&resp->w, wire_str_c(net_request_principal(req)));
	uint8_t chunk[4096];
	for (size_t i = 0; i < BIG_ANSWER; i += sizeof chunk) {
		for (size_t j = 0; j < sizeof chunk; j++)
			chunk[j] = (uint8_t)((i + j) * 7);
		wire_write_raw(&resp->w, chunk, sizeof chunk);
	}
	return KB_OK;
}

struct rig {
	struct net_server *srv;
	struct tls_server *ts; /* NULL: a PLAINTEXT listener */
	int port;
};

/* A server with the echo handler and one listener, TLS when cfg is
 * given; frame_timeout_ms as given (0: the default). */
static void rig_open_with(struct rig *r, const struct tls_config *cfg,
			  int64_t frame_timeout_ms)
{
	struct net_config nc;
	struct tls_error why;
	net_config_defaults(&nc);
	if (frame_timeout_ms)
		nc.frame_timeout_ms = frame_timeout_ms;
	memset(r, 0, sizeof *r);
	assert_int_equal(net_server_new(&nc, &r->srv), KB_OK);
	struct net_api api = {ECHO_KEY, 0, 0, handle_echo, NULL};
	assert_int_equal(net_register(r->srv, &api), KB_OK);
	struct net_endpoint ep = {"127.0.0.1", 0, NET_LISTENER_BROKER};
	if (cfg) {
		assert_int_equal(tls_server_new(cfg, &r->ts, &why), KB_OK);
		ep.tp = tls_transport();
		ep.tp_ctx = r->ts;
	}
	assert_int_equal(net_listen_at(r->srv, &ep, &r->port), KB_OK);
}

static void rig_open(struct rig *r, const struct tls_config *cfg)
{
	rig_open_with(r, cfg, 0);
}

static void rig_close(struct rig *r)
{
	net_server_free(r->srv);
	tls_server_free(r->ts);
}

/* One reactor turn that does not wait, then every invariant. */
static void turn(struct rig *r)
{
	assert_int_equal(net_run_once(r->srv, 1), KB_OK);
	net_check(r->srv);
	if (r->ts)
		tls_server_check(r->ts);
}

/* A non-blocking TCP socket connecting to the rig. */
static int dial(const struct rig *r)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)r->port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	assert_true(rc == 0 || errno == EINPROGRESS);
	return fd;
}

/* An OpenSSL client on fd, trusting the test CA, with cert_name's
 * certificate and key when not NULL. */
static SSL *client_new(SSL_CTX **ctx, int fd, const char *cert_name)
{
	char path[512];
	*ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(*ctx);
	cert_path(path, sizeof path, "ca.pem");
	assert_int_equal(SSL_CTX_load_verify_locations(*ctx, path, NULL), 1);
	SSL_CTX_set_verify(*ctx, SSL_VERIFY_PEER, NULL);
	if (cert_name) {
		char key[512];
		snprintf(path, sizeof path, "%s/%s.crt", certs, cert_name);
		snprintf(key, sizeof key, "%s/%s.key", certs, cert_name);
		assert_int_equal(SSL_CTX_use_certificate_file(*ctx, path,
						SSL_FILETYPE_PEM), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey_file(*ctx, key,
						SSL_FILETYPE_PEM), 1);
	}
	SSL *ssl = SSL_new(*ctx);
	assert_non_null(ssl);
	SSL_set_fd(ssl, fd);
	SSL_set1_host(ssl, "localhost");
	SSL_set_connect_state(ssl);
	return ssl;
}

/* Did an SSL call only have to wait? Then give the reactor a turn. */
static bool wait_turn(struct rig *r, SSL *ssl, int rc)
{
	int e = SSL_get_error(ssl, rc);
	if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
		return false;
	turn(r);
	return true;
}

/* The client's handshake, the reactor turning meanwhile: 1 or failure. */
static int client_handshake(struct rig *r, SSL *ssl)
{
	for (int i = 0; i < MAX_TURNS; i++) {
		int rc = SSL_do_handshake(ssl);
		if (rc == 1)
			return 1;
		if (!wait_turn(r, ssl, rc))
			return -1;
	}
	return -1;
}

static int client_write_all(struct rig *r, SSL *ssl, const uint8_t *p,
			    size_t n)
{
	for (int i = 0; n > 0 && i < MAX_TURNS; i++) {
		int w = SSL_write(ssl, p, (int)n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (!wait_turn(r, ssl, w)) {
			return -1;
		}
	}
	return n == 0 ? 0 : -1;
}

/* Read exactly n bytes; -1 if the connection ends first. */
static int client_read_all(struct rig *r, SSL *ssl, uint8_t *p, size_t n)
{
	for (int i = 0; n > 0 && i < MAX_TURNS * 4; i++) {
		int got = SSL_read(ssl, p, (int)KB_MIN(n, (size_t)INT32_MAX));
		if (got > 0) {
			p += got;
			n -= (size_t)got;
		} else if (!wait_turn(r, ssl, got)) {
			return -1;
		}
	}
	return n == 0 ? 0 : -1;
}

/* One echo request (with extra bytes the server must read through),
 * then its answer: returns the principal the server saw (owned). */
static char *echo(struct rig *r, SSL *ssl, int32_t correlation_id)
{
	static uint8_t frame[64 * 1024];
	struct kb_buf buf;
	struct wire_writer w;
	kb_buf_init(&buf);
	wire_writer_init(&w, &buf, false);
	wire_write_i32(&w, 0); /* size, patched */
	wire_write_i16(&w, ECHO_KEY);
	wire_write_i16(&w, 0);
	wire_write_i32(&w, correlation_id);
	wire_write_string(&w, wire_str_c("tls-test"));
	memset(frame, 0xab, sizeof frame); /* bytes the other way */
	wire_write_raw(&w, frame, sizeof frame);
	kb_put_be32(buf.data, (uint32_t)(buf.len - 4));
	assert_int_equal(client_write_all(r, ssl, buf.data, buf.len), 0);
	kb_buf_fini(&buf);

	uint8_t head[10];
	assert_int_equal(client_read_all(r, ssl, head, sizeof head), 0);
	uint32_t size = kb_get_be32(head);
	assert_int_equal((int32_t)kb_get_be32(head + 4), correlation_id);
	uint16_t plen = (uint16_t)((head[8] << 8) | head[9]);
	assert_int_equal(size, 4 + 2 + plen + BIG_ANSWER);
	char *principal = calloc(1, plen + 1u);
	uint8_t *rest = malloc(BIG_ANSWER);
	assert_int_equal(client_read_all(r, ssl, (uint8_t *)principal, plen), 0);
	assert_int_equal(client_read_all(r, ssl, rest, BIG_ANSWER), 0);
	for (size_t i = 0; i < BIG_ANSWER; i++)
		if (rest[i] != (uint8_t)(i * 7))
			fail_msg("answer byte %zu is %u", i, rest[i]);
	free(rest);
	return principal;
}

/* Turn until the server holds no connection (it closed ours). */
static void until_closed(struct rig *r)
{
	for (int i = 0; i < MAX_TURNS && net_connection_count(r->srv) > 0; i++)
		turn(r);
	assert_int_equal(net_connection_count(r->srv), 0);
}

/* ---- Settings ---- */

static void test_tls_settings_defaults_and_checks(void **state)
{
	(void)state;
	struct tls_settings s;
	struct tls_error why;
	tls_settings_init(&s);
	assert_string_equal(s.base.keystore_type, "PEM");
	assert_string_equal(s.base.client_auth, "none");
	assert_string_equal(s.base.enabled_protocols, "TLSv1.2,TLSv1.3");
	assert_string_equal(s.base.endpoint_identification, "https");
	assert_int_equal(tls_settings_set(&s, "ssl.endpoint.identification."
					  "algorithm", "", &why), KB_OK);
	assert_string_equal(s.base.endpoint_identification, "");
	assert_int_equal(tls_settings_set(&s, "ssl.endpoint.identification."
					  "algorithm", "ldap", &why),
			 KB_ERR_INVAL);
	assert_int_equal(tls_settings_set(&s, "ssl.client.auth", "required",
					  &why), KB_OK);
	assert_string_equal(s.base.client_auth, "required");
	/* Refused values leave the setting as it was. */
	assert_int_equal(tls_settings_set(&s, "ssl.client.auth", "maybe", &why),
			 KB_ERR_INVAL);
	assert_non_null(strstr(why.msg, "none, requested or required"));
	assert_string_equal(s.base.client_auth, "required");
	assert_int_equal(tls_settings_set(&s, "ssl.keystore.type", "JKS", &why),
			 KB_ERR_INVAL);
	assert_non_null(strstr(why.msg, "PEM"));
	assert_int_equal(tls_settings_set(&s, "ssl.enabled.protocols", "SSLv3",
					  &why), KB_ERR_INVAL);
	assert_int_equal(tls_settings_set(&s, "ssl.enabled.protocols", "TLSv1.3",
					  &why), KB_OK);
	/* Not TLS keys: the caller says "unknown key". */
	assert_int_equal(tls_settings_set(&s, "ssl.no.such.key", "x", &why),
			 KB_ERR_NOTFOUND);
	assert_int_equal(tls_settings_set(&s, "num.partitions", "1", &why),
			 KB_ERR_NOTFOUND);
	char big[TLS_PATH_MAX + 10];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(tls_settings_set(&s, "ssl.keystore.location", big,
					  &why), KB_ERR_INVAL);
}

static void test_tls_settings_listener_override(void **state)
{
	(void)state;
	struct tls_settings s;
	struct tls_error why;
	struct tls_config c;
	tls_settings_init(&s);
	assert_int_equal(tls_settings_set(&s, "ssl.client.auth", "required",
					  &why), KB_OK);
	assert_int_equal(tls_settings_set(&s, "ssl.truststore.location", "/ca",
					  &why), KB_OK);
	assert_int_equal(tls_settings_set(&s,
		"listener.name.internal.ssl.client.auth", "none", &why), KB_OK);
	tls_settings_for(&s, "INTERNAL", &c); /* names compare upper-cased */
	assert_string_equal(c.client_auth, "none");
	assert_string_equal(c.truststore_location, "/ca"); /* from the base */
	tls_settings_for(&s, "SSL", &c);
	assert_string_equal(c.client_auth, "required");
	assert_int_equal(tls_settings_set(&s,
		"listener.name.internal.ssl.client.auth", "sometimes", &why),
		KB_ERR_INVAL);
	assert_int_equal(tls_settings_set(&s, "listener.name.x.sasl.mechanism",
					  "PLAIN", &why), KB_ERR_NOTFOUND);
	const char *names[] = {"a", "b", "c"};
	for (int i = 0; i < 3; i++) {
		char key[64];
		snprintf(key, sizeof key, "listener.name.%s.ssl.client.auth",
			 names[i]);
		assert_int_equal(tls_settings_set(&s, key, "none", &why), KB_OK);
	}
	assert_int_equal(tls_settings_set(&s, "listener.name.e.ssl.client.auth",
					  "none", &why), KB_ERR_INVAL);
}

/* ---- Building a listener's context ---- */

static void test_tls_server_new_refuses_bad_stores(void **state)
{
	(void)state;
	struct tls_settings s;
	struct tls_error why;
	struct tls_config c;
	struct tls_server *ts = NULL;
	tls_settings_init(&s);
	tls_settings_for(&s, "SSL", &c);
	assert_int_equal(tls_server_new(&c, &ts, &why), KB_ERR_INVAL);
	assert_non_null(strstr(why.msg, "ssl.keystore.location"));

	snprintf(c.keystore_location, sizeof c.keystore_location,
		 "%s/missing.pem", certs);
	assert_int_equal(tls_server_new(&c, &ts, &why), KB_ERR_INVAL);
	assert_non_null(strstr(why.msg, "ssl.keystore.location"));
	assert_non_null(strstr(why.msg, "missing.pem"));

	cert_path(c.keystore_location, sizeof c.keystore_location, "ca.pem");
	assert_int_equal(tls_server_new(&c, &ts, &why), KB_ERR_INVAL);
	assert_non_null(strstr(why.msg, "private key")); /* a certificate only */

	broker_config(&c, "required");
	cert_path(c.truststore_location, sizeof c.truststore_location, "nope");
	assert_int_equal(tls_server_new(&c, &ts, &why), KB_ERR_INVAL);
	assert_non_null(strstr(why.msg, "ssl.truststore.location"));
	c.truststore_location[0] = '\0';
	assert_int_equal(tls_server_new(&c, &ts, &why), KB_ERR_INVAL);
	assert_non_null(strstr(why.msg, "needs ssl.truststore.location"));
	assert_null(ts);

	broker_config(&c, "required");
	assert_int_equal(tls_server_new(&c, &ts, &why), KB_OK);
	tls_server_check(ts);
	tls_server_free(ts);
}

/* Inline PEM: ssl.keystore.key + ssl.keystore.certificate.chain, given as
 * a properties file carries them (lines joined by spaces); a key that is
 * not the certificate's is refused. */
static void test_tls_inline_pem_and_key_mismatch(void **state)
{
	(void)state;
	struct tls_settings s;
	struct tls_error why;
	struct tls_config c;
	struct tls_server *ts = NULL;
	tls_settings_init(&s);
	char *key = pem_one_line("broker.key");
	char *crt = pem_one_line("broker.crt");
	assert_int_equal(tls_settings_set(&s, "ssl.keystore.key", key, &why),
			 KB_OK);
	assert_int_equal(tls_settings_set(&s, "ssl.keystore.certificate.chain",
					  crt, &why), KB_OK);
	tls_settings_for(&s, "SSL", &c);
	assert_int_equal(tls_server_new(&c, &ts, &why), KB_OK);
	tls_server_free(ts);
	ts = NULL;

	char *alice = pem_one_line("alice.key");
	assert_int_equal(tls_settings_set(&s, "ssl.keystore.key", alice, &why),
			 KB_OK);
	tls_settings_for(&s, "SSL", &c);
	assert_int_equal(tls_server_new(&c, &ts, &why), KB_ERR_INVAL);
	assert_non_null(strstr(why.msg, "does not match"));
	assert_null(ts);

	/* Hostile text: nothing but markers and one-character lines is
	 * refused without writing past anything (ASan). */
	char junk[TLS_PEM_MAX];
	for (size_t i = 0; i + 1 < sizeof junk; i++)
		junk[i] = i % 11 < 10 ? '-' : 'A';
	junk[sizeof junk - 1] = '\0';
	assert_int_equal(tls_settings_set(&s, "ssl.keystore.key", junk, &why),
			 KB_OK);
	assert_int_equal(tls_settings_set(&s, "ssl.keystore.certificate.chain",
					  "A A A A -----", &why), KB_OK);
	tls_settings_for(&s, "SSL", &c);
	assert_int_equal(tls_server_new(&c, &ts, &why), KB_ERR_INVAL);
	assert_non_null(strstr(why.msg, "no PEM certificate"));
	free(key);
	free(crt);
	free(alice);
}

/* KAFKA: ssl.key.password decrypts an encrypted key; without it, or
 * with a wrong one, startup is refused (never a terminal prompt). */
static void test_tls_encrypted_key_needs_its_password(void **state)
{
	(void)state;
	char cmd[2048], enc[512];
	snprintf(enc, sizeof enc, "%s/broker-enc.pem", certs);
	snprintf(cmd, sizeof cmd, "openssl pkcs8 -topk8 -v2 aes-256-cbc -in "
		 "%s/broker.key -passout pass:s3cret -out %s && cat %s/broker.crt "
		 ">> %s", certs, enc, certs, enc);
	assert_int_equal(system(cmd), 0);
	struct tls_settings s;
	struct tls_error why;
	struct tls_config c;
	struct tls_server *ts = NULL;
	tls_settings_init(&s);
	assert_int_equal(tls_settings_set(&s, "ssl.keystore.location", enc, &why),
			 KB_OK);
	tls_settings_for(&s, "SSL", &c);
	assert_int_equal(tls_server_new(&c, &ts, &why), KB_ERR_INVAL);
	assert_non_null(strstr(why.msg, "ssl.key.password"));
	assert_non_null(strstr(why.msg, "broker-enc.pem"));
	assert_int_equal(tls_settings_set(&s, "ssl.key.password", "wrong", &why),
			 KB_OK);
	tls_settings_for(&s, "SSL", &c);
	assert_int_equal(tls_server_new(&c, &ts, &why), KB_ERR_INVAL);
	assert_int_equal(tls_settings_set(&s, "ssl.key.password", "s3cret", &why),
			 KB_OK);
	tls_settings_for(&s, "SSL", &c);
	assert_int_equal(tls_server_new(&c, &ts, &why), KB_OK);
	tls_server_free(ts);
}

/* ---- The transport in the reactor ---- */

/* A TLS listener without client auth and one client through its
 * handshake; sndbuf > 0 sizes the client's socket send buffer first. */
struct session {
	struct rig r;
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
};

static void session_open(struct session *s, int sndbuf)
{
	struct tls_config c;
	broker_config(&c, "none");
	rig_open(&s->r, &c);
	s->fd = dial(&s->r);
	if (sndbuf > 0)
		setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	s->ssl = client_new(&s->ctx, s->fd, NULL);
	assert_int_equal(client_handshake(&s->r, s->ssl), 1);
}

/* The client goes; the server must close its side, then stops. */
static void session_close(struct session *s)
{
	SSL_free(s->ssl);
	SSL_CTX_free(s->ctx);
	close(s->fd);
	until_closed(&s->r);
	rig_close(&s->r);
}

/* Invariants 1-3: the handshake completes with both sides non-blocking,
 * a 64 kB request and a 300 kB answer cross in many records; without a
 * client certificate the principal is User:ANONYMOUS. */
static void test_tls_handshake_and_data_both_ways(void **state)
{
	(void)state;
	struct session s;
	session_open(&s, 0);
	for (int32_t id = 1; id <= 3; id++) {
		char *principal = echo(&s.r, s.ssl, id);
		assert_string_equal(principal, "User:ANONYMOUS");
		free(principal);
	}
	session_close(&s);
}

/* A request of five TLS records, all on the socket already, is read and
 * answered in one reactor turn: tls_read drains every record (and
 * OpenSSL's read-ahead) in one call, not one record per epoll wakeup. */
static void test_tls_request_of_many_records_in_one_turn(void **state)
{
	(void)state;
	struct session s;
	session_open(&s, 512 * 1024); /* the whole frame fits: one SSL_write */
	uint8_t *frame = calloc(1, 4 + 64 * 1024);
	kb_put_be32(frame, 64 * 1024);
	kb_put_be16(frame + 4, ECHO_KEY);
	kb_put_be32(frame + 8, 7); /* correlation id; client id "" below */
	int w = SSL_write(s.ssl, frame, 4 + 64 * 1024);
	assert_int_equal(w, 4 + 64 * 1024); /* the loopback buffer took it */
	free(frame);
	int before = echo_calls;
	turn(&s.r);
	assert_int_equal(echo_calls, before + 1);
	uint8_t head[8];
	assert_int_equal(client_read_all(&s.r, s.ssl, head, sizeof head), 0);
	assert_int_equal((int32_t)kb_get_be32(head + 4), 7);
	session_close(&s);
}

/* Mutual TLS: the client certificate's subject is the principal
 * (KAFKA: "User:" + RFC 2253 name); without one the handshake fails. */
static void test_tls_mutual_principal_and_refusal(void **state)
{
	(void)state;
	struct tls_config c;
	struct rig r;
	SSL_CTX *ctx;
	broker_config(&c, "required");
	rig_open(&r, &c);
	int fd = dial(&r);
	SSL *ssl = client_new(&ctx, fd, "alice");
	assert_int_equal(client_handshake(&r, ssl), 1);
	char *principal = echo(&r, ssl, 7);
	assert_string_equal(principal, "User:CN=alice,O=samsa");
	free(principal);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	until_closed(&r);

	tu_log_clear();
	fd = dial(&r);
	ssl = client_new(&ctx, fd, NULL);
	/* TLS 1.3: the client finishes first and learns of the refusal
	 * when it reads; either way no request gets through. */
	if (client_handshake(&r, ssl) == 1) {
		uint8_t b;
		assert_int_equal(client_read_all(&r, ssl, &b, 1), -1);
	}
	until_closed(&r);
	assert_logged("INFO closing");
	assert_logged("TLS handshake failed");
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	rig_close(&r);
}

/* A client that connects and never finishes its handshake is closed
 * after frame_timeout_ms; one that finished and rests is not. */
static void test_tls_stalled_handshake_closed_idle_session_kept(void **state)
{
	(void)state;
	struct tls_config c;
	struct rig r;
	SSL_CTX *ctx;
	broker_config(&c, "none");
	rig_open_with(&r, &c, 200);
	tu_log_clear();
	int silent = dial(&r);
	int fd = dial(&r);
	SSL *ssl = client_new(&ctx, fd, NULL);
	assert_int_equal(client_handshake(&r, ssl), 1);
	int64_t until = kb_mono_ms() + 600;
	while (kb_mono_ms() < until)
		turn(&r);
	assert_int_equal(net_connection_count(r.srv), 1); /* the session */
	assert_logged("the handshake not finished");
	char *principal = echo(&r, ssl, 9); /* and it still works */
	assert_string_equal(principal, "User:ANONYMOUS");
	free(principal);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	close(silent);
	until_closed(&r);
	rig_close(&r);
}

/* A plaintext Kafka client on the SSL listener: one clear line, closed. */
static void test_tls_plaintext_client_refused(void **state)
{
	(void)state;
	struct tls_config c;
	struct rig r;
	broker_config(&c, "none");
	rig_open(&r, &c);
	tu_log_clear();
	int fd = dial(&r);
	/* An ApiVersions v0 request, as any Kafka client starts. */
	static const uint8_t frame[] = {0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1,
					0, 0};
	for (int i = 0; i < 100 && net_connection_count(r.srv) == 0; i++)
		turn(&r);
	assert_int_equal(send(fd, frame, sizeof frame, 0), (ssize_t)sizeof frame);
	until_closed(&r);
	assert_logged("plaintext Kafka request on an SSL listener from 127.0.0.1:");
	uint8_t b;
	assert_true(recv(fd, &b, 1, 0) <= 0); /* closed: nothing answered */
	close(fd);
	rig_close(&r);
}

/* A TLS client on a PLAINTEXT listener (chapter 05 sees 0x16 0x03). */
static void test_tls_client_hello_on_plaintext_refused(void **state)
{
	(void)state;
	struct rig r;
	SSL_CTX *ctx;
	rig_open(&r, NULL);
	tu_log_clear();
	int fd = dial(&r);
	SSL *ssl = client_new(&ctx, fd, NULL);
	assert_int_equal(client_handshake(&r, ssl), -1);
	until_closed(&r);
	assert_logged("TLS handshake on a PLAINTEXT listener from 127.0.0.1:");
	assert_not_logged("request size");
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	rig_close(&r);
}

/* ---- Peers over TLS (13_tls_peer.c) ---- */

/* What a peer's reply fn saw. */
struct peer_reply {
	int n, status;
	char principal[128];
	bool body_ok;          /* the BIG_ANSWER bytes, all as sent */
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
	pr->body_ok = wire_remaining(body) == BIG_ANSWER;
	for (size_t i = 0; pr->body_ok && i < BIG_ANSWER; i++)
		pr->body_ok = (uint8_t)wire_read_i8(body) == (uint8_t)(i * 7);
}

/* A client context from the broker's keystore and truststore_dir's CA,
 * with the host name check as given. */
static struct tls_client *client_ctx(const char *truststore_dir,
				     const char *endpoint_id)
{
	struct tls_settings s;
	struct tls_error why;
	struct tls_config c;
	char path[512];
	tls_settings_init(&s);
	cert_path(path, sizeof path, "broker.pem");
	assert_int_equal(tls_settings_set(&s, "ssl.keystore.location", path,
					  &why), KB_OK);
	snprintf(path, sizeof path, "%s/ca.pem", truststore_dir);
	assert_int_equal(tls_settings_set(&s, "ssl.truststore.location", path,
					  &why), KB_OK);
	assert_int_equal(tls_settings_set(&s, "ssl.endpoint.identification."
					  "algorithm", endpoint_id, &why), KB_OK);
	tls_settings_for(&s, "INTERNAL", &c);
	struct tls_client *tc = NULL;
	assert_int_equal(tls_client_new(&c, &tc, &why), KB_OK);
	return tc;
}

/* One call from a peer of r's own server to r's listener (an
 * inter-broker peer, through tc when not NULL), with a 64 kB body the
 * other way; turns until its fn ran. */
static void peer_call(struct rig *r, struct tls_client *tc,
		      struct peer_reply *pr)
{
	static uint8_t body[64 * 1024];
	memset(body, 0x5a, sizeof body);
	if (tc)
		net_server_set_peer_transport(r->srv, NET_LISTENER_BROKER,
					      tls_peer_transport(), tc);
	struct net_peer_config pc = {"127.0.0.1", r->port, "peer-test", 5000,
				     50, .inter_broker = true};
	struct net_peer *p = NULL;
	assert_int_equal(net_peer_open(r->srv, &pc, &p), KB_OK);
	struct net_call call = {ECHO_KEY, 0, body, sizeof body, on_peer_reply,
				pr};
	*pr = (struct peer_reply){0};
	assert_int_equal(net_peer_send(p, &call), KB_OK);
	for (int i = 0; i < MAX_TURNS && pr->n == 0; i++) {
		turn(r);
		if (tc)
			tls_client_check(tc);
	}
	assert_int_equal(pr->n, 1);
	if (pr->status == KB_OK)
		assert_true(net_peer_connected(p));
	net_peer_close(p);
	turn(r);
}

/* A peer dials an mTLS listener: the handshake runs inside the reactor
 * on both ends, the call and a 300 kB answer cross many TLS records, and
 * the listener sees the peer's keystore certificate as its principal. */
static void test_tls_peer_call_over_tls_with_principal(void **state)
{
	(void)state;
	struct tls_config c;
	struct rig r;
	struct peer_reply pr;
	broker_config(&c, "required");
	rig_open(&r, &c);
	struct tls_client *tc = client_ctx(certs, "https");
	tu_log_clear();
	peer_call(&r, tc, &pr);
	assert_int_equal(pr.status, KB_OK);
	assert_string_equal(pr.principal, "User:CN=localhost,O=samsa");
	assert_true(pr.body_ok);
	assert_logged("connected over SSL");
	rig_close(&r);
	tls_client_free(tc);
}

/* A certificate from a CA the truststore does not hold is refused: the
 * call fails KB_ERR_IO and the log says why. */
static void test_tls_peer_wrong_ca_refused(void **state)
{
	(void)state;
	struct tls_config c;
	struct rig r;
	struct peer_reply pr;
	char other[512];
	snprintf(other, sizeof other, "%s/other", certs);
	broker_config(&c, "none");
	rig_open(&r, &c);
	struct tls_client *tc = client_ctx(other, "https");
	tu_log_clear();
	peer_call(&r, tc, &pr);
	assert_int_equal(pr.status, KB_ERR_IO);
	assert_logged("handshake failed");
	assert_logged("certificate verify failed");
	until_closed(&r);
	rig_close(&r);
	tls_client_free(tc);
}

/* An mTLS listener that does not trust our CA refuses our certificate.
 * With TLS 1.3 the peer's handshake ends before the listener checked
 * it, so the refusal arrives as an alert on the first read: the call
 * still fails KB_ERR_IO, and the log names the alert. */
static void test_tls_peer_certificate_refused_by_listener(void **state)
{
	(void)state;
	struct tls_settings s;
	struct tls_error why;
	struct tls_config c;
	struct rig r;
	struct peer_reply pr;
	char path[512];
	tls_settings_init(&s);
	cert_path(path, sizeof path, "broker.pem");
	assert_int_equal(tls_settings_set(&s, "ssl.keystore.location", path,
					  &why), KB_OK);
	snprintf(path, sizeof path, "%s/other/ca.pem", certs);
	assert_int_equal(tls_settings_set(&s, "ssl.truststore.location", path,
					  &why), KB_OK);
	assert_int_equal(tls_settings_set(&s, "ssl.client.auth", "required",
					  &why), KB_OK);
	tls_settings_for(&s, "SSL", &c);
	rig_open(&r, &c);
	struct tls_client *tc = client_ctx(certs, "https");
	tu_log_clear();
	peer_call(&r, tc, &pr);
	assert_int_equal(pr.status, KB_ERR_IO);
	assert_logged("TLS handshake failed"); /* the listener's side */
	assert_logged("alert unknown ca"); /* ours, from the first read */
	until_closed(&r);
	rig_close(&r);
	tls_client_free(tc);
}

/* KAFKA: ssl.endpoint.identification.algorithm=https: a certificate
 * that names another host is refused; empty turns the check off. */
static void test_tls_peer_host_name_checked(void **state)
{
	(void)state;
	struct tls_settings s;
	struct tls_error why;
	struct tls_config c;
	struct rig r;
	struct peer_reply pr;
	char path[512];
	tls_settings_init(&s);
	cert_path(path, sizeof path, "elsewhere.pem"); /* SAN elsewhere.example */
	assert_int_equal(tls_settings_set(&s, "ssl.keystore.location", path,
					  &why), KB_OK);
	tls_settings_for(&s, "SSL", &c);
	rig_open(&r, &c);
	struct tls_client *strict = client_ctx(certs, "https");
	struct tls_client *lax = client_ctx(certs, "");
	tu_log_clear();
	peer_call(&r, strict, &pr);
	assert_int_equal(pr.status, KB_ERR_IO);
	assert_logged("certificate verify failed: IP address mismatch");
	peer_call(&r, lax, &pr);
	assert_int_equal(pr.status, KB_OK);
	assert_string_equal(pr.principal, "User:ANONYMOUS"); /* auth none */
	rig_close(&r);
	tls_client_free(strict);
	tls_client_free(lax);
}

/* Mixed protocols fail, and say so: a plaintext peer on an SSL
 * listener, a TLS peer on a PLAINTEXT one. */
static void test_tls_peer_protocol_mismatch(void **state)
{
	(void)state;
	struct tls_config c;
	struct rig r;
	struct peer_reply pr;
	broker_config(&c, "none");
	rig_open(&r, &c);
	tu_log_clear();
	peer_call(&r, NULL, &pr);
	assert_int_equal(pr.status, KB_ERR_IO);
	until_closed(&r);
	assert_logged("plaintext Kafka request on an SSL listener");
	rig_close(&r);
	rig_open(&r, NULL);
	struct tls_client *tc = client_ctx(certs, "https");
	peer_call(&r, tc, &pr);
	assert_int_equal(pr.status, KB_ERR_IO);
	assert_logged("TLS handshake on a PLAINTEXT listener");
	rig_close(&r);
	tls_client_free(tc);
}

/* Extra certificates for the peer tests: another CA's set in
 * certs/other, and elsewhere.pem, signed by ours for elsewhere.example. */
static int make_peer_certs(const char *root)
{
	char cmd[4096];
	snprintf(cmd, sizeof cmd,
		 "sh %s/tools/certs.sh %s/other >/dev/null && cd %s && "
		 "printf 'subjectAltName=DNS:elsewhere.example\n"
		 "extendedKeyUsage=serverAuth\n' > e.ext && "
		 "openssl req -newkey rsa:2048 -nodes -subj /CN=elsewhere "
		 "-keyout elsewhere.key -out e.csr 2>/dev/null && "
		 "openssl x509 -req -in e.csr -CA ca.pem -CAkey ca.key "
		 "-CAcreateserial -days 30 -extfile e.ext -out elsewhere.crt "
		 "2>/dev/null && cat elsewhere.key elsewhere.crt > elsewhere.pem",
		 root, certs, certs);
	return system(cmd);
}

int main(void)
{
	tu_log_quiet();
	kb_log_set_level(KB_LOG_DEBUG);
	const char *root = getenv("SAMSA_ROOT");
	certs = tu_tmpdir();
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "sh %s/tools/certs.sh %s >/dev/null",
		 root ? root : ".", certs);
	if (system(cmd) != 0) {
		fprintf(stderr, "13_tls_test: tools/certs.sh failed\n");
		return 1;
	}
	if (make_peer_certs(root ? root : ".") != 0) {
		fprintf(stderr, "13_tls_test: the peer certificates failed\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls_settings_defaults_and_checks),
		cmocka_unit_test(test_tls_settings_listener_override),
		cmocka_unit_test(test_tls_server_new_refuses_bad_stores),
		cmocka_unit_test(test_tls_inline_pem_and_key_mismatch),
		cmocka_unit_test(test_tls_encrypted_key_needs_its_password),
		cmocka_unit_test(test_tls_handshake_and_data_both_ways),
		cmocka_unit_test(test_tls_request_of_many_records_in_one_turn),
		cmocka_unit_test(test_tls_mutual_principal_and_refusal),
		cmocka_unit_test(test_tls_stalled_handshake_closed_idle_session_kept),
		cmocka_unit_test(test_tls_plaintext_client_refused),
		cmocka_unit_test(test_tls_client_hello_on_plaintext_refused),
		cmocka_unit_test(test_tls_peer_call_over_tls_with_principal),
		cmocka_unit_test(test_tls_peer_wrong_ca_refused),
		cmocka_unit_test(test_tls_peer_certificate_refused_by_listener),
		cmocka_unit_test(test_tls_peer_host_name_checked),
		cmocka_unit_test(test_tls_peer_protocol_mismatch),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	tu_rmrf(certs);
	return failed;
}
