// Operator commands end to end: a runtime (real engine, embedded broker, test plugins, HTTP API
// with an api key) started here, and `dlq`, `tap`, `status` run through the CLI entry point
// against its API.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'

import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { main } from '../ts/cli'
import { startTestBroker } from '../ts/index'
import type { NativeTestBroker } from '../ts/native'
import type { DeadLetterJson, StatusJson } from '../ts/operator'
import { ConnectorsRuntime } from '../ts/runtime'
import { waitFor } from './helpers/cli'
import { testPlugin } from './helpers/plugins'
import { freePort } from './helpers/ports'

const API_KEY = 'operator-test-key'

function collector(append: (s: string) => void): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      append(chunk.toString())
      done()
    },
  })
}

function capture(): { io: { stdout: Writable; stderr: Writable }; out: () => string; err: () => string } {
  let out = ''
  let err = ''
  return { io: { stdout: collector((s) => (out += s)), stderr: collector((s) => (err += s)) }, out: () => out, err: () => err }
}

/** Runs the CLI in this process against the test runtime's API. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const c = capture()
  const code = await main([...args, '--url', url, '--api-key', API_KEY], c.io)
  return { code, stdout: c.out(), stderr: c.err() }
}

let broker: NativeTestBroker
let runtime: ConnectorsRuntime
let url: string
let output: string
let dir: string | undefined
/** Warnings and errors of the runtime, shown when a wait times out. */
const logs: string[] = []
/** While true the TS transform `gate` throws on everything (an outage); then only on seq % 100 == 0. */
let broken = true
const stream = `ops_${process.pid}`

function recorded(): string[] {
  return existsSync(output) ? readFileSync(output, 'utf8').split('\n').filter((l) => l !== '').map((l) => l.split('\t')[5] ?? '') : []
}

function sinkStats() {
  const stats = runtime.stats().find((s) => s.kind === 'sink' && s.key === 'ops')
  if (stats === undefined) throw new Error('no sink stats')
  return stats
}

beforeAll(async () => {
  broker = await startTestBroker()
  const http = await freePort()
  url = `http://127.0.0.1:${http}`
  // Not tmpDir(): that one is removed after each test, and this runtime serves them all.
  dir = mkdtempSync(join(tmpdir(), 'iggy-connectors-operator-'))
  mkdirSync(join(dir, 'connectors'))
  writeFileSync(
    join(dir, 'connectors/source.toml'),
    `type = "source"\nkey = "gen"\nenabled = true\nversion = 0\nname = "Gen"\npath = "${testPlugin('engine_test_source')}"\n\n[[streams]]\nstream = "${stream}"\ntopic = "events"\nschema = "json"\ncreate_stream = true\ncreate_topic = true\n\n[plugin_config]\ntotal = 1000\nbatch_size = 100\n`,
  )
  output = join(dir, 'recorded.tsv')
  writeFileSync(
    join(dir, 'connectors/sink.toml'),
    `type = "sink"\nkey = "ops"\nenabled = true\nversion = 0\nname = "Ops"\npath = "${testPlugin('engine_test_sink')}"\n\n[[streams]]\nstream = "${stream}"\ntopics = ["events"]\nschema = "json"\nbatch_length = 100\n\n[dead_letter]\nstream = "${stream}_dlq"\ntopic = "failed"\n\n[transforms.gate]\nenabled = true\non_error = "dead_letter"\n\n[transforms.add_fields]\nenabled = true\nfields = [{ key = "tapped", value = { static = "yes" } }]\n\n[plugin_config]\noutput = "${output}"\n`,
  )
  runtime = new ConnectorsRuntime({
    config: {
      iggy: { address: broker.address },
      http: { enabled: true, address: `127.0.0.1:${http}`, api_key: API_KEY },
      state: { path: join(dir, 'state') },
      connectors: { config_dir: join(dir, 'connectors') },
    },
    env: {},
  })
  runtime.on('log', (r) => {
    if (r.level === 'warn' || r.level === 'error') logs.push(`${r.level} ${r.connectorKey ?? '-'} ${r.message}`)
  })
  runtime.registerTransform('gate', (messages) => {
    if (broken) throw new Error('downstream registry unavailable')
    if (messages.some((m) => (JSON.parse(m.payload.toString()) as { seq: number }).seq % 100 === 0)) throw new Error('still failing')
    return messages
  })
  await runtime.start()
}, 60_000)

afterAll(async () => {
  await runtime?.stop()
  await broker?.stop()
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
})

