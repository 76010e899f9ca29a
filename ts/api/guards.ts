// Request guards of the management API, run as onRequest hooks before any route:
// - the Host header must name this server (a DNS-rebinding page sends its own name);
// - the api-key header, when a key is configured (compared in constant time);
// - a mutating request must carry `Content-Type: application/json` or a custom header, which a
//   cross-site form or a bodiless `fetch(…, {mode: 'no-cors'})` cannot send without a preflight.
import { createHash, timingSafeEqual } from 'node:crypto'
import os from 'node:os'

import type { FastifyReply, FastifyRequest } from 'fastify'

import { isLoopbackHost, isWildcardHost, parseHostPort } from '../config/http-address'
import type { RuntimeConfig } from '../config/runtime-schema'

/** Constant-time comparison of the api-key header with the configured key. */
export function apiKeyMatches(given: string | string[] | undefined, expected: string): boolean {
  if (typeof given !== 'string') return false
  // Hash both so the buffers have equal length and the key length does not leak either.
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

/** The host part of a Host header (`name`, `name:port`, `[v6]`, `[v6]:port`), lower-cased. */
export function hostOfHeader(header: string): string | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]\s]+))(?::(\d{1,5}))?$/.exec(header.trim())
  if (!m) return undefined
  return (m[1] ?? m[2] ?? '').toLowerCase().replace(/\.$/, '')
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1']

/**
 * The host names a request may carry, or `undefined` when any is accepted. A loopback bind
 * accepts the loopback names; a specific address accepts itself; a wildcard bind (0.0.0.0, ::)
 * cannot know the names it is reached by, so it accepts any (it always has an api_key, which a
 * rebinding page does not know). `http.allowed_hosts` adds names in every case.
 */
export function allowedHosts(http: RuntimeConfig['http']): ReadonlySet<string> | undefined {
  const bound = parseHostPort(http.address)
  if (bound === undefined || isWildcardHost(bound.host)) {
    if (http.allowed_hosts.length === 0) return undefined
    const local = Object.values(os.networkInterfaces()).flatMap((addresses) => (addresses ?? []).map((a) => a.address.toLowerCase()))
    return new Set([...http.allowed_hosts.map((h) => h.toLowerCase()), ...LOOPBACK_NAMES, os.hostname().toLowerCase(), ...local])
  }
  const names = new Set([bound.host, ...http.allowed_hosts.map((h) => h.toLowerCase())])
  if (isLoopbackHost(bound.host)) for (const name of LOOPBACK_NAMES) names.add(name)
  return names
}

/** Rejects requests whose Host header does not name this server (403, upstream error shape). */
export function hostGuard(http: RuntimeConfig['http']): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const allowed = allowedHosts(http)
  return async (request, reply) => {
    if (allowed === undefined) return
    const header = request.headers.host
    const host = header === undefined ? undefined : hostOfHeader(header)
    if (host !== undefined && allowed.has(host)) return
    await reply.code(403).send({
      code: 'host_not_allowed',
      reason: `Host header ${header === undefined ? '(missing)' : JSON.stringify(header)} does not name this server (allowed: ${[...allowed].join(', ')}); add the name to http.allowed_hosts`,
    })
  }
}

/** Rejects requests without a valid api-key header (401, empty body); `/` and `/health` are open. */
export function apiKeyGuard(apiKey: string): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  return async (request, reply) => {
    const path = request.url.split('?')[0]
    if (path === '/' || path === '/health') return
    if (!apiKeyMatches(request.headers['api-key'], apiKey)) await reply.code(401).send()
  }
}

const MUTATING = new Set(['POST', 'PUT', 'DELETE', 'PATCH'])

/** True when a browser could only send this request after a CORS preflight. */
function needsPreflight(request: FastifyRequest): boolean {
  const type = request.headers['content-type']
  const mime = typeof type === 'string' ? (type.split(';')[0] ?? '').trim().toLowerCase() : ''
  return mime === 'application/json' || request.headers['api-key'] !== undefined || request.headers['x-requested-with'] !== undefined
}

/** Rejects a mutating request that a cross-site page could send without a preflight (415). */
export async function mutationGuard(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (!MUTATING.has(request.method) || needsPreflight(request)) return
  await reply.code(415).send({
    code: 'unsupported_media_type',
    reason: `${request.method} ${request.url.split('?')[0]} needs the header Content-Type: application/json (or an api-key or X-Requested-With header); a request without one could come from a cross-site page`,
  })
}
