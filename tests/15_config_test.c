/* SPDX-License-Identifier: MIT */
/*
 * Tests for chapter 15's configuration (15_config.c): the key table, Java
 * properties syntax, precedence, errors that name file, line and key,
 * meta.properties, and broker_open/broker_close. One test per Interface
 * rule and per invariant of the chapter header; each in its own temp dir.
 */
#include <fcntl.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>

#include "testutil.h"

#include "15_config.h"

/* ---- Helpers ---- */

/* One struct broker_setting, spelled at a call site (block lifetime). */
#define SETTING(key, value, where) \
	(&(struct broker_setting){(key), (value), (where)})

/* Write text to dir/name and return the path (static buffer). */
static const char *write_props(const char *dir, const char *name,
			       const char *text)
{
	static char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	tu_write_all(path, text, strlen(text));
	return path;
}

/* The whole of a small text file, NUL-terminated (free()). */
static char *read_text(const char *path)
{
	char *text = NULL;
	assert_int_equal(kb_read_file(path, &text, NULL, 65536), KB_OK);
	return text;
}

/* A config with the keys broker_config_finish needs, loaded from text. */
static int load_text(const char *dir, const char *text,
		     struct broker_config *cfg, struct broker_error *err)
{
	broker_config_defaults(cfg);
	return broker_config_load(cfg, write_props(dir, "server.properties", text),
				  err);
}

/* ---- Defaults ---- */

static void test_broker_config_defaults_are_kafkas(void **state)
{
	(void)state;
	struct broker_config cfg;
	broker_config_defaults(&cfg);
	assert_int_equal(cfg.topics.num_partitions, 1);
	assert_int_equal(cfg.topics.default_replication_factor, 1);
	assert_true(cfg.topics.auto_create_topics);
	assert_int_equal(cfg.topics.message_max_bytes, 1048588);
	assert_int_equal(cfg.topics.log_defaults.segment_bytes, 1073741824LL);
	assert_int_equal(cfg.listener_port, 9092);
	assert_string_equal(cfg.listener_host, "");
	assert_int_equal(cfg.net.request_max_bytes, 104857600);
	assert_int_equal(cfg.log_level, KB_LOG_INFO);
}

/* ---- Loading a file ---- */

static void test_broker_config_load_reads_java_properties_syntax(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct broker_config cfg;
	struct broker_error err;
	int rc = load_text(dir,
			   "# a comment\n"
			   "! another comment\n"
			   "\n"
			   "   node.id = 3\r\n"
			   "num.partitions: 4\n"
			   "log.dirs /var/samsa\n"
			   "listeners=PLAINTEXT://127.0.0.1:\\\n"
			   "    9093\n"
			   "broker.rack=az-1   \n",
			   &cfg, &err);
	assert_int_equal(rc, KB_OK);
	assert_int_equal(cfg.topics.node_id, 3);
	assert_int_equal(cfg.topics.num_partitions, 4);
	assert_string_equal(cfg.topics.log_dir, "/var/samsa");
	assert_string_equal(cfg.listener_host, "127.0.0.1");
	assert_int_equal(cfg.listener_port, 9093);
	assert_string_equal(cfg.topics.rack, "az-1");
	tu_rmrf(dir);
}

static void test_broker_config_load_missing_file_is_io(void **state)
{
	(void)state;
	struct broker_config cfg;
	struct broker_error err;
	broker_config_defaults(&cfg);
	assert_int_equal(broker_config_load(&cfg, "/nonexistent/x.properties",
					    &err), KB_ERR_IO);
	assert_non_null(strstr(err.msg, "/nonexistent/x.properties"));
}

/* INVARIANT 1 and 3: an unknown key stops the load and is named with its
 * file and line. */
static void test_broker_config_unknown_key_names_file_line_key(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct broker_config cfg;
	struct broker_error err;
	char want[4300];
	int rc = load_text(dir, "node.id=1\n\n# x\nlog.segmnet.bytes=1024\n",
			   &cfg, &err);
	assert_int_equal(rc, KB_ERR_INVAL);
	snprintf(want, sizeof want,
		 "%s/server.properties:4: unknown key 'log.segmnet.bytes'", dir);
	assert_string_equal(err.msg, want);
	tu_rmrf(dir);
}

/* INVARIANT 3: the line of a continued line is the one it starts on. */
static void test_broker_config_error_line_of_continued_line(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct broker_config cfg;
	struct broker_error err;
	assert_int_equal(load_text(dir, "node.id=\\\n 1\nnum.partitions=\\\n x\n",
				   &cfg, &err), KB_ERR_INVAL);
	assert_non_null(strstr(err.msg, "server.properties:3: num.partitions: "
					"'x' is not a whole number"));
	tu_rmrf(dir);
}

/* ---- Setting one key ---- */

/* INVARIANT 2: a bad value is refused and nothing is stored. */
static void test_broker_config_bad_value_leaves_config_unchanged(void **state)
{
	(void)state;
	struct broker_config cfg, before;
	struct broker_error err;
	broker_config_defaults(&cfg);
	before = cfg;
	const char *bad[][2] = {
		{"num.partitions", "0"},        {"num.partitions", "12abc"},
		{"num.partitions", "99999999999"}, {"log.retention.ms", "-2"},
		{"default.replication.factor", "32768"},
		{"auto.create.topics.enable", "yes"},
		{"connection.failed.authentication.delay.ms", "-1"}, {"listeners", "PLAINTEXT://h:70000"},
		{"ssl.client.auth", "maybe"},    {"listener.name.ssl.ssl.keystore.type", "JKS"},
		{"log.dirs", "/a,/b"},           {"process.roles", "controller,observer"},
		{"log.level", "verbose"},        {"advertised.listeners", "PLAINTEXT://0.0.0.0:9092"},
		{"leader.imbalance.check.interval.seconds", "0"},
		{"unclean.leader.election.enable", "1"},
	};
	for (size_t i = 0; i < KB_ARRAY_LEN(bad); i++) {
		int rc = broker_config_set(&cfg, SETTING(bad[i][0], bad[i][1], "test"), &err);
		assert_int_equal(rc, KB_ERR_INVAL);
		assert_non_null(strstr(err.msg, bad[i][0]));
		assert_memory_equal(&cfg, &before, sizeof cfg);
	}
}

