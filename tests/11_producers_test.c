/* SPDX-License-Identifier: MIT */
/*
 * Tests for chapter 11 — producers, part 1: idempotence. One test (or
 * more) per Interface rule and numbered invariant of 11_producers.c, each
 * in its own temp dir: a topic manager without a server, the producer
 * manager on top, batches built by testutil's encoder with a producer id,
 * epoch and sequence patched in.
 */
#include "testutil.h"

#include <dirent.h>
#include <inttypes.h>

#include "01_segment.h"
#include "03_log.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"
#include "11_producers.h"

/* ---- Fixture: a topic "t" with one partition and the manager ---- */

struct fx {
	char *dir;
	struct topic_broker_config cfg;
	struct prod_config pcfg;
	struct topic_manager *tm;
	struct prod_manager *pm;
	struct topic_partition *tp;
};

static void fx_open(struct fx *f)
{
	assert_int_equal(topic_manager_open(&f->cfg, NULL, &f->tm), KB_OK);
	assert_int_equal(prod_open(f->tm, NULL, &f->pcfg, &f->pm), KB_OK);
	f->tp = topic_partition_find(f->tm, "t", 0);
	assert_non_null(f->tp);
}

/* A fresh broker directory with topic "t" (configs: optional). */
static void fx_init(struct fx *f, const struct topic_config_kv *kv, size_t n)
{
	memset(f, 0, sizeof *f);
	f->dir = tu_tmpdir();
	topic_broker_config_defaults(&f->cfg);
	snprintf(f->cfg.log_dir, sizeof f->cfg.log_dir, "%s/logs", f->dir);
	prod_config_defaults(&f->pcfg);
	assert_int_equal(topic_manager_open(&f->cfg, NULL, &f->tm), KB_OK);
	assert_int_equal(topic_create(f->tm, TOPIC_REQ("t", 1, kv, n), NULL),
			 KB_OK);
	topic_manager_close(f->tm);
	fx_open(f);
}

static void fx_close(struct fx *f)
{
	prod_check(f->pm);
	prod_close(f->pm);
	topic_manager_close(f->tm);
	f->pm = NULL;
	f->tm = NULL;
}

static void fx_fini(struct fx *f)
{
	if (f->tm)
		fx_close(f);
	tu_rmrf(f->dir);
}

/* An idempotent batch of n records: tu_batch_build, then the producer
 * fields patched and the CRC computed again. */
static size_t idem_batch(uint8_t *buf, size_t cap, int64_t pid, int16_t epoch,
			 int32_t seq, int n)
{
	struct tu_record recs[16];
	assert_true(n <= 16);
	for (int i = 0; i < n; i++)
		recs[i] = (struct tu_record){NULL, "value", kb_now_ms()};
	size_t len = tu_batch_build(buf, cap, 0, recs, n);
	tu_be(buf + SEG_OFF_PRODUCER_ID, (uint64_t)pid, 8);
	tu_be(buf + SEG_OFF_PRODUCER_EPOCH, (uint64_t)epoch, 2);
	tu_be(buf + SEG_OFF_BASE_SEQUENCE, (uint64_t)seq, 4);
	tu_be(buf + SEG_OFF_CRC, tu_crc32c(buf + SEG_OFF_ATTRIBUTES,
					   len - SEG_OFF_ATTRIBUTES), 4);
	return len;
}

/* What Produce does with one batch: the check, then the append unless
 * the check said no or duplicate. *offset: the base offset answered. */
static int16_t produce(struct fx *f, int64_t pid, int16_t epoch, int32_t seq,
		       int n, int64_t *offset)
{
	uint8_t buf[4096];
	struct seg_batch h;
	struct topic_produce_verdict v;
	struct log_append_info info;
	size_t len = idem_batch(buf, sizeof buf, pid, epoch, seq, n);
	assert_int_equal(seg_batch_decode(buf, len, &h), KB_OK);
	topic_run_produce_check(f->tm, f->tp, &h, &v);
	prod_check(f->pm);
	*offset = v.duplicate ? v.base_offset : -1;
	if (v.error_code != KAFKA_ERR_NONE || v.duplicate)
		return v.error_code;
	assert_int_equal(topic_append_batch(f->tp, buf, len, &info), KB_OK);
	prod_check(f->pm);
	*offset = info.base_offset;
	return KAFKA_ERR_NONE;
}

/* produce, expecting success at offset want. */
static void produce_ok(struct fx *f, int64_t pid, int16_t epoch, int32_t seq,
		       int n, int64_t want)
{
	int64_t off;
	assert_int_equal(produce(f, pid, epoch, seq, n, &off), KAFKA_ERR_NONE);
	assert_int_equal(off, want);
}

static int64_t leo(const struct fx *f)
{
	return log_end_offset(f->tp->log);
}

static void snap_path(const struct fx *f, int64_t off, char *out, size_t cap)
{
	assert_int_equal(seg_file_name(out, cap,
				       (struct seg_file){f->tp->log->dir, off,
							 PROD_SNAPSHOT_SUFFIX}),
			 KB_OK);
}

static int count_snapshots(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	assert_non_null(d);
	while ((de = readdir(d)))
		n += strstr(de->d_name, PROD_SNAPSHOT_SUFFIX) != NULL;
	closedir(d);
	return n;
}

static void remove_snapshots(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[8192 + 512];
	assert_non_null(d);
	while ((de = readdir(d)))
		if (strstr(de->d_name, PROD_SNAPSHOT_SUFFIX)) {
			snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
			assert_int_equal(unlink(path), 0);
		}
	closedir(d);
}

