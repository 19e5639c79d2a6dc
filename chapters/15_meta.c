/* SPDX-License-Identifier: MIT */
/*
 * Chapter 15, second file — meta: who a log directory belongs to.
 *
 * Concept: a log directory is one node's, of one cluster. A small file in
 *   it, meta.properties, says which (node.id, cluster.id, directory.id), so
 *   a broker pointed at another node's data, or a mistyped path, stops at
 *   startup instead of serving the wrong log. This file draws the random
 *   ids, writes the file once (`samsa format`) and checks it at each start.
 * Kafka: `kafka-storage.sh format` (StorageTool), MetaProperties version 1,
 *   MetaPropertiesEnsemble.verify, Uuid.randomUuid, directory.id (KIP-858).
 * Interface:
 *   - broker_uuid_random draws a Kafka Uuid (22 base64url characters).
 *   - broker_meta_format writes <log_dir>/meta.properties, once.
 *   - broker_meta_load reads and checks it; broker_meta_load_or_create
 *     formats a single node's directory at its first start.
 *   - A failing call fills struct broker_error with a line to print.
 * Invariants:
 *   1. meta.properties' node.id must equal the caller's node.id; its
 *      cluster.id, once written, never changes.
 *   2. The file is written whole or not at all (kb_write_file_atomic).
 *   3. An id is drawn from getrandom or not at all: never a made-up one.
 * Simplifications: one log directory; no bootstrap.checkpoint (chapter
 *   07's metadata log starts at the one metadata.version samsa speaks).
 * See also: docs/15_meta.md, diagrams/15_meta.dot, tests/15_config_test.c
 *   (the meta.properties tests); read before: 15_properties.c; read next:
 *   15_config.c. Uses chapters 00 (base), 04 (codec), 06 (topics).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "00_base.h"
#include "04_codec.h"
#include "06_topics.h"
#include "15_properties.h"
#include "15_meta.h"

/* Largest meta.properties we read (Kafka's is about 100 bytes). */
#define META_MAX_BYTES 65536

/* What meta.properties says, before it is checked. */
struct meta_props {
	int64_t version;   /* -1 when absent */
	int64_t node_id;   /* -1 when absent */
	char cluster_id[TOPIC_CLUSTER_ID_MAX];
	char directory_id[TOPIC_CLUSTER_ID_MAX]; /* "" when absent (before KIP-858) */
	bool bad_number;   /* a version or node.id that is not a number */
};

/* ---- Prototypes of static helpers ---- */

static int meta_read(const char *path, struct meta_props *m,
		     struct broker_error *err);
static int meta_write(const char *path, const struct broker_meta *m);
static int meta_add_directory_id(const char *path, struct broker_meta *m,
				 struct broker_error *err);

/* ---- Kafka Uuids ---- */

/* KAFKA: Uuid.randomUuid: a version-4 UUID, drawn again while it is one
 * of Kafka's reserved ids (ZERO_UUID, METADATA_TOPIC_ID = ONE_UUID) or
 * its text starts with '-' (it would read like a command-line flag). */
int broker_uuid_random(char *out)
{
	static const struct wire_uuid zero, one = {.b = {[15] = 1}};
	struct wire_uuid id;
	do {
		ssize_t n;
		while ((n = getrandom(id.b, sizeof id.b, 0)) < 0 && errno == EINTR)
			;
		if (n != (ssize_t)sizeof id.b)
			return KB_ERR_IO; /* INVARIANT: 3 */
		id.b[6] = (uint8_t)((id.b[6] & 0x0f) | 0x40); /* version 4 */
		id.b[8] = (uint8_t)((id.b[8] & 0x3f) | 0x80); /* IETF variant */
		topic_id_format(&id, out);
	} while (memcmp(&id, &zero, sizeof id) == 0 ||
		 memcmp(&id, &one, sizeof id) == 0 || out[0] == '-');
	return KB_OK;
}

/* KAFKA: Uuid.fromString decodes base64url with Java's decoder, which
 * ignores the 4 spare bits of the last character: Kafka's own docker
 * example id MkU3OEVBNTcwNTJENDM2Qk is one such. So: 22 characters of the
 * alphabet, kept as given. */
