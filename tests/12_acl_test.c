/* SPDX-License-Identifier: MIT */
/*
 * Tests for chapter 12 — ACLs, part 1: the authorizer's decision. Each
 * expectation is written from Kafka's rules (StandardAuthorizerData and
 * the IMPLIES_* sets), not from 12_acl.c: the operation matrix spells the
 * implications out as its own table. acl_check runs after every setup.
 */
#include "testutil.h"

#include "04_codec.h"
#include "06_topics.h"
#include "07_metadata.h"
#include "07_controller.h"
#include "12_acl.h"

/* ---- Helpers ---- */

#define S(s) wire_str_c(s)
/* A binding: type, name, pattern, principal, host, operation, permission. */
#define BIND(t, name, pat, who, host, op, perm)                              \
	((struct acl_binding){ACL_RESOURCE_##t, S(name), ACL_PATTERN_##pat,  \
			      S(who), S(host), ACL_OP_##op, ACL_##perm})
/* A question: principal, host, operation, type, name. */
#define ASK(who, host, op, t, name)                                          \
	((struct acl_request){S(who), S(host), ACL_OP_##op,                  \
			      ACL_RESOURCE_##t, S(name)})

/* An authorizer with super users su and the no-ACL default. */
static struct acl_authorizer authz(const char *su, bool allow_everyone)
{
	struct acl_authorizer a;
	assert_int_equal(acl_authorizer_init(&a, su, allow_everyone), KB_OK);
	return a;
}

/* Decide, after checking the invariants on what is decided over. */
static struct acl_decision decide(const struct acl_authorizer *a,
				  const struct acl_binding *acls, size_t n,
				  struct acl_request req)
{
	acl_check(a, acls, n);
	struct acl_decision d = acl_decide(a, acls, n, &req);
	assert_int_equal(acl_authorize(a, acls, n, &req), d.result);
	return d;
}

static void assert_decision(struct acl_decision d, enum acl_result result,
			    enum acl_rule rule, int64_t acl)
{
	assert_int_equal(d.result, result);
	assert_int_equal(d.rule, rule);
	assert_int_equal(d.acl, acl);
}

/* ---- The matrix: resource type x operation x pattern x permission ---- */

/* KAFKA: IMPLIES_DESCRIBE and IMPLIES_DESCRIBE_CONFIGS, written out:
 * an ALLOW of has implies the requested op. */
static const struct { int8_t has, op; } implied[] = {
	{ACL_OP_READ, ACL_OP_DESCRIBE},   {ACL_OP_WRITE, ACL_OP_DESCRIBE},
	{ACL_OP_DELETE, ACL_OP_DESCRIBE}, {ACL_OP_ALTER, ACL_OP_DESCRIBE},
	{ACL_OP_ALTER_CONFIGS, ACL_OP_DESCRIBE_CONFIGS},
};

static bool expect_match(int8_t perm, int8_t has, int8_t op)
{
	if (has == ACL_OP_ALL || has == op)
		return true;
	for (size_t i = 0; perm == ACL_ALLOW && i < KB_ARRAY_LEN(implied); i++)
		if (implied[i].has == has && implied[i].op == op)
			return true;
	return false;
}

/* One binding on (type, name, pattern); every requested operation. */
static void matrix_case(int8_t type, const char *pattern, int8_t pat,
			const char *name, int8_t has, int8_t perm)
{
	struct acl_authorizer a = authz(NULL, false);
	struct acl_binding b = {type, S(pattern), pat, S("User:alice"), S("*"),
				has, perm};
	for (int8_t op = ACL_OP_READ; op <= ACL_OP_IDEMPOTENT_WRITE; op++) {
		struct acl_request q = {S("User:alice"), S("10.0.0.1"), op, type,
					S(name)};
		struct acl_decision d = decide(&a, &b, 1, q);
		if (!expect_match(perm, has, op))
			assert_decision(d, ACL_DENIED, ACL_RULE_NO_MATCH, -1);
		else if (perm == ACL_ALLOW)
			assert_decision(d, ACL_ALLOWED, ACL_RULE_ALLOW_ACL, 0);
		else
			assert_decision(d, ACL_DENIED, ACL_RULE_DENY_ACL, 0);
		/* Another resource type with this name has no ACL at all. */
		q.resource_type = type == ACL_RESOURCE_TOPIC ? ACL_RESOURCE_GROUP
							     : ACL_RESOURCE_TOPIC;
		assert_decision(decide(&a, &b, 1, q), ACL_DENIED, ACL_RULE_NO_ACL, -1);
	}
	acl_authorizer_fini(&a);
}

static void test_acl_matrix_type_operation_pattern_permission(void **state)
{
	(void)state;
	static const struct { int8_t type; const char *name; } res[] = {
		{ACL_RESOURCE_TOPIC, "orders"},
		{ACL_RESOURCE_GROUP, "billing"},
		{ACL_RESOURCE_CLUSTER, ACL_CLUSTER_NAME},
		{ACL_RESOURCE_TRANSACTIONAL_ID, "tx-1"},
	};
	int cases = 0;
	for (size_t r = 0; r < KB_ARRAY_LEN(res); r++) {
		char prefix[8] = {0};
		memcpy(prefix, res[r].name, 3); /* "ord", "bil", "kaf", "tx-" */
		for (int8_t has = ACL_OP_ALL; has <= ACL_OP_IDEMPOTENT_WRITE; has++) {
			for (int8_t perm = ACL_DENY; perm <= ACL_ALLOW; perm++) {
				matrix_case(res[r].type, res[r].name,
					    ACL_PATTERN_LITERAL, res[r].name, has, perm);
				matrix_case(res[r].type, prefix,
					    ACL_PATTERN_PREFIXED, res[r].name, has, perm);
				matrix_case(res[r].type, ACL_WILDCARD,
					    ACL_PATTERN_LITERAL, res[r].name, has, perm);
				cases += 3;
			}
		}
	}
	assert_int_equal(cases, 4 * 11 * 2 * 3);
}

/* ---- Implications, spelled out ---- */

static void test_acl_allow_implies_describe_and_describe_configs(void **state)
{
	(void)state;
	struct acl_authorizer a = authz(NULL, false);
	static const struct { int8_t has, op; bool allowed; } cases[] = {
		{ACL_OP_READ, ACL_OP_DESCRIBE, true},
		{ACL_OP_WRITE, ACL_OP_DESCRIBE, true},
		{ACL_OP_DELETE, ACL_OP_DESCRIBE, true},
		{ACL_OP_ALTER, ACL_OP_DESCRIBE, true},
		{ACL_OP_CREATE, ACL_OP_DESCRIBE, false},
		{ACL_OP_ALTER_CONFIGS, ACL_OP_DESCRIBE, false},
		{ACL_OP_ALTER_CONFIGS, ACL_OP_DESCRIBE_CONFIGS, true},
		{ACL_OP_ALTER, ACL_OP_DESCRIBE_CONFIGS, false},
		{ACL_OP_DESCRIBE, ACL_OP_READ, false},
		{ACL_OP_DESCRIBE_CONFIGS, ACL_OP_ALTER_CONFIGS, false},
		{ACL_OP_READ, ACL_OP_WRITE, false},
		{ACL_OP_WRITE, ACL_OP_IDEMPOTENT_WRITE, false},
		{ACL_OP_ALL, ACL_OP_CLUSTER_ACTION, true},
	};
	for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
		struct acl_binding b = BIND(TOPIC, "t", LITERAL, "User:alice", "*",
					    ALL, ALLOW);
		b.operation = cases[i].has;
		struct acl_request q = ASK("User:alice", "h", READ, TOPIC, "t");
		q.operation = cases[i].op;
		assert_int_equal(decide(&a, &b, 1, q).result,
				 cases[i].allowed ? ACL_ALLOWED : ACL_DENIED);
	}
	acl_authorizer_fini(&a);
}

static void test_acl_deny_implies_nothing_but_deny_all_denies_everything(void **state)
{
	(void)state;
	struct acl_authorizer a = authz(NULL, false);
	struct acl_binding acls[] = {
		BIND(TOPIC, "t", LITERAL, "User:*", "*", DESCRIBE, ALLOW),
		BIND(TOPIC, "t", LITERAL, "User:alice", "*", READ, DENY),
	};
	/* A DENY of READ does not deny DESCRIBE (KAFKA: findResult). */
	assert_decision(decide(&a, acls, 2, ASK("User:alice", "h", DESCRIBE, TOPIC, "t")),
			ACL_ALLOWED, ACL_RULE_ALLOW_ACL, 0);
	assert_decision(decide(&a, acls, 2, ASK("User:alice", "h", READ, TOPIC, "t")),
			ACL_DENIED, ACL_RULE_DENY_ACL, 1);
	/* A DENY of ALL denies every operation, DESCRIBE included. */
	acls[1].operation = ACL_OP_ALL;
	for (int8_t op = ACL_OP_READ; op <= ACL_OP_IDEMPOTENT_WRITE; op++) {
		struct acl_request q = ASK("User:alice", "h", READ, TOPIC, "t");
		q.operation = op;
		assert_decision(decide(&a, acls, 2, q), ACL_DENIED, ACL_RULE_DENY_ACL, 1);
	}
	acl_authorizer_fini(&a);
}

/* ---- Super users ---- */

static void test_acl_super_users_parsed_trimmed_and_always_allowed(void **state)
{
	(void)state;
	struct acl_authorizer a = authz(" User:admin ; User:ops;;  ", false);
	assert_int_equal(a.n_super_users, 2);
	assert_string_equal(a.super_users[0], "User:admin");
	assert_string_equal(a.super_users[1], "User:ops");
	struct acl_binding deny = BIND(CLUSTER, ACL_CLUSTER_NAME, LITERAL, "User:*",
				       "*", ALL, DENY);
	assert_decision(decide(&a, &deny, 1, ASK("User:ops", "h", ALTER, CLUSTER,
						 ACL_CLUSTER_NAME)),
			ACL_ALLOWED, ACL_RULE_SUPER_USER, -1);
	/* Exact names only: not a prefix, not another type. */
	assert_false(acl_is_super_user(&a, S("User:adm")));
	assert_false(acl_is_super_user(&a, S("User:admins")));
	assert_false(acl_is_super_user(&a, S("Group:admin")));
	assert_decision(decide(&a, &deny, 1, ASK("User:admins", "h", ALTER, CLUSTER,
						 ACL_CLUSTER_NAME)),
			ACL_DENIED, ACL_RULE_DENY_ACL, 0);
	acl_authorizer_fini(&a);
	assert_int_equal(a.n_super_users, 0);
	assert_null(a.super_users);
}

static void test_acl_super_users_empty_or_malformed(void **state)
{
	(void)state;
	struct acl_authorizer a = authz(NULL, false);
	assert_int_equal(a.n_super_users, 0);
	acl_authorizer_fini(&a);
	a = authz("", true);
	assert_int_equal(a.n_super_users, 0);
	assert_true(a.allow_everyone_if_no_acl_found);
	acl_authorizer_fini(&a);
	/* KAFKA: SecurityUtils.parseKafkaPrincipal wants Type:name. */
	tu_log_clear();
	assert_int_equal(acl_authorizer_init(&a, "User:a;alice", false), KB_ERR_INVAL);
	assert_logged("super.users: 'alice' is not Type:name");
	assert_int_equal(a.n_super_users, 0);
	assert_null(a.super_users);
}

/* ---- Principals and hosts ---- */

static void test_acl_wildcard_principal_and_host(void **state)
{
	(void)state;
	struct acl_authorizer a = authz(NULL, false);
	struct acl_binding acls[] = {
		BIND(TOPIC, "t", LITERAL, "User:*", "10.0.0.1", WRITE, ALLOW),
		BIND(TOPIC, "t", LITERAL, "User:alice", "*", READ, ALLOW),
	};
	assert_int_equal(decide(&a, acls, 2, ASK("User:bob", "10.0.0.1", WRITE, TOPIC, "t")).result,
			 ACL_ALLOWED);
	assert_decision(decide(&a, acls, 2, ASK("User:bob", "10.0.0.2", WRITE, TOPIC, "t")),
			ACL_DENIED, ACL_RULE_NO_MATCH, -1);
	assert_int_equal(decide(&a, acls, 2, ASK("User:alice", "192.168.1.9", READ, TOPIC, "t")).result,
			 ACL_ALLOWED);
	assert_int_equal(decide(&a, acls, 2, ASK("User:bob", "192.168.1.9", READ, TOPIC, "t")).result,
			 ACL_DENIED);
	/* Names compare whole: User:alice is not User:alic or User:alice2. */
	assert_int_equal(decide(&a, acls, 2, ASK("User:alic", "h", READ, TOPIC, "t")).result,
			 ACL_DENIED);
	assert_int_equal(decide(&a, acls, 2, ASK("User:alice2", "h", READ, TOPIC, "t")).result,
			 ACL_DENIED);
	/* The host "*" is a wildcard in a binding, not in a request. */
	acls[1].host = S("10.0.0.1");
	assert_int_equal(decide(&a, acls, 2, ASK("User:alice", "*", READ, TOPIC, "t")).result,
			 ACL_DENIED);
	acl_authorizer_fini(&a);
}

/* ---- Patterns ---- */

static void test_acl_prefixed_literal_and_wildcard_names(void **state)
{
	(void)state;
	struct acl_authorizer a = authz(NULL, false);
	static const struct {
		const char *pattern;
		int8_t pat;
		const char *name;
		bool allowed;
	} cases[] = {
		{"ord", ACL_PATTERN_LITERAL, "orders", false},
		{"orders", ACL_PATTERN_LITERAL, "orders", true},
		{"orders", ACL_PATTERN_LITERAL, "ord", false},
		{"ord", ACL_PATTERN_PREFIXED, "orders", true},
		{"ord", ACL_PATTERN_PREFIXED, "ord", true},
		{"orders", ACL_PATTERN_PREFIXED, "ord", false},
		{"ord", ACL_PATTERN_PREFIXED, "xord", false},
		{"*", ACL_PATTERN_LITERAL, "orders", true},
		{"*", ACL_PATTERN_LITERAL, "*", true},
		{"*", ACL_PATTERN_PREFIXED, "orders", false}, /* only "*..." */
		{"*", ACL_PATTERN_PREFIXED, "*orders", true},
		{"o*", ACL_PATTERN_LITERAL, "orders", false}, /* no globs */
	};
	for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
		struct acl_binding b = BIND(TOPIC, "x", LITERAL, "User:alice", "*",
					    READ, ALLOW);
		b.resource_name = S(cases[i].pattern);
		b.pattern_type = cases[i].pat;
		struct acl_decision d = decide(&a, &b, 1,
			ASK("User:alice", "h", READ, TOPIC, cases[i].name));
		assert_int_equal(d.result, cases[i].allowed ? ACL_ALLOWED : ACL_DENIED);
		/* Not covered: no ACL on the resource, the default decides. */
		assert_int_equal(d.rule, cases[i].allowed ? ACL_RULE_ALLOW_ACL
							  : ACL_RULE_NO_ACL);
	}
	acl_authorizer_fini(&a);
}

/* ---- DENY beats ALLOW ---- */

static void test_acl_deny_beats_allow_in_any_order(void **state)
{
	(void)state;
	struct acl_authorizer a = authz(NULL, false);
	/* DENY prefixed against ALLOW literal, and the reverse order. */
	struct acl_binding acls[] = {
		BIND(TOPIC, "orders", LITERAL, "User:alice", "*", WRITE, ALLOW),
		BIND(TOPIC, "ord", PREFIXED, "User:alice", "*", WRITE, DENY),
	};
	struct acl_request q = ASK("User:alice", "h", WRITE, TOPIC, "orders");
	assert_decision(decide(&a, acls, 2, q), ACL_DENIED, ACL_RULE_DENY_ACL, 1);
	struct acl_binding rev[] = {acls[1], acls[0]};
	assert_decision(decide(&a, rev, 2, q), ACL_DENIED, ACL_RULE_DENY_ACL, 0);
	/* The DENY covers only its prefix. */
	assert_int_equal(decide(&a, acls, 2, ASK("User:alice", "h", WRITE, TOPIC,
						 "or")).result, ACL_DENIED);
	/* A DENY for User:* beats an ALLOW for alice; a DENY from one host
	 * leaves the others allowed. */
	acls[1] = BIND(TOPIC, "*", LITERAL, "User:*", "10.0.0.9", WRITE, DENY);
	assert_decision(decide(&a, acls, 2, ASK("User:alice", "10.0.0.9", WRITE, TOPIC, "orders")),
			ACL_DENIED, ACL_RULE_DENY_ACL, 1);
	assert_decision(decide(&a, acls, 2, ASK("User:alice", "10.0.0.8", WRITE, TOPIC, "orders")),
			ACL_ALLOWED, ACL_RULE_ALLOW_ACL, 0);
	acl_authorizer_fini(&a);
}

/* Invariant 3: every order of the bindings gives one answer. */
static void test_acl_decision_independent_of_binding_order(void **state)
{
	(void)state;
	struct acl_authorizer a = authz(NULL, false);
	const struct acl_binding base[] = {
		BIND(TOPIC, "o", PREFIXED, "User:*", "*", READ, ALLOW),
		BIND(TOPIC, "orders", LITERAL, "User:bob", "*", ALL, DENY),
		BIND(TOPIC, "*", LITERAL, "User:alice", "*", DESCRIBE, ALLOW),
		BIND(GROUP, "orders", LITERAL, "User:alice", "*", READ, DENY),
	};
	const struct acl_request asks[] = {
		ASK("User:alice", "h", READ, TOPIC, "orders"),
		ASK("User:bob", "h", READ, TOPIC, "orders"),
		ASK("User:bob", "h", DESCRIBE, TOPIC, "orders"),
		ASK("User:carol", "h", DESCRIBE, TOPIC, "other"),
		ASK("User:carol", "h", WRITE, TOPIC, "orders"),
		ASK("User:alice", "h", READ, GROUP, "orders"),
	};
	const enum acl_result want[] = {ACL_ALLOWED, ACL_DENIED, ACL_DENIED,
					ACL_ALLOWED, ACL_DENIED, ACL_DENIED};
	size_t n = KB_ARRAY_LEN(base);
	for (size_t rot = 0; rot < n; rot++) {
		for (int reversed = 0; reversed < 2; reversed++) {
			struct acl_binding acls[KB_ARRAY_LEN(base)];
			for (size_t i = 0; i < n; i++)
				acls[reversed ? n - 1 - i : i] = base[(i + rot) % n];
			for (size_t k = 0; k < KB_ARRAY_LEN(asks); k++)
				assert_int_equal(decide(&a, acls, n, asks[k]).result,
						 want[k]);
		}
	}
	acl_authorizer_fini(&a);
}

/* ---- allow.everyone.if.no.acl.found ---- */

static void test_acl_no_acl_found_default_both_ways(void **state)
{
	(void)state;
	const struct acl_binding acls[] = {
		BIND(TOPIC, "orders", LITERAL, "User:bob", "10.0.0.1", WRITE, ALLOW),
	};
	for (int open = 0; open < 2; open++) {
		struct acl_authorizer a = authz(NULL, open);
		enum acl_result dflt = open ? ACL_ALLOWED : ACL_DENIED;
		/* No bindings at all, or none on this resource: the default. */
		assert_decision(decide(&a, NULL, 0, ASK("User:alice", "h", READ, TOPIC, "orders")),
				dflt, ACL_RULE_NO_ACL, -1);
		assert_decision(decide(&a, acls, 1, ASK("User:alice", "h", READ, TOPIC, "other")),
				dflt, ACL_RULE_NO_ACL, -1);
		assert_decision(decide(&a, acls, 1, ASK("User:alice", "h", READ, GROUP, "orders")),
				dflt, ACL_RULE_NO_ACL, -1);
		/* A binding names the resource (any principal, host or op):
		 * denied whatever the default. */
		assert_decision(decide(&a, acls, 1, ASK("User:alice", "h", READ, TOPIC, "orders")),
				ACL_DENIED, ACL_RULE_NO_MATCH, -1);
		assert_decision(decide(&a, acls, 1, ASK("User:bob", "10.0.0.2", WRITE, TOPIC, "orders")),
				ACL_DENIED, ACL_RULE_NO_MATCH, -1);
		acl_authorizer_fini(&a);
	}
}

/* ---- Well-formed bindings and requests ---- */

static void test_acl_binding_valid_rejects_each_bad_field(void **state)
{
	(void)state;
	const struct acl_binding good = BIND(TOPIC, "t", PREFIXED, "User:a", "*",
					     WRITE, ALLOW);
	assert_true(acl_binding_valid(&good));
	struct acl_binding b;
	int8_t bad_types[] = {0, 1, 6, 7, -1};
	for (size_t i = 0; i < KB_ARRAY_LEN(bad_types); i++) {
		b = good, b.resource_type = bad_types[i];
		assert_false(acl_binding_valid(&b));
	}
	int8_t bad_patterns[] = {0, 1, 2, 5};
	for (size_t i = 0; i < KB_ARRAY_LEN(bad_patterns); i++) {
		b = good, b.pattern_type = bad_patterns[i];
		assert_false(acl_binding_valid(&b));
	}
	int8_t bad_ops[] = {0, 1, 13, 14, -3};
	for (size_t i = 0; i < KB_ARRAY_LEN(bad_ops); i++) {
		b = good, b.operation = bad_ops[i];
		assert_false(acl_binding_valid(&b));
	}
	int8_t bad_perms[] = {0, 1, 4};
	for (size_t i = 0; i < KB_ARRAY_LEN(bad_perms); i++) {
		b = good, b.permission = bad_perms[i];
		assert_false(acl_binding_valid(&b));
	}
	b = good, b.resource_name = S("");
	assert_false(acl_binding_valid(&b));
	b = good, b.resource_name = S(NULL);
	assert_false(acl_binding_valid(&b));
	b = good, b.principal = S("alice");
	assert_false(acl_binding_valid(&b));
	b = good, b.principal = S(NULL);
	assert_false(acl_binding_valid(&b));
	b = good, b.host = S(NULL);
	assert_false(acl_binding_valid(&b));
	b = good, b.resource_name.len = WIRE_STRING_MAX + 1;
	assert_false(acl_binding_valid(&b));
	b = good, b.host = S(""); /* any string is a host */
	assert_true(acl_binding_valid(&b));
}

/* Invariant 2: a binding that is not well-formed never matches, and does
 * not count as an ACL on the resource either. */
static void test_acl_ill_formed_binding_never_matches(void **state)
{
	(void)state;
	struct acl_authorizer a = authz(NULL, true);
	struct acl_binding b = BIND(TOPIC, "t", LITERAL, "User:alice", "*", ALL, DENY);
	b.pattern_type = 2; /* KAFKA: PatternType.MATCH, a filter only */
	struct acl_request q = ASK("User:alice", "h", READ, TOPIC, "t");
	assert_decision(acl_decide(&a, &b, 1, &q), ACL_ALLOWED, ACL_RULE_NO_ACL, -1);
	b.pattern_type = ACL_PATTERN_LITERAL;
	assert_decision(decide(&a, &b, 1, q), ACL_DENIED, ACL_RULE_DENY_ACL, 0);
	acl_authorizer_fini(&a);
}

static void test_acl_bad_request_is_denied_even_for_super_user(void **state)
{
	(void)state;
	struct acl_authorizer a = authz("User:admin", true);
	struct acl_request bad[] = {
		ASK("admin", "h", READ, TOPIC, "t"),        /* no colon */
		ASK("User:admin", "h", ALL, TOPIC, "t"),    /* ALL is no question */
		ASK("User:admin", "h", READ, TOPIC, NULL),  /* null name */
		ASK("User:admin", NULL, READ, TOPIC, "t"),  /* null host */
	};
	for (size_t i = 0; i < KB_ARRAY_LEN(bad); i++)
		assert_decision(decide(&a, NULL, 0, bad[i]), ACL_DENIED,
				ACL_RULE_BAD_REQUEST, -1);
	struct acl_request q = ASK("User:admin", "h", READ, TOPIC, "t");
	q.resource_type = 1; /* KAFKA: ResourceType.ANY, a filter only */
	assert_int_equal(decide(&a, NULL, 0, q).rule, ACL_RULE_BAD_REQUEST);
	/* An empty group id is a real group (legacy consumers). */
	assert_decision(decide(&a, NULL, 0, ASK("User:bob", "h", READ, GROUP, "")),
			ACL_ALLOWED, ACL_RULE_NO_ACL, -1);
	acl_authorizer_fini(&a);
}

/* ---- From a metadata record ---- */

/* A binding is the fields of an AccessControlEntryRecord as chapter 07
 * decodes them: the codes are the same numbers, the strings views. */
static void test_acl_binding_from_access_control_entry_record(void **state)
{
	(void)state;
	struct meta_record rec, got;
	meta_record_init(&rec, META_ACCESS_CONTROL_ENTRY, 0);
	rec.acl_id.b[15] = 7;
	rec.resource_type = ACL_RESOURCE_TOPIC;
	rec.resource_name = S("pay");
	rec.pattern_type = ACL_PATTERN_PREFIXED;
	rec.principal = S("User:*");
	rec.host = S("*");
	rec.operation = ACL_OP_ALL;
	rec.permission_type = ACL_DENY;
	struct kb_buf buf;
	kb_buf_init(&buf);
	assert_int_equal(meta_record_encode(&rec, &buf), KB_OK);
	assert_int_equal(meta_record_decode(buf.data, buf.len, &got), KB_OK);
	struct acl_binding b = {got.resource_type, got.resource_name,
				got.pattern_type, got.principal, got.host,
				got.operation, got.permission_type};
	assert_true(acl_binding_valid(&b));
	struct acl_authorizer a = authz(NULL, true);
	assert_decision(decide(&a, &b, 1, ASK("User:bob", "h", DESCRIBE, TOPIC, "payments")),
			ACL_DENIED, ACL_RULE_DENY_ACL, 0);
	assert_decision(decide(&a, &b, 1, ASK("User:bob", "h", DESCRIBE, TOPIC, "orders")),
			ACL_ALLOWED, ACL_RULE_NO_ACL, -1);
	acl_authorizer_fini(&a);
	meta_record_fini(&got);
	meta_record_fini(&rec);
	kb_buf_fini(&buf);
}

/* ---- Which API needs what ---- */

/* The one row of api_key for (type, op), or NULL. */
static const struct acl_api_rule *find_rule(int16_t key, int8_t type, int8_t op)
{
	size_t n;
	const struct acl_api_rule *r = acl_api_rules(key, &n);
	const struct acl_api_rule *found = NULL;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(r[i].api_key, key);
		if (r[i].resource_type == type && r[i].operation == op) {
			assert_null(found);
			found = &r[i];
		}
	}
	return found;
}

static void test_acl_api_table_spot_checks(void **state)
{
	(void)state;
	static const struct {
		int16_t key;
		int8_t type, op;
		enum acl_when when;
		bool either;
	} want[] = {
		{0, ACL_RESOURCE_TOPIC, ACL_OP_WRITE, ACL_WHEN_ALWAYS, false},
		{0, ACL_RESOURCE_TRANSACTIONAL_ID, ACL_OP_WRITE, ACL_WHEN_TRANSACTIONAL, false},
		{1, ACL_RESOURCE_TOPIC, ACL_OP_READ, ACL_WHEN_CLIENT, false},
		{1, ACL_RESOURCE_CLUSTER, ACL_OP_CLUSTER_ACTION, ACL_WHEN_REPLICA, false},
		{2, ACL_RESOURCE_TOPIC, ACL_OP_DESCRIBE, ACL_WHEN_ALWAYS, false},
		{3, ACL_RESOURCE_TOPIC, ACL_OP_DESCRIBE, ACL_WHEN_ALWAYS, false},
		{3, ACL_RESOURCE_CLUSTER, ACL_OP_CREATE, ACL_WHEN_AUTO_CREATE, true},
		{3, ACL_RESOURCE_TOPIC, ACL_OP_CREATE, ACL_WHEN_AUTO_CREATE, true},
		{8, ACL_RESOURCE_GROUP, ACL_OP_READ, ACL_WHEN_ALWAYS, false},
		{8, ACL_RESOURCE_TOPIC, ACL_OP_READ, ACL_WHEN_ALWAYS, false},
		{10, ACL_RESOURCE_GROUP, ACL_OP_DESCRIBE, ACL_WHEN_ALWAYS, false},
		{11, ACL_RESOURCE_GROUP, ACL_OP_READ, ACL_WHEN_ALWAYS, false},
		{12, ACL_RESOURCE_GROUP, ACL_OP_READ, ACL_WHEN_ALWAYS, false},
		{13, ACL_RESOURCE_GROUP, ACL_OP_READ, ACL_WHEN_ALWAYS, false},
		{14, ACL_RESOURCE_GROUP, ACL_OP_READ, ACL_WHEN_ALWAYS, false},
		{15, ACL_RESOURCE_GROUP, ACL_OP_DESCRIBE, ACL_WHEN_ALWAYS, false},
		{19, ACL_RESOURCE_CLUSTER, ACL_OP_CREATE, ACL_WHEN_ALWAYS, true},
		{19, ACL_RESOURCE_TOPIC, ACL_OP_CREATE, ACL_WHEN_ALWAYS, true},
		{20, ACL_RESOURCE_TOPIC, ACL_OP_DELETE, ACL_WHEN_ALWAYS, false},
		{21, ACL_RESOURCE_TOPIC, ACL_OP_DELETE, ACL_WHEN_ALWAYS, false},
		{22, ACL_RESOURCE_CLUSTER, ACL_OP_IDEMPOTENT_WRITE, ACL_WHEN_IDEMPOTENT, true},
		{22, ACL_RESOURCE_TRANSACTIONAL_ID, ACL_OP_WRITE, ACL_WHEN_TRANSACTIONAL, false},
		{29, ACL_RESOURCE_CLUSTER, ACL_OP_DESCRIBE, ACL_WHEN_ALWAYS, false},
		{30, ACL_RESOURCE_CLUSTER, ACL_OP_ALTER, ACL_WHEN_ALWAYS, false},
		{31, ACL_RESOURCE_CLUSTER, ACL_OP_ALTER, ACL_WHEN_ALWAYS, false},
		{32, ACL_RESOURCE_TOPIC, ACL_OP_DESCRIBE_CONFIGS, ACL_WHEN_ALWAYS, false},
		{33, ACL_RESOURCE_CLUSTER, ACL_OP_ALTER_CONFIGS, ACL_WHEN_ALWAYS, false},
		{37, ACL_RESOURCE_TOPIC, ACL_OP_ALTER, ACL_WHEN_ALWAYS, false},
		{42, ACL_RESOURCE_GROUP, ACL_OP_DELETE, ACL_WHEN_ALWAYS, false},
		{44, ACL_RESOURCE_TOPIC, ACL_OP_ALTER_CONFIGS, ACL_WHEN_ALWAYS, false},
		{52, ACL_RESOURCE_CLUSTER, ACL_OP_CLUSTER_ACTION, ACL_WHEN_ALWAYS, false},
		{55, ACL_RESOURCE_CLUSTER, ACL_OP_DESCRIBE, ACL_WHEN_ALWAYS, false},
		{62, ACL_RESOURCE_CLUSTER, ACL_OP_CLUSTER_ACTION, ACL_WHEN_ALWAYS, false},
		{63, ACL_RESOURCE_CLUSTER, ACL_OP_CLUSTER_ACTION, ACL_WHEN_ALWAYS, false},
		{67, ACL_RESOURCE_CLUSTER, ACL_OP_CLUSTER_ACTION, ACL_WHEN_ALWAYS, false},
	};
	for (size_t i = 0; i < KB_ARRAY_LEN(want); i++) {
		const struct acl_api_rule *r = find_rule(want[i].key, want[i].type,
							 want[i].op);
		assert_non_null(r);
		assert_int_equal(r->when, want[i].when);
		assert_int_equal(r->either, want[i].either);
		assert_non_null(r->note);
	}
	/* Produce never asks IDEMPOTENT_WRITE (KIP-679); Fetch never WRITE. */
	assert_null(find_rule(0, ACL_RESOURCE_CLUSTER, ACL_OP_IDEMPOTENT_WRITE));
	assert_null(find_rule(1, ACL_RESOURCE_TOPIC, ACL_OP_WRITE));
	/* Fetch has exactly its two rows. */
	size_t n;
	assert_non_null(acl_api_rules(1, &n));
	assert_int_equal(n, 2);
}

static void test_acl_api_without_acl_has_no_rows(void **state)
{
	(void)state;
	const int16_t none[] = {17, 18, 36, 9999, -1}; /* SaslHandshake,
		ApiVersions, SaslAuthenticate, no such API */
	for (size_t i = 0; i < KB_ARRAY_LEN(none); i++) {
		size_t n = 77;
		assert_null(acl_api_rules(none[i], &n));
		assert_int_equal(n, 0);
	}
	/* The first and the last key of the table are found too. */
	size_t n;
	assert_non_null(acl_api_rules(0, &n));
	assert_int_equal(n, 2);
	assert_non_null(acl_api_rules(82, &n));
	assert_int_equal(n, 1);
}

static void test_acl_names(void **state)
{
	(void)state;
	assert_string_equal(acl_operation_name(ACL_OP_WRITE), "WRITE");
	assert_string_equal(acl_operation_name(ACL_OP_IDEMPOTENT_WRITE),
			    "IDEMPOTENT_WRITE");
	assert_string_equal(acl_operation_name(ACL_OP_ALL), "ALL");
	assert_string_equal(acl_operation_name(1), "UNKNOWN");
	assert_string_equal(acl_operation_name(13), "UNKNOWN");
	assert_string_equal(acl_operation_name(-128), "UNKNOWN");
	assert_string_equal(acl_resource_type_name(ACL_RESOURCE_TRANSACTIONAL_ID),
			    "TRANSACTIONAL_ID");
	assert_string_equal(acl_resource_type_name(6), "UNKNOWN");
}

/* ---- The ACL APIs (12_acl_apis.c) ---- */

/* A controller over a scratch topic manager (ctrl_new wants one). */
struct acl_ctrl_env {
	char *dir;
	struct topic_manager *tm;
	struct ctrl *c;
	struct meta_image img;
};

static void env_open(struct acl_ctrl_env *e)
{
	struct topic_broker_config tc;
	topic_broker_config_defaults(&tc);
	e->dir = tu_tmpdir();
	snprintf(tc.log_dir, sizeof tc.log_dir, "%s", e->dir);
	assert_int_equal(topic_manager_open(&tc, NULL, &e->tm), KB_OK);
	struct ctrl_config cc = {1, "cluster", 0, 1, 1, 1, true, 42, e->tm};
	assert_int_equal(ctrl_new(&cc, &e->c), KB_OK);
	meta_image_init(&e->img);
}

static void env_close(struct acl_ctrl_env *e)
{
	meta_image_fini(&e->img);
	ctrl_free(e->c);
	topic_manager_close(e->tm);
	tu_rmrf(e->dir);
}

/* Decide body (api, version) with fn over e's image; apply the records. */
static void env_decide(struct acl_ctrl_env *e, ctrl_decide_fn fn, int16_t api,
		       int16_t v, const struct kb_buf *body, struct ctrl_output *out)
{
	struct wire_reader r;
	wire_reader_init(&r, body->data, body->len, wire_is_flexible(api, v));
	struct ctrl_input in = {api, v, r, &e->img, 0, 0, false};
	ctrl_output_init(out);
	assert_int_equal(fn(NULL, e->c, &in, out), KB_OK);
	for (int i = 0; i < out->n; i++) {
		size_t start = i ? out->ends[i - 1] : 0;
		struct meta_record rec;
		assert_int_equal(meta_record_decode(out->records.data + start,
						    out->ends[i] - start, &rec),
				 KB_OK);
		assert_int_equal(meta_apply(&e->img, &rec), KB_OK);
		meta_record_fini(&rec);
	}
	ctrl_check(e->c);
}

/* The error codes of a CreateAcls response body at version v. */
static int32_t create_errors(const struct kb_buf *resp, int16_t v, int16_t *err,
			     int32_t max)
{
	struct wire_reader r;
	wire_reader_init(&r, resp->data, resp->len,
			 wire_is_flexible(WIRE_API_CREATE_ACLS, v));
	wire_read_i32(&r);
	int32_t n = wire_read_array_len(&r, 3);
	for (int32_t i = 0; i < n && i < max; i++) {
		err[i] = wire_read_i16(&r);
		wire_read_nullable_string(&r);
		wire_read_tags(&r);
	}
	wire_read_tags(&r);
	assert_int_equal(wire_reader_status(&r), KB_OK);
	assert_int_equal(wire_remaining(&r), 0);
	return n;
}

static void test_acl_create_acls_writes_one_record_per_new_valid_binding(void **state)
{
	(void)state;
	struct acl_ctrl_env e;
	env_open(&e);
	struct acl_binding b[] = {
		BIND(TOPIC, "orders", LITERAL, "User:a", "*", WRITE, ALLOW),
		BIND(TOPIC, "orders", LITERAL, "User:a", "*", WRITE, ALLOW),
		BIND(CLUSTER, "not-kafka-cluster", LITERAL, "User:a", "*", ALTER, ALLOW),
		BIND(TOPIC, "", LITERAL, "User:a", "*", READ, ALLOW),
		BIND(GROUP, "g", PREFIXED, "nocolon", "*", READ, ALLOW),
	};
	for (int16_t v = 0; v <= 3; v++) {
		struct kb_buf body;
		kb_buf_init(&body);
		assert_int_equal(acl_create_req_encode(b, 5, v, &body), KB_OK);
		struct ctrl_output out;
		env_decide(&e, acl_decide_create, WIRE_API_CREATE_ACLS, v, &body, &out);
		/* INVARIANT 1: the duplicate and the three invalid ones: none */
		assert_int_equal(out.n, v == 0 ? 1 : 0);
		int16_t err[5];
		assert_int_equal(create_errors(&out.response, v, err, 5), 5);
		assert_int_equal(err[0], KAFKA_ERR_NONE);
		assert_int_equal(err[1], KAFKA_ERR_NONE); /* KAFKA: SUCCESS */
		assert_int_equal(err[2], KAFKA_ERR_INVALID_REQUEST);
		assert_int_equal(err[3], KAFKA_ERR_INVALID_REQUEST);
		assert_int_equal(err[4], KAFKA_ERR_INVALID_REQUEST);
		ctrl_output_fini(&out);
		kb_buf_fini(&body);
	}
	assert_int_equal(e.img.n_acls, 1); /* stored once, across versions */
	struct acl_binding k = acl_binding_from_record(&e.img.acls[0].rec);
	assert_true(wire_str_eq(k.resource_name, "orders"));
	assert_int_equal(k.operation, ACL_OP_WRITE);
	env_close(&e);
}

static void test_acl_create_acls_ids_are_new(void **state)
{
	(void)state;
	struct acl_ctrl_env e;
	env_open(&e);
	char name[16];
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof name, "t%d", i);
		struct acl_binding b = BIND(TOPIC, name, LITERAL, "User:a", "*",
					    READ, ALLOW);
		struct kb_buf body;
		kb_buf_init(&body);
		assert_int_equal(acl_create_req_encode(&b, 1, 3, &body), KB_OK);
		struct ctrl_output out;
		env_decide(&e, acl_decide_create, WIRE_API_CREATE_ACLS, 3, &body, &out);
		assert_int_equal(out.n, 1);
		ctrl_output_fini(&out);
		kb_buf_fini(&body);
	}
	assert_int_equal(e.img.n_acls, 20); /* INVARIANT 2: meta_apply keeps ids unique */
	env_close(&e);
}

