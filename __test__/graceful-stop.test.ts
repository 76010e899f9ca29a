// SIGTERM in the middle of a flow loses nothing: a separate broker process keeps the data while
// the runtime is stopped and started again; the recording sink must end up with every message.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, describe, expect, it } from 'vitest'

import { startCli, waitFor } from './helpers/cli'
import { testPlugin } from './helpers/plugins'
import { freePort } from './helpers/ports'
import { tmpDir } from './helpers/tmp'

const TOTAL = 3000

function recorded(file: string): { seqs: number[]; offsets: number[] } {
  if (!existsSync(file)) return { seqs: [], offsets: [] }
  const seqs: number[] = []
  const offsets: number[] = []
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line === '') continue
    const [, , , offset, , payload] = line.split('\t')
    offsets.push(Number(offset))
    seqs.push((JSON.parse(payload ?? '') as { seq: number }).seq)
  }
  return { seqs, offsets }
}

describe('graceful stop', () => {
  let broker: ReturnType<typeof startCli> | undefined

  afterAll(async () => {
    broker?.child.kill('SIGINT')
    await broker?.exited
  })

  // The test's own waits add up to 20 + 30 + 60 s; its timeout must cover them, or vitest
  // reports a bare timeout instead of the wait that failed (with the output so far).
  it('SIGTERM during the flow, then a restart: every message arrives exactly once in order', { timeout: 130_000 }, async () => {
    const port = await freePort()
    broker = startCli(['broker', '--address', `127.0.0.1:${port}`])
    await waitFor(broker.output, (o) => o.includes('listening on'))

    const dir = tmpDir()
    const output = join(dir, 'recorded.tsv')
    const files = {
      'config.toml': `[iggy]\naddress = "127.0.0.1:${port}"\n[http]\nenabled = false\n[state]\npath = "state"\n[connectors]\nconfig_dir = "connectors"\n`,
      'connectors/source.toml': `type = "source"\nkey = "seq"\nenabled = true\nversion = 0\nname = "Seq"\npath = "${testPlugin('engine_test_source')}"\n\n[[streams]]\nstream = "graceful"\ntopic = "events"\nschema = "json"\ncreate_stream = true\ncreate_topic = true\ntopic_partitions = 1\n\n[plugin_config]\ntotal = ${TOTAL}\nbatch_size = 10\ninterval_ms = 2\n`,
      'connectors/sink.toml': `type = "sink"\nkey = "record"\nenabled = true\nversion = 0\nname = "Record"\npath = "${testPlugin('engine_test_sink')}"\n\n[[streams]]\nstream = "graceful"\ntopics = ["events"]\nschema = "json"\nbatch_length = 50\n\n[plugin_config]\noutput = "${output}"\n`,
    }
    const { writeFileSync, mkdirSync } = await import('node:fs')
    mkdirSync(join(dir, 'connectors'))
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content)

    const first = startCli(['--config', 'config.toml'], { cwd: dir })
    await waitFor(() => String(recorded(output).seqs.length), (n) => Number(n) >= 300, 30_000)
    first.child.kill('SIGTERM')
    expect(await first.exited).toBe(0)
    const afterStop = recorded(output).seqs.length
    expect(afterStop).toBeLessThan(TOTAL)

    const second = startCli(['--config', 'config.toml'], { cwd: dir })
    await waitFor(() => String(recorded(output).seqs.length), (n) => Number(n) >= TOTAL, 60_000)
    second.child.kill('SIGTERM')
    expect(await second.exited).toBe(0)

    // The process has exited: the file is final, so a duplicate would be in it.
    const { seqs, offsets } = recorded(output)
    expect(seqs).toEqual(Array.from({ length: TOTAL }, (_, i) => i))
    expect(offsets).toEqual(Array.from({ length: TOTAL }, (_, i) => i))
  })
})