static void test_broker_config_set_stores_at_the_right_width(void **state)
{
	(void)state;
	struct broker_config cfg;
	struct broker_error err;
	broker_config_defaults(&cfg);
	assert_int_equal(broker_config_set(&cfg, SETTING("default.replication.factor", "3", "t"), &err),
			 KB_OK);
	assert_int_equal(broker_config_set(&cfg, SETTING("log.retention.bytes", "5000000000", "t"), &err),
			 KB_OK);
	assert_int_equal(broker_config_set(&cfg, SETTING("max.connections", "7", "t"), &err),
			 KB_OK);
	assert_int_equal(broker_config_set(&cfg, SETTING("auto.create.topics.enable", "FALSE", "t"), &err),
			 KB_OK);
	assert_int_equal(cfg.topics.default_replication_factor, 3);
	assert_int_equal(cfg.topics.log_defaults.retention_bytes, 5000000000LL);
	assert_int_equal(cfg.net.max_connections, 7);
	assert_false(cfg.topics.auto_create_topics);
	/* The controller's leader settings: Kafka's defaults, then set. */
	assert_false(cfg.kraft.unclean_leader_election_enable);
	assert_true(cfg.kraft.auto_leader_rebalance_enable);
	assert_int_equal(cfg.kraft.leader_imbalance_check_interval_s, 300);
	assert_int_equal(broker_config_set(&cfg, SETTING("unclean.leader.election.enable", "true", "t"), &err),
			 KB_OK);
	assert_int_equal(broker_config_set(&cfg, SETTING("auto.leader.rebalance.enable", "false", "t"), &err),
			 KB_OK);
	assert_int_equal(broker_config_set(&cfg, SETTING("leader.imbalance.check.interval.seconds", "5000000000", "t"), &err),
			 KB_OK);
	assert_int_equal(broker_config_set(&cfg, SETTING("leader.imbalance.per.broker.percentage", "10", "t"), &err),
			 KB_OK);
	assert_true(cfg.kraft.unclean_leader_election_enable);
	assert_false(cfg.kraft.auto_leader_rebalance_enable);
	assert_int_equal(cfg.kraft.leader_imbalance_check_interval_s, 5000000000LL);
}

/* Overrides go through the same table, and the last set wins. */
static void test_broker_config_override_uses_the_table_last_wins(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct broker_config cfg;
	struct broker_error err;
	assert_int_equal(load_text(dir, "num.partitions=2\n", &cfg, &err), KB_OK);
	assert_int_equal(broker_config_set(&cfg, SETTING("num.partitions", "5", "--override"), &err),
			 KB_OK);
	assert_int_equal(cfg.topics.num_partitions, 5);
	assert_int_equal(broker_config_set(&cfg, SETTING("num.partitons", "5", "--override"), &err),
			 KB_ERR_INVAL);
	assert_string_equal(err.msg, "--override: unknown key 'num.partitons'");
	tu_rmrf(dir);
}

/* Kafka's own keys that samsa has no use for still load. */
static void test_broker_config_accepts_kafkas_stock_keys(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct broker_config cfg;
	struct broker_error err;
	assert_int_equal(load_text(dir,
				   "num.network.threads=3\nnum.io.threads=8\n"
				   "controller.listener.names=CONTROLLER\n"
				   "controller.quorum.voters=1@localhost:9093\n"
				   "offsets.topic.replication.factor=1\n",
				   &cfg, &err), KB_OK);
	assert_string_equal(cfg.quorum_voters, "1@localhost:9093");
	assert_int_equal(broker_config_set(&cfg, SETTING("num.io.threads", "0", "t"), &err),
			 KB_ERR_INVAL);
	tu_rmrf(dir);
}

static void test_broker_config_log_dirs_beats_log_dir(void **state)
{
	(void)state;
	struct broker_config cfg;
	struct broker_error err;
	broker_config_defaults(&cfg);
	broker_config_set(&cfg, SETTING("log.dirs", "/plural", "t"), &err);
	broker_config_set(&cfg, SETTING("log.dir", "/singular", "t"), &err);
	assert_string_equal(cfg.topics.log_dir, "/plural");
	broker_config_defaults(&cfg);
	broker_config_set(&cfg, SETTING("log.dir", "/singular", "t"), &err);
	assert_string_equal(cfg.topics.log_dir, "/singular");
}

static void test_broker_config_listener_forms(void **state)
{
	(void)state;
	struct broker_config cfg;
	struct broker_error err;
	broker_config_defaults(&cfg);
	assert_int_equal(broker_config_set(&cfg, SETTING("listeners", "PLAINTEXT://[::1]:0", "t"), &err),
			 KB_OK);
	assert_string_equal(cfg.listener_host, "::1");
	assert_int_equal(cfg.listener_port, 0);
	assert_int_equal(broker_config_set(&cfg, SETTING("listeners", "PLAINTEXT://:9092", "t"), &err),
			 KB_OK);
	assert_string_equal(cfg.listener_host, "");
	assert_int_equal(broker_config_set(&cfg,
					   SETTING("listeners",
						   "PLAINTEXT://a:1,plaintext://b:2",
						   "t"),
					   &err),
			 KB_ERR_INVAL);
	assert_non_null(strstr(err.msg, "PLAINTEXT is used twice"));
}

/* ---- Finishing ---- */

static void test_broker_config_finish_requires_node_id(void **state)
{
	(void)state;
	struct broker_config cfg;
	struct broker_error err;
	broker_config_defaults(&cfg);
	assert_int_equal(broker_config_finish(&cfg, &err), KB_ERR_INVAL);
	assert_non_null(strstr(err.msg, "node.id"));
}

/* KAFKA: log.retention.ms beats .minutes beats .hours; negative = forever. */
static void test_broker_config_finish_retention_precedence(void **state)
{
	(void)state;
	struct broker_config cfg;
	struct broker_error err;
	broker_config_defaults(&cfg);
	broker_config_set(&cfg, SETTING("node.id", "1", "t"), &err);
	assert_int_equal(broker_config_finish(&cfg, &err), KB_OK);
	assert_int_equal(cfg.topics.log_defaults.retention_ms, 168LL * 3600 * 1000);
	broker_config_set(&cfg, SETTING("log.retention.hours", "1", "t"), &err);
	broker_config_set(&cfg, SETTING("log.retention.minutes", "2", "t"), &err);
	broker_config_finish(&cfg, &err);
	assert_int_equal(cfg.topics.log_defaults.retention_ms, 2 * 60 * 1000);
	broker_config_set(&cfg, SETTING("log.retention.ms", "-1", "t"), &err);
	broker_config_finish(&cfg, &err);
	assert_int_equal(cfg.topics.log_defaults.retention_ms, -1);
	broker_config_set(&cfg, SETTING("log.roll.hours", "2", "t"), &err);
	broker_config_finish(&cfg, &err);
	assert_int_equal(cfg.topics.log_defaults.segment_ms, 2 * 3600 * 1000);
	broker_config_set(&cfg, SETTING("log.roll.ms", "500", "t"), &err);
	broker_config_finish(&cfg, &err);
	assert_int_equal(cfg.topics.log_defaults.segment_ms, 500);
}

static void test_broker_config_finish_advertises_the_listener(void **state)
{
	(void)state;
	struct broker_config cfg;
	struct broker_error err;
	broker_config_defaults(&cfg);
	broker_config_set(&cfg, SETTING("node.id", "1", "t"), &err);
	broker_config_set(&cfg, SETTING("listeners", "PLAINTEXT://127.0.0.2:9999", "t"), &err);
	assert_int_equal(broker_config_finish(&cfg, &err), KB_OK);
	assert_string_equal(cfg.topics.advertised_host, "127.0.0.2");
	assert_int_equal(cfg.topics.advertised_port, 9999);
	broker_config_set(&cfg, SETTING("advertised.listeners", "PLAINTEXT://kafka.example:19092", "t"), &err);
	assert_int_equal(broker_config_finish(&cfg, &err), KB_OK);
	assert_string_equal(cfg.topics.advertised_host, "kafka.example");
	assert_int_equal(cfg.topics.advertised_port, 19092);
}

/* ---- meta.properties ---- */

