/* SPDX-License-Identifier: MIT */
/*
 * Chapter 13 — security, part SCRAM: a password check that never sends the
 * password and never stores it.
 *
 * Concept:
 *   The broker keeps, per user, a salt, an iteration count and two keys
 *   derived from the password. A client proves it knows the password by
 *   signing the whole exchange with a key only the password yields; the
 *   broker checks the proof with what it stored, then signs the exchange
 *   itself so the client knows it talked to a server that has the keys.
 *   Three messages: client-first, server-first (nonce, salt, iterations),
 *   client-final (proof), and the server-final answer (signature or error).
 * Kafka:
 *   SASL mechanisms SCRAM-SHA-256 and SCRAM-SHA-512 (KIP-84): ScramSaslServer,
 *   ScramSaslClient, ScramFormatter, ScramMessages; credentials are
 *   UserScramCredentialRecord (KIP-554), iterations 4096..16384.
 * Interface (13_scram.h):
 *   - scram_credential_init + _derive make a credential from a password.
 *   - Server: scram_server_init, _client_first, look the user up, _first,
 *     _final; after any KB_ERR_* the exchange is over (close the session).
 *     scram_server_fini always. The client side is 13_scram_client.c.
 *   - Every input is bounded (SCRAM_MAX_MESSAGE, _NONCE, _NAME, _SALT).
 * States (struct scram_server; any step may also go to SCRAM_FAILED):
 *   RECEIVE_CLIENT_FIRST -scram_server_client_first-> LOOKUP_CREDENTIAL
 *   -scram_server_first-> RECEIVE_CLIENT_FINAL -scram_server_final->
 *   COMPLETE, only when H(proof XOR ClientSignature) equals stored_key.
 * Invariants:
 *   1. error is SCRAM_ERR_NONE exactly when state is not SCRAM_FAILED.
 *   2. Past RECEIVE_CLIENT_FIRST (and not FAILED): username is 1..255
 *      bytes, client_first_bare at most SCRAM_MAX_MESSAGE bytes, nonce
 *      printable without ',', its first client_nonce_len (1..256)
 *      characters the client's.
 *   3. Past LOOKUP_CREDENTIAL (and not FAILED): server_first is set, nonce
 *      is longer than client_nonce_len, and cred is valid, for this
 *      mechanism and this username.
 * Simplifications:
 *   - No channel binding ("n" only), no extensions, no delegation tokens
 *     (Kafka's "tokenauth"), no SASLprep (Kafka sends UTF-8 as is too).
 * See also: docs/13_scram.md, diagrams/13_scram.dot, tests/13_scram_test.c;
 *   read next: 13_scram_client.c (which uses the "Message helpers").
 *   Uses chapter 00 (base) and OpenSSL's libcrypto.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "00_base.h"
#include "13_scram.h"
#include "13_scram_internal.h"

/* ---- Prototypes of static helpers ---- */

static const EVP_MD *scram_md(enum scram_mechanism mech);
static int scram_unescape(const char *s, size_t len, char *out);

/* ---- Mechanisms ---- */

/* Output bytes of the mechanism's hash: every key and signature is this long. */
size_t scram_key_len(enum scram_mechanism mech)
{
	return mech == SCRAM_SHA_256 ? 32 : mech == SCRAM_SHA_512 ? 64 : 0;
}

/* KAFKA: ScramMechanism.mechanismName, as in sasl.enabled.mechanisms. */
const char *scram_mechanism_name(enum scram_mechanism mech)
{
	return mech == SCRAM_SHA_256 ? "SCRAM-SHA-256"
	       : mech == SCRAM_SHA_512 ? "SCRAM-SHA-512" : NULL;
}

/* The mechanism a SASL mechanism name stands for (exact, case matters). */
int scram_mechanism_parse(const char *name, enum scram_mechanism *out)
{
	for (int m = SCRAM_SHA_256; m <= SCRAM_SHA_512; m++) {
		if (!strcmp(name, scram_mechanism_name(m))) {
			*out = (enum scram_mechanism)m;
			return KB_OK;
		}
	}
	return KB_ERR_NOTFOUND;
}

