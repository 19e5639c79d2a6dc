/* SPDX-License-Identifier: MIT */
/*
 * Chapter 13 — security, part SCRAM, second file: the client side.
 *
 * Concept:
 *   The other half of 13_scram.c's exchange: send a nonce, turn the
 *   server's salt and iteration count into the proof of the password,
 *   then check that the server's signature could only come from a holder
 *   of the stored keys. The tests drive the server with it; later the
 *   broker authenticates to other brokers with it.
 * Kafka:
 *   ScramSaslClient (sasl.mechanism=SCRAM-SHA-256/512 in a client's
 *   config); it refuses fewer than ScramMechanism.minIterations.
 * Interface (13_scram.h):
 *   - scram_client_init, _first, _final, _verify in that order, each once;
 *     any KB_ERR_* ends the exchange. scram_client_fini always.
 *   - Only scram_client_verify returning KB_OK means the server is genuine.
 * States (struct scram_client; any step may also go to SCRAM_CLIENT_FAILED):
 *   SEND_FIRST -scram_client_first-> RECEIVE_SERVER_FIRST
 *   -scram_client_final-> RECEIVE_SERVER_FINAL -scram_client_verify-> COMPLETE.
 * Invariants:
 *   1. error is SCRAM_ERR_NONE exactly when state is not SCRAM_CLIENT_FAILED.
 *   2. Past SEND_FIRST (and not FAILED): nonce and client_first_bare are set.
 *   3. From RECEIVE_SERVER_FINAL on, and once FAILED, the password is
 *      wiped and freed: it is needed for the proof only.
 * Simplifications:
 *   - Always gs2 header "n,,": no authorization id, no channel binding.
 *   - A server-first with more than 16384 iterations is refused too (Kafka
 *     checks only the minimum), so a hostile server cannot make us spin.
 * See also: docs/13_scram_client.md, diagrams/13_scram_client.dot,
 *   tests/13_scram_test.c; 13_scram.c (the server and the helpers).
 *   Uses chapter 00 (base) and OpenSSL's libcrypto.
 */
#include <assert.h>
#include <string.h>

#include <openssl/crypto.h>

#include "00_base.h"
#include "13_scram.h"
#include "13_scram_internal.h"

/* ---- Prototypes of static helpers ---- */

static int scram_client_fail(struct scram_client *c, enum scram_error err,
			     int status);
static int scram_escape_name(struct kb_buf *b, const char *name);

/* ---- Client side ---- */

/* A client exchange for user with password (both copied; the password
 * is wiped once the proof is made). */
int scram_client_init(struct scram_client *c, enum scram_mechanism mech,
		      const char *username, const char *password)
{
	memset(c, 0, sizeof *c);
	size_t n = strlen(username), p = strlen(password);
	if (!scram_key_len(mech) || n == 0 || n > SCRAM_MAX_NAME ||
	    p > SCRAM_MAX_MESSAGE)
		return KB_ERR_INVAL;
	c->mechanism = mech;
	c->username = scram_strndup(username, n);
	c->password = scram_strndup(password, p);
	if (!c->username || !c->password) {
		scram_client_fini(c);
		return KB_ERR_NOMEM;
	}
	return KB_OK;
}

/* Fix the client nonce (RFC test vectors); only before client-first. */
int scram_client_set_nonce(struct scram_client *c, const char *nonce)
{
	size_t n = strlen(nonce);
	if (c->state != SCRAM_CLIENT_SEND_FIRST || !scram_nonce_ok(nonce, n, SCRAM_MAX_NONCE))
		return KB_ERR_INVAL;
	free(c->nonce);
	c->nonce = scram_strndup(nonce, n);
	return c->nonce ? KB_OK : KB_ERR_NOMEM;
}

/* The client's exchange ends; SCRAM_CLIENT_FAILED is terminal. */
static int scram_client_fail(struct scram_client *c, enum scram_error err,
			     int status)
{
	if (c->state != SCRAM_CLIENT_FAILED)
		c->error = err;
	c->state = SCRAM_CLIENT_FAILED;
	scram_free_secret(c->password);
	c->password = NULL;
	return status;
}

/* saslname: ',' as "=2C" and '=' as "=3D" (RFC 5802 §5.1). */
static int scram_escape_name(struct kb_buf *b, const char *name)
{
	int rc = KB_OK;
	for (const char *p = name; *p && !rc; p++)
		rc = *p == ',' ? scram_put(b, "=2C")
		     : *p == '=' ? scram_put(b, "=3D") : kb_buf_append(b, p, 1);
	return rc;
}

