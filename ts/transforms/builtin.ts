// Zod schemas for the built-in transforms, mirroring the upstream TOML shapes. They are validated
// here and executed natively by the engine.
import { z } from 'zod'

const COMPUTED = [
  'date_time',
  'timestamp_nanos',
  'timestamp_micros',
  'timestamp_millis',
  'timestamp_seconds',
  'uuid_v4',
  'uuid_v7',
] as const

/** `{ static = <value> }` or `{ computed = "<kind>" }`. */
const fieldValue = z.union([
  z.strictObject({ static: z.unknown() }).refine((v) => 'static' in v, { message: 'expected { static = <value> }' }),
  z.strictObject({ computed: z.enum(COMPUTED) }),
])

/** Required in every transform table (upstream has no default). */
const enabled = z.boolean()

const addFields = z.strictObject({
  enabled,
  fields: z.array(z.strictObject({ key: z.string(), value: fieldValue })).default([]),
})

const deleteFields = z.strictObject({ enabled, fields: z.array(z.string()).default([]) })

const updateFields = z.strictObject({
  enabled,
  fields: z
    .array(z.strictObject({ key: z.string(), value: fieldValue, condition: z.enum(['always', 'key_exists', 'key_not_exists']).optional() }))
    .default([]),
})

const regex = z.string().refine(
  (source) => {
    try {
      return RegExp(source) instanceof RegExp
    } catch {
      return false
    }
  },
  { message: 'invalid regular expression' },
)

const keyPattern = z.union([
  z.strictObject({ exact: z.string() }),
  z.strictObject({ starts_with: z.string() }),
  z.strictObject({ ends_with: z.string() }),
  z.strictObject({ contains: z.string() }),
  z.strictObject({ regex }),
])

const valuePattern = z.union([
  z.enum(['is_null', 'is_not_null', 'is_string', 'is_number', 'is_boolean', 'is_object', 'is_array']),
  z.strictObject({ equals: z.unknown() }),
  z.strictObject({ contains: z.string() }),
  z.strictObject({ regex }),
  z.strictObject({ greater_than: z.number() }),
  z.strictObject({ less_than: z.number() }),
  z.strictObject({ between: z.tuple([z.number(), z.number()]) }),
])

const filterFields = z.strictObject({
  enabled,
  keep_fields: z.array(z.string()).default([]),
  patterns: z.array(z.strictObject({ key_pattern: keyPattern.optional(), value_pattern: valuePattern.optional() })).default([]),
  include_matching: z.boolean().default(true),
})

/** Built-in transform types the native engine executes, with their config schemas. */
export const BUILTIN_TRANSFORMS = {
  add_fields: addFields,
  delete_fields: deleteFields,
  update_fields: updateFields,
  filter_fields: filterFields,
} as const

export type BuiltinTransformType = keyof typeof BUILTIN_TRANSFORMS

/** Upstream transform types this runtime does not implement: a config naming them is rejected. */
export const UNSUPPORTED_TRANSFORMS = new Set(['proto_convert', 'flat_buffer_convert', 'avro_convert', 'unwrap_envelope'])

export function isBuiltinTransform(type: string): type is BuiltinTransformType {
  return Object.hasOwn(BUILTIN_TRANSFORMS, type)
}

/** The table of a custom TS transform: `enabled`, optional `module`, anything else is its config. */
// on_error: "retry" (default: a throw retries the batch) or "dead_letter" (sinks with a
// [dead_letter] topic: the messages that make it throw are dead-lettered, the rest continue).
export const customTransformSchema = z.looseObject({ enabled, module: z.string().optional(), on_error: z.enum(['retry', 'dead_letter']).optional() })