/* RFC 5802 §7 server-error-value for each cause. */
const char *scram_error_name(enum scram_error err)
{
	static const char *const names[] = {
		[SCRAM_ERR_NONE] = "none",
		[SCRAM_ERR_INVALID_ENCODING] = "invalid-encoding",
		[SCRAM_ERR_EXTENSIONS] = "extensions-not-supported",
		[SCRAM_ERR_INVALID_PROOF] = "invalid-proof",
		[SCRAM_ERR_CHANNEL_BINDING] = "channel-binding-not-supported",
		[SCRAM_ERR_BINDINGS_DONT_MATCH] = "channel-bindings-dont-match",
		[SCRAM_ERR_UNKNOWN_USER] = "unknown-user",
		[SCRAM_ERR_INVALID_USERNAME] = "invalid-username-encoding",
		[SCRAM_ERR_AUTHZID] = "other-error",
		[SCRAM_ERR_NONCE] = "invalid-encoding",
		[SCRAM_ERR_STATE] = "other-error",
		[SCRAM_ERR_SERVER_SIGNATURE] = "invalid-proof",
		[SCRAM_ERR_OTHER] = "other-error",
	};
	if ((size_t)err >= KB_ARRAY_LEN(names) || !names[err])
		return "other-error";
	return names[err];
}

/* ---- Credentials ---- */

/* KAFKA: ScramFormatter.generateCredential draws a random salt. */
int scram_credential_init(struct scram_credential *cred, const char *name,
			  enum scram_mechanism mech, int32_t iterations)
{
	memset(cred, 0, sizeof *cred);
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > SCRAM_MAX_NAME || !scram_key_len(mech) ||
	    iterations < SCRAM_MIN_ITERATIONS || iterations > SCRAM_MAX_ITERATIONS)
		return KB_ERR_INVAL;
	memcpy(cred->name, name, n + 1);
	cred->mechanism = mech;
	cred->iterations = iterations;
	cred->salt_len = SCRAM_SALT_BYTES;
	if (RAND_bytes(cred->salt, SCRAM_SALT_BYTES) != 1) {
		KB_ERROR("scram: RAND_bytes failed for a salt");
		return KB_ERR_NOMEM;
	}
	return KB_OK;
}

/* A salt chosen elsewhere: an admin's (AlterUserScramCredentials carries
 * one) or a test vector. borrows: salt. */
int scram_credential_set_salt(struct scram_credential *cred,
			      const uint8_t *salt, size_t len)
{
	if (len == 0 || len > SCRAM_MAX_SALT)
		return KB_ERR_INVAL;
	memcpy(cred->salt, salt, len);
	cred->salt_len = len;
	return KB_OK;
}

/* SaltedPassword := PBKDF2-HMAC-H(password, salt, i), then the keys.
 * KAFKA: ScramFormatter.saltedPassword, storedKey, serverKey. */
int scram_credential_derive(struct scram_credential *cred,
			    const char *password, size_t password_len)
{
	size_t klen = scram_key_len(cred->mechanism);
	uint8_t salted[SCRAM_MAX_KEY], client_key[SCRAM_MAX_KEY];
	if (!klen || password_len > SCRAM_MAX_MESSAGE || cred->salt_len == 0 ||
	    cred->salt_len > SCRAM_MAX_SALT ||
	    cred->iterations < SCRAM_MIN_ITERATIONS ||
	    cred->iterations > SCRAM_MAX_ITERATIONS)
		return KB_ERR_INVAL;
	int rc = scram_salt_password(cred, password, password_len, salted);
	if (rc == KB_OK)
		rc = scram_keys(cred->mechanism, salted, client_key,
				cred->stored_key, cred->server_key);
	OPENSSL_cleanse(salted, sizeof salted);
	OPENSSL_cleanse(client_key, sizeof client_key);
	return rc;
}

/* Bounds of every field: a record from the metadata log is input too. */
int scram_credential_validate(const struct scram_credential *cred)
{
	size_t n = strnlen(cred->name, sizeof cred->name);
	if (n == 0 || n > SCRAM_MAX_NAME || !scram_key_len(cred->mechanism) ||
	    cred->salt_len == 0 || cred->salt_len > SCRAM_MAX_SALT ||
	    cred->iterations < SCRAM_MIN_ITERATIONS ||
	    cred->iterations > SCRAM_MAX_ITERATIONS)
		return KB_ERR_INVAL;
	return KB_OK;
}

