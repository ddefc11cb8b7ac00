/**
 * `masterha_check_status` / `mha status`: what the manager of one application is doing,
 * read from `<manager_workdir>/<app>.master_status.health` and the liveness of the pid in
 * it. Prints MHA's line for the state and exits with the status number (MHA's contract,
 * reference/mha-behaviour.md §1.5); `mha status --json` prints one JSON object instead.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { loadConfig } from '../../manager/config/index.js';
import { Status, StatusFile } from '../../manager/status-file.js';
import { bool, int, type OptionSpec, renderHelp, runMhaTool, str, type ToolIO } from '../node-tools/options.js';

/** MHA's default directory of `<app>.cnf` files for `--app` without `--conf`. */
export const DEFAULT_CONF_DIR = '/usr/local/masterha/conf';

export const ADMIN_SPECS: OptionSpec[] = [
  { name: 'conf', kind: 'string', value: 'FILE', help: 'application configuration (app1.cnf)' },
  { name: 'global_conf', kind: 'string', value: 'FILE', help: 'global defaults', default: '/etc/masterha_default.cnf' },
  {
    name: 'app',
    kind: 'string',
    value: 'NAME',
    help: `application name (without --conf and --workdir: ${DEFAULT_CONF_DIR}/NAME.cnf)`,
  },
  { name: 'status_dir', kind: 'string', value: 'DIR', help: 'where the status file is (default: manager_workdir)' },
  { name: 'workdir', kind: 'string', value: 'DIR', help: 'same as --status_dir' },
  { name: 'manager_workdir', kind: 'string', value: 'DIR', help: 'same as --status_dir' },
  { name: 'log_output', kind: 'string', value: 'FILE', help: 'manager log named in messages (default: manager_log)' },
  { name: 'manager_log', kind: 'string', value: 'FILE', help: 'same as --log_output' },
  { name: 'all', kind: 'flag', help: 'every application with a daemontools service /service/masterha_<app>' },
  { name: 'basedir', kind: 'string', value: 'DIR', help: 'with --all: status directory is DIR/<app>' },
  { name: 'baselog', kind: 'string', value: 'DIR', help: 'with --all and --basedir: log is DIR/<app>/<app>.log' },
];

export const CHECK_STATUS_SPECS: OptionSpec[] = [
  ...ADMIN_SPECS,
  {
    name: 'ping_limit',
    kind: 'int',
    value: 'SEC',
    help: 'PING_OK older than this reads TIMESTAMP_OLD (default: 10, or 2 × ping_interval when that is larger)',
  },
];

/** Which application, where its status file is, and what it logs to. */
export interface AppSelection {
  app: string;
  statusDir: string;
  statusFile: string;
  logFile?: string;
  conf?: string;
  /** From the configuration, when known. */
  pingInterval?: number;
}

export class AdminError extends Error {}

export interface AdminOptions {
  conf?: string;
  globalConf?: string;
  app?: string;
  statusDir?: string;
  logFile?: string;
}

/** MHA's ManagerAdmin::init: the status directory from --status_dir or the configuration's manager_workdir. */
export function selectApp(o: AdminOptions): AppSelection {
  let conf = o.conf;
  if (o.app && !conf && !o.statusDir) conf = join(DEFAULT_CONF_DIR, `${o.app}.cnf`);
  let statusDir = o.statusDir;
  let logFile = o.logFile;
  let app = o.app;
  let pingInterval: number | undefined;
  if (conf) {
    if (!existsSync(conf)) throw new AdminError(`${conf} not found!`);
    const config = loadConfig({ appFile: conf, globalFile: o.globalConf });
    statusDir ??= config.app.managerWorkdir;
    logFile ??= config.app.managerLog;
    // The status file is named after the conf file, whatever --app says (MHA FileStatus).
    app = config.app.name;
    pingInterval = config.app.pingInterval;
  }
  if (!statusDir) {
    throw new AdminError(
      conf
        ? `Failed to get status file directory(set in workdir parameter) from ${conf}.`
        : 'Either --conf or --status_dir must be set.',
    );
  }
  if (!existsSync(statusDir) || !statSync(statusDir).isDirectory())
    throw new AdminError(`Directory ${statusDir} not found!`);
  if (!app) throw new AdminError('app is not defined or could not be fetched from conf file!');
  return {
    app,
    statusDir,
    statusFile: join(statusDir, `${app}.master_status.health`),
    logFile,
    conf,
    pingInterval,
  };
}

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Children of a process (MHA: `ps --ppid`), from /proc. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