/* A DeleteAcls body of filters f[0..n) at version v. */
static void delete_body(const struct acl_filter *f, int32_t n, int16_t v,
			struct kb_buf *out)
{
	struct wire_writer w;
	wire_writer_init(&w, out, wire_is_flexible(WIRE_API_DELETE_ACLS, v));
	wire_write_array_len(&w, n);
	for (int32_t i = 0; i < n; i++) {
		acl_filter_write(&w, &f[i], v);
		wire_write_tags(&w);
	}
	wire_write_tags(&w);
	assert_int_equal(w.err, KB_OK);
}

static void test_acl_delete_acls_removes_what_each_filter_matches(void **state)
{
	(void)state;
	struct acl_ctrl_env e;
	env_open(&e);
	struct acl_binding b[] = {
		BIND(TOPIC, "orders", LITERAL, "User:a", "*", WRITE, ALLOW),
		BIND(TOPIC, "ord", PREFIXED, "User:a", "*", WRITE, DENY),
		BIND(TOPIC, "*", LITERAL, "User:b", "*", READ, ALLOW),
		BIND(GROUP, "g", LITERAL, "User:a", "*", READ, ALLOW),
	};
	struct kb_buf body;
	kb_buf_init(&body);
	assert_int_equal(acl_create_req_encode(b, 4, 2, &body), KB_OK);
	struct ctrl_output out;
	env_decide(&e, acl_decide_create, WIRE_API_CREATE_ACLS, 2, &body, &out);
	ctrl_output_fini(&out);
	assert_int_equal(e.img.n_acls, 4);
	/* MATCH "orders" covers the literal, the prefix and the wildcard;
	 * the second filter matches one of them again (removed once); the
	 * third has an unknown operation (0). */
	struct acl_filter f[] = {
		{ACL_RESOURCE_TOPIC, S("orders"), ACL_PATTERN_MATCH, S(NULL),
		 S(NULL), ACL_OP_ANY, ACL_PERMISSION_ANY},
		{ACL_RESOURCE_ANY, S(NULL), ACL_PATTERN_ANY, S("User:b"),
		 S(NULL), ACL_OP_ANY, ACL_PERMISSION_ANY},
		{ACL_RESOURCE_ANY, S(NULL), ACL_PATTERN_ANY, S(NULL), S(NULL), 0,
		 ACL_PERMISSION_ANY},
	};
	body.len = 0;
	delete_body(f, 3, 1, &body);
	env_decide(&e, acl_decide_delete, WIRE_API_DELETE_ACLS, 1, &body, &out);
	assert_int_equal(out.n, 3);
	assert_int_equal(e.img.n_acls, 1); /* the group's stays */
	struct wire_reader r;
	wire_reader_init(&r, out.response.data, out.response.len, false);
	wire_read_i32(&r);
	assert_int_equal(wire_read_array_len(&r, 1), 3); /* INVARIANT 3 */
	int32_t want[] = {3, 1, 0};
	int16_t want_err[] = {KAFKA_ERR_NONE, KAFKA_ERR_NONE,
			      KAFKA_ERR_INVALID_REQUEST};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(wire_read_i16(&r), want_err[i]);
		wire_read_nullable_string(&r);
		int32_t m = wire_read_array_len(&r, 1);
		assert_int_equal(m, want[i]);
		for (int32_t k = 0; k < m; k++) {
			wire_read_i16(&r);
			wire_read_nullable_string(&r);
			wire_read_i8(&r);
			wire_read_string(&r);
			wire_read_i8(&r);
			wire_read_string(&r);
			wire_read_string(&r);
			wire_read_i8(&r);
			wire_read_i8(&r);
		}
	}
	assert_int_equal(wire_reader_status(&r), KB_OK);
	assert_int_equal(wire_remaining(&r), 0);
	ctrl_output_fini(&out);
	kb_buf_fini(&body);
	env_close(&e);
}

