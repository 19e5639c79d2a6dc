/* SPDX-License-Identifier: MIT */
/*
 * Chapter 04, second file — records: what is inside a record batch v2.
 *
 * Concept:
 *   After chapter 01's 61-byte batch header come the records, packed
 *   tight: a zigzag varint length, then attributes, timestamp and offset
 *   deltas, key, value and headers with varint lengths (-1: null). The
 *   broker walks them only to check a producer's batch before it reaches
 *   a log, and to read and write its own internal topics.
 *
 * Kafka:
 *   DefaultRecord (readFrom: "Invalid record size"), DefaultRecordBatch
 *   (iterator, streamingIterator), LogValidator (every record of a
 *   producer's batch, through the codec's stream), MemoryRecordsBuilder.
 *
 * Interface:
 *   - wire_records_init on one whole uncompressed batch, then
 *     wire_records_next until KB_ERR_NOTFOUND; keys, values and headers
 *     are views into the batch (headers: wire_read_record_header).
 *   - wire_records_check walks a producer's batch, plain or gzip, with a
 *     bound on inflated bytes, and counts its records and null keys.
 *   - wire_batch_write appends one uncompressed batch to a kb_buf, or
 *     leaves the buffer as it was. Declarations: 04_codec.h.
 *
 * Invariants (numbered as in 04_codec.c, whose list they belong to):
 *   3. Every length inside a batch is checked before it is used.
 *   5. The records exactly fill the batch, each exactly fills its own
 *      length, and there are exactly recordsCount of them.
 *   7. A batch from wire_batch_write passes seg_batch_validate.
 *   8. Checking a gzip batch holds one INFLATE_CHUNK window, and stops
 *      inflating once max_inflated bytes came out.
 *
 * Simplifications:
 *   - snappy, lz4 and zstd batches are not opened (samsa links zlib only).
 *   - Record attributes are ignored when read and written as 0.
 *   Pure and single-threaded, like the rest of the codec.
 *
 * See also: docs/04_records.md, diagrams/04_records.dot,
 *   tests/04_codec_test.c.
 *   Uses chapters 00 (base), 01 (segment).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "00_base.h"
#include "01_segment.h"
#include "04_codec.h"

/* Each record header takes at least two bytes: key and value lengths. */
#define RECORD_HEADER_MIN_SIZE 2
/* A record's attributes: one int8, always 0 when we write it. */
#define RECORD_ATTRIBUTES_LEN 1
/* KAFKA: CompressionType ids in the low three attribute bits. */
#define CODEC_NONE 0
#define CODEC_GZIP 1
#define CODEC_ZSTD 4 /* the largest id Kafka knows; 5-7 are unassigned */
/* Bytes inflated per step: the output grows by at most this much at a
 * time, so nothing is ever allocated from a size the producer claims. */
#define INFLATE_CHUNK (64 * 1024)
/* zlib's windowBits for "gzip wrapper only" (RFC 1952, as GZIPInputStream). */
#define GZIP_WINDOW_BITS (16 + MAX_WBITS)

/* The gzip records area of one batch as a stream of bytes, inflated
 * into a window of INFLATE_CHUNK bytes at a time. */
struct rec_stream {
	const uint8_t *p; /* borrowed: the window's bytes not read yet */
	size_t left;      /* bytes at p */
	size_t read;      /* inflated bytes read so far */
	z_stream zs;      /* the inflater */
	int zrc;          /* inflate's last answer (Z_OK to go on) */
	uint8_t *win;     /* owned: the window of output */
	size_t max;       /* more than this many bytes is too large */
	int err;          /* sticky: KB_OK or the first failure */
};

/* ---- Prototypes of static helpers ---- */

static void read_record(struct wire_reader *r, struct wire_record *rec);
static struct wire_bytes read_varint_bytes(struct wire_reader *r);
static void write_batch_header(struct wire_writer *w,
			       const struct wire_batch_params *bp,
			       const struct wire_record *recs, int32_t count);
