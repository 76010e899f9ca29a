// Seeded input mutation for the fuzz tests: the same seed gives the same inputs, so a failure
// printed with its seed and iteration can be replayed (FUZZ_SEED=<seed>).

/** mulberry32: small, fast, good enough to pick mutations. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

export class Fuzzer {
  readonly random: () => number
  constructor(readonly seed: number) {
    this.random = prng(seed)
  }

  int(max: number): number {
    return Math.floor(this.random() * max)
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T
  }

  /** A value of any JSON type, including the awkward ones (huge numbers, deep nesting, odd strings). */
  value(depth = 0): unknown {
    const scalars: Array<() => unknown> = [
      () => null,
      () => true,
      () => false,
      () => 0,
      () => -1,
      () => 1.5,
      () => 2 ** 53 + 1,
      () => 2 ** 64,
      () => -(2 ** 63),
      () => 1e308,
      () => this.int(1_000_000),
      () => '',
      () => ' ',
      () => 'x'.repeat(this.int(5000)),
      () => '../../../etc/passwd',
      () => 'ünïcødé ✓ \u0000 \u001f \ud83d\ude00',
      () => '"quoted" \\ back\nslash',
      () => '5ms',
      () => 'json',
      () => '__proto__',
      () => String(this.int(100)),
      () => [1, null, 'x'],
      () => [[], {}, [null]],
    ]
    if (depth > 3 || this.random() < 0.7) return this.pick(scalars)()
    if (this.random() < 0.1) return this.deep(this.int(300))
    if (this.random() < 0.5) return Array.from({ length: this.int(4) }, () => this.value(depth + 1))
    const out: Record<string, unknown> = {}
    for (let i = this.int(4); i > 0; i--) setOwn(out, this.key(), this.value(depth + 1))
    return out
  }

  /** `{"a":{"a":…}}` or `[[…]]` nested `levels` deep. */
  deep(levels: number): unknown {
    let node: unknown = this.random() < 0.5 ? 1 : 'x'
    const asArray = this.random() < 0.5
    for (let i = 0; i < levels; i++) node = asArray ? [node] : { a: node }
    return node
  }

  key(): string {
    return this.pick(['enabled', 'name', 'path', 'streams', 'stream', 'topic', 'topics', 'schema', 'batch_length', 'version', 'key', 'transforms', 'plugin_config', 'retry', 'dead_letter', 'x', '', ' ', 'ENABLED', 'a.b', '__proto__', 'constructor', 'ü'])
  }

  /** A structural mutation of a JSON-like value: delete, replace, add, retype, at a random place. */
  mutate(value: unknown, rounds = 1 + this.int(3)): unknown {
    let out: unknown = structuredClone(value)
    for (let i = 0; i < rounds; i++) out = this.#mutateOnce(out)
    return out
  }

  #mutateOnce(value: unknown): unknown {
    if (value === null || typeof value !== 'object' || this.random() < 0.15) return this.value()
    if (Array.isArray(value)) {
      const copy = [...value]
      const op = this.int(4)
      if (op === 0 && copy.length > 0) copy.splice(this.int(copy.length), 1)
      else if (op === 1) copy.push(this.value())
      else if (copy.length > 0) {
        const index = this.int(copy.length)
        copy[index] = this.#mutateOnce(copy[index])
      }
      return copy
    }
    const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) }
    const keys = Object.keys(copy)
    const op = this.int(5)
    if (op === 0 && keys.length > 0) delete copy[this.pick(keys)]
    else if (op === 1) setOwn(copy, this.key(), this.value())
    else if (keys.length > 0) {
      const key = this.pick(keys)
      copy[key] = this.#mutateOnce(copy[key])
    }
    return copy
  }

  /** A byte-level mutation of a text: flip, delete, duplicate or insert characters and lines. */
  mutateText(text: string, rounds = 1 + this.int(4)): string {
    let out = text
    for (let i = 0; i < rounds; i++) {
      const at = this.int(out.length + 1)
      switch (this.int(7)) {
        case 0:
          out = out.slice(0, at) + out.slice(at + 1 + this.int(8))
          break
        case 1:
          out = out.slice(0, at) + this.pick(['"', "'", '[', ']', '{', '}', '=', '\n', ',', '\\', '#', '\u0000', '\ud800', '[[streams]]\n', 'x = \n', '"""']) + out.slice(at)
          break
        case 2: {
          const len = this.int(40)
          out = out.slice(0, at) + out.slice(at, at + len) + out.slice(at)
          break
        }
        case 3:
          out = out.slice(0, at)
          break
        case 4: {
          const lines = out.split('\n')
          lines.splice(this.int(lines.length), 1)
          out = lines.join('\n')
          break
        }
        case 5: {
          // Replace a value on a `key = value` line with another TOML value.
          const lines = out.split('\n')
          const index = this.int(lines.length)
          const line = lines[index] ?? ''
          const eq = line.indexOf('=')
          if (eq > 0) lines[index] = `${line.slice(0, eq + 1)} ${this.pick(['true', '-1', '0', '1e400', '18446744073709551616', '""', '"x"', '[]', '{}', '[1, "a"]', '{ a = 1 }', '1979-05-27T07:32:00Z', 'nan', 'inf'])}`
          out = lines.join('\n')
          break
        }
        default:
          out = out.slice(0, at) + String.fromCharCode(this.int(0x3000)) + out.slice(at + 1)
      }
    }
    return out
  }
}

/** `target[key] = value` as an own data property, also for `__proto__` (which `=` would turn into a prototype). */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}

/** A short text of any value for a URL segment (objects as JSON; surrogates, which URLs cannot encode alone, as `?`). */
export function textOf(value: unknown, max: number): string {
  return (value !== null && typeof value === 'object' ? JSON.stringify(value) : String(value)).slice(0, max).replace(/[\ud800-\udfff]/g, '?')
}

/** The seed for this run: FUZZ_SEED when set, else a fixed one (CI is reproducible). */
export function fuzzSeed(): number {
  const fromEnv = Number(process.env.FUZZ_SEED)
  return Number.isInteger(fromEnv) && process.env.FUZZ_SEED !== '' ? fromEnv : 20_261_129
}