/* ---- Server side ---- */

/* An empty exchange waiting for client-first; nothing allocated yet. */
int scram_server_init(struct scram_server *s, enum scram_mechanism mech)
{
	memset(s, 0, sizeof *s);
	if (!scram_key_len(mech))
		return KB_ERR_INVAL;
	s->mechanism = mech;
	s->state = SCRAM_RECEIVE_CLIENT_FIRST;
	return KB_OK;
}

/* Fix the server nonce (RFC test vectors); only before client-first. */
int scram_server_set_nonce(struct scram_server *s, const char *nonce)
{
	size_t n = strlen(nonce);
	if (s->state != SCRAM_RECEIVE_CLIENT_FIRST ||
	    !scram_nonce_ok(nonce, n, SCRAM_MAX_SERVER_NONCE))
		return KB_ERR_INVAL;
	free(s->fixed_nonce);
	s->fixed_nonce = scram_strndup(nonce, n);
	return s->fixed_nonce ? KB_OK : KB_ERR_NOMEM;
}

/* The exchange ends: FAILED is terminal and remembers the first cause. */
static int scram_server_fail(struct scram_server *s, enum scram_error err,
			     int status)
{
	if (s->state != SCRAM_FAILED)
		s->error = err;
	s->state = SCRAM_FAILED;
	return status;
}

/* gs2-header = gs2-cbind-flag "," [ authzid ] ","; sets *bare_at.
 * KAFKA: ScramMessages.ClientFirstMessage accepts the flag "n" only. */
static enum scram_error scram_parse_gs2(const char *msg, size_t len,
					char *authzid, size_t *bare_at)
{
	if (len >= 1 && (msg[0] == 'y' || msg[0] == 'p'))
		return SCRAM_ERR_CHANNEL_BINDING;
	if (len < 3 || msg[0] != 'n' || msg[1] != ',')
		return SCRAM_ERR_INVALID_ENCODING;
	const char *end = memchr(msg + 2, ',', len - 2);
	if (!end)
		return SCRAM_ERR_INVALID_ENCODING;
	size_t alen = (size_t)(end - (msg + 2));
	authzid[0] = '\0';
	if (alen > 0) {
		if (alen < 3 || msg[2] != 'a' || msg[3] != '=')
			return SCRAM_ERR_INVALID_ENCODING;
		if (scram_unescape(msg + 4, alen - 2, authzid) != KB_OK)
			return SCRAM_ERR_INVALID_USERNAME;
	}
	*bare_at = (size_t)(end - msg) + 1;
	return SCRAM_ERR_NONE;
}

/* client-first-message-bare = username "," nonce; no m=, no extensions. */
static enum scram_error scram_parse_bare(const char *bare, size_t len,
					 char *user, struct scram_attr *nonce)
{
	struct scram_attr a[SCRAM_MAX_ATTRS];
	size_t n;
	/* Read n= and r= only: what follows a second ',' is an extension,
	 * whatever its form (Kafka's own is "tokenauth=true"). */
	const char *c1 = memchr(bare, ',', len);
	const char *c2 = c1 ? memchr(c1 + 1, ',', len - (size_t)(c1 + 1 - bare)) : NULL;
	if (len >= 2 && bare[0] == 'm' && bare[1] == '=')
		return SCRAM_ERR_EXTENSIONS;
	if (scram_split(bare, c2 ? (size_t)(c2 - bare) : len, a, &n) != KB_OK ||
	    n != 2 || a[0].name != 'n' || a[1].name != 'r')
		return SCRAM_ERR_INVALID_ENCODING;
	if (c2)
		return SCRAM_ERR_EXTENSIONS; /* KAFKA: "Unsupported extensions" */
	if (scram_unescape(a[0].val, a[0].len, user) != KB_OK)
		return SCRAM_ERR_INVALID_USERNAME;
	if (!scram_nonce_ok(a[1].val, a[1].len, SCRAM_MAX_NONCE))
		return SCRAM_ERR_INVALID_ENCODING;
	*nonce = a[1];
	return SCRAM_ERR_NONE;
}

/* RECEIVE_CLIENT_FIRST -> LOOKUP_CREDENTIAL.
 * KAFKA: ScramSaslServer.evaluateResponse, RECEIVE_CLIENT_FIRST_MESSAGE. */
