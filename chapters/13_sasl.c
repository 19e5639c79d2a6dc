/* SPDX-License-Identifier: MIT */
/*
 * Chapter 13 — security, part SASL: who is on the other end of a
 * connection, proven by a password, before it may do anything else.
 *
 * Concept:
 *   A SASL listener accepts a connection (over TLS for SASL_SSL) and
 *   serves it nothing but ApiVersions and the two SASL requests until the
 *   client proves a name: SaslHandshake picks a mechanism, SaslAuthenticate
 *   carries its tokens (PLAIN: one, the password; SCRAM: two rounds, no
 *   password on the wire). Then the connection's principal is User:<name>
 *   and chapter 12's ACLs judge it. A failed proof is answered late and
 *   ends the connection, so guessing is slow and crashes nothing else.
 * Kafka:
 *   security protocols SASL_PLAINTEXT and SASL_SSL, sasl.enabled.mechanisms
 *   (default GSSAPI; samsa serves PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) with
 *   the listener.name.<name>. prefix; SaslServerAuthenticator (states,
 *   sasl.server.max.receive.size 512 KiB, CVE-2022-34917); SaslHandshake
 *   v0-1 (17; v0: bare int32-framed tokens follow, KIP-43), SaslAuthenticate
 *   v0-2 (36, KIP-152); PlainSaslServer with PlainLoginModule's
 *   user_<name>="<password>" (listener.name.<name>.plain.sasl.jaas.config);
 *   connection.failed.authentication.delay.ms (KIP-306, 100 ms);
 *   connections.max.reauth.ms (KIP-368: re-authentication on the same
 *   connection, same mechanism, same principal).
 * Interface (13_sasl.h):
 *   - sasl_settings_set stores the keys; sasl_server_new per SASL listener
 *     (refuses what it cannot serve); the endpoint gets
 *     sasl_authenticator() with the server as auth_ctx; sasl_register once.
 *   - SCRAM users come from sasl_server_set_scram_lookup (the image).
 * States of a connection (struct sasl_conn; KAFKA: SaslState):
 *   HANDSHAKE -handle_sasl_handshake-> AUTHENTICATE -sasl_step-> COMPLETE
 *   (net_conn_set_authenticated; with connections.max.reauth.ms, also
 *   net_conn_set_session_expiry); COMPLETE -SaslHandshake v1-> REAUTH
 *   -sasl_step-> COMPLETE (a new expiry); any -sasl_fail-> FAILED
 *   (answered and closed after the delay: net_conn_close_at).
 * Invariants (sasl_server_check, sasl_conn_check):
 *   1. A connection is authenticated only in COMPLETE and REAUTH (and
 *      FAILED after a failed re-authentication), and then its principal
 *      is User:<the proven name>; a re-authentication never changes it.
 *   2. A FAILED connection reads nothing more: it waits for its delayed close.
 *   3. The mechanism of an AUTHENTICATE connection is one its listener enables.
 *   4. Secrets are compared in constant time (CRYPTO_memcmp); an unknown
 *      user runs the same steps as a wrong password and gets the same answer.
 * Simplifications:
 *   - No GSSAPI, OAUTHBEARER or delegation tokens; connections.max.reauth.ms
 *     is broker-wide (no listener.name.<n>.<mechanism>. override).
 *   - PLAIN passwords are kept as given in the config (as Kafka's
 *     PlainLoginModule does); only listener-scoped JAAS text.
 * See also: docs/13_sasl.md, diagrams/13_sasl.dot, tests/13_sasl_test.c,
 *   tests/clients/test_sasl.py; read before: 13_tls.c, 13_scram.c; read
 *   next: 13_scram_creds.c, 13_sasl_peer.c (a broker's own login:
 *   sasl_config_login). Uses chapters 00, 04, 05 (the authenticator
 *   seam), 13_scram.c and OpenSSL's libcrypto.
 */
#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "00_base.h"
#include "04_codec.h"
#include "05_server.h"
#include "13_scram.h"
#include "13_sasl.h"

/* ---- Constants ---- */

#define SASL_SET_MECHANISMS (1u << 0)
#define SASL_SET_JAAS (1u << 1)
#define SASL_MECHS 3               /* mechanisms samsa serves */
#define SASL_SECRET_BYTES 32       /* the key behind unknown users' salts */
#define SASL_DELAY_MAX_MS (3600LL * 1000)  /* a failed login's delay, at most */
#define SASL_REAUTH_MAX_MS (INT32_MAX * 1LL) /* a session, at most (~24 days) */
/* KAFKA: KafkaChannel.MIN_REAUTH_INTERVAL_ONE_SECOND_NANOS: a second
 * re-authentication within this is refused (a client cannot make the
 * broker run PBKDF2-checked exchanges back to back). */
#define SASL_REAUTH_MIN_INTERVAL_MS 1000
/* KAFKA: PlainLoginModule, the JAAS module whose options hold users. */
#define SASL_PLAIN_MODULE "org.apache.kafka.common.security.plain.PlainLoginModule"
/* KAFKA: SaslServerAuthenticator's messages for a failed login, one per
 * mechanism family: the same for a wrong user and a wrong password. */
#define SASL_PLAIN_FAILED "Authentication failed: Invalid username or password"
#define SASL_SCRAM_FAILED "Authentication failed during authentication due " \
			  "to invalid credentials with SASL mechanism "

/* ---- Data structures ---- */

/* One PLAIN user of a listener. */
struct sasl_plain_user {
	char name[SASL_PLAIN_FIELD_MAX + 1];
	uint8_t digest[32]; /* SHA-256 of the password: compared, not it */
};

