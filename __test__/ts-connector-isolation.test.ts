// `isolation = "worker"`: a TypeScript connector in a worker_threads worker. A connector that
// blocks its thread stalls neither the host process nor the other connectors; a worker that
// crashes restarts that connector alone and loses nothing.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterEach, describe, expect, it } from 'vitest'

import { ConnectorsRuntime, type LogRecord, type PollResult, type SourceConnector, startTestBroker } from '../ts/index'
import { fixtures, tmpDir } from './helpers/tmp'
import { until } from './helpers/wait'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup()
})

/** Rows 0..total-1, ten per poll, from the committed position. */
function rows(total: number): SourceConnector & { acks: number } {
  let next = 0
  let committed = 0
  return {
    acks: 0,
    poll(): PollResult {
      const end = Math.min(total, next + 10)
      const messages = []
      for (let seq = next; seq < end; seq++) messages.push({ payload: { seq } })
      next = end
      return { messages }
    },
    ack() {
      this.acks++
      committed = next
    },
    nack() {
      next = committed
    },
  }
}

function lines(file: string): number[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { seq: number }).seq)
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i)

async function start(dir: string, files: Record<string, string>, total: number, logs: LogRecord[] = []): Promise<{ runtime: ConnectorsRuntime; source: ReturnType<typeof rows> }> {
  const b = await startTestBroker()
  cleanups.push(() => b.stop())
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content)
  const source = rows(total)
  const runtime = new ConnectorsRuntime({
    config: { iggy: { address: b.address }, http: { enabled: false }, state: { path: join(dir, 'state') }, connectors: { config_type: 'local', config_dir: dir } },
    env: {},
    logSink: (record) => logs.push(record),
  })
  runtime.registerSource('rows', source)
  cleanups.push(() => runtime.stop(5000))
  await runtime.start()
  return { runtime, source }
}

const sourceToml = (stream: string): string =>
  `type = "source"\nkey = "rows"\nenabled = true\nversion = 0\nname = "rows"\nmodule = "rows"\n\n[[streams]]\nstream = "${stream}"\ntopic = "events"\nschema = "json"\ncreate_stream = true\ncreate_topic = true\n`

const sinkToml = (key: string, module: string, stream: string, config: Record<string, string>): string =>
  `type = "sink"\nkey = "${key}"\nenabled = true\nversion = 0\nname = "${key}"\nmodule = "${module}"\nisolation = "worker"\n\n[retry]\ninitial_backoff = "10ms"\nmax_backoff = "100ms"\n\n[[streams]]\nstream = "${stream}"\ntopics = ["events"]\nschema = "json"\nbatch_length = 50\npoll_interval = "2ms"\n\n[plugin_config]\n${Object.entries(
    config,
  )
    .map(([k, v]) => `${k} = "${v}"`)
    .join('\n')}\n`

describe('isolation = "worker"', () => {
  it('a sink spinning its thread stalls neither the host nor the other connectors', async () => {
    const dir = tmpDir()
    const config = { file: join(dir, 'out.jsonl'), entered: join(dir, 'entered'), release: join(dir, 'release') }
    const { runtime, source } = await start(dir, { 'source.toml': sourceToml('iso_block'), 'sink.toml': sinkToml('blocking', join(fixtures, 'ts-connectors', 'blocking-sink.mjs'), 'iso_block', config) }, 2000)
    await until(() => existsSync(config.entered))
    // The sink's thread spins until the release file exists; meanwhile this thread runs timers,
    // the engine answers, and the source keeps storing batches in Iggy.
    const acksWhileBlocked = source.acks
    await until(() => source.acks >= acksWhileBlocked + 5)
    expect(runtime.stats().find((s) => s.key === 'blocking')?.status).toBe('running')
    writeFileSync(config.release, '')
    await until(() => lines(config.file).length >= 2000)
    expect(lines(config.file).toSorted((a, b) => a - b)).toEqual(range(2000))
  })

  it('a crashed worker restarts that connector alone; the batch it held is delivered after the restart', async () => {
    const dir = tmpDir()
    const logs: LogRecord[] = []
    const config = { file: join(dir, 'out.jsonl'), marker: join(dir, 'crashed') }
    const { runtime } = await start(dir, { 'source.toml': sourceToml('iso_crash'), 'sink.toml': sinkToml('crashy', join(fixtures, 'ts-connectors', 'crashing-sink.mjs'), 'iso_crash', config) }, 300, logs)
    await until(() => lines(config.file).length >= 300)

    expect(existsSync(config.marker)).toBe(true)
    expect(lines(config.file).toSorted((a, b) => a - b)).toEqual(range(300))
    expect(logs.some((r) => r.level === 'error' && r.message.includes('worker of sink "crashy"') && r.message.includes('restarting'))).toBe(true)
    const stats = runtime.stats()
    expect(stats.find((s) => s.key === 'crashy')?.status).toBe('running')
    expect(stats.find((s) => s.key === 'rows')?.status).toBe('running')
  })
})
