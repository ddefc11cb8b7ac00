/**
 * The MHA manager tools under their `mha` names: `mha check-ssh`, `mha check-repl`,
 * `mha status`, `mha stop`, `mha conf-host` — kebab-case options, the same output lines
 * and exit codes as the MHA spellings (bin/masterha_*).
 */
import type { Command } from 'commander';
import { CliError } from '../exit-codes.js';
import { addKebabOptions, fromCamel, int, type OptionSpec, stdIO, type ToolIO } from '../node-tools/options.js';
import { registerAckCommand, runDaemonMain, statusViaApi, switchViaApi, wantsDaemon } from '../service-commands.js';
import { CHECK_REPL_SPECS, checkReplOptionsFrom, checkReplTool } from './masterha-check-repl.js';
import { CHECK_SSH_SPECS, checkSshTool } from './masterha-check-ssh.js';
import { adminOptionsFrom, CHECK_STATUS_SPECS, checkStatusTool } from './masterha-check-status.js';
import { CONF_HOST_SPECS, confHostOptionsFrom, confHostTool } from './masterha-conf-host.js';
import { masterhaManagerMain } from './masterha-manager.js';
import { masterhaMasterMonitorMain } from './masterha-master-monitor.js';
import { masterSwitchTool, SWITCH_SPECS } from './masterha-master-switch.js';
import { masterhaSecondaryCheckMain } from './masterha-secondary-check.js';
import { STOP_SPECS, stopTool } from './masterha-stop.js';

export { masterhaCheckReplMain } from './masterha-check-repl.js';
export { masterhaCheckSshMain } from './masterha-check-ssh.js';
export { masterhaCheckStatusMain } from './masterha-check-status.js';
export { masterhaConfHostMain } from './masterha-conf-host.js';
export { masterhaMasterMonitorMain } from './masterha-master-monitor.js';
export { masterhaMasterSwitchMain } from './masterha-master-switch.js';
export { masterhaSecondaryCheckMain } from './masterha-secondary-check.js';
export { masterhaStopMain } from './masterha-stop.js';

/** Options that exist only for MHA compatibility (aliases, no-ops) stay off the modern spelling. */
const COMPAT_ONLY = new Set([
  'skip_ssh_check',
  'workdir',
  'manager_workdir',
  'log_output',
  'interactive',
  'status_dir',
]);

function modernSpecs(specs: OptionSpec[], keep: string[] = []): OptionSpec[] {
  return specs.filter((s) => !COMPAT_ONLY.has(s.name) || keep.includes(s.name));
}

function exitCodesHelp(codes: Array<[number, string]>): string {
  return `\nExit codes:\n${codes.map(([c, m]) => `  ${String(c).padEnd(3)} ${m}`).join('\n')}`;
}

/** Runs a tool; a non-zero exit code ends `mha` with that code and no extra message (the tool said it). */
async function runWithExitCode(run: (io: ToolIO) => Promise<number>): Promise<void> {
  let code: number;
  try {
    code = await run(stdIO);
  } catch (err) {
    throw new CliError((err as Error).message, 1);
  }
  if (code !== 0) throw new CliError('', code);
}

