/* SPDX-License-Identifier: MIT */
/*
 * Chapter 12 — ACLs, part 2: the ACL APIs, decided from the metadata log.
 *
 * Concept:
 *   ACLs are cluster state, so they live where topics live: in the KRaft
 *   metadata log, as AccessControlEntryRecords. CreateAcls and DeleteAcls
 *   are admin requests the active controller decides (request + image in,
 *   records + response out, like CreatePartitions); DescribeAcls is read
 *   from any broker's image. Filters pick bindings: ANY matches every
 *   value, MATCH every pattern that would cover a name.
 *
 * Kafka:
 *   CreateAcls (30), DescribeAcls (29), DeleteAcls (31), v0-3, flexible
 *   from v2 (messages/CreateAclsRequest.json and its two siblings). AclControlManager.createAcls
 *   (validateNewAcl, a new random Uuid per ACL, an identical ACL is not
 *   stored twice) and deleteAcls (validateFilter, one
 *   RemoveAccessControlEntryRecord per matching ACL); AclBindingFilter.
 *   matches, ResourcePatternFilter.matches, AccessControlEntryFilter.
 *   matches (AclApis.handleDescribeAcls answers from the authorizer).
 *
 * Interface (12_acl.h):
 *   - acl_*_req_decode read a request body at a version; the views borrow
 *     the reader's bytes; *_fini frees the arrays even after an error.
 *   - acl_decide_create / acl_decide_delete are chapter 07 ctrl_decide_fn
 *     bodies: the image is the committed one, records go to out.
 *   - acl_describe_write answers a filter from an image.
 *   - acl_create_error_body / acl_delete_error_body: the request's shape
 *     with one error everywhere (the forwarder's and controller's answer).
 *
 * Invariants:
 *   1. A record is written only for a binding that acl_binding_valid
 *      accepts, and never for one the image (or the same request) holds.
 *   2. Every ACL id written is new: not in the image, not in the batch.
 *   3. One response entry per request entry, in request order.
 *
 * Simplifications:
 *   - Filters scan every ACL (Kafka the same: AclControlManager walks its
 *     idToAcl map); fine for hundreds.
 *   - No ACL limit per cluster, no validate-only mode (Kafka has neither).
 *
 * See also: docs/12_acl_apis.md, tests/12_acl_test.c ("The ACL APIs").
 *   Uses chapters 00 (base), 04 (codec), 07 (metadata records, image,
 *   controller extensions), 12_acl.c (acl_binding_valid).
 */
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "04_codec.h"
#include "07_metadata.h"
#include "07_controller.h"
#include "12_acl.h"

/* The fewest bytes one entry of each request array takes (the bound
 * given to wire_read_array_len): 3 int8 + 3 (or 4 at v1+) strings. */
#define ACL_ENTRY_MIN_BYTES(flexible) ((flexible) ? 7 : 10)

static int read_binding(struct wire_reader *r, int16_t v, struct acl_binding *b);
static void read_filter(struct wire_reader *r, int16_t v, struct acl_filter *f);
static bool str_same(struct wire_str a, struct wire_str b);
static bool str_starts(struct wire_str name, struct wire_str prefix);
static bool binding_same(const struct acl_binding *a, const struct acl_binding *b);
static const char *binding_problem(const struct acl_binding *b);
static bool id_used(const struct meta_image *img, const struct wire_uuid *ids,
		    size_t n, const struct wire_uuid *id);
static void write_description(struct wire_writer *w, const struct acl_binding *b);

/* ---- Bindings of the image ---- */

/* A kept AccessControlEntryRecord as a binding; views into rec. */
struct acl_binding acl_binding_from_record(const struct meta_record *rec)
{
	struct acl_binding b = {
		rec->resource_type, rec->resource_name, rec->pattern_type,
		rec->principal,     rec->host,          rec->operation,
		rec->permission_type};
	return b;
}

/* ---- Filters (KAFKA: AclBindingFilter) ---- */

/* KAFKA: ResourcePatternFilter.matches: ANY and MATCH patterns; a null
 * name matches every name; MATCH covers literal equal or "*", and
 * prefixes the name starts with. */