/* A SASL listener's authenticator. Built once at startup; read-only
 * afterwards except the lookup, set once the image exists. */
struct sasl_server {
	unsigned mechanisms;                 /* enum sasl_mechanism bits */
	enum sasl_mechanism order[SASL_MECHS]; /* as listed, for the handshake */
	int n_order;
	struct sasl_plain_user users[SASL_PLAIN_USERS_MAX];
	int n_users;
	int64_t failed_auth_delay_ms;
	int64_t reauth_ms;                   /* 0: sessions never expire */
	sasl_scram_lookup_fn lookup;         /* NULL: no SCRAM user known */
	void *lookup_ctx;                    /* borrowed */
	uint8_t secret[SASL_SECRET_BYTES];   /* unknown users' salts */
};

/* States of a connection (KAFKA: SaslServerAuthenticator.SaslState). */
enum sasl_state {
	SASL_HANDSHAKE,    /* handle_sasl_handshake next */
	SASL_AUTHENTICATE, /* tokens (SaslAuthenticate or bare frames) */
	SASL_COMPLETE,     /* authenticated */
	SASL_REAUTH,       /* authenticated, tokens of a re-authentication */
	SASL_FAILED,       /* answered; closes after the delay; terminal */
};

/* What one token did. */
enum sasl_step_result { SASL_STEP_CONTINUE, SASL_STEP_COMPLETE, SASL_STEP_FAILED };

/* One connection's exchange. owned by the connection (net_conn_set_auth_state), freed by auth_close. */
struct sasl_conn {
	struct sasl_server *ss;     /* borrowed: the listener's */
	enum sasl_state state;
	enum sasl_mechanism mech;   /* valid from AUTHENTICATE on */
	bool raw;                   /* SaslHandshake v0: bare frames */
	bool scram_started;         /* scram is initialised */
	bool scram_fake;            /* the user is unknown: must fail */
	struct scram_server scram;  /* owned: SCRAM's exchange */
	char user[SASL_PLAIN_FIELD_MAX + 1]; /* the proven name, COMPLETE */
	char proven[SASL_PLAIN_FIELD_MAX + 1]; /* before a re-authentication */
	int64_t reauth_started_ms;  /* the last SaslHandshake of one; 0: none */
};

/* ---- Prototypes of static helpers ---- */

static int refuse(struct sasl_error *why, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int parse_ms(const char *value, long long max, int64_t *out,
		    struct sasl_error *why);
static const char *split_key(const char *key, char *name);
static struct sasl_config *scope_for(struct sasl_settings *s,
				     const char *name, struct sasl_error *why);
static int parse_jaas(struct sasl_server *ss, const char *text,
		      struct sasl_error *why);
static const char *mech_name(enum sasl_mechanism m);
static enum scram_mechanism mech_scram(enum sasl_mechanism m);
static struct sasl_conn *conn_state(struct net_conn *c, struct sasl_server *ss);
static enum sasl_step_result sasl_step(struct sasl_conn *sc, const uint8_t *tok,
				       size_t len, struct kb_buf *out);
static enum sasl_step_result plain_step(struct sasl_conn *sc,
					const uint8_t *tok, size_t len);
static enum sasl_step_result scram_step(struct sasl_conn *sc,
					const uint8_t *tok, size_t len,
					struct kb_buf *out);
static void scram_unknown_user(const struct sasl_server *ss, const char *user,
			       enum scram_mechanism mech,
			       struct scram_credential *cred);
static int sasl_complete(struct net_conn *c, struct sasl_conn *sc);
static int sasl_fail(struct net_conn *c, struct sasl_conn *sc);
static bool reauth_begin(struct net_request *req, struct sasl_conn *sc,
			 struct wire_str m, int16_t *error);
static bool reauth_changes_principal(struct sasl_conn *sc, char *msg,
				     size_t len);
static int auth_raw_frame(struct net_conn *c, const uint8_t *frame, size_t len);
static void auth_close(struct net_conn *c);
static int handle_sasl_handshake(struct net_request *req,
				 struct net_response *resp);
static int handle_sasl_authenticate(struct net_request *req,
				    struct net_response *resp);
static void sasl_conn_check(const struct net_conn *c, const struct sasl_conn *sc);

static const struct net_authenticator sasl_auth = {"SASL", auth_raw_frame,
						   auth_close};

/* ---- Settings (KAFKA: sasl.*, listener.name.<name>.*) ---- */

void sasl_settings_init(struct sasl_settings *s)
{
	memset(s, 0, sizeof *s);
	/* KAFKA: sasl.enabled.mechanisms defaults to GSSAPI (Kerberos). */
	snprintf(s->base.enabled_mechanisms, SASL_LIST_MAX, "GSSAPI");
	/* KAFKA: sasl.mechanism.inter.broker.protocol defaults to GSSAPI. */
	snprintf(s->base.inter_broker_mechanism, SASL_NAME_MAX, "GSSAPI");
	s->base.failed_auth_delay_ms = SASL_DEFAULT_FAILED_AUTH_DELAY_MS;
}

/* The broker-wide keys, and the two a listener scope takes. */
int sasl_settings_set(struct sasl_settings *s, const char *key,
		      const char *value, struct sasl_error *why)
{
	char name[SASL_NAME_MAX];
	if (strcmp(key, "connection.failed.authentication.delay.ms") == 0)
		return parse_ms(value, SASL_DELAY_MAX_MS,
				&s->base.failed_auth_delay_ms, why);
	if (strcmp(key, "connections.max.reauth.ms") == 0)
		return parse_ms(value, SASL_REAUTH_MAX_MS, &s->base.reauth_ms,
				why);
	if (strcmp(key, "sasl.mechanism.inter.broker.protocol") == 0) {
		if (strlen(value) >= SASL_NAME_MAX)
			return refuse(why, "'%s' is not a mechanism name", value);
		snprintf(s->base.inter_broker_mechanism, SASL_NAME_MAX, "%s",
			 value); /* checked where it is used (chapter 15) */
		return KB_OK;
	}
	const char *rest = split_key(key, name);
	if (!rest)
		return KB_ERR_NOTFOUND;
	bool mechs = strcmp(rest, "sasl.enabled.mechanisms") == 0;
	bool jaas = name[0] && strcmp(rest, "plain.sasl.jaas.config") == 0;
	if (!mechs && !jaas)
		return KB_ERR_NOTFOUND;
	size_t room = mechs ? SASL_LIST_MAX : SASL_JAAS_MAX;
	if (strlen(value) >= room)
		return refuse(why, "value is longer than %zu bytes", room - 1);
	struct sasl_config *c = scope_for(s, name, why);
	if (!c)
		return KB_ERR_INVAL;
	snprintf(mechs ? c->enabled_mechanisms : c->plain_jaas, room, "%s", value);
	c->set |= mechs ? SASL_SET_MECHANISMS : SASL_SET_JAAS;
	return KB_OK;
}

/* A number of milliseconds, 0..max. */
static int parse_ms(const char *value, long long max, int64_t *out,
		    struct sasl_error *why)
{
	char *end;
	long long ms = strtoll(value, &end, 10);
	if (!*value || *end || ms < 0 || ms > max)
		return refuse(why, "'%s' is not 0..%lld ms", value, max);
	*out = ms;
	return KB_OK;
}

/* "sasl.enabled.mechanisms" or "listener.name.<name>.<rest>": returns
 * rest and the name upper-cased ("" for the base); NULL otherwise. */
static const char *split_key(const char *key, char *name)
{
	static const char prefix[] = "listener.name.";
	name[0] = '\0';
	if (strncmp(key, "sasl.", 5) == 0)
		return key;
	if (strncmp(key, prefix, sizeof prefix - 1) != 0)
		return NULL;
	const char *n = key + sizeof prefix - 1;
	const char *dot = strchr(n, '.');
	if (!dot || dot == n || (size_t)(dot - n) >= SASL_NAME_MAX)
		return NULL;
	for (size_t i = 0; i < (size_t)(dot - n); i++)
		name[i] = (char)toupper((unsigned char)n[i]);
	name[dot - n] = '\0';
	return dot + 1;
}

/* The base for name "", else name's override, made on first use. */
static struct sasl_config *scope_for(struct sasl_settings *s,
				     const char *name, struct sasl_error *why)
{
	if (!name[0])
		return &s->base;
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->names[i], name) == 0)
			return &s->per[i];
	if (s->n == SASL_OVERRIDES_MAX) {
		refuse(why, "sasl overrides for more than %d listeners",
		       SASL_OVERRIDES_MAX);
		return NULL;
	}
	snprintf(s->names[s->n], SASL_NAME_MAX, "%s", name);
	memset(&s->per[s->n], 0, sizeof s->per[s->n]);
	return &s->per[s->n++];
}

