// Secret redaction for every log line and API response that shows configuration.

export const MASK = '******'

/** Keys whose whole value is a secret (libpq's `sslpassword`, key passphrases, PEM material included). */
const SECRET_KEY =
  /(^|_)(password|passwd|pwd|sslpassword|passphrase|secret|token|api_key|apikey|access_key|secret_key|private_key|credentials?|auth|authorization|pem)$|_pem$/i
/** Keys whose value is a connection string or URL that may embed credentials. */
const CONNECTION_KEY = /(^|_)(connection_string|conn_str|dsn|url|uri|urls|uris|endpoint|endpoints|address|addresses|host|hosts|brokers|servers|nodes)$/i
/** Keys holding a JSON text of a config table (engine options: `pluginConfigJson`, a transform's `configJson`). */
const JSON_TEXT_KEY = /(Json|_json)$/

/** `key=value` pairs of a libpq DSN or a query string whose value is a secret; quoted values may hold spaces. */
const SECRET_PAIR = /\b(password|sslpassword|passphrase|pwd|token|secret|api_key|apikey)(\s*=\s*)('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^&;\s]*)/gi

/** The same pattern without the global flag, for a stateless `test`. */
const HAS_SECRET_PAIR = new RegExp(SECRET_PAIR.source, 'i')

/**
 * Masks the userinfo password of `scheme://user:pass@host`, or the whole userinfo when it has no
 * `:`. The userinfo ends at the **last** `@` before any `?` or `#`, so a password containing `@`
 * (or `/`) is masked whole; masking too much of an odd URL beats showing part of a secret.
 */
function redactUserinfo(value: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^?#\s]*)@/i.exec(value)
  if (!m) return value
  const scheme = m[1] as string
  const userinfo = m[2] as string
  const colon = userinfo.indexOf(':')
  const masked = colon >= 0 ? `${userinfo.slice(0, colon)}:${MASK}` : MASK
  return `${scheme}${masked}@${value.slice(m[0].length)}`
}

/**
 * Masks credentials inside a connection string: the password of `scheme://user:pass@host`
 * (or the whole userinfo when it has no `:`), `password=…` / `sslpassword=…` / `token=…` pairs,
 * and the password of a scheme-less `user:pass@host`.
 */
export function redactConnectionString(value: string): string {
  let out = redactUserinfo(value)
  if (out === value && !value.includes('://')) {
    // `user:p@ss@host:6379` (Redis/Kafka-style node lists): the last `@` ends the password.
    out = value.replace(/^([^\s:@/=]+):(\S*)@(?=[^@\s]+$)/, (_m, user: string) => `${user}:${MASK}@`)
  }
  return out.replace(SECRET_PAIR, (_m, key: string, eq: string) => `${key}${eq}${MASK}`)
}

/** True when a key names a secret whose whole value must be hidden. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key)
}

/** A JSON text under a `…Json` key, redacted as the value it encodes; non-JSON text as a plain value. */
function redactJsonText(text: string): string {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return redactConnectionString(text)
  }
  return JSON.stringify(redact(parsed))
}

/**
 * Deep copy of `value` with secrets masked: values under secret-looking keys become `******`,
 * connection strings keep everything but their credentials, JSON texts of config tables are
 * masked inside. Non-empty secrets only — an empty string stays empty so "not configured"
 * remains visible.
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
    if (JSON_TEXT_KEY.test(key)) return redactJsonText(value) as T
    if (CONNECTION_KEY.test(key) || value.includes('://')) return redactConnectionString(value) as T
    // Anything else may still be a DSN (`host=db password=x`) under an unexpected key.
    if (HAS_SECRET_PAIR.test(value)) return value.replace(SECRET_PAIR, (_m, k: string, eq: string) => `${k}${eq}${MASK}`) as T
  }
  return value
}
