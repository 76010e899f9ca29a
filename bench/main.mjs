// `npm run bench`: the end-to-end benchmarks of the runtime (see BENCHMARKS.md).
//
// Every scenario runs in a child Node process (bench/scenario.mjs) so its peak RSS is the
// runtime's alone; the broker lives here in the parent (native TestBroker) unless
// IGGY_BENCH_SERVER=host:port names a real server (credentials iggy/iggy). Prints a table, then
// one JSON line with every figure as the last line of output.
//
// Environment:
//   BENCH_MESSAGES       messages per batch-1000 scenario (default 1,000,000)
//   BENCH_MESSAGES_SMALL messages per batch-100 and TS-transform scenario (default: BENCH_MESSAGES;
//                        lower it on a slow machine: batch 100 is ~5x slower per message)
//   BENCH_SKIP_MICRO=1   skip `cargo bench -p iggy_connectors_engine`
//   BENCH_SKIP_BASELINE=1 skip the raw-client baseline (and its cargo build)
//   BENCH_SKIP_TS_CONNECTORS=1 skip the TypeScript-vs-native connector comparison
//                        (bench/ts-connectors.mjs, BENCH_MESSAGES_SMALL messages, its own embedded broker)
//   BENCH_ONLY=<regex>   run only the matching scenarios (plus source_b1000, which fills the topic)
//   IGGY_BENCH_SERVER    host:port of a running Iggy server instead of the embedded broker
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { cpus, totalmem } from 'node:os'
import { join, resolve } from 'node:path'

import { collectCriterion, runCriterion } from './micro.mjs'

const root = resolve(import.meta.dirname, '..')
const require = createRequire(import.meta.url)

const intEnv = (name, fallback) => {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name}=${raw} is not a positive integer`)
  return value
}
const MESSAGES = intEnv('BENCH_MESSAGES', 1_000_000)
const MESSAGES_SMALL = Math.min(MESSAGES, intEnv('BENCH_MESSAGES_SMALL', MESSAGES))
const PAYLOAD_SIZE = 200
const SKIP_MICRO = process.env.BENCH_SKIP_MICRO === '1'
const SKIP_BASELINE = process.env.BENCH_SKIP_BASELINE === '1'
const SKIP_TS_CONNECTORS = process.env.BENCH_SKIP_TS_CONNECTORS === '1'
const SERVER = process.env.IGGY_BENCH_SERVER || ''
const RUN = Date.now().toString(36)
// Iterating: run only the scenarios whose name matches (source_b1000 always runs: it fills the topic).
const ONLY = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY) : null

function targetDir() {
  if (process.env.CARGO_TARGET_DIR) return resolve(process.env.CARGO_TARGET_DIR)
  const metadata = execFileSync('cargo', ['metadata', '--format-version', '1', '--no-deps'], { cwd: root, encoding: 'utf8' })
  return JSON.parse(metadata).target_directory
}

function pluginPath(name) {
  const file = join(root, 'build/plugins', `libiggy_connector_${name}.so`)
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` (or \`node scripts/build-plugins.mjs\`) first`)
  return file
}

function machine() {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : ''
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown'
  return { cpus: cpus().length, cpuModel: model, memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10, node: process.version }
}

const loadavg = () => (existsSync('/proc/loadavg') ? Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]) : null)