void sasl_settings_for(const struct sasl_settings *s, const char *name,
		       struct sasl_config *out)
{
	*out = s->base;
	out->set = 0;
	for (int i = 0; i < s->n; i++) {
		if (strcasecmp(s->names[i], name) != 0)
			continue;
		const struct sasl_config *p = &s->per[i];
		if (p->set & SASL_SET_MECHANISMS)
			memcpy(out->enabled_mechanisms, p->enabled_mechanisms,
			       SASL_LIST_MAX);
		if (p->set & SASL_SET_JAAS)
			memcpy(out->plain_jaas, p->plain_jaas, SASL_JAAS_MAX);
		out->set = p->set;
	}
}

/* KAFKA: sasl.enabled.mechanisms is a comma list of SASL names. samsa
 * refuses a name it does not serve (Kafka would need a JAAS login for
 * GSSAPI or OAUTHBEARER), so the list says exactly what is served. */
int sasl_config_mechanisms(const struct sasl_config *cfg, unsigned *out,
			   struct sasl_error *why)
{
	static const enum sasl_mechanism all[] = {
		SASL_MECH_PLAIN, SASL_MECH_SCRAM_SHA_256, SASL_MECH_SCRAM_SHA_512};
	unsigned set = 0;
	const char *p = cfg->enabled_mechanisms;
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t len = strcspn(p, ", ");
		if (len == 0)
			break;
		unsigned bit = 0;
		for (size_t i = 0; i < KB_ARRAY_LEN(all); i++)
			if (strlen(mech_name(all[i])) == len &&
			    !strncmp(p, mech_name(all[i]), len))
				bit = all[i];
		if (!bit)
			return refuse(why, "sasl.enabled.mechanisms has %.*s, which "
				      "samsa does not serve (it serves PLAIN, "
				      "SCRAM-SHA-256, SCRAM-SHA-512)%s", (int)len,
				      p, len == 6 && !strncmp(p, "GSSAPI", 6) ?
				      "; GSSAPI is Kafka's default: set the key" : "");
		set |= bit;
		p += len;
	}
	if (!set)
		return refuse(why, "sasl.enabled.mechanisms is empty: name PLAIN, "
			      "SCRAM-SHA-256 or SCRAM-SHA-512");
	*out = set;
	return KB_OK;
}

/* ---- A listener's authenticator ---- */

