/* SPDX-License-Identifier: MIT */
/*
 * Chapter 06 — log dir health: what a broker does when its disk says no.
 *
 * Concept:
 *   A full or failing disk is not a crash: the broker must stay up, keep
 *   every log whole and serve what it still can. So the first failed
 *   write (an append, a roll, an fsync) takes the whole data dir offline:
 *   the log already cut its torn tail back (chapters 01 and 03), the
 *   producer hears KAFKA_STORAGE_ERROR (retriable), and no further append
 *   is tried, as leader or as follower, until a probe write of one
 *   largest batch succeeds. In a cluster, chapter 07's broker asks to be
 *   fenced while the dir is offline, so the controller moves its
 *   leaderships and takes it out of every ISR; back online, it asks to
 *   be unfenced and chapter 08's fetchers catch it up.
 *
 * Kafka:
 *   LogDirFailureChannel.maybeAddOfflineLogDir after an IOException;
 *   ReplicaManager.handleLogDirFailure (partitions offline,
 *   KAFKA_STORAGE_ERROR to producers); in KRaft the broker reports the
 *   dir (KIP-858) and the controller fences or moves its replicas.
 *
 * Interface:
 *   - topic_logdir_init once (topic_manager_new does).
 *   - topic_logdir_failed after an append or flush returned KB_ERR_IO
 *     (06_topics.c's doors do); topic_logdir_online before an append.
 *   - topic_logdir_probe every TOPIC_LOGDIR_PROBE_MS (06_lifecycle.c's
 *     timer): does nothing while online.
 *
 * Invariants / States (topic_logdir_check):
 *   1. offline exactly when offline_since >= 0.
 *   2. failures counts the moves Online -> Offline.
 *   Online -(topic_logdir_failed)-> Offline -(topic_logdir_probe: the
 *   probe file written whole)-> Online.
 *
 * Simplifications:
 *   One log dir per broker, so one failure takes every partition offline
 *   (Kafka: the partitions of that dir). Kafka keeps a failed dir offline
 *   until the broker restarts; we probe and come back, because a full
 *   disk is the common case and freeing space should not need a restart.
 *   The probe does not fsync (a full disk refuses at write(2); a disk
 *   whose fsync fails is found by the next real flush).
 *
 * See also: docs/06_logdir.md, diagrams/06_logdir.dot,
 *   tests/06_topics_test.c (the log dir cases), lab/scenarios/11_disk_full.py.
 *   Uses chapters 00 (base), 03 (log), 04 (codec), 05 (server).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "00_base.h"
#include "03_log.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"

/* Bytes of zeros one probe pwrite carries (the probe is a few of them). */
#define LOGDIR_PROBE_CHUNK 65536

static int probe_write(const char *path);

/* ---- Lifecycle ---- */

void topic_logdir_init(struct topic_logdir *ld, const char *dir)
{
	*ld = (struct topic_logdir){.dir = dir, .offline_since = -1};
	topic_logdir_check(ld);
}

bool topic_logdir_online(const struct topic_logdir *ld)
{
	return !ld->offline;
}

/* ---- Going offline, coming back ---- */

/* KAFKA: maybeAddOfflineLogDir. The cause (syscall, errno) was logged
 * where it happened; this says what it means, once per failure. */
void topic_logdir_failed(struct topic_logdir *ld, const char *what)
{
	if (ld->offline)
		return;
	ld->offline = true;
	ld->offline_since = kb_mono_ms();
	ld->failures++;
	ld->next_probe = ld->offline_since + TOPIC_LOGDIR_PROBE_MS;
	KB_ERROR("log dir %s is offline (%s failed): no appends until a "
		 "probe write succeeds", ld->dir, what);
	topic_logdir_check(ld);
}

/* Write TOPIC_LOGDIR_PROBE_BYTES to the probe file, then delete it. A
 * whole write means a largest batch fits again: back online. A failure
 * stays quiet (probe_write says nothing): one line per outage is enough. */
bool topic_logdir_probe(struct topic_logdir *ld, int64_t now_ms)
{
	if (!ld->offline || now_ms < ld->next_probe)
		return !ld->offline;
	ld->next_probe = now_ms + TOPIC_LOGDIR_PROBE_MS;
	char path[TOPIC_PATH_MAX + sizeof TOPIC_LOGDIR_PROBE_FILE + 1];
	snprintf(path, sizeof path, "%s/%s", ld->dir, TOPIC_LOGDIR_PROBE_FILE);
	if (probe_write(path) != KB_OK)
		return false;
	KB_INFO("log dir %s is online again after %" PRId64 " ms", ld->dir,
		now_ms - ld->offline_since);
	ld->offline = false;
	ld->offline_since = -1;
	topic_logdir_check(ld);
	return true;
}

/* ---- Helpers ---- */

/* The probe file, written whole or not at all (it is always deleted). */
static int probe_write(const char *path)
{
	static const uint8_t zeros[LOGDIR_PROBE_CHUNK];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return KB_ERR_IO;
	int rc = KB_OK;
	for (size_t done = 0; rc == KB_OK && done < TOPIC_LOGDIR_PROBE_BYTES;) {
		size_t n = KB_MIN(sizeof zeros, TOPIC_LOGDIR_PROBE_BYTES - done);
		ssize_t w = pwrite(fd, zeros, n, (off_t)done);
		if (w > 0)
			done += (size_t)w;
		else if (w < 0 && errno == EINTR)
			continue;
		else
			rc = KB_ERR_IO;
	}
	close(fd);
	unlink(path);
	return rc;
}

/* ---- Invariants ---- */

void topic_logdir_check(const struct topic_logdir *ld)
{
	assert(ld->offline == (ld->offline_since >= 0));       /* 1 */
	assert(ld->failures >= (ld->offline ? 1 : 0));          /* 2 */
	(void)ld;
}
