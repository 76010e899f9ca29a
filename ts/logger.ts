// Structured logs: text or JSON lines, one per record, filtered by level.

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]
export type LogFormat = 'text' | 'json'

/** One log line of the runtime, the engine or a plugin. */
export interface LogRecord {
  level: LogLevel
  /** Where it comes from: `iggy_connectors::config`, an engine module, a plugin crate. */
  target: string
  message: string
  /** Set for plugin and pipeline logs: the connector the line belongs to. */
  connectorKey?: string
  /** Unix time in microseconds. */
  timestampMicros: number
}

export type LogSink = (record: LogRecord) => void

export function levelRank(level: string): number {
  const index = LOG_LEVELS.indexOf(level.toLowerCase() as LogLevel)
  return index < 0 ? 2 : index
}

export function toLogLevel(level: string): LogLevel {
  return LOG_LEVELS[levelRank(level)] as LogLevel
}

export function nowMicros(): number {
  return Date.now() * 1000
}

function isoTime(micros: number): string {
  const iso = new Date(Math.floor(micros / 1000)).toISOString()
  return `${iso.slice(0, 23)}${String(micros % 1000).padStart(3, '0')}Z`
}

export function formatRecord(record: LogRecord, format: LogFormat): string {
  if (format === 'json') {
    return JSON.stringify({
      timestamp: isoTime(record.timestampMicros),
      level: record.level.toUpperCase(),
      target: record.target,
      ...(record.connectorKey === undefined ? {} : { connector_key: record.connectorKey }),
      message: record.message,
    })
  }
  const connector = record.connectorKey === undefined ? '' : ` connector=${record.connectorKey}`
  return `${isoTime(record.timestampMicros)} ${record.level.toUpperCase().padStart(5)} ${record.target}${connector}: ${record.message}`
}

/** A sink that writes formatted records at or above `level` to `stream` (stdout by default). */
export function createLogWriter(options: { format?: LogFormat; level?: string; stream?: NodeJS.WritableStream } = {}): LogSink {
  const format = options.format ?? 'text'
  const min = levelRank(options.level ?? 'info')
  const stream = options.stream ?? process.stdout
  return (record) => {
    if (levelRank(record.level) < min) return
    stream.write(`${formatRecord(record, format)}\n`)
  }
}

/** A small facade that stamps records for one target. */
export class Logger {
  constructor(
    private readonly sink: LogSink,
    readonly target = 'iggy_connectors',
  ) {}

  child(target: string): Logger {
    return new Logger(this.sink, target)
  }

  log(level: LogLevel, message: string, connectorKey?: string): void {
    this.sink({
      level,
      target: this.target,
      message,
      timestampMicros: nowMicros(),
      ...(connectorKey === undefined ? {} : { connectorKey }),
    })
  }

  trace(message: string, connectorKey?: string): void {
    this.log('trace', message, connectorKey)
  }
  debug(message: string, connectorKey?: string): void {
    this.log('debug', message, connectorKey)
  }
  info(message: string, connectorKey?: string): void {
    this.log('info', message, connectorKey)
  }
  warn(message: string, connectorKey?: string): void {
    this.log('warn', message, connectorKey)
  }
  error(message: string, connectorKey?: string): void {
    this.log('error', message, connectorKey)
  }
}
