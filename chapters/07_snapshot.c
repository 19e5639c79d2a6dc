/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07 — snapshots: the metadata image written down whole, so the
 * metadata log can be cut and a node that was away long can catch up.
 *
 * Concept:
 *   Replaying the log from offset 0 rebuilds the image, but the log only
 *   grows. A snapshot is the image at one offset, written as the records
 *   that would build it from empty; after it, the log before that offset
 *   is no longer needed. A node loads the latest snapshot, then replays
 *   only the log after it.
 *
 * Kafka:
 *   KIP-630. <log.dir>/__cluster_metadata-0/<20-digit end offset>-<10-digit
 *   epoch>.checkpoint (Snapshots.java), record batches v2 whose offsets
 *   start at 0: a control batch with SnapshotHeaderRecord (control type
 *   3), batches of at most 1024 records in MetadataImage.write order
 *   (SnapshotEmitter), a control batch with SnapshotFooterRecord (type 4).
 *   Written as a .checkpoint.part file and renamed when frozen
 *   (FileRawSnapshotWriter); kafka-dump-log reads it as a segment.
 *
 * Interface:
 *   - meta_image_write walks an image into records (a FetchSnapshot
 *     server may use it without a file); meta_snapshot_encode frames them.
 *   - meta_snapshot_write, then meta_snapshot_delete_before the new id.
 *   - At open: meta_snapshot_scan deletes what a crash left,
 *     then meta_snapshot_read loads one into a fresh image.
 *
 * Invariants:
 *   1. A file under a .checkpoint name is whole: it was written as
 *      .checkpoint.part, fsynced, renamed, and the directory fsynced.
 *   2. Offsets run 0..n-1 with no gap: offset 0 holds the SnapshotHeader,
 *      offset n-1 the SnapshotFooter, and no byte follows the footer.
 *   3. decode(encode(img)) encodes to the same bytes (same params).
 *   4. Damage (a CRC, a length, a record, a record the image refuses) is
 *      KB_ERR_CORRUPT with an empty image, never an assert.
 *
 * Simplifications:
 *   The whole snapshot is built in memory and read whole (a metadata
 *   image is small); Kafka streams it. Old snapshots are unlinked at once,
 *   not renamed .deleted first. Compressed snapshot batches are refused.
 *   No KRaftVersion/Voters control records (static voters).
 *
 * See also: docs/07_snapshot.md, diagrams/07_snapshot.dot,
 *   tests/07_raft_test.c ("Snapshots"); read before: 07_image.c.
 *   Uses chapters 00 (base), 01 (segment), 04 (codec).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "00_base.h"
#include "01_segment.h"
#include "04_codec.h"
#include "07_metadata.h"
#include "07_raft.h"
#include "07_snapshot.h"

/* KAFKA: SnapshotEmitter.DEFAULT_BATCH_SIZE, records per batch. */
#define SNAP_BATCH_RECORDS 1024
/* KAFKA: KafkaRaftClient.MAX_BATCH_SIZE_BYTES, 8 MiB per batch. */
#define SNAP_BATCH_BYTES (8u << 20)
/* Largest snapshot read into memory: 1 GiB (a metadata image is KiBs). */
#define SNAP_MAX_FILE_BYTES (1u << 30)
/* KAFKA: ControlRecordType: key = version int16 0, type int16. */
#define SNAP_CONTROL_KEY_LEN 4
#define SNAP_CONTROL_HEADER 3
#define SNAP_CONTROL_FOOTER 4
/* KAFKA: ControlRecordUtils.SNAPSHOT_{HEADER,FOOTER}_CURRENT_VERSION. */
#define SNAP_HEADER_VERSION 0
#define SNAP_FOOTER_VERSION 0
/* "00000000000000000042-0000000007.checkpoint": 20 + 1 + 10 + 11. */
#define SNAP_NAME_LEN (20 + 1 + 10 + sizeof META_SNAPSHOT_SUFFIX - 1)

