// Runs every Rust test binary of the workspace (except the napi binding), several at a time.
//
// First it builds the workspace (`cargo build --workspace --exclude iggy_connectors_binding`):
// every plugin cdylib and helper binary the end-to-end tests load, with the workspace's feature
// resolution, into the target directory and profile the test binaries run from. The tests find
// them there through crates/test_support (`artifacts::plugin`); IGGY_TEST_ARTIFACTS_BUILT tells
// it the build is done, so no test runs a nested `cargo build` of its own.
//
// `cargo test` runs test binaries one after another; most of ours wait on real servers
// (PostgreSQL, FerretDB, InfluxDB, OpenSearch…) rather than on the CPU, so running a few
// binaries side by side cuts the suite's wall time without changing any test. Each binary runs
// with the working directory and environment `cargo test` would give it; its output is printed
// in one piece when it ends. Every binary runs even after a failure (like --no-fail-fast), and
// the exit status fails if any failed. Doc-tests are not run (the workspace has none).
//
//   node scripts/rust-tests.mjs [--jobs N]      (default: IGGY_TEST_JOBS or 3)
import { execFileSync, spawn } from 'node:child_process'
import { basename, dirname, resolve } from 'node:path'

const root = resolve(import.meta.dirname, '..')
const jobsArg = process.argv.indexOf('--jobs')
const jobs = Number(jobsArg > 0 ? process.argv[jobsArg + 1] : process.env.IGGY_TEST_JOBS ?? 3)
const cargo = process.env.CARGO ?? 'cargo'

const workspace = ['--workspace', '--exclude', 'iggy_connectors_binding']
const buildStarted = Date.now()
execFileSync(cargo, ['build', ...workspace], { cwd: root, stdio: 'inherit' })
const cargoArgs = ['test', ...workspace, '--no-run', '--message-format=json']
const output = execFileSync(cargo, cargoArgs, {
  cwd: root,
  encoding: 'utf8',
  maxBuffer: 256 * 1024 * 1024,
  stdio: ['ignore', 'pipe', 'inherit'],
})

const binaries = []
// Example programs the tests spawn (`cargo test` builds every example, with the workspace's
// feature resolution): IGGY_TEST_EXAMPLE_<NAME> gives each test its path, so no test runs a
// nested `cargo build` that would relink the plugin libraries other test binaries are loading.
const examples = {}
for (const line of output.split('\n')) {
  if (!line.startsWith('{')) continue
  const message = JSON.parse(line)
  if (message.reason === 'compiler-artifact' && message.executable && message.target?.kind?.includes('example')) {
    examples[`IGGY_TEST_EXAMPLE_${message.target.name.toUpperCase()}`] = message.executable
  }
  if (message.reason !== 'compiler-artifact' || !message.executable || !message.profile?.test) continue
  binaries.push({
    executable: message.executable,
    manifestDir: dirname(message.manifest_path),
    name: `${basename(dirname(message.manifest_path))}: ${message.target.kind.join(',')} ${message.target.name}`,
  })
}

const buildSeconds = ((Date.now() - buildStarted) / 1000).toFixed(1)
process.stdout.write(`rust-tests: workspace and test binaries built in ${buildSeconds}s\n`)

const started = Date.now()
const failures = []
let next = 0

function runOne(binary) {
  return new Promise((resolveRun) => {
    const begin = Date.now()
    const child = spawn(binary.executable, [], {
      cwd: binary.manifestDir,
      env: {
        ...process.env,
        ...examples,
        CARGO: cargo,
        CARGO_MANIFEST_DIR: binary.manifestDir,
        IGGY_TEST_ARTIFACTS_BUILT: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const chunks = []
    child.stdout.on('data', (chunk) => chunks.push(chunk))
    child.stderr.on('data', (chunk) => chunks.push(chunk))
    child.on('close', (code, signal) => {
      const seconds = ((Date.now() - begin) / 1000).toFixed(1)
      const status = code === 0 ? 'ok' : `FAILED (${signal ?? `exit ${code}`})`
      process.stdout.write(`\n===== ${binary.name} — ${status} in ${seconds}s\n${Buffer.concat(chunks).toString()}`)
      if (code !== 0) failures.push(binary.name)
      resolveRun()
    })
  })
}

async function worker() {
  while (next < binaries.length) {
    const binary = binaries[next++]
    await runOne(binary)
  }
}

await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker))
const total = ((Date.now() - started) / 1000).toFixed(1)
process.stdout.write(`\nrust-tests: ${binaries.length} test binaries, ${failures.length} failed, ${total}s (${jobs} at a time)\n`)
for (const name of failures) process.stdout.write(`  failed: ${name}\n`)
process.exit(failures.length === 0 ? 0 : 1)