int scram_server_client_first(struct scram_server *s, const char *msg,
			      size_t len)
{
	char authzid[SCRAM_MAX_NAME + 1], user[SCRAM_MAX_NAME + 1];
	struct scram_attr nonce;
	size_t bare_at;
	if (s->state != SCRAM_RECEIVE_CLIENT_FIRST)
		return scram_server_fail(s, SCRAM_ERR_STATE, KB_ERR_INVAL);
	if (len == 0 || len > SCRAM_MAX_MESSAGE || !scram_printable(msg, len))
		return scram_server_fail(s, SCRAM_ERR_INVALID_ENCODING, KB_ERR_PROTO);
	enum scram_error err = scram_parse_gs2(msg, len, authzid, &bare_at);
	if (err == SCRAM_ERR_NONE)
		err = scram_parse_bare(msg + bare_at, len - bare_at, user, &nonce);
	/* KAFKA: "Authentication failed: Client requested an authorization
	 * id that is different from username". */
	if (err == SCRAM_ERR_NONE && authzid[0] && strcmp(authzid, user))
		err = SCRAM_ERR_AUTHZID;
	if (err != SCRAM_ERR_NONE)
		return scram_server_fail(s, err, KB_ERR_PROTO);
	s->username = scram_strndup(user, strlen(user));
	s->gs2_header = scram_strndup(msg, bare_at);
	s->client_first_bare = scram_strndup(msg + bare_at, len - bare_at);
	s->nonce = scram_strndup(nonce.val, nonce.len);
	s->client_nonce_len = nonce.len;
	if (!s->username || !s->gs2_header || !s->client_first_bare || !s->nonce)
		return scram_server_fail(s, SCRAM_ERR_OTHER, KB_ERR_NOMEM);
	s->state = SCRAM_LOOKUP_CREDENTIAL;
	return KB_OK;
}

/* valid until scram_server_fini: the user client-first named, unescaped. */
const char *scram_server_username(const struct scram_server *s)
{
	return s->username;
}

/* server-first-message = "r=" c-nonce s-nonce ",s=" salt ",i=" count. */
static int scram_server_first_message(struct scram_server *s, struct kb_buf *b)
{
	char snonce[SCRAM_MAX_SERVER_NONCE + 1], iter[16];
	if (s->fixed_nonce)
		snprintf(snonce, sizeof snonce, "%s", s->fixed_nonce);
	else if (scram_random_nonce(snonce) != KB_OK)
		return KB_ERR_NOMEM;
	snprintf(iter, sizeof iter, "%d", (int)s->cred.iterations);
	struct kb_buf nonce;
	kb_buf_init(&nonce);
	int rc = kb_buf_append(&nonce, s->nonce, s->client_nonce_len);
	if (!rc)
		rc = scram_put(&nonce, snonce);
	char *full = rc ? NULL : scram_copy_cstr(&nonce);
	kb_buf_fini(&nonce);
	if (!full)
		return KB_ERR_NOMEM;
	free(s->nonce);
	s->nonce = full;
	rc = scram_put(b, "r=");
	rc = rc ? rc : scram_put(b, s->nonce);
	rc = rc ? rc : scram_put(b, ",s=");
	rc = rc ? rc : scram_b64_put(b, s->cred.salt, s->cred.salt_len);
	rc = rc ? rc : scram_put(b, ",i=");
	return rc ? rc : scram_put(b, iter);
}

/* LOOKUP_CREDENTIAL -> RECEIVE_CLIENT_FINAL. cred is copied.
 * KAFKA: the credential callback, then ServerFirstMessage. */