int sasl_server_new(const struct sasl_config *cfg, struct sasl_server **out,
		    struct sasl_error *why)
{
	unsigned set;
	if (sasl_config_mechanisms(cfg, &set, why) != KB_OK)
		return KB_ERR_INVAL;
	struct sasl_server *ss = calloc(1, sizeof *ss);
	if (!ss)
		return refuse(why, "no memory");
	ss->mechanisms = set;
	ss->failed_auth_delay_ms = cfg->failed_auth_delay_ms;
	ss->reauth_ms = cfg->reauth_ms;
	/* The handshake lists them in Kafka's order of preference. */
	static const enum sasl_mechanism pref[] = {
		SASL_MECH_SCRAM_SHA_512, SASL_MECH_SCRAM_SHA_256, SASL_MECH_PLAIN};
	for (size_t i = 0; i < KB_ARRAY_LEN(pref); i++)
		if (set & pref[i])
			ss->order[ss->n_order++] = pref[i];
	int rc = RAND_bytes(ss->secret, sizeof ss->secret) == 1 ? KB_OK
			 : refuse(why, "RAND_bytes failed");
	if (rc == KB_OK && (set & SASL_MECH_PLAIN))
		rc = parse_jaas(ss, cfg->plain_jaas, why);
	if (rc != KB_OK) {
		sasl_server_free(ss);
		return KB_ERR_INVAL;
	}
	sasl_server_check(ss);
	*out = ss;
	return KB_OK;
}

void sasl_server_free(struct sasl_server *ss)
{
	if (!ss)
		return;
	OPENSSL_cleanse(ss, sizeof *ss);
	free(ss);
}

void sasl_server_set_scram_lookup(struct sasl_server *ss,
				  sasl_scram_lookup_fn fn, void *ctx)
{
	ss->lookup = fn;
	ss->lookup_ctx = ctx;
}

const struct net_authenticator *sasl_authenticator(void) { return &sasl_auth; }

/* One token of JAAS text: a word, '=', ';', or a "quoted" value (no
 * escapes; quoted set). len 0 at the end, -1 for an open quote. */
struct jaas_tok {
	const char *p;
	int len;
	bool quoted;
};

static struct jaas_tok jaas_next(const char **p)
{
	struct jaas_tok t = {NULL, 0, false};
	while (isspace((unsigned char)**p))
		(*p)++;
	t.p = *p;
	if (**p == '=' || **p == ';') {
		(*p)++;
		t.len = 1;
	} else if (**p == '"') {
		const char *end = strchr(*p + 1, '"');
		if (!end) {
			t.len = -1;
			return t;
		}
		t = (struct jaas_tok){*p + 1, (int)(end - *p - 1), true};
		*p = end + 1;
	} else {
		while (**p && !isspace((unsigned char)**p) && **p != '=' &&
		       **p != ';')
			(*p)++;
		t.len = (int)(*p - t.p);
	}
	return t;
}

/* True when t is the bare character ch (not inside quotes). */
static bool jaas_is(struct jaas_tok t, char ch)
{
	return !t.quoted && t.len == 1 && *t.p == ch;
}

/* One option key="value": a user_<name> becomes a user. */
static int jaas_option(struct sasl_server *ss, const char *key, int klen,
		       const char *val, int vlen, struct sasl_error *why)
{
	if (klen <= 5 || strncmp(key, "user_", 5) != 0)
		return KB_OK; /* username=, password=: the broker's own login */
	if (ss->n_users == SASL_PLAIN_USERS_MAX)
		return refuse(why, "more than %d PLAIN users", SASL_PLAIN_USERS_MAX);
	if (klen - 5 > SASL_PLAIN_FIELD_MAX || vlen > SASL_PLAIN_FIELD_MAX)
		return refuse(why, "a PLAIN user name or password over %d bytes",
			      SASL_PLAIN_FIELD_MAX);
	struct sasl_plain_user *u = &ss->users[ss->n_users++];
	snprintf(u->name, sizeof u->name, "%.*s", klen - 5, key + 5);
	unsigned int n = 0;
	if (EVP_Digest(val, (size_t)vlen, u->digest, &n, EVP_sha256(), NULL) != 1)
		return refuse(why, "SHA-256 failed");
	return KB_OK;
}

/* KAFKA: "org.apache.kafka.common.security.plain.PlainLoginModule
 * required user_alice="alice-secret" ...;" (listener.name.<name>.plain.
 * sasl.jaas.config): the users PlainServerCallbackHandler accepts. */
static int parse_jaas(struct sasl_server *ss, const char *text,
		      struct sasl_error *why)
{
	const char *p = text;
	struct jaas_tok t = jaas_next(&p);
	if (t.len != (int)strlen(SASL_PLAIN_MODULE) ||
	    strncmp(t.p, SASL_PLAIN_MODULE, (size_t)t.len))
		return refuse(why, "PLAIN needs listener.name.<name>.plain.sasl."
			      "jaas.config = %s required user_<name>=\"<password>\""
			      " ...;", SASL_PLAIN_MODULE);
	t = jaas_next(&p);
	if (t.len != 8 || strncmp(t.p, "required", 8))
		return refuse(why, "plain.sasl.jaas.config: want 'required' after "
			      "the module name");
	for (t = jaas_next(&p); t.len > 0 && !jaas_is(t, ';'); t = jaas_next(&p)) {
		struct jaas_tok eq = jaas_next(&p), val = jaas_next(&p);
		if (t.quoted || !jaas_is(eq, '=') || !val.quoted)
			return refuse(why, "plain.sasl.jaas.config: want "
				      "key=\"value\" options after 'required'");
		if (jaas_option(ss, t.p, t.len, val.p, val.len, why) != KB_OK)
			return KB_ERR_INVAL;
	}
	if (!jaas_is(t, ';'))
		return refuse(why, "plain.sasl.jaas.config: an unclosed quote, or "
			      "no ';' at the end");
	if (ss->n_users == 0)
		return refuse(why, "plain.sasl.jaas.config has no user_<name>="
			      "\"<password>\": PLAIN would accept nobody");
	return KB_OK;
}

