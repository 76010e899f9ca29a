// Sources and sinks written in TypeScript, driven by the real engine against the embedded
// broker: ids kept end to end, state saved only after Iggy acked, a throwing or rejecting
// consume retried (nothing lost), per-message rejections dead-lettered, a Nacked batch
// produced again, restarts from the API, and the config rules for `module`.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterEach, describe, expect, it } from 'vitest'

import {
  ConfigError,
  ConnectorsRuntime,
  messageIdFromKey,
  idToUuid,
  startTestBroker,
  type ConsumeResult,
  type PollResult,
  type SinkBatch,
  type SinkConnector,
  type SourceConnector,
  type SourceMessage,
} from '../ts/index'
import { fixtures, tmpDir } from './helpers/tmp'
import { until } from './helpers/wait'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup()
})

async function broker(): Promise<string> {
  const b = await startTestBroker()
  cleanups.push(() => b.stop())
  return b.address
}

const RETRY = '[retry]\ninitial_backoff = "10ms"\nmax_backoff = "100ms"\n'

function sourceFile(key: string, module: string, stream: string, extra = ''): string {
  return `type = "source"\nkey = "${key}"\nenabled = true\nversion = 0\nname = "${key}"\nmodule = "${module}"\n${extra}\n${RETRY}\n[[streams]]\nstream = "${stream}"\ntopic = "events"\nschema = "json"\ncreate_stream = true\ncreate_topic = true\n`
}

function sinkFile(key: string, module: string, stream: string, topic = 'events', extra = ''): string {
  return `type = "sink"\nkey = "${key}"\nenabled = true\nversion = 0\nname = "${key}"\nmodule = "${module}"\n${extra}\n${RETRY}\n[[streams]]\nstream = "${stream}"\ntopics = ["${topic}"]\nschema = "json"\nbatch_length = 100\npoll_interval = "2ms"\n`
}

async function runtime(address: string, dir: string, setup: (r: ConnectorsRuntime) => void): Promise<ConnectorsRuntime> {
  const r = new ConnectorsRuntime({
    config: { iggy: { address }, http: { enabled: false }, state: { path: join(dir, 'state') }, connectors: { config_type: 'local', config_dir: join(dir, 'connectors') } },
    env: {},
    logSink: (record) => {
      if (process.env.TS_CONNECTOR_DEBUG && record.level !== 'debug' && record.level !== 'trace') console.error(record.level, record.connectorKey, record.message)
    },
  })
  setup(r)
  cleanups.push(() => r.stop(5000))
  await r.start()
  return r
}

interface Row {
  seq: number
}

/** Produces rows 0..total-1 in batches, from the committed position (the saved state). */
class CountingSource implements SourceConnector<{ total: number; batch: number }, { next: number }> {
  next = 0
  committed = 0
  total = 0
  batch = 0
  opens: Array<{ next: number } | undefined> = []
  acks = 0
  nacks = 0
  /** Messages #i of the first batch are made unsendable (empty payload) while > 0. */
  poisonFirst = 0

  open(config: { total: number; batch: number }, state: { next: number } | undefined): void {
    this.total = config.total
    this.batch = config.batch
    this.opens.push(state)
    this.next = state?.next ?? 0
    this.committed = this.next
  }

  poll(): PollResult<{ next: number }> {
    const end = Math.min(this.total, this.next + this.batch)
    const messages: SourceMessage[] = []
    for (let seq = this.next; seq < end; seq++) {
      const poisoned = this.poisonFirst > 0 && seq === this.next
      messages.push({ id: messageIdFromKey('rows', String(seq)), payload: poisoned ? '' : ({ seq } satisfies Row), headers: { source: 'counting' } })
    }
    this.next = end
    return messages.length === 0 ? { messages } : { messages, state: { next: end } }
  }

  ack(): void {
    this.acks++
    this.committed = this.next
  }