int scram_server_first(struct scram_server *s, const struct scram_credential *cred,
		       struct kb_buf *out)
{
	if (s->state != SCRAM_LOOKUP_CREDENTIAL)
		return scram_server_fail(s, SCRAM_ERR_STATE, KB_ERR_INVAL);
	/* KAFKA: no credential is "Authentication failed: Invalid user
	 * credentials", ended here as Kafka does. */
	if (!cred)
		return scram_server_fail(s, SCRAM_ERR_UNKNOWN_USER, KB_ERR_NOTFOUND);
	if (scram_credential_validate(cred) != KB_OK ||
	    cred->mechanism != s->mechanism || strcmp(cred->name, s->username))
		return scram_server_fail(s, SCRAM_ERR_OTHER, KB_ERR_INVAL);
	s->cred = *cred;
	struct kb_buf b;
	kb_buf_init(&b);
	int rc = scram_server_first_message(s, &b);
	s->server_first = rc ? NULL : scram_copy_cstr(&b);
	kb_buf_fini(&b);
	if (!s->server_first)
		return scram_server_fail(s, SCRAM_ERR_OTHER, KB_ERR_NOMEM);
	rc = scram_put(out, s->server_first);
	if (rc)
		return scram_server_fail(s, SCRAM_ERR_OTHER, rc);
	s->state = SCRAM_RECEIVE_CLIENT_FINAL;
	return KB_OK;
}

/* Split client-final-message into its part without proof and the proof;
 * check c= (base64 of our gs2 header) and r= (the whole nonce). */
static enum scram_error scram_parse_final(const struct scram_server *s,
					  const char *msg, size_t len,
					  size_t *without_len, uint8_t *proof)
{
	struct scram_attr a[SCRAM_MAX_ATTRS];
	size_t n, plen, klen = scram_key_len(s->mechanism);
	if (scram_split(msg, len, a, &n) != KB_OK || n < 3 ||
	    a[0].name != 'c' || a[1].name != 'r' || a[n - 1].name != 'p')
		return SCRAM_ERR_INVALID_ENCODING;
	if (n > 3)
		return SCRAM_ERR_EXTENSIONS;
	struct kb_buf cb;
	kb_buf_init(&cb);
	bool cb_ok = !scram_b64_put(&cb, (const uint8_t *)s->gs2_header,
				    strlen(s->gs2_header)) &&
		     cb.len == a[0].len && !memcmp(cb.data, a[0].val, cb.len);
	kb_buf_fini(&cb);
	if (!cb_ok)
		return SCRAM_ERR_BINDINGS_DONT_MATCH;
	/* KAFKA: "Invalid client nonce in the final client message."
	 * ScramSaslServer checks that r= ends with the whole nonce
	 * (endsWith): librdkafka sends its client nonce twice, before it. */
	size_t full = strlen(s->nonce);
	if (a[1].len < full || memcmp(a[1].val + a[1].len - full, s->nonce, full))
		return SCRAM_ERR_NONCE;
	if (scram_b64_get(a[2].val, a[2].len, proof, SCRAM_MAX_KEY, &plen) != KB_OK)
		return SCRAM_ERR_INVALID_ENCODING;
	if (plen != klen)
		return SCRAM_ERR_INVALID_PROOF;
	*without_len = (size_t)(a[2].val - msg) - 3; /* up to ",p=" */
	return SCRAM_ERR_NONE;
}

/* AuthMessage = client-first-bare "," server-first "," final-without-proof. */
static int scram_auth_message(struct kb_buf *am, const char *bare,
			      const char *server_first, const char *without,
			      size_t without_len)
{
	int rc = scram_put(am, bare);
	rc = rc ? rc : scram_put(am, ",");
	rc = rc ? rc : scram_put(am, server_first);
	rc = rc ? rc : scram_put(am, ",");
	return rc ? rc : kb_buf_append(am, without, without_len);
}

/* ClientKey = proof XOR HMAC(StoredKey, AuthMessage); H(ClientKey) must
 * equal StoredKey, compared in constant time. Fills server_sig on success.
 * KAFKA: ScramSaslServer.verifyClientProof (MessageDigest.isEqual). */
static enum scram_error scram_verify_proof(const struct scram_server *s,
					   const struct kb_buf *am,
					   const uint8_t *proof,
					   uint8_t *server_sig)
{
	size_t klen = scram_key_len(s->mechanism);
	uint8_t sig[SCRAM_MAX_KEY], key[SCRAM_MAX_KEY], h[SCRAM_MAX_KEY];
	enum scram_error err = SCRAM_ERR_OTHER;
	unsigned int hlen = 0;
	if (scram_hmac(s->mechanism, s->cred.stored_key, am->data, am->len, sig))
		goto out;
	for (size_t i = 0; i < klen; i++)
		key[i] = proof[i] ^ sig[i];
	if (EVP_Digest(key, klen, h, &hlen, scram_md(s->mechanism), NULL) != 1 ||
	    hlen != klen)
		goto out;
	err = SCRAM_ERR_INVALID_PROOF;
	if (CRYPTO_memcmp(h, s->cred.stored_key, klen) != 0)
		goto out;
	err = scram_hmac(s->mechanism, s->cred.server_key, am->data, am->len,
			 server_sig) ? SCRAM_ERR_OTHER : SCRAM_ERR_NONE;
out:
	OPENSSL_cleanse(key, sizeof key);
	OPENSSL_cleanse(sig, sizeof sig);
	return err;
}

