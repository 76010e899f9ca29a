import { readFileSync } from 'node:fs'
import { join } from 'node:path'

interface PackageJson {
  readonly name: string
  readonly version: string
}

/** The package's own `package.json`, read once (dist/ and ts/ both sit one level below it). */
export const packageJson: PackageJson = JSON.parse(
  readFileSync(join(__dirname, '..', 'package.json'), 'utf8'),
) as PackageJson

/** The npm package version, e.g. `0.1.0`. */
export const VERSION: string = packageJson.version
