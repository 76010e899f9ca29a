// Packaging test (`npm run test:pack`, after `npm run build`): what `npm install iggy-connectors`
// gives a user. Packs the root package — with the optionalDependencies `napi prepublish` adds at
// publish time — and this host's platform package (addon + bundled plugins), installs the two
// tarballs into an empty temporary folder with `npm ci --offline` (offline-app.mjs: a lockfile pins the
// tarballs and, for third-party packages, the versions of our own lockfile, which `npm ci` of the
// repository left in the npm cache: no network), and there checks, as a user would:
//   `iggy-connectors --version` and `plugins` (the bundled plugins resolve inside the install),
//   `iggy-connectors init` + the quick start until the stdout sink printed payloads, then a
//   graceful stop that saved the source state,
//   `require('iggy-connectors')`, and a TypeScript file compiled by the installed `tsc` against
//   the installed typings (an @ts-expect-error line proves they are not `any`).
// Exits non-zero with the failing step's output; the temp folder is kept on failure.
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'

import { platformDirs, platformManifest, writeOfflineApp } from './offline-app.mjs'
import { hostPlatform, stagePlatformPackage } from './stage-platform-package.mjs'

const root = resolve(import.meta.dirname, '..')
const rootManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const platform = hostPlatform()
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const tmp = mkdtempSync(join(tmpdir(), 'iggy-connectors-pack-'))
const app = join(tmp, 'app')

const timings = []
async function step(name, fn) {
  const started = process.hrtime.bigint()
  process.stdout.write(`pack-test: ${name}\n`)
  const result = await fn()
  timings.push([name, Number(process.hrtime.bigint() - started) / 1e6])
  return result
}

function run(command, args, cwd, env = {}) {
  return execFileSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
}

const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`

/** `npm pack` of `dir` into `tmp`; returns the tarball's file name. */
function pack(dir) {
  const [info] = JSON.parse(run(npm, ['pack', '--json', '--pack-destination', tmp], dir))
  process.stdout.write(`pack-test:   ${info.filename}: ${info.entryCount} files, ${mb(info.size)} packed, ${mb(info.unpackedSize)} unpacked\n`)
  return info.filename
}

/** The root package as published: its packed files, plus one optional dependency per platform. */
function stageRoot() {
  const [dryRun] = JSON.parse(run(npm, ['pack', '--dry-run', '--json'], root))
  const stage = join(tmp, 'stage', 'root')
  for (const { path } of dryRun.files) {
    mkdirSync(dirname(join(stage, path)), { recursive: true })
    cpSync(join(root, path), join(stage, path))
  }
  const manifest = { ...rootManifest, optionalDependencies: {} }
  for (const dir of platformDirs()) manifest.optionalDependencies[platformManifest(dir).name] = rootManifest.version
  writeFileSync(join(stage, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`)
  return { stage, manifest, files: dryRun.files.map((f) => f.path) }
}

/** A port nobody listens on right now (the broker binds it a moment later). */
function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolvePort(port))
    })
  })
}

