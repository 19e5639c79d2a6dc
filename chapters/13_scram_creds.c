/* SPDX-License-Identifier: MIT */
/*
 * Chapter 13 — security, part SCRAM credentials: the users SCRAM knows,
 * kept where every broker of the cluster sees the same ones.
 *
 * Concept:
 *   A SCRAM credential (salt, iterations, StoredKey, ServerKey; never the
 *   password) is cluster state, like a topic or an ACL: the active
 *   controller writes it to the metadata log, every node's image holds
 *   it, and a broker's SASL listener asks its own image at login. A new
 *   cluster gets its first users from `samsa format --add-scram`; later
 *   ones from AlterUserScramCredentials, which an admin client sends with
 *   the salted password it computed itself.
 *
 * Kafka:
 *   UserScramCredentialRecord / RemoveUserScramCredentialRecord (KIP-554,
 *   ScramControlManager), DescribeUserScramCredentials (50) and
 *   AlterUserScramCredentials (51), v0, flexible; DESCRIBE / ALTER on the
 *   cluster; the checks of ScramControlManager.alterCredentials
 *   (iterations 4096..16384, no user twice in one request, a deletion of
 *   what is not there is RESOURCE_NOT_FOUND); kafka-storage format
 *   --add-scram 'SCRAM-SHA-512=[name=alice,password=alice-secret]'.
 *
 * Interface (13_scram_creds.h):
 *   - scram_creds_lookup reads an image; scram_node_lookup is the SASL
 *     listener's lookup over the node's image.
 *   - scram_node_open after the quorum node and its parts, before the
 *     listeners serve; scram_node_close before they close.
 *   - Format writes SCRAM_BOOTSTRAP_FILE; the first active controller of
 *     an empty metadata log proposes its records once.
 *
 * Invariants (scram_node_check):
 *   1. A record is written only for a credential that
 *      scram_credential_validate accepts; a removal only for one the image holds.
 *   2. One result per user named, in request order, no user twice.
 *   3. The bootstrap credentials are proposed at most once per process,
 *      and only while this node leads a log with no broker, topic or
 *      credential in it.
 *
 * Simplifications:
 *   - Kafka's format writes bootstrap.checkpoint (a snapshot of every
 *     bootstrap record); samsa writes the credentials alone into
 *     bootstrap.scram, and the first leader of an empty log proposes them.
 *   - Lookups scan the image's credentials (Kafka keeps a map).
 *
 * See also: docs/13_scram_creds.md, tests/13_sasl_test.c,
 *   tests/clients/test_sasl.py. Uses chapters 00, 04, 05, 06 (the
 *   forward hook), 07 (records, image, controller, quorum node),
 *   13_scram.c.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "00_base.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"
#include "07_metadata.h"
#include "07_controller.h"
#include "07_node.h"
#include "13_scram.h"
#include "13_scram_internal.h"
#include "13_scram_creds.h"

/* ---- Constants ---- */

/* Largest record in the bootstrap file (a name, a salt, two keys). */
#define SCRAM_RECORD_MAX 2048
/* Bytes of the whole bootstrap file we read. */
#define SCRAM_BOOTSTRAP_BYTES (SCRAM_BOOTSTRAP_MAX * (SCRAM_RECORD_MAX + 4))
/* Fewest bytes of one request entry (wire_read_array_len's bound). */
#define SCRAM_ENTRY_MIN 3

/* ---- Data structures ---- */

/* A node's credential part: the APIs and the bootstrap. */
struct scram_node {
	struct net_server *srv;   /* borrowed */
	struct raft_node *rn;     /* borrowed */
	struct topic_manager *tm; /* borrowed, or NULL */
	struct scram_credential boot[SCRAM_BOOTSTRAP_MAX]; /* from format */
	int n_boot;
	bool boot_proposed;       /* INVARIANT 3 */
};

/* One entry of an AlterUserScramCredentials request (views borrowed). */
struct scram_alter {
	struct wire_str name;
	int8_t mechanism;
	bool upsert;
	int32_t iterations;
	struct wire_bytes salt, salted_password;
};

