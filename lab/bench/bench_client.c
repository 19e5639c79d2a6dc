/* SPDX-License-Identifier: MIT */
/*
 * samsa_bench: one librdkafka client that measures a Kafka broker, samsa or
 * librdkafka's in-memory mock cluster, with the same settings for both.
 * lab/bench/bench.py runs it (`make bench`); by hand:
 *
 *   samsa_bench mock --topic NAME:PARTITIONS [--topic ...]
 *       start a one-broker mock cluster on 127.0.0.1 with those topics,
 *       print "bootstrap HOST:PORT", serve until SIGTERM or SIGINT (or EOF
 *       on stdin, when stdin is a pipe: the parent went away)
 *   samsa_bench limits --dir DIR [--mb N]
 *       the machine's ceilings, "loopback_mb_s X" (one 127.0.0.1 TCP stream
 *       of N MiB, at most 2 s) and "disk_write_mb_s Y" (N MiB of buffered
 *       write(2) into a fresh file in DIR, no fsync: the page cache takes
 *       it); N defaults to 1024
 *   samsa_bench run --bootstrap B --topic T --mode produce|consume|latency
 *                   --size BYTES [--acks 1|all] [--records N] [--passes R]
 *                   [--seconds S] [--rate R] [--partitions P]
 *                   [--producers K] [--linger MS] [--batch-bytes N]
 *                   [--create]
 *
 * run measures one of:
 *   produce  K producers (threads, each its own rd_kafka_t) send N records
 *            in total, round-robin over P partitions, as fast as their
 *            queues allow: throughput from the first send to the last
 *            delivery report, and ack latency (send -> delivery report).
 *   consume  a log of N/R records is produced first (not measured), then
 *            a consumer without group membership (assign at offset 0)
 *            reads it all, R times (default 1), N records in all; seconds
 *            add up the passes, each from its assign to its last record.
 *            The mock keeps only the last 5 MiB (and 100,000 batches) of a
 *            partition, so against it N/R records must fit in that (else:
 *            "Offset out of range"); samsa is given the same R.
 *   latency  open loop: record i is due at t0 + i/R and carries its due
 *            time (CLOCK_MONOTONIC ns) in its first 8 bytes; a consumer in
 *            this process (fetch.wait.max.ms 100) reads it back. Both
 *            latencies count from the due time, so a stalled broker delays
 *            every record behind it (no coordinated omission). Runs S
 *            seconds, then drains up to 5 s. The mock answers a fetch that
 *            finds no data only after the full fetch.wait.max.ms, so its
 *            end-to-end figures measure that wait.
 * Producer settings are the same for every broker: linger.ms from --linger
 * (default 5), no compression, no idempotence, acks from --acks, batch.size
 * from --batch-bytes (default librdkafka's). --create makes T (P
 * partitions, replication factor 1) with the Admin API; the mock does not
 * implement CreateTopics, so its topics come from `samsa_bench mock`.
 *
 * Output: "MARK start" and "MARK end" around the measured phase (the
 * orchestrator samples the broker's CPU there), then one JSON line:
 *   {"records":N,"bytes":N,"seconds":F,"records_per_s":F,"mb_per_s":F,
 *    "ack_p50_ms":F,"ack_p99_ms":F,"ack_p999_ms":F,
 *    "e2e_p50_ms":F,"e2e_p99_ms":F,"e2e_p999_ms":F}
 * MB = 10^6 bytes of record values; latency keys only where measured.
 * Figures, never a pass/fail test: the machine decides them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define NS_PER_S 1000000000LL
#define MB 1e6                     /* the unit of every MB/s figure */
#define CHUNK (1 << 20)            /* limits: bytes per write(2) */
#define LOOPBACK_MAX_NS (2 * NS_PER_S)
#define QUEUE_MSGS "1000000"       /* queue.buffering.max.messages */
#define QUEUE_KBYTES "1048576"     /* queue.buffering.max.kbytes: 1 GiB */
#define CONSUMER_QUEUE_KB "262144" /* queued.max.messages.kbytes: 256 MiB */
#define MSG_MAX_DEFAULT 1000000    /* librdkafka's message.max.bytes */
#define TOPIC_WAIT_MS 30000        /* longest wait for a topic's leaders */
#define FLUSH_MS 60000             /* longest wait for delivery reports */
#define IDLE_NS (30 * NS_PER_S)    /* consume: give up after this silence */
#define DRAIN_NS (5 * NS_PER_S)    /* latency: wait after the last send */
#define CONSUME_FETCH_WAIT_MS 10   /* consume: long-poll at the log end */

