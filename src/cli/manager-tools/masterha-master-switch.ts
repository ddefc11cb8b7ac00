import { deleteBlock, loadConfig } from '../../manager/config/index.js';
import { runDeadMasterFailover } from '../../manager/failover.js';
import { ManagerLog } from '../../manager/log.js';
import { hostAccessConfig } from '../../manager/manager.js';
import { HostAccessPool } from '../../remote/hosts.js';
import { bool, int, type OptionSpec, renderHelp, runMhaTool, str } from '../node-tools/options.js';

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
];

export async function masterhaMasterSwitchMain(argv: string[]): Promise<number> {
  return runMhaTool({
    tool: 'masterha_master_switch',
    argv,
    specs: SWITCH_SPECS,
    help: () =>
      renderHelp({
        synopsis: 'masterha_master_switch --master_state=dead --conf=FILE --dead_master_host=HOST [options]',
        description:
          'Manual failover from a dead master (MHA phases 1–5): fence it, recover every transaction any replica received and, ' +
          'when its host is reachable over SSH, the tail of its binlog; promote a replica; repoint the others. Passwords come from the configuration, the environment (MHA_PASSWORD, MHA_REPL_PASSWORD) or 0600 password files, never from this command line.',
        specs: SWITCH_SPECS,
        exitCodes: [
          [0, 'failover completed'],
          [1, 'error (nothing or not everything was done; see the log)'],
          [10, 'failover done, but some replicas could not be recovered'],
        ],
      }),
    run: async (opts) => {
      const conf = str(opts, 'conf');
      if (!conf) {
        process.stderr.write('--conf=<server config file> must be set.\n');
        return 1;
      }
      const state = str(opts, 'master_state');
      if (state === 'alive') {
        process.stderr.write(
          'masterha_master_switch: --master_state=alive (planned switchover) is not available in this version of mha-ts.\n',
        );
        return 1;
      }
      if (state !== 'dead') {
        process.stderr.write('--master_state=dead or --master_state=alive must be set.\n');
        return 1;
      }
      const config = loadConfig({ appFile: conf, globalFile: str(opts, 'global_conf') });
      const host = str(opts, 'dead_master_host');
      const port = int(opts, 'dead_master_port') ?? 3306;
      if (!host) {
        process.stderr.write('--dead_master_host=<dead master hostname> must be set.\n');
        return 1;
      }
      const dead = config.servers.find((s) => (s.hostname === host || s.ip === host) && s.port === port);
      if (!dead) {
        process.stderr.write(`Detected dead master ${host}:${port} is not in ${conf}.\n`);
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
        });
        if (report.exitCode === 0 && bool(opts, 'remove_dead_master_conf')) {
          log.info(deleteBlock(conf, dead.id).message);
        }
        return report.exitCode;
      } finally {
        await pool.closeAll();
      }
    },
  });
}
