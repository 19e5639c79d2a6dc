/* SPDX-License-Identifier: MIT */
/*
 * Tests for chapter 10, the log cleaner: one test per Interface rule and
 * per numbered invariant of chapters/10_compaction.c (a pass) and
 * chapters/10_swap.c (the swap), and the broker's cleaner of
 * chapters/10_cleaner.c driven by clean_tick. Each test writes
 * keyed records with tests/testutil.h's spec-derived encoder into a real
 * chapter 03 log, cleans it with a fake clock, and reads the log back the
 * way a consumer would: every record with its offset, key and value.
 */
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/wait.h>
#include <zlib.h>

#include "01_segment.h"
#include "02_index.h"
#include "03_log.h"
#include "04_codec.h"
#include "06_topics.h"
#include "10_compaction.h"

/* A timestamp in 2023; the fake clock of every test starts here. */
#define T0 1700000000000LL
#define TC_FAR_MS (100LL * 365 * 24 * 3600 * 1000)
#define TC_MAX_RECS 4096

static uint8_t tc_buf[1 << 18];

/* One record as a consumer sees it. value NULL: a tombstone. */
struct tc_rec {
	int64_t offset;
	char key[32];
	char value[64];
	bool tombstone;
};

/* What a model of the appends says, and what a read finds. */
struct tc_recs {
	struct tc_rec r[TC_MAX_RECS];
	int n;
};

/* ---- Helpers ---- */

static struct log_config tc_log_cfg(void)
{
	struct log_config c;
	log_config_defaults(&c);
	c.segment_bytes = 1024;
	c.segment_ms = TC_FAR_MS;
	c.segment_index_bytes = 1024;
	c.index_interval_bytes = 128;
	return c;
}

static struct clean_config tc_clean_cfg(void)
{
	struct clean_config c;
	clean_config_defaults(&c);
	c.min_cleanable_dirty_ratio = 0.0;
	c.delete_retention_ms = 1000;
	return c;
}

/* clean_log with the first dirty offset in a variable of the test. */
static int tc_clean(struct log *log, const struct clean_config *cc,
		    int64_t *first_dirty, int64_t now_ms, struct clean_stats *st)
{
	struct clean_at at = {*first_dirty, now_ms};
	int rc = clean_log(log, cc, &at, st);
	*first_dirty = at.first_dirty;
	return rc;
}

static struct log *tc_open(const char *dir,
			   const struct log_recovery_hint *hint)
{
	struct log_config c = tc_log_cfg();
	struct log *log = NULL;
	assert_int_equal(log_open(dir, &c, hint, &log), KB_OK);
	return log;
}

/* Append one record key=value (value NULL: tombstone) at timestamp ts,
 * and note it in the model m (may be NULL). Returns its offset. */
static int64_t tc_put(struct log *log, struct tc_recs *m, const char *key,
		      const char *value, int64_t ts)
{
	struct tu_record r = {key, value, ts};
	size_t len = tu_batch_build(tc_buf, sizeof tc_buf, 0, &r, 1);
	struct log_append_info info;
	assert_int_equal(log_append(log, TU_APPEND(tc_buf, len, -1, ts), &info),
			 KB_OK);
	if (m) {
		struct tc_rec *x = &m->r[m->n++];
		x->offset = info.base_offset;
		snprintf(x->key, sizeof x->key, "%s", key);
		snprintf(x->value, sizeof x->value, "%s", value ? value : "");
		x->tombstone = value == NULL;
	}
	return info.base_offset;
}

/* n updates round-robin over nkeys keys: key k<i%nkeys> = v<i>. */
static void tc_fill(struct log *log, struct tc_recs *m, int n, int nkeys,
		    int64_t ts)
{
	char k[32], v[64];
	for (int i = 0; i < n; i++) {
		snprintf(k, sizeof k, "k%d", i % nkeys);
		snprintf(v, sizeof v, "v%d-%s", i, "padding-padding-padding");
		tc_put(log, m, k, v, ts);
	}
}

/* Inflate a gzip records area (for reading compressed batches back). */
static size_t tc_inflate(const uint8_t *src, size_t len, uint8_t *dst,
			 size_t cap)
{
	z_stream zs;
	memset(&zs, 0, sizeof zs);
	assert_int_equal(inflateInit2(&zs, 16 + MAX_WBITS), Z_OK);
	zs.next_in = (Bytef *)(uintptr_t)src;
	zs.avail_in = (uInt)len;
	zs.next_out = dst;
	zs.avail_out = (uInt)cap;
	assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
	size_t out = cap - zs.avail_out;
	inflateEnd(&zs);
	return out;
}

/* The records of one batch (gzip or plain) appended to out. */
static void tc_read_batch(const uint8_t *batch, size_t len, struct tc_recs *out)
{
	static uint8_t plain[1 << 18];
	struct seg_batch b;
	assert_int_equal(seg_batch_validate(batch, len, &b, NULL), KB_OK);
	if (b.attributes & SEG_ATTR_COMPRESSION_MASK) {
		memcpy(plain, batch, SEG_BATCH_HEADER_LEN);
		len = SEG_BATCH_HEADER_LEN +
		      tc_inflate(batch + SEG_BATCH_HEADER_LEN,
				 len - SEG_BATCH_HEADER_LEN,
				 plain + SEG_BATCH_HEADER_LEN,
				 sizeof plain - SEG_BATCH_HEADER_LEN);
		kb_put_be32(plain + SEG_OFF_BATCH_LENGTH, (uint32_t)(len - 12));
		kb_put_be16(plain + SEG_OFF_ATTRIBUTES, 0);
		batch = plain;
	}
	struct wire_records it;
	struct wire_record rec;
	int rc = wire_records_init(&it, batch, len);
	while (rc == KB_OK && (rc = wire_records_next(&it, &rec)) == KB_OK) {
		struct tc_rec *x = &out->r[out->n++];
		x->offset = rec.offset;
		snprintf(x->key, sizeof x->key, "%.*s", (int)rec.key.len,
			 (const char *)rec.key.p);
		x->tombstone = rec.value.len < 0;
		snprintf(x->value, sizeof x->value, "%.*s",
			 (int)KB_MAX(rec.value.len, 0), (const char *)rec.value.p);
	}
	assert_int_equal(rc, KB_ERR_NOTFOUND);
}