  nack(): void {
    this.nacks++
    this.poisonFirst = Math.max(0, this.poisonFirst - 1)
    // Not stored: produce the same rows again.
    this.next = this.committed
  }
}

interface Received {
  seq: number
  id: string
  offset: number
  headers: Readonly<Record<string, string>> | undefined
}

/** Records every message of every batch it accepts; `fail(n)` decides whether call n fails. */
class RecordingSink implements SinkConnector {
  received: Received[] = []
  calls = 0
  closed = 0
  constructor(
    readonly fail: (call: number) => 'throw' | 'reject' | 'ok' = () => 'ok',
    readonly reject: (seq: number) => string | undefined = () => undefined,
  ) {}

  consume(batch: SinkBatch): ConsumeResult | Promise<ConsumeResult> {
    const call = ++this.calls
    const outcome = this.fail(call)
    if (outcome === 'throw') throw new Error(`consume call ${call} throws`)
    if (outcome === 'reject') return Promise.reject(new Error(`consume call ${call} rejects`))
    const rejected = []
    for (const m of batch.messages) {
      const seq = (m.json() as Row).seq
      const offset = m.offset ?? -1
      const reason = this.reject(seq)
      if (reason !== undefined) rejected.push({ offset, reason })
      else this.received.push({ seq, id: String(m.id), offset, headers: m.headers })
    }
    return { rejected }
  }

  close(): void {
    this.closed++
  }
}

function seqs(received: readonly Received[]): number[] {
  return received.map((r) => r.seq).toSorted((a, b) => a - b)
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i)

