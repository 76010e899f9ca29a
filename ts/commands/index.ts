// The operator commands (against a running runtime's API): dlq, tap, status.
import type { Env } from '../env'
import { CommandError, type Io } from './client'
import { DLQ_HELP, runDlq } from './dlq'
import { STATUS_HELP, runStatus } from './status'
import { TAP_HELP, runTap } from './tap'

export const OPERATOR_COMMANDS = ['dlq', 'tap', 'status'] as const

const HELP: Record<(typeof OPERATOR_COMMANDS)[number], string> = { dlq: DLQ_HELP, tap: TAP_HELP, status: STATUS_HELP }

export function isOperatorCommand(command: string | undefined): command is (typeof OPERATOR_COMMANDS)[number] {
  return (OPERATOR_COMMANDS as readonly string[]).includes(command ?? '')
}

/** Runs `dlq`, `tap` or `status` (argv without the command); resolves to the exit code. */
export async function runOperatorCommand(command: (typeof OPERATOR_COMMANDS)[number], argv: readonly string[], env: Env, io: Io, signal?: AbortSignal): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(`${HELP[command]}\n`)
    return 0
  }
  try {
    if (command === 'dlq') return await runDlq(argv, env, io)
    if (command === 'tap') return await runTap(argv, env, io, signal)
    return await runStatus(argv, env, io)
  } catch (error) {
    const code = error instanceof CommandError ? error.exitCode : (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1
    io.stderr.write(`iggy-connectors ${command}: ${(error as Error).message}\n`)
    return code
  }
}