static void test_broker_meta_writes_kraft_format(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct broker_error err;
	char id[TOPIC_CLUSTER_ID_MAX], path[4200];
	assert_int_equal(broker_meta_load_or_create(dir, 5, id, &err), KB_OK);
	assert_int_equal(strlen(id), 22);
	assert_int_equal(strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				    "0123456789-_"), 22);
	assert_true(id[0] != '-');
	snprintf(path, sizeof path, "%s/meta.properties", dir);
	char *text = read_text(path);
	char want[128];
	snprintf(want, sizeof want, "\ncluster.id=%s\ndirectory.id=", id);
	assert_non_null(strstr(text, want));
	assert_non_null(strstr(text, "\nnode.id=5\nversion=1\n"));
	free(text);
	tu_rmrf(dir);
}

/* ---- samsa format (KAFKA: kafka-storage) ---- */

/* A Kafka Uuid: 22 base64url characters, never a leading '-', never the
 * same twice, and parseable back into 16 bytes. */
static void test_broker_uuid_random_is_a_kafka_uuid(void **state)
{
	(void)state;
	char seen[64][TOPIC_ID_STRING_LEN + 1];
	for (int i = 0; i < 64; i++) {
		struct wire_uuid u;
		assert_int_equal(broker_uuid_random(seen[i]), KB_OK);
		assert_int_equal(strlen(seen[i]), 22);
		assert_true(seen[i][0] != '-');
		assert_int_equal(topic_id_parse(seen[i], &u), KB_OK);
		assert_int_equal(u.b[6] >> 4, 4); /* version 4 */
		for (int j = 0; j < i; j++)
			assert_string_not_equal(seen[i], seen[j]);
	}
}

/* broker_meta_format writes exactly Kafka's file: the Properties.store
 * header, then cluster.id, directory.id, node.id, version. */
static void test_broker_meta_format_writes_the_exact_file(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct broker_error err;
	struct broker_meta m = {.node_id = 2};
	char data[4200], path[4300], want[256];
	snprintf(data, sizeof data, "%s/new/dir", dir); /* created */
	snprintf(m.cluster_id, sizeof m.cluster_id, "MkU3OEVBNTcwNTJENDM2Qg");
	assert_int_equal(broker_meta_format(data, &m, &err), KB_OK);
	assert_int_equal(strlen(m.directory_id), 22);
	snprintf(path, sizeof path, "%s/meta.properties", data);
	char *text = read_text(path);
	char *body = strchr(text + 2, '\n'); /* after "#\n#<date>" */
	assert_memory_equal(text, "#\n#", 3);
	assert_non_null(body);
	snprintf(want, sizeof want, "\ncluster.id=MkU3OEVBNTcwNTJENDM2Qg\n"
		 "directory.id=%s\nnode.id=2\nversion=1\n", m.directory_id);
	assert_string_equal(body, want);
	free(text);
	snprintf(path, sizeof path, "%s/meta.properties.tmp", data);
	assert_true(tu_file_size(path) < 0); /* renamed into place */
	tu_rmrf(dir);
}

/* A formatted directory is refused in Kafka's words and left as it was. */
static void test_broker_meta_format_refuses_a_formatted_dir(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct broker_error err;
	struct broker_meta m = {.node_id = 1}, again;
	assert_int_equal(broker_uuid_random(m.cluster_id), KB_OK);
	again = m;
	assert_int_equal(broker_meta_format(dir, &m, &err), KB_OK);
	assert_int_equal(broker_meta_format(dir, &again, &err), KB_ERR_EXISTS);
	assert_non_null(strstr(err.msg, "is already formatted. Use "
				"--ignore-formatted to ignore this directory"));
	struct broker_meta read = {.node_id = 1};
	assert_int_equal(broker_meta_load(dir, &read, &err), KB_OK);
	assert_string_equal(read.directory_id, m.directory_id);
	tu_rmrf(dir);
}

/* A cluster id that is not 16 bytes of base64url, or a node.id not set,
 * writes nothing. */
static void test_broker_meta_format_checks_the_ids(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "short", "MkU3OEVBNTcwNTJENDM2Qg==", "MkU3OEVBNTcwNTJENDM2Q!",
		"MkU3OEVBNTcwNTJENDM2Q=", "MkU3OEVBNTcwNTJENDM2QgX"};
	char *dir = tu_tmpdir();
	struct broker_error err;
	char path[4200];
	snprintf(path, sizeof path, "%s/meta.properties", dir);
	for (size_t i = 0; i < KB_ARRAY_LEN(bad); i++) {
		struct broker_meta m = {.node_id = 1};
		snprintf(m.cluster_id, sizeof m.cluster_id, "%s", bad[i]);
		assert_int_equal(broker_meta_format(dir, &m, &err), KB_ERR_INVAL);
		assert_non_null(strstr(err.msg, "does not appear to be a valid UUID"));
	}
	struct broker_meta m = {.node_id = -1};
	assert_int_equal(broker_uuid_random(m.cluster_id), KB_OK);
	assert_int_equal(broker_meta_format(dir, &m, &err), KB_ERR_INVAL);
	assert_non_null(strstr(err.msg, "node.id must be set"));
	assert_true(tu_file_size(path) < 0);
	tu_rmrf(dir);
}

/* KAFKA: Java's base64 decoder ignores the spare bits of the last
 * character, so Kafka takes the id of its docker docs; kept as given. */
static void test_broker_meta_format_takes_kafkas_example_id(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct broker_error err;
	struct broker_meta m = {.node_id = 1}, read = {.node_id = 1};
	snprintf(m.cluster_id, sizeof m.cluster_id, "MkU3OEVBNTcwNTJENDM2Qk");
	assert_int_equal(broker_meta_format(dir, &m, &err), KB_OK);
	memcpy(read.cluster_id, m.cluster_id, sizeof read.cluster_id);
	assert_int_equal(broker_meta_load(dir, &read, &err), KB_OK);
	assert_string_equal(read.cluster_id, "MkU3OEVBNTcwNTJENDM2Qk");
	tu_rmrf(dir);
}

/* An unformatted directory is KB_ERR_NOTFOUND, in Kafka's words. */
static void test_broker_meta_load_refuses_an_unformatted_dir(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct broker_error err;
	struct broker_meta m = {.node_id = 1};
	assert_int_equal(broker_meta_load(dir, &m, &err), KB_ERR_NOTFOUND);
	assert_non_null(strstr(err.msg, "No meta.properties found in"));
	assert_non_null(strstr(err.msg, "have you run samsa format"));
	tu_rmrf(dir);
}

/* INVARIANT 4: a cluster.id other than the one given is refused. */
static void test_broker_meta_load_refuses_another_cluster(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct broker_error err;
	struct broker_meta m = {.node_id = 1}, other = {.node_id = 1};
	assert_int_equal(broker_uuid_random(m.cluster_id), KB_OK);
	assert_int_equal(broker_meta_format(dir, &m, &err), KB_OK);
	assert_int_equal(broker_uuid_random(other.cluster_id), KB_OK);
	assert_int_equal(broker_meta_load(dir, &other, &err), KB_ERR_INVAL);
	assert_non_null(strstr(err.msg, "Invalid cluster.id in"));
	assert_non_null(strstr(err.msg, m.cluster_id));
	struct broker_meta same = {.node_id = 1};
	memcpy(same.cluster_id, m.cluster_id, sizeof same.cluster_id);
	assert_int_equal(broker_meta_load(dir, &same, &err), KB_OK);
	assert_string_equal(same.directory_id, m.directory_id);
	tu_rmrf(dir);
}

