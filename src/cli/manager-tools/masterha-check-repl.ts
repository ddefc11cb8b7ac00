/**
 * `masterha_check_repl` / `mha check-repl`: the checks MHA's monitor runs before it starts
 * pinging (reference/mha-behaviour.md §5), plus the replication health check: discovery,
 * one master that every replica replicates from, replica settings (read_only,
 * relay_log_purge, log-bin), the replication user's privilege, SSH to every host, the
 * master's binlog and each replica's relay logs readable over SSH, I/O and SQL threads
 * running and not too far behind, and the hook scripts' `--command=status`.
 *
 * The log goes to stderr (MHA: the log file is ignored in check mode); the verdict is
 * printed on stdout after a blank line: `MySQL Replication Health is OK.` (exit 0) or
 * `MySQL Replication Health is NOT OK!` (exit 1).
 */
import { dirname, join } from 'node:path';
import { parseIndexFile } from '../../engine/log-files.js';
import { type Config, loadConfig, type ServerConfig } from '../../manager/config/index.js';
import { runHook } from '../../manager/hooks.js';
import { ManagerLog } from '../../manager/log.js';
import { hostAccessConfig } from '../../manager/manager.js';
import {
  addressOf,
  closeAll,
  inspectServer,
  refreshReplica,
  replicatesFrom,
  type ServerState,
  serverName,
} from '../../manager/topology.js';
import { ServerConnection } from '../../mysql/server-connection.js';
import type { FileAccess } from '../../remote/file-access.js';
import { HostAccessPool } from '../../remote/hosts.js';
import { bool, int, type OptionSpec, renderHelp, runMhaTool, str, type ToolIO } from '../node-tools/options.js';
import { checkSshConnections } from './masterha-check-ssh.js';

export const CHECK_REPL_SPECS: OptionSpec[] = [
  { name: 'conf', kind: 'string', value: 'FILE', help: 'application configuration (app1.cnf); required' },
  { name: 'global_conf', kind: 'string', value: 'FILE', help: 'global defaults', default: '/etc/masterha_default.cnf' },
  {
    name: 'seconds_behind_master',
    kind: 'int',
    value: 'SEC',
    help: 'a replica further behind than this fails the check',
    default: '30',
  },
  { name: 'skip_check_ssh', kind: 'flag', help: 'do not test SSH to the hosts (nor read logs over SSH)' },
  { name: 'skip_ssh_check', kind: 'flag', help: 'same as --skip_check_ssh' },
  {
    name: 'ignore_fail_on_start',
    kind: 'flag',
    help: 'dead servers and broken replicas with ignore_fail=1 do not fail the check',
  },
  { name: 'workdir', kind: 'string', value: 'DIR', help: 'accepted for compatibility (nothing is written)' },
  { name: 'manager_workdir', kind: 'string', value: 'DIR', help: 'same as --workdir' },
  { name: 'interactive', kind: 'int', value: '0|1', help: 'accepted for compatibility; never asks', default: '0' },
];

/** MHA's first lines: which files the configuration was read from. */
export function logConfigSources(log: ManagerLog, config: Config): void {
  if (config.app.globalConfFile) log.info(`Reading default configuration from ${config.app.globalConfFile}..`);
  log.info(`Reading application default configuration from ${config.app.confFile}..`);
  log.info(`Reading server configuration from ${config.app.confFile}..`);
}

/** A start-up check failed: the message has been logged where it happened. */
export class StartupCheckError extends Error {}

export interface StartupCheckOptions {
  config: Config;
  log: ManagerLog;
  pool: HostAccessPool;
  /** Check I/O and SQL threads and the delay (check_repl). */
  checkReplHealth: boolean;
  secondsBehindMaster?: number;
  skipSshCheck?: boolean;
  ignoreFailOnStart?: boolean;
  /** Continue with a dead master (the monitor then fails at once); check_repl refuses. */
  allowDeadMaster?: boolean;
}

