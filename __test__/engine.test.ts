// The native binding end to end: Engine + TestBroker + real plugin libraries, through
// `index.js` only (no TS runtime layer), so these tests pin the contract of docs/native-api.md.
import { readFileSync, existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'

import { afterEach, describe, expect, it } from 'vitest'

import type * as Native from '../index'
import { testPlugin } from './helpers/plugins'
import { tmpDir } from './helpers/tmp'
import { engineStat, until } from './helpers/wait'

const native = createRequire(import.meta.url)('../index.js') as typeof Native

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup()
})

async function broker(): Promise<Native.TestBroker> {
  const b = await native.TestBroker.start()
  cleanups.push(() => b.stop())
  return b
}

function iggy(address: string): Native.IggyConnectionOptions {
  return { address, username: 'iggy', password: 'iggy' }
}

const retry: Native.RetryOptions = { initialBackoffMs: 20, maxBackoffMs: 200, multiplier: 2, maxAttempts: 0 }

function source(key: string, path: string, pluginConfig: unknown, stream: string, transforms: Native.TransformOptions[] = []): Native.SourceConnectorOptions {
  return {
    key,
    name: `${key} source`,
    path,
    version: 1,
    pluginConfigJson: JSON.stringify(pluginConfig),
    transforms,
    streams: [
      { stream, topic: 'events', schema: 'json', batchLength: 1000, lingerTimeMs: 1, createStream: true, createTopic: true },
    ],
    verbose: false,
    retry,
  }
}

function sink(key: string, path: string, pluginConfig: unknown, stream: string, transforms: Native.TransformOptions[] = []): Native.SinkConnectorOptions {
  return {
    key,
    name: `${key} sink`,
    path,
    version: 1,
    pluginConfigJson: JSON.stringify(pluginConfig),
    transforms,
    streams: [{ stream, topics: ['events'], schema: 'json', batchLength: 100, pollIntervalMs: 5 }],
    verbose: false,
    retry,
  }
}

function engine(options: Native.EngineOptions): Native.Engine {
  const e = new native.Engine(options)
  cleanups.push(() => e.stop(5000))
  return e
}

interface Line { partition: number; offset: number; id: string; payload: string }

function lines(file: string): Line[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [, , partition, offset, id, ...rest] = l.split('\t')
      return { partition: Number(partition), offset: Number(offset), id: id!, payload: rest.join('\t') }
    })
}