/* KAFKA: a meta.properties from before KIP-858 gets a directory.id, kept
 * from then on; the rest of the file is unchanged. */
static void test_broker_meta_load_adds_a_directory_id(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct broker_error err;
	write_props(dir, "meta.properties", "#\nversion=1\nnode.id=7\n"
		    "cluster.id=MkU3OEVBNTcwNTJENDM2Qg\n");
	struct broker_meta m = {.node_id = 7}, again = {.node_id = 7};
	assert_int_equal(broker_meta_load(dir, &m, &err), KB_OK);
	assert_int_equal(strlen(m.directory_id), 22);
	assert_string_equal(m.cluster_id, "MkU3OEVBNTcwNTJENDM2Qg");
	assert_int_equal(broker_meta_load(dir, &again, &err), KB_OK);
	assert_string_equal(again.directory_id, m.directory_id);
	write_props(dir, "meta.properties", "version=1\nnode.id=7\n"
		    "cluster.id=MkU3OEVBNTcwNTJENDM2Qg\ndirectory.id=nope\n");
	assert_int_equal(broker_meta_load(dir, &m, &err), KB_ERR_INVAL);
	tu_rmrf(dir);
}

/* INVARIANT 4: the cluster id, once written, is read back unchanged. */
static void test_broker_meta_keeps_cluster_id(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct broker_error err;
	char first[TOPIC_CLUSTER_ID_MAX], again[TOPIC_CLUSTER_ID_MAX];
	assert_int_equal(broker_meta_load_or_create(dir, 1, first, &err), KB_OK);
	assert_int_equal(broker_meta_load_or_create(dir, 1, again, &err), KB_OK);
	assert_string_equal(first, again);
	tu_rmrf(dir);
}

/* INVARIANT 4: another node.id may not adopt the directory. */
static void test_broker_meta_node_id_mismatch_is_refused(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct broker_error err;
	char id[TOPIC_CLUSTER_ID_MAX];
	assert_int_equal(broker_meta_load_or_create(dir, 1, id, &err), KB_OK);
	assert_int_equal(broker_meta_load_or_create(dir, 2, id, &err),
			 KB_ERR_INVAL);
	assert_non_null(strstr(err.msg, "Stored node id 1 doesn't match previous "
					"node id 2"));
	tu_rmrf(dir);
}

static void test_broker_meta_malformed_is_refused(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct broker_error err;
	char id[TOPIC_CLUSTER_ID_MAX];
	write_props(dir, "meta.properties", "version=0\nbroker.id=1\n");
	assert_int_equal(broker_meta_load_or_create(dir, 1, id, &err),
			 KB_ERR_INVAL);
	assert_non_null(strstr(err.msg, "meta.properties"));
	tu_rmrf(dir);
}

/* ---- A running broker ---- */

static void ready_config(struct broker_config *cfg, const char *dir)
{
	struct broker_error err;
	char data[4200];
	snprintf(data, sizeof data, "%s/data", dir);
	broker_config_defaults(cfg);
	assert_int_equal(broker_config_set(cfg, SETTING("node.id", "1", "t"), &err),
			 KB_OK);
	assert_int_equal(broker_config_set(cfg, SETTING("listeners", "PLAINTEXT://127.0.0.1:0", "t"), &err),
			 KB_OK);
	assert_int_equal(broker_config_set(cfg, SETTING("log.dirs", data, "t"), &err),
			 KB_OK);
	assert_int_equal(broker_config_finish(cfg, &err), KB_OK);
}

/* broker_open formats the directory, listens on a real port and
 * advertises it; broker_close leaves Kafka's clean-shutdown marker. */
static void test_broker_open_listens_and_close_is_clean(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct broker_config cfg;
	struct broker_error err;
	struct broker b;
	char path[4300];
	ready_config(&cfg, dir);
	assert_int_equal(broker_open(&cfg, &b, &err), KB_OK);
	assert_true(b.port > 0);
	assert_int_equal(b.cfg.topics.advertised_port, b.port);
	assert_int_equal(strlen(b.cfg.topics.cluster_id), 22);
	broker_close(&b);
	snprintf(path, sizeof path, "%s/data/.kafka_cleanshutdown", dir);
	assert_true(tu_file_size(path) >= 0);
	snprintf(path, sizeof path, "%s/data/meta.properties", dir);
	assert_true(tu_file_size(path) > 0);
	tu_rmrf(dir);
}

/* INVARIANT 5: a second broker on the same directory does not start, and
 * the first keeps it. */
static void test_broker_open_locks_the_log_dir(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct broker_config cfg;
	struct broker_error err;
	struct broker first, second;
	ready_config(&cfg, dir);
	assert_int_equal(broker_open(&cfg, &first, &err), KB_OK);
	assert_int_equal(broker_open(&cfg, &second, &err), KB_ERR_INVAL);
	assert_non_null(strstr(err.msg, "in use by another broker"));
	broker_close(&first);
	assert_int_equal(broker_open(&cfg, &second, &err), KB_OK);
	broker_close(&second);
	tu_rmrf(dir);
}

/* A port in use is said in words, and nothing is made on disk. */
static void test_broker_open_port_in_use_before_the_log_dir(void **state)
{
	(void)state;
	char *dir = tu_tmpdir(), *dir2 = tu_tmpdir();
	struct broker_config cfg, cfg2;
	struct broker_error err;
	struct broker first, second;
	ready_config(&cfg, dir);
	assert_int_equal(broker_open(&cfg, &first, &err), KB_OK);
	ready_config(&cfg2, dir2);
	cfg2.listener_port = first.port;
	cfg2.listeners[0].port = first.port;
	assert_int_equal(broker_open(&cfg2, &second, &err), KB_ERR_EXISTS);
	char want[64];
	snprintf(want, sizeof want, "127.0.0.1:%d is already in use", first.port);
	assert_non_null(strstr(err.msg, want));
	char data[4200];
	snprintf(data, sizeof data, "%s/data", dir2);
	assert_int_equal(access(data, F_OK), -1);
	broker_close(&first);
	tu_rmrf(dir);
	tu_rmrf(dir2);
}

/* KAFKA: max.connections.per.ip and its overrides, "address:count,...". */
static void test_broker_config_max_connections_per_ip_and_overrides(void **state)
{
	(void)state;
	struct broker_config cfg;
	struct broker_error err;
	broker_config_defaults(&cfg);
	assert_int_equal(cfg.net.max_connections_per_ip, INT32_MAX);
	assert_int_equal(cfg.net.max_connections, INT32_MAX);
	assert_int_equal(broker_config_set(&cfg, SETTING("max.connections.per.ip", "5", "t"), &err),
			 KB_OK);
	assert_int_equal(broker_config_set(&cfg,
					   SETTING("max.connections.per.ip.overrides",
						   "127.0.0.1:50, ::1:0", "t"),
					   &err),
			 KB_OK);
	assert_int_equal(cfg.net.max_connections_per_ip, 5);
	assert_int_equal(cfg.net.n_ip_overrides, 2);
	assert_string_equal(cfg.net.ip_overrides[0].host, "127.0.0.1");
	assert_int_equal(cfg.net.ip_overrides[0].max, 50);
	assert_string_equal(cfg.net.ip_overrides[1].host, "::1");
	assert_int_equal(cfg.net.ip_overrides[1].max, 0);
	assert_int_equal(broker_config_set(&cfg, SETTING("max.connections.per.ip.overrides", "127.0.0.1", "t"), &err),
			 KB_ERR_INVAL);
	assert_non_null(strstr(err.msg, "is not address:count"));
	assert_int_equal(cfg.net.n_ip_overrides, 2); /* INVARIANT 2 */
	assert_int_equal(broker_config_set(&cfg, SETTING("max.connections.per.ip", "-1", "t"), &err),
			 KB_ERR_INVAL);
}

