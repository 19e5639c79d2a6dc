/* SPDX-License-Identifier: MIT */
/*
 * Tests for chapter 04 (codec). Every expected byte below is written by
 * hand from the protocol guide, RequestHeader.json, the API's JSON spec
 * or CLIENTS.md §6, or was captured from a real client (kcat 1.7.1) into
 * tests/fixtures/. None comes from samsa's own encoder. Record batches
 * come from tu_batch_build (tests/testutil.h), a separate spec encoder.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <zlib.h>

#include "testutil.h"
#include "01_segment.h"
#include "04_codec.h"

#define BYTES(...) ((const uint8_t[]){__VA_ARGS__})
#define NBYTES(...) sizeof((const uint8_t[]){__VA_ARGS__})
/* A reader over a literal byte list. */
#define READER(r, flex, ...) \
	wire_reader_init((r), BYTES(__VA_ARGS__), NBYTES(__VA_ARGS__), (flex))

/* kcat's first request, byte by byte (RequestHeader.json v2, then
 * ApiVersionsRequest.json v3); the same bytes are in the fixture. */
static const uint8_t kcat_apiversions_v3[] = {
	0x00, 0x00, 0x00, 0x24,             /* size: 36 bytes follow */
	0x00, 0x12,                         /* api_key 18 (ApiVersions) */
	0x00, 0x03,                         /* api_version 3 */
	0x00, 0x00, 0x00, 0x01,             /* correlation_id 1 */
	0x00, 0x07, 'r', 'd', 'k', 'a', 'f', 'k', 'a', /* client_id: int16 len */
	0x00,                               /* header tagged fields: none */
	0x0b, 'l', 'i', 'b', 'r', 'd', 'k', 'a', 'f', 'k', 'a', /* 10 + 1 */
	0x06, '2', '.', '0', '.', '2',      /* client_software_version: 5 + 1 */
	0x00,                               /* body tagged fields: none */
};

/* kcat's second request: Metadata v4 (header v1, classic body). */
static const uint8_t kcat_metadata_v4[] = {
	0x00, 0x00, 0x00, 0x1f,             /* size: 31 */
	0x00, 0x03, 0x00, 0x04,             /* Metadata v4 */
	0x00, 0x00, 0x00, 0x02,             /* correlation_id 2 */
	0x00, 0x07, 'r', 'd', 'k', 'a', 'f', 'k', 'a',
	0x00, 0x00, 0x00, 0x01,             /* topics: int32 count 1 */
	0x00, 0x07, 'm', 'y', 't', 'o', 'p', 'i', 'c',
	0x01,                               /* allow_auto_topic_creation */
};

/* ---- Helpers ---- */

static void assert_buf_eq(const struct kb_buf *b, const uint8_t *want,
			  size_t n)
{
	assert_int_equal(b->len, n);
	assert_memory_equal(b->data, want, n);
}

/* Run one write into a fresh buffer and compare with want. */
#define EXPECT_WRITE(flex, stmt, ...)                                    \
	do {                                                             \
		struct kb_buf b_;                                        \
		struct wire_writer w_;                                   \
		kb_buf_init(&b_);                                        \
		wire_writer_init(&w_, &b_, (flex));                      \
		struct wire_writer *w = &w_;                             \
		stmt;                                                    \
		assert_int_equal(wire_writer_status(w), KB_OK);          \
		assert_buf_eq(&b_, BYTES(__VA_ARGS__), NBYTES(__VA_ARGS__)); \
		kb_buf_fini(&b_);                                        \
	} while (0)

static uint8_t *read_fixture(const char *name, size_t *len)
{
	char path[1024];
	const char *root = getenv("SAMSA_ROOT");
	if (root) {
		snprintf(path, sizeof path, "%s/tests/fixtures/%s", root, name);
	} else { /* __FILE__ is tests/04_codec_test.c, relative to the root */
		const char *slash = strrchr(__FILE__, '/');
		int dir = slash ? (int)(slash - __FILE__) : 1;
		snprintf(path, sizeof path, "%.*s/fixtures/%s", dir,
			 slash ? __FILE__ : ".", name);
	}
	uint8_t *p = tu_read_all(path, len);
	assert_non_null(p);
	return p;
}

static struct wire_record rec_of(const char *key, const char *value,
				 int64_t ts)
{
	struct wire_record r = {0};
	r.key = (struct wire_bytes){(const uint8_t *)key,
				    key ? (int32_t)strlen(key) : -1};
	r.value = (struct wire_bytes){(const uint8_t *)value,
				      value ? (int32_t)strlen(value) : -1};
	r.timestamp = ts;
	return r;
}

static void assert_view(struct wire_bytes b, const char *want)
{
	if (!want) {
		assert_int_equal(b.len, -1);
		assert_null(b.p);
		return;
	}
	assert_int_equal(b.len, (int)strlen(want));
	assert_memory_equal(b.p, want, strlen(want));
}

/* Rewrite recordsCount and fix the CRC, so only the lie is wrong. */
static void set_records_count(uint8_t *batch, size_t len, uint32_t count)
{
	tu_be(batch + SEG_OFF_RECORDS_COUNT, count, 4);
	tu_be(batch + SEG_OFF_CRC, tu_crc32c(batch + 21, len - 21), 4);
}

/* ---- Fixed-width primitives ---- */

static void test_wire_read_fixed_width_is_big_endian(void **state)
{
	(void)state;
	struct wire_reader r;
	READER(&r, false, 0xfe, 0x01, 0x12, 0x34, 0xff, 0xfe, 0x01, 0x02, 0x03,
	       0x04, 0xff, 0xff, 0xff, 0xfe, 0x01, 0x02, 0x03, 0x04, 0x05,
	       0x06, 0x07, 0x08, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0x80, 0x00,
	       0x00, 0x00);
	assert_int_equal(wire_read_i8(&r), -2);
	assert_true(wire_read_bool(&r));
	assert_int_equal(wire_read_i16(&r), 0x1234);
	assert_int_equal(wire_read_u16(&r), 0xfffe);
	assert_int_equal(wire_read_i32(&r), 0x01020304);
	assert_int_equal(wire_read_i32(&r), -2);
	assert_true(wire_read_i64(&r) == 0x0102030405060708LL);
	assert_true(wire_read_f64(&r) == 1.5);
	assert_int_equal(wire_read_u32(&r), 0x80000000u);
	assert_int_equal(wire_remaining(&r), 0);
	assert_int_equal(wire_reader_status(&r), KB_OK);
}

static void test_wire_write_fixed_width_is_big_endian(void **state)
{
	(void)state;
	EXPECT_WRITE(false, wire_write_i8(w, -2), 0xfe);
	EXPECT_WRITE(false, wire_write_bool(w, true), 0x01);
	EXPECT_WRITE(false, wire_write_i16(w, -2), 0xff, 0xfe);
	EXPECT_WRITE(false, wire_write_u16(w, 9092), 0x23, 0x84);
	EXPECT_WRITE(false, wire_write_i32(w, 0x01020304), 1, 2, 3, 4);
	EXPECT_WRITE(false, wire_write_u32(w, 0xdeadbeef), 0xde, 0xad, 0xbe,
		     0xef);
	EXPECT_WRITE(false, wire_write_i64(w, -1), 0xff, 0xff, 0xff, 0xff,
		     0xff, 0xff, 0xff, 0xff);
	EXPECT_WRITE(false, wire_write_f64(w, 1.5), 0x3f, 0xf8, 0, 0, 0, 0, 0,
		     0);
}

