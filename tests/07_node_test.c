/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07's node files on real sockets, in one process: three quorum
 * nodes, each on its own chapter 05 server with a CONTROLLER listener on
 * 127.0.0.1, take turns on one thread. They elect one leader, replicate
 * what it proposes, apply it to the same image, survive the leader's
 * disappearance, and the controller node answers a BrokerRegistration only
 * once its record is committed.
 */
#include "testutil.h"

#include <inttypes.h>

#include "00_base.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"
#include "07_controller.h"
#include "07_metadata.h"
#include "07_node.h"
#include "07_raft.h"

#define N 3

struct trio {
	char *dir;
	struct net_server *srv[N];
	struct raft_node *node[N];
	struct ctrl_node *ctrl[N];
	struct topic_manager *tm[N];
	int port[N];
	bool down[N];
};

/* Listen first (port 0), then tell every node where the others are. */
static void trio_open(struct trio *t, bool controllers)
{
	memset(t, 0, sizeof *t);
	t->dir = tu_tmpdir();
	for (int i = 0; i < N; i++) {
		struct net_config nc;
		net_config_defaults(&nc);
		assert_int_equal(net_server_new(&nc, &t->srv[i]), KB_OK);
		struct net_endpoint ep = {"127.0.0.1", 0, NET_LISTENER_CONTROLLER};
		assert_int_equal(net_listen_at(t->srv[i], &ep, &t->port[i]), KB_OK);
	}
	for (int i = 0; i < N; i++) {
		struct raft_node_config c;
		memset(&c, 0, sizeof c);
		raft_config_defaults(&c.raft);
		c.raft.node_id = i + 1;
		c.raft.n_voters = N;
		c.raft.election_timeout_ms = 300;
		c.raft.fetch_timeout_ms = 600;
		c.raft.request_timeout_ms = 600;
		c.raft.seed = (uint64_t)i * 7919 + 1;
		snprintf(c.raft.cluster_id, sizeof c.raft.cluster_id, "%s",
			 "MkU3OEVBNTcwNTJENDM2Qk");
		for (int k = 0; k < N; k++) {
			c.raft.voters[k] = k + 1;
			c.voters[k].id = k + 1;
			snprintf(c.voters[k].host, sizeof c.voters[k].host, "127.0.0.1");
			c.voters[k].port = t->port[k];
		}
		snprintf(c.log_dir, sizeof c.log_dir, "%s/node%d", t->dir, i + 1);
		assert_int_equal(mkdir(c.log_dir, 0755), 0);
		assert_int_equal(raft_node_open(t->srv[i], &c, &t->node[i]), KB_OK);
		if (!controllers)
			continue;
		struct topic_broker_config tc;
		topic_broker_config_defaults(&tc);
		tc.node_id = i + 1;
		snprintf(tc.log_dir, sizeof tc.log_dir, "%s/node%d/topics", t->dir, i + 1);
		assert_int_equal(mkdir(tc.log_dir, 0755), 0);
		assert_int_equal(topic_manager_open(&tc, t->srv[i], &t->tm[i]), KB_OK);
		struct ctrl_config cc = {i + 1, "MkU3OEVBNTcwNTJENDM2Qk", 9000, 1, 1, 1,
					 true, 1, t->tm[i]};
		assert_int_equal(ctrl_node_open(t->srv[i], t->node[i], &cc,
						&t->ctrl[i]), KB_OK);
	}
}

static void trio_close(struct trio *t)
{
	for (int i = 0; i < N; i++) {
		ctrl_node_close(t->ctrl[i]);
		if (t->node[i])
			raft_node_close(t->node[i]);
		net_server_free(t->srv[i]);
		if (t->tm[i])
			topic_manager_close(t->tm[i]);
	}
	tu_rmrf(t->dir);
}

/* One turn of every running server. */
static void trio_turn(struct trio *t)
{
	for (int i = 0; i < N; i++)
		if (!t->down[i])
			net_run_once(t->srv[i], 1);
}