describe('TypeScript connectors', () => {
  it('a TS source feeds a TS sink: every row once, ids kept end to end, state saved after the ack', async () => {
    const address = await broker()
    const dir = tmpDir({
      'connectors/source.toml': `${sourceFile('rows', 'counting', 'ts_e2e')}\n[plugin_config]\ntotal = 500\nbatch = 50\n`,
      'connectors/sink.toml': sinkFile('record', 'recording', 'ts_e2e'),
    })
    const source = new CountingSource()
    const sink = new RecordingSink()
    const r = await runtime(address, dir, (rt) => rt.registerSource('counting', source).registerSink('recording', sink))
    await until(() => sink.received.length >= 500 && source.acks >= 10)

    expect(seqs(sink.received)).toEqual(range(500))
    for (const m of sink.received) expect(m.id).toBe(messageIdFromKey('rows', String(m.seq)))
    expect(sink.received[0]?.headers).toEqual({ source: 'counting' })
    expect(idToUuid(sink.received[0]!.id)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(source.nacks).toBe(0)
    expect(JSON.parse(readFileSync(join(dir, 'state', 'source_rows.state'), 'utf8'))).toEqual({ next: 500 })
    // The engine counts a batch once consume() resolved, a moment after the sink saw it.
    await until(() => r.stats().find((s) => s.key === 'record')?.messagesOut === 500)
    const stats = r.stats()
    expect(stats.find((s) => s.key === 'rows')).toMatchObject({ status: 'running', messagesOut: 500 })
    expect(stats.find((s) => s.key === 'record')).toMatchObject({ status: 'running', messagesOut: 500 })

    // A restart from the API opens a new instance with the saved state; the sink resumes at its offset.
    expect(await r.restart('source', 'rows')).toBe(true)
    expect(await r.restart('sink', 'record')).toBe(true)
    expect(source.opens).toEqual([undefined, { next: 500 }])
    expect(sink.closed).toBe(1)
    expect(sink.received).toHaveLength(500)
  })

  it('the same derivation as the native sources: a fixed key gives a fixed UUIDv8', () => {
    // Pinned: changing the derivation would re-deliver everything to id-deduplicating sinks.
    const id = messageIdFromKey('orders', '42')
    expect(id).toBe(messageIdFromKey('orders', '42'))
    expect(id).not.toBe(messageIdFromKey('orders', '43'))
    expect(messageIdFromKey('ab', 'c')).not.toBe(messageIdFromKey('a', 'bc'))
    expect(idToUuid(id)[14]).toBe('8')
  })

  it('a throwing consume and a rejected promise are retried with backoff: nothing lost, offsets move only after success', async () => {
    const address = await broker()
    const dir = tmpDir({
      'connectors/source.toml': `${sourceFile('rows', 'counting', 'ts_retry')}\n[plugin_config]\ntotal = 300\nbatch = 30\n`,
      'connectors/sink.toml': sinkFile('flaky', 'flaky', 'ts_retry'),
    })
    const source = new CountingSource()
    // Calls 1-4 fail (throw, reject, throw, reject), then every fifth call fails again.
    const sink = new RecordingSink((call) => (call <= 4 || call % 5 === 0 ? (call % 2 === 1 ? 'throw' : 'reject') : 'ok'))
    const r = await runtime(address, dir, (rt) => rt.registerSource('counting', source).registerSink('flaky', sink))
    await until(() => sink.received.length >= 300)

    expect(seqs(sink.received)).toEqual(range(300))
    // Each partition batch arrives whole, in offset order, once it is accepted.
    const offsets = sink.received.map((m) => m.offset)
    expect(offsets).toEqual(range(300))
    const stats = r.stats().find((s) => s.key === 'flaky')
    expect(stats?.consumeErrors).toBeGreaterThanOrEqual(4)
    expect(stats?.status).toBe('running')
  })

  it('per-message rejections go to the dead-letter topic; the rest is stored', async () => {
    const address = await broker()
    const dir = tmpDir({
      'connectors/source.toml': `${sourceFile('rows', 'counting', 'ts_dlq')}\n[plugin_config]\ntotal = 200\nbatch = 20\n`,
      'connectors/sink.toml': sinkFile('picky', 'picky', 'ts_dlq', 'events', '[dead_letter]\nstream = "ts_dlq"\ntopic = "dead"\n'),
      'connectors/dead.toml': sinkFile('dead', 'dead', 'ts_dlq', 'dead'),
    })
    const source = new CountingSource()
    const picky = new RecordingSink(undefined, (seq) => (seq % 10 === 3 ? `seq ${seq} is not wanted` : undefined))
    const dead = new RecordingSink()
    const r = await runtime(address, dir, (rt) => rt.registerSource('counting', source).registerSink('picky', picky).registerSink('dead', dead))
    await until(() => picky.received.length >= 180)
    // The dead-letter topic exists once the picky sink started; the reader joins it now.
    expect(await r.restart('sink', 'dead')).toBe(true)
    await until(() => dead.received.length >= 20)

    const unwanted = range(200).filter((s) => s % 10 === 3)
    expect(seqs(dead.received)).toEqual(unwanted)
    expect(seqs(picky.received)).toEqual(range(200).filter((s) => s % 10 !== 3))
    // The dead letter keeps the message id and says why.
    for (const m of dead.received) {
      expect(m.id).toBe(messageIdFromKey('rows', String(m.seq)))
      expect(Object.values(m.headers ?? {})).toContain(`seq ${m.seq} is not wanted`)
    }
    expect(r.stats().find((s) => s.key === 'picky')?.status).toBe('running')
  })

  it('a batch Iggy refuses is Nacked before any state is saved, then produced again', async () => {
    const address = await broker()
    const dir = tmpDir({
      'connectors/source.toml': `${sourceFile('rows', 'counting', 'ts_nack')}\n[plugin_config]\ntotal = 100\nbatch = 10\n`,
      'connectors/sink.toml': sinkFile('record', 'recording', 'ts_nack'),
    })
    const source = new CountingSource()
    source.poisonFirst = 2
    const sink = new RecordingSink()
    await runtime(address, dir, (rt) => rt.registerSource('counting', source).registerSink('recording', sink))
    // The source's ack() runs after its state is saved, which can be after the sink saw the batch.
    await until(() => sink.received.length >= 100 && source.acks >= 10)

    expect(source.nacks).toBe(2)
    expect(seqs(sink.received)).toEqual(range(100))
    expect(source.acks).toBe(10)
  })

  it('a source that fails to open gets status error naming the reason; the others run', async () => {
    const address = await broker()
    const dir = tmpDir({
      'connectors/source.toml': `${sourceFile('broken', 'broken', 'ts_open')}`,
      'connectors/sink.toml': sinkFile('record', 'recording', 'ts_open'),
    })
    const sink = new RecordingSink()
    const r = await runtime(address, dir, (rt) =>
      rt
        .registerSource('broken', {
          open() {
            throw new Error('no credentials')
          },
          poll: () => ({ messages: [] }),
        })
        .registerSink('recording', sink),
    )
    const broken = r.stats().find((s) => s.key === 'broken')
    expect(broken?.status).toBe('error')
    expect(broken?.lastError?.message).toContain('no credentials')
    expect(r.stats().find((s) => s.key === 'record')?.status).toBe('running')
  })
})

describe('connector files naming a module', () => {
  it('refuses both path and module, and neither, naming the file and key', async () => {
    const dir = tmpDir({
      'connectors/both.toml': 'type = "sink"\nkey = "both"\nenabled = true\nversion = 0\nname = "b"\npath = "x"\nmodule = "./x.mjs"\nstreams = []\n',
      'connectors/neither.toml': 'type = "sink"\nkey = "neither"\nenabled = true\nversion = 0\nname = "n"\nstreams = []\n',
      'connectors/iso.toml': 'type = "sink"\nkey = "iso"\nenabled = true\nversion = 0\nname = "i"\npath = "x"\nisolation = "worker"\nstreams = []\n',
    })
    const r = new ConnectorsRuntime({ config: { iggy: { address: '127.0.0.1:1' }, http: { enabled: false }, connectors: { config_type: 'local', config_dir: join(dir, 'connectors') } }, env: {} })
    const error = await r.start().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(ConfigError)
    const text = (error as Error).message
    expect(text).toMatch(/both\.toml.*module.*either path .* or module .*not both/)
    expect(text).toMatch(/neither\.toml.*path.*give path .* or module/)
    expect(text).toMatch(/iso\.toml.*isolation.*module connectors only/)
  })

  it('loads a .mjs module relative to the connector file and refuses a .ts one with the reason', async () => {
    const address = await broker()
    const dir = tmpDir({
      'connectors/source.toml': `${sourceFile('rows', 'counting', 'ts_module')}\n[plugin_config]\ntotal = 40\nbatch = 8\n`,
      'connectors/lib/file-sink.mjs': readFileSync(join(fixtures, 'ts-connectors', 'file-sink.mjs'), 'utf8'),
      'connectors/ts.toml': sinkFile('typed', './lib/typed.ts', 'ts_module'),
    })
    const file = join(dir, 'received.tsv')
    writeFileSync(join(dir, 'connectors/sink.toml'), `${sinkFile('file', './lib/file-sink.mjs', 'ts_module')}\n[plugin_config]\nfile = "${file}"\n`)
    const source = new CountingSource()
    const r = await runtime(address, dir, (rt) => rt.registerSource('counting', source))
    const lines = (): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [])
    await until(() => lines().length >= 40)
    const rows = lines().map((l) => (JSON.parse(l.split('\t')[2] ?? '') as Row).seq)
    expect(rows.toSorted((a, b) => a - b)).toEqual(range(40))
    expect(r.stats().find((s) => s.key === 'file')?.pluginPath).toBe('./lib/file-sink.mjs')
    const typed = r.stats().find((s) => s.key === 'typed')
    expect(typed?.status).toBe('error')
    expect(typed?.lastError?.message).toContain('compile it to .js/.mjs')
  })
})
