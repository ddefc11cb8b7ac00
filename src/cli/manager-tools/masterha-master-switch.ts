import { deleteBlock, loadConfig } from '../../manager/config/index.js';
import { runDeadMasterFailover } from '../../manager/failover.js';
import { parseErrantPolicy } from '../../manager/gtid.js';
import { ManagerLog } from '../../manager/log.js';
import { hostAccessConfig } from '../../manager/manager.js';
import { runOnlineSwitch, type WriteBlockMode } from '../../manager/switchover.js';
import { HostAccessPool } from '../../remote/hosts.js';
import {
  bool,
  int,
  type OptionSpec,
  type ParsedOptions,
  renderHelp,
  runMhaTool,
  str,
  type ToolIO,
} from '../node-tools/options.js';

export const SWITCH_SPECS: OptionSpec[] = [
  { name: 'conf', kind: 'string', value: 'FILE', help: 'application configuration; required' },
  { name: 'global_conf', kind: 'string', value: 'FILE', help: 'global defaults', default: '/etc/masterha_default.cnf' },
  {
    name: 'master_state',
    kind: 'string',
    value: 'dead|alive',
    help: 'dead: fail over from a dead master; alive: planned switchover',
  },
  {
    name: 'dead_master_host',
    kind: 'string',
    value: 'HOST',
    help: 'the dead master (hostname as in --conf); required with dead',
  },
  {
    name: 'dead_master_ip',
    kind: 'string',
    value: 'IP',
    help: 'accepted for compatibility (the configured ip is used)',
  },
  { name: 'dead_master_port', kind: 'int', value: 'PORT', help: 'the dead master port', default: '3306' },
  { name: 'new_master_host', kind: 'string', value: 'HOST', help: 'promote this replica instead of choosing one' },
  { name: 'new_master_port', kind: 'int', value: 'PORT', help: 'its port', default: '3306' },
  {
    name: 'interactive',
    kind: 'int',
    value: '0|1',
    help: 'accepted for compatibility; mha-ts never asks',
    default: '1',
  },
  { name: 'ignore_last_failover', kind: 'flag', help: 'do not refuse because of a recent or failed previous failover' },
  {
    name: 'last_failover_minute',
    kind: 'int',
    value: 'N',
    help: 'a failover this recent refuses another one',
    default: '480',
  },
  {
    name: 'remove_dead_master_conf',
    kind: 'flag',
    help: "after success, delete the dead master's block from --conf (comments kept)",
  },
  { name: 'skip_save_master_binlog', kind: 'flag', help: "do not read the dead master's binlog" },
  { name: 'skip_change_master', kind: 'flag', help: 'recover the replicas but do not repoint them' },
  { name: 'skip_disable_read_only', kind: 'flag', help: 'leave read_only=1 on the new master' },
  {
    name: 'ssh_reachable',
    kind: 'int',
    value: '0|1|2',
    help: "is the dead master's host reachable over SSH (2: check now)",
    default: '2',
  },
  { name: 'wait_on_failover_error', kind: 'int', value: 'SEC', help: 'accepted for compatibility', default: '0' },
  {
    name: 'errant_transactions',
    kind: 'string',
    value: 'refuse|exclude|ignore',
    help: 'GTID topologies: a replica holding GTIDs its master never had blocks the failover (refuse), is never promoted or repointed (exclude), or is ignored as MHA did',
    default: 'refuse',
  },
  {
    name: 'gtid_wait_timeout',
    kind: 'int',
    value: 'SEC',
    help: 'bound on every GTID wait (MASTER_GTID_WAIT / WAIT_FOR_EXECUTED_GTID_SET)',
    default: '60',
  },
  // --master_state=alive (planned switchover)
  { name: 'check_only', kind: 'flag', help: 'alive: run the checks only, change nothing' },
  {
    name: 'orig_master_is_new_slave',
    kind: 'flag',
    help: 'alive: after the switch the old master replicates from the new one',
  },
  {
    name: 'running_updates_limit',
    kind: 'int',
    value: 'SEC',
    help: 'alive: refuse if an update on the master runs longer, or a replica lags more (unless --seconds_behind_master)',
    default: '1',
  },
  {
    name: 'running_seconds_limit',
    kind: 'int',
    value: 'SEC',
    help: 'alive: refuse if a query on the new master has run this long',
    default: '10',
  },
  { name: 'seconds_behind_master', kind: 'int', value: 'SEC', help: 'alive: replication delay limit' },
  {
    name: 'skip_lock_all_tables',
    kind: 'flag',
    help: 'alive: block writes with read_only only (= --write_block=read_only)',
  },
  {
    name: 'write_block',
    kind: 'string',
    value: 'ftwrl|kill|read_only',
    help: 'alive: after read_only=1, FLUSH TABLES WITH READ LOCK (privileged writers wait), or kill every client session (no global lock, clients reconnect), or nothing more',
    default: 'ftwrl',
  },
  {
    name: 'flush_tables',
    kind: 'int',
    value: '0|1|2',
    help: 'alive: FLUSH NO_WRITE_TO_BINLOG TABLES on the master before the switch (0: no)',
    default: '2',
  },
  {
    name: 'catchup_timeout',
    kind: 'int',
    value: 'SEC',
    help: 'alive: bound on the new master catching up while writes are blocked; the switch rolls back after it',
    default: '10',
  },
  {
    name: 'lock_wait_timeout',
    kind: 'int',
    value: 'SEC',
    help: 'alive: bound on read_only / FLUSH TABLES WITH READ LOCK waiting for running statements',
    default: '3',
  },
  {
    name: 'remove_orig_master_conf',
    kind: 'flag',
    help: "alive: after success (without --orig_master_is_new_slave), delete the old master's block from --conf",
  },
  { name: 'workdir', kind: 'string', value: 'DIR', help: 'where the JSON report goes (default: manager_workdir)' },
  { name: 'manager_workdir', kind: 'string', value: 'DIR', help: 'same as --workdir' },
];