static int handle_describe(struct net_request *req, struct net_response *resp);
static int handle_alter(struct net_request *req, struct net_response *resp);
static int alter_error_body(const struct net_request *req, int16_t error,
			    struct wire_writer *w);
static void node_changed(void *ctx, struct raft_node *n);
static int record_of(const struct scram_credential *cred, struct meta_record *rec);

/* ---- Credentials of an image ---- */

/* A kept record as a credential; KB_ERR_CORRUPT when a field is out of
 * bounds (the log is input too). */
static int cred_from_record(const struct meta_record *r,
			    struct scram_credential *out)
{
	memset(out, 0, sizeof *out);
	size_t klen = scram_key_len((enum scram_mechanism)r->mechanism);
	if (r->name.len <= 0 || r->name.len > SCRAM_MAX_NAME || !klen ||
	    r->salt.len <= 0 || r->salt.len > SCRAM_MAX_SALT ||
	    r->stored_key.len != (int32_t)klen || r->server_key.len != (int32_t)klen)
		return KB_ERR_CORRUPT;
	memcpy(out->name, r->name.p, (size_t)r->name.len);
	out->mechanism = (enum scram_mechanism)r->mechanism;
	memcpy(out->salt, r->salt.p, (size_t)r->salt.len);
	out->salt_len = (size_t)r->salt.len;
	memcpy(out->stored_key, r->stored_key.p, klen);
	memcpy(out->server_key, r->server_key.p, klen);
	out->iterations = r->iterations;
	return scram_credential_validate(out) == KB_OK ? KB_OK : KB_ERR_CORRUPT;
}

int scram_creds_lookup(const struct meta_image *img, const char *user,
		       enum scram_mechanism mech, struct scram_credential *out)
{
	for (int32_t i = 0; i < img->n_scram; i++) {
		const struct meta_record *r = &img->scram[i].rec;
		if (r->mechanism == (int8_t)mech && wire_str_eq(r->name, user))
			return cred_from_record(r, out) == KB_OK ? KB_OK
								 : KB_ERR_NOTFOUND;
	}
	return KB_ERR_NOTFOUND;
}

/* ---- `samsa format --add-scram` ---- */

/* One "key=value" of the bracket list; value may be "quoted". */
static int arg_pair(const char **p, char *key, size_t kcap, char *val,
		    size_t vcap)
{
	size_t k = strcspn(*p, "=,]");
	if ((*p)[k] != '=' || k == 0 || k >= kcap)
		return KB_ERR_INVAL;
	memcpy(key, *p, k);
	key[k] = '\0';
	*p += k + 1;
	bool quoted = **p == '"';
	size_t v = quoted ? strcspn(*p + 1, "\"") : strcspn(*p, ",]");
	if (v >= vcap || (quoted && (*p)[v + 1] != '"'))
		return KB_ERR_INVAL;
	memcpy(val, *p + quoted, v);
	val[v] = '\0';
	*p += v + 2 * quoted;
	return KB_OK;
}

/* KAFKA: StorageTool's --add-scram: MECHANISM=[name=...,password=...
 * (,iterations=N)]; the salt is drawn here, the password is dropped once
 * the keys are derived. */
