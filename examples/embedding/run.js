// Embedding example: an embedded test broker, a runtime with a TS transform, events and stats.
// Run from the repository root after `npm run build`:  node examples/embedding/run.js
'use strict'

const { ConnectorsRuntime, startTestBroker } = require('../..')

async function main() {
  // Development only: an in-process broker. Use a real Iggy server in production.
  const broker = await startTestBroker({ address: '127.0.0.1:8092' })

  const runtime = new ConnectorsRuntime({ configPath: 'examples/embedding/config.toml' })

  // [transforms.stamp] in the source config: add a field to every JSON payload of a batch.
  runtime.registerTransform('stamp', (messages, context) =>
    messages.map((message) => {
      const value = JSON.parse(message.payload.toString('utf8'))
      value.stamped_by = context.config.label
      return { ...message, payload: Buffer.from(JSON.stringify(value)) }
    }),
  )

  runtime.on('log', (record) => {
    if (record.level === 'trace' || record.level === 'debug') return
    const who = record.connectorKey ? `[${record.connectorKey}] ` : ''
    console.log(`${record.level.padEnd(5)} ${who}${record.message}`)
  })
  runtime.on('status', (event) => console.log(`status: ${event.kind} ${event.key} → ${event.status}`))

  await runtime.start()
  await new Promise((resolve) => setTimeout(resolve, 3000))

  for (const s of runtime.stats()) {
    console.log(`${s.kind} ${s.key}: in=${s.messagesIn} out=${s.messagesOut} errors=${s.errors}`)
  }
  await runtime.stop()
  await broker.stop()
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
