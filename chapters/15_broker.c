/* SPDX-License-Identifier: MIT */
/*
 * Chapter 15 — broker: the `samsa` program and its subcommands.
 *
 * Concept: one binary, several tools, as Kafka ships kafka-server-start.sh
 *   and kafka-dump-log.sh. This file parses the command line and wires the
 *   earlier chapters together; it teaches no storage or protocol idea.
 * Kafka: `kafka-server-start.sh server.properties [--override k=v]...`
 *   stops cleanly on SIGTERM and recovers its logs after SIGKILL;
 *   `kafka-storage.sh format|random-uuid` prepares a log directory;
 *   `kafka-dump-log.sh --files F` prints each batch of a .log and each
 *   entry of a .index/.timeindex in the words `samsa dump-log` uses.
 * Interface:
 *   - `samsa broker CONFIG [--override key=value]...`: exit 0 after a clean
 *     shutdown, 2 on a bad config or command line, 1 when the broker
 *     cannot start (port in use, log directory locked or another node's).
 *   - `samsa format -t ID -c CONFIG [--ignore-formatted] [--override k=v]...
 *     [--add-scram 'SCRAM-SHA-512=[name=U,password=P]']...`: writes
 *     meta.properties (and chapter 13's bootstrap.scram); exit 0, 1 refused
 *     (formatted, bad id), 2 usage.
 *   - `samsa random-uuid`: prints a new Kafka UUID (a cluster id).
 *   - `samsa dump-log [--cluster-metadata-decoder] FILE...`: read-only; exit
 *     0 when every file is valid to its end, 1 when one stops being valid
 *     (where, and why), 2 on usage. Records of __cluster_metadata segments
 *     and .checkpoint snapshots are printed as JSON (chapter 07).
 *   - `samsa -h`, `--help`, `help`: the usage, exit 0.
 * Invariants:
 *   1. dump-log never writes to the files it reads.
 *   2. Every length read from a file is checked against the bytes left.
 *   3. A stop signal only asks the reactor to return (net_stop); logs are
 *      flushed and checkpointed after it returns, by broker_close.
 *   4. SIGPIPE is ignored: a client gone mid-write closes one connection.
 * Simplifications: no controlled shutdown with a controller (chapter 07);
 *   a single node formats at its first start; format writes no bootstrap
 *   checkpoint (metadata.version comes with chapter 07's log), only
 *   chapter 13's --add-scram credentials (bootstrap.scram).
 * See also: docs/15_broker.md, diagrams/15_broker.dot,
 *   tests/15_broker_test.sh, tests/clients/; read before: 15_config.c.
 *   Uses chapters 00 (base), 01 (segment), 02 (index), 04 (codec), 05 (server),
 *   07 (quorum), 13 (format --add-scram).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "00_base.h"
#include "01_segment.h"
#include "02_index.h"
#include "04_codec.h"
#include "05_server.h"
#include "07_metadata.h"
#include "13_scram.h"
#include "13_scram_creds.h"
#include "15_meta.h"
#include "15_config.h"

/* make stage-NN compiles with SAMSA_STAGE=NN: dump-log decodes metadata
 * records only when chapter 07 is there. */
#ifndef SAMSA_STAGE
#define SAMSA_STAGE 15
#endif

/* Kafka's names for the codec ids in attributes bits 0-2. */
static const char *const codec_names[8] = {
	"none", "gzip", "snappy", "lz4", "zstd", "unknown(5)", "unknown(6)",
	"unknown(7)"};

/* A whole file mapped read-only, so dump-log can never change it. */
struct mapped_file {
	const uint8_t *data; /* owned: munmap, or NULL when empty */
	size_t len;
};

static int map_file(const char *path, struct mapped_file *out);
static void unmap_file(struct mapped_file *f);
static int dump_log_file(const char *path, const struct mapped_file *f,
			 bool metadata);
static bool is_metadata_file(const char *path);
static void print_metadata_records(const uint8_t *p, size_t len);
static int dump_index_file(const char *path, const struct mapped_file *f,
			   enum idx_kind kind);
static int cmd_dump_log(int argc, char **argv);
static int cmd_broker(int argc, char **argv);
static int cmd_format(int argc, char **argv);
static int cmd_random_uuid(int argc, char **argv);
static int load_config(int argc, char **argv, struct broker_config *cfg,
		       struct broker_error *err);