/* Records of the batch being filled, as encoded bytes back to back:
 * ends[i] is where record i ends in values. */
struct snap_builder {
	struct kb_buf *out;                     /* borrowed: the caller's */
	const struct meta_snapshot_params *p;   /* borrowed */
	struct kb_buf values;                   /* owned */
	size_t ends[SNAP_BATCH_RECORDS];
	int32_t n;                              /* records in values */
	int64_t next_offset;                    /* of the next batch */
};

/* One snapshot control record, decoded (KAFKA: ControlRecordType and
 * the SnapshotHeaderRecord / SnapshotFooterRecord it keys). */
struct snap_control {
	int16_t type;    /* SNAP_CONTROL_HEADER, _FOOTER, or another type */
	int16_t version; /* the record's Version field */
	int64_t last_contained_log_timestamp; /* header only */
};

/* What the reader has seen so far (invariant 2). */
struct snap_reader {
	struct meta_image *img;      /* borrowed: being built */
	struct meta_snapshot_info *info;
	int64_t next_offset;
	bool header, footer;
};

static int builder_sink(void *ctx, const struct meta_record *rec);
static int builder_flush(struct snap_builder *b);
static int write_control(struct snap_builder *b, int16_t type);
static int read_batch(struct snap_reader *sr, const uint8_t *p, size_t len);
static int read_control(struct snap_reader *sr, const struct wire_record *rec);
static int decode_control(const struct wire_record *rec, struct snap_control *c);
static int write_part_file(const char *path, const struct kb_buf *bytes);
static bool parse_name(const char *name, struct raft_offset_epoch *id);
static void keep_newest(struct raft_offset_epoch *ids, int cap, int *kept,
			struct raft_offset_epoch id);
static bool ends_with(const char *s, const char *suffix);

/* ---- The image as records (KAFKA: MetadataImage.write) ---- */

/* KAFKA: FeaturesImage.write — metadata.version first, since it may
 * change how the records after it are read; then the other features. */
static int write_features(const struct meta_image *img,
			  meta_record_sink sink, void *ctx)
{
	int rc = KB_OK;
	for (int pass = 0; pass < 2 && !rc; pass++) {
		for (int32_t i = 0; i < img->n_features && !rc; i++) {
			const struct meta_feature *f = &img->features[i];
			if ((strcmp(f->name, "metadata.version") == 0) != (pass == 0))
				continue;
			struct meta_record r;
			meta_record_init(&r, META_FEATURE_LEVEL, 0);
			r.name = wire_str_c(f->name);
			r.feature_level = f->level;
			rc = sink(ctx, &r);
		}
	}
	return rc;
}

/* KAFKA: ClusterImage.write — each broker's registration as it stands
 * now: its current epoch, fenced and controlled-shutdown state. */
static int write_brokers(const struct meta_image *img,
			 meta_record_sink sink, void *ctx)
{
	for (int32_t i = 0; i < img->n_brokers; i++) {
		const struct meta_broker *b = &img->brokers[i];
		struct meta_record r = b->reg.rec; /* views into b->reg */
		r.broker_epoch = b->epoch;
		r.fenced = b->fenced;
		r.in_controlled_shutdown = b->in_controlled_shutdown;
		if (r.in_controlled_shutdown && r.version < 1)
			r.version = 1; /* KAFKA: the field is there from v1 */
		int rc = sink(ctx, &r);
		if (rc)
			return rc;
	}
	return KB_OK;
}

/* KAFKA: TopicImage.write — the TopicRecord, then a PartitionRecord
 * per partition (PartitionRegistration.toRecord). */
