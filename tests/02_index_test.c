/* SPDX-License-Identifier: MIT */
/*
 * Tests for chapter 02 — index. Expected index bytes are built by hand
 * from Kafka's entry layout (OffsetIndex: int32 relative offset, int32
 * position; TimeIndex: int64 timestamp, int32 relative offset, all
 * big-endian) with the test helper tu_be, never with samsa's own code.
 * Segments are filled with spec-built batches from tu_batch_build.
 */
#include <errno.h>
#include <inttypes.h>

#include "testutil.h"
#include "01_segment.h"
#include "02_index.h"

#define BATCH_CAP 16384
#define LOG_BATCHES 500 /* batches in the rebuild tests' segment */

/* ---- Helpers ---- */

/* Call-site shorthands for chapter 02's small structs (block lifetime). */
#define IFILE(dir, base, kind) ((struct idx_file){(dir), (base), (kind)})
#define ICFG(max_bytes, interval) \
	(&(struct idx_config){(max_bytes), (interval)})

/* "<dir>/<name>" in one of two rotating static buffers. */
static const char *path_in(const char *dir, const char *name)
{
	static char bufs[2][4096];
	static int k;
	k ^= 1;
	int n = snprintf(bufs[k], sizeof bufs[k], "%s/%s", dir, name);
	assert_true(n > 0 && (size_t)n < sizeof bufs[k]);
	return bufs[k];
}

#define INDEX0 "00000000000000000000.index"
#define TIMEINDEX0 "00000000000000000000.timeindex"

/* One hand-built .index entry (Kafka's OffsetIndex layout). */
static void put_offset_entry(uint8_t *p, int32_t rel, int32_t pos)
{
	tu_be(p, (uint32_t)rel, 4);
	tu_be(p + 4, (uint32_t)pos, 4);
}

/* One hand-built .timeindex entry (Kafka's TimeIndex layout). */
static void put_time_entry(uint8_t *p, int64_t ts, int32_t rel)
{
	tu_be(p, (uint64_t)ts, 8);
	tu_be(p + 8, (uint32_t)rel, 4);
}

static struct idx *open_idx(const char *dir, int64_t base, enum idx_kind k,
			    size_t max_bytes)
{
	struct idx *ix = NULL;
	assert_int_equal(idx_open(IFILE(dir, base, k), max_bytes, &ix), KB_OK);
	return ix;
}

/* Xorshift64: deterministic pseudo-random numbers. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Records in batch i of the varied log, and record j's timestamp: mostly
 * growing, sometimes older than the max so far, sometimes all -1 (no
 * timestamp), so the time index sees every case. */
static int varied_count(int i) { return 1 + (i * 7) % 5; }

static int64_t varied_ts(int i, int j)
{
	if (i % 13 == 6)
		return -1;
	return 1000000 + (int64_t)i * 10 + j - (i % 7 == 3 ? 700 : 0);
}

/* The largest timestamp in batches 0..i-1 (tie batches add nothing new,
 * so the other batches decide it). */
static int64_t varied_max_before(int i)
{
	int64_t max = -1;
	for (int k = 0; k < i; k++)
		if (k % 11 != 5)
			max = KB_MAX(max, varied_ts(k, varied_count(k) - 1));
	return max;
}

/* Batch i of the varied log at base: 1..5 records of varying size. Every
 * 11th batch ties the max so far exactly: a tie does not move the offset
 * of the max timestamp (seg_append and the rebuild both need ">"). */
static size_t build_varied(uint8_t *buf, int i, int64_t base)
{
	static char vals[5][1600];
	struct tu_record recs[5];
	int n = varied_count(i);
	int64_t tie = i % 11 == 5 ? varied_max_before(i) : 0;
	for (int j = 0; j < n; j++) {
		size_t len = (size_t)((i * 131 + j * 57) % 1500) + 1;
		memset(vals[j], 'a' + (i + j) % 26, len);
		vals[j][len] = '\0';
		recs[j] = (struct tu_record){j % 2 ? "key" : NULL, vals[j],
					     i % 11 == 5 ? tie : varied_ts(i, j)};
	}
	return tu_batch_build(buf, BATCH_CAP, base, recs, n);
}

/* A segment at base 0 in dir with its indexes, filled by appends. */
struct fixture {
	char *dir;
	struct segment *seg;
	struct idx_set set;
	int batches;
	uint64_t pos[LOG_BATCHES + 1]; /* pos[i]: start of batch i */
	int64_t last[LOG_BATCHES];     /* last offset of batch i */
};

/* Append batch i (built by build_varied) to the segment, and index it
 * unless index is false. */
static void append_one(struct fixture *f, int i, bool index)
{
	uint8_t buf[BATCH_CAP];
	size_t len = build_varied(buf, i, f->seg->next_offset);
	struct seg_batch b;
	assert_int_equal(seg_batch_decode(buf, len, &b), KB_OK);
	uint64_t pos = f->seg->size;
	assert_int_equal(seg_append(f->seg, buf, len), KB_OK);
	if (index)
		assert_int_equal(idx_set_on_append(&f->set, f->seg, &b, pos),
				 KB_OK);
	f->pos[i] = pos;
	f->pos[i + 1] = f->seg->size;
	f->last[i] = seg_batch_last_offset(&b);
	f->batches = i + 1;
}

static void fixture_open(struct fixture *f, uint32_t interval)
{
	memset(f, 0, sizeof *f);
	f->dir = tu_tmpdir();
	assert_int_equal(seg_open(f->dir, 0, true, &f->seg), KB_OK);
	assert_int_equal(idx_set_open(&f->set, f->dir, 0,
				      ICFG(IDX_DEFAULT_MAX_BYTES, interval)),
			 KB_OK);
}

/* A fixture with n batches appended and indexed. */
static void fixture_build(struct fixture *f, int n, uint32_t interval)
{
	fixture_open(f, interval);
	for (int i = 0; i < n; i++)
		append_one(f, i, true);
}

static void fixture_close(struct fixture *f)
{
	idx_set_close(&f->set);
	if (f->seg)
		seg_close(f->seg);
	f->seg = NULL;
}

static void fixture_free(struct fixture *f)
{
	fixture_close(f);
	tu_rmrf(f->dir);
}

/* Reopen the segment (recovered, so next_offset is known) and its
 * indexes, as a broker restart would. */
static void fixture_reopen(struct fixture *f)
{
	assert_int_equal(seg_open(f->dir, 0, false, &f->seg), KB_OK);
	assert_int_equal(seg_recover(f->seg, 0, NULL), KB_OK);
	assert_int_equal(idx_set_open(&f->set, f->dir, 0,
				      ICFG(IDX_DEFAULT_MAX_BYTES,
					   IDX_DEFAULT_INTERVAL_BYTES)),
			 KB_OK);
}

/* The bytes of both index files of a sealed, closed fixture. */
struct saved {
	uint8_t *index, *timeindex;
	size_t index_len, timeindex_len;
};

static void save_files(const char *dir, struct saved *s)
{
	s->index = tu_read_all(path_in(dir, INDEX0), &s->index_len);
	s->timeindex = tu_read_all(path_in(dir, TIMEINDEX0), &s->timeindex_len);
	assert_non_null(s->index);
	assert_non_null(s->timeindex);
}

static void free_saved(struct saved *s)
{
	free(s->index);
	free(s->timeindex);
}

static void assert_file_is(const char *path, const uint8_t *want, size_t len)
{
	size_t got_len = 0;
	uint8_t *got = tu_read_all(path, &got_len);
	assert_non_null(got);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, want, len);
	free(got);
}