/* KAFKA: the PlainLoginModule's own username="..." password="..." (a
 * broker's login when it dials a SASL inter-broker listener). */
int sasl_config_login(const struct sasl_config *cfg, char *user,
		      char *password, struct sasl_error *why)
{
	const char *p = cfg->plain_jaas;
	user[0] = password[0] = '\0';
	jaas_next(&p); /* the module name and 'required' */
	jaas_next(&p);
	for (struct jaas_tok t = jaas_next(&p); t.len > 0 && !jaas_is(t, ';');
	     t = jaas_next(&p)) {
		struct jaas_tok eq = jaas_next(&p), val = jaas_next(&p);
		if (t.quoted || !jaas_is(eq, '=') || !val.quoted ||
		    val.len > SASL_PLAIN_FIELD_MAX)
			break;
		char *dst = t.len == 8 && !strncmp(t.p, "username", 8) ? user
			  : t.len == 8 && !strncmp(t.p, "password", 8) ? password
			  : NULL;
		if (dst)
			snprintf(dst, SASL_PLAIN_FIELD_MAX + 1, "%.*s", val.len,
				 val.p);
	}
	if (user[0] && password[0])
		return KB_OK;
	return refuse(why, "plain.sasl.jaas.config has no username=\"...\" "
		      "password=\"...\": the broker's own login for the "
		      "inter-broker listener");
}

/* ---- The two requests ---- */

int sasl_register(struct net_server *srv)
{
	/* KAFKA: SaslHandshake v0-1, SaslAuthenticate v0-2 (CLIENTS.md). */
	static const struct net_api apis[] = {
		{WIRE_API_SASL_HANDSHAKE, 0, 1, handle_sasl_handshake, NULL},
		{WIRE_API_SASL_AUTHENTICATE, 0, 2, handle_sasl_authenticate, NULL},
	};
	int rc = KB_OK;
	for (size_t i = 0; rc == KB_OK && i < KB_ARRAY_LEN(apis); i++)
		rc = net_register(srv, &apis[i]);
	return rc;
}

/* SaslHandshakeResponse: error_code, mechanisms (the enabled ones). */
static int handshake_answer(struct net_response *resp, int16_t error,
			    const struct sasl_server *ss)
{
	wire_write_i16(&resp->w, error);
	wire_write_array_len(&resp->w, ss ? ss->n_order : 0);
	for (int i = 0; ss && i < ss->n_order; i++)
		wire_write_string(&resp->w, wire_str_c(mech_name(ss->order[i])));
	return resp->w.err;
}

/* KAFKA: SaslServerAuthenticator.handleHandshakeRequest. An enabled
 * mechanism moves to AUTHENTICATE (v0: bare tokens follow); another gets
 * UNSUPPORTED_SASL_MECHANISM with the list, then a close. */
static int handle_sasl_handshake(struct net_request *req,
				 struct net_response *resp)
{
	struct sasl_server *ss = net_request_auth_ctx(req);
	struct wire_str m = wire_read_string(&req->body);
	if (wire_reader_status(&req->body) != KB_OK)
		return KB_ERR_PROTO;
	/* KAFKA: KafkaApis answers a handshake on a non-SASL listener, or
	 * after authentication unless it begins a re-authentication, with
	 * ILLEGAL_SASL_STATE. */
	if (!ss)
		return handshake_answer(resp, KAFKA_ERR_ILLEGAL_SASL_STATE, ss);
	if (net_conn_authenticated(req->conn)) {
		int16_t error = KAFKA_ERR_ILLEGAL_SASL_STATE;
		struct sasl_conn *sc = net_conn_auth_state(req->conn);
		bool began = sc && reauth_begin(req, sc, m, &error);
		int rc = handshake_answer(resp, error, ss);
		if (rc == KB_OK && !began && error != KAFKA_ERR_ILLEGAL_SASL_STATE)
			rc = sasl_fail(req->conn, sc);
		return rc;
	}
	struct sasl_conn *sc = conn_state(req->conn, ss);
	if (!sc)
		return KB_ERR_NOMEM;
	if (sc->state != SASL_HANDSHAKE)
		return KB_ERR_PROTO; /* IllegalSaslStateException: closed */
	for (int i = 0; i < ss->n_order; i++)
		if (wire_str_eq(m, mech_name(ss->order[i]))) {
			sc->mech = ss->order[i];
			sc->state = SASL_AUTHENTICATE;
			sc->raw = req->header.api_version == 0;
			net_conn_set_raw_frames(req->conn, sc->raw);
			return handshake_answer(resp, KAFKA_ERR_NONE, ss);
		}
	KB_WARN("closing %s: SASL mechanism '%.*s' is not enabled",
		net_conn_peer(req->conn), m.len > 0 ? (int)KB_MIN(m.len, 64) : 0,
		m.len > 0 ? m.p : "");
	sc->state = SASL_FAILED;
	int rc = handshake_answer(resp, KAFKA_ERR_UNSUPPORTED_SASL_MECHANISM, ss);
	return rc ? rc : net_conn_close_at(req->conn, kb_mono_ms());
}

/* KAFKA: KafkaChannel.maybeBeginServerReauthentication and
 * ReauthInfo. A SaslHandshake v1 on an authenticated connection of a
 * listener whose sessions expire (logged in with SaslAuthenticate, not
 * v0's bare tokens), a second or more after the last one,
 * with the mechanism it logged in with: REAUTH, answered NONE. The same
 * mechanism is required (else *error UNSUPPORTED_SASL_MECHANISM: the
 * caller fails the connection); otherwise *error stays
 * ILLEGAL_SASL_STATE and nothing changes. */
