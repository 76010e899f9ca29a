// `iggy-connectors status`: one line per connector of a running runtime, with rates measured
// over --interval (two samples of the API's /status) and a backlog bar for sinks behind.
import { parseArgs } from 'node:util'

import { parseDurationMs } from '../duration'
import type { Env } from '../env'
import type { StatusConnectorJson, StatusJson } from '../operator'
import { CLIENT_OPTIONS, CommandError, type Io, apiTarget, bar, getJson } from './client'

export const STATUS_HELP = `Usage:
  iggy-connectors status [--interval 1s] [--watch [--count N]] [--json] [--url <http://host:port>] [--api-key <key>] [--config <path>]

One line per connector: state, messages/s in and out (over --interval), sink lag (group offset
vs partition end, from Iggy), errors, dead letters (parked), and a bar for a sink with a backlog.
--watch refreshes every --interval until Ctrl-C (or --count refreshes); with --json it prints one
JSON array per refresh (NDJSON).`

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

/** Resolves after `ms`, or at once when `stop` fires first. */
function sleep(ms: number, stop: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (stop.aborted) return resolve()
    const timer = setTimeout(done, ms)
    stop.addEventListener('abort', done, { once: true })
    function done() {
      clearTimeout(timer)
      stop.removeEventListener('abort', done)
      resolve()
    }
  })
}

function writeLines(lines: StatusLine[], json: boolean, io: Io): void {
  if (json) {
    io.stdout.write(`${JSON.stringify(lines)}\n`)
    return
  }
  for (const line of lines) io.stdout.write(`${formatStatus(line)}\n`)
  if (lines.length === 0) io.stdout.write('no connectors\n')
}

function parseCount(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const count = Number(value)
  if (!Number.isSafeInteger(count) || count < 1) throw new CommandError(`--count: expected a whole number of refreshes (1 or more), got "${value}"`, 2)
  return count
}

export async function runStatus(argv: readonly string[], env: Env, io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: { ...CLIENT_OPTIONS, interval: { type: 'string' }, json: { type: 'boolean' }, watch: { type: 'boolean' }, count: { type: 'string' } },
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
  const refreshes = parseCount(values.count) ?? Number.POSITIVE_INFINITY
  if (values.count !== undefined && values.watch !== true) throw new CommandError('--count only applies with --watch', 2)
  const json = values.json === true
  const target = apiTarget(values, env)
  if (values.watch !== true) {
    const first = await getJson<StatusJson>(target, '/status')
    await sleep(intervalMs, new AbortController().signal)
    writeLines(withRates(first, await getJson<StatusJson>(target, '/status')), json, io)
    return 0
  }
  // Watch: each refresh's rates are measured since the previous sample; Ctrl-C ends it cleanly.
  const stop = new AbortController()
  const onSigint = () => stop.abort()
  process.once('SIGINT', onSigint)
  // A terminal gets a redrawn screen; a pipe or file gets each refresh appended under a time.
  const redraw = !json && (io.stdout as NodeJS.WriteStream).isTTY === true
  try {
    let previous = await getJson<StatusJson>(target, '/status')
    for (let refresh = 0; refresh < refreshes; refresh++) {
      await sleep(intervalMs, stop.signal)
      if (stop.signal.aborted) break
      const sample = await getJson<StatusJson>(target, '/status')
      if (redraw) io.stdout.write('\x1b[2J\x1b[H')
      if (!json) io.stdout.write(`${redraw || refresh === 0 ? '' : '\n'}status at ${new Date(sample.timestamp / 1000).toISOString()}\n`)
      writeLines(withRates(previous, sample), json, io)
      previous = sample
    }
  } finally {
    process.removeListener('SIGINT', onSigint)
  }
  return 0
}