static void test_acl_filter_matches_as_kafka_does(void **state)
{
	(void)state;
	struct acl_binding lit = BIND(TOPIC, "orders", LITERAL, "User:a", "*", WRITE, ALLOW);
	struct acl_binding pre = BIND(TOPIC, "ord", PREFIXED, "User:a", "*", WRITE, DENY);
	struct acl_binding star = BIND(TOPIC, "*", LITERAL, "User:a", "*", READ, ALLOW);
	struct {
		struct acl_filter f;
		bool lit, pre, star;
	} cases[] = {
		{{ACL_RESOURCE_ANY, S(NULL), ACL_PATTERN_ANY, S(NULL), S(NULL),
		  ACL_OP_ANY, ACL_PERMISSION_ANY}, true, true, true},
		{{ACL_RESOURCE_TOPIC, S("orders"), ACL_PATTERN_MATCH, S(NULL),
		  S(NULL), ACL_OP_ANY, ACL_PERMISSION_ANY}, true, true, true},
		{{ACL_RESOURCE_TOPIC, S("orders"), ACL_PATTERN_ANY, S(NULL),
		  S(NULL), ACL_OP_ANY, ACL_PERMISSION_ANY}, true, false, false},
		{{ACL_RESOURCE_TOPIC, S("ord"), ACL_PATTERN_LITERAL, S(NULL),
		  S(NULL), ACL_OP_ANY, ACL_PERMISSION_ANY}, false, false, false},
		{{ACL_RESOURCE_TOPIC, S("ord"), ACL_PATTERN_PREFIXED, S(NULL),
		  S(NULL), ACL_OP_ANY, ACL_PERMISSION_ANY}, false, true, false},
		{{ACL_RESOURCE_TOPIC, S(NULL), ACL_PATTERN_ANY, S(NULL), S(NULL),
		  ACL_OP_WRITE, ACL_DENY}, false, true, false},
		{{ACL_RESOURCE_GROUP, S(NULL), ACL_PATTERN_ANY, S(NULL), S(NULL),
		  ACL_OP_ANY, ACL_PERMISSION_ANY}, false, false, false},
		{{ACL_RESOURCE_ANY, S(NULL), ACL_PATTERN_ANY, S("User:b"), S(NULL),
		  ACL_OP_ANY, ACL_PERMISSION_ANY}, false, false, false},
		{{ACL_RESOURCE_TOPIC, S("other"), ACL_PATTERN_MATCH, S(NULL),
		  S("*"), ACL_OP_ANY, ACL_PERMISSION_ANY}, false, false, true},
	};
	for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
		assert_null(acl_filter_problem(&cases[i].f));
		assert_int_equal(acl_filter_matches(&cases[i].f, &lit), cases[i].lit);
		assert_int_equal(acl_filter_matches(&cases[i].f, &pre), cases[i].pre);
		assert_int_equal(acl_filter_matches(&cases[i].f, &star), cases[i].star);
	}
	struct acl_filter unknown = {0, S(NULL), ACL_PATTERN_ANY, S(NULL), S(NULL),
				     ACL_OP_ANY, ACL_PERMISSION_ANY};
	assert_non_null(acl_filter_problem(&unknown));
}

