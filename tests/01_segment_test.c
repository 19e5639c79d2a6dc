/* SPDX-License-Identifier: MIT */
/*
 * Tests for chapter 01 — segment. Batches come from tu_batch_build (written
 * from the spec, with its own bit-wise CRC), never from samsa's code, so the
 * bytes on disk are checked against Kafka's layout, not against themselves.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/resource.h>

#include "testutil.h"
#include "01_segment.h"

#define BATCH_CAP 8192

/* ---- Helpers ---- */

/* Call-site shorthands for the small structs chapter 01 takes by value. */
#define INCOMING(bytes, ts) ((struct seg_incoming){(bytes), (ts)})
#define SEG_FILE(dir, base, suffix) ((struct seg_file){(dir), (base), (suffix)})

/* A spec-built batch of n records at base: timestamps ts, ts+1, ...,
 * alternating null and non-null keys. Returns its length. */
static size_t build(uint8_t *buf, int64_t base, int n, int64_t ts)
{
	struct tu_record recs[32];
	char vals[32][48];
	assert_true(n >= 1 && n <= 32);
	for (int i = 0; i < n; i++) {
		snprintf(vals[i], sizeof vals[i], "value-%d-of-batch-%" PRId64, i, base);
		recs[i] = (struct tu_record){i % 2 ? "key" : NULL, vals[i], ts + i};
	}
	return tu_batch_build(buf, BATCH_CAP, base, recs, n);
}

/* Where the segment file for base lives in dir (a static buffer). */
static const char *file_of(const char *dir, int64_t base)
{
	static char path[4096];
	assert_int_equal(seg_file_name(path, sizeof path, SEG_FILE(dir, base, ".log")),
			 KB_OK);
	return path;
}

static struct segment *open_new(const char *dir, int64_t base)
{
	struct segment *seg = NULL;
	assert_int_equal(seg_open(dir, base, true, &seg), KB_OK);
	return seg;
}

/* Reopen an existing file and recover it from the start. */
static struct segment *reopen(const char *dir, int64_t base,
			      struct seg_recovery *rep)
{
	struct segment *seg = NULL;
	assert_int_equal(seg_open(dir, base, false, &seg), KB_OK);
	assert_int_equal(seg_recover(seg, 0, rep), KB_OK);
	return seg;
}

/* Three batches laid end to end: offsets 0-2, 3-6, 7-8. */
struct three {
	uint8_t bytes[3 * BATCH_CAP];
	size_t len;       /* of all three */
	size_t pos[4];    /* pos[i] = start of batch i; pos[3] = len */
	int64_t next[3];  /* next offset after batch i */
};

static void build_three(struct three *t)
{
	static const int counts[3] = {3, 4, 2};
	int64_t base = 0;
	t->len = 0;
	for (int i = 0; i < 3; i++) {
		t->pos[i] = t->len;
		t->len += build(t->bytes + t->len, base, counts[i], 1000 * (i + 1));
		base += counts[i];
		t->next[i] = base;
	}
	t->pos[3] = t->len;
}

/* Xorshift64: deterministic random bytes for a seed. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd(&s);
}

/* The WARN line seg_recover must log for a cut, as a user reads it. */
static void assert_logged_cut(const struct tu_log_capture *c, const char *dir,
			      uint64_t cut, uint64_t pos, int64_t next,
			      const char *why)
{
	char want[4600];
	snprintf(want, sizeof want,
		 "segment %s: truncated %" PRIu64 " bytes at position %" PRIu64
		 " (next offset %" PRId64 "): %s",
		 file_of(dir, 0), cut, pos, next, why);
	if (!strstr(c->text, want))
		fail_msg("log lacks \"%s\"; it has:\n%s", want, c->text);
}

/* Write bytes as the segment file for base 0, recover, check what stayed. */
static void assert_recovers_to(const char *dir, const uint8_t *bytes,
			       size_t len, size_t keep, int64_t next,
			       const char *why)
{
	struct tu_log_capture cap;
	struct seg_recovery rep;
	tu_write_all(file_of(dir, 0), bytes, len);
	tu_log_capture_start(&cap);
	struct segment *seg = reopen(dir, 0, &rep);
	tu_log_capture_stop();
	assert_int_equal(rep.valid_bytes, keep);
	assert_int_equal(rep.truncated_bytes, len - keep);
	assert_int_equal(seg->size, keep);
	assert_int_equal(seg->next_offset, next);
	assert_int_equal(tu_file_size(file_of(dir, 0)), (long)keep);
	assert_int_equal(seg->dirty, keep != len); /* the cut needs a flush */
	if (why) {
		assert_non_null(rep.reason);
		assert_string_equal(rep.reason, why);
		assert_logged_cut(&cap, dir, len - keep, keep, next, why);
	}
	seg_close(seg);
}

/* ---- CRC-32C ---- */

