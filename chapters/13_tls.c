/* SPDX-License-Identifier: MIT */
/*
 * Chapter 13 — security, part TLS: SSL listeners and mutual TLS.
 *
 * Concept: a managed Kafka is reached over networks its owner does not
 *   trust, so its listeners speak TLS: the broker proves who it is with a
 *   certificate, and (mutual TLS) the client proves who it is with its
 *   own, whose subject becomes the connection's principal. TLS is a
 *   transport under chapter 05's framing: the reactor reads and writes
 *   through struct net_transport and never learns about records.
 * Kafka: SslTransportLayer (a non-blocking SSLEngine), SslFactory and
 *   DefaultSslEngineFactory; the keys ssl.keystore.type=PEM,
 *   ssl.keystore.location, ssl.keystore.key,
 *   ssl.keystore.certificate.chain, ssl.key.password,
 *   ssl.truststore.type=PEM, ssl.truststore.location, ssl.client.auth,
 *   ssl.enabled.protocols, ssl.endpoint.identification.algorithm (used
 *   when the node dials: 13_tls_peer.c), each overridable per listener as
 *   listener.name.<name>.ssl.*; DefaultKafkaPrincipalBuilder's
 *   "User:" + RFC 2253 subject name.
 * Interface:
 *   - tls_settings_init, tls_settings_set per key, tls_settings_for a
 *     listener's keys, tls_server_new once per SSL listener (all checks
 *     happen there, before the broker listens), then a net_endpoint with
 *     tp = tls_transport() and tp_ctx = the server. Free the tls_server
 *     after the net_server.
 * Invariants:
 *   1. No application byte moves before the handshake is finished
 *      (tls_read and tls_writev run SSL_read/SSL_write only then).
 *   2. No SSL call blocks: WANT_READ/WANT_WRITE become EAGAIN and the
 *      epoll event the call waits for (tls_waits_for), which may be the
 *      other direction's.
 *   3. A write retried after WANT_WRITE passes the same bytes, at least
 *      as many (write_retry), as OpenSSL requires.
 *   4. A tls_server has a certificate and the key that matches it, and
 *      asks for client certificates iff ssl.client.auth is not none
 *      (tls_server_check).
 * States of a connection: ACCEPTED --tls_open--> HANDSHAKING
 *   --tls_handshake (SSL_accept = 1)--> ESTABLISHED --tls_close--> freed;
 *   HANDSHAKING stays through WANT_READ/WANT_WRITE; a failure there is
 *   logged once (INFO) and the reactor closes the connection.
 * Simplifications: PEM stores only (no JKS/PKCS12); ssl.enabled.protocols
 *   is taken as a range from its lowest to its highest version; no
 *   ssl.cipher.suites, no CRLs, no reloading of certificates, no kernel
 *   TLS; no close_notify. The client side, for peers, is 13_tls_peer.c.
 * See also: docs/13_tls.md, diagrams/13_tls.dot, tests/13_tls_test.c,
 *   tests/clients/test_tls.py, tools/certs.sh; read next: 13_tls_peer.c
 *   (what it shares: 13_tls_internal.h). Uses chapters 00 (base),
 *   05 (server: struct net_transport).
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "00_base.h"
#include "05_server.h"
#include "13_tls.h"
#include "13_tls_internal.h"

/* ---- Constants ---- */

/* Largest PEM file we read (a key and a long chain are a few kB). */
#define TLS_FILE_MAX (1024 * 1024)
/* OpenSSL's read buffer (read-ahead, tls_ctx_common): four records. */
#define TLS_READ_AHEAD (64 * 1024)

/* Plaintext bytes handed to one SSL_write: one TLS record's worth when
 * gathered from small pieces, at most TLS_WRITE_MAX from one piece. */
#define TLS_WRITE_CHUNK 16384
#define TLS_WRITE_MAX (256 * 1024)
/* KAFKA: a TLS record's first byte, content type handshake (22). */
#define TLS_RECORD_HANDSHAKE 0x16
/* Room for "User:" and a subject name. */
#define TLS_PRINCIPAL_MAX 1024

/* ---- Data structures ---- */

/* An SSL listener's context (KAFKA: SslFactory's SSLContext). */
struct tls_server {
	SSL_CTX *ctx;                   /* owned */
	enum tls_client_auth client_auth;
};

/* One connection's TLS state, owned by the connection through
 * net_conn_set_transport_state, freed by tls_close. */
