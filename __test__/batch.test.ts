// The batch crossing into JS (crates/binding/src/js_batch.rs + ts/batch.ts): the Batch view and
// the result builder, first over hand-made columns (laziness, zero copy, bad results), then
// against the native Engine + embedded broker + real test plugins, like engine.test.ts.
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'

import { afterEach, describe, expect, it } from 'vitest'

import type * as Native from '../index'
import { Batch, BatchResultBuilder } from '../ts/batch'
import { TransformRegistry } from '../ts/transforms/registry'
import { testPlugin } from './helpers/plugins'
import { tmpDir } from './helpers/tmp'
import { engineStat, until } from './helpers/wait'

const native = createRequire(import.meta.url)('../index.js') as typeof Native

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup()
})

/** Columns as the engine builds them (see js_batch.rs), for payloads given as text. */
function makeColumns(payloads: string[], opts: { jsonArray: boolean; kind?: 'source' | 'sink' }): Native.BatchColumns {
  const parts: Buffer[] = []
  const starts: number[] = []
  const lengths: number[] = []
  let at = 0
  const push = (b: Buffer) => {
    parts.push(b)
    at += b.length
  }
  if (opts.jsonArray) push(Buffer.from('['))
  payloads.forEach((p, i) => {
    if (opts.jsonArray && i > 0) push(Buffer.from(','))
    starts.push(at)
    const b = Buffer.from(p)
    lengths.push(b.length)
    push(b)
  })
  if (opts.jsonArray) push(Buffer.from(']'))
  const ids = new BigUint64Array(payloads.length * 2)
  payloads.forEach((_, i) => {
    ids[2 * i] = BigInt(i + 1)
    ids[2 * i + 1] = i === 2 ? 5n : 0n
  })
  return {
    connectorKey: 'k',
    kind: opts.kind ?? 'sink',
    transform: 't',
    stream: 's',
    topic: 'events',
    count: payloads.length,
    payloads: Buffer.concat(parts),
    starts: Uint32Array.from(starts),
    lengths: Uint32Array.from(lengths),
    ids,
    offsets: Float64Array.from(payloads.map((_, i) => 100 + i)),
    timestamps: Float64Array.from(payloads.map((_, i) => (i === 1 ? Number.NaN : 1_700_000_000_000_000 + i))),
    headers: payloads.map((_, i) => (i === 0 ? { a: 'b' } : null)),
    jsonArray: opts.jsonArray,
  }
}

describe('Batch view over hand-made columns', () => {
  it('reads ids, offsets, timestamps and headers per message', () => {
    const batch = new Batch(makeColumns(['{"a":1}', '"x"', '[2]'], { jsonArray: true }))
    expect(batch.length).toBe(3)
    expect([...batch].map((m) => m.id)).toEqual([1n, 2n, (5n << 64n) | 3n])
    expect([...batch].map((m) => m.offset)).toEqual([100, 101, 102])
    expect([...batch].map((m) => m.timestamp)).toEqual([1_700_000_000_000_000, undefined, 1_700_000_000_000_002])
    expect([...batch].map((m) => m.headers)).toEqual([{ a: 'b' }, undefined, undefined])
    expect(batch.get(2).text()).toBe('[2]')
    expect(() => batch.get(3)).toThrow(/message index 3 is outside the batch of 3/)
  })

  it('hands out payloads as zero-copy windows on the one batch buffer', () => {
    const c = makeColumns(['{"a":1}', '{"b":2}'], { jsonArray: true })
    const batch = new Batch(c)
    const p = batch.get(1).payload
    expect(p.toString()).toBe('{"b":2}')
    expect(p.buffer).toBe(c.payloads.buffer)
    expect(p.byteOffset).toBe(c.payloads.byteOffset + c.starts[1]!)
  })

  it('parses JSON on demand, one message at a time, or the whole batch with one parse', () => {
    // Message 1 is not JSON and the batch is not a JSON array: only asking for it fails.
    const lazy = new Batch(makeColumns(['{"a":1}', 'not json', '{"c":3}'], { jsonArray: false }))
    expect(lazy.get(0).json()).toEqual({ a: 1 })
    expect(lazy.get(2).json()).toEqual({ c: 3 })
    expect(() => lazy.get(1).json()).toThrow(SyntaxError)

    const whole = new Batch(makeColumns(['{"a":1}', '"x"', '[2]'], { jsonArray: true }))
    expect(JSON.parse(whole.columns.payloads.toString())).toEqual([{ a: 1 }, 'x', [2]])
    const all = whole.jsonAll()
    expect(all).toEqual([{ a: 1 }, 'x', [2]])
    expect(whole.get(0).json()).toBe(all[0]) // after jsonAll: the parsed value, no second parse
  })

  it('builds results: unchanged messages carry no bytes, new payloads share one buffer', () => {
    const batch = new Batch(makeColumns(['{"a":1}', '{"b":2}', '{"c":3}'], { jsonArray: true }))
    const r = batch.result().keep(2).setJson(0, { a: 'é' }).set(1, Buffer.from('{}'), { id: 7n, timestamp: 5, headers: {} }).build()
    expect([...r.from]).toEqual([2, 0, 1])
    expect([...r.lengths]).toEqual([-1, Buffer.byteLength('{"a":"é"}'), 2])
    expect(r.payloads.toString()).toBe('{"a":"é"}{}')
    expect([...(r.ids ?? [])]).toEqual([0n, 0n, 0n, 0n, 7n, 0n])
    expect([...(r.timestamps ?? [])].map((t) => (Number.isNaN(t) ? null : t))).toEqual([null, null, 5])
    expect(r.headers).toEqual([null, null, {}])
  })

  it('grows past its first guess without losing entries', () => {
    const b = new BatchResultBuilder(1, 1)
    const big = 'x'.repeat(40_000)
    for (let i = 0; i < 100; i++) b.add(i === 50 ? big : `m${i}`, i === 99 ? { id: (1n << 127n) + 1n } : undefined)
    const r = b.build()
    expect(r.from.length).toBe(100)
    expect(r.payloads.length).toBe([...r.lengths].reduce((a, n) => a + n, 0))
    expect(r.payloads.subarray(r.payloads.length - 3).toString()).toBe('m99')
    expect(r.ids?.[199]).toBe(1n << 63n)
    expect(() => b.add('x', { id: 1n << 128n })).toThrow(/is not a u128/)
  })
})

