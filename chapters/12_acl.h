/* SPDX-License-Identifier: MIT */
/*
 * Chapter 12 — ACLs: who may do what to which resource. The only surface
 * later chapters may use; the lesson is in 12_acl.c.
 *
 * Pure functions over the caller's data: nothing here keeps a pointer past
 * a call except struct acl_authorizer, which owns its super-user list.
 * Single-threaded like every chapter; the functions touch no global state.
 */
#ifndef SAMSA_ACL_H
#define SAMSA_ACL_H

#include "00_base.h"
#include "04_codec.h"

/* ---- Kafka's numbers (the int8 fields of AccessControlEntryRecord) ---- */

/* KAFKA: org.apache.kafka.common.resource.ResourceType codes. */
enum acl_resource_type {
	ACL_RESOURCE_TOPIC = 2,
	ACL_RESOURCE_GROUP = 3,
	ACL_RESOURCE_CLUSTER = 4,
	ACL_RESOURCE_TRANSACTIONAL_ID = 5,
};

/* KAFKA: org.apache.kafka.common.resource.PatternType codes. */
enum acl_pattern_type {
	ACL_PATTERN_LITERAL = 3,
	ACL_PATTERN_PREFIXED = 4,
};

/* KAFKA: org.apache.kafka.common.acl.AclOperation codes. */
enum acl_operation {
	ACL_OP_ALL = 2,
	ACL_OP_READ = 3,
	ACL_OP_WRITE = 4,
	ACL_OP_CREATE = 5,
	ACL_OP_DELETE = 6,
	ACL_OP_ALTER = 7,
	ACL_OP_DESCRIBE = 8,
	ACL_OP_CLUSTER_ACTION = 9,
	ACL_OP_DESCRIBE_CONFIGS = 10,
	ACL_OP_ALTER_CONFIGS = 11,
	ACL_OP_IDEMPOTENT_WRITE = 12,
};

/* KAFKA: org.apache.kafka.common.acl.AclPermissionType codes. */
enum acl_permission {
	ACL_DENY = 2,
	ACL_ALLOW = 3,
};

/* KAFKA: ResourcePattern.WILDCARD_RESOURCE, AclEntry.WILDCARD_HOST. */
#define ACL_WILDCARD "*"
/* KAFKA: KafkaPrincipal.WILDCARD_PRINCIPAL ("User:*"): every principal. */
#define ACL_WILDCARD_PRINCIPAL "User:*"
/* KAFKA: Resource.CLUSTER_NAME, the one name of the CLUSTER resource. */
#define ACL_CLUSTER_NAME "kafka-cluster"

/* ---- Bindings and requests ---- */

/* One ACL. KAFKA: AclBinding (ResourcePattern + AccessControlEntry), the
 * fields of AccessControlEntryRecord without its id. Strings are views
 * (borrowed: from the caller, e.g. a struct meta_kept's record). */
struct acl_binding {
	int8_t resource_type; /* enum acl_resource_type */
	struct wire_str resource_name;
	int8_t pattern_type;  /* enum acl_pattern_type */
	struct wire_str principal; /* "User:alice" or "User:*" */
	struct wire_str host;      /* an address, or "*" */
	int8_t operation;     /* enum acl_operation */
	int8_t permission;    /* enum acl_permission */
};

/* One question: may principal, connected from host, do operation on the
 * resource (type, name)? KAFKA: AuthorizableRequestContext + Action.
 * Strings are views borrowed from the caller. */
struct acl_request {
	struct wire_str principal; /* "User:alice"; "User:ANONYMOUS" unauthenticated */
	struct wire_str host;      /* the client's address as text */
	int8_t operation;          /* enum acl_operation, never ALL */
	int8_t resource_type;      /* enum acl_resource_type */
	struct wire_str resource_name; /* ACL_CLUSTER_NAME for the cluster */
};

/* ---- The authorizer ---- */

/* The authorizer's configuration. KAFKA: StandardAuthorizer's
 * super.users and allow.everyone.if.no.acl.found. */
struct acl_authorizer {
	char **super_users;  /* owned: n_super_users "Type:name" strings */
	int32_t n_super_users;
	bool allow_everyone_if_no_acl_found; /* KAFKA: default false */
};

