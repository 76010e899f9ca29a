/** One sample of the Prometheus text exposition format. */
export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

export interface ParsedMetrics {
  types: Record<string, string>
  help: Record<string, string>
  samples: Sample[]
}

/** A small parser for the Prometheus text format (0.0.4): HELP/TYPE lines and samples. */
export function parsePrometheus(text: string): ParsedMetrics {
  const parsed: ParsedMetrics = { types: {}, help: {}, samples: [] }
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line)
    if (meta) {
      if (meta[1] === 'TYPE') parsed.types[meta[2] as string] = meta[3] as string
      else parsed.help[meta[2] as string] = meta[3] as string
      continue
    }
    if (line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line)
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, (_x, c: string) => (c === 'n' ? '\n' : c))
    }
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3])
    if (Number.isNaN(value) && m[3] !== 'NaN') throw new Error(`bad sample value in: ${line}`)
    parsed.samples.push({ name: m[1] as string, labels, value })
  }
  return parsed
}

export function sample(metrics: ParsedMetrics, name: string, labels: Record<string, string> = {}): number | undefined {
  return metrics.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value
}