/* Read the whole log from its start offset as a consumer does. */
static void tc_read_all(const struct log *log, struct tc_recs *out)
{
	int64_t off = log->log_start_offset;
	out->n = 0;
	while (off < log_end_offset(log)) {
		struct log_read_result rr;
		size_t got;
		assert_int_equal(log_read(log, TU_READ(off, 1 << 16, INT64_MAX, true), &rr),
				 KB_OK);
		assert_true(rr.length > 0);
		assert_int_equal(seg_read(rr.seg, rr.position, tc_buf, rr.length,
					  &got), KB_OK);
		for (size_t pos = 0; pos < rr.length;) {
			size_t len = kb_get_be32(tc_buf + pos + 8) + 12;
			tc_read_batch(tc_buf + pos, len, out);
			pos += len;
		}
		off = rr.next_offset;
	}
}

/* The model after cleaning below end: the latest record of each key
 * below end, and every record at or above end, in offset order. With
 * drop_tombstones, the tombstones below end go too. */
static void tc_expect(const struct tc_recs *m, int64_t end,
		      bool drop_tombstones, struct tc_recs *out)
{
	out->n = 0;
	for (int i = 0; i < m->n; i++) {
		const struct tc_rec *x = &m->r[i];
		bool latest = true;
		for (int j = i + 1; j < m->n && x->offset < end; j++)
			if (m->r[j].offset < end && !strcmp(m->r[j].key, x->key))
				latest = false;
		if (x->offset >= end ||
		    (latest && !(drop_tombstones && x->tombstone)))
			out->r[out->n++] = *x;
	}
}

static void tc_assert_same(const struct tc_recs *want, const struct tc_recs *got)
{
	assert_int_equal(got->n, want->n);
	for (int i = 0; i < want->n; i++) {
		assert_int_equal(got->r[i].offset, want->r[i].offset);
		assert_string_equal(got->r[i].key, want->r[i].key);
		assert_string_equal(got->r[i].value, want->r[i].value);
		assert_int_equal(got->r[i].tombstone, want->r[i].tombstone);
	}
}

static void tc_assert_indexes(const struct log *log)
{
	for (size_t i = 0; i < log->nsegs; i++) {
		const char *why = NULL;
		assert_int_equal(idx_set_check(&log->segs[i].idx,
					       log->segs[i].seg, &why), KB_OK);
	}
}

static int64_t tc_active_base(const struct log *log)
{
	return log->segs[log->nsegs - 1].seg->base_offset;
}

/* Does dir hold a file whose name ends in suffix? */
static bool tc_has_suffix(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool found = false;
	size_t sl = strlen(suffix);
	while (d && (de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		found |= l >= sl && strcmp(de->d_name + l - sl, suffix) == 0;
	}
	if (d)
		closedir(d);
	return found;
}

/* ---- Invariant 2: the latest record of each key, at its offset ---- */

static void test_clean_keeps_latest_value_per_key_at_its_offset(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log *log = tc_open(dir, NULL);
	static struct tc_recs m, want, got;
	m.n = 0;
	tc_fill(log, &m, 200, 7, T0);
	assert_true(log->nsegs > 3);
	struct clean_config cc = tc_clean_cfg();
	int64_t first_dirty = 0, end = tc_active_base(log);
	struct clean_stats st;
	assert_int_equal(tc_clean(log, &cc, &first_dirty, T0, &st), KB_OK);
	assert_int_equal(first_dirty, end);
	assert_true(st.bytes_after < st.bytes_before);
	tc_expect(&m, end, false, &want);
	tc_read_all(log, &got);
	tc_assert_same(&want, &got);
	log_close(log);
	log = tc_open(dir, NULL); /* and the same from disk */
	tc_read_all(log, &got);
	tc_assert_same(&want, &got);
	log_close(log);
	tu_rmrf(dir);
}

static void test_clean_batch_keeps_base_offset_and_producer_fields(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log *log = tc_open(dir, NULL);
	struct tu_record r[3] = {{"a", "1", T0}, {"b", "2", T0 + 5},
				 {"c", "3", T0 + 9}};
	size_t len = tu_batch_build(tc_buf, sizeof tc_buf, 0, r, 3);
	kb_put_be64(tc_buf + SEG_OFF_PRODUCER_ID, 4242);
	kb_put_be16(tc_buf + SEG_OFF_PRODUCER_EPOCH, 7);
	kb_put_be32(tc_buf + SEG_OFF_BASE_SEQUENCE, 100);
	kb_put_be32(tc_buf + SEG_OFF_CRC, tu_crc32c(tc_buf + 21, len - 21));
	assert_int_equal(log_append(log, TU_APPEND(tc_buf, len, -1, T0), NULL),
			 KB_OK);
	tc_put(log, NULL, "a", "newer", T0); /* supersedes offset 0 */
	tc_put(log, NULL, "c", "newer", T0); /* supersedes offset 2 */
	tc_fill(log, NULL, 40, 40, T0);      /* rolls: the three above are old */
	struct clean_config cc = tc_clean_cfg();
	int64_t first_dirty = 0;
	assert_int_equal(tc_clean(log, &cc, &first_dirty, T0, NULL), KB_OK);
	struct seg_batch b;
	assert_int_equal(seg_read_batch(log->segs[0].seg, 0, &b), KB_OK);
	size_t got;
	assert_int_equal(seg_read(log->segs[0].seg, 0, tc_buf,
				  seg_batch_size(&b), &got), KB_OK);
	assert_int_equal(seg_batch_validate(tc_buf, got, &b, NULL), KB_OK);
	assert_int_equal(b.base_offset, 0);   /* base offset kept ... */
	assert_int_equal(b.records_count, 1); /* ... with only "b" left */
	assert_int_equal(b.last_offset_delta, 1);
	assert_int_equal(b.producer_id, 4242);
	assert_int_equal(b.producer_epoch, 7);
	assert_int_equal(b.base_sequence, 100);
	assert_int_equal(b.base_timestamp, T0);
	assert_int_equal(b.max_timestamp, T0 + 5);
	static struct tc_recs all;
	tc_read_batch(tc_buf, got, &all);
	assert_int_equal(all.r[0].offset, 1);
	assert_string_equal(all.r[0].key, "b");
	log_close(log);
	tu_rmrf(dir);
}

/* ---- Invariant 3: tombstones and delete.retention.ms ---- */

/* Another round of dirty data for key "z", then a roll; ts moves the
 * segments' largest timestamps forward. */
static void tc_dirty_round(struct log *log, struct tc_recs *m, int64_t ts)
{
	tc_fill(log, m, 30, 1, ts); /* k0 over and over: rolls */
}

static bool tc_has_tombstone(const struct tc_recs *r, const char *key)
{
	for (int i = 0; i < r->n; i++)
		if (r->r[i].tombstone && !strcmp(r->r[i].key, key))
			return true;
	return false;
}

static void test_clean_tombstone_removed_only_after_delete_retention(
	void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log *log = tc_open(dir, NULL);
	static struct tc_recs m, got;
	m.n = 0;
	tc_put(log, &m, "gone", "value", T0);
	tc_put(log, &m, "gone", NULL, T0);
	tc_dirty_round(log, &m, T0);
	struct clean_config cc = tc_clean_cfg(); /* delete.retention.ms 1000 */
	int64_t fd = 0;
	struct clean_stats st;
	/* Pass 1: the tombstone is dirty, it must survive one pass. */
	assert_int_equal(tc_clean(log, &cc, &fd, T0 + 5000, &st), KB_OK);
	assert_int_equal(st.tombstones_removed, 0);
	tc_read_all(log, &got);
	assert_true(tc_has_tombstone(&got, "gone"));
	/* Pass 2: clean now, but younger than delete.retention.ms. */
	tc_dirty_round(log, &m, T0 + 100);
	assert_int_equal(tc_clean(log, &cc, &fd, T0 + 900, &st), KB_OK);
	assert_int_equal(st.tombstones_removed, 0);
	tc_read_all(log, &got);
	assert_true(tc_has_tombstone(&got, "gone"));
	/* Pass 3: older than delete.retention.ms: removed, value and all. */
	tc_dirty_round(log, &m, T0 + 200);
	assert_int_equal(tc_clean(log, &cc, &fd, T0 + 1001, &st), KB_OK);
	assert_int_equal(st.tombstones_removed, 1);
	tc_read_all(log, &got);
	assert_false(tc_has_tombstone(&got, "gone"));
	for (int i = 0; i < got.n; i++)
		assert_string_not_equal(got.r[i].key, "gone");
	log_close(log);
	tu_rmrf(dir);
}

/* ---- Invariant 1: the active segment and the lag ---- */

/* Count the files in dir whose names end in suffix. */
static int tc_count_suffix(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	assert_non_null(d);
	size_t sl = strlen(suffix);
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		n += l >= sl && strcmp(e->d_name + l - sl, suffix) == 0;
	}
	closedir(d);
	return n;
}

