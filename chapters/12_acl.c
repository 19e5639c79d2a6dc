/* SPDX-License-Identifier: MIT */
/*
 * Chapter 12 — ACLs, part 1: the authorizer's decision.
 *
 * Concept:
 *   A shared broker must say no. An ACL binds a resource pattern (a
 *   literal name, a prefix, or "*") to a principal, a host, an operation
 *   and ALLOW or DENY. acl_decide answers "may User:alice from 10.0.0.7
 *   WRITE topic orders?" in a fixed order: super user, any matching DENY,
 *   any matching ALLOW (with implied DESCRIBE), and when no ACL names the
 *   resource at all, allow.everyone.if.no.acl.found; else denied.
 *
 * Kafka:
 *   org.apache.kafka.metadata.authorizer.StandardAuthorizer (KIP-801):
 *   StandardAuthorizerData.authorize, findAclRule and findResult;
 *   super.users ("User:a;User:b"), allow.everyone.if.no.acl.found; ACLs
 *   are AccessControlEntryRecords (chapter 07's image keeps them).
 *   acl_api_rules: which operation on which resource each API checks
 *   (KafkaApis, ControllerApis; "Operations and Resources on Protocols").
 *
 * Interface (12_acl.h):
 *   - acl_authorizer_init parses super.users; acl_authorizer_fini frees.
 *   - acl_decide / acl_authorize borrow the bindings for the call only;
 *     the caller owns them (later: the image's records, viewed).
 *   - acl_binding_valid is the rule for storing a binding (CreateAcls).
 *   - acl_api_rules lists what an API checks; rows cover each resource of
 *     their type the request names; rows marked either are alternatives.
 *
 * Invariants (acl_check):
 *   1. Each super user is a non-empty "Type:name" (it holds a colon).
 *   2. Each binding in an authorizer's list is acl_binding_valid; an
 *      ill-formed one passed anyway never matches (acl_decide).
 *   3. The decision does not depend on the order of the bindings: a
 *      matching DENY wins wherever it is.
 *   4. acl_api_table is sorted by api key; each row names a known
 *      resource type and an operation other than ALL; either rows come
 *      two or more to a (key, when).
 *
 * Simplifications:
 *   - A linear scan over the bindings (Kafka keeps a TreeSet sorted by
 *     reversed name for prefix search): fine for hundreds of ACLs.
 *   - Only the resource types above; DELEGATION_TOKEN and USER (and
 *     CREATE_TOKENS, DESCRIBE_TOKENS) are not modelled, so not valid.
 *   - No audit log and no AuthorizerNotReadyException; later chapters log.
 *
 * See also: docs/12_acl.md, diagrams/12_acl.dot, tests/12_acl_test.c.
 *   Uses chapters 00 (base), 04 (codec: struct wire_str).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "04_codec.h"
#include "12_acl.h"

/* KAFKA: super.users entries are separated by ';' and trimmed. */
#define ACL_SUPER_USERS_SEP ';'

static bool principal_valid(struct wire_str p);
static bool str_eq(struct wire_str a, struct wire_str b);
static bool resource_matches(const struct acl_binding *b,
			     const struct acl_request *req);
static bool entry_matches(const struct acl_binding *b,
			  const struct acl_request *req);
static bool principal_matches(struct wire_str has, struct wire_str principal);
static bool host_matches(struct wire_str has, struct wire_str host);
static bool operation_matches(const struct acl_binding *b, int8_t op);
static bool allow_implies(int8_t has, int8_t op);
static bool starts_with(struct wire_str name, struct wire_str prefix);
static bool request_valid(const struct acl_request *req);
static int add_super_user(struct acl_authorizer *a, const char *s, size_t n);

/* ---- Configuration ---- */