/* What `run` or `limits` was asked to do; the defaults are in main. */
/* At most this many --conf settings (security.protocol, ssl.*, sasl.*). */
#define MAX_CONF 8

struct options {
	const char *bootstrap, *topic, *mode, *acks, *dir;
	long size, records, passes, partitions, producers, linger_ms, batch_bytes;
	long mb; /* limits: MiB to send and to write */
	double seconds, rate;
	bool create;
	const char *conf[MAX_CONF]; /* --conf key=value, for every handle */
	int n_conf;
};

/* One producer: its own rd_kafka_t and the timing of every record it
 * sends. The delivery report callback runs in whichever thread calls
 * rd_kafka_poll: the sending thread (produce) or one poller (latency). */
struct producer {
	const struct options *opt; /* borrowed: from main */
	rd_kafka_t *rk;            /* owned */
	rd_kafka_topic_t *rkt;     /* owned */
	long index;                /* 0..K-1: where its round-robin starts */
	long count;                /* records to send */
	const char *payload;       /* borrowed: produce mode's shared value */
	int64_t *sent_ns;          /* owned: send (or due) time of record i */
	int64_t *ack_ns;           /* owned: report time - sent_ns, acked ones */
	long acked, failed;        /* delivery reports so far */
	rd_kafka_resp_err_t first_error;
	int64_t last_report_ns;
};

/* What one run moved and how long it took; latencies in ns. */
struct results {
	long records;
	uint64_t bytes;
	int64_t ns;
	int64_t *ack, *e2e; /* owned; NULL when not measured */
	long ack_n, e2e_n;
};

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static void sleep_until(int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / NS_PER_S, .tv_nsec = ns % NS_PER_S};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("samsa_bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		die("out of memory");
	return p;
}

/* The orchestrator reads the broker's CPU time when it sees these. */
static void mark(const char *what)
{
	printf("MARK %s\n", what);
	fflush(stdout);
}

/* ---- librdkafka handles ---- */

static void conf_set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
	char err[512];
	if (rd_kafka_conf_set(conf, key, value, err, sizeof err) != RD_KAFKA_CONF_OK)
		die("%s=%s: %s", key, value, err);
}

static void conf_set_long(rd_kafka_conf_t *conf, const char *key, long value)
{
	char text[32];
	snprintf(text, sizeof text, "%ld", value);
	conf_set(conf, key, text);
}

/* A new configuration with the bootstrap servers and every --conf
 * key=value (how the TLS bench points the same client at an SSL port). */
static rd_kafka_conf_t *client_conf(const struct options *opt)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	conf_set(conf, "bootstrap.servers", opt->bootstrap);
	for (int i = 0; i < opt->n_conf; i++) {
		char key[128];
		const char *eq = strchr(opt->conf[i], '=');
		if (!eq || eq == opt->conf[i] || (size_t)(eq - opt->conf[i]) >= sizeof key)
			die("--conf %s: not key=value", opt->conf[i]);
		snprintf(key, sizeof key, "%.*s", (int)(eq - opt->conf[i]), opt->conf[i]);
		conf_set(conf, key, eq + 1);
	}
	return conf;
}

/* Returns owned (rd_kafka_destroy); takes conf. */
static rd_kafka_t *handle_new(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
	char err[512];
	rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
	if (!rk)
		die("rd_kafka_new: %s", err);
	return rk;
}

/* The producer settings of every produce mode, whatever the broker: big
 * local queues (the client must not be the bottleneck), no compression,
 * no idempotence. A batch holds batch.size bytes, and message.max.bytes
 * (which also caps a batch) is raised to fit batches of big records. */
static rd_kafka_conf_t *producer_conf(const struct options *opt)
{
	rd_kafka_conf_t *conf = client_conf(opt);
	conf_set(conf, "acks", opt->acks);
	conf_set_long(conf, "linger.ms", opt->linger_ms);
	conf_set(conf, "compression.codec", "none");
	conf_set(conf, "enable.idempotence", "false");
	conf_set(conf, "queue.buffering.max.messages", QUEUE_MSGS);
	conf_set(conf, "queue.buffering.max.kbytes", QUEUE_KBYTES);
	if (opt->batch_bytes > 0)
		conf_set_long(conf, "batch.size", opt->batch_bytes);
	long msg_max = MSG_MAX_DEFAULT;
	if (2 * opt->batch_bytes > msg_max)
		msg_max = 2 * opt->batch_bytes;
	if (2 * opt->size > msg_max)
		msg_max = 2 * opt->size;
	conf_set_long(conf, "message.max.bytes", msg_max);
	return conf;
}