/* The one node that leads, once every running node agrees; -1 if none. */
static int trio_leader(struct trio *t)
{
	int leader = -1;
	for (int i = 0; i < N; i++) {
		if (t->down[i])
			continue;
		if (raft_node_state(t->node[i]) == RAFT_LEADER) {
			if (leader >= 0)
				return -1;
			leader = i;
		}
	}
	if (leader < 0)
		return -1;
	int32_t id = raft_node_quorum(t->node[leader]).leader_id;
	for (int i = 0; i < N; i++)
		if (!t->down[i] && raft_node_quorum(t->node[i]).leader_id != id)
			return -1;
	return leader;
}

static int trio_wait_leader(struct trio *t, int64_t ms)
{
	int64_t end = kb_mono_ms() + ms;
	int l;
	while ((l = trio_leader(t)) < 0 && kb_mono_ms() < end)
		trio_turn(t);
	return l;
}

/* A TopicRecord named name, framed as the metadata log holds it. */
static void topic_record(const char *name, uint8_t id_byte, struct kb_buf *out)
{
	struct meta_record rec;
	meta_record_init(&rec, META_TOPIC, 0);
	rec.name = (struct wire_str){name, (int16_t)strlen(name)};
	memset(rec.topic_id.b, id_byte, sizeof rec.topic_id.b);
	assert_int_equal(meta_record_encode(&rec, out), KB_OK);
}

static bool all_see(struct trio *t, const char *topic)
{
	for (int i = 0; i < N; i++)
		if (!t->down[i] && !meta_topic_find(raft_node_image(t->node[i]), topic))
			return false;
	return true;
}

static void propose_topic(struct trio *t, int leader, const char *name,
			  uint8_t id_byte)
{
	struct kb_buf b;
	kb_buf_init(&b);
	topic_record(name, id_byte, &b);
	struct raft_record r = {b.data, b.len};
	int64_t last;
	assert_int_equal(raft_node_propose(t->node[leader], &r, 1, &last), KB_OK);
	kb_buf_fini(&b);
	int64_t end = kb_mono_ms() + 5000;
	while (!all_see(t, name) && kb_mono_ms() < end)
		trio_turn(t);
	assert_true(all_see(t, name));
}

static void three_nodes_elect_one_leader_and_apply_what_it_proposes(void **state)
{
	(void)state;
	struct trio t;
	trio_open(&t, false);
	int l = trio_wait_leader(&t, 10000);
	assert_true(l >= 0);
	propose_topic(&t, l, "orders", 7);
	for (int i = 0; i < N; i++) {
		assert_true(raft_node_applied(t.node[i]) > 0);
		raft_node_check(t.node[i]);
	}
	trio_close(&t);
}

/* 300 records in one batch: every follower's high watermark, told in
 * Fetch answers, must pass 255 (the node marks a Vote answer as a
 * pre-vote's in raft_msg's union; done on a Fetch answer it zeroed the
 * high watermark's second byte and the followers stalled below 256). */
static void followers_apply_past_offset_255(void **state)
{
	(void)state;
	struct trio t;
	trio_open(&t, false);
	int l = trio_wait_leader(&t, 10000);
	assert_true(l >= 0);
	enum { MANY = 300 };
	struct kb_buf b[MANY];
	struct raft_record r[MANY];
	for (int i = 0; i < MANY; i++) {
		char name[16];
		snprintf(name, sizeof name, "t%03d", i);
		kb_buf_init(&b[i]);
		struct meta_record rec; /* topic ids of their own: 0x5a.., i */
		meta_record_init(&rec, META_TOPIC, 0);
		rec.name = (struct wire_str){name, (int16_t)strlen(name)};
		memset(rec.topic_id.b, 0x5a, sizeof rec.topic_id.b);
		rec.topic_id.b[0] = (uint8_t)(i >> 8);
		rec.topic_id.b[1] = (uint8_t)i;
		assert_int_equal(meta_record_encode(&rec, &b[i]), KB_OK);
		r[i] = (struct raft_record){b[i].data, b[i].len};
	}
	int64_t last;
	assert_int_equal(raft_node_propose(t.node[l], r, MANY, &last), KB_OK);
	assert_true(last > 256);
	for (int i = 0; i < MANY; i++)
		kb_buf_fini(&b[i]);
	int64_t end = kb_mono_ms() + 5000;
	while (!all_see(&t, "t299") && kb_mono_ms() < end)
		trio_turn(&t);
	assert_true(all_see(&t, "t299"));
	for (int i = 0; i < N; i++)
		assert_true(raft_node_applied(t.node[i]) > last);
	trio_close(&t);
}