export interface StartupCheckResult {
  master: ServerConfig;
  masterAlive: boolean;
  replicas: ServerState[];
}

function fail(log: ManagerLog, msg: string): never {
  log.error(msg);
  throw new StartupCheckError(msg);
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<T>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: timed out after ${Math.round(ms / 1000)} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function describeServer(s: ServerState, oldestMajor: string | undefined): string[] {
  const major = (v?: string) => /^(\d+\.\d+)/.exec(v ?? '')?.[1];
  const lines = [
    `  ${s.name}  Version=${s.version}${major(s.version) === oldestMajor ? ' (oldest major version between slaves)' : ''} log-bin:${s.logBin ? 'enabled' : 'disabled'}`,
  ];
  if (s.replica)
    lines.push(`    Replicating from ${s.replica.masterHost}(${s.replica.masterHost}:${s.replica.masterPort})`);
  if (s.config.candidateMaster) lines.push('    Primary candidate for the new Master (candidate_master is set)');
  if (s.config.noMaster) lines.push('    Not candidate for the new Master (no_master is set)');
  if (s.replica && s.replica.usingGtid.toLowerCase() !== 'no')
    lines.push(`    GTID ON (Using_Gtid=${s.replica.usingGtid})`);
  return lines;
}

const failedReplica = (s: ServerState) =>
  s.alive && s.replica !== undefined && !s.replica.sqlRunning && s.replica.lastSqlErrno > 0;

/** Which configured server is the master: the one replicas replicate from (the writable one among several). */
function identifyMaster(config: Config, states: ServerState[], log: ManagerLog): ServerConfig {
  const alive = states.filter((s) => s.alive);
  for (const r of alive) {
    if (!r.replica) continue;
    if (!config.servers.some((c) => replicatesFrom(r, c))) {
      fail(
        log,
        `Master ${r.replica.masterHost}:${r.replica.masterPort} from which slave ${r.name} replicates is not defined in the configuration file!`,
      );
    }
  }
  const pointed = config.servers.filter((c) => alive.some((s) => s.config !== c && replicatesFrom(s, c)));
  // Replicas of replicas (multi-tier): the top of the tree is the one not replicating from a pointed server.
  let candidates = pointed.filter((c) => {
    const st = states.find((s) => s.config === c);
    return !(st?.alive && st.replica && pointed.some((p) => p !== c && replicatesFrom(st, p)));
  });
  if (candidates.length === 0 && pointed.length > 0) candidates = pointed; // multi-master ring
  if (candidates.length > 1) {
    const writable = candidates.filter((c) => {
      const st = states.find((s) => s.config === c);
      return st?.alive && st.readOnly === false;
    });
    if (writable.length === 1) candidates = writable;
    else {
      fail(
        log,
        `FATAL: Replication configuration error. Slaves replicate from ${candidates.map(serverName).join(', ')}: exactly one of them must be writable (read_only=0).`,
      );
    }
  }
  if (candidates.length === 0) {
    const masters = alive.filter((s) => !s.replica);
    if (masters.length > 1) {
      fail(log, 'FATAL: Replication configuration error. The number of alive masters should be at most 1.');
    }
    if (masters.length === 0)
      fail(log, 'No master found: no alive server is replicated from, and none is a non-replica.');
    candidates = [masters[0].config];
  }
  return candidates[0];
}

/**
 * MHA's start-up checks (MasterMonitor::wait_until_master_is_unreachable up to the ping
 * loop). Throws StartupCheckError (already logged) on the first failure.
 */
export async function runStartupChecks(o: StartupCheckOptions): Promise<StartupCheckResult> {
  const { config, log } = o;
  let states: ServerState[] = [];
  try {
    // Discovery.
    const found = await Promise.allSettled(config.servers.map((s) => inspectServer(s)));
    states = found.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<ServerState>).value);
    const fatal = found.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    if (fatal.length > 0) {
      for (const f of fatal) log.error((f.reason as Error).message);
      fail(log, 'Got fatal error, stopping operations');
    }
    const dead = states.filter((s) => !s.alive);
    const alive = states.filter((s) => s.alive);
    log.info('Dead Servers:');
    for (const s of dead) log.info(`  ${s.name}${s.error ? ` (${s.error})` : ''}`);
    log.info('Alive Servers:');
    for (const s of alive) log.info(`  ${s.name}`);
    const master = identifyMaster(config, states, log);
    const masterState = states.find((s) => s.config === master);
    const masterAlive = masterState?.alive === true;
    const replicasOfMaster = alive.filter((s) => s.config !== master && replicatesFrom(s, master));
    const aliveSlaves = replicasOfMaster.filter((s) => !failedReplica(s));
    const failedSlaves = replicasOfMaster.filter(failedReplica);
    const oldestMajor = aliveSlaves
      .map((s) => /^(\d+\.\d+)/.exec(s.version ?? '')?.[1])
      .filter((v): v is string => v !== undefined)
      .sort((a, b) => {
        const [a1, a2] = a.split('.').map(Number);
        const [b1, b2] = b.split('.').map(Number);
        return a1 - b1 || a2 - b2;
      })[0];
    log.info('Alive Slaves:');
    for (const s of aliveSlaves) for (const l of describeServer(s, oldestMajor)) log.info(l);
    if (failedSlaves.length > 0) {
      log.info('Failed Slaves:');
      for (const s of failedSlaves) {
        log.info(`  ${s.name}  SQL thread stopped with error ${s.replica?.lastSqlErrno}: ${s.replica?.lastSqlError}`);
      }
    }
    const others = alive.filter((s) => s.config !== master && !replicatesFrom(s, master));
    if (others.length > 0) {
      if (config.app.multiTierSlave) {
        log.info('Unmanaged Servers:');
        for (const s of others) log.info(`  ${s.name}`);
      } else {
        for (const s of others) {
          log.error(
            s.replica
              ? `${s.name} replicates from ${s.replica.masterHost}:${s.replica.masterPort}, not from ${serverName(master)}.`
              : `${s.name} is a master too (it replicates from nothing).`,
          );
        }
        fail(log, 'FATAL: Replication configuration error. All slaves should replicate from the same master.');
      }
    }
    if (aliveSlaves.length === 0 && failedSlaves.length === 0)
      fail(log, "There is no alive slave. We can't do failover");
    if (masterAlive) log.info(`Current Alive Master: ${serverName(master)}`);
    else if (o.allowDeadMaster)
      log.warning(`Master ${serverName(master)} is not alive. Identified master is ${serverName(master)}.`);
    else fail(log, `Master ${serverName(master)} is not alive (${masterState?.error ?? 'not reachable'}).`);

    // Replica settings (MHA validate_slaves).
    log.info('Checking slave configurations..');
    for (const s of aliveSlaves) {
      if (!s.readOnly) log.warning(` read_only=1 is not set on slave ${s.name}.`);
      if (s.relayLogPurge && !(s.replica && s.replica.usingGtid.toLowerCase() !== 'no')) {
        log.warning(` relay_log_purge=0 is not set on slave ${s.name}.`);
      }
      if (!s.logBin) log.warning(` log-bin is not set on slave ${s.name}. This host can not be a master.`);
    }
    const bad = aliveSlaves.filter((s) => s.config.noMaster || !s.logBin);
    if (aliveSlaves.length > 0 && bad.length >= aliveSlaves.length) {
      fail(log, 'None of slaves can be master. Check failover configuration file or log-bin settings in my.cnf');
    }

    // The replication user must be able to replicate from every server that may become master.
    if (master.replUser) {
      log.info(`Checking replication privileges of user ${master.replUser}..`);
      const targets = [...(masterAlive && masterState ? [masterState] : []), ...aliveSlaves].filter(
        (s) => s.logBin && !s.config.noMaster,
      );
      for (const s of targets) {
        const user = s.config.replUser ?? master.replUser;
        const password = (s.config.replPassword ?? master.replPassword)?.reveal() ?? '';
        let conn: ServerConnection | undefined;
        try {
          conn = await ServerConnection.open({ ...addressOf(s.config), user, password }, { connectTimeoutMs: 4000 });
          const grants = (await conn.query('SHOW GRANTS')).map((r) => String(Object.values(r)[0]));
          if (!grants.some((g) => /REPLICATION (SLAVE|REPLICA)|ALL PRIVILEGES/i.test(g))) {
            throw new Error('no REPLICATION SLAVE privilege');
          }
        } catch (err) {
          fail(
            log,
            `User ${user} does not exist or does not have REPLICATION SLAVE privilege on ${s.name}! Other slaves can not start replication from this host. (${(err as Error).message})`,
          );
        } finally {
          await conn?.close();
        }
      }
      log.info(' ok.');
    }

    // SSH from the manager to every alive host.
    if (!o.skipSshCheck) {
      const ok = await checkSshConnections(
        alive.map((s) => s.config),
        log,
      );
      if (!ok) fail(log, 'SSH Configuration Check Failed!');
    }

    const access = (s: ServerConfig): FileAccess => o.pool.accessFor(hostAccessConfig(s));
    const sshBound = (s: ServerConfig) => s.ssh.connectionTimeoutSec * 1000 + 15_000;

    // The master's binlog must be readable where master_binlog_dir says (MHA: save_binary_logs --command=test).
    if (masterAlive && masterState && !o.skipSshCheck) {
      log.info(
        'Checking SSH publickey authentication and checking recovery script configurations on the current master..',
      );
      const file = masterState.binlog?.file;
      if (!file) {
        log.warning(`Binary logging is not enabled on the master ${masterState.name}; nothing to save in a failover.`);
      } else {
        let foundIn: string | undefined;
        const problems: string[] = [];
        for (const dir of master.masterBinlogDirs) {
          try {
            const names = await withTimeout(
              access(master).list(dir),
              sshBound(master),
              `${master.ssh.host}: list ${dir}`,
            );
            if (names.includes(file)) {
              const head = await withTimeout(access(master).read(join(dir, file), 0, 4), sshBound(master), 'read');
              if (!head.equals(Buffer.from([0xfe, 0x62, 0x69, 0x6e])))
                throw new Error(`${join(dir, file)} is not a binlog`);
              foundIn = dir;
              break;
            }
          } catch (err) {
            problems.push((err as Error).message);
          }
        }
        log.info(`  Connecting to ${master.ssh.user}@${master.ssh.host}(${master.ssh.host}:${master.ssh.port}).. `);
        if (!foundIn) {
          for (const p of problems) log.error(`  ${p}`);
          log.error(
            `Binlog not found from ${master.masterBinlogDirs.join(',')}! If you got this error at MHA Manager, please set "master_binlog_dir=/path/to/binlog_directory_of_the_master" correctly in the MHA Manager's configuration file and try again.`,
          );
          log.error('Master setting check failed!');
          fail(log, 'Master configuration failed.');
        }
        log.info(`  Binlog found at ${foundIn}, up to ${file}`);
        log.info('Master setting check done.');
      }
    }

    // Dead servers / broken replicas (MHA validate_num_alive_servers).
    for (const s of dead) {
      if (s.config === master) continue;
      if (o.ignoreFailOnStart && s.config.ignoreFail) continue;
      fail(log, ` Server ${s.name} is dead, but must be alive! Check server settings.`);
    }
    for (const s of failedSlaves) {
      if (o.ignoreFailOnStart && s.config.ignoreFail) continue;
      fail(log, ` Replication on ${s.name} fails! Check server settings.`);
    }

    // Each replica's relay logs must be readable (MHA: apply_diff_relay_logs --command=test).
    if (!o.skipSshCheck && aliveSlaves.length > 0) {
      log.info(
        'Checking SSH publickey authentication and checking recovery script configurations on all alive slave servers..',
      );
      for (const s of aliveSlaves) {
        log.info(
          `  Connecting to ${s.config.ssh.user}@${s.config.ssh.host}(${s.config.ssh.host}:${s.config.ssh.port}).. `,
        );
        try {
          if (!s.relayLogIndex) throw new Error('relay log index unknown');
          const a = access(s.config);
          const files = parseIndexFile(
            await withTimeout(a.readText(s.relayLogIndex), sshBound(s.config), `${s.config.ssh.host}: read`),
          );
          const current = s.replica?.positions.relayFile;
          if (current && !files.includes(current)) {
            throw new Error(`current relay log ${current} is not listed in ${s.relayLogIndex}`);
          }
          const last = current ?? files[files.length - 1];
          if (last) {
            const size = await withTimeout(a.size(join(dirname(s.relayLogIndex), last)), sshBound(s.config), 'size');
            if (size === null) throw new Error(`${join(dirname(s.relayLogIndex), last)}: no such file`);
          }
          log.info(`    Relay log index ${s.relayLogIndex}: ${files.length} file(s), current ${last ?? '(none)'}. ok.`);
        } catch (err) {
          log.error(`    ${s.name}: ${(err as Error).message}`);
          log.error('Slaves settings check failed!');
          fail(log, 'Slave configuration failed.');
        }
      }
      log.info('Slaves settings check done.');
    }

    // Topology.
    log.info(
      `\n${serverName(master)}${masterAlive ? '' : ' (dead)'} (current master)\n${aliveSlaves.map((s) => ` +--${s.name}`).join('\n')}\n`,
    );

    // Replication health (check_repl only).
    if (o.checkReplHealth) {
      const allowed = o.secondsBehindMaster || 1;
      for (const s of aliveSlaves) {
        log.info(`Checking replication health on ${s.config.hostname}..`);
        let r: Awaited<ReturnType<typeof refreshReplica>>;
        try {
          r = await refreshReplica(s);
        } catch (err) {
          fail(log, `Checking slave status failed on ${s.name}. err=${(err as Error).message}`);
        }
        if (!r) fail(log, `Getting slave status failed on ${s.name}`);
        else if (!r.ioRunning) {
          log.error(`Slave IO thread is not running on ${s.name}`);
          fail(log, ' failed!');
        } else if (!r.sqlRunning) {
          log.error(`Slave SQL thread is not running on ${s.name}`);
          fail(log, ' failed!');
        } else if (r.secondsBehindMaster !== null && r.secondsBehindMaster > allowed) {
          log.error(`Slave is currently behind ${r.secondsBehindMaster} seconds on ${s.name}`);
          fail(log, ' failed!');
        }
        log.info(' ok.');
      }
    }

    // Hook scripts.
    if (config.app.masterIpFailoverScript) {
      log.info('Checking master_ip_failover_script status:');
      const r = await runHook(log, config.app.masterIpFailoverScript, {
        command: 'status',
        ssh_user: master.ssh.user,
        orig_master_host: master.hostname,
        orig_master_ip: master.ip ?? master.hostname,
        orig_master_port: master.port,
      });
      if (r.code !== 0) fail(log, ` Failed to get master_ip_failover_script status with return code ${r.code}:0.`);
      log.info(' OK.');
    } else {
      log.warning('master_ip_failover_script is not defined.');
    }
    if (config.app.shutdownScript) {
      log.info('Checking shutdown script status:');
      const r = await runHook(log, config.app.shutdownScript, {
        command: 'status',
        ssh_user: master.ssh.user,
        host: master.hostname,
        ip: master.ip ?? master.hostname,
        port: master.port,
      });
      if (r.code !== 0) fail(log, ` Failed to get power status with return code ${r.code}:0.`);
      log.info(' OK.');
    } else {
      log.warning('shutdown_script is not defined.');
    }
    return { master, masterAlive, replicas: aliveSlaves };
  } finally {
    await closeAll(states);
  }
}

