/* SPDX-License-Identifier: MIT */
/*
 * Tests for chapter 03's second file, chapters/03_checkpoints.c: one test
 * per Interface rule and per numbered invariant, on the bytes of the files
 * Kafka would write (recovery-point-offset-checkpoint and friends,
 * .kafka_cleanshutdown, leader-epoch-checkpoint) and on the leader epoch
 * cache those files hold.
 */
#include "testutil.h"

#include <dirent.h>
#include <inttypes.h>

#include "01_segment.h"
#include "02_index.h"
#include "03_log.h"

/* A timestamp in 2023. */
#define T0 1700000000000LL

static uint8_t tl_buf[1 << 16];

/* Small segments, so truncation and retention tests have several. */
static struct log_config tl_cfg(void)
{
	struct log_config c;
	log_config_defaults(&c);
	c.segment_bytes = 1024;
	c.segment_ms = 100LL * 365 * 24 * 3600 * 1000;
	c.segment_index_bytes = 1024;
	c.index_interval_bytes = 256;
	return c;
}

static struct log *tl_open(const char *dir, const struct log_config *c,
			   const struct log_recovery_hint *hint)
{
	struct log *log = NULL;
	assert_int_equal(log_open(dir, c, hint, &log), KB_OK);
	assert_non_null(log);
	return log;
}

/* Append n records with timestamps ts, ts+1, ... under leader epoch. */
static void tl_append(struct log *log, int n, int64_t ts, size_t value_len,
		      int32_t epoch)
{
	size_t len = tu_batch_simple(tl_buf, sizeof tl_buf, n, ts, value_len);
	struct log_append_info info;
	assert_int_equal(log_append(log, TU_APPEND(tl_buf, len, epoch, ts), &info),
			 KB_OK);
}

static char *tl_path(const char *dir, const char *name)
{
	char *p = malloc(strlen(dir) + strlen(name) + 2);
	sprintf(p, "%s/%s", dir, name);
	return p;
}

