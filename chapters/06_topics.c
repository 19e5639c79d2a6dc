/* SPDX-License-Identifier: MIT */
/*
 * Chapter 06 — topics, part 1: the topic manager.
 *
 * Concept:
 *   A client never names a file: it names a topic and a partition number.
 *   The topic manager turns those names into chapter 03 logs. A topic is a
 *   name, a 16-byte id that never changes, N partitions (one log each, in
 *   <log_dir>/<topic>-<n>/) and a configuration (06_configs.c). The
 *   manager owns every topic, loads them from the log directory at start,
 *   creates and deletes their files, and is the one door through which a
 *   batch enters a partition. The handlers live beside it: admin APIs in
 *   06_admin.c and 06_configs.c, the data path in 06_produce_fetch.c.
 *
 * Kafka:
 *   LogManager (loading <topic>-<partition> directories, the checkpoint
 *   files recovery-point-offset-checkpoint and log-start-offset-checkpoint,
 *   .kafka_cleanshutdown, log.retention.check.interval.ms),
 *   PartitionMetadataFile (partition.metadata), Uuid.randomUuid and
 *   Uuid.toString (base64url topic ids), Topic.validate (names).
 *
 * Interface:
 *   - topic_manager_open loads the log directory and registers every
 *     handler of the chapter; topic_manager_close is the clean shutdown.
 *   - A struct topic or struct topic_partition pointer is valid until that
 *     topic is deleted: look it up again in every request.
 *   - Every append goes through topic_append_batch; later chapters plug in
 *     through the hooks of 06_topics.h, not by editing this file.
 *
 * Invariants:
 *   1. Every topic has npartitions >= 1 partitions numbered 0..n-1, each a
 *      directory <log_dir>/<topic>-<n> whose partition.metadata holds the
 *      topic's id.
 *   2. A topic's cfg is what topic_config_build makes of its overrides;
 *      the overrides on disk equal those in memory after every change.
 *   3. Topic names are valid (topic_name_valid), unique, and no two
 *      collide once '.' is read as '_'.
 *   4. A topic is visible to clients only once all its files exist, and a
 *      deleted topic disappears from clients before its files go. Across
 *      a crash both are all or nothing: an intent file is on disk while
 *      either runs, and the next start removes that topic's files.
 *   5. high_watermark <= log end offset, and it never moves back. One
 *      owner moves it: chapter 06 (= log end offset after each append)
 *      until a later chapter calls topic_take_high_watermark.
 *   topic_check asserts 1, 3 and 5 after every change.
 *
 * Simplifications:
 *   - One broker: the leader, only replica and controller of every
 *     partition (chapters 07 and 08 add the others).
 *   - Topic configs live in <log_dir>/__samsa_topic_configs/<topic>.properties;
 *     KRaft keeps them as ConfigRecords in __cluster_metadata (chapter 07).
 *   - DeleteTopics renames each partition directory to ...-delete and
 *     removes it at once; Kafka removes renamed directories later, on a
 *     background thread (file.delete.delay.ms).
 *   - Topics live in an array searched linearly: tens, not millions.
 *   Single-threaded: everything belongs to the reactor thread.
 *
 * See also: docs/06_topics.md, diagrams/06_topics.dot, tests/06_topics_test.c;
 *   06_configs.c, 06_admin.c, 06_produce_fetch.c; chapters 00 (base),
 *   03 (log), 04 (codec), 05 (server).
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "00_base.h"
#include "03_log.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"

/* Where samsa keeps topic configs: <log_dir>/<this>/<topic>.properties. */
#define TOPIC_CONFIG_DIR "__samsa_topic_configs"
/* KAFKA: PartitionMetadataFile, "version: 0\ntopic_id: <id>\n". */
#define TOPIC_METADATA_FILE "partition.metadata"
/* KAFKA: LogManager's checkpoint files in the log directory. */
#define TOPIC_RECOVERY_CHECKPOINT "recovery-point-offset-checkpoint"
#define TOPIC_START_CHECKPOINT "log-start-offset-checkpoint"
/* KAFKA: LocalLog.DeleteDirSuffix: a partition directory being deleted. */
#define TOPIC_DELETE_SUFFIX "-delete"
/* The longest name of one directory entry (NAME_MAX on Linux). */
#define TOPIC_DIR_ENTRY_MAX 255
/* Intents beside the configs, <id>.creating / <id>.deleting: while one
 * is on disk, the next start removes every file of that topic. */
#define TOPIC_INTENT_CREATE ".creating"
#define TOPIC_INTENT_DELETE ".deleting"
#define TOPIC_PROPERTIES ".properties"
/* The quorum's metadata log (chapter 07) lives beside topics but is none. */
#define TOPIC_METADATA_LOG "__cluster_metadata"
/* How often flush.ms is checked, in milliseconds. */
#define TOPIC_FLUSH_CHECK_MS 1000
/* Largest properties or partition.metadata file read back: 1 MiB. */
#define TOPIC_FILE_MAX (1024 * 1024)
/* Room for any path built here: the log directory (shorter than
 * TOPIC_PATH_MAX) and at most two names of TOPIC_NAME_MAX bytes. */
#define TOPIC_FULL_PATH_MAX (TOPIC_PATH_MAX + 2 * TOPIC_NAME_MAX + 64)

/* The topic manager: every topic, the broker config, the installed hooks.
 * Owned by whoever opened it; single-threaded, like the reactor. */
struct topic_manager {
	struct topic_broker_config cfg;
	struct net_server *srv;   /* borrowed; NULL when opened without one */
	struct topic **topics;    /* owned: ntopics topics, in creation order */
	size_t ntopics;
	topic_produce_check_fn produce_check; /* chapter 11, or NULL */
	void *produce_check_ctx;              /* borrowed */
	/* Partition events: every subscriber, in subscription order
	 * (chapters 08, 10, 11, ...). struct subscriber each. */
	struct kb_buf subscribers;
	/* INVARIANT 5: the one owner of the high watermark. false: chapter 06
	 * (high watermark = log end offset after each append); true: a later
	 * chapter took it with topic_take_high_watermark. */
	bool high_watermark_taken;
	topic_step_fn step;     /* tests: runs before each durable step */
	void *step_ctx;         /* borrowed */
	/* Partitions appended to whose flush policy asks for an fsync,
	 * done once before the answers go out (topic_flush_unflushed). */
	struct kb_buf unflushed; /* struct topic_partition * each, borrowed */
};

/* One subscriber to partition events. borrows: ctx. */
struct subscriber {
	topic_appended_fn appended;
	void *ctx;
};

/* What topic_manager_open reads before it opens any log. */
struct load_state {
	bool clean;                         /* .kafka_cleanshutdown was there */
	struct log_checkpoint_entry *dirs;  /* owned: partition directories */
	struct log_checkpoint_entry *rec;   /* owned: recovery points */
	struct log_checkpoint_entry *start; /* owned: log start offsets */
	size_t ndirs, nrec, nstart;
};

