import { existsSync } from 'node:fs'
import { join } from 'node:path'

import { root } from './cli'

const ext = process.platform === 'darwin' ? 'dylib' : process.platform === 'win32' ? 'dll' : 'so'
const prefix = process.platform === 'win32' ? '' : 'lib'

/** `build/plugins/lib<name>` (no extension, as connector files write it); throws when not built. */
export function builtPlugin(name: string): string {
  const base = join(root, 'build/plugins', `${prefix}${name}`)
  if (!existsSync(`${base}.${ext}`)) throw new Error(`${base}.${ext} is missing: run \`npm run build:plugins\` first`)
  return base
}

/**
 * A test plugin from the Cargo target directory (`cargo build` builds them in debug), without
 * extension. Honours CARGO_TARGET_DIR like the build scripts.
 */
export function testPlugin(crate: string): string {
  const targetDir = process.env.CARGO_TARGET_DIR ?? join(root, 'target')
  const base = join(targetDir, 'debug', `${prefix}${crate}`)
  if (!existsSync(`${base}.${ext}`)) throw new Error(`${base}.${ext} is missing: run \`cargo build -p ${crate}\` first`)
  return base
}