static void test_acl_describe_groups_bindings_by_resource(void **state)
{
	(void)state;
	struct acl_ctrl_env e;
	env_open(&e);
	struct acl_binding b[] = {
		BIND(TOPIC, "orders", LITERAL, "User:a", "*", WRITE, ALLOW),
		BIND(GROUP, "g", LITERAL, "User:a", "*", READ, ALLOW),
		BIND(TOPIC, "orders", LITERAL, "User:b", "*", READ, ALLOW),
	};
	struct kb_buf body, resp;
	kb_buf_init(&body);
	kb_buf_init(&resp);
	assert_int_equal(acl_create_req_encode(b, 3, 3, &body), KB_OK);
	struct ctrl_output out;
	env_decide(&e, acl_decide_create, WIRE_API_CREATE_ACLS, 3, &body, &out);
	ctrl_output_fini(&out);
	struct acl_filter f = {ACL_RESOURCE_ANY, S(NULL), ACL_PATTERN_ANY,
			       S(NULL), S(NULL), ACL_OP_ANY, ACL_PERMISSION_ANY};
	/* round trip of the request body, flexible */
	struct wire_writer w;
	wire_writer_init(&w, &body, true);
	body.len = 0;
	acl_filter_write(&w, &f, 3);
	wire_write_tags(&w);
	struct wire_reader r;
	wire_reader_init(&r, body.data, body.len, true);
	struct acl_filter back;
	assert_int_equal(acl_describe_req_decode(&r, 3, &back), KB_OK);
	assert_int_equal(back.resource_name.len, -1);
	assert_int_equal(back.pattern_type, ACL_PATTERN_ANY);
	wire_writer_init(&w, &resp, true);
	acl_describe_write(&w, &e.img, &back, 3);
	assert_int_equal(w.err, KB_OK);
	wire_reader_init(&r, resp.data, resp.len, true);
	wire_read_i32(&r);
	assert_int_equal(wire_read_i16(&r), KAFKA_ERR_NONE);
	wire_read_nullable_string(&r);
	assert_int_equal(wire_read_array_len(&r, 1), 2); /* orders, g */
	int32_t per[2];
	for (int i = 0; i < 2; i++) {
		wire_read_i8(&r);
		wire_read_string(&r);
		wire_read_i8(&r);
		per[i] = wire_read_array_len(&r, 1);
		for (int32_t k = 0; k < per[i]; k++) {
			wire_read_string(&r);
			wire_read_string(&r);
			wire_read_i8(&r);
			wire_read_i8(&r);
			wire_read_tags(&r);
		}
		wire_read_tags(&r);
	}
	wire_read_tags(&r);
	assert_int_equal(wire_reader_status(&r), KB_OK);
	assert_int_equal(wire_remaining(&r), 0);
	assert_int_equal(per[0] + per[1], 3);
	assert_true((per[0] == 2 && per[1] == 1) || (per[0] == 1 && per[1] == 2));
	kb_buf_fini(&body);
	kb_buf_fini(&resp);
	env_close(&e);
}

