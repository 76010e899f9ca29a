// Small zod building blocks shared by the runtime and connector schemas.
import { z } from 'zod'

import { parseDurationMs } from '../duration'

/** A humantime duration string ("5ms", "1 s", "0", "disabled"); kept as written. */
export const duration = z.string().refine((text) => parseDurationMs(text) !== undefined, {
  message: 'expected a duration such as "5ms", "1s" or "1m 30s"',
})

/** Case-insensitive enum: the value is lower-cased before matching. */
export function ciEnum<const T extends readonly [string, ...string[]]>(values: T) {
  return z.preprocess((value) => (typeof value === 'string' ? value.toLowerCase() : value), z.enum(values))
}

/** A string; numbers are accepted and converted (env inference may produce them). */
export const stringish = z.union([z.string(), z.number().transform(String)])

export const u32 = z.number().int().min(0).max(0xffff_ffff)
export const u64 = z.number().int().min(0)
/** 1 ..= u32::MAX. */
export const positiveU32 = z.number().int().min(1).max(0xffff_ffff)
