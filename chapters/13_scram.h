/* SPDX-License-Identifier: MIT */
/*
 * Chapter 13 — security, part SCRAM: salted challenge-response
 * authentication (RFC 5802, RFC 7677) with SHA-256 and SHA-512.
 * The only surface later chapters may use. Pure: no sockets, no SASL
 * framing; the caller carries the messages (SaslAuthenticate, or a test).
 * The rules of each function are in docs/13_scram.md. Single-threaded:
 * one struct scram_server per authenticating connection.
 */
#ifndef SAMSA_SCRAM_H
#define SAMSA_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "00_base.h"

/* KAFKA: ScramMechanism's type ids, the Mechanism field of
 * UserScramCredentialRecord (1 = SCRAM-SHA-256, 2 = SCRAM-SHA-512). */
enum scram_mechanism {
	SCRAM_SHA_256 = 1,
	SCRAM_SHA_512 = 2,
};

/* KAFKA: ScramMechanism.minIterations (4096) and maxIterations (16384). */
#define SCRAM_MIN_ITERATIONS 4096
#define SCRAM_MAX_ITERATIONS 16384
/* Bytes of the longest key (SHA-512's output). */
#define SCRAM_MAX_KEY 64
/* Bytes of a salt we accept (Kafka's generated salts are ~26 bytes). */
#define SCRAM_MAX_SALT 128
/* Bytes of a salt scram_credential_init draws from RAND_bytes. */
#define SCRAM_SALT_BYTES 32
/* Bytes of the longest SCRAM message we read (client or server side). */
#define SCRAM_MAX_MESSAGE 1024
/* Characters of the longest nonce part (each side's) we accept. */
#define SCRAM_MAX_NONCE 256
/* Bytes of the longest user name, after =2C/=3D unescaping. */
#define SCRAM_MAX_NAME 255
/* Random bytes behind a generated nonce (base64: 24 characters). */
#define SCRAM_NONCE_BYTES 18

/* Why an exchange was refused; each has an RFC 5802 server-error-value
 * (scram_error_name). SCRAM_ERR_AUTHZID and SCRAM_ERR_NONCE are samsa's
 * finer causes of "other-error" and "invalid-encoding". */
enum scram_error {
	SCRAM_ERR_NONE = 0,
	SCRAM_ERR_INVALID_ENCODING,      /* malformed or oversized message */
	SCRAM_ERR_EXTENSIONS,            /* m= or any extension */
	SCRAM_ERR_INVALID_PROOF,         /* wrong password */
	SCRAM_ERR_CHANNEL_BINDING,       /* p= or y: channel binding asked */
	SCRAM_ERR_BINDINGS_DONT_MATCH,   /* c= is not base64(gs2 header) */
	SCRAM_ERR_UNKNOWN_USER,          /* no credential for the user */
	SCRAM_ERR_INVALID_USERNAME,      /* bad =XX escape, empty or too long */
	SCRAM_ERR_AUTHZID,               /* a= names another user */
	SCRAM_ERR_NONCE,                 /* r= does not match the exchange's */
	SCRAM_ERR_STATE,                 /* a step called out of order */
	SCRAM_ERR_SERVER_SIGNATURE,      /* client side: v= does not match */
	SCRAM_ERR_OTHER,                 /* no resources, bad credential */
};

/* One user's credential for one mechanism.
 * KAFKA: UserScramCredentialRecord (metadata record 11) and ScramCredential:
 * name, mechanism, salt, stored_key, server_key, iterations. The password
 * itself is never kept. Plain data (no pointers): copy it freely. */
struct scram_credential {
	char name[SCRAM_MAX_NAME + 1]; /* NUL-terminated, 1..SCRAM_MAX_NAME */
	enum scram_mechanism mechanism;
	uint8_t salt[SCRAM_MAX_SALT];
	size_t salt_len;                  /* 1..SCRAM_MAX_SALT */
	uint8_t stored_key[SCRAM_MAX_KEY]; /* H(ClientKey); scram_key_len bytes */
	uint8_t server_key[SCRAM_MAX_KEY]; /* HMAC(SaltedPassword, "Server Key") */
	int32_t iterations;               /* SCRAM_MIN..MAX_ITERATIONS */
};

/* States of the server side (KAFKA: ScramSaslServer.State, with the
 * credential lookup made a state of its own). */
enum scram_server_state {
	SCRAM_RECEIVE_CLIENT_FIRST,  /* scram_server_client_first next */
	SCRAM_LOOKUP_CREDENTIAL,     /* scram_server_first next */
	SCRAM_RECEIVE_CLIENT_FINAL,  /* scram_server_final next */
	SCRAM_COMPLETE,              /* authenticated; terminal */
	SCRAM_FAILED,                /* refused; terminal */
};

/* The server side of one exchange. Every pointer is owned and freed by
 * scram_server_fini. */