static bool pattern_matches(const struct acl_filter *f,
			    const struct acl_binding *b)
{
	if (f->resource_type != ACL_RESOURCE_ANY &&
	    f->resource_type != b->resource_type)
		return false;
	if (f->pattern_type != ACL_PATTERN_ANY &&
	    f->pattern_type != ACL_PATTERN_MATCH &&
	    f->pattern_type != b->pattern_type)
		return false;
	if (f->resource_name.len < 0)
		return true;
	if (f->pattern_type == ACL_PATTERN_ANY ||
	    f->pattern_type == b->pattern_type)
		return str_same(f->resource_name, b->resource_name);
	if (b->pattern_type == ACL_PATTERN_LITERAL)
		return str_same(f->resource_name, b->resource_name) ||
		       wire_str_eq(b->resource_name, ACL_WILDCARD);
	return str_starts(f->resource_name, b->resource_name);
}

/* KAFKA: AclBindingFilter.matches = pattern filter and entry filter;
 * AccessControlEntryFilter: null strings and ANY codes match all. */
bool acl_filter_matches(const struct acl_filter *f, const struct acl_binding *b)
{
	return pattern_matches(f, b) &&
	       (f->principal.len < 0 || str_same(f->principal, b->principal)) &&
	       (f->host.len < 0 || str_same(f->host, b->host)) &&
	       (f->operation == ACL_OP_ANY || f->operation == b->operation) &&
	       (f->permission == ACL_PERMISSION_ANY ||
		f->permission == b->permission);
}

/* KAFKA: AclControlManager.validateFilter: no UNKNOWN (0) or
 * out-of-range code. Returns NULL, or what is wrong. */
const char *acl_filter_problem(const struct acl_filter *f)
{
	if (f->resource_type < ACL_RESOURCE_ANY ||
	    f->resource_type > ACL_RESOURCE_TRANSACTIONAL_ID ||
	    f->pattern_type < ACL_PATTERN_ANY ||
	    f->pattern_type > ACL_PATTERN_PREFIXED)
		return "Unknown patternFilter.";
	if (f->operation < ACL_OP_ANY || f->operation > ACL_OP_IDEMPOTENT_WRITE ||
	    f->permission < ACL_PERMISSION_ANY || f->permission > ACL_ALLOW)
		return "Unknown entryFilter.";
	return NULL;
}

/* ---- Codecs ---- */

int acl_create_req_decode(struct wire_reader *r, int16_t v,
			  struct acl_create_req *q)
{
	memset(q, 0, sizeof *q);
	int32_t n = wire_read_array_len(r, ACL_ENTRY_MIN_BYTES(r->flexible));
	if (n < 0)
		return KB_ERR_PROTO; /* bounded by the bytes left: n fits */
	if (n > 0 && !(q->v = calloc((size_t)n, sizeof *q->v)))
		return KB_ERR_NOMEM;
	q->n = n;
	for (int32_t i = 0; i < n; i++)
		if (read_binding(r, v, &q->v[i]) != KB_OK)
			return KB_ERR_PROTO;
	wire_read_tags(r);
	return wire_reader_status(r) == KB_OK ? KB_OK : KB_ERR_PROTO;
}

void acl_create_req_fini(struct acl_create_req *q)
{
	free(q->v);
	memset(q, 0, sizeof *q);
}

int acl_describe_req_decode(struct wire_reader *r, int16_t v,
			    struct acl_filter *f)
{
	read_filter(r, v, f);
	wire_read_tags(r);
	return wire_reader_status(r) == KB_OK ? KB_OK : KB_ERR_PROTO;
}

int acl_delete_req_decode(struct wire_reader *r, int16_t v,
			  struct acl_filters *q)
{
	memset(q, 0, sizeof *q);
	int32_t n = wire_read_array_len(r, ACL_ENTRY_MIN_BYTES(r->flexible));
	if (n < 0)
		return KB_ERR_PROTO;
	if (n > 0 && !(q->v = calloc((size_t)n, sizeof *q->v)))
		return KB_ERR_NOMEM;
	q->n = n;
	for (int32_t i = 0; i < n; i++) {
		read_filter(r, v, &q->v[i]);
		wire_read_tags(r);
	}
	wire_read_tags(r);
	return wire_reader_status(r) == KB_OK ? KB_OK : KB_ERR_PROTO;
}