static int write_topic(const struct meta_topic *t, meta_record_sink sink,
		       void *ctx)
{
	struct meta_record r;
	meta_record_init(&r, META_TOPIC, 0);
	r.name = wire_str_c(t->name);
	r.topic_id = t->id;
	int rc = sink(ctx, &r);
	for (int32_t i = 0; i < t->partition_count && !rc; i++) {
		const struct meta_partition *p = &t->partitions[i];
		meta_record_init(&r, META_PARTITION, 0);
		r.topic_id = t->id;
		r.partition_id = i;
		r.replicas = (struct meta_array){p->replicas.n, p->replicas.v};
		r.isr = (struct meta_array){p->isr.n, p->isr.v};
		r.removing_replicas = (struct meta_array){p->removing_replicas.n,
							  p->removing_replicas.v};
		r.adding_replicas = (struct meta_array){p->adding_replicas.n,
							p->adding_replicas.v};
		r.leader = p->leader;
		r.leader_epoch = p->leader_epoch;
		r.partition_epoch = p->partition_epoch;
		r.leader_recovery_state = p->leader_recovery_state;
		rc = sink(ctx, &r);
	}
	return rc;
}

/* KAFKA: ConfigurationsImage.write — one ConfigRecord per key set. */
static int write_configs(const struct meta_image *img,
			 meta_record_sink sink, void *ctx)
{
	for (int32_t i = 0; i < img->n_configs; i++) {
		const struct meta_config *c = &img->configs[i];
		struct meta_record r;
		meta_record_init(&r, META_CONFIG, 0);
		r.resource_type = c->resource_type;
		r.resource_name = wire_str_c(c->resource_name);
		r.name = wire_str_c(c->name);
		r.value = wire_str_c(c->value);
		int rc = sink(ctx, &r);
		if (rc)
			return rc;
	}
	return KB_OK;
}

/* KAFKA: AclsImage.write and ScramImage.write: the kept records as they are. */
static int write_kept(const struct meta_kept *k, int32_t n,
		      meta_record_sink sink, void *ctx)
{
	for (int32_t i = 0; i < n; i++) {
		int rc = sink(ctx, &k[i].rec);
		if (rc)
			return rc;
	}
	return KB_OK;
}

/* The sections in MetadataImage.write's order; client quotas and
 * delegation tokens are not in samsa's image. */
int meta_image_write(const struct meta_image *img, meta_record_sink sink,
		     void *ctx)
{
	int rc = write_features(img, sink, ctx);
	rc = rc ? rc : write_brokers(img, sink, ctx);
	for (int32_t i = 0; i < img->n_topics && !rc; i++)
		rc = write_topic(&img->topics[i], sink, ctx);
	rc = rc ? rc : write_configs(img, sink, ctx);
	if (!rc && img->next_producer_id >= 0) { /* KAFKA: ProducerIdsImage */
		struct meta_record r;
		meta_record_init(&r, META_PRODUCER_IDS, 0);
		r.broker_id = -1;
		r.broker_epoch = -1;
		r.next_producer_id = img->next_producer_id;
		rc = sink(ctx, &r);
	}
	rc = rc ? rc : write_kept(img->acls, img->n_acls, sink, ctx);
	return rc ? rc : write_kept(img->scram, img->n_scram, sink, ctx);
}

/* ---- Framing: header batch, record batches, footer batch ---- */

/* KAFKA: RecordsSnapshotWriter — the header's control batch at offset 0,
 * the image in batches, then freeze() appends the footer's. */
int meta_snapshot_encode(const struct meta_image *img,
			 const struct meta_snapshot_params *p, struct kb_buf *out)
{
	if (p->id.offset < 0 || p->id.epoch < 0)
		return KB_ERR_INVAL;
	struct snap_builder b = {.out = out, .p = p};
	kb_buf_init(&b.values);
	size_t start = out->len;
	int rc = write_control(&b, SNAP_CONTROL_HEADER);
	rc = rc ? rc : meta_image_write(img, builder_sink, &b);
	rc = rc ? rc : builder_flush(&b);
	rc = rc ? rc : write_control(&b, SNAP_CONTROL_FOOTER);
	kb_buf_fini(&b.values);
	if (rc)
		out->len = start;
	return rc;
}

