// kafkajs 2.2.4 against a samsa broker, for tests/clients/test_kafkajs.py.
//
//   node kafkajs_client.js BOOTSTRAP TOPIC COUNT BASE_TS
//
// Creates TOPIC with 3 partitions (admin API), produces COUNT gzip records
// (record i: key "key-<i % 97>", a 100-byte value "value-<i>-xxx...",
// headers seq=<i> and client=kafkajs, timestamp BASE_TS + i) with acks=-1,
// reads them all back and prints one canonical line per record on stdout:
//
//   partition <TAB> offset <TAB> timestamp <TAB> key <TAB> value <TAB> headers
//
// and the ListOffsets answers on stderr as "offsets P EARLIEST LATEST" and
// "offset-by-time P OFFSET".
//
// The records are read back by a kafkajs group consumer (consumer.run)
// with a group of its own and fromBeginning: FindCoordinator, JoinGroup and
// SyncGroup hand it all three partitions, it asks OffsetFetch for
// committed offsets (none) and starts each partition at ListOffsets
// earliest, then Fetches. It commits nothing: the one read needs no resume.
'use strict'
const { Kafka, CompressionTypes, Partitioners, logLevel } = require('kafkajs')

const PARTITIONS = 3
const KEY_SPACE = 97
const VALUE_LEN = 100
const SEND_BATCH = 1000
const DEADLINE_MS = 60000

function record (i, baseTs) {
  const head = `value-${i}-`
  return {
    key: `key-${i % KEY_SPACE}`,
    value: head + 'x'.repeat(VALUE_LEN - head.length),
    headers: { seq: String(i), client: 'kafkajs' },
    timestamp: String(baseTs + i)
  }
}

async function produce (kafka, topic, count, baseTs) {
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner
  })
  await producer.connect()
  for (let start = 0; start < count; start += SEND_BATCH) {
    const messages = []
    for (let i = start; i < Math.min(count, start + SEND_BATCH); i++) {
      messages.push(record(i, baseTs))
    }
    await producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages })
  }
  await producer.disconnect()
}

function line (partition, m) {
  const hs = Object.entries(m.headers || {})
    .map(([k, v]) => `${k}=${v === null ? '<null>' : v.toString()}`).join(',')
  const key = m.key === null ? '<null>' : m.key.toString()
  const value = m.value === null ? '<null>' : m.value.toString()
  return `${partition}\t${m.offset}\t${m.timestamp}\t${key}\t${value}\t${hs}`
}

// Read the topic from the beginning in a new group until count records
// arrived. Whatever comes is kept, so a record delivered twice shows up in
// the test as read twice or as another one missing.
async function consume (kafka, topic, count) {
  const consumer = kafka.consumer({
    groupId: `samsa-kafkajs-test-${topic}-${process.pid}`,
    maxWaitTimeInMs: 100
  })
  const out = []
  let allRead
  const finished = new Promise(resolve => { allRead = resolve })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      out.push(line(partition, message))
      if (out.length === count) allRead()
    }
  })
  let timer
  const late = new Promise(resolve => { timer = setTimeout(resolve, DEADLINE_MS) })
  await Promise.race([finished, late])
  clearTimeout(timer)
  await consumer.disconnect()
  if (out.length < count) throw new Error(`read ${out.length} of ${count} records`)
  return out
}

async function listOffsets (admin, topic, baseTs, count) {
  for (const o of await admin.fetchTopicOffsets(topic)) {
    process.stderr.write(`offsets ${o.partition} ${o.low} ${o.high}\n`)
  }
  const byTime = await admin.fetchTopicOffsetsByTimestamp(topic, baseTs + Math.floor(count / 2))
  for (const o of byTime) {
    process.stderr.write(`offset-by-time ${o.partition} ${o.offset}\n`)
  }
}

async function main () {
  const [bootstrap, topic, countArg, baseTsArg] = process.argv.slice(2)
  const count = Number(countArg)
  const baseTs = Number(baseTsArg)
  const kafka = new Kafka({
    clientId: 'samsa-kafkajs-test',
    brokers: [bootstrap],
    logLevel: logLevel.ERROR,
    retry: { retries: 5, initialRetryTime: 100 }
  })
  const admin = kafka.admin()
  await admin.connect()
  const created = await admin.createTopics({
    topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }],
    waitForLeaders: true
  })
  if (!created) throw new Error('createTopics: topic already existed')
  await produce(kafka, topic, count, baseTs)
  const lines = await consume(kafka, topic, count)
  process.stdout.write(lines.join('\n') + (lines.length ? '\n' : ''))
  await listOffsets(admin, topic, baseTs, count)
  await admin.disconnect()
}

main().catch(e => {
  process.stderr.write(`kafkajs_client: ${e.stack || e}\n`)
  process.exit(1)
})