/** --master_state=alive: the planned switch. */
export async function onlineSwitchTool(conf: string, opts: ParsedOptions, io: ToolIO): Promise<number> {
  const config = loadConfig({ appFile: conf, globalFile: str(opts, 'global_conf') });
  const workdir = str(opts, 'workdir') ?? str(opts, 'manager_workdir');
  if (workdir) config.app.managerWorkdir = workdir;
  // MHA's online switch logs to the terminal only.
  const log = new ManagerLog(undefined, config.app.logLevel === 'debug' ? 'debug' : 'info');
  const writeBlock = (str(opts, 'write_block') ??
    (bool(opts, 'skip_lock_all_tables') ? 'read_only' : 'ftwrl')) as WriteBlockMode;
  if (!['ftwrl', 'kill', 'read_only'].includes(writeBlock)) {
    io.warn('--write_block must be ftwrl, kill or read_only.');
    return 1;
  }
  const newHost = str(opts, 'new_master_host');
  const report = await runOnlineSwitch({
    config,
    log,
    newMaster: newHost ? { host: newHost, port: int(opts, 'new_master_port') ?? 3306 } : undefined,
    origMasterIsNewSlave: bool(opts, 'orig_master_is_new_slave'),
    checkOnly: bool(opts, 'check_only'),
    runningUpdatesLimitSec: int(opts, 'running_updates_limit'),
    runningSecondsLimitSec: int(opts, 'running_seconds_limit'),
    secondsBehindMaster: int(opts, 'seconds_behind_master'),
    flushTables: (int(opts, 'flush_tables') ?? 2) !== 0,
    writeBlock,
    catchUpTimeoutSec: int(opts, 'catchup_timeout'),
    lockWaitTimeoutSec: int(opts, 'lock_wait_timeout'),
    errantTransactions: parseErrantPolicy(str(opts, 'errant_transactions')),
  });
  if (
    report.exitCode === 0 &&
    !report.checkOnly &&
    (bool(opts, 'remove_orig_master_conf') || bool(opts, 'remove_dead_master_conf')) &&
    !bool(opts, 'orig_master_is_new_slave')
  ) {
    const orig = config.servers.find((s) => report.origMaster?.startsWith(`${s.hostname}(`));
    if (orig) log.info(deleteBlock(conf, orig.id).message);
  }
  if (report.writeBlock?.ms !== undefined) io.out(`Write-block window: ${report.writeBlock.ms} ms`);
  return report.exitCode;
}