/* ---- Listeners and the quorum (15_listeners.c) ---- */

/* A fresh config with node.id=1, process.roles=broker,controller and the
 * given keys set, then finished. */
static int finish_with(struct broker_config *cfg, const char *const kv[][2],
		       size_t n, struct broker_error *err)
{
	broker_config_defaults(cfg);
	int rc = broker_config_set(cfg, SETTING("node.id", "1", "t"), err);
	if (rc == KB_OK)
		rc = broker_config_set(cfg, SETTING("process.roles",
						    "broker,controller", "t"), err);
	for (size_t i = 0; i < n && rc == KB_OK; i++)
		rc = broker_config_set(cfg, SETTING(kv[i][0], kv[i][1], "t"), err);
	return rc == KB_OK ? broker_config_finish(cfg, err) : rc;
}

#define CLUSTER_LISTENERS "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
#define CLUSTER_MAP "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
#define CLUSTER_VOTERS "1@127.0.0.1:19093,2@127.0.0.1:29093,3@127.0.0.1:39093"

static void test_broker_config_cluster_node_finishes(void **state)
{
	(void)state;
	struct broker_config cfg;
	struct broker_error err;
	const char *const kv[][2] = {
		{"process.roles", "broker,controller"},
		{"listeners", CLUSTER_LISTENERS},
		{"advertised.listeners", "PLAINTEXT://127.0.0.1:19092"},
		{"controller.listener.names", "controller"},
		{"listener.security.protocol.map", CLUSTER_MAP},
		{"controller.quorum.voters", CLUSTER_VOTERS},
	};
	assert_int_equal(finish_with(&cfg, kv, KB_ARRAY_LEN(kv), &err), KB_OK);
	assert_int_equal(cfg.n_listeners, 2);
	assert_string_equal(cfg.listeners[1].name, "CONTROLLER");
	assert_int_equal(cfg.listeners[0].kind, NET_LISTENER_BROKER);
	assert_int_equal(cfg.listeners[1].kind, NET_LISTENER_CONTROLLER);
	assert_string_equal(cfg.controller_listener, "CONTROLLER");
	assert_string_equal(cfg.inter_broker_listener, "PLAINTEXT");
	assert_string_equal(cfg.listener_host, "127.0.0.1");
	assert_int_equal(cfg.listener_port, 19092);
	assert_int_equal(cfg.topics.advertised_port, 19092);
	assert_int_equal(cfg.n_voters, 3);
	assert_int_equal(cfg.voters[2].id, 3);
	assert_string_equal(cfg.voters[2].host, "127.0.0.1");
	assert_int_equal(cfg.voters[2].port, 39093);
	assert_string_equal(cfg.quorum_voters, CLUSTER_VOTERS);
	assert_true(broker_cluster_check(&cfg));
	cfg.listeners[1].kind = NET_LISTENER_BROKER; /* the check sees a break */
	cfg.listener_port = 1;
	assert_false(broker_cluster_check(&cfg));
}

/* Peers dial SSL controller and inter-broker listeners (chapter 13's
 * 13_tls_peer.c); the controllers' listener name is kept for them. */
static void test_broker_config_ssl_dialled_listeners_accepted(void **state)
{
	(void)state;
	struct broker_config cfg;
	struct broker_error err;
	const char *const kv[][2] = {
		{"listeners", "PLAINTEXT://127.0.0.1:19092,INTERNAL://127.0.0.1:19094,"
			      "CONTROLLER://127.0.0.1:19093"},
		{"controller.listener.names", "CONTROLLER"},
		{"inter.broker.listener.name", "INTERNAL"},
		{"listener.security.protocol.map",
		 "PLAINTEXT:PLAINTEXT,INTERNAL:SSL,CONTROLLER:SSL"},
		{"controller.quorum.voters", CLUSTER_VOTERS},
	};
	assert_int_equal(finish_with(&cfg, kv, KB_ARRAY_LEN(kv), &err), KB_OK);
	assert_string_equal(cfg.peer_controller_listener, "CONTROLLER");
	assert_string_equal(cfg.inter_broker_listener, "INTERNAL");
	assert_string_equal(broker_listener_protocol(&cfg, "CONTROLLER"), "SSL");
}

static void test_broker_config_authorizer_keys_and_refusals(void **state)
{
	(void)state;
	struct broker_config cfg;
	struct broker_error err;
	static const char std[] =
		"org.apache.kafka.metadata.authorizer.StandardAuthorizer";
	const char *const on[][2] = {
		{"process.roles", "broker,controller"},
		{"listeners", CLUSTER_LISTENERS},
		{"advertised.listeners", "PLAINTEXT://127.0.0.1:19092"},
		{"controller.listener.names", "controller"},
		{"listener.security.protocol.map", CLUSTER_MAP},
		{"controller.quorum.voters", CLUSTER_VOTERS},
		{"authorizer.class.name", std},
		{"super.users", "User:admin;User:ops"},
		{"allow.everyone.if.no.acl.found", "true"},
	};
	assert_int_equal(finish_with(&cfg, on, KB_ARRAY_LEN(on), &err), KB_OK);
	assert_string_equal(cfg.authorizer_class, std);
	assert_string_equal(cfg.super_users, "User:admin;User:ops");
	assert_true(cfg.allow_everyone_if_no_acl_found);
	broker_config_defaults(&cfg);
	assert_false(cfg.allow_everyone_if_no_acl_found); /* KAFKA default */
	assert_string_equal(cfg.authorizer_class, "");
	/* another class: refused, naming the one samsa has */
	const char *const other[][2] = {
		{"authorizer.class.name", "kafka.security.authorizer.AclAuthorizer"}};
	assert_int_equal(finish_with(&cfg, other, 1, &err), KB_ERR_INVAL);
	assert_non_null(strstr(err.msg, "StandardAuthorizer"));
	/* no quorum: the ACLs would have nowhere to live */
	const char *const alone[][2] = {{"authorizer.class.name", std}};
	assert_int_equal(finish_with(&cfg, alone, 1, &err), KB_ERR_INVAL);
	assert_non_null(strstr(err.msg, "ACLs are kept in the KRaft metadata log"));
}