const PAYLOAD_LINE = /^\[quickstart\/events p\d+ #(\d+)\] (\{.*\})$/
const WANTED_PAYLOADS = 5

/** Runs the quick start until the stdout sink printed WANTED_PAYLOADS payloads, then SIGINT. */
async function runQuickStart() {
  const port = await freePort()
  const child = spawn(join(app, 'node_modules/.bin/iggy-connectors'), ['--config', 'quickstart/config.toml', '--embedded-broker'], {
    cwd: app,
    env: { ...process.env, IGGY_CONNECTORS_IGGY_ADDRESS: `127.0.0.1:${port}`, IGGY_CONNECTORS_HTTP_ENABLED: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const payloads = []
  let buffered = ''
  let signalled = false
  child.stderr.on('data', (chunk) => (output += chunk))
  child.stdout.on('data', (chunk) => {
    output += chunk
    buffered += chunk
    const lines = buffered.split('\n')
    buffered = lines.pop() ?? ''
    for (const line of lines) {
      const match = PAYLOAD_LINE.exec(line)
      if (match) payloads.push({ offset: Number(match[1]), value: JSON.parse(match[2]) })
    }
    if (payloads.length >= WANTED_PAYLOADS && !signalled) {
      signalled = true
      child.kill('SIGINT')
    }
  })
  // A guard against a hang, not a timing assertion: the run normally takes a few seconds.
  const guard = setTimeout(() => child.kill('SIGKILL'), 120_000)
  const code = await new Promise((resolveExit) => child.once('exit', (exitCode, signal) => resolveExit(exitCode ?? signal)))
  clearTimeout(guard)
  return { code, payloads, output }
}

const TS_CHECK = `import { ConnectorsRuntime, VERSION, engineVersion, type ConnectorStats, type LogRecord } from 'iggy-connectors'

const runtime = new ConnectorsRuntime({ configPath: 'quickstart/config.toml' })
runtime.on('log', (record: LogRecord) => void record.message)
const stats: ConnectorStats[] = runtime.stats()
// @ts-expect-error configPath is a string: the typings are real, not \`any\`
void new ConnectorsRuntime({ configPath: 42 })
console.log(JSON.stringify({ version: VERSION, engine: engineVersion(), state: runtime.state, stats: stats.length }))
`

async function main() {
  const platformTarball = await step(`stage and pack @iggy-connectors/binding-${platform}`, () => {
    const dir = join(tmp, 'stage', platform)
    const manifest = stagePlatformPackage(dir)
    assert.ok(manifest.files.some((f) => f.startsWith('plugins/')), 'the platform package lists its plugins')
    return pack(dir)
  })
  const { rootTarball, manifest } = await step('stage and pack iggy-connectors', () => {
    const staged = stageRoot()
    for (const required of ['bin/iggy-connectors.js', 'dist/index.js', 'dist/index.d.ts', 'index.js', 'docs/config.md', 'crates/plugins/postgres_sink/README.md']) {
      assert.ok(staged.files.includes(required), `the root package holds ${required}`)
    }
    return { rootTarball: pack(staged.stage), manifest: staged.manifest }
  })
  await step('npm ci --offline in an empty folder', () => {
    writeOfflineApp({ app, rootTarball: join(tmp, rootTarball), platformTarball: join(tmp, platformTarball), manifest })
    run(npm, ['ci', '--offline', '--no-audit', '--no-fund'], app)
  })
  const bin = join(app, 'node_modules/.bin/iggy-connectors')
  const installedPlugins = join(app, 'node_modules/@iggy-connectors', `binding-${platform}`, 'plugins')
  await step('iggy-connectors --version and plugins', () => {
    assert.equal(run(bin, ['--version'], app).trim(), `iggy-connectors ${manifest.version} (engine ${manifest.version})`)
    const listed = run(bin, ['plugins'], app)
    const built = readdirSync(join(root, 'build', 'plugins')).filter((f) => /^(lib)?iggy_connector_.+\.(so|dylib|dll)$/.test(f))
    const installed = listed.split('\n').filter((l) => l.includes(installedPlugins))
    assert.equal(installed.length, built.length, `every plugin of build/plugins/ (${built.join(', ')}) is installed and loads:\n${listed}`)
    for (const name of ['random_source', 'stdout_sink']) {
      const line = listed.split('\n').find((l) => l.startsWith(`${name} `))
      assert.ok(line?.includes(installedPlugins), `plugins lists ${name} from ${installedPlugins}:\n${listed}`)
    }
  })
  await step('iggy-connectors init quickstart', () => {
    const out = run(bin, ['init', 'quickstart'], app)
    assert.match(out, /npx iggy-connectors --config quickstart\/config\.toml --embedded-broker/)
    for (const file of ['config.toml', 'connectors/random_source.toml', 'connectors/stdout_sink.toml']) assert.ok(existsSync(join(app, 'quickstart', file)), file)
    const validated = run(bin, ['validate', '--config', 'quickstart/config.toml'], app)
    assert.match(validated, /valid: 2 enabled connector\(s\)/)
    assert.ok(validated.includes(installedPlugins), `validate resolves the bundled plugins:\n${validated}`)
  })
  await step('quick start until the stdout sink printed payloads', async () => {
    const { code, payloads, output } = await runQuickStart()
    assert.ok(payloads.length >= WANTED_PAYLOADS, `expected ${WANTED_PAYLOADS} payload lines, got ${payloads.length}:\n${output}`)
    assert.deepEqual(payloads.slice(0, WANTED_PAYLOADS).map((p) => p.offset), [0, 1, 2, 3, 4], output)
    for (const { value } of payloads) {
      assert.equal(value.source, 'quickstart', 'the add_fields transform ran')
      for (const key of ['id', 'title', 'name', 'text', 'received_at']) assert.ok(key in value, `payload has ${key}: ${JSON.stringify(value)}`)
    }
    assert.equal(code, 0, `graceful stop exits 0:\n${output}`)
    assert.ok(existsSync(join(app, 'quickstart/local_state/source_random.state')), 'the source state was saved')
  })
  await step("require('iggy-connectors')", () => {
    const script = "const c = require('iggy-connectors'); console.log(JSON.stringify({ runtime: typeof c.ConnectorsRuntime, version: c.VERSION, engine: c.engineVersion(), abi: c.pluginAbi() }))"
    const out = JSON.parse(run(process.execPath, ['-e', script], app))
    assert.deepEqual({ ...out, abi: typeof out.abi }, { runtime: 'function', version: manifest.version, engine: manifest.version, abi: 'string' })
  })
  await step('tsc against the installed typings', () => {
    writeFileSync(join(app, 'check.ts'), TS_CHECK)
    // What `tsc --init` writes (strict, esModuleInterop), without skipLibCheck: our .d.ts files are checked too.
    const tsconfig = { compilerOptions: { target: 'ES2022', module: 'commonjs', moduleResolution: 'node10', strict: true, esModuleInterop: true, types: ['node'], outDir: 'out' }, files: ['check.ts'] }
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(tsconfig))
    run(join(app, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], app)
    const out = JSON.parse(run(process.execPath, ['out/check.js'], app))
    assert.deepEqual(out, { version: manifest.version, engine: manifest.version, state: 'new', stats: 0 })
  })
}

try {
  await main()
  rmSync(tmp, { recursive: true, force: true })
  for (const [name, ms] of timings) process.stdout.write(`pack-test: ${(ms / 1000).toFixed(1).padStart(6)} s  ${name}\n`)
  process.stdout.write('pack-test: ok\n')
} catch (error) {
  const detail = error.stderr || error.stdout ? `\n${error.stdout ?? ''}${error.stderr ?? ''}` : ''
  process.stderr.write(`pack-test: FAILED: ${error.message}${detail}\n(kept ${tmp})\n`)
  process.exitCode = 1
}