struct tls_conn {
	SSL *ssl;              /* owned */
	bool established;      /* the handshake finished (Invariant 1) */
	bool first_byte_seen;  /* a handshake record, checked once */
	uint32_t read_waits;   /* EPOLLIN or EPOLLOUT: Invariant 2 */
	uint32_t write_waits;
	size_t write_retry;    /* bytes of a WANT_WRITE write; 0 none */
};

/* One ssl.* key: where it goes in struct tls_config, how it is checked. */
struct tls_key {
	const char *name;      /* after "ssl." */
	size_t offset, size;
	int (*check)(const char *value, struct tls_error *why);
};

static int check_pem_type(const char *value, struct tls_error *why);
static int check_client_auth(const char *value, struct tls_error *why);
static int check_protocols(const char *value, struct tls_error *why);
static int check_endpoint_id(const char *value, struct tls_error *why);
static const char *split_key(const char *key, char *name);
static struct tls_config *scope_for(struct tls_settings *s, const char *name,
				    struct tls_error *why);
static int protocol_range(const char *value, int *min, int *max);
static int ctx_setup(struct tls_server *ts, const struct tls_config *cfg,
		     struct tls_error *why);
static int load_key_and_chain(SSL_CTX *ctx, const char *key_pem,
			      const char *chain_pem, const char *password,
			      char *where);
static int load_truststore(struct tls_server *ts, const struct tls_config *cfg,
			   struct tls_error *why);
static char *pem_normalize(const char *text);
static int password_cb(char *buf, int size, int rwflag, void *u);
static int tls_open(struct net_conn *c, void *ctx);
static void tls_close(struct net_conn *c);
static ssize_t tls_read(struct net_conn *c, void *buf, size_t len);
static ssize_t tls_writev(struct net_conn *c, const struct iovec *iov, int n);
static uint32_t tls_waits_for(const struct net_conn *c, bool writing);
static bool tls_pending(const struct net_conn *c);
static int tls_handshake(struct net_conn *c, struct tls_conn *t);
static bool tls_first_byte_ok(struct net_conn *c, struct tls_conn *t);
static ssize_t tls_io_failed(struct net_conn *c, struct tls_conn *t, int rc,
			     uint32_t *waits);
static void tls_set_principal(struct net_conn *c, struct tls_conn *t);

#define KEY(name, field, check) \
	{name, offsetof(struct tls_config, field), \
	 sizeof(((struct tls_config *)0)->field), check}

/* KAFKA: the broker's ssl.* keys samsa serves (SslConfigs). */
static const struct tls_key tls_keys[] = {
	KEY("keystore.type", keystore_type, check_pem_type),
	KEY("keystore.location", keystore_location, NULL),
	KEY("keystore.key", keystore_key, NULL),
	KEY("keystore.certificate.chain", keystore_chain, NULL),
	KEY("key.password", key_password, NULL),
	KEY("truststore.type", truststore_type, check_pem_type),
	KEY("truststore.location", truststore_location, NULL),
	KEY("client.auth", client_auth, check_client_auth),
	KEY("enabled.protocols", enabled_protocols, check_protocols),
	KEY("endpoint.identification.algorithm", endpoint_identification,
	    check_endpoint_id),
};

/* The TLS transport: every byte through OpenSSL, so no sendfile. */
static const struct net_transport tls_ops = {
	.name = "SSL", .read = tls_read, .writev = tls_writev,
	.can_sendfile = false, .open = tls_open, .close = tls_close,
	.waits_for = tls_waits_for, .pending = tls_pending};

/* ---- Settings: the ssl.* keys ---- */

/* KAFKA: ssl.keystore.type JKS is Kafka's default; samsa reads PEM only,
 * so PEM is its default. ssl.enabled.protocols TLSv1.2,TLSv1.3. */
static void config_defaults(struct tls_config *c)
{
	memset(c, 0, sizeof *c);
	snprintf(c->keystore_type, sizeof c->keystore_type, "PEM");
	snprintf(c->truststore_type, sizeof c->truststore_type, "PEM");
	snprintf(c->client_auth, sizeof c->client_auth, "none");
	snprintf(c->enabled_protocols, sizeof c->enabled_protocols,
		 "TLSv1.2,TLSv1.3");
	snprintf(c->endpoint_identification, sizeof c->endpoint_identification,
		 "https");
}

void tls_settings_init(struct tls_settings *s)
{
	memset(s, 0, sizeof *s);
	config_defaults(&s->base);
}

/* Check, then store: a refused value leaves the settings as they were
 * (no override scope is made for it either). */
