/* SPDX-License-Identifier: MIT */
/*
 * Tests for chapter 13's SCRAM core (chapters/13_scram.c, the server, and
 * chapters/13_scram_client.c): one test per
 * Interface rule and numbered invariant. The known answers come from
 * outside samsa: RFC 7677 §3's SCRAM-SHA-256 exchange, byte for byte, and
 * stored/server keys computed with Python's hashlib (pbkdf2_hmac, hmac),
 * not with the code under test. scram_check / scram_client_check run
 * after every step.
 */
#include "testutil.h"

#include "13_scram.h"

/* RFC 7677 §3: user "user", password "pencil". */
#define RFC_CLIENT_NONCE "rOprNGfwEbeRWgbNEkqO"
#define RFC_SERVER_NONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_CLIENT_FIRST "n,,n=user,r=" RFC_CLIENT_NONCE
#define RFC_SERVER_FIRST "r=" RFC_CLIENT_NONCE RFC_SERVER_NONCE \
			 ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define RFC_FINAL_NO_PROOF "c=biws,r=" RFC_CLIENT_NONCE RFC_SERVER_NONCE
#define RFC_CLIENT_FINAL RFC_FINAL_NO_PROOF \
			 ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

/* base64-decoded "W22ZaJ0SNY7soEsUEjb6gQ==". */
static const uint8_t rfc_salt[16] = {
	0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e,
	0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81,
};

/* Python: hashlib.pbkdf2_hmac + hmac over the RFC 7677 inputs. */
static const char rfc_stored_hex[] =
	"586e5df283e6dceb5c3e791d8b8528ec191e664045ce971792e2e6b5bb13e2a6";
static const char rfc_server_hex[] =
	"c1f3cbc1c13a9d35a14c0990eed97629ea225863e566a4314ab99f3f00e5d9d5";
/* Python, SHA-512, password "pencil", salt "samsa-salt", 4096. */
static const char sha512_stored_hex[] =
	"10801d376f0a58f42422c200246572334c9836564de7d1bb53a590ee2cf2ce68"
	"fcd58aea97c2f4ab4f3136e4e6344324de911d5bb4e6db1c48999ad2132cdd5e";
static const char sha512_server_hex[] =
	"1609296dad77755c9cd0edefe0db0741ff7b2570e85f705acf8787e84a81fb48"
	"0f4692b9825d7e21007697f9b3815522fb0c3013fce24d36c6ac1571c73fc7d2";

/* ---- Helpers ---- */

