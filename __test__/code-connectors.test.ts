// Connectors defined in the embedding program (`connectors` option) instead of connector files:
// the same validation as a file, errors naming the entry, no clash with file-defined keys, and
// the config API refusing to edit them. The pipeline runs on the embedded broker.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterEach, describe, expect, it } from 'vitest'

import {
  ConnectorsRuntime,
  type ConnectorConfigInput,
  type PollResult,
  type SinkBatch,
  type SourceConnector,
  startTestBroker,
} from '../ts/index'
import { ConfigError } from '../ts/errors'
import { freePort } from './helpers/ports'
import { tmpDir } from './helpers/tmp'
import { until } from './helpers/wait'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup()
})

const TOTAL = 250

/** Rows 0..TOTAL-1, 50 per poll, from the saved position. */
function rows(): SourceConnector<unknown, { next: number }> {
  let next = 0
  let polled = 0
  return {
    open(_config, state) {
      next = state?.next ?? 0
    },
    poll(): PollResult<{ next: number }> {
      polled = Math.min(TOTAL, next + 50)
      const messages = []
      for (let seq = next; seq < polled; seq++) messages.push({ payload: { seq } })
      return messages.length === 0 ? { messages } : { messages, state: { next: polled } }
    },
    ack() {
      next = polled
    },
  }
}

function connectors(stream: string): ConnectorConfigInput[] {
  return [
    {
      type: 'source',
      key: 'rows',
      enabled: true,
      version: 0,
      name: 'Rows from code',
      module: 'rows',
      streams: [{ stream, topic: 'events', schema: 'json', create_stream: true, create_topic: true }],
    },
    {
      type: 'sink',
      key: 'print',
      enabled: true,
      version: 0,
      name: 'Print from code',
      module: 'print',
      streams: [{ stream, topics: ['events'], schema: 'json', batch_length: 100, poll_interval: '2ms' }],
      plugin_config: { label: 'code' },
    },
  ]
}

async function runtime(options: { connectors: ConnectorConfigInput[]; files?: Record<string, string>; http?: boolean }) {
  const broker = await startTestBroker()
  cleanups.push(() => broker.stop())
  const dir = tmpDir()
  for (const [name, text] of Object.entries(options.files ?? {})) writeFileSync(join(dir, name), text)
  const port = options.http === true ? await freePort() : 0
  const received: number[] = []
  const configs: unknown[] = []
  const r = new ConnectorsRuntime({
    config: {
      iggy: { address: broker.address },
      http: options.http === true ? { enabled: true, address: `127.0.0.1:${port}` } : { enabled: false },
      state: { path: join(dir, 'state') },
      connectors: { config_type: 'local', config_dir: dir },
    },
    connectors: options.connectors,
    env: {},
  })
  r.registerSource('rows', rows)
  r.registerSink('print', () => ({
    open(config) {
      configs.push(config)
    },
    consume(batch: SinkBatch) {
      for (const m of batch.messages) received.push((m.json() as { seq: number }).seq)
    },
  }))
  cleanups.push(() => r.stop(5000))
  return { r, received, configs, url: `http://127.0.0.1:${port}` }
}

describe('connectors defined in code', () => {
  it('run a source and a sink with no connector file: every row once, plugin_config passed', async () => {
    const { r, received, configs } = await runtime({ connectors: connectors(`code_${process.pid}`) })
    await r.start()
    await until(() => received.length >= TOTAL)
    // The engine counts a batch once consume() resolved, a moment after the sink saw it.
    await until(() => r.stats().find((s) => s.kind === 'sink' && s.key === 'print')?.messagesOut === TOTAL)
    expect(received.toSorted((a, b) => a - b)).toEqual(Array.from({ length: TOTAL }, (_, i) => i))
    expect(configs).toEqual([{ label: 'code' }])
    const stats = r.stats()
    expect(stats.find((s) => s.kind === 'source' && s.key === 'rows')?.messagesOut).toBe(TOTAL)
    expect(stats.find((s) => s.kind === 'sink' && s.key === 'print')?.messagesOut).toBe(TOTAL)
  })

  it('refuse to start with a bad entry, naming the entry and the key', async () => {
    const bad = connectors('bad')
    bad[1] = { ...bad[1], streams: [{ stream: 'bad', topics: 'events' }] } as unknown as ConnectorConfigInput
    const { r } = await runtime({ connectors: [bad[0] as ConnectorConfigInput, bad[1] as ConnectorConfigInput, { ...(bad[0] as ConnectorConfigInput) }] })
    const error = await r.start().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(ConfigError)
    const message = (error as ConfigError).message
    expect(message).toContain('connectors[1] (code)')
    expect(message).toContain('streams')
    // The third entry repeats the first one's key.
    expect(message).toMatch(/connectors\[2\] \(code\).*source "rows" is already defined by connectors\[0\] \(code\)/)
  })

  it('refuse a key that a connector file defines too', async () => {
    const file = 'type = "sink"\nkey = "print"\nenabled = true\nversion = 0\nname = "file"\nmodule = "print"\n\n[[streams]]\nstream = "x"\ntopics = ["events"]\nschema = "json"\n'
    const { r } = await runtime({ connectors: connectors('dup'), files: { 'print.toml': file } })
    await expect(r.start()).rejects.toThrow(/connectors\[1\] \(code\).*sink "print" is also defined by .*print\.toml/)
  })

  it('are listed by the config API and cannot be edited through it', async () => {
    const { r, url } = await runtime({ connectors: connectors(`codeapi_${process.pid}`), http: true })
    await r.start()
    const listed = await fetch(`${url}/sinks/print/configs`)
    expect(listed.status).toBe(200)
    expect(JSON.stringify(await listed.json())).toContain('Print from code')
    const created = await fetch(`${url}/sinks/print/configs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ enabled: true, name: 'edited', path: '', module: 'print', streams: [] }),
    })
    expect(created.status).toBe(409)
    expect(await created.json()).toMatchObject({ code: 'sink_defined_in_code' })
  })
})
