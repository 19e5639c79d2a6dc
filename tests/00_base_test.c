/* SPDX-License-Identifier: MIT */
/*
 * Tests for chapter 00 — base: status names, the logger and its sink,
 * big-endian helpers, the byte buffer, clocks, and the durable-file idioms.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>

/* ---- Status codes ---- */

static void test_kb_status_name_names_each_code(void **state)
{
	(void)state;
	assert_string_equal(kb_status_name(KB_OK), "KB_OK");
	assert_string_equal(kb_status_name(KB_ERR_CORRUPT), "KB_ERR_CORRUPT");
	assert_string_equal(kb_status_name(KB_ERR_EXISTS), "KB_ERR_EXISTS");
	assert_string_equal(kb_status_name(-999), "KB_ERR_UNKNOWN");
}

/* ---- Logging ---- */

static void test_kb_log_sink_receives_lines_at_or_above_level(void **state)
{
	(void)state;
	struct tu_log_capture cap;
	enum kb_log_level old = kb_log_get_level();
	tu_log_capture_start(&cap);
	kb_log_set_level(KB_LOG_WARN);
	KB_INFO("dropped %d", 1);
	KB_WARN("kept %d", 2);
	KB_ERROR("kept %s", "three");
	tu_log_capture_stop();
	kb_log_set_level(old);
	assert_string_equal(cap.text, "kept 2\nkept three\n");
}

/* INVARIANT 3: a client id carrying a newline cannot forge a log line. */
static void test_kb_log_escapes_control_and_non_utf8_bytes(void **state)
{
	(void)state;
	struct tu_log_capture cap;
	const char id[] = "evil\n[2026-01-01] ERROR forged\x1b[31m\x7f\xff";
	tu_log_capture_start(&cap);
	KB_WARN("client id %s", id);
	KB_INFO("topic caf\xc3\xa9 \xe2\x82\xac ok"); /* UTF-8 stays */
	tu_log_capture_stop();
	assert_string_equal(cap.text,
		"client id evil\\x0a[2026-01-01] ERROR forged\\x1b[31m\\x7f\\xff\n"
		"topic caf\xc3\xa9 \xe2\x82\xac ok\n");
}

static void test_kb_escape_refuses_c1_overlong_and_cut_sequences(void **state)
{
	(void)state;
	char out[64];
	assert_int_equal(kb_escape(out, sizeof out, "\xc2\x85|\xc0\xaf|\xe2\x82", 8), 26);
	assert_string_equal(out, "\\xc2\\x85|\\xc0\\xaf|\\xe2\\x82");
	/* Out of room: cut before a whole escape, always terminated. */
	assert_int_equal(kb_escape(out, 6, "ab\x01" "cd", 5), 2);
	assert_string_equal(out, "ab");
}

/* A quiet test binary keeps the lines for assert_logged, not for stderr. */
static void test_tu_log_quiet_keeps_lines_for_assert_logged(void **state)
{
	(void)state;
	tu_log_clear();
	KB_ERROR("disk on fire: %s", "sda");
	assert_logged("ERROR disk on fire: sda");
	assert_not_logged("WARN");
	tu_log_clear();
	assert_not_logged("disk on fire");
}

static void test_kb_ratelimit_allows_one_line_per_interval(void **state)
{
	(void)state;
	struct kb_ratelimit rl = {.interval_ms = 1000};
	uint64_t held = 99;
	assert_true(kb_ratelimit_allow(&rl, 5000, &held));
	assert_int_equal(held, 0);
	for (int i = 0; i < 1000; i++)
		assert_false(kb_ratelimit_allow(&rl, 5000 + i, &held));
	assert_true(kb_ratelimit_allow(&rl, 6000, &held));
	assert_int_equal(held, 1000);
}

static void test_kb_log_level_parse_accepts_only_known_names(void **state)
{
	(void)state;
	enum kb_log_level l;
	assert_int_equal(kb_log_level_parse("debug", &l), KB_OK);
	assert_int_equal(l, KB_LOG_DEBUG);
	assert_int_equal(kb_log_level_parse("WARN", &l), KB_OK);
	assert_int_equal(l, KB_LOG_WARN);
	assert_int_equal(kb_log_level_parse("verbose", &l), KB_ERR_INVAL);
}

/* ---- Big-endian integers ---- */

