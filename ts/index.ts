// Public API of the iggy-connectors package.
import { native } from './native'

export { VERSION } from './version'

/** The version of the native engine compiled into the addon. */
export function engineVersion(): string {
  return native.engineVersion()
}

/** The plugin ABI the native engine speaks. */
export function pluginAbi(): string {
  return native.pluginAbi()
}