/* One record into the open batch; a full batch is written out first. */
static int builder_sink(void *ctx, const struct meta_record *rec)
{
	struct snap_builder *b = ctx;
	if (b->n == SNAP_BATCH_RECORDS || b->values.len >= SNAP_BATCH_BYTES) {
		int rc = builder_flush(b);
		if (rc)
			return rc;
	}
	int rc = meta_record_encode(rec, &b->values);
	if (rc)
		return rc;
	b->ends[b->n++] = b->values.len;
	return KB_OK;
}

/* The open batch as one record batch v2: no key (KAFKA: metadata records
 * have none), the snapshot's epoch as its partitionLeaderEpoch. */
static int builder_flush(struct snap_builder *b)
{
	if (b->n == 0)
		return KB_OK;
	struct wire_record *recs = calloc((size_t)b->n, sizeof *recs);
	if (!recs)
		return KB_ERR_NOMEM;
	for (int32_t i = 0; i < b->n; i++) {
		size_t from = i ? b->ends[i - 1] : 0;
		recs[i].key = (struct wire_bytes){NULL, -1};
		recs[i].value = (struct wire_bytes){b->values.data + from,
						    (int32_t)(b->ends[i] - from)};
		recs[i].timestamp = b->p->now_ms;
	}
	struct wire_batch_params bp = {b->next_offset, b->p->id.epoch, 0, -1, -1, -1};
	int rc = wire_batch_write(b->out, &bp, recs, b->n);
	free(recs);
	b->next_offset += b->n;
	b->n = 0;
	b->values.len = 0;
	return rc;
}

/* A control batch of one record (KAFKA: MemoryRecordsBuilder.
 * appendSnapshotHeaderMessage / appendSnapshotFooterMessage): key is
 * (version 0, type); value the record in the flexible encoding. */
static int write_control(struct snap_builder *b, int16_t type)
{
	uint8_t key[SNAP_CONTROL_KEY_LEN];
	kb_put_be16(key, 0);
	kb_put_be16(key + 2, (uint16_t)type);
	struct kb_buf value;
	kb_buf_init(&value);
	struct wire_writer w;
	wire_writer_init(&w, &value, true);
	if (type == SNAP_CONTROL_HEADER) {
		wire_write_i16(&w, SNAP_HEADER_VERSION);
		wire_write_i64(&w, b->p->last_contained_log_timestamp);
	} else {
		wire_write_i16(&w, SNAP_FOOTER_VERSION);
	}
	wire_write_tags(&w);
	struct wire_record rec = {.key = {key, SNAP_CONTROL_KEY_LEN},
				  .value = {value.data, (int32_t)value.len},
				  .timestamp = b->p->now_ms};
	struct wire_batch_params bp = {b->next_offset, b->p->id.epoch,
				       SEG_ATTR_CONTROL, -1, -1, -1};
	int rc = wire_writer_status(&w);
	rc = rc ? rc : wire_batch_write(b->out, &bp, &rec, 1);
	kb_buf_fini(&value);
	b->next_offset++;
	return rc;
}

/* ---- Reading a snapshot back ---- */

/* Every batch whole and valid (CRC, lengths, records) before any record
 * is used; offsets from 0 without a gap; header first, footer last. */
int meta_snapshot_decode(const uint8_t *p, size_t len, struct meta_image *img,
			 struct meta_snapshot_info *info)
{
	meta_image_init(img);
	memset(info, 0, sizeof *info);
	struct snap_reader sr = {.img = img, .info = info};
	int rc = KB_OK;
	for (size_t pos = 0; pos < len && !rc; info->batches++) {
		struct seg_batch h;
		const char *why;
		size_t left = len - pos;
		if (seg_batch_decode(p + pos, left, &h) != KB_OK ||
		    seg_batch_size(&h) > left ||
		    seg_batch_validate(p + pos, seg_batch_size(&h), &h, &why) != KB_OK)
			rc = KB_ERR_CORRUPT;
		else
			rc = read_batch(&sr, p + pos, seg_batch_size(&h));
		pos += rc ? 0 : seg_batch_size(&h);
	}
	if (!rc && !sr.footer) /* INVARIANT 2: a snapshot ends with its footer */
		rc = KB_ERR_CORRUPT;
	if (rc) {
		meta_image_fini(img);
		meta_image_init(img);
	}
	return rc;
}