int scram_creds_parse_arg(const char *arg, struct scram_credential *out,
			  char *why, size_t why_len)
{
	enum scram_mechanism mech;
	char mname[32], name[SCRAM_MAX_NAME + 1] = "", pw[SCRAM_MAX_MESSAGE] = "";
	char key[16], val[SCRAM_MAX_MESSAGE];
	long iterations = SCRAM_MIN_ITERATIONS; /* KAFKA: default 4096 */
	size_t m = strcspn(arg, "=");
	int rc = KB_ERR_INVAL;
	if (m >= sizeof mname || arg[m] != '=' || arg[m + 1] != '[')
		goto bad;
	snprintf(mname, sizeof mname, "%.*s", (int)m, arg);
	if (scram_mechanism_parse(mname, &mech) != KB_OK)
		goto bad;
	const char *p = arg + m + 2;
	for (; *p != ']'; p += *p == ',') {
		if (!*p || arg_pair(&p, key, sizeof key, val, sizeof val) != KB_OK)
			goto bad;
		if (!strcmp(key, "name") && strlen(val) < sizeof name)
			memcpy(name, val, strlen(val) + 1);
		else if (!strcmp(key, "name"))
			goto bad;
		else if (!strcmp(key, "password"))
			snprintf(pw, sizeof pw, "%s", val);
		else if (!strcmp(key, "iterations"))
			iterations = strtol(val, NULL, 10);
		else
			goto bad;
	}
	if (!name[0] || !pw[0] || iterations < SCRAM_MIN_ITERATIONS ||
	    iterations > SCRAM_MAX_ITERATIONS || p[1] != '\0')
		goto bad;
	rc = scram_credential_init(out, name, mech, (int32_t)iterations);
	rc = rc ? rc : scram_credential_derive(out, pw, strlen(pw));
bad:
	OPENSSL_cleanse(pw, sizeof pw);
	OPENSSL_cleanse(val, sizeof val);
	if (rc != KB_OK)
		snprintf(why, why_len, "--add-scram '%s': want SCRAM-SHA-256 or "
			 "SCRAM-SHA-512=[name=<user>,password=<password>] with "
			 "optional iterations=%d..%d", arg, SCRAM_MIN_ITERATIONS,
			 SCRAM_MAX_ITERATIONS);
	return rc;
}

/* The file: for each credential, a big-endian int32 length and its
 * UserScramCredentialRecord as meta_record_encode frames it. */
int scram_creds_bootstrap_write(const char *log_dir,
				const struct scram_credential *creds, int n)
{
	char path[4096];
	struct kb_buf b;
	kb_buf_init(&b);
	int rc = n >= 0 && n <= SCRAM_BOOTSTRAP_MAX ? KB_OK : KB_ERR_INVAL;
	for (int i = 0; rc == KB_OK && i < n; i++) {
		struct meta_record rec;
		size_t at = b.len;
		uint8_t len[4] = {0};
		rc = kb_buf_append(&b, len, sizeof len);
		rc = rc ? rc : record_of(&creds[i], &rec);
		rc = rc ? rc : meta_record_encode(&rec, &b);
		if (rc == KB_OK)
			kb_put_be32(b.data + at, (uint32_t)(b.len - at - 4));
	}
	snprintf(path, sizeof path, "%s/%s", log_dir, SCRAM_BOOTSTRAP_FILE);
	if (rc == KB_OK)
		rc = kb_write_file_atomic(path, b.data ? (void *)b.data : "", b.len);
	OPENSSL_cleanse(b.data, b.cap);
	kb_buf_fini(&b);
	return rc;
}

/* INVARIANT 1 for the file: every length bounded, every record a valid
 * credential, or the whole file is refused. */
int scram_creds_bootstrap_read(const char *log_dir,
			       struct scram_credential *creds, int *n)
{
	char path[4096], *text = NULL;
	size_t len = 0;
	*n = 0;
	snprintf(path, sizeof path, "%s/%s", log_dir, SCRAM_BOOTSTRAP_FILE);
	int rc = kb_read_file(path, &text, &len, SCRAM_BOOTSTRAP_BYTES);
	if (rc == KB_ERR_NOTFOUND)
		return KB_OK;
	const uint8_t *p = (const uint8_t *)text;
	for (size_t at = 0; rc == KB_OK && at < len;) {
		uint32_t rl = len - at >= 4 ? kb_get_be32(p + at) : UINT32_MAX;
		if (rl > SCRAM_RECORD_MAX || rl > len - at - 4 ||
		    *n == SCRAM_BOOTSTRAP_MAX) {
			rc = KB_ERR_CORRUPT;
			break;
		}
		struct meta_record rec;
		rc = meta_record_decode(p + at + 4, rl, &rec);
		if (rc == KB_OK && (rec.type != META_USER_SCRAM_CREDENTIAL ||
				    cred_from_record(&rec, &creds[*n]) != KB_OK))
			rc = KB_ERR_CORRUPT;
		meta_record_fini(&rec);
		*n += rc == KB_OK;
		at += 4 + rl;
	}
	free(text);
	return rc == KB_OK ? KB_OK : KB_ERR_CORRUPT;
}

