/* SPDX-License-Identifier: MIT */
/*
 * Chapter 00 — base: the few things every chapter shares.
 *
 * Status codes (KB_OK and negative KB_ERR_*), one logger, big-endian
 * loads and stores, a growable byte buffer, and the two clocks. Nothing
 * here knows about Kafka; see 00_base.c for the rules of each piece.
 */
#ifndef SAMSA_BASE_H
#define SAMSA_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Status codes ---- */

/* Internal calls return KB_OK or one of these; Kafka error codes are data
 * and never travel through this enum (STYLE.md §4). */
enum kb_status {
	KB_OK = 0,
	KB_ERR_IO = -1,        /* a syscall failed; logged where it failed */
	KB_ERR_CORRUPT = -2,   /* bytes on disk are damaged */
	KB_ERR_NOMEM = -3,     /* allocation failed */
	KB_ERR_PROTO = -4,     /* bytes from the wire break the protocol */
	KB_ERR_AGAIN = -5,     /* not now; try again later */
	KB_ERR_NOTFOUND = -6,  /* no such thing */
	KB_ERR_INVAL = -7,     /* caller passed an argument outside the rules */
	KB_ERR_RANGE = -8,     /* an offset or position outside what exists */
	KB_ERR_TOO_LARGE = -9, /* a size over a configured limit */
	KB_ERR_EXISTS = -10,   /* already there */
};

/* A short constant name for a status ("KB_ERR_IO"), for logs and tests. */
const char *kb_status_name(int status);

/* ---- Logging ---- */

enum kb_log_level { KB_LOG_DEBUG, KB_LOG_INFO, KB_LOG_WARN, KB_LOG_ERROR };

/* A sink receives each formatted line (no trailing newline). */
typedef void (*kb_log_sink_fn)(enum kb_log_level level, const char *line,
			       void *ctx);

/* Log one line at level; lines below the current level are dropped. */
void kb_log(enum kb_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Drop lines below level from now on. */
void kb_log_set_level(enum kb_log_level level);
/* The level lines are kept at. */
enum kb_log_level kb_log_get_level(void);
/* Route lines to sink (NULL restores stderr). borrows: ctx. */
void kb_log_set_sink(kb_log_sink_fn sink, void *ctx);
/* Parse "debug"/"info"/"warn"/"error"; KB_ERR_INVAL for anything else. */
int kb_log_level_parse(const char *name, enum kb_log_level *out);
/* Copy len bytes of in to out (cap bytes, NUL-terminated), control bytes and non-UTF-8 as \xNN; returns the length written. */
size_t kb_escape(char *out, size_t cap, const char *in, size_t len);

/* Lets one line through per interval_ms and counts the ones it held back
 * (KAFKA: log4j has no such thing; Linux's printk_ratelimit does). */
struct kb_ratelimit {
	int64_t interval_ms; /* at most one line per this many ms */
	int64_t next_ms;     /* kb_mono_ms when the next line may go; 0 at first */
	uint64_t suppressed; /* lines held back since the last one */
};

/* True when a line may be logged now; *suppressed: how many were held back before it. */
bool kb_ratelimit_allow(struct kb_ratelimit *rl, int64_t now_ms, uint64_t *suppressed);

#define KB_DEBUG(...) kb_log(KB_LOG_DEBUG, __VA_ARGS__)
#define KB_INFO(...) kb_log(KB_LOG_INFO, __VA_ARGS__)
#define KB_WARN(...) kb_log(KB_LOG_WARN, __VA_ARGS__)
#define KB_ERROR(...) kb_log(KB_LOG_ERROR, __VA_ARGS__)

/* ---- Big-endian integers (Kafka's wire and file byte order) ---- */

static inline uint16_t kb_get_be16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}
static inline uint32_t kb_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t kb_get_be64(const uint8_t *p)
{
	return (uint64_t)kb_get_be32(p) << 32 | kb_get_be32(p + 4);
}
static inline void kb_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void kb_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static inline void kb_put_be64(uint8_t *p, uint64_t v)
{
	kb_put_be32(p, (uint32_t)(v >> 32));
	kb_put_be32(p + 4, (uint32_t)v);
}

/* ---- Growable byte buffer ---- */

/* A heap byte buffer. data is owned; len bytes are used of cap. */
struct kb_buf {
	uint8_t *data; /* owned */
	size_t len;
	size_t cap;
};

/* An empty buffer (no memory yet). */
void kb_buf_init(struct kb_buf *b);
/* Free the memory; b is empty again. */
void kb_buf_fini(struct kb_buf *b);
/* Make room for at least extra more bytes. */
int kb_buf_reserve(struct kb_buf *b, size_t extra);
/* Append n bytes copied from p. */
int kb_buf_append(struct kb_buf *b, const void *p, size_t n);
/* Assert Invariant 1 of 00_base.c on b (len <= cap; data NULL only when cap is 0). */
void kb_buf_check(const struct kb_buf *b);

/* ---- Clocks ---- */

/* Wall-clock milliseconds since the Unix epoch (record timestamps). */
int64_t kb_now_ms(void);
/* Monotonic milliseconds (deadlines and timers; never jumps back). */
int64_t kb_mono_ms(void);
/* Monotonic nanoseconds (benchmarks and latency logs). */
int64_t kb_mono_ns(void);

/* ---- Files ---- */

/* fsync a directory so a create, rename or unlink inside it is durable. */
int kb_fsync_dir(const char *dir);
/* Write path atomically: write path.tmp, fsync, rename, fsync the dir. */
int kb_write_file_atomic(const char *path, const void *data, size_t len);
/* Read a whole (small) file; returns owned *out (free()), NUL-terminated. */
int kb_read_file(const char *path, char **out, size_t *len, size_t max);
/* mkdir -p. */
int kb_mkdirs(const char *path);

#define KB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define KB_MIN(a, b) ((a) < (b) ? (a) : (b))
#define KB_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
