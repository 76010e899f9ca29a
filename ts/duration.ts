// humantime-style durations as used by upstream (`IggyDuration`): "5ms", "1s", "1 s", "1m 30s".

const UNITS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  nsec: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  usec: 1e-3,
  ms: 1,
  msec: 1,
  millis: 1,
  s: 1000,
  sec: 1000,
  secs: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hrs: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
}

const ZERO = new Set(['0', 'unlimited', 'disabled', 'none'])

/** Parses a duration string into milliseconds; returns `undefined` when it is not one. */
export function parseDurationMs(text: string): number | undefined {
  const trimmed = text.trim().toLowerCase()
  if (ZERO.has(trimmed)) return 0
  if (trimmed === '') return undefined
  const part = /(\d+(?:\.\d+)?)\s*([a-zµ]+)\s*/gy
  let total = 0
  let consumed = 0
  for (let m = part.exec(trimmed); m !== null; m = part.exec(trimmed)) {
    const unit = UNITS[m[2] ?? '']
    if (unit === undefined) return undefined
    total += Number(m[1]) * unit
    consumed = part.lastIndex
  }
  return consumed === trimmed.length ? total : undefined
}