/* One key updated over and over (a group committing one partition):
 * every cleaned segment but the first and the one with the latest value
 * is left empty, and is deleted, files and all, so the log stays small
 * however long the commits go on. */
static void test_clean_deletes_segments_left_empty(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log *log = tc_open(dir, NULL);
	static struct tc_recs m, want, got;
	m.n = 0;
	tc_fill(log, &m, 300, 1, T0);
	size_t before = log->nsegs;
	assert_true(before > 10);
	assert_int_equal(tc_count_suffix(dir, ".log"), (int)before);
	struct clean_config cc = tc_clean_cfg();
	int64_t first_dirty = 0, end = tc_active_base(log);
	assert_int_equal(tc_clean(log, &cc, &first_dirty, T0, NULL), KB_OK);
	/* first segment (empty, kept), the latest value's, the active one */
	assert_int_equal(log->nsegs, 3);
	assert_int_equal(log->segs[0].seg->size, 0);
	assert_int_equal(tc_count_suffix(dir, ".log"), 3);
	assert_int_equal(tc_count_suffix(dir, ".index"), 3);
	assert_int_equal(tc_count_suffix(dir, ".timeindex"), 3);
	tc_expect(&m, end, false, &want);
	tc_read_all(log, &got);
	tc_assert_same(&want, &got);
	tc_assert_indexes(log);
	log_close(log);
	log = tc_open(dir, NULL); /* the same from disk */
	assert_int_equal(log->nsegs, 3);
	tc_read_all(log, &got);
	tc_assert_same(&want, &got);
	log_close(log);
	tu_rmrf(dir);
}

static void test_clean_never_touches_active_segment(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log *log = tc_open(dir, NULL);
	tc_fill(log, NULL, 60, 2, T0);
	/* The active segment now holds several updates of the same keys. */
	const struct segment *act = log->segs[log->nsegs - 1].seg;
	assert_true(act->size > 0);
	size_t before_len;
	uint8_t *before = tu_read_all(act->path, &before_len);
	char *path = strdup(act->path);
	struct clean_config cc = tc_clean_cfg();
	int64_t fd = 0;
	assert_int_equal(tc_clean(log, &cc, &fd, T0, NULL), KB_OK);
	size_t after_len;
	uint8_t *after = tu_read_all(path, &after_len);
	assert_int_equal(after_len, before_len);
	assert_memory_equal(after, before, before_len);
	assert_ptr_equal(log->segs[log->nsegs - 1].seg, act); /* same struct */
	free(before);
	free(after);
	free(path);
	log_close(log);
	tu_rmrf(dir);
}

static void test_clean_respects_min_compaction_lag(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log *log = tc_open(dir, NULL);
	static struct tc_recs m, want, got;
	m.n = 0;
	tc_fill(log, &m, 40, 3, T0);        /* old segments */
	int64_t young = log_end_offset(log);
	tc_fill(log, &m, 80, 3, T0 + 10000); /* young segments */
	struct clean_config cc = tc_clean_cfg();
	cc.min_compaction_lag_ms = 5000;
	struct clean_sections s;
	clean_sections_find(log, &cc, (struct clean_at){0, T0 + 12000}, &s);
	assert_true(s.first_uncleanable <= young);
	assert_true(s.first_uncleanable > 0);
	int64_t fd = 0;
	assert_int_equal(tc_clean(log, &cc, &fd, T0 + 12000, NULL), KB_OK);
	assert_int_equal(fd, s.first_uncleanable);
	tc_expect(&m, s.first_uncleanable, false, &want);
	tc_read_all(log, &got);
	tc_assert_same(&want, &got); /* the young duplicates are all there */
	log_close(log);
	tu_rmrf(dir);
}

