// End-to-end: the real engine, the embedded broker and the shipped plugins.
import { existsSync, readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'

import { describe, expect, it } from 'vitest'

import { startTestBroker } from '../ts/index'
import type { LogRecord } from '../ts/logger'
import { ConnectorsRuntime } from '../ts/runtime'
import { startCli, waitFor } from './helpers/cli'
import { builtPlugin, testPlugin } from './helpers/plugins'
import { freePort } from './helpers/ports'
import { tmpDir } from './helpers/tmp'

function source(stream: string, extra = ''): string {
  return `type = "source"
key = "random"
enabled = true
version = 0
name = "Random"
path = "${builtPlugin('iggy_connector_random_source')}"

[[streams]]
stream = "${stream}"
topic = "events"
schema = "json"
create_stream = true
create_topic = true

[plugin_config]
interval = "50ms"
messages_range = [2, 3]
payload_size = 4
${extra}`
}

function stdoutSink(stream: string): string {
  return `type = "sink"
key = "stdout"
enabled = true
version = 0
name = "Stdout"
path = "${builtPlugin('iggy_connector_stdout_sink')}"

[[streams]]
stream = "${stream}"
topics = ["events"]
schema = "json"

[plugin_config]
print_payload = true
`
}

describe('broker command', () => {
  it('serves TCP until SIGINT and exits 0', async () => {
    const port = await freePort()
    const cli = startCli(['broker', '--address', `127.0.0.1:${port}`])
    await waitFor(cli.output, (o) => o.includes(`listening on 127.0.0.1:${port}`))
    expect(cli.output()).toContain('embedded broker — for development and tests only')
    await new Promise<void>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.end()
        resolve()
      })
      socket.on('error', reject)
    })
    cli.child.kill('SIGINT')
    expect(await cli.exited).toBe(0)
  })
})