static void write_record(struct wire_writer *w, const struct wire_record *rec,
			 int32_t offset_delta, int64_t base_ts);
static void put_varint_bytes(struct wire_writer *w, struct wire_bytes b);
static int check_in_place(const uint8_t *batch, size_t len,
			  struct wire_records_summary *out);
static void stream_record(struct rec_stream *s,
			  struct wire_records_summary *out);
static int stream_open(struct rec_stream *s, const uint8_t *batch,
		       size_t len, size_t max_inflated);
static bool stream_fill(struct rec_stream *s);
static uint8_t stream_byte(struct rec_stream *s);
static int64_t stream_varint(struct rec_stream *s, int max_bytes);
static void stream_skip_blob(struct rec_stream *s, int64_t n);
static void stream_fail(struct rec_stream *s);
static void stream_close(struct rec_stream *s);
static size_t zigzag_size(int64_t v);
static int64_t add_wrapping(int64_t a, int64_t b);

/* ---- Records of a batch ---- */

int wire_records_init(struct wire_records *it, const uint8_t *batch,
		      size_t len)
{
	if (seg_batch_decode(batch, len, &it->batch) != KB_OK ||
	    seg_batch_size(&it->batch) != len)
		return KB_ERR_CORRUPT;
	if (it->batch.attributes & SEG_ATTR_COMPRESSION_MASK)
		return KB_ERR_INVAL; /* the records are one compressed blob */
	wire_reader_init(&it->r, batch + SEG_BATCH_HEADER_LEN,
			 len - SEG_BATCH_HEADER_LEN, false);
	it->read = 0;
	/* INVARIANT 3: a count the bytes cannot hold is a lie told early. */
	if (it->batch.records_count < 0 ||
	    (size_t)it->batch.records_count >
		    wire_remaining(&it->r) / WIRE_RECORD_MIN_SIZE)
		return KB_ERR_CORRUPT;
	return KB_OK;
}

/* Each record starts with its own length (a zigzag varint): the record
 * is decoded inside a reader of exactly that many bytes, which it must
 * fill exactly (KAFKA: DefaultRecord.readFrom, "Invalid record size"). */
int wire_records_next(struct wire_records *it, struct wire_record *rec)
{
	if (it->r.err)
		return KB_ERR_CORRUPT;
	if (it->read == it->batch.records_count) {
		/* INVARIANT 5: recordsCount records, then not a byte more. */
		if (wire_remaining(&it->r) != 0) {
			it->r.err = true;
			return KB_ERR_CORRUPT;
		}
		return KB_ERR_NOTFOUND;
	}
	int32_t len = wire_read_varint(&it->r);
	const uint8_t *p = len >= 0 ? wire_read_raw(&it->r, (size_t)len) : NULL;
	if (!p) {
		it->r.err = true; /* negative, or past the end of the batch */
		return KB_ERR_CORRUPT;
	}
	struct wire_reader body;
	wire_reader_init(&body, p, (size_t)len, false);
	read_record(&body, rec);
	if (body.err || wire_remaining(&body) != 0) {
		it->r.err = true;
		return KB_ERR_CORRUPT;
	}
	const struct seg_batch *b = &it->batch;
	rec->offset = add_wrapping(b->base_offset, rec->offset_delta);
	/* KAFKA: with LogAppendTime every record takes the batch's time. */
	rec->timestamp = (b->attributes & SEG_ATTR_LOG_APPEND_TIME)
			 ? b->max_timestamp
			 : add_wrapping(b->base_timestamp, rec->timestamp_delta);
	it->read++;
	return KB_OK;
}

/* attributes, timestampDelta, offsetDelta, key, value, headers: every
 * length inside is again checked against this record's own bytes. */