void acl_filters_fini(struct acl_filters *q)
{
	free(q->v);
	memset(q, 0, sizeof *q);
}

/* Encode a CreateAcls request body (tests, tools). */
int acl_create_req_encode(const struct acl_binding *b, int32_t n, int16_t v,
			  struct kb_buf *out)
{
	struct wire_writer w;
	wire_writer_init(&w, out, wire_is_flexible(WIRE_API_CREATE_ACLS, v));
	wire_write_array_len(&w, n);
	for (int32_t i = 0; i < n; i++) {
		wire_write_i8(&w, b[i].resource_type);
		wire_write_string(&w, b[i].resource_name);
		if (v >= 1)
			wire_write_i8(&w, b[i].pattern_type);
		wire_write_string(&w, b[i].principal);
		wire_write_string(&w, b[i].host);
		wire_write_i8(&w, b[i].operation);
		wire_write_i8(&w, b[i].permission);
		wire_write_tags(&w);
	}
	wire_write_tags(&w);
	return w.err;
}

/* Encode one filter as DescribeAcls' body, or as one DeleteAcls filter. */
void acl_filter_write(struct wire_writer *w, const struct acl_filter *f,
		      int16_t v)
{
	wire_write_i8(w, f->resource_type);
	wire_write_string(w, f->resource_name);
	if (v >= 1)
		wire_write_i8(w, f->pattern_type);
	wire_write_string(w, f->principal);
	wire_write_string(w, f->host);
	wire_write_i8(w, f->operation);
	wire_write_i8(w, f->permission);
}

/* AclCreation: type, name, pattern (v1+, LITERAL before), principal,
 * host, operation, permission, tags. */
static int read_binding(struct wire_reader *r, int16_t v, struct acl_binding *b)
{
	b->resource_type = wire_read_i8(r);
	b->resource_name = wire_read_string(r);
	b->pattern_type = v >= 1 ? wire_read_i8(r) : ACL_PATTERN_LITERAL;
	b->principal = wire_read_string(r);
	b->host = wire_read_string(r);
	b->operation = wire_read_i8(r);
	b->permission = wire_read_i8(r);
	wire_read_tags(r);
	return wire_reader_status(r);
}

/* The filter fields, nullable strings; v0's pattern filter is LITERAL. */
static void read_filter(struct wire_reader *r, int16_t v, struct acl_filter *f)
{
	f->resource_type = wire_read_i8(r);
	f->resource_name = wire_read_nullable_string(r);
	f->pattern_type = v >= 1 ? wire_read_i8(r) : ACL_PATTERN_LITERAL;
	f->principal = wire_read_nullable_string(r);
	f->host = wire_read_nullable_string(r);
	f->operation = wire_read_i8(r);
	f->permission = wire_read_i8(r);
}

/* ---- CreateAcls on the controller ---- */

/* KAFKA: AclControlManager.validateNewAcl and AclApis' CLUSTER name
 * check: NULL when b may be stored, else INVALID_REQUEST's message. */
static const char *binding_problem(const struct acl_binding *b)
{
	if (b->resource_type < ACL_RESOURCE_TOPIC ||
	    b->resource_type > ACL_RESOURCE_TRANSACTIONAL_ID)
		return "Invalid resourceType";
	if (b->pattern_type != ACL_PATTERN_LITERAL &&
	    b->pattern_type != ACL_PATTERN_PREFIXED)
		return "Invalid patternType";
	if (b->operation <= ACL_OP_ANY || b->operation > ACL_OP_IDEMPOTENT_WRITE)
		return "Invalid operation";
	if (b->permission != ACL_DENY && b->permission != ACL_ALLOW)
		return "Invalid permissionType";
	if (b->resource_name.len <= 0)
		return "Resource name should not be empty";
	if (b->resource_type == ACL_RESOURCE_CLUSTER &&
	    !wire_str_eq(b->resource_name, ACL_CLUSTER_NAME))
		return "The only valid name for the CLUSTER resource is kafka-cluster";
	if (!acl_binding_valid(b)) /* INVARIANT 1 */
		return "Invalid principal: want Type:name";
	return NULL;
}