int tls_settings_set(struct tls_settings *s, const char *key,
		     const char *value, struct tls_error *why)
{
	char name[TLS_NAME_MAX];
	const char *rest = split_key(key, name);
	const struct tls_key *k = NULL;
	for (size_t i = 0; rest && i < KB_ARRAY_LEN(tls_keys); i++)
		if (strcmp(rest, tls_keys[i].name) == 0)
			k = &tls_keys[i];
	if (!k)
		return KB_ERR_NOTFOUND;
	if (strlen(value) >= k->size)
		return tls_refuse(why, "value is longer than %zu bytes", k->size - 1);
	if (k->check && k->check(value, why) != KB_OK)
		return KB_ERR_INVAL;
	struct tls_config *c = scope_for(s, name, why);
	if (!c)
		return KB_ERR_INVAL;
	memcpy((char *)c + k->offset, value, strlen(value) + 1);
	c->set |= 1u << (k - tls_keys);
	return KB_OK;
}

/* "ssl.X" or "listener.name.<name>.ssl.X": returns "X" and the name
 * upper-cased into name[TLS_NAME_MAX] ("" for the base); NULL when key
 * is not a TLS key. */
static const char *split_key(const char *key, char *name)
{
	static const char prefix[] = "listener.name.";
	name[0] = '\0';
	if (strncmp(key, "ssl.", 4) == 0)
		return key + 4;
	if (strncmp(key, prefix, sizeof prefix - 1) != 0)
		return NULL;
	const char *n = key + sizeof prefix - 1;
	const char *dot = strstr(n, ".ssl.");
	if (!dot || dot == n || (size_t)(dot - n) >= TLS_NAME_MAX)
		return NULL;
	for (size_t i = 0; i < (size_t)(dot - n); i++)
		name[i] = (char)toupper((unsigned char)n[i]);
	name[dot - n] = '\0';
	return dot + 5;
}

/* The base for name "", else name's override, made on first use; NULL
 * (why) past TLS_OVERRIDES_MAX listeners. */
static struct tls_config *scope_for(struct tls_settings *s, const char *name,
				    struct tls_error *why)
{
	if (!name[0])
		return &s->base;
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->names[i], name) == 0)
			return &s->per[i];
	if (s->n == TLS_OVERRIDES_MAX) {
		tls_refuse(why, "ssl overrides for more than %d listeners",
		       TLS_OVERRIDES_MAX);
		return NULL;
	}
	snprintf(s->names[s->n], TLS_NAME_MAX, "%s", name);
	s->per[s->n].set = 0; /* only what it sets overrides the base */
	return &s->per[s->n++];
}

/* KAFKA: a listener's prefixed key beats the unprefixed one. */
void tls_settings_for(const struct tls_settings *s, const char *name,
		      struct tls_config *out)
{
	*out = s->base;
	for (int i = 0; i < s->n; i++) {
		if (strcasecmp(s->names[i], name) != 0)
			continue;
		const struct tls_config *o = &s->per[i];
		for (size_t k = 0; k < KB_ARRAY_LEN(tls_keys); k++)
			if (o->set & (1u << k))
				memcpy((char *)out + tls_keys[k].offset,
				       (const char *)o + tls_keys[k].offset,
				       tls_keys[k].size);
		out->set |= o->set;
	}
}

static int check_pem_type(const char *value, struct tls_error *why)
{
	if (strcasecmp(value, "PEM") == 0)
		return KB_OK;
	return tls_refuse(why, "'%s': samsa reads PEM stores only (convert with "
		      "openssl pkcs12 -in store.p12 -nodes)", value);
}

static int check_client_auth(const char *value, struct tls_error *why)
{
	if (!strcasecmp(value, "none") || !strcasecmp(value, "requested") ||
	    !strcasecmp(value, "required"))
		return KB_OK;
	return tls_refuse(why, "'%s' is not none, requested or required", value);
}

static int check_protocols(const char *value, struct tls_error *why)
{
	int min, max;
	if (protocol_range(value, &min, &max) == KB_OK)
		return KB_OK;
	return tls_refuse(why, "'%s': list TLSv1.2 and/or TLSv1.3", value);
}

/* KAFKA: https (the certificate must name the host dialled) or empty
 * (no host name check); used when this node dials (13_tls_peer.c). */
static int check_endpoint_id(const char *value, struct tls_error *why)
{
	if (value[0] == '\0' || strcasecmp(value, "https") == 0)
		return KB_OK;
	return tls_refuse(why, "'%s' is not https or empty", value);
}