/* The UserScramCredentialRecord of cred (views into cred). */
static int record_of(const struct scram_credential *cred, struct meta_record *rec)
{
	size_t klen = scram_key_len(cred->mechanism);
	if (scram_credential_validate(cred) != KB_OK)
		return KB_ERR_INVAL; /* INVARIANT 1 */
	meta_record_init(rec, META_USER_SCRAM_CREDENTIAL,
			 meta_type_max_version(META_USER_SCRAM_CREDENTIAL));
	rec->name = wire_str_c(cred->name);
	rec->mechanism = (int8_t)cred->mechanism;
	rec->salt = (struct wire_bytes){cred->salt, (int32_t)cred->salt_len};
	rec->stored_key = (struct wire_bytes){cred->stored_key, (int32_t)klen};
	rec->server_key = (struct wire_bytes){cred->server_key, (int32_t)klen};
	rec->iterations = cred->iterations;
	return KB_OK;
}

/* ---- AlterUserScramCredentials on the controller ---- */

/* Both arrays of the request into one owned array (*n entries). */
static int alter_decode(struct wire_reader *r, struct scram_alter **out,
			int32_t *n)
{
	*out = NULL;
	*n = 0;
	for (int pass = 0; pass < 2; pass++) { /* deletions, then upsertions */
		int32_t k = wire_read_array_len(r, SCRAM_ENTRY_MIN);
		if (k < 0)
			return KB_ERR_PROTO; /* bounded by the bytes left */
		struct scram_alter *v = realloc(*out, (size_t)(*n + k + 1) * sizeof *v);
		if (!v)
			return KB_ERR_NOMEM;
		*out = v;
		for (int32_t i = 0; i < k; i++) {
			struct scram_alter *a = &v[(*n)++];
			memset(a, 0, sizeof *a);
			a->upsert = pass == 1;
			a->name = wire_read_string(r);
			a->mechanism = wire_read_i8(r);
			if (a->upsert) {
				a->iterations = wire_read_i32(r);
				a->salt = wire_read_bytes(r);
				a->salted_password = wire_read_bytes(r);
			}
			wire_read_tags(r);
			if (wire_reader_status(r) != KB_OK)
				return KB_ERR_PROTO;
		}
	}
	wire_read_tags(r);
	return wire_reader_status(r) == KB_OK ? KB_OK : KB_ERR_PROTO;
}

/* KAFKA: ScramControlManager.validate*: the error of one entry, or 0. */
static int16_t alter_problem(const struct meta_image *img,
			     const struct scram_alter *a, const char **msg)
{
	size_t klen = scram_key_len((enum scram_mechanism)a->mechanism);
	char name[SCRAM_MAX_NAME + 1];
	if (a->name.len <= 0 || a->name.len > SCRAM_MAX_NAME)
		return *msg = "Username must not be empty",
		       KAFKA_ERR_UNACCEPTABLE_CREDENTIAL;
	if (!klen)
		return *msg = "Unknown SCRAM mechanism",
		       KAFKA_ERR_UNSUPPORTED_SASL_MECHANISM;
	snprintf(name, sizeof name, "%.*s", (int)a->name.len, a->name.p);
	struct scram_credential c;
	if (!a->upsert)
		return scram_creds_lookup(img, name, a->mechanism, &c) == KB_OK ? 0 :
		       (*msg = "Attempt to delete a user credential that does not exist",
			KAFKA_ERR_RESOURCE_NOT_FOUND);
	if (a->iterations < SCRAM_MIN_ITERATIONS)
		return *msg = "Too few iterations", KAFKA_ERR_UNACCEPTABLE_CREDENTIAL;
	if (a->iterations > SCRAM_MAX_ITERATIONS)
		return *msg = "Too many iterations", KAFKA_ERR_UNACCEPTABLE_CREDENTIAL;
	if (a->salt.len <= 0 || a->salt.len > SCRAM_MAX_SALT ||
	    a->salted_password.len != (int32_t)klen)
		return *msg = "Bad salt or salted password length",
		       KAFKA_ERR_UNACCEPTABLE_CREDENTIAL;
	return 0;
}

