// One benchmark scenario, run in its own Node process so its peak RSS is the runtime's alone.
// Usage: node bench/scenario.mjs '<spec JSON>' (see runSource/runSink for the keys).
// Prints one JSON line with the result on stdout; exits non-zero with a message on failure.
import { readFileSync, rmSync, mkdtempSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'

const require = createRequire(import.meta.url)
const { Engine } = require('../index.js')
// The TS layer (npm run build:ts): TS transforms run through the registry, as in the runtime.
const { TransformRegistry } = require('../dist/transforms/registry.js')

/** The four built-in transforms, each doing real work on the bench payload. */
export const BUILTIN_TRANSFORMS = [
  { type: 'add_fields', configJson: JSON.stringify({ enabled: true, fields: [{ key: 'source', value: { static: 'iggy' } }] }) },
  { type: 'delete_fields', configJson: JSON.stringify({ enabled: true, fields: ['url'] }) },
  { type: 'update_fields', configJson: JSON.stringify({ enabled: true, fields: [{ key: 'ok', value: { static: false } }] }) },
  {
    type: 'filter_fields',
    configJson: JSON.stringify({ enabled: true, include_matching: false, patterns: [{ key_pattern: { starts_with: 'meta_' } }] }),
  },
]

/** The TS transform of scenario 3: rename `user_id` to `userId` (parse, edit, stringify). */
const TS_TRANSFORM = 'rename_user_id'
const rename = (value) => {
  value.userId = value.user_id
  delete value.user_id
  return value
}
const TS_FORMS = {
  // The batch form: one JSON.parse of the batch (a JSON array natively laid out), one
  // JSON.stringify per message written into the result buffer.
  batch: {
    transformBatch(batch) {
      const values = batch.jsonAll()
      const out = batch.result()
      for (let i = 0; i < values.length; i++) out.setJson(i, rename(values[i]))
      return out
    },
  },
  // The batch form, parsing message by message (batch.get(i).json()).
  batch_each: {
    transformBatch(batch) {
      const out = batch.result()
      for (const message of batch) out.setJson(message.index, rename(message.json()))
      return out
    },
  },
  // The per-message convenience form (one object per message each way).
  objects: (messages) =>
    messages.map((message) => ({ ...message, payload: Buffer.from(JSON.stringify(rename(JSON.parse(message.payload.toString('utf8'))))) })),
}

/** The native equivalent of the rename: add `userId` (static), delete `user_id`. */
const NATIVE_RENAME = [
  { type: 'add_fields', configJson: JSON.stringify({ enabled: true, fields: [{ key: 'userId', value: { static: 'u-000042' } }] }) },
  { type: 'delete_fields', configJson: JSON.stringify({ enabled: true, fields: ['user_id'] }) },
]

const POLL_MS = 5

/**
 * Peak RSS of this process in KiB. On Linux VmHWM, because getrusage's maxrss
 * (process.resourceUsage().maxRSS) of a spawned child starts at the parent's RSS at fork time:
 * with the embedded broker in the parent, it would report the broker's memory.
 */
function peakRssKiB() {
  try {
    const status = readFileSync('/proc/self/status', 'utf8')
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(status)
    if (match) return Number(match[1])
  } catch {
    // not Linux: fall through
  }
  return process.resourceUsage().maxRSS
}

function transformsOf(spec) {
  const list = spec.transforms ? [...BUILTIN_TRANSFORMS] : spec.nativeRename ? [...NATIVE_RENAME] : []
  if (spec.tsTransform) list.push({ type: TS_TRANSFORM, configJson: JSON.stringify({ enabled: true }) })
  return list
}

function sourceOptions(spec, reportPath) {
  return {
    key: 'bench_source',
    name: 'bench source',
    path: spec.plugin,
    version: 0,
    pluginConfigJson: JSON.stringify({
      count: spec.messages,
      batch_size: spec.batchLength,
      payload_size: spec.payloadSize,
      report_path: reportPath,
    }),
    transforms: transformsOf(spec),
    streams: [
      {
        stream: spec.stream,
        topic: spec.topic,
        schema: 'json',
        batchLength: spec.batchLength,
        lingerTimeMs: 0,
        createStream: true,
        createTopic: true,
        topicPartitions: 1,
      },
    ],
    verbose: false,
  }
}

function sinkOptions(spec, reportPath) {
  return {
    key: 'null_sink',
    name: 'null sink',
    path: spec.plugin,
    version: 0,
    pluginConfigJson: JSON.stringify({ record_arrivals: true, report_path: reportPath }),
    transforms: transformsOf(spec),
    streams: [
      {
        stream: spec.stream,
        topics: [spec.topic],
        schema: 'json',
        batchLength: spec.batchLength,
        pollIntervalMs: 1,
        consumerGroup: spec.group,
      },
    ],
    verbose: false,
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function run(spec) {
  const dir = mkdtempSync(join(tmpdir(), 'iggy-bench-'))
  const reportPath = join(dir, 'report.json')
  const isSource = spec.kind === 'source'
  const engine = new Engine({
    iggy: { address: spec.address, username: 'iggy', password: 'iggy' },
    statePath: join(dir, 'state'),
    sources: isSource ? [sourceOptions(spec, reportPath)] : [],
    sinks: isSource ? [] : [sinkOptions(spec, reportPath)],
  })
  const errors = []
  engine.onLog((entry) => {
    if (entry.level === 'error' || entry.level === 'warn') errors.push(`${entry.level}: ${entry.message}`)
  })
  let tsBatches = 0
  if (spec.tsTransform) {
    const form = TS_FORMS[spec.tsTransform]
    if (form === undefined) throw new Error(`unknown tsTransform form ${spec.tsTransform}`)
    const registry = new TransformRegistry()
    registry.bindConnector(spec.kind, isSource ? 'bench_source' : 'null_sink', [{ name: TS_TRANSFORM, config: {}, transform: typeof form === 'function' ? { transform: form } : form }])
    engine.onTransformBatch((batch) => {
      tsBatches++
      return registry.dispatch(batch)
    })
  }
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  const [initial] = await engine.start()
  if (initial.status === 'error') throw new Error(`connector failed to start: ${initial.lastError?.message}`)
  const deadline = started + spec.timeoutMs
  let stats = initial
  // Sources are done when Iggy acknowledged every message; sinks when consume accepted them.
  while (stats.messagesOut < spec.messages) {
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${spec.timeoutMs} ms at ${stats.messagesOut}/${spec.messages} (${errors.slice(-3).join('; ')})`)
    }
    if (stats.status === 'error') throw new Error(`connector error: ${stats.lastError?.message}`)
    await sleep(POLL_MS)
    stats = engine.stats()[0]
  }
  const wallMs = performance.now() - started
  const cpu = process.cpuUsage(cpuBefore)
  await engine.stop(30_000)
  const report = JSON.parse(readFileSync(reportPath, 'utf8'))
  delete report.arrivals
  // The plugin's own count must agree with the engine's, or the figures are meaningless.
  const pluginCount = isSource ? report.sent : report.messages
  if (isSource ? pluginCount !== spec.messages : pluginCount < spec.messages) {
    throw new Error(`plugin counted ${pluginCount} messages, the engine ${stats.messagesOut}, expected ${spec.messages}`)
  }
  rmSync(dir, { recursive: true, force: true })
  return {
    kind: spec.kind,
    messages: stats.messagesOut,
    bytesOut: stats.bytesOut,
    batches: stats.batches,
    errors: stats.errors,
    // Engine start (connect, open) to the last message counted, polled every POLL_MS.
    wallMs,
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    tsBatches,
    plugin: report,
    maxRssKiB: peakRssKiB(),
    warnings: errors.slice(0, 5),
  }
}

const spec = JSON.parse(process.argv[2] ?? '{}')
try {
  const result = await run(spec)
  process.stdout.write(`${JSON.stringify(result)}\n`)
  process.exit(0)
} catch (error) {
  process.stderr.write(`scenario failed: ${error.stack ?? error}\n`)
  process.exit(1)
}
