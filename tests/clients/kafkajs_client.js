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
// kafkajs consumes only through consumer groups, which arrive with chapter
// 09; until then the records are read with kafkajs's own Cluster and Broker
// objects (the code its consumer runs underneath: Metadata, then Fetch v11
// to each partition's leader), reached through the Kafka object's private
// cluster factory.
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

function privateClusterFactory (kafka) {
  const sym = Object.getOwnPropertySymbols(kafka)
    .find(s => String(s).includes('createCluster'))
  return kafka[sym]
}

function line (partition, m) {
  const hs = Object.entries(m.headers || {})
    .map(([k, v]) => `${k}=${v === null ? '<null>' : v.toString()}`).join(',')
  const key = m.key === null ? '<null>' : m.key.toString()
  const value = m.value === null ? '<null>' : m.value.toString()
  return `${partition}\t${m.offset}\t${m.timestamp}\t${key}\t${value}\t${hs}`
}

// Fetch every partition from offset 0 until count records were read.
async function consume (kafka, topic, count) {
  const cluster = privateClusterFactory(kafka)({ allowAutoTopicCreation: false })
  await cluster.connect()
  await cluster.addTargetTopic(topic)
  const all = [...Array(PARTITIONS).keys()]
  const leaders = cluster.findLeaderForPartitions(topic, all)
  const next = all.map(() => 0n)
  const out = []
  const deadline = Date.now() + DEADLINE_MS
  while (out.length < count && Date.now() < deadline) {
    for (const [nodeId, parts] of Object.entries(leaders)) {
      const broker = await cluster.findBroker({ nodeId })
      const res = await broker.fetch({
        replicaId: -1,
        isolationLevel: 0,
        maxWaitTime: 50,
        minBytes: 1,
        maxBytes: 4 << 20,
        topics: [{ topic, partitions: parts.map(p => ({ partition: p, fetchOffset: String(next[p]), maxBytes: 1 << 20 })) }]
      })
      for (const pd of res.responses[0].partitions) {
        if (pd.errorCode !== 0) throw new Error(`fetch p${pd.partition}: error ${pd.errorCode}`)
        for (const m of pd.messages) {
          if (BigInt(m.offset) < next[pd.partition]) continue
          out.push(line(pd.partition, m))
          next[pd.partition] = BigInt(m.offset) + 1n
        }
      }
    }
  }
  await cluster.disconnect()
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
