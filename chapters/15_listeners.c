/* SPDX-License-Identifier: MIT */
/*
 * Chapter 15 — listeners: the endpoints of a node and the voters of its
 * KRaft quorum, as server.properties spells them.
 *
 * Concept: a node of a cluster listens twice, once for clients and other
 *   brokers and once for the controllers' quorum. Each listener has a
 *   name; a map gives each name its security protocol; two keys say which
 *   name is the controllers' and which the brokers' own. The voters of the
 *   quorum are a fixed list of id@host:port. All of it is checked here,
 *   once, before anything is opened, with a message that names the fix.
 * Kafka: KafkaConfig's listeners, advertised.listeners,
 *   listener.security.protocol.map, controller.listener.names,
 *   inter.broker.listener.name (CoreUtils.listenerListToEndPoints,
 *   KafkaConfig.validateValues); QuorumConfig.parseVoterConnections for
 *   controller.quorum.voters.
 * Interface:
 *   - broker_listeners_parse, broker_protocols_parse, broker_voters_parse
 *     are the key table's parsers (15_config.c); each fills its out array
 *     only when the whole value is good.
 *   - broker_cluster_finish runs inside broker_config_finish: it decides
 *     each listener's kind and the client listener (listener_host/port).
 * Invariants:
 *   1. At most BROKER_LISTENERS_MAX listeners, names unique, ports unique
 *      unless 0; every name maps to a protocol this build serves
 *      (PLAINTEXT; SSL and SASL_* from chapter 13) once finished.
 *   2. 1..BROKER_QUORUM_MAX voters with unique ids and ports 1..65535.
 *   3. A finished config of a broker has exactly one client listener
 *      (kind BROKER, copied to listener_host/port) and at most one
 *      CONTROLLER listener, whose name is controller_listener; that of a
 *      controller-only node (process.roles=controller) has exactly one
 *      listener, the CONTROLLER one, and no client listener.
 *   (Checked by broker_cluster_check at the end of broker_cluster_finish.)
 * Simplifications: PLAINTEXT and (chapter 13) SSL, SASL_PLAINTEXT and
 *   SASL_SSL are served; the listeners a cluster's peers dial (controller,
 *   inter-broker) are PLAINTEXT or SSL, and the inter-broker one may be
 *   SASL_* with PLAIN (no SASL controller listener, no other
 *   sasl.mechanism.inter.broker.protocol); one controller listener (the first name of
 *   controller.listener.names); voters by static list only (no KIP-853
 *   controller.quorum.bootstrap.servers).
 * See also: docs/15_listeners.md, diagrams/15_listeners.dot,
 *   docs/15_config.md, tests/15_config_test.c,
 *   config/cluster/node*.properties; read before: 15_config.c. Uses
 *   chapters 00 (base), 05 (net_listener_kind), 06 (TOPIC_HOST_MAX).
 */
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "00_base.h"
#include "05_server.h"
#include "06_topics.h"
#include "15_properties.h"
#include "15_config.h"

/* Which chapters are built in (`make stage-NN`; see 15_config.c). */
#ifndef SAMSA_STAGE
#define SAMSA_STAGE 15
#endif

/* Longest one entry of a list may be ("NAME://host:port"). */
#define ITEM_MAX (BROKER_LISTENER_NAME_MAX + TOPIC_HOST_MAX + 16)

static int next_item(const char **p, char *item, struct broker_error *why);
static int parse_listener(const char *item, struct broker_listener *l,
			  struct broker_error *why);
static int parse_host_port(const char *value, const char *hp, char *host,
			   int32_t *port, struct broker_error *why);
static int copy_name(char *dst, const char *src, size_t len,
		     struct broker_error *why);
static const struct broker_listener *find_listener(
	const struct broker_listener *ls, int n, const char *name);
static int check_protocols(const struct broker_config *cfg,
			   struct broker_error *err);
static int check_dialled(const struct broker_config *cfg, const char *name,
			 bool controller, struct broker_error *err);
static int check_roles(struct broker_config *cfg, struct broker_error *err);
static int check_voter(const struct broker_config *cfg, bool controller,
		       struct broker_error *err);
static int check_broker_listener(const struct broker_config *cfg,
				 struct broker_error *err);
static int check_controller_only(const struct broker_config *cfg,
				 struct broker_error *err);

/* ---- Parsing ---- */