/* Build a sealed 500-batch segment, close it, save its index files. */
static void build_sealed(struct fixture *f, struct saved *s)
{
	fixture_build(f, LOG_BATCHES, IDX_DEFAULT_INTERVAL_BYTES);
	assert_int_equal(idx_set_seal(&f->set, f->seg), KB_OK);
	assert_true(f->set.offsets->entries > 100);
	assert_true(f->set.times->entries > 50);
	fixture_close(f);
	save_files(f->dir, s);
}

/* Reopen; idx_set_check must give want_rc (and a reason naming want_why);
 * rebuild as sealed; close; both files must equal the saved bytes. */
static void check_rebuild_identical(struct fixture *f, const struct saved *s,
				    int want_rc, const char *want_why)
{
	const char *why = NULL;
	fixture_reopen(f);
	assert_int_equal(idx_set_check(&f->set, f->seg, &why), want_rc);
	if (want_why) {
		assert_non_null(why);
		assert_non_null(strstr(why, want_why));
	}
	assert_int_equal(idx_set_rebuild(&f->set, f->seg, true), KB_OK);
	assert_int_equal(idx_set_check(&f->set, f->seg, &why), KB_OK);
	fixture_close(f);
	assert_file_is(path_in(f->dir, INDEX0), s->index, s->index_len);
	assert_file_is(path_in(f->dir, TIMEINDEX0), s->timeindex,
		       s->timeindex_len);
}

/* ---- File names, preallocation, byte layout ---- */

static void test_idx_open_names_files_like_kafka(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct idx_set s;
	assert_int_equal(idx_set_open(&s, dir, 0, ICFG(4096, 4096)), KB_OK);
	assert_true(tu_file_size(path_in(dir, INDEX0)) >= 0);
	assert_true(tu_file_size(path_in(dir, TIMEINDEX0)) >= 0);
	idx_set_close(&s);
	assert_int_equal(idx_set_open(&s, dir, 1234567, ICFG(4096, 4096)), KB_OK);
	assert_true(tu_file_size(path_in(dir,
		"00000000000001234567.index")) >= 0);
	assert_true(tu_file_size(path_in(dir,
		"00000000000001234567.timeindex")) >= 0);
	idx_set_close(&s);
	tu_rmrf(dir);
}

/* KAFKA: preallocated to segment.index.bytes rounded down to whole
 * entries while open; trimmed to the entries on close. */
static void test_idx_open_preallocates_and_close_trims(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct idx_set s;
	assert_int_equal(idx_set_open(&s, dir, 0, ICFG(IDX_DEFAULT_MAX_BYTES, 4096)),
			 KB_OK);
	assert_int_equal(tu_file_size(path_in(dir, INDEX0)), 10485760);
	assert_int_equal(tu_file_size(path_in(dir, TIMEINDEX0)), 10485756);
	assert_int_equal(s.offsets->max_entries, 1310720);
	assert_int_equal(s.times->max_entries, 873813);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(idx_append_offset(s.offsets, 10 * i, 100 * i),
				 KB_OK);
		assert_int_equal(idx_append_time(s.times, 50 + i, 10 * i),
				 KB_OK);
	}
	idx_set_close(&s);
	assert_int_equal(tu_file_size(path_in(dir, INDEX0)), 3 * 8);
	assert_int_equal(tu_file_size(path_in(dir, TIMEINDEX0)), 3 * 12);
	/* An odd max_bytes rounds down: 1000 -> 125 * 8, 83 * 12. */
	assert_int_equal(idx_set_open(&s, dir, 0, ICFG(1000, 4096)), KB_OK);
	assert_int_equal(tu_file_size(path_in(dir, INDEX0)), 1000);
	assert_int_equal(tu_file_size(path_in(dir, TIMEINDEX0)), 996);
	idx_set_close(&s);
	tu_rmrf(dir);
}

static void test_idx_open_rejects_max_bytes_below_one_entry(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct idx *ix = NULL;
	assert_int_equal(idx_open(IFILE(dir, 0, IDX_OFFSET), 7, &ix), KB_ERR_INVAL);
	assert_int_equal(idx_open(IFILE(dir, 0, IDX_TIME), 11, &ix), KB_ERR_INVAL);
	assert_null(ix);
	tu_rmrf(dir);
}

static void test_idx_append_offset_writes_kafka_layout(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct idx *ix = open_idx(dir, 100, IDX_OFFSET, IDX_DEFAULT_MAX_BYTES);
	assert_int_equal(idx_append_offset(ix, 103, 0), KB_OK);
	assert_int_equal(idx_append_offset(ix, 170, 4200), KB_OK);
	assert_int_equal(idx_append_offset(ix, 100 + 0x01020304, 0x7f0a0b0c),
			 KB_OK);
	uint8_t want[24];
	put_offset_entry(want, 3, 0);
	put_offset_entry(want + 8, 70, 4200);
	put_offset_entry(want + 16, 0x01020304, 0x7f0a0b0c);
	/* Flushed and still open: the file starts with the entries. */
	assert_int_equal(idx_flush(ix), KB_OK);
	size_t len = 0;
	uint8_t *got = tu_read_all(path_in(dir, "00000000000000000100.index"),
				   &len);
	assert_int_equal(len, IDX_DEFAULT_MAX_BYTES);
	assert_memory_equal(got, want, sizeof want);
	free(got);
	idx_close(ix);
	assert_file_is(path_in(dir, "00000000000000000100.index"), want,
		       sizeof want);
	tu_rmrf(dir);
}

static void test_idx_append_time_writes_kafka_layout(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct idx *ix = open_idx(dir, 100, IDX_TIME, IDX_DEFAULT_MAX_BYTES);
	assert_int_equal(idx_append_time(ix, 1700000000000, 103), KB_OK);
	assert_int_equal(idx_append_time(ix, 1700000000123, 170), KB_OK);
	assert_int_equal(idx_append_time(ix, 0x0102030405060708, 100 + 99999),
			 KB_OK);
	uint8_t want[36];
	put_time_entry(want, 1700000000000, 3);
	put_time_entry(want + 12, 1700000000123, 70);
	put_time_entry(want + 24, 0x0102030405060708, 99999);
	idx_close(ix);
	assert_file_is(path_in(dir, "00000000000000000100.timeindex"), want,
		       sizeof want);
	tu_rmrf(dir);
}

/* KAFKA: an existing file holds length / entry size entries. */
static void test_idx_open_reads_existing_entries(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	uint8_t bytes[24];
	put_offset_entry(bytes, 5, 300);
	put_offset_entry(bytes + 8, 9, 700);
	put_offset_entry(bytes + 16, 20, 1500);
	tu_write_all(path_in(dir, "00000000000000001000.index"), bytes, 24);
	struct idx *ix = open_idx(dir, 1000, IDX_OFFSET, 4096);
	assert_int_equal(ix->entries, 3);
	assert_int_equal(ix->torn_bytes, 0);
	struct idx_entry e = idx_entry_at(ix, 1);
	assert_int_equal(e.offset, 1009);
	assert_int_equal(e.position, 700);
	assert_int_equal(e.timestamp, -1);
	/* Appends go after the entries it found. */
	assert_int_equal(idx_append_offset(ix, 1020, 1600), KB_ERR_INVAL);
	assert_int_equal(idx_append_offset(ix, 1021, 1600), KB_OK);
	idx_close(ix);
	assert_int_equal(tu_file_size(path_in(dir,
		"00000000000000001000.index")), 32);
	tu_rmrf(dir);
}

