/**
 * The file benchmark: `npm run bench` (full) or `node dist/bench/run.js --smoke`.
 *
 * Full run:
 *  1. records a real binlog from a MariaDB server running a sysbench-like OLTP mix
 *     (bench/record-workload.ts, via the test lab; cached),
 *  2. replays its transactions through BinlogFileWriter into a ≥ 256 MiB binlog (cached,
 *     checked with `mariadb-binlog --verify-binlog-checksum`),
 *  3. builds a ≥ 1 GiB relay-log set over several files from it (cached),
 *  4. times, 3 times each, interleaved, every contender in its own process (raw reads,
 *     header-only scan, full decode, `mariadb-binlog --base64-output=decode-rows --verbose`),
 *     and `findRelayLogPosition` on the relay-log set,
 *  5. runs the benchmark.js micro benchmarks (bench/micro.ts),
 *  6. prints a markdown report and writes it to bench/results/latest.md.
 *
 * Smoke run (CI): a ~5 MiB input synthesized from the committed fixtures, a small relay
 * set, one round, fast micro benchmarks; no server needed. Report in bench/.cache/smoke/.
 *
 * Options: --smoke, --runs=N, --size=MiB (synthesized input), --record-size=MiB,
 * --relay-files=N (master files relayed), --relay-max=MiB (max_relay_log_size),
 * --no-micro, --rerecord, --out=FILE, --cache-dir=DIR.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import * as os from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import type { MicroResult } from './micro.js';
import { cacheDir, distBenchDir, fixturesMaster, MiB, repoRoot, resultsDir } from './paths.js';
import { buildRelaySet, type RelaySetResult, synthesizeBinlog } from './synthesize.js';
import type { FindSpec, WorkerResult } from './worker.js';

// ------------------------------------------------------------------ options

interface Options {
  smoke: boolean;
  runs: number;
  sizeMiB: number;
  recordMiB: number;
  relayFiles: number;
  relayMaxMiB: number;
  micro: boolean;
  rerecord: boolean;
  out: string;
  /** Where inputs are generated and cached (default bench/.cache). */
  cacheDir: string;
}

