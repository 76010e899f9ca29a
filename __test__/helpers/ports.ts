import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

// Ports are picked the way scripts/lib/ports.sh picks the test servers' ports: a port handed out
// by listen(0) lies in the kernel's ephemeral range, where any outgoing connection (the runtime's
// own to the broker, say) may take it before the runtime binds it. Below that range only a
// server binds, and the claims directory keeps concurrent test files and servers apart.
const CLAIMS = join(tmpdir(), 'iggy-connectors-port-claims')
const STALE_MS = 120_000

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
    return Number.isInteger(low) && low > 20_001 ? low : 32_768
  } catch {
    return 32_768
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/** Claims `port` among our tests and test servers; false when a start claimed it lately. */
function claim(port: number): boolean {
  mkdirSync(CLAIMS, { recursive: true })
  const path = join(CLAIMS, String(port))
  try {
    mkdirSync(path)
    return true
  } catch {
    let stale = false
    try {
      stale = Date.now() - statSync(path).mtimeMs > STALE_MS
    } catch {
      stale = true
    }
    if (!stale) return false
    rmSync(path, { recursive: true, force: true })
    try {
      mkdirSync(path)
      return true
    } catch {
      return false
    }
  }
}

/** A loopback TCP port below the ephemeral range, free a moment ago and claimed for this test. */
export async function freePort(): Promise<number> {
  const low = 20_000
  const high = ephemeralLow() - 1
  for (let attempt = 0; attempt < 500; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1))
    if ((await canListen(port)) && claim(port)) return port
  }
  throw new Error(`no free loopback port in ${low}..${high}`)
}