static bool reauth_begin(struct net_request *req, struct sasl_conn *sc,
			 struct wire_str m, int16_t *error)
{
	int64_t now = kb_mono_ms();
	if (sc->ss->reauth_ms == 0 || sc->state != SASL_COMPLETE ||
	    req->header.api_version < 1 || sc->raw ||
	    (sc->reauth_started_ms &&
	     now - sc->reauth_started_ms < SASL_REAUTH_MIN_INTERVAL_MS))
		return false;
	if (!wire_str_eq(m, mech_name(sc->mech))) {
		KB_WARN("closing %s: re-authentication asked for another SASL "
			"mechanism than %s", net_conn_peer(req->conn),
			mech_name(sc->mech));
		*error = KAFKA_ERR_UNSUPPORTED_SASL_MECHANISM;
		return false;
	}
	if (sc->scram_started)
		scram_server_fini(&sc->scram);
	sc->scram_started = sc->scram_fake = false;
	memcpy(sc->proven, sc->user, sizeof sc->proven);
	sc->reauth_started_ms = now;
	sc->state = SASL_REAUTH;
	*error = KAFKA_ERR_NONE;
	return true;
}

/* KAFKA: ReauthInfo.ensurePrincipalUnchanged: a re-authentication that
 * proved another name fails (msg says so) and closes the connection. */
static bool reauth_changes_principal(struct sasl_conn *sc, char *msg,
				     size_t len)
{
	if (sc->state != SASL_REAUTH || strcmp(sc->user, sc->proven) == 0)
		return false;
	snprintf(msg, len, "Cannot change principals during re-authentication "
		 "from User:%s: User:%s", sc->proven, sc->user);
	KB_WARN("SASL: %s", msg);
	memcpy(sc->user, sc->proven, sizeof sc->user);
	return true;
}

/* SaslAuthenticateResponse: error, message, token, session lifetime
 * (v1+: connections.max.reauth.ms on the last token of a success, else
 * 0), tags (v2+). */
static int authenticate_answer(struct net_request *req,
			       struct net_response *resp, int16_t error,
			       const char *msg, const struct kb_buf *tok,
			       int64_t lifetime_ms)
{
	struct wire_writer *w = &resp->w;
	w->flexible = req->header.api_version >= 2;
	wire_write_i16(w, error);
	wire_write_string(w, wire_str_c(msg));
	wire_write_bytes(w, (struct wire_bytes){tok ? tok->data : NULL,
						tok ? (int32_t)tok->len : 0});
	if (req->header.api_version >= 1)
		wire_write_i64(w, lifetime_ms);
	wire_write_tags(w);
	return w->err;
}

/* KAFKA: SaslServerAuthenticator.handleSaslToken with Kafka headers
 * (after SaslHandshake v1). */
static int handle_sasl_authenticate(struct net_request *req,
				    struct net_response *resp)
{
	struct sasl_server *ss = net_request_auth_ctx(req);
	req->body.flexible = req->header.api_version >= 2;
	struct wire_bytes b = wire_read_bytes(&req->body);
	wire_read_tags(&req->body);
	if (wire_reader_status(&req->body) != KB_OK || b.len < 0)
		return KB_ERR_PROTO;
	struct sasl_conn *sc = net_conn_auth_state(req->conn);
	bool reauth = sc && sc->state == SASL_REAUTH;
	if (!ss || (net_conn_authenticated(req->conn) && !reauth))
		return authenticate_answer(req, resp, KAFKA_ERR_ILLEGAL_SASL_STATE,
					   "SaslAuthenticate outside a SASL "
					   "handshake", NULL, 0);
	if (!sc || (sc->state != SASL_AUTHENTICATE && !reauth) || sc->raw)
		return KB_ERR_PROTO; /* IllegalSaslStateException: closed */
	struct kb_buf tok;
	kb_buf_init(&tok);
	enum sasl_step_result r = sasl_step(sc, b.p, (size_t)b.len, &tok);
	char msg[SASL_PLAIN_FIELD_MAX * 2 + 96];
	if (r == SASL_STEP_COMPLETE &&
	    reauth_changes_principal(sc, msg, sizeof msg))
		r = SASL_STEP_FAILED;
	else if (r == SASL_STEP_FAILED)
		snprintf(msg, sizeof msg, "%s%s", sc->mech == SASL_MECH_PLAIN ?
			 SASL_PLAIN_FAILED : SASL_SCRAM_FAILED,
			 sc->mech == SASL_MECH_PLAIN ? "" : mech_name(sc->mech));
	int rc;
	if (r == SASL_STEP_FAILED) {
		rc = authenticate_answer(req, resp,
					 KAFKA_ERR_SASL_AUTHENTICATION_FAILED,
					 msg, NULL, 0);
		rc = rc ? rc : sasl_fail(req->conn, sc);
	} else {
		bool done = r == SASL_STEP_COMPLETE;
		rc = authenticate_answer(req, resp, KAFKA_ERR_NONE, NULL, &tok,
					 done ? ss->reauth_ms : 0);
		if (rc == KB_OK && done)
			rc = sasl_complete(req->conn, sc);
	}
	kb_buf_fini(&tok);
	sasl_conn_check(req->conn, sc);
	return rc;
}

/* KAFKA: a bare token after SaslHandshake v0: answered with a bare frame
 * (PLAIN's success is an empty one); a failure only closes, late. */
