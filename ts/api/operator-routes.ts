// Operator routes of the management API (behind the same api-key, Host and mutation guards
// as every other route):
//   GET  /status                                  one entry per connector, sink lag from Iggy
//   GET  /{sources|sinks}/{key}/dead_letters      list (?partition&from&limit&reason)
//   GET  /{sources|sinks}/{key}/dead_letters/{offset}   one (?partition, default 0)
//   POST /{sources|sinks}/{key}/dead_letters/replay     NDJSON progress lines, the last one done
//   GET  /{sources|sinks}/{key}/tap               server-sent events (?stage=before|after&limit)
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

import type { ConnectorKind } from '../config/connector-schema'
import { ApiError } from '../errors'
import type { ConnectorStats, ReplayOptions } from '../native'
import {
  type OperatorTools,
  type StatusConnectorJson,
  type StatusJson,
  deadLetterJson,
  replayProgressJson,
  tapMessageJson,
} from '../operator'

/** What the operator routes need from the runtime. */
export interface OperatorRuntime {
  stats(): ConnectorStats[]
  connector(kind: ConnectorKind, key: string): unknown
  operatorTools?(): OperatorTools | undefined
}

const KINDS: ReadonlyArray<readonly [string, ConnectorKind]> = [
  ['sinks', 'sink'],
  ['sources', 'source'],
]

type KeyParams = { Params: { key: string } }

function sendError(reply: FastifyReply, error: unknown): FastifyReply {
  if (error instanceof ApiError) return reply.code(error.status).send({ code: error.code, reason: error.message })
  const message = error instanceof Error ? error.message : String(error)
  // The engine names a connector without a [dead_letter] topic, or a missing partition.
  const status = /has no \[dead_letter\]|has no partition|expected/.test(message) ? 400 : 500
  return reply.code(status).send({ code: status === 400 ? 'invalid_request' : 'error', reason: message })
}

/** A non-negative integer query or body value, or undefined; `name` names it in the error. */
function integer(value: unknown, name: string): number | undefined {
  if (value === undefined || value === null || value === '') return undefined
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : Number.NaN
  if (!Number.isSafeInteger(n) || n < 0) throw new ApiError(400, 'invalid_request', `${name}: expected a non-negative integer, got ${JSON.stringify(value)}`)
  return n
}

function text(value: unknown, name: string): string | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') throw new ApiError(400, 'invalid_request', `${name}: expected a string`)
  return value
}

/** Parses the replay body: `{from?, to?, partition?, reason?, include_parked?, target?: {stream, topic}}`. */
export function replayOptions(body: unknown): ReplayOptions {
  if (body === undefined || body === null) return {}
  if (typeof body !== 'object' || Array.isArray(body)) throw new ApiError(400, 'invalid_request', 'expected a JSON object body')
  const b = body as Record<string, unknown>
  const known = new Set(['from', 'to', 'partition', 'reason', 'include_parked', 'target'])
  const unknown = Object.keys(b).filter((k) => !known.has(k))
  if (unknown.length > 0) throw new ApiError(400, 'invalid_request', `unknown field(s): ${unknown.join(', ')} (known: ${[...known].join(', ')})`)
  const options: ReplayOptions = {}
  const from = integer(b.from, 'from')
  const to = integer(b.to, 'to')
  const partition = integer(b.partition, 'partition')
  const reason = text(b.reason, 'reason')
  if (from !== undefined) options.from = from
  if (to !== undefined) options.to = to
  if (from !== undefined && to !== undefined && to < from) throw new ApiError(400, 'invalid_request', `to (${to}) is before from (${from})`)
  if (partition !== undefined) options.partition = partition
  if (reason !== undefined) options.reason = reason
  if (b.include_parked !== undefined) {
    if (typeof b.include_parked !== 'boolean') throw new ApiError(400, 'invalid_request', 'include_parked: expected a boolean')
    options.includeParked = b.include_parked
  }
  if (b.target !== undefined && b.target !== null) {
    const t = b.target as Record<string, unknown>
    const stream = text(t.stream, 'target.stream')
    const topic = text(t.topic, 'target.topic')
    if (typeof b.target !== 'object' || !stream || !topic) throw new ApiError(400, 'invalid_request', 'target: expected {"stream": "…", "topic": "…"}')
    options.targetStream = stream
    options.targetTopic = topic
  }
  return options
}

async function statusReport(runtime: OperatorRuntime): Promise<StatusJson> {
  const tools = runtime.operatorTools?.()
  const connectors = await Promise.all(
    runtime.stats().map(async (s): Promise<StatusConnectorJson> => {
      let lag: number | null = null
      let end: number | null = null
      if (s.kind === 'sink' && tools !== undefined) {
        try {
          const partitions = await tools.sinkLag(s.key)
          lag = partitions.reduce((sum, p) => sum + p.lag, 0)
          end = partitions.reduce((sum, p) => sum + p.end, 0)
        } catch {
          // Iggy unreachable: the pipeline's own figure (as of its last commit) instead.
          lag = s.lag ?? null
        }
      }
      return {
        kind: s.kind === 'source' ? 'source' : 'sink',
        key: s.key,
        name: s.name,
        status: s.status,
        messages_in: s.messagesIn,
        messages_out: s.messagesOut,
        errors: s.errors,
        dead_lettered: s.deadLettered,
        parked: s.parked,
        lag,
        end,
        last_error: s.lastError?.message ?? null,
      }
    }),
  )
  return { timestamp: Date.now() * 1000, connectors }
}

