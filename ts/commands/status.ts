// `iggy-connectors status`: one line per connector of a running runtime, with rates measured
// over --interval (two samples of the API's /status) and a backlog bar for sinks behind.
import { parseArgs } from 'node:util'

import { parseDurationMs } from '../duration'
import type { Env } from '../env'
import type { StatusConnectorJson, StatusJson } from '../operator'
import { CLIENT_OPTIONS, CommandError, type Io, apiTarget, bar, getJson } from './client'

export const STATUS_HELP = `Usage:
  iggy-connectors status [--interval 1s] [--json] [--url <http://host:port>] [--api-key <key>] [--config <path>]

One line per connector: state, messages/s in and out (over --interval), sink lag (group offset
vs partition end, from Iggy), errors, dead letters (parked), and a bar for a sink with a backlog.`

export interface StatusLine extends StatusConnectorJson {
  rate_in: number
  rate_out: number
}

function rate(now: number, then: number | undefined, seconds: number): number {
  return then === undefined ? 0 : Math.max(0, now - then) / seconds
}

/** Rates between two samples; connectors matched by kind and key. */
export function withRates(first: StatusJson, second: StatusJson): StatusLine[] {
  const seconds = Math.max(1e-6, (second.timestamp - first.timestamp) / 1e6)
  return second.connectors.map((c) => {
    const before = first.connectors.find((b) => b.kind === c.kind && b.key === c.key)
    return { ...c, rate_in: rate(c.messages_in, before?.messages_in, seconds), rate_out: rate(c.messages_out, before?.messages_out, seconds) }
  })
}

export function formatStatus(line: StatusLine): string {
  const parts = [
    line.kind.padEnd(6),
    line.key.padEnd(20),
    line.status.padEnd(8),
    `in ${line.rate_in.toFixed(1)}/s`,
    `out ${line.rate_out.toFixed(1)}/s`,
    ...(line.kind === 'sink' ? [`lag ${line.lag ?? '?'}`] : []),
    `errors ${line.errors}`,
    `dead ${line.dead_lettered}${line.parked > 0 ? ` (${line.parked} parked)` : ''}`,
  ]
  if (line.kind === 'sink' && line.lag !== null && line.lag > 0 && line.end !== null && line.end > 0) {
    parts.push(`backlog ${bar((line.end - line.lag) / line.end)}`)
  }
  if (line.status === 'error' && line.last_error !== null) parts.push(`— ${line.last_error}`)
  return parts.join('  ')
}

export async function runStatus(argv: readonly string[], env: Env, io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: { ...CLIENT_OPTIONS, interval: { type: 'string' }, json: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  })
  if (positionals.length > 0) throw new CommandError(`status: unexpected argument "${positionals.join(' ')}"\n\n${STATUS_HELP}`, 2)
  let intervalMs = 1000
  if (values.interval !== undefined) {
    const parsed = parseDurationMs(values.interval)
    if (parsed === undefined) throw new CommandError(`--interval: expected a duration like 500ms or 2s, got "${values.interval}"`, 2)
    intervalMs = parsed
  }
  const target = apiTarget(values, env)
  const first = await getJson<StatusJson>(target, '/status')
  await new Promise((resolve) => setTimeout(resolve, intervalMs))
  const lines = withRates(first, await getJson<StatusJson>(target, '/status'))
  if (values.json === true) {
    io.stdout.write(`${JSON.stringify(lines)}\n`)
    return 0
  }
  for (const line of lines) io.stdout.write(`${formatStatus(line)}\n`)
  if (lines.length === 0) io.stdout.write('no connectors\n')
  return 0
}