static void test_wire_uuid_is_sixteen_raw_bytes(void **state)
{
	(void)state;
	struct wire_uuid u;
	for (int i = 0; i < WIRE_UUID_LEN; i++)
		u.b[i] = (uint8_t)(0xa0 + i);
	EXPECT_WRITE(true, wire_write_uuid(w, u), 0xa0, 0xa1, 0xa2, 0xa3, 0xa4,
		     0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae,
		     0xaf);
	struct wire_reader r;
	READER(&r, true, 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8,
	       0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf);
	struct wire_uuid got = wire_read_uuid(&r);
	assert_memory_equal(got.b, u.b, WIRE_UUID_LEN);
	assert_int_equal(wire_reader_status(&r), KB_OK);
}

/* ---- Varints ---- */

static void test_wire_uvarint_encodes_seven_bits_per_byte(void **state)
{
	(void)state;
	EXPECT_WRITE(false, wire_write_uvarint(w, 0), 0x00);
	EXPECT_WRITE(false, wire_write_uvarint(w, 127), 0x7f);
	EXPECT_WRITE(false, wire_write_uvarint(w, 128), 0x80, 0x01);
	EXPECT_WRITE(false, wire_write_uvarint(w, 300), 0xac, 0x02);
	EXPECT_WRITE(false, wire_write_uvarint(w, UINT32_MAX), 0xff, 0xff,
		     0xff, 0xff, 0x0f);
	struct wire_reader r;
	READER(&r, false, 0xac, 0x02, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00);
	assert_int_equal(wire_read_uvarint(&r), 300);
	assert_int_equal(wire_read_uvarint(&r), UINT32_MAX);
	assert_int_equal(wire_read_uvarint(&r), 0);
	assert_int_equal(wire_reader_status(&r), KB_OK);
}

static void test_wire_varint_is_zigzag(void **state)
{
	(void)state;
	EXPECT_WRITE(false, wire_write_varint(w, 0), 0x00);
	EXPECT_WRITE(false, wire_write_varint(w, -1), 0x01);
	EXPECT_WRITE(false, wire_write_varint(w, 1), 0x02);
	EXPECT_WRITE(false, wire_write_varint(w, -2), 0x03);
	EXPECT_WRITE(false, wire_write_varint(w, -64), 0x7f);
	EXPECT_WRITE(false, wire_write_varint(w, 64), 0x80, 0x01);
	EXPECT_WRITE(false, wire_write_varint(w, INT32_MAX), 0xfe, 0xff, 0xff,
		     0xff, 0x0f);
	EXPECT_WRITE(false, wire_write_varint(w, INT32_MIN), 0xff, 0xff, 0xff,
		     0xff, 0x0f);
	struct wire_reader r;
	READER(&r, false, 0x01, 0x02, 0x03, 0x80, 0x01, 0xff, 0xff, 0xff, 0xff,
	       0x0f);
	assert_int_equal(wire_read_varint(&r), -1);
	assert_int_equal(wire_read_varint(&r), 1);
	assert_int_equal(wire_read_varint(&r), -2);
	assert_int_equal(wire_read_varint(&r), 64);
	assert_int_equal(wire_read_varint(&r), INT32_MIN);
	assert_int_equal(wire_reader_status(&r), KB_OK);
}

