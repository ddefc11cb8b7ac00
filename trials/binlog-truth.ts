/**
 * What the dead master's binlog holds, read with MariaDB's own `mariadb-binlog` — not with
 * the code under test — so the trials' verdicts do not depend on the parser they check.
 *
 * The binlog is cut into transaction groups (GTID event … XID / COMMIT / the DDL
 * statement); a group is complete when its terminating event is there. The workload tags
 * every transaction with `/* txn:N *\/`, which reaches the binlog as statement text or in
 * MariaDB's annotate event, so each group says which workload transactions it holds.
 * XA groups (ended by XA PREPARE / XA COMMIT) are not recognised as complete: the
 * workload uses no XA.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';

export interface BinlogGroup {
  gtid: string;
  file: string;
  /** end_log_pos of the group's last event. */
  end: number;
  complete: boolean;
  txns: number[];
}

export interface MasterPosition {
  file: string;
  pos: number;
}

function fileNumber(f: string): number {
  const m = /\.(\d+)$/.exec(f);
  return m ? Number(m[1]) : 0;
}

/** Negative when a is before b. */
export function comparePositions(a: MasterPosition, b: MasterPosition): number {
  const d = fileNumber(a.file) - fileNumber(b.file);
  return d !== 0 ? d : a.pos - b.pos;
}

const HEADER = /^#\d{6}\s+\d+:\d\d:\d\d server id \d+\s+end_log_pos (\d+)\s.*?\t(.*)$/;
const TXN = /\/\* txn:(\d+) \*\//g;

/** Groups of every binlog file listed in `datadir/<base>.index`. */
export async function readBinlogGroups(datadir: string, base = 'mariadb-bin'): Promise<BinlogGroup[]> {
  const index = readFileSync(join(datadir, `${base}.index`), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => basename(l));
  const groups: BinlogGroup[] = [];
  for (const f of index) groups.push(...(await groupsOfFile(join(datadir, f), f)));
  return groups;
}

async function groupsOfFile(path: string, file: string): Promise<BinlogGroup[]> {
  const child = spawn('mariadb-binlog', ['--base64-output=decode-rows', path], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr.resume();
  const out: BinlogGroup[] = [];
  let cur: BinlogGroup | undefined;
  let pendingCommitQuery = false;
  const rl = createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY });
  const close = () => {
    if (cur) out.push(cur);
    cur = undefined;
  };
  for await (const line of rl) {
    const h = HEADER.exec(line);
    if (h) {
      const end = Number(h[1]);
      const what = h[2];
      pendingCommitQuery = false;
      const g = /^GTID (\d+-\d+-\d+)( trans)?/.exec(what);
      if (g) {
        close();
        cur = { gtid: g[1], file, end, complete: false, txns: [] };
        if (!g[2]) {
          // A standalone group (DDL): complete with its one statement, marked below.
          (cur as BinlogGroup & { standalone?: boolean }).standalone = true;
        }
        continue;
      }
      if (!cur) continue;
      cur.end = end;
      if (/^Xid = /.test(what)) {
        cur.complete = true;
        close();
      } else if (/^Query\b/.test(what)) {
        if ((cur as BinlogGroup & { standalone?: boolean }).standalone) {
          cur.complete = true;
        } else {
          pendingCommitQuery = true; // COMMIT as a statement (non-transactional engines, XA)
        }
      }
      continue;
    }
    if (!cur) continue;
    if (pendingCommitQuery && /^COMMIT\s*\/\*!\*\/;/.test(line)) {
      cur.complete = true;
      close();
      continue;
    }
    if (line.includes('txn:')) {
      for (const m of line.matchAll(TXN)) cur.txns.push(Number(m[1]));
    }
  }
  close();
  await new Promise<void>((r) => {
    if (child.exitCode !== null || child.signalCode !== null) r();
    else child.once('close', () => r());
  });
  for (const g of out) delete (g as BinlogGroup & { standalone?: boolean }).standalone;
  return out;
}

/** Transactions of complete groups ending at or before `upTo` (all complete groups when undefined). */
export function txnsUpTo(groups: BinlogGroup[], upTo?: MasterPosition): Set<number> {
  const s = new Set<number>();
  for (const g of groups) {
    if (!g.complete) continue;
    if (upTo && comparePositions({ file: g.file, pos: g.end }, upTo) > 0) continue;
    for (const t of g.txns) s.add(t);
  }
  return s;
}