static void test_clean_respects_min_cleanable_dirty_ratio(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log *log = tc_open(dir, NULL);
	tc_fill(log, NULL, 200, 50, T0);
	struct clean_config cc = tc_clean_cfg();
	int64_t fd = 0;
	assert_int_equal(tc_clean(log, &cc, &fd, T0, NULL), KB_OK);
	/* A little new dirty data: far below a ratio of 0.5. */
	tc_fill(log, NULL, 12, 50, T0);
	struct clean_sections s;
	cc.min_cleanable_dirty_ratio = 0.5;
	clean_sections_find(log, &cc, (struct clean_at){fd, T0}, &s);
	assert_true(s.dirty_bytes > 0);
	assert_true(s.dirty_ratio < 0.5);
	int64_t fd2 = fd;
	assert_int_equal(tc_clean(log, &cc, &fd2, T0, NULL), KB_ERR_NOTFOUND);
	assert_int_equal(fd2, fd);
	cc.min_cleanable_dirty_ratio = 0.01;
	assert_int_equal(tc_clean(log, &cc, &fd2, T0, NULL), KB_OK);
	assert_true(fd2 > fd);
	/* Nothing dirty: nothing to do whatever the ratio. */
	cc.min_cleanable_dirty_ratio = 0.0;
	assert_int_equal(tc_clean(log, &cc, &fd2, T0, NULL), KB_ERR_NOTFOUND);
	log_close(log);
	tu_rmrf(dir);
}

/* ---- Invariant 4 (10_swap.c, 1 and 2): the swap is crash safe ---- */

/* The hook of the child process: a crash (no cleanup at all) at one step. */
static void tc_crash_at(enum clean_swap_step step, void *ctx)
{
	if (step == *(enum clean_swap_step *)ctx)
		_exit(0);
}

/* In a child: open the log, clean, "crash" at step. */
static void tc_clean_and_crash(const char *dir, enum clean_swap_step step)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct log *log = tc_open(dir, NULL);
		struct clean_config cc = tc_clean_cfg();
		struct clean_pass *p;
		bool done = false;
		if (clean_pass_new(log, &cc, (struct clean_at){0, T0}, &p) == KB_OK) {
			clean_pass_set_swap_hook(p, tc_crash_at, &step);
			while (!done && clean_pass_step(p, log, &done) == KB_OK)
				;
		}
		_exit(1); /* the step never came */
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_clean_crash_at_each_swap_step_loses_nothing(void **state)
{
	(void)state;
	static struct tc_recs m, want, got;
	for (int step = CLEAN_STEP_CLEANED_WRITTEN; step <= CLEAN_STEP_DONE;
	     step++) {
		for (int trusted = 0; trusted < 2; trusted++) {
			char *dir = tu_tmpdir();
			struct log *log = tc_open(dir, NULL);
			m.n = 0;
			tc_fill(log, &m, 120, 5, T0);
			int64_t end = tc_active_base(log), leo = log_end_offset(log);
			log_close(log);
			tc_clean_and_crash(dir, (enum clean_swap_step)step);
			/* Reopen as after kill -9: no clean-shutdown marker;
			 * trusted: a recovery point past every segment. */
			struct log_recovery_hint h = {trusted ? leo : 0, false, 0};
			log = tc_open(dir, &h);
			assert_false(tc_has_suffix(dir, ".cleaned"));
			assert_false(tc_has_suffix(dir, ".swap"));
			tc_assert_indexes(log);
			tc_read_all(log, &got);
			/* Every latest value is there; older ones may be too
			 * (segments not swapped yet), never anything else. */
			tc_expect(&m, end, false, &want);
			for (int i = 0, j = 0; i < want.n; i++, j++) {
				while (j < got.n && got.r[j].offset < want.r[i].offset)
					j++;
				assert_true(j < got.n);
				assert_int_equal(got.r[j].offset, want.r[i].offset);
				assert_string_equal(got.r[j].value, want.r[i].value);
			}
			assert_true(got.n <= m.n);
			/* And a pass after the restart finishes the job. */
			struct clean_config cc = tc_clean_cfg();
			int64_t fd = 0;
			assert_int_equal(tc_clean(log, &cc, &fd, T0, NULL), KB_OK);
			tc_read_all(log, &got);
			tc_assert_same(&want, &got);
			log_close(log);
			tu_rmrf(dir);
		}
	}
}

/* ---- Invariant 4 (10_swap.c, Invariant 2): indexes after cleaning ---- */

static void test_clean_indexes_consistent_after_cleaning(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log *log = tc_open(dir, NULL);
	static struct tc_recs m, got;
	m.n = 0;
	tc_fill(log, &m, 300, 40, T0);
	struct clean_config cc = tc_clean_cfg();
	int64_t fd = 0;
	assert_int_equal(tc_clean(log, &cc, &fd, T0, NULL), KB_OK);
	tc_assert_indexes(log);
	tc_read_all(log, &got);
	/* Every surviving offset is found by a read starting at it. */
	for (int i = 0; i < got.n; i++) {
		struct log_read_result rr;
		assert_int_equal(log_read(log, TU_READ(got.r[i].offset, 1, INT64_MAX, true), &rr),
				 KB_OK);
		assert_true(rr.first_offset <= got.r[i].offset);
		assert_true(rr.next_offset > got.r[i].offset);
	}
	/* The indexes on disk are the ones a rebuild writes. */
	log_close(log);
	struct log_recovery_hint clean = {0, true, 0};
	log = tc_open(dir, &clean);
	tc_assert_indexes(log);
	log_close(log);
	tu_rmrf(dir);
}

/* ---- Compressed batches ---- */