/* KAFKA: a length that is not whole entries is a corrupt index. */
static void test_idx_open_records_torn_length_for_idx_check(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg;
	assert_int_equal(seg_open(dir, 0, true, &seg), KB_OK);
	uint8_t bytes[41] = {0};
	put_time_entry(bytes, 77, 0);
	tu_write_all(path_in(dir, TIMEINDEX0), bytes, sizeof bytes);
	struct idx *ix = open_idx(dir, 0, IDX_TIME, 4096);
	assert_int_equal(ix->entries, 3);
	assert_int_equal(ix->torn_bytes, 5);
	const char *why = NULL;
	assert_int_equal(idx_check(ix, seg, &why), KB_ERR_CORRUPT);
	assert_non_null(strstr(why, "multiple of the entry size"));
	/* A reset is a fresh, whole file again. */
	assert_int_equal(idx_reset(ix), KB_OK);
	assert_int_equal(idx_check(ix, seg, &why), KB_OK);
	idx_close(ix);
	seg_close(seg);
	tu_rmrf(dir);
}

/* ---- Append rules ---- */

static void test_idx_append_offset_requires_increasing_offsets(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct idx *ix = open_idx(dir, 0, IDX_OFFSET, 4096);
	assert_int_equal(idx_append_offset(ix, 10, 100), KB_OK);
	assert_int_equal(idx_append_offset(ix, 10, 200), KB_ERR_INVAL);
	assert_int_equal(idx_append_offset(ix, 5, 200), KB_ERR_INVAL);
	assert_int_equal(ix->entries, 1);
	assert_int_equal(idx_append_offset(ix, 11, 200), KB_OK);
	assert_int_equal(ix->entries, 2);
	idx_close(ix);
	tu_rmrf(dir);
}

/* INVARIANT 3: offset - base must be an int32 >= 0; positions an int32. */
static void test_idx_relative_offset_must_fit_int32(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	int64_t base = 1000;
	struct idx *ox = open_idx(dir, base, IDX_OFFSET, 4096);
	struct idx *tx = open_idx(dir, base, IDX_TIME, 4096);
	assert_int_equal(idx_append_offset(ox, base - 1, 0), KB_ERR_RANGE);
	assert_int_equal(idx_append_offset(ox, base, 0x80000000u), KB_ERR_RANGE);
	assert_int_equal(idx_append_offset(ox, base + INT32_MAX, 10), KB_OK);
	assert_int_equal(idx_append_offset(ox, base + INT32_MAX + 1LL, 20),
			 KB_ERR_RANGE);
	assert_int_equal(idx_entry_at(ox, 0).offset, base + INT32_MAX);
	assert_int_equal(idx_append_time(tx, 5, base - 1), KB_ERR_RANGE);
	assert_int_equal(idx_append_time(tx, 5, base + INT32_MAX + 1LL),
			 KB_ERR_RANGE);
	assert_int_equal(tx->entries, 0);
	assert_int_equal(idx_append_time(tx, 5, base + INT32_MAX), KB_OK);
	assert_int_equal(idx_entry_at(tx, 0).offset, base + INT32_MAX);
	idx_close(ox);
	idx_close(tx);
	tu_rmrf(dir);
}

/* KAFKA: TimeIndex.maybeAppend adds only a newer timestamp. */
static void test_idx_append_time_only_newer_timestamps(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct idx *tx = open_idx(dir, 0, IDX_TIME, 4096);
	assert_int_equal(idx_append_time(tx, -1, -1), KB_OK); /* no timestamp */
	assert_int_equal(tx->entries, 0);
	assert_int_equal(idx_append_time(tx, 100, 5), KB_OK);
	assert_int_equal(idx_append_time(tx, 100, 6), KB_OK); /* equal */
	assert_int_equal(idx_append_time(tx, 90, 7), KB_OK);  /* older */
	assert_int_equal(tx->entries, 1);
	assert_int_equal(idx_append_time(tx, 101, 5), KB_OK); /* same offset */
	assert_int_equal(tx->entries, 2);
	struct idx_entry e = idx_entry_at(tx, 1);
	assert_int_equal(e.timestamp, 101);
	assert_int_equal(e.offset, 5);
	assert_int_equal(e.position, 0);
	idx_close(tx);
	tu_rmrf(dir);
}

/* The time index never goes back in offsets (KAFKA: InvalidOffset). */
static void test_idx_append_time_rejects_smaller_offset(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct idx *tx = open_idx(dir, 0, IDX_TIME, 4096);
	assert_int_equal(idx_append_time(tx, 100, 50), KB_OK);
	assert_int_equal(idx_append_time(tx, 200, 49), KB_ERR_INVAL);
	assert_int_equal(tx->entries, 1);
	idx_close(tx);
	tu_rmrf(dir);
}

/* KAFKA: a full index makes the log roll; appends say KB_ERR_TOO_LARGE.
 * INVARIANT 5: the time index is full one slot early; the seal uses it. */
static void test_idx_append_full_index_returns_too_large(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct idx *ox = open_idx(dir, 0, IDX_OFFSET, 3 * 8);
	for (int i = 0; i < 3; i++) {
		assert_false(idx_is_full(ox));
		assert_int_equal(idx_append_offset(ox, i, 10 * i), KB_OK);
	}
	assert_true(idx_is_full(ox));
	assert_int_equal(idx_append_offset(ox, 3, 30), KB_ERR_TOO_LARGE);
	assert_int_equal(ox->entries, 3);
	idx_close(ox);

	struct idx *tx = open_idx(dir, 0, IDX_TIME, 3 * 12);
	assert_int_equal(idx_append_time(tx, 10, 0), KB_OK);
	assert_false(idx_is_full(tx));
	assert_int_equal(idx_append_time(tx, 20, 1), KB_OK);
	assert_true(idx_is_full(tx));
	assert_int_equal(idx_append_time(tx, 30, 2), KB_ERR_TOO_LARGE);
	assert_int_equal(tx->entries, 2);
	idx_close(tx);
	tu_rmrf(dir);
}

/* The set adds both entries or neither; the seal still fits its entry. */
static void test_idx_set_on_append_full_adds_nothing(void **state)
{
	(void)state;
	struct fixture f;
	fixture_open(&f, 0);
	idx_set_close(&f.set);
	/* 36 bytes: 4 offset entries, 3 time slots of which 2 are usable. */
	assert_int_equal(idx_set_open(&f.set, f.dir, 0, ICFG(36, 0)), KB_OK);
	append_one(&f, 0, true); /* nothing before it: no entry */
	append_one(&f, 1, true);
	append_one(&f, 2, true);
	assert_int_equal(f.set.offsets->entries, 2);
	assert_int_equal(f.set.times->entries, 2);
	assert_true(idx_is_full(f.set.times));
	uint8_t buf[BATCH_CAP]; /* batch 4's shape: a newer timestamp */
	size_t len = build_varied(buf, 4, f.seg->next_offset);
	struct seg_batch b;
	assert_int_equal(seg_batch_decode(buf, len, &b), KB_OK);
	uint64_t pos = f.seg->size;
	assert_int_equal(seg_append(f.seg, buf, len), KB_OK);
	assert_int_equal(idx_set_on_append(&f.set, f.seg, &b, pos),
			 KB_ERR_TOO_LARGE);
	assert_int_equal(f.set.offsets->entries, 2);
	assert_int_equal(f.set.times->entries, 2);
	assert_int_equal(idx_set_seal(&f.set, f.seg), KB_OK);
	assert_int_equal(f.set.times->entries, 3);
	assert_int_equal(idx_entry_at(f.set.times, 2).timestamp,
			 f.seg->max_timestamp);
	fixture_free(&f);
}