static void test_broker_config_kraft_keys_defaults_and_ranges(void **state)
{
	(void)state;
	struct broker_config cfg;
	struct broker_error err;
	broker_config_defaults(&cfg);
	assert_int_equal(cfg.kraft.session_timeout_ms, 9000);
	assert_int_equal(cfg.kraft.heartbeat_interval_ms, 2000);
	assert_int_equal(cfg.kraft.election_timeout_ms, 1000);
	assert_int_equal(cfg.kraft.fetch_timeout_ms, 2000);
	assert_int_equal(cfg.kraft.request_timeout_ms, 2000);
	assert_int_equal(cfg.kraft.retry_backoff_ms, 20);
	assert_int_equal(cfg.kraft.snapshot_max_bytes, 20971520);
	assert_int_equal(cfg.kraft.max_idle_interval_ms, 500);
	const struct {
		const char *key;
		int64_t *field;
	} keys[] = {
		{"broker.session.timeout.ms", &cfg.kraft.session_timeout_ms},
		{"broker.heartbeat.interval.ms", &cfg.kraft.heartbeat_interval_ms},
		{"controller.quorum.election.timeout.ms", &cfg.kraft.election_timeout_ms},
		{"controller.quorum.fetch.timeout.ms", &cfg.kraft.fetch_timeout_ms},
		{"controller.quorum.request.timeout.ms", &cfg.kraft.request_timeout_ms},
		{"controller.quorum.retry.backoff.ms", &cfg.kraft.retry_backoff_ms},
		{"metadata.log.max.record.bytes.between.snapshots",
		 &cfg.kraft.snapshot_max_bytes},
		{"metadata.max.idle.interval.ms", &cfg.kraft.max_idle_interval_ms},
	};
	for (size_t i = 0; i < KB_ARRAY_LEN(keys); i++) {
		assert_int_equal(broker_config_set(&cfg, SETTING(keys[i].key, "777", "t"), &err),
				 KB_OK);
		assert_int_equal(*keys[i].field, 777);
		assert_int_equal(broker_config_set(&cfg, SETTING(keys[i].key, "-1", "t"), &err),
				 KB_ERR_INVAL);
		assert_non_null(strstr(err.msg, keys[i].key));
		assert_int_equal(*keys[i].field, 777);
	}
	assert_int_equal(broker_config_set(&cfg, SETTING("broker.session.timeout.ms",
							 "3000000000", "t"), &err),
			 KB_ERR_INVAL);
}

/* Each refusal, set or finish, says what is wrong in words. */
static void test_broker_config_listener_refusals(void **state)
{
	(void)state;
	struct broker_config cfg;
	struct broker_error err;
	const struct {
		const char *key, *value, *says;
	} bad[] = {
		{"listeners", "PLAINTEXT:/h:1", "is not NAME://host:port"},
		{"listeners", "PLAIN TEXT://h:1", "letters, digits"},
		{"listeners", "PLAINTEXT://h", "has no port"},
		{"listeners", "A://h:1,B://h:2,C://h:3,D://h:4,E://h:5,F://h:6,G://h:7",
		 "more than 6"},
		{"listeners", "A://h:1,B://h:1", "port 1 is used twice"},
		{"listeners", "A://h:1,,B://h:2", "empty entry"},
		{"connection.failed.authentication.delay.ms", "soon", "is not 0..3600000 ms"},
		{"ssl.enabled.protocols", "TLSv1", "TLSv1.2 and/or TLSv1.3"},
		{"ssl.no.such.key", "x", "unknown key 'ssl.no.such.key'"},
		{"listener.security.protocol.map", "A", "is not NAME:PROTOCOL"},
		{"listener.security.protocol.map", "A:PLAINTEXT,a:SSL", "mapped twice"},
		{"controller.quorum.voters", "1@h", "has no port"},
		{"controller.quorum.voters", "x@h:1", "is not id@host:port"},
		{"controller.quorum.voters", "1@h:0", "port 1 to 65535"},
		{"controller.quorum.voters", "1@h:1,1@g:2", "voter id 1 is given twice"},
		{"controller.quorum.voters",
		 "1@h:1,2@h:2,3@h:3,4@h:4,5@h:5,6@h:6,7@h:7,8@h:8", "more than 7"},
		{"controller.quorum.voters", "1@h:70000", "0 to 65535"},
		{"controller.listener.names", "", "not a listener name"},
	};
	for (size_t i = 0; i < KB_ARRAY_LEN(bad); i++) {
		struct broker_config before;
		broker_config_defaults(&cfg);
		before = cfg;
		assert_int_equal(broker_config_set(&cfg, SETTING(bad[i].key, bad[i].value, "t"),
						   &err),
				 KB_ERR_INVAL);
		if (!strstr(err.msg, bad[i].says))
			fail_msg("%s=%s: '%s' lacks '%s'", bad[i].key, bad[i].value,
				 err.msg, bad[i].says);
		assert_memory_equal(&cfg, &before, sizeof cfg); /* INVARIANT 2 */
	}
}