/* A consumer that never joins its group: it only reads what
 * rd_kafka_assign gives it (librdkafka wants a group.id for that). */
static rd_kafka_t *consumer_open(const struct options *opt, long fetch_wait_ms)
{
	rd_kafka_conf_t *conf = client_conf(opt);
	conf_set(conf, "group.id", "samsa-bench");
	conf_set(conf, "enable.auto.commit", "false");
	conf_set(conf, "enable.auto.offset.store", "false");
	conf_set(conf, "enable.partition.eof", "false");
	conf_set(conf, "auto.offset.reset", "error"); /* a trimmed log fails */
	conf_set(conf, "queued.max.messages.kbytes", CONSUMER_QUEUE_KB);
	conf_set(conf, "fetch.min.bytes", "1");
	conf_set_long(conf, "fetch.wait.max.ms", fetch_wait_ms);
	rd_kafka_t *rk = handle_new(RD_KAFKA_CONSUMER, conf);
	rd_kafka_poll_set_consumer(rk);
	return rk;
}

/* True when metadata shows the topic with every partition led. */
static bool topic_ready(rd_kafka_t *rk, rd_kafka_topic_t *rkt, long partitions)
{
	const struct rd_kafka_metadata *md;
	if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return false;
	const rd_kafka_metadata_topic_t *t = &md->topics[0];
	bool ready = md->topic_cnt == 1 && t->err == RD_KAFKA_RESP_ERR_NO_ERROR &&
		     t->partition_cnt >= partitions;
	for (int i = 0; ready && i < t->partition_cnt; i++)
		ready = t->partitions[i].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
			t->partitions[i].leader >= 0;
	rd_kafka_metadata_destroy(md);
	return ready;
}

/* Waits until the topic can be used; this also connects the client, so
 * connection setup stays out of the measured phase. */
static void wait_for_topic(rd_kafka_t *rk, const char *topic, long partitions)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	int64_t deadline = mono_ns() + TOPIC_WAIT_MS * 1000000LL;
	while (!topic_ready(rk, rkt, partitions)) {
		if (mono_ns() > deadline)
			die("topic %s: no leader for its %ld partitions", topic,
			    partitions);
		rd_kafka_poll(rk, 100);
	}
	rd_kafka_topic_destroy(rkt);
}

/* --create: the topic through the Admin API (CreateTopics). */
static void create_topic(const struct options *opt)
{
	char err[512];
	rd_kafka_conf_t *conf = client_conf(opt);
	rd_kafka_t *rk = handle_new(RD_KAFKA_PRODUCER, conf);
	rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(
		opt->topic, (int)opt->partitions, 1, err, sizeof err);
	if (!nt)
		die("NewTopic: %s", err);
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, TOPIC_WAIT_MS);
	if (!ev || rd_kafka_event_error(ev))
		die("CreateTopics: %s", ev ? rd_kafka_event_error_string(ev) : "timed out");
	size_t n;
	const rd_kafka_topic_result_t **res = rd_kafka_CreateTopics_result_topics(
		rd_kafka_event_CreateTopics_result(ev), &n);
	rd_kafka_resp_err_t e = n == 1 ? rd_kafka_topic_result_error(res[0])
				       : RD_KAFKA_RESP_ERR__BAD_MSG;
	if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
		die("CreateTopics %s: %s", opt->topic, rd_kafka_err2str(e));
	rd_kafka_event_destroy(ev);
	rd_kafka_queue_destroy(q);
	rd_kafka_NewTopic_destroy(nt);
	wait_for_topic(rk, opt->topic, opt->partitions);
	rd_kafka_destroy(rk);
}

/* ---- Producers ---- */

/* Delivery report: record i (the message opaque) is acknowledged. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct producer *p = opaque;
	int64_t now = mono_ns();
	if (m->err) {
		if (p->failed++ == 0)
			p->first_error = m->err;
		return;
	}
	p->ack_ns[p->acked++] = now - p->sent_ns[(uintptr_t)m->_private];
	p->last_report_ns = now;
}

/* Returns owned (producer_close); a connected producer of count records. */
static struct producer *producer_open(const struct options *opt, long index,
				      long count)
{
	struct producer *p = xcalloc(1, sizeof *p);
	p->opt = opt;
	p->index = index;
	p->count = count;
	p->sent_ns = xcalloc((size_t)count, sizeof *p->sent_ns);
	p->ack_ns = xcalloc((size_t)count, sizeof *p->ack_ns);
	rd_kafka_conf_t *conf = producer_conf(opt);
	rd_kafka_conf_set_opaque(conf, p);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	p->rk = handle_new(RD_KAFKA_PRODUCER, conf);
	p->rkt = rd_kafka_topic_new(p->rk, opt->topic, NULL);
	wait_for_topic(p->rk, opt->topic, opt->partitions);
	return p;
}

