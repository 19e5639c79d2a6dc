/* SPDX-License-Identifier: MIT */
/*
 * Chapter 13, TLS: what 13_tls.c shares with 13_tls_peer.c and no other
 * chapter may use. A listener's context and a peer's are built from the
 * same ssl.* keys the same way: versions and modes, and the keystore.
 * Rules of each in 13_tls.c ("Lifecycle", "Small helpers").
 */
#ifndef SAMSA_TLS_INTERNAL_H
#define SAMSA_TLS_INTERNAL_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "13_tls.h"

/* ssl.enabled.protocols as a version range, no renegotiation, partial and moving writes (Invariant 3). */
int tls_ctx_common(SSL_CTX *ctx, const struct tls_config *cfg,
		   struct tls_error *why);
/* ssl.keystore.location, or ssl.keystore.key with .certificate.chain, into ctx; KB_ERR_INVAL (why names key and file). */
int tls_load_keystore(SSL_CTX *ctx, const struct tls_config *cfg,
		      struct tls_error *why);
/* OpenSSL's first queued error in words into buf; the queue is emptied. */
void tls_ssl_reason(char *buf, size_t len);
/* Fill why (printf style) and return KB_ERR_INVAL. */
int tls_refuse(struct tls_error *why, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