/* Whole-config refusals of broker_config_finish. */
static void test_broker_config_cluster_finish_refusals(void **state)
{
	(void)state;
	struct broker_config cfg;
	struct broker_error err;
	const char *roles = "process.roles", *ls = "listeners",
		   *map = "listener.security.protocol.map",
		   *names = "controller.listener.names",
		   *voters = "controller.quorum.voters";
	const struct {
		const char *kv[6][2];
		size_t n;
		const char *says;
	} bad[] = {
		{{{ls, CLUSTER_LISTENERS}, {names, "CONTROLLER"}, {voters, CLUSTER_VOTERS}},
		 3, "add CONTROLLER:PLAINTEXT to listener.security.protocol.map"},
		{{{ls, "PLAINTEXT://:1,EXTERNAL://:2"}, {map, "PLAINTEXT:PLAINTEXT,EXTERNAL:SASL_SSL"}},
		 2, "EXTERNAL (SASL_SSL): sasl.enabled.mechanisms has GSSAPI, which samsa does not serve"},
		{{{ls, "PLAINTEXT://:1,EXTERNAL://:2"}, {map, "PLAINTEXT:PLAINTEXT,EXTERNAL:SASL_PLAINTEXT"},
		  {"listener.name.external.sasl.enabled.mechanisms", "SCRAM-SHA-512"}},
		 3, "SCRAM credentials are kept in the KRaft metadata log"},
		{{{ls, "PLAINTEXT://:1,EXTERNAL://:2"}, {map, "PLAINTEXT:PLAINTEXT,EXTERNAL:SASL_PLAINTEXT"},
		  {"sasl.enabled.mechanisms", "PLAIN,OAUTHBEARER"}},
		 3, "has OAUTHBEARER, which samsa does not serve"},
		{{{ls, "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"},
		  {map, "PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"}, {names, "CONTROLLER"},
		  {voters, CLUSTER_VOTERS}},
		 4, "CONTROLLER is SASL_PLAINTEXT, but the nodes of a cluster dial the controllers without SASL"},
		{{{ls, "PLAINTEXT://127.0.0.1:19092,INTERNAL://127.0.0.1:19094,CONTROLLER://127.0.0.1:19093"},
		  {map, "PLAINTEXT:PLAINTEXT,INTERNAL:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT"},
		  {names, "CONTROLLER"}, {voters, CLUSTER_VOTERS},
		  {"inter.broker.listener.name", "INTERNAL"}},
		 5, "set sasl.mechanism.inter.broker.protocol=PLAIN"},
		{{{ls, "PLAINTEXT://:1"}, {names, "CONTROLLER"}, {voters, CLUSTER_VOTERS}},
		 3, "CONTROLLER is not in listeners"},
		{{{ls, CLUSTER_LISTENERS}, {map, CLUSTER_MAP}, {names, "CONTROLLER"}},
		 3, "set controller.quorum.voters"},
		{{{ls, CLUSTER_LISTENERS}, {map, CLUSTER_MAP}, {names, "CONTROLLER"},
		  {voters, "2@h:1,3@h:2"}},
		 4, "node.id 1 is not one of controller.quorum.voters"},
		{{{ls, CLUSTER_LISTENERS}, {map, CLUSTER_MAP}, {voters, CLUSTER_VOTERS}},
		 3, "set controller.listener.names"},
		{{{roles, "broker"}, {ls, "PLAINTEXT://:1"}, {voters, CLUSTER_VOTERS}},
		 3, "must not be a voter"},
		{{{ls, CLUSTER_LISTENERS}, {map, CLUSTER_MAP}, {names, "CONTROLLER"},
		  {voters, CLUSTER_VOTERS}, {"advertised.listeners", "CONTROLLER://h:19093"}},
		 5, "CONTROLLER is the controller listener"},
		{{{ls, CLUSTER_LISTENERS}, {map, CLUSTER_MAP}, {names, "CONTROLLER"},
		  {voters, CLUSTER_VOTERS}, {"inter.broker.listener.name", "controller"}},
		 5, "inter.broker.listener.name CONTROLLER is the controller"},
		{{{ls, CLUSTER_LISTENERS}, {map, CLUSTER_MAP}, {names, "CONTROLLER"},
		  {voters, CLUSTER_VOTERS}, {"inter.broker.listener.name", "INTERNAL"}},
		 5, "INTERNAL is not in listeners"},
		{{{ls, "PLAINTEXT://:1"}, {"advertised.listeners", "OTHER://h:2"}},
		 2, "OTHER is not in listeners"},
	};
	for (size_t i = 0; i < KB_ARRAY_LEN(bad); i++) {
		int rc = finish_with(&cfg, (const char *const (*)[2])bad[i].kv,
				     bad[i].n, &err);
		assert_int_equal(rc, KB_ERR_INVAL);
		if (!strstr(err.msg, bad[i].says))
			fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, bad[i].says);
	}
	/* Kafka's role rules for separate controllers and brokers. */
	const char *ctl_ls = "CONTROLLER://127.0.0.1:19093";
	const struct {
		const char *kv[6][2];
		size_t n;
		const char *says;
	} roles_bad[] = {
		{{{roles, "controller"}, {ls, CLUSTER_LISTENERS}, {map, CLUSTER_MAP},
		  {names, "CONTROLLER"}, {voters, CLUSTER_VOTERS}},
		 5, "must only contain KRaft controller listeners"},
		{{{roles, "controller"}, {ls, ctl_ls}, {map, CLUSTER_MAP},
		  {names, "CONTROLLER"}},
		 4, "set controller.quorum.voters"},
		{{{roles, "controller"}, {ls, ctl_ls}, {map, CLUSTER_MAP},
		  {names, "CONTROLLER"}, {voters, "2@h:1,3@h:2"}},
		 5, "node.id 1 is not one of controller.quorum.voters"},
		{{{roles, "controller"}, {ls, ctl_ls}, {map, CLUSTER_MAP},
		  {names, "CONTROLLER"}, {voters, CLUSTER_VOTERS},
		  {"advertised.listeners", "CONTROLLER://h:19093"}},
		 6, "a controller-only node has no broker listener to advertise"},
		{{{roles, "broker"}, {"node.id", "4"}, {ls, CLUSTER_LISTENERS},
		  {map, CLUSTER_MAP}, {names, "CONTROLLER"}, {voters, CLUSTER_VOTERS}},
		 6, "must not contain a value appearing in the 'listeners'"},
	};
	for (size_t i = 0; i < KB_ARRAY_LEN(roles_bad); i++) {
		int rc = finish_with(&cfg, (const char *const (*)[2])roles_bad[i].kv,
				     roles_bad[i].n, &err);
		assert_int_equal(rc, KB_ERR_INVAL);
		if (!strstr(err.msg, roles_bad[i].says))
			fail_msg("roles case %zu: '%s' lacks '%s'", i, err.msg,
				 roles_bad[i].says);
	}
	/* A controller-only node: its one listener is the quorum's. */
	const char *const ctl[][2] = {{roles, "controller"}, {ls, ctl_ls},
				      {map, CLUSTER_MAP}, {names, "CONTROLLER"},
				      {voters, CLUSTER_VOTERS}};
	assert_int_equal(finish_with(&cfg, ctl, KB_ARRAY_LEN(ctl), &err), KB_OK);
	assert_int_equal(cfg.n_listeners, 1);
	assert_int_equal(cfg.listeners[0].kind, NET_LISTENER_CONTROLLER);
	assert_int_equal(cfg.listener_port, 0);
	assert_false(broker_has_role(&cfg, "broker"));
	assert_true(broker_cluster_check(&cfg));
	/* A broker-only node of a quorum, not a voter, is fine. */
	const char *const ok[][2] = {{roles, "broker"}, {"node.id", "4"},
				     {ls, "PLAINTEXT://:1"}, {voters, CLUSTER_VOTERS},
				     {names, "CONTROLLER"}, {map, CLUSTER_MAP}};
	assert_int_equal(finish_with(&cfg, ok, KB_ARRAY_LEN(ok), &err), KB_OK);
	assert_int_equal(cfg.n_listeners, 1);
}

/* The ready-made cluster's files and the single node's load and finish. */
static void test_broker_config_shipped_files_load(void **state)
{
	(void)state;
	const char *files[] = {"config/cluster/node1.properties",
			       "config/cluster/node2.properties",
			       "config/cluster/node3.properties",
			       "config/server.properties",
			       "config/secure.properties",
			       "config/cluster-secure/node1.properties",
			       "config/cluster-secure/node2.properties",
			       "config/cluster-secure/node3.properties"};
	for (size_t i = 0; i < KB_ARRAY_LEN(files); i++) {
		struct broker_config cfg;
		struct broker_error err;
		broker_config_defaults(&cfg);
		if (broker_config_load(&cfg, files[i], &err) != KB_OK ||
		    broker_config_finish(&cfg, &err) != KB_OK)
			fail_msg("%s: %s", files[i], err.msg);
		assert_true(broker_cluster_check(&cfg));
		/* secure.properties: PLAINTEXT, CONTROLLER, SSL, SASL_SSL; its
		 * own one-voter quorum (SCRAM users live in the metadata log) */
		/* cluster-secure: those four and INTERNAL, the inter-broker one */
		static const int n_listeners[] = {2, 2, 2, 1, 4, 5, 5, 5};
		assert_int_equal(cfg.n_listeners, n_listeners[i]);
		assert_int_equal(cfg.n_voters, i == 3 ? 0 : i == 4 ? 1 : 3);
		int node = i < 3 ? (int)i + 1 : i > 4 ? (int)i - 4 : 0;
		if (node) {
			assert_int_equal(cfg.topics.node_id, node);
			assert_int_equal(cfg.listener_port, 10000 * node +
					 (i < 3 ? 9092 : 9095));
			assert_int_equal(cfg.topics.advertised_port, cfg.listener_port);
		}
	}
}