static void install_signal_handlers(void);
static void raise_fd_limit(void);
static bool is_help(const char *arg);
static void usage(FILE *to);

/* What a stop signal stops. A signal handler can reach nothing but
 * globals, so these are the only globals of the program: the server once
 * it exists, and whether a stop was asked for before it did. */
static struct net_server *volatile stop_target;
static volatile sig_atomic_t stop_requested;

/* ---- main ---- */

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "broker") == 0)
		return cmd_broker(argc - 2, argv + 2);
	if (strcmp(argv[1], "dump-log") == 0)
		return cmd_dump_log(argc - 2, argv + 2);
	if (strcmp(argv[1], "format") == 0)
		return cmd_format(argc - 2, argv + 2);
	if (strcmp(argv[1], "random-uuid") == 0)
		return cmd_random_uuid(argc - 2, argv + 2);
	if (is_help(argv[1])) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "samsa: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}

static bool is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0 ||
	       strcmp(arg, "help") == 0;
}

static void usage(FILE *to)
{
	fprintf(to, "usage: samsa broker CONFIG [--override key=value]...\n"
		    "                                run a broker (CONFIG: server.properties)\n"
		    "       samsa format -t CLUSTER_ID -c CONFIG [--ignore-formatted]\n"
		    "                    [--override key=value]...\n"
		    "                    [--add-scram 'SCRAM-SHA-512=[name=U,password=P]']...\n"
		    "                                write meta.properties into log.dirs\n"
		    "       samsa random-uuid        print a new cluster id\n"
		    "       samsa dump-log [--cluster-metadata-decoder] FILE...\n"
		    "                                print batches of .log files\n"
		    "                                and entries of .index/.timeindex files\n");
}

/* ---- broker ---- */

/* Load, open, serve until a signal, close. KAFKA: kafka-server-start.sh. */
static int cmd_broker(int argc, char **argv)
{
	struct broker_config cfg;
	struct broker_error err;
	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	if (is_help(argv[0])) {
		usage(stdout);
		return 0;
	}
	if (load_config(argc, argv, &cfg, &err) != KB_OK) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	kb_log_set_level(cfg.log_level);
	install_signal_handlers();
	raise_fd_limit();
	struct broker b;
	if (broker_open(&cfg, &b, &err) != KB_OK) {
		KB_ERROR("samsa cannot start: %s", err.msg);
		return 1;
	}
	/* A signal during broker_open found no server: stop it now. In this
	 * order a signal is never missed (net_stop twice is harmless). */
	stop_target = b.srv;
	if (stop_requested)
		net_stop(b.srv);
	if (!b.bnode && b.ctrl)
		KB_INFO("samsa started as a controller only: no client listener, "
			"data in %s (node.id=%" PRId32 ", cluster.id=%s)",
			cfg.topics.log_dir, cfg.topics.node_id,
			b.cfg.topics.cluster_id);
	else
		KB_INFO("samsa started: listening on %s:%d, data in %s "
			"(node.id=%" PRId32 ", cluster.id=%s, advertised as "
			"%s:%" PRId32 ")",
			cfg.listener_host[0] ? cfg.listener_host : "0.0.0.0",
			b.port, cfg.topics.log_dir, cfg.topics.node_id,
			b.cfg.topics.cluster_id, b.cfg.topics.advertised_host,
			b.cfg.topics.advertised_port);
	if (b.controller_port)
		KB_INFO("samsa controller listener %s on port %d (voters %s)",
			cfg.controller_listener, b.controller_port,
			cfg.quorum_voters);
	int rc = net_run(b.srv);
	if (rc == KB_OK)
		broker_cluster_shutdown(&b); /* a second signal cuts it short */
	KB_INFO("samsa stopping: flushing logs and writing checkpoints");
	stop_target = NULL;
	broker_close(&b); /* INVARIANT: 3 */
	KB_INFO("samsa stopped");
	return rc == KB_OK ? 0 : 1;
}

/* The config file, then each --override in order (the last one wins),
 * then the checks that need the whole config. */
