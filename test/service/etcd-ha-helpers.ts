/**
 * Managers as separate processes for the manager-HA tests: each with its own copy of the
 * application file (its own manager_log and manager_workdir, as on its own host) pointing
 * at the etcd lab, started from the sources with tsx, optionally inside a network
 * namespace, and watched through its manager log.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MAIN = join(REPO_ROOT, 'test/service/etcd-manager-main.ts');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Managers still running are killed if the test process exits without stopping them. */
const live = new Set<ChildProcess>();
let exitHook = false;
function killLive(): void {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      // gone
    }
  }
}

export interface ManagerProcess {
  name: string;
  dir: string;
  confFile: string;
  logFile: string;
  workdir: string;
  child: ChildProcess;
  /** stdout + stderr (the log itself goes to logFile). */
  output(): string;
  log(): string;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  running(): boolean;
}

/**
 * The cluster's app1.cnf for one manager: its own manager_workdir and manager_log under
 * `<baseDir>/<name>/`, plus the HA settings in [server default]. The file keeps the name
 * app1.cnf, since the application's name (and so its etcd keys) comes from it.
 */
export function managerConf(baseConf: string, baseDir: string, name: string, extra: string[]): ManagerPaths {
  const dir = join(baseDir, name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const workdir = join(dir, 'work');
  const logFile = join(dir, 'manager.log');
  const lines = readFileSync(baseConf, 'utf8').split('\n');
  const out: string[] = [];
  for (const line of lines) {
    if (/^manager_workdir=/.test(line)) out.push(`manager_workdir=${workdir}`);
    else if (/^manager_log=/.test(line)) out.push(`manager_log=${logFile}`);
    else out.push(line);
    if (line.trim() === '[server default]') out.push(...extra);
  }
  const confFile = join(dir, 'app1.cnf');
  writeFileSync(confFile, out.join('\n'), { mode: 0o600 });
  writeFileSync(logFile, '');
  return { dir, confFile, logFile, workdir };
}

export interface ManagerPaths {
  dir: string;
  confFile: string;
  logFile: string;
  workdir: string;
}

export function startManager(
  name: string,
  paths: ManagerPaths,
  opts: { netns?: string; args?: string[]; daemon?: { port: number } } = {},
): ManagerProcess {
  // The daemon (`--config-dir`) reads every *.cnf of the manager's directory: just app1.cnf.
  const mode = opts.daemon
    ? [
        '--config-dir',
        paths.dir,
        '--listen',
        `127.0.0.1:${opts.daemon.port}`,
        '--log-file',
        join(paths.dir, 'daemon.log'),
      ]
    : [`--conf=${paths.confFile}`];
  const argv = [process.execPath, '--import', 'tsx', MAIN, 'manager', ...mode, ...(opts.args ?? [])];
  const full = opts.netns ? ['ip', 'netns', 'exec', opts.netns, ...argv] : argv;
  const child = spawn(full[0], full.slice(1), {
    cwd: REPO_ROOT,
    env: { ...process.env, TSX_TSCONFIG_PATH: join(REPO_ROOT, 'tsconfig.test.json') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (c: Buffer) => {
    out = (out + c.toString()).slice(-50_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHook) {
    exitHook = true;
    process.on('exit', killLive);
  }
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    name,
    ...paths,
    child,
    output: () => out,
    log: () => (existsSync(paths.logFile) ? readFileSync(paths.logFile, 'utf8') : ''),
    exited,
    running,
    async kill(signal = 'SIGKILL') {
      if (!running()) return;
      child.kill(signal);
      await Promise.race([exited, sleep(15_000)]);
    },
  };
}

/**
 * Polls the managers' logs (every 50 ms) until one of them has a line matching `re` after
 * its `from` offset; returns which manager and when it was seen.
 */
export async function waitForLine(
  managers: ManagerProcess[],
  re: RegExp,
  timeoutMs: number,
  from: Map<string, number> = new Map(),
): Promise<{ manager: ManagerProcess; line: string; seenAt: number }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const m of managers) {
      const text = m.log().slice(from.get(m.name) ?? 0);
      const line = text.split('\n').find((l) => re.test(l));
      if (line !== undefined) return { manager: m, line, seenAt: Date.now() };
    }
    await sleep(50);
  }
  const tails = managers.map(
    (m) => `--- ${m.name} log\n${m.log().slice(-3000)}\n--- ${m.name} output\n${m.output().slice(-2000)}`,
  );
  throw new Error(`no manager logged ${re} within ${timeoutMs} ms\n${tails.join('\n')}`);
}

/** Where each manager's log ends now (for waitForLine's `from`). */
export function logOffsets(managers: ManagerProcess[]): Map<string, number> {
  return new Map(managers.map((m) => [m.name, m.log().length]));
}

export const LEADING = /Manager HA: leading app1 with lease/;
export const MONITORING = /Ping\(SELECT\) succeeded, waiting until MySQL doesn't respond/;