static int auth_raw_frame(struct net_conn *c, const uint8_t *frame, size_t len)
{
	struct sasl_conn *sc = net_conn_auth_state(c);
	if (!sc || sc->state != SASL_AUTHENTICATE)
		return KB_ERR_PROTO;
	struct kb_buf tok;
	kb_buf_init(&tok);
	enum sasl_step_result r = sasl_step(sc, frame, len, &tok);
	int rc;
	if (r == SASL_STEP_FAILED) {
		rc = sasl_fail(c, sc);
	} else {
		rc = net_conn_send_frame(c, tok.data, tok.len);
		if (rc == KB_OK && r == SASL_STEP_COMPLETE)
			rc = sasl_complete(c, sc);
	}
	kb_buf_fini(&tok);
	sasl_conn_check(c, sc);
	return rc;
}

/* ---- The mechanisms ---- */

/* One client token through the connection's mechanism; out gets the
 * server's token. Logs the cause of a failure (not to the client). */
static enum sasl_step_result sasl_step(struct sasl_conn *sc, const uint8_t *tok,
				       size_t len, struct kb_buf *out)
{
	if (sc->mech == SASL_MECH_PLAIN)
		return plain_step(sc, tok, len);
	return scram_step(sc, tok, len, out);
}

/* RFC 4616: [authzid] NUL authcid NUL passwd. KAFKA: PlainSaslServer
 * refuses an authzid other than the user; the password is checked by
 * digest in constant time, against a dummy for an unknown user. */
static enum sasl_step_result plain_step(struct sasl_conn *sc,
					const uint8_t *tok, size_t len)
{
	const uint8_t *nul1 = memchr(tok, 0, len);
	const uint8_t *nul2 = nul1 ? memchr(nul1 + 1, 0, len - (size_t)(nul1 + 1 - tok)) : NULL;
	if (!nul2) {
		KB_WARN("SASL/PLAIN: malformed token (%zu bytes)", len);
		return SASL_STEP_FAILED;
	}
	size_t zlen = (size_t)(nul1 - tok), ulen = (size_t)(nul2 - nul1 - 1);
	size_t plen = len - (size_t)(nul2 + 1 - tok);
	if (ulen == 0 || ulen > SASL_PLAIN_FIELD_MAX || plen > SASL_PLAIN_FIELD_MAX ||
	    (zlen && (zlen != ulen || memcmp(tok, nul1 + 1, ulen)))) {
		KB_WARN("SASL/PLAIN: empty or long name, or an authorization id "
			"other than the user");
		return SASL_STEP_FAILED;
	}
	char user[SASL_PLAIN_FIELD_MAX + 1];
	memcpy(user, nul1 + 1, ulen);
	user[ulen] = '\0';
	const struct sasl_plain_user *u = NULL;
	for (int i = 0; i < sc->ss->n_users; i++)
		if (strcmp(sc->ss->users[i].name, user) == 0)
			u = &sc->ss->users[i];
	uint8_t d[32], dummy[32] = {0};
	unsigned int n = 0;
	if (EVP_Digest(nul2 + 1, plen, d, &n, EVP_sha256(), NULL) != 1)
		return SASL_STEP_FAILED;
	/* INVARIANT 4: the same compare whether or not the user exists. */
	bool same = CRYPTO_memcmp(d, u ? u->digest : dummy, sizeof d) == 0;
	OPENSSL_cleanse(d, sizeof d);
	if (!u || !same) {
		KB_INFO("SASL/PLAIN: authentication of '%s' failed", user);
		return SASL_STEP_FAILED;
	}
	snprintf(sc->user, sizeof sc->user, "%s", user);
	return SASL_STEP_COMPLETE;
}

/* KAFKA: ScramSaslServer. The first token looks the user up (an unknown
 * one gets a made-up credential, so the exchange runs on and fails at
 * the proof like a wrong password: INVARIANT 4); the second checks the
 * proof. A nonce or proof that does not match fails the connection. */
static enum sasl_step_result scram_step(struct sasl_conn *sc,
					const uint8_t *tok, size_t len,
					struct kb_buf *out)
{
	enum scram_mechanism mech = mech_scram(sc->mech);
	const char *msg = (const char *)tok;
	if (!sc->scram_started) {
		if (scram_server_init(&sc->scram, mech) != KB_OK)
			return SASL_STEP_FAILED;
		sc->scram_started = true;
		if (scram_server_client_first(&sc->scram, msg, len) != KB_OK) {
			KB_WARN("SASL/%s: client-first refused: %s", mech_name(sc->mech),
				scram_error_name(sc->scram.error));
			return SASL_STEP_FAILED;
		}
		const char *user = scram_server_username(&sc->scram);
		struct scram_credential cred;
		if (!sc->ss->lookup ||
		    sc->ss->lookup(sc->ss->lookup_ctx, user, mech, &cred) != KB_OK) {
			scram_unknown_user(sc->ss, user, mech, &cred);
			sc->scram_fake = true;
		}
		int rc = scram_server_first(&sc->scram, &cred, out);
		OPENSSL_cleanse(&cred, sizeof cred);
		return rc == KB_OK ? SASL_STEP_CONTINUE : SASL_STEP_FAILED;
	}
	int rc = scram_server_final(&sc->scram, msg, len, out);
	if (rc != KB_OK || sc->scram_fake) {
		KB_INFO("SASL/%s: authentication of '%s' failed: %s",
			mech_name(sc->mech), sc->scram.username ? sc->scram.username : "",
			sc->scram_fake ? "unknown user" : scram_error_name(sc->scram.error));
		return SASL_STEP_FAILED;
	}
	snprintf(sc->user, sizeof sc->user, "%s", sc->scram.username);
	return SASL_STEP_COMPLETE;
}