struct scram_server {
	enum scram_mechanism mechanism;
	enum scram_server_state state;
	enum scram_error error;       /* why FAILED; SCRAM_ERR_NONE otherwise */
	char *username;               /* owned: unescaped user name */
	char *gs2_header;             /* owned: "n,," or "n,a=<authzid>," */
	char *client_first_bare;      /* owned: "n=...,r=..." as received */
	char *nonce;                  /* owned: client nonce, then + server's */
	size_t client_nonce_len;      /* the client's part of nonce */
	char *server_first;           /* owned: "r=...,s=...,i=..." as sent */
	char *fixed_nonce;            /* owned: scram_server_set_nonce, or NULL */
	struct scram_credential cred; /* copied in by scram_server_first */
};

/* States of the client side (KAFKA: ScramSaslClient.State). */
enum scram_client_state {
	SCRAM_CLIENT_SEND_FIRST,           /* scram_client_first next */
	SCRAM_CLIENT_RECEIVE_SERVER_FIRST, /* scram_client_final next */
	SCRAM_CLIENT_RECEIVE_SERVER_FINAL, /* scram_client_verify next */
	SCRAM_CLIENT_COMPLETE,             /* server verified; terminal */
	SCRAM_CLIENT_FAILED,               /* refused; terminal */
};

/* The client side of one exchange (tests; later inter-broker SASL).
 * Every pointer is owned and freed by scram_client_fini. */
struct scram_client {
	enum scram_mechanism mechanism;
	enum scram_client_state state;
	enum scram_error error;       /* why FAILED; SCRAM_ERR_NONE otherwise */
	char *username;               /* owned: as given (escaped when sent) */
	char *password;               /* owned: wiped and freed after final */
	char *client_first_bare;      /* owned */
	char *nonce;                  /* owned: client nonce */
	uint8_t server_signature[SCRAM_MAX_KEY]; /* expected v= */
};

/* ---- Mechanisms and credentials ---- */

/* Key (digest) length of mech in bytes: 32 or 64; 0 for an unknown mech. */
size_t scram_key_len(enum scram_mechanism mech);
/* "SCRAM-SHA-256" / "SCRAM-SHA-512" (SASL mechanism names), or NULL. */
const char *scram_mechanism_name(enum scram_mechanism mech);
/* The mechanism a SASL mechanism name stands for; KB_ERR_NOTFOUND if none. */
int scram_mechanism_parse(const char *name, enum scram_mechanism *out);
/* RFC 5802 server-error-value of err ("invalid-proof", ...). */
const char *scram_error_name(enum scram_error err);

/* Start a credential for name: mechanism, iterations, a random salt. */
int scram_credential_init(struct scram_credential *cred, const char *name,
			  enum scram_mechanism mech, int32_t iterations);
/* Replace the salt (1..SCRAM_MAX_SALT bytes); borrows salt. */
int scram_credential_set_salt(struct scram_credential *cred,
			      const uint8_t *salt, size_t len);
/* Fill stored_key and server_key from password and the salt and iterations. */
int scram_credential_derive(struct scram_credential *cred,
			    const char *password, size_t password_len);
/* KB_OK when every field is within its bounds (a record read from a log). */
int scram_credential_validate(const struct scram_credential *cred);

/* ---- Server side ---- */

/* A new exchange for mech in SCRAM_RECEIVE_CLIENT_FIRST. */
int scram_server_init(struct scram_server *s, enum scram_mechanism mech);
/* Use nonce (printable, no ',', 1..64 chars) as the server nonce; tests only. */
int scram_server_set_nonce(struct scram_server *s, const char *nonce);
/* Read client-first-message; then scram_server_username is the user to look up. */
int scram_server_client_first(struct scram_server *s, const char *msg, size_t len);
/* The unescaped user name (valid until fini), NULL before client-first. */
const char *scram_server_username(const struct scram_server *s);
/* Answer with server-first-message (appended to out); cred NULL: unknown user. */
int scram_server_first(struct scram_server *s, const struct scram_credential *cred,
		       struct kb_buf *out);
/* Check client-final-message; appends server-final ("v=..." or "e=...") to out. */
int scram_server_final(struct scram_server *s, const char *msg, size_t len,
		       struct kb_buf *out);
/* Free everything the exchange holds and wipe its secrets. */
void scram_server_fini(struct scram_server *s);
/* Assert the invariants of chapters/13_scram.c on s. */
void scram_check(const struct scram_server *s);

/* ---- Client side ---- */

/* A new client exchange; copies username and password. */
int scram_client_init(struct scram_client *c, enum scram_mechanism mech,
		      const char *username, const char *password);
/* Use nonce as the client nonce (printable, no ','); tests only. */
int scram_client_set_nonce(struct scram_client *c, const char *nonce);
/* Append client-first-message "n,,n=<user>,r=<nonce>" to out. */
int scram_client_first(struct scram_client *c, struct kb_buf *out);
/* Read server-first-message, append client-final-message (with proof) to out. */
int scram_client_final(struct scram_client *c, const char *msg, size_t len,
		       struct kb_buf *out);
/* Check server-final-message: KB_OK only for the right v=. */
int scram_client_verify(struct scram_client *c, const char *msg, size_t len);
/* Free everything and wipe the password and keys. */
void scram_client_fini(struct scram_client *c);
/* Assert the invariants of chapters/13_scram_client.c on c. */
void scram_client_check(const struct scram_client *c);

#endif
