import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { join } from 'node:path'

export const root = join(__dirname, '..', '..')
export const bin = join(root, 'bin', 'iggy-connectors.js')

/** Compiles ts/ → dist/ so the bin runs the current sources. */
export function buildDist(): void {
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'pipe' })
}

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the CLI to completion. */
export function runCli(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: options.cwd ?? root, env: { PATH: process.env.PATH ?? '', ...options.env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** Starts the CLI and returns the child with its accumulated output. */
export function startCli(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [bin, ...args], { cwd: options.cwd ?? root, env: { PATH: process.env.PATH ?? '', ...options.env } })
  let out = ''
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  return { child, output: () => out, exited }
}

/** Resolves once `predicate(output)` holds, or rejects after `timeoutMs`. */
export async function waitFor(output: () => string, predicate: (text: string) => boolean, timeoutMs = 20_000): Promise<void> {
  const started = Date.now()
  while (!predicate(output())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out; output so far:\n${output()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