static void test_wire_varlong_is_zigzag(void **state)
{
	(void)state;
	EXPECT_WRITE(false, wire_write_varlong(w, -1), 0x01);
	EXPECT_WRITE(false, wire_write_varlong(w, 150), 0xac, 0x02);
	EXPECT_WRITE(false, wire_write_varlong(w, INT64_MIN), 0xff, 0xff, 0xff,
		     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
	struct wire_reader r;
	READER(&r, false, 0xac, 0x02, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	       0xff, 0xff, 0x01);
	assert_true(wire_read_varlong(&r) == 150);
	assert_true(wire_read_varlong(&r) == INT64_MAX);
	assert_int_equal(wire_reader_status(&r), KB_OK);
}

/* ---- Strings, bytes, arrays, tags ---- */

static void test_wire_string_classic_has_int16_length(void **state)
{
	(void)state;
	EXPECT_WRITE(false, wire_write_string(w, wire_str_c("abc")), 0x00,
		     0x03, 'a', 'b', 'c');
	EXPECT_WRITE(false, wire_write_string(w, wire_str_c("")), 0x00, 0x00);
	EXPECT_WRITE(false, wire_write_string(w, wire_str_c(NULL)), 0xff,
		     0xff);
	struct wire_reader r;
	READER(&r, false, 0x00, 0x03, 'a', 'b', 'c', 0xff, 0xff, 0x00, 0x00);
	assert_true(wire_str_eq(wire_read_string(&r), "abc"));
	struct wire_str null = wire_read_nullable_string(&r);
	assert_int_equal(null.len, -1);
	assert_null(null.p);
	struct wire_str empty = wire_read_nullable_string(&r);
	assert_int_equal(empty.len, 0);
	assert_non_null(empty.p);
	assert_int_equal(wire_reader_status(&r), KB_OK);
}

/* KIP-482: compact lengths are N + 1, so 0 can mean null. */
static void test_wire_string_compact_has_uvarint_length_plus_one(void **state)
{
	(void)state;
	EXPECT_WRITE(true, wire_write_string(w, wire_str_c("abc")), 0x04, 'a',
		     'b', 'c');
	EXPECT_WRITE(true, wire_write_string(w, wire_str_c("")), 0x01);
	EXPECT_WRITE(true, wire_write_string(w, wire_str_c(NULL)), 0x00);
	struct wire_reader r;
	READER(&r, true, 0x04, 'a', 'b', 'c', 0x00, 0x01);
	assert_true(wire_str_eq(wire_read_string(&r), "abc"));
	assert_int_equal(wire_read_nullable_string(&r).len, -1);
	assert_int_equal(wire_read_string(&r).len, 0);
	assert_int_equal(wire_reader_status(&r), KB_OK);
}

static void test_wire_bytes_classic_and_compact(void **state)
{
	(void)state;
	struct wire_bytes two = {BYTES(0x01, 0x02), 2};
	struct wire_bytes null = {NULL, -1};
	EXPECT_WRITE(false, wire_write_bytes(w, two), 0, 0, 0, 2, 1, 2);
	EXPECT_WRITE(false, wire_write_bytes(w, null), 0xff, 0xff, 0xff, 0xff);
	EXPECT_WRITE(true, wire_write_bytes(w, two), 0x03, 1, 2);
	EXPECT_WRITE(true, wire_write_bytes(w, null), 0x00);
	struct wire_reader r;
	READER(&r, false, 0, 0, 0, 2, 1, 2, 0xff, 0xff, 0xff, 0xff);
	assert_int_equal(wire_read_bytes(&r).len, 2);
	assert_int_equal(wire_read_nullable_bytes(&r).len, -1);
	READER(&r, true, 0x03, 1, 2, 0x00);
	struct wire_bytes got = wire_read_bytes(&r);
	assert_int_equal(got.len, 2);
	assert_int_equal(got.p[1], 2);
	assert_null(wire_read_nullable_bytes(&r).p);
	assert_int_equal(wire_reader_status(&r), KB_OK);
}

static void test_wire_array_len_classic_and_compact(void **state)
{
	(void)state;
	EXPECT_WRITE(false, wire_write_array_len(w, 2), 0, 0, 0, 2);
	EXPECT_WRITE(false, wire_write_array_len(w, -1), 0xff, 0xff, 0xff,
		     0xff);
	EXPECT_WRITE(true, wire_write_array_len(w, 2), 0x03);
	EXPECT_WRITE(true, wire_write_array_len(w, -1), 0x00);
	struct wire_reader r;
	READER(&r, true, 0x03, 0xaa, 0xbb, 0x00);
	assert_int_equal(wire_read_array_len(&r, 1), 2);
	wire_read_i16(&r);
	assert_int_equal(wire_read_nullable_array_len(&r, 1), -1);
	assert_int_equal(wire_reader_status(&r), KB_OK);
	READER(&r, false, 0xff, 0xff, 0xff, 0xff);
	assert_int_equal(wire_read_array_len(&r, 1), 0);
	assert_int_equal(wire_reader_status(&r), KB_ERR_PROTO); /* not nullable */
}

static void test_wire_tags_written_empty_only_when_flexible(void **state)
{
	(void)state;
	EXPECT_WRITE(true, wire_write_tags(w), 0x00);
	EXPECT_WRITE(false, (wire_write_tags(w), wire_write_i8(w, 7)), 0x07);
}

static void test_wire_read_tags_skips_unknown_fields(void **state)
{
	(void)state;
	struct wire_reader r;
	/* two fields: tag 0 of 3 bytes, tag 5 of 1 byte; then an int8 */
	READER(&r, true, 0x02, 0x00, 0x03, 'a', 'b', 'c', 0x05, 0x01, 0xff,
	       0x2a);
	wire_read_tags(&r);
	assert_int_equal(wire_read_i8(&r), 42);
	assert_int_equal(wire_reader_status(&r), KB_OK);
	READER(&r, false, 0x2a); /* not flexible: no section to skip */
	wire_read_tags(&r);
	assert_int_equal(wire_read_i8(&r), 42);
}

static void test_wire_array_end_patches_or_inserts_count(void **state)
{
	(void)state;
	EXPECT_WRITE(false, do {
		size_t at = wire_write_array_begin(w);
		wire_write_i8(w, 7);
		wire_write_i8(w, 8);
		wire_write_array_end(w, at, 2);
	} while (0), 0, 0, 0, 2, 7, 8);
	EXPECT_WRITE(true, do {
		wire_write_i8(w, 1);
		size_t at = wire_write_array_begin(w);
		wire_write_i8(w, 7);
		wire_write_i8(w, 8);
		wire_write_array_end(w, at, 2);
	} while (0), 1, 0x03, 7, 8);
	EXPECT_WRITE(true, do {
		size_t at = wire_write_array_begin(w);
		for (int i = 0; i < 200; i++)
			wire_write_i8(w, 0);
		wire_write_array_end(w, at, 200);
		w->buf->len = 2; /* keep the count: 201 = 0xc9 0x01 */
	} while (0), 0xc9, 0x01);
}

static void test_wire_patch_size_counts_bytes_after_prefix(void **state)
{
	(void)state;
	EXPECT_WRITE(false, do {
		size_t at = wire_reserve_i32(w);
		wire_write_i16(w, 1);
		wire_write_i8(w, 2);
		wire_patch_size(w, at);
	} while (0), 0, 0, 0, 3, 0, 1, 2);
}

/* ---- Bounded reads (invariants 1 to 4) ---- */

static void test_wire_read_past_end_is_sticky_error(void **state)
{
	(void)state;
	struct wire_reader r;
	READER(&r, false, 0x01, 0x02, 0x03);
	assert_int_equal(wire_read_i32(&r), 0);
	assert_int_equal(wire_reader_status(&r), KB_ERR_PROTO);
	assert_int_equal(r.pos, 0);
	/* later reads give zero values, even ones that would fit */
	assert_int_equal(wire_read_i8(&r), 0);
	assert_int_equal(wire_read_string(&r).len, 0);
	assert_int_equal(wire_read_array_len(&r, 1), 0);
	assert_int_equal(wire_remaining(&r), 0);
	assert_int_equal(r.pos, 0);
}

static void test_wire_length_past_end_fails(void **state)
{
	(void)state;
	struct wire_reader r;
	READER(&r, false, 0x00, 0x04, 'a', 'b', 'c');
	assert_int_equal(wire_read_string(&r).len, 0);
	assert_int_equal(wire_reader_status(&r), KB_ERR_PROTO);
	READER(&r, true, 0x05, 'a', 'b', 'c');
	wire_read_string(&r);
	assert_int_equal(wire_reader_status(&r), KB_ERR_PROTO);
	READER(&r, false, 0x00, 0x00, 0x00, 0x09, 1, 2);
	wire_read_bytes(&r);
	assert_int_equal(wire_reader_status(&r), KB_ERR_PROTO);
}

static void test_wire_negative_length_other_than_null_fails(void **state)
{
	(void)state;
	struct wire_reader r;
	READER(&r, false, 0xff, 0xfe, 'a', 'b');
	wire_read_nullable_string(&r);
	assert_int_equal(wire_reader_status(&r), KB_ERR_PROTO);
	READER(&r, false, 0xff, 0xff, 0xff, 0xfb, 1, 2, 3, 4, 5);
	wire_read_nullable_bytes(&r);
	assert_int_equal(wire_reader_status(&r), KB_ERR_PROTO);
	READER(&r, false, 0xff, 0xff, 0xff, 0xfe);
	wire_read_nullable_array_len(&r, 1);
	assert_int_equal(wire_reader_status(&r), KB_ERR_PROTO);
	READER(&r, false, 0xff, 0xff); /* null where the spec forbids it */
	wire_read_string(&r);
	assert_int_equal(wire_reader_status(&r), KB_ERR_PROTO);
	READER(&r, true, 0x00);
	wire_read_string(&r);
	assert_int_equal(wire_reader_status(&r), KB_ERR_PROTO);
}

static void test_wire_compact_string_over_int16_max_fails(void **state)
{
	(void)state;
	size_t n = 3 + 40000;
	uint8_t *buf = calloc(1, n);
	buf[0] = 0xc1, buf[1] = 0xb8, buf[2] = 0x02; /* uvarint 40001 */
	struct wire_reader r;
	wire_reader_init(&r, buf, n, true);
	wire_read_string(&r);
	assert_int_equal(wire_reader_status(&r), KB_ERR_PROTO);
	wire_reader_init(&r, buf, n, true); /* bytes may be that long */
	assert_int_equal(wire_read_bytes(&r).len, 40000);
	assert_int_equal(wire_reader_status(&r), KB_OK);
	free(buf);
}

/* The count is refused before anything could be allocated for it. */
static void test_wire_array_count_beyond_bytes_left_fails(void **state)
{
	(void)state;
	struct wire_reader r;
	READER(&r, false, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8);
	assert_int_equal(wire_read_array_len(&r, 4), 0);
	assert_int_equal(wire_reader_status(&r), KB_ERR_PROTO);
	READER(&r, false, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8);
	assert_int_equal(wire_read_array_len(&r, 4), 0); /* 3 * 4 > 8 */
	assert_int_equal(wire_reader_status(&r), KB_ERR_PROTO);
	READER(&r, false, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8);
	assert_int_equal(wire_read_array_len(&r, 4), 2); /* 2 * 4 == 8 */
	READER(&r, true, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2);
	assert_int_equal(wire_read_array_len(&r, 0), 0); /* min 0 counts as 1 */
	assert_int_equal(wire_reader_status(&r), KB_ERR_PROTO);
}

static void test_wire_varint_overflow_fails(void **state)
{
	(void)state;
	struct wire_reader r;
	READER(&r, false, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00); /* 6 bytes */
	wire_read_uvarint(&r);
	assert_int_equal(wire_reader_status(&r), KB_ERR_PROTO);
	READER(&r, false, 0xff, 0xff, 0xff, 0xff, 0x1f); /* 33 bits */
	wire_read_varint(&r);
	assert_int_equal(wire_reader_status(&r), KB_ERR_PROTO);
	READER(&r, false, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
	       0x80, 0x00); /* 11 bytes */
	wire_read_varlong(&r);
	assert_int_equal(wire_reader_status(&r), KB_ERR_PROTO);
	READER(&r, false, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	       0x02); /* 65 bits */
	wire_read_varlong(&r);
	assert_int_equal(wire_reader_status(&r), KB_ERR_PROTO);
	READER(&r, false, 0x80, 0x80); /* continues past the end */
	wire_read_varint(&r);
	assert_int_equal(wire_reader_status(&r), KB_ERR_PROTO);
}

static void test_wire_tag_section_past_end_fails(void **state)
{
	(void)state;
	struct wire_reader r;
	READER(&r, true, 0x01, 0x00, 0x05, 'a'); /* a 5-byte field, 1 left */
	wire_read_tags(&r);
	assert_int_equal(wire_reader_status(&r), KB_ERR_PROTO);
	READER(&r, true, 0x7f, 0x00, 0x00); /* 127 fields in 2 bytes */
	wire_read_tags(&r);
	assert_int_equal(wire_reader_status(&r), KB_ERR_PROTO);
}

/* ---- Headers ---- */

static void test_wire_request_header_v2_kcat_apiversions(void **state)
{
	(void)state;
	size_t len;
	uint8_t *fixture = read_fixture("kcat_apiversions_v3.bin", &len);
	assert_int_equal(len, sizeof kcat_apiversions_v3);
	assert_memory_equal(fixture, kcat_apiversions_v3, len);

	struct wire_reader r;
	wire_reader_init(&r, fixture, len, false);
	assert_int_equal(wire_read_i32(&r), 36);
	struct wire_request_header h;
	assert_int_equal(wire_read_request_header(&r, &h), KB_OK);
	assert_int_equal(h.api_key, WIRE_API_API_VERSIONS);
	assert_int_equal(h.api_version, 3);
	assert_int_equal(h.correlation_id, 1);
	assert_int_equal(h.header_version, 2);
	assert_true(wire_str_eq(h.client_id, "rdkafka"));
	assert_ptr_equal(h.client_id.p, (const char *)fixture + 14); /* a view */
	assert_true(r.flexible);
	assert_true(wire_str_eq(wire_read_string(&r), "librdkafka"));
	assert_true(wire_str_eq(wire_read_string(&r), "2.0.2"));
	wire_read_tags(&r);
	assert_int_equal(wire_reader_status(&r), KB_OK);
	assert_int_equal(wire_remaining(&r), 0);
	free(fixture);
}

static void test_wire_request_header_v1_kcat_metadata(void **state)
{
	(void)state;
	size_t len;
	uint8_t *fixture = read_fixture("kcat_metadata_v4.bin", &len);
	assert_int_equal(len, sizeof kcat_metadata_v4);
	assert_memory_equal(fixture, kcat_metadata_v4, len);

	struct wire_reader r;
	wire_reader_init(&r, fixture + 4, len - 4, true);
	struct wire_request_header h;
	assert_int_equal(wire_read_request_header(&r, &h), KB_OK);
	assert_int_equal(h.api_key, WIRE_API_METADATA);
	assert_int_equal(h.api_version, 4);
	assert_int_equal(h.correlation_id, 2);
	assert_int_equal(h.header_version, 1);
	assert_true(wire_str_eq(h.client_id, "rdkafka"));
	assert_false(r.flexible);
	assert_int_equal(wire_read_nullable_array_len(&r, 2), 1);
	assert_true(wire_str_eq(wire_read_string(&r), "mytopic"));
	assert_true(wire_read_bool(&r));
	assert_int_equal(wire_reader_status(&r), KB_OK);
	assert_int_equal(wire_remaining(&r), 0);
	free(fixture);
}

static void test_wire_request_header_null_client_id(void **state)
{
	(void)state;
	struct wire_reader r;
	READER(&r, false, 0x00, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x09, 0xff,
	       0xff);
	struct wire_request_header h;
	assert_int_equal(wire_read_request_header(&r, &h), KB_OK);
	assert_int_equal(h.api_key, WIRE_API_FETCH);
	assert_int_equal(h.client_id.len, -1);
}

static void test_wire_request_header_truncated_fails(void **state)
{
	(void)state;
	const uint8_t *hdr = kcat_apiversions_v3 + 4;
	for (size_t n = 0; n < 18; n++) { /* the header is 18 bytes */
		struct wire_reader r;
		struct wire_request_header h;
		wire_reader_init(&r, hdr, n, false);
		assert_int_equal(wire_read_request_header(&r, &h),
				 KB_ERR_PROTO);
	}
}

static void test_wire_request_header_unknown_api_key_fails(void **state)
{
	(void)state;
	struct wire_reader r;
	READER(&r, false, 0x03, 0xe7, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0xff,
	       0xff);
	struct wire_request_header h;
	assert_int_equal(wire_read_request_header(&r, &h), KB_ERR_PROTO);
	assert_int_equal(h.api_key, 999);
	assert_int_equal(h.correlation_id, 5);
	assert_int_equal(wire_reader_status(&r), KB_ERR_PROTO);
}

static void test_wire_write_request_header_matches_kcat(void **state)
{
	(void)state;
	struct wire_request_header h = {WIRE_API_API_VERSIONS, 3, 1,
					wire_str_c("rdkafka"), 0};
	EXPECT_WRITE(false, do {
		size_t at = wire_reserve_i32(w);
		wire_write_request_header(w, &h);
		assert_true(w->flexible);
		wire_write_string(w, wire_str_c("librdkafka"));
		wire_write_string(w, wire_str_c("2.0.2"));
		wire_write_tags(w);
		wire_patch_size(w, at);
	} while (0), 0x00, 0x00, 0x00, 0x24, 0x00, 0x12, 0x00, 0x03, 0x00,
		     0x00, 0x00, 0x01, 0x00, 0x07, 'r', 'd', 'k', 'a', 'f', 'k',
		     'a', 0x00, 0x0b, 'l', 'i', 'b', 'r', 'd', 'k', 'a', 'f',
		     'k', 'a', 0x06, '2', '.', '0', '.', '2', 0x00);
}

/* Invariant 6: header v1 (a tag byte) only for flexible versions, never
 * for ApiVersions, whose body is still flexible from v3. */
static void test_wire_response_header_v0_and_v1(void **state)
{
	(void)state;
	struct wire_request_header md4 = {WIRE_API_METADATA, 4, 7, {0}, 1};
	struct wire_request_header md9 = {WIRE_API_METADATA, 9, 7, {0}, 2};
	struct wire_request_header av3 = {WIRE_API_API_VERSIONS, 3, 7, {0}, 2};
	EXPECT_WRITE(true, (wire_write_response_header(w, &md4),
			    assert_false(w->flexible)), 0, 0, 0, 7);
	EXPECT_WRITE(false, (wire_write_response_header(w, &md9),
			     assert_true(w->flexible)), 0, 0, 0, 7, 0x00);
	EXPECT_WRITE(false, (wire_write_response_header(w, &av3),
			     assert_true(w->flexible)), 0, 0, 0, 7);

	struct wire_reader r;
	int32_t corr;
	READER(&r, false, 0, 0, 0, 7, 0x01, 0x00, 0x01, 0x2a, 0x09);
	assert_int_equal(wire_read_response_header(&r, &md9, &corr), KB_OK);
	assert_int_equal(corr, 7);
	assert_int_equal(wire_read_i8(&r), 9); /* the tag was skipped */
}

static void test_wire_header_versions_follow_flexible_versions(void **state)
{
	(void)state;
	size_t len;
	char *text = (char *)read_fixture("api_keys.txt", &len);
	text = realloc(text, len + 1);
	text[len] = '\0';
	int rows = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		int key, from;
		char name[64], flex[16];
		if (line[0] == '#')
			continue;
		assert_int_equal(sscanf(line, "%d %63s %15s", &key, name, flex),
				 3);
		assert_string_equal(wire_api_name((int16_t)key), name);
		from = strcmp(flex, "none") == 0 ? 100 : atoi(flex);
		for (int16_t v = 0; v < 20; v++) {
			bool flexible = v >= from;
			assert_int_equal(wire_is_flexible((int16_t)key, v),
					 flexible);
			int req = key == WIRE_API_CONTROLLED_SHUTDOWN && v == 0
				  ? 0 : flexible ? 2 : 1;
			int resp = key == WIRE_API_API_VERSIONS ? 0 : flexible;
			assert_int_equal(
				wire_request_header_version((int16_t)key, v),
				req);
			assert_int_equal(
				wire_response_header_version((int16_t)key, v),
				resp);
		}
		rows++;
	}
	assert_int_equal(rows, WIRE_API_COUNT);
	assert_null(wire_api_name(WIRE_API_COUNT));
	assert_null(wire_api_name(-1));
	assert_int_equal(wire_request_header_version(-1, 0), -1);
	free(text);
}