static int load_config(int argc, char **argv, struct broker_config *cfg,
		       struct broker_error *err)
{
	broker_config_defaults(cfg);
	int rc = broker_config_load(cfg, argv[0], err);
	for (int i = 1; rc == KB_OK && i < argc; i++) {
		char kv[BROKER_LINE_MAX];
		if (strcmp(argv[i], "--override") != 0 || i + 1 == argc) {
			snprintf(err->msg, sizeof err->msg, "samsa broker: expected "
				 "--override key=value, got '%s'", argv[i]);
			return KB_ERR_INVAL;
		}
		snprintf(kv, sizeof kv, "%s", argv[++i]);
		char *eq = strchr(kv, '=');
		if (!eq) {
			snprintf(err->msg, sizeof err->msg, "samsa broker: "
				 "--override '%.200s' has no '=': write "
				 "--override key=value (e.g. --override %.200s=1)",
				 kv, kv);
			return KB_ERR_INVAL;
		}
		*eq = '\0';
		struct broker_setting s = {kv, eq + 1, "--override"};
		rc = broker_config_set(cfg, &s, err);
	}
	if (rc == KB_OK)
		rc = broker_config_finish(cfg, err);
	return rc;
}

/* ---- format and random-uuid (KAFKA: kafka-storage.sh) ---- */

/* The command line of `samsa format`. */
struct format_args {
	const char *cluster_id;  /* -t, --cluster-id */
	bool ignore_formatted;   /* -g, --ignore-formatted */
	int config_argc;         /* the config path, then --override pairs */
	char **config_argv;      /* owned (the strings are argv's) */
	struct scram_credential *scram; /* owned: -S, --add-scram (chapter 13) */
	int n_scram;
};

/* KAFKA: kafka-storage format --add-scram (-S): a credential for the
 * bootstrap records; chapter 13 derives its keys now, with a new salt. */
static int format_add_scram(struct format_args *a, const char *arg)
{
	char why[512];
	(void)why;
	if (a->n_scram == SCRAM_BOOTSTRAP_MAX) {
		fprintf(stderr, "samsa format: more than %d --add-scram\n",
			SCRAM_BOOTSTRAP_MAX);
		return 2;
	}
	if (!a->scram && !(a->scram = calloc(SCRAM_BOOTSTRAP_MAX, sizeof *a->scram)))
		return 2;
#if SAMSA_STAGE >= 13
	if (scram_creds_parse_arg(arg, &a->scram[a->n_scram], why, sizeof why)) {
		fprintf(stderr, "samsa format: %s\n", why);
		return 2;
	}
#else
	fprintf(stderr, "samsa format: --add-scram needs chapter 13\n");
	return 2;
#endif
	a->n_scram++;
	return 0;
}

/* Split argv into the ids and what load_config reads. 2 on a usage error. */
static int format_parse(int argc, char **argv, struct format_args *a)
{
	const char *config = NULL;
	a->config_argv = calloc((size_t)argc + 2, sizeof *a->config_argv);
	if (!a->config_argv)
		return 1;
	a->config_argc = 1;
	for (int i = 0; i < argc; i++) {
		const char *o = argv[i];
		bool has_value = i + 1 < argc;
		if (strcmp(o, "-g") == 0 || strcmp(o, "--ignore-formatted") == 0)
			a->ignore_formatted = true;
		else if (has_value && (!strcmp(o, "-t") || !strcmp(o, "--cluster-id")))
			a->cluster_id = argv[++i];
		else if (has_value && (!strcmp(o, "-c") || !strcmp(o, "--config")))
			config = argv[++i];
		else if (has_value && (!strcmp(o, "-S") || !strcmp(o, "--add-scram"))) {
			if (format_add_scram(a, argv[++i]) != 0)
				return 2;
		} else if (has_value && strcmp(o, "--override") == 0) {
			a->config_argv[a->config_argc++] = argv[i];
			a->config_argv[a->config_argc++] = argv[++i];
		} else {
			fprintf(stderr, "samsa format: unexpected '%s'\n", o);
			return 2;
		}
	}
	a->config_argv[0] = (char *)config;
	if (config && a->cluster_id)
		return 0;
	fprintf(stderr, "samsa format: both -t CLUSTER_ID and -c CONFIG are "
			"needed (a new id: samsa random-uuid)\n");
	return 2;
}

/* KAFKA: kafka-storage.sh format -t ID -c server.properties: write
 * meta.properties into the log directory, once. Exit 0 when formatted
 * (or already formatted with --ignore-formatted), 1 when refused, 2 on a
 * bad command line or config. */
