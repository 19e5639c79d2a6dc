/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the unit tests (header-only, one copy per test binary).
 *
 * - tu_tmpdir / tu_rmrf: a scratch directory per test, removed after.
 * - tu_batch_*: an encoder for record batch v2 written from the layout in
 *   shared/kafka-protocol/CLIENTS.md §6, NOT from samsa's own code, with its
 *   own bit-by-bit CRC-32C, so tests check samsa against the spec.
 * - tu_log_*: keep a passing run quiet (tu_log_quiet) and assert what was
 *   logged (assert_logged).
 */
#ifndef SAMSA_TESTUTIL_H
#define SAMSA_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <ftw.h>

#include "00_base.h"

/* Chapter 03's request structs spelled at a call site (block lifetime). */
#define TU_APPEND(buf, len, epoch, now_ms) \
	(&(struct log_append_req){(buf), (len), (epoch), (now_ms)})
#define TU_READ(offset, max_bytes, max_offset, min_one) \
	(&(struct log_read_req){(offset), (max_bytes), (max_offset), (min_one)})
/* And chapter 06's topic_create request. */
#define TOPIC_REQ(name, partitions, configs, nconfigs) \
	(&(struct topic_create_req){(name), (partitions), (configs), (nconfigs)})

/* ---- Scratch directories ---- */

static inline char *tu_tmpdir(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *path = malloc(strlen(base) + 32);
	assert_non_null(path);
	sprintf(path, "%s/samsa-test-XXXXXX", base);
	assert_non_null(mkdtemp(path));
	return path;
}

static inline int tu_rm_one(const char *p, const struct stat *st, int flag,
			    struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(p);
}

/* Remove dir and everything in it, then free the string. */
static inline void tu_rmrf(char *dir)
{
	nftw(dir, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

static inline long tu_file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static inline uint8_t *tu_read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
	size_t got = fread(buf, 1, (size_t)n, f);
	fclose(f);
	*len = got;
	return buf;
}

static inline void tu_write_all(const char *path, const void *p, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, len, f), len);
	fclose(f);
}

/* ---- Record batch v2, from the spec ---- */

/* Bit-by-bit CRC-32C (reflected polynomial 0x82F63B78). Slow on purpose:
 * it shares nothing with samsa's table or SSE4.2 code. */
static inline uint32_t tu_crc32c(const uint8_t *p, size_t n)
{
	uint32_t crc = 0xFFFFFFFFu;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
	}
	return crc ^ 0xFFFFFFFFu;
}

