/* SPDX-License-Identifier: MIT */
/*
 * bench_log: how fast is the partition log of chapters 01-03?
 *
 * Appends 1 GiB of 16 KiB record batches through log_append (with the CRC
 * check a broker does on every produce), reads it all back with log_read +
 * pread, and looks up 1M random offsets. For scale, it writes the same bytes
 * with plain buffered write(2) calls into the same directory: the log cannot
 * be faster than that, and should not be much slower.
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

#define BATCH_BYTES (16 * 1024) /* one producer batch */
#define RECORD_VALUE 1000       /* bytes of value per record */
#define LOOKUPS 1000000

/* Build one uncompressed batch of about BATCH_BYTES into buf. */
static size_t build_batch(uint8_t *buf, int64_t ts)
{
	uint8_t *p = buf + SEG_BATCH_HEADER_LEN;
	int n = 0;
	while ((size_t)(p - buf) + RECORD_VALUE + 16 <= BATCH_BYTES) {
		/* length, attributes 0, tsDelta 0, offsetDelta n, key null,
		 * value len 1000 (zigzag 2000 = 0xD0 0x0F), value, 0 headers */
		uint8_t body[8] = {0, 0, (uint8_t)(n * 2), 1, 0xD0, 0x0F};
		size_t blen = 6 + RECORD_VALUE + 1;
		*p++ = (uint8_t)((blen * 2) | 0x80);
		*p++ = (uint8_t)((blen * 2) >> 7);
		memcpy(p, body, 6);
		memset(p + 6, 'x', RECORD_VALUE);
		p[6 + RECORD_VALUE] = 0;
		p += blen;
		n++;
	}
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
		if (seg_batch_validate(batch, len, &h, NULL) != KB_OK ||
		    log_append(log, batch, len, 0, kb_now_ms(), &info) != KB_OK) {
			fprintf(stderr, "append failed\n");
			exit(1);
		}
	}
	return mb_per_s(total, kb_mono_ns() - t0);
}

static double log_reads(struct log *log, uint64_t *bytes)
{
	static uint8_t buf[1 << 20];
	int64_t offset = 0, t0 = kb_mono_ns();
	*bytes = 0;
	while (offset < log_end_offset(log)) {
		struct log_read_result r;
		size_t got;
		if (log_read(log, offset, sizeof buf, INT64_MAX, true, &r) != KB_OK ||
		    r.length == 0 ||
		    seg_read(r.seg, r.position, buf, r.length, &got) != KB_OK) {
			fprintf(stderr, "read failed at offset %" PRId64 "\n", offset);
			exit(1);
		}
		*bytes += got;
		offset = r.next_offset;
	}
	return mb_per_s(*bytes, kb_mono_ns() - t0);
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
		int64_t t0 = kb_mono_ns();
		int rc = log_read(log, target, 1, INT64_MAX, true, &r);
		ns[i] = kb_mono_ns() - t0;
		if (rc != KB_OK || r.first_offset > target) {
			fprintf(stderr, "lookup of %" PRId64 " failed\n", target);
			exit(1);
		}
	}
	qsort(ns, LOOKUPS, sizeof *ns, cmp_i64);
	int64_t median = ns[LOOKUPS / 2];
	free(ns);
	return median;
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
	static uint8_t batch[BATCH_BYTES];
	size_t len = build_batch(batch, kb_now_ms());
	total -= total % len;

	double plain = plain_write(dir, batch, len, total);
	struct log_config cfg;
	log_config_defaults(&cfg);
	char logdir[4200];
	snprintf(logdir, sizeof logdir, "%.4000s/bench-0", dir);
	struct log *log;
	if (log_open(logdir, &cfg, NULL, &log) != KB_OK)
		return 1;
	double append = log_appends(log, batch, len, total);
	uint64_t read_bytes;
	double read = log_reads(log, &read_bytes);
	int64_t median = lookups(log);

	printf("bench-log: %.0f MiB of %zu-byte batches in %s (CRC-32C: %s)\n",
	       (double)total / 1048576.0, len, dir, seg_crc32c_impl());
	printf("| figure | value |\n|---|---|\n");
	printf("| plain buffered write(2) | %.0f MB/s |\n", plain);
	printf("| log_append (validate + append + index) | %.0f MB/s (%.0f%% of plain) |\n",
	       append, 100.0 * append / plain);
	printf("| log_read + pread, whole log | %.0f MB/s |\n", read);
	printf("| offset lookup, median of %d | %" PRId64 " ns |\n", LOOKUPS, median);
	log_delete(log);
	rmdir(dir);
	return 0;
}