function parseOptions(argv: string[]): Options {
  const smoke = argv.includes('--smoke');
  const val = (name: string): string | undefined => {
    const a = argv.find((x) => x.startsWith(`--${name}=`));
    return a ? a.slice(name.length + 3) : undefined;
  };
  const num = (name: string, dflt: number) => {
    const v = val(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name}: not a positive number: ${v}`);
    return n;
  };
  return {
    smoke,
    runs: num('runs', smoke ? 1 : 3),
    sizeMiB: num('size', smoke ? 5 : 256),
    recordMiB: num('record-size', 48),
    relayFiles: num('relay-files', 4),
    relayMaxMiB: num('relay-max', smoke ? 3 : 192),
    micro: !argv.includes('--no-micro'),
    rerecord: argv.includes('--rerecord'),
    out:
      val('out') ?? (smoke ? join(val('cache-dir') ?? cacheDir, 'smoke', 'latest.md') : join(resultsDir, 'latest.md')),
    cacheDir: val('cache-dir') ?? cacheDir,
  };
}

const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);

// ------------------------------------------------------------------ inputs

function haveCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

interface InputMeta {
  version: number;
  sources: { path: string; size: number; mtimeMs: number }[];
  targetBytes: number;
  result: ReturnType<typeof synthesizeBinlog>;
  verify: string;
  recording?: unknown;
}

const INPUT_VERSION = 2;

/** What identifies a source file for the cache (its name, not where the cache lives). */
function sourceStamp(paths: string[]): InputMeta['sources'] {
  return paths.map((p) => {
    const st = statSync(p);
    return { path: basename(p), size: st.size, mtimeMs: Math.round(st.mtimeMs) };
  });
}

function verifyWithMariadbBinlog(file: string): string {
  if (!haveCommand('mariadb-binlog')) return 'not checked (mariadb-binlog not installed)';
  // LOAD DATA events make mariadb-binlog write their data files (by default into /tmp).
  const loadDir = mkdtempSync(join(os.tmpdir(), 'bench-mariadb-binlog-'));
  const r = spawnSync('mariadb-binlog', ['--verify-binlog-checksum', `--local-load=${loadDir}`, file], {
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  rmSync(loadDir, { recursive: true, force: true });
  if (r.status !== 0 || r.stderr.trim() !== '') {
    throw new Error(`mariadb-binlog --verify-binlog-checksum ${file} failed (${r.status}): ${r.stderr.slice(0, 2000)}`);
  }
  return 'mariadb-binlog --verify-binlog-checksum: OK';
}

/** The real recorded binlog (full mode): recorded once, then cached. */
function recordedBinlog(opts: Options): { path: string; meta: unknown } {
  const dir = join(opts.cacheDir, 'recorded');
  const path = join(dir, `oltp-${opts.recordMiB}MiB.binlog`);
  if (opts.rerecord) rmSync(path, { force: true });
  if (!existsSync(path) || !existsSync(`${path}.json`)) {
    mkdirSync(dir, { recursive: true });
    log(`recording ${opts.recordMiB} MiB of OLTP binlog from a real MariaDB server (test lab)…`);
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(distBenchDir, 'record-workload.js'), path, String(opts.recordMiB), '4'],
      { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    if (r.status !== 0) throw new Error(`recording the workload failed (exit ${r.status})`);
  }
  return { path, meta: JSON.parse(readFileSync(`${path}.json`, 'utf8')) };
}

function synthesizedInput(opts: Options): { path: string; meta: InputMeta } {
  let sources: string[];
  let recording: unknown;
  let path: string;
  if (opts.smoke) {
    sources = ['000001', '000002', '000003', '000005'].map((n) => join(fixturesMaster, `mariadb-bin.${n}`));
    path = join(opts.cacheDir, 'smoke', `input-${opts.sizeMiB}MiB.binlog`);
    recording = { source: 'fixtures/mariadb-10.11/master (recorded by fixtures/record-mariadb.ts)' };
  } else {
    const rec = recordedBinlog(opts);
    sources = [rec.path];
    recording = rec.meta;
    path = join(opts.cacheDir, `oltp-${opts.sizeMiB}MiB.binlog`);
  }
  const targetBytes = opts.sizeMiB * MiB;
  const stamp = sourceStamp(sources);
  const metaPath = `${path}.json`;
  if (existsSync(path) && existsSync(metaPath)) {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as InputMeta;
    if (
      meta.version === INPUT_VERSION &&
      meta.targetBytes === targetBytes &&
      JSON.stringify(meta.sources) === JSON.stringify(stamp) &&
      statSync(path).size === meta.result.bytes
    ) {
      return { path, meta };
    }
  }
  mkdirSync(dirname(path), { recursive: true });
  log(`synthesizing ${opts.sizeMiB} MiB binlog from ${sources.length} recorded file(s)…`);
  const result = synthesizeBinlog(sources, path, targetBytes);
  log(`verifying ${relative(repoRoot, path)} with mariadb-binlog…`);
  const verify = verifyWithMariadbBinlog(path);
  const meta: InputMeta = { version: INPUT_VERSION, sources: stamp, targetBytes, result, verify, recording };
  writeFileSync(metaPath, `${JSON.stringify(meta, null, 2)}\n`);
  return { path, meta };
}

async function relaySet(opts: Options, input: string, inputMeta: InputMeta): Promise<RelaySetResult> {
  const dir = join(dirname(input), `relay-${opts.relayFiles}x${opts.sizeMiB}MiB-max${opts.relayMaxMiB}MiB`);
  const metaPath = join(dir, 'relay-set.json');
  const key = { version: INPUT_VERSION, input: inputMeta.result.bytes, inputSources: inputMeta.sources };
  if (existsSync(metaPath)) {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as { key: unknown; set: RelaySetResult };
    if (JSON.stringify(meta.key) === JSON.stringify(key) && meta.set.files.every((f) => existsSync(join(dir, f)))) {
      return meta.set;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  log(`building relay-log set (${opts.relayFiles} master files, max_relay_log_size ${opts.relayMaxMiB} MiB)…`);
  const set = await buildRelaySet({
    masterBinlog: input,
    outDir: dir,
    masterFileCount: opts.relayFiles,
    maxRelayBytes: opts.relayMaxMiB * MiB,
  });
  writeFileSync(metaPath, `${JSON.stringify({ key, set }, null, 2)}\n`);
  return set;
}

/** Read files once so every contender starts from the page cache. */
function warm(paths: string[]): void {
  const buf = Buffer.allocUnsafe(4 * MiB);
  for (const p of paths) {
    const fd = openSync(p, 'r');
    try {
      let pos = 0;
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, pos);
        if (n === 0) break;
        pos += n;
      }
    } finally {
      closeSync(fd);
    }
  }
}

// ------------------------------------------------------------------ running contenders

interface Measured {
  /** Work time as the contender measured it (ours: after module loading). */
  ms: number;
  /** Spawn to exit, as seen by this process (includes process start-up). */
  wallMs: number;
  maxRssKB: number | null;
  result?: WorkerResult;
}

function runProcess(
  cmd: string,
  args: string[],
  stdout: 'pipe' | number,
): Promise<{
  code: number | null;
  out: string;
  err: string;
  wallMs: number;
  pid: number | undefined;
  hwmKB: number | null;
}> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', stdout, 'pipe'] });
    let out = '';
    let err = '';
    let hwmKB: number | null = null;
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    // Peak RSS of a process we cannot instrument: VmHWM, sampled until it exits.
    const timer = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) hwmKB = Number(m[1]);
      } catch {
        // exited
      }
    }, 10);
    child.on('error', (e) => {
      clearInterval(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearInterval(timer);
      resolve({ code, out, err, wallMs: Number(process.hrtime.bigint() - t0) / 1e6, pid: child.pid, hwmKB });
    });
  });
}

async function runWorker(mode: string, file: string): Promise<Measured> {
  const r = await runProcess(process.execPath, [join(distBenchDir, 'worker.js'), mode, file], 'pipe');
  if (r.code !== 0) throw new Error(`worker ${mode} ${file} failed (${r.code}): ${r.err}`);
  const result = JSON.parse(r.out.trim().split('\n').at(-1)!) as WorkerResult;
  return { ms: result.ms, wallMs: r.wallMs, maxRssKB: result.maxRssKB, result };
}

const MARIADB_BINLOG_ARGS = ['--base64-output=decode-rows', '--verbose'];

async function runMariadbBinlog(file: string): Promise<Measured> {
  const devnull = openSync('/dev/null', 'w');
  // LOAD DATA events make mariadb-binlog write their data files: into a private directory
  // (by default they go to /tmp, where repeated runs collide on the names).
  const loadDir = mkdtempSync(join(os.tmpdir(), 'bench-mariadb-binlog-'));
  const args = [...MARIADB_BINLOG_ARGS, `--local-load=${loadDir}`, file];
  try {
    const useTime = existsSync('/usr/bin/time');
    const r = useTime
      ? await runProcess('/usr/bin/time', ['-f', 'MAXRSS_KB=%M', 'mariadb-binlog', ...args], devnull)
      : await runProcess('mariadb-binlog', args, devnull);
    if (r.code !== 0) throw new Error(`mariadb-binlog failed (${r.code}): ${r.err.slice(0, 2000)}`);
    const m = /MAXRSS_KB=(\d+)/.exec(r.err);
    return { ms: r.wallMs, wallMs: r.wallMs, maxRssKB: m ? Number(m[1]) : r.hwmKB };
  } finally {
    closeSync(devnull);
    rmSync(loadDir, { recursive: true, force: true });
  }
}

interface Contender {
  key: string;
  label: string;
  how: string;
  ours: boolean;
  run: (file: string) => Promise<Measured>;
}

const CONTENDERS: Contender[] = [
  {
    key: 'raw-sync',
    label: 'raw read: fs.readSync, one reused 1 MiB buffer',
    how: '`node dist/bench/worker.js raw-sync FILE`',
    ours: false,
    run: (f) => runWorker('raw-sync', f),
  },
  {
    key: 'raw-chunks',
    label: 'raw read: readFileChunks (our reader: fresh 1 MiB buffers, 2 reads ahead)',
    how: '`node dist/bench/worker.js raw-chunks FILE`',
    ours: false,
    run: (f) => runWorker('raw-chunks', f),
  },
  {
    key: 'raw-stream',
    label: 'raw read: fs.createReadStream, 1 MiB chunks',
    how: '`node dist/bench/worker.js raw-stream FILE`',
    ours: false,
    run: (f) => runWorker('raw-stream', f),
  },
  {
    key: 'header',
    label: 'header-only scan (readFileEventBatches, headerOnly)',
    how: '`node dist/bench/worker.js header FILE`',
    ours: true,
    run: (f) => runWorker('header', f),
  },
  {
    key: 'decode',
    label: 'full decode: CRC32 + every body + every row value',
    how: '`node dist/bench/worker.js decode FILE`',
    ours: true,
    run: (f) => runWorker('decode', f),
  },
  {
    key: 'decode-nocrc',
    label: 'full decode without CRC32 check (like mariadb-binlog by default)',
    how: '`node dist/bench/worker.js decode-nocrc FILE`',
    ours: true,
    run: (f) => runWorker('decode-nocrc', f),
  },
  {
    key: 'mariadb-binlog',
    label: 'mariadb-binlog --base64-output=decode-rows --verbose',
    how: "`mariadb-binlog --base64-output=decode-rows --verbose --local-load=EMPTY_TMP_DIR FILE > /dev/null` (`--local-load`: where LOAD DATA events' files go; none in the OLTP input)",
    ours: false,
    run: runMariadbBinlog,
  },
];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// ------------------------------------------------------------------ find

interface FindCase {
  name: string;
  spec: FindSpec;
}

interface FindOutcome {
  name: string;
  result: Record<string, unknown>;
  delivered: number;
  finderBytesRead: number;
  needed: number;
  total: number;
  ms: number;
  maxRssKB: number;
}

function findCases(set: RelaySetResult, opts: Options): FindCase[] {
  const lastMaster = set.masterFiles.at(-1)!;
  const size = lastMaster.size;
  const commits = set.commitPositions;
  // Near the end, inside the last relay file (where the fast path applies).
  const lastRelaySize = statSync(join(set.dir, set.files.at(-1)!)).size;
  const tailWanted = Math.min(opts.smoke ? 64 * 1024 : 1 * MiB, lastRelaySize / 2);
  const nearEnd = [...commits].reverse().find((p) => size - p >= tailWanted) ?? commits[0];
  const middleMaster = set.masterFiles[Math.floor((set.masterFiles.length - 1) / 2)];
  const middle = commits[Math.floor(commits.length / 2)];
  const base = { relayDir: set.dir, relayFiles: set.files };
  return [
    {
      name: `fast path: target ${lastMaster.name}:${nearEnd} (${((size - nearEnd) / MiB).toFixed(2)} MiB before the end), latest known`,
      spec: { ...base, target: { file: lastMaster.name, pos: nearEnd }, latest: { file: lastMaster.name, pos: size } },
    },
    {
      name: `scan path: same target, latest unknown`,
      spec: { ...base, target: { file: lastMaster.name, pos: nearEnd } },
    },
    {
      name: `scan path: target mid-set, ${middleMaster.name}:${middle}`,
      spec: { ...base, target: { file: middleMaster.name, pos: middle } },
    },
  ];
}

async function runFind(c: FindCase, set: RelaySetResult): Promise<FindOutcome> {
  const specPath = join(
    set.dir,
    `find-${c.name.split(':')[0].replace(/\W+/g, '-')}-${Math.random().toString(36).slice(2, 8)}.json`,
  );
  writeFileSync(specPath, JSON.stringify(c.spec));
  try {
    const m = await runWorker('find', specPath);
    const extra = m.result!.extra as { result: Record<string, unknown>; totalBytes: number; delivered: number };
    const res = extra.result;
    const sizes = set.files.map((f) => statSync(join(set.dir, f)).size);
    let needed = Number.NaN;
    if (res.status === 'found') {
      const idx = set.files.indexOf(String(res.relayFile));
      // Fast path: the tail after the answer. Scan: every file from the newest down to the
      // answer's, and on down to the nearest one that names the master file (a relay file
      // continued after a relay-log rotation does not say which master file it belongs to).
      let from = idx;
      while (from > 0 && !set.namesMasterFile[from]) from--;
      needed = res.method === 'fast' ? sizes[idx] - Number(res.offset) : sizes.slice(from).reduce((a, b) => a + b, 0);
    }
    return {
      name: c.name,
      result: res,
      delivered: extra.delivered,
      finderBytesRead: Number(res.bytesRead),
      needed,
      total: extra.totalBytes,
      ms: m.ms,
      maxRssKB: m.maxRssKB ?? 0,
    };
  } finally {
    rmSync(specPath, { force: true });
  }
}

// ------------------------------------------------------------------ report

function machineInfo(): string[] {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1].trim();
  } catch {
    // not Linux
  }
  const mb = spawnSync('mariadb-binlog', ['--version'], { encoding: 'utf8' });
  return [
    `- CPU: ${cpu}, ${os.cpus().length} cores; RAM ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- Node ${process.version}, ${os.type()} ${os.release()}`,
    `- mariadb-binlog: ${mb.status === 0 ? mb.stdout.trim() : 'not installed'}`,
    `- date: ${new Date().toISOString()}; load average at start: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  ];
}

