import * as zlib from 'node:zlib';

/** CRC-32 (IEEE, as zlib) — the binlog_checksum=CRC32 algorithm. */
export type Crc32 = (data: Uint8Array, initial?: number) => number;

let table: Int32Array | undefined;

function crc32Js(data: Uint8Array, initial = 0): number {
  if (!table) {
    table = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c;
    }
  }
  let crc = ~initial;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}

/** Node ≥ 20.15 ships zlib.crc32 (native, many GB/s); older runtimes get the table version. */
export const crc32: Crc32 =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function' ? (zlib as unknown as { crc32: Crc32 }).crc32 : crc32Js;

export { crc32Js };