/* True when an identical ACL is in the image or earlier in the request. */
static bool acl_known(const struct meta_image *img,
		      const struct acl_create_req *q, int32_t upto)
{
	for (int32_t i = 0; i < img->n_acls; i++) {
		struct acl_binding k = acl_binding_from_record(&img->acls[i].rec);
		if (binding_same(&k, &q->v[upto]))
			return true;
	}
	for (int32_t i = 0; i < upto; i++)
		if (!binding_problem(&q->v[i]) && binding_same(&q->v[i], &q->v[upto]))
			return true;
	return false;
}

/* A new random id, unused by the image and by ids[0..n) (INVARIANT 2). */
static void new_acl_id(struct ctrl *c, const struct meta_image *img,
		       const struct wire_uuid *ids, size_t n, struct wire_uuid *id)
{
	do {
		uint64_t hi = ctrl_random64(c), lo = ctrl_random64(c);
		memcpy(id->b, &hi, 8);
		memcpy(id->b + 8, &lo, 8);
	} while (id_used(img, ids, n, id));
}

/* The AccessControlEntryRecord of b with id. */
static int emit_acl(struct ctrl_output *out, const struct acl_binding *b,
		    const struct wire_uuid *id, int16_t type)
{
	struct meta_record rec;
	meta_record_init(&rec, type, meta_type_max_version(type));
	rec.acl_id = *id;
	if (type == META_ACCESS_CONTROL_ENTRY) {
		rec.resource_type = b->resource_type;
		rec.resource_name = b->resource_name;
		rec.pattern_type = b->pattern_type;
		rec.principal = b->principal;
		rec.host = b->host;
		rec.operation = b->operation;
		rec.permission_type = b->permission;
	}
	int rc = ctrl_output_emit(out, &rec);
	meta_record_fini(&rec);
	return rc;
}

/* KAFKA: AclControlManager.createAcls: per creation, validate, then a
 * record unless the same ACL is already there; SUCCESS either way. */
int acl_decide_create(void *ctx, struct ctrl *c, const struct ctrl_input *in,
		      struct ctrl_output *out)
{
	struct wire_reader r = in->body;
	r.flexible = wire_is_flexible(WIRE_API_CREATE_ACLS, in->api_version);
	struct acl_create_req q;
	int rc = acl_create_req_decode(&r, in->api_version, &q);
	struct wire_uuid *ids = q.n > 0 ? calloc((size_t)q.n, sizeof *ids) : NULL;
	if (rc == KB_OK && q.n > 0 && !ids)
		rc = KB_ERR_NOMEM;
	struct wire_writer w;
	wire_writer_init(&w, &out->response, r.flexible);
	wire_write_i32(&w, 0); /* throttle_time_ms */
	wire_write_array_len(&w, q.n);
	size_t n_ids = 0;
	for (int32_t i = 0; rc == KB_OK && i < q.n; i++) { /* INVARIANT 3 */
		const char *problem = binding_problem(&q.v[i]);
		if (!problem && !acl_known(in->img, &q, i)) {
			new_acl_id(c, in->img, ids, n_ids, &ids[n_ids]);
			rc = emit_acl(out, &q.v[i], &ids[n_ids++],
				      META_ACCESS_CONTROL_ENTRY);
		}
		wire_write_i16(&w, problem ? KAFKA_ERR_INVALID_REQUEST : KAFKA_ERR_NONE);
		wire_write_string(&w, wire_str_c(problem));
		wire_write_tags(&w);
	}
	wire_write_tags(&w);
	free(ids);
	acl_create_req_fini(&q);
	(void)ctx;
	return rc ? rc : w.err;
}

/* ---- DeleteAcls on the controller ---- */

/* One DeleteAclsMatchingAcl: no error, the binding. */
static void write_matching(struct wire_writer *w, const struct acl_binding *b,
			   int16_t v)
{
	wire_write_i16(w, KAFKA_ERR_NONE);
	wire_write_string(w, wire_str_c(NULL));
	wire_write_i8(w, b->resource_type);
	wire_write_string(w, b->resource_name);
	if (v >= 1)
		wire_write_i8(w, b->pattern_type);
	wire_write_string(w, b->principal);
	wire_write_string(w, b->host);
	wire_write_i8(w, b->operation);
	wire_write_i8(w, b->permission);
	wire_write_tags(w);
}

