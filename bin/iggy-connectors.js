#!/usr/bin/env node
'use strict'

const { main } = require('../dist/cli.js')

main(process.argv.slice(2)).then(
  (code) => {
    // Native handles (engine threads, broker) may hold the loop: exit explicitly once done.
    process.exit(code)
  },
  (error) => {
    process.stderr.write(`iggy-connectors: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    process.exit(1)
  },
)