export interface AppStatus {
  app: string;
  code: number;
  status: string;
  pid?: number;
  master?: string;
  running: boolean;
  children?: number[];
  /** Seconds since the status file was last touched. */
  ageSec?: number;
  statusFile: string;
  logFile?: string;
}

const NAME_BY_CODE = new Map<number, string>(Object.entries(Status).map(([k, v]) => [v, k]));

/** MHA's check_status_file_pid. */
export async function readAppStatus(sel: AppSelection, pingLimitSec: number): Promise<AppStatus> {
  const base = { app: sel.app, statusFile: sel.statusFile, logFile: sel.logFile };
  if (!existsSync(sel.statusFile)) return { ...base, code: Status.NOT_RUNNING, status: 'NOT_RUNNING', running: false };
  const st = await StatusFile.read(sel.statusFile);
  if (!st) throw new AdminError(`Got unknown status in ${sel.statusFile}`);
  const master = st.master;
  if (!pidAlive(st.pid)) {
    const children = childPids(st.pid);
    if (children.length === 0)
      return { ...base, code: Status.NOT_RUNNING, status: 'NOT_RUNNING', pid: st.pid, master, running: false };
    return {
      ...base,
      code: Status.PARTIALLY_RUNNING,
      status: 'PARTIALLY_RUNNING',
      pid: st.pid,
      master,
      running: false,
      children,
    };
  }
  const ageSec = Math.max(0, Math.floor((Date.now() - st.mtime.getTime()) / 1000));
  const known = NAME_BY_CODE.get(st.code);
  if (known === undefined || known !== st.name) throw new AdminError(`Got unknown status: ${st.code}:${st.name}`);
  if (st.code === Status.PING_OK && ageSec > pingLimitSec) {
    return { ...base, code: Status.TIMESTAMP_OLD, status: 'TIMESTAMP_OLD', pid: st.pid, master, running: true, ageSec };
  }
  return { ...base, code: st.code, status: st.name, pid: st.pid, master, running: true, ageSec };
}

/** MHA's ManagerAdmin::check_status lines. */
export function statusLines(s: AppStatus): string[] {
  const tag = `${s.code}:${s.status}`;
  const master = s.master !== undefined ? `master:${s.master}` : '';
  const check = s.logFile ? [`Check ${s.logFile} for details.`] : [];
  switch (s.status) {
    case 'PING_OK':
      return [`${s.app} (pid:${s.pid}) is running(${tag}), ${master}`];
    case 'NOT_RUNNING':
      return [`${s.app} is stopped(${tag}).`];
    case 'PARTIALLY_RUNNING':
      return [
        `Main process is not running, but child process is running on ${s.app} (child pid: ${(s.children ?? []).join(' ')}) (${tag}). Check ps output for details and kill it.`,
      ];
    case 'INITIALIZING_MONITOR':
      return [
        `${s.app} monitoring program is now on initialization phase(${tag}). Wait for a while and try checking again.`,
      ];
    case 'PING_FAILING':
    case 'PING_FAILED':
      return [`${s.app} master maybe down(${tag}). ${master}`, ...check];
    case 'RETRYING_MONITOR':
      // MHA prints this one without a newline (a bug); a line is a line here.
      return [
        `${s.app} monitoring waits for retrying to monitor master again(${tag}). Wait for a while and try checking again.`,
      ];
    case 'CONFIG_ERROR':
      return [`${s.app} servers are not correctly configured(${tag}).`, ...check];
    case 'TIMESTAMP_OLD':
      return [
        `${s.statusFile} behinds ${s.ageSec} seconds!`,
        `${s.app} is running, but master_ping.health is too old(${tag}). Maybe process hangs?${master ? ` ${master}` : ''}`,
      ];
    case 'FAILOVER_RUNNING':
      return [`${s.app} master is down and failover is running(${tag}). ${master}`, ...check];
    case 'FAILOVER_ERROR':
      return [`${s.app} master is down and failover was not successful(${tag}). ${master}`, ...check];
    default:
      return [`Unexpected error on ${s.app}.`];
  }
}

export interface AdminToolOptions extends AdminOptions {
  all?: boolean;
  basedir?: string;
  baselog?: string;
}

