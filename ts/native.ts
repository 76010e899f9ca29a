// The one module that touches the generated napi-rs binding (`index.js` / `index.d.ts` at the
// package root). Everything else in `ts/` imports native items from here.
import type * as Binding from '../index.js'

function loadBinding(): typeof Binding {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('../index.js') as typeof Binding
  } catch (error) {
    const platform = `${process.platform}-${process.arch}`
    throw new Error(
      `iggy-connectors: no native binding for platform ${platform}. ` +
        `No prebuilt package @iggy-connectors/binding-${platform}* is installed and no local build ` +
        `(iggy-connectors.${platform}*.node) exists. Build one from a clone with 'npm run build:native' ` +
        `(needs Rust stable), or install on a supported platform ` +
        `(linux-x64-gnu, linux-arm64-gnu, darwin-arm64, darwin-x64, win32-x64-msvc).`,
      { cause: error },
    )
  }
}

export const native: typeof Binding = loadBinding()
