// Runs the engine's criterion microbenchmarks and folds their estimates into ns per message.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

export function runCriterion(root) {
  execFileSync('cargo', ['bench', '-p', 'iggy_connectors_engine', '--bench', 'transforms', '--bench', 'codecs'], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  })
}

/**
 * Reads every `<id>/new/{benchmark,estimates}.json` written since `sinceMs` under the criterion
 * directory. Returns `{ full_id: ns per message }`: the mean per iteration, divided by the
 * declared element throughput when there is one (the postcard batches are 1000 messages).
 */
export function collectCriterion(dir, sinceMs) {
  const out = {}
  const walk = (path) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue
      const sub = join(path, entry.name)
      if (entry.name !== 'new') {
        walk(sub)
        continue
      }
      const estimates = join(sub, 'estimates.json')
      const benchmark = join(sub, 'benchmark.json')
      if (!existsSync(estimates) || !existsSync(benchmark) || statSync(estimates).mtimeMs < sinceMs) continue
      const meta = JSON.parse(readFileSync(benchmark, 'utf8'))
      const mean = JSON.parse(readFileSync(estimates, 'utf8')).mean.point_estimate
      const elements = meta.throughput?.Elements ?? 1
      out[meta.full_id] = Math.round((mean / elements) * 10) / 10
    }
  }
  if (existsSync(dir)) walk(dir)
  return Object.fromEntries(Object.entries(out).toSorted(([a], [b]) => a.localeCompare(b)))
}
