/* SPDX-License-Identifier: MIT */
/*
 * Chapter 13, SCRAM: what 13_scram.c shares with 13_scram_client.c and no
 * other chapter may use. The message helpers (attributes, base64, nonces)
 * and the key derivation both sides need, written once. Rules of each in
 * 13_scram.c, "Message helpers".
 */
#ifndef SAMSA_SCRAM_INTERNAL_H
#define SAMSA_SCRAM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "00_base.h"
#include "13_scram.h"

/* Longest server nonce part we send or take from scram_server_set_nonce. */
#define SCRAM_MAX_SERVER_NONCE 64
/* Attributes of one message we read (a=, n=, r=, ... are at most four). */
#define SCRAM_MAX_ATTRS 8

/* One "x=value" attribute of a message; val borrowed from the message. */
struct scram_attr {
	char name;
	const char *val;
	size_t len;
};

/* SaltedPassword = PBKDF2-HMAC-H(password, salt, iterations), with cred's
 * mechanism, salt and iterations, into salted (scram_key_len bytes). */
int scram_salt_password(const struct scram_credential *cred,
			const char *password, size_t password_len,
			uint8_t *salted);
/* ClientKey, StoredKey = H(ClientKey), ServerKey from salted. */
int scram_keys(enum scram_mechanism mech, const uint8_t *salted,
	       uint8_t *client_key, uint8_t *stored_key, uint8_t *server_key);
/* out = HMAC-H(key, data); key and out are scram_key_len(mech) bytes. */
int scram_hmac(enum scram_mechanism mech, const uint8_t *key,
	       const void *data, size_t len, uint8_t *out);
/* Append base64 of n bytes (n <= SCRAM_MAX_MESSAGE) to b. */
int scram_b64_put(struct kb_buf *b, const uint8_t *in, size_t n);
/* Decode strict base64 into at most cap bytes; KB_ERR_PROTO if malformed. */
int scram_b64_get(const char *s, size_t n, uint8_t *out, size_t cap,
		  size_t *out_len);
/* No NUL or other control byte in len bytes (UTF-8 >= 0x80 passes). */
bool scram_printable(const char *msg, size_t len);
/* 1..max characters of 0x21..0x7E except ','. */
bool scram_nonce_ok(const char *s, size_t len, size_t max);
/* Cut msg at ',' into at most SCRAM_MAX_ATTRS "x=value" attributes. */
int scram_split(const char *msg, size_t len, struct scram_attr *a, size_t *n);
/* A fresh nonce from RAND_bytes into out (at least 25 bytes). */
int scram_random_nonce(char *out);
/* Append the C string s to b. */
int scram_put(struct kb_buf *b, const char *s);
/* returns owned (free()): a NUL-terminated copy of n bytes of s. */
char *scram_strndup(const char *s, size_t n);
/* returns owned (free()): b's bytes as a C string. */
char *scram_copy_cstr(struct kb_buf *b);
/* Wipe and free a secret string (NULL is fine). */
void scram_free_secret(char *s);
/* True when s is a NUL-terminated string of 1..max bytes. */
bool scram_str_ok(const char *s, size_t max);

#endif
