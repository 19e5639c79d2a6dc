/* SPDX-License-Identifier: MIT */
/*
 * A small librdkafka command-line client for samsa's client tests.
 *
 *   rdkafka_client create  BOOTSTRAP TOPIC PARTITIONS [prop=value]...
 *   rdkafka_client produce BOOTSTRAP TOPIC COUNT BASE_TS [prop=value]...
 *   rdkafka_client consume BOOTSTRAP TOPIC PARTITIONS COUNT TIMEOUT_MS
 *                  [prop=value]...
 *
 * produce sends COUNT records numbered i = 0..COUNT-1: key "key-<i % 97>",
 * value "value-<i>-" padded to 100 bytes (so compression has work), headers
 * seq=<i>, client=rdkafka and "nil" with a null value, timestamp
 * BASE_TS + i. It prints "delivered D failed F" and, for
 * the first failure, the error name ("first error: MSG_SIZE_TOO_LARGE").
 * consume reads every partition from the beginning with the simple
 * consumer (no consumer group, as kcat -C) and prints one line per record, the canonical format of every client
 * test (tests/clients/harness.py, parse_records):
 *
 *   partition <TAB> offset <TAB> timestamp <TAB> key <TAB> value <TAB> headers
 *
 * with headers as name=value pairs joined by ',' and a null as "<null>".
 * prop=value pairs go to rd_kafka_conf_set (compression.codec=zstd,
 * acks=all, ...). Exit status 0 when everything asked for happened.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#define VALUE_LEN 100  /* bytes of each produced value */
#define KEY_SPACE 97   /* distinct keys: records share keys, so partitions */
#define FLUSH_MS 30000 /* longest wait for outstanding deliveries */

/* Delivery results, counted by the delivery report callback. */
struct deliveries {
	long ok, failed;
	rd_kafka_resp_err_t first_error;
};

static rd_kafka_conf_t *make_conf(const char *bootstrap, int nprops,
				  char **props)
{
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err,
			      sizeof err) != RD_KAFKA_CONF_OK)
		goto bad;
	for (int i = 0; i < nprops; i++) {
		char kv[1024];
		snprintf(kv, sizeof kv, "%s", props[i]);
		char *eq = strchr(kv, '=');
		if (!eq) {
			snprintf(err, sizeof err, "'%.400s' is not prop=value", kv);
			goto bad;
		}
		*eq = '\0';
		if (rd_kafka_conf_set(conf, kv, eq + 1, err, sizeof err) !=
		    RD_KAFKA_CONF_OK)
			goto bad;
	}
	return conf;
bad:
	fprintf(stderr, "config: %s\n", err);
	exit(2);
}

static rd_kafka_t *make_client(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
	char err[512];
	rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
	if (!rk) {
		fprintf(stderr, "rd_kafka_new: %s\n", err);
		exit(2);
	}
	return rk;
}

/* ---- create ---- */

static int cmd_create(const char *bootstrap, const char *topic,
		      int partitions, int nprops, char **props)
{
	rd_kafka_t *rk = make_client(RD_KAFKA_PRODUCER,
				     make_conf(bootstrap, nprops, props));
	char err[512];
	rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1,
							err, sizeof err);
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
	int rc = 1;
	if (!ev) {
		printf("create: timed out\n");
	} else if (rd_kafka_event_error(ev)) {
		printf("create: %s\n", rd_kafka_event_error_string(ev));
	} else {
		size_t n;
		const rd_kafka_topic_result_t **res = rd_kafka_CreateTopics_result_topics(
			rd_kafka_event_CreateTopics_result(ev), &n);
		rd_kafka_resp_err_t e = n ? rd_kafka_topic_result_error(res[0])
					  : RD_KAFKA_RESP_ERR__FAIL;
		printf("create %s: %s\n", topic, rd_kafka_err2name(e));
		rc = e == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : 1;
	}
	if (ev)
		rd_kafka_event_destroy(ev);
	rd_kafka_NewTopic_destroy(nt);
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy(rk);
	return rc;
}

