/**
 * Turn decoded event data into JSON-safe values: bigint → decimal string (64-bit values
 * must stay exact), Buffer/Uint8Array → base64 string. Everything else passes through.
 */
export function toJsonValue(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v === null || typeof v !== 'object') return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  if (Array.isArray(v)) return v.map(toJsonValue);
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function' && !(v instanceof Date)) {
    return toJsonValue((v as { toJSON: () => unknown }).toJSON());
  }
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    const x = (v as Record<string, unknown>)[k];
    if (x !== undefined && typeof x !== 'function') out[k] = toJsonValue(x);
  }
  return out;
}