/* ---- Lookup ---- */

/* Reference floor by linear scan over the entries. */
static struct idx_entry linear_floor(const struct idx *ix, int64_t target)
{
	struct idx_entry best = {ix->base_offset, 0, -1};
	for (size_t i = 0; i < ix->entries; i++) {
		struct idx_entry e = idx_entry_at(ix, i);
		if ((ix->kind == IDX_TIME ? e.timestamp : e.offset) <= target)
			best = e;
	}
	return best;
}

/* Every target before the first entry, on each, between, and after the
 * last gets the largest entry <= target, else the segment's start. */
static void test_idx_lookup_floor_offset_every_target(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct idx *ox = open_idx(dir, 1000, IDX_OFFSET, 4096);
	for (int k = 0; k < 50; k++)
		assert_int_equal(idx_append_offset(ox, 1005 + 10 * k,
						   (uint32_t)(50 + 100 * k)), KB_OK);
	for (int64_t t = 900; t <= 1600; t++) {
		struct idx_entry got = idx_lookup_floor(ox, t);
		struct idx_entry want = linear_floor(ox, t);
		assert_int_equal(got.offset, want.offset);
		assert_int_equal(got.position, want.position);
		assert_int_equal(got.timestamp, -1);
	}
	struct idx_entry e = idx_lookup_floor(ox, 1004);
	assert_int_equal(e.offset, 1000); /* before the first: segment start */
	assert_int_equal(e.position, 0);
	e = idx_lookup_floor(ox, 1027);
	assert_int_equal(e.offset, 1025);
	assert_int_equal(e.position, 250);
	idx_close(ox);
	tu_rmrf(dir);
}

/* KAFKA: TimeIndex.lookup is by timestamp. */
static void test_idx_lookup_floor_time_by_timestamp(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct idx *tx = open_idx(dir, 1000, IDX_TIME, 4096);
	for (int k = 0; k < 50; k++)
		assert_int_equal(idx_append_time(tx, 5000 + 100 * k,
						 1000 + 10 * k), KB_OK);
	for (int64_t t = 4800; t <= 11000; t += 7) {
		struct idx_entry got = idx_lookup_floor(tx, t);
		struct idx_entry want = linear_floor(tx, t);
		assert_int_equal(got.timestamp, want.timestamp);
		assert_int_equal(got.offset, want.offset);
	}
	struct idx_entry e = idx_lookup_floor(tx, 4999);
	assert_int_equal(e.timestamp, -1);
	assert_int_equal(e.offset, 1000);
	e = idx_lookup_floor(tx, 5250);
	assert_int_equal(e.timestamp, 5200);
	assert_int_equal(e.offset, 1020);
	idx_close(tx);
	tu_rmrf(dir);
}

static void test_idx_lookup_floor_empty_is_segment_start(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct idx *ox = open_idx(dir, 77, IDX_OFFSET, 4096);
	struct idx *tx = open_idx(dir, 77, IDX_TIME, 4096);
	struct idx_entry e = idx_lookup_floor(ox, 1000000);
	assert_int_equal(e.offset, 77);
	assert_int_equal(e.position, 0);
	assert_int_equal(e.timestamp, -1);
	e = idx_lookup_floor(tx, INT64_MAX);
	assert_int_equal(e.offset, 77);
	assert_int_equal(e.timestamp, -1);
	idx_close(ox);
	idx_close(tx);
	tu_rmrf(dir);
}

/* The read path of the chapter: floor entry -> position -> seg_find_offset
 * finds the batch holding every offset, scanning at most a little more
 * than index.interval.bytes of batches. */
static void test_idx_lookup_then_scan_finds_every_offset(void **state)
{
	(void)state;
	struct fixture f;
	fixture_build(&f, LOG_BATCHES, IDX_DEFAULT_INTERVAL_BYTES);
	int i = 0;
	for (int64_t o = 0; o < f.seg->next_offset; o++) {
		while (f.last[i] < o)
			i++;
		struct idx_entry e = idx_lookup_floor(f.set.offsets, o);
		uint64_t pos = e.position;
		struct seg_batch b;
		assert_int_equal(seg_find_offset(f.seg, o, &pos, &b), KB_OK);
		assert_int_equal(pos, f.pos[i]);
		assert_true(e.position <= pos);
		assert_true(pos - e.position <=
			    IDX_DEFAULT_INTERVAL_BYTES + BATCH_CAP);
	}
	fixture_free(&f);
}

/* ---- Truncation, reset, trim ---- */

/* KAFKA: truncateTo drops every entry with offset >= target. */
static void test_idx_truncate_to_drops_offsets_at_or_above(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct idx *ox = open_idx(dir, 0, IDX_OFFSET, 4096);
	struct idx *tx = open_idx(dir, 0, IDX_TIME, 4096);
	for (int64_t t = 0; t <= 110; t++) {
		assert_int_equal(idx_reset(ox), KB_OK);
		assert_int_equal(idx_reset(tx), KB_OK);
		for (int k = 1; k <= 10; k++) {
			assert_int_equal(idx_append_offset(ox, 10 * k, 7 * k), KB_OK);
			assert_int_equal(idx_append_time(tx, 100 * k, 10 * k), KB_OK);
		}
		size_t keep = t <= 10 ? 0 : (size_t)KB_MIN((t - 1) / 10, 10);
		assert_int_equal(idx_truncate_to(ox, t), KB_OK);
		assert_int_equal(idx_truncate_to(tx, t), KB_OK);
		assert_int_equal(ox->entries, keep);
		assert_int_equal(tx->entries, keep);
		if (keep > 0) {
			assert_true(idx_entry_at(ox, keep - 1).offset < t);
			assert_true(idx_entry_at(tx, keep - 1).offset < t);
		}
		for (size_t b = keep * 8; b < 80; b++) /* dropped bytes zeroed */
			assert_int_equal(ox->map[b], 0);
	}
	idx_close(ox);
	idx_close(tx);
	tu_rmrf(dir);
}

/* A trimmed (sealed) index stays exact after a truncation. */
static void test_idx_truncate_to_keeps_a_trimmed_file_exact(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct idx *ox = open_idx(dir, 0, IDX_OFFSET, 4096);
	for (int k = 1; k <= 10; k++)
		assert_int_equal(idx_append_offset(ox, 10 * k, 7 * k), KB_OK);
	assert_int_equal(idx_trim(ox), KB_OK);
	assert_int_equal(idx_truncate_to(ox, 55), KB_OK);
	assert_int_equal(ox->entries, 5);
	assert_int_equal(tu_file_size(path_in(dir, INDEX0)), 5 * 8);
	assert_int_equal(ox->map_len, 5 * 8);
	idx_close(ox);
	tu_rmrf(dir);
}

/* KAFKA: reset: no entries, the file preallocated again, all zero. */
static void test_idx_reset_drops_all_entries(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct idx *ox = open_idx(dir, 0, IDX_OFFSET, 4096);
	for (int k = 1; k <= 10; k++)
		assert_int_equal(idx_append_offset(ox, 10 * k, 7 * k), KB_OK);
	assert_int_equal(idx_trim(ox), KB_OK);
	assert_int_equal(idx_reset(ox), KB_OK);
	assert_int_equal(ox->entries, 0);
	assert_int_equal(tu_file_size(path_in(dir, INDEX0)), 4096);
	size_t len = 0;
	uint8_t *bytes = tu_read_all(path_in(dir, INDEX0), &len);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(bytes[i], 0);
	free(bytes);
	assert_int_equal(idx_lookup_floor(ox, 50).offset, 0);
	idx_close(ox);
	assert_int_equal(tu_file_size(path_in(dir, INDEX0)), 0);
	tu_rmrf(dir);
}

