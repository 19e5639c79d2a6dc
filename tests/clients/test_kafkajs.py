#!/usr/bin/python3
"""kafkajs 2.2.4 (Node): admin CreateTopics, 10,000 keyed gzip records with
headers and timestamps (acks -1), read back and compared, and the
ListOffsets answers of its admin API (fetchTopicOffsets,
fetchTopicOffsetsByTimestamp). The script is tests/clients/kafkajs_client.js."""
import os
import time

from harness import (Broker, CLIENTS_DIR, check_records, expected_record,
                     parse_records, run, run_tests)

N = 10000
SCRIPT = os.path.join(CLIENTS_DIR, "kafkajs_client.js")
SEND_BATCH = 1000  # records per producer.send() in kafkajs_client.js


def by_time_answers(records, p, target):
    """The right ListOffsets answers for target in partition p: the first
    record with timestamp >= target, or, because the batches are gzip'd,
    the base offset of its batch (chapter 03's SIMPLIFICATION: compressed
    batches are not opened). kafkajs_client.js sends records in chunks of
    SEND_BATCH, so one chunk is one batch per partition."""
    first = min((o, int(v.split(b"-")[1])) for (pp, o, ts, _, v, _) in records
                if pp == p and ts >= target)
    chunk = first[1] // SEND_BATCH
    base = min(o for (pp, o, _, _, v, _) in records
               if pp == p and int(v.split(b"-")[1]) // SEND_BATCH == chunk)
    return {first[0], base}


def test_kafkajs_produce_consume_gzip_and_offsets():
    with Broker() as b:
        base_ts = int(time.time() * 1000) - 3600 * 1000
        r = run(["node", SCRIPT, b.bootstrap, "kafkajs-topic", str(N),
                 str(base_ts)], timeout=120)
        records = parse_records(r.stdout.decode())
        check_records(records, N, lambda i: expected_record(
            i, "kafkajs", base_ts, null_header=False))
        count = {p: 0 for p in range(3)}
        for rec in records:
            count[rec[0]] += 1
        target = base_ts + N // 2
        answers = [line.split() for line in r.stderr.decode().splitlines()
                   if line.startswith(("offsets ", "offset-by-time "))]
        assert len(answers) == 6, r.stderr.decode()
        for f in answers:
            line = " ".join(f)
            if f[0] == "offsets":
                assert (int(f[2]), int(f[3])) == (0, count[int(f[1])]), line
            elif f[0] == "offset-by-time":
                p = int(f[1])
                assert int(f[2]) in by_time_answers(records, p, target), line


if __name__ == "__main__":
    run_tests(globals())