/* RECEIVE_CLIENT_FINAL -> COMPLETE (out gets "v=<ServerSignature>") or
 * FAILED (out gets "e=<server-error-value>"). */
int scram_server_final(struct scram_server *s, const char *msg, size_t len,
		       struct kb_buf *out)
{
	uint8_t proof[SCRAM_MAX_KEY], server_sig[SCRAM_MAX_KEY];
	size_t without_len = 0;
	if (s->state != SCRAM_RECEIVE_CLIENT_FINAL)
		return scram_server_fail(s, SCRAM_ERR_STATE, KB_ERR_INVAL);
	enum scram_error err = SCRAM_ERR_INVALID_ENCODING;
	if (len > 0 && len <= SCRAM_MAX_MESSAGE && scram_printable(msg, len))
		err = scram_parse_final(s, msg, len, &without_len, proof);
	struct kb_buf am;
	kb_buf_init(&am);
	if (err == SCRAM_ERR_NONE &&
	    scram_auth_message(&am, s->client_first_bare, s->server_first, msg,
			       without_len) != KB_OK)
		err = SCRAM_ERR_OTHER;
	if (err == SCRAM_ERR_NONE)
		err = scram_verify_proof(s, &am, proof, server_sig);
	kb_buf_fini(&am);
	OPENSSL_cleanse(proof, sizeof proof);
	int rc;
	if (err != SCRAM_ERR_NONE) {
		rc = scram_put(out, "e=");
		rc = rc ? rc : scram_put(out, scram_error_name(err));
		if (!rc)
			rc = err == SCRAM_ERR_OTHER ? KB_ERR_NOMEM : KB_ERR_PROTO;
		return scram_server_fail(s, err, rc);
	}
	rc = scram_put(out, "v=");
	rc = rc ? rc : scram_b64_put(out, server_sig, scram_key_len(s->mechanism));
	if (rc)
		return scram_server_fail(s, SCRAM_ERR_OTHER, rc);
	s->state = SCRAM_COMPLETE;
	return KB_OK;
}

/* ---- Invariants ---- */

/* True when s is a NUL-terminated string of 1..max bytes. */
bool scram_str_ok(const char *s, size_t max)
{
	return s && strnlen(s, max + 1) >= 1 && strnlen(s, max + 1) <= max;
}

/* Assert the header's invariants on s (tests call it after every step). */
void scram_check(const struct scram_server *s)
{
	assert(scram_key_len(s->mechanism));
	/* INVARIANT 1: an error exactly when FAILED. */
	assert((s->error != SCRAM_ERR_NONE) == (s->state == SCRAM_FAILED));
	if (s->state == SCRAM_FAILED || s->state == SCRAM_RECEIVE_CLIENT_FIRST)
		return;
	/* INVARIANT 2: what client-first left, bounded. */
	assert(scram_str_ok(s->username, SCRAM_MAX_NAME));
	assert(scram_str_ok(s->client_first_bare, SCRAM_MAX_MESSAGE));
	assert(scram_str_ok(s->gs2_header, SCRAM_MAX_MESSAGE));
	assert(s->nonce && strlen(s->nonce) >= s->client_nonce_len);
	assert(scram_nonce_ok(s->nonce, strlen(s->nonce),
			      SCRAM_MAX_NONCE + SCRAM_MAX_SERVER_NONCE));
	assert(s->client_nonce_len >= 1 && s->client_nonce_len <= SCRAM_MAX_NONCE);
	if (s->state == SCRAM_LOOKUP_CREDENTIAL)
		return;
	/* INVARIANT 3: what server-first left. */
	assert(s->server_first && strlen(s->nonce) > s->client_nonce_len);
	assert(scram_credential_validate(&s->cred) == KB_OK);
	assert(s->cred.mechanism == s->mechanism);
	assert(!strcmp(s->cred.name, s->username));
}