static void test_wire_samsa_apis_flexible_from(void **state)
{
	(void)state;
	static const struct { int16_t key, from; } served[] = {
		{WIRE_API_API_VERSIONS, 3}, {WIRE_API_METADATA, 9},
		{WIRE_API_PRODUCE, 9}, {WIRE_API_FETCH, 12},
		{WIRE_API_LIST_OFFSETS, 6}, {WIRE_API_CREATE_TOPICS, 5},
		{WIRE_API_DELETE_TOPICS, 4}, {WIRE_API_CREATE_PARTITIONS, 2},
		{WIRE_API_DESCRIBE_CONFIGS, 4}, {WIRE_API_ALTER_CONFIGS, 2},
		{WIRE_API_INCREMENTAL_ALTER_CONFIGS, 1},
		{WIRE_API_OFFSET_FOR_LEADER_EPOCH, 4},
		{WIRE_API_DELETE_RECORDS, 2}, {WIRE_API_DESCRIBE_CLUSTER, 0},
		{WIRE_API_FIND_COORDINATOR, 3}, {WIRE_API_JOIN_GROUP, 6},
		{WIRE_API_SYNC_GROUP, 4}, {WIRE_API_HEARTBEAT, 4},
		{WIRE_API_LEAVE_GROUP, 4}, {WIRE_API_OFFSET_COMMIT, 8},
		{WIRE_API_OFFSET_FETCH, 6}, {WIRE_API_LIST_GROUPS, 3},
		{WIRE_API_DESCRIBE_GROUPS, 5}, {WIRE_API_DELETE_GROUPS, 2},
		{WIRE_API_INIT_PRODUCER_ID, 2}, {WIRE_API_SASL_AUTHENTICATE, 2},
	};
	for (size_t i = 0; i < KB_ARRAY_LEN(served); i++) {
		int16_t k = served[i].key, v = served[i].from;
		assert_true(wire_is_flexible(k, v));
		assert_true(v == 0 || !wire_is_flexible(k, (int16_t)(v - 1)));
	}
	for (int16_t v = 0; v < 10; v++) {
		assert_false(wire_is_flexible(WIRE_API_OFFSET_DELETE, v));
		assert_false(wire_is_flexible(WIRE_API_SASL_HANDSHAKE, v));
	}
}