/* Every API of the chapter and the versions served (CLIENTS.md §4). */
static const struct topic_api {
	int16_t key, min, max;
	net_handler_fn fn;
} topic_apis[] = {
	/* KAFKA-18659: min 0, or librdkafka turns compression off; v0-2 are
	 * answered UNSUPPORTED_VERSION per partition. */
	{WIRE_API_PRODUCE, 0, 8, handle_produce},
	{WIRE_API_FETCH, 4, 12, handle_fetch},
	{WIRE_API_LIST_OFFSETS, 1, 7, handle_list_offsets},
	{WIRE_API_METADATA, 0, 9, handle_metadata},
	{WIRE_API_CREATE_TOPICS, 2, 7, handle_create_topics},
	{WIRE_API_DELETE_TOPICS, 1, 6, handle_delete_topics},
	{WIRE_API_DELETE_RECORDS, 0, 2, handle_delete_records},
	{WIRE_API_OFFSET_FOR_LEADER_EPOCH, 2, 4, handle_offset_for_leader_epoch},
	{WIRE_API_DESCRIBE_CONFIGS, 1, 4, handle_describe_configs},
	{WIRE_API_ALTER_CONFIGS, 0, 2, handle_alter_configs},
	{WIRE_API_CREATE_PARTITIONS, 0, 3, handle_create_partitions},
	{WIRE_API_INCREMENTAL_ALTER_CONFIGS, 0, 1,
	 handle_incremental_alter_configs},
	{WIRE_API_DESCRIBE_CLUSTER, 0, 1, handle_describe_cluster},
};

/* ---- Prototypes of the static helpers, in reading order ---- */

static int manager_load(struct topic_manager *tm);
static int load_scan(const char *dir, struct load_state *ls);
static int load_topic(struct topic_manager *tm, const struct load_state *ls,
		      size_t from, size_t to);
static void load_topic_config(struct topic_manager *tm, struct topic *t);
static void load_topic_id(struct topic_manager *tm, struct topic *t,
			  const struct log_checkpoint_entry *e, size_t n);
static struct log_recovery_hint load_hint(const struct load_state *ls,
					  const char *topic, int32_t p);
static int manager_register(struct topic_manager *tm, struct net_server *srv);
static void retention_timer(void *ctx, int64_t now_ms);
static void flush_timer(void *ctx, int64_t now_ms);
static void topic_id_generate(struct wire_uuid *id);
static int topic_new(const char *name, struct topic **out);
static void topic_free(struct topic *t);
static struct topic_partition **unflushed_list(struct topic_manager *tm,
						size_t *n);
static int unflushed_add(struct topic_manager *tm, struct topic_partition *tp);
static void partition_events_emit(struct topic_manager *tm,
				  struct topic_partition *tp,
				  const uint8_t *batch, size_t len,
				  const struct log_append_info *ai);
static int topic_flush_unflushed(void *ctx);
static void unflushed_forget(struct topic_manager *tm,
			     const struct topic_partition *tp);
static int partition_open(struct topic_manager *tm, struct topic *t,
			  int32_t p, const struct log_recovery_hint *hint);
static void manager_add(struct topic_manager *tm, struct topic *t);
static int overrides_save(const struct topic_manager *tm, const struct topic *t);
static int overrides_load(const struct topic_manager *tm,
			  const struct topic *t, struct topic_overrides *o);
static int overrides_parse(const char *path, struct topic_overrides *o);
static void topic_file_path(const struct topic_manager *tm,
			    const struct wire_uuid *id, const char *suffix,
			    char *out);
static void topic_step(const struct topic_manager *tm, const char *step);
static int install_files(struct topic_manager *tm, struct topic *t,
			 int32_t n);
static int intent_write(const struct topic_manager *tm,
			const struct topic *t, const char *kind);
static int intent_clear(const struct topic_manager *tm,
			const struct wire_uuid *id, const char *kind);
static int intents_recover(struct topic_manager *tm);
static int intent_recover(struct topic_manager *tm, const char *file);
static int topic_files_remove(struct topic_manager *tm, const char *name,
			      const struct wire_uuid *id);
static int partition_dir_remove(struct topic_manager *tm, const char *dir,
				const struct log_checkpoint_entry *e);