// ---- against the native engine ---------------------------------------------------------------

async function broker(): Promise<Native.TestBroker> {
  const b = await native.TestBroker.start()
  cleanups.push(() => b.stop())
  return b
}

const retry: Native.RetryOptions = { initialBackoffMs: 20, maxBackoffMs: 200, multiplier: 2, maxAttempts: 0 }

function ts(type: string, extra: Record<string, unknown> = {}): Native.TransformOptions {
  return { type, configJson: JSON.stringify({ enabled: true, ...extra }) }
}

function engine(address: string, stream: string, source: { total: number; batch: number; transforms?: Native.TransformOptions[] }, sink: { out: string; transforms?: Native.TransformOptions[]; deadLetter?: Native.DeadLetterOptions }): Native.Engine {
  const e = new native.Engine({
    iggy: { address, username: 'iggy', password: 'iggy' },
    statePath: join(tmpDir(), 'state'),
    sources: [
      {
        key: 'seq',
        name: 'seq',
        path: testPlugin('engine_test_source'),
        version: 1,
        pluginConfigJson: JSON.stringify({ total: source.total, batch_size: source.batch }),
        transforms: source.transforms ?? [],
        streams: [{ stream, topic: 'events', schema: 'json', batchLength: 1000, lingerTimeMs: 1, createStream: true, createTopic: true }],
        verbose: false,
        retry,
      },
    ],
    sinks: [
      {
        key: 'rec',
        name: 'rec',
        path: testPlugin('engine_test_sink'),
        version: 1,
        pluginConfigJson: JSON.stringify({ output: sink.out }),
        transforms: sink.transforms ?? [],
        streams: [{ stream, topics: ['events'], schema: 'json', batchLength: 100, pollIntervalMs: 5 }],
        verbose: false,
        retry,
        deadLetter: sink.deadLetter,
      },
    ],
  })
  cleanups.push(() => e.stop(5000))
  return e
}

interface Line { offset: number; id: string; payload: string }

function lines(file: string): Line[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [, , , offset, id, ...rest] = l.split('\t')
      return { offset: Number(offset), id: id!, payload: rest.join('\t') }
    })
}

const seqOf = (m: { json(): unknown }) => (m.json() as { seq: number }).seq
const BIG = 1n << 100n
const T0 = 1_700_000_000_000_000