static void hex_of(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

/* The RFC 7677 credential: "user", "pencil", rfc_salt, 4096. */
static void rfc_credential(struct scram_credential *cred)
{
	assert_int_equal(scram_credential_init(cred, "user", SCRAM_SHA_256, 4096), KB_OK);
	assert_int_equal(scram_credential_set_salt(cred, rfc_salt, sizeof rfc_salt), KB_OK);
	assert_int_equal(scram_credential_derive(cred, "pencil", 6), KB_OK);
}

static bool buf_is(const struct kb_buf *b, const char *s)
{
	return b->len == strlen(s) && !memcmp(b->data, s, b->len);
}

/* A server with the RFC credential and server nonce, past server-first of
 * the client-first message msg; KB_OK or what client-first returned. */
static int server_upto_final(struct scram_server *s, const char *msg)
{
	struct scram_credential cred;
	struct kb_buf out;
	rfc_credential(&cred);
	assert_int_equal(scram_server_init(s, SCRAM_SHA_256), KB_OK);
	assert_int_equal(scram_server_set_nonce(s, RFC_SERVER_NONCE), KB_OK);
	int rc = scram_server_client_first(s, msg, strlen(msg));
	scram_check(s);
	if (rc != KB_OK)
		return rc;
	kb_buf_init(&out);
	rc = scram_server_first(s, &cred, &out);
	scram_check(s);
	kb_buf_fini(&out);
	return rc;
}

/* Client-first msg must be refused with err. */
static void assert_first_refused(const char *msg, size_t len, enum scram_error err)
{
	struct scram_server s;
	assert_int_equal(scram_server_init(&s, SCRAM_SHA_256), KB_OK);
	assert_int_equal(scram_server_client_first(&s, msg, len), KB_ERR_PROTO);
	assert_int_equal(s.state, SCRAM_FAILED);
	if (s.error != err)
		fail_msg("\"%.*s\": error %s, want %s", (int)KB_MIN(len, 80), msg,
			 scram_error_name(s.error), scram_error_name(err));
	assert_null(scram_server_username(&s));
	scram_check(&s);
	scram_server_fini(&s);
}

/* Client-final msg (after the RFC first messages) must be refused with err
 * and answered "e=<scram_error_name(err)>". */
static void assert_final_refused(const char *msg, size_t len, enum scram_error err)
{
	struct scram_server s;
	struct kb_buf out;
	char want[64];
	assert_int_equal(server_upto_final(&s, RFC_CLIENT_FIRST), KB_OK);
	kb_buf_init(&out);
	assert_int_equal(scram_server_final(&s, msg, len, &out), KB_ERR_PROTO);
	assert_int_equal(s.state, SCRAM_FAILED);
	if (s.error != err)
		fail_msg("\"%.*s\": error %s, want %s", (int)KB_MIN(len, 80), msg,
			 scram_error_name(s.error), scram_error_name(err));
	snprintf(want, sizeof want, "e=%s", scram_error_name(err));
	assert_true(buf_is(&out, want));
	scram_check(&s);
	kb_buf_fini(&out);
	scram_server_fini(&s);
}

/* ---- Credentials ---- */

/* Interface: derive gives Kafka's stored_key and server_key (hashlib's). */
static void test_scram_credential_derive_matches_independent_values(void **state)
{
	struct scram_credential cred;
	char hex[2 * SCRAM_MAX_KEY + 1];
	rfc_credential(&cred);
	hex_of(cred.stored_key, 32, hex);
	assert_string_equal(hex, rfc_stored_hex);
	hex_of(cred.server_key, 32, hex);
	assert_string_equal(hex, rfc_server_hex);

	assert_int_equal(scram_credential_init(&cred, "alice", SCRAM_SHA_512, 4096), KB_OK);
	assert_int_equal(scram_credential_set_salt(&cred, (const uint8_t *)"samsa-salt", 10), KB_OK);
	assert_int_equal(scram_credential_derive(&cred, "pencil", 6), KB_OK);
	hex_of(cred.stored_key, 64, hex);
	assert_string_equal(hex, sha512_stored_hex);
	hex_of(cred.server_key, 64, hex);
	assert_string_equal(hex, sha512_server_hex);
}

/* Interface: bounds of Kafka's ScramMechanism and of our limits. */
static void test_scram_credential_bounds(void **state)
{
	struct scram_credential cred;
	uint8_t salt[SCRAM_MAX_SALT + 1] = {0};
	assert_int_equal(scram_credential_init(&cred, "u", SCRAM_SHA_256, 4095), KB_ERR_INVAL);
	assert_int_equal(scram_credential_init(&cred, "u", SCRAM_SHA_256, 16385), KB_ERR_INVAL);
	assert_int_equal(scram_credential_init(&cred, "u", 3, 4096), KB_ERR_INVAL);
	assert_int_equal(scram_credential_init(&cred, "", SCRAM_SHA_256, 4096), KB_ERR_INVAL);
	char longname[SCRAM_MAX_NAME + 2];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	assert_int_equal(scram_credential_init(&cred, longname, SCRAM_SHA_256, 4096), KB_ERR_INVAL);
	longname[SCRAM_MAX_NAME] = '\0';
	assert_int_equal(scram_credential_init(&cred, longname, SCRAM_SHA_256, 16384), KB_OK);
	assert_int_equal(cred.salt_len, SCRAM_SALT_BYTES);
	assert_int_equal(scram_credential_validate(&cred), KB_OK);
	assert_int_equal(scram_credential_set_salt(&cred, salt, 0), KB_ERR_INVAL);
	assert_int_equal(scram_credential_set_salt(&cred, salt, sizeof salt), KB_ERR_INVAL);
	assert_int_equal(scram_credential_set_salt(&cred, salt, SCRAM_MAX_SALT), KB_OK);
	cred.iterations = 100; /* a damaged record */
	assert_int_equal(scram_credential_validate(&cred), KB_ERR_INVAL);
	assert_int_equal(scram_credential_derive(&cred, "x", 1), KB_ERR_INVAL);
}

/* Interface: two credentials get different random salts. */
static void test_scram_credential_init_draws_random_salt(void **state)
{
	struct scram_credential a, b;
	assert_int_equal(scram_credential_init(&a, "u", SCRAM_SHA_256, 4096), KB_OK);
	assert_int_equal(scram_credential_init(&b, "u", SCRAM_SHA_256, 4096), KB_OK);
	assert_memory_not_equal(a.salt, b.salt, SCRAM_SALT_BYTES);
}

static void test_scram_mechanism_names(void **state)
{
	enum scram_mechanism m;
	assert_int_equal(scram_mechanism_parse("SCRAM-SHA-512", &m), KB_OK);
	assert_int_equal(m, SCRAM_SHA_512);
	assert_int_equal(scram_mechanism_parse("SCRAM-SHA-256", &m), KB_OK);
	assert_int_equal(m, SCRAM_SHA_256);
	assert_int_equal(scram_mechanism_parse("SCRAM-SHA-1", &m), KB_ERR_NOTFOUND);
	assert_int_equal(scram_mechanism_parse("PLAIN", &m), KB_ERR_NOTFOUND);
	assert_int_equal(scram_key_len(SCRAM_SHA_256), 32);
	assert_int_equal(scram_key_len(SCRAM_SHA_512), 64);
	assert_int_equal(scram_key_len(0), 0);
}

/* ---- The RFC 7677 exchange ---- */

/* States: the server walks RECEIVE_CLIENT_FIRST -> ... -> COMPLETE and
 * produces RFC 7677's messages byte for byte. */
static void test_scram_server_rfc7677_exchange(void **state)
{
	struct scram_server s;
	struct scram_credential cred;
	struct kb_buf out;
	rfc_credential(&cred);
	kb_buf_init(&out);
	assert_int_equal(scram_server_init(&s, SCRAM_SHA_256), KB_OK);
	assert_int_equal(s.state, SCRAM_RECEIVE_CLIENT_FIRST);
	scram_check(&s);
	assert_int_equal(scram_server_set_nonce(&s, RFC_SERVER_NONCE), KB_OK);
	assert_int_equal(scram_server_client_first(&s, RFC_CLIENT_FIRST,
						   strlen(RFC_CLIENT_FIRST)), KB_OK);
	assert_int_equal(s.state, SCRAM_LOOKUP_CREDENTIAL);
	assert_string_equal(scram_server_username(&s), "user");
	scram_check(&s);
	assert_int_equal(scram_server_first(&s, &cred, &out), KB_OK);
	assert_true(buf_is(&out, RFC_SERVER_FIRST));
	assert_int_equal(s.state, SCRAM_RECEIVE_CLIENT_FINAL);
	scram_check(&s);
	out.len = 0;
	assert_int_equal(scram_server_final(&s, RFC_CLIENT_FINAL,
					    strlen(RFC_CLIENT_FINAL), &out), KB_OK);
	assert_true(buf_is(&out, RFC_SERVER_FINAL));
	assert_int_equal(s.state, SCRAM_COMPLETE);
	assert_int_equal(s.error, SCRAM_ERR_NONE);
	scram_check(&s);
	kb_buf_fini(&out);
	scram_server_fini(&s);
}

/* The client side produces RFC 7677's client messages and accepts its v=. */
static void test_scram_client_rfc7677_exchange(void **state)
{
	struct scram_client c;
	struct kb_buf out;
	kb_buf_init(&out);
	assert_int_equal(scram_client_init(&c, SCRAM_SHA_256, "user", "pencil"), KB_OK);
	assert_int_equal(scram_client_set_nonce(&c, RFC_CLIENT_NONCE), KB_OK);
	scram_client_check(&c);
	assert_int_equal(scram_client_first(&c, &out), KB_OK);
	assert_true(buf_is(&out, RFC_CLIENT_FIRST));
	scram_client_check(&c);
	out.len = 0;
	assert_int_equal(scram_client_final(&c, RFC_SERVER_FIRST,
					    strlen(RFC_SERVER_FIRST), &out), KB_OK);
	assert_true(buf_is(&out, RFC_CLIENT_FINAL));
	assert_null(c.password); /* wiped once used */
	scram_client_check(&c);
	assert_int_equal(scram_client_verify(&c, RFC_SERVER_FINAL,
					     strlen(RFC_SERVER_FINAL)), KB_OK);
	assert_int_equal(c.state, SCRAM_CLIENT_COMPLETE);
	scram_client_check(&c);
	kb_buf_fini(&out);
	scram_client_fini(&c);
}

/* ---- Round trips ---- */

/* Run client and server against each other; returns the server's status
 * at client-final, and the client's verify status in *verify. */
static int round_trip(enum scram_mechanism mech, const char *user,
		      const char *stored_pw, const char *client_pw, int *verify)
{
	struct scram_credential cred;
	struct scram_server s;
	struct scram_client c;
	struct kb_buf m1, m2, m3, m4;
	kb_buf_init(&m1); kb_buf_init(&m2); kb_buf_init(&m3); kb_buf_init(&m4);
	assert_int_equal(scram_credential_init(&cred, user, mech, 4096), KB_OK);
	assert_int_equal(scram_credential_derive(&cred, stored_pw, strlen(stored_pw)), KB_OK);
	assert_int_equal(scram_server_init(&s, mech), KB_OK);
	assert_int_equal(scram_client_init(&c, mech, user, client_pw), KB_OK);
	assert_int_equal(scram_client_first(&c, &m1), KB_OK);
	assert_int_equal(scram_server_client_first(&s, (char *)m1.data, m1.len), KB_OK);
	scram_check(&s);
	assert_string_equal(scram_server_username(&s), user);
	assert_int_equal(scram_server_first(&s, &cred, &m2), KB_OK);
	scram_check(&s);
	assert_int_equal(scram_client_final(&c, (char *)m2.data, m2.len, &m3), KB_OK);
	scram_client_check(&c);
	int rc = scram_server_final(&s, (char *)m3.data, m3.len, &m4);
	scram_check(&s);
	*verify = scram_client_verify(&c, (char *)m4.data, m4.len);
	scram_client_check(&c);
	kb_buf_fini(&m1); kb_buf_fini(&m2); kb_buf_fini(&m3); kb_buf_fini(&m4);
	scram_server_fini(&s);
	scram_client_fini(&c);
	return rc;
}

static void test_scram_sha512_round_trip_random_nonces(void **state)
{
	int verify;
	assert_int_equal(round_trip(SCRAM_SHA_512, "alice", "s3cret", "s3cret", &verify), KB_OK);
	assert_int_equal(verify, KB_OK);
	assert_int_equal(round_trip(SCRAM_SHA_256, "bob", "pw", "pw", &verify), KB_OK);
	assert_int_equal(verify, KB_OK);
}

/* Usernames with ',' and '=' travel as =2C and =3D both ways. */
static void test_scram_username_escaping_round_trip(void **state)
{
	int verify;
	assert_int_equal(round_trip(SCRAM_SHA_256, "a,b=c", "pw", "pw", &verify), KB_OK);
	assert_int_equal(verify, KB_OK);
	struct scram_server s;
	assert_int_equal(scram_server_init(&s, SCRAM_SHA_256), KB_OK);
	const char *m = "n,,n=a=2Cb=3Dc,r=abc";
	assert_int_equal(scram_server_client_first(&s, m, strlen(m)), KB_OK);
	assert_string_equal(scram_server_username(&s), "a,b=c");
	scram_server_fini(&s);
}

/* A wrong password: "e=invalid-proof", FAILED, and the client refuses
 * the answer. */
static void test_scram_wrong_password_is_invalid_proof(void **state)
{
	int verify;
	assert_int_equal(round_trip(SCRAM_SHA_512, "alice", "right", "wrong", &verify),
			 KB_ERR_PROTO);
	assert_int_equal(verify, KB_ERR_PROTO);
	/* the RFC exchange with one proof bit flipped */
	char msg[] = RFC_CLIENT_FINAL;
	msg[strlen(msg) - 2] = msg[strlen(msg) - 2] == 'V' ? 'W' : 'V';
	assert_final_refused(msg, strlen(msg), SCRAM_ERR_INVALID_PROOF);
}

/* Invariant 1: FAILED is terminal and keeps its first cause. */
static void test_scram_failed_is_terminal(void **state)
{
	struct scram_server s;
	struct kb_buf out;
	kb_buf_init(&out);
	assert_int_equal(server_upto_final(&s, RFC_CLIENT_FIRST), KB_OK);
	char bad[] = RFC_CLIENT_FINAL;
	bad[strlen(bad) - 3] ^= 1;
	assert_int_equal(scram_server_final(&s, bad, strlen(bad), &out), KB_ERR_PROTO);
	assert_int_equal(s.error, SCRAM_ERR_INVALID_PROOF);
	out.len = 0;
	/* the right proof now changes nothing */
	assert_int_equal(scram_server_final(&s, RFC_CLIENT_FINAL,
					    strlen(RFC_CLIENT_FINAL), &out), KB_ERR_INVAL);
	assert_int_equal(s.state, SCRAM_FAILED);
	assert_int_equal(s.error, SCRAM_ERR_INVALID_PROOF);
	assert_int_equal(out.len, 0);
	scram_check(&s);
	kb_buf_fini(&out);
	scram_server_fini(&s);
}

/* States: a step out of order ends the exchange, and COMPLETE is terminal. */
static void test_scram_steps_out_of_order_refused(void **state)
{
	struct scram_server s;
	struct kb_buf out;
	kb_buf_init(&out);
	assert_int_equal(scram_server_init(&s, SCRAM_SHA_256), KB_OK);
	assert_int_equal(scram_server_final(&s, RFC_CLIENT_FINAL,
					    strlen(RFC_CLIENT_FINAL), &out), KB_ERR_INVAL);
	assert_int_equal(s.error, SCRAM_ERR_STATE);
	scram_check(&s);
	scram_server_fini(&s);

	assert_int_equal(server_upto_final(&s, RFC_CLIENT_FIRST), KB_OK);
	assert_int_equal(scram_server_final(&s, RFC_CLIENT_FINAL,
					    strlen(RFC_CLIENT_FINAL), &out), KB_OK);
	assert_int_equal(s.state, SCRAM_COMPLETE);
	assert_int_equal(scram_server_client_first(&s, RFC_CLIENT_FIRST,
						   strlen(RFC_CLIENT_FIRST)), KB_ERR_INVAL);
	assert_int_equal(s.state, SCRAM_FAILED);
	scram_check(&s);
	scram_server_fini(&s);
	kb_buf_fini(&out);

	struct scram_client c;
	assert_int_equal(scram_client_init(&c, SCRAM_SHA_256, "user", "pencil"), KB_OK);
	assert_int_equal(scram_client_verify(&c, RFC_SERVER_FINAL,
					     strlen(RFC_SERVER_FINAL)), KB_ERR_INVAL);
	assert_int_equal(c.error, SCRAM_ERR_STATE);
	scram_client_check(&c);
	scram_client_fini(&c);
}

/* ---- Hostile client-first messages ---- */

static void test_scram_unknown_user_refused(void **state)
{
	struct scram_server s;
	struct kb_buf out;
	kb_buf_init(&out);
	assert_int_equal(scram_server_init(&s, SCRAM_SHA_256), KB_OK);
	assert_int_equal(scram_server_client_first(&s, RFC_CLIENT_FIRST,
						   strlen(RFC_CLIENT_FIRST)), KB_OK);
	assert_int_equal(scram_server_first(&s, NULL, &out), KB_ERR_NOTFOUND);
	assert_int_equal(s.error, SCRAM_ERR_UNKNOWN_USER);
	assert_int_equal(out.len, 0);
	scram_check(&s);
	scram_server_fini(&s);
	/* a credential of the other mechanism or another user is refused */
	struct scram_credential cred;
	rfc_credential(&cred);
	assert_int_equal(scram_server_init(&s, SCRAM_SHA_512), KB_OK);
	assert_int_equal(scram_server_client_first(&s, RFC_CLIENT_FIRST,
						   strlen(RFC_CLIENT_FIRST)), KB_OK);
	assert_int_equal(scram_server_first(&s, &cred, &out), KB_ERR_INVAL);
	scram_server_fini(&s);
	assert_int_equal(scram_server_init(&s, SCRAM_SHA_256), KB_OK);
	const char *m = "n,,n=other,r=abc";
	assert_int_equal(scram_server_client_first(&s, m, strlen(m)), KB_OK);
	assert_int_equal(scram_server_first(&s, &cred, &out), KB_ERR_INVAL);
	assert_int_equal(out.len, 0);
	scram_server_fini(&s);
	kb_buf_fini(&out);
}

/* KAFKA: an authorization id other than the user is refused; the same
 * one is accepted, and then c= must carry that gs2 header. */
static void test_scram_authzid_must_be_the_user(void **state)
{
	const char *other = "n,a=admin,n=user,r=" RFC_CLIENT_NONCE;
	assert_first_refused(other, strlen(other), SCRAM_ERR_AUTHZID);

	struct scram_server s;
	struct kb_buf out;
	kb_buf_init(&out);
	assert_int_equal(server_upto_final(&s, "n,a=user,n=user,r=" RFC_CLIENT_NONCE), KB_OK);
	assert_string_equal(s.gs2_header, "n,a=user,");
	/* c=biws is base64("n,,"), not of "n,a=user," */
	assert_int_equal(scram_server_final(&s, RFC_CLIENT_FINAL,
					    strlen(RFC_CLIENT_FINAL), &out), KB_ERR_PROTO);
	assert_int_equal(s.error, SCRAM_ERR_BINDINGS_DONT_MATCH);
	assert_true(buf_is(&out, "e=channel-bindings-dont-match"));
	scram_server_fini(&s);
	kb_buf_fini(&out);
}

/* KAFKA: only the gs2 flag "n"; channel binding (p=, y) is refused. */
static void test_scram_channel_binding_refused(void **state)
{
	const char *p = "p=tls-unique,,n=user,r=abc";
	const char *y = "y,,n=user,r=abc";
	assert_first_refused(p, strlen(p), SCRAM_ERR_CHANNEL_BINDING);
	assert_first_refused(y, strlen(y), SCRAM_ERR_CHANNEL_BINDING);
}

/* Every length is bounded and malformed input is an error, never a crash. */
static void test_scram_malformed_client_first_refused(void **state)
{
	static const struct { const char *msg; enum scram_error err; } cases[] = {
		{"n", SCRAM_ERR_INVALID_ENCODING},
		{"n,,", SCRAM_ERR_INVALID_ENCODING},
		{"x,,n=user,r=abc", SCRAM_ERR_INVALID_ENCODING},
		{"n,,n=user", SCRAM_ERR_INVALID_ENCODING},
		{"n,,n=user,", SCRAM_ERR_INVALID_ENCODING},
		{"n,,r=abc,n=user", SCRAM_ERR_INVALID_ENCODING},
		{"n,,n=user,r=", SCRAM_ERR_INVALID_ENCODING},
		{"n,,n=,r=abc", SCRAM_ERR_INVALID_USERNAME},
		{"n,,n=us=er,r=abc", SCRAM_ERR_INVALID_USERNAME},
		{"n,,n=us=2,r=abc", SCRAM_ERR_INVALID_USERNAME},
		{"n,,n=user=,r=abc", SCRAM_ERR_INVALID_USERNAME},
		{"n,a,n=user,r=abc", SCRAM_ERR_INVALID_ENCODING},
		{"n,a=,n=user,r=abc", SCRAM_ERR_INVALID_ENCODING},
		{"n,,m=ext,n=user,r=abc", SCRAM_ERR_EXTENSIONS},
		{"n,,n=user,r=abc,tokenauth=true", SCRAM_ERR_EXTENSIONS},
		{"n,,n=user,r=abc,t=true", SCRAM_ERR_EXTENSIONS},
		{"n,,n=user,r=a\x7f" "b", SCRAM_ERR_INVALID_ENCODING},
		{"n,,n=user,r=a\tb", SCRAM_ERR_INVALID_ENCODING},
		{"n,,n=user,r=a b", SCRAM_ERR_INVALID_ENCODING},
		{"n,,n=user,r=abc,r=d,r=e,r=f,r=g,r=h,r=i,r=j", SCRAM_ERR_EXTENSIONS},
		{"n,,n=user,r=abc,", SCRAM_ERR_EXTENSIONS},
	};
	for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++)
		assert_first_refused(cases[i].msg, strlen(cases[i].msg), cases[i].err);
	assert_first_refused("", 0, SCRAM_ERR_INVALID_ENCODING);
	/* a NUL inside: the length says where the message ends, not the NUL */
	assert_first_refused("n,,n=us\0er,r=abc", 16, SCRAM_ERR_INVALID_ENCODING);
}