export interface CheckReplToolOptions {
  conf?: string;
  globalConf?: string;
  secondsBehindMaster?: number;
  skipSshCheck?: boolean;
  ignoreFailOnStart?: boolean;
}

export async function checkReplTool(o: CheckReplToolOptions, io: ToolIO): Promise<number> {
  if (!o.conf) {
    io.out('--conf=<server config file> must be set.');
    io.out('');
    io.out('MySQL Replication Health is NOT OK!');
    return 1;
  }
  let log = new ManagerLog(undefined, 'info');
  const pool = new HostAccessPool();
  let ok = false;
  try {
    const config = loadConfig({ appFile: o.conf, globalFile: o.globalConf });
    log = new ManagerLog(undefined, config.app.logLevel === 'debug' ? 'debug' : 'info');
    for (const s of config.servers) {
      log.addSecret(s.password.reveal());
      log.addSecret(s.replPassword?.reveal());
    }
    log.info('MHA::MasterMonitor version 0.58 (mha-ts).');
    logConfigSources(log, config);
    for (const w of config.warnings) log.warning(w.message);
    await runStartupChecks({
      config,
      log,
      pool,
      checkReplHealth: true,
      secondsBehindMaster: o.secondsBehindMaster ?? 30,
      skipSshCheck: o.skipSshCheck,
      ignoreFailOnStart: o.ignoreFailOnStart,
    });
    ok = true;
  } catch (err) {
    const detail = err instanceof StartupCheckError ? '' : ` ${(err as Error).message}`;
    log.error(`Error happend on checking configurations.${detail}`);
    log.error('Error happened on monitoring servers.');
  } finally {
    await pool.closeAll();
  }
  io.out('');
  io.out(ok ? 'MySQL Replication Health is OK.' : 'MySQL Replication Health is NOT OK!');
  return ok ? 0 : 1;
}