/* Split super.users at ';' into owned copies; on error a is empty. */
int acl_authorizer_init(struct acl_authorizer *a, const char *super_users,
			bool allow_everyone_if_no_acl_found)
{
	a->super_users = NULL;
	a->n_super_users = 0;
	a->allow_everyone_if_no_acl_found = allow_everyone_if_no_acl_found;
	const char *p = super_users ? super_users : "";
	while (*p) {
		const char *end = strchr(p, ACL_SUPER_USERS_SEP);
		size_t n = end ? (size_t)(end - p) : strlen(p);
		int rc = add_super_user(a, p, n);
		if (rc != KB_OK) {
			acl_authorizer_fini(a);
			return rc;
		}
		p += n + (end ? 1 : 0);
	}
	return KB_OK;
}

/* Keep s[0..n), trimmed; skip it when blank. KAFKA: StandardAuthorizer.
 * getConfiguredSuperUsers trims each entry and rejects one that
 * SecurityUtils.parseKafkaPrincipal cannot read (no colon). */
static int add_super_user(struct acl_authorizer *a, const char *s, size_t n)
{
	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n == 0)
		return KB_OK;
	if (n > WIRE_STRING_MAX || !memchr(s, ':', n)) {
		KB_ERROR("super.users: '%.*s' is not Type:name", (int)KB_MIN(n, 200), s);
		return KB_ERR_INVAL;
	}
	char **v = realloc(a->super_users,
			   (size_t)(a->n_super_users + 1) * sizeof *v);
	if (!v)
		return KB_ERR_NOMEM;
	a->super_users = v;
	char *copy = strndup(s, n);
	if (!copy)
		return KB_ERR_NOMEM;
	v[a->n_super_users++] = copy; /* INVARIANT 1 */
	return KB_OK;
}

/* Free every super user; a may be initialized again. */
void acl_authorizer_fini(struct acl_authorizer *a)
{
	for (int32_t i = 0; i < a->n_super_users; i++)
		free(a->super_users[i]);
	free(a->super_users);
	a->super_users = NULL;
	a->n_super_users = 0;
}

/* KAFKA: superUsers.contains(principal.toString()): exact, no wildcard. */
bool acl_is_super_user(const struct acl_authorizer *a, struct wire_str principal)
{
	for (int32_t i = 0; i < a->n_super_users; i++)
		if (wire_str_eq(principal, a->super_users[i]))
			return true;
	return false;
}

/* ---- The decision ---- */

/* KAFKA: StandardAuthorizerData.authorize: SuperUserRule, then
 * findAclRule's MatchingRuleBuilder: a DENY ends the search; else the
 * ALLOW found; else noAclRule when no ACL names the resource; else deny. */
struct acl_decision acl_decide(const struct acl_authorizer *a,
			       const struct acl_binding *acls, size_t n,
			       const struct acl_request *req)
{
	struct acl_decision d = {ACL_DENIED, ACL_RULE_BAD_REQUEST, -1};
	if (!request_valid(req))
		return d;
	if (acl_is_super_user(a, req->principal)) {
		d.result = ACL_ALLOWED, d.rule = ACL_RULE_SUPER_USER;
		return d;
	}
	bool has_resource_acls = false;
	int64_t allow = -1;
	for (size_t i = 0; i < n; i++) {
		const struct acl_binding *b = &acls[i];
		if (!acl_binding_valid(b) || !resource_matches(b, req))
			continue; /* INVARIANT 2: ill-formed never matches */
		has_resource_acls = true;
		if (!entry_matches(b, req))
			continue;
		if (b->permission == ACL_DENY) { /* INVARIANT 3: DENY wins */
			d.rule = ACL_RULE_DENY_ACL, d.acl = (int64_t)i;
			return d;
		}
		if (allow < 0)
			allow = (int64_t)i;
	}
	if (allow >= 0) {
		d.result = ACL_ALLOWED, d.rule = ACL_RULE_ALLOW_ACL, d.acl = allow;
	} else if (!has_resource_acls) {
		d.rule = ACL_RULE_NO_ACL; /* KAFKA: DefaultAllow / DefaultDeny */
		d.result = a->allow_everyone_if_no_acl_found ? ACL_ALLOWED
							     : ACL_DENIED;
	} else {
		d.rule = ACL_RULE_NO_MATCH;
	}
	return d;
}

