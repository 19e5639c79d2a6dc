/* SPDX-License-Identifier: MIT */
/*
 * Chapter 08's unit tests: the decisions replication makes, on their own —
 * when a follower counts as caught up, what high watermark an ISR allows,
 * who leaves the ISR, where a follower truncates — and the log's follower
 * append that keeps a leader's bytes. The wire and the processes are
 * tests/clients/test_replication.py's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "03_log.h"
#include "08_replication.h"

#define SELF 1
static uint8_t buf[1 << 16];

/* A led partition with ISR isr[0..n) and followers 2 and 3. */
static struct repl_part part_with(const int32_t *isr, int32_t n)
{
	struct repl_part p;
	memset(&p, 0, sizeof p);
	p.role = REPL_LEADER;
	p.leader_id = SELF;
	memcpy(p.isr, isr, (size_t)n * sizeof *isr);
	p.n_isr = n;
	p.f[0] = (struct repl_follower){2, -1, 0, 0, -1};
	p.f[1] = (struct repl_follower){3, -1, 0, 0, -1};
	p.nf = 2;
	return p;
}

static void test_a_follower_at_our_log_end_is_caught_up_now(void **state)
{
	(void)state;
	struct repl_follower f = {2, -1, 0, 0, -1};
	repl_follower_update(&f, 100, 100, 5000);
	assert_int_equal(f.leo, 100);
	assert_int_equal(f.caught_up_ms, 5000);
	/* behind, but where our end was at its previous fetch: caught up
	 * as of that fetch, not now */
	repl_follower_update(&f, 100, 150, 6000);
	assert_int_equal(f.caught_up_ms, 5000);
	repl_follower_update(&f, 150, 170, 7000);
	assert_int_equal(f.caught_up_ms, 6000);
	/* behind what we had last time: no progress counted */
	repl_follower_update(&f, 160, 200, 9000);
	assert_int_equal(f.caught_up_ms, 6000);
}

static void test_the_high_watermark_is_the_lowest_end_in_the_isr(void **state)
{
	(void)state;
	const int32_t isr[] = {SELF, 2, 3};
	struct repl_part p = part_with(isr, 3);
	/* a member that has not fetched in this leadership holds it */
	assert_int_equal(repl_hw_bound(&p, SELF, 100), -1);
	p.f[0].leo = 80;
	assert_int_equal(repl_hw_bound(&p, SELF, 100), -1);
	p.f[1].leo = 90;
	assert_int_equal(repl_hw_bound(&p, SELF, 100), 80);
	p.f[0].leo = 100;
	assert_int_equal(repl_hw_bound(&p, SELF, 100), 90);
	p.f[1].leo = 100;
	assert_int_equal(repl_hw_bound(&p, SELF, 100), 100);
}

static void test_a_replica_outside_the_isr_does_not_hold_it_back(void **state)
{
	(void)state;
	const int32_t isr[] = {SELF, 2};
	struct repl_part p = part_with(isr, 2);
	p.f[0].leo = 70;
	assert_int_equal(repl_hw_bound(&p, SELF, 100), 70); /* 3: unknown */
	/* alone in the ISR: our own log end */
	const int32_t alone[] = {SELF};
	p = part_with(alone, 1);
	assert_int_equal(repl_hw_bound(&p, SELF, 42), 42);
}

static void test_a_proposed_member_counts_while_in_flight(void **state)
{
	(void)state;
	const int32_t isr[] = {SELF, 2};
	struct repl_part p = part_with(isr, 2);
	p.f[0].leo = 100;
	p.f[1].leo = 60;
	assert_int_equal(repl_hw_bound(&p, SELF, 100), 100);
	/* the maximal ISR: {1,2} ∪ {1,2,3} while AlterPartition is out */
	p.alter_in_flight = true;
	p.proposed[0] = SELF, p.proposed[1] = 2, p.proposed[2] = 3;
	p.n_proposed = 3;
	assert_int_equal(repl_hw_bound(&p, SELF, 100), 60);
	/* a shrink in flight keeps the larger, committed ISR */
	const int32_t wide[] = {SELF, 2, 3};
	p = part_with(wide, 3);
	p.f[0].leo = 100, p.f[1].leo = 60;
	p.alter_in_flight = true;
	p.proposed[0] = SELF, p.proposed[1] = 2;
	p.n_proposed = 2;
	assert_int_equal(repl_hw_bound(&p, SELF, 100), 60);
}

static void test_a_lagging_member_leaves_the_isr_but_never_the_leader(void **state)
{
	(void)state;
	const int32_t isr[] = {SELF, 2, 3};
	struct repl_part p = part_with(isr, 3);
	int32_t keep[REPL_MAX_REPLICAS];
	p.f[0].caught_up_ms = 1000;
	p.f[1].caught_up_ms = 20000;
	assert_int_equal(repl_isr_in_sync(&p, SELF, 30000, 30000, keep), 3);
	assert_int_equal(repl_isr_in_sync(&p, SELF, 31001, 30000, keep), 2);
	assert_int_equal(keep[0], SELF);
	assert_int_equal(keep[1], 3);
	assert_int_equal(repl_isr_in_sync(&p, SELF, 60000, 30000, keep), 1);
	assert_int_equal(keep[0], SELF);
}

