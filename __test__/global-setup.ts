// Compiles ts/ → dist/ once, before any test file runs. Each file that spawns the CLI used to
// run tsc in its own beforeAll; with files in parallel forks, one tsc rewrote dist/*.js while
// another file's CLI child was loading them (a half-written module fails to load).
import { buildDist } from './helpers/cli'

export default function setup(): void {
  buildDist()
}