static void read_record(struct wire_reader *r, struct wire_record *rec)
{
	rec->attributes = wire_read_i8(r);
	rec->timestamp_delta = wire_read_varlong(r);
	rec->offset_delta = wire_read_varint(r);
	rec->key = read_varint_bytes(r);
	rec->value = read_varint_bytes(r);
	rec->headers_count = wire_read_varint(r);
	size_t start = r->pos;
	if (rec->headers_count < 0 ||
	    (size_t)rec->headers_count > wire_remaining(r) / RECORD_HEADER_MIN_SIZE)
		r->err = true;
	for (int32_t i = 0; i < rec->headers_count && !r->err; i++) {
		struct wire_bytes key, value;
		wire_read_record_header(r, &key, &value);
	}
	rec->headers = (struct wire_bytes){r->p + start,
					   (int32_t)(r->pos - start)};
}

/* KAFKA: a header key may not be null ("Invalid negative header key
 * size"); its value may. */
void wire_read_record_header(struct wire_reader *r, struct wire_bytes *key,
			     struct wire_bytes *value)
{
	*key = read_varint_bytes(r);
	if (key->len < 0)
		r->err = true;
	*value = read_varint_bytes(r);
}

/* Record keys, values and header fields: zigzag varint length, -1 null. */
static struct wire_bytes read_varint_bytes(struct wire_reader *r)
{
	int32_t len = wire_read_varint(r);
	if (r->err || len < -1) {
		r->err = true;
		return (struct wire_bytes){NULL, -1};
	}
	if (len == -1)
		return (struct wire_bytes){NULL, -1};
	const uint8_t *p = wire_read_raw(r, (size_t)len);
	return p ? (struct wire_bytes){p, len} : (struct wire_bytes){NULL, -1};
}

int wire_records_validate(const uint8_t *batch, size_t len)
{
	struct wire_records it;
	struct wire_record rec;
	int rc = wire_records_init(&it, batch, len);
	while (rc == KB_OK)
		rc = wire_records_next(&it, &rec);
	return rc == KB_ERR_NOTFOUND ? KB_OK : rc;
}

/* ---- Checking a producer's batch ---- */

/* KAFKA: LogValidator walks every record of a producer's batch, through
 * the codec's input stream when it is compressed (DefaultRecordBatch.
 * streamingIterator). samsa does the same for uncompressed batches (in
 * place, with the iterator above) and gzip ones (a stream with one window
 * of memory, stopping at max_inflated bytes). */
int wire_records_check(const uint8_t *batch, size_t len, size_t max_inflated,
		       struct wire_records_summary *out)
{
	struct seg_batch h;
	struct rec_stream s;
	*out = (struct wire_records_summary){0, 0, 0, false};
	if (seg_batch_decode(batch, len, &h) != KB_OK ||
	    seg_batch_size(&h) != len || h.records_count < 0)
		return KB_ERR_PROTO;
	int codec = h.attributes & SEG_ATTR_COMPRESSION_MASK;
	if (codec > CODEC_ZSTD)
		return KB_ERR_INVAL;
	if (codec == CODEC_NONE)
		return check_in_place(batch, len, out);
	if (codec != CODEC_GZIP)
		return KB_OK; /* SIMPLIFICATION: snappy, lz4, zstd stay closed */
	int rc = stream_open(&s, batch, len, max_inflated);
	for (int32_t i = 0; rc == KB_OK && !s.err && i < h.records_count; i++)
		stream_record(&s, out);
	/* INVARIANT 5: recordsCount records, then not a byte more. */
	if (rc == KB_OK && !s.err && stream_fill(&s))
		s.err = KB_ERR_PROTO;
	out->inflated = s.read + s.left;
	out->opened = true;
	rc = rc != KB_OK ? rc : s.err;
	stream_close(&s);
	return rc;
}

/* An uncompressed batch: wire_records_next over it, counting keys. Any
 * failure of the walk is KB_ERR_PROTO. */