/* "TLSv1.2,TLSv1.3" into the lowest and highest version named.
 * SIMPLIFICATION: a range, as OpenSSL takes it, not a set. */
static int protocol_range(const char *value, int *min, int *max)
{
	*min = INT32_MAX;
	*max = 0;
	char buf[TLS_SHORT_MAX];
	snprintf(buf, sizeof buf, "%s", value);
	char *save = NULL;
	for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		int v = !strcmp(t, "TLSv1.2") ? TLS1_2_VERSION
			: !strcmp(t, "TLSv1.3") ? TLS1_3_VERSION : 0;
		if (!v)
			return KB_ERR_INVAL;
		*min = KB_MIN(*min, v);
		*max = KB_MAX(*max, v);
	}
	return *max ? KB_OK : KB_ERR_INVAL;
}

/* ---- Lifecycle: one context per SSL listener ---- */

/* KAFKA: SslFactory.configure validates the stores at startup; so does
 * this, and every refusal names the key and the file. */
int tls_server_new(const struct tls_config *cfg, struct tls_server **out,
		   struct tls_error *why)
{
	struct tls_server *ts = calloc(1, sizeof *ts);
	if (!ts) {
		tls_refuse(why, "no memory for a TLS context");
		return KB_ERR_NOMEM;
	}
	ts->ctx = SSL_CTX_new(TLS_server_method());
	int rc = ts->ctx ? ctx_setup(ts, cfg, why) : KB_ERR_NOMEM;
	if (rc == KB_OK)
		rc = tls_load_keystore(ts->ctx, cfg, why);
	if (rc == KB_OK)
		rc = load_truststore(ts, cfg, why);
	ERR_clear_error();
	if (rc != KB_OK) {
		tls_server_free(ts);
		return rc;
	}
	tls_server_check(ts);
	*out = ts;
	return KB_OK;
}

/* Versions and modes, for a listener's context and a peer's alike. */
int tls_ctx_common(SSL_CTX *ctx, const struct tls_config *cfg,
		   struct tls_error *why)
{
	int min, max;
	if (protocol_range(cfg->enabled_protocols, &min, &max) != KB_OK)
		return tls_refuse(why, "ssl.enabled.protocols: '%s'",
			      cfg->enabled_protocols);
	SSL_CTX_set_min_proto_version(ctx, min);
	SSL_CTX_set_max_proto_version(ctx, max);
	/* No TLS 1.2 renegotiation: a peer could make a read want a write
	 * at any time and spend our CPU (Kafka's SSLEngine refuses it too). */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
				  SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* INVARIANT 3: a retried write may come from another buffer (the
	 * bounce buffer is on the stack) and a write may be partial. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			      SSL_MODE_RELEASE_BUFFERS);
	/* Read ahead into a 64 KiB buffer: one read(2) takes several
	 * records off the socket instead of two per record (header, then
	 * body). On this machine's VM, syscalls were the price of TLS:
	 * the broker's CPU per produced GB fell by three quarters. */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_default_read_buffer_len(ctx, TLS_READ_AHEAD);
	return KB_OK;
}

/* Versions, modes and the client-certificate rule of the context. */
static int ctx_setup(struct tls_server *ts, const struct tls_config *cfg,
		     struct tls_error *why)
{
	if (tls_ctx_common(ts->ctx, cfg, why) != KB_OK)
		return KB_ERR_INVAL;
	static const unsigned char sid[] = "samsa";
	SSL_CTX_set_session_id_context(ts->ctx, sid, sizeof sid - 1);
	ts->client_auth = !strcasecmp(cfg->client_auth, "required")
				  ? TLS_CLIENT_AUTH_REQUIRED
			  : !strcasecmp(cfg->client_auth, "requested")
				  ? TLS_CLIENT_AUTH_REQUESTED
				  : TLS_CLIENT_AUTH_NONE;
	int mode = ts->client_auth == TLS_CLIENT_AUTH_NONE ? SSL_VERIFY_NONE
		   : ts->client_auth == TLS_CLIENT_AUTH_REQUESTED
			   ? SSL_VERIFY_PEER
			   : SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	SSL_CTX_set_verify(ts->ctx, mode, NULL);
	return KB_OK;
}

/* KAFKA: ssl.keystore.location (key and chain in one PEM file) or
 * ssl.keystore.key with ssl.keystore.certificate.chain (PEM text). */