static void test_acl_error_bodies_answer_every_entry(void **state)
{
	(void)state;
	struct acl_binding b[] = {
		BIND(TOPIC, "a", LITERAL, "User:a", "*", WRITE, ALLOW),
		BIND(TOPIC, "b", LITERAL, "User:a", "*", WRITE, ALLOW),
	};
	struct kb_buf body, resp;
	kb_buf_init(&body);
	kb_buf_init(&resp);
	assert_int_equal(acl_create_req_encode(b, 2, 1, &body), KB_OK);
	struct wire_reader r;
	wire_reader_init(&r, body.data, body.len, false);
	struct wire_writer w;
	wire_writer_init(&w, &resp, false);
	assert_int_equal(acl_create_error_write(&r, 1, KAFKA_ERR_NOT_CONTROLLER, &w),
			 KB_OK);
	int16_t err[2];
	assert_int_equal(create_errors(&resp, 1, err, 2), 2);
	assert_int_equal(err[0], KAFKA_ERR_NOT_CONTROLLER);
	assert_int_equal(err[1], KAFKA_ERR_NOT_CONTROLLER);
	/* a body cut short is malformed, never read past its end */
	wire_reader_init(&r, body.data, body.len - 1, false);
	resp.len = 0;
	wire_writer_init(&w, &resp, false);
	assert_int_not_equal(acl_create_error_write(&r, 1, KAFKA_ERR_NONE, &w), KB_OK);
	kb_buf_fini(&body);
	kb_buf_fini(&resp);
}