/* INVARIANT: 1. */
int broker_listeners_parse(const char *value, struct broker_listener *out,
			   int *n, struct broker_error *why)
{
	struct broker_listener ls[BROKER_LISTENERS_MAX];
	char item[ITEM_MAX];
	int count = 0;
	for (const char *p = value; *p;) {
		if (next_item(&p, item, why) != KB_OK)
			return KB_ERR_INVAL;
		if (count == BROKER_LISTENERS_MAX)
			return broker_refuse(why, "'%s': more than %d listeners",
					     value, BROKER_LISTENERS_MAX);
		struct broker_listener *l = &ls[count];
		if (parse_listener(item, l, why) != KB_OK)
			return KB_ERR_INVAL;
		if (find_listener(ls, count, l->name))
			return broker_refuse(why, "'%s': the listener name %s is "
					     "used twice", value, l->name);
		for (int i = 0; i < count; i++)
			if (l->port != 0 && ls[i].port == l->port)
				return broker_refuse(why, "'%s': port %d is used "
						     "twice", value, (int)l->port);
		count++;
	}
	if (count == 0)
		return broker_refuse(why, "no listener given");
	memcpy(out, ls, (size_t)count * sizeof ls[0]);
	*n = count;
	return KB_OK;
}

/* NAME:PROTOCOL,... KAFKA: both sides upper-cased; a name once. */
int broker_protocols_parse(const char *value, struct broker_protocol *out,
			   int *n, struct broker_error *why)
{
	struct broker_protocol ps[BROKER_PROTOCOLS_MAX];
	char item[ITEM_MAX];
	int count = 0;
	for (const char *p = value; *p;) {
		if (next_item(&p, item, why) != KB_OK)
			return KB_ERR_INVAL;
		char *colon = strchr(item, ':');
		if (!colon || colon == item || colon[1] == '\0')
			return broker_refuse(why, "'%s' is not NAME:PROTOCOL", item);
		if (count == BROKER_PROTOCOLS_MAX)
			return broker_refuse(why, "more than %d names",
					     BROKER_PROTOCOLS_MAX);
		if (copy_name(ps[count].name, item, (size_t)(colon - item), why) ||
		    copy_name(ps[count].protocol, colon + 1, strlen(colon + 1), why))
			return KB_ERR_INVAL;
		for (int i = 0; i < count; i++)
			if (strcmp(ps[i].name, ps[count].name) == 0)
				return broker_refuse(why, "the name %s is mapped "
						     "twice", ps[i].name);
		count++;
	}
	memcpy(out, ps, (size_t)count * sizeof ps[0]);
	*n = count;
	return KB_OK;
}

/* INVARIANT: 2. KAFKA: QuorumConfig.parseVoterConnections. */
int broker_voters_parse(const char *value, struct broker_voter *out, int *n,
			struct broker_error *why)
{
	struct broker_voter vs[BROKER_QUORUM_MAX];
	char item[ITEM_MAX];
	int count = 0;
	for (const char *p = value; *p;) {
		if (next_item(&p, item, why) != KB_OK)
			return KB_ERR_INVAL;
		if (count == BROKER_QUORUM_MAX)
			return broker_refuse(why, "more than %d voters",
					     BROKER_QUORUM_MAX);
		char *at = strchr(item, '@'), *end;
		long id = at ? strtol(item, &end, 10) : -1;
		if (!at || at == item || end != at || id < 0 || id > INT32_MAX)
			return broker_refuse(why, "'%s' is not id@host:port", item);
		struct broker_voter *v = &vs[count];
		v->id = (int32_t)id;
		if (parse_host_port(item, at + 1, v->host, &v->port, why) != KB_OK)
			return KB_ERR_INVAL;
		if (v->port == 0 || v->host[0] == '\0')
			return broker_refuse(why, "'%s': a voter needs a host and a "
					     "port 1 to 65535", item);
		for (int i = 0; i < count; i++)
			if (vs[i].id == v->id)
				return broker_refuse(why, "voter id %d is given "
						     "twice", (int)v->id);
		count++;
	}
	if (count == 0)
		return broker_refuse(why, "no voter given (id@host:port,...)");
	memcpy(out, vs, (size_t)count * sizeof vs[0]);
	*n = count;
	return KB_OK;
}

const char *broker_listener_protocol(const struct broker_config *cfg,
				     const char *name)
{
	for (int i = 0; i < cfg->n_protocols; i++)
		if (strcmp(cfg->protocols[i].name, name) == 0)
			return cfg->protocols[i].protocol;
	return NULL;
}

/* ---- Whole-config checks ---- */

