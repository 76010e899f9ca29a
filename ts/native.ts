// The one module that touches the generated napi-rs binding (`index.js` / `index.d.ts` at the
// package root). Everything else in `ts/` imports native items and types from here.
//
// Loading is lazy: config parsing, validation and the HTTP layer work (and are tested) without
// the addon; only starting an engine, inspecting a plugin or running the broker needs it.
import type * as Binding from '../index.js'
import { bundledPluginDirs } from './plugins'

export type {
  BatchColumns,
  BatchResultColumns,
  ConnectorStats,
  DeadLetterOptions,
  DeadLetterQueryOptions,
  EngineOptions,
  IggyConnectionOptions,
  JsBatch,
  JsConnectorCall,
  JsConnectorReply,
  JsDeadLetter,
  JsMessage,
  JsPartitionLag,
  JsRejection,
  JsReplayProgress,
  JsTapMessage,
  LastError,
  LogEntry,
  PluginInfo,
  ReplayOptions,
  RetryOptions,
  SinkConnectorOptions,
  SinkStreamOptions,
  SourceConnectorOptions,
  SourceStreamOptions,
  TestBrokerOptions,
  TransformOptions,
} from '../index.js'

export type NativeBinding = typeof Binding
export type NativeEngine = Binding.Engine
export type NativeTestBroker = Binding.TestBroker

let cached: NativeBinding | undefined

function loadBinding(): NativeBinding {
  let binding: NativeBinding
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    binding = require('../index.js') as NativeBinding
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
  // Bare plugin names resolve among the plugins shipped next to this addon (see plugins.ts).
  binding.setBundledPluginDirs(bundledPluginDirs())
  return binding
}

/** The native binding, loaded on first use. Throws a readable error when the addon is missing. */
export function native(): NativeBinding {
  cached ??= loadBinding()
  return cached
}
