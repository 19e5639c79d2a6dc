/* SPDX-License-Identifier: MIT */
/*
 * bench_log: how fast is the partition log of chapters 01-03?
 *
 * For two batch sizes, 16 KiB (a producer's default batch.size) and 1 KiB
 * (a producer that sends often), it appends MiB of batches through
 * log_append (with the CRC check a broker does on every produce), reads it
 * all back with 1 MiB log_read fetches + pread, and looks up 1M random
 * offsets. For scale, it writes the same bytes with plain write(2) calls
 * into the same directory: the log cannot be faster than that, and should
 * not be much slower.
 *
 *   build/bench_log [DIR] [MiB]     (make bench-log; DIR defaults to build/)
 *
 * Figures, never a pass/fail test: the machine decides them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "00_base.h"
#include "01_segment.h"
#include "02_index.h"
#include "03_log.h"

#define BATCH_MAX (16 * 1024) /* the largest batch we build */
#define FETCH_BYTES (1 << 20) /* max_bytes of one read, as a consumer's */
#define LOOKUPS 1000000

/* One column of the table: a batch size and what was measured with it. */
struct bench_case {
	const char *name;
	size_t batch_bytes; /* build batches of at most this many bytes */
	size_t value_len;   /* bytes of value per record */
	double plain, append, read; /* MB/s */
	int64_t lookup_ns;          /* median */
};

/* Zigzag varint, as records encode their lengths and deltas. */
static size_t put_varint(uint8_t *p, int64_t v)
{
	uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
	size_t n = 0;
	for (; z >= 0x80; z >>= 7)
		p[n++] = (uint8_t)(z | 0x80);
	p[n++] = (uint8_t)z;
	return n;
}

/* Build one uncompressed batch of records with value_len-byte values, as
 * many as fit in cap bytes (at least one), into buf. */
static size_t build_batch(uint8_t *buf, size_t cap, size_t value_len, int64_t ts)
{
	uint8_t *p = buf + SEG_BATCH_HEADER_LEN;
	int n = 0;
	do {
		/* attributes 0, tsDelta 0, offsetDelta n, key null, value, 0 headers */
		uint8_t body[32];
		size_t b = 0;
		body[b++] = 0;
		b += put_varint(body + b, 0);
		b += put_varint(body + b, n);
		b += put_varint(body + b, -1);
		b += put_varint(body + b, (int64_t)value_len);
		p += put_varint(p, (int64_t)(b + value_len + 1));
		memcpy(p, body, b);
		memset(p + b, 'x', value_len);
		p[b + value_len] = 0;
		p += b + value_len + 1;
		n++;
	} while ((size_t)(p - buf) + value_len + 16 <= cap);
	size_t len = (size_t)(p - buf);
	memset(buf, 0, SEG_BATCH_HEADER_LEN);
	kb_put_be32(buf + SEG_OFF_BATCH_LENGTH, (uint32_t)(len - SEG_LOG_OVERHEAD));
	buf[SEG_OFF_MAGIC] = SEG_MAGIC_V2;
	kb_put_be32(buf + SEG_OFF_LAST_OFFSET_DELTA, (uint32_t)(n - 1));
	kb_put_be64(buf + SEG_OFF_BASE_TIMESTAMP, (uint64_t)ts);
	kb_put_be64(buf + SEG_OFF_MAX_TIMESTAMP, (uint64_t)ts);
	kb_put_be64(buf + SEG_OFF_PRODUCER_ID, (uint64_t)-1);
	kb_put_be16(buf + SEG_OFF_PRODUCER_EPOCH, (uint16_t)-1);
	kb_put_be32(buf + SEG_OFF_BASE_SEQUENCE, (uint32_t)-1);
	kb_put_be32(buf + SEG_OFF_RECORDS_COUNT, (uint32_t)n);
	kb_put_be32(buf + SEG_OFF_CRC, seg_crc32c(0, buf + SEG_OFF_ATTRIBUTES,
						  len - SEG_OFF_ATTRIBUTES));
	return len;
}

static double mb_per_s(uint64_t bytes, int64_t ns)
{
	return (double)bytes / (1024.0 * 1024.0) / ((double)ns / 1e9);
}

