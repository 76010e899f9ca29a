// Bad input (issue 15): thousands of seeded, mutated inputs to the config loader and the HTTP
// API. Every one must get a clear error — a ConfigError naming the file (and key), or an HTTP
// status with `{code, reason}` — and the process must keep serving. Replay a failure with
// FUZZ_SEED=<seed> (printed in the failure).
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { stringify } from 'smol-toml'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { bindingify } from '../ts/config/bindingify'
import { LocalConfigProvider } from '../ts/config/local-provider'
import { loadRuntimeConfig } from '../ts/config/runtime'
import { ConfigError } from '../ts/errors'
import { ConnectorsRuntime } from '../ts/runtime'
import { track } from './helpers/api-runtime'
import { FakeEngine } from './helpers/fake-engine'
import { Fuzzer, fuzzSeed, textOf } from './helpers/fuzz'
import { tmpDir } from './helpers/tmp'

const SEED = fuzzSeed()

const SOURCE = {
  type: 'source',
  key: 'gen',
  enabled: true,
  version: 0,
  name: 'Gen',
  path: 'plugins/libgen',
  plugin_config_format: 'json',
  streams: [{ stream: 's', topic: 't', schema: 'json', batch_length: 100, linger_time: '5ms', partitioning: 'messages_key' }],
  plugin_config: { interval: '1s', connection_string: 'postgres://u:p@h/db', nested: { list: [1, 2, 3] } },
  transforms: { add_fields: { enabled: true, fields: [{ key: 'a', value: { static: 1 } }] }, delete_fields: { enabled: true, fields: ['b'] } },
  retry: { initial_backoff: '100ms', max_backoff: '1s', multiplier: 2, max_attempts: 3 },
}
const SINK = {
  type: 'sink',
  key: 'out',
  enabled: true,
  version: 0,
  name: 'Out',
  path: 'plugins/libout',
  streams: [{ stream: 's', topics: ['t', 'u'], schema: 'raw', batch_length: 10, poll_interval: '5ms', consumer_group: 'g' }],
  dead_letter: { stream: 's', topic: 'dlq' },
  transforms: { filter_fields: { enabled: true, keep_fields: ['a'] } },
}
const RUNTIME = {
  http: { enabled: true, address: '127.0.0.1:8081', api_key: '', cors: { enabled: true, allowed_methods: ['GET'], allowed_origins: ['*'] }, metrics: { enabled: true, endpoint: '/m' } },
  iggy: { address: 'localhost:8090', username: 'iggy', password: 'iggy', token: '' },
  state: { path: 'state' },
  connectors: { config_type: 'local', config_dir: 'connectors' },
  logging: { format: 'json', level: 'info' },
}

/** Why a thrown error is not an acceptable answer to bad input; undefined when it is. */
function badError(error: unknown, file: string): string | undefined {
  if (!(error instanceof ConfigError)) return `threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`
  if (error.issues.length === 0) return 'ConfigError without issues'
  for (const issue of error.issues) {
    if (issue.file !== file && issue.file !== 'env') return `issue names "${issue.file}", not the file`
    if (issue.message.trim() === '' || /\bundefined\b|\[object Object\]/.test(issue.message)) return `unclear message: ${issue.message}`
  }
  return undefined
}

/** Text of a TOML file from a (mutated) table; a table TOML cannot hold falls back to a text mutation. */
function tomlOf(fuzz: Fuzzer, table: unknown): string {
  try {
    return stringify(table as Record<string, unknown>)
  } catch {
    return fuzz.mutateText(stringify(SOURCE))
  }
}