static int check_in_place(const uint8_t *batch, size_t len,
			  struct wire_records_summary *out)
{
	struct wire_records it;
	struct wire_record rec;
	int rc = wire_records_init(&it, batch, len);
	while (rc == KB_OK && (rc = wire_records_next(&it, &rec)) == KB_OK) {
		out->records++;
		out->null_keys += rec.key.len < 0;
	}
	out->opened = true;
	return rc == KB_ERR_NOTFOUND ? KB_OK : KB_ERR_PROTO;
}

/* One record read from the stream, as wire_records_next reads one: its
 * length, then fields that must exactly fill it. Keys are counted, not
 * kept: key, value and header bytes are skipped. */
static void stream_record(struct rec_stream *s, struct wire_records_summary *out)
{
	int64_t len = stream_varint(s, WIRE_VARINT_MAX_BYTES);
	size_t start = s->read;
	if (len < 0)
		stream_fail(s);
	stream_byte(s); /* attributes */
	stream_varint(s, WIRE_VARLONG_MAX_BYTES); /* timestampDelta */
	stream_varint(s, WIRE_VARINT_MAX_BYTES);  /* offsetDelta */
	int64_t key = stream_varint(s, WIRE_VARINT_MAX_BYTES);
	stream_skip_blob(s, key);
	stream_skip_blob(s, stream_varint(s, WIRE_VARINT_MAX_BYTES)); /* value */
	int64_t headers = stream_varint(s, WIRE_VARINT_MAX_BYTES);
	if (headers < 0)
		stream_fail(s);
	for (int64_t i = 0; i < headers && !s->err; i++) {
		int64_t hkey = stream_varint(s, WIRE_VARINT_MAX_BYTES);
		if (hkey < 0) /* KAFKA: "Invalid negative header key size" */
			stream_fail(s);
		stream_skip_blob(s, hkey);
		stream_skip_blob(s, stream_varint(s, WIRE_VARINT_MAX_BYTES));
	}
	if (!s->err && s->read - start != (uint64_t)len)
		stream_fail(s); /* KAFKA: "Invalid record size" */
	if (!s->err) {
		out->records++;
		out->null_keys += key == -1;
	}
}

/* Start inflating the gzip records area of the batch at [0, len) (RFC
 * 1952, member after member, as java.util.zip.GZIPInputStream reads). */
static int stream_open(struct rec_stream *s, const uint8_t *batch,
		       size_t len, size_t max_inflated)
{
	memset(s, 0, sizeof *s);
	s->max = max_inflated;
	s->zs.next_in = (Bytef *)(uintptr_t)(batch + SEG_BATCH_HEADER_LEN);
	s->zs.avail_in = (uInt)(len - SEG_BATCH_HEADER_LEN);
	if (!(s->win = malloc(INFLATE_CHUNK)))
		return KB_ERR_NOMEM;
	if (inflateInit2(&s->zs, GZIP_WINDOW_BITS) != Z_OK) {
		free(s->win);
		s->win = NULL;
		return KB_ERR_NOMEM;
	}
	return KB_OK;
}

/* Make bytes available: true when there are, false at the end or on an
 * error (s->err: KB_ERR_CORRUPT for gzip that is damaged or ends early,
 * KB_ERR_TOO_LARGE once more than max bytes came out). INVARIANT 8:
 * inflation goes one window at a time, so it stops at the bound. */
static bool stream_fill(struct rec_stream *s)
{
	while (s->left == 0 && !s->err) {
		if (s->zrc == Z_STREAM_END) {
			if (s->zs.avail_in == 0)
				return false; /* the end of the last member */
			s->zrc = inflateReset(&s->zs);
		}
		if (s->read > s->max) {
			s->err = KB_ERR_TOO_LARGE;
			break;
		}
		size_t room = KB_MIN((size_t)INFLATE_CHUNK, s->max + 1 - s->read);
		s->zs.next_out = s->win;
		s->zs.avail_out = (uInt)room;
		if (s->zrc == Z_OK)
			s->zrc = inflate(&s->zs, Z_NO_FLUSH);
		s->p = s->win;
		s->left = room - s->zs.avail_out;
		if (s->zrc != Z_OK && s->zrc != Z_STREAM_END)
			s->err = s->zrc == Z_MEM_ERROR ? KB_ERR_NOMEM : KB_ERR_CORRUPT;
	}
	if (s->err)
		s->left = 0;
	return s->left > 0;
}