/* KAFKA: trimToValidSize; an append afterwards grows the file again. */
static void test_idx_trim_then_append_grows_again(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct idx *tx = open_idx(dir, 0, IDX_TIME, 1200);
	assert_int_equal(idx_append_time(tx, 10, 1), KB_OK);
	assert_int_equal(idx_append_time(tx, 20, 2), KB_OK);
	assert_int_equal(idx_trim(tx), KB_OK);
	assert_int_equal(tu_file_size(path_in(dir, TIMEINDEX0)), 24);
	assert_int_equal(idx_append_time(tx, 30, 3), KB_OK);
	assert_int_equal(tu_file_size(path_in(dir, TIMEINDEX0)), 1200);
	assert_int_equal(idx_entry_at(tx, 0).timestamp, 10);
	assert_int_equal(idx_entry_at(tx, 2).timestamp, 30);
	idx_close(tx);
	uint8_t want[36];
	put_time_entry(want, 10, 1);
	put_time_entry(want + 12, 20, 2);
	put_time_entry(want + 24, 30, 3);
	assert_file_is(path_in(dir, TIMEINDEX0), want, sizeof want);
	tu_rmrf(dir);
}

/* INVARIANT 4: the mapping is the whole file, never more, after every
 * operation that changes the file's size. */
static void test_idx_mapping_always_equals_file_length(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct idx *ox = open_idx(dir, 0, IDX_OFFSET, 800);
	const char *p = path_in(dir, INDEX0);
#define SAME_SIZE()                                                        \
	do {                                                               \
		assert_int_equal((long)ox->map_len, tu_file_size(p));      \
		assert_true(ox->entries * ox->entry_size <= ox->map_len); \
	} while (0)
	SAME_SIZE();
	assert_int_equal(idx_append_offset(ox, 1, 10), KB_OK);
	SAME_SIZE();
	assert_int_equal(idx_trim(ox), KB_OK);
	SAME_SIZE();
	assert_int_equal(idx_append_offset(ox, 2, 20), KB_OK);
	SAME_SIZE();
	assert_int_equal(idx_truncate_to(ox, 2), KB_OK);
	SAME_SIZE();
	assert_int_equal(idx_truncate_to(ox, 0), KB_OK);
	SAME_SIZE();
	assert_int_equal(idx_trim(ox), KB_OK);
	SAME_SIZE();
	assert_null(ox->map); /* 0 entries: nothing mapped */
	assert_int_equal(idx_reset(ox), KB_OK);
	SAME_SIZE();
#undef SAME_SIZE
	idx_close(ox);
	tu_rmrf(dir);
}

/* ---- The append rule ---- */

/* KAFKA: an entry when MORE than index.interval.bytes of earlier batches
 * went by. Batches of S bytes with interval 2S: the first entry is at
 * batch 3 (3S > 2S), not at batch 2 (2S is not more than 2S). */
static void test_idx_set_on_append_indexes_past_interval_bytes(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg;
	struct idx_set s;
	assert_int_equal(seg_open(dir, 0, true, &seg), KB_OK);
	uint8_t buf[BATCH_CAP];
	size_t len = 0; /* every batch has the same size: 2 records x, y */
	for (int i = 0; i < 10; i++) {
		struct tu_record r[2] = {{NULL, "x", 500 + 10 * i},
					 {NULL, "y", 501 + 10 * i}};
		len = tu_batch_build(buf, sizeof buf, 2 * i, r, 2);
		if (i == 0)
			assert_int_equal(idx_set_open(&s, dir, 0,
						      ICFG(4096, (uint32_t)(2 * len))),
					 KB_OK);
		struct seg_batch b;
		assert_int_equal(seg_batch_decode(buf, len, &b), KB_OK);
		uint64_t pos = seg->size;
		assert_int_equal(pos, (uint64_t)i * len);
		assert_int_equal(seg_append(seg, buf, len), KB_OK);
		assert_int_equal(idx_set_on_append(&s, seg, &b, pos), KB_OK);
	}
	assert_int_equal(s.offsets->entries, 3); /* batches 3, 6 and 9 */
	assert_int_equal(s.times->entries, 3);
	for (int k = 0; k < 3; k++) {
		int batch = 3 * (k + 1);
		struct idx_entry o = idx_entry_at(s.offsets, (size_t)k);
		struct idx_entry t = idx_entry_at(s.times, (size_t)k);
		assert_int_equal(o.offset, 2 * batch + 1); /* its last offset */
		assert_int_equal(o.position, (uint64_t)batch * len);
		assert_int_equal(t.timestamp, 501 + 10 * batch);
		assert_int_equal(t.offset, 2 * batch + 1);
	}
	idx_set_close(&s);
	seg_close(seg);
	tu_rmrf(dir);
}

/* The time entry carries the max timestamp so far, which an older batch
 * does not move: then no new time entry is added. */
static void test_idx_set_on_append_time_entry_is_max_so_far(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg;
	struct idx_set s;
	assert_int_equal(seg_open(dir, 0, true, &seg), KB_OK);
	assert_int_equal(idx_set_open(&s, dir, 0, ICFG(4096, 0)), KB_OK);
	static const int64_t ts[5] = {9000, 1000, 2000, 9500, 3000};
	uint8_t buf[BATCH_CAP];
	for (int i = 0; i < 5; i++) {
		struct tu_record r = {NULL, "v", ts[i]};
		size_t len = tu_batch_build(buf, sizeof buf, i, &r, 1);
		struct seg_batch b;
		assert_int_equal(seg_batch_decode(buf, len, &b), KB_OK);
		uint64_t pos = seg->size;
		assert_int_equal(seg_append(seg, buf, len), KB_OK);
		assert_int_equal(idx_set_on_append(&s, seg, &b, pos), KB_OK);
	}
	/* Entries at batches 1..4; the max moved at batch 3 only. */
	assert_int_equal(s.offsets->entries, 4);
	assert_int_equal(s.times->entries, 2);
	assert_int_equal(idx_entry_at(s.times, 0).timestamp, 9000);
	assert_int_equal(idx_entry_at(s.times, 0).offset, 0);
	assert_int_equal(idx_entry_at(s.times, 1).timestamp, 9500);
	assert_int_equal(idx_entry_at(s.times, 1).offset, 3);
	idx_set_close(&s);
	seg_close(seg);
	tu_rmrf(dir);
}

/* KAFKA: onBecomeInactiveSegment: a last time entry, then both trimmed. */
static void test_idx_set_seal_adds_last_time_entry_and_trims(void **state)
{
	(void)state;
	struct fixture f;
	fixture_build(&f, 150, IDX_DEFAULT_INTERVAL_BYTES);
	/* Append until a batch after the last time entry holds the max. */
	struct idx_entry last = idx_entry_at(f.set.times,
					     f.set.times->entries - 1);
	for (int i = 150; last.timestamp == f.seg->max_timestamp; i++) {
		assert_true(i < LOG_BATCHES);
		append_one(&f, i, true);
		last = idx_entry_at(f.set.times, f.set.times->entries - 1);
	}
	size_t before = f.set.times->entries;
	assert_true(last.timestamp < f.seg->max_timestamp);
	assert_int_equal(idx_set_seal(&f.set, f.seg), KB_OK);
	assert_int_equal(f.set.times->entries, before + 1);
	last = idx_entry_at(f.set.times, before);
	assert_int_equal(last.timestamp, f.seg->max_timestamp);
	assert_int_equal(last.offset, f.seg->offset_of_max_timestamp);
	assert_int_equal(tu_file_size(path_in(f.dir, INDEX0)),
			 (long)f.set.offsets->entries * 8);
	assert_int_equal(tu_file_size(path_in(f.dir, TIMEINDEX0)),
			 (long)f.set.times->entries * 12);
	/* Sealing again adds nothing: the timestamp is not newer. */
	assert_int_equal(idx_set_seal(&f.set, f.seg), KB_OK);
	assert_int_equal(f.set.times->entries, before + 1);
	fixture_free(&f);
}