describe(`config loader fuzz (seed ${SEED})`, () => {
  it('gives every mutated connector file a ConfigError naming it, or loads and bindingifies it', async () => {
    const fuzz = new Fuzzer(SEED)
    const runtime = loadRuntimeConfig({ cliPath: writeRuntime(), env: {} }).config
    const failures: string[] = []
    const root = tmpDir()
    let loaded = 0
    const iterations = 1500
    for (let i = 0; i < iterations; i++) {
      const base = fuzz.pick([SOURCE, SINK])
      const text = fuzz.random() < 0.5 ? tomlOf(fuzz, fuzz.mutate(base)) : fuzz.mutateText(stringify(base))
      const dir = join(root, String(i))
      mkdirSync(dir)
      const file = join(dir, 'c.toml')
      writeFileSync(file, text)
      try {
        const provider = new LocalConfigProvider(dir, {})
        provider.load()
        loaded++
        bindingify(runtime, await provider.getActiveConfigs())
      } catch (error) {
        const why = badError(error, file)
        if (why) failures.push(`#${i} ${why}\n${text}`)
      }
    }
    expect(failures.slice(0, 5), `seed ${SEED}: ${failures.length} of ${iterations} inputs got no clear error`).toEqual([])
    // The mutations must not all be fatal (or all harmless): both paths are exercised.
    expect(loaded).toBeGreaterThan(50)
    expect(loaded).toBeLessThan(iterations - 50)
  })

  it('gives every mutated runtime config a ConfigError naming it, or loads it', () => {
    const fuzz = new Fuzzer(SEED + 1)
    const failures: string[] = []
    const dir = tmpDir()
    let loaded = 0
    const iterations = 1000
    for (let i = 0; i < iterations; i++) {
      const text = fuzz.random() < 0.5 ? tomlOf(fuzz, fuzz.mutate(RUNTIME)) : fuzz.mutateText(stringify(RUNTIME))
      const file = join(dir, `config-${i}.toml`)
      writeFileSync(file, text)
      try {
        loadRuntimeConfig({ cliPath: file, env: {}, cwd: dir })
        loaded++
      } catch (error) {
        const why = badError(error, file)
        if (why) failures.push(`#${i} ${why}\n${text}`)
      }
    }
    expect(failures.slice(0, 5), `seed ${SEED + 1}: ${failures.length} of ${iterations} inputs got no clear error`).toEqual([])
    expect(loaded).toBeGreaterThan(50)
    expect(loaded).toBeLessThan(iterations - 50)
  })
})

let runtimeFile: string | undefined
function writeRuntime(): string {
  if (runtimeFile === undefined) {
    const dir = tmpDir()
    runtimeFile = join(dir, 'config.toml')
    writeFileSync(runtimeFile, stringify({ connectors: { config_dir: join(dir, 'connectors') } }))
  }
  return runtimeFile
}
afterEach(() => {
  runtimeFile = undefined
})

/** A create body: the whole body mutated, only its free-form parts (which validation lets through), or its text. */
function createBody(fuzz: Fuzzer, valid: Record<string, unknown>): string {
  const r = fuzz.random()
  if (r < 0.3) return JSON.stringify({ ...valid, plugin_config: fuzz.mutate(valid.plugin_config ?? {}, 1 + fuzz.int(5)) })
  if (r < 0.7) return JSON.stringify(fuzz.mutate(valid))
  return fuzz.mutateText(JSON.stringify(valid))
}

