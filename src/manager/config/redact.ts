/** What MHA prints in place of a password, and so do we. */
export const MASK = 'xxx';

const inspectCustom = Symbol.for('nodejs.util.inspect.custom');

/**
 * A password that cannot leak by accident: `String()`, template literals, `JSON.stringify`,
 * `util.inspect`, pino and `console.log` all see `xxx`. Call `reveal()` at the one place that
 * needs the value (the mysql2 connect options), and nowhere near a log call.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  get isEmpty(): boolean {
    return this.#value === '';
  }
  equals(other: Secret | undefined): boolean {
    return other !== undefined && other.#value === this.#value;
  }
  toString(): string {
    return MASK;
  }
  toJSON(): string {
    return MASK;
  }
  [inspectCustom](): string {
    return `Secret(${MASK})`;
  }
}

/**
 * Names whose values are secrets: `password`, `repl_password`, `replPassword`, `master_password`,
 * `slave_pass`, `escaped_password`, `MYSQL_PWD`, `secret` … — but not `password_file`,
 * `passwordFile` or `passwordSource`, which name where a secret lives.
 */
export function isSecretKey(key: string): boolean {
  return /(pass|passwd|password|pwd|secret)$/i.test(key);
}

/**
 * A deep copy of `value` with every secret replaced by `xxx`: values under secret-looking keys
 * (see `isSecretKey`) and every `Secret` instance, wherever it sits. Cycles, Maps, Sets, Dates,
 * Buffers and class instances (copied as plain objects) are handled. `undefined` stays
 * `undefined`, so "no password configured" remains visible.
 */
export function redact<T>(value: T): T {
  return redactValue(value, false, new WeakMap()) as T;
}

function redactValue(value: unknown, secretKey: boolean, seen: WeakMap<object, unknown>): unknown {
  if (value instanceof Secret) return MASK;
  if (secretKey && value !== undefined && value !== null && typeof value !== 'object') return MASK;
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return seen.get(value);
  if (value instanceof Date) return new Date(value.getTime());
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return secretKey ? MASK : value;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    seen.set(value, out);
    for (const item of value) out.push(redactValue(item, secretKey, seen));
    return out;
  }
  if (value instanceof Map) {
    const out = new Map<unknown, unknown>();
    seen.set(value, out);
    for (const [k, v] of value) out.set(k, redactValue(v, typeof k === 'string' && isSecretKey(k), seen));
    return out;
  }
  if (value instanceof Set) {
    const out = new Set<unknown>();
    seen.set(value, out);
    for (const v of value) out.add(redactValue(v, secretKey, seen));
    return out;
  }
  const out: Record<string, unknown> = {};
  seen.set(value, out);
  for (const [k, v] of Object.entries(value)) out[k] = redactValue(v, isSecretKey(k), seen);
  return out;
}

/**
 * Mask secrets inside free text (a command line about to be logged, an error message): every
 * occurrence of the given secret values, and the value of `--password=…`-style options
 * (`--password`, `--master_password`, `--slave_pass`, `--repl_password`). mysql's `-pSECRET` is
 * not guessed at (ssh's `-p2222` looks the same): pass the secret itself to catch it.
 */
export function redactText(text: string, secrets: Iterable<string | Secret | undefined> = []): string {
  let out = text;
  const values = [...secrets]
    .map((s) => (s instanceof Secret ? s.reveal() : s))
    .filter((s): s is string => typeof s === 'string' && s.length > 0)
    .sort((a, b) => b.length - a.length);
  for (const s of values) out = out.split(s).join(MASK);
  out = out.replace(
    /(--?[A-Za-z_]*(?:pass|passwd|password|pwd)=)('[^']*'|"(?:[^"\\]|\\.)*"|\S*)/gi,
    (_m, opt: string) => `${opt}${MASK}`,
  );
  return out;
}