/** Runs one scenario in a child process; resolves with its parsed result line. */
function child(spec) {
  return new Promise((resolveRun, reject) => {
    const proc = spawn(process.execPath, [join(import.meta.dirname, 'scenario.mjs'), JSON.stringify(spec)], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    proc.stdout.on('data', (chunk) => (out += chunk))
    proc.stderr.on('data', (chunk) => (err += chunk))
    proc.on('error', reject)
    proc.on('close', (code) => {
      const line = out.trim().split('\n').pop()
      if (code !== 0 || !line) reject(new Error(`scenario ${spec.name} failed (exit ${code}): ${err.trim() || out.trim()}`))
      else resolveRun(JSON.parse(line))
    })
  })
}

/** The raw-client baseline binary (a cargo example of the bench_source crate). */
function baselineBinary(target) {
  const binary = join(target, 'release/examples/bench_baseline')
  // Built once; set BENCH_REBUILD_BASELINE=1 after changing it (cargo would also wait here
  // for any other build holding the target directory's lock).
  if (existsSync(binary) && process.env.BENCH_REBUILD_BASELINE !== '1') return binary
  execFileSync('cargo', ['build', '--release', '-q', '--example', 'bench_baseline', '-p', 'iggy_connector_bench_source'], {
    cwd: root,
    stdio: 'inherit',
  })
  return binary
}

const log = (text) => process.stderr.write(`${text}\n`)

const round = (value, digits = 0) => Math.round(value * 10 ** digits) / 10 ** digits

function summarize(name, spec, result) {
  const seconds = result.plugin.elapsed_micros / 1e6
  // A source's window (first poll → last Ack) covers every batch; a sink's (first → last
  // arrival) misses the first batch's transfer, so that batch is left out of its count.
  const { batches } = result.plugin
  const counted = spec.kind === 'source' ? result.messages : (result.plugin.messages * (batches - 1)) / Math.max(batches, 1)
  const bytes = counted * (spec.kind === 'source' ? result.bytesOut / result.messages : PAYLOAD_SIZE)
  const latency =
    spec.kind === 'source'
      ? { p50Ms: result.plugin.latency_p50_micros / 1000, p99Ms: result.plugin.latency_p99_micros / 1000 }
      : { p50Ms: (result.plugin.gap_p50_micros ?? 0) / 1000, p99Ms: (result.plugin.gap_p99_micros ?? 0) / 1000 }
  return {
    name,
    kind: spec.kind,
    batchLength: spec.batchLength,
    transforms: spec.transforms ? 'builtin4' : spec.tsTransform ? `ts_rename_${spec.tsTransform}` : spec.nativeRename ? 'native_rename' : 'none',
    messages: result.messages,
    // Throughput over the plugin's own window (first poll → last Ack, or first → last batch).
    messagesPerSec: round(counted / seconds),
    mbPerSec: round(bytes / seconds / 1e6, 1),
    // Wall time from engine start (connect, plugin open) until the engine counted every message.
    wallMs: round(result.wallMs),
    wallMessagesPerSec: round(result.messages / (result.wallMs / 1000)),
    latencyP50Ms: round(latency.p50Ms, 2),
    latencyP99Ms: round(latency.p99Ms, 2),
    cpuMs: round(result.cpuUserMs + result.cpuSystemMs),
    peakRssMiB: round(result.maxRssKiB / 1024, 1),
    errors: result.errors,
    loadavg: spec.loadavg,
  }
}

function baselineRun(binary, args) {
  const out = execFileSync(binary, args, { encoding: 'utf8' }).trim().split('\n').pop()
  const result = JSON.parse(out)
  const seconds = result.elapsed_micros / 1e6
  return {
    name: `baseline_${result.mode}_b${result.batch}`,
    kind: `raw client ${result.mode}`,
    batchLength: result.batch,
    messages: result.messages,
    messagesPerSec: round(result.messages / seconds),
    mbPerSec: round((result.messages * PAYLOAD_SIZE) / seconds / 1e6, 1),
    latencyP50Ms: round(result.latency_p50_micros / 1000, 2),
    latencyP99Ms: round(result.latency_p99_micros / 1000, 2),
    loadavg: loadavg(),
  }
}

function table(rows) {
  const columns = [
    ['name', 'scenario'],
    ['messages', 'messages'],
    ['messagesPerSec', 'msg/s'],
    ['mbPerSec', 'MB/s'],
    ['latencyP50Ms', 'p50 ms'],
    ['latencyP99Ms', 'p99 ms'],
    ['cpuMs', 'CPU ms'],
    ['peakRssMiB', 'RSS MiB'],
    ['loadavg', 'load'],
  ]
  const cells = rows.map((row) => columns.map(([key]) => (row[key] === undefined ? '-' : String(row[key]))))
  const widths = columns.map(([, title], i) => Math.max(title.length, ...cells.map((c) => c[i].length)))
  const line = (values) => values.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ')
  return [line(columns.map(([, title]) => title)), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n')
}

async function main() {
  const started = Date.now()
  const target = targetDir()
  const plugins = { source: pluginPath('bench_source'), sink: pluginPath('null_sink') }
  const baseline = SKIP_BASELINE ? null : baselineBinary(target)
  const { TestBroker } = require('../index.js')
  const broker = SERVER ? null : await TestBroker.start({ maxBytes: 16 * 2 ** 30 })
  const address = SERVER || broker.address
  const deleteStream = (stream) => baseline && execFileSync(baseline, ['delete', address, stream])
  log(`bench: broker ${SERVER ? `external ${address}` : `embedded ${address}`}; ${MESSAGES} messages (batch 1000), ${MESSAGES_SMALL} (batch 100, TS)`)

  const fill = `bench-fill-${RUN}`
  const rows = []
  const raw = {}
  const scenario = async (name, spec) => {
    if (ONLY && !ONLY.test(name) && name !== 'source_b1000') return null
    const full = { name, address, payloadSize: PAYLOAD_SIZE, timeoutMs: 600_000, loadavg: loadavg(), ...spec }
    log(`bench: ${name} …`)
    const result = await child(full)
    raw[name] = result
    const row = summarize(name, full, result)
    rows.push(row)
    log(`bench: ${name}: ${row.messagesPerSec} msg/s, p50 ${row.latencyP50Ms} ms, p99 ${row.latencyP99Ms} ms, RSS ${row.peakRssMiB} MiB`)
    return row
  }
  try {
    // 1. Source → Iggy. The first run also fills the topic the sink scenarios drain.
    for (const [batchLength, transforms] of [[1000, false], [1000, true], [100, false], [100, true]]) {
      const first = batchLength === 1000 && !transforms
      const stream = first ? fill : `bench-src-${batchLength}-${transforms ? 't' : 'p'}-${RUN}`
      const messages = batchLength === 1000 ? MESSAGES : MESSAGES_SMALL
      await scenario(`source_b${batchLength}${transforms ? '_transforms' : ''}`, {
        kind: 'source', plugin: plugins.source, stream, topic: 'events', batchLength, transforms, messages,
      })
      if (!first) deleteStream(stream)
    }
    // 2. Iggy → sink, each scenario with its own consumer group over the filled topic.
    for (const [batchLength, transforms] of [[1000, false], [1000, true], [100, false], [100, true]]) {
      const name = `sink_b${batchLength}${transforms ? '_transforms' : ''}`
      await scenario(name, {
        kind: 'sink', plugin: plugins.sink, stream: fill, topic: 'events', batchLength, transforms, group: `${name}-${RUN}`,
        messages: batchLength === 1000 ? MESSAGES : MESSAGES_SMALL,
      })
    }
    // 3. A TypeScript transform (JSON field rename) on the sink path, in its batch form (the
    // ratio to the native rename is the figure), its per-message parse and its object form.
    const sinkRename = (name, extra) =>
      scenario(name, {
        kind: 'sink', plugin: plugins.sink, stream: fill, topic: 'events', batchLength: 1000,
        group: `${name}-${RUN}`, messages: MESSAGES_SMALL, ...extra,
      })
    await sinkRename('sink_b1000_native_rename', { nativeRename: true })
    await sinkRename('sink_b1000_ts_transform', { tsTransform: 'batch' })
    await sinkRename('sink_b1000_ts_transform_each', { tsTransform: 'batch_each' })
    await sinkRename('sink_b1000_ts_transform_objects', { tsTransform: 'objects' })
    // The raw Iggy client on the same broker and payloads.
    if (baseline) {
      for (const batch of [1000, 100]) {
        const messages = batch === 1000 ? MESSAGES : MESSAGES_SMALL
        const stream = `bench-raw-${batch}-${RUN}`
        rows.push(baselineRun(baseline, ['send', address, stream, 'events', String(messages), String(batch), String(PAYLOAD_SIZE)]))
        deleteStream(stream)
        rows.push(baselineRun(baseline, ['poll', address, fill, 'events', String(messages), String(batch), `raw-${batch}-${RUN}`]))
      }
    }
  } finally {
    if (SERVER) deleteStream(fill)
    await broker?.stop()
  }

  // 4. Sources and sinks written in TypeScript against the native ones, through the same engine
  // (bench/ts-connectors.mjs; it starts its own embedded broker).
  let tsConnectors = null
  if (!SKIP_TS_CONNECTORS && (!ONLY || ONLY.test('ts_connectors'))) {
    log('bench: ts_connectors (bench/ts-connectors.mjs) …')
    const out = execFileSync(process.execPath, [join(import.meta.dirname, 'ts-connectors.mjs')], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, BENCH_TS_MESSAGES: String(MESSAGES_SMALL) },
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 64 * 2 ** 20,
    })
    tsConnectors = JSON.parse(out.trim().split('\n').pop())
  }

  // 5. Criterion microbenchmarks of the engine.
  let micro = null
  if (!SKIP_MICRO) {
    const since = Date.now()
    log('bench: cargo bench -p iggy_connectors_engine …')
    runCriterion(root)
    micro = collectCriterion(join(target, 'criterion'), since)
  }

  const result = {
    version: 1,
    machine: machine(),
    broker: SERVER ? 'external' : 'embedded',
    messages: MESSAGES,
    messagesSmall: MESSAGES_SMALL,
    payloadSize: PAYLOAD_SIZE,
    durationSec: round((Date.now() - started) / 1000),
    scenarios: rows,
    tsConnectors,
    micro,
    raw,
  }
  process.stdout.write(`\n${table(rows)}\n`)
  if (tsConnectors) {
    process.stdout.write(`\nconnectors written in TypeScript vs native (${tsConnectors.messages} messages, batch ${tsConnectors.batch}):\n`)
    for (const r of tsConnectors.rows) process.stdout.write(`  ${r.name.padEnd(24)} ${String(r.messagesPerSec).padStart(9)} msg/s  RSS ${r.peakRssMiB} MiB\n`)
    process.stdout.write(`  ratios ${JSON.stringify(tsConnectors.ratios)}\n`)
  }
  if (micro) {
    process.stdout.write(`\nmicrobenchmarks (ns per message):\n`)
    for (const [name, ns] of Object.entries(micro)) process.stdout.write(`  ${name.padEnd(48)} ${ns}\n`)
  }
  process.stdout.write(`\n${JSON.stringify(result)}\n`)
}

await main()
