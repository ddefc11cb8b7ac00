import { describe, expect, it } from 'vitest';
import { BinlogFormatError, type BinlogTruncatedError, EventType, HEADER_LENGTH, parseBuffer } from '../src/index.js';
import { allLogFixtures, DAMAGED_EVENTS, ODD_FIXTURES } from './fixture-files.js';

const fixtures = allLogFixtures();
const KNOWN_UNDOCUMENTED = new Set([100]); // Aurora padding

describe('every committed fixture parses to its end', () => {
  it('has fixtures', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(70);
  });

  for (const f of fixtures) {
    const odd = ODD_FIXTURES[f.name];
    if (odd) {
      it(`${f.name} fails as documented (${odd.reason})`, () => {
        let error: unknown;
        try {
          parseBuffer(f.bytes(), { file: f.name });
        } catch (err) {
          error = err;
        }
        expect(error).toBeInstanceOf(BinlogFormatError);
        const e = error as BinlogFormatError;
        expect(e.reason).toBe(odd.reason);
        if (odd.offset !== undefined) expect(e.offset).toBe(odd.offset);
        expect(e.file).toBe(f.name);
        if (odd.live !== undefined) expect((e as BinlogTruncatedError).live).toBe(odd.live);
        if (odd.reason === 'checksum-mismatch') {
          // Without verification the same file reads to its end.
          const events = parseBuffer(f.bytes(), { file: f.name, verifyChecksum: false });
          expect(events.at(-1)?.nextOffset).toBe(f.bytes().length);
        }
      });
      continue;
    }
    it(f.name, () => {
      const buf = f.bytes();
      const events = parseBuffer(buf, { file: f.name });
      expect(events[0].typeCode).toBe(EventType.FORMAT_DESCRIPTION);
      let expected = 4;
      for (const e of events) {
        if (e.inPayload) continue;
        expect(e.offset).toBe(expected);
        expected = e.offset + e.length;
        expect(e.length).toBeGreaterThanOrEqual(HEADER_LENGTH);
      }
      expect(expected).toBe(buf.length);
      for (const e of events) {
        if (!KNOWN_UNDOCUMENTED.has(e.typeCode)) expect(e.type, `${f.name}@${e.offset}`).not.toMatch(/^UNKNOWN/);
        // Every body decodes (or is kept raw for unknown types); damaged ones fail with the typed error.
        if (DAMAGED_EVENTS[f.name]?.includes(e.offset)) {
          expect(() => e.data).toThrow(BinlogFormatError);
        } else {
          expect(() => e.data, `${f.name}@${e.offset} ${e.type}`).not.toThrow();
        }
      }
      // Header-only mode sees the same top-level events.
      const headers = parseBuffer(buf, { file: f.name, headerOnly: true });
      expect(headers.map((e) => [e.offset, e.typeCode])).toEqual(
        events.filter((e) => !e.inPayload).map((e) => [e.offset, e.typeCode]),
      );
    });
  }
});