static int cmd_format(int argc, char **argv)
{
	struct format_args a = {0};
	struct broker_config cfg;
	struct broker_error err;
	if (argc > 0 && is_help(argv[0])) {
		usage(stdout);
		return 0;
	}
	int status = format_parse(argc, argv, &a);
	if (status == 0 && load_config(a.config_argc, a.config_argv, &cfg,
				       &err) != KB_OK) {
		fprintf(stderr, "%s\n", err.msg);
		status = 2;
	}
	free(a.config_argv);
	if (status == 0 && a.n_scram > 0 && cfg.n_voters == 0) {
		fprintf(stderr, "samsa format: --add-scram needs a KRaft node "
			"(controller.quorum.voters): SCRAM credentials live in "
			"the metadata log\n");
		status = 2;
	}
	if (status != 0) {
		free(a.scram);
		usage(stderr);
		return status;
	}
	struct broker_meta m = {.node_id = cfg.topics.node_id};
	snprintf(m.cluster_id, sizeof m.cluster_id, "%s", a.cluster_id);
	int rc = broker_meta_format(cfg.topics.log_dir, &m, &err);
	if (rc == KB_ERR_EXISTS && a.ignore_formatted) {
		free(a.scram);
		printf("All of the log directories are already formatted.\n");
		return 0;
	}
#if SAMSA_STAGE >= 13
	if (rc == KB_OK && a.n_scram > 0 &&
	    (rc = scram_creds_bootstrap_write(cfg.topics.log_dir, a.scram,
					      a.n_scram)) != KB_OK)
		snprintf(err.msg, sizeof err.msg, "cannot write %.300s/%s: %s",
			 cfg.topics.log_dir, SCRAM_BOOTSTRAP_FILE, kb_status_name(rc));
#endif
	free(a.scram);
	if (rc != KB_OK) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	printf("Formatting %s with cluster.id %s, node.id %" PRId32
	       ", directory.id %s.\n", cfg.topics.log_dir, m.cluster_id,
	       m.node_id, m.directory_id);
	return 0;
}

/* KAFKA: kafka-storage.sh random-uuid. */
static int cmd_random_uuid(int argc, char **argv)
{
	char id[TOPIC_ID_STRING_LEN + 1];
	if (argc > 0) {
		usage(is_help(argv[0]) ? stdout : stderr);
		return is_help(argv[0]) ? 0 : 2;
	}
	if (broker_uuid_random(id) != KB_OK) {
		fprintf(stderr, "samsa random-uuid: getrandom failed: %s\n",
			strerror(errno));
		return 1;
	}
	printf("%s\n", id);
	return 0;
}

/* SIGTERM (kill, systemd, docker stop) and SIGINT (Ctrl-C) stop the
 * reactor. INVARIANT: 3, 4. */
static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
	if (stop_target)
		net_stop(stop_target);
}

/* Installed before the broker opens, so that a stop asked for during
 * startup is a clean stop too, never a kill half-way through recovery. */
static void install_signal_handlers(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

/* KAFKA: every partition keeps three files open (.log, .index,
 * .timeindex) and every connection one socket, so the usual soft limit of
 * 1,024 runs out near 340 partitions. Like Kafka's startup scripts advise
 * (ulimit -n 100000), take what the hard limit allows, and say what. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	rlim_t was = rl.rlim_cur;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = was;
	}
	unsigned long long n = (unsigned long long)rl.rlim_cur;
	KB_INFO("open files: soft limit %llu (was %llu, hard limit %llu): room "
		"for about %llu partitions at 3 files each, or as many "
		"connections", n, (unsigned long long)was,
		(unsigned long long)rl.rlim_max, n / 3);
}

/* ---- dump-log ---- */

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Dump each file; the exit status is the worst of them. */
static int cmd_dump_log(int argc, char **argv)
{
	if (argc == 0) {
		usage(stderr);
		return 2;
	}
	int status = 0;
	bool decoder = false; /* KAFKA: --cluster-metadata-decoder */
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--cluster-metadata-decoder") == 0) {
			decoder = true;
			continue;
		}
		struct mapped_file f;
		printf("Dumping %s\n", argv[i]);
		if (map_file(argv[i], &f) != KB_OK) {
			printf("cannot read %s: %s\n", argv[i], strerror(errno));
			status = 1;
			continue;
		}
		int rc;
		if (ends_with(argv[i], ".index"))
			rc = dump_index_file(argv[i], &f, IDX_OFFSET);
		else if (ends_with(argv[i], ".timeindex"))
			rc = dump_index_file(argv[i], &f, IDX_TIME);
		else
			rc = dump_log_file(argv[i], &f,
					   decoder || is_metadata_file(argv[i]));
		unmap_file(&f);
		if (rc != 0)
			status = 1;
	}
	return status;
}

