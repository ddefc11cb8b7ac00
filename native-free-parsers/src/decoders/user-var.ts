import { EventDecodeError } from '../cursor.js';
import { binaryDecimalSize, decodeBinaryDecimal } from '../decimal.js';
import { EventType } from '../event-types.js';
import { registerDecoder } from './registry.js';

/** Item_result codes of a user variable's value. */
export const UserVarType = { STRING: 0, REAL: 1, INT: 2, ROW: 3, DECIMAL: 4 } as const;

const typeNames = ['STRING', 'REAL', 'INT', 'ROW', 'DECIMAL'] as const;
export type UserVarTypeName = (typeof typeNames)[number];

/** Collation ids of the latin1 family (MySQL latin1 = cp1252; ISO-8859-1 is the closest Node encoding). */
const LATIN1_COLLATIONS = new Set([5, 8, 15, 31, 47, 48, 49, 94]);
const BINARY_COLLATION = 63;
/** Flags byte written after the value by 5.6+/MariaDB (absent in older events). */
const UNSIGNED_F = 0x01;

export interface UserVarData {
  name: string;
  isNull: boolean;
  /** Item_result code; absent for NULL. */
  typeCode?: number;
  type?: UserVarTypeName | `UNKNOWN_${number}`;
  /** Collation id of the value (strings) as written. */
  charset?: number;
  /**
   * STRING: text (utf8, or latin1 for latin1 collations); REAL: number; INT: bigint
   * (unsigned when the UNSIGNED flag is set); DECIMAL: exact decimal text; ROW or an
   * unknown type: the raw bytes. null for a NULL variable.
   */
  value: string | number | bigint | Buffer | null;
  /** Raw bytes of a binary-collation (63) STRING value. */
  bytes?: Buffer;
  /** DECIMAL only. */
  precision?: number;
  scale?: number;
  /** Flags byte (bit 0 UNSIGNED) when the server wrote one. */
  flags?: number;
  unsigned: boolean;
}

function decodeInt(v: Buffer, unsigned: boolean): bigint {
  if (v.length === 0 || v.length > 8) throw new EventDecodeError(`INT user variable of ${v.length} bytes`);
  let n = 0n;
  for (let i = v.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(v[i]);
  return unsigned ? n : BigInt.asIntN(v.length * 8, n);
}

registerDecoder(EventType.USER_VAR, (body): UserVarData => {
  const name = body.str(body.u32());
  const isNull = body.u8() !== 0;
  if (isNull) {
    // MySQL writes nothing after the null marker; a flags byte would be harmless.
    const flags = body.remaining > 0 ? body.u8() : undefined;
    return { name, isNull, value: null, ...(flags === undefined ? {} : { flags }), unsigned: false };
  }
  const typeCode = body.u8();
  const charset = body.u32();
  const raw = body.bytes(body.u32());
  const flags = body.remaining > 0 ? body.u8() : undefined;
  const unsigned = flags !== undefined && (flags & UNSIGNED_F) !== 0;
  const type = typeNames[typeCode] ?? (`UNKNOWN_${typeCode}` as const);
  const out: UserVarData = { name, isNull, typeCode, type, charset, value: null, unsigned };
  if (flags !== undefined) out.flags = flags;
  switch (typeCode) {
    case UserVarType.STRING:
      out.value = raw.toString(LATIN1_COLLATIONS.has(charset) ? 'latin1' : 'utf8');
      if (charset === BINARY_COLLATION) out.bytes = raw;
      break;
    case UserVarType.REAL:
      if (raw.length !== 8) throw new EventDecodeError(`REAL user variable of ${raw.length} bytes, expected 8`);
      out.value = raw.readDoubleLE(0);
      break;
    case UserVarType.INT:
      out.value = decodeInt(raw, unsigned);
      break;
    case UserVarType.DECIMAL: {
      if (raw.length < 2) throw new EventDecodeError(`DECIMAL user variable of ${raw.length} bytes`);
      const precision = raw[0];
      const scale = raw[1];
      const size = binaryDecimalSize(precision, scale);
      if (raw.length < 2 + size) {
        throw new EventDecodeError(
          `DECIMAL(${precision},${scale}) user variable needs ${2 + size} bytes, has ${raw.length}`,
        );
      }
      out.precision = precision;
      out.scale = scale;
      out.value = decodeBinaryDecimal(raw, precision, scale, 2);
      break;
    }
    default:
      out.value = raw;
  }
  return out;
});