static bool is_uuid_text(const char *s)
{
	static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "abcdefghijklmnopqrstuvwxyz0123456789-_";
	return strlen(s) == TOPIC_ID_STRING_LEN &&
	       strspn(s, b64url) == TOPIC_ID_STRING_LEN;
}

/* ---- Formatting and checking a directory ---- */

/* KAFKA: StorageTool: the cluster id must parse as a Uuid and node.id
 * must be set; Kafka's words. */
static int meta_check_ids(const struct broker_meta *m, struct broker_error *err)
{
	if (!is_uuid_text(m->cluster_id))
		return broker_refuse(err, "Cluster ID string %.100s does not appear "
			    "to be a valid UUID: want 22 base64url characters "
			    "(A-Z a-z 0-9 - _) of 16 bytes, as `samsa "
			    "random-uuid` prints", m->cluster_id);
	if (m->node_id < 0)
		return broker_refuse(err, "The node.id must be set to a non-negative "
			    "integer. We saw %" PRId32, m->node_id);
	return KB_OK;
}

int broker_meta_format(const char *log_dir, struct broker_meta *m,
		       struct broker_error *err)
{
	char path[TOPIC_PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/%s", log_dir, BROKER_META_FILE);
	int rc = meta_check_ids(m, err);
	if (rc != KB_OK)
		return rc;
	if (kb_mkdirs(log_dir) != KB_OK)
		return broker_refuse(err, "cannot create log.dirs '%s': %s", log_dir,
				     strerror(errno));
	if (access(path, F_OK) == 0) { /* KAFKA: StorageTool's words */
		broker_refuse(err, "Log directory %s is already formatted. Use "
			      "--ignore-formatted to ignore this directory and "
			      "format the others.", log_dir);
		return KB_ERR_EXISTS;
	}
	if ((rc = broker_uuid_random(m->directory_id)) != KB_OK)
		return broker_refuse(err, "getrandom failed: %s", strerror(errno));
	if (meta_write(path, m) != KB_OK)
		return broker_refuse(err, "%s: cannot write: %s", path, strerror(errno));
	return KB_OK;
}

int broker_meta_load(const char *log_dir, struct broker_meta *m,
		     struct broker_error *err)
{
	char path[TOPIC_PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/%s", log_dir, BROKER_META_FILE);
	struct meta_props got;
	int rc = meta_read(path, &got, err);
	if (rc == KB_ERR_NOTFOUND) { /* KAFKA: KafkaRaftServer's words */
		broker_refuse(err, "No meta.properties found in %s (have you run "
			      "samsa format to format the directory?)", log_dir);
		return KB_ERR_NOTFOUND;
	}
	if (rc != KB_OK)
		return rc;
	/* INVARIANT: 1. KAFKA: MetaPropertiesEnsemble.verify's messages. */
	if (got.node_id != m->node_id)
		return broker_refuse(err, "Stored node id %" PRId64 " doesn't match "
			    "previous node id %" PRId32 " in %s. If you moved "
			    "your data, make sure your configured node id "
			    "matches. If you intend to create a new node, you "
			    "should remove all data in your data directories.",
			    got.node_id, m->node_id, log_dir);
	if (m->cluster_id[0] && strcmp(m->cluster_id, got.cluster_id) != 0)
		return broker_refuse(err, "Invalid cluster.id in: %s. Expected "
			    "%.64s, but read %.64s", path, m->cluster_id,
			    got.cluster_id);
	memcpy(m->cluster_id, got.cluster_id, sizeof m->cluster_id);
	memcpy(m->directory_id, got.directory_id, sizeof m->directory_id);
	return m->directory_id[0] ? KB_OK : meta_add_directory_id(path, m, err);
}

/* KAFKA: a meta.properties from before KIP-858 (Kafka 3.7) has no
 * directory.id; the broker draws one and rewrites the file at startup. */
static int meta_add_directory_id(const char *path, struct broker_meta *m,
				 struct broker_error *err)
{
	if (broker_uuid_random(m->directory_id) != KB_OK)
		return broker_refuse(err, "getrandom failed: %s", strerror(errno));
	if (meta_write(path, m) != KB_OK)
		return broker_refuse(err, "%s: cannot add directory.id: %s", path,
				     strerror(errno));
	KB_INFO("%s had no directory.id: added %s", path, m->directory_id);
	return KB_OK;
}

int broker_meta_load_or_create(const char *log_dir, int32_t node_id,
			       char *cluster_id, struct broker_error *err)
{
	struct broker_meta m = {.node_id = node_id};
	int rc = broker_meta_load(log_dir, &m, err);
	if (rc == KB_ERR_NOTFOUND) {
		/* KAFKA: what `kafka-storage.sh format` would have written. */
		if (broker_uuid_random(m.cluster_id) != KB_OK)
			return broker_refuse(err, "getrandom failed: %s",
					     strerror(errno));
		if ((rc = broker_meta_format(log_dir, &m, err)) != KB_OK)
			return rc;
		KB_INFO("formatted %s: node.id=%" PRId32 " cluster.id=%s "
			"directory.id=%s", log_dir, node_id, m.cluster_id,
			m.directory_id);
	}
	if (rc == KB_OK)
		memcpy(cluster_id, m.cluster_id, TOPIC_CLUSTER_ID_MAX);
	return rc;
}

/* ---- Reading and writing the file ---- */

/* One meta.properties line: keep the keys Kafka checks. */
static int meta_line(void *ctx, const char *key, const char *value, int line)
{
	(void)line;
	struct meta_props *m = ctx;
	int64_t *number = NULL;
	if (strcmp(key, "cluster.id") == 0)
		snprintf(m->cluster_id, sizeof m->cluster_id, "%s", value);
	else if (strcmp(key, "directory.id") == 0)
		snprintf(m->directory_id, sizeof m->directory_id, "%s", value);
	else if (strcmp(key, "version") == 0)
		number = &m->version;
	else if (strcmp(key, "node.id") == 0)
		number = &m->node_id;
	if (number) {
		char *end;
		*number = strtoll(value, &end, 10);
		m->bad_number |= *value == '\0' || *end != '\0';
	}
	return KB_OK;
}

/* Read and check meta.properties. KB_ERR_NOTFOUND when there is none. */
static int meta_read(const char *path, struct meta_props *m,
		     struct broker_error *err)
{
	char *text = NULL;
	int rc = kb_read_file(path, &text, NULL, META_MAX_BYTES);
	if (rc == KB_ERR_NOTFOUND)
		return rc;
	if (rc != KB_OK)
		return broker_refuse(err, "%s: cannot read: %s", path, kb_status_name(rc));
	memset(m, 0, sizeof *m);
	m->version = m->node_id = -1;
	rc = broker_props_parse(text, meta_line, m, err);
	free(text);
	if (rc != KB_OK)
		return rc;
	/* KAFKA: version 1 is KRaft's; it must carry node.id and cluster.id,
	 * and a directory.id, when there is one, must be a Uuid. */
	if (m->bad_number || m->version != 1 || m->node_id < 0 ||
	    m->node_id > INT32_MAX || m->cluster_id[0] == '\0' ||
	    (m->directory_id[0] && !is_uuid_text(m->directory_id)))
		return broker_refuse(err, "%s: not a KRaft meta.properties (want "
			    "version=1, node.id, cluster.id and a valid "
			    "directory.id)", path);
	return KB_OK;
}

/* INVARIANT: 2. Write meta.properties durably (chapter 00: tmp, fsync,
 * rename, fsync the directory) in the words of Java's Properties.store, as Kafka does:
 * an empty comment, the date, then the keys, sorted (as Java 18 and later
 * store them; Kafka on Java 17 writes them in hash order). */
static int meta_write(const char *path, const struct broker_meta *m)
{
	char text[512], date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a %b %d %H:%M:%S UTC %Y", &tm);
	int n = snprintf(text, sizeof text,
			 "#\n#%s\ncluster.id=%s\ndirectory.id=%s\nnode.id=%" PRId32
			 "\nversion=1\n", date, m->cluster_id, m->directory_id,
			 m->node_id);
	if (n < 0 || (size_t)n >= sizeof text)
		return KB_ERR_INVAL;
	return kb_write_file_atomic(path, text, (size_t)n);
}
