// A webhook source: POST a JSON object (or an array of them) to http://<address>/events and it
// goes to Iggy. The HTTP response waits for the verdict on the batch that carried the request:
// 200 once Iggy stored it, so a client that got 200 knows its events are durable; a request cut
// off by a stop gets 503 and may be retried by the client.
//
// An `Idempotency-Key` header makes the message id deterministic (messageIdFromKey), so a client
// retry carries the same id and an id-deduplicating sink stores it once.
import Fastify from 'fastify'
import { messageIdFromKey } from 'iggy-connectors'

/** @returns {import('iggy-connectors').SourceConnector<{ address?: string, port?: number, path?: string, max_batch?: number }>} */
export function createSource() {
  /** @type {Array<{ message: import('iggy-connectors').SourceMessage, done: (ok: boolean) => void }>} */
  let queue = []
  /** @type {typeof queue} */
  let inFlight = []
  /** @type {(() => void) | undefined} */
  let wake
  let maxBatch = 1000
  let namespace = 'webhook'
  /** @type {import('fastify').FastifyInstance | undefined} */
  let server

  return {
    async open(config, _state, context) {
      maxBatch = config?.max_batch ?? 1000
      namespace = context.key
      server = Fastify({ bodyLimit: 10 * 1024 * 1024 })
      server.post(config?.path ?? '/events', async (request, reply) => {
        const body = request.body
        const events = Array.isArray(body) ? body : [body]
        if (events.length === 0 || events.some((e) => typeof e !== 'object' || e === null)) {
          return reply.code(400).send({ error: 'expected a JSON object or a non-empty array of objects' })
        }
        const key = request.headers['idempotency-key']
        const stored = await Promise.all(
          events.map(
            (payload, index) =>
              new Promise((resolve) => {
                /** @type {import('iggy-connectors').SourceMessage} */
                const message = { payload, headers: { 'content-type': 'application/json' } }
                if (typeof key === 'string' && key !== '') message.id = messageIdFromKey(namespace, `${key}#${index}`)
                queue.push({ message, done: resolve })
              }),
          ),
        )
        wake?.()
        return stored.every(Boolean) ? reply.code(200).send({ stored: events.length }) : reply.code(503).send({ error: 'the runtime stopped before the events were stored; retry' })
      })
      await server.listen({ host: config?.address ?? '127.0.0.1', port: config?.port ?? 0 })
      context.log('info', `webhook listening on ${JSON.stringify(server.addresses()[0])}`)
    },

    async poll() {
      if (queue.length === 0) {
        // Wait for a request (or 100 ms, so a stop never waits on an idle webhook for long).
        await new Promise((resolve) => {
          wake = () => resolve(undefined)
          setTimeout(resolve, 100)
        })
        wake = undefined
      }
      inFlight = queue.slice(0, maxBatch)
      queue = queue.slice(inFlight.length)
      return { messages: inFlight.map((e) => e.message) }
    },

    ack() {
      for (const e of inFlight) e.done(true)
      inFlight = []
    },

    nack() {
      // Not stored: the same events go first in the next batch.
      queue = [...inFlight, ...queue]
      inFlight = []
    },

    async close() {
      for (const e of [...inFlight, ...queue]) e.done(false)
      inFlight = []
      queue = []
      await server?.close()
    },
  }
}
