// An app folder that installs the packed iggy-connectors tarballs with `npm ci --offline`: its
// lockfile pins the two tarballs by integrity and, for every third-party package (the runtime's
// dependencies, plus typescript and @types/node to compile against the typings), copies the
// entries of our own package-lock.json, whose tarballs `npm ci` of the repository left in the npm
// cache. So the install needs no registry and no network, and gets the versions we test with.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'

import { hostPlatform } from './stage-platform-package.mjs'

const root = resolve(import.meta.dirname, '..')
const repoLock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'))

/** A tarball next to the app folder, as package.json and the lockfile name it. */
const fileSpec = (tarball) => `file:../${basename(tarball)}`

const integrity = (file) => `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`

/** The platform package folders under npm/. */
export const platformDirs = () =>
  readdirSync(join(root, 'npm'), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
export const platformManifest = (dir) => JSON.parse(readFileSync(join(root, 'npm', dir, 'package.json'), 'utf8'))

const registry = execFileSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).trim().replace(/\/?$/, '/')

/** The registry URL of a package's tarball, as npm publishes it. */
const tarballUrl = (name, version) => `${registry}${name}/-/${name.slice(name.lastIndexOf('/') + 1)}-${version}.tgz`

/** The lock path npm's resolution finds for `name` required from the package at `from`. */
function lockPathOf(from, name) {
  for (let base = from; ; base = base.slice(0, Math.max(0, base.lastIndexOf('/node_modules/')))) {
    const candidate = `${base === '' ? '' : `${base}/`}node_modules/${name}`
    if (repoLock.packages[candidate]) return candidate
    if (base === '') return undefined
  }
}

/** Lock entries of `roots` and everything they need, copied from our lockfile. */
function lockEntries(roots, dev) {
  const entries = {}
  const queue = roots.map((name) => {
    const path = lockPathOf('', name)
    assert.ok(path, `${name} is not in package-lock.json`)
    return path
  })
  while (queue.length > 0) {
    const path = queue.shift()
    if (entries[path]) continue
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...entry } = repoLock.packages[path]
    // Our lockfile omits registry URLs (omit-lockfile-registry-resolved); with the URL npm takes
    // the tarball from its cache by integrity and never needs the package's metadata document.
    entry.resolved ??= tarballUrl(path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length), entry.version)
    entries[path] = dev ? { ...entry, dev: true } : entry
    const needs = { ...entry.dependencies, ...entry.optionalDependencies, ...entry.peerDependencies }
    for (const name of Object.keys(needs)) {
      const found = lockPathOf(path, name)
      if (found) queue.push(found)
    }
  }
  return entries
}

/**
 * Writes `app/package.json` and `app/package-lock.json` for the root tarball (whose package.json
 * is `manifest`) and this host's platform tarball; the other platforms are locked as optional
 * packages for their os/cpu, which npm skips here as it would from the registry.
 */
export function writeOfflineApp({ app, rootTarball, platformTarball, manifest }) {
  for (const tarball of [rootTarball, platformTarball]) assert.equal(dirname(tarball), dirname(app), 'the tarballs sit next to the app folder')
  mkdirSync(app, { recursive: true })
  const tools = { typescript: repoLock.packages['node_modules/typescript'].version, '@types/node': repoLock.packages['node_modules/@types/node'].version }
  const appManifest = { name: 'pack-test-app', version: '1.0.0', private: true, dependencies: { 'iggy-connectors': fileSpec(rootTarball) }, devDependencies: tools }
  const platforms = {}
  for (const dir of platformDirs()) {
    const sub = platformManifest(dir)
    const entry = { version: sub.version, optional: true, os: sub.os, cpu: sub.cpu, ...(sub.libc ? { libc: sub.libc } : {}) }
    if (dir === hostPlatform()) Object.assign(entry, { resolved: fileSpec(platformTarball), integrity: integrity(platformTarball) })
    platforms[`node_modules/${sub.name}`] = entry
  }
  const lock = {
    name: appManifest.name,
    version: appManifest.version,
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name: appManifest.name, version: appManifest.version, dependencies: appManifest.dependencies, devDependencies: tools },
      'node_modules/iggy-connectors': {
        version: manifest.version,
        resolved: fileSpec(rootTarball),
        integrity: integrity(rootTarball),
        license: manifest.license,
        dependencies: manifest.dependencies,
        optionalDependencies: manifest.optionalDependencies,
        bin: manifest.bin,
        engines: manifest.engines,
      },
      ...platforms,
      ...lockEntries(Object.keys(manifest.dependencies), false),
      ...lockEntries(Object.keys(tools), true),
    },
  }
  writeFileSync(join(app, 'package.json'), `${JSON.stringify(appManifest, null, 2)}\n`)
  writeFileSync(join(app, 'package-lock.json'), `${JSON.stringify(lock, null, 2)}\n`)
}
