import { runManagerHa } from '../../service/coordination/ha-manager.js';
import { bool, int, type OptionSpec, renderHelp, runMhaTool, str } from '../node-tools/options.js';

export const MANAGER_SPECS: OptionSpec[] = [
  { name: 'conf', kind: 'string', value: 'FILE', help: 'application configuration (app1.cnf); required' },
  { name: 'global_conf', kind: 'string', value: 'FILE', help: 'global defaults', default: '/etc/masterha_default.cnf' },
  {
    name: 'ignore_last_failover',
    kind: 'flag',
    help: 'do not refuse because of a recent or failed previous failover (removes the flag files)',
  },
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
    help: "after a successful failover, delete the dead master's block from --conf (comments are kept)",
  },
  {
    name: 'skip_save_master_binlog',
    kind: 'flag',
    help: "do not read the dead master's binlog even when its host is reachable",
  },
  {
    name: 'exit_after_failover',
    kind: 'flag',
    help: "MHA's behaviour: exit after one failover instead of monitoring the new master",
  },
  {
    name: 'interactive',
    kind: 'int',
    value: '0|1',
    help: 'accepted for compatibility; the manager never asks',
    default: '0',
  },
  { name: 'wait_on_monitor_error', kind: 'int', value: 'SEC', help: 'accepted for compatibility', default: '0' },
  { name: 'wait_on_failover_error', kind: 'int', value: 'SEC', help: 'accepted for compatibility', default: '0' },
  {
    name: 'ignore_fail_on_start',
    kind: 'flag',
    help: 'accepted for compatibility (ignore_fail servers never block the start)',
  },
  {
    name: 'etcd',
    kind: 'string',
    value: 'ENDPOINTS',
    help: 'manager HA: comma-separated etcd endpoints (host:port); overrides etcd_endpoints in the configuration',
  },
  { name: 'skip_ssh_check', kind: 'flag', help: 'accepted for compatibility' },
  { name: 'skip_check_ssh', kind: 'flag', help: 'accepted for compatibility' },
];

export async function masterhaManagerMain(argv: string[]): Promise<number> {
  return runMhaTool({
    tool: 'masterha_manager',
    argv,
    specs: MANAGER_SPECS,
    help: () =>
      renderHelp({
        synopsis: 'masterha_manager --conf=FILE [options]',
        description:
          'Monitors the master of one replication cluster and, when it dies, fails over to the most suitable replica: ' +
          'every transaction any replica received, and the tail of the dead master binlog when its host is reachable over SSH, ' +
          'is applied to the survivors before they are repointed. Unlike MHA it keeps monitoring the new master ' +
          '(--exit_after_failover restores MHA). Passwords come from the configuration, MHA_PASSWORD / MHA_REPL_PASSWORD, ' +
          'or 0600 password files (password_file, repl_password_file); they are never logged.',
        specs: MANAGER_SPECS,
        exitCodes: [
          [0, 'failover completed (or monitoring stopped cleanly with --exit_after_failover)'],
          [1, 'error: configuration, monitoring, or a failover that failed (see the manager log)'],
          [10, 'failover done, but some replicas could not be recovered'],
        ],
      }),
    run: async (opts) => {
      const conf = str(opts, 'conf');
      if (!conf) {
        process.stderr.write('--conf=<server config file> must be set.\n');
        return 1;
      }
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      process.once('SIGHUP', stop);
      try {
        const etcd = str(opts, 'etcd');
        return await runManagerHa({
          etcdEndpoints: etcd ? etcd.split(',').filter((e) => e.trim() !== '') : undefined,
          confFile: conf,
          globalConf: str(opts, 'global_conf'),
          ignoreLastFailover: bool(opts, 'ignore_last_failover'),
          lastFailoverMinute: int(opts, 'last_failover_minute'),
          removeDeadMasterConf: bool(opts, 'remove_dead_master_conf'),
          skipSaveMasterBinlog: bool(opts, 'skip_save_master_binlog'),
          exitAfterFailover: bool(opts, 'exit_after_failover'),
          signal: controller.signal,
        });
      } finally {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        process.off('SIGHUP', stop);
      }
    },
  });
}
