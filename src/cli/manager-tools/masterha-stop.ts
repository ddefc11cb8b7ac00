/**
 * `masterha_stop` / `mha stop`: stop the manager of an application. SIGTERM makes it log
 * `Got terminate signal. Exit.` and remove its status file; `--abort` follows with SIGKILL
 * after `--abort_timeout` seconds. A failover in progress is never interrupted without
 * `--abort`.
 *
 * MHA signals the manager's whole process group. A Node manager is not always a group
 * leader (started from a shell or a test runner it shares their group), so the group is
 * signalled only when the manager leads it; otherwise the pid alone.
 */
import { readFileSync, rmSync } from 'node:fs';
import { Status } from '../../manager/status-file.js';
import { int, type OptionSpec, renderHelp, runMhaTool, type ToolIO } from '../node-tools/options.js';
import {
  ADMIN_SPECS,
  type AdminToolOptions,
  adminOptionsFrom,
  errorPrefix,
  pidAlive,
  readAppStatus,
  selections,
} from './masterha-check-status.js';

export const STOP_SPECS: OptionSpec[] = [
  ...ADMIN_SPECS,
  {
    name: 'abort',
    kind: 'flag',
    help: 'kill the manager (SIGKILL) if it does not stop in time; also during a failover',
  },
  { name: 'abort_timeout', kind: 'int', value: 'SEC', help: 'how long to wait after SIGTERM', default: '5' },
];

/** The process group of a pid, from /proc/PID/stat (field 5). */
export function processGroupOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pgid = Number(fields[2]);
    return Number.isInteger(pgid) && pgid > 0 ? pgid : undefined;
  } catch {
    return undefined;
  }
}

/** Signal the manager: its process group when it leads one (MHA's `kill -SIG, getpgrp PID`), else the pid. */
function signalManager(pid: number, signal: NodeJS.Signals): boolean {
  const target = processGroupOf(pid) === pid ? -pid : pid;
  try {
    process.kill(target, signal);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function stopTool(
  o: AdminToolOptions & { abort?: boolean; abortTimeoutSec?: number },
  io: ToolIO,
): Promise<number> {
  let code = 0;
  for (const select of selections(o)) {
    const rc = await stopOne(select, o, io);
    if (rc !== 0) code = 1;
  }
  return code;
}

async function stopOne(
  select: () => ReturnType<ReturnType<typeof selections>[number]>,
  o: AdminToolOptions & { abort?: boolean; abortTimeoutSec?: number },
  io: ToolIO,
): Promise<number> {
  let app = o.app;
  try {
    const sel = select();
    app = sel.app;
    const st = await readAppStatus(sel, Number.MAX_SAFE_INTEGER);
    if (st.code === Status.NOT_RUNNING) {
      io.out(`MHA Manager is not running on ${sel.app}(${Status.NOT_RUNNING}:NOT_RUNNING).`);
      return 0;
    }
    if (st.code === Status.FAILOVER_RUNNING && !o.abort) {
      io.out(`Currently Failover is running on ${sel.app}. Should not stop.`);
      return 1;
    }
    const pid = st.pid;
    if (pid !== undefined && st.running && signalManager(pid, 'SIGTERM')) {
      const timeoutSec = o.abortTimeoutSec ?? 5;
      for (let left = timeoutSec * 1000; left > 0; left -= 100) {
        if (!pidAlive(pid)) {
          io.out(`Stopped ${sel.app} successfully.`);
          return 0;
        }
        await sleep(100);
      }
      if (!pidAlive(pid)) {
        io.out(`Stopped ${sel.app} successfully.`);
        return 0;
      }
      io.out(`Manager process ${pid} didn't stop in ${timeoutSec} seconds.`);
      if (o.abort && signalManager(pid, 'SIGKILL')) {
        // A killed manager cannot remove its own status file.
        for (let i = 0; i < 50 && pidAlive(pid); i++) await sleep(100);
        rmSync(sel.statusFile, { force: true });
        io.out(`Forced stopped ${sel.app}.`);
        return 0;
      }
    }
    io.out(`Failed to stop ${sel.app}.`);
    return 1;
  } catch (err) {
    io.warn(`${errorPrefix({ ...o, app })}${(err as Error).message}`);
    return 1;
  }
}

export async function masterhaStopMain(argv: string[], io?: ToolIO): Promise<number> {
  return runMhaTool({
    tool: 'masterha_stop',
    argv,
    specs: STOP_SPECS,
    io,
    help: () =>
      renderHelp({
        synopsis: 'masterha_stop --conf=FILE | --app=NAME [--status_dir=DIR] [--abort [--abort_timeout=SEC]]',
        description:
          'Stops the manager of an application: SIGTERM to the pid in its status file (its process group when it leads one), ' +
          'then waits for it to exit; it removes its status file. Refuses during a failover unless --abort; ' +
          'with --abort a manager that does not stop in --abort_timeout seconds is killed.',
        specs: STOP_SPECS,
        exitCodes: [
          [0, 'stopped (or was not running)'],
          [1, 'not stopped: failover running, still alive, or an error'],
        ],
      }),
    run: async (opts, _given, tio) =>
      stopTool(
        { ...adminOptionsFrom(opts), abort: opts.abort === true, abortTimeoutSec: int(opts, 'abort_timeout') },
        tio,
      ),
  });
}