/* KAFKA: ScramSaslClient's ClientFirstMessage, "n,," (no authzid). */
int scram_client_first(struct scram_client *c, struct kb_buf *out)
{
	char nonce[SCRAM_MAX_SERVER_NONCE + 1];
	if (c->state != SCRAM_CLIENT_SEND_FIRST)
		return scram_client_fail(c, SCRAM_ERR_STATE, KB_ERR_INVAL);
	if (!c->nonce && (scram_random_nonce(nonce) != KB_OK ||
			  !(c->nonce = scram_strndup(nonce, strlen(nonce)))))
		return scram_client_fail(c, SCRAM_ERR_OTHER, KB_ERR_NOMEM);
	struct kb_buf b;
	kb_buf_init(&b);
	int rc = scram_put(&b, "n=");
	rc = rc ? rc : scram_escape_name(&b, c->username);
	rc = rc ? rc : scram_put(&b, ",r=");
	rc = rc ? rc : scram_put(&b, c->nonce);
	c->client_first_bare = rc ? NULL : scram_copy_cstr(&b);
	kb_buf_fini(&b);
	if (!c->client_first_bare)
		return scram_client_fail(c, SCRAM_ERR_OTHER, KB_ERR_NOMEM);
	rc = scram_put(out, "n,,");
	rc = rc ? rc : scram_put(out, c->client_first_bare);
	if (rc)
		return scram_client_fail(c, SCRAM_ERR_OTHER, rc);
	c->state = SCRAM_CLIENT_RECEIVE_SERVER_FIRST;
	return KB_OK;
}

/* Read server-first: r= must extend our nonce, s= a salt, i= in Kafka's
 * bounds (KAFKA: ScramSaslClient refuses fewer than minIterations). */
static enum scram_error scram_parse_server_first(const struct scram_client *c,
						 const char *msg, size_t len,
						 struct scram_credential *cred,
						 struct scram_attr *nonce)
{
	struct scram_attr a[SCRAM_MAX_ATTRS];
	size_t n, cn = strlen(c->nonce);
	if (len == 0 || len > SCRAM_MAX_MESSAGE || !scram_printable(msg, len) ||
	    scram_split(msg, len, a, &n) != KB_OK)
		return SCRAM_ERR_INVALID_ENCODING;
	if (n >= 1 && a[0].name == 'm')
		return SCRAM_ERR_EXTENSIONS;
	if (n != 3 || a[0].name != 'r' || a[1].name != 's' || a[2].name != 'i')
		return SCRAM_ERR_INVALID_ENCODING;
	if (!scram_nonce_ok(a[0].val, a[0].len, SCRAM_MAX_NONCE + SCRAM_MAX_SERVER_NONCE) ||
	    a[0].len <= cn || memcmp(a[0].val, c->nonce, cn))
		return SCRAM_ERR_NONCE;
	if (scram_b64_get(a[1].val, a[1].len, cred->salt, SCRAM_MAX_SALT,
			  &cred->salt_len) != KB_OK || cred->salt_len == 0)
		return SCRAM_ERR_INVALID_ENCODING;
	long it = 0;
	for (size_t i = 0; i < a[2].len; i++) {
		if (a[2].val[i] < '0' || a[2].val[i] > '9' || i >= 5)
			return SCRAM_ERR_INVALID_ENCODING;
		it = it * 10 + (a[2].val[i] - '0');
	}
	if (a[2].len == 0 || it < SCRAM_MIN_ITERATIONS || it > SCRAM_MAX_ITERATIONS)
		return SCRAM_ERR_INVALID_ENCODING;
	cred->iterations = (int32_t)it;
	*nonce = a[0];
	return SCRAM_ERR_NONE;
}

/* ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage); keeps the
 * expected ServerSignature = HMAC(ServerKey, AuthMessage). */
static int scram_client_proof(struct scram_client *c, const struct kb_buf *am,
			      const struct scram_credential *cred, uint8_t *proof)
{
	uint8_t salted[SCRAM_MAX_KEY], ck[SCRAM_MAX_KEY], sk[SCRAM_MAX_KEY],
		srv[SCRAM_MAX_KEY], sig[SCRAM_MAX_KEY];
	size_t klen = scram_key_len(c->mechanism);
	int rc = scram_salt_password(cred, c->password, strlen(c->password),
				     salted);
	rc = rc ? rc : scram_keys(c->mechanism, salted, ck, sk, srv);
	rc = rc ? rc : scram_hmac(c->mechanism, sk, am->data, am->len, sig);
	rc = rc ? rc : scram_hmac(c->mechanism, srv, am->data, am->len,
				  c->server_signature);
	for (size_t i = 0; rc == KB_OK && i < klen; i++)
		proof[i] = ck[i] ^ sig[i];
	OPENSSL_cleanse(salted, sizeof salted);
	OPENSSL_cleanse(ck, sizeof ck);
	OPENSSL_cleanse(srv, sizeof srv);
	return rc;
}