/** The applications to act on: one, or with --all every /service/masterha_<app> (MHA's daemontools layout). */
export function selections(o: AdminToolOptions): Array<() => AppSelection> {
  if (!o.all) return [() => selectApp(o)];
  let apps: string[] = [];
  try {
    apps = readdirSync('/service')
      .filter((d) => d.startsWith('masterha_'))
      .map((d) => d.slice('masterha_'.length))
      .sort();
  } catch {
    apps = [];
  }
  return apps.map((app) => () => {
    if (o.basedir) {
      return selectApp({
        app,
        statusDir: join(o.basedir, app),
        logFile: o.baselog ? join(o.baselog, app, `${app}.log`) : undefined,
        globalConf: o.globalConf,
      });
    }
    return selectApp({ conf: join(DEFAULT_CONF_DIR, `${app}.cnf`), globalConf: o.globalConf });
  });
}

export function adminOptionsFrom(opts: Record<string, string | number | boolean | undefined>): AdminToolOptions {
  return {
    conf: str(opts, 'conf'),
    globalConf: str(opts, 'global_conf'),
    app: str(opts, 'app'),
    statusDir: str(opts, 'status_dir') ?? str(opts, 'workdir') ?? str(opts, 'manager_workdir'),
    logFile: str(opts, 'log_output') ?? str(opts, 'manager_log'),
    all: bool(opts, 'all'),
    basedir: str(opts, 'basedir'),
    baselog: str(opts, 'baselog'),
  };
}

export function errorPrefix(o: AdminOptions): string {
  if (o.conf) return `Got error on conf ${o.conf}: `;
  if (o.app) return `Got error on app ${o.app}: `;
  return '';
}

/** Both spellings. Exit code: the status number (1 on error; with --all, 1 when any app is not PING_OK). */
export async function checkStatusTool(
  o: AdminToolOptions & { pingLimit?: number; json?: boolean },
  io: ToolIO,
): Promise<number> {
  const results: Array<AppStatus | { app?: string; error: string }> = [];
  let code = 0;
  const sels = selections(o);
  for (const select of sels) {
    let ret: number;
    try {
      const sel = select();
      const limit = o.pingLimit ?? Math.max(10, 2 * (sel.pingInterval ?? 0));
      const s = await readAppStatus(sel, limit);
      results.push(s);
      if (!o.json) for (const l of statusLines(s)) io.out(l);
      ret = s.code;
    } catch (err) {
      const msg = `${errorPrefix(o)}${(err as Error).message}`;
      results.push({ app: o.app ?? (o.conf ? basename(o.conf).replace(/\.[^.]*$/, '') : undefined), error: msg });
      if (!o.json) io.warn(msg);
      ret = 1;
    }
    code = o.all ? (ret !== 0 ? 1 : code) : ret;
  }
  if (o.json) {
    const shaped = results.map((r) =>
      'error' in r
        ? { app: r.app ?? null, error: r.error, status_code: 1, running: false }
        : {
            app: r.app,
            pid: r.pid ?? null,
            status_code: r.code,
            status: r.status,
            master: r.master ?? null,
            running: r.running,
            ...(r.ageSec !== undefined ? { age_sec: r.ageSec } : {}),
            status_file: r.statusFile,
          },
    );
    io.out(JSON.stringify(o.all ? shaped : (shaped[0] ?? null)));
  }
  return code;
}

export async function masterhaCheckStatusMain(argv: string[], io?: ToolIO): Promise<number> {
  return runMhaTool({
    tool: 'masterha_check_status',
    argv,
    specs: CHECK_STATUS_SPECS,
    io,
    help: () =>
      renderHelp({
        synopsis: 'masterha_check_status --conf=FILE | --app=NAME [--status_dir=DIR] [options]',
        description:
          "Reports what the manager of an application is doing, from <manager_workdir>/<app>.master_status.health and whether the pid in it is alive. The exit code is MHA's status number.",
        specs: CHECK_STATUS_SPECS,
        exitCodes: [
          [0, 'PING_OK: monitoring, master answers'],
          [1, 'error (configuration, status directory)'],
          [2, 'NOT_RUNNING'],
          [3, 'PARTIALLY_RUNNING: main process gone, a child left'],
          [10, 'INITIALIZING_MONITOR'],
          [20, 'PING_FAILING'],
          [21, 'PING_FAILED'],
          [30, 'RETRYING_MONITOR'],
          [31, 'CONFIG_ERROR'],
          [32, 'TIMESTAMP_OLD: running, but the status file is older than --ping_limit'],
          [50, 'FAILOVER_RUNNING'],
          [51, 'FAILOVER_ERROR'],
        ],
      }),
    run: async (opts, _given, tio) =>
      checkStatusTool({ ...adminOptionsFrom(opts), pingLimit: int(opts, 'ping_limit') }, tio),
  });
}