/* ---- idx_check ---- */

/* A segment of 20 batches with an entry at every batch but the first
 * (interval 0), then the index files replaced by hand-built entries. */
struct check_case {
	const char *name;
	enum idx_kind kind;
	int n;
	int64_t a[4], b[4]; /* offset index: offset, position; time: ts, offset */
	bool zero_tail;     /* append one all-zero entry */
	const char *why;    /* NULL: must pass */
};

static void run_check_case(struct fixture *f, const struct check_case *c)
{
	uint8_t bytes[6 * 12] = {0};
	size_t es = c->kind == IDX_OFFSET ? 8 : 12;
	for (int i = 0; i < c->n; i++) {
		if (c->kind == IDX_OFFSET)
			put_offset_entry(bytes + i * es, (int32_t)c->a[i],
					 (int32_t)c->b[i]);
		else
			put_time_entry(bytes + i * es, c->a[i], (int32_t)c->b[i]);
	}
	size_t len = (size_t)(c->n + (c->zero_tail ? 1 : 0)) * es;
	const char *name = c->kind == IDX_OFFSET ? INDEX0 : TIMEINDEX0;
	char sub[4096];
	snprintf(sub, sizeof sub, "%s/check", f->dir);
	mkdir(sub, 0755);
	tu_write_all(path_in(sub, name), bytes, len);
	struct idx *ix = open_idx(sub, 0, c->kind, 4096);
	const char *why = NULL;
	int rc = idx_check(ix, f->seg, &why);
	if (!c->why) {
		if (rc != KB_OK)
			fail_msg("%s: unexpected %s", c->name, why);
	} else {
		if (rc != KB_ERR_CORRUPT || !why || !strstr(why, c->why))
			fail_msg("%s: got %s (%s)", c->name, kb_status_name(rc),
				 why ? why : "no reason");
	}
	idx_close(ix);
}

static void test_idx_check_names_each_broken_rule(void **state)
{
	(void)state;
	struct fixture f;
	fixture_build(&f, 20, 0);
	int64_t size = (int64_t)f.seg->size, next = f.seg->next_offset;
	int64_t p1 = (int64_t)f.pos[1], p2 = (int64_t)f.pos[2],
		p3 = (int64_t)f.pos[3];
	int64_t l1 = f.last[1], l2 = f.last[2], l3 = f.last[3];
	const struct check_case cases[] = {
		{"valid offsets", IDX_OFFSET, 3, {l1, l2, l3}, {p1, p2, p3},
		 false, NULL},
		{"offsets unsorted", IDX_OFFSET, 3, {l1, l3, l2}, {p1, p2, p3},
		 false, "not increasing"},
		{"positions unsorted", IDX_OFFSET, 3, {l1, l2, l3}, {p1, p3, p2},
		 false, "not increasing"},
		{"offset below base", IDX_OFFSET, 2, {-1, l3}, {p1, p3},
		 false, "outside"},
		{"offset past the log", IDX_OFFSET, 2, {l1, next}, {p1, p3},
		 false, "outside"},
		{"position past the log", IDX_OFFSET, 2, {l1, l3}, {p1, size},
		 false, "past the end"},
		{"zeroed tail", IDX_OFFSET, 2, {l1, l2}, {p1, p2},
		 true, "zero entries"},
		{"not a batch boundary", IDX_OFFSET, 2, {l1, l3}, {p1, p3 + 1},
		 false, "not at its batch"},
		{"offset not in its batch", IDX_OFFSET, 2, {l1, l2}, {p1, p3},
		 false, "not at its batch"},
		{"valid times", IDX_TIME, 3, {10, 20, 30}, {l1, l2, l2},
		 false, NULL},
		{"timestamps decreasing", IDX_TIME, 3, {10, 30, 20}, {l1, l2, l3},
		 false, "timestamps not increasing"},
		{"timestamps equal", IDX_TIME, 2, {10, 10}, {l1, l2},
		 false, "timestamps not increasing"},
		{"no-timestamp entry", IDX_TIME, 1, {-1}, {l1},
		 false, "timestamps not increasing"},
		{"time offsets decreasing", IDX_TIME, 2, {10, 20}, {l2, l1},
		 false, "offsets decreasing"},
		{"time offset past the log", IDX_TIME, 2, {10, 20}, {l1, next},
		 false, "outside"},
		{"time zeroed tail", IDX_TIME, 2, {10, 20}, {l1, l2},
		 true, "zero entries"},
	};
	for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++)
		run_check_case(&f, &cases[i]);
	fixture_free(&f);
}

/* INVARIANTS 1, 2, 7: what appends write passes idx_set_check. */
static void test_idx_set_check_accepts_appended_indexes(void **state)
{
	(void)state;
	struct fixture f;
	fixture_build(&f, LOG_BATCHES, IDX_DEFAULT_INTERVAL_BYTES);
	const char *why = "unset";
	assert_int_equal(idx_set_check(&f.set, f.seg, &why), KB_OK);
	assert_null(why);
	for (size_t i = 1; i < f.set.offsets->entries; i++) {
		struct idx_entry a = idx_entry_at(f.set.offsets, i - 1);
		struct idx_entry b = idx_entry_at(f.set.offsets, i);
		assert_true(a.offset < b.offset && a.position < b.position);
	}
	for (size_t i = 1; i < f.set.times->entries; i++) {
		struct idx_entry a = idx_entry_at(f.set.times, i - 1);
		struct idx_entry b = idx_entry_at(f.set.times, i);
		assert_true(a.timestamp < b.timestamp && a.offset <= b.offset);
	}
	fixture_free(&f);
}

/* ---- Rebuild: byte-identical to what appends wrote (INVARIANT 6) ---- */

static void test_idx_set_rebuild_missing_files_is_byte_identical(void **state)
{
	(void)state;
	struct fixture f;
	struct saved s;
	build_sealed(&f, &s);
	assert_int_equal(unlink(path_in(f.dir, INDEX0)), 0);
	assert_int_equal(unlink(path_in(f.dir, TIMEINDEX0)), 0);
	/* Recreated empty files pass the check; the caller knows they were
	 * missing and rebuilds. */
	check_rebuild_identical(&f, &s, KB_OK, NULL);
	free_saved(&s);
	tu_rmrf(f.dir);
}