/* KAFKA: ScramSaslClient, RECEIVE_SERVER_FIRST_MESSAGE. */
int scram_client_final(struct scram_client *c, const char *msg, size_t len,
		       struct kb_buf *out)
{
	struct scram_credential cred;
	struct scram_attr nonce;
	uint8_t proof[SCRAM_MAX_KEY];
	if (c->state != SCRAM_CLIENT_RECEIVE_SERVER_FIRST)
		return scram_client_fail(c, SCRAM_ERR_STATE, KB_ERR_INVAL);
	memset(&cred, 0, sizeof cred);
	cred.mechanism = c->mechanism;
	enum scram_error err = scram_parse_server_first(c, msg, len, &cred, &nonce);
	if (err != SCRAM_ERR_NONE)
		return scram_client_fail(c, err, KB_ERR_PROTO);
	struct kb_buf without, am;
	kb_buf_init(&without);
	kb_buf_init(&am);
	int rc = scram_put(&without, "c=biws,r="); /* base64("n,,") */
	rc = rc ? rc : kb_buf_append(&without, nonce.val, nonce.len);
	rc = rc ? rc : scram_put(&am, c->client_first_bare);
	rc = rc ? rc : scram_put(&am, ",");
	rc = rc ? rc : kb_buf_append(&am, msg, len);
	rc = rc ? rc : scram_put(&am, ",");
	rc = rc ? rc : kb_buf_append(&am, without.data, without.len);
	rc = rc ? rc : scram_client_proof(c, &am, &cred, proof);
	rc = rc ? rc : kb_buf_append(out, without.data, without.len);
	rc = rc ? rc : scram_put(out, ",p=");
	rc = rc ? rc : scram_b64_put(out, proof, scram_key_len(c->mechanism));
	kb_buf_fini(&without);
	kb_buf_fini(&am);
	OPENSSL_cleanse(proof, sizeof proof);
	if (rc)
		return scram_client_fail(c, SCRAM_ERR_OTHER, rc);
	scram_free_secret(c->password);
	c->password = NULL;
	c->state = SCRAM_CLIENT_RECEIVE_SERVER_FINAL;
	return KB_OK;
}

/* server-final: "v=" must be our expected ServerSignature (constant time);
 * "e=" is the server's refusal. KAFKA: ScramSaslClient.handleServerFinalMessage. */
int scram_client_verify(struct scram_client *c, const char *msg, size_t len)
{
	uint8_t v[SCRAM_MAX_KEY];
	size_t vlen = 0, klen = scram_key_len(c->mechanism);
	if (c->state != SCRAM_CLIENT_RECEIVE_SERVER_FINAL)
		return scram_client_fail(c, SCRAM_ERR_STATE, KB_ERR_INVAL);
	if (len > SCRAM_MAX_MESSAGE || !scram_printable(msg, len))
		return scram_client_fail(c, SCRAM_ERR_INVALID_ENCODING, KB_ERR_PROTO);
	if (len >= 2 && !memcmp(msg, "e=", 2))
		return scram_client_fail(c, SCRAM_ERR_INVALID_PROOF, KB_ERR_PROTO);
	if (len < 2 || memcmp(msg, "v=", 2) ||
	    scram_b64_get(msg + 2, len - 2, v, sizeof v, &vlen) != KB_OK)
		return scram_client_fail(c, SCRAM_ERR_INVALID_ENCODING, KB_ERR_PROTO);
	if (vlen != klen || CRYPTO_memcmp(v, c->server_signature, klen) != 0)
		return scram_client_fail(c, SCRAM_ERR_SERVER_SIGNATURE, KB_ERR_PROTO);
	c->state = SCRAM_CLIENT_COMPLETE;
	return KB_OK;
}

/* ---- Invariants ---- */

/* Assert the client's invariants (the header's, numbered). */
void scram_client_check(const struct scram_client *c)
{
	assert(scram_key_len(c->mechanism));
	assert(c->state <= SCRAM_CLIENT_FAILED);
	/* INVARIANT 1: an error exactly when FAILED. */
	assert((c->error != SCRAM_ERR_NONE) == (c->state == SCRAM_CLIENT_FAILED));
	if (c->state == SCRAM_CLIENT_FAILED)
		assert(c->password == NULL);
	else
		assert(scram_str_ok(c->username, SCRAM_MAX_NAME));
	/* INVARIANT 2: once client-first is sent, its nonce and bare part are kept. */
	if (c->state >= SCRAM_CLIENT_RECEIVE_SERVER_FIRST &&
	    c->state != SCRAM_CLIENT_FAILED)
		assert(c->nonce && scram_str_ok(c->client_first_bare, SCRAM_MAX_MESSAGE));
	/* INVARIANT 3: the password is gone once the proof is made. */
	if (c->state >= SCRAM_CLIENT_RECEIVE_SERVER_FINAL)
		assert(c->password == NULL);
}

/* ---- Teardown ---- */

/* Free the strings and wipe the password (if still there) and the
 * expected signature; c reads as FAILED afterwards. */
void scram_client_fini(struct scram_client *c)
{
	free(c->username);
	scram_free_secret(c->password);
	free(c->client_first_bare);
	free(c->nonce);
	OPENSSL_cleanse(c, sizeof *c);
	c->state = SCRAM_CLIENT_FAILED;
	c->error = SCRAM_ERR_STATE;
	c->mechanism = SCRAM_SHA_256;
}