/* ---- Records ---- */

static void test_wire_records_iterates_tu_batch(void **state)
{
	(void)state;
	struct tu_record in[] = {{"k0", "v0", 1000}, {NULL, "v1", 1005},
				 {"k2", NULL, 1003}, {"", "", 1010}};
	uint8_t batch[512];
	size_t len = tu_batch_build(batch, sizeof batch, 40, in, 4);
	struct wire_records it;
	struct wire_record rec;
	assert_int_equal(wire_records_init(&it, batch, len), KB_OK);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(wire_records_next(&it, &rec), KB_OK);
		assert_int_equal(rec.offset_delta, i);
		assert_int_equal(rec.offset, 40 + i);
		assert_int_equal(rec.timestamp, in[i].timestamp);
		assert_int_equal(rec.timestamp_delta, in[i].timestamp - 1000);
		assert_view(rec.key, in[i].key);
		assert_view(rec.value, in[i].value);
		assert_int_equal(rec.headers_count, 0);
	}
	assert_int_equal(wire_records_next(&it, &rec), KB_ERR_NOTFOUND);
	assert_int_equal(wire_records_validate(batch, len), KB_OK);
}

static void test_wire_records_lying_count_fails(void **state)
{
	(void)state;
	struct tu_record in[] = {{"a", "value-one", 5}, {"b", "value-two", 6},
				 {"c", "value-three", 7}};
	uint8_t batch[512];
	size_t len = tu_batch_build(batch, sizeof batch, 0, in, 3);
	struct wire_records it;
	struct wire_record rec;

	set_records_count(batch, len, 4); /* one more than there are */
	assert_int_equal(wire_records_init(&it, batch, len), KB_OK);
	for (int i = 0; i < 3; i++)
		assert_int_equal(wire_records_next(&it, &rec), KB_OK);
	assert_int_equal(wire_records_next(&it, &rec), KB_ERR_CORRUPT);
	assert_int_equal(wire_records_validate(batch, len), KB_ERR_CORRUPT);

	set_records_count(batch, len, 2); /* bytes are left after the last */
	assert_int_equal(wire_records_validate(batch, len), KB_ERR_CORRUPT);

	set_records_count(batch, len, 1000000); /* cannot fit at all */
	assert_int_equal(wire_records_init(&it, batch, len), KB_ERR_CORRUPT);
	set_records_count(batch, len, 0xffffffffu); /* negative */
	assert_int_equal(wire_records_init(&it, batch, len), KB_ERR_CORRUPT);
}