describe('operator commands against a running runtime', () => {
  it('enforces the api key on every new route', async () => {
    const routes: Array<[string, string]> = [
      ['GET', '/status'],
      ['GET', '/sinks/ops/dead_letters'],
      ['GET', '/sinks/ops/dead_letters/0'],
      ['POST', '/sinks/ops/dead_letters/replay'],
      ['GET', '/sinks/ops/tap?limit=1'],
    ]
    for (const [method, path] of routes) {
      for (const key of [undefined, 'wrong']) {
        const response = await fetch(`${url}${path}`, {
          method,
          headers: { 'content-type': 'application/json', ...(key === undefined ? {} : { 'api-key': key }) },
          ...(method === 'POST' ? { body: '{}' } : {}),
        })
        expect(response.status, `${method} ${path} with key ${String(key)}`).toBe(401)
      }
    }
    const c = capture()
    expect(await main(['status', '--url', url, '--interval', '1ms'], c.io)).toBe(1)
    expect(c.err()).toContain('401 unauthorized')
  })

  it('lists, shows and replays 1,000 dead letters: each delivered once, a repeat failure parked, not looped', { timeout: 120_000 }, async () => {
    await waitFor(() => String(sinkStats().deadLettered), (n) => n === '1000', 60_000)
    expect(recorded()).toEqual([])

    const list = await cli(['dlq', 'list', '--connector', 'ops', '--limit', '5000', '--json'])
    expect(list.code).toBe(0)
    const letters = JSON.parse(list.stdout) as DeadLetterJson[]
    expect(letters).toHaveLength(1000)
    expect(letters.map((l) => l.origin.offset)).toEqual([...Array(1000).keys()])
    for (const l of letters) {
      expect(l).toMatchObject({ error_kind: 'transform', parked: false, origin: { stream, topic: 'events', partition: 0 } })
      expect(l.error).toContain('downstream registry unavailable')
    }
    const text = await cli(['dlq', 'list', '--connector', 'ops', '--from', '998'])
    expect(text.stdout).toMatch(/^p0 #998 .* transform {2}ops_\d+\/events p0 #998 {2}transform 'gate' failed: downstream registry unavailable$/m)
    expect(text.stdout).toContain('2 dead letter(s)')
    const show = await cli(['dlq', 'show', '7', '--connector', 'ops'])
    expect(show.code).toBe(0)
    const seven = JSON.parse(show.stdout) as DeadLetterJson
    expect(seven.origin.offset).toBe(7)
    expect(JSON.parse(seven.payload)).toMatchObject({ seq: 7 })
    expect((await cli(['dlq', 'show', '5000', '--connector', 'ops'])).stderr).toContain('404 no dead letter at partition 0 offset 5000')

    broken = false
    const replay = await cli(['dlq', 'replay', '--connector', 'ops'])
    expect(replay.code, replay.stderr).toBe(0)
    expect(replay.stdout).toBe('replayed 1000 of 1000; skipped: 0 parked, 0 not matching, 0 unreplayable\n')
    expect(replay.stderr).toMatch(/replaying \[#+-*\] \d+% \d+\/1000 read/)

    await waitFor(() => `${sinkStats().parked} ${recorded().length}\n${logs.slice(-5).join('\n')}`, (s) => s.startsWith('10 990\n'), 60_000)
    const seqs = recorded().map((p) => (JSON.parse(p) as { seq: number }).seq).toSorted((a, b) => a - b)
    expect(seqs).toEqual([...Array(1000).keys()].filter((s) => s % 100 !== 0))
    expect(sinkStats().deadLettered).toBe(1010)

    const again = await cli(['dlq', 'replay', '--connector', 'ops'])
    expect(again.stdout).toBe('replayed 0 of 10; skipped: 10 parked, 0 not matching, 0 unreplayable\n')
    const parked = JSON.parse((await cli(['dlq', 'list', '--connector', 'ops', '--from', '1000', '--json'])).stdout) as DeadLetterJson[]
    expect(parked.map((l) => [l.parked, JSON.parse(l.payload).seq])).toEqual([...Array(10).keys()].map((i) => [true, i * 100]))
    expect(parked[0]?.replay_of).toBe(`${stream}_dlq/failed/0/0`)
    expect(recorded()).toHaveLength(990)
  })

  it('reports status figures equal to the engine counters, with the sink lag from Iggy', async () => {
    // Quiescent by now (the source stopped at 1,000): wait for the sink's last commit.
    const deadline = Date.now() + 30_000
    let lag: number | null | undefined
    while (lag !== 0 && Date.now() < deadline) {
      const status = (await (await fetch(`${url}/status`, { headers: { 'api-key': API_KEY } })).json()) as StatusJson
      lag = status.connectors.find((c) => c.key === 'ops')?.lag
      if (lag !== 0) await new Promise((resolve) => setTimeout(resolve, 50))
    }
    expect(lag).toBe(0)
    const result = await cli(['status', '--json', '--interval', '100ms'])
    expect(result.code).toBe(0)
    const lines = JSON.parse(result.stdout) as Array<StatusJson['connectors'][number] & { rate_in: number; rate_out: number }>
    const engine = runtime.stats()
    for (const line of lines) {
      const s = engine.find((e) => e.kind === line.kind && e.key === line.key)
      expect(s, line.key).toBeDefined()
      expect(line).toMatchObject({
        status: s?.status,
        messages_in: s?.messagesIn,
        messages_out: s?.messagesOut,
        errors: s?.errors,
        dead_lettered: s?.deadLettered,
        parked: s?.parked,
        rate_in: 0,
        rate_out: 0,
      })
    }
    // 1,000 produced + 1,000 replayed, all committed.
    expect(lines.find((l) => l.key === 'ops')).toMatchObject({ lag: 0, end: 2000, messages_in: 2000, dead_lettered: 1010, parked: 10 })
    expect(lines.find((l) => l.key === 'gen')).toMatchObject({ messages_out: 1000, lag: null })
    const text = await cli(['status', '--interval', '1ms'])
    const errors = engine.find((e) => e.key === 'ops')?.errors
    expect(text.stdout).toMatch(new RegExp(`^sink +ops +running +in 0\\.0/s {2}out 0\\.0/s {2}lag 0 {2}errors ${errors} {2}dead 1010 \\(10 parked\\)$`, 'm'))
    expect(text.stdout).toMatch(/^source +gen +running +in 0\.0\/s {2}out 0\.0\/s {2}errors 0 {2}dead 0$/m)
  })

  it('watches: a sample per refresh until --count, as NDJSON or text blocks', async () => {
    const result = await cli(['status', '--watch', '--count', '2', '--json', '--interval', '50ms'])
    expect(result.code).toBe(0)
    const refreshes = result.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Array<StatusJson['connectors'][number]>)
    expect(refreshes).toHaveLength(2)
    for (const lines of refreshes) {
      expect(lines.find((l) => l.key === 'ops')).toMatchObject({ lag: 0, end: 2000, messages_in: 2000, dead_lettered: 1010 })
      expect(lines.find((l) => l.key === 'gen')).toMatchObject({ messages_out: 1000 })
    }
    const text = await cli(['status', '--watch', '--count', '3', '--interval', '1ms'])
    expect(text.code).toBe(0)
    expect(text.stdout.match(/^status at \d{4}-\d\d-\d\dT/gm)).toHaveLength(3)
    expect(text.stdout.match(/^sink +ops +running /gm)).toHaveLength(3)
    const misuse = await cli(['status', '--count', '2'])
    expect(misuse.code).toBe(2)
    expect(misuse.stderr).toContain('--count only applies with --watch')
  })

  it('taps the exact payloads before and after the transforms', { timeout: 60_000 }, async () => {
    const tap = (stage: string) => {
      const c = capture()
      const exited = main(['tap', 'sink', 'ops', '--stage', stage, '--limit', '3', '--url', url, '--api-key', API_KEY], c.io)
      return { c, exited }
    }
    const before = tap('before')
    const after = tap('after')
    // "tapping" is printed once the route answered, and it subscribes before answering.
    await waitFor(() => before.c.err() + after.c.err(), (e) => (e.match(/tapping sink ops/g) ?? []).length === 2)
    // Send offsets 1..3 of the dead-letter topic through the sink once more.
    const response = await fetch(`${url}/sinks/ops/dead_letters/replay`, {
      method: 'POST',
      headers: { 'api-key': API_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ from: 1, to: 3, target: { stream, topic: 'events' } }),
    })
    expect((await response.text()).trim().split('\n').at(-1)).toContain('"replayed":3')
    expect(await Promise.all([before.exited, after.exited])).toEqual([0, 0])
    const [b, a] = [{ stdout: before.c.out() }, { stdout: after.c.out() }]
    const letters = JSON.parse((await cli(['dlq', 'list', '--connector', 'ops', '--from', '1', '--limit', '3', '--json'])).stdout) as DeadLetterJson[]
    const originals = letters.map((l) => l.payload)
    expect(b.stdout.trim().split('\n').map((l) => l.replace(/^\[[^\]]+\] /, ''))).toEqual(originals)
    expect(b.stdout).toMatch(new RegExp(`^\\[${stream}/events p0 #2000\\] `))
    expect(a.stdout.trim().split('\n').map((l) => JSON.parse(l.replace(/^\[[^\]]+\] /, '')) as unknown)).toEqual(
      originals.map((p) => ({ ...(JSON.parse(p) as object), tapped: 'yes' })),
    )
  })
})
