// Validation of a connector's [transforms.<name>] tables.
import type { ConfigIssue } from '../errors'
import type { TransformTable } from '../config/connector-schema'
import { validate } from '../config/validate'
import { BUILTIN_TRANSFORMS, UNSUPPORTED_TRANSFORMS, customTransformSchema, isBuiltinTransform } from './builtin'

/** One enabled transform, in file order. */
export interface EnabledTransform {
  readonly type: string
  /** The validated table (`enabled` included; built-in defaults filled in). */
  readonly config: TransformTable
  readonly builtin: boolean
  /** For custom TS transforms: the module path from the table, if any. */
  readonly module?: string
}

export interface TransformValidation {
  readonly transforms: EnabledTransform[]
  readonly errors: ConfigIssue[]
  readonly warnings: ConfigIssue[]
}

/**
 * Checks every table: `enabled` is required (a bool), built-in tables match their upstream
 * shape, unsupported upstream types are rejected. Disabled and null tables are skipped. Whether a
 * custom (TS) transform exists is checked later, when the registry is known.
 */
export function validateTransforms(tables: Record<string, TransformTable | null> | null, file: string): TransformValidation {
  const transforms: EnabledTransform[] = []
  const errors: ConfigIssue[] = []
  const warnings: ConfigIssue[] = []
  for (const [type, table] of Object.entries(tables ?? {})) {
    if (table === null) continue
    const prefix = ['transforms', type]
    if (UNSUPPORTED_TRANSFORMS.has(type)) {
      errors.push({ file, path: prefix.join('.'), message: `transform "${type}" is not supported by this runtime (built-in: ${Object.keys(BUILTIN_TRANSFORMS).join(', ')}; or a TS transform)` })
      continue
    }
    const schema = isBuiltinTransform(type) ? BUILTIN_TRANSFORMS[type] : customTransformSchema
    const result = validate(schema, table, file, prefix)
    errors.push(...result.errors)
    warnings.push(...result.warnings)
    if (result.data === undefined || result.data.enabled !== true) continue
    const data = result.data as TransformTable
    const module = typeof data.module === 'string' ? data.module : undefined
    transforms.push({ type, config: data, builtin: isBuiltinTransform(type), ...(module === undefined ? {} : { module }) })
  }
  return { transforms, errors, warnings }
}