/* Write a one-producer snapshot by hand, in Kafka's layout. */
static void hand_snapshot(const char *path, int64_t pid, int16_t epoch,
			  int32_t last_seq, int64_t last_offset, int32_t delta)
{
	uint8_t snap[PROD_SNAP_OFF_ENTRIES + 4 + PROD_SNAP_ENTRY_BYTES];
	uint8_t *e = snap + PROD_SNAP_OFF_ENTRIES + 4;
	tu_be(snap, PROD_SNAPSHOT_VERSION, 2);
	tu_be(snap + 6, 1, 4);                 /* one entry */
	tu_be(e, (uint64_t)pid, 8);            /* producer_id */
	tu_be(e + 8, (uint64_t)epoch, 2);      /* epoch */
	tu_be(e + 10, (uint64_t)last_seq, 4);  /* last_sequence */
	tu_be(e + 14, (uint64_t)last_offset, 8); /* last_offset */
	tu_be(e + 22, (uint64_t)delta, 4);     /* offset_delta */
	tu_be(e + 26, (uint64_t)kb_now_ms(), 8); /* timestamp */
	tu_be(e + 34, (uint64_t)-1, 4);        /* coordinator_epoch */
	tu_be(e + 38, (uint64_t)-1, 8);        /* current_txn_first_offset */
	tu_be(snap + 2, tu_crc32c(snap + 6, sizeof snap - 6), 4);
	tu_write_all(path, snap, sizeof snap);
}

/* ---- Producer ids (invariant 6) ---- */

static void test_prod_open_reserves_first_block_in_file(void **state)
{
	struct fx f;
	char path[8192];
	int64_t id;
	(void)state;
	fx_init(&f, NULL, 0);
	assert_int_equal(prod_next_producer_id(f.pm, &id), KB_OK);
	assert_int_equal(id, 0);
	snprintf(path, sizeof path, "%s/%s", f.cfg.log_dir, PROD_ID_FILE);
	size_t len = 0;
	uint8_t *text = tu_read_all(path, &len);
	assert_int_equal(len, 5);
	assert_memory_equal(text, "1000\n", 5);
	free(text);
	fx_fini(&f);
}

static void test_prod_ids_never_reused_across_restarts(void **state)
{
	struct fx f;
	int64_t id, last = -1;
	(void)state;
	fx_init(&f, NULL, 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(prod_next_producer_id(f.pm, &id), KB_OK);
		assert_int_equal(id, i);
		last = id;
	}
	fx_close(&f);
	fx_open(&f);
	assert_int_equal(prod_next_producer_id(f.pm, &id), KB_OK);
	assert_true(id > last);
	assert_int_equal(id, PROD_ID_BLOCK_SIZE); /* the rest of block 0 skipped */
	fx_fini(&f);
}

static void test_prod_ids_next_block_reserved_when_exhausted(void **state)
{
	struct fx f;
	char path[8192];
	int64_t id = -1;
	size_t len = 0;
	(void)state;
	fx_init(&f, NULL, 0);
	for (int i = 0; i <= PROD_ID_BLOCK_SIZE; i++)
		assert_int_equal(prod_next_producer_id(f.pm, &id), KB_OK);
	assert_int_equal(id, PROD_ID_BLOCK_SIZE);
	snprintf(path, sizeof path, "%s/%s", f.cfg.log_dir, PROD_ID_FILE);
	uint8_t *text = tu_read_all(path, &len);
	assert_int_equal(len, 5);
	assert_memory_equal(text, "2000\n", 5);
	free(text);
	fx_fini(&f);
}

static void test_prod_open_refuses_damaged_id_file(void **state)
{
	struct fx f;
	char path[8192];
	(void)state;
	fx_init(&f, NULL, 0);
	fx_close(&f);
	snprintf(path, sizeof path, "%s/%s", f.cfg.log_dir, PROD_ID_FILE);
	tu_write_all(path, "12x\n", 4);
	assert_int_equal(topic_manager_open(&f.cfg, NULL, &f.tm), KB_OK);
	assert_int_equal(prod_open(f.tm, NULL, &f.pcfg, &f.pm), KB_ERR_CORRUPT);
	topic_manager_close(f.tm);
	f.tm = NULL;
	fx_fini(&f);
}

/* ---- The produce check (invariants 1-4) ---- */

static void test_prod_batches_without_producer_id_pass(void **state)
{
	struct fx f;
	(void)state;
	fx_init(&f, NULL, 0);
	produce_ok(&f, -1, -1, -1, 2, 0);
	produce_ok(&f, -1, -1, -1, 2, 2); /* same bytes again: appended again */
	assert_int_equal(leo(&f), 4);
	fx_fini(&f);
}

static void test_prod_first_batch_at_sequence_zero_is_remembered(void **state)
{
	struct fx f;
	(void)state;
	fx_init(&f, NULL, 0);
	produce_ok(&f, 7, 0, 0, 3, 0);
	const struct prod_entry *e = prod_entry_find(f.pm, f.tp, 7);
	assert_non_null(e);
	assert_int_equal(e->epoch, 0);
	assert_int_equal(e->nbatches, 1);
	assert_int_equal(e->batches[0].first_seq, 0);
	assert_int_equal(e->batches[0].last_seq, 2);
	assert_int_equal(e->batches[0].first_offset, 0);
	assert_int_equal(e->batches[0].last_offset, 2);
	fx_fini(&f);
}