static void test_kb_be_round_trips_in_network_order(void **state)
{
	(void)state;
	uint8_t b[8];
	kb_put_be32(b, 0x01020304u);
	assert_memory_equal(b, "\x01\x02\x03\x04", 4);
	assert_int_equal(kb_get_be32(b), 0x01020304u);
	kb_put_be64(b, 0x1122334455667788ull);
	assert_memory_equal(b, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
	assert_true(kb_get_be64(b) == 0x1122334455667788ull);
	kb_put_be16(b, 0xfffe);
	assert_int_equal(kb_get_be16(b), 0xfffe);
	assert_int_equal((int16_t)kb_get_be16(b), -2);
}

/* ---- Growable byte buffer (invariant 1) ---- */

static void test_kb_buf_append_grows_and_keeps_bytes(void **state)
{
	(void)state;
	struct kb_buf b;
	kb_buf_init(&b);
	assert_null(b.data);
	for (int i = 0; i < 10000; i++) {
		uint8_t c = (uint8_t)i;
		assert_int_equal(kb_buf_append(&b, &c, 1), KB_OK);
		kb_buf_check(&b);
		assert_true(b.len <= b.cap);
	}
	assert_int_equal(b.len, 10000);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(b.data[i], (uint8_t)i);
	kb_buf_fini(&b);
	assert_null(b.data);
	assert_int_equal(b.cap, 0);
}

static void test_kb_buf_reserve_refuses_overflow(void **state)
{
	(void)state;
	struct kb_buf b;
	kb_buf_init(&b);
	assert_int_equal(kb_buf_append(&b, "ab", 2), KB_OK);
	assert_int_equal(kb_buf_reserve(&b, SIZE_MAX), KB_ERR_TOO_LARGE);
	assert_int_equal(b.len, 2);
	kb_buf_fini(&b);
}

/* ---- Clocks (invariant 2) ---- */

static void test_kb_mono_ms_never_goes_backwards(void **state)
{
	(void)state;
	int64_t last = kb_mono_ms();
	for (int i = 0; i < 100000; i++) {
		int64_t now = kb_mono_ms();
		assert_true(now >= last);
		last = now;
	}
	assert_true(kb_now_ms() > 1600000000000LL); /* after 2020: wall clock */
}

/* ---- Files ---- */

static void test_kb_write_file_atomic_replaces_whole_file(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	char path[512], tmp[600];
	snprintf(path, sizeof path, "%s/checkpoint", dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	assert_int_equal(kb_write_file_atomic(path, "0\n1\na 0 5\n", 10), KB_OK);
	assert_int_equal(kb_write_file_atomic(path, "0\n0\n", 4), KB_OK);
	char *text;
	size_t len;
	assert_int_equal(kb_read_file(path, &text, &len, 1024), KB_OK);
	assert_int_equal(len, 4);
	assert_string_equal(text, "0\n0\n");
	free(text);
	assert_int_equal(access(tmp, F_OK), -1); /* no temp file left behind */
	tu_rmrf(dir);
}

static void test_kb_read_file_reports_missing_and_too_large(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	char path[512];
	snprintf(path, sizeof path, "%s/f", dir);
	char *text = NULL;
	assert_int_equal(kb_read_file(path, &text, NULL, 10), KB_ERR_NOTFOUND);
	tu_write_all(path, "0123456789abc", 13);
	assert_int_equal(kb_read_file(path, &text, NULL, 10), KB_ERR_TOO_LARGE);
	assert_null(text);
	tu_rmrf(dir);
}

static void test_kb_mkdirs_creates_every_level(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	char path[512];
	snprintf(path, sizeof path, "%s/a/b/c", dir);
	assert_int_equal(kb_mkdirs(path), KB_OK);
	assert_int_equal(kb_mkdirs(path), KB_OK); /* existing is fine */
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(kb_fsync_dir(path), KB_OK);
	tu_rmrf(dir);
}

int main(void)
{
	tu_log_quiet();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kb_status_name_names_each_code),
		cmocka_unit_test(test_kb_log_sink_receives_lines_at_or_above_level),
		cmocka_unit_test(test_kb_log_escapes_control_and_non_utf8_bytes),
		cmocka_unit_test(test_kb_escape_refuses_c1_overlong_and_cut_sequences),
		cmocka_unit_test(test_tu_log_quiet_keeps_lines_for_assert_logged),
		cmocka_unit_test(test_kb_ratelimit_allows_one_line_per_interval),
		cmocka_unit_test(test_kb_log_level_parse_accepts_only_known_names),
		cmocka_unit_test(test_kb_be_round_trips_in_network_order),
		cmocka_unit_test(test_kb_buf_append_grows_and_keeps_bytes),
		cmocka_unit_test(test_kb_buf_reserve_refuses_overflow),
		cmocka_unit_test(test_kb_mono_ms_never_goes_backwards),
		cmocka_unit_test(test_kb_write_file_atomic_replaces_whole_file),
		cmocka_unit_test(test_kb_read_file_reports_missing_and_too_large),
		cmocka_unit_test(test_kb_mkdirs_creates_every_level),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