/**
 * Pads every markdown table of `text` so its columns line up (as a markdown formatter would
 * leave them), keeping each column's alignment from the separator row.
 */
export function alignTables(text: string): string {
  const lines = text.split('\n');
  const width = (s: string) => [...s].length;
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].startsWith('|')) continue;
    let j = i;
    while (j < lines.length && lines[j].startsWith('|')) j++;
    const rows = lines.slice(i, j).map((l) =>
      l
        .slice(1, -1)
        .split('|')
        .map((c) => c.trim()),
    );
    const right = (rows[1] ?? []).map((c) => c.endsWith(':'));
    const cols = Math.max(...rows.map((r) => r.length));
    const w = Array.from({ length: cols }, (_, c) =>
      Math.max(3, ...rows.filter((_, k) => k !== 1).map((r) => width(r[c] ?? ''))),
    );
    const out = rows.map((r, k) => {
      const cells = w.map((cw, c) => {
        if (k === 1) return right[c] ? `${'-'.repeat(cw - 1)}:` : '-'.repeat(cw);
        const cell = r[c] ?? '';
        const pad = ' '.repeat(cw - width(cell));
        return right[c] ? pad + cell : cell + pad;
      });
      return `| ${cells.join(' | ')} |`;
    });
    lines.splice(i, j - i, ...out);
    i = j - 1;
  }
  return lines.join('\n');
}