/* KAFKA: KafkaConfig.validateValues, the listener and quorum part. */
int broker_cluster_finish(struct broker_config *cfg, struct broker_error *err)
{
	if (check_protocols(cfg, err) != KB_OK)
		return KB_ERR_INVAL;
	snprintf(cfg->peer_controller_listener,
		 sizeof cfg->peer_controller_listener, "%s",
		 cfg->controller_listener); /* check_roles may clear it */
	if (check_roles(cfg, err) != KB_OK)
		return KB_ERR_INVAL;
	for (int i = 0; i < cfg->n_listeners; i++) {
		struct broker_listener *l = &cfg->listeners[i];
		bool ctl = strcmp(l->name, cfg->controller_listener) == 0;
		l->kind = ctl ? NET_LISTENER_CONTROLLER : NET_LISTENER_BROKER;
	}
	if (!broker_has_role(cfg, "broker")) {
		cfg->listener_host[0] = '\0'; /* a controller-only node: none */
		cfg->listener_port = 0;
		assert(broker_cluster_check(cfg));
		return KB_OK;
	}
	/* The client listener: the inter-broker one, else the first broker one. */
	const struct broker_listener *client = find_listener(
		cfg->listeners, cfg->n_listeners, cfg->inter_broker_listener);
	if (client && client->kind == NET_LISTENER_CONTROLLER)
		client = NULL;
	for (int i = 0; i < cfg->n_listeners && !client; i++)
		if (cfg->listeners[i].kind == NET_LISTENER_BROKER)
			client = &cfg->listeners[i];
	if (!client)
		return broker_refuse(err, "listeners has no broker listener: add "
				     "one such as PLAINTEXT://:9092");
	memcpy(cfg->listener_host, client->host, sizeof cfg->listener_host);
	cfg->listener_port = client->port;
	for (int i = 0; i < cfg->n_advertised; i++) {
		const char *name = cfg->advertised[i].name;
		if (strcmp(name, cfg->controller_listener) == 0)
			return broker_refuse(err, "advertised.listeners: %s is the "
					     "controller listener; leave it out", name);
		if (!find_listener(cfg->listeners, cfg->n_listeners, name))
			return broker_refuse(err, "advertised.listeners: %s is not "
					     "in listeners", name);
	}
	assert(broker_cluster_check(cfg));
	return KB_OK;
}

/* INVARIANT: 1, 3. */
bool broker_cluster_check(const struct broker_config *cfg)
{
	int brokers = 0, controllers = 0;
	for (int i = 0; i < cfg->n_listeners; i++) {
		const struct broker_listener *l = &cfg->listeners[i];
		const char *proto = broker_listener_protocol(cfg, l->name);
		if (!proto || broker_protocol_unserved(proto))
			return false;
		if (find_listener(cfg->listeners, i, l->name))
			return false;
		controllers += l->kind == NET_LISTENER_CONTROLLER;
		brokers += l->kind == NET_LISTENER_BROKER &&
			   strcmp(l->host, cfg->listener_host) == 0 &&
			   l->port == cfg->listener_port;
	}
	bool broker = broker_has_role(cfg, "broker");
	return cfg->n_listeners <= BROKER_LISTENERS_MAX &&
	       (broker ? brokers >= 1 : brokers == 0 && controllers == 1) &&
	       controllers <= 1 && cfg->n_voters <= BROKER_QUORUM_MAX;
}

/* KAFKA: SecurityProtocol. PLAINTEXT always; SSL, SASL_PLAINTEXT and
 * SASL_SSL once chapter 13 is built in. */
const char *broker_protocol_unserved(const char *proto)
{
	if (strcmp(proto, "PLAINTEXT") == 0)
		return NULL;
	if (strcmp(proto, "SSL") == 0)
		return SAMSA_STAGE >= 13 ? NULL
		       : "it needs chapter 13 (TLS), which this stage leaves out";
	if (strcmp(proto, "SASL_PLAINTEXT") == 0 || strcmp(proto, "SASL_SSL") == 0)
		return SAMSA_STAGE >= 13 ? NULL
		       : "it needs chapter 13 (SASL), which this stage leaves out";
	return "not a security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, "
	       "SASL_SSL)";
}

/* Every listener's name is mapped to a protocol this build serves, and
 * the listeners peers dial (a cluster's controller and inter-broker
 * ones) to one they can dial (check_dialled). */
static int check_protocols(const struct broker_config *cfg,
			   struct broker_error *err)
{
	if (check_dialled(cfg, cfg->controller_listener, true, err) != KB_OK ||
	    (cfg->n_voters > 0 &&
	     check_dialled(cfg, cfg->inter_broker_listener, false, err) != KB_OK))
		return KB_ERR_INVAL;
	for (int i = 0; i < cfg->n_listeners; i++) {
		const char *name = cfg->listeners[i].name;
		const char *proto = broker_listener_protocol(cfg, name);
		if (!proto)
			return broker_refuse(err, "listener %s has no security "
					     "protocol: add %s:PLAINTEXT to "
					     "listener.security.protocol.map",
					     name, name);
		const char *why = broker_protocol_unserved(proto);
		if (why)
			return broker_refuse(err, "listener %s is %s: %s", name,
					     proto, why);
	}
	return KB_OK;
}