/* The next byte, or 0 and KB_ERR_PROTO (unless an error came first)
 * when the records end before the format says they do. */
static uint8_t stream_byte(struct rec_stream *s)
{
	if (!stream_fill(s)) {
		stream_fail(s);
		return 0;
	}
	s->left--;
	s->read++;
	return *s->p++;
}

/* A zigzag varint of at most max_bytes bytes (5: varint, 10: varlong);
 * for a varint the value must fit in 32 bits (as wire_read_varint). */
static int64_t stream_varint(struct rec_stream *s, int max_bytes)
{
	uint64_t u = 0;
	for (int i = 0; i < max_bytes && !s->err; i++) {
		uint8_t b = stream_byte(s);
		u |= (uint64_t)(b & 0x7f) << (7 * i);
		if (b & 0x80)
			continue;
		if (max_bytes == WIRE_VARINT_MAX_BYTES && (u >> 32) != 0)
			break;
		return (int64_t)((u >> 1) ^ (0 - (u & 1)));
	}
	stream_fail(s);
	return 0;
}

/* Skip a key, value or header field of length n (-1: null). */
static void stream_skip_blob(struct rec_stream *s, int64_t n)
{
	if (n < -1)
		stream_fail(s);
	while (n > 0 && !s->err) {
		if (!stream_fill(s)) {
			stream_fail(s);
			break;
		}
		size_t k = (size_t)KB_MIN((uint64_t)n, (uint64_t)s->left);
		s->p += k;
		s->left -= k;
		s->read += k;
		n -= (int64_t)k;
	}
}

/* The records break their format: KB_ERR_PROTO, unless the stream
 * failed first (that error stays). */
static void stream_fail(struct rec_stream *s)
{
	if (!s->err)
		s->err = KB_ERR_PROTO;
}

static void stream_close(struct rec_stream *s)
{
	if (s->win)
		inflateEnd(&s->zs);
	free(s->win);
	s->win = NULL;
}

/* ---- Writing a batch ---- */

/* The header goes first with batchLength and crc zero; both are patched
 * once the records are written. On failure out is left as it was. */
int wire_batch_write(struct kb_buf *out, const struct wire_batch_params *bp,
		     const struct wire_record *recs, int32_t count)
{
	if (count < 1 || (bp->attributes & SEG_ATTR_COMPRESSION_MASK))
		return KB_ERR_INVAL;
	int64_t base_ts = recs[0].timestamp;
	size_t start = out->len;
	struct wire_writer w;
	wire_writer_init(&w, out, false);
	write_batch_header(&w, bp, recs, count);
	for (int32_t i = 0; i < count; i++)
		write_record(&w, &recs[i], i, base_ts);
	size_t len = out->len - start;
	if (w.err == KB_OK && len - SEG_LOG_OVERHEAD > INT32_MAX)
		w.err = KB_ERR_TOO_LARGE;
	if (w.err != KB_OK) {
		out->len = start;
		return w.err;
	}
	uint8_t *b = out->data + start;
	kb_put_be32(b + SEG_OFF_BATCH_LENGTH, (uint32_t)(len - SEG_LOG_OVERHEAD));
	/* KAFKA: the CRC starts at attributes, so the broker may rewrite
	 * baseOffset and partitionLeaderEpoch later without redoing it. */
	kb_put_be32(b + SEG_OFF_CRC, seg_crc32c(0, b + SEG_OFF_ATTRIBUTES,
						len - SEG_OFF_ATTRIBUTES));
	return KB_OK;
}