/* The answer without the why. KAFKA: Authorizer.authorize. */
enum acl_result acl_authorize(const struct acl_authorizer *a,
			      const struct acl_binding *acls, size_t n,
			      const struct acl_request *req)
{
	return acl_decide(a, acls, n, req).result;
}

/* Does b's pattern cover the requested resource? Same type, and: literal
 * names equal, the literal "*", or a prefix the name starts with.
 * KAFKA: the sections findAclRule/checkSection walk. */
static bool resource_matches(const struct acl_binding *b,
			     const struct acl_request *req)
{
	if (b->resource_type != req->resource_type)
		return false;
	struct wire_str p = b->resource_name, name = req->resource_name;
	if (b->pattern_type == ACL_PATTERN_PREFIXED)
		return starts_with(name, p);
	return str_eq(p, name) || wire_str_eq(p, ACL_WILDCARD);
}

/* Principal, host and operation. KAFKA: StandardAuthorizerData.findResult
 * (matchingPrincipals is the request's principal and User:*). */
static bool entry_matches(const struct acl_binding *b,
			  const struct acl_request *req)
{
	return principal_matches(b->principal, req->principal) &&
	       host_matches(b->host, req->host) &&
	       operation_matches(b, req->operation);
}

/* The binding's principal is the request's, or User:* (everyone). */
static bool principal_matches(struct wire_str has, struct wire_str principal)
{
	return str_eq(has, principal) || wire_str_eq(has, ACL_WILDCARD_PRINCIPAL);
}

/* The binding's host is the request's, or "*" (every host). A request
 * from a host literally named "*" gets no wildcard powers. */
static bool host_matches(struct wire_str has, struct wire_str host)
{
	return str_eq(has, host) || wire_str_eq(has, ACL_WILDCARD);
}

/* ALL matches every operation. Only an ALLOW implies: READ, WRITE,
 * DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS.
 * KAFKA: IMPLIES_DESCRIBE, IMPLIES_DESCRIBE_CONFIGS; a DENY of READ does
 * not deny DESCRIBE. */
static bool operation_matches(const struct acl_binding *b, int8_t op)
{
	int8_t has = b->operation;
	if (has == ACL_OP_ALL || has == op)
		return true;
	return b->permission == ACL_ALLOW && allow_implies(has, op);
}

/* Does an ALLOW of has also allow op? KAFKA: IMPLIES_DESCRIBE is
 * {DESCRIBE, READ, WRITE, DELETE, ALTER}; IMPLIES_DESCRIBE_CONFIGS is
 * {DESCRIBE_CONFIGS, ALTER_CONFIGS}. */
static bool allow_implies(int8_t has, int8_t op)
{
	if (op == ACL_OP_DESCRIBE)
		return has == ACL_OP_READ || has == ACL_OP_WRITE ||
		       has == ACL_OP_DELETE || has == ACL_OP_ALTER;
	if (op == ACL_OP_DESCRIBE_CONFIGS)
		return has == ACL_OP_ALTER_CONFIGS;
	return false;
}

/* ---- Well-formed bindings and requests ---- */

/* One of the four resource types modelled. */
static bool resource_type_known(int8_t t)
{
	return t >= ACL_RESOURCE_TOPIC && t <= ACL_RESOURCE_TRANSACTIONAL_ID;
}

/* ALL or one real operation (ALL is valid in a binding only). */
static bool operation_known(int8_t op)
{
	return op >= ACL_OP_ALL && op <= ACL_OP_IDEMPOTENT_WRITE;
}

/* A string of 0..WIRE_STRING_MAX bytes (not null). */
static bool str_bounded(struct wire_str s)
{
	return s.len >= 0 && s.len <= WIRE_STRING_MAX && (s.p || s.len == 0);
}