/* A segment of __cluster_metadata-0 or a KRaft snapshot (.checkpoint):
 * its records are metadata records, printed as JSON. */
static bool is_metadata_file(const char *path)
{
	return strstr(path, "__cluster_metadata-") != NULL ||
	       ends_with(path, ".checkpoint");
}

/* Print each record of a valid, uncompressed metadata batch as
 * kafka-dump-log --cluster-metadata-decoder does: one line per record,
 * its value decoded (chapter 07); control records (LeaderChange, the
 * snapshot header and footer) by offset only. */
static void print_metadata_records(const uint8_t *p, size_t len)
{
#if SAMSA_STAGE >= 7
	struct wire_records it;
	struct wire_record rec;
	if (wire_records_init(&it, p, len) != KB_OK)
		return; /* compressed: Kafka's metadata log never is */
	bool control = it.batch.attributes & SEG_ATTR_CONTROL;
	while (wire_records_next(&it, &rec) == KB_OK) {
		int32_t seq = it.batch.base_sequence < 0 ? -1
			    : it.batch.base_sequence + rec.offset_delta;
		printf("| offset: %" PRId64 " CreateTime: %" PRId64
		       " keySize: %d valueSize: %d sequence: %" PRId32
		       " headerKeys: [%s] ", rec.offset, rec.timestamp,
		       (int)rec.key.len, (int)rec.value.len, seq,
		       rec.headers_count ? "..." : "");
		struct meta_record m;
		struct kb_buf out;
		kb_buf_init(&out);
		if (control) {
			printf("control record\n");
		} else if (rec.value.len >= 0 &&
			   meta_record_decode(rec.value.p, (size_t)rec.value.len,
					      &m) == KB_OK) {
			if (meta_record_format(&m, &out) == KB_OK)
				printf("payload: %.*s\n", (int)out.len,
				       (const char *)out.data);
			meta_record_fini(&m);
		} else {
			printf("Error at offset %" PRId64 ", skipping.\n",
			       rec.offset);
		}
		kb_buf_fini(&out);
	}
#else
	(void)p;
	(void)len;
#endif
}

/* The base offset a segment or index file is named for, or 0. */
static int64_t base_offset_of(const char *path, const char *suffix)
{
	const char *slash = strrchr(path, '/');
	int64_t base = 0;
	if (seg_parse_file_name(slash ? slash + 1 : path, suffix, &base) != KB_OK)
		return 0;
	return base;
}

/* Print one batch the way kafka-dump-log.sh does. */
static void print_batch(const struct seg_batch *b, uint64_t pos, bool valid)
{
	int32_t last_seq = b->base_sequence < 0 ? -1
			 : b->base_sequence + b->last_offset_delta;
	printf("baseOffset: %" PRId64 " lastOffset: %" PRId64 " count: %" PRId32
	       " baseSequence: %" PRId32 " lastSequence: %" PRId32
	       " producerId: %" PRId64 " producerEpoch: %d"
	       " partitionLeaderEpoch: %" PRId32 " isTransactional: %s"
	       " isControl: %s position: %" PRIu64 " %s: %" PRId64
	       " size: %" PRIu64 " magic: %d compresscodec: %s crc: %" PRIu32
	       " isvalid: %s\n",
	       b->base_offset, seg_batch_last_offset(b), b->records_count,
	       b->base_sequence, last_seq, b->producer_id, b->producer_epoch,
	       b->partition_leader_epoch,
	       b->attributes & SEG_ATTR_TRANSACTIONAL ? "true" : "false",
	       b->attributes & SEG_ATTR_CONTROL ? "true" : "false", pos,
	       b->attributes & SEG_ATTR_LOG_APPEND_TIME ? "LogAppendTime"
							: "CreateTime",
	       b->max_timestamp, seg_batch_size(b), b->magic,
	       codec_names[b->attributes & SEG_ATTR_COMPRESSION_MASK], b->crc,
	       valid ? "true" : "false");
}

/* Walk the batches of a .log file; stop at the first byte that is not part
 * of a whole, valid batch and say where and why. INVARIANT: 2. */