/* One filter: its result, and a removal per matching ACL not yet removed
 * by an earlier filter of the request (gone[] marks them). */
static int delete_filter(const struct ctrl_input *in, const struct acl_filter *f,
			 bool *gone, struct wire_writer *w, struct ctrl_output *out)
{
	const char *problem = acl_filter_problem(f);
	wire_write_i16(w, problem ? KAFKA_ERR_INVALID_REQUEST : KAFKA_ERR_NONE);
	wire_write_string(w, wire_str_c(problem));
	size_t at = wire_write_array_begin(w);
	int32_t n = 0;
	int rc = KB_OK;
	for (int32_t i = 0; !problem && rc == KB_OK && i < in->img->n_acls; i++) {
		const struct meta_record *rec = &in->img->acls[i].rec;
		struct acl_binding b = acl_binding_from_record(rec);
		if (!acl_filter_matches(f, &b))
			continue;
		write_matching(w, &b, in->api_version);
		n++;
		if (!gone[i])
			rc = emit_acl(out, &b, &rec->acl_id,
				      META_REMOVE_ACCESS_CONTROL_ENTRY);
		gone[i] = true;
	}
	wire_write_array_end(w, at, n);
	wire_write_tags(w);
	return rc;
}

/* KAFKA: AclControlManager.deleteAcls: per filter, validate it, then
 * remove every ACL of the image it matches. */
int acl_decide_delete(void *ctx, struct ctrl *c, const struct ctrl_input *in,
		      struct ctrl_output *out)
{
	struct wire_reader r = in->body;
	r.flexible = wire_is_flexible(WIRE_API_DELETE_ACLS, in->api_version);
	struct acl_filters q;
	int rc = acl_delete_req_decode(&r, in->api_version, &q);
	bool *gone = calloc((size_t)in->img->n_acls + 1, sizeof *gone);
	if (rc == KB_OK && !gone)
		rc = KB_ERR_NOMEM;
	struct wire_writer w;
	wire_writer_init(&w, &out->response, r.flexible);
	wire_write_i32(&w, 0); /* throttle_time_ms */
	wire_write_array_len(&w, q.n);
	for (int32_t i = 0; rc == KB_OK && i < q.n; i++) /* INVARIANT 3 */
		rc = delete_filter(in, &q.v[i], gone, &w, out);
	wire_write_tags(&w);
	free(gone);
	acl_filters_fini(&q);
	(void)ctx, (void)c;
	return rc ? rc : w.err;
}

/* ---- DescribeAcls on any broker ---- */

/* True when binding i is the first of its resource (type, name, pattern). */
static bool first_of_resource(const struct meta_image *img,
			      const struct acl_filter *f, int32_t i)
{
	struct acl_binding b = acl_binding_from_record(&img->acls[i].rec);
	for (int32_t j = 0; j < i; j++) {
		struct acl_binding o = acl_binding_from_record(&img->acls[j].rec);
		if (acl_filter_matches(f, &o) && o.resource_type == b.resource_type &&
		    o.pattern_type == b.pattern_type &&
		    str_same(o.resource_name, b.resource_name))
			return false;
	}
	return true;
}

/* One DescribeAclsResource: the pattern of binding i and every matching
 * ACL of the same pattern. */
static void write_resource(struct wire_writer *w, const struct meta_image *img,
			   const struct acl_filter *f, int32_t i, int16_t v)
{
	struct acl_binding b = acl_binding_from_record(&img->acls[i].rec);
	wire_write_i8(w, b.resource_type);
	wire_write_string(w, b.resource_name);
	if (v >= 1)
		wire_write_i8(w, b.pattern_type);
	size_t at = wire_write_array_begin(w);
	int32_t n = 0;
	for (int32_t j = i; j < img->n_acls; j++) {
		struct acl_binding o = acl_binding_from_record(&img->acls[j].rec);
		if (!acl_filter_matches(f, &o) || o.resource_type != b.resource_type ||
		    o.pattern_type != b.pattern_type ||
		    !str_same(o.resource_name, b.resource_name))
			continue;
		write_description(w, &o);
		n++;
	}
	wire_write_array_end(w, at, n);
	wire_write_tags(w);
}

