// The management API's bind address: parsing `host:port` and telling loopback from the rest.
// Shared by config validation (a non-loopback bind needs an api_key) and the API's Host check.
import { isIP } from 'node:net'

export interface HostPort {
  /** Host without IPv6 brackets: `127.0.0.1`, `::1`, `localhost`, `0.0.0.0`. */
  readonly host: string
  readonly port: number
}

/** `host:port` or `[v6]:port`; undefined when the text is not one. */
export function parseHostPort(address: string): HostPort | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(address.trim())
  if (!m) return undefined
  const port = Number(m[3])
  if (port > 65_535) return undefined
  const host = (m[1] ?? m[2] ?? '').toLowerCase()
  return { host: host === '' ? '0.0.0.0' : host, port }
}

/** True for names and addresses only this machine can reach: localhost, 127.0.0.0/8, ::1. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '')
  if (h === 'localhost' || h.endsWith('.localhost')) return true
  if (isIP(h) === 4) return h.startsWith('127.')
  if (isIP(h) === 6) return h === '::1' || h.startsWith('::ffff:127.') || h === '0:0:0:0:0:0:0:1'
  return false
}

/** `0.0.0.0`, `::`: every interface. */
export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '0:0:0:0:0:0:0:0'
}