/* The 61 bytes of CLIENTS.md §6, in order (offsets: SEG_OFF_*); the
 * timestamps are the first record's and the largest. */
static void write_batch_header(struct wire_writer *w,
			       const struct wire_batch_params *bp,
			       const struct wire_record *recs, int32_t count)
{
	int64_t base_ts = recs[0].timestamp, max_ts = base_ts;
	for (int32_t i = 1; i < count; i++)
		max_ts = KB_MAX(max_ts, recs[i].timestamp);
	wire_write_i64(w, bp->base_offset);
	wire_write_i32(w, 0); /* batchLength, patched */
	wire_write_i32(w, bp->partition_leader_epoch);
	wire_write_i8(w, SEG_MAGIC_V2);
	wire_write_u32(w, 0); /* crc, patched */
	wire_write_i16(w, bp->attributes);
	wire_write_i32(w, count - 1); /* lastOffsetDelta */
	wire_write_i64(w, base_ts);
	wire_write_i64(w, max_ts);
	wire_write_i64(w, bp->producer_id);
	wire_write_i16(w, bp->producer_epoch);
	wire_write_i32(w, bp->base_sequence);
	wire_write_i32(w, count);
}

/* A record's length comes before its fields, so it is computed from the
 * sizes the fields will take; the decoder checks they agree. */
static void write_record(struct wire_writer *w, const struct wire_record *rec,
			 int32_t offset_delta, int64_t base_ts)
{
	int64_t ts_delta = add_wrapping(rec->timestamp, -base_ts);
	int32_t hcount = KB_MAX(rec->headers_count, 0);
	size_t hlen = hcount > 0 ? (size_t)KB_MAX(rec->headers.len, 0) : 0;
	size_t key = rec->key.len < 0 ? 0 : (size_t)rec->key.len;
	size_t value = rec->value.len < 0 ? 0 : (size_t)rec->value.len;
	size_t size = RECORD_ATTRIBUTES_LEN + zigzag_size(ts_delta) +
		      zigzag_size(offset_delta) +
		      zigzag_size(rec->key.len) + key +
		      zigzag_size(rec->value.len) + value +
		      zigzag_size(hcount) + hlen;
	if (size > INT32_MAX) {
		if (w->err == KB_OK) /* the writer's first error sticks */
			w->err = KB_ERR_TOO_LARGE;
		return;
	}
	wire_write_varint(w, (int32_t)size);
	wire_write_i8(w, 0); /* attributes: unused */
	wire_write_varlong(w, ts_delta);
	wire_write_varint(w, offset_delta);
	put_varint_bytes(w, rec->key);
	put_varint_bytes(w, rec->value);
	wire_write_varint(w, hcount);
	wire_write_raw(w, rec->headers.p, hlen);
}

static void put_varint_bytes(struct wire_writer *w, struct wire_bytes b)
{
	wire_write_varint(w, b.len < 0 ? -1 : b.len);
	if (b.len > 0)
		wire_write_raw(w, b.p, (size_t)b.len);
}

/* ---- Small helpers ---- */

/* Bytes wire_write_varint or wire_write_varlong takes for v: zigzag
 * (0, -1, 1, -2 ... to 0, 1, 2, 3 ...), then 7 bits per byte. The
 * zigzag value of an int32 is the same at either width. */
static size_t zigzag_size(int64_t v)
{
	uint64_t u = (uint64_t)v;
	uint64_t z = (u << 1) ^ (0u - (u >> 63));
	size_t n = 1;
	for (; z >= 0x80; z >>= 7)
		n++;
	return n;
}

/* a + b wrapping like the JVM's long, never undefined: a hostile delta
 * gives a wrong timestamp, not a crash. */
static int64_t add_wrapping(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a + (uint64_t)b);
}