export function checkReplOptionsFrom(
  opts: Record<string, string | number | boolean | undefined>,
): CheckReplToolOptions {
  return {
    conf: str(opts, 'conf'),
    globalConf: str(opts, 'global_conf'),
    secondsBehindMaster: int(opts, 'seconds_behind_master'),
    skipSshCheck: bool(opts, 'skip_check_ssh') || bool(opts, 'skip_ssh_check'),
    ignoreFailOnStart: bool(opts, 'ignore_fail_on_start'),
  };
}

export async function masterhaCheckReplMain(argv: string[], io?: ToolIO): Promise<number> {
  return runMhaTool({
    tool: 'masterha_check_repl',
    argv,
    specs: CHECK_REPL_SPECS,
    io,
    help: () =>
      renderHelp({
        synopsis: 'masterha_check_repl --conf=FILE [options]',
        description:
          "Runs the manager's start-up checks without monitoring: discovers the servers, finds the one master every " +
          'replica replicates from, checks replica settings (read_only, relay_log_purge, log-bin), the replication ' +
          "user's privilege, SSH to every host, that the master's binlog and each replica's relay logs are readable " +
          'over SSH, that I/O and SQL threads run and are at most --seconds_behind_master behind, and the hook ' +
          "scripts' --command=status. Log lines go to stderr; the verdict goes to stdout.",
        specs: CHECK_REPL_SPECS,
        exitCodes: [
          [0, 'MySQL Replication Health is OK.'],
          [1, 'MySQL Replication Health is NOT OK! (the log says why)'],
        ],
      }),
    run: async (opts, _given, tio) => checkReplTool(checkReplOptionsFrom(opts), tio),
  });
}
