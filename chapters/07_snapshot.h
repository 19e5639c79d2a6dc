/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07 — snapshots of the metadata image (KIP-630): the image as a
 * <offset>-<epoch>.checkpoint file of record batches, and the walk of the
 * image into records. The lesson is in 07_snapshot.c.
 *
 * Single-threaded. Nothing here keeps state between calls.
 */
#ifndef SAMSA_SNAPSHOT_H
#define SAMSA_SNAPSHOT_H

#include "00_base.h"
#include "07_metadata.h"
#include "07_raft.h"

#define META_SNAPSHOT_SUFFIX ".checkpoint"           /* KAFKA: Snapshots.SUFFIX */
#define META_SNAPSHOT_PART_SUFFIX ".checkpoint.part" /* KAFKA: PARTIAL_SUFFIX */
#define META_SNAPSHOT_DELETED_SUFFIX ".checkpoint.deleted" /* KAFKA: DELETE_SUFFIX */

/* What meta_snapshot_encode stamps on a snapshot besides the image. */
struct meta_snapshot_params {
	/* KAFKA: the snapshot id, OffsetAndEpoch: it holds the log up to
	 * id.offset - 1 (its end offset), whose record has epoch id.epoch. */
	struct raft_offset_epoch id;
	int64_t last_contained_log_timestamp; /* KAFKA: SnapshotHeaderRecord */
	int64_t now_ms; /* every batch's timestamp (KAFKA: time.milliseconds()) */
};

/* What a snapshot held besides the image. */
struct meta_snapshot_info {
	int64_t last_contained_log_timestamp;
	int64_t records; /* metadata records applied */
	int32_t batches; /* record batches, both control batches included */
};

/* Receives one record of a walk; a non-KB_OK return stops the walk. borrows: rec, for the call. */
typedef int (*meta_record_sink)(void *ctx, const struct meta_record *rec);

/* Emit img as records in MetadataImage.write order (features, brokers, topics, configs, producer ids, ACLs, SCRAM). */
int meta_image_write(const struct meta_image *img, meta_record_sink sink, void *ctx);
/* Append img as a whole snapshot (header batch, record batches, footer batch) to out. */
int meta_snapshot_encode(const struct meta_image *img, const struct meta_snapshot_params *p, struct kb_buf *out);
/* Rebuild an image from snapshot bytes. returns owned *img (meta_image_fini), empty on KB_ERR_CORRUPT. */
int meta_snapshot_decode(const uint8_t *p, size_t len, struct meta_image *img, struct meta_snapshot_info *info);
/* "SnapshotHeader {...}" / "SnapshotFooter {...}" as kafka-dump-log prints a control record; KB_ERR_NOTFOUND: another type. */
int meta_snapshot_control_format(const struct wire_record *rec, struct kb_buf *out);
/* Write dir/<id>.checkpoint durably (.part, fsync, rename, fsync dir). */
int meta_snapshot_write(const char *dir, const struct meta_image *img, const struct meta_snapshot_params *p);
/* Read dir/<id>.checkpoint into *img (owned, as meta_snapshot_decode); KB_ERR_NOTFOUND, KB_ERR_CORRUPT. */
int meta_snapshot_read(const char *dir, struct raft_offset_epoch id, struct meta_image *img, struct meta_snapshot_info *info);
/* "dir/<20-digit offset>-<10-digit epoch>.checkpoint" into out; KB_ERR_INVAL when negative or too long. */
int meta_snapshot_path(const char *dir, struct raft_offset_epoch id, char *out, size_t cap);
/* At open: delete leftover .part/.deleted files, put up to cap snapshot ids in ids, oldest first; returns how many there are. */
int meta_snapshot_scan(const char *dir, struct raft_offset_epoch *ids, int cap);
/* The newest snapshot of dir (no clean-up: a .part may be a download in progress); KB_ERR_NOTFOUND when none. */
int meta_snapshot_latest(const char *dir, struct raft_offset_epoch *out);
/* Delete every snapshot of dir older than keep; returns how many went. */
int meta_snapshot_delete_before(const char *dir, struct raft_offset_epoch keep);
/* -1, 0, 1 as a is older than, the same as, newer than b (offset, then epoch). */
int meta_snapshot_id_cmp(struct raft_offset_epoch a, struct raft_offset_epoch b);

#endif