static void test_idx_set_rebuild_after_garbage_is_byte_identical(void **state)
{
	(void)state;
	struct fixture f;
	struct saved s;
	build_sealed(&f, &s);
	uint64_t seed = 0x9e3779b97f4a7c15u;
	uint8_t *bytes = malloc(s.index_len);
	memcpy(bytes, s.index, s.index_len);
	for (size_t i = s.index_len / 2; i < s.index_len / 2 + 64; i++)
		bytes[i] = (uint8_t)rnd(&seed);
	tu_write_all(path_in(f.dir, INDEX0), bytes, s.index_len);
	check_rebuild_identical(&f, &s, KB_ERR_CORRUPT, NULL);
	free(bytes);
	/* Garbage in the time index, offset index intact. */
	bytes = malloc(s.timeindex_len);
	memcpy(bytes, s.timeindex, s.timeindex_len);
	for (size_t i = 12; i < 12 + 48; i++)
		bytes[i] = (uint8_t)rnd(&seed);
	tu_write_all(path_in(f.dir, TIMEINDEX0), bytes, s.timeindex_len);
	check_rebuild_identical(&f, &s, KB_ERR_CORRUPT, NULL);
	free(bytes);
	free_saved(&s);
	tu_rmrf(f.dir);
}

static void test_idx_set_rebuild_after_odd_length_is_byte_identical(void **state)
{
	(void)state;
	struct fixture f;
	struct saved s;
	build_sealed(&f, &s);
	tu_write_all(path_in(f.dir, INDEX0), s.index, s.index_len - 3);
	check_rebuild_identical(&f, &s, KB_ERR_CORRUPT, "multiple");
	tu_write_all(path_in(f.dir, TIMEINDEX0), s.timeindex,
		     s.timeindex_len - 5);
	check_rebuild_identical(&f, &s, KB_ERR_CORRUPT, "multiple");
	free_saved(&s);
	tu_rmrf(f.dir);
}

static void test_idx_set_rebuild_after_entry_past_log_is_byte_identical(
	void **state)
{
	(void)state;
	struct fixture f;
	struct saved s;
	build_sealed(&f, &s);
	uint64_t log_size = (uint64_t)tu_file_size(path_in(f.dir,
		"00000000000000000000.log"));
	uint8_t *bytes = malloc(s.index_len);
	memcpy(bytes, s.index, s.index_len);
	tu_be(bytes + s.index_len - 4, log_size + 100, 4); /* last position */
	tu_write_all(path_in(f.dir, INDEX0), bytes, s.index_len);
	check_rebuild_identical(&f, &s, KB_ERR_CORRUPT, "past the end");
	/* An index longer than its log (the log lost its tail). */
	uint8_t *more = malloc(s.index_len + 8);
	memcpy(more, s.index, s.index_len);
	put_offset_entry(more + s.index_len, 1000000, (int32_t)log_size - 1);
	tu_write_all(path_in(f.dir, INDEX0), more, s.index_len + 8);
	check_rebuild_identical(&f, &s, KB_ERR_CORRUPT, "outside");
	free(more);
	free(bytes);
	free_saved(&s);
	tu_rmrf(f.dir);
}

static void test_idx_set_rebuild_after_zeroed_tail_is_byte_identical(
	void **state)
{
	(void)state;
	struct fixture f;
	struct saved s;
	build_sealed(&f, &s);
	uint8_t *bytes = calloc(1, s.index_len + 5 * 8);
	memcpy(bytes, s.index, s.index_len);
	tu_write_all(path_in(f.dir, INDEX0), bytes, s.index_len + 5 * 8);
	check_rebuild_identical(&f, &s, KB_ERR_CORRUPT, "zero entries");
	free(bytes);
	bytes = calloc(1, s.timeindex_len + 5 * 12);
	memcpy(bytes, s.timeindex, s.timeindex_len);
	tu_write_all(path_in(f.dir, TIMEINDEX0), bytes, s.timeindex_len + 60);
	check_rebuild_identical(&f, &s, KB_ERR_CORRUPT, "zero entries");
	free(bytes);
	free_saved(&s);
	tu_rmrf(f.dir);
}

/* A crash while the active segment's indexes are preallocated leaves
 * 10 MiB files of entries then zeros: the check names it, and the
 * unsealed rebuild gives back exactly the entries that were there. */
static void test_idx_set_rebuild_after_crash_while_preallocated(void **state)
{
	(void)state;
	struct fixture f;
	fixture_build(&f, LOG_BATCHES, IDX_DEFAULT_INTERVAL_BYTES);
	size_t n_off = f.set.offsets->entries, n_time = f.set.times->entries;
	struct saved crash;
	save_files(f.dir, &crash); /* the files as a crash would leave them */
	assert_int_equal(crash.index_len, IDX_DEFAULT_MAX_BYTES);
	fixture_close(&f);
	tu_write_all(path_in(f.dir, INDEX0), crash.index, crash.index_len);
	tu_write_all(path_in(f.dir, TIMEINDEX0), crash.timeindex,
		     crash.timeindex_len);
	fixture_reopen(&f);
	const char *why = NULL;
	assert_int_equal(idx_set_check(&f.set, f.seg, &why), KB_ERR_CORRUPT);
	assert_non_null(strstr(why, "zero entries"));
	assert_int_equal(idx_set_rebuild(&f.set, f.seg, false), KB_OK);
	assert_int_equal(f.set.offsets->entries, n_off);
	assert_int_equal(f.set.times->entries, n_time);
	fixture_close(&f);
	assert_file_is(path_in(f.dir, INDEX0), crash.index, n_off * 8);
	assert_file_is(path_in(f.dir, TIMEINDEX0), crash.timeindex,
		       n_time * 12);
	free_saved(&crash);
	tu_rmrf(f.dir);
}

/* An unsealed rebuild resumes the byte count, so appends after it write
 * the same entries as if the index had never been lost. */
static void test_idx_set_rebuild_unsealed_then_append_matches(void **state)
{
	(void)state;
	struct fixture a, b;
	struct saved sa;
	build_sealed(&a, &sa);
	fixture_open(&b, IDX_DEFAULT_INTERVAL_BYTES);
	for (int i = 0; i < LOG_BATCHES / 2; i++)
		append_one(&b, i, false); /* the indexes miss these */
	assert_int_equal(b.set.offsets->entries, 0);
	assert_int_equal(idx_set_rebuild(&b.set, b.seg, false), KB_OK);
	for (int i = LOG_BATCHES / 2; i < LOG_BATCHES; i++)
		append_one(&b, i, true);
	assert_int_equal(idx_set_seal(&b.set, b.seg), KB_OK);
	fixture_close(&b);
	assert_file_is(path_in(b.dir, INDEX0), sa.index, sa.index_len);
	assert_file_is(path_in(b.dir, TIMEINDEX0), sa.timeindex,
		       sa.timeindex_len);
	free_saved(&sa);
	tu_rmrf(a.dir);
	tu_rmrf(b.dir);
}

/* A damaged batch stops the rebuild: seg_recover must run first. */
static void test_idx_set_rebuild_stops_at_a_damaged_batch(void **state)
{
	(void)state;
	struct fixture f;
	fixture_build(&f, 20, 0);
	fixture_close(&f);
	const char *log = path_in(f.dir, "00000000000000000000.log");
	size_t len = 0;
	uint8_t *bytes = tu_read_all(log, &len);
	tu_be(bytes + f.pos[10] + 16, 0x7f, 1); /* batch 10's magic */
	tu_write_all(log, bytes, len);
	free(bytes);
	assert_int_equal(seg_open(f.dir, 0, false, &f.seg), KB_OK);
	assert_int_equal(idx_set_open(&f.set, f.dir, 0, ICFG(4096, 0)), KB_OK);
	struct tu_log_capture cap;
	tu_log_capture_start(&cap);
	assert_int_equal(idx_set_rebuild(&f.set, f.seg, true), KB_ERR_CORRUPT);
	tu_log_capture_stop();
	assert_non_null(strstr(cap.text, "rebuild stopped"));
	fixture_free(&f);
}

