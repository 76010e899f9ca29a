// A ConnectorsRuntime on the FakeEngine with the management API app (not listening), for the
// API test files: one random source, one stdout sink, one disabled sink.
import { join } from 'node:path'

import type { FastifyInstance } from 'fastify'
import { afterEach } from 'vitest'

import { createApiServer } from '../../ts/api/server'
import type { RuntimeConfigInput } from '../../ts/config/runtime-schema'
import type { LogRecord } from '../../ts/logger'
import { ConnectorsRuntime } from '../../ts/runtime'
import { FakeEngine } from './fake-engine'
import { tmpDir } from './tmp'

export const SOURCE = `type = "source"
key = "random"
enabled = true
version = 0
name = "Random"
path = "build/plugins/libiggy_connector_random_source"
plugin_config_format = "json"

[[streams]]
stream = "s"
topic = "t"
schema = "json"

[plugin_config]
interval = "1s"
password = "hunter2"
database_url = "postgres://app:s3cret@db:5432/x"

[transforms.add_fields]
enabled = true
fields = [{ key = "a", value = { static = 1 } }]
`
export const SINK = `type = "sink"
key = "stdout"
enabled = true
version = 0
name = "Stdout"
path = "build/plugins/libiggy_connector_stdout_sink"

[[streams]]
stream = "s"
topics = ["t"]
schema = "json"
`
export const DISABLED = SINK.replace('key = "stdout"', 'key = "pg"').replace('enabled = true', 'enabled = false')

const runtimes: ConnectorsRuntime[] = []
const apps: FastifyInstance[] = []
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close()
  for (const r of runtimes.splice(0)) await r.stop()
})

/** Stops `runtime` after the test. */
export function track(runtime: ConnectorsRuntime): ConnectorsRuntime {
  runtimes.push(runtime)
  return runtime
}

/** A runtime (not started) over a temp config dir; `http: false` (the app is built separately). */
export async function setup(http: RuntimeConfigInput['http'] = {}, files: Record<string, string> = {}) {
  const dir = tmpDir({ 'connectors/random.toml': SOURCE, 'connectors/stdout.toml': SINK, 'connectors/pg.toml': DISABLED, ...files })
  let engine: FakeEngine | undefined
  const logs: LogRecord[] = []
  const runtime = track(
    new ConnectorsRuntime({
      config: { http, connectors: { config_type: 'local', config_dir: join(dir, 'connectors') }, state: { path: join(dir, 'state') } },
      env: {},
      http: false,
      engineFactory: (options) => (engine = new FakeEngine(options)),
      logSink: (r) => logs.push(r),
      statusIntervalMs: 20,
    }),
  )
  return { runtime, dir, logs, engine: () => engine as FakeEngine }
}

/** A started runtime and its API app (use `app.inject`). */
export async function started(http: RuntimeConfigInput['http'] = {}, files: Record<string, string> = {}) {
  const ctx = await setup(http, files)
  await ctx.runtime.start()
  const config = ctx.runtime.config
  if (!config) throw new Error('no config')
  const app = await createApiServer(ctx.runtime, config.http)
  apps.push(app)
  return { ...ctx, app }
}
