/* SPDX-License-Identifier: MIT */
/*
 * Chapter 12 — ACLs, part 3: every request asks the authorizer.
 *
 * Concept:
 *   With authorizer.class.name set, a node answers "may this principal
 *   do that?" from the ACLs its metadata image holds, and every handler
 *   asks before it acts: the handlers of chapters 06, 09 and 11 call
 *   net_authorized (chapter 05's hook), which lands here. This file also
 *   puts the ACL APIs on the node: DescribeAcls answered from the image,
 *   CreateAcls and DeleteAcls forwarded to the active controller, which
 *   decides them with 12_acl_apis.c.
 *
 * Kafka:
 *   authorizer.class.name=org.apache.kafka.metadata.authorizer.
 *   StandardAuthorizer (KIP-801), fed by the metadata log's ACL records
 *   (AclPublisher); AuthHelper.authorize in KafkaApis; AclApis for
 *   DescribeAcls (DESCRIBE on the cluster) and CreateAcls / DeleteAcls
 *   (ALTER on the cluster), forwarded to the controller (KIP-590).
 *
 * Interface (12_acl.h):
 *   - acl_node_open after the quorum node, the controller part and the
 *     topics; acl_node_close before them (it removes the hook).
 *   - The CONTROLLER listener is never checked (net_authorized): its
 *     requests come from the quorum's own nodes.
 *
 * Invariants (acl_node_check):
 *   1. The bindings asked about are exactly the image's ACL records, as
 *      they are when the question is asked (rebuilt per question).
 *   2. With an acl_node open, srv's authorizer hook is this node's
 *      (acl_node_open installs it, acl_node_close removes it).
 *
 * Simplifications:
 *   - The image's ACLs are viewed again for every question (Kafka keeps
 *     them indexed as they arrive): linear in the number of ACLs.
 *   - Denials are logged at DEBUG, not to a kafka.authorizer.logger.
 *   - The principal is User:ANONYMOUS unless chapter 13 authenticated
 *     the connection (TLS subject, SASL user).
 *
 * See also: docs/12_authorize.md, tests/12_acl_test.c,
 *   tests/clients/test_acl.py. Uses chapters 00, 04, 05 (the hook), 06
 *   (the forward hook), 07 (the image, the controller), 12_acl.c,
 *   12_acl_apis.c.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"
#include "07_node.h"
#include "12_acl.h"

_Static_assert(ACL_OP_WRITE == NET_OP_WRITE && ACL_OP_IDEMPOTENT_WRITE ==
	       NET_OP_IDEMPOTENT_WRITE && ACL_RESOURCE_CLUSTER ==
	       NET_RESOURCE_CLUSTER && ACL_RESOURCE_TRANSACTIONAL_ID ==
	       NET_RESOURCE_TRANSACTIONAL_ID, "chapter 05 mirrors the codes");

/* A node's authorizer: the configuration and a view of the image. */
struct acl_node {
	struct acl_authorizer a;       /* owned: super.users */
	struct net_server *srv;        /* borrowed */
	struct raft_node *rn;          /* borrowed: its image holds the ACLs */
	struct topic_manager *tm;      /* borrowed, or NULL (no broker part) */
	struct acl_binding *view;      /* owned: n_view of cap_view, views
					  into the image (INVARIANT 1) */
	size_t n_view, cap_view;
};

static bool node_authorize(void *ctx, const struct net_request *req,
			   int8_t operation, int8_t resource_type,
			   const char *name, size_t len);
static int handle_describe_acls(struct net_request *req,
				struct net_response *resp);
static int handle_create_acls(struct net_request *req,
			      struct net_response *resp);
static int handle_delete_acls(struct net_request *req,
			      struct net_response *resp);
static int create_error_body(const struct net_request *req, int16_t error,
			     struct wire_writer *w);
static int delete_error_body(const struct net_request *req, int16_t error,
			     struct wire_writer *w);

/* KAFKA: the ACL APIs at v0-3 (CLIENTS.md: kafka-python 0-1, librdkafka
 * and confluent-kafka up to 3), on the broker listener. */
static const struct net_api acl_broker_apis[] = {
	{WIRE_API_DESCRIBE_ACLS, 0, 3, handle_describe_acls, NULL},
	{WIRE_API_CREATE_ACLS, 0, 3, handle_create_acls, NULL},
	{WIRE_API_DELETE_ACLS, 0, 3, handle_delete_acls, NULL},
};

/* ---- Lifecycle ---- */

/* The controller decides CreateAcls/DeleteAcls; the broker answers the
 * clients and asks everything else. */