static void producer_close(struct producer *p)
{
	rd_kafka_topic_destroy(p->rkt);
	rd_kafka_destroy(p->rk);
	free(p->sent_ns);
	free(p->ack_ns);
	free(p);
}

/* Hands record i to librdkafka; false when its queue is full. flags 0
 * lends value (it must outlive the delivery), RD_KAFKA_MSG_F_COPY copies. */
static bool try_send(struct producer *p, long i, const void *value, int flags)
{
	int32_t partition = (int32_t)((p->index + i) % p->opt->partitions);
	if (rd_kafka_produce(p->rkt, partition, flags, (void *)value,
			     (size_t)p->opt->size, NULL, 0, (void *)(uintptr_t)i) == 0)
		return true;
	rd_kafka_resp_err_t err = rd_kafka_last_error();
	if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
		die("produce: %s", rd_kafka_err2str(err));
	return false;
}

/* Thread body of produce mode: send every record as fast as the local
 * queue allows, serving delivery reports as we go, then wait for the last
 * ones. A full queue waits for deliveries; the send time is taken again. */
static void *send_all(void *arg)
{
	struct producer *p = arg;
	for (long i = 0; i < p->count; i++) {
		p->sent_ns[i] = mono_ns();
		while (!try_send(p, i, p->payload, 0)) {
			rd_kafka_poll(p->rk, 1);
			p->sent_ns[i] = mono_ns();
		}
		rd_kafka_poll(p->rk, 0);
	}
	rd_kafka_flush(p->rk, FLUSH_MS);
	return NULL;
}

/* Exits unless every record of p was delivered. */
static void check_deliveries(const struct producer *p)
{
	if (p->failed)
		die("%ld of %ld records failed, first: %s", p->failed, p->count,
		    rd_kafka_err2name(p->first_error));
	if (p->acked != p->count)
		die("only %ld of %ld records acknowledged in %d ms", p->acked,
		    p->count, FLUSH_MS);
}

/* Copies every producer's ack latencies into res. */
static void collect_acks(struct producer **ps, long k, struct results *res)
{
	res->ack = xcalloc((size_t)res->records, sizeof *res->ack);
	for (long i = 0; i < k; i++) {
		memcpy(res->ack + res->ack_n, ps[i]->ack_ns,
		       (size_t)ps[i]->acked * sizeof *res->ack);
		res->ack_n += ps[i]->acked;
	}
}

/* --records records from --producers threads; measured prints the MARKs
 * and fills res with throughput and ack latency. */
static void produce_records(const struct options *opt, bool measured,
			    struct results *res)
{
	long k = opt->producers;
	struct producer **ps = xcalloc((size_t)k, sizeof *ps);
	pthread_t *threads = xcalloc((size_t)k, sizeof *threads);
	char *payload = xcalloc(1, (size_t)opt->size);
	memset(payload, 'x', (size_t)opt->size);
	for (long i = 0; i < k; i++) {
		ps[i] = producer_open(opt, i, opt->records / k + (i < opt->records % k));
		ps[i]->payload = payload;
	}
	if (measured)
		mark("start");
	int64_t t0 = mono_ns(), end = t0;
	for (long i = 0; i < k; i++)
		pthread_create(&threads[i], NULL, send_all, ps[i]);
	for (long i = 0; i < k; i++) {
		pthread_join(threads[i], NULL);
		if (ps[i]->last_report_ns > end)
			end = ps[i]->last_report_ns;
	}
	if (measured)
		mark("end");
	for (long i = 0; i < k; i++)
		check_deliveries(ps[i]);
	if (measured) {
		res->records = opt->records;
		res->bytes = (uint64_t)opt->records * (uint64_t)opt->size;
		res->ns = end - t0;
		collect_acks(ps, k, res);
	}
	for (long i = 0; i < k; i++)
		producer_close(ps[i]);
	free(ps);
	free(threads);
	free(payload);
}

/* ---- Consumers ---- */

/* Assigns partitions 0..P-1 of the topic, partition i at offsets[i]. */
static void assign_at(rd_kafka_t *rk, const struct options *opt,
		      const int64_t *offsets)
{
	rd_kafka_topic_partition_list_t *list =
		rd_kafka_topic_partition_list_new((int)opt->partitions);
	for (long i = 0; i < opt->partitions; i++)
		rd_kafka_topic_partition_list_add(list, opt->topic, (int32_t)i)
			->offset = offsets[i];
	rd_kafka_resp_err_t err = rd_kafka_assign(rk, list);
	rd_kafka_topic_partition_list_destroy(list);
	if (err)
		die("assign: %s", rd_kafka_err2str(err));
}

