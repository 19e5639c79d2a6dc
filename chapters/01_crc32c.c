/* SPDX-License-Identifier: MIT */
/*
 * Chapter 01 — segment, part 1: CRC-32C, the checksum of every batch.
 *
 * Concept:
 *   A record batch carries a CRC-32C of its bytes from attributes to the
 *   end, computed by the producer; the broker recomputes it on produce and
 *   on recovery, so every byte of every batch goes through this function
 *   at least twice. A table version works everywhere; where the CPU has
 *   SSE4.2, its crc32 instruction does 8 bytes at a time, in three
 *   independent lanes joined by the linearity of the CRC.
 *
 * Kafka:
 *   org.apache.kafka.common.utils.Crc32C (java.util.zip.CRC32C), the
 *   Castagnoli polynomial of RFC 3720; DefaultRecordBatch.isValid.
 *
 * Interface (01_segment.h):
 *   - seg_crc32c(crc, data, len): start with 0, pass the result back in
 *     to continue over more bytes. seg_crc32c_impl names the version in
 *     use; seg_crc32c_table is the portable one, for tests.
 *   Thread-safe: the tables are built once (pthread_once), then only read.
 *
 * Invariants:
 *   1. seg_crc32c and seg_crc32c_table give the same result for any bytes
 *      and any split of them into calls.
 *
 * Simplifications:
 *   - x86-64 only for the instruction; other CPUs use the table.
 *
 * See also: docs/01_crc32c.md, diagrams/01_crc32c.dot,
 *   tests/01_segment_test.c; read next: 01_segment.c (its caller).
 *   Uses chapters 00 (base).
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#include "00_base.h"
#include "01_segment.h"

/* The reflected CRC-32C (Castagnoli) polynomial, as RFC 3720 gives it. */
#define SEG_CRC32C_POLY 0x82F63B78u
/* Bytes per lane of the three-lane SSE4.2 loop; a multiple of 8. */
#define SEG_CRC_LANE 256

/* One CRC-32C implementation: continue crc over len bytes at p. */
typedef uint32_t (*crc_fn)(uint32_t crc, const uint8_t *p, size_t len);

/* ---- Prototypes of static helpers ---- */

static void crc_choose(void);
static uint32_t crc_table(uint32_t crc, const uint8_t *p, size_t len);
#if defined(__x86_64__)
static uint32_t crc_shift(uint32_t x);
static inline uint64_t load_le64(const uint8_t *p);
#endif

/* ---- CRC-32C ---- */

/* Tables for slicing-by-8: crc_tables[k][b] is the CRC register after
 * byte b and then k zero bytes. Built once, by crc_choose. */
static uint32_t crc_tables[8][256];
#if defined(__x86_64__)
/* crc_shift_tables[k][b]: see crc_shift. Built with crc_tables. */
static uint32_t crc_shift_tables[4][256];
#endif
static crc_fn crc_impl;
static const char *crc_impl_name;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

/* Kafka's Crc32C (java.util.zip.CRC32C): start with 0, feed more bytes by
 * passing the previous result back in. */
uint32_t seg_crc32c(uint32_t crc, const void *data, size_t len)
{
	pthread_once(&crc_once, crc_choose);
	return crc_impl(crc, data, len);
}

/* Which implementation crc_choose picked, for logs and tests. */
const char *seg_crc32c_impl(void)
{
	pthread_once(&crc_once, crc_choose);
	return crc_impl_name;
}

/* The portable implementation, even where SSE4.2 exists (for tests). */
uint32_t seg_crc32c_table(uint32_t crc, const void *data, size_t len)
{
	pthread_once(&crc_once, crc_choose);
	return crc_table(crc, data, len);
}

#if defined(__x86_64__)
/* SSE4.2 has an instruction for exactly this polynomial, 8 bytes at a time.
 * It takes 3 cycles to give a result but can start a new one every cycle,
 * so three independent lanes run about three times as fast as one. Lanes
 * 2 and 3 start from 0; because a CRC is linear (XOR of the parts), their
 * results are joined by moving the lane before them SEG_CRC_LANE bytes on
 * (crc_shift) and XORing. Compiled for SSE4.2 whatever the build flags
 * say, and only ever called after the CPU said it has it. */
__attribute__((target("sse4.2")))
static uint32_t crc_sse42(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = (uint32_t)~crc;
	for (; len >= 3 * SEG_CRC_LANE; len -= 3 * SEG_CRC_LANE) {
		uint64_t c1 = 0, c2 = 0;
		for (size_t i = 0; i < SEG_CRC_LANE; i += 8) {
			c = _mm_crc32_u64(c, load_le64(p + i));
			c1 = _mm_crc32_u64(c1, load_le64(p + SEG_CRC_LANE + i));
			c2 = _mm_crc32_u64(c2, load_le64(p + 2 * SEG_CRC_LANE + i));
		}
		c = crc_shift(crc_shift((uint32_t)c) ^ (uint32_t)c1) ^ (uint32_t)c2;
		p += 3 * SEG_CRC_LANE;
	}
	for (; len >= 8; len -= 8, p += 8)
		c = _mm_crc32_u64(c, load_le64(p));
	for (; len > 0; len--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return ~(uint32_t)c;
}

/* The CRC register x after SEG_CRC_LANE more zero bytes. Linear in x, so
 * one table entry per byte of x, XORed. */
static uint32_t crc_shift(uint32_t x)
{
	return crc_shift_tables[0][x & 0xFF] ^
	       crc_shift_tables[1][(x >> 8) & 0xFF] ^
	       crc_shift_tables[2][(x >> 16) & 0xFF] ^
	       crc_shift_tables[3][x >> 24];
}

/* Eight bytes in memory order as one little-endian word (any alignment);
 * the reflected CRC consumes the lowest byte first. */
static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t w;
	memcpy(&w, p, sizeof w); /* x86 is little-endian */
	return w;
}
#endif

/* Build the tables and pick an implementation, once per process. */
static void crc_choose(void)
{
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t c = b;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (SEG_CRC32C_POLY & (0u - (c & 1u)));
		crc_tables[0][b] = c;
	}
	for (int k = 1; k < 8; k++)
		for (int b = 0; b < 256; b++) {
			uint32_t prev = crc_tables[k - 1][b];
			crc_tables[k][b] = (prev >> 8) ^ crc_tables[0][prev & 0xFF];
		}
	crc_impl = crc_table;
	crc_impl_name = "table";
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (!__builtin_cpu_supports("sse4.2"))
		return;
	/* crc_shift_tables[k][b]: register b << 8k run over a lane of zeros. */
	for (int k = 0; k < 4; k++)
		for (uint32_t b = 0; b < 256; b++) {
			uint32_t x = b << (8 * k);
			for (int i = 0; i < SEG_CRC_LANE; i++)
				x = (x >> 8) ^ crc_tables[0][x & 0xFF];
			crc_shift_tables[k][b] = x;
		}
	crc_impl = crc_sse42;
	crc_impl_name = "sse4.2";
#endif
}

/* Slicing-by-8: eight table lookups per 8 bytes instead of eight shifts
 * per byte. The reflected CRC consumes bytes lowest first. */
static uint32_t crc_table(uint32_t crc, const uint8_t *p, size_t len)
{
	const uint32_t(*t)[256] = crc_tables;
	crc = ~crc;
	for (; len >= 8; len -= 8, p += 8) {
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
				     (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		crc = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^
		      t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^ t[3][p[4]] ^
		      t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
	}
	for (; len > 0; len--)
		crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xFF];
	return ~crc;
}