describe('native binding', () => {
  it('reports versions', () => {
    expect(native.engineVersion()).toBe('0.1.0')
    expect(native.pluginAbi()).toContain('0.4.0')
  })

  it('inspects plugins and explains what is wrong with a bad one', () => {
    const info = native.inspectPlugin('source', testPlugin('engine_test_source'))
    expect(info.kind).toBe('source')
    expect(info.batchResultAbi).toBe(true)
    expect(info.version).toBe('0.1.0-engine-test')
    expect(info.symbols).toEqual(expect.arrayContaining(['iggy_source_open', 'iggy_source_handle_v2', 'iggy_source_batch_result']))
    expect(info.resolvedPath.endsWith('.so') || info.resolvedPath.endsWith('.dylib') || info.resolvedPath.endsWith('.dll')).toBe(true)
    expect(() => native.inspectPlugin('sink', testPlugin('engine_test_source'))).toThrow(/missing symbol\(s\) iggy_sink_open, iggy_sink_consume, iggy_sink_close, iggy_sink_version/)
    expect(() => native.inspectPlugin('source', 'plugins/nope', '/tmp')).toThrow(/not found; tried: .*plugins\/nope/)
    expect(() => native.inspectPlugin('nonsense', 'x')).toThrow(/unknown connector kind/)
  })

  it('moves random source messages through a topic to the stdout sink, counts equal', async () => {
    const b = await broker()
    const dir = tmpDir()
    const e = engine({
      iggy: iggy(b.address),
      statePath: join(dir, 'state'),
      sources: [source('random', testPlugin('iggy_connector_random_source'), { interval: '10ms', max_count: 300, messages_range: [10, 20], payload_size: 8 }, 'rnd')],
      sinks: [sink('stdout', testPlugin('iggy_connector_stdout_sink'), null, 'rnd')],
    })
    const started = await e.start()
    expect(started.map((s) => [s.kind, s.key, s.status])).toEqual([
      ['source', 'random', 'running'],
      ['sink', 'stdout', 'running'],
    ])
    await until(() => engineStat(e, 'source', 'random').messagesOut >= 300 && engineStat(e, 'sink', 'stdout').messagesOut >= 300)
    const src = engineStat(e, 'source', 'random')
    const snk = engineStat(e, 'sink', 'stdout')
    expect(src.messagesOut).toBe(300)
    expect(snk.messagesIn).toBe(300)
    expect(snk.messagesOut).toBe(300)
    expect(snk.errors).toBe(0)
    expect(snk.lag).toBe(0)
    expect(src.pluginPath).toContain('iggy_connector_random_source')
    await e.stop(5000)
    expect(e.stats().map((s) => s.status)).toEqual(['stopped', 'stopped'])
    // The random source saved its state after Iggy acknowledged its batches.
    expect(existsSync(join(dir, 'state', 'source_random.state'))).toBe(true)
  })

  it('applies built-in and TypeScript transforms in file order, forwards tagged logs', async () => {
    const b = await broker()
    const dir = tmpDir()
    const out = join(dir, 'out.txt')
    const logs: Native.LogEntry[] = []
    const batches: string[] = []
    const e = engine({
      iggy: iggy(b.address),
      statePath: join(dir, 'state'),
      sources: [
        source('seq', testPlugin('engine_test_source'), { total: 200, batch_size: 20 }, 'tsx', [
          { type: 'add_fields', configJson: JSON.stringify({ enabled: true, fields: [{ key: 'stage', value: { static: 'builtin' } }] }) },
          { type: 'keep_even', configJson: JSON.stringify({ enabled: true }) },
        ]),
      ],
      sinks: [sink('rec', testPlugin('engine_test_sink'), { output: out }, 'tsx')],
    })
    e.onLog((entry) => logs.push(entry))
    e.onTransform(async (batch) => {
      batches.push(`${batch.kind}:${batch.connectorKey}:${batch.transform}:${batch.stream}/${batch.topic}`)
      return batch.messages
        .filter((m) => JSON.parse(m.payload.toString()).seq % 2 === 0)
        .map((m) => {
          const value = JSON.parse(m.payload.toString())
          return { ...m, payload: Buffer.from(JSON.stringify({ ...value, ts: value.stage === 'builtin' })) }
        })
    })
    await e.start()
    // Everything the source will send (100 of 200 pass the filter) has been consumed: after
    // the stop nothing more can arrive, so the counts below are final, not a snapshot.
    await until(() => lines(out).length >= 100 && engineStat(e, 'source', 'seq').messagesOut >= 100 && engineStat(e, 'sink', 'rec').lag === 0)
    await e.stop(5000)
    const got = lines(out)
    expect(got).toHaveLength(100)
    for (const line of got) {
      const value = JSON.parse(line.payload)
      expect(value.seq % 2).toBe(0)
      expect(value.stage).toBe('builtin')
      expect(value.ts).toBe(true) // the TS stage saw the built-in stage's output
      expect(line.id).toBe(String(value.seq + 1))
    }
    expect(batches[0]).toBe('source:seq:keep_even:tsx/events')
    const src = engineStat(e, 'source', 'seq')
    expect(src.filtered).toBe(100)
    expect(src.messagesOut).toBe(100)
    await until(() => logs.some((l) => l.connectorKey === 'rec' && l.message.includes('opened instance')))
    const pluginLog = logs.find((l) => l.connectorKey === 'seq' && l.target === 'engine_test_source')
    expect(pluginLog?.level).toBe('info')
    expect(pluginLog?.message).toMatch(/opened instance \d+, next seq 0/)
    expect(logs.some((l) => l.connectorKey === 'seq' && l.message.startsWith('source started'))).toBe(true)
  })

  it('runs a TypeScript transform on the sink side with offsets, dropping what it omits', async () => {
    const b = await broker()
    const dir = tmpDir()
    const out = join(dir, 'out.txt')
    const e = engine({
      iggy: iggy(b.address),
      statePath: join(dir, 'state'),
      sources: [source('seq', testPlugin('engine_test_source'), { total: 90, batch_size: 30 }, 'tss')],
      sinks: [sink('rec', testPlugin('engine_test_sink'), { output: out }, 'tss', [{ type: 'drop_thirds', configJson: '{"enabled":true}' }])],
    })
    const seen: number[] = []
    e.onTransform(async (batch) => {
      expect(batch.kind).toBe('sink')
      for (const m of batch.messages) seen.push(m.offset!)
      return batch.messages.filter((m) => m.offset! % 3 !== 0)
    })
    await e.start()
    await until(() => lines(out).length >= 60 && engineStat(e, 'sink', 'rec').filtered >= 30 && engineStat(e, 'sink', 'rec').lag === 0)
    await e.stop(5000)
    const got = lines(out)
    expect(got).toHaveLength(60)
    expect(got.every((l) => l.offset % 3 !== 0)).toBe(true)
    expect(seen).toEqual(Array.from({ length: 90 }, (_, i) => i))
    expect(engineStat(e, 'sink', 'rec').transformErrors).toBe(0)
  })

  it('restarts a source and resumes from its state without gap or duplicate', async () => {
    const b = await broker()
    const dir = tmpDir()
    const out = join(dir, 'out.txt')
    const e = engine({
      iggy: iggy(b.address),
      statePath: join(dir, 'state'),
      sources: [source('seq', testPlugin('engine_test_source'), { total: 400, batch_size: 10, interval_ms: 5 }, 'rs')],
      sinks: [sink('rec', testPlugin('engine_test_sink'), { output: out }, 'rs')],
    })
    await e.start()
    await until(() => lines(out).length >= 100)
    await e.restartSource('seq')
    expect(engineStat(e, 'source', 'seq').status).toBe('running')
    await e.stopConnector('sink', 'rec')
    expect(engineStat(e, 'sink', 'rec').status).toBe('stopped')
    await e.startConnector('sink', 'rec')
    await until(() => lines(out).length >= 400 && engineStat(e, 'sink', 'rec').lag === 0, 30_000)
    await e.stop(5000)
    expect(engineStat(e, 'source', 'seq').messagesOut).toBeLessThanOrEqual(400)
    const seqs = lines(out).map((l) => JSON.parse(l.payload).seq)
    expect(seqs).toEqual(Array.from({ length: 400 }, (_, i) => i))
    await expect(e.restartSink('nope')).rejects.toThrow(/no sink connector with key 'nope'/)
  })

  it('rejects start when Iggy is unreachable and bad options at construction', async () => {
    const dir = tmpDir()
    expect(
      () =>
        new native.Engine({
          iggy: iggy('127.0.0.1:1'),
          statePath: dir,
          sources: [{ ...source('x', 'p', null, 's'), streams: [{ stream: 's', topic: 't', schema: 'flatbuffer', batchLength: 1, lingerTimeMs: 1 }] }],
          sinks: [],
        }),
    ).toThrow(/connector 'x': unknown schema 'flatbuffer'/)
    const e = engine({ iggy: { address: '127.0.0.1:1' }, statePath: dir, sources: [], sinks: [] })
    await expect(e.start()).rejects.toThrow(/cannot connect to Iggy at 127.0.0.1:1: no credentials/)
  })
})