/** Both modes of masterha_master_switch / `mha switch`, from MHA-named options. */
export async function masterSwitchTool(opts: ParsedOptions, io: ToolIO): Promise<number> {
  const conf = str(opts, 'conf');
  if (!conf) {
    io.warn('--conf=<server config file> must be set.');
    return 1;
  }
  const state = str(opts, 'master_state');
  if (state === 'alive') return onlineSwitchTool(conf, opts, io);
  if (state !== 'dead') {
    io.warn('--master_state=dead or --master_state=alive must be set.');
    return 1;
  }
  const config = loadConfig({ appFile: conf, globalFile: str(opts, 'global_conf') });
  const host = str(opts, 'dead_master_host');
  const port = int(opts, 'dead_master_port') ?? 3306;
  if (!host) {
    io.warn('--dead_master_host=<dead master hostname> must be set.');
    return 1;
  }
  const dead = config.servers.find((s) => (s.hostname === host || s.ip === host) && s.port === port);
  if (!dead) {
    io.warn(`Detected dead master ${host}:${port} is not in ${conf}.`);
    return 1;
  }
  const log = new ManagerLog(config.app.managerLog);
  const pool = new HostAccessPool();
  const reachable = int(opts, 'ssh_reachable');
  try {
    const newHost = str(opts, 'new_master_host');
    const report = await runDeadMasterFailover({
      config,
      deadMaster: dead,
      log,
      accessFor: (s) => pool.accessFor(hostAccessConfig(s)),
      sshReachable: reachable === 0 ? false : reachable === 1 ? true : undefined,
      newMaster: newHost ? { host: newHost, port: int(opts, 'new_master_port') } : undefined,
      ignoreLastFailover: bool(opts, 'ignore_last_failover'),
      lastFailoverMinute: int(opts, 'last_failover_minute'),
      skipSaveMasterBinlog: bool(opts, 'skip_save_master_binlog'),
      skipChangeMaster: bool(opts, 'skip_change_master'),
      skipDisableReadOnly: bool(opts, 'skip_disable_read_only'),
      errantTransactions: parseErrantPolicy(str(opts, 'errant_transactions')),
      gtidWaitTimeoutSec: int(opts, 'gtid_wait_timeout'),
    });
    if (report.exitCode === 0 && bool(opts, 'remove_dead_master_conf')) {
      log.info(deleteBlock(conf, dead.id).message);
    }
    return report.exitCode;
  } finally {
    await pool.closeAll();
  }
}

export async function masterhaMasterSwitchMain(argv: string[]): Promise<number> {
  return runMhaTool({
    tool: 'masterha_master_switch',
    argv,
    specs: SWITCH_SPECS,
    help: () =>
      renderHelp({
        synopsis:
          'masterha_master_switch --master_state=dead --conf=FILE --dead_master_host=HOST [options]\n' +
          '       masterha_master_switch --master_state=alive --conf=FILE [--new_master_host=HOST] [--orig_master_is_new_slave] [options]',
        description:
          'dead: manual failover from a dead master (MHA phases 1–5): fence it, recover every transaction any replica received and, ' +
          'when its host is reachable over SSH, the tail of its binlog; promote a replica; repoint the others (by GTID when they replicate by GTID). ' +
          'alive: planned switch: checks, writes blocked on the master (read_only, then --write_block), the new master catches up (bounded by --catchup_timeout), opens, the others are repointed in parallel; ' +
          'any failure before the new master opens rolls back. The write-block window is logged and written to <workdir>/<app>.switch.report.json. ' +
          'mha-ts never asks questions (--interactive is accepted for compatibility). Passwords come from the configuration, the environment (MHA_PASSWORD, MHA_REPL_PASSWORD) or 0600 password files, never from this command line.',
        specs: SWITCH_SPECS,
        exitCodes: [
          [0, 'failover / switch completed (or --check_only passed)'],
          [
            1,
            'error (nothing or not everything was done; see the log; a switch that failed before the new master opened was rolled back)',
          ],
          [10, 'done, but some replicas could not be recovered / switched'],
        ],
      }),
    run: (opts, _given, io) => masterSwitchTool(opts, io),
  });
}
