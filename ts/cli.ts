// The `iggy-connectors` command line.
import { parseArgs } from 'node:util'

import { engineVersion } from './index'
import { VERSION } from './version'

const HELP = `iggy-connectors ${VERSION} — connectors runtime for Apache Iggy

Usage:
  iggy-connectors [--config <path>] [--embedded-broker]   run the runtime
  iggy-connectors validate [--config <path>]              check config and plugins, exit 0/1
  iggy-connectors broker [--address 127.0.0.1:8090]       run the embedded test broker
  iggy-connectors --version | --help

Options:
  -c, --config <path>    runtime config (default: $IGGY_CONNECTORS_CONFIG_PATH, else config.toml)
      --embedded-broker  start the embedded development broker at [iggy] address
  -V, --version          print versions
  -h, --help             print this help
`

export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'V' },
      config: { type: 'string', short: 'c' },
      'embedded-broker': { type: 'boolean' },
      address: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  })
  if (values.help) {
    process.stdout.write(HELP)
    return 0
  }
  if (values.version) {
    process.stdout.write(`iggy-connectors ${VERSION} (engine ${engineVersion()})\n`)
    return 0
  }
  process.stderr.write('iggy-connectors: the runtime is not implemented yet (see issue 5/6)\n')
  return 3
}