/* Bounds: message SCRAM_MAX_MESSAGE, nonce SCRAM_MAX_NONCE, name
 * SCRAM_MAX_NAME; one more is refused, the limit itself accepted. */
static void test_scram_oversized_client_first_refused(void **state)
{
	char msg[SCRAM_MAX_MESSAGE + 64];
	char nonce[SCRAM_MAX_NONCE + 2], name[SCRAM_MAX_NAME + 2];
	memset(nonce, 'x', sizeof nonce - 1);
	nonce[sizeof nonce - 1] = '\0';
	memset(name, 'u', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	struct scram_server s;

	snprintf(msg, sizeof msg, "n,,n=user,r=%s", nonce);
	assert_first_refused(msg, strlen(msg), SCRAM_ERR_INVALID_ENCODING);
	nonce[SCRAM_MAX_NONCE] = '\0';
	snprintf(msg, sizeof msg, "n,,n=user,r=%s", nonce);
	assert_int_equal(scram_server_init(&s, SCRAM_SHA_256), KB_OK);
	assert_int_equal(scram_server_client_first(&s, msg, strlen(msg)), KB_OK);
	scram_check(&s);
	scram_server_fini(&s);

	snprintf(msg, sizeof msg, "n,,n=%s,r=abc", name);
	assert_first_refused(msg, strlen(msg), SCRAM_ERR_INVALID_USERNAME);
	name[SCRAM_MAX_NAME] = '\0';
	snprintf(msg, sizeof msg, "n,,n=%s,r=abc", name);
	assert_int_equal(scram_server_init(&s, SCRAM_SHA_256), KB_OK);
	assert_int_equal(scram_server_client_first(&s, msg, strlen(msg)), KB_OK);
	scram_server_fini(&s);

	/* SCRAM_MAX_MESSAGE + 1 bytes, otherwise well formed */
	memset(msg, 'a', sizeof msg);
	memcpy(msg, "n,,n=user,r=", 12);
	assert_first_refused(msg, SCRAM_MAX_MESSAGE + 1, SCRAM_ERR_INVALID_ENCODING);
}

/* ---- Hostile client-final messages ---- */

/* KAFKA: "Invalid client nonce in the final client message." */
static void test_scram_tampered_nonce_refused(void **state)
{
	const char *shorter = "c=biws,r=" RFC_CLIENT_NONCE
			      ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
	const char *changed = "c=biws,r=" RFC_CLIENT_NONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k1"
			      ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
	const char *longer = "c=biws,r=" RFC_CLIENT_NONCE RFC_SERVER_NONCE "x"
			     ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
	assert_final_refused(shorter, strlen(shorter), SCRAM_ERR_NONCE);
	assert_final_refused(changed, strlen(changed), SCRAM_ERR_NONCE);
	assert_final_refused(longer, strlen(longer), SCRAM_ERR_NONCE);
}

static void test_scram_malformed_client_final_refused(void **state)
{
	static const struct { const char *msg; enum scram_error err; } cases[] = {
		{RFC_FINAL_NO_PROOF, SCRAM_ERR_INVALID_ENCODING},
		{RFC_FINAL_NO_PROOF ",p=", SCRAM_ERR_INVALID_ENCODING},
		{RFC_FINAL_NO_PROOF ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ", SCRAM_ERR_INVALID_ENCODING},
		{RFC_FINAL_NO_PROOF ",p=dHzbZapWIk4jUhN+Ute9ytag9zjf*Hgsqmmiz7AndVQ=", SCRAM_ERR_INVALID_ENCODING},
		{RFC_FINAL_NO_PROOF ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7And=Q=", SCRAM_ERR_INVALID_ENCODING},
		/* well-formed base64 of 16 bytes: a proof of the wrong size */
		{RFC_FINAL_NO_PROOF ",p=AAAAAAAAAAAAAAAAAAAAAA==", SCRAM_ERR_INVALID_PROOF},
		{RFC_FINAL_NO_PROOF ",x=1,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", SCRAM_ERR_EXTENSIONS},
		{"r=" RFC_CLIENT_NONCE RFC_SERVER_NONCE ",c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", SCRAM_ERR_INVALID_ENCODING},
		{"c=eSws,r=" RFC_CLIENT_NONCE RFC_SERVER_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", SCRAM_ERR_BINDINGS_DONT_MATCH},
		{",", SCRAM_ERR_INVALID_ENCODING},
		{"c=biws,a=1,b=2,d=3,e=4,f=5,g=6,h=7,p=AAAA", SCRAM_ERR_INVALID_ENCODING},
		{"p=", SCRAM_ERR_INVALID_ENCODING},
	};
	for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++)
		assert_final_refused(cases[i].msg, strlen(cases[i].msg), cases[i].err);
	assert_final_refused("", 0, SCRAM_ERR_INVALID_ENCODING);

	char big[SCRAM_MAX_MESSAGE + 1];
	memset(big, 'A', sizeof big);
	memcpy(big, RFC_FINAL_NO_PROOF ",p=", strlen(RFC_FINAL_NO_PROOF) + 3);
	assert_final_refused(big, sizeof big, SCRAM_ERR_INVALID_ENCODING);
}

/* Every single-byte change of the RFC messages is refused or, where the
 * byte does not matter, accepted, and never breaks an invariant (run under
 * SANITIZE=1 for memory errors). */
static void test_scram_every_byte_flip_is_handled(void **state)
{
	static const uint8_t flips[] = {0x00, 0x01, 0x20, ',', '=', 0x80, 0xff};
	const char *first = RFC_CLIENT_FIRST, *final = RFC_CLIENT_FINAL;
	char m[SCRAM_MAX_MESSAGE];
	int accepted = 0;
	for (size_t i = 0; i < strlen(first); i++) {
		for (size_t f = 0; f < sizeof flips; f++) {
			struct scram_server s;
			memcpy(m, first, strlen(first));
			m[i] = (char)flips[f];
			assert_int_equal(scram_server_init(&s, SCRAM_SHA_256), KB_OK);
			if (scram_server_client_first(&s, m, strlen(first)) == KB_OK)
				accepted++;
			scram_check(&s);
			scram_server_fini(&s);
		}
	}
	for (size_t i = 0; i < strlen(final); i++) {
		for (size_t f = 0; f < sizeof flips; f++) {
			struct scram_server s;
			struct kb_buf out;
			kb_buf_init(&out);
			memcpy(m, final, strlen(final));
			if ((uint8_t)m[i] == flips[f])
				continue; /* no change */
			m[i] = (char)flips[f];
			assert_int_equal(server_upto_final(&s, RFC_CLIENT_FIRST), KB_OK);
			/* any change to the final message breaks the proof */
			assert_int_not_equal(scram_server_final(&s, m, strlen(final), &out), KB_OK);
			assert_int_equal(s.state, SCRAM_FAILED);
			scram_check(&s);
			scram_server_fini(&s);
			kb_buf_fini(&out);
		}
	}
	/* only the username's and nonce's characters may change and stay valid */
	assert_true(accepted > 0);
}

/* ---- The client side refuses a hostile server ---- */

static int client_against(const char *server_first, enum scram_error *err)
{
	struct scram_client c;
	struct kb_buf out;
	kb_buf_init(&out);
	assert_int_equal(scram_client_init(&c, SCRAM_SHA_256, "user", "pencil"), KB_OK);
	assert_int_equal(scram_client_set_nonce(&c, RFC_CLIENT_NONCE), KB_OK);
	assert_int_equal(scram_client_first(&c, &out), KB_OK);
	out.len = 0;
	int rc = scram_client_final(&c, server_first, strlen(server_first), &out);
	*err = c.error;
	scram_client_check(&c);
	if (rc != KB_OK)
		assert_int_equal(out.len, 0);
	kb_buf_fini(&out);
	scram_client_fini(&c);
	return rc;
}

static void test_scram_client_refuses_bad_server_first(void **state)
{
	static const struct { const char *msg; enum scram_error err; } cases[] = {
		/* the server's nonce must extend ours */
		{"r=" RFC_CLIENT_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", SCRAM_ERR_NONCE},
		{"r=XOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", SCRAM_ERR_NONCE},
		/* KAFKA: fewer than 4096 iterations refused; more than 16384 too */
		{"r=" RFC_CLIENT_NONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095", SCRAM_ERR_INVALID_ENCODING},
		{"r=" RFC_CLIENT_NONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=16385", SCRAM_ERR_INVALID_ENCODING},
		{"r=" RFC_CLIENT_NONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999", SCRAM_ERR_INVALID_ENCODING},
		{"r=" RFC_CLIENT_NONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=", SCRAM_ERR_INVALID_ENCODING},
		{"r=" RFC_CLIENT_NONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-4096", SCRAM_ERR_INVALID_ENCODING},
		{"r=" RFC_CLIENT_NONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096", SCRAM_ERR_INVALID_ENCODING},
		{"r=" RFC_CLIENT_NONCE "x,s=,i=4096", SCRAM_ERR_INVALID_ENCODING},
		{"m=x,r=" RFC_CLIENT_NONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", SCRAM_ERR_EXTENSIONS},
		{"e=other-error", SCRAM_ERR_INVALID_ENCODING},
	};
	enum scram_error err;
	for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
		assert_int_equal(client_against(cases[i].msg, &err), KB_ERR_PROTO);
		if (err != cases[i].err)
			fail_msg("\"%s\": error %s", cases[i].msg, scram_error_name(err));
	}
	/* the limits themselves are accepted */
	assert_int_equal(client_against("r=" RFC_CLIENT_NONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=16384",
					 &err), KB_OK);
}

/* A server that does not hold the keys cannot fake v=; "e=" is a refusal. */
static void test_scram_client_refuses_wrong_server_signature(void **state)
{
	static const char *answers[] = {
		"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4",
		"v=AAAA",
		"e=invalid-proof",
		"",
	};
	for (size_t i = 0; i < KB_ARRAY_LEN(answers); i++) {
		struct scram_client c;
		struct kb_buf out;
		kb_buf_init(&out);
		assert_int_equal(scram_client_init(&c, SCRAM_SHA_256, "user", "pencil"), KB_OK);
		assert_int_equal(scram_client_set_nonce(&c, RFC_CLIENT_NONCE), KB_OK);
		assert_int_equal(scram_client_first(&c, &out), KB_OK);
		assert_int_equal(scram_client_final(&c, RFC_SERVER_FIRST,
						    strlen(RFC_SERVER_FIRST), &out), KB_OK);
		assert_int_equal(scram_client_verify(&c, answers[i], strlen(answers[i])),
				 KB_ERR_PROTO);
		assert_int_equal(c.state, SCRAM_CLIENT_FAILED);
		scram_client_check(&c);
		kb_buf_fini(&out);
		scram_client_fini(&c);
	}
}

/* The server nonce hook takes printable nonces only. */
static void test_scram_set_nonce_bounds(void **state)
{
	struct scram_server s;
	assert_int_equal(scram_server_init(&s, SCRAM_SHA_256), KB_OK);
	assert_int_equal(scram_server_set_nonce(&s, ""), KB_ERR_INVAL);
	assert_int_equal(scram_server_set_nonce(&s, "a,b"), KB_ERR_INVAL);
	assert_int_equal(scram_server_set_nonce(&s, "a b"), KB_ERR_INVAL);
	char big[80];
	memset(big, 'n', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(scram_server_set_nonce(&s, big), KB_ERR_INVAL);
	assert_int_equal(scram_server_init(&s, 3), KB_ERR_INVAL);
	scram_server_fini(&s);
	struct scram_client c;
	assert_int_equal(scram_client_init(&c, SCRAM_SHA_256, "", "pw"), KB_ERR_INVAL);
	scram_client_fini(&c);
}

int main(void)
{
	tu_log_quiet();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scram_credential_derive_matches_independent_values),
		cmocka_unit_test(test_scram_credential_bounds),
		cmocka_unit_test(test_scram_credential_init_draws_random_salt),
		cmocka_unit_test(test_scram_mechanism_names),
		cmocka_unit_test(test_scram_server_rfc7677_exchange),
		cmocka_unit_test(test_scram_client_rfc7677_exchange),
		cmocka_unit_test(test_scram_sha512_round_trip_random_nonces),
		cmocka_unit_test(test_scram_username_escaping_round_trip),
		cmocka_unit_test(test_scram_wrong_password_is_invalid_proof),
		cmocka_unit_test(test_scram_failed_is_terminal),
		cmocka_unit_test(test_scram_steps_out_of_order_refused),
		cmocka_unit_test(test_scram_unknown_user_refused),
		cmocka_unit_test(test_scram_authzid_must_be_the_user),
		cmocka_unit_test(test_scram_channel_binding_refused),
		cmocka_unit_test(test_scram_malformed_client_first_refused),
		cmocka_unit_test(test_scram_oversized_client_first_refused),
		cmocka_unit_test(test_scram_tampered_nonce_refused),
		cmocka_unit_test(test_scram_malformed_client_final_refused),
		cmocka_unit_test(test_scram_every_byte_flip_is_handled),
		cmocka_unit_test(test_scram_client_refuses_bad_server_first),
		cmocka_unit_test(test_scram_client_refuses_wrong_server_signature),
		cmocka_unit_test(test_scram_set_nonce_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
