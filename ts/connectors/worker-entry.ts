// The body of an isolation worker (`isolation = "worker"`): loads the connector module and
// serves the engine's calls posted by worker.ts, one ConnectorRunner per worker.
import { parentPort, workerData } from 'node:worker_threads'

import type { JsConnectorCall } from '../native'
import { loadConnectorModule } from './load'
import { ConnectorRunner } from './runner'

export interface WorkerSetup {
  kind: 'source' | 'sink'
  key: string
  module: string
  baseDir: string
}

/** main → worker */
export interface CallMessage {
  id: number
  call: JsConnectorCall
}

/** worker → main */
export type WorkerMessage =
  | { id: number; reply: unknown }
  | { id: number; error: string }
  | { log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error'; message: string } }

async function main(): Promise<void> {
  const port = parentPort
  if (port === null) throw new Error('worker-entry.js runs only as a worker thread')
  const setup = workerData as WorkerSetup
  let runner: ConnectorRunner | undefined
  let failure: Error | undefined
  try {
    const factory = await loadConnectorModule(setup.kind, setup.module, setup.baseDir)
    runner = new ConnectorRunner(setup.kind, setup.key, factory, (level, message) => port.postMessage({ log: { level, message } } satisfies WorkerMessage))
  } catch (error) {
    failure = error as Error
  }
  port.on('message', (message: CallMessage) => {
    const run = runner === undefined ? Promise.reject(failure ?? new Error('connector not loaded')) : runner.handle(message.call)
    run.then(
      (reply) => port.postMessage({ id: message.id, reply } satisfies WorkerMessage),
      (error: unknown) => port.postMessage({ id: message.id, error: error instanceof Error ? error.message : String(error) } satisfies WorkerMessage),
    )
  })
}

void main()