/* The record of one good entry: an upsert's keys come from the client's
 * salted password (StoredKey = H(HMAC(sp, "Client Key"))). */
static int alter_emit(struct ctrl_output *out, const struct scram_alter *a)
{
	struct scram_credential c = {0};
	struct meta_record rec;
	snprintf(c.name, sizeof c.name, "%.*s", (int)a->name.len, a->name.p);
	c.mechanism = (enum scram_mechanism)a->mechanism;
	if (!a->upsert) {
		meta_record_init(&rec, META_REMOVE_USER_SCRAM_CREDENTIAL,
			meta_type_max_version(META_REMOVE_USER_SCRAM_CREDENTIAL));
		rec.name = wire_str_c(c.name);
		rec.mechanism = a->mechanism;
	} else {
		uint8_t client_key[SCRAM_MAX_KEY];
		c.iterations = a->iterations;
		int rc = scram_credential_set_salt(&c, a->salt.p, (size_t)a->salt.len);
		rc = rc ? rc : scram_keys(c.mechanism, a->salted_password.p,
					  client_key, c.stored_key, c.server_key);
		OPENSSL_cleanse(client_key, sizeof client_key);
		rc = rc ? rc : record_of(&c, &rec); /* INVARIANT 1 */
		if (rc)
			return rc;
	}
	int rc = ctrl_output_emit(out, &rec);
	meta_record_fini(&rec);
	OPENSSL_cleanse(&c, sizeof c);
	return rc;
}

/* True when entry i's user appeared earlier (INVARIANT 2: one result). */
static bool user_seen(const struct scram_alter *v, int32_t i)
{
	for (int32_t j = 0; j < i; j++)
		if (v[j].name.len == v[i].name.len &&
		    !memcmp(v[j].name.p, v[i].name.p, (size_t)v[i].name.len))
			return true;
	return false;
}

/* The first problem of any entry of user i's, and whether it appears
 * twice with one mechanism (KAFKA: DUPLICATE_RESOURCE). */
static int16_t user_problem(const struct meta_image *img,
			    const struct scram_alter *v, int32_t n, int32_t i,
			    const char **msg)
{
	for (int32_t j = i; j < n; j++) {
		if (v[j].name.len != v[i].name.len ||
		    memcmp(v[j].name.p, v[i].name.p, (size_t)v[i].name.len))
			continue;
		for (int32_t k = i; k < j; k++)
			if (v[k].mechanism == v[j].mechanism &&
			    v[k].name.len == v[j].name.len &&
			    !memcmp(v[k].name.p, v[j].name.p, (size_t)v[j].name.len))
				return *msg = "A user credential cannot be altered "
					      "twice in the same request",
				       KAFKA_ERR_DUPLICATE_RESOURCE;
		int16_t e = alter_problem(img, &v[j], msg);
		if (e)
			return e;
	}
	return 0;
}

/* KAFKA: ScramControlManager.alterCredentials: per user, every entry
 * checked; a user with any bad entry changes nothing. */