/* A credential no password matches, with a salt that is the same every
 * time for this name (HMAC of the listener's secret), so probing twice
 * cannot tell an unknown user from a known one. */
static void scram_unknown_user(const struct sasl_server *ss, const char *user,
			       enum scram_mechanism mech,
			       struct scram_credential *cred)
{
	uint8_t salt[32];
	unsigned int n = 0;
	memset(cred, 0, sizeof *cred);
	snprintf(cred->name, sizeof cred->name, "%s", user);
	cred->mechanism = mech;
	cred->iterations = SCRAM_MIN_ITERATIONS;
	HMAC(EVP_sha256(), ss->secret, sizeof ss->secret,
	     (const uint8_t *)user, strlen(user), salt, &n);
	(void)scram_credential_set_salt(cred, salt, sizeof salt);
	(void)RAND_bytes(cred->stored_key, SCRAM_MAX_KEY);
	(void)RAND_bytes(cred->server_key, SCRAM_MAX_KEY);
}

/* INVARIANT 1: COMPLETE, principal User:<name>, then every API; with
 * connections.max.reauth.ms, until the session expires (KAFKA: from the
 * end of this authentication or re-authentication). */
static int sasl_complete(struct net_conn *c, struct sasl_conn *sc)
{
	char principal[SASL_PLAIN_FIELD_MAX + 8];
	snprintf(principal, sizeof principal, "User:%s", sc->user);
	int rc = net_conn_set_principal(c, principal);
	if (rc != KB_OK)
		return rc;
	bool again = sc->state == SASL_REAUTH;
	sc->state = SASL_COMPLETE;
	net_conn_set_authenticated(c);
	if (sc->ss->reauth_ms)
		net_conn_set_session_expiry(c, kb_mono_ms() + sc->ss->reauth_ms);
	KB_DEBUG("%s %s as %s (SASL/%s)", net_conn_peer(c),
		 again ? "re-authenticated" : "authenticated", principal,
		 mech_name(sc->mech));
	return KB_OK;
}

/* INVARIANT 2. KAFKA: connection.failed.authentication.delay.ms: the
 * answer (if any) and the close wait on a timer; nothing sleeps. */
static int sasl_fail(struct net_conn *c, struct sasl_conn *sc)
{
	sc->state = SASL_FAILED;
	net_conn_set_raw_frames(c, false);
	return net_conn_close_at(c, kb_mono_ms() + sc->ss->failed_auth_delay_ms);
}

/* ---- Small helpers ---- */

/* The connection's exchange, made at its first SASL request. */
static struct sasl_conn *conn_state(struct net_conn *c, struct sasl_server *ss)
{
	struct sasl_conn *sc = net_conn_auth_state(c);
	if (sc)
		return sc;
	if (!(sc = calloc(1, sizeof *sc)))
		return NULL;
	sc->ss = ss;
	sc->state = SASL_HANDSHAKE;
	net_conn_set_auth_state(c, sc);
	return sc;
}

/* The connection closes: wipe and free its exchange. */
static void auth_close(struct net_conn *c)
{
	struct sasl_conn *sc = net_conn_auth_state(c);
	if (!sc)
		return;
	if (sc->scram_started)
		scram_server_fini(&sc->scram);
	OPENSSL_cleanse(sc, sizeof *sc);
	free(sc);
	net_conn_set_auth_state(c, NULL);
}

static const char *mech_name(enum sasl_mechanism m)
{
	return m == SASL_MECH_PLAIN ? "PLAIN"
	       : m == SASL_MECH_SCRAM_SHA_256 ? "SCRAM-SHA-256" : "SCRAM-SHA-512";
}

static enum scram_mechanism mech_scram(enum sasl_mechanism m)
{
	return m == SASL_MECH_SCRAM_SHA_256 ? SCRAM_SHA_256 : SCRAM_SHA_512;
}

static int refuse(struct sasl_error *why, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why->msg, sizeof why->msg, fmt, ap);
	va_end(ap);
	return KB_ERR_INVAL;
}

/* ---- Checks ---- */

void sasl_server_check(const struct sasl_server *ss)
{
	assert(ss->mechanisms != 0 && ss->n_order >= 1 && ss->n_order <= SASL_MECHS);
	for (int i = 0; i < ss->n_order; i++)
		assert(ss->mechanisms & ss->order[i]);
	/* PLAIN is enabled only with users to check against. */
	assert(!(ss->mechanisms & SASL_MECH_PLAIN) || ss->n_users > 0);
	assert(ss->n_users >= 0 && ss->n_users <= SASL_PLAIN_USERS_MAX);
	assert(ss->failed_auth_delay_ms >= 0);
	assert(ss->reauth_ms >= 0 && ss->reauth_ms <= SASL_REAUTH_MAX_MS);
}

/* The numbered invariants on one connection's exchange. */
static void sasl_conn_check(const struct net_conn *c, const struct sasl_conn *sc)
{
	/* INVARIANT 1 */
	bool in = sc->state == SASL_COMPLETE || sc->state == SASL_REAUTH;
	assert(!in || net_conn_authenticated(c));
	assert(in || sc->state == SASL_FAILED || !net_conn_authenticated(c));
	assert(!in || sc->user[0]);
	assert(sc->state != SASL_REAUTH ||
	       (sc->ss->reauth_ms && strcmp(sc->user, sc->proven) == 0));
	/* INVARIANT 3 */
	assert(sc->state == SASL_HANDSHAKE || sc->state == SASL_FAILED ||
	       (sc->ss->mechanisms & sc->mech));
	if (sc->scram_started)
		scram_check(&sc->scram);
	(void)c;
}