/* A listener other nodes dial (this node's or, for a broker-only node,
 * the controllers'): PLAINTEXT or SSL; the inter-broker one may be
 * SASL_* with sasl.mechanism.inter.broker.protocol=PLAIN (13_sasl_peer.c).
 * KAFKA would take SASL_* controllers too (sasl.mechanism.controller.
 * protocol), and SCRAM or GSSAPI between brokers. */
static int check_dialled(const struct broker_config *cfg, const char *name,
			 bool controller, struct broker_error *err)
{
	const char *proto = name[0] ? broker_listener_protocol(cfg, name) : NULL;
	if (!proto || strcmp(proto, "PLAINTEXT") == 0 ||
	    strcmp(proto, "SSL") == 0)
		return KB_OK; /* a missing name is reported with its listener */
	const char *why = broker_protocol_unserved(proto);
	if (why)
		return broker_refuse(err, "listener %s is %s: %s", name, proto,
				     why);
	if (controller)
		return broker_refuse(err, "listener %s is %s, but the nodes of "
				     "a cluster dial the controllers without SASL: "
				     "make it SSL or PLAINTEXT", name, proto);
#if SAMSA_STAGE >= 13
	const char *mech = cfg->sasl.base.inter_broker_mechanism;
	if (strcmp(mech, "PLAIN") == 0)
		return KB_OK;
	return broker_refuse(err, "inter-broker listener %s is %s: set "
			     "sasl.mechanism.inter.broker.protocol=PLAIN (samsa's "
			     "brokers log in to each other with PLAIN only, not "
			     "%s)", name, proto, mech);
#else
	return KB_ERR_INVAL; /* unserved: refused above */
#endif
}

/* KAFKA: a controller names its listener and is a voter; a broker-only
 * node of a quorum is not a voter. Without voters and without a
 * controller listener a node with the broker role is a single node, as
 * in chapter 06 (config/server.properties); a controller-only node is
 * always one of a quorum. */
static int check_roles(struct broker_config *cfg, struct broker_error *err)
{
	bool controller = broker_has_role(cfg, "controller");
	bool broker = broker_has_role(cfg, "broker");
	bool listed = cfg->controller_listener[0] &&
		      find_listener(cfg->listeners, cfg->n_listeners,
				    cfg->controller_listener);
	if (cfg->controller_listener[0] && !listed) {
		if (controller)
			return broker_refuse(err, "controller.listener.names: %s is not "
					     "in listeners: add %s://host:port",
					     cfg->controller_listener,
					     cfg->controller_listener);
		cfg->controller_listener[0] = '\0'; /* a broker only dials it */
	}
	if (controller && cfg->n_voters == 0 && (!broker || listed))
		return broker_refuse(err, "process.roles has controller: set "
				     "controller.quorum.voters (id@host:port,...)");
	if (broker && listed && !controller)
		return broker_refuse(err, "controller.listener.names must not "
				     "contain a value appearing in the 'listeners' "
				     "configuration when running KRaft with just "
				     "the broker role (%s)", cfg->controller_listener);
	if (cfg->n_voters == 0 && cfg->controller_listener[0] == '\0')
		return KB_OK; /* the single node */
	if (check_voter(cfg, controller, err) != KB_OK)
		return KB_ERR_INVAL;
	return broker ? check_broker_listener(cfg, err)
		      : check_controller_only(cfg, err);
}

/* KAFKA: a controller's node.id is one of the voters (it votes); a
 * broker-only node's is not (it observes). */
static int check_voter(const struct broker_config *cfg, bool controller,
		       struct broker_error *err)
{
	int32_t id = cfg->topics.node_id;
	bool voter = false;
	for (int i = 0; i < cfg->n_voters; i++)
		voter = voter || cfg->voters[i].id == id;
	if (controller && !voter)
		return broker_refuse(err, "node.id %d is not one of "
				     "controller.quorum.voters (KAFKA: a node "
				     "with the controller role must be a voter)",
				     (int)id);
	if (controller && cfg->controller_listener[0] == '\0')
		return broker_refuse(err, "process.roles has controller: set "
				     "controller.listener.names (e.g. CONTROLLER)");
	if (!controller && voter)
		return broker_refuse(err, "node.id %d is a voter but process.roles "
				     "has no controller (KAFKA: a broker-only node "
				     "must not be a voter)", (int)id);
	return KB_OK;
}