int scram_decide_alter(void *ctx, struct ctrl *c, const struct ctrl_input *in,
		       struct ctrl_output *out)
{
	struct wire_reader r = in->body;
	r.flexible = true;
	struct scram_alter *v;
	int32_t n;
	int rc = alter_decode(&r, &v, &n);
	struct wire_writer w;
	wire_writer_init(&w, &out->response, true);
	wire_write_i32(&w, 0); /* throttle_time_ms */
	size_t at = wire_write_array_begin(&w);
	int32_t results = 0;
	for (int32_t i = 0; rc == KB_OK && i < n; i++) {
		if (user_seen(v, i))
			continue;
		const char *msg = NULL;
		int16_t e = user_problem(in->img, v, n, i, &msg);
		for (int32_t j = i; !e && rc == KB_OK && j < n; j++)
			if (v[j].name.len == v[i].name.len &&
			    !memcmp(v[j].name.p, v[i].name.p, (size_t)v[i].name.len))
				rc = alter_emit(out, &v[j]);
		wire_write_string(&w, v[i].name);
		wire_write_i16(&w, e);
		wire_write_string(&w, wire_str_c(msg));
		wire_write_tags(&w);
		results++;
	}
	wire_write_array_end(&w, at, results);
	wire_write_tags(&w);
	free(v);
	(void)ctx, (void)c;
	return rc ? rc : w.err;
}

int scram_alter_error_write(struct wire_reader *r, int16_t error,
			    struct wire_writer *w)
{
	struct scram_alter *v;
	int32_t n, results = 0;
	r->flexible = true;
	int rc = alter_decode(r, &v, &n);
	wire_write_i32(w, 0);
	size_t at = wire_write_array_begin(w);
	for (int32_t i = 0; rc == KB_OK && i < n; i++) {
		if (user_seen(v, i))
			continue;
		wire_write_string(w, v[i].name);
		wire_write_i16(w, error);
		wire_write_string(w, wire_str_c(NULL));
		wire_write_tags(w);
		results++;
	}
	wire_write_array_end(w, at, results);
	wire_write_tags(w);
	free(v);
	return rc ? rc : w->err;
}

/* ---- DescribeUserScramCredentials from the image ---- */

/* One DescribeUserScramCredentialsResult: the user's mechanisms and
 * iterations, or RESOURCE_NOT_FOUND. */
static void describe_user(struct wire_writer *w, const struct meta_image *img,
			  struct wire_str name, int16_t dup)
{
	size_t at;
	int32_t n = 0;
	for (int32_t i = 0; !dup && i < img->n_scram; i++)
		n += img->scram[i].rec.name.len == name.len &&
		     !memcmp(img->scram[i].rec.name.p, name.p, (size_t)name.len);
	int16_t e = dup ? dup : n ? 0 : KAFKA_ERR_RESOURCE_NOT_FOUND;
	wire_write_string(w, name);
	wire_write_i16(w, e);
	wire_write_string(w, wire_str_c(
		e == KAFKA_ERR_DUPLICATE_RESOURCE ? "Cannot describe SCRAM "
			"credentials for the same user twice in a single request"
		: e ? "Attempt to describe a user credential that does not exist"
		    : NULL));
	at = wire_write_array_begin(w);
	for (int32_t i = 0; !e && i < img->n_scram; i++) {
		const struct meta_record *r = &img->scram[i].rec;
		if (r->name.len != name.len || memcmp(r->name.p, name.p, (size_t)name.len))
			continue;
		wire_write_i8(w, r->mechanism);
		wire_write_i32(w, r->iterations);
		wire_write_tags(w);
	}
	wire_write_array_end(w, at, e ? 0 : n);
	wire_write_tags(w);
}

/* True when img->scram[i] is the first record of its user. */
static bool first_of_user(const struct meta_image *img, int32_t i)
{
	struct wire_str a = img->scram[i].rec.name;
	for (int32_t j = 0; j < i; j++) {
		struct wire_str b = img->scram[j].rec.name;
		if (a.len == b.len && !memcmp(a.p, b.p, (size_t)a.len))
			return false;
	}
	return true;
}

/* KAFKA: ScramPublisher / DescribeUserScramCredentials: null or empty
 * users: every user with a credential; else each named once. */
