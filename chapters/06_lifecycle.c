/* SPDX-License-Identifier: MIT */
/*
 * Chapter 06 — topics, part 3: topics on disk, from load to delete.
 *
 * Concept:
 *   A topic is also a set of files: a directory per partition (a chapter
 *   03 log) and a properties file of its configs. This file loads, creates,
 *   deletes and closes them; an intent file written first and removed last
 *   makes a create or delete of many steps all or nothing across a crash.
 *
 * Kafka:
 *   LogManager (loadLogs, the two checkpoint files, .kafka_cleanshutdown),
 *   PartitionMetadataFile, LocalLog.logDeleteDirName (...-delete).
 *
 * Interface:
 *   - topic_manager_load opens the registry from the log directory;
 *     topic_manager_close is the clean shutdown.
 *   - topic_install, topic_add_partitions and topic_delete are the only
 *     writers of a topic's directories (topic_reconfigure, in
 *     06_config_defs.c, of its properties file).
 *
 * Invariants:
 *   1. Every topic's partition directory <log_dir>/<topic>-<n> exists and
 *      its partition.metadata holds the topic's id.
 *   2. A topic's cfg is what topic_config_build makes of its overrides,
 *      each log has the topic's struct log_config, and the overrides on
 *      disk equal those in memory after every change (topic_reconfigure;
 *      in a cluster the metadata log is their store, not the file).
 *   3. A topic is visible to clients only once all its files exist, and a
 *      deleted one disappears before its files go. Across a crash both are
 *      all or nothing: <id>.creating / <id>.deleting is on disk while
 *      either runs, and the next start removes that topic's files.
 *   topic_check asserts these and the registry's after every change.
 *
 * Simplifications:
 *   - Topic configs live in <log_dir>/__samsa_topic_configs/<id>.properties;
 *     KRaft keeps them as ConfigRecords in __cluster_metadata (chapter 07).
 *   - A deleted partition's directory is removed at once; Kafka removes
 *     it later, on a background thread (file.delete.delay.ms).
 *
 * See also: docs/06_lifecycle.md, diagrams/06_lifecycle.dot,
 *   tests/06_topics_test.c; read before: 06_topics.c, 06_config_defs.c.
 *   Uses chapters 00 (base), 03 (log), 04 (codec), 05 (server).
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
#include <sys/stat.h>
#include <unistd.h>

#include "00_base.h"
#include "03_log.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"

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
/* How often flush.ms is checked, in milliseconds. */
#define TOPIC_FLUSH_CHECK_MS 1000
/* Largest properties or partition.metadata file read back: 1 MiB. */
#define TOPIC_FILE_MAX (1024 * 1024)

/* What topic_manager_load reads before it opens any log. */
struct load_state {
	bool clean;                         /* .kafka_cleanshutdown was there */
	struct log_checkpoint_entry *dirs;  /* owned: partition directories */
	struct log_checkpoint_entry *rec;   /* owned: recovery points */
	struct log_checkpoint_entry *start; /* owned: log start offsets */
	size_t ndirs, nrec, nstart;
};

/* ---- Prototypes of the static helpers, in reading order ---- */

static const char *log_dir(const struct topic_manager *tm);
static int manager_load(struct topic_manager *tm);
static int load_scan(const char *dir, struct load_state *ls);
static int load_topic(struct topic_manager *tm, const struct load_state *ls,
		      size_t from, size_t to);
static void load_topic_config(struct topic_manager *tm, struct topic *t);
static void load_topic_id(struct topic_manager *tm, struct topic *t,
			  const struct log_checkpoint_entry *e, size_t n);
static struct log_recovery_hint load_hint(const struct load_state *ls,
					  const char *topic, int32_t p);
static int timers_register(struct topic_manager *tm, struct net_server *srv);
static void retention_timer(void *ctx, int64_t now_ms);
static void flush_timer(void *ctx, int64_t now_ms);
static int install_files(struct topic_manager *tm, struct topic *t,
			 int32_t n);