/* ---- Message helpers (13_scram_internal.h; 13_scram_client.c uses them too) ---- */

static const EVP_MD *scram_md(enum scram_mechanism mech)
{
	return mech == SCRAM_SHA_512 ? EVP_sha512() : EVP_sha256();
}

/* SaltedPassword := Hi(password, salt, i), which is PBKDF2 with HMAC-H
 * (RFC 5802 §2.2); the salt and i are cred's. KAFKA: ScramFormatter.hi. */
int scram_salt_password(const struct scram_credential *cred,
			const char *password, size_t password_len,
			uint8_t *salted)
{
	enum scram_mechanism mech = cred->mechanism;
	size_t klen = scram_key_len(mech);
	/* Bounded: a hostile peer's iteration count is never run as is. */
	if (!klen || password_len > SCRAM_MAX_MESSAGE || cred->salt_len == 0 ||
	    cred->salt_len > SCRAM_MAX_SALT ||
	    cred->iterations < SCRAM_MIN_ITERATIONS ||
	    cred->iterations > SCRAM_MAX_ITERATIONS)
		return KB_ERR_INVAL;
	if (PKCS5_PBKDF2_HMAC(password, (int)password_len, cred->salt,
			      (int)cred->salt_len, cred->iterations,
			      scram_md(mech), (int)klen, salted) != 1) {
		KB_ERROR("scram: PKCS5_PBKDF2_HMAC failed");
		return KB_ERR_NOMEM;
	}
	return KB_OK;
}

/* out = HMAC-H(key, data); key is scram_key_len(mech) bytes. */
int scram_hmac(enum scram_mechanism mech, const uint8_t *key,
	       const void *data, size_t len, uint8_t *out)
{
	unsigned int olen = 0;
	size_t klen = scram_key_len(mech);
	if (!HMAC(scram_md(mech), key, (int)klen, data, len, out, &olen) ||
	    olen != klen) {
		KB_ERROR("scram: HMAC failed");
		return KB_ERR_NOMEM;
	}
	return KB_OK;
}

/* ClientKey = HMAC(salted, "Client Key"), StoredKey = H(ClientKey),
 * ServerKey = HMAC(salted, "Server Key"). KAFKA: ScramFormatter. */
int scram_keys(enum scram_mechanism mech, const uint8_t *salted,
	       uint8_t *client_key, uint8_t *stored_key, uint8_t *server_key)
{
	unsigned int hlen = 0;
	if (scram_hmac(mech, salted, "Client Key", 10, client_key) ||
	    scram_hmac(mech, salted, "Server Key", 10, server_key))
		return KB_ERR_NOMEM;
	if (EVP_Digest(client_key, scram_key_len(mech), stored_key, &hlen,
		       scram_md(mech), NULL) != 1) {
		KB_ERROR("scram: EVP_Digest failed");
		return KB_ERR_NOMEM;
	}
	return KB_OK;
}

/* Append base64 of n bytes (n <= SCRAM_MAX_MESSAGE) to b. */
int scram_b64_put(struct kb_buf *b, const uint8_t *in, size_t n)
{
	if (n > SCRAM_MAX_MESSAGE)
		return KB_ERR_TOO_LARGE;
	int rc = kb_buf_reserve(b, 4 * ((n + 2) / 3) + 1);
	if (rc)
		return rc;
	int w = EVP_EncodeBlock(b->data + b->len, in, (int)n);
	b->len += (size_t)w;
	return KB_OK;
}

/* Decode strict base64 (alphabet, length a multiple of 4, '=' only as the
 * last one or two characters) into at most cap bytes. */
