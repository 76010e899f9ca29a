// Runs one connector in a worker_threads worker, so a connector that blocks or burns CPU does
// not stall the API, the other connectors or the host. A worker that dies fails the calls in
// flight (the engine retries or Nacks them: nothing is lost) and reports the crash, on which
// the runtime restarts that connector alone.
import { existsSync } from 'node:fs'
import { join, resolve as resolvePath } from 'node:path'
import { Worker } from 'node:worker_threads'

import type { JsConnectorCall, JsConnectorReply } from '../native'
import type { LogFn } from './runner'
import type { CallMessage, WorkerMessage, WorkerSetup } from './worker-entry'

/** The compiled worker body: next to this file in dist/, or dist/ when this runs from ts/ (tests). */
function entryFile(): string {
  const sibling = join(__dirname, 'worker-entry.js')
  return existsSync(sibling) ? sibling : resolvePath(__dirname, '../../dist/connectors/worker-entry.js')
}

interface Pending {
  resolve: (reply: JsConnectorReply) => void
  reject: (error: Error) => void
}

export class WorkerRunner {
  readonly #worker: Worker
  readonly #pending = new Map<number, Pending>()
  #nextId = 1
  #dead: Error | undefined
  #closing = false

  constructor(setup: WorkerSetup, log: LogFn, onCrash: (error: Error) => void) {
    this.#worker = new Worker(entryFile(), { workerData: setup })
    this.#worker.on('message', (message: WorkerMessage) => {
      if ('log' in message) {
        log(message.log.level, message.log.message)
        return
      }
      const pending = this.#pending.get(message.id)
      if (pending === undefined) return
      this.#pending.delete(message.id)
      if ('error' in message) pending.reject(new Error(message.error))
      else pending.resolve(message.reply as JsConnectorReply)
    })
    const die = (error: Error): void => {
      if (this.#dead !== undefined) return
      this.#dead = error
      for (const pending of this.#pending.values()) pending.reject(error)
      this.#pending.clear()
      if (!this.#closing) onCrash(error)
    }
    this.#worker.on('error', (error) => die(new Error(`the worker of ${setup.kind} "${setup.key}" crashed: ${error.message}`)))
    this.#worker.on('exit', (code) => die(new Error(`the worker of ${setup.kind} "${setup.key}" exited with code ${code}`)))
  }

  handle(call: JsConnectorCall): Promise<JsConnectorReply> {
    if (this.#dead !== undefined) {
      // A closing call on a dead worker has nothing left to close.
      return call.op === 'close' ? Promise.resolve({}) : Promise.reject(this.#dead)
    }
    if (call.op === 'close') this.#closing = true
    const id = this.#nextId++
    const reply = new Promise<JsConnectorReply>((resolve, reject) => this.#pending.set(id, { resolve, reject }))
    // A worker port, not a window: there is no target origin.
    // oxlint-disable-next-line unicorn/require-post-message-target-origin
    this.#worker.postMessage({ id, call } satisfies CallMessage)
    if (call.op !== 'close') return reply
    return reply.finally(() => void this.#worker.terminate())
  }
}
