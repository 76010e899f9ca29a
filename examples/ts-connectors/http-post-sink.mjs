// A sink that POSTs each batch as one JSON array to `url`. 2xx = stored. A 5xx, 408, 429 or a
// network error means nothing was stored: consume() throws and the engine retries the same
// batch with its backoff (a POST is not idempotent, so the receiver may see a batch twice).
// Any other 4xx means the receiver refuses the content: the batch's messages are rejected and
// go to the connector's [dead_letter] topic (without one, the batch is retried).
// A payload that is not JSON is sent as a string; for schema json the batch's payload buffer
// is already the JSON array and goes out without being parsed.

/** @returns {import('iggy-connectors').SinkConnector<{ url: string, headers?: Record<string, string>, timeout_ms?: number }>} */
export function createSink() {
  /** @type {{ url: string, headers?: Record<string, string>, timeout_ms?: number }} */
  let config

  return {
    open(c) {
      if (typeof c?.url !== 'string') throw new Error('plugin_config.url is required')
      config = c
    },

    async consume(batch) {
      // Schema json: the batch's payload buffer already is one JSON array, sent as it is.
      const body = batch.messages.isJson
        ? batch.messages.columns.payloads
        : JSON.stringify(
            [...batch.messages].map((m) => {
              const text = m.text()
              try {
                return JSON.parse(text)
              } catch {
                return text
              }
            }),
          )
      const response = await fetch(config.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-iggy-stream': batch.stream,
          'x-iggy-topic': batch.topic,
          'x-iggy-partition': String(batch.partition),
          ...config.headers,
        },
        body,
        signal: AbortSignal.timeout(config.timeout_ms ?? 30_000),
      })
      const text = await response.text()
      if (response.ok) return
      const transient = response.status >= 500 || response.status === 408 || response.status === 429
      if (transient) throw new Error(`POST ${config.url} answered ${response.status}: ${text.slice(0, 200)}`)
      return { rejected: [...batch.messages].map((m) => ({ offset: m.offset ?? 0, reason: `POST answered ${response.status}: ${text.slice(0, 200)}` })) }
    },
  }
}