static void test_acl_ctrl_extend_routes_the_acl_apis(void **state)
{
	(void)state;
	struct acl_ctrl_env e;
	env_open(&e);
	struct ctrl_extension x = {WIRE_API_CREATE_ACLS, 0, 3, acl_decide_create, NULL};
	assert_int_equal(ctrl_extend(e.c, &x), KB_OK);
	assert_int_equal(ctrl_extend(e.c, &x), KB_ERR_EXISTS); /* INVARIANT 4 of 07 */
	struct acl_binding b = BIND(TOPIC, "t", LITERAL, "User:a", "*", READ, ALLOW);
	struct kb_buf body;
	kb_buf_init(&body);
	assert_int_equal(acl_create_req_encode(&b, 1, 3, &body), KB_OK);
	struct wire_reader r;
	wire_reader_init(&r, body.data, body.len, true);
	struct ctrl_input in = {WIRE_API_CREATE_ACLS, 3, r, &e.img, 0, 0, false};
	struct ctrl_output out;
	ctrl_output_init(&out);
	assert_int_equal(ctrl_handle(e.c, &in, &out), KB_OK);
	assert_int_equal(out.n, 1);
	ctrl_output_fini(&out);
	in.api_version = 4; /* past the range given */
	ctrl_output_init(&out);
	assert_int_equal(ctrl_handle(e.c, &in, &out), KB_ERR_NOTFOUND);
	ctrl_output_fini(&out);
	in.api_key = WIRE_API_DELETE_ACLS; /* not added */
	in.api_version = 1;
	ctrl_output_init(&out);
	assert_int_equal(ctrl_handle(e.c, &in, &out), KB_ERR_NOTFOUND);
	ctrl_output_fini(&out);
	kb_buf_fini(&body);
	env_close(&e);
}

