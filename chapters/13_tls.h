/* SPDX-License-Identifier: MIT */
/*
 * Chapter 13 — security, part TLS: SSL listeners (and mutual TLS) as a
 * transport of chapter 05's reactor, and its peers' TLS (13_tls_peer.c). The only surface later chapters may
 * use; the lesson is in 13_tls.c, the rules in docs/13_tls.md.
 * Single-threaded: the reactor thread owns every struct tls_server.
 */
#ifndef SAMSA_TLS_H
#define SAMSA_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "00_base.h"
#include "05_server.h"

/* Room for a file name (ssl.keystore.location, ssl.truststore.location). */
#define TLS_PATH_MAX 512
/* Room for PEM text given inline (ssl.keystore.key,
 * ssl.keystore.certificate.chain): a key and a chain of a few certificates. */
#define TLS_PEM_MAX 8192
/* Room for ssl.key.password, ssl.enabled.protocols, a type. */
#define TLS_SHORT_MAX 256
/* listener.name.<name>.ssl.* overrides for at most this many listeners. */
#define TLS_OVERRIDES_MAX 4
/* Room for a listener name, NUL included (BROKER_LISTENER_NAME_MAX). */
#define TLS_NAME_MAX 32

/* KAFKA: ssl.client.auth. */
enum tls_client_auth {
	TLS_CLIENT_AUTH_NONE = 0,  /* "none": no client certificate asked */
	TLS_CLIENT_AUTH_REQUESTED, /* "requested": asked, checked if sent */
	TLS_CLIENT_AUTH_REQUIRED,  /* "required": mutual TLS */
};

/* One listener's ssl.* keys, as Kafka spells them. Fixed arrays: the
 * struct is copied with struct broker_config. set has bit i for the i-th
 * key of 13_tls.c's key table that was given (overrides win per key). */
struct tls_config {
	char keystore_type[TLS_SHORT_MAX];       /* ssl.keystore.type: PEM */
	char keystore_location[TLS_PATH_MAX];    /* ssl.keystore.location */
	char keystore_key[TLS_PEM_MAX];          /* ssl.keystore.key */
	char keystore_chain[TLS_PEM_MAX];        /* ssl.keystore.certificate.chain */
	char key_password[TLS_SHORT_MAX];        /* ssl.key.password */
	char truststore_type[TLS_SHORT_MAX];     /* ssl.truststore.type: PEM */
	char truststore_location[TLS_PATH_MAX];  /* ssl.truststore.location */
	char client_auth[TLS_SHORT_MAX];         /* ssl.client.auth */
	char enabled_protocols[TLS_SHORT_MAX];   /* ssl.enabled.protocols */
	/* ssl.endpoint.identification.algorithm: "https" (Kafka's default)
	 * or "" (no host name check); used when this node dials a peer. */
	char endpoint_identification[TLS_SHORT_MAX];
	uint32_t set;
};

/* Every ssl.* key of a config file: the listener-wide ones and the
 * listener.name.<name>.ssl.* overrides (KAFKA: ListenerName prefix). */
struct tls_settings {
	struct tls_config base;
	char names[TLS_OVERRIDES_MAX][TLS_NAME_MAX]; /* upper-cased */
	struct tls_config per[TLS_OVERRIDES_MAX];
	int n;
};

/* Why a key or a listener's TLS setup was refused, in words. */
struct tls_error {
	char msg[512];
};

/* An SSL listener's context (KAFKA: SslFactory): an SSL_CTX. */
struct tls_server;

/* Kafka's defaults (PEM, none, TLSv1.2,TLSv1.3) in every scope. */
void tls_settings_init(struct tls_settings *s);
/* Store ssl.* or listener.name.<name>.ssl.*: KB_ERR_NOTFOUND when key is
 * not one, KB_ERR_INVAL (why) when its value is refused. */
int tls_settings_set(struct tls_settings *s, const char *key,
		     const char *value, struct tls_error *why);
/* The keys listener name uses: the base, each key its override gives replaced. */
void tls_settings_for(const struct tls_settings *s, const char *name,
		      struct tls_config *out);
/* Build and check an SSL listener's context: files readable, PEM parses, key matches certificate; returns owned *out (tls_server_free). */
int tls_server_new(const struct tls_config *cfg, struct tls_server **out,
		   struct tls_error *why);
/* Free the context (connections keep their own reference). */
void tls_server_free(struct tls_server *ts);
/* The transport for a struct net_endpoint; its tp_ctx is a struct tls_server. */
const struct net_transport *tls_transport(void);
/* Assert the invariants of 13_tls.c on ts. */
void tls_server_check(const struct tls_server *ts);

/* ---- Dialling peers over TLS (13_tls_peer.c) ---- */

/* A node's client context for one kind of listener it dials (KAFKA: SslFactory, client mode). */
struct tls_client;

/* Build it from that listener's keys: versions, keystore if any, truststore (else the system's CAs), ssl.endpoint.identification.algorithm; returns owned *out (tls_client_free). */
int tls_client_new(const struct tls_config *cfg, struct tls_client **out,
		   struct tls_error *why);
/* Free the context (open peers keep their own reference). */
void tls_client_free(struct tls_client *tc);
/* The transport for net_server_set_peer_transport; its ctx is a struct tls_client. */
const struct net_peer_transport *tls_peer_transport(void);
/* Assert the invariants of 13_tls_peer.c on tc. */
void tls_client_check(const struct tls_client *tc);

#endif
