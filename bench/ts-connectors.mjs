// `npm run bench:ts-connectors`: connectors written in TypeScript against their native twins,
// batch 1000, 200-byte JSON payloads, on the embedded broker:
//   source: the native bench source vs a TS source producing the same payloads
//   sink:   the native null sink vs a TS null sink, each draining the same filled topic
// Every scenario runs in its own Node process (peak RSS = that runtime alone) and is timed
// from engine start until the engine counted every message (Iggy acked / consume resolved),
// the same way for both kinds. Prints a table, then one JSON line with every figure.
//
// Environment: BENCH_TS_MESSAGES (default 200,000). Needs `npm run build` (addon, plugins, dist).
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'

const root = resolve(import.meta.dirname, '..')
const require = createRequire(import.meta.url)
const PAYLOAD_SIZE = 200
const BATCH = 1000

function peakRssKiB() {
  const match = existsSync('/proc/self/status') ? /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8')) : null
  return match ? Number(match[1]) : process.resourceUsage().maxRSS
}

function plugin(name) {
  const file = join(root, 'build/plugins', `libiggy_connector_${name}.so`)
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build:plugins\` first`)
  return file
}

/** A 200-byte JSON payload for sequence number `seq` (the same size as the bench source's). */
function payload(seq) {
  const head = `{"seq":${seq},"user_id":"u${seq % 1000}","pad":"`
  return Buffer.from(`${head}${'x'.repeat(PAYLOAD_SIZE - head.length - 2)}"}`)
}

/** The TS source of the bench: `total` messages in batches of 1000. */
function tsSource(total) {
  let next = 0
  let committed = 0
  return {
    poll() {
      const end = Math.min(total, next + BATCH)
      const messages = []
      for (let seq = next; seq < end; seq++) messages.push({ payload: payload(seq) })
      next = end
      return messages.length === 0 ? new Promise((r) => setTimeout(() => r({ messages: [] }), 50)) : { messages, state: { next } }
    },
    ack() {
      committed = next
    },
    nack() {
      next = committed
    },
  }
}

/** The TS null sink: counts messages and bytes, stores nothing. */
function tsNullSink() {
  let bytes = 0
  return {
    consume(batch) {
      // Like the native null sink: sizes from the batch's metadata, payloads untouched.
      for (const length of batch.messages.columns.lengths) bytes += length
    },
    get bytes() {
      return bytes
    },
  }
}

async function scenario(spec) {
  const { Engine } = require('../index.js')
  const { ConnectorHost } = require('../dist/connectors/host.js')
  const dir = mkdtempSync(join(tmpdir(), 'iggy-bench-ts-'))
  const host = new ConnectorHost(() => {}, () => {})
  const ts = spec.impl === 'ts'
  const source = spec.kind === 'source'
  const common = { version: 0, transforms: [], verbose: false }
  const options = source
    ? {
        key: 'bench_source', name: 'bench source', path: ts ? '' : plugin('bench_source'), ...common,
        pluginConfigJson: JSON.stringify({ count: spec.messages, batch_size: BATCH, payload_size: PAYLOAD_SIZE, report_path: join(dir, 'report.json') }),
        streams: [{ stream: spec.stream, topic: 'events', schema: 'json', batchLength: BATCH, lingerTimeMs: 0, createStream: true, createTopic: true, topicPartitions: 1 }],
      }
    : {
        key: 'null_sink', name: 'null sink', path: ts ? '' : plugin('null_sink'), ...common,
        pluginConfigJson: JSON.stringify({ report_path: join(dir, 'report.json') }),
        streams: [{ stream: spec.stream, topics: ['events'], schema: 'json', batchLength: BATCH, pollIntervalMs: 1, consumerGroup: spec.group }],
      }
  const engine = new Engine({
    iggy: { address: spec.address, username: 'iggy', password: 'iggy' },
    statePath: join(dir, 'state'),
    sources: source ? [options] : [],
    sinks: source ? [] : [options],
  })
  if (ts) {
    if (source) host.registerSource('bench', () => tsSource(spec.messages))
    else host.registerSink('bench', tsNullSink)
    engine.onConnectorCall((call) => host.dispatch(call))
    engine.setExternalConnector(spec.kind, options.key, 'bench')
  }
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  let [stats] = await engine.start()
  while (stats.messagesOut < spec.messages) {
    if (stats.status === 'error') throw new Error(`connector error: ${stats.lastError?.message}`)
    if (performance.now() - started > 600_000) throw new Error(`timed out at ${stats.messagesOut}/${spec.messages}`)
    await new Promise((r) => setTimeout(r, 5))
    stats = engine.stats()[0]
  }
  const wallMs = performance.now() - started
  const cpu = process.cpuUsage(cpuBefore)
  await engine.stop(30_000)
  rmSync(dir, { recursive: true, force: true })
  return { messages: stats.messagesOut, bytesOut: stats.bytesOut, wallMs, cpuMs: (cpu.user + cpu.system) / 1000, peakRssKiB: peakRssKiB() }
}