/* One batch: its offset must be the next one; its records, control or
 * metadata, go through read_control or meta_apply. */
static int read_batch(struct snap_reader *sr, const uint8_t *p, size_t len)
{
	struct wire_records it;
	struct wire_record rec;
	if (sr->footer || wire_records_init(&it, p, len) != KB_OK ||
	    it.batch.base_offset != sr->next_offset)
		return KB_ERR_CORRUPT;
	bool control = it.batch.attributes & SEG_ATTR_CONTROL;
	int rc;
	while ((rc = wire_records_next(&it, &rec)) == KB_OK) {
		sr->next_offset++;
		if (control) {
			rc = read_control(sr, &rec);
		} else if (!sr->header || rec.value.len < 0) {
			rc = KB_ERR_CORRUPT;
		} else {
			struct meta_record m;
			rc = meta_record_decode(rec.value.p, (size_t)rec.value.len, &m);
			rc = rc ? rc : meta_apply(sr->img, &m);
			meta_record_fini(&m);
			sr->info->records++;
		}
		if (rc)
			return KB_ERR_CORRUPT; /* INVARIANT 4: refused, not guessed */
	}
	return rc == KB_ERR_NOTFOUND ? KB_OK : KB_ERR_CORRUPT;
}

/* KAFKA: ControlRecordUtils.deserializeSnapshot{Header,Footer}Record —
 * the key says the type; only the header's and footer's values are read. */
static int decode_control(const struct wire_record *rec, struct snap_control *c)
{
	if (rec->key.len != SNAP_CONTROL_KEY_LEN || kb_get_be16(rec->key.p) != 0 ||
	    rec->value.len < 0)
		return KB_ERR_CORRUPT;
	*c = (struct snap_control){(int16_t)kb_get_be16(rec->key.p + 2), 0, 0};
	if (c->type != SNAP_CONTROL_HEADER && c->type != SNAP_CONTROL_FOOTER)
		return KB_OK;
	struct wire_reader r;
	wire_reader_init(&r, rec->value.p, (size_t)rec->value.len, true);
	c->version = wire_read_i16(&r);
	if (c->type == SNAP_CONTROL_HEADER)
		c->last_contained_log_timestamp = wire_read_i64(&r);
	wire_read_tags(&r);
	return wire_reader_status(&r) || wire_remaining(&r) ? KB_ERR_CORRUPT : KB_OK;
}

/* The header must be offset 0 and the footer the last record; other
 * control records (LeaderChange, KRaftVersion, Voters) are skipped. */
static int read_control(struct snap_reader *sr, const struct wire_record *rec)
{
	struct snap_control c;
	if (sr->footer || decode_control(rec, &c) != KB_OK)
		return KB_ERR_CORRUPT;
	if (c.type == SNAP_CONTROL_HEADER) {
		if (sr->header || rec->offset != 0 || c.version != SNAP_HEADER_VERSION)
			return KB_ERR_CORRUPT;
		sr->info->last_contained_log_timestamp = c.last_contained_log_timestamp;
		sr->header = true;
	} else if (c.type == SNAP_CONTROL_FOOTER) {
		if (!sr->header || c.version != SNAP_FOOTER_VERSION)
			return KB_ERR_CORRUPT;
		sr->footer = true;
	}
	return sr->header ? KB_OK : KB_ERR_CORRUPT;
}