/* How many entries of dir start with prefix. */
static int tl_count_files(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

/* ---- Log directory checkpoints ---- */

static void test_log_checkpoint_write_kafka_format(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_checkpoint_entry e[2] = {{"my-topic", 0, 42}, {"other", 3, 7}};
	assert_int_equal(log_checkpoint_write(dir, "recovery-point-offset-checkpoint",
					      e, 2), KB_OK);
	char *p = tl_path(dir, "recovery-point-offset-checkpoint");
	size_t len = 0;
	uint8_t *data = tu_read_all(p, &len);
	assert_int_equal(len, strlen("0\n2\nmy-topic 0 42\nother 3 7\n"));
	assert_memory_equal(data, "0\n2\nmy-topic 0 42\nother 3 7\n", len);
	free(data);
	struct log_checkpoint_entry *got;
	size_t n;
	assert_int_equal(log_checkpoint_read(dir, "recovery-point-offset-checkpoint",
					     &got, &n), KB_OK);
	assert_int_equal(n, 2);
	assert_string_equal(got[0].topic, "my-topic");
	assert_int_equal(got[1].partition, 3);
	assert_int_equal(got[1].offset, 7);
	free(got);
	/* an empty checkpoint */
	assert_int_equal(log_checkpoint_write(dir, "x", NULL, 0), KB_OK);
	char *q = tl_path(dir, "x");
	data = tu_read_all(q, &len);
	assert_int_equal(len, 4);
	assert_memory_equal(data, "0\n0\n", 4);
	free(data);
	struct log_checkpoint_entry bad = {"has space", 0, 1};
	assert_int_equal(log_checkpoint_write(dir, "x", &bad, 1), KB_ERR_INVAL);
	free(q);
	free(p);
	tu_rmrf(dir);
}

static void test_log_checkpoint_read_rejects_malformed(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	const char *bad[] = {
		"1\n0\n",                     /* unknown version */
		"0\n2\nt 0 1\n",              /* fewer lines than the count */
		"0\n1\nt 0 1\nu 0 2\n",       /* more lines */
		"0\n1\nt 0\n",                /* a field missing */
		"0\n1\nt 0 1 9\n",            /* a field too many */
		"0\n1\nt x 1\n",              /* partition not a number */
		"0\n1\nt -1 1\n",             /* negative partition */
		"0\n1\nt 0 99999999999999999999\n", /* offset overflow */
		"0\n1\nt  0 1\n",             /* an empty field */
		"0\n-1\n",                    /* negative count */
		"0\n99999\nt 0 1\n",          /* a count the file cannot hold */
		"0\n",                        /* no count */
		"garbage",
		"0\n1\n\n",
	};
	char *p = tl_path(dir, "cp");
	for (size_t i = 0; i < KB_ARRAY_LEN(bad); i++) {
		tu_write_all(p, bad[i], strlen(bad[i]));
		struct log_checkpoint_entry *e = (void *)1;
		size_t n = 7;
		assert_int_equal(log_checkpoint_read(dir, "cp", &e, &n),
				 KB_ERR_CORRUPT);
		assert_null(e);
		assert_int_equal(n, 0);
	}
	/* a missing file is no entries; so is an empty one */
	struct log_checkpoint_entry *e;
	size_t n;
	assert_int_equal(log_checkpoint_read(dir, "missing", &e, &n), KB_OK);
	assert_int_equal(n, 0);
	tu_write_all(p, "", 0);
	assert_int_equal(log_checkpoint_read(dir, "cp", &e, &n), KB_OK);
	assert_int_equal(n, 0);
	free(e);
	/* the last newline is optional, as for Java's readLine */
	tu_write_all(p, "0\n1\nt 0 1", 9);
	assert_int_equal(log_checkpoint_read(dir, "cp", &e, &n), KB_OK);
	assert_int_equal(n, 1);
	free(e);
	free(p);
	tu_rmrf(dir);
}

static void test_log_dir_parse_name_splits_at_last_dash(void **state)
{
	(void)state;
	struct log_checkpoint_entry e;
	assert_int_equal(log_dir_parse_name("my-topic-12", &e), KB_OK);
	assert_string_equal(e.topic, "my-topic");
	assert_int_equal(e.partition, 12);
	assert_int_equal(log_dir_parse_name("__consumer_offsets-0", &e), KB_OK);
	assert_string_equal(e.topic, "__consumer_offsets");
	assert_int_equal(log_dir_parse_name("nodash", &e), KB_ERR_INVAL);
	assert_int_equal(log_dir_parse_name("-3", &e), KB_ERR_INVAL);
	assert_int_equal(log_dir_parse_name("t-", &e), KB_ERR_INVAL);
	assert_int_equal(log_dir_parse_name("t-1x", &e), KB_ERR_INVAL);
}

static void test_log_dir_clean_mark_taken_once(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	assert_false(log_dir_take_clean_mark(dir));
	assert_int_equal(log_dir_mark_clean(dir), KB_OK);
	char *p = tl_path(dir, ".kafka_cleanshutdown");
	assert_int_equal(tu_file_size(p), 0);
	assert_true(log_dir_take_clean_mark(dir));
	assert_false(log_dir_take_clean_mark(dir));
	free(p);
	tu_rmrf(dir);
}

/* The file names are Kafka's. */
static void test_log_checkpoint_file_names_are_kafkas(void **state)
{
	(void)state;
	assert_string_equal(LOG_RECOVERY_POINT_CHECKPOINT,
			    "recovery-point-offset-checkpoint");
	assert_string_equal(LOG_START_OFFSET_CHECKPOINT,
			    "log-start-offset-checkpoint");
	assert_string_equal(LOG_CLEAN_SHUTDOWN_FILE, ".kafka_cleanshutdown");
	assert_string_equal(LOG_EPOCH_CHECKPOINT, "leader-epoch-checkpoint");
}

/* INVARIANT 1: a rewrite replaces the whole file (a longer old file leaves
 * no tail behind) and leaves no temporary file next to it. */
static void test_log_checkpoint_write_replaces_whole_file(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_checkpoint_entry e[3] = {
		{"a", 0, 100}, {"b", 1, 200}, {"c", 2, 300}};
	assert_int_equal(log_checkpoint_write(dir, LOG_START_OFFSET_CHECKPOINT,
					      e, 3), KB_OK);
	assert_int_equal(log_checkpoint_write(dir, LOG_START_OFFSET_CHECKPOINT,
					      e + 1, 1), KB_OK);
	char *p = tl_path(dir, LOG_START_OFFSET_CHECKPOINT);
	size_t len = 0;
	uint8_t *data = tu_read_all(p, &len);
	assert_int_equal(len, strlen("0\n1\nb 1 200\n"));
	assert_memory_equal(data, "0\n1\nb 1 200\n", len);
	assert_int_equal(tl_count_files(dir, LOG_START_OFFSET_CHECKPOINT), 1);
	/* an entry that could not be read back leaves the old file alone */
	struct log_checkpoint_entry bad = {"", 0, 1};
	assert_int_equal(log_checkpoint_write(dir, LOG_START_OFFSET_CHECKPOINT,
					      &bad, 1), KB_ERR_INVAL);
	free(data);
	data = tu_read_all(p, &len);
	assert_memory_equal(data, "0\n1\nb 1 200\n", len);
	free(data);
	free(p);
	tu_rmrf(dir);
}

/* ---- Leader epochs ---- */

static char *tl_epoch_file(const char *dir)
{
	char *p = tl_path(dir, "leader-epoch-checkpoint");
	size_t len = 0;
	uint8_t *data = tu_read_all(p, &len);
	free(p);
	if (!data)
		return NULL;
	char *s = malloc(len + 1);
	memcpy(s, data, len);
	s[len] = '\0';
	free(data);
	return s;
}

/* INVARIANT 3: leader-epoch-checkpoint holds exactly the cache, in
 * Kafka's text format, rewritten on every change. */
static void test_log_epoch_checkpoint_byte_exact(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	assert_null(tl_epoch_file(dir));
	tl_append(log, 3, T0, 10, 0); /* epoch 0 at 0 */
	tl_append(log, 2, T0, 10, 0);
	tl_append(log, 4, T0, 10, 2); /* epoch 2 at 5 */
	tl_append(log, 1, T0, 10, 5); /* epoch 5 at 9 */
	char *s = tl_epoch_file(dir);
	assert_string_equal(s, "0\n3\n0 0\n2 5\n5 9\n");
	free(s);
	log_close(log);
	struct log_recovery_hint h = {.clean_shutdown = true};
	log = tl_open(dir, &c, &h);
	assert_int_equal(log->nepochs, 3);
	assert_int_equal(log->epochs[1].epoch, 2);
	assert_int_equal(log->epochs[1].start_offset, 5);
	log_close(log);
	tu_rmrf(dir);
}

/* KAFKA: LeaderEpochFileCache.endOffsetFor, every case. */
static void test_log_epoch_end_offset_kafka_semantics(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	int32_t e;
	int64_t off;
	assert_int_equal(log_epoch_end_offset(log, 0, &e, &off), KB_ERR_NOTFOUND);
	tl_append(log, 5, T0, 10, 2); /* epoch 2: 0..4 */
	tl_append(log, 4, T0, 10, 4); /* epoch 4: 5..8 */
	tl_append(log, 3, T0, 10, 7); /* epoch 7: 9..11 */
	assert_int_equal(log_epoch_end_offset(log, 7, &e, &off), KB_OK);
	assert_int_equal(e, 7);
	assert_int_equal(off, 12); /* the latest epoch ends at the log end */
	assert_int_equal(log_epoch_end_offset(log, 4, &e, &off), KB_OK);
	assert_int_equal(e, 4);
	assert_int_equal(off, 9);
	assert_int_equal(log_epoch_end_offset(log, 5, &e, &off), KB_OK);
	assert_int_equal(e, 4); /* the largest known epoch <= 5 */
	assert_int_equal(off, 9);
	assert_int_equal(log_epoch_end_offset(log, 1, &e, &off), KB_OK);
	assert_int_equal(e, 1); /* older than all: Kafka echoes the epoch */
	assert_int_equal(off, 0);
	assert_int_equal(log_epoch_end_offset(log, 8, &e, &off), KB_ERR_NOTFOUND);
	assert_int_equal(e, -1);
	assert_int_equal(off, -1);
	assert_int_equal(log_epoch_end_offset(log, -1, &e, &off), KB_ERR_NOTFOUND);
	log_close(log);
	tu_rmrf(dir);
}

static void test_log_epoch_assign_drops_non_monotonic(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	assert_int_equal(log_epoch_assign(log, 1, 0), KB_OK);
	assert_int_equal(log_epoch_assign(log, 3, 10), KB_OK);
	assert_int_equal(log_epoch_assign(log, 3, 12), KB_OK); /* no-op */
	assert_int_equal(log->nepochs, 2);
	assert_int_equal(log_epoch_assign(log, 4, 10), KB_OK); /* same start */
	char *s = tl_epoch_file(dir);
	assert_string_equal(s, "0\n2\n1 0\n4 10\n");
	free(s);
	assert_int_equal(log_epoch_assign(log, -1, 0), KB_ERR_INVAL);
	log_close(log);
	tu_rmrf(dir);
}

/* Truncation drops epochs starting at or after the target; advancing the
 * start collapses older ones; reopening drops any beyond the log end. */
static void test_log_epoch_cache_follows_truncation(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	tl_append(log, 5, T0, 10, 1); /* 0..4 */
	tl_append(log, 5, T0, 10, 2); /* 5..9 */
	tl_append(log, 5, T0, 10, 3); /* 10..14 */
	assert_int_equal(log_truncate_to(log, 10), KB_OK);
	char *s = tl_epoch_file(dir);
	assert_string_equal(s, "0\n2\n1 0\n2 5\n");
	free(s);
	assert_int_equal(log_advance_start_offset(log, 6), KB_OK);
	s = tl_epoch_file(dir);
	assert_string_equal(s, "0\n1\n2 6\n");
	free(s);
	assert_int_equal(log_epoch_assign(log, 9, 10), KB_OK); /* at the LEO */
	log_close(log);
	struct log_recovery_hint h = {.clean_shutdown = true, .log_start_offset = 6};
	log = tl_open(dir, &c, &h);
	assert_int_equal(log->nepochs, 1); /* epoch 9 began at the log end */
	s = tl_epoch_file(dir);
	assert_string_equal(s, "0\n1\n2 6\n");
	free(s);
	log_close(log);
	tu_rmrf(dir);
}

static void test_log_open_rejects_malformed_epoch_checkpoint(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	log_close(log);
	char *p = tl_path(dir, "leader-epoch-checkpoint");
	tu_write_all(p, "0\n2\n3 0\n1 5\n", 12); /* epochs out of order */
	assert_int_equal(log_open(dir, &c, NULL, &log), KB_ERR_CORRUPT);
	tu_write_all(p, "", 0); /* empty: no epochs, as Kafka reads it */
	log = tl_open(dir, &c, NULL);
	assert_int_equal(log->nepochs, 0);
	log_close(log);
	free(p);
	tu_rmrf(dir);
}

/* The epoch file on its own: round trip, a missing file is no epochs,
 * and INVARIANT 3 is checked on the way in. */
static void test_log_epoch_checkpoint_read_checks_order(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_epoch in[3] = {{0, 0}, {2, 5}, {7, 40}}, *out = NULL;
	size_t n = 9;
	assert_int_equal(log_epoch_checkpoint_read(dir, &out, &n), KB_OK);
	assert_int_equal(n, 0);
	free(out);
	assert_int_equal(log_epoch_checkpoint_write(dir, in, 3), KB_OK);
	assert_int_equal(log_epoch_checkpoint_read(dir, &out, &n), KB_OK);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(out[i].epoch, in[i].epoch);
		assert_int_equal(out[i].start_offset, in[i].start_offset);
	}
	free(out);
	static const char *const bad[] = {
		"0\n2\n3 0\n3 5\n",  /* epochs not strictly ascending */
		"0\n2\n1 5\n3 5\n",  /* start offsets not strictly ascending */
		"0\n1\n1 -1\n",      /* negative start offset */
		"0\n1\nt 0 1\n",     /* the three-field form */
	};
	char *p = tl_path(dir, LOG_EPOCH_CHECKPOINT);
	for (size_t i = 0; i < KB_ARRAY_LEN(bad); i++) {
		tu_write_all(p, bad[i], strlen(bad[i]));
		out = (void *)1;
		n = 9;
		assert_int_equal(log_epoch_checkpoint_read(dir, &out, &n),
				 KB_ERR_CORRUPT);
		assert_null(out);
		assert_int_equal(n, 0);
	}
	free(p);
	tu_rmrf(dir);
}