function child(spec) {
  return new Promise((done, fail) => {
    const proc = spawn(process.execPath, [import.meta.filename, '--child', JSON.stringify(spec)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    proc.stdout.on('data', (chunk) => (out += chunk))
    proc.on('close', (code) => (code === 0 ? done(JSON.parse(out.trim().split('\n').pop())) : fail(new Error(`${spec.name} failed (exit ${code})`))))
  })
}

async function main() {
  const messages = Number(process.env.BENCH_TS_MESSAGES ?? 200_000)
  const { TestBroker } = require('../index.js')
  const broker = await TestBroker.start({ maxBytes: 8 * 2 ** 30 })
  const run = Date.now().toString(36)
  const rows = []
  try {
    const fill = `bench-ts-fill-${run}`
    for (const [name, spec] of [
      ['source_native_b1000', { kind: 'source', impl: 'native', stream: fill }],
      ['source_ts_b1000', { kind: 'source', impl: 'ts', stream: `bench-ts-src-${run}` }],
      ['sink_native_null_b1000', { kind: 'sink', impl: 'native', stream: fill, group: `native-${run}` }],
      ['sink_ts_null_b1000', { kind: 'sink', impl: 'ts', stream: fill, group: `ts-${run}` }],
    ]) {
      process.stderr.write(`bench: ${name} …\n`)
      const result = await child({ name, address: broker.address, messages, ...spec })
      rows.push({ name, ...result, messagesPerSec: Math.round(result.messages / (result.wallMs / 1000)), peakRssMiB: Math.round(result.peakRssKiB / 102.4) / 10 })
    }
  } finally {
    await broker.stop()
  }
  const by = Object.fromEntries(rows.map((r) => [r.name, r]))
  const ratios = {
    sourceTsVsNative: Math.round((by.source_ts_b1000.messagesPerSec / by.source_native_b1000.messagesPerSec) * 100) / 100,
    sinkTsVsNative: Math.round((by.sink_ts_null_b1000.messagesPerSec / by.sink_native_null_b1000.messagesPerSec) * 100) / 100,
    sourceRssDeltaMiB: Math.round((by.source_ts_b1000.peakRssMiB - by.source_native_b1000.peakRssMiB) * 10) / 10,
    sinkRssDeltaMiB: Math.round((by.sink_ts_null_b1000.peakRssMiB - by.sink_native_null_b1000.peakRssMiB) * 10) / 10,
  }
  for (const r of rows) process.stdout.write(`${r.name.padEnd(24)} ${String(r.messagesPerSec).padStart(9)} msg/s  wall ${Math.round(r.wallMs)} ms  CPU ${Math.round(r.cpuMs)} ms  RSS ${r.peakRssMiB} MiB\n`)
  process.stdout.write(`ratios: ${JSON.stringify(ratios)}\n${JSON.stringify({ messages, payloadSize: PAYLOAD_SIZE, batch: BATCH, rows, ratios })}\n`)
}

if (process.argv[2] === '--child') {
  try {
    process.stdout.write(`${JSON.stringify(await scenario(JSON.parse(process.argv[3])))}\n`)
    process.exit(0)
  } catch (error) {
    process.stderr.write(`scenario failed: ${error.stack ?? error}\n`)
    process.exit(1)
  }
} else {
  await main()
}