/* The same bytes with plain write(2): the ceiling for the append figure. */
static double plain_write(const char *dir, const uint8_t *batch, size_t len,
			  uint64_t total)
{
	char path[4200];
	snprintf(path, sizeof path, "%.4000s/plain-write.bin", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	int64_t t0 = kb_mono_ns();
	for (uint64_t done = 0; done < total; done += len)
		if (write(fd, batch, len) != (ssize_t)len) {
			perror("write");
			exit(1);
		}
	int64_t ns = kb_mono_ns() - t0;
	close(fd);
	unlink(path);
	return mb_per_s(total, ns);
}

static double log_appends(struct log *log, uint8_t *batch, size_t len,
			  uint64_t total)
{
	int64_t t0 = kb_mono_ns();
	for (uint64_t done = 0; done < total; done += len) {
		struct seg_batch h;
		struct log_append_info info;
		struct log_append_req req = {batch, len, 0, kb_now_ms()};
		if (seg_batch_validate(batch, len, &h, NULL) != KB_OK ||
		    log_append(log, &req, &info) != KB_OK) {
			fprintf(stderr, "append failed\n");
			exit(1);
		}
	}
	return mb_per_s(total, kb_mono_ns() - t0);
}

/* The whole log in FETCH_BYTES reads, each copied out with pread. */
static double log_reads(struct log *log)
{
	static uint8_t buf[FETCH_BYTES];
	int64_t offset = 0, t0 = kb_mono_ns();
	uint64_t bytes = 0;
	while (offset < log_end_offset(log)) {
		struct log_read_result r;
		size_t got;
		struct log_read_req req = {offset, sizeof buf, INT64_MAX, true};
		if (log_read(log, &req, &r) != KB_OK ||
		    r.length == 0 ||
		    seg_read(r.seg, r.position, buf, r.length, &got) != KB_OK) {
			fprintf(stderr, "read failed at offset %" PRId64 "\n", offset);
			exit(1);
		}
		bytes += got;
		offset = r.next_offset;
	}
	return mb_per_s(bytes, kb_mono_ns() - t0);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Median nanoseconds of log_read finding a random offset's batch. */
static int64_t lookups(struct log *log)
{
	int64_t *ns = malloc(LOOKUPS * sizeof *ns);
	uint64_t seed = 88172645463325252ULL;
	int64_t leo = log_end_offset(log);
	for (int i = 0; i < LOOKUPS; i++) {
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		int64_t target = (int64_t)(seed % (uint64_t)leo);
		struct log_read_result r;
		struct log_read_req req = {target, 1, INT64_MAX, true};
		int64_t t0 = kb_mono_ns();
		int rc = log_read(log, &req, &r);
		ns[i] = kb_mono_ns() - t0;
		if (rc != KB_OK || r.first_offset > target ||
		    r.next_offset <= target) {
			fprintf(stderr, "lookup of %" PRId64 " failed\n", target);
			exit(1);
		}
	}
	qsort(ns, LOOKUPS, sizeof *ns, cmp_i64);
	int64_t median = ns[LOOKUPS / 2];
	free(ns);
	return median;
}

/* Every figure of one column, in a fresh log under dir. */
static void run_case(const char *dir, uint64_t total, struct bench_case *c)
{
	static uint8_t batch[BATCH_MAX];
	size_t len = build_batch(batch, c->batch_bytes, c->value_len,
				 kb_now_ms());
	total -= total % len;
	c->plain = plain_write(dir, batch, len, total);
	struct log_config cfg;
	log_config_defaults(&cfg);
	char logdir[4200];
	snprintf(logdir, sizeof logdir, "%.4000s/bench-0", dir);
	struct log *log;
	if (log_open(logdir, &cfg, NULL, &log) != KB_OK)
		exit(1);
	c->append = log_appends(log, batch, len, total);
	c->read = log_reads(log);
	c->lookup_ns = lookups(log);
	log_delete(log);
	c->batch_bytes = len;
}

int main(int argc, char **argv)
{
	const char *base = argc > 1 && argv[1][0] ? argv[1] : "build";
	uint64_t total = (argc > 2 ? strtoull(argv[2], NULL, 10) : 1024) << 20;
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/bench-log-XXXXXX", base);
	if (kb_mkdirs(base) != KB_OK || !mkdtemp(dir)) {
		perror(dir);
		return 1;
	}
	struct bench_case cases[] = {
		{.name = "16 KiB", .batch_bytes = BATCH_MAX, .value_len = 1000},
		{.name = "1 KiB", .batch_bytes = 1024, .value_len = 900},
	};
	for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++)
		run_case(dir, total, &cases[i]);
	rmdir(dir);

	struct bench_case *big = &cases[0], *small = &cases[1];
	printf("bench-log: %.0f MiB per column, in %s (CRC-32C: %s)\n",
	       (double)total / 1048576.0, dir, seg_crc32c_impl());
	printf("| figure | %s batches (%zu B) | %s batches (%zu B) |\n"
	       "|---|---|---|\n", big->name, big->batch_bytes, small->name,
	       small->batch_bytes);
	printf("| plain buffered write(2) | %.0f MB/s | %.0f MB/s |\n",
	       big->plain, small->plain);
	printf("| log_append (validate + append + index) | %.0f MB/s | %.0f MB/s |\n",
	       big->append, small->append);
	printf("| log_read + pread, whole log, 1 MiB fetches | %.0f MB/s | %.0f MB/s |\n",
	       big->read, small->read);
	printf("| offset lookup, median of %d | %" PRId64 " ns | %" PRId64 " ns |\n",
	       LOOKUPS, big->lookup_ns, small->lookup_ns);
	return 0;
}