/* KAFKA: AclControlManager.validateNewAcl: no UNKNOWN or ANY codes,
 * LITERAL or PREFIXED, a non-empty resource name, a colon in the
 * principal. A host is any string ("*" for every host). */
bool acl_binding_valid(const struct acl_binding *b)
{
	return resource_type_known(b->resource_type) &&
	       (b->pattern_type == ACL_PATTERN_LITERAL ||
		b->pattern_type == ACL_PATTERN_PREFIXED) &&
	       operation_known(b->operation) &&
	       (b->permission == ACL_DENY || b->permission == ACL_ALLOW) &&
	       str_bounded(b->resource_name) && b->resource_name.len > 0 &&
	       principal_valid(b->principal) && str_bounded(b->host);
}

/* A question names one real operation (not ALL) on a known resource
 * type; a group id may be "" (Kafka's legacy consumers use it). */
static bool request_valid(const struct acl_request *req)
{
	return operation_known(req->operation) &&
	       req->operation != ACL_OP_ALL &&
	       resource_type_known(req->resource_type) &&
	       str_bounded(req->resource_name) &&
	       principal_valid(req->principal) && str_bounded(req->host);
}

/* KAFKA: a principal is "Type:name"; validateNewAcl wants the colon. */
static bool principal_valid(struct wire_str p)
{
	return str_bounded(p) && p.len > 0 && memchr(p.p, ':', (size_t)p.len);
}

/* Equal strings, neither null. */
static bool str_eq(struct wire_str a, struct wire_str b)
{
	return a.len >= 0 && a.len == b.len &&
	       (a.len == 0 || !memcmp(a.p, b.p, (size_t)a.len));
}

/* name begins with prefix (both well-formed). KAFKA: a PREFIXED pattern
 * is plain text: no globs, "*" is just a character. */
static bool starts_with(struct wire_str name, struct wire_str prefix)
{
	return name.len >= prefix.len &&
	       (prefix.len == 0 || !memcmp(name.p, prefix.p, (size_t)prefix.len));
}

/* ---- Which API needs what ---- */