/* KAFKA: DumpLogSegments prints the two records as
 * SnapshotHeader {"version":0,"lastContainedLogTimestamp":N} and
 * SnapshotFooter {"version":0} (their JsonConverters). */
int meta_snapshot_control_format(const struct wire_record *rec, struct kb_buf *out)
{
	struct snap_control c;
	char text[128]; /* the longer line is 80 bytes */
	int rc = decode_control(rec, &c), n;
	if (rc)
		return rc;
	if (c.type == SNAP_CONTROL_HEADER)
		n = snprintf(text, sizeof text, "SnapshotHeader {\"version\":%d,"
			     "\"lastContainedLogTimestamp\":%" PRId64 "}", c.version,
			     c.last_contained_log_timestamp);
	else if (c.type == SNAP_CONTROL_FOOTER)
		n = snprintf(text, sizeof text, "SnapshotFooter {\"version\":%d}", c.version);
	else
		return KB_ERR_NOTFOUND;
	return kb_buf_append(out, text, (size_t)n);
}

/* ---- Files: write durably, read, find, delete ---- */

int meta_snapshot_path(const char *dir, struct raft_offset_epoch id, char *out,
		       size_t cap)
{
	if (id.offset < 0 || id.epoch < 0)
		return KB_ERR_INVAL;
	int n = snprintf(out, cap, "%s/%020" PRId64 "-%010" PRId32 "%s", dir,
			 id.offset, id.epoch, META_SNAPSHOT_SUFFIX);
	return n < 0 || (size_t)n >= cap ? KB_ERR_INVAL : KB_OK;
}

/* INVARIANT 1: the final name appears only after the bytes are durable.
 * KAFKA: FileRawSnapshotWriter.freeze (fsync, atomic move). */
int meta_snapshot_write(const char *dir, const struct meta_image *img,
			const struct meta_snapshot_params *p)
{
	char path[4096], part[4096 + 8];
	int rc = meta_snapshot_path(dir, p->id, path, sizeof path);
	if (rc)
		return rc;
	snprintf(part, sizeof part, "%s.part", path);
	struct kb_buf bytes;
	kb_buf_init(&bytes);
	rc = meta_snapshot_encode(img, p, &bytes);
	rc = rc ? rc : write_part_file(part, &bytes);
	kb_buf_fini(&bytes);
	if (!rc && rename(part, path) != 0) {
		KB_ERROR("rename %s -> %s: %s", part, path, strerror(errno));
		unlink(part);
		rc = KB_ERR_IO;
	}
	return rc ? rc : kb_fsync_dir(dir);
}

/* KAFKA: FileRawSnapshotReader.open, then RecordsSnapshotReader. */
int meta_snapshot_read(const char *dir, struct raft_offset_epoch id,
		       struct meta_image *img, struct meta_snapshot_info *info)
{
	char path[4096], *bytes = NULL;
	size_t len = 0;
	meta_image_init(img);
	int rc = meta_snapshot_path(dir, id, path, sizeof path);
	rc = rc ? rc : kb_read_file(path, &bytes, &len, SNAP_MAX_FILE_BYTES);
	if (rc)
		return rc;
	rc = meta_snapshot_decode((const uint8_t *)bytes, len, img, info);
	if (rc)
		KB_ERROR("%s: damaged snapshot (a CRC, a length or a record)", path);
	free(bytes);
	return rc;
}

/* KAFKA: Snapshots.deleteIfExists at startup for .part and .deleted
 * files (only when clean: a running node's .part may be a download in
 * progress); of the rest, the newest cap go into ids, oldest first. */
