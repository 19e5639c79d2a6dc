/* SPDX-License-Identifier: MIT */
/*
 * Chapter 13 — security, part SASL: SASL_PLAINTEXT and SASL_SSL
 * listeners, SaslHandshake (17) and SaslAuthenticate (36), the PLAIN and
 * SCRAM mechanisms; a broker's own PLAIN login to an inter-broker SASL
 * listener (13_sasl_peer.c). The only surface later chapters may use; the lesson
 * is in 13_sasl.c, the rules in docs/13_sasl.md. Single-threaded: the
 * reactor thread owns every struct sasl_server and its connections' state.
 */
#ifndef SAMSA_SASL_H
#define SAMSA_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "00_base.h"
#include "05_server.h"
#include "13_scram.h"

/* Room for sasl.enabled.mechanisms' text. */
#define SASL_LIST_MAX 256
/* Room for a listener's plain.sasl.jaas.config text. */
#define SASL_JAAS_MAX 4096
/* listener.name.<name>.sasl.* overrides for at most this many listeners. */
#define SASL_OVERRIDES_MAX 4
/* Room for a listener name, NUL included (BROKER_LISTENER_NAME_MAX). */
#define SASL_NAME_MAX 32
/* KAFKA: connection.failed.authentication.delay.ms default. */
#define SASL_DEFAULT_FAILED_AUTH_DELAY_MS 100
/* PLAIN users one listener may have (user_<name>="<password>"). */
#define SASL_PLAIN_USERS_MAX 64
/* Bytes of a PLAIN user name or password. */
#define SASL_PLAIN_FIELD_MAX 255

/* The mechanisms samsa serves, as bits of a set (KAFKA: the names of
 * sasl.enabled.mechanisms). */
enum sasl_mechanism {
	SASL_MECH_PLAIN = 1u << 0,
	SASL_MECH_SCRAM_SHA_256 = 1u << 1,
	SASL_MECH_SCRAM_SHA_512 = 1u << 2,
};

/* One listener's SASL keys, as Kafka spells them. Fixed arrays: the
 * struct is copied with struct broker_config. */
struct sasl_config {
	char enabled_mechanisms[SASL_LIST_MAX]; /* sasl.enabled.mechanisms */
	char plain_jaas[SASL_JAAS_MAX];  /* listener.name.<n>.plain.sasl.jaas.config */
	int64_t failed_auth_delay_ms;    /* connection.failed.authentication.delay.ms */
	int64_t reauth_ms;               /* connections.max.reauth.ms (0: never) */
	uint32_t set;                    /* bit 0: mechanisms given, bit 1: jaas */
	char inter_broker_mechanism[SASL_NAME_MAX]; /* sasl.mechanism.inter.broker.protocol (broker-wide) */
};

/* Every SASL key of a config file: the broker-wide ones and the
 * listener.name.<name>.* overrides. */
struct sasl_settings {
	struct sasl_config base;
	char names[SASL_OVERRIDES_MAX][SASL_NAME_MAX]; /* upper-cased */
	struct sasl_config per[SASL_OVERRIDES_MAX];
	int n;
};

/* Why a key or a listener's SASL setup was refused, in words. */
struct sasl_error {
	char msg[512];
};

/* Where SCRAM credentials come from (chapter 13's 13_scram_creds.c: the
 * metadata image). KB_OK and *out filled, or KB_ERR_NOTFOUND. */
typedef int (*sasl_scram_lookup_fn)(void *ctx, const char *user,
				    enum scram_mechanism mech,
				    struct scram_credential *out);

/* A SASL listener's authenticator (KAFKA: SaslChannelBuilder with its
 * SaslServer factories and callback handlers). */
struct sasl_server;

/* Kafka's defaults (GSSAPI, 100 ms) in every scope. */
void sasl_settings_init(struct sasl_settings *s);
/* Store sasl.enabled.mechanisms, connection.failed.authentication.delay.ms, connections.max.reauth.ms or a listener.name.<name>. override: KB_ERR_NOTFOUND when key is not one, KB_ERR_INVAL (why) when its value is refused. */
int sasl_settings_set(struct sasl_settings *s, const char *key,
		      const char *value, struct sasl_error *why);
/* The keys listener name uses: the base, each key its override gives replaced. */
void sasl_settings_for(const struct sasl_settings *s, const char *name,
		       struct sasl_config *out);
/* The set of enum sasl_mechanism bits cfg enables; KB_ERR_INVAL (why) for a name samsa does not serve or an empty list. */
int sasl_config_mechanisms(const struct sasl_config *cfg, unsigned *out,
			   struct sasl_error *why);
/* Build a listener's authenticator: mechanisms served, PLAIN users parsed; returns owned *out (sasl_server_free). */
int sasl_server_new(const struct sasl_config *cfg, struct sasl_server **out,
		    struct sasl_error *why);
/* Free it (after the server whose connections use it). NULL-safe. */
void sasl_server_free(struct sasl_server *ss);
/* Look SCRAM users up with fn(ctx, ...) from now on (NULL: every user unknown). borrows: ctx. */
void sasl_server_set_scram_lookup(struct sasl_server *ss,
				  sasl_scram_lookup_fn fn, void *ctx);
/* The authenticator for a struct net_endpoint; its auth_ctx is a struct sasl_server. */
const struct net_authenticator *sasl_authenticator(void);
/* Serve SaslHandshake v0-1 and SaslAuthenticate v0-2 on srv's BROKER listeners. */
int sasl_register(struct net_server *srv);
/* The PlainLoginModule's username= and password= of cfg's plain.sasl.jaas.config, each into SASL_PLAIN_FIELD_MAX + 1 bytes: the node's own login; KB_ERR_INVAL (why). */
int sasl_config_login(const struct sasl_config *cfg, char *user,
		      char *password, struct sasl_error *why);

/* ---- Logging in to an inter-broker SASL listener (13_sasl_peer.c) ---- */

/* A node's SASL PLAIN login, wrapped around inner (the TLS peer transport for SASL_SSL; NULL: the bare socket). */
struct sasl_client;
/* Build it from the inter-broker listener's keys; returns owned *out (sasl_client_free). borrows: inner_ctx. */
int sasl_client_new(const struct sasl_config *cfg,
		    const struct net_peer_transport *inner, void *inner_ctx,
		    struct sasl_client **out, struct sasl_error *why);
/* Free it (after the server whose peers use it; the password is wiped). NULL-safe. */
void sasl_client_free(struct sasl_client *sc);
/* The transport for net_server_set_peer_transport; its ctx is a struct sasl_client. */
const struct net_peer_transport *sasl_peer_transport(void);
/* Assert the invariants of 13_sasl.c on ss. */
void sasl_server_check(const struct sasl_server *ss);

#endif