static void test_wire_records_length_past_end_fails(void **state)
{
	(void)state;
	struct tu_record in[] = {{"k", "v", 5}};
	uint8_t batch[256];
	size_t len = tu_batch_build(batch, sizeof batch, 0, in, 1);
	struct wire_records it;
	struct wire_record rec;
	assert_true(batch[61] < 0x40); /* a one-byte zigzag length */

	batch[61] = 0x7e; /* 63 bytes, far more than the batch holds */
	assert_int_equal(wire_records_init(&it, batch, len), KB_OK);
	assert_int_equal(wire_records_next(&it, &rec), KB_ERR_CORRUPT);
	assert_int_equal(wire_records_next(&it, &rec), KB_ERR_CORRUPT);

	batch[61] = 0x01; /* -1 */
	assert_int_equal(wire_records_validate(batch, len), KB_ERR_CORRUPT);

	batch[61] = 0x08; /* 4 bytes: too short for the fields inside */
	assert_int_equal(wire_records_validate(batch, len), KB_ERR_CORRUPT);
}

static void test_wire_records_rejects_bad_batches(void **state)
{
	(void)state;
	struct tu_record in[] = {{"k", "v", 5}};
	uint8_t batch[256];
	size_t len = tu_batch_build(batch, sizeof batch, 0, in, 1);
	struct wire_records it;
	assert_int_equal(wire_records_init(&it, batch, len - 1),
			 KB_ERR_CORRUPT); /* batchLength disagrees */
	assert_int_equal(wire_records_init(&it, batch, 40), KB_ERR_CORRUPT);
	batch[SEG_OFF_ATTRIBUTES + 1] = 1; /* gzip */
	assert_int_equal(wire_records_init(&it, batch, len), KB_ERR_INVAL);
}

/* ---- Checking a producer's batch (wire_records_check) ---- */

/* The batch at plain (uncompressed, len bytes) with its records area
 * gzipped into out (malloc'ed); returns the new length. */
static size_t gzip_batch(const uint8_t *plain, size_t len, uint8_t **out)
{
	uLong cap = compressBound(len) + 64;
	uint8_t *b = malloc(SEG_BATCH_HEADER_LEN + cap);
	z_stream zs = {0};
	assert_non_null(b);
	memcpy(b, plain, SEG_BATCH_HEADER_LEN);
	assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8,
				      Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = (Bytef *)(uintptr_t)(plain + SEG_BATCH_HEADER_LEN);
	zs.avail_in = (uInt)(len - SEG_BATCH_HEADER_LEN);
	zs.next_out = b + SEG_BATCH_HEADER_LEN;
	zs.avail_out = (uInt)cap;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	size_t n = SEG_BATCH_HEADER_LEN + zs.total_out;
	deflateEnd(&zs);
	tu_be(b + SEG_OFF_BATCH_LENGTH, n - SEG_LOG_OVERHEAD, 4);
	b[SEG_OFF_ATTRIBUTES + 1] |= 1; /* gzip */
	tu_be(b + SEG_OFF_CRC, tu_crc32c(b + SEG_OFF_ATTRIBUTES,
					 n - SEG_OFF_ATTRIBUTES), 4);
	*out = b;
	return n;
}

/* A batch of one record, key "k", whose value is vlen bytes 'x'
 * (malloc'ed, uncompressed); its length in *len. */
static uint8_t *big_value_batch(size_t vlen, size_t *len)
{
	struct tu_record one = {"k", "v", 5};
	uint8_t *b = malloc(SEG_BATCH_HEADER_LEN + vlen + 32);
	size_t n = SEG_BATCH_HEADER_LEN;
	uint8_t head[16];
	size_t h = 0;
	assert_non_null(b);
	tu_batch_build(b, SEG_BATCH_HEADER_LEN + vlen + 32, 0, &one, 1);
	head[h++] = 0; /* attributes */
	h += tu_varint(head + h, 0);
	h += tu_varint(head + h, 0);
	h += tu_varint(head + h, 1);
	head[h++] = 'k';
	h += tu_varint(head + h, (int64_t)vlen);
	n += tu_varint(b + n, (int64_t)(h + vlen + 1));
	memcpy(b + n, head, h);
	n += h;
	memset(b + n, 'x', vlen);
	n += vlen;
	b[n++] = 0; /* no headers */
	tu_be(b + SEG_OFF_BATCH_LENGTH, n - SEG_LOG_OVERHEAD, 4);
	*len = n;
	return b;
}

/* Interface: the records of a plain and a gzip batch are walked alike;
 * records without a key are counted. */
static void test_wire_records_check_walks_plain_and_gzip(void **state)
{
	(void)state;
	struct tu_record in[] = {{"a", "1", 5}, {NULL, "2", 6}, {"c", NULL, 7}};
	uint8_t plain[512], *gz;
	size_t len = tu_batch_build(plain, sizeof plain, 0, in, 3);
	size_t glen = gzip_batch(plain, len, &gz);
	struct wire_records_summary s;
	assert_int_equal(wire_records_check(plain, len, 0, &s), KB_OK);
	assert_int_equal(s.records, 3);
	assert_int_equal(s.null_keys, 1);
	assert_true(s.opened);
	assert_int_equal(wire_records_check(gz, glen, 1 << 20, &s), KB_OK);
	assert_int_equal(s.records, 3);
	assert_int_equal(s.null_keys, 1);
	assert_int_equal(s.inflated, len - SEG_BATCH_HEADER_LEN);
	free(gz);
}

/* Invariant 5 inside gzip: recordsCount must be the records there are;
 * a record length running past the records is a format error too. */
static void test_wire_records_check_lying_count_is_proto(void **state)
{
	(void)state;
	struct tu_record in[] = {{"a", "1", 5}, {"b", "2", 6}};
	uint8_t plain[512], *gz;
	size_t len = tu_batch_build(plain, sizeof plain, 0, in, 2), glen;
	struct wire_records_summary s;
	uint32_t counts[] = {1, 3, 1000};
	for (int i = 0; i < 3; i++) {
		set_records_count(plain, len, counts[i]);
		assert_int_equal(wire_records_check(plain, len, 0, &s), KB_ERR_PROTO);
		glen = gzip_batch(plain, len, &gz);
		assert_int_equal(wire_records_check(gz, glen, 1 << 20, &s),
				 KB_ERR_PROTO);
		free(gz);
	}
	set_records_count(plain, len, 2);
	plain[SEG_BATCH_HEADER_LEN] = 0x7e; /* 63 bytes: past the records */
	assert_int_equal(wire_records_check(plain, len, 0, &s), KB_ERR_PROTO);
	glen = gzip_batch(plain, len, &gz);
	assert_int_equal(wire_records_check(gz, glen, 1 << 20, &s), KB_ERR_PROTO);
	free(gz);
}

/* Interface: gzip bits over bytes that are not gzip, or a stream cut
 * short, are KB_ERR_CORRUPT; codec ids 5-7 KB_ERR_INVAL; snappy, lz4
 * and zstd are not opened. */