static int snapshot_scan(const char *dir, struct raft_offset_epoch *ids,
			 int cap, bool clean)
{
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : KB_ERR_IO;
	int n = 0, kept = 0, removed = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		struct raft_offset_epoch id;
		if (clean && (ends_with(e->d_name, META_SNAPSHOT_PART_SUFFIX) ||
			      ends_with(e->d_name, META_SNAPSHOT_DELETED_SUFFIX))) {
			removed += unlinkat(dirfd(d), e->d_name, 0) == 0;
			KB_INFO("%s/%s: leftover of a crash, deleted", dir, e->d_name);
		} else if (parse_name(e->d_name, &id)) {
			keep_newest(ids, cap, &kept, id);
			n++;
		}
	}
	closedir(d);
	return removed && kb_fsync_dir(dir) ? KB_ERR_IO : n;
}

int meta_snapshot_scan(const char *dir, struct raft_offset_epoch *ids, int cap)
{
	return snapshot_scan(dir, ids, cap, true);
}

int meta_snapshot_latest(const char *dir, struct raft_offset_epoch *out)
{
	int n = snapshot_scan(dir, out, 1, false);
	return n < 0 ? n : n == 0 ? KB_ERR_NOTFOUND : KB_OK;
}

/* KAFKA: KafkaRaftClient.maybeDeleteBeforeSnapshot — once a newer
 * snapshot is durable the older ones are not needed. */
int meta_snapshot_delete_before(const char *dir, struct raft_offset_epoch keep)
{
	DIR *d = opendir(dir);
	if (!d)
		return KB_ERR_IO;
	int removed = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		struct raft_offset_epoch id;
		if (parse_name(e->d_name, &id) && meta_snapshot_id_cmp(id, keep) < 0 &&
		    unlinkat(dirfd(d), e->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	return removed && kb_fsync_dir(dir) ? KB_ERR_IO : removed;
}

/* ---- Small helpers ---- */

int meta_snapshot_id_cmp(struct raft_offset_epoch a, struct raft_offset_epoch b)
{
	if (a.offset != b.offset)
		return a.offset < b.offset ? -1 : 1;
	return a.epoch < b.epoch ? -1 : a.epoch > b.epoch;
}

/* Insert id into ids[0..*kept), ascending, keeping only the newest cap. */
static void keep_newest(struct raft_offset_epoch *ids, int cap, int *kept,
			struct raft_offset_epoch id)
{
	if (cap <= 0)
		return;
	if (*kept == cap) {
		if (meta_snapshot_id_cmp(id, ids[0]) <= 0)
			return;
		memmove(ids, ids + 1, (size_t)(cap - 1) * sizeof *ids);
		(*kept)--;
	}
	int i = (*kept)++;
	for (; i > 0 && meta_snapshot_id_cmp(ids[i - 1], id) > 0; i--)
		ids[i] = ids[i - 1];
	ids[i] = id;
}

/* Create path (the .part name), write every byte, fsync, close. */
static int write_part_file(const char *path, const struct kb_buf *bytes)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		KB_ERROR("create %s: %s", path, strerror(errno));
		return KB_ERR_IO;
	}
	size_t done = 0;
	while (done < bytes->len) {
		ssize_t n = write(fd, bytes->data + done, bytes->len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		done += (size_t)n;
	}
	if (done < bytes->len || fsync(fd) != 0) {
		KB_ERROR("write %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return KB_ERR_IO;
	}
	close(fd);
	return KB_OK;
}

/* Exactly "<20 digits>-<10 digits>.checkpoint" (KAFKA: Snapshots.parse). */
static bool parse_name(const char *name, struct raft_offset_epoch *id)
{
	if (strlen(name) != SNAP_NAME_LEN || name[20] != '-' ||
	    strcmp(name + 31, META_SNAPSHOT_SUFFIX) != 0)
		return false;
	for (int i = 0; i < 31; i++)
		if (i != 20 && (name[i] < '0' || name[i] > '9'))
			return false;
	errno = 0;
	long long off = strtoll(name, NULL, 10); /* 20 digits may pass int64 */
	long long epoch = strtoll(name + 21, NULL, 10);
	if (errno == ERANGE || epoch > INT32_MAX)
		return false;
	*id = (struct raft_offset_epoch){off, (int32_t)epoch};
	return true;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}