export function registerManagerToolCommands(program: Command): void {
  const checkSsh = program
    .command('check-ssh')
    .description("check SSH from the manager to every configured host (MHA's masterha_check_ssh)");
  addKebabOptions(checkSsh, CHECK_SSH_SPECS);
  checkSsh.addHelpText(
    'after',
    exitCodesHelp([
      [0, 'All SSH connection tests passed successfully.'],
      [1, 'SSH Configuration Check Failed!'],
    ]),
  );
  checkSsh.action(async (raw: Record<string, unknown>) => {
    const o = fromCamel(raw);
    await runWithExitCode((io) =>
      checkSshTool({ conf: o.conf as string, globalConf: o.global_conf as string, mesh: o.mesh === true }, io),
    );
  });

  const checkRepl = program
    .command('check-repl')
    .description("the manager's start-up checks and replication health (MHA's masterha_check_repl)");
  addKebabOptions(checkRepl, modernSpecs(CHECK_REPL_SPECS));
  checkRepl.addHelpText(
    'after',
    exitCodesHelp([
      [0, 'MySQL Replication Health is OK.'],
      [1, 'MySQL Replication Health is NOT OK!'],
    ]),
  );
  checkRepl.action(async (raw: Record<string, unknown>) => {
    await runWithExitCode((io) => checkReplTool(checkReplOptionsFrom(fromCamel(raw)), io));
  });

  const status = program
    .command('status')
    .description(
      "what the manager of an application is doing (MHA's masterha_check_status); without --conf: every cluster of the daemon, through its API",
    );
  addKebabOptions(status, modernSpecs(CHECK_STATUS_SPECS, ['status_dir']));
  status.option('--json', 'print {app, pid, status_code, status, master, running} as JSON');
  // Without --conf / --app / --all the daemon is asked instead (mha manager --config-dir).
  status.option('--url <URL>', 'without --conf: the daemon API (default: MHA_API_URL or http://127.0.0.1:9645)');
  status.option('--token-file <FILE>', "without --conf: the daemon's bearer token (mode 0600); also MHA_API_TOKEN");
  status.option('--cluster <NAME>', 'without --conf: only this cluster of the daemon');
  status.addHelpText(
    'after',
    exitCodesHelp([
      [0, 'PING_OK'],
      [1, 'error'],
      [2, 'NOT_RUNNING'],
      [3, 'PARTIALLY_RUNNING'],
      [10, 'INITIALIZING_MONITOR'],
      [20, 'PING_FAILING'],
      [21, 'PING_FAILED'],
      [30, 'RETRYING_MONITOR'],
      [31, 'CONFIG_ERROR'],
      [32, 'TIMESTAMP_OLD'],
      [50, 'FAILOVER_RUNNING'],
      [51, 'FAILOVER_ERROR'],
    ]),
  );
  status.action(async (raw: Record<string, unknown>) => {
    const o = fromCamel(raw);
    if (!o.conf && !o.app && !o.all && !o.status_dir) {
      await statusViaApi({
        url: o.url as string | undefined,
        tokenFile: o.token_file as string | undefined,
        cluster: o.cluster as string | undefined,
        json: o.json === true,
      });
      return;
    }
    await runWithExitCode((io) =>
      checkStatusTool({ ...adminOptionsFrom(o), pingLimit: int(o, 'ping_limit'), json: o.json === true }, io),
    );
  });

  const stop = program.command('stop').description("stop the manager of an application (MHA's masterha_stop)");
  addKebabOptions(stop, modernSpecs(STOP_SPECS, ['status_dir']));
  stop.addHelpText(
    'after',
    exitCodesHelp([
      [0, 'stopped, or was not running'],
      [1, 'not stopped'],
    ]),
  );
  stop.action(async (raw: Record<string, unknown>) => {
    const o = fromCamel(raw);
    await runWithExitCode((io) =>
      stopTool({ ...adminOptionsFrom(o), abort: o.abort === true, abortTimeoutSec: int(o, 'abort_timeout') }, io),
    );
  });

  const confHost = program
    .command('conf-host')
    .description("add or delete a server block in an application configuration (MHA's masterha_conf_host)");
  addKebabOptions(confHost, CONF_HOST_SPECS);
  confHost.addHelpText(
    'after',
    exitCodesHelp([
      [0, 'written, deleted, or not found'],
      [1, 'usage or validation error'],
    ]),
  );
  confHost.action(async (raw: Record<string, unknown>) => {
    await runWithExitCode((io) => confHostTool(confHostOptionsFrom(fromCamel(raw)), io));
  });

  const sw = program
    .command('switch')
    .description(
      "planned switchover (--master-state=alive) or manual dead-master failover (--master-state=dead) (MHA's masterha_master_switch); --cluster NAME: a planned switch through the daemon's API",
    );
  addKebabOptions(sw, modernSpecs(SWITCH_SPECS, ['workdir']));
  sw.option('--cluster <NAME>', "planned switch of a daemon's cluster, through its API (with --new-master)");
  sw.option('--new-master <HOST[:PORT]>', 'with --cluster: promote this replica (default: chosen like MHA)');
  sw.option('--url <URL>', 'with --cluster: the daemon API (default: MHA_API_URL or http://127.0.0.1:9645)');
  sw.option('--token-file <FILE>', "with --cluster: the daemon's bearer token (mode 0600); also MHA_API_TOKEN");
  sw.option('--json', 'with --cluster: print the switch report as JSON');
  sw.addHelpText(
    'after',
    exitCodesHelp([
      [
        0,
        'Switching master to X completed successfully. / Master failover to X completed successfully. (or --check-only passed)',
      ],
      [1, 'error; an online switch that failed before the new master opened was rolled back'],
      [10, 'done, but switching / recovering some replicas failed'],
    ]),
  );
  sw.action(async (raw: Record<string, unknown>) => {
    if (raw.cluster) {
      await switchViaApi({
        cluster: String(raw.cluster),
        newMaster: raw.newMaster as string | undefined,
        origMasterIsNewSlave: raw.origMasterIsNewSlave === true,
        url: raw.url as string | undefined,
        tokenFile: raw.tokenFile as string | undefined,
        json: raw.json === true,
      });
      return;
    }
    await runWithExitCode((io) => masterSwitchTool(fromCamel(raw), io));
  });

  // The remaining MHA commands under `mha` names, with MHA's own option parsing (either
  // spelling: --conf=FILE, --ignore-last-failover, --ignore_last_failover …).
  const passThrough: Array<[string, string, (argv: string[]) => Promise<number>]> = [
    [
      'manager',
      "monitor the master and fail over when it dies, then keep monitoring (MHA's masterha_manager); " +
        '--config-dir DIR runs the daemon for every DIR/*.cnf (mha manager --config-dir DIR --help)',
      (a) => (wantsDaemon(a) ? runDaemonMain(a) : masterhaManagerMain(a)),
    ],
    [
      'monitor',
      "monitor the master until it dies, exit 20 (MHA's masterha_master_monitor)",
      (a) => masterhaMasterMonitorMain(a),
    ],
    [
      'secondary-check',
      "check the master from other hosts over SSH (MHA's masterha_secondary_check)",
      (a) => masterhaSecondaryCheckMain(a),
    ],
  ];
  registerAckCommand(program);

  for (const [name, description, main] of passThrough) {
    program
      .command(name)
      .description(`${description}; --help lists the options`)
      .helpOption(false)
      .allowUnknownOption()
      .allowExcessArguments()
      .argument('[options...]')
      .action(async (args: string[]) => {
        await runWithExitCode(() => main(args));
      });
  }
}