static int partition_open(struct topic_manager *tm, struct topic *t,
			  int32_t p, const struct log_recovery_hint *hint);
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
static int metadata_file_write(const char *dir, const struct wire_uuid *id);
static int metadata_file_read(const char *dir, struct wire_uuid *id);
static int remove_tree(const char *path);
static void path_fmt(char *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- Loading at start ---- */

int topic_manager_load(const struct topic_broker_config *cfg,
		       struct net_server *srv, struct topic_manager **out)
{
	struct topic_manager *tm;
	int rc = topic_manager_new(cfg, srv, &tm);
	*out = NULL;
	if (rc != KB_OK)
		return rc;
	rc = manager_load(tm);
	if (rc == KB_OK && srv)
		rc = timers_register(tm, srv);
	if (rc != KB_OK) {
		topic_manager_free(tm);
		return rc;
	}
	topic_check(tm);
	*out = tm;
	return KB_OK;
}

/* The log directory, where every path here starts. */
static const char *log_dir(const struct topic_manager *tm)
{
	return topic_manager_config(tm)->log_dir;
}

/* KAFKA: LogManager.loadLogs: the clean-shutdown marker and the two
 * checkpoints first, then every partition directory, one topic at a time
 * (the directories are sorted, so a topic's partitions are adjacent). */
static int manager_load(struct topic_manager *tm)
{
	struct load_state ls = {0};
	const char *dir = log_dir(tm);
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
		KB_INFO("topics: loaded %zu topics from %s%s", topic_count(tm), dir,
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
 * any ...-delete directory a crash left behind. Chapter 07's
 * __cluster_metadata lives here too, but is no topic. */
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
			 !(topic_name_reserved(e.topic, strlen(e.topic)) &&
			   !topic_is_internal(e.topic)))
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
	int rc = topic_new(tm, name, &t);
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
	if (rc == KB_OK && (rc = topic_publish_reserve(tm)) == KB_OK)
		topic_publish(tm, t);
	if (rc != KB_OK)
		topic_free(t);
	return rc;
}

/* Read the topic's overrides; a file that no longer validates (edited by
 * hand, or from a newer samsa) is ignored with a warning. */
static void load_topic_config(struct topic_manager *tm, struct topic *t)
{
	struct topic_result res = {0};
	if (topic_overrides_load(tm, t, &t->overrides) != KB_OK ||
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
		path_fmt(dir, "%s/%s-%" PRId32, log_dir(tm),
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

/* The two timers: retention every log.retention.check.interval.ms, and
 * flush.ms and the offline log dir's probe (06_logdir.c) every second. */
static int timers_register(struct topic_manager *tm, struct net_server *srv)
{
	const struct topic_broker_config *c = topic_manager_config(tm);
	int rc = net_every(srv, c->log_retention_check_interval_ms,
			   (struct net_callback){retention_timer, tm});
	if (rc == KB_OK)
		rc = net_every(srv, TOPIC_FLUSH_CHECK_MS,
			       (struct net_callback){flush_timer, tm});
	return rc;
}

/* ---- Checkpoints, retention and the clean shutdown ---- */

/* KAFKA: the recovery point of every log, and the log start offset of
 * those whose first segment starts below it (LogManager.checkpoint*). */
int topic_manager_checkpoint(struct topic_manager *tm)
{
	size_t n = 0, nrec = 0, nstart = 0;
	for (size_t i = 0; i < topic_count(tm); i++)
		n += (size_t)topic_at(tm, i)->npartitions;
	struct log_checkpoint_entry *rec = calloc(n + 1, sizeof *rec);
	struct log_checkpoint_entry *start = calloc(n + 1, sizeof *start);
	int rc = rec && start ? KB_OK : KB_ERR_NOMEM;
	for (size_t i = 0; rc == KB_OK && i < topic_count(tm); i++) {
		const struct topic *t = topic_at(tm, i);
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
		rc = log_checkpoint_write(log_dir(tm),
					  TOPIC_RECOVERY_CHECKPOINT, rec, nrec);
	if (rc == KB_OK)
		rc = log_checkpoint_write(log_dir(tm), TOPIC_START_CHECKPOINT,
					  start, nstart);
	free(rec);
	free(start);
	return rc;
}

/* Retention (delete policy only: a compacted topic keeps its history),
 * flush.ms, then the checkpoints. */
void topic_manager_tick(struct topic_manager *tm, int64_t now_ms)
{
	for (size_t i = 0; i < topic_count(tm); i++) {
		struct topic *t = topic_at(tm, i);
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
	struct topic_logdir *ld = topic_manager_logdir(tm);
	(void)now_ms;
	for (size_t i = 0; i < topic_count(tm); i++)
		for (int32_t p = 0; p < topic_at(tm, i)->npartitions; p++)
			if (log_maybe_flush(topic_at(tm, i)->partitions[p]->log,
					    kb_now_ms()) == KB_ERR_IO)
				topic_logdir_failed(ld, "fsync");
	topic_logdir_probe(ld, kb_mono_ms()); /* offline: is there room again? */
}

/* KAFKA: LogManager.shutdown: flush, checkpoint, close, and only when all
 * of it worked, the marker that lets the next start skip recovery. */
void topic_manager_close(struct topic_manager *tm)
{
	char dir[TOPIC_FULL_PATH_MAX];
	int rc = KB_OK;
	if (!tm)
		return;
	for (size_t i = 0; i < topic_count(tm); i++)
		for (int32_t p = 0; p < topic_at(tm, i)->npartitions; p++)
			if (log_flush(topic_at(tm, i)->partitions[p]->log) != KB_OK)
				rc = KB_ERR_IO;
	if (rc == KB_OK)
		rc = topic_manager_checkpoint(tm);
	path_fmt(dir, "%s", log_dir(tm));
	topic_manager_free(tm); /* closes the logs */
	if (rc == KB_OK)
		rc = log_dir_mark_clean(dir);
	if (rc != KB_OK)
		KB_WARN("topics: %s was not closed cleanly; the next start "
			"recovers it", dir);
}

/* ---- Creating and deleting, all or nothing ---- */

int topic_create(struct topic_manager *tm, const struct topic_create_req *req,
		 struct topic **out)
{
	const char *name = req->name;
	struct topic_overrides o = {0};
	struct topic_config cfg;
	struct topic_result res = {0};
	int32_t n = req->num_partitions < 0
			    ? topic_manager_config(tm)->num_partitions
			    : req->num_partitions;
	int rc = KB_OK;
	for (size_t i = 0; rc == KB_OK && i < req->nconfigs; i++)
		rc = topic_overrides_set(&o, req->configs[i].name,
					 req->configs[i].value);
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
	if (rc == KB_OK && topic_cluster_get(tm))
		rc = topic_cluster_create(tm, req); /* the controller will */
	else if (rc == KB_OK)
		rc = topic_install(tm, &(struct topic_spec){name, n, &o, NULL},
				   out);
	free(res.message);
	topic_overrides_free(&o);
	return rc;
}

/* INVARIANT 3, all or nothing across a crash: the intent first, then
 * every file (partition directories with their partition.metadata, the
 * config file), then the commit (the intent goes), then the table. A
 * failure before the commit removes whatever was made. */
int topic_install(struct topic_manager *tm, const struct topic_spec *spec,
		  struct topic **out)
{
	const char *name = spec->name;
	int32_t n = spec->npartitions;
	struct topic *t;
	struct topic_result res = {0};
	char id[TOPIC_ID_STRING_LEN + 1];
	int rc = topic_new(tm, name, &t);
	if (rc != KB_OK)
		return rc;
	if (spec->id)
		t->id = *spec->id; /* chapter 07: the controller's id */
	else
		topic_id_generate(&t->id);
	rc = topic_overrides_copy(&t->overrides, spec->overrides);
	if (rc == KB_OK)
		rc = topic_config_build(tm, &t->overrides, &t->cfg, &res);
	free(res.message);
	if (rc == KB_OK)
		rc = topic_publish_reserve(tm);
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
	topic_publish(tm, t);
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
		rc = topic_overrides_save(tm, t);
	}
	if (rc == KB_OK) /* the new directory entries, before the commit */
		rc = kb_fsync_dir(log_dir(tm));
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
	topic_check(tm);
	return rc;
}

/* Open (hint: at load) or create (no hint) partition p of t as
 * t->partitions[p]. A partition without leader epochs gets epoch 0 at its
 * start (KAFKA: a new leader's leader-epoch-checkpoint reads "0 0");
 * partition.metadata is written whenever it does not hold the topic's id. */
static int partition_open(struct topic_manager *tm, struct topic *t,
			  int32_t p, const struct log_recovery_hint *hint)
{
	char dir[TOPIC_FULL_PATH_MAX];
	struct wire_uuid id;
	struct topic_partition *tp = calloc(1, sizeof *tp);
	if (!tp)
		return KB_ERR_NOMEM;
	path_fmt(dir, "%s/%s-%" PRId32, log_dir(tm), t->name, p);
	if (!hint && access(dir, F_OK) == 0) {
		/* A new partition never reuses what a failed delete left. */
		KB_ERROR("topics: %s is left from an earlier topic", dir);
		free(tp);
		return KB_ERR_EXISTS;
	}
	int rc = log_open(dir, &t->cfg.log, hint, &tp->log);
	if (rc == KB_OK && tp->log->nepochs == 0)
		rc = log_epoch_assign(tp->log, 0, tp->log->log_start_offset);
	if (rc == KB_OK && (metadata_file_read(dir, &id) != KB_OK ||
			    memcmp(id.b, t->id.b, WIRE_UUID_LEN) != 0)) {
		topic_step(tm, "partition: metadata"); /* a log, no id yet */
		rc = metadata_file_write(dir, &t->id);
	}
	if (rc != KB_OK) {
		if (tp->log)
			log_close(tp->log);
		free(tp);
		return rc;
	}
	tp->topic = t;
	tp->index = p;
	tp->leader_id = topic_manager_config(tm)->node_id; /* or ch 07 */
	tp->leader_epoch = tp->log->epochs[tp->log->nepochs - 1].epoch;
	tp->high_watermark = log_end_offset(tp->log);
	t->partitions[p] = tp;
	t->npartitions = p + 1;
	return KB_OK;
}

/* INVARIANT 3, all or nothing across a crash: the intent is the commit;
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
	topic_unpublish(tm, t);
	snprintf(name, sizeof name, "%s", t->name);
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
	path_fmt(dir, "%s/%s", log_dir(tm), TOPIC_CONFIG_DIR);
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
	path_fmt(dir, "%s/%s", log_dir(tm), TOPIC_CONFIG_DIR);
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
	path_fmt(path, "%s/%s/%s", log_dir(tm), TOPIC_CONFIG_DIR, file);
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
	DIR *d = opendir(log_dir(tm));
	if (!d)
		return KB_ERR_IO;
	while (rc == KB_OK && (de = readdir(d))) {
		if (log_dir_parse_name(de->d_name, &e) != KB_OK ||
		    strcmp(e.topic, name) != 0)
			continue;
		path_fmt(dir, "%s/%s", log_dir(tm), de->d_name);
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
	return rc == KB_OK ? kb_fsync_dir(log_dir(tm)) : rc;
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
	path_fmt(gone, "%s/%.*s%s", log_dir(tm), keep, e->topic, suffix);
	topic_step(tm, "delete: rename");
	if (rename(dir, gone) != 0) {
		KB_ERROR("topics: rename %s: %s", dir, strerror(errno));
		return KB_ERR_IO;
	}
	topic_step(tm, "delete: remove");
	return remove_tree(gone);
}

/* ---- partition.metadata ---- */

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

/* Every invariant of chapter 06 over every topic: after each load,
 * create, delete, new partition or reconfiguration (and in the tests).
 * Quadratic in the number of topics, and it rebuilds each config
 * (INVARIANT 2, topic_config_check): a debug build's price. */
void topic_check(const struct topic_manager *tm)
{
#ifndef NDEBUG
	for (size_t i = 0; i < topic_count(tm); i++) {
		const struct topic *t = topic_at(tm, i);
		size_t len = strlen(t->name);
		assert(topic_name_valid(t->name, len));
		assert(t->tm == tm); /* INVARIANT 1 */
		assert(t->npartitions >= 1 && t->npartitions <= TOPIC_MAX_PARTITIONS);
		for (int32_t p = 0; p < t->npartitions; p++)
			topic_partition_check(t->partitions[p]);
		for (size_t j = i + 1; j < topic_count(tm); j++) {
			const struct topic *u = topic_at(tm, j);
			assert(strcmp(t->name, u->name) != 0);
			assert(memcmp(t->id.b, u->id.b, WIRE_UUID_LEN) != 0);
		}
		assert(topic_collision(tm, t->name, len) == NULL);
		topic_config_check(tm, t);
	}
	topic_cluster_check(tm);
#else
	(void)tm;
#endif
}
