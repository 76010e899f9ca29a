// Error types of the TypeScript layer.

/** One configuration problem: where it is and what was expected. */
export interface ConfigIssue {
  /** The file (or URL, or `env`) the value came from. */
  readonly file: string
  /** Dotted key path inside that file, e.g. `streams.0.batch_length`; empty for the whole file. */
  readonly path: string
  /** What is wrong, e.g. `expected number, received string`. */
  readonly message: string
}

export function formatIssue(issue: ConfigIssue): string {
  return issue.path ? `${issue.file}: ${issue.path}: ${issue.message}` : `${issue.file}: ${issue.message}`
}

/**
 * The configuration is invalid; the runtime does not start. Carries every problem found, one
 * line per problem in `message`.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
  readonly issues: readonly ConfigIssue[]

  constructor(issues: readonly ConfigIssue[]) {
    const lines = issues.map((issue) => `  - ${formatIssue(issue)}`)
    super(`invalid configuration (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${lines.join('\n')}`)
    this.issues = issues
  }
}

/** An HTTP management API error, rendered as `{ code, reason }` like upstream. */
export class ApiError extends Error {
  override readonly name = 'ApiError'
  constructor(
    readonly status: number,
    readonly code: string,
    reason: string,
  ) {
    super(reason)
  }
}

/** A connector config provider failed (file I/O, remote API, not found). */
export class ProviderError extends Error {
  override readonly name = 'ProviderError'
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}
