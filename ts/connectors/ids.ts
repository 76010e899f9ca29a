// Deterministic message ids for TypeScript sources: the same record yields the same id, so a
// batch produced again after a crash or a Nack keeps its ids and an idempotent sink drops it.
import { native } from '../native'

/**
 * The id of the record `key` within `namespace` (e.g. the table or the upstream system): a
 * UUIDv8 from xxh3-128 over the framed domain `typescript_source/key/v1`, namespace and key,
 * computed natively by the same code as the project's sources (`crates/plugins/message_id`).
 * Returned as decimal u128 text, the form `SourceMessage.id` takes.
 */
export function messageIdFromKey(namespace: string, key: string): string {
  return native().messageIdFromKey(namespace, key)
}

/** A u128 id (decimal text or bigint) in its UUID form, as it is shown to users. */
export function idToUuid(id: string | bigint): string {
  const hex = BigInt(id).toString(16).padStart(32, '0')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