/* A log with epoch 0 on offsets 0-4 and epoch 1 on 5-9. */
static struct log *two_epochs(char **root)
{
	struct log_config c;
	struct log *log;
	log_config_defaults(&c);
	*root = tu_tmpdir();
	assert_int_equal(log_open(*root, &c, NULL, &log), KB_OK);
	for (int e = 0; e < 2; e++) {
		size_t len = tu_batch_simple(buf, sizeof buf, 5, 1000, 10);
		assert_int_equal(log_append(log, TU_APPEND(buf, len, e, 1000), NULL),
				 KB_OK);
	}
	assert_int_equal(log_end_offset(log), 10);
	return log;
}

static void test_a_follower_truncates_where_its_epoch_ends_on_the_leader(void **state)
{
	(void)state;
	char *root;
	struct log *log = two_epochs(&root);
	/* the leader has our epoch 1, ending at 8: offsets 8 and 9 go */
	assert_int_equal(repl_truncation_offset(log, 3, 1, 8), 8);
	/* the leader has more of epoch 1 than we do: nothing goes */
	assert_int_equal(repl_truncation_offset(log, 3, 1, 20), 10);
	/* the leader never saw epoch 1; its epoch 0 ends at 3 (we have 0-4) */
	assert_int_equal(repl_truncation_offset(log, 3, 0, 3), 3);
	/* its epoch 0 is longer than ours: our own end of epoch 0, 5 */
	assert_int_equal(repl_truncation_offset(log, 3, 0, 9), 5);
	/* no epoch known on the leader: back to the high watermark */
	assert_int_equal(repl_truncation_offset(log, 3, -1, -1), 3);
	log_close(log);
	tu_rmrf(root);
}

static void test_a_follower_append_keeps_the_leaders_bytes(void **state)
{
	(void)state;
	char *root;
	struct log *leader = two_epochs(&root);
	struct log_config c;
	struct log *follower;
	char *froot = tu_tmpdir();
	log_config_defaults(&c);
	assert_int_equal(log_open(froot, &c, NULL, &follower), KB_OK);
	/* copy the leader's two batches as they are */
	struct log_read_result rr;
	uint8_t copy[1 << 16];
	size_t got = 0;
	assert_int_equal(log_read(leader, TU_READ(0, sizeof copy, 10, true), &rr),
			 KB_OK);
	assert_int_equal(seg_read(rr.seg, rr.position, copy, rr.length, &got),
			 KB_OK);
	size_t first = 12 + (size_t)kb_get_be32(copy + 8);
	assert_int_equal(log_append_as_follower(follower, copy, first, 1000, NULL),
			 KB_OK);
	/* the same batch again is refused: it lies below the log end */
	assert_int_equal(log_append_as_follower(follower, copy, first, 1000, NULL),
			 KB_ERR_INVAL);
	assert_int_equal(log_append_as_follower(follower, copy + first,
						got - first, 1000, NULL), KB_OK);
	assert_int_equal(log_end_offset(follower), 10);
	/* epochs came with the batches */
	assert_int_equal(follower->nepochs, 2);
	assert_int_equal(follower->epochs[1].epoch, 1);
	assert_int_equal(follower->epochs[1].start_offset, 5);
	/* and the segment files are the same bytes */
	uint8_t again[1 << 16];
	size_t got2 = 0;
	assert_int_equal(log_read(follower, TU_READ(0, sizeof again, 10, true),
				  &rr), KB_OK);
	assert_int_equal(seg_read(rr.seg, rr.position, again, rr.length, &got2),
			 KB_OK);
	assert_int_equal(got, got2);
	assert_memory_equal(copy, again, got);
	log_close(follower);
	log_close(leader);
	tu_rmrf(froot);
	tu_rmrf(root);
}

static void test_a_follower_far_behind_starts_over_at_the_leaders_start(void **state)
{
	(void)state;
	char *root = tu_tmpdir();
	struct log_config c;
	struct log *log;
	log_config_defaults(&c);
	assert_int_equal(log_open(root, &c, NULL, &log), KB_OK);
	size_t len = tu_batch_simple(buf, sizeof buf, 3, 1000, 10);
	assert_int_equal(log_append(log, TU_APPEND(buf, len, 0, 1000), NULL), KB_OK);
	assert_int_equal(log_reset_at(log, 5000), KB_OK);
	assert_int_equal(log_end_offset(log), 5000);
	assert_int_equal(log->log_start_offset, 5000);
	/* the leader's batch at 5000 goes on as it is */
	len = tu_batch_build(buf, sizeof buf, 5000,
			     (struct tu_record[]){{NULL, "x", 1000}}, 1);
	kb_put_be32(buf + 12, 7); /* partitionLeaderEpoch: not in the CRC */
	assert_int_equal(log_append_as_follower(log, buf, len, 1000, NULL), KB_OK);
	assert_int_equal(log_end_offset(log), 5001);
	assert_int_equal(log->epochs[log->nepochs - 1].epoch, 7);
	log_close(log);
	tu_rmrf(root);
}

int main(void)
{
	tu_log_quiet();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_follower_at_our_log_end_is_caught_up_now),
		cmocka_unit_test(test_the_high_watermark_is_the_lowest_end_in_the_isr),
		cmocka_unit_test(test_a_replica_outside_the_isr_does_not_hold_it_back),
		cmocka_unit_test(test_a_proposed_member_counts_while_in_flight),
		cmocka_unit_test(test_a_lagging_member_leaves_the_isr_but_never_the_leader),
		cmocka_unit_test(test_a_follower_truncates_where_its_epoch_ends_on_the_leader),
		cmocka_unit_test(test_a_follower_append_keeps_the_leaders_bytes),
		cmocka_unit_test(test_a_follower_far_behind_starts_over_at_the_leaders_start),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