/* A broker's inter-broker listener is one of its own, not the quorum's. */
static int check_broker_listener(const struct broker_config *cfg,
				 struct broker_error *err)
{
	if (strcmp(cfg->inter_broker_listener, cfg->controller_listener) == 0)
		return broker_refuse(err, "inter.broker.listener.name %s is the "
				     "controller listener", cfg->inter_broker_listener);
	if (!find_listener(cfg->listeners, cfg->n_listeners,
			   cfg->inter_broker_listener))
		return broker_refuse(err, "inter.broker.listener.name %s is not in "
				     "listeners", cfg->inter_broker_listener);
	return KB_OK;
}

/* KAFKA: process.roles=controller listens on controller listeners only
 * (no client port) and advertises nothing to clients. */
static int check_controller_only(const struct broker_config *cfg,
				 struct broker_error *err)
{
	for (int i = 0; i < cfg->n_listeners; i++)
		if (strcmp(cfg->listeners[i].name, cfg->controller_listener) != 0)
			return broker_refuse(err, "the listeners config must only "
					     "contain KRaft controller listeners "
					     "from controller.listener.names when "
					     "process.roles=controller (%s is not "
					     "one)", cfg->listeners[i].name);
	if (cfg->n_advertised > 0)
		return broker_refuse(err, "advertised.listeners: a controller-only "
				     "node has no broker listener to advertise; "
				     "leave it out");
	return KB_OK;
}

/* ---- Small helpers ---- */

/* The next comma-separated item of *p, trimmed, into item[ITEM_MAX]. */
static int next_item(const char **p, char *item, struct broker_error *why)
{
	size_t len = strcspn(*p, ",");
	if (len >= ITEM_MAX)
		return broker_refuse(why, "an entry is longer than %d bytes",
				     ITEM_MAX - 1);
	memcpy(item, *p, len);
	item[len] = '\0';
	*p += len + ((*p)[len] == ',');
	char *t = broker_trim(item);
	memmove(item, t, strlen(t) + 1);
	if (item[0] == '\0')
		return broker_refuse(why, "an empty entry in the list");
	return KB_OK;
}

/* NAME://host:port; the name upper-cased as Kafka's ListenerName. */
static int parse_listener(const char *item, struct broker_listener *l,
			  struct broker_error *why)
{
	const char *sep = strstr(item, "://");
	if (!sep || sep == item)
		return broker_refuse(why, "'%s' is not NAME://host:port", item);
	for (const char *c = item; c < sep; c++)
		if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-')
			return broker_refuse(why, "'%s': a listener name is letters, "
					     "digits, _ and -", item);
	if (copy_name(l->name, item, (size_t)(sep - item), why) != KB_OK)
		return KB_ERR_INVAL;
	l->kind = NET_LISTENER_BROKER;
	return parse_host_port(item, sep + 3, l->host, &l->port, why);
}

/* host:port, host maybe empty or [IPv6]; value is for the message. */
static int parse_host_port(const char *value, const char *hp, char *host,
			   int32_t *port, struct broker_error *why)
{
	const char *colon = strrchr(hp, ':');
	if (!colon)
		return broker_refuse(why, "'%s' has no port", value);
	const char *hs = hp, *he = colon;
	if (*hp == '[' && colon > hp && colon[-1] == ']') {
		hs++; /* [::1]:9092 */
		he--;
	}
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || p < 0 || p > 65535)
		return broker_refuse(why, "'%s': the port must be 0 to 65535", value);
	if ((size_t)(he - hs) >= TOPIC_HOST_MAX)
		return broker_refuse(why, "'%s': host name too long", value);
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	*port = (int32_t)p;
	return KB_OK;
}

/* src[0..len) upper-cased into dst[BROKER_LISTENER_NAME_MAX]. */
static int copy_name(char *dst, const char *src, size_t len,
		     struct broker_error *why)
{
	if (len == 0 || len >= BROKER_LISTENER_NAME_MAX)
		return broker_refuse(why, "a name must be 1 to %d characters",
				     BROKER_LISTENER_NAME_MAX - 1);
	for (size_t i = 0; i < len; i++)
		dst[i] = (char)toupper((unsigned char)src[i]);
	dst[len] = '\0';
	return KB_OK;
}

static const struct broker_listener *find_listener(
	const struct broker_listener *ls, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(ls[i].name, name) == 0)
			return &ls[i];
	return NULL;
}
