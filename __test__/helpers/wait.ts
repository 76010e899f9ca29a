import type * as Native from '../../index'

/**
 * Resolves once `check()` is true, polling every 20 ms; throws after `timeoutMs` (default: just
 * under the 60 s test timeout, so the failure names the wait instead of the test timing out).
 */
export async function until(check: () => boolean, timeoutMs = 55_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${check.toString()}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** The engine's counters of connector `kind`/`key`. */
export function engineStat(engine: Native.Engine, kind: string, key: string): Native.ConnectorStats {
  const stats = engine.stats().find((s) => s.kind === kind && s.key === key)
  if (stats === undefined) throw new Error(`no stats for ${kind} ${key}`)
  return stats
}