describe('batch crossing through the native engine', () => {
  it('round-trips ids, timestamps and headers set at the source to the sink view; keeps, changes and drops', async () => {
    const b = await broker()
    const out = join(tmpDir(), 'out.txt')
    const e = engine(b.address, 'bx1', { total: 100, batch: 25, transforms: [ts('stamp')] }, { out, transforms: [ts('check')] })
    const seen: Array<{ id: bigint; offset: number | undefined; timestamp: number | undefined; headers: Readonly<Record<string, string>> | undefined; seq: number }> = []
    let sharedBuffer = true
    e.onTransformBatch(async (columns) => {
      const batch = new Batch(columns)
      const result = batch.result()
      if (batch.kind === 'source') {
        expect(batch.isJson).toBe(true)
        expect(batch.offset(0)).toBeUndefined()
        for (const m of batch) {
          const seq = seqOf(m)
          const meta = { id: BIG + BigInt(seq), timestamp: T0 + seq, headers: { seq: String(seq), parity: seq % 2 ? 'odd' : 'even' } }
          if (seq % 5 === 4) continue // dropped at the source
          if (seq % 2 === 0) result.keep(m.index, meta)
          else result.setJson(m.index, { seq, odd: true }, meta)
        }
        return result.build()
      }
      // Sink: one parse for the batch, zero-copy payload windows, metadata from Iggy.
      const values = batch.jsonAll() as Array<{ seq: number }>
      for (const m of batch) {
        sharedBuffer &&= m.payload.buffer === columns.payloads.buffer
        seen.push({ id: m.id, offset: m.offset, timestamp: m.timestamp, headers: m.headers, seq: values[m.index]!.seq })
        if (m.offset! % 3 !== 0) result.keep(m.index) // drop every third offset
      }
      return result.build()
    })
    const startedMicros = Date.now() * 1000
    await e.start()
    // 80 of 100 pass the source; the sink drops offsets 0, 3, …, 78 (27 of 80).
    await until(() => lines(out).length >= 53 && engineStat(e, 'sink', 'rec').lag === 0 && engineStat(e, 'sink', 'rec').filtered >= 27)
    await e.stop(5000)

    expect(sharedBuffer).toBe(true)
    const expected = Array.from({ length: 100 }, (_, seq) => seq).filter((seq) => seq % 5 !== 4)
    expect(seen.map((s) => s.seq)).toEqual(expected)
    expect(seen.map((s) => s.offset)).toEqual(expected.map((_, i) => i))
    expect(seen.map((s) => s.id)).toEqual(expected.map((seq) => BIG + BigInt(seq)))
    // Sinks see Iggy's append time (the source's timestamp becomes the origin timestamp).
    const stamps = seen.map((s) => s.timestamp!)
    expect(stamps.every((t, i) => t >= startedMicros && t <= Date.now() * 1000 && (i === 0 || t >= stamps[i - 1]!))).toBe(true)
    expect(seen.map((s) => s.headers)).toEqual(expected.map((seq) => ({ seq: String(seq), parity: seq % 2 ? 'odd' : 'even' })))

    const got = lines(out)
    expect(got.map((l) => l.offset)).toEqual(expected.map((_, i) => i).filter((o) => o % 3 !== 0))
    for (const line of got) {
      const value = JSON.parse(line.payload) as { seq: number; odd?: boolean }
      expect(line.id).toBe(String(BIG + BigInt(value.seq)))
      expect(value.odd).toBe(value.seq % 2 === 1 ? true : undefined)
    }
    expect(engineStat(e, 'source', 'seq').filtered).toBe(20)
    expect(engineStat(e, 'sink', 'rec').filtered).toBe(27)
    expect(engineStat(e, 'sink', 'rec').transformErrors).toBe(0)
  })

  it('retries a throwing batch transform (nothing lost) and dead-letters what keeps throwing', async () => {
    const b = await broker()
    const out = join(tmpDir(), 'out.txt')
    const e = engine(
      b.address,
      'bx2',
      { total: 60, batch: 20 },
      { out, transforms: [ts('flaky'), ts('picky', { on_error: 'dead_letter' })], deadLetter: { stream: 'bx2_dlq', topic: 'failed' } },
    )
    let flakyThrows = 2
    const registry = new TransformRegistry()
    registry.bindConnector('sink', 'rec', [
      {
        name: 'flaky',
        config: {},
        transform: {
          transformBatch: (batch) => {
            if (flakyThrows > 0) {
              flakyThrows--
              throw new Error('warming up')
            }
            return batch // keep all
          },
        },
      },
      {
        name: 'picky',
        config: {},
        transform: {
          transformBatch: (batch) => {
            const r = batch.result()
            for (const m of batch) {
              if (seqOf(m) === 13) throw new TypeError('seq 13 is poison')
              r.keep(m.index)
            }
            return r
          },
        },
      },
    ])
    e.onTransformBatch((columns) => registry.dispatch(columns))
    await e.start()
    await until(() => lines(out).length >= 59 && engineStat(e, 'sink', 'rec').deadLettered >= 1 && engineStat(e, 'sink', 'rec').lag === 0)
    await e.stop(5000)
    expect(flakyThrows).toBe(0)
    const seqs = lines(out).map((l) => (JSON.parse(l.payload) as { seq: number }).seq)
    expect(seqs).toEqual(Array.from({ length: 60 }, (_, i) => i).filter((s) => s !== 13))
    const sinkStats = engineStat(e, 'sink', 'rec')
    expect(sinkStats.deadLettered).toBe(1)
    expect(sinkStats.transformErrors).toBeGreaterThanOrEqual(2)
  })

  it('checks payloads a sink transform returns: an invalid one fails alone (dead-lettered), the rest arrive', async () => {
    const b = await broker()
    const out = join(tmpDir(), 'out.txt')
    const e = engine(b.address, 'bx4', { total: 40, batch: 20 }, { out, transforms: [ts('breaks_seven')], deadLetter: { stream: 'bx4_dlq', topic: 'failed' } })
    e.onTransformBatch(async (columns) => {
      const batch = new Batch(columns)
      const result = batch.result()
      for (const m of batch) {
        if (seqOf(m) === 7) result.set(m.index, '{"seq": 7,') // not JSON: the stream schema is json
        else result.keep(m.index)
      }
      return result.build()
    })
    await e.start()
    await until(() => lines(out).length >= 39 && engineStat(e, 'sink', 'rec').deadLettered >= 1 && engineStat(e, 'sink', 'rec').lag === 0)
    await e.stop(5000)
    const seqs = lines(out).map((l) => (JSON.parse(l.payload) as { seq: number }).seq)
    expect(seqs).toEqual(Array.from({ length: 40 }, (_, i) => i).filter((s) => s !== 7))
    const sinkStats = engineStat(e, 'sink', 'rec')
    expect(sinkStats.deadLettered).toBe(1)
    expect(sinkStats.transformErrors).toBe(1)
    expect(sinkStats.filtered).toBe(0)
  })

  it('keeps the per-message convenience form: objects in, objects out, matched by offset', async () => {
    const b = await broker()
    const out = join(tmpDir(), 'out.txt')
    const e = engine(b.address, 'bx3', { total: 30, batch: 10, transforms: [ts('shout')] }, { out, transforms: [ts('half')] })
    const registry = new TransformRegistry()
    registry.bindConnector('source', 'seq', [
      {
        name: 'shout',
        config: {},
        transform: {
          transform: (messages) =>
            messages.map((m) => ({ ...m, id: String(1000 + (JSON.parse(m.payload.toString()) as { seq: number }).seq), payload: Buffer.from(m.payload.toString().toUpperCase()) })),
        },
      },
    ])
    registry.bindConnector('sink', 'rec', [{ name: 'half', config: {}, transform: { transform: (messages) => messages.filter((m) => m.offset! % 2 === 0) } }])
    e.onTransformBatch((columns) => registry.dispatch(columns))
    await e.start()
    await until(() => lines(out).length >= 15 && engineStat(e, 'sink', 'rec').lag === 0 && engineStat(e, 'sink', 'rec').filtered >= 15)
    await e.stop(5000)
    const got = lines(out)
    expect(got.map((l) => l.offset)).toEqual(Array.from({ length: 15 }, (_, i) => 2 * i))
    expect(got.map((l) => (JSON.parse(l.payload) as { SEQ: number }).SEQ)).toEqual(Array.from({ length: 15 }, (_, i) => 2 * i))
    expect(got.map((l) => l.id)).toEqual(Array.from({ length: 15 }, (_, i) => String(1000 + 2 * i)))
  })

  it('fails the batch with a clear error when a transform returns something else', async () => {
    const registry = new TransformRegistry()
    registry.bindConnector('sink', 'k', [{ name: 't', config: {}, transform: { transformBatch: () => ({ nope: true }) as unknown as Batch } }])
    await expect(registry.dispatch(makeColumns(['{}'], { jsonArray: true }))).rejects.toThrow(/TS transform "t" returned an object \(Object\), expected batch.result\(\)/)
  })
})
