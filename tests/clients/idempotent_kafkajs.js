// kafkajs 2.2.4 as an idempotent producer, for tests/clients/test_idempotence.py.
//
//   node idempotent_kafkajs.js BOOTSTRAP TOPIC COUNT
//
// Produces COUNT records (value "<i>", no key) to partition 0 of TOPIC with
// idempotent: true (acks -1, retries without end), in sends of SEND_BATCH
// records awaited one after the other, and prints "sent COUNT" when every
// send was acknowledged. The test drops the connections under it; each
// lost request is sent again with the same producer id and sequence.
'use strict'
const { Kafka, logLevel } = require('kafkajs')

const SEND_BATCH = 500
const DEADLINE_MS = 120000

async function main () {
  const [bootstrap, topic, countArg] = process.argv.slice(2)
  const count = Number(countArg)
  const kafka = new Kafka({
    clientId: 'samsa-idempotence',
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2000,
    requestTimeout: 10000,
    retry: { retries: 1000, initialRetryTime: 20, maxRetryTime: 200 }
  })
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 20, maxRetryTime: 200 }
  })
  await producer.connect()
  for (let i = 0; i < count; i += SEND_BATCH) {
    const messages = []
    for (let k = i; k < Math.min(count, i + SEND_BATCH); k++) messages.push({ value: String(k) })
    await producer.send({ topic, acks: -1, messages: messages.map(m => ({ ...m, partition: 0 })) })
  }
  await producer.disconnect()
  console.log(`sent ${count}`)
}

const timer = setTimeout(() => { console.error('deadline passed'); process.exit(2) }, DEADLINE_MS)
main().then(() => { clearTimeout(timer); process.exit(0) },
  e => { console.error(e && e.stack ? e.stack : String(e)); process.exit(1) })
