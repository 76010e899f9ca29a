// `iggy-connectors dlq list|show|replay --connector <key>`: a connector's dead letters, read
// and replayed through the running runtime's API.
import { parseArgs } from 'node:util'

import type { Env } from '../env'
import type { DeadLetterJson, ReplayProgressJson } from '../operator'
import { type ApiTarget, CLIENT_OPTIONS, CommandError, type Io, apiTarget, bar, connectorKind, getJson, lines, request } from './client'

export const DLQ_HELP = `Usage:
  iggy-connectors dlq list   --connector <key> [--from <offset>] [--limit <n>] [--reason <text>] [--partition <n>] [--json]
  iggy-connectors dlq show   <offset> --connector <key> [--partition <n>]
  iggy-connectors dlq replay --connector <key> [--all | --from <offset> [--to <offset>]] [--reason <text>]
                             [--target <stream>/<topic>] [--include-parked]

Replay without --from resumes after the previous replay. A replayed message that fails again
is parked (dead-lettered with iggy-connectors-parked: true) and skipped by later replays unless
--include-parked is given.

Common: --kind source|sink (default: found from the API), --url <http://host:port>,
        --api-key <key>, --config <path> (the runtime config naming the API address and key)`

function describe(letter: DeadLetterJson): string {
  const o = letter.origin
  const origin = o.stream === null ? (o.connector === null ? 'origin unknown' : `source ${o.connector}`) : `${o.stream}/${o.topic} p${o.partition ?? '?'} #${o.offset ?? '?'}`
  const when = new Date(Math.floor(letter.timestamp / 1000)).toISOString()
  const flags = `${letter.parked ? ' PARKED' : ''}${letter.replay_of === null ? '' : ` (replay of ${letter.replay_of})`}`
  return `p${letter.partition} #${letter.offset}  ${when}  ${letter.error_kind ?? '-'}  ${origin}  ${letter.error ?? ''}${flags}`
}

function query(values: { from?: string | undefined; limit?: string | undefined; reason?: string | undefined; partition?: string | undefined }): string {
  const params = new URLSearchParams()
  for (const name of ['from', 'limit', 'reason', 'partition'] as const) {
    const value = values[name]
    if (value !== undefined) params.set(name, value)
  }
  const text = params.toString()
  return text === '' ? '' : `?${text}`
}

function offsetOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value)) throw new CommandError(`--${name}: expected a non-negative integer, got "${value}"`, 2)
  return Number(value)
}

async function replay(target: ApiTarget, base: string, values: Record<string, string | boolean | undefined>, io: Io): Promise<number> {
  const from = offsetOption(values.from as string | undefined, 'from')
  const to = offsetOption(values.to as string | undefined, 'to')
  if (values.all === true && (from !== undefined || to !== undefined)) throw new CommandError('--all replays everything from offset 0: drop --from/--to', 2)
  const body: Record<string, unknown> = {}
  if (values.all === true) body.from = 0
  if (from !== undefined) body.from = from
  if (to !== undefined) body.to = to
  if (typeof values.reason === 'string') body.reason = values.reason
  if (typeof values.partition === 'string') body.partition = offsetOption(values.partition, 'partition')
  if (values['include-parked'] === true) body.include_parked = true
  if (typeof values.target === 'string') {
    const slash = values.target.indexOf('/')
    if (slash <= 0 || slash === values.target.length - 1) throw new CommandError(`--target: expected <stream>/<topic>, got "${values.target}"`, 2)
    body.target = { stream: values.target.slice(0, slash), topic: values.target.slice(slash + 1) }
  }
  const response = await request(target, 'POST', `${base}/replay`, body)
  const tty = (io.stderr as NodeJS.WriteStream).isTTY === true
  let last: ReplayProgressJson | undefined
  for await (const line of lines(response)) {
    if (line.trim() === '') continue
    const parsed = JSON.parse(line) as ReplayProgressJson | { error: string }
    if ('error' in parsed) throw new CommandError(`replay failed: ${parsed.error}${last === undefined ? '' : ` (after ${last.replayed} replayed)`}`)
    last = parsed
    const progress = `replaying ${bar(parsed.total === 0 ? 1 : parsed.scanned / parsed.total)} ${parsed.scanned}/${parsed.total} read, ${parsed.replayed} replayed`
    if (!parsed.done) io.stderr.write(tty ? `\r${progress}` : `${progress}\n`)
    else if (tty) io.stderr.write(`\r${progress}\n`)
  }
  if (last === undefined || !last.done) throw new CommandError('the replay stream ended early (the runtime stopped?)')
  io.stdout.write(
    `replayed ${last.replayed} of ${last.total}; skipped: ${last.skipped_parked} parked, ${last.skipped_filtered} not matching, ${last.skipped_unreplayable} unreplayable\n`,
  )
  return 0
}

export async function runDlq(argv: readonly string[], env: Env, io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      ...CLIENT_OPTIONS,
      connector: { type: 'string' },
      kind: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      limit: { type: 'string' },
      reason: { type: 'string' },
      partition: { type: 'string' },
      target: { type: 'string' },
      all: { type: 'boolean' },
      'include-parked': { type: 'boolean' },
      json: { type: 'boolean' },
    },
    allowPositionals: true,
    strict: true,
  })
  const [action, ...rest] = positionals
  if (action === undefined || !['list', 'show', 'replay'].includes(action)) throw new CommandError(`dlq: expected list, show or replay\n\n${DLQ_HELP}`, 2)
  if (values.connector === undefined) throw new CommandError(`dlq ${action}: --connector <key> is required\n\n${DLQ_HELP}`, 2)
  if (rest.length > (action === 'show' ? 1 : 0)) throw new CommandError(`dlq ${action}: unexpected argument "${rest.join(' ')}"`, 2)
  const target = apiTarget(values, env)
  const kind = await connectorKind(target, values.connector, values.kind)
  const base = `/${kind}s/${encodeURIComponent(values.connector)}/dead_letters`
  if (action === 'list') {
    offsetOption(values.from, 'from')
    offsetOption(values.limit, 'limit')
    const { dead_letters: letters } = await getJson<{ dead_letters: DeadLetterJson[] }>(target, `${base}${query(values)}`)
    if (values.json === true) {
      io.stdout.write(`${JSON.stringify(letters)}\n`)
      return 0
    }
    for (const letter of letters) io.stdout.write(`${describe(letter)}\n`)
    io.stdout.write(`${letters.length} dead letter(s)\n`)
    return 0
  }
  if (action === 'show') {
    const offset = offsetOption(rest[0], 'offset')
    if (offset === undefined) throw new CommandError('dlq show: expected the offset of the dead letter', 2)
    const letter = await getJson<DeadLetterJson>(target, `${base}/${offset}${values.partition === undefined ? '' : `?partition=${values.partition}`}`)
    io.stdout.write(`${JSON.stringify(letter, null, 2)}\n`)
    return 0
  }
  return replay(target, base, values, io)
}
