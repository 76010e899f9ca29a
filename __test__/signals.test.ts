import { join } from 'node:path'

import { describe, expect, it } from 'vitest'

import { waitForSignal } from '../ts/cli'
import { type LogRecord, Logger } from '../ts/logger'
import { startCli, waitFor } from './helpers/cli'
import { testPlugin } from './helpers/plugins'
import { freePort } from './helpers/ports'
import { tmpDir } from './helpers/tmp'

describe('signal handling', () => {
  it('resolves on the first SIGINT/SIGTERM and forces on the second', async () => {
    const records: LogRecord[] = []
    let forced = 0
    const stopped = waitForSignal(new Logger((r) => records.push(r)), () => forced++)
    process.emit('SIGTERM', 'SIGTERM')
    expect(await stopped).toBe('SIGTERM')
    expect(forced).toBe(0)
    process.emit('SIGINT', 'SIGINT')
    expect(forced).toBe(1)
    expect(records.map((r) => `${r.level} ${r.message}`)).toEqual([
      'info SIGTERM received, stopping gracefully (send it again to force)',
      'warn SIGINT received again, forcing exit',
    ])
  })

  it('exits 130 on a second signal while the graceful stop is still running', async () => {
    const iggy = await freePort()
    // The sink's close blocks for a minute, so the graceful stop lasts until the engine's stop
    // timeout (10 s): the second signal always arrives while it runs.
    const dir = tmpDir({
      'config.toml': `[iggy]\naddress = "127.0.0.1:${iggy}"\n[http]\nenabled = false\n[state]\npath = "state"\n[connectors]\nconfig_dir = "connectors"\n`,
      'connectors/slow.toml': `type = "sink"\nkey = "slow"\nenabled = true\nversion = 0\nname = "Slow"\npath = "${testPlugin('engine_test_sink')}"\n\n[[streams]]\nstream = "signals"\ntopics = ["events"]\nschema = "json"\n\n[plugin_config]\nclose_ms = 60000\n`,
      'connectors/seq.toml': `type = "source"\nkey = "seq"\nenabled = true\nversion = 0\nname = "Seq"\npath = "${testPlugin('engine_test_source')}"\n\n[[streams]]\nstream = "signals"\ntopic = "events"\nschema = "json"\ncreate_stream = true\ncreate_topic = true\n\n[plugin_config]\ntotal = 5\n`,
    })
    const cli = startCli(['--config', join(dir, 'config.toml'), '--embedded-broker'], { cwd: dir })
    await waitFor(cli.output, (o) => o.includes('close takes 60000 ms'))
    cli.child.kill('SIGTERM')
    await waitFor(cli.output, (o) => o.includes('SIGTERM received, stopping gracefully'))
    cli.child.kill('SIGTERM')
    expect(await cli.exited).toBe(130)
    expect(cli.output()).toContain('SIGTERM received again, forcing exit')
    expect(cli.output()).not.toContain('engine stopped')
  })
})