/* One ApiVersions v0 on port, answered while the reactor turns. */
static void api_versions_answers(struct broker *b, int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_true(fd >= 0);
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	assert_true(rc == 0 || errno == EINPROGRESS);
	/* size, key 18, version 0, correlation 7, client id "t". */
	const uint8_t req[] = {0, 0, 0, 11, 0, 18, 0, 0, 0, 0, 0, 7, 0, 1, 't'};
	uint8_t got[512];
	size_t sent = 0, have = 0;
	for (int turn = 0; turn < 500 && (have < 10); turn++) {
		assert_int_equal(net_run_once(b->srv, 5), KB_OK);
		if (sent < sizeof req) {
			ssize_t w = send(fd, req + sent, sizeof req - sent, MSG_NOSIGNAL);
			sent += w > 0 ? (size_t)w : 0;
		}
		ssize_t r = recv(fd, got + have, sizeof got - have, 0);
		have += r > 0 ? (size_t)r : 0;
	}
	assert_true(have >= 10);
	assert_int_equal(kb_get_be32(got + 4), 7);     /* correlation id */
	assert_int_equal(kb_get_be16(got + 8), 0);     /* error_code NONE */
	close(fd);
}

/* broker_open on a node1-like config binds both listeners, each answers. */
static void test_broker_open_binds_every_listener(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	char data[4200];
	snprintf(data, sizeof data, "%s/data", dir);
	struct broker_config cfg;
	struct broker_error err;
	struct broker b;
	const char *const kv[][2] = {
		{"process.roles", "broker,controller"},
		{"listeners", "PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0"},
		{"controller.listener.names", "CONTROLLER"},
		{"listener.security.protocol.map", CLUSTER_MAP},
		{"controller.quorum.voters", "1@127.0.0.1:19093"},
		{"log.dirs", data},
	};
	assert_int_equal(finish_with(&cfg, kv, KB_ARRAY_LEN(kv), &err), KB_OK);
	/* A cluster member opens only a formatted directory (INVARIANT 5). */
	struct broker_meta m = {.node_id = 1, .cluster_id = "MkU3OEVBNTcwNTJENDM2Qg"};
	assert_int_equal(kb_mkdirs(data), KB_OK);
	assert_int_equal(broker_meta_format(data, &m, &err), KB_OK);
	assert_int_equal(broker_open(&cfg, &b, &err), KB_OK);
	assert_true(b.port > 0);
	assert_true(b.controller_port > 0);
	assert_true(b.port != b.controller_port);
	api_versions_answers(&b, b.port);
	api_versions_answers(&b, b.controller_port);
	broker_close(&b);
	tu_rmrf(dir);
}

/* Chapter 13: an SSL listener's stores are checked by broker_open, which
 * names the key and the file; with make certs' files it listens, with
 * its own context, and advertises each listener's own port. */
static void test_broker_open_ssl_listener_checks_its_stores(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	char data[4200], missing[4200], cmd[4400];
	snprintf(data, sizeof data, "%s/data", dir);
	snprintf(missing, sizeof missing, "%s/missing.pem", dir);
	struct broker_config cfg;
	struct broker_error err;
	struct broker b;
	const char *const kv[][2] = {
		{"listeners", "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0"},
		{"ssl.keystore.location", missing},
		{"log.dirs", data},
	};
	assert_int_equal(finish_with(&cfg, kv, KB_ARRAY_LEN(kv), &err), KB_OK);
	assert_int_equal(broker_open(&cfg, &b, &err), KB_ERR_INVAL);
	assert_non_null(strstr(err.msg, "listener SSL (SSL): ssl.keystore.location"));
	assert_non_null(strstr(err.msg, missing));

	const char *root = getenv("SAMSA_ROOT");
	snprintf(cmd, sizeof cmd, "sh %s/tools/certs.sh %s/certs >/dev/null",
		 root ? root : ".", dir);
	assert_int_equal(system(cmd), 0);
	snprintf(missing, sizeof missing, "%s/certs/broker.pem", dir);
	assert_int_equal(finish_with(&cfg, kv, KB_ARRAY_LEN(kv), &err), KB_OK);
	assert_int_equal(broker_open(&cfg, &b, &err), KB_OK);
	assert_null(b.tls[0]);      /* PLAINTEXT */
	assert_non_null(b.tls[1]);  /* SSL: its own context */
	api_versions_answers(&b, b.port); /* plaintext still served */
	broker_close(&b);
	tu_rmrf(dir);
}

int main(void)
{
	tu_log_quiet();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_broker_config_defaults_are_kafkas),
		cmocka_unit_test(test_broker_config_load_reads_java_properties_syntax),
		cmocka_unit_test(test_broker_config_load_missing_file_is_io),
		cmocka_unit_test(test_broker_config_unknown_key_names_file_line_key),
		cmocka_unit_test(test_broker_config_error_line_of_continued_line),
		cmocka_unit_test(test_broker_config_bad_value_leaves_config_unchanged),
		cmocka_unit_test(test_broker_config_set_stores_at_the_right_width),
		cmocka_unit_test(test_broker_config_override_uses_the_table_last_wins),
		cmocka_unit_test(test_broker_config_accepts_kafkas_stock_keys),
		cmocka_unit_test(test_broker_config_log_dirs_beats_log_dir),
		cmocka_unit_test(test_broker_config_listener_forms),
		cmocka_unit_test(test_broker_config_finish_requires_node_id),
		cmocka_unit_test(test_broker_config_finish_retention_precedence),
		cmocka_unit_test(test_broker_config_finish_advertises_the_listener),
		cmocka_unit_test(test_broker_meta_writes_kraft_format),
		cmocka_unit_test(test_broker_meta_keeps_cluster_id),
		cmocka_unit_test(test_broker_meta_node_id_mismatch_is_refused),
		cmocka_unit_test(test_broker_meta_malformed_is_refused),
		cmocka_unit_test(test_broker_uuid_random_is_a_kafka_uuid),
		cmocka_unit_test(test_broker_meta_format_writes_the_exact_file),
		cmocka_unit_test(test_broker_meta_format_refuses_a_formatted_dir),
		cmocka_unit_test(test_broker_meta_format_checks_the_ids),
		cmocka_unit_test(test_broker_meta_format_takes_kafkas_example_id),
		cmocka_unit_test(test_broker_meta_load_refuses_an_unformatted_dir),
		cmocka_unit_test(test_broker_meta_load_refuses_another_cluster),
		cmocka_unit_test(test_broker_meta_load_adds_a_directory_id),
		cmocka_unit_test(test_broker_open_listens_and_close_is_clean),
		cmocka_unit_test(test_broker_open_locks_the_log_dir),
		cmocka_unit_test(test_broker_open_port_in_use_before_the_log_dir),
		cmocka_unit_test(test_broker_config_max_connections_per_ip_and_overrides),
		cmocka_unit_test(test_broker_config_cluster_node_finishes),
		cmocka_unit_test(test_broker_config_ssl_dialled_listeners_accepted),
		cmocka_unit_test(test_broker_config_authorizer_keys_and_refusals),
		cmocka_unit_test(test_broker_config_kraft_keys_defaults_and_ranges),
		cmocka_unit_test(test_broker_config_listener_refusals),
		cmocka_unit_test(test_broker_config_cluster_finish_refusals),
		cmocka_unit_test(test_broker_config_shipped_files_load),
		cmocka_unit_test(test_broker_open_binds_every_listener),
		cmocka_unit_test(test_broker_open_ssl_listener_checks_its_stores),
	};
	kb_log_set_level(KB_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