static void a_new_leader_is_elected_when_the_leader_goes_silent(void **state)
{
	(void)state;
	struct trio t;
	trio_open(&t, false);
	int l = trio_wait_leader(&t, 10000);
	assert_true(l >= 0);
	propose_topic(&t, l, "before", 1);
	int32_t epoch = raft_node_quorum(t.node[l]).leader_epoch;
	t.down[l] = true; /* like SIGSTOP: its server no longer turns */
	int l2 = trio_wait_leader(&t, 10000);
	assert_true(l2 >= 0 && l2 != l);
	assert_true(raft_node_quorum(t.node[l2]).leader_epoch > epoch);
	propose_topic(&t, l2, "after", 2);
	t.down[l] = false; /* SIGCONT: it learns and follows */
	int64_t end = kb_mono_ms() + 10000;
	while ((!all_see(&t, "after") || trio_leader(&t) != l2) && kb_mono_ms() < end)
		trio_turn(&t);
	assert_true(all_see(&t, "after"));
	assert_int_equal(trio_leader(&t), l2);
	trio_close(&t);
}

/* ---- The controller node: registration answered at commit ---- */

struct answer {
	bool done;
	int status;
	struct ctrl_registration_resp resp;
};

static void on_registration(void *ctx, int status, struct wire_reader *body)
{
	struct answer *a = ctx;
	a->done = true;
	a->status = status;
	if (status == KB_OK)
		assert_int_equal(ctrl_registration_resp_decode(body, 0, &a->resp), KB_OK);
}

static void register_broker(struct trio *t, int at, int32_t broker_id,
			    struct answer *a)
{
	struct meta_endpoint ep = {{"PLAINTEXT", 9}, {"127.0.0.1", 9}, 9092, 0};
	struct ctrl_registration_req q = {
		broker_id, {"MkU3OEVBNTcwNTJENDM2Qk", 22}, {{1}}, {1, &ep}, {0, NULL},
		{"az1", 3}, false, {0, NULL}, -1};
	struct kb_buf body;
	kb_buf_init(&body);
	assert_int_equal(ctrl_registration_req_encode(&q, 0, &body), KB_OK);
	struct net_peer_config pc = {"127.0.0.1", t->port[at], "test", 5000, 100};
	struct net_peer *p;
	assert_int_equal(net_peer_open(t->srv[at], &pc, &p), KB_OK);
	struct net_call call = {WIRE_API_BROKER_REGISTRATION, 0, body.data, body.len,
				on_registration, a};
	assert_int_equal(net_peer_send(p, &call), KB_OK);
	kb_buf_fini(&body);
	int64_t end = kb_mono_ms() + 5000;
	while (!a->done && kb_mono_ms() < end)
		trio_turn(t);
	net_peer_close(p);
}

static void the_controller_answers_a_registration_once_it_is_committed(void **state)
{
	(void)state;
	struct trio t;
	trio_open(&t, true);
	int l = trio_wait_leader(&t, 10000);
	assert_true(l >= 0);
	int64_t end = kb_mono_ms() + 2000; /* active once its epoch's start applied */
	while (kb_mono_ms() < end)
		trio_turn(&t);
	struct answer a = {0};
	register_broker(&t, l, 5, &a);
	assert_true(a.done);
	assert_int_equal(a.status, KB_OK);
	assert_int_equal(a.resp.error_code, KAFKA_ERR_NONE);
	/* Answered means committed: the leader's image already has it. */
	const struct meta_broker *b = meta_broker_find(raft_node_image(t.node[l]), 5);
	assert_non_null(b);
	assert_int_equal(b->epoch, a.resp.broker_epoch);
	/* A follower is not the controller. */
	struct answer f = {0};
	register_broker(&t, (l + 1) % N, 6, &f);
	assert_true(f.done);
	assert_int_equal(f.resp.error_code, KAFKA_ERR_NOT_CONTROLLER);
	trio_close(&t);
}