/* Returns owned (rd_kafka_message_destroy) the next record, or NULL after
 * timeout_ms; exits on a consumer error. */
static rd_kafka_message_t *next_record(rd_kafka_t *rk, int timeout_ms)
{
	rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, timeout_ms);
	if (m && m->err)
		die("consume: %s", rd_kafka_message_errstr(m));
	return m;
}

/* Reads want more records into res; returns when the last one arrived. */
static int64_t read_records(rd_kafka_t *rk, long want, struct results *res)
{
	int64_t last = mono_ns();
	for (long got = 0; got < want;) {
		rd_kafka_message_t *m = next_record(rk, 100);
		int64_t now = mono_ns();
		if (!m && now - last > IDLE_NS)
			die("consume: %ld of %ld records, then nothing for %lld s",
			    got, want, IDLE_NS / NS_PER_S);
		if (!m)
			continue;
		got++;
		res->records++;
		res->bytes += m->len;
		last = now;
		rd_kafka_message_destroy(m);
	}
	return last;
}

/* consume mode: produce a log of records/passes records, then time reading
 * it from offset 0, passes times. The mock keeps only the last 5 MiB of a
 * partition (rdkafka_mock.c), so a long read of it must re-read a short
 * log; samsa is given the same passes. Each pass is timed from its assign
 * to its last record. Between passes, untimed, the consumer is unassigned
 * and waits out its long-poll fetch at the log end, which would otherwise
 * hold up the next pass by up to fetch.wait.max.ms. */
static void run_consume(const struct options *opt, struct results *res)
{
	struct options log = *opt;
	log.records = opt->records / opt->passes;
	if (log.records < 1)
		die("--passes %ld is more than --records %ld", opt->passes, opt->records);
	produce_records(&log, false, res);
	rd_kafka_t *rk = consumer_open(opt, CONSUME_FETCH_WAIT_MS);
	wait_for_topic(rk, opt->topic, opt->partitions);
	int64_t *zeros = xcalloc((size_t)opt->partitions, sizeof *zeros);
	mark("start");
	for (long pass = 0; pass < opt->passes; pass++) {
		if (pass > 0) {
			rd_kafka_assign(rk, NULL);
			sleep_until(mono_ns() + 2 * CONSUME_FETCH_WAIT_MS * 1000000LL);
		}
		int64_t t0 = mono_ns();
		assign_at(rk, opt, zeros);
		res->ns += read_records(rk, log.records, res) - t0;
	}
	mark("end");
	free(zeros);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
}

/* ---- Latency: an open-loop producer and a consumer in one process ---- */

/* Shared by the pacer thread, the poller thread and main. */
struct pacer {
	struct producer *p;   /* borrowed: from run_latency */
	int64_t t0;           /* when record 0 is due */
	atomic_llong done_ns; /* when the last record was sent; 0 before */
	atomic_bool stop;     /* set by main: the poller returns */
};

/* Pacer thread: record i goes out at t0 + i/rate with its due time in
 * its first 8 bytes, whether or not earlier records were acknowledged. */
static void *send_on_schedule(void *arg)
{
	struct pacer *pc = arg;
	struct producer *p = pc->p;
	char *value = xcalloc(1, (size_t)p->opt->size);
	memset(value, 'x', (size_t)p->opt->size);
	for (long i = 0; i < p->count; i++) {
		int64_t due = pc->t0 + (int64_t)((double)i * NS_PER_S / p->opt->rate);
		sleep_until(due);
		memcpy(value, &due, sizeof due);
		p->sent_ns[i] = due;
		while (!try_send(p, i, value, RD_KAFKA_MSG_F_COPY))
			sleep_until(mono_ns() + 1000000);
	}
	atomic_store(&pc->done_ns, mono_ns());
	free(value);
	return NULL;
}

/* Poller thread: serves delivery reports the moment they arrive, so ack
 * times do not wait for the pacer's next send. */
static void *poll_reports(void *arg)
{
	struct pacer *pc = arg;
	while (!atomic_load(&pc->stop))
		rd_kafka_poll(pc->p->rk, 100);
	return NULL;
}

/* Assigns every partition at its current end: only what is sent from now
 * on will be read. */