static int manager_reserve(struct topic_manager *tm);
static void manager_remove(struct topic_manager *tm, const struct topic *t);
static int metadata_file_write(const char *dir, const struct wire_uuid *id);
static int metadata_file_read(const char *dir, struct wire_uuid *id);
static int remove_tree(const char *path);
static void path_fmt(char *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- Lifecycle ---- */

void topic_broker_config_defaults(struct topic_broker_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->node_id = 1;
	snprintf(cfg->advertised_host, sizeof cfg->advertised_host, "localhost");
	cfg->advertised_port = 9092;
	snprintf(cfg->log_dir, sizeof cfg->log_dir, "/tmp/kraft-combined-logs");
	snprintf(cfg->cluster_id, sizeof cfg->cluster_id, "samsa-cluster");
	cfg->num_partitions = 1;
	cfg->default_replication_factor = 1;
	cfg->auto_create_topics = true;
	cfg->delete_topic_enable = true;
	cfg->message_max_bytes = TOPIC_DEFAULT_MESSAGE_MAX_BYTES;
	cfg->min_insync_replicas = 1;
	log_config_defaults(&cfg->log_defaults);
	cfg->log_retention_check_interval_ms = TOPIC_DEFAULT_RETENTION_CHECK_MS;
}

int topic_manager_open(const struct topic_broker_config *cfg,
		       struct net_server *srv, struct topic_manager **out)
{
	*out = NULL;
	struct topic_manager *tm = calloc(1, sizeof *tm);
	if (!tm)
		return KB_ERR_NOMEM;
	tm->cfg = *cfg;
	tm->srv = srv;
	int rc = manager_load(tm);
	if (rc == KB_OK && srv)
		rc = manager_register(tm, srv);
	if (rc == KB_OK && srv)
		net_set_before_send(srv, topic_flush_unflushed, tm);
	if (rc != KB_OK) {
		for (size_t i = 0; i < tm->ntopics; i++)
			topic_free(tm->topics[i]);
		free(tm->topics);
		free(tm);
		return rc;
	}
	*out = tm;
	return KB_OK;
}

/* KAFKA: LogManager.loadLogs: the clean-shutdown marker and the two
 * checkpoints first, then every partition directory, one topic at a time
 * (the directories are sorted, so a topic's partitions are adjacent). */
static int manager_load(struct topic_manager *tm)
{
	struct load_state ls = {0};
	const char *dir = tm->cfg.log_dir;
	char cdir[TOPIC_FULL_PATH_MAX];
	path_fmt(cdir, "%s/%s", dir, TOPIC_CONFIG_DIR);
	int rc = kb_mkdirs(cdir);
	if (rc == KB_OK) {
		ls.clean = log_dir_take_clean_mark(dir);
		rc = log_checkpoint_read(dir, TOPIC_RECOVERY_CHECKPOINT, &ls.rec,
					 &ls.nrec);
	}
	if (rc == KB_OK)
		rc = log_checkpoint_read(dir, TOPIC_START_CHECKPOINT, &ls.start,
					 &ls.nstart);
	if (rc == KB_OK)
		rc = intents_recover(tm);
	if (rc == KB_OK)
		rc = load_scan(dir, &ls);
	for (size_t i = 0, j; rc == KB_OK && i < ls.ndirs; i = j) {
		for (j = i + 1; j < ls.ndirs &&
		     strcmp(ls.dirs[j].topic, ls.dirs[i].topic) == 0; j++)
			;
		rc = load_topic(tm, &ls, i, j);
	}
	if (rc == KB_OK)
		KB_INFO("topics: loaded %zu topics from %s%s", tm->ntopics, dir,
			ls.clean || !ls.ndirs ? "" : " (no clean-shutdown "
			"marker: their logs were recovered)");
	free(ls.dirs);
	free(ls.rec);
	free(ls.start);
	return rc;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct log_checkpoint_entry *x = a, *y = b;
	int c = strcmp(x->topic, y->topic);
	return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* Collect the <topic>-<partition> directories, sorted; finish deleting
 * any ...-delete directory a crash left behind. */
static int load_scan(const char *dir, struct load_state *ls)
{
	DIR *d = opendir(dir);
	if (!d) {
		KB_ERROR("topics: open directory %s: %s", dir, strerror(errno));
		return KB_ERR_IO;
	}
	struct kb_buf found;
	struct dirent *de;
	int rc = KB_OK;
	kb_buf_init(&found);
	while (rc == KB_OK && (de = readdir(d))) {
		char path[TOPIC_FULL_PATH_MAX];
		struct log_checkpoint_entry e;
		struct stat st;
		size_t n = strlen(de->d_name), sl = strlen(TOPIC_DELETE_SUFFIX);
		path_fmt(path, "%s/%s", dir, de->d_name);
		if (de->d_name[0] == '.' || stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		if (n > sl && strcmp(de->d_name + n - sl, TOPIC_DELETE_SUFFIX) == 0)
			rc = remove_tree(path);
		else if (log_dir_parse_name(de->d_name, &e) == KB_OK &&
			 topic_name_valid(e.topic, strlen(e.topic)) &&
			 strcmp(e.topic, TOPIC_METADATA_LOG) != 0)
			rc = kb_buf_append(&found, &e, sizeof e);
	}
	closedir(d);
	ls->dirs = (struct log_checkpoint_entry *)found.data;
	ls->ndirs = found.len / sizeof *ls->dirs;
	if (ls->ndirs)
		qsort(ls->dirs, ls->ndirs, sizeof *ls->dirs, entry_cmp);
	return rc;
}

/* Load one topic from its directories dirs[from, to). The partition count
 * is the highest partition number + 1; a missing one is recreated empty. */
static int load_topic(struct topic_manager *tm, const struct load_state *ls,
		      size_t from, size_t to)
{
	const char *name = ls->dirs[from].topic;
	int32_t n = ls->dirs[to - 1].partition + 1;
	struct topic *t;
	if (n > TOPIC_MAX_PARTITIONS) {
		KB_ERROR("topics: %s has %" PRId32 " partitions, more than %d",
			 name, n, TOPIC_MAX_PARTITIONS);
		return KB_ERR_CORRUPT;
	}
	if ((size_t)n != to - from)
		KB_WARN("topics: %s misses %zu of its %" PRId32 " partition "
			"directories; recreating them empty", name,
			(size_t)n - (to - from), n);
	int rc = topic_new(name, &t);
	if (rc != KB_OK)
		return rc;
	load_topic_id(tm, t, ls->dirs + from, to - from);
	load_topic_config(tm, t);
	if (!(t->partitions = calloc((size_t)n, sizeof *t->partitions)))
		rc = KB_ERR_NOMEM;
	for (int32_t p = 0; rc == KB_OK && p < n; p++) {
		struct log_recovery_hint hint = load_hint(ls, name, p);
		rc = partition_open(tm, t, p, &hint);
	}
	if (rc == KB_OK && (rc = manager_reserve(tm)) == KB_OK)
		manager_add(tm, t);
	if (rc != KB_OK)
		topic_free(t);
	return rc;
}

/* Read the topic's overrides; a file that no longer validates (edited by
 * hand, or from a newer samsa) is ignored with a warning. */
static void load_topic_config(struct topic_manager *tm, struct topic *t)
{
	struct topic_result res = {0};
	if (overrides_load(tm, t, &t->overrides) != KB_OK ||
	    topic_config_build(tm, &t->overrides, &t->cfg, &res) != KB_OK) {
		KB_WARN("topics: ignoring the configs of %s: %s", t->name,
			res.message ? res.message : "unreadable file");
		topic_overrides_free(&t->overrides);
		topic_config_build(tm, &t->overrides, &t->cfg, &res);
	}
	free(res.message);
}

/* The id from the first readable partition.metadata; a topic without one
 * (its files came from elsewhere) gets a new id. */
static void load_topic_id(struct topic_manager *tm, struct topic *t,
			  const struct log_checkpoint_entry *e, size_t n)
{
	char dir[TOPIC_FULL_PATH_MAX];
	for (size_t i = 0; i < n; i++) {
		path_fmt(dir, "%s/%s-%" PRId32, tm->cfg.log_dir,
			 t->name, e[i].partition);
		if (metadata_file_read(dir, &t->id) == KB_OK)
			return;
	}
	topic_id_generate(&t->id);
	KB_WARN("topics: %s had no partition.metadata; new topic id", t->name);
}

/* A partition's recovery hint from the checkpoints read at start. */
static struct log_recovery_hint load_hint(const struct load_state *ls,
					  const char *topic, int32_t p)
{
	struct log_recovery_hint h = {0, ls->clean, 0};
	for (size_t i = 0; i < ls->nrec; i++)
		if (ls->rec[i].partition == p && !strcmp(ls->rec[i].topic, topic))
			h.recovery_point = ls->rec[i].offset;
	for (size_t i = 0; i < ls->nstart; i++)
		if (ls->start[i].partition == p &&
		    !strcmp(ls->start[i].topic, topic))
			h.log_start_offset = ls->start[i].offset;
	return h;
}

/* Every handler of the chapter, and the two timers. */
static int manager_register(struct topic_manager *tm, struct net_server *srv)
{
	int rc = KB_OK;
	for (size_t i = 0; rc == KB_OK && i < KB_ARRAY_LEN(topic_apis); i++) {
		const struct topic_api *a = &topic_apis[i];
		rc = net_register(srv, a->key, a->min, a->max, a->fn, tm);
	}
	if (rc == KB_OK)
		rc = net_every(srv, tm->cfg.log_retention_check_interval_ms,
			       retention_timer, tm);
	if (rc == KB_OK)
		rc = net_every(srv, TOPIC_FLUSH_CHECK_MS, flush_timer, tm);
	return rc;
}

/* KAFKA: LogManager.shutdown: flush, checkpoint, close, and only when all
 * of it worked, the marker that lets the next start skip recovery. */
void topic_manager_close(struct topic_manager *tm)
{
	if (!tm)
		return;
	int rc = KB_OK;
	for (size_t i = 0; i < tm->ntopics; i++)
		for (int32_t p = 0; p < tm->topics[i]->npartitions; p++)
			if (log_flush(tm->topics[i]->partitions[p]->log) != KB_OK)
				rc = KB_ERR_IO;
	if (rc == KB_OK)
		rc = topic_manager_checkpoint(tm);
	for (size_t i = 0; i < tm->ntopics; i++)
		topic_free(tm->topics[i]);
	free(tm->topics);
	kb_buf_fini(&tm->unflushed);
	kb_buf_fini(&tm->subscribers);
	if (rc == KB_OK)
		rc = log_dir_mark_clean(tm->cfg.log_dir);
	if (rc != KB_OK)
		KB_WARN("topics: %s was not closed cleanly; the next start "
			"recovers it", tm->cfg.log_dir);
	free(tm);
}

const struct topic_broker_config *topic_manager_config(
	const struct topic_manager *tm)
{
	return &tm->cfg;
}

/* KAFKA: the recovery point of every log, and the log start offset of
 * those whose first segment starts below it (LogManager.checkpoint*). */
int topic_manager_checkpoint(struct topic_manager *tm)
{
	size_t n = 0, nrec = 0, nstart = 0;
	for (size_t i = 0; i < tm->ntopics; i++)
		n += (size_t)tm->topics[i]->npartitions;
	struct log_checkpoint_entry *rec = calloc(n + 1, sizeof *rec);
	struct log_checkpoint_entry *start = calloc(n + 1, sizeof *start);
	int rc = rec && start ? KB_OK : KB_ERR_NOMEM;
	for (size_t i = 0; rc == KB_OK && i < tm->ntopics; i++) {
		const struct topic *t = tm->topics[i];
		for (int32_t p = 0; p < t->npartitions; p++) {
			const struct log *log = t->partitions[p]->log;
			struct log_checkpoint_entry e = {.partition = p};
			snprintf(e.topic, sizeof e.topic, "%s", t->name);
			e.offset = log->recovery_point;
			rec[nrec++] = e;
			e.offset = log->log_start_offset;
			if (log->log_start_offset > log->segs[0].seg->base_offset)
				start[nstart++] = e;
		}
	}
	if (rc == KB_OK)
		rc = log_checkpoint_write(tm->cfg.log_dir,
					  TOPIC_RECOVERY_CHECKPOINT, rec, nrec);
	if (rc == KB_OK)
		rc = log_checkpoint_write(tm->cfg.log_dir, TOPIC_START_CHECKPOINT,
					  start, nstart);
	free(rec);
	free(start);
	return rc;
}

/* Retention (delete policy only: a compacted topic keeps its history),
 * flush.ms, then the checkpoints. */
void topic_manager_tick(struct topic_manager *tm, int64_t now_ms)
{
	for (size_t i = 0; i < tm->ntopics; i++) {
		struct topic *t = tm->topics[i];
		for (int32_t p = 0; p < t->npartitions; p++) {
			struct log *log = t->partitions[p]->log;
			int deleted = 0;
			if (t->cfg.cleanup_delete)
				log_apply_retention(log, now_ms, &deleted);
			log_maybe_flush(log, now_ms);
			if (deleted > 0)
				KB_INFO("topics: %s-%" PRId32 ": retention deleted "
					"%d segments", t->name, p, deleted);
		}
	}
	topic_manager_checkpoint(tm);
}

/* Timers get the wall clock: retention compares record timestamps. */
static void retention_timer(void *ctx, int64_t now_ms)
{
	(void)now_ms;
	topic_manager_tick(ctx, kb_now_ms());
}

static void flush_timer(void *ctx, int64_t now_ms)
{
	struct topic_manager *tm = ctx;
	(void)now_ms;
	for (size_t i = 0; i < tm->ntopics; i++)
		for (int32_t p = 0; p < tm->topics[i]->npartitions; p++)
			log_maybe_flush(tm->topics[i]->partitions[p]->log,
					kb_now_ms());
}

/* ---- Names and ids ---- */

/* KAFKA: Topic.validate. */
bool topic_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > TOPIC_NAME_MAX)
		return false;
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* KAFKA: Uuid.toString is Base64.getUrlEncoder().withoutPadding(). */
static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 16 bytes, 6 bits per character: 21 full characters and 2 bits. */
void topic_id_format(const struct wire_uuid *id, char *out)
{
	uint32_t acc = 0;
	int bits = 0, o = 0;
	for (int i = 0; i < WIRE_UUID_LEN; i++) {
		acc = acc << 8 | id->b[i];
		for (bits += 8; bits >= 6; bits -= 6)
			out[o++] = b64url[acc >> (bits - 6) & 63];
	}
	out[o++] = b64url[acc << (6 - bits) & 63];
	out[o] = '\0';
}

int topic_id_parse(const char *s, struct wire_uuid *out)
{
	uint32_t acc = 0;
	int bits = 0, o = 0;
	if (strlen(s) != TOPIC_ID_STRING_LEN)
		return KB_ERR_INVAL;
	for (int i = 0; i < TOPIC_ID_STRING_LEN; i++) {
		const char *c = strchr(b64url, s[i]);
		if (!c || !s[i])
			return KB_ERR_INVAL;
		acc = acc << 6 | (uint32_t)(c - b64url);
		if ((bits += 6) >= 8 && o < WIRE_UUID_LEN) {
			out->b[o++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
		}
	}
	return (acc & ((1u << bits) - 1)) == 0 ? KB_OK : KB_ERR_INVAL;
}

/* KAFKA: Uuid.randomUuid: a random (version 4) UUID whose text does not
 * start with '-', so it can never be mistaken for a command-line flag. */
static void topic_id_generate(struct wire_uuid *id)
{
	char text[TOPIC_ID_STRING_LEN + 1];
	do {
		if (getrandom(id->b, sizeof id->b, 0) != (ssize_t)sizeof id->b)
			for (size_t i = 0; i < sizeof id->b; i++)
				id->b[i] = (uint8_t)rand();
		id->b[6] = (uint8_t)((id->b[6] & 0x0f) | 0x40);
		id->b[8] = (uint8_t)((id->b[8] & 0x3f) | 0x80);
		topic_id_format(id, text);
	} while (text[0] == '-');
}

/* KAFKA: Topic.hasCollision: "a.b" and "a_b" would share metric names. */
struct topic *topic_collision(const struct topic_manager *tm,
			      const char *name, size_t len)
{
	for (size_t i = 0; i < tm->ntopics; i++) {
		const char *o = tm->topics[i]->name;
		size_t k = 0;
		if (strlen(o) != len || memcmp(o, name, len) == 0)
			continue;
		while (k < len && (o[k] == '.' ? '_' : o[k]) ==
				  (name[k] == '.' ? '_' : name[k]))
			k++;
		if (k == len)
			return tm->topics[i];
	}
	return NULL;
}

/* Every name the broker keeps for itself, in one place. KAFKA:
 * Topic.CLUSTER_METADATA_TOPIC_NAME (chapter 07's log, never a topic)
 * and Topic.INTERNAL_TOPICS (topics only the broker creates and writes). */
static const struct reserved_name {
	const char *name;
	bool internal_topic; /* the broker creates it as a topic */
} reserved_names[] = {
	{TOPIC_METADATA_LOG, false},
	{TOPIC_CONSUMER_OFFSETS, true}, /* chapter 09 */
	{"__transaction_state", true},  /* chapter 11's transactions */
};

/* The entry for name, or NULL. */
static const struct reserved_name *reserved_find(const char *name, size_t len)
{
	for (size_t i = 0; i < KB_ARRAY_LEN(reserved_names); i++)
		if (strlen(reserved_names[i].name) == len &&
		    memcmp(reserved_names[i].name, name, len) == 0)
			return &reserved_names[i];
	return NULL;
}

bool topic_name_reserved(const char *name, size_t len)
{
	return reserved_find(name, len) != NULL;
}

static bool topic_is_internal(const char *name)
{
	const struct reserved_name *r = reserved_find(name, strlen(name));
	return r && r->internal_topic;
}

/* ---- Hooks for later chapters ---- */

struct topic *topic_find_len(struct topic_manager *tm, const char *name,
			     size_t len)
{
	for (size_t i = 0; i < tm->ntopics; i++)
		if (strlen(tm->topics[i]->name) == len &&
		    memcmp(tm->topics[i]->name, name, len) == 0)
			return tm->topics[i];
	return NULL;
}

size_t topic_count(const struct topic_manager *tm)
{
	return tm->ntopics;
}

struct topic *topic_at(struct topic_manager *tm, size_t i)
{
	return i < tm->ntopics ? tm->topics[i] : NULL;
}

struct topic *topic_find(struct topic_manager *tm, const char *name)
{
	return topic_find_len(tm, name, strlen(name));
}

struct topic *topic_find_by_id(struct topic_manager *tm,
			       const struct wire_uuid *id)
{
	for (size_t i = 0; i < tm->ntopics; i++)
		if (memcmp(tm->topics[i]->id.b, id->b, WIRE_UUID_LEN) == 0)
			return tm->topics[i];
	return NULL;
}

struct topic_partition *topic_partition_find(struct topic_manager *tm,
					     const char *topic,
					     int32_t partition)
{
	struct topic *t = topic_find(tm, topic);
	if (!t || partition < 0 || partition >= t->npartitions)
		return NULL;
	return t->partitions[partition];
}

void topic_set_produce_check(struct topic_manager *tm,
			     topic_produce_check_fn fn, void *ctx)
{
	tm->produce_check = fn;
	tm->produce_check_ctx = ctx;
}

/* The subscribers, and how many. */
static struct subscriber *subscriber_list(struct topic_manager *tm, size_t *n)
{
	*n = tm->subscribers.len / sizeof(struct subscriber);
	return (struct subscriber *)(void *)tm->subscribers.data;
}

int topic_subscribe(struct topic_manager *tm, topic_appended_fn fn,
		    void *ctx)
{
	struct subscriber s = {fn, ctx};
	return kb_buf_append(&tm->subscribers, &s, sizeof s);
}

void topic_unsubscribe(struct topic_manager *tm, topic_appended_fn fn,
		       void *ctx)
{
	size_t n, kept = 0;
	struct subscriber *list = subscriber_list(tm, &n);
	for (size_t i = 0; i < n; i++)
		if (list[i].appended != fn || list[i].ctx != ctx)
			list[kept++] = list[i];
	tm->subscribers.len = kept * sizeof *list;
}

/* INVARIANT 5: exactly one owner. Taking it twice is a bug of ours. */
void topic_take_high_watermark(struct topic_manager *tm)
{
	assert(!tm->high_watermark_taken);
	tm->high_watermark_taken = true;
}

void topic_run_produce_check(struct topic_manager *tm,
			     struct topic_partition *tp,
			     const struct seg_batch *batch,
			     const struct seg_batch *prev,
			     struct topic_produce_verdict *v)
{
	*v = (struct topic_produce_verdict){KAFKA_ERR_NONE, false, -1};
	if (tm->produce_check)
		tm->produce_check(tm->produce_check_ctx, tp, batch, prev, v);
}

/* The one place a batch enters a partition: the log assigns offsets and
 * the leader epoch; the owner of the high watermark moves it; every
 * subscriber hears of the batch; then, once, whoever waits is woken. */
int topic_append_batch(struct topic_manager *tm, struct topic_partition *tp,
		       uint8_t *batch, size_t len, struct log_append_info *info)
{
	struct log_append_info ai;
	int64_t now = kb_now_ms();
	int rc = log_append(tp->log, batch, len, tp->leader_epoch, now, &ai);
	if (rc == KB_OK && log_flush_due(tp->log, now))
		rc = tm->srv ? unflushed_add(tm, tp) : log_maybe_flush(tp->log, now);
	if (rc != KB_OK)
		return rc;
	if (info)
		*info = ai;
	if (!tm->high_watermark_taken) /* single node: the leader is the ISR */
		tp->high_watermark = log_end_offset(tp->log);
	partition_events_emit(tm, tp, batch, len, &ai);
	if (tm->srv)
		net_wake(tm->srv, tp->log);
	topic_partition_check(tp);
	return KB_OK;
}

/* Tell every subscriber about one appended batch, in subscription order. */
static void partition_events_emit(struct topic_manager *tm,
				  struct topic_partition *tp,
				  const uint8_t *batch, size_t len,
				  const struct log_append_info *ai)
{
	size_t n;
	struct subscriber *list = subscriber_list(tm, &n);
	struct seg_batch b;
	if (n == 0 || seg_batch_decode(batch, len, &b) != KB_OK)
		return;
	for (size_t i = 0; i < n; i++)
		list[i].appended(list[i].ctx, tp, &b, ai);
}

/* The partitions noted for topic_flush_unflushed, and how many. */
static struct topic_partition **unflushed_list(struct topic_manager *tm,
						size_t *n)
{
	*n = tm->unflushed.len / sizeof(struct topic_partition *);
	return (struct topic_partition **)(void *)tm->unflushed.data;
}

/* Note tp for topic_flush_unflushed (once). */
static int unflushed_add(struct topic_manager *tm, struct topic_partition *tp)
{
	size_t n;
	struct topic_partition **list = unflushed_list(tm, &n);
	for (size_t i = 0; i < n; i++)
		if (list[i] == tp)
			return KB_OK;
	return kb_buf_append(&tm->unflushed, &tp, sizeof tp);
}

/* KAFKA: flush.messages fsyncs inside UnifiedLog.append, once per
 * request. samsa waits until the connection has handled every request it
 * had buffered and fsyncs each log once for all of them, before any of
 * their acknowledgements is written (the server's before-send hook): a
 * group commit. A failed fsync fails the hook, and the server closes the
 * connection rather than acknowledge data that may not be on disk. */
static int topic_flush_unflushed(void *ctx)
{
	struct topic_manager *tm = ctx;
	size_t n;
	struct topic_partition **list = unflushed_list(tm, &n);
	int rc = KB_OK;
	for (size_t i = 0; i < n; i++) {
		int r = log_maybe_flush(list[i]->log, kb_now_ms());
		if (r != KB_OK)
			rc = r; /* recovery_point stays: the next flush retries */
	}
	tm->unflushed.len = 0;
	return rc;
}

/* A deleted partition needs no fsync, and must not be found later. */
static void unflushed_forget(struct topic_manager *tm,
			     const struct topic_partition *tp)
{
	size_t n, kept = 0;
	struct topic_partition **list = unflushed_list(tm, &n);
	for (size_t i = 0; i < n; i++)
		if (list[i] != tp)
			list[kept++] = list[i];
	tm->unflushed.len = kept * sizeof *list;
}

/* Only the owner that took the high watermark moves it this way. */
void topic_partition_set_high_watermark(struct topic_manager *tm,
					struct topic_partition *tp,
					int64_t high_watermark)
{
	assert(tm->high_watermark_taken);
	int64_t hw = KB_MIN(high_watermark, log_end_offset(tp->log));
	if (hw <= tp->high_watermark)
		return;
	tp->high_watermark = hw;
	if (tm->srv)
		net_wake(tm->srv, tp->log);
	topic_partition_check(tp);
}

int topic_read_copy(struct topic_manager *tm, struct topic_partition *tp,
		    int64_t offset, size_t max_bytes, struct kb_buf *out,
		    int64_t *next_offset)
{
	struct log_read_result rr;
	size_t got = 0;
	(void)tm;
	int rc = log_read(tp->log, offset, max_bytes, tp->high_watermark, true,
			  &rr);
	*next_offset = offset;
	if (rc != KB_OK || rr.length == 0)
		return rc;
	if ((rc = kb_buf_reserve(out, rr.length)) != KB_OK ||
	    (rc = seg_read(rr.seg, rr.position, out->data + out->len,
			   rr.length, &got)) != KB_OK)
		return rc;
	if (got != rr.length)
		return KB_ERR_IO;
	out->len += got;
	*next_offset = rr.next_offset;
	return KB_OK;
}

int topic_create(struct topic_manager *tm, const char *name,
		 int32_t num_partitions, const struct topic_config_kv *configs,
		 size_t nconfigs, struct topic **out)
{
	struct topic_overrides o = {0};
	struct topic_config cfg;
	struct topic_result res = {0};
	int32_t n = num_partitions < 0 ? tm->cfg.num_partitions : num_partitions;
	int rc = KB_OK;
	for (size_t i = 0; rc == KB_OK && i < nconfigs; i++)
		rc = topic_overrides_set(&o, configs[i].name, configs[i].value);
	if (rc == KB_OK && (!topic_name_valid(name, strlen(name)) || n <= 0 ||
			    n > TOPIC_MAX_PARTITIONS ||
			    (topic_name_reserved(name, strlen(name)) &&
			     !topic_is_internal(name))))
		rc = KB_ERR_INVAL;
	else if (rc == KB_OK && (topic_find(tm, name) ||
				 topic_collision(tm, name, strlen(name))))
		rc = KB_ERR_EXISTS;
	if (rc == KB_OK && (rc = topic_config_build(tm, &o, &cfg, &res)) != KB_OK)
		KB_WARN("topics: cannot create %s: %s", name, res.message);
	if (rc == KB_OK)
		rc = topic_install(tm, name, n, &o, out);
	free(res.message);
	topic_overrides_free(&o);
	return rc;
}

/* ---- Creating and deleting topics ---- */

static int topic_new(const char *name, struct topic **out)
{
	struct topic *t = calloc(1, sizeof *t);
	if (!t)
		return KB_ERR_NOMEM;
	snprintf(t->name, sizeof t->name, "%s", name);
	t->internal = topic_is_internal(name);
	*out = t;
	return KB_OK;
}

/* Close the logs (when open) and free the topic. */
static void topic_free(struct topic *t)
{
	for (int32_t p = 0; p < t->npartitions; p++) {
		if (t->partitions[p]->log)
			log_close(t->partitions[p]->log);
		free(t->partitions[p]);
	}
	free(t->partitions);
	topic_overrides_free(&t->overrides);
	free(t);
}

/* INVARIANT 4, all or nothing across a crash: the intent first, then
 * every file (partition directories with their partition.metadata, the
 * config file), then the commit (the intent goes), then the table. A
 * failure before the commit removes whatever was made. */
int topic_install(struct topic_manager *tm, const char *name, int32_t n,
		  const struct topic_overrides *o, struct topic **out)
{
	struct topic *t;
	struct topic_result res = {0};
	char id[TOPIC_ID_STRING_LEN + 1];
	int rc = topic_new(name, &t);
	if (rc != KB_OK)
		return rc;
	topic_id_generate(&t->id);
	rc = topic_overrides_copy(&t->overrides, o);
	if (rc == KB_OK)
		rc = topic_config_build(tm, &t->overrides, &t->cfg, &res);
	free(res.message);
	if (rc == KB_OK)
		rc = manager_reserve(tm);
	if (rc == KB_OK)
		rc = install_files(tm, t, n);
	if (rc != KB_OK) {
		struct wire_uuid tid = t->id;
		topic_free(t);
		if (topic_files_remove(tm, name, &tid) == KB_OK)
			intent_clear(tm, &tid, TOPIC_INTENT_CREATE);
		return rc;
	}
	topic_step(tm, "create: publish");
	manager_add(tm, t);
	topic_check(tm);
	topic_id_format(&t->id, id);
	KB_INFO("topics: created %s (%" PRId32 " partitions, id %s)", name, n, id);
	if (out)
		*out = t;
	return KB_OK;
}

/* The durable steps of a creation, up to its commit. */
static int install_files(struct topic_manager *tm, struct topic *t, int32_t n)
{
	topic_step(tm, "create: intent");
	int rc = intent_write(tm, t, TOPIC_INTENT_CREATE);
	if (rc == KB_OK)
		rc = topic_add_partitions(tm, t, n);
	if (rc == KB_OK) {
		topic_step(tm, "create: configs");
		rc = overrides_save(tm, t);
	}
	if (rc == KB_OK) /* the new directory entries, before the commit */
		rc = kb_fsync_dir(tm->cfg.log_dir);
	if (rc == KB_OK) {
		topic_step(tm, "create: commit");
		rc = intent_clear(tm, &t->id, TOPIC_INTENT_CREATE);
	}
	return rc;
}

/* Grow t to n partitions (CreateTopics, CreatePartitions). The array holds
 * pointers, so a partition never moves. */
int topic_add_partitions(struct topic_manager *tm, struct topic *t, int32_t n)
{
	struct topic_partition **a = realloc(t->partitions, (size_t)n * sizeof *a);
	if (!a)
		return KB_ERR_NOMEM;
	t->partitions = a;
	int rc = KB_OK;
	for (int32_t p = t->npartitions; rc == KB_OK && p < n; p++) {
		topic_step(tm, "partition");
		rc = partition_open(tm, t, p, NULL);
	}
	return rc;
}

/* Open (or create) partition p of t as t->partitions[p]. A partition
 * without leader epochs gets epoch 0 at its start (KAFKA: a new leader's
 * leader-epoch-checkpoint reads "0 0"); partition.metadata is written
 * whenever it does not hold the topic's id. */
static int partition_open(struct topic_manager *tm, struct topic *t,
			  int32_t p, const struct log_recovery_hint *hint)
{
	char dir[TOPIC_FULL_PATH_MAX];
	struct wire_uuid id;
	struct topic_partition *tp = calloc(1, sizeof *tp);
	if (!tp)
		return KB_ERR_NOMEM;
	path_fmt(dir, "%s/%s-%" PRId32, tm->cfg.log_dir, t->name, p);
	int rc = log_open(dir, &t->cfg.log, hint, &tp->log);
	if (rc == KB_OK && tp->log->nepochs == 0)
		rc = log_epoch_assign(tp->log, 0, tp->log->log_start_offset);
	if (rc == KB_OK && (metadata_file_read(dir, &id) != KB_OK ||
			    memcmp(id.b, t->id.b, WIRE_UUID_LEN) != 0))
		rc = metadata_file_write(dir, &t->id);
	if (rc != KB_OK) {
		if (tp->log)
			log_close(tp->log);
		free(tp);
		return rc;
	}
	tp->topic = t;
	tp->index = p;
	tp->leader_epoch = tp->log->epochs[tp->log->nepochs - 1].epoch;
	tp->high_watermark = log_end_offset(tp->log);
	t->partitions[p] = tp;
	t->npartitions = p + 1;
	return KB_OK;
}

/* INVARIANT 4, all or nothing across a crash: the intent is the commit;
 * then the topic leaves the table, so no request finds it (parked fetches
 * on its logs are woken to answer UNKNOWN_TOPIC_OR_PARTITION), then its
 * files go, and the intent last. A failure after the commit is finished
 * by the next start. takes: t (unless the intent cannot be written). */
int topic_delete(struct topic_manager *tm, struct topic *t)
{
	char name[TOPIC_NAME_MAX + 1], id[TOPIC_ID_STRING_LEN + 1];
	struct wire_uuid tid = t->id;
	topic_step(tm, "delete: intent");
	int rc = intent_write(tm, t, TOPIC_INTENT_DELETE);
	if (rc != KB_OK)
		return rc; /* nothing happened: the topic stays */
	manager_remove(tm, t);
	snprintf(name, sizeof name, "%s", t->name);
	for (int32_t p = 0; p < t->npartitions; p++) {
		unflushed_forget(tm, t->partitions[p]);
		if (tm->srv)
			net_wake(tm->srv, t->partitions[p]->log);
	}
	topic_free(t);
	if (topic_files_remove(tm, name, &tid) == KB_OK) {
		topic_step(tm, "delete: done");
		intent_clear(tm, &tid, TOPIC_INTENT_DELETE);
	}
	topic_check(tm);
	topic_id_format(&tid, id);
	KB_INFO("topics: deleted %s (id %s)", name, id);
	return KB_OK;
}

/* INVARIANT 2: persist o first, then take it and apply it: every log gets
 * its new struct log_config (segment sizes count from the next roll).
 * takes: o (freed on failure too). */
int topic_reconfigure(struct topic_manager *tm, struct topic *t,
		      struct topic_overrides *o)
{
	struct topic_overrides old = t->overrides;
	struct topic_config cfg;
	struct topic_result res = {0};
	int rc = topic_config_build(tm, o, &cfg, &res);
	free(res.message);
	t->overrides = *o;
	if (rc == KB_OK)
		rc = overrides_save(tm, t);
	if (rc != KB_OK) {
		t->overrides = old;
		topic_overrides_free(o);
		return rc;
	}
	topic_overrides_free(&old);
	t->cfg = cfg;
	for (int32_t p = 0; p < t->npartitions; p++)
		t->partitions[p]->log->cfg = cfg.log;
	return KB_OK;
}

/* Room for one more topic, so that publishing one cannot fail. */
static int manager_reserve(struct topic_manager *tm)
{
	struct topic **a = realloc(tm->topics, (tm->ntopics + 1) * sizeof *a);
	if (!a)
		return KB_ERR_NOMEM;
	tm->topics = a;
	return KB_OK;
}

/* Publish t (after manager_reserve). */
static void manager_add(struct topic_manager *tm, struct topic *t)
{
	tm->topics[tm->ntopics++] = t;
}

/* Unpublish t: no request finds it any more. */
static void manager_remove(struct topic_manager *tm, const struct topic *t)
{
	for (size_t i = 0; i < tm->ntopics; i++)
		if (tm->topics[i] == t) {
			memmove(&tm->topics[i], &tm->topics[i + 1],
				(--tm->ntopics - i) * sizeof *tm->topics);
			return;
		}
}

/* ---- Overrides and their properties file ---- */

/* <log_dir>/__samsa_topic_configs/<topic id>.properties, one "key=value"
 * line per override, replaced atomically (kb_write_file_atomic). Named by
 * id, not by name: a 249-byte name plus ".properties.tmp" would not fit
 * in one directory entry. */
static int overrides_save(const struct topic_manager *tm, const struct topic *t)
{
	char path[TOPIC_FULL_PATH_MAX];
	struct kb_buf b;
	int rc = KB_OK;
	kb_buf_init(&b);
	topic_file_path(tm, &t->id, TOPIC_PROPERTIES, path);
	for (size_t i = 0; rc == KB_OK && i < t->overrides.n; i++) {
		const char *kv[] = {t->overrides.names[i], "=",
				    t->overrides.values[i], "\n"};
		for (size_t k = 0; rc == KB_OK && k < KB_ARRAY_LEN(kv); k++)
			rc = kb_buf_append(&b, kv[k], strlen(kv[k]));
	}
	if (rc == KB_OK)
		rc = kb_write_file_atomic(path, b.data ? (void *)b.data : "", b.len);
	kb_buf_fini(&b);
	return rc;
}

/* Read t's file back; a missing file is no overrides. A file of an
 * older samsa, named <topic>.properties, moves to its id's name. */
static int overrides_load(const struct topic_manager *tm,
			  const struct topic *t, struct topic_overrides *o)
{
	char path[TOPIC_FULL_PATH_MAX], old[TOPIC_FULL_PATH_MAX];
	topic_file_path(tm, &t->id, TOPIC_PROPERTIES, path);
	int rc = overrides_parse(path, o);
	if (rc != KB_ERR_NOTFOUND)
		return rc;
	path_fmt(old, "%s/%s/%s%s", tm->cfg.log_dir, TOPIC_CONFIG_DIR, t->name,
		 TOPIC_PROPERTIES);
	if ((rc = overrides_parse(old, o)) == KB_ERR_NOTFOUND)
		return KB_OK;
	if (rc == KB_OK && rename(old, path) != 0) {
		KB_ERROR("topics: rename %s: %s", old, strerror(errno));
		rc = KB_ERR_IO;
	}
	return rc;
}

/* One properties file into o. SIMPLIFICATION: no Java properties
 * escapes; values with line breaks are refused earlier. */
static int overrides_parse(const char *path, struct topic_overrides *o)
{
	char *text, *save = NULL;
	int rc = kb_read_file(path, &text, NULL, TOPIC_FILE_MAX);
	if (rc != KB_OK)
		return rc;
	for (char *line = strtok_r(text, "\n", &save); rc == KB_OK && line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (line[0] == '#' || !eq)
			continue;
		*eq = '\0';
		rc = topic_overrides_set(o, line, eq + 1);
	}
	free(text);
	return rc;
}

/* ---- Creating and deleting, all or nothing ---- */

/* <log_dir>/__samsa_topic_configs/<topic id><suffix>. */
static void topic_file_path(const struct topic_manager *tm,
			    const struct wire_uuid *id, const char *suffix,
			    char *out)
{
	char s[TOPIC_ID_STRING_LEN + 1];
	topic_id_format(id, s);
	path_fmt(out, "%s/%s/%s%s", tm->cfg.log_dir, TOPIC_CONFIG_DIR, s, suffix);
}

void topic_set_step_hook(struct topic_manager *tm, topic_step_fn fn, void *ctx)
{
	tm->step = fn;
	tm->step_ctx = ctx;
}

/* Where the crash tests stop the process. */
static void topic_step(const struct topic_manager *tm, const char *step)
{
	if (tm->step)
		tm->step(tm->step_ctx, step);
}

/* Write the intent kind (TOPIC_INTENT_*) naming t, durably: from now
 * until intent_clear, a crash makes the next start remove t's files. */
static int intent_write(const struct topic_manager *tm,
			const struct topic *t, const char *kind)
{
	char path[TOPIC_FULL_PATH_MAX], text[TOPIC_NAME_MAX + 16];
	int n = snprintf(text, sizeof text, "topic=%s\n", t->name);
	topic_file_path(tm, &t->id, kind, path);
	return kb_write_file_atomic(path, text, (size_t)n);
}

/* Remove the intent, durably: a creation's commit, a deletion's end. */
static int intent_clear(const struct topic_manager *tm,
			const struct wire_uuid *id, const char *kind)
{
	char path[TOPIC_FULL_PATH_MAX], dir[TOPIC_FULL_PATH_MAX];
	topic_file_path(tm, id, kind, path);
	path_fmt(dir, "%s/%s", tm->cfg.log_dir, TOPIC_CONFIG_DIR);
	if (unlink(path) != 0 && errno != ENOENT) {
		KB_ERROR("topics: remove %s: %s", path, strerror(errno));
		return KB_ERR_IO;
	}
	return kb_fsync_dir(dir);
}

/* At start, before any directory is read as a topic: an intent left by
 * a crash rolls its creation back, or its deletion forward. */
static int intents_recover(struct topic_manager *tm)
{
	char dir[TOPIC_FULL_PATH_MAX];
	path_fmt(dir, "%s/%s", tm->cfg.log_dir, TOPIC_CONFIG_DIR);
	DIR *d = opendir(dir);
	if (!d) {
		KB_ERROR("topics: open directory %s: %s", dir, strerror(errno));
		return KB_ERR_IO;
	}
	struct dirent *de;
	int rc = KB_OK;
	while (rc == KB_OK && (de = readdir(d)))
		rc = intent_recover(tm, de->d_name);
	closedir(d);
	return rc;
}

/* One entry of the config directory: "<id>.creating" or "<id>.deleting"
 * is finished; anything else is left alone. */
static int intent_recover(struct topic_manager *tm, const char *file)
{
	char path[TOPIC_FULL_PATH_MAX], idtext[TOPIC_ID_STRING_LEN + 1];
	char *text;
	struct wire_uuid id;
	const char *kind = file + TOPIC_ID_STRING_LEN;
	bool create = strcmp(kind, TOPIC_INTENT_CREATE) == 0;
	if (strlen(file) <= TOPIC_ID_STRING_LEN ||
	    (!create && strcmp(kind, TOPIC_INTENT_DELETE) != 0))
		return KB_OK;
	snprintf(idtext, sizeof idtext, "%.*s", TOPIC_ID_STRING_LEN, file);
	path_fmt(path, "%s/%s/%s", tm->cfg.log_dir, TOPIC_CONFIG_DIR, file);
	if (topic_id_parse(idtext, &id) != KB_OK ||
	    kb_read_file(path, &text, NULL, TOPIC_FILE_MAX) != KB_OK)
		return KB_OK; /* not ours */
	size_t len = strcspn(text, "\n");
	int rc = KB_OK;
	if (strncmp(text, "topic=", 6) == 0 && topic_name_valid(text + 6, len - 6)) {
		text[len] = '\0';
		KB_WARN("topics: a crash interrupted the %s of %s; %s it",
			create ? "creation" : "deletion", text + 6,
			create ? "undoing" : "finishing");
		rc = topic_files_remove(tm, text + 6, &id);
		if (rc == KB_OK)
			rc = intent_clear(tm, &id, kind);
	}
	free(text);
	return rc;
}

/* Every file of the topic name with id: each partition directory (one
 * with another topic's partition.metadata is not ours), then its
 * properties. Idempotent: what a crash left half done, a second call
 * finishes. */
static int topic_files_remove(struct topic_manager *tm, const char *name,
			      const struct wire_uuid *id)
{
	char dir[TOPIC_FULL_PATH_MAX];
	struct log_checkpoint_entry e;
	struct wire_uuid got;
	struct dirent *de;
	int rc = KB_OK;
	DIR *d = opendir(tm->cfg.log_dir);
	if (!d)
		return KB_ERR_IO;
	while (rc == KB_OK && (de = readdir(d))) {
		if (log_dir_parse_name(de->d_name, &e) != KB_OK ||
		    strcmp(e.topic, name) != 0)
			continue;
		path_fmt(dir, "%s/%s", tm->cfg.log_dir, de->d_name);
		if (metadata_file_read(dir, &got) == KB_OK &&
		    memcmp(got.b, id->b, WIRE_UUID_LEN) != 0)
			continue;
		rc = partition_dir_remove(tm, dir, &e);
	}
	closedir(d);
	topic_step(tm, "delete: configs");
	topic_file_path(tm, id, TOPIC_PROPERTIES, dir);
	if (rc == KB_OK && unlink(dir) != 0 && errno != ENOENT)
		rc = KB_ERR_IO;
	return rc == KB_OK ? kb_fsync_dir(tm->cfg.log_dir) : rc;
}

/* KAFKA: LocalLog.logDeleteDirName: rename the directory (one atomic
 * step) to "<topic>-<p>.<32 hex digits>-delete", the topic cut short so
 * the name fits one directory entry, then remove it. A start finds any
 * "-delete" directory a crash left and removes it (load_scan). */
static int partition_dir_remove(struct topic_manager *tm, const char *dir,
				const struct log_checkpoint_entry *e)
{
	char gone[TOPIC_FULL_PATH_MAX], suffix[64];
	struct wire_uuid u;
	int n = snprintf(suffix, sizeof suffix, "-%" PRId32 ".", e->partition);
	topic_id_generate(&u);
	for (int i = 0; i < WIRE_UUID_LEN; i++)
		n += snprintf(suffix + n, sizeof suffix - (size_t)n, "%02x", u.b[i]);
	snprintf(suffix + n, sizeof suffix - (size_t)n, "%s", TOPIC_DELETE_SUFFIX);
	int keep = (int)KB_MIN(strlen(e->topic),
			       TOPIC_DIR_ENTRY_MAX - strlen(suffix));
	path_fmt(gone, "%s/%.*s%s", tm->cfg.log_dir, keep, e->topic, suffix);
	topic_step(tm, "delete: rename");
	if (rename(dir, gone) != 0) {
		KB_ERROR("topics: rename %s: %s", dir, strerror(errno));
		return KB_ERR_IO;
	}
	topic_step(tm, "delete: remove");
	return remove_tree(gone);
}

/* KAFKA: PartitionMetadataFile.write. */
static int metadata_file_write(const char *dir, const struct wire_uuid *id)
{
	char path[TOPIC_FULL_PATH_MAX], text[64], s[TOPIC_ID_STRING_LEN + 1];
	topic_id_format(id, s);
	path_fmt(path, "%s/%s", dir, TOPIC_METADATA_FILE);
	int n = snprintf(text, sizeof text, "version: 0\ntopic_id: %s\n", s);
	return kb_write_file_atomic(path, text, (size_t)n);
}

static int metadata_file_read(const char *dir, struct wire_uuid *id)
{
	static const char head[] = "version: 0\ntopic_id: ";
	char path[TOPIC_FULL_PATH_MAX], *text, s[TOPIC_ID_STRING_LEN + 1];
	path_fmt(path, "%s/%s", dir, TOPIC_METADATA_FILE);
	int rc = kb_read_file(path, &text, NULL, TOPIC_FILE_MAX);
	if (rc != KB_OK)
		return rc;
	rc = KB_ERR_CORRUPT;
	if (strncmp(text, head, sizeof head - 1) == 0 &&
	    strlen(text) >= sizeof head - 1 + TOPIC_ID_STRING_LEN) {
		snprintf(s, sizeof s, "%s", text + sizeof head - 1);
		rc = topic_id_parse(s, id) == KB_OK ? KB_OK : KB_ERR_CORRUPT;
	}
	free(text);
	return rc;
}

/* ---- Small helpers ---- */

/* Every path is built here, into TOPIC_FULL_PATH_MAX bytes, which always
 * suffice: log_dir fits TOPIC_PATH_MAX and a topic name 249 bytes. */
static void path_fmt(char *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, TOPIC_FULL_PATH_MAX, fmt, ap);
	va_end(ap);
}

static int remove_one(const char *path, const struct stat *st, int flag,
		      struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* rm -r path (a renamed partition directory). */
static int remove_tree(const char *path)
{
	if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0) {
		KB_ERROR("topics: remove %s: %s", path, strerror(errno));
		return KB_ERR_IO;
	}
	return KB_OK;
}

/* ---- Invariants ---- */

/* INVARIANT 5 for one partition (cheap: every append checks it). */
void topic_partition_check(const struct topic_partition *tp)
{
	assert(tp->topic && tp->log);
	assert(tp->topic->partitions[tp->index] == tp);
	assert(tp->high_watermark >= 0);
	assert(tp->high_watermark <= log_end_offset(tp->log));
	(void)tp;
}

/* INVARIANTS 1, 3, 5 over every topic, and topic ids unique: after each
 * create, delete, new partition or reconfiguration (and in the tests).
 * Quadratic in the number of topics: a debug build's price. */
void topic_check(const struct topic_manager *tm)
{
#ifndef NDEBUG
	for (size_t i = 0; i < tm->ntopics; i++) {
		const struct topic *t = tm->topics[i];
		size_t len = strlen(t->name);
		assert(topic_name_valid(t->name, len));
		assert(t->npartitions >= 1 && t->npartitions <= TOPIC_MAX_PARTITIONS);
		for (int32_t p = 0; p < t->npartitions; p++) {
			assert(t->partitions[p]->index == p);
			assert(t->partitions[p]->topic == t);
			topic_partition_check(t->partitions[p]);
		}
		for (size_t j = i + 1; j < tm->ntopics; j++) {
			const struct topic *u = tm->topics[j];
			assert(strcmp(t->name, u->name) != 0);
			assert(memcmp(t->id.b, u->id.b, WIRE_UUID_LEN) != 0);
		}
		assert(topic_collision(tm, t->name, len) == NULL);
	}
#else
	(void)tm;
#endif
}