/* ---- AlterPartition on the CONTROLLER listener ---- */

struct ap_answer {
	bool done;
	int status;
	struct ctrl_alter_partition_resp resp;
};

static void on_alter_partition(void *ctx, int status, struct wire_reader *body)
{
	struct ap_answer *a = ctx;
	a->done = true;
	a->status = status;
	if (status == KB_OK)
		assert_int_equal(ctrl_alter_partition_resp_decode(body, 3, &a->resp), KB_OK);
}

/* One AlterPartition v3 from broker_id at epoch to node at. */
static void alter_partition(struct trio *t, int at, int32_t broker_id,
			    int64_t epoch, struct ap_answer *a)
{
	struct ctrl_isr_member m = {broker_id, epoch};
	struct ctrl_alter_partition d = {0, 0, 1, &m, 0, 0};
	struct ctrl_alter_topic at_ = {{{7}}, {NULL, -1}, 1, &d};
	struct ctrl_alter_partition_req q = {broker_id, epoch, 1, &at_};
	struct kb_buf body;
	kb_buf_init(&body);
	assert_int_equal(ctrl_alter_partition_req_encode(&q, 3, &body), KB_OK);
	struct net_peer_config pc = {"127.0.0.1", t->port[at], "test", 5000, 100};
	struct net_peer *p;
	assert_int_equal(net_peer_open(t->srv[at], &pc, &p), KB_OK);
	struct net_call call = {WIRE_API_ALTER_PARTITION, 3, body.data, body.len,
				on_alter_partition, a};
	assert_int_equal(net_peer_send(p, &call), KB_OK);
	kb_buf_fini(&body);
	int64_t end = kb_mono_ms() + 5000;
	while (!a->done && kb_mono_ms() < end)
		trio_turn(t);
	net_peer_close(p);
}

/* The controller node serves AlterPartition: a stale broker epoch is
 * refused for the whole request, an unknown topic id per partition, and a
 * follower answers NOT_CONTROLLER in AlterPartition's own shape. */
static void the_controller_serves_alter_partition(void **state)
{
	(void)state;
	struct trio t;
	trio_open(&t, true);
	int l = trio_wait_leader(&t, 10000);
	assert_true(l >= 0);
	int64_t end = kb_mono_ms() + 2000;
	while (kb_mono_ms() < end)
		trio_turn(&t);
	struct answer r = {0};
	register_broker(&t, l, 5, &r);
	assert_int_equal(r.resp.error_code, KAFKA_ERR_NONE);
	struct ap_answer a = {0};
	alter_partition(&t, l, 5, r.resp.broker_epoch + 1, &a);
	assert_true(a.done);
	assert_int_equal(a.status, KB_OK);
	assert_int_equal(a.resp.error_code, KAFKA_ERR_STALE_BROKER_EPOCH);
	ctrl_alter_partition_resp_fini(&a.resp);
	struct ap_answer b = {0};
	alter_partition(&t, l, 5, r.resp.broker_epoch, &b);
	assert_int_equal(b.resp.error_code, KAFKA_ERR_NONE);
	assert_int_equal(b.resp.n_topics, 1);
	assert_int_equal(b.resp.topics[0].partitions[0].error_code,
			 KAFKA_ERR_UNKNOWN_TOPIC_ID);
	ctrl_alter_partition_resp_fini(&b.resp);
	struct ap_answer f = {0};
	alter_partition(&t, (l + 1) % N, 5, r.resp.broker_epoch, &f);
	assert_true(f.done);
	assert_int_equal(f.resp.error_code, KAFKA_ERR_NOT_CONTROLLER);
	ctrl_alter_partition_resp_fini(&f.resp);
	trio_close(&t);
}

int main(void)
{
	if (!getenv("SAMSA_TEST_LOGS")) tu_log_quiet();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(three_nodes_elect_one_leader_and_apply_what_it_proposes),
		cmocka_unit_test(followers_apply_past_offset_255),
		cmocka_unit_test(a_new_leader_is_elected_when_the_leader_goes_silent),
		cmocka_unit_test(the_controller_answers_a_registration_once_it_is_committed),
		cmocka_unit_test(the_controller_serves_alter_partition),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