int tls_load_keystore(SSL_CTX *ctx, const struct tls_config *cfg,
		      struct tls_error *why)
{
	bool file = cfg->keystore_location[0], text = cfg->keystore_key[0] ||
						      cfg->keystore_chain[0];
	if (file && text)
		return tls_refuse(why, "set ssl.keystore.location or ssl.keystore.key "
			      "with ssl.keystore.certificate.chain, not both");
	if (!file && (!cfg->keystore_key[0] || !cfg->keystore_chain[0]))
		return tls_refuse(why, "an SSL listener needs ssl.keystore.location "
			      "(a PEM file with the key and its certificate "
			      "chain) or ssl.keystore.key and "
			      "ssl.keystore.certificate.chain");
	const char *pw = cfg->key_password;
	char where[TLS_PATH_MAX + 64];
	if (!file) {
		snprintf(where, sizeof where, "ssl.keystore.key");
		if (load_key_and_chain(ctx, cfg->keystore_key, cfg->keystore_chain,
				       pw, where) == KB_OK)
			return KB_OK;
		return tls_refuse(why, "ssl.keystore.key / ssl.keystore.certificate."
			      "chain: %s", where);
	}
	char *pem = NULL;
	errno = 0; /* kb_read_file leaves the failing call's errno */
	int rc = kb_read_file(cfg->keystore_location, &pem, NULL, TLS_FILE_MAX);
	if (rc != KB_OK)
		return tls_refuse(why, "ssl.keystore.location: cannot read %s (%s)",
			      cfg->keystore_location, errno ? strerror(errno)
							    : kb_status_name(rc));
	rc = load_key_and_chain(ctx, pem, pem, pw, where);
	free(pem);
	if (rc != KB_OK)
		return tls_refuse(why, "ssl.keystore.location %s: %s",
			      cfg->keystore_location, where);
	return KB_OK;
}

/* The first certificate of chain_pem is the broker's, the rest its
 * chain; the key is key_pem's. On failure where[TLS_PATH_MAX + 64]
 * receives the reason (it is the caller's buffer). */
static int load_key_and_chain(SSL_CTX *ctx, const char *key_pem,
			      const char *chain_pem, const char *password,
			      char *where)
{
	char *chain = pem_normalize(chain_pem), *key = pem_normalize(key_pem);
	BIO *cb = chain ? BIO_new_mem_buf(chain, -1) : NULL;
	BIO *kb = key ? BIO_new_mem_buf(key, -1) : NULL;
	int rc = KB_ERR_INVAL;
	X509 *cert = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
	EVP_PKEY *pkey = kb ? PEM_read_bio_PrivateKey(kb, NULL, password_cb,
						     (void *)password) : NULL;
	if (!cert)
		snprintf(where, TLS_PATH_MAX + 64, "no PEM certificate in it");
	else if (!pkey)
		snprintf(where, TLS_PATH_MAX + 64, "no PEM private key in it, or "
			 "ssl.key.password is wrong for it");
	else if (SSL_CTX_use_certificate(ctx, cert) != 1 ||
		 SSL_CTX_use_PrivateKey(ctx, pkey) != 1 ||
		 SSL_CTX_check_private_key(ctx) != 1)
		snprintf(where, TLS_PATH_MAX + 64, "the key does not match the "
			 "certificate");
	else
		rc = KB_OK;
	for (X509 *more; rc == KB_OK &&
	     (more = PEM_read_bio_X509(cb, NULL, NULL, NULL));)
		if (SSL_CTX_add0_chain_cert(ctx, more) != 1)
			X509_free(more); /* a duplicate: the chain still works */
	X509_free(cert);
	EVP_PKEY_free(pkey);
	BIO_free(cb);
	BIO_free(kb);
	free(chain);
	free(key);
	ERR_clear_error(); /* the chain ends with "no start line" */
	return rc;
}

/* KAFKA: ssl.truststore.location, the CAs client certificates must chain
 * to; needed when ssl.client.auth asks for them. */