/* ---- produce ---- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
			void *opaque)
{
	struct deliveries *d = opaque;
	(void)rk;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		d->ok++;
		return;
	}
	if (d->failed++ == 0)
		d->first_error = m->err;
}

static int cmd_produce(const char *bootstrap, const char *topic, long count,
		       int64_t base_ts, int nprops, char **props)
{
	struct deliveries d = {0, 0, RD_KAFKA_RESP_ERR_NO_ERROR};
	rd_kafka_conf_t *conf = make_conf(bootstrap, nprops, props);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, &d);
	rd_kafka_t *rk = make_client(RD_KAFKA_PRODUCER, conf);
	for (long i = 0; i < count; i++) {
		char key[32], value[VALUE_LEN + 1], seq[32];
		snprintf(key, sizeof key, "key-%ld", i % KEY_SPACE);
		snprintf(seq, sizeof seq, "%ld", i);
		int n = snprintf(value, sizeof value, "value-%ld-", i);
		memset(value + n, 'x', VALUE_LEN - (size_t)n);
		value[VALUE_LEN] = '\0';
		rd_kafka_resp_err_t e;
		while ((e = rd_kafka_producev(
				rk, RD_KAFKA_V_TOPIC(topic),
				RD_KAFKA_V_KEY(key, strlen(key)),
				RD_KAFKA_V_VALUE(value, VALUE_LEN),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				RD_KAFKA_V_TIMESTAMP(base_ts + i),
				RD_KAFKA_V_HEADER("seq", seq, -1),
				RD_KAFKA_V_HEADER("client", "rdkafka", -1),
				RD_KAFKA_V_HEADER("nil", NULL, 0),
				RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(rk, 10);
		if (e) {
			fprintf(stderr, "producev: %s\n", rd_kafka_err2name(e));
			break;
		}
		rd_kafka_poll(rk, 0);
	}
	rd_kafka_flush(rk, FLUSH_MS);
	printf("delivered %ld failed %ld\n", d.ok, d.failed);
	if (d.failed)
		printf("first error: %s\n", rd_kafka_err2name(d.first_error));
	rd_kafka_destroy(rk);
	return d.ok == count ? 0 : 1;
}

/* ---- consume ---- */

static void print_bytes(const void *p, size_t len)
{
	if (!p)
		fputs("<null>", stdout);
	else
		fwrite(p, 1, len, stdout);
}

/* One record in the canonical line format (see the top of the file). */
static void print_record(const rd_kafka_message_t *m)
{
	rd_kafka_timestamp_type_t tstype;
	printf("%" PRId32 "\t%" PRId64 "\t%" PRId64 "\t", m->partition,
	       m->offset, rd_kafka_message_timestamp(m, &tstype));
	print_bytes(m->key, m->key_len);
	putchar('\t');
	print_bytes(m->payload, m->len);
	putchar('\t');
	rd_kafka_headers_t *hdrs = NULL;
	if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		const char *name;
		const void *val;
		size_t len;
		for (size_t i = 0;
		     rd_kafka_header_get_all(hdrs, i, &name, &val, &len) ==
		     RD_KAFKA_RESP_ERR_NO_ERROR;
		     i++) {
			printf("%s%s=", i ? "," : "", name);
			print_bytes(val, len);
		}
	}
	putchar('\n');
}

/* The simple (legacy) consumer, as kcat -C uses it: no consumer group,
 * every partition started at the beginning onto one queue. */
static int cmd_consume(const char *bootstrap, const char *topic,
		       int partitions, long count, long timeout_ms,
		       int nprops, char **props)
{
	rd_kafka_t *rk = make_client(RD_KAFKA_CONSUMER,
				     make_conf(bootstrap, nprops, props));
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	for (int p = 0; p < partitions; p++)
		rd_kafka_consume_start_queue(rkt, p, RD_KAFKA_OFFSET_BEGINNING, q);
	long got = 0;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		long elapsed = (t.tv_sec - t0.tv_sec) * 1000 +
			       (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (got >= count || elapsed > timeout_ms)
			break;
		rd_kafka_message_t *m = rd_kafka_consume_queue(q, 100);
		if (!m)
			continue;
		if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			fprintf(stderr, "consume: %s\n", rd_kafka_message_errstr(m));
		else if (!m->err && got++ < count)
			print_record(m);
		rd_kafka_message_destroy(m);
	}
	fflush(stdout);
	for (int p = 0; p < partitions; p++)
		rd_kafka_consume_stop(rkt, p);
	rd_kafka_queue_destroy(q);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	return got == count ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && strcmp(argv[1], "create") == 0)
		return cmd_create(argv[2], argv[3], atoi(argv[4]), argc - 5,
				  argv + 5);
	if (argc >= 6 && strcmp(argv[1], "produce") == 0)
		return cmd_produce(argv[2], argv[3], atol(argv[4]),
				   strtoll(argv[5], NULL, 10), argc - 6, argv + 6);
	if (argc >= 7 && strcmp(argv[1], "consume") == 0)
		return cmd_consume(argv[2], argv[3], atoi(argv[4]),
				   atol(argv[5]), atol(argv[6]), argc - 7,
				   argv + 7);
	fprintf(stderr, "usage: see the top of tests/clients/rdkafka_client.c\n");
	return 2;
}