/* Append the batch of recs gzip-compressed (attributes = 1). */
static void tc_put_gzip(struct log *log, const struct tu_record *recs, int n)
{
	static uint8_t plain[1 << 16];
	size_t len = tu_batch_build(plain, sizeof plain, 0, recs, n);
	z_stream zs;
	memset(&zs, 0, sizeof zs);
	assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8,
				      Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = plain + 61;
	zs.avail_in = (uInt)(len - 61);
	zs.next_out = tc_buf + 61;
	zs.avail_out = (uInt)(sizeof tc_buf - 61);
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	size_t clen = 61 + zs.total_out;
	deflateEnd(&zs);
	memcpy(tc_buf, plain, 61);
	kb_put_be32(tc_buf + SEG_OFF_BATCH_LENGTH, (uint32_t)(clen - 12));
	kb_put_be16(tc_buf + SEG_OFF_ATTRIBUTES, 1);
	kb_put_be32(tc_buf + SEG_OFF_CRC, tu_crc32c(tc_buf + 21, clen - 21));
	assert_int_equal(log_append(log, TU_APPEND(tc_buf, clen, -1, T0), NULL),
			 KB_OK);
}

static void test_clean_reads_gzip_batches(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log *log = tc_open(dir, NULL);
	struct tu_record r1[3] = {{"a", "1", T0}, {"b", "1", T0}, {"c", "1", T0}};
	struct tu_record r2[2] = {{"x", "1", T0}, {"y", "1", T0}};
	tc_put_gzip(log, r1, 3); /* offsets 0-2: "a" is superseded */
	tc_put_gzip(log, r2, 2); /* offsets 3-4: nothing superseded */
	tc_put(log, NULL, "a", "2", T0); /* offset 5 */
	tc_fill(log, NULL, 40, 40, T0);
	struct clean_config cc = tc_clean_cfg();
	int64_t fd = 0;
	assert_int_equal(tc_clean(log, &cc, &fd, T0, NULL), KB_OK);
	static struct tc_recs got;
	tc_read_all(log, &got);
	assert_int_equal(got.r[0].offset, 1);
	assert_string_equal(got.r[0].key, "b");
	assert_int_equal(got.r[1].offset, 2);
	assert_int_equal(got.r[2].offset, 3);
	assert_int_equal(got.r[4].offset, 5);
	/* The first batch lost "a": rewritten uncompressed. The second lost
	 * nothing: still gzip, byte for byte. */
	struct seg_batch b1, b2;
	assert_int_equal(seg_read_batch(log->segs[0].seg, 0, &b1), KB_OK);
	assert_int_equal(b1.attributes & SEG_ATTR_COMPRESSION_MASK, 0);
	assert_int_equal(seg_read_batch(log->segs[0].seg, seg_batch_size(&b1),
					&b2), KB_OK);
	assert_int_equal(b2.attributes & SEG_ATTR_COMPRESSION_MASK, 1);
	log_close(log);
	tu_rmrf(dir);
}

static void test_clean_keeps_other_codecs_whole(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log *log = tc_open(dir, NULL);
	/* A "snappy" batch (codec 2): samsa has no snappy, so it must be
	 * kept exactly as it is, whatever its blob holds. */
	struct tu_record r[2] = {{"a", "1", T0}, {"b", "1", T0}};
	size_t len = tu_batch_build(tc_buf, sizeof tc_buf, 0, r, 2);
	kb_put_be16(tc_buf + SEG_OFF_ATTRIBUTES, 2);
	kb_put_be32(tc_buf + SEG_OFF_CRC, tu_crc32c(tc_buf + 21, len - 21));
	static uint8_t orig[1 << 12];
	assert_int_equal(log_append(log, TU_APPEND(tc_buf, len, -1, T0), NULL),
			 KB_OK);
	memcpy(orig, tc_buf, len); /* as stored: offset and epoch set */
	tc_put(log, NULL, "a", "2", T0);
	tc_fill(log, NULL, 40, 40, T0);
	struct clean_config cc = tc_clean_cfg();
	int64_t fd = 0;
	struct clean_stats st;
	static struct tu_log_capture cap;
	kb_log_set_level(KB_LOG_INFO);
	tu_log_capture_start(&cap);
	assert_int_equal(tc_clean(log, &cc, &fd, T0, &st), KB_OK);
	tu_log_capture_stop();
	kb_log_set_level(KB_LOG_WARN);
	assert_int_equal(st.batches_kept_whole, 1);
	assert_non_null(strstr(cap.text, "codec 2"));
	assert_non_null(strstr(cap.text, "kept as they are"));
	size_t got;
	static uint8_t now[1 << 12];
	assert_int_equal(seg_read(log->segs[0].seg, 0, now, len, &got), KB_OK);
	assert_int_equal(got, len);
	assert_memory_equal(now, orig, len);
	log_close(log);
	tu_rmrf(dir);
}

static void test_clean_drops_records_without_key(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log *log = tc_open(dir, NULL);
	struct tu_record r[2] = {{NULL, "no key", T0}, {"a", "1", T0}};
	size_t len = tu_batch_build(tc_buf, sizeof tc_buf, 0, r, 2);
	assert_int_equal(log_append(log, TU_APPEND(tc_buf, len, -1, T0), NULL),
			 KB_OK);
	tc_fill(log, NULL, 40, 40, T0);
	struct clean_config cc = tc_clean_cfg();
	int64_t fd = 0;
	assert_int_equal(tc_clean(log, &cc, &fd, T0, NULL), KB_OK);
	static struct tc_recs got;
	tc_read_all(log, &got);
	assert_int_equal(got.r[0].offset, 1);
	assert_string_equal(got.r[0].key, "a");
	log_close(log);
	tu_rmrf(dir);
}

/* ---- Invariant 5 and the Interface rules of a pass in steps ---- */