static void test_seg_crc32c_check_value(void **state)
{
	(void)state;
	/* The catalogue check value of CRC-32C (iSCSI, RFC 3720). */
	assert_int_equal(seg_crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(seg_crc32c_table(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(seg_crc32c(0, "", 0), 0);
}

static void test_seg_crc32c_matches_spec_crc_on_random_buffers(void **state)
{
	(void)state;
	static uint8_t buf[70000];
	fill_random(buf, sizeof buf, 7);
	uint64_t s = 99;
	for (size_t i = 0; i < 1200; i++) {
		size_t len = i < 600 ? i : (size_t)(rnd(&s) % 65536);
		size_t align = i % 16;
		uint32_t want = tu_crc32c(buf + align, len);
		assert_int_equal(seg_crc32c(0, buf + align, len), want);
		assert_int_equal(seg_crc32c_table(0, buf + align, len), want);
	}
}

static void test_seg_crc32c_continues_from_crc(void **state)
{
	(void)state;
	uint8_t buf[4096];
	fill_random(buf, sizeof buf, 3);
	uint32_t whole = tu_crc32c(buf, sizeof buf);
	for (size_t cut = 0; cut <= sizeof buf; cut += 97) {
		uint32_t a = seg_crc32c(0, buf, cut);
		assert_int_equal(seg_crc32c(a, buf + cut, sizeof buf - cut), whole);
		uint32_t t = seg_crc32c_table(0, buf, cut);
		assert_int_equal(seg_crc32c_table(t, buf + cut, sizeof buf - cut),
				 whole);
	}
}

static void test_seg_crc32c_uses_sse42_when_the_cpu_has_it(void **state)
{
	(void)state;
#if defined(__x86_64__)
	__builtin_cpu_init();
	const char *want = __builtin_cpu_supports("sse4.2") ? "sse4.2" : "table";
#else
	const char *want = "table";
#endif
	assert_string_equal(seg_crc32c_impl(), want);
}

/* ---- Record batches ---- */

static void test_seg_batch_decode_reads_spec_fields(void **state)
{
	(void)state;
	uint8_t buf[BATCH_CAP];
	struct tu_record recs[3] = {
		{"a", "x", 1000}, {NULL, "y", 1005}, {"c", NULL, 1002}};
	size_t len = tu_batch_build(buf, sizeof buf, 1234, recs, 3);
	struct seg_batch b;
	assert_int_equal(seg_batch_decode(buf, len, &b), KB_OK);
	assert_int_equal(b.base_offset, 1234);
	assert_int_equal(b.batch_length, len - 12);
	assert_int_equal(b.partition_leader_epoch, 0);
	assert_int_equal(b.magic, 2);
	assert_int_equal(b.crc, tu_crc32c(buf + 21, len - 21));
	assert_int_equal(b.attributes, 0);
	assert_int_equal(b.last_offset_delta, 2);
	assert_int_equal(b.base_timestamp, 1000);
	assert_int_equal(b.max_timestamp, 1005);
	assert_int_equal(b.producer_id, -1);
	assert_int_equal(b.producer_epoch, -1);
	assert_int_equal(b.base_sequence, -1);
	assert_int_equal(b.records_count, 3);
	assert_int_equal(seg_batch_last_offset(&b), 1236);
	assert_int_equal(seg_batch_size(&b), len);
}

static void test_seg_batch_decode_rejects_impossible_headers(void **state)
{
	(void)state;
	uint8_t good[BATCH_CAP];
	size_t len = build(good, 0, 2, 1);
	struct seg_batch b;
	/* Exactly-sized heap copies, so ASan sees any read past the end. */
	uint8_t *p = malloc(SEG_BATCH_HEADER_LEN - 1);
	memcpy(p, good, SEG_BATCH_HEADER_LEN - 1);
	assert_int_equal(seg_batch_decode(p, SEG_BATCH_HEADER_LEN - 1, &b),
			 KB_ERR_CORRUPT);
	free(p);
	p = malloc(len);
	memcpy(p, good, len);
	p[SEG_OFF_MAGIC] = 1;
	assert_int_equal(seg_batch_decode(p, len, &b), KB_ERR_CORRUPT);
	p[SEG_OFF_MAGIC] = 2;
	kb_put_be32(p + SEG_OFF_BATCH_LENGTH, SEG_MIN_BATCH_LENGTH - 1);
	assert_int_equal(seg_batch_decode(p, len, &b), KB_ERR_CORRUPT);
	kb_put_be32(p + SEG_OFF_BATCH_LENGTH, 0x80000000u);
	assert_int_equal(seg_batch_decode(p, len, &b), KB_ERR_CORRUPT);
	kb_put_be32(p + SEG_OFF_BATCH_LENGTH, SEG_MIN_BATCH_LENGTH);
	assert_int_equal(seg_batch_decode(p, len, &b), KB_OK);
	free(p);
}

static void test_seg_batch_validate_accepts_spec_batch(void **state)
{
	(void)state;
	uint8_t buf[BATCH_CAP];
	size_t len = build(buf, 0, 5, 1700000000000);
	struct seg_batch b;
	const char *why = "unset";
	assert_int_equal(seg_batch_validate(buf, len, &b, &why), KB_OK);
	assert_null(why);
	assert_int_equal(b.records_count, 5);
	assert_int_equal(seg_batch_validate(buf, len, &b, NULL), KB_OK);
}

static void test_seg_batch_validate_names_the_broken_rule(void **state)
{
	(void)state;
	uint8_t buf[BATCH_CAP + 1];
	size_t len = build(buf, 0, 3, 1);
	struct seg_batch b;
	const char *why;
	assert_int_equal(seg_batch_validate(buf, len + 1, &b, &why), KB_ERR_CORRUPT);
	assert_string_equal(why, "batch length does not match the bytes");
	assert_int_equal(seg_batch_validate(buf, len - 1, &b, &why), KB_ERR_CORRUPT);
	assert_string_equal(why, "batch length does not match the bytes");

	buf[len - 1] ^= 0x01;
	assert_int_equal(seg_batch_validate(buf, len, &b, &why), KB_ERR_CORRUPT);
	assert_string_equal(why, "bad CRC");
	buf[len - 1] ^= 0x01;

	buf[SEG_OFF_MAGIC] = 0;
	assert_int_equal(seg_batch_validate(buf, len, &b, &why), KB_ERR_CORRUPT);
	assert_string_equal(why, "wrong magic");
	buf[SEG_OFF_MAGIC] = 2;

	/* A CRC-correct batch with lastOffsetDelta -1 is still refused. */
	kb_put_be32(buf + SEG_OFF_LAST_OFFSET_DELTA, 0xFFFFFFFFu);
	kb_put_be32(buf + SEG_OFF_CRC, tu_crc32c(buf + 21, len - 21));
	assert_int_equal(seg_batch_validate(buf, len, &b, &why), KB_ERR_CORRUPT);
	assert_string_equal(why, "negative last offset delta");
}

static void test_seg_batch_set_base_offset_keeps_crc_valid(void **state)
{
	(void)state;
	uint8_t buf[BATCH_CAP], orig[BATCH_CAP];
	size_t len = build(buf, 0, 4, 5);
	memcpy(orig, buf, len);
	seg_batch_set_base_offset(buf, 0x0102030405060708);
	seg_batch_set_leader_epoch(buf, 77);
	struct seg_batch b;
	assert_int_equal(seg_batch_validate(buf, len, &b, NULL), KB_OK);
	assert_int_equal(b.base_offset, 0x0102030405060708);
	assert_int_equal(b.partition_leader_epoch, 77);
	static const uint8_t want[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	assert_memory_equal(buf, want, 8);
	/* Only bytes 0..8 and 12..16 changed. */
	assert_memory_equal(buf + 8, orig + 8, 4);
	assert_memory_equal(buf + 16, orig + 16, len - 16);
}

/* ---- File names ---- */

static void test_seg_file_name_is_20_digits(void **state)
{
	(void)state;
	char out[64];
	assert_int_equal(seg_file_name(out, sizeof out,
				       SEG_FILE("/d", 0, ".log")),
			 KB_OK);
	assert_string_equal(out, "/d/00000000000000000000.log");
	assert_int_equal(
		seg_file_name(out, sizeof out,
			      SEG_FILE("/d", 1234567, ".index")),
		KB_OK);
	assert_string_equal(out, "/d/00000000000001234567.index");
	assert_int_equal(seg_file_name(out, sizeof out, SEG_FILE("d", INT64_MAX, ".log")), KB_OK);
	assert_string_equal(out, "d/09223372036854775807.log");
	assert_int_equal(seg_file_name(out, 27, SEG_FILE("/d", 0, ".log")), KB_ERR_INVAL);
	assert_int_equal(seg_file_name(out, 28, SEG_FILE("/d", 0, ".log")), KB_OK);
	assert_int_equal(seg_file_name(out, sizeof out, SEG_FILE("/d", -1, ".log")), KB_ERR_INVAL);
}

static void test_seg_parse_file_name(void **state)
{
	(void)state;
	int64_t base = -1;
	assert_int_equal(seg_parse_file_name("00000000000000000042.log", ".log", &base), KB_OK);
	assert_int_equal(base, 42);
	assert_int_equal(seg_parse_file_name("09223372036854775807.timeindex",
					     ".timeindex", &base), KB_OK);
	assert_int_equal(base, INT64_MAX);
	assert_int_equal(seg_parse_file_name("00000000000000000042.index", ".log", &base),
			 KB_ERR_INVAL);
	assert_int_equal(seg_parse_file_name("0000000000000000042.log", ".log", &base),
			 KB_ERR_INVAL);
	assert_int_equal(seg_parse_file_name("0000000000000000004x.log", ".log", &base),
			 KB_ERR_INVAL);
	assert_int_equal(seg_parse_file_name("99999999999999999999.log", ".log", &base),
			 KB_ERR_INVAL);
	assert_int_equal(seg_parse_file_name("00000000000000000042.log.deleted", ".log",
					     &base), KB_ERR_INVAL);
}

/* ---- Lifecycle ---- */

static void test_seg_open_creates_empty_file_named_by_base_offset(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg = open_new(dir, 0);
	char want[4096];
	snprintf(want, sizeof want, "%s/00000000000000000000.log", dir);
	assert_string_equal(seg->path, want);
	assert_int_equal(tu_file_size(want), 0);
	assert_int_equal(seg->size, 0);
	assert_int_equal(seg->next_offset, 0);
	assert_int_equal(seg->max_timestamp, -1);
	assert_int_equal(seg->offset_of_max_timestamp, -1);
	assert_int_equal(seg->first_batch_timestamp, -1);
	assert_false(seg->dirty);
	seg_close(seg);

	seg = open_new(dir, 42);
	snprintf(want, sizeof want, "%s/00000000000000000042.log", dir);
	assert_string_equal(seg->path, want);
	assert_int_equal(seg->next_offset, 42);
	seg_close(seg);
	tu_rmrf(dir);
}

static void test_seg_open_missing_without_create_is_notfound(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg = NULL;
	assert_int_equal(seg_open(dir, 0, false, &seg), KB_ERR_NOTFOUND);
	assert_null(seg);
	assert_int_equal(tu_file_size(file_of(dir, 0)), -1);
	assert_int_equal(seg_open(dir, -5, true, &seg), KB_ERR_INVAL);
	tu_rmrf(dir);
}

static void test_seg_open_does_not_scan(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct three t;
	build_three(&t);
	tu_write_all(file_of(dir, 0), t.bytes, t.len);
	struct segment *seg = NULL;
	assert_int_equal(seg_open(dir, 0, false, &seg), KB_OK);
	assert_int_equal(seg->size, t.len);
	assert_int_equal(seg->next_offset, 0);
	assert_int_equal(seg->max_timestamp, -1);
	/* seg_recover is what learns the offsets. */
	assert_int_equal(seg_recover(seg, 0, NULL), KB_OK);
	assert_int_equal(seg->next_offset, t.next[2]);
	seg_close(seg);
	tu_rmrf(dir);
}

/* ---- Appending ---- */

static void test_seg_append_writes_spec_bytes_unchanged(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg = open_new(dir, 0);
	static uint8_t all[8 * BATCH_CAP];
	size_t total = 0;
	int64_t base = 0;
	for (int i = 0; i < 8; i++) {
		int n = 1 + i * 3;
		size_t len = build(all + total, base, n, 1700000000000 + i);
		struct seg_batch b;
		assert_int_equal(seg_batch_validate(all + total, len, &b, NULL), KB_OK);
		assert_int_equal(seg_append(seg, all + total, len), KB_OK);
		total += len;
		base += n;
	}
	assert_int_equal(seg->size, total);
	seg_close(seg);

	char want[4096];
	snprintf(want, sizeof want, "%s/00000000000000000000.log", dir);
	size_t got_len;
	uint8_t *got = tu_read_all(want, &got_len);
	assert_non_null(got);
	assert_int_equal(got_len, total);
	assert_memory_equal(got, all, total);
	free(got);
	tu_rmrf(dir);
}

static void test_seg_append_updates_offsets_and_timestamps(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg = open_new(dir, 100);
	uint8_t buf[BATCH_CAP];
	size_t len = build(buf, 100, 3, 5000); /* offsets 100-102, max ts 5002 */
	assert_int_equal(seg_append(seg, buf, len), KB_OK);
	assert_int_equal(seg->next_offset, 103);
	assert_int_equal(seg->max_timestamp, 5002);
	assert_int_equal(seg->offset_of_max_timestamp, 102);
	assert_int_equal(seg->first_batch_timestamp, 5002);
	/* Offsets may jump (a compacted or follower log), never go back. */
	len = build(buf, 110, 2, 4000);
	assert_int_equal(seg_append(seg, buf, len), KB_OK);
	assert_int_equal(seg->next_offset, 112);
	assert_int_equal(seg->max_timestamp, 5002);
	assert_int_equal(seg->first_batch_timestamp, 5002);
	seg_close(seg);
	tu_rmrf(dir);
}

static void test_seg_append_max_timestamp_strictly_greater_replaces(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg = open_new(dir, 0);
	uint8_t buf[BATCH_CAP];
	/* Batches' max timestamps: 100, 200, 200 (a tie), 150. */
	static const int64_t max_ts[4] = {100, 200, 200, 150};
	int64_t base = 0;
	for (int i = 0; i < 4; i++) {
		size_t len = build(buf, base, 2, max_ts[i] - 1);
		assert_int_equal(seg_append(seg, buf, len), KB_OK);
		base += 2;
	}
	assert_int_equal(seg->max_timestamp, 200);
	assert_int_equal(seg->offset_of_max_timestamp, 3); /* 2nd batch's last */
	assert_int_equal(seg->first_batch_timestamp, 100);
	seg_close(seg);
	tu_rmrf(dir);
}

static void test_seg_append_refuses_offsets_that_do_not_grow(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg = open_new(dir, 10);
	uint8_t buf[BATCH_CAP];
	size_t len = build(buf, 9, 2, 1); /* below the segment's base */
	assert_int_equal(seg_append(seg, buf, len), KB_ERR_INVAL);
	len = build(buf, 10, 5, 1);
	assert_int_equal(seg_append(seg, buf, len), KB_OK);
	/* Same base again, and one that overlaps the last batch: refused. */
	assert_int_equal(seg_append(seg, buf, len), KB_ERR_INVAL);
	len = build(buf, 14, 2, 1);
	assert_int_equal(seg_append(seg, buf, len), KB_ERR_INVAL);
	assert_int_equal(seg->next_offset, 15);
	assert_int_equal(tu_file_size(file_of(dir, 10)), (long)seg->size);
	len = build(buf, 15, 1, 1);
	assert_int_equal(seg_append(seg, buf, len), KB_OK);
	seg_close(seg);
	tu_rmrf(dir);
}

static void test_seg_append_refuses_offsets_beyond_int32_of_base(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg = open_new(dir, 1000);
	uint8_t buf[BATCH_CAP];
	/* Last offset base + INT32_MAX fits; one more does not. */
	assert_false(seg_offset_fits(seg, 1000 + (int64_t)INT32_MAX + 1));
	assert_true(seg_offset_fits(seg, 1000 + (int64_t)INT32_MAX));
	size_t len = build(buf, 1000 + (int64_t)INT32_MAX, 2, 1);
	assert_int_equal(seg_append(seg, buf, len), KB_ERR_INVAL);
	assert_int_equal(seg->size, 0);
	len = build(buf, 1000 + (int64_t)INT32_MAX - 1, 2, 1);
	assert_int_equal(seg_append(seg, buf, len), KB_OK);
	assert_int_equal(seg->next_offset, 1000 + (int64_t)INT32_MAX + 1);
	seg_close(seg);
	tu_rmrf(dir);
}

static void test_seg_append_refuses_header_that_disagrees_with_len(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg = open_new(dir, 0);
	uint8_t buf[BATCH_CAP];
	size_t len = build(buf, 0, 3, 1);
	assert_int_equal(seg_append(seg, buf, len - 1), KB_ERR_INVAL);
	assert_int_equal(seg_append(seg, buf, len + 1), KB_ERR_INVAL);
	assert_int_equal(seg_append(seg, buf, 20), KB_ERR_INVAL);
	buf[SEG_OFF_MAGIC] = 1;
	assert_int_equal(seg_append(seg, buf, len), KB_ERR_INVAL);
	assert_int_equal(seg->size, 0);
	assert_int_equal(tu_file_size(file_of(dir, 0)), 0);
	seg_close(seg);
	tu_rmrf(dir);
}

static void test_seg_append_failed_write_leaves_no_half_batch(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg = open_new(dir, 0);
	uint8_t buf[BATCH_CAP];
	size_t len = build(buf, 0, 3, 1);
	assert_int_equal(seg_append(seg, buf, len), KB_OK);
	size_t len2 = build(buf, 3, 20, 1);

	/* The file size limit lets half the batch in, then fails (EFBIG). */
	struct rlimit old, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = (struct rlimit){(rlim_t)(len + len2 / 2), old.rlim_max};
	void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
	struct tu_log_capture cap;
	tu_log_capture_start(&cap);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	int rc = seg_append(seg, buf, len2);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	tu_log_capture_stop();
	signal(SIGXFSZ, prev);

	assert_int_equal(rc, KB_ERR_IO);
	assert_non_null(strstr(cap.text, "write"));
	assert_int_equal(tu_file_size(file_of(dir, 0)), (long)len);
	assert_int_equal(seg->size, len);
	assert_int_equal(seg->next_offset, 3);
	assert_int_equal(seg_append(seg, buf, len2), KB_OK);
	assert_int_equal(tu_file_size(file_of(dir, 0)), (long)(len + len2));
	seg_close(seg);
	tu_rmrf(dir);
}

/* ---- Reading ---- */

static void test_seg_read_stops_at_size(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg = open_new(dir, 0);
	uint8_t buf[BATCH_CAP], got[2 * BATCH_CAP];
	size_t len = build(buf, 0, 3, 1);
	assert_int_equal(seg_append(seg, buf, len), KB_OK);
	size_t n = 0;
	assert_int_equal(seg_read(seg, 0, got, sizeof got, &n), KB_OK);
	assert_int_equal(n, len);
	assert_memory_equal(got, buf, len);
	assert_int_equal(seg_read(seg, 10, got, 5, &n), KB_OK);
	assert_int_equal(n, 5);
	assert_memory_equal(got, buf + 10, 5);
	assert_int_equal(seg_read(seg, len, got, 5, &n), KB_OK);
	assert_int_equal(n, 0);
	assert_int_equal(seg_read(seg, len + 1, got, 5, &n), KB_ERR_RANGE);
	seg_close(seg);
	tu_rmrf(dir);
}

static void test_seg_read_batch_decodes_each_batch(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct three t;
	build_three(&t);
	tu_write_all(file_of(dir, 0), t.bytes, t.len);
	struct segment *seg = reopen(dir, 0, NULL);
	struct seg_batch b;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(seg_read_batch(seg, t.pos[i], &b), KB_OK);
		assert_int_equal(seg_batch_last_offset(&b), t.next[i] - 1);
		assert_int_equal(seg_batch_size(&b), t.pos[i + 1] - t.pos[i]);
	}
	assert_int_equal(seg_read_batch(seg, t.len, &b), KB_ERR_RANGE);
	seg_close(seg);
	tu_rmrf(dir);
}

static void test_seg_read_batch_is_corrupt_when_past_size(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct three t;
	build_three(&t);
	/* Not recovered: the last batch is half there. */
	tu_write_all(file_of(dir, 0), t.bytes, t.pos[2] + 70);
	struct segment *seg = NULL;
	assert_int_equal(seg_open(dir, 0, false, &seg), KB_OK);
	struct seg_batch b;
	assert_int_equal(seg_read_batch(seg, t.pos[1], &b), KB_OK);
	assert_int_equal(seg_read_batch(seg, t.pos[2], &b), KB_ERR_CORRUPT);
	assert_int_equal(seg_read_batch(seg, t.pos[2] + 30, &b), KB_ERR_CORRUPT);
	seg_close(seg);
	tu_rmrf(dir);
}

static void test_seg_find_offset(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg = open_new(dir, 0);
	uint8_t buf[BATCH_CAP];
	uint64_t pos[3];
	static const int64_t bases[3] = {0, 5, 20}; /* 0-4, 5-9, 20-22 */
	static const int counts[3] = {5, 5, 3};
	for (int i = 0; i < 3; i++) {
		pos[i] = seg->size;
		size_t len = build(buf, bases[i], counts[i], 1);
		assert_int_equal(seg_append(seg, buf, len), KB_OK);
	}
	static const struct { int64_t offset; int batch; } cases[] = {
		{0, 0}, {4, 0}, {5, 1}, {7, 1}, {10, 2}, {19, 2}, {22, 2}};
	for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
		uint64_t p = 0;
		struct seg_batch b;
		assert_int_equal(seg_find_offset(seg, cases[i].offset, &p, &b), KB_OK);
		assert_int_equal(p, pos[cases[i].batch]);
		assert_int_equal(b.base_offset, bases[cases[i].batch]);
	}
	uint64_t p = 0;
	struct seg_batch b;
	assert_int_equal(seg_find_offset(seg, 23, &p, &b), KB_ERR_NOTFOUND);
	assert_int_equal(p, 0); /* untouched when nothing is found */
	/* The walk starts where it is told (an index entry) and goes forward. */
	p = pos[1];
	assert_int_equal(seg_find_offset(seg, 0, &p, &b), KB_OK);
	assert_int_equal(p, pos[1]);
	p = seg->size;
	assert_int_equal(seg_find_offset(seg, 0, &p, &b), KB_ERR_NOTFOUND);
	p = seg->size + 1;
	assert_int_equal(seg_find_offset(seg, 0, &p, &b), KB_ERR_RANGE);
	seg_close(seg);
	tu_rmrf(dir);
}

/* ---- Scanning headers through a buffer ---- */

/* Append n batches of count records with value_len-byte values each to
 * seg, offsets consecutive from seg->next_offset. */
static void append_simple(struct segment *seg, int n, int count,
			  size_t value_len)
{
	static uint8_t buf[1 << 18];
	for (int i = 0; i < n; i++) {
		size_t len = tu_batch_simple(buf, sizeof buf, count, 1000 + i,
					     value_len);
		seg_batch_set_base_offset(buf, seg->next_offset);
		assert_int_equal(seg_append(seg, buf, len), KB_OK);
	}
}

/* The contract of seg_scan_batch is seg_read_batch's: at EVERY byte
 * position of a file whose last batch is torn (boundaries, the middle of
 * batches, the torn tail, size, past size), walking forwards and then
 * backwards through one scan, both give the same status and header. */
static void test_seg_scan_batch_same_results_as_seg_read_batch(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg = open_new(dir, 0);
	append_simple(seg, 60, 2, 40);
	uint64_t whole = seg->size;
	append_simple(seg, 1, 2, 40);
	seg_close(seg);
	assert_int_equal(truncate(file_of(dir, 0), (off_t)whole + 70), 0);
	assert_int_equal(seg_open(dir, 0, false, &seg), KB_OK); /* no recovery */
	struct seg_scan scan;
	seg_scan_init(&scan, seg);
	for (int dir_pass = 0; dir_pass < 2; dir_pass++) {
		for (uint64_t i = 0; i <= seg->size + 1; i++) {
			uint64_t pos = dir_pass == 0 ? i : seg->size + 1 - i;
			struct seg_batch want, got;
			memset(&want, 0, sizeof want);
			memset(&got, 0, sizeof got);
			int rc_want = seg_read_batch(seg, pos, &want);
			assert_int_equal(seg_scan_batch(&scan, pos, &got), rc_want);
			if (rc_want == KB_OK)
				assert_memory_equal(&got, &want, sizeof got);
		}
	}
	/* The boundaries decode, the torn batch does not. */
	struct seg_batch b;
	assert_int_equal(seg_scan_batch(&scan, 0, &b), KB_OK);
	assert_int_equal(seg_scan_batch(&scan, whole, &b), KB_ERR_CORRUPT);
	assert_int_equal(seg_scan_batch(&scan, seg->size, &b), KB_ERR_RANGE);
	seg_close(seg);
	tu_rmrf(dir);
}

/* Batches smaller than a page: one pread brings the headers of many (the
 * first read of a scan brings one header only). */
static void test_seg_scan_batch_reads_a_page_for_small_batches(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg = open_new(dir, 0);
	append_simple(seg, 500, 1, 60);
	struct seg_scan scan;
	struct seg_batch b;
	seg_scan_init(&scan, seg);
	uint64_t pos = 0, batches = 0, biggest = 0;
	for (; pos < seg->size; pos += seg_batch_size(&b), batches++) {
		assert_int_equal(seg_scan_batch(&scan, pos, &b), KB_OK);
		biggest = KB_MAX(biggest, seg_batch_size(&b));
	}
	assert_int_equal(batches, 500);
	/* Each page refill moves at least a page less a batch and a header. */
	uint64_t step = SEG_SCAN_BUF_BYTES - biggest - SEG_BATCH_HEADER_LEN;
	assert_true(scan.reads <= 2 + seg->size / step);
	assert_true(scan.reads * 20 < batches);
	seg_close(seg);
	tu_rmrf(dir);
}

/* Batches of a page or more: one read per header, of the header only,
 * since the rest of the page would be record bytes nobody asked for. */
static void test_seg_scan_batch_reads_only_headers_of_large_batches(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg = open_new(dir, 0);
	append_simple(seg, 20, 3, 1500);
	struct seg_scan scan;
	struct seg_batch b;
	seg_scan_init(&scan, seg);
	uint64_t pos = 0;
	for (int i = 0; i < 20; i++) {
		assert_int_equal(seg_scan_batch(&scan, pos, &b), KB_OK);
		assert_true(seg_batch_size(&b) >= SEG_SCAN_BUF_BYTES);
		assert_int_equal(scan.reads, i + 1);
		assert_int_equal(scan.len, SEG_BATCH_HEADER_LEN);
		pos += seg_batch_size(&b);
	}
	assert_int_equal(seg_scan_batch(&scan, pos, &b), KB_ERR_RANGE);
	seg_close(seg);
	tu_rmrf(dir);
}

/* seg_scan_find_offset answers as seg_find_offset, and the batches after
 * the one it found come from the same buffer, without another read. */
static void test_seg_scan_find_offset_keeps_the_buffer(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg = open_new(dir, 0);
	append_simple(seg, 40, 2, 30); /* offsets 0..79 */
	for (int64_t off = 0; off < 80; off++) {
		struct seg_scan scan;
		struct seg_batch want, got, next;
		uint64_t want_pos = 0, got_pos = 0;
		seg_scan_init(&scan, seg);
		assert_int_equal(seg_find_offset(seg, off, &want_pos, &want), KB_OK);
		assert_int_equal(seg_scan_find_offset(&scan, off, &got_pos, &got),
				 KB_OK);
		assert_int_equal(got_pos, want_pos);
		assert_int_equal(got.base_offset, off - off % 2);
		uint32_t reads = scan.reads;
		uint64_t after = got_pos + seg_batch_size(&got);
		if (after + SEG_BATCH_HEADER_LEN <= scan.start + scan.len) {
			assert_int_equal(seg_scan_batch(&scan, after, &next), KB_OK);
			assert_int_equal(scan.reads, reads);
			assert_int_equal(next.base_offset, got.base_offset + 2);
		}
	}
	struct seg_scan scan;
	uint64_t p = 0;
	struct seg_batch b;
	seg_scan_init(&scan, seg);
	assert_int_equal(seg_scan_find_offset(&scan, 80, &p, &b), KB_ERR_NOTFOUND);
	p = seg->size + 1;
	assert_int_equal(seg_scan_find_offset(&scan, 0, &p, &b), KB_ERR_RANGE);
	seg_close(seg);
	tu_rmrf(dir);
}

/* ---- Rolling ---- */

static void test_seg_should_roll_at_segment_bytes(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg = open_new(dir, 0);
	uint8_t buf[BATCH_CAP];
	size_t len = build(buf, 0, 3, 1000);
	assert_int_equal(seg_append(seg, buf, len), KB_OK);
	struct seg_config cfg = {.segment_bytes = (int64_t)len + 100,
				 .segment_ms = SEG_DEFAULT_SEGMENT_MS};
	/* KAFKA: roll when size > segment.bytes - incoming. */
	assert_false(seg_should_roll(seg, &cfg, INCOMING(100, 1000), 0));
	assert_true(seg_should_roll(seg, &cfg, INCOMING(101, 1000), 0));
	assert_true(seg_should_roll(seg, &cfg, INCOMING(UINT64_MAX, 1000), 0));
	seg_close(seg);
	tu_rmrf(dir);
}

static void test_seg_should_roll_never_when_empty(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg = open_new(dir, 0);
	struct seg_config cfg = {.segment_bytes = 10, .segment_ms = 1};
	assert_false(seg_should_roll(seg, &cfg, INCOMING(1 << 20, INT64_MAX / 2),
				     seg->created_ms + 1000000));
	seg_close(seg);
	tu_rmrf(dir);
}

static void test_seg_should_roll_at_segment_ms_by_first_batch(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg = open_new(dir, 0);
	uint8_t buf[BATCH_CAP];
	size_t len = build(buf, 0, 3, 10000); /* max timestamp 10002 */
	assert_int_equal(seg_append(seg, buf, len), KB_OK);
	len = build(buf, 3, 1, 50000);
	assert_int_equal(seg_append(seg, buf, len), KB_OK);
	struct seg_config cfg = {.segment_bytes = SEG_DEFAULT_SEGMENT_BYTES,
				 .segment_ms = 60000};
	/* Measured from the FIRST batch's max timestamp, not the largest, and
	 * by record time: the wall clock (now_ms) does not count here. */
	assert_false(seg_should_roll(seg, &cfg, INCOMING(10, 70002), INT64_MAX / 2));
	assert_true(seg_should_roll(seg, &cfg, INCOMING(10, 70003), 0));
	/* An older record time has waited nothing (Kafka: negative wait). */
	assert_false(seg_should_roll(seg, &cfg, INCOMING(10, INT64_MIN), INT64_MAX / 2));
	assert_false(seg_should_roll(seg, &cfg, INCOMING(10, -1), INT64_MAX / 2));
	seg_close(seg);
	tu_rmrf(dir);
}

static void test_seg_should_roll_at_segment_ms_by_creation_time(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg = open_new(dir, 0);
	uint8_t buf[BATCH_CAP];
	size_t len = build(buf, 0, 1, -1); /* NO_TIMESTAMP */
	assert_int_equal(seg_append(seg, buf, len), KB_OK);
	assert_int_equal(seg->first_batch_timestamp, -1);
	struct seg_config cfg = {.segment_bytes = SEG_DEFAULT_SEGMENT_BYTES,
				 .segment_ms = 60000};
	seg->created_ms = 1000000;
	assert_false(seg_should_roll(seg, &cfg, INCOMING(10, 5000000), 1060000));
	assert_true(seg_should_roll(seg, &cfg, INCOMING(10, 5000000), 1060001));
	seg_close(seg);
	tu_rmrf(dir);
}

/* ---- Recovery ---- */

static void test_seg_recover_keeps_a_whole_file(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct three t;
	build_three(&t);
	tu_write_all(file_of(dir, 0), t.bytes, t.len);
	struct seg_recovery rep;
	struct tu_log_capture cap;
	tu_log_capture_start(&cap);
	struct segment *seg = reopen(dir, 0, &rep);
	tu_log_capture_stop();
	assert_int_equal(rep.valid_bytes, t.len);
	assert_int_equal(rep.truncated_bytes, 0);
	assert_int_equal(rep.batches, 3);
	assert_null(rep.reason);
	assert_null(strstr(cap.text, "truncated"));
	assert_int_equal(seg->next_offset, 9);
	assert_int_equal(seg->max_timestamp, 3001);      /* batch 3: ts 3000-3001 */
	assert_int_equal(seg->offset_of_max_timestamp, 8);
	assert_int_equal(seg->first_batch_timestamp, 1002);
	assert_false(seg->dirty);
	seg_close(seg);
	tu_rmrf(dir);
}

static void test_seg_recover_cut_at_every_byte_of_last_batch(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct three t;
	build_three(&t);
	for (size_t cut = t.pos[2]; cut <= t.len; cut++) {
		bool whole = cut == t.len;
		struct seg_recovery rep;
		tu_write_all(file_of(dir, 0), t.bytes, cut);
		struct tu_log_capture cap;
		tu_log_capture_start(&cap);
		struct segment *seg = reopen(dir, 0, &rep);
		tu_log_capture_stop();
		assert_int_equal(rep.valid_bytes, whole ? t.len : t.pos[2]);
		assert_int_equal(rep.truncated_bytes, whole ? 0 : cut - t.pos[2]);
		assert_int_equal(rep.batches, whole ? 3 : 2);
		assert_int_equal(seg->next_offset, t.next[whole ? 2 : 1]);
		if (cut > t.pos[2] && !whole)
			assert_logged_cut(&cap, dir, cut - t.pos[2], t.pos[2],
					  t.next[1], rep.reason);
		if (!whole) {
			/* The producer's retry lands at the right offset. */
			assert_int_equal(seg_append(seg, t.bytes + t.pos[2],
						    t.len - t.pos[2]), KB_OK);
		}
		assert_int_equal(seg->next_offset, t.next[2]);
		seg_close(seg);
		size_t n;
		uint8_t *disk = tu_read_all(file_of(dir, 0), &n);
		assert_int_equal(n, t.len);
		assert_memory_equal(disk, t.bytes, t.len);
		free(disk);
	}
	tu_rmrf(dir);
}

static void test_seg_recover_cuts_random_garbage_tail(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct three t;
	build_three(&t);
	static uint8_t file[3 * BATCH_CAP + 6000];
	memcpy(file, t.bytes, t.len);
	for (uint64_t seed = 1; seed <= 16; seed++) {
		uint64_t s = seed;
		size_t extra = 1 + (size_t)(rnd(&s) % 6000);
		fill_random(file + t.len, extra, seed);
		assert_recovers_to(dir, file, t.len + extra, t.len, t.next[2],
				   NULL);
	}
	tu_rmrf(dir);
}

static void test_seg_recover_cuts_wrong_magic(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct three t;
	build_three(&t);
	t.bytes[t.pos[2] + SEG_OFF_MAGIC] = 1;
	assert_recovers_to(dir, t.bytes, t.len, t.pos[2], t.next[1], "wrong magic");
	/* A bad batch in the middle takes everything after it with it. */
	build_three(&t);
	t.bytes[t.pos[1] + SEG_OFF_MAGIC] = 3;
	assert_recovers_to(dir, t.bytes, t.len, t.pos[1], t.next[0], "wrong magic");
	tu_rmrf(dir);
}

static void test_seg_recover_cuts_length_past_eof(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct three t;
	build_three(&t);
	kb_put_be32(t.bytes + t.pos[2] + SEG_OFF_BATCH_LENGTH, 0x7FFFFFFF);
	assert_recovers_to(dir, t.bytes, t.len, t.pos[2], t.next[1],
			   "batch runs past end of file");
	build_three(&t);
	kb_put_be32(t.bytes + t.pos[1] + SEG_OFF_BATCH_LENGTH,
		    (uint32_t)(t.len - t.pos[1] - SEG_LOG_OVERHEAD + 1));
	assert_recovers_to(dir, t.bytes, t.len, t.pos[1], t.next[0],
			   "batch runs past end of file");
	tu_rmrf(dir);
}

static void test_seg_recover_cuts_negative_length(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct three t;
	build_three(&t);
	kb_put_be32(t.bytes + t.pos[2] + SEG_OFF_BATCH_LENGTH, 0xFFFFFFF0u);
	assert_recovers_to(dir, t.bytes, t.len, t.pos[2], t.next[1],
			   "negative batch length");
	tu_rmrf(dir);
}

static void test_seg_recover_cuts_zero_length_and_zero_fill(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct three t;
	build_three(&t);
	kb_put_be32(t.bytes + t.pos[1] + SEG_OFF_BATCH_LENGTH, 0);
	assert_recovers_to(dir, t.bytes, t.len, t.pos[1], t.next[0],
			   "batch length below minimum");
	/* Zeros after the last batch (a preallocated or half-flushed file). */
	static uint8_t file[3 * BATCH_CAP + 4096];
	build_three(&t);
	memcpy(file, t.bytes, t.len);
	memset(file + t.len, 0, 4096);
	assert_recovers_to(dir, file, t.len + 4096, t.len, t.next[2],
			   "batch length below minimum");
	tu_rmrf(dir);
}

static void test_seg_recover_cuts_partial_header(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct three t;
	build_three(&t);
	assert_recovers_to(dir, t.bytes, t.pos[2] + 11, t.pos[2], t.next[1],
			   "partial batch header");
	assert_recovers_to(dir, t.bytes, t.pos[2] + 40, t.pos[2], t.next[1],
			   "batch runs past end of file");
	tu_rmrf(dir);
}

static void test_seg_recover_cuts_any_flipped_bit(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct three t, bad;
	build_three(&t);
	size_t start = t.pos[1], end = t.pos[2];
	/* Every bit the batch can vouch for: the length, the magic, the CRC
	 * and everything the CRC covers. baseOffset and partitionLeaderEpoch
	 * are outside the CRC (test_seg_recover_checks_offsets). */
	for (size_t i = start + SEG_OFF_BATCH_LENGTH; i < end; i++) {
		if (i >= start + SEG_OFF_LEADER_EPOCH && i < start + SEG_OFF_MAGIC)
			continue;
		for (int bit = 0; bit < 8; bit++) {
			bad = t;
			bad.bytes[i] ^= (uint8_t)(1u << bit);
			struct seg_recovery rep;
			tu_write_all(file_of(dir, 0), bad.bytes, bad.len);
			struct tu_log_capture cap;
			tu_log_capture_start(&cap);
			struct segment *seg = reopen(dir, 0, &rep);
			tu_log_capture_stop();
			assert_int_equal(rep.valid_bytes, start);
			assert_int_equal(rep.truncated_bytes, t.len - start);
			assert_non_null(rep.reason);
			assert_non_null(strstr(cap.text, "truncated"));
			seg_close(seg);
		}
	}
	bad = t;
	bad.bytes[end - 1] ^= 0x10;
	assert_recovers_to(dir, bad.bytes, bad.len, start, t.next[0], "bad CRC");
	tu_rmrf(dir);
}

static void test_seg_recover_checks_offsets(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct three t;
	build_three(&t);
	/* CRC-valid, but the offset goes back: base 3 rewritten to 2. */
	seg_batch_set_base_offset(t.bytes + t.pos[1], 2);
	assert_recovers_to(dir, t.bytes, t.len, t.pos[1], t.next[0],
			   "base offset below next offset");
	build_three(&t);
	t.bytes[t.pos[2]] ^= 0x40; /* a high bit of baseOffset flipped */
	assert_recovers_to(dir, t.bytes, t.len, t.pos[2], t.next[1],
			   "offset too far from the segment's base offset");
	/* base + lastOffsetDelta past INT64_MAX: refused, no overflow (UBSan). */
	build_three(&t);
	seg_batch_set_base_offset(t.bytes + t.pos[2], INT64_MAX);
	assert_recovers_to(dir, t.bytes, t.len, t.pos[2], t.next[1],
			   "offset too far from the segment's base offset");
	/* A first batch below the segment's base offset (from its name). */
	uint8_t buf[BATCH_CAP];
	size_t len = build(buf, 5, 2, 1);
	tu_write_all(file_of(dir, 10), buf, len);
	struct seg_recovery rep;
	struct tu_log_capture cap;
	tu_log_capture_start(&cap);
	struct segment *seg = reopen(dir, 10, &rep);
	tu_log_capture_stop();
	assert_non_null(strstr(cap.text, "00000000000000000010.log: truncated"));
	assert_int_equal(rep.valid_bytes, 0);
	assert_string_equal(rep.reason, "base offset below next offset");
	assert_int_equal(seg->next_offset, 10);
	seg_close(seg);
	tu_rmrf(dir);
}

static void test_seg_recover_garbage_only_file(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	static uint8_t junk[20000];
	for (uint64_t seed = 1; seed <= 8; seed++) {
		size_t n = 1 + (size_t)(seed * 2477 % sizeof junk);
		fill_random(junk, n, seed + 100);
		struct seg_recovery rep;
		tu_write_all(file_of(dir, 0), junk, n);
		struct tu_log_capture cap;
		tu_log_capture_start(&cap);
		struct segment *seg = reopen(dir, 0, &rep);
		tu_log_capture_stop();
		assert_int_equal(rep.valid_bytes, 0);
		assert_int_equal(rep.truncated_bytes, n);
		assert_int_equal(rep.batches, 0);
		assert_int_equal(seg->next_offset, 0);
		assert_int_equal(tu_file_size(file_of(dir, 0)), 0);
		assert_logged_cut(&cap, dir, n, 0, 0, rep.reason);
		seg_close(seg);
	}
	tu_rmrf(dir);
}

static void test_seg_recover_batch_larger_than_read_buffer(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	/* small, ~3 MiB, small: the big one is longer than the 1 MiB reads. */
	enum { NREC = 50, VLEN = 60000 };
	char *value = malloc(VLEN + 1);
	memset(value, 'v', VLEN);
	value[VLEN] = '\0';
	struct tu_record recs[NREC];
	for (int i = 0; i < NREC; i++)
		recs[i] = (struct tu_record){NULL, value, 77 + i};
	size_t cap = 4 * 1024 * 1024, len = 0, pos[4];
	uint8_t *file = malloc(cap);
	pos[0] = 0;
	len += build(file, 0, 2, 1);
	pos[1] = len;
	len += tu_batch_build(file + len, cap - len, 2, recs, NREC);
	pos[2] = len;
	len += build(file + len, 2 + NREC, 3, 5);
	pos[3] = len;
	assert_true(pos[2] - pos[1] > 2 * 1024 * 1024);
	assert_recovers_to(dir, file, len, len, 5 + NREC, NULL);
	size_t cuts[] = {pos[1] + 100, pos[1] + 1024 * 1024, pos[2] - 1, pos[2] + 30};
	for (size_t i = 0; i < KB_ARRAY_LEN(cuts); i++) {
		bool big = cuts[i] < pos[2];
		assert_recovers_to(dir, file, cuts[i], big ? pos[1] : pos[2],
				   big ? 2 : 2 + NREC, "batch runs past end of file");
	}
	file[pos[2] - 1] ^= 1;
	assert_recovers_to(dir, file, len, pos[1], 2, "bad CRC");
	free(file);
	free(value);
	tu_rmrf(dir);
}

static void test_seg_recover_from_a_later_position(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct three t;
	build_three(&t);
	t.bytes[t.len - 1] ^= 0xFF;
	tu_write_all(file_of(dir, 0), t.bytes, t.len);
	struct segment *seg = NULL;
	assert_int_equal(seg_open(dir, 0, false, &seg), KB_OK);
	/* Chapter 03 knows batch 1 from its index and scans only the tail. */
	seg->next_offset = t.next[0];
	struct seg_recovery rep;
	struct tu_log_capture cap;
	tu_log_capture_start(&cap);
	assert_int_equal(seg_recover(seg, t.pos[1], &rep), KB_OK);
	tu_log_capture_stop();
	assert_logged_cut(&cap, dir, t.len - t.pos[2], t.pos[2], t.next[1],
			  "bad CRC");
	assert_int_equal(rep.batches, 1);
	assert_int_equal(rep.valid_bytes, t.pos[2]);
	assert_int_equal(rep.truncated_bytes, t.len - t.pos[2]);
	assert_string_equal(rep.reason, "bad CRC");
	assert_int_equal(seg->next_offset, t.next[1]);
	assert_int_equal(seg->first_batch_timestamp, 1002);
	assert_int_equal(seg_recover(seg, seg->size + 1, &rep), KB_ERR_RANGE);
	seg_close(seg);

	/* A damaged first batch: a partial scan cannot trust the file. */
	t.bytes[SEG_OFF_MAGIC] = 0;
	tu_write_all(file_of(dir, 0), t.bytes, t.pos[2]);
	assert_int_equal(seg_open(dir, 0, false, &seg), KB_OK);
	assert_int_equal(seg_recover(seg, t.pos[1], &rep), KB_ERR_CORRUPT);
	assert_int_equal(seg->size, t.pos[2]);
	assert_int_equal(tu_file_size(file_of(dir, 0)), (long)t.pos[2]);
	seg_close(seg);
	tu_rmrf(dir);
}

static void test_seg_readers_never_crash_on_garbage(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	static uint8_t junk[5000];
	for (uint64_t seed = 1; seed <= 32; seed++) {
		fill_random(junk, sizeof junk, seed);
		if (seed % 2)
			junk[SEG_OFF_MAGIC] = 2; /* get past the magic check */
		if (seed % 4 == 1) /* and overflow base + lastOffsetDelta */
			kb_put_be64(junk, (uint64_t)INT64_MAX);
		tu_write_all(file_of(dir, 0), junk, sizeof junk);
		struct segment *seg = NULL;
		assert_int_equal(seg_open(dir, 0, false, &seg), KB_OK);
		uint64_t pos = 0;
		struct seg_batch b;
		int rc = seg_find_offset(seg, INT64_MAX, &pos, &b);
		assert_true(rc == KB_ERR_CORRUPT || rc == KB_ERR_NOTFOUND);
		assert_int_equal(seg_read_batch(seg, 0, &b), KB_ERR_CORRUPT);
		seg_close(seg);
	}
	tu_rmrf(dir);
}

/* ---- Truncation ---- */

static void test_seg_truncate_to_a_batch_boundary(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct three t;
	build_three(&t);
	struct segment *seg = open_new(dir, 0);
	assert_int_equal(seg_append(seg, t.bytes, t.pos[1]), KB_OK);
	assert_int_equal(seg_append(seg, t.bytes + t.pos[1], t.pos[2] - t.pos[1]), KB_OK);
	assert_int_equal(seg_append(seg, t.bytes + t.pos[2], t.len - t.pos[2]), KB_OK);
	assert_int_equal(seg_flush(seg), KB_OK);
	assert_int_equal(seg_truncate(seg, t.pos[2]), KB_OK);
	assert_int_equal(seg->size, t.pos[2]);
	assert_int_equal(tu_file_size(file_of(dir, 0)), (long)t.pos[2]);
	assert_int_equal(seg->next_offset, t.next[1]);
	assert_int_equal(seg->max_timestamp, 2003);
	assert_int_equal(seg->offset_of_max_timestamp, t.next[1] - 1);
	assert_true(seg->dirty);
	/* The log continues from there. */
	assert_int_equal(seg_append(seg, t.bytes + t.pos[2], t.len - t.pos[2]), KB_OK);
	assert_int_equal(seg->next_offset, t.next[2]);
	seg_close(seg);
	tu_rmrf(dir);
}

static void test_seg_truncate_to_zero_resets(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct three t;
	build_three(&t);
	tu_write_all(file_of(dir, 0), t.bytes, t.len);
	struct segment *seg = reopen(dir, 0, NULL);
	seg->created_ms = 1;
	assert_int_equal(seg_truncate(seg, 0), KB_OK);
	assert_int_equal(seg->size, 0);
	assert_int_equal(seg->next_offset, 0);
	assert_int_equal(seg->max_timestamp, -1);
	assert_int_equal(seg->offset_of_max_timestamp, -1);
	assert_int_equal(seg->first_batch_timestamp, -1);
	assert_true(seg->created_ms > 1);
	assert_int_equal(tu_file_size(file_of(dir, 0)), 0);
	seg_close(seg);
	tu_rmrf(dir);
}

static void test_seg_truncate_refuses_a_non_boundary(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct three t;
	build_three(&t);
	tu_write_all(file_of(dir, 0), t.bytes, t.len);
	struct segment *seg = reopen(dir, 0, NULL);
	assert_int_equal(seg_truncate(seg, t.pos[1] + 1), KB_ERR_INVAL);
	assert_int_equal(seg_truncate(seg, t.len - 1), KB_ERR_INVAL);
	assert_int_equal(seg_truncate(seg, t.len + 1), KB_ERR_RANGE);
	assert_int_equal(seg->size, t.len);
	assert_int_equal(seg->next_offset, t.next[2]);
	assert_int_equal(tu_file_size(file_of(dir, 0)), (long)t.len);
	assert_int_equal(seg_truncate(seg, t.len), KB_OK);
	assert_int_equal(seg->next_offset, t.next[2]);
	seg_close(seg);
	tu_rmrf(dir);
}

/* ---- Teardown ---- */

static void test_seg_flush_clears_dirty(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg = open_new(dir, 0);
	assert_true(seg->dir_unsynced);
	assert_false(seg->dirty);
	assert_int_equal(seg_flush(seg), KB_OK);
	assert_false(seg->dir_unsynced);
	uint8_t buf[BATCH_CAP];
	size_t len = build(buf, 0, 2, 1);
	assert_int_equal(seg_append(seg, buf, len), KB_OK);
	assert_true(seg->dirty);
	assert_int_equal(seg_flush(seg), KB_OK);
	assert_false(seg->dirty);
	assert_int_equal(seg_flush(seg), KB_OK);
	seg_close(seg);
	/* Reopening an existing file has no directory entry to sync. */
	assert_int_equal(seg_open(dir, 0, true, &seg), KB_OK);
	assert_false(seg->dir_unsynced);
	seg_close(seg);
	tu_rmrf(dir);
}

static void test_seg_close_keeps_the_bytes(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg = open_new(dir, 7);
	uint8_t buf[BATCH_CAP];
	size_t len = build(buf, 7, 2, 1);
	assert_int_equal(seg_append(seg, buf, len), KB_OK);
	seg_close(seg);
	seg_close(NULL);
	struct seg_recovery rep;
	seg = reopen(dir, 7, &rep);
	assert_int_equal(rep.batches, 1);
	assert_int_equal(seg->next_offset, 9);
	seg_close(seg);
	tu_rmrf(dir);
}

static void test_seg_delete_removes_file(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg = open_new(dir, 3);
	uint8_t buf[BATCH_CAP];
	size_t len = build(buf, 3, 2, 1);
	assert_int_equal(seg_append(seg, buf, len), KB_OK);
	assert_int_equal(tu_file_size(file_of(dir, 3)), (long)len);
	assert_int_equal(seg_delete(seg), KB_OK);
	assert_int_equal(tu_file_size(file_of(dir, 3)), -1);
	tu_rmrf(dir);
}

/* ---- seg_check: the invariants hold after each mutation ---- */

static void test_seg_check_holds_after_each_mutation(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	static uint8_t buf[BATCH_CAP];
	struct segment *seg = open_new(dir, 100);
	seg_check_file(seg);
	int64_t next = 100;
	uint64_t boundary = 0;
	for (int i = 0; i < 5; i++) {
		size_t len = build(buf, next, 3, 1000 + i);
		assert_int_equal(seg_append(seg, buf, len), KB_OK);
		seg_check_file(seg);
		assert_true(seg->dirty); /* 5 */
		next += 3;
		if (i == 1)
			boundary = seg->size;
	}
	assert_int_equal(seg_flush(seg), KB_OK);
	seg_check_file(seg);
	assert_false(seg->dirty);
	assert_int_equal(seg_truncate(seg, boundary), KB_OK);
	seg_check_file(seg);
	assert_int_equal(seg->next_offset, 106);
	seg_close(seg);
	seg = reopen(dir, 100, NULL);
	seg_check_file(seg);
	assert_int_equal(seg->next_offset, 106);
	seg_close(seg);
	tu_rmrf(dir);
}

int main(void)
{
	tu_log_quiet(); /* a passing run prints no log lines */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seg_crc32c_check_value),
		cmocka_unit_test(test_seg_crc32c_matches_spec_crc_on_random_buffers),
		cmocka_unit_test(test_seg_crc32c_continues_from_crc),
		cmocka_unit_test(test_seg_crc32c_uses_sse42_when_the_cpu_has_it),
		cmocka_unit_test(test_seg_batch_decode_reads_spec_fields),
		cmocka_unit_test(test_seg_batch_decode_rejects_impossible_headers),
		cmocka_unit_test(test_seg_batch_validate_accepts_spec_batch),
		cmocka_unit_test(test_seg_batch_validate_names_the_broken_rule),
		cmocka_unit_test(test_seg_batch_set_base_offset_keeps_crc_valid),
		cmocka_unit_test(test_seg_file_name_is_20_digits),
		cmocka_unit_test(test_seg_parse_file_name),
		cmocka_unit_test(test_seg_check_holds_after_each_mutation),
		cmocka_unit_test(test_seg_open_creates_empty_file_named_by_base_offset),
		cmocka_unit_test(test_seg_open_missing_without_create_is_notfound),
		cmocka_unit_test(test_seg_open_does_not_scan),
		cmocka_unit_test(test_seg_append_writes_spec_bytes_unchanged),
		cmocka_unit_test(test_seg_append_updates_offsets_and_timestamps),
		cmocka_unit_test(test_seg_append_max_timestamp_strictly_greater_replaces),
		cmocka_unit_test(test_seg_append_refuses_offsets_that_do_not_grow),
		cmocka_unit_test(test_seg_append_refuses_offsets_beyond_int32_of_base),
		cmocka_unit_test(test_seg_append_refuses_header_that_disagrees_with_len),
		cmocka_unit_test(test_seg_append_failed_write_leaves_no_half_batch),
		cmocka_unit_test(test_seg_read_stops_at_size),
		cmocka_unit_test(test_seg_read_batch_decodes_each_batch),
		cmocka_unit_test(test_seg_read_batch_is_corrupt_when_past_size),
		cmocka_unit_test(test_seg_find_offset),
		cmocka_unit_test(test_seg_scan_batch_same_results_as_seg_read_batch),
		cmocka_unit_test(test_seg_scan_batch_reads_a_page_for_small_batches),
		cmocka_unit_test(test_seg_scan_batch_reads_only_headers_of_large_batches),
		cmocka_unit_test(test_seg_scan_find_offset_keeps_the_buffer),
		cmocka_unit_test(test_seg_should_roll_at_segment_bytes),
		cmocka_unit_test(test_seg_should_roll_never_when_empty),
		cmocka_unit_test(test_seg_should_roll_at_segment_ms_by_first_batch),
		cmocka_unit_test(test_seg_should_roll_at_segment_ms_by_creation_time),
		cmocka_unit_test(test_seg_recover_keeps_a_whole_file),
		cmocka_unit_test(test_seg_recover_cut_at_every_byte_of_last_batch),
		cmocka_unit_test(test_seg_recover_cuts_random_garbage_tail),
		cmocka_unit_test(test_seg_recover_cuts_wrong_magic),
		cmocka_unit_test(test_seg_recover_cuts_length_past_eof),
		cmocka_unit_test(test_seg_recover_cuts_negative_length),
		cmocka_unit_test(test_seg_recover_cuts_zero_length_and_zero_fill),
		cmocka_unit_test(test_seg_recover_cuts_partial_header),
		cmocka_unit_test(test_seg_recover_cuts_any_flipped_bit),
		cmocka_unit_test(test_seg_recover_checks_offsets),
		cmocka_unit_test(test_seg_recover_garbage_only_file),
		cmocka_unit_test(test_seg_recover_batch_larger_than_read_buffer),
		cmocka_unit_test(test_seg_recover_from_a_later_position),
		cmocka_unit_test(test_seg_readers_never_crash_on_garbage),
		cmocka_unit_test(test_seg_truncate_to_a_batch_boundary),
		cmocka_unit_test(test_seg_truncate_to_zero_resets),
		cmocka_unit_test(test_seg_truncate_refuses_a_non_boundary),
		cmocka_unit_test(test_seg_flush_clears_dirty),
		cmocka_unit_test(test_seg_close_keeps_the_bytes),
		cmocka_unit_test(test_seg_delete_removes_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