int main(void)
{
	tu_log_quiet();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_acl_matrix_type_operation_pattern_permission),
		cmocka_unit_test(test_acl_allow_implies_describe_and_describe_configs),
		cmocka_unit_test(test_acl_deny_implies_nothing_but_deny_all_denies_everything),
		cmocka_unit_test(test_acl_super_users_parsed_trimmed_and_always_allowed),
		cmocka_unit_test(test_acl_super_users_empty_or_malformed),
		cmocka_unit_test(test_acl_wildcard_principal_and_host),
		cmocka_unit_test(test_acl_prefixed_literal_and_wildcard_names),
		cmocka_unit_test(test_acl_deny_beats_allow_in_any_order),
		cmocka_unit_test(test_acl_decision_independent_of_binding_order),
		cmocka_unit_test(test_acl_no_acl_found_default_both_ways),
		cmocka_unit_test(test_acl_binding_valid_rejects_each_bad_field),
		cmocka_unit_test(test_acl_ill_formed_binding_never_matches),
		cmocka_unit_test(test_acl_bad_request_is_denied_even_for_super_user),
		cmocka_unit_test(test_acl_binding_from_access_control_entry_record),
		cmocka_unit_test(test_acl_api_table_spot_checks),
		cmocka_unit_test(test_acl_api_without_acl_has_no_rows),
		cmocka_unit_test(test_acl_names),
		cmocka_unit_test(test_acl_create_acls_writes_one_record_per_new_valid_binding),
		cmocka_unit_test(test_acl_create_acls_ids_are_new),
		cmocka_unit_test(test_acl_delete_acls_removes_what_each_filter_matches),
		cmocka_unit_test(test_acl_filter_matches_as_kafka_does),
		cmocka_unit_test(test_acl_describe_groups_bindings_by_resource),
		cmocka_unit_test(test_acl_error_bodies_answer_every_entry),
		cmocka_unit_test(test_acl_ctrl_extend_routes_the_acl_apis),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