static void test_clean_pass_step_stays_within_its_budget(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log *log = tc_open(dir, NULL);
	tc_fill(log, NULL, 2000, 7, T0);
	struct clean_config cc = tc_clean_cfg();
	struct clean_pass *p;
	assert_int_equal(clean_pass_new(log, &cc, (struct clean_at){0, T0}, &p),
			 KB_OK);
	assert_int_equal(clean_pass_stats(p)->segments_mapped, 0);
	assert_int_equal(clean_pass_end(p), -1); /* nothing mapped yet */
	bool done = false;
	while (!done) {
		assert_int_equal(clean_pass_step(p, log, &done), KB_OK);
		clean_pass_check(p);
		assert_true(clean_pass_stats(p)->work_max_step <=
			    CLEAN_STEP_WORK + 256);
	}
	assert_int_equal(clean_pass_end(p), tc_active_base(log));
	assert_true(clean_pass_stats(p)->segments > 0);
	clean_pass_free(p);
	tc_assert_indexes(log);
	log_close(log);
	tu_rmrf(dir);
}

/* Values of the big gzip batches: 60,000 bytes of 'x'. */
#define TC_BIG_VALUE 60000

/* Append one gzip batch of n records "b<i>" = TC_BIG_VALUE bytes of 'x':
 * its records area inflates to n * 60 kB, from a few hundred times less. */
