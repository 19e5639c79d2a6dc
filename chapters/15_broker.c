/* SPDX-License-Identifier: MIT */
/*
 * Chapter 15 — broker: the `samsa` program and its subcommands.
 *
 * Concept: one binary, several tools, as Kafka ships kafka-server-start.sh
 *   and kafka-dump-log.sh. This file parses the command line and wires the
 *   earlier chapters together; it teaches no storage or protocol idea.
 * Kafka: `kafka-server-start.sh server.properties [--override k=v]...`
 *   stops cleanly on SIGTERM and recovers its logs after SIGKILL;
 *   `kafka-dump-log.sh --files F` prints each batch of a .log and each
 *   entry of a .index/.timeindex in the words `samsa dump-log` uses.
 * Interface:
 *   - `samsa broker CONFIG [--override key=value]...`: exit 0 after a clean
 *     shutdown, 2 on a bad config or command line, 1 when the broker
 *     cannot start (port in use, log directory locked or another node's).
 *   - `samsa dump-log FILE...`: read-only; exit 0 when every file is valid
 *     to its end, 1 when one stops being valid (where, and why), 2 on usage.
 *   - `samsa -h`, `--help`, `help`: the usage, exit 0.
 * Invariants:
 *   1. dump-log never writes to the files it reads.
 *   2. Every length read from a file is checked against the bytes left.
 *   3. A stop signal only asks the reactor to return (net_stop); logs are
 *      flushed and checkpointed after it returns, by broker_close.
 *   4. SIGPIPE is ignored: a client gone mid-write closes one connection.
 * Simplifications: no controlled shutdown with a controller (chapter 07);
 *   no `format` subcommand yet (the first start formats).
 * See also: docs/15_broker.md, diagrams/15_broker.dot,
 *   tests/15_broker_test.sh, tests/clients/; read before: 15_config.c.
 *   Uses chapters 00 (base), 01 (segment), 02 (index), 05 (server).
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
#include "05_server.h"
#include "15_config.h"

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
static int dump_log_file(const char *path, const struct mapped_file *f);
static int dump_index_file(const char *path, const struct mapped_file *f,
			   enum idx_kind kind);
static int cmd_dump_log(int argc, char **argv);
static int cmd_broker(int argc, char **argv);
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
		    "       samsa dump-log FILE...   print batches of .log files\n"
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
	KB_INFO("samsa started: listening on %s:%d, data in %s "
		"(node.id=%" PRId32 ", cluster.id=%s, advertised as %s:%" PRId32 ")",
		cfg.listener_host[0] ? cfg.listener_host : "0.0.0.0", b.port,
		cfg.topics.log_dir, cfg.topics.node_id, b.cfg.topics.cluster_id,
		b.cfg.topics.advertised_host, b.cfg.topics.advertised_port);
	int rc = net_run(b.srv);
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
	for (int i = 0; i < argc; i++) {
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
			rc = dump_log_file(argv[i], &f);
		unmap_file(&f);
		if (rc != 0)
			status = 1;
	}
	return status;
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
static int dump_log_file(const char *path, const struct mapped_file *f)
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
