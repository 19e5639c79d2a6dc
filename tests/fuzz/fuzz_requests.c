/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target over every request decoder of a real broker.
 *
 * Once per process it boots a broker exactly as `samsa broker` does
 * (broker_config_*, broker_open: the server of chapter 05 with every
 * handler registered, the topic manager of chapter 06) in a temporary
 * directory, and creates topic "fuzz" with 3 partitions, the topic the
 * seed corpus (tests/fuzz/corpus/, requests captured from kcat,
 * confluent-kafka, kafka-python and kafkajs by tests/fuzz/capture.py)
 * talks to. Each input is one request, header and body, without its size
 * prefix: it is framed, written into one end of a socketpair whose other
 * end the server adopted (net_adopt), and the reactor is turned
 * (net_run_once) until the broker answers or closes the connection. So
 * every registered api key and version is decoded by its real handler,
 * and the mutator can reach any of them by changing the 4 header bytes.
 *
 *   make fuzz                      60 seconds (FUZZ_SECONDS=N for longer)
 *   build/fuzz/fuzz_requests CRASH-FILE       replay one input
 *
 * A crash, a sanitizer report (ASan, UBSan), a leak or a 10 s hang fails
 * the run. Every RESET_EVERY inputs the broker is closed and booted again
 * on an empty directory, so the topics fuzzed inputs create (CreateTopics,
 * auto-creation) cannot pile up without bound.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "00_base.h"
#include "05_server.h"
#include "06_topics.h"
#include "15_config.h"

#define RESET_EVERY 2000     /* inputs between two fresh brokers */
#define MAX_TURNS 64         /* reactor turns per input, at most */
#define MAX_INPUT (1 << 20)  /* larger inputs are skipped */
#define FUZZ_TOPIC "fuzz"
#define FUZZ_PARTITIONS 3

static struct broker fuzz_broker;
static char fuzz_dir[64];
static unsigned long inputs;

/* Drop the broker's log lines: thousands of inputs a second. */
static void quiet(enum kb_log_level level, const char *line, void *ctx)
{
	(void)level;
	(void)line;
	(void)ctx;
}

static void must(int rc, const char *what, const struct broker_error *err)
{
	if (rc == KB_OK)
		return;
	fprintf(stderr, "fuzz_requests: %s: %s (%s)\n", what,
		err ? err->msg : "", kb_status_name(rc));
	abort();
}

/* A broker on loopback port 0 with small segments and indexes. */
static void boot(void)
{
	static const char *const settings[][2] = {
		{"node.id", "1"},
		{"listeners", "PLAINTEXT://127.0.0.1:0"},
		{"num.partitions", "1"},
		{"log.segment.bytes", "1048576"},
		{"log.index.size.max.bytes", "65536"},
		{"log.retention.bytes", "4194304"},
	};
	struct broker_config cfg;
	struct broker_error err;
	char data[96];
	broker_config_defaults(&cfg);
	snprintf(data, sizeof data, "%s/data", fuzz_dir);
	struct broker_setting dirs = {"log.dirs", data, "fuzz"};
	must(broker_config_set(&cfg, &dirs, &err), "config", &err);
	for (size_t i = 0; i < KB_ARRAY_LEN(settings); i++) {
		struct broker_setting s = {settings[i][0], settings[i][1], "fuzz"};
		must(broker_config_set(&cfg, &s, &err), "config", &err);
	}
	must(broker_config_finish(&cfg, &err), "config", &err);
	must(broker_open(&cfg, &fuzz_broker, &err), "broker_open", &err);
	struct topic_create_req topic = {FUZZ_TOPIC, FUZZ_PARTITIONS, NULL, 0};
	must(topic_create(fuzz_broker.tm, &topic, NULL), "topic_create", NULL);
}

static void reset(void)
{
	char cmd[128];
	broker_close(&fuzz_broker);
	snprintf(cmd, sizeof cmd, "rm -rf '%s/data'", fuzz_dir);
	if (system(cmd) != 0)
		abort();
	boot();
}

static void cleanup(void)
{
	char cmd[128];
	broker_close(&fuzz_broker);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_requests: could not remove %s\n", fuzz_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(fuzz_dir, sizeof fuzz_dir, "/tmp/samsa-fuzz-XXXXXX");
	if (!mkdtemp(fuzz_dir))
		abort();
	kb_log_set_sink(quiet, NULL);
	boot();
	atexit(cleanup);
	return 0;
}

/* Write what the socket takes now; returns bytes written (0 if full). */
static size_t write_some(int fd, const uint8_t *p, size_t len)
{
	ssize_t n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	return n > 0 ? (size_t)n : 0;
}

/* What came back on the client end so far. */
struct answer {
	uint8_t prefix[WIRE_SIZE_PREFIX]; /* the response's size prefix */
	size_t got;                       /* bytes received */
};

/* Read and drop what the broker sent, keeping the size prefix; false once
 * it closed the socket. */
static bool drain(int fd, struct answer *a)
{
	uint8_t buf[65536];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n <= 0)
			return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
		for (ssize_t i = 0; i < n && a->got + (size_t)i < sizeof a->prefix; i++)
			a->prefix[a->got + (size_t)i] = buf[i];
		a->got += (size_t)n;
	}
}

/* Has one whole response arrived? */
static bool answered(const struct answer *a)
{
	return a->got >= sizeof a->prefix &&
	       a->got >= sizeof a->prefix + kb_get_be32(a->prefix);
}

/* Frame the input, write it into a socketpair the server adopted, and
 * turn the reactor by hand until it answered or hung up (or MAX_TURNS:
 * a request that parks, a Fetch waiting for data, stays unanswered). */
static void feed(const uint8_t *data, size_t size)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		abort();
	must(net_adopt(fuzz_broker.srv, sv[1]), "net_adopt", NULL);
	uint8_t prefix[WIRE_SIZE_PREFIX];
	kb_put_be32(prefix, (uint32_t)size);
	size_t sent = 0, total = sizeof prefix + size;
	struct answer a = {{0}, 0};
	bool open = true;
	for (int turn = 0; turn < MAX_TURNS && open && !answered(&a); turn++) {
		while (sent < sizeof prefix)
			sent += write_some(sv[0], prefix + sent, sizeof prefix - sent);
		if (sent < total)
			sent += write_some(sv[0], data + sent - sizeof prefix,
					   total - sent);
		net_run_once(fuzz_broker.srv, 0);
		open = drain(sv[0], &a);
	}
	close(sv[0]);
	/* Let the broker see the close and free the connection. */
	for (int turn = 0; turn < 4; turn++)
		net_run_once(fuzz_broker.srv, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > MAX_INPUT)
		return 0;
	if (++inputs % RESET_EVERY == 0)
		reset();
	feed(data, size);
	return 0;
}