int scram_describe_write(struct wire_reader *r, const struct meta_image *img,
			 struct wire_writer *w)
{
	r->flexible = true;
	int32_t n = wire_read_nullable_array_len(r, 2);
	struct wire_str *names = n > 0 ? calloc((size_t)n, sizeof *names) : NULL;
	if (n > 0 && !names)
		return KB_ERR_NOMEM;
	for (int32_t i = 0; i < n; i++) {
		names[i] = wire_read_string(r);
		wire_read_tags(r);
	}
	wire_read_tags(r);
	int rc = wire_reader_status(r) == KB_OK ? KB_OK : KB_ERR_PROTO;
	wire_write_i32(w, 0);       /* throttle_time_ms */
	wire_write_i16(w, 0);       /* error_code */
	wire_write_string(w, wire_str_c(NULL));
	size_t at = wire_write_array_begin(w);
	int32_t results = 0;
	for (int32_t i = 0; rc == KB_OK && n <= 0 && i < img->n_scram; i++)
		if (first_of_user(img, i)) {
			describe_user(w, img, img->scram[i].rec.name, 0);
			results++;
		}
	for (int32_t i = 0; rc == KB_OK && i < n; i++) {
		int16_t dup = 0;
		for (int32_t j = 0; j < n; j++)
			if (j != i && names[j].len == names[i].len &&
			    !memcmp(names[j].p, names[i].p, (size_t)names[i].len))
				dup = KAFKA_ERR_DUPLICATE_RESOURCE;
		describe_user(w, img, names[i], dup);
		results++;
	}
	wire_write_array_end(w, at, results);
	wire_write_tags(w);
	free(names);
	return rc ? rc : w->err;
}

/* ---- A node's credential part ---- */

int scram_node_open(const struct scram_node_config *cfg, struct scram_node **out)
{
	static const struct ctrl_extension ext = {
		WIRE_API_ALTER_USER_SCRAM_CREDENTIALS, 0, 0, scram_decide_alter, NULL};
	static const struct net_api apis[] = {
		{WIRE_API_DESCRIBE_USER_SCRAM_CREDENTIALS, 0, 0, handle_describe, NULL},
		{WIRE_API_ALTER_USER_SCRAM_CREDENTIALS, 0, 0, handle_alter, NULL},
	};
	struct scram_node *sn = calloc(1, sizeof *sn);
	if (!sn)
		return KB_ERR_NOMEM;
	*sn = (struct scram_node){cfg->srv, cfg->rn, cfg->tm};
	int rc = cfg->cn ? scram_creds_bootstrap_read(cfg->log_dir, sn->boot,
						      &sn->n_boot) : KB_OK;
	if (rc != KB_OK)
		KB_ERROR("%s/%s is damaged: no bootstrap SCRAM users", cfg->log_dir,
			 SCRAM_BOOTSTRAP_FILE);
	rc = topic_set_error_body(WIRE_API_ALTER_USER_SCRAM_CREDENTIALS,
				  alter_error_body);
	if (rc == KB_OK && cfg->cn)
		rc = ctrl_node_extend(cfg->cn, &ext);
	for (size_t i = 0; rc == KB_OK && sn->tm && i < KB_ARRAY_LEN(apis); i++) {
		struct net_api api = apis[i];
		api.ctx = sn;
		rc = net_register(sn->srv, &api);
	}
	rc = rc ? rc : raft_node_subscribe(sn->rn, node_changed, sn);
	if (rc != KB_OK) {
		free(sn);
		return rc;
	}
	node_changed(sn, sn->rn);
	*out = sn;
	return KB_OK;
}

void scram_node_close(struct scram_node *sn)
{
	if (!sn)
		return;
	raft_node_unsubscribe(sn->rn, node_changed, sn);
	OPENSSL_cleanse(sn->boot, sizeof sn->boot);
	free(sn);
}

int scram_node_lookup(void *ctx, const char *user, enum scram_mechanism mech,
		      struct scram_credential *out)
{
	struct scram_node *sn = ctx;
	return scram_creds_lookup(raft_node_image(sn->rn), user, mech, out);
}

/* INVARIANT 3. KAFKA: the first controller writes the bootstrap records
 * into an empty metadata log; here, once we lead one with no broker,
 * topic or credential yet. */