static int node_register(struct acl_node *an, struct ctrl_node *cn)
{
	static const struct ctrl_extension ext[] = {
		{WIRE_API_CREATE_ACLS, 0, 3, acl_decide_create, NULL},
		{WIRE_API_DELETE_ACLS, 0, 3, acl_decide_delete, NULL},
	};
	int rc = topic_set_error_body(WIRE_API_CREATE_ACLS, create_error_body);
	rc = rc ? rc : topic_set_error_body(WIRE_API_DELETE_ACLS, delete_error_body);
	for (size_t i = 0; cn && rc == KB_OK && i < KB_ARRAY_LEN(ext); i++)
		rc = ctrl_node_extend(cn, &ext[i]);
	for (size_t i = 0; an->tm && rc == KB_OK && i < KB_ARRAY_LEN(acl_broker_apis);
	     i++) {
		struct net_api api = acl_broker_apis[i];
		api.ctx = an;
		rc = net_register(an->srv, &api);
	}
	return rc;
}

int acl_node_open(const struct acl_node_config *cfg, struct acl_node **out)
{
	if (!cfg->srv || !cfg->rn)
		return KB_ERR_INVAL;
	struct acl_node *an = calloc(1, sizeof *an);
	if (!an)
		return KB_ERR_NOMEM;
	an->srv = cfg->srv;
	an->rn = cfg->rn;
	an->tm = cfg->tm;
	int rc = acl_authorizer_init(&an->a, cfg->super_users,
				     cfg->allow_everyone_if_no_acl_found);
	if (rc == KB_OK)
		rc = node_register(an, cfg->cn);
	if (rc != KB_OK) {
		acl_authorizer_fini(&an->a);
		free(an);
		return rc;
	}
	net_set_authorizer(an->srv, node_authorize, an); /* INVARIANT 2 */
	acl_node_check(an);
	*out = an;
	return KB_OK;
}

void acl_node_close(struct acl_node *an)
{
	if (!an)
		return;
	net_set_authorizer(an->srv, NULL, NULL);
	acl_authorizer_fini(&an->a);
	free(an->view);
	free(an);
}

/* ---- The question (KAFKA: AuthHelper.authorize) ---- */

/* View the image's ACL records as bindings (INVARIANT 1). */
static int view_refresh(struct acl_node *an)
{
	const struct meta_image *img = raft_node_image(an->rn);
	size_t n = img->n_acls > 0 ? (size_t)img->n_acls : 0;
	if (n > an->cap_view) {
		struct acl_binding *v = realloc(an->view, n * sizeof *v);
		if (!v)
			return KB_ERR_NOMEM;
		an->view = v;
		an->cap_view = n;
	}
	for (size_t i = 0; i < n; i++)
		an->view[i] = acl_binding_from_record(&img->acls[i].rec);
	an->n_view = n;
	return KB_OK;
}

/* The client's address without the "/" Kafka prints before it. */
static struct wire_str request_host(const struct net_request *req)
{
	const char *h = req->conn ? net_conn_host(req->conn) : "";
	if (*h == '/')
		h++;
	return wire_str_c(h);
}

/* KAFKA: Authorizer.authorizeByResourceType: may the principal do
 * operation on some resource of the type? Asked of every name an ALLOW
 * binding of the type names, so a DENY still wins for that name; with no
 * binding of the type, allow.everyone.if.no.acl.found. */
static bool authorize_any(struct acl_node *an, struct acl_request *q)
{
	if (acl_is_super_user(&an->a, q->principal))
		return true;
	bool any = false;
	for (size_t i = 0; i < an->n_view; i++) {
		const struct acl_binding *b = &an->view[i];
		if (b->resource_type != q->resource_type)
			continue;
		any = true;
		if (b->permission != ACL_ALLOW)
			continue;
		q->resource_name = b->resource_name;
		if (acl_authorize(&an->a, an->view, an->n_view, q) == ACL_ALLOWED)
			return true;
	}
	return !any && an->a.allow_everyone_if_no_acl_found;
}

static bool node_authorize(void *ctx, const struct net_request *req,
			   int8_t operation, int8_t resource_type,
			   const char *name, size_t len)
{
	struct acl_node *an = ctx;
	if (len > WIRE_STRING_MAX || view_refresh(an) != KB_OK)
		return false; /* a name no ACL can hold; no memory: deny */
	if (!name) {
		struct acl_request any = {
			wire_str_c(net_request_principal(req)), request_host(req),
			operation, resource_type, {"", 0}};
		return authorize_any(an, &any);
	}
	struct acl_request q = {
		wire_str_c(net_request_principal(req)), request_host(req),
		operation, resource_type, {name, (int32_t)len}};
	struct acl_decision d = acl_decide(&an->a, an->view, an->n_view, &q);
	if (d.result != ACL_ALLOWED)
		KB_DEBUG("authorizer: %s from %.*s denied %s on %s %.*s",
			 q.principal.p, (int)q.host.len, q.host.p,
			 acl_operation_name(operation),
			 acl_resource_type_name(resource_type), (int)len, name);
	return d.result == ACL_ALLOWED;
}