static void assign_at_end(rd_kafka_t *rk, const struct options *opt)
{
	int64_t *offsets = xcalloc((size_t)opt->partitions, sizeof *offsets);
	for (long i = 0; i < opt->partitions; i++) {
		int64_t low;
		rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
			rk, opt->topic, (int32_t)i, &low, &offsets[i], 5000);
		if (err)
			die("watermarks of partition %ld: %s", i, rd_kafka_err2str(err));
	}
	assign_at(rk, opt, offsets);
	free(offsets);
	for (int64_t end = mono_ns() + NS_PER_S / 5; mono_ns() < end;) {
		rd_kafka_message_t *m = next_record(rk, 50); /* fetching starts */
		if (m)
			rd_kafka_message_destroy(m);
	}
}

/* Reads until every record arrived or DRAIN_NS after the last send;
 * e2e latency = arrival - due time from the payload. */
static void receive_all(rd_kafka_t *rk, struct pacer *pc, struct results *res)
{
	long count = pc->p->count;
	res->e2e = xcalloc((size_t)count, sizeof *res->e2e);
	while (res->e2e_n < count) {
		int64_t done = atomic_load(&pc->done_ns);
		if (done && mono_ns() > done + DRAIN_NS)
			break;
		rd_kafka_message_t *m = next_record(rk, 100);
		if (!m)
			continue;
		int64_t now = mono_ns(), due;
		if (m->len >= sizeof due) {
			memcpy(&due, m->payload, sizeof due);
			res->e2e[res->e2e_n++] = now - due;
		}
		rd_kafka_message_destroy(m);
	}
}

/* latency mode: --rate records/s for --seconds, acks and e2e per record. */
static void run_latency(const struct options *opt, struct results *res)
{
	if (opt->size < 8)
		die("latency mode needs --size >= 8 (the due time)");
	long count = (long)(opt->rate * opt->seconds);
	rd_kafka_t *consumer = consumer_open(opt, 100);
	wait_for_topic(consumer, opt->topic, opt->partitions);
	assign_at_end(consumer, opt);
	struct pacer pc = {.p = producer_open(opt, 0, count)};
	pthread_t pacer, poller;
	mark("start");
	pc.t0 = mono_ns();
	pthread_create(&pacer, NULL, send_on_schedule, &pc);
	pthread_create(&poller, NULL, poll_reports, &pc);
	receive_all(consumer, &pc, res);
	int64_t end = mono_ns();
	mark("end");
	pthread_join(pacer, NULL);
	atomic_store(&pc.stop, true);
	pthread_join(poller, NULL);
	rd_kafka_flush(pc.p->rk, FLUSH_MS);
	check_deliveries(pc.p);
	if (res->e2e_n < count)
		die("only %ld of %ld records reached the consumer", res->e2e_n, count);
	res->records = count;
	res->bytes = (uint64_t)count * (uint64_t)opt->size;
	res->ns = end - pc.t0;
	collect_acks(&pc.p, 1, res);
	producer_close(pc.p);
	rd_kafka_consumer_close(consumer);
	rd_kafka_destroy(consumer);
}

/* ---- Results ---- */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* ,"NAME_p50_ms":F,... by nearest rank (the ceil(q*n)-th smallest). */
static void print_percentiles(const char *name, int64_t *ns, long n)
{
	static const struct {
		const char *key;
		double q;
	} qs[] = {{"p50", 0.50}, {"p99", 0.99}, {"p999", 0.999}};
	if (!ns || n == 0)
		return;
	qsort(ns, (size_t)n, sizeof *ns, cmp_i64);
	for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
		long rank = (long)ceil(qs[i].q * (double)n);
		printf(",\"%s_%s_ms\":%.3f", name, qs[i].key,
		       (double)ns[rank > 0 ? rank - 1 : 0] / 1e6);
	}
}

static void print_results(struct results *r)
{
	double s = (double)r->ns / 1e9;
	printf("{\"records\":%ld,\"bytes\":%" PRIu64 ",\"seconds\":%.6f,"
	       "\"records_per_s\":%.1f,\"mb_per_s\":%.3f",
	       r->records, r->bytes, s, (double)r->records / s,
	       (double)r->bytes / MB / s);
	print_percentiles("ack", r->ack, r->ack_n);
	print_percentiles("e2e", r->e2e, r->e2e_n);
	printf("}\n");
	fflush(stdout);
}

/* ---- Machine limits ---- */

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write: %s", strerror(errno));
		buf += n;
		len -= (size_t)n;
	}
}

/* The sending end of the loopback stream. */
struct stream {
	struct sockaddr_in addr; /* the receiver's 127.0.0.1 port */
	long chunks;             /* at most this many CHUNKs */
};