#define T ACL_RESOURCE_TOPIC
#define G ACL_RESOURCE_GROUP
#define C ACL_RESOURCE_CLUSTER
#define X ACL_RESOURCE_TRANSACTIONAL_ID
#define R(key, type, op, when, either, note) \
	{key, type, ACL_OP_##op, ACL_WHEN_##when, either, note}

/* KAFKA: the authorize calls of KafkaApis.handle* and ControllerApis
 * (Kafka 3.x), sorted by api key. Denied, a topic answers
 * TOPIC_AUTHORIZATION_FAILED (29), a group GROUP_AUTHORIZATION_FAILED
 * (30), the cluster CLUSTER_AUTHORIZATION_FAILED (31), a transactional
 * id TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53). APIs not listed
 * (ApiVersions, SaslHandshake, SaslAuthenticate, ...) check no ACL. */
static const struct acl_api_rule acl_api_table[] = {
	R(0, T, WRITE, ALWAYS, false, "Produce: each topic written"),
	R(0, X, WRITE, TRANSACTIONAL, false,
	  "Produce of transactional records (KIP-679: idempotent Produce "
	  "needs no IDEMPOTENT_WRITE since 3.0; InitProducerId checks it)"),
	R(1, T, READ, CLIENT, false, "Fetch by a consumer: each topic"),
	R(1, C, CLUSTER_ACTION, REPLICA, false,
	  "Fetch by a follower, or a voter's Fetch of __cluster_metadata"),
	R(2, T, DESCRIBE, ALWAYS, false, "ListOffsets: each topic"),
	R(3, T, DESCRIBE, ALWAYS, false,
	  "Metadata: topics named; unauthorized ones left out of all-topics"),
	R(3, C, CREATE, AUTO_CREATE, true, "Metadata auto-create"),
	R(3, T, CREATE, AUTO_CREATE, true, "Metadata auto-create"),
	R(4, C, CLUSTER_ACTION, ALWAYS, false, "LeaderAndIsr (ZooKeeper mode)"),
	R(5, C, CLUSTER_ACTION, ALWAYS, false, "StopReplica (ZooKeeper mode)"),
	R(6, C, CLUSTER_ACTION, ALWAYS, false, "UpdateMetadata (ZooKeeper mode)"),
	R(7, C, CLUSTER_ACTION, ALWAYS, false, "ControlledShutdown"),
	R(8, G, READ, ALWAYS, false, "OffsetCommit: the group"),
	R(8, T, READ, ALWAYS, false, "OffsetCommit: each topic"),
	R(9, G, DESCRIBE, ALWAYS, false, "OffsetFetch: the group (KIP-163; READ implies it)"),
	R(9, T, DESCRIBE, FILTER, false, "OffsetFetch: topics not allowed left out"),
	R(10, G, DESCRIBE, ALWAYS, false, "FindCoordinator, key type GROUP"),
	R(10, X, DESCRIBE, ALWAYS, false, "FindCoordinator, key type TRANSACTION"),
	R(11, G, READ, ALWAYS, false, "JoinGroup"),
	R(12, G, READ, ALWAYS, false, "Heartbeat"),
	R(13, G, READ, ALWAYS, false, "LeaveGroup"),
	R(14, G, READ, ALWAYS, false, "SyncGroup"),
	R(15, G, DESCRIBE, ALWAYS, false, "DescribeGroups: each group"),
	R(16, C, DESCRIBE, FILTER, true, "ListGroups: every group"),
	R(16, G, DESCRIBE, FILTER, true, "ListGroups: else each group it may"),
	R(19, C, CREATE, ALWAYS, true, "CreateTopics: any topic"),
	R(19, T, CREATE, ALWAYS, true, "CreateTopics: else each topic"),
	R(19, T, DESCRIBE_CONFIGS, FILTER, false, "CreateTopics v5+: configs shown"),
	R(20, T, DELETE, ALWAYS, false, "DeleteTopics: each topic"),
	R(21, T, DELETE, ALWAYS, false, "DeleteRecords: each topic"),
	R(22, X, WRITE, TRANSACTIONAL, false, "InitProducerId with a transactional id"),
	R(22, C, IDEMPOTENT_WRITE, IDEMPOTENT, true, "InitProducerId, idempotent"),
	R(22, T, WRITE, IDEMPOTENT, true,
	  "InitProducerId, idempotent: WRITE on any topic (KIP-679)"),
	R(23, T, DESCRIBE, CLIENT, false, "OffsetForLeaderEpoch by a client"),
	R(23, C, CLUSTER_ACTION, REPLICA, false, "OffsetForLeaderEpoch by a follower"),
	R(24, X, WRITE, ALWAYS, false, "AddPartitionsToTxn: the transactional id"),
	R(24, T, WRITE, ALWAYS, false, "AddPartitionsToTxn: each topic"),
	R(25, X, WRITE, ALWAYS, false, "AddOffsetsToTxn: the transactional id"),
	R(25, G, READ, ALWAYS, false, "AddOffsetsToTxn: the group"),
	R(26, X, WRITE, ALWAYS, false, "EndTxn"),
	R(27, C, CLUSTER_ACTION, ALWAYS, false, "WriteTxnMarkers"),
	R(28, X, WRITE, ALWAYS, false, "TxnOffsetCommit: the transactional id"),
	R(28, G, READ, ALWAYS, false, "TxnOffsetCommit: the group"),
	R(28, T, READ, ALWAYS, false, "TxnOffsetCommit: each topic"),
	R(29, C, DESCRIBE, ALWAYS, false, "DescribeAcls"),
	R(30, C, ALTER, ALWAYS, false, "CreateAcls"),
	R(31, C, ALTER, ALWAYS, false, "DeleteAcls"),
	R(32, T, DESCRIBE_CONFIGS, ALWAYS, false, "DescribeConfigs: a topic"),
	R(32, C, DESCRIBE_CONFIGS, ALWAYS, false, "DescribeConfigs: a broker"),
	R(33, T, ALTER_CONFIGS, ALWAYS, false, "AlterConfigs: a topic"),
	R(33, C, ALTER_CONFIGS, ALWAYS, false, "AlterConfigs: a broker"),
	R(34, C, ALTER, ALWAYS, false, "AlterReplicaLogDirs"),
	R(35, C, DESCRIBE, ALWAYS, false, "DescribeLogDirs"),
	R(37, T, ALTER, ALWAYS, false, "CreatePartitions: each topic"),
	R(42, G, DELETE, ALWAYS, false, "DeleteGroups: each group"),
	R(43, C, ALTER, ALWAYS, false, "ElectLeaders"),
	R(44, T, ALTER_CONFIGS, ALWAYS, false, "IncrementalAlterConfigs: a topic"),
	R(44, C, ALTER_CONFIGS, ALWAYS, false, "IncrementalAlterConfigs: a broker"),
	R(45, C, ALTER, ALWAYS, false, "AlterPartitionReassignments"),
	R(46, C, DESCRIBE, ALWAYS, false, "ListPartitionReassignments"),
	R(47, G, DELETE, ALWAYS, false, "OffsetDelete: the group"),
	R(47, T, READ, ALWAYS, false, "OffsetDelete: each topic"),
	R(48, C, DESCRIBE_CONFIGS, ALWAYS, false, "DescribeClientQuotas"),
	R(49, C, ALTER_CONFIGS, ALWAYS, false, "AlterClientQuotas"),
	R(50, C, DESCRIBE, ALWAYS, false, "DescribeUserScramCredentials"),
	R(51, C, ALTER, ALWAYS, false, "AlterUserScramCredentials"),
	R(52, C, CLUSTER_ACTION, ALWAYS, false, "Vote"),
	R(53, C, CLUSTER_ACTION, ALWAYS, false, "BeginQuorumEpoch"),
	R(54, C, CLUSTER_ACTION, ALWAYS, false, "EndQuorumEpoch"),
	R(55, C, DESCRIBE, ALWAYS, false, "DescribeQuorum"),
	R(56, C, CLUSTER_ACTION, ALWAYS, false, "AlterPartition"),
	R(57, C, ALTER, ALWAYS, false, "UpdateFeatures"),
	R(58, C, CLUSTER_ACTION, ALWAYS, false, "Envelope"),
	R(59, C, CLUSTER_ACTION, ALWAYS, false, "FetchSnapshot"),
	R(60, C, DESCRIBE, ALWAYS, false, "DescribeCluster"),
	R(61, T, READ, ALWAYS, false, "DescribeProducers: each topic"),
	R(62, C, CLUSTER_ACTION, ALWAYS, false, "BrokerRegistration"),
	R(63, C, CLUSTER_ACTION, ALWAYS, false, "BrokerHeartbeat"),
	R(64, C, ALTER, ALWAYS, false, "UnregisterBroker"),
	R(65, X, DESCRIBE, ALWAYS, false, "DescribeTransactions: each id"),
	R(66, X, DESCRIBE, FILTER, false, "ListTransactions: ids not allowed left out"),
	R(67, C, CLUSTER_ACTION, ALWAYS, false, "AllocateProducerIds"),
	R(70, C, CLUSTER_ACTION, ALWAYS, false, "ControllerRegistration"),
	R(73, C, CLUSTER_ACTION, ALWAYS, false, "AssignReplicasToDirs"),
	R(80, C, ALTER, ALWAYS, false, "AddRaftVoter"),
	R(81, C, ALTER, ALWAYS, false, "RemoveRaftVoter"),
	R(82, C, CLUSTER_ACTION, ALWAYS, false, "UpdateRaftVoter"),
};

#undef T
#undef G
#undef C
#undef X
#undef R

/* The rows of api_key: a binary search for the first, then the run. */
const struct acl_api_rule *acl_api_rules(int16_t api_key, size_t *n)
{
	size_t lo = 0, hi = KB_ARRAY_LEN(acl_api_table);
	while (lo < hi) { /* first row with key >= api_key */
		size_t mid = lo + (hi - lo) / 2;
		if (acl_api_table[mid].api_key < api_key)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t end = lo;
	while (end < KB_ARRAY_LEN(acl_api_table) &&
	       acl_api_table[end].api_key == api_key)
		end++;
	*n = end - lo;
	return *n ? &acl_api_table[lo] : NULL;
}

/* ---- Names (logs, tests, docs) ---- */

/* Kafka's AclOperation name of a code. */
const char *acl_operation_name(int8_t operation)
{
	static const char *const names[] = {
		[ACL_OP_ALL] = "ALL", [ACL_OP_READ] = "READ",
		[ACL_OP_WRITE] = "WRITE", [ACL_OP_CREATE] = "CREATE",
		[ACL_OP_DELETE] = "DELETE", [ACL_OP_ALTER] = "ALTER",
		[ACL_OP_DESCRIBE] = "DESCRIBE",
		[ACL_OP_CLUSTER_ACTION] = "CLUSTER_ACTION",
		[ACL_OP_DESCRIBE_CONFIGS] = "DESCRIBE_CONFIGS",
		[ACL_OP_ALTER_CONFIGS] = "ALTER_CONFIGS",
		[ACL_OP_IDEMPOTENT_WRITE] = "IDEMPOTENT_WRITE",
	};
	return operation_known(operation) ? names[operation] : "UNKNOWN";
}

/* Kafka's ResourceType name of a code. */
const char *acl_resource_type_name(int8_t resource_type)
{
	static const char *const names[] = {
		[ACL_RESOURCE_TOPIC] = "TOPIC", [ACL_RESOURCE_GROUP] = "GROUP",
		[ACL_RESOURCE_CLUSTER] = "CLUSTER",
		[ACL_RESOURCE_TRANSACTIONAL_ID] = "TRANSACTIONAL_ID",
	};
	return resource_type_known(resource_type) ? names[resource_type]
						  : "UNKNOWN";
}

/* ---- Checks ---- */

/* Invariant 4 on the API table. */
static void api_table_check(void)
{
	size_t n = KB_ARRAY_LEN(acl_api_table);
	for (size_t i = 0; i < n; i++) {
		const struct acl_api_rule *r = &acl_api_table[i];
		assert(i == 0 || r[-1].api_key <= r->api_key);
		assert(resource_type_known(r->resource_type));
		assert(operation_known(r->operation) && r->operation != ACL_OP_ALL);
		assert(r->note != NULL);
		if (!r->either)
			continue;
		size_t mates = 0; /* other either rows of this key and when */
		for (size_t j = 0; j < n; j++)
			mates += j != i && acl_api_table[j].either &&
				 acl_api_table[j].api_key == r->api_key &&
				 acl_api_table[j].when == r->when;
		assert(mates >= 1);
	}
}

/* Invariants 1, 2 and 4 (3 is a property of acl_decide, tested). */
void acl_check(const struct acl_authorizer *a, const struct acl_binding *acls,
	       size_t n)
{
	assert(a->n_super_users >= 0);
	assert(a->n_super_users == 0 || a->super_users != NULL);
	for (int32_t i = 0; i < a->n_super_users; i++) /* INVARIANT 1 */
		assert(principal_valid(wire_str_c(a->super_users[i])));
	for (size_t i = 0; i < n; i++) /* INVARIANT 2 */
		assert(acl_binding_valid(&acls[i]));
	api_table_check(); /* INVARIANT 4 */
}