/* Interface: the epoch cache follows the log at both ends through
 * log_epoch_truncate_end and log_epoch_truncate_start, called directly. */
static void test_log_epoch_truncate_end_and_start(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	assert_int_equal(log_epoch_assign(log, 1, 0), KB_OK);
	assert_int_equal(log_epoch_assign(log, 2, 10), KB_OK);
	assert_int_equal(log_epoch_assign(log, 3, 20), KB_OK);
	assert_int_equal(log_epoch_truncate_start(log, 12), KB_OK);
	assert_int_equal(log->nepochs, 2);
	assert_int_equal(log->epochs[0].epoch, 2);
	assert_int_equal(log->epochs[0].start_offset, 12);
	assert_int_equal(log_epoch_truncate_end(log, 20), KB_OK);
	assert_int_equal(log->nepochs, 1);
	struct log_epoch *out;
	size_t n;
	assert_int_equal(log_epoch_checkpoint_read(dir, &out, &n), KB_OK);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].epoch, 2);
	assert_int_equal(out[0].start_offset, 12);
	free(out);
	log_close(log);
	tu_rmrf(dir);
}

int main(void)
{
	tu_log_quiet(); /* a passing run prints no log lines */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_checkpoint_file_names_are_kafkas),
		cmocka_unit_test(test_log_checkpoint_write_kafka_format),
		cmocka_unit_test(test_log_checkpoint_write_replaces_whole_file),
		cmocka_unit_test(test_log_checkpoint_read_rejects_malformed),
		cmocka_unit_test(test_log_dir_parse_name_splits_at_last_dash),
		cmocka_unit_test(test_log_dir_clean_mark_taken_once),
		cmocka_unit_test(test_log_epoch_checkpoint_byte_exact),
		cmocka_unit_test(test_log_epoch_checkpoint_read_checks_order),
		cmocka_unit_test(test_log_open_rejects_malformed_epoch_checkpoint),
		cmocka_unit_test(test_log_epoch_end_offset_kafka_semantics),
		cmocka_unit_test(test_log_epoch_assign_drops_non_monotonic),
		cmocka_unit_test(test_log_epoch_cache_follows_truncation),
		cmocka_unit_test(test_log_epoch_truncate_end_and_start),
	};
	kb_log_set_level(KB_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