int scram_b64_get(const char *s, size_t n, uint8_t *out, size_t cap,
		  size_t *out_len)
{
	static const char alpha[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t pad = 0;
	if (n == 0 || n % 4 || n / 4 * 3 > cap + 2)
		return KB_ERR_PROTO;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '=' && i >= n - 2) {
			pad++;
			continue;
		}
		if (pad || s[i] == '\0' || !strchr(alpha, s[i]))
			return KB_ERR_PROTO;
	}
	if (n / 4 * 3 - pad > cap)
		return KB_ERR_PROTO;
	uint8_t tmp[SCRAM_MAX_MESSAGE];
	if (n / 4 * 3 > sizeof tmp)
		return KB_ERR_PROTO;
	if (EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)n) < 0)
		return KB_ERR_PROTO;
	*out_len = n / 4 * 3 - pad;
	memcpy(out, tmp, *out_len);
	OPENSSL_cleanse(tmp, n / 4 * 3);
	return KB_OK;
}

/* No NUL or other control byte (UTF-8 bytes >= 0x80 pass). */
bool scram_printable(const char *msg, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)msg[i] < 0x20 || (unsigned char)msg[i] == 0x7f)
			return false;
	return true;
}

/* RFC 5802 printable: 0x21..0x7E except ','; 1..max characters. */
bool scram_nonce_ok(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == ',')
			return false;
	return true;
}

/* Cut msg at ',' into "x=value" attributes (x a letter), at most
 * SCRAM_MAX_ATTRS; an empty or nameless attribute is malformed. */
int scram_split(const char *msg, size_t len, struct scram_attr *a, size_t *n)
{
	size_t at = 0;
	*n = 0;
	while (at <= len) {
		const char *end = memchr(msg + at, ',', len - at);
		size_t alen = end ? (size_t)(end - (msg + at)) : len - at;
		const char *p = msg + at;
		if (*n == SCRAM_MAX_ATTRS || alen < 2 || p[1] != '=' ||
		    !((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z')))
			return KB_ERR_PROTO;
		a[*n] = (struct scram_attr){p[0], p + 2, alen - 2};
		(*n)++;
		at += alen + 1;
	}
	return KB_OK;
}

/* saslname -> name: "=2C" is ',', "=3D" is '=', any other '=' is an error;
 * 1..SCRAM_MAX_NAME bytes into out (SCRAM_MAX_NAME + 1, NUL-terminated). */
static int scram_unescape(const char *s, size_t len, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (ch == '=') {
			if (len - i < 3)
				return KB_ERR_PROTO;
			if (s[i + 1] == '2' && s[i + 2] == 'C')
				ch = ',';
			else if (s[i + 1] == '3' && s[i + 2] == 'D')
				ch = '=';
			else
				return KB_ERR_PROTO;
			i += 2;
		}
		if (o == SCRAM_MAX_NAME)
			return KB_ERR_PROTO;
		out[o++] = ch;
	}
	out[o] = '\0';
	return o ? KB_OK : KB_ERR_PROTO;
}

/* SCRAM_NONCE_BYTES from RAND_bytes, base64 (no ','): 24 characters. */
int scram_random_nonce(char *out)
{
	uint8_t r[SCRAM_NONCE_BYTES];
	if (RAND_bytes(r, sizeof r) != 1) {
		KB_ERROR("scram: RAND_bytes failed for a nonce");
		return KB_ERR_NOMEM;
	}
	EVP_EncodeBlock((unsigned char *)out, r, sizeof r);
	return KB_OK;
}

/* Append the C string s (without its NUL) to b. */
int scram_put(struct kb_buf *b, const char *s)
{
	return kb_buf_append(b, s, strlen(s));
}

/* returns owned (free()): a NUL-terminated copy of n bytes of s. */
char *scram_strndup(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* returns owned (free()): b's bytes as a C string; b is unchanged. */
char *scram_copy_cstr(struct kb_buf *b)
{
	return scram_strndup((const char *)b->data, b->len);
}

/* Wipe and free a secret string (NULL is fine). */
void scram_free_secret(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

/* ---- Teardown ---- */

/* Free the strings and wipe everything, the copied keys too; s reads as
 * FAILED afterwards, so a stray later step is refused. */
void scram_server_fini(struct scram_server *s)
{
	free(s->username);
	free(s->gs2_header);
	free(s->client_first_bare);
	free(s->nonce);
	free(s->server_first);
	free(s->fixed_nonce);
	OPENSSL_cleanse(s, sizeof *s);
	s->state = SCRAM_FAILED;
	s->error = SCRAM_ERR_STATE;
	s->mechanism = SCRAM_SHA_256;
}