static void tc_put_big_gzip(struct log *log, int n, int64_t ts)
{
	size_t cap = (size_t)n * (TC_BIG_VALUE + 64) + 4096;
	uint8_t *plain = malloc(cap), *gz = malloc(cap / 4);
	char *val = malloc(TC_BIG_VALUE + 1);
	static char keys[2048][16];
	static struct tu_record r[2048];
	assert_true(plain && gz && val && n <= 2048);
	memset(val, 'x', TC_BIG_VALUE);
	val[TC_BIG_VALUE] = 0;
	for (int i = 0; i < n; i++) {
		snprintf(keys[i], sizeof keys[i], "b%d", i);
		r[i] = (struct tu_record){keys[i], val, ts};
	}
	size_t len = tu_batch_build(plain, cap, 0, r, n);
	z_stream zs;
	memset(&zs, 0, sizeof zs);
	assert_int_equal(deflateInit2(&zs, 1, Z_DEFLATED, 16 + MAX_WBITS, 8,
				      Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = plain + 61;
	zs.avail_in = (uInt)(len - 61);
	zs.next_out = gz + 61;
	zs.avail_out = (uInt)(cap / 4 - 61);
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	size_t clen = 61 + zs.total_out;
	deflateEnd(&zs);
	memcpy(gz, plain, 61);
	kb_put_be32(gz + SEG_OFF_BATCH_LENGTH, (uint32_t)(clen - 12));
	kb_put_be16(gz + SEG_OFF_ATTRIBUTES, 1);
	kb_put_be32(gz + SEG_OFF_CRC, tu_crc32c(gz + 21, clen - 21));
	assert_int_equal(log_append(log, TU_APPEND(gz, clen, -1, ts), NULL), KB_OK);
	free(plain);
	free(gz);
	free(val);
}

/* INVARIANT 5 against a gzip bomb: a batch inflating to 63 MiB is
 * cleaned in steps of at most CLEAN_STEP_WORK bytes inflated (never in
 * one go), and one inflating past 64 MiB is kept whole, also in steps.
 * The first batch loses b0: rebuilt, 63 MiB copied in steps too. */
static void test_clean_step_inflates_at_most_its_budget(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config lc = tc_log_cfg();
	lc.segment_bytes = 16 << 20;
	lc.segment_ms = 1000; /* each append below rolls a segment */
	struct log *log = NULL;
	assert_int_equal(log_open(dir, &lc, NULL, &log), KB_OK);
	tc_put_big_gzip(log, 1100, T0); /* 0-1099: 63 MiB inflated */
	tc_put_big_gzip(log, 1150, T0 + 2000); /* past the 64 MiB bound */
	tc_put(log, NULL, "b0", "new", T0 + 4000); /* supersedes offset 0 */
	tc_put(log, NULL, "z", "z", T0 + 6000);
	struct clean_config cc = tc_clean_cfg();
	struct clean_pass *p;
	assert_int_equal(log->nsegs, 4);
	assert_int_equal(clean_pass_new(log, &cc, (struct clean_at){0, T0}, &p),
			 KB_OK);
	bool done = false;
	int steps = 0;
	static struct tu_log_capture cap;
	tu_log_capture_start(&cap);
	while (!done) {
		uint64_t before = clean_pass_stats(p)->bytes_inflated;
		assert_int_equal(clean_pass_step(p, log, &done), KB_OK);
		clean_pass_check(p);
		assert_true(clean_pass_stats(p)->bytes_inflated - before <=
			    CLEAN_STEP_WORK);
		assert_true(clean_pass_stats(p)->work_max_step <=
			    CLEAN_STEP_WORK + 256);
		steps++;
	}
	tu_log_capture_stop();
	assert_non_null(strstr(cap.text, "inflates beyond 64 MiB"));
	const struct clean_stats *st = clean_pass_stats(p);
	/* Each batch was inflated (map, then rewrite) in many steps. */
	assert_true(st->bytes_inflated > (uint64_t)2 * 63 * (1 << 20));
	assert_true(steps > 3 * 63);
	assert_int_equal(st->batches_kept_whole, 1);
	clean_pass_free(p);
	/* The first batch lost b0: rebuilt, uncompressed, 1,099 records at
	 * their offsets; the second is still gzip, as it was. */
	struct seg_batch b;
	assert_int_equal(seg_read_batch(log->segs[0].seg, 0, &b), KB_OK);
	assert_int_equal(b.attributes & SEG_ATTR_COMPRESSION_MASK, 0);
	assert_int_equal(b.records_count, 1099);
	assert_int_equal(b.base_offset, 0);
	assert_int_equal(seg_read_batch(log->segs[1].seg, 0, &b), KB_OK);
	assert_int_equal(b.attributes & SEG_ATTR_COMPRESSION_MASK, 1);
	assert_int_equal(b.records_count, 1150);
	tc_assert_indexes(log);
	log_close(log);
	/* What was written is whole: recovery from scratch keeps it all. */
	assert_int_equal(log_open(dir, &lc, NULL, &log), KB_OK);
	assert_int_equal(seg_read_batch(log->segs[0].seg, 0, &b), KB_OK);
	assert_int_equal(b.records_count, 1099);
	log_close(log);
	tu_rmrf(dir);
}

static void test_clean_map_budget_maps_at_least_one_segment(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log *log = tc_open(dir, NULL);
	tc_fill(log, NULL, 200, 7, T0);
	struct clean_config cc = tc_clean_cfg();
	cc.map_max_bytes = 1;
	int64_t fd = 0;
	struct clean_stats st;
	assert_int_equal(tc_clean(log, &cc, &fd, T0, &st), KB_OK);
	assert_int_equal(st.segments_mapped, 1);
	assert_int_equal(fd, log->segs[1].seg->base_offset);
	log_close(log);
	tu_rmrf(dir);
}

static void test_clean_pass_goes_on_after_appends_and_retention(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log *log = tc_open(dir, NULL);
	static struct tc_recs m;
	m.n = 0;
	tc_fill(log, &m, 200, 7, T0);
	struct clean_config cc = tc_clean_cfg();
	struct clean_pass *p;
	bool done = false;
	assert_int_equal(clean_pass_new(log, &cc, (struct clean_at){0, T0}, &p),
			 KB_OK);
	assert_int_equal(clean_pass_step(p, log, &done), KB_OK);
	/* Between two steps: DeleteRecords drops the first two segments,
	 * and appends roll new ones. */
	assert_int_equal(log_advance_start_offset(log,
			 log->segs[2].seg->base_offset), KB_OK);
	tc_fill(log, &m, 50, 7, T0);
	while (!done)
		assert_int_equal(clean_pass_step(p, log, &done), KB_OK);
	clean_pass_free(p);
	tc_assert_indexes(log);
	static struct tc_recs got;
	tc_read_all(log, &got);
	assert_true(got.n > 0);
	log_close(log);
	tu_rmrf(dir);
}

static void test_clean_pass_dropped_when_log_truncated(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log *log = tc_open(dir, NULL);
	tc_fill(log, NULL, 200, 7, T0);
	struct clean_config cc = tc_clean_cfg();
	struct clean_pass *p;
	bool done = false;
	assert_int_equal(clean_pass_new(log, &cc, (struct clean_at){0, T0}, &p),
			 KB_OK);
	while (clean_pass_end(p) < 0) /* map it all */
		assert_int_equal(clean_pass_step(p, log, &done), KB_OK);
	assert_int_equal(log_truncate_to(log, clean_pass_end(p) - 1), KB_OK);
	assert_int_equal(clean_pass_step(p, log, &done), KB_ERR_AGAIN);
	clean_pass_free(p);
	log_close(log);
	tu_rmrf(dir);
}

/* ---- The cleaner of a broker (10_cleaner.c) ---- */

static void test_clean_tick_cleans_only_compacted_topics(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct topic_broker_config bc;
	topic_broker_config_defaults(&bc);
	snprintf(bc.log_dir, sizeof bc.log_dir, "%s", dir);
	struct topic_manager *tm;
	assert_int_equal(topic_manager_open(&bc, NULL, &tm), KB_OK);
	struct topic_config_kv kv[] = {{"cleanup.policy", "compact"},
				       {"segment.bytes", "1024"},
				       {"min.cleanable.dirty.ratio", "0.01"}};
	assert_int_equal(topic_create(tm, TOPIC_REQ("table", 1, kv, 3), NULL),
			 KB_OK);
	kv[0].value = "delete";
	assert_int_equal(topic_create(tm, TOPIC_REQ("history", 1, kv, 3), NULL),
			 KB_OK);
	struct topic_partition *t = topic_partition_find(tm, "table", 0);
	struct topic_partition *h = topic_partition_find(tm, "history", 0);
	tc_fill(t->log, NULL, 200, 5, T0);
	tc_fill(h->log, NULL, 200, 5, T0);
	uint64_t h_before = 0, t_before = 0;
	for (size_t i = 0; i < h->log->nsegs; i++)
		h_before += h->log->segs[i].seg->size;
	for (size_t i = 0; i < t->log->nsegs; i++)
		t_before += t->log->segs[i].seg->size;
	struct clean_broker_config cc;
	clean_broker_config_defaults(&cc);
	struct cleaner *c;
	assert_int_equal(clean_open(tm, NULL, &cc, &c), KB_OK);
	for (int i = 0; i < 100; i++) {
		clean_tick(c, T0);
		clean_check(c);
	}
	uint64_t h_after = 0, t_after = 0;
	for (size_t i = 0; i < h->log->nsegs; i++)
		h_after += h->log->segs[i].seg->size;
	for (size_t i = 0; i < t->log->nsegs; i++)
		t_after += t->log->segs[i].seg->size;
	assert_int_equal(h_after, h_before);
	assert_true(t_after < t_before / 4);
	clean_close(c);
	topic_manager_close(tm);
	tu_rmrf(dir);
}

/* A segment deleted by DeleteRecords while the pass is in the middle of
 * rewriting it (its copy half written, over many steps): the walk drops
 * it and its .cleaned file, and the pass goes on to the next segment. */
static void test_clean_segment_deleted_mid_rewrite_is_dropped(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config lc = tc_log_cfg();
	lc.segment_bytes = 16 << 20;
	lc.segment_ms = 1000;
	struct log *log = NULL;
	assert_int_equal(log_open(dir, &lc, NULL, &log), KB_OK);
	tc_put_big_gzip(log, 200, T0);        /* 0-199: 12 MB inflated */
	tc_put_big_gzip(log, 200, T0 + 2000); /* 200-399: the same keys */
	tc_put(log, NULL, "z", "z", T0 + 4000);
	tc_put(log, NULL, "z", "z", T0 + 6000);
	assert_int_equal(log->nsegs, 4);
	int64_t second = log->segs[1].seg->base_offset;
	struct clean_config cc = tc_clean_cfg();
	struct clean_pass *p;
	assert_int_equal(clean_pass_new(log, &cc, (struct clean_at){0, T0},
					&p), KB_OK);
	bool done = false;
	int steps = 0;
	while (!tc_has_suffix(dir, ".cleaned")) {
		assert_int_equal(clean_pass_step(p, log, &done), KB_OK);
		assert_false(done);
		assert_true(++steps < 1000);
	}
	assert_true(clean_pass_end(p) >= 0); /* mapped, now rewriting 0 */
	assert_int_equal(log_advance_start_offset(log, second), KB_OK);
	while (!done) {
		assert_int_equal(clean_pass_step(p, log, &done), KB_OK);
		clean_pass_check(p);
	}
	assert_false(tc_has_suffix(dir, ".cleaned"));
	assert_int_equal(log->segs[0].seg->base_offset, second);
	struct seg_batch b; /* segment 1 lost nothing: its keys are latest */
	assert_int_equal(seg_read_batch(log->segs[0].seg, 0, &b), KB_OK);
	assert_int_equal(b.records_count, 200);
	assert_int_equal(b.attributes & SEG_ATTR_COMPRESSION_MASK, 1);
	clean_pass_free(p);
	tc_assert_indexes(log);
	log_close(log);
	tu_rmrf(dir);
}

/* Flip one byte of a file in place, as a damaged disk would. */
static void tc_flip_byte(const char *path, off_t at)
{
	int fd = open(path, O_RDWR);
	uint8_t b;
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, at), 1);
	b ^= 0xff;
	assert_int_equal(pwrite(fd, &b, 1, at), 1);
	close(fd);
}