/* Sender thread: CHUNK writes until chunks are sent or 2 s are over. */
static void *stream_send(void *arg)
{
	struct stream *s = arg;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&s->addr, sizeof s->addr))
		die("loopback connect: %s", strerror(errno));
	char *buf = xcalloc(1, CHUNK);
	memset(buf, 'x', CHUNK);
	int64_t stop = mono_ns() + LOOPBACK_MAX_NS;
	for (long i = 0; i < s->chunks && mono_ns() < stop; i++)
		write_all(fd, buf, CHUNK);
	close(fd);
	free(buf);
	return NULL;
}

/* MB/s of one TCP stream over 127.0.0.1, as the receiver sees it. */
static double loopback_mb_s(long chunks)
{
	struct stream s = {.addr = {.sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)},
			   .chunks = chunks};
	socklen_t len = sizeof s.addr;
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0 || bind(ls, (struct sockaddr *)&s.addr, sizeof s.addr) ||
	    listen(ls, 1) || getsockname(ls, (struct sockaddr *)&s.addr, &len))
		die("loopback listen: %s", strerror(errno));
	pthread_t sender;
	pthread_create(&sender, NULL, stream_send, &s);
	int fd = accept(ls, NULL, NULL);
	if (fd < 0)
		die("loopback accept: %s", strerror(errno));
	char *buf = xcalloc(1, CHUNK);
	uint64_t got = 0;
	ssize_t n;
	int64_t t0 = mono_ns();
	while ((n = read(fd, buf, CHUNK)) > 0)
		got += (uint64_t)n;
	int64_t ns = mono_ns() - t0;
	pthread_join(sender, NULL);
	close(fd);
	close(ls);
	free(buf);
	return (double)got / MB / ((double)ns / 1e9);
}

/* MB/s of buffered write(2) calls into a fresh file in dir (no fsync:
 * the page cache takes them); the file is removed afterwards. */
static double disk_write_mb_s(const char *dir, long chunks)
{
	char path[4200];
	snprintf(path, sizeof path, "%.4000s/samsa-bench-write-XXXXXX", dir);
	int fd = mkstemp(path);
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	char *buf = xcalloc(1, CHUNK);
	memset(buf, 'x', CHUNK);
	int64_t t0 = mono_ns();
	for (long i = 0; i < chunks; i++)
		write_all(fd, buf, CHUNK);
	close(fd);
	int64_t ns = mono_ns() - t0;
	unlink(path);
	free(buf);
	return (double)chunks * CHUNK / MB / ((double)ns / 1e9);
}

/* ---- The peer: librdkafka's mock cluster ---- */

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

/* Returns on SIGTERM or SIGINT, or at EOF on stdin when stdin is a pipe
 * or socket (a terminal or /dev/null never ends the wait). */
static void wait_for_stop(void)
{
	struct sigaction sa = {.sa_handler = on_stop_signal}; /* no SA_RESTART */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	struct stat st;
	bool watch = fstat(0, &st) == 0 &&
		     (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
	while (!stop_signal) {
		struct pollfd pfd = {.fd = 0, .events = POLLIN};
		char buf[256];
		if (poll(&pfd, watch ? 1 : 0, 500) > 0 && read(0, buf, sizeof buf) <= 0)
			return;
	}
}

/* ---- Command line ---- */

static void usage(void)
{
	fputs("usage: samsa_bench mock --topic NAME:PARTITIONS [--topic ...]\n"
	      "       samsa_bench limits --dir DIR [--mb N]\n"
	      "       samsa_bench run --bootstrap B --topic T"
	      " --mode produce|consume|latency --size BYTES\n"
	      "           [--acks 1|all] [--records N] [--passes R] [--seconds S]"
	      " [--rate R]\n"
	      "           [--partitions P] [--producers K] [--linger MS]"
	      " [--batch-bytes N] [--create]\n"
	      "           [--conf KEY=VALUE]... (librdkafka settings, e.g. "
	      "security.protocol=ssl)\n", stderr);
	exit(2);
}

/* The number in text, at least min; exits otherwise. */
static double number(const char *flag, const char *text, double min)
{
	char *end;
	errno = 0;
	double v = strtod(text, &end);
	if (errno || end == text || *end || !(v >= min))
		die("%s: '%s' is not a number >= %g", flag, text, min);
	return v;
}

/* One --flag of run or limits and where its value goes: text, a whole
 * number or a real number, each number at least min. */
struct flag {
	const char *name;
	const char **text;
	long *whole;
	double *real;
	double min;
};

/* Fills o from argv[2..]; exits on an unknown flag or a bad value. */
static void parse_flags(int argc, char **argv, struct options *o)
{
	const struct flag flags[] = {
		{"--bootstrap", .text = &o->bootstrap},
		{"--topic", .text = &o->topic},
		{"--mode", .text = &o->mode},
		{"--acks", .text = &o->acks},
		{"--dir", .text = &o->dir},
		{"--size", .whole = &o->size, .min = 1},
		{"--records", .whole = &o->records, .min = 1},
		{"--passes", .whole = &o->passes, .min = 1},
		{"--partitions", .whole = &o->partitions, .min = 1},
		{"--producers", .whole = &o->producers, .min = 1},
		{"--linger", .whole = &o->linger_ms, .min = 0},
		{"--batch-bytes", .whole = &o->batch_bytes, .min = 1},
		{"--mb", .whole = &o->mb, .min = 1},
		{"--seconds", .real = &o->seconds, .min = 0.001},
		{"--rate", .real = &o->rate, .min = 0.001},
	};
	size_t n = sizeof flags / sizeof flags[0];
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--create")) {
			o->create = true;
			continue;
		}
		if (!strcmp(argv[i], "--conf") && i + 1 < argc) {
			if (o->n_conf == MAX_CONF)
				die("more than %d --conf settings", MAX_CONF);
			o->conf[o->n_conf++] = argv[++i];
			continue;
		}
		const struct flag *f = flags;
		while (f < flags + n && strcmp(f->name, argv[i]))
			f++;
		if (f == flags + n || ++i == argc)
			usage();
		if (f->text)
			*f->text = argv[i];
		else if (f->whole)
			*f->whole = (long)number(f->name, argv[i], f->min);
		else
			*f->real = number(f->name, argv[i], f->min);
	}
}