static void test_prod_duplicate_answers_original_offset_without_append(
	void **state)
{
	struct fx f;
	int64_t off;
	(void)state;
	fx_init(&f, NULL, 0);
	produce_ok(&f, -1, -1, -1, 4, 0); /* someone else's records first */
	produce_ok(&f, 7, 0, 0, 2, 4);
	produce_ok(&f, 7, 0, 2, 3, 6);
	assert_int_equal(produce(&f, 7, 0, 0, 2, &off), KAFKA_ERR_NONE);
	assert_int_equal(off, 4);
	assert_int_equal(produce(&f, 7, 0, 2, 3, &off), KAFKA_ERR_NONE);
	assert_int_equal(off, 6);
	assert_int_equal(leo(&f), 9); /* nothing appended twice */
	fx_fini(&f);
}

static void test_prod_duplicate_window_is_last_five_batches(void **state)
{
	struct fx f;
	int64_t off;
	(void)state;
	fx_init(&f, NULL, 0);
	for (int i = 0; i < PROD_BATCH_WINDOW + 1; i++)
		produce_ok(&f, 7, 0, i, 1, i);
	for (int i = 1; i <= PROD_BATCH_WINDOW; i++) {
		assert_int_equal(produce(&f, 7, 0, i, 1, &off), KAFKA_ERR_NONE);
		assert_int_equal(off, i);
	}
	/* The sixth-newest fell out of the window: now it is out of order. */
	assert_int_equal(produce(&f, 7, 0, 0, 1, &off),
			 KAFKA_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
	assert_int_equal(leo(&f), PROD_BATCH_WINDOW + 1);
	fx_fini(&f);
}

static void test_prod_sequence_gap_is_out_of_order(void **state)
{
	struct fx f;
	int64_t off;
	(void)state;
	fx_init(&f, NULL, 0);
	produce_ok(&f, 7, 0, 0, 2, 0);
	assert_int_equal(produce(&f, 7, 0, 3, 1, &off),
			 KAFKA_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
	assert_int_equal(off, -1);
	/* An overlap that is not an exact earlier batch is no duplicate. */
	assert_int_equal(produce(&f, 7, 0, 1, 1, &off),
			 KAFKA_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
	assert_int_equal(leo(&f), 2);
	produce_ok(&f, 7, 0, 2, 1, 2); /* the right one still goes in */
	fx_fini(&f);
}

static void test_prod_sequence_wraps_after_int32_max(void **state)
{
	struct fx f;
	int64_t off;
	char path[8192];
	(void)state;
	fx_init(&f, NULL, 0);
	produce_ok(&f, -1, -1, -1, 2, 0);
	snap_path(&f, 2, path, sizeof path);
	fx_close(&f);
	/* Producer 42's last batch held sequences INT32_MAX-1 .. 0: offsets
	 * 0..1 with delta 1, its last sequence wrapped to 0. */
	hand_snapshot(path, 42, 0, 0, 1, 1);
	fx_open(&f);
	const struct prod_entry *e = prod_entry_find(f.pm, f.tp, 42);
	assert_non_null(e);
	assert_int_equal(e->batches[0].first_seq, INT32_MAX);
	assert_int_equal(produce(&f, 42, 0, INT32_MAX, 2, &off), KAFKA_ERR_NONE);
	assert_int_equal(off, 0); /* the wrapped batch is found as duplicate */
	produce_ok(&f, 42, 0, 1, 1, 2);
	/* A producer whose last sequence is INT32_MAX goes on at 0. */
	snap_path(&f, 3, path, sizeof path);
	fx_close(&f);
	hand_snapshot(path, 43, 0, INT32_MAX, 2, 0);
	fx_open(&f);
	produce_ok(&f, 43, 0, 0, 1, 3);
	fx_fini(&f);
}

static void test_prod_stale_epoch_is_invalid_producer_epoch(void **state)
{
	struct fx f;
	int64_t off;
	(void)state;
	fx_init(&f, NULL, 0);
	produce_ok(&f, 7, 3, 0, 1, 0);
	assert_int_equal(produce(&f, 7, 2, 1, 1, &off),
			 KAFKA_ERR_INVALID_PRODUCER_EPOCH);
	assert_int_equal(produce(&f, 7, 2, 0, 1, &off),
			 KAFKA_ERR_INVALID_PRODUCER_EPOCH);
	assert_int_equal(leo(&f), 1);
	fx_fini(&f);
}

static void test_prod_epoch_bump_starts_at_zero_and_resets(void **state)
{
	struct fx f;
	int64_t off;
	(void)state;
	fx_init(&f, NULL, 0);
	produce_ok(&f, 7, 0, 0, 2, 0);
	produce_ok(&f, 7, 0, 2, 2, 2);
	assert_int_equal(produce(&f, 7, 1, 4, 1, &off),
			 KAFKA_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
	produce_ok(&f, 7, 1, 0, 2, 4);
	const struct prod_entry *e = prod_entry_find(f.pm, f.tp, 7);
	assert_int_equal(e->epoch, 1);
	assert_int_equal(e->nbatches, 1); /* the old epoch's batches forgotten */
	/* The old epoch's batch (0, 0-1) is no duplicate any more. */
	assert_int_equal(produce(&f, 7, 0, 0, 2, &off),
			 KAFKA_ERR_INVALID_PRODUCER_EPOCH);
	assert_int_equal(leo(&f), 6);
	fx_fini(&f);
}

static void test_prod_unknown_producer_must_start_at_zero(void **state)
{
	struct fx f;
	int64_t off;
	(void)state;
	fx_init(&f, NULL, 0);
	assert_int_equal(produce(&f, 9, 0, 5, 1, &off),
			 KAFKA_ERR_UNKNOWN_PRODUCER_ID);
	assert_null(prod_entry_find(f.pm, f.tp, 9));
	assert_int_equal(leo(&f), 0);
	produce_ok(&f, 9, 0, 0, 1, 0);
	fx_fini(&f);
}

static void test_prod_producers_are_independent(void **state)
{
	struct fx f;
	int64_t off;
	(void)state;
	fx_init(&f, NULL, 0);
	produce_ok(&f, 7, 0, 0, 1, 0);
	produce_ok(&f, 8, 0, 0, 1, 1);
	produce_ok(&f, 7, 0, 1, 1, 2);
	assert_int_equal(produce(&f, 8, 0, 0, 1, &off), KAFKA_ERR_NONE);
	assert_int_equal(off, 1);
	fx_fini(&f);
}

static void test_prod_high_watermark_follows_appends(void **state)
{
	struct fx f;
	(void)state;
	fx_init(&f, NULL, 0);
	produce_ok(&f, 7, 0, 0, 3, 0);
	produce_ok(&f, -1, -1, -1, 2, 3);
	assert_int_equal(f.tp->high_watermark, 5);
	fx_fini(&f);
}

/* ---- Recovery (invariants 5 and 7) ---- */

static void test_prod_state_rebuilt_from_log_without_snapshot(void **state)
{
	struct fx f;
	int64_t off;
	char dir[8192];
	(void)state;
	fx_init(&f, NULL, 0);
	produce_ok(&f, 7, 0, 0, 2, 0);
	produce_ok(&f, -1, -1, -1, 1, 2);
	produce_ok(&f, 7, 0, 2, 2, 3);
	produce_ok(&f, 8, 4, 0, 1, 5);
	snprintf(dir, sizeof dir, "%s", f.tp->log->dir);
	fx_close(&f);
	remove_snapshots(dir);
	fx_open(&f);
	assert_int_equal(produce(&f, 7, 0, 0, 2, &off), KAFKA_ERR_NONE);
	assert_int_equal(off, 0);
	assert_int_equal(produce(&f, 7, 0, 2, 2, &off), KAFKA_ERR_NONE);
	assert_int_equal(off, 3);
	assert_int_equal(produce(&f, 8, 3, 1, 1, &off),
			 KAFKA_ERR_INVALID_PRODUCER_EPOCH);
	assert_int_equal(leo(&f), 6);
	produce_ok(&f, 7, 0, 4, 1, 6);
	fx_fini(&f);
}

static void test_prod_clean_shutdown_writes_snapshot_at_log_end(void **state)
{
	struct fx f;
	char path[8192];
	(void)state;
	fx_init(&f, NULL, 0);
	produce_ok(&f, 7, 0, 0, 3, 0);
	snap_path(&f, 3, path, sizeof path);
	fx_close(&f);
	assert_true(tu_file_size(path) > 0);
	fx_fini(&f);
}

/* Issue 9: prod_close freed each partition's state before the next
 * snapshot looked all of them up again (a use-after-free the sanitizer
 * build aborts on). With two partitions, both snapshots must be written. */
static void test_prod_clean_shutdown_snapshots_every_partition(void **state)
{
	struct fx f;
	char path0[8192], path1[8192];
	(void)state;
	fx_init(&f, NULL, 0);
	assert_int_equal(topic_create(f.tm, TOPIC_REQ("u", 2, NULL, 0), NULL),
			 KB_OK);
	produce_ok(&f, 7, 0, 0, 3, 0);
	struct topic_partition *t = f.tp;
	for (int32_t p = 0; p < 2; p++) {
		f.tp = topic_partition_find(f.tm, "u", p);
		produce_ok(&f, 7, 0, 0, 2 + p, 0);
	}
	snap_path(&f, 3, path1, sizeof path1);
	f.tp = topic_partition_find(f.tm, "u", 0);
	snap_path(&f, 2, path0, sizeof path0);
	f.tp = t;
	fx_close(&f);
	assert_true(tu_file_size(path0) > 0);
	assert_true(tu_file_size(path1) > 0);
	fx_fini(&f);
}

static void test_prod_state_rebuilt_from_snapshot_and_log_tail(void **state)
{
	struct fx f;
	int64_t off;
	char path[8192];
	(void)state;
	fx_init(&f, NULL, 0);
	produce_ok(&f, 7, 0, 0, 2, 0);
	assert_int_equal(prod_snapshot_write(f.pm, f.tp), KB_OK); /* at 2 */
	produce_ok(&f, 8, 0, 0, 1, 2); /* only in the log after it */
	produce_ok(&f, 7, 0, 2, 1, 3);
	snap_path(&f, 4, path, sizeof path);
	fx_close(&f);
	assert_int_equal(unlink(path), 0); /* as if the broker crashed */
	fx_open(&f);
	assert_int_equal(produce(&f, 8, 0, 0, 1, &off), KAFKA_ERR_NONE);
	assert_int_equal(off, 2);
	assert_int_equal(produce(&f, 7, 0, 2, 1, &off), KAFKA_ERR_NONE);
	assert_int_equal(off, 3);
	const struct prod_entry *e = prod_entry_find(f.pm, f.tp, 7);
	assert_int_equal(e->nbatches, 2); /* one from the snapshot, one scanned */
	assert_int_equal(e->batches[0].first_offset, 0);
	assert_int_equal(e->batches[0].last_offset, 1);
	fx_fini(&f);
}

/* A snapshot is trusted: the log below it is not read again. Write one
 * that knows a producer the log never saw, and the loaded state has it. */
static void test_prod_recovery_reads_only_log_after_snapshot(void **state)
{
	struct fx f;
	int64_t off;
	char path[8192];
	(void)state;
	fx_init(&f, NULL, 0);
	produce_ok(&f, 7, 0, 0, 2, 0);
	snap_path(&f, 2, path, sizeof path);
	fx_close(&f);
	hand_snapshot(path, 42, 5, 9, 1, 0);
	fx_open(&f);
	assert_null(prod_entry_find(f.pm, f.tp, 7));
	assert_int_equal(produce(&f, 42, 5, 9, 1, &off), KAFKA_ERR_NONE);
	assert_int_equal(off, 1);
	produce_ok(&f, 42, 5, 10, 1, 2);
	fx_fini(&f);
}

static void test_prod_damaged_snapshot_falls_back_to_log(void **state)
{
	struct fx f;
	int64_t off;
	char path[8192];
	(void)state;
	fx_init(&f, NULL, 0);
	produce_ok(&f, 7, 0, 0, 2, 0);
	snap_path(&f, 2, path, sizeof path);
	fx_close(&f);
	size_t len = 0;
	uint8_t *b = tu_read_all(path, &len);
	b[len - 1] ^= 1; /* the CRC no longer matches */
	tu_write_all(path, b, len);
	free(b);
	fx_open(&f);
	assert_int_equal(produce(&f, 7, 0, 0, 2, &off), KAFKA_ERR_NONE);
	assert_int_equal(off, 0);
	assert_int_equal(leo(&f), 2);
	fx_fini(&f);
}

static void test_prod_snapshot_with_impossible_entry_is_damaged(void **state)
{
	struct fx f;
	int64_t off;
	char path[8192];
	(void)state;
	fx_init(&f, NULL, 0);
	produce_ok(&f, 7, 0, 0, 2, 0);
	snap_path(&f, 2, path, sizeof path);
	fx_close(&f);
	hand_snapshot(path, 42, 0, 5, 1, -3); /* right CRC, negative delta */
	fx_open(&f);
	assert_null(prod_entry_find(f.pm, f.tp, 42));
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(produce(&f, 7, 0, 0, 2, &off), KAFKA_ERR_NONE);
	assert_int_equal(off, 0); /* from the log instead */
	fx_fini(&f);
}

static void test_prod_snapshot_past_log_end_is_deleted(void **state)
{
	struct fx f;
	char path[8192], good[8192];
	(void)state;
	fx_init(&f, NULL, 0);
	produce_ok(&f, 7, 0, 0, 2, 0);
	snap_path(&f, 2, good, sizeof good);
	snap_path(&f, 50, path, sizeof path);
	fx_close(&f);
	size_t len = 0;
	uint8_t *b = tu_read_all(good, &len);
	tu_write_all(path, b, len); /* a crash took offsets 2..49 away */
	free(b);
	fx_open(&f);
	assert_non_null(prod_entry_find(f.pm, f.tp, 7));
	assert_int_equal(access(path, F_OK), -1);
	fx_fini(&f);
}

static void test_prod_snapshot_bytes_in_kafka_layout(void **state)
{
	struct fx f;
	char path[8192];
	size_t len = 0;
	(void)state;
	fx_init(&f, NULL, 0);
	produce_ok(&f, 7, 2, 0, 2, 0);
	produce_ok(&f, 7, 2, 2, 3, 2);
	assert_int_equal(prod_snapshot_write(f.pm, f.tp), KB_OK);
	snap_path(&f, 5, path, sizeof path);
	assert_non_null(strstr(path, "/00000000000000000005.snapshot"));
	uint8_t *b = tu_read_all(path, &len);
	assert_int_equal(len, 6 + 4 + 46);
	assert_int_equal(kb_get_be16(b), 1);                    /* version */
	assert_int_equal(kb_get_be32(b + 2), tu_crc32c(b + 6, len - 6));
	assert_int_equal(kb_get_be32(b + 6), 1);                /* entries */
	const uint8_t *e = b + 10;
	assert_int_equal(kb_get_be64(e), 7);                    /* producer_id */
	assert_int_equal(kb_get_be16(e + 8), 2);                /* epoch */
	assert_int_equal(kb_get_be32(e + 10), 4);               /* last_sequence */
	assert_int_equal(kb_get_be64(e + 14), 4);               /* last_offset */
	assert_int_equal(kb_get_be32(e + 22), 2);               /* offset_delta */
	assert_true((int64_t)kb_get_be64(e + 26) > 0);          /* timestamp */
	assert_int_equal((int32_t)kb_get_be32(e + 34), -1);     /* coord. epoch */
	assert_int_equal((int64_t)kb_get_be64(e + 38), -1);     /* txn first */
	free(b);
	fx_fini(&f);
}

static void test_prod_snapshot_written_at_segment_roll(void **state)
{
	struct fx f;
	char path[8192];
	const struct topic_config_kv kv[] = {{"segment.bytes", "400"}};
	(void)state;
	fx_init(&f, kv, 1);
	int64_t off = 0;
	for (int i = 0; i < 6; i++, off += 3)
		produce_ok(&f, 7, 0, (int32_t)off, 3, off);
	assert_true(f.tp->log->nsegs > 1);
	int64_t base = f.tp->log->segs[1].seg->base_offset;
	snap_path(&f, base, path, sizeof path);
	assert_true(tu_file_size(path) > 0);
	fx_fini(&f);
}

static void test_prod_only_newest_snapshots_kept(void **state)
{
	struct fx f;
	char dir[8192];
	(void)state;
	fx_init(&f, NULL, 0);
	for (int i = 0; i < 4; i++) {
		produce_ok(&f, 7, 0, i, 1, i);
		assert_int_equal(prod_snapshot_write(f.pm, f.tp), KB_OK);
	}
	snprintf(dir, sizeof dir, "%s", f.tp->log->dir);
	assert_int_equal(count_snapshots(dir), PROD_SNAPSHOTS_KEPT);
	fx_fini(&f);
}

/* ---- Expiration ---- */

static void test_prod_expire_drops_idle_producers(void **state)
{
	struct fx f;
	int64_t off;
	(void)state;
	fx_init(&f, NULL, 0);
	produce_ok(&f, 7, 0, 0, 1, 0);
	int64_t now = kb_now_ms();
	assert_int_equal(prod_expire(f.pm, now), 0);
	assert_int_equal(prod_expire(f.pm, now + PROD_DEFAULT_EXPIRATION_MS + 1000),
			 1);
	assert_null(prod_entry_find(f.pm, f.tp, 7));
	assert_int_equal(produce(&f, 7, 0, 1, 1, &off),
			 KAFKA_ERR_UNKNOWN_PRODUCER_ID);
	fx_fini(&f);
}

/* ---- InitProducerId ---- */

/* Send one InitProducerId of version v to the handler and decode the
 * answer. txn NULL: the null transactional id. */
static int call_init(struct fx *f, int16_t v, const char *txn, int64_t pid,
		     int16_t epoch, int16_t *err, int64_t *out_pid,
		     int16_t *out_epoch)
{
	struct kb_buf body, out;
	struct wire_writer w;
	struct net_request req = {.ctx = f->pm};
	struct net_response resp;
	bool flex = v >= 2;
	kb_buf_init(&body);
	wire_writer_init(&w, &body, flex);
	wire_write_string(&w, wire_str_c(txn));
	wire_write_i32(&w, 60000);
	if (v >= 3) {
		wire_write_i64(&w, pid);
		wire_write_i16(&w, epoch);
	}
	wire_write_tags(&w);
	assert_int_equal(wire_writer_status(&w), KB_OK);
	req.header.api_key = WIRE_API_INIT_PRODUCER_ID;
	req.header.api_version = v;
	wire_reader_init(&req.body, body.data, body.len, flex);
	memset(&resp, 0, sizeof resp);
	kb_buf_init(&out);
	wire_writer_init(&resp.w, &out, flex);
	int rc = handle_init_producer_id(&req, &resp);
	if (rc == KB_OK) {
		struct wire_reader r;
		wire_reader_init(&r, out.data, out.len, flex);
		assert_int_equal(wire_read_i32(&r), 0); /* throttle_time_ms */
		*err = wire_read_i16(&r);
		*out_pid = wire_read_i64(&r);
		*out_epoch = wire_read_i16(&r);
		wire_read_tags(&r);
		assert_int_equal(wire_reader_status(&r), KB_OK);
		assert_int_equal(wire_remaining(&r), 0);
	}
	kb_buf_fini(&body);
	kb_buf_fini(&out);
	return rc;
}

static void test_prod_init_producer_id_every_version(void **state)
{
	struct fx f;
	int16_t err, epoch;
	int64_t pid;
	(void)state;
	fx_init(&f, NULL, 0);
	for (int16_t v = PROD_INIT_MIN_VERSION; v <= PROD_INIT_MAX_VERSION; v++) {
		assert_int_equal(call_init(&f, v, NULL, -1, -1, &err, &pid, &epoch),
				 KB_OK);
		assert_int_equal(err, KAFKA_ERR_NONE);
		assert_int_equal(pid, v); /* 0, 1, 2... each a new id */
		assert_int_equal(epoch, 0);
	}
	fx_fini(&f);
}

static void test_prod_init_producer_id_with_id_gets_new_id(void **state)
{
	struct fx f;
	int16_t err, epoch;
	int64_t pid, pid2;
	(void)state;
	fx_init(&f, NULL, 0);
	assert_int_equal(call_init(&f, 4, NULL, -1, -1, &err, &pid, &epoch), KB_OK);
	/* KAFKA: with a null transactional id the coordinator ignores the
	 * id and epoch sent and hands out a new id, epoch 0. */
	assert_int_equal(call_init(&f, 4, NULL, pid, 0, &err, &pid2, &epoch),
			 KB_OK);
	assert_int_equal(err, KAFKA_ERR_NONE);
	assert_true(pid2 > pid);
	assert_int_equal(epoch, 0);
	fx_fini(&f);
}

static void test_prod_init_producer_id_half_given_is_invalid(void **state)
{
	struct fx f;
	int16_t err, epoch;
	int64_t pid;
	(void)state;
	fx_init(&f, NULL, 0);
	assert_int_equal(call_init(&f, 3, NULL, -1, 2, &err, &pid, &epoch), KB_OK);
	assert_int_equal(err, KAFKA_ERR_INVALID_REQUEST);
	assert_int_equal(pid, -1);
	assert_int_equal(epoch, -1);
	assert_int_equal(call_init(&f, 3, NULL, 5, -1, &err, &pid, &epoch), KB_OK);
	assert_int_equal(err, KAFKA_ERR_INVALID_REQUEST);
	fx_fini(&f);
}

static void test_prod_init_producer_id_transactional_unavailable(void **state)
{
	struct fx f;
	int16_t err, epoch;
	int64_t pid;
	(void)state;
	fx_init(&f, NULL, 0);
	for (int16_t v = PROD_INIT_MIN_VERSION; v <= PROD_INIT_MAX_VERSION; v++) {
		assert_int_equal(call_init(&f, v, "tx", -1, -1, &err, &pid, &epoch),
				 KB_OK);
		assert_int_equal(err, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE);
		assert_int_equal(pid, -1);
		assert_int_equal(epoch, -1);
	}
	fx_fini(&f);
}

static void test_prod_init_producer_id_truncated_is_proto_error(void **state)
{
	struct fx f;
	uint8_t body[3] = {0xff, 0xff, 0x00}; /* null id, half a timeout */
	struct net_request req = {.ctx = NULL};
	struct net_response resp;
	struct kb_buf out;
	(void)state;
	fx_init(&f, NULL, 0);
	req.ctx = f.pm;
	req.header.api_version = 1;
	wire_reader_init(&req.body, body, sizeof body, false);
	kb_buf_init(&out);
	memset(&resp, 0, sizeof resp);
	wire_writer_init(&resp.w, &out, false);
	assert_int_equal(handle_init_producer_id(&req, &resp), KB_ERR_PROTO);
	kb_buf_fini(&out);
	fx_fini(&f);
}

/* ---- Producer ids from a block source (a cluster) ---- */

/* A fake controller: each allocate is remembered; the test answers it
 * later with fake_answer, as AllocateProducerIds' response would. */
struct fake_src {
	int asks;
	prod_id_block_fn done;
	void *done_ctx;
	int64_t next_start;
};

static int fake_allocate(void *ctx, prod_id_block_fn done, void *done_ctx)
{
	struct fake_src *s = ctx;
	assert_null(s->done); /* one ask in flight at a time */
	s->asks++;
	s->done = done;
	s->done_ctx = done_ctx;
	return KB_OK;
}

static void fake_answer(struct fake_src *s, int32_t len)
{
	prod_id_block_fn done = s->done;
	assert_non_null(done);
	s->done = NULL;
	done(s->done_ctx, KAFKA_ERR_NONE, s->next_start, len);
	s->next_start += 1000 + len; /* blocks need not be adjacent */
}

static void init_expect(struct fx *f, int16_t want_err, int64_t want_pid)
{
	int16_t err, epoch;
	int64_t pid;
	assert_int_equal(call_init(f, 4, NULL, -1, -1, &err, &pid, &epoch),
			 KB_OK);
	assert_int_equal(err, want_err);
	assert_int_equal(pid, want_pid);
	prod_check(f->pm);
}

static void test_prod_ids_from_source_blocks_in_order(void **state)
{
	struct fx f;
	struct fake_src s = {0, NULL, NULL, 5000};
	struct prod_id_source src = {fake_allocate, &s};
	(void)state;
	fx_init(&f, NULL, 0);
	prod_set_id_source(f.pm, &src);
	/* No block yet: asked for, and the client told to retry. */
	init_expect(&f, KAFKA_ERR_COORDINATOR_LOAD_IN_PROGRESS, -1);
	init_expect(&f, KAFKA_ERR_COORDINATOR_LOAD_IN_PROGRESS, -1);
	assert_int_equal(s.asks, 1);
	fake_answer(&s, 10); /* 5000..5009 */
	for (int64_t i = 0; i < 9; i++)
		init_expect(&f, KAFKA_ERR_NONE, 5000 + i);
	/* The 9th id of 10 is 90%: the next block was asked for. */
	assert_int_equal(s.asks, 2);
	fake_answer(&s, 10); /* 6010..6019 */
	init_expect(&f, KAFKA_ERR_NONE, 5009);
	init_expect(&f, KAFKA_ERR_NONE, 6010); /* across the boundary */
	assert_int_equal(s.asks, 2);
	fx_fini(&f);
}

static void test_prod_ids_source_late_block_answered_after_retry(
	void **state)
{
	struct fx f;
	struct fake_src s = {0, NULL, NULL, 0};
	struct prod_id_source src = {fake_allocate, &s};
	(void)state;
	fx_init(&f, NULL, 0);
	prod_set_id_source(f.pm, &src);
	init_expect(&f, KAFKA_ERR_COORDINATOR_LOAD_IN_PROGRESS, -1);
	fake_answer(&s, 2); /* 0..1; the 90% point is id 1 */
	init_expect(&f, KAFKA_ERR_NONE, 0);
	init_expect(&f, KAFKA_ERR_NONE, 1);
	assert_int_equal(s.asks, 2);
	/* The prefetch has not come back: exhausted, retry later. */
	init_expect(&f, KAFKA_ERR_COORDINATOR_LOAD_IN_PROGRESS, -1);
	assert_int_equal(s.asks, 2);
	fake_answer(&s, 5); /* 1002.. */
	init_expect(&f, KAFKA_ERR_NONE, 1002);
	fx_fini(&f);
}

static void test_prod_ids_source_refused_block_is_dropped(void **state)
{
	struct fx f;
	struct fake_src s = {0, NULL, NULL, 100};
	struct prod_id_source src = {fake_allocate, &s};
	(void)state;
	fx_init(&f, NULL, 0);
	prod_set_id_source(f.pm, &src);
	init_expect(&f, KAFKA_ERR_COORDINATOR_LOAD_IN_PROGRESS, -1);
	prod_id_block_fn done = s.done;
	s.done = NULL;
	done(s.done_ctx, KAFKA_ERR_NOT_CONTROLLER, 0, 0);
	init_expect(&f, KAFKA_ERR_COORDINATOR_LOAD_IN_PROGRESS, -1);
	assert_int_equal(s.asks, 2); /* asked again */
	fake_answer(&s, 3);
	/* Going back (a block below the last one) is refused. */
	init_expect(&f, KAFKA_ERR_NONE, 100);
	init_expect(&f, KAFKA_ERR_NONE, 101);
	done = s.done;
	s.done = NULL;
	done(s.done_ctx, KAFKA_ERR_NONE, 50, 10);
	init_expect(&f, KAFKA_ERR_NONE, 102);
	init_expect(&f, KAFKA_ERR_COORDINATOR_LOAD_IN_PROGRESS, -1);
	fx_fini(&f);
	fake_answer(&s, 1); /* the ask still out: answered after close */
}

static void test_prod_ids_source_answer_after_close_is_dropped(void **state)
{
	struct fx f;
	struct fake_src s = {0, NULL, NULL, 0};
	struct prod_id_source src = {fake_allocate, &s};
	(void)state;
	fx_init(&f, NULL, 0);
	prod_set_id_source(f.pm, &src);
	init_expect(&f, KAFKA_ERR_COORDINATOR_LOAD_IN_PROGRESS, -1);
	fx_close(&f);
	fake_answer(&s, 10); /* frees its ask, touches no manager */
	fx_fini(&f);
}

static void test_prod_ids_without_source_use_file(void **state)
{
	struct fx f;
	struct fake_src s = {0, NULL, NULL, 7000};
	struct prod_id_source src = {fake_allocate, &s};
	(void)state;
	fx_init(&f, NULL, 0);
	init_expect(&f, KAFKA_ERR_NONE, 0); /* the file's first block */
	prod_set_id_source(f.pm, &src);
	init_expect(&f, KAFKA_ERR_COORDINATOR_LOAD_IN_PROGRESS, -1);
	fake_answer(&s, 10);
	init_expect(&f, KAFKA_ERR_NONE, 7000);
	prod_set_id_source(f.pm, NULL); /* the file again, past its block */
	init_expect(&f, KAFKA_ERR_NONE, PROD_ID_BLOCK_SIZE);
	fx_fini(&f);
}

int main(void)
{
	tu_log_quiet(); /* a passing run prints no log lines */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prod_open_reserves_first_block_in_file),
		cmocka_unit_test(test_prod_ids_never_reused_across_restarts),
		cmocka_unit_test(test_prod_ids_next_block_reserved_when_exhausted),
		cmocka_unit_test(test_prod_open_refuses_damaged_id_file),
		cmocka_unit_test(test_prod_batches_without_producer_id_pass),
		cmocka_unit_test(test_prod_first_batch_at_sequence_zero_is_remembered),
		cmocka_unit_test(test_prod_duplicate_answers_original_offset_without_append),
		cmocka_unit_test(test_prod_duplicate_window_is_last_five_batches),
		cmocka_unit_test(test_prod_sequence_gap_is_out_of_order),
		cmocka_unit_test(test_prod_sequence_wraps_after_int32_max),
		cmocka_unit_test(test_prod_stale_epoch_is_invalid_producer_epoch),
		cmocka_unit_test(test_prod_epoch_bump_starts_at_zero_and_resets),
		cmocka_unit_test(test_prod_unknown_producer_must_start_at_zero),
		cmocka_unit_test(test_prod_producers_are_independent),
		cmocka_unit_test(test_prod_high_watermark_follows_appends),
		cmocka_unit_test(test_prod_state_rebuilt_from_log_without_snapshot),
		cmocka_unit_test(test_prod_clean_shutdown_writes_snapshot_at_log_end),
		cmocka_unit_test(test_prod_clean_shutdown_snapshots_every_partition),
		cmocka_unit_test(test_prod_state_rebuilt_from_snapshot_and_log_tail),
		cmocka_unit_test(test_prod_recovery_reads_only_log_after_snapshot),
		cmocka_unit_test(test_prod_damaged_snapshot_falls_back_to_log),
		cmocka_unit_test(test_prod_snapshot_with_impossible_entry_is_damaged),
		cmocka_unit_test(test_prod_snapshot_past_log_end_is_deleted),
		cmocka_unit_test(test_prod_snapshot_bytes_in_kafka_layout),
		cmocka_unit_test(test_prod_snapshot_written_at_segment_roll),
		cmocka_unit_test(test_prod_only_newest_snapshots_kept),
		cmocka_unit_test(test_prod_expire_drops_idle_producers),
		cmocka_unit_test(test_prod_init_producer_id_every_version),
		cmocka_unit_test(test_prod_init_producer_id_with_id_gets_new_id),
		cmocka_unit_test(test_prod_init_producer_id_half_given_is_invalid),
		cmocka_unit_test(test_prod_init_producer_id_transactional_unavailable),
		cmocka_unit_test(test_prod_init_producer_id_truncated_is_proto_error),
		cmocka_unit_test(test_prod_ids_from_source_blocks_in_order),
		cmocka_unit_test(test_prod_ids_source_late_block_answered_after_retry),
		cmocka_unit_test(test_prod_ids_source_refused_block_is_dropped),
		cmocka_unit_test(test_prod_ids_source_answer_after_close_is_dropped),
		cmocka_unit_test(test_prod_ids_without_source_use_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