static void node_changed(void *ctx, struct raft_node *n)
{
	struct scram_node *sn = ctx;
	const struct meta_image *img = raft_node_image(n);
	if (sn->boot_proposed || sn->n_boot == 0 ||
	    raft_node_state(n) != RAFT_LEADER || img->n_brokers || img->n_topics ||
	    img->n_scram)
		return;
	struct kb_buf b;
	struct raft_record recs[SCRAM_BOOTSTRAP_MAX];
	size_t ends[SCRAM_BOOTSTRAP_MAX];
	kb_buf_init(&b);
	int rc = KB_OK;
	for (int i = 0; rc == KB_OK && i < sn->n_boot; i++) {
		struct meta_record rec;
		rc = record_of(&sn->boot[i], &rec);
		rc = rc ? rc : meta_record_encode(&rec, &b);
		ends[i] = b.len;
	}
	for (int i = 0; rc == KB_OK && i < sn->n_boot; i++)
		recs[i] = (struct raft_record){b.data + (i ? ends[i - 1] : 0),
					       ends[i] - (i ? ends[i - 1] : 0)};
	int64_t last = 0;
	/* set first: proposing runs the subscribers, this one again, at once */
	sn->boot_proposed = rc == KB_OK;
	if (rc == KB_OK)
		rc = raft_node_propose(n, recs, sn->n_boot, &last);
	sn->boot_proposed = rc == KB_OK;
	if (rc == KB_OK) {
		KB_INFO("proposed %d bootstrap SCRAM credential(s) (samsa format "
			"--add-scram) at offset %" PRId64, sn->n_boot, last);
	}
	OPENSSL_cleanse(b.data, b.cap);
	kb_buf_fini(&b);
}

/* ---- The two APIs on a broker ---- */

/* KAFKA: DESCRIBE on the cluster, then the local image. */
static int handle_describe(struct net_request *req, struct net_response *resp)
{
	struct scram_node *sn = req->ctx;
	if (!net_authorized_cluster(req, NET_OP_DESCRIBE)) {
		wire_write_i32(&resp->w, 0);
		wire_write_i16(&resp->w, KAFKA_ERR_CLUSTER_AUTHORIZATION_FAILED);
		wire_write_string(&resp->w, wire_str_c(NULL));
		wire_write_array_len(&resp->w, 0);
		wire_write_tags(&resp->w);
		return resp->w.err;
	}
	resp->w.flexible = true;
	int rc = scram_describe_write(&req->body, raft_node_image(sn->rn), &resp->w);
	scram_node_check(sn);
	return rc == KB_ERR_PROTO ? KB_ERR_PROTO : rc;
}

/* KAFKA: ALTER on the cluster, then forwarded to the controller. */
static int handle_alter(struct net_request *req, struct net_response *resp)
{
	struct scram_node *sn = req->ctx;
	const struct topic_cluster *cl = sn->tm ? topic_cluster_get(sn->tm) : NULL;
	resp->w.flexible = true;
	if (!net_authorized_cluster(req, NET_OP_ALTER))
		return alter_error_body(req, KAFKA_ERR_CLUSTER_AUTHORIZATION_FAILED,
					&resp->w);
	if (!cl || !cl->forward)
		return alter_error_body(req, KAFKA_ERR_NOT_CONTROLLER, &resp->w);
	return cl->forward(cl->ctx, req, resp);
}

/* topic_error_body's row: decoded again from a copy of the body. */
static int alter_error_body(const struct net_request *req, int16_t error,
			    struct wire_writer *w)
{
	struct wire_reader r = req->body;
	return scram_alter_error_write(&r, error, w) ? KB_ERR_PROTO : KB_OK;
}

/* ---- Checks ---- */

void scram_node_check(const struct scram_node *sn)
{
	assert(sn->n_boot >= 0 && sn->n_boot <= SCRAM_BOOTSTRAP_MAX);
	for (int i = 0; i < sn->n_boot; i++) /* INVARIANT 1, for the file */
		assert(scram_credential_validate(&sn->boot[i]) == KB_OK);
	assert(!sn->boot_proposed || sn->n_boot > 0); /* INVARIANT 3 */
}