/* ---- Damaged files never crash anything ---- */

/* Random bytes of random lengths as both index files: open, check,
 * look up, read every entry, truncate, then rebuild to a valid index. */
static void test_idx_never_crashes_on_garbage(void **state)
{
	(void)state;
	struct fixture f;
	fixture_build(&f, 40, 512);
	fixture_close(&f);
	uint64_t seed = 12345;
	uint8_t bytes[512];
	for (int round = 0; round < 300; round++) {
		size_t n1 = rnd(&seed) % sizeof bytes, n2 = rnd(&seed) % sizeof bytes;
		for (size_t i = 0; i < sizeof bytes; i++)
			bytes[i] = (uint8_t)(round % 3 ? rnd(&seed) : rnd(&seed) % 3);
		tu_write_all(path_in(f.dir, INDEX0), bytes, n1);
		tu_write_all(path_in(f.dir, TIMEINDEX0), bytes + 7, n2 % 500);
		assert_int_equal(seg_open(f.dir, 0, false, &f.seg), KB_OK);
		assert_int_equal(seg_recover(f.seg, 0, NULL), KB_OK);
		assert_int_equal(idx_set_open(&f.set, f.dir, 0, ICFG(4096, 512)), KB_OK);
		const char *why;
		(void)idx_set_check(&f.set, f.seg, &why);
		for (int k = 0; k < 20; k++) {
			int64_t t = (int64_t)rnd(&seed);
			(void)idx_lookup_floor(f.set.offsets, t % 4096);
			(void)idx_lookup_floor(f.set.times, t);
		}
		for (size_t i = 0; i < f.set.times->entries; i++)
			(void)idx_entry_at(f.set.times, i);
		assert_int_equal(idx_truncate_to(f.set.offsets,
			(int64_t)(rnd(&seed) % 200)), KB_OK);
		assert_int_equal(idx_set_rebuild(&f.set, f.seg, true), KB_OK);
		assert_int_equal(idx_set_check(&f.set, f.seg, &why), KB_OK);
		fixture_close(&f);
	}
	tu_rmrf(f.dir);
}

/* ---- Teardown ---- */

static void test_idx_set_close_keeps_files_delete_removes_them(void **state)
{
	(void)state;
	struct fixture f;
	fixture_build(&f, 30, 256);
	size_t n = f.set.offsets->entries;
	assert_true(n > 0);
	idx_set_close(&f.set);
	assert_int_equal(tu_file_size(path_in(f.dir, INDEX0)), (long)n * 8);
	assert_int_equal(idx_set_open(&f.set, f.dir, 0, ICFG(4096, 256)), KB_OK);
	assert_int_equal(f.set.offsets->entries, n);
	assert_int_equal(idx_set_flush(&f.set), KB_OK);
	assert_int_equal(idx_set_delete(&f.set), KB_OK);
	assert_null(f.set.offsets);
	assert_int_equal(tu_file_size(path_in(f.dir, INDEX0)), -1);
	assert_int_equal(tu_file_size(path_in(f.dir, TIMEINDEX0)), -1);
	fixture_free(&f);
}

/* ---- idx_assert: Invariant 4 after each change, and the tail ---- */

static void test_idx_assert_holds_after_each_change(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct idx *ox = open_idx(dir, 100, IDX_OFFSET, 64 * 8);
	struct idx *tx = open_idx(dir, 100, IDX_TIME, 64 * 12);
	idx_assert(ox);
	idx_assert(tx);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(idx_append_offset(ox, 100 + 3 * i,
						   (uint32_t)(200 * i)), KB_OK);
		assert_int_equal(idx_append_time(tx, 5000 + i, 100 + 3 * i),
				 KB_OK);
		idx_assert(ox);
		idx_assert(tx);
	}
	assert_int_equal(idx_truncate_to(ox, 130), KB_OK);
	assert_int_equal(idx_truncate_to(tx, 130), KB_OK);
	idx_assert(ox);
	idx_assert(tx);
	assert_int_equal(ox->entries, 10);
	assert_int_equal(idx_trim(ox), KB_OK);
	idx_assert(ox);
	assert_int_equal(ox->map_len, ox->entries * ox->entry_size);
	assert_int_equal(idx_reset(tx), KB_OK);
	idx_assert(tx);
	idx_close(ox);
	idx_close(tx);
	tu_rmrf(dir);
}

int main(void)
{
	tu_log_quiet(); /* a passing run prints no log lines */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idx_open_names_files_like_kafka),
		cmocka_unit_test(test_idx_open_preallocates_and_close_trims),
		cmocka_unit_test(test_idx_open_rejects_max_bytes_below_one_entry),
		cmocka_unit_test(test_idx_append_offset_writes_kafka_layout),
		cmocka_unit_test(test_idx_append_time_writes_kafka_layout),
		cmocka_unit_test(test_idx_open_reads_existing_entries),
		cmocka_unit_test(test_idx_open_records_torn_length_for_idx_check),
		cmocka_unit_test(test_idx_append_offset_requires_increasing_offsets),
		cmocka_unit_test(test_idx_relative_offset_must_fit_int32),
		cmocka_unit_test(test_idx_append_time_only_newer_timestamps),
		cmocka_unit_test(test_idx_append_time_rejects_smaller_offset),
		cmocka_unit_test(test_idx_append_full_index_returns_too_large),
		cmocka_unit_test(test_idx_set_on_append_full_adds_nothing),
		cmocka_unit_test(test_idx_lookup_floor_offset_every_target),
		cmocka_unit_test(test_idx_lookup_floor_time_by_timestamp),
		cmocka_unit_test(test_idx_lookup_floor_empty_is_segment_start),
		cmocka_unit_test(test_idx_lookup_then_scan_finds_every_offset),
		cmocka_unit_test(test_idx_truncate_to_drops_offsets_at_or_above),
		cmocka_unit_test(test_idx_truncate_to_keeps_a_trimmed_file_exact),
		cmocka_unit_test(test_idx_reset_drops_all_entries),
		cmocka_unit_test(test_idx_trim_then_append_grows_again),
		cmocka_unit_test(test_idx_mapping_always_equals_file_length),
		cmocka_unit_test(test_idx_set_on_append_indexes_past_interval_bytes),
		cmocka_unit_test(test_idx_set_on_append_time_entry_is_max_so_far),
		cmocka_unit_test(test_idx_set_seal_adds_last_time_entry_and_trims),
		cmocka_unit_test(test_idx_check_names_each_broken_rule),
		cmocka_unit_test(test_idx_set_check_accepts_appended_indexes),
		cmocka_unit_test(test_idx_set_rebuild_missing_files_is_byte_identical),
		cmocka_unit_test(test_idx_set_rebuild_after_garbage_is_byte_identical),
		cmocka_unit_test(test_idx_set_rebuild_after_odd_length_is_byte_identical),
		cmocka_unit_test(test_idx_set_rebuild_after_entry_past_log_is_byte_identical),
		cmocka_unit_test(test_idx_set_rebuild_after_zeroed_tail_is_byte_identical),
		cmocka_unit_test(test_idx_set_rebuild_after_crash_while_preallocated),
		cmocka_unit_test(test_idx_set_rebuild_unsealed_then_append_matches),
		cmocka_unit_test(test_idx_set_rebuild_stops_at_a_damaged_batch),
		cmocka_unit_test(test_idx_never_crashes_on_garbage),
		cmocka_unit_test(test_idx_set_close_keeps_files_delete_removes_them),
		cmocka_unit_test(test_idx_assert_holds_after_each_change),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