static int load_truststore(struct tls_server *ts, const struct tls_config *cfg,
			   struct tls_error *why)
{
	const char *path = cfg->truststore_location;
	if (!path[0]) {
		if (ts->client_auth == TLS_CLIENT_AUTH_NONE)
			return KB_OK;
		return tls_refuse(why, "ssl.client.auth=%s needs ssl.truststore."
			      "location (the CA certificates clients chain to)",
			      cfg->client_auth);
	}
	if (access(path, R_OK) != 0)
		return tls_refuse(why, "ssl.truststore.location: cannot read %s (%s)",
			      path, strerror(errno));
	STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(path);
	if (!names || SSL_CTX_load_verify_locations(ts->ctx, path, NULL) != 1) {
		char reason[256];
		tls_ssl_reason(reason, sizeof reason);
		sk_X509_NAME_pop_free(names, X509_NAME_free);
		return tls_refuse(why, "ssl.truststore.location %s: no PEM CA "
			      "certificate in it (%s)", path, reason);
	}
	SSL_CTX_set_client_CA_list(ts->ctx, names); /* takes names */
	return KB_OK;
}

void tls_server_free(struct tls_server *ts)
{
	if (!ts)
		return;
	SSL_CTX_free(ts->ctx); /* open SSL objects keep their reference */
	free(ts);
}

const struct net_transport *tls_transport(void) { return &tls_ops; }

/* ---- The transport: a connection ---- */

/* ACCEPTED -> HANDSHAKING: an SSL object on the socket, server side. */
static int tls_open(struct net_conn *c, void *ctx)
{
	struct tls_server *ts = ctx;
	struct tls_conn *t = calloc(1, sizeof *t);
	if (!t)
		return KB_ERR_NOMEM;
	t->ssl = SSL_new(ts->ctx);
	if (!t->ssl || SSL_set_fd(t->ssl, net_conn_fd(c)) != 1) {
		SSL_free(t->ssl);
		free(t);
		ERR_clear_error();
		return KB_ERR_NOMEM;
	}
	SSL_set_accept_state(t->ssl);
	t->read_waits = EPOLLIN; /* the ClientHello comes first */
	t->write_waits = EPOLLOUT;
	net_conn_set_transport_state(c, t);
	net_conn_set_handshaking(c, true); /* bounded by frame_timeout_ms */
	return KB_OK;
}

/* -> freed. No close_notify: the socket is closed right after, and a
 * client that wants one cannot make us block for it. */
static void tls_close(struct net_conn *c)
{
	struct tls_conn *t = net_conn_transport_state(c);
	if (!t)
		return;
	SSL_free(t->ssl);
	free(t);
	net_conn_set_transport_state(c, NULL);
}

/* INVARIANT 1: the handshake first; then SSL_read until the buffer is
 * full or OpenSSL wants the socket again: every record already on the
 * socket or in OpenSSL's read-ahead buffer comes out in one call, so a
 * 1 MB request costs one readiness event, not 64. */
static ssize_t tls_read(struct net_conn *c, void *buf, size_t len)
{
	struct tls_conn *t = net_conn_transport_state(c);
	if (!t->established) {
		int rc = tls_handshake(c, t);
		if (rc <= 0)
			return rc;
	}
	size_t got = 0;
	while (got < len) {
		ERR_clear_error();
		errno = 0; /* SSL_ERROR_SYSCALL reads it: no stale EAGAIN */
		int n = SSL_read(t->ssl, (uint8_t *)buf + got,
				 (int)KB_MIN(len - got, (size_t)INT32_MAX));
		if (n <= 0) {
			ssize_t rc = tls_io_failed(c, t, n, &t->read_waits);
			/* Bytes in hand first; an error or close_notify
			 * comes back on the next call (OpenSSL keeps it). */
			return got ? (ssize_t)got : rc;
		}
		got += (size_t)n;
		t->read_waits = EPOLLIN;
	}
	return (ssize_t)got;
}

/* One SSL_write: of the first iovec itself when it holds a record or
 * more (a Fetch's file range: no copy, up to TLS_WRITE_MAX, record by
 * record while the socket takes them), else of the iovecs gathered into
 * a record-sized buffer (a response's small pieces: one record, not one
 * each). INVARIANT 3: after WANT_WRITE the next call passes write_retry
 * bytes or more, the same ones: the reactor's queue only grows behind
 * them. */