static void test_wire_records_check_codecs(void **state)
{
	(void)state;
	struct tu_record in[] = {{"a", "value", 5}};
	uint8_t plain[256], *gz;
	size_t len = tu_batch_build(plain, sizeof plain, 0, in, 1);
	size_t glen = gzip_batch(plain, len, &gz);
	struct wire_records_summary s;
	tu_be(gz + SEG_OFF_BATCH_LENGTH, glen - 4 - SEG_LOG_OVERHEAD, 4);
	assert_int_equal(wire_records_check(gz, glen - 4, 1 << 20, &s),
			 KB_ERR_CORRUPT); /* the gzip trailer is cut off */
	free(gz);
	plain[SEG_OFF_ATTRIBUTES + 1] = 1;
	assert_int_equal(wire_records_check(plain, len, 1 << 20, &s),
			 KB_ERR_CORRUPT);
	for (uint8_t codec = 2; codec <= 7; codec++) {
		plain[SEG_OFF_ATTRIBUTES + 1] = codec;
		int rc = wire_records_check(plain, len, 1 << 20, &s);
		assert_int_equal(rc, codec <= 4 ? KB_OK : KB_ERR_INVAL);
		assert_false(s.opened);
	}
}

/* Invariant 8: inflation stops at the bound, whatever the batch holds;
 * under the bound the same batch passes. */
static void test_wire_records_check_stops_inflating_at_the_bound(void **state)
{
	(void)state;
	size_t len, glen;
	uint8_t *plain = big_value_batch((size_t)4 << 20, &len), *gz;
	struct wire_records_summary s;
	assert_int_equal(wire_records_check(plain, len, 0, &s), KB_OK);
	glen = gzip_batch(plain, len, &gz);
	assert_true(glen < 64 * 1024); /* 4 MiB of 'x' gzip small: a bomb */
	assert_int_equal(wire_records_check(gz, glen, 100 * 1000, &s),
			 KB_ERR_TOO_LARGE);
	assert_true(s.inflated <= 100 * 1000 + 1);
	assert_int_equal(wire_records_check(gz, glen, (size_t)8 << 20, &s), KB_OK);
	assert_int_equal(s.records, 1);
	free(gz);
	free(plain);
}

/* Invariant 7, and the writer agrees byte for byte with the spec encoder. */
static void test_wire_batch_write_matches_spec_encoder(void **state)
{
	(void)state;
	struct tu_record in[] = {{"k0", "v0", 1000}, {NULL, "v1", 990},
				 {"k2", NULL, 1020}};
	uint8_t want[512];
	size_t want_len = tu_batch_build(want, sizeof want, 7, in, 3);

	struct wire_record recs[3];
	for (int i = 0; i < 3; i++)
		recs[i] = rec_of(in[i].key, in[i].value, in[i].timestamp);
	struct wire_batch_params bp = {7, 0, 0, -1, -1, -1};
	struct kb_buf out;
	kb_buf_init(&out);
	kb_buf_append(&out, "xy", 2); /* appends after what is there */
	assert_int_equal(wire_batch_write(&out, &bp, recs, 3), KB_OK);
	assert_int_equal(out.len, 2 + want_len);
	assert_memory_equal(out.data + 2, want, want_len);

	struct seg_batch b;
	assert_int_equal(seg_batch_validate(out.data + 2, want_len, &b, NULL),
			 KB_OK);
	assert_int_equal(b.max_timestamp, 1020);
	assert_int_equal(b.records_count, 3);
	kb_buf_fini(&out);
}

static void test_wire_batch_write_round_trips_headers(void **state)
{
	(void)state;
	/* two headers, zigzag lengths: "h"="x", "n"=null */
	static const uint8_t hdrs[] = {0x02, 'h', 0x02, 'x', 0x02, 'n', 0x01};
	struct wire_record recs[2] = {rec_of("key", "value", 100),
				      rec_of(NULL, NULL, 101)};
	recs[0].headers = (struct wire_bytes){hdrs, sizeof hdrs};
	recs[0].headers_count = 2;
	struct wire_batch_params bp = {0, 5, SEG_ATTR_TRANSACTIONAL, 9, 1, 0};
	struct kb_buf out;
	kb_buf_init(&out);
	assert_int_equal(wire_batch_write(&out, &bp, recs, 2), KB_OK);
	struct seg_batch b;
	assert_int_equal(seg_batch_validate(out.data, out.len, &b, NULL),
			 KB_OK);
	assert_int_equal(tu_crc32c(out.data + 21, out.len - 21),
			 kb_get_be32(out.data + SEG_OFF_CRC));

	struct wire_records it;
	struct wire_record rec;
	assert_int_equal(wire_records_init(&it, out.data, out.len), KB_OK);
	assert_int_equal(it.batch.producer_id, 9);
	assert_int_equal(it.batch.partition_leader_epoch, 5);
	assert_int_equal(wire_records_next(&it, &rec), KB_OK);
	assert_view(rec.key, "key");
	assert_int_equal(rec.headers_count, 2);
	struct wire_reader hr;
	struct wire_bytes k, v;
	wire_reader_init(&hr, rec.headers.p, (size_t)rec.headers.len, false);
	wire_read_record_header(&hr, &k, &v);
	assert_view(k, "h");
	assert_view(v, "x");
	wire_read_record_header(&hr, &k, &v);
	assert_view(k, "n");
	assert_view(v, NULL);
	assert_int_equal(wire_reader_status(&hr), KB_OK);
	assert_int_equal(wire_records_next(&it, &rec), KB_OK);
	assert_view(rec.key, NULL);
	assert_int_equal(rec.timestamp, 101);
	assert_int_equal(wire_records_next(&it, &rec), KB_ERR_NOTFOUND);
	kb_buf_fini(&out);
}

static void test_wire_record_header_null_key_fails(void **state)
{
	(void)state;
	struct wire_reader r;
	struct wire_bytes k, v;
	READER(&r, false, 0x01, 0x02, 'x');
	wire_read_record_header(&r, &k, &v);
	assert_int_equal(wire_reader_status(&r), KB_ERR_PROTO);
}

static void test_wire_batch_write_rejects_empty_or_compressed(void **state)
{
	(void)state;
	struct wire_record rec = rec_of("k", "v", 1);
	struct wire_batch_params bp = {0, 0, 0, -1, -1, -1};
	struct kb_buf out;
	kb_buf_init(&out);
	assert_int_equal(wire_batch_write(&out, &bp, &rec, 0), KB_ERR_INVAL);
	bp.attributes = 1; /* gzip */
	assert_int_equal(wire_batch_write(&out, &bp, &rec, 1), KB_ERR_INVAL);
	assert_int_equal(out.len, 0);
	kb_buf_fini(&out);
}

static void test_wire_records_log_append_time_uses_max_timestamp(void **state)
{
	(void)state;
	struct wire_record recs[2] = {rec_of("a", "1", 10), rec_of("b", "2", 30)};
	struct wire_batch_params bp = {0, 0, SEG_ATTR_LOG_APPEND_TIME, -1, -1,
				       -1};
	struct kb_buf out;
	kb_buf_init(&out);
	assert_int_equal(wire_batch_write(&out, &bp, recs, 2), KB_OK);
	struct wire_records it;
	struct wire_record rec;
	assert_int_equal(wire_records_init(&it, out.data, out.len), KB_OK);
	assert_int_equal(wire_records_next(&it, &rec), KB_OK);
	assert_int_equal(rec.timestamp, 30);
	kb_buf_fini(&out);
}