export function registerOperatorRoutes(app: FastifyInstance, runtime: OperatorRuntime): void {
  app.get('/status', async () => statusReport(runtime))

  // Open taps end when the server closes (a stopping runtime must not wait on a listener).
  const taps = new Set<() => void>()
  app.addHook('preClose', async () => {
    for (const end of taps) end()
  })

  const tools = (kind: ConnectorKind, key: string): OperatorTools => {
    if (runtime.connector(kind, key) === undefined) throw new ApiError(404, `${kind}_not_found`, `${kind} with key: ${key} was not found.`)
    const t = runtime.operatorTools?.()
    if (t === undefined) throw new ApiError(503, 'not_running', 'the engine is not running')
    return t
  }

  for (const [plural, kind] of KINDS) {
    app.get<KeyParams & { Querystring: Record<string, string | undefined> }>(`/${plural}/:key/dead_letters`, async (request, reply) => {
      try {
        const q = request.query
        const query = {
          ...(integer(q.partition, 'partition') === undefined ? {} : { partition: integer(q.partition, 'partition') }),
          ...(integer(q.from, 'from') === undefined ? {} : { from: integer(q.from, 'from') }),
          ...(integer(q.limit, 'limit') === undefined ? {} : { limit: integer(q.limit, 'limit') }),
          ...(q.reason === undefined ? {} : { reason: q.reason }),
        }
        const letters = await tools(kind, request.params.key).deadLetters(kind, request.params.key, query)
        return { dead_letters: letters.map(deadLetterJson) }
      } catch (error) {
        return sendError(reply, error)
      }
    })

    app.get<{ Params: { key: string; offset: string }; Querystring: { partition?: string } }>(`/${plural}/:key/dead_letters/:offset`, async (request, reply) => {
      try {
        const offset = integer(request.params.offset, 'offset') ?? 0
        const partition = integer(request.query.partition, 'partition') ?? 0
        const letters = await tools(kind, request.params.key).deadLetters(kind, request.params.key, { partition, from: offset, limit: 1 })
        const letter = letters.find((l) => l.offset === offset)
        if (letter === undefined) throw new ApiError(404, 'dead_letter_not_found', `no dead letter at partition ${partition} offset ${offset}`)
        return deadLetterJson(letter)
      } catch (error) {
        return sendError(reply, error)
      }
    })

    app.post<KeyParams & { Body: unknown }>(`/${plural}/:key/dead_letters/replay`, async (request, reply) => {
      let engine: OperatorTools
      let options: ReplayOptions
      try {
        engine = tools(kind, request.params.key)
        options = replayOptions(request.body)
      } catch (error) {
        return sendError(reply, error)
      }
      // Progress streams as NDJSON while the replay runs; an error mid-way is the last line.
      reply.hijack()
      reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' })
      try {
        const result = await engine.replayDeadLetters(kind, request.params.key, options, (p) => {
          if (!p.done) reply.raw.write(`${JSON.stringify(replayProgressJson(p))}\n`)
        })
        reply.raw.end(`${JSON.stringify(replayProgressJson(result))}\n`)
      } catch (error) {
        reply.raw.end(`${JSON.stringify({ error: error instanceof Error ? error.message : String(error) })}\n`)
      }
    })

    app.get<KeyParams & { Querystring: { stage?: string; limit?: string } }>(`/${plural}/:key/tap`, async (request, reply) => {
      let tap
      let limit: number | undefined
      try {
        const stage = request.query.stage ?? 'after'
        if (stage !== 'before' && stage !== 'after') throw new ApiError(400, 'invalid_request', `stage: expected "before" or "after", got "${stage}"`)
        limit = integer(request.query.limit, 'limit')
        tap = tools(kind, request.params.key).tap(kind, request.params.key, stage)
      } catch (error) {
        return sendError(reply, error)
      }
      await streamTap(request, reply, tap, limit, taps)
    })
  }
}

/** Sends tapped messages as server-sent events until the client goes or `limit` is reached. */
async function streamTap(
  request: FastifyRequest,
  reply: FastifyReply,
  tap: ReturnType<OperatorTools['tap']>,
  limit: number | undefined,
  taps: Set<() => void>,
): Promise<void> {
  reply.hijack()
  reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' })
  // A comment line at once, so the client knows the tap is listening.
  reply.raw.write(': listening\n\n')
  const state = { open: true }
  const end = () => {
    state.open = false
    tap.close()
  }
  request.raw.on('close', end)
  taps.add(end)
  let sent = 0
  const wanted = limit ?? Number.POSITIVE_INFINITY
  for (;;) {
    if (!state.open || sent >= wanted) break
    const messages = await tap.next(Math.min(100, wanted - sent))
    for (const message of messages.slice(0, wanted - sent)) {
      if (!state.open) break
      reply.raw.write(`event: message\ndata: ${JSON.stringify(tapMessageJson(message))}\n\n`)
      sent++
    }
  }
  const dropped = tap.dropped()
  tap.close()
  taps.delete(end)
  if (!reply.raw.writableEnded) reply.raw.end(`event: end\ndata: ${JSON.stringify({ sent, dropped })}\n\n`)
}