/* KAFKA: AuthorizationResult. */
enum acl_result {
	ACL_DENIED = 0,
	ACL_ALLOWED = 1,
};

/* Which step decided. KAFKA: StandardAuthorizerData's MatchingRule
 * (SuperUser, MatchingAcl, DefaultAllow/DefaultDeny). */
enum acl_rule {
	ACL_RULE_SUPER_USER,   /* the principal is in super.users */
	ACL_RULE_DENY_ACL,     /* a DENY binding matched */
	ACL_RULE_ALLOW_ACL,    /* an ALLOW binding matched, none denied */
	ACL_RULE_NO_ACL,       /* no binding on the resource at all */
	ACL_RULE_NO_MATCH,     /* bindings on the resource, none for this */
	ACL_RULE_BAD_REQUEST,  /* the request is not well-formed: denied */
};

/* An answer and why: acl is the index of the deciding binding, or -1. */
struct acl_decision {
	enum acl_result result;
	enum acl_rule rule;
	int64_t acl;
};

/* Parse super.users ("User:a;User:b", may be NULL or empty) into a. */
int acl_authorizer_init(struct acl_authorizer *a, const char *super_users,
			bool allow_everyone_if_no_acl_found);
/* Free the super-user list; a is empty afterwards. */
void acl_authorizer_fini(struct acl_authorizer *a);
/* True when principal is one of a's super users (exact match). */
bool acl_is_super_user(const struct acl_authorizer *a, struct wire_str principal);
/* True when b may be stored: known codes, a name, a "Type:name" principal. */
bool acl_binding_valid(const struct acl_binding *b);
/* Decide req against acls[0..n) (borrowed); ill-formed bindings never match. */
struct acl_decision acl_decide(const struct acl_authorizer *a,
			       const struct acl_binding *acls, size_t n,
			       const struct acl_request *req);
/* acl_decide's result alone. */
enum acl_result acl_authorize(const struct acl_authorizer *a,
			      const struct acl_binding *acls, size_t n,
			      const struct acl_request *req);
/* Assert the invariants of 12_acl.c on a and acls[0..n) (and the API table). */
void acl_check(const struct acl_authorizer *a, const struct acl_binding *acls,
	       size_t n);

/* ---- Which API needs what ---- */

/* When a row of the API table applies. */
enum acl_when {
	ACL_WHEN_ALWAYS,        /* every request of the API */
	ACL_WHEN_CLIENT,        /* a client's request (replica id < 0) */
	ACL_WHEN_REPLICA,       /* a follower's or a voter's (replica id >= 0) */
	ACL_WHEN_AUTO_CREATE,   /* Metadata creating a missing topic */
	ACL_WHEN_TRANSACTIONAL, /* the request names a transactional id */
	ACL_WHEN_IDEMPOTENT,    /* InitProducerId without a transactional id */
	ACL_WHEN_FILTER,        /* resources not allowed are left out, no error */
};

/* One check an API makes. A row covers each resource of its type that a
 * request names (the cluster: ACL_CLUSTER_NAME). Rows of one key and one
 * `when` are all needed, except rows with either set: one of those is
 * enough. KAFKA: the checks in KafkaApis / ControllerApis handlers, as
 * the "Operations and Resources on Protocols" table of Kafka's docs. */
struct acl_api_rule {
	int16_t api_key;
	int8_t resource_type; /* enum acl_resource_type */
	int8_t operation;     /* enum acl_operation */
	enum acl_when when;
	bool either;
	const char *note;     /* static: the API and the error when denied */
};

/* The rows of api_key (*n of them, 0 for an API that checks no ACL);
 * returns static storage, NULL when *n is 0. */
const struct acl_api_rule *acl_api_rules(int16_t api_key, size_t *n);
/* "WRITE" for ACL_OP_WRITE; "UNKNOWN" for a code outside the enum. */
const char *acl_operation_name(int8_t operation);
/* "TOPIC" for ACL_RESOURCE_TOPIC; "UNKNOWN" for a code outside the enum. */
const char *acl_resource_type_name(int8_t resource_type);

#endif
