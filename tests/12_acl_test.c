/* SPDX-License-Identifier: MIT */
/*
 * Tests for chapter 12 — ACLs, part 1: the authorizer's decision. Each
 * expectation is written from Kafka's rules (StandardAuthorizerData and
 * the IMPLIES_* sets), not from 12_acl.c: the operation matrix spells the
 * implications out as its own table. acl_check runs after every setup.
 */
#include "testutil.h"

#include "04_codec.h"
#include "07_metadata.h"
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