/* mock: the peer broker, serving until told to stop. */
static int cmd_mock(int argc, char **argv)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	conf_set(conf, "log_level", "4"); /* not "no bootstrap.servers" */
	rd_kafka_t *rk = handle_new(RD_KAFKA_PRODUCER, conf);
	rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
	if (!mc)
		die("could not start the mock cluster");
	for (int i = 2; i < argc; i += 2) {
		if (strcmp(argv[i], "--topic") || i + 1 == argc)
			usage();
		char name[256];
		const char *colon = strrchr(argv[i + 1], ':');
		long parts = colon ? (long)number("--topic", colon + 1, 1) : 1;
		snprintf(name, sizeof name, "%.*s",
			 colon ? (int)(colon - argv[i + 1]) : 255, argv[i + 1]);
		if (rd_kafka_mock_topic_create(mc, name, (int)parts, 1))
			die("mock topic %s: could not create", name);
	}
	printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);
	wait_for_stop();
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}

/* limits: the loopback and page-cache ceilings, --mb MiB each. */
static int cmd_limits(const struct options *opt)
{
	if (!opt->dir)
		usage();
	printf("loopback_mb_s %.1f\n", loopback_mb_s(opt->mb));
	fflush(stdout);
	printf("disk_write_mb_s %.1f\n", disk_write_mb_s(opt->dir, opt->mb));
	fflush(stdout);
	return 0;
}

static void run_produce(const struct options *opt, struct results *res)
{
	produce_records(opt, true, res);
}

/* run: one measured phase of the chosen mode, then its JSON line. */
static int cmd_run(const struct options *opt)
{
	static const struct {
		const char *name;
		void (*run)(const struct options *opt, struct results *res);
	} modes[] = {{"produce", run_produce}, {"consume", run_consume},
		     {"latency", run_latency}};
	size_t m = 0, n = sizeof modes / sizeof modes[0];
	while (m < n && opt->mode && strcmp(modes[m].name, opt->mode))
		m++;
	if (m == n || !opt->bootstrap || !opt->topic || !opt->size ||
	    (strcmp(opt->acks, "1") && strcmp(opt->acks, "all")))
		usage();
	if (opt->create)
		create_topic(opt);
	struct results res = {0};
	modes[m].run(opt, &res);
	print_results(&res);
	free(res.ack);
	free(res.e2e);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc >= 2 ? argv[1] : "";
	if (!strcmp(cmd, "mock"))
		return cmd_mock(argc, argv);
	struct options opt = {.acks = "1", .records = 100000, .passes = 1,
			      .partitions = 1, .producers = 1, .linger_ms = 5,
			      .mb = 1024, .seconds = 5, .rate = 5000};
	parse_flags(argc, argv, &opt);
	if (!strcmp(cmd, "limits"))
		return cmd_limits(&opt);
	if (!strcmp(cmd, "run"))
		return cmd_run(&opt);
	usage();
}