/* ---- Writer errors and views ---- */

static void test_wire_writer_error_is_sticky(void **state)
{
	(void)state;
	char *big = malloc(WIRE_STRING_MAX + 2);
	memset(big, 'a', WIRE_STRING_MAX + 1);
	big[WIRE_STRING_MAX + 1] = '\0';
	struct kb_buf b;
	struct wire_writer w;
	kb_buf_init(&b);
	wire_writer_init(&w, &b, false);
	wire_write_i8(&w, 1);
	wire_write_string(&w, wire_str_c(big));
	wire_write_i32(&w, 2);
	assert_int_equal(wire_writer_status(&w), KB_ERR_TOO_LARGE);
	assert_int_equal(b.len, 1);
	kb_buf_fini(&b);
	free(big);
}

static void test_wire_str_views_and_copies(void **state)
{
	(void)state;
	struct wire_reader r;
	READER(&r, false, 0x00, 0x02, 'h', 'i');
	struct wire_str s = wire_read_string(&r);
	assert_ptr_equal(s.p, (const char *)r.p + 2);
	char *copy;
	assert_int_equal(wire_str_dup(s, &copy), KB_OK);
	assert_string_equal(copy, "hi");
	free(copy);
	assert_int_equal(wire_str_dup(wire_str_c(NULL), &copy), KB_OK);
	assert_null(copy);
	assert_false(wire_str_eq(wire_str_c(NULL), ""));
	assert_false(wire_str_eq(s, "h"));
}

/* ---- Tables ---- */

static void test_wire_error_names_follow_errors_java(void **state)
{
	(void)state;
	assert_string_equal(wire_error_name(35), "UNSUPPORTED_VERSION");
	assert_string_equal(wire_error_name(-1), "UNKNOWN_SERVER_ERROR");
	assert_string_equal(wire_error_name(0), "NONE");
	assert_string_equal(wire_error_name(6), "NOT_LEADER_OR_FOLLOWER");
	assert_string_equal(wire_error_name(79), "MEMBER_ID_REQUIRED");
	assert_string_equal(wire_error_name(82), "FENCED_INSTANCE_ID");
	assert_string_equal(wire_error_name(87), "INVALID_RECORD");
	assert_string_equal(wire_error_name(119), "INVALID_REGISTRATION");
	assert_string_equal(wire_error_name(127), "VOTER_NOT_FOUND");
	assert_null(wire_error_name(128));
	assert_null(wire_error_name(-2));
	for (int code = -1; code <= 127; code++)
		assert_non_null(wire_error_name((int16_t)code));
	assert_int_equal(KAFKA_ERR_OFFSET_OUT_OF_RANGE, 1);
	assert_int_equal(KAFKA_ERR_CORRUPT_MESSAGE, 2);
	assert_int_equal(KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION, 3);
	assert_int_equal(KAFKA_ERR_MESSAGE_TOO_LARGE, 10);
	assert_int_equal(KAFKA_ERR_NOT_COORDINATOR, 16);
	assert_int_equal(KAFKA_ERR_INVALID_REQUIRED_ACKS, 21);
	assert_int_equal(KAFKA_ERR_REBALANCE_IN_PROGRESS, 27);
	assert_int_equal(KAFKA_ERR_TOPIC_ALREADY_EXISTS, 36);
	assert_int_equal(KAFKA_ERR_INVALID_REQUEST, 42);
	assert_int_equal(KAFKA_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT, 43);
	assert_int_equal(KAFKA_ERR_DUPLICATE_SEQUENCE_NUMBER, 46);
	assert_int_equal(KAFKA_ERR_UNKNOWN_PRODUCER_ID, 59);
	assert_int_equal(KAFKA_ERR_TRANSACTION_ABORTABLE, 120);
}

int main(void)
{
	tu_log_quiet(); /* a passing run prints no log lines */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wire_read_fixed_width_is_big_endian),
		cmocka_unit_test(test_wire_write_fixed_width_is_big_endian),
		cmocka_unit_test(test_wire_uuid_is_sixteen_raw_bytes),
		cmocka_unit_test(test_wire_uvarint_encodes_seven_bits_per_byte),
		cmocka_unit_test(test_wire_varint_is_zigzag),
		cmocka_unit_test(test_wire_varlong_is_zigzag),
		cmocka_unit_test(test_wire_string_classic_has_int16_length),
		cmocka_unit_test(test_wire_string_compact_has_uvarint_length_plus_one),
		cmocka_unit_test(test_wire_bytes_classic_and_compact),
		cmocka_unit_test(test_wire_array_len_classic_and_compact),
		cmocka_unit_test(test_wire_tags_written_empty_only_when_flexible),
		cmocka_unit_test(test_wire_read_tags_skips_unknown_fields),
		cmocka_unit_test(test_wire_array_end_patches_or_inserts_count),
		cmocka_unit_test(test_wire_patch_size_counts_bytes_after_prefix),
		cmocka_unit_test(test_wire_read_past_end_is_sticky_error),
		cmocka_unit_test(test_wire_length_past_end_fails),
		cmocka_unit_test(test_wire_negative_length_other_than_null_fails),
		cmocka_unit_test(test_wire_compact_string_over_int16_max_fails),
		cmocka_unit_test(test_wire_array_count_beyond_bytes_left_fails),
		cmocka_unit_test(test_wire_varint_overflow_fails),
		cmocka_unit_test(test_wire_tag_section_past_end_fails),
		cmocka_unit_test(test_wire_request_header_v2_kcat_apiversions),
		cmocka_unit_test(test_wire_request_header_v1_kcat_metadata),
		cmocka_unit_test(test_wire_request_header_null_client_id),
		cmocka_unit_test(test_wire_request_header_truncated_fails),
		cmocka_unit_test(test_wire_request_header_unknown_api_key_fails),
		cmocka_unit_test(test_wire_write_request_header_matches_kcat),
		cmocka_unit_test(test_wire_response_header_v0_and_v1),
		cmocka_unit_test(test_wire_header_versions_follow_flexible_versions),
		cmocka_unit_test(test_wire_samsa_apis_flexible_from),
		cmocka_unit_test(test_wire_records_iterates_tu_batch),
		cmocka_unit_test(test_wire_records_lying_count_fails),
		cmocka_unit_test(test_wire_records_length_past_end_fails),
		cmocka_unit_test(test_wire_records_rejects_bad_batches),
		cmocka_unit_test(test_wire_batch_write_matches_spec_encoder),
		cmocka_unit_test(test_wire_batch_write_round_trips_headers),
		cmocka_unit_test(test_wire_record_header_null_key_fails),
		cmocka_unit_test(test_wire_batch_write_rejects_empty_or_compressed),
		cmocka_unit_test(test_wire_records_log_append_time_uses_max_timestamp),
		cmocka_unit_test(test_wire_records_check_walks_plain_and_gzip),
		cmocka_unit_test(test_wire_records_check_lying_count_is_proto),
		cmocka_unit_test(test_wire_records_check_codecs),
		cmocka_unit_test(test_wire_records_check_stops_inflating_at_the_bound),
		cmocka_unit_test(test_wire_writer_error_is_sticky),
		cmocka_unit_test(test_wire_str_views_and_copies),
		cmocka_unit_test(test_wire_error_names_follow_errors_java),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