const fmtMB = (bytes: number) => (bytes >= 1e5 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(1)} kB`);
const fmtRate = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const fmtInt = (x: number) => Math.round(x).toLocaleString('en-US');
const rssMB = (kb: number | null) => (kb === null ? null : (kb * 1024) / 1e6);

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const started = Date.now();
  const machine = machineInfo();
  const { path: input, meta } = synthesizedInput(opts);
  const set = await relaySet(opts, input, meta);
  const bytes = statSync(input).size;
  log(`warming the page cache…`);
  warm([input, ...set.files.map((f) => join(set.dir, f))]);

  const hasMariadbBinlog = haveCommand('mariadb-binlog');
  const contenders = CONTENDERS.filter((c) => c.key !== 'mariadb-binlog' || hasMariadbBinlog);
  const runs = new Map<string, Measured[]>(contenders.map((c) => [c.key, []]));
  for (let round = 1; round <= opts.runs; round++) {
    for (const c of contenders) {
      log(`round ${round}/${opts.runs}: ${c.key}`);
      runs.get(c.key)!.push(await c.run(input));
    }
  }
  const decodeResult = runs.get('decode')![0].result!;
  const events = decodeResult.events;
  const headerEvents = runs.get('header')![0].result!.events;
  if (headerEvents !== events) throw new Error(`header-only scan saw ${headerEvents} events, full decode ${events}`);

  const findOutcomes: FindOutcome[] = [];
  for (const c of findCases(set, opts)) {
    log(`find: ${c.name}`);
    findOutcomes.push(await runFind(c, set));
  }

  let micro: MicroResult[] | null = null;
  if (opts.micro) {
    log('micro benchmarks (benchmark.js)…');
    const r = spawnSync(process.execPath, [join(distBenchDir, 'micro.js'), input, ...(opts.smoke ? ['--fast'] : [])], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (r.status !== 0) throw new Error(`micro benchmarks failed (${r.status})`);
    micro = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as MicroResult[];
  }

  // ---- summary numbers
  const summary = new Map<string, { ms: number; wallMs: number; rssKB: number | null; all: Measured[] }>();
  for (const c of contenders) {
    const all = runs.get(c.key)!;
    const rss = all.map((m) => m.maxRssKB).filter((x): x is number => x !== null);
    summary.set(c.key, {
      ms: median(all.map((m) => m.ms)),
      wallMs: median(all.map((m) => m.wallMs)),
      rssKB: rss.length ? Math.max(...rss) : null,
      all,
    });
  }
  const mbps = (key: string, wall = false) => {
    const s = summary.get(key)!;
    return bytes / 1e6 / ((wall ? s.wallMs : s.ms) / 1000);
  };
  const floorKey = 'raw-sync';
  const lines: string[] = [];
  const title = opts.smoke ? 'mha-ts binlog benchmark (smoke run)' : 'mha-ts binlog benchmark';
  lines.push(`# ${title}`, '');
  lines.push(`Command: \`${opts.smoke ? 'node dist/bench/run.js --smoke' : 'npm run bench'}\``);
  lines.push('', ...machine, '');
  lines.push(
    `Input: \`${relative(repoRoot, input)}\` — ${fmtMB(bytes)}, ${fmtInt(events)} events, ` +
      `${fmtInt(decodeResult.rows)} rows, ${fmtInt(decodeResult.values)} row values; ` +
      `${fmtInt(meta.result.transactions)} transactions replayed (${meta.result.passes} passes) from ` +
      `${fmtInt(meta.result.sourceTransactions)} recorded ones (${fmtMB(meta.result.sourceBytes)}: ${meta.sources.map((s) => s.path).join(', ')}); ${meta.verify}.`,
  );
  const rec = meta.recording as
    | { server?: string; workload?: { connections: number; mix: string; transactions: number }; runSeconds?: number }
    | undefined;
  if (rec?.server && rec.workload) {
    lines.push(
      '',
      `Recorded by bench/record-workload.ts from MariaDB ${rec.server} (test lab; binlog_format=ROW, binlog_row_image=FULL, ` +
        `annotate rows on, CRC32): ${rec.workload.connections} connections, ${fmtInt(rec.workload.transactions)} transactions ` +
        `in ${rec.runSeconds?.toFixed(1)} s of \`${rec.workload.mix}\` on four sbtest tables (id int, k int, c char(120), pad char(60)). ` +
        'Replayed through BinlogFileWriter (positions, CRC32 and GTID sequence numbers rewritten).',
    );
  } else if (opts.smoke) {
    lines.push(
      '',
      'Sources: fixtures/mariadb-10.11/master (recorded by fixtures/record-mariadb.ts), replayed through BinlogFileWriter.',
    );
  }
  lines.push(
    '',
    `Each contender runs in its own process, ${opts.runs} time(s), interleaved; the table shows the median. ` +
      '"time" is the work as timed inside the process (for our Node contenders: after module loading; ' +
      'for mariadb-binlog: spawn to exit); "wall" is spawn to exit for every contender. ' +
      'The file is in the page cache (read once before timing). MB = 10^6 bytes.',
    '',
  );
  lines.push('## Throughput', '');
  lines.push('| contender | time (ms) | wall (ms) | MB/s | events/s | × raw read | peak RSS (MB) | runs: time (ms) |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---|');
  for (const c of contenders) {
    const s = summary.get(c.key)!;
    const rate = mbps(c.key);
    const evs = c.key.startsWith('raw') ? '—' : fmtInt(events / (s.ms / 1000));
    const vsRaw = (rate / mbps(floorKey)).toFixed(2);
    const rss = rssMB(s.rssKB);
    lines.push(
      `| ${c.label} | ${s.ms.toFixed(0)} | ${s.wallMs.toFixed(0)} | ${fmtRate(rate)} | ${evs} | ${vsRaw} | ${rss === null ? '—' : rss.toFixed(1)} | ${s.all.map((m) => m.ms.toFixed(0)).join(', ')} |`,
    );
  }
  lines.push('', 'Commands:', '');
  for (const c of contenders) lines.push(`- ${c.label}: ${c.how}`);

  // ---- ratios and targets
  const headerVsSync = mbps('header') / mbps('raw-sync');
  const headerVsStream = mbps('header') / mbps('raw-stream');
  const headerVsChunks = mbps('header') / mbps('raw-chunks');
  const hasMb = summary.has('mariadb-binlog');
  const vsMb = (key: string, wall: boolean) => (hasMb ? mbps(key, wall) / mbps('mariadb-binlog', wall) : Number.NaN);
  const ourRss = contenders
    .filter((c) => c.ours)
    .map((c) => ({ label: c.key, mb: rssMB(summary.get(c.key)!.rssKB) ?? 0 }));
  const findRss = findOutcomes.map((f) => rssMB(f.maxRssKB) ?? 0);
  const maxRss = Math.max(...ourRss.map((r) => r.mb), ...findRss);
  const verdict = (ok: boolean) => (ok ? 'met' : '**NOT met**');
  lines.push('', '## Ratios and targets', '');
  lines.push('| ratio | value | target | result |');
  lines.push('|---|---:|---:|---|');
  lines.push(
    `| header-only scan ÷ raw read (fs.readSync, the floor) | ${headerVsSync.toFixed(2)} | ≥ 0.80 | ${verdict(headerVsSync >= 0.8)} |`,
  );
  lines.push(
    `| header-only scan ÷ raw read (readFileChunks, the reader it runs on) | ${headerVsChunks.toFixed(2)} | — | info |`,
  );
  lines.push(`| header-only scan ÷ raw read (fs.createReadStream) | ${headerVsStream.toFixed(2)} | — | info |`);
  for (const [key, what] of [
    ['decode', 'full decode, CRC32 verified'],
    ['decode-nocrc', 'full decode, no CRC32 check (same work as mariadb-binlog)'],
  ] as const) {
    for (const wall of [true, false]) {
      const v = vsMb(key, wall);
      lines.push(
        `| ${what} ÷ mariadb-binlog --verbose (${wall ? 'wall, process start included' : 'work time'}) | ${hasMb ? v.toFixed(2) : 'n/a'} | ≥ 2.00 | ${hasMb ? verdict(v >= 2) : 'mariadb-binlog not installed'} |`,
      );
    }
  }
  lines.push(
    `| peak RSS, worst of ours (${[...ourRss.map((r) => `${r.label} ${r.mb.toFixed(1)}`), `find ${Math.max(...findRss).toFixed(1)}`].join(', ')}) | ${maxRss.toFixed(1)} MB | < 150 MB | ${verdict(maxRss < 150)} |`,
  );

  // ---- find
  const relayTotal = findOutcomes[0]?.total ?? 0;
  lines.push('', '## find on a relay-log set', '');
  lines.push(
    `Relay-log set: \`${relative(repoRoot, set.dir)}\` — ${set.files.length} files, ${fmtMB(relayTotal)}, ` +
      `relaying ${set.masterFiles.length} master binlogs of ${fmtMB(set.masterFiles[0].size)} ` +
      `(${set.masterFiles.map((m) => m.name).join(', ')}), rotated at ${opts.relayMaxMiB} MiB. ` +
      '`findRelayLogPosition` (src/engine/relay-position-finder.ts) over LocalFileAccess; "read" counts the bytes ' +
      'the file access delivered, "needed" is the least a correct answer requires (fast path: the tail after the answer; ' +
      'scan: the files from the newest down to the one holding the answer, and on to the nearest one that names its master file).',
    '',
  );
  lines.push('| case | answer | read (MB) | needed (MB) | total (MB) | read ÷ total | time (ms) | peak RSS (MB) |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|');
  for (const f of findOutcomes) {
    const r = f.result;
    const answer = r.status === 'found' ? `${r.relayFile}:${r.offset} (${r.method})` : `${r.status}: ${r.reason}`;
    lines.push(
      `| ${f.name} | ${answer} | ${(f.delivered / 1e6).toFixed(3)} | ${Number.isNaN(f.needed) ? '—' : (f.needed / 1e6).toFixed(3)} | ${(f.total / 1e6).toFixed(1)} | ${(f.delivered / f.total).toFixed(4)} | ${f.ms.toFixed(0)} | ${(rssMB(f.maxRssKB) ?? 0).toFixed(1)} |`,
    );
  }

  if (micro) {
    lines.push('', '## Micro benchmarks (benchmark.js)', '');
    lines.push('| operation | per op | ops/s | ± | MB/s |');
    lines.push('|---|---|---:|---:|---:|');
    for (const m of micro) {
      lines.push(
        `| ${m.name} | ${m.unit} | ${fmtInt(m.hz)} | ${m.rme.toFixed(1)}% | ${m.mbPerSec === undefined ? '—' : fmtRate(m.mbPerSec)} |`,
      );
    }
  }
  lines.push(
    '',
    `Finished in ${((Date.now() - started) / 1000).toFixed(0)} s; load average at the end: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}.`,
  );
  const report = alignTables(`${lines.join('\n')}\n`);
  process.stdout.write(report);
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, report);
  writeFileSync(
    opts.out.replace(/\.md$/, '.json'),
    `${JSON.stringify(
      {
        opts,
        input: meta,
        relaySet: { dir: set.dir, files: set.files, totalBytes: set.totalBytes, masterFiles: set.masterFiles },
        runs: Object.fromEntries(runs),
        find: findOutcomes,
        micro,
      },
      null,
      2,
    )}\n`,
  );
  log(`report written to ${relative(repoRoot, opts.out)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