static ssize_t tls_writev(struct net_conn *c, const struct iovec *iov, int n)
{
	struct tls_conn *t = net_conn_transport_state(c);
	if (!t->established) {
		t->write_waits = t->read_waits; /* nothing to say before it */
		errno = EAGAIN;
		return -1;
	}
	uint8_t chunk[TLS_WRITE_CHUNK];
	const uint8_t *from = chunk;
	size_t len = 0;
	if (n > 0 && iov[0].iov_len >= KB_MAX(t->write_retry, sizeof chunk)) {
		from = iov[0].iov_base;
		len = KB_MIN(iov[0].iov_len, TLS_WRITE_MAX);
	} else {
		for (int i = 0; i < n && len < sizeof chunk; i++) {
			size_t take = KB_MIN(iov[i].iov_len, sizeof chunk - len);
			memcpy(chunk + len, iov[i].iov_base, take);
			len += take;
		}
	}
	if (len < t->write_retry) {
		/* Only a file range cut short under us (a truncated segment)
		 * can offer fewer bytes than the write OpenSSL holds. */
		KB_WARN("closing %s: %zu bytes to resend, %zu left",
			net_conn_peer(c), t->write_retry, len);
		errno = EIO;
		return -1;
	}
	if (len == 0)
		return 0; /* nothing offered: nothing to encrypt */
	ERR_clear_error();
	errno = 0;
	int w = SSL_write(t->ssl, from, (int)len);
	if (w > 0) {
		t->write_retry = 0;
		t->write_waits = EPOLLOUT;
		return w;
	}
	ssize_t rc = tls_io_failed(c, t, w, &t->write_waits);
	if (rc < 0 && errno == EAGAIN)
		t->write_retry = len;
	return rc;
}

/* INVARIANT 2: what the last blocked call waits for. */
static uint32_t tls_waits_for(const struct net_conn *c, bool writing)
{
	const struct tls_conn *t = net_conn_transport_state(c);
	return writing ? t->write_waits : t->read_waits;
}

/* Bytes OpenSSL already took off the socket: a record that did not fit
 * the last read, or read-ahead bytes of the next ones. */
static bool tls_pending(const struct net_conn *c)
{
	const struct tls_conn *t = net_conn_transport_state(c);
	return t && t->established && SSL_has_pending(t->ssl);
}

/* ---- The handshake inside the reactor ---- */

/* HANDSHAKING -> ESTABLISHED. 1: done; -1 with errno EAGAIN: not yet
 * (read_waits says for what); 0 or -1 otherwise: close (logged once). */
static int tls_handshake(struct net_conn *c, struct tls_conn *t)
{
	if (!tls_first_byte_ok(c, t))
		return -1;
	ERR_clear_error();
	errno = 0;
	int rc = SSL_accept(t->ssl);
	if (rc == 1) {
		t->established = true;
		t->read_waits = EPOLLIN;
		t->write_waits = EPOLLOUT;
		net_conn_set_handshaking(c, false);
		tls_set_principal(c, t);
		KB_DEBUG("TLS handshake with %s done: %s %s", net_conn_peer(c),
			 SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl));
		return 1;
	}
	int err = SSL_get_error(t->ssl, rc);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		t->read_waits = err == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT;
		errno = EAGAIN;
		return -1;
	}
	char reason[256];
	if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
		snprintf(reason, sizeof reason, "%s", errno ? strerror(errno)
							    : "peer closed");
	else
		tls_ssl_reason(reason, sizeof reason);
	KB_INFO("closing %s: TLS handshake failed: %s", net_conn_peer(c),
		reason);
	errno = EPROTO;
	return -1;
}

/* A Kafka client on the SSL port sends a size prefix, 0x00 first for any
 * frame below 16 MB; a TLS client a handshake record, 0x16. Peeked, so
 * OpenSSL still reads it. false: refused (logged). */
static bool tls_first_byte_ok(struct net_conn *c, struct tls_conn *t)
{
	if (t->first_byte_seen)
		return true;
	uint8_t b;
	ssize_t n = recv(net_conn_fd(c), &b, 1, MSG_PEEK);
	if (n <= 0) {
		if (n == 0)
			errno = ECONNRESET;
		return false; /* EAGAIN: wait for it, as read_waits says */
	}
	t->first_byte_seen = true;
	if (b == TLS_RECORD_HANDSHAKE)
		return true;
	if (b == 0x00)
		KB_WARN("plaintext Kafka request on an SSL listener from %s: "
			"closed (the client needs security.protocol=SSL)",
			net_conn_peer(c));
	else
		KB_WARN("closing %s: not a TLS handshake on an SSL listener "
			"(first byte 0x%02x)", net_conn_peer(c), b);
	errno = EPROTO;
	return false;
}

/* An SSL_read/SSL_write that moved nothing: EAGAIN with the event to
 * wait for, 0 for the peer's close_notify, or -1 (errno) to close. */
