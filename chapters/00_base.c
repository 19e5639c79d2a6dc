/* SPDX-License-Identifier: MIT */
/*
 * Chapter 00 — base
 *
 * Concept: the plumbing every chapter needs and no chapter teaches:
 *   status codes, one logger, big-endian helpers, a byte buffer, clocks,
 *   and the durable-file idioms (atomic replace, fsync of a directory).
 * Kafka: Kafka's own utilities play this role (Utils.atomicMoveWithFallback,
 *   the log4j loggers, Time.SYSTEM).
 * Interface:
 *   - Functions return KB_OK or a negative KB_ERR_*; results go through
 *     out-parameters.
 *   - kb_log() is the only way chapters print; tests capture or silence
 *     it with kb_log_set_sink() (tests/testutil.h: tu_log_quiet).
 *   - Client strings may be logged as they came: kb_log escapes the line.
 *   - A line a peer can repeat at will goes through kb_ratelimit_allow.
 *   - kb_write_file_atomic() is how every small state file (checkpoints,
 *     meta.properties) is replaced: a crash leaves the old or the new file.
 * Invariants:
 *   1. A struct kb_buf has len <= cap, and data == NULL only when cap == 0
 *      (kb_buf_check asserts it after each change).
 *   2. kb_mono_ms() never goes backwards.
 *   3. A logged line holds no control character and no byte that is not
 *      UTF-8 text: kb_escape turns them into \xNN.
 * Simplifications: the logger is single-threaded, like the reactor.
 * See also: every later chapter.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "00_base.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- Status codes ---- */

/* The constant's own name, so logs and test failures read plainly. */
const char *kb_status_name(int status)
{
	switch (status) {
	case KB_OK: return "KB_OK";
	case KB_ERR_IO: return "KB_ERR_IO";
	case KB_ERR_CORRUPT: return "KB_ERR_CORRUPT";
	case KB_ERR_NOMEM: return "KB_ERR_NOMEM";
	case KB_ERR_PROTO: return "KB_ERR_PROTO";
	case KB_ERR_AGAIN: return "KB_ERR_AGAIN";
	case KB_ERR_NOTFOUND: return "KB_ERR_NOTFOUND";
	case KB_ERR_INVAL: return "KB_ERR_INVAL";
	case KB_ERR_RANGE: return "KB_ERR_RANGE";
	case KB_ERR_TOO_LARGE: return "KB_ERR_TOO_LARGE";
	case KB_ERR_EXISTS: return "KB_ERR_EXISTS";
	default: return "KB_ERR_UNKNOWN";
	}
}

/* ---- Logging ---- */

static enum kb_log_level log_level = KB_LOG_INFO;
static kb_log_sink_fn log_sink;
static void *log_sink_ctx;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

/* Format "[time] LEVEL message", escape it, hand it to the sink or stderr.
 * INVARIANT 3: the escape runs on the whole line, so no call site can
 * forget it for a client id, a topic or a group name. */
void kb_log(enum kb_log_level level, const char *fmt, ...)
{
	if (level < log_level)
		return;
	char raw[1024], msg[4 * sizeof raw];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	kb_escape(msg, sizeof msg, raw, KB_MIN((size_t)n, sizeof raw - 1));
	if (log_sink) {
		log_sink(level, msg, log_sink_ctx);
		return;
	}
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	fprintf(stderr, "[%04d-%02d-%02d %02d:%02d:%02d,%03ld] %s %s\n",
		tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L,
		level_names[level], msg);
}

/* The length of the well-formed, printable UTF-8 sequence at p (2 to 4
 * bytes), or 0: overlong forms, surrogates, C1 controls and cut-off
 * sequences are not text. */
static size_t utf8_printable_len(const unsigned char *p, size_t left)
{
	unsigned char c = p[0];
	size_t n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
		 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
	if (n == 0 || n > left)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	if ((c == 0xC2 && p[1] < 0xA0) || (c == 0xE0 && p[1] < 0xA0) ||
	    (c == 0xED && p[1] >= 0xA0) || (c == 0xF0 && p[1] < 0x90) ||
	    (c == 0xF4 && p[1] >= 0x90))
		return 0; /* C1 control, overlong, surrogate, past U+10FFFF */
	return n;
}

/* Control characters and bytes that are not UTF-8 text become \xNN, so a
 * client id holding "\n[...] ERROR" cannot forge a log line. */
size_t kb_escape(char *out, size_t cap, const char *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0;
	for (size_t i = 0; i < len && cap > 0;) {
		size_t n = p[i] >= 0x80 ? utf8_printable_len(p + i, len - i)
		     : (p[i] >= 0x20 && p[i] != 0x7f);
		if (n > 0 && o + n < cap) {
			memcpy(out + o, p + i, n);
			o += n;
			i += n;
		} else if (n == 0 && o + 4 < cap) {
			char esc[4] = {'\\', 'x', hex[p[i] >> 4], hex[p[i] & 15]};
			memcpy(out + o, esc, sizeof esc);
			o += sizeof esc;
			i++;
		} else {
			break; /* out of room: cut at a whole character */
		}
	}
	if (cap > 0)
		out[o] = '\0';
	return o;
}

void kb_log_set_level(enum kb_log_level level) { log_level = level; }
enum kb_log_level kb_log_get_level(void) { return log_level; }

