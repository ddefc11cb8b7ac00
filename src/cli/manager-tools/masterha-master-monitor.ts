/**
 * `masterha_master_monitor`: the manager's start-up checks and master monitoring, without
 * the failover. When the master is dead it prints `Master <host> is dead!`,
 * `IP Address: <ip> Port: <port>` and `SSH: reachable|NOT reachable` (MHA never printed
 * the last one: dead code) and exits 20. It keeps the status file up to date, so
 * masterha_check_status and masterha_stop work on it as on a manager.
 */
import { promises as fsp } from 'node:fs';
import { loadConfig, type ServerConfig } from '../../manager/config/index.js';
import { ManagerLog } from '../../manager/log.js';
import { hostAccessConfig } from '../../manager/manager.js';
import { monitorMaster } from '../../manager/monitor.js';
import { StatusFile } from '../../manager/status-file.js';
import { HostAccessPool } from '../../remote/hosts.js';
import { bool, type OptionSpec, renderHelp, runMhaTool, str, type ToolIO } from '../node-tools/options.js';
import { logConfigSources, runStartupChecks, StartupCheckError } from './masterha-check-repl.js';

/** MHA's MASTER_DEAD_RC. */
export const MASTER_DEAD_RC = 20;

export const MASTER_MONITOR_SPECS: OptionSpec[] = [
  { name: 'conf', kind: 'string', value: 'FILE', help: 'application configuration (app1.cnf); required' },
  { name: 'global_conf', kind: 'string', value: 'FILE', help: 'global defaults', default: '/etc/masterha_default.cnf' },
  {
    name: 'manager_workdir',
    kind: 'string',
    value: 'DIR',
    help: 'where the status file goes (default: manager_workdir)',
  },
  { name: 'workdir', kind: 'string', value: 'DIR', help: 'same as --manager_workdir' },
  { name: 'manager_log', kind: 'string', value: 'FILE', help: 'log file (default: manager_log, else stderr)' },
  { name: 'log_output', kind: 'string', value: 'FILE', help: 'same as --manager_log' },
  { name: 'skip_ssh_check', kind: 'flag', help: 'do not test SSH at start-up' },
  { name: 'skip_check_ssh', kind: 'flag', help: 'same as --skip_ssh_check' },
  {
    name: 'ignore_fail_on_start',
    kind: 'flag',
    help: 'dead servers / broken replicas with ignore_fail=1 do not stop the start',
  },
  { name: 'interactive', kind: 'int', value: '0|1', help: 'accepted for compatibility; never asks' },
  { name: 'wait_on_monitor_error', kind: 'int', value: 'SEC', help: 'accepted for compatibility', default: '0' },
];

export interface MasterMonitorOptions {
  conf?: string;
  globalConf?: string;
  workdir?: string;
  logFile?: string;
  skipSshCheck?: boolean;
  ignoreFailOnStart?: boolean;
  signal?: AbortSignal;
}

export async function masterMonitorTool(o: MasterMonitorOptions, io: ToolIO): Promise<number> {
  if (!o.conf) {
    io.out('--conf=<server config file> must be set.');
    return 1;
  }
  let log = new ManagerLog(o.logFile);
  const pool = new HostAccessPool();
  let status: StatusFile | undefined;
  let master: ServerConfig | undefined;
  try {
    const config = loadConfig({ appFile: o.conf, globalFile: o.globalConf });
    log = new ManagerLog(o.logFile ?? config.app.managerLog, config.app.logLevel === 'debug' ? 'debug' : 'info');
    for (const s of config.servers) {
      log.addSecret(s.password.reveal());
      log.addSecret(s.replPassword?.reveal());
    }
    log.info('MHA::MasterMonitor version 0.58 (mha-ts).');
    logConfigSources(log, config);
    for (const w of config.warnings) log.warning(w.message);
    const workdir = o.workdir ?? config.app.managerWorkdir;
    await fsp.mkdir(workdir, { recursive: true, mode: 0o700 });
    status = new StatusFile(workdir, config.app.name);
    await status.set('INITIALIZING_MONITOR', '');
    const checked = await runStartupChecks({
      config,
      log,
      pool,
      checkReplHealth: false,
      skipSshCheck: o.skipSshCheck,
      ignoreFailOnStart: o.ignoreFailOnStart,
      allowDeadMaster: true,
    });
    master = checked.master;
    await pool.closeAll();
    const death = await monitorMaster({
      config,
      master,
      log,
      status,
      accessFor: (s) => pool.accessFor(hostAccessConfig(s)),
      signal: o.signal,
    });
    log.info('Master is down!');
    log.info('Terminating monitoring script.');
    await status.remove();
    io.out(`Master ${master.hostname} is dead!`);
    io.out(`IP Address: ${master.ip ?? master.hostname} Port: ${master.port}`);
    io.out(death.sshReachable ? 'SSH: reachable' : 'SSH: NOT reachable');
    return MASTER_DEAD_RC;
  } catch (err) {
    if (o.signal?.aborted) {
      log.info('Got terminate signal. Exit.');
      await status?.remove();
      return 1;
    }
    if (!(err instanceof StartupCheckError)) log.error((err as Error).message);
    log.error('Error happened on monitoring servers.');
    await status?.remove().catch(() => {});
    return 1;
  } finally {
    await pool.closeAll();
  }
}

export async function masterhaMasterMonitorMain(argv: string[], io?: ToolIO): Promise<number> {
  return runMhaTool({
    tool: 'masterha_master_monitor',
    argv,
    specs: MASTER_MONITOR_SPECS,
    io,
    help: () =>
      renderHelp({
        synopsis: 'masterha_master_monitor --conf=FILE [options]',
        description:
          "Runs the manager's start-up checks, then monitors the master until it is dead (confirmed through the " +
          'replicas, SSH and secondary_check_script), prints where it was and exits 20. No failover.',
        specs: MASTER_MONITOR_SPECS,
        exitCodes: [
          [1, 'start-up check failed, monitoring error, or stopped by a signal'],
          [20, 'the master is dead'],
        ],
      }),
    run: async (opts, _given, tio) => {
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      process.once('SIGHUP', stop);
      try {
        return await masterMonitorTool(
          {
            conf: str(opts, 'conf'),
            globalConf: str(opts, 'global_conf'),
            workdir: str(opts, 'manager_workdir') ?? str(opts, 'workdir'),
            logFile: str(opts, 'manager_log') ?? str(opts, 'log_output'),
            skipSshCheck: bool(opts, 'skip_ssh_check') || bool(opts, 'skip_check_ssh'),
            ignoreFailOnStart: bool(opts, 'ignore_fail_on_start'),
            signal: controller.signal,
          },
          tio,
        );
      } finally {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        process.off('SIGHUP', stop);
      }
    },
  });
}