static int dump_log_file(const char *path, const struct mapped_file *f,
			 bool metadata)
{
	printf("Log starting offset: %" PRId64 "\n", base_offset_of(path, ".log"));
	uint64_t pos = 0;
	while (pos < f->len) {
		const uint8_t *p = f->data + pos;
		size_t left = f->len - pos;
		struct seg_batch b;
		const char *why = "partial batch header";
		if (left >= SEG_BATCH_HEADER_LEN &&
		    seg_batch_decode(p, left, &b) == KB_OK) {
			why = "batch runs past the end of the file";
			if (seg_batch_size(&b) <= left) {
				int rc = seg_batch_validate(p, seg_batch_size(&b),
							    &b, &why);
				print_batch(&b, pos, rc == KB_OK);
				if (rc == KB_OK && metadata)
					print_metadata_records(p,
							       seg_batch_size(&b));
				if (rc == KB_OK) {
					pos += seg_batch_size(&b);
					continue;
				}
			}
		} else if (left >= SEG_BATCH_HEADER_LEN) {
			why = "bad batch header (magic or batchLength)";
		}
		printf("Found %zu invalid bytes at position %" PRIu64
		       ": %s. The file stops being valid at byte %" PRIu64 ".\n",
		       left, pos, why, pos);
		return 1;
	}
	return 0;
}

/* True when bytes [from, to) of f are all zero. */
static bool all_zero(const struct mapped_file *f, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (f->data[i] != 0)
			return false;
	return true;
}

/* KAFKA: the active segment's index is preallocated to
 * log.index.size.max.bytes of zeros and trimmed when the segment rolls or
 * the broker stops. So the entries end at the first empty (zero) slot
 * when only zeros follow it; entry 0 may be a real (0, 0) entry unless the
 * whole file is zeros. */
static bool preallocated_from(const struct mapped_file *f, size_t at,
			      size_t esz)
{
	return all_zero(f, at, f->len) && (at > 0 || f->len >= esz);
}

/* Print the entries of an offset or time index and check their order. */
static int dump_index_file(const char *path, const struct mapped_file *f,
			   enum idx_kind kind)
{
	size_t esz = kind == IDX_OFFSET ? IDX_OFFSET_ENTRY_SIZE : IDX_TIME_ENTRY_SIZE;
	int64_t base = base_offset_of(path, kind == IDX_OFFSET ? ".index"
							       : ".timeindex");
	int64_t last_key = INT64_MIN;
	for (size_t i = 0; i + esz <= f->len; i += esz) {
		const uint8_t *e = f->data + i;
		if (preallocated_from(f, i, esz)) {
			printf("%zu entries, then %zu empty preallocated slots "
			       "(an active segment's index; trimmed when the "
			       "segment rolls or the broker stops).\n", i / esz,
			       (f->len - i) / esz);
			return 0;
		}
		int64_t offset, key;
		if (kind == IDX_OFFSET) {
			offset = base + (int32_t)kb_get_be32(e);
			key = offset;
			printf("offset: %" PRId64 " position: %" PRIu32 "\n", offset,
			       kb_get_be32(e + 4));
		} else {
			key = (int64_t)kb_get_be64(e);
			offset = base + (int32_t)kb_get_be32(e + 8);
			printf("timestamp: %" PRId64 " offset: %" PRId64 "\n", key,
			       offset);
		}
		if (key <= last_key || offset < base) {
			printf("Entry %zu is out of order (or before the base offset "
			       "%" PRId64 "). The file stops being valid at byte %zu.\n",
			       i / esz, base, i);
			return 1;
		}
		last_key = key;
	}
	if (f->len % esz != 0) {
		printf("File length %zu is not a multiple of the %zu-byte entry. "
		       "The file stops being valid at byte %zu.\n",
		       f->len, esz, f->len - f->len % esz);
		return 1;
	}
	return 0;
}

/* ---- small helpers ---- */

static int map_file(const char *path, struct mapped_file *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return KB_ERR_IO;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return KB_ERR_IO;
	}
	out->len = (size_t)st.st_size;
	out->data = NULL;
	if (out->len > 0) {
		void *m = mmap(NULL, out->len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED) {
			close(fd);
			return KB_ERR_IO;
		}
		out->data = m;
	}
	close(fd);
	return KB_OK;
}

static void unmap_file(struct mapped_file *f)
{
	if (f->data)
		munmap((void *)f->data, f->len);
	f->data = NULL;
}
