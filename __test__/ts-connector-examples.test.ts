// The TypeScript connector examples (examples/ts-connectors/) against real servers: the webhook
// source behind real HTTP requests, the POST sink against a real HTTP server started here.
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { join } from 'node:path'

import { afterEach, describe, expect, it } from 'vitest'

import { ConnectorsRuntime, messageIdFromKey, type SinkBatch, type SinkConnector, type SourceConnector, startTestBroker } from '../ts/index'
import { root } from './helpers/cli'
import { freePort } from './helpers/ports'
import { tmpDir } from './helpers/tmp'
import { until } from './helpers/wait'

const examples = join(root, 'examples', 'ts-connectors')
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup()
})

async function runtime(files: Record<string, string>, setup: (r: ConnectorsRuntime) => void): Promise<ConnectorsRuntime> {
  const b = await startTestBroker()
  cleanups.push(() => b.stop())
  const dir = tmpDir(files)
  const r = new ConnectorsRuntime({
    config: { iggy: { address: b.address }, http: { enabled: false }, state: { path: join(dir, 'state') }, connectors: { config_type: 'local', config_dir: dir } },
    env: {},
  })
  setup(r)
  cleanups.push(() => r.stop(5000))
  await r.start()
  return r
}

const RETRY = '[retry]\ninitial_backoff = "10ms"\nmax_backoff = "100ms"\n'

describe('example: webhook source (Fastify)', () => {
  it('answers 200 only once the events are in Iggy; an Idempotency-Key gives stable ids', async () => {
    const port = await freePort()
    const received: Array<{ id: string; payload: unknown }> = []
    const sink: SinkConnector = {
      consume(batch: SinkBatch) {
        for (const m of batch.messages) received.push({ id: String(m.id), payload: m.json() })
      },
    }
    await runtime(
      {
        'webhook.toml': `type = "source"\nkey = "hooks"\nenabled = true\nversion = 0\nname = "hooks"\nmodule = "${join(examples, 'webhook-source.mjs')}"\n\n[[streams]]\nstream = "ex_webhook"\ntopic = "events"\nschema = "json"\ncreate_stream = true\ncreate_topic = true\n\n[plugin_config]\nport = ${port}\n`,
        'sink.toml': `type = "sink"\nkey = "record"\nenabled = true\nversion = 0\nname = "record"\nmodule = "record"\n\n[[streams]]\nstream = "ex_webhook"\ntopics = ["events"]\nschema = "json"\npoll_interval = "2ms"\n`,
      },
      (r) => r.registerSink('record', sink),
    )
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      fetch(`http://127.0.0.1:${port}/events`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })

    const single = await post({ order: 1 })
    expect(single.status).toBe(200)
    expect(await single.json()).toEqual({ stored: 1 })
    const many = await post([{ order: 2 }, { order: 3 }], { 'idempotency-key': 'req-7' })
    expect(await many.json()).toEqual({ stored: 2 })
    const again = await post([{ order: 2 }, { order: 3 }], { 'idempotency-key': 'req-7' })
    expect(again.status).toBe(200)
    expect((await post('not an object')).status).toBe(400)

    await until(() => received.length >= 5)
    expect(received.map((r) => r.payload)).toEqual([{ order: 1 }, { order: 2 }, { order: 3 }, { order: 2 }, { order: 3 }])
    const keyed = received.slice(1)
    expect(keyed.map((r) => r.id)).toEqual([messageIdFromKey('hooks', 'req-7#0'), messageIdFromKey('hooks', 'req-7#1'), messageIdFromKey('hooks', 'req-7#0'), messageIdFromKey('hooks', 'req-7#1')])
    expect(received[0]?.id).not.toBe(keyed[0]?.id)
  })
})

/** Rows { n } 0..total-1, 25 per poll, from the committed position. */
function counting(total: number): SourceConnector {
  let next = 0
  let committed = 0
  return {
    poll() {
      const messages = []
      for (; next < Math.min(total, committed + 25); next++) messages.push({ payload: { n: next } })
      return { messages }
    },
    ack() {
      committed = next
    },
    nack() {
      next = committed
    },
  }
}

describe('example: HTTP POST sink', () => {
  let server: Server | undefined
  afterEach(async () => {
    await new Promise((resolve) => (server === undefined ? resolve(undefined) : server.close(resolve)))
    server = undefined
  })

  async function receiver(answer: (request: number) => number): Promise<{ url: string; bodies: unknown[][] }> {
    const bodies: unknown[][] = []
    let requests = 0
    server = createServer((req: IncomingMessage, res) => {
      let text = ''
      req.on('data', (d: Buffer) => (text += d.toString()))
      req.on('end', () => {
        const status = answer(++requests)
        if (status === 200) bodies.push(JSON.parse(text) as unknown[])
        res.writeHead(status).end(status === 200 ? 'ok' : `status ${status}`)
      })
    })
    const port = await freePort()
    await new Promise<void>((resolve) => server?.listen(port, '127.0.0.1', resolve))
    return { url: `http://127.0.0.1:${port}/ingest`, bodies }
  }

  it('POSTs every batch; 503 answers are retried until stored, nothing lost; a 422 batch is dead-lettered', async () => {
    // Requests 1 and 2 fail with 503, request 4 is refused with 422, the rest succeed.
    const { url, bodies } = await receiver((n) => (n <= 2 ? 503 : n === 4 ? 422 : 200))
    const dead: number[] = []
    const r = await runtime(
      {
        'source.toml': `type = "source"\nkey = "count"\nenabled = true\nversion = 0\nname = "count"\nmodule = "count"\n\n[[streams]]\nstream = "ex_post"\ntopic = "events"\nschema = "json"\ncreate_stream = true\ncreate_topic = true\n`,
        'post.toml': `type = "sink"\nkey = "post"\nenabled = true\nversion = 0\nname = "post"\nmodule = "${join(examples, 'http-post-sink.mjs')}"\nisolation = "worker"\n\n${RETRY}\n[dead_letter]\nstream = "ex_post"\ntopic = "refused"\n\n[[streams]]\nstream = "ex_post"\ntopics = ["events"]\nschema = "json"\nbatch_length = 50\npoll_interval = "2ms"\n\n[plugin_config]\nurl = "${url}"\n`,
        'dead.toml': `type = "sink"\nkey = "dead"\nenabled = true\nversion = 0\nname = "dead"\nmodule = "dead"\n\n[[streams]]\nstream = "ex_post"\ntopics = ["refused"]\nschema = "json"\npoll_interval = "2ms"\n`,
      },
      (rt) =>
        rt.registerSource('count', counting(500)).registerSink('dead', {
          consume(batch: SinkBatch) {
            for (const m of batch.messages) dead.push((m.json() as { n: number }).n)
          },
        }),
    )
    const posted = (): number[] => bodies.flat().map((b) => (b as { n: number }).n)
    const deadLettered = (): number => r.stats().find((s) => s.key === 'post')?.deadLettered ?? 0
    await until(() => deadLettered() > 0 && posted().length + deadLettered() >= 500)
    // The dead-letter topic exists once the POST sink started; its reader joins it now.
    expect(await r.restart('sink', 'dead')).toBe(true)
    await until(() => dead.length >= deadLettered())

    expect([...posted(), ...dead].toSorted((a, b) => a - b)).toEqual(Array.from({ length: 500 }, (_, i) => i))
    expect(dead.length).toBeGreaterThan(0)
    const stats = r.stats().find((s) => s.key === 'post')
    expect(stats?.consumeErrors).toBeGreaterThanOrEqual(2)
    expect(stats?.deadLettered).toBe(dead.length)
  })
})