describe(`HTTP API fuzz (seed ${SEED})`, () => {
  const unexpected: unknown[] = []
  const record = (error: unknown) => unexpected.push(error)
  beforeEach(() => {
    process.on('uncaughtException', record)
    process.on('unhandledRejection', record)
  })
  afterEach(() => {
    process.off('uncaughtException', record)
    process.off('unhandledRejection', record)
  })

  it('answers every mutated request with a clear status and message and keeps serving; what it accepted reloads', async () => {
    const fuzz = new Fuzzer(SEED + 2)
    const dir = tmpDir({
      'connectors/gen.toml': stringify(SOURCE),
      'connectors/out.toml': stringify(SINK),
    })
    const connectors = join(dir, 'connectors')
    const runtime = track(
      new ConnectorsRuntime({
        config: { http: { address: '127.0.0.1:0' }, connectors: { config_dir: connectors }, state: { path: join(dir, 'state') } },
        env: {},
        engineFactory: (o) => new FakeEngine(o),
      }),
    )
    await runtime.start()
    const base = `http://${runtime.httpAddress}`
    const bodies = { sources: (({ type: _t, key: _k, version: _v, ...rest }) => rest)(SOURCE), sinks: (({ type: _t, key: _k, version: _v, ...rest }) => rest)(SINK) }
    const failures: string[] = []
    const statuses = new Map<number, number>()
    const iterations = 1500
    for (let i = 0; i < iterations; i++) {
      const plural = fuzz.pick(['sources', 'sinks'] as const)
      const key = fuzz.pick(plural === 'sources' ? ['gen', 'gen', 'other', '%2e%2e', 'x%00y'] : ['out', 'out', 'other'])
        const route = fuzz.pick([
        { method: 'POST', path: `/${plural}/${key}/configs`, body: createBody(fuzz, bodies[plural]) },
        { method: 'PUT', path: `/${plural}/${key}/configs/active`, body: fuzz.random() < 0.5 ? JSON.stringify({ version: fuzz.value() }) : fuzz.mutateText('{"version": 0}') },
        { method: 'DELETE', path: `/${plural}/${key}/configs?version=${encodeURIComponent(textOf(fuzz.value(), 40))}`, body: undefined },
        { method: 'GET', path: `/${plural}/${key}/configs/${encodeURIComponent(textOf(fuzz.value(), 40))}`, body: undefined },
        { method: 'GET', path: `/${plural}/${key}/configs/plugin?format=${encodeURIComponent(textOf(fuzz.value(), 20))}`, body: undefined },
        { method: 'POST', path: `/${plural}/${key}/restart`, body: fuzz.random() < 0.5 ? undefined : fuzz.mutateText('{}') },
      ])
      const res = await fetch(base + route.path, {
        method: route.method,
        headers: { 'content-type': 'application/json' },
        ...(route.body === undefined ? {} : { body: route.body }),
      })
      const text = await res.text()
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
      const what = `#${i} ${route.method} ${route.path} → ${res.status} ${text.slice(0, 300)}\nbody: ${String(route.body).slice(0, 300)}`
      if (res.status >= 400) {
        let error: { code?: unknown; reason?: unknown } = {}
        try {
          error = JSON.parse(text) as typeof error
        } catch {
          // An empty 404 is upstream's answer for "no plugin_config"; anything else must explain.
          if (!(res.status === 404 && text === '' && route.path.includes('/configs/plugin'))) failures.push(`not a JSON error: ${what}`)
          continue
        }
        if (typeof error.code !== 'string' || typeof error.reason !== 'string' || error.reason.trim() === '' || /\bundefined\b|\[object Object\]/.test(error.reason)) {
          failures.push(`no code/reason: ${what}`)
        }
        else if (res.status >= 500 && !error.code.endsWith('_config_not_found')) failures.push(`server error: ${what}`)
        else if (error.code === 'invalid_configuration' && route.method === 'POST' && !/\.toml: (\S[^:]*: )?\S|expected a JSON object body/.test(error.reason)) {
          failures.push(`error does not name the key: ${what}`)
        }
      } else if (![200, 204].includes(res.status)) failures.push(`unexpected status: ${what}`)
      if (i % 100 === 0) {
        const health = await fetch(`${base}/health`)
        if (health.status !== 200) failures.push(`#${i} /health answered ${health.status}`)
      }
    }
    expect(failures.slice(0, 5), `seed ${SEED + 2}: ${failures.length} of ${iterations} requests got no clear answer; statuses ${JSON.stringify([...statuses])}`).toEqual([])
    expect(unexpected).toEqual([])
    // Still serving, and both accepted and refused inputs were exercised.
    expect((await fetch(`${base}/health`)).status).toBe(200)
    expect((await fetch(`${base}/sources/gen`)).status).toBe(200)
    expect(statuses.get(200) ?? 0).toBeGreaterThan(20)
    expect(statuses.get(400) ?? 0).toBeGreaterThan(100)
    // Nothing the API accepted poisons the directory: it loads again as a whole.
    const reloaded = new LocalConfigProvider(connectors, {})
    expect(() => reloaded.load()).not.toThrow()
    const files = readdirSync(connectors).filter((f) => f.endsWith('.toml') && !f.startsWith('.'))
    expect(files.length).toBeGreaterThan(2)
    const active = await reloaded.getActiveConfigs()
    expect(active.sources.map((s) => s.config.key)).toContain('gen')
  })
})
