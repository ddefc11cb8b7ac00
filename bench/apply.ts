/**
 * Apply benchmark (issue 8): the same recorded diff applied to fresh replicas of the same
 * starting data, three ways, in one run —
 *
 *   (a) MHA's way: `mariadb-binlog --local-load=DIR FILE | mariadb --binary-mode`;
 *   (b) mha-ts's plain path: applyEvents (one statement per round trip, server settings as they are);
 *   (c) mha-ts's fast path: applyEventsFast (multi-statement packets, rows statements of a
 *       transaction joined, relaxed durability restored and flushed at the end);
 *
 * on a row-format diff (≥ 50 MB, sysbench-like) and a statement-format one, with
 * CHECKSUM TABLE compared to the source after each. `--ablation` adds the fast path with
 * its techniques switched on one by one. Results: a markdown table on stdout, JSON in
 * bench/results/apply-latest.json, and (with --write) the section in bench/RESULTS.md.
 *
 *   npx tsx bench/apply.ts [--row-mib 56] [--stmt-mib 32] [--durable] [--ablation] [--write]
 *
 * Run as root (the lab starts mariadbd as mysql). The diff is recorded once into
 * bench/.cache/apply/ (bench/apply-workload.ts) and reused.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileEvents } from '@mha-ts/native-free-parsers';
import { type ApplySummary, type ApplyTarget, applyEvents } from '../src/engine/apply.js';
import { applyEventsFast, type FastApplyOptions } from '../src/engine/apply-fast.js';
import {
  type ApplyWorkload,
  applyWorkload,
  type LabInstanceLike,
  type LabLike,
  type RecordedDiff,
  startLab,
  TABLE_NAMES,
} from './apply-workload.js';
import { benchDir, resultsDir } from './paths.js';

interface Method {
  key: string;
  label: string;
  run(target: ApplyTarget, inst: LabInstanceLike, file: string): Promise<ApplySummary | undefined>;
}

interface Result {
  diff: 'row' | 'stmt';
  method: string;
  label: string;
  ms: number;
  mbPerS: number;
  trxPerS: number;
  serverCpuMs: number;
  checksumsEqual: boolean;
  packets?: number;
}

const arg = (name: string, dflt?: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const flag = (name: string) => process.argv.includes(`--${name}`);
const say = (s: string) => process.stderr.write(`${s}\n`);

function cpuModel(): string {
  const info = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /model name\s*:\s*(.+)/.exec(info)?.[1] ?? 'unknown CPU';
  const cores = info.split('\n').filter((l) => l.startsWith('processor')).length;
  const mem = /MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1];
  return `${cores} × ${model.trim()}, ${mem ? Math.round(Number(mem) / 1024 / 1024) : '?'} GB RAM`;
}

/** CPU time mariadbd has used, ms (utime + stime from /proc; 100 ticks per second). */
function serverCpuMs(inst: LabInstanceLike): number {
  const f = readFileSync(`/proc/${inst.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

async function checksums(lab: LabLike, inst: LabInstanceLike): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of TABLE_NAMES) out[t] = String((await lab.query(inst, `CHECKSUM TABLE ${t} EXTENDED`))[0].Checksum);
  return out;
}

/** (a): what MHA's apply_diff_relay_logs runs. */
function mhaWay(localLoadDir: string): Method {
  return {
    key: 'mha',
    label: '(a) `mariadb-binlog | mariadb` (MHA)',
    run: (t, _inst, file) =>
      new Promise((resolve, reject) => {
        const cmd = `mariadb-binlog --no-defaults --local-load=${localLoadDir} ${file} | mariadb --no-defaults --binary-mode -h ${t.host} -P ${t.port} -u ${t.user}`;
        const sh = spawn('bash', ['-o', 'pipefail', '-c', cmd], {
          stdio: ['ignore', 'ignore', 'pipe'],
          env: { ...process.env, MYSQL_PWD: t.password ?? '' },
        });
        let err = '';
        sh.stderr.on('data', (d) => {
          err += d;
        });
        sh.on('exit', (code) => (code === 0 ? resolve(undefined) : reject(new Error(`exit ${code}: ${err}`))));
      }),
  };
}

const plain: Method = {
  key: 'plain',
  label: '(b) mha-ts plain path',
  run: (t, _inst, file) => applyEvents(t, readFileEvents(file)),
};

function fast(stateDir: string, key = 'fast', label = '(c) mha-ts fast path', extra: FastApplyOptions = {}): Method {
  return { key, label, run: (t, _inst, file) => applyEventsFast(t, readFileEvents(file), { stateDir, ...extra }) };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: the lab starts mariadbd as the mysql user');
  const rowMiB = Number(arg('row-mib', '56'));
  const stmtMiB = Number(arg('stmt-mib', '32'));
  const durable = flag('durable');
  const work = await applyWorkload({ rowMiB, stmtMiB }, say);
  const scratch = mkdtempSync(join(tmpdir(), 'mha-apply-bench-'));
  const localLoad = join(scratch, 'local-load');
  mkdirSync(localLoad);
  const stateDir = join(scratch, 'state');
  mkdirSync(stateDir);
  const methods: Method[] = [mhaWay(localLoad), plain, fast(stateDir)];
  const ablation: Method[] = flag('ablation')
    ? [
        fast(stateDir, 'packets', 'packets only (durability kept, no joins)', {
          durability: 'keep',
          joinRowsBytes: 0,
          joinSets: false,
        }),
        fast(stateDir, 'packets+relaxed', 'packets + relaxed durability (no joins)', {
          joinRowsBytes: 0,
          joinSets: false,
        }),
      ]
    : [];
  // The replicas as the failover lab has them (MariaDB defaults: innodb_flush_log_at_trx_commit=1,
  // sync_binlog=0), or fully durable ones with --durable; a realistic buffer pool and redo log.
  const serverCnf = [
    'innodb_buffer_pool_size=256M',
    'innodb_log_file_size=256M',
    ...(durable ? ['sync_binlog=1', 'innodb_flush_log_at_trx_commit=1'] : []),
  ];
  const names = [...methods, ...ablation].map((m) => m.key);
  say(`starting ${names.length} replicas (${names.join(', ')})`);
  const load0 = loadavg();
  const started = new Date();
  const lab = await startLab(
    names.map((name) => ({ name, binlogFormat: 'ROW' as const, logSlaveUpdates: true, extraCnf: serverCnf })),
  );
  const results: Result[] = [];
  try {
    const server = String((await lab.query(names[0], 'SELECT VERSION() AS v'))[0].v);
    const vars = await lab.query(
      names[0],
      "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('innodb_flush_log_at_trx_commit','sync_binlog','innodb_log_file_buffering','innodb_log_file_size','innodb_buffer_pool_size','binlog_format','log_slave_updates')",
    );
    const target = (inst: LabInstanceLike): ApplyTarget => ({
      host: inst.host,
      port: inst.port,
      user: 'root',
      password: lab.rootPassword,
    });
    // The same starting data everywhere.
    for (const name of names) {
      const inst = lab.instance(name);
      await applyEventsFast(target(inst), readFileEvents(work.base.file), { stateDir });
      const sums = await checksums(lab, inst);
      if (JSON.stringify(sums) !== JSON.stringify(work.base.checksums)) throw new Error(`${name}: base data differs`);
    }
    for (const [diffKey, diff] of [
      ['row', work.row],
      ['stmt', work.stmt],
    ] as [Result['diff'], RecordedDiff][]) {
      for (const m of [...methods, ...ablation]) {
        const inst = lab.instance(m.key);
        say(`${diffKey}: ${m.label} …`);
        const cpu0 = serverCpuMs(inst);
        const t0 = performance.now();
        const summary = await m.run(target(inst), inst, diff.file);
        const ms = performance.now() - t0;
        const cpu = serverCpuMs(inst) - cpu0;
        const equal = JSON.stringify(await checksums(lab, inst)) === JSON.stringify(diff.checksums);
        const r: Result = {
          diff: diffKey,
          method: m.key,
          label: m.label,
          ms: Math.round(ms),
          mbPerS: diff.bytes / 1e6 / (ms / 1000),
          trxPerS: diff.transactions / (ms / 1000),
          serverCpuMs: cpu,
          checksumsEqual: equal,
          packets: summary?.batches,
        };
        results.push(r);
        say(
          `  ${(ms / 1000).toFixed(2)} s, ${r.mbPerS.toFixed(2)} MB/s, ${Math.round(r.trxPerS)} trx/s, server CPU ${(cpu / 1000).toFixed(2)} s, checksums ${equal ? 'equal' : 'DIFFER'}`,
        );
        if (!equal) throw new Error(`${m.key}: CHECKSUM TABLE differs from the source after the ${diffKey} diff`);
      }
    }
    const gtids = new Set<string>();
    for (const name of names) gtids.add(String((await lab.query(name, 'SELECT @@gtid_binlog_pos AS g'))[0].g));
    const report = {
      command: `npx tsx bench/apply.ts ${process.argv.slice(2).join(' ')}`.trim(),
      startedAt: started.toISOString(),
      machine: cpuModel(),
      loadAverage: { start: load0.map((x) => x.toFixed(2)), end: loadavg().map((x) => x.toFixed(2)) },
      server,
      serverSettings: Object.fromEntries(vars.map((v) => [v.Variable_name, v.Value])),
      workload: work,
      sameGtidsEverywhere: gtids.size === 1,
      results,
    };
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(join(resultsDir, 'apply-latest.json'), `${JSON.stringify(report, null, 2)}\n`);
    const md = markdown(report, work);
    process.stdout.write(`${md}\n`);
    if (flag('write')) writeSection(md);
  } finally {
    await lab.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}

function markdown(
  report: {
    command: string;
    startedAt: string;
    machine: string;
    loadAverage: { start: string[]; end: string[] };
    server: string;
    serverSettings: Record<string, unknown>;
    sameGtidsEverywhere: boolean;
    results: Result[];
  },
  work: ApplyWorkload,
): string {
  const lines: string[] = [];
  const s = report.serverSettings;
  lines.push(
    `Command: \`${report.command}\` (${report.startedAt}). Machine: ${report.machine}; load average ${report.loadAverage.start.join(' ')} at the start, ${report.loadAverage.end.join(' ')} at the end (other engineers' test suites share the machine).`,
    `Server: MariaDB ${report.server}; each replica: ${['binlog_format', 'log_slave_updates', 'innodb_flush_log_at_trx_commit', 'sync_binlog', 'innodb_log_file_buffering', 'innodb_buffer_pool_size', 'innodb_log_file_size'].map((k) => `${k}=${s[k]}`).join(', ')}.`,
    `Diffs (recorded from a real MariaDB by bench/apply-workload.ts, ${work.params.connections} connections, ${work.params.tables} tables × ${work.params.rowsPerTable} rows): row format ${(work.row.bytes / 1e6).toFixed(1)} MB / ${work.row.transactions} transactions; statement format ${(work.stmt.bytes / 1e6).toFixed(1)} MB / ${work.stmt.transactions} transactions.`,
    '',
    '| diff | way | time | MB/s | trx/s | × MHA | server CPU | packets | CHECKSUM TABLE |',
    '|---|---|---:|---:|---:|---:|---:|---:|---|',
  );
  for (const r of report.results) {
    const mha = report.results.find((x) => x.diff === r.diff && x.method === 'mha');
    lines.push(
      `| ${r.diff === 'row' ? 'row' : 'statement'} | ${r.label} | ${(r.ms / 1000).toFixed(2)} s | ${r.mbPerS.toFixed(2)} | ${Math.round(r.trxPerS)} | ${mha ? (mha.ms / r.ms).toFixed(1) : '—'} | ${(r.serverCpuMs / 1000).toFixed(2)} s | ${r.packets ?? '—'} | ${r.checksumsEqual ? 'equal' : 'DIFFERS'} |`,
    );
  }
  lines.push('', `Every replica ends with the same gtid_binlog_pos: ${report.sameGtidsEverywhere ? 'yes' : 'NO'}.`);
  return lines.join('\n');
}

const BEGIN = '<!-- apply-bench:begin -->';
const END = '<!-- apply-bench:end -->';

/** Replace the generated part of the apply section of bench/RESULTS.md (between the markers). */
function writeSection(md: string): void {
  const file = join(benchDir, 'RESULTS.md');
  const text = readFileSync(file, 'utf8');
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a < 0 || b < a) throw new Error(`${file}: no ${BEGIN} … ${END} markers`);
  writeFileSync(file, `${text.slice(0, a + BEGIN.length)}\n${md}\n${text.slice(b)}`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exitCode = 1;
});