describe('runtime with the embedded broker', () => {
  // Its waits add up to 30 + 20 + 30 s: the test's timeout covers them.
  it('moves messages from the random source to the stdout sink and stops on SIGTERM with exit 0', { timeout: 100_000 }, async () => {
    const [iggy, http] = [await freePort(), await freePort()]
    const dir = tmpDir({
      'config.toml': `[iggy]\naddress = "127.0.0.1:${iggy}"\n[http]\naddress = "127.0.0.1:${http}"\n[http.metrics]\nenabled = true\n[state]\npath = "state"\n[connectors]\nconfig_dir = "connectors"\n`,
      'connectors/random.toml': source('cli_e2e', '[transforms.add_fields]\nenabled = true\nfields = [{ key = "tagged", value = { static = "by-add-fields" } }]\n'),
      'connectors/stdout.toml': stdoutSink('cli_e2e'),
    })
    const cli = startCli(['--config', 'config.toml', '--embedded-broker'], { cwd: dir })
    // The stdout sink prints `[stream/topic pN #offset] payload` lines.
    await waitFor(cli.output, (o) => /\[cli_e2e\/events p0 #\d+\] \{.*"tagged":"by-add-fields"/.test(o), 30_000)
    await waitFor(cli.output, (o) => o.includes(`HTTP API listening on http://127.0.0.1:${http}`))
    const sinks = await (await fetch(`http://127.0.0.1:${http}/sinks`)).json()
    expect(sinks).toMatchObject([{ key: 'stdout', status: 'running' }])
    const metrics = await (await fetch(`http://127.0.0.1:${http}/metrics`)).text()
    expect(metrics).toMatch(/iggy_connector_messages_sent_total\{connector_key="random",connector_type="Source"\} [1-9]/)
    // Restart the sink through the API: 204, back to running, and messages keep flowing.
    const restart = await fetch(`http://127.0.0.1:${http}/sinks/stdout/restart`, { method: 'POST', headers: { 'content-type': 'application/json' } })
    expect(restart.status).toBe(204)
    const before = (cli.output().match(/\[cli_e2e\/events p0 #/g) ?? []).length
    await waitFor(cli.output, (o) => (o.match(/\[cli_e2e\/events p0 #/g) ?? []).length > before + 3, 30_000)
    expect(await (await fetch(`http://127.0.0.1:${http}/sinks/stdout`)).json()).toMatchObject({ status: 'running' })
    cli.child.kill('SIGTERM')
    expect(await cli.exited).toBe(0)
    expect(cli.output()).toContain('SIGTERM received, stopping gracefully')
  })
})

describe('TS transforms end to end', () => {
  it('changes payloads between the source and the sink', async () => {
    const broker = await startTestBroker()
    const dir = tmpDir()
    const output = join(dir, 'recorded.tsv')
    const { mkdirSync, writeFileSync } = await import('node:fs')
    mkdirSync(join(dir, 'connectors'))
    writeFileSync(join(dir, 'connectors/random.toml'), source('ts_e2e', '[transforms.shout]\nenabled = true\nmark = "SHOUTED"\n'))
    writeFileSync(
      join(dir, 'connectors/record.toml'),
      `type = "sink"\nkey = "record"\nenabled = true\nversion = 0\nname = "Record"\npath = "${testPlugin('engine_test_sink')}"\n\n[[streams]]\nstream = "ts_e2e"\ntopics = ["events"]\nschema = "json"\n\n[plugin_config]\noutput = "${output}"\n`,
    )
    const payloads = () => (existsSync(output) ? readFileSync(output, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l.split('\t')[5] ?? '')) : [])
    const logs: LogRecord[] = []
    const seen: number[] = []
    const runtime = new ConnectorsRuntime({
      config: { iggy: { address: broker.address }, http: { enabled: false }, state: { path: join(dir, 'state') }, connectors: { config_dir: join(dir, 'connectors') } },
      env: {},
    })
    runtime.registerTransform('shout', (messages, context) => {
      seen.push(messages.length)
      return messages.map((m) => {
        const value = JSON.parse(m.payload.toString()) as Record<string, unknown>
        return { ...m, payload: Buffer.from(JSON.stringify({ ...value, title: String(value.title).toUpperCase(), mark: context.config.mark })) }
      })
    })
    runtime.on('log', (r) => logs.push(r))
    try {
      await runtime.start()
      await waitFor(() => String(payloads().length), (n) => Number(n) >= 10, 30_000)
      const recorded = payloads()
      // Every message went through the transform: none arrives unchanged.
      for (const p of recorded) expect(p).toMatchObject({ title: 'HELLO', name: 'World', mark: 'SHOUTED' })
      expect(seen.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(recorded.length)
      const stats = runtime.stats()
      expect(stats.find((s) => s.key === 'random')?.transformErrors).toBe(0)
      expect(stats.find((s) => s.key === 'record')?.messagesIn).toBeGreaterThanOrEqual(recorded.length)
      // Plugin logs reach JS asynchronously: wait for the line rather than expect it already there.
      await waitFor(() => String(logs.some((l) => l.connectorKey === 'record' && l.message.includes('opened instance'))), (found) => found === 'true')
    } finally {
      await runtime.stop()
      await broker.stop()
    }
  })
})

describe('structured logs', () => {
  it('writes one JSON object per line with plugin lines tagged by connector key', async () => {
    const iggy = await freePort()
    const dir = tmpDir()
    const { mkdirSync, writeFileSync } = await import('node:fs')
    mkdirSync(join(dir, 'connectors'))
    writeFileSync(join(dir, 'config.toml'), `[iggy]\naddress = "127.0.0.1:${iggy}"\n[http]\nenabled = false\n[state]\npath = "state"\n[connectors]\nconfig_dir = "connectors"\n`)
    writeFileSync(join(dir, 'connectors/seq.toml'), `type = "source"\nkey = "seq"\nenabled = true\nversion = 0\nname = "Seq"\npath = "${testPlugin('engine_test_source')}"\n\n[[streams]]\nstream = "logs"\ntopic = "events"\nschema = "json"\ncreate_stream = true\ncreate_topic = true\n\n[plugin_config]\ntotal = 5\n`)
    writeFileSync(join(dir, 'connectors/record.toml'), `type = "sink"\nkey = "record"\nenabled = true\nversion = 0\nname = "Record"\npath = "${testPlugin('engine_test_sink')}"\n\n[[streams]]\nstream = "logs"\ntopics = ["events"]\nschema = "json"\n\n[plugin_config]\noutput = "${join(dir, 'out.tsv')}"\n`)
    const cli = startCli(['--embedded-broker'], { cwd: dir, env: { IGGY_CONNECTORS_LOGGING_FORMAT: 'json', IGGY_CONNECTORS_LOGGING_LEVEL: 'info', IGGY_CONNECTORS_IGGY_PASSWORD: 'iggy' } })
    await waitFor(cli.output, (o) => o.includes('"target":"engine_test_sink"'))
    cli.child.kill('SIGINT')
    expect(await cli.exited).toBe(0)
    const lines = cli.output().trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>)
    expect(lines.every((l) => typeof l.timestamp === 'string' && typeof l.level === 'string' && typeof l.message === 'string')).toBe(true)
    expect(lines.find((l) => l.target === 'engine_test_sink' && l.message.includes('opened instance'))).toMatchObject({ level: 'INFO', connector_key: 'record' })
    expect(lines.find((l) => l.message.includes('IGGY_CONNECTORS_IGGY_PASSWORD'))?.message).toBe('IGGY_CONNECTORS_IGGY_PASSWORD value changed to: ****** from environment variable')
    expect(lines.some((l) => l.level === 'DEBUG')).toBe(false)
  })
})
