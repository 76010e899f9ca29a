import { describe, expect, it } from 'vitest'

import { waitForSignal } from '../ts/cli'
import { type LogRecord, Logger } from '../ts/logger'

describe('signal handling', () => {
  it('resolves on the first SIGINT/SIGTERM and forces on the second', async () => {
    const records: LogRecord[] = []
    let forced = 0
    const stopped = waitForSignal(new Logger((r) => records.push(r)), () => forced++)
    process.emit('SIGTERM', 'SIGTERM')
    expect(await stopped).toBe('SIGTERM')
    expect(forced).toBe(0)
    process.emit('SIGINT', 'SIGINT')
    expect(forced).toBe(1)
    expect(records.map((r) => `${r.level} ${r.message}`)).toEqual([
      'info SIGTERM received, stopping gracefully (send it again to force)',
      'warn SIGINT received again, forcing exit',
    ])
  })
})