static inline void tu_be(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* Zigzag varint (records use protobuf sint encoding). */
static inline size_t tu_varint(uint8_t *p, int64_t v)
{
	uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
	size_t n = 0;
	while (z >= 0x80) {
		p[n++] = (uint8_t)(z | 0x80);
		z >>= 7;
	}
	p[n++] = (uint8_t)z;
	return n;
}

/* One record for tu_batch_build. key/value NULL = null. */
struct tu_record {
	const char *key;
	const char *value;
	int64_t timestamp;
};

/* Build an uncompressed magic-2 batch with count records into buf (cap
 * bytes). Record i gets offsetDelta i. Returns the batch length. */
static inline size_t tu_batch_build(uint8_t *buf, size_t cap, int64_t base_offset,
				    const struct tu_record *recs, int count)
{
	uint8_t *r = buf + 61;
	int64_t base_ts = count ? recs[0].timestamp : -1, max_ts = base_ts;
	for (int i = 0; i < count; i++) {
		uint8_t body[65536];
		size_t n = 0;
		body[n++] = 0; /* attributes */
		n += tu_varint(body + n, recs[i].timestamp - base_ts);
		n += tu_varint(body + n, i);
		size_t kl = recs[i].key ? strlen(recs[i].key) : 0;
		size_t vl = recs[i].value ? strlen(recs[i].value) : 0;
		n += tu_varint(body + n, recs[i].key ? (int64_t)kl : -1);
		memcpy(body + n, recs[i].key ? recs[i].key : "", kl);
		n += kl;
		n += tu_varint(body + n, recs[i].value ? (int64_t)vl : -1);
		memcpy(body + n, recs[i].value ? recs[i].value : "", vl);
		n += vl;
		n += tu_varint(body + n, 0); /* headers */
		assert_true((size_t)(r - buf) + n + 10 <= cap);
		r += tu_varint(r, (int64_t)n);
		memcpy(r, body, n);
		r += n;
		if (recs[i].timestamp > max_ts)
			max_ts = recs[i].timestamp;
	}
	size_t len = (size_t)(r - buf);
	tu_be(buf + 0, (uint64_t)base_offset, 8);      /* baseOffset */
	tu_be(buf + 8, len - 12, 4);                   /* batchLength */
	tu_be(buf + 12, 0, 4);                         /* partitionLeaderEpoch */
	buf[16] = 2;                                   /* magic */
	tu_be(buf + 21, 0, 2);                         /* attributes */
	tu_be(buf + 23, (uint64_t)(count ? count - 1 : 0), 4); /* lastOffsetDelta */
	tu_be(buf + 27, (uint64_t)base_ts, 8);         /* baseTimestamp */
	tu_be(buf + 35, (uint64_t)max_ts, 8);          /* maxTimestamp */
	tu_be(buf + 43, (uint64_t)-1, 8);              /* producerId */
	tu_be(buf + 51, (uint64_t)-1, 2);              /* producerEpoch */
	tu_be(buf + 53, (uint64_t)-1, 4);              /* baseSequence */
	tu_be(buf + 57, (uint64_t)count, 4);           /* recordsCount */
	tu_be(buf + 17, tu_crc32c(buf + 21, len - 21), 4); /* crc */
	return len;
}

/* A batch of n records "k<i>"/"v<i>" with payload padding to ~size bytes. */
static inline size_t tu_batch_simple(uint8_t *buf, size_t cap, int n,
				     int64_t ts, size_t value_len)
{
	struct tu_record recs[64];
	char vals[64][2048];
	assert_true(n <= 64 && value_len < 2048);
	for (int i = 0; i < n; i++) {
		memset(vals[i], 'a' + (i % 26), value_len);
		vals[i][value_len] = '\0';
		recs[i].key = NULL;
		recs[i].value = vals[i];
		recs[i].timestamp = ts + i;
	}
	return tu_batch_build(buf, cap, 0, recs, n);
}

/* ---- Log capture ----
 *
 * A passing run prints no log lines: call tu_log_quiet() first thing in a
 * test binary's main. Every kb_log line then goes into tu_log_all (the
 * last 16 KiB, as "LEVEL message" lines) instead of stderr, and a test
 * asserts what the code said with assert_logged("WARN closing") after
 * tu_log_clear(). SAMSA_TEST_LOG=1 in the environment prints them again.
 * tu_log_capture_start/stop capture into a test's own buffer, then go back
 * to the quiet sink. */

struct tu_log_capture {
	char text[16384];
	size_t len;
};

static const char *const tu_level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

/* Append one line; when full, keep the newer half. */
static inline void tu_log_append(struct tu_log_capture *c, const char *line)
{
	size_t n = strlen(line) + 1;
	if (n >= sizeof c->text)
		return;
	if (c->len + n >= sizeof c->text) {
		size_t keep = c->len / 2;
		memmove(c->text, c->text + c->len - keep, keep);
		c->len = keep;
	}
	memcpy(c->text + c->len, line, n - 1);
	c->len += n;
	c->text[c->len - 1] = '\n';
	c->text[c->len] = '\0';
}

/* A test's own capture: the message only, one per line. */
static inline void tu_log_sink(enum kb_log_level level, const char *line,
			       void *ctx)
{
	(void)level;
	tu_log_append(ctx, line);
}

/* Every line of a quiet binary since tu_log_clear, "LEVEL message". */
static struct tu_log_capture tu_log_all __attribute__((unused));

static inline void tu_log_quiet_sink(enum kb_log_level level, const char *line,
				     void *ctx)
{
	char full[4200];
	snprintf(full, sizeof full, "%s %s", tu_level_names[level], line);
	tu_log_append(ctx, full);
}

/* Whether this binary called tu_log_quiet (tu_log_capture_stop returns to it). */
static bool tu_log_is_quiet __attribute__((unused));

/* Route kb_log into tu_log_all (not stderr) unless SAMSA_TEST_LOG is set. */
static inline void tu_log_quiet(void)
{
	const char *show = getenv("SAMSA_TEST_LOG");
	tu_log_is_quiet = true;
	if (show && *show && strcmp(show, "0") != 0)
		kb_log_set_sink(NULL, NULL);
	else
		kb_log_set_sink(tu_log_quiet_sink, &tu_log_all);
}

static inline void tu_log_clear(void)
{
	tu_log_all.len = 0;
	tu_log_all.text[0] = '\0';
}

/* Was a line containing needle logged since tu_log_clear? */
static inline bool tu_logged(const char *needle)
{
	return strstr(tu_log_all.text, needle) != NULL;
}

#define assert_logged(needle) assert_true(tu_logged(needle))
#define assert_not_logged(needle) assert_false(tu_logged(needle))

/* Start capturing kb_log lines into c (cleared). */
static inline void tu_log_capture_start(struct tu_log_capture *c)
{
	c->len = 0;
	c->text[0] = '\0';
	kb_log_set_sink(tu_log_sink, c);
}

/* Back to the quiet sink, or to stderr in a binary that is not quiet. */
static inline void tu_log_capture_stop(void)
{
	if (tu_log_is_quiet)
		tu_log_quiet();
	else
		kb_log_set_sink(NULL, NULL);
}

#endif
