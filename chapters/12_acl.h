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
#include "05_server.h"
#include "07_metadata.h"
#include "07_controller.h"

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

/* ---- The ACL APIs (12_acl_apis.c) ---- */

/* KAFKA: the filter-only codes: ResourceType.ANY, PatternType.ANY and
 * MATCH, AclOperation.ANY, AclPermissionType.ANY. */
#define ACL_RESOURCE_ANY 1
#define ACL_PATTERN_ANY 1
#define ACL_PATTERN_MATCH 2
#define ACL_OP_ANY 1
#define ACL_PERMISSION_ANY 1

/* KAFKA: AclBindingFilter: a binding's fields, where a null string
 * (len -1) and the ANY codes match everything. Views borrowed. */
struct acl_filter {
	int8_t resource_type;
	struct wire_str resource_name; /* null: any name */
	int8_t pattern_type;           /* ANY, MATCH, LITERAL, PREFIXED */
	struct wire_str principal;     /* null: any */
	struct wire_str host;          /* null: any */
	int8_t operation;
	int8_t permission;
};

/* A decoded CreateAcls request: n bindings (owned array, borrowed views). */
struct acl_create_req {
	struct acl_binding *v;
	int32_t n;
};
/* A decoded DeleteAcls request: n filters (owned array, borrowed views). */
struct acl_filters {
	struct acl_filter *v;
	int32_t n;
};

/* A kept AccessControlEntryRecord as a binding (views into rec). */
struct acl_binding acl_binding_from_record(const struct meta_record *rec);
/* KAFKA: AclBindingFilter.matches. */
bool acl_filter_matches(const struct acl_filter *f, const struct acl_binding *b);
/* NULL when f names only known codes, else INVALID_REQUEST's message. */
const char *acl_filter_problem(const struct acl_filter *f);
/* CreateAcls body at version v; KB_ERR_PROTO; fini even on error. */
int acl_create_req_decode(struct wire_reader *r, int16_t v,
			  struct acl_create_req *q);
void acl_create_req_fini(struct acl_create_req *q);
/* Append a CreateAcls body of b[0..n) at version v (tests, tools). */
int acl_create_req_encode(const struct acl_binding *b, int32_t n, int16_t v,
			  struct kb_buf *out);
/* DescribeAcls body at version v; KB_ERR_PROTO. */
int acl_describe_req_decode(struct wire_reader *r, int16_t v,
			    struct acl_filter *f);
/* DeleteAcls body at version v; KB_ERR_PROTO; fini even on error. */
int acl_delete_req_decode(struct wire_reader *r, int16_t v,
			  struct acl_filters *q);
void acl_filters_fini(struct acl_filters *q);
/* One filter's fields (DescribeAcls' body; a DeleteAcls filter without its tags). */
void acl_filter_write(struct wire_writer *w, const struct acl_filter *f,
		      int16_t v);
/* Controller (a ctrl_decide_fn): CreateAcls -> AccessControlEntryRecords. */
int acl_decide_create(void *ctx, struct ctrl *c, const struct ctrl_input *in,
		      struct ctrl_output *out);
/* Controller (a ctrl_decide_fn): DeleteAcls -> RemoveAccessControlEntryRecords. */
int acl_decide_delete(void *ctx, struct ctrl *c, const struct ctrl_input *in,
		      struct ctrl_output *out);
/* The DescribeAcls response body for f over img's ACLs, at version v. */
void acl_describe_write(struct wire_writer *w, const struct meta_image *img,
			const struct acl_filter *f, int16_t v);
/* The CreateAcls / DeleteAcls response to the request in r with error on every entry. */
int acl_create_error_write(struct wire_reader *r, int16_t v, int16_t error,
			   struct wire_writer *w);
int acl_delete_error_write(struct wire_reader *r, int16_t v, int16_t error,
			   struct wire_writer *w);

/* ---- A node's authorizer (12_authorize.c) ---- */

/* KAFKA: authorizer.class.name for the authorizer samsa has. */
#define ACL_STANDARD_AUTHORIZER \
	"org.apache.kafka.metadata.authorizer.StandardAuthorizer"

struct raft_node;
struct ctrl_node;
struct topic_manager;

/* What acl_node_open needs: the authorizer's keys and the node's parts. */
struct acl_node_config {
	const char *super_users;   /* borrowed: super.users, may be NULL */
	bool allow_everyone_if_no_acl_found;
	struct net_server *srv;    /* borrowed */
	struct raft_node *rn;      /* borrowed: its image holds the ACLs */
	struct topic_manager *tm;  /* borrowed: the broker part, or NULL */
	struct ctrl_node *cn;      /* borrowed: the controller part, or NULL */
};

struct acl_node;

/* Install the authorizer on cfg->srv and the ACL APIs on the node's parts; owned *out. */
int acl_node_open(const struct acl_node_config *cfg, struct acl_node **out);
/* Remove the hook and free (NULL-safe); before the parts close. */
void acl_node_close(struct acl_node *an);
/* Assert the invariants of 12_authorize.c. */
void acl_node_check(const struct acl_node *an);

#endif
