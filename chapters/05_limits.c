/* SPDX-License-Identifier: MIT */
/*
 * Chapter 05, third file — limits: how many connections, and what to do
 * when the descriptors run out.
 *
 * Concept: every connection costs a descriptor, and a process has a fixed
 *   number of them (RLIMIT_NOFILE). The reactor (05_server.c, after this
 *   file) asks here whether to take a new connection and what to do when
 *   accept(2) fails. A host over its limit is refused; at the broker-wide
 *   limit the listeners pause until a connection closes; with the table
 *   full (EMFILE) the listeners rest instead of making a level-triggered
 *   reactor spin, and the failure is logged once per interval.
 * Kafka: max.connections (the Acceptor waits for a free slot),
 *   max.connections.per.ip and max.connections.per.ip.overrides
 *   (ConnectionQuotas; the new connection is closed at once).
 * Interface:
 *   - net_limits_init before any listener, net_limits_fini at the end.
 *   - The reactor calls net_accept_admit for each accepted socket,
 *     net_accept_failed when accept fails for another reason than EAGAIN,
 *     net_listeners_arm(srv, false) at max.connections, and
 *     net_accept_maybe_resume once per turn.
 * Invariants:
 *   1. Listeners are paused only with a reason: a backoff deadline
 *      (accept_resume_ms) or max.connections reached (net_limits_check).
 *   2. One descriptor is kept in reserve (reserve_fd) while accepting, so
 *      a full table can still shed the connections waiting in the backlog.
 *   3. A peer cannot make this file log more than one line per
 *      NET_ACCEPT_LOG_INTERVAL_MS (struct kb_ratelimit).
 * Simplifications: a host's connections are counted by a scan of the
 *   connection list, not a map; overrides name numeric addresses only.
 * See also: docs/05_limits.md, diagrams/05_limits.dot,
 *   tests/05_server_test.c, tests/clients/test_bad_input.py ("Descriptors
 *   and connections"); read before: 05_purgatory.c; read next:
 *   05_server.c. Uses chapters 00 (base), 04 (codec).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "00_base.h"
#include "04_codec.h"
#include "05_server.h"
#include "05_server_internal.h"

/* ---- Constants ---- */

/* After accept(2) fails (EMFILE: the descriptor table is full), the
 * listeners rest this long instead of waking the reactor on every turn. */
#define NET_ACCEPT_BACKOFF_MS 100
/* At most one "accept failed" or "refusing" line per this many ms. */
#define NET_ACCEPT_LOG_INTERVAL_MS (10LL * 1000)
/* Connections taken off the backlog and closed per EMFILE. */
#define NET_SHED_MAX 64

/* ---- Prototypes of static helpers ---- */

static int per_ip_limit(const struct net_config *cfg, const char *host);

/* ---- Lifecycle ---- */

/* INVARIANT 2: the reserve descriptor, opened before any connection. */
void net_limits_init(struct net_server *srv)
{
	srv->accepting = true;
	srv->accept_resume_ms = 0;
	srv->accept_log.interval_ms = NET_ACCEPT_LOG_INTERVAL_MS;
	srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* ---- Admission ---- */

/* KAFKA: max.connections.per.ip (and its overrides): a host already at
 * its limit has the new connection closed. Rare lines, rate-limited. */
bool net_accept_admit(struct net_server *srv, const char *host,
		      const char *peer)
{
	int limit = per_ip_limit(&srv->cfg, host), n = 0;
	for (struct net_conn *c = srv->conns; c && n < limit; c = c->next)
		n += strcmp(c->host + 1, host) == 0; /* c->host is "/addr" */
	if (n < limit)
		return true;
	uint64_t held;
	if (kb_ratelimit_allow(&srv->accept_log, kb_mono_ms(), &held))
		KB_WARN("refusing %s: %s already has %d connections "
			"(max.connections.per.ip); %llu lines like this held "
			"back", peer, host, limit, (unsigned long long)held);
	return false;
}

/* The limit for one host: its override, else max.connections.per.ip. */
static int per_ip_limit(const struct net_config *cfg, const char *host)
{
	for (int i = 0; i < cfg->n_ip_overrides; i++)
		if (strcmp(cfg->ip_overrides[i].host, host) == 0)
			return cfg->ip_overrides[i].max;
	return cfg->max_connections_per_ip;
}

/* ---- A full descriptor table ---- */

/* INVARIANT 2, 3. accept(2) failed for want of a descriptor (or memory).
 * Level-triggered epoll would report the listener again at once, so: give
 * up the reserve descriptor, take the waiting connections off the backlog
 * and close them (the clients learn at once instead of hanging), take the
 * reserve back, rest the listeners, and say so once per interval. */
void net_accept_failed(struct net_server *srv, int lfd, int err)
{
	int shed = 0;
	if ((err == EMFILE || err == ENFILE) && srv->reserve_fd >= 0) {
		close(srv->reserve_fd);
		for (int fd; shed < NET_SHED_MAX &&
			     (fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0;
		     shed++)
			close(fd);
		srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	net_listeners_arm(srv, false);
	srv->accept_resume_ms = kb_mono_ms() + NET_ACCEPT_BACKOFF_MS;
	uint64_t held;
	if (kb_ratelimit_allow(&srv->accept_log, kb_mono_ms(), &held))
		KB_ERROR("accept: %s: closed %d waiting connections, not "
			 "accepting for %d ms (%d connections open; %llu lines "
			 "like this held back; raise ulimit -n or lower "
			 "max.connections)", strerror(err), shed,
			 NET_ACCEPT_BACKOFF_MS, srv->nconns,
			 (unsigned long long)held);
}

/* ---- Pausing and resuming the listeners ---- */

/* Put the listeners in the epoll set's view (on) or out of it (off): a
 * paused listener's connections wait in the kernel's backlog. */
void net_listeners_arm(struct net_server *srv, bool on)
{
	if (srv->accepting == on)
		return;
	srv->accepting = on;
	for (int i = 0; i < srv->nlisteners; i++) {
		struct epoll_event ev = {.events = on ? EPOLLIN : 0,
					 .data.ptr = &srv->listeners[i].src};
		epoll_ctl(srv->epfd, EPOLL_CTL_MOD, srv->listeners[i].src.fd, &ev);
	}
}

/* Accept again once the backoff is over and a connection slot is free. */
void net_accept_maybe_resume(struct net_server *srv, int64_t now_ms)
{
	if (srv->accepting || now_ms < srv->accept_resume_ms ||
	    srv->nconns >= srv->cfg.max_connections)
		return;
	if (srv->reserve_fd < 0)
		srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	srv->accept_resume_ms = 0;
	net_listeners_arm(srv, true);
}

/* ---- Checks and teardown ---- */

/* INVARIANT 1: a paused listener has a time or a free slot to wait for. */
void net_limits_check(const struct net_server *srv)
{
	assert(srv->accepting || srv->accept_resume_ms > 0 ||
	       srv->nconns >= srv->cfg.max_connections);
	(void)srv;
}

void net_limits_fini(struct net_server *srv)
{
	if (srv->reserve_fd >= 0)
		close(srv->reserve_fd);
	srv->reserve_fd = -1;
}
