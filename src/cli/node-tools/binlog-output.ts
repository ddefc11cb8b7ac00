import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { type ConcatReport, concatenatePieces, type DiffPiece, type ExecutedGtids } from '../../engine/concatenate.js';

/**
 * Concatenate pieces into `out` as one binlog. The file appears under its name only when
 * complete (written next to it, then renamed), so a reader never sees half a diff.
 */
export async function writeBinlogFile(
  pieces: DiffPiece[],
  out: string,
  executed?: ExecutedGtids,
): Promise<ConcatReport> {
  await fsp.mkdir(dirname(out), { recursive: true });
  const tmp = `${out}.partial-${process.pid}`;
  const fh = await fsp.open(tmp, 'w', 0o600);
  let report: ConcatReport;
  try {
    report = await concatenatePieces(
      pieces,
      async (chunk) => {
        await fh.write(chunk);
      },
      { executed },
    );
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  await fsp.rename(tmp, out);
  return report;
}

export function describeIncompleteTail(report: ConcatReport): string | null {
  const t = report.incompleteTail;
  if (!t) return null;
  return `${t.gtid ? `GTID ${t.gtid}, ` : ''}starting at ${t.file ?? '?'}:${t.offset}`;
}
