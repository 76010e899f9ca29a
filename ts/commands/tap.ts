// `iggy-connectors tap <kind> <key> [--stage before|after] [--limit N]`: prints the messages
// passing through a running connector, read from the API's server-sent events.
import { parseArgs } from 'node:util'

import type { Env } from '../env'
import type { TapMessageJson } from '../operator'
import { CLIENT_OPTIONS, CommandError, type Io, apiTarget, lines, request } from './client'

export const TAP_HELP = `Usage:
  iggy-connectors tap <source|sink> <key> [--stage before|after] [--limit <n>] [--json]
      [--url <http://host:port>] [--api-key <key>] [--config <path>]

Prints "[stream/topic pN #offset] payload" per message (--json: one JSON object per line),
before or after the connector's transforms (default after), until --limit or Ctrl-C.`

export async function runTap(argv: readonly string[], env: Env, io: Io, signal?: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: { ...CLIENT_OPTIONS, stage: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  })
  const [kind, key, ...rest] = positionals
  if (kind === undefined || key === undefined || rest.length > 0) throw new CommandError(`tap: expected <source|sink> <key>\n\n${TAP_HELP}`, 2)
  if (kind !== 'source' && kind !== 'sink') throw new CommandError(`tap: kind: expected "source" or "sink", got "${kind}"`, 2)
  const stage = values.stage ?? 'after'
  if (stage !== 'before' && stage !== 'after') throw new CommandError(`--stage: expected "before" or "after", got "${stage}"`, 2)
  if (values.limit !== undefined && !/^[1-9]\d*$/.test(values.limit)) throw new CommandError(`--limit: expected a positive integer, got "${values.limit}"`, 2)
  const target = apiTarget(values, env)
  const params = new URLSearchParams({ stage, ...(values.limit === undefined ? {} : { limit: values.limit }) })
  const response = await request(target, 'GET', `/${kind}s/${encodeURIComponent(key)}/tap?${params.toString()}`)
  const stop = () => void response.body?.cancel().catch(() => undefined)
  signal?.addEventListener('abort', stop, { once: true })
  io.stderr.write(`tapping ${kind} ${key} ${stage} its transforms${values.limit === undefined ? '' : ` (${values.limit} messages)`}\n`)
  let event = ''
  try {
    for await (const line of lines(response)) {
      if (line.startsWith('event: ')) event = line.slice(7)
      else if (line.startsWith('data: ') && event === 'message') {
        const m = JSON.parse(line.slice(6)) as TapMessageJson
        if (values.json === true) io.stdout.write(`${JSON.stringify(m)}\n`)
        else io.stdout.write(`[${m.stream}/${m.topic}${m.partition === null ? '' : ` p${m.partition}`}${m.offset === null ? '' : ` #${m.offset}`}] ${m.payload_encoding === 'base64' ? `base64:${m.payload}` : m.payload}\n`)
      } else if (line.startsWith('data: ') && event === 'end') {
        const end = JSON.parse(line.slice(6)) as { sent: number; dropped: number }
        if (end.dropped > 0) io.stderr.write(`${end.dropped} message(s) not shown: the tap was read too slowly\n`)
      }
    }
  } catch (error) {
    if (signal?.aborted !== true) throw error
  } finally {
    signal?.removeEventListener('abort', stop)
  }
  return 0
}