/* KAFKA: AclApis.handleDescribeAcls: DescribeAclsResponse.aclsResources
 * groups the matching bindings by resource pattern. */
void acl_describe_write(struct wire_writer *w, const struct meta_image *img,
			const struct acl_filter *f, int16_t v)
{
	const char *problem = acl_filter_problem(f);
	wire_write_i32(w, 0); /* throttle_time_ms */
	wire_write_i16(w, problem ? KAFKA_ERR_INVALID_REQUEST : KAFKA_ERR_NONE);
	wire_write_string(w, wire_str_c(problem));
	size_t at = wire_write_array_begin(w);
	int32_t n = 0;
	for (int32_t i = 0; !problem && i < img->n_acls; i++) {
		struct acl_binding b = acl_binding_from_record(&img->acls[i].rec);
		if (!acl_filter_matches(f, &b) || !first_of_resource(img, f, i))
			continue;
		write_resource(w, img, f, i, v);
		n++;
	}
	wire_write_array_end(w, at, n);
	wire_write_tags(w);
}

/* AclDescription: principal, host, operation, permission, tags. */
static void write_description(struct wire_writer *w, const struct acl_binding *b)
{
	wire_write_string(w, b->principal);
	wire_write_string(w, b->host);
	wire_write_i8(w, b->operation);
	wire_write_i8(w, b->permission);
	wire_write_tags(w);
}

/* ---- One error everywhere (forwarder, controller, denied) ---- */

int acl_create_error_write(struct wire_reader *r, int16_t v, int16_t error,
			   struct wire_writer *w)
{
	struct acl_create_req q;
	int rc = acl_create_req_decode(r, v, &q);
	wire_write_i32(w, 0);
	wire_write_array_len(w, q.n);
	for (int32_t i = 0; i < q.n; i++) {
		wire_write_i16(w, error);
		wire_write_string(w, wire_str_c(NULL));
		wire_write_tags(w);
	}
	wire_write_tags(w);
	acl_create_req_fini(&q);
	return rc ? rc : w->err;
}

int acl_delete_error_write(struct wire_reader *r, int16_t v, int16_t error,
			   struct wire_writer *w)
{
	struct acl_filters q;
	int rc = acl_delete_req_decode(r, v, &q);
	wire_write_i32(w, 0);
	wire_write_array_len(w, q.n);
	for (int32_t i = 0; i < q.n; i++) {
		wire_write_i16(w, error);
		wire_write_string(w, wire_str_c(NULL));
		wire_write_array_len(w, 0);
		wire_write_tags(w);
	}
	wire_write_tags(w);
	acl_filters_fini(&q);
	return rc ? rc : w->err;
}

/* ---- Small helpers ---- */

static bool str_same(struct wire_str a, struct wire_str b)
{
	return a.len == b.len && a.len >= 0 &&
	       (a.len == 0 || !memcmp(a.p, b.p, (size_t)a.len));
}

static bool str_starts(struct wire_str name, struct wire_str prefix)
{
	return name.len >= 0 && prefix.len >= 0 && name.len >= prefix.len &&
	       (prefix.len == 0 || !memcmp(name.p, prefix.p, (size_t)prefix.len));
}

static bool binding_same(const struct acl_binding *a, const struct acl_binding *b)
{
	return a->resource_type == b->resource_type &&
	       a->pattern_type == b->pattern_type &&
	       a->operation == b->operation && a->permission == b->permission &&
	       str_same(a->resource_name, b->resource_name) &&
	       str_same(a->principal, b->principal) && str_same(a->host, b->host);
}

static bool id_used(const struct meta_image *img, const struct wire_uuid *ids,
		    size_t n, const struct wire_uuid *id)
{
	static const struct wire_uuid zero;
	if (!memcmp(id, &zero, sizeof zero))
		return true; /* KAFKA: Uuid.ZERO_UUID is never an id */
	for (int32_t i = 0; i < img->n_acls; i++)
		if (!memcmp(&img->acls[i].rec.acl_id, id, sizeof *id))
			return true;
	for (size_t i = 0; i < n; i++)
		if (!memcmp(&ids[i], id, sizeof *id))
			return true;
	return false;
}