static uint64_t tc_log_bytes(const struct log *log)
{
	uint64_t n = 0;
	for (size_t i = 0; i < log->nsegs; i++)
		n += log->segs[i].seg->size;
	return n;
}

/* KAFKA: markPartitionUncleanable. A corrupt batch in one compacted
 * partition marks it uncleanable, said once; the others are still
 * cleaned, at the next tick rather than after log.cleaner.backoff.ms. */
static void test_clean_corrupt_partition_does_not_stop_the_others(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct topic_broker_config bc;
	topic_broker_config_defaults(&bc);
	snprintf(bc.log_dir, sizeof bc.log_dir, "%s", dir);
	struct topic_manager *tm;
	assert_int_equal(topic_manager_open(&bc, NULL, &tm), KB_OK);
	struct topic_config_kv kv[] = {{"cleanup.policy", "compact"},
				       {"segment.bytes", "1024"},
				       {"min.cleanable.dirty.ratio", "0.01"}};
	assert_int_equal(topic_create(tm, TOPIC_REQ("good", 1, kv, 3), NULL),
			 KB_OK);
	assert_int_equal(topic_create(tm, TOPIC_REQ("bad", 1, kv, 3), NULL), KB_OK);
	struct topic_partition *g = topic_partition_find(tm, "good", 0);
	struct topic_partition *b = topic_partition_find(tm, "bad", 0);
	struct clean_broker_config cc;
	clean_broker_config_defaults(&cc);
	struct cleaner *c;
	assert_int_equal(clean_open(tm, NULL, &cc, &c), KB_OK);
	/* "good" is cleaned once, so its dirty ratio is lower than bad's
	 * (all dirty): the cleaner picks "bad" first. */
	tc_fill(g->log, NULL, 200, 5, T0);
	for (int i = 0; i < 50; i++)
		clean_tick(c, T0);
	tc_fill(g->log, NULL, 200, 5, T0);
	tc_fill(b->log, NULL, 200, 5, T0);
	tc_flip_byte(b->log->segs[0].seg->path, SEG_BATCH_HEADER_LEN + 3);
	uint64_t g_before = tc_log_bytes(g->log);
	uint64_t b_before = tc_log_bytes(b->log);
	static struct tu_log_capture cap;
	tu_log_capture_start(&cap);
	for (int i = 0; i < 50; i++)
		clean_tick(c, T0);
	for (int i = 0; i < 50; i++) /* past log.cleaner.backoff.ms */
		clean_tick(c, T0 + CLEAN_DEFAULT_BACKOFF_MS + i);
	tu_log_capture_stop();
	assert_true(tc_log_bytes(g->log) < g_before / 2);
	assert_int_equal(tc_log_bytes(b->log), b_before);
	const char *said = "bad-0 marked uncleanable";
	const char *first = strstr(cap.text, said);
	assert_non_null(first); /* said once */
	assert_null(strstr(first + strlen(said), said));
	struct clean_uncleanable u;
	clean_uncleanable(c, T0, &u);
	assert_int_equal(u.partitions, 1);
	assert_true(u.bytes > 0);
	clean_close(c);
	topic_manager_close(tm);
	tu_rmrf(dir);
}

int main(void)
{
	tu_log_quiet(); /* a passing run prints no log lines */
	kb_log_set_level(KB_LOG_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean_keeps_latest_value_per_key_at_its_offset),
		cmocka_unit_test(test_clean_batch_keeps_base_offset_and_producer_fields),
		cmocka_unit_test(test_clean_tombstone_removed_only_after_delete_retention),
		cmocka_unit_test(test_clean_never_touches_active_segment),
		cmocka_unit_test(test_clean_deletes_segments_left_empty),
		cmocka_unit_test(test_clean_respects_min_compaction_lag),
		cmocka_unit_test(test_clean_respects_min_cleanable_dirty_ratio),
		cmocka_unit_test(test_clean_crash_at_each_swap_step_loses_nothing),
		cmocka_unit_test(test_clean_indexes_consistent_after_cleaning),
		cmocka_unit_test(test_clean_reads_gzip_batches),
		cmocka_unit_test(test_clean_keeps_other_codecs_whole),
		cmocka_unit_test(test_clean_drops_records_without_key),
		cmocka_unit_test(test_clean_pass_step_stays_within_its_budget),
		cmocka_unit_test(test_clean_step_inflates_at_most_its_budget),
		cmocka_unit_test(test_clean_segment_deleted_mid_rewrite_is_dropped),
		cmocka_unit_test(test_clean_map_budget_maps_at_least_one_segment),
		cmocka_unit_test(test_clean_pass_goes_on_after_appends_and_retention),
		cmocka_unit_test(test_clean_pass_dropped_when_log_truncated),
		cmocka_unit_test(test_clean_tick_cleans_only_compacted_topics),
		cmocka_unit_test(test_clean_corrupt_partition_does_not_stop_the_others),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