/* ---- The ACL APIs on a broker ---- */

/* Kafka's cluster check of the ACL APIs (AclApis): name "kafka-cluster". */
static bool cluster_allowed(const struct net_request *req, int8_t operation)
{
	return net_authorized(req, operation, NET_RESOURCE_CLUSTER,
			      ACL_CLUSTER_NAME, strlen(ACL_CLUSTER_NAME));
}

/* KAFKA: AclApis.handleDescribeAcls: DESCRIBE on the cluster, then the
 * ACLs of this broker's image that match the filter. */
static int handle_describe_acls(struct net_request *req,
				struct net_response *resp)
{
	struct acl_node *an = req->ctx;
	struct acl_filter f;
	int16_t v = req->header.api_version;
	if (acl_describe_req_decode(&req->body, v, &f) != KB_OK)
		return KB_ERR_PROTO;
	if (!cluster_allowed(req, ACL_OP_DESCRIBE)) {
		wire_write_i32(&resp->w, 0);
		wire_write_i16(&resp->w, KAFKA_ERR_CLUSTER_AUTHORIZATION_FAILED);
		wire_write_string(&resp->w, wire_str_c(NULL));
		wire_write_array_len(&resp->w, 0);
		wire_write_tags(&resp->w);
		return resp->w.err;
	}
	acl_describe_write(&resp->w, raft_node_image(an->rn), &f, v);
	if (view_refresh(an) == KB_OK)
		acl_node_check(an);
	return resp->w.err;
}

/* ALTER on the cluster, then the controller decides (forwarded). */
static int forward_or_fail(struct net_request *req, struct net_response *resp,
			   int (*error_body)(const struct net_request *,
					     int16_t, struct wire_writer *))
{
	struct acl_node *an = req->ctx;
	const struct topic_cluster *cl = an->tm ? topic_cluster_get(an->tm) : NULL;
	if (!cluster_allowed(req, ACL_OP_ALTER))
		return error_body(req, KAFKA_ERR_CLUSTER_AUTHORIZATION_FAILED,
				  &resp->w);
	if (!cl || !cl->forward)
		return error_body(req, KAFKA_ERR_NOT_CONTROLLER, &resp->w);
	return cl->forward(cl->ctx, req, resp);
}

static int handle_create_acls(struct net_request *req,
			      struct net_response *resp)
{
	return forward_or_fail(req, resp, create_error_body);
}

static int handle_delete_acls(struct net_request *req,
			      struct net_response *resp)
{
	return forward_or_fail(req, resp, delete_error_body);
}

/* topic_error_body's rows for our APIs: decoded again from a copy of the
 * body as it came; a malformed body is KB_ERR_PROTO (closed). */
static int create_error_body(const struct net_request *req, int16_t error,
			     struct wire_writer *w)
{
	struct wire_reader r = req->body;
	return acl_create_error_write(&r, req->header.api_version, error, w) ?
		       KB_ERR_PROTO : KB_OK;
}

static int delete_error_body(const struct net_request *req, int16_t error,
			     struct wire_writer *w)
{
	struct wire_reader r = req->body;
	return acl_delete_error_write(&r, req->header.api_version, error, w) ?
		       KB_ERR_PROTO : KB_OK;
}

/* ---- Checks ---- */

void acl_node_check(const struct acl_node *an)
{
	const struct meta_image *img = raft_node_image(an->rn);
	assert(an->n_view <= an->cap_view);
	assert(an->n_view <= (size_t)KB_MAX(img->n_acls, 0));
	for (size_t i = 0; i < an->n_view; i++) { /* INVARIANT 1, as refreshed */
		struct acl_binding b = acl_binding_from_record(&img->acls[i].rec);
		assert(an->view[i].resource_name.p == b.resource_name.p);
		assert(an->view[i].principal.p == b.principal.p);
		(void)b;
	}
	/* The authorizer's own rules; not the bindings: they come from the
	 * metadata log, and a record this samsa would not write (a resource
	 * type it does not model) must not trip an assert: acl_decide skips
	 * it instead (12_acl.c, INVARIANT 2). */
	acl_check(&an->a, NULL, 0);
	(void)img;
}
