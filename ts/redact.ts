// Secret redaction for every log line and API response that shows configuration.

export const MASK = '******'

/** Keys whose whole value is a secret. */
const SECRET_KEY = /(^|_)(password|passwd|pwd|secret|token|api_key|apikey|access_key|secret_key|private_key|credentials?|auth|authorization)$/i
/** Keys whose value is a connection string or URL that may embed credentials. */
const CONNECTION_KEY = /(^|_)(connection_string|conn_str|dsn|url|uri|urls|uris|endpoint|address)$/i

/**
 * Masks credentials inside a connection string: the password of `scheme://user:pass@host`
 * (or the whole userinfo when it has no `:`), and `password=…` / `token=…` pairs.
 */
export function redactConnectionString(value: string): string {
  return value
    .replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/@\s]+)@/i, (_m, scheme: string, userinfo: string) => {
      const colon = userinfo.indexOf(':')
      return colon >= 0 ? `${scheme}${userinfo.slice(0, colon)}:${MASK}@` : `${scheme}${MASK}@`
    })
    .replace(/\b(password|pwd|token|secret|api_key|apikey)=([^&;\s]*)/gi, (_m, key: string) => `${key}=${MASK}`)
}

/** True when a key names a secret whose whole value must be hidden. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key)
}

/**
 * Deep copy of `value` with secrets masked: values under secret-looking keys become `******`,
 * connection strings keep everything but their credentials. Non-empty secrets only — an empty
 * string stays empty so "not configured" remains visible.
 */
export function redact<T>(value: T, key = ''): T {
  if (Array.isArray(value)) return value.map((item) => redact(item, key)) as T
  if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = redact(v, k)
    return out as T
  }
  if (typeof value === 'string' && value !== '') {
    if (isSecretKey(key)) return MASK as T
    if (CONNECTION_KEY.test(key) || value.includes('://')) return redactConnectionString(value) as T
  }
  return value
}