static ssize_t tls_io_failed(struct net_conn *c, struct tls_conn *t, int rc,
			     uint32_t *waits)
{
	int err = SSL_get_error(t->ssl, rc);
	switch (err) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		*waits = err == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0; /* close_notify: the peer is done */
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0)
			return errno ? -1 : 0; /* EOF without close_notify */
		break;
	default:
		break;
	}
	char reason[256];
	tls_ssl_reason(reason, sizeof reason);
	KB_DEBUG("closing %s: TLS: %s", net_conn_peer(c), reason);
	errno = EPROTO;
	return -1;
}

/* KAFKA: DefaultKafkaPrincipalBuilder: "User:" + the peer certificate's
 * subject as X500Principal.getName() prints it (RFC 2253, most specific
 * first, UTF-8 unescaped); no certificate is User:ANONYMOUS. */
static void tls_set_principal(struct net_conn *c, struct tls_conn *t)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	X509 *peer = SSL_get1_peer_certificate(t->ssl);
#else
	X509 *peer = SSL_get_peer_certificate(t->ssl);
#endif
	if (!peer)
		return;
	char dn[TLS_PRINCIPAL_MAX];
	BIO *b = BIO_new(BIO_s_mem());
	int n = b ? X509_NAME_print_ex(b, X509_get_subject_name(peer), 0,
				       XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB)
		  : -1;
	int got = n >= 0 ? BIO_read(b, dn, (int)sizeof dn - 1) : -1;
	dn[got > 0 ? got : 0] = '\0';
	char principal[TLS_PRINCIPAL_MAX + 8];
	snprintf(principal, sizeof principal, "User:%s", dn);
	if (got <= 0 || got >= (int)sizeof dn - 1 ||
	    net_conn_set_principal(c, principal) != KB_OK)
		KB_WARN("%s: its certificate subject could not be kept; the "
			"connection stays User:ANONYMOUS", net_conn_peer(c));
	BIO_free(b);
	X509_free(peer);
}

/* ---- Small helpers ---- */

/* PEM text as a properties file may carry it (Kafka's PemStore accepts
 * the base64 lines joined by spaces): each -----BEGIN/END ...----- marker
 * on its own line, the base64 between them in lines of 64. returns owned
 * (free), NULL without memory. */
static char *pem_normalize(const char *text)
{
	size_t len = strlen(text);
	/* Each byte in gives at most two out (a base64 character and a line
	 * break; a marker of 5+ bytes gains two breaks), whatever the text. */
	char *out = malloc(2 * len + 1);
	if (!out)
		return NULL;
	size_t o = 0, col = 0;
	for (const char *p = text; *p;) {
		if (strncmp(p, "-----", 5) == 0) {
			const char *end = strstr(p + 5, "-----");
			size_t n = end ? (size_t)(end + 5 - p) : strlen(p);
			if (col)
				out[o++] = '\n';
			memcpy(out + o, p, n);
			o += n;
			out[o++] = '\n';
			p += n;
			col = 0;
		} else if (isspace((unsigned char)*p)) {
			p++;
		} else {
			out[o++] = *p++;
			if (++col == 64) {
				out[o++] = '\n';
				col = 0;
			}
		}
	}
	out[o] = '\0';
	return out;
}

/* OpenSSL's passphrase callback: ssl.key.password, never a terminal. */
static int password_cb(char *buf, int size, int rwflag, void *u)
{
	const char *pw = u;
	size_t n = pw ? strlen(pw) : 0;
	if (n == 0 || n >= (size_t)size)
		return 0; /* an encrypted key without its password fails */
	memcpy(buf, pw, n);
	return (int)n;
}

/* The reason of OpenSSL's first queued error, in words; the queue is emptied. */
void tls_ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();
	if (e)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "unknown TLS error");
	ERR_clear_error();
}

/* Fill why and return KB_ERR_INVAL. */
int tls_refuse(struct tls_error *why, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why->msg, sizeof why->msg, fmt, ap);
	va_end(ap);
	return KB_ERR_INVAL;
}

/* ---- Checks ---- */

/* INVARIANT 4. */
void tls_server_check(const struct tls_server *ts)
{
	assert(ts->ctx);
	assert(SSL_CTX_get0_certificate(ts->ctx) != NULL);
	int mode = SSL_CTX_get_verify_mode(ts->ctx);
	assert(!!(mode & SSL_VERIFY_PEER) ==
	       (ts->client_auth != TLS_CLIENT_AUTH_NONE));
	assert(!!(mode & SSL_VERIFY_FAIL_IF_NO_PEER_CERT) ==
	       (ts->client_auth == TLS_CLIENT_AUTH_REQUIRED));
	(void)ts;
	(void)mode;
}
