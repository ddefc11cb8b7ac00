/**
 * The daemon as the tests run it: `node bin/mha manager --config-dir …` as a real process
 * (built code, real signals), with its JSON log in a file and bounded waits on its API.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MHA, ROOT } from '../cli-run.js';

export interface DaemonProcess {
  child: ChildProcess;
  url: string;
  logFile: string;
  output: () => string;
  log: () => Array<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(timeoutMs?: number): Promise<void>;
}

export function startDaemon(opts: {
  configDir: string;
  port: number;
  logFile: string;
  tokenFile?: string;
  extra?: string[];
  env?: NodeJS.ProcessEnv;
}): DaemonProcess {
  const args = [
    MHA,
    'manager',
    '--config-dir',
    opts.configDir,
    '--listen',
    `127.0.0.1:${opts.port}`,
    '--log-file',
    opts.logFile,
    ...(opts.tokenFile ? ['--token-file', opts.tokenFile] : []),
    ...(opts.extra ?? []),
  ];
  const env = { ...process.env, ...opts.env };
  delete env.MHA_API_TOKEN;
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  child.stdout?.on('data', (c) => out.push(String(c)));
  child.stderr?.on('data', (c) => out.push(String(c)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const d: DaemonProcess = {
    child,
    url: `http://127.0.0.1:${opts.port}`,
    logFile: opts.logFile,
    output: () => out.join(''),
    log: () =>
      existsSync(opts.logFile)
        ? readFileSync(opts.logFile, 'utf8')
            .split('\n')
            .filter((l) => l.trim())
            .map((l) => JSON.parse(l) as Record<string, unknown>)
        : [],
    exited,
    async stop(timeoutMs = 30_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(t);
    },
  };
  return d;
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs: number,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function api<T = unknown>(
  url: string,
  path: string,
  opts: { token?: string; method?: string; body?: unknown } = {},
): Promise<{ status: number; body: T; text: string }> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${url}${path}`, {
    method: opts.method ?? 'GET',
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // metrics and pages are text
  }
  return { status: res.status, body: body as T, text };
}

/** The sample value of one Prometheus series (`name{labels} value`), or undefined. */
export function metricValue(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^[^{ ]+(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const got: Record<string, string> = {};
    for (const kv of (m[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) got[kv[1]] = kv[2];
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[2]);
  }
  return undefined;
}

export const pageDir = join(ROOT, 'src', 'service', 'topology-page');
