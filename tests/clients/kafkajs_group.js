// One kafkajs 2.2.4 consumer-group member, for tests/clients/test_groups.py.
//
//   node kafkajs_group.js BOOTSTRAP TOPIC GROUP NAME
//
// Joins GROUP (client id NAME), subscribes to TOPIC from the beginning and
// reads it with consumer.run. On stdout it prints
//
//   assigned P,P,...   each time it has joined the group (its partitions)
//   record VALUE       for each record it read
//
// After each record it commits that record's offset + 1 and waits for the
// answer before taking the next one, so a member that takes the partition
// over starts after the last record processed. On SIGTERM it disconnects
// (kafkajs sends LeaveGroup, so the others rebalance at once instead of
// waiting out the session timeout) and exits 0. kafkajs logs errors on stderr.
'use strict'
const { Kafka, logLevel } = require('kafkajs')

const SESSION_TIMEOUT_MS = 6000
const HEARTBEAT_MS = 500
// An empty fetch waits this long; kafkajs heartbeats between fetches, so a
// short wait lets it notice a rebalance within about a heartbeat.
const MAX_WAIT_MS = 500

// Writes to a pipe are synchronous in Node on Linux, so each line reaches
// the test as soon as it is printed.
function say (line) {
  process.stdout.write(line + '\n')
}

function partitionsOf (assignment) {
  return Object.values(assignment).flat().sort((a, b) => a - b).join(',')
}

async function main () {
  const [bootstrap, topic, groupId, name] = process.argv.slice(2)
  const kafka = new Kafka({ clientId: name, brokers: [bootstrap], logLevel: logLevel.ERROR })
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: SESSION_TIMEOUT_MS,
    heartbeatInterval: HEARTBEAT_MS,
    maxWaitTimeInMs: MAX_WAIT_MS
  })
  consumer.on(consumer.events.GROUP_JOIN,
    e => say(`assigned ${partitionsOf(e.payload.memberAssignment)}`))
  process.on('SIGTERM', () => {
    consumer.disconnect().then(() => process.exit(0), e => {
      process.stderr.write(`kafkajs_group: disconnect: ${e.stack || e}\n`)
      process.exit(1)
    })
  })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ topic, partition, message }) => {
      say(`record ${message.value.toString()}`)
      const next = (BigInt(message.offset) + 1n).toString()
      await consumer.commitOffsets([{ topic, partition, offset: next }])
    }
  })
}

main().catch(e => {
  process.stderr.write(`kafkajs_group: ${e.stack || e}\n`)
  process.exit(1)
})