void kb_log_set_sink(kb_log_sink_fn sink, void *ctx)
{
	log_sink = sink;
	log_sink_ctx = ctx;
}

int kb_log_level_parse(const char *name, enum kb_log_level *out)
{
	static const char *const lower[] = {"debug", "info", "warn", "error"};
	for (size_t i = 0; i < KB_ARRAY_LEN(lower); i++) {
		if (strcasecmp(name, lower[i]) == 0) {
			*out = (enum kb_log_level)i;
			return KB_OK;
		}
	}
	return KB_ERR_INVAL;
}

/* A line that could repeat thousands of times a second (accept failing
 * with EMFILE) goes through this: the first one at once, then at most one
 * per interval, each saying how many it stands for. */
bool kb_ratelimit_allow(struct kb_ratelimit *rl, int64_t now_ms,
			uint64_t *suppressed)
{
	if (rl->next_ms != 0 && now_ms < rl->next_ms) {
		rl->suppressed++;
		return false;
	}
	*suppressed = rl->suppressed;
	rl->suppressed = 0;
	rl->next_ms = now_ms + rl->interval_ms;
	return true;
}

/* ---- Growable byte buffer ---- */

void kb_buf_init(struct kb_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void kb_buf_fini(struct kb_buf *b)
{
	free(b->data);
	kb_buf_init(b);
}

/* INVARIANT 1, checked after every change in debug builds. */
void kb_buf_check(const struct kb_buf *b)
{
	assert(b->len <= b->cap);
	assert((b->data == NULL) == (b->cap == 0));
	(void)b;
}

/* Grow by doubling so appends are amortised O(1). */
int kb_buf_reserve(struct kb_buf *b, size_t extra)
{
	if (extra > SIZE_MAX - b->len)
		return KB_ERR_TOO_LARGE;
	size_t need = b->len + extra;
	if (need <= b->cap)
		return KB_OK;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	uint8_t *p = realloc(b->data, cap);
	if (!p)
		return KB_ERR_NOMEM;
	b->data = p;
	b->cap = cap;
	kb_buf_check(b);
	return KB_OK;
}

int kb_buf_append(struct kb_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return KB_OK;
	int rc = kb_buf_reserve(b, n);
	if (rc != KB_OK)
		return rc;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	kb_buf_check(b);
	return KB_OK;
}

/* ---- Clocks ---- */

int64_t kb_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t kb_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t kb_mono_ms(void) { return kb_mono_ns() / 1000000; }

/* ---- Files ---- */

int kb_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		KB_ERROR("open directory %s: %s", dir, strerror(errno));
		return KB_ERR_IO;
	}
	int rc = fsync(fd) == 0 ? KB_OK : KB_ERR_IO;
	if (rc != KB_OK)
		KB_ERROR("fsync directory %s: %s", dir, strerror(errno));
	close(fd);
	return rc;
}

/* Write everything, retrying short writes and EINTR. */
static int write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return KB_ERR_IO;
		p += n;
		len -= (size_t)n;
	}
	return KB_OK;
}

/* The parent directory of path, into out (at least PATH_MAX-ish bytes). */
static void parent_dir(const char *path, char *out, size_t cap)
{
	snprintf(out, cap, "%s", path);
	char *slash = strrchr(out, '/');
	if (!slash)
		snprintf(out, cap, ".");
	else if (slash == out)
		out[1] = '\0';
	else
		*slash = '\0';
}

/* KAFKA: Utils.atomicMoveWithFallback: write a temp file, fsync, rename. */
int kb_write_file_atomic(const char *path, const void *data, size_t len)
{
	char tmp[4096], dir[4096];
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return KB_ERR_INVAL;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		KB_ERROR("create %s: %s", tmp, strerror(errno));
		return KB_ERR_IO;
	}
	if (write_all(fd, data, len) != KB_OK || fsync(fd) != 0) {
		KB_ERROR("write %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return KB_ERR_IO;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		KB_ERROR("rename %s -> %s: %s", tmp, path, strerror(errno));
		unlink(tmp);
		return KB_ERR_IO;
	}
	parent_dir(path, dir, sizeof dir);
	return kb_fsync_dir(dir);
}

int kb_read_file(const char *path, char **out, size_t *len, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? KB_ERR_NOTFOUND : KB_ERR_IO;
	struct stat st;
	if (fstat(fd, &st) != 0 || (uint64_t)st.st_size > max) {
		close(fd);
		return KB_ERR_TOO_LARGE;
	}
	size_t size = (size_t)st.st_size;
	char *buf = malloc(size + 1);
	if (!buf) {
		close(fd);
		return KB_ERR_NOMEM;
	}
	ssize_t n = pread(fd, buf, size, 0);
	close(fd);
	if (n < 0 || (size_t)n != size) {
		free(buf);
		return KB_ERR_IO;
	}
	buf[size] = '\0';
	*out = buf;
	if (len)
		*len = size;
	return KB_OK;
}

int kb_mkdirs(const char *path)
{
	char buf[4096];
	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
		return KB_ERR_INVAL;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return KB_ERR_IO;
		*p = '/';
	}
	if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
		KB_ERROR("mkdir %s: %s", buf, strerror(errno));
		return KB_ERR_IO;
	}
	return KB_OK;
}
